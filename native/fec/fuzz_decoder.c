/* Deterministic stream fuzzer for the wire decoder (format version 2).
 *
 * usage: fuzz_fec_decoder [packets] [seed] [--check-paths]
 *
 * Several encoders (sessions) produce mostly-valid traffic that is then
 * lost, duplicated, reordered, held back (so it arrives late), shifted far
 * ahead (single strays and whole runs, which must be confirmed before they
 * move a session's window), scattered over fresh session ids in bursts
 * (the session table overflows), interleaved with control packets, with
 * encoder restarts, header bit flips, truncations and garbage.  Two
 * long-lived decoders with small limits (so eviction and timeouts happen)
 * take it:
 *
 *   A gets the mutations above, which keep every block's symbols genuine;
 *     checked: every delivered or rebuilt payload is one that was sent
 *     (payloads carry a tag and bytes derived from it).
 *   B gets the same plus headers that lie with a valid check and payload
 *     bit flips (what plain mode cannot tell from genuine traffic);
 *     checked: delivered ranges inside the packet, rebuilt sizes in range.
 *
 * Both: no crash (the meson build adds ASan/UBSan when the compiler has
 * them), and the symbol and block pools whole again once every block
 * expired.  At the end the count of each decoder path is printed; with
 * --check-paths the exit status is 1 unless every path was reached.  Exit
 * status 1 on the first violation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fec.h"

#define MAX_PAYLOAD 300
#define MIN_PAYLOAD 10            /* room for the 8-byte tag + variety */
#define PKT_CAP (FEC_HDR_LEN + FEC_LEN_FIELD + MAX_PAYLOAD + 64)
#define CHUNK_CAP 256
#define N_STREAMS 5
#define DELAY_CAP 512

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* ---- payloads that say whether they were sent ------------------------- */

static uint64_t tags_issued;

static uint8_t tag_byte(uint64_t tag, uint32_t j)
{
    uint64_t x = tag * 0x9E3779B97F4A7C15ull + j * 0xBF58476D1CE4E5B9ull;
    x ^= x >> 31;
    return (uint8_t)(x >> 17);
}

static uint32_t make_payload(uint8_t *out)
{
    const uint64_t tag = tags_issued++;
    const uint32_t len = MIN_PAYLOAD + (uint32_t)(tag * 2654435761u % (MAX_PAYLOAD - MIN_PAYLOAD + 1));
    for (unsigned i = 0; i < 8; i++)
        out[i] = (uint8_t)(tag >> (8 * i));
    for (uint32_t j = 8; j < len; j++)
        out[j] = tag_byte(tag, j);
    return len;
}

static int was_sent(const uint8_t *p, uint32_t len)
{
    if (len < MIN_PAYLOAD || len > MAX_PAYLOAD)
        return 0;
    uint64_t tag = 0;
    for (unsigned i = 0; i < 8; i++)
        tag |= (uint64_t)p[i] << (8 * i);
    if (tag >= tags_issued)
        return 0;
    if (len != MIN_PAYLOAD + (uint32_t)(tag * 2654435761u % (MAX_PAYLOAD - MIN_PAYLOAD + 1)))
        return 0;
    for (uint32_t j = 8; j < len; j++)
        if (p[j] != tag_byte(tag, j))
            return 0;
    return 1;
}

/* ---- packet lists ------------------------------------------------------- */

typedef struct pktbuf {
    uint8_t data[CHUNK_CAP][PKT_CAP];
    uint32_t len[CHUNK_CAP];
    unsigned n;
} pktbuf;

static uint8_t *buf_get(void *ctx, uint32_t len)
{
    pktbuf *b = ctx;
    if (b->n == CHUNK_CAP || len > PKT_CAP)
        return NULL;
    b->len[b->n] = len;
    return b->data[b->n++];
}

/* Session ids and fresh stray ids, all distinct: an odd multiplier is a
 * bijection modulo 2^32 (counter 0 is never used, so no id is 0). */
static uint32_t id_counter;
static uint32_t fresh_session_id(void)
{
    return ++id_counter * 0x9E3779B1u;
}

typedef struct stream {
    fec_encoder *enc;
    uint32_t session;
} stream;

static stream streams[N_STREAMS];

static int start_stream(stream *s, uint64_t now)
{
    (void)now;
    fec_encoder_destroy(s->enc);
    const unsigned pick = rnd() % 8;
    const int code = pick < 2 ? FEC_CODE_XOR : pick < 5 ? FEC_CODE_RLC : FEC_CODE_RS;
    const unsigned k = 1 + rnd() % 12;
    const unsigned m = code == FEC_CODE_XOR ? 1 : 1 + rnd() % 5;
    /* Block ids below 2^31, so ids shifted by a multiple of 2^32 (the
     * far-ahead runs) never meet a genuine block of the session. */
    s->session = fresh_session_id();
    fec_encoder_config ec = {.code = code, .k = k, .m = m,
                             .depth = code == FEC_CODE_RLC ? 1 : 1 + rnd() % 3,
                             .window = code == FEC_CODE_RLC ? k + rnd() % 40 : 0,
                             .max_payload = MAX_PAYLOAD, .timeout = 30,
                             .first_block_id = rnd() % (1u << 30),
                             .session_id = s->session,
                             .flags = rnd() % 2 ? FEC_FLAG_FEEDBACK : 0};
    return fec_encoder_create(&ec, &s->enc);
}

/* ---- the two decoders ---------------------------------------------------- */

typedef struct target {
    const char *name;
    fec_decoder *dec;
    int strict;              /* every output must have been sent */
    unsigned long long delivered, rebuilt, controls;
} target;

static pktbuf rebuilt_buf;
static unsigned long long pushed;

/* Code-3 (RLC) packets taken by A, by outcome: every one must be reached. */
enum { RLC_DELIVER, RLC_REBUILT, RLC_DUPLICATE, RLC_LATE, RLC_UNCONFIRMED, RLC_MALFORMED,
       RLC_PATHS };
static const char *const rlc_path_names[RLC_PATHS] = {
    "rlc_deliver", "rlc_rebuilt", "rlc_duplicate", "rlc_late", "rlc_unconfirmed",
    "rlc_malformed"};
static unsigned long long rlc_paths[RLC_PATHS];

static int fail(const char *what, const char *who)
{
    fprintf(stderr, "fuzz: packet %llu, decoder %s: %s\n", pushed, who, what);
    return 1;
}

static int push(target *t, const uint8_t *p, uint32_t len, uint64_t now)
{
    fec_sink rs = {.ctx = &rebuilt_buf, .get = buf_get};
    fec_verdict v;
    rebuilt_buf.n = 0;
    const int rlc = len >= FEC_HDR_LEN && (p[1] & 0x0f) == FEC_CODE_RLC && (p[1] & 0x30) != 0x20;
    const int rc = fec_decoder_push(t->dec, p, len, now, &rs, &v);
    if (rc < 0 || (unsigned)rc != rebuilt_buf.n)
        return fail("push failed or miscounted rebuilt packets", t->name);
    if (rlc && t->strict) {
        rlc_paths[RLC_DELIVER] += v.action == FEC_DELIVER;
        rlc_paths[RLC_REBUILT] += rc > 0;
        rlc_paths[RLC_DUPLICATE] += v.action == FEC_DROP_DUPLICATE;
        rlc_paths[RLC_LATE] += v.action == FEC_DROP_LATE;
        rlc_paths[RLC_UNCONFIRMED] += v.action == FEC_DROP_UNCONFIRMED;
        rlc_paths[RLC_MALFORMED] += v.action == FEC_DROP_MALFORMED;
    }
    if (v.action == FEC_DELIVER || v.action == FEC_CONTROL) {
        if (v.offset != FEC_HDR_LEN || v.offset + (uint64_t)v.length > len)
            return fail("delivered range outside the packet", t->name);
        if (v.action == FEC_DELIVER) {
            t->delivered++;
            if (t->strict && !was_sent(p + v.offset, v.length))
                return fail("delivered a payload that was never sent", t->name);
        } else {
            t->controls++;
        }
    }
    for (unsigned r = 0; r < rebuilt_buf.n; r++) {
        if (rebuilt_buf.len[r] == 0 || rebuilt_buf.len[r] > MAX_PAYLOAD)
            return fail("rebuilt packet of impossible size", t->name);
        if (t->strict && !was_sent(rebuilt_buf.data[r], rebuilt_buf.len[r]))
            return fail("rebuilt a payload that was never sent", t->name);
        t->rebuilt++;
    }
    return 0;
}

/* ---- mutations ----------------------------------------------------------- */

/* Keeps a valid packet's symbols genuine (for A): header damage the check
 * catches, truncation, trailing bytes, garbage. */
static void mutate_safe(uint8_t *p, uint32_t *len)
{
    switch (rnd() % 4) {
    case 0: /* bit flips in the header: the check rejects them */
        for (unsigned n = 1 + rnd() % 3; n > 0 && *len >= FEC_HDR_LEN; n--)
            p[rnd() % FEC_HDR_LEN] ^= (uint8_t)(1u << (rnd() % 8));
        break;
    case 1: /* truncate */
        *len = *len ? rnd() % *len : 0;
        break;
    case 2: /* trailing bytes (ignored by the format) */
        for (unsigned n = rnd() % 40; n > 0 && *len < PKT_CAP; n--)
            p[(*len)++] = (uint8_t)rnd();
        break;
    default: /* pure garbage */
        *len = rnd() % PKT_CAP;
        for (uint32_t i = 0; i < *len; i++)
            p[i] = (uint8_t)rnd();
        break;
    }
}

/* What plain mode cannot detect (for B only): a header that lies with a
 * valid check, or payload bits flipped. */
static void mutate_lie(uint8_t *p, uint32_t *len)
{
    fec_hdr h;
    if (rnd() % 3 == 0) {
        for (unsigned n = 1 + rnd() % 4; n > 0 && *len; n--)
            p[rnd() % *len] ^= (uint8_t)(1u << (rnd() % 8));
        return;
    }
    if (*len < FEC_HDR_LEN || fec_hdr_parse(p, *len, &h) < 0) {
        memset(&h, 0, sizeof(h));
        h.version = FEC_VERSION;
        h.session_id = 1 + rnd() % 4;
        h.block_id = rnd();
    }
    switch (rnd() % 8) {
    case 0: h.k = (uint8_t)rnd(); break;
    case 1: h.m = (uint8_t)rnd(); break;
    case 2: h.index = (uint8_t)rnd(); break;
    case 3: h.length = (uint16_t)(rnd() % (MAX_PAYLOAD + 50)); break;
    case 4: h.block_id += rnd() % 5 - 2; break;
    case 5: h.session_id = streams[rnd() % N_STREAMS].session; break;
    case 6: h.kind = (uint8_t)(rnd() % 4); break;
    default: h.kind ^= 1; h.code = (uint8_t)(rnd() % 4); break;
    }
    if (*len < FEC_HDR_LEN)
        *len = FEC_HDR_LEN;
    fec_hdr_write(p, &h);
}

static uint32_t control_packet(uint8_t *p, uint32_t session)
{
    const uint32_t n = rnd() % 40;
    fec_hdr h = {.version = FEC_VERSION, .kind = FEC_KIND_CONTROL, .index = (uint8_t)rnd(),
                 .block_id = rnd(), .session_id = session ? session : 1, .length = (uint16_t)n};
    fec_hdr_write(p, &h);
    for (uint32_t i = 0; i < n; i++)
        p[FEC_HDR_LEN + i] = (uint8_t)rnd();
    return FEC_HDR_LEN + n;
}

/* Rewrite the header's block id and/or session id, check recomputed. */
static void rewrite(uint8_t *p, uint32_t len, int64_t block_shift, uint32_t session)
{
    fec_hdr h;
    if (fec_hdr_parse(p, len, &h) < 0)
        return;
    h.block_id = (h.block_id + (uint64_t)block_shift) & FEC_BLOCK_ID_MASK;
    if (session)
        h.session_id = session;
    fec_hdr_write(p, &h);
}

/* ---- held-back packets ---------------------------------------------------- */

static struct {
    uint8_t data[PKT_CAP];
    uint32_t len;
    unsigned long long release;
} delayed[DELAY_CAP];
static unsigned n_delayed;

/* ---- main ------------------------------------------------------------------ */

static pktbuf chunk;
static uint8_t pkt[PKT_CAP], pkt_b[PKT_CAP];

typedef struct path {
    const char *name;
    size_t offset;
} path;

#define PATH(f) {#f, offsetof(fec_decoder_stats, f)}
static const path paths[] = {
    PATH(delivered), PATH(recovered), PATH(unrecoverable), PATH(duplicate), PATH(late),
    PATH(malformed), PATH(repair_unused), PATH(blocks_evicted), PATH(blocks_expired),
    PATH(unconfirmed), PATH(resyncs), PATH(control), PATH(sessions_opened),
    PATH(sessions_evicted),
};

static uint64_t stat_of(const fec_decoder_stats *st, const path *p)
{
    return *(const uint64_t *)((const char *)st + p->offset);
}

/* Push one packet to both decoders: A as given, B perhaps lied to. */
static int feed(target *a, target *b, const uint8_t *p, uint32_t len, uint64_t now)
{
    if (push(a, p, len, now))
        return 1;
    memcpy(pkt_b, p, len);
    uint32_t lb = len;
    if (rnd() % 8 == 0)
        mutate_lie(pkt_b, &lb);
    if (push(b, pkt_b, lb, now))
        return 1;
    pushed++;
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long long target_packets = 300000;
    int check_paths = 0, npos = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--check-paths") == 0)
            check_paths = 1;
        else if (npos++ == 0)
            target_packets = strtoull(argv[i], NULL, 10);
        else
            rng = strtoull(argv[i], NULL, 10) | 1;
    }
    const fec_decoder_config dc = {.max_payload = MAX_PAYLOAD, .max_blocks = 8,
                                   .max_symbols = 300, .timeout = 40, .cache_entries = 8,
                                   .max_sessions = 4, .measure_window = 500};
    target A = {.name = "A (genuine symbols)", .strict = 1};
    target B = {.name = "B (lies too)", .strict = 0};
    if (fec_decoder_create(&dc, &A.dec) < 0 || fec_decoder_create(&dc, &B.dec) < 0)
        return fail("cannot create decoder", "-");
    uint64_t now = 0;
    for (unsigned s = 0; s < N_STREAMS; s++)
        if (start_stream(&streams[s], now) < 0)
            return fail("cannot create encoder", "-");
    unsigned long long next_settle = 5000;

    while (pushed < target_packets) {
        /* Held-back packets whose time came: far behind their stream now. */
        for (unsigned i = 0; i < n_delayed;) {
            if (delayed[i].release <= pushed) {
                if (feed(&A, &B, delayed[i].data, delayed[i].len, now))
                    return 1;
                delayed[i] = delayed[--n_delayed];
            } else {
                i++;
            }
        }

        const unsigned what = rnd() % 100;
        stream *s = &streams[rnd() % 2 ? 0 : rnd() % N_STREAMS];
        if (what < 2) {                      /* encoder restart: new session */
            if (start_stream(s, now) < 0)
                return fail("cannot restart encoder", "-");
            continue;
        }
        if (what < 5) {                      /* burst of strays, fresh ids */
            const unsigned n = 1 + rnd() % 12;
            chunk.n = 0;
            fec_sink ws = {.ctx = &chunk, .get = buf_get};
            for (unsigned i = 0; i < n; i++) {
                uint8_t payload[MAX_PAYLOAD];
                const uint32_t len = make_payload(payload);
                uint8_t *p = buf_get(&chunk, FEC_HDR_LEN + len);
                if (fec_encoder_add(s->enc, payload, len, now, p, &ws) < 0)
                    return fail("encoder refused a valid packet", "-");
                memcpy(p + FEC_HDR_LEN, payload, len);
            }
            for (unsigned i = 0; i < chunk.n; i++) {
                memcpy(pkt, chunk.data[i], chunk.len[i]);
                /* sources only are sent as themselves; every packet also
                 * appears once in a session of its own */
                if (feed(&A, &B, pkt, chunk.len[i], now))
                    return 1;
                rewrite(pkt, chunk.len[i], 0, fresh_session_id());
                if (feed(&A, &B, pkt, chunk.len[i], now))
                    return 1;
            }
            continue;
        }

        /* A chunk of genuine traffic of stream s. */
        chunk.n = 0;
        fec_sink ws = {.ctx = &chunk, .get = buf_get};
        const unsigned n = 1 + rnd() % 20;
        for (unsigned i = 0; i < n; i++) {
            uint8_t payload[MAX_PAYLOAD];
            const uint32_t len = make_payload(payload);
            uint8_t *p = buf_get(&chunk, FEC_HDR_LEN + len);
            if (fec_encoder_add(s->enc, payload, len, now, p, &ws) < 0)
                return fail("encoder refused a valid packet", "-");
            memcpy(p + FEC_HDR_LEN, payload, len);
            now += rnd() % 2;
        }
        if (rnd() % 3 == 0)
            fec_encoder_poll(s->enc, now, &ws);
        if (rnd() % 10 == 0)
            fec_encoder_flush(s->enc, &ws);
        for (unsigned x = 0; x + 1 < chunk.n && x < 4; x++) {   /* reorder */
            const unsigned a = rnd() % (chunk.n - 1);
            static uint8_t tmp[PKT_CAP];
            const uint32_t tl = chunk.len[a];
            memcpy(tmp, chunk.data[a], tl);
            memcpy(chunk.data[a], chunk.data[a + 1], chunk.len[a + 1]);
            chunk.len[a] = chunk.len[a + 1];
            memcpy(chunk.data[a + 1], tmp, tl);
            chunk.len[a + 1] = tl;
        }
        /* Far ahead: a run shifted as a whole (consistent blocks: confirms
         * and moves the window), or single strays (never confirm).  Shifts
         * are multiples of 2^32, so shifted blocks never mix with others. */
        const int shift_run = what < 8;
        const int64_t run_shift = (int64_t)(1 + rnd() % 0xFFFF) << 32;

        for (unsigned i = 0; i < chunk.n; i++) {
            uint32_t len = chunk.len[i];
            memcpy(pkt, chunk.data[i], len);
            if (shift_run) {
                /* A code-3 repair's coefficients derive from its window's
                 * ESIs: shifted, it would no longer be a genuine symbol. */
                if ((pkt[1] & 0x3f) == (0x10 | FEC_CODE_RLC))
                    continue;
                rewrite(pkt, len, run_shift, 0);
            } else {
                const unsigned r = rnd() % 100;
                if (r < 8)
                    continue;                                 /* lost */
                if (r < 11 && n_delayed < DELAY_CAP) {        /* held back: late */
                    memcpy(delayed[n_delayed].data, pkt, len);
                    delayed[n_delayed].len = len;
                    delayed[n_delayed].release = pushed + 200 + rnd() % 3000;
                    n_delayed++;
                    continue;
                }
                if (r < 13) {                                  /* stray far ahead */
                    static uint8_t stray[PKT_CAP];
                    memcpy(stray, pkt, len);
                    rewrite(stray, len, (int64_t)(1 + rnd() % 0xFFFF) << 32, 0);
                    if (feed(&A, &B, stray, len, now))
                        return 1;
                }
                if (r < 15) {                                  /* control packet */
                    static uint8_t ctl[PKT_CAP];
                    const uint32_t cl = control_packet(ctl, s->session);
                    if (feed(&A, &B, ctl, cl, now))
                        return 1;
                }
                if (r < 19)
                    mutate_safe(pkt, &len);
                if (r >= 94 && feed(&A, &B, pkt, len, now))    /* duplicated */
                    return 1;
            }
            if (feed(&A, &B, pkt, len, now))
                return 1;
            now += rnd() % 3;
        }

        if (pushed >= next_settle) {
            /* Everything expires: the pools must be whole again. */
            next_settle = pushed + 5000;
            now += 1000;
            fec_decoder_poll(A.dec, now);
            fec_decoder_poll(B.dec, now);
            for (target *t = &A; t; t = t == &A ? &B : NULL)
                if (fec_decoder_blocks_in_flight(t->dec) != 0 ||
                    fec_decoder_symbols_free(t->dec) != dc.max_symbols)
                    return fail("state not released after every block expired", t->name);
            /* The link measurement survives the same streams, in range. */
            for (target *t = &A; t; t = t == &A ? &B : NULL) {
                fec_link_report rep;
                if (fec_decoder_link_report(t->dec, now, &rep) != 0 ||
                    rep.lost > rep.packets || rep.reordered > rep.arrivals ||
                    !(rep.loss_rate >= 0 && rep.loss_rate <= 1) ||
                    !(rep.gilbert_p >= 0 && rep.gilbert_p <= 1) ||
                    !(rep.gilbert_r >= 0 && rep.gilbert_r <= 1) ||
                    !(rep.bad_loss >= 0 && rep.bad_loss <= 1))
                    return fail("link report out of range", t->name);
            }
        }
    }

    int missing = 0;
    for (target *t = &A; t; t = t == &A ? &B : NULL) {
        fec_decoder_stats st;
        fec_decoder_get_stats(t->dec, &st);
        printf("fuzz: decoder %s: %llu packets, %llu delivered, %llu rebuilt, %llu control\n",
               t->name, (unsigned long long)st.received, t->delivered, t->rebuilt, t->controls);
        printf("  paths:");
        for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
            const uint64_t c = stat_of(&st, &paths[i]);
            printf(" %s=%llu", paths[i].name, (unsigned long long)c);
            if (c == 0) {
                missing++;
                fprintf(stderr, "fuzz: decoder %s never reached path %s\n", t->name,
                        paths[i].name);
            }
        }
        printf("\n");
    }
    printf("  code 3 (A):");
    for (unsigned i = 0; i < RLC_PATHS; i++) {
        printf(" %s=%llu", rlc_path_names[i], rlc_paths[i]);
        if (rlc_paths[i] == 0) {
            missing++;
            fprintf(stderr, "fuzz: code 3 never reached path %s\n", rlc_path_names[i]);
        }
    }
    printf("\n");
    for (unsigned s = 0; s < N_STREAMS; s++)
        fec_encoder_destroy(streams[s].enc);
    fec_decoder_destroy(A.dec);
    fec_decoder_destroy(B.dec);
    return check_paths && missing ? 1 : 0;
}
