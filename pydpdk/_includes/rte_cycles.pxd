# Declarations of rte_cycles.h.
from libc.stdint cimport uint64_t


cdef extern from "rte_cycles.h" nogil:
    uint64_t rte_get_tsc_cycles()
    uint64_t rte_get_tsc_hz()
