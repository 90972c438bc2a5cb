/* C unit tests of native/fec: GF tables, kernels against the scalar
 * reference, block codes, wire header, streaming encoder and decoder. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fec.h"
#include "pd_check.h"

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
static void fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rnd();
}

static void test_gf(void)
{
    CHECK(fec_gf_mul(2, 0x80) == (FEC_GF_POLY & 0xff));
    CHECK(fec_gf_mul(0, 77) == 0 && fec_gf_mul(1, 77) == 77);
    CHECK(fec_gf_inv(0) == 0);
    for (unsigned a = 1; a < 256; a++) {
        CHECK(fec_gf_mul((uint8_t)a, fec_gf_inv((uint8_t)a)) == 1);
        unsigned b = rnd() & 0xff, c = rnd() & 0xff;
        CHECK(fec_gf_mul((uint8_t)a, (uint8_t)(b ^ c)) ==
              (fec_gf_mul((uint8_t)a, (uint8_t)b) ^ fec_gf_mul((uint8_t)a, (uint8_t)c)));
        CHECK(fec_gf_mul((uint8_t)a, (uint8_t)b) == fec_gf_mul((uint8_t)b, (uint8_t)a));
    }
    /* 2 generates the multiplicative group: 255 distinct powers. */
    uint8_t seen[256] = {0};
    uint8_t x = 1;
    for (unsigned i = 0; i < 255; i++) {
        CHECK(!seen[x]);
        seen[x] = 1;
        x = fec_gf_mul(x, 2);
    }
    CHECK(x == 1);
}

static void test_kernels(void)
{
    const fec_kernel *ref = NULL;
    CHECK(fec_kernel_by_name("scalar", &ref) == 0);
    const fec_kernel *k;
    CHECK(fec_kernel_by_name("nonsense", &k) == -ENOENT);
    CHECK(fec_kernel_default() != NULL);
    enum { MAXLEN = 1100, ROWS = 9, COLS = 12 };
    static uint8_t src[COLS][MAXLEN + 64], a[ROWS][MAXLEN + 64], b[ROWS][MAXLEN + 64];
    for (const char *const *name = fec_kernel_names(); *name; name++) {
        if (!fec_kernel_supported(*name)) {
            printf("kernel %s: not supported on this CPU, skipped\n", *name);
            continue;
        }
        CHECK(fec_kernel_by_name(*name, &k) == 0);
        int tested = 0;
        for (unsigned iter = 0; iter < 400; iter++) {
            size_t len = iter < 200 ? iter : rnd() % MAXLEN;
            unsigned off = rnd() % 64, doff = rnd() % 64;
            unsigned rows = 1 + rnd() % ROWS, cols = 1 + rnd() % COLS;
            uint8_t coef[ROWS * COLS];
            for (unsigned i = 0; i < rows * cols; i++)
                coef[i] = (uint8_t)(i % 7 == 0 ? (rnd() & 1) : rnd());
            uint8_t *da[ROWS], *db[ROWS];
            const uint8_t *s[COLS];
            for (unsigned c = 0; c < cols; c++) {
                fill(src[c], sizeof(src[c]));
                s[c] = src[c] + off;
            }
            for (unsigned r = 0; r < rows; r++) {
                fill(a[r], sizeof(a[r]));
                memcpy(b[r], a[r], sizeof(a[r]));
                da[r] = a[r] + doff;
                db[r] = b[r] + doff;
            }
            int set = (int)(rnd() & 1);
            ref->mad_rows(da, coef, rows, s[0], len, set);
            k->mad_rows(db, coef, rows, s[0], len, set);
            int same = 1;
            for (unsigned r = 0; r < rows; r++)
                same &= memcmp(a[r], b[r], sizeof(a[r])) == 0;   /* incl. bytes around */
            ref->dotprod(da, rows, coef, s, cols, len);
            k->dotprod(db, rows, coef, s, cols, len);
            for (unsigned r = 0; r < rows; r++)
                same &= memcmp(a[r], b[r], sizeof(a[r])) == 0;
            if (!same) {
                fprintf(stderr, "kernel %s differs: len %zu off %u rows %u cols %u\n", *name,
                        len, off, rows, cols);
                failures++;
                break;
            }
            tested++;
        }
        printf("kernel %s: %d cases bit-exact with scalar\n", *name, tested);
    }
}

/* The SIMD kernels against scalar on the shapes the codec runs: more rows
 * than one pass takes (4 per pass, remainders 1..3), up to 64 sources, the
 * packet sizes of the benchmarks and every length around the 32/64/128-byte
 * steps, at every source and destination misalignment. */
static void test_kernels_wide(void)
{
    enum { MAXLEN = 9100, ROWS = 19, COLS = 64 };
    static uint8_t src[COLS][MAXLEN + 64], a[ROWS][MAXLEN + 128], b[ROWS][MAXLEN + 128];
    const fec_kernel *ref = NULL, *k;
    CHECK(fec_kernel_by_name("scalar", &ref) == 0);
    for (unsigned c = 0; c < COLS; c++)
        fill(src[c], sizeof(src[c]));
    for (const char *const *name = fec_kernel_names(); *name; name++) {
        if (strcmp(*name, "scalar") == 0 || fec_kernel_by_name(*name, &k) != 0)
            continue;
        int tested = 0;
        for (unsigned iter = 0; iter < 600; iter++) {
            size_t len;
            if (iter < 300)
                len = iter;                       /* 0..299: every step and tail */
            else if (iter < 340)
                len = (iter & 1) ? 1400 : 9000;
            else
                len = rnd() % MAXLEN;
            unsigned off = rnd() % 64, doff = rnd() % 64;
            unsigned rows = 1 + rnd() % ROWS;
            unsigned cols = iter % 7 == 0 ? COLS : 1 + rnd() % COLS;
            uint8_t coef[ROWS * COLS];
            for (unsigned i = 0; i < rows * cols; i++)
                coef[i] = (uint8_t)(i % 11 == 0 ? (rnd() & 1) : rnd());
            const uint8_t *s[COLS];
            uint8_t *da[ROWS], *db[ROWS];
            for (unsigned c = 0; c < cols; c++)
                s[c] = src[c] + off;
            for (unsigned r = 0; r < rows; r++) {
                memset(a[r], 0x5A, len + 128);
                memset(b[r], 0x5A, len + 128);
                da[r] = a[r] + doff;
                db[r] = b[r] + doff;
            }
            ref->dotprod(da, rows, coef, s, cols, len);
            k->dotprod(db, rows, coef, s, cols, len);
            int same = 1;
            for (unsigned r = 0; r < rows; r++)   /* incl. the bytes around */
                same &= memcmp(a[r], b[r], len + 128) == 0;
            int set = (int)(iter & 1);
            ref->mad_rows(da, coef, rows, s[0], len, set);
            k->mad_rows(db, coef, rows, s[0], len, set);
            for (unsigned r = 0; r < rows; r++)
                same &= memcmp(a[r], b[r], len + 128) == 0;
            if (!same) {
                fprintf(stderr, "kernel %s differs (wide): len %zu off %u doff %u rows %u "
                        "cols %u\n", *name, len, off, doff, rows, cols);
                failures++;
                break;
            }
            tested++;
        }
        printf("kernel %s: %d wide cases bit-exact with scalar\n", *name, tested);
    }
}

/* The decode matrix cache reuses the previous call's entry when present[]
 * is byte-identical; that shortcut must never hand a stale matrix to a
 * block of another shape or after its entry was evicted and reused. */
static void test_cache_reuse(void)
{
    enum { LEN = 300, NMAX = 16 };
    static uint8_t orig[NMAX][LEN], work[NMAX][LEN];
    fec_matrix_cache *cache;
    CHECK(fec_matrix_cache_create(1, &cache) == 0);   /* one set of 4 ways */
    /* 6 patterns cycling through 4 ways: every entry is evicted in turn. */
    for (unsigned iter = 0; iter < 60; iter++) {
        const unsigned shape = (iter / 2) % 3;            /* (10,4) (9,5) (6,3) */
        const unsigned k = shape == 0 ? 10 : shape == 1 ? 9 : 6;
        const unsigned m = shape == 0 ? 4 : shape == 1 ? 5 : 3;
        uint8_t present[NMAX];
        memset(present, 1, sizeof(present));
        /* pattern p of 6, kept for 4 calls over two shapes: the same bytes
         * as the previous call with the same shape (the shortcut) and with
         * another shape of k + m = 14 (which must not take it) */
        const unsigned p = (iter / 4) % 6;
        present[p % k] = 0;
        present[(p * 3 + 1) % k] = 0;
        if (iter % 5 == 0)
            present[k + m - 1] = 0;                       /* a repair lost too */
        if (iter % 4 == 3)                                /* same pattern, other bytes */
            for (unsigned i = 0; i < k + m; i++)
                present[i] = present[i] ? 0x80 : 0;
        const uint8_t *data[NMAX];
        uint8_t *sym[NMAX];
        fill(&orig[0][0], sizeof(orig));
        for (unsigned i = 0; i < k + m; i++) {
            data[i] = orig[i];
            sym[i] = work[i];
        }
        CHECK(fec_encode_block(NULL, FEC_CODE_RS, k, m, data, (uint8_t *const *)&sym[k],
                               LEN) == 0);
        for (unsigned r = 0; r < m; r++)
            memcpy(orig[k + r], work[k + r], LEN);
        unsigned lost = 0;
        for (unsigned i = 0; i < k + m; i++) {
            memcpy(work[i], orig[i], LEN);
            if (!present[i]) {
                memset(work[i], 0xEE, LEN);
                lost += i < k;
            }
        }
        CHECK(fec_decode_block(NULL, cache, FEC_CODE_RS, k, m, sym, present, LEN) ==
              (int)lost);
        for (unsigned i = 0; i < k; i++)
            if (memcmp(work[i], orig[i], LEN) != 0) {
                fprintf(stderr, "cache reuse: iter %u k %u m %u source %u wrong\n", iter, k,
                        m, i);
                failures++;
                break;
            }
    }
    uint64_t hits, misses;
    fec_matrix_cache_stats(cache, &hits, &misses);
    CHECK(hits > 0 && misses > 0 && hits + misses == 60);
    fec_matrix_cache_destroy(cache);
}

static void test_block_codes(void)
{
    fec_matrix_cache *cache;
    CHECK(fec_matrix_cache_create(16, &cache) == 0);
    CHECK(fec_code_check(FEC_CODE_RS, 0, 1) == -EINVAL);
    CHECK(fec_code_check(FEC_CODE_RS, 4, 0) == -EINVAL);
    CHECK(fec_code_check(FEC_CODE_RS, 200, 56) == -EINVAL);
    CHECK(fec_code_check(FEC_CODE_RS, 200, 55) == 0);
    CHECK(fec_code_check(FEC_CODE_XOR, 8, 2) == -EINVAL);
    CHECK(fec_code_check(7, 8, 2) == -EINVAL);
    for (unsigned iter = 0; iter < 300; iter++) {
        const int code = iter % 5 == 1 ? FEC_CODE_XOR : FEC_CODE_RS;
        unsigned k, m;
        if (iter == 0) {
            k = 200, m = 55;
        } else {
            k = 1 + rnd() % 40;
            m = code == FEC_CODE_XOR ? 1 : 1 + rnd() % 12;
        }
        size_t len = 1 + rnd() % 700;
        uint8_t *orig = malloc((k + m) * len), *work = malloc((k + m) * len);
        fill(orig, k * len);
        const uint8_t *data[FEC_MAX_SYMBOLS];
        uint8_t *parity[FEC_MAX_SYMBOLS], *sym[FEC_MAX_SYMBOLS];
        for (unsigned i = 0; i < k; i++)
            data[i] = orig + i * len;
        for (unsigned r = 0; r < m; r++)
            parity[r] = orig + (k + r) * len;
        CHECK(fec_encode_block(NULL, code, k, m, data, parity, len) == 0);
        {
            uint8_t *gen = malloc((size_t)k * m), *again = malloc((size_t)m * len);
            uint8_t *rows2[FEC_MAX_SYMBOLS];
            for (unsigned r = 0; r < m; r++)
                rows2[r] = again + (size_t)r * len;
            CHECK(fec_code_matrix(code, k, m, gen) == 0);
            CHECK(fec_encode_block_matrix(NULL, gen, k, m, data, rows2, len) == 0);
            CHECK(memcmp(again, orig + (size_t)k * len, (size_t)m * len) == 0);
            free(gen);
            free(again);
        }
        if (code == FEC_CODE_XOR) {
            for (size_t x = 0; x < len; x++) {
                uint8_t v = 0;
                for (unsigned i = 0; i < k; i++)
                    v ^= data[i][x];
                CHECK(v == parity[0][x]);
            }
        }
        /* lose up to m symbols (sometimes m + 1) at random */
        uint8_t present[FEC_MAX_SYMBOLS];
        memset(present, 1, sizeof(present));
        unsigned lose = rnd() % (m + 2), lost_src = 0;
        for (unsigned n = 0; n < lose; n++) {
            unsigned i = rnd() % (k + m);
            if (present[i] && i < k)
                lost_src++;
            present[i] = 0;
        }
        unsigned lost_total = 0;
        for (unsigned i = 0; i < k + m; i++)
            lost_total += !present[i];
        memcpy(work, orig, (k + m) * len);
        for (unsigned i = 0; i < k + m; i++) {
            sym[i] = work + i * len;
            if (!present[i])
                memset(sym[i], 0xEE, len);
        }
        int rc = fec_decode_block(NULL, (iter & 1) ? cache : NULL, code, k, m, sym, present, len);
        if (lost_total <= m) {
            CHECK(rc == (int)lost_src);
            CHECK(memcmp(work, orig, k * len) == 0);
        } else {
            CHECK(rc == -EAGAIN || rc == (int)lost_src);
            if (rc == -EAGAIN)
                CHECK(lost_src > 0);
        }
        free(orig);
        free(work);
    }
    uint64_t hits, misses;
    fec_matrix_cache_stats(cache, &hits, &misses);
    CHECK(misses > 0);
    /* same loss pattern twice: the second is a hit */
    {
        enum { K = 6, M = 3, LEN = 100 };
        uint8_t buf[K + M][LEN];
        uint8_t *sym[K + M];
        const uint8_t *data[K];
        uint8_t present[K + M] = {1, 0, 1, 0, 1, 1, 1, 1, 0};
        for (unsigned i = 0; i < K + M; i++)
            sym[i] = buf[i];
        for (unsigned i = 0; i < K; i++)
            data[i] = buf[i];
        fill(&buf[0][0], sizeof(buf));
        CHECK(fec_encode_block(NULL, FEC_CODE_RS, K, M, data, sym + K, LEN) == 0);
        uint64_t h0, h1, m0, m1;
        fec_matrix_cache_stats(cache, &h0, &m0);
        CHECK(fec_decode_block(NULL, cache, FEC_CODE_RS, K, M, sym, present, LEN) == 2);
        CHECK(fec_decode_block(NULL, cache, FEC_CODE_RS, K, M, sym, present, LEN) == 2);
        fec_matrix_cache_stats(cache, &h1, &m1);
        CHECK(h1 == h0 + 1 && m1 == m0 + 1);
    }
    fec_matrix_cache_destroy(cache);
}

/* Reference CRC-16/CCITT-FALSE, bit by bit (independent of wire.c). */
static uint16_t crc16_ccitt_false(const uint8_t *p, size_t n)
{
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

static void resign(uint8_t *hdr)
{
    const uint16_t c = crc16_ccitt_false(hdr, FEC_HDR_LEN - 2);
    hdr[FEC_HDR_LEN - 2] = (uint8_t)(c >> 8);
    hdr[FEC_HDR_LEN - 1] = (uint8_t)c;
}

static void test_header(void)
{
    CHECK(crc16_ccitt_false((const uint8_t *)"123456789", 9) == 0x29B1);
    uint8_t pkt[FEC_HDR_LEN + 100];
    fec_hdr h = {.version = FEC_VERSION, .code = FEC_CODE_RS, .kind = FEC_KIND_SOURCE,
                 .k = 10, .m = 4, .index = 3, .flags = FEC_FLAG_FEEDBACK,
                 .block_id = 0xABCDEF012345ull, .session_id = 0x89ABCDEF, .length = 100};
    fec_hdr_write(pkt, &h);
    CHECK(pkt[0] == 2 && pkt[1] == 0x02 && pkt[5] == 0x01);
    CHECK(pkt[12] == 0x89 && pkt[13] == 0xAB && pkt[14] == 0xCD && pkt[15] == 0xEF);
    CHECK(pkt[16] == 0 && pkt[17] == 100);
    fec_hdr p;
    CHECK(fec_hdr_parse(pkt, sizeof(pkt), &p) == 0);
    CHECK(p.block_id == h.block_id && p.k == 10 && p.m == 4 && p.index == 3 && p.length == 100);
    CHECK(p.kind == FEC_KIND_SOURCE && p.code == FEC_CODE_RS && p.flags == FEC_FLAG_FEEDBACK);
    CHECK(p.session_id == 0x89ABCDEF && p.version == 2);
    CHECK(fec_hdr_parse(pkt, sizeof(pkt) - 1, &p) == -EBADMSG);   /* truncated payload */
    CHECK(fec_hdr_parse(pkt, FEC_HDR_LEN - 1, &p) == -EBADMSG);  /* truncated header */
    for (unsigned bit = 0; bit < FEC_HDR_LEN * 8; bit++) {
        pkt[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        CHECK(fec_hdr_parse(pkt, sizeof(pkt), &p) == -EBADMSG);
        pkt[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    h.index = 10;   /* a source index >= k */
    fec_hdr_write(pkt, &h);
    CHECK(fec_hdr_parse(pkt, sizeof(pkt), &p) == -EBADMSG);
    h.kind = FEC_KIND_REPAIR;
    h.index = 14;   /* a repair index >= k + m */
    fec_hdr_write(pkt, &h);
    CHECK(fec_hdr_parse(pkt, sizeof(pkt), &p) == -EBADMSG);
    h.index = 13;
    h.length = 98;
    fec_hdr_write(pkt, &h);
    CHECK(fec_hdr_parse(pkt, sizeof(pkt), &p) == 0 && p.kind == FEC_KIND_REPAIR);
    CHECK(pkt[1] == 0x12);
    /* rejected: version 1, kind 3, code 3 (RLC) with m 0, unknown code,
     * session 0, unknown flags, reserved type bits (more code 3 in test_rlc.c) */
    fec_hdr bad = h;
    bad.version = 1;
    fec_hdr_write(pkt, &bad);
    CHECK(fec_hdr_parse(pkt, sizeof(pkt), &p) == -EBADMSG);
    bad = h;
    bad.kind = 3;
    fec_hdr_write(pkt, &bad);
    CHECK(fec_hdr_parse(pkt, sizeof(pkt), &p) == -EBADMSG);
    bad = h;
    bad.code = FEC_CODE_RLC;
    bad.m = 0;
    fec_hdr_write(pkt, &bad);
    CHECK(fec_hdr_parse(pkt, sizeof(pkt), &p) == -EBADMSG);
    bad.code = 9;
    fec_hdr_write(pkt, &bad);
    CHECK(fec_hdr_parse(pkt, sizeof(pkt), &p) == -EBADMSG);
    bad = h;
    bad.session_id = 0;
    fec_hdr_write(pkt, &bad);
    CHECK(fec_hdr_parse(pkt, sizeof(pkt), &p) == -EBADMSG);
    bad = h;
    bad.flags = 0x02;
    fec_hdr_write(pkt, &bad);
    CHECK(fec_hdr_parse(pkt, sizeof(pkt), &p) == -EBADMSG);
    fec_hdr_write(pkt, &h);
    CHECK(crc16_ccitt_false(pkt, FEC_HDR_LEN - 2) == ((pkt[18] << 8) | pkt[19]));
    pkt[1] |= 0x40;                 /* reserved type bit, check re-signed */
    resign(pkt);
    CHECK(fec_hdr_parse(pkt, sizeof(pkt), &p) == -EBADMSG);
    pkt[1] &= (uint8_t)~0x40;
    resign(pkt);
    CHECK(fec_hdr_parse(pkt, sizeof(pkt), &p) == 0);

    /* control packets: code, k, m 0; payload of `length` bytes, may be 0 */
    fec_hdr c = {.version = FEC_VERSION, .kind = FEC_KIND_CONTROL, .index = 7,
                 .block_id = 5, .session_id = 42, .length = 30};
    fec_hdr_write(pkt, &c);
    CHECK(pkt[1] == 0x20);
    CHECK(fec_hdr_parse(pkt, FEC_HDR_LEN + 30, &p) == 0 && p.kind == FEC_KIND_CONTROL &&
          p.index == 7 && p.length == 30);
    CHECK(fec_hdr_parse(pkt, FEC_HDR_LEN + 29, &p) == -EBADMSG);
    c.length = 0;
    fec_hdr_write(pkt, &c);
    CHECK(fec_hdr_parse(pkt, FEC_HDR_LEN, &p) == 0);
    c.code = FEC_CODE_RS;
    fec_hdr_write(pkt, &c);
    CHECK(fec_hdr_parse(pkt, FEC_HDR_LEN, &p) == -EBADMSG);
    c.code = 0;
    c.k = 1;
    fec_hdr_write(pkt, &c);
    CHECK(fec_hdr_parse(pkt, FEC_HDR_LEN, &p) == -EBADMSG);
}

/* ---- streaming -------------------------------------------------------- */

typedef struct wire {
    uint8_t data[2048][1200];
    uint32_t len[2048];
    unsigned n;
} wire;

static uint8_t *wire_get(void *ctx, uint32_t len)
{
    wire *w = ctx;
    if (w->n == 2048 || len > sizeof(w->data[0]))
        return NULL;
    w->len[w->n] = len;
    return w->data[w->n++];
}

static void test_stream(unsigned k, unsigned m, unsigned depth, int code)
{
    static wire tx, rebuilt;
    static uint8_t src[600][1100];
    static uint32_t src_len[600];
    static uint8_t got[600];
    const unsigned N = 600;
    tx.n = rebuilt.n = 0;
    fec_encoder_config ec = {.code = code, .k = k, .m = m, .depth = depth, .max_payload = 1100,
                             .timeout = 1000, .first_block_id = FEC_BLOCK_ID_MASK - 3};
    fec_encoder *enc;
    CHECK(fec_encoder_create(&ec, &enc) == 0);
    uint8_t hdr[FEC_HDR_LEN];
    CHECK(fec_encoder_add(enc, src[0], 0, 0, hdr, NULL) == -EINVAL);
    CHECK(fec_encoder_add(enc, src[0], 1101, 0, hdr, NULL) == -EMSGSIZE);
    fec_sink sink = {.ctx = &tx, .get = wire_get};
    for (unsigned i = 0; i < N; i++) {
        src_len[i] = 1 + rnd() % 1100;
        fill(src[i], src_len[i]);
        /* the source packet on the wire: header + payload */
        uint8_t *p = wire_get(&tx, FEC_HDR_LEN + src_len[i]);
        CHECK(p != NULL);
        int rc = fec_encoder_add(enc, src[i], src_len[i], i, p, &sink);
        CHECK(rc >= 0);
        memcpy(p + FEC_HDR_LEN, src[i], src_len[i]);
    }
    CHECK(fec_encoder_flush(enc, &sink) >= 0);
    fec_encoder_stats es;
    fec_encoder_get_stats(enc, &es);
    CHECK(es.source_packets == N);
    CHECK(es.blocks == (N + k - 1) / k + (N % k && depth > 1 ? depth - 1 : 0) ||
          es.blocks >= N / k);
    fec_encoder_destroy(enc);

    /* lose a burst of depth packets in every window of k*depth packets,
     * which interleaving spreads to one loss per block */
    fec_decoder_config dc = {.max_payload = 1100, .max_blocks = 64, .max_symbols = 4096,
                             .timeout = 0, .cache_entries = 16};
    fec_decoder *dec;
    CHECK(fec_decoder_create(&dc, &dec) == 0);
    memset(got, 0, sizeof(got));
    unsigned delivered = 0;
    for (unsigned i = 0; i < tx.n; i++) {
        if (i % ((k + m) * depth) < depth && m >= 1)
            continue;
        fec_verdict v;
        fec_sink rs = {.ctx = &rebuilt, .get = wire_get};
        int rc = fec_decoder_push(dec, tx.data[i], tx.len[i], i, &rs, &v);
        CHECK(rc >= 0);
        if (v.action == FEC_DELIVER) {
            /* match it with its source by content */
            delivered++;
            CHECK(v.offset == FEC_HDR_LEN && v.offset + v.length <= tx.len[i]);
        }
        /* a duplicate of every packet changes nothing */
        fec_verdict v2;
        CHECK(fec_decoder_push(dec, tx.data[i], tx.len[i], i, &rs, &v2) == 0);
        CHECK(v2.action != FEC_DELIVER);
    }
    fec_decoder_stats ds;
    fec_decoder_get_stats(dec, &ds);
    /* every source reached the output exactly once: delivered or rebuilt */
    unsigned matched = 0;
    for (unsigned r = 0; r < rebuilt.n; r++)
        for (unsigned i = 0; i < N; i++)
            if (!got[i] && rebuilt.len[r] == src_len[i] &&
                memcmp(rebuilt.data[r], src[i], src_len[i]) == 0) {
                got[i] = 1;
                matched++;
                break;
            }
    CHECK(matched == rebuilt.n);
    CHECK(ds.recovered == rebuilt.n);
    CHECK(delivered + ds.recovered == N);
    CHECK(ds.unrecoverable == 0 && ds.malformed == 0);
    CHECK(ds.duplicate + ds.repair_unused > 0);
    CHECK(fec_decoder_poll(dec, UINT64_MAX) == 0);   /* no timeout configured */
    printf("stream code %d k %u m %u depth %u: %u delivered, %llu rebuilt, %llu repairs unused\n",
           code, k, m, depth, delivered, (unsigned long long)ds.recovered,
           (unsigned long long)ds.repair_unused);
    fec_decoder_destroy(dec);
}

/* Batching (fec_encoder_batch_begin/end) defers folding and codes a
 * block's sources in one pass: the wire output must be byte-identical to
 * the unbatched encoder's, whatever the burst sizes, lengths, deadlines,
 * parameter changes and missing parity buffers. */
typedef struct flaky_wire {
    wire *w;
    unsigned calls, fail_every;
} flaky_wire;

static uint8_t *flaky_get(void *ctx, uint32_t len)
{
    flaky_wire *f = ctx;
    if (f->fail_every && ++f->calls % f->fail_every == 0)
        return NULL;
    return wire_get(f->w, len);
}

static void batching_case(const fec_kernel *kern, int code, unsigned k, unsigned m,
                          unsigned depth, int lengths, unsigned fail_every)
{
    static wire out[2];
    static uint8_t src[700][1100];
    const unsigned N = 700;
    fec_encoder *enc[2];
    flaky_wire fw[2];
    for (int e = 0; e < 2; e++) {
        fec_encoder_config ec = {.code = code, .k = k, .m = m, .depth = depth,
                                 .max_payload = 1100, .timeout = 100, .kernel = kern,
                                 .session_id = 77, .max_m = 8, .max_depth = 4};
        CHECK(fec_encoder_create(&ec, &enc[e]) == 0);
        out[e].n = 0;
        fw[e] = (flaky_wire){.w = &out[e], .fail_every = fail_every};
    }
    uint64_t now = 0;
    unsigned i = 0;
    while (i < N) {
        unsigned burst = 1 + rnd() % 48;
        if (burst > N - i)
            burst = N - i;
        now += rnd() % 8 == 0 ? 150 : 1;             /* now and then past the deadline */
        if (i > N / 2 && i - burst <= N / 2)         /* once: adaptive change mid-stream */
            for (int e = 0; e < 2; e++)
                CHECK(fec_encoder_set_params(enc[e], code, k > 3 ? k - 2 : k, m > 1 ? m - 1 : m,
                                             depth) == 0);
        unsigned len = 1100;
        for (unsigned b = 0; b < burst; b++, i++) {
            if (lengths == 1 && rnd() % 16 == 0)
                len = 1 + rnd() % 1100;              /* runs of one length */
            else if (lengths == 2)
                len = 1 + rnd() % 1100;              /* every length different */
            fill(src[i], len);
            for (int e = 0; e < 2; e++) {
                if (e == 1 && b == 0)
                    fec_encoder_batch_begin(enc[1]);
                fec_sink sink = {.ctx = &fw[e], .get = flaky_get};
                uint8_t *p = wire_get(&out[e], FEC_HDR_LEN + len);
                CHECK(p != NULL);
                CHECK(fec_encoder_add(enc[e], src[i], len, now, p, &sink) >= 0);
                memcpy(p + FEC_HDR_LEN, src[i], len);
            }
        }
        for (int e = 0; e < 2; e++) {
            fec_sink sink = {.ctx = &fw[e], .get = flaky_get};
            CHECK(fec_encoder_poll(enc[e], now, &sink) >= 0);
        }
        fec_encoder_batch_end(enc[1]);
    }
    for (int e = 0; e < 2; e++) {
        fec_sink sink = {.ctx = &fw[e], .get = flaky_get};
        CHECK(fec_encoder_flush(enc[e], &sink) >= 0);
    }
    fec_encoder_stats st[2];
    fec_encoder_get_stats(enc[0], &st[0]);
    fec_encoder_get_stats(enc[1], &st[1]);
    CHECK(memcmp(&st[0], &st[1], sizeof(st[0])) == 0);
    CHECK(st[0].repair_packets > 0 && (fail_every == 0) == (st[0].no_buffer == 0));
    CHECK(out[0].n == out[1].n);
    unsigned diff = 0;
    for (unsigned p = 0; p < out[0].n && p < out[1].n; p++)
        if (out[0].len[p] != out[1].len[p] ||
            memcmp(out[0].data[p], out[1].data[p], out[0].len[p]) != 0)
            diff++;
    CHECK(diff == 0);
    if (diff)
        printf("batching %s code %d k %u m %u depth %u lengths %d: %u packets differ\n",
               kern->name, code, k, m, depth, lengths, diff);
    fec_encoder_destroy(enc[0]);
    fec_encoder_destroy(enc[1]);
}

static void test_batching(void)
{
    unsigned kernels = 0;
    for (const char *const *name = fec_kernel_names(); *name; name++) {
        const fec_kernel *kern;
        if (!fec_kernel_supported(*name) || fec_kernel_by_name(*name, &kern) != 0)
            continue;
        kernels++;
        for (int lengths = 0; lengths < 3; lengths++) {
            batching_case(kern, FEC_CODE_RS, 10, 4, 1, lengths, 0);
            batching_case(kern, FEC_CODE_RS, 5, 3, 3, lengths, 0);
            batching_case(kern, FEC_CODE_RS, 40, 2, 1, lengths, 0);   /* > ENC_PEND_MAX */
            batching_case(kern, FEC_CODE_XOR, 4, 1, 2, lengths, 0);
            batching_case(kern, FEC_CODE_RS, 10, 4, 1, lengths, 7);   /* missing buffers */
        }
    }
    CHECK(kernels >= 1);
    printf("batching: byte-identical to the unbatched encoder (%u kernels)\n", kernels);
}

static void test_deadline_and_bounds(void)
{
    static wire tx, rebuilt;
    tx.n = rebuilt.n = 0;
    fec_encoder_config ec = {.code = FEC_CODE_RS, .k = 8, .m = 2, .depth = 1,
                             .max_payload = 1000, .timeout = 50};
    fec_encoder *enc;
    CHECK(fec_encoder_create(&ec, &enc) == 0);
    fec_sink sink = {.ctx = &tx, .get = wire_get};
    uint8_t payload[3][500];
    for (unsigned i = 0; i < 3; i++) {
        fill(payload[i], 500);
        uint8_t *p = wire_get(&tx, FEC_HDR_LEN + 100 + i);
        CHECK(fec_encoder_add(enc, payload[i], 100 + i, 10 + i, p, &sink) == 0);
        memcpy(p + FEC_HDR_LEN, payload[i], 100 + i);
    }
    CHECK(fec_encoder_poll(enc, 59, &sink) == 0);
    CHECK(fec_encoder_poll(enc, 60, &sink) == 2);   /* deadline: partial block, k = 3 */
    fec_hdr h;
    CHECK(fec_hdr_parse(tx.data[3], tx.len[3], &h) == 0);
    CHECK(h.kind == FEC_KIND_REPAIR && h.k == 3 && h.index == 3 && h.length == 102);
    fec_encoder_destroy(enc);

    fec_decoder_config dc = {.max_payload = 1000, .max_blocks = 4, .max_symbols = 255,
                             .timeout = 100, .cache_entries = 0};
    fec_decoder *dec;
    CHECK(fec_decoder_create(&dc, &dec) == 0);
    fec_sink rs = {.ctx = &rebuilt, .get = wire_get};
    fec_verdict v;
    /* lose sources 0 and 2 of the partial block: both rebuilt from 2 repairs */
    CHECK(fec_decoder_push(dec, tx.data[1], tx.len[1], 0, &rs, &v) == 0);
    CHECK(v.action == FEC_DELIVER && v.length == 101);
    CHECK(fec_decoder_push(dec, tx.data[3], tx.len[3], 0, &rs, &v) == 0);
    CHECK(v.action == FEC_CONSUMED);
    CHECK(fec_decoder_push(dec, tx.data[4], tx.len[4], 0, &rs, &v) == 2);
    CHECK(rebuilt.n == 2 && rebuilt.len[0] == 100 && memcmp(rebuilt.data[0], payload[0], 100) == 0);
    CHECK(rebuilt.len[1] == 102 && memcmp(rebuilt.data[1], payload[2], 102) == 0);
    /* a late source of the settled block is a duplicate of its rebuilt copy */
    CHECK(fec_decoder_push(dec, tx.data[0], tx.len[0], 0, &rs, &v) == 0);
    CHECK(v.action == FEC_DROP_DUPLICATE);
    CHECK(fec_decoder_blocks_in_flight(dec) == 0 && fec_decoder_symbols_free(dec) == 255);

    /* garbage and malformed input is counted, never delivered */
    uint8_t junk[64];
    fill(junk, sizeof(junk));
    CHECK(fec_decoder_push(dec, junk, sizeof(junk), 0, &rs, &v) == 0);
    CHECK(v.action == FEC_DROP_MALFORMED);
    CHECK(fec_decoder_push(dec, junk, 0, 0, &rs, &v) == 0 && v.action == FEC_DROP_MALFORMED);
    CHECK(fec_decoder_push(dec, tx.data[1], 20, 0, &rs, &v) == 0 && v.action == FEC_DROP_MALFORMED);

    /* bounded state: many blocks with a loss and no repair */
    uint8_t pkt[FEC_HDR_LEN + 10];
    memset(pkt, 0x5A, sizeof(pkt));
    for (unsigned b = 0; b < 20; b++) {
        fec_hdr s = {.version = FEC_VERSION, .code = FEC_CODE_RS, .k = 4, .m = 1,
                     .index = 1, .block_id = 1000 + b, .session_id = 77, .length = 10};
        fec_hdr_write(pkt, &s);
        CHECK(fec_decoder_push(dec, pkt, sizeof(pkt), 200 + b, &rs, &v) == 0);
        CHECK(v.action == FEC_DELIVER);
        CHECK(fec_decoder_blocks_in_flight(dec) <= 4);
    }
    fec_decoder_stats ds;
    fec_decoder_get_stats(dec, &ds);
    CHECK(ds.blocks_evicted == 16 && ds.unrecoverable == 16 * 3);
    /* k changing inside a block is a counted drop */
    fec_hdr s = {.version = FEC_VERSION, .code = FEC_CODE_RS, .k = 5, .m = 1,
                 .index = 2, .block_id = 1019, .session_id = 77, .length = 10};
    fec_hdr_write(pkt, &s);
    CHECK(fec_decoder_push(dec, pkt, sizeof(pkt), 230, &rs, &v) == 0);
    CHECK(v.action == FEC_DROP_MALFORMED);
    /* very old block ids are late */
    s.k = 4;
    s.block_id = 1000 - 100;
    fec_hdr_write(pkt, &s);
    CHECK(fec_decoder_push(dec, pkt, sizeof(pkt), 230, &rs, &v) == 0);
    CHECK(v.action == FEC_DROP_LATE);
    CHECK(fec_decoder_poll(dec, 1000) == 4);          /* timeouts */
    CHECK(fec_decoder_blocks_in_flight(dec) == 0 && fec_decoder_symbols_free(dec) == 255);
    fec_decoder_get_stats(dec, &ds);
    CHECK(ds.blocks_expired == 4 && ds.late == 1);
    fec_decoder_destroy(dec);
}


/* ---- sessions, restarts, far-ahead ids (wire format v2) ---------------- */

/* Payload i of stream `tag`: BE32(tag << 24 | i), then bytes derived from
 * both, 20..169 bytes long; checked on the way out, so nothing that was not
 * sent can be counted as delivered. */
#define SP_MAX 170
static uint32_t sp_make(uint8_t *out, unsigned tag, unsigned i)
{
    const uint32_t len = 20 + (i * 37 + tag * 11) % (SP_MAX - 20);
    const uint32_t key = (uint32_t)tag << 24 | i;
    out[0] = (uint8_t)(key >> 24);
    out[1] = (uint8_t)(key >> 16);
    out[2] = (uint8_t)(key >> 8);
    out[3] = (uint8_t)key;
    for (uint32_t j = 4; j < len; j++)
        out[j] = (uint8_t)(key * 31 + j * 7);
    return len;
}

typedef struct bigwire {
    uint8_t data[40000][FEC_HDR_LEN + FEC_LEN_FIELD + SP_MAX];
    uint32_t len[40000];
    unsigned n;
} bigwire;

static uint8_t *bigwire_get(void *ctx, uint32_t len)
{
    bigwire *w = ctx;
    if (w->n == 40000 || len > sizeof(w->data[0]))
        return NULL;
    w->len[w->n] = len;
    return w->data[w->n++];
}

/* Append n payloads of stream tag, encoded by enc, to w (parity included). */
static void sp_encode(fec_encoder *enc, bigwire *w, unsigned tag, unsigned first, unsigned n)
{
    fec_sink sink = {.ctx = w, .get = bigwire_get};
    uint8_t payload[SP_MAX];
    for (unsigned i = first; i < first + n; i++) {
        const uint32_t len = sp_make(payload, tag, i);
        uint8_t *p = bigwire_get(w, FEC_HDR_LEN + len);
        CHECK(p != NULL);
        if (p == NULL)
            return;
        CHECK(fec_encoder_add(enc, payload, len, 0, p, &sink) >= 0);
        memcpy(p + FEC_HDR_LEN, payload, len);
    }
}

/* What came out of a decoder: per (tag, index) how often; bad: outputs
 * that match nothing sent. */
typedef struct outcome {
    uint8_t got[8][16384];
    unsigned total, bad, twice;
} outcome;

static void sp_check(outcome *o, const uint8_t *p, uint32_t len)
{
    uint8_t want[SP_MAX];
    if (len < 4) {
        o->bad++;
        return;
    }
    const uint32_t key = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    const unsigned tag = key >> 24, i = key & 0xffffff;
    if (tag >= 8 || i >= 16384 || sp_make(want, tag, i) != len || memcmp(want, p, len) != 0) {
        o->bad++;
        return;
    }
    if (o->got[tag][i]++)
        o->twice++;
    o->total++;
}

typedef struct collect {
    uint8_t data[FEC_MAX_SYMBOLS][SP_MAX + 64];
    uint32_t len[FEC_MAX_SYMBOLS];
    unsigned n;
} collect;

static uint8_t *collect_get(void *ctx, uint32_t len)
{
    collect *c = ctx;
    if (c->n == FEC_MAX_SYMBOLS || len > sizeof(c->data[0]))
        return NULL;
    c->len[c->n] = len;
    return c->data[c->n++];
}

/* Push one packet, check what it delivers or lets rebuild; the verdict. */
static int sp_push(fec_decoder *dec, outcome *o, const uint8_t *pkt, uint32_t len)
{
    static collect c;
    fec_sink sink = {.ctx = &c, .get = collect_get};
    fec_verdict v;
    c.n = 0;
    int rc = fec_decoder_push(dec, pkt, len, 0, &sink, &v);
    CHECK(rc >= 0 && (unsigned)rc == c.n);
    for (unsigned r = 0; r < c.n; r++)
        sp_check(o, c.data[r], c.len[r]);
    if (v.action == FEC_DELIVER) {
        CHECK(v.offset + (uint64_t)v.length <= len);
        sp_check(o, pkt + v.offset, v.length);
    }
    return v.action;
}

static fec_decoder *sp_decoder(unsigned max_sessions)
{
    fec_decoder_config dc = {.max_payload = SP_MAX, .max_blocks = 64, .max_symbols = 4096,
                             .timeout = 0, .cache_entries = 16, .max_sessions = max_sessions};
    fec_decoder *dec = NULL;
    CHECK(fec_decoder_create(&dc, &dec) == 0);
    return dec;
}

static fec_encoder *sp_encoder(uint32_t session_id)
{
    fec_encoder_config ec = {.code = FEC_CODE_RS, .k = 10, .m = 4, .depth = 1,
                             .max_payload = SP_MAX, .session_id = session_id};
    fec_encoder *enc = NULL;
    CHECK(fec_encoder_create(&ec, &enc) == 0);
    return enc;
}

/* A lossy link: drop packet i of a stream when i % 14 is 3 or 9 (two losses
 * per RS(10,4) block, always recoverable). */
static int lossy_drop(unsigned i)
{
    return i % 14 == 3 || i % 14 == 9;
}

static void test_session_ids(void)
{
    fec_encoder *a = sp_encoder(0), *b = sp_encoder(0), *c = sp_encoder(0xCAFE);
    CHECK(fec_encoder_session_id(a) != 0 && fec_encoder_session_id(b) != 0);
    CHECK(fec_encoder_session_id(a) != fec_encoder_session_id(b));
    CHECK(fec_encoder_session_id(c) == 0xCAFE);
    static bigwire w;
    w.n = 0;
    sp_encode(c, &w, 0, 0, 1);
    fec_hdr h;
    CHECK(fec_hdr_parse(w.data[0], w.len[0], &h) == 0 && h.session_id == 0xCAFE && h.flags == 0);
    fec_encoder_destroy(a);
    fec_encoder_destroy(b);
    fec_encoder_destroy(c);
    fec_encoder_config ec = {.code = FEC_CODE_RS, .k = 4, .m = 2, .depth = 1,
                             .max_payload = 100, .flags = 0x80};
    fec_encoder *e;
    CHECK(fec_encoder_create(&ec, &e) == -EINVAL);
    ec.flags = FEC_FLAG_FEEDBACK;
    CHECK(fec_encoder_create(&ec, &e) == 0);
    w.n = 0;
    sp_encode(e, &w, 0, 0, 1);
    CHECK(fec_hdr_parse(w.data[0], w.len[0], &h) == 0 && h.flags == FEC_FLAG_FEEDBACK);
    fec_encoder_destroy(e);
    uint32_t r1 = 0, r2 = 0;
    CHECK(fec_random_session_id(&r1) == 0 && fec_random_session_id(&r2) == 0);
    CHECK(r1 != 0 && r2 != 0 && r1 != r2);

    fec_decoder_config dc = {.max_payload = 100, .max_blocks = 4, .max_symbols = 255,
                             .max_sessions = 1};
    fec_decoder *d;
    CHECK(fec_decoder_create(&dc, &d) == -EINVAL);      /* needs room beside the live one */
    dc.max_sessions = FEC_MAX_SESSIONS + 1;
    CHECK(fec_decoder_create(&dc, &d) == -EINVAL);
    dc.max_sessions = FEC_MAX_SESSIONS;                  /* memory bound */
    dc.max_blocks = FEC_MAX_SESSION_BLOCKS / FEC_MAX_SESSIONS + 1;
    CHECK(fec_decoder_create(&dc, &d) == -EINVAL);
    dc.max_blocks = FEC_MAX_SESSION_BLOCKS / FEC_MAX_SESSIONS;
    CHECK(fec_decoder_create(&dc, &d) == 0);
    fec_decoder_destroy(d);
    dc.max_blocks = 4;
    dc.max_sessions = 0;                                 /* default */
    CHECK(fec_decoder_create(&dc, &d) == 0);
    CHECK(fec_decoder_sessions(d) == 0 && fec_decoder_live_session(d) == 0);
    fec_decoder_destroy(d);
}

/* Issue 9's handed case: 3000 frames, encoder restart, 3000 more: all 6000
 * delivered (version 1 delivered 3000: the new stream's block ids restarted
 * at 0 and were taken as late). */
static void test_restart(void)
{
    static bigwire w;
    static outcome o;
    memset(&o, 0, sizeof(o));
    w.n = 0;
    fec_encoder *enc = sp_encoder(0);
    sp_encode(enc, &w, 1, 0, 3000);
    fec_encoder_destroy(enc);
    enc = sp_encoder(0);                 /* restart: block ids from 0 again */
    sp_encode(enc, &w, 1, 3000, 3000);
    fec_encoder_destroy(enc);
    fec_decoder *dec = sp_decoder(0);
    for (unsigned i = 0; i < w.n; i++)
        if (!lossy_drop(i))
            sp_push(dec, &o, w.data[i], w.len[i]);
    fec_decoder_stats st;
    fec_decoder_get_stats(dec, &st);
    CHECK(o.total == 6000 && o.bad == 0 && o.twice == 0);
    CHECK(st.late == 0 && st.sessions_opened == 2 && st.sessions_evicted == 0);
    CHECK(st.recovered > 0 && st.unrecoverable == 0);
    printf("restart: %u of 6000 delivered (%llu rebuilt), %u sessions\n", o.total,
           (unsigned long long)st.recovered, fec_decoder_sessions(dec));
    fec_decoder_destroy(dec);
}

/* Four encoders' streams interleaved packet by packet, lossy: all delivered. */
static void test_concurrent_sessions(void)
{
    static bigwire w[4];
    static outcome o;
    memset(&o, 0, sizeof(o));
    for (unsigned t = 0; t < 4; t++) {
        w[t].n = 0;
        fec_encoder *enc = sp_encoder(1000 + t);
        sp_encode(enc, &w[t], t, 0, 2000);
        fec_encoder_destroy(enc);
    }
    fec_decoder *dec = sp_decoder(0);
    for (unsigned i = 0; i < w[0].n; i++)
        for (unsigned t = 0; t < 4; t++)
            if (i < w[t].n && !lossy_drop(i + t))
                sp_push(dec, &o, w[t].data[i], w[t].len[i]);
    fec_decoder_stats st;
    fec_decoder_get_stats(dec, &st);
    CHECK(o.total == 8000 && o.bad == 0 && o.twice == 0);
    CHECK(st.sessions_opened == 4 && st.sessions_evicted == 0 && st.unrecoverable == 0);
    CHECK(fec_decoder_sessions(dec) == 4);
    fec_decoder_destroy(dec);
}

/* A copy of src's header rewritten: session id and block id changed. */
static uint32_t forge(uint8_t *out, const uint8_t *src, uint32_t len, uint32_t session,
                      uint64_t block_id)
{
    fec_hdr h;
    memcpy(out, src, len);
    CHECK(fec_hdr_parse(src, len, &h) == 0);
    h.session_id = session;
    h.block_id = block_id;
    fec_hdr_write(out, &h);
    return len;
}

/* A live lossy stream of 1100 payloads with one stray packet in it, `ahead`
 * blocks ahead of the newest block (same session), or with a new session
 * id when new_session is set: every genuine packet is delivered.  Version 1
 * delivered 113 of 1100 with 2^20 ahead and lost 40 % with 2^10 ahead. */
static void stray_case(uint64_t ahead, int new_session)
{
    static bigwire w;
    static outcome o;
    static uint8_t stray[FEC_HDR_LEN + FEC_LEN_FIELD + SP_MAX];
    memset(&o, 0, sizeof(o));
    w.n = 0;
    fec_encoder *enc = sp_encoder(0x5E551011);
    sp_encode(enc, &w, 2, 0, 1100);
    fec_encoder_destroy(enc);
    fec_decoder *dec = sp_decoder(0);
    for (unsigned i = 0; i < w.n; i++) {
        if (!lossy_drop(i))
            sp_push(dec, &o, w.data[i], w.len[i]);
        if (i == 300) {
            fec_hdr h;
            CHECK(fec_hdr_parse(w.data[i], w.len[i], &h) == 0);
            const uint32_t len = forge(stray, w.data[i + 1], w.len[i + 1],
                                       new_session ? 0x0BAD0001 : h.session_id,
                                       (h.block_id + ahead) & FEC_BLOCK_ID_MASK);
            const int action = sp_push(dec, &o, stray, len);
            if (new_session)
                CHECK(action == FEC_DELIVER || action == FEC_CONSUMED);
            else
                CHECK(action == FEC_DROP_UNCONFIRMED || action == FEC_DROP_LATE);
        }
    }
    fec_decoder_stats st;
    fec_decoder_get_stats(dec, &st);
    unsigned genuine = 0;
    for (unsigned i = 0; i < 1100; i++)
        genuine += o.got[2][i] >= 1;
    /* a stray of a new session is a packet like any other (plain mode
     * trusts the link): it carries a copy of a genuine payload here */
    CHECK(genuine == 1100 && o.bad == 0 && o.twice <= (new_session ? 1u : 0u));
    CHECK(st.late == (!new_session && ahead >= (UINT64_C(1) << 47) ? 1u : 0u));
    CHECK(st.resyncs == 0 && st.unrecoverable == 0);
    CHECK(fec_decoder_live_session(dec) == 0x5E551011);
    printf("stray packet %s %llu blocks ahead: %u of 1100 genuine delivered, "
           "%llu unconfirmed, %llu late\n", new_session ? "of a new session" : "in the session",
           (unsigned long long)ahead, genuine, (unsigned long long)st.unconfirmed,
           (unsigned long long)st.late);
    fec_decoder_destroy(dec);
}

/* The first packet of a new session is a stray far from the stream (say a
 * header bit error the CRC missed): the session's window follows the
 * genuine packets after it, nothing genuine is late. */
static void test_stray_first_packet_of_a_session(void)
{
    static bigwire w;
    static outcome o;
    static uint8_t stray[FEC_HDR_LEN + FEC_LEN_FIELD + SP_MAX];
    for (int far_behind = 0; far_behind < 2; far_behind++) {
        memset(&o, 0, sizeof(o));
        w.n = 0;
        fec_encoder *enc = sp_encoder(0x0F1257);
        sp_encode(enc, &w, 6, 0, 1100);
        fec_encoder_destroy(enc);
        fec_decoder *dec = sp_decoder(0);
        fec_hdr h;
        CHECK(fec_hdr_parse(w.data[0], w.len[0], &h) == 0);
        const uint64_t shift = far_behind ? FEC_BLOCK_ID_MASK - 5000 : UINT64_C(1) << 20;
        const uint32_t len = forge(stray, w.data[5], w.len[5], h.session_id,
                                   (h.block_id + shift) & FEC_BLOCK_ID_MASK);
        sp_push(dec, &o, stray, len);
        for (unsigned i = 0; i < w.n; i++)
            if (!lossy_drop(i))
                sp_push(dec, &o, w.data[i], w.len[i]);
        fec_decoder_stats st;
        fec_decoder_get_stats(dec, &st);
        unsigned genuine = 0;
        for (unsigned i = 0; i < 1100; i++)
            genuine += o.got[6][i] >= 1;
        CHECK(genuine == 1100 && o.bad == 0 && st.late == 0 && st.unconfirmed == 0);
        CHECK(st.sessions_opened == 1 && fec_decoder_live_session(dec) == 0x0F1257);
        fec_decoder_destroy(dec);
    }
}

static void test_far_ahead_ids(void)
{
    stray_case(UINT64_C(1) << 10, 0);
    stray_case(UINT64_C(1) << 20, 0);
    stray_case(UINT64_C(1) << 47, 0);
    stray_case(UINT64_C(1) << 20, 1);
    stray_case(200, 1);

    /* A genuine jump (an outage longer than 2 * max_blocks blocks) moves the
     * window after FEC_CONFIRM_PACKETS packets in a row; the ones before
     * the last are dropped as unconfirmed, and rebuilt from their block's
     * repair packets: everything sent after the outage is delivered. */
    static bigwire w;
    static outcome o;
    memset(&o, 0, sizeof(o));
    w.n = 0;
    fec_encoder *enc = sp_encoder(0x0717);
    sp_encode(enc, &w, 3, 0, 5000);
    fec_encoder_destroy(enc);
    fec_decoder *dec = sp_decoder(0);          /* max_blocks 64: far ahead = 128 */
    const unsigned cut_from = 14 * 50, cut_to = 14 * 250;   /* 200 blocks lost */
    for (unsigned i = 0; i < w.n; i++)
        if (i < cut_from || i >= cut_to)
            sp_push(dec, &o, w.data[i], w.len[i]);
    fec_decoder_stats st;
    fec_decoder_get_stats(dec, &st);
    const unsigned lost_sources = 200 * 10;
    CHECK(st.resyncs == 1 && st.unconfirmed == FEC_CONFIRM_PACKETS - 1);
    CHECK(o.total == 5000 - lost_sources && st.recovered == FEC_CONFIRM_PACKETS - 1);
    printf("outage of 200 blocks: %u of %u sent after it delivered, %llu unconfirmed\n",
           o.total, 5000 - lost_sources, (unsigned long long)st.unconfirmed);
    CHECK(o.bad == 0 && o.twice == 0 && st.late == 0);
    fec_decoder_destroy(dec);

    /* Stray far-ahead packets spread over time never add up to a
     * confirmation: genuine packets in between start the count again. */
    memset(&o, 0, sizeof(o));
    w.n = 0;
    enc = sp_encoder(0x0718);
    sp_encode(enc, &w, 4, 0, 3000);
    fec_encoder_destroy(enc);
    dec = sp_decoder(0);
    static uint8_t stray[FEC_HDR_LEN + FEC_LEN_FIELD + SP_MAX];
    for (unsigned i = 0; i < w.n; i++) {
        sp_push(dec, &o, w.data[i], w.len[i]);
        if (i % 100 == 50) {
            fec_hdr h;
            CHECK(fec_hdr_parse(w.data[i], w.len[i], &h) == 0);
            const uint32_t len = forge(stray, w.data[i], w.len[i], h.session_id,
                                       h.block_id + 100000 + i);
            CHECK(sp_push(dec, &o, stray, len) == FEC_DROP_UNCONFIRMED);
        }
    }
    fec_decoder_get_stats(dec, &st);
    CHECK(o.total == 3000 && o.bad == 0 && st.resyncs == 0 && st.late == 0);
    fec_decoder_destroy(dec);
}

/* A table full of forged session ids (each used once) in bursts around a
 * live lossy stream: the live session keeps every packet (its blocks in
 * flight survive), the forged ones evict each other. */
static void test_session_table_full(void)
{
    static bigwire w;
    static outcome o;
    static uint8_t stray[FEC_HDR_LEN + FEC_LEN_FIELD + SP_MAX];
    memset(&o, 0, sizeof(o));
    w.n = 0;
    fec_encoder *enc = sp_encoder(0x11FE);
    sp_encode(enc, &w, 5, 0, 3000);
    fec_encoder_destroy(enc);
    fec_decoder *dec = sp_decoder(0);
    unsigned forged = 0;
    for (unsigned i = 0; i < w.n; i++) {
        if (!lossy_drop(i))
            sp_push(dec, &o, w.data[i], w.len[i]);
        if (i >= 20 && i % 50 == 0) {
            /* a burst of sources of random blocks, each in a fresh session:
             * more ids than the table holds, so the live one is the least
             * recently used and only its protection keeps it */
            for (unsigned j = 0; j < 3 * FEC_DEFAULT_MAX_SESSIONS; j++) {
                fec_hdr h;
                CHECK(fec_hdr_parse(w.data[i], w.len[i], &h) == 0);
                const uint32_t len = forge(stray, w.data[i], w.len[i],
                                           0xF0000000u + forged, rnd() & FEC_BLOCK_ID_MASK);
                sp_push(dec, &o, stray, len);
                forged++;
            }
        }
    }
    fec_decoder_stats st;
    fec_decoder_get_stats(dec, &st);
    unsigned genuine = 0;
    for (unsigned i = 0; i < 3000; i++)
        genuine += o.got[5][i] >= 1;   /* forged copies may deliver a payload twice */
    CHECK(genuine == 3000 && o.bad == 0);
    CHECK(st.sessions_opened == 1 + forged && st.sessions_evicted >= forged - 7);
    CHECK(fec_decoder_sessions(dec) == FEC_DEFAULT_MAX_SESSIONS);
    CHECK(fec_decoder_live_session(dec) == 0x11FE);
    printf("session table full: %u of 3000 genuine delivered beside %u forged ids "
           "(%llu sessions evicted, %llu blocks evicted)\n", genuine, forged,
           (unsigned long long)st.sessions_evicted, (unsigned long long)st.blocks_evicted);
    fec_decoder_destroy(dec);
}

/* Control packets: header checked, handed out, no decoder state touched. */
static void test_control_packets(void)
{
    uint8_t pkt[FEC_HDR_LEN + 12];
    fec_hdr c = {.version = FEC_VERSION, .kind = FEC_KIND_CONTROL, .index = 1,
                 .block_id = 9, .session_id = 0xC0, .length = 12};
    fec_hdr_write(pkt, &c);
    memset(pkt + FEC_HDR_LEN, 0xEE, 12);
    fec_decoder *dec = sp_decoder(0);
    fec_verdict v;
    CHECK(fec_decoder_push(dec, pkt, sizeof(pkt), 0, NULL, &v) == 0);
    CHECK(v.action == FEC_CONTROL && v.offset == FEC_HDR_LEN && v.length == 12);
    CHECK(fec_decoder_push(dec, pkt, sizeof(pkt) - 1, 0, NULL, &v) == 0);
    CHECK(v.action == FEC_DROP_MALFORMED);
    fec_decoder_stats st;
    fec_decoder_get_stats(dec, &st);
    CHECK(st.control == 1 && st.malformed == 1 && st.sessions_opened == 0);
    CHECK(fec_decoder_blocks_in_flight(dec) == 0 && fec_decoder_sessions(dec) == 0);
    fec_decoder_destroy(dec);
}

int main(void)
{
    fec_init();
    printf("default kernel: %s\n", fec_kernel_default()->name);
    test_gf();
    test_kernels();
    test_kernels_wide();
    test_block_codes();
    test_cache_reuse();
    test_header();
    test_stream(5, 2, 1, FEC_CODE_RS);
    test_stream(4, 1, 3, FEC_CODE_XOR);
    test_stream(10, 4, 4, FEC_CODE_RS);
    test_stream(1, 1, 1, FEC_CODE_RS);
    test_batching();
    test_deadline_and_bounds();
    test_session_ids();
    test_restart();
    test_concurrent_sessions();
    test_far_ahead_ids();
    test_stray_first_packet_of_a_session();
    test_session_table_full();
    test_control_packets();
    if (!failures)
        printf("all fec checks passed\n");
    return pd_check_result();
}
