/* Native pcap file port: receive from a pcap or pcapng file, transmit into a
 * pcap or pcapng file (capfile.h: our own reader and writer).  Like DPDK's
 * net_pcap (rx_pcap=, tx_pcap=) but over pd_buf packets, with optional
 * replay at the original timing and looping over the file.
 *
 * Every record of every interface is delivered with its bytes and its
 * timestamp (pd_buf.timestamp_ns); its interface, link type, original
 * length and raw timestamp are kept for the last burst (pd_pcap_rx_info).
 * Records of any link type are delivered as they are (a Linux-cooked record
 * keeps its SLL header); the link type says how to read them.
 * Records cut short by the capture's snap length (unless deliver_snapped)
 * and records larger than a buffer are counted (rx_snapped, rx_oversized,
 * both in rx_malformed) and dropped, never delivered short; the latest
 * drop's reason, naming the record, is pd_pcap_drop_text().
 * A file that ends in the middle of a record, or is corrupt, ends the
 * stream after the good records, counts one malformed record and sets
 * pd_pcap_error() to -EBADMSG, with a text naming the record and offset.
 * A failed write (full disk) sets pd_pcap_error() to its errno; later tx
 * bursts take nothing.
 *
 * Functions return 0 or a negative errno; bursts return counts.  One thread
 * at a time.  Nothing prints or exits.
 */
#ifndef PD_PCAPFILE_H
#define PD_PCAPFILE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "capfile.h"
#include "pkt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pd_pcap_config {
    const char *rx_path;   /* pcap or pcapng to read; NULL for none */
    const char *tx_path;   /* capture to write (truncated); NULL for none */
    int replay_timing;     /* 1: release packets at the file's pace */
    double replay_speed;   /* > 0; 2.0 replays twice as fast */
    uint32_t passes;       /* times to read the file; 0 = loop forever */
    uint32_t snaplen;      /* written files' snap length */
    int nanosecond;        /* written files use nanosecond timestamps */
    int tx_format;         /* PD_CAP_PCAP, PD_CAP_PCAPNG, or 0: by the name
                              (".pcapng" / ".ng" ending: pcapng) */
    uint16_t tx_link_type; /* link type of written interface 0 (1: Ethernet) */
    int deliver_snapped;   /* 1: deliver records cut by the snap length */
} pd_pcap_config;

/* What the file said about one delivered record. */
typedef struct pd_pcap_rxinfo {
    uint64_t index;        /* record number in the file, from 1 */
    uint64_t ts_raw;       /* timestamp in the interface's units */
    uint32_t iface;        /* interface number (0 for classic pcap) */
    uint32_t section;      /* pcapng section */
    uint32_t orig_len;     /* length on the wire */
    uint16_t link_type;
    uint8_t tsresol;       /* if_tsresol of the interface */
} pd_pcap_rxinfo;

typedef struct pd_pcap_stats {
    uint64_t rx_packets, rx_bytes;
    uint64_t tx_packets, tx_bytes;
    uint64_t rx_nombuf;    /* rx stopped because the pool was empty */
    uint64_t rx_malformed; /* snapped, oversized or corrupt records: dropped */
    uint64_t rx_snapped;   /* records cut by the snap length, dropped */
    uint64_t rx_oversized; /* records larger than a buffer, dropped */
    uint64_t tx_errors;    /* packets too large for the snap length */
    uint64_t passes_done;  /* complete reads of the rx file */
} pd_pcap_stats;

typedef struct pd_pcap pd_pcap;

void pd_pcap_config_init(pd_pcap_config *cfg);

/* Open the files.  Errors: -ENOENT/-EACCES/-EISDIR/... from the file
 * system, -EBADMSG when the rx file is not a pcap/pcapng capture, -EINVAL
 * for a bad config.  A text naming the file goes to errbuf (may be NULL). */
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
/* The same with, per packet, the written interface (NULL: 0) and original
 * length (NULL: the packet's length; a smaller one counts as its length). */
uint16_t pd_pcap_tx_burst_info(pd_pcap *p, pd_pkt **pkts, uint16_t n, const uint32_t *ifaces,
                               const uint32_t *orig_lens);
/* Copy the output's interfaces from `src`'s input (NULL: stop): a packet
 * written without an explicit interface goes to the one it was read from
 * (pd_buf.iface, in src's current section), defined in the output as in the
 * input (link type, snap length, resolution, offset) when first used;
 * interface 0 is redefined too while no record is written.  Without a
 * mirror such packets go to an interface of that number if the output has
 * one, else to 0.  Both ports must be used from one thread.  -EINVAL when
 * this port writes nothing or src reads nothing. */
int pd_pcap_tx_mirror(pd_pcap *p, const pd_pcap *src);
/* pcapng output: add an interface; its number, or -ENOTSUP (pcap output),
 * -EINVAL (no output), -errno of the write. */
int pd_pcap_tx_add_iface(pd_pcap *p, uint16_t link_type, uint32_t snaplen, uint8_t tsresol);
/* PD_CAP_PCAP or PD_CAP_PCAPNG for the output, 0 without one. */
int pd_pcap_tx_format(const pd_pcap *p);
/* Records of the last rx burst, in order: *n set to their count. */
const pd_pcap_rxinfo *pd_pcap_rx_info(const pd_pcap *p, uint16_t *n);
/* Why the latest record was dropped ("" if none), naming the record. */
const char *pd_pcap_drop_text(const pd_pcap *p);
/* pd_source.done for a port endpoint whose first member is this port's
 * pd_port_io (the pipeline's port sources): 1 once the file is done. */
int pd_pcap_io_done(void *port_io);

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
