# cython: language_level=3
"""DPDK pktmbuf pools (private): Mempool is the DPDK PacketPool."""

import errno
import itertools
import os
import warnings

from libc.stdint cimport uint16_t

from pydpdk._burst cimport PacketPool
from pydpdk._handle cimport raise_busy
from pydpdk._dpdk_eal cimport eal_usable, require_eal, thread_attach
from pydpdk._includes.pd_dpdk cimport pd_mbuf_ops
from pydpdk._includes.pd_thread cimport pd_thread_cache_len, pd_thread_set_hook
from pydpdk._includes.rte_errno cimport rte_errno, rte_strerror
from pydpdk._includes.rte_mbuf cimport (
    RTE_MBUF_DEFAULT_BUF_SIZE,
    RTE_PKTMBUF_HEADROOM,
    rte_pktmbuf_data_room_size,
    rte_pktmbuf_pool_create,
)
from pydpdk._includes.rte_mempool cimport (
    rte_mempool_avail_count,
    rte_mempool_free,
    rte_mempool_in_use_count,
)

from pydpdk import _dpdk_eal
from pydpdk.errors import PoolError, error_from_errno

DEFAULT_DATA_ROOM = RTE_MBUF_DEFAULT_BUF_SIZE
HEADROOM = RTE_PKTMBUF_HEADROOM
_names = itertools.count()

# A plain thread allocating or freeing mbufs through this extension's
# pd_mbuf_ops gets an lcore id (and the pools' per-lcore caches) on first use.
pd_thread_set_hook(thread_attach)


cdef class Mempool(PacketPool):
    """A DPDK pktmbuf pool: *size* mbufs of *data_room* bytes (headroom included).

    ``available``/``in_use`` count mbufs in the pool (per-lcore caches
    included) and out of it (in bursts, device rings).  ``close()`` is refused
    (PoolError, EBUSY) while mbufs are out, a Port is open on the pool or a
    pipeline using it runs; deferred while idle pipeline elements hold it
    (see PacketPool); it runs automatically when the EAL is torn down.  A pool
    garbage-collected with mbufs still out is left allocated (they may sit
    in another pool's port).  Thread-safe (DPDK mempools are multi-producer,
    multi-consumer).  Unusable in a forked child (ForkedChildError).
    Created with ``rte_pktmbuf_pool_create``.

    Parameters
    ----------
    size : int, default 8191
        Number of mbufs (2**n - 1 uses memory best).
    cache_size : int, default 256
        Per-lcore cache in mbufs, at most 512 and ``size / 1.5``.
    data_room : int, default RTE_MBUF_DEFAULT_BUF_SIZE (2176)
        Buffer bytes per mbuf including the headroom
        (``RTE_PKTMBUF_HEADROOM``, 128), up to 65535.
    socket : int, default -1
        NUMA socket to allocate on (-1: any, ``SOCKET_ID_ANY``).
    name : str, optional
        DPDK name, at most 25 bytes (default ``pd<pid>_<n>``).

    Raises
    ------
    ValueError
        *size* is 0, or *data_room*, *cache_size* or *name* out of range.
    PoolError
        DPDK could not create the pool (``rte_errno``: ENOMEM, EEXIST for a
        name in use, ...).
    EalStateError
        The EAL is not running in this process.
    """

    def __cinit__(self):
        self.mp = NULL

    def __init__(self, unsigned int size=8191, *, unsigned int cache_size=256,
                 unsigned int data_room=RTE_MBUF_DEFAULT_BUF_SIZE, int socket=-1,
                 str name=None):
        require_eal()
        if self.mp != NULL:
            raise PoolError(errno.EEXIST, f"{self!r} is already created")
        if size == 0:
            raise ValueError("size must be > 0")
        if data_room <= RTE_PKTMBUF_HEADROOM or data_room > 0xFFFF:
            raise ValueError(f"data_room must be between {RTE_PKTMBUF_HEADROOM + 1} and "
                             f"65535 bytes (it includes {RTE_PKTMBUF_HEADROOM} of headroom), "
                             f"got {data_room}")
        if cache_size > 512 or cache_size > size // 1.5:
            raise ValueError(f"cache_size {cache_size} too large for {size} mbufs "
                             "(DPDK allows at most 512 and size / 1.5)")
        if name is None:
            name = f"pd{os.getpid() % 100000}_{next(_names)}"
        cdef bytes raw = name.encode()
        if len(raw) >= 26:
            raise ValueError(f"pool name {name!r} is too long (max 25 bytes)")
        self.mp = rte_pktmbuf_pool_create(raw, size, cache_size, 0, <uint16_t>data_room,
                                          socket)
        if self.mp == NULL:
            err = rte_errno
            raise error_from_errno(err, f"cannot create mempool {name!r} of {size} mbufs",
                                   PoolError, rte_strerror(err).decode())
        self.name = name
        self.pool = self.mp
        self.ops = &pd_mbuf_ops
        _dpdk_eal.register(self)

    def _thread_cache_len(self):
        """mbufs in the calling thread's per-lcore cache of this pool (0 on a
        thread without an lcore id): tests and diagnostics."""
        if self.mp == NULL or not eal_usable():
            return 0
        return pd_thread_cache_len(self.mp)

    @property
    def capacity(self):
        """Number of mbufs the pool was created with (int); PoolError once closed."""
        self.check_open()
        return self.mp.size

    @property
    def available(self):
        """Mbufs in the pool, per-lcore caches included (int, ``rte_mempool_avail_count``).

        PoolError once closed.
        """
        self.check_open()
        return rte_mempool_avail_count(self.mp)

    @property
    def in_use(self):
        """Mbufs out of the pool: bursts, device rings (int, ``rte_mempool_in_use_count``).

        PoolError once closed.
        """
        self.check_open()
        return rte_mempool_in_use_count(self.mp)

    @property
    def data_room(self):
        """Buffer bytes per mbuf, headroom included (int); PoolError once closed."""
        self.check_open()
        return rte_pktmbuf_data_room_size(self.mp)

    def close(self):
        """Free the pool (``rte_mempool_free``).  Idempotent.

        Deferred while only idle pipeline elements hold the pool (see
        PacketPool).

        Raises
        ------
        PoolError
            Mbufs are out of the pool, or a port or running pipeline uses it
            (EBUSY).
        ForkedChildError
            The pool was created by the parent of this forked process.
        """
        cdef unsigned int out
        if self.mp == NULL or self.deferred:
            return
        self.check_closable()
        out = rte_mempool_in_use_count(self.mp)
        if out:
            raise_busy(self, f"cannot close: {out} mbuf(s) still in use (free or send "
                             "every Burst first)")
        if self.defer_close():
            return              # freed by __dealloc__ when the last element goes
        rte_mempool_free(self.mp)
        self.mp = NULL
        self.pool = NULL
        self.closed = True

    def __dealloc__(self):
        # Safety net: nothing references an unreachable pool (bursts and ports
        # keep theirs alive), so its mbufs are home and it can be freed.
        if self.mp == NULL or not eal_usable():
            return
        if rte_mempool_in_use_count(self.mp) == 0:
            rte_mempool_free(self.mp)
        self.mp = NULL
        self.pool = NULL
        if self.deferred:
            return              # close() was called; only the free was left
        warnings.warn(f"Mempool {self.name!r} garbage-collected without close()",
                      ResourceWarning)

    def _abandon(self):
        # Forked child or failed teardown: forget the pool without touching it.
        self.mp = NULL
        self.pool = NULL
        self.closed = True

    def __repr__(self):
        if self.mp == NULL or self.pool == NULL:
            return f"<Mempool {self.name!r} closed>"
        return (f"<Mempool {self.name!r} {rte_mempool_avail_count(self.mp)}/{self.mp.size} "
                "available>")
