#!/usr/bin/env python3
"""FEC gateway pipelines on one core, beside the plain forwarding loop, in one run.

    python bench/pipeline.py            # a few minutes
    python bench/pipeline.py --quick    # about 30 s smoke run

Everything runs over DPDK vdevs in this process, on the calling thread
unless the row says "thread":

    forward       pydpdk.dpdk.forward: net_null rx -> net_null tx (upper bound)
    encode-null   net_null rx -> FecEncodeStage (RS k=10 m=4) -> net_null tx:
                  net_null hands out the same few cache-hot mbufs again and
                  again, with whatever payload they held (an upper bound)
    ring-forward  net_ring rx -> net_null tx, draining a prefilled ring of
                  distinct frames with real payloads (the reference for the
                  rows below, which drain the same kind of refill)
    encode        net_ring rx -> FecEncodeStage -> net_null tx: realistic input
    encode+py     the same with one Python stage (touches every burst's headers)
    encode-thread the same as encode, run on a long-lived plain Python thread
                  (not an EAL lcore, as Pipeline.start() without an lcore
                  uses): registered with DPDK on its first burst
    encode-thread-uncached  the same on a thread that runs with registration
                  off: the uncached mempool path every plain thread had before
                  (the thread rows' CPU time is that thread's own)
    decode        net_ring rx -> FecDecodeStage -> net_null tx; the refill is
                  encoded frames that went through 5% random loss
    decode+py     the same with one Python stage

Realistic input: each timed drain takes a refill of --refill distinct frames
(default 4096, a NIC rx ring's worth: 5.7 MB at 1400 B, nearly three times
the L2 cache) whose payloads are random bytes written (untimed) before the
drain, each in its own mbuf, so the loop meets packet data that is not in
its L1/L2 cache, as after a NIC's DMA into the last-level cache.
encode-null/encode shows the gap between net_null input and realistic input.

Mpps counts packets taken from the rx port per second (for decode: wire
packets, source and parity, after the loss).  Rounds alternate contenders
(interleaved, --repeats rounds, default 5); figures are medians with the
min-max spread; ratios are against the plain loop on the same input.  Each
rate is given twice: over wall-clock time, and per CPU-second this process
used meanwhile (time.process_time: robust to being descheduled on a shared
machine, not to the cache pollution of what runs beside it).  The load
average and the busiest processes are printed before and after: on a shared
machine the figures are only as quiet as that.  Peak RSS and the
mempool size are reported.  Writes bench/results/pipeline.json and prints a
table.  Timing never fails anything.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # no spinning BLAS threads

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
from _stats import (  # noqa: E402
    load,
    load_line,
    machine,
    peak_rss_mb,
    ratio,
    summarize,
    write_json,
)

from pydpdk import _dpdk_eal, dpdk, fec  # noqa: E402
from pydpdk.pipeline import (  # noqa: E402
    MARKER_LEN,
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
RING = 32768                   # net_ring depth: a refill must fit
POOL = 131071


def touch_headers(burst):
    """A light but real Python stage: read every packet's Ethernet header."""
    with burst.headers(14) as h:
        h[:, 0] |= 0


class Payloads:
    """A Python stage for the (untimed) producers: random payload bytes after
    the generator's marker, a different slice of a pre-generated table (not
    a multiple of the burst, so rows shift) for every burst."""

    def __init__(self, size: int, marker_end: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.size, self.start = size, min(marker_end, size)
        self.table = rng.integers(0, 256, size=(4099, size - self.start), dtype=np.uint8)
        self.row = 0

    def __call__(self, burst) -> None:
        n = len(burst)
        if n == 0 or self.start >= self.size:
            return
        rows = (np.arange(self.row, self.row + n) % len(self.table))
        self.row = (self.row + n + 7) % len(self.table)
        with burst.headers(self.size) as h:
            h[:, self.start:] = self.table[rows]


class Rig:
    """The vdevs and pipelines for one frame size (created once, run many times)."""

    def __init__(self, eal: dpdk.Eal, pool: dpdk.Mempool, size: int, burst: int,
                 refill: int) -> None:
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
        frame = max(size, 64)
        # Producers (untimed): distinct frames with random payloads -> ring,
        # plain (for the encoders) or encoded with 5% loss (for the decoders).
        # Each refill must fit the ring: decode's is ~1.33 wire packets/frame.
        self.refill = min(refill, RING // 2)
        self.to_ring = {False: PortSink(self.ring_a), True: PortSink(self.ring_a)}
        gen = Generator(pool, sizes=(frame,))
        self.producer_plain = Pipeline().add(
            gen, PyStage(Payloads(frame, gen.marker_offset + MARKER_LEN, size)),
            sink=self.to_ring[False], burst=64)
        gen = Generator(pool, sizes=(frame,))
        self.producer_fec = Pipeline().add(
            gen, PyStage(Payloads(frame, gen.marker_offset + MARKER_LEN, size + 1)),
            FecEncodeStage(pool, k=K, m=M, deadline=0),
            Impairment(pool, loss=LOSS, seed=size), sink=self.to_ring[True], burst=64)
        # One long-lived plain thread each for the "thread" rows.
        self.workers = {True: ThreadPoolExecutor(1), False: ThreadPoolExecutor(1)}
        self.pipes = {
            "encode-null": self._encode(python=False, source=self.null_in),
            "encode": self._encode(python=False),
            "encode+py": self._encode(python=True),
            "encode-thread": self._encode(python=False),
            "encode-thread-uncached": self._encode(python=False),
            "decode": self._decode(python=False),
            "decode+py": self._decode(python=True),
        }

    def _encode(self, python: bool, source=None) -> Pipeline:
        stages = [FecEncodeStage(self.pool, k=K, m=M, max_payload=max(self.size, 64))]
        if python:
            stages.insert(0, PyStage(touch_headers))
        return Pipeline().add(PortSource(source or self.ring_b), *stages,
                              sink=PortSink(self.null_out), burst=self.burst)

    def _decode(self, python: bool) -> Pipeline:
        stages = [FecDecodeStage(self.pool, max_payload=max(self.size, 64))]
        if python:
            stages.insert(0, PyStage(touch_headers))
        return Pipeline().add(PortSource(self.ring_b), *stages, sink=PortSink(self.null_out),
                              burst=self.burst)

    def fill_ring(self, fec_input: bool) -> int:
        """Refill the ring (plain or encoded+lossy frames); returns how many were queued."""
        sink = self.to_ring[fec_input]
        before = sink.counters["packets_out"]
        producer = self.producer_fec if fec_input else self.producer_plain
        producer.run(packets=self.refill, drain=0.0)
        return sink.counters["packets_out"] - before

    def run_threaded(self, name: str, queued: int) -> tuple[dict, float]:
        """Run on a long-lived plain Python thread (as `pydpdk demo`'s loop
        thread is): (result, CPU seconds of that thread).  The cached one is
        registered by its first burst; the uncached one only ever runs with
        registration off, so it stays a plain thread."""
        cached = not name.endswith("uncached")
        pipe = self.pipes[name]

        def timed() -> tuple[dict, float]:
            cpu0 = time.thread_time()
            res = pipe.run(packets=queued, duration=5.0, busy_poll=True)
            return res, time.thread_time() - cpu0

        if not cached:
            _dpdk_eal._set_thread_registration(False)
        try:
            return self.workers[cached].submit(timed).result()
        finally:
            if not cached:
                _dpdk_eal._set_thread_registration(True)

    def run(self, name: str, seconds: float, drains: int) -> tuple[float, float]:
        """One measurement: (Mpps over wall-clock time, Mpps per CPU-second of
        this process).  Only the timed calls count, never the refills."""
        cpu0 = time.process_time()
        if name == "forward":
            st = dpdk.forward(self.null_in, self.null_out, bidirectional=False,
                              burst=self.burst, duration=seconds)
            return st.mpps, st.rx_packets / (time.process_time() - cpu0) / 1e6
        if name == "encode-null":
            res = self.pipes[name].run(duration=seconds, busy_poll=True)
            cpu = time.process_time() - cpu0
            return res["packets"] / res["elapsed_s"] / 1e6, res["packets"] / cpu / 1e6
        packets = elapsed = cpu = 0.0
        for _ in range(drains):
            queued = self.fill_ring(fec_input=name.startswith("decode"))
            cpu0 = time.process_time()
            if name.startswith("encode-thread"):
                res, thread_cpu = self.run_threaded(name, queued)
                packets += res["packets"]
                elapsed += res["elapsed_s"]
                cpu += thread_cpu
                continue
            if name == "ring-forward":
                st = dpdk.forward(self.ring_b, self.null_out, bidirectional=False,
                                  burst=self.burst, max_packets=queued, duration=5.0)
                packets += st.rx_packets
                elapsed += st.seconds
            else:
                res = self.pipes[name].run(packets=queued, duration=5.0, busy_poll=True)
                packets += res["packets"]
                elapsed += res["elapsed_s"]
            cpu += time.process_time() - cpu0
        return packets / elapsed / 1e6, packets / cpu / 1e6

    def close(self) -> None:
        for w in self.workers.values():
            w.shutdown()
        for p in (self.null_in, self.null_out, self.ring_a, self.ring_b):
            p.close()
        for name in self.names:
            self.eal.remove_vdev(name)
        self.eal.remove_ring_pair(*self.ring_names)


CONTENDERS = ["forward", "encode-null", "ring-forward", "encode", "encode+py", "encode-thread",
              "encode-thread-uncached", "decode", "decode+py"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="per encode/forward run")
    ap.add_argument("--drains", type=int, default=16, help="ring drains per run (ring-fed rows)")
    ap.add_argument("--refill", type=int, default=4096,
                    help="distinct frames per drain (at most half the ring)")
    ap.add_argument("--contenders", default=",".join(CONTENDERS),
                    help="comma-separated subset of the rows (ratios need their pairs)")
    ap.add_argument("--repeats", type=int, default=5, help="alternating rounds")
    ap.add_argument("--sizes", default="64,512,1400")
    ap.add_argument("--burst", type=int, default=32)
    ap.add_argument("--quick", action="store_true", help="short smoke run")
    ap.add_argument("--json", default="bench/results/pipeline.json")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.drains, args.repeats, args.refill = 0.3, 2, 2, 4096
    sizes = [int(s) for s in args.sizes.split(",")]
    names = [c for c in args.contenders.split(",") if c]
    unknown = set(names) - set(CONTENDERS)
    if unknown:
        ap.error(f"unknown contenders {sorted(unknown)}; known: {', '.join(CONTENDERS)}")
    results = {**machine(), "command": " ".join(["python", *sys.argv]),
               "code": f"RS k={K} m={M}", "loss": LOSS, "burst": args.burst,
               "fec_kernel": fec.default_kernel(), "cores": 1, "refill": args.refill,
               "repeats": args.repeats, "load_before": load(), "sizes": {}}
    print("before: " + load_line(results["load_before"]))
    with dpdk.Eal(memory_mb=2048) as eal:
        pool = dpdk.Mempool(POOL, cache_size=256)
        results["mempool_mbufs"] = POOL
        try:
            for size in sizes:
                rig = Rig(eal, pool, size, args.burst, args.refill)
                try:
                    runs: dict[str, list[float]] = {c: [] for c in names}
                    cpu_runs: dict[str, list[float]] = {c: [] for c in names}
                    for name in names:                       # warm-up
                        rig.run(name, args.seconds / 3, 1)
                    for _ in range(args.repeats):
                        for name in names:
                            wall, cpu = rig.run(name, args.seconds, args.drains)
                            runs[name].append(wall)
                            cpu_runs[name].append(cpu)
                finally:
                    rig.close()
                cell = {name: {**summarize(v), "cpu": summarize(cpu_runs[name])}
                        for name, v in runs.items()}
                cell["ratios"] = ratios({n: cell[n]["median"] for n in names})
                cell["cpu_ratios"] = ratios({n: cell[n]["cpu"]["median"] for n in names})
                results["sizes"][str(size)] = cell
                print_cell(size, cell)
        finally:
            pool.close()
    results["load_after"] = load()
    print("after: " + load_line(results["load_after"]))
    results["peak_rss_mb"] = peak_rss_mb()
    out = write_json(args.json, results)
    print(f"\npeak RSS {results['peak_rss_mb']:.0f} MiB (mempool of {POOL} mbufs); "
          f"FEC kernel {results['fec_kernel']}; results in {out}")
    return 0


def ratios(med: dict) -> dict:
    pairs = {
        "encode/encode-null": ("encode", "encode-null"),
        "encode-null/forward": ("encode-null", "forward"),
        "encode/ring-forward": ("encode", "ring-forward"),
        "decode/ring-forward": ("decode", "ring-forward"),
        "encode-thread/encode": ("encode-thread", "encode"),
        "encode-thread-uncached/encode": ("encode-thread-uncached", "encode"),
        "encode+py/encode": ("encode+py", "encode"),
        "decode+py/decode": ("decode+py", "decode"),
    }
    return {key: ratio(med[a], med[b]) for key, (a, b) in pairs.items()
            if a in med and b in med}


def print_cell(size: int, cell: dict) -> None:
    print(f"\n{size}-byte frames, RS k={K} m={M}, one core, median [min-max] of the rounds")
    print(f"  {'':23s} {'Mpps (wall clock)':>22s}   {'Mpps per CPU-second':>22s}")
    for name in [n for n in CONTENDERS if n in cell]:
        c, u = cell[name], cell[name]["cpu"]
        print(f"  {name:23s} {c['median']:7.2f} [{c['min']:5.2f}-{c['max']:5.2f}]   "
              f"{u['median']:7.2f} [{u['min']:5.2f}-{u['max']:5.2f}]")
    for key, value in cell["ratios"].items():
        cpu = cell["cpu_ratios"][key]
        print(f"  {key:30s} {value or 0:5.2f}   {cpu or 0:5.2f} (per CPU-second)")


if __name__ == "__main__":
    sys.exit(main())
