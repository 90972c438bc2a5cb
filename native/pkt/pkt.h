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

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pd_pkt pd_pkt;

/* What a handle is, one value per handle kind.  The identity of an ops table
 * is its kind, not its address: each extension module links its own copy of
 * the static native libraries, so one kind may have several tables. */
enum pd_pkt_kind {
    PD_PKT_KIND_NONE = 0,     /* unknown: only the same table matches */
    PD_PKT_KIND_MBUF = 1,     /* struct rte_mbuf (native/dpdk) */
    PD_PKT_KIND_BUF = 2,      /* struct pd_buf (native/buf) */
    PD_PKT_KIND_AFP_ZC = 3,   /* zero-copy AF_PACKET ring frame (native/afpacket) */
    PD_PKT_KIND_MAX = 31
};

typedef struct pd_pkt_ops {
    const char *name;
    uint32_t kind;            /* enum pd_pkt_kind */
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
    /* Optional (NULL: tx_burst sends handles of `ops` only): send handles of
     * another kind, read through their own `pkt_ops`; tx_kinds has bit
     * (1 << kind) set for each such kind.  The AF_PACKET port sends pd_buf
     * packets and zero-copy frames of any AF_PACKET port alike. */
    uint16_t (*tx_burst_ops)(void *ctx, uint16_t queue, pd_pkt **pkts, uint16_t n,
                             const pd_pkt_ops *pkt_ops);
    uint32_t tx_kinds;
} pd_port_io;

#define PD_BURST_MAX 256

/* The one rule for "handles of the same kind" (compare ops with this, never
 * with == or by name): the same table, or two tables of one known kind. */
static inline int pd_pkt_ops_same(const pd_pkt_ops *a, const pd_pkt_ops *b)
{
    return a == b || (a != NULL && b != NULL && a->kind != PD_PKT_KIND_NONE &&
                      a->kind == b->kind);
}

/* Can `io` send handles of `ops`?  Its own kind through tx_burst, or a kind
 * in tx_kinds through tx_burst_ops. */
static inline int pd_port_io_sends(const pd_port_io *io, const pd_pkt_ops *ops)
{
    if (pd_pkt_ops_same(io->ops, ops))
        return 1;
    return io->tx_burst_ops != NULL && ops != NULL && ops->kind != PD_PKT_KIND_NONE &&
           ops->kind <= PD_PKT_KIND_MAX && (io->tx_kinds >> ops->kind & 1u) != 0;
}

/* Send through `io` handles of `ops` (pd_port_io_sends true). */
static inline uint16_t pd_port_io_tx(const pd_port_io *io, uint16_t queue, pd_pkt **pkts,
                                     uint16_t n, const pd_pkt_ops *ops)
{
    if (io->tx_burst_ops != NULL && !pd_pkt_ops_same(io->ops, ops))
        return io->tx_burst_ops(io->ctx, queue, pkts, n, ops);
    return io->tx_burst(io->ctx, queue, pkts, n);
}

#ifdef __cplusplus
}
#endif
#endif /* PD_PKT_H */
