# cython: language_level=3
"""Native capture files: PcapPort, CaptureReader, CaptureWriter.

pcap and pcapng in and out through pydpdk's own reader and writer
(native/pcapfile/capfile.c), which keep every pcapng interface with its
link type, snap length and timestamp resolution.  Built with the 'pcap'
feature.  PcapPort is like DPDK's net_pcap vdev (rx_pcap=, tx_pcap=) but
over native BufferPool packets, with replay at the file's own timing and
looping.
"""

import errno
import os
import warnings
from collections import namedtuple

from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t

from pydpdk._burst cimport Burst, PacketPool, PortBase
from pydpdk._handle cimport Handle, check_rc, raise_closed
from pydpdk._includes.pcapfile cimport (
    PD_CAP_PCAP,
    PD_CAP_PCAPNG,
    pd_cap_iface,
    pd_cap_read,
    pd_cap_reader,
    pd_cap_reader_close,
    pd_cap_reader_error_text,
    pd_cap_reader_format,
    pd_cap_reader_iface,
    pd_cap_reader_n_ifaces,
    pd_cap_reader_open,
    pd_cap_record,
    pd_cap_write,
    pd_cap_write_raw,
    pd_cap_writer,
    pd_cap_writer_add_iface,
    pd_cap_writer_close,
    pd_cap_writer_flush,
    pd_cap_writer_new_section,
    pd_cap_writer_open,
    pd_pcap,
    pd_pcap_close,
    pd_pcap_config,
    pd_pcap_config_init,
    pd_pcap_drop_text,
    pd_pcap_error,
    pd_pcap_error_text,
    pd_pcap_flush,
    pd_pcap_io_done,
    pd_pcap_open,
    pd_pcap_port_io,
    pd_pcap_rx_done,
    pd_pcap_rx_info,
    pd_pcap_rx_wait_ns,
    pd_pcap_start,
    pd_pcap_stats,
    pd_pcap_stats_get,
    pd_pcap_stats_reset,
    pd_pcap_stop,
    pd_pcap_tx_add_iface,
    pd_pcap_tx_mirror,
    pd_pcap_tx_burst_info,
    pd_pcap_tx_format,
    pd_pcap_rxinfo,
)
from pydpdk._includes.pkt cimport pd_pkt_ops_same
from pydpdk._native cimport BufferPool

from pydpdk.errors import CaptureFileError, PortError, error_from_errno

#: Link types (LINKTYPE_*, tcpdump.org/linktypes.html) that have a name here.
LINK_TYPES = {1: "ethernet", 101: "raw", 113: "linux-sll", 276: "linux-sll2"}

RecordInfo = namedtuple("RecordInfo", "number interface link_type orig_len ts_raw ts_resolution "
                                      "section")
RecordInfo.__doc__ = """What the file said about one delivered record (``PcapPort.rx_info``).

Parameters
----------
number : int
    Record number in the file, from 1 (tshark's ``frame.number``).
interface : int
    Interface number within its pcapng section (0 for pcap).
link_type : int
    ``LINKTYPE_*`` of that interface (1 Ethernet, 113 Linux SLL).
orig_len : int
    Length on the wire in bytes (above the packet's length when the snap
    length cut it).
ts_raw : int
    The timestamp as stored, in the interface's units.
ts_resolution : int
    pcapng ``if_tsresol`` (6: microseconds, 9: nanoseconds, bit 7 set: a
    power of 2).
section : int
    pcapng section number (0 for pcap).
"""

Record = namedtuple("Record", "data orig_len ts_ns ts_raw ts_resolution ts_offset interface "
                              "link_type snaplen section number offset")
Record.__doc__ = """One record of a capture file (what CaptureReader yields).

Parameters
----------
data : bytes
    The captured bytes.
orig_len : int
    Length on the wire in bytes (above ``len(data)`` when the snap length
    cut it).
ts_ns : int
    Nanoseconds since the epoch, ``if_tsoffset`` applied (0 for a pcapng
    simple packet block, which has no timestamp).
ts_raw : int
    The timestamp as stored, in units of ``if_tsresol``.
ts_resolution : int
    The interface's ``if_tsresol`` (6: microseconds, 9: nanoseconds, bit 7
    set: a power of 2).
ts_offset : int
    The interface's ``if_tsoffset`` in seconds.
interface : int
    Interface number within its section (0 for pcap).
link_type : int
    ``LINKTYPE_*`` of the interface.
snaplen : int
    Snap length of the interface in bytes.
section : int
    pcapng section number (0 for pcap).
number : int
    Record number from 1 (tshark's ``frame.number``).
offset : int
    Byte offset of the record in the file.
"""


def _format_code(fmt, path):
    if fmt is None:
        name = os.fsdecode(path).lower()
        return PD_CAP_PCAPNG if name.endswith((".pcapng", ".ng")) else PD_CAP_PCAP
    if fmt == "pcap":
        return PD_CAP_PCAP
    if fmt == "pcapng":
        return PD_CAP_PCAPNG
    raise ValueError(f"capture format must be 'pcap', 'pcapng' or None (by the file name), "
                     f"got {fmt!r}")


def _format_name(int code):
    return {PD_CAP_PCAP: "pcap", PD_CAP_PCAPNG: "pcapng"}.get(code)


def _check_resolution(int ts_resolution):
    if not 0 <= ts_resolution <= 255:
        raise ValueError(f"ts_resolution is a pcapng if_tsresol byte (0..255), got {ts_resolution}")
    if (ts_resolution & 0x7F) > 19 and not ts_resolution & 0x80:
        raise ValueError(f"ts_resolution 10^-{ts_resolution} s is finer than 64 bits can hold")


cdef class PcapPort(PortBase):
    """A port whose rx reads a capture file and whose tx writes one.

    *rx_path*: pcap or pcapng file to read: every record of every interface
    is delivered with its bytes and timestamp, whatever its link type (a
    Linux-cooked record keeps its SLL header); :meth:`rx_info` tells, for
    the last burst, each record's interface, link type and original length.
    *tx_path*: capture to write (created or truncated), pcapng when
    *format* is ``"pcapng"`` or, with *format* None, when the name ends in
    ``.pcapng``; else classic pcap.  Its interface 0 has *link_type* and
    *snaplen*, nanosecond timestamps unless *nanosecond* is False; more with
    :meth:`add_tx_interface` (pcapng), or copied from an input port with
    :meth:`mirror_interfaces`.  A packet sent without an explicit interface
    is written on the interface it was read from (pydpdk's own buffers
    carry it, with the timestamp) when this file has that interface, else
    on interface 0.
    *replay_timing*: release packets at the pace recorded in the file,
    *speed* times faster.  *passes*: how many times to read the file
    (0 = loop forever).  Records cut short by the capture's snap length are
    counted in ``ierrors`` (and ``rx_snapped``) and dropped unless
    *deliver_snapped*; records larger than a pool buffer are counted in
    ``ierrors`` (and ``rx_oversized``); :attr:`drop_reason` names the last
    one.  A file that is cut off or corrupt raises CaptureFileError naming
    the record, once the good packets before it were delivered.  A failed
    write (full disk) raises the OSError of its errno from ``tx_burst``,
    ``flush``, ``stop`` or ``close``.  Formats: libpcap's classic format
    and pcapng (draft-ietf-opsawg-pcapng), read and written by pydpdk's own
    code (``native/pcapfile``).

    Parameters
    ----------
    rx_path : str or os.PathLike, optional
        Capture file to read.
    tx_path : str or os.PathLike, optional
        Capture file to write (at least one of the two is needed).
    pool : BufferPool, optional
        Pool rx packets are read into (default: a new one of 1024 buffers).
    replay_timing : bool, default False
        Release packets at the pace recorded in the file.
    speed : float, default 1.0
        Replay speed factor (> 0; 2.0 is twice as fast).
    passes : int, default 1
        Times to read the file; 0 loops forever.
    snaplen : int, default 65535
        Snap length of the tx file's interface 0, 64 to 262144 bytes.
    nanosecond : bool, default True
        Nanosecond tx timestamps (else microseconds).
    format : {None, "pcap", "pcapng"}
        Tx file format; None: by the file name (``.pcapng`` or ``.ng``).
    link_type : int, default 1
        ``LINKTYPE_*`` of the tx file's interface 0 (1: Ethernet), 16 bits.
    deliver_snapped : bool, default False
        Deliver records cut by the snap length instead of dropping them.

    Raises
    ------
    ValueError
        No path, a parameter out of range, an unknown *format*, or a
        configuration the native port refuses.
    TypeError
        *pool* is not a BufferPool.
    CaptureFileError
        *rx_path* is not a pcap/pcapng capture.
    OSError
        A file cannot be opened (FileNotFoundError, PermissionError, ...).
    PoolError
        *pool* is closed.

    Notes
    -----
    ``stats()`` keys (packets unless named bytes): ``ipackets``,
    ``opackets``, ``ibytes``, ``obytes`` (bytes), ``imissed`` (always 0),
    ``ierrors`` (records dropped: snapped, oversized or malformed),
    ``rx_snapped`` (cut by the snap length), ``rx_oversized`` (larger than
    a pool buffer), ``oerrors`` (lost by a failed write), ``rx_nombuf`` (no
    pool buffer) and ``passes_done`` (complete passes over the rx file).
    """

    cdef pd_pcap *pc
    cdef readonly object rx_path
    """The rx file's path as given (str or os.PathLike), or None."""
    cdef readonly object tx_path
    """The tx file's path as given (str or os.PathLike), or None."""
    # mirror_interfaces(): the input port this one copies interfaces from,
    # and the output ports that copy from this one (told when it closes).
    cdef object mirror_src
    cdef list mirrored_by

    def __cinit__(self):
        self.pc = NULL

    def __init__(self, rx_path=None, tx_path=None, PacketPool pool=None, *,
                 bint replay_timing=False, double speed=1.0, unsigned int passes=1,
                 unsigned int snaplen=65535, bint nanosecond=True, format=None,
                 unsigned int link_type=1, bint deliver_snapped=False):
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
        if link_type > 0xFFFF:
            raise ValueError(f"link_type must be a 16-bit LINKTYPE_ value, got {link_type}")
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
            cfg.tx_format = _format_code(format, tx_path)
        elif format is not None:
            _format_code(format, "")
        cfg.replay_timing = replay_timing
        cfg.replay_speed = speed
        cfg.passes = passes
        cfg.snaplen = snaplen
        cfg.nanosecond = nanosecond
        cfg.tx_link_type = <uint16_t>link_type
        cfg.deliver_snapped = deliver_snapped
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

    cdef int _raise_if_failed(self) except -1:
        cdef int rc = pd_pcap_error(self.pc)
        if rc == 0:
            return 0
        text = pd_pcap_error_text(self.pc).decode(errors="replace")
        if rc == -errno.EBADMSG:
            raise CaptureFileError(errno.EBADMSG, f"capture file is cut off or corrupt: {text}")
        if text.startswith("writing "):
            # "writing FILE failed: strerror": keep the errno (ENOSPC, EIO...)
            raise PortError(-rc, text)
        raise error_from_errno(rc, text or "pcap port failed", PortError)

    def check(self):
        """Raise the error that ended rx or tx, if any (else return None).

        A native pipeline does not raise these while it runs: call this after.

        Raises
        ------
        CaptureFileError
            The input is cut off or corrupt (EBADMSG; names the record).
        PortError
            A write failed (its errno, ENOSPC: disk full), or the port is
            closed (EBADF).
        """
        self.check_open()
        self._raise_if_failed()

    @property
    def done(self):
        """True once every pass over the rx file was delivered (bool; always without rx).

        PortError (EBADF) once closed.
        """
        self.check_open()
        return bool(pd_pcap_rx_done(self.pc))

    @property
    def mac(self):
        """Capture files have no address: ``"00:00:00:00:00:00"`` (str)."""
        return "00:00:00:00:00:00"

    def rx_burst(self, int queue=0, int max_packets=32):
        """Read up to *max_packets* packets (fewer when not yet due in timed replay).

        An empty burst with ``done`` True means the file is exhausted;
        :meth:`rx_info` then describes each packet of the burst.

        Parameters
        ----------
        queue : int, default 0
            Rx queue id; the port has one (0).
        max_packets : int, default 32
            Most packets to read, 1 to ``BURST_MAX`` (256).

        Returns
        -------
        Burst
            0 to *max_packets* packets, owned by the caller.

        Raises
        ------
        ValueError
            No such queue, or *max_packets* out of range.
        CaptureFileError
            The file is cut off or corrupt at the next record (the good
            records before it were delivered by earlier calls).
        PortError
            The port is closed (EBADF) or not started (ENETDOWN), or a
            write failed earlier (its errno).
        ConcurrentUseError
            A native loop polls the queue (EBUSY).
        """
        cdef Burst burst = PortBase.rx_burst(self, queue, max_packets)
        if len(burst) == 0:
            self._raise_if_failed()
        return burst

    def tx_burst(self, Burst burst not None, int queue=0, *, interfaces=None, orig_lens=None):
        """Write every packet of *burst* to the tx file; returns the count taken.

        Packets a failed write lost are counted in ``oerrors``.

        Parameters
        ----------
        burst : Burst
            Packets of a BufferPool.
        queue : int, default 0
            Tx queue id; the port has one (0).
        interfaces : sequence of int, optional
            Per packet, the pcapng interface number to record (see
            :meth:`add_tx_interface`); default 0.  ``len(burst)`` entries.
        orig_lens : sequence of int, optional
            Per packet, the length on the wire in bytes when larger than the
            packet (e.g. from :meth:`rx_info`); default the packet's length.
            ``len(burst)`` entries.

        Returns
        -------
        int
            Packets taken from the front of the burst.

        Raises
        ------
        ValueError
            No such queue, *interfaces*/*orig_lens* of the wrong length, or
            packets of another backend.
        BufferError
            A memoryview of one of the burst's packets is alive.
        PortError
            No tx file (EOPNOTSUPP), the port is closed or not started, or
            the write failed (its errno: ENOSPC on a full disk).
        ConcurrentUseError
            A native loop uses the queue (EBUSY).
        """
        cdef uint32_t ifc[256]
        cdef uint32_t ol[256]
        cdef uint16_t sent
        cdef unsigned int i, n
        if self.tx_path is None:
            raise PortError(errno.EOPNOTSUPP, f"{self!r} has no tx file (pass tx_path)")
        if interfaces is None and orig_lens is None:
            sent = PortBase.tx_burst(self, burst, queue)
            self._raise_if_failed()
            return sent
        self.check_tx_queue(queue)
        self.check_usable()
        n = burst.count
        for name, values in (("interfaces", interfaces), ("orig_lens", orig_lens)):
            if values is not None and len(values) != n:
                raise ValueError(f"{name} has {len(values)} entries for {n} packets")
        for i in range(n):
            if interfaces is not None:
                ifc[i] = interfaces[i]
            if orig_lens is not None:
                ol[i] = orig_lens[i]
        if not pd_pkt_ops_same(burst.ops, self.io.ops):
            raise ValueError("the burst's packets cannot be sent on a port of another backend")
        burst.check_movable()
        sent = pd_pcap_tx_burst_info(self.pc, burst.pkts, <uint16_t>n,
                                     ifc if interfaces is not None else NULL,
                                     ol if orig_lens is not None else NULL)
        burst.consume_front(sent)
        self._raise_if_failed()
        return sent

    def rx_info(self):
        """What the file said about each packet of the last ``rx_burst``.

        Returns
        -------
        list of RecordInfo
            One per packet of the last burst, in order.

        Raises
        ------
        PortError
            The port is closed (EBADF).
        """
        cdef uint16_t n = 0, i
        cdef const pd_pcap_rxinfo *inf
        self.check_open()
        inf = pd_pcap_rx_info(self.pc, &n)
        return [RecordInfo(inf[i].index, inf[i].iface, inf[i].link_type, inf[i].orig_len,
                           inf[i].ts_raw, inf[i].tsresol, inf[i].section) for i in range(n)]

    @property
    def drop_reason(self):
        """Why the latest dropped record was dropped, naming it (str; "" if none).

        PortError (EBADF) once closed.
        """
        self.check_open()
        return pd_pcap_drop_text(self.pc).decode(errors="replace")

    @property
    def tx_format(self):
        """``"pcap"`` or ``"pcapng"`` for the tx file (str); None without one.

        PortError (EBADF) once closed.
        """
        self.check_open()
        return _format_name(pd_pcap_tx_format(self.pc))

    def add_tx_interface(self, unsigned int link_type=1, unsigned int snaplen=262144,
                         int ts_resolution=9):
        """Add an interface to a pcapng tx file; returns its number.

        Parameters
        ----------
        link_type : int, default 1
            ``LINKTYPE_*`` (1: Ethernet), 16 bits.
        snaplen : int, default 262144
            Snap length in bytes.
        ts_resolution : int, default 9
            pcapng ``if_tsresol`` (9: nanoseconds, 6: microseconds, bit 7
            set: a power of 2), 0 to 255.

        Returns
        -------
        int
            The new interface's number (for ``tx_burst(interfaces=...)``).

        Raises
        ------
        ValueError
            *link_type* or *ts_resolution* out of range.
        PortError
            The tx file is pcap (EOPNOTSUPP: one interface only), the port
            is closed (EBADF), or writing failed (its errno).
        """
        cdef int rc
        self.check_open()
        _check_resolution(ts_resolution)
        if link_type > 0xFFFF:
            raise ValueError(f"link_type must be a 16-bit LINKTYPE_ value, got {link_type}")
        rc = pd_pcap_tx_add_iface(self.pc, <uint16_t>link_type, snaplen, <uint8_t>ts_resolution)
        if rc == -errno.ENOTSUP:
            raise PortError(errno.EOPNOTSUPP,
                            f"{self.tx_path!r} is a pcap file: one interface only "
                            "(write .pcapng for several)")
        if rc < 0:
            self._raise_if_failed()
            raise error_from_errno(rc, f"cannot add an interface to {self.tx_path!r}", PortError)
        return rc

    def mirror_interfaces(self, PcapPort source not None):
        """Give this port's pcapng output the interfaces of *source*'s input.

        Each packet sent without an explicit interface is then written on
        the interface it was read from, defined here as in the input (link
        type, snap length, timestamp resolution and offset) when first
        used; interface 0 is redefined as the input's while nothing has been
        written.  Timestamps are kept as read.  Pass packets of one pcapng
        section at a time (interface numbers are per section).  Both ports
        must be polled by one thread.

        Parameters
        ----------
        source : PcapPort
            The port whose capture file input gives the interfaces.

        Raises
        ------
        ValueError
            This port writes no file, *source* reads none, or the native
            writer refuses (not pcapng).
        PortError
            Either port is closed (EBADF).
        """
        self.check_open()
        source.check_open()
        if self.tx_path is None or source.rx_path is None:
            raise ValueError("mirror_interfaces needs a port that writes a file and a "
                             "source port that reads one")
        if pd_pcap_tx_mirror(self.pc, source.pc) < 0:
            raise ValueError(f"cannot mirror the interfaces of {source!r}")
        self._unmirror_from_source()
        self.mirror_src = source
        if source.mirrored_by is None:
            source.mirrored_by = []
        source.mirrored_by.append(self)

    @property
    def mirror_source(self):
        """The port whose input's interfaces this one's output copies, or None."""
        return self.mirror_src

    def _unmirror_from_source(self):
        src = self.mirror_src
        self.mirror_src = None
        if src is not None and (<PcapPort>src).mirrored_by is not None:
            (<PcapPort>src).mirrored_by = [p for p in (<PcapPort>src).mirrored_by
                                           if p is not self]

    def _release_mirrors(self):
        """Before this port's files close: nothing may read its input's
        interfaces any more; its own mirror is let go."""
        for port in self.mirrored_by or ():
            if (<PcapPort>port).pc != NULL:
                pd_pcap_tx_mirror((<PcapPort>port).pc, NULL)
            (<PcapPort>port).mirror_src = None
        self.mirrored_by = None
        self._unmirror_from_source()

    @property
    def _rx_done_fn(self):
        """Address of the C end-of-file test for a pipeline's port source."""
        return <size_t>&pd_pcap_io_done

    def next_due(self):
        """Time until the next packet is due in timed replay.

        Returns
        -------
        float or None
            Seconds (0.0: now), or None when the file is done.

        Raises
        ------
        CaptureFileError
            The file is cut off or corrupt.
        PortError
            The port is closed (EBADF).
        """
        cdef int64_t ns
        self.check_open()
        ns = pd_pcap_rx_wait_ns(self.pc)
        self._raise_if_failed()
        return None if ns < 0 else ns / 1e9

    def flush(self):
        """Write buffered packets through to the tx file.

        Raises
        ------
        PortError
            The port is closed (EBADF), or the write failed (its errno,
            ENOSPC on a full disk).
        """
        self.check_open()
        if pd_pcap_flush(self.pc) < 0:
            self._raise_if_failed()

    def _start(self):
        self.check_open()
        pd_pcap_start(self.pc)

    def _stop(self):
        if self.pc != NULL and pd_pcap_stop(self.pc) < 0:
            self._raise_if_failed()

    def close(self):
        """Stop (flush) and close the files, let go of the pool.  Idempotent.

        The files are closed even when flushing fails.

        Raises
        ------
        PortError
            The first write error (its errno, e.g. ENOSPC), or a burst call
            or native loop uses the port (EBUSY).
        """
        try:
            PortBase.close(self)
        finally:
            # Only once the base class let the close go ahead (not busy).
            if self.closed and self.pc != NULL:
                self._release_mirrors()
                pd_pcap_close(self.pc)
                self.pc = NULL

    def _close(self):
        cdef int rc
        if self.pc != NULL:
            self._release_mirrors()
            rc = pd_pcap_close(self.pc)
            self.pc = NULL
            if rc < 0:      # (no tx file: tx_path is None)
                check_rc(rc, f"writing {os.fsdecode(self.tx_path)!r} failed", PortError)

    def _stats(self):
        cdef pd_pcap_stats st
        self.check_open()
        pd_pcap_stats_get(self.pc, &st)
        return {
            "ipackets": st.rx_packets,
            "opackets": st.tx_packets,
            "ibytes": st.rx_bytes,
            "obytes": st.tx_bytes,
            "imissed": 0,
            "ierrors": st.rx_malformed,
            "rx_snapped": st.rx_snapped,
            "rx_oversized": st.rx_oversized,
            "oerrors": st.tx_errors,
            "rx_nombuf": st.rx_nombuf,
            "passes_done": st.passes_done,
        }

    def reset_stats(self):
        """Zero the counters of ``stats()``.

        Raises
        ------
        PortError
            The port is closed (EBADF).
        """
        self.check_open()
        pd_pcap_stats_reset(self.pc)

    def __dealloc__(self):
        # (in a forked child the files are the parent's: no flush, no close)
        if self.pc != NULL and not self.forked():
            for port in self.mirrored_by or ():
                if (<PcapPort>port).pc != NULL:
                    pd_pcap_tx_mirror((<PcapPort>port).pc, NULL)
            pd_pcap_close(self.pc)
            self.pc = NULL
            warnings.warn("PcapPort garbage-collected without close()", ResourceWarning)

    def __repr__(self):
        return f"<PcapPort rx={self.rx_path!r} tx={self.tx_path!r}>"


def _open_error(int rc, str text, rx_path, tx_path):
    path = rx_path if rx_path is not None and str(rx_path) in text else tx_path
    if rc == -errno.EBADMSG:
        return CaptureFileError(-rc, f"cannot read {rx_path!r} as a pcap/pcapng capture: "
                                     f"{text}")
    if rc == -errno.EINVAL:
        return ValueError(f"invalid PcapPort configuration: {text}")
    return error_from_errno(rc, f"cannot open capture file {str(path)!r}")


cdef class CaptureReader(Handle):
    """Read every record of a pcap or pcapng file: ``for rec in CaptureReader(path)``.

    Yields :class:`Record` tuples (bytes, lengths, timestamp as stored and in
    ns, interface, link type, record number, byte offset).  Raises FileNotFoundError
    & co. on open, CaptureFileError (naming the record and byte offset) when
    the file is not a capture or is cut off or corrupt: the records before
    were yielded.  :attr:`format` is "pcap" or "pcapng".  Not thread-safe.

    Parameters
    ----------
    path : str or os.PathLike
        The capture file.

    Raises
    ------
    OSError
        The file cannot be opened (FileNotFoundError, PermissionError, ...).
    CaptureFileError
        It is not a pcap/pcapng capture (EBADMSG); while iterating: a record
        is cut off or corrupt (the message names it and its byte offset).
    """

    cdef pd_cap_reader *r
    cdef readonly object path
    """The file's path as given (str or os.PathLike)."""
    cdef readonly str format
    """``"pcap"`` or ``"pcapng"`` (str)."""

    def __cinit__(self):
        self.r = NULL

    def __init__(self, path):
        cdef bytes p = os.fsencode(path)
        cdef int rc
        self.path = path
        rc = pd_cap_reader_open(&self.r, p)
        if rc == -errno.EBADMSG:
            text = pd_cap_reader_error_text(self.r).decode(errors="replace")
            pd_cap_reader_close(self.r)
            self.r = NULL
            raise CaptureFileError(errno.EBADMSG, f"{os.fsdecode(path)}: {text}")
        if rc < 0:
            self.r = NULL
            raise OSError(-rc, f"cannot read capture file {os.fsdecode(path)!r}: "
                               f"{os.strerror(-rc)}", os.fsdecode(path))
        self.format = _format_name(pd_cap_reader_format(self.r))

    def __iter__(self):
        return self

    def __next__(self):
        cdef pd_cap_record rec
        cdef int rc
        if self.r == NULL:
            raise StopIteration
        rc = pd_cap_read(self.r, &rec)
        if rc == 1:
            return Record(rec.data[:rec.caplen], rec.orig_len, rec.ts_ns, rec.ts_raw,
                          rec.info.tsresol, rec.info.tsoffset, rec.iface, rec.info.link_type,
                          rec.info.snaplen, rec.section, rec.index, rec.offset)
        if rc == 0:
            raise StopIteration
        text = pd_cap_reader_error_text(self.r).decode(errors="replace")
        path = os.fsdecode(self.path)
        if rc == -errno.EBADMSG:
            raise CaptureFileError(errno.EBADMSG, f"{path}: cut off or corrupt: {text}")
        raise error_from_errno(rc, f"reading {path!r} failed", CaptureFileError)

    def interfaces(self):
        """Interfaces of the current section read so far, in order.

        Returns
        -------
        list of tuple
            ``(link_type, snaplen, ts_resolution, ts_offset)`` per interface
            (``LINKTYPE_*``, bytes, ``if_tsresol``, seconds); empty once
            closed.
        """
        cdef const pd_cap_iface *ifc
        cdef uint32_t i
        out = []
        if self.r == NULL:
            return out
        for i in range(pd_cap_reader_n_ifaces(self.r)):
            ifc = pd_cap_reader_iface(self.r, i)
            out.append((ifc.link_type, ifc.snaplen, ifc.tsresol, ifc.tsoffset))
        return out

    def close(self):
        """Close the file; iteration then ends.  Idempotent, never raises."""
        pd_cap_reader_close(self.r)
        self.r = NULL
        self.closed = True

    def __dealloc__(self):
        pd_cap_reader_close(self.r)

    def __repr__(self):
        return f"<CaptureReader {self.path!r}>"


cdef class CaptureWriter(Handle):
    """Write records to a pcap or pcapng file (created or truncated).

    *format*: "pcap", "pcapng", or None: pcapng when the name ends in
    ``.pcapng``.  Interface 0 has *link_type*, *snaplen* and *ts_resolution*
    (pcapng if_tsresol: 9 nanoseconds, 6 microseconds; pcap takes only
    those two) and *ts_offset* (if_tsoffset seconds, pcapng only).  Write
    errors raise the OSError of their errno (ENOSPC on a full disk), at the
    write that hit them or at ``flush``/``close``.  Not thread-safe.

    Parameters
    ----------
    path : str or os.PathLike
        File to create or truncate.
    format : {None, "pcap", "pcapng"}
        None: pcapng when the name ends in ``.pcapng`` or ``.ng``.
    link_type : int, default 1
        ``LINKTYPE_*`` of interface 0 (1: Ethernet), 16 bits.
    snaplen : int, default 262144
        Snap length of interface 0 in bytes.
    ts_resolution : int, default 9
        ``if_tsresol`` of interface 0 (pcap: 6 or 9 only).
    ts_offset : int, default 0
        ``if_tsoffset`` of interface 0 in seconds (pcap: 0 only).

    Raises
    ------
    ValueError
        An unknown *format*, or a parameter out of range or that pcap
        cannot hold.
    OSError
        The file cannot be created (PermissionError, ...).
    """

    cdef pd_cap_writer *w
    cdef readonly object path
    """The file's path as given (str or os.PathLike)."""
    cdef readonly str format
    """``"pcap"`` or ``"pcapng"`` (str)."""
    cdef readonly int interfaces
    """Interfaces defined in the current section (int; pcap: always 1)."""
    cdef readonly int link_type
    """``LINKTYPE_*`` of the first interface (int)."""

    def __cinit__(self):
        self.w = NULL

    def __init__(self, path, format=None, *, unsigned int link_type=1,
                 unsigned int snaplen=262144, int ts_resolution=9, long long ts_offset=0):
        cdef pd_cap_iface ifc
        cdef bytes p = os.fsencode(path)
        cdef int code = _format_code(format, path), rc
        _check_resolution(ts_resolution)
        if link_type > 0xFFFF:
            raise ValueError(f"link_type must be a 16-bit LINKTYPE_ value, got {link_type}")
        if code == PD_CAP_PCAP and (ts_resolution not in (6, 9) or ts_offset != 0):
            raise ValueError("a pcap file has microsecond or nanosecond timestamps "
                             "(ts_resolution 6 or 9) and no offset: write pcapng for others")
        ifc.link_type = <uint16_t>link_type
        ifc.snaplen = snaplen
        ifc.tsresol = <uint8_t>ts_resolution
        ifc.tsoffset = ts_offset
        self.path = path
        rc = pd_cap_writer_open(&self.w, p, code, &ifc)
        if rc < 0:
            self.w = NULL
            raise OSError(-rc, f"cannot write capture file {os.fsdecode(path)!r}: "
                               f"{os.strerror(-rc)}", os.fsdecode(path))
        self.format = _format_name(code)
        self.interfaces = 1
        self.link_type = link_type

    cdef int _check(self) except -1:
        self.check_open()
        if self.w == NULL:     # __init__ failed
            raise_closed(self)
        return 0

    cdef int _raise(self, int rc) except -1:
        if rc == -errno.EINVAL:
            raise ValueError("unknown interface, or a captured length above orig_len")
        if rc == -errno.EMSGSIZE:
            raise ValueError("record larger than 16 MiB")
        raise OSError(-rc, f"writing {os.fsdecode(self.path)!r} failed: {os.strerror(-rc)}",
                      os.fsdecode(self.path))

    def add_interface(self, unsigned int link_type=1, unsigned int snaplen=262144,
                      int ts_resolution=9, long long ts_offset=0):
        """Add an interface to the current pcapng section.

        Parameters
        ----------
        link_type : int, default 1
            ``LINKTYPE_*`` (1: Ethernet), 16 bits.
        snaplen : int, default 262144
            Snap length in bytes.
        ts_resolution : int, default 9
            ``if_tsresol`` (9: nanoseconds, 6: microseconds), 0 to 255.
        ts_offset : int, default 0
            ``if_tsoffset`` in seconds, added to every timestamp.

        Returns
        -------
        int
            The new interface's number (for ``write(interface=...)``).

        Raises
        ------
        ValueError
            The file is pcap (one interface only), or a parameter is out of
            range.
        ClosedError
            The writer is closed (EBADF).
        OSError
            The write failed (its errno).
        """
        cdef pd_cap_iface ifc
        cdef int rc
        self._check()
        _check_resolution(ts_resolution)
        if self.format != "pcapng":
            raise ValueError(f"{os.fsdecode(self.path)!r} is a pcap file: one interface only")
        if link_type > 0xFFFF:
            raise ValueError(f"link_type must be a 16-bit LINKTYPE_ value, got {link_type}")
        ifc.link_type = <uint16_t>link_type
        ifc.snaplen = snaplen
        ifc.tsresol = <uint8_t>ts_resolution
        ifc.tsoffset = ts_offset
        rc = pd_cap_writer_add_iface(self.w, &ifc)
        if rc < 0:
            self._raise(rc)
        self.interfaces += 1
        return rc

    def new_section(self, unsigned int link_type=1, unsigned int snaplen=262144,
                    int ts_resolution=9, long long ts_offset=0):
        """Start a new pcapng section whose interface 0 is the one given.

        Parameters
        ----------
        link_type : int, default 1
            ``LINKTYPE_*`` (1: Ethernet), 16 bits.
        snaplen : int, default 262144
            Snap length in bytes.
        ts_resolution : int, default 9
            ``if_tsresol`` (9: nanoseconds, 6: microseconds), 0 to 255.
        ts_offset : int, default 0
            ``if_tsoffset`` in seconds, added to every timestamp.

        Raises
        ------
        ClosedError
            The writer is closed (EBADF).
        ValueError
            The file is pcap (one section only), or a
            parameter is out of range.
        OSError
            The write failed (its errno).
        """
        cdef pd_cap_iface ifc
        cdef int rc
        self._check()
        _check_resolution(ts_resolution)
        if self.format != "pcapng":
            raise ValueError(f"{os.fsdecode(self.path)!r} is a pcap file: one section only")
        if link_type > 0xFFFF:
            raise ValueError(f"link_type must be a 16-bit LINKTYPE_ value, got {link_type}")
        ifc.link_type = <uint16_t>link_type
        ifc.snaplen = snaplen
        ifc.tsresol = <uint8_t>ts_resolution
        ifc.tsoffset = ts_offset
        rc = pd_cap_writer_new_section(self.w, &ifc)
        if rc < 0:
            self._raise(rc)
        self.interfaces = 1

    def write(self, data, ts_ns=None, *, int interface=0, orig_len=None, ts_raw=None):
        """Write one record.

        Parameters
        ----------
        data : bytes-like
            The captured bytes, at most 16 MiB.
        ts_ns : int, optional
            Timestamp in nanoseconds since the epoch (None: now), converted
            to the interface's resolution.
        interface : int, default 0
            Interface number in the current section.
        orig_len : int, optional
            Length on the wire in bytes, >= ``len(data)`` (default
            ``len(data)``).
        ts_raw : int, optional
            Timestamp in the interface's units, written exactly (overrides
            *ts_ns*).

        Raises
        ------
        ClosedError
            The writer is closed (EBADF).
        ValueError
            An unknown interface, *orig_len* below ``len(data)``, or a
            record larger than 16 MiB.
        OSError
            The write failed (its errno, ENOSPC on a full disk).
        """
        cdef const uint8_t[::1] view = memoryview(data).cast("B")
        cdef uint32_t caplen = <uint32_t>view.shape[0]
        cdef uint32_t orig = caplen if orig_len is None else orig_len
        cdef int rc
        cdef const uint8_t *ptr = &view[0] if caplen > 0 else NULL
        self._check()
        if interface < 0:
            raise ValueError(f"interface must be >= 0, got {interface}")
        if ts_raw is not None:
            rc = pd_cap_write_raw(self.w, interface, ts_raw, ptr, caplen, orig)
        else:
            if ts_ns is None:
                import time
                ts_ns = time.time_ns()
            rc = pd_cap_write(self.w, interface, ts_ns, ptr, caplen, orig)
        if rc < 0:
            self._raise(rc)

    def flush(self):
        """Write buffered records through to the file.

        Raises
        ------
        ClosedError
            The writer is closed (EBADF).
        OSError
            The write failed (its errno, ENOSPC on a full disk).
        """
        self._check()
        rc = pd_cap_writer_flush(self.w)
        if rc < 0:
            self._raise(rc)

    def close(self):
        """Flush and close the file.  Idempotent.

        Raises
        ------
        OSError
            The first write error (its errno, e.g. ENOSPC); the file is
            closed anyway.
        """
        cdef int rc
        self.closed = True
        if self.w != NULL:
            rc = pd_cap_writer_close(self.w)
            self.w = NULL
            if rc < 0:
                self._raise(rc)

    def __dealloc__(self):
        if self.w != NULL:
            pd_cap_writer_close(self.w)
            self.w = NULL

    def __repr__(self):
        return f"<CaptureWriter {self.path!r}>"
