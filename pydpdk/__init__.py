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

__all__ = [
    "BUILD_INFO",
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
