# Declarations of rte_pdump.h (librte_pdump: lets dpdk-pdump / dpdk-dumpcap
# capture this primary process's ports from a secondary process).
cdef extern from "rte_pdump.h" nogil:
    int rte_pdump_init()
    int rte_pdump_uninit()
