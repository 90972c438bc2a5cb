/* C unit tests of native/net: checksums, parsing, GSO segmentation, MSS
 * clamping, ICMP too big, IPv4 fragmentation, interface query. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "pd_check.h"

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Reference sum: one 16-bit big-endian word at a time (RFC 1071 as written). */
static uint32_t ref_sum(const uint8_t *p, size_t len)
{
    uint64_t s = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        s += (uint32_t)p[i] << 8 | p[i + 1];
    if (len & 1)
        s += (uint32_t)p[len - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint32_t)s;
}

static void test_checksums(void)
{
    /* RFC 1071 section 3 example: words 0001 f203 f4f5 f6f7 sum to ddf2. */
    static const uint8_t ex[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    uint8_t buf[1501];
    CHECK(pd_csum_fold(pd_csum_add(0, ex, sizeof(ex))) == (uint16_t)~0xddf2);
    srand(7);
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)rand();
    for (size_t len = 0; len <= sizeof(buf); len += 37) {
        uint16_t a = pd_csum_fold(pd_csum_add(0, buf, len));
        uint16_t b = pd_csum_fold(ref_sum(buf, len));
        CHECK(a == b);
        /* summing in two even chunks is the same */
        if (len >= 10)
            CHECK(pd_csum_fold(pd_csum_add(pd_csum_add(0, buf, 10), buf + 10, len - 10)) == a);
    }
    /* incremental update equals recomputation (RFC 1624) */
    {
        uint8_t w[20];
        memcpy(w, buf, 20);
        wr16(w + 10, 0);
        uint16_t c = pd_csum_fold(pd_csum_add(0, w, 20));
        uint16_t old = rd16(w + 4);
        wr16(w + 4, 0x1234);
        uint16_t upd = pd_csum_update16(c, old, 0x1234);
        CHECK(upd == pd_csum_fold(pd_csum_add(0, w, 20)));
    }
}

static const uint8_t MAC_A[6] = {2, 0, 0, 0, 0, 0xa};
static const uint8_t MAC_B[6] = {2, 0, 0, 0, 0, 0xb};

/* Ethernet + IPv4 or IPv6 + TCP(20 + opt bytes) + payload of `pl` bytes. */
static uint32_t build_tcp(uint8_t *f, int v6, uint32_t pl, uint8_t flags, uint32_t opt)
{
    uint32_t l2 = 14, l3 = v6 ? 40 : 20, th = 20 + opt, ip_len = l3 + th + pl;
    uint8_t *ip = f + l2, *t = ip + l3;

    memset(f, 0, l2 + ip_len);
    memcpy(f, MAC_B, 6);
    memcpy(f + 6, MAC_A, 6);
    wr16(f + 12, v6 ? 0x86dd : 0x0800);
    if (v6) {
        ip[0] = 0x60;
        wr16(ip + 4, (uint16_t)(th + pl));
        ip[6] = 6;
        ip[7] = 64;
        ip[8] = 0xfd; ip[23] = 1;
        ip[24] = 0xfd; ip[39] = 2;
    } else {
        ip[0] = 0x45;
        wr16(ip + 2, (uint16_t)ip_len);
        wr16(ip + 4, 0x1000);
        wr16(ip + 6, 0x4000);
        ip[8] = 64;
        ip[9] = 6;
        ip[12] = 10; ip[15] = 1;
        ip[16] = 10; ip[19] = 2;
        wr16(ip + 10, pd_csum_ipv4_hdr(ip, 20));
    }
    wr16(t, 40000);
    wr16(t + 2, 80);
    wr32(t + 4, 0xfffff000u);     /* wraps during the stream */
    wr32(t + 8, 77);
    t[12] = (uint8_t)((th / 4) << 4);
    t[13] = flags;
    wr16(t + 14, 65000);
    for (uint32_t i = 0; i < opt; i++)
        t[20 + i] = 1;            /* NOPs */
    for (uint32_t i = 0; i < pl; i++)
        t[th + i] = (uint8_t)(i * 7 + 3);
    /* a partial checksum, as the kernel leaves it: must be ignored */
    wr16(t + 16, 0xbeef);
    return l2 + ip_len;
}

static int l4_valid(const uint8_t *f, uint32_t len)
{
    pd_net_hdrs h;
    if (pd_net_parse(f, len, &h) != 0)
        return 0;
    uint32_t l4_len = h.ip_len - h.l3_len;
    uint32_t s = pd_csum_pseudo(f + h.l2_len, h.ip_version, h.l4_proto, l4_len);
    return pd_csum_fold(pd_csum_add(s, f + h.l2_len + h.l3_len, l4_len)) == 0;
}

static void test_tcp_gso(int v6)
{
    static uint8_t f[70000], seg[64][2048];
    uint8_t *out[64];
    uint32_t out_len[64], pl = 4 * 1448 + 100, mss = 1448;
    uint32_t len = build_tcp(f, v6, pl, 0x80 | 0x10 | 0x08 | 0x01, 12);
    pd_vnet_hdr v = {PD_VNET_F_NEEDS_CSUM, (uint8_t)(v6 ? PD_GSO_TCPV6 : PD_GSO_TCPV4) | PD_GSO_ECN,
                     0, (uint16_t)mss, 0, 0};
    uint32_t hdr = 14 + (v6 ? 40u : 20u) + 32;
    int n;

    for (int i = 0; i < 64; i++)
        out[i] = seg[i];
    CHECK(pd_net_gso_count(f, len, &v) == 5);
    CHECK(pd_net_gso_segment(f, len, &v, out, 2048, out_len, 4, 0) == -ENOSPC);
    CHECK(pd_net_gso_segment(f, len, &v, out, 1000, out_len, 64, 0) == -ENOSPC);
    n = pd_net_gso_segment(f, len, &v, out, 2048, out_len, 64, 0);
    CHECK(n == 5);
    for (int i = 0; i < n; i++) {
        uint8_t *o = out[i], *ip = o + 14, *t = ip + (v6 ? 40 : 20);
        uint32_t chunk = i < 4 ? mss : 100;
        CHECK(out_len[i] == hdr + chunk);
        CHECK(rd32(t + 4) == 0xfffff000u + (uint32_t)i * mss);
        CHECK(memcmp(o + hdr, f + hdr + (size_t)i * mss, chunk) == 0);
        CHECK(memcmp(t + 20, f + 14 + (v6 ? 40 : 20) + 20, 12) == 0);  /* options */
        /* CWR only on the first, FIN/PSH only on the last, ACK on all */
        CHECK(((t[13] & 0x80) != 0) == (i == 0));
        CHECK(((t[13] & 0x09) != 0) == (i == n - 1));
        CHECK(t[13] & 0x10);
        CHECK(l4_valid(o, out_len[i]));
        if (v6) {
            CHECK(rd16(ip + 4) == 32 + chunk);
        } else {
            CHECK(rd16(ip + 2) == 20 + 32 + chunk);
            CHECK(rd16(ip + 4) == 0x1000 + i);
            CHECK(pd_csum_ipv4_hdr(ip, 20) == 0);
        }
    }
    /* wrong type for the headers */
    v.gso_type = v6 ? PD_GSO_TCPV4 : PD_GSO_TCPV6;
    CHECK(pd_net_gso_count(f, len, &v) == -EINVAL);
    v.gso_type = 9;
    CHECK(pd_net_gso_count(f, len, &v) == -EPROTONOSUPPORT);
    /* truncated TCP header */
    v.gso_type = v6 ? PD_GSO_TCPV6 : PD_GSO_TCPV4;
    CHECK(pd_net_gso_count(f, 14 + (v6 ? 40 : 20) + 10, &v) == -EINVAL);
}

static uint32_t build_udp4(uint8_t *f, uint32_t pl)
{
    uint8_t *ip = f + 14, *u = ip + 20;
    memset(f, 0, 14 + 28 + pl);
    memcpy(f, MAC_B, 6);
    memcpy(f + 6, MAC_A, 6);
    wr16(f + 12, 0x0800);
    ip[0] = 0x45;
    wr16(ip + 2, (uint16_t)(28 + pl));
    wr16(ip + 4, 0x2222);
    wr16(ip + 6, 0x4000);
    ip[8] = 64;
    ip[9] = 17;
    ip[12] = 10; ip[15] = 1;
    ip[16] = 10; ip[19] = 2;
    wr16(ip + 10, pd_csum_ipv4_hdr(ip, 20));
    wr16(u, 5000);
    wr16(u + 2, 6000);
    wr16(u + 4, (uint16_t)(8 + pl));
    for (uint32_t i = 0; i < pl; i++)
        u[8 + i] = (uint8_t)(i * 13 + 1);
    return 14 + 28 + pl;
}

static void test_udp_gso(void)
{
    static uint8_t f[70000], seg[64][2048], re[70000];
    uint8_t *out[64];
    uint32_t out_len[64];
    uint32_t len = build_udp4(f, 3000);
    pd_vnet_hdr v = {PD_VNET_F_NEEDS_CSUM, PD_GSO_UDP_L4, 0, 1200, 0, 0};
    int n;

    for (int i = 0; i < 64; i++)
        out[i] = seg[i];
    /* USO: three datagrams of 1200, 1200, 600 bytes */
    n = pd_net_gso_segment(f, len, &v, out, 2048, out_len, 64, 0);
    CHECK(n == 3);
    for (int i = 0; i < n; i++) {
        uint32_t chunk = i < 2 ? 1200 : 600;
        CHECK(out_len[i] == 42 + chunk);
        CHECK(rd16(out[i] + 38) == 8 + chunk);
        CHECK(rd16(out[i] + 16) == 28 + chunk);
        CHECK(memcmp(out[i] + 42, f + 42 + i * 1200, chunk) == 0);
        CHECK(l4_valid(out[i], out_len[i]));
    }
    /* UFO: IP fragments of one datagram; reassembled it is the original */
    v.gso_type = PD_GSO_UDP;
    v.gso_size = 1480;
    n = pd_net_gso_segment(f, len, &v, out, 2048, out_len, 64, 0);
    CHECK(n == 3);
    {
        uint32_t total = 0;
        for (int i = 0; i < n; i++) {
            uint8_t *ip = out[i] + 14;
            uint16_t fo = rd16(ip + 6);
            CHECK(rd16(ip + 4) == 0x2222);             /* one id for all */
            CHECK(((fo & 0x2000) != 0) == (i < n - 1));
            CHECK(pd_csum_ipv4_hdr(ip, 20) == 0);
            memcpy(re + (fo & 0x1fff) * 8, ip + 20, rd16(ip + 2) - 20u);
            total += rd16(ip + 2) - 20u;
            if (i < n - 1)
                CHECK((rd16(ip + 2) - 20) % 8 == 0);
        }
        CHECK(total == 3008);
        /* checksum of the reassembled datagram is valid */
        uint32_t s = pd_csum_pseudo(f + 14, 4, 17, 3008);
        CHECK(pd_csum_fold(pd_csum_add(s, re, 3008)) == 0);
        CHECK(memcmp(re + 8, f + 42, 3000) == 0);
    }
}

/* UFO over IPv6: fragment headers inserted, one identification, offsets in
 * 8-byte units, the reassembled datagram is the original with a valid sum. */
static void test_ufo_ipv6(void)
{
    static uint8_t f[8192], seg[8][2048], re[8192];
    uint8_t *out[8];
    uint32_t out_len[8], pl = 3000, total = 0;
    uint8_t *ip = f + 14, *u = ip + 40;
    pd_vnet_hdr v = {PD_VNET_F_NEEDS_CSUM, PD_GSO_UDP, 0, 1448, 0, 0};
    int n;

    for (int i = 0; i < 8; i++)
        out[i] = seg[i];
    memset(f, 0, 14 + 48 + pl);
    wr16(f + 12, 0x86dd);
    ip[0] = 0x60;
    wr16(ip + 4, (uint16_t)(8 + pl));
    ip[6] = 17;
    ip[7] = 64;
    ip[8] = 0xfd; ip[23] = 1;
    ip[24] = 0xfd; ip[39] = 2;
    wr16(u, 5000);
    wr16(u + 2, 6000);
    wr16(u + 4, (uint16_t)(8 + pl));
    for (uint32_t i = 0; i < pl; i++)
        u[8 + i] = (uint8_t)(i * 5);
    n = pd_net_gso_segment(f, 14 + 48 + pl, &v, out, 2048, out_len, 8, 0xabcdef);
    CHECK(n == 3);
    for (int i = 0; i < n; i++) {
        uint8_t *o = out[i] + 14, *fh = o + 40;
        uint16_t off = rd16(fh + 2);
        CHECK(o[6] == 44 && fh[0] == 17);
        CHECK(rd32(fh + 4) == 0xabcdef);
        CHECK(((off & 1) != 0) == (i < n - 1));
        CHECK(out_len[i] == 14 + 40u + rd16(o + 4));
        memcpy(re + (off & 0xfff8), fh + 8, rd16(o + 4) - 8u);
        total += rd16(o + 4) - 8u;
    }
    CHECK(total == 8 + pl);
    {
        uint32_t s = pd_csum_pseudo(ip, 6, 17, 8 + pl);
        CHECK(pd_csum_fold(pd_csum_add(s, re, 8 + pl)) == 0);
        CHECK(memcmp(re + 8, u + 8, pl) == 0);
    }
}

static void test_mss_clamp(void)
{
    static uint8_t f[2048];
    for (int v6 = 0; v6 < 2; v6++) {
        uint32_t len = build_tcp(f, v6, 0, 0x02, 4);
        uint8_t *t = f + 14 + (v6 ? 40 : 20);
        t[20] = 2; t[21] = 4; wr16(t + 22, 1460);
        CHECK(pd_net_fill_l4_csum(f, len) == 0);
        CHECK(l4_valid(f, len));
        CHECK(pd_net_clamp_mss(f, len, 1454) == 1);
        CHECK(rd16(t + 22) == (v6 ? 1380 : 1400));
        CHECK(l4_valid(f, len));
        CHECK(pd_net_clamp_mss(f, len, 1494) == 0);   /* already smaller */
        CHECK(rd16(t + 22) == (v6 ? 1380 : 1400));
        t[13] = 0x12;                                 /* SYN-ACK too */
        pd_net_fill_l4_csum(f, len);
        CHECK(pd_net_clamp_mss(f, len, 1354) == 1);
        CHECK(l4_valid(f, len));
        t[13] = 0x10;                                 /* not a SYN */
        CHECK(pd_net_clamp_mss(f, len, 1000) == 0);
    }
}

static void test_icmp_too_big(void)
{
    static uint8_t f[2048], o[2048];
    for (int v6 = 0; v6 < 2; v6++) {
        uint32_t len = build_tcp(f, v6, 1400, 0x10, 0);
        pd_net_fill_l4_csum(f, len);
        int n = pd_net_icmp_too_big(f, len, 1400, NULL, NULL, o, sizeof(o));
        CHECK(n > 0);
        CHECK(memcmp(o, MAC_A, 6) == 0 && memcmp(o + 6, MAC_B, 6) == 0);
        if (!v6) {
            CHECK(n == 14 + 576);
            CHECK(o[14 + 9] == 1 && o[34] == 3 && o[35] == 4);
            CHECK(rd16(o + 34 + 6) == 1400);
            CHECK(pd_csum_ipv4_hdr(o + 14, 20) == 0);
            CHECK(memcmp(o + 14 + 12, f + 14 + 16, 4) == 0);  /* from the destination */
            CHECK(memcmp(o + 14 + 16, f + 14 + 12, 4) == 0);  /* to the sender */
            CHECK(pd_csum_fold(pd_csum_add(0, o + 34, (size_t)n - 34)) == 0);
            CHECK(memcmp(o + 42, f + 14, 548) == 0);
        } else {
            CHECK(n == 14 + 1280);
            CHECK(o[14 + 6] == 58 && o[54] == 2);
            CHECK(rd32(o + 54 + 4) == 1400);
            CHECK(l4_valid(o, (uint32_t)n));
        }
        /* a configured source */
        {
            uint8_t s4[4] = {192, 0, 2, 1}, s6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 9};
            n = pd_net_icmp_too_big(f, len, 1400, s4, s6, o, sizeof(o));
            CHECK(n > 0);
            CHECK(memcmp(o + 14 + (v6 ? 8 : 12), v6 ? s6 : s4, v6 ? 16 : 4) == 0);
        }
        CHECK(pd_net_icmp_too_big(f, len, 1400, NULL, NULL, o, 100) == -ENOSPC);
    }
    /* never about an ICMP error */
    {
        uint32_t len = build_udp4(f, 100);
        f[14 + 9] = 1;
        f[34] = 3;
        CHECK(pd_net_icmp_too_big(f, len, 1400, NULL, NULL, o, sizeof(o)) == -EINVAL);
    }
}

static void test_fragment(void)
{
    static uint8_t f[4096], seg[8][2048], re[4096];
    uint8_t *out[8];
    uint32_t out_len[8], len = build_udp4(f, 2000), total = 0;
    int n;
    for (int i = 0; i < 8; i++)
        out[i] = seg[i];
    CHECK(pd_net_ipv4_fragment(f, len, 1400, out, 2048, out_len, 8) == -EINVAL); /* DF */
    wr16(f + 14 + 6, 0);
    wr16(f + 14 + 10, 0);
    wr16(f + 14 + 10, pd_csum_ipv4_hdr(f + 14, 20));
    n = pd_net_ipv4_fragment(f, len, 1400, out, 2048, out_len, 8);
    CHECK(n == 2);
    for (int i = 0; i < n; i++) {
        uint8_t *ip = out[i] + 14;
        CHECK(rd16(ip + 2) <= 1400);
        CHECK(pd_csum_ipv4_hdr(ip, 20) == 0);
        memcpy(re + (rd16(ip + 6) & 0x1fff) * 8, ip + 20, rd16(ip + 2) - 20u);
        total += rd16(ip + 2) - 20u;
    }
    CHECK(total == 2008);
    CHECK(memcmp(re, f + 34, 2008) == 0);
}

static void test_parse(void)
{
    static uint8_t f[256];
    pd_net_hdrs h;
    uint32_t len = build_tcp(f, 0, 10, 0x10, 0);
    CHECK(pd_net_parse(f, len, &h) == 0);
    CHECK(h.ip_version == 4 && h.l4_proto == 6 && h.l2_len == 14 && h.l4_len == 20 && h.df);
    CHECK(pd_net_parse(f, 30, &h) == -EINVAL);
    wr16(f + 12, 0x88b5);
    CHECK(pd_net_parse(f, len, &h) == 0 && h.ip_version == 0);
}

static void test_ifinfo(void)
{
    pd_net_ifinfo info;
    CHECK(pd_net_ifinfo_get("lo", &info) == 0);
    CHECK(info.mtu > 0);
    CHECK(pd_net_ifinfo_get("no-such-if0", &info) == -ENODEV);
}

/* Random super-frames: the segments put back together are the original
 * payload, every checksum verifies, no segment exceeds its budget. */
static void test_gso_random(void)
{
    static uint8_t f[70000], seg[128][2048], re[70000];
    uint8_t *out[128];
    uint32_t out_len[128];

    for (int i = 0; i < 128; i++)
        out[i] = seg[i];
    srand(99);
    for (int iter = 0; iter < 300; iter++) {
        int kind = iter % 3;                   /* TCPv4, TCPv6, USO over IPv4 */
        uint32_t mss = 200 + (uint32_t)rand() % 1300;
        uint32_t pl = 1 + (uint32_t)rand() % 60000, len, hdr;
        pd_vnet_hdr v = {PD_VNET_F_NEEDS_CSUM, 0, 0, (uint16_t)mss, 0, 0};
        int n;
        if (kind == 2) {
            len = build_udp4(f, pl);
            v.gso_type = PD_GSO_UDP_L4;
            hdr = 42;
        } else {
            len = build_tcp(f, kind, pl, 0x18, (uint32_t)(rand() % 3) * 4);
            v.gso_type = kind ? PD_GSO_TCPV6 : PD_GSO_TCPV4;
            hdr = len - pl;
        }
        n = pd_net_gso_segment(f, len, &v, out, 2048, out_len, 128, 0);
        if ((pl + mss - 1) / mss > 128) {
            CHECK(n == -ENOSPC);
            continue;
        }
        CHECK(n == (int)((pl + mss - 1) / mss));
        uint32_t total = 0;
        for (int i = 0; i < n; i++) {
            CHECK(out_len[i] <= hdr + mss);
            CHECK(l4_valid(out[i], out_len[i]));
            memcpy(re + total, out[i] + hdr, out_len[i] - hdr);
            total += out_len[i] - hdr;
        }
        CHECK(total == pl);
        CHECK(memcmp(re, f + hdr, pl) == 0);
    }
}

/* Random bytes and cut frames: parsers refuse or cope, never read past. */
static void test_garbage(void)
{
    static uint8_t f[2048], o[2048], seg[4][2048];
    uint8_t *out[4] = {seg[0], seg[1], seg[2], seg[3]};
    uint32_t out_len[4];
    pd_net_hdrs h;

    srand(5);
    for (int iter = 0; iter < 20000; iter++) {
        uint32_t len = (uint32_t)rand() % 200;
        uint8_t *g;
        if (iter % 2)
            len = build_tcp(f, iter % 4 == 1, 30, 0x12, 8) - (uint32_t)rand() % 40;
        g = malloc(len ? len : 1);                /* exact size: ASan sees overreads */
        for (uint32_t i = 0; i < len; i++)
            g[i] = iter % 2 ? f[i] : (uint8_t)rand();
        if (iter % 5 == 0 && len > 14) {
            g[12] = (iter % 10) ? 0x08 : 0x86;
            g[13] = (iter % 10) ? 0x00 : 0xdd;
        }
        pd_vnet_hdr v = {0, PD_GSO_TCPV4, 0, 100, 0, 0};
        (void)pd_net_parse(g, len, &h);
        (void)pd_net_gso_segment(g, len, &v, out, 2048, out_len, 4, 0);
        (void)pd_net_clamp_mss(g, len, 1400);
        (void)pd_net_icmp_too_big(g, len, 1400, NULL, NULL, o, sizeof(o));
        (void)pd_net_ipv4_fragment(g, len, 100, out, 2048, out_len, 4);
        (void)pd_net_fill_l4_csum(g, len);
        (void)pd_net_csum_partial_complete(g, len, (uint32_t)rand() % 300, (uint32_t)rand() % 40);
        free(g);
    }
}

/* The inline per-packet helpers (L3 offset, IP version, TOS, IPv4/UDP
 * payload) that the gateway, UDP port, generator and secure stages share. */
static void test_fast_header_helpers(void)
{
    static uint8_t f[128];
    uint32_t l3 = 99, off = 0, plen = 0, ihl = 0;
    uint16_t et = 0;

    memset(f, 0, sizeof(f));
    CHECK(pd_net_l3_off(f, 13, &et) == 0);
    CHECK(pd_net_tos(f, 13) == -1);
    /* untagged IPv4 / UDP to port 4790, 12 bytes of payload, TOS 0xb9 */
    wr16(f + 12, 0x0800);
    f[14] = 0x45;
    f[15] = 0xb9;
    wr16(f + 16, 20 + 8 + 12);
    f[23] = 17;
    wr16(f + 34 + 2, 4790);
    wr16(f + 34 + 4, 8 + 12);
    CHECK(pd_net_l3_off(f, 60, &et) == 14 && et == 0x0800);
    CHECK(pd_net_ip_at(f, 60, &l3) == 4 && l3 == 14);
    CHECK(pd_net_ip_at(f, 33, &l3) == 0);                 /* shorter than its header */
    CHECK(pd_net_tos(f, 60) == 0xb9);
    CHECK(pd_net_udp4_payload(f, 60, 14, 4790, &off, &plen, &ihl) == 0);
    CHECK(off == 42 && plen == 12 && ihl == 20);
    CHECK(pd_net_udp4_payload(f, 60, 14, 0, &off, &plen, NULL) == 0);   /* any port */
    CHECK(pd_net_udp4_payload(f, 60, 14, 4791, &off, &plen, NULL) == -1);
    CHECK(pd_net_udp4_payload(f, 53, 14, 4790, &off, &plen, NULL) == -1); /* truncated */
    wr16(f + 20, 0x2000);                                   /* MF: a fragment */
    CHECK(pd_net_udp4_payload(f, 60, 14, 4790, &off, &plen, NULL) == -1);
    wr16(f + 20, 0x4000);                                   /* DF is fine */
    CHECK(pd_net_udp4_payload(f, 60, 14, 4790, &off, &plen, NULL) == 0);
    wr16(f + 34 + 4, 8 + 13);                               /* UDP longer than IP */
    CHECK(pd_net_udp4_payload(f, 60, 14, 4790, &off, &plen, NULL) == -1);
    f[23] = 6;                                              /* TCP */
    CHECK(pd_net_udp4_payload(f, 60, 14, 0, &off, &plen, NULL) == -1);

    /* one 802.1Q tag before IPv6 with traffic class 0xb9 */
    memset(f, 0, sizeof(f));
    wr16(f + 12, 0x8100);
    wr16(f + 16, 0x86dd);
    f[18] = 0x6b;
    f[19] = 0x90;
    CHECK(pd_net_l3_off(f, 17, &et) == 14 && et == 0x8100);  /* tag cut short */
    CHECK(pd_net_l3_off(f, 80, &et) == 18 && et == 0x86dd);
    CHECK(pd_net_ip_at(f, 58, &l3) == 6 && l3 == 18);
    CHECK(pd_net_ip_at(f, 57, &l3) == 0);
    CHECK(pd_net_tos(f, 80) == 0xb9);
    f[18] = 0x4b;                                           /* version nibble wrong */
    CHECK(pd_net_tos(f, 80) == -1);
    wr16(f + 16, 0x88b5);                                   /* not IP */
    CHECK(pd_net_tos(f, 80) == -1);

    uint8_t w[2];
    pd_net_wr16(w, 0xabcd);
    CHECK(w[0] == 0xab && w[1] == 0xcd && pd_net_rd16(w) == 0xabcd);
}

int main(void)
{
    test_checksums();
    test_parse();
    test_fast_header_helpers();
    test_tcp_gso(0);
    test_tcp_gso(1);
    test_udp_gso();
    test_ufo_ipv6();
    test_mss_clamp();
    test_icmp_too_big();
    test_fragment();
    test_ifinfo();
    test_gso_random();
    test_garbage();
    return pd_check_result();
}
