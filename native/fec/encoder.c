/* Streaming encoder: folds each source packet into its block's parity as it
 * passes, emits parity when the block reaches k or its deadline. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "fec_internal.h"

/* Most sources a lane defers in a batch (a burst's worth); more are folded. */
#define ENC_PEND_MAX 32

typedef struct enc_lane {
    int open;
    uint64_t block_id;
    uint64_t opened_at;
    unsigned count;          /* sources in the block so far */
    uint32_t max_len;        /* longest payload folded into acc = its extent */
    uint8_t **acc;           /* m accumulators: [length field][payload parity] */
    /* Batching (fec_encoder_batch_begin): the block's last n_pend sources,
     * all pend_len bytes long, are not folded into acc yet; their length
     * fields are. */
    unsigned n_pend;
    uint32_t pend_len;
    const uint8_t **pend;    /* ENC_PEND_MAX payload pointers */
} enc_lane;

struct fec_encoder {
    fec_encoder_config cfg;
    const fec_kernel *kern;
    uint64_t next_block_id;
    uint32_t session_id;
    unsigned next_lane;
    enc_lane *lanes;
    uint8_t *storage;
    uint8_t **acc_ptrs;
    const uint8_t **pend_ptrs;
    int batching;             /* between batch_begin and batch_end */
    uint8_t coef[FEC_MAX_SYMBOLS][FEC_MAX_SYMBOLS]; /* [source index][row] */
    fec_encoder_stats st;
    unsigned max_m, max_depth;     /* what the storage is sized for */
    /* Parameters asked for by fec_encoder_set_params() (another thread) and
     * those in force, each packed in one word (pack_params). */
    _Atomic uint64_t pending;
    _Atomic uint64_t current;
    rlc_enc *rlc;             /* code 3: the sliding-window encoder does the work */
};

/* valid bit | code | k | m | depth: one atomic word, so a reader never sees
 * half of a change. */
static uint64_t pack_params(int code, unsigned k, unsigned m, unsigned depth)
{
    return (UINT64_C(1) << 63) | ((uint64_t)(code & 0xff) << 48) | ((uint64_t)k << 40) |
           ((uint64_t)m << 32) | (uint64_t)depth;
}

/* What every code's encoder starts with: the payload limit and flags
 * checked, a session id (drawn when 0), the kernel; NULL with *rc set. */
static fec_encoder *encoder_new(const fec_encoder_config *cfg, int *rc)
{
    if (cfg->max_payload == 0 || cfg->max_payload > FEC_MAX_PAYLOAD ||
        (cfg->flags & ~FEC_FLAGS_KNOWN)) {
        *rc = -EINVAL;
        return NULL;
    }
    uint32_t session_id = cfg->session_id;
    if (session_id == 0 && (*rc = fec_random_session_id(&session_id)) < 0)
        return NULL;
    fec_init();
    fec_encoder *enc = calloc(1, sizeof(*enc));
    if (enc == NULL) {
        *rc = -ENOMEM;
        return NULL;
    }
    enc->cfg = *cfg;
    enc->session_id = session_id;
    enc->kern = cfg->kernel ? cfg->kernel : fec_kernel_default();
    *rc = 0;
    return enc;
}

static int create_rlc(const fec_encoder_config *cfg, fec_encoder **out)
{
    int rc;
    fec_encoder *enc = encoder_new(cfg, &rc);
    if (enc == NULL)
        return rc;
    rc = rlc_enc_create(cfg, enc->session_id, enc->kern, &enc->rlc);
    if (rc < 0) {
        free(enc);
        return rc;
    }
    *out = enc;
    return 0;
}

int fec_encoder_create(const fec_encoder_config *cfg, fec_encoder **out)
{
    if (cfg == NULL || out == NULL)
        return -EINVAL;
    if (cfg->code == FEC_CODE_RLC)
        return create_rlc(cfg, out);
    if (fec_code_check(cfg->code, cfg->k, cfg->m) < 0)
        return -EINVAL;
    if (cfg->depth == 0 || cfg->depth > 1024)
        return -EINVAL;
    const unsigned max_m = cfg->max_m ? cfg->max_m : cfg->m;
    const unsigned max_depth = cfg->max_depth ? cfg->max_depth : cfg->depth;
    if (max_m < cfg->m || max_m >= FEC_MAX_SYMBOLS || max_depth < cfg->depth ||
        max_depth > 1024)
        return -EINVAL;
    int rc;
    fec_encoder *enc = encoder_new(cfg, &rc);
    if (enc == NULL)
        return rc;
    enc->next_block_id = cfg->first_block_id & FEC_BLOCK_ID_MASK;
    const size_t row_len = ((size_t)FEC_LEN_FIELD + cfg->max_payload + 63) & ~(size_t)63;
    enc->max_m = max_m;
    enc->max_depth = max_depth;
    enc->lanes = calloc(max_depth, sizeof(enc_lane));
    enc->acc_ptrs = calloc((size_t)max_depth * max_m, sizeof(uint8_t *));
    enc->pend_ptrs = calloc((size_t)max_depth * ENC_PEND_MAX, sizeof(uint8_t *));
    enc->storage = aligned_alloc(64, (size_t)max_depth * max_m * row_len);
    if (enc->lanes == NULL || enc->acc_ptrs == NULL || enc->pend_ptrs == NULL ||
        enc->storage == NULL) {
        fec_encoder_destroy(enc);
        return -ENOMEM;
    }
    for (unsigned d = 0; d < max_depth; d++) {
        enc->lanes[d].acc = &enc->acc_ptrs[(size_t)d * max_m];
        enc->lanes[d].pend = &enc->pend_ptrs[(size_t)d * ENC_PEND_MAX];
        for (unsigned r = 0; r < max_m; r++)
            enc->lanes[d].acc[r] = enc->storage + ((size_t)d * max_m + r) * row_len;
    }
    atomic_init(&enc->pending, 0);
    atomic_init(&enc->current, pack_params(cfg->code, cfg->k, cfg->m, cfg->depth));
    for (unsigned j = 0; j < cfg->k; j++)
        for (unsigned r = 0; r < cfg->m; r++)
            enc->coef[j][r] = fec_coef(cfg->code, cfg->m, r, j);
    *out = enc;
    return 0;
}

int fec_random_session_id(uint32_t *out)
{
    uint32_t id = 0;
    if (out == NULL)
        return -EINVAL;
    /* 0 means "no session" on the wire: draw again (1 chance in 2^32). */
    while (id == 0) {
        ssize_t n = getrandom(&id, sizeof(id), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n != (ssize_t)sizeof(id))
            id = 0;
    }
    *out = id;
    return 0;
}

uint32_t fec_encoder_session_id(const fec_encoder *enc)
{
    return enc->session_id;
}

void fec_encoder_destroy(fec_encoder *enc)
{
    if (enc == NULL)
        return;
    rlc_enc_destroy(enc->rlc);
    free(enc->lanes);
    free(enc->acc_ptrs);
    free(enc->pend_ptrs);
    free(enc->storage);
    free(enc);
}

uint32_t fec_encoder_max_repair_len(const fec_encoder *enc)
{
    return FEC_HDR_LEN + FEC_LEN_FIELD + enc->cfg.max_payload;
}

/* Fold source j (len bytes) into the lane's accumulators: accumulate where
 * earlier sources already wrote, overwrite beyond (shorter sources count
 * as zero-padded there). */
static void fold_one(fec_encoder *enc, enc_lane *lane, unsigned j, const uint8_t *payload,
                     uint32_t len)
{
    const uint8_t *coef = enc->coef[j];
    const unsigned m = enc->cfg.m;
    uint8_t *rows[FEC_MAX_SYMBOLS];
    const uint32_t overlap = len < lane->max_len ? len : lane->max_len;
    if (overlap > 0) {
        for (unsigned r = 0; r < m; r++)
            rows[r] = lane->acc[r] + FEC_LEN_FIELD;
        enc->kern->mad_rows(rows, coef, m, payload, overlap, 0);
    }
    if (len > lane->max_len) {
        for (unsigned r = 0; r < m; r++)
            rows[r] = lane->acc[r] + FEC_LEN_FIELD + overlap;
        enc->kern->mad_rows(rows, coef, m, payload + overlap, len - overlap, 1);
        lane->max_len = len;
    }
}

/* The coefficients of the lane's deferred sources for the parity rows
 * sel[0..n): row-major, as fec_kernel.dotprod takes them. */
static void pend_matrix(const fec_encoder *enc, const enc_lane *lane, const unsigned *sel,
                        unsigned n, uint8_t *mat)
{
    const unsigned j0 = lane->count - lane->n_pend;
    for (unsigned a = 0; a < n; a++)
        for (unsigned c = 0; c < lane->n_pend; c++)
            mat[a * lane->n_pend + c] = enc->coef[j0 + c][sel[a]];
}

/* Fold the deferred sources into the accumulators.  The usual case, a
 * block begun in this batch, is one pass over the parity rows for all of
 * them (dotprod, which overwrites): each row is written once instead of
 * read and written once per source. */
static void flush_pending(fec_encoder *enc, enc_lane *lane)
{
    const unsigned n = lane->n_pend, j0 = lane->count - n, m = enc->cfg.m;
    if (n == 0)
        return;
    if (j0 == 0 && n > 1) {
        uint8_t mat[FEC_MAX_SYMBOLS * ENC_PEND_MAX];
        uint8_t *rows[FEC_MAX_SYMBOLS];
        unsigned sel[FEC_MAX_SYMBOLS];
        for (unsigned r = 0; r < m; r++) {
            sel[r] = r;
            rows[r] = lane->acc[r] + FEC_LEN_FIELD;
        }
        pend_matrix(enc, lane, sel, m, mat);
        enc->kern->dotprod(rows, m, mat, lane->pend, n, lane->pend_len);
        lane->max_len = lane->pend_len;
    } else {
        for (unsigned c = 0; c < n; c++)
            fold_one(enc, lane, j0 + c, lane->pend[c], lane->pend_len);
    }
    lane->n_pend = 0;
}

static int close_lane(fec_encoder *enc, enc_lane *lane, const fec_sink *sink)
{
    int emitted = 0;
    if (!lane->open)
        return 0;
    const unsigned m = enc->cfg.m;
    /* Deferred sources at least as long as the folded ones are coded
     * straight into the parity packets (then the accumulators, if any
     * source was folded, are added); otherwise fold them first. */
    const int direct = lane->n_pend > 0 && lane->pend_len >= lane->max_len;
    const uint32_t folded_len = lane->max_len;
    if (!direct)
        flush_pending(enc, lane);
    const uint32_t max_len = direct ? lane->pend_len : lane->max_len;
    const uint32_t sym_len = FEC_LEN_FIELD + max_len;
    fec_hdr h = {
        .version = FEC_VERSION,
        .code = (uint8_t)enc->cfg.code,
        .kind = FEC_KIND_REPAIR,
        .flags = enc->cfg.flags,
        .session_id = enc->session_id,
        .k = (uint8_t)lane->count,      /* a partial block shrinks k */
        .m = (uint8_t)m,
        .block_id = lane->block_id,
        .length = (uint16_t)max_len,
    };
    uint8_t *out[FEC_MAX_SYMBOLS];
    unsigned sel[FEC_MAX_SYMBOLS];
    for (unsigned r = 0; r < m; r++) {
        uint8_t *buf = sink && sink->get ? sink->get(sink->ctx, FEC_HDR_LEN + sym_len) : NULL;
        if (buf == NULL) {
            enc->st.no_buffer++;
            continue;
        }
        h.index = (uint8_t)(lane->count + r);
        fec_hdr_write(buf, &h);
        if (direct) {
            memcpy(buf + FEC_HDR_LEN, lane->acc[r], FEC_LEN_FIELD);
            sel[emitted] = r;
            out[emitted] = buf + FEC_HDR_LEN + FEC_LEN_FIELD;
        } else {
            memcpy(buf + FEC_HDR_LEN, lane->acc[r], sym_len);
        }
        enc->st.repair_packets++;
        enc->st.repair_bytes += FEC_HDR_LEN + sym_len;
        emitted++;
    }
    if (direct && emitted > 0) {
        uint8_t mat[FEC_MAX_SYMBOLS * ENC_PEND_MAX];
        pend_matrix(enc, lane, sel, (unsigned)emitted, mat);
        enc->kern->dotprod(out, (unsigned)emitted, mat, lane->pend, lane->n_pend,
                           lane->pend_len);
        if (lane->count > lane->n_pend) {           /* sources folded earlier */
            static const uint8_t one = 1;
            for (int a = 0; a < emitted; a++)
                enc->kern->mad_rows(&out[a], &one, 1, lane->acc[sel[a]] + FEC_LEN_FIELD,
                                    folded_len, 0);
        }
    }
    enc->st.blocks++;
    if (lane->count < enc->cfg.k)
        enc->st.blocks_partial++;
    lane->open = 0;
    lane->count = 0;
    lane->max_len = 0;
    lane->n_pend = 0;
    return emitted;
}

int fec_encoder_set_params(fec_encoder *enc, int code, unsigned k, unsigned m,
                           unsigned depth)
{
    if (enc == NULL || fec_code_check(code, k, m) < 0 || m > enc->max_m || depth == 0 ||
        depth > enc->max_depth)
        return -EINVAL;
    /* The block codes switch at block boundaries; the sliding window has none. */
    if (enc->rlc != NULL || code == FEC_CODE_RLC)
        return -ENOTSUP;
    atomic_store_explicit(&enc->pending, pack_params(code, k, m, depth),
                          memory_order_release);
    return 0;
}

void fec_encoder_get_params(const fec_encoder *enc, int *code, unsigned *k, unsigned *m,
                            unsigned *depth)
{
    if (enc->rlc != NULL) {              /* fixed for the encoder's life */
        if (code) *code = FEC_CODE_RLC;
        if (k) *k = enc->cfg.k;
        if (m) *m = enc->cfg.m;
        if (depth) *depth = 1;
        return;
    }
    const uint64_t w = atomic_load_explicit(&((fec_encoder *)enc)->current,
                                            memory_order_acquire);
    if (code) *code = (int)((w >> 48) & 0xff);
    if (k) *k = (unsigned)((w >> 40) & 0xff);
    if (m) *m = (unsigned)((w >> 32) & 0xff);
    if (depth) *depth = (unsigned)(w & 0xffffffffu);
}

/* A requested change: close every open block (parity included), then open
 * the next ones with the new parameters. */
static int apply_pending(fec_encoder *enc, const fec_sink *sink)
{
    const uint64_t w = atomic_exchange_explicit(&enc->pending, 0, memory_order_acquire);
    int emitted = 0;
    if (!(w >> 63))
        return 0;
    for (unsigned d = 0; d < enc->cfg.depth; d++)
        emitted += close_lane(enc, &enc->lanes[d], sink);
    enc->cfg.code = (int)((w >> 48) & 0xff);
    enc->cfg.k = (unsigned)((w >> 40) & 0xff);
    enc->cfg.m = (unsigned)((w >> 32) & 0xff);
    enc->cfg.depth = (unsigned)(w & 0xffffffffu);
    enc->next_lane = 0;
    for (unsigned j = 0; j < enc->cfg.k; j++)
        for (unsigned r = 0; r < enc->cfg.m; r++)
            enc->coef[j][r] = fec_coef(enc->cfg.code, enc->cfg.m, r, j);
    atomic_store_explicit(&enc->current, w, memory_order_release);
    return emitted;
}

int fec_encoder_add(fec_encoder *enc, const uint8_t *payload, uint32_t len,
                    uint64_t now, uint8_t hdr[FEC_HDR_LEN], const fec_sink *sink)
{
    int emitted = 0;
    if (enc == NULL || payload == NULL || hdr == NULL || len == 0)
        return -EINVAL;
    if (len > enc->cfg.max_payload)
        return -EMSGSIZE;
    if (enc->rlc)
        return rlc_enc_add(enc->rlc, &enc->st, payload, len, now, hdr, sink);
    if (atomic_load_explicit(&enc->pending, memory_order_relaxed))
        emitted += apply_pending(enc, sink);
    enc_lane *lane = &enc->lanes[enc->next_lane];
    enc->next_lane = enc->next_lane + 1 == enc->cfg.depth ? 0 : enc->next_lane + 1;

    if (lane->open && enc->cfg.timeout && now >= lane->opened_at && now - lane->opened_at >= enc->cfg.timeout)
        emitted += close_lane(enc, lane, sink);
    if (!lane->open) {
        lane->open = 1;
        lane->block_id = enc->next_block_id;
        enc->next_block_id = (enc->next_block_id + 1) & FEC_BLOCK_ID_MASK;
        lane->opened_at = now;
    }

    const unsigned j = lane->count;
    const uint8_t *coef = enc->coef[j];
    const unsigned m = enc->cfg.m;
    /* The 2-byte big-endian length is part of the protected symbol. */
    const uint8_t len_be[FEC_LEN_FIELD] = {(uint8_t)(len >> 8), (uint8_t)len};
    for (unsigned r = 0; r < m; r++) {
        const uint8_t *t = fec_gf_mul_table[coef[r]];
        uint8_t *a = lane->acc[r];
        if (j == 0) {
            a[0] = t[len_be[0]];
            a[1] = t[len_be[1]];
        } else {
            a[0] ^= t[len_be[0]];
            a[1] ^= t[len_be[1]];
        }
    }
    if (!enc->batching) {
        fold_one(enc, lane, j, payload, len);
    } else {
        /* Deferred (see fec_encoder_batch_begin); the deferred sources of
         * a lane share one length. */
        if (lane->n_pend == ENC_PEND_MAX || (lane->n_pend > 0 && lane->pend_len != len))
            flush_pending(enc, lane);
        lane->pend[lane->n_pend++] = payload;
        lane->pend_len = len;
    }

    fec_hdr h = {
        .version = FEC_VERSION,
        .code = (uint8_t)enc->cfg.code,
        .kind = FEC_KIND_SOURCE,
        .flags = enc->cfg.flags,
        .session_id = enc->session_id,
        .k = (uint8_t)enc->cfg.k,
        .m = (uint8_t)m,
        .index = (uint8_t)j,
        .block_id = lane->block_id,
        .length = (uint16_t)len,
    };
    fec_hdr_write(hdr, &h);
    lane->count++;
    enc->st.source_packets++;
    enc->st.source_bytes += len;
    if (lane->count == enc->cfg.k)
        emitted += close_lane(enc, lane, sink);
    return emitted;
}

void fec_encoder_batch_begin(fec_encoder *enc)
{
    if (enc != NULL && enc->rlc == NULL)
        enc->batching = 1;
}

void fec_encoder_batch_end(fec_encoder *enc)
{
    if (enc == NULL || !enc->batching)
        return;
    for (unsigned d = 0; d < enc->cfg.depth; d++)
        flush_pending(enc, &enc->lanes[d]);
    enc->batching = 0;
}

int fec_encoder_poll(fec_encoder *enc, uint64_t now, const fec_sink *sink)
{
    int emitted = 0;
    if (enc == NULL)
        return -EINVAL;
    if (enc->rlc)
        return rlc_enc_poll(enc->rlc, &enc->st, now, sink);
    if (enc->cfg.timeout == 0)
        return 0;
    for (unsigned d = 0; d < enc->cfg.depth; d++) {
        enc_lane *lane = &enc->lanes[d];
        if (lane->open && now >= lane->opened_at && now - lane->opened_at >= enc->cfg.timeout)
            emitted += close_lane(enc, lane, sink);
    }
    return emitted;
}

uint64_t fec_encoder_next_deadline(const fec_encoder *enc)
{
    uint64_t next = UINT64_MAX;

    if (enc == NULL || enc->cfg.timeout == 0)
        return next;
    if (enc->rlc)
        return rlc_enc_next_deadline(enc->rlc);
    for (unsigned d = 0; d < enc->cfg.depth; d++) {
        const enc_lane *lane = &enc->lanes[d];
        if (lane->open && lane->opened_at + enc->cfg.timeout < next)
            next = lane->opened_at + enc->cfg.timeout;
    }
    return next;
}

int fec_encoder_flush(fec_encoder *enc, const fec_sink *sink)
{
    int emitted = 0;
    if (enc == NULL)
        return -EINVAL;
    if (enc->rlc)
        return rlc_enc_flush(enc->rlc, &enc->st, sink);
    for (unsigned d = 0; d < enc->cfg.depth; d++)
        emitted += close_lane(enc, &enc->lanes[d], sink);
    return emitted;
}

void fec_encoder_get_stats(const fec_encoder *enc, fec_encoder_stats *st)
{
    *st = enc->st;
}
