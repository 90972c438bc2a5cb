/* C unit tests of native/fec: GF tables, kernels against the scalar
 * reference, block codes, wire header, streaming encoder and decoder. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fec.h"

static int failures;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                          \
        }                                                                        \
    } while (0)

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

static void test_header(void)
{
    uint8_t pkt[FEC_HDR_LEN + 100];
    fec_hdr h = {.version = FEC_VERSION, .code = FEC_CODE_RS, .repair = 0, .k = 10, .m = 4,
                 .index = 3, .block_id = 0xABCDEF012345ull, .length = 100};
    fec_hdr_write(pkt, &h);
    fec_hdr p;
    CHECK(fec_hdr_parse(pkt, sizeof(pkt), &p) == 0);
    CHECK(p.block_id == h.block_id && p.k == 10 && p.m == 4 && p.index == 3 && p.length == 100);
    CHECK(p.repair == 0 && p.code == FEC_CODE_RS);
    CHECK(fec_hdr_parse(pkt, sizeof(pkt) - 1, &p) == -EBADMSG);   /* truncated payload */
    CHECK(fec_hdr_parse(pkt, 10, &p) == -EBADMSG);                 /* truncated header */
    for (unsigned bit = 0; bit < FEC_HDR_LEN * 8; bit++) {
        pkt[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        CHECK(fec_hdr_parse(pkt, sizeof(pkt), &p) == -EBADMSG);
        pkt[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    h.index = 10;   /* a source index >= k */
    fec_hdr_write(pkt, &h);
    CHECK(fec_hdr_parse(pkt, sizeof(pkt), &p) == -EBADMSG);
    h.repair = 1;
    h.index = 14;   /* a repair index >= k + m */
    fec_hdr_write(pkt, &h);
    CHECK(fec_hdr_parse(pkt, sizeof(pkt), &p) == -EBADMSG);
    h.index = 13;
    h.length = 98;
    fec_hdr_write(pkt, &h);
    CHECK(fec_hdr_parse(pkt, sizeof(pkt), &p) == 0);
    h.version = 2;
    fec_hdr_write(pkt, &h);
    CHECK(fec_hdr_parse(pkt, sizeof(pkt), &p) == -EBADMSG);
    h.version = FEC_VERSION;
    h.code = 9;
    fec_hdr_write(pkt, &h);
    CHECK(fec_hdr_parse(pkt, sizeof(pkt), &p) == -EBADMSG);
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
    CHECK(h.repair && h.k == 3 && h.index == 3 && h.length == 102);
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
                     .index = 1, .block_id = 1000 + b, .length = 10};
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
                 .index = 2, .block_id = 1019, .length = 10};
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
    test_deadline_and_bounds();
    if (failures) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("all fec checks passed\n");
    return 0;
}
