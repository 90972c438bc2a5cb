# Declarations of rte_lcore.h.
cdef extern from "rte_lcore.h" nogil:
    enum:
        RTE_MAX_LCORE
        LCORE_ID_ANY
    unsigned int rte_lcore_count()
    unsigned int rte_lcore_id()
    unsigned int rte_get_main_lcore()
    int rte_lcore_is_enabled(unsigned int lcore_id)
    unsigned int rte_lcore_to_socket_id(unsigned int lcore_id)
    int rte_lcore_to_cpu_id(int lcore_id)
    unsigned int rte_socket_count()
    int rte_socket_id_by_idx(unsigned int idx)
