# cython: language_level=3
"""The registry of native counters that DPDK telemetry reads (private).

Pipelines and FEC codecs register a pointer to their native state here when
they are created and remove it before they free it.  DPDK's telemetry thread
(native/dpdk/pd_telemetry.c, enabled by ``Eal(telemetry=True)``) answers
``/pydpdk/...`` requests from snapshots taken under the registry's mutex,
without the GIL.  :func:`snapshot` gives the same data in-process.  The
endpoints and their keys are described in docs/telemetry.md.
"""

import os

cimport cython
from libc.stdint cimport uint32_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy, memset, strncpy

from pydpdk._handle cimport check_rc
from pydpdk._includes.pipeline cimport pd_chain
from pydpdk._includes.stats_fill cimport (
    PD_STATS_VIEW_CHAINS,
    PD_STATS_VIEW_ELEMENTS,
    pd_stats_chain_view,
    pd_stats_fill_fec_dec_stage,
    pd_stats_fill_fec_decoder,
    pd_stats_fill_fec_enc_stage,
    pd_stats_fill_fec_encoder,
    pd_stats_fill_pipeline,
    pd_stats_pipeline,
)
from pydpdk._includes.stats cimport (
    PD_STATS_FEC_DECODER,
    PD_STATS_FEC_ENCODER,
    PD_STATS_KINDS,
    PD_STATS_NAME_LEN,
    PD_STATS_PIPELINE,
    pd_stats_add,
    pd_stats_fill_fn,
    pd_stats_kind_name,
    pd_stats_list,
    pd_stats_locked,
    pd_stats_registry,
    pd_stats_registry_after_fork,
    pd_stats_registry_init,
    pd_stats_remove,
    pd_stats_snap,
    pd_stats_snapshot,
)

from pydpdk.errors import PydpdkError

cdef pd_stats_registry _registry
if pd_stats_registry_init(&_registry) != 0:
    raise PydpdkError("cannot initialise the telemetry registry")


def _after_fork_in_child():
    pd_stats_registry_after_fork(&_registry)


os.register_at_fork(after_in_child=_after_fork_in_child)
KINDS = {pd_stats_kind_name(k).decode(): k for k in range(PD_STATS_KINDS)}


cdef void *registry() noexcept nogil:
    return <void *>&_registry


cdef struct ChainAppend:
    pd_stats_pipeline *view
    pd_stats_chain_view *chain


cdef void _append_chain(void *arg) noexcept nogil:
    cdef ChainAppend *a = <ChainAppend *>arg
    if a.view.n_chains < PD_STATS_VIEW_CHAINS:
        memcpy(&a.view.chains[a.view.n_chains], a.chain, sizeof(pd_stats_chain_view))
        a.view.n_chains += 1
    a.view.chains_total += 1


@cython.no_gc_clear   # keep: the elements must outlive the unregistration
cdef class Registration:
    """One registered counter set: ``kind`` and ``id`` name its endpoint
    (``/pydpdk/pipeline,<id>``, ``/pydpdk/fec/encoder,<id>``, ...).

    The owner calls :meth:`close` before it frees the native state; a
    registration that is collected closes itself.
    """

    @property
    def kind(self):
        """``"pipeline"``, ``"fec_encoder"`` or ``"fec_decoder"``."""
        return pd_stats_kind_name(self.kind).decode()

    @property
    def active(self):
        """Whether telemetry can still see it (False after :meth:`close`)."""
        return bool(self.active)

    cpdef close(self):
        """Unregister; afterwards no telemetry request reads the native state."""
        if self.active:
            pd_stats_remove(&_registry, self.kind, self.id)
            self.active = False
        free(self.view)
        self.view = NULL
        self.keep = None

    def snapshot(self):
        """The counters as the telemetry endpoint shows them (dict)."""
        return snapshot(self.kind, self.id)

    cdef int add_chain(self, const void *chain, list names, list refs,
                       list elements) except -1:
        """Show one more chain of a pipeline: *names* of source, stages and
        sink; *refs* the Registration (or None) of each stage; *elements*
        the objects whose native structs the chain points to, kept alive
        until after this registration is removed (a garbage collector
        breaking a cycle may free a pipeline's elements before the pipeline)."""
        cdef pd_stats_chain_view cv
        cdef ChainAppend arg
        cdef Registration ref
        cdef Py_ssize_t i, last = len(names) - 1
        if self.view == NULL or not self.active:
            return 0
        memset(&cv, 0, sizeof(cv))
        cv.chain = <const pd_chain *>chain
        for i, name in enumerate(names):
            # source, stages in order, sink in the last slot
            slot = i if i < last else PD_STATS_VIEW_ELEMENTS - 1
            raw = str(name).encode("ascii", "replace")[:PD_STATS_NAME_LEN - 1]
            strncpy(cv.names[slot], raw, PD_STATS_NAME_LEN - 1)
        for i in range(len(refs)):
            cv.ref_kind[i] = -1
            if i < PD_STATS_VIEW_ELEMENTS - 2 and isinstance(refs[i], Registration):
                ref = refs[i]
                if ref.active:
                    cv.ref_kind[i] = ref.kind
                    cv.ref_id[i] = ref.id
        if self.keep is None:
            self.keep = []
        self.keep.append(elements)
        arg.view = <pd_stats_pipeline *>self.view
        arg.chain = &cv
        pd_stats_locked(&_registry, _append_chain, &arg)
        return 0

    def __dealloc__(self):
        # Runs before `keep` is released: unregistered first, then the
        # elements may go.
        if self.active:
            pd_stats_remove(&_registry, self.kind, self.id)
        free(self.view)

    def __repr__(self):
        state = "" if self.active else " closed"
        return f"<Registration {self.kind} {self.id}{state}>"


cdef Registration _register(int kind, const void *obj, pd_stats_fill_fn fill, str name,
                            void *view):
    cdef Registration reg = Registration.__new__(Registration)
    cdef uint32_t ident = 0
    cdef int rc
    reg.view = view            # owned from here on, also on failure
    rc = pd_stats_add(&_registry, kind, name.encode("ascii", "replace"), obj, fill, &ident)
    check_rc(rc, "cannot register counters for telemetry", PydpdkError)
    reg.kind = kind
    reg.id = ident
    reg.active = True
    return reg


cdef Registration register_pipeline(str name, const int *running):
    cdef pd_stats_pipeline *view = <pd_stats_pipeline *>calloc(1, sizeof(pd_stats_pipeline))
    if view == NULL:
        raise MemoryError()
    view.running = running
    return _register(PD_STATS_PIPELINE, view, pd_stats_fill_pipeline, name, view)


cdef Registration register_fec_encoder(const void *enc, str name):
    return _register(PD_STATS_FEC_ENCODER, enc, pd_stats_fill_fec_encoder, name, NULL)


cdef Registration register_fec_decoder(const void *dec, str name):
    return _register(PD_STATS_FEC_DECODER, dec, pd_stats_fill_fec_decoder, name, NULL)


cdef Registration register_fec_enc_stage(const void *stage, str name):
    return _register(PD_STATS_FEC_ENCODER, stage, pd_stats_fill_fec_enc_stage, name, NULL)


cdef Registration register_fec_dec_stage(const void *stage, str name):
    return _register(PD_STATS_FEC_DECODER, stage, pd_stats_fill_fec_dec_stage, name, NULL)


cdef int _kind(kind) except -1:
    if isinstance(kind, int) and 0 <= kind < PD_STATS_KINDS:
        return kind
    if kind not in KINDS:
        raise ValueError(f"unknown counter kind {kind!r}: one of {sorted(KINDS)}")
    return KINDS[kind]


def ids(kind):
    """Ids registered under *kind* (``"pipeline"``, ``"fec_encoder"``,
    ``"fec_decoder"``), oldest first.  ValueError for another kind."""
    cdef int k = _kind(kind)
    cdef unsigned n = pd_stats_list(&_registry, k, NULL, 0)
    cdef uint32_t *buf = <uint32_t *>calloc(n + 1, sizeof(uint32_t))
    if buf == NULL:
        raise MemoryError()
    try:
        n = min(n, pd_stats_list(&_registry, k, buf, n + 1))
        return [buf[i] for i in range(n)]
    finally:
        free(buf)


def snapshot(kind, unsigned int ident):
    """The counters of (*kind*, *ident*) as the telemetry endpoint shows them:
    a dict of str -> int | str (``"truncated"`` present when pairs did not
    fit).  KeyError when nothing is registered under that id."""
    cdef int k = _kind(kind)
    cdef pd_stats_snap *snap = <pd_stats_snap *>calloc(1, sizeof(pd_stats_snap))
    cdef int rc
    cdef unsigned i
    if snap == NULL:
        raise MemoryError()
    try:
        with nogil:
            rc = pd_stats_snapshot(&_registry, k, ident, snap)
        if rc < 0:
            raise KeyError(f"no {pd_stats_kind_name(k).decode()} {ident} is registered")
        out = {}
        for i in range(snap.n):
            key = snap.kv[i].key.decode()
            out[key] = snap.kv[i].str.decode() if snap.kv[i].is_str else snap.kv[i].u64
        if snap.truncated:
            out["truncated"] = snap.truncated
        return out
    finally:
        free(snap)
