/* Test traffic: a generator of sequence-numbered, checksummed frames and a
 * verifying sink that finds lost, duplicated, reordered and corrupted ones.
 *
 * Every generated frame carries a 22-byte marker at `marker_off`, so a
 * 64-byte Ethernet/IPv4/UDP frame still has room for it:
 *   magic u16 | stream u16 | seq u48 | tx_ns u48 | frame_len u16 | crc u32
 * (little endian; seq and tx_ns keep their low 48 bits).  crc is CRC-32C of the whole frame with the crc field
 * taken as zero, so a change to any byte, header or payload, is caught.
 */
#ifndef PD_TRAFFIC_H
#define PD_TRAFFIC_H

#include <stddef.h>
#include <stdint.h>
#include "stage.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PD_MARKER_MAGIC 0x4450u          /* "PD" */
#define PD_MARKER_LEN 22
#define PD_GEN_MAX_SIZES 16

typedef struct pd_gen_cfg {
    const uint8_t *tmpl;      /* frame headers, copied; the marker follows */
    uint32_t tmpl_len;
    uint32_t sizes[PD_GEN_MAX_SIZES];   /* frame lengths, used round-robin */
    uint32_t n_sizes;
    uint64_t count;           /* 0: unlimited */
    double rate_pps;          /* 0: as fast as the pool allows */
    uint16_t stream;
    /* If the template is Ethernet/IPv4[/UDP], set the IPv4 total length and
     * header checksum and the UDP length of every frame. */
    int fix_lengths;
} pd_gen_cfg;

typedef struct pd_gen_counters {
    uint64_t sent, bytes, alloc_failed;
} pd_gen_counters;

typedef struct pd_gen pd_gen;

pd_gen *pd_gen_create(const pd_gen_cfg *cfg, const pd_pkt_ops *ops, void *pool, int *err);
void pd_gen_destroy(pd_gen *g);
void pd_gen_source(pd_gen *g, pd_source *src);
const pd_gen_counters *pd_gen_counters_get(const pd_gen *g);
/* Fill one frame of length len with seq (used by tests and Python helpers);
 * buf must hold len bytes; returns 0 or -EINVAL. */
int pd_gen_fill(const pd_gen *g, uint8_t *buf, uint32_t len, uint64_t seq, uint64_t tx_ns);

typedef struct pd_verify_counters {
    uint64_t received, bytes;
    uint64_t valid;           /* first copy of a frame, intact */
    uint64_t corrupted;       /* marker found but crc or length wrong */
    uint64_t foreign;         /* no marker / other stream */
    uint64_t duplicates;
    uint64_t reordered;       /* arrived after a higher sequence number */
    uint64_t stale;           /* too far behind to tell duplicate from late */
    uint64_t max_seq_plus1;   /* highest sequence seen + 1 */
    uint64_t latency_sum_ns, latency_max_ns;
} pd_verify_counters;

typedef struct pd_verify pd_verify;

pd_verify *pd_verify_create(uint32_t marker_off, uint32_t stream, const pd_pkt_ops *ops,
                            int *err);
void pd_verify_destroy(pd_verify *v);
void pd_verify_sink(pd_verify *v, pd_sink *snk);
const pd_verify_counters *pd_verify_counters_get(const pd_verify *v);
/* Check one frame without consuming it: 0 valid, 1 corrupted, 2 foreign. */
int pd_verify_frame(uint32_t marker_off, uint32_t stream, const uint8_t *f, uint32_t len,
                    uint64_t *seq);

uint32_t pd_crc32c(uint32_t crc, const uint8_t *p, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* PD_TRAFFIC_H */
