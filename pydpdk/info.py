"""What ``pydpdk info`` reports: build, backends, CPU, FEC kernels, crypto, EAL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import __version__
from ._build_info import BUILD_INFO

__all__ = ["cpu_features", "installation_info"]


def cpu_features() -> list[str]:
    """The CPU features pydpdk's kernels care about that this CPU has.

    Returns
    -------
    list of str
        Among ``sse4_2``, ``avx2``, ``avx512f``, ``avx512bw``, ``avx512vl``,
        ``gfni``, ``vpclmulqdq`` (``/proc/cpuinfo`` flags); empty when
        unknown.
    """
    wanted = ("sse4_2", "avx2", "avx512f", "avx512bw", "avx512vl", "gfni", "vpclmulqdq")
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("flags")).split(":", 1)[1].split()
    except (OSError, StopIteration):
        return []
    return [f for f in wanted if f in flags]


def installation_info(eal_args: list[str], eal: bool = True) -> dict[str, Any]:
    """Everything ``pydpdk info`` shows.

    Parameters
    ----------
    eal_args : list of str
        Extra EAL arguments for the EAL started to look at DPDK's side.
    eal : bool, default True
        Start the EAL (needs DPDK) and include what it sees under ``dpdk``.

    Returns
    -------
    dict
        ``pydpdk`` (version), ``build``, ``backend``
        (:func:`pydpdk.backend.describe`), ``cpu_features``, ``fec_kernel``,
        ``fec_kernels``, ``crypto`` and, with *eal*, ``dpdk``
        (:meth:`pydpdk.dpdk.Eal.info`).

    Raises
    ------
    EalError
        The EAL refused *eal_args*.
    """
    from . import backend, fec, secure

    info: dict[str, Any] = {"pydpdk": __version__, "build": dict(BUILD_INFO),
                            "backend": backend.describe(), "cpu_features": cpu_features(),
                            "fec_kernel": fec.default_kernel(),
                            "fec_kernels": fec.available_kernels(),
                            "crypto": secure.info()}
    if eal:
        from .backends import get

        with get("dpdk").runtime(eal_args, reuse=False) as running:
            info["dpdk"] = running.info()
    return info
