/* FEC gateway stages: protect frames on one side of a lossy link, rebuild
 * them on the other, over pd_pkt handles of any backend.
 *
 * On the wire every protected frame, and every parity packet, travels as
 *   outer header | FEC header (FEC_HDR_LEN bytes, docs/fec-format.md) | payload
 * where the outer header is either Ethernet/IPv4/UDP (crosses IP networks)
 * or Ethernet with a dedicated EtherType (L2 links).  The payload of a source
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

enum pd_encap_kind { PD_ENCAP_UDP = 1, PD_ENCAP_ETHER = 2 };

#define PD_ENCAP_UDP_LEN (14 + 20 + 8)
#define PD_ENCAP_ETHER_LEN 14
#define PD_ETHERTYPE_FEC 0x88b5          /* IEEE local experimental */

typedef struct pd_encap_cfg {
    int kind;                 /* enum pd_encap_kind */
    uint8_t src_mac[6], dst_mac[6];
    uint16_t ethertype;       /* PD_ENCAP_ETHER (0: PD_ETHERTYPE_FEC) */
    uint32_t src_ip, dst_ip;  /* PD_ENCAP_UDP, host byte order */
    uint16_t src_port, dst_port;
    uint8_t ttl, dscp;
} pd_encap_cfg;

/* Bytes of outer header for this encapsulation (0 if the config is invalid). */
uint32_t pd_encap_len(const pd_encap_cfg *cfg);

typedef struct pd_fec_enc_stage_cfg {
    pd_encap_cfg encap;
    fec_encoder_config fec;   /* timeout is in nanoseconds */
} pd_fec_enc_stage_cfg;

typedef struct pd_fec_dec_stage_cfg {
    pd_encap_cfg encap;       /* what to accept: kind, ethertype or UDP dst port */
    fec_decoder_config fec;   /* timeout is in nanoseconds */
} pd_fec_dec_stage_cfg;

typedef struct pd_gateway_counters {
    uint64_t foreign;         /* decoder: not our encapsulation, dropped */
    uint64_t no_headroom;     /* encoder: frame without room for headers, dropped */
    uint64_t too_big;         /* encoder: frame over max_payload, dropped */
    uint64_t out_full;        /* packets dropped: stage output array full */
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

#ifdef __cplusplus
}
#endif
#endif /* PD_GATEWAY_H */
