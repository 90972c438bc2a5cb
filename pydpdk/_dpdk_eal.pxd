# EAL state shared with the other DPDK extensions.

cdef int require_eal() except -1

# True when the EAL is running and owned by this process (no exception, no GIL
# needed beyond what the caller holds): for __dealloc__ safety nets.
cdef bint eal_usable() noexcept

# pd_thread_attach of this extension's copy of native/dpdk (the one holding
# the thread state): the hook the other DPDK extensions install.
cdef int thread_attach() noexcept nogil
