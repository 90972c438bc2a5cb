# Declarations of native/pipeline/clock.h.
from libc.stdint cimport uint64_t


cdef extern from "clock.h" nogil:
    uint64_t pd_clock_ns()
