"""Statistics and reporting shared by the benchmarks in this folder."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any


def summarize(values: list[float]) -> dict[str, Any]:
    """Median with the min-max spread (and the runs themselves)."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": values}


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu,
            "python": platform.python_version()}


def write_json(path: str | Path, results: dict[str, Any]) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    return out


def load() -> dict[str, Any]:
    """What else was running: load averages (1/5/15 min), runnable tasks,
    CPUs, and the busiest other processes (by CPU share since they started,
    from ps).  Benchmarks print it next to their figures."""
    out: dict[str, Any] = {"cpus": os.cpu_count()}
    try:
        fields = Path("/proc/loadavg").read_text().split()
        out["loadavg"] = [float(x) for x in fields[:3]]
        out["runnable"] = fields[3]
    except (OSError, ValueError, IndexError):
        pass
    try:
        ps = subprocess.run(["ps", "-eo", "pcpu,comm", "--sort=-pcpu", "--no-headers"],
                            capture_output=True, text=True, timeout=5).stdout
        top = [ln.split(None, 1) for ln in ps.splitlines()[:8] if ln.strip()]
        out["busiest"] = [f"{name.strip()} {cpu}%" for cpu, name in top if len(top[0]) == 2]
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def load_line(info: dict[str, Any]) -> str:
    avg = info.get("loadavg")
    text = f"load average {avg[0]:.2f} {avg[1]:.2f} {avg[2]:.2f}" if avg else "load unknown"
    text += f" on {info.get('cpus')} CPUs (runnable/total tasks {info.get('runnable', '?')})"
    if info.get("busiest"):
        text += "; busiest: " + ", ".join(info["busiest"][:5])
    return text
