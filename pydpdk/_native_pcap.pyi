"""Type stubs for pydpdk._native_pcap (the libpcap file port)."""

import os

from pydpdk._burst import Burst, PacketPool, PortBase

_Path = str | bytes | os.PathLike[str] | os.PathLike[bytes]

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
    ) -> None: ...
    @property
    def done(self) -> bool: ...
    @property
    def mac(self) -> str: ...
    def rx_burst(self, queue: int = 0, max_packets: int = 32) -> Burst: ...
    def tx_burst(self, burst: Burst, queue: int = 0) -> int: ...
    def next_due(self) -> float | None: ...
    def flush(self) -> None: ...
    def reset_stats(self) -> None: ...
