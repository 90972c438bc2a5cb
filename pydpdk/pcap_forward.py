"""``pydpdk pcap-forward``: a generated capture through DPDK's ``net_pcap`` vdev.

:func:`write_sample` writes a capture of checksummed UDP frames;
:func:`forward_capture` forwards it through a ``net_pcap`` port with DPDK's
native forwarding loop (:func:`pydpdk.dpdk.forward`) and compares what the
driver wrote with what it read.  DPDK only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .frames import make_frames, read_pcap, write_pcap  # checksummed; strict reader

__all__ = ["forward_capture", "write_sample"]


def write_sample(path: Path, packets: int, size: int) -> list[bytes]:
    """Write *packets* UDP frames of *size* bytes to a pcap file.

    Parameters
    ----------
    path : Path
        The capture to write (classic pcap).
    packets : int
        Frames, > 0.
    size : int
        Bytes per frame (Ethernet header included).

    Returns
    -------
    list of bytes
        The frames written.

    Raises
    ------
    ValueError
        *packets* or *size* out of range.
    OSError
        The file cannot be written.
    """
    frames = make_frames(packets, size)
    write_pcap(path, frames)
    return frames


def forward_capture(src: Path, dst: Path, frames: list[bytes], *, burst: int = 32,
                    timeout: float = 60.0, eal_args: Sequence[str] = (),
                    on_eal: Callable[[Any], None] | None = None
                    ) -> tuple[dict[str, Any], Any]:
    """Forward *src* to *dst* through a ``net_pcap`` port and compare them.

    Parameters
    ----------
    src : Path
        The capture to read (holding *frames*).
    dst : Path
        The capture the driver writes.
    frames : list of bytes
        The frames of *src*, for the comparison.
    burst : int, default 32
        Packets per rx/tx burst, 1..256.
    timeout : float, default 60.0
        Seconds before the forwarding loop gives up.
    eal_args : sequence of str, default ()
        Extra EAL arguments.
    on_eal : callable, optional
        Called with the :class:`pydpdk.dpdk.Eal` once it runs.

    Returns
    -------
    tuple of (dict, ForwardStats)
        The report (``input``, ``output``, packet and byte counts,
        ``identical``, ``seconds``, ``mpps``, the port's counters,
        ``mbufs_leaked``, ``stopped_by``) and the loop's statistics.

    Raises
    ------
    DpdkUnavailableError
        pydpdk was built without DPDK.
    EalError, PortError
        The EAL or the vdev refused to start.
    CaptureFileError
        *dst* is not a readable capture.
    """
    from . import dpdk
    from .backends import get

    chosen = get("dpdk")
    with chosen.runtime(list(eal_args), reuse=False) as eal:
        if on_eal is not None:
            on_eal(eal)
        pool = chosen.pool(8192)
        try:
            with chosen.opener(pool) as opener:
                port = opener.open(chosen.capture_spec(rx=str(src), tx=str(dst), name="demo0"))
                stats = dpdk.forward(port, burst=burst, max_packets=len(frames),
                                     duration=timeout)
                port_stats = port.stats()
            leaked = pool.in_use
        finally:
            pool.close()

    out = read_pcap(dst)
    report: dict[str, Any] = {
        "input": str(src),
        "output": str(dst),
        "packets_in": len(frames),
        "packets_forwarded": stats.tx_packets,
        "packets_out": len(out),
        "bytes_out": sum(len(f) for f in out),
        "dropped": stats.dropped,
        "identical": out == frames,
        "seconds": round(stats.seconds, 6),
        "mpps": round(stats.mpps, 3),
        "port_ipackets": port_stats["ipackets"],
        "port_opackets": port_stats["opackets"],
        "mbufs_leaked": leaked,
        "stopped_by": stats.stopped_by,
    }
    return report, stats
