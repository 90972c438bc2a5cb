# Declarations of rte_eal.h (only what pydpdk uses).
cdef extern from "rte_eal.h" nogil:
    int rte_eal_cleanup()
    int rte_eal_has_hugepages()
    int rte_eal_has_pci()
