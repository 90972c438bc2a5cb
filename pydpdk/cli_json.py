"""The ``--json`` documents of ``pydpdk fec``: a versioned schema with stable keys.

Keys never embed Python reprs or file paths: ports are keyed by their role
(``in``, ``out``, ``local``, ``peer``) and carry their spec as a value;
pipeline stages are keyed ``chain<N>.<stage>`` where a port stage is
``rx.<role>`` / ``tx.<role>`` (``chain0.rx.in``, ``chain0.fec-encode``,
``chain0.tx.out``).  The schema is documented in docs/cli.md; additions keep
the version, renames or removals bump it.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["FEC_SCHEMA", "fec_document", "stage_key"]

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


def fec_document(report: dict[str, Any], ports: dict[str, str]) -> dict[str, Any]:
    """The ``--json`` document of a gateway run.

    *report* is :func:`pydpdk.gateway.run_gateway`'s result, *ports* the
    port specs by role.  Every value is a number, a string, a bool or None.
    """
    mode = str(report.get("mode"))
    doc: dict[str, Any] = {
        "schema": FEC_SCHEMA,
        "mode": mode,
        "backend": report.get("backend"),
        "stopped_by": "interrupt" if report.get("interrupted") else report.get("stopped_by"),
        "elapsed_s": report.get("elapsed_s"),
        "packets": report.get("packets"),
        "buffers_leaked": report.get("buffers_leaked"),
        "ports": {role: {"spec": spec, "stats": _plain(report.get("ports", {}).get(role, {}))}
                  for role, spec in ports.items()},
        "stages": {stage_key(name, mode): _plain(counters)
                   for name, counters in report.get("counters", {}).items()},
    }
    return doc


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        out[str(key)] = value if isinstance(value, (int, float, str, bool, type(None))) \
            else str(value)
    return out
