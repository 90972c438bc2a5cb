#include "memlink.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

struct pd_memlink {
    _Alignas(64) _Atomic uint32_t head;    /* written by the producer */
    _Alignas(64) _Atomic uint32_t tail;    /* written by the consumer */
    _Alignas(64) uint32_t mask;
    pd_pkt **slots;
};

pd_memlink *pd_memlink_create(uint32_t capacity, int *err)
{
    pd_memlink *l;
    uint32_t size = 1;

    if (capacity == 0 || capacity > (1u << 24)) {
        if (err) *err = -EINVAL;
        return NULL;
    }
    while (size < capacity)
        size <<= 1;
    l = aligned_alloc(64, sizeof(*l));
    if (l)
        l->slots = calloc(size, sizeof(*l->slots));
    if (!l || !l->slots) {
        free(l);
        if (err) *err = -ENOMEM;
        return NULL;
    }
    atomic_init(&l->head, 0);
    atomic_init(&l->tail, 0);
    l->mask = size - 1;
    if (err) *err = 0;
    return l;
}

uint32_t pd_memlink_count(const pd_memlink *l)
{
    return atomic_load_explicit(&l->head, memory_order_acquire) -
           atomic_load_explicit(&l->tail, memory_order_acquire);
}

static uint16_t link_tx(void *ctx, uint16_t queue, pd_pkt **pkts, uint16_t n)
{
    pd_memlink *l = ctx;
    uint32_t head, tail, space;

    if (queue != 0)
        return 0;
    head = atomic_load_explicit(&l->head, memory_order_relaxed);
    tail = atomic_load_explicit(&l->tail, memory_order_acquire);
    space = l->mask + 1 - (head - tail);
    if (n > space)
        n = (uint16_t)space;
    for (uint16_t i = 0; i < n; i++)
        l->slots[(head + i) & l->mask] = pkts[i];
    atomic_store_explicit(&l->head, head + n, memory_order_release);
    return n;
}

static uint16_t link_rx(void *ctx, uint16_t queue, pd_pkt **pkts, uint16_t n)
{
    pd_memlink *l = ctx;
    uint32_t head, tail, avail;

    if (queue != 0)
        return 0;
    tail = atomic_load_explicit(&l->tail, memory_order_relaxed);
    head = atomic_load_explicit(&l->head, memory_order_acquire);
    avail = head - tail;
    if (n > avail)
        n = (uint16_t)avail;
    for (uint16_t i = 0; i < n; i++)
        pkts[i] = l->slots[(tail + i) & l->mask];
    atomic_store_explicit(&l->tail, tail + n, memory_order_release);
    return n;
}

void pd_memlink_io(pd_memlink *l, pd_port_io *io, const pd_pkt_ops *ops, void *pool)
{
    io->ctx = l;
    io->ops = ops;
    io->pool = pool;
    io->rx_burst = link_rx;
    io->tx_burst = link_tx;
}

void pd_memlink_destroy(pd_memlink *l, const pd_pkt_ops *ops)
{
    pd_pkt *pkts[64];
    uint16_t n;

    if (!l)
        return;
    while (ops && (n = link_rx(l, 0, pkts, 64)) > 0)
        ops->free_bulk(pkts, n);
    free(l->slots);
    free(l);
}
