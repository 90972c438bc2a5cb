"""All of pydpdk's exceptions, and the one place where error codes become them.

Native code reports failures as a negative errno (DPDK: ``rte_errno``).
:func:`error_from_errno` turns such a code into the matching built-in
:class:`OSError` subclass (``FileNotFoundError``, ``PermissionError``, ...)
when the caller did not ask for a specific pydpdk class, so ``except
PermissionError`` works as Python users expect.  Errors that are pydpdk's own
derive from :class:`PydpdkError`, itself an ``OSError`` so ``errno`` is kept.
"""

from __future__ import annotations

import errno as _errno
import os

__all__ = [
    "PydpdkError",
    "BackendUnavailableError",
    "DpdkUnavailableError",
    "EalError",
    "EalStateError",
    "PortError",
    "CaptureFileError",
    "PoolError",
    "PacketStateError",
    "FecError",
    "ConcurrentUseError",
    "ForkedChildError",
    "ResourceLimitError",
    "ClosedError",
    "BusyError",
    "EalHelpRequested",
    "error_from_errno",
]


class PydpdkError(OSError):
    """Base class of pydpdk's own errors (an ``OSError``: ``errno`` may be set)."""


class BackendUnavailableError(PydpdkError):
    """The requested backend was not built into this installation or cannot run here."""


class DpdkUnavailableError(BackendUnavailableError):
    """pydpdk was built without DPDK, or DPDK cannot be used in this process."""


class EalError(PydpdkError):
    """The DPDK Environment Abstraction Layer refused an operation."""


class EalStateError(EalError):
    """EAL used in the wrong state: second init, use after cleanup, forked child."""


class PortError(PydpdkError):
    """A port could not be found, configured, started or used."""


class CaptureFileError(PortError):
    """A capture (pcap/pcapng) file is not one, is corrupt or cut off, or has an
    unsupported link type."""


class PoolError(PydpdkError):
    """A packet pool could not be created, or was misused (closed while in use)."""


class PacketStateError(PydpdkError):
    """A packet or burst was used after it was freed or handed to a port."""


class FecError(PydpdkError):
    """An FEC codec operation failed (not raised for bad wire input, which is counted)."""


class ConcurrentUseError(PydpdkError):
    """An object that is not thread-safe was used by two threads at once (EBUSY).

    Raised by the second caller; the first one's call is unaffected.  Give
    each thread its own object, or serialise the calls with a lock.
    """


class ForkedChildError(PoolError, PortError, PacketStateError):
    """A pool, port, packet or burst created before ``os.fork()`` was used in the
    child (EPERM).  Its memory belongs to the parent: the child may not free,
    send or read it, and its finaliser does nothing there.  Also a PoolError,
    PortError and PacketStateError, so handlers for those see it too."""


class ClosedError(PoolError, PortError, FecError):
    """A handle (pool, port, codec, pipeline, capture file...) was used after
    ``close()`` (EBADF).  The one exception for that condition on every handle
    (see ``pydpdk._handle.Handle``); also a PoolError, PortError and FecError,
    so handlers written for one kind of handle see it too."""


class BusyError(PoolError, PortError, FecError, PacketStateError):
    """A handle cannot be closed, stopped or run again now because something
    uses it (EBUSY): packets are out of a pool, a port is open on it, a burst
    call or native loop uses a port, a pipeline already runs.  Nothing was
    changed; retry once the user is done.  (Two threads entering one
    non-thread-safe object raise :class:`ConcurrentUseError` instead.)"""


class ResourceLimitError(PydpdkError):
    """A size (ring, pool, burst, memory) is beyond a limit; the message names
    the limit.  Nothing was allocated (errno ENOMEM or E2BIG)."""


class EalHelpRequested(EalError):
    """``-h``/``--help`` was among the EAL arguments: DPDK would print its usage
    and end the process.  Nothing was initialised; ``usage`` holds DPDK's
    usage text (what a DPDK application prints for ``-h``).

    Parameters
    ----------
    usage : str
        DPDK's EAL usage text (``pydpdk.dpdk.eal_usage()``); kept as the
        ``usage`` attribute.  ``errno`` is 0.
    """

    def __init__(self, usage: str) -> None:
        super().__init__(0, "DPDK EAL usage requested (-h/--help among the EAL arguments)")
        self.usage = usage

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return (type(self), (self.usage,))


def error_from_errno(
    errnum: int,
    message: str,
    cls: type[OSError] | None = None,
    detail: str | None = None,
) -> OSError:
    """Build the exception for a (positive or negative) errno.

    The one place where native error codes become exceptions; nothing is
    raised here.

    Parameters
    ----------
    errnum : int
        The error code, positive or negative (native code returns
        ``-errno``, DPDK ``-rte_errno``); 0 becomes EIO.
    message : str
        What was being done, e.g. ``"cannot start port 0"``.
    cls : type of OSError, optional
        Exception class (a :class:`PydpdkError` subclass); None picks the
        built-in ``OSError`` subclass for the errno (``FileNotFoundError``,
        ``PermissionError``, ...).
    detail : str, optional
        The library's own text (``rte_strerror``); default
        ``os.strerror(errnum)``.

    Returns
    -------
    OSError
        An instance of *cls* (or of the built-in subclass) with ``errno``
        set and the text ``"<message>: <detail>"``.
    """
    errnum = abs(int(errnum))
    if detail is None:
        try:
            detail = os.strerror(errnum) if errnum else "unknown error"
        except ValueError:
            detail = "unknown error"
    text = f"{message}: {detail}"
    if cls is None:
        # OSError(errno, text) picks FileNotFoundError, PermissionError, ...
        return OSError(errnum or _errno.EIO, text)
    return cls(errnum or _errno.EIO, text)
