# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Test traffic and a lossy link as pipeline elements (private; see pydpdk.pipeline).

Wraps native/pipeline/traffic.c (Generator, Verifier) and impair.c
(Impairment); the element bases are pydpdk._pipeline's (_pipeline.pxd).
"""

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memset

from pydpdk._burst cimport PacketPool
from pydpdk._includes.clock cimport pd_clock_ns
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
from pydpdk._pipeline cimport Sink, Source, Stage, counters_dict, raise_errno

# Ethernet/IPv4/UDP headers used by Generator when no template is given:
# 02:00:00:00:00:02 <- 02:00:00:00:00:01, 10.0.0.1:12345 -> 10.0.0.2:12346.
DEFAULT_TEMPLATE = bytes.fromhex(
    "020000000002" "020000000001" "0800"
    "4500000000004000401100000a0000010a000002"
    "3039303a00000000"
)
MARKER_LEN = PD_MARKER_LEN


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
        self._name = "generator"
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
        self._name = "verify"
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
        self._name = "impair"
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


def clock_ns():
    """The pipeline's clock: timestamps in generated frames.

    Returns
    -------
    int
        Nanoseconds of a monotonic clock (the TSC, scaled once).
    """
    return pd_clock_ns()
