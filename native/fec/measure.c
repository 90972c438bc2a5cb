/* Link measurement inside the decoder: loss, burstiness, reordering and
 * recovery delay of one session's packets over a sliding time window.
 *
 * Every source/repair packet has a sequence position (block id, index);
 * a block's packets sit on the wire in a known order (sources round-robin
 * over D interleaved blocks, a block's repair packets right after its last
 * source, pydpdk.analysis.interleaved_positions), so once a block is old
 * enough every packet it should have had is known: received or lost.
 * Blocks are folded into per-bucket counters in wire order; the report sums
 * the buckets of the last window.  D is not on the wire: it is inferred from
 * the source packets (the block id steps back by D - 1 at each round).
 *
 * Burstiness: a Gilbert-Elliott fit (good state loss-free, bad state loss
 * probability h) from the loss correlation at lags 1..MEAS_LAGS.  In the
 * model, with pi_B = p / (p + r) and lambda = 1 - p - r,
 *   a = P(loss) = h pi_B,
 *   c_j = P(loss at t + j | loss at t) = a + h (1 - pi_B) lambda^j,
 * so y_j = c_j - a decays geometrically: lambda = sum_{j>=2} y_j /
 * sum_{j<MEAS_LAGS} y_j, A = h (1 - pi_B) = sum y_j / sum lambda^j, h = A + a,
 * then p = pi_B (1 - lambda), r = (1 - pi_B)(1 - lambda).  Pooling 8 lags
 * keeps the fit steady with a hundred losses in the window.  Without
 * correlation (independent loss) the result is h = 1, p = a, r = 1 - a.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fec_internal.h"

#define MEAS_RECORDS 512u      /* blocks tracked at once (ring by id) */
#define MEAS_BUCKETS 10u       /* the window in 10 slices */
#define MEAS_DEPTH_SPAN 256u   /* source packets per depth estimate */
#define MEAS_MAX_DEPTH 64u
#define MEAS_DELAY_BINS 96u    /* recovery delay: 4 bins per octave of us */
#define MEAS_LAGS 8u           /* loss correlation lags for the fit */
#define MEAS_FAR_CONFIRM 16u   /* packets in a row that move the stream far ahead */

typedef struct meas_rec {
    uint64_t id;
    uint64_t first;            /* arrival of its first packet */
    uint8_t used, k_nominal, k_final, m;
    uint16_t hi;               /* highest index seen + 1 */
    uint64_t bits[4];          /* index received */
    uint32_t toff[FEC_MAX_SYMBOLS + 1]; /* arrival - first, ns-ish units, saturated */
} meas_rec;

typedef struct meas_bucket {
    uint64_t epoch;            /* now / slice; UINT64_MAX: empty */
    uint64_t n, lost, runs;
    uint64_t c_lag[MEAS_LAGS + 1];   /* packets j after a loss */
    uint64_t n_lag[MEAS_LAGS + 1];   /* of them lost */
    uint64_t arrivals, reordered;
    uint64_t rec_n, rec_sum;
    uint32_t run_hist[FEC_RUN_BINS];
    uint32_t rec_hist[MEAS_DELAY_BINS];
} meas_bucket;

struct fec_measure {
    uint64_t window, slice, settle;
    uint32_t session;          /* measured session id, 0: none yet */
    int have_next;
    uint64_t fold_next;        /* next block id to fold */
    uint64_t newest;
    unsigned last_k, last_m;   /* of the last folded block (for wholly lost ones) */
    uint64_t last_time;
    uint32_t hist;             /* wire-order state across folds: bit j-1 = */
    unsigned hist_len;         /* packet j back lost; valid bits */
    int in_run;
    unsigned run_len;
    /* depth inference */
    int have_prev_src;
    uint64_t prev_src;
    unsigned span, span_depth, depth;
    uint64_t span_align, align;
    /* packets far ahead of the stream (a stray, or a jump after an outage) */
    unsigned far_count;
    uint64_t far_id;
    meas_rec *rec;
    meas_bucket b[MEAS_BUCKETS];
};

static int64_t sdiff(uint64_t a, uint64_t b)
{
    uint64_t d = (a - b) & FEC_BLOCK_ID_MASK;
    if (d & (UINT64_C(1) << (FEC_BLOCK_ID_BITS - 1)))
        return (int64_t)d - (int64_t)(UINT64_C(1) << FEC_BLOCK_ID_BITS);
    return (int64_t)d;
}

int fec_measure_create(uint64_t window, uint64_t settle, fec_measure **out)
{
    if (out == NULL || window < MEAS_BUCKETS)
        return -EINVAL;
    fec_measure *M = calloc(1, sizeof(*M));
    if (M == NULL)
        return -ENOMEM;
    M->rec = calloc(MEAS_RECORDS, sizeof(meas_rec));
    if (M->rec == NULL) {
        free(M);
        return -ENOMEM;
    }
    M->window = window;
    M->slice = window / MEAS_BUCKETS;
    M->settle = settle ? settle : M->slice;
    M->depth = 1;
    for (unsigned i = 0; i < MEAS_BUCKETS; i++)
        M->b[i].epoch = UINT64_MAX;
    *out = M;
    return 0;
}

void fec_measure_destroy(fec_measure *M)
{
    if (M == NULL)
        return;
    free(M->rec);
    free(M);
}

static meas_bucket *bucket_at(fec_measure *M, uint64_t t)
{
    const uint64_t e = t / M->slice;
    meas_bucket *b = &M->b[e % MEAS_BUCKETS];
    if (b->epoch != e) {
        if (b->epoch != UINT64_MAX && b->epoch > e)
            return NULL;       /* older than the window: nowhere to count it */
        memset(b, 0, sizeof(*b));
        b->epoch = e;
    }
    return b;
}

static void run_end(fec_measure *M, meas_bucket *b)
{
    if (!M->in_run)
        return;
    unsigned bin = 0;
    for (unsigned len = M->run_len; len > 1 && bin + 1 < FEC_RUN_BINS; len >>= 1)
        bin++;
    if (b)
        b->run_hist[bin]++;
    M->in_run = 0;
    M->run_len = 0;
}

/* One packet in wire order: lost or received. */
static void event(fec_measure *M, meas_bucket *b, int lost)
{
    if (b) {
        b->n++;
        b->lost += (uint64_t)lost;
        for (uint32_t h = M->hist, j = 1; h != 0 && j <= MEAS_LAGS; h >>= 1, j++) {
            if (h & 1) {
                b->c_lag[j]++;
                b->n_lag[j] += (uint64_t)lost;
            }
        }
    }
    if (lost) {
        if (!M->in_run && b)
            b->runs++;
        M->in_run = 1;
        M->run_len++;
    } else {
        run_end(M, b);
    }
    M->hist = ((M->hist << 1) | (uint32_t)lost) & ((1u << MEAS_LAGS) - 1);
}

static void reset_stream(fec_measure *M)
{
    for (unsigned i = 0; i < MEAS_RECORDS; i++)
        M->rec[i].used = 0;
    M->have_next = 0;
    M->have_prev_src = 0;
    M->hist = 0;
    M->in_run = 0;
    M->run_len = 0;
    M->span = M->span_depth = 0;
    M->depth = 1;
    M->far_count = 0;
}

static meas_rec *rec_of(fec_measure *M, uint64_t id)
{
    meas_rec *r = &M->rec[id % MEAS_RECORDS];
    return r->used && r->id == id ? r : NULL;
}

/* Fold the group of D blocks starting at fold_next, in wire order. */
static void fold_group(fec_measure *M)
{
    const unsigned D = M->depth;
    meas_rec *r[MEAS_MAX_DEPTH];
    unsigned k[MEAS_MAX_DEPTH], m[MEAS_MAX_DEPTH], kmax = 0;
    uint64_t t = M->last_time;

    for (unsigned l = 0; l < D; l++) {
        r[l] = rec_of(M, (M->fold_next + l) & FEC_BLOCK_ID_MASK);
        if (r[l]) {
            k[l] = r[l]->k_final ? r[l]->k_final : r[l]->k_nominal;
            m[l] = r[l]->m;
            if (k[l] == 0)     /* only repairs seen and no k: cannot happen */
                k[l] = r[l]->hi;
            M->last_k = k[l];
            M->last_m = m[l];
            t = r[l]->first;
        }
    }
    for (unsigned l = 0; l < D; l++) {
        if (!r[l]) {
            k[l] = M->last_k;  /* wholly lost: as its neighbours */
            m[l] = M->last_m;
        }
        if (k[l] > kmax)
            kmax = k[l];
    }
    meas_bucket *b = M->last_k ? bucket_at(M, t) : NULL;
    M->last_time = t;
    for (unsigned i = 0; i < kmax && M->last_k; i++) {
        for (unsigned l = 0; l < D; l++) {
            if (i >= k[l])
                continue;
            event(M, b, !(r[l] && (r[l]->bits[i >> 6] >> (i & 63) & 1)));
            if (i + 1 == k[l]) {
                for (unsigned j = k[l]; j < k[l] + m[l] && j <= FEC_MAX_SYMBOLS; j++)
                    event(M, b, !(r[l] && (r[l]->bits[j >> 6] >> (j & 63) & 1)));
            }
        }
    }
    for (unsigned l = 0; l < D; l++)
        if (r[l])
            r[l]->used = 0;
    M->fold_next = (M->fold_next + D) & FEC_BLOCK_ID_MASK;
}

/* Fold every group that is old enough (or whose slots are needed). */
static void fold_ready(fec_measure *M, uint64_t now, uint64_t force_upto, int force)
{
    while (M->have_next) {
        const int64_t ahead = sdiff(M->newest, M->fold_next);
        if (ahead < 0)
            break;
        const unsigned D = M->depth;
        /* A group at the window's newest edge may still grow. */
        int ready = force && sdiff(force_upto, M->fold_next) >= 0;
        if (!ready && ahead >= (int64_t)D) {
            uint64_t newest_first = 0;
            int any = 0;
            for (unsigned l = 0; l < D; l++) {
                meas_rec *r = rec_of(M, (M->fold_next + l) & FEC_BLOCK_ID_MASK);
                if (r && (!any || r->first > newest_first)) {
                    newest_first = r->first;
                    any = 1;
                }
            }
            ready = !any || (now >= newest_first && now - newest_first >= M->settle);
        }
        if (!ready)
            break;
        fold_group(M);
    }
}

void fec_measure_packet(fec_measure *M, uint32_t session, const fec_hdr *h, uint64_t now)
{
    if (M == NULL || (h->code != FEC_CODE_XOR && h->code != FEC_CODE_RS))
        return;
    if (session != M->session) {
        M->session = session;
        reset_stream(M);
    }
    meas_bucket *b = bucket_at(M, now);
    /* Far ahead: a stray packet must not make the measurement fold (or
     * skip) millions of blocks; only a run of them moves it there. */
    if (M->have_next && sdiff(h->block_id, M->newest) > (int64_t)MEAS_RECORDS) {
        if (M->far_count > 0 && sdiff(h->block_id, M->far_id) < (int64_t)MEAS_RECORDS &&
            sdiff(M->far_id, h->block_id) < (int64_t)MEAS_RECORDS)
            M->far_count++;
        else
            M->far_count = 1;
        M->far_id = h->block_id;
        if (M->far_count < MEAS_FAR_CONFIRM)
            return;
        reset_stream(M);       /* a jump after an outage: start again there */
    }
    M->far_count = 0;
    if (!M->have_next) {
        M->have_next = 1;
        M->fold_next = h->block_id;
        M->newest = h->block_id;
    }
    const int64_t behind = sdiff(h->block_id, M->fold_next);
    if (behind < 0) {
        /* Its block was folded already (or is far behind): it arrived too
         * late for the measurement, and was counted lost there. */
        if (b) {
            b->arrivals++;
            b->reordered++;
        }
        return;
    }
    if (sdiff(h->block_id, M->newest) > 0)
        M->newest = h->block_id;
    /* Slots needed by this id's ring neighbourhood: fold what they hold. */
    if (behind >= (int64_t)MEAS_RECORDS - MEAS_MAX_DEPTH)
        fold_ready(M, now, (h->block_id - (MEAS_RECORDS - MEAS_MAX_DEPTH)) & FEC_BLOCK_ID_MASK,
                   1);
    if (sdiff(h->block_id, M->fold_next) < 0)
        return;
    meas_rec *r = &M->rec[h->block_id % MEAS_RECORDS];
    if (!r->used || r->id != h->block_id) {
        memset(r, 0, offsetof(meas_rec, toff));
        r->used = 1;
        r->id = h->block_id;
        r->first = now;
        r->m = h->m;
    }
    if (h->kind == FEC_KIND_REPAIR)
        r->k_final = h->k;
    else
        r->k_nominal = h->k;
    const unsigned i = h->index;
    if (r->bits[i >> 6] >> (i & 63) & 1)
        return;                /* duplicate */
    r->bits[i >> 6] |= UINT64_C(1) << (i & 63);
    const uint64_t dt = now >= r->first ? now - r->first : 0;
    r->toff[i] = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
    if (b) {
        b->arrivals++;
        b->reordered += (uint64_t)(i < r->hi);
    }
    if (i + 1u > r->hi)
        r->hi = (uint16_t)(i + 1u);

    /* Depth: sources of D blocks alternate, so the id steps back by D - 1. */
    if (h->kind == FEC_KIND_SOURCE) {
        if (M->have_prev_src) {
            const int64_t back = sdiff(M->prev_src, h->block_id);
            if (back > 0 && back < (int64_t)MEAS_MAX_DEPTH &&
                (unsigned)back + 1 > M->span_depth) {
                M->span_depth = (unsigned)back + 1;
                M->span_align = h->block_id;
            }
        }
        M->have_prev_src = 1;
        M->prev_src = h->block_id;
        if (++M->span >= MEAS_DEPTH_SPAN) {
            unsigned d = M->span_depth ? M->span_depth : 1;
            if (d != M->depth || (d > 1 && M->span_align % d != M->align % d)) {
                M->depth = d;
                M->align = M->span_align;
                /* Re-align the fold pointer forward on a group start (the
                 * few blocks skipped are left out of the measurement). */
                if (d > 1) {
                    uint64_t off = (M->align % d + d - M->fold_next % d) % d;
                    M->fold_next = (M->fold_next + off) & FEC_BLOCK_ID_MASK;
                }
            }
            M->span = 0;
            M->span_depth = 0;
        }
    }
    fold_ready(M, now, 0, 0);
}

/* Recovery delays in bins of a quarter octave of microseconds: x = us + 1,
 * x < 4 one bin each, then 4 bins per power of two (the two bits after the
 * leading one). */
static unsigned delay_bin(uint64_t us)
{
    const uint64_t x = us + 1;
    if (x < 4)
        return (unsigned)(x - 1);
    const unsigned oct = 63u - (unsigned)__builtin_clzll(x);
    const unsigned bin = 3 + 4 * (oct - 2) + (unsigned)((x >> (oct - 2)) & 3);
    return bin < MEAS_DELAY_BINS ? bin : MEAS_DELAY_BINS - 1;
}

/* Largest delay (us) that falls in bin. */
static uint64_t delay_bin_upper(unsigned bin)
{
    if (bin < 3)
        return bin;
    const unsigned j = bin - 3, oct = j / 4 + 2, sub = j % 4;
    return ((uint64_t)(5 + sub) << (oct - 2)) - 2;
}

void fec_measure_rebuilt(fec_measure *M, uint32_t session, uint64_t block_id, unsigned index,
                         uint64_t now)
{
    if (M == NULL || session != M->session)
        return;
    meas_rec *r = rec_of(M, block_id);
    if (r == NULL)
        return;
    const unsigned n = (unsigned)(r->k_final ? r->k_final : r->k_nominal) + r->m;
    int prev = -1, next = -1;
    for (int j = (int)index - 1; j >= 0 && prev < 0; j--)
        if (r->bits[j >> 6] >> (j & 63) & 1)
            prev = j;
    for (unsigned j = index + 1; j < n && j <= FEC_MAX_SYMBOLS && next < 0; j++)
        if (r->bits[j >> 6] >> (j & 63) & 1)
            next = (int)j;
    /* Expected arrival: between its received neighbours, in proportion. */
    double exp_off = 0.0;
    if (prev >= 0 && next >= 0)
        exp_off = r->toff[prev] + ((double)r->toff[next] - r->toff[prev]) *
                  (double)((int)index - prev) / (double)(next - prev);
    else if (prev >= 0)
        exp_off = r->toff[prev];
    const double expected = (double)r->first + exp_off;
    const uint64_t delay = (double)now > expected ? (uint64_t)((double)now - expected) : 0;
    meas_bucket *b = bucket_at(M, now);
    if (b == NULL)
        return;
    b->rec_n++;
    b->rec_sum += delay;
    b->rec_hist[delay_bin(delay / 1000)]++;
}

/* Gilbert-Elliott fit (see the top of this file). */
static void ge_fit(double a, const uint64_t *c_lag, const uint64_t *n_lag, double *p,
                   double *r, double *h)
{
    double y[MEAS_LAGS + 1] = {0};
    double num = 0.0, den = 0.0, sum_y = 0.0;
    if (a <= 0.0 || a >= 1.0) {
        *p = a >= 1.0 ? 1.0 : 0.0;
        *r = a >= 1.0 ? 0.0 : 1.0;
        *h = 1.0;
        return;
    }
    for (unsigned j = 1; j <= MEAS_LAGS; j++) {
        y[j] = c_lag[j] ? (double)n_lag[j] / (double)c_lag[j] - a : 0.0;
        sum_y += y[j];
        if (j >= 2)
            num += y[j];
        if (j < MEAS_LAGS)
            den += y[j];
    }
    double lambda = den > 0.0 && num > 0.0 ? num / den : 0.0;
    if (lambda > 0.999)
        lambda = 0.999;
    double pw = 1.0, sum_pw = 0.0;
    for (unsigned j = 1; j <= MEAS_LAGS; j++) {
        pw *= lambda;
        sum_pw += pw;
    }
    double A = sum_pw > 0.0 && sum_y > 0.0 ? sum_y / sum_pw : 0.0;
    if (A <= 0.0) {
        /* No correlation: independent loss, written as the Gilbert model
         * with h = 1 and lambda = 0. */
        *p = a;
        *r = 1.0 - a;
        *h = 1.0;
        return;
    }
    double hh = A + a;
    if (hh > 1.0)
        hh = 1.0;
    double pi_b = a / hh;
    if (pi_b > 1.0)
        pi_b = 1.0;
    *h = hh;
    *p = pi_b * (1.0 - lambda);
    *r = (1.0 - pi_b) * (1.0 - lambda);
}

int fec_measure_report(fec_measure *M, uint64_t now, fec_link_report *rep)
{
    if (M == NULL || rep == NULL)
        return -EINVAL;
    fold_ready(M, now, 0, 0);
    memset(rep, 0, sizeof(*rep));
    const uint64_t e = now / M->slice;
    uint64_t n = 0, lost = 0, runs = 0;
    uint64_t c_lag[MEAS_LAGS + 1] = {0}, n_lag[MEAS_LAGS + 1] = {0};
    uint64_t arrivals = 0, reordered = 0, rec_n = 0, rec_sum = 0;
    uint64_t recent_n = 0, recent_lost = 0;
    uint64_t hist[MEAS_DELAY_BINS] = {0};
    for (unsigned i = 0; i < MEAS_BUCKETS; i++) {
        const meas_bucket *b = &M->b[i];
        if (b->epoch == UINT64_MAX || b->epoch > e || e - b->epoch >= MEAS_BUCKETS)
            continue;
        n += b->n;
        lost += b->lost;
        /* Blocks are folded a settle time late: the newest fifth of the
         * window is the slices within settle + 2 slices of now. */
        if (e - b->epoch <= 2 + M->settle / M->slice) {
            recent_n += b->n;
            recent_lost += b->lost;
        }
        for (unsigned j = 1; j <= MEAS_LAGS; j++) {
            c_lag[j] += b->c_lag[j];
            n_lag[j] += b->n_lag[j];
        }
        runs += b->runs;
        arrivals += b->arrivals;
        reordered += b->reordered;
        rec_n += b->rec_n;
        rec_sum += b->rec_sum;
        for (unsigned j = 0; j < FEC_RUN_BINS; j++)
            rep->run_hist[j] += b->run_hist[j];
        for (unsigned j = 0; j < MEAS_DELAY_BINS; j++)
            hist[j] += b->rec_hist[j];
    }
    rep->window = M->window;
    rep->session_id = M->session;
    rep->depth = M->depth;
    rep->packets = n;
    rep->lost = lost;
    rep->loss_runs = runs;
    rep->recent_packets = recent_n;
    rep->recent_lost = recent_lost;
    rep->arrivals = arrivals;
    rep->reordered = reordered;
    rep->recovered = rec_n;
    rep->loss_rate = n ? (double)lost / (double)n : 0.0;
    rep->mean_burst = runs ? (double)lost / (double)runs : 0.0;
    rep->reorder_rate = arrivals ? (double)reordered / (double)arrivals : 0.0;
    ge_fit(rep->loss_rate, c_lag, n_lag, &rep->gilbert_p, &rep->gilbert_r, &rep->bad_loss);
    if (rec_n) {
        rep->recovery_mean = (double)rec_sum / (double)rec_n;
        /* p99: upper edge of the bin holding the 99th percentile, in the
         * caller's units (bins are in 1/1000 of them: us for ns clocks). */
        uint64_t want = (rec_n * 99 + 99) / 100, acc = 0;
        for (unsigned j = 0; j < MEAS_DELAY_BINS; j++) {
            acc += hist[j];
            if (acc >= want) {
                rep->recovery_p99 = (double)(delay_bin_upper(j) + 1) * 1000.0;
                break;
            }
        }
        if (rep->recovery_p99 < rep->recovery_mean)
            rep->recovery_p99 = rep->recovery_mean;
    }
    return 0;
}
