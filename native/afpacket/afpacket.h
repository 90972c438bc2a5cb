/* Native AF_PACKET port: TPACKET_V3 mmap receive ring, transmit through a
 * mapped TX ring or sendmmsg(), one socket per queue joined in a
 * PACKET_FANOUT group when there are several queues.
 *
 * Two receive modes:
 * - copy (default): each frame is copied out of the ring into a pd_buf
 *   packet; the ring block goes back to the kernel at once, and the packet
 *   can be kept, rewritten and grown (headroom) like an mbuf.  One copy of a
 *   frame costs far less than the kernel's per-packet work.
 * - zero copy (cfg.zero_copy): packets are views of the frames inside the
 *   mapped ring block (pd_afp_zc_ops).  A block goes back to the kernel only
 *   once every packet taken from it was freed or sent (a per-block reference
 *   count), so packets held by the application hold their block; when every
 *   block is held the kernel drops frames (kernel_drops).  Each frame has
 *   cfg.zc_headroom bytes reserved in front (PACKET_RESERVE) to prepend
 *   into; there is no tailroom, and alloc_bulk is impossible (-ENOBUFS).
 *   Freeing a zero-copy packet twice is undefined (its block may already be
 *   the kernel's again); the Python burst layer makes that impossible.
 *   The port's memory lives until pd_afp_close() was called AND the last
 *   zero-copy packet was freed.
 *
 * Functions return 0 or a negative errno; bursts return counts.  A queue
 * must be used by one thread at a time.  Nothing prints or exits.
 */
#ifndef PD_AFPACKET_H
#define PD_AFPACKET_H

#include <stdint.h>

#include "buf.h"
#include "pkt.h"

#ifdef __cplusplus
extern "C" {
#endif

enum pd_afp_tx_mode {
    PD_AFP_TX_RING = 0,     /* mapped TX ring, one send() per burst */
    PD_AFP_TX_SENDMMSG = 1, /* one sendmmsg() per burst, no ring (default:
                               measured faster over veth) */
};

#define PD_AFP_MAX_QUEUES 16

typedef struct pd_afp_config {
    const char *ifname;
    uint16_t nb_queues;        /* > 1: PACKET_FANOUT over that many sockets */
    uint16_t fanout_mode;      /* PACKET_FANOUT_HASH, _LB, _CPU, ... */
    uint32_t block_size;       /* rx ring block: multiple of the page size */
    uint32_t block_count;      /* rx ring blocks per queue */
    uint32_t frame_size;       /* largest frame + ring header (rx and tx) */
    uint32_t block_timeout_ms; /* kernel hands a partial block over after this */
    uint32_t tx_frame_count;   /* tx ring frames per queue (PD_AFP_TX_RING) */
    int tx_mode;               /* enum pd_afp_tx_mode */
    int promiscuous;           /* receive frames for any MAC address */
    int qdisc_bypass;          /* PACKET_QDISC_BYPASS: skip the tx qdisc */
    int zero_copy;             /* rx packets are views of ring frames */
    uint32_t zc_headroom;      /* zero copy: bytes reserved before each frame */
    int vnet_hdr;              /* PACKET_VNET_HDR (default 1): GSO/GRO super-frames
                                  are segmented into wire-sized frames (copy mode;
                                  zero copy counts them in rx_gso_failed) and
                                  partial checksums completed; off if the kernel
                                  refuses it */
} pd_afp_config;

#define PD_AFP_ZC_DEFAULT_HEADROOM 128u
/* Name of pd_afp_zc_ops (handles of zero-copy packets). */
#define PD_AFP_ZC_OPS_NAME "afpacket-zc"

typedef struct pd_afp_stats {
    uint64_t rx_packets, rx_bytes;
    uint64_t tx_packets, tx_bytes;
    uint64_t rx_nombuf;        /* rx stopped because the pool was empty */
    uint64_t rx_malformed;     /* truncated or larger than a buffer: dropped */
    uint64_t tx_errors;        /* packets the kernel refused (freed, counted) */
    uint64_t kernel_packets;   /* frames the kernel handed to the rings */
    uint64_t kernel_drops;     /* frames lost because a ring was full */
    uint64_t ring_freezes;     /* times a ring was full (queue frozen) */
    uint64_t rx_gso_frames;    /* super-frames received (GSO/GRO, vnet header) */
    uint64_t rx_gso_segments;  /* wire-sized frames made of them (in rx_packets) */
    uint64_t rx_gso_failed;    /* super-frames dropped: unsupported, malformed,
                                  or zero copy */
    uint64_t rx_oversize;      /* frames larger than a buffer, dropped */
} pd_afp_stats;

/* Most segments one super-frame may become (64 KiB at an MSS of 64). */
#define PD_AFP_GSO_MAX_SEGS 1024

typedef struct pd_afp pd_afp;

void pd_afp_config_init(pd_afp_config *cfg, const char *ifname);

/* Open and bind the queues (not started).  `pool` is where rx allocates
 * (copy mode; NULL in zero-copy mode).
 * -EINVAL (bad config or name), -ENODEV (no such interface), -EPERM
 * (needs CAP_NET_RAW), -ENOMEM, or the errno of the failing call. */
int pd_afp_open(pd_afp **out, const pd_afp_config *cfg, pd_buf_pool *pool);
/* Drop the opener's hold.  Sockets and ring are released once no
 * zero-copy packet is held any more (the last pd_afp_zc_ops.free_bulk
 * releases them then). */
void pd_afp_close(pd_afp *afp);

/* Start discards what queued up while stopped; rx/tx do nothing when
 * stopped. */
int pd_afp_start(pd_afp *afp);
void pd_afp_stop(pd_afp *afp);

uint16_t pd_afp_rx_burst(pd_afp *afp, uint16_t queue, pd_pkt **pkts, uint16_t n);
/* Takes ownership of the first `returned` packets (sent, or counted in
 * tx_errors and freed); the caller keeps the rest. */
uint16_t pd_afp_tx_burst(pd_afp *afp, uint16_t queue, pd_pkt **pkts, uint16_t n);
/* The same for packets of any single-segment ops table (pd_buf_ops,
 * pd_afp_zc_ops of this or another port): data is read through `ops` and
 * sent packets are freed through it. */
uint16_t pd_afp_tx_burst_ops(pd_afp *afp, uint16_t queue, pd_pkt **pkts, uint16_t n,
                             const pd_pkt_ops *ops);

/* Zero copy: frames currently held by the application (all queues), the
 * blocks they hold, and the nominal frame capacity of the rings. */
uint32_t pd_afp_zc_held(const pd_afp *afp);
uint32_t pd_afp_zc_blocks_held(const pd_afp *afp);
uint32_t pd_afp_zc_capacity(const pd_afp *afp);
/* Headroom in front of a received zero-copy frame (PACKET_RESERVE plus
 * what the ring layout leaves free). */
uint32_t pd_afp_zc_headroom(const pd_afp *afp);

extern const pd_pkt_ops pd_afp_zc_ops;

/* Wait up to timeout_ms for a queue to have frames: 1 ready, 0 timeout,
 * negative errno (-ENODEV once the interface is gone). */
int pd_afp_wait(pd_afp *afp, uint16_t queue, int timeout_ms);

/* 0 while usable; -ENODEV after the interface was deleted, or another
 * negative errno that stopped the port.  Checked by rx on idle polls. */
int pd_afp_error(pd_afp *afp);
int pd_afp_check(pd_afp *afp);
/* pd_afp_check, then -ENETDOWN while the interface is down or has no
 * carrier (not an error: the port works again when the link is back). */
int pd_afp_status(pd_afp *afp);

/* Totals over all queues (queue < 0) or one queue; reads the kernel's
 * PACKET_STATISTICS (which reset on read) and accumulates them. */
int pd_afp_stats_get(pd_afp *afp, int queue, pd_afp_stats *out);
void pd_afp_stats_reset(pd_afp *afp);

int pd_afp_ifindex(const pd_afp *afp);
int pd_afp_mtu(const pd_afp *afp);
/* 1 when the sockets use PACKET_VNET_HDR (super-frames are segmented). */
int pd_afp_vnet_hdr(const pd_afp *afp);
const uint8_t *pd_afp_mac(const pd_afp *afp);

/* rx/tx without the GIL for the pipeline loop. */
void pd_afp_port_io(pd_afp *afp, pd_port_io *io);

#ifdef __cplusplus
}
#endif
#endif /* PD_AFPACKET_H */
