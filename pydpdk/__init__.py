"""pydpdk: DPDK from Python at DPDK speed, with packet-level forward error correction.

The public API is plain Python; the compiled core lives in private ``_*``
modules.  See docs/architecture.md for the layers and the ownership rules.
"""

from __future__ import annotations

from . import errors
from ._build_info import BUILD_INFO
from .errors import (
    BackendUnavailableError,
    DpdkUnavailableError,
    EalError,
    EalStateError,
    FecError,
    PacketStateError,
    PoolError,
    PortError,
    PydpdkError,
)

__version__ = BUILD_INFO["version"]

# Submodules and core classes on first use: ``import pydpdk`` stays cheap and
# loads neither numpy nor DPDK's libraries until they are needed.
_LAZY_MODULES = ("analysis", "backend", "demo", "dpdk", "fec", "gateway", "pipeline",
                 "afpacket", "pcap", "udp", "nexthop")
_LAZY_NAMES = {"Burst": "_burst", "Packet": "_burst", "PacketPool": "_burst",
               "PortBase": "_burst", "Pipeline": "pipeline"}


def __getattr__(name: str) -> object:
    import importlib

    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(f".{_LAZY_NAMES[name]}", __name__), name)
    raise AttributeError(f"module 'pydpdk' has no attribute {name!r}")

__all__ = [
    "BUILD_INFO",
    "Burst",
    "Packet",
    "PacketPool",
    "PortBase",
    "Pipeline",
    "BackendUnavailableError",
    "DpdkUnavailableError",
    "EalError",
    "EalStateError",
    "FecError",
    "PacketStateError",
    "PoolError",
    "PortError",
    "PydpdkError",
    "errors",
    "__version__",
]
