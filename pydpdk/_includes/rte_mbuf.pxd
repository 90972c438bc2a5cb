# Declarations of rte_mbuf.h / rte_mbuf_core.h (pool creation; packet access goes
# through pd_mbuf_ops in native/dpdk).
from libc.stdint cimport uint16_t

from pydpdk._includes.rte_mempool cimport rte_mempool


cdef extern from "rte_mbuf.h" nogil:
    enum:
        RTE_MBUF_DEFAULT_BUF_SIZE
        RTE_PKTMBUF_HEADROOM
    rte_mempool *rte_pktmbuf_pool_create(const char *name, unsigned int n,
                                         unsigned int cache_size, uint16_t priv_size,
                                         uint16_t data_room_size, int socket_id)
    uint16_t rte_pktmbuf_data_room_size(rte_mempool *mp)
