"""Capture files without DPDK: a pcap/pcapng port, a reader and a writer.

>>> from pydpdk.pcap import PcapPort
>>> with PcapPort(rx_path="in.pcapng", tx_path="out.pcapng") as port:
...     port.start()
...     while not port.done:
...         burst = port.rx_burst()
...         info = port.rx_info()          # interface, link type, orig_len...
...         port.tx_burst(burst)

``replay_timing=True`` releases packets at the pace recorded in the file
(``speed`` times faster); ``passes=N`` reads the file N times (0: forever).
The output is pcapng when its name ends in ``.pcapng`` (or ``format=
"pcapng"``), classic pcap otherwise.

:class:`CaptureReader` yields every record of a file (:class:`Record`:
bytes, lengths, timestamp as stored and in ns, interface, link type);
:class:`CaptureWriter` writes them, with any number of pcapng interfaces;
:func:`copy_capture` copies a file record by record, interfaces,
resolutions and timestamps kept exactly.  pcapng files whose interfaces
differ in link type or snap length, which libpcap refuses, are read fully:
the reader is pydpdk's own (``native/pcapfile/capfile.c``).

Built with the meson feature ``pcap``; otherwise importing this module works
but using its classes raises :class:`~pydpdk.errors.BackendUnavailableError`
saying how to get them.
"""

from __future__ import annotations

import os
from typing import Any

from .errors import BackendUnavailableError

__all__ = [
    "LINK_TYPES",
    "BufferPool",
    "CaptureReader",
    "CaptureWriter",
    "PcapPort",
    "Record",
    "RecordInfo",
    "check_dpdk_captures",
    "copy_capture",
    "dpdk_capture_sizes",
    "mirror_capture_interfaces",
    "read_frames",
]

try:
    from ._native import BufferPool
    from ._native_pcap import (
        LINK_TYPES,
        CaptureReader,
        CaptureWriter,
        PcapPort,
        Record,
        RecordInfo,
    )
except ImportError as _exc:  # built without the pcap feature
    _reason = str(_exc)

    def __getattr__(name: str) -> object:
        if name in __all__:
            raise BackendUnavailableError(
                "the pcap file backend is not built here (rebuild with -Dpcap=enabled; "
                f"it needs libpcap-dev): {_reason}"
            )
        raise AttributeError(name)


def dpdk_capture_sizes(ports: dict[str, Any], eal_args: Any = ()
                       ) -> list[tuple[str, tuple[str, ...], int]]:
    """What DPDK's ``net_pcap`` ports did with their files.

    Take it before the ports close and give it to
    :func:`check_dpdk_captures` after.

    Parameters
    ----------
    ports : dict of str to port
        ``{spec: open port}``; ports other than ``net_pcap`` are skipped.
    eal_args : sequence of str, default ()
        The EAL arguments: a ``--vdev`` there gives a port's devargs when its
        spec does not.

    Returns
    -------
    list of tuple of (str, tuple of str, int)
        ``("tx", files, bytes they must hold together)`` for the
        ``tx_pcap=`` files of a port (one per queue: pcap headers, record
        headers and the bytes of every packet sent) and ``("rx", files,
        packets received)`` for its ``rx_pcap=`` files.
    """
    devargs_of: dict[str, str] = {}
    args = list(eal_args)
    for i, arg in enumerate(args):
        value = arg[len("--vdev="):] if arg.startswith("--vdev=") else (
            args[i + 1] if arg == "--vdev" and i + 1 < len(args) else None)
        if value:
            devargs_of[value.partition(",")[0]] = value
    for spec in ports:
        devargs_of.setdefault(spec.partition(",")[0], spec)
    out = []
    for port in ports.values():
        name = getattr(port, "name", None)
        if not isinstance(name, str) or not name.startswith("net_pcap") or port.is_closed:
            continue
        devargs = devargs_of.get(name, "").partition(",")[2]
        files: dict[str, list[str]] = {"tx_pcap": [], "rx_pcap": []}
        for part in devargs.split(","):      # one file per queue: keys repeat
            key, _, value = part.partition("=")
            if key in files and value:
                files[key].append(value)
        if not (files["tx_pcap"] or files["rx_pcap"]):
            continue
        st = port.stats()
        if files["tx_pcap"]:
            tx = tuple(files["tx_pcap"])
            out.append(("tx", tx, 24 * len(tx) + 16 * int(st["opackets"]) + int(st["obytes"])))
        if files["rx_pcap"]:
            out.append(("rx", tuple(files["rx_pcap"]), int(st["ipackets"])))
    return out


def check_dpdk_captures(state: list[tuple[str, tuple[str, ...], int]]) -> None:
    """After the ports closed: raise what DPDK's ``net_pcap`` keeps to itself.

    Parameters
    ----------
    state : list of tuple of (str, tuple of str, int)
        What :func:`dpdk_capture_sizes` returned before the ports closed.

    Raises
    ------
    OSError
        An output file is shorter than what the driver reported sending
        (libpcap's pcap_dump ignores failed writes: a full disk).
    CaptureFileError
        An input is cut off or corrupt and the port read up to that point
        (the driver just stops).  The message names the file (and the
        record).
    """
    import errno

    from .errors import CaptureFileError

    for kind, paths, count in state:
        if kind == "rx":
            for path in paths:
                good = 0
                try:
                    with CaptureReader(path) as reader:
                        for _ in reader:
                            good += 1
                except CaptureFileError as exc:
                    if count >= good:
                        raise CaptureFileError(exc.errno, f"{exc.strerror or exc} (DPDK's "
                                                          f"net_pcap delivered the {good} "
                                                          "records before it)") from None
                except OSError:
                    pass                        # gone or unreadable now: nothing to judge
            continue
        have = 0
        for path in paths:
            try:
                have += os.path.getsize(path)
            except OSError as exc:
                raise OSError(exc.errno, f"{path}: DPDK's net_pcap output is gone: "
                                         f"{exc.strerror}") from None
        if have < count:
            where = paths[0] if len(paths) == 1 else " + ".join(paths)
            raise OSError(errno.EIO, f"{where}: DPDK's net_pcap wrote {have} of the {count} "
                                     "bytes it reported sending: writing failed (disk full?)")


def mirror_capture_interfaces(pairs: Any) -> int:
    """Make pcapng sinks keep the interfaces of the capture files they copy.

    Parameters
    ----------
    pairs : iterable of (port, port)
        ``(source, sink)`` pairs; where *source* is a PcapPort reading a
        capture file and *sink* a PcapPort writing pcapng,
        ``sink.mirror_interfaces(source)`` is called (a sink already
        mirroring a source is left alone).  Other pairs are skipped.

    Returns
    -------
    int
        How many pairs were set up.
    """
    port_type = globals().get("PcapPort")
    done = 0
    for source, sink in pairs:
        if port_type is None or not (isinstance(source, port_type)
                                     and isinstance(sink, port_type)):
            continue
        if (source.is_closed or sink.is_closed or source.rx_path is None
                or sink.tx_path is None or sink.tx_format != "pcapng"
                or sink.mirror_source is not None):
            continue
        sink.mirror_interfaces(source)
        done += 1
    return done


def read_frames(path: str | os.PathLike[str]) -> list[bytes]:
    """Every record's bytes, in order.

    Parameters
    ----------
    path : str or os.PathLike
        A pcap or pcapng file.

    Returns
    -------
    list of bytes
        One item per record, its captured bytes.

    Raises
    ------
    FileNotFoundError, PermissionError, IsADirectoryError
        When the file cannot be opened.
    CaptureFileError
        When it is not a capture, or a record is cut off or corrupt (the
        message names the record and its byte offset) or was cut by the
        snap length (its bytes would not be the frame's).
    """
    from .errors import CaptureFileError

    out = []
    with CaptureReader(path) as reader:
        for rec in reader:
            if len(rec.data) < rec.orig_len:
                raise CaptureFileError(
                    0, f"{os.fsdecode(path)}: record {rec.number} holds {len(rec.data)} of "
                       f"its {rec.orig_len} bytes (cut by the snap length)")
            out.append(rec.data)
    return out


def copy_capture(src: str | os.PathLike[str], dst: str | os.PathLike[str],
                 format: str | None = None) -> int:
    """Copy every record of *src* into *dst*; returns the record count.

    *dst* is pcapng when *format* is "pcapng" or, with None, when its name
    ends in ``.pcapng``.  Into pcapng, every interface of every section is
    kept with its link type, snap length, resolution and offset (sections
    too), and timestamps are copied as stored; a simple packet block, which
    has none, becomes an enhanced one with timestamp 0.  Into pcap, the input must have one
    link type (ValueError otherwise) and timestamps become nanoseconds.

    Parameters
    ----------
    src : str or os.PathLike
        The pcap or pcapng file to read.
    dst : str or os.PathLike
        The file to write (created or truncated).
    format : {None, "pcap", "pcapng"}
        Format of *dst*; None: by its name.

    Returns
    -------
    int
        The number of records copied.

    Raises
    ------
    ValueError
        Into pcap, *src* has several link types; or an unknown *format*.
    CaptureFileError
        *src* is not a capture, or is cut off or corrupt.
    OSError
        A file cannot be opened, or a write failed (its errno).
    """
    with CaptureReader(src) as reader:
        writer: Any = None
        # (section, interface in the input) -> interface in the output
        ifaces: dict[tuple[int, int], int] = {}
        section = 0
        count = 0
        try:
            for rec in reader:
                key = (rec.section, rec.interface)
                if key not in ifaces:
                    # Every interface of the section up to this one, in order,
                    # so that interface numbers stay those of the input.
                    defined = reader.interfaces()
                    for i in range(rec.interface + 1):
                        if (rec.section, i) in ifaces:
                            continue
                        link, snap, resol, offset = defined[i]
                        if writer is None:
                            writer = _open_like(dst, format, link, snap, resol, offset)
                            ifaces[(rec.section, i)] = 0
                            section = rec.section
                        elif writer.format == "pcapng" and rec.section != section:
                            writer.new_section(link, snap, resol, offset)
                            ifaces[(rec.section, i)] = 0
                            section = rec.section
                        elif writer.format == "pcapng":
                            ifaces[(rec.section, i)] = writer.add_interface(link, snap, resol,
                                                                            offset)
                        elif link != writer.link_type:
                            raise ValueError(
                                f"{os.fsdecode(src)} has link types {writer.link_type} and "
                                f"{link}: a pcap file holds one (write pcapng)")
                        else:
                            ifaces[(rec.section, i)] = 0
                if writer.format == "pcapng":
                    writer.write(rec.data, interface=ifaces[key], orig_len=rec.orig_len,
                                 ts_raw=rec.ts_raw)
                else:
                    writer.write(rec.data, rec.ts_ns, orig_len=rec.orig_len)
                count += 1
            if writer is None:  # an empty capture: an empty file of the format
                writer = CaptureWriter(dst, format)
        finally:
            if writer is not None:
                writer.close()
    return count


def _open_like(dst: str | os.PathLike[str], format: str | None, link: int, snap: int,
               resol: int, offset: int) -> Any:
    """A writer whose interface 0 is the given one."""
    ng = format == "pcapng" if format is not None else \
        os.fsdecode(dst).lower().endswith((".pcapng", ".ng"))
    if ng:
        return CaptureWriter(dst, format, link_type=link, snaplen=snap, ts_resolution=resol,
                             ts_offset=offset)
    return CaptureWriter(dst, format, link_type=link, snaplen=snap or 262144)
