/* C unit tests of native/pkt: the ops identity rule (pkt.h) and the
 * in-memory loopback port (loopback.c), over pd_buf packets. */
#include <errno.h>
#include <string.h>

#include "buf.h"
#include "loopback.h"
#include "pd_check.h"

/* A second table of the pd_buf kind at another address, as an extension
 * module linking its own copy of native/buf has. */
static void test_ops_identity_is_the_kind(void)
{
    pd_pkt_ops copy = pd_buf_ops, other = pd_buf_ops, unknown = pd_buf_ops;

    other.kind = PD_PKT_KIND_MBUF;
    unknown.kind = PD_PKT_KIND_NONE;
    CHECK(pd_pkt_ops_same(&pd_buf_ops, &pd_buf_ops));
    CHECK(pd_pkt_ops_same(&pd_buf_ops, &copy));
    CHECK(!pd_pkt_ops_same(&pd_buf_ops, &other));     /* same name, other kind */
    CHECK(!pd_pkt_ops_same(&pd_buf_ops, &unknown));
    CHECK(!pd_pkt_ops_same(&unknown, &pd_buf_ops));
    CHECK(pd_pkt_ops_same(&unknown, &unknown));       /* no kind: the same table only */
    CHECK(!pd_pkt_ops_same(&pd_buf_ops, NULL));
}

static uint16_t count_tx_ops(void *ctx, uint16_t queue, pd_pkt **pkts, uint16_t n,
                             const pd_pkt_ops *ops)
{
    (void)queue; (void)pkts; (void)ops;
    *(int *)ctx += n;
    return 0;
}

static void test_port_io_sends_its_kind_and_declared_kinds(void)
{
    pd_buf_pool *pool;
    pd_loopback *lb;
    pd_port_io io;
    pd_pkt_ops copy = pd_buf_ops, mbuf = pd_buf_ops, zc = pd_buf_ops;
    pd_pkt *p[2];
    int extra = 0;

    mbuf.kind = PD_PKT_KIND_MBUF;
    zc.kind = PD_PKT_KIND_AFP_ZC;
    CHECK(pd_buf_pool_create(&pool, 4, 256, 0) == 0);
    CHECK(pd_loopback_create(&lb, &copy, pool, 1, 4) == 0);
    pd_loopback_port_io(lb, &io);
    CHECK(io.tx_burst_ops == NULL && io.tx_kinds == 0 && io.status == NULL);
    CHECK(pd_port_io_sends(&io, &pd_buf_ops));
    CHECK(!pd_port_io_sends(&io, &mbuf));
    CHECK(!pd_port_io_sends(&io, &zc));
    /* A port that also sends AF_PACKET zero-copy frames (as afpacket.c). */
    io.tx_burst_ops = count_tx_ops;
    io.tx_kinds = 1u << PD_PKT_KIND_AFP_ZC;
    CHECK(pd_port_io_sends(&io, &zc));
    CHECK(!pd_port_io_sends(&io, &mbuf));
    CHECK(pd_buf_alloc_bulk(pool, (pd_buf **)p, 2) == 0);
    CHECK(pd_port_io_tx(&io, 0, p, 2, &pd_buf_ops) == 2);   /* own kind: tx_burst */
    CHECK(pd_loopback_queued(lb, 0) == 2 && extra == 0);
    io.ctx = &extra;
    CHECK(pd_port_io_tx(&io, 0, p, 2, &zc) == 0 && extra == 2);
    pd_loopback_free(lb);                                  /* frees what is queued */
    CHECK(pd_buf_pool_in_use(pool) == 0);
    CHECK(pd_buf_pool_free(pool, 0) == 0);
}

static void test_loopback_round_trip_and_counters(void)
{
    pd_buf_pool *pool;
    pd_loopback *lb = (pd_loopback *)1;
    pd_buf *b[8];
    pd_pkt *got[8];
    pd_loopback_stats st;

    CHECK(pd_buf_pool_create(&pool, 16, 256, 0) == 0);
    CHECK(pd_loopback_create(&lb, &pd_buf_ops, pool, 0, 4) == -EINVAL);
    CHECK(pd_loopback_create(&lb, &pd_buf_ops, pool, PD_LOOPBACK_MAX_QUEUES + 1, 4) == -EINVAL);
    CHECK(pd_loopback_create(&lb, &pd_buf_ops, pool, 1, 0) == -EINVAL);
    CHECK(pd_loopback_create(&lb, NULL, pool, 1, 4) == -EINVAL);
    CHECK(pd_loopback_create(&lb, &pd_buf_ops, pool, 2, 4) == 0);
    CHECK(pd_loopback_queues(lb) == 2);
    CHECK(pd_buf_alloc_bulk(pool, b, 6) == 0);
    for (int i = 0; i < 6; i++) {
        pd_buf_ops.append((pd_pkt *)b[i], 10u + (uint32_t)i);
        pd_buf_data(b[i])[0] = (uint8_t)i;
    }
    /* depth 4: two of six stay with the caller */
    CHECK(pd_loopback_tx_burst(lb, 1, (pd_pkt **)b, 6) == 4);
    CHECK(pd_loopback_tx_burst(lb, 2, (pd_pkt **)b + 4, 2) == 0);   /* no queue 2 */
    CHECK(pd_loopback_queued(lb, 1) == 4 && pd_loopback_queued(lb, 0) == 0);
    CHECK(pd_loopback_rx_burst(lb, 0, got, 8) == 0);
    CHECK(pd_loopback_rx_burst(lb, 1, got, 3) == 3);
    for (int i = 0; i < 3; i++)                                      /* in order */
        CHECK(pd_buf_ops.data(got[i])[0] == i);
    /* the ring wraps */
    CHECK(pd_loopback_tx_burst(lb, 1, (pd_pkt **)b + 4, 2) == 2);
    CHECK(pd_loopback_rx_burst(lb, 1, got + 3, 8) == 3);
    for (int i = 3; i < 6; i++)
        CHECK(pd_buf_ops.data(got[i])[0] == i);
    pd_loopback_stats_get(lb, &st);
    CHECK(st.tx_packets == 6 && st.rx_packets == 6 && st.tx_full == 2);
    CHECK(st.tx_bytes == 10 + 11 + 12 + 13 + 14 + 15 && st.rx_bytes == st.tx_bytes);
    pd_buf_ops.free_bulk(got, 6);
    pd_loopback_free(lb);
    pd_loopback_free(NULL);
    CHECK(pd_buf_pool_in_use(pool) == 0);
    CHECK(pd_buf_pool_free(pool, 0) == 0);
}

int main(void)
{
    test_ops_identity_is_the_kind();
    test_port_io_sends_its_kind_and_declared_kinds();
    test_loopback_round_trip_and_counters();
    return pd_check_result();
}
