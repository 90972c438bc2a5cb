# The backend-neutral burst core: pools, bursts, packets and the port base.
#
# Other extensions cimport these classes: a backend subclasses PacketPool and
# PortBase, fills in `ops`/`pool`/`io`, and gets the whole Python burst API
# (indexing, zero-copy views, numpy header views, ownership checks) for free.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from cpython.ref cimport PyObject


from pydpdk._includes.pkt cimport PD_BURST_MAX, pd_pkt, pd_pkt_ops, pd_port_io
from pydpdk._handle cimport Handle, fork_epoch, raise_forked


# Lifecycle (docs/architecture.md, "Lifecycle"): pools and ports are
# pydpdk._handle.Handle subclasses; fork_epoch()/raise_forked() come from there.
# Refuse (ResourceLimitError) a request of `nbytes` of memory beyond what the
# machine has available (/proc/meminfo MemAvailable, see memory_limit()).
cdef int check_memory(double nbytes, str what) except -1
# Hold *pool* for an owner (port, pipeline element) through a reference the
# GC does not traverse; release_held() undoes it (safe on NULL and twice).
cdef int take_hold(PyObject **slot, PacketPool pool) except -1
cdef void release_held(PyObject **slot) noexcept


# Per-queue serialisation of a port's rx or tx queues (see PortBase).
cdef struct queue_locks:
    unsigned int n
    void *mutexes          # pthread_mutex_t[n]
    int *claims            # native loops using the queue (0 or 1)


cdef class PacketPool(Handle):
    # Backend pool pointer and the ops that interpret its handles.  Set by the
    # subclass before the pool is used; NULL `pool` means closed.
    cdef void *pool
    cdef const pd_pkt_ops *ops
    # Ports and pipeline elements that keep pointers into the pool
    # (hold()/unhold(), under the GIL), and of them the ones using it now:
    # open ports and running pipelines.  close() is refused while users > 0,
    # and deferred (pool marked closed, memory freed by the finaliser once
    # the last holder lets go) while only idle holders remain.
    cdef Py_ssize_t holders
    cdef Py_ssize_t users
    cdef bint deferred

    cdef int hold(self) except -1
    cdef void unhold(self) noexcept
    cdef int check_open(self) except -1
    cdef int check_closable(self) except -1
    cdef bint defer_close(self) noexcept
    cdef Burst alloc(self, unsigned int n, uint32_t length)


cdef class Burst:
    # PD_BURST_MAX handle slots, the first `count` owned (recycled array: see
    # Burst.empty; NULL only on a Burst made without a factory, then count is 0).
    cdef pd_pkt **pkts
    cdef unsigned int count
    cdef const pd_pkt_ops *ops
    cdef PacketPool pool
    # Bumped on every ownership change (tx, free); Packets of older
    # generations are stale.
    cdef uint64_t generation
    # Live buffer exports (memoryviews) of this burst's packets.
    cdef Py_ssize_t exports
    # True while a port sends it with the GIL released: another thread must
    # not free, resize or view its packets meanwhile.
    cdef bint busy

    @staticmethod
    cdef Burst empty(PacketPool pool)

    @staticmethod
    cdef Burst wrap(PacketPool pool, pd_pkt **pkts, unsigned int n)

    cdef bint forked(self) noexcept
    cdef int check_movable(self) except -1
    cdef void consume_front(self, unsigned int k) noexcept
    cdef void release_all(self) noexcept
    # Copy the first `width` bytes of each packet to/from row i of a
    # (count, width) C array; short packets are zero-padded / keep their length.
    cdef void gather(self, uint8_t *dst, Py_ssize_t width) noexcept nogil
    cdef void scatter(self, const uint8_t *src, Py_ssize_t width) noexcept nogil


cdef class Packet:
    cdef Burst burst
    cdef unsigned int index
    cdef uint64_t generation
    # Shape handed out with buffer exports (must outlive them).
    cdef Py_ssize_t view_shape[1]

    cdef pd_pkt *handle(self) except NULL
    cdef int check_resizable(self) except -1
    cdef int grow(self, data, bint at_front) except -1


cdef class PortBase(Handle):
    # Filled in by the backend: rx/tx callable without the GIL.
    cdef pd_port_io io
    # The pool rx allocates from (keeps it alive as long as the port).
    cdef PacketPool rx_pool
    cdef uint16_t n_rx_queues
    cdef uint16_t n_tx_queues
    cdef bint started
    # Handle.busy counts the calls using `io` without the GIL right now (rx/tx
    # bursts, native loops): stop/close are refused while it is non-zero.
    # Native loops that poll `io` must increment it for their duration.
    # The pool held (PacketPool.hold) since hold_pool(); released by close().
    # A strong reference the garbage collector does not see, so a cycle
    # through the port cannot clear it before __dealloc__ lets go of the hold.
    cdef PyObject *held_pool
    cdef bint using_pool
    cdef queue_locks rx_locks
    cdef queue_locks tx_locks

    cdef int hold_pool(self, PacketPool pool) except -1
    cdef void release_pool(self) noexcept
    # A native loop takes a queue for its whole run: burst calls on it from
    # Python then raise ConcurrentUseError, a second claim too.
    cdef int claim_queue(self, bint tx, int queue) except -1
    cdef void unclaim_queue(self, bint tx, int queue) noexcept
    cdef int check_usable(self) except -1
    cdef int check_rx_queue(self, int queue) except -1
    cdef int check_tx_queue(self, int queue) except -1
    cdef int lock_tx(self, int queue, Burst burst) except -1
    cdef void unlock_tx(self, int queue, Burst burst) noexcept
    # tx_burst left packets unsent: a subclass raises if its device failed.
    cdef int tx_incomplete(self, int queue) except -1
