/* Deterministic mutation fuzzer for the wire decoder.
 *
 * usage: fuzz_fec_decoder [iterations] [seed]
 *
 * Each iteration encodes a few blocks with random parameters, then feeds a
 * long-lived decoder (small limits, so eviction and timeouts happen) with a
 * mix of genuine packets, drops, duplicates, reordering, bit flips,
 * truncations, garbage, and headers rewritten with a valid check but random
 * fields.  Checked: no crash (the meson build adds ASan/UBSan when the
 * compiler has them), delivered ranges lie inside the packet, rebuilt sizes
 * within limits, the symbol pool is whole again once every block settled,
 * and in iterations without byte mutations every rebuilt packet is
 * byte-identical to an original.  Exit status 1 on the first violation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fec.h"

#define MAX_PAYLOAD 300
#define MAX_PKTS 600
#define PKT_CAP (FEC_HDR_LEN + FEC_LEN_FIELD + MAX_PAYLOAD + 64)

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

typedef struct pktbuf {
    uint8_t data[MAX_PKTS][PKT_CAP];
    uint32_t len[MAX_PKTS];
    unsigned n;
} pktbuf;

static uint8_t *buf_get(void *ctx, uint32_t len)
{
    pktbuf *b = ctx;
    if (b->n == MAX_PKTS || len > PKT_CAP)
        return NULL;
    b->len[b->n] = len;
    return b->data[b->n++];
}

static pktbuf wire, rebuilt;
static uint8_t orig[MAX_PKTS][MAX_PAYLOAD];
static uint32_t orig_len[MAX_PKTS];
static unsigned n_orig;

static int fail(const char *what, unsigned iter)
{
    fprintf(stderr, "fuzz: iteration %u: %s\n", iter, what);
    return 1;
}

static void mutate(uint8_t *p, uint32_t *len)
{
    switch (rnd() % 7) {
    case 0: /* bit flips */
        for (unsigned n = 1 + rnd() % 4; n > 0 && *len; n--)
            p[rnd() % *len] ^= (uint8_t)(1u << (rnd() % 8));
        break;
    case 1: /* truncate */
        *len = *len ? rnd() % *len : 0;
        break;
    case 2: /* extend with garbage */
        for (unsigned n = rnd() % 40; n > 0 && *len < PKT_CAP; n--)
            p[(*len)++] = (uint8_t)rnd();
        break;
    case 3: /* pure garbage */
        *len = rnd() % PKT_CAP;
        for (uint32_t i = 0; i < *len; i++)
            p[i] = (uint8_t)rnd();
        break;
    default: { /* a header that passes its check but lies */
        fec_hdr h;
        if (*len < FEC_HDR_LEN || fec_hdr_parse(p, *len, &h) < 0) {
            h.version = FEC_VERSION;
            h.block_id = rnd();
        }
        switch (rnd() % 6) {
        case 0: h.k = (uint8_t)rnd(); break;
        case 1: h.m = (uint8_t)rnd(); break;
        case 2: h.index = (uint8_t)rnd(); break;
        case 3: h.length = (uint16_t)(rnd() % (MAX_PAYLOAD + 50)); break;
        case 4: h.block_id += rnd() % 5 - 2; break;
        default: h.repair ^= 1; h.code = (uint8_t)(1 + rnd() % 3); break;
        }
        if (*len < FEC_HDR_LEN)
            *len = FEC_HDR_LEN;
        fec_hdr_write(p, &h);
        break;
    }
    }
}

int main(int argc, char **argv)
{
    const unsigned iterations = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 20000;
    if (argc > 2)
        rng = strtoull(argv[2], NULL, 10) | 1;
    const fec_decoder_config dc = {.max_payload = MAX_PAYLOAD, .max_blocks = 8,
                                   .max_symbols = 300, .timeout = 40, .cache_entries = 8};
    fec_decoder *dec;
    if (fec_decoder_create(&dc, &dec) < 0)
        return fail("cannot create decoder", 0);
    uint64_t now = 0, next_block = 0;
    unsigned long long delivered = 0, recovered = 0;

    for (unsigned iter = 0; iter < iterations; iter++) {
        const int clean = iter % 4 == 0;
        const int code = rnd() % 4 == 0 ? FEC_CODE_XOR : FEC_CODE_RS;
        const unsigned k = 1 + rnd() % 12;
        const unsigned m = code == FEC_CODE_XOR ? 1 : 1 + rnd() % 5;
        fec_encoder_config ec = {.code = code, .k = k, .m = m, .depth = 1 + rnd() % 3,
                                 .max_payload = MAX_PAYLOAD, .timeout = 0,
                                 .first_block_id = next_block};
        fec_encoder *enc;
        if (fec_encoder_create(&ec, &enc) < 0)
            return fail("cannot create encoder", iter);
        wire.n = rebuilt.n = 0;
        n_orig = 1 + rnd() % 30;
        fec_sink ws = {.ctx = &wire, .get = buf_get};
        for (unsigned i = 0; i < n_orig; i++) {
            orig_len[i] = 1 + rnd() % MAX_PAYLOAD;
            for (uint32_t j = 0; j < orig_len[i]; j++)
                orig[i][j] = (uint8_t)rnd();
            uint8_t *p = buf_get(&wire, FEC_HDR_LEN + orig_len[i]);
            if (fec_encoder_add(enc, orig[i], orig_len[i], now, p, &ws) < 0)
                return fail("encoder refused a valid packet", iter);
            memcpy(p + FEC_HDR_LEN, orig[i], orig_len[i]);
        }
        fec_encoder_flush(enc, &ws);
        fec_encoder_destroy(enc);
        next_block += 4 + n_orig;

        /* Shuffle a little: swap random neighbours. */
        for (unsigned s = 0; s + 1 < wire.n && s < 8; s++) {
            unsigned a = rnd() % (wire.n - 1);
            static uint8_t tmp[PKT_CAP];
            uint32_t tl = wire.len[a];
            memcpy(tmp, wire.data[a], tl);
            memcpy(wire.data[a], wire.data[a + 1], wire.len[a + 1]);
            wire.len[a] = wire.len[a + 1];
            memcpy(wire.data[a + 1], tmp, tl);
            wire.len[a + 1] = tl;
        }
        fec_sink rs = {.ctx = &rebuilt, .get = buf_get};
        for (unsigned i = 0; i < wire.n; i++) {
            static uint8_t p[PKT_CAP];
            uint32_t len = wire.len[i];
            memcpy(p, wire.data[i], len);
            const unsigned what = rnd() % 10;
            if (what == 0)
                continue;               /* lost */
            if (!clean && what < 4)
                mutate(p, &len);
            const unsigned times = what == 9 ? 2 : 1;   /* duplicated */
            for (unsigned t = 0; t < times; t++) {
                fec_verdict v;
                int rc = fec_decoder_push(dec, p, len, now, &rs, &v);
                if (rc < 0)
                    return fail("push failed", iter);
                if (v.action == FEC_DELIVER) {
                    if (v.offset + (uint64_t)v.length > len)
                        return fail("delivered range outside the packet", iter);
                    delivered++;
                }
            }
            now += rnd() % 3;
        }
        for (unsigned r = 0; r < rebuilt.n; r++) {
            if (rebuilt.len[r] == 0 || rebuilt.len[r] > MAX_PAYLOAD)
                return fail("rebuilt packet of impossible size", iter);
            if (!clean)
                continue;
            int found = 0;
            for (unsigned i = 0; i < n_orig && !found; i++)
                found = rebuilt.len[r] == orig_len[i] &&
                        memcmp(rebuilt.data[r], orig[i], orig_len[i]) == 0;
            if (!found)
                return fail("rebuilt packet differs from every original", iter);
        }
        recovered += rebuilt.n;
        if (iter % 64 == 63) {
            now += 1000;
            fec_decoder_poll(dec, now);
            if (fec_decoder_blocks_in_flight(dec) != 0 ||
                fec_decoder_symbols_free(dec) != dc.max_symbols)
                return fail("state not released after every block expired", iter);
        }
    }
    fec_decoder_stats st;
    fec_decoder_get_stats(dec, &st);
    printf("fuzz: %u iterations, %llu received, %llu delivered, %llu rebuilt, "
           "%llu malformed, %llu duplicate, %llu late, %llu evicted, %llu expired\n",
           iterations, (unsigned long long)st.received, delivered, recovered,
           (unsigned long long)st.malformed, (unsigned long long)st.duplicate,
           (unsigned long long)st.late, (unsigned long long)st.blocks_evicted,
           (unsigned long long)st.blocks_expired);
    fec_decoder_destroy(dec);
    return 0;
}
