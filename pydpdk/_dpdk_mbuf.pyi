"""Type stubs for pydpdk._dpdk_mbuf (DPDK pktmbuf pools)."""

from pydpdk._burst import PacketPool

DEFAULT_DATA_ROOM: int
HEADROOM: int

class Mempool(PacketPool):
    @property
    def name(self) -> str: ...
    def _thread_cache_len(self) -> int: ...
    def __init__(
        self,
        size: int = 8191,
        *,
        cache_size: int = 256,
        data_room: int = ...,
        socket: int = -1,
        name: str | None = None,
    ) -> None: ...
    @property
    def data_room(self) -> int: ...
    def close(self) -> None: ...
