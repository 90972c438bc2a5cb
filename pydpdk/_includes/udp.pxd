# Declarations of native/udp/udp.h: the UDP socket port.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

from pydpdk._includes.pkt cimport pd_pkt, pd_pkt_ops, pd_port_io


cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t

    cdef struct sockaddr_storage:
        unsigned short ss_family


cdef extern from "udp.h" nogil:
    enum:
        PD_UDP_KEEPALIVE_LEN
        PD_UDP_PEER_WAITING
        PD_UDP_PEER_UP
        PD_UDP_PEER_DEAD

    ctypedef struct pd_udp_config:
        sockaddr_storage local
        socklen_t local_len
        sockaddr_storage peer
        socklen_t peer_len
        uint64_t keepalive_ns
        uint64_t dead_ns
        int rcvbuf, sndbuf
        int dont_fragment
        int follow_peer
        int gso
        int gro
        uint32_t instance_id
        int tos
        uint16_t reuseport_queues
        uint16_t tx_port
        uint16_t peer_port_span

    ctypedef struct pd_udp_stats:
        uint64_t rx_packets, rx_bytes
        uint64_t tx_packets, tx_bytes
        uint64_t rx_nombuf
        uint64_t rx_malformed
        uint64_t rx_unknown_source
        uint64_t kernel_drops
        uint64_t rx_coalesced
        uint64_t tx_errors
        uint64_t tx_oversize
        uint64_t tx_unreachable
        uint64_t tx_gso_sends
        uint64_t keepalives_tx, keepalives_rx
        uint64_t keepalive_errors
        uint64_t peer_changes
        uint64_t dead_events
        uint64_t last_rx_age_ns
        int peer_state

    ctypedef struct pd_udp:
        pass

    void pd_udp_config_init(pd_udp_config *cfg)
    int pd_udp_open(pd_udp **out, const pd_udp_config *cfg, const pd_pkt_ops *ops, void *pool)
    void pd_udp_close(pd_udp *u)
    int pd_udp_start(pd_udp *u)
    void pd_udp_stop(pd_udp *u)
    int pd_udp_wait(pd_udp *u, int timeout_ms)
    void pd_udp_tick(pd_udp *u)
    int pd_udp_stats_get(pd_udp *u, pd_udp_stats *out)
    void pd_udp_stats_reset(pd_udp *u)
    int pd_udp_local(const pd_udp *u, sockaddr_storage *out, socklen_t *len)
    int pd_udp_peer(pd_udp *u, sockaddr_storage *out, socklen_t *len)
    int pd_udp_fd(const pd_udp *u)
    int pd_udp_set_tos(pd_udp *u, int on)
    int pd_udp_get_tos(const pd_udp *u)
    uint32_t pd_udp_instance_id(const pd_udp *u)
    int pd_udp_fec_session(const uint8_t *p, uint32_t len, uint32_t *session)
    void pd_udp_port_io(pd_udp *u, pd_port_io *io)
