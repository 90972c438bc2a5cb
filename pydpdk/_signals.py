"""SIGINT/SIGTERM that stop runs instead of interrupting their teardown (private).

Python turns Ctrl-C into a ``KeyboardInterrupt`` raised wherever the main
thread happens to be: in the middle of closing a port, between a pool's
close and the check that it is full, or while waiting for the native loop
that still uses both.  Inside :func:`deferred` (main thread only) the
signals Python handles are instead *recorded*, and every stop callback
registered with :meth:`Deferral.on_signal` is called (a running pipeline's
``request_stop``, which only sets a flag).  The code inside looks at
:attr:`Deferral.signum` at safe points (after EAL init, after opening the
ports, in its wait loop) and winds down in order.

When the outermost block ends, the original handlers are restored; a
signal that was not :meth:`~Deferral.consume`\\ d is then handed to its
original handler (``KeyboardInterrupt`` for SIGINT by default), after the
teardown.  Signals whose handler is not a Python callable (SIGTERM's
default: terminate) are left alone.  In other threads :func:`deferred` is
inert: signals are delivered to the main thread only.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["Deferral", "deferred", "signal_name"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class Deferral:
    """Signals recorded while a :func:`deferred` block runs."""

    def __init__(self) -> None:
        self.signum: int | None = None      # the first signal received
        self.count = 0                      # how many were received
        self.consumed = False
        self._stops: list[Callable[[], Any]] = []

    def _handler(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.signum is None:
            self.signum = signum
        for stop in list(self._stops):
            stop()

    @contextlib.contextmanager
    def on_signal(self, stop: Callable[[], Any]) -> Iterator[None]:
        """Call *stop* on every signal while the block runs (and at once if
        one was already received)."""
        self._stops.append(stop)
        try:
            if self.signum is not None:
                stop()
            yield
        finally:
            self._stops.remove(stop)

    def consume(self) -> int | None:
        """Mark the signal as handled (reported by the caller); returns it."""
        self.consumed = True
        return self.signum

    @property
    def name(self) -> str | None:
        return None if self.signum is None else signal_name(self.signum)


_active: Deferral | None = None


@contextlib.contextmanager
def deferred() -> Iterator[Deferral]:
    """Record SIGINT/SIGTERM instead of raising while the block runs; see the
    module docstring.  Nested blocks share the outermost one's record."""
    global _active
    if threading.current_thread() is not threading.main_thread():
        yield Deferral()
        return
    if _active is not None:
        yield _active
        return
    record = Deferral()
    saved: dict[int, Any] = {}
    _active = record
    try:
        for signum in SIGNALS:
            if callable(signal.getsignal(signum)):
                saved[signum] = signal.signal(signum, record._handler)
        yield record
    finally:
        for restored, handler in saved.items():
            signal.signal(restored, handler)
        _active = None
        if record.signum is not None and not record.consumed:
            original = saved.get(record.signum)
            if callable(original):
                original(record.signum, None)
