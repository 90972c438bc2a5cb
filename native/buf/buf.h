/* Native packet buffers for the non-DPDK backends (AF_PACKET, pcap).
 *
 * A pd_buf_pool is one allocation holding `count` fixed-size buffers, each a
 * small header followed by `headroom + data_room` bytes.  Packets start
 * `headroom` bytes into the room so encapsulation (FEC headers, UDP tunnels)
 * can prepend without copying, as with DPDK's RTE_PKTMBUF_HEADROOM.
 *
 * Buffers implement pd_pkt_ops (pkt.h): a `struct pd_buf *` is the
 * `pd_pkt *` handle of the native backends.  Bulk alloc/free take a mutex
 * once per burst, so a pool may be shared by the threads of one pipeline.
 * Returning a buffer twice is detected and ignored (counted in
 * double_frees), so a bug cannot corrupt the free list.
 */
#ifndef PD_BUF_H
#define PD_BUF_H

#include <stdint.h>

#include "pkt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pd_buf_pool pd_buf_pool;

typedef struct pd_buf {
    pd_buf_pool *pool;
    uint32_t room;         /* bytes of storage after the header */
    uint32_t data_off;     /* offset of the first packet byte in storage */
    uint32_t data_len;     /* packet length */
    uint32_t in_pool;      /* 1 while owned by the pool */
    uint64_t timestamp_ns; /* capture time (CLOCK_REALTIME), 0 if unknown */
    uint32_t iface;        /* capture-file interface it was read from, 0 if none */
    uint32_t reserved;
    uint8_t storage[];
} pd_buf;

#define PD_BUF_DEFAULT_HEADROOM 128u

/* Create a pool of `count` buffers of `data_room` bytes each, plus
 * `headroom` bytes in front.  0, -EINVAL (count or room 0, or too large),
 * -ENOMEM. */
int pd_buf_pool_create(pd_buf_pool **out, uint32_t count, uint32_t data_room,
                       uint32_t headroom);
/* Free the pool.  -EBUSY (pool kept) while buffers are still out; pass
 * force=1 to free anyway (the caller knows no buffer is used any more). */
int pd_buf_pool_free(pd_buf_pool *pool, int force);
/* The owner lets go of the pool: it is freed now if every buffer is home,
 * else when the last one is returned (buffers may sit in queues the owner
 * does not know about).  The pool must not be used by the owner afterwards.
 * Returns 1 if freed now, 0 if deferred. */
int pd_buf_pool_release(pd_buf_pool *pool);

uint32_t pd_buf_pool_count(const pd_buf_pool *pool);
uint32_t pd_buf_pool_avail(pd_buf_pool *pool);
/* Buffers out of the pool now (count - avail): 0 when every one is home. */
uint32_t pd_buf_pool_in_use(pd_buf_pool *pool);
uint32_t pd_buf_pool_data_room(const pd_buf_pool *pool);
uint32_t pd_buf_pool_headroom(const pd_buf_pool *pool);
uint64_t pd_buf_pool_double_frees(pd_buf_pool *pool);

/* All or nothing: 0, or -ENOBUFS (nothing allocated).  Each buffer comes
 * back empty with data_off == headroom. */
int pd_buf_alloc_bulk(pd_buf_pool *pool, pd_buf **bufs, unsigned int n);
/* Return buffers to their pools; NULL entries are skipped. */
void pd_buf_free_bulk(pd_buf **bufs, unsigned int n);

static inline uint8_t *pd_buf_data(pd_buf *b) { return b->storage + b->data_off; }

/* Test only: read a buffer after freeing it (a planted use-after-free that an
 * AddressSanitizer build must report; elsewhere returns the byte read). */
int pd_buf_debug_use_after_free(pd_buf_pool *pool);

/* The pd_pkt_ops of pd_buf (pool argument of alloc_bulk: a pd_buf_pool *). */
extern const pd_pkt_ops pd_buf_ops;

#ifdef __cplusplus
}
#endif
#endif /* PD_BUF_H */
