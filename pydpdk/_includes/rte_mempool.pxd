# Declarations of rte_mempool.h (pool counts only; pools are created as pktmbuf pools).
cdef extern from "rte_mempool.h" nogil:
    struct rte_mempool:
        unsigned int size
        unsigned int cache_size

    unsigned int rte_mempool_avail_count(const rte_mempool *mp)
    unsigned int rte_mempool_in_use_count(const rte_mempool *mp)
    void rte_mempool_free(rte_mempool *mp)
