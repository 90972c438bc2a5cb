/* Unit tests of the counter registry and its fill functions. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fec.h"
#include "fill.h"
#include "stats.h"
#include "pd_check.h"

static const pd_stats_kv *get(const pd_stats_snap *s, const char *key)
{
    for (unsigned i = 0; i < s->n; i++)
        if (strcmp(s->kv[i].key, key) == 0)
            return &s->kv[i];
    return NULL;
}

static uint64_t u64_of(const pd_stats_snap *s, const char *key)
{
    const pd_stats_kv *kv = get(s, key);
    if (!kv || kv->is_str) {
        fprintf(stderr, "missing u64 key %s\n", key);
        failures++;
        return UINT64_MAX;
    }
    return kv->u64;
}

static void test_put(void)
{
    static pd_stats_snap s;
    memset(&s, 0, sizeof(s));
    CHECK(pd_stats_put_u64(&s, "a-b.c/d_e", 5) == 0);
    CHECK(strcmp(s.kv[0].key, "a_b_c/d_e") == 0);
    CHECK(pd_stats_put_str(&s, "name", "rx:<Port 'x'> \"q\\\n") == 0);
    CHECK(strcmp(s.kv[1].str, "rx:<Port 'x'> _q__") == 0);
    while (s.n < PD_STATS_SNAP_MAX)
        CHECK(pd_stats_put_u64(&s, "k", s.n) == 0);
    CHECK(pd_stats_put_u64(&s, "over", 1) == -ENOSPC);
    CHECK(pd_stats_put_str(&s, "over", "x") == -ENOSPC);
    CHECK(s.truncated == 2 && s.n == PD_STATS_SNAP_MAX);
}

struct obj { int live; uint64_t value; };

static int dead_reads;

static void fill_obj(const void *p, pd_stats_snap *out)
{
    const volatile struct obj *o = p;
    if (!o->live)
        __atomic_add_fetch(&dead_reads, 1, __ATOMIC_RELAXED);
    pd_stats_put_u64(out, "value", o->value);
}

static void test_registry(void)
{
    static pd_stats_registry reg;
    static pd_stats_snap s;
    struct obj a = { 1, 11 }, b = { 1, 22 }, c = { 1, 33 };
    uint32_t ia, ib, ic, ids[4];
    CHECK(pd_stats_registry_init(&reg) == 0);
    CHECK(pd_stats_add(&reg, PD_STATS_PIPELINE, "a", &a, fill_obj, &ia) == 0);
    CHECK(pd_stats_add(&reg, PD_STATS_PIPELINE, "b", &b, fill_obj, &ib) == 0);
    CHECK(pd_stats_add(&reg, PD_STATS_FEC_ENCODER, "c", &c, fill_obj, &ic) == 0);
    CHECK(ia == 0 && ib == 1 && ic == 0);          /* ids count per kind */
    CHECK(pd_stats_add(&reg, PD_STATS_KINDS, "x", &a, fill_obj, NULL) == -EINVAL);
    CHECK(pd_stats_add(&reg, PD_STATS_PIPELINE, "x", NULL, fill_obj, NULL) == -EINVAL);
    CHECK(pd_stats_add(&reg, PD_STATS_PIPELINE, "x", &a, NULL, NULL) == -EINVAL);
    CHECK(pd_stats_list(&reg, PD_STATS_PIPELINE, ids, 4) == 2 && ids[0] == 0 && ids[1] == 1);
    CHECK(pd_stats_list(&reg, PD_STATS_PIPELINE, ids, 1) == 2);
    CHECK(pd_stats_list(&reg, PD_STATS_FEC_DECODER, ids, 4) == 0);
    CHECK(pd_stats_snapshot(&reg, PD_STATS_PIPELINE, ib, &s) == 0);
    CHECK(u64_of(&s, "id") == 1 && u64_of(&s, "value") == 22);
    CHECK(get(&s, "name") && strcmp(get(&s, "name")->str, "b") == 0);
    CHECK(pd_stats_snapshot(&reg, PD_STATS_FEC_ENCODER, ic, &s) == 0 && u64_of(&s, "value") == 33);
    CHECK(pd_stats_remove(&reg, PD_STATS_PIPELINE, ia) == 0);
    CHECK(pd_stats_remove(&reg, PD_STATS_PIPELINE, ia) == -ENOENT);
    CHECK(pd_stats_snapshot(&reg, PD_STATS_PIPELINE, ia, &s) == -ENOENT);
    CHECK(pd_stats_snapshot(&reg, 7, 0, &s) == -EINVAL);
    CHECK(pd_stats_add(&reg, PD_STATS_PIPELINE, "a2", &a, fill_obj, &ia) == 0);
    CHECK(ia == 2);                                /* never reused */
    CHECK(pd_stats_list(&reg, PD_STATS_PIPELINE, ids, 4) == 2 && ids[0] == 1 && ids[1] == 2);
    /* A child forked while another thread held the lock gets it usable. */
    pthread_mutex_lock(&reg.lock);
    pd_stats_registry_after_fork(&reg);
    CHECK(pd_stats_remove(&reg, PD_STATS_PIPELINE, ia) == 0);
    pd_stats_registry_fini(&reg);
}

/* A reader snapshots every entry over and over while the owner registers
 * objects and marks them dead right after removing them: a fill on a dead
 * object means a reader touched an object after pd_stats_remove returned. */
struct race { pd_stats_registry *reg; volatile int stop; unsigned long snaps; };

static void *reader(void *arg)
{
    struct race *r = arg;
    static pd_stats_snap s;
    uint32_t ids[64];
    while (!r->stop) {
        unsigned n = pd_stats_list(r->reg, PD_STATS_FEC_DECODER, ids, 64);
        for (unsigned i = 0; i < n && i < 64; i++)
            if (pd_stats_snapshot(r->reg, PD_STATS_FEC_DECODER, ids[i], &s) == 0)
                r->snaps++;
    }
    return NULL;
}

static void test_race(void)
{
    static pd_stats_registry reg;
    struct race r = { &reg, 0, 0 };
    struct obj objs[8];
    uint32_t ids[8];
    pthread_t th;
    CHECK(pd_stats_registry_init(&reg) == 0);
    CHECK(pthread_create(&th, NULL, reader, &r) == 0);
    for (int round = 0; round < 20000 || r.snaps < 1000; round++) {
        int i = round % 8;
        if (round >= 8) {
            CHECK(pd_stats_remove(&reg, PD_STATS_FEC_DECODER, ids[i]) == 0);
            objs[i].live = 0;
        }
        objs[i].live = 1;
        objs[i].value = (uint64_t)round;
        CHECK(pd_stats_add(&reg, PD_STATS_FEC_DECODER, "o", &objs[i], fill_obj, &ids[i]) == 0);
        if (round > 10000000)
            break;
    }
    r.stop = 1;
    pthread_join(th, NULL);
    CHECK(dead_reads == 0);
    CHECK(r.snaps >= 1000);
    pd_stats_registry_fini(&reg);
}

static uint16_t no_pull(void *ctx, pd_pkt **p, uint16_t n, uint64_t now)
{
    (void)ctx; (void)p; (void)n; (void)now;
    return 0;
}

static uint16_t pass(void *ctx, pd_pkt **in, uint16_t n, pd_pkt **out, uint16_t cap,
                     uint64_t now)
{
    (void)ctx; (void)in; (void)out; (void)cap; (void)now;
    return n;
}

static void test_fill_pipeline(void)
{
    static pd_stats_registry reg;
    static pd_stats_snap s;
    static pd_stats_pipeline view;
    static pd_chain chain;
    static const pd_pkt_ops ops;
    pd_source src = { .name = "port-rx", .pull = no_pull };
    pd_stage st = { .name = "fec-encode", .process = pass };
    pd_sink snk = { .name = "discard" };
    volatile int running = 1;
    uint32_t id;
    src.c.pkts_in = 100;
    st.c.pkts_in = 100;
    st.c.pkts_out = 140;
    snk.c.drops = 3;
    snk.c.ns = 77;
    CHECK(pd_chain_init(&chain, &src, &snk, &ops, 32) == 0);
    CHECK(pd_chain_add_stage(&chain, &st) == 0);
    view.running = &running;
    view.n_chains = view.chains_total = 1;
    view.chains[0].chain = &chain;
    strcpy(view.chains[0].names[0], "rx:net_ring_a:0");
    strcpy(view.chains[0].names[1], "fec-encode");
    strcpy(view.chains[0].names[PD_STATS_VIEW_ELEMENTS - 1], "discard");
    view.chains[0].ref_kind[0] = PD_STATS_FEC_ENCODER;
    view.chains[0].ref_id[0] = 5;
    CHECK(pd_stats_registry_init(&reg) == 0);
    CHECK(pd_stats_add(&reg, PD_STATS_PIPELINE, "demo", &view, pd_stats_fill_pipeline, &id) == 0);
    CHECK(pd_stats_snapshot(&reg, PD_STATS_PIPELINE, id, &s) == 0);
    CHECK(u64_of(&s, "running") == 1 && u64_of(&s, "chains") == 1);
    CHECK(u64_of(&s, "chain0/burst") == 32 && u64_of(&s, "chain0/stages") == 1);
    CHECK(u64_of(&s, "chain0/source/packets_in") == 100);
    CHECK(u64_of(&s, "chain0/stage0/packets_out") == 140);
    CHECK(u64_of(&s, "chain0/stage0/fec_encoder") == 5);
    CHECK(u64_of(&s, "chain0/sink/drops") == 3 && u64_of(&s, "chain0/sink/time_ns") == 77);
    CHECK(get(&s, "chain0/source/name") &&
          strcmp(get(&s, "chain0/source/name")->str, "rx:net_ring_a:0") == 0);
    CHECK(get(&s, "chain0/sink/bursts") && s.truncated == 0);
    running = 0;
    CHECK(pd_stats_snapshot(&reg, PD_STATS_PIPELINE, id, &s) == 0 && u64_of(&s, "running") == 0);
    pd_stats_registry_fini(&reg);
}

static uint8_t parity_buf[2048];
static uint8_t *get_buf(void *ctx, uint32_t len)
{
    (void)ctx;
    return len <= sizeof(parity_buf) ? parity_buf : NULL;
}

static void test_fill_fec(void)
{
    static pd_stats_registry reg;
    static pd_stats_snap s;
    fec_encoder_config cfg = { .code = FEC_CODE_RS, .k = 2, .m = 1, .depth = 1,
                               .max_payload = 1500 };
    fec_decoder_config dcfg = { .max_payload = 1500, .max_blocks = 8, .max_symbols = 255 };
    fec_sink sink = { NULL, get_buf };
    fec_encoder *enc;
    fec_decoder *dec;
    uint8_t payload[100] = { 1, 2, 3 }, hdr[FEC_HDR_LEN];
    uint32_t id, did;
    fec_init();
    CHECK(fec_encoder_create(&cfg, &enc) == 0);
    CHECK(fec_decoder_create(&dcfg, &dec) == 0);
    for (int i = 0; i < 3; i++)
        CHECK(fec_encoder_add(enc, payload, sizeof(payload), 0, hdr, &sink) >= 0);
    CHECK(pd_stats_registry_init(&reg) == 0);
    CHECK(pd_stats_add(&reg, PD_STATS_FEC_ENCODER, "enc", enc, pd_stats_fill_fec_encoder,
                       &id) == 0);
    CHECK(pd_stats_add(&reg, PD_STATS_FEC_DECODER, "dec", dec, pd_stats_fill_fec_decoder,
                       &did) == 0);
    CHECK(pd_stats_snapshot(&reg, PD_STATS_FEC_ENCODER, id, &s) == 0);
    CHECK(u64_of(&s, "source_packets") == 3 && u64_of(&s, "repair_packets") == 1);
    CHECK(u64_of(&s, "blocks") == 1 && u64_of(&s, "source_bytes") == 300);
    CHECK(get(&s, "kind") && strcmp(get(&s, "kind")->str, "stream") == 0);
    CHECK(pd_stats_snapshot(&reg, PD_STATS_FEC_DECODER, did, &s) == 0);
    CHECK(u64_of(&s, "received") == 0 && u64_of(&s, "blocks_in_flight") == 0);
    CHECK(get(&s, "blocks_expired") != NULL);
    CHECK(pd_stats_remove(&reg, PD_STATS_FEC_ENCODER, id) == 0);
    CHECK(pd_stats_remove(&reg, PD_STATS_FEC_DECODER, did) == 0);
    fec_encoder_destroy(enc);
    fec_decoder_destroy(dec);
    pd_stats_registry_fini(&reg);
}

int main(void)
{
    test_put();
    test_registry();
    test_race();
    test_fill_pipeline();
    test_fill_fec();
    if (!failures)
        printf("stats: all tests passed\n");
    return pd_check_result();
}
