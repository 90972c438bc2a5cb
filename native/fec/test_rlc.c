/* C unit tests of the sliding-window code (code 3): coefficient generator,
 * the documented test vector, header checks, encoder arguments, streaming
 * round trips under loss (nothing wrong delivered, every source delivered
 * or counted), and bounded decoder state. */
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

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

#define CAP 4096
typedef struct outbuf {
    uint8_t data[CAP][1600];
    uint32_t len[CAP];
    unsigned n;
} outbuf;

static uint8_t *get(void *ctx, uint32_t len)
{
    outbuf *o = ctx;
    if (o->n == CAP || len > sizeof(o->data[0]))
        return NULL;
    o->len[o->n] = len;
    return o->data[o->n++];
}

static void test_coefficients(void)
{
    uint8_t c[255];
    fec_rlc_coefs(0x0102030405ull, 2, 0, c);
    CHECK(c[0] == 0xf9 && c[1] == 0x0c);
    fec_rlc_coefs(0x0102030405ull, 3, 0, c);
    CHECK(c[0] == 0xbc && c[1] == 0x10 && c[2] == 0x3b);
    fec_rlc_coefs(7, 255, 9, c);
    for (unsigned i = 0; i < 255; i++)
        CHECK(c[i] != 0);
}

static unsigned unhex(const char *s, uint8_t *out)
{
    unsigned n = 0;
    for (; *s; s++) {
        if (*s == ' ')
            continue;
        unsigned v;
        sscanf(s, "%2x", &v);
        out[n++] = (uint8_t)v;
        s++;
    }
    return n;
}

static void test_vector(void)
{
    static outbuf o;
    fec_encoder_config cfg = {.code = FEC_CODE_RLC, .k = 2, .m = 1, .window = 3, .depth = 1,
                              .max_payload = 100, .first_block_id = 0x0102030405ull,
                              .session_id = 0x0A0B0C0D};
    fec_encoder *enc = NULL;
    CHECK(fec_encoder_create(&cfg, &enc) == 0);
    fec_sink sink = {.ctx = &o, .get = get};
    const char *payloads[] = {"hello", "FEC!!!!", "rlc"};
    uint8_t wire[5][64];
    unsigned wlen[5], w = 0;
    o.n = 0;
    for (unsigned i = 0; i < 3; i++) {
        const uint32_t len = (uint32_t)strlen(payloads[i]);
        uint8_t hdr[FEC_HDR_LEN];
        CHECK(fec_encoder_add(enc, (const uint8_t *)payloads[i], len, 0, hdr, &sink) >= 0);
        memcpy(wire[w], hdr, FEC_HDR_LEN);
        memcpy(wire[w] + FEC_HDR_LEN, payloads[i], len);
        wlen[w++] = FEC_HDR_LEN + len;
        for (unsigned r = 0; r < o.n; r++) {
            memcpy(wire[w], o.data[r], o.len[r]);
            wlen[w++] = o.len[r];
        }
        o.n = 0;
    }
    CHECK(fec_encoder_flush(enc, &sink) == 1);
    memcpy(wire[w], o.data[0], o.len[0]);
    wlen[w++] = o.len[0];
    CHECK(w == 5);
    static const char *const expect[] = {
        "02 03 03 01 02 00 00 01 02 03 04 05 0a 0b 0c 0d 00 05 5e cb 68 65 6c 6c 6f",
        "02 03 03 01 02 00 00 01 02 03 04 06 0a 0b 0c 0d 00 07 a6 0b 46 45 43 21 21 21 21",
        "02 13 02 01 00 00 00 01 02 03 04 05 0a 0b 0c 0d 00 07 3e 6e 00 1e 6e db 91 33 25 91 91",
        "02 03 03 01 02 00 00 01 02 03 04 07 0a 0b 0c 0d 00 03 5e ee 72 6c 63",
        "02 13 03 01 00 00 00 01 02 03 04 05 0a 0b 0c 0d 00 07 96 4a 00 4b 0b 0c 3d 4b 92 2a 2a",
    };
    for (unsigned i = 0; i < 5; i++) {
        uint8_t want[64];
        const unsigned n = unhex(expect[i], want);
        CHECK(n == wlen[i] && memcmp(want, wire[i], n) == 0);
    }
    /* Lose source 6 ("FEC!!!!") and the first repair: the flush's repair
     * over the three rebuilds it. */
    fec_decoder_config dc = {.max_payload = 100, .max_blocks = 8, .max_symbols = 255};
    fec_decoder *dec = NULL;
    CHECK(fec_decoder_create(&dc, &dec) == 0);
    const unsigned order[] = {0, 3, 4};
    fec_verdict v;
    o.n = 0;
    for (unsigned i = 0; i < 3; i++)
        fec_decoder_push(dec, wire[order[i]], wlen[order[i]], 0, &sink, &v);
    CHECK(o.n == 1 && o.len[0] == 7 && memcmp(o.data[0], "FEC!!!!", 7) == 0);
    fec_decoder_destroy(dec);
    fec_encoder_destroy(enc);
}

static void test_arguments_and_header(void)
{
    fec_encoder *enc = NULL;
    fec_encoder_config cfg = {.code = FEC_CODE_RLC, .k = 4, .m = 2, .window = 3, .depth = 1,
                              .max_payload = 100, .session_id = 1};
    CHECK(fec_encoder_create(&cfg, &enc) == -EINVAL);        /* window < k */
    cfg.window = 256;
    CHECK(fec_encoder_create(&cfg, &enc) == -EINVAL);
    cfg.window = 8;
    cfg.depth = 2;
    CHECK(fec_encoder_create(&cfg, &enc) == -EINVAL);        /* no interleaving */
    cfg.depth = 1;
    cfg.m = 0;
    CHECK(fec_encoder_create(&cfg, &enc) == -EINVAL);
    cfg.m = 255;
    cfg.window = 0;                                          /* 0: window = k */
    CHECK(fec_encoder_create(&cfg, &enc) == 0);
    fec_encoder_destroy(enc);

    uint8_t pkt[64] = {0};
    fec_hdr h = {.version = FEC_VERSION, .code = FEC_CODE_RLC, .kind = FEC_KIND_SOURCE,
                 .k = 10, .m = 2, .index = 5, .block_id = 77, .session_id = 3, .length = 4};
    fec_hdr p;
    fec_hdr_write(pkt, &h);
    CHECK(fec_hdr_parse(pkt, 24, &p) == 0 && p.code == FEC_CODE_RLC && p.block_id == 77);
    CHECK(fec_hdr_parse(pkt, 23, &p) == -EBADMSG);           /* payload cut */
    h.index = 0;                                             /* interval 0 */
    fec_hdr_write(pkt, &h);
    CHECK(fec_hdr_parse(pkt, 24, &p) == -EBADMSG);
    h.index = 11;                                            /* interval > window */
    fec_hdr_write(pkt, &h);
    CHECK(fec_hdr_parse(pkt, 24, &p) == -EBADMSG);
    h.kind = FEC_KIND_REPAIR;                                /* key: any index */
    h.index = 200;
    fec_hdr_write(pkt, &h);
    CHECK(fec_hdr_parse(pkt, 26, &p) == 0);
    CHECK(fec_hdr_parse(pkt, 25, &p) == -EBADMSG);           /* L + 2 bytes needed */
    h.k = 0;
    fec_hdr_write(pkt, &h);
    CHECK(fec_hdr_parse(pkt, 26, &p) == -EBADMSG);
}

/* A stream with random loss, reordering and duplicates: every output is the
 * payload sent with that ESI (payloads carry their ESI), at most once; after
 * expiry every ESI is delivered or counted unrecoverable; the pool is whole. */
static void test_stream(unsigned k, unsigned m, unsigned window, unsigned loss_pct,
                        unsigned n_src)
{
    static outbuf wire, out;
    fec_encoder_config cfg = {.code = FEC_CODE_RLC, .k = k, .m = m, .window = window,
                              .depth = 1, .max_payload = 1400, .session_id = 0x51,
                              .first_block_id = FEC_BLOCK_ID_MASK - 100};
    fec_decoder_config dc = {.max_payload = 1400, .max_blocks = 16, .max_symbols = 2048,
                             .timeout = 1000};
    fec_encoder *enc = NULL;
    fec_decoder *dec = NULL;
    CHECK(fec_encoder_create(&cfg, &enc) == 0);
    CHECK(fec_decoder_create(&dc, &dec) == 0);
    fec_sink ws = {.ctx = &wire, .get = get}, os = {.ctx = &out, .get = get};
    static uint8_t seen[8192];
    memset(seen, 0, sizeof(seen));
    unsigned wrong = 0, twice = 0, got = 0;
    uint64_t now = 0;
    for (unsigned sent = 0; sent < n_src;) {
        wire.n = 0;
        for (unsigned i = 0; i < 16 && sent < n_src; i++, sent++) {
            uint8_t payload[1400];
            const uint32_t len = 4 + rnd() % 1300;
            memcpy(payload, &sent, 4);
            for (uint32_t j = 4; j < len; j++)
                payload[j] = (uint8_t)(sent * 31 + j);
            uint8_t *p = get(&wire, FEC_HDR_LEN + len);
            CHECK(fec_encoder_add(enc, payload, len, now, p, &ws) >= 0);
            memcpy(p + FEC_HDR_LEN, payload, len);
        }
        if (sent == n_src)
            fec_encoder_flush(enc, &ws);
        for (unsigned i = 0; i + 1 < wire.n; i += 3) {       /* reorder neighbours */
            static uint8_t tmp[1600];
            const uint32_t l = wire.len[i];
            memcpy(tmp, wire.data[i], l);
            memcpy(wire.data[i], wire.data[i + 1], wire.len[i + 1]);
            wire.len[i] = wire.len[i + 1];
            memcpy(wire.data[i + 1], tmp, l);
            wire.len[i + 1] = l;
        }
        for (unsigned i = 0; i < wire.n; i++) {
            if (rnd() % 100 < loss_pct)
                continue;
            for (unsigned copies = 1 + (rnd() % 50 == 0); copies > 0; copies--) {
                fec_verdict v;
                out.n = 0;
                fec_decoder_push(dec, wire.data[i], wire.len[i], now, &os, &v);
                if (v.action == FEC_DELIVER) {
                    memcpy(out.data[out.n], wire.data[i] + v.offset, v.length);
                    out.len[out.n++] = v.length;
                }
                for (unsigned r = 0; r < out.n; r++) {
                    uint32_t id;
                    memcpy(&id, out.data[r], 4);
                    int ok = id < n_src;
                    for (uint32_t j = 4; ok && j < out.len[r]; j++)
                        ok = out.data[r][j] == (uint8_t)(id * 31 + j);
                    if (!ok) {
                        wrong++;
                        continue;
                    }
                    twice += seen[id];
                    seen[id] = 1;
                    got++;
                }
            }
        }
        now++;
    }
    fec_decoder_poll(dec, now + 10000);
    fec_decoder_stats st;
    fec_decoder_get_stats(dec, &st);
    CHECK(wrong == 0 && twice == 0);
    CHECK(st.delivered + st.recovered == got);
    /* The stream's first and last ESIs may be unseen; all others counted. */
    CHECK(got + st.unrecoverable <= n_src && got + st.unrecoverable + 2 * window >= n_src);
    CHECK(fec_decoder_symbols_free(dec) == dc.max_symbols);
    if (loss_pct > 0 && loss_pct <= 5)
        CHECK(st.recovered > 0 && st.unrecoverable * 50 < n_src);
    printf("rlc k=%u m=%u W=%u loss %u%%: %llu delivered, %llu rebuilt, %llu lost\n", k, m,
           window, loss_pct, (unsigned long long)st.delivered,
           (unsigned long long)st.recovered, (unsigned long long)st.unrecoverable);
    fec_decoder_destroy(dec);
    fec_encoder_destroy(enc);
}

int main(void)
{
    fec_init();
    test_coefficients();
    test_vector();
    test_arguments_and_header();
    test_stream(10, 4, 10, 5, 3000);
    test_stream(5, 2, 40, 5, 3000);
    test_stream(20, 5, 255, 10, 3000);
    test_stream(1, 1, 1, 0, 500);
    test_stream(4, 1, 16, 40, 3000);   /* far beyond repair: never wrong */
    if (failures) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("all rlc checks passed\n");
    return 0;
}
