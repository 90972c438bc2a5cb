/* Thin C shim over DPDK for pydpdk.
 *
 * - the mbuf implementation of pd_pkt_ops and a pd_port_io over ethdev bursts,
 *   so backend-neutral native code (pipeline, FEC stages) runs on DPDK ports;
 * - the l2fwd-style forwarding loop (GIL-free, sliced so the caller can
 *   check for Ctrl-C between slices);
 * - EAL log capture, so the EAL's reason for a failure reaches the exception;
 * - the places where DPDK releases differ (22.11 LTS and newer), so the
 *   Cython layer declares only what is stable.
 *
 * Conventions: 0 or a negative errno; counts for bursts; no printing, no exit.
 */
#ifndef PD_DPDK_H
#define PD_DPDK_H

#include <stddef.h>
#include <stdint.h>

#include "pkt.h"

#ifdef __cplusplus
extern "C" {
#endif

struct rte_mempool;
struct rte_mbuf;

/* ---- packets ----------------------------------------------------------- */

/* pd_pkt_ops over single-segment pktmbufs; the pool argument of alloc_bulk
 * is a struct rte_mempool *. */
extern const pd_pkt_ops pd_mbuf_ops;

/* Fill *io with rx/tx over ethdev port_id (queue numbers pass through);
 * rx allocates from mp (the pool given to the rx queues).  -EINVAL on NULL. */
int pd_dpdk_port_io(pd_port_io *io, uint16_t port_id, struct rte_mempool *mp);
/* Multi-segment frames the rx of pd_dpdk_port_io made one segment, and
 * those too large for one mbuf it dropped (counted, never truncated). */
void pd_dpdk_rx_chain_stats(uint16_t port_id, uint64_t *linearized, uint64_t *dropped);
/* Zero them: a port id is reused by the next device (vdev hot-plug). */
void pd_dpdk_rx_chain_stats_reset(uint16_t port_id);

/* ---- forwarding loop ---------------------------------------------------- */

#define PD_FWD_MAX_LINKS 8

/* One direction: receive on (rx_port, rx_queue), send on (tx_port, tx_queue). */
struct pd_fwd_link {
    uint16_t rx_port;
    uint16_t rx_queue;
    uint16_t tx_port;
    uint16_t tx_queue;
};

struct pd_fwd_config {
    struct pd_fwd_link links[PD_FWD_MAX_LINKS];
    unsigned int n_links;
    uint16_t burst;          /* 1..PD_BURST_MAX */
    uint64_t max_packets;    /* stop after receiving this many; 0 = no limit */
    uint64_t deadline_tsc;   /* stop when the TSC passes this; 0 = no limit */
};

struct pd_fwd_counters {
    uint64_t rx_packets;
    uint64_t tx_packets;
    uint64_t dropped;        /* received but not accepted by tx: freed */
    uint64_t rx_bursts;      /* non-empty rx polls */
    uint64_t polls;          /* all rx polls */
};

enum pd_fwd_status {
    PD_FWD_SLICE_DONE = 0,   /* slice over, nothing else to report: call again */
    PD_FWD_COUNT_REACHED = 1,
    PD_FWD_DEADLINE = 2,
    PD_FWD_QUIT = 3,
};

/* Check a configuration: 0 or -EINVAL (bad burst, no links, bad port ids). */
int pd_fwd_validate(const struct pd_fwd_config *cfg);

/* Forward for at most slice_tsc cycles (0: until a stop condition), adding
 * to *counters.  Stops early when *quit becomes non-zero, the packet count
 * or the deadline is reached.  Every packet received is either sent or
 * freed before returning.  Returns a pd_fwd_status or a negative errno. */
int pd_fwd_run(const struct pd_fwd_config *cfg, struct pd_fwd_counters *counters,
               const volatile int *quit, uint64_t slice_tsc);

/* ---- EAL helpers -------------------------------------------------------- */

/* Route DPDK's log into memory (0 or -errno); pd_dpdk_log_capture_end restores
 * the previous stream and copies the tail of what was logged into buf
 * (NUL-terminated, at most len-1 bytes).  Returns the number of bytes copied. */
int pd_dpdk_log_capture_begin(void);
size_t pd_dpdk_log_capture_end(char *buf, size_t len);

/* rte_eal_init that returns -rte_errno instead of -1 and prints nothing:
 * what the EAL writes to stderr meanwhile joins the log capture, its usage
 * text on stdout is dropped. */
int pd_dpdk_eal_init(int argc, char **argv);

/* ---- version-dependent information ------------------------------------- */

struct pd_dpdk_dev_info {
    char driver[64];
    uint16_t max_rx_queues;
    uint16_t max_tx_queues;
    uint16_t rx_desc_max;
    uint16_t tx_desc_max;
    uint32_t min_mtu;
    uint32_t max_mtu;
    uint32_t min_rx_bufsize;
    uint32_t max_rx_bufsize;   /* 0 when this DPDK does not report it (< 23.11) */
    uint32_t max_rx_pktlen;
    uint64_t rx_offload_capa;
    uint64_t tx_offload_capa;
    uint64_t flow_type_rss_offloads;
    uint16_t reta_size;
    uint8_t hash_key_size;
    int socket_id;
    uint32_t if_index;         /* kernel interface of the port, 0 if none */
};

int pd_dpdk_get_dev_info(uint16_t port_id, struct pd_dpdk_dev_info *info);

/* Create two net_ring ports joined back to back by two rte_rings of `depth`
 * slots: what a sends, b receives and vice versa.  Names must be unique.
 * Returns 0 and the port ids, or -errno. */
int pd_dpdk_ring_pair(const char *name_a, const char *name_b, unsigned int depth,
                      uint16_t *port_a, uint16_t *port_b);
/* Free the rings of a pair created above (after both ports are closed and
 * removed): 0 or -ENOENT. */
int pd_dpdk_ring_pair_free(const char *name_a, const char *name_b);

#ifdef __cplusplus
}
#endif
#endif /* PD_DPDK_H */
