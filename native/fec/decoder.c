/* Streaming decoder: hands source packets on at once, keeps copies of the
 * symbols of blocks in flight (bounded, preallocated) and rebuilds lost
 * sources as soon as enough symbols arrived. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fec_internal.h"

/* Block-id distance beyond which ids are taken as a new stream: no genuine
 * reordering spans 2^24 blocks. */
#define RESYNC_DISTANCE (INT64_C(1) << 24)

typedef struct dec_block {
    uint64_t id;
    uint64_t first_seen;
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

/* Blocks recently finished, so late packets of theirs are recognised. */
typedef struct finished_block {
    uint64_t id;
    int valid;
    int given_up;
    uint64_t delivered[4];    /* bit i: source i was delivered or rebuilt */
} finished_block;

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
    finished_block *finished;
    unsigned n_finished;
    int have_newest;
    uint64_t newest;
    fec_decoder_stats st;
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
    fec_init();
    fec_decoder *dec = calloc(1, sizeof(*dec));
    if (dec == NULL)
        return -ENOMEM;
    dec->cfg = *cfg;
    dec->kern = cfg->kernel ? cfg->kernel : fec_kernel_default();
    dec->sym_size = ((size_t)FEC_LEN_FIELD + cfg->max_payload + 63) & ~(size_t)63;
    dec->n_finished = 4 * cfg->max_blocks;
    dec->sym_storage = aligned_alloc(64, dec->sym_size * cfg->max_symbols);
    dec->sym_free = calloc(cfg->max_symbols, sizeof(uint8_t *));
    dec->blocks = calloc(cfg->max_blocks, sizeof(dec_block));
    dec->block_free = calloc(cfg->max_blocks, sizeof(dec_block *));
    dec->active = calloc(cfg->max_blocks, sizeof(dec_block *));
    dec->finished = calloc(dec->n_finished, sizeof(finished_block));
    int rc = 0;
    if (dec->sym_storage == NULL || dec->sym_free == NULL || dec->blocks == NULL ||
        dec->block_free == NULL || dec->active == NULL || dec->finished == NULL)
        rc = -ENOMEM;
    if (rc == 0 && cfg->cache_entries > 0)
        rc = fec_matrix_cache_create(cfg->cache_entries, &dec->cache);
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
    *out = dec;
    return 0;
}

void fec_decoder_destroy(fec_decoder *dec)
{
    if (dec == NULL)
        return;
    fec_matrix_cache_destroy(dec->cache);
    free(dec->sym_storage);
    free(dec->sym_free);
    free(dec->blocks);
    free(dec->block_free);
    free(dec->active);
    free(dec->finished);
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

/* Retire a block: remember it as finished, return its symbols and slot. */
static void finish_block(fec_decoder *dec, dec_block *b, int given_up)
{
    if (given_up) {
        const unsigned k = block_k(b);
        unsigned missing = 0;
        for (unsigned i = 0; i < k; i++)
            missing += !b->have[i];
        dec->st.unrecoverable += missing;
    }
    finished_block *f = &dec->finished[b->id % dec->n_finished];
    memset(f, 0, sizeof(*f));
    f->id = b->id;
    f->valid = 1;
    f->given_up = given_up;
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
    dec->block_free[dec->n_block_free++] = b;
}

static void give_up_oldest(fec_decoder *dec, const dec_block *keep)
{
    for (unsigned i = 0; i < dec->n_active; i++) {
        if (dec->active[i] != keep) {
            dec->st.blocks_evicted++;
            finish_block(dec, dec->active[i], 1);
            return;
        }
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
        if (b->have[i]) /* delivered but not stored: cannot happen, be safe */
            return 0;
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
            } else {
                dec->st.no_buffer++;
            }
        }
        dec->sym_free[dec->n_sym_free++] = s;
    }
    /* The block is settled either way; whatever is still missing is lost. */
    finish_block(dec, b, 1);
    return rebuilt;
}

static dec_block *find_active(fec_decoder *dec, uint64_t id)
{
    for (unsigned i = dec->n_active; i-- > 0;)
        if (dec->active[i]->id == id)
            return dec->active[i];
    return NULL;
}

static void verdict(fec_verdict *v, int action)
{
    v->action = action;
    v->offset = 0;
    v->length = 0;
}

int fec_decoder_push(fec_decoder *dec, const uint8_t *pkt, uint32_t len, uint64_t now,
                     const fec_sink *sink, fec_verdict *v)
{
    fec_hdr h;
    if (dec == NULL || v == NULL || (pkt == NULL && len > 0))
        return -EINVAL;
    dec->st.received++;
    expire(dec, now, NULL);
    if (fec_hdr_parse(pkt, len, &h) < 0 || h.length > dec->cfg.max_payload) {
        dec->st.malformed++;
        verdict(v, FEC_DROP_MALFORMED);
        return 0;
    }

    dec_block *b = find_active(dec, h.block_id);
    if (b == NULL) {
        finished_block *f = &dec->finished[h.block_id % dec->n_finished];
        if (f->valid && f->id == h.block_id) {
            if (h.repair) {
                dec->st.repair_unused++;
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
            v->action = FEC_DELIVER;
            v->offset = FEC_HDR_LEN;
            v->length = h.length;
            return 0;
        }
        /* Older than the finished history: it may be a duplicate we can no
         * longer recognise.  Far older still is taken as a new stream
         * (sender restart, or a bogus id must not make every later genuine
         * packet look late). */
        const int64_t age = dec->have_newest ? -id_diff(h.block_id, dec->newest) : 0;
        if (age >= (int64_t)dec->n_finished && age < RESYNC_DISTANCE) {
            dec->st.late++;
            verdict(v, FEC_DROP_LATE);
            return 0;
        }
        if (dec->n_block_free == 0)
            give_up_oldest(dec, NULL);
        b = dec->block_free[--dec->n_block_free];
        memset(b, 0, offsetof(dec_block, sym));
        b->id = h.block_id;
        b->first_seen = now;
        b->code = h.code;
        b->m = h.m;
        dec->active[dec->n_active++] = b;
        if (!dec->have_newest || age < 0 || age >= RESYNC_DISTANCE) {
            dec->newest = h.block_id;
            dec->have_newest = 1;
        }
    }

    /* Every packet of a block must agree on its parameters. */
    int consistent = h.code == b->code && h.m == b->m;
    if (consistent && h.repair) {
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

    if (!h.repair) {
        b->k_nominal = h.k;
        b->have[h.index] = 1;
        b->n_src++;
        if (h.index + 1u > b->max_src_index)
            b->max_src_index = h.index + 1u;
        if (h.length > b->max_src_len)
            b->max_src_len = h.length;
        dec->st.delivered++;
        v->action = FEC_DELIVER;
        v->offset = FEC_HDR_LEN;
        v->length = h.length;
        if (b->n_src == block_k(b) && (b->k_final || b->n_src == b->k_nominal)) {
            finish_block(dec, b, 0);    /* whole without repair */
            return 0;
        }
        uint8_t *s = take_symbol(dec, b);
        if (s != NULL) {
            s[0] = (uint8_t)(h.length >> 8);
            s[1] = (uint8_t)h.length;
            memcpy(s + FEC_LEN_FIELD, pkt + FEC_HDR_LEN, h.length);
            b->sym[h.index] = s;
            b->src_len[h.index] = h.length;
        }
    } else {
        if (!b->k_final) {
            b->k_final = h.k;
            b->sym_len = h.length;
        }
        if (b->n_src == b->k_final) {
            dec->st.repair_unused++;
            finish_block(dec, b, 0);
            verdict(v, FEC_CONSUMED);
            return 0;
        }
        uint8_t *s = take_symbol(dec, b);
        if (s != NULL) {
            memcpy(s, pkt + FEC_HDR_LEN, FEC_LEN_FIELD + (size_t)h.length);
            b->sym[h.index] = s;
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
