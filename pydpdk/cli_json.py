"""The ``--json`` documents of ``pydpdk fec``: a versioned schema with stable keys.

Keys never embed Python reprs or file paths: ports are keyed by their role
(``in``, ``out``, ``local``, ``peer``; their specs are in ``port_specs``);
pipeline stages are keyed ``chain<N>.<stage>`` where a port stage is
``rx.<role>`` / ``tx.<role>`` (``chain0.rx.in``, ``chain0.fec-encode``,
``chain0.tx.out``), UDP peer ports ``udp.<role>``.  The schema is
documented in docs/cli.md; additions keep the version, renames or removals
bump it.
"""

from __future__ import annotations

import re
import time
from typing import Any

__all__ = ["FEC_SCHEMA", "IntervalRecorder", "fec_document", "stage_key"]

#: Name and version of the ``pydpdk fec --json`` document.
FEC_SCHEMA = "pydpdk.fec/1"

# Which port role each chain's rx and tx use, per mode (gateway.build_gateway).
_CHAIN_ROLES = {
    "encode": [("in", "out")],
    "decode": [("in", "out")],
    "tunnel": [("local", "peer"), ("peer", "local")],
}

_PORT_STAGE = re.compile(r"^chain(\d+)\.(rx|tx):.*:(\d+)$")


def stage_key(name: str, mode: str) -> str:
    """The stable key of a pipeline stage name (see the module docstring)."""
    m = _PORT_STAGE.match(name)
    if m is None:
        return name
    chain, direction, queue = int(m.group(1)), m.group(2), int(m.group(3))
    roles = _CHAIN_ROLES.get(mode, [])
    if chain >= len(roles):
        return f"chain{chain}.{direction}"
    role = roles[chain][0 if direction == "rx" else 1]
    return f"chain{chain}.{direction}.{role}" + (f".q{queue}" if queue else "")


class IntervalRecorder:
    """Interval records like iperf3's ``-J``: one per progress tick.

    Each record: ``{"elapsed_s": seconds since the start, "stages": {key:
    {"packets_in", "packets_out", "drops"}}}`` with the counts of that
    interval (not cumulative); with ``--adaptive`` also ``"adaptive":
    {"setting", "loss_rate"}`` (schema 1.1).
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.records: list[dict[str, Any]] = []
        self._start = time.monotonic()
        self._last: dict[str, dict[str, int]] = {}

    def add(self, counters: dict[str, dict[str, Any]]) -> None:
        stages: dict[str, dict[str, int]] = {}
        adaptive = counters.get("adaptive")
        for name, c in counters.items():
            if name == "adaptive":
                continue
            key = stage_key(name, self.mode)
            prev = self._last.get(key, {})
            now = {k: int(c.get(k, 0)) for k in ("packets_in", "packets_out", "drops")}
            stages[key] = {k: v - prev.get(k, 0) for k, v in now.items()}
            self._last[key] = now
        record: dict[str, Any] = {"elapsed_s": round(time.monotonic() - self._start, 6),
                                  "stages": stages}
        if adaptive is not None:            # --adaptive: the setting in force then
            record["adaptive"] = {"setting": adaptive["setting"],
                                  "loss_rate": (adaptive["report"] or {}).get("loss_rate")}
        self.records.append(record)


def fec_document(report: dict[str, Any], ports: dict[str, str],
                 intervals: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The ``--json`` document of a gateway run.

    *report* is :func:`pydpdk.gateway.run_gateway`'s result, *ports* the
    port specs by role, *intervals* :class:`IntervalRecorder` records.  The
    report's fields are kept (``ports`` stays {role: counters}); ``schema``,
    ``port_specs`` and ``intervals`` are added, and ``counters`` is keyed by
    :func:`stage_key`.
    """
    mode = str(report.get("mode"))
    doc: dict[str, Any] = {"schema": FEC_SCHEMA}
    doc.update(report)
    doc["port_specs"] = dict(ports)
    doc["counters"] = {stage_key(name, mode): _plain(counters)
                       for name, counters in report.get("counters", {}).items()}
    doc["ports"] = {role: _plain(st) for role, st in report.get("ports", {}).items()}
    doc["intervals"] = list(intervals or [])
    return doc


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        out[str(key)] = value if isinstance(value, (int, float, str, bool, type(None))) \
            else str(value)
    return out
