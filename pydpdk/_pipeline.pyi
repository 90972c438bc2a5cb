"""Type stubs for pydpdk._pipeline (native pipeline elements and loop)."""

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy.typing as npt

from ._burst import Burst, PacketPool, PortBase
from ._handle import Handle
from ._telemetry import Registration

STOP_REASONS: dict[int, str]
DEFAULT_TEMPLATE: bytes
MARKER_LEN: int
ENCAP_DEFAULTS: dict[str, Any]

class Element:
    @property
    def name(self) -> str: ...
    def _attach(self) -> None: ...

class Source(Element):
    @property
    def counters(self) -> dict[str, int]: ...

class Stage(Element):
    @property
    def counters(self) -> dict[str, int]: ...

class Sink(Element):
    @property
    def counters(self) -> dict[str, int]: ...

class PortSource(Source):
    port: PortBase
    def __init__(self, port: PortBase, queue: int = 0) -> None: ...

class PortSink(Sink):
    port: PortBase
    def __init__(self, port: PortBase, queue: int = 0, retries: int = 4) -> None: ...

class Discard(Sink):
    def __init__(self, pool: PacketPool) -> None: ...

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

class FecEncodeStage(Stage):
    config: dict[str, Any]
    @property
    def telemetry(self) -> Registration: ...
    def __init__(
        self,
        pool: PacketPool,
        code: str = "rs",
        k: int = 10,
        m: int = 4,
        depth: int = 1,
        deadline: float = 0.005,
        max_payload: int = 1518,
        kernel: str | None = None,
        session_id: int | None = None,
        wan_mtu: int = 0,
        clamp_mss: bool = True,
        icmp: bool = True,
        fragment: bool = True,
        icmp_source: str | Sequence[str] | None = None,
        max_m: int | None = None,
        max_depth: int | None = None,
        window: int | None = None,
        **encap: Any,
    ) -> None: ...
    def set_params(self, code: str, k: int, m: int, depth: int = 1) -> None: ...
    @property
    def params(self) -> tuple[str, int, int, int]: ...
    @property
    def control_counts(self) -> dict[str, int]: ...

class FecDecodeStage(Stage):
    @property
    def telemetry(self) -> Registration: ...
    def __init__(
        self,
        pool: PacketPool,
        timeout: float = 0.05,
        max_blocks: int = 256,
        max_payload: int = 1518,
        cache_entries: int = 64,
        kernel: str | None = None,
        max_sessions: int = 8,
        measure_window: float = 0.0,
        report_interval: float = 0.1,
        send_reports: bool = False,
        **encap: Any,
    ) -> None: ...
    def link_report(self) -> tuple[int, dict[str, Any]] | None: ...
    def peer_report(self) -> tuple[int, dict[str, Any]] | None: ...
    @property
    def control_stats(self) -> dict[str, int]: ...
    def send_replies_of(self, enc: FecEncodeStage | None) -> None: ...

class PyStage(Stage):
    fn: Callable[[Burst], npt.ArrayLike | None]
    error: BaseException | None
    def __init__(self, fn: Callable[[Burst], npt.ArrayLike | None], name: str | None = None
                 ) -> None: ...
    def _bind(self, pool: PacketPool, owner: Pipeline) -> None: ...

class ExternalStage(Stage):
    owner: object
    def __init__(self, capsule: object, owner: object, pool: PacketPool,
                 name: str | None = None) -> None: ...

class Pipeline(Handle):
    @property
    def running(self) -> bool: ...
    @property
    def telemetry(self) -> Registration: ...
    @property
    def elements(self) -> list[tuple[Source, list[Stage], Sink]]: ...
    def add_chain(self, source: Source, stages: Iterable[Stage], sink: Sink,
                  burst: int = 32) -> None: ...
    def request_stop(self) -> None: ...
    def close(self) -> None: ...
    def run(
        self,
        duration: float | None = None,
        packets: int | None = None,
        *,
        idle_sleep_us: int = 50,
        idle_rounds: int = 256,
        busy_poll: bool = False,
        drain: float = 0.2,
    ) -> dict[str, Any]: ...

    def _prepare_job(
        self,
        duration: float | None = None,
        packets: int | None = None,
        *,
        idle_sleep_us: int = 50,
        idle_rounds: int = 256,
        busy_poll: bool = False,
        drain: float = 0.2,
    ) -> Any: ...
    def _run_job(self) -> None: ...
    def _wait_job(self, timeout: float = -1.0) -> bool: ...
    def _abort_job(self) -> None: ...
    def _job_done(self) -> bool: ...
    def _finish_job(self) -> dict[str, Any]: ...

def clock_ns() -> int: ...
