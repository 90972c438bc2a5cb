"""Statistics and reporting shared by the benchmarks in this folder."""

from __future__ import annotations

import json
import platform
import resource
import statistics
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
