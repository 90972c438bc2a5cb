/* In-memory port: what is sent on queue q is received on queue q.
 *
 * Works on handles of any kind (pd_pkt_ops): the C unit tests use it over
 * pd_buf pools, pydpdk's LoopbackPort wraps it over any PacketPool (native
 * buffers, DPDK mbufs).  Each queue is a ring of `depth` handles; a full ring
 * makes tx_burst take fewer (the tail stays with the caller, as with a full
 * NIC ring).  One mutex covers every queue and the counters, so any thread
 * may call any function.  Returns 0 or a negative errno; never prints.
 */
#ifndef PD_LOOPBACK_H
#define PD_LOOPBACK_H

#include <stdint.h>

#include "pkt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PD_LOOPBACK_MAX_QUEUES 64u

typedef struct pd_loopback pd_loopback;

typedef struct pd_loopback_stats {
    uint64_t rx_packets, rx_bytes;
    uint64_t tx_packets, tx_bytes;
    uint64_t tx_full;          /* packets tx_burst did not take: ring full */
} pd_loopback_stats;

/* `queues` rings (1..PD_LOOPBACK_MAX_QUEUES) of `depth` (> 0) handles of
 * `ops`; `pool` is what pd_port_io.pool reports (rx never allocates).
 * 0, -EINVAL, -ENOMEM. */
int pd_loopback_create(pd_loopback **out, const pd_pkt_ops *ops, void *pool,
                       unsigned int queues, unsigned int depth);
/* Free the packets still queued, then the port.  NULL is fine. */
void pd_loopback_free(pd_loopback *lb);

/* Bursts (0 for a queue out of range). */
uint16_t pd_loopback_tx_burst(pd_loopback *lb, uint16_t queue, pd_pkt **pkts, uint16_t n);
uint16_t pd_loopback_rx_burst(pd_loopback *lb, uint16_t queue, pd_pkt **pkts, uint16_t n);

/* Packets waiting on `queue` (0 for a queue out of range). */
unsigned int pd_loopback_queued(pd_loopback *lb, uint16_t queue);
unsigned int pd_loopback_queues(const pd_loopback *lb);
void pd_loopback_stats_get(pd_loopback *lb, pd_loopback_stats *st);

/* Fill a pd_port_io (every field: the optional ones NULL). */
void pd_loopback_port_io(pd_loopback *lb, pd_port_io *io);

#ifdef __cplusplus
}
#endif
#endif /* PD_LOOPBACK_H */
