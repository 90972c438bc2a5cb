# Declarations of rte_errno.h.
cdef extern from "rte_errno.h" nogil:
    # A per-lcore variable behind a macro; reads as a plain int.
    int rte_errno
    const char *rte_strerror(int errnum)
