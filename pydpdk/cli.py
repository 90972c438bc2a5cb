"""The ``pydpdk`` command.

``pydpdk demo``  forwards a generated pcap through DPDK's ``net_pcap`` vdev
                 with the native forwarding loop and checks the output
                 (interim main job until the FEC demo replaces it).
``pydpdk info``  what this installation was built with and what DPDK sees.
"""

from __future__ import annotations

import argparse
import json
import shlex
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import __version__
from ._build_info import BUILD_INFO
from .errors import PydpdkError

_PCAP_MAGIC = 0xA1B2C3D4
_LINKTYPE_ETHERNET = 1


def make_frames(count: int, size: int) -> list[bytes]:
    """Distinct Ethernet/IPv4/UDP frames of *size* bytes (payload carries the index)."""
    if size < 42 + 4:
        raise ValueError(f"frame size must be at least 46 bytes, got {size}")
    frames = []
    payload_len = size - 42
    for i in range(count):
        payload = (i.to_bytes(4, "big") * (payload_len // 4 + 1))[:payload_len]
        udp = struct.pack("!HHHH", 40000 + i % 1000, 40999, 8 + payload_len, 0) + payload
        ip = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0,
            bytes([10, 0, 0, 1]), bytes([10, 0, 1, 1 + i % 250]),
        )
        eth = bytes.fromhex("020000000002" "020000000001" "0800")  # dst, src, IPv4
        frames.append(eth + ip + udp)
    return frames


def write_pcap(path: Path, frames: list[bytes]) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", _PCAP_MAGIC, 2, 4, 0, 0, 65535, _LINKTYPE_ETHERNET))
        now = int(time.time())
        for i, frame in enumerate(frames):
            f.write(struct.pack("<IIII", now, i % 1_000_000, len(frame), len(frame)))
            f.write(frame)


def read_pcap(path: Path) -> list[bytes]:
    data = Path(path).read_bytes()
    if len(data) < 24:
        raise ValueError(f"{path}: not a pcap file (too short)")
    magic = struct.unpack_from("<I", data)[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    if struct.unpack_from(endian + "I", data)[0] not in (0xA1B2C3D4, 0xA1B23C4D):
        raise ValueError(f"{path}: not a pcap file (magic {magic:#x})")
    frames, offset = [], 24
    while offset + 16 <= len(data):
        caplen = struct.unpack_from(endian + "IIII", data, offset)[2]
        offset += 16
        frames.append(data[offset:offset + caplen])
        offset += caplen
    return frames


def _demo(args: argparse.Namespace) -> int:
    from . import dpdk

    if not dpdk.AVAILABLE:
        print("pydpdk demo needs DPDK, and this build has none.", file=sys.stderr)
        print("Install dpdk, dpdk-dev and libdpdk-dev, then rebuild (make demo).", file=sys.stderr)
        return 2
    workdir = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="pydpdk-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    src, dst = workdir / "in.pcap", workdir / "out.pcap"
    frames = make_frames(args.packets, args.size)
    write_pcap(src, frames)
    print(f"generated {len(frames)} UDP frames of {args.size} bytes -> {src}")

    with dpdk.Eal(shlex.split(args.eal)) as eal:
        print(f"EAL up in {eal.init_seconds:.2f} s ({eal.version}, no hugepages, "
              f"{len(eal.lcores())} lcore)")
        with dpdk.Mempool(8191) as pool:
            name = eal.add_vdev(f"net_pcap_demo0,rx_pcap={src},tx_pcap={dst}")
            with dpdk.Port(name, pool) as port:
                port.start()
                stats = dpdk.forward(port, burst=args.burst, max_packets=len(frames),
                                     duration=args.timeout)
                port_stats = port.stats()
            eal.remove_vdev(name)
            leaked = pool.in_use

    out = read_pcap(dst)
    identical = out == frames
    report: dict[str, Any] = {
        "input": str(src),
        "output": str(dst),
        "packets_in": len(frames),
        "packets_forwarded": stats.tx_packets,
        "packets_out": len(out),
        "bytes_out": sum(len(f) for f in out),
        "dropped": stats.dropped,
        "identical": identical,
        "seconds": round(stats.seconds, 6),
        "mpps": round(stats.mpps, 3),
        "port_ipackets": port_stats["ipackets"],
        "port_opackets": port_stats["opackets"],
        "mbufs_leaked": leaked,
        "stopped_by": stats.stopped_by,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"forwarded {stats.tx_packets}/{len(frames)} packets through net_pcap in "
              f"{stats.seconds * 1e3:.1f} ms ({stats.mpps:.2f} Mpps, native loop, "
              f"burst {args.burst}); dropped {stats.dropped}")
        print(f"wrote {len(out)} packets, {report['bytes_out']} bytes -> {dst}")
        print("output identical to input: " + ("yes" if identical else "NO"))
        print(f"mbufs still in use after teardown: {leaked}")
    return 0 if identical and not leaked else 1


def _info(args: argparse.Namespace) -> int:
    from . import dpdk

    info: dict[str, Any] = {"pydpdk": __version__, "build": dict(BUILD_INFO)}
    if dpdk.AVAILABLE and not args.no_eal:
        with dpdk.Eal(shlex.split(args.eal)) as eal:
            info["dpdk"] = eal.info()
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(f"pydpdk {__version__}")
    for key, value in BUILD_INFO.items():
        print(f"  build {key}: {value}")
    if "dpdk" in info:
        d = info["dpdk"]
        print(f"{d['version']}: EAL init {d['init_seconds']:.2f} s, hugepages "
              f"{'yes' if d['hugepages'] else 'no'}, PCI {'yes' if d['pci'] else 'no'}")
        for lc in d["lcores"]:
            print(f"  lcore {lc['lcore']}: cpu {lc['cpu']}, socket {lc['socket']}"
                  + (" (main)" if lc["main"] else ""))
        print(f"  NUMA sockets: {d['sockets']}")
        ports = d["ports"] or "none (add virtual devices with --eal=--vdev=net_null0)"
        print(f"  ports: {ports}")
    elif not dpdk.AVAILABLE:
        print("DPDK: not built into this installation")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pydpdk", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"pydpdk {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="forward a generated pcap through DPDK's net_pcap vdev")
    demo.add_argument("--packets", type=int, default=10000, help="frames to generate")
    demo.add_argument("--size", type=int, default=128, help="frame size in bytes")
    demo.add_argument("--burst", type=int, default=32, help="burst size (1..256)")
    demo.add_argument("--dir", help="where to write in.pcap/out.pcap (default: a temp dir)")
    demo.add_argument("--timeout", type=float, default=60.0, help="give up after seconds")
    demo.add_argument("--eal", default="", help="extra EAL arguments, e.g. '-m 512'")
    demo.add_argument("--json", action="store_true", help="print the report as JSON")
    demo.set_defaults(func=_demo)

    info = sub.add_parser("info", help="show build and DPDK information")
    info.add_argument("--eal", default="", help="extra EAL arguments (e.g. --vdev=net_null0)")
    info.add_argument("--no-eal", action="store_true", help="do not start the EAL")
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=_info)

    args = parser.parse_args(argv)
    if getattr(args, "packets", 1) <= 0:
        parser.error("--packets must be > 0")
    try:
        return int(args.func(args))
    except (PydpdkError, ValueError) as exc:
        print(f"pydpdk {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
