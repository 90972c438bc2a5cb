#!/usr/bin/env python3
"""Receive ring / socket buffer sizes of the FEC gateway, measured.

    sudo .venv/bin/python bench/ring_sizes.py [--blocks 4,8,16,32,128]
        [--rcvbufs 262144,1048576,4194304] [--mbps 300,600] [--seconds 3]

The lossy tunnel of bench/tunnel.py (five namespaces, 5 % random loss each
way, RS(10,4), 1500-byte MTU, default offloads).  iperf3 offers UDP at each
rate (1200-byte datagrams) for ``--seconds`` seconds, host_a to host_b, once
per receive-ring size of the gateways' AF_PACKET ports (blocks of 256 KiB)
over the AF_PACKET WAN, and once per socket receive buffer of the ``udp:``
transport.  For each: the frames the kernel dropped because a ring or socket
buffer was full (``ring_overflow`` of both gateways' ports, ``kernel_drops``
of the UDP peers) and what iperf3 received.  The smallest size without
overflow at the rates the gateway sustains is the default to choose.

A benchmark, not a test.  Results: a table on stdout, JSON in
bench/results/ring_sizes.json.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import tunnel as T  # noqa: E402
from _stats import machine, write_json  # noqa: E402

# The gateway with one size patched in: the AF_PACKET ring of its ports, or
# the receive buffer of its UdpPort.
GATEWAY = r"""
import functools, signal, sys
# a Python handler, so the CLI's deferral takes SIGTERM over (as under -m)
signal.signal(signal.SIGTERM, lambda *_: None)
import pydpdk.gateway as g
import pydpdk.udp as u
blocks, rcvbuf = int(sys.argv[1]), int(sys.argv[2])
if blocks:
    g.GATEWAY_RX_BLOCKS = blocks
if rcvbuf:
    u.UdpPort = functools.partial(u.UdpPort, rcvbuf=rcvbuf)
from pydpdk.cli import main
sys.exit(main(sys.argv[3:]))
"""


def gateway(ns: str, blocks: int, rcvbuf: int, peer: list[str]) -> subprocess.Popen:
    cmd = T.pydpdk_cmd(ns, peer)
    cli_args = cmd[cmd.index("pydpdk.cli") + 1:]
    return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", GATEWAY,
                             str(blocks), str(rcvbuf), *cli_args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def report(proc: subprocess.Popen) -> dict:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    try:
        return json.loads(out[out.index("{"):])
    except ValueError:
        raise RuntimeError(f"gateway failed: {err[-2000:]}") from None


def overflow(rep: dict) -> int:
    n = sum(int(p["rx"].get("ring_overflow", 0)) for p in rep["drops"]["ports"].values())
    udp = rep.get("counters", {}).get("udp.peer", {})
    return n + int(udp.get("kernel_drops", 0))


def iperf_udp(topo: T.Topology, mbps: int, seconds: float) -> dict:
    server = subprocess.Popen(["ip", "netns", "exec", topo.hb, "iperf3", "-s", "-1",
                               "-B", T.HOST_B], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        out = subprocess.run(["ip", "netns", "exec", topo.ha, "iperf3", "-c", T.HOST_B, "-u",
                              "-b", f"{mbps}M", "-l", str(T.PAYLOAD), "-t", str(seconds),
                              "-J"], capture_output=True, text=True,
                             timeout=seconds + 60).stdout
        end = json.loads(out)["end"]["sum"]
        return {"sent": int(end["packets"]), "lost": int(end["lost_packets"]),
                "pps": end["packets"] / seconds}
    finally:
        server.wait(timeout=30)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--blocks", default="4,8,16,32,128")
    ap.add_argument("--rcvbufs", default="262144,1048576,4194304")
    ap.add_argument("--mbps", default="300,600")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--output", default=str(HERE / "results" / "ring_sizes.json"))
    args = ap.parse_args()
    rows = []
    with T.Topology("rs") as topo, T.random_loss(topo, T.LOSS_PER_MILLE):
        cases = [("ether", int(b), 0) for b in args.blocks.split(",")]
        cases += [("udp", 0, int(r)) for r in args.rcvbufs.split(",")]
        for transport, blocks, rcvbuf in cases:
            if transport == "ether":
                topo.gateway_ips(lan=False, wan=False)
                peers = [["--peer", "afpacket:wan", "--encap", "ether"]] * 2
            else:
                topo.gateway_ips(lan=False, wan=True)
                peers = [["--peer", f"udp:{T.WAN_B}:4790", "--bind", f"{T.WAN_A}:4790"],
                         ["--peer", f"udp:{T.WAN_A}:4790", "--bind", f"{T.WAN_B}:4790"]]
            for mbps in (int(x) for x in args.mbps.split(",")):
                gws = [gateway(ns, blocks, rcvbuf, p) for ns, p in zip((topo.ga, topo.gb), peers)]
                try:
                    time.sleep(1.5)
                    traffic = iperf_udp(topo, mbps, args.seconds)
                finally:
                    reps = [report(p) for p in gws]
                row = {"transport": transport, "blocks": blocks, "rcvbuf": rcvbuf,
                       "offered_mbps": mbps, **traffic,
                       "overflow": [overflow(r) for r in reps]}
                rows.append(row)
                size = f"{blocks} blocks" if blocks else f"rcvbuf {rcvbuf}"
                print(f"{transport:6s} {size:>16s} {mbps:4d} Mbit/s: {traffic['pps']:8.0f} pps "
                      f"offered, iperf3 lost {traffic['lost']:6d}, overflow gw_a/gw_b "
                      f"{row['overflow']}", flush=True)
    write_json(args.output, {"machine": machine(), "rows": rows})
    print(f"JSON: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
