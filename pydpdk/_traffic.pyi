"""Type stubs for pydpdk._traffic (Generator, Verifier, Impairment)."""

from collections.abc import Iterable

from ._burst import PacketPool
from ._pipeline import Sink, Source, Stage

DEFAULT_TEMPLATE: bytes
MARKER_LEN: int

class Generator(Source):
    template: bytes
    count: int
    def __init__(
        self,
        pool: PacketPool,
        sizes: int | Iterable[int] = (512,),
        count: int = 0,
        rate_pps: float = 0.0,
        stream: int = 0,
        template: bytes | None = None,
        fix_lengths: bool = True,
    ) -> None: ...
    @property
    def marker_offset(self) -> int: ...
    def frame(self, length: int, seq: int, tx_ns: int = 0) -> bytes: ...

class Verifier(Sink):
    marker_offset: int
    stream: int
    def __init__(self, pool: PacketPool, marker_offset: int = 42, stream: int = 0) -> None: ...
    def check(self, frame: bytes | bytearray | memoryview) -> tuple[str, int | None]: ...

class Impairment(Stage):
    def __init__(
        self,
        pool: PacketPool,
        loss: float = 0.0,
        ge_p: float | None = None,
        ge_r: float | None = None,
        ge_loss_good: float = 0.0,
        ge_loss_bad: float = 1.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        reorder_gap: int = 3,
        seed: int = 1,
    ) -> None: ...
    def set_loss(self, loss: float = 0.0, ge_p: float | None = None, ge_r: float | None = None,
                 ge_loss_good: float = 0.0, ge_loss_bad: float = 1.0) -> None: ...

def clock_ns() -> int: ...
