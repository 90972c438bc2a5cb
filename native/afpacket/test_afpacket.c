/* C unit tests of the AF_PACKET port over the loopback device, which exists
 * in every network namespace.  Exit 77 (skip) without CAP_NET_RAW. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "afpacket.h"

static int failures;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                      \
            failures++;                                                    \
        }                                                                  \
    } while (0)

/* An Ethernet frame with a made-up EtherType so nothing else answers it. */
static void fill_frame(pd_buf *b, uint32_t len, uint8_t tag)
{
    uint8_t *d = pd_buf_data(b);

    memset(d, 0, 12);
    d[12] = 0x88;
    d[13] = 0xb5; /* IEEE local experimental */
    for (uint32_t i = 14; i < len; i++)
        d[i] = (uint8_t)(tag + i);
    b->data_len = len;
}

static void test_bad_config(pd_buf_pool *pool)
{
    pd_afp_config cfg;
    pd_afp *afp = NULL;

    pd_afp_config_init(&cfg, "no-such-if0");
    CHECK(pd_afp_open(&afp, &cfg, pool) == -ENODEV);
    CHECK(afp == NULL);
    pd_afp_config_init(&cfg, "an-interface-name-far-too-long");
    CHECK(pd_afp_open(&afp, &cfg, pool) == -EINVAL);
    pd_afp_config_init(&cfg, "lo");
    cfg.block_size = 1000;
    CHECK(pd_afp_open(&afp, &cfg, pool) == -EINVAL);
    pd_afp_config_init(&cfg, "lo");
    cfg.nb_queues = 0;
    CHECK(pd_afp_open(&afp, &cfg, pool) == -EINVAL);
}

static void test_loopback_round_trip(pd_buf_pool *pool, int tx_mode)
{
    pd_afp_config cfg;
    pd_afp *afp = NULL;
    pd_buf *tx[8], *rx[32];
    pd_afp_stats st;
    unsigned int got = 0, matched = 0;
    int rc;

    pd_afp_config_init(&cfg, "lo");
    cfg.tx_mode = tx_mode;
    cfg.block_size = 1u << 16;
    cfg.block_count = 4;
    cfg.tx_frame_count = 64;
    CHECK(pd_afp_open(&afp, &cfg, pool) == 0);
    if (afp == NULL)
        return;
    CHECK(pd_afp_rx_burst(afp, 0, (pd_pkt **)rx, 32) == 0); /* not started */
    CHECK(pd_afp_start(afp) == 0);
    CHECK(pd_afp_mtu(afp) > 0);

    CHECK(pd_buf_alloc_bulk(pool, tx, 8) == 0);
    for (int i = 0; i < 8; i++)
        fill_frame(tx[i], 60 + (uint32_t)i * 100, (uint8_t)i);
    CHECK(pd_afp_tx_burst(afp, 0, (pd_pkt **)tx, 8) == 8);

    for (int tries = 0; tries < 50 && got < 8; tries++) {
        uint16_t n;
        rc = pd_afp_wait(afp, 0, 20);
        CHECK(rc >= 0);
        n = pd_afp_rx_burst(afp, 0, (pd_pkt **)rx, 32);
        for (uint16_t i = 0; i < n; i++) {
            const uint8_t *d = pd_buf_data(rx[i]);
            if (rx[i]->data_len >= 60 && d[12] == 0x88 && d[13] == 0xb5) {
                uint32_t k = (rx[i]->data_len - 60) / 100;
                int ok = rx[i]->data_len == 60 + k * 100 && k < 8;
                for (uint32_t j = 14; ok && j < rx[i]->data_len; j++)
                    ok = d[j] == (uint8_t)(k + j);
                matched += ok;
                got++;
                CHECK(rx[i]->timestamp_ns > 0);
            }
        }
        pd_buf_free_bulk(rx, n);
    }
    CHECK(got == 8);
    CHECK(matched == 8);
    CHECK(pd_afp_stats_get(afp, -1, &st) == 0);
    CHECK(st.tx_packets == 8);
    CHECK(st.rx_packets >= 8);
    CHECK(st.kernel_packets >= 8);
    CHECK(pd_afp_check(afp) == 0);
    pd_afp_close(afp);
    CHECK(pd_buf_pool_avail(pool) == pd_buf_pool_count(pool));
}

int main(void)
{
    pd_buf_pool *pool;
    pd_afp_config cfg;
    pd_afp *afp = NULL;
    int rc;

    if (pd_buf_pool_create(&pool, 256, 2048, 128) != 0)
        return 1;
    pd_afp_config_init(&cfg, "lo");
    rc = pd_afp_open(&afp, &cfg, pool);
    if (rc == -EPERM || rc == -EACCES) {
        fprintf(stderr, "skipped: AF_PACKET needs CAP_NET_RAW\n");
        pd_buf_pool_free(pool, 0);
        return 77;
    }
    CHECK(rc == 0);
    pd_afp_close(afp);

    test_bad_config(pool);
    test_loopback_round_trip(pool, PD_AFP_TX_RING);
    test_loopback_round_trip(pool, PD_AFP_TX_SENDMMSG);
    CHECK(pd_buf_pool_free(pool, 0) == 0);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
