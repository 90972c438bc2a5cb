"""Type stubs for pydpdk._native_pcap (capture file port, reader, writer)."""

import os
from typing import NamedTuple

from pydpdk._burst import Burst, PacketPool, PortBase
from pydpdk._handle import Handle

_Path = str | bytes | os.PathLike[str] | os.PathLike[bytes]

LINK_TYPES: dict[int, str]

class RecordInfo(NamedTuple):
    number: int
    interface: int
    link_type: int
    orig_len: int
    ts_raw: int
    ts_resolution: int
    section: int

class Record(NamedTuple):
    data: bytes
    orig_len: int
    ts_ns: int
    ts_raw: int
    ts_resolution: int
    ts_offset: int
    interface: int
    link_type: int
    snaplen: int
    section: int
    number: int
    offset: int

class PcapPort(PortBase):
    rx_path: _Path | None
    tx_path: _Path | None
    def __init__(
        self,
        rx_path: _Path | None = None,
        tx_path: _Path | None = None,
        pool: PacketPool | None = None,
        *,
        replay_timing: bool = False,
        speed: float = 1.0,
        passes: int = 1,
        snaplen: int = 65535,
        nanosecond: bool = True,
        format: str | None = None,
        link_type: int = 1,
        deliver_snapped: bool = False,
    ) -> None: ...
    def check(self) -> None: ...
    @property
    def done(self) -> bool: ...
    @property
    def mac(self) -> str: ...
    def rx_burst(self, queue: int = 0, max_packets: int = 32) -> Burst: ...
    def tx_burst(
        self,
        burst: Burst,
        queue: int = 0,
        *,
        interfaces: list[int] | None = None,
        orig_lens: list[int] | None = None,
    ) -> int: ...
    def rx_info(self) -> list[RecordInfo]: ...
    @property
    def drop_reason(self) -> str: ...
    @property
    def tx_format(self) -> str | None: ...
    def add_tx_interface(
        self, link_type: int = 1, snaplen: int = 262144, ts_resolution: int = 9
    ) -> int: ...
    def mirror_interfaces(self, source: PcapPort) -> None: ...
    @property
    def mirror_source(self) -> PcapPort | None: ...
    def _unmirror_from_source(self) -> None: ...
    def _release_mirrors(self) -> None: ...
    @property
    def _rx_done_fn(self) -> int: ...
    def next_due(self) -> float | None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...
    def reset_stats(self) -> None: ...

class CaptureReader(Handle):
    path: _Path
    format: str
    def __init__(self, path: _Path) -> None: ...
    def __iter__(self) -> CaptureReader: ...
    def __next__(self) -> Record: ...
    def interfaces(self) -> list[tuple[int, int, int, int]]: ...
    def close(self) -> None: ...

class CaptureWriter(Handle):
    path: _Path
    format: str
    interfaces: int
    link_type: int
    def __init__(
        self,
        path: _Path,
        format: str | None = None,
        *,
        link_type: int = 1,
        snaplen: int = 262144,
        ts_resolution: int = 9,
        ts_offset: int = 0,
    ) -> None: ...
    def add_interface(
        self, link_type: int = 1, snaplen: int = 262144, ts_resolution: int = 9,
        ts_offset: int = 0,
    ) -> int: ...
    def new_section(
        self, link_type: int = 1, snaplen: int = 262144, ts_resolution: int = 9,
        ts_offset: int = 0,
    ) -> None: ...
    def write(
        self,
        data: bytes | bytearray | memoryview,
        ts_ns: int | None = None,
        *,
        interface: int = 0,
        orig_len: int | None = None,
        ts_raw: int | None = None,
    ) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...
