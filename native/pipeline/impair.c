#include "impair.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

#define HELD_MAX 64               /* packets held back for reordering */
#define HELD_MAX_NS 10000000u     /* and never longer than 10 ms */

struct held { pd_pkt *pkt; uint32_t gap; uint64_t since; };

struct pd_impair {
    const pd_pkt_ops *ops;
    void *pool;
    pd_rng rng;
    uint64_t t_loss, t_ge_p, t_ge_r, t_loss_good, t_loss_bad, t_dup, t_reorder;
    int ge_enabled, ge_bad;
    uint32_t reorder_gap;
    struct held held[HELD_MAX];
    unsigned n_held;
    pd_impair_counters c;
    /* a new loss model from another thread (pd_impair_set_loss) */
    atomic_flag set_lock;
    atomic_int set_ready;
    uint64_t set_t[5];
};


static int valid_prob(double p) { return p >= 0.0 && p <= 1.0; }

int pd_impair_set_loss(pd_impair *im, double loss, double ge_p, double ge_r,
                       double ge_loss_good, double ge_loss_bad)
{
    if (!im || !valid_prob(loss) || !valid_prob(ge_p) || !valid_prob(ge_r) ||
        !valid_prob(ge_loss_good) || !valid_prob(ge_loss_bad))
        return -EINVAL;
    while (atomic_flag_test_and_set_explicit(&im->set_lock, memory_order_acquire))
        ;
    im->set_t[0] = pd_prob_threshold(loss);
    im->set_t[1] = ge_p > 0.0 ? pd_prob_threshold(ge_p) : 0;
    im->set_t[2] = pd_prob_threshold(ge_r);
    im->set_t[3] = pd_prob_threshold(ge_loss_good);
    im->set_t[4] = pd_prob_threshold(ge_loss_bad);
    atomic_store_explicit(&im->set_ready, 1, memory_order_release);
    atomic_flag_clear_explicit(&im->set_lock, memory_order_release);
    return 0;
}

static void take_new_loss(pd_impair *im)
{
    while (atomic_flag_test_and_set_explicit(&im->set_lock, memory_order_acquire))
        ;
    im->t_loss = im->set_t[0];
    im->ge_enabled = im->set_t[1] != 0;
    im->t_ge_p = im->set_t[1];
    im->t_ge_r = im->set_t[2];
    im->t_loss_good = im->set_t[3];
    im->t_loss_bad = im->set_t[4];
    if (!im->ge_enabled)
        im->ge_bad = 0;
    atomic_store_explicit(&im->set_ready, 0, memory_order_relaxed);
    atomic_flag_clear_explicit(&im->set_lock, memory_order_release);
}

pd_impair *pd_impair_create(const pd_impair_cfg *cfg, const pd_pkt_ops *ops, void *pool,
                            int *err)
{
    pd_impair *im;

    if (!cfg || !ops || !valid_prob(cfg->loss) || !valid_prob(cfg->ge_p) ||
        !valid_prob(cfg->ge_r) || !valid_prob(cfg->ge_loss_good) ||
        !valid_prob(cfg->ge_loss_bad) || !valid_prob(cfg->duplicate) ||
        !valid_prob(cfg->reorder) || (cfg->duplicate > 0 && !pool)) {
        if (err) *err = -EINVAL;
        return NULL;
    }
    im = calloc(1, sizeof(*im));
    if (!im) {
        if (err) *err = -ENOMEM;
        return NULL;
    }
    im->ops = ops;
    im->pool = pool;
    pd_rng_seed(&im->rng, cfg->seed);
    im->t_loss = pd_prob_threshold(cfg->loss);
    im->ge_enabled = cfg->ge_p > 0.0;
    im->t_ge_p = pd_prob_threshold(cfg->ge_p);
    im->t_ge_r = pd_prob_threshold(cfg->ge_r);
    im->t_loss_good = pd_prob_threshold(cfg->ge_loss_good);
    im->t_loss_bad = pd_prob_threshold(cfg->ge_loss_bad);
    im->t_dup = pd_prob_threshold(cfg->duplicate);
    im->t_reorder = pd_prob_threshold(cfg->reorder);
    im->reorder_gap = cfg->reorder_gap ? cfg->reorder_gap : 3;
    atomic_flag_clear(&im->set_lock);
    if (err) *err = 0;
    return im;
}

void pd_impair_destroy(pd_impair *im)
{
    if (!im)
        return;
    for (unsigned i = 0; i < im->n_held; i++)
        im->ops->free_bulk(&im->held[i].pkt, 1);
    free(im);
}

const pd_impair_counters *pd_impair_counters_get(const pd_impair *im) { return &im->c; }

/* Decide the fate of one packet on the link: 0 keep, 1 random loss, 2 burst
 * loss.  The Gilbert-Elliott chain steps on every packet, lost or not, so
 * the two models stay independent (pydpdk.analysis assumes so). */
static int lose(pd_impair *im)
{
    int burst_lost = 0;

    if (im->ge_enabled) {
        if (im->ge_bad) {
            if (pd_rng_chance(&im->rng, im->t_ge_r))
                im->ge_bad = 0;
        } else if (pd_rng_chance(&im->rng, im->t_ge_p)) {
            im->ge_bad = 1;
        }
        burst_lost = pd_rng_chance(&im->rng, im->ge_bad ? im->t_loss_bad : im->t_loss_good);
    }
    if (pd_rng_chance(&im->rng, im->t_loss))
        return 1;
    return burst_lost ? 2 : 0;
}

static pd_pkt *copy_packet(pd_impair *im, pd_pkt *p)
{
    pd_pkt *d;
    uint32_t len = im->ops->data_len(p);
    uint8_t *dst;

    if (im->ops->alloc_bulk(im->pool, &d, 1) != 0)
        return NULL;
    dst = im->ops->append(d, len);
    if (!dst) {
        im->ops->free_bulk(&d, 1);
        return NULL;
    }
    memcpy(dst, im->ops->data(p), len);
    return d;
}

/* Held packets count down one per packet that passes; release those at 0
 * or held too long. */
static uint16_t release_held(pd_impair *im, pd_pkt **out, uint16_t m, uint16_t cap,
                             uint64_t now, int passed, int all)
{
    unsigned i = 0;

    while (i < im->n_held && m < cap) {
        struct held *h = &im->held[i];
        if (passed && h->gap)
            h->gap--;
        if (all || h->gap == 0 || now - h->since > HELD_MAX_NS) {
            out[m++] = h->pkt;
            im->held[i] = im->held[--im->n_held];
            continue;       /* the moved-in entry still needs its turn */
        }
        i++;
    }
    return m;
}

static uint16_t impair_process(void *ctx, pd_pkt **in, uint16_t n, pd_pkt **out,
                               uint16_t cap, uint64_t now)
{
    pd_impair *im = ctx;
    uint16_t m = 0;

    if (atomic_load_explicit(&im->set_ready, memory_order_acquire))
        take_new_loss(im);
    for (uint16_t i = 0; i < n; i++) {
        pd_pkt *p = in[i];
        int fate;

        im->c.seen++;
        fate = lose(im);
        if (fate) {
            if (fate == 1) im->c.lost_random++; else im->c.lost_burst++;
            im->ops->free_bulk(&p, 1);
            continue;
        }
        /* cap leaves room for a duplicate and released packets; the output
         * array is 4x a burst, so this only bites on absurd configs. */
        if (m + 2 + HELD_MAX > cap) {
            im->ops->free_bulk(&p, 1);
            continue;
        }
        if (im->n_held < HELD_MAX && pd_rng_chance(&im->rng, im->t_reorder)) {
            im->held[im->n_held++] = (struct held){ p, im->reorder_gap, now };
            im->c.reordered++;
        } else {
            out[m++] = p;
            m = release_held(im, out, m, cap, now, 1, 0);
        }
        if (pd_rng_chance(&im->rng, im->t_dup)) {
            pd_pkt *d = copy_packet(im, p);
            if (d) {
                out[m++] = d;
                im->c.duplicated++;
            } else {
                im->c.duplicate_failed++;
            }
        }
    }
    if (n == 0 && im->n_held)
        m = release_held(im, out, m, cap, now, 0, 0);
    return m;
}

static uint16_t impair_flush(void *ctx, pd_pkt **out, uint16_t cap, uint64_t now)
{
    pd_impair *im = ctx;
    return release_held(im, out, 0, cap, now, 0, 1);
}

void pd_impair_stage(pd_impair *im, pd_stage *st)
{
    memset(st, 0, sizeof(*st));
    st->name = "impair";
    st->ctx = im;
    st->process = impair_process;
    st->flush = impair_flush;
}
