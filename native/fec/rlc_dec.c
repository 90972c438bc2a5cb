/* Sliding-window RLC decoder (code 3): incremental Gaussian elimination.
 *
 * Per session (context) the decoder tracks the ESIs [lo, hi): every ESI
 * below lo is delivered, rebuilt or given up; hi is one past the newest ESI
 * known to exist (seen, or covered by a repair).  hi - lo <= FEC_RLC_SPAN.
 * Known sources of the last `keep` ESIs are stored (pool symbols) so that a
 * repair can have them subtracted; what remains is an equation over the
 * unknown sources, kept with the others in reduced row echelon form (each
 * row has a pivot column with coefficient 1 that is zero in every other
 * row).  A row whose only non-zero coefficient is its pivot determines that
 * source: only then is it delivered.  Columns are indexed by ESI modulo
 * FEC_RLC_SPAN (2^48 is a multiple of it, so the mapping survives the wrap).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fec_internal.h"

#define SPAN FEC_RLC_SPAN
#define HIST FEC_RLC_HISTORY
#define MAX_EQ FEC_RLC_MAX_EQ
/* ESIs further ahead than this need confirmation in a confirmed session
 * (half the history, as the block code's far_ahead). */
#define FAR (HIST / 2)

typedef struct rlc_eq {
    uint8_t *sym;             /* pool symbol: the right-hand side */
    uint32_t len;             /* bytes of sym in use (the rest counts as 0) */
    uint64_t pivot;           /* ESI of its pivot column */
} rlc_eq;

struct rlc_ctx {
    int used;
    unsigned slot;            /* owner: session slot and generation */
    uint32_t gen;
    int have_hi;
    uint64_t hi, lo;
    uint64_t base;            /* ESIs before it were never tracked */
    uint64_t last_seen;       /* time of its last packet */
    unsigned keep;            /* known sources stored: ESIs >= hi - keep */
    unsigned n_cand;          /* far-ahead confirmation, as decoder.c */
    uint64_t cand_hi;
    uint64_t cand_key[FEC_CONFIRM_PACKETS];
    uint8_t known[HIST / 8];  /* delivered or rebuilt, by ESI % HIST */
    uint8_t *sym[SPAN];       /* stored source symbols [len16][payload] */
    uint16_t sym_len[SPAN];
    uint64_t missing_since[SPAN];
    unsigned n_eq;
    rlc_eq eq[MAX_EQ];
    uint8_t coef[MAX_EQ][SPAN] __attribute__((aligned(64)));
};

struct rlc_dec {
    fec_decoder *dec;
    const fec_kernel *kern;
    fec_decoder_stats *st;
    uint32_t max_payload;
    uint64_t timeout;
    unsigned n_ctx;
    rlc_ctx *ctx;
};

static int64_t diff(uint64_t a, uint64_t b)
{
    uint64_t d = (a - b) & FEC_BLOCK_ID_MASK;
    if (d & (UINT64_C(1) << (FEC_BLOCK_ID_BITS - 1)))
        return (int64_t)d - (int64_t)(UINT64_C(1) << FEC_BLOCK_ID_BITS);
    return (int64_t)d;
}

static uint64_t add(uint64_t a, int64_t d)
{
    return (a + (uint64_t)d) & FEC_BLOCK_ID_MASK;
}

static int is_known(const rlc_ctx *c, uint64_t e)
{
    return (c->known[(e % HIST) >> 3] >> (e & 7)) & 1;
}

static void set_known(rlc_ctx *c, uint64_t e, int on)
{
    uint8_t *b = &c->known[(e % HIST) >> 3];
    if (on)
        *b |= (uint8_t)(1u << (e & 7));
    else
        *b &= (uint8_t)~(1u << (e & 7));
}

int rlc_dec_create(fec_decoder *dec, const fec_decoder_config *cfg, const fec_kernel *kern,
                   fec_decoder_stats *st, unsigned contexts, rlc_dec **out)
{
    rlc_dec *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    r->dec = dec;
    r->kern = kern;
    r->st = st;
    r->max_payload = cfg->max_payload;
    r->timeout = cfg->timeout;
    r->n_ctx = contexts;
    /* Large and mostly untouched until a session sends code 3. */
    r->ctx = aligned_alloc(64, contexts * sizeof(rlc_ctx));
    if (r->ctx == NULL) {
        free(r);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < contexts; i++) {
        r->ctx[i].used = 0;
        r->ctx[i].n_eq = 0;
        r->ctx[i].have_hi = 0;
        memset(r->ctx[i].sym, 0, sizeof(r->ctx[i].sym));
    }
    *out = r;
    return 0;
}

void rlc_dec_destroy(rlc_dec *r)
{
    if (r == NULL)
        return;
    free(r->ctx);   /* symbols belong to the decoder's pool */
    free(r);
}

unsigned rlc_dec_contexts(const rlc_dec *r)
{
    return r->n_ctx;
}

int rlc_ctx_owner(const rlc_dec *r, unsigned i, unsigned *slot, uint32_t *gen)
{
    if (!r->ctx[i].used)
        return -1;
    *slot = r->ctx[i].slot;
    *gen = r->ctx[i].gen;
    return 0;
}

rlc_ctx *rlc_ctx_find(rlc_dec *r, unsigned slot, uint32_t gen)
{
    for (unsigned i = 0; i < r->n_ctx; i++)
        if (r->ctx[i].used && r->ctx[i].slot == slot && r->ctx[i].gen == gen)
            return &r->ctx[i];
    return NULL;
}

static void drop_eq(rlc_dec *r, rlc_ctx *c, unsigned i)
{
    fec_dec_symbol_put(r->dec, c->eq[i].sym);
    const unsigned last = --c->n_eq;
    if (i != last) {
        c->eq[i] = c->eq[last];
        memcpy(c->coef[i], c->coef[last], SPAN);
    }
}

static void free_stored(rlc_dec *r, rlc_ctx *c, unsigned slot)
{
    if (c->sym[slot] != NULL) {
        fec_dec_symbol_put(r->dec, c->sym[slot]);
        c->sym[slot] = NULL;
    }
}

/* Give everything up: unknown sources are counted unrecoverable. */
static void reset(rlc_dec *r, rlc_ctx *c)
{
    if (c->used && c->have_hi) {
        for (uint64_t e = c->lo; e != c->hi; e = add(e, 1))
            if (!is_known(c, e))
                r->st->unrecoverable++;
    }
    while (c->n_eq > 0)
        drop_eq(r, c, c->n_eq - 1);
    for (unsigned i = 0; i < SPAN; i++)
        free_stored(r, c, i);
    memset(c->known, 0, sizeof(c->known));
    c->have_hi = 0;
    c->n_cand = 0;
    c->keep = 64;
}

rlc_ctx *rlc_ctx_claim(rlc_dec *r, unsigned i, unsigned slot, uint32_t gen)
{
    rlc_ctx *c = &r->ctx[i];
    reset(r, c);
    c->used = 1;
    c->slot = slot;
    c->gen = gen;
    return c;
}

void rlc_ctx_release(rlc_dec *r, unsigned slot, uint32_t gen)
{
    rlc_ctx *c = rlc_ctx_find(r, slot, gen);
    if (c != NULL) {
        reset(r, c);
        c->used = 0;
    }
}

/* A symbol for context c: a free one, else c's oldest stored source, else
 * (evicting old blocks of the block code) whatever the pool can give. */
static uint8_t *take(rlc_dec *r, rlc_ctx *c)
{
    uint8_t *p = fec_dec_symbol_take(r->dec, 0);
    if (p != NULL)
        return p;
    if (c->have_hi) {
        for (int64_t d = SPAN; d > 0; d--) {
            const unsigned slot = (unsigned)(add(c->hi, -d) % SPAN);
            if (c->sym[slot] != NULL) {
                p = c->sym[slot];
                c->sym[slot] = NULL;
                return p;
            }
        }
    }
    return fec_dec_symbol_take(r->dec, 1);
}

/* dst (len *dlen) ^= x * src (slen bytes), growing dst with zeros. */
static void muladd(rlc_dec *r, uint8_t *dst, uint32_t *dlen, uint8_t x, const uint8_t *src,
                   uint32_t slen)
{
    if (slen > *dlen) {
        memset(dst + *dlen, 0, slen - *dlen);
        *dlen = slen;
    }
    r->kern->mad_rows(&dst, &x, 1, src, slen, 0);
}

/* A source's symbol [BE16 len][payload] folded into dst, from its parts. */
static void muladd_source(rlc_dec *r, uint8_t *dst, uint32_t *dlen, uint8_t x,
                          uint32_t len, const uint8_t *payload)
{
    const uint32_t need = FEC_LEN_FIELD + len;
    if (need > *dlen) {
        memset(dst + *dlen, 0, need - *dlen);
        *dlen = need;
    }
    dst[0] ^= fec_gf_mul_table[x][(uint8_t)(len >> 8)];
    dst[1] ^= fec_gf_mul_table[x][(uint8_t)len];
    uint8_t *d = dst + FEC_LEN_FIELD;
    r->kern->mad_rows(&d, &x, 1, payload, len, 0);
}

static void scale(uint8_t *p, uint32_t len, uint8_t x)
{
    const uint8_t *t = fec_gf_mul_table[x];
    for (uint32_t i = 0; i < len; i++)
        p[i] = t[p[i]];
}

/* Row i of the equations minus x times row j (coefficients and symbol). */
static void row_sub(rlc_dec *r, rlc_ctx *c, unsigned i, unsigned j, uint8_t x)
{
    uint8_t *ci = c->coef[i];
    r->kern->mad_rows(&ci, &x, 1, c->coef[j], SPAN, 0);
    muladd(r, c->eq[i].sym, &c->eq[i].len, x, c->eq[j].sym, c->eq[j].len);
}

/* Row i (already reduced against the others' pivots) gets its pivot: the
 * oldest unknown with a non-zero coefficient, scaled to 1 and cleared from
 * every other row.  0, or -1 when the row is all zero (dropped). */
static int settle_row(rlc_dec *r, rlc_ctx *c, unsigned i)
{
    const uint8_t *row = c->coef[i];
    int64_t span = diff(c->hi, c->lo);
    for (int64_t d = 0; d < span; d++) {
        const uint64_t e = add(c->lo, d);
        const uint8_t x = row[e % SPAN];
        if (x == 0)
            continue;
        if (x != 1) {
            const uint8_t inv = fec_gf_inv(x);
            scale(c->coef[i], SPAN, inv);
            scale(c->eq[i].sym, c->eq[i].len, inv);
        }
        c->eq[i].pivot = e;
        for (unsigned j = 0; j < c->n_eq; j++) {
            const uint8_t y = c->coef[j][e % SPAN];
            if (j != i && y != 0)
                row_sub(r, c, j, i, y);
        }
        return 0;
    }
    drop_eq(r, c, i);
    return -1;
}

static int row_solved(const rlc_ctx *c, unsigned i)
{
    const uint64_t *w = (const uint64_t *)c->coef[i];
    const unsigned p = (unsigned)(c->eq[i].pivot % SPAN);
    for (unsigned k = 0; k < SPAN / 8; k++) {
        uint64_t x = w[k];
        if (k == p / 8)
            x &= ~((uint64_t)0xff << (8 * (p % 8)));
        if (x != 0)
            return 0;
    }
    return 1;
}

/* Store a copy of a known source's symbol, if it may still be needed. */
static void store(rlc_dec *r, rlc_ctx *c, uint64_t e, uint32_t len, const uint8_t *payload)
{
    if (diff(e, c->hi) < -(int64_t)c->keep)
        return;
    const unsigned slot = (unsigned)(e % SPAN);
    if (c->sym[slot] != NULL)
        return;
    uint8_t *p = take(r, c);
    if (p == NULL)
        return;
    p[0] = (uint8_t)(len >> 8);
    p[1] = (uint8_t)len;
    memcpy(p + FEC_LEN_FIELD, payload, len);
    c->sym[slot] = p;
    c->sym_len[slot] = (uint16_t)len;
}

static void advance_lo(rlc_ctx *c)
{
    while (c->lo != c->hi && is_known(c, c->lo))
        c->lo = add(c->lo, 1);
}

/* Deliver every source a row now determines.  Returns the number rebuilt. */
static int solve(rlc_dec *r, rlc_ctx *c, const fec_sink *sink)
{
    int rebuilt = 0;
    for (unsigned i = 0; i < c->n_eq;) {
        if (!row_solved(c, i)) {
            i++;
            continue;
        }
        rlc_eq *q = &c->eq[i];
        const uint64_t e = q->pivot;
        const uint8_t *s = q->sym;
        const uint32_t len = q->len >= FEC_LEN_FIELD ? ((uint32_t)s[0] << 8) | s[1] : 0;
        /* A determined symbol must be a well-formed source: length in range,
         * zeros after it; anything else means inconsistent input. */
        int ok = len >= 1 && len <= r->max_payload && FEC_LEN_FIELD + len <= q->len;
        for (uint32_t x = FEC_LEN_FIELD + len; ok && x < q->len; x++)
            ok = s[x] == 0;
        if (!ok) {
            /* The source stays unknown (given up in time, or it arrives). */
            r->st->malformed++;
            drop_eq(r, c, i);
            continue;
        }
        uint8_t *out = sink && sink->get ? sink->get(sink->ctx, len) : NULL;
        if (out != NULL) {
            memcpy(out, s + FEC_LEN_FIELD, len);
            r->st->recovered++;
            rebuilt++;
        } else {
            r->st->no_buffer++;
            r->st->unrecoverable++;
        }
        set_known(c, e, 1);
        /* The row's symbol becomes the stored copy of the source. */
        const unsigned slot = (unsigned)(e % SPAN);
        free_stored(r, c, slot);
        c->sym[slot] = q->sym;
        c->sym_len[slot] = (uint16_t)len;
        q->sym = NULL;
        const unsigned last = --c->n_eq;
        if (i != last) {
            c->eq[i] = c->eq[last];
            memcpy(c->coef[i], c->coef[last], SPAN);
        }
    }
    advance_lo(c);
    return rebuilt;
}

/* Unknown ESI lo is given up: rows that involve it can no longer help. */
static void give_up_lo(rlc_dec *r, rlc_ctx *c)
{
    const uint64_t e = c->lo;
    if (!is_known(c, e)) {
        r->st->unrecoverable++;
        for (unsigned i = c->n_eq; i-- > 0;)
            if (c->coef[i][e % SPAN] != 0)
                drop_eq(r, c, i);
    }
    c->lo = add(e, 1);
    advance_lo(c);
}

/* Move hi forward to new_hi (ESIs in between exist but were not seen). */
static void advance_hi(rlc_dec *r, rlc_ctx *c, uint64_t new_hi, uint64_t now)
{
    int64_t d = diff(new_hi, c->hi);
    if (d <= 0)
        return;
    /* Their delivered bits are another ESI's (HIST back): cleared first. */
    const int64_t clear = d < HIST ? d : HIST;
    for (int64_t x = 0; x < clear; x++)
        set_known(c, add(new_hi, -1 - x), 0);
    /* Unknowns that would leave the span are given up first. */
    while (c->lo != c->hi && diff(new_hi, c->lo) > SPAN)
        give_up_lo(r, c);
    if (c->lo == c->hi && d > SPAN) {
        /* Whole span skipped: the ESIs in the gap are lost, unseen. */
        r->st->unrecoverable += (uint64_t)(d - SPAN);
        c->hi = c->lo = add(new_hi, -SPAN);
        for (unsigned i = 0; i < SPAN; i++)
            free_stored(r, c, i);
        d = SPAN;
    }
    for (int64_t x = 0; x < d; x++) {
        const uint64_t e = add(c->hi, x);
        const unsigned slot = (unsigned)(e % SPAN);
        free_stored(r, c, slot);          /* ESI e - SPAN's, long settled */
        c->missing_since[slot] = now;
        /* Sources that fall behind keep are no longer stored. */
        free_stored(r, c, (unsigned)(add(e, -(int64_t)c->keep) % SPAN));
    }
    c->hi = new_hi;
}

/* Start the context afresh around ESI e (unconfirmed session, or jump). */
static void restart_at(rlc_dec *r, rlc_ctx *c, uint64_t e)
{
    const unsigned keep = c->keep;
    reset(r, c);
    c->keep = keep;
    c->have_hi = 1;
    c->hi = c->lo = c->base = e;
}

/* Far-ahead packets in a confirmed session, as decoder.c's confirm_far. */
static int confirm_far(rlc_dec *r, rlc_ctx *c, const fec_hdr *h, uint64_t at)
{
    const uint64_t key = (h->block_id << 9) | ((uint64_t)h->kind << 8) | h->index;
    if (c->n_cand > 0) {
        const int64_t d = diff(at, c->cand_hi);
        if (d > FAR || d < -FAR)
            c->n_cand = 0;
    }
    for (unsigned i = 0; i < c->n_cand; i++)
        if (c->cand_key[i] == key)
            return 0;
    if (c->n_cand == 0 || diff(at, c->cand_hi) > 0)
        c->cand_hi = at;
    c->cand_key[c->n_cand++] = key;
    if (c->n_cand < FEC_CONFIRM_PACKETS)
        return 0;
    c->n_cand = 0;
    r->st->resyncs++;
    return 1;
}

static void verdict(fec_verdict *v, int action)
{
    v->action = action;
    v->offset = 0;
    v->length = 0;
}

/* Place packet ESI range [first, end) relative to the window: 0 to go on,
 * else the verdict's drop action. */
static int place(rlc_dec *r, rlc_ctx *c, const fec_hdr *h, uint64_t first, uint64_t end,
                 uint64_t now, int settled)
{
    if (!c->have_hi) {
        restart_at(r, c, first);
    } else {
        const int64_t ahead = diff(end, c->hi);
        int64_t behind = diff(c->hi, first);
        /* first after hi but end not: the window straddles the antipode of
         * the 48-bit circle (a lie); take it as far behind. */
        if (behind < 0 && ahead <= 0)
            behind = INT64_MAX;
        if (!settled && (ahead > FAR || behind > HIST)) {
            restart_at(r, c, first);    /* a stray first packet must not fix it */
        } else if (ahead > FAR) {
            if (!confirm_far(r, c, h, end)) {
                r->st->unconfirmed++;
                return FEC_DROP_UNCONFIRMED;
            }
            restart_at(r, c, first);
        } else if (behind > HIST) {
            r->st->late++;
            return FEC_DROP_LATE;
        }
    }
    advance_hi(r, c, end, now);
    const int64_t back = diff(c->hi, first);
    if (diff(first, c->base) < 0 && back > 0 && back <= SPAN) {
        /* Reordered at the start: ESIs before the first one seen exist
         * too; track them from here (none of them was given up).  Their
         * bits and slots are theirs alone (within SPAN of hi): a source
         * already delivered late stays known, with its copy. */
        for (uint64_t e = first; e != c->base; e = add(e, 1))
            if (!is_known(c, e))
                c->missing_since[e % SPAN] = now;
        c->base = c->lo = first;
        advance_lo(c);
    }
    return 0;
}

static int push_source(rlc_dec *r, rlc_ctx *c, const fec_hdr *h, const uint8_t *pkt,
                       const fec_sink *sink, fec_verdict *v, int *delivered)
{
    const uint64_t e = h->block_id;
    const uint8_t *payload = pkt + FEC_HDR_LEN;
    if (is_known(c, e)) {
        r->st->duplicate++;
        verdict(v, FEC_DROP_DUPLICATE);
        return 0;
    }
    set_known(c, e, 1);
    r->st->delivered++;
    *delivered = 1;
    v->action = FEC_DELIVER;
    v->offset = FEC_HDR_LEN;
    v->length = h->length;
    /* Behind lo: it was given up (if tracked), and arrives after all. */
    if (diff(e, c->lo) < 0) {
        if (diff(e, c->base) >= 0 && r->st->unrecoverable > 0)
            r->st->unrecoverable--;
        store(r, c, e, h->length, payload);
        return 0;
    }
    store(r, c, e, h->length, payload);
    /* Substitute it into the equations that wait for it. */
    const unsigned col = (unsigned)(e % SPAN);
    int pivot_row = -1;
    for (unsigned i = 0; i < c->n_eq; i++) {
        const uint8_t x = c->coef[i][col];
        if (x == 0)
            continue;
        muladd_source(r, c->eq[i].sym, &c->eq[i].len, x, h->length, payload);
        c->coef[i][col] = 0;
        if (c->eq[i].pivot == e)
            pivot_row = (int)i;
    }
    advance_lo(c);
    if (pivot_row >= 0)
        settle_row(r, c, (unsigned)pivot_row);
    return solve(r, c, sink);
}

static int push_repair(rlc_dec *r, rlc_ctx *c, const fec_hdr *h, const uint8_t *pkt,
                       const fec_sink *sink, fec_verdict *v, int *accepted)
{
    const uint64_t first = h->block_id;
    const unsigned n = h->k;
    uint8_t cf[FEC_RLC_MAX_WINDOW];
    unsigned unknown = 0;
    verdict(v, FEC_CONSUMED);
    if (diff(first, c->lo) < 0) {
        /* Sources behind lo are only usable when known and stored. */
        if (diff(c->hi, first) > SPAN) {
            r->st->late++;
            verdict(v, FEC_DROP_LATE);
            return 0;
        }
    }
    for (unsigned j = 0; j < n; j++) {
        const uint64_t e = add(first, j);
        if (is_known(c, e)) {
            if (c->sym[e % SPAN] == NULL) {
                r->st->late++;          /* its copy is gone: cannot subtract */
                verdict(v, FEC_DROP_LATE);
                return 0;
            }
        } else if (diff(e, c->lo) < 0) {
            r->st->late++;              /* involves a source given up */
            verdict(v, FEC_DROP_LATE);
            return 0;
        } else {
            unknown++;
        }
    }
    *accepted = 1;
    if (unknown == 0) {
        r->st->repair_unused++;
        return 0;
    }
    if (c->n_eq == MAX_EQ) {
        /* Bounded: the row of the oldest pivot goes. */
        unsigned old = 0;
        for (unsigned i = 1; i < c->n_eq; i++)
            if (diff(c->eq[i].pivot, c->eq[old].pivot) < 0)
                old = i;
        drop_eq(r, c, old);
    }
    uint8_t *buf = take(r, c);
    if (buf == NULL) {
        r->st->repair_unused++;
        return 0;
    }
    const unsigned i = c->n_eq++;
    rlc_eq *q = &c->eq[i];
    q->sym = buf;
    q->len = FEC_LEN_FIELD + h->length;
    memcpy(buf, pkt + FEC_HDR_LEN, q->len);
    memset(c->coef[i], 0, SPAN);
    fec_rlc_coefs(first, n, h->index, cf);
    for (unsigned j = 0; j < n; j++) {
        const uint64_t e = add(first, j);
        const unsigned slot = (unsigned)(e % SPAN);
        if (!is_known(c, e)) {
            c->coef[i][slot] = cf[j];
        } else if (c->sym[slot] != NULL) {
            muladd(r, buf, &q->len, cf[j], c->sym[slot], FEC_LEN_FIELD + c->sym_len[slot]);
        } else {
            /* take() gave this copy up for the new row: cannot subtract. */
            drop_eq(r, c, i);
            r->st->repair_unused++;
            return 0;
        }
    }
    /* Reduce against the rows there are, then take a pivot. */
    for (unsigned j = 0; j < i; j++) {
        const uint8_t x = c->coef[i][c->eq[j].pivot % SPAN];
        if (x != 0)
            row_sub(r, c, i, j, x);
    }
    if (settle_row(r, c, i) < 0) {
        r->st->repair_unused++;         /* adds nothing to what is known */
        return 0;
    }
    return solve(r, c, sink);
}

int rlc_ctx_push(rlc_dec *r, rlc_ctx *c, const fec_hdr *h, const uint8_t *pkt, uint64_t now,
                 int settled, const fec_sink *sink, fec_verdict *v, int *accepted,
                 int *delivered)
{
    *accepted = 0;
    *delivered = 0;
    const int repair = h->kind == FEC_KIND_REPAIR;
    const uint64_t first = h->block_id;
    const uint64_t end = add(first, repair ? h->k : 1);
    if (repair || c->keep < 2u * h->k + 32u) {
        /* Keep sources for twice the widest window seen, plus reordering. */
        const unsigned want = 2u * h->k + 32u;
        if (want > c->keep)
            c->keep = want < SPAN ? want : SPAN;
    }
    const int drop = place(r, c, h, first, end, now, settled);
    if (drop) {
        verdict(v, drop);
        return 0;
    }
    c->last_seen = now;
    if (!repair) {
        int n = push_source(r, c, h, pkt, sink, v, delivered);
        *accepted = *delivered;
        if (*accepted)
            c->n_cand = 0;      /* confirmation needs far packets in a row */
        if (n > 0)
            *delivered = 1;
        return n;
    }
    int n = push_repair(r, c, h, pkt, sink, v, accepted);
    if (n > 0)
        *delivered = 1;
    if (*accepted)
        c->n_cand = 0;          /* confirmation needs far packets in a row */
    return n;
}

void rlc_dec_expire(rlc_dec *r, uint64_t now)
{
    if (r->timeout == 0)
        return;
    for (unsigned i = 0; i < r->n_ctx; i++) {
        rlc_ctx *c = &r->ctx[i];
        if (!c->used || !c->have_hi)
            continue;
        while (c->lo != c->hi && now >= c->missing_since[c->lo % SPAN] &&
               now - c->missing_since[c->lo % SPAN] >= r->timeout) {
            if (!is_known(c, c->lo))
                r->st->blocks_expired++;
            give_up_lo(r, c);
        }
        /* Idle and settled: the stored copies go back to the pool. */
        if (c->lo == c->hi && c->n_eq == 0 && now >= c->last_seen &&
            now - c->last_seen >= r->timeout) {
            for (unsigned s = 0; s < SPAN; s++)
                free_stored(r, c, s);
        }
    }
}
