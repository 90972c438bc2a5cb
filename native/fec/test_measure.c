/* C unit tests of the link measurement, the link report TLVs and encoder
 * reconfiguration (native/fec/measure.c, control.c, encoder.c). */
#include <errno.h>
#include <math.h>
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
static double unif(void) { return (rnd() & 0xFFFFFF) / 16777216.0; }

/* Wire packets of one encoder call, in order. */
#define MAXP 64
typedef struct wire {
    uint8_t data[MAXP][1100];
    uint32_t len[MAXP];
    unsigned n;
} wire;

static uint8_t *wire_get(void *ctx, uint32_t len)
{
    wire *w = ctx;
    if (w->n >= MAXP || len > sizeof(w->data[0]))
        return NULL;
    w->len[w->n] = len;
    return w->data[w->n++];
}

/* Encode one payload of len bytes: source first, then any parity. */
static void encode_one(fec_encoder *enc, wire *w, uint32_t len, uint64_t now)
{
    uint8_t payload[1000];
    fec_sink sink = {w, wire_get};
    for (uint32_t i = 0; i < len; i++)
        payload[i] = (uint8_t)rnd();
    w->n = 1;       /* slot 0: the source */
    uint8_t hdr[FEC_HDR_LEN];
    CHECK(fec_encoder_add(enc, payload, len, now, hdr, &sink) >= 0);
    memcpy(w->data[0], hdr, FEC_HDR_LEN);
    memcpy(w->data[0] + FEC_HDR_LEN, payload, len);
    w->len[0] = FEC_HDR_LEN + len;
}

typedef struct outcount {
    unsigned n;
} outcount;
static uint8_t rebuilt_buf[1100];
static uint8_t *count_get(void *ctx, uint32_t len)
{
    ((outcount *)ctx)->n++;
    return len <= sizeof(rebuilt_buf) ? rebuilt_buf : NULL;
}

/* Run n payloads through encoder -> loss model -> decoder at 10 us per
 * wire packet; lossy(state) decides each packet.  Returns the report. */
typedef struct ge { double p, r, h, q; int bad; } ge;
static int ge_lost(ge *g)
{
    if (g->bad ? unif() < g->r : unif() < g->p)
        g->bad = !g->bad;
    return unif() < (g->bad ? g->h : g->q);
}

static void run_link(int k, int m, int depth, ge *g, unsigned n, fec_link_report *rep,
                     uint64_t *sent, uint64_t *lost)
{
    fec_encoder_config ec = {.code = FEC_CODE_RS, .k = (unsigned)k, .m = (unsigned)m,
                             .depth = (unsigned)depth, .max_payload = 1000,
                             .session_id = 0x5EA5};
    fec_decoder_config dc = {.max_payload = 1000, .max_blocks = 256, .max_symbols = 8192,
                             .timeout = 50000000, .cache_entries = 16,
                             .measure_window = 1000000000};
    fec_encoder *enc;
    fec_decoder *dec;
    static wire w;
    outcount oc = {0};
    fec_sink sink = {&oc, count_get};
    uint64_t now = 0;
    CHECK(fec_encoder_create(&ec, &enc) == 0);
    CHECK(fec_decoder_create(&dc, &dec) == 0);
    *sent = *lost = 0;
    for (unsigned i = 0; i < n; i++) {
        encode_one(enc, &w, 50 + rnd() % 100, now);
        for (unsigned j = 0; j < w.n; j++) {
            now += 10000;
            (*sent)++;
            if (ge_lost(g)) {
                (*lost)++;
                continue;
            }
            fec_verdict v;
            fec_decoder_push(dec, w.data[j], w.len[j], now, &sink, &v);
        }
    }
    now += 200000000;      /* everything settled, still inside the window */
    fec_decoder_poll(dec, now);
    CHECK(fec_decoder_link_report(dec, now, rep) == 0);
    fec_encoder_destroy(enc);
    fec_decoder_destroy(dec);
}

static void test_measure_random(void)
{
    fec_link_report rep;
    uint64_t sent, lost;
    ge g = {.p = 0, .r = 1, .h = 0, .q = 0.05};
    run_link(10, 4, 1, &g, 40000, &rep, &sent, &lost);
    /* The window (1 s) holds the last 1 s of traffic: 100000 packets at
     * 10 us, fewer here; the rate measured must match the true one. */
    CHECK(rep.packets > 40000);
    CHECK(fabs(rep.loss_rate - 0.05) < 0.006);
    CHECK(rep.bad_loss > 0.9 && fabs(rep.gilbert_r - 0.95) < 0.02);
    CHECK(rep.mean_burst > 1.0 && rep.mean_burst < 1.12);
    CHECK(rep.recovered > 100 && rep.recovery_mean > 0 && rep.recovery_p99 >= rep.recovery_mean);
    CHECK(rep.reordered == 0 && rep.depth == 1);
    fprintf(stderr, "random 5%%: loss %.4f p %.4f r %.4f h %.3f burst %.3f rec %.0f/%.0f ns\n",
            rep.loss_rate, rep.gilbert_p, rep.gilbert_r, rep.bad_loss, rep.mean_burst,
            rep.recovery_mean, rep.recovery_p99);
}

static void test_measure_bursty(int depth)
{
    fec_link_report rep;
    uint64_t sent, lost;
    ge g = {.p = 0.01, .r = 0.25, .h = 0.5, .q = 0};
    run_link(10, 4, depth, &g, 60000, &rep, &sent, &lost);
    const double truth = 0.01 / 0.26 * 0.5;
    fprintf(stderr, "GE depth %d: loss %.4f (true %.4f) p %.4f r %.4f h %.3f burst %.3f "
            "depth %u\n", depth, rep.loss_rate, truth, rep.gilbert_p, rep.gilbert_r,
            rep.bad_loss, rep.mean_burst, rep.depth);
    CHECK(rep.depth == (unsigned)depth);
    CHECK(fabs(rep.loss_rate - truth) < 0.25 * truth);
    /* The fit recovers the bursts: bad state loss near 0.5, r near 0.25. */
    CHECK(rep.bad_loss > 0.3 && rep.bad_loss < 0.75);
    CHECK(rep.gilbert_r > 0.1 && rep.gilbert_r < 0.45);
    CHECK(rep.mean_burst > 1.2);
}

/* A report with every field set, and its bytes (docs/fec-format.md). */
static const uint8_t vector[] = {
    0x01, 0x00,
    0x01, 0x04, 0x00, 0x00, 0x03, 0xe8,                         /* window 1000 ms */
    0x02, 0x0c, 0x00, 0x00, 0x27, 0x10, 0x00, 0x00, 0x01, 0xf4,
    0x00, 0x00, 0x00, 0xc8,                                     /* 10000, 500, 200 */
    0x03, 0x10, 0x02, 0xfa, 0xf0, 0x80, 0x00, 0x98, 0x96, 0x80,
    0x0e, 0xe6, 0xb2, 0x80, 0x1d, 0xcd, 0x65, 0x00,             /* .05 .01 .25 .5 */
    0x04, 0x08, 0x00, 0x00, 0x25, 0x1c, 0x00, 0x00, 0x00, 0x03, /* 9500, 3 */
    0x05, 0x0c, 0x00, 0x00, 0x01, 0x90, 0x00, 0x00, 0x04, 0xd2,
    0x00, 0x00, 0x13, 0x88,                                     /* 400, 1234, 5000 us */
    0x06, 0x05, 0x0a, 0x0b, 0x0c, 0x0d, 0x04,                   /* session, depth 4 */
    0x07, 0x20, 0x00, 0x00, 0x00, 0x64, 0x00, 0x00, 0x00, 0x32,
    0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00,
    0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,                                     /* runs 100 50 20 10 4 */
    0x08, 0x08, 0x00, 0x00, 0x07, 0xd0, 0x00, 0x00, 0x00, 0x96, /* recent 2000, 150 */
};

static void test_report_vector(void)
{
    fec_link_report rep = {.window = 1000000000, .packets = 10000, .lost = 500,
                           .loss_runs = 200, .arrivals = 9500, .reordered = 3,
                           .recovered = 400, .loss_rate = 0.05, .gilbert_p = 0.01,
                           .gilbert_r = 0.25, .bad_loss = 0.5, .recovery_mean = 1234000,
                           .recovery_p99 = 5000000, .run_hist = {100, 50, 20, 10, 4},
                           .session_id = 0x0A0B0C0D, .depth = 4,
                           .recent_packets = 2000, .recent_lost = 150};
    uint8_t out[FEC_REPORT_MAX_LEN], small[FEC_REPORT_MAX_LEN - 1];
    CHECK(sizeof(vector) == FEC_REPORT_MAX_LEN);
    CHECK(fec_report_write(&rep, out, sizeof(out)) == (int)sizeof(vector));
    CHECK(memcmp(out, vector, sizeof(vector)) == 0);
    CHECK(fec_report_write(&rep, small, sizeof(small)) == -ENOSPC);
    fec_link_report back;
    CHECK(fec_report_read(vector, sizeof(vector), &back) == 0);
    CHECK(back.packets == 10000 && back.lost == 500 && back.loss_runs == 200);
    CHECK(back.window == 1000000000 && back.session_id == 0x0A0B0C0D && back.depth == 4);
    CHECK(fabs(back.gilbert_r - 0.25) < 1e-9 && fabs(back.mean_burst - 2.5) < 1e-9);
    CHECK(back.recovery_p99 == 5000000 && back.run_hist[4] == 4);
    /* Every truncation but the one ending after the required TLVs fails;
     * a report that stops after a complete TLV is still a report. */
    for (size_t n = 0; n < sizeof(vector); n++) {
        int rc = fec_report_read(vector, n, &back);
        const int whole_tlvs = n == 40 || n == 50 || n == 64 || n == 71 || n == 105;
        CHECK(whole_tlvs ? rc == 0 : rc == -EBADMSG);
    }
    /* Unknown TLV types are skipped; a repeated known one is malformed. */
    uint8_t ext[FEC_REPORT_MAX_LEN + 8];
    memcpy(ext, vector, sizeof(vector));
    memcpy(ext + sizeof(vector), (const uint8_t[]){0x42, 0x02, 0xaa, 0xbb}, 4);
    CHECK(fec_report_read(ext, sizeof(vector) + 4, &back) == 0);
    memcpy(ext + sizeof(vector), vector + 2, 6);
    CHECK(fec_report_read(ext, sizeof(vector) + 6, &back) == -EBADMSG);
    /* Probability over 1, lost > packets, wrong version: malformed. */
    memcpy(ext, vector, sizeof(vector));
    ext[24] = 0xff;
    CHECK(fec_report_read(ext, sizeof(vector), &back) == -EBADMSG);
    memcpy(ext, vector, sizeof(vector));
    ext[14] = 0xff;
    CHECK(fec_report_read(ext, sizeof(vector), &back) == -EBADMSG);
    memcpy(ext, vector, sizeof(vector));
    ext[0] = 2;
    CHECK(fec_report_read(ext, sizeof(vector), &back) == -EBADMSG);
    /* Random corruption: never a crash, never an out-of-range value. */
    for (unsigned t = 0; t < 200000; t++) {
        size_t n = rnd() % (sizeof(ext) + 1);
        memcpy(ext, vector, sizeof(vector));
        for (unsigned f = 1 + rnd() % 4; f > 0; f--)
            ext[rnd() % sizeof(ext)] ^= (uint8_t)(1u << (rnd() % 8));
        if (fec_report_read(ext, n, &back) == 0) {
            CHECK(back.lost <= back.packets && back.loss_rate <= 1.0 &&
                  back.gilbert_p <= 1.0 && back.bad_loss <= 1.0 && back.window > 0);
        }
    }
}

static void test_control_accept(void)
{
    uint8_t payload[FEC_REPORT_MAX_LEN], pkt[FEC_HDR_LEN + FEC_REPORT_MAX_LEN];
    fec_link_report rep = {.window = 1000000000, .packets = 100, .lost = 5, .loss_runs = 5,
                           .loss_rate = 0.05, .gilbert_p = 0.05, .gilbert_r = 0.95,
                           .bad_loss = 1.0};
    fec_control_state st = {0};
    fec_link_report got;
    uint32_t sid = 0;
    int n = fec_report_write(&rep, payload, sizeof(payload));
    CHECK(n > 0);
    int len = fec_control_write(0x77, 5, 0, FEC_CTRL_LINK_REPORT, payload, (size_t)n, pkt,
                                sizeof(pkt));
    CHECK(len == FEC_HDR_LEN + n);
    CHECK(fec_control_write(0, 5, 0, 1, payload, (size_t)n, pkt, sizeof(pkt)) == -EINVAL);
    CHECK(fec_control_accept(&st, pkt, (size_t)len, &got, &sid) == 0 && sid == 0x77);
    CHECK(got.lost == 5 && fabs(got.loss_rate - 0.05) < 1e-9);
    /* The same again, and an older one: dropped as old. */
    CHECK(fec_control_accept(&st, pkt, (size_t)len, &got, &sid) == -EALREADY);
    fec_control_write(0x77, 4, 0, FEC_CTRL_LINK_REPORT, payload, (size_t)n, pkt, sizeof(pkt));
    CHECK(fec_control_accept(&st, pkt, (size_t)len, &got, &sid) == -EALREADY);
    fec_control_write(0x77, 6, 0, 9, payload, (size_t)n, pkt, sizeof(pkt));
    CHECK(fec_control_accept(&st, pkt, (size_t)len, &got, &sid) == -ENOTSUP);
    fec_control_write(0x77, 6, 0, FEC_CTRL_LINK_REPORT, payload, (size_t)n, pkt, sizeof(pkt));
    pkt[FEC_HDR_LEN + 3] ^= 1;        /* TLV length wrong */
    CHECK(fec_control_accept(&st, pkt, (size_t)len, &got, &sid) == -EBADMSG);
    pkt[FEC_HDR_LEN + 3] ^= 1;
    pkt[7] ^= 1;                      /* header check */
    CHECK(fec_control_accept(&st, pkt, (size_t)len, &got, &sid) == -EBADMSG);
    pkt[7] ^= 1;
    CHECK(fec_control_accept(&st, pkt, (size_t)len, &got, &sid) == 0);
    CHECK(st.accepted == 2 && st.old == 2 && st.unknown == 1 && st.malformed == 2);
}

/* Reconfiguration between blocks: every payload still comes out once,
 * byte for byte, and the headers carry the new parameters. */
static void test_set_params(void)
{
    fec_encoder_config ec = {.code = FEC_CODE_RS, .k = 4, .m = 1, .depth = 1,
                             .max_payload = 1000, .session_id = 0xC0DE, .max_m = 8,
                             .max_depth = 4};
    fec_decoder_config dc = {.max_payload = 1000, .max_blocks = 64, .max_symbols = 4096,
                             .timeout = 0, .cache_entries = 16};
    fec_encoder *enc;
    fec_decoder *dec;
    static wire w;
    outcount oc = {0};
    fec_sink sink = {&oc, count_get};
    int code;
    unsigned k, m, depth, delivered = 0, lost_sources = 0;
    CHECK(fec_encoder_create(&ec, &enc) == 0);
    CHECK(fec_decoder_create(&dc, &dec) == 0);
    CHECK(fec_encoder_set_params(enc, FEC_CODE_RS, 10, 9, 1) == -EINVAL);   /* m > max_m */
    CHECK(fec_encoder_set_params(enc, FEC_CODE_RS, 10, 2, 5) == -EINVAL);   /* depth */
    CHECK(fec_encoder_set_params(enc, FEC_CODE_XOR, 10, 2, 1) == -EINVAL);
    static const unsigned plan[][3] = {{4, 1, 1}, {10, 3, 1}, {8, 8, 4}, {3, 1, 2}, {20, 3, 1}};
    for (unsigned step = 0; step < 5; step++) {
        if (step > 0)
            CHECK(fec_encoder_set_params(enc, FEC_CODE_RS, plan[step][0], plan[step][1],
                                         plan[step][2]) == 0);
        for (unsigned i = 0; i < 203; i++) {
            encode_one(enc, &w, 1 + rnd() % 900, i);
            fec_hdr h;
            CHECK(fec_hdr_parse(w.data[0], w.len[0], &h) == 0);
            CHECK(h.k == plan[step][0] && h.m == plan[step][1]);
            for (unsigned j = 0; j < w.n; j++) {
                /* lose one source in 7: every block can rebuild it */
                if (j == 0 && i % 7 == 3) {
                    lost_sources++;
                    continue;
                }
                fec_verdict v;
                fec_decoder_push(dec, w.data[j], w.len[j], i, &sink, &v);
                delivered += v.action == FEC_DELIVER;
            }
        }
        fec_encoder_get_params(enc, &code, &k, &m, &depth);
        CHECK(code == FEC_CODE_RS && k == plan[step][0] && m == plan[step][1] &&
              depth == plan[step][2]);
    }
    w.n = 0;
    fec_sink ws = {&w, wire_get};
    fec_encoder_flush(enc, &ws);
    for (unsigned j = 0; j < w.n; j++) {
        fec_verdict v;
        fec_decoder_push(dec, w.data[j], w.len[j], 0, &sink, &v);
    }
    fec_decoder_stats st;
    fec_decoder_get_stats(dec, &st);
    CHECK(delivered == 5 * 203 - lost_sources);
    if (st.recovered != lost_sources || st.malformed || st.duplicate)
        fprintf(stderr, "recovered %llu of %u, malformed %llu duplicate %llu unrec %llu\n", (unsigned long long)st.recovered, lost_sources, (unsigned long long)st.malformed, (unsigned long long)st.duplicate, (unsigned long long)st.unrecoverable);
    CHECK(st.recovered == lost_sources && st.malformed == 0 && st.duplicate == 0);
    fec_encoder_destroy(enc);
    fec_decoder_destroy(dec);
}

/* Stray packets far ahead (forged or corrupt ids) neither stall nor
 * derail the measurement of the genuine stream. */
static void test_measure_strays(void)
{
    fec_encoder_config ec = {.code = FEC_CODE_RS, .k = 8, .m = 2, .depth = 1,
                             .max_payload = 1000, .session_id = 0x51};
    fec_decoder_config dc = {.max_payload = 1000, .max_blocks = 64, .max_symbols = 4096,
                             .timeout = 50000000, .cache_entries = 8,
                             .measure_window = 1000000000};
    fec_encoder *enc;
    fec_decoder *dec;
    static wire w;
    outcount oc = {0};
    fec_sink sink = {&oc, count_get};
    fec_link_report rep;
    uint64_t now = 0;
    CHECK(fec_encoder_create(&ec, &enc) == 0);
    CHECK(fec_decoder_create(&dc, &dec) == 0);
    for (unsigned i = 0; i < 20000; i++) {
        encode_one(enc, &w, 100, now);
        for (unsigned j = 0; j < w.n; j++) {
            fec_verdict v;
            now += 20000;
            fec_decoder_push(dec, w.data[j], w.len[j], now, &sink, &v);
            if (i % 97 == 5 && j == 0) {
                fec_hdr h;
                CHECK(fec_hdr_parse(w.data[0], w.len[0], &h) == 0);
                h.block_id = (h.block_id + (UINT64_C(1) << 40) + i) & FEC_BLOCK_ID_MASK;
                fec_hdr_write(w.data[0], &h);
                fec_decoder_push(dec, w.data[0], w.len[0], now, &sink, &v);
            }
        }
    }
    CHECK(fec_decoder_link_report(dec, now, &rep) == 0);
    fprintf(stderr, "strays: %llu packets %llu lost\n", (unsigned long long)rep.packets, (unsigned long long)rep.lost);
    CHECK(rep.packets > 20000 && rep.lost == 0 && rep.session_id == 0x51);
    fec_encoder_destroy(enc);
    fec_decoder_destroy(dec);
}

int main(void)
{
    test_measure_strays();
    test_report_vector();
    test_control_accept();
    test_set_params();
    test_measure_random();
    test_measure_bursty(1);
    test_measure_bursty(4);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("all measure tests passed\n");
    return 0;
}
