/* An in-memory link: a single-producer/single-consumer ring of packet
 * handles exposed as a pd_port_io, so pipelines can be wired together in one
 * process with any backend's packets (what DPDK's net_ring is for mbufs). */
#ifndef PD_MEMLINK_H
#define PD_MEMLINK_H

#include <stdint.h>
#include "pkt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pd_memlink pd_memlink;

/* capacity is rounded up to a power of two; NULL with *err = -EINVAL/-ENOMEM. */
pd_memlink *pd_memlink_create(uint32_t capacity, int *err);
/* Frees the packets still queued (with ops) and the link. */
void pd_memlink_destroy(pd_memlink *l, const pd_pkt_ops *ops);
/* io for this link: tx enqueues, rx dequeues; queue ids other than 0 get nothing. */
void pd_memlink_io(pd_memlink *l, pd_port_io *io, const pd_pkt_ops *ops, void *pool);
uint32_t pd_memlink_count(const pd_memlink *l);

#ifdef __cplusplus
}
#endif
#endif /* PD_MEMLINK_H */
