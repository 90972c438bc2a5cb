# cython: language_level=3
# The pipeline's element bases (native/pipeline/stage.h), shared with the
# extensions that add elements: _traffic (Generator, Verifier, Impairment:
# native/pipeline) and _gateway (the FEC stages: native/gateway) subclass
# Source, Stage and Sink, so Pipeline (here) chains them all.
from cpython.ref cimport PyObject

from pydpdk._burst cimport PacketPool
from pydpdk._includes.stage cimport pd_counters, pd_sink, pd_source, pd_stage


cdef class Element:
    cdef str _name            # read as .name
    cdef PacketPool pool
    cdef bint attached
    cdef PyObject *held      # the held pool (see pydpdk._burst.take_hold)
    cdef int use_pool(self, PacketPool pool) except -1


cdef class Source(Element):
    cdef pd_source src


cdef class Stage(Element):
    cdef pd_stage st


cdef class Sink(Element):
    cdef pd_sink snk


# The counters every element has, as the dict its .counters property returns.
cdef dict counters_dict(pd_counters *c)
# Raise the exception of a negative errno (PydpdkError for ENOMEM).
cdef int raise_errno(int rc, str what) except -1
