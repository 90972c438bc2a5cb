/* Workarounds for DPDK 22.11's net_af_xdp driver (drivers/net/af_xdp).
 *
 * The driver registers the rx queue's mempool as the AF_XDP UMEM and keeps
 * up to 2048 of its mbufs per queue in the kernel's fill ring (plus those in
 * the rx, tx and completion rings).  Its eth_dev_close() returns none of
 * them: xdp_umem_destroy() only forgets the pool.  In 22.11.x it does not
 * even reach xdp_umem_destroy(): it tests
 * `__atomic_sub_fetch(&umem->refcnt, 1) - 1 == 0`, which is never true for
 * one socket, so the UMEM's socket (its fd) stays open and bound to the
 * interface queue, and the fill-ring mbufs stay "in use" for good.
 *
 * pydpdk therefore gives each net_af_xdp port a pool of its own for the
 * driver (created on open, freed after close whatever the driver kept: the
 * count is reported), copies every received frame into the user's pool
 * (an ethdev rx callback, so forward(), pipelines and rx_burst all see the
 * user's mbufs only), and closes the sockets the driver leaves open.
 *
 * Functions return 0 or a negative errno; nothing prints.
 */
#ifndef PD_AFXDP_H
#define PD_AFXDP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct rte_mempool;
typedef struct pd_afxdp_rx_copy pd_afxdp_rx_copy;

/* A pktmbuf pool of n mbufs with the default data room, in one memory chunk
 * (the driver maps the pool as one UMEM from its first chunk).  NULL with
 * *err set (-ENOMEM, -EEXIST, -EINVAL). */
struct rte_mempool *pd_afxdp_pool_create(const char *name, unsigned int n, int socket,
                                         int *err);
/* Free a pool made above; returns how many of its mbufs were still out
 * (kept by the driver).  The device using it must be closed first. */
unsigned int pd_afxdp_pool_free(struct rte_mempool *mp);

/* Copy every frame rx queue `queue` of `port_id` receives into an mbuf of
 * `to` and free the driver's (frames that find no mbuf, or do not fit in
 * one, are dropped and counted).  *out is the handle for the counters and
 * for removal. */
int pd_afxdp_rx_copy_add(uint16_t port_id, uint16_t queue, struct rte_mempool *to,
                         pd_afxdp_rx_copy **out);
/* Remove and free (the port must not be polled meanwhile): 0 or -errno.
 * NULL is accepted. */
int pd_afxdp_rx_copy_remove(pd_afxdp_rx_copy *c);
/* Frames dropped: no mbuf left in `to` / larger than one of its mbufs. */
void pd_afxdp_rx_copy_stats(const pd_afxdp_rx_copy *c, uint64_t *nombuf, uint64_t *oversize);

/* The AF_XDP sockets of this process: their fds and inode numbers (at most
 * max).  Count, or -errno.  (They have no address to tell their interface:
 * callers compare the sets before and after opening a device.) */
int pd_afxdp_sockets(int *fds, uint64_t *inodes, int max);
/* Close fd if it is still the AF_XDP socket with that inode: 1 closed, 0 it
 * is not (already closed or reused), -errno. */
int pd_afxdp_close_socket(int fd, uint64_t inode);

/* Route libxdp's and libbpf's messages (they print warnings on stderr by
 * default) into DPDK's log at debug level.  Only the libraries already
 * loaded (by the af_xdp PMD) are touched: 1 if any was, else 0. */
int pd_afxdp_quiet_libs(void);

#ifdef __cplusplus
}
#endif
#endif /* PD_AFXDP_H */
