# Declarations of rte_version.h.
cdef extern from "rte_version.h" nogil:
    const char *rte_version()
