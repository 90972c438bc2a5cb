/* In-memory port over any packet kind (loopback.h). */
#include "loopback.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct lb_ring {
    pd_pkt **slots;
    unsigned int size, head, count;
} lb_ring;

struct pd_loopback {
    /* One lock for all queues: tx on q and rx on q share a ring, and the
     * counters are shared. */
    pthread_mutex_t lock;
    const pd_pkt_ops *ops;
    void *pool;
    unsigned int n_queues;
    pd_loopback_stats st;
    lb_ring rings[];
};

int pd_loopback_create(pd_loopback **out, const pd_pkt_ops *ops, void *pool,
                       unsigned int queues, unsigned int depth)
{
    pd_loopback *lb;
    unsigned int q;

    if (out == NULL || ops == NULL || queues == 0 || queues > PD_LOOPBACK_MAX_QUEUES ||
        depth == 0)
        return -EINVAL;
    lb = calloc(1, sizeof(*lb) + queues * sizeof(lb_ring));
    if (lb == NULL)
        return -ENOMEM;
    for (q = 0; q < queues; q++) {
        lb->rings[q].slots = calloc(depth, sizeof(pd_pkt *));
        if (lb->rings[q].slots == NULL) {
            while (q--)
                free(lb->rings[q].slots);
            free(lb);
            return -ENOMEM;
        }
        lb->rings[q].size = depth;
    }
    if (pthread_mutex_init(&lb->lock, NULL) != 0) {
        for (q = 0; q < queues; q++)
            free(lb->rings[q].slots);
        free(lb);
        return -ENOMEM;
    }
    lb->ops = ops;
    lb->pool = pool;
    lb->n_queues = queues;
    *out = lb;
    return 0;
}

void pd_loopback_free(pd_loopback *lb)
{
    unsigned int q;

    if (lb == NULL)
        return;
    for (q = 0; q < lb->n_queues; q++) {
        lb_ring *r = &lb->rings[q];
        for (; r->count; r->count--, r->head = (r->head + 1) % r->size)
            lb->ops->free_bulk(&r->slots[r->head], 1);
        free(r->slots);
    }
    pthread_mutex_destroy(&lb->lock);
    free(lb);
}

uint16_t pd_loopback_tx_burst(pd_loopback *lb, uint16_t queue, pd_pkt **pkts, uint16_t n)
{
    lb_ring *r;
    uint16_t i, room;

    if (queue >= lb->n_queues)
        return 0;
    r = &lb->rings[queue];
    pthread_mutex_lock(&lb->lock);
    room = (uint16_t)(n < r->size - r->count ? n : r->size - r->count);
    for (i = 0; i < room; i++) {
        r->slots[(r->head + r->count) % r->size] = pkts[i];
        r->count++;
        lb->st.tx_bytes += lb->ops->data_len(pkts[i]);
    }
    lb->st.tx_packets += room;
    lb->st.tx_full += (uint64_t)(n - room);
    pthread_mutex_unlock(&lb->lock);
    return room;
}

uint16_t pd_loopback_rx_burst(pd_loopback *lb, uint16_t queue, pd_pkt **pkts, uint16_t n)
{
    lb_ring *r;
    uint16_t i, got;

    if (queue >= lb->n_queues)
        return 0;
    r = &lb->rings[queue];
    pthread_mutex_lock(&lb->lock);
    got = (uint16_t)(n < r->count ? n : r->count);
    for (i = 0; i < got; i++) {
        pkts[i] = r->slots[r->head];
        r->head = (r->head + 1) % r->size;
        lb->st.rx_bytes += lb->ops->data_len(pkts[i]);
    }
    r->count -= got;
    lb->st.rx_packets += got;
    pthread_mutex_unlock(&lb->lock);
    return got;
}

unsigned int pd_loopback_queued(pd_loopback *lb, uint16_t queue)
{
    unsigned int n;

    if (queue >= lb->n_queues)
        return 0;
    pthread_mutex_lock(&lb->lock);
    n = lb->rings[queue].count;
    pthread_mutex_unlock(&lb->lock);
    return n;
}

unsigned int pd_loopback_queues(const pd_loopback *lb)
{
    return lb->n_queues;
}

void pd_loopback_stats_get(pd_loopback *lb, pd_loopback_stats *st)
{
    pthread_mutex_lock(&lb->lock);
    *st = lb->st;
    pthread_mutex_unlock(&lb->lock);
}

static uint16_t io_rx(void *ctx, uint16_t queue, pd_pkt **pkts, uint16_t n)
{
    return pd_loopback_rx_burst(ctx, queue, pkts, n);
}

static uint16_t io_tx(void *ctx, uint16_t queue, pd_pkt **pkts, uint16_t n)
{
    return pd_loopback_tx_burst(ctx, queue, pkts, n);
}

void pd_loopback_port_io(pd_loopback *lb, pd_port_io *io)
{
    memset(io, 0, sizeof(*io));
    io->ctx = lb;
    io->ops = lb->ops;
    io->pool = lb->pool;
    io->rx_burst = io_rx;
    io->tx_burst = io_tx;
}
