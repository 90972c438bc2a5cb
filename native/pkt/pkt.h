/* Backend-neutral packet handles.
 *
 * Native stages (FEC, impairment, generator, pipeline loop) work on arrays of
 * opaque packet handles plus a table of operations, so the same C code runs on
 * DPDK mbufs and on the native AF_PACKET/pcap buffers.  A handle is a
 * `struct rte_mbuf *` on the DPDK backend and a `struct pd_buf *` on the native
 * backends; only the backend that created it looks inside.
 *
 * Conventions (DPDK style): functions return 0 or a negative errno; bursts
 * return counts; nothing here prints or exits.  Packets are single-segment.
 */
#ifndef PD_PKT_H
#define PD_PKT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pd_pkt pd_pkt;

typedef struct pd_pkt_ops {
    const char *name;
    /* Allocate n packets from pool (all or nothing): 0, or -ENOBUFS. */
    int (*alloc_bulk)(void *pool, pd_pkt **pkts, unsigned int n);
    /* Return packets to the pool they came from; NULL entries are skipped. */
    void (*free_bulk)(pd_pkt **pkts, unsigned int n);
    uint8_t *(*data)(pd_pkt *p);
    uint32_t (*data_len)(const pd_pkt *p);
    uint32_t (*headroom)(const pd_pkt *p);
    uint32_t (*tailroom)(const pd_pkt *p);
    /* Grow at the front; NULL (packet unchanged) when headroom < n. */
    uint8_t *(*prepend)(pd_pkt *p, uint32_t n);
    /* Remove n bytes at the front; NULL (unchanged) when data_len < n. */
    uint8_t *(*adj)(pd_pkt *p, uint32_t n);
    /* Grow at the end; returns the old tail, NULL (unchanged) when tailroom < n. */
    uint8_t *(*append)(pd_pkt *p, uint32_t n);
    /* Remove n bytes at the end: 0, or -EINVAL (unchanged) when data_len < n. */
    int (*trim)(pd_pkt *p, uint32_t n);
} pd_pkt_ops;

/* One rx/tx queue pair of a port, callable without the GIL.
 * tx_burst takes ownership of the first `returned` packets only; the caller
 * still owns the unsent tail and must retry or free it. */
typedef struct pd_port_io {
    void *ctx;
    const pd_pkt_ops *ops;
    void *pool;               /* pool that rx allocates from */
    uint16_t (*rx_burst)(void *ctx, uint16_t queue, pd_pkt **pkts, uint16_t n);
    uint16_t (*tx_burst)(void *ctx, uint16_t queue, pd_pkt **pkts, uint16_t n);
    /* Optional (NULL: always fine): 0 while the port works, -ENETDOWN while
     * its link is down (it may come back), another negative errno when it
     * failed for good (-ENODEV: the device or its interface is gone).  Cheap
     * enough to call a few times a second from the polling thread. */
    int (*status)(void *ctx);
    /* Optional (NULL: none; backends without a descriptor ignore it): a file
     * descriptor that poll() reports readable (POLLIN) when rx_burst on
     * `queue` may return packets, or a negative errno.  An idle pipeline
     * loop sleeps in poll() on these instead of polling.  Readiness may be
     * spurious (the loop then naps); it must never be missed. */
    int (*wait_fd)(void *ctx, uint16_t queue);
} pd_port_io;

#define PD_BURST_MAX 256

#ifdef __cplusplus
}
#endif
#endif /* PD_PKT_H */
