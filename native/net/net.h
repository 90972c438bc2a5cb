/* Packet header helpers shared by every C module: Internet checksums
 * (RFC 1071, incremental update RFC 1624), Ethernet/VLAN/IPv4/IPv6/TCP/UDP
 * parsing, segmentation of GSO/GRO super-frames as the kernel describes them
 * in a virtio_net_hdr (PACKET_VNET_HDR), TCP MSS clamping, ICMP "too big"
 * replies, and the interface MTU/offload query (SIOCETHTOOL).
 *
 * Plain C, no allocation except where stated; functions return 0 (or a
 * count) or a negative errno and never print.
 */
#ifndef PD_NET_H
#define PD_NET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- checksums ------------------------------------------------------------ */

/* Add `len` bytes to a ones'-complement accumulator.  The accumulator holds
 * the sum of big-endian 16-bit words (as RFC 1071 writes it); an odd final
 * byte counts as its high byte, so only the last chunk of a sum may be odd. */
uint32_t pd_csum_add(uint32_t sum, const void *data, size_t len);
/* Fold to 16 bits and complement: the value to store (host order). */
uint16_t pd_csum_fold(uint32_t sum);
/* Checksum of an IPv4 header of `ihl` bytes (its checksum field included:
 * 0 when the header is valid, else set the field to 0 first). */
uint16_t pd_csum_ipv4_hdr(const uint8_t *ip, uint32_t ihl);
/* Incremental update of a stored checksum when a 16-bit word changes from
 * `old` to `new` (RFC 1624 eqn. 3).  Host-order values. */
uint16_t pd_csum_update16(uint16_t check, uint16_t old, uint16_t new_);
/* Pseudo-header sum for TCP/UDP over IPv4 (ip: start of the IPv4 header) or
 * IPv6 (ip: start of the IPv6 header), for `l4_len` bytes of protocol
 * `proto`. */
uint32_t pd_csum_pseudo(const uint8_t *ip, int version, uint8_t proto, uint32_t l4_len);

/* ---- parsing ---------------------------------------------------------------- */

/* Per-packet header access for the hot paths (inline: the gateway, UDP port,
 * generator and secure stages call these on every packet).  Big-endian
 * 16-bit reads and writes at any alignment. */
static inline uint16_t pd_net_rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void pd_net_wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

#define PD_ETH_P_IPV4 0x0800u
#define PD_ETH_P_IPV6 0x86ddu
#define PD_ETH_P_8021Q 0x8100u

/* Where L3 starts in an Ethernet frame (14, or 18 after one 802.1Q tag) and
 * the ethertype there (*et); 0 when the frame is shorter than 14 bytes.  A
 * tag in a frame too short for it is left as the ethertype (0x8100). */
static inline uint32_t pd_net_l3_off(const uint8_t *f, uint32_t len, uint16_t *et)
{
    if (len < 14)
        return 0;
    *et = pd_net_rd16(f + 12);
    if (*et == PD_ETH_P_8021Q && len >= 18) {
        *et = pd_net_rd16(f + 16);
        return 18;
    }
    return 14;
}

/* IP version of an Ethernet frame's packet (one 802.1Q tag at most): 4 or 6
 * with its start in *l3, or 0 (not IP, or shorter than the fixed IP
 * header).  Lighter than pd_net_parse: no length or L4 checks. */
static inline int pd_net_ip_at(const uint8_t *f, uint32_t len, uint32_t *l3)
{
    uint16_t et = 0;
    uint32_t o = pd_net_l3_off(f, len, &et);

    if (o == 0)
        return 0;
    *l3 = o;
    if (et == PD_ETH_P_IPV4 && len >= o + 20 && (f[o] >> 4) == 4)
        return 4;
    if (et == PD_ETH_P_IPV6 && len >= o + 40 && (f[o] >> 4) == 6)
        return 6;
    return 0;
}

/* The TOS byte (IPv4) or traffic class (IPv6) of a frame's IP packet
 * (DSCP << 2 | ECN, RFC 2474/3168), or -1 when it is not IP. */
static inline int pd_net_tos(const uint8_t *f, uint32_t len)
{
    uint32_t l3 = 0;

    switch (pd_net_ip_at(f, len, &l3)) {
    case 4:
        return f[l3 + 1];
    case 6:
        return (f[l3] & 0x0f) << 4 | f[l3 + 1] >> 4;
    default:
        return -1;
    }
}

/* The payload of an unfragmented IPv4/UDP datagram whose IPv4 header starts
 * at `l3`, sent to `dst_port` (0: any port): 0 with its offset and length
 * (*ihl: the IPv4 header length, may be NULL), or -1 when it is not
 * IPv4/UDP, is a fragment, or its lengths disagree with each other or the
 * frame.  Ethernet padding after the datagram is ignored. */
static inline int pd_net_udp4_payload(const uint8_t *f, uint32_t len, uint32_t l3,
                                      uint16_t dst_port, uint32_t *off, uint32_t *plen,
                                      uint32_t *ihl_out)
{
    uint32_t ihl, ip_len, udp_len;

    if (len < l3 + 20 || (f[l3] >> 4) != 4 || f[l3 + 9] != 17)
        return -1;
    ihl = (f[l3] & 0xfu) * 4u;
    ip_len = pd_net_rd16(f + l3 + 2);
    if (ihl < 20 || (pd_net_rd16(f + l3 + 6) & 0x3fff) != 0 || ip_len < ihl + 8 ||
        l3 + ip_len > len)
        return -1;
    if (dst_port != 0 && pd_net_rd16(f + l3 + ihl + 2) != dst_port)
        return -1;
    udp_len = pd_net_rd16(f + l3 + ihl + 4);
    if (udp_len < 8 || udp_len > ip_len - ihl)
        return -1;
    *off = l3 + ihl + 8;
    *plen = udp_len - 8;
    if (ihl_out != NULL)
        *ihl_out = ihl;
    return 0;
}

typedef struct pd_net_hdrs {
    uint32_t l2_len;      /* Ethernet + VLAN tags */
    uint16_t ethertype;   /* after the tags */
    uint8_t ip_version;   /* 4, 6, or 0 (not IP) */
    uint8_t l4_proto;     /* IPPROTO_* after IPv6 extension headers; 0 unknown */
    uint32_t l3_len;      /* IPv4 header, or IPv6 header + extension headers */
    uint32_t ip_len;      /* IP datagram length from its header (<= frame) */
    uint32_t l4_len;      /* TCP header with options, UDP 8, ICMP 8; 0 unknown */
    uint8_t fragment;     /* IPv4 MF/offset set or an IPv6 fragment header */
    uint8_t df;           /* IPv4 DF bit */
} pd_net_hdrs;

/* Parse a frame.  0 with h->ip_version 0 for non-IP frames; -EINVAL when
 * an IP/TCP/UDP header is truncated or inconsistent (the frame is
 * malformed).  Up to two VLAN tags (802.1Q/802.1ad). */
int pd_net_parse(const uint8_t *f, uint32_t len, pd_net_hdrs *h);

/* Compute the TCP/UDP checksum of an unfragmented IPv4/IPv6 frame and store
 * it (frames captured before a NIC would fill it in).  0, or -EINVAL
 * (not TCP/UDP over IP, or malformed: the frame is left unchanged). */
int pd_net_fill_l4_csum(uint8_t *f, uint32_t len);

/* ---- virtio_net_hdr (linux/virtio_net.h, host byte order on x86/ARM LE) -- */

typedef struct pd_vnet_hdr {
    uint8_t flags;        /* PD_VNET_F_* */
    uint8_t gso_type;     /* PD_GSO_* */
    uint16_t hdr_len;
    uint16_t gso_size;    /* payload bytes per segment (TCP MSS, UDP) */
    uint16_t csum_start;  /* from the frame start */
    uint16_t csum_offset; /* from csum_start */
} pd_vnet_hdr;

#define PD_VNET_HDR_LEN 10u
#define PD_VNET_F_NEEDS_CSUM 1u
#define PD_VNET_F_DATA_VALID 2u
#define PD_GSO_NONE 0u
#define PD_GSO_TCPV4 1u
#define PD_GSO_UDP 3u      /* UFO: IP fragments of one UDP datagram */
#define PD_GSO_TCPV6 4u
#define PD_GSO_UDP_L4 5u   /* USO: one UDP datagram per segment */
#define PD_GSO_ECN 0x80u

/* Complete a CHECKSUM_PARTIAL frame: the 16-bit field at csum_start +
 * csum_offset holds the pseudo-header sum; sum from csum_start to the end
 * and store the complement.  0 or -EINVAL (offsets outside the frame). */
int pd_net_csum_partial_complete(uint8_t *f, uint32_t len, uint32_t csum_start,
                                 uint32_t csum_offset);

/* How many wire-sized frames a super-frame becomes: > 0, or -EINVAL
 * (malformed or headers not matching gso_type), -EPROTONOSUPPORT. */
int pd_net_gso_count(const uint8_t *f, uint32_t len, const pd_vnet_hdr *v);
/* Segment a super-frame as the kernel would (tcp_gso_segment,
 * __udp_gso_segment, ip_fragment): TCP segments carry consecutive sequence
 * numbers, FIN/PSH only on the last, CWR only on the first; IPv4 ids
 * increase by one per segment (fragments share one); lengths and every
 * checksum are complete.  `out[i]` receives segment i (room bytes each),
 * out_len[i] its length.  The count written, or -EINVAL, -EPROTONOSUPPORT,
 * -ENOSPC (fewer than the needed `nout`, or a segment over `room`).
 * `frag_id` is the IPv6 fragment identification for UFO over IPv6. */
int pd_net_gso_segment(const uint8_t *f, uint32_t len, const pd_vnet_hdr *v,
                       uint8_t *const *out, uint32_t room, uint32_t *out_len,
                       uint32_t nout, uint32_t frag_id);

/* ---- edge-device MTU handling -------------------------------------------- */

/* Lower the MSS option of a TCP SYN or SYN-ACK (IPv4 or IPv6) so a full
 * segment (20-byte TCP header) fits a frame of `max_frame` bytes with this
 * frame's L2 and IP headers (1514 -> 1460 over IPv4, 1440 over IPv6),
 * fixing the TCP checksum incrementally (RFC 1624).  1 when changed, 0
 * when nothing to do (not a SYN, no MSS option, already small enough),
 * -EINVAL malformed or max_frame too small. */
int pd_net_clamp_mss(uint8_t *f, uint32_t len, uint32_t max_frame);

/* Build the ICMP reply that tells the sender of frame `f` that its packet
 * does not fit a path of `mtu` bytes of IP: ICMPv4 type 3 code 4 (RFC 1191)
 * or ICMPv6 type 2 (RFC 4443).  Ethernet addresses swapped, the IP source
 * is `src4` / `src6` when given (non-NULL / non-zero) else the original
 * destination, as L2 appliances do.  Quotes as much of the original as fits
 * the minimum MTU (576 / 1280).  Writes at most `room` bytes into `out`:
 * the reply length, or -EINVAL (not IP, a fragment other than the first,
 * an ICMP error itself, or a source that is not unicast), -ENOSPC. */
int pd_net_icmp_too_big(const uint8_t *f, uint32_t len, uint32_t mtu, const uint8_t *src4,
                        const uint8_t *src6, uint8_t *out, uint32_t room);

/* Fragment an IPv4 frame (DF clear) so every fragment carries at most `mtu`
 * bytes of IP (RFC 791): the count written into out[] or -EINVAL, -ENOSPC. */
int pd_net_ipv4_fragment(const uint8_t *f, uint32_t len, uint32_t mtu, uint8_t *const *out,
                         uint32_t room, uint32_t *out_len, uint32_t nout);

/* ---- interfaces (SIOCGIFMTU, SIOCETHTOOL) ------------------------------- */

#define PD_NET_OFF_TSO 1u      /* tx-tcp-segmentation (v4) */
#define PD_NET_OFF_TSO6 2u
#define PD_NET_OFF_GSO 4u      /* generic segmentation offload */
#define PD_NET_OFF_GRO 8u
#define PD_NET_OFF_LRO 16u
#define PD_NET_OFF_TXCSUM 32u
#define PD_NET_OFF_RXCSUM 64u
#define PD_NET_OFF_USO 128u    /* tx-udp-segmentation */

typedef struct pd_net_ifinfo {
    int mtu;
    uint32_t offloads;     /* PD_NET_OFF_* that are on */
    uint32_t known;        /* PD_NET_OFF_* that could be read */
} pd_net_ifinfo;

/* MTU and offload state of an interface of the current network namespace,
 * read with the ethtool ioctl (ETHTOOL_GFEATURES by feature name).  0,
 * -ENODEV, or the errno of the failing call. */
int pd_net_ifinfo_get(const char *ifname, pd_net_ifinfo *out);

#ifdef __cplusplus
}
#endif
#endif /* PD_NET_H */
