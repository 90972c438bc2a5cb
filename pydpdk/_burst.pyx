# cython: language_level=3, boundscheck=False, wraparound=False
"""Backend-neutral burst core: PacketPool, Burst, Packet, PortBase.

A Burst owns up to PD_BURST_MAX opaque packet handles (pd_pkt *) plus the
ops table that knows what they are (DPDK mbufs, native buffers, ...).  All
per-packet work is done in C over the handle array; Python sees bursts.

Ownership rules (docs/architecture.md): a packet is owned by exactly one of
{device, pool, Burst}.  Every ownership change of a Burst (tx, free) bumps
its generation, which makes Packet objects taken before it stale.  While a
memoryview of one of its packets is alive the burst refuses to move its
packets (BufferError), so a view never outlives the memory it points to.

LoopbackPort is an in-memory port over any pool (the native BufferPool of
pydpdk._native, a DPDK mempool): what is sent on a queue is received on it.

Lifecycle, threads and fork (docs/architecture.md): a pool's close() is
refused while packets are out of it or a port/pipeline element holds it; a
pool dropped by the garbage collector with packets still out (in another
pool's port, say) keeps its memory until the last one comes home.  Pools and
ports are thread-safe (a port serialises each queue); bursts and packets are
not (a burst being sent raises on use from another thread).  After fork()
everything made before it raises ForkedChildError in the child, and its
finalisers do nothing there.  Pools and ports are pydpdk._handle.Handle
subclasses: one closed state, ClosedError (EBADF) once closed, BusyError
(EBUSY) for a close/stop refused while in use.
"""

import errno
import gc
import warnings

cimport cython

import numpy as np

from cpython.buffer cimport (
    PyBUF_C_CONTIGUOUS,
    PyBUF_FORMAT,
    PyBUF_WRITABLE,
    PyBuffer_Release,
    PyObject_GetBuffer,
)
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.ref cimport Py_DECREF, Py_INCREF, PyObject
from libc.stdint cimport uint8_t, uint16_t, uint32_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memmove, memset

from pydpdk._handle cimport raise_busy, raise_closed
from pydpdk._includes.loopback cimport (
    PD_LOOPBACK_MAX_QUEUES,
    pd_loopback,
    pd_loopback_create,
    pd_loopback_free,
    pd_loopback_port_io,
    pd_loopback_queued,
    pd_loopback_stats,
    pd_loopback_stats_get,
)
from pydpdk._includes.pkt cimport PD_BURST_MAX, pd_pkt, pd_port_io_sends, pd_port_io_tx

from pydpdk.errors import (
    ConcurrentUseError,
    PacketStateError,
    PoolError,
    PortError,
    ResourceLimitError,
)

BURST_MAX = PD_BURST_MAX


cdef extern from "<pthread.h>" nogil:
    ctypedef struct pthread_mutex_t:
        pass
    int pthread_mutex_init(pthread_mutex_t *m, const void *attr)
    int pthread_mutex_destroy(pthread_mutex_t *m)
    int pthread_mutex_lock(pthread_mutex_t *m)
    int pthread_mutex_trylock(pthread_mutex_t *m)
    int pthread_mutex_unlock(pthread_mutex_t *m)


# ---- fork ------------------------------------------------------------------
# fork_epoch() and raise_forked() live in pydpdk._handle (cimported by the
# .pxd): one counter for every extension.


# ---- memory limits ---------------------------------------------------------

# Share of MemAvailable one request may take: the rest stays for the kernel,
# this process's other allocations and the rest of the machine.
MEMORY_FRACTION = 0.75


def memory_limit():
    """Largest single allocation pydpdk asks for, in bytes.

    ``MEMORY_FRACTION`` of ``MemAvailable`` in /proc/meminfo (what the kernel
    can hand out without swapping); None where that cannot be read.
    """
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(int(line.split()[1]) * 1024 * MEMORY_FRACTION)
    except (OSError, ValueError, IndexError):
        pass
    return None


cdef int check_memory(double nbytes, str what) except -1:
    limit = memory_limit()
    if limit is not None and nbytes > limit:
        raise ResourceLimitError(
            errno.ENOMEM, f"{what} needs {nbytes / 2**20:.0f} MiB, more than the limit of "
                          f"{limit / 2**20:.0f} MiB ({MEMORY_FRACTION:.0%} of MemAvailable in "
                          "/proc/meminfo)")
    return 0


# ---- holds: a pool in use by a port or pipeline element --------------------

cdef int take_hold(PyObject **slot, PacketPool pool) except -1:
    if slot[0] == <PyObject *>pool:
        return 0
    pool.hold()
    release_held(slot)
    Py_INCREF(pool)
    slot[0] = <PyObject *>pool
    return 0


cdef void release_held(PyObject **slot) noexcept:
    cdef PyObject *held = slot[0]
    if held == NULL:
        return
    slot[0] = NULL
    if not (<PacketPool>held).forked():
        (<PacketPool>held).unhold()
    Py_DECREF(<object>held)


# ---- per-queue locks -------------------------------------------------------

cdef int queue_locks_init(queue_locks *ql, unsigned int n) except -1:
    cdef unsigned int i
    cdef pthread_mutex_t *m
    if ql.mutexes != NULL or n == 0:
        return 0
    m = <pthread_mutex_t *>calloc(n, sizeof(pthread_mutex_t))
    ql.claims = <int *>calloc(n, sizeof(int))
    if m == NULL or ql.claims == NULL:
        free(m)
        free(ql.claims)
        ql.claims = NULL
        raise MemoryError()
    for i in range(n):
        pthread_mutex_init(&m[i], NULL)
    ql.mutexes = m
    ql.n = n
    return 0


cdef void queue_locks_free(queue_locks *ql) noexcept:
    cdef unsigned int i
    cdef pthread_mutex_t *m = <pthread_mutex_t *>ql.mutexes
    if m != NULL:
        for i in range(ql.n):
            pthread_mutex_destroy(&m[i])
    free(m)
    free(ql.claims)
    ql.mutexes = NULL
    ql.claims = NULL
    ql.n = 0


cdef inline pthread_mutex_t *queue_mutex(queue_locks *ql, int queue) noexcept nogil:
    return &(<pthread_mutex_t *>ql.mutexes)[queue]


cdef int lock_queue(PortBase port, queue_locks *ql, int queue, bint tx) except -1:
    """Take the queue's mutex (waiting without the GIL); EBUSY if a loop owns it."""
    cdef pthread_mutex_t *m
    queue_locks_init(ql, port.n_tx_queues if tx else port.n_rx_queues)
    m = queue_mutex(ql, queue)
    if pthread_mutex_trylock(m) != 0:
        with nogil:
            pthread_mutex_lock(m)
    # Read under the mutex: claim_queue sets it and then passes the mutex.
    if ql.claims[queue]:
        pthread_mutex_unlock(m)
        raise_claimed(port, queue, tx)
    return 0


cdef int raise_claimed(PortBase port, int queue, bint tx) except -1:
    raise ConcurrentUseError(errno.EBUSY, f"{'tx' if tx else 'rx'} queue {queue} of "
                                          f"{port!r} is used by a running native loop "
                                          "(pipeline or forward); stop it first")


cdef extern from "Python.h":
    ctypedef struct PyInterpreterState:
        pass
    ctypedef struct PyThreadState:
        pass
    PyInterpreterState *PyInterpreterState_Get()
    PyThreadState *PyInterpreterState_ThreadHead(PyInterpreterState *interp)
    PyThreadState *PyThreadState_Next(PyThreadState *tstate)
    PyThreadState *PyEval_SaveThread()
    void PyEval_RestoreThread(PyThreadState *tstate)


cdef inline bint python_alone() noexcept:
    """Whether the calling thread is the interpreter's only Python thread.
    Asked with the GIL held, the answer holds until the GIL is released: a
    new Python thread needs the GIL to run."""
    cdef PyThreadState *head = PyInterpreterState_ThreadHead(PyInterpreterState_Get())
    return head != NULL and PyThreadState_Next(head) == NULL


cdef inline PyThreadState *release_gil_if_wanted() noexcept:
    """Release the GIL around a burst call when another Python thread exists
    to take it (returns the state to restore, else NULL): alone, releasing
    and retaking it only costs (about 6 % of a Python rx+tx pair at burst
    32).  Decided with the GIL held, so no Python thread can appear
    meanwhile; one started by C code during the call waits one burst."""
    if python_alone():
        return NULL
    return PyEval_SaveThread()


cdef inline void restore_gil(PyThreadState *state) noexcept:
    if state != NULL:
        PyEval_RestoreThread(state)


cdef inline int check_burst_size(Py_ssize_t n, str what) except -1:
    if n < 1 or n > PD_BURST_MAX:
        raise ValueError(f"{what} must be between 1 and {PD_BURST_MAX}, got {n}")
    return 0


cdef int get_rows(object rows, Py_buffer *view, int flags) except -1:
    """C-contiguous 2-D byte array -> buffer view (released by the caller)."""
    PyObject_GetBuffer(rows, view, flags | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)
    if view.ndim != 2 or view.itemsize != 1:
        PyBuffer_Release(view)
        raise ValueError("expected a C-contiguous 2-D uint8 array (rows, nbytes)")
    return 0


# --------------------------------------------------------------------------
# PacketPool
# --------------------------------------------------------------------------

cdef class PacketPool:
    """Base of every packet pool.  Subclasses set ``pool`` and ``ops``.

    Pools are thread-safe.  ``close()`` is refused (PoolError, EBUSY) while
    packets are out, a port is open on the pool or a pipeline using it runs.
    While only idle pipeline elements hold it (``holders``) the close is
    deferred: the pool is closed at once (nothing can allocate from it, a
    pipeline using it refuses to run with PoolError) and its memory is freed
    when the last of them is collected.  In a forked child a parent's pool
    raises ForkedChildError.
    """

    def __cinit__(self):
        self.pool = NULL
        self.ops = NULL
        self.holders = 0
        self.users = 0
        self.deferred = False

    cdef int check_open(self) except -1:
        # Handle's check, plus: a pool is closed as soon as its memory is gone.
        if self.forked():
            raise_forked(self)
        if self.closed or self.pool == NULL or self.ops == NULL:
            raise_closed(self)
        return 0

    cdef int hold(self) except -1:
        self.check_open()
        self.holders += 1
        return 0

    cdef void unhold(self) noexcept:
        if self.holders > 0:
            self.holders -= 1

    cdef int check_closable(self) except -1:
        """Raise unless close() may free the pool now (checked by every close())."""
        self.check_forked()
        if self.users:
            # Users that are only unreachable cycles (a port in a dropped
            # structure) let go when collected.
            gc.collect()
        if self.users:
            raise_busy(self, f"cannot close: {self.users} open port(s) or running "
                             "pipeline(s) use it (close the ports and stop the pipelines "
                             "first)")
        return 0

    cdef bint defer_close(self) noexcept:
        """After the checks: close now but leave the memory to the finaliser
        while idle holders (pipeline elements) keep pointers into it."""
        if self.holders == 0:
            return False
        self.pool = NULL
        self.closed = True
        self.deferred = True
        return True

    @property
    def holders(self):
        """Number of ports and pipeline elements holding the pool (int).

        While it is non-zero, ``close()`` of an idle pool is deferred (see the
        class docstring); while ports or running pipelines use it, refused.
        """
        return self.holders

    @property
    def capacity(self):
        """Number of packets the pool was created with (int, packets)."""
        raise NotImplementedError

    @property
    def available(self):
        """Number of packets currently in the pool, free to allocate (int)."""
        raise NotImplementedError

    @property
    def in_use(self):
        """Number of packets out of the pool: in bursts, queues or devices (int).

        ``capacity - available``; 0 again once every packet came home.
        """
        return self.capacity - self.available

    @property
    def is_open(self):
        """Whether packets can be allocated (bool): False after ``close()``.

        A close deferred by idle holders makes it False at once.
        """
        return self.pool != NULL

    cdef Burst alloc(self, unsigned int n, uint32_t length):
        cdef Burst burst
        cdef unsigned int i
        cdef int rc
        self.check_open()
        burst = Burst.empty(self)
        with nogil:
            rc = self.ops.alloc_bulk(self.pool, burst.pkts, n)
        if rc < 0:
            raise PoolError(-rc, f"cannot allocate {n} packets from {type(self).__name__}: "
                                 f"pool exhausted ({self.available} available)")
        burst.count = n
        if length:
            for i in range(n):
                if self.ops.append(burst.pkts[i], length) == NULL:
                    room = self.ops.tailroom(burst.pkts[i])
                    burst.release_all()
                    raise ValueError(f"packet length {length} exceeds the buffer room {room}")
        return burst

    def alloc_burst(self, Py_ssize_t n, length=0):
        """Allocate *n* packets, all or nothing, of *length* bytes each.

        Thread-safe (pools are).  The packets' contents are not initialised.

        Parameters
        ----------
        n : int
            Number of packets, 1 to ``BURST_MAX`` (256).
        length : int, default 0
            Data length of every packet in bytes, at most the buffer's
            tailroom (data room minus headroom).

        Returns
        -------
        Burst
            A burst of *n* packets owned by the caller (send or ``free()`` it).

        Raises
        ------
        ValueError
            *n* outside 1..BURST_MAX, *length* negative or larger than the
            buffer room (nothing is allocated).
        PoolError
            The pool is closed (EBADF) or has fewer than *n* packets left
            (the backend's errno, e.g. ENOBUFS; nothing is allocated).
        ForkedChildError
            The pool was created by the parent of this forked process.
        """
        check_burst_size(n, "burst size")
        if length < 0:
            raise ValueError(f"length must be >= 0, got {length}")
        return self.alloc(n, length)

    def burst_from_bytes(self, frames):
        """Allocate one packet per bytes-like object in *frames* and copy it in.

        Thread-safe (pools are).  All or nothing: on any error the packets
        already allocated go back to the pool.

        Parameters
        ----------
        frames : iterable of bytes-like
            1 to ``BURST_MAX`` (256) frames; each one's length in bytes must
            fit the buffer's tailroom.

        Returns
        -------
        Burst
            ``len(frames)`` packets, packet i holding a copy of ``frames[i]``.

        Raises
        ------
        ValueError
            No frames, more than BURST_MAX, or a frame longer than the room.
        TypeError
            A frame does not support the buffer protocol.
        PoolError
            The pool is closed (EBADF) or exhausted (nothing is allocated).
        ForkedChildError
            The pool was created by the parent of this forked process.
        """
        cdef const uint8_t[::1] src
        cdef uint8_t *dst
        cdef Burst burst
        cdef Py_ssize_t i
        frames = list(frames)
        check_burst_size(len(frames), "number of frames")
        burst = self.alloc(len(frames), 0)
        try:
            for i, frame in enumerate(frames):
                src = memoryview(frame).cast("B")
                dst = NULL
                # (a frame of 4 GiB or more must not wrap the uint32 length)
                if src.shape[0] <= 0xFFFFFFFF:
                    dst = self.ops.append(burst.pkts[i], <uint32_t>src.shape[0])
                if dst == NULL:
                    raise ValueError(
                        f"frame {i} is {src.shape[0]} bytes, more than the buffer room "
                        f"{self.ops.tailroom(burst.pkts[i])}")
                if src.shape[0]:
                    memcpy(dst, &src[0], src.shape[0])
        except BaseException:
            burst.release_all()
            raise
        return burst


# --------------------------------------------------------------------------
# Burst
# --------------------------------------------------------------------------

class HeaderArray(np.ndarray):
    """``(len(burst), nbytes)`` uint8 copy of every packet's first bytes.

    Used as a context manager, the edits are written back to the packets on
    exit (only the bytes each packet actually has).
    """

    __slots__ = ("_burst", "_generation")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            burst = getattr(self, "_burst", None)  # unset on views of this array
            if burst is not None:
                burst._scatter_from(self, self._generation)
        return False


# Handle arrays (PD_BURST_MAX slots) are recycled through a small stack
# instead of living inside the Burst object: a Burst is created and dropped
# per rx call, and a 2 KiB object would be zero-filled on every allocation.
# Only touched with the GIL held.
cdef pd_pkt **spare_arrays[64]
cdef int n_spare_arrays = 0


cdef inline pd_pkt **take_handle_array() noexcept:
    global n_spare_arrays
    if n_spare_arrays:
        n_spare_arrays -= 1
        return spare_arrays[n_spare_arrays]
    return <pd_pkt **>malloc(PD_BURST_MAX * sizeof(pd_pkt *))


cdef inline void give_handle_array(pd_pkt **array) noexcept:
    global n_spare_arrays
    if array == NULL:
        return
    if n_spare_arrays < 64:
        spare_arrays[n_spare_arrays] = array
        n_spare_arrays += 1
    else:
        free(array)


@cython.freelist(16)
cdef class Burst:
    """Up to BURST_MAX packets owned together; created by pools and ports.

    Not thread-safe: use a burst from one thread.  While one thread sends
    it (GIL released) another's free/send/view raises PacketStateError.  In
    a forked child a parent's burst raises ForkedChildError and is never freed.
    """

    # No __cinit__: a new object is zero-filled (no handle array, count 0, ops
    # NULL, generation 0, no exports); Burst.empty() gives it its array.

    def __init__(self):
        raise TypeError("Burst objects are created by pools and ports "
                        "(pool.alloc_burst, port.rx_burst)")

    @staticmethod
    cdef Burst empty(PacketPool pool):
        cdef Burst burst = Burst.__new__(Burst)
        burst.pkts = take_handle_array()
        if burst.pkts == NULL:
            raise MemoryError("cannot allocate a burst")
        burst.pool = pool
        burst.ops = pool.ops
        return burst

    @staticmethod
    cdef Burst wrap(PacketPool pool, pd_pkt **pkts, unsigned int n):
        """Take ownership of n handles allocated from pool."""
        cdef Burst burst = Burst.empty(pool)
        if n > PD_BURST_MAX:
            raise ValueError(f"burst of {n} packets exceeds {PD_BURST_MAX}")
        if n:
            memcpy(burst.pkts, pkts, n * sizeof(pd_pkt *))
        burst.count = n
        return burst

    cdef bint forked(self) noexcept:
        return self.pool is not None and self.pool.forked()

    cdef int check_movable(self) except -1:
        if self.forked():
            raise_forked(self)
        if self.busy:
            raise PacketStateError(errno.EBUSY, "the burst is being sent by another thread")
        if self.exports:
            raise BufferError(f"{self.exports} memoryview(s) of this burst's packets are "
                              "still alive; release them before sending or freeing")
        return 0

    cdef void consume_front(self, unsigned int k) noexcept:
        if k == 0:
            return
        if k > self.count:
            k = self.count
        if k < self.count:
            memmove(self.pkts, self.pkts + k, (self.count - k) * sizeof(pd_pkt *))
        self.count -= k
        self.generation += 1

    cdef void release_all(self) noexcept:
        # In a forked child the packets are the parent's: forget, never free.
        if self.count and self.ops != NULL and not self.forked():
            self.ops.free_bulk(self.pkts, self.count)
        self.count = 0
        self.generation += 1

    def __dealloc__(self):
        cdef unsigned int leaked = self.count
        cdef bint forked = self.forked()
        if leaked:
            self.release_all()
        give_handle_array(self.pkts)
        self.pkts = NULL
        if leaked and not forked:
            warnings.warn(f"Burst garbage-collected while owning {leaked} packet(s); "
                          "they were freed (call free() or send them)", ResourceWarning)

    def free(self):
        """Return every packet to its pool; the burst is then empty.  Idempotent.

        Raises
        ------
        BufferError
            A memoryview of one of its packets is still alive.
        PacketStateError
            Another thread is sending the burst (EBUSY).
        ForkedChildError
            The burst belongs to the parent of this forked process.
        """
        self.check_movable()
        self.release_all()

    @property
    def pool(self):
        """The PacketPool the burst's packets belong to (receives them on free)."""
        return self.pool

    def __len__(self):
        return self.count

    def __bool__(self):
        return self.count != 0

    def __getitem__(self, index):
        cdef Py_ssize_t i = index
        if i < 0:
            i += self.count
        if not 0 <= i < self.count:
            raise IndexError(f"packet index {index} out of range for a burst of {self.count}")
        cdef Packet pkt = Packet.__new__(Packet)
        pkt.burst = self
        pkt.index = <unsigned int>i
        pkt.generation = self.generation
        return pkt

    def __iter__(self):
        # Slow path: one Python object per packet.
        cdef uint64_t gen = self.generation
        for i in range(self.count):
            if self.generation != gen:
                raise PacketStateError(errno.EBADF, "burst changed during iteration")
            yield self[i]

    def __repr__(self):
        return f"<Burst of {self.count} packets>"

    def lengths(self):
        """Data length of every packet.

        Returns
        -------
        numpy.ndarray
            Shape ``(len(burst),)``, dtype uint32, in bytes.
        """
        out = np.empty(self.count, dtype=np.uint32)
        cdef uint32_t[::1] view = out
        cdef unsigned int i
        for i in range(self.count):
            view[i] = self.ops.data_len(self.pkts[i])
        return out

    def to_bytes_list(self):
        """Copy of every packet's data.

        Returns
        -------
        list of bytes
            ``len(burst)`` items, item i the data of packet i.
        """
        cdef unsigned int i
        return [PyBytes_FromStringAndSize(<char *>self.ops.data(self.pkts[i]),
                                          self.ops.data_len(self.pkts[i]))
                for i in range(self.count)]

    cdef void gather(self, uint8_t *dst, Py_ssize_t width) noexcept nogil:
        cdef unsigned int i
        cdef uint32_t take
        for i in range(self.count):
            take = self.ops.data_len(self.pkts[i])
            if take > width:
                take = <uint32_t>width
            if take:
                memcpy(dst + i * width, self.ops.data(self.pkts[i]), take)
            if take < width:
                memset(dst + i * width + take, 0, width - take)

    cdef void scatter(self, const uint8_t *src, Py_ssize_t width) noexcept nogil:
        cdef unsigned int i
        cdef uint32_t put
        for i in range(self.count):
            put = self.ops.data_len(self.pkts[i])
            if put > width:
                put = <uint32_t>width
            if put:
                memcpy(self.ops.data(self.pkts[i]), src + i * width, put)

    def gather_headers(self, out not None):
        """Copy the first ``out.shape[1]`` bytes of each packet into row i of *out*.

        The allocation-free form of :meth:`headers` for hot loops.

        Parameters
        ----------
        out : numpy.ndarray
            Writable C-contiguous 2-D uint8 array of shape ``(rows, nbytes)``
            with ``rows >= len(burst)``; bytes past a packet's end are zeroed,
            rows past the burst's end are left alone.

        Returns
        -------
        int
            The number of rows filled (``len(burst)``).

        Raises
        ------
        ValueError
            *out* is not a C-contiguous 2-D byte array or has too few rows.
        BufferError, TypeError
            *out* is read-only or not a buffer.
        """
        cdef Py_buffer view
        get_rows(out, &view, PyBUF_WRITABLE)
        try:
            if view.shape[0] < self.count:
                raise ValueError(f"array has {view.shape[0]} rows, the burst "
                                 f"{self.count} packets")
            self.gather(<uint8_t *>view.buf, view.shape[1])
        finally:
            PyBuffer_Release(&view)
        return self.count

    def scatter_headers(self, rows not None):
        """Write row i of *rows* back over packet i's first bytes.

        Only the bytes each packet has are written: a packet's length never
        changes.

        Parameters
        ----------
        rows : numpy.ndarray
            C-contiguous 2-D uint8 array of shape ``(rows, nbytes)`` with
            ``rows >= len(burst)``.

        Returns
        -------
        int
            The number of packets written (``len(burst)``).

        Raises
        ------
        ValueError
            *rows* is not a C-contiguous 2-D byte array or has too few rows.
        """
        cdef Py_buffer view
        get_rows(rows, &view, 0)
        try:
            if view.shape[0] < self.count:
                raise ValueError(f"array has {view.shape[0]} rows, the burst "
                                 f"{self.count} packets")
            self.scatter(<const uint8_t *>view.buf, view.shape[1])
        finally:
            PyBuffer_Release(&view)
        return self.count

    def headers(self, Py_ssize_t nbytes=14):
        """First *nbytes* of every packet as a ``(len(burst), nbytes)`` uint8 array.

        ``with burst.headers(14) as h: h[:, 0:6] = dst_mac`` rewrites every
        packet's destination MAC in one numpy operation and writes it back.

        Parameters
        ----------
        nbytes : int, default 14
            Bytes per packet (14: the Ethernet header).  Bytes past a
            packet's end read as zero and are not written back.

        Returns
        -------
        HeaderArray
            A numpy ndarray subclass, shape ``(len(burst), nbytes)``, dtype
            uint8: a copy.  As a context manager it writes the edits back on
            exit (PacketStateError there if the burst was sent or freed
            meanwhile).

        Raises
        ------
        ValueError
            *nbytes* is not positive.
        """
        if nbytes <= 0:
            raise ValueError(f"nbytes must be > 0, got {nbytes}")
        arr = HeaderArray((self.count, nbytes), np.uint8)
        self.gather_headers(arr)
        arr._burst = self
        arr._generation = self.generation
        return arr

    def _scatter_from(self, rows, generation):
        if generation != self.generation:
            raise PacketStateError(errno.EBADF, "burst was sent or freed since headers() "
                                                "was taken; edits not written back")
        self.scatter_headers(rows)


# --------------------------------------------------------------------------
# Packet
# --------------------------------------------------------------------------

cdef class Packet:
    """One packet of a Burst: zero-copy buffer, valid until the burst moves it.

    Not thread-safe (like its burst).  Offsets and lengths are checked
    without overflow: anything outside the packet raises IndexError.
    """

    def __init__(self):
        raise TypeError("Packet objects come from indexing a Burst")

    cdef pd_pkt *handle(self) except NULL:
        if self.burst is not None and self.burst.forked():
            raise_forked(self)
        if self.burst is not None and self.burst.busy:
            raise PacketStateError(errno.EBUSY, "the packet's burst is being sent by another "
                                                "thread")
        if self.burst is None or self.generation != self.burst.generation \
                or self.index >= self.burst.count:
            raise PacketStateError(errno.EBADF, "packet was sent or freed (its burst changed "
                                                "ownership); take it from the burst again")
        return self.burst.pkts[self.index]

    cdef int check_resizable(self) except -1:
        if self.burst.exports:
            raise BufferError("cannot resize a packet while memoryviews of its burst exist")
        return 0

    def __getbuffer__(self, Py_buffer *view, int flags):
        cdef pd_pkt *p = self.handle()
        self.view_shape[0] = self.burst.ops.data_len(p)
        view.buf = self.burst.ops.data(p)
        view.obj = self
        view.len = self.view_shape[0]
        view.readonly = 0
        view.itemsize = 1
        view.format = "B"
        view.ndim = 1
        view.shape = self.view_shape
        view.strides = &view.itemsize
        view.suboffsets = NULL
        view.internal = NULL
        self.burst.exports += 1

    def __releasebuffer__(self, Py_buffer *view):
        self.burst.exports -= 1

    def __len__(self):
        cdef pd_pkt *p = self.handle()
        return self.burst.ops.data_len(p)

    @property
    def headroom(self):
        """Free bytes in front of the data, room for :meth:`prepend` (int).

        Raises PacketStateError if the packet is stale.
        """
        return self.burst.ops.headroom(self.handle())

    @property
    def tailroom(self):
        """Free bytes after the data, room for :meth:`append` (int).

        Raises PacketStateError if the packet is stale.
        """
        return self.burst.ops.tailroom(self.handle())

    @property
    def is_valid(self):
        """False once the burst sent or freed the packet (bool); never raises."""
        return (self.burst is not None and self.generation == self.burst.generation
                and self.index < self.burst.count)

    def bytes(self):
        """Copy of the packet's data.

        Returns
        -------
        bytes
            ``len(packet)`` bytes.

        Raises
        ------
        PacketStateError
            The packet is stale (EBADF) or its burst is being sent (EBUSY).
        """
        cdef pd_pkt *p = self.handle()
        return PyBytes_FromStringAndSize(<char *>self.burst.ops.data(p),
                                         self.burst.ops.data_len(p))

    def read(self, Py_ssize_t offset, Py_ssize_t n):
        """Copy of *n* bytes at *offset*.

        Parameters
        ----------
        offset : int
            Start in bytes from the first data byte, ``0 <= offset <= len``.
        n : int
            Number of bytes, ``0 <= n <= len - offset``.

        Returns
        -------
        bytes
            *n* bytes.

        Raises
        ------
        IndexError
            The range is not inside the packet.
        PacketStateError
            The packet is stale: its burst sent or freed it (EBADF), or
            another thread is sending the burst (EBUSY).
        """
        cdef pd_pkt *p = self.handle()
        cdef uint32_t length = self.burst.ops.data_len(p)
        # offset + n could wrap: compare against what is left after offset.
        if offset < 0 or n < 0 or offset > length or n > length - offset:
            raise IndexError(f"read of {n} bytes at offset {offset} outside a "
                             f"{length}-byte packet")
        return PyBytes_FromStringAndSize(<char *>self.burst.ops.data(p) + offset, n)

    def write(self, Py_ssize_t offset, data):
        """Overwrite bytes at *offset* with *data*; the packet does not grow.

        Parameters
        ----------
        offset : int
            Start in bytes from the first data byte.
        data : bytes-like
            Bytes to write; ``offset + len(data)`` must not pass the end.

        Raises
        ------
        IndexError
            The range is not inside the packet.
        PacketStateError
            The packet is stale: its burst sent or freed it (EBADF), or
            another thread is sending the burst (EBUSY).
        """
        cdef pd_pkt *p = self.handle()
        cdef const uint8_t[::1] src = memoryview(data).cast("B")
        cdef uint32_t length = self.burst.ops.data_len(p)
        cdef Py_ssize_t n = src.shape[0]
        if offset < 0 or offset > length or n > length - offset:
            raise IndexError(f"write of {n} bytes at offset {offset} outside a "
                             f"{length}-byte packet")
        if n:
            memcpy(self.burst.ops.data(p) + offset, &src[0], n)

    cdef int grow(self, data, bint at_front) except -1:
        """Grow by *data* (bytes-like) or by *data* zero bytes (int)."""
        cdef pd_pkt *p = self.handle()
        cdef const uint8_t[::1] src
        cdef uint32_t n
        cdef uint8_t *dst
        self.check_resizable()
        if isinstance(data, int):
            n = self._grow_size(data)
            src = None
        else:
            src = memoryview(data).cast("B")
            if src.shape[0] > 0xFFFF:
                raise ValueError(f"cannot grow a packet by {src.shape[0]} bytes (at most 65535)")
            n = <uint32_t>src.shape[0]
        if at_front:
            dst = self.burst.ops.prepend(p, n)
            if dst == NULL:
                raise ValueError(f"cannot prepend {n} bytes: headroom is "
                                 f"{self.burst.ops.headroom(p)}")
        else:
            dst = self.burst.ops.append(p, n)
            if dst == NULL:
                raise ValueError(f"cannot append {n} bytes: tailroom is "
                                 f"{self.burst.ops.tailroom(p)}")
        if src is None:
            memset(dst, 0, n)
        elif n:
            memcpy(dst, &src[0], n)
        return 0

    def prepend(self, data):
        """Grow at the front by *data* (bytes-like) or by *data* zero bytes (int).

        Parameters
        ----------
        data : bytes-like or int
            Bytes to add, or a count of zero bytes to add; at most 65535 and
            at most the packet's headroom.

        Raises
        ------
        ValueError
            Not enough headroom, or more than 65535 bytes.
        BufferError
            A memoryview of the burst's packets is alive (no resize then).
        PacketStateError
            The packet is stale: its burst sent or freed it (EBADF), or
            another thread is sending the burst (EBUSY).
        """
        self.grow(data, True)

    def append(self, data):
        """Grow at the end by *data* (bytes-like) or by *data* zero bytes (int).

        Parameters
        ----------
        data : bytes-like or int
            Bytes to add, or a count of zero bytes to add; at most 65535 and
            at most the packet's tailroom.

        Raises
        ------
        ValueError
            Not enough tailroom, or more than 65535 bytes.
        BufferError
            A memoryview of the burst's packets is alive (no resize then).
        PacketStateError
            The packet is stale: its burst sent or freed it (EBADF), or
            another thread is sending the burst (EBUSY).
        """
        self.grow(data, False)

    def adj(self, Py_ssize_t n):
        """Remove *n* bytes at the front (``rte_pktmbuf_adj`` semantics).

        Parameters
        ----------
        n : int
            Number of bytes, ``0 <= n <= len(packet)``.

        Raises
        ------
        ValueError
            *n* negative or longer than the packet.
        BufferError
            A memoryview of the burst's packets is alive (no resize then).
        PacketStateError
            The packet is stale: its burst sent or freed it (EBADF), or
            another thread is sending the burst (EBUSY).
        """
        cdef pd_pkt *p = self.handle()
        self.check_resizable()
        if n < 0 or n > self.burst.ops.data_len(p) or \
                self.burst.ops.adj(p, <uint32_t>n) == NULL:
            raise ValueError(f"cannot remove {n} bytes from a "
                             f"{self.burst.ops.data_len(p)}-byte packet")

    def trim(self, Py_ssize_t n):
        """Remove *n* bytes at the end (``rte_pktmbuf_trim`` semantics).

        Parameters
        ----------
        n : int
            Number of bytes, ``0 <= n <= len(packet)``.

        Raises
        ------
        ValueError
            *n* negative or longer than the packet.
        BufferError
            A memoryview of the burst's packets is alive (no resize then).
        PacketStateError
            The packet is stale: its burst sent or freed it (EBADF), or
            another thread is sending the burst (EBUSY).
        """
        cdef pd_pkt *p = self.handle()
        self.check_resizable()
        if n < 0 or n > self.burst.ops.data_len(p) or \
                self.burst.ops.trim(p, <uint32_t>n) != 0:
            raise ValueError(f"cannot trim {n} bytes from a "
                             f"{self.burst.ops.data_len(p)}-byte packet")

    def _grow_size(self, n):
        if n < 0 or n > 0xFFFF:
            raise ValueError(f"size must be between 0 and 65535, got {n}")
        return n

    def __repr__(self):
        if not self.is_valid:
            return "<Packet (stale)>"
        return f"<Packet of {len(self)} bytes>"


# --------------------------------------------------------------------------
# PortBase
# --------------------------------------------------------------------------

cdef class PortBase:
    """Base of every backend's port.

    Subclasses fill ``io`` and the queue counts, set their pool with
    ``hold_pool`` (the pool's close() is then refused until the port is
    closed), and implement ``_start``, ``_stop``, ``_close`` and ``_stats``;
    this class validates arguments and state once, for every backend.

    Thread-safe: each rx and each tx queue has its own lock, so several
    threads may call rx_burst/tx_burst on one port (calls on one queue take
    turns).  While a native loop (Pipeline, dpdk.forward) polls a queue,
    burst calls on that queue raise ConcurrentUseError, and stop()/close()
    raise PortError (EBUSY).  In a forked child a port made by the parent
    raises ForkedChildError and its finaliser does nothing.
    """

    def __cinit__(self):
        self.n_rx_queues = 0
        self.n_tx_queues = 0
        self.started = False

    def __dealloc__(self):
        # Runs after the subclass's __dealloc__ (which released the device).
        self.release_pool()
        if not self.forked():
            queue_locks_free(&self.rx_locks)
            queue_locks_free(&self.tx_locks)

    cdef int hold_pool(self, PacketPool pool) except -1:
        """Use *pool* as rx_pool and hold it (its close() waits for this port's)."""
        take_hold(&self.held_pool, pool)
        if not self.using_pool:
            pool.users += 1
            self.using_pool = True
        self.rx_pool = pool
        return 0

    cdef void release_pool(self) noexcept:
        if self.using_pool and self.held_pool != NULL:
            (<PacketPool>self.held_pool).users -= 1
        self.using_pool = False
        release_held(&self.held_pool)

    cdef int claim_queue(self, bint tx, int queue) except -1:
        cdef queue_locks *ql = &self.tx_locks if tx else &self.rx_locks
        cdef pthread_mutex_t *m
        if self.forked():
            raise_forked(self)
        if tx:
            self.check_tx_queue(queue)
        else:
            self.check_rx_queue(queue)
        queue_locks_init(ql, self.n_tx_queues if tx else self.n_rx_queues)
        if ql.claims[queue]:
            raise ConcurrentUseError(errno.EBUSY, f"{'tx' if tx else 'rx'} queue {queue} of "
                                                  f"{self!r} is already polled by another "
                                                  "native loop")
        ql.claims[queue] = 1
        # Wait for a burst call in flight on the queue to finish: after this,
        # burst calls see the claim (they read it under the mutex).
        m = queue_mutex(ql, queue)
        with nogil:
            pthread_mutex_lock(m)
            pthread_mutex_unlock(m)
        return 0

    cdef void unclaim_queue(self, bint tx, int queue) noexcept:
        cdef queue_locks *ql = &self.tx_locks if tx else &self.rx_locks
        if ql.claims != NULL and 0 <= queue < <int>ql.n:
            ql.claims[queue] = 0

    cdef int check_usable(self) except -1:
        self.check_open()
        if not self.started:
            raise PortError(errno.ENETDOWN, f"{self!r} is not started; call start() first")
        if self.io.rx_burst == NULL or self.io.tx_burst == NULL:
            raise PortError(errno.ENODEV, f"{self!r} has no I/O functions")
        return 0

    cdef int check_rx_queue(self, int queue) except -1:
        if not 0 <= queue < self.n_rx_queues:
            raise ValueError(f"rx queue {queue} does not exist: {self!r} has "
                             f"{self.n_rx_queues} rx queue(s)")
        return 0

    cdef int check_tx_queue(self, int queue) except -1:
        if not 0 <= queue < self.n_tx_queues:
            raise ValueError(f"tx queue {queue} does not exist: {self!r} has "
                             f"{self.n_tx_queues} tx queue(s)")
        return 0

    @property
    def rx_queues(self):
        """Number of rx queues (int); valid queue ids are ``0..rx_queues-1``."""
        return self.n_rx_queues

    @property
    def tx_queues(self):
        """Number of tx queues (int); valid queue ids are ``0..tx_queues-1``."""
        return self.n_tx_queues

    @property
    def is_started(self):
        """Whether burst calls are accepted: started and not closed (bool)."""
        return self.started and not self.closed

    @property
    def is_closed(self):
        """Alias of ``closed`` (bool): whether ``close()`` was called; a
        closed port stays closed."""
        return self.closed

    def rx_burst(self, int queue=0, int max_packets=32):
        """Receive up to *max_packets* packets from rx *queue* into a new Burst.

        Does not wait: an empty burst when nothing is there.  Thread-safe;
        calls on one queue take turns (the PMD's rx function, e.g.
        ``rte_eth_rx_burst``, runs without the GIL).

        Parameters
        ----------
        queue : int, default 0
            Rx queue id, ``0 <= queue < rx_queues``.
        max_packets : int, default 32
            Most packets to take, 1 to ``BURST_MAX`` (256).

        Returns
        -------
        Burst
            0 to *max_packets* packets, owned by the caller.

        Raises
        ------
        ValueError
            No such queue, or *max_packets* out of range.
        PortError
            The port is closed (EBADF), not started (ENETDOWN) or has no I/O
            functions (ENODEV).
        ConcurrentUseError
            A native loop (Pipeline, ``dpdk.forward``) polls that queue (EBUSY).
        ForkedChildError
            The port was created by the parent of this forked process.
        """
        cdef Burst burst
        cdef uint16_t got
        cdef PyThreadState *gil
        check_burst_size(max_packets, "max_packets")
        self.check_rx_queue(queue)
        self.check_usable()
        burst = Burst.empty(self.rx_pool)
        burst.ops = self.io.ops
        if python_alone():
            # Fast path: no other Python thread exists, and none can run
            # before we return (we keep the GIL), so no burst call can be in
            # flight on this queue and no native loop can claim it (claims
            # are made under the GIL): no mutex, no busy count.
            if self.rx_locks.claims != NULL and self.rx_locks.claims[queue]:
                raise_claimed(self, queue, False)
            burst.count = self.io.rx_burst(self.io.ctx, <uint16_t>queue, burst.pkts,
                                           <uint16_t>max_packets)
            return burst
        self.busy += 1
        try:
            lock_queue(self, &self.rx_locks, queue, False)
        except BaseException:
            self.busy -= 1
            raise
        # Only C from here to restore_gil: the GIL may be released.
        gil = release_gil_if_wanted()
        got = self.io.rx_burst(self.io.ctx, <uint16_t>queue, burst.pkts,
                               <uint16_t>max_packets)
        pthread_mutex_unlock(queue_mutex(&self.rx_locks, queue))
        restore_gil(gil)
        self.busy -= 1
        burst.count = got
        return burst

    def tx_burst(self, Burst burst not None, int queue=0):
        """Send packets from the front of *burst*; returns how many were sent.

        Sent packets leave the burst; the unsent tail stays in it, owned by the
        caller (retry or ``free()``).  Thread-safe; calls on one queue take
        turns (the PMD's tx function, e.g. ``rte_eth_tx_burst``, runs
        without the GIL).

        Parameters
        ----------
        burst : Burst
            Packets of this port's backend (same packet ops).
        queue : int, default 0
            Tx queue id, ``0 <= queue < tx_queues``.

        Returns
        -------
        int
            Number of packets sent, 0 to ``len(burst)`` (before the call).

        Raises
        ------
        ValueError
            No such queue, or the burst's packets are another backend's.
        BufferError
            A memoryview of one of the burst's packets is alive.
        PacketStateError
            Another thread is sending the same burst (EBUSY).
        PortError
            The port is closed (EBADF), not started (ENETDOWN) or has no I/O
            functions (ENODEV).
        ConcurrentUseError
            A native loop (Pipeline, ``dpdk.forward``) polls that queue (EBUSY).
        ForkedChildError
            The port was created by the parent of this forked process.
        """
        cdef uint16_t sent
        cdef PyThreadState *gil
        self.check_tx_queue(queue)
        self.check_usable()
        if burst.count == 0:
            return 0
        # pkt.h's one identity rule (ops tables of one kind may differ in address).
        if not pd_port_io_sends(&self.io, burst.ops):
            raise ValueError(f"the burst's packets ({burst.ops.name.decode()}) cannot be sent "
                             f"on a port of another backend ({self.io.ops.name.decode()})")
        burst.check_movable()
        if python_alone():
            # Fast path, as in rx_burst: nobody else can see the burst or the
            # queue before we return.
            if self.tx_locks.claims != NULL and self.tx_locks.claims[queue]:
                raise_claimed(self, queue, True)
            sent = pd_port_io_tx(&self.io, <uint16_t>queue, burst.pkts,
                                 <uint16_t>burst.count, burst.ops)
        else:
            self.lock_tx(queue, burst)
            gil = release_gil_if_wanted()     # only C until restore_gil
            sent = pd_port_io_tx(&self.io, <uint16_t>queue, burst.pkts,
                                 <uint16_t>burst.count, burst.ops)
            restore_gil(gil)
            self.unlock_tx(queue, burst)
        burst.consume_front(sent)
        if burst.count:
            self.tx_incomplete(queue)
        return sent

    cdef int tx_incomplete(self, int queue) except -1:
        """Called when tx_burst left packets unsent: a backend raises here if
        its device failed (else the tail is the caller's to retry)."""
        return 0

    cdef int lock_tx(self, int queue, Burst burst) except -1:
        """Mark the burst and port busy and take tx *queue* (for subclasses' tx)."""
        burst.busy = True
        self.busy += 1
        try:
            lock_queue(self, &self.tx_locks, queue, True)
        except BaseException:
            self.busy -= 1
            burst.busy = False
            raise
        return 0

    cdef void unlock_tx(self, int queue, Burst burst) noexcept:
        pthread_mutex_unlock(queue_mutex(&self.tx_locks, queue))
        self.busy -= 1
        burst.busy = False

    def start(self):
        """Start the port: burst calls are accepted from now on.  Idempotent.

        Raises
        ------
        PortError
            The port is closed (EBADF), or the backend cannot start it
            (e.g. ``rte_eth_dev_start`` failed: its errno).
        ForkedChildError
            The port was created by the parent of this forked process.
        """
        self.check_open()
        if not self.started:
            self._start()
            self.started = True

    def stop(self):
        """Stop the port (burst calls then raise PortError).  Idempotent.

        Raises
        ------
        PortError
            The port is closed (EBADF), or a burst call or native loop uses
            it right now (EBUSY).
        ForkedChildError
            The port was created by the parent of this forked process.
        """
        self.check_open()
        self.check_not_busy()
        if self.started:
            self._stop()
            self.started = False

    def close(self):
        """Stop and release the port, and let go of its pool.  Idempotent.

        In a forked child the port is only marked closed (the device is the
        parent's).

        Raises
        ------
        PortError
            A burst call or native loop uses the port right now (EBUSY).
        """
        if self.closed:
            return
        if self.forked():
            self.closed = True
            return
        self.check_not_busy()
        try:
            if self.started:
                self._stop()
                self.started = False
            self._close()
        finally:
            self.closed = True
            self.release_pool()

    def stats(self):
        """The port's counters since it was opened (or reset).

        Returns
        -------
        dict of str to int
            At least ``ipackets``, ``opackets`` (packets received, sent),
            ``ibytes``, ``obytes`` (bytes) and ``imissed`` (packets the
            device dropped for lack of room); backends add their own keys.

        Raises
        ------
        PortError
            The port is closed (EBADF).
        """
        self.check_open()
        return self._stats()

    def _start(self):
        pass

    def _stop(self):
        pass

    def _close(self):
        pass

    def _stats(self):
        raise NotImplementedError


# --------------------------------------------------------------------------
# LoopbackPort: what is sent on queue q is received on queue q
# (native/pkt/loopback.c, which the C unit tests use too)
# --------------------------------------------------------------------------

cdef class LoopbackPort(PortBase):
    """In-memory port: packets sent on a queue are received on the same queue.

    Each queue holds at most *depth* packets; a full queue makes ``tx_burst``
    send fewer (the tail stays with the caller), like a full NIC ring.
    Thread-safe.  Queued packets of any pool keep that pool's memory alive
    (and counted in its ``in_use``) until received or freed by ``close()``.
    The port is native/pkt/loopback.c (``pd_loopback``).

    Parameters
    ----------
    pool : PacketPool
        Pool whose packets the port carries (any backend's).
    queues : int, default 1
        Rx/tx queue pairs, 1 to 64.
    depth : int, default 256
        Packets each queue holds, > 0.

    Raises
    ------
    ValueError
        *queues* or *depth* out of range.
    PoolError
        *pool* is closed.
    ResourceLimitError
        The rings would not fit the machine's available memory.
    """

    cdef pd_loopback *lb

    def __init__(self, PacketPool pool not None, unsigned int queues=1, unsigned int depth=256):
        cdef int rc
        if not 1 <= queues <= PD_LOOPBACK_MAX_QUEUES:
            raise ValueError(f"queues must be between 1 and {PD_LOOPBACK_MAX_QUEUES}, "
                             f"got {queues}")
        if depth == 0:
            raise ValueError("depth must be > 0")
        if self.lb != NULL:
            raise PortError(errno.EEXIST, "LoopbackPort already initialised")
        pool.check_open()
        check_memory(<double>queues * depth * sizeof(pd_pkt *),
                     f"a LoopbackPort of {queues} queue(s) of depth {depth}")
        rc = pd_loopback_create(&self.lb, pool.ops, pool.pool, queues, depth)
        if rc == -errno.ENOMEM:
            raise MemoryError()
        if rc < 0:
            raise PortError(-rc, "cannot create the LoopbackPort")
        self.hold_pool(pool)
        pd_loopback_port_io(self.lb, &self.io)
        self.n_rx_queues = <uint16_t>queues
        self.n_tx_queues = <uint16_t>queues

    cdef void _release(self) noexcept:
        # Frees what is still queued, then the rings.
        pd_loopback_free(self.lb)
        self.lb = NULL

    def _close(self):
        self._release()

    def _stats(self):
        cdef pd_loopback_stats st
        if self.lb == NULL:
            return {"ipackets": 0, "opackets": 0, "ibytes": 0, "obytes": 0, "imissed": 0,
                    "oerrors": 0}
        pd_loopback_stats_get(self.lb, &st)
        return {
            "ipackets": st.rx_packets,
            "opackets": st.tx_packets,
            "ibytes": st.rx_bytes,
            "obytes": st.tx_bytes,
            "imissed": 0,
            "oerrors": st.tx_full,
        }

    def queued(self, unsigned int queue=0):
        """Packets waiting on *queue*.

        Returns
        -------
        int
            0 to *depth*; 0 once the port is closed.

        Raises
        ------
        ValueError
            No such queue.
        """
        self.check_rx_queue(queue)
        if self.closed or self.lb == NULL:
            return 0
        return pd_loopback_queued(self.lb, <uint16_t>queue)

    def __dealloc__(self):
        if self.forked():
            return              # the queued packets are the parent's
        self._release()

    def __repr__(self):
        return f"<LoopbackPort queues={self.n_rx_queues}>"
