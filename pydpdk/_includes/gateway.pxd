# Declarations of native/gateway/gateway.h: FEC gateway stages.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

from pydpdk._includes.fec cimport (
    fec_control_state,
    fec_decoder_config,
    fec_decoder_stats,
    fec_encoder_config,
    fec_encoder_stats,
    fec_link_report,
)
from pydpdk._includes.pkt cimport pd_pkt_ops
from pydpdk._includes.stage cimport pd_stage


cdef extern from "gateway.h" nogil:
    enum pd_encap_kind:
        PD_ENCAP_UDP
        PD_ENCAP_ETHER
        PD_ENCAP_NONE

    enum:
        PD_ENCAP_UDP_LEN
        PD_ENCAP_UDP6_LEN
        PD_ENCAP_ETHER_LEN
        PD_ETHERTYPE_FEC

    ctypedef struct pd_encap_cfg:
        int kind
        uint8_t src_mac[6]
        uint8_t dst_mac[6]
        uint16_t ethertype
        uint32_t src_ip, dst_ip
        uint16_t src_port, dst_port
        uint8_t ttl, dscp
        uint8_t tos_trailer
        uint8_t ipv6
        uint8_t src_ip6[16]
        uint8_t dst_ip6[16]

    uint32_t pd_encap_len(const pd_encap_cfg *cfg)

    ctypedef struct pd_mtu_cfg:
        uint32_t wan_mtu
        int clamp_mss
        int no_icmp
        int no_fragment
        int has_src4, has_src6
        uint8_t src4[4]
        uint8_t src6[16]

    ctypedef struct pd_fec_enc_stage_cfg:
        pd_encap_cfg encap
        fec_encoder_config fec
        pd_mtu_cfg mtu

    uint32_t pd_gateway_max_frame(const pd_encap_cfg *cfg, uint32_t wan_mtu)

    ctypedef struct pd_fec_dec_stage_cfg:
        pd_encap_cfg encap
        fec_decoder_config fec
        uint64_t report_interval
        int send_reports

    ctypedef struct pd_gateway_counters:
        uint64_t foreign, no_headroom, too_big, out_full
        uint64_t mss_clamped, icmp_too_big, mtu_dropped, fragmented, fragments
        uint64_t reply_dropped, ecn_marked, ecn_dropped, icmp_limited
        uint64_t bad_checksum

    ctypedef struct pd_fec_enc_stage:
        pass

    ctypedef struct pd_fec_dec_stage:
        pass

    pd_fec_enc_stage *pd_fec_enc_stage_create(const pd_fec_enc_stage_cfg *cfg,
                                              const pd_pkt_ops *ops, void *pool, int *err)
    void pd_fec_enc_stage_destroy(pd_fec_enc_stage *s)
    void pd_fec_enc_stage_bind(pd_fec_enc_stage *s, pd_stage *st)
    void pd_fec_enc_stage_stats(const pd_fec_enc_stage *s, fec_encoder_stats *fec,
                                pd_gateway_counters *gw)
    pd_fec_dec_stage *pd_fec_dec_stage_create(const pd_fec_dec_stage_cfg *cfg,
                                              const pd_pkt_ops *ops, void *pool, int *err)
    void pd_fec_dec_stage_destroy(pd_fec_dec_stage *s)
    void pd_fec_dec_stage_bind(pd_fec_dec_stage *s, pd_stage *st)
    void pd_fec_dec_stage_stats(const pd_fec_dec_stage *s, fec_decoder_stats *fec,
                                pd_gateway_counters *gw)
    void pd_fec_stage_pair(pd_fec_enc_stage *enc, pd_fec_dec_stage *dec)
    void pd_fec_enc_stage_mtu(const pd_fec_enc_stage *s, uint32_t *max_frame,
                              uint32_t *ip_mtu, uint32_t *mss4)

    # adaptive FEC
    int pd_fec_enc_stage_set_params(pd_fec_enc_stage *s, int code, unsigned k, unsigned m,
                                    unsigned depth)
    void pd_fec_enc_stage_get_params(const pd_fec_enc_stage *s, int *code, unsigned *k,
                                     unsigned *m, unsigned *depth)
    void pd_fec_enc_stage_control_counts(const pd_fec_enc_stage *s, uint64_t *sent,
                                         uint64_t *dropped)
    uint64_t pd_fec_dec_stage_link_report(pd_fec_dec_stage *s, fec_link_report *rep)
    uint64_t pd_fec_dec_stage_peer_report(pd_fec_dec_stage *s, fec_link_report *rep,
                                          uint32_t *sender)
    void pd_fec_dec_stage_control_stats(pd_fec_dec_stage *s, fec_control_state *st)
