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

import atexit
import errno
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

from . import PortBase, backends
from ._gateway import FecDecodeStage, FecEncodeStage
from ._pipeline import (
    Discard,
    PortSink,
    PortSource,
    PyStage,
    Sink,
    Source,
    Stage,
)
from ._pipeline import Pipeline as _NativePipeline
from ._traffic import DEFAULT_TEMPLATE, MARKER_LEN, Generator, Impairment, Verifier, clock_ns
from .backends import Worker
from .errors import BusyError

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


# Pipelines running in the background: stopped and joined at interpreter
# exit, before the EAL's and pools' own exit handlers free what they use.
_running: weakref.WeakSet[Pipeline] = weakref.WeakSet()


def _halt_all() -> None:
    for pipe in list(_running):
        pipe.halt()


# A forked child has none of the parent's loop threads: nothing to halt there
# (and the parent's pipelines refuse to run in it, docs/architecture.md).
os.register_at_fork(after_in_child=_running.clear)


# threading's exit hooks run before atexit handlers (and before daemon threads
# are abandoned); older Pythons only have atexit.
_register = getattr(threading, "_register_atexit", None)
if _register is not None:
    _register(_halt_all)
else:  # pragma: no cover
    atexit.register(_halt_all)


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

    Stopping is safe whatever ends the controlling code: used as a context
    manager (``with Pipeline() as pipe:``), the loop is stopped and joined on
    the way out, before the ports and pools it uses (opened earlier, closed
    later) are released; ``join()``/``stop()`` interrupted by Ctrl-C stop the
    loop and wait for it before the ``KeyboardInterrupt`` propagates; and a
    loop still running at interpreter exit is stopped and joined first.

    A port that fails while the loop runs (interface deleted, device
    removed) stops the run within about 100 ms: ``run()``/``join()`` raise
    ``PortError`` (``.result`` holds the run's result).  A link that goes
    down is not a failure: the port's counters show ``link_up`` (1/0),
    ``link_errno`` (ENETDOWN while down) and ``link_changes``, and traffic
    resumes when it comes back.

    Not thread-safe: control a pipeline (add, start, stop, join) from one
    thread; ``request_stop()`` and ``counters()`` may be called from any.
    """

    def __init__(self) -> None:
        self._worker: Worker | None = None     # the thread or lcore running the loop
        self._pending = False       # a started run whose result is not collected yet

    def add(
        self,
        source: Any,
        *stages: Stage | Callable[..., Any],
        sink: Any,
        burst: int = 32,
    ) -> Pipeline:
        """Add a chain; ports and callables are wrapped for you.

        Parameters
        ----------
        source : PortBase or Source
            A port (its rx queue 0, as ``PortSource(port)``), a Generator or
            another Source.
        *stages : Stage or callable
            Applied in order; a callable ``fn(burst) -> None | keep_mask``
            becomes a :class:`PyStage`.
        sink : PortBase or Sink
            A port (its tx queue 0, as ``PortSink(port)``), a Verifier,
            Discard or another Sink.
        burst : int, default 32
            Packets pulled from the source per round, 1..256.

        Returns
        -------
        Pipeline
            ``self``, so calls chain.

        Raises
        ------
        TypeError
            *source*, a stage or *sink* is of no usable type.
        ValueError
            As :meth:`add_chain` (bad *burst*, mixed backends, an element
            already in a chain, a port without queue 0).
        PydpdkError
            The pipeline is running (EBUSY).

        Notes
        -----
        A pcapng file sink fed from a capture file source keeps each
        packet's interface (``PcapPort.mirror_interfaces``).
        """
        from .pcap import mirror_capture_interfaces

        mirror_capture_interfaces([(source, sink)])
        self.add_chain(
            _as_source(source), [_as_stage(s) for s in stages], _as_sink(sink), burst=burst
        )
        return self

    def start(self, *, lcore: int | None = None, **run_kwargs: Any) -> None:
        """Run in the background; see :meth:`run` for the arguments.

        With *lcore*, the loop runs on that DPDK worker lcore (the EAL must
        have been given it, e.g. ``Eal(lcores="0@(0,1),1@(0,1)")``); otherwise
        on a Python thread, which is registered with DPDK for the run
        (``rte_thread_register``) so the mempools' per-lcore caches serve it
        as on a worker lcore.  Either way the GIL is released, so the caller
        stays responsive; ``stop()`` or ``join()`` collects the result.  The
        run is prepared on the calling thread, so a ``request_stop()`` right
        after ``start()`` is never lost.

        Parameters
        ----------
        lcore : int, optional
            DPDK worker lcore id (``rte_eal_remote_launch``); None: a Python
            thread.
        **run_kwargs
            ``duration``, ``packets``, ``idle_sleep_us``, ``idle_rounds``,
            ``busy_poll`` and ``drain``, as :meth:`run` takes them.

        Raises
        ------
        BusyError
            The pipeline is already running or its result was not collected
            (EBUSY).
        DpdkUnavailableError
            *lcore* given, but pydpdk was built without DPDK.
        ValueError
            *lcore* is not an enabled worker lcore (or is the main one).
        OSError
            The lcore is busy with another job (EBUSY); EalError if DPDK
            refuses the launch otherwise.
        EalStateError
            *lcore* given, but the EAL is not running in this process.
        Exception
            What :meth:`run` raises while preparing (ValueError, PortError,
            ConcurrentUseError, ...); nothing runs then.
        """
        if self.running or self._pending:
            raise BusyError(errno.EBUSY, "the pipeline is already running")
        job = self._prepare_job(**run_kwargs)
        # The backend launches the loop: DPDK on a worker lcore, or on a
        # thread that it gives an lcore id while the EAL runs.
        worker = backends.worker_backend(lcore)
        try:
            if lcore is not None:
                self._worker = worker.launch_lcore(lcore, job)
            else:
                self._worker = worker.launch(self._run_job, name="pydpdk-pipeline")
        except BaseException:
            self._abort_job()              # it never ran
            raise
        self._pending = True
        _running.add(self)

    def join(self, timeout: float | None = None) -> dict[str, Any] | None:
        """Wait for a background run and collect its result.

        If the wait itself is interrupted (Ctrl-C), the loop is stopped and
        waited for before the exception propagates.

        Parameters
        ----------
        timeout : float, optional
            Longest wait in seconds; None: until the run ends.

        Returns
        -------
        dict or None
            The run's result as :meth:`run` returns it; None if it still
            runs after *timeout* (call again).

        Raises
        ------
        RuntimeError
            The pipeline was not started with :meth:`start`.
        PortError
            A port failed during the run (``.result`` holds the result).
        Exception
            What a Python stage raised.
        KeyboardInterrupt
            Ctrl-C while waiting, once the loop stopped.
        """
        if not self._pending:
            raise RuntimeError("the pipeline was not started with start()")
        if not self._wait_job(-1.0 if timeout is None else max(timeout, 0.0)):
            return None
        return self._collect()

    def _collect(self) -> dict[str, Any]:
        # The loop has ended: reap its thread/lcore, then hand over the outcome.
        self._pending = False
        _running.discard(self)
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.join()
        return self._finish_job()

    def stop(self, timeout: float | None = 10.0) -> dict[str, Any] | None:
        """Stop a background run and return its result.

        ``request_stop()`` then :meth:`join`.

        Parameters
        ----------
        timeout : float or None, default 10.0
            Longest wait in seconds for the loop to drain and end; None: no
            limit.

        Returns
        -------
        dict or None
            The run's result, or None if it did not end within *timeout*.

        Raises
        ------
        RuntimeError
            The pipeline was not started with :meth:`start`.
        PortError
            A port failed during the run.
        Exception
            What a Python stage raised.
        """
        self.request_stop()
        return self.join(timeout)

    def halt(self) -> tuple[dict[str, Any] | None, BaseException | None]:
        """Stop a background run if one is active and wait for it, whatever
        happens meanwhile.  Never raises what ended the run.

        Returns
        -------
        tuple of (dict or None, BaseException or None)
            ``(result, error)``: the run's result, and the exception that
            ended it (or that interrupted the wait); ``(None, None)`` when
            nothing was running.
        """
        if not self._pending:
            return None, None
        self.request_stop()
        while True:
            try:
                return self.join(), None
            except (KeyboardInterrupt, SystemExit) as exc:
                if self._pending:        # interrupted while waiting: the loop is stopped
                    continue
                return None, exc
            except Exception as exc:     # what ended the run
                return getattr(exc, "result", None), exc

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        # Unlike Handle's, halts (stop and join) without closing: the
        # pipeline's counters and result stay readable after the block.
        self.halt()

    def counters(self) -> dict[str, dict[str, int]]:
        """Counters of every element; safe to call from any thread while it runs.

        Returns
        -------
        dict of str to dict
            ``{"chain<i>.<name>": element.counters}`` (``<name>#2`` for a
            second element of the same name in a chain); each element's
            ``counters`` docstring lists its keys.
        """
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
