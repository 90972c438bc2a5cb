/* Internet checksums and header parsing: see net.h. */
#include "net.h"

#include <errno.h>
#include <string.h>

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

uint32_t pd_csum_add(uint32_t sum, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t acc = 0;

    /* 32-bit native loads into a 64-bit accumulator; the ones'-complement
     * sum of native-order words equals the byte-swapped big-endian sum. */
    while (len >= 4) {
        uint32_t w;
        memcpy(&w, p, 4);
        acc += w;
        p += 4;
        len -= 4;
    }
    if (len >= 2) {
        uint16_t w;
        memcpy(&w, p, 2);
        acc += w;
        p += 2;
        len -= 2;
    }
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    acc = (uint16_t)((acc >> 8) | (acc << 8));
#endif
    if (len)
        acc += (uint32_t)p[0] << 8;
    acc += sum;
    while (acc >> 32)
        acc = (acc & 0xffffffffu) + (acc >> 32);
    return (uint32_t)acc;
}

uint16_t pd_csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

uint16_t pd_csum_ipv4_hdr(const uint8_t *ip, uint32_t ihl)
{
    return pd_csum_fold(pd_csum_add(0, ip, ihl));
}

uint16_t pd_csum_update16(uint16_t check, uint16_t old, uint16_t new_)
{
    uint32_t s = (uint16_t)~check + (uint32_t)(uint16_t)~old + new_;
    return pd_csum_fold(s);
}

uint32_t pd_csum_pseudo(const uint8_t *ip, int version, uint8_t proto, uint32_t l4_len)
{
    uint32_t s;

    if (version == 4)
        s = pd_csum_add(0, ip + 12, 8);
    else
        s = pd_csum_add(0, ip + 8, 32);
    return s + proto + (l4_len >> 16) + (l4_len & 0xffff);
}

int pd_net_parse(const uint8_t *f, uint32_t len, pd_net_hdrs *h)
{
    uint32_t off = 12, l3;
    uint16_t et;

    memset(h, 0, sizeof(*h));
    if (len < 14)
        return -EINVAL;
    et = rd16(f + off);
    for (int tags = 0; (et == 0x8100 || et == 0x88a8) && tags < 2; tags++) {
        if (off + 6 > len)
            return -EINVAL;
        off += 4;
        et = rd16(f + off);
    }
    off += 2;
    h->l2_len = off;
    h->ethertype = et;
    l3 = off;
    if (et == 0x0800) {
        uint32_t ihl, tot;
        uint16_t frag;
        if (len < l3 + 20 || (f[l3] >> 4) != 4)
            return -EINVAL;
        ihl = (f[l3] & 0xfu) * 4u;
        tot = rd16(f + l3 + 2);
        if (ihl < 20 || tot < ihl || l3 + tot > len)
            return -EINVAL;
        frag = rd16(f + l3 + 6);
        h->ip_version = 4;
        h->l3_len = ihl;
        h->ip_len = tot;
        h->l4_proto = f[l3 + 9];
        h->df = (frag & 0x4000) != 0;
        h->fragment = (frag & 0x3fff) != 0;
        if ((frag & 0x1fff) != 0)
            return 0;      /* not the first fragment: no L4 header here */
    } else if (et == 0x86dd) {
        uint32_t pl, x;
        uint8_t nh;
        if (len < l3 + 40 || (f[l3] >> 4) != 6)
            return -EINVAL;
        pl = rd16(f + l3 + 4);
        if (l3 + 40 + pl > len)
            return -EINVAL;
        h->ip_version = 6;
        h->ip_len = 40 + pl;
        nh = f[l3 + 6];
        x = 40;
        /* Hop-by-hop, routing, destination options, fragment. */
        while (nh == 0 || nh == 43 || nh == 60 || nh == 44) {
            uint32_t xl;
            if (x + 8 > h->ip_len)
                return -EINVAL;
            if (nh == 44) {
                h->fragment = 1;
                xl = 8;
                if ((rd16(f + l3 + x + 2) & 0xfff8) != 0) {
                    h->l4_proto = f[l3 + x];
                    h->l3_len = x + 8;
                    return 0;
                }
            } else {
                xl = ((uint32_t)f[l3 + x + 1] + 1) * 8;
            }
            nh = f[l3 + x];
            x += xl;
        }
        if (x > h->ip_len)
            return -EINVAL;
        h->l3_len = x;
        h->l4_proto = nh;
    } else {
        return 0;
    }
    {
        uint32_t l4 = l3 + h->l3_len, room = h->ip_len - h->l3_len;
        if (h->l4_proto == 6) {
            uint32_t doff;
            if (room < 20)
                return -EINVAL;
            doff = (uint32_t)(f[l4 + 12] >> 4) * 4u;
            if (doff < 20 || doff > room)
                return -EINVAL;
            h->l4_len = doff;
        } else if (h->l4_proto == 17 || h->l4_proto == 1 || h->l4_proto == 58) {
            if (room < 8)
                return -EINVAL;
            h->l4_len = 8;
        }
    }
    return 0;
}

int pd_net_fill_l4_csum(uint8_t *f, uint32_t len)
{
    pd_net_hdrs h;
    uint32_t l3, l4, l4_len, sum;
    uint8_t *ck;
    uint16_t c;

    if (pd_net_parse(f, len, &h) != 0 || h.ip_version == 0 || h.fragment)
        return -EINVAL;
    if (h.l4_proto != 6 && h.l4_proto != 17)
        return -EINVAL;
    l3 = h.l2_len;
    l4 = l3 + h.l3_len;
    l4_len = h.ip_len - h.l3_len;
    ck = f + l4 + (h.l4_proto == 6 ? 16 : 6);
    ck[0] = ck[1] = 0;
    sum = pd_csum_pseudo(f + l3, h.ip_version, h.l4_proto, l4_len);
    c = pd_csum_fold(pd_csum_add(sum, f + l4, l4_len));
    if (c == 0 && h.l4_proto == 17)
        c = 0xffff; /* 0 means "no checksum" in UDP */
    wr16(ck, c);
    return 0;
}

int pd_net_csum_partial_complete(uint8_t *f, uint32_t len, uint32_t csum_start,
                                 uint32_t csum_offset)
{
    uint16_t c;

    if (csum_start >= len || csum_offset + 2 > len - csum_start)
        return -EINVAL;
    c = pd_csum_fold(pd_csum_add(0, f + csum_start, len - csum_start));
    /* A UDP checksum of 0 reads as "none": the kernel's devices send
     * 0xffff (its complement twin) instead; harmless for TCP too. */
    if (c == 0)
        c = 0xffff;
    wr16(f + csum_start + csum_offset, c);
    return 0;
}
