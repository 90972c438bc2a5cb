# cython: language_level=3
"""Native pcap file port: PcapPort (libpcap; pcap and pcapng in, pcap out).

Built only when the 'pcap' feature found libpcap.  Like DPDK's net_pcap
vdev (rx_pcap=, tx_pcap=) but over native BufferPool packets, with replay
at the file's own timing and looping.
"""

import errno
import os
import warnings

from libc.stdint cimport int64_t

from pydpdk._burst cimport Burst, PacketPool, PortBase
from pydpdk._includes.pcapfile cimport (
    pd_pcap,
    pd_pcap_close,
    pd_pcap_config,
    pd_pcap_config_init,
    pd_pcap_error,
    pd_pcap_error_text,
    pd_pcap_flush,
    pd_pcap_open,
    pd_pcap_port_io,
    pd_pcap_rx_done,
    pd_pcap_rx_wait_ns,
    pd_pcap_start,
    pd_pcap_stats,
    pd_pcap_stats_get,
    pd_pcap_stats_reset,
    pd_pcap_stop,
)
from pydpdk._native cimport BufferPool

from pydpdk.errors import CaptureFileError, PortError, error_from_errno


cdef class PcapPort(PortBase):
    """A port whose rx reads a capture file and whose tx writes one.

    *rx_path*: pcap or pcapng file to read (Ethernet link type).
    *tx_path*: pcap file to write (created or truncated).
    *replay_timing*: release packets at the pace recorded in the file,
    *speed* times faster.  *passes*: how many times to read the file
    (0 = loop forever).  Records cut short by the capture's snap length are
    counted in ``ierrors`` and dropped; a file that is cut off or corrupt
    raises CaptureFileError once the good packets before it were delivered.
    """

    cdef pd_pcap *pc
    cdef readonly object rx_path
    cdef readonly object tx_path

    def __cinit__(self):
        self.pc = NULL

    def __init__(self, rx_path=None, tx_path=None, PacketPool pool=None, *,
                 bint replay_timing=False, double speed=1.0, unsigned int passes=1,
                 unsigned int snaplen=65535, bint nanosecond=True):
        cdef pd_pcap_config cfg
        cdef char errbuf[512]
        cdef bytes rx_b = None, tx_b = None
        cdef int rc
        if self.pc != NULL:
            raise PortError(errno.EEXIST, "PcapPort already initialised")
        if rx_path is None and tx_path is None:
            raise ValueError("PcapPort needs rx_path, tx_path or both")
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        if not 64 <= snaplen <= 262144:
            raise ValueError(f"snaplen must be between 64 and 262144, got {snaplen}")
        if pool is None:
            pool = BufferPool(capacity=1024)
        elif not isinstance(pool, BufferPool):
            raise TypeError(f"PcapPort needs a BufferPool, got {type(pool).__name__}")
        pool.check_open()

        pd_pcap_config_init(&cfg)
        if rx_path is not None:
            rx_b = os.fsencode(rx_path)
            cfg.rx_path = rx_b
        if tx_path is not None:
            tx_b = os.fsencode(tx_path)
            cfg.tx_path = tx_b
        cfg.replay_timing = replay_timing
        cfg.replay_speed = speed
        cfg.passes = passes
        cfg.snaplen = snaplen
        cfg.nanosecond = nanosecond
        errbuf[0] = 0
        rc = pd_pcap_open(&self.pc, &cfg, (<BufferPool>pool).bp, errbuf, sizeof(errbuf))
        if rc < 0:
            raise _open_error(rc, errbuf.decode(errors="replace"), rx_path, tx_path)
        self.rx_path = rx_path
        self.tx_path = tx_path
        self.hold_pool(pool)
        pd_pcap_port_io(self.pc, &self.io)
        # Each extension links its own copy of native/buf: use the pool's ops
        # table so bursts from the pool and from this port compare equal.
        self.io.ops = pool.ops
        self.n_rx_queues = 1
        self.n_tx_queues = 1

    cdef int _check_open(self) except -1:
        if self.pc == NULL:
            raise PortError(errno.EBADF, f"{self!r} is closed")
        return 0

    cdef int _raise_if_failed(self) except -1:
        cdef int rc = pd_pcap_error(self.pc)
        if rc == 0:
            return 0
        text = pd_pcap_error_text(self.pc).decode(errors="replace")
        if rc == -errno.EBADMSG:
            raise CaptureFileError(errno.EBADMSG, f"capture file is cut off or corrupt: {text}")
        raise error_from_errno(rc, text or "pcap port failed", PortError)

    @property
    def done(self):
        """True once every pass over the rx file was delivered (always, without rx)."""
        self._check_open()
        return bool(pd_pcap_rx_done(self.pc))

    @property
    def mac(self):
        """Capture files have no address: "00:00:00:00:00:00"."""
        return "00:00:00:00:00:00"

    def rx_burst(self, int queue=0, int max_packets=32):
        """Read up to *max_packets* packets (fewer when not yet due in timed replay).

        An empty burst with ``done`` True means the file is exhausted.
        """
        cdef Burst burst = PortBase.rx_burst(self, queue, max_packets)
        if len(burst) == 0:
            self._raise_if_failed()
        return burst

    def tx_burst(self, Burst burst not None, int queue=0):
        """Write every packet of *burst* to the tx file; returns the count taken."""
        if self.tx_path is None:
            raise PortError(errno.EOPNOTSUPP, f"{self!r} has no tx file (pass tx_path)")
        cdef int sent = PortBase.tx_burst(self, burst, queue)
        self._raise_if_failed()
        return sent

    def next_due(self):
        """Seconds until the next packet is due (0.0 now, None when done)."""
        cdef int64_t ns
        self._check_open()
        ns = pd_pcap_rx_wait_ns(self.pc)
        self._raise_if_failed()
        return None if ns < 0 else ns / 1e9

    def flush(self):
        """Write buffered packets through to the tx file."""
        self._check_open()
        if pd_pcap_flush(self.pc) < 0:
            self._raise_if_failed()

    def _start(self):
        self._check_open()
        pd_pcap_start(self.pc)

    def _stop(self):
        if self.pc != NULL and pd_pcap_stop(self.pc) < 0:
            self._raise_if_failed()

    def _close(self):
        cdef int rc
        if self.pc != NULL:
            rc = pd_pcap_close(self.pc)
            self.pc = NULL
            if rc < 0:
                raise error_from_errno(rc, f"writing {self.tx_path!r} failed", PortError)

    def _stats(self):
        cdef pd_pcap_stats st
        self._check_open()
        pd_pcap_stats_get(self.pc, &st)
        return {
            "ipackets": st.rx_packets,
            "opackets": st.tx_packets,
            "ibytes": st.rx_bytes,
            "obytes": st.tx_bytes,
            "imissed": 0,
            "ierrors": st.rx_malformed,
            "oerrors": st.tx_errors,
            "rx_nombuf": st.rx_nombuf,
            "passes_done": st.passes_done,
        }

    def reset_stats(self):
        self._check_open()
        pd_pcap_stats_reset(self.pc)

    def __dealloc__(self):
        # (in a forked child the files are the parent's: no flush, no close)
        if self.pc != NULL and not self.forked():
            pd_pcap_close(self.pc)
            self.pc = NULL
            warnings.warn("PcapPort garbage-collected without close()", ResourceWarning)

    def __repr__(self):
        return f"<PcapPort rx={self.rx_path!r} tx={self.tx_path!r}>"


def _open_error(int rc, str text, rx_path, tx_path):
    path = rx_path if rx_path is not None and str(rx_path) in text else tx_path
    if rc in (-errno.EBADMSG, -errno.EPROTONOSUPPORT):
        return CaptureFileError(-rc, f"cannot read {rx_path!r} as a pcap/pcapng capture: "
                                     f"{text}")
    if rc == -errno.EINVAL:
        return ValueError(f"invalid PcapPort configuration: {text}")
    return error_from_errno(rc, f"cannot open capture file {str(path)!r}")
