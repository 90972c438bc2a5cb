#include "gateway.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

/* --- outer headers ------------------------------------------------------- */

typedef struct encap {
    pd_encap_cfg cfg;
    uint32_t len;                 /* outer header bytes */
    uint8_t tmpl[PD_ENCAP_UDP6_LEN];
    uint32_t ip_sum;              /* IPv4 header sum without total length and TOS;
                                     IPv6: pseudo-header sum of addresses + UDP */
} encap;

/* No inner TOS: the outer header gets the configured DSCP. */
#define TOS_NONE (-1)

uint32_t pd_encap_len(const pd_encap_cfg *cfg)
{
    if (!cfg)
        return 0;
    switch (cfg->kind) {
    case PD_ENCAP_UDP:
        if (!cfg->dst_port)
            return 0;
        return cfg->ipv6 ? PD_ENCAP_UDP6_LEN : PD_ENCAP_UDP_LEN;
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

/* Ethernet/IPv6/UDP template (RFC 8200): traffic class, payload length,
 * UDP length and checksum are per packet. */
static int encap_init6(encap *e, const pd_encap_cfg *cfg)
{
    static const uint8_t zero[16];
    uint8_t *t = e->tmpl;

    if (memcmp(cfg->dst_ip6, zero, 16) == 0 || cfg->dst_ip6[0] == 0xff)
        return -EINVAL;      /* unspecified or multicast: not a tunnel peer */
    put16(t + 12, 0x86dd);
    t[14] = 0x60;
    t[20] = 17;
    t[21] = cfg->ttl ? cfg->ttl : 64;
    memcpy(t + 22, cfg->src_ip6, 16);
    memcpy(t + 38, cfg->dst_ip6, 16);
    put16(t + 54, cfg->src_port);
    put16(t + 56, cfg->dst_port);
    e->ip_sum = pd_csum_add(0, t + 22, 32) + 17;
    return 0;
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
    if (cfg->ipv6)
        return encap_init6(e, cfg);
    put16(t + 12, 0x0800);
    t[14] = 0x45;
    t[15] = 0;                                /* TOS: per packet */
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
        e->ip_sum += get16(t + i);          /* TOS byte 0 here: added per packet */
    return 0;
}

/* Write the outer header in front of `payload_len` bytes of FEC packet.
 * `tos`: the inner IP packet's TOS byte (DSCP + ECN) or TOS_NONE.  The
 * outer DSCP is the configured one, else the inner's (uniform model,
 * RFC 2983); the ECN field is copied (RFC 6040 normal mode: the outer
 * header shows the same congestion signal as the inner). */
static void encap_write(const encap *e, uint8_t *dst, uint32_t payload_len, int tos)
{
    if (!e->len)
        return;
    memcpy(dst, e->tmpl, e->len);
    if (e->cfg.kind == PD_ENCAP_UDP) {
        uint16_t ip_len = (uint16_t)(20 + 8 + payload_len);
        uint8_t otos = (uint8_t)(e->cfg.dscp << 2);
        if (tos != TOS_NONE)
            otos = (uint8_t)((e->cfg.dscp ? otos : (tos & 0xfc)) | (tos & 3));
        if (e->cfg.ipv6) {
            /* traffic class as the IPv4 TOS; the UDP checksum needs the whole
             * payload, parity included: encap_seal6 once it is written */
            dst[14] = (uint8_t)(0x60 | otos >> 4);
            dst[15] = (uint8_t)(otos << 4);
            put16(dst + 18, (uint16_t)(8 + payload_len));
            put16(dst + 58, (uint16_t)(8 + payload_len));
            return;
        }
        dst[15] = otos;
        put16(dst + 16, ip_len);
        put16(dst + 24, pd_csum_fold(e->ip_sum + ip_len + otos));
        put16(dst + 38, (uint16_t)(8 + payload_len));
    }
}

/* UDP checksum of packets written by encap_write over IPv6 (RFC 8200
 * section 8.1: mandatory; 0 is sent as 0xffff, RFC 768). */
static void encap_seal6(const encap *e, const pd_pkt_ops *ops, pd_pkt **pkts, uint16_t n)
{
    for (uint16_t i = 0; i < n; i++) {
        uint8_t *d = ops->data(pkts[i]);
        uint32_t ulen = get16(d + 58);
        uint16_t c;

        if (ulen < 8 || 54 + ulen > ops->data_len(pkts[i]))
            continue;                 /* not ours (cannot happen): leave it */
        c = pd_csum_fold(pd_csum_add(e->ip_sum + ulen, d + 54, ulen));
        put16(d + 60, c ? c : 0xffff);
    }
}

/* TOS / traffic class byte of an IP frame, or TOS_NONE (net.h's rule). */
static inline int inner_tos(const uint8_t *f, uint32_t len)
{
    return pd_net_tos(f, len);
}

/* Set the ECN field of an IP frame (IPv4 checksum updated, RFC 1624). */
static void set_ecn(uint8_t *f, uint32_t l3, int version, uint8_t ecn)
{
    if (version == 4) {
        uint16_t old = get16(f + l3);
        f[l3 + 1] = (uint8_t)((f[l3 + 1] & 0xfc) | ecn);
        put16(f + l3 + 10, pd_csum_update16(get16(f + l3 + 10), old, get16(f + l3)));
    } else {
        f[l3 + 1] = (uint8_t)((f[l3 + 1] & 0xcf) | ecn << 4);
    }
}

/* The FEC packet in an Ethernet/IPv6/UDP frame (IPv6 at l3, UDP right
 * after the fixed header: extension headers are not ours): 0, -1 not
 * ours, -2 ours but the UDP checksum is wrong or zero (RFC 8200 8.1). */
static int encap_parse6(const encap *e, const uint8_t *f, uint32_t len, uint32_t l3,
                        uint32_t *off, uint32_t *plen, uint8_t *ecn)
{
    uint32_t pl, udp_len, u = l3 + 40;

    if (len < u + 8 || (f[l3] >> 4) != 6 || f[l3 + 6] != 17)
        return -1;
    pl = get16(f + l3 + 4);
    if (pl < 8 || u + pl > len || get16(f + u + 2) != e->cfg.dst_port)
        return -1;
    udp_len = get16(f + u + 4);
    if (udp_len < 8 || udp_len > pl)
        return -1;
    if (get16(f + u + 6) == 0 ||
        pd_csum_fold(pd_csum_add(pd_csum_pseudo(f + l3, 6, 17, udp_len), f + u, udp_len)) != 0)
        return -2;
    *off = u + 8;
    *plen = udp_len - 8;
    *ecn = (f[l3 + 1] >> 4) & 3;
    return 0;
}

/* Find the FEC packet inside a frame: 0 and its offset/length, -1 (not
 * ours) or -2 (ours, IPv6 UDP checksum bad). */
static int encap_parse(const encap *e, const uint8_t *f, uint32_t len, uint32_t *off,
                       uint32_t *plen, uint8_t *ecn)
{
    uint32_t l3;
    uint16_t et;

    if (e->cfg.kind == PD_ENCAP_NONE) {
        *off = 0;
        *plen = len;
        if (e->cfg.tos_trailer) {
            if (len < 1)
                return -1;
            *plen = len - 1;
            *ecn = f[len - 1] & 3;
        }
        return 0;
    }
    l3 = pd_net_l3_off(f, len, &et);          /* one VLAN tag at most */
    if (l3 == 0)
        return -1;
    if (e->cfg.kind == PD_ENCAP_ETHER) {
        if (et != e->cfg.ethertype)
            return -1;
        *off = l3;
        *plen = len - l3;
        *ecn = 0;
        return 0;
    }
    if (et == PD_ETH_P_IPV6)
        return encap_parse6(e, f, len, l3, off, plen, ecn);
    /* IPv4 + UDP to our port, unfragmented (fragments are not ours); the
     * Ethernet padding after the datagram is ignored. */
    if (et != PD_ETH_P_IPV4 ||
        pd_net_udp4_payload(f, len, l3, e->cfg.dst_port, off, plen, NULL) < 0)
        return -1;
    *ecn = f[l3 + 1] & 3;
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
    if (i + 2 < n)
        __builtin_prefetch(ops->data(in[i + 2]));
    /* The codec reads all of the next packet: ask for the rest of its lines
     * while this one is coded (a NIC leaves it in the last-level cache). */
    if (i + 1 < n) {
        const uint8_t *d = ops->data(in[i + 1]);
        uint32_t len = ops->data_len(in[i + 1]);

        for (uint32_t off = 0; off < len; off += 64)
            __builtin_prefetch(d + off);
    }
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

/* ICMP replies from the encoder (LAN -> WAN path) waiting for the decoder
 * (WAN -> LAN path) to send them towards the LAN.  The paths may run on
 * different threads: a spin lock, taken only when there is something. */
#define REPLY_SLOTS 256u

typedef struct reply_ring {
    atomic_flag lock;
    atomic_uint n;
    uint32_t head;
    pd_pkt *slot[REPLY_SLOTS];
} reply_ring;

static void ring_lock(reply_ring *r)
{
    while (atomic_flag_test_and_set_explicit(&r->lock, memory_order_acquire))
        ;
}

static void ring_unlock(reply_ring *r)
{
    atomic_flag_clear_explicit(&r->lock, memory_order_release);
}

/* The newest link report, handed between threads (spin lock, short copy). */
typedef struct report_box {
    atomic_flag lock;
    uint64_t gen;
    fec_link_report rep;
    uint32_t sender;
} report_box;

static void box_put(report_box *b, const fec_link_report *rep, uint32_t sender)
{
    while (atomic_flag_test_and_set_explicit(&b->lock, memory_order_acquire))
        ;
    b->rep = *rep;
    b->sender = sender;
    b->gen++;
    atomic_flag_clear_explicit(&b->lock, memory_order_release);
}

static uint64_t box_get(report_box *b, fec_link_report *rep, uint32_t *sender)
{
    uint64_t gen;
    while (atomic_flag_test_and_set_explicit(&b->lock, memory_order_acquire))
        ;
    gen = b->gen;
    if (rep)
        *rep = b->rep;
    if (sender)
        *sender = b->sender;
    atomic_flag_clear_explicit(&b->lock, memory_order_release);
    return gen;
}

/* One control packet waiting for the encoder's output (the newest wins). */
typedef struct ctrl_slot {
    atomic_flag lock;
    atomic_int ready;
    uint32_t len;
    uint8_t pkt[FEC_HDR_LEN + FEC_REPORT_MAX_LEN];
    atomic_uint_fast64_t sent, dropped;
} ctrl_slot;

struct pd_fec_enc_stage {
    gw_common c;
    fec_encoder *enc;
    ctrl_slot ctrl;
    uint32_t max_payload;
    pd_mtu_cfg mtu;
    uint32_t max_frame;       /* largest LAN frame that fits; 0: no MTU policy */
    atomic_int paired;        /* a decoder sends the replies */
    reply_ring replies;
    /* ICMP token bucket, as routers limit theirs (Linux: 1000/s) */
    double icmp_tokens;
    uint64_t icmp_last_ns;
    /* Repair packets carry the highest DSCP of their block's sources
     * (Not-ECT): a block mixing classes is protected at its best class. */
    int block_dscp;           /* DSCP << 2 of the sources so far, TOS_NONE: none */
    int in_repair;            /* the last packet out was a repair packet */
};

#define ICMP_RATE_PER_S 1000.0
#define ICMP_BURST 50.0

/* One ICMP message allowed now?  A flood of oversize packets must not be
 * answered packet for packet. */
static int icmp_allowed(pd_fec_enc_stage *s, uint64_t now)
{
    if (now > s->icmp_last_ns) {
        s->icmp_tokens += (double)(now - s->icmp_last_ns) * (ICMP_RATE_PER_S / 1e9);
        if (s->icmp_tokens > ICMP_BURST)
            s->icmp_tokens = ICMP_BURST;
        s->icmp_last_ns = now;
    }
    if (s->icmp_tokens < 1.0)
        return 0;
    s->icmp_tokens -= 1.0;
    return 1;
}

/* Bytes the WAN must carry on top of a LAN frame: outer header beyond the
 * WAN's own Ethernet header, FEC header, and the repair packets' length
 * field (a repair packet is as long as the longest source plus that). */
uint32_t pd_gateway_max_frame(const pd_encap_cfg *cfg, uint32_t wan_mtu)
{
    uint32_t outer = pd_encap_len(cfg), over;

    /* A socket transport (PD_ENCAP_NONE): wan_mtu is the datagram payload
     * the transport carries whole; the kernel adds its own headers. */
    if (cfg->kind == PD_ENCAP_NONE) {
        over = FEC_HDR_LEN + FEC_LEN_FIELD;
        return wan_mtu > over ? wan_mtu - over : 0;
    }
    if (!outer)
        return 0;
    /* WAN frame = outer header (its Ethernet header included) + FEC header
     * + LAN frame (+ length field in repair packets) <= wan_mtu + Ethernet. */
    over = outer + FEC_HDR_LEN + FEC_LEN_FIELD;
    return wan_mtu + PD_ENCAP_ETHER_LEN > over ? wan_mtu + PD_ENCAP_ETHER_LEN - over : 0;
}

/* Parity packets come from the pool: header written here, parity by the codec. */
static uint8_t *enc_parity_buffer(void *ctx, uint32_t len)
{
    pd_fec_enc_stage *s = ctx;
    uint8_t *d = queue_new_packet(&s->c, s->c.hdr.len + len);

    if (!d)
        return NULL;
    s->in_repair = 1;
    encap_write(&s->c.hdr, d, len, s->block_dscp);
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
    s->mtu = cfg->mtu;
    s->icmp_tokens = ICMP_BURST;
    atomic_flag_clear(&s->replies.lock);
    atomic_flag_clear(&s->ctrl.lock);
    rc = common_init(&s->c, &cfg->encap, ops, pool, s, enc_parity_buffer);
    if (rc == 0 && cfg->mtu.wan_mtu) {
        s->max_frame = pd_gateway_max_frame(&cfg->encap, cfg->mtu.wan_mtu);
        /* A jumbo WAN is still bounded by what the codec protects. */
        if (s->max_frame > s->max_payload)
            s->max_frame = s->max_payload;
        if (s->max_frame < 14 + 68)   /* not even a minimal IPv4 packet fits */
            rc = -EINVAL;
    }
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
    reply_ring *r;

    if (!s)
        return;
    r = &s->replies;
    while (atomic_load(&r->n) > 0) {
        s->c.ops->free_bulk(&r->slot[r->head], 1);
        r->head = (r->head + 1) % REPLY_SLOTS;
        atomic_fetch_sub(&r->n, 1);
    }
    fec_encoder_destroy(s->enc);
    free(s);
}

void pd_fec_enc_stage_mtu(const pd_fec_enc_stage *s, uint32_t *max_frame, uint32_t *ip_mtu,
                          uint32_t *mss4)
{
    uint32_t f = s->max_frame;
    if (max_frame) *max_frame = f;
    if (ip_mtu) *ip_mtu = f ? f - 14 : 0;
    if (mss4) *mss4 = f && s->mtu.clamp_mss ? f - 14 - 40 : 0;
}

/* Protect one frame and queue it (counted drops otherwise). */
static void enc_one(pd_fec_enc_stage *s, pd_pkt *p, uint64_t now)
{
    gw_common *c = &s->c;
    const pd_pkt_ops *ops = c->ops;
    uint32_t room = c->hdr.len + FEC_HDR_LEN, len = ops->data_len(p);
    uint8_t hdr[FEC_HDR_LEN], *d;
    uint16_t slot;
    int tos;

    if (len > s->max_payload || len == 0) {
        c->gw.too_big++;
        ops->free_bulk(&p, 1);
        return;
    }
    if (ops->headroom(p) < room) {
        c->gw.no_headroom++;
        ops->free_bulk(&p, 1);
        return;
    }
    if (c->q.n >= c->q.cap) {
        c->gw.out_full++;
        ops->free_bulk(&p, 1);
        return;
    }
    tos = c->hdr.cfg.kind == PD_ENCAP_UDP ? inner_tos(ops->data(p), len) : TOS_NONE;
    if (s->in_repair) {               /* a new block begins */
        s->in_repair = 0;
        s->block_dscp = TOS_NONE;
    }
    if (tos != TOS_NONE && (tos & 0xfc) > s->block_dscp)
        s->block_dscp = tos & 0xfc;
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
        return;
    }
    d = ops->prepend(p, room);
    encap_write(&c->hdr, d, FEC_HDR_LEN + len, tos);
    memcpy(d + c->hdr.len, hdr, FEC_HDR_LEN);
}

/* Queue an ICMP reply for the decoder path: 0, or -1 (counted). */
static int reply_push(pd_fec_enc_stage *s, const uint8_t *msg, uint32_t len)
{
    const pd_pkt_ops *ops = s->c.ops;
    reply_ring *r = &s->replies;
    pd_pkt *p;
    uint8_t *d;

    if (!atomic_load_explicit(&s->paired, memory_order_acquire) ||
        atomic_load(&r->n) >= REPLY_SLOTS || ops->alloc_bulk(s->c.pool, &p, 1) != 0) {
        s->c.gw.reply_dropped++;
        return -1;
    }
    d = ops->append(p, len);
    if (!d) {
        ops->free_bulk(&p, 1);
        s->c.gw.reply_dropped++;
        return -1;
    }
    memcpy(d, msg, len);
    ring_lock(r);
    r->slot[(r->head + atomic_load(&r->n)) % REPLY_SLOTS] = p;
    atomic_fetch_add(&r->n, 1);
    ring_unlock(r);
    return 0;
}

#define MAX_FRAGMENTS 64u

/* IPv4 without DF: cut into fragments that fit, each protected as a frame. */
static int enc_fragment(pd_fec_enc_stage *s, pd_pkt *p, const pd_net_hdrs *h, uint64_t now)
{
    const pd_pkt_ops *ops = s->c.ops;
    uint32_t ip_mtu = s->max_frame - h->l2_len, per, n;
    pd_pkt *frag[MAX_FRAGMENTS];
    uint8_t *out[MAX_FRAGMENTS];
    uint32_t out_len[MAX_FRAGMENTS], room = UINT32_MAX;
    int rc;

    if (ip_mtu < h->l3_len + 8)
        return -1;
    per = (ip_mtu - h->l3_len) & ~7u;
    n = (h->ip_len - h->l3_len + per - 1) / per;
    if (n == 0 || n > MAX_FRAGMENTS || ops->alloc_bulk(s->c.pool, frag, n) != 0)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t t = ops->tailroom(frag[i]);
        out[i] = ops->data(frag[i]);
        room = t < room ? t : room;
    }
    rc = pd_net_ipv4_fragment(ops->data(p), ops->data_len(p), ip_mtu, out, room, out_len, n);
    if (rc <= 0) {
        ops->free_bulk(frag, n);
        return -1;
    }
    if ((uint32_t)rc < n)
        ops->free_bulk(frag + rc, n - (uint32_t)rc);
    s->c.gw.fragmented++;
    s->c.gw.fragments += (uint64_t)rc;
    ops->free_bulk(&p, 1);
    for (int i = 0; i < rc; i++) {
        ops->append(frag[i], out_len[i]);
        enc_one(s, frag[i], now);
    }
    return 0;
}

/* A frame over max_frame: fragment (IPv4 without DF), answer with ICMP
 * (IPv4 with DF, IPv6), or drop; every way counted. */
static void enc_oversize(pd_fec_enc_stage *s, pd_pkt *p, uint64_t now)
{
    const pd_pkt_ops *ops = s->c.ops;
    uint8_t *f = ops->data(p), msg[1536];
    uint32_t len = ops->data_len(p);
    pd_net_hdrs h;
    int n;

    if (pd_net_parse(f, len, &h) != 0 || h.ip_version == 0) {
        s->c.gw.too_big++;               /* not IP: nobody to tell */
        ops->free_bulk(&p, 1);
        return;
    }
    if (h.ip_version == 4 && !h.df && !s->mtu.no_fragment) {
        if (enc_fragment(s, p, &h, now) == 0)
            return;
        s->c.gw.mtu_dropped++;
        ops->free_bulk(&p, 1);
        return;
    }
    if (!s->mtu.no_icmp && !atomic_load_explicit(&s->paired, memory_order_acquire)) {
        s->c.gw.reply_dropped++;         /* one-way gateway: no way back */
        s->c.gw.mtu_dropped++;
        ops->free_bulk(&p, 1);
        return;
    }
    if (!s->mtu.no_icmp && !icmp_allowed(s, now)) {
        s->c.gw.icmp_limited++;
        s->c.gw.mtu_dropped++;
        ops->free_bulk(&p, 1);
        return;
    }
    n = s->mtu.no_icmp ? -1
                       : pd_net_icmp_too_big(f, len, s->max_frame - h.l2_len,
                                             s->mtu.has_src4 ? s->mtu.src4 : NULL,
                                             s->mtu.has_src6 ? s->mtu.src6 : NULL, msg,
                                             sizeof(msg));
    if (n > 0 && reply_push(s, msg, (uint32_t)n) == 0)
        s->c.gw.icmp_too_big++;
    else
        s->c.gw.mtu_dropped++;
    ops->free_bulk(&p, 1);
}

/* A TCP SYN (fast test first: most frames are not) gets its MSS lowered to
 * what fits max_frame. */
static void enc_clamp(pd_fec_enc_stage *s, uint8_t *f, uint32_t len)
{
    uint32_t l3;
    int v = pd_net_ip_at(f, len, &l3);

    if (v == 4 ? f[l3 + 9] != 6 : v == 6 ? f[l3 + 6] != 6 : 1)
        return;
    if (pd_net_clamp_mss(f, len, s->max_frame) == 1)
        s->c.gw.mss_clamped++;
}

/* A waiting control packet (link report for the peer) goes out first. */
static void enc_send_control(pd_fec_enc_stage *s)
{
    ctrl_slot *cs = &s->ctrl;
    uint8_t *d;

    if (!atomic_load_explicit(&cs->ready, memory_order_acquire))
        return;
    while (atomic_flag_test_and_set_explicit(&cs->lock, memory_order_acquire))
        ;
    d = queue_new_packet(&s->c, s->c.hdr.len + cs->len);
    if (d) {
        encap_write(&s->c.hdr, d, cs->len, TOS_NONE);
        memcpy(d + s->c.hdr.len, cs->pkt, cs->len);
        atomic_fetch_add(&cs->sent, 1);
    } else {
        atomic_fetch_add(&cs->dropped, 1);
    }
    atomic_store_explicit(&cs->ready, 0, memory_order_relaxed);
    atomic_flag_clear_explicit(&cs->lock, memory_order_release);
}

int pd_fec_enc_stage_set_params(pd_fec_enc_stage *s, int code, unsigned k, unsigned m,
                                unsigned depth)
{
    return s ? fec_encoder_set_params(s->enc, code, k, m, depth) : -EINVAL;
}

void pd_fec_enc_stage_get_params(const pd_fec_enc_stage *s, int *code, unsigned *k,
                                 unsigned *m, unsigned *depth)
{
    fec_encoder_get_params(s->enc, code, k, m, depth);
}

void pd_fec_enc_stage_control_counts(const pd_fec_enc_stage *s, uint64_t *sent,
                                     uint64_t *dropped)
{
    if (sent) *sent = atomic_load(&((pd_fec_enc_stage *)s)->ctrl.sent);
    if (dropped) *dropped = atomic_load(&((pd_fec_enc_stage *)s)->ctrl.dropped);
}

static uint16_t enc_process(void *ctx, pd_pkt **in, uint16_t n, pd_pkt **out, uint16_t cap,
                            uint64_t now)
{
    pd_fec_enc_stage *s = ctx;
    gw_common *c = &s->c;
    const pd_pkt_ops *ops = c->ops;

    c->q = (outq){ out, 0, cap };
    enc_send_control(s);
    /* The burst's packets stay put until we return: the codec may code a
     * block's sources together (fec_encoder_batch_begin). */
    fec_encoder_batch_begin(s->enc);
    for (uint16_t i = 0; i < n; i++) {
        pd_pkt *p = in[i];
        uint32_t len = ops->data_len(p);

        prefetch_ahead(ops, in, i, n);
        if (s->max_frame) {
            if (s->mtu.clamp_mss)
                enc_clamp(s, ops->data(p), len);
            if (len > s->max_frame) {
                enc_oversize(s, p, now);
                continue;
            }
        }
        enc_one(s, p, now);
    }
    /* Deadlines are checked on every call, bursts and idle polls alike. */
    fec_encoder_poll(s->enc, now, &c->sink);
    fec_encoder_batch_end(s->enc);
    if (c->hdr.cfg.ipv6 && c->hdr.cfg.kind == PD_ENCAP_UDP)
        encap_seal6(&c->hdr, ops, out, c->q.n);
    return c->q.n;
}

static uint16_t enc_flush(void *ctx, pd_pkt **out, uint16_t cap, uint64_t now)
{
    pd_fec_enc_stage *s = ctx;
    (void)now;
    s->c.q = (outq){ out, 0, cap };
    fec_encoder_flush(s->enc, &s->c.sink);
    if (s->c.hdr.cfg.ipv6 && s->c.hdr.cfg.kind == PD_ENCAP_UDP)
        encap_seal6(&s->c.hdr, s->c.ops, out, s->c.q.n);
    return s->c.q.n;
}

static uint64_t enc_next_deadline(void *ctx)
{
    return fec_encoder_next_deadline(((pd_fec_enc_stage *)ctx)->enc);
}

void pd_fec_enc_stage_bind(pd_fec_enc_stage *s, pd_stage *st)
{
    memset(st, 0, sizeof(*st));
    st->name = "fec-encode";
    st->ctx = s;
    st->process = enc_process;
    st->flush = enc_flush;
    st->next_deadline = enc_next_deadline;
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
    pd_fec_enc_stage *pair;   /* whose ICMP replies go out here */
    /* adaptive FEC */
    int measuring, send_reports;
    uint64_t report_interval, next_report, report_seq;
    report_box local, peer;
    fec_control_state ctrl;   /* only touched by the stage's thread ... */
    atomic_flag ctrl_lock;    /* ... and by stats readers under this */
};

void pd_fec_stage_pair(pd_fec_enc_stage *enc, pd_fec_dec_stage *dec)
{
    if (!dec)
        return;
    if (dec->pair)
        atomic_store_explicit(&dec->pair->paired, 0, memory_order_release);
    dec->pair = enc;
    if (enc)
        atomic_store_explicit(&enc->paired, 1, memory_order_release);
}

/* Move the encoder's waiting ICMP replies to the output (towards the LAN). */
static void dec_take_replies(pd_fec_dec_stage *s)
{
    reply_ring *r = &s->pair->replies;
    uint32_t n;

    if (atomic_load_explicit(&r->n, memory_order_acquire) == 0)
        return;
    ring_lock(r);
    n = atomic_load(&r->n);
    while (n > 0 && s->c.q.n < s->c.q.cap) {
        s->c.q.out[s->c.q.n++] = r->slot[r->head];
        r->head = (r->head + 1) % REPLY_SLOTS;
        n--;
        atomic_fetch_sub(&r->n, 1);
    }
    ring_unlock(r);
}

/* RFC 6040 section 4.2 (normal mode) for a delivered frame under an outer
 * ECN field: 0 to deliver, -1 to drop (CE outer over a Not-ECT inner). */
static int dec_ecn(pd_fec_dec_stage *s, uint8_t *f, uint32_t len, uint8_t outer)
{
    uint32_t l3;
    int v = pd_net_ip_at(f, len, &l3);
    uint8_t inner;

    if (outer == 0 || v == 0)
        return 0;
    inner = (uint8_t)((v == 4 ? f[l3 + 1] : (f[l3 + 1] >> 4)) & 3);
    if (outer == 3) {
        if (inner == 0) {
            s->c.gw.ecn_dropped++;
            return -1;
        }
        if (inner != 3) {
            set_ecn(f, l3, v, 3);
            s->c.gw.ecn_marked++;
        }
    } else if (outer == 1 && inner == 2) {
        set_ecn(f, l3, v, 1);          /* ECT(1) outer over ECT(0) inner */
    }
    return 0;
}

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
    s->measuring = cfg->fec.measure_window != 0;
    s->send_reports = cfg->send_reports;
    s->report_interval = cfg->report_interval ? cfg->report_interval : 100000000u;
    atomic_flag_clear(&s->local.lock);
    atomic_flag_clear(&s->peer.lock);
    atomic_flag_clear(&s->ctrl_lock);
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
    pd_fec_stage_pair(NULL, s);
    fec_decoder_destroy(s->dec);
    free(s);
}

/* Publish the link report when due; with send_reports, hand it to the
 * paired encoder as a control packet for the peer. */
static void dec_report(pd_fec_dec_stage *s, uint64_t now)
{
    fec_link_report rep;
    uint8_t payload[FEC_REPORT_MAX_LEN];
    int n;

    if (now < s->next_report)
        return;
    s->next_report = now + s->report_interval;
    if (fec_decoder_link_report(s->dec, now, &rep) != 0)
        return;
    box_put(&s->local, &rep, rep.session_id);
    if (!s->send_reports || !s->pair || rep.packets == 0)
        return;
    n = fec_report_write(&rep, payload, sizeof(payload));
    if (n < 0)
        return;
    ctrl_slot *cs = &s->pair->ctrl;
    while (atomic_flag_test_and_set_explicit(&cs->lock, memory_order_acquire))
        ;
    n = fec_control_write(fec_encoder_session_id(s->pair->enc), ++s->report_seq, 0,
                          FEC_CTRL_LINK_REPORT, payload, (size_t)n, cs->pkt, sizeof(cs->pkt));
    if (n > 0) {
        cs->len = (uint32_t)n;
        atomic_store_explicit(&cs->ready, 1, memory_order_release);
    }
    atomic_flag_clear_explicit(&cs->lock, memory_order_release);
}

/* A control packet from the peer: its report, if good, for the controller. */
static void dec_control(pd_fec_dec_stage *s, const uint8_t *pkt, uint32_t len)
{
    fec_link_report rep;
    uint32_t sender = 0;
    int rc;

    while (atomic_flag_test_and_set_explicit(&s->ctrl_lock, memory_order_acquire))
        ;
    rc = fec_control_accept(&s->ctrl, pkt, len, &rep, &sender);
    atomic_flag_clear_explicit(&s->ctrl_lock, memory_order_release);
    if (rc == 0)
        box_put(&s->peer, &rep, sender);
}

uint64_t pd_fec_dec_stage_link_report(pd_fec_dec_stage *s, fec_link_report *rep)
{
    return box_get(&s->local, rep, NULL);
}

uint64_t pd_fec_dec_stage_peer_report(pd_fec_dec_stage *s, fec_link_report *rep,
                                      uint32_t *sender)
{
    return box_get(&s->peer, rep, sender);
}

void pd_fec_dec_stage_control_stats(pd_fec_dec_stage *s, fec_control_state *st)
{
    while (atomic_flag_test_and_set_explicit(&s->ctrl_lock, memory_order_acquire))
        ;
    *st = s->ctrl;
    atomic_flag_clear_explicit(&s->ctrl_lock, memory_order_release);
}

static uint16_t dec_process(void *ctx, pd_pkt **in, uint16_t n, pd_pkt **out, uint16_t cap,
                            uint64_t now)
{
    pd_fec_dec_stage *s = ctx;
    gw_common *c = &s->c;
    const pd_pkt_ops *ops = c->ops;

    c->q = (outq){ out, 0, cap };
    if (s->pair)
        dec_take_replies(s);
    for (uint16_t i = 0; i < n; i++) {
        pd_pkt *p = in[i];
        uint32_t len = ops->data_len(p), off, plen;
        uint8_t ecn = 0;
        fec_verdict v;

        prefetch_ahead(ops, in, i, n);

        int rc = encap_parse(&c->hdr, ops->data(p), len, &off, &plen, &ecn);
        if (rc != 0) {
            if (rc == -2)
                c->gw.bad_checksum++;
            else
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
            if (ecn && dec_ecn(s, ops->data(p), v.length, ecn) != 0) {
                ops->free_bulk(&p, 1);
                continue;
            }
            c->q.out[c->q.n++] = p;
        } else {
            if (v.action == FEC_DELIVER)
                c->gw.out_full++;
            else if (v.action == FEC_CONTROL)
                dec_control(s, ops->data(p) + off, plen);
            ops->free_bulk(&p, 1);
        }
    }
    fec_decoder_poll(s->dec, now);
    if (s->measuring)
        dec_report(s, now);
    return c->q.n;
}

/* End of run: give up every block still waiting for packets, so the sources
 * they miss are counted unrecoverable (needs a decoder timeout > 0). */
static void dec_finish(void *ctx)
{
    pd_fec_dec_stage *s = ctx;
    fec_decoder_poll(s->dec, UINT64_MAX);
}

static uint64_t dec_next_deadline(void *ctx)
{
    return fec_decoder_next_deadline(((pd_fec_dec_stage *)ctx)->dec);
}

void pd_fec_dec_stage_bind(pd_fec_dec_stage *s, pd_stage *st)
{
    memset(st, 0, sizeof(*st));
    st->name = "fec-decode";
    st->ctx = s;
    st->process = dec_process;
    st->finish = dec_finish;
    st->next_deadline = dec_next_deadline;
}

void pd_fec_dec_stage_stats(const pd_fec_dec_stage *s, fec_decoder_stats *fec,
                            pd_gateway_counters *gw)
{
    if (fec)
        fec_decoder_get_stats(s->dec, fec);
    if (gw)
        *gw = s->c.gw;
}
