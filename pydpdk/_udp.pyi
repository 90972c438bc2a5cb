"""Type stubs for pydpdk._udp (UdpPort: the tunnel over a kernel UDP socket)."""

from typing import Any

from pydpdk._burst import PacketPool, PortBase

PEER_STATES: dict[int, str]

def split_hostport(text: str, default_port: int | None = None) -> tuple[str, int]: ...
def format_hostport(addr: tuple[str, int] | None) -> str: ...
def fec_session_id(data: bytes | bytearray | memoryview) -> int | None: ...

class UdpPort(PortBase):
    spec: str
    family: int
    def __init__(
        self,
        peer: str | tuple[str, int],
        pool: PacketPool | None = None,
        *,
        bind: str | int | tuple[str, int] | None = None,
        keepalive: float | None = 1.0,
        dead_after: float | None = 5.0,
        follow_peer: bool = True,
        dont_fragment: bool = False,
        gso: bool = False,
        gro: bool = False,
        rcvbuf: int = 4194304,
        sndbuf: int = 4194304,
        tos: bool = False,
        queue_group: int = 1,
        tx_port: int = 0,
        peer_ports: int = 1,
    ) -> None: ...
    @property
    def tos(self) -> bool: ...
    @tos.setter
    def tos(self, on: bool) -> None: ...
    @property
    def pool(self) -> PacketPool: ...
    @property
    def local(self) -> tuple[str, int]: ...
    @property
    def peer(self) -> tuple[str, int]: ...
    @property
    def instance_id(self) -> int: ...
    @property
    def peer_state(self) -> str: ...
    def wait(self, timeout: float = 1.0) -> bool: ...
    def tick(self) -> None: ...
    def reset_stats(self) -> None: ...
    def stats(self) -> dict[str, Any]: ...
