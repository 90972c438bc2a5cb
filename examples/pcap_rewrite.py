#!/usr/bin/env python3
"""Replay a pcap through a pipeline that rewrites headers, and capture the result.

    python examples/pcap_rewrite.py IN.pcap OUT.pcap --dst-mac 02:aa:bb:cc:dd:ee --ttl 32
    python examples/pcap_rewrite.py                  # makes a sample IN.pcap in /tmp

The capture is read by DPDK's ``net_pcap`` vdev (or the native pcap port
without DPDK); a Python stage rewrites every burst at once through the numpy
header view: destination MAC, IPv4 TTL (header checksum updated
incrementally), and frames that are not IPv4 dropped when asked.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from pydpdk import Burst, PacketPool, PortBase, backend
from pydpdk.cli_args import harden, integer, readable_file, run_command, writable_file
from pydpdk.cli_args import mac as mac_address
from pydpdk.pipeline import Pipeline


def count_frames(path: Path) -> int:
    """Records in the capture (CaptureFileError naming the record when the
    file is cut off or corrupt: the pipeline would wait for it forever)."""
    from pydpdk.pcap import CaptureReader

    with CaptureReader(str(path)) as reader:
        return sum(1 for _ in reader)


def rewriter(dst_mac: bytes | None, ttl: int | None, ipv4_only: bool,
             ) -> Callable[[Burst], npt.NDArray[np.bool_] | None]:
    mac = np.frombuffer(dst_mac, dtype=np.uint8) if dst_mac else None

    def rewrite(burst: Burst) -> npt.NDArray[np.bool_] | None:
        with burst.headers(34) as h:                 # Ethernet + IPv4 without options
            is_ipv4 = (h[:, 12] == 0x08) & (h[:, 13] == 0x00) & ((h[:, 14] >> 4) == 4)
            if mac is not None:
                h[:, 0:6] = mac
            if ttl is not None:
                rows = h[is_ipv4]
                old = rows[:, 22].astype(np.uint32)
                rows[:, 22] = ttl
                # RFC 1624: HC' = ~(~HC + ~m + m') on the 16-bit word (TTL, proto)
                word_old = (old << 8) | rows[:, 23]
                word_new = (np.uint32(ttl) << 8) | rows[:, 23]
                csum = (rows[:, 24].astype(np.uint32) << 8) | rows[:, 25]
                s = (~csum & 0xFFFF) + (~word_old & 0xFFFF) + word_new
                s = (s & 0xFFFF) + (s >> 16)
                s = (s & 0xFFFF) + (s >> 16)
                csum = ~s & 0xFFFF
                rows[:, 24], rows[:, 25] = csum >> 8, csum & 0xFF
                h[is_ipv4] = rows
        return is_ipv4 if ipv4_only else None

    return rewrite


def open_ports(src: Path, dst: Path) -> tuple[PortBase, Callable[[], None]]:
    """A started capture port reading *src* and writing *dst*, and its closer."""
    chosen = backend.select()
    stack = contextlib.ExitStack()
    try:
        stack.enter_context(chosen.runtime())
        pool: PacketPool = chosen.pool(8192)
        stack.callback(pool.close)
        opener = stack.enter_context(chosen.opener(pool))
        port: PortBase = opener.open(chosen.capture_spec(rx=str(src), tx=str(dst), name="rw0"))
    except BaseException:
        stack.close()
        raise
    return port, stack.close


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input", nargs="?", type=lambda s: Path(readable_file(s)),
                    help="pcap to read (default: a generated one)")
    ap.add_argument("output", nargs="?", type=lambda s: Path(writable_file(s)),
                    help="pcap to write")
    ap.add_argument("--dst-mac", type=mac_address, default="02:aa:bb:cc:dd:ee",
                    help="destination MAC to write")
    ap.add_argument("--ttl", type=integer(1, 255, "an IPv4 TTL"), default=32,
                    help="IPv4 TTL to write")
    ap.add_argument("--ipv4-only", action="store_true", help="drop frames that are not IPv4")
    args = harden(ap).parse_args()
    if args.input is None:
        from pydpdk.frames import make_frames, write_pcap

        tmp = Path(tempfile.mkdtemp(prefix="pydpdk-rewrite-"))
        args.input, args.output = tmp / "in.pcap", tmp / "out.pcap"
        write_pcap(args.input, make_frames(1000, 200))
    if args.output is None:
        ap.error("give OUTPUT too")
    if args.output.resolve() == args.input.resolve():
        ap.error(f"OUTPUT {str(args.output)!r} is the INPUT: writing it would destroy it")
    total = count_frames(args.input)
    mac = bytes.fromhex(args.dst_mac.replace(":", ""))
    port, close = open_ports(args.input.resolve(), args.output.resolve())
    try:
        pipe = Pipeline().add(port, rewriter(mac, args.ttl, args.ipv4_only), sink=port)
        pipe.run(packets=total) if total else None
        counters = pipe.counters()
        del pipe
    finally:
        close()
    stage = next(c for name, c in counters.items() if name.endswith(".rewrite"))
    print(f"{args.input} -> {args.output}: {total} frames read, "
          f"{stage['packets_out']} written, {stage['drops']} dropped")
    return 0


if __name__ == "__main__":
    sys.exit(run_command("pcap_rewrite.py", main))
