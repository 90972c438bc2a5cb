/* FEC gateway stages: protect frames on one side of a lossy link, rebuild
 * them on the other, over pd_pkt handles of any backend.
 *
 * On the wire every protected frame, and every parity packet, travels as
 *   outer header | FEC header (FEC_HDR_LEN bytes, docs/fec-format.md) | payload
 * where the outer header is either Ethernet/IPv4/UDP or Ethernet/IPv6/UDP
 * (crosses IP networks; over IPv6 the UDP checksum is computed, RFC 8200
 * section 8.1) or Ethernet with a dedicated EtherType (L2 links).
 *
 * As an edge device the encoder knows the largest IP packet its WAN side
 * carries (wan_mtu) and what it adds (outer header, FEC_HDR_LEN, the repair
 * length field): frames that no longer fit are handled by policy (TCP MSS
 * clamping on SYNs, ICMP "fragmentation needed" / "packet too big" back to
 * the sender, IPv4 without DF fragmented), each counted.  With the UDP
 * outer header DSCP is copied out and ECN handled per RFC 6040 (normal
 * mode).  The payload of a source
 * packet is the original frame, byte for byte; the decoder strips the outer
 * and FEC headers in place and hands the original frame on.
 */
#ifndef PD_GATEWAY_H
#define PD_GATEWAY_H

#include <stdint.h>
#include "fec.h"
#include "stage.h"

#ifdef __cplusplus
extern "C" {
#endif

/* PD_ENCAP_NONE: the packet is the FEC packet itself, for ports that carry
 * it as a datagram payload (the UDP socket port: the kernel adds the headers). */
enum pd_encap_kind { PD_ENCAP_UDP = 1, PD_ENCAP_ETHER = 2, PD_ENCAP_NONE = 3 };

#define PD_ENCAP_UDP_LEN (14 + 20 + 8)
#define PD_ENCAP_UDP6_LEN (14 + 40 + 8)
#define PD_ENCAP_ETHER_LEN 14
#define PD_ETHERTYPE_FEC 0x88b5          /* IEEE local experimental */

typedef struct pd_encap_cfg {
    int kind;                 /* enum pd_encap_kind */
    uint8_t src_mac[6], dst_mac[6];
    uint16_t ethertype;       /* PD_ENCAP_ETHER (0: PD_ETHERTYPE_FEC) */
    uint32_t src_ip, dst_ip;  /* PD_ENCAP_UDP, host byte order */
    uint16_t src_port, dst_port;
    uint8_t ttl, dscp;
    /* PD_ENCAP_NONE, decoder: every packet ends with one byte, the outer
     * TOS / traffic class its transport received (UdpPort with tos=1), for
     * RFC 6040 decapsulation as with PD_ENCAP_UDP. */
    uint8_t tos_trailer;
    /* PD_ENCAP_UDP over IPv6: src_ip6/dst_ip6 (network byte order) replace
     * src_ip/dst_ip, ttl is the hop limit, DSCP/ECN go in the traffic
     * class.  A decoder accepts IPv4 and IPv6 outer headers either way. */
    uint8_t ipv6;
    uint8_t src_ip6[16], dst_ip6[16];
} pd_encap_cfg;

/* Bytes of outer header for this encapsulation (0 if the config is invalid). */
uint32_t pd_encap_len(const pd_encap_cfg *cfg);

/* MTU policy of the encoder (all zero: none, frames over max_payload are
 * dropped as too_big). */
typedef struct pd_mtu_cfg {
    uint32_t wan_mtu;         /* largest IP packet (or Ethernet payload with
                                 PD_ENCAP_ETHER) the WAN carries; 0: no policy.
                                 The frame limit is also at most max_payload. */
    int clamp_mss;            /* lower the MSS of TCP SYNs to what fits */
    int no_icmp;              /* drop oversize DF/IPv6 frames without ICMP */
    int no_fragment;          /* drop oversize IPv4 frames without DF too */
    int has_src4, has_src6;   /* ICMP source (else the original destination) */
    uint8_t src4[4], src6[16];
} pd_mtu_cfg;

typedef struct pd_fec_enc_stage_cfg {
    pd_encap_cfg encap;
    fec_encoder_config fec;   /* timeout is in nanoseconds */
    pd_mtu_cfg mtu;
} pd_fec_enc_stage_cfg;

/* Largest LAN frame (Ethernet header included) that crosses whole with
 * this encapsulation on a WAN of `wan_mtu`: 0 when none fits. */
uint32_t pd_gateway_max_frame(const pd_encap_cfg *cfg, uint32_t wan_mtu);

typedef struct pd_fec_dec_stage_cfg {
    pd_encap_cfg encap;       /* what to accept: kind, ethertype or UDP dst port */
    fec_decoder_config fec;   /* timeout is in nanoseconds; measure_window (ns)
                                 turns the link measurement on */
    uint64_t report_interval; /* adaptive FEC: publish the link report this
                                 often (ns, 0: 100 ms), and with send_reports
                                 send it to the peer through the paired
                                 encoder in a control packet */
    int send_reports;
} pd_fec_dec_stage_cfg;

typedef struct pd_gateway_counters {
    uint64_t foreign;         /* decoder: not our encapsulation, dropped */
    uint64_t no_headroom;     /* encoder: frame without room for headers, dropped */
    uint64_t too_big;         /* encoder: frame over max_payload, dropped */
    uint64_t out_full;        /* packets dropped: stage output array full */
    /* MTU policy (encoder) */
    uint64_t mss_clamped;     /* TCP SYNs whose MSS option was lowered */
    uint64_t icmp_too_big;    /* oversize frames answered with ICMP, dropped */
    uint64_t mtu_dropped;     /* oversize frames dropped without an answer */
    uint64_t fragmented;      /* IPv4 frames without DF cut into fragments */
    uint64_t fragments;       /* fragments made of them (encoded as frames) */
    uint64_t reply_dropped;   /* ICMP replies lost (no path back, full, no buffer) */
    uint64_t icmp_limited;    /* oversize frames not answered: ICMP rate limit
                                 (also in mtu_dropped) */
    /* ECN (decoder, UDP outer header, RFC 6040) */
    uint64_t ecn_marked;      /* inner ECT frames set to CE from a CE outer */
    uint64_t ecn_dropped;     /* inner Not-ECT frames under a CE outer: dropped */
    /* decoder: IPv6 outer header whose UDP checksum is wrong or zero
     * (RFC 8200 section 8.1: receivers discard them), dropped */
    uint64_t bad_checksum;
} pd_gateway_counters;

typedef struct pd_fec_enc_stage pd_fec_enc_stage;
typedef struct pd_fec_dec_stage pd_fec_dec_stage;

/* Both return NULL with *err = -EINVAL (bad config) or -ENOMEM. */
pd_fec_enc_stage *pd_fec_enc_stage_create(const pd_fec_enc_stage_cfg *cfg,
                                          const pd_pkt_ops *ops, void *pool, int *err);
void pd_fec_enc_stage_destroy(pd_fec_enc_stage *s);
void pd_fec_enc_stage_bind(pd_fec_enc_stage *s, pd_stage *st);
void pd_fec_enc_stage_stats(const pd_fec_enc_stage *s, fec_encoder_stats *fec,
                            pd_gateway_counters *gw);

pd_fec_dec_stage *pd_fec_dec_stage_create(const pd_fec_dec_stage_cfg *cfg,
                                          const pd_pkt_ops *ops, void *pool, int *err);
void pd_fec_dec_stage_destroy(pd_fec_dec_stage *s);
void pd_fec_dec_stage_bind(pd_fec_dec_stage *s, pd_stage *st);
void pd_fec_dec_stage_stats(const pd_fec_dec_stage *s, fec_decoder_stats *fec,
                            pd_gateway_counters *gw);

/* Tunnel: the decoder's output (towards the LAN) also carries the ICMP
 * replies the encoder makes.  Both must live until unpaired (NULL, NULL
 * of the decoder: pd_fec_stage_pair(NULL, dec)) or destroyed together. */
void pd_fec_stage_pair(pd_fec_enc_stage *enc, pd_fec_dec_stage *dec);
/* Adaptive FEC.  The decoder stage (measurement on) publishes its link
 * report every report_interval; with send_reports, the paired encoder sends
 * it to the peer as a control packet (docs/fec-format.md, "Link report"),
 * sealed like any packet by a secure stage after it.  Control packets the
 * decoder stage receives are checked (fec_control_accept) and the newest
 * report is kept for the controller, which runs on another thread and sets
 * the encoder with pd_fec_enc_stage_set_params (fec_encoder_set_params:
 * atomic, applied at the next block boundary).  Reads return the report's
 * generation (0: none yet); all calls are safe from any thread. */
int pd_fec_enc_stage_set_params(pd_fec_enc_stage *s, int code, unsigned k, unsigned m,
                                unsigned depth);
void pd_fec_enc_stage_get_params(const pd_fec_enc_stage *s, int *code, unsigned *k,
                                 unsigned *m, unsigned *depth);
/* control packets sent, and dropped (no buffer / output full) */
void pd_fec_enc_stage_control_counts(const pd_fec_enc_stage *s, uint64_t *sent,
                                     uint64_t *dropped);
uint64_t pd_fec_dec_stage_link_report(pd_fec_dec_stage *s, fec_link_report *rep);
uint64_t pd_fec_dec_stage_peer_report(pd_fec_dec_stage *s, fec_link_report *rep,
                                      uint32_t *sender);
void pd_fec_dec_stage_control_stats(pd_fec_dec_stage *s, fec_control_state *st);

/* What the encoder does about the MTU: frame limit, IP MTU, MSS (IPv4). */
void pd_fec_enc_stage_mtu(const pd_fec_enc_stage *s, uint32_t *max_frame, uint32_t *ip_mtu,
                          uint32_t *mss4);

#ifdef __cplusplus
}
#endif
#endif /* PD_GATEWAY_H */
