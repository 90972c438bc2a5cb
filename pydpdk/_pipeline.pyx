# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Native pipeline elements and the GIL-free run loop (private; see pydpdk.pipeline).

Every element wraps a C struct from native/pipeline or native/gateway.  A
Pipeline links them into chains (source -> stages -> sink) and runs the C loop
with the GIL released; only Python stages take the GIL, once per burst.
"""

import errno
import ipaddress
import threading

import numpy as np

from cpython.exc cimport PyErr_CheckSignals
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_New, PyCapsule_SetContext
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy, memset
from posix.unistd cimport usleep

from cpython.ref cimport PyObject

from pydpdk._burst cimport (
    Burst,
    PacketPool,
    PortBase,
    fork_epoch,
    raise_forked,
    release_held,
    take_hold,
)
from pydpdk._includes.clock cimport pd_clock_ns
from pydpdk._includes.fec cimport (
    FEC_CODE_RLC,
    FEC_CODE_RS,
    FEC_CODE_XOR,
    FEC_DEFAULT_MAX_SESSIONS,
    FEC_HDR_LEN,
    FEC_MAX_SESSION_BLOCKS,
    FEC_MAX_SESSIONS,
    fec_control_state,
    fec_decoder_stats,
    fec_encoder_stats,
    fec_link_report,
    fec_kernel,
    fec_kernel_by_name,
    fec_random_session_id,
)
from pydpdk._includes.gateway cimport (
    PD_ENCAP_ETHER,
    PD_ENCAP_NONE,
    PD_ENCAP_UDP,
    PD_ETHERTYPE_FEC,
    pd_encap_cfg,
    pd_encap_len,
    pd_fec_dec_stage,
    pd_fec_dec_stage_bind,
    pd_fec_dec_stage_cfg,
    pd_fec_dec_stage_control_stats,
    pd_fec_dec_stage_create,
    pd_fec_dec_stage_destroy,
    pd_fec_dec_stage_link_report,
    pd_fec_dec_stage_peer_report,
    pd_fec_dec_stage_stats,
    pd_fec_enc_stage,
    pd_fec_enc_stage_bind,
    pd_fec_enc_stage_cfg,
    pd_fec_enc_stage_control_counts,
    pd_fec_enc_stage_create,
    pd_fec_enc_stage_destroy,
    pd_fec_enc_stage_get_params,
    pd_fec_enc_stage_mtu,
    pd_fec_enc_stage_set_params,
    pd_fec_enc_stage_stats,
    pd_fec_stage_pair,
    pd_gateway_counters,
)
from pydpdk._includes.impair cimport (
    pd_impair,
    pd_impair_cfg,
    pd_impair_counters,
    pd_impair_counters_get,
    pd_impair_create,
    pd_impair_destroy,
    pd_impair_set_loss,
    pd_impair_stage,
)
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
from pydpdk._includes.pkt cimport PD_BURST_MAX, pd_pkt
from pydpdk._includes.stage cimport (
    pd_counters,
    pd_port_endpoint,
    pd_sink,
    pd_sink_discard,
    pd_sink_from_port,
    pd_source,
    pd_source_from_port,
    pd_stage,
)
from pydpdk._includes.traffic cimport (
    PD_GEN_MAX_SIZES,
    PD_MARKER_LEN,
    pd_gen,
    pd_gen_cfg,
    pd_gen_counters,
    pd_gen_counters_get,
    pd_gen_create,
    pd_gen_destroy,
    pd_gen_fill,
    pd_gen_source,
    pd_verify,
    pd_verify_counters,
    pd_verify_counters_get,
    pd_verify_create,
    pd_verify_destroy,
    pd_verify_frame,
    pd_verify_sink,
)

# telemetry: counters registered for DPDK's /pydpdk endpoints (docs/telemetry.md)
from pydpdk._telemetry cimport (
    Registration,
    register_fec_dec_stage,
    register_fec_enc_stage,
    register_pipeline,
)

from pydpdk.errors import PortError, PydpdkError, error_from_errno

STOP_REASONS = {
    PD_STOP_PACKETS: "packets",
    PD_STOP_DURATION: "duration",
    PD_STOP_SOURCES_DONE: "sources-done",
    PD_STOP_CHECK: "interrupted",
    PD_STOP_FLAG: "stopped",
    PD_STOP_FAULT: "port-fault",
}

# Ethernet/IPv4/UDP headers used by Generator when no template is given:
# 02:00:00:00:00:02 <- 02:00:00:00:00:01, 10.0.0.1:12345 -> 10.0.0.2:12346.
DEFAULT_TEMPLATE = bytes.fromhex(
    "020000000002" "020000000001" "0800"
    "4500000000004000401100000a0000010a000002"
    "3039303a00000000"
)
MARKER_LEN = PD_MARKER_LEN


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
    raise error_from_errno(rc, what, PydpdkError if rc == -errno.ENOMEM else None)


cdef class Element:
    """Base of sources, stages and sinks: a name, a pool and a place in one chain.

    An element holds its pool from creation until it is garbage-collected:
    the pool's close() is refused (PoolError, EBUSY) while it lives, since
    its native state points into the pool.  Not thread-safe: an element runs
    in one pipeline's loop.
    """

    cdef readonly str name
    """The element's name (str): its key in ``Pipeline.counters()``."""
    cdef PacketPool pool
    cdef bint attached
    cdef PyObject *held      # the held pool (see pydpdk._burst.take_hold)

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

    cdef pd_source src

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

    cdef pd_stage st

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

    cdef pd_sink snk

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
        self.name = f"rx:{port!r}:{queue}"
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
        self.name = f"tx:{port!r}:{queue}"
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
        self.name = "discard"
        pd_sink_discard(&self.snk, pool.ops)


# --------------------------------------------------------------------------
# Traffic: generator and verifying sink
# --------------------------------------------------------------------------

cdef class Generator(Source):
    """Sequence-numbered, checksummed test frames from *pool*.

    Frames start with *template* (default: Ethernet/IPv4/UDP headers) followed
    by a 22-byte marker (sequence number, send time, length, CRC-32C of the
    whole frame) and a fill pattern; *sizes* are frame lengths used in turn.
    A :class:`Verifier` checks them.

    Parameters
    ----------
    pool : PacketPool
        Pool the frames are allocated from.
    sizes : int or sequence of int, default (512,)
        Frame lengths in bytes, used in turn; each within
        ``len(template) + MARKER_LEN`` .. 65535.
    count : int, default 0
        Frames to send, then the source ends; 0: no end.
    rate_pps : float, default 0.0
        Frames per second; 0: as fast as the loop goes.
    stream : int, default 0
        Stream id in the marker (16 bits): a Verifier counts only its own.
    template : bytes-like, optional
        Header bytes every frame starts with (default
        ``DEFAULT_TEMPLATE``: Ethernet/IPv4/UDP, 42 bytes).
    fix_lengths : bool, default True
        Rewrite the IPv4 total length, UDP length and checksums in the
        template per frame.

    Raises
    ------
    ValueError
        No size or too many, a size out of range, or a negative rate.
    PoolError
        *pool* is closed.
    PydpdkError
        The native generator cannot be created (ENOMEM).
    """

    cdef pd_gen *gen
    cdef readonly bytes template
    """The header bytes every frame starts with (bytes)."""
    cdef readonly uint64_t count
    """Frames to send before the source ends (int; 0: no end)."""

    def __init__(self, PacketPool pool not None, sizes=(512,), uint64_t count=0,
                 double rate_pps=0.0, uint16_t stream=0, template=None, bint fix_lengths=True):
        cdef pd_gen_cfg cfg
        cdef int err = 0
        cdef unsigned int i
        pool.check_open()
        sizes = [int(s) for s in ([sizes] if isinstance(sizes, int) else sizes)]
        if not 1 <= len(sizes) <= PD_GEN_MAX_SIZES:
            raise ValueError(f"give between 1 and {PD_GEN_MAX_SIZES} frame sizes, "
                             f"got {len(sizes)}")
        self.template = DEFAULT_TEMPLATE if template is None else bytes(template)
        low = len(self.template) + PD_MARKER_LEN
        for s in sizes:
            if not low <= s <= 65535:
                raise ValueError(f"frame size {s} out of range: frames need {low}..65535 "
                                 f"bytes (template of {len(self.template)} + "
                                 f"{PD_MARKER_LEN}-byte marker)")
        if rate_pps < 0:
            raise ValueError(f"rate_pps must be >= 0, got {rate_pps}")
        memset(&cfg, 0, sizeof(cfg))
        cfg.tmpl = self.template
        cfg.tmpl_len = <uint32_t>len(self.template)
        cfg.n_sizes = <uint32_t>len(sizes)
        for i in range(cfg.n_sizes):
            cfg.sizes[i] = sizes[i]
        cfg.count = count
        cfg.rate_pps = rate_pps
        cfg.stream = stream
        cfg.fix_lengths = fix_lengths
        self.gen = pd_gen_create(&cfg, pool.ops, pool.pool, &err)
        if self.gen == NULL:
            raise_errno(err, "cannot create the generator")
        self.use_pool(pool)
        self.count = count
        self.name = "generator"
        pd_gen_source(self.gen, &self.src)

    def __dealloc__(self):
        pd_gen_destroy(self.gen)

    @property
    def marker_offset(self):
        """Byte offset of the marker in every frame (int): ``len(template)``."""
        return len(self.template)

    @property
    def counters(self):
        """The generator's counters (dict of str to int), safe to read while it runs.

        ``packets_in``, ``bytes_in`` (what entered the element),
        ``packets_out``, ``bytes_out`` (what left it), ``drops`` (packets it
        freed), ``bursts`` (non-empty bursts processed) and ``time_ns`` (time
        spent inside, ns), and ``sent`` (frames made), ``sent_bytes``
        and ``alloc_failed`` (frames not made: pool empty).
        """
        cdef const pd_gen_counters *g = pd_gen_counters_get(self.gen)
        d = counters_dict(&self.src.c)
        d.update(sent=g.sent, sent_bytes=g.bytes, alloc_failed=g.alloc_failed)
        return d

    def frame(self, uint32_t length, uint64_t seq, uint64_t tx_ns=0):
        """The frame this generator would send with sequence number *seq* (for tests).

        Parameters
        ----------
        length : int
            Frame length in bytes: one of the generator's sizes.
        seq : int
            Sequence number (64 bits).
        tx_ns : int, default 0
            Send time in the marker, ns of :func:`clock_ns`.

        Returns
        -------
        bytes
            The frame, *length* bytes.

        Raises
        ------
        ValueError
            *length* is not one of the generator's sizes.
        """
        buf = bytearray(length)
        cdef uint8_t[::1] view = buf
        if pd_gen_fill(self.gen, &view[0], length, seq, tx_ns) != 0:
            raise ValueError(f"{length} is not one of this generator's frame sizes")
        return bytes(buf)


cdef class Verifier(Sink):
    """Consume generator frames and find lost, duplicated, reordered and corrupted ones.

    Lost frames are ``max_seq_plus1 - valid`` (counters) once the run drained.

    Parameters
    ----------
    pool : PacketPool
        The chain's pool (frames are freed into it).
    marker_offset : int, default 42
        Byte offset of the Generator's marker (its ``marker_offset``).
    stream : int, default 0
        Stream id to count; frames of other streams are ``foreign``.

    Raises
    ------
    PoolError
        *pool* is closed.
    PydpdkError
        The native verifier cannot be created (ENOMEM).
    """

    cdef pd_verify *ver
    cdef readonly uint32_t marker_offset
    """Byte offset of the marker in the frames (int)."""
    cdef readonly uint32_t stream
    """Stream id counted (int)."""

    def __init__(self, PacketPool pool not None, uint32_t marker_offset=42, uint16_t stream=0):
        cdef int err = 0
        pool.check_open()
        self.ver = pd_verify_create(marker_offset, stream, pool.ops, &err)
        if self.ver == NULL:
            raise_errno(err, "cannot create the verifier")
        self.use_pool(pool)
        self.marker_offset = marker_offset
        self.stream = stream
        self.name = "verify"
        pd_verify_sink(self.ver, &self.snk)

    def __dealloc__(self):
        pd_verify_destroy(self.ver)

    @property
    def counters(self):
        """The verifier's counters (dict of str to int), safe to read while it runs.

        ``packets_in``, ``bytes_in`` (what entered the element),
        ``packets_out``, ``bytes_out`` (what left it), ``drops`` (packets it
        freed), ``bursts`` (non-empty bursts processed) and ``time_ns`` (time
        spent inside, ns), and ``received``, ``received_bytes``, ``valid``
        (first intact copy of a frame), ``corrupted`` (marker found, CRC or
        length wrong), ``foreign`` (no marker or another stream),
        ``duplicates``, ``reordered`` (after a higher sequence number),
        ``stale`` (too far behind to classify), ``max_seq_plus1`` (highest
        sequence number + 1), ``latency_sum_ns`` and ``latency_max_ns``
        (clock_ns at receipt minus the marker's send time, ns).
        """
        cdef const pd_verify_counters *v = pd_verify_counters_get(self.ver)
        d = counters_dict(&self.snk.c)
        d.update(received=v.received, received_bytes=v.bytes, valid=v.valid,
                 corrupted=v.corrupted, foreign=v.foreign, duplicates=v.duplicates,
                 reordered=v.reordered, stale=v.stale, max_seq_plus1=v.max_seq_plus1,
                 latency_sum_ns=v.latency_sum_ns, latency_max_ns=v.latency_max_ns)
        return d

    def check(self, frame):
        """Classify one frame without counting it.

        Parameters
        ----------
        frame : bytes-like
            A whole frame.

        Returns
        -------
        tuple
            ``("valid", seq)``, ``("corrupted", None)`` or ``("foreign", None)``.
        """
        cdef const uint8_t[::1] view = memoryview(frame).cast("B")
        cdef uint64_t seq = 0
        cdef int rc
        if view.shape[0] == 0:
            return ("foreign", None)
        rc = pd_verify_frame(self.marker_offset, self.stream, &view[0],
                             <uint32_t>view.shape[0], &seq)
        return ("valid", seq) if rc == 0 else ("corrupted" if rc == 1 else "foreign", None)


# --------------------------------------------------------------------------
# Impairment
# --------------------------------------------------------------------------

cdef class Impairment(Stage):
    """A lossy link: random and Gilbert-Elliott loss, duplication, reordering (seeded).

    Deterministic for a given *seed* and packet sequence.  Probabilities are
    per packet, within [0, 1].

    Parameters
    ----------
    pool : PacketPool
        The chain's pool (duplicates are allocated from it).
    loss : float, default 0.0
        Probability of an independent (Bernoulli) loss.
    ge_p, ge_r : float, optional
        Gilbert-Elliott model: probability of going from the good to the
        bad state, and back; both or neither.
    ge_loss_good, ge_loss_bad : float, default 0.0 and 1.0
        Loss probability in the good and the bad state.
    duplicate : float, default 0.0
        Probability of sending a packet twice.
    reorder : float, default 0.0
        Probability of holding a packet back.
    reorder_gap : int, default 3
        Packets a held-back packet is delayed by.
    seed : int, default 1
        Random seed (64 bits).

    Raises
    ------
    ValueError
        A probability outside [0, 1], or only one of *ge_p*/*ge_r*.
    PoolError
        *pool* is closed.
    PydpdkError
        The native stage cannot be created (ENOMEM).
    """

    cdef pd_impair *im

    def __init__(self, PacketPool pool not None, double loss=0.0, ge_p=None, ge_r=None,
                 double ge_loss_good=0.0, double ge_loss_bad=1.0, double duplicate=0.0,
                 double reorder=0.0, uint32_t reorder_gap=3, uint64_t seed=1):
        cdef pd_impair_cfg cfg
        cdef int err = 0
        pool.check_open()
        if (ge_p is None) != (ge_r is None):
            raise ValueError("Gilbert-Elliott loss needs both ge_p and ge_r")
        memset(&cfg, 0, sizeof(cfg))
        cfg.loss = loss
        cfg.ge_p = 0.0 if ge_p is None else float(ge_p)
        cfg.ge_r = 0.0 if ge_r is None else float(ge_r)
        cfg.ge_loss_good = ge_loss_good
        cfg.ge_loss_bad = ge_loss_bad
        cfg.duplicate = duplicate
        cfg.reorder = reorder
        cfg.reorder_gap = reorder_gap
        cfg.seed = seed
        for key, value in (("loss", loss), ("ge_p", cfg.ge_p), ("ge_r", cfg.ge_r),
                           ("ge_loss_good", ge_loss_good), ("ge_loss_bad", ge_loss_bad),
                           ("duplicate", duplicate), ("reorder", reorder)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{key} is a probability: within [0, 1], got {value}")
        self.im = pd_impair_create(&cfg, pool.ops, pool.pool, &err)
        if self.im == NULL:
            raise_errno(err, "cannot create the impairment stage")
        self.use_pool(pool)
        self.name = "impair"
        pd_impair_stage(self.im, &self.st)

    def __dealloc__(self):
        pd_impair_destroy(self.im)

    def set_loss(self, double loss=0.0, ge_p=None, ge_r=None, double ge_loss_good=0.0,
                 double ge_loss_bad=1.0):
        """Change the loss model while the pipeline runs (taken at the next burst).

        Parameters
        ----------
        loss : float, default 0.0
            Random loss probability, 0..1.
        ge_p, ge_r : float, optional
            Gilbert-Elliott good-to-bad and bad-to-good transition
            probabilities per packet (both or neither).
        ge_loss_good, ge_loss_bad : float, default 0.0 and 1.0
            Loss probability in the good and the bad state.

        Raises
        ------
        ValueError
            Only one of *ge_p*/*ge_r*, or a probability outside [0, 1].
        """
        if (ge_p is None) != (ge_r is None):
            raise ValueError("Gilbert-Elliott loss needs both ge_p and ge_r")
        if pd_impair_set_loss(self.im, loss, ge_p or 0.0, ge_r or 0.0, ge_loss_good,
                              ge_loss_bad) != 0:
            raise ValueError("loss probabilities must be within [0, 1]")

    @property
    def counters(self):
        """The stage's counters (dict of str to int), safe to read while it runs.

        ``packets_in``, ``bytes_in`` (what entered the element),
        ``packets_out``, ``bytes_out`` (what left it), ``drops`` (packets it
        freed), ``bursts`` (non-empty bursts processed) and ``time_ns`` (time
        spent inside, ns), and ``seen``, ``lost_random``, ``lost_burst``
        (Gilbert-Elliott), ``lost`` (their sum), ``duplicated``,
        ``duplicate_failed`` (pool empty) and ``reordered``.
        """
        cdef const pd_impair_counters *c = pd_impair_counters_get(self.im)
        d = counters_dict(&self.st.c)
        d.update(seen=c.seen, lost_random=c.lost_random, lost_burst=c.lost_burst,
                 lost=c.lost_random + c.lost_burst, duplicated=c.duplicated,
                 duplicate_failed=c.duplicate_failed, reordered=c.reordered)
        return d


# --------------------------------------------------------------------------
# FEC gateway stages
# --------------------------------------------------------------------------

cdef int parse_mac(value, uint8_t *out) except -1:
    cdef int i
    if isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
    else:
        raw = bytes.fromhex(str(value).replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise ValueError(f"not a MAC address: {value!r}")
    for i in range(6):
        out[i] = raw[i]
    return 0


cdef dict fill_encap(pd_encap_cfg *e, dict given):
    """Encapsulation options (keywords of the FEC stages) into *e*; returns them
    with the defaults filled in."""
    unknown = set(given) - set(ENCAP_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown encapsulation option(s): {', '.join(sorted(unknown))}")
    opts = dict(ENCAP_DEFAULTS, **given)
    memset(e, 0, sizeof(pd_encap_cfg))
    encap = opts["encap"]
    if encap == "udp":
        e.kind = PD_ENCAP_UDP
    elif encap in ("ether", "l2"):
        e.kind = PD_ENCAP_ETHER
    elif encap in ("none", "udp-socket"):
        e.kind = PD_ENCAP_NONE      # a UdpPort carries the FEC packet as its payload
    elif encap == "none-tos":
        e.kind = PD_ENCAP_NONE      # ... and (UdpPort tos=True) adds the outer TOS after it
        e.tos_trailer = 1
    else:
        raise ValueError(f"encapsulation must be 'udp' or 'ether' ('none': bare FEC packets for "
                         f"a UdpPort, 'none-tos': one with tos=True), got {encap!r}")
    parse_mac(opts["src_mac"], e.src_mac)
    parse_mac(opts["dst_mac"], e.dst_mac)
    # IPv4 or IPv6 outer header (both addresses of one version)
    src, dst = ipaddress.ip_address(opts["src_ip"]), ipaddress.ip_address(opts["dst_ip"])
    if src.version != dst.version:
        raise ValueError(f"src_ip and dst_ip must both be IPv4 or both IPv6, got "
                         f"{opts['src_ip']!r} and {opts['dst_ip']!r}")
    if dst.version == 6:
        if dst.is_multicast or dst.is_unspecified:
            raise ValueError(f"dst_ip must be a unicast address, got {opts['dst_ip']!r}")
        e.ipv6 = 1
        memcpy(e.src_ip6, <const char *>src.packed, 16)
        memcpy(e.dst_ip6, <const char *>dst.packed, 16)
    else:
        e.src_ip = int(src)
        e.dst_ip = int(dst)
    for label in ("src_port", "dst_port"):
        if not 1 <= opts[label] <= 65535:
            raise ValueError(f"{label} must be within 1..65535, got {opts[label]}")
    e.src_port = <uint16_t>opts["src_port"]
    e.dst_port = <uint16_t>opts["dst_port"]
    if not 0x0600 <= opts["ethertype"] <= 0xffff:
        raise ValueError(f"ethertype must be within 0x0600..0xffff, got {opts['ethertype']:#x}")
    e.ethertype = <uint16_t>opts["ethertype"]
    if not 1 <= opts["ttl"] <= 255:
        raise ValueError(f"ttl must be within 1..255, got {opts['ttl']}")
    e.ttl = <uint8_t>opts["ttl"]
    return opts


cdef int check_max_payload(unsigned int max_payload) except -1:
    if not 1 <= max_payload <= 65000:
        raise ValueError(f"max_payload must be within 1..65000, got {max_payload}")
    return 0


cdef dict link_report_dict(const fec_link_report *r):
    return {"window": r.window, "packets": r.packets, "lost": r.lost,
            "loss_runs": r.loss_runs, "arrivals": r.arrivals, "reordered": r.reordered,
            "recovered": r.recovered, "loss_rate": r.loss_rate, "gilbert_p": r.gilbert_p,
            "gilbert_r": r.gilbert_r, "bad_loss": r.bad_loss, "mean_burst": r.mean_burst,
            "reorder_rate": r.reorder_rate, "recovery_mean": r.recovery_mean,
            "recovery_p99": r.recovery_p99, "session_id": r.session_id, "depth": r.depth,
            "run_hist": [r.run_hist[i] for i in range(8)],
            "recent_packets": r.recent_packets, "recent_lost": r.recent_lost}


cdef int parse_code(str code, unsigned int k, unsigned int m) except -1:
    if code == "rlc":       # sliding window: k, m up to 255 each (window checked by the caller)
        if not 1 <= k <= 255 or not 1 <= m <= 255:
            raise ValueError(f"rlc needs 1 <= k <= 255 and 1 <= m <= 255, got k={k}, m={m}")
        return FEC_CODE_RLC
    if code == "rs":
        c = FEC_CODE_RS
    elif code == "xor":
        c = FEC_CODE_XOR
        if m != 1:
            raise ValueError(f"XOR parity has exactly one repair packet per block (m=1), got m={m}")
    else:
        raise ValueError(f"code must be 'rs', 'xor' or 'rlc', got {code!r}")
    if k < 1 or m < 1 or k + m > 255:
        raise ValueError(f"need k >= 1, m >= 1 and k + m <= 255, got k={k}, m={m}")
    return c


cdef const fec_kernel *pick_kernel(kernel) except? NULL:
    cdef const fec_kernel *kern = NULL
    cdef int rc
    if kernel is None:
        return NULL
    rc = fec_kernel_by_name(str(kernel).encode(), &kern)
    if rc != 0:
        raise ValueError(f"FEC kernel {kernel!r} is unknown or not supported by this CPU")
    return kern


ENCAP_DEFAULTS = dict(encap="udp", src_mac="02:00:00:00:00:01", dst_mac="02:00:00:00:00:02",
                      src_ip="192.0.2.1", dst_ip="192.0.2.2", src_port=4790, dst_port=4790,
                      ethertype=PD_ETHERTYPE_FEC, ttl=64)


cdef class FecEncodeStage(Stage):
    """Protect frames: FEC header + encapsulation on each, parity packets from *pool*.

    *session_id* is the wire session id (docs/fec-format.md), 1..2**32-1;
    None draws a random one (reported as ``config["session_id"]``).

    MTU policy (an edge device's): with *wan_mtu* (bytes of IP packet the
    WAN carries, e.g. the WAN interface's MTU; 0 = no policy, frames over
    *max_payload* are dropped as ``too_big``) the stage subtracts its own
    overhead (outer header, FEC header, repair length field) and handles
    LAN frames that no longer fit: TCP SYN/SYN-ACK MSS lowered (*clamp_mss*),
    IPv4 with DF and IPv6 answered with ICMP "fragmentation needed" (RFC
    1191) / "packet too big" (RFC 4443) towards the sender (*icmp*; sent
    through the paired FecDecodeStage, sourced from *icmp_source* — an IPv4
    and/or IPv6 address, or a list of both — else from the original
    destination), IPv4 without DF fragmented (*fragment*).  Everything is
    counted: ``mss_clamped``, ``icmp_too_big``, ``fragmented``/``fragments``,
    ``mtu_dropped``, ``reply_dropped``.  ``config`` says what applies
    (``max_frame``, ``ip_mtu``, ``mss``).  ValueError when *wan_mtu* leaves
    no room for a minimal IPv4 packet.  The wire format is
    docs/fec-format.md (v2); Reed-Solomon over GF(2^8) or XOR parity.

    Parameters
    ----------
    pool : PacketPool
        The chain's pool; parity packets are allocated from it.
    code : {"rs", "xor"}
        Reed-Solomon, or XOR parity (``m`` must be 1).
    k : int, default 10
        Source packets per block, ``k >= 1``.
    m : int, default 4
        Repair packets per block, ``m >= 1``, ``k + m <= 255``.
    depth : int, default 1
        Interleaving depth (blocks filled in turn), 1..64.
    deadline : float, default 0.005
        Seconds after a block's first packet at which it is closed with
        what it has (its parity sent); 0: only full blocks.
    max_payload : int, default 1518
        Largest frame protected, bytes, 1..65000.
    kernel : str, optional
        GF(2^8) kernel name (e.g. "avx2"); None: the fastest this CPU has.
    session_id : int, optional
        Wire session id, 1..2**32-1; None draws a random one.
    wan_mtu : int, default 0
        IP MTU of the WAN in bytes, 0..65535; 0: no MTU policy.
    clamp_mss : bool, default True
        Lower the MSS of TCP SYNs (with *wan_mtu*).
    icmp : bool, default True
        Answer oversize DF frames with ICMP (with *wan_mtu*).
    fragment : bool, default True
        Fragment oversize IPv4 frames without DF (with *wan_mtu*).
    icmp_source : str or sequence of str, optional
        IPv4 and/or IPv6 source address of the ICMP replies.
    max_m : int, optional
        Largest m :meth:`set_params` may switch to (memory is sized for it);
        None: *m*.
    max_depth : int, optional
        Largest depth :meth:`set_params` may switch to; None: *depth*.
    window : int, optional
        ``code="rlc"`` only: source packets each repair covers, k..255
        (None: k); docs/fec-format.md, "RLC".
    **encap
        Encapsulation: ``encap`` ("udp" default, "ether", or "none" for a
        UdpPort), ``src_mac``, ``dst_mac`` (default 02:00:00:00:00:01 and
        :02), ``src_ip``, ``dst_ip`` (default 192.0.2.1 and .2; two IPv6
        addresses make an Ethernet/IPv6/UDP outer header, RFC 8200),
        ``src_port``, ``dst_port`` (1..65535, default 4790), ``ethertype``
        (0x0600..0xffff, default 0x88B5) and ``ttl`` (1..255, default 64).

    Raises
    ------
    ValueError
        A parameter out of range, an unknown code, kernel or encapsulation,
        a bad address, or a *wan_mtu* that leaves no room.
    TypeError
        An unknown encapsulation keyword.
    PoolError
        *pool* is closed.
    PydpdkError
        The native stage cannot be created (ENOMEM).
    """

    cdef pd_fec_enc_stage *enc
    cdef readonly dict config
    """The configuration in effect (dict): the encapsulation options, ``code``,
    ``k``, ``m``, ``depth``, ``deadline`` (s), ``max_payload``, ``session_id``,
    ``overhead_bytes`` (encapsulation + FEC header), ``wan_mtu``,
    ``max_frame``, ``ip_mtu``, ``mss`` (bytes; 0 without MTU policy),
    ``icmp``, ``fragment`` (bool) and ``icmp_source``."""
    cdef readonly Registration telemetry   # /pydpdk/fec/encoder,<telemetry.id>
    """The telemetry registration (``/pydpdk/fec/encoder,<telemetry.id>``)."""

    def __init__(self, PacketPool pool not None, str code="rs", unsigned int k=10,
                 unsigned int m=4, unsigned int depth=1, double deadline=0.005,
                 unsigned int max_payload=1518, kernel=None, session_id=None,
                 unsigned int wan_mtu=0, bint clamp_mss=True, bint icmp=True,
                 bint fragment=True, icmp_source=None, max_m=None, max_depth=None,
                 window=None,
                 **encap):
        cdef pd_fec_enc_stage_cfg cfg
        cdef int err = 0
        cdef uint32_t sid = 0
        cdef uint32_t max_frame = 0, ip_mtu = 0, mss4 = 0
        pool.check_open()
        memset(&cfg, 0, sizeof(cfg))
        opts = fill_encap(&cfg.encap, encap)
        if wan_mtu:
            if wan_mtu > 65535:
                raise ValueError(f"wan_mtu must be within 0..65535, got {wan_mtu}")
            cfg.mtu.wan_mtu = wan_mtu
            cfg.mtu.clamp_mss = clamp_mss
            cfg.mtu.no_icmp = not icmp
            cfg.mtu.no_fragment = not fragment
            sources = ([] if icmp_source is None else [icmp_source]
                       if isinstance(icmp_source, str) else list(icmp_source))
            for text in sources:
                addr = ipaddress.ip_address(text)
                if addr.version == 4:
                    cfg.mtu.has_src4 = 1
                    memcpy(cfg.mtu.src4, <char *>addr.packed, 4)
                else:
                    cfg.mtu.has_src6 = 1
                    memcpy(cfg.mtu.src6, <char *>addr.packed, 16)
        cfg.fec.code = parse_code(code, k, m)
        if not 1 <= depth <= 64:
            raise ValueError(f"interleaving depth must be within 1..64, got {depth}")
        if deadline < 0:
            raise ValueError(f"deadline must be >= 0 seconds (0: none), got {deadline}")
        check_max_payload(max_payload)
        cfg.fec.k = k
        cfg.fec.m = m
        cfg.fec.depth = depth
        if cfg.fec.code == FEC_CODE_RLC:
            # Sliding window (docs/fec-format.md): no interleaving, each
            # repair covers the last `window` sources.
            cfg.fec.depth = depth = 1
            cfg.fec.window = k if window is None else window
            if not k <= cfg.fec.window <= 255:
                raise ValueError(f"rlc window must be within k..255, got {window}")
        elif window is not None:
            raise ValueError(f"window applies to code 'rlc' only, got code {code!r}")
        cfg.fec.max_payload = max_payload
        cfg.fec.timeout = <uint64_t>(deadline * 1e9)
        cfg.fec.kernel = pick_kernel(kernel)
        # The wire session id (docs/fec-format.md): random per stage unless
        # given (e.g. one per queue); drawn here so config can report it.
        if session_id is None:
            err = fec_random_session_id(&sid)
            if err < 0:
                raise_errno(err, "cannot draw a random FEC session id")
        elif not 1 <= session_id <= 0xFFFFFFFF:
            raise ValueError(f"session_id must be 1..2**32-1 or None, got {session_id!r}")
        else:
            sid = session_id
        cfg.fec.session_id = sid
        # Adaptive FEC: memory for the largest m and depth set_params may choose.
        if max_m is not None:
            if not m <= max_m <= 254:
                raise ValueError(f"max_m must be within m..254, got {max_m}")
            cfg.fec.max_m = max_m
        if max_depth is not None:
            if not depth <= max_depth <= 64:
                raise ValueError(f"max_depth must be within depth..64, got {max_depth}")
            cfg.fec.max_depth = max_depth
        self.enc = pd_fec_enc_stage_create(&cfg, pool.ops, pool.pool, &err)
        if self.enc == NULL:
            if err == -errno.EINVAL and wan_mtu:
                raise ValueError(f"wan_mtu {wan_mtu} leaves no room for a LAN frame after "
                                 f"{pd_encap_len(&cfg.encap) + FEC_HDR_LEN} bytes of "
                                 "encapsulation")
            raise_errno(err, "cannot create the FEC encoder stage")
        self.use_pool(pool)
        self.name = "fec-encode"
        pd_fec_enc_stage_mtu(self.enc, &max_frame, &ip_mtu, &mss4)
        self.config = dict(opts, code=code, k=k, m=m, depth=depth, deadline=deadline,
                           window=cfg.fec.window if code == "rlc" else None,
                           max_payload=max_payload, session_id=sid,
                           overhead_bytes=pd_encap_len(&cfg.encap) + FEC_HDR_LEN,
                           wan_mtu=wan_mtu, max_frame=max_frame, ip_mtu=ip_mtu,
                           mss=mss4, icmp=bool(wan_mtu and icmp),
                           fragment=bool(wan_mtu and fragment),
                           icmp_source=icmp_source)
        pd_fec_enc_stage_bind(self.enc, &self.st)
        self.telemetry = register_fec_enc_stage(self.enc, f"{code}({k},{m})")

    def __dealloc__(self):
        if self.telemetry is not None:
            self.telemetry.close()     # before the counters go
        pd_fec_enc_stage_destroy(self.enc)

    def set_params(self, str code, unsigned int k, unsigned int m, unsigned int depth=1):
        """Switch code, k, m and depth while the pipeline runs (adaptive FEC).

        Taken at the next packet, after the open blocks close with their
        parity.  Thread-safe (one atomic word).

        Parameters
        ----------
        code : str
            ``"rs"`` or ``"xor"`` (a block code).
        k, m : int
            Source and repair packets per block; m within the stage's max_m.
        depth : int, default 1
            Interleaving depth, within the stage's max_depth.

        Raises
        ------
        ValueError
            An unknown code, bad k/m, or beyond max_m / max_depth (an rlc
            stage does not switch).
        """
        c = parse_code(code, k, m)
        if pd_fec_enc_stage_set_params(self.enc, c, k, m, depth) != 0:
            raise ValueError(f"cannot switch to {code}({k},{m}) depth {depth}: beyond "
                             "max_m / max_depth of this stage")

    @property
    def params(self):
        """(code, k, m, depth) in force."""
        cdef int code = 0
        cdef unsigned k = 0, m = 0, depth = 0
        pd_fec_enc_stage_get_params(self.enc, &code, &k, &m, &depth)
        return ("xor" if code == FEC_CODE_XOR else "rs", k, m, depth)

    @property
    def control_counts(self):
        """Link-report control packets sent to the peer, and dropped."""
        cdef uint64_t sent = 0, dropped = 0
        pd_fec_enc_stage_control_counts(self.enc, &sent, &dropped)
        return {"sent": sent, "dropped": dropped}

    @property
    def counters(self):
        """The encoder's counters (dict of str to int), safe to read while it runs.

        ``packets_in``, ``bytes_in`` (what entered the element),
        ``packets_out``, ``bytes_out`` (what left it), ``drops`` (packets it
        freed), ``bursts`` (non-empty bursts processed) and ``time_ns`` (time
        spent inside, ns); the codec's ``source_packets``,
        ``source_bytes``, ``repair_packets``, ``repair_bytes``, ``blocks``
        (closed), ``blocks_partial`` (closed by deadline or flush before k),
        ``no_buffer`` (parity not made: pool empty); and the gateway's
        ``no_headroom``, ``too_big`` (over *max_payload*), ``out_full``
        (output array full), ``mss_clamped``, ``icmp_too_big``,
        ``mtu_dropped``, ``fragmented``, ``fragments``, ``reply_dropped``
        and ``icmp_limited`` (ICMP rate limit).  Dropped frames are counted
        in exactly one of these.
        """
        cdef fec_encoder_stats s
        cdef pd_gateway_counters g
        pd_fec_enc_stage_stats(self.enc, &s, &g)
        d = counters_dict(&self.st.c)
        d.update(source_packets=s.source_packets, source_bytes=s.source_bytes,
                 repair_packets=s.repair_packets, repair_bytes=s.repair_bytes,
                 blocks=s.blocks, blocks_partial=s.blocks_partial, no_buffer=s.no_buffer,
                 no_headroom=g.no_headroom, too_big=g.too_big, out_full=g.out_full,
                 mss_clamped=g.mss_clamped, icmp_too_big=g.icmp_too_big,
                 mtu_dropped=g.mtu_dropped, fragmented=g.fragmented, fragments=g.fragments,
                 reply_dropped=g.reply_dropped, icmp_limited=g.icmp_limited)
        return d


cdef class FecDecodeStage(Stage):
    """Rebuild frames: strip encapsulation, hand originals on at once, rebuild lost ones.

    *max_sessions* (2..4096, max_sessions * max_blocks <= 2**20) sender
    sessions are decoded side by side (docs/fec-format.md, "Sessions").
    Malformed or foreign packets are counted and dropped, never raised.

    Parameters
    ----------
    pool : PacketPool
        The chain's pool; rebuilt frames are allocated from it.
    timeout : float, default 0.05
        Seconds after a block's first packet at which an incomplete block
        is given up (its losses counted); 0: never by time.
    max_blocks : int, default 256
        Blocks tracked per session, 1..65536.
    max_payload : int, default 1518
        Largest frame, bytes, 1..65000 (as the encoder's).
    cache_entries : int, default 64
        Decoding matrices cached.
    kernel : str, optional
        GF(2^8) kernel name; None: the fastest this CPU has.
    max_sessions : int, default FEC_DEFAULT_MAX_SESSIONS
        Sender sessions decoded side by side, 2..4096.
    measure_window : float, default 0.0
        Seconds of link measurement (loss, bursts, reordering, recovery
        delay; docs/fec-format.md, "Link report"); 0: off.
    report_interval : float, default 0.1
        Seconds between the link reports this stage publishes.
    send_reports : bool, default False
        Hand each report to the paired encoder stage, which sends it to the
        peer in a control packet (an adaptive tunnel).
    **encap
        Encapsulation: ``encap`` ("udp" default, "ether", or "none" for a
        UdpPort), ``src_mac``, ``dst_mac`` (default 02:00:00:00:00:01 and
        :02), ``src_ip``, ``dst_ip`` (default 192.0.2.1 and .2; two IPv6
        addresses make an Ethernet/IPv6/UDP outer header, RFC 8200),
        ``src_port``, ``dst_port`` (1..65535, default 4790), ``ethertype``
        (0x0600..0xffff, default 0x88B5) and ``ttl`` (1..255, default 64).
        Packets whose outer header does not match are ``foreign``.

    Raises
    ------
    ValueError
        A parameter out of range, an unknown kernel or encapsulation, or
        ``max_sessions * max_blocks > 2**20``.
    TypeError
        An unknown encapsulation keyword.
    PoolError
        *pool* is closed.
    PydpdkError
        The native stage cannot be created (ENOMEM).
    """

    cdef pd_fec_dec_stage *dec
    cdef object replies_of
    cdef readonly Registration telemetry   # /pydpdk/fec/decoder,<telemetry.id>
    """The telemetry registration (``/pydpdk/fec/decoder,<telemetry.id>``)."""

    def __init__(self, PacketPool pool not None, double timeout=0.05,
                 unsigned int max_blocks=256, unsigned int max_payload=1518,
                 unsigned int cache_entries=64, kernel=None,
                 unsigned int max_sessions=FEC_DEFAULT_MAX_SESSIONS,
                 double measure_window=0.0, double report_interval=0.1,
                 bint send_reports=False, **encap):
        cdef pd_fec_dec_stage_cfg cfg
        cdef int err = 0
        pool.check_open()
        memset(&cfg, 0, sizeof(cfg))
        fill_encap(&cfg.encap, encap)
        if timeout < 0:
            raise ValueError(f"timeout must be >= 0 seconds (0: none), got {timeout}")
        if not 1 <= max_blocks <= 65536:
            raise ValueError(f"max_blocks must be within 1..65536, got {max_blocks}")
        check_max_payload(max_payload)
        cfg.fec.max_payload = max_payload
        cfg.fec.max_blocks = max_blocks
        cfg.fec.max_symbols = max(255, max_blocks * 16)
        cfg.fec.timeout = <uint64_t>(timeout * 1e9)
        cfg.fec.cache_entries = cache_entries
        cfg.fec.kernel = pick_kernel(kernel)
        if not 2 <= max_sessions <= FEC_MAX_SESSIONS:
            raise ValueError(f"max_sessions must be within 2..{FEC_MAX_SESSIONS}, "
                             f"got {max_sessions}")
        if max_sessions * max_blocks > FEC_MAX_SESSION_BLOCKS:
            raise ValueError(f"max_sessions * max_blocks must be at most "
                             f"{FEC_MAX_SESSION_BLOCKS}, got {max_sessions} * {max_blocks}")
        cfg.fec.max_sessions = max_sessions
        # Adaptive FEC: link measurement (seconds, 0: off) and its reports.
        if measure_window < 0 or report_interval <= 0:
            raise ValueError("measure_window must be >= 0 s, report_interval > 0 s")
        if measure_window:
            cfg.fec.measure_window = max(10, <uint64_t>(measure_window * 1e9))
        cfg.report_interval = <uint64_t>(report_interval * 1e9)
        cfg.send_reports = send_reports
        self.dec = pd_fec_dec_stage_create(&cfg, pool.ops, pool.pool, &err)
        if self.dec == NULL:
            raise_errno(err, "cannot create the FEC decoder stage")
        self.use_pool(pool)
        self.name = "fec-decode"
        pd_fec_dec_stage_bind(self.dec, &self.st)
        self.telemetry = register_fec_dec_stage(self.dec, "decoder")

    def link_report(self):
        """(generation, report dict) of this side's newest link measurement
        (published every report_interval), or None before the first."""
        cdef fec_link_report rep
        gen = pd_fec_dec_stage_link_report(self.dec, &rep)
        return None if gen == 0 else (gen, link_report_dict(&rep))

    def peer_report(self):
        """(generation, report dict) of the newest report received from the
        peer in a control packet, or None before the first."""
        cdef fec_link_report rep
        cdef uint32_t sender = 0
        gen = pd_fec_dec_stage_peer_report(self.dec, &rep, &sender)
        if gen == 0:
            return None
        d = link_report_dict(&rep)
        d["sender"] = sender
        return gen, d

    @property
    def control_stats(self):
        """Link reports received: accepted, malformed, old, unknown."""
        cdef fec_control_state st
        pd_fec_dec_stage_control_stats(self.dec, &st)
        return {"accepted": st.accepted, "malformed": st.malformed, "old": st.old,
                "unknown": st.unknown}

    def send_replies_of(self, FecEncodeStage enc):
        """Send *enc*'s ICMP replies (MTU policy) on this stage's output.

        In a tunnel the decoder's output goes towards the LAN the encoder
        reads from.  Call before the pipeline runs.

        Parameters
        ----------
        enc : FecEncodeStage or None
            The encoder to pair with (kept alive while paired); None unpairs.
        """
        pd_fec_stage_pair(enc.enc if enc is not None else NULL, self.dec)
        self.replies_of = enc              # keeps the encoder alive while paired

    def __dealloc__(self):
        if self.telemetry is not None:
            self.telemetry.close()     # before the counters go
        pd_fec_dec_stage_destroy(self.dec)

    @property
    def counters(self):
        """The decoder's counters (dict of str to int), safe to read while it runs.

        ``packets_in``, ``bytes_in`` (what entered the element),
        ``packets_out``, ``bytes_out`` (what left it), ``drops`` (packets it
        freed), ``bursts`` (non-empty bursts processed) and ``time_ns`` (time
        spent inside, ns); the codec's ``received``, ``delivered``
        (originals handed on), ``recovered`` (rebuilt), ``unrecoverable``
        (known lost, not rebuilt), ``duplicate``, ``late``, ``malformed``,
        ``repair_unused``, ``no_buffer`` (rebuilt frames lost: pool empty),
        ``blocks_evicted``, ``blocks_expired``, ``unconfirmed``, ``resyncs``,
        ``control``, ``sessions_opened``, ``sessions_evicted``; and the
        gateway's ``foreign`` (not our encapsulation), ``out_full``,
        ``ecn_marked`` (CE copied to ECT frames), ``ecn_dropped``
        (Not-ECT frames under a CE outer header, RFC 6040) and
        ``bad_checksum`` (IPv6 outer header with a wrong or zero UDP
        checksum, RFC 8200).
        """
        cdef fec_decoder_stats s
        cdef pd_gateway_counters g
        pd_fec_dec_stage_stats(self.dec, &s, &g)
        d = counters_dict(&self.st.c)
        d.update(received=s.received, delivered=s.delivered, recovered=s.recovered,
                 unrecoverable=s.unrecoverable, duplicate=s.duplicate, late=s.late,
                 malformed=s.malformed, repair_unused=s.repair_unused, no_buffer=s.no_buffer,
                 blocks_evicted=s.blocks_evicted, blocks_expired=s.blocks_expired,
                 unconfirmed=s.unconfirmed, resyncs=s.resyncs, control=s.control,
                 sessions_opened=s.sessions_opened, sessions_evicted=s.sessions_evicted,
                 foreign=g.foreign, out_full=g.out_full, ecn_marked=g.ecn_marked,
                 ecn_dropped=g.ecn_dropped, bad_checksum=g.bad_checksum)
        return d


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
        self.name = name or getattr(fn, "__name__", "python")
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
        self.name = name or (src.name.decode() if src.name != NULL else "external")


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


cdef class Pipeline:
    """Chains of source -> stages -> sink, run by one GIL-free loop.

    Not thread-safe: control it (add, run, stop) from one thread;
    request_stop() may be called from any.  While it runs it claims the port
    queues it polls (burst calls on them from Python raise
    ConcurrentUseError) and its elements hold their pools.  A pipeline
    inherited by a forked child cannot run there (ForkedChildError).
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
    cdef unsigned long epoch
    cdef list used_pools      # pools counted as used (PacketPool.users) by the run

    def __cinit__(self):
        self.chains = []
        self.c_chains = NULL
        self.n_chains = 0
        self.telemetry = register_pipeline("pipeline", <const int *>&self.running)
        self.epoch = fork_epoch()

    def __dealloc__(self):
        cdef unsigned int i
        if self.epoch != fork_epoch():
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
        PydpdkError
            The pipeline is running (EBUSY).
        """
        cdef pd_chain *c
        cdef pd_chain **grown
        cdef Stage st
        stages = list(stages)
        if self.running:
            raise PydpdkError(errno.EBUSY, "cannot add a chain while the pipeline runs")
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
            if other is not None and (<PacketPool>other).ops != (<PacketPool>pool).ops:
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

    cdef int prepare(self, pd_run_opts *o, duration, packets, int idle_sleep_us,
                     int idle_rounds, bint busy_poll, double drain, bint on_main) except -1:
        """Validate, fill the run options and make the chains ready to run."""
        if self.epoch != fork_epoch():
            raise_forked(self)
        if self.n_chains == 0:
            raise ValueError("the pipeline has no chain: call add_chain() first")
        if self.running:
            raise PydpdkError(errno.EBUSY, "the pipeline is already running")
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
        PydpdkError
            The pipeline already runs (EBUSY).
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


def clock_ns():
    """The pipeline's clock: timestamps in generated frames.

    Returns
    -------
    int
        Nanoseconds of a monotonic clock (the TSC, scaled once).
    """
    return pd_clock_ns()
