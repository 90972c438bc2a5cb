/* C unit tests of the AF_PACKET port over the loopback device, which exists
 * in every network namespace.  Exit 77 (skip) without CAP_NET_RAW. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include "afpacket.h"
#include "net.h"
#include "pd_check.h"

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

/* Zero copy: frames are views into the ring, the block is held while a
 * packet is, and the port's memory outlives pd_afp_close() until the last
 * packet is freed. */
static void test_zero_copy(pd_buf_pool *pool)
{
    pd_afp_config cfg;
    pd_afp *afp = NULL;
    pd_buf *tx[4];
    pd_pkt *rx[32], *mine[4];
    unsigned int kept = 0;

    pd_afp_config_init(&cfg, "lo");
    cfg.zero_copy = 1;
    cfg.zc_headroom = 4000; /* too much for a 2048-byte frame */
    CHECK(pd_afp_open(&afp, &cfg, NULL) == -EINVAL);
    cfg.zc_headroom = 128;
    cfg.block_size = 1u << 16;
    cfg.block_count = 4;
    CHECK(pd_afp_open(&afp, &cfg, NULL) == 0);
    if (afp == NULL)
        return;
    CHECK(pd_afp_start(afp) == 0);
    CHECK(pd_afp_zc_ops.alloc_bulk(afp, rx, 1) == -ENOBUFS);

    CHECK(pd_buf_alloc_bulk(pool, tx, 4) == 0);
    for (int i = 0; i < 4; i++)
        fill_frame(tx[i], 100 + (uint32_t)i, (uint8_t)i);
    {
        /* A zero-copy port sends pd_buf packets through its pd_port_io
         * (tx_burst_ops), and refuses other kinds (pkt.h's one rule). */
        pd_port_io io;
        pd_pkt_ops mbuf_like = pd_buf_ops;
        mbuf_like.kind = PD_PKT_KIND_MBUF;
        pd_afp_port_io(afp, &io);
        CHECK(io.ops == &pd_afp_zc_ops && io.tx_burst_ops != NULL);
        CHECK(pd_port_io_sends(&io, &pd_afp_zc_ops) && pd_port_io_sends(&io, &pd_buf_ops));
        CHECK(!pd_port_io_sends(&io, &mbuf_like));
        CHECK(pd_port_io_tx(&io, 0, (pd_pkt **)tx, 4, &pd_buf_ops) == 4);
    }
    for (int tries = 0; tries < 50 && kept < 4; tries++) {
        uint16_t n;
        CHECK(pd_afp_wait(afp, 0, 20) >= 0);
        n = pd_afp_rx_burst(afp, 0, rx, 32);
        for (uint16_t i = 0; i < n; i++) {
            uint8_t *d = pd_afp_zc_ops.data(rx[i]);
            uint32_t len = pd_afp_zc_ops.data_len(rx[i]);
            if (kept < 4 && len >= 100 && d[12] == 0x88 && d[13] == 0xb5) {
                mine[kept++] = rx[i];
                rx[i] = NULL;
            }
        }
        pd_afp_zc_ops.free_bulk(rx, n);
    }
    CHECK(kept == 4);
    if (kept < 4) {
        pd_afp_zc_ops.free_bulk(mine, kept);
        pd_afp_close(afp);
        return;
    }
    CHECK(pd_afp_zc_held(afp) == 4);
    CHECK(pd_afp_zc_blocks_held(afp) >= 1);
    {
        /* Held packets keep the socket "readable" for poll(); wait() must
         * still sleep until a frame is really there, or time out. */
        struct timespec t0, t1;
        long ms;
        int w;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        w = pd_afp_wait(afp, 0, 30);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (w == 1) { /* other traffic on lo: then there is something to read */
            uint16_t n = pd_afp_rx_burst(afp, 0, rx, 32);
            CHECK(n > 0);
            pd_afp_zc_ops.free_bulk(rx, n);
        } else {
            CHECK(w == 0 && ms >= 25);
        }
    }
    for (int i = 0; i < 4; i++) {
        uint32_t len = pd_afp_zc_ops.data_len(mine[i]);
        uint8_t *d = pd_afp_zc_ops.data(mine[i]);
        CHECK(len == 100 + (uint32_t)i);
        CHECK(d[14] == (uint8_t)((len - 100) + 14));
        CHECK(pd_afp_zc_ops.tailroom(mine[i]) == 0);
        CHECK(pd_afp_zc_ops.append(mine[i], 1) == NULL);
        CHECK(pd_afp_zc_ops.headroom(mine[i]) >= 128);
        CHECK(pd_afp_zc_ops.prepend(mine[i], 128) == d - 128);
        CHECK(pd_afp_zc_ops.data_len(mine[i]) == len + 128);
        CHECK(pd_afp_zc_ops.adj(mine[i], 128) == d);
    }
    /* Closing with packets held defers the release to the last free. */
    pd_afp_zc_ops.free_bulk(mine, 2);
    CHECK(pd_afp_zc_held(afp) == 2);
    pd_afp_close(afp);
    CHECK(pd_afp_zc_ops.data(mine[2])[12] == 0x88);
    pd_afp_zc_ops.free_bulk(mine + 2, 2);
}

/* A TCP super-frame sent on lo with a vnet header (as a TSO sender's stack
 * hands it to a device that segments) comes back to the port as wire-sized
 * segments: consecutive sequence numbers, FIN/PSH on the last only, IPv4
 * ids +1, every checksum valid. */
static void test_gso_super_frame_is_segmented(pd_buf_pool *pool)
{
    enum { PAYLOAD = 3 * 1000 + 400, MSS = 1000 };
    static uint8_t buf[PD_VNET_HDR_LEN + 14 + 20 + 20 + PAYLOAD];
    uint8_t *f = buf + PD_VNET_HDR_LEN, *ip = f + 14, *t = ip + 20;
    uint16_t v16;
    pd_afp_config cfg;
    pd_afp *afp = NULL;
    pd_buf *rx[32];
    pd_afp_stats st;
    struct sockaddr_ll sll;
    int fd, one = 1;
    unsigned int got = 0, seen_last = 0;
    uint32_t next_seq = 1000;

    pd_afp_config_init(&cfg, "lo");
    cfg.block_size = 1u << 17;
    cfg.block_count = 4;
    CHECK(pd_afp_open(&afp, &cfg, pool) == 0);
    if (afp == NULL)
        return;
    CHECK(pd_afp_vnet_hdr(afp) == 1);
    CHECK(pd_afp_start(afp) == 0);

    memset(buf, 0, sizeof(buf));
    /* virtio_net_hdr: NEEDS_CSUM at the TCP checksum, TCPv4, gso_size */
    buf[0] = PD_VNET_F_NEEDS_CSUM;
    buf[1] = PD_GSO_TCPV4;
    v16 = 54; memcpy(buf + 2, &v16, 2);
    v16 = MSS; memcpy(buf + 4, &v16, 2);
    v16 = 34; memcpy(buf + 6, &v16, 2);
    v16 = 16; memcpy(buf + 8, &v16, 2);
    f[6] = 2; f[11] = 7;                      /* source MAC 02:..:07 */
    f[12] = 0x08;
    ip[0] = 0x45;
    ip[2] = (20 + 20 + PAYLOAD) >> 8; ip[3] = (20 + 20 + PAYLOAD) & 0xff;
    ip[4] = 0x12; ip[5] = 0x34;
    ip[6] = 0x40;
    ip[8] = 64; ip[9] = 6;
    ip[12] = 198; ip[13] = 51; ip[14] = 100; ip[15] = 1;   /* TEST-NET-2: not ours */
    ip[16] = 198; ip[17] = 51; ip[18] = 100; ip[19] = 2;
    v16 = pd_csum_ipv4_hdr(ip, 20); ip[10] = (uint8_t)(v16 >> 8); ip[11] = (uint8_t)v16;
    t[0] = 0xd4; t[1] = 0x31; t[2] = 0xd4; t[3] = 0x32;     /* ports 54321 -> 54322 */
    t[4] = 0; t[5] = 0; t[6] = 0x03; t[7] = 0xe8;          /* seq 1000 */
    t[12] = 5 << 4;
    t[13] = 0x19;                                          /* ACK PSH FIN */
    t[14] = 0xff;
    for (int i = 0; i < PAYLOAD; i++)
        t[20 + i] = (uint8_t)(i * 3);
    /* the pseudo-header sum in the checksum field, as the stack leaves it */
    v16 = (uint16_t)~pd_csum_fold(pd_csum_pseudo(ip, 4, 6, 20 + PAYLOAD));
    t[16] = (uint8_t)(v16 >> 8); t[17] = (uint8_t)v16;

    fd = socket(AF_PACKET, SOCK_RAW, 0);
    CHECK(fd >= 0);
    CHECK(setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) == 0);
    memset(&sll, 0, sizeof(sll));
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_IP);
    sll.sll_ifindex = (int)if_nametoindex("lo");
    CHECK(sendto(fd, buf, sizeof(buf), 0, (struct sockaddr *)&sll, sizeof(sll)) ==
          (ssize_t)sizeof(buf));
    close(fd);

    for (int tries = 0; tries < 50 && !seen_last; tries++) {
        uint16_t n;
        CHECK(pd_afp_wait(afp, 0, 20) >= 0);
        n = pd_afp_rx_burst(afp, 0, (pd_pkt **)rx, 32);
        for (uint16_t i = 0; i < n; i++) {
            uint8_t *d = pd_buf_data(rx[i]), *dt = d + 34;
            uint32_t len = rx[i]->data_len, seq, plen;
            if (len < 54 || d[11] != 7 || d[23] != 6 || dt[0] != 0xd4 || dt[1] != 0x31)
                continue;                          /* someone else's frame */
            plen = len - 54;
            seq = (uint32_t)dt[4] << 24 | (uint32_t)dt[5] << 16 | (uint32_t)dt[6] << 8 | dt[7];
            CHECK(len <= 14 + 20 + 20 + MSS);
            CHECK(seq == next_seq);
            CHECK((uint32_t)(d[18] << 8 | d[19]) == 0x1234 + got);
            CHECK(pd_csum_ipv4_hdr(d + 14, 20) == 0);
            CHECK(pd_csum_fold(pd_csum_add(pd_csum_pseudo(d + 14, 4, 6, 20 + plen), dt,
                                           20 + plen)) == 0);
            CHECK(memcmp(dt + 20, t + 20 + (seq - 1000), plen) == 0);
            seen_last = next_seq + plen == 1000 + PAYLOAD;
            CHECK(((dt[13] & 0x09) != 0) == (seen_last != 0));
            next_seq += plen;
            got++;
        }
        pd_buf_free_bulk(rx, n);
    }
    CHECK(got == 4 && seen_last);
    CHECK(pd_afp_stats_get(afp, -1, &st) == 0);
    CHECK(st.rx_gso_frames >= 1 && st.rx_gso_segments >= 4 && st.rx_gso_failed == 0);
    pd_afp_close(afp);
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
    test_zero_copy(pool);
    test_gso_super_frame_is_segmented(pool);
    CHECK(pd_buf_pool_free(pool, 0) == 0);
    return pd_check_result();
}
