/* A malloc-backed pd_pkt_ops pool for the C unit tests: counts what is out so
 * a test can assert that nothing leaked. */
#ifndef PD_TEST_HEAP_POOL_H
#define PD_TEST_HEAP_POOL_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "pkt.h"

#define HEAP_HEADROOM 128
#define HEAP_ROOM 2048

struct heap_pkt { uint32_t off, len; struct heap_pool *pool; uint8_t buf[HEAP_ROOM]; };
struct heap_pool { long out; long capacity; };

static int hp_alloc(void *pool, pd_pkt **pkts, unsigned n)
{
    struct heap_pool *hp = pool;
    if (hp->out + (long)n > hp->capacity)
        return -ENOBUFS;
    for (unsigned i = 0; i < n; i++) {
        struct heap_pkt *p = malloc(sizeof(*p));
        p->off = HEAP_HEADROOM;
        p->len = 0;
        p->pool = hp;
        pkts[i] = (pd_pkt *)p;
    }
    hp->out += n;
    return 0;
}
static void hp_free(pd_pkt **pkts, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        struct heap_pkt *p = (struct heap_pkt *)pkts[i];
        if (!p) continue;
        p->pool->out--;
        free(p);
    }
}
#define HP(p) ((struct heap_pkt *)(p))
static uint8_t *hp_data(pd_pkt *p) { return HP(p)->buf + HP(p)->off; }
static uint32_t hp_len(const pd_pkt *p) { return ((const struct heap_pkt *)p)->len; }
static uint32_t hp_head(const pd_pkt *p) { return ((const struct heap_pkt *)p)->off; }
static uint32_t hp_tail(const pd_pkt *p)
{
    const struct heap_pkt *h = (const struct heap_pkt *)p;
    return HEAP_ROOM - h->off - h->len;
}
static uint8_t *hp_prepend(pd_pkt *p, uint32_t n)
{
    if (HP(p)->off < n) return NULL;
    HP(p)->off -= n; HP(p)->len += n;
    return hp_data(p);
}
static uint8_t *hp_adj(pd_pkt *p, uint32_t n)
{
    if (HP(p)->len < n) return NULL;
    HP(p)->off += n; HP(p)->len -= n;
    return hp_data(p);
}
static uint8_t *hp_append(pd_pkt *p, uint32_t n)
{
    if (hp_tail(p) < n) return NULL;
    uint8_t *t = hp_data(p) + HP(p)->len;
    HP(p)->len += n;
    return t;
}
static int hp_trim(pd_pkt *p, uint32_t n)
{
    if (HP(p)->len < n) return -EINVAL;
    HP(p)->len -= n;
    return 0;
}

static const pd_pkt_ops heap_ops = {
    "heap", hp_alloc, hp_free, hp_data, hp_len, hp_head, hp_tail,
    hp_prepend, hp_adj, hp_append, hp_trim,
};

#endif
