from pydpdk._burst cimport PacketPool
from pydpdk._includes.rte_mempool cimport rte_mempool


cdef class Mempool(PacketPool):
    cdef rte_mempool *mp
    cdef readonly str name
    """The mempool's DPDK name (str, at most 25 bytes)."""
    # (weak references: Handle has __weakref__)
