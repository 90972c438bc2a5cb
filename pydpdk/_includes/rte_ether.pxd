# Declarations of rte_ether.h.
from libc.stdint cimport uint8_t


cdef extern from "rte_ether.h" nogil:
    enum:
        RTE_ETHER_ADDR_LEN
    struct rte_ether_addr:
        uint8_t addr_bytes[6]
