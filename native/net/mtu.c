/* Edge-device MTU handling (MSS clamping, ICMP too big, IPv4 fragments)
 * and the interface MTU/offload query: see net.h. */
#include "net.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef __linux__
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

int pd_net_clamp_mss(uint8_t *f, uint32_t len, uint32_t max_frame)
{
    pd_net_hdrs h;
    uint8_t *tcp;
    uint32_t i;
    uint16_t mss;

    if (pd_net_parse(f, len, &h) != 0)
        return -EINVAL;
    if (h.ip_version == 0 || h.l4_proto != 6 || h.fragment || h.l4_len < 20)
        return 0;
    if (max_frame < h.l2_len + h.l3_len + 20 + 8)
        return -EINVAL;
    mss = (uint16_t)(max_frame - h.l2_len - h.l3_len - 20 > 0xffff
                         ? 0xffff : max_frame - h.l2_len - h.l3_len - 20);
    tcp = f + h.l2_len + h.l3_len;
    if (!(tcp[13] & 0x02))          /* SYN (and SYN-ACK) only */
        return 0;
    for (i = 20; i < h.l4_len;) {
        uint8_t kind = tcp[i];
        if (kind == 0)
            break;
        if (kind == 1) {
            i++;
            continue;
        }
        if (i + 1 >= h.l4_len || tcp[i + 1] < 2 || i + tcp[i + 1] > h.l4_len)
            return -EINVAL;
        if (kind == 2 && tcp[i + 1] == 4) {
            uint16_t old = rd16(tcp + i + 2);
            if (old <= mss)
                return 0;
            wr16(tcp + i + 2, mss);
            /* The option starts at an even offset in valid stacks; if not,
             * the word that changed straddles bytes: recompute the sum. */
            if ((i & 1) == 0) {
                wr16(tcp + 16, pd_csum_update16(rd16(tcp + 16), old, mss));
            } else {
                uint32_t l4_len = h.ip_len - h.l3_len;
                uint32_t s = pd_csum_pseudo(f + h.l2_len, h.ip_version, 6, l4_len);
                wr16(tcp + 16, 0);
                wr16(tcp + 16, pd_csum_fold(pd_csum_add(s, tcp, l4_len)));
            }
            return 1;
        }
        i += tcp[i + 1];
    }
    return 0;
}

static int v4_unicast(const uint8_t *a)
{
    return a[0] != 0 && a[0] < 224 && !(a[0] == 127) &&
           !(a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255);
}

static int v6_unicast(const uint8_t *a)
{
    static const uint8_t zero[16];
    return a[0] != 0xff && memcmp(a, zero, 16) != 0;
}

int pd_net_icmp_too_big(const uint8_t *f, uint32_t len, uint32_t mtu, const uint8_t *src4,
                        const uint8_t *src6, uint8_t *out, uint32_t room)
{
    pd_net_hdrs h;
    const uint8_t *ip;
    uint32_t l2, quote, n;
    uint8_t *oip, *icmp;

    if (pd_net_parse(f, len, &h) != 0 || h.ip_version == 0)
        return -EINVAL;
    l2 = h.l2_len;
    ip = f + l2;
    if (h.ip_version == 4) {
        const uint8_t *src = src4 ? src4 : ip + 16;
        if (rd16(ip + 6) & 0x1fff)
            return -EINVAL;          /* only the first fragment is answered */
        if (h.l4_proto == 1 && h.l4_len) {
            uint8_t t = ip[h.l3_len];
            if (t == 3 || t == 4 || t == 5 || t == 11 || t == 12)
                return -EINVAL;      /* never an error about an error (RFC 1122) */
        }
        if (!v4_unicast(ip + 12) || !v4_unicast(src))
            return -EINVAL;
        quote = h.ip_len < 576 - 28 ? h.ip_len : 576 - 28;
        n = l2 + 20 + 8 + quote;
        if (n > room)
            return -ENOSPC;
        memcpy(out, f, l2);
        oip = out + l2;
        memset(oip, 0, 28);
        oip[0] = 0x45;
        oip[1] = 0xc0;               /* precedence "internetwork control", as Linux */
        wr16(oip + 2, (uint16_t)(20 + 8 + quote));
        oip[8] = 64;
        oip[9] = 1;
        memcpy(oip + 12, src, 4);
        memcpy(oip + 16, ip + 12, 4);
        wr16(oip + 10, pd_csum_ipv4_hdr(oip, 20));
        icmp = oip + 20;
        icmp[0] = 3;
        icmp[1] = 4;
        wr16(icmp + 6, (uint16_t)(mtu > 0xffff ? 0xffff : mtu));
        memcpy(icmp + 8, ip, quote);
        wr16(icmp + 2, pd_csum_fold(pd_csum_add(0, icmp, 8 + quote)));
    } else {
        const uint8_t *src = src6 ? src6 : ip + 24;
        if (h.fragment && h.l4_len == 0 && h.l4_proto != 0 && h.l3_len > 40 &&
            (rd16(ip + h.l3_len - 6) & 0xfff8))
            return -EINVAL;
        if (h.l4_proto == 58 && h.l4_len && ip[h.l3_len] < 128)
            return -EINVAL;
        if (!v6_unicast(ip + 8) || !v6_unicast(src))
            return -EINVAL;
        if (mtu < 1280)
            mtu = 1280;              /* IPv6 links carry at least 1280 (RFC 8200) */
        quote = h.ip_len < 1280 - 48 ? h.ip_len : 1280 - 48;
        n = l2 + 40 + 8 + quote;
        if (n > room)
            return -ENOSPC;
        memcpy(out, f, l2);
        oip = out + l2;
        memset(oip, 0, 48);
        oip[0] = 0x60;
        wr16(oip + 4, (uint16_t)(8 + quote));
        oip[6] = 58;
        oip[7] = 64;
        memcpy(oip + 8, src, 16);
        memcpy(oip + 24, ip + 8, 16);
        icmp = oip + 40;
        icmp[0] = 2;
        icmp[4] = (uint8_t)(mtu >> 24);
        icmp[5] = (uint8_t)(mtu >> 16);
        icmp[6] = (uint8_t)(mtu >> 8);
        icmp[7] = (uint8_t)mtu;
        memcpy(icmp + 8, ip, quote);
        wr16(icmp + 2, pd_csum_fold(pd_csum_add(pd_csum_pseudo(oip, 6, 58, 8 + quote),
                                                icmp, 8 + quote)));
    }
    /* Back to the sender: swap the Ethernet addresses. */
    memcpy(out, f + 6, 6);
    memcpy(out + 6, f, 6);
    return (int)n;
}

/* Options of an IPv4 header that go into every fragment (copy flag set,
 * RFC 791); returns their padded length written to `dst`. */
static uint32_t copied_options(const uint8_t *opt, uint32_t len, uint8_t *dst)
{
    uint32_t i = 0, n = 0;

    while (i < len) {
        uint8_t t = opt[i];
        uint32_t ol;
        if (t == 0)
            break;
        if (t == 1) {
            i++;
            continue;
        }
        if (i + 1 >= len || opt[i + 1] < 2 || i + opt[i + 1] > len)
            break;
        ol = opt[i + 1];
        if (t & 0x80) {
            memcpy(dst + n, opt + i, ol);
            n += ol;
        }
        i += ol;
    }
    while (n & 3)
        dst[n++] = 0;
    return n;
}

int pd_net_ipv4_fragment(const uint8_t *f, uint32_t len, uint32_t mtu, uint8_t *const *out,
                         uint32_t room, uint32_t *out_len, uint32_t nout)
{
    pd_net_hdrs h;
    const uint8_t *ip;
    uint8_t later_opts[40];
    uint32_t l2, ihl, later_ihl, data, off = 0, i = 0;
    uint16_t fo0, mf0;

    if (pd_net_parse(f, len, &h) != 0 || h.ip_version != 4 || h.df)
        return -EINVAL;
    l2 = h.l2_len;
    ip = f + l2;
    ihl = h.l3_len;
    later_ihl = 20 + copied_options(ip + 20, ihl - 20, later_opts);
    data = h.ip_len - ihl;
    fo0 = rd16(ip + 6) & 0x1fff;
    mf0 = rd16(ip + 6) & 0x2000;
    if (mtu < 68 || (mtu - ihl) < 8 || (mtu - later_ihl) < 8)
        return -EINVAL;
    while (off < data || (data == 0 && i == 0)) {
        uint32_t hl = i == 0 ? ihl : later_ihl;
        uint32_t max = (mtu - hl) & ~7u;
        uint32_t chunk = data - off <= mtu - hl ? data - off : max;
        int last = off + chunk >= data;
        uint8_t *o, *oip;

        if (i >= nout)
            return -ENOSPC;
        if (l2 + hl + chunk > room)
            return -ENOSPC;
        o = out[i];
        oip = o + l2;
        memcpy(o, f, l2);
        memcpy(oip, ip, 20);
        if (i == 0)
            memcpy(oip + 20, ip + 20, ihl - 20);
        else
            memcpy(oip + 20, later_opts, later_ihl - 20);
        oip[0] = (uint8_t)(0x40 | (hl / 4));
        wr16(oip + 2, (uint16_t)(hl + chunk));
        wr16(oip + 6, (uint16_t)((rd16(ip + 6) & 0x8000) | (last ? mf0 : 0x2000) |
                                 (fo0 + off / 8)));
        memcpy(oip + hl, ip + ihl + off, chunk);
        wr16(oip + 10, 0);
        wr16(oip + 10, pd_csum_ipv4_hdr(oip, hl));
        out_len[i] = l2 + hl + chunk;
        off += chunk;
        i++;
        if (data == 0)
            break;
    }
    return (int)i;
}

#ifdef __linux__
static uint32_t feature_bit(const char *name)
{
    static const struct { const char *name; uint32_t bit; } map[] = {
        {"tx-tcp-segmentation", PD_NET_OFF_TSO},
        {"tx-tcp6-segmentation", PD_NET_OFF_TSO6},
        {"tx-generic-segmentation", PD_NET_OFF_GSO},
        {"rx-gro", PD_NET_OFF_GRO},
        {"rx-lro", PD_NET_OFF_LRO},
        {"tx-checksum-ipv4", PD_NET_OFF_TXCSUM},
        {"tx-checksum-ipv6", PD_NET_OFF_TXCSUM},
        {"tx-checksum-ip-generic", PD_NET_OFF_TXCSUM},
        {"rx-checksum", PD_NET_OFF_RXCSUM},
        {"tx-udp-segmentation", PD_NET_OFF_USO},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(name, map[i].name) == 0)
            return map[i].bit;
    return 0;
}

int pd_net_ifinfo_get(const char *ifname, pd_net_ifinfo *out)
{
    struct ifreq ifr;
    struct {
        struct ethtool_sset_info hdr;
        uint32_t buf[1];
    } sset;
    struct ethtool_gstrings *names = NULL;
    struct ethtool_gfeatures *feats = NULL;
    uint32_t count, blocks;
    int fd, rc = 0;

    if (!ifname || !out || strlen(ifname) >= IFNAMSIZ)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, ifname, strlen(ifname));
    if (ioctl(fd, SIOCGIFMTU, &ifr) < 0) {
        rc = errno == ENXIO ? -ENODEV : -errno;
        goto out;
    }
    out->mtu = ifr.ifr_mtu;

    memset(&sset, 0, sizeof(sset));
    sset.hdr.cmd = ETHTOOL_GSSET_INFO;
    sset.hdr.sset_mask = 1ull << ETH_SS_FEATURES;
    ifr.ifr_data = (void *)&sset;
    if (ioctl(fd, SIOCETHTOOL, &ifr) < 0 || !(sset.hdr.sset_mask & (1ull << ETH_SS_FEATURES)))
        goto out;          /* no ethtool support: MTU only (known stays 0) */
    count = sset.hdr.data[0];
    blocks = (count + 31) / 32;
    names = calloc(1, sizeof(*names) + (size_t)count * ETH_GSTRING_LEN);
    feats = calloc(1, sizeof(*feats) + (size_t)blocks * sizeof(feats->features[0]));
    if (!names || !feats) {
        rc = -ENOMEM;
        goto out;
    }
    names->cmd = ETHTOOL_GSTRINGS;
    names->string_set = ETH_SS_FEATURES;
    names->len = count;
    ifr.ifr_data = (void *)names;
    if (ioctl(fd, SIOCETHTOOL, &ifr) < 0)
        goto out;
    feats->cmd = ETHTOOL_GFEATURES;
    feats->size = blocks;
    ifr.ifr_data = (void *)feats;
    if (ioctl(fd, SIOCETHTOOL, &ifr) < 0)
        goto out;
    for (uint32_t i = 0; i < count; i++) {
        char name[ETH_GSTRING_LEN + 1];
        uint32_t bit;
        memcpy(name, names->data + (size_t)i * ETH_GSTRING_LEN, ETH_GSTRING_LEN);
        name[ETH_GSTRING_LEN] = 0;
        bit = feature_bit(name);
        if (!bit)
            continue;
        out->known |= bit;
        if (feats->features[i / 32].active & (1u << (i % 32)))
            out->offloads |= bit;
    }
out:
    free(names);
    free(feats);
    close(fd);
    return rc;
}
#else
int pd_net_ifinfo_get(const char *ifname, pd_net_ifinfo *out)
{
    (void)ifname;
    (void)out;
    return -EOPNOTSUPP;
}
#endif
