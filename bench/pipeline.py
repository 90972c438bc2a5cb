#!/usr/bin/env python3
"""FEC gateway pipelines on one core, beside the plain forwarding loop, in one run.

    python bench/pipeline.py            # about 2 minutes
    python bench/pipeline.py --quick    # about 20 s smoke run

Everything runs over DPDK vdevs in this process, on the calling thread:

    forward       pydpdk.dpdk.forward: net_null rx -> net_null tx (the reference)
    encode        net_null rx -> FecEncodeStage (RS k=10 m=4) -> net_null tx
    encode+py     the same with one Python stage (touches every burst's headers)
    ring-forward  net_ring rx -> net_null tx, draining a prefilled ring (reference
                  for the decoder, which also reads a ring)
    decode        net_ring rx -> FecDecodeStage -> net_null tx; the ring is
                  refilled between timed drains, untimed, with encoded frames
                  that went through 5% random loss.  A refill is about 3600
                  wire packets (a few NIC rx rings' worth): a gateway handles
                  packets soon after they arrive, while they are still in the
                  cache, not after tens of MB of others (both decode and
                  ring-forward drain the same refills)
    decode+py     the same with one Python stage

Mpps counts packets taken from the rx port per second (for decode: wire
packets, source and parity, after the loss).  Rounds alternate contenders;
figures are medians with the min-max spread; ratios are against the plain
loop on the same vdevs.  Peak RSS and the mempool size are reported.  Writes
bench/results/pipeline.json and prints a table.  Timing never fails anything.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # no spinning BLAS threads

sys.path.insert(0, str(Path(__file__).parent))

from _stats import machine, peak_rss_mb, ratio, summarize, write_json  # noqa: E402

from pydpdk import dpdk, fec  # noqa: E402
from pydpdk.pipeline import (  # noqa: E402
    FecDecodeStage,
    FecEncodeStage,
    Generator,
    Impairment,
    Pipeline,
    PortSink,
    PortSource,
    PyStage,
)

K, M, LOSS = 10, 4, 0.05
RING = 32768
REFILL_SOURCES = 2560          # -> 2560 * 14/10 * 0.95 ~ 3400 wire packets per drain
POOL = 131071


def touch_headers(burst):
    """A light but real Python stage: read every packet's Ethernet header."""
    with burst.headers(14) as h:
        h[:, 0] |= 0


class Rig:
    """The vdevs and pipelines for one frame size (created once, run many times)."""

    def __init__(self, eal: dpdk.Eal, pool: dpdk.Mempool, size: int, burst: int) -> None:
        tag = f"{size}"
        self.names = [eal.add_vdev(f"net_null_in{tag},size={size}"),
                      eal.add_vdev(f"net_null_out{tag}")]
        self.null_in = dpdk.Port(self.names[0], pool)
        self.null_out = dpdk.Port(self.names[1], pool)
        self.ring_names = (f"bench_a{tag}", f"bench_b{tag}")
        ra, rb = eal.ring_pair(*self.ring_names, depth=RING)
        self.ring_a = dpdk.Port(ra, pool)
        self.ring_b = dpdk.Port(rb, pool)
        for p in (self.null_in, self.null_out, self.ring_a, self.ring_b):
            p.start()
        self.eal, self.pool, self.size, self.burst = eal, pool, size, burst
        # producer (untimed): frames -> encoder -> 5% loss -> ring
        self.to_ring = PortSink(self.ring_a)
        self.producer = Pipeline().add(
            Generator(pool, sizes=(max(size, 64),)), FecEncodeStage(pool, k=K, m=M, deadline=0),
            Impairment(pool, loss=LOSS, seed=size), sink=self.to_ring, burst=64)
        self.pipes = {
            "encode": self._encode(python=False),
            "encode+py": self._encode(python=True),
            "decode": self._decode(python=False),
            "decode+py": self._decode(python=True),
        }

    def _encode(self, python: bool) -> Pipeline:
        stages = [FecEncodeStage(self.pool, k=K, m=M, max_payload=max(self.size, 64))]
        if python:
            stages.insert(0, PyStage(touch_headers))
        return Pipeline().add(PortSource(self.null_in), *stages, sink=PortSink(self.null_out),
                              burst=self.burst)

    def _decode(self, python: bool) -> Pipeline:
        stages = [FecDecodeStage(self.pool, max_payload=max(self.size, 64))]
        if python:
            stages.insert(0, PyStage(touch_headers))
        return Pipeline().add(PortSource(self.ring_b), *stages, sink=PortSink(self.null_out),
                              burst=self.burst)

    def fill_ring(self) -> int:
        """Refill the ring with encoded, lossy frames; returns how many were queued."""
        before = self.to_ring.counters["packets_out"]
        self.producer.run(packets=REFILL_SOURCES, drain=0.0)
        return self.to_ring.counters["packets_out"] - before

    def run(self, name: str, seconds: float, drains: int) -> float:
        if name == "forward":
            return dpdk.forward(self.null_in, self.null_out, bidirectional=False,
                                burst=self.burst, duration=seconds).mpps
        if name.startswith("encode"):
            res = self.pipes[name].run(duration=seconds, busy_poll=True)
            return res["packets"] / res["elapsed_s"] / 1e6
        packets = elapsed = 0.0
        for _ in range(drains):
            queued = self.fill_ring()
            if name == "ring-forward":
                st = dpdk.forward(self.ring_b, self.null_out, bidirectional=False,
                                  burst=self.burst, max_packets=queued, duration=5.0)
                packets += st.rx_packets
                elapsed += st.seconds
            else:
                res = self.pipes[name].run(packets=queued, duration=5.0, busy_poll=True)
                packets += res["packets"]
                elapsed += res["elapsed_s"]
        return packets / elapsed / 1e6

    def close(self) -> None:
        for p in (self.null_in, self.null_out, self.ring_a, self.ring_b):
            p.close()
        for name in self.names:
            self.eal.remove_vdev(name)
        self.eal.remove_ring_pair(*self.ring_names)


CONTENDERS = ["forward", "encode", "encode+py", "ring-forward", "decode", "decode+py"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="per encode/forward run")
    ap.add_argument("--drains", type=int, default=32, help="ring drains per decode run")
    ap.add_argument("--repeats", type=int, default=5, help="alternating rounds")
    ap.add_argument("--sizes", default="64,512,1400")
    ap.add_argument("--burst", type=int, default=32)
    ap.add_argument("--quick", action="store_true", help="short smoke run")
    ap.add_argument("--json", default="bench/results/pipeline.json")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.drains, args.repeats = 0.3, 4, 2
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {**machine(), "command": " ".join(["python", *sys.argv]),
               "code": f"RS k={K} m={M}", "loss": LOSS, "burst": args.burst,
               "fec_kernel": fec.default_kernel(), "cores": 1, "sizes": {}}
    with dpdk.Eal(memory_mb=2048) as eal:
        pool = dpdk.Mempool(POOL, cache_size=256)
        results["mempool_mbufs"] = POOL
        try:
            for size in sizes:
                rig = Rig(eal, pool, size, args.burst)
                try:
                    runs: dict[str, list[float]] = {c: [] for c in CONTENDERS}
                    for name in CONTENDERS:                  # warm-up
                        rig.run(name, args.seconds / 3, 1)
                    for _ in range(args.repeats):
                        for name in CONTENDERS:
                            runs[name].append(rig.run(name, args.seconds, args.drains))
                finally:
                    rig.close()
                cell = {name: summarize(v) for name, v in runs.items()}
                med = {name: c["median"] for name, c in cell.items()}
                cell["ratios"] = {
                    "encode/forward": ratio(med["encode"], med["forward"]),
                    "decode/ring-forward": ratio(med["decode"], med["ring-forward"]),
                    "encode+py/encode": ratio(med["encode+py"], med["encode"]),
                    "decode+py/decode": ratio(med["decode+py"], med["decode"]),
                }
                results["sizes"][str(size)] = cell
                print_cell(size, cell)
        finally:
            pool.close()
    results["peak_rss_mb"] = peak_rss_mb()
    out = write_json(args.json, results)
    print(f"\npeak RSS {results['peak_rss_mb']:.0f} MiB (mempool of {POOL} mbufs); "
          f"FEC kernel {results['fec_kernel']}; results in {out}")
    return 0


def print_cell(size: int, cell: dict) -> None:
    print(f"\n{size}-byte frames, RS k={K} m={M}, one core (Mpps: median [min-max])")
    for name in CONTENDERS:
        c = cell[name]
        print(f"  {name:13s} {c['median']:7.2f}  [{c['min']:.2f}-{c['max']:.2f}]")
    for key, value in cell["ratios"].items():
        print(f"  {key:22s} {value:.2f}" if value else f"  {key:22s} -")


if __name__ == "__main__":
    sys.exit(main())
