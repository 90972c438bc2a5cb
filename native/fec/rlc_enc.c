/* Sliding-window RLC encoder (code 3): every source is sent at once and a
 * copy of its symbol kept in a ring of the last `window` sources; every k
 * sources (or at the deadline, or on flush) m repair symbols are computed
 * over the window with the dot-product kernel. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fec_internal.h"

struct rlc_enc {
    fec_encoder_config cfg;
    const fec_kernel *kern;
    uint32_t session_id;
    unsigned window;
    size_t row_len;
    uint8_t *storage;            /* window symbols of row_len bytes */
    uint8_t **slot;              /* ring: slot[i] */
    uint32_t *slot_len;          /* payload length of the source in slot i */
    uint32_t *slot_dirty;        /* bytes of slot i that may be non-zero */
    unsigned head;               /* next slot to write */
    unsigned filled;             /* sources in the ring (<= window) */
    uint64_t next_esi;
    unsigned count;              /* sources since the last repair batch */
    uint64_t opened_at;          /* time of the batch's first source */
    uint8_t coef[FEC_RLC_MAX_M][FEC_RLC_MAX_WINDOW];
};

void fec_rlc_coefs(uint64_t first_esi, unsigned n, uint8_t key, uint8_t *coef)
{
    /* SplitMix64 (Steele, Lea, Flood 2014), stepped by the golden gamma. */
    uint64_t x = ((first_esi & FEC_BLOCK_ID_MASK) << 16) | ((uint64_t)(n & 0xff) << 8) | key;
    unsigned j = 0;
    while (j < n) {
        x += UINT64_C(0x9E3779B97F4A7C15);
        uint64_t z = x;
        z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
        z ^= z >> 31;
        for (unsigned b = 0; b < 8 && j < n; b++) {
            const uint8_t c = (uint8_t)(z >> (8 * b));
            if (c != 0)     /* every source of the window takes part */
                coef[j++] = c;
        }
    }
}

int rlc_enc_create(const fec_encoder_config *cfg, uint32_t session_id,
                   const fec_kernel *kern, rlc_enc **out)
{
    const unsigned window = cfg->window ? cfg->window : cfg->k;
    if (cfg->k == 0 || cfg->m == 0 || cfg->m > FEC_RLC_MAX_M || window < cfg->k ||
        window > FEC_RLC_MAX_WINDOW || cfg->depth != 1)
        return -EINVAL;
    rlc_enc *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    r->cfg = *cfg;
    r->cfg.window = window;
    r->kern = kern;
    r->session_id = session_id;
    r->window = window;
    r->next_esi = cfg->first_block_id & FEC_BLOCK_ID_MASK;
    r->row_len = ((size_t)FEC_LEN_FIELD + cfg->max_payload + 63) & ~(size_t)63;
    r->storage = aligned_alloc(64, window * r->row_len);
    r->slot = calloc(window, sizeof(uint8_t *));
    r->slot_len = calloc(window, sizeof(uint32_t));
    r->slot_dirty = calloc(window, sizeof(uint32_t));
    if (r->storage == NULL || r->slot == NULL || r->slot_len == NULL || r->slot_dirty == NULL) {
        rlc_enc_destroy(r);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < window; i++) {
        r->slot[i] = r->storage + (size_t)i * r->row_len;
        /* Symbols are zero beyond their length: one clear at start, then
         * each write clears what the previous, longer source left. */
        memset(r->slot[i], 0, r->row_len);
    }
    *out = r;
    return 0;
}

void rlc_enc_destroy(rlc_enc *r)
{
    if (r == NULL)
        return;
    free(r->storage);
    free(r->slot);
    free(r->slot_len);
    free(r->slot_dirty);
    free(r);
}

/* m repair packets over the current window. */
static int emit_batch(rlc_enc *r, fec_encoder_stats *st, const fec_sink *sink)
{
    if (r->count == 0)
        return 0;
    const unsigned n = r->filled, m = r->cfg.m, w = r->window;
    const uint64_t first = (r->next_esi - n) & FEC_BLOCK_ID_MASK;
    const uint8_t *src[FEC_RLC_MAX_WINDOW];
    uint32_t L = 0;
    /* Window in ESI order: the oldest of the n is n slots behind head. */
    for (unsigned j = 0; j < n; j++) {
        const unsigned i = (r->head + w - n + j) % w;
        src[j] = r->slot[i];
        if (r->slot_len[i] > L)
            L = r->slot_len[i];
    }
    const uint32_t sym_len = FEC_LEN_FIELD + L;
    fec_hdr h = {
        .version = FEC_VERSION,
        .code = FEC_CODE_RLC,
        .kind = FEC_KIND_REPAIR,
        .flags = r->cfg.flags,
        .session_id = r->session_id,
        .k = (uint8_t)n,
        .m = (uint8_t)m,
        .block_id = first,
        .length = (uint16_t)L,
    };
    uint8_t *dst[FEC_RLC_MAX_M];
    unsigned rows = 0;
    int emitted = 0;
    for (unsigned key = 0; key < m; key++) {
        uint8_t *buf = sink && sink->get ? sink->get(sink->ctx, FEC_HDR_LEN + sym_len) : NULL;
        if (buf == NULL) {
            st->no_buffer++;
            continue;
        }
        h.index = (uint8_t)key;
        fec_hdr_write(buf, &h);
        fec_rlc_coefs(first, n, (uint8_t)key, r->coef[rows]);
        dst[rows] = buf + FEC_HDR_LEN;
        rows++;
        st->repair_packets++;
        st->repair_bytes += FEC_HDR_LEN + sym_len;
        emitted++;
    }
    /* dotprod takes a rows x cols matrix with stride cols. */
    uint8_t coef[FEC_RLC_MAX_WINDOW * 8];
    for (unsigned r0 = 0; r0 < rows; r0 += 8) {
        const unsigned nr = rows - r0 < 8 ? rows - r0 : 8;
        for (unsigned i = 0; i < nr; i++)
            memcpy(coef + (size_t)i * n, r->coef[r0 + i], n);
        r->kern->dotprod(dst + r0, nr, coef, src, n, sym_len);
    }
    st->blocks++;
    if (r->count < r->cfg.k)
        st->blocks_partial++;
    r->count = 0;
    return emitted;
}

int rlc_enc_add(rlc_enc *r, fec_encoder_stats *st, const uint8_t *payload, uint32_t len,
                uint64_t now, uint8_t hdr[FEC_HDR_LEN], const fec_sink *sink)
{
    int emitted = 0;
    if (r->count > 0 && r->cfg.timeout && now >= r->opened_at &&
        now - r->opened_at >= r->cfg.timeout)
        emitted += emit_batch(r, st, sink);
    if (r->count == 0)
        r->opened_at = now;
    const unsigned i = r->head;
    uint8_t *s = r->slot[i];
    s[0] = (uint8_t)(len >> 8);
    s[1] = (uint8_t)len;
    memcpy(s + FEC_LEN_FIELD, payload, len);
    if (r->slot_dirty[i] > FEC_LEN_FIELD + len)
        memset(s + FEC_LEN_FIELD + len, 0, r->slot_dirty[i] - FEC_LEN_FIELD - len);
    r->slot_dirty[i] = FEC_LEN_FIELD + len;
    r->slot_len[i] = len;
    r->head = i + 1 == r->window ? 0 : i + 1;
    if (r->filled < r->window)
        r->filled++;
    fec_hdr h = {
        .version = FEC_VERSION,
        .code = FEC_CODE_RLC,
        .kind = FEC_KIND_SOURCE,
        .flags = r->cfg.flags,
        .session_id = r->session_id,
        .k = (uint8_t)r->window,
        .m = (uint8_t)r->cfg.m,
        .index = (uint8_t)r->cfg.k,
        .block_id = r->next_esi,
        .length = (uint16_t)len,
    };
    fec_hdr_write(hdr, &h);
    r->next_esi = (r->next_esi + 1) & FEC_BLOCK_ID_MASK;
    r->count++;
    st->source_packets++;
    st->source_bytes += len;
    if (r->count == r->cfg.k)
        emitted += emit_batch(r, st, sink);
    return emitted;
}

int rlc_enc_poll(rlc_enc *r, fec_encoder_stats *st, uint64_t now, const fec_sink *sink)
{
    if (r->cfg.timeout == 0 || r->count == 0)
        return 0;
    if (now >= r->opened_at && now - r->opened_at >= r->cfg.timeout)
        return emit_batch(r, st, sink);
    return 0;
}

int rlc_enc_flush(rlc_enc *r, fec_encoder_stats *st, const fec_sink *sink)
{
    return emit_batch(r, st, sink);
}
