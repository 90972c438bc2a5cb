# Declarations of native/net/net.h: interface MTU and offload query.
from libc.stdint cimport uint32_t


cdef extern from "net.h" nogil:
    enum:
        PD_NET_OFF_TSO
        PD_NET_OFF_TSO6
        PD_NET_OFF_GSO
        PD_NET_OFF_GRO
        PD_NET_OFF_LRO
        PD_NET_OFF_TXCSUM
        PD_NET_OFF_RXCSUM
        PD_NET_OFF_USO

    ctypedef struct pd_net_ifinfo:
        int mtu
        uint32_t offloads
        uint32_t known

    int pd_net_ifinfo_get(const char *ifname, pd_net_ifinfo *out)
