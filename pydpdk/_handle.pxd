# The lifecycle base of every handle (docs/architecture.md, "Lifecycle"), and
# the one conversion of a native -errno return into an exception.
#
# Every extension that owns a native resource subclasses Handle (cimport it)
# and uses its checks instead of writing its own; every rc from native/ goes
# through check_rc().


# Bumped in the child of every fork(): an object that recorded another value
# at creation was made by an ancestor process (ForkedChildError).
cdef unsigned long fork_epoch() noexcept nogil
cdef int raise_forked(object obj) except -1
# The one exception per condition: ClosedError (EBADF), BusyError (EBUSY).
cdef int raise_closed(object obj) except -1
cdef int raise_busy(object obj, str why) except -1
# rc >= 0 is returned as is; rc < 0 raises
# errors.error_from_errno(rc, what, cls, detail).  On a hot path test rc < 0
# first, so that a formatted message is only built on failure.
cdef long check_rc(long rc, str what, object cls=*, object detail=*) except -1


cdef class Handle:
    # Set by close() (and by subclasses that release their resource); a
    # closed handle stays closed.  Readable from Python as `closed`.
    cdef readonly bint closed
    # Users of the native resource right now (burst calls, native loops,
    # a running pipeline): close/stop are refused while non-zero.
    cdef int busy
    # fork_epoch() at creation.
    cdef unsigned long epoch
    # Every handle can be weakly referenced (the EAL's registry, leak tracking).
    cdef object __weakref__

    cdef bint forked(self) noexcept
    cdef int check_forked(self) except -1
    cdef int check_open(self) except -1
    cdef int check_not_busy(self) except -1
