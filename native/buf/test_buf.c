/* C unit tests of the native buffer pool (run by `meson test`). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "pd_check.h"

static void test_create_rejects_bad_sizes(void)
{
    pd_buf_pool *pool = (pd_buf_pool *)1;

    CHECK(pd_buf_pool_create(&pool, 0, 2048, 128) == -EINVAL);
    CHECK(pool == NULL);
    CHECK(pd_buf_pool_create(&pool, 8, 0, 128) == -EINVAL);
    CHECK(pd_buf_pool_create(&pool, 8, 1u << 21, 0) == -EINVAL);
    CHECK(pd_buf_pool_create(NULL, 8, 2048, 128) == -EINVAL);
}

static void test_alloc_is_all_or_nothing_and_accounted(void)
{
    pd_buf_pool *pool;
    pd_buf *bufs[16];

    CHECK(pd_buf_pool_create(&pool, 10, 2048, 128) == 0);
    CHECK(pd_buf_pool_count(pool) == 10);
    CHECK(pd_buf_pool_avail(pool) == 10);
    CHECK(pd_buf_alloc_bulk(pool, bufs, 11) == -ENOBUFS);
    CHECK(pd_buf_pool_avail(pool) == 10);
    CHECK(pd_buf_alloc_bulk(pool, bufs, 6) == 0);
    CHECK(pd_buf_pool_avail(pool) == 4);
    CHECK(pd_buf_pool_in_use(pool) == 6);
    CHECK(pd_buf_alloc_bulk(pool, bufs + 6, 5) == -ENOBUFS);
    CHECK(pd_buf_pool_free(pool, 0) == -EBUSY);
    for (int i = 0; i < 6; i++) {
        CHECK(bufs[i]->data_off == 128);
        CHECK(bufs[i]->data_len == 0);
        for (int j = 0; j < i; j++)
            CHECK(bufs[i] != bufs[j]);
    }
    bufs[6] = NULL; /* NULL entries are skipped */
    pd_buf_free_bulk(bufs, 7);
    CHECK(pd_buf_pool_avail(pool) == 10);
    CHECK(pd_buf_pool_double_frees(pool) == 0);
    CHECK(pd_buf_pool_free(pool, 0) == 0);
}

static void test_double_free_is_ignored_and_counted(void)
{
    pd_buf_pool *pool;
    pd_buf *bufs[2];

    CHECK(pd_buf_pool_create(&pool, 4, 256, 0) == 0);
    CHECK(pd_buf_alloc_bulk(pool, bufs, 2) == 0);
    pd_buf_free_bulk(bufs, 2);
    pd_buf_free_bulk(bufs, 2);
    CHECK(pd_buf_pool_avail(pool) == 4);
    CHECK(pd_buf_pool_double_frees(pool) == 2);
    CHECK(pd_buf_pool_free(pool, 0) == 0);
}

static void test_ops_prepend_adj_append_trim(void)
{
    const pd_pkt_ops *ops = &pd_buf_ops;
    pd_buf_pool *pool;
    pd_pkt *p;
    uint8_t *d;

    CHECK(pd_buf_pool_create(&pool, 2, 100, 16) == 0);
    CHECK(ops->alloc_bulk(pool, &p, 1) == 0);
    CHECK(ops->headroom(p) == 16);
    CHECK(ops->tailroom(p) == 100);
    d = ops->append(p, 10);
    CHECK(d == ops->data(p));
    memcpy(d, "0123456789", 10);
    CHECK(ops->data_len(p) == 10);
    CHECK(ops->tailroom(p) == 90);
    CHECK(ops->append(p, 91) == NULL);
    CHECK(ops->data_len(p) == 10);

    d = ops->prepend(p, 4);
    CHECK(d != NULL && ops->headroom(p) == 12 && ops->data_len(p) == 14);
    memcpy(d, "HDR:", 4);
    CHECK(memcmp(ops->data(p), "HDR:0123456789", 14) == 0);
    CHECK(ops->prepend(p, 13) == NULL);
    CHECK(ops->headroom(p) == 12);

    d = ops->adj(p, 4);
    CHECK(d != NULL && memcmp(d, "0123456789", 10) == 0);
    CHECK(ops->adj(p, 11) == NULL);
    CHECK(ops->trim(p, 3) == 0);
    CHECK(ops->data_len(p) == 7);
    CHECK(ops->trim(p, 8) == -EINVAL);
    CHECK(ops->data_len(p) == 7);
    CHECK(memcmp(ops->data(p), "0123456", 7) == 0);

    ops->free_bulk(&p, 1);
    CHECK(pd_buf_pool_avail(pool) == 2);
    CHECK(pd_buf_pool_free(pool, 0) == 0);
}

static void test_free_bulk_mixes_pools(void)
{
    pd_buf_pool *a, *b;
    pd_buf *bufs[4];

    CHECK(pd_buf_pool_create(&a, 2, 64, 0) == 0);
    CHECK(pd_buf_pool_create(&b, 2, 64, 0) == 0);
    CHECK(pd_buf_alloc_bulk(a, bufs, 1) == 0);
    CHECK(pd_buf_alloc_bulk(b, bufs + 1, 2) == 0);
    CHECK(pd_buf_alloc_bulk(a, bufs + 3, 1) == 0);
    pd_buf_free_bulk(bufs, 4);
    CHECK(pd_buf_pool_avail(a) == 2 && pd_buf_pool_avail(b) == 2);
    CHECK(pd_buf_pool_free(a, 0) == 0);
    CHECK(pd_buf_pool_free(b, 0) == 0);
}

/* An owner letting go of a pool with buffers out (queued elsewhere) must
 * not free it under them: the last buffer returned frees it. */
static void test_release_defers_until_last_buffer(void)
{
    pd_buf_pool *pool;
    pd_buf *bufs[3];

    CHECK(pd_buf_pool_create(&pool, 4, 256, 64) == 0);
    CHECK(pd_buf_alloc_bulk(pool, bufs, 3) == 0);
    CHECK(pd_buf_pool_release(pool) == 0);
    /* still usable memory: write, then return two, then the last one */
    memset(pd_buf_data(bufs[2]), 0xab, 256);
    pd_buf_free_bulk(bufs, 2);
    CHECK(pd_buf_data(bufs[2])[255] == 0xab);
    pd_buf_free_bulk(bufs + 2, 1); /* frees the pool (ASan/valgrind: no leak) */

    CHECK(pd_buf_pool_create(&pool, 2, 256, 64) == 0);
    CHECK(pd_buf_pool_release(pool) == 1);
    CHECK(pd_buf_pool_release(NULL) == 1);
}

int main(void)
{
    test_create_rejects_bad_sizes();
    test_alloc_is_all_or_nothing_and_accounted();
    test_double_free_is_ignored_and_counted();
    test_ops_prepend_adj_append_trim();
    test_free_bulk_mixes_pools();
    test_release_defers_until_last_buffer();
    return pd_check_result();
}
