/* Native pcap file port: receive from a pcap or pcapng file, transmit into a
 * pcap file, through libpcap.  Like DPDK's net_pcap (rx_pcap=, tx_pcap=) but
 * over pd_buf packets, with optional replay at the original timing and
 * looping over the file.
 *
 * Records cut short by the capture's snap length, and frames larger than a
 * buffer, are counted (rx_malformed) and dropped, never delivered short.
 * A file that ends in the middle of a record ends the stream, counts one
 * malformed record and sets pd_pcap_error() to -EBADMSG.
 *
 * Functions return 0 or a negative errno; bursts return counts.  One thread
 * at a time.  Nothing prints or exits.
 */
#ifndef PD_PCAPFILE_H
#define PD_PCAPFILE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "pkt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pd_pcap_config {
    const char *rx_path;   /* pcap or pcapng to read; NULL for none */
    const char *tx_path;   /* pcap to write (truncated); NULL for none */
    int replay_timing;     /* 1: release packets at the file's pace */
    double replay_speed;   /* > 0; 2.0 replays twice as fast */
    uint32_t passes;       /* times to read the file; 0 = loop forever */
    uint32_t snaplen;      /* written files' snap length */
    int nanosecond;        /* written files use nanosecond timestamps */
} pd_pcap_config;

typedef struct pd_pcap_stats {
    uint64_t rx_packets, rx_bytes;
    uint64_t tx_packets, tx_bytes;
    uint64_t rx_nombuf;    /* rx stopped because the pool was empty */
    uint64_t rx_malformed; /* short or oversized records: dropped */
    uint64_t tx_errors;    /* packets too large for the snap length */
    uint64_t passes_done;  /* complete reads of the rx file */
} pd_pcap_stats;

typedef struct pd_pcap pd_pcap;

void pd_pcap_config_init(pd_pcap_config *cfg);

/* Open the files.  Errors: -ENOENT/-EACCES/-EISDIR/... from the file
 * system, -EBADMSG when the rx file is not a pcap/pcapng capture,
 * -EPROTONOSUPPORT when its link type is not Ethernet, -EINVAL for a bad
 * config.  libpcap's text goes to errbuf (may be NULL). */
int pd_pcap_open(pd_pcap **out, const pd_pcap_config *cfg, pd_buf_pool *pool, char *errbuf,
                 size_t errlen);
/* Flushes and closes the output file.  0, or -EIO when writing failed. */
int pd_pcap_close(pd_pcap *p);

int pd_pcap_start(pd_pcap *p);
/* Stop: flush the output. */
int pd_pcap_stop(pd_pcap *p);

uint16_t pd_pcap_rx_burst(pd_pcap *p, uint16_t queue, pd_pkt **pkts, uint16_t n);
/* Writes and frees every packet (oversized ones are counted as errors);
 * returns 0 when there is no output file or it failed. */
uint16_t pd_pcap_tx_burst(pd_pcap *p, uint16_t queue, pd_pkt **pkts, uint16_t n);

/* 1 once every pass over the rx file has been delivered (or no rx file). */
int pd_pcap_rx_done(const pd_pcap *p);
/* Nanoseconds until the next packet is due in timed replay, 0 if one is
 * ready now or timing is off, -1 when done. */
int64_t pd_pcap_rx_wait_ns(pd_pcap *p);
/* 0, or the negative errno that ended rx or tx (-EBADMSG, -EIO). */
int pd_pcap_error(const pd_pcap *p);
const char *pd_pcap_error_text(const pd_pcap *p);
int pd_pcap_flush(pd_pcap *p);

void pd_pcap_stats_get(const pd_pcap *p, pd_pcap_stats *out);
void pd_pcap_stats_reset(pd_pcap *p);

void pd_pcap_port_io(pd_pcap *p, pd_port_io *io);

#ifdef __cplusplus
}
#endif
#endif /* PD_PCAPFILE_H */
