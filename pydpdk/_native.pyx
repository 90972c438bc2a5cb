# cython: language_level=3
"""Native (non-DPDK) backend core: BufferPool, AfPacketPort, AfPacketRing.

BufferPool wraps native/buf (pd_buf packets with headroom).  AfPacketPort
wraps native/afpacket: a TPACKET_V3 mmap rx ring and a tx ring (or
sendmmsg) per queue, bound to an interface by name.  In zero-copy mode its
packets are views of the ring's frames and AfPacketRing is their pool.  All
plug into the burst core (pydpdk._burst), so bursts, packets and the port
methods are the same as on every other backend; rx/tx run without the GIL.
"""

import errno
import warnings

cimport cython
from libc.stdint cimport uint16_t, uint32_t

from pydpdk._burst cimport Burst, PacketPool, PortBase, check_memory
from pydpdk._handle cimport check_rc, raise_busy
from pydpdk._includes.afpacket cimport (
    PD_AFP_MAX_QUEUES,
    PD_AFP_ZC_DEFAULT_HEADROOM,
    PD_AFP_TX_RING,
    PD_AFP_TX_SENDMMSG,
    pd_afp,
    pd_afp_check,
    pd_afp_close,
    pd_afp_config,
    pd_afp_config_init,
    pd_afp_error,
    pd_afp_ifindex,
    pd_afp_mac,
    pd_afp_mtu,
    pd_afp_vnet_hdr,
    pd_afp_open,
    pd_afp_port_io,
    pd_afp_start,
    pd_afp_stats,
    pd_afp_stats_get,
    pd_afp_stats_reset,
    pd_afp_stop,
    pd_afp_wait,
    pd_afp_zc_blocks_held,
    pd_afp_zc_capacity,
    pd_afp_zc_headroom,
    pd_afp_zc_held,
    pd_afp_zc_ops,
)
from pydpdk._includes.buf cimport (
    pd_buf_ops,
    pd_buf_pool_avail,
    pd_buf_pool_count,
    pd_buf_pool_create,
    pd_buf_pool_data_room,
    pd_buf_pool_double_frees,
    pd_buf_debug_use_after_free,
    pd_buf_pool_free,
    pd_buf_pool_headroom,
    pd_buf_pool_release,
)

from pydpdk._includes.net cimport (
    PD_NET_OFF_GRO,
    PD_NET_OFF_GSO,
    PD_NET_OFF_LRO,
    PD_NET_OFF_RXCSUM,
    PD_NET_OFF_TSO,
    PD_NET_OFF_TSO6,
    PD_NET_OFF_TXCSUM,
    PD_NET_OFF_USO,
    pd_net_ifinfo,
    pd_net_ifinfo_get,
)
from pydpdk.errors import PoolError, PortError, error_from_errno

# Packet fanout modes (linux/if_packet.h PACKET_FANOUT_*), by name.
FANOUT_MODES = {"hash": 0, "lb": 1, "cpu": 2, "rollover": 3, "rnd": 4, "qm": 5}
TX_MODES = {"ring": PD_AFP_TX_RING, "sendmmsg": PD_AFP_TX_SENDMMSG}
MAX_QUEUES = PD_AFP_MAX_QUEUES
ZC_DEFAULT_HEADROOM = PD_AFP_ZC_DEFAULT_HEADROOM


cdef class BufferPool(PacketPool):
    """A fixed pool of native packet buffers (for the AF_PACKET and pcap ports).

    Each buffer has *headroom* bytes in front of the packet (room to prepend
    tunnel/FEC headers without copying) and *data_room* bytes for the packet.
    Thread-safe (a mutex per pool, taken once per burst).  ``close()`` is
    refused (PoolError, EBUSY) while packets are out or a port or pipeline
    element holds the pool; dropped by the garbage collector with packets
    still out (queued in a port of another pool, say), its memory lives until
    the last of them is freed.  Sizes beyond the machine's available memory
    raise ResourceLimitError before anything is allocated.

    Parameters
    ----------
    capacity : int, default 4096
        Number of buffers (packets), > 0.
    data_room : int, default 2048
        Bytes per buffer for the packet data, >= 64.
    headroom : int, default 128
        Bytes per buffer in front of the data; ``data_room + headroom`` is
        at most 1 MiB.

    Raises
    ------
    ValueError
        *capacity* is 0, or *data_room*/*headroom* out of range.
    ResourceLimitError
        ``capacity * (data_room + headroom + 64)`` bytes is more than
        ``memory_limit()`` (75% of MemAvailable).
    PoolError
        The native pool could not be created (its errno, e.g. ENOMEM).
    """

    def __cinit__(self):
        self.bp = NULL

    def __init__(self, unsigned int capacity=4096, uint32_t data_room=2048,
                 uint32_t headroom=128):
        cdef int rc
        if self.bp != NULL:
            raise PoolError(errno.EEXIST, "BufferPool already initialised")
        if capacity == 0:
            raise ValueError("capacity must be > 0")
        if data_room < 64 or <unsigned long>data_room + headroom > (1 << 20):
            raise ValueError(f"data_room must be >= 64 and data_room + headroom <= 1 MiB, "
                             f"got {data_room} + {headroom}")
        check_memory(<double>capacity * (data_room + headroom + 64),
                     f"a BufferPool of {capacity} buffers of {data_room} bytes")
        rc = pd_buf_pool_create(&self.bp, capacity, data_room, headroom)
        check_rc(rc, f"cannot create a pool of {capacity} buffers of "
                     f"{data_room} bytes", PoolError)
        self.pool = self.bp
        self.ops = &pd_buf_ops

    @property
    def capacity(self):
        """Number of buffers the pool was created with (int); PoolError once closed."""
        self.check_open()
        return pd_buf_pool_count(self.bp)

    @property
    def available(self):
        """Buffers in the pool, free to allocate (int); PoolError once closed."""
        self.check_open()
        return pd_buf_pool_avail(self.bp)

    @property
    def data_room(self):
        """Bytes per buffer for packet data, headroom excluded (int); PoolError once closed."""
        self.check_open()
        return pd_buf_pool_data_room(self.bp)

    @property
    def headroom(self):
        """Bytes per buffer in front of the data, room to prepend (int).

        PoolError once closed.
        """
        self.check_open()
        return pd_buf_pool_headroom(self.bp)

    @property
    def double_frees(self):
        """Packets returned twice (int; a bug elsewhere), ignored without corrupting the pool.

        PoolError once closed.
        """
        self.check_open()
        return pd_buf_pool_double_frees(self.bp)

    def close(self):
        """Release the memory.  Idempotent.

        Deferred while only idle pipeline elements hold the pool (see
        PacketPool).

        Raises
        ------
        PoolError
            Packets are out of the pool, a port is open on it or a pipeline
            using it runs (EBUSY).
        ForkedChildError
            The pool was created by the parent of this forked process.
        """
        cdef int rc
        if self.bp == NULL or self.deferred:
            return
        self.check_closable()
        if self.capacity != self.available:
            raise_busy(self, f"cannot close: {self.capacity - self.available} packet(s) "
                             "still in use")
        if self.defer_close():
            return              # freed by __dealloc__ when the last element goes
        rc = pd_buf_pool_free(self.bp, 0)
        if rc < 0:
            raise PoolError(-rc, f"cannot close BufferPool: "
                                 f"{self.capacity - self.available} packet(s) still in use")
        self.bp = NULL
        self.pool = NULL
        self.closed = True

    def __dealloc__(self):
        # Packets may still be out though nothing references this object
        # (queued in a LoopbackPort of another pool): the native pool then
        # lives until the last one is returned.  A forked child leaves the
        # parent's pool alone.
        if self.bp != NULL and not self.forked():
            pd_buf_pool_release(self.bp)
        self.bp = NULL

    def _debug_use_after_free(self):
        """Test only: read a packet buffer after freeing it (a planted bug an
        AddressSanitizer build reports; elsewhere returns the byte read)."""
        self.check_open()
        return pd_buf_debug_use_after_free(self.bp)

    def __repr__(self):
        if self.bp == NULL:
            return "<BufferPool closed>"
        return f"<BufferPool {self.available}/{self.capacity} available>"


cdef class AfPacketRing(PacketPool):
    """The receive rings of a zero-copy AfPacketPort, as the pool of its packets.

    ``port.rx_pool`` of an ``AfPacketPort(..., zero_copy=True)``.  Its packets
    are frames inside the mapped ring blocks: ``in_use`` counts the frames the
    application holds, ``blocks_held`` the ring blocks they keep from the
    kernel.  ``capacity`` is the nominal frame count (block_size / frame_size
    per block; small frames pack tighter).  Nothing can be allocated from it
    (``alloc_burst`` raises PoolError): build new packets in a BufferPool.
    Thread-safe (frame and block references are atomic counters).
    """

    cdef pd_afp *afp
    cdef readonly str ifname
    """Name of the interface whose rings these are (str)."""

    def __cinit__(self):
        self.afp = NULL

    def __init__(self):
        raise TypeError("AfPacketRing objects are made by AfPacketPort(..., zero_copy=True)")

    @staticmethod
    cdef AfPacketRing attach(pd_afp *afp, str ifname):
        cdef AfPacketRing ring = AfPacketRing.__new__(AfPacketRing)
        ring.afp = afp
        ring.ifname = ifname
        ring.pool = afp
        ring.ops = &pd_afp_zc_ops
        return ring

    cdef void detach(self) noexcept:
        # The port is closing: its memory now lives only as long as packets
        # still held (none after a clean close()).
        self.afp = NULL
        self.pool = NULL
        self.closed = True

    @property
    def capacity(self):
        """Nominal frame count of the rings (int, blocks * block_size / frame_size).

        PoolError once the port is closed.
        """
        self.check_open()
        return pd_afp_zc_capacity(self.afp)

    @property
    def in_use(self):
        """Frames held by the application (int; 0 once the port is closed)."""
        return pd_afp_zc_held(self.afp) if self.afp != NULL else 0

    @property
    def available(self):
        """``capacity - in_use`` (int, frames); PoolError once the port is closed."""
        self.check_open()
        return max(0, <long>pd_afp_zc_capacity(self.afp) - <long>pd_afp_zc_held(self.afp))

    @property
    def blocks_held(self):
        """Ring blocks kept from the kernel by held frames or being read (int)."""
        return pd_afp_zc_blocks_held(self.afp) if self.afp != NULL else 0

    @property
    def headroom(self):
        """Bytes reserved in front of every frame, at least (int; prepend goes there).

        PoolError once the port is closed.
        """
        self.check_open()
        return pd_afp_zc_headroom(self.afp)

    def alloc_burst(self, Py_ssize_t n, length=0):
        """Always refused: the ring's frames come from the kernel.

        Parameters
        ----------
        n : int
            Ignored.
        length : int, default 0
            Ignored.

        Returns
        -------
        Burst
            Never returns.

        Raises
        ------
        PoolError
            Always (ENOBUFS): allocate new packets from a BufferPool.
        """
        raise PoolError(errno.ENOBUFS, "a zero-copy AF_PACKET ring cannot allocate packets: "
                                       "its frames come from the kernel; allocate new "
                                       "packets from a BufferPool")

    def burst_from_bytes(self, frames):
        """Always refused, as :meth:`alloc_burst`.

        Parameters
        ----------
        frames : iterable of bytes-like
            Ignored.

        Returns
        -------
        Burst
            Never returns.

        Raises
        ------
        PoolError
            Always (ENOBUFS): allocate new packets from a BufferPool.
        """
        return self.alloc_burst(1)

    def __repr__(self):
        if self.afp == NULL:
            return f"<AfPacketRing {self.ifname!r} closed>"
        return (f"<AfPacketRing {self.ifname!r} {self.in_use} frame(s) held in "
                f"{self.blocks_held} block(s)>")


cdef str _format_mac(const unsigned char *mac):
    # exactly 6 bytes: a MAC may contain 0x00, so it is no C string
    return ":".join(f"{b:02x}" for b in mac[:6])


@cython.no_gc_clear  # __dealloc__ needs rx_pool (to detach a zero-copy ring)
cdef class AfPacketPort(PortBase):
    """A port over a Linux network interface through AF_PACKET (TPACKET_V3).

    ``AfPacketPort("eth0")`` binds to the interface by name.  Several
    *queues* share the interface's traffic through PACKET_FANOUT
    (*fanout* mode "hash" keeps each flow on one queue).  Needs CAP_NET_RAW.

    Receive modes:

    - copy (default): each frame is copied from the ring into a packet of
      *pool* (a BufferPool); the ring block goes back to the kernel at once.
    - ``zero_copy=True``: packets are views of the frames in the mapped ring
      (no copy); *pool* must be None and ``rx_pool`` is an AfPacketRing.  A
      ring block goes back to the kernel only when every packet taken from
      it was freed or sent, so packets you hold hold their block; while
      every block is held the kernel drops frames (``imissed`` in stats).
      Each frame has *headroom* bytes (PACKET_RESERVE, default 128) in front
      to prepend into; packets cannot grow at the end (no tailroom).  A
      received VLAN tag is put back in front, as in copy mode.  ``close()``
      is refused while zero-copy packets are held.

    ``tx_burst`` sends packets of a BufferPool or zero-copy packets of any
    AfPacketPort (forwarding), in either mode.

    ``vnet_hdr=True`` (default) opens the sockets with PACKET_VNET_HDR: GSO/GRO
    super-frames (the host's default TSO/GSO/GRO offloads) are cut into
    wire-sized frames in copy mode (counted: ``rx_gso_frames``,
    ``rx_gso_segments``, ``rx_gso_failed``; zero copy drops them, counted)
    and partial checksums are completed from the kernel's description.

    Thread-safe like every port (one lock per queue).  The rings' memory
    (``block_size * block_count`` per queue, plus ``tx_frames * frame_size``
    per queue with ``tx_mode="ring"``) is checked against the machine's
    available memory first: ResourceLimitError names the limit.  The ring
    format is the kernel's (Documentation/networking/packet_mmap.rst).

    Parameters
    ----------
    ifname : str
        Interface name in this network namespace, 1 to 15 bytes, no '/'.
    pool : BufferPool, optional
        Copy mode: pool received packets are copied into (default: a new
        BufferPool of ``max(1024, 512 * queues)`` buffers of *frame_size*
        bytes).  Must be None with *zero_copy*.
    queues : int, default 1
        Sockets (rx/tx queue pairs) sharing the traffic, 1 to
        16 (``PD_AFP_MAX_QUEUES``).
    fanout : str, default "hash"
        PACKET_FANOUT mode, a key of ``FANOUT_MODES``.
    promiscuous : bool, default True
        Put the interface in promiscuous mode (PACKET_MR_PROMISC).
    qdisc_bypass : bool, default True
        Send past the kernel's queueing discipline (PACKET_QDISC_BYPASS).
    tx_mode : str, default "sendmmsg"
        ``"sendmmsg"`` (one syscall per burst) or ``"ring"`` (a mapped
        TX ring); the keys of ``TX_MODES``.
    block_size : int, default 262144
        Bytes per rx ring block, a multiple of the page size.
    block_count : int, default 32
        Rx ring blocks per queue.
    frame_size : int, default 2048
        Bytes per ring frame, a multiple of 16 and at most *block_size*.
    tx_frames : int, default 1024
        Frames of the TX ring per queue (``tx_mode="ring"``).
    block_timeout_ms : int, default 1
        Milliseconds after which the kernel hands over a partly filled block.
    zero_copy : bool, default False
        Receive packets as views of the ring's frames (see above).
    headroom : int, optional
        Zero copy only: bytes reserved in front of each frame
        (PACKET_RESERVE, default 128), at most ``frame_size - 1600``.
    vnet_hdr : bool, default True
        Use PACKET_VNET_HDR (GSO/GRO segmentation, checksum completion).

    Raises
    ------
    ValueError
        A bad interface name, queue count, mode, *headroom*, a pool with
        *zero_copy*, or a ring geometry the kernel refused (EINVAL).
    TypeError
        *pool* is not a BufferPool.
    PermissionError
        No CAP_NET_RAW.
    PortError
        No such interface (ENODEV), or opening the sockets failed (errno).
    ResourceLimitError
        The rings need more than ``memory_limit()``.
    PoolError
        *pool* is closed.

    Notes
    -----
    ``stats()`` and ``queue_stats()`` keys (packets unless named bytes):
    ``ipackets``, ``opackets``, ``ibytes``, ``obytes`` (bytes),
    ``imissed`` (frames the kernel dropped: ring full), ``ierrors``
    (``rx_malformed + rx_gso_failed + rx_oversize``), ``oerrors`` (frames the
    kernel refused to send), ``rx_nombuf`` (no pool buffer: dropped),
    ``kernel_packets`` and ``kernel_drops`` (PACKET_STATISTICS),
    ``ring_freezes`` (times the ring was full), ``rx_malformed``,
    ``rx_gso_frames`` (super-frames received), ``rx_gso_segments`` (frames
    cut from them), ``rx_gso_failed`` and ``rx_oversize`` (dropped).
    """

    cdef pd_afp *afp
    cdef readonly str ifname
    """Interface name (str)."""
    cdef readonly str tx_mode
    """``"sendmmsg"`` or ``"ring"`` (str), as given."""
    cdef readonly bint zero_copy
    """Whether received packets are views of the ring's frames (bool)."""

    def __cinit__(self):
        self.afp = NULL

    def __init__(self, str ifname not None, PacketPool pool=None, *, unsigned int queues=1,
                 str fanout="hash", bint promiscuous=True, bint qdisc_bypass=True,
                 str tx_mode="sendmmsg", unsigned int block_size=1 << 18,
                 unsigned int block_count=32, unsigned int frame_size=2048,
                 unsigned int tx_frames=1024, unsigned int block_timeout_ms=1,
                 bint zero_copy=False, headroom=None, bint vnet_hdr=True):
        cdef pd_afp_config cfg
        cdef bytes name
        cdef int rc
        if self.afp != NULL:
            raise PortError(errno.EEXIST, "AfPacketPort already initialised")
        name = ifname.encode()
        if not name or len(name) > 15 or b"/" in name or b"\0" in name:
            raise ValueError(f"{ifname!r} is not a valid interface name "
                             "(1 to 15 bytes, no '/')")
        if not 1 <= queues <= PD_AFP_MAX_QUEUES:
            raise ValueError(f"queues must be between 1 and {PD_AFP_MAX_QUEUES}, got {queues}")
        if fanout not in FANOUT_MODES:
            raise ValueError(f"fanout must be one of {sorted(FANOUT_MODES)}, got {fanout!r}")
        if tx_mode not in TX_MODES:
            raise ValueError(f"tx_mode must be one of {sorted(TX_MODES)}, got {tx_mode!r}")
        if zero_copy:
            if pool is not None:
                raise ValueError("zero_copy=True receives into the ring itself: pass no pool "
                                 "(build new packets in a BufferPool of your own)")
            if headroom is None:
                headroom = PD_AFP_ZC_DEFAULT_HEADROOM
            # The reserve plus the ring header and a full-size frame must fit.
            if not 0 <= headroom <= <long>frame_size - 1600:
                raise ValueError(f"headroom must be between 0 and frame_size - 1600 = "
                                 f"{<long>frame_size - 1600} with frame_size={frame_size}, "
                                 f"got {headroom}")
        elif headroom is not None:
            raise ValueError("headroom is set by the BufferPool in copy mode; it applies "
                             "only with zero_copy=True")
        elif pool is None:
            pool = BufferPool(capacity=max(1024, 512 * queues), data_room=frame_size)
        elif not isinstance(pool, BufferPool):
            raise TypeError(f"AfPacketPort needs a BufferPool, got {type(pool).__name__}")
        if pool is not None:
            pool.check_open()
        ring_bytes = <double>block_size * block_count
        if tx_mode == "ring":
            ring_bytes += <double>tx_frames * frame_size
        check_memory(ring_bytes * queues,
                     f"AF_PACKET rings of {queues} queue(s) ({block_count} blocks of "
                     f"{block_size} bytes{f', {tx_frames} tx frames' if tx_mode == 'ring' else ''}"
                     " each)")

        pd_afp_config_init(&cfg, name)
        cfg.nb_queues = <uint16_t>queues
        cfg.fanout_mode = <uint16_t>FANOUT_MODES[fanout]
        cfg.block_size = block_size
        cfg.block_count = block_count
        cfg.frame_size = frame_size
        cfg.tx_frame_count = tx_frames
        cfg.block_timeout_ms = block_timeout_ms
        cfg.tx_mode = TX_MODES[tx_mode]
        cfg.promiscuous = promiscuous
        cfg.qdisc_bypass = qdisc_bypass
        cfg.zero_copy = zero_copy
        cfg.vnet_hdr = vnet_hdr
        if zero_copy:
            cfg.zc_headroom = headroom
        rc = pd_afp_open(&self.afp, &cfg, (<BufferPool>pool).bp if pool is not None else NULL)
        if rc < 0:
            raise _open_error(rc, ifname)
        self.ifname = ifname
        self.tx_mode = tx_mode
        self.zero_copy = zero_copy
        self.hold_pool(AfPacketRing.attach(self.afp, ifname) if zero_copy else pool)
        pd_afp_port_io(self.afp, &self.io)
        self.n_rx_queues = <uint16_t>queues
        self.n_tx_queues = <uint16_t>queues

    @property
    def ring(self):
        """The AfPacketRing of a zero-copy port (the pool of its packets); None in copy mode."""
        return self.rx_pool if self.zero_copy else None

    @property
    def pool(self):
        """The pool received packets belong to: the BufferPool, or the AfPacketRing."""
        return self.rx_pool

    @property
    def mac(self):
        """The interface's MAC address, ``"aa:bb:cc:dd:ee:ff"`` (str); PortError once closed."""
        self.check_open()
        return _format_mac(pd_afp_mac(self.afp))

    @property
    def mtu(self):
        """The interface's MTU in bytes when the port was opened (int).

        PortError (EBADF) once closed.
        """
        self.check_open()
        return pd_afp_mtu(self.afp)

    @property
    def ifindex(self):
        """The interface's index (int, ``if_nametoindex``); PortError once closed."""
        self.check_open()
        return pd_afp_ifindex(self.afp)

    @property
    def vnet_hdr(self):
        """True when the sockets use PACKET_VNET_HDR: GSO/GRO super-frames are
        segmented into wire-sized frames (copy mode) and partial checksums
        completed."""
        self.check_open()
        return bool(pd_afp_vnet_hdr(self.afp))

    cdef int _raise_if_failed(self) except -1:
        cdef int rc = pd_afp_error(self.afp)
        if rc == 0:
            return 0
        # The interface is gone: stop cleanly; close() still releases all.
        pd_afp_stop(self.afp)
        self.started = False
        if rc == -errno.ENODEV:
            raise PortError(errno.ENODEV, f"interface {self.ifname!r} was deleted; "
                                          "the port is stopped (close it)")
        raise error_from_errno(rc, f"AF_PACKET port on {self.ifname!r} failed", PortError)

    def rx_burst(self, int queue=0, int max_packets=32):
        """Receive up to *max_packets* packets from rx *queue* into a new Burst.

        Does not wait (see :meth:`wait`).  Thread-safe; calls on one queue
        take turns.

        Parameters
        ----------
        queue : int, default 0
            Rx queue (socket) id, ``0 <= queue < rx_queues``.
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
            The port is closed (EBADF) or not started (ENETDOWN), or the
            interface was deleted (ENODEV; the port is then stopped) or failed.
        ConcurrentUseError
            A native loop polls that queue (EBUSY).
        ForkedChildError
            The port was created by the parent of this forked process.
        """
        cdef Burst burst = PortBase.rx_burst(self, queue, max_packets)
        if len(burst) == 0:
            self._raise_if_failed()
        return burst

    cdef int tx_incomplete(self, int queue) except -1:
        # PortBase.tx_burst sends (BufferPool packets or zero-copy frames of
        # any AF_PACKET port, through pd_port_io.tx_burst_ops); an unsent
        # tail may mean the interface is gone.
        self._raise_if_failed()
        return 0

    def wait(self, int queue=0, double timeout=1.0):
        """Block up to *timeout* seconds until rx *queue* has packets (``poll``).

        The GIL is released while waiting.

        Parameters
        ----------
        queue : int, default 0
            Rx queue id.
        timeout : float, default 1.0
            Longest wait in seconds (millisecond resolution).

        Returns
        -------
        bool
            True if packets are ready, False on timeout.

        Raises
        ------
        ValueError
            No such queue.
        PortError
            The port is closed or not started, the interface was deleted
            (ENODEV), or ``poll`` failed.
        """
        cdef int rc
        cdef int ms = <int>(timeout * 1000)
        self.check_rx_queue(queue)
        self.check_usable()
        with nogil:
            rc = pd_afp_wait(self.afp, <uint16_t>queue, ms)
        if rc < 0:
            self._raise_if_failed()
            raise error_from_errno(rc, f"waiting on {self.ifname!r} failed", PortError)
        return rc > 0

    def check(self):
        """Check that the interface still exists (cheap; rx does it too).

        Raises
        ------
        PortError
            The port is closed (EBADF), or the interface was deleted
            (ENODEV) or failed; the port is then stopped.
        """
        self.check_open()
        pd_afp_check(self.afp)
        self._raise_if_failed()

    def _start(self):
        cdef int rc
        self.check_open()
        rc = pd_afp_start(self.afp)
        if rc < 0:
            self._raise_if_failed()
            raise error_from_errno(rc, f"cannot start the port on {self.ifname!r}", PortError)

    def _stop(self):
        if self.afp != NULL:
            pd_afp_stop(self.afp)

    def close(self):
        """Stop and release the port and its sockets, let go of its pool.  Idempotent.

        Raises
        ------
        BusyError
            Zero-copy packets received from it are still held, or a burst
            call or native loop uses the port right now (EBUSY).  Also a
            PacketStateError and a PortError.
        """
        cdef uint32_t held
        if self.afp != NULL and self.zero_copy:
            held = pd_afp_zc_held(self.afp)
            if held:
                raise_busy(self, f"cannot close: {held} zero-copy packet(s) still hold "
                                 "ring blocks; free or send them first")
        PortBase.close(self)

    cdef void _release(self) noexcept:
        if self.zero_copy and isinstance(self.rx_pool, AfPacketRing):
            (<AfPacketRing>self.rx_pool).detach()
        if self.afp != NULL:
            # With zero-copy packets still held (garbage collection only), the
            # ring stays mapped until the last of them is freed.
            pd_afp_close(self.afp)
            self.afp = NULL

    def _close(self):
        self._release()

    def _stats(self):
        return self.queue_stats(-1)

    def queue_stats(self, int queue=-1):
        """Counters of one queue, or of all (-1).

        ``imissed`` counts frames the kernel dropped because the ring was
        full (kernel_drops); ``ring_freezes`` how often that happened.

        Parameters
        ----------
        queue : int, default -1
            Queue id, or -1 for the sum over all queues.

        Returns
        -------
        dict of str to int
            The keys listed in the class's Notes (same as ``stats()``).

        Raises
        ------
        ValueError
            No such queue.
        PortError
            The port is closed (EBADF).
        """
        cdef pd_afp_stats st
        self.check_open()
        if queue >= self.n_rx_queues or queue < -1:
            raise ValueError(f"queue {queue} does not exist: {self!r} has "
                             f"{self.n_rx_queues} queue(s)")
        pd_afp_stats_get(self.afp, queue, &st)
        return {
            "ipackets": st.rx_packets,
            "opackets": st.tx_packets,
            "ibytes": st.rx_bytes,
            "obytes": st.tx_bytes,
            "imissed": st.kernel_drops,
            "ierrors": st.rx_malformed + st.rx_gso_failed + st.rx_oversize,
            "oerrors": st.tx_errors,
            "rx_nombuf": st.rx_nombuf,
            "kernel_packets": st.kernel_packets,
            "kernel_drops": st.kernel_drops,
            "ring_freezes": st.ring_freezes,
            "rx_malformed": st.rx_malformed,
            "rx_gso_frames": st.rx_gso_frames,
            "rx_gso_segments": st.rx_gso_segments,
            "rx_gso_failed": st.rx_gso_failed,
            "rx_oversize": st.rx_oversize,
        }

    def reset_stats(self):
        """Zero every counter of every queue.

        Raises
        ------
        PortError
            The port is closed (EBADF).
        """
        self.check_open()
        pd_afp_stats_reset(self.afp)

    def __dealloc__(self):
        if self.afp != NULL and not self.forked():
            self._release()
            warnings.warn("AfPacketPort garbage-collected without close()", ResourceWarning)

    def __repr__(self):
        return (f"<AfPacketPort {self.ifname!r} queues={self.n_rx_queues} "
                f"tx={self.tx_mode}{' zero-copy' if self.zero_copy else ''}>")


_OFFLOAD_NAMES = (
    ("tso", PD_NET_OFF_TSO), ("tso6", PD_NET_OFF_TSO6), ("gso", PD_NET_OFF_GSO),
    ("gro", PD_NET_OFF_GRO), ("lro", PD_NET_OFF_LRO), ("tx_csum", PD_NET_OFF_TXCSUM),
    ("rx_csum", PD_NET_OFF_RXCSUM), ("uso", PD_NET_OFF_USO),
)


def interface_info(str ifname not None):
    """MTU and offload state of a network interface of this namespace, read
    with the ethtool ioctl (SIOCETHTOOL ETHTOOL_GFEATURES, no external tool):
    ``{"mtu": 1500, "offloads": {"tso": True, "gro": False, ...}}`` (only
    the features the driver reports).  PortError (ENODEV) for no such
    interface."""
    cdef pd_net_ifinfo info
    cdef bytes name = ifname.encode()
    cdef int rc
    if not name or len(name) > 15:
        raise ValueError(f"{ifname!r} is not a valid interface name (1 to 15 bytes)")
    rc = pd_net_ifinfo_get(name, &info)
    check_rc(rc, f"cannot read interface {ifname}", PortError)
    return {"mtu": info.mtu,
            "offloads": {n: bool(info.offloads & bit) for n, bit in _OFFLOAD_NAMES
                         if info.known & bit}}


def _open_error(int rc, str ifname):
    if rc == -errno.ENODEV:
        return PortError(errno.ENODEV, f"no network interface named {ifname!r} in this "
                                       "network namespace (see `ip link`)")
    if rc in (-errno.EPERM, -errno.EACCES):
        return PermissionError(-rc, f"cannot open an AF_PACKET socket on {ifname!r}: "
                                    "needs CAP_NET_RAW (run as root or grant the capability)")
    if rc == -errno.EINVAL:
        return ValueError(f"the kernel refused the AF_PACKET ring configuration for "
                          f"{ifname!r} (block_size must be a multiple of the page size, "
                          "frame_size a multiple of 16 and <= block_size)")
    return error_from_errno(rc, f"cannot open AF_PACKET port on {ifname!r}", PortError)
