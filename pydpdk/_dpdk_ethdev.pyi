"""Type stubs for pydpdk._dpdk_ethdev (DPDK ports, native forwarding loop)."""

from typing import Any

from pydpdk._burst import PortBase
from pydpdk._dpdk_mbuf import Mempool

RSS_HEADER_VALUES: dict[str, int]

class Port(PortBase):
    @property
    def port_id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def pool(self) -> Mempool: ...
    @property
    def rx_ring_size(self) -> int: ...
    @property
    def tx_ring_size(self) -> int: ...
    @property
    def rss_hf(self) -> int: ...
    def __init__(
        self,
        device: int | str,
        pool: Mempool,
        *,
        rx_queues: int = 1,
        tx_queues: int = 1,
        rx_ring_size: int = 1024,
        tx_ring_size: int = 1024,
        rss: int = 0,
        mtu: int | None = None,
        promiscuous: bool | None = None,
    ) -> None: ...
    @property
    def mac(self) -> str: ...
    @property
    def link(self) -> dict[str, Any]: ...
    @property
    def mtu(self) -> int: ...
    @mtu.setter
    def mtu(self, value: int) -> None: ...
    @property
    def promiscuous(self) -> bool: ...
    @promiscuous.setter
    def promiscuous(self, enable: bool) -> None: ...
    @property
    def driver(self) -> str: ...
    def info(self) -> dict[str, Any]: ...
    def xstats(self) -> dict[str, int]: ...
    def reset_stats(self) -> None: ...

def forward(
    links: list[tuple[Port, int, Port, int]],
    burst: int = 32,
    max_packets: int | None = None,
    duration: float | None = None,
    slice_seconds: float = 0.005,
) -> dict[str, Any]: ...
