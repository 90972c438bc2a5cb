# cython: boundscheck=False, wraparound=False, cdivision=True
"""Compiled core of pydpdk.fec: thin owners of the native codec objects.

Each call takes a whole batch (many packets or blocks) and runs the native
loop with the GIL released.  Output packets are gathered into one growable
native arena during the loop and turned into ``bytes`` afterwards.  These
objects own memory only (no OS resources), so they are freed when collected;
``close()`` frees them earlier.  The public API is :mod:`pydpdk.fec`.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.errno cimport EAGAIN, ENOMEM
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcpy, memset

from pydpdk._handle cimport Handle, check_rc, raise_closed
from pydpdk._includes.fec cimport (
    FEC_CODE_RS,
    FEC_CODE_XOR,
    FEC_CONTROL,
    FEC_CTRL_LINK_REPORT,
    FEC_DEFAULT_MAX_SESSIONS,
    FEC_DELIVER,
    FEC_REPORT_MAX_LEN,
    FEC_HDR_LEN,
    FEC_MAX_PAYLOAD,
    FEC_MAX_SESSION_BLOCKS,
    FEC_MAX_SESSIONS,
    FEC_MAX_SYMBOLS,
    FEC_RLC_MAX_M,
    FEC_RLC_MAX_WINDOW,
    FEC_VERSION,
    fec_code_check,
    fec_code_matrix,
    fec_control_accept,
    fec_control_state,
    fec_control_write,
    fec_decode_block,
    fec_decoder,
    fec_decoder_blocks_in_flight,
    fec_decoder_config,
    fec_decoder_create,
    fec_decoder_destroy,
    fec_decoder_get_stats,
    fec_decoder_link_report,
    fec_decoder_live_session,
    fec_decoder_poll,
    fec_decoder_push,
    fec_decoder_sessions,
    fec_decoder_stats,
    fec_decoder_symbols_free,
    fec_encode_block_matrix,
    fec_encoder,
    fec_encoder_add,
    fec_encoder_config,
    fec_encoder_create,
    fec_encoder_destroy,
    fec_encoder_flush,
    fec_encoder_get_stats,
    fec_encoder_poll,
    fec_encoder_set_params,
    fec_encoder_session_id,
    fec_encoder_stats,
    fec_init,
    fec_kernel,
    fec_kernel_default,
    fec_kernel_names,
    fec_kernel_supported,
    fec_link_report,
    fec_matrix_cache,
    fec_matrix_cache_create,
    fec_matrix_cache_destroy,
    fec_matrix_cache_stats,
    fec_report_read,
    fec_report_write,
    fec_rlc_coefs,
    fec_sink,
    fec_verdict,
)

from pydpdk._fec_config cimport (
    config_kernel,
    decoder_config_to_c,
    encoder_config_to_c,
    link_report_dict,
)
from pydpdk._telemetry cimport Registration, register_fec_decoder, register_fec_encoder

import errno as _errno

from pydpdk.errors import ConcurrentUseError, FecError, error_from_errno


# ---- thread guard ----------------------------------------------------------
# Codec objects are not thread-safe (their native state is used without the
# GIL).  A second thread entering one while another is inside raises instead
# of corrupting it; the flag is only touched with the GIL held.

cdef int guard_enter(int *busy, object obj) except -1:
    if busy[0]:
        raise ConcurrentUseError(_errno.EBUSY, f"{type(obj).__name__} is in use by another "
                                               "thread; it is not thread-safe (use one per "
                                               "thread, or a lock)")
    busy[0] = 1
    return 0

fec_init()

HEADER_LEN = FEC_HDR_LEN
VERSION = FEC_VERSION
DEFAULT_MAX_SESSIONS = FEC_DEFAULT_MAX_SESSIONS
MAX_SESSIONS = FEC_MAX_SESSIONS
MAX_SYMBOLS = FEC_MAX_SYMBOLS
MAX_PAYLOAD = FEC_MAX_PAYLOAD
RLC_MAX_WINDOW = FEC_RLC_MAX_WINDOW
RLC_MAX_M = FEC_RLC_MAX_M
MAX_SESSION_BLOCKS = FEC_MAX_SESSION_BLOCKS
# Limits native/fec checks without a named constant (encoder.c: depth and
# max_depth; decoder.c: max_blocks and max_symbols).
MAX_DEPTH = 1024
MAX_BLOCKS = 65536
MAX_STORED_SYMBOLS = 1 << 24
_CODES = {"rs": FEC_CODE_RS, "xor": FEC_CODE_XOR}


def rlc_coefs(uint64_t first_esi, unsigned n, unsigned key):
    """The n coefficients of an RLC repair symbol (fec_rlc_coefs, docs/fec-format.md)."""
    cdef uint8_t out[FEC_RLC_MAX_WINDOW]
    if not 1 <= n <= FEC_RLC_MAX_WINDOW or key > 255:
        raise ValueError(f"need 1 <= n <= {FEC_RLC_MAX_WINDOW} and key <= 255")
    fec_rlc_coefs(first_esi, n, <uint8_t>key, out)
    return bytes(out[:n])


def kernel_names():
    """Names of every kernel this build knows."""
    cdef const char *const *names = fec_kernel_names()
    cdef list out = []
    cdef int i = 0
    while names[i] != NULL:
        out.append(names[i].decode())
        i += 1
    return out


def kernel_supported(str name):
    """Whether this CPU can run the named kernel."""
    return fec_kernel_supported(name.encode()) != 0


def default_kernel():
    """The kernel chosen at start-up (CPUID, or ``PYDPDK_FEC_KERNEL``)."""
    return fec_kernel_default().name.decode()


cdef const fec_kernel *_kernel(object name) except NULL:
    """The kernel *name* (None: the default), checked as every FEC API checks it
    (pydpdk.fec_config.check_kernel: ValueError unknown, FecError ENOTSUP)."""
    from pydpdk.fec_config import check_kernel

    check_kernel(name)
    return config_kernel(name)


cdef int _code(object code, long k, long m) except -1:
    """The native id of block code *code* with k, m, checked as every FEC API
    checks it (pydpdk.fec_config.check_code: ValueError)."""
    from pydpdk.fec_config import check_code

    check_code(code, k, m)
    if fec_code_check(_CODES[code], k, m) < 0:
        raise ValueError(f"code {code!r} needs m == 1 (got m={m})")
    return _CODES[code]


# ---- link reports (native/fec/measure.c, control.c) ----------------------

_REPORT_FIELDS = ("window", "packets", "lost", "loss_runs", "arrivals", "reordered",
                  "recovered", "loss_rate", "gilbert_p", "gilbert_r", "bad_loss",
                  "mean_burst", "reorder_rate", "recovery_mean", "recovery_p99",
                  "session_id", "depth")


cdef int _report_from_dict(dict d, fec_link_report *r) except -1:
    memset(r, 0, sizeof(fec_link_report))
    r.window = d["window"]
    r.packets = d["packets"]
    r.lost = d["lost"]
    r.loss_runs = d["loss_runs"]
    r.arrivals = d.get("arrivals", 0)
    r.reordered = d.get("reordered", 0)
    r.recovered = d.get("recovered", 0)
    r.loss_rate = d["loss_rate"]
    r.gilbert_p = d["gilbert_p"]
    r.gilbert_r = d["gilbert_r"]
    r.bad_loss = d["bad_loss"]
    r.recovery_mean = d.get("recovery_mean", 0.0)
    r.recovery_p99 = d.get("recovery_p99", 0.0)
    r.session_id = d.get("session_id", 0)
    r.depth = d.get("depth", 1)
    r.recent_packets = d.get("recent_packets", 0)
    r.recent_lost = d.get("recent_lost", 0)
    hist = d.get("run_hist", [])
    for i in range(min(8, len(hist))):
        r.run_hist[i] = hist[i]
    return 0


def report_payload(dict report):
    """The link report TLVs (docs/fec-format.md, "Link report") of a report dict."""
    cdef fec_link_report r
    cdef uint8_t out[FEC_REPORT_MAX_LEN]
    _report_from_dict(report, &r)
    n = fec_report_write(&r, out, sizeof(out))
    check_rc(n, "cannot write the link report", FecError)
    return PyBytes_FromStringAndSize(<char *>out, n)


def parse_report(data):
    """Report TLVs -> dict, or None when malformed."""
    cdef const uint8_t[::1] view = memoryview(data).cast("B")
    cdef fec_link_report r
    if view.shape[0] == 0:
        return None
    if fec_report_read(&view[0], view.shape[0], &r) < 0:
        return None
    return link_report_dict(&r)


def control_packet(uint32_t session_id, uint64_t seq, dict report):
    """A whole control packet (header + link report TLVs)."""
    cdef fec_link_report r
    cdef uint8_t payload[FEC_REPORT_MAX_LEN]
    cdef uint8_t out[FEC_HDR_LEN + FEC_REPORT_MAX_LEN]
    if session_id == 0:
        raise ValueError("session_id must be 1..2**32-1")
    _report_from_dict(report, &r)
    n = fec_report_write(&r, payload, sizeof(payload))
    check_rc(n, "cannot write the link report", FecError)
    n = fec_control_write(session_id, seq, 0, FEC_CTRL_LINK_REPORT, payload, n, out,
                          sizeof(out))
    check_rc(n, "cannot write the control packet", FecError)
    return PyBytes_FromStringAndSize(<char *>out, n)


# ---- output arena: packets produced inside a nogil loop ------------------

cdef enum:
    FROM_ARENA = -1
    SKIPPED = -2

cdef struct Entry:
    Py_ssize_t source      # >= 0: bytes of input packet `source`; or FROM_ARENA, SKIPPED
    size_t offset
    uint32_t length

cdef struct Arena:
    uint8_t *data
    size_t used
    size_t cap
    Entry *entries
    size_t n
    size_t ncap


cdef bint arena_reserve(Arena *a, size_t more) noexcept nogil:
    cdef size_t cap
    cdef void *p
    if a.used + more > a.cap:
        cap = a.cap * 2 if a.cap else 65536
        while cap < a.used + more:
            cap *= 2
        p = realloc(a.data, cap)
        if p == NULL:
            return False
        a.data = <uint8_t *>p
        a.cap = cap
    if a.n == a.ncap:
        cap = a.ncap * 2 if a.ncap else 256
        p = realloc(a.entries, cap * sizeof(Entry))
        if p == NULL:
            return False
        a.entries = <Entry *>p
        a.ncap = cap
    return True


cdef uint8_t *arena_get(void *ctx, uint32_t length) noexcept nogil:
    """fec_sink.get: space for one outgoing packet at the arena's end."""
    cdef Arena *a = <Arena *>ctx
    if not arena_reserve(a, length):
        return NULL
    a.entries[a.n].source = FROM_ARENA
    a.entries[a.n].offset = a.used
    a.entries[a.n].length = length
    a.n += 1
    a.used += length
    return a.data + a.used - length


cdef void arena_free(Arena *a) noexcept nogil:
    free(a.data)
    free(a.entries)
    a.data = NULL
    a.entries = NULL
    a.used = a.cap = a.n = a.ncap = 0


cdef void arena_reset(Arena *a) noexcept nogil:
    """Empty the arena but keep its memory for the next batch (no page faults)."""
    a.used = 0
    a.n = 0


cdef list arena_collect(Arena *a, Py_buffer *inputs):
    cdef list out = []
    cdef size_t i
    cdef Entry *e
    for i in range(a.n):
        e = &a.entries[i]
        if e.source >= 0:
            out.append(PyBytes_FromStringAndSize(
                <char *>inputs[e.source].buf + e.offset, e.length))
        elif e.source == FROM_ARENA:
            out.append(PyBytes_FromStringAndSize(<char *>a.data + e.offset, e.length))
    return out


cdef Py_buffer *acquire_all(list packets, Py_ssize_t *count) except NULL:
    """Buffers of every packet (released by release_all)."""
    cdef Py_ssize_t n = len(packets), i
    cdef Py_buffer *bufs = <Py_buffer *>calloc(n + 1, sizeof(Py_buffer))
    if bufs == NULL:
        raise MemoryError()
    count[0] = 0
    try:
        for i in range(n):
            PyObject_GetBuffer(packets[i], &bufs[i], PyBUF_SIMPLE)
            count[0] = i + 1
    except BaseException:
        release_all(bufs, count[0])
        raise
    return bufs


cdef void release_all(Py_buffer *bufs, Py_ssize_t n) noexcept:
    cdef Py_ssize_t i
    for i in range(n):
        PyBuffer_Release(&bufs[i])
    free(bufs)


# ---- plain block codec ---------------------------------------------------

cdef class BlockCodec:
    """Encode k equal-length data symbols into m parity symbols, and rebuild.

    ``encode_blocks`` is thread-safe; ``reconstruct_blocks`` is not (its
    matrix cache): a concurrent call raises ConcurrentUseError.
    """

    cdef const fec_kernel *kern
    cdef fec_matrix_cache *cache
    cdef uint8_t *generator     # m x k coefficients, computed once
    cdef int code_id
    cdef readonly unsigned k
    """Data symbols per block (int)."""
    cdef readonly unsigned m
    """Parity symbols per block (int)."""
    cdef readonly str code
    """The code: ``"rs"`` or ``"xor"`` (str)."""
    cdef int busy               # thread guard (guard_enter)

    def __cinit__(self, long k, long m, *, str code="rs", kernel=None,
                  cache_entries=64, cache_size=None):
        # cache_entries as in DecoderConfig; cache_size is its old name.
        cdef unsigned entries = cache_entries if cache_size is None else cache_size
        self.code_id = _code(code, k, m)
        self.code = code
        self.k = k
        self.m = m
        self.kern = _kernel(kernel)
        self.generator = <uint8_t *>malloc(k * m)
        if self.generator == NULL:
            raise MemoryError()
        fec_code_matrix(self.code_id, k, m, self.generator)
        if entries > 0:
            rc = fec_matrix_cache_create(entries, &self.cache)
            check_rc(rc, "cannot allocate the decode matrix cache", FecError)

    def __dealloc__(self):
        fec_matrix_cache_destroy(self.cache)
        free(self.generator)

    @property
    def kernel(self):
        """The GF(2^8) kernel in use (str)."""
        return self.kern.name.decode()

    @property
    def cache_stats(self):
        """Decode matrix cache use (dict of str to int): ``hits``, ``misses``."""
        cdef uint64_t hits = 0, misses = 0
        fec_matrix_cache_stats(self.cache, &hits, &misses)
        return {"hits": hits, "misses": misses}

    def encode_blocks(self, const uint8_t[:, :, ::1] data not None,
                      uint8_t[:, :, ::1] parity not None):
        """data (n, k, L) -> parity (n, m, L), in place."""
        cdef Py_ssize_t n = data.shape[0], b, i
        cdef size_t length = data.shape[2]
        cdef const uint8_t *src[FEC_MAX_SYMBOLS]
        cdef uint8_t *dst[FEC_MAX_SYMBOLS]
        if data.shape[1] != self.k:
            raise ValueError(f"expected {self.k} data symbols per block, got {data.shape[1]}")
        if parity.shape[0] != n or parity.shape[1] != self.m or parity.shape[2] != data.shape[2]:
            raise ValueError(
                f"parity must have shape ({n}, {self.m}, {data.shape[2]}), "
                f"got ({parity.shape[0]}, {parity.shape[1]}, {parity.shape[2]})")
        if n == 0 or length == 0:
            return
        with nogil:
            for b in range(n):
                for i in range(self.k):
                    src[i] = &data[b, i, 0]
                for i in range(self.m):
                    dst[i] = &parity[b, i, 0]
                fec_encode_block_matrix(self.kern, self.generator, self.k, self.m, src, dst,
                                        length)

    def reconstruct_blocks(self, symbols, present, bint use_cache=True):
        """Rebuild lost data symbols of (n, k+m, L) blocks in place; returns the count.

        Not thread-safe (its matrix cache): concurrent calls raise ConcurrentUseError.
        """
        guard_enter(&self.busy, self)
        try:
            return self._reconstruct_blocks(symbols, present, use_cache)
        finally:
            self.busy = 0

    def _reconstruct_blocks(self, uint8_t[:, :, ::1] symbols not None,
                            const uint8_t[:, ::1] present not None, bint use_cache):
        cdef Py_ssize_t n = symbols.shape[0], b, i
        cdef size_t length = symbols.shape[2]
        cdef unsigned km = self.k + self.m
        cdef uint8_t *sym[FEC_MAX_SYMBOLS]
        cdef long total = 0
        cdef int rc = 0
        cdef unsigned have
        cdef fec_matrix_cache *cache = self.cache if use_cache else NULL
        if symbols.shape[1] != km:
            raise ValueError(f"expected {km} symbols per block, got {symbols.shape[1]}")
        if present.shape[0] != n or present.shape[1] != km:
            raise ValueError(f"present must have shape ({n}, {km})")
        for b in range(n):
            have = 0
            for i in range(km):
                have += present[b, i] != 0
            if have < self.k:
                raise error_from_errno(
                    EAGAIN, f"block {b}: {km - have} of {km} symbols lost, at most "
                    f"m={self.m} can be rebuilt", FecError)
        if n == 0 or length == 0:
            return 0
        with nogil:
            for b in range(n):
                for i in range(km):
                    sym[i] = &symbols[b, i, 0]
                rc = fec_decode_block(self.kern, cache, self.code_id, self.k, self.m,
                                      sym, &present[b, 0], length)
                if rc < 0:
                    break
                total += rc
        check_rc(rc, "block decode failed", FecError)
        return total


# ---- streaming encoder ---------------------------------------------------

cdef class StreamEncoder(Handle):
    """Owner of a native fec_encoder; see pydpdk.fec.Encoder.

    Not thread-safe: a call while another thread is inside one raises
    ConcurrentUseError (pydpdk.errors).
    """

    cdef fec_encoder *enc
    cdef Arena arena            # output of the last call, reused
    cdef readonly unsigned k
    """Source packets per block (rlc: between repair batches) in force (int)."""
    cdef readonly unsigned m
    """Repair packets per block (rlc: per batch) in force (int)."""
    cdef readonly unsigned depth
    """Interleaving depth in force (int)."""
    cdef readonly unsigned window   # rlc: sources each repair covers; 0 for rs/xor
    """rlc: source packets each repair covers; 0 for rs/xor (int)."""
    cdef readonly uint32_t max_payload
    """Largest payload accepted, bytes (int)."""
    cdef readonly str code
    """The code in force: ``"rs"``, ``"xor"`` or ``"rlc"`` (str)."""
    # Handle.busy is the thread guard (guard_enter)
    cdef readonly uint32_t session_id
    """The wire session id, 1..2**32-1 (int)."""
    cdef readonly Registration telemetry   # /pydpdk/fec/encoder,<telemetry.id>
    """The telemetry registration (``/pydpdk/fec/encoder,<telemetry.id>``)."""

    def __cinit__(self, *args, **kwargs):
        self.enc = NULL             # made by _open() (pydpdk.fec.Encoder.__init__)

    def _open(self, config):
        """Create the native encoder from *config* (a validated
        pydpdk.fec_config.EncoderConfig); once."""
        cdef fec_encoder_config cfg
        from pydpdk.fec_config import EncoderConfig

        if not isinstance(config, EncoderConfig):
            raise TypeError(f"config must be a EncoderConfig, got {type(config).__name__}")
        if self.enc != NULL or self.telemetry is not None:
            raise ValueError("the encoder is already open (or was closed)")
        encoder_config_to_c(config, &cfg)
        rc = fec_encoder_create(&cfg, &self.enc)
        check_rc(rc, "cannot create FEC encoder", FecError)
        k, m, code = config.k, config.m, config.code
        self.k, self.m, self.depth, self.code = k, m, config.depth, code
        self.window = cfg.window
        self.max_payload = config.max_payload
        self.session_id = fec_encoder_session_id(self.enc)
        label = f"rlc({k},{m},w={self.window})" if code == "rlc" else f"{code}({k},{m})"
        self.telemetry = register_fec_encoder(self.enc, label)

    def __dealloc__(self):
        if self.telemetry is not None:
            self.telemetry.close()     # before the counters go
        fec_encoder_destroy(self.enc)
        arena_free(&self.arena)

    def close(self):
        """Free the native encoder (Handle contract: idempotent).

        Raises
        ------
        ConcurrentUseError
            Another thread is inside this encoder (EBUSY).
        """
        guard_enter(&self.busy, self)
        self.busy = 0
        if self.telemetry is not None:
            self.telemetry.close()
        fec_encoder_destroy(self.enc)
        self.enc = NULL
        arena_free(&self.arena)
        self.closed = True

    cdef int _check(self) except -1:
        self.check_open()     # ClosedError (EBADF) once closed
        if self.enc == NULL:
            raise_closed(self)
        return 0

    def _encode(self, list packets, uint64_t now):
        guard_enter(&self.busy, self)
        try:
            return self._encode_unguarded(packets, now)
        finally:
            self.busy = 0

    def _encode_unguarded(self, list packets, uint64_t now):
        cdef Py_ssize_t n = 0, i
        cdef Py_buffer *bufs
        cdef Arena *arena = &self.arena
        cdef fec_sink sink
        cdef uint8_t hdr[FEC_HDR_LEN]
        cdef size_t at
        cdef int rc = 0
        self._check()
        bufs = acquire_all(packets, &n)
        arena_reset(arena)
        sink.ctx = arena
        sink.get = arena_get
        try:
            for i in range(n):
                if bufs[i].len == 0:
                    raise ValueError(f"packet {i} is empty: FEC protects non-empty payloads")
                if bufs[i].len > self.max_payload:
                    raise ValueError(
                        f"packet {i} has {bufs[i].len} bytes, more than "
                        f"max_payload={self.max_payload}")
            with nogil:
                for i in range(n):
                    # The source packet first, its header filled in after add()
                    # (add may grow the arena while emitting parity).
                    if arena_get(arena, FEC_HDR_LEN + <uint32_t>bufs[i].len) == NULL:
                        rc = -ENOMEM
                        break
                    at = arena.used - FEC_HDR_LEN - <size_t>bufs[i].len
                    rc = fec_encoder_add(self.enc, <const uint8_t *>bufs[i].buf,
                                         <uint32_t>bufs[i].len, now, hdr, &sink)
                    if rc < 0:
                        break
                    memcpy(arena.data + at, hdr, FEC_HDR_LEN)
                    memcpy(arena.data + at + FEC_HDR_LEN, bufs[i].buf, bufs[i].len)
            check_rc(rc, "FEC encode failed", FecError)
            return arena_collect(arena, bufs)
        finally:
            release_all(bufs, n)

    def _poll(self, uint64_t now, bint flush):
        guard_enter(&self.busy, self)
        try:
            return self._poll_unguarded(now, flush)
        finally:
            self.busy = 0

    def _poll_unguarded(self, uint64_t now, bint flush):
        cdef Arena *arena = &self.arena
        cdef fec_sink sink
        self._check()
        arena_reset(arena)
        sink.ctx = arena
        sink.get = arena_get
        with nogil:
            if flush:
                fec_encoder_flush(self.enc, &sink)
            else:
                fec_encoder_poll(self.enc, now, &sink)
        return arena_collect(arena, NULL)

    @property
    def stats(self):
        """The encoder's counts (dict of str to int): ``source_packets``,
        ``source_bytes``, ``repair_packets``, ``repair_bytes``, ``blocks``
        (closed), ``blocks_partial`` (closed by deadline or flush before k)
        and ``no_buffer``."""
        cdef fec_encoder_stats st
        self._check()
        fec_encoder_get_stats(self.enc, &st)
        return st

    def _set_params(self, str code, long k, long m, long depth):
        """Ask for another code/k/m/depth from the next block on (all open
        blocks close first, with parity).  ValueError when out of range."""
        guard_enter(&self.busy, self)
        try:
            self._check()
            code_id = _code(code, k, m)
            if depth < 1 or fec_encoder_set_params(self.enc, code_id, k, m, depth) < 0:
                raise ValueError(f"cannot switch to {code}({k},{m}) depth {depth}: beyond "
                                 "the encoder's max_m/max_depth")
            self.k, self.m, self.depth, self.code = k, m, depth, code
        finally:
            self.busy = 0


# ---- streaming decoder ---------------------------------------------------

cdef class StreamDecoder(Handle):
    """Owner of a native fec_decoder; see pydpdk.fec.Decoder.

    Not thread-safe: a call while another thread is inside one raises
    ConcurrentUseError (pydpdk.errors).
    """

    cdef fec_decoder *dec
    cdef Arena arena            # output of the last call, reused
    cdef readonly uint32_t max_payload
    """Largest payload accepted, bytes (int)."""
    cdef readonly unsigned max_symbols
    """Stored packet copies (int)."""
    # Handle.busy is the thread guard (guard_enter)
    cdef readonly unsigned max_sessions
    """Sender sessions decoded side by side (int)."""
    cdef readonly Registration telemetry   # /pydpdk/fec/decoder,<telemetry.id>
    """The telemetry registration (``/pydpdk/fec/decoder,<telemetry.id>``)."""
    cdef fec_control_state ctrl
    cdef list _peer                         # reports received, oldest first

    def __cinit__(self, *args, **kwargs):
        self.dec = NULL             # made by _open() (pydpdk.fec.Decoder.__init__)
        memset(&self.ctrl, 0, sizeof(self.ctrl))
        self._peer = []

    def _open(self, config):
        """Create the native decoder from *config* (a validated
        pydpdk.fec_config.DecoderConfig); once."""
        cdef fec_decoder_config cfg
        from pydpdk.fec_config import DecoderConfig

        if not isinstance(config, DecoderConfig):
            raise TypeError(f"config must be a DecoderConfig, got {type(config).__name__}")
        if self.dec != NULL or self.telemetry is not None:
            raise ValueError("the decoder is already open (or was closed)")
        decoder_config_to_c(config, &cfg)
        rc = fec_decoder_create(&cfg, &self.dec)
        check_rc(rc, "cannot create FEC decoder", FecError)
        self.max_payload = cfg.max_payload
        self.max_symbols = cfg.max_symbols
        self.max_sessions = cfg.max_sessions
        self.telemetry = register_fec_decoder(self.dec, "decoder")

    def __dealloc__(self):
        if self.telemetry is not None:
            self.telemetry.close()     # before the counters go
        fec_decoder_destroy(self.dec)
        arena_free(&self.arena)

    def close(self):
        """Free the native decoder (Handle contract: idempotent).

        Raises
        ------
        ConcurrentUseError
            Another thread is inside this decoder (EBUSY).
        """
        guard_enter(&self.busy, self)
        self.busy = 0
        if self.telemetry is not None:
            self.telemetry.close()
        fec_decoder_destroy(self.dec)
        self.dec = NULL
        arena_free(&self.arena)
        self.closed = True

    cdef int _check(self) except -1:
        self.check_open()     # ClosedError (EBADF) once closed
        if self.dec == NULL:
            raise_closed(self)
        return 0

    def _decode(self, list packets, uint64_t now):
        guard_enter(&self.busy, self)
        try:
            return self._decode_unguarded(packets, now)
        finally:
            self.busy = 0

    def _decode_unguarded(self, list packets, uint64_t now):
        cdef Py_ssize_t n = 0, i
        cdef Py_buffer *bufs
        cdef Arena *arena = &self.arena
        cdef fec_sink sink
        cdef fec_verdict v
        cdef bint oom = False
        cdef size_t slot
        cdef Py_ssize_t n_ctrl = 0
        cdef Py_ssize_t *ctrl = NULL
        cdef fec_link_report rep
        cdef uint32_t sender = 0
        self._check()
        bufs = acquire_all(packets, &n)
        ctrl = <Py_ssize_t *>malloc(max(n, 1) * sizeof(Py_ssize_t))
        if ctrl == NULL:
            release_all(bufs, n)
            raise MemoryError()
        arena_reset(arena)
        sink.ctx = arena
        sink.get = arena_get
        try:
            with nogil:
                for i in range(n):
                    # A slot for this packet ahead of what it lets us rebuild,
                    # so the output keeps arrival order.
                    if not arena_reserve(arena, 0):
                        oom = True
                        break
                    slot = arena.n
                    arena.entries[slot].source = SKIPPED
                    arena.n += 1
                    # Anything longer than 64 KiB is malformed anyway.
                    fec_decoder_push(self.dec, <const uint8_t *>bufs[i].buf,
                                     <uint32_t>min(bufs[i].len, 1 << 20), now, &sink, &v)
                    if v.action == FEC_DELIVER:
                        # Delivered in place: remember where, copy out later.
                        arena.entries[slot].source = i
                        arena.entries[slot].offset = v.offset
                        arena.entries[slot].length = v.length
                    elif v.action == FEC_CONTROL:
                        ctrl[n_ctrl] = i
                        n_ctrl += 1
            if oom:
                raise MemoryError("no memory for the decoded packets")
            # Control packets: link reports of the peer (checked, counted,
            # old or repeated ones dropped; at most 64 kept).
            for i in range(n_ctrl):
                if fec_control_accept(&self.ctrl, <const uint8_t *>bufs[ctrl[i]].buf,
                                      <size_t>bufs[ctrl[i]].len, &rep, &sender) == 0:
                    d = link_report_dict(&rep)
                    d["sender"] = sender
                    d["seq"] = self.ctrl.last_seq
                    self._peer.append(d)
                    if len(self._peer) > 64:
                        del self._peer[0]
            return arena_collect(arena, bufs)
        finally:
            free(ctrl)
            release_all(bufs, n)

    def _poll(self, uint64_t now):
        guard_enter(&self.busy, self)
        try:
            self._check()
            return fec_decoder_poll(self.dec, now)
        finally:
            self.busy = 0

    @property
    def stats(self):
        """The decoder's packet counts (dict of str to int); see Decoder."""
        cdef fec_decoder_stats st
        self._check()
        fec_decoder_get_stats(self.dec, &st)
        return st

    @property
    def blocks_in_flight(self):
        """Blocks held now, all sessions (int)."""
        self._check()
        return fec_decoder_blocks_in_flight(self.dec)

    @property
    def symbols_free(self):
        """Stored packet copies free now (int; max_symbols when idle)."""
        self._check()
        return fec_decoder_symbols_free(self.dec)

    @property
    def sessions(self):
        """Sessions in the table now (at most max_sessions)."""
        self._check()
        return fec_decoder_sessions(self.dec)

    def _link_report(self, uint64_t now):
        """The measurement over the window ending at now (dict), or None when off."""
        cdef fec_link_report rep
        guard_enter(&self.busy, self)
        try:
            self._check()
            if fec_decoder_link_report(self.dec, now, &rep) < 0:
                return None
            return link_report_dict(&rep)
        finally:
            self.busy = 0

    def _take_peer_reports(self):
        out, self._peer = self._peer, []
        return out

    @property
    def control_stats(self):
        """Link reports received: accepted, malformed, old (not newer than the
        last of their sender), unknown (another control message type)."""
        return {"accepted": self.ctrl.accepted, "malformed": self.ctrl.malformed,
                "old": self.ctrl.old, "unknown": self.ctrl.unknown}

    @property
    def live_session(self):
        """Session id of the live session (see Decoder), or None before one is confirmed."""
        self._check()
        live = fec_decoder_live_session(self.dec)
        return live if live else None
