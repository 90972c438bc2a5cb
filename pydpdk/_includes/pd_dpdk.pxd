# Declarations of native/dpdk/pd_dpdk.h: pydpdk's thin C shim over DPDK.
from libc.stdint cimport uint16_t, uint32_t, uint64_t, uint8_t

from pydpdk._includes.pkt cimport pd_pkt_ops, pd_port_io
from pydpdk._includes.rte_mempool cimport rte_mempool


cdef extern from "pd_dpdk.h" nogil:
    const pd_pkt_ops pd_mbuf_ops
    int pd_dpdk_port_io(pd_port_io *io, uint16_t port_id, rte_mempool *mp)
    void pd_dpdk_rx_chain_stats(uint16_t port_id, uint64_t *linearized, uint64_t *dropped)
    void pd_dpdk_rx_chain_stats_reset(uint16_t port_id)

    enum:
        PD_FWD_MAX_LINKS

    struct pd_fwd_link:
        uint16_t rx_port
        uint16_t rx_queue
        uint16_t tx_port
        uint16_t tx_queue

    struct pd_fwd_config:
        pd_fwd_link links[8]
        unsigned int n_links
        uint16_t burst
        uint64_t max_packets
        uint64_t deadline_tsc

    struct pd_fwd_counters:
        uint64_t rx_packets
        uint64_t tx_packets
        uint64_t dropped
        uint64_t rx_bursts
        uint64_t polls

    enum pd_fwd_status:
        PD_FWD_SLICE_DONE
        PD_FWD_COUNT_REACHED
        PD_FWD_DEADLINE
        PD_FWD_QUIT

    int pd_fwd_validate(const pd_fwd_config *cfg)
    int pd_fwd_run(const pd_fwd_config *cfg, pd_fwd_counters *counters,
                   const volatile int *quit, uint64_t slice_tsc)

    int pd_dpdk_log_capture_begin()
    size_t pd_dpdk_log_capture_end(char *buf, size_t len)
    int pd_dpdk_eal_init(int argc, char **argv)

    struct pd_dpdk_dev_info:
        char driver[64]
        uint16_t max_rx_queues
        uint16_t max_tx_queues
        uint16_t rx_desc_max
        uint16_t tx_desc_max
        uint32_t min_mtu
        uint32_t max_mtu
        uint32_t min_rx_bufsize
        uint32_t max_rx_bufsize
        uint32_t max_rx_pktlen
        uint64_t rx_offload_capa
        uint64_t tx_offload_capa
        uint64_t flow_type_rss_offloads
        uint16_t reta_size
        uint8_t hash_key_size
        int socket_id
        uint32_t if_index

    int pd_dpdk_get_dev_info(uint16_t port_id, pd_dpdk_dev_info *info)
    int pd_dpdk_ring_pair(const char *name_a, const char *name_b, unsigned int depth,
                          uint16_t *port_a, uint16_t *port_b)
    int pd_dpdk_ring_pair_free(const char *name_a, const char *name_b)
