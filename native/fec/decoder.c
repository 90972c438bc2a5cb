/* Streaming decoder: hands source packets on at once, keeps copies of the
 * symbols of blocks in flight (bounded, preallocated) and rebuilds lost
 * sources as soon as enough symbols arrived.  State is kept per session id
 * (fec.h, "Sessions"); the block and symbol pools are shared. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fec_internal.h"

typedef struct dec_block {
    uint64_t id;
    uint64_t first_seen;
    uint16_t sess;            /* session slot */
    uint8_t code, m;
    uint8_t k_nominal;        /* from source headers; 0 until one arrived */
    uint8_t k_final;          /* from repair headers; 0 until one arrived */
    uint16_t sym_len;         /* repair L; 0 until a repair arrived */
    uint16_t max_src_len;
    uint16_t max_src_index;   /* highest source index seen + 1 */
    uint16_t n_src, n_rep;
    uint8_t have[FEC_MAX_SYMBOLS + 1];  /* delivered/rebuilt source, received repair */
    uint16_t src_len[FEC_MAX_SYMBOLS];
    uint8_t *sym[FEC_MAX_SYMBOLS];      /* stored copies, from the symbol pool */
} dec_block;

/* Blocks recently finished, so late packets of theirs are recognised.  An
 * entry belongs to the session whose generation it carries (a slot reused
 * by another session never sees the previous one's history). */
typedef struct finished_block {
    uint64_t id;
    uint32_t gen;             /* 0: empty */
    uint32_t given_up;
    uint64_t delivered[4];    /* bit i: source i was delivered or rebuilt */
} finished_block;

typedef struct dec_session {
    uint32_t id;              /* 0: slot free */
    uint32_t gen;
    uint64_t last_used;       /* decoder tick of its last packet (LRU) */
    uint32_t accepted;        /* packets taken into its state (saturates) */
    unsigned n_blocks;        /* its blocks in flight */
    int have_newest;
    uint64_t newest;          /* newest block id of its window */
    /* A far-ahead region waiting for confirmation. */
    unsigned n_cand;
    uint64_t cand_hi;
    uint64_t cand_key[FEC_CONFIRM_PACKETS];
    finished_block *finished; /* n_finished entries */
} dec_session;

struct fec_decoder {
    fec_decoder_config cfg;
    const fec_kernel *kern;
    fec_matrix_cache *cache;
    size_t sym_size;          /* bytes per stored symbol */
    uint8_t *sym_storage;
    uint8_t **sym_free;
    unsigned n_sym_free;
    dec_block *blocks;
    dec_block **block_free;
    unsigned n_block_free;
    dec_block **active;       /* oldest first */
    unsigned n_active;
    unsigned n_finished;      /* history entries per session */
    int64_t far_ahead;        /* ids further ahead need confirmation */
    finished_block *finished_storage;
    dec_session *sessions;
    unsigned max_sessions;
    unsigned n_sessions;
    int live;                 /* slot of the live session, -1: none */
    unsigned last_slot;       /* lookup hint: slot of the previous packet */
    uint64_t tick;            /* packets seen, the sessions' LRU clock */
    uint32_t next_gen;
    fec_decoder_stats st;
    rlc_dec *rlc;             /* code-3 state of up to FEC_RLC_CONTEXTS sessions */
    fec_measure *meas;        /* link measurement, NULL: off */
    uint64_t now;             /* of the current push (measurement) */
};

int fec_decoder_create(const fec_decoder_config *cfg, fec_decoder **out)
{
    if (cfg == NULL || out == NULL)
        return -EINVAL;
    if (cfg->max_payload == 0 || cfg->max_payload > FEC_MAX_PAYLOAD)
        return -EINVAL;
    if (cfg->max_blocks == 0 || cfg->max_blocks > 65536)
        return -EINVAL;
    if (cfg->max_symbols < FEC_MAX_SYMBOLS || cfg->max_symbols > (1u << 24))
        return -EINVAL;
    const unsigned max_sessions = cfg->max_sessions ? cfg->max_sessions
                                                    : FEC_DEFAULT_MAX_SESSIONS;
    /* At least 2: a new session must always find a slot that is not live. */
    if (max_sessions < 2 || max_sessions > FEC_MAX_SESSIONS)
        return -EINVAL;
    /* Each session keeps 4 * max_blocks history entries: bound the total. */
    if ((uint64_t)max_sessions * cfg->max_blocks > FEC_MAX_SESSION_BLOCKS)
        return -EINVAL;
    fec_init();
    fec_decoder *dec = calloc(1, sizeof(*dec));
    if (dec == NULL)
        return -ENOMEM;
    dec->cfg = *cfg;
    dec->cfg.max_sessions = max_sessions;
    dec->max_sessions = max_sessions;
    dec->kern = cfg->kernel ? cfg->kernel : fec_kernel_default();
    dec->sym_size = ((size_t)FEC_LEN_FIELD + cfg->max_payload + 63) & ~(size_t)63;
    dec->n_finished = 4 * cfg->max_blocks;
    /* Half the history: a forged id that moves the window this far leaves
     * the genuine stream inside the history, so it is not taken as late. */
    dec->far_ahead = (int64_t)dec->n_finished / 2;
    dec->live = -1;
    dec->next_gen = 1;
    dec->sym_storage = aligned_alloc(64, dec->sym_size * cfg->max_symbols);
    dec->sym_free = calloc(cfg->max_symbols, sizeof(uint8_t *));
    dec->blocks = calloc(cfg->max_blocks, sizeof(dec_block));
    dec->block_free = calloc(cfg->max_blocks, sizeof(dec_block *));
    dec->active = calloc(cfg->max_blocks, sizeof(dec_block *));
    dec->sessions = calloc(max_sessions, sizeof(dec_session));
    dec->finished_storage = calloc((size_t)max_sessions * dec->n_finished,
                                   sizeof(finished_block));
    int rc = 0;
    if (dec->sym_storage == NULL || dec->sym_free == NULL || dec->blocks == NULL ||
        dec->block_free == NULL || dec->active == NULL || dec->sessions == NULL ||
        dec->finished_storage == NULL)
        rc = -ENOMEM;
    if (rc == 0 && cfg->cache_entries > 0)
        rc = fec_matrix_cache_create(cfg->cache_entries, &dec->cache);
    if (rc == 0)
        rc = rlc_dec_create(dec, cfg, dec->kern, &dec->st,
                            max_sessions < FEC_RLC_CONTEXTS ? max_sessions : FEC_RLC_CONTEXTS,
                            &dec->rlc);
    if (rc == 0 && cfg->measure_window)
        rc = fec_measure_create(cfg->measure_window, cfg->timeout, &dec->meas);
    if (rc < 0) {
        fec_decoder_destroy(dec);
        return rc;
    }
    for (unsigned i = 0; i < cfg->max_symbols; i++)
        dec->sym_free[i] = dec->sym_storage + (size_t)i * dec->sym_size;
    dec->n_sym_free = cfg->max_symbols;
    for (unsigned i = 0; i < cfg->max_blocks; i++)
        dec->block_free[i] = &dec->blocks[i];
    dec->n_block_free = cfg->max_blocks;
    for (unsigned i = 0; i < max_sessions; i++)
        dec->sessions[i].finished = dec->finished_storage + (size_t)i * dec->n_finished;
    *out = dec;
    return 0;
}

void fec_decoder_destroy(fec_decoder *dec)
{
    if (dec == NULL)
        return;
    fec_matrix_cache_destroy(dec->cache);
    rlc_dec_destroy(dec->rlc);
    fec_measure_destroy(dec->meas);
    free(dec->sym_storage);
    free(dec->sym_free);
    free(dec->blocks);
    free(dec->block_free);
    free(dec->active);
    free(dec->sessions);
    free(dec->finished_storage);
    free(dec);
}

void fec_decoder_get_stats(const fec_decoder *dec, fec_decoder_stats *st)
{
    *st = dec->st;
}

unsigned fec_decoder_blocks_in_flight(const fec_decoder *dec)
{
    return dec->n_active;
}

unsigned fec_decoder_symbols_free(const fec_decoder *dec)
{
    return dec->n_sym_free;
}

unsigned fec_decoder_sessions(const fec_decoder *dec)
{
    return dec->n_sessions;
}

uint32_t fec_decoder_live_session(const fec_decoder *dec)
{
    return dec->live >= 0 ? dec->sessions[dec->live].id : 0;
}

/* a - b in 48-bit serial-number arithmetic (RFC 1982 style). */
static int64_t id_diff(uint64_t a, uint64_t b)
{
    uint64_t d = (a - b) & FEC_BLOCK_ID_MASK;
    if (d & (UINT64_C(1) << (FEC_BLOCK_ID_BITS - 1)))
        return (int64_t)d - (int64_t)(UINT64_C(1) << FEC_BLOCK_ID_BITS);
    return (int64_t)d;
}

static unsigned block_k(const dec_block *b)
{
    return b->k_final ? b->k_final : b->k_nominal;
}

/* A packet of session s was taken into its state; delivered: it (or a
 * packet rebuilt with it) was handed on. */
static void note_accepted(fec_decoder *dec, unsigned s, int delivered)
{
    dec_session *S = &dec->sessions[s];
    S->n_cand = 0;      /* confirmation needs far packets in a row */
    if (S->accepted < UINT32_MAX)
        S->accepted++;
    if (delivered && S->accepted >= FEC_SESSION_CONFIRM)
        dec->live = (int)s;
}

/* Retire a block: remember it as finished, return its symbols and slot. */
static void finish_block(fec_decoder *dec, dec_block *b, int given_up)
{
    dec_session *S = &dec->sessions[b->sess];
    if (given_up) {
        const unsigned k = block_k(b);
        unsigned missing = 0;
        for (unsigned i = 0; i < k; i++)
            missing += !b->have[i];
        dec->st.unrecoverable += missing;
    }
    finished_block *f = &S->finished[b->id % dec->n_finished];
    memset(f, 0, sizeof(*f));
    f->id = b->id;
    f->gen = S->gen;
    f->given_up = (uint32_t)given_up;
    for (unsigned i = 0; i < FEC_MAX_SYMBOLS; i++) {
        if (i < block_k(b) && b->have[i])
            f->delivered[i >> 6] |= UINT64_C(1) << (i & 63);
        if (b->sym[i] != NULL) {
            dec->sym_free[dec->n_sym_free++] = b->sym[i];
            b->sym[i] = NULL;
        }
    }
    for (unsigned i = 0; i < dec->n_active; i++) {
        if (dec->active[i] == b) {
            memmove(&dec->active[i], &dec->active[i + 1],
                    (dec->n_active - i - 1) * sizeof(dec_block *));
            dec->n_active--;
            break;
        }
    }
    S->n_blocks--;
    dec->block_free[dec->n_block_free++] = b;
}

/* Make room: give up the oldest block of a session that is not the live
 * one; only when the live session holds every block, its oldest. */
static void give_up_oldest(fec_decoder *dec, const dec_block *keep)
{
    dec_block *victim = NULL;
    const int live = dec->live;
    const int only_live = live >= 0 && dec->sessions[live].n_blocks == dec->n_active;
    for (unsigned i = 0; i < dec->n_active && !only_live; i++) {
        dec_block *b = dec->active[i];
        if (b != keep && (int)b->sess != live) {
            victim = b;
            break;
        }
    }
    for (unsigned i = 0; i < dec->n_active && victim == NULL; i++)
        if (dec->active[i] != keep)
            victim = dec->active[i];
    if (victim != NULL) {
        dec->st.blocks_evicted++;
        finish_block(dec, victim, 1);
    }
}

/* A symbol buffer, giving up old blocks when the pool is empty. */
static uint8_t *take_symbol(fec_decoder *dec, const dec_block *keep)
{
    while (dec->n_sym_free == 0 && dec->n_active > 1)
        give_up_oldest(dec, keep);
    if (dec->n_sym_free == 0)
        return NULL;
    return dec->sym_free[--dec->n_sym_free];
}

static void expire(fec_decoder *dec, uint64_t now, int *count)
{
    if (dec->cfg.timeout == 0)
        return;
    rlc_dec_expire(dec->rlc, now);
    while (dec->n_active > 0 && now >= dec->active[0]->first_seen &&
           now - dec->active[0]->first_seen >= dec->cfg.timeout) {
        dec->st.blocks_expired++;
        finish_block(dec, dec->active[0], 1);
        if (count)
            (*count)++;
    }
}

int fec_decoder_poll(fec_decoder *dec, uint64_t now)
{
    int count = 0;
    if (dec == NULL)
        return -EINVAL;
    expire(dec, now, &count);
    return count;
}

/* Drop session s and everything it holds (its blocks are given up). */
static void evict_session(fec_decoder *dec, unsigned s)
{
    dec_session *S = &dec->sessions[s];
    for (unsigned i = dec->n_active; S->n_blocks > 0 && i-- > 0;) {
        if (i < dec->n_active && dec->active[i]->sess == s) {
            dec->st.blocks_evicted++;
            finish_block(dec, dec->active[i], 1);
        }
    }
    rlc_ctx_release(dec->rlc, s, S->gen);
    finished_block *keep = S->finished;
    memset(S, 0, sizeof(*S));
    S->finished = keep;
    dec->n_sessions--;
    dec->st.sessions_evicted++;
}

/* The slot of session id, opening one (and evicting another) if needed.
 * Victim order: a free slot; else, never the live session, an unconfirmed
 * session before a confirmed one, the least recently used among equals. */
static unsigned session_slot(fec_decoder *dec, uint32_t id)
{
    dec_session *ss = dec->sessions;
    if (ss[dec->last_slot].id == id)
        return dec->last_slot;
    int free_slot = -1, victim = -1;
    for (unsigned i = 0; i < dec->max_sessions; i++) {
        if (ss[i].id == id) {
            dec->last_slot = i;
            return i;
        }
        if (ss[i].id == 0) {
            if (free_slot < 0)
                free_slot = (int)i;
            continue;
        }
        if ((int)i == dec->live)
            continue;
        if (victim < 0) {
            victim = (int)i;
            continue;
        }
        const int conf_i = ss[i].accepted >= FEC_SESSION_CONFIRM;
        const int conf_v = ss[victim].accepted >= FEC_SESSION_CONFIRM;
        if (conf_i < conf_v || (conf_i == conf_v && ss[i].last_used < ss[victim].last_used))
            victim = (int)i;
    }
    unsigned s;
    if (free_slot >= 0) {
        s = (unsigned)free_slot;
    } else {
        s = (unsigned)victim;   /* max_sessions >= 2: one is not live */
        evict_session(dec, s);
    }
    ss[s].id = id;
    ss[s].gen = dec->next_gen++;
    if (dec->next_gen == 0)
        dec->next_gen = 1;   /* 0 marks empty history entries */
    dec->n_sessions++;
    dec->st.sessions_opened++;
    dec->last_slot = s;
    return s;
}

/* Rebuild the block's missing sources; on success hand them out. */
static int recover(fec_decoder *dec, dec_block *b, const fec_sink *sink)
{
    const unsigned k = b->k_final, m = b->m, L = b->sym_len;
    const size_t S = FEC_LEN_FIELD + (size_t)L;
    uint8_t *sym[FEC_MAX_SYMBOLS];
    uint8_t present[FEC_MAX_SYMBOLS];
    uint8_t missing[FEC_MAX_SYMBOLS];
    unsigned n_missing = 0;

    for (unsigned i = 0; i < k + m; i++) {
        present[i] = b->have[i] && b->sym[i] != NULL;
        sym[i] = b->sym[i];
        if (i < k && present[i]) {
            /* Stored sources are [length][payload]: zero-pad to the symbol. */
            memset(sym[i] + FEC_LEN_FIELD + b->src_len[i], 0, L - b->src_len[i]);
        }
    }
    for (unsigned i = 0; i < k; i++) {
        if (present[i])
            continue;
        if (b->have[i]) { /* delivered but not stored (lying headers): give back */
            for (unsigned j = 0; j < n_missing; j++)
                dec->sym_free[dec->n_sym_free++] = sym[missing[j]];
            return 0;
        }
        uint8_t *buf = take_symbol(dec, b);
        if (buf == NULL) {
            for (unsigned j = 0; j < n_missing; j++) {
                dec->sym_free[dec->n_sym_free++] = sym[missing[j]];
                sym[missing[j]] = NULL;
            }
            return 0;
        }
        sym[i] = buf;
        missing[n_missing++] = (uint8_t)i;
    }
    int rc = fec_decode_block(dec->kern, dec->cache, b->code, k, m, sym, present, S);
    int ok = rc == (int)n_missing;
    /* A rebuilt symbol must carry a length within L and zero padding beyond
     * it; anything else means inconsistent input: deliver nothing. */
    for (unsigned j = 0; ok && j < n_missing; j++) {
        const uint8_t *s = sym[missing[j]];
        const unsigned len = ((unsigned)s[0] << 8) | s[1];
        if (len == 0 || len > L) {
            ok = 0;
            break;
        }
        for (size_t x = FEC_LEN_FIELD + len; x < S; x++)
            if (s[x] != 0) {
                ok = 0;
                break;
            }
    }
    int rebuilt = 0;
    for (unsigned j = 0; j < n_missing; j++) {
        const unsigned i = missing[j];
        uint8_t *s = sym[i];
        if (ok) {
            const uint32_t len = ((uint32_t)s[0] << 8) | s[1];
            uint8_t *out = sink && sink->get ? sink->get(sink->ctx, len) : NULL;
            if (out != NULL) {
                memcpy(out, s + FEC_LEN_FIELD, len);
                dec->st.recovered++;
                rebuilt++;
                b->have[i] = 1;
                if (dec->meas)
                    fec_measure_rebuilt(dec->meas, dec->sessions[b->sess].id, b->id, i,
                                        dec->now);
            } else {
                dec->st.no_buffer++;
            }
        }
        dec->sym_free[dec->n_sym_free++] = s;
    }
    if (rebuilt > 0 && dec->sessions[b->sess].accepted >= FEC_SESSION_CONFIRM)
        dec->live = b->sess;
    /* The block is settled either way; whatever is still missing is lost. */
    finish_block(dec, b, 1);
    return rebuilt;
}

static dec_block *find_active(fec_decoder *dec, unsigned sess, uint64_t id)
{
    for (unsigned i = dec->n_active; i-- > 0;)
        if (dec->active[i]->id == id && dec->active[i]->sess == sess)
            return dec->active[i];
    return NULL;
}

static void verdict(fec_verdict *v, int action)
{
    v->action = action;
    v->offset = 0;
    v->length = 0;
}

/* A block id more than far_ahead ahead of the session's newest: 1 when it
 * completes a confirmation (the window has moved to the far region), 0 when
 * the packet must be dropped as unconfirmed. */
static int confirm_far(fec_decoder *dec, dec_session *S, const fec_hdr *h)
{
    /* Distinct packets only: a duplicated stray packet confirms nothing. */
    const uint64_t key = (h->block_id << 9) | ((uint64_t)h->kind << 8) | h->index;
    if (S->n_cand > 0) {
        const int64_t d = id_diff(h->block_id, S->cand_hi);
        if (d > dec->far_ahead || d < -dec->far_ahead)
            S->n_cand = 0;           /* another region: start again from here */
    }
    for (unsigned i = 0; i < S->n_cand; i++)
        if (S->cand_key[i] == key)
            return 0;
    if (S->n_cand == 0 || id_diff(h->block_id, S->cand_hi) > 0)
        S->cand_hi = h->block_id;
    S->cand_key[S->n_cand++] = key;
    if (S->n_cand < FEC_CONFIRM_PACKETS)
        return 0;
    S->newest = S->cand_hi;
    S->n_cand = 0;
    dec->st.resyncs++;
    return 1;
}

/* ---- code 3 (sliding-window RLC): the glue to rlc_dec.c ---------------- */

uint8_t *fec_dec_symbol_take(fec_decoder *dec, int evict_blocks)
{
    if (evict_blocks)
        return take_symbol(dec, NULL);
    return dec->n_sym_free > 0 ? dec->sym_free[--dec->n_sym_free] : NULL;
}

void fec_dec_symbol_put(fec_decoder *dec, uint8_t *sym)
{
    dec->sym_free[dec->n_sym_free++] = sym;
}

/* The RLC context of session s, taking one if it has none: a free or stale
 * one, else that of a session that is not live (unconfirmed first, least
 * recently used among equals), as for the session table. */
static rlc_ctx *rlc_context(fec_decoder *dec, unsigned s)
{
    dec_session *ss = dec->sessions;
    rlc_ctx *c = rlc_ctx_find(dec->rlc, s, ss[s].gen);
    if (c != NULL)
        return c;
    int victim = -1;
    unsigned vslot = 0;
    for (unsigned i = 0; i < rlc_dec_contexts(dec->rlc); i++) {
        unsigned slot;
        uint32_t gen;
        if (rlc_ctx_owner(dec->rlc, i, &slot, &gen) < 0 || ss[slot].gen != gen ||
            ss[slot].id == 0) {
            victim = (int)i;
            break;
        }
        if ((int)slot == dec->live || slot == s)
            continue;
        if (victim < 0) {
            victim = (int)i;
            vslot = slot;
            continue;
        }
        const int conf_i = ss[slot].accepted >= FEC_SESSION_CONFIRM;
        const int conf_v = ss[vslot].accepted >= FEC_SESSION_CONFIRM;
        if (conf_i < conf_v || (conf_i == conf_v && ss[slot].last_used < ss[vslot].last_used)) {
            victim = (int)i;
            vslot = slot;
        }
    }
    /* At least 2 contexts and one live session: there is always a victim. */
    return rlc_ctx_claim(dec->rlc, (unsigned)victim, s, ss[s].gen);
}

static int push_rlc(fec_decoder *dec, unsigned s, const fec_hdr *h, const uint8_t *pkt,
                    uint64_t now, const fec_sink *sink, fec_verdict *v)
{
    rlc_ctx *c = rlc_context(dec, s);
    int accepted = 0, delivered = 0;
    const int settled = dec->sessions[s].accepted >= FEC_SESSION_CONFIRM;
    int n = rlc_ctx_push(dec->rlc, c, h, pkt, now, settled, sink, v, &accepted, &delivered);
    if (accepted)
        note_accepted(dec, s, delivered);
    else if (delivered && dec->sessions[s].accepted >= FEC_SESSION_CONFIRM)
        dec->live = (int)s;
    return n;
}

int fec_decoder_push(fec_decoder *dec, const uint8_t *pkt, uint32_t len, uint64_t now,
                     const fec_sink *sink, fec_verdict *v)
{
    fec_hdr h;
    if (dec == NULL || v == NULL || (pkt == NULL && len > 0))
        return -EINVAL;
    dec->st.received++;
    dec->tick++;
    expire(dec, now, NULL);
    if (fec_hdr_parse(pkt, len, &h) < 0 || h.length > dec->cfg.max_payload) {
        dec->st.malformed++;
        verdict(v, FEC_DROP_MALFORMED);
        return 0;
    }
    if (h.kind == FEC_KIND_CONTROL) {
        /* For the feedback layer; no decoder state changes. */
        dec->st.control++;
        v->action = FEC_CONTROL;
        v->offset = FEC_HDR_LEN;
        v->length = h.length;
        return 0;
    }
    /* The measurement follows the live session (any, before there is one). */
    dec->now = now;
    if (dec->meas && (dec->live < 0 || dec->sessions[dec->live].id == h.session_id))
        fec_measure_packet(dec->meas, h.session_id, &h, now);
    const int repair = h.kind == FEC_KIND_REPAIR;
    const unsigned s = session_slot(dec, h.session_id);
    dec_session *S = &dec->sessions[s];
    S->last_used = dec->tick;
    if (h.code == FEC_CODE_RLC)
        return push_rlc(dec, s, &h, pkt, now, sink, v);

    dec_block *b = find_active(dec, s, h.block_id);
    if (b == NULL) {
        finished_block *f = &S->finished[h.block_id % dec->n_finished];
        if (f->gen == S->gen && f->id == h.block_id) {
            if (repair) {
                dec->st.repair_unused++;
                note_accepted(dec, s, 0);
                verdict(v, FEC_CONSUMED);
                return 0;
            }
            const uint64_t bit = UINT64_C(1) << (h.index & 63);
            if (f->delivered[h.index >> 6] & bit) {
                dec->st.duplicate++;
                verdict(v, FEC_DROP_DUPLICATE);
                return 0;
            }
            /* Arrived after its block was settled: still a good packet. */
            f->delivered[h.index >> 6] |= bit;
            if (f->given_up && dec->st.unrecoverable > 0)
                dec->st.unrecoverable--;
            dec->st.delivered++;
            note_accepted(dec, s, 1);
            v->action = FEC_DELIVER;
            v->offset = FEC_HDR_LEN;
            v->length = h.length;
            return 0;
        }
        const int64_t ahead = S->have_newest ? id_diff(h.block_id, S->newest) : 0;
        /* Until the session is confirmed its window just follows the
         * blocks it opens: a stray first packet must not set it for good. */
        const int settled = S->accepted >= FEC_SESSION_CONFIRM;
        /* Older than the finished history: it may be a duplicate we can no
         * longer recognise. */
        if (settled && ahead <= -(int64_t)dec->n_finished) {
            dec->st.late++;
            verdict(v, FEC_DROP_LATE);
            return 0;
        }
        /* Far ahead: only confirmed traffic moves the window that far. */
        if (settled && ahead > dec->far_ahead && !confirm_far(dec, S, &h)) {
            dec->st.unconfirmed++;
            verdict(v, FEC_DROP_UNCONFIRMED);
            return 0;
        }
        if (dec->n_block_free == 0)
            give_up_oldest(dec, NULL);
        b = dec->block_free[--dec->n_block_free];
        memset(b, 0, offsetof(dec_block, sym));
        b->id = h.block_id;
        b->sess = (uint16_t)s;
        b->first_seen = now;
        b->code = h.code;
        b->m = h.m;
        dec->active[dec->n_active++] = b;
        S->n_blocks++;
        if (!S->have_newest || !settled || id_diff(h.block_id, S->newest) > 0) {
            S->newest = h.block_id;
            S->have_newest = 1;
        }
    }

    /* Every packet of a block must agree on its parameters. */
    int consistent = h.code == b->code && h.m == b->m;
    if (consistent && repair) {
        if (b->k_final)
            consistent = h.k == b->k_final && h.length == b->sym_len;
        else
            consistent = (!b->k_nominal || h.k <= b->k_nominal) &&
                         b->max_src_index <= h.k && b->max_src_len <= h.length;
    } else if (consistent) {
        consistent = (!b->k_nominal || h.k == b->k_nominal) &&
                     (!b->k_final || (h.index < b->k_final && h.length <= b->sym_len &&
                                      h.k >= b->k_final));
    }
    if (!consistent) {
        dec->st.malformed++;
        verdict(v, FEC_DROP_MALFORMED);
        return 0;
    }
    if (b->have[h.index]) {
        dec->st.duplicate++;
        verdict(v, FEC_DROP_DUPLICATE);
        return 0;
    }

    if (!repair) {
        b->k_nominal = h.k;
        b->have[h.index] = 1;
        b->n_src++;
        if (h.index + 1u > b->max_src_index)
            b->max_src_index = h.index + 1u;
        if (h.length > b->max_src_len)
            b->max_src_len = h.length;
        dec->st.delivered++;
        note_accepted(dec, s, 1);
        v->action = FEC_DELIVER;
        v->offset = FEC_HDR_LEN;
        v->length = h.length;
        if (b->n_src == block_k(b) && (b->k_final || b->n_src == b->k_nominal)) {
            finish_block(dec, b, 0);    /* whole without repair */
            return 0;
        }
        uint8_t *sp = take_symbol(dec, b);
        if (sp != NULL) {
            sp[0] = (uint8_t)(h.length >> 8);
            sp[1] = (uint8_t)h.length;
            memcpy(sp + FEC_LEN_FIELD, pkt + FEC_HDR_LEN, h.length);
            b->sym[h.index] = sp;
            b->src_len[h.index] = h.length;
        }
    } else {
        if (!b->k_final) {
            b->k_final = h.k;
            b->sym_len = h.length;
        }
        note_accepted(dec, s, 0);
        if (b->n_src == b->k_final) {
            dec->st.repair_unused++;
            finish_block(dec, b, 0);
            verdict(v, FEC_CONSUMED);
            return 0;
        }
        uint8_t *sp = take_symbol(dec, b);
        if (sp != NULL) {
            memcpy(sp, pkt + FEC_HDR_LEN, FEC_LEN_FIELD + (size_t)h.length);
            b->sym[h.index] = sp;
            b->have[h.index] = 1;
            b->n_rep++;
        }
        verdict(v, FEC_CONSUMED);
    }

    if (b->k_final && b->n_src < b->k_final) {
        unsigned usable = 0;
        for (unsigned i = 0; i < (unsigned)b->k_final + b->m; i++)
            usable += b->sym[i] != NULL;
        if (usable >= b->k_final)
            return recover(dec, b, sink);
    }
    return 0;
}

int fec_decoder_link_report(fec_decoder *dec, uint64_t now, fec_link_report *rep)
{
    if (dec == NULL || rep == NULL)
        return -EINVAL;
    if (dec->meas == NULL)
        return -ENOTSUP;
    return fec_measure_report(dec->meas, now, rep);
}
