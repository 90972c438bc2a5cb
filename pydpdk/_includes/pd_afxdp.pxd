# Declarations of native/dpdk/pd_afxdp.h: workarounds for DPDK 22.11's net_af_xdp.
from libc.stdint cimport uint16_t, uint64_t

from pydpdk._includes.rte_mempool cimport rte_mempool


cdef extern from "pd_afxdp.h" nogil:
    ctypedef struct pd_afxdp_rx_copy:
        pass

    rte_mempool *pd_afxdp_pool_create(const char *name, unsigned int n, int socket, int *err)
    unsigned int pd_afxdp_pool_free(rte_mempool *mp)
    int pd_afxdp_rx_copy_add(uint16_t port_id, uint16_t queue, rte_mempool *to,
                             pd_afxdp_rx_copy **out)
    int pd_afxdp_rx_copy_remove(pd_afxdp_rx_copy *c)
    void pd_afxdp_rx_copy_stats(const pd_afxdp_rx_copy *c, uint64_t *nombuf,
                                uint64_t *oversize)
    int pd_afxdp_sockets(int *fds, uint64_t *inodes, int max)
    int pd_afxdp_close_socket(int fd, uint64_t inode)
    int pd_afxdp_quiet_libs()
