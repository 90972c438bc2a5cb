/* Native packet buffer pool: see buf.h. */
#include "buf.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Under AddressSanitizer the storage of a buffer in the pool is poisoned, so
 * a read or write through a stale pointer after its free is reported (ASan
 * cannot see that inside one malloc'd block otherwise).  No-ops elsewhere. */
#if defined(__SANITIZE_ADDRESS__)
#define PD_BUF_POISON 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PD_BUF_POISON 1
#endif
#endif
#ifdef PD_BUF_POISON
#include <sanitizer/asan_interface.h>
#define PD_BUF_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define POISON_FREED(pool, b) ASAN_POISON_MEMORY_REGION((b)->storage, (b)->room)
#define UNPOISON_ALLOCATED(pool, b) ASAN_UNPOISON_MEMORY_REGION((b)->storage, (b)->room)
#else
#define POISON_FREED(pool, b) ((void)(pool), (void)(b))
#define UNPOISON_ALLOCATED(pool, b) ((void)(pool), (void)(b))
#endif

/* Buffers are cache-line aligned so two packets never share a line. */
#define BUF_ALIGN 64u
#define BUF_MAX_ROOM (1u << 20)

struct pd_buf_pool {
    pthread_mutex_t lock;
    uint32_t count;
    uint32_t data_room;
    uint32_t headroom;
    uint32_t stride;
    uint32_t nfree;
    uint64_t double_frees;
    int orphaned; /* released by its owner: freed when the last buffer returns */
    pd_buf **free_stack;
    uint8_t *memory;
};

static pd_buf *buf_at(const pd_buf_pool *pool, uint32_t i)
{
    return (pd_buf *)(pool->memory + (size_t)i * pool->stride);
}

int pd_buf_pool_create(pd_buf_pool **out, uint32_t count, uint32_t data_room,
                       uint32_t headroom)
{
    pd_buf_pool *pool;
    uint64_t stride;
    uint32_t i;

    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (count == 0 || data_room == 0 || (uint64_t)data_room + headroom > BUF_MAX_ROOM)
        return -EINVAL;
    stride = sizeof(pd_buf) + (uint64_t)headroom + data_room;
    stride = (stride + BUF_ALIGN - 1) & ~(uint64_t)(BUF_ALIGN - 1);
    if (stride * count > (uint64_t)1 << 36)
        return -EINVAL;

    pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        return -ENOMEM;
    pool->free_stack = malloc(sizeof(pd_buf *) * count);
    if (pool->free_stack == NULL) {
        free(pool);
        return -ENOMEM;
    }
    if (posix_memalign((void **)&pool->memory, BUF_ALIGN, stride * count) != 0) {
        free(pool->free_stack);
        free(pool);
        return -ENOMEM;
    }
    pthread_mutex_init(&pool->lock, NULL);
    pool->count = count;
    pool->data_room = data_room;
    pool->headroom = headroom;
    pool->stride = (uint32_t)stride;
    for (i = 0; i < count; i++) {
        pd_buf *b = buf_at(pool, i);
        b->pool = pool;
        b->room = headroom + data_room;
        b->data_off = headroom;
        b->data_len = 0;
        b->in_pool = 1;
        b->timestamp_ns = 0;
        b->iface = 0;
        POISON_FREED(pool, b);
        /* Pop order = address order, which keeps early bursts contiguous. */
        pool->free_stack[count - 1 - i] = b;
    }
    pool->nfree = count;
    *out = pool;
    return 0;
}

static void pool_destroy(pd_buf_pool *pool)
{
#ifdef PD_BUF_POISON
    PD_BUF_UNPOISON(pool->memory, (size_t)pool->stride * pool->count);
#endif
    pthread_mutex_destroy(&pool->lock);
    free(pool->memory);
    free(pool->free_stack);
    free(pool);
}

int pd_buf_pool_free(pd_buf_pool *pool, int force)
{
    if (pool == NULL)
        return 0;
    pthread_mutex_lock(&pool->lock);
    if (pool->nfree != pool->count && !force) {
        pthread_mutex_unlock(&pool->lock);
        return -EBUSY;
    }
    pthread_mutex_unlock(&pool->lock);
    pool_destroy(pool);
    return 0;
}

int pd_buf_pool_release(pd_buf_pool *pool)
{
    int all_home;

    if (pool == NULL)
        return 1;
    pthread_mutex_lock(&pool->lock);
    all_home = pool->nfree == pool->count;
    pool->orphaned = 1;
    pthread_mutex_unlock(&pool->lock);
    if (all_home)
        pool_destroy(pool);
    return all_home;
}

uint32_t pd_buf_pool_count(const pd_buf_pool *pool) { return pool->count; }
uint32_t pd_buf_pool_data_room(const pd_buf_pool *pool) { return pool->data_room; }
uint32_t pd_buf_pool_headroom(const pd_buf_pool *pool) { return pool->headroom; }

uint32_t pd_buf_pool_avail(pd_buf_pool *pool)
{
    uint32_t n;

    pthread_mutex_lock(&pool->lock);
    n = pool->nfree;
    pthread_mutex_unlock(&pool->lock);
    return n;
}

uint32_t pd_buf_pool_in_use(pd_buf_pool *pool)
{
    return pool->count - pd_buf_pool_avail(pool);
}

uint64_t pd_buf_pool_double_frees(pd_buf_pool *pool)
{
    uint64_t n;

    pthread_mutex_lock(&pool->lock);
    n = pool->double_frees;
    pthread_mutex_unlock(&pool->lock);
    return n;
}

int pd_buf_alloc_bulk(pd_buf_pool *pool, pd_buf **bufs, unsigned int n)
{
    unsigned int i;

    if (n == 0)
        return 0;
    pthread_mutex_lock(&pool->lock);
    if (pool->nfree < n) {
        pthread_mutex_unlock(&pool->lock);
        return -ENOBUFS;
    }
    for (i = 0; i < n; i++) {
        pd_buf *b = pool->free_stack[--pool->nfree];
        UNPOISON_ALLOCATED(pool, b);
        b->in_pool = 0;
        b->data_off = pool->headroom;
        b->data_len = 0;
        b->timestamp_ns = 0;
        b->iface = 0;
        bufs[i] = b;
    }
    pthread_mutex_unlock(&pool->lock);
    return 0;
}

/* Return a run of buffers that all belong to `pool` (lock held once). */
static void free_run(pd_buf_pool *pool, pd_buf **bufs, unsigned int n)
{
    unsigned int i;
    int destroy;

    pthread_mutex_lock(&pool->lock);
    for (i = 0; i < n; i++) {
        pd_buf *b = bufs[i];
        if (b == NULL)
            continue;
        if (b->in_pool || pool->nfree >= pool->count) {
            pool->double_frees++;
            continue;
        }
        b->in_pool = 1;
        POISON_FREED(pool, b);
        pool->free_stack[pool->nfree++] = b;
    }
    destroy = pool->orphaned && pool->nfree == pool->count;
    pthread_mutex_unlock(&pool->lock);
    if (destroy)
        pool_destroy(pool);
}

void pd_buf_free_bulk(pd_buf **bufs, unsigned int n)
{
    unsigned int start = 0;

    while (start < n) {
        pd_buf_pool *pool;
        unsigned int end;

        if (bufs[start] == NULL) {
            start++;
            continue;
        }
        pool = bufs[start]->pool;
        end = start + 1;
        while (end < n && (bufs[end] == NULL || bufs[end]->pool == pool))
            end++;
        free_run(pool, bufs + start, end - start);
        start = end;
    }
}

/* ---- pd_pkt_ops over pd_buf ------------------------------------------- */

static int ops_alloc_bulk(void *pool, pd_pkt **pkts, unsigned int n)
{
    return pd_buf_alloc_bulk(pool, (pd_buf **)pkts, n);
}

static void ops_free_bulk(pd_pkt **pkts, unsigned int n)
{
    pd_buf_free_bulk((pd_buf **)pkts, n);
}

static uint8_t *ops_data(pd_pkt *p)
{
    return pd_buf_data((pd_buf *)p);
}

static uint32_t ops_data_len(const pd_pkt *p)
{
    return ((const pd_buf *)p)->data_len;
}

static uint32_t ops_headroom(const pd_pkt *p)
{
    return ((const pd_buf *)p)->data_off;
}

static uint32_t ops_tailroom(const pd_pkt *p)
{
    const pd_buf *b = (const pd_buf *)p;
    return b->room - b->data_off - b->data_len;
}

static uint8_t *ops_prepend(pd_pkt *p, uint32_t n)
{
    pd_buf *b = (pd_buf *)p;

    if (b->data_off < n)
        return NULL;
    b->data_off -= n;
    b->data_len += n;
    return pd_buf_data(b);
}

static uint8_t *ops_adj(pd_pkt *p, uint32_t n)
{
    pd_buf *b = (pd_buf *)p;

    if (b->data_len < n)
        return NULL;
    b->data_off += n;
    b->data_len -= n;
    return pd_buf_data(b);
}

static uint8_t *ops_append(pd_pkt *p, uint32_t n)
{
    pd_buf *b = (pd_buf *)p;
    uint8_t *tail;

    if (b->room - b->data_off - b->data_len < n)
        return NULL;
    tail = pd_buf_data(b) + b->data_len;
    b->data_len += n;
    return tail;
}

static int ops_trim(pd_pkt *p, uint32_t n)
{
    pd_buf *b = (pd_buf *)p;

    if (b->data_len < n)
        return -EINVAL;
    b->data_len -= n;
    return 0;
}

const pd_pkt_ops pd_buf_ops = {
    .name = "pd_buf",
    .kind = PD_PKT_KIND_BUF,
    .alloc_bulk = ops_alloc_bulk,
    .free_bulk = ops_free_bulk,
    .data = ops_data,
    .data_len = ops_data_len,
    .headroom = ops_headroom,
    .tailroom = ops_tailroom,
    .prepend = ops_prepend,
    .adj = ops_adj,
    .append = ops_append,
    .trim = ops_trim,
};

int pd_buf_debug_use_after_free(pd_buf_pool *pool)
{
    pd_buf *b;
    volatile uint8_t *data;

    if (pd_buf_alloc_bulk(pool, &b, 1) < 0)
        return -ENOBUFS;
    data = pd_buf_data(b);
    data[0] = 0x5a;
    pd_buf_free_bulk(&b, 1);
    /* The planted bug: the buffer is back in the pool. */
    return data[0];
}
