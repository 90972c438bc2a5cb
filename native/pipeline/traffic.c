#include "traffic.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "net.h"

/* --- CRC-32C: SSE4.2 instruction where present, table otherwise ---------- */

static uint32_t crc_table[256];

static uint32_t crc32c_table(uint32_t crc, const uint8_t *p, size_t n)
{
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p, size_t n)
{
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        n -= 8;
    }
    crc = (uint32_t)c;
    while (n--)
        crc = __builtin_ia32_crc32qi(crc, *p++);
    return crc;
}
#endif

static uint32_t (*crc_impl)(uint32_t, const uint8_t *, size_t);

__attribute__((constructor)) static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[i] = c;
    }
    crc_impl = crc32c_table;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2"))
        crc_impl = crc32c_sse42;
#endif
}

uint32_t pd_crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
    return ~crc_impl(~crc, p, n);
}

/* --- little-endian field access ------------------------------------------ */

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Marker field offsets; seq and tx_ns are 48-bit. */
enum { M_MAGIC = 0, M_STREAM = 2, M_SEQ = 4, M_TX = 10, M_LEN = 16, M_CRC = 18 };
#define MASK48 ((UINT64_C(1) << 48) - 1)

static uint32_t frame_crc(const uint8_t *f, uint32_t len, uint32_t crc_off)
{
    static const uint8_t zero[4];
    uint32_t c = pd_crc32c(0, f, crc_off);
    c = pd_crc32c(c, zero, 4);
    return pd_crc32c(c, f + crc_off + 4, len - crc_off - 4);
}

/* --- generator ------------------------------------------------------------ */

struct pd_gen {
    const pd_pkt_ops *ops;
    void *pool;
    uint32_t marker_off, n_sizes, next_size;
    uint16_t stream;
    uint8_t *frames[PD_GEN_MAX_SIZES];   /* prebuilt frame per size */
    uint32_t sizes[PD_GEN_MAX_SIZES];
    uint64_t count, seq;
    double rate_pps, tokens;
    uint64_t last_ns;
    pd_gen_counters c;
};

/* Ethernet (optionally one VLAN tag) + IPv4 [+ UDP]: set lengths, checksum. */
static void fix_ipv4_udp(uint8_t *f, uint32_t len)
{
    uint16_t et = 0;
    uint32_t l3 = pd_net_l3_off(f, len, &et);
    if (l3 == 0 || et != PD_ETH_P_IPV4 || len < l3 + 20 || (f[l3] >> 4) != 4)
        return;
    unsigned ihl = (f[l3] & 0xf) * 4u;
    if (ihl < 20 || len < l3 + ihl)
        return;
    uint32_t ip_len = len - l3;
    pd_net_wr16(f + l3 + 2, (uint16_t)ip_len);
    pd_net_wr16(f + l3 + 10, 0);
    pd_net_wr16(f + l3 + 10, pd_csum_ipv4_hdr(f + l3, ihl));
    if (f[l3 + 9] == 17 && len >= l3 + ihl + 8) {
        pd_net_wr16(f + l3 + ihl + 4, (uint16_t)(ip_len - ihl));
        pd_net_wr16(f + l3 + ihl + 6, 0);       /* UDP checksum optional in IPv4 */
    }
}

void pd_gen_destroy(pd_gen *g)
{
    if (!g)
        return;
    for (unsigned i = 0; i < PD_GEN_MAX_SIZES; i++)
        free(g->frames[i]);
    free(g);
}

pd_gen *pd_gen_create(const pd_gen_cfg *cfg, const pd_pkt_ops *ops, void *pool, int *err)
{
    pd_gen *g;
    int e = -EINVAL;

    if (!cfg || !ops || !pool || cfg->n_sizes == 0 || cfg->n_sizes > PD_GEN_MAX_SIZES ||
        (cfg->tmpl_len && !cfg->tmpl) || cfg->rate_pps < 0)
        goto fail;
    for (unsigned i = 0; i < cfg->n_sizes; i++)
        if (cfg->sizes[i] < cfg->tmpl_len + PD_MARKER_LEN || cfg->sizes[i] > 65535)
            goto fail;
    e = -ENOMEM;
    g = calloc(1, sizeof(*g));
    if (!g)
        goto fail;
    g->ops = ops;
    g->pool = pool;
    g->marker_off = cfg->tmpl_len;
    g->stream = cfg->stream;
    g->n_sizes = cfg->n_sizes;
    g->count = cfg->count;
    g->rate_pps = cfg->rate_pps;
    for (unsigned i = 0; i < cfg->n_sizes; i++) {
        uint32_t len = cfg->sizes[i];
        uint8_t *f = malloc(len);
        if (!f) {
            pd_gen_destroy(g);
            goto fail;
        }
        if (cfg->tmpl_len)
            memcpy(f, cfg->tmpl, cfg->tmpl_len);
        memset(f + cfg->tmpl_len, 0, PD_MARKER_LEN);
        for (uint32_t j = cfg->tmpl_len + PD_MARKER_LEN; j < len; j++)
            f[j] = (uint8_t)(j * 7 + 0x5a);
        if (cfg->fix_lengths)
            fix_ipv4_udp(f, len);
        g->frames[i] = f;
        g->sizes[i] = len;
    }
    if (err) *err = 0;
    return g;
fail:
    if (err) *err = e;
    return NULL;
}

const pd_gen_counters *pd_gen_counters_get(const pd_gen *g) { return &g->c; }

static void stamp(const pd_gen *g, uint8_t *f, uint32_t len, uint64_t seq, uint64_t tx_ns)
{
    uint8_t *m = f + g->marker_off;
    put_le(m + M_MAGIC, PD_MARKER_MAGIC, 2);
    put_le(m + M_STREAM, g->stream, 2);
    put_le(m + M_SEQ, seq, 6);
    put_le(m + M_TX, tx_ns, 6);
    put_le(m + M_LEN, len, 2);
    put_le(m + M_CRC, frame_crc(f, len, g->marker_off + M_CRC), 4);
}

int pd_gen_fill(const pd_gen *g, uint8_t *buf, uint32_t len, uint64_t seq, uint64_t tx_ns)
{
    for (unsigned i = 0; i < g->n_sizes; i++) {
        if (g->sizes[i] == len) {
            memcpy(buf, g->frames[i], len);
            stamp(g, buf, len, seq, tx_ns);
            return 0;
        }
    }
    return -EINVAL;
}

static uint16_t gen_pull(void *ctx, pd_pkt **pkts, uint16_t n, uint64_t now)
{
    pd_gen *g = ctx;
    uint16_t want = n;

    if (g->count) {
        if (g->c.sent >= g->count)
            return 0;
        if (g->count - g->c.sent < want)
            want = (uint16_t)(g->count - g->c.sent);
    }
    if (g->rate_pps > 0) {
        /* Token bucket holding at most one burst. */
        if (g->last_ns)
            g->tokens += (double)(now - g->last_ns) * g->rate_pps * 1e-9;
        g->last_ns = now;
        if (g->tokens > n)
            g->tokens = n;
        if (g->tokens < want)
            want = (uint16_t)g->tokens;
        if (want == 0)
            return 0;
        g->tokens -= want;
    }
    while (want && g->ops->alloc_bulk(g->pool, pkts, want) != 0) {
        g->c.alloc_failed++;
        want /= 2;
    }
    for (uint16_t i = 0; i < want; i++) {
        unsigned s = g->next_size;
        uint32_t len = g->sizes[s];
        uint8_t *f = g->ops->append(pkts[i], len);

        g->next_size = s + 1 == g->n_sizes ? 0 : s + 1;
        if (!f) {   /* pool buffers too small for this frame: give back, stop */
            g->ops->free_bulk(pkts + i, want - i);
            g->c.alloc_failed++;
            want = i;
            break;
        }
        memcpy(f, g->frames[s], len);
        stamp(g, f, len, g->seq++, now);
        g->c.bytes += len;
    }
    g->c.sent += want;
    return want;
}

static int gen_done(void *ctx)
{
    pd_gen *g = ctx;
    return g->count && g->c.sent >= g->count;
}

void pd_gen_source(pd_gen *g, pd_source *src)
{
    memset(src, 0, sizeof(*src));
    src->name = "generator";
    src->ctx = g;
    src->pull = gen_pull;
    src->done = gen_done;
}

/* --- verifying sink ------------------------------------------------------- */

#define WINDOW_BITS 65536u   /* sequence numbers remembered for duplicates */

struct pd_verify {
    const pd_pkt_ops *ops;
    uint32_t marker_off, stream;
    int any;
    uint64_t max_seq;
    uint64_t seen[WINDOW_BITS / 64];
    pd_verify_counters c;
};

int pd_verify_frame(uint32_t marker_off, uint32_t stream, const uint8_t *f, uint32_t len,
                    uint64_t *seq)
{
    const uint8_t *m = f + marker_off;

    if (len < marker_off + PD_MARKER_LEN || get_le(m + M_MAGIC, 2) != PD_MARKER_MAGIC ||
        get_le(m + M_STREAM, 2) != stream)
        return 2;
    if (get_le(m + M_LEN, 2) != len ||
        get_le(m + M_CRC, 4) != frame_crc(f, len, marker_off + M_CRC))
        return 1;
    *seq = get_le(m + M_SEQ, 6);
    return 0;
}

pd_verify *pd_verify_create(uint32_t marker_off, uint32_t stream, const pd_pkt_ops *ops,
                            int *err)
{
    pd_verify *v;

    if (!ops || marker_off > 65535) {
        if (err) *err = -EINVAL;
        return NULL;
    }
    v = calloc(1, sizeof(*v));
    if (!v) {
        if (err) *err = -ENOMEM;
        return NULL;
    }
    v->ops = ops;
    v->marker_off = marker_off;
    v->stream = stream;
    if (err) *err = 0;
    return v;
}

void pd_verify_destroy(pd_verify *v) { free(v); }

const pd_verify_counters *pd_verify_counters_get(const pd_verify *v) { return &v->c; }

static int test_and_set(pd_verify *v, uint64_t seq)
{
    uint64_t bit = seq % WINDOW_BITS, mask = 1ull << (bit % 64);
    int was = (v->seen[bit / 64] & mask) != 0;
    v->seen[bit / 64] |= mask;
    return was;
}

static void track(pd_verify *v, uint64_t seq)
{
    if (!v->any || seq > v->max_seq) {
        uint64_t from = v->any ? v->max_seq + 1 : 0;
        if (seq - from >= WINDOW_BITS) {
            memset(v->seen, 0, sizeof(v->seen));
        } else {
            for (uint64_t s = from; s < seq; s++)
                v->seen[(s % WINDOW_BITS) / 64] &= ~(1ull << (s % 64));
            v->seen[(seq % WINDOW_BITS) / 64] &= ~(1ull << (seq % 64));
        }
        v->any = 1;
        v->max_seq = seq;
        v->c.max_seq_plus1 = seq + 1;
        test_and_set(v, seq);
        v->c.valid++;
    } else if (v->max_seq - seq >= WINDOW_BITS) {
        v->c.stale++;
    } else if (test_and_set(v, seq)) {
        v->c.duplicates++;
    } else {
        v->c.valid++;
        v->c.reordered++;
    }
}

static uint16_t verify_push(void *ctx, pd_pkt **pkts, uint16_t n, uint64_t round_now)
{
    pd_verify *v = ctx;
    /* A fresh clock, not the loop round's: the latency of frames generated
     * in this very round is then real, not zero. */
    uint64_t now = pd_clock_ns();
    (void)round_now;

    for (uint16_t i = 0; i < n; i++) {
        const uint8_t *f = v->ops->data(pkts[i]);
        uint32_t len = v->ops->data_len(pkts[i]);
        uint64_t seq, tx;

        v->c.received++;
        v->c.bytes += len;
        switch (pd_verify_frame(v->marker_off, v->stream, f, len, &seq)) {
        case 0:
            track(v, seq);
            /* 48-bit send time: the difference modulo 2^48 is the latency.
             * The loop reads `now` before its rx burst, so a frame stamped by
             * another thread's generator after that read looks sent in the
             * future: a "negative" difference (upper half) counts as 0. */
            tx = (now - get_le(f + v->marker_off + M_TX, 6)) & MASK48;
            if (tx > MASK48 / 2)
                tx = 0;
            v->c.latency_sum_ns += tx;
            if (tx > v->c.latency_max_ns)
                v->c.latency_max_ns = tx;
            break;
        case 1:
            v->c.corrupted++;
            break;
        default:
            v->c.foreign++;
            break;
        }
    }
    v->ops->free_bulk(pkts, n);
    return n;
}

void pd_verify_sink(pd_verify *v, pd_sink *snk)
{
    memset(snk, 0, sizeof(*snk));
    snk->name = "verify";
    snk->ctx = v;
    snk->push = verify_push;
}
