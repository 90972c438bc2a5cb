#!/usr/bin/env python3
"""How a gateway's throughput scales with queues: ``pydpdk fec encode --queues N``.

    .venv/bin/python bench/gateway_scaling.py [--queues 1,2] [--repeat 5]
        [--packets 300000] [--loops 4] [--size 1400] [--flows 64] [-k 10 -m 4] [--dir /dev/shm]

One gateway (the encode side of a tunnel) on pre-generated distinct input,
so no traffic source competes for the cores: for each queue i a pcap file
of ``--packets / N`` distinct Ethernet/IPv4/UDP frames (``--flows`` flows
with their own ports, per-frame sequence numbers and random payload, made
once, in a RAM-backed directory) is read at full speed by the native pcap
port, RS-encoded, and written by a pcap port per queue (to /dev/null).  The gateway runs
in-process through the Python API (``GatewayConfig(queues=N)``, the same
code path as the CLI) with the native backend; each queue is a GIL-free
native loop on its own thread.

Measured per round and queue count: frames encoded per second (source
frames in, over the run's elapsed time, from the gateway's own report;
each file is read ``--loops`` times, so a run is long against the start
and the input is far larger than the CPU caches) and the CPU time of the
process per frame (the work; a queue count that adds no work per frame
scales with idle cores).  Rounds alternate the queue counts
(interleaved), ``--repeat`` rounds; the median with its min-max spread
(bench/_stats.py) and the ratio of the medians N-queue / 1-queue are
printed and written to bench/results/gateway_scaling.json.

This measures the gateway's CPU work, not a NIC: the pcap port's read and
write are part of each queue's work (they scale with it, as a NIC queue
would).  On a shared machine the other processes' load is reported
(``os.getloadavg``) beside the figures: the ratio is only meaningful when
the machine's cores were idle otherwise.
"""

from __future__ import annotations

import argparse
import os
import random
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stats import machine, ratio, summarize, write_json  # noqa: E402

PCAP_HDR = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(flow: int, seq: int, size: int, payload: bytes) -> bytes:
    """An Ethernet/IPv4/UDP frame of *size* bytes of flow *flow*, sequence *seq*."""
    udp_len = size - 14 - 20
    body = struct.pack("!II", flow, seq) + payload[: udp_len - 8 - 8]
    src, dst = bytes([10, 1, flow >> 8 & 255, flow & 255]), bytes([10, 2, 0, 1])
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, seq & 0xFFFF, 0x4000, 64, 17, 0,
                     src, dst)
    ip = ip[:10] + struct.pack("!H", _csum(ip)) + ip[12:]
    udp = struct.pack("!HHHH", 20000 + flow, 5001, udp_len, 0)
    return (b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00" + ip + udp + body)


def write_pcap(path: Path, frames: int, size: int, flows: list[int], seed: int) -> None:
    rng = random.Random(seed)
    with open(path, "wb") as f:
        f.write(PCAP_HDR)
        for i in range(frames):
            data = frame(flows[i % len(flows)], i, size, rng.randbytes(size))
            f.write(struct.pack("<IIII", i // 1000000, i % 1000000, len(data), len(data)))
            f.write(data)


def run_once(queues: int, folder: Path, args: argparse.Namespace) -> dict[str, float]:
    from pydpdk.gateway import GatewayConfig, run_gateway

    inp = f"pcap:rx={folder}/in{queues}-{{q}}.pcap,loop={args.loops}"
    out = f"pcap:tx={folder}/out-{{q}}.pcap"
    if queues == 1:
        inp, out = inp.replace("{q}", "0"), out.replace("{q}", "0")
    cfg = GatewayConfig(mode="encode", ports={"in": inp, "out": out}, k=args.k, m=args.m,
                        backend="native", queues=queues, busy_poll=True,
                        encap={"encap": "ether"}, max_payload=args.size + 64)
    cpu0 = time.process_time()
    report = run_gateway(cfg)
    cpu = time.process_time() - cpu0
    enc = [c for name, c in report["counters"].items() if name.endswith("fec-encode")][0]
    want = args.packets * args.loops
    if enc["packets_in"] != want or report["drops"]["total"]:
        raise SystemExit(f"{queues} queue(s): encoded {enc['packets_in']} of {want}, "
                         f"drops {report['drops']['total']}")
    return {"mpps": want / report["elapsed_s"] / 1e6, "cpu_s": cpu,
            "cpu_ns_per_packet": cpu / want * 1e9, "elapsed_s": report["elapsed_s"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--queues", default="1,2")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--packets", type=int, default=300000)
    ap.add_argument("--loops", type=int, default=4,
                    help="read each file this many times (pcap port loop=N)")
    ap.add_argument("--size", type=int, default=1400)
    ap.add_argument("--flows", type=int, default=64)
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("-m", type=int, default=4)
    ap.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    ap.add_argument("--json", default=str(Path(__file__).parent / "results" /
                                          "gateway_scaling.json"))
    args = ap.parse_args()
    counts = [int(x) for x in args.queues.split(",")]
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="pydpdk-scaling-") as tmp:
        folder = Path(tmp)
        args.packets = (args.packets // max(counts)) * max(counts)
        for q in range(max(counts)):  # what the gateway writes is thrown away
            (folder / f"out-{q}.pcap").symlink_to(os.devnull)
        for n in counts:              # the same frames, split by flow over n files
            flows = list(range(args.flows))
            for q in range(n):
                mine = [f for f in flows if f % n == q]
                write_pcap(folder / f"in{n}-{q}.pcap", args.packets // n, args.size, mine,
                           seed=q)
        results: dict[int, list[dict[str, float]]] = {n: [] for n in counts}
        load = []
        for r in range(args.repeat):
            for n in (counts if r % 2 == 0 else list(reversed(counts))):
                load.append(os.getloadavg()[0])
                res = run_once(n, folder, args)
                results[n].append(res)
                print(f"round {r + 1} queues {n}: {res['mpps']:.3f} Mpps "
                      f"({res['cpu_s']:.2f} CPU s in {res['elapsed_s']:.2f} s, "
                      f"{res['cpu_ns_per_packet']:.0f} CPU ns/packet)", flush=True)
    summary = {n: summarize([x["mpps"] for x in rs]) for n, rs in results.items()}
    cpu = {n: summarize([x["cpu_ns_per_packet"] for x in rs]) for n, rs in results.items()}
    base = summary[counts[0]]["median"]
    out = {"machine": machine(), "args": vars(args), "load_1min": summarize(load),
           "mpps": summary,
           "ratio": {n: ratio(s["median"], base) for n, s in summary.items()},
           "cpu_ns_per_packet": cpu,
           "rounds": {n: rs for n, rs in results.items()}}
    for n, s in summary.items():
        print(f"queues {n}: median {s['median']:.3f} Mpps (min {s['min']:.3f}, max "
              f"{s['max']:.3f}); x{out['ratio'][n]:.2f} of {counts[0]} queue(s); CPU "
              f"{cpu[n]['median']:.0f} ns/packet (min {cpu[n]['min']:.0f}, max "
              f"{cpu[n]['max']:.0f})")
    print(f"load average during the run (1 min): median {out['load_1min']['median']:.2f}")
    write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
