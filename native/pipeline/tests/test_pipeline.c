/* Unit tests of the native pipeline: loop, impairment, generator, verifier. */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "buf.h"
#include "loopback.h"
#include "impair.h"
#include "pipeline.h"
#include "traffic.h"
#include "pd_check.h"

static const uint8_t udp_tmpl[42] = {
    0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00,
    0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    0x30, 0x39, 0x30, 0x3a, 0, 0, 0, 0,
};

static pd_gen *make_gen(pd_buf_pool *pool, uint64_t count)
{
    pd_gen_cfg cfg = { .tmpl = udp_tmpl, .tmpl_len = sizeof(udp_tmpl), .n_sizes = 3,
                       .sizes = { 128, 1400, 74 }, .count = count, .stream = 7,
                       .fix_lengths = 1 };
    int err;
    pd_gen *g = pd_gen_create(&cfg, &pd_buf_ops, pool, &err);
    assert(g && err == 0);
    return g;
}

struct rig {
    pd_buf_pool *pool;
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
    CHECK(pd_buf_pool_create(&r->pool, 4096, 2048, PD_BUF_DEFAULT_HEADROOM) == 0);
    r->gen = make_gen(r->pool, count);
    r->imp = pd_impair_create(icfg, &pd_buf_ops, r->pool, &err);
    assert(r->imp && err == 0);
    r->ver = pd_verify_create(sizeof(udp_tmpl), 7, &pd_buf_ops, &err);
    assert(r->ver);
    pd_gen_source(r->gen, &r->src);
    pd_impair_stage(r->imp, &r->st);
    pd_verify_sink(r->ver, &r->snk);
    CHECK(pd_chain_init(&r->chain, &r->src, &r->snk, &pd_buf_ops, 32) == 0);
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
    CHECK(pd_buf_pool_in_use(r->pool) == 0);   /* every packet accounted for */
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
    pd_buf_pool *pool = NULL;
    CHECK(pd_buf_pool_create(&pool, 16, 2048, PD_BUF_DEFAULT_HEADROOM) == 0);
    pd_gen *g = make_gen(pool, 0);
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

/* A frame stamped by another thread's clock a little ahead of the verifier's
 * (TSC skew between cores) arrives "from the future": its latency is 0, not
 * 2^48 - 1 ns. */
static void test_latency_of_a_frame_stamped_after_now_is_zero(void)
{
    pd_buf_pool *pool = NULL;
    CHECK(pd_buf_pool_create(&pool, 16, 2048, PD_BUF_DEFAULT_HEADROOM) == 0);
    pd_gen *g = make_gen(pool, 0);
    int err = 0;
    pd_verify *v = pd_verify_create(42, 7, &pd_buf_ops, &err);
    pd_sink snk;
    pd_pkt *p[2];
    uint64_t now = pd_clock_ns();

    CHECK(v != NULL);
    pd_verify_sink(v, &snk);
    CHECK(pd_buf_ops.alloc_bulk(pool, p, 2) == 0);
    for (int i = 0; i < 2; i++) {
        uint8_t *d = pd_buf_ops.append(p[i], 1400);
        CHECK(d != NULL);
        /* one stamped 1 s ahead of the verifier's clock, one 1 ms ago */
        CHECK(pd_gen_fill(g, d, 1400, (uint64_t)i,
                          i == 0 ? now + 1000000000u : now - 1000000u) == 0);
    }
    CHECK(snk.push(snk.ctx, p, 2, now) == 2);
    CHECK(pd_verify_counters_get(v)->valid == 2);
    CHECK(pd_verify_counters_get(v)->latency_max_ns >= 1000000u);
    CHECK(pd_verify_counters_get(v)->latency_max_ns < 1000000000u);
    CHECK(pd_verify_counters_get(v)->latency_sum_ns == pd_verify_counters_get(v)->latency_max_ns);
    pd_verify_destroy(v);
    pd_gen_destroy(g);
    CHECK(pd_buf_pool_in_use(pool) == 0);
    CHECK(pd_buf_pool_free(pool, 0) == 0);
}

static void test_bad_config_rejected(void)
{
    pd_buf_pool *pool = NULL;
    CHECK(pd_buf_pool_create(&pool, 16, 2048, PD_BUF_DEFAULT_HEADROOM) == 0);
    int err = 0;
    pd_impair_cfg ic = { .loss = 1.5 };
    CHECK(pd_impair_create(&ic, &pd_buf_ops, pool, &err) == NULL && err == -EINVAL);
    pd_gen_cfg gc = { .n_sizes = 1, .sizes = { 10 } };   /* smaller than the marker */
    CHECK(pd_gen_create(&gc, &pd_buf_ops, pool, &err) == NULL && err == -EINVAL);
    pd_chain c;
    pd_source s;
    pd_sink k;
    CHECK(pd_chain_init(&c, &s, &k, &pd_buf_ops, 0) == -EINVAL);
    CHECK(pd_chain_init(&c, &s, &k, &pd_buf_ops, PD_BURST_MAX + 1) == -EINVAL);
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
    CHECK(pd_buf_pool_create(&r->pool, 4096, 2048, PD_BUF_DEFAULT_HEADROOM) == 0);
    r->gen = make_gen(r->pool, 0);            /* endless: only a fault ends the run */
    r->imp = pd_impair_create(&icfg, &pd_buf_ops, r->pool, &err);
    r->ver = pd_verify_create(sizeof(udp_tmpl), 7, &pd_buf_ops, &err);
    assert(r->imp && r->ver);
    pd_gen_source(r->gen, &r->src);
    pd_impair_stage(r->imp, &r->st);
    pd_verify_sink(r->ver, &r->snk);
    CHECK(pd_chain_init(&r->chain, &r->src, &r->snk, &pd_buf_ops, 32) == 0);
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

/* --- event-driven idle: an eventfd stands for a port's socket ------------- */

struct evsrc {
    int fd;
    int drain;                  /* 0: pull never reads the fd (always readable) */
    pd_buf_pool *pool;
};

static uint16_t ev_pull(void *ctx, pd_pkt **pkts, uint16_t n, uint64_t now)
{
    struct evsrc *e = ctx;
    uint64_t count = 0;
    (void)now;
    if (!e->drain || read(e->fd, &count, sizeof(count)) != sizeof(count))
        return 0;
    if (count > n)
        count = n;
    if (pd_buf_ops.alloc_bulk(e->pool, pkts, (unsigned)count) < 0)
        return 0;
    for (uint64_t i = 0; i < count; i++)
        pd_buf_ops.append(pkts[i], 60);
    return (uint16_t)count;
}

static int ev_wait_fd(void *ctx)
{
    return ((struct evsrc *)ctx)->fd;
}

/* A stage with one timer: records the loop time it first saw it due. */
struct timer_stage {
    uint64_t deadline, fired_at;
};

static uint16_t timer_process(void *ctx, pd_pkt **in, uint16_t n, pd_pkt **out, uint16_t cap,
                              uint64_t now)
{
    struct timer_stage *t = ctx;
    (void)cap;
    if (!t->fired_at && now >= t->deadline)
        t->fired_at = now;
    memcpy(out, in, n * sizeof(*in));
    return n;
}

static uint64_t timer_next(void *ctx)
{
    struct timer_stage *t = ctx;
    return t->fired_at ? UINT64_MAX : t->deadline;
}

static void *ev_writer(void *arg)
{
    int fd = *(int *)arg;
    for (int i = 0; i < 5; i++) {
        struct timespec pause = {0, 20000000L};
        uint64_t one = 3;
        nanosleep(&pause, NULL);
        if (write(fd, &one, sizeof(one)) != sizeof(one))
            break;
    }
    return NULL;
}

static void ev_chain(pd_chain *c, pd_source *src, pd_sink *snk, pd_stage *st,
                     struct evsrc *e, struct timer_stage *t)
{
    memset(src, 0, sizeof(*src));
    src->name = "eventfd";
    src->ctx = e;
    src->pull = ev_pull;
    src->wait_fd = ev_wait_fd;
    pd_sink_discard(snk, &pd_buf_ops);
    memset(st, 0, sizeof(*st));
    st->name = "timer";
    st->ctx = t;
    st->process = timer_process;
    st->next_deadline = timer_next;
    CHECK(pd_chain_init(c, src, snk, &pd_buf_ops, 32) == 0);
    CHECK(pd_chain_add_stage(c, st) == 0);
}

/* An idle loop blocks in poll() on its sources' descriptors: it wakes for
 * traffic and for a stage's deadline, and does not sleep in 50 us steps. */
static void test_idle_loop_blocks_on_descriptors_and_deadlines(void)
{
    pd_buf_pool *pool = NULL;
    CHECK(pd_buf_pool_create(&pool, 1024, 2048, PD_BUF_DEFAULT_HEADROOM) == 0);
    struct evsrc e = { .drain = 1, .pool = pool };
    struct timer_stage t = { 0 };
    pd_source src;
    pd_sink snk;
    pd_stage st;
    pd_chain c, *chains[1] = { &c };
    pd_run_opts o;
    pd_run_result res;
    pthread_t writer;

    e.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert(e.fd >= 0);
    ev_chain(&c, &src, &snk, &st, &e, &t);
    pd_run_opts_default(&o);
    o.check_interval_ns = 10ull * 1000 * 1000 * 1000;   /* only traffic and the timer wake it */
    o.status_interval_ns = 0;
    o.wait_max_ns = 10ull * 1000 * 1000 * 1000;
    o.duration_ns = 600ull * 1000 * 1000;
    t.deadline = pd_clock_ns() + 20ull * 1000 * 1000;
    CHECK(pthread_create(&writer, NULL, ev_writer, &e.fd) == 0);
    CHECK(pd_pipeline_run(chains, 1, &o, &res) == 0);
    pthread_join(writer, NULL);
    CHECK(res.reason == PD_STOP_DURATION);
    CHECK(res.packets == 15 && snk.c.pkts_in == 15);
    CHECK(res.sleeps == 0);                 /* no 50 us back-off */
    CHECK(res.waits > 0 && res.wakeups >= 1 && res.wakeups <= 5);
    /* Each wait ends on traffic, the timer or the run's end: a handful of
     * rounds per event, not thousands of polls. */
    CHECK(res.rounds < 200);
    /* The timer fired when due (20 ms), not at the end of the run (600 ms);
     * the bound leaves room for a starved CPU. */
    CHECK(t.fired_at && t.fired_at - t.deadline < 400ull * 1000 * 1000);
    CHECK(pd_buf_pool_in_use(pool) == 0);
    close(e.fd);
}

/* A descriptor that stays readable while pull() finds nothing must not make
 * the loop spin. */
static void test_spurious_readiness_does_not_spin(void)
{
    pd_buf_pool *pool = NULL;
    CHECK(pd_buf_pool_create(&pool, 16, 2048, PD_BUF_DEFAULT_HEADROOM) == 0);
    struct evsrc e = { .drain = 0, .pool = pool };
    struct timer_stage t = { .deadline = UINT64_MAX - 1 };
    pd_source src;
    pd_sink snk;
    pd_stage st;
    pd_chain c, *chains[1] = { &c };
    pd_run_opts o;
    pd_run_result res;
    uint64_t one = 1;

    e.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert(e.fd >= 0);
    CHECK(write(e.fd, &one, sizeof(one)) == sizeof(one));
    ev_chain(&c, &src, &snk, &st, &e, &t);
    pd_run_opts_default(&o);
    o.duration_ns = 200ull * 1000 * 1000;
    CHECK(pd_pipeline_run(chains, 1, &o, &res) == 0);
    CHECK(res.reason == PD_STOP_DURATION);
    CHECK(res.wakeups > 0 && res.sleeps > 0);   /* readable, then a 1 ms nap */
    CHECK(res.rounds < 20000);                  /* a spinning loop makes millions */
    close(e.fd);
}

/* A stage that holds packets on a timer the loop cannot see (flush, no
 * next_deadline: the impairment delay line) keeps the sleep back-off. */
static void test_hidden_timer_keeps_sleep_back_off(void)
{
    pd_buf_pool *pool = NULL;
    CHECK(pd_buf_pool_create(&pool, 16, 2048, PD_BUF_DEFAULT_HEADROOM) == 0);
    struct evsrc e = { .drain = 1, .pool = pool };
    struct timer_stage t = { .deadline = UINT64_MAX - 1 };
    pd_source src;
    pd_sink snk;
    pd_stage st;
    pd_chain c, *chains[1] = { &c };
    pd_run_opts o;
    pd_run_result res;

    e.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert(e.fd >= 0);
    ev_chain(&c, &src, &snk, &st, &e, &t);
    st.next_deadline = NULL;
    st.flush = NULL;
    pd_run_opts_default(&o);
    o.duration_ns = 50ull * 1000 * 1000;
    CHECK(pd_pipeline_run(chains, 1, &o, &res) == 0);
    CHECK(res.waits > 0);                       /* stateless stage: blocking is fine */
    pd_impair_cfg icfg = { .seed = 1 };
    int err;
    pd_impair *imp = pd_impair_create(&icfg, &pd_buf_ops, pool, &err);
    assert(imp);
    pd_impair_stage(imp, &st);
    CHECK(pd_pipeline_run(chains, 1, &o, &res) == 0);
    CHECK(res.waits == 0 && res.sleeps > 0);
    pd_impair_destroy(imp);
    close(e.fd);
}

/* A port sink and a port source over the native loopback: generator ->
 * loopback (tx) in one chain, loopback (rx) -> verifier in another.  The run
 * stops when the generator is done; the drain empties the port. */

static void test_chains_joined_by_a_loopback_port(void)
{
    pd_buf_pool *pool;
    pd_loopback *lb;
    pd_port_endpoint tx = { .queue = 1 }, rx = { .queue = 1 };
    pd_source gsrc, psrc;
    pd_sink psnk, vsnk;
    pd_chain a, b;
    pd_chain *chains[2] = { &a, &b };
    pd_run_opts o;
    pd_run_result res;
    pd_loopback_stats st;
    int err;

    CHECK(pd_buf_pool_create(&pool, 1024, 2048, PD_BUF_DEFAULT_HEADROOM) == 0);
    CHECK(pd_loopback_create(&lb, &pd_buf_ops, pool, 2, 256) == 0);
    pd_gen *g = make_gen(pool, 5000);
    pd_verify *v = pd_verify_create(sizeof(udp_tmpl), 7, &pd_buf_ops, &err);
    assert(v);
    pd_loopback_port_io(lb, &tx.io);
    pd_loopback_port_io(lb, &rx.io);
    pd_gen_source(g, &gsrc);
    pd_sink_from_port(&psnk, &tx);
    pd_source_from_port(&psrc, &rx);
    pd_verify_sink(v, &vsnk);
    CHECK(pd_chain_init(&a, &gsrc, &psnk, &pd_buf_ops, 32) == 0);
    CHECK(pd_chain_init(&b, &psrc, &vsnk, &pd_buf_ops, 32) == 0);
    pd_run_opts_default(&o);
    o.duration_ns = 60ull * 1000000000ull;     /* a broken port must not hang the test */
    CHECK(pd_pipeline_run(chains, 2, &o, &res) == 0);
    CHECK(res.reason == PD_STOP_SOURCES_DONE);
    /* Every frame crossed the port on queue 1, in order, intact. */
    pd_loopback_stats_get(lb, &st);
    CHECK(pd_verify_counters_get(v)->valid == 5000);
    CHECK(pd_verify_counters_get(v)->corrupted == 0);
    CHECK(st.tx_packets == 5000 && st.rx_packets == 5000 && st.tx_full == 0);
    CHECK(pd_loopback_queued(lb, 0) == 0 && pd_loopback_queued(lb, 1) == 0);
    pd_loopback_free(lb);
    pd_gen_destroy(g);
    pd_verify_destroy(v);
    CHECK(pd_buf_pool_in_use(pool) == 0);
    pd_buf_pool_free(pool, 1);
}

int main(void)
{
    test_idle_loop_blocks_on_descriptors_and_deadlines();
    test_spurious_readiness_does_not_spin();
    test_hidden_timer_keeps_sleep_back_off();
    test_crc32c_known_answer();
    test_clean_link();
    test_random_loss_is_counted_and_close_to_p();
    test_gilbert_elliott_loss_rate();
    test_duplicate_and_reorder_are_detected();
    test_same_seed_same_fate();
    test_latency_of_a_frame_stamped_after_now_is_zero();
    test_verify_catches_corruption_anywhere();
    test_bad_config_rejected();
    test_link_down_goes_on_and_a_failed_port_stops_the_run();
    test_a_failed_sink_port_stops_the_run();
    test_chains_joined_by_a_loopback_port();
    return pd_check_result();
}
