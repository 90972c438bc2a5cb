/* End-to-end tests of the FEC gateway stages over the native pipeline:
 * generator -> FEC encode -> lossy link -> FEC decode -> verifying sink. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "gateway.h"
#include "impair.h"
#include "pipeline.h"
#include "test_heap_pool.h"
#include "traffic.h"

static int failures;
#define CHECK(cond) do { if (!(cond)) { \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); failures++; } } while (0)

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

struct result { pd_verify_counters v; fec_encoder_stats es; fec_decoder_stats ds;
                pd_gateway_counters eg, dg; long pool_out; };

static struct result run(int code, unsigned k, unsigned m, int encap_kind, uint64_t count,
                         pd_stage *link)
{
    struct heap_pool pool = { .capacity = 200000 };
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
    pd_gen *g = pd_gen_create(&gc, &heap_ops, &pool, &err);
    pd_fec_enc_stage *enc = pd_fec_enc_stage_create(&ec, &heap_ops, &pool, &err);
    pd_fec_dec_stage *dec = pd_fec_dec_stage_create(&dc, &heap_ops, &pool, &err);
    pd_verify *v = pd_verify_create(sizeof(tmpl), 1, &heap_ops, &err);
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
    pd_chain_init(&c, &src, &snk, &heap_ops, 32);
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
    r.pool_out = pool.out;
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
                          .ops = &heap_ops };
    pd_stage link = { .name = "pattern", .ctx = &pt, .process = pattern_process };
    struct result r = run(FEC_CODE_RS, 10, 4, PD_ENCAP_UDP, 10000, &link);
    CHECK(r.v.valid == 10000 && r.v.corrupted == 0);
    CHECK(r.ds.recovered == 2000 && r.ds.unrecoverable == 0);
    CHECK(r.pool_out == 0);

    /* four sources of a block lost: still exactly m */
    struct pattern pt4 = { .period = 14, .mask = 0xf << 3, .ops = &heap_ops };
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
    struct pattern pt = { .period = 5, .mask = 1u << 2, .ops = &heap_ops };
    pd_stage link = { .name = "pattern", .ctx = &pt, .process = pattern_process };
    struct result r = run(FEC_CODE_XOR, 4, 1, PD_ENCAP_ETHER, 4000, &link);
    CHECK(r.v.valid == 4000 && r.ds.recovered == 1000 && r.v.corrupted == 0);
    CHECK(r.pool_out == 0);
}

static void test_more_than_m_losses_are_reported_never_corrupt(void)
{
    struct pattern pt = { .period = 6, .mask = 0x7, .ops = &heap_ops };  /* 3 of 6 */
    pd_stage link = { .name = "pattern", .ctx = &pt, .process = pattern_process };
    struct result r = run(FEC_CODE_RS, 4, 2, PD_ENCAP_UDP, 4000, &link);
    CHECK(r.v.corrupted == 0);
    CHECK(r.v.valid == 4000 - 3000);
    CHECK(r.ds.recovered == 0);
    CHECK(r.pool_out == 0);
}

static void test_random_loss_recovers_most(void)
{
    struct heap_pool dummy = { .capacity = 0 };
    pd_impair_cfg ic = { .loss = 0.05, .seed = 11 };
    int err;
    pd_impair *im = pd_impair_create(&ic, &heap_ops, &dummy, &err);
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

static void test_bad_configs_rejected(void)
{
    struct heap_pool pool = { .capacity = 10 };
    int err = 0;
    pd_fec_enc_stage_cfg ec = { .encap = { .kind = 9 },
                                .fec = { .code = FEC_CODE_RS, .k = 4, .m = 2, .depth = 1,
                                         .max_payload = 1500 } };
    CHECK(pd_fec_enc_stage_create(&ec, &heap_ops, &pool, &err) == NULL && err == -EINVAL);
    ec.encap.kind = PD_ENCAP_UDP;      /* UDP needs a destination port */
    CHECK(pd_fec_enc_stage_create(&ec, &heap_ops, &pool, &err) == NULL && err == -EINVAL);
    ec.encap.kind = PD_ENCAP_ETHER;
    ec.encap.ethertype = 0x0100;       /* an 802.3 length, not a type */
    CHECK(pd_fec_enc_stage_create(&ec, &heap_ops, &pool, &err) == NULL && err == -EINVAL);
    ec.encap.ethertype = 0;
    ec.fec.k = 0;
    CHECK(pd_fec_enc_stage_create(&ec, &heap_ops, &pool, &err) == NULL && err < 0);
}

int main(void)
{
    test_clean_link_delivers_everything_in_order();
    test_up_to_m_losses_per_block_lose_nothing();
    test_xor_parity_rebuilds_one_per_block();
    test_more_than_m_losses_are_reported_never_corrupt();
    test_random_loss_recovers_most();
    test_bad_configs_rejected();
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
