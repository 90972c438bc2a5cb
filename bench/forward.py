#!/usr/bin/env python3
"""Forwarding benchmark: pydpdk against dpdk-testpmd, side by side in one run.

    python bench/forward.py                 # defaults: about 90 s on 2 cores
    python bench/forward.py --quick         # about 20 s smoke run

Contenders, all forwarding between two ``net_null`` vdevs in both directions
on one busy core, the same one (CPU 1 by default, see --cpu): testpmd's
forwarding lcore, or pydpdk's calling thread.  testpmd's main lcore (CPU 0)
only waits for commands.

    testpmd   dpdk-testpmd --forward-mode=io (the reference), one interactive
              process driven through a pty for every measurement
    native    pydpdk.dpdk.forward: the GIL-free C loop
    python    a Python loop calling rx_burst/tx_burst once per burst
    python-thread  the same loop on a second Python thread (not an EAL lcore:
              registered with DPDK on its first burst, so the mempool's
              per-lcore cache serves it as it serves the main thread)
    headers   as python, plus rewriting every packet's Ethernet MACs through
              ``with burst.headers(14) as h`` (numpy, gather + scatter)
    gather    as headers, but into one preallocated array
              (gather_headers/scatter_headers: no allocation per burst)

Rounds alternate between contenders; each figure is the median of the rounds
with the min-max spread, and ratios are against testpmd at the same burst
size.  At burst 32 each rate is also given per CPU-second the contender
used (testpmd: schedstat of its threads; pydpdk: process CPU time):
robust to being descheduled on a shared machine, not to what shares its
caches.  Then Mpps against burst size
(1..256).  The load average and the busiest processes are printed before
and after (what else was running).  Writes JSON (default
bench/results/forward.json) and prints a table.  Timing never fails anything.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pty
import re
import resource
import select
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

# numpy's OpenBLAS would start one spinning worker thread per CPU at import;
# nothing here uses BLAS, and on 2 cores those threads steal from both sides.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _stats import load, load_line, summarize  # noqa: E402

from pydpdk import dpdk  # noqa: E402

TESTPMD = shutil.which("dpdk-testpmd")
MAIN_BURST = 32


# --------------------------------------------------------------------------
# contenders
# --------------------------------------------------------------------------

class TestPmd:
    """One interactive dpdk-testpmd (io forwarding between two net_null vdevs).

    Kept running for the whole benchmark and driven through a pty: each
    measurement is ``set burst N``, ``start``, sleep, ``stop``; the rate is the
    TX-packets of testpmd's accumulated statistics over the wall-clock window
    (startup and EAL init are never inside it).  While stopped, its forwarding
    lcore sleeps, so it does not compete with the pydpdk runs.
    """

    PROMPT = b"testpmd> "

    def __init__(self) -> None:
        assert TESTPMD is not None
        cmd = [
            TESTPMD, "-l", "0,1", "--no-huge", "-m", "512", "--no-pci", "--no-telemetry",
            f"--file-prefix=pydpdk-bench-testpmd{os.getpid()}", "--log-level=error",
            "--vdev", "net_null0", "--vdev", "net_null1",
            "--", "-i", "--forward-mode=io", "--nb-cores=1", "--total-num-mbufs=8192",
        ]
        self.command = " ".join(cmd)
        master, slave = pty.openpty()
        self.proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave,
                                     close_fds=True)
        os.close(slave)
        self.fd = master
        self.buffer = b""
        self._read_until_prompt(timeout=60)

    def _read_until_prompt(self, timeout: float = 30) -> str:
        end = time.monotonic() + timeout
        while self.PROMPT not in self.buffer:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, end - time.monotonic()))
            if not ready:
                raise RuntimeError("testpmd did not answer:\n" + self.buffer[-1000:].decode())
            self.buffer += os.read(self.fd, 65536)
        out, self.buffer = self.buffer.split(self.PROMPT, 1)
        return out.decode(errors="replace")

    def command_line(self, line: str) -> str:
        os.write(self.fd, (line + "\n").encode())
        return self._read_until_prompt()

    def run(self, burst: int, seconds: float) -> float:
        self.command_line(f"set burst {burst}")
        c0 = cpu_ns(self.proc.pid)
        self.command_line("start")
        t0 = time.perf_counter()
        time.sleep(seconds)
        os.write(self.fd, b"stop\n")
        t1 = time.perf_counter()
        out = self._read_until_prompt()
        c1 = cpu_ns(self.proc.pid)
        match = re.search(r"Accumulated forward statistics for all ports.*?TX-packets:\s+(\d+)",
                          out, re.S)
        if match is None:
            raise RuntimeError("could not parse testpmd statistics:\n" + out[-2000:])
        self.last_cpu_mpps = int(match.group(1)) / max(c1 - c0, 1) * 1e3
        return int(match.group(1)) / (t1 - t0) / 1e6

    def close(self) -> None:
        try:
            os.write(self.fd, b"quit\n")
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            os.close(self.fd)


def cpu_ns(pid: int) -> int:
    """CPU time of every thread of *pid* so far, ns (/proc/<pid>/task/*/schedstat)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass        # a thread that just ended
    return total


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


def run_python_thread(a, b, burst: int, seconds: float) -> float:
    out: list[float] = []
    thread = threading.Thread(target=lambda: out.append(run_python(a, b, burst, seconds)))
    thread.start()
    thread.join()
    return out[0]


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



def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.5, help="per run, burst 32")
    ap.add_argument("--repeats", type=int, default=5, help="alternating rounds, burst 32")
    ap.add_argument("--sweep-seconds", type=float, default=0.4)
    ap.add_argument("--sweep-repeats", type=int, default=3)
    ap.add_argument("--bursts", default="1,2,4,8,16,32,64,128,256")
    ap.add_argument("--no-testpmd", action="store_true")
    ap.add_argument("--cpu", type=int, default=1,
                    help="CPU for the pydpdk side: the one testpmd's forwarding lcore uses "
                         "(-l 0,1: lcore 1), so both share the same core's load; -1 = float")
    ap.add_argument("--quick", action="store_true", help="short smoke run")
    ap.add_argument("--output", default=str(Path(__file__).parent / "results" / "forward.json"))
    ap.add_argument("--plot", metavar="PNG",
                    help="also draw Mpps against burst size (needs matplotlib)")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.repeats, args.sweep_seconds, args.sweep_repeats = 0.5, 2, 0.2, 1
        args.bursts = "1,8,32,256"
    bursts = [int(x) for x in args.bursts.split(",")]
    use_testpmd = TESTPMD is not None and not args.no_testpmd

    if args.cpu >= 0:
        # Same core as testpmd's forwarding lcore: on a shared 2-core machine a
        # pinned peer and a floating contender would not see the same load.
        os.sched_setaffinity(0, {args.cpu})
    contenders = {"native": run_native, "python": run_python,
                  "python-thread": run_python_thread, "headers": run_headers,
                  "gather": run_gather}
    load_before = load()
    print("before: " + load_line(load_before), file=sys.stderr)
    sweep_names = ["native", "python", "headers"]
    testpmd = TestPmd() if use_testpmd else None
    results: dict = {"main": {}, "sweep": {}}
    try:
        with dpdk.Eal(vdevs=["net_null0", "net_null1"], memory_mb=512) as eal:
            results["eal_init_seconds"] = eal.init_seconds
            with dpdk.Mempool(16383) as pool:
                a = dpdk.Port("net_null0", pool)
                b = dpdk.Port("net_null1", pool)
                a.start()
                b.start()

                last_cpu: dict[str, float] = {}

                def measure(name: str, burst: int, seconds: float) -> float:
                    # Also the rate per CPU-second the contender used (last_cpu):
                    # on a shared machine, robust to being descheduled.
                    if name == "testpmd":
                        assert testpmd is not None
                        value = testpmd.run(burst, seconds)
                        last_cpu[name] = testpmd.last_cpu_mpps
                        return value
                    # (process_time keeps the CPU time of threads that ended)
                    t0, c0 = time.perf_counter(), time.process_time()
                    value = contenders[name](a, b, burst, seconds)
                    t1, c1 = time.perf_counter(), time.process_time()
                    last_cpu[name] = value * (t1 - t0) / max(c1 - c0, 1e-9)
                    return value

                names = (["testpmd"] if testpmd else []) + list(contenders)
                for name in names:  # warm up
                    measure(name, MAIN_BURST, 0.2)

                runs: dict[str, list[float]] = {name: [] for name in names}
                cpu_runs: dict[str, list[float]] = {name: [] for name in names}
                for r in range(args.repeats):
                    for name in names:
                        value = measure(name, MAIN_BURST, args.seconds)
                        runs[name].append(value)
                        cpu_runs[name].append(last_cpu[name])
                        print(f"  round {r + 1}/{args.repeats} {name:8s} {value:8.2f} Mpps "
                              f"({last_cpu[name]:.2f} per CPU-second)", file=sys.stderr)
                results["main"] = {name: summarize(v) for name, v in runs.items()}
                for name, v in cpu_runs.items():
                    results["main"][name]["cpu"] = summarize(v)
                if "testpmd" in runs:
                    # Ratio within each round (same machine state), then the median.
                    for name, v in runs.items():
                        results["main"][name]["ratio_per_round"] = summarize(
                            [x / t for x, t in zip(v, runs["testpmd"])])
                        results["main"][name]["cpu"]["ratio_per_round"] = summarize(
                            [x / t for x, t in zip(cpu_runs[name], cpu_runs["testpmd"])])

                # Rounds go over every burst size, so slow phases of a shared
                # machine spread over the whole curve instead of bending it.
                snames = (["testpmd"] if testpmd else []) + sweep_names
                sweep = {burst: {n: [] for n in snames} for burst in bursts}
                for r in range(args.sweep_repeats):
                    for burst in bursts:
                        for name in snames:
                            sweep[burst][name].append(measure(name, burst, args.sweep_seconds))
                    print(f"  sweep round {r + 1}/{args.sweep_repeats} done", file=sys.stderr)
                results["sweep"] = {burst: {n: summarize(v) for n, v in row.items()}
                                    for burst, row in sweep.items()}
                if testpmd:
                    for burst, row in sweep.items():
                        for n, v in row.items():
                            results["sweep"][burst][n]["ratio_per_round"] = summarize(
                                [x / t for x, t in zip(v, row["testpmd"])])
                a.close()
                b.close()
    finally:
        if testpmd is not None:
            testpmd.close()

    results["meta"] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": " ".join(["python", "bench/forward.py", *sys.argv[1:]]),
        "dpdk": dpdk._dpdk_eal.version(),
        "cpu": platform.processor() or platform.machine(),
        "cpus_online": os.cpu_count(),
        "testpmd": testpmd.command if testpmd else None,
        "vdev": "net_null x2 (64-byte packets), both directions, one busy core each side",
        "main_burst": MAIN_BURST,
        "seconds_per_run": args.seconds,
        "pydpdk_cpu": args.cpu if args.cpu >= 0 else "floating",
        "mempool": "16383 mbufs x 2176 B data room",
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "repeats": args.repeats,
        "load_before": load_before,
        "load_after": load(),
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print_table(results)
    if args.plot:
        plot_sweep(results, Path(args.plot))
        print(f"plot: {args.plot}")
    print("before: " + load_line(results["meta"]["load_before"]))
    print("after:  " + load_line(results["meta"]["load_after"]))
    print(f"\npeak RSS of the pydpdk side: {results['meta']['peak_rss_mib']} MiB "
          f"({results['meta']['mempool']})")
    print(f"JSON: {out}")
    return 0


def print_table(results: dict) -> None:
    main = results["main"]
    ref = main.get("testpmd", {}).get("median")
    print(f"\nForwarding, 2x net_null, burst {MAIN_BURST} "
          f"(EAL init {results['eal_init_seconds']:.2f} s)")
    print(f"{'contender':13s} {'Mpps':>8s} {'min-max':>15s} {'ns/pkt':>8s} "
          f"{'vs testpmd (per-round min-max)':>31s}")
    for name, s in main.items():
        ratio = "-"
        if ref and "ratio_per_round" in s:
            rr = s["ratio_per_round"]
            ratio = f"{rr['median']:.2f}x ({rr['min']:.2f}-{rr['max']:.2f})"
        print(f"{name:13s} {s['median']:8.2f} {s['min']:7.2f}-{s['max']:<7.2f} "
              f"{1e3 / s['median']:8.1f} {ratio:>31s}")
    print("\nThe same per CPU-second each contender used (robust to being descheduled)")
    for name, s in main.items():
        c = s.get("cpu")
        if not c:
            continue
        ratio = "-"
        if ref and "ratio_per_round" in c:
            rr = c["ratio_per_round"]
            ratio = f"{rr['median']:.2f}x ({rr['min']:.2f}-{rr['max']:.2f})"
        print(f"{name:13s} {c['median']:8.2f} {c['min']:7.2f}-{c['max']:<7.2f} "
              f"{1e3 / c['median']:8.1f} {ratio:>31s}")
    print("\nMpps vs burst size (median; median per-round ratio to testpmd in brackets)")
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
            rel = ""
            if tp and n != "testpmd" and "ratio_per_round" in row[n]:
                rel = f" ({row[n]['ratio_per_round']['median']:.2f}x)"
            cells.append(f"{m:>8.2f}{rel:>8s}")
        print(f"{burst:>5} " + " ".join(cells))


def plot_sweep(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bursts = sorted(results["sweep"])
    fig, ax = plt.subplots(figsize=(7, 4.2))
    labels = {"testpmd": "dpdk-testpmd io", "native": "pydpdk native loop",
              "python": "Python rx/tx per burst", "headers": "Python + numpy MAC rewrite"}
    for name, label in labels.items():
        rows = [results["sweep"][b].get(name) for b in bursts]
        if not all(rows):
            continue
        med = [r["median"] for r in rows]
        ax.plot(bursts, med, marker="o", label=label)
        ax.fill_between(bursts, [r["min"] for r in rows], [r["max"] for r in rows], alpha=0.15)
    ax.set_xscale("log", base=2)
    ax.set_xticks(bursts, [str(b) for b in bursts])
    ax.set_xlabel("burst size (packets)")
    ax.set_ylabel("Mpps (median, band = min-max)")
    ax.set_title("Forwarding between two net_null ports, one core")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    sys.exit(main())
