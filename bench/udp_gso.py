"""UDP port transmit cost: UDP GSO runs vs one sendmmsg per burst.

Sends bursts of equal-length datagrams from a UdpPort in one namespace over a
veth (1500-byte MTU, the sender's UDP segmentation offload off, so the kernel
segments in software as for a NIC without it) to a namespace that drops them
at ingress; reports datagrams per second and CPU time per datagram of the
sending process for gso=True and gso=False.  Needs root.

    .venv/bin/python bench/udp_gso.py --datagrams 300000 --size 1400
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
import netns  # noqa: E402

from pydpdk._native import BufferPool  # noqa: E402
from pydpdk.udp import UdpPort  # noqa: E402


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@contextlib.contextmanager
def link() -> Iterator[netns.VethPair]:
    with netns.veth_pair() as pair:
        netns.ns_exec(pair.a, "ip", "addr", "add", "10.97.0.1/24", "dev", pair.if_a)
        netns.ns_exec(pair.b, "ip", "addr", "add", "10.97.0.2/24", "dev", pair.if_b)
        subprocess.run(["ip", "netns", "exec", pair.a, "ethtool", "-K", pair.if_a,
                        "tx-udp-segmentation", "off"], capture_output=True, check=False)
        netns.ns_exec_stdin(pair.b, (
            "table netdev sink {\n  chain drop_all {\n"
            f'    type filter hook ingress device "{pair.if_b}" priority 0;\n'
            "    udp dport 9999 drop\n  }\n}\n"), "nft", "-f", "-")
        netns.ns_exec(pair.a, "ping", "-c1", "-W1", "10.97.0.2", check=False)
        yield pair


def run(pair: netns.VethPair, gso: bool, datagrams: int, size: int, burst: int) -> dict:
    pool = BufferPool(capacity=4096)
    with netns.inside(pair.a):
        port = UdpPort("10.97.0.2:9999", pool, bind="10.97.0.1:0", keepalive=None,
                       dead_after=None, gso=gso)
    with port:
        port.start()
        payload = [b"x" * size] * burst
        sent = 0
        t0, c0 = time.perf_counter(), cpu_s()
        while sent < datagrams:
            b = pool.burst_from_bytes(payload)
            sent += port.tx_burst(b)
            b.free()
        elapsed, cpu = time.perf_counter() - t0, cpu_s() - c0
        st = port.stats()
    pool.close()
    return {"gso": gso, "datagrams": sent, "kpps": sent / elapsed / 1e3,
            "cpu_ns_per_datagram": cpu * 1e9 / sent, "gso_sends": st["tx_gso_sends"],
            "errors": st["oerrors"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datagrams", type=int, default=300000)
    ap.add_argument("--size", type=int, default=1400)
    ap.add_argument("--burst", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    results = []
    with link() as pair:
        for _ in range(args.rounds):
            for gso in (False, True):
                results.append(run(pair, gso, args.datagrams, args.size, args.burst))
    print(json.dumps(results, indent=2))
    for r in results:
        print(f"gso={r['gso']!s:5}  {r['kpps']:8.0f} kpps  {r['cpu_ns_per_datagram']:7.0f} ns "
              f"CPU/datagram  ({r['gso_sends']} GSO sends, {r['errors']} errors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
