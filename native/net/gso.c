/* Segmentation of GSO/GRO super-frames: see net.h. */
#include "net.h"

#include <errno.h>
#include <string.h>

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_CWR 0x80

/* The plan of one segmentation: header bytes copied to every segment and
 * payload bytes per segment. */
typedef struct plan {
    pd_net_hdrs h;
    uint32_t hdr;     /* bytes of headers in front of the payload */
    uint32_t payload; /* bytes after them */
    uint32_t step;    /* payload bytes per segment (last may be shorter) */
    uint32_t n;
    int kind;         /* PD_GSO_TCPV4/6, PD_GSO_UDP_L4, PD_GSO_UDP */
} plan;

static int make_plan(const uint8_t *f, uint32_t len, const pd_vnet_hdr *v, plan *p)
{
    int kind = v->gso_type & ~PD_GSO_ECN;
    int rc = pd_net_parse(f, len, &p->h);

    if (rc != 0)
        return rc;
    if (v->gso_size == 0 || p->h.ip_version == 0 || p->h.fragment)
        return -EINVAL;
    /* Frames are what the IP header says: padding after it is dropped. */
    len = p->h.l2_len + p->h.ip_len;
    p->kind = kind;
    switch (kind) {
    case PD_GSO_TCPV4:
    case PD_GSO_TCPV6:
        if (p->h.l4_proto != 6 || p->h.ip_version != (kind == PD_GSO_TCPV4 ? 4 : 6))
            return -EINVAL;
        p->hdr = p->h.l2_len + p->h.l3_len + p->h.l4_len;
        p->step = v->gso_size;
        break;
    case PD_GSO_UDP_L4:
        if (p->h.l4_proto != 17)
            return -EINVAL;
        p->hdr = p->h.l2_len + p->h.l3_len + 8;
        p->step = v->gso_size;
        break;
    case PD_GSO_UDP:
        /* UFO: the UDP datagram (header included) is cut into IP fragments
         * of gso_size bytes rounded down to 8 (fragment offsets are in
         * 8-byte units).  IPv6 only without extension headers. */
        if (p->h.l4_proto != 17 || (p->h.ip_version == 6 && p->h.l3_len != 40))
            return -EINVAL;
        p->hdr = p->h.l2_len + p->h.l3_len;
        p->step = v->gso_size & ~7u;
        if (p->step == 0)
            return -EINVAL;
        break;
    default:
        return -EPROTONOSUPPORT;
    }
    if (p->hdr > len)
        return -EINVAL;
    p->payload = len - p->hdr;
    p->n = p->payload == 0 ? 1 : (p->payload + p->step - 1) / p->step;
    return 0;
}

int pd_net_gso_count(const uint8_t *f, uint32_t len, const pd_vnet_hdr *v)
{
    plan p;
    int rc = make_plan(f, len, v, &p);
    if (rc != 0)
        return rc;
    return p.n > 0x7fffffffu ? -EINVAL : (int)p.n;
}

/* IP length fields (and the IPv4 id/checksum) of one output frame whose IP
 * datagram is `ip_len` bytes. */
static void set_ip(uint8_t *o, const plan *p, uint32_t ip_len, uint16_t id)
{
    uint8_t *ip = o + p->h.l2_len;

    if (p->h.ip_version == 4) {
        wr16(ip + 2, (uint16_t)ip_len);
        wr16(ip + 4, id);
        wr16(ip + 10, 0);
        wr16(ip + 10, pd_csum_ipv4_hdr(ip, p->h.l3_len));
    } else {
        wr16(ip + 4, (uint16_t)(ip_len - 40));
    }
}

static void l4_csum(uint8_t *o, const plan *p, uint32_t l4_len, uint32_t ck_off, int udp)
{
    uint8_t *ip = o + p->h.l2_len, *l4 = ip + p->h.l3_len;
    uint32_t s = pd_csum_pseudo(ip, p->h.ip_version, p->h.l4_proto, l4_len);
    uint16_t c;

    wr16(l4 + ck_off, 0);
    c = pd_csum_fold(pd_csum_add(s, l4, l4_len));
    if (udp && c == 0)
        c = 0xffff;
    wr16(l4 + ck_off, c);
}

static int segment_ufo(const uint8_t *f, const plan *p, uint8_t *const *out, uint32_t room,
                       uint32_t *out_len, uint32_t frag_id)
{
    const uint8_t *ip0 = f + p->h.l2_len;
    uint32_t l2 = p->h.l2_len, l3 = p->h.l3_len, ext = p->h.ip_version == 6 ? 8 : 0;
    uint16_t id = p->h.ip_version == 4 ? rd16(ip0 + 4) : 0;
    uint8_t ck[2];

    /* The UDP checksum covers the whole datagram: computed once, carried
     * in the first fragment. */
    {
        uint32_t ulen = p->payload;
        uint32_t s = pd_csum_pseudo(ip0, p->h.ip_version, 17, ulen);
        uint8_t tmp[8];
        uint16_t c;
        memcpy(tmp, f + p->hdr, 8);
        wr16(tmp + 6, 0);
        s = pd_csum_add(s, tmp, 8);
        s = pd_csum_add(s, f + p->hdr + 8, ulen - 8);
        c = pd_csum_fold(s);
        wr16(ck, c == 0 ? 0xffff : c);
    }
    for (uint32_t i = 0; i < p->n; i++) {
        uint32_t off = i * p->step;
        uint32_t chunk = p->payload - off < p->step ? p->payload - off : p->step;
        int last = i + 1 == p->n;
        uint8_t *o = out[i], *ip = o + l2;

        if (l2 + l3 + ext + chunk > room)
            return -ENOSPC;
        memcpy(o, f, l2 + l3);
        if (p->h.ip_version == 4) {
            uint16_t fo = (uint16_t)(off / 8) | (last ? 0 : 0x2000);
            wr16(ip + 6, (uint16_t)(rd16(ip0 + 6) & 0x8000) | fo); /* DF cleared */
            memcpy(ip + l3, f + p->hdr + off, chunk);
            set_ip(o, p, l3 + chunk, id);
        } else {
            uint8_t *fh = ip + 40;
            fh[0] = 17;
            fh[1] = 0;
            wr16(fh + 2, (uint16_t)(off | (last ? 0 : 1)));
            wr32(fh + 4, frag_id);
            ip[6] = 44;
            memcpy(fh + 8, f + p->hdr + off, chunk);
            wr16(ip + 4, (uint16_t)(8 + chunk));
        }
        if (i == 0)
            memcpy(ip + l3 + ext + 6, ck, 2);
        out_len[i] = l2 + l3 + ext + chunk;
    }
    return (int)p->n;
}

int pd_net_gso_segment(const uint8_t *f, uint32_t len, const pd_vnet_hdr *v,
                       uint8_t *const *out, uint32_t room, uint32_t *out_len,
                       uint32_t nout, uint32_t frag_id)
{
    plan p;
    int rc = make_plan(f, len, v, &p);
    uint32_t l2, l4off;
    uint16_t id;
    uint32_t seq;
    uint8_t flags;

    if (rc != 0)
        return rc;
    if (p.n > nout)
        return -ENOSPC;
    if (p.kind == PD_GSO_UDP)
        return segment_ufo(f, &p, out, room, out_len, frag_id);
    l2 = p.h.l2_len;
    l4off = l2 + p.h.l3_len;
    id = p.h.ip_version == 4 ? rd16(f + l2 + 4) : 0;
    seq = p.kind == PD_GSO_UDP_L4 ? 0 : rd32(f + l4off + 4);
    flags = p.kind == PD_GSO_UDP_L4 ? 0 : f[l4off + 13];
    for (uint32_t i = 0; i < p.n; i++) {
        uint32_t off = i * p.step;
        uint32_t chunk = p.payload - off < p.step ? p.payload - off : p.step;
        uint8_t *o = out[i];
        uint32_t l4_len = p.hdr - l4off + chunk;

        if (p.hdr + chunk > room)
            return -ENOSPC;
        memcpy(o, f, p.hdr);
        memcpy(o + p.hdr, f + p.hdr + off, chunk);
        set_ip(o, &p, p.h.l3_len + l4_len, (uint16_t)(id + i));
        if (p.kind == PD_GSO_UDP_L4) {
            wr16(o + l4off + 4, (uint16_t)l4_len);
            l4_csum(o, &p, l4_len, 6, 1);
        } else {
            uint8_t fl = flags;
            if (i + 1 < p.n)
                fl &= (uint8_t)~(TCP_FIN | TCP_PSH);
            if (i > 0)
                fl &= (uint8_t)~TCP_CWR;
            o[l4off + 13] = fl;
            wr32(o + l4off + 4, seq + off);
            l4_csum(o, &p, l4_len, 16, 0);
        }
        out_len[i] = p.hdr + chunk;
    }
    return (int)p.n;
}
