#include "pipeline.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>

#include "clock.h"

static uint64_t sum_len(const pd_pkt_ops *ops, pd_pkt **p, uint16_t n)
{
    uint64_t b = 0;
    for (uint16_t i = 0; i < n; i++)
        b += ops->data_len(p[i]);
    return b;
}

void pd_run_opts_default(pd_run_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->idle_rounds = 256;
    o->idle_sleep_us = 50;
    o->check_interval_ns = 5000000;     /* 5 ms: Ctrl-C feels immediate */
    o->drain_ns = 200000000;            /* 200 ms */
    o->status_interval_ns = 100000000;  /* 100 ms: a dead port is noticed at once */
    /* Block in poll() soon: an empty AF_PACKET poll is a memory read, but an
     * empty UDP poll is a recvmmsg() syscall, and at a few thousand packets
     * a second long spins between packets were most of a gateway's CPU. */
    o->wait_rounds = 4;
    o->wait_max_ns = 5000000;           /* bounds the wait for signals, stop_flag */
}

int pd_chain_init(pd_chain *c, pd_source *src, pd_sink *snk, const pd_pkt_ops *ops,
                  uint16_t burst)
{
    if (!c || !src || !snk || !ops || burst == 0 || burst > PD_BURST_MAX)
        return -EINVAL;
    memset(c, 0, sizeof(*c));
    c->src = src;
    c->snk = snk;
    c->ops = ops;
    c->burst = burst;
    return 0;
}

int pd_chain_add_stage(pd_chain *c, pd_stage *st)
{
    if (!c || !st || !st->process || c->n_stages >= PD_CHAIN_MAX_STAGES)
        return -EINVAL;
    c->stages[c->n_stages++] = st;
    return 0;
}

/* Run pkts (in buf[cur], `bytes` long in all) through stages from `first`
 * on and push them to the sink.  Byte counts are summed once per boundary:
 * one stage's output is the next one's input. */
static void run_stages(pd_chain *c, unsigned first, uint16_t n, uint64_t bytes, int cur,
                       uint64_t now)
{
    const pd_pkt_ops *ops = c->ops;

    for (unsigned s = first; s < c->n_stages; s++) {
        pd_stage *st = c->stages[s];
        pd_pkt **in = c->buf[cur], **out = c->buf[cur ^ 1];
        uint64_t t0 = pd_cycles();
        uint16_t m;

        if (n) {
            st->c.pkts_in += n;
            st->c.bytes_in += bytes;
            st->c.calls++;
        }
        m = st->process(st->ctx, in, n, out, PD_STAGE_OUT_MAX, now);
        st->c.ns += pd_cycles_to_ns(pd_cycles() - t0);
        bytes = m ? sum_len(ops, out, m) : 0;
        st->c.pkts_out += m;
        st->c.bytes_out += bytes;
        n = m;
        cur ^= 1;
    }
    if (n) {
        pd_pkt **pkts = c->buf[cur];
        uint16_t taken = c->snk->push(c->snk->ctx, pkts, n, now);

        c->snk->c.pkts_in += n;
        c->snk->c.bytes_in += bytes;
        c->snk->c.calls++;
        if (taken < n) {
            ops->free_bulk(pkts + taken, n - taken);
            c->snk->c.drops += n - taken;
        }
        c->snk->c.pkts_out += taken;
    }
}

uint16_t pd_chain_poll(pd_chain *c, uint64_t now)
{
    uint16_t n = c->src->pull(c->src->ctx, c->buf[0], c->burst, now);
    uint64_t bytes = 0;

    if (n) {
        bytes = sum_len(c->ops, c->buf[0], n);
        c->src->c.pkts_out += n;
        c->src->c.bytes_out += bytes;
        c->src->c.calls++;
    }
    /* Stages also run on empty polls so their deadlines can fire. */
    run_stages(c, 0, n, bytes, 0, now);
    return n;
}

uint32_t pd_chain_flush(pd_chain *c, uint64_t now)
{
    uint32_t moved = 0;

    for (unsigned s = 0; s < c->n_stages; s++) {
        pd_stage *st = c->stages[s];
        uint16_t m;

        if (!st->flush)
            continue;
        /* Each flushed batch continues down the chain from the next stage. */
        while ((m = st->flush(st->ctx, c->buf[0], PD_STAGE_OUT_MAX, now)) > 0) {
            uint64_t bytes = sum_len(c->ops, c->buf[0], m);
            st->c.pkts_out += m;
            st->c.bytes_out += bytes;
            moved += m;
            run_stages(c, s + 1, m, bytes, 0, now);
        }
    }
    return moved;
}

/* Sources that can end (generators, files) have done(); ports never end.
 * The run is over when every source that can end has ended. */
static int all_sources_done(pd_chain **chains, unsigned n)
{
    int finite = 0;

    for (unsigned i = 0; i < n; i++) {
        pd_source *s = chains[i]->src;
        if (!s->done)
            continue;
        finite = 1;
        if (!s->done(s->ctx))
            return 0;
    }
    return finite;
}

/* Record one status answer; nonzero when it is a failure that ends the run
 * (link down is not: the link may come back). */
static int note_status(int rc, int *health, uint64_t *changes)
{
    if (rc > 0)
        rc = 0;
    if (rc != *health) {
        *health = rc;
        (*changes)++;
    }
    return rc != 0 && rc != -ENETDOWN;
}

/* Ask every source and sink that can tell whether its port still works. */
static int check_status(pd_chain **chains, unsigned n, pd_run_result *res)
{
    for (unsigned i = 0; i < n; i++) {
        pd_source *src = chains[i]->src;
        pd_sink *snk = chains[i]->snk;

        if (src->status && note_status(src->status(src->ctx), &src->health,
                                       &src->health_changes)) {
            res->fault = src->health;
            res->fault_chain = i;
            res->fault_in_sink = 0;
            return 1;
        }
        if (snk->status && note_status(snk->status(snk->ctx), &snk->health,
                                       &snk->health_changes)) {
            res->fault = snk->health;
            res->fault_chain = i;
            res->fault_in_sink = 1;
            return 1;
        }
    }
    return 0;
}

/* After the stop: keep draining port sources (packets already in flight on a
 * ring or veth) and flushing stages until a whole round moves nothing. */
static void drain(pd_chain **chains, unsigned n, const pd_run_opts *o)
{
    uint64_t end = pd_clock_ns() + o->drain_ns;
    int quiet_rounds = 0;

    while (quiet_rounds < 3) {
        uint64_t now = pd_clock_ns();
        uint64_t moved = 0;

        for (unsigned i = 0; i < n; i++) {
            pd_chain *c = chains[i];
            if (c->drain && now < end)
                moved += pd_chain_poll(c, now);
            moved += pd_chain_flush(c, now);
        }
        quiet_rounds = moved ? 0 : quiet_rounds + 1;
        if (!moved && now >= end)
            break;
    }
}

/* --- event-driven idle ---------------------------------------------------- */

#define PD_WAIT_FDS_MAX 64

typedef struct idle_wait {
    struct pollfd pfd[PD_WAIT_FDS_MAX];
    unsigned nfds;
    int enabled;
    int woke;        /* the last wait ended readable ... */
    int spurious;    /* ... and the round after it found nothing */
} idle_wait;

/* Blocking is possible when every source has a descriptor and no stage
 * holds packets on a timer the loop cannot see. */
static void idle_wait_init(idle_wait *w, pd_chain **chains, unsigned n, const pd_run_opts *o)
{
    memset(w, 0, sizeof(*w));
    if (!o->wait_rounds || !o->idle_sleep_us)
        return;
    for (unsigned i = 0; i < n; i++) {
        pd_source *src = chains[i]->src;
        int fd = src->wait_fd ? src->wait_fd(src->ctx) : -1;

        if (fd < 0 || w->nfds >= PD_WAIT_FDS_MAX)
            return;
        for (unsigned s = 0; s < chains[i]->n_stages; s++) {
            const pd_stage *st = chains[i]->stages[s];
            if (st->flush && !st->next_deadline)
                return;
        }
        w->pfd[w->nfds].fd = fd;
        w->pfd[w->nfds].events = POLLIN;
        w->nfds++;
    }
    w->enabled = w->nfds > 0;
}

static uint64_t next_stage_deadline(pd_chain **chains, unsigned n)
{
    uint64_t next = UINT64_MAX;

    for (unsigned i = 0; i < n; i++)
        for (unsigned s = 0; s < chains[i]->n_stages; s++) {
            pd_stage *st = chains[i]->stages[s];
            if (st->next_deadline) {
                uint64_t d = st->next_deadline(st->ctx);
                if (d < next)
                    next = d;
            }
        }
    return next;
}

/* Sleep until a source is readable or `until` (loop clock).  A readiness
 * that the next round found empty (AF_PACKET with zero-copy blocks still
 * held reports readable until the kernel retires the next block) is not
 * trusted twice in a row: nap 1 ms at most instead, so the loop cannot spin. */
static void idle_block(idle_wait *w, uint64_t now, uint64_t until, pd_run_result *res)
{
    uint64_t left = until > now ? until - now : 0;
    struct timespec ts;

    if (w->spurious) {
        w->spurious = 0;
        if (left > 1000000)
            left = 1000000;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)left;
        nanosleep(&ts, NULL);
        res->sleeps++;
        return;
    }
    ts.tv_sec = (time_t)(left / 1000000000u);
    ts.tv_nsec = (long)(left % 1000000000u);
    res->waits++;
    if (ppoll(w->pfd, w->nfds, &ts, NULL) > 0) {
        w->woke = 1;
        res->wakeups++;
    }
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

int pd_pipeline_run(pd_chain **chains, unsigned n_chains, const pd_run_opts *o,
                    pd_run_result *res)
{
    idle_wait w;
    pd_run_opts dflt;
    uint64_t start, now, next_check, next_status;
    uint32_t empty = 0;

    if (!chains || n_chains == 0 || !res)
        return -EINVAL;
    if (!o) {
        pd_run_opts_default(&dflt);
        o = &dflt;
    }
    memset(res, 0, sizeof(*res));
    start = now = pd_clock_ns();
    next_check = start + o->check_interval_ns;
    next_status = start;
    for (unsigned i = 0; i < n_chains; i++) {
        chains[i]->src->health = 0;
        chains[i]->snk->health = 0;
    }
    idle_wait_init(&w, chains, n_chains, o);

    for (;;) {
        uint64_t got = 0;

        for (unsigned i = 0; i < n_chains; i++)
            got += pd_chain_poll(chains[i], now);
        res->packets += got;
        res->rounds++;
        now = pd_clock_ns();

        if (o->max_packets && res->packets >= o->max_packets) {
            res->reason = PD_STOP_PACKETS;
            break;
        }
        if (o->duration_ns && now - start >= o->duration_ns) {
            res->reason = PD_STOP_DURATION;
            break;
        }
        if (o->stop_flag && *o->stop_flag) {
            res->reason = PD_STOP_FLAG;
            break;
        }
        if (now >= next_check) {
            next_check = now + o->check_interval_ns;
            if (o->check && o->check(o->check_arg)) {
                res->reason = PD_STOP_CHECK;
                break;
            }
        }
        if (o->status_interval_ns && now >= next_status) {
            next_status = now + o->status_interval_ns;
            if (check_status(chains, n_chains, res)) {
                res->reason = PD_STOP_FAULT;
                break;
            }
        }
        if (got) {
            empty = 0;
            w.woke = w.spurious = 0;
            continue;
        }
        if (w.woke) {
            w.woke = 0;
            w.spurious = 1;
        }
        res->idle_rounds++;
        if (all_sources_done(chains, n_chains)) {
            res->reason = PD_STOP_SOURCES_DONE;
            break;
        }
        /* Idle: sleep until traffic or the next deadline (stage timers, the
         * periodic checks, the run's end), so a quiet gateway costs nothing. */
        if (w.enabled && ++empty >= o->wait_rounds) {
            uint64_t until = min_u64(now + o->wait_max_ns, next_stage_deadline(chains, n_chains));

            until = min_u64(until, next_check);
            if (o->status_interval_ns)
                until = min_u64(until, next_status);
            if (o->duration_ns)
                until = min_u64(until, start + o->duration_ns);
            if (until > now)
                idle_block(&w, now, until, res);
            now = pd_clock_ns();
            continue;
        }
        /* Back off when idle so a quiet gateway does not burn a core. */
        if (!w.enabled && o->idle_sleep_us && ++empty >= o->idle_rounds) {
            pd_sleep_us(o->idle_sleep_us);
            res->sleeps++;
            now = pd_clock_ns();
        }
    }
    drain(chains, n_chains, o);
    for (unsigned i = 0; i < n_chains; i++)
        for (unsigned s = 0; s < chains[i]->n_stages; s++)
            if (chains[i]->stages[s]->finish)
                chains[i]->stages[s]->finish(chains[i]->stages[s]->ctx);
    res->elapsed_ns = pd_clock_ns() - start;
    return 0;
}

int pd_run_job_main(void *arg)
{
    pd_run_job *job = arg;

    job->rc = pd_pipeline_run(job->chains, job->n_chains, &job->opts, &job->res);
    __atomic_store_n(&job->done, 1, __ATOMIC_RELEASE);
    return job->rc;
}

int pd_run_job_done(const pd_run_job *job)
{
    return __atomic_load_n(&job->done, __ATOMIC_ACQUIRE);
}

/* --- port adapters ------------------------------------------------------- */

static uint16_t port_pull(void *ctx, pd_pkt **pkts, uint16_t n, uint64_t now)
{
    pd_port_endpoint *ep = ctx;
    (void)now;
    return ep->io.rx_burst(ep->io.ctx, ep->queue, pkts, n);
}

static int port_status(void *ctx)
{
    pd_port_endpoint *ep = ctx;
    return ep->io.status ? ep->io.status(ep->io.ctx) : 0;
}

static int port_wait_fd(void *ctx)
{
    pd_port_endpoint *ep = ctx;
    return ep->io.wait_fd ? ep->io.wait_fd(ep->io.ctx, ep->queue) : -1;
}

static uint16_t port_push(void *ctx, pd_pkt **pkts, uint16_t n, uint64_t now)
{
    pd_port_endpoint *ep = ctx;
    uint16_t sent = 0;
    (void)now;
    /* Retry a full ring a few times, then leave the tail to the loop, which
     * frees and counts it (l2fwd does the same). */
    for (uint16_t attempt = 0; attempt <= ep->tx_retries && sent < n; attempt++)
        sent += ep->io.tx_burst(ep->io.ctx, ep->queue, pkts + sent, n - sent);
    return sent;
}

void pd_source_from_port(pd_source *src, pd_port_endpoint *ep)
{
    memset(src, 0, sizeof(*src));
    src->name = "port-rx";
    src->ctx = ep;
    src->pull = port_pull;
    src->status = port_status;
    src->wait_fd = port_wait_fd;
}

void pd_sink_from_port(pd_sink *snk, pd_port_endpoint *ep)
{
    memset(snk, 0, sizeof(*snk));
    snk->name = "port-tx";
    snk->ctx = ep;
    snk->push = port_push;
    snk->status = port_status;
}

static uint16_t discard_push(void *ctx, pd_pkt **pkts, uint16_t n, uint64_t now)
{
    const pd_pkt_ops *ops = ctx;
    (void)now;
    ops->free_bulk(pkts, n);
    return n;
}

void pd_sink_discard(pd_sink *snk, const pd_pkt_ops *ops)
{
    memset(snk, 0, sizeof(*snk));
    snk->name = "discard";
    snk->ctx = (void *)(uintptr_t)ops;
    snk->push = discard_push;
}
