#include "impair.h"

#include <errno.h>
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
};

static int valid_prob(double p) { return p >= 0.0 && p <= 1.0; }

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
