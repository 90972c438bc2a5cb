# The native (non-DPDK) packet pool, shared by the native port extensions.
from pydpdk._burst cimport PacketPool
from pydpdk._includes.buf cimport pd_buf_pool


cdef class BufferPool(PacketPool):
    cdef pd_buf_pool *bp
