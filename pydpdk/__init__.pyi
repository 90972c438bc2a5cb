"""Type stub of the package: the names ``pydpdk/__init__.py`` loads lazily, typed."""

from typing import Any

from . import afpacket as afpacket
from . import analysis as analysis
from . import backend as backend
from . import demo as demo
from . import dpdk as dpdk
from . import errors as errors
from . import fec as fec
from . import gateway as gateway
from . import pcap as pcap
from . import pipeline as pipeline
from ._burst import Burst as Burst
from ._burst import Packet as Packet
from ._burst import PacketPool as PacketPool
from ._burst import PortBase as PortBase
from .errors import BackendUnavailableError as BackendUnavailableError
from .errors import DpdkUnavailableError as DpdkUnavailableError
from .errors import EalError as EalError
from .errors import EalStateError as EalStateError
from .errors import FecError as FecError
from .errors import PacketStateError as PacketStateError
from .errors import PoolError as PoolError
from .errors import PortError as PortError
from .errors import PydpdkError as PydpdkError
from .pipeline import Pipeline as Pipeline

BUILD_INFO: dict[str, Any]
__version__: str

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
