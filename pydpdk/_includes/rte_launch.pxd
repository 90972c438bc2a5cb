# Declarations of rte_launch.h: running functions on worker lcores.
cdef extern from "rte_launch.h" nogil:
    # a function type (not a pointer) in DPDK
    ctypedef int lcore_function_t(void *arg)

    int rte_eal_remote_launch(lcore_function_t *f, void *arg, unsigned int worker_id)
    int rte_eal_wait_lcore(unsigned int worker_id)
