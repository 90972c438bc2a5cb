#!/usr/bin/env python3
"""Forwarding benchmark: pydpdk against dpdk-testpmd, side by side in one run.

    python bench/forward.py                 # defaults: ~2 minutes on 2 cores
    python bench/forward.py --quick         # ~30 s smoke run

Contenders, all forwarding between two ``net_null`` vdevs in both directions
on one busy core (testpmd: one forwarding lcore plus its mostly idle main
lcore; pydpdk: the calling thread):

    testpmd   dpdk-testpmd --forward-mode=io (the reference)
    native    pydpdk.dpdk.forward: the GIL-free C loop
    python    a Python loop calling rx_burst/tx_burst once per burst
    headers   as python, plus rewriting every packet's Ethernet MACs through
              ``with burst.headers(14) as h`` (numpy, gather + scatter)
    gather    as headers, but into one preallocated array
              (gather_headers/scatter_headers: no allocation per burst)

Rounds alternate between contenders; each figure is the median of the rounds
with the min-max spread, and ratios are against testpmd at the same burst
size.  Then Mpps against burst size (1..256).  Writes JSON (default
bench/results/forward.json) and prints a table.  Timing never fails anything.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from pydpdk import dpdk

TESTPMD = shutil.which("dpdk-testpmd")
MAIN_BURST = 32


# --------------------------------------------------------------------------
# contenders
# --------------------------------------------------------------------------

def run_testpmd(burst: int, seconds: float) -> float | None:
    """testpmd io-forward on two net_null vdevs; Mpps from its own pps counters."""
    if TESTPMD is None:
        return None
    period = 1
    cmd = [
        TESTPMD, "-l", "0,1", "--no-huge", "-m", "512", "--no-pci", "--no-telemetry",
        f"--file-prefix=pydpdk-bench-testpmd{os.getpid()}", "--log-level=error",
        "--vdev", "net_null0", "--vdev", "net_null1",
        "--", "--forward-mode=io", f"--stats-period={period}", f"--burst={burst}",
        "--nb-cores=1", "--total-num-mbufs=8192",
    ]
    # Startup (EAL init, PMD loading) is not measured: pps comes from the
    # periods testpmd itself reports; the first non-zero (partial) one is dropped.
    wanted = max(2, round(seconds / period)) + 1
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    stream = proc.stdout
    assert stream is not None
    reader = threading.Thread(target=lambda: lines.extend(stream), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if len(_testpmd_periods(lines)) >= wanted:
                break
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        reader.join(timeout=5)
    periods = _testpmd_periods(lines)[1:]
    if not periods:
        raise RuntimeError("could not parse testpmd throughput:\n" + "".join(lines)[-2000:])
    return statistics.median(periods) / 1e6


def _testpmd_periods(lines: list[str]) -> list[int]:
    """Total Rx-pps of both ports per stats period, once forwarding has started."""
    pps = [int(x) for x in re.findall(r"Rx-pps:\s+(\d+)", "".join(list(lines)))]
    periods = [pps[i] + pps[i + 1] for i in range(0, len(pps) - 1, 2)]
    return [p for p in periods if p > 0]


def run_native(a, b, burst: int, seconds: float) -> float:
    stats = dpdk.forward(a, b, burst=burst, duration=seconds)
    return stats.tx_packets / stats.seconds / 1e6


def run_python(a, b, burst: int, seconds: float) -> float:
    rx_a, rx_b, tx_a, tx_b = a.rx_burst, b.rx_burst, a.tx_burst, b.tx_burst
    sent = 0
    clock = time.perf_counter
    start = clock()
    deadline = start + seconds
    while True:
        for _ in range(256):
            x = rx_a(0, burst)
            sent += tx_b(x, 0)
            if x:
                x.free()
            y = rx_b(0, burst)
            sent += tx_a(y, 0)
            if y:
                y.free()
        now = clock()
        if now >= deadline:
            return sent / (now - start) / 1e6


DST = np.frombuffer(bytes.fromhex("020000000002"), dtype=np.uint8)
SRC = np.frombuffer(bytes.fromhex("020000000001"), dtype=np.uint8)


def run_headers(a, b, burst: int, seconds: float) -> float:
    rx_a, rx_b, tx_a, tx_b = a.rx_burst, b.rx_burst, a.tx_burst, b.tx_burst
    sent = 0
    clock = time.perf_counter
    start = clock()
    deadline = start + seconds
    while True:
        for _ in range(64):
            for rx, tx in ((rx_a, tx_b), (rx_b, tx_a)):
                x = rx(0, burst)
                with x.headers(14) as h:
                    h[:, 0:6] = DST
                    h[:, 6:12] = SRC
                sent += tx(x, 0)
                if x:
                    x.free()
        now = clock()
        if now >= deadline:
            return sent / (now - start) / 1e6


def run_gather(a, b, burst: int, seconds: float) -> float:
    rx_a, rx_b, tx_a, tx_b = a.rx_burst, b.rx_burst, a.tx_burst, b.tx_burst
    rows = np.zeros((burst, 14), dtype=np.uint8)
    sent = 0
    clock = time.perf_counter
    start = clock()
    deadline = start + seconds
    while True:
        for _ in range(64):
            for rx, tx in ((rx_a, tx_b), (rx_b, tx_a)):
                x = rx(0, burst)
                n = x.gather_headers(rows)
                rows[:n, 0:6] = DST
                rows[:n, 6:12] = SRC
                x.scatter_headers(rows)
                sent += tx(x, 0)
                if x:
                    x.free()
        now = clock()
        if now >= deadline:
            return sent / (now - start) / 1e6


# --------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------

def summarize(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": values}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.5, help="per run, burst 32")
    ap.add_argument("--repeats", type=int, default=5, help="alternating rounds, burst 32")
    ap.add_argument("--sweep-seconds", type=float, default=0.4)
    ap.add_argument("--sweep-repeats", type=int, default=3)
    ap.add_argument("--bursts", default="1,2,4,8,16,32,64,128,256")
    ap.add_argument("--no-testpmd", action="store_true")
    ap.add_argument("--quick", action="store_true", help="short smoke run")
    ap.add_argument("--output", default=str(Path(__file__).parent / "results" / "forward.json"))
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.repeats, args.sweep_seconds, args.sweep_repeats = 0.5, 2, 0.2, 1
        args.bursts = "1,8,32,256"
    bursts = [int(x) for x in args.bursts.split(",")]
    use_testpmd = TESTPMD is not None and not args.no_testpmd

    contenders = {"native": run_native, "python": run_python, "headers": run_headers,
                  "gather": run_gather}
    results: dict = {"main": {}, "sweep": {}}
    with dpdk.Eal(vdevs=["net_null0", "net_null1"], memory_mb=512) as eal:
        results["eal_init_seconds"] = eal.init_seconds
        with dpdk.Mempool(16383) as pool:
            a = dpdk.Port("net_null0", pool)
            b = dpdk.Port("net_null1", pool)
            a.start()
            b.start()
            for fn in contenders.values():  # warm up
                fn(a, b, MAIN_BURST, 0.1)

            runs: dict[str, list[float]] = {name: [] for name in contenders}
            if use_testpmd:
                runs = {"testpmd": [], **runs}
            for r in range(args.repeats):
                for name in runs:
                    if name == "testpmd":
                        value = run_testpmd(MAIN_BURST, args.seconds) or 0.0
                    else:
                        value = contenders[name](a, b, MAIN_BURST, args.seconds)
                    runs[name].append(value)
                    print(f"  round {r + 1}/{args.repeats} {name:8s} {value:8.2f} Mpps",
                          file=sys.stderr)
            results["main"] = {name: summarize(v) for name, v in runs.items()}

            for burst in bursts:
                sweep: dict[str, list[float]] = {"native": [], "python": [], "headers": []}
                if use_testpmd:
                    sweep = {"testpmd": [], **sweep}
                for r in range(args.sweep_repeats):
                    for name in sweep:
                        if name == "testpmd":
                            if r == 0:  # one testpmd run per burst size: 3+ s each
                                sweep[name].append(run_testpmd(burst, args.sweep_seconds) or 0.0)
                            continue
                        sweep[name].append(contenders[name](a, b, burst, args.sweep_seconds))
                results["sweep"][burst] = {n: summarize(v) for n, v in sweep.items() if v}
                print(f"  burst {burst}: " + ", ".join(
                    f"{n} {s['median']:.2f}" for n, s in results["sweep"][burst].items()),
                    file=sys.stderr)
            a.close()
            b.close()

    results["meta"] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": " ".join(["python", "bench/forward.py", *sys.argv[1:]]),
        "dpdk": dpdk._dpdk_eal.version(),
        "cpu": platform.processor() or platform.machine(),
        "cpus_online": os.cpu_count(),
        "vdev": "net_null x2 (64-byte packets), both directions, one busy core each side",
        "main_burst": MAIN_BURST,
        "seconds_per_run": args.seconds,
        "repeats": args.repeats,
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print_table(results)
    print(f"\nJSON: {out}")
    return 0


def print_table(results: dict) -> None:
    main = results["main"]
    ref = main.get("testpmd", {}).get("median")
    print(f"\nForwarding, 2x net_null, burst {MAIN_BURST} "
          f"(EAL init {results['eal_init_seconds']:.2f} s)")
    print(f"{'contender':10s} {'Mpps':>8s} {'min-max':>15s} {'ns/pkt':>8s} {'vs testpmd':>11s}")
    for name, s in main.items():
        ratio = f"{s['median'] / ref:.2f}x" if ref else "-"
        print(f"{name:10s} {s['median']:8.2f} {s['min']:7.2f}-{s['max']:<7.2f} "
              f"{1e3 / s['median']:8.1f} {ratio:>11s}")
    print("\nMpps vs burst size (median; ratio to testpmd in brackets)")
    names = sorted({n for row in results["sweep"].values() for n in row},
                   key=["testpmd", "native", "python", "headers"].index)
    print(f"{'burst':>5s} " + " ".join(f"{n:>16s}" for n in names))
    for burst, row in results["sweep"].items():
        tp = row.get("testpmd", {}).get("median")
        cells = []
        for n in names:
            if n not in row:
                cells.append(f"{'-':>16s}")
                continue
            m = row[n]["median"]
            rel = f" ({m / tp:.2f}x)" if tp and n != "testpmd" else ""
            cells.append(f"{m:>8.2f}{rel:>8s}")
        print(f"{burst:>5} " + " ".join(cells))


if __name__ == "__main__":
    sys.exit(main())
