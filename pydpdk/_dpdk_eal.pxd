# EAL state shared with the other DPDK extensions.

cdef int require_eal() except -1
