"""Type stubs for pydpdk._pipeline (element bases, ports, Python stages, the loop)."""

from collections.abc import Callable, Iterable
from typing import Any

import numpy.typing as npt

from ._burst import Burst, PacketPool, PortBase
from ._handle import Handle
from ._telemetry import Registration

STOP_REASONS: dict[int, str]

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
