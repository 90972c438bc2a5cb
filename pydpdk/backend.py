"""Which backend runs pydpdk's ports: the one place that decides.

Backends, in order of preference:

``dpdk``
    DPDK's EAL and poll-mode drivers (physical NICs and vdevs such as
    ``net_af_packet``, ``net_pcap``).  Needs pydpdk built with DPDK.
``native``
    pydpdk's own AF_PACKET (TPACKET_V3) and libpcap file ports; needs no
    DPDK, runs on any Linux machine.

The choice, first match wins: the *name* argument of :func:`select`,
the ``PYDPDK_BACKEND`` environment variable, else automatic (``dpdk`` when
built and importable, otherwise ``native``).  ``PYDPDK_BACKEND=auto`` is the
same as not setting it.  :func:`select` returns the backend as an object
(:class:`pydpdk.backends.Backend`: runtime, pools, ports, links, workers);
:func:`describe` reports the decision for ``pydpdk info``.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from ._build_info import BUILD_INFO
from .backends import Backend, get
from .errors import BackendUnavailableError, DpdkUnavailableError

__all__ = ["BACKENDS", "ENV_VAR", "available", "current", "describe", "select"]

#: The backends, in order of preference for the automatic choice.
BACKENDS = ("dpdk", "native")
#: The environment variable that chooses the backend when no argument does.
ENV_VAR = "PYDPDK_BACKEND"

# Module that must import for each backend to be usable.
_BACKEND_MODULES = {"dpdk": "pydpdk.dpdk", "native": "pydpdk._native"}


def _unavailable_reason(name: str) -> str | None:
    """None when *name* can be used here, else why not (one sentence)."""
    if name == "dpdk" and not BUILD_INFO.get("dpdk"):
        return "pydpdk was built without DPDK (-Ddpdk=disabled or libdpdk not found)"
    if name == "native" and not BUILD_INFO.get("afpacket"):
        return "the native AF_PACKET backend needs Linux"
    try:
        module = importlib.import_module(_BACKEND_MODULES[name])
    except ImportError as exc:
        return f"{_BACKEND_MODULES[name]} cannot be imported: {exc}"
    # pydpdk.dpdk always imports; it says whether its extensions loaded.
    if not getattr(module, "AVAILABLE", True):
        return f"the DPDK extensions failed to load ({getattr(module, '_import_error', '')})"
    return None


def available() -> dict[str, str | None]:
    """Which backends can run here.

    Importing a backend's module is part of the check (the DPDK extensions
    load DPDK's shared libraries), so this may import ``pydpdk.dpdk``.

    Returns
    -------
    dict of str to (str or None)
        Every name of :data:`BACKENDS` mapped to None when it can be used,
        else the reason it cannot (one sentence).
    """
    return {name: _unavailable_reason(name) for name in BACKENDS}


def _normalise(name: str, source: str) -> str:
    value = name.strip().lower()
    if value not in BACKENDS and value != "auto":
        raise ValueError(
            f"unknown backend {name!r} (from {source}); choose one of "
            f"{', '.join(BACKENDS)} or 'auto'"
        )
    return value


def _choose(backend: str | None) -> tuple[str, str]:
    """(backend, how it was chosen: 'argument' | 'environment' | 'automatic')."""
    if backend is not None:
        wanted, source = _normalise(backend, "argument"), "argument"
    elif os.environ.get(ENV_VAR, "").strip():
        wanted, source = _normalise(os.environ[ENV_VAR], f"${ENV_VAR}"), "environment"
    else:
        wanted, source = "auto", "automatic"
    if wanted == "auto":
        for name in BACKENDS:
            if _unavailable_reason(name) is None:
                return name, "automatic" if source == "automatic" else source
        raise BackendUnavailableError(
            "no pydpdk backend can run here: "
            + "; ".join(f"{n}: {r}" for n, r in available().items())
        )
    reason = _unavailable_reason(wanted)
    if reason is not None:
        cls = DpdkUnavailableError if wanted == "dpdk" else BackendUnavailableError
        raise cls(f"backend {wanted!r} was requested ({source}) but cannot be used: {reason}")
    return wanted, source


def select(name: str | None = None) -> Backend:
    """The backend to use, as an object.

    First match wins: *name*, else ``$PYDPDK_BACKEND``, else automatic
    (the first of :data:`BACKENDS` that can run here).

    Parameters
    ----------
    name : str, optional
        ``"dpdk"``, ``"native"`` or ``"auto"`` (case and surrounding blanks
        ignored); None defers to the environment.

    Returns
    -------
    Backend
        :class:`pydpdk.backends.dpdk.DpdkBackend` or
        :class:`pydpdk.backends.native.NativeBackend` (its ``name`` is
        ``"dpdk"`` or ``"native"``); one shared object per backend.

    Raises
    ------
    ValueError
        When the argument or ``$PYDPDK_BACKEND`` names no backend.
    DpdkUnavailableError
        When ``dpdk`` was asked for but this build or machine cannot run it.
    BackendUnavailableError
        When ``native`` was asked for but cannot run, or ``auto`` finds no
        backend at all.
    """
    return get(_choose(name)[0])


def current() -> Backend:
    """The backend in use for this process: :func:`select` without argument.

    Returns
    -------
    Backend
        As :func:`select` returns it.

    Raises
    ------
    ValueError, BackendUnavailableError, DpdkUnavailableError
        As :func:`select`.
    """
    return select(None)


def describe() -> dict[str, Any]:
    """What ``pydpdk info`` prints about backends; never raises for a bad choice.

    Returns
    -------
    dict
        ``available`` (as :func:`available`), ``env`` (the raw value of
        ``$PYDPDK_BACKEND`` or None), ``selected`` and ``chosen_by``
        (``"argument"``, ``"environment"`` or ``"automatic"``; both None
        with an ``error`` string when no backend can be selected), and
        ``native_ports``: which native port kinds (``afpacket``, ``pcap``)
        this build has.
    """
    info: dict[str, Any] = {"available": available(), "env": os.environ.get(ENV_VAR)}
    try:
        info["selected"], info["chosen_by"] = _choose(None)
    except (BackendUnavailableError, ValueError) as exc:
        info["selected"], info["chosen_by"], info["error"] = None, None, str(exc)
    info["native_ports"] = {
        "afpacket": BUILD_INFO.get("afpacket", False),
        "pcap": BUILD_INFO.get("pcap", False),
    }
    return info
