/* Native UDP port: the FEC tunnel over the kernel's UDP stack.
 *
 * Each datagram's payload is one FEC wire packet (no Ethernet/IP/UDP header
 * in the packet: the kernel adds them), so routing, ARP/NDP, the WAN MTU and
 * fragmentation are the kernel's.  One socket, one queue; receive with
 * recvmmsg() and send with sendmmsg(), a burst per system call, into and out
 * of packets of any pool (pd_pkt_ops): the port works with DPDK mbufs and
 * native buffers alike.
 *
 * Peer liveness: a keepalive datagram goes to the peer every keepalive_ns
 * (whether or not data flows, so the peer can always prove who it is); a
 * peer that sent nothing at all for dead_ns is reported dead (state and a
 * counter) until it sends again.
 *
 * Peer address changes (NAT rebinding, roaming): a datagram from another
 * address is dropped (counted) unless it proves to come from the same peer;
 * then the port sends to the new address from then on.  Proof is either
 *  - a keepalive carrying the instance id the peer's keepalives carried
 *    from the old address (a random id per port instance), or
 *  - a valid FEC v2 packet (version 2, CRC of the header correct) whose
 *    session id was seen from the old address (pd_udp_fec_session()).
 * Without authentication (plain mode) an on-path attacker who reads the ids
 * can still redirect the stream: that is what the secure mode is for.
 *
 * Transmit with cfg.gso: runs of equal-length datagrams (the last may be
 * shorter) leave in one sendmsg() with UDP_SEGMENT and the kernel segments
 * them: ~3x less CPU per datagram than sendmmsg() over veth with software
 * segmentation.  Runs the path cannot take whole (a datagram over the MTU,
 * to be fragmented) are refused by the kernel (EINVAL); from then on runs
 * of that length go with sendmmsg(), as do single datagrams.  Off by
 * default: a run stays one packet until a device segments it, and a
 * device that passes it on whole (veth, virtio, a bridge) or a qdisc that
 * drops it drops the whole run, consecutive packets FEC cannot rebuild.
 *
 * Receive with cfg.gro: the kernel hands datagrams that arrived coalesced
 * (a GSO sender over veth/virtio, a NIC doing GRO) over as one buffer; the
 * port splits it, one copy per datagram into pool packets (512 KiB of
 * scratch buffers per port).  Measured 115-142 ns of receiver CPU per
 * datagram against 549-708 with recvmmsg() when the datagrams arrive
 * coalesced (bench/udp_gro.c); without coalescing it only adds the copy.
 * Off by default.
 *
 * Keepalive wire format (12 bytes, never a valid FEC packet: FEC packets
 * start with their version, 1 or 2):
 *   0  4  magic "PDKA"
 *   4  1  version 1
 *   5  1  flags (0)
 *   6  2  reserved (0)
 *   8  4  instance id (big-endian, random, non-zero)
 *
 * Queues: a multi-queue gateway opens one port per queue.  All of them
 * bind the same local address with SO_REUSEPORT (reuseport_queues = N) and
 * the kernel hands each datagram to socket (source port mod N) of the
 * group, so one sender's datagrams always reach the same queue; queue i
 * sends from local port + i (tx_port), so the peer's kernel and ECMP on
 * the way spread the queues too; the peer accepts the span of source
 * ports (peer_port_span) as one peer.
 *
 * Functions return 0 or a negative errno; bursts return counts.  rx and tx
 * may run on two threads at once; each on one thread at a time.  Nothing
 * prints or exits.
 */
#ifndef PD_UDP_H
#define PD_UDP_H

#include <stdint.h>
#include <sys/socket.h>

#include "pkt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PD_UDP_KEEPALIVE_LEN 12
#define PD_UDP_SESSIONS 8     /* FEC session ids remembered per peer */

enum pd_udp_peer_state {
    PD_UDP_PEER_WAITING = 0,  /* nothing received from the peer yet */
    PD_UDP_PEER_UP = 1,       /* heard from within dead_ns */
    PD_UDP_PEER_DEAD = 2,     /* silent for dead_ns: keepalives go on */
};

typedef struct pd_udp_config {
    struct sockaddr_storage local;  /* bind address (port 0: any) */
    socklen_t local_len;
    struct sockaddr_storage peer;   /* where to send; same family as local */
    socklen_t peer_len;
    uint64_t keepalive_ns;    /* keepalive period (0: none) */
    uint64_t dead_ns;         /* silence after which the peer is dead (0: never) */
    int rcvbuf, sndbuf;       /* SO_RCVBUF/SO_SNDBUF bytes (0: kernel default) */
    int dont_fragment;        /* 1: DF set, path-MTU discovery (oversize: tx_oversize);
                                 0: the kernel fragments datagrams over the path MTU */
    int follow_peer;          /* follow a peer's proven address change */
    int gso;                  /* send runs of equal-length datagrams with UDP GSO
                                 (UDP_SEGMENT, Linux >= 4.18; see above) */
    int gro;                  /* receive with UDP_GRO (Linux >= 5.0; see above) */
    uint32_t instance_id;     /* keepalive id (0: random) */
    /* DSCP/ECN of a tunnel (RFC 2983 uniform model, RFC 6040 normal mode).
     * tx: the outer TOS / traffic class of a plain FEC source packet is its
     * inner IP packet's (DSCP and ECN copied); a repair packet gets the
     * highest DSCP of the source packets sent since the last repair packet
     * and Not-ECT; anything else (keepalives, secure envelopes, non-IP
     * frames) 0.  rx: every delivered datagram is followed by one byte, the
     * outer TOS / traffic class it arrived with (IP_RECVTOS /
     * IPV6_RECVTCLASS), for the FEC decoder stage ("none-tos"
     * encapsulation) to combine into the inner header (RFC 6040 4.2). */
    int tos;
    /* Multi-queue gateways (one port per queue, see "Queues" below): */
    uint16_t reuseport_queues; /* > 1: SO_REUSEPORT, and the group's sockets are
                                  chosen by the sender's UDP source port modulo
                                  this (a classic BPF program); 0/1: exclusive bind */
    uint16_t tx_port;         /* != 0: data and keepalives leave from a second
                                 socket bound to the local address and this port */
    uint16_t peer_port_span;  /* > 1: datagrams from the peer's address and ports
                                 peer..peer+span-1 are the peer's (a multi-queue
                                 peer); following moves is then off */
} pd_udp_config;

typedef struct pd_udp_stats {
    uint64_t rx_packets, rx_bytes;      /* datagrams delivered (keepalives not) */
    uint64_t tx_packets, tx_bytes;      /* datagrams sent (keepalives not) */
    uint64_t rx_nombuf;       /* receive skipped: pool empty (stays in the socket) */
    uint64_t rx_malformed;    /* empty, truncated (larger than a buffer) or bad keepalive */
    uint64_t rx_unknown_source; /* from an address not (proven to be) the peer's */
    uint64_t kernel_drops;    /* socket receive buffer overflows (SO_RXQ_OVFL) */
    uint64_t rx_coalesced;    /* datagrams that arrived coalesced (gro) */
    uint64_t tx_errors;       /* datagrams the kernel refused (freed), all reasons */
    uint64_t tx_oversize;     /*   of which EMSGSIZE: over the path MTU with DF */
    uint64_t tx_unreachable;  /*   of which no route / network or host unreachable */
    uint64_t tx_gso_sends;    /* sendmsg() calls that carried a GSO run */
    uint64_t keepalives_tx, keepalives_rx;
    uint64_t keepalive_errors; /* keepalives the kernel refused */
    uint64_t peer_changes;    /* proven address changes followed */
    uint64_t dead_events;     /* times the peer went from up to dead */
    uint64_t last_rx_age_ns;  /* since the peer was last heard (UINT64_MAX: never) */
    int peer_state;           /* enum pd_udp_peer_state */
} pd_udp_stats;

typedef struct pd_udp pd_udp;

/* Defaults: keepalive 1 s, dead after 5 s, follow the peer, DF off, GSO off,
 * 4 MiB buffers.  Addresses must be filled in. */
void pd_udp_config_init(pd_udp_config *cfg);

/* Open a socket bound to cfg->local.  Received datagrams go into packets of
 * `pool` (allocated through `ops`); tx_burst reads and frees packets
 * through `ops` too.  -EINVAL (bad config, family mismatch), -EADDRINUSE,
 * -EADDRNOTAVAIL, -ENOMEM or the errno of the failing call. */
int pd_udp_open(pd_udp **out, const pd_udp_config *cfg, const pd_pkt_ops *ops, void *pool);
void pd_udp_close(pd_udp *u);

/* Start discards what queued up while stopped; rx/tx do nothing when stopped. */
int pd_udp_start(pd_udp *u);
void pd_udp_stop(pd_udp *u);

/* Receive up to n datagrams (queue 0).  Also runs the keepalive and dead-peer
 * timers, so a pipeline polling it keeps them going. */
uint16_t pd_udp_rx_burst(pd_udp *u, uint16_t queue, pd_pkt **pkts, uint16_t n);
/* Send to the current peer.  Takes ownership of the first `returned`
 * packets: sent, or refused by the kernel (counted in tx_errors, freed);
 * stops early when the socket buffer is full (the caller keeps the rest). */
uint16_t pd_udp_tx_burst(pd_udp *u, uint16_t queue, pd_pkt **pkts, uint16_t n);

/* Wait up to timeout_ms for a datagram: 1 ready, 0 timeout, negative errno. */
int pd_udp_wait(pd_udp *u, int timeout_ms);
/* Run the timers now (what rx does on every call). */
void pd_udp_tick(pd_udp *u);

int pd_udp_stats_get(pd_udp *u, pd_udp_stats *out);
void pd_udp_stats_reset(pd_udp *u);

/* The bound local address and the current peer address. */
int pd_udp_local(const pd_udp *u, struct sockaddr_storage *out, socklen_t *len);
int pd_udp_peer(pd_udp *u, struct sockaddr_storage *out, socklen_t *len);
int pd_udp_fd(const pd_udp *u);
/* Turn cfg.tos on (1) or off (0) on an open port, before its pipeline runs:
 * 0 or the setsockopt errno. */
int pd_udp_set_tos(pd_udp *u, int on);
int pd_udp_get_tos(const pd_udp *u);
uint32_t pd_udp_instance_id(const pd_udp *u);

/* FEC v2 header check (docs/fec-format.md): 0 and the session id when
 * `p` starts with a version 2 header whose CRC-16/CCITT-FALSE is right and
 * whose session id is non-zero; -EINVAL otherwise. */
int pd_udp_fec_session(const uint8_t *p, uint32_t len, uint32_t *session);

void pd_udp_port_io(pd_udp *u, pd_port_io *io);

#ifdef __cplusplus
}
#endif
#endif /* PD_UDP_H */
