"""Packet pipelines whose hot loop runs in native code.

A pipeline is a set of chains, each ``source -> stages -> sink``:

* sources: a port's rx queue (any backend), or a :class:`Generator`;
* stages: native ones (:class:`FecEncodeStage`, :class:`FecDecodeStage`,
  :class:`Impairment`) and Python callables, called once per *burst*;
* sinks: a port's tx queue, a :class:`Verifier`, or :class:`Discard`.

``Pipeline.run()`` polls every chain in turn without the GIL until a duration,
a packet count, the end of every finite source, Ctrl-C or ``stop()``; then it
drains what is in flight and flushes held packets (partial FEC blocks get
their parity), so every packet ends at a sink or back in its pool.

Example::

    pipe = Pipeline()
    pipe.add(port_a, rewrite_macs, FecEncodeStage(pool, k=10, m=4), sink=port_b)
    pipe.run(duration=10)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ._burst import PortBase
from ._pipeline import (
    DEFAULT_TEMPLATE,
    MARKER_LEN,
    Discard,
    FecDecodeStage,
    FecEncodeStage,
    Generator,
    Impairment,
    PortSink,
    PortSource,
    PyStage,
    Sink,
    Source,
    Stage,
    Verifier,
    clock_ns,
)
from ._pipeline import Pipeline as _NativePipeline

__all__ = [
    "DEFAULT_TEMPLATE",
    "MARKER_LEN",
    "Discard",
    "FecDecodeStage",
    "FecEncodeStage",
    "Generator",
    "Impairment",
    "Pipeline",
    "PortSink",
    "PortSource",
    "PyStage",
    "Sink",
    "Source",
    "Stage",
    "Verifier",
    "clock_ns",
]


def _as_source(obj: Any) -> Source:
    if isinstance(obj, Source):
        return obj
    if isinstance(obj, PortBase):
        return PortSource(obj)
    raise TypeError(f"not a source: {obj!r} (give a port, a Generator or a Source)")


def _as_sink(obj: Any) -> Sink:
    if isinstance(obj, Sink):
        return obj
    if isinstance(obj, PortBase):
        return PortSink(obj)
    raise TypeError(f"not a sink: {obj!r} (give a port, a Verifier, Discard or a Sink)")


def _as_stage(obj: Any) -> Stage:
    if isinstance(obj, Stage):
        return obj
    if callable(obj):
        return PyStage(obj)
    raise TypeError(f"not a stage: {obj!r} (give a Stage or a callable taking a Burst)")


class Pipeline(_NativePipeline):
    """Chains of source -> stages -> sink run by one GIL-free loop.

    ``run()`` blocks; ``start()`` runs the same loop on a background thread
    (the GIL is released, so the caller stays responsive) and ``stop()`` ends
    it and returns the run's result.
    """

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._finished = threading.Event()
        self._lcore: int | None = None
        self._result: dict[str, Any] | None = None
        self._error: BaseException | None = None

    def add(
        self,
        source: Any,
        *stages: Stage | Callable[..., Any],
        sink: Any,
        burst: int = 32,
    ) -> Pipeline:
        """Add a chain; ports and callables are wrapped for you.  Returns self."""
        self.add_chain(
            _as_source(source), [_as_stage(s) for s in stages], _as_sink(sink), burst=burst
        )
        return self

    def start(self, *, lcore: int | None = None, **run_kwargs: Any) -> None:
        """Run in the background; see :meth:`run` for the arguments.

        With *lcore*, the loop runs on that DPDK worker lcore (the EAL must
        have been given it, e.g. ``Eal(lcores="0@(0,1),1@(0,1)")``); otherwise
        on a Python thread.  Either way the GIL is released, so the caller
        stays responsive; ``stop()`` or ``join()`` collects the result.
        """
        if self.running or (self._thread is not None and not self._finished.is_set()):
            raise RuntimeError("the pipeline is already running")
        self._result = None
        self._error = None
        self._lcore = None
        if lcore is not None:
            from . import dpdk

            dpdk._require_dpdk()
            from . import _dpdk_lcore

            job = self._prepare_job(**run_kwargs)
            try:
                _dpdk_lcore.launch(lcore, job)
            except BaseException:
                self._abort_job()          # it never ran
                raise
            self._lcore = lcore
            return

        # Completion is signalled by the thread itself: a KeyboardInterrupt that
        # lands inside Thread.join() can make a live thread look finished.
        finished = self._finished = threading.Event()

        def body() -> None:
            try:
                self._result = self.run(**run_kwargs)
            except BaseException as exc:  # handed to stop()/join()
                self._error = exc
            finally:
                finished.set()

        self._thread = threading.Thread(target=body, name="pydpdk-pipeline", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> dict[str, Any] | None:
        """Wait for a background run; returns its result (None if still running)."""
        if self._lcore is not None:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._job_done():
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                time.sleep(0.005)
            from . import _dpdk_lcore

            _dpdk_lcore.wait(self._lcore)
            self._lcore = None
            return self._finish_job()
        if self._thread is None:
            raise RuntimeError("the pipeline was not started with start()")
        if not self._finished.wait(timeout):
            return None
        self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return self._result

    def stop(self, timeout: float | None = 10.0) -> dict[str, Any] | None:
        """Stop a background run and return its result."""
        self.request_stop()
        return self.join(timeout)

    def counters(self) -> dict[str, dict[str, int]]:
        """Counters of every element, keyed ``"chain<i>.<name>"`` (``<name>#2`` for a
        second element of the same name in a chain); safe while running."""
        out: dict[str, dict[str, int]] = {}
        for i, (src, stages, snk) in enumerate(self.elements):
            chain: list[Source | Stage | Sink] = [src, *stages, snk]
            for element in chain:
                key = base = f"chain{i}.{element.name}"
                n = 1
                while key in out:
                    n += 1
                    key = f"{base}#{n}"
                out[key] = element.counters
        return out
