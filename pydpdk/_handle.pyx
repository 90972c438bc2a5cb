# cython: language_level=3
"""One lifecycle for every handle: open -> closed, with a busy count and fork check.

A *handle* is an object that owns a native resource: a pool, a port, a
codec, a pipeline, a capture file.  Every one of them follows the same state
machine and raises the same exception for the same condition:

======================================  ===============================  =====
condition                               exception (pydpdk.errors)        errno
======================================  ===============================  =====
used after ``close()``                  ClosedError                      EBADF
closed/stopped/run while in use         BusyError                        EBUSY
made before ``os.fork()``, used after   ForkedChildError                 EPERM
two threads inside one unsafe object    ConcurrentUseError               EBUSY
======================================  ===============================  =====

``close()`` is idempotent and every handle is a context manager (``with``
closes it).  Extension classes derive from :class:`Handle` (cimport it from
``pydpdk._handle``); pure-Python ones from :class:`HandleMixin`.

Built with ``-Dhandle_debug=true`` (``make asan`` does), every live handle
records where it was created, :func:`live_handles` lists them and the test
suite fails a test module whose handles outlive it unclosed.  Without the option
nothing is recorded (one constant-false branch per creation).
"""

import errno
import traceback
import weakref

from pydpdk.errors import BusyError, ClosedError, ForkedChildError, error_from_errno


cdef extern from *:
    """
    #ifndef PD_HANDLE_DEBUG
    #define PD_HANDLE_DEBUG 0
    #endif
    """
    const int PD_HANDLE_DEBUG


cdef extern from "<pthread.h>" nogil:
    int pthread_atfork(void (*prepare)() noexcept nogil, void (*parent)() noexcept nogil,
                       void (*child)() noexcept nogil)


DEBUG = bool(PD_HANDLE_DEBUG)

# ---- fork ------------------------------------------------------------------
# Bumped in the child of every fork() (os.fork, multiprocessing "fork"): an
# object whose recorded epoch differs was made by an ancestor process, whose
# pools (DPDK memory is shared with it) the child must not touch.

cdef volatile unsigned long _fork_epoch = 0


cdef void _after_fork_in_child() noexcept nogil:
    global _fork_epoch
    _fork_epoch += 1


pthread_atfork(NULL, NULL, _after_fork_in_child)


cdef unsigned long fork_epoch() noexcept nogil:
    return _fork_epoch


cdef int raise_forked(object obj) except -1:
    raise ForkedChildError(errno.EPERM, f"{type(obj).__name__} was created by the parent of "
                                        "this forked process; a child cannot use (or free) "
                                        "its packets, pools or ports: create new ones here")


cdef str _name(object obj):
    # The repr names the object (port spec, pool size...); never fail on it.
    try:
        return repr(obj)
    except Exception:
        return type(obj).__name__


cdef int raise_closed(object obj) except -1:
    raise ClosedError(errno.EBADF, f"{type(obj).__name__} is closed ({_name(obj)})")


cdef int raise_busy(object obj, str why) except -1:
    raise BusyError(errno.EBUSY, f"{_name(obj)} is busy: {why}")


cdef long check_rc(long rc, str what, object cls=None, object detail=None) except -1:
    # The one conversion of a native "0 or -errno" return: errno -> the
    # errors.py class (cls, or the built-in OSError subclass when None).
    if rc >= 0:
        return rc
    raise error_from_errno(rc, what, cls, detail)


# ---- leak tracking (-Dhandle_debug=true) -----------------------------------
# id(handle) -> (class name, creation site, weak reference); entries leave
# in __dealloc__.
cdef dict _live = {}


cdef int _track(object obj) except -1:
    # The Python frames that led to the constructor call, the caller last.
    frames = traceback.extract_stack(limit=12)
    site = [f"{f.filename}:{f.lineno} in {f.name}" for f in frames]
    _live[id(obj)] = (type(obj).__qualname__, tuple(site[-6:]), weakref.ref(obj))
    return 0


def live_handles():
    """Handles alive now, with where each was created.

    Returns
    -------
    list of tuple (str, tuple of str)
        One ``(class name, creation stack)`` per live handle, the stack as
        ``"file:line in function"`` strings, innermost last.  Always empty
        unless pydpdk was built with ``-Dhandle_debug=true`` (``DEBUG``).
    """
    return [(name, site) for name, site, _ in list(_live.values())]


def live_counts():
    """Number of live handles per class name (dict of str to int); empty
    unless built with ``-Dhandle_debug=true``."""
    counts = {}
    for name, _, _ in list(_live.values()):
        counts[name] = counts.get(name, 0) + 1
    return counts


def live_ids(include_closed=False):
    """The ids of the live handles, to diff before/after a test.

    Parameters
    ----------
    include_closed : bool, default False
        Also those already closed (alive only because something still
        references them: they hold no native resource).

    Returns
    -------
    set of int
        ``id()`` of each handle; empty unless built with
        ``-Dhandle_debug=true``.
    """
    out = set()
    for i, (_, _, ref) in list(_live.items()):
        obj = ref()
        if obj is not None and (include_closed or not _is_closed(obj)):
            out.add(i)
    return out


cdef bint _is_closed(object obj):
    if isinstance(obj, Handle):
        return (<Handle>obj).closed
    return False


def describe(ids):
    """One line per handle id in *ids* still alive: ``"Class created at
    <stack>"`` (list of str)."""
    out = []
    for i in ids:
        rec = _live.get(i)
        if rec is not None:
            out.append(f"{rec[0]} created at " + " <- ".join(reversed(rec[1])))
    return out


# ---- the base class --------------------------------------------------------

cdef class Handle:
    """Base of every extension handle: one open/closed state, a busy count,
    the fork check and the context manager.

    Subclasses override ``close()`` to release their resource (keeping it
    idempotent and ending with ``closed`` true) and call the ``check_*``
    methods (C level) before using it.

    Attributes
    ----------
    closed : bool
        Whether ``close()`` was called; a closed handle stays closed.
    """

    def __cinit__(self):
        self.closed = False
        self.busy = 0
        self.epoch = _fork_epoch
        if PD_HANDLE_DEBUG:
            _track(self)

    def __dealloc__(self):
        if PD_HANDLE_DEBUG and _live is not None:
            _live.pop(id(self), None)

    cdef bint forked(self) noexcept:
        return self.epoch != _fork_epoch

    cdef int check_forked(self) except -1:
        if self.epoch != _fork_epoch:
            raise_forked(self)
        return 0

    cdef int check_open(self) except -1:
        if self.epoch != _fork_epoch:
            raise_forked(self)
        if self.closed:
            raise_closed(self)
        return 0

    cdef int check_not_busy(self) except -1:
        if self.busy:
            raise_busy(self, "in use by another thread (a burst call, a native loop or a "
                             "run); stop that first")
        return 0

    def close(self):
        """Release the resource.  Idempotent: closing a closed handle does
        nothing.

        Raises
        ------
        BusyError
            Something uses the handle right now (EBUSY); it stays open.
        """
        if self.closed:
            return
        if not self.forked():
            self.check_not_busy()
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False


class HandleMixin:
    """The :class:`Handle` contract for pure-Python handles (gateway
    objects, the EAL): ``closed``, ``check_open()``, idempotent ``close()``
    calling ``_close()`` once, and the context manager.

    Raises
    ------
    ClosedError
        From ``check_open()`` once closed (EBADF).
    """

    _closed = False

    @property
    def closed(self):
        """Whether ``close()`` was called (bool)."""
        return self._closed

    def check_open(self):
        """Raise ClosedError (EBADF) if ``close()`` was called."""
        if self._closed:
            raise ClosedError(errno.EBADF, f"{type(self).__name__} is closed ({self!r})")

    def _close(self):
        """Release the resource; called once by ``close()``."""

    def close(self):
        """Release the resource (``_close()``) once.  Idempotent."""
        if self._closed:
            return
        try:
            self._close()
        finally:
            self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False
