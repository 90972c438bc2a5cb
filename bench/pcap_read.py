#!/usr/bin/env python3
"""How fast the pcap file port reads: a capture through a pipeline to Discard.

    .venv/bin/python bench/pcap_read.py [--records 1000000] [--size 128]
        [--repeat 5] [--dir /dev/shm] [--format pcap,pcapng]

Writes a capture of ``--records`` distinct frames of ``--size`` bytes once
(classic pcap, and pcapng through pydpdk's own writer) in a RAM-backed
directory, then reads each ``--repeat`` times, interleaved, with
``PcapPort(rx=FILE)`` → ``Pipeline`` → ``Discard`` (the native loop: the port's
reader, the packet buffers and the loop, no Python per packet).  Reported per
format: records per second of the process's CPU time (on a shared machine
wall time is noise), median and min-max over the rounds (bench/_stats.py),
with the load average beside it.  Compare two trees by running the script in
each (their own .venv); results go to bench/results/pcap_read.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stats import load, load_line, machine, summarize, write_json  # noqa: E402


def make_capture(path: Path, fmt: str, records: int, size: int) -> None:
    from pydpdk.pcap import CaptureWriter

    rnd = os.urandom(size)
    with CaptureWriter(str(path), format=fmt) as w:
        for i in range(records):
            w.write(i.to_bytes(8, "big") + rnd[8:], 1_700_000_000_000_000_000 + i)


def read_once(path: Path) -> tuple[int, float]:
    from pydpdk._native import BufferPool
    from pydpdk.pcap import PcapPort
    from pydpdk.pipeline import Discard, Pipeline, PortSource

    pool = BufferPool(capacity=4096)
    port = PcapPort(str(path), None, pool)
    port.start()
    sink = Discard(pool)
    pipe = Pipeline().add(PortSource(port), sink=sink)
    c0 = time.process_time()
    pipe.run()
    cpu = time.process_time() - c0
    n = sink.counters["packets_in"]
    port.close()
    del pipe, sink
    return n, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dir", default="/dev/shm")
    ap.add_argument("--format", default="pcap,pcapng")
    args = ap.parse_args()
    formats = args.format.split(",")
    results: dict = {"machine": machine(), "records": args.records, "size": args.size,
                     "load_before": load(), "rows": {}}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        files = {f: Path(tmp) / f"bench.{f}" for f in formats}
        for f, p in files.items():
            make_capture(p, f, args.records, args.size)
        rates: dict[str, list[float]] = {f: [] for f in formats}
        for _ in range(args.repeat):
            for f, p in files.items():
                n, cpu = read_once(p)
                if n != args.records:
                    raise SystemExit(f"{f}: read {n} of {args.records} records")
                rates[f].append(n / cpu / 1e6)
    results["load_after"] = load()
    print(f"pcap port read, {args.records:,} records of {args.size} B, "
          f"Mrecords per CPU-second, {args.repeat} rounds")
    for f in formats:
        s = summarize(rates[f])
        results["rows"][f] = {"mpps_per_cpu_s": s, "rounds": rates[f]}
        print(f"  {f:7s} {s['median']:.2f} [{s['min']:.2f}-{s['max']:.2f}]")
    print("  " + load_line(results["load_before"]) + " / " + load_line(results["load_after"]))
    print(f"results: {write_json('bench/results/pcap_read.json', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
