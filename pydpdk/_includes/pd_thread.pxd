# Declarations of native/dpdk/pd_thread.h: lcore identity for non-EAL threads.
from libc.stdint cimport uint64_t


cdef extern from "pd_thread.h" nogil:
    ctypedef int (*pd_thread_hook_fn)() noexcept nogil

    int pd_thread_attach()
    int pd_thread_detach()
    void pd_thread_set_hook(pd_thread_hook_fn fn)
    void pd_thread_enable(int on)
    int pd_thread_enabled()
    void pd_thread_eal_gone()

    struct pd_thread_stats:
        uint64_t registered
        uint64_t unregistered
        uint64_t failed
        uint64_t live

    void pd_thread_get_stats(pd_thread_stats *st)
    unsigned int pd_thread_lcore_id()
    unsigned int pd_thread_cache_len(void *mp)
