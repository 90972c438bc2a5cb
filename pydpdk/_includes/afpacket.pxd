# Declarations of native/afpacket/afpacket.h: the native AF_PACKET port.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

from pydpdk._includes.buf cimport pd_buf_pool
from pydpdk._includes.pkt cimport pd_pkt, pd_pkt_ops, pd_port_io


cdef extern from "afpacket.h" nogil:
    enum:
        PD_AFP_TX_RING
        PD_AFP_TX_SENDMMSG
        PD_AFP_MAX_QUEUES
        PD_AFP_ZC_DEFAULT_HEADROOM

    ctypedef struct pd_afp_config:
        const char *ifname
        uint16_t nb_queues
        uint16_t fanout_mode
        uint32_t block_size
        uint32_t block_count
        uint32_t frame_size
        uint32_t block_timeout_ms
        uint32_t tx_frame_count
        int tx_mode
        int promiscuous
        int qdisc_bypass
        int zero_copy
        uint32_t zc_headroom
        int vnet_hdr

    ctypedef struct pd_afp_stats:
        uint64_t rx_packets, rx_bytes
        uint64_t tx_packets, tx_bytes
        uint64_t rx_nombuf
        uint64_t rx_malformed
        uint64_t tx_errors
        uint64_t kernel_packets
        uint64_t kernel_drops
        uint64_t ring_freezes
        uint64_t rx_gso_frames
        uint64_t rx_gso_segments
        uint64_t rx_gso_failed
        uint64_t rx_oversize

    ctypedef struct pd_afp:
        pass

    void pd_afp_config_init(pd_afp_config *cfg, const char *ifname)
    int pd_afp_open(pd_afp **out, const pd_afp_config *cfg, pd_buf_pool *pool)
    void pd_afp_close(pd_afp *afp)
    uint16_t pd_afp_tx_burst_ops(pd_afp *afp, uint16_t queue, pd_pkt **pkts, uint16_t n,
                                 const pd_pkt_ops *ops)
    uint32_t pd_afp_zc_held(const pd_afp *afp)
    uint32_t pd_afp_zc_blocks_held(const pd_afp *afp)
    uint32_t pd_afp_zc_capacity(const pd_afp *afp)
    uint32_t pd_afp_zc_headroom(const pd_afp *afp)
    const pd_pkt_ops pd_afp_zc_ops
    int pd_afp_start(pd_afp *afp)
    void pd_afp_stop(pd_afp *afp)
    int pd_afp_wait(pd_afp *afp, uint16_t queue, int timeout_ms)
    int pd_afp_error(pd_afp *afp)
    int pd_afp_check(pd_afp *afp)
    int pd_afp_stats_get(pd_afp *afp, int queue, pd_afp_stats *out)
    void pd_afp_stats_reset(pd_afp *afp)
    int pd_afp_ifindex(const pd_afp *afp)
    int pd_afp_mtu(const pd_afp *afp)
    int pd_afp_vnet_hdr(const pd_afp *afp)
    const uint8_t *pd_afp_mac(const pd_afp *afp)
    void pd_afp_port_io(pd_afp *afp, pd_port_io *io)
