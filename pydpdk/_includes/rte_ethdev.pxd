# Declarations of rte_ethdev.h (only the stable fields pydpdk uses; fields that
# differ between DPDK releases are read through native/dpdk/pd_dpdk.h).
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

from pydpdk._includes.rte_ether cimport rte_ether_addr
from pydpdk._includes.rte_mempool cimport rte_mempool


cdef extern from "rte_ethdev.h" nogil:
    enum:
        RTE_MAX_ETHPORTS
        RTE_ETH_NAME_MAX_LEN
        RTE_ETH_XSTATS_NAME_SIZE
        RTE_ETH_LINK_UP
        RTE_ETH_LINK_FULL_DUPLEX

    enum rte_eth_rx_mq_mode:
        RTE_ETH_MQ_RX_NONE
        RTE_ETH_MQ_RX_RSS

    # RSS hash types (uint64 bit flags).
    enum:
        RTE_ETH_RSS_IPV4
        RTE_ETH_RSS_NONFRAG_IPV4_TCP
        RTE_ETH_RSS_NONFRAG_IPV4_UDP
        RTE_ETH_RSS_IPV6
        RTE_ETH_RSS_NONFRAG_IPV6_TCP
        RTE_ETH_RSS_NONFRAG_IPV6_UDP
        RTE_ETH_RSS_IP
        RTE_ETH_RSS_TCP
        RTE_ETH_RSS_UDP
        RTE_ETH_RSS_ETH

    struct rte_eth_rxmode:
        rte_eth_rx_mq_mode mq_mode
        uint32_t mtu

    struct rte_eth_rss_conf:
        uint8_t *rss_key
        uint8_t rss_key_len
        uint64_t rss_hf

    struct rte_eth_rx_adv_conf:
        rte_eth_rss_conf rss_conf

    struct rte_eth_conf:
        rte_eth_rxmode rxmode
        rte_eth_rx_adv_conf rx_adv_conf

    struct rte_eth_rxconf:
        pass

    struct rte_eth_txconf:
        pass

    struct rte_eth_link:
        uint32_t link_speed
        uint16_t link_duplex
        uint16_t link_autoneg
        uint16_t link_status

    struct rte_eth_stats:
        uint64_t ipackets
        uint64_t opackets
        uint64_t ibytes
        uint64_t obytes
        uint64_t imissed
        uint64_t ierrors
        uint64_t oerrors
        uint64_t rx_nombuf

    struct rte_eth_xstat:
        uint64_t id
        uint64_t value

    struct rte_eth_xstat_name:
        char name[64]

    uint16_t rte_eth_dev_count_avail()
    int rte_eth_dev_is_valid_port(uint16_t port_id)
    int rte_eth_dev_get_port_by_name(const char *name, uint16_t *port_id)
    int rte_eth_dev_get_name_by_port(uint16_t port_id, char *name)
    int rte_eth_dev_socket_id(uint16_t port_id)
    int rte_eth_dev_configure(uint16_t port_id, uint16_t nb_rx_queue, uint16_t nb_tx_queue,
                              const rte_eth_conf *eth_conf)
    int rte_eth_dev_adjust_nb_rx_tx_desc(uint16_t port_id, uint16_t *nb_rx_desc,
                                         uint16_t *nb_tx_desc)
    int rte_eth_rx_queue_setup(uint16_t port_id, uint16_t rx_queue_id, uint16_t nb_rx_desc,
                               unsigned int socket_id, const rte_eth_rxconf *rx_conf,
                               rte_mempool *mb_pool)
    int rte_eth_tx_queue_setup(uint16_t port_id, uint16_t tx_queue_id, uint16_t nb_tx_desc,
                               unsigned int socket_id, const rte_eth_txconf *tx_conf)
    int rte_eth_dev_start(uint16_t port_id)
    int rte_eth_dev_stop(uint16_t port_id)
    int rte_eth_dev_close(uint16_t port_id)
    int rte_eth_promiscuous_enable(uint16_t port_id)
    int rte_eth_promiscuous_disable(uint16_t port_id)
    int rte_eth_promiscuous_get(uint16_t port_id)
    int rte_eth_link_get_nowait(uint16_t port_id, rte_eth_link *link)
    int rte_eth_macaddr_get(uint16_t port_id, rte_ether_addr *mac_addr)
    int rte_eth_dev_get_mtu(uint16_t port_id, uint16_t *mtu)
    int rte_eth_dev_set_mtu(uint16_t port_id, uint16_t mtu)
    int rte_eth_stats_get(uint16_t port_id, rte_eth_stats *stats)
    int rte_eth_stats_reset(uint16_t port_id)
    int rte_eth_xstats_get_names(uint16_t port_id, rte_eth_xstat_name *xstats_names,
                                 unsigned int size)
    int rte_eth_xstats_get(uint16_t port_id, rte_eth_xstat *xstats, unsigned int n)
    int rte_eth_xstats_reset(uint16_t port_id)
