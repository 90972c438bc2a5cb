#include "gateway.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* --- outer headers ------------------------------------------------------- */

typedef struct encap {
    pd_encap_cfg cfg;
    uint32_t len;                 /* outer header bytes */
    uint8_t tmpl[PD_ENCAP_UDP_LEN];
    uint32_t ip_sum;              /* IPv4 header sum without the total length */
} encap;

uint32_t pd_encap_len(const pd_encap_cfg *cfg)
{
    if (!cfg)
        return 0;
    switch (cfg->kind) {
    case PD_ENCAP_UDP:
        return cfg->dst_port ? PD_ENCAP_UDP_LEN : 0;
    case PD_ENCAP_ETHER:
        return PD_ENCAP_ETHER_LEN;
    case PD_ENCAP_NONE:
        return 0;
    default:
        return 0;
    }
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static uint16_t fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

static int encap_init(encap *e, const pd_encap_cfg *cfg)
{
    uint8_t *t = e->tmpl;

    memset(e, 0, sizeof(*e));
    e->cfg = *cfg;
    e->len = pd_encap_len(cfg);
    if (cfg->kind == PD_ENCAP_NONE)
        return 0;
    if (!e->len)
        return -EINVAL;
    if (cfg->kind == PD_ENCAP_ETHER && e->cfg.ethertype == 0)
        e->cfg.ethertype = PD_ETHERTYPE_FEC;
    if (cfg->kind == PD_ENCAP_ETHER && e->cfg.ethertype < 0x0600)
        return -EINVAL;      /* below 0x0600 it would be an 802.3 length */
    memcpy(t, cfg->dst_mac, 6);
    memcpy(t + 6, cfg->src_mac, 6);
    if (cfg->kind == PD_ENCAP_ETHER) {
        put16(t + 12, e->cfg.ethertype);
        return 0;
    }
    put16(t + 12, 0x0800);
    t[14] = 0x45;
    t[15] = (uint8_t)(cfg->dscp << 2);
    put16(t + 20, 0x4000);                    /* don't fragment */
    t[22] = cfg->ttl ? cfg->ttl : 64;
    t[23] = 17;
    for (int i = 0; i < 4; i++) {
        t[26 + i] = (uint8_t)(cfg->src_ip >> (24 - 8 * i));
        t[30 + i] = (uint8_t)(cfg->dst_ip >> (24 - 8 * i));
    }
    put16(t + 34, cfg->src_port);
    put16(t + 36, cfg->dst_port);
    for (int i = 14; i < 34; i += 2)
        e->ip_sum += get16(t + i);
    return 0;
}

/* Write the outer header in front of `payload_len` bytes of FEC packet. */
static void encap_write(const encap *e, uint8_t *dst, uint32_t payload_len)
{
    if (!e->len)
        return;
    memcpy(dst, e->tmpl, e->len);
    if (e->cfg.kind == PD_ENCAP_UDP) {
        uint16_t ip_len = (uint16_t)(20 + 8 + payload_len);
        put16(dst + 16, ip_len);
        put16(dst + 24, (uint16_t)~fold(e->ip_sum + ip_len));
        put16(dst + 38, (uint16_t)(8 + payload_len));
    }
}

/* Find the FEC packet inside a frame: 0 and its offset/length, or -1. */
static int encap_parse(const encap *e, const uint8_t *f, uint32_t len, uint32_t *off,
                       uint32_t *plen)
{
    uint32_t l3 = 14, ihl, ip_len, udp_len;
    uint16_t et;

    if (e->cfg.kind == PD_ENCAP_NONE) {
        *off = 0;
        *plen = len;
        return 0;
    }
    if (len < 14)
        return -1;
    et = get16(f + 12);
    if (et == 0x8100 && len >= 18) {          /* one VLAN tag */
        l3 = 18;
        et = get16(f + 16);
    }
    if (e->cfg.kind == PD_ENCAP_ETHER) {
        if (et != e->cfg.ethertype)
            return -1;
        *off = l3;
        *plen = len - l3;
        return 0;
    }
    if (et != 0x0800 || len < l3 + 20 || (f[l3] >> 4) != 4 || f[l3 + 9] != 17)
        return -1;
    ihl = (f[l3] & 0xfu) * 4u;
    ip_len = get16(f + l3 + 2);
    if (ihl < 20 || (get16(f + l3 + 6) & 0x3fff) != 0 ||  /* fragments: not ours */
        ip_len < ihl + 8 || l3 + ip_len > len)
        return -1;
    if (get16(f + l3 + ihl + 2) != e->cfg.dst_port)
        return -1;
    udp_len = get16(f + l3 + ihl + 4);
    if (udp_len < 8 || udp_len > ip_len - ihl)
        return -1;
    *off = l3 + ihl + 8;
    *plen = udp_len - 8;            /* ignores Ethernet padding after the datagram */
    return 0;
}

/* --- what both stages share ------------------------------------------------ */

/* Packets arrive cold (written by a NIC or another core): while one is
 * processed, fetch the next one's headers and, further ahead, the packet
 * descriptor itself (a handle points at its backend's metadata). */
static inline void prefetch_ahead(const pd_pkt_ops *ops, pd_pkt **in, uint16_t i, uint16_t n)
{
    if (i + 3 < n)
        __builtin_prefetch(in[i + 3]);
    if (i + 1 < n)
        __builtin_prefetch(ops->data(in[i + 1]));
}

/* A stage's output array during one call; the codec's sink appends to it. */
typedef struct outq {
    pd_pkt **out;
    uint16_t n, cap;
} outq;

typedef struct gw_common {
    const pd_pkt_ops *ops;
    void *pool;
    encap hdr;
    outq q;
    fec_sink sink;
    pd_gateway_counters gw;
} gw_common;

static int common_init(gw_common *c, const pd_encap_cfg *cfg, const pd_pkt_ops *ops,
                       void *pool, void *owner, uint8_t *(*get)(void *, uint32_t))
{
    c->ops = ops;
    c->pool = pool;
    c->sink.ctx = owner;
    c->sink.get = get;
    return encap_init(&c->hdr, cfg);
}

/* A fresh pool packet of len bytes queued on the output; its data, or NULL
 * (output full: counted here; pool empty or buffer too small: the codec
 * counts it as no_buffer). */
static uint8_t *queue_new_packet(gw_common *c, uint32_t len)
{
    pd_pkt *p;
    uint8_t *d;

    if (c->q.n >= c->q.cap) {
        c->gw.out_full++;
        return NULL;
    }
    if (c->ops->alloc_bulk(c->pool, &p, 1) != 0)
        return NULL;
    d = c->ops->append(p, len);
    if (!d) {
        c->ops->free_bulk(&p, 1);
        return NULL;
    }
    c->q.out[c->q.n++] = p;
    return d;
}

/* --- encoder stage --------------------------------------------------------- */

struct pd_fec_enc_stage {
    gw_common c;
    fec_encoder *enc;
    uint32_t max_payload;
};

/* Parity packets come from the pool: header written here, parity by the codec. */
static uint8_t *enc_parity_buffer(void *ctx, uint32_t len)
{
    pd_fec_enc_stage *s = ctx;
    uint8_t *d = queue_new_packet(&s->c, s->c.hdr.len + len);

    if (!d)
        return NULL;
    encap_write(&s->c.hdr, d, len);
    return d + s->c.hdr.len;
}

pd_fec_enc_stage *pd_fec_enc_stage_create(const pd_fec_enc_stage_cfg *cfg,
                                          const pd_pkt_ops *ops, void *pool, int *err)
{
    pd_fec_enc_stage *s;
    int rc = -EINVAL;

    if (!cfg || !ops || !pool)
        goto fail;
    rc = -ENOMEM;
    s = calloc(1, sizeof(*s));
    if (!s)
        goto fail;
    s->max_payload = cfg->fec.max_payload;
    rc = common_init(&s->c, &cfg->encap, ops, pool, s, enc_parity_buffer);
    if (rc == 0)
        rc = fec_encoder_create(&cfg->fec, &s->enc);
    if (rc != 0) {
        free(s);
        goto fail;
    }
    if (err) *err = 0;
    return s;
fail:
    if (err) *err = rc;
    return NULL;
}

void pd_fec_enc_stage_destroy(pd_fec_enc_stage *s)
{
    if (!s)
        return;
    fec_encoder_destroy(s->enc);
    free(s);
}

static uint16_t enc_process(void *ctx, pd_pkt **in, uint16_t n, pd_pkt **out, uint16_t cap,
                            uint64_t now)
{
    pd_fec_enc_stage *s = ctx;
    gw_common *c = &s->c;
    const pd_pkt_ops *ops = c->ops;
    uint32_t room = c->hdr.len + FEC_HDR_LEN;

    c->q = (outq){ out, 0, cap };
    for (uint16_t i = 0; i < n; i++) {
        pd_pkt *p = in[i];
        uint32_t len = ops->data_len(p);
        uint8_t hdr[FEC_HDR_LEN], *d;
        uint16_t slot;

        prefetch_ahead(ops, in, i, n);

        if (len > s->max_payload || len == 0) {
            c->gw.too_big++;
            ops->free_bulk(&p, 1);
            continue;
        }
        if (ops->headroom(p) < room) {
            c->gw.no_headroom++;
            ops->free_bulk(&p, 1);
            continue;
        }
        if (c->q.n >= c->q.cap) {
            c->gw.out_full++;
            ops->free_bulk(&p, 1);
            continue;
        }
        /* The source goes out before the parity its arrival may complete. */
        slot = c->q.n++;
        c->q.out[slot] = p;
        if (fec_encoder_add(s->enc, ops->data(p), len, now, hdr, &c->sink) < 0) {
            /* cannot happen after the checks above; drop rather than send unprotected */
            memmove(&c->q.out[slot], &c->q.out[slot + 1],
                    (size_t)(c->q.n - slot - 1) * sizeof(pd_pkt *));
            c->q.n--;
            c->gw.too_big++;
            ops->free_bulk(&p, 1);
            continue;
        }
        d = ops->prepend(p, room);
        encap_write(&c->hdr, d, FEC_HDR_LEN + len);
        memcpy(d + c->hdr.len, hdr, FEC_HDR_LEN);
    }
    /* Deadlines are checked on every call, bursts and idle polls alike. */
    fec_encoder_poll(s->enc, now, &c->sink);
    return c->q.n;
}

static uint16_t enc_flush(void *ctx, pd_pkt **out, uint16_t cap, uint64_t now)
{
    pd_fec_enc_stage *s = ctx;
    (void)now;
    s->c.q = (outq){ out, 0, cap };
    fec_encoder_flush(s->enc, &s->c.sink);
    return s->c.q.n;
}

void pd_fec_enc_stage_bind(pd_fec_enc_stage *s, pd_stage *st)
{
    memset(st, 0, sizeof(*st));
    st->name = "fec-encode";
    st->ctx = s;
    st->process = enc_process;
    st->flush = enc_flush;
}

void pd_fec_enc_stage_stats(const pd_fec_enc_stage *s, fec_encoder_stats *fec,
                            pd_gateway_counters *gw)
{
    if (fec)
        fec_encoder_get_stats(s->enc, fec);
    if (gw)
        *gw = s->c.gw;
}

/* --- decoder stage --------------------------------------------------------- */

struct pd_fec_dec_stage {
    gw_common c;
    fec_decoder *dec;
};

/* Rebuilt frames go into fresh pool packets, queued right away. */
static uint8_t *dec_rebuilt_buffer(void *ctx, uint32_t len)
{
    pd_fec_dec_stage *s = ctx;
    return queue_new_packet(&s->c, len);
}

pd_fec_dec_stage *pd_fec_dec_stage_create(const pd_fec_dec_stage_cfg *cfg,
                                          const pd_pkt_ops *ops, void *pool, int *err)
{
    pd_fec_dec_stage *s;
    int rc = -EINVAL;

    if (!cfg || !ops || !pool)
        goto fail;
    rc = -ENOMEM;
    s = calloc(1, sizeof(*s));
    if (!s)
        goto fail;
    rc = common_init(&s->c, &cfg->encap, ops, pool, s, dec_rebuilt_buffer);
    if (rc == 0)
        rc = fec_decoder_create(&cfg->fec, &s->dec);
    if (rc != 0) {
        free(s);
        goto fail;
    }
    if (err) *err = 0;
    return s;
fail:
    if (err) *err = rc;
    return NULL;
}

void pd_fec_dec_stage_destroy(pd_fec_dec_stage *s)
{
    if (!s)
        return;
    fec_decoder_destroy(s->dec);
    free(s);
}

static uint16_t dec_process(void *ctx, pd_pkt **in, uint16_t n, pd_pkt **out, uint16_t cap,
                            uint64_t now)
{
    pd_fec_dec_stage *s = ctx;
    gw_common *c = &s->c;
    const pd_pkt_ops *ops = c->ops;

    c->q = (outq){ out, 0, cap };
    for (uint16_t i = 0; i < n; i++) {
        pd_pkt *p = in[i];
        uint32_t len = ops->data_len(p), off, plen;
        fec_verdict v;

        prefetch_ahead(ops, in, i, n);

        if (encap_parse(&c->hdr, ops->data(p), len, &off, &plen) != 0) {
            c->gw.foreign++;
            ops->free_bulk(&p, 1);
            continue;
        }
        if (c->q.n >= c->q.cap) {
            c->gw.out_full++;
            ops->free_bulk(&p, 1);
            continue;
        }
        /* Rebuilt packets are queued by the sink during the push; a
         * delivered source takes the next slot after them. */
        fec_decoder_push(s->dec, ops->data(p) + off, plen, now, &c->sink, &v);
        if (v.action == FEC_DELIVER && c->q.n < c->q.cap) {
            ops->adj(p, off + v.offset);
            ops->trim(p, ops->data_len(p) - v.length);
            c->q.out[c->q.n++] = p;
        } else {
            if (v.action == FEC_DELIVER)
                c->gw.out_full++;
            ops->free_bulk(&p, 1);
        }
    }
    fec_decoder_poll(s->dec, now);
    return c->q.n;
}

/* End of run: give up every block still waiting for packets, so the sources
 * they miss are counted unrecoverable (needs a decoder timeout > 0). */
static void dec_finish(void *ctx)
{
    pd_fec_dec_stage *s = ctx;
    fec_decoder_poll(s->dec, UINT64_MAX);
}

void pd_fec_dec_stage_bind(pd_fec_dec_stage *s, pd_stage *st)
{
    memset(st, 0, sizeof(*st));
    st->name = "fec-decode";
    st->ctx = s;
    st->process = dec_process;
    st->finish = dec_finish;
}

void pd_fec_dec_stage_stats(const pd_fec_dec_stage *s, fec_decoder_stats *fec,
                            pd_gateway_counters *gw)
{
    if (fec)
        fec_decoder_get_stats(s->dec, fec);
    if (gw)
        *gw = s->c.gw;
}
