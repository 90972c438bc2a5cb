# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled core of pydpdk.secure: owners of the native sealer and opener.

The secure envelope (docs/secure-format.md) protects each FEC wire v2 packet
with an AEAD (RFC 5116): AES-256-GCM (NIST SP 800-38D) through Intel ipsec-mb
or OpenSSL, or ChaCha20-Poly1305 (RFC 8439) through OpenSSL; per-session keys
come from HKDF-SHA256 (RFC 5869); replays are dropped by an RFC 4303 §3.4.3
sliding window.  The public API is :mod:`pydpdk.secure`.
"""

import errno

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.pycapsule cimport PyCapsule_New
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset

from pydpdk._burst cimport PacketPool
from pydpdk._handle cimport check_rc
from pydpdk._includes.clock cimport pd_clock_ns
from pydpdk._includes.secure cimport (
    PD_SEC_AES256GCM,
    PD_SEC_CHACHA20POLY1305,
    PD_SEC_DROP_N,
    PD_SEC_HDR_LEN,
    PD_SEC_IMPL_AUTO,
    PD_SEC_IMPL_IPSECMB,
    PD_SEC_IMPL_OPENSSL,
    PD_SEC_KEY_LEN,
    PD_SEC_MAX_KEYS,
    PD_SEC_OK,
    PD_SEC_OUTER_ETHER,
    PD_SEC_OUTER_NONE,
    PD_SEC_OUTER_UDP,
    PD_SEC_OVERHEAD,
    PD_SEC_TAG_LEN,
    PD_SEC_WINDOW,
    pd_sec_bench,
    pd_sec_bench_imb_jobs,
    pd_sec_bench_result,
    pd_sec_impl_name,
    pd_sec_impl_resolve,
    pd_sec_info,
    pd_sec_keyset,
    pd_sec_open,
    pd_sec_open_cfg,
    pd_sec_open_stage_create,
    pd_sec_open_stats,
    pd_sec_opener,
    pd_sec_opener_create,
    pd_sec_opener_destroy,
    pd_sec_opener_epoch,
    pd_sec_opener_set_keys,
    pd_sec_opener_stats,
    pd_sec_outer_cfg,
    pd_sec_seal,
    pd_sec_seal_cfg,
    pd_sec_seal_stage_create,
    pd_sec_seal_stats,
    pd_sec_sealer,
    pd_sec_sealer_create,
    pd_sec_sealer_destroy,
    pd_sec_sealer_rekey,
    pd_sec_sealer_state,
    pd_sec_sealer_stats,
    pd_sec_session_key,
    pd_sec_stage,
    pd_sec_stage_bind,
    pd_sec_stage_destroy,
    pd_sec_stage_foreign,
    pd_sec_stage_no_room,
    pd_sec_verdict_name,
)
from pydpdk._includes.stage cimport pd_stage

from pydpdk.errors import PydpdkError, error_from_errno

HDR_LEN = PD_SEC_HDR_LEN
TAG_LEN = PD_SEC_TAG_LEN
OVERHEAD = PD_SEC_OVERHEAD
KEY_LEN = PD_SEC_KEY_LEN
MAX_KEYS = PD_SEC_MAX_KEYS
WINDOW = PD_SEC_WINDOW
AEADS = {"aes-256-gcm": PD_SEC_AES256GCM, "chacha20-poly1305": PD_SEC_CHACHA20POLY1305}
IMPLS = {"auto": PD_SEC_IMPL_AUTO, "ipsec-mb": PD_SEC_IMPL_IPSECMB,
         "openssl": PD_SEC_IMPL_OPENSSL}
#: Drop reasons, index = native verdict (0 is "ok").
VERDICTS = tuple(pd_sec_verdict_name(v).decode() for v in range(PD_SEC_DROP_N))


def info():
    """One line: the crypto libraries and the CPU code paths they use."""
    return pd_sec_info().decode()


cdef int parse_aead(str aead) except -1:
    if aead not in AEADS:
        raise ValueError(f"aead must be one of {', '.join(AEADS)}, got {aead!r}")
    return AEADS[aead]


cdef int parse_impl(int aead, str impl) except -1:
    cdef int r
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {', '.join(IMPLS)}, got {impl!r}")
    r = pd_sec_impl_resolve(aead, IMPLS[impl])
    if r < 0:
        raise PydpdkError(errno.ENOTSUP, f"{impl} does not provide this AEAD in this build")
    return r


def available(str aead="aes-256-gcm", str impl="auto"):
    """Whether this build can run *aead* with library *impl*; the library used if so."""
    cdef int a = parse_aead(aead)
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {', '.join(IMPLS)}, got {impl!r}")
    r = pd_sec_impl_resolve(a, IMPLS[impl])
    return pd_sec_impl_name(r).decode() if r > 0 else None


cdef bytes check_key(key):
    key = bytes(key)
    if len(key) != PD_SEC_KEY_LEN:
        raise ValueError(f"a key is {PD_SEC_KEY_LEN} bytes, got {len(key)}")
    return key


def session_key(master, uint32_t session_id, uint64_t epoch):
    """HKDF-SHA256 session key (32 bytes) of the design: RFC 5869 with salt =
    session id (4, big-endian) || epoch (8, big-endian), info "pydpdk fec v2 session"."""
    cdef bytes k = check_key(master)
    cdef uint8_t out[32]
    if pd_sec_session_key(<const uint8_t *>PyBytes_AS_STRING(k), session_id, epoch, out) != 0:
        raise PydpdkError(errno.EIO, "HKDF failed in libcrypto")
    return PyBytes_FromStringAndSize(<char *>out, 32)


cdef int fill_keyset(pd_sec_keyset *ks, keys) except -1:
    keys = list(keys)
    if not 1 <= len(keys) <= PD_SEC_MAX_KEYS:
        raise ValueError(f"1..{PD_SEC_MAX_KEYS} keys (current and previous), got {len(keys)}")
    memset(ks, 0, sizeof(pd_sec_keyset))
    ids = set()
    for i, (kid, key) in enumerate(keys):
        if not 0 <= kid <= 255 or kid in ids:
            raise ValueError(f"key ids are distinct integers in 0..255, got {kid!r}")
        ids.add(kid)
        key = check_key(key)
        ks.id[i] = <uint8_t>kid
        memcpy(ks.key[i], PyBytes_AS_STRING(key), PD_SEC_KEY_LEN)
    ks.n = <unsigned int>len(keys)
    return 0


cdef int fill_outer(pd_sec_outer_cfg *o, str encap, unsigned int dst_port,
                    unsigned int ethertype) except -1:
    memset(o, 0, sizeof(pd_sec_outer_cfg))
    if encap == "udp":
        o.kind = PD_SEC_OUTER_UDP
        if dst_port > 65535:
            raise ValueError(f"dst_port must be within 0..65535, got {dst_port}")
        o.dst_port = <uint16_t>dst_port
    elif encap in ("ether", "l2"):
        o.kind = PD_SEC_OUTER_ETHER
        if not 0x0600 <= ethertype <= 0xffff:
            raise ValueError(f"ethertype must be within 0x0600..0xffff, got {ethertype:#x}")
        o.ethertype = <uint16_t>ethertype
    elif encap == "none":
        o.kind = PD_SEC_OUTER_NONE
    else:
        raise ValueError(f"encapsulation must be 'udp', 'ether' or 'none', got {encap!r}")
    return 0


cdef class StageHandle:
    """Owner of one native secure stage; its ``pd_stage`` travels in a capsule."""

    cdef pd_sec_stage *st
    cdef pd_stage desc
    cdef object parent             # the Sealer/Opener whose state the stage uses

    def __dealloc__(self):
        pd_sec_stage_destroy(self.st)

    def capsule(self):
        return PyCapsule_New(<void *>&self.desc, b"pydpdk.pd_stage", NULL)

    @property
    def foreign(self):
        return pd_sec_stage_foreign(self.st)

    @property
    def no_room(self):
        return pd_sec_stage_no_room(self.st)


cdef StageHandle make_stage(object parent, pd_sec_sealer *sealer, pd_sec_opener *opener,
                            PacketPool pool, str encap, unsigned int dst_port,
                            unsigned int ethertype):
    """The seal stage of *sealer* or the open stage of *opener* over *pool*."""
    cdef pd_sec_outer_cfg o
    cdef int err = 0
    cdef StageHandle h = StageHandle()
    pool.check_open()
    fill_outer(&o, encap, dst_port, ethertype)
    if sealer != NULL:
        h.st = pd_sec_seal_stage_create(sealer, &o, pool.ops, &err)
    else:
        h.st = pd_sec_open_stage_create(opener, &o, pool.ops, &err)
    if h.st == NULL:
        what = "seal" if sealer != NULL else "open"
        raise error_from_errno(err, f"cannot create the {what} stage", PydpdkError)
    pd_sec_stage_bind(h.st, &h.desc)
    h.parent = parent
    return h


cdef class Sealer:
    """Seal inner plain v2 packets into secure envelopes.

    Parameters: *key* (32 bytes) with its *key_id* (0..255); *aead*
    "aes-256-gcm" or "chacha20-poly1305"; *impl* "auto", "ipsec-mb" or
    "openssl"; *session_id* 0 follows the inner packet's session id (v2
    header offset 12); *epoch* 0 takes CLOCK_REALTIME (ns) at each session
    start.  Raises ValueError (arguments), PydpdkError (library missing).
    """

    cdef pd_sec_sealer *s
    cdef readonly str aead, impl

    def __init__(self, key, int key_id, str aead="aes-256-gcm", str impl="auto",
                 uint32_t session_id=0, uint64_t epoch=0):
        cdef pd_sec_seal_cfg c
        cdef int err = 0
        cdef bytes k = check_key(key)
        if not 0 <= key_id <= 255:
            raise ValueError(f"key id must be within 0..255, got {key_id}")
        memset(&c, 0, sizeof(c))
        c.aead = parse_aead(aead)
        c.impl = parse_impl(c.aead, impl)
        c.key_id = <uint8_t>key_id
        memcpy(c.key, PyBytes_AS_STRING(k), PD_SEC_KEY_LEN)
        c.session_id = session_id
        c.epoch = epoch
        self.s = pd_sec_sealer_create(&c, &err)
        memset(c.key, 0, PD_SEC_KEY_LEN)
        if self.s == NULL:
            raise error_from_errno(err, "cannot create the sealer", PydpdkError)
        self.aead = aead
        self.impl = pd_sec_impl_name(c.impl).decode()

    def __dealloc__(self):
        pd_sec_sealer_destroy(self.s)

    def seal(self, inner):
        """Seal one inner packet into a secure envelope (docs/secure-format.md).

        Not thread-safe: one sealer per thread.

        Parameters
        ----------
        inner : bytes-like
            A plain FEC v2 packet, at most 65495 bytes.

        Returns
        -------
        bytes
            The envelope, ``len(inner) + 40`` bytes (24-byte header, the
            encrypted packet, 16-byte tag).

        Raises
        ------
        ValueError
            *inner* is too long, or (following inner session ids) not a v2
            packet (shorter than 20 bytes, version != 2, session id 0).
        PydpdkError
            The AEAD failed in the crypto library (its errno).
        """
        cdef Py_buffer view
        cdef bytes out
        cdef int rc
        cdef uint8_t *dst
        PyObject_GetBuffer(inner, &view, PyBUF_SIMPLE)
        try:
            if view.len > 65535 - PD_SEC_OVERHEAD:
                raise ValueError(f"inner packet of {view.len} bytes is too long")
            out = PyBytes_FromStringAndSize(NULL, view.len + PD_SEC_OVERHEAD)
            dst = <uint8_t *>PyBytes_AS_STRING(out)
            memcpy(dst + PD_SEC_HDR_LEN, view.buf, view.len)
            with nogil:
                rc = pd_sec_seal(self.s, dst, <uint32_t>view.len)
        finally:
            PyBuffer_Release(&view)
        if rc == -errno.EINVAL:
            raise ValueError("not a v2 packet (>= 20 bytes, version 2, session id != 0)")
        check_rc(rc, "sealing failed", PydpdkError)
        return out

    def rekey(self, int key_id, key):
        """Seal with another master key from the next packet on (new epoch).

        Parameters
        ----------
        key_id : int
            The key's id, 0..255.
        key : bytes
            The 32-byte master key.

        Raises
        ------
        ValueError
            *key_id* out of range or *key* not 32 bytes.
        """
        cdef bytes k = check_key(key)
        if not 0 <= key_id <= 255:
            raise ValueError(f"key id must be within 0..255, got {key_id}")
        pd_sec_sealer_rekey(self.s, <uint8_t>key_id, <const uint8_t *>PyBytes_AS_STRING(k))

    @property
    def state(self):
        """The sealer's current session (dict of str to int).

        ``session_id``, ``epoch`` (ns), ``counter`` (of the next packet) and
        ``key_id``.
        """
        cdef uint32_t sid
        cdef uint64_t epoch, ctr
        cdef uint8_t kid
        pd_sec_sealer_state(self.s, &sid, &epoch, &ctr, &kid)
        return {"session_id": sid, "epoch": epoch, "counter": ctr, "key_id": kid}

    @property
    def stats(self):
        """The sealer's counters (dict of str to int).

        ``sealed`` (packets), ``bytes`` (inner bytes sealed), ``sessions``
        (sessions started), ``malformed`` (not a v2 packet: dropped by the
        stage, ValueError from :meth:`seal`) and ``rekeys``.
        """
        cdef pd_sec_seal_stats st
        pd_sec_sealer_stats(self.s, &st)
        return {"sealed": st.sealed, "bytes": st.bytes, "sessions": st.sessions,
                "malformed": st.malformed, "rekeys": st.rekeys}

    def stage(self, PacketPool pool not None, str encap="udp", unsigned int dst_port=0,
              unsigned int ethertype=0x88b5):
        """A native seal stage over *pool*'s packets (see pydpdk.secure.SealStage)."""
        return make_stage(self, self.s, NULL, pool, encap, dst_port, ethertype)


cdef class Opener:
    """Verify and decrypt secure envelopes.

    *keys*: list of (key id, 32-byte key), at most 2 (current and previous).
    *max_sessions* bounds the session table; *derive_per_ms* bounds the HKDF
    derivations for unknown sessions per millisecond; *check_inner* requires
    the inner packet to be v2 with the envelope's session id; *state_path*
    keeps the last accepted epoch per key id across restarts (loaded here,
    rewritten atomically on each new session).  Raises ValueError
    (arguments), PydpdkError (bad state file: EINVAL; library missing).
    """

    cdef pd_sec_opener *o
    cdef readonly str aead, impl
    cdef readonly object state_path

    def __init__(self, keys, str aead="aes-256-gcm", str impl="auto",
                 unsigned int max_sessions=16, unsigned int derive_per_ms=8,
                 bint check_inner=True, state_path=None):
        cdef pd_sec_open_cfg c
        cdef int err = 0
        cdef bytes path = None
        memset(&c, 0, sizeof(c))
        c.aead = parse_aead(aead)
        c.impl = parse_impl(c.aead, impl)
        fill_keyset(&c.keys, keys)
        if not 1 <= max_sessions <= 4096:
            raise ValueError(f"max_sessions must be within 1..4096, got {max_sessions}")
        c.max_sessions = max_sessions
        c.derive_per_ms = derive_per_ms
        c.check_inner = check_inner
        if state_path is not None:
            path = str(state_path).encode()
            c.state_path = path
        self.o = pd_sec_opener_create(&c, &err)
        memset(&c.keys, 0, sizeof(c.keys))
        if self.o == NULL:
            if err == -errno.EINVAL and state_path is not None:
                raise PydpdkError(errno.EINVAL, f"{state_path}: not a pydpdk secure state "
                                  "file (expected 'pydpdk-secure-state 1' and epoch lines)")
            raise error_from_errno(err, "cannot create the opener", PydpdkError)
        self.aead = aead
        self.impl = pd_sec_impl_name(c.impl).decode()
        self.state_path = state_path

    def __dealloc__(self):
        pd_sec_opener_destroy(self.o)

    def open(self, packet, now_ns=None):
        """Verify and decrypt one envelope; never raises for bad input.

        Not thread-safe: one opener per thread (:meth:`set_keys` excepted).

        Parameters
        ----------
        packet : bytes-like
            A received envelope.
        now_ns : int, optional
            Monotonic clock in ns for the derivation budget (default: now).

        Returns
        -------
        tuple of (str, bytes or None)
            ``("ok", inner packet)``, or the drop reason (one of ``VERDICTS``:
            ``"malformed"``, ``"unknown_key"``, ``"bad_tag"``,
            ``"replayed"``, ``"too_old"``, ``"stale_epoch"``,
            ``"rate_limited"``) and None; each drop is counted in ``stats``.
        """
        cdef Py_buffer view
        cdef bytearray buf
        cdef uint32_t inner = 0, n
        cdef uint64_t now = pd_clock_ns() if now_ns is None else <uint64_t>now_ns
        cdef int v
        cdef uint8_t *p
        PyObject_GetBuffer(packet, &view, PyBUF_SIMPLE)
        try:
            n = <uint32_t>view.len
            buf = bytearray(n + 1)          # never empty: a valid pointer for n == 0
            memcpy(<char *>buf, view.buf, n)
        finally:
            PyBuffer_Release(&view)
        p = <uint8_t *>(<char *>buf)
        with nogil:
            v = pd_sec_open(self.o, p, n, now, &inner)
        if v != PD_SEC_OK:
            return VERDICTS[v], None
        return "ok", bytes(buf[PD_SEC_HDR_LEN:PD_SEC_HDR_LEN + inner])

    def set_keys(self, keys):
        """Replace the accepted keys from the next packet on.

        Sessions under a removed key id end.  Safe while a pipeline runs the
        opener.

        Parameters
        ----------
        keys : sequence of (int, bytes)
            1 or 2 ``(key id, 32-byte key)`` pairs.

        Raises
        ------
        ValueError
            Not 1 or 2 keys, an id out of range or repeated, or a key not 32
            bytes.
        """
        cdef pd_sec_keyset ks
        fill_keyset(&ks, keys)
        pd_sec_opener_set_keys(self.o, &ks)
        memset(&ks, 0, sizeof(ks))

    def epoch(self, int key_id):
        """Last accepted epoch of *key_id*.

        Parameters
        ----------
        key_id : int
            Key id, 0..255.

        Returns
        -------
        int
            The epoch (ns), 0 if none was accepted.

        Raises
        ------
        ValueError
            *key_id* out of range.
        """
        if not 0 <= key_id <= 255:
            raise ValueError(f"key id must be within 0..255, got {key_id}")
        return pd_sec_opener_epoch(self.o, <uint8_t>key_id)

    @property
    def stats(self):
        """dict: opened, bytes, sessions, derivations, state_saves,
        state_errors, and one count per drop reason (VERDICTS[1:])."""
        cdef pd_sec_open_stats st
        pd_sec_opener_stats(self.o, &st)
        d = {"opened": st.opened, "bytes": st.bytes, "sessions": st.sessions,
             "derivations": st.derivations, "state_saves": st.state_saves,
             "state_errors": st.state_errors}
        for v in range(1, PD_SEC_DROP_N):
            d[VERDICTS[v]] = st.drops[v]
        return d

    def stage(self, PacketPool pool not None, str encap="udp", unsigned int dst_port=0,
              unsigned int ethertype=0x88b5):
        """A native open stage over *pool*'s packets (see pydpdk.secure.OpenStage)."""
        return make_stage(self, NULL, self.o, pool, encap, dst_port, ethertype)


def bench(str aead="aes-256-gcm", str impl="auto", unsigned int inner_len=1400,
          unsigned long long packets=100000):
    """Time seal, open and forged-packet drops on this thread (native loop,
    batches of 256).  Returns a dict of totals in ns and packet counts."""
    cdef pd_sec_bench_result r
    cdef int a = parse_aead(aead)
    cdef int i = parse_impl(a, impl)
    cdef int rc
    with nogil:
        rc = pd_sec_bench(a, i, inner_len, packets, &r)
    check_rc(rc, "benchmark failed", PydpdkError)
    return {"impl": pd_sec_impl_name(i).decode(), "packets": r.packets,
            "seal_ns": r.seal_ns, "open_ns": r.open_ns, "forged_ns": r.forged_ns,
            "flood_packets": r.flood_packets, "flood_ns": r.flood_ns,
            "flood_derivations": r.flood_derivations}


def bench_imb_jobs(unsigned int length=1400, unsigned long long packets=100000):
    """ipsec-mb AES-256-GCM sealing through its job API and its direct API on
    the same buffers: (job ns, direct ns) totals, or None without ipsec-mb."""
    cdef uint64_t j = 0, d = 0
    cdef int rc
    with nogil:
        rc = pd_sec_bench_imb_jobs(length, packets, &j, &d)
    if rc == -errno.ENOTSUP:
        return None
    check_rc(rc, "benchmark failed", PydpdkError)
    return j, d
