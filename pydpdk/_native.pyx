# cython: language_level=3
"""Native (non-DPDK) backend core: BufferPool and AfPacketPort.

BufferPool wraps native/buf (pd_buf packets with headroom).  AfPacketPort
wraps native/afpacket: a TPACKET_V3 mmap rx ring and a tx ring (or
sendmmsg) per queue, bound to an interface by name.  Both plug into the
burst core (pydpdk._burst), so bursts, packets and the port methods are the
same as on every other backend; rx/tx run without the GIL.
"""

import errno
import warnings

from libc.stdint cimport uint16_t, uint32_t

from pydpdk._burst cimport Burst, PacketPool, PortBase
from pydpdk._includes.afpacket cimport (
    PD_AFP_MAX_QUEUES,
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
    pd_afp_open,
    pd_afp_port_io,
    pd_afp_start,
    pd_afp_stats,
    pd_afp_stats_get,
    pd_afp_stats_reset,
    pd_afp_stop,
    pd_afp_wait,
)
from pydpdk._includes.buf cimport (
    pd_buf_ops,
    pd_buf_pool_avail,
    pd_buf_pool_count,
    pd_buf_pool_create,
    pd_buf_pool_data_room,
    pd_buf_pool_double_frees,
    pd_buf_pool_free,
    pd_buf_pool_headroom,
)

from pydpdk.errors import PoolError, PortError, error_from_errno

# Packet fanout modes (linux/if_packet.h PACKET_FANOUT_*), by name.
FANOUT_MODES = {"hash": 0, "lb": 1, "cpu": 2, "rollover": 3, "rnd": 4, "qm": 5}
TX_MODES = {"ring": PD_AFP_TX_RING, "sendmmsg": PD_AFP_TX_SENDMMSG}
MAX_QUEUES = PD_AFP_MAX_QUEUES


cdef class BufferPool(PacketPool):
    """A fixed pool of native packet buffers (for the AF_PACKET and pcap ports).

    Each buffer has *headroom* bytes in front of the packet (room to prepend
    tunnel/FEC headers without copying) and *data_room* bytes for the packet.
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
        rc = pd_buf_pool_create(&self.bp, capacity, data_room, headroom)
        if rc < 0:
            raise error_from_errno(rc, f"cannot create a pool of {capacity} buffers of "
                                       f"{data_room} bytes", PoolError)
        self.pool = self.bp
        self.ops = &pd_buf_ops

    @property
    def capacity(self):
        self.check_open()
        return pd_buf_pool_count(self.bp)

    @property
    def available(self):
        self.check_open()
        return pd_buf_pool_avail(self.bp)

    @property
    def data_room(self):
        self.check_open()
        return pd_buf_pool_data_room(self.bp)

    @property
    def headroom(self):
        self.check_open()
        return pd_buf_pool_headroom(self.bp)

    @property
    def double_frees(self):
        """Packets returned twice (a bug elsewhere); ignored, never corrupting the pool."""
        self.check_open()
        return pd_buf_pool_double_frees(self.bp)

    def close(self):
        """Release the memory; refused while packets are out of the pool.  Idempotent."""
        cdef int rc
        if self.bp == NULL:
            return
        rc = pd_buf_pool_free(self.bp, 0)
        if rc < 0:
            raise PoolError(-rc, f"cannot close BufferPool: "
                                 f"{self.capacity - self.available} packet(s) still in use")
        self.bp = NULL
        self.pool = NULL

    def __dealloc__(self):
        # Bursts and ports hold a reference to their pool, so no packet can
        # still be in use when this runs.
        if self.bp != NULL:
            pd_buf_pool_free(self.bp, 1)
            self.bp = NULL

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False

    def __repr__(self):
        if self.bp == NULL:
            return "<BufferPool closed>"
        return f"<BufferPool {self.available}/{self.capacity} available>"


def _format_mac(const unsigned char *mac):
    return ":".join(f"{mac[i]:02x}" for i in range(6))


cdef class AfPacketPort(PortBase):
    """A port over a Linux network interface through AF_PACKET (TPACKET_V3).

    ``AfPacketPort("eth0")`` binds to the interface by name.  Several
    *queues* share the interface's traffic through PACKET_FANOUT
    (*fanout* mode "hash" keeps each flow on one queue).  Needs CAP_NET_RAW.
    """

    cdef pd_afp *afp
    cdef readonly str ifname
    cdef readonly str tx_mode

    def __cinit__(self):
        self.afp = NULL

    def __init__(self, str ifname not None, PacketPool pool=None, *, unsigned int queues=1,
                 str fanout="hash", bint promiscuous=True, bint qdisc_bypass=True,
                 str tx_mode="sendmmsg", unsigned int block_size=1 << 18,
                 unsigned int block_count=32, unsigned int frame_size=2048,
                 unsigned int tx_frames=1024, unsigned int block_timeout_ms=1):
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
        if pool is None:
            pool = BufferPool(capacity=max(1024, 512 * queues), data_room=frame_size)
        elif not isinstance(pool, BufferPool):
            raise TypeError(f"AfPacketPort needs a BufferPool, got {type(pool).__name__}")
        pool.check_open()

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
        rc = pd_afp_open(&self.afp, &cfg, (<BufferPool>pool).bp)
        if rc < 0:
            raise _open_error(rc, ifname)
        self.ifname = ifname
        self.tx_mode = tx_mode
        self.rx_pool = pool
        pd_afp_port_io(self.afp, &self.io)
        self.n_rx_queues = <uint16_t>queues
        self.n_tx_queues = <uint16_t>queues

    @property
    def mac(self):
        """The interface's MAC address, "aa:bb:cc:dd:ee:ff"."""
        self._check_open()
        return _format_mac(pd_afp_mac(self.afp))

    @property
    def mtu(self):
        self._check_open()
        return pd_afp_mtu(self.afp)

    @property
    def ifindex(self):
        self._check_open()
        return pd_afp_ifindex(self.afp)

    cdef int _check_open(self) except -1:
        if self.afp == NULL:
            raise PortError(errno.EBADF, f"{self!r} is closed")
        return 0

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

        Raises PortError when the interface has disappeared.
        """
        cdef Burst burst = PortBase.rx_burst(self, queue, max_packets)
        if len(burst) == 0:
            self._raise_if_failed()
        return burst

    def tx_burst(self, Burst burst not None, int queue=0):
        """Send packets from the front of *burst*; returns how many were sent.

        Packets the kernel refuses (larger than the interface allows) are
        dropped and counted in ``oerrors``; the unsent tail stays in the
        burst.  Raises PortError when the interface has disappeared.
        """
        cdef int sent = PortBase.tx_burst(self, burst, queue)
        if len(burst):
            self._raise_if_failed()
        return sent

    def wait(self, int queue=0, double timeout=1.0):
        """Block up to *timeout* seconds until rx *queue* has packets; True if it has."""
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
        """Raise PortError if the interface has disappeared (cheap; also done by rx)."""
        self._check_open()
        pd_afp_check(self.afp)
        self._raise_if_failed()

    def _start(self):
        cdef int rc
        self._check_open()
        rc = pd_afp_start(self.afp)
        if rc < 0:
            self._raise_if_failed()
            raise error_from_errno(rc, f"cannot start the port on {self.ifname!r}", PortError)

    def _stop(self):
        if self.afp != NULL:
            pd_afp_stop(self.afp)

    def _close(self):
        if self.afp != NULL:
            pd_afp_close(self.afp)
            self.afp = NULL

    def _stats(self):
        return self.queue_stats(-1)

    def queue_stats(self, int queue=-1):
        """Counters of one queue, or of all (-1).

        ``imissed`` counts frames the kernel dropped because the ring was
        full (kernel_drops); ``ring_freezes`` how often that happened.
        """
        cdef pd_afp_stats st
        self._check_open()
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
            "ierrors": st.rx_malformed,
            "oerrors": st.tx_errors,
            "rx_nombuf": st.rx_nombuf,
            "kernel_packets": st.kernel_packets,
            "kernel_drops": st.kernel_drops,
            "ring_freezes": st.ring_freezes,
        }

    def reset_stats(self):
        self._check_open()
        pd_afp_stats_reset(self.afp)

    def __dealloc__(self):
        if self.afp != NULL:
            pd_afp_close(self.afp)
            self.afp = NULL
            warnings.warn("AfPacketPort garbage-collected without close()", ResourceWarning)

    def __repr__(self):
        return (f"<AfPacketPort {self.ifname!r} queues={self.n_rx_queues} "
                f"tx={self.tx_mode}>")


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
