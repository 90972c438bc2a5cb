/* End-to-end tests of the FEC gateway stages over the native pipeline:
 * generator -> FEC encode -> lossy link -> FEC decode -> verifying sink. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gateway.h"
#include "net.h"
#include "impair.h"
#include "pipeline.h"
#include "buf.h"
#include "loopback.h"
#include "traffic.h"
#include "pd_check.h"

static const uint8_t tmpl[42] = {
    0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00,
    0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    0x30, 0x39, 0x30, 0x3a, 0, 0, 0, 0,
};

/* Drops wire packets whose position modulo `period` is in `mask` (bits). */
struct pattern { uint64_t pos; unsigned period; uint64_t mask; const pd_pkt_ops *ops; };

static uint16_t pattern_process(void *ctx, pd_pkt **in, uint16_t n, pd_pkt **out,
                                uint16_t cap, uint64_t now)
{
    struct pattern *pt = ctx;
    uint16_t m = 0;
    (void)cap; (void)now;
    for (uint16_t i = 0; i < n; i++, pt->pos++) {
        if (pt->mask >> (pt->pos % pt->period) & 1)
            pt->ops->free_bulk(&in[i], 1);
        else
            out[m++] = in[i];
    }
    return m;
}

/* run(): an IPv6 outer header (fd00::1 -> fd00::2) instead of IPv4 */
static int run_ipv6;
static const uint8_t ip6_a[16] = { 0xfd, [15] = 1 }, ip6_b[16] = { 0xfd, [15] = 2 };

struct result { pd_verify_counters v; fec_encoder_stats es; fec_decoder_stats ds;
                pd_gateway_counters eg, dg; long pool_out; };

static struct result run(int code, unsigned k, unsigned m, int encap_kind, uint64_t count,
                         pd_stage *link)
{
    pd_buf_pool *pool = NULL;
    CHECK(pd_buf_pool_create(&pool, 8192, 2048, PD_BUF_DEFAULT_HEADROOM) == 0);
    pd_gen_cfg gc = { .tmpl = tmpl, .tmpl_len = sizeof(tmpl), .n_sizes = 3,
                      .sizes = { 1400, 100, 600 }, .count = count, .stream = 1,
                      .fix_lengths = 1 };
    pd_fec_enc_stage_cfg ec = { .encap = { .kind = encap_kind, .dst_port = 4790,
                                           .src_port = 4790, .src_ip = 0x0a000001,
                                           .dst_ip = 0x0a000002 },
                                .fec = { .code = code, .k = k, .m = m, .depth = 1,
                                         .max_payload = 1500 } };
    pd_fec_dec_stage_cfg dc = { .encap = ec.encap,
                                .fec = { .max_payload = 1500, .max_blocks = 64,
                                         .max_symbols = 4096, .timeout = 0,
                                         .cache_entries = 64 } };
    int err;
    if (run_ipv6) {
        ec.encap.ipv6 = 1;
        memcpy(ec.encap.src_ip6, ip6_a, 16);
        memcpy(ec.encap.dst_ip6, ip6_b, 16);
        dc.encap = ec.encap;
    }
    pd_gen *g = pd_gen_create(&gc, &pd_buf_ops, pool, &err);
    pd_fec_enc_stage *enc = pd_fec_enc_stage_create(&ec, &pd_buf_ops, pool, &err);
    pd_fec_dec_stage *dec = pd_fec_dec_stage_create(&dc, &pd_buf_ops, pool, &err);
    pd_verify *v = pd_verify_create(sizeof(tmpl), 1, &pd_buf_ops, &err);
    pd_source src;
    pd_stage s_enc, s_dec;
    pd_sink snk;
    pd_chain c;
    pd_chain *chains[1] = { &c };
    pd_run_opts o;
    pd_run_result res;
    struct result r;

    assert(g && enc && dec && v);
    pd_gen_source(g, &src);
    pd_fec_enc_stage_bind(enc, &s_enc);
    pd_fec_dec_stage_bind(dec, &s_dec);
    pd_verify_sink(v, &snk);
    pd_chain_init(&c, &src, &snk, &pd_buf_ops, 32);
    pd_chain_add_stage(&c, &s_enc);
    if (link)
        pd_chain_add_stage(&c, link);
    pd_chain_add_stage(&c, &s_dec);
    pd_run_opts_default(&o);
    CHECK(pd_pipeline_run(chains, 1, &o, &res) == 0);
    r.v = *pd_verify_counters_get(v);
    pd_fec_enc_stage_stats(enc, &r.es, &r.eg);
    pd_fec_dec_stage_stats(dec, &r.ds, &r.dg);
    pd_fec_enc_stage_destroy(enc);
    pd_fec_dec_stage_destroy(dec);
    pd_verify_destroy(v);
    pd_gen_destroy(g);
    r.pool_out = pd_buf_pool_in_use(pool);
    pd_buf_pool_free(pool, 1);
    return r;
}

static void test_clean_link_delivers_everything_in_order(void)
{
    struct result r = run(FEC_CODE_RS, 10, 4, PD_ENCAP_UDP, 10003, NULL);
    CHECK(r.v.valid == 10003 && r.v.corrupted == 0 && r.v.foreign == 0);
    CHECK(r.v.reordered == 0 && r.v.duplicates == 0);
    CHECK(r.ds.recovered == 0 && r.ds.delivered == 10003);
    /* 1000 full blocks + one partial block of 3, flushed at the end */
    CHECK(r.es.blocks == 1001 && r.es.repair_packets == 1001 * 4);
    CHECK(r.pool_out == 0);
}

static void test_up_to_m_losses_per_block_lose_nothing(void)
{
    /* k=10, m=4: 14 wire packets per block; lose 2 sources and 2 parity */
    struct pattern pt = { .period = 14, .mask = (1u << 0) | (1u << 5) | (1u << 10) | (1u << 13),
                          .ops = &pd_buf_ops };
    pd_stage link = { .name = "pattern", .ctx = &pt, .process = pattern_process };
    struct result r = run(FEC_CODE_RS, 10, 4, PD_ENCAP_UDP, 10000, &link);
    CHECK(r.v.valid == 10000 && r.v.corrupted == 0);
    CHECK(r.ds.recovered == 2000 && r.ds.unrecoverable == 0);
    CHECK(r.pool_out == 0);

    /* four sources of a block lost: still exactly m */
    struct pattern pt4 = { .period = 14, .mask = 0xf << 3, .ops = &pd_buf_ops };
    link.ctx = &pt4;
    r = run(FEC_CODE_RS, 10, 4, PD_ENCAP_ETHER, 10000, &link);
    CHECK(r.v.valid == 10000 && r.ds.recovered == 4000 && r.v.corrupted == 0);
    CHECK(r.pool_out == 0);

    /* no outer header (the UDP socket port): the same */
    pt4.pos = 0;
    r = run(FEC_CODE_RS, 10, 4, PD_ENCAP_NONE, 10000, &link);
    CHECK(r.v.valid == 10000 && r.ds.recovered == 4000 && r.v.corrupted == 0);
    CHECK(r.dg.foreign == 0 && r.pool_out == 0);
}

static void test_xor_parity_rebuilds_one_per_block(void)
{
    struct pattern pt = { .period = 5, .mask = 1u << 2, .ops = &pd_buf_ops };
    pd_stage link = { .name = "pattern", .ctx = &pt, .process = pattern_process };
    struct result r = run(FEC_CODE_XOR, 4, 1, PD_ENCAP_ETHER, 4000, &link);
    CHECK(r.v.valid == 4000 && r.ds.recovered == 1000 && r.v.corrupted == 0);
    CHECK(r.pool_out == 0);
}

static void test_more_than_m_losses_are_reported_never_corrupt(void)
{
    struct pattern pt = { .period = 6, .mask = 0x7, .ops = &pd_buf_ops };  /* 3 of 6 */
    pd_stage link = { .name = "pattern", .ctx = &pt, .process = pattern_process };
    struct result r = run(FEC_CODE_RS, 4, 2, PD_ENCAP_UDP, 4000, &link);
    CHECK(r.v.corrupted == 0);
    CHECK(r.v.valid == 4000 - 3000);
    CHECK(r.ds.recovered == 0);
    CHECK(r.pool_out == 0);
}

static void test_random_loss_recovers_most(void)
{
    pd_buf_pool *dummy = NULL;
    CHECK(pd_buf_pool_create(&dummy, 1, 2048, PD_BUF_DEFAULT_HEADROOM) == 0);
    pd_impair_cfg ic = { .loss = 0.05, .seed = 11 };
    int err;
    pd_impair *im = pd_impair_create(&ic, &pd_buf_ops, dummy, &err);
    pd_stage link;
    pd_impair_stage(im, &link);
    struct result r = run(FEC_CODE_RS, 10, 4, PD_ENCAP_UDP, 50000, &link);
    const pd_impair_counters *lc = pd_impair_counters_get(im);
    CHECK(lc->lost_random > 2000);
    CHECK(r.v.corrupted == 0);
    CHECK(r.ds.recovered > 2000);
    /* expected residual ~1.6e-4 (binomial): far below 1% */
    CHECK(50000 - r.v.valid < 500);
    CHECK(r.pool_out == 0);
    pd_impair_destroy(im);
}

/* Two gateways joined by a wire: generator -> FEC encode -> lossy link ->
 * loopback port (tx) ... loopback port (rx) -> FEC decode -> verifier, as two
 * chains of one run (the native loopback is the "wire").  The run stops when
 * the generator is done; the drain empties the wire. */

static void test_encoder_and_decoder_chains_over_a_loopback_wire(void)
{
    pd_buf_pool *pool = NULL;
    pd_loopback *wire = NULL;
    CHECK(pd_buf_pool_create(&pool, 8192, 2048, PD_BUF_DEFAULT_HEADROOM) == 0);
    CHECK(pd_loopback_create(&wire, &pd_buf_ops, pool, 1, 4096) == 0);
    pd_gen_cfg gc = { .tmpl = tmpl, .tmpl_len = sizeof(tmpl), .n_sizes = 2,
                      .sizes = { 1400, 100 }, .count = 10000, .stream = 1,
                      .fix_lengths = 1 };
    pd_fec_enc_stage_cfg ec = { .encap = { .kind = PD_ENCAP_UDP, .dst_port = 4790,
                                           .src_port = 4790, .src_ip = 0x0a000001,
                                           .dst_ip = 0x0a000002 },
                                .fec = { .code = FEC_CODE_RS, .k = 10, .m = 4, .depth = 1,
                                         .max_payload = 1500 } };
    pd_fec_dec_stage_cfg dc = { .encap = ec.encap,
                                .fec = { .max_payload = 1500, .max_blocks = 64,
                                         .max_symbols = 4096, .timeout = 0,
                                         .cache_entries = 64 } };
    /* k=10, m=4: lose 2 sources and 2 parity of every block */
    struct pattern pt = { .period = 14, .mask = (1u << 1) | (1u << 7) | (1u << 11) | (1u << 12),
                          .ops = &pd_buf_ops };
    pd_stage lossy = { .name = "pattern", .ctx = &pt, .process = pattern_process };
    int err;
    pd_gen *g = pd_gen_create(&gc, &pd_buf_ops, pool, &err);
    pd_fec_enc_stage *enc = pd_fec_enc_stage_create(&ec, &pd_buf_ops, pool, &err);
    pd_fec_dec_stage *dec = pd_fec_dec_stage_create(&dc, &pd_buf_ops, pool, &err);
    pd_verify *v = pd_verify_create(sizeof(tmpl), 1, &pd_buf_ops, &err);
    pd_port_endpoint tx_ep = { .queue = 0 }, rx_ep = { .queue = 0 };
    pd_source gen_src, wire_src;
    pd_sink wire_snk, ver_snk;
    pd_stage s_enc, s_dec;
    pd_chain a, b;
    pd_chain *chains[2] = { &a, &b };
    pd_run_opts o;
    pd_run_result res;
    fec_decoder_stats ds;
    pd_gateway_counters dg;
    pd_loopback_stats ws;

    assert(g && enc && dec && v);
    pd_loopback_port_io(wire, &tx_ep.io);
    pd_loopback_port_io(wire, &rx_ep.io);
    pd_gen_source(g, &gen_src);
    pd_sink_from_port(&wire_snk, &tx_ep);
    pd_source_from_port(&wire_src, &rx_ep);
    pd_verify_sink(v, &ver_snk);
    pd_fec_enc_stage_bind(enc, &s_enc);
    pd_fec_dec_stage_bind(dec, &s_dec);
    CHECK(pd_chain_init(&a, &gen_src, &wire_snk, &pd_buf_ops, 32) == 0);
    CHECK(pd_chain_add_stage(&a, &s_enc) == 0);
    CHECK(pd_chain_add_stage(&a, &lossy) == 0);
    CHECK(pd_chain_init(&b, &wire_src, &ver_snk, &pd_buf_ops, 32) == 0);
    CHECK(pd_chain_add_stage(&b, &s_dec) == 0);
    pd_run_opts_default(&o);
    o.duration_ns = 60ull * 1000000000ull;     /* a broken wire must not hang the test */
    CHECK(pd_pipeline_run(chains, 2, &o, &res) == 0);
    CHECK(res.reason == PD_STOP_SOURCES_DONE);
    const pd_verify_counters *vc = pd_verify_counters_get(v);
    CHECK(vc->valid == 10000 && vc->corrupted == 0 && vc->foreign == 0);
    pd_fec_dec_stage_stats(dec, &ds, &dg);
    CHECK(ds.recovered == 2000);
    pd_loopback_stats_get(wire, &ws);
    CHECK(ws.tx_full == 0 && ws.tx_packets == 1000 * 10);   /* 14 per block, 4 lost */
    CHECK(pd_loopback_queued(wire, 0) == 0);   /* the drain emptied it */
    pd_loopback_free(wire);
    pd_fec_enc_stage_destroy(enc);
    pd_fec_dec_stage_destroy(dec);
    pd_verify_destroy(v);
    pd_gen_destroy(g);
    CHECK(pd_buf_pool_in_use(pool) == 0);
    pd_buf_pool_free(pool, 1);
}

static void test_bad_configs_rejected(void)
{
    pd_buf_pool *pool = NULL;
    CHECK(pd_buf_pool_create(&pool, 10, 2048, PD_BUF_DEFAULT_HEADROOM) == 0);
    int err = 0;
    pd_fec_enc_stage_cfg ec = { .encap = { .kind = 9 },
                                .fec = { .code = FEC_CODE_RS, .k = 4, .m = 2, .depth = 1,
                                         .max_payload = 1500 } };
    CHECK(pd_fec_enc_stage_create(&ec, &pd_buf_ops, pool, &err) == NULL && err == -EINVAL);
    ec.encap.kind = PD_ENCAP_UDP;      /* UDP needs a destination port */
    CHECK(pd_fec_enc_stage_create(&ec, &pd_buf_ops, pool, &err) == NULL && err == -EINVAL);
    ec.encap.kind = PD_ENCAP_ETHER;
    ec.encap.ethertype = 0x0100;       /* an 802.3 length, not a type */
    CHECK(pd_fec_enc_stage_create(&ec, &pd_buf_ops, pool, &err) == NULL && err == -EINVAL);
    ec.encap.ethertype = 0;
    ec.fec.k = 0;
    CHECK(pd_fec_enc_stage_create(&ec, &pd_buf_ops, pool, &err) == NULL && err < 0);
}

/* ---- edge-device MTU policy and ECN, stage by stage ---------------------- */

static pd_pkt *frame_pkt(pd_buf_pool *pool, uint32_t len, uint8_t proto, int df,
                         uint8_t tos, uint16_t ethertype)
{
    pd_pkt *p;
    uint8_t *f, *ip;
    assert(pd_buf_ops.alloc_bulk(pool, &p, 1) == 0);
    f = pd_buf_ops.append(p, len);
    memset(f, 0, len);
    memcpy(f, tmpl, 12);
    f[12] = (uint8_t)(ethertype >> 8);
    f[13] = (uint8_t)ethertype;
    if (ethertype != 0x0800)
        return p;
    ip = f + 14;
    ip[0] = 0x45;
    ip[1] = tos;
    ip[2] = (uint8_t)((len - 14) >> 8);
    ip[3] = (uint8_t)(len - 14);
    ip[6] = df ? 0x40 : 0;
    ip[8] = 64;
    ip[9] = proto;
    ip[12] = 10; ip[15] = 1;
    ip[16] = 10; ip[19] = 2;
    ip[20] = 0x30; ip[21] = 0x39; ip[22] = 0x1f; ip[23] = 0x90;
    if (proto == 6) {
        uint8_t *t = ip + 20;
        t[12] = 6 << 4;           /* 24-byte header: one MSS option */
        t[13] = 0x02;             /* SYN */
        t[20] = 2; t[21] = 4; t[22] = 1460 >> 8; t[23] = 1460 & 0xff;
    } else if (proto == 17) {
        ip[24] = (uint8_t)((len - 34) >> 8);
        ip[25] = (uint8_t)(len - 34);
    }
    pd_net_fill_l4_csum(f, len);
    ip[10] = ip[11] = 0;
    uint16_t c = pd_csum_ipv4_hdr(ip, 20);
    ip[10] = (uint8_t)(c >> 8);
    ip[11] = (uint8_t)c;
    return p;
}

static void test_mtu_policy(void)
{
    pd_buf_pool *pool = NULL;
    CHECK(pd_buf_pool_create(&pool, 1000, 2048, PD_BUF_DEFAULT_HEADROOM) == 0);
    pd_fec_enc_stage_cfg ec = { .encap = { .kind = PD_ENCAP_ETHER },
                                .fec = { .code = FEC_CODE_RS, .k = 8, .m = 2, .depth = 1,
                                         .max_payload = 1518 },
                                .mtu = { .wan_mtu = 1500, .clamp_mss = 1 } };
    pd_fec_dec_stage_cfg dc = { .encap = ec.encap,
                                .fec = { .max_payload = 1518, .max_blocks = 64,
                                         .max_symbols = 4096, .cache_entries = 64 } };
    uint32_t max_frame = 1500 + 14 - 14 - FEC_HDR_LEN - FEC_LEN_FIELD, mf, ipm, mss;
    int err;
    pd_fec_enc_stage *enc = pd_fec_enc_stage_create(&ec, &pd_buf_ops, pool, &err);
    pd_fec_dec_stage *dec = pd_fec_dec_stage_create(&dc, &pd_buf_ops, pool, &err);
    pd_stage se, sd;
    pd_pkt *in[4], *out[64];
    pd_gateway_counters g;
    uint16_t n;

    assert(enc && dec);
    CHECK(pd_gateway_max_frame(&ec.encap, 1500) == max_frame);
    ec.encap.kind = PD_ENCAP_UDP;
    ec.encap.dst_port = 4790;
    CHECK(pd_gateway_max_frame(&ec.encap, 1500) == max_frame - 28);
    pd_fec_enc_stage_mtu(enc, &mf, &ipm, &mss);
    CHECK(mf == max_frame && ipm == max_frame - 14 && mss == max_frame - 54);
    pd_fec_enc_stage_bind(enc, &se);
    pd_fec_dec_stage_bind(dec, &sd);

    /* DF, unpaired: no way to answer, counted */
    in[0] = frame_pkt(pool, 1514, 17, 1, 0, 0x0800);
    n = se.process(se.ctx, in, 1, out, 64, 1);
    pd_fec_enc_stage_stats(enc, NULL, &g);
    CHECK(n == 0 && g.reply_dropped == 1 && g.mtu_dropped == 1 && g.icmp_too_big == 0);

    /* DF, paired: ICMP fragmentation needed comes out of the decoder */
    pd_fec_stage_pair(enc, dec);
    in[0] = frame_pkt(pool, 1514, 17, 1, 0, 0x0800);
    n = se.process(se.ctx, in, 1, out, 64, 2);
    CHECK(n == 0);
    n = sd.process(sd.ctx, in, 0, out, 64, 3);
    CHECK(n == 1);
    if (n == 1) {
        uint8_t *r = pd_buf_ops.data(out[0]);
        CHECK(r[23] == 1 && r[34] == 3 && r[35] == 4);
        CHECK((uint32_t)(r[40] << 8 | r[41]) == max_frame - 14);
        CHECK(memcmp(r + 26, tmpl + 30, 4) == 0);   /* from the original destination */
        pd_buf_ops.free_bulk(out, n);
    }
    pd_fec_enc_stage_stats(enc, NULL, &g);
    CHECK(g.icmp_too_big == 1);

    /* a flood of DF packets: the first ICMP_BURST answered, the rest limited */
    for (int i = 0; i < 100; i++) {
        in[0] = frame_pkt(pool, 1514, 17, 1, 0, 0x0800);
        n = se.process(se.ctx, in, 1, out, 64, 3);
        n = sd.process(sd.ctx, in, 0, out, 64, 3);
        pd_buf_ops.free_bulk(out, n);
    }
    pd_fec_enc_stage_stats(enc, NULL, &g);
    CHECK(g.icmp_too_big == 50 && g.icmp_limited == 51 && g.mtu_dropped == 52);

    /* no DF: two fragments, each protected */
    in[0] = frame_pkt(pool, 1514, 17, 0, 0, 0x0800);
    n = se.process(se.ctx, in, 1, out, 64, 4);
    pd_fec_enc_stage_stats(enc, NULL, &g);
    CHECK(n == 2 && g.fragmented == 1 && g.fragments == 2);
    for (uint16_t i = 0; i < n; i++) {
        CHECK(pd_buf_ops.data_len(out[i]) <= 1500 + 14);
        CHECK(pd_csum_ipv4_hdr(pd_buf_ops.data(out[i]) + 14 + FEC_HDR_LEN + 14, 20) == 0);
    }
    pd_buf_ops.free_bulk(out, n);

    /* SYN: MSS clamped, checksum still right */
    in[0] = frame_pkt(pool, 14 + 20 + 24, 6, 1, 0, 0x0800);
    n = se.process(se.ctx, in, 1, out, 64, 5);
    CHECK(n == 1);
    if (n == 1) {
        uint8_t *f = pd_buf_ops.data(out[0]) + 14 + FEC_HDR_LEN, *t = f + 34;
        uint32_t s = pd_csum_pseudo(f + 14, 4, 6, 24);
        CHECK((uint32_t)(t[22] << 8 | t[23]) == max_frame - 54);
        CHECK(pd_csum_fold(pd_csum_add(s, t, 24)) == 0);
        pd_buf_ops.free_bulk(out, n);
    }
    /* not IP and too big */
    in[0] = frame_pkt(pool, 1514, 0, 0, 0, 0x88b6);
    n = se.process(se.ctx, in, 1, out, 64, 6);
    pd_fec_enc_stage_stats(enc, NULL, &g);
    CHECK(n == 0 && g.too_big == 1 && g.mss_clamped == 1);

    n = se.flush(se.ctx, out, 64, 7);         /* parity of the partial block */
    pd_buf_ops.free_bulk(out, n);
    pd_fec_dec_stage_destroy(dec);
    pd_fec_enc_stage_destroy(enc);
    CHECK(pd_buf_pool_in_use(pool) == 0);
}

static void set_outer_ecn(uint8_t *w, uint8_t ecn)
{
    w[15] = (uint8_t)((w[15] & 0xfc) | ecn);
    w[24] = w[25] = 0;
    uint16_t c = pd_csum_ipv4_hdr(w + 14, 20);
    w[24] = (uint8_t)(c >> 8);
    w[25] = (uint8_t)c;
}

static void test_dscp_ecn_rfc6040(void)
{
    pd_buf_pool *pool = NULL;
    CHECK(pd_buf_pool_create(&pool, 1000, 2048, PD_BUF_DEFAULT_HEADROOM) == 0);
    pd_fec_enc_stage_cfg ec = { .encap = { .kind = PD_ENCAP_UDP, .dst_port = 4790,
                                           .src_port = 4790, .src_ip = 0x0a000001,
                                           .dst_ip = 0x0a000002 },
                                .fec = { .code = FEC_CODE_RS, .k = 8, .m = 2, .depth = 1,
                                         .max_payload = 1518 } };
    pd_fec_dec_stage_cfg dc = { .encap = ec.encap,
                                .fec = { .max_payload = 1518, .max_blocks = 64,
                                         .max_symbols = 4096, .cache_entries = 64 } };
    int err;
    pd_fec_enc_stage *enc = pd_fec_enc_stage_create(&ec, &pd_buf_ops, pool, &err);
    pd_fec_dec_stage *dec = pd_fec_dec_stage_create(&dc, &pd_buf_ops, pool, &err);
    pd_stage se, sd;
    pd_pkt *in[4], *wire[8], *out[8];
    pd_gateway_counters g;
    uint16_t n, m;

    assert(enc && dec);
    pd_fec_enc_stage_bind(enc, &se);
    pd_fec_dec_stage_bind(dec, &sd);
    /* DSCP EF (46) + ECT(0) inner: copied to the outer header */
    in[0] = frame_pkt(pool, 200, 17, 1, (46 << 2) | 2, 0x0800);
    in[1] = frame_pkt(pool, 200, 17, 1, (46 << 2) | 0, 0x0800);  /* Not-ECT */
    in[2] = frame_pkt(pool, 200, 17, 1, (10 << 2) | 1, 0x0800);  /* ECT(1) */
    n = se.process(se.ctx, in, 3, wire, 8, 1);
    CHECK(n == 3);
    if (n != 3)
        return;
    CHECK(pd_buf_ops.data(wire[0])[15] == ((46 << 2) | 2));
    CHECK(pd_buf_ops.data(wire[2])[15] == ((10 << 2) | 1));
    CHECK(pd_csum_ipv4_hdr(pd_buf_ops.data(wire[0]) + 14, 20) == 0);
    /* the link marks congestion on the first two */
    set_outer_ecn(pd_buf_ops.data(wire[0]), 3);
    set_outer_ecn(pd_buf_ops.data(wire[1]), 3);
    m = sd.process(sd.ctx, wire, n, out, 8, 2);
    pd_fec_dec_stage_stats(dec, NULL, &g);
    CHECK(m == 2 && g.ecn_marked == 1 && g.ecn_dropped == 1);
    if (m == 2) {
        uint8_t *f0 = pd_buf_ops.data(out[0]);
        CHECK(f0[15] == ((46 << 2) | 3));                  /* inner CE */
        CHECK(pd_csum_ipv4_hdr(f0 + 14, 20) == 0);
        CHECK(pd_buf_ops.data(out[1])[15] == ((10 << 2) | 1));      /* unchanged */
    }
    pd_buf_ops.free_bulk(out, m);
    /* parity of the block: its sources' highest DSCP (EF), Not-ECT */
    n = se.flush(se.ctx, wire, 8, 3);
    CHECK(n == 2);
    for (uint16_t i = 0; i < n; i++) {
        CHECK(pd_buf_ops.data(wire[i])[15] == (46 << 2));
        CHECK(pd_csum_ipv4_hdr(pd_buf_ops.data(wire[i]) + 14, 20) == 0);
    }
    pd_buf_ops.free_bulk(wire, n);
    /* the next block starts afresh: a CS1 (8) source, then its parity */
    in[0] = frame_pkt(pool, 200, 17, 1, (8 << 2) | 2, 0x0800);
    n = se.process(se.ctx, in, 1, wire, 8, 4);
    n = (uint16_t)(n + se.flush(se.ctx, wire + n, (uint16_t)(8 - n), 5));
    CHECK(n == 3 && pd_buf_ops.data(wire[1])[15] == (8 << 2) && pd_buf_ops.data(wire[2])[15] == (8 << 2));
    pd_buf_ops.free_bulk(wire, n);
    pd_fec_dec_stage_destroy(dec);
    pd_fec_enc_stage_destroy(enc);
    CHECK(pd_buf_pool_in_use(pool) == 0);
}

/* The udp: transport hands the outer TOS over as a one-byte trailer
 * (UdpPort tos, encapsulation "none-tos"): RFC 6040 applies as above. */
static void test_ecn_from_a_tos_trailer(void)
{
    pd_buf_pool *pool = NULL;
    CHECK(pd_buf_pool_create(&pool, 1000, 2048, PD_BUF_DEFAULT_HEADROOM) == 0);
    pd_fec_enc_stage_cfg ec = { .encap = { .kind = PD_ENCAP_NONE },
                                .fec = { .code = FEC_CODE_RS, .k = 8, .m = 2, .depth = 1,
                                         .max_payload = 1518 } };
    pd_fec_dec_stage_cfg dc = { .encap = { .kind = PD_ENCAP_NONE, .tos_trailer = 1 },
                                .fec = { .max_payload = 1518, .max_blocks = 64,
                                         .max_symbols = 4096, .cache_entries = 64 } };
    int err;
    pd_fec_enc_stage *enc = pd_fec_enc_stage_create(&ec, &pd_buf_ops, pool, &err);
    pd_fec_dec_stage *dec = pd_fec_dec_stage_create(&dc, &pd_buf_ops, pool, &err);
    pd_stage se, sd;
    pd_pkt *in[4], *wire[8], *out[8];
    pd_gateway_counters g;
    uint16_t n, m;

    assert(enc && dec);
    pd_fec_enc_stage_bind(enc, &se);
    pd_fec_dec_stage_bind(dec, &sd);
    in[0] = frame_pkt(pool, 200, 17, 1, (46 << 2) | 2, 0x0800);  /* ECT(0) */
    in[1] = frame_pkt(pool, 200, 17, 1, (46 << 2) | 0, 0x0800);  /* Not-ECT */
    in[2] = frame_pkt(pool, 200, 17, 1, (46 << 2) | 2, 0x0800);  /* ECT(0) */
    n = se.process(se.ctx, in, 3, wire, 8, 1);
    CHECK(n == 3);
    if (n != 3)
        return;
    *pd_buf_ops.append(wire[0], 1) = (46 << 2) | 3;    /* CE on the WAN */
    *pd_buf_ops.append(wire[1], 1) = (46 << 2) | 3;
    *pd_buf_ops.append(wire[2], 1) = (46 << 2) | 2;    /* not marked */
    m = sd.process(sd.ctx, wire, n, out, 8, 2);
    pd_fec_dec_stage_stats(dec, NULL, &g);
    CHECK(m == 2 && g.ecn_marked == 1 && g.ecn_dropped == 1);
    if (m == 2) {
        CHECK(pd_buf_ops.data_len(out[0]) == 200 && pd_buf_ops.data_len(out[1]) == 200);
        CHECK(pd_buf_ops.data(out[0])[15] == ((46 << 2) | 3));
        CHECK(pd_csum_ipv4_hdr(pd_buf_ops.data(out[0]) + 14, 20) == 0);
        CHECK(pd_buf_ops.data(out[1])[15] == ((46 << 2) | 2));
    }
    pd_buf_ops.free_bulk(out, m);
    n = se.flush(se.ctx, wire, 8, 3);
    pd_buf_ops.free_bulk(wire, n);
    pd_fec_dec_stage_destroy(dec);
    pd_fec_enc_stage_destroy(enc);
    CHECK(pd_buf_pool_in_use(pool) == 0);
}

/* ---- IPv6 outer header (RFC 8200) ------------------------------------------ */

/* 0 when a wire packet is a well-formed Ethernet/IPv6/UDP one from
 * fd00::1 to fd00::2 with a correct checksum, else which check failed. */
static int check_ipv6_outer(const uint8_t *w, uint32_t len)
{
    uint32_t ulen = (uint32_t)(w[58] << 8 | w[59]);

    if (len < 62 || w[12] != 0x86 || w[13] != 0xdd || w[14] >> 4 != 6)
        return 1;
    if ((uint32_t)(w[18] << 8 | w[19]) != len - 54 || ulen != len - 54)
        return 2;
    if (w[20] != 17 || w[21] != 64 || memcmp(w + 22, ip6_a, 16) || memcmp(w + 38, ip6_b, 16))
        return 3;
    if ((w[56] << 8 | w[57]) != 4790 || (w[60] | w[61]) == 0)
        return 4;
    if (pd_csum_fold(pd_csum_add(pd_csum_pseudo(w + 14, 6, 17, ulen), w + 54, ulen)) != 0)
        return 5;
    return 0;
}

/* A link stage that checks every packet's outer header and passes it on. */
struct v6check { const pd_pkt_ops *ops; uint64_t good, bad; };

static uint16_t v6check_process(void *ctx, pd_pkt **in, uint16_t n, pd_pkt **out,
                                uint16_t cap, uint64_t now)
{
    struct v6check *c = ctx;
    (void)cap; (void)now;
    for (uint16_t i = 0; i < n; i++) {
        if (check_ipv6_outer(c->ops->data(in[i]), c->ops->data_len(in[i])) == 0)
            c->good++;
        else
            c->bad++;
        out[i] = in[i];
    }
    return n;
}

static void test_ipv6_outer_header_end_to_end(void)
{
    struct v6check vc = { .ops = &pd_buf_ops };
    pd_stage check = { .name = "v6check", .ctx = &vc, .process = v6check_process };
    struct pattern pt = { .period = 14, .mask = (1u << 0) | (1u << 5) | (1u << 10) | (1u << 13),
                          .ops = &pd_buf_ops };
    pd_stage link = { .name = "pattern", .ctx = &pt, .process = pattern_process };
    struct result r;

    run_ipv6 = 1;
    r = run(FEC_CODE_RS, 10, 4, PD_ENCAP_UDP, 10003, &check);
    CHECK(r.v.valid == 10003 && r.v.corrupted == 0 && r.ds.delivered == 10003);
    CHECK(vc.good == 10003 + 1001 * 4 && vc.bad == 0);     /* sources and parity */
    CHECK(r.dg.foreign == 0 && r.dg.bad_checksum == 0 && r.pool_out == 0);
    r = run(FEC_CODE_RS, 10, 4, PD_ENCAP_UDP, 10000, &link);
    CHECK(r.v.valid == 10000 && r.ds.recovered == 2000 && r.v.corrupted == 0);
    CHECK(r.dg.foreign == 0 && r.dg.bad_checksum == 0 && r.pool_out == 0);
    run_ipv6 = 0;
}

/* Fix the UDP checksum of a wire packet after a test changed it. */
static void reseal6(uint8_t *w)
{
    uint32_t ulen = (uint32_t)(w[58] << 8 | w[59]);
    w[60] = w[61] = 0;
    uint16_t c = pd_csum_fold(pd_csum_add(pd_csum_pseudo(w + 14, 6, 17, ulen), w + 54, ulen));
    w[60] = (uint8_t)(c >> 8);
    w[61] = (uint8_t)c;
}

static void test_ipv6_outer_dscp_ecn_checksum_mtu(void)
{
    pd_buf_pool *pool = NULL;
    CHECK(pd_buf_pool_create(&pool, 1000, 2048, PD_BUF_DEFAULT_HEADROOM) == 0);
    pd_fec_enc_stage_cfg ec = { .encap = { .kind = PD_ENCAP_UDP, .dst_port = 4790,
                                           .src_port = 4790, .ipv6 = 1 },
                                .fec = { .code = FEC_CODE_RS, .k = 8, .m = 2, .depth = 1,
                                         .max_payload = 1518 },
                                .mtu = { .wan_mtu = 1500, .clamp_mss = 1 } };
    memcpy(ec.encap.src_ip6, ip6_a, 16);
    memcpy(ec.encap.dst_ip6, ip6_b, 16);
    pd_fec_dec_stage_cfg dc = { .encap = ec.encap,
                                .fec = { .max_payload = 1518, .max_blocks = 64,
                                         .max_symbols = 4096, .cache_entries = 64 } };
    /* 1500 bytes of IPv6 packet: 40 + 8 of outer header, the FEC header and
     * the repair length field leave the LAN frame (its Ethernet header too) */
    uint32_t max_frame = 1500 + 14 - 62 - FEC_HDR_LEN - FEC_LEN_FIELD, mf, ipm, mss;
    int err;
    pd_fec_enc_stage *enc = pd_fec_enc_stage_create(&ec, &pd_buf_ops, pool, &err);
    pd_fec_dec_stage *dec = pd_fec_dec_stage_create(&dc, &pd_buf_ops, pool, &err);
    pd_stage se, sd;
    pd_pkt *in[4], *wire[8], *out[8];
    pd_gateway_counters g;
    uint16_t n, m;

    assert(enc && dec);
    CHECK(pd_encap_len(&ec.encap) == 62);
    CHECK(pd_gateway_max_frame(&ec.encap, 1500) == max_frame);
    ec.encap.ipv6 = 0;
    CHECK(pd_gateway_max_frame(&ec.encap, 1500) == max_frame + 20);
    pd_fec_enc_stage_mtu(enc, &mf, &ipm, &mss);
    CHECK(mf == max_frame && ipm == max_frame - 14 && mss == max_frame - 54);
    pd_fec_enc_stage_bind(enc, &se);
    pd_fec_dec_stage_bind(dec, &sd);
    pd_fec_stage_pair(enc, dec);

    /* DSCP and ECN in the traffic class; checksums of sources and parity */
    in[0] = frame_pkt(pool, 200, 17, 1, (46 << 2) | 2, 0x0800);  /* EF, ECT(0) */
    in[1] = frame_pkt(pool, 201, 17, 1, (46 << 2) | 0, 0x0800);  /* EF, Not-ECT */
    in[2] = frame_pkt(pool, 202, 17, 1, (10 << 2) | 1, 0x0800);  /* AF11, ECT(1) */
    n = se.process(se.ctx, in, 3, wire, 8, 1);
    CHECK(n == 3);
    if (n != 3)
        return;
    for (uint16_t i = 0; i < n; i++) {
        const uint8_t *w = pd_buf_ops.data(wire[i]);
        CHECK(check_ipv6_outer(w, pd_buf_ops.data_len(wire[i])) == 0);
        CHECK(pd_buf_ops.data_len(wire[i]) == 62u + FEC_HDR_LEN + 200u + i);
    }
    CHECK(pd_buf_ops.data(wire[0])[14] == (0x60 | (46 << 2) >> 4));
    CHECK(pd_buf_ops.data(wire[0])[15] == (uint8_t)(((46 << 2) | 2) << 4));
    CHECK(pd_buf_ops.data(wire[2])[15] == (uint8_t)(((10 << 2) | 1) << 4));
    /* the link marks CE on the first two (the checksum does not cover the
     * traffic class); the decoder applies RFC 6040 as over IPv4 */
    pd_buf_ops.data(wire[0])[15] |= 3 << 4;
    pd_buf_ops.data(wire[1])[15] |= 3 << 4;
    m = sd.process(sd.ctx, wire, n, out, 8, 2);
    pd_fec_dec_stage_stats(dec, NULL, &g);
    CHECK(m == 2 && g.ecn_marked == 1 && g.ecn_dropped == 1 && g.bad_checksum == 0);
    if (m == 2) {
        CHECK(pd_buf_ops.data_len(out[0]) == 200 && pd_buf_ops.data(out[0])[15] == ((46 << 2) | 3));
        CHECK(pd_buf_ops.data(out[1])[15] == ((10 << 2) | 1));
    }
    pd_buf_ops.free_bulk(out, m);
    n = se.flush(se.ctx, wire, 8, 3);            /* parity: EF, Not-ECT */
    CHECK(n == 2);
    for (uint16_t i = 0; i < n; i++) {
        CHECK(check_ipv6_outer(pd_buf_ops.data(wire[i]), pd_buf_ops.data_len(wire[i])) == 0);
        CHECK(pd_buf_ops.data(wire[i])[15] == (uint8_t)((46 << 2) << 4));
    }
    pd_buf_ops.free_bulk(wire, n);

    /* malformed and foreign: counted, never delivered */
    in[0] = frame_pkt(pool, 300, 17, 1, 0, 0x0800);
    in[1] = frame_pkt(pool, 300, 17, 1, 0, 0x0800);
    in[2] = frame_pkt(pool, 300, 17, 1, 0, 0x0800);
    in[3] = frame_pkt(pool, 300, 17, 1, 0, 0x0800);
    n = se.process(se.ctx, in, 4, wire, 8, 4);
    CHECK(n == 4);
    if (n != 4)
        return;
    pd_buf_ops.data(wire[0])[200] ^= 0x40;                /* corrupted payload */
    pd_buf_ops.data(wire[1])[60] = pd_buf_ops.data(wire[1])[61] = 0;   /* no checksum */
    pd_buf_ops.data(wire[2])[57] ^= 1;                     /* another port */
    reseal6(pd_buf_ops.data(wire[2]));
    pd_buf_ops.trim(wire[3], 10);                          /* truncated */
    m = sd.process(sd.ctx, wire, n, out, 8, 5);
    pd_fec_dec_stage_stats(dec, NULL, &g);
    CHECK(m == 0 && g.bad_checksum == 2 && g.foreign == 2);
    pd_buf_ops.free_bulk(out, m);

    /* the MTU policy follows: a full IPv4 DF frame is answered with ICMP
     * reporting the IP MTU left after the IPv6 outer header */
    in[0] = frame_pkt(pool, 1514, 17, 1, 0, 0x0800);
    n = se.process(se.ctx, in, 1, wire, 8, 6);
    CHECK(n == 0);
    m = sd.process(sd.ctx, in, 0, out, 8, 7);
    CHECK(m == 1);
    if (m == 1) {
        uint8_t *r = pd_buf_ops.data(out[0]);
        CHECK(r[23] == 1 && r[34] == 3 && r[35] == 4);
        CHECK((uint32_t)(r[40] << 8 | r[41]) == max_frame - 14);
    }
    pd_buf_ops.free_bulk(out, m);
    in[0] = frame_pkt(pool, max_frame, 17, 1, 0, 0x0800);   /* fits exactly */
    n = se.process(se.ctx, in, 1, wire, 8, 8);
    CHECK(n == 1 && pd_buf_ops.data_len(wire[0]) == 1500 + 14 - FEC_LEN_FIELD);
    n = (uint16_t)(n + se.flush(se.ctx, wire + n, (uint16_t)(8 - n), 9));
    for (uint16_t i = 0; i < n; i++)
        CHECK(pd_buf_ops.data_len(wire[i]) <= 1500 + 14);   /* parity too */
    pd_buf_ops.free_bulk(wire, n);

    pd_fec_dec_stage_destroy(dec);
    pd_fec_enc_stage_destroy(enc);
    CHECK(pd_buf_pool_in_use(pool) == 0);

    /* an IPv6 peer must be a unicast address */
    ec.encap.ipv6 = 1;
    memset(ec.encap.dst_ip6, 0, 16);
    CHECK(pd_fec_enc_stage_create(&ec, &pd_buf_ops, pool, &err) == NULL && err == -EINVAL);
    ec.encap.dst_ip6[0] = 0xff;
    CHECK(pd_fec_enc_stage_create(&ec, &pd_buf_ops, pool, &err) == NULL && err == -EINVAL);
    pd_buf_pool_free(pool, 1);
}

int main(void)
{
    test_ipv6_outer_header_end_to_end();
    test_ipv6_outer_dscp_ecn_checksum_mtu();
    test_mtu_policy();
    test_dscp_ecn_rfc6040();
    test_ecn_from_a_tos_trailer();
    test_clean_link_delivers_everything_in_order();
    test_up_to_m_losses_per_block_lose_nothing();
    test_xor_parity_rebuilds_one_per_block();
    test_more_than_m_losses_are_reported_never_corrupt();
    test_random_loss_recovers_most();
    test_encoder_and_decoder_chains_over_a_loopback_wire();
    test_bad_configs_rejected();
    return pd_check_result();
}
