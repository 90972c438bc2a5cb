# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Native pipeline elements and the GIL-free run loop (private; see pydpdk.pipeline).

This module wraps native/pipeline's loop (pipeline.h, stage.h): the element
bases (declared in _pipeline.pxd, so other extensions add elements), ports as
sources and sinks, Python and external stages, and Pipeline.  The traffic
elements (Generator, Verifier, Impairment) are in pydpdk._traffic, the FEC
stages (native/gateway) in pydpdk._gateway.  A Pipeline links them into
chains (source -> stages -> sink) and runs the C loop with the GIL released;
only Python stages take the GIL, once per burst.
"""

import errno
import threading

import numpy as np

from cpython.exc cimport PyErr_CheckSignals
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_New, PyCapsule_SetContext
from libc.stdint cimport uint16_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy
from posix.unistd cimport usleep

from pydpdk._burst cimport (
    Burst,
    PacketPool,
    PortBase,
    release_held,
    take_hold,
)
from pydpdk._handle cimport Handle, check_rc, raise_busy
from pydpdk._includes.clock cimport pd_clock_ns
from pydpdk._includes.pipeline cimport (
    PD_CHAIN_MAX_STAGES,
    PD_STOP_CHECK,
    PD_STOP_DURATION,
    PD_STOP_FAULT,
    PD_STOP_FLAG,
    PD_STOP_PACKETS,
    PD_STOP_SOURCES_DONE,
    pd_chain,
    pd_chain_add_stage,
    pd_chain_init,
    pd_pipeline_run,
    pd_run_job,
    pd_run_job_done,
    pd_run_job_main,
    pd_run_opts,
    pd_run_opts_default,
    pd_run_result,
)
from pydpdk._includes.pkt cimport PD_BURST_MAX, pd_pkt, pd_pkt_ops_same
from pydpdk._includes.stage cimport (
    pd_counters,
    pd_port_endpoint,
    pd_sink_discard,
    pd_sink_from_port,
    pd_source_from_port,
    pd_stage,
)

# telemetry: counters registered for DPDK's /pydpdk endpoints (docs/telemetry.md)
from pydpdk._telemetry cimport Registration, register_pipeline

from pydpdk.errors import PortError, PydpdkError, error_from_errno

STOP_REASONS = {
    PD_STOP_PACKETS: "packets",
    PD_STOP_DURATION: "duration",
    PD_STOP_SOURCES_DONE: "sources-done",
    PD_STOP_CHECK: "interrupted",
    PD_STOP_FLAG: "stopped",
    PD_STOP_FAULT: "port-fault",
}


cdef dict counters_dict(pd_counters *c):
    return {
        "packets_in": c.pkts_in, "bytes_in": c.bytes_in,
        "packets_out": c.pkts_out, "bytes_out": c.bytes_out,
        "drops": c.drops, "bursts": c.calls, "time_ns": c.ns,
    }


cdef dict health_dict(int health, uint64_t changes):
    # The port's state as the run loop last saw it (see pd_port_io.status):
    # link_up 1/0, link_errno ENETDOWN while down or the errno it failed
    # with (0 when up), link_changes counts transitions.
    return {"link_up": int(health == 0), "link_errno": -health,
            "link_changes": changes}


cdef int raise_errno(int rc, str what) except -1:
    check_rc(-abs(rc) or -errno.EIO, what,
             PydpdkError if rc == -errno.ENOMEM else None)
    return -1


cdef class Element:
    """Base of sources, stages and sinks: a name, a pool and a place in one chain.

    An element holds its pool from creation until it is garbage-collected:
    the pool's close() is refused (PoolError, EBUSY) while it lives, since
    its native state points into the pool.  Not thread-safe: an element runs
    in one pipeline's loop.
    """

    @property
    def name(self):
        """The element's name (str): its key in ``Pipeline.counters()``."""
        return self._name

    cdef int use_pool(self, PacketPool pool) except -1:
        take_hold(&self.held, pool)
        self.pool = pool
        return 0

    def __dealloc__(self):
        # After the subclass's __dealloc__ freed the native state.
        release_held(&self.held)

    def _attach(self):
        if self.attached:
            raise ValueError(f"{self!r} is already part of a pipeline; create another one")
        self.attached = True

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}>"


cdef class Source(Element):
    """Base of the elements that start a chain (PortSource, Generator).

    Not created directly; ``isinstance(x, Source)`` tells a source.
    """

    @property
    def counters(self):
        """The source's counters (dict of str to int), safe to read while it runs.

        ``packets_in``, ``bytes_in`` (what entered the element),
        ``packets_out``, ``bytes_out`` (what left it), ``drops`` (packets it
        freed), ``bursts`` (non-empty bursts processed) and ``time_ns`` (time
        spent inside, ns).
        """
        return counters_dict(&self.src.c)


cdef class Stage(Element):
    """Base of the elements between source and sink (FEC, impairment, Python).

    Not created directly; ``isinstance(x, Stage)`` tells a stage.
    """

    @property
    def counters(self):
        """The stage's counters (dict of str to int), safe to read while it runs.

        ``packets_in``, ``bytes_in`` (what entered the element),
        ``packets_out``, ``bytes_out`` (what left it), ``drops`` (packets it
        freed), ``bursts`` (non-empty bursts processed) and ``time_ns`` (time
        spent inside, ns).
        """
        return counters_dict(&self.st.c)


cdef class Sink(Element):
    """Base of the elements that end a chain (PortSink, Verifier, Discard).

    Not created directly; ``isinstance(x, Sink)`` tells a sink.
    """

    @property
    def counters(self):
        """The sink's counters (dict of str to int), safe to read while it runs.

        ``packets_in``, ``bytes_in`` (what entered the element),
        ``packets_out``, ``bytes_out`` (what left it), ``drops`` (packets it
        freed), ``bursts`` (non-empty bursts processed) and ``time_ns`` (time
        spent inside, ns).
        """
        return counters_dict(&self.snk.c)


# --------------------------------------------------------------------------
# Ports as sources and sinks
# --------------------------------------------------------------------------

cdef class PortSource(Source):
    """Receive from one rx queue of a port (``port.rx_burst`` in native code).

    The port must be started when the pipeline runs; the run claims the
    queue (Python burst calls on it raise ConcurrentUseError meanwhile).  A
    port that can end (a PcapPort) ends the source at its end of file.

    Parameters
    ----------
    port : PortBase
        Any backend's port.
    queue : int, default 0
        Rx queue id, ``0 <= queue < port.rx_queues``.

    Raises
    ------
    ValueError
        No such queue.
    PoolError
        The port's pool is closed.
    """

    cdef pd_port_endpoint ep
    cdef readonly PortBase port
    """The port received from."""

    def __init__(self, PortBase port not None, int queue=0):
        if not 0 <= queue < port.n_rx_queues:
            raise ValueError(f"rx queue {queue} does not exist: {port!r} has "
                             f"{port.n_rx_queues} rx queue(s)")
        self.port = port
        self.use_pool(port.rx_pool)
        self._name = f"rx:{port!r}:{queue}"
        self.ep.queue = <uint16_t>queue
        pd_source_from_port(&self.src, &self.ep)
        # A port that can end (a capture file) says so through a C function
        # of its pd_port_io, the endpoint's first member: the run then ends.
        done_fn = getattr(port, "_rx_done_fn", None)
        if done_fn is not None:
            self.src.done = <int (*)(void *) noexcept nogil><size_t>done_fn

    cdef int refresh(self) except -1:
        # The port's I/O functions are valid only while it is started.
        (<PortBase>self.port).check_usable()
        self.ep.io = self.port.io
        return 0

    @property
    def counters(self):
        """The source's counters (dict of str to int), safe to read while it runs.

        ``packets_in``, ``bytes_in`` (what entered the element),
        ``packets_out``, ``bytes_out`` (what left it), ``drops`` (packets it
        freed), ``bursts`` (non-empty bursts processed) and ``time_ns`` (time
        spent inside, ns), and the port's health as the loop last saw it
        (every 100 ms): ``link_up`` (1 or 0), ``link_errno`` (ENETDOWN
        while down, the errno of a failure, 0 when up) and ``link_changes``.
        """
        d = counters_dict(&self.src.c)
        d.update(health_dict(self.src.health, self.src.health_changes))
        return d


cdef class PortSink(Sink):
    """Send to one tx queue of a port; a full ring is retried, then dropped and counted.

    The port must be started when the pipeline runs; the run claims the
    queue (Python burst calls on it raise ConcurrentUseError meanwhile).

    Parameters
    ----------
    port : PortBase
        Any backend's port.
    queue : int, default 0
        Tx queue id, ``0 <= queue < port.tx_queues``.
    retries : int, default 4
        Extra tx calls for what a full ring refused, 0..1000; the rest is
        freed and counted in ``drops``.

    Raises
    ------
    ValueError
        No such queue, or *retries* out of range.
    PoolError
        The port's pool is closed.
    """

    cdef pd_port_endpoint ep
    cdef readonly PortBase port
    """The port sent on."""

    def __init__(self, PortBase port not None, int queue=0, int retries=4):
        if not 0 <= queue < port.n_tx_queues:
            raise ValueError(f"tx queue {queue} does not exist: {port!r} has "
                             f"{port.n_tx_queues} tx queue(s)")
        if not 0 <= retries <= 1000:
            raise ValueError(f"retries must be within 0..1000, got {retries}")
        self.port = port
        self.use_pool(port.rx_pool)
        self._name = f"tx:{port!r}:{queue}"
        self.ep.queue = <uint16_t>queue
        self.ep.tx_retries = <uint16_t>retries
        pd_sink_from_port(&self.snk, &self.ep)

    cdef int refresh(self) except -1:
        (<PortBase>self.port).check_usable()
        self.ep.io = self.port.io
        return 0

    @property
    def counters(self):
        """The sink's counters (dict of str to int), safe to read while it runs.

        ``packets_in``, ``bytes_in`` (what entered the element),
        ``packets_out``, ``bytes_out`` (what left it), ``drops`` (packets it
        freed), ``bursts`` (non-empty bursts processed) and ``time_ns`` (time
        spent inside, ns), and the port's health as the loop last saw it
        (every 100 ms): ``link_up`` (1 or 0), ``link_errno`` (ENETDOWN
        while down, the errno of a failure, 0 when up) and ``link_changes``.
        """
        d = counters_dict(&self.snk.c)
        d.update(health_dict(self.snk.health, self.snk.health_changes))
        return d


cdef class Discard(Sink):
    """Free every packet (counting them in ``drops``).

    Parameters
    ----------
    pool : PacketPool
        The chain's pool (its packets are freed).

    Raises
    ------
    PoolError
        *pool* is closed.
    """

    def __init__(self, PacketPool pool not None):
        pool.check_open()
        self.use_pool(pool)
        self._name = "discard"
        pd_sink_discard(&self.snk, pool.ops)


# --------------------------------------------------------------------------
# Python stages
# --------------------------------------------------------------------------

cdef uint16_t py_stage_process(void *ctx, pd_pkt **inp, uint16_t n, pd_pkt **out,
                               uint16_t cap, uint64_t now) noexcept nogil:
    if n == 0:
        return 0
    return py_stage_call(ctx, inp, n, out, cap)


cdef uint16_t py_stage_call(void *ctx, pd_pkt **inp, uint16_t n, pd_pkt **out,
                            uint16_t cap) noexcept with gil:
    cdef PyStage self = <PyStage>ctx
    cdef Burst burst
    cdef unsigned int i, kept = 0
    if self.error is not None:              # a previous call failed: drop until stopped
        self.pool.ops.free_bulk(inp, n)
        return 0
    burst = Burst.wrap(self.pool, inp, n)
    try:
        keep = self.fn(burst)
        if burst.exports:
            raise BufferError("a memoryview of a packet outlived the stage call; release "
                              "views before returning (use 'with memoryview(pkt) as v:')")
        if keep is not None:
            mask = np.asarray(keep, dtype=bool).view(np.uint8)
            if len(mask) != burst.count:
                raise ValueError(f"the stage returned a mask of {len(mask)} entries for a "
                                 f"burst of {burst.count} packets")
            for i in range(burst.count):
                if mask[i]:
                    burst.pkts[kept] = burst.pkts[i]
                    kept += 1
                else:
                    burst.ops.free_bulk(&burst.pkts[i], 1)
                    self.st.c.drops += 1
            burst.count = kept
    except BaseException as exc:
        self.error = exc
        if self.owner is not None:
            self.owner.request_stop()
        if not burst.exports:
            burst.release_all()
        return 0
    kept = min(burst.count, cap)
    memcpy(out, burst.pkts, kept * sizeof(pd_pkt *))
    if kept < burst.count:
        burst.ops.free_bulk(&burst.pkts[kept], burst.count - kept)
        self.st.c.drops += burst.count - kept
    burst.count = 0
    burst.generation += 1        # Packets the callable kept are now stale
    return <uint16_t>kept


cdef class PyStage(Stage):
    """Run a Python callable on every burst: ``fn(burst) -> None | keep_mask``.

    The callable may edit packets (``burst.headers()``, packet views) and may
    return a boolean array saying which packets to keep; the rest are dropped
    (freed and counted).  It runs with the GIL, once per burst, on the
    pipeline's thread.  An exception it raises stops the run (the packets of
    that burst are freed) and is raised by ``run()``/``join()``; a
    memoryview that outlives the call is such an error (BufferError).

    Parameters
    ----------
    fn : callable
        ``fn(burst) -> None | keep_mask``; the mask has ``len(burst)``
        booleans.
    name : str, optional
        Element name (default ``fn.__name__``).

    Raises
    ------
    TypeError
        *fn* is not callable.
    """

    cdef readonly object fn
    """The callable (as given)."""
    cdef public object error
    """The exception the callable raised in the current run, or None."""
    cdef object owner

    def __init__(self, fn, str name=None):
        if not callable(fn):
            raise TypeError(f"a Python stage needs a callable, got {type(fn).__name__}")
        self.fn = fn
        self._name = name or getattr(fn, "__name__", "python")
        self.st.ctx = <void *>self
        self.st.process = py_stage_process
        self.error = None

    def _bind(self, PacketPool pool, owner):
        self.use_pool(pool)
        self.owner = owner


# --------------------------------------------------------------------------
# Native stages of other extension modules
# --------------------------------------------------------------------------

cdef class ExternalStage(Stage):
    """A native stage built by another extension module (e.g. pydpdk._secure).

    *capsule* holds a filled ``pd_stage`` (capsule name ``"pydpdk.pd_stage"``,
    native/pipeline/stage.h) whose context *owner* keeps alive; the stage runs
    GIL-free like the stages of this module.  *pool* is the packet pool whose
    backend the stage works on.

    Parameters
    ----------
    capsule : PyCapsule
        Named ``"pydpdk.pd_stage"``, pointing at a filled ``pd_stage``.
    owner : object
        Keeps the stage's native context alive.
    pool : PacketPool
        The chain's pool.
    name : str, optional
        Element name (default: the ``pd_stage``'s, else "external").

    Raises
    ------
    ValueError
        The capsule has another name or holds no process function.
    """

    cdef readonly object owner
    """The object that keeps the native context alive."""

    def __init__(self, capsule, owner, PacketPool pool not None, str name=None):
        cdef pd_stage *src = <pd_stage *>PyCapsule_GetPointer(capsule, b"pydpdk.pd_stage")
        if src.process == NULL:
            raise ValueError("the capsule holds no stage function")
        self.st.ctx = src.ctx
        self.st.process = src.process
        self.st.flush = src.flush
        self.st.finish = src.finish
        self.owner = owner
        self.pool = pool
        self._name = name or (src.name.decode() if src.name != NULL else "external")


# --------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------

cdef int check_signals(void *arg) noexcept with gil:
    cdef Pipeline self = <Pipeline>arg
    try:
        PyErr_CheckSignals()
    except BaseException as exc:
        self.interrupt = exc
        return 1
    return 0


cdef class Pipeline(Handle):
    """Chains of source -> stages -> sink, run by one GIL-free loop.

    Not thread-safe: control it (add, run, stop) from one thread;
    request_stop() may be called from any.  While it runs it claims the port
    queues it polls (burst calls on them from Python raise
    ConcurrentUseError) and its elements hold their pools.  A pipeline
    inherited by a forked child cannot run there (ForkedChildError).  The
    lifecycle is pydpdk._handle.Handle's: a second run while one is active
    raises BusyError (EBUSY), a run after ``close()`` ClosedError (EBADF).
    """

    cdef list chains          # [(source, [stages], sink)]
    cdef pd_chain **c_chains
    cdef unsigned int n_chains
    cdef volatile int stop_flag
    cdef object interrupt
    cdef readonly bint running
    """Whether the loop runs now (bool), in ``run()`` or in the background."""
    cdef pd_run_job job
    cdef readonly Registration telemetry   # /pydpdk/pipeline,<telemetry.id>
    """The telemetry registration (``/pydpdk/pipeline,<telemetry.id>``)."""
    cdef list used_pools      # pools counted as used (PacketPool.users) by the run

    def __cinit__(self):
        self.chains = []
        self.c_chains = NULL
        self.n_chains = 0
        self.telemetry = register_pipeline("pipeline", <const int *>&self.running)

    def __dealloc__(self):
        cdef unsigned int i
        if self.forked():
            return      # forked child: the job's thread is the parent's, leave all
        if self.telemetry is not None:
            self.telemetry.close()     # before the chains go
        # A job still running on another thread uses the chains: stop it first.
        if self.running and self.job.chains != NULL and not pd_run_job_done(&self.job):
            self.stop_flag = 1
            while not pd_run_job_done(&self.job):
                with nogil:
                    usleep(1000)
        if self.c_chains != NULL:
            for i in range(self.n_chains):
                free(self.c_chains[i])
            free(self.c_chains)

    def add_chain(self, Source source not None, stages, Sink sink not None, int burst=32):
        """Add source -> stages -> sink; every element belongs to one chain only.

        Parameters
        ----------
        source : Source
            Where the chain's packets come from.
        stages : iterable of Stage
            Applied in order, at most ``PD_CHAIN_MAX_STAGES``.
        sink : Sink
            Where they end.
        burst : int, default 32
            Packets pulled from the source per round, 1..256.

        Raises
        ------
        ValueError
            *burst* out of range, too many stages, an element already in a
            chain, or elements working on packets of different backends.
        TypeError
            A stage is not a Stage.
        BusyError
            The pipeline is running (EBUSY).
        ClosedError
            The pipeline is closed (EBADF).
        """
        cdef pd_chain *c
        cdef pd_chain **grown
        cdef Stage st
        stages = list(stages)
        self.check_open()
        if self.running:
            raise_busy(self, "cannot add a chain while the pipeline runs")
        if not 1 <= burst <= PD_BURST_MAX:
            raise ValueError(f"burst must be within 1..{PD_BURST_MAX}, got {burst}")
        if len(stages) > PD_CHAIN_MAX_STAGES:
            raise ValueError(f"at most {PD_CHAIN_MAX_STAGES} stages per chain")
        for st in stages:
            if not isinstance(st, Stage):
                raise TypeError(f"not a stage: {st!r} (wrap callables in PyStage)")
        pool = source.pool
        for element in [sink] + stages:
            other = (<Element>element).pool
            if other is not None and not pd_pkt_ops_same(
                    (<PacketPool>other).ops, (<PacketPool>pool).ops):
                raise ValueError(f"{element!r} works on {other!r} packets but the source "
                                 f"produces {pool!r} packets: use one backend per chain")
        for element in [source, sink] + stages:
            element._attach()
        c = <pd_chain *>calloc(1, sizeof(pd_chain))
        grown = <pd_chain **>calloc(self.n_chains + 1, sizeof(pd_chain *))
        if c == NULL or grown == NULL:
            free(c)
            free(grown)
            raise MemoryError()
        if self.c_chains != NULL:
            memcpy(grown, self.c_chains, self.n_chains * sizeof(pd_chain *))
            free(self.c_chains)
        self.c_chains = grown
        pd_chain_init(c, &source.src, &sink.snk, (<PacketPool>pool).ops, <uint16_t>burst)
        c.drain = isinstance(source, PortSource)
        for st in stages:
            if isinstance(st, PyStage):
                (<PyStage>st)._bind(pool, self)
            pd_chain_add_stage(c, &st.st)
        self.c_chains[self.n_chains] = c
        self.n_chains += 1
        self.chains.append((source, stages, sink))
        self.telemetry.add_chain(c, [source.name] + [st.name for st in stages] + [sink.name],
                                 [getattr(st, "telemetry", None) for st in stages],
                                 [source, sink] + stages)

    @property
    def elements(self):
        """The chains as ``[(source, [stages], sink), ...]`` (list, a copy)."""
        return [(src, list(stages), snk) for src, stages, snk in self.chains]

    def request_stop(self):
        """Ask a running pipeline to stop (from a Python stage or another thread)."""
        self.stop_flag = 1

    def close(self):
        """Unregister the pipeline's telemetry; it cannot run any more.
        Idempotent (the Handle contract); its elements stay usable.

        Raises
        ------
        BusyError
            The pipeline runs (EBUSY): stop it first.
        """
        if self.closed:
            return
        if self.running and not self.forked():
            raise_busy(self, "the pipeline runs; stop it first")
        if self.telemetry is not None and not self.forked():
            self.telemetry.close()
        self.closed = True

    cdef int prepare(self, pd_run_opts *o, duration, packets, int idle_sleep_us,
                     int idle_rounds, bint busy_poll, double drain, bint on_main) except -1:
        """Validate, fill the run options and make the chains ready to run."""
        self.check_open()
        if self.n_chains == 0:
            raise ValueError("the pipeline has no chain: call add_chain() first")
        if self.running:
            raise_busy(self, "the pipeline is already running")
        pd_run_opts_default(o)
        if duration is not None:
            if duration <= 0:
                raise ValueError(f"duration must be > 0 seconds, got {duration}")
            o.duration_ns = <uint64_t>(duration * 1e9)
        if packets is not None:
            if packets <= 0:
                raise ValueError(f"packets must be > 0, got {packets}")
            o.max_packets = packets
        if idle_sleep_us < 0 or idle_rounds < 0:
            raise ValueError("idle_sleep_us and idle_rounds must be >= 0")
        o.idle_sleep_us = 0 if busy_poll else idle_sleep_us
        o.idle_rounds = idle_rounds
        o.drain_ns = <uint64_t>(max(drain, 0.0) * 1e9)
        o.stop_flag = &self.stop_flag
        if on_main:                    # signals are delivered to the main thread only
            o.check = check_signals
            o.check_arg = <void *>self
        for src, stages, snk in self.chains:
            if isinstance(src, PortSource):
                (<PortSource>src).refresh()
            if isinstance(snk, PortSink):
                (<PortSink>snk).refresh()
            for st in stages:
                if isinstance(st, PyStage):
                    (<PyStage>st).error = None
        self.stop_flag = 0
        self.interrupt = None
        self.hold_ports(True)
        return 0

    cdef int hold_ports(self, bint hold) except -1:
        """Mark the ports this pipeline polls busy for the run, and claim their
        queues: another thread then cannot stop or close them, nor call bursts
        on those queues, under the native loop (ConcurrentUseError / EBUSY)."""
        cdef PortBase port
        cdef PacketPool pool
        cdef list uses = []
        cdef list claimed = []
        if not hold:
            for pool in self.used_pools or ():
                pool.users -= 1
            self.used_pools = None
        else:
            # A pool closed since the elements were made (the close was
            # deferred for them) cannot be run on; running pools cannot close.
            pools = []
            for src, stages, snk in self.chains:
                for element in [src, *stages, snk]:
                    pool = (<Element>element).pool
                    if pool is not None and not any(p is pool for p in pools):
                        pool.check_open()
                        pools.append(pool)
            for pool in pools:
                pool.users += 1
            self.used_pools = pools
        # All chains run in one thread: a queue used by several counts once.
        for src, _stages, snk in self.chains:
            for element in (src, snk):
                if isinstance(element, (PortSource, PortSink)):
                    tx = isinstance(element, PortSink)
                    use = (element.port, tx, (<PortSink>element).ep.queue if tx
                           else (<PortSource>element).ep.queue)
                    if not any(u[0] is use[0] and u[1:] == use[1:] for u in uses):
                        uses.append(use)
        for use in uses:
            port = use[0]
            if not hold:
                port.unclaim_queue(use[1], use[2])
                port.busy -= 1
                continue
            # Busy first: claim_queue may wait without the GIL, and the port
            # must not be stopped or closed meanwhile.
            port.busy += 1
            try:
                port.claim_queue(use[1], use[2])
            except BaseException:
                port.busy -= 1
                for p, t, q in claimed:
                    (<PortBase>p).unclaim_queue(t, q)
                    (<PortBase>p).busy -= 1
                for pool in self.used_pools:
                    pool.users -= 1
                self.used_pools = None
                raise
            claimed.append(use)
        return 0

    cdef dict outcome(self, int rc, pd_run_result *res):
        """The run's result, or the exception that ended it."""
        if rc != 0:
            raise_errno(rc, "pipeline run failed")
        result = {
            "packets": res.packets,
            "elapsed_s": res.elapsed_ns / 1e9,
            "rounds": res.rounds,
            "idle_rounds": res.idle_rounds,
            "sleeps": res.sleeps,
            "waits": res.waits,
            "wakeups": res.wakeups,
            "stopped_by": STOP_REASONS.get(res.reason, "unknown"),
        }
        for _src, stages, _snk in self.chains:
            for st in stages:
                if isinstance(st, PyStage) and (<PyStage>st).error is not None:
                    raise (<PyStage>st).error
        if res.reason == PD_STOP_FAULT:
            raise self.fault_error(res, result)
        if self.interrupt is not None:
            raise self.interrupt
        return result

    cdef object fault_error(self, pd_run_result *res, dict result):
        """PortError for the source or sink whose port failed; the run's
        result (counters are still readable on the elements) is its .result."""
        src, _stages, snk = self.chains[res.fault_chain]
        element = snk if res.fault_in_sink else src
        port = element.port
        where = getattr(port, "ifname", None)
        name = f"interface {where!r}" if where else repr(port)
        if res.fault == -errno.ENODEV:
            text = (f"{name} is gone (device removed or interface deleted); the pipeline "
                    f"stopped")
        else:
            text = f"{name} failed; the pipeline stopped"
        exc = error_from_errno(res.fault, text, PortError)
        exc.result = result
        exc.port = port
        return exc

    def run(self, duration=None, packets=None, *, int idle_sleep_us=50, int idle_rounds=256,
            bint busy_poll=False, double drain=0.2):
        """Run until *duration* seconds, *packets* pulled, every finite source
        ended, Ctrl-C, or request_stop(); then drain and flush.

        Blocks the calling thread with the GIL released (Python stages take
        it per burst); on the main thread Ctrl-C is checked every 5 ms.

        Parameters
        ----------
        duration : float, optional
            Seconds to run.
        packets : int, optional
            Packets to pull from the sources (all chains), then stop.
        idle_sleep_us : int, default 50
            Microseconds to sleep when idle (after *idle_rounds*).
        idle_rounds : int, default 256
            Empty rounds before the loop sleeps.
        busy_poll : bool, default False
            Never sleep (one CPU at 100%).
        drain : float, default 0.2
            Seconds at most to keep moving packets in flight after the stop.

        Returns
        -------
        dict
            ``packets`` (pulled), ``elapsed_s`` (float, s), ``rounds``,
            ``idle_rounds``, ``sleeps`` and ``stopped_by`` (``"packets"``,
            ``"duration"``, ``"sources-done"``, ``"interrupted"``,
            ``"stopped"`` or ``"port-fault"``).

        Raises
        ------
        ValueError
            No chain, or a limit or idle parameter out of range.
        BusyError
            The pipeline already runs (EBUSY).
        ClosedError
            The pipeline is closed (EBADF).
        PortError
            A port of a chain is not started or closed, or failed during the
            run (``.result`` holds the run's result).
        PoolError
            A pool of the pipeline was closed.
        ConcurrentUseError
            Another loop polls one of the queues (EBUSY).
        ForkedChildError
            The pipeline was created by the parent of this forked process.
        KeyboardInterrupt
            Ctrl-C, once the loop stopped and drained.
        Exception
            Whatever a Python stage raised.
        """
        cdef pd_run_opts o
        cdef pd_run_result res
        cdef int rc
        self.prepare(&o, duration, packets, idle_sleep_us, idle_rounds, busy_poll, drain,
                     threading.current_thread() is threading.main_thread())
        self.running = True
        try:
            with nogil:
                rc = pd_pipeline_run(self.c_chains, self.n_chains, &o, &res)
        finally:
            self.running = False
            self.hold_ports(False)
        return self.outcome(rc, &res)

    def _prepare_job(self, duration=None, packets=None, *, int idle_sleep_us=50,
                     int idle_rounds=256, bint busy_poll=False, double drain=0.2):
        """Package a run for another thread (a DPDK lcore): a capsule holding the
        job, whose context is the entry point.  The pipeline counts as running
        until _finish_job()."""
        self.prepare(&self.job.opts, duration, packets, idle_sleep_us, idle_rounds, busy_poll,
                     drain, False)
        self.job.chains = self.c_chains
        self.job.n_chains = self.n_chains
        self.job.rc = 0
        self.job.done = 0
        self.running = True
        capsule = PyCapsule_New(<void *>&self.job, b"pydpdk.pd_run_job", NULL)
        PyCapsule_SetContext(capsule, <void *>pd_run_job_main)
        return capsule

    def _run_job(self):
        """Run the prepared job on the calling thread (a background thread's
        body); returns when the loop has ended."""
        with nogil:
            pd_run_job_main(&self.job)

    cdef void release_job(self) noexcept:
        # The loop has ended (job.done): the ports are free again.
        if self.running:
            self.running = False
            self.hold_ports(False)

    def _wait_job(self, double timeout=-1.0):
        """Wait up to *timeout* seconds (< 0: no limit) for the prepared job
        to end; True once it has (the pipeline is then no longer running).

        Signals are checked every 20 ms.  If a handler raises (Ctrl-C), the
        loop is stopped and waited for *before* the exception propagates,
        so whatever the caller tears down next is no longer in use.
        """
        cdef uint64_t start = pd_clock_ns()
        cdef uint64_t limit = <uint64_t>(timeout * 1e9) if timeout >= 0 else 0
        cdef uint64_t slice_end
        cdef bint unlimited = timeout < 0
        # Naps grow from 0.2 to 10 ms: a short run is noticed at once, a long
        # one costs the waiting thread 100 wakeups a second, not 2000.
        cdef unsigned int nap = 200
        if not self.running:
            return True
        while True:
            with nogil:
                slice_end = pd_clock_ns() + 20000000
                while not pd_run_job_done(&self.job):
                    if pd_clock_ns() >= slice_end:
                        break
                    if not unlimited and pd_clock_ns() - start >= limit:
                        break
                    usleep(nap)
                    if nap < 10000:
                        nap = nap * 2
            if pd_run_job_done(&self.job):
                self.release_job()
                return True
            if not unlimited and pd_clock_ns() - start >= limit:
                return False
            try:
                PyErr_CheckSignals()
            except BaseException:
                self.stop_flag = 1
                with nogil:
                    while not pd_run_job_done(&self.job):
                        usleep(500)
                self.release_job()
                raise

    def _abort_job(self):
        """Forget a job that could not be launched."""
        if not self.job.done:
            self.job.done = 1
        self.release_job()

    def _job_done(self):
        return bool(pd_run_job_done(&self.job))

    def _finish_job(self):
        """The result of a finished job (call once its thread has returned)."""
        if not pd_run_job_done(&self.job):
            raise PydpdkError(errno.EBUSY, "the pipeline job is still running")
        self.release_job()
        return self.outcome(self.job.rc, &self.job.res)


# Names that moved to pydpdk._traffic and pydpdk._gateway (issue 15): still
# importable from here for code written against the old single module.
_MOVED = {
    "DEFAULT_TEMPLATE": "_traffic", "MARKER_LEN": "_traffic", "Generator": "_traffic",
    "Verifier": "_traffic", "Impairment": "_traffic", "clock_ns": "_traffic",
    "FecEncodeStage": "_gateway", "FecDecodeStage": "_gateway", "ENCAP_DEFAULTS": "_gateway",
}


def __getattr__(name):
    """The moved names (see _MOVED), imported on first use."""
    where = _MOVED.get(name)
    if where is None:
        raise AttributeError(f"module 'pydpdk._pipeline' has no attribute {name!r}")
    import importlib
    return getattr(importlib.import_module(f"pydpdk.{where}"), name)
