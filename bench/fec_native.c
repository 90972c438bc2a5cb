/* Native timing loops for bench/fec_codec.py: pydpdk's block codec and
 * the streaming encoder/decoder.  ISA-L's loops, driven the same way, are in
 * fec_isal.c.  Built by the benchmark at run time together with native/fec
 * (so no Python call sits inside a timed loop).
 * Layout: data (nblocks, k, len); parity (nblocks, m, len); symbols
 * (nblocks, k + m, len); present (nblocks, k + m). */
#include <stdlib.h>
#include <string.h>

#include "fec.h"

#define MAXS 255

static const fec_kernel *kernel(const char *name)
{
    const fec_kernel *k = NULL;
    return fec_kernel_by_name(name, &k) == 0 ? k : NULL;
}

int pd_fec_encode(const char *kname, int k, int m, int len, int nblocks,
                  const unsigned char *data, unsigned char *parity, int iters)
{
    const fec_kernel *kern = kernel(kname);
    const uint8_t *src[MAXS];
    uint8_t *dst[MAXS];
    uint8_t coef[MAXS * MAXS];
    if (kern == NULL || fec_code_matrix(FEC_CODE_RS, k, m, coef) < 0)
        return -1;
    /* generator computed once, as ISA-L's tables are */
    for (int it = 0; it < iters; it++)
        for (int b = 0; b < nblocks; b++) {
            for (int i = 0; i < k; i++)
                src[i] = data + ((size_t)b * k + i) * len;
            for (int i = 0; i < m; i++)
                dst[i] = parity + ((size_t)b * m + i) * len;
            if (fec_encode_block_matrix(kern, coef, k, m, src, dst, len) < 0)
                return -1;
        }
    return 0;
}

int pd_fec_decode(const char *kname, int k, int m, int len, int nblocks,
                  unsigned char *symbols, const unsigned char *present, int iters, int cached)
{
    const fec_kernel *kern = kernel(kname);
    fec_matrix_cache *cache = NULL;
    uint8_t *sym[MAXS];
    if (kern == NULL)
        return -1;
    if (cached && fec_matrix_cache_create(64, &cache) < 0)
        return -1;
    for (int it = 0; it < iters; it++)
        for (int b = 0; b < nblocks; b++) {
            for (int i = 0; i < k + m; i++)
                sym[i] = symbols + ((size_t)b * (k + m) + i) * len;
            if (fec_decode_block(kern, cache, FEC_CODE_RS, k, m, sym,
                                 present + (size_t)b * (k + m), len) < 0) {
                fec_matrix_cache_destroy(cache);
                return -1;
            }
        }
    fec_matrix_cache_destroy(cache);
    return 0;
}

/* ---- streaming codec: the per-packet path a pipeline stage runs -------- */

typedef struct scratch {
    unsigned char *buf;
    size_t cap, at;
} scratch;

/* Sink that reuses one scratch area: the bytes are written, then dropped. */
static uint8_t *scratch_get(void *ctx, uint32_t len)
{
    scratch *s = ctx;
    if (s->at + len > s->cap)
        s->at = 0;
    if (len > s->cap)
        return NULL;
    s->at += len;
    return s->buf + s->at - len;
}

int pd_stream_encode(int k, int m, int size, int npkts, const unsigned char *payloads,
                     int iters)
{
    fec_encoder_config cfg = {.code = FEC_CODE_RS, .k = k, .m = m, .depth = 1,
                              .max_payload = size};
    fec_encoder *enc;
    unsigned char hdr[FEC_HDR_LEN];
    scratch s = {.cap = 1 << 20};
    s.buf = malloc(s.cap);
    if (s.buf == NULL || fec_encoder_create(&cfg, &enc) < 0) {
        free(s.buf);
        return -1;
    }
    fec_sink sink = {.ctx = &s, .get = scratch_get};
    for (int it = 0; it < iters; it++)
        for (int i = 0; i < npkts; i++)
            fec_encoder_add(enc, payloads + (size_t)i * size, size, 0, hdr, &sink);
    fec_encoder_destroy(enc);
    free(s.buf);
    return 0;
}

/* A fresh decoder per pass (block ids repeat between passes); returns the
 * packets rebuilt in the last pass. */
int pd_stream_decode(const unsigned char *wire, const uint32_t *offsets, const uint32_t *lens,
                     int n, int max_payload, int iters)
{
    fec_decoder_config cfg = {.max_payload = max_payload, .max_blocks = 64,
                              .max_symbols = 2048, .timeout = 0, .cache_entries = 64};
    scratch s = {.cap = 1 << 20};
    int rebuilt = 0;
    s.buf = malloc(s.cap);
    if (s.buf == NULL)
        return -1;
    fec_sink sink = {.ctx = &s, .get = scratch_get};
    for (int it = 0; it < iters; it++) {
        fec_decoder *dec;
        fec_verdict v;
        if (fec_decoder_create(&cfg, &dec) < 0) {
            free(s.buf);
            return -1;
        }
        rebuilt = 0;
        for (int i = 0; i < n; i++)
            rebuilt += fec_decoder_push(dec, wire + offsets[i], lens[i], 0, &sink, &v);
        fec_decoder_destroy(dec);
    }
    free(s.buf);
    return rebuilt;
}
