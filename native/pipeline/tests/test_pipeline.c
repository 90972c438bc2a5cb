/* Unit tests of the native pipeline: loop, impairment, generator, verifier. */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "test_heap_pool.h"
#include "impair.h"
#include "pipeline.h"
#include "traffic.h"
#include "pd_check.h"

static const uint8_t udp_tmpl[42] = {
    0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00,
    0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    0x30, 0x39, 0x30, 0x3a, 0, 0, 0, 0,
};

static pd_gen *make_gen(struct heap_pool *pool, uint64_t count)
{
    pd_gen_cfg cfg = { .tmpl = udp_tmpl, .tmpl_len = sizeof(udp_tmpl), .n_sizes = 3,
                       .sizes = { 128, 1400, 74 }, .count = count, .stream = 7,
                       .fix_lengths = 1 };
    int err;
    pd_gen *g = pd_gen_create(&cfg, &heap_ops, pool, &err);
    assert(g && err == 0);
    return g;
}

struct rig {
    struct heap_pool pool;
    pd_gen *gen;
    pd_impair *imp;
    pd_verify *ver;
    pd_source src;
    pd_stage st;
    pd_sink snk;
    pd_chain chain;
};

static void rig_run(struct rig *r, uint64_t count, const pd_impair_cfg *icfg)
{
    pd_run_opts o;
    pd_run_result res;
    pd_chain *chains[1] = { &r->chain };
    int err;

    memset(r, 0, sizeof(*r));
    r->pool.capacity = 4096;
    r->gen = make_gen(&r->pool, count);
    r->imp = pd_impair_create(icfg, &heap_ops, &r->pool, &err);
    assert(r->imp && err == 0);
    r->ver = pd_verify_create(sizeof(udp_tmpl), 7, &heap_ops, &err);
    assert(r->ver);
    pd_gen_source(r->gen, &r->src);
    pd_impair_stage(r->imp, &r->st);
    pd_verify_sink(r->ver, &r->snk);
    CHECK(pd_chain_init(&r->chain, &r->src, &r->snk, &heap_ops, 32) == 0);
    CHECK(pd_chain_add_stage(&r->chain, &r->st) == 0);
    pd_run_opts_default(&o);
    CHECK(pd_pipeline_run(chains, 1, &o, &res) == 0);
    CHECK(res.reason == PD_STOP_SOURCES_DONE);
    CHECK(res.packets == count);
}

static void rig_free(struct rig *r)
{
    pd_impair_destroy(r->imp);
    pd_gen_destroy(r->gen);
    pd_verify_destroy(r->ver);
    CHECK(r->pool.out == 0);   /* every packet accounted for */
}

static void test_clean_link(void)
{
    struct rig r;
    pd_impair_cfg ic = { .seed = 1 };
    rig_run(&r, 10000, &ic);
    const pd_verify_counters *v = pd_verify_counters_get(r.ver);
    CHECK(v->valid == 10000 && v->corrupted == 0 && v->foreign == 0);
    CHECK(v->duplicates == 0 && v->reordered == 0 && v->max_seq_plus1 == 10000);
    CHECK(r.st.c.pkts_in == 10000 && r.st.c.pkts_out == 10000);
    rig_free(&r);
}

static void test_random_loss_is_counted_and_close_to_p(void)
{
    struct rig r;
    pd_impair_cfg ic = { .loss = 0.1, .seed = 42 };
    rig_run(&r, 100000, &ic);
    const pd_impair_counters *ic_c = pd_impair_counters_get(r.imp);
    const pd_verify_counters *v = pd_verify_counters_get(r.ver);
    CHECK(v->valid + ic_c->lost_random == 100000);
    CHECK(fabs(ic_c->lost_random / 100000.0 - 0.1) < 0.005);  /* ~5 sigma */
    CHECK(v->corrupted == 0);
    rig_free(&r);
}

static void test_gilbert_elliott_loss_rate(void)
{
    struct rig r;
    /* stationary P(bad) = p / (p + r) = 0.2; loss = 0.2 * 0.5 = 0.1 */
    pd_impair_cfg ic = { .ge_p = 0.05, .ge_r = 0.2, .ge_loss_bad = 0.5, .seed = 3 };
    rig_run(&r, 200000, &ic);
    const pd_impair_counters *c = pd_impair_counters_get(r.imp);
    CHECK(fabs(c->lost_burst / 200000.0 - 0.1) < 0.01);
    CHECK(pd_verify_counters_get(r.ver)->valid + c->lost_burst == 200000);
    rig_free(&r);
}

static void test_duplicate_and_reorder_are_detected(void)
{
    struct rig r;
    pd_impair_cfg ic = { .duplicate = 0.05, .reorder = 0.05, .reorder_gap = 5, .seed = 9 };
    rig_run(&r, 20000, &ic);
    const pd_impair_counters *c = pd_impair_counters_get(r.imp);
    const pd_verify_counters *v = pd_verify_counters_get(r.ver);
    CHECK(v->valid == 20000);
    CHECK(c->duplicated > 0 && v->duplicates == c->duplicated);
    CHECK(c->reordered > 0 && v->reordered > 0);
    CHECK(v->corrupted == 0);
    rig_free(&r);
}

static void test_same_seed_same_fate(void)
{
    struct rig a, b;
    pd_impair_cfg ic = { .loss = 0.2, .seed = 1234 };
    rig_run(&a, 5000, &ic);
    rig_run(&b, 5000, &ic);
    CHECK(pd_impair_counters_get(a.imp)->lost_random == pd_impair_counters_get(b.imp)->lost_random);
    rig_free(&a);
    rig_free(&b);
}

static void test_verify_catches_corruption_anywhere(void)
{
    struct heap_pool pool = { .capacity = 16 };
    pd_gen *g = make_gen(&pool, 0);
    uint8_t f[1400];
    uint64_t seq = 0;

    CHECK(pd_gen_fill(g, f, sizeof(f), 99, 5) == 0);
    CHECK(pd_verify_frame(42, 7, f, sizeof(f), &seq) == 0 && seq == 99);
    /* IPv4 total length and header checksum were filled in */
    CHECK((f[16] << 8 | f[17]) == 1400 - 14);
    for (unsigned pos = 0; pos < sizeof(f); pos += 97) {
        if (pos >= 42 && pos < 46) continue;     /* magic, stream: then it is foreign */
        f[pos] ^= 0x10;
        CHECK(pd_verify_frame(42, 7, f, sizeof(f), &seq) != 0);
        f[pos] ^= 0x10;
    }
    CHECK(pd_verify_frame(42, 7, f, sizeof(f) - 1, &seq) == 1);
    CHECK(pd_verify_frame(42, 8, f, sizeof(f), &seq) == 2);
    CHECK(pd_verify_frame(42, 7, f, 40, &seq) == 2);
    pd_gen_destroy(g);
}

static void test_bad_config_rejected(void)
{
    struct heap_pool pool = { .capacity = 16 };
    int err = 0;
    pd_impair_cfg ic = { .loss = 1.5 };
    CHECK(pd_impair_create(&ic, &heap_ops, &pool, &err) == NULL && err == -EINVAL);
    pd_gen_cfg gc = { .n_sizes = 1, .sizes = { 10 } };   /* smaller than the marker */
    CHECK(pd_gen_create(&gc, &heap_ops, &pool, &err) == NULL && err == -EINVAL);
    pd_chain c;
    pd_source s;
    pd_sink k;
    CHECK(pd_chain_init(&c, &s, &k, &heap_ops, 0) == -EINVAL);
    CHECK(pd_chain_init(&c, &s, &k, &heap_ops, PD_BURST_MAX + 1) == -EINVAL);
}

static void test_crc32c_known_answer(void)
{
    /* RFC 3720 B.4: 32 bytes of zeros -> 0x8a9136aa */
    uint8_t z[32] = { 0 };
    CHECK(pd_crc32c(0, z, 32) == 0x8a9136aau);
    CHECK(pd_crc32c(0, (const uint8_t *)"123456789", 9) == 0xe3069283u);
}

/* A scripted port health: answers[i] on the i-th call, the last one after. */
static const int *script;
static unsigned script_len, script_calls;

static int scripted_status(void *ctx)
{
    unsigned i = script_calls < script_len ? script_calls : script_len - 1;
    (void)ctx;
    script_calls++;
    return script[i];
}

static void run_with_status(struct rig *r, int on_sink, const int *answers, unsigned n,
                            pd_run_result *res)
{
    pd_impair_cfg icfg = { .seed = 1 };
    pd_run_opts o;
    pd_chain *chains[1] = { &r->chain };
    int err;

    memset(r, 0, sizeof(*r));
    r->pool.capacity = 4096;
    r->gen = make_gen(&r->pool, 0);            /* endless: only a fault ends the run */
    r->imp = pd_impair_create(&icfg, &heap_ops, &r->pool, &err);
    r->ver = pd_verify_create(sizeof(udp_tmpl), 7, &heap_ops, &err);
    assert(r->imp && r->ver);
    pd_gen_source(r->gen, &r->src);
    pd_impair_stage(r->imp, &r->st);
    pd_verify_sink(r->ver, &r->snk);
    CHECK(pd_chain_init(&r->chain, &r->src, &r->snk, &heap_ops, 32) == 0);
    CHECK(pd_chain_add_stage(&r->chain, &r->st) == 0);
    script = answers;
    script_len = n;
    script_calls = 0;
    if (on_sink)
        r->snk.status = scripted_status;
    else
        r->src.status = scripted_status;
    pd_run_opts_default(&o);
    o.status_interval_ns = 1;                  /* every round */
    o.duration_ns = 20ull * 1000 * 1000 * 1000; /* a safety net: never reached */
    CHECK(pd_pipeline_run(chains, 1, &o, res) == 0);
}

static void test_link_down_goes_on_and_a_failed_port_stops_the_run(void)
{
    static const int answers[] = { 0, 0, -ENETDOWN, -ENETDOWN, -ENETDOWN, 0, 0, -ENODEV };
    struct rig r;
    pd_run_result res;

    run_with_status(&r, 0, answers, 8, &res);
    CHECK(res.reason == PD_STOP_FAULT);
    CHECK(res.fault == -ENODEV && res.fault_chain == 0 && res.fault_in_sink == 0);
    CHECK(script_calls == 8);                  /* link down did not stop it */
    CHECK(r.src.health == -ENODEV && r.src.health_changes == 3);   /* down, up, gone */
    CHECK(res.elapsed_ns < 10ull * 1000 * 1000 * 1000);
    /* Drained and flushed: every generated frame reached the verifier. */
    CHECK(pd_verify_counters_get(r.ver)->valid == pd_gen_counters_get(r.gen)->sent);
    rig_free(&r);
}

static void test_a_failed_sink_port_stops_the_run(void)
{
    static const int answers[] = { 0, 0, 0, -EIO };
    struct rig r;
    pd_run_result res;

    run_with_status(&r, 1, answers, 4, &res);
    CHECK(res.reason == PD_STOP_FAULT);
    CHECK(res.fault == -EIO && res.fault_in_sink == 1);
    CHECK(r.snk.health == -EIO && r.snk.health_changes == 1);
    rig_free(&r);
}

int main(void)
{
    test_crc32c_known_answer();
    test_clean_link();
    test_random_loss_is_counted_and_close_to_p();
    test_gilbert_elliott_loss_rate();
    test_duplicate_and_reorder_are_detected();
    test_same_seed_same_fate();
    test_verify_catches_corruption_anywhere();
    test_bad_config_rejected();
    test_link_down_goes_on_and_a_failed_port_stops_the_run();
    test_a_failed_sink_port_stops_the_run();
    return pd_check_result();
}
