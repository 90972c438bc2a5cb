"""Packet-level forward error correction.

Three ways in, all backed by the native codec in ``native/fec`` (SIMD
GF(2^8) kernels chosen at run time) and all running their loops with the GIL
released:

* :class:`Encoder` / :class:`Decoder` - the streaming packet codec.  The
  encoder turns payloads into wire packets (a :data:`HEADER_LEN`-byte header
  + the payload, never delayed) and adds parity packets whenever a block
  closes; the decoder takes wire packets in any order and returns the
  payloads, rebuilding lost ones as soon as enough packets of their block
  arrived.  The wire format (version 2) is self-describing
  (``docs/fec-format.md``): the decoder needs no settings from the encoder.
  Every encoder has a session id (random at each start), and the decoder
  keeps state per session, so a restarted encoder is decoded at once.
  Plain mode trusts the link: the header check catches corruption, not
  forgery.
* :class:`BlockCodec` - the plain block code: k equal-length data symbols to
  m parity symbols, and back.
* :func:`available_kernels`, :func:`default_kernel` - which SIMD kernels this
  CPU runs.  ``PYDPDK_FEC_KERNEL=scalar|avx2|avx2gfni|gfni`` overrides the default at
  start-up; each codec object also takes ``kernel=``.

Settings: the encoder's and the decoder's are :class:`~pydpdk.fec_config.EncoderConfig` and
:class:`~pydpdk.fec_config.DecoderConfig` (:mod:`pydpdk.fec_config`), the same names, units and
checks as the pipeline stages, the gateway and the CLI; each codec takes
them as keywords or as ``config=``.

Time: ``now`` arguments are integers in nanoseconds of any monotonic clock
(default :func:`time.monotonic_ns`); durations (deadline, timeout, windows)
are given in seconds.

Errors: a setting out of range raises
:class:`~pydpdk.fec_config.FecConfigError` (a :class:`ValueError`), of the
wrong type :class:`TypeError`, a kernel this CPU cannot run and codec
failures :class:`pydpdk.errors.FecError`; bad packets from the wire never
raise: they are counted (``Decoder.stats``) and dropped.

Sources: Reed-Solomon over GF(2^8) with a Cauchy generator matrix (any k
of the k + m symbols rebuild a block), XOR parity, the sliding-window
random linear code in the style of RFC 8681 (the FEC framework of RFC 8680
around it), and the wire format of docs/fec-format.md (version 2).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any, Union

import numpy as np

from . import _fec
from .adaptive import AdaptivePolicy, Controller, FecSetting, LinkReport
from .errors import FecError
from .fec_config import DecoderConfig, EncoderConfig, FecConfigError

# measure_window_ms not given (None and 0 mean "off")
_UNSET_MS: Any = object()

__all__ = [
    "DEFAULT_MAX_SESSIONS",
    "HEADER_LEN",
    "MAX_PAYLOAD",
    "VERSION",
    "AdaptivePolicy",
    "BlockCodec",
    "Decoder",
    "DecoderConfig",
    "Encoder",
    "EncoderConfig",
    "FecConfigError",
    "FecError",
    "FecSetting",
    "LinkReport",
    "available_kernels",
    "default_kernel",
]

HEADER_LEN: int = _fec.HEADER_LEN
"""Bytes of FEC header in front of every wire packet (20 in version 2)."""

VERSION: int = _fec.VERSION
"""Wire format version written and accepted (docs/fec-format.md)."""

DEFAULT_MAX_SESSIONS: int = _fec.DEFAULT_MAX_SESSIONS
"""Sessions a :class:`Decoder` keeps side by side unless told otherwise."""

MAX_PAYLOAD: int = _fec.MAX_PAYLOAD
"""Largest payload the wire format allows, bytes (native/fec/fec.h FEC_MAX_PAYLOAD)."""

BytesLike = Union[bytes, bytearray, memoryview, np.ndarray]


def available_kernels() -> list[str]:
    """The GF(2^8) kernels this CPU can run, slowest first.

    Returns
    -------
    list of str
        Kernel names (``"scalar"``, ``"avx2"``, ``"avx2gfni"``, ``"gfni"``)
        this CPU supports.
    """
    return [name for name in _fec.kernel_names() if _fec.kernel_supported(name)]


def default_kernel() -> str:
    """The kernel used when none is named.

    Returns
    -------
    str
        The best kernel this CPU supports, or ``PYDPDK_FEC_KERNEL`` when set.
    """
    return _fec.default_kernel()


def _now(now: int | None) -> int:
    if now is None:
        return time.monotonic_ns()
    if now < 0:
        raise ValueError(f"now must be a non-negative nanosecond count (got {now})")
    return int(now)



class Encoder(_fec.StreamEncoder):
    """Streaming FEC encoder: payloads in, wire packets (source + parity) out.

    Each payload is folded into its block's parity as it passes and comes
    back at once as a wire packet (header + payload).  A block closes when it
    has *k* packets, or *timeout* seconds after its first packet (checked by
    :meth:`encode` and :meth:`poll`), or on :meth:`flush`; it then adds *m*
    parity packets (a partial block gets parity too).  With *depth* D > 1,
    D blocks are open at once and packets are dealt round-robin, so a burst
    of up to D consecutive losses costs each block one packet.  Not
    thread-safe: a call while another thread is inside one raises
    :class:`pydpdk.errors.ConcurrentUseError`.

    Every packet carries the encoder's :attr:`session_id`, drawn at random
    (``getrandom(2)``) for each new encoder unless given, so a decoder tells
    a restarted sender's stream from the old one and uses it at once.

    The settings are :class:`~pydpdk.fec_config.EncoderConfig`'s: the same
    names, units, defaults, checks and errors as the pipeline's
    FecEncodeStage, the gateway and the CLI.

    Parameters
    ----------
    k : int, default 10
        rs/xor: data packets per block, ``k >= 1``, ``k + m <= 255``.  rlc:
        source packets between repair batches, 1..255.
    m : int, default 4
        rs/xor: parity packets per block, ``m >= 1`` (xor: 1).  rlc: repair
        packets per batch, 1..255.
    code : {"rs", "xor", "rlc"}, default "rs"
        ``"rs"`` (Reed-Solomon, Cauchy; any m), ``"xor"`` (m = 1) or
        ``"rlc"``: the sliding-window random linear code (RFC 8681 style,
        wire code 3).  For rlc each repair covers the last *window* source
        packets; sources are still sent at once, and a lost one is rebuilt
        from any repairs whose windows cover it.
    depth : int, default 1
        Interleaving depth D (blocks open at once), 1..1024; 1 for rlc.
    window : int, optional
        rlc only: source packets each repair covers, k..255 (None: k).
        Read back with :attr:`window` (0 for rs/xor).  For rlc the
        ``stats`` count repair batches in ``blocks`` (``blocks_partial``:
        batches sent early, by *deadline* or :meth:`flush`), and *deadline*
        counts from a batch's first source.
    max_payload : int, default 1518
        Largest payload accepted, bytes, 1..65000 (:data:`MAX_PAYLOAD`).
    deadline : float or None, default 0.005
        Seconds after a block's first packet at which an unfinished block
        is closed (checked by :meth:`encode` and :meth:`poll`); 0 or None:
        never by time.
    kernel : str, optional
        ``"scalar"``, ``"avx2"``, ``"avx2gfni"``, ``"gfni"`` or None (the
        best this CPU runs).
    session_id : int, optional
        The 32-bit session id, 1..2**32-1, or None for a random one (the
        normal case; give one for tests, or to run one encoder per queue
        with ids of your choosing).  Read back with :attr:`session_id`.
    first_block_id : int, default 0
        Block id of the first block (48 bits, wraps).
    max_m : int, optional
        Largest m :meth:`apply_report` may switch to (memory is sized for
        it), m..254; None: m (with *adaptive*: ``policy.max_m``).
    max_depth : int, optional
        Largest depth a switch may choose, depth..1024; None: depth (with
        *adaptive*: the largest of ``policy.depths``).
    keys : KeyFile, path or list of (id, 32-byte key), optional
        Secure mode (docs/secure-format.md): every wire packet is sealed
        with the AEAD *aead* under the newest key (pydpdk.secure.Sealer).
    aead : {"aes-256-gcm", "chacha20-poly1305"}, default "aes-256-gcm"
        The AEAD of secure mode.
    adaptive : AdaptivePolicy, optional
        Adaptive redundancy (pydpdk.adaptive): :meth:`apply_report` feeds
        the peer decoder's link reports to a controller that changes code,
        k, m and depth (at a block boundary) to meet the policy's target
        residual loss with the least overhead.  *k*, *m*, *depth* are the
        setting before the first report (or ``policy.initial``).
    config : EncoderConfig, optional
        All the settings at once (the setting keywords above are then
        ignored).
    timeout : float, optional
        The old name of *deadline* (seconds); when given it wins.

    Raises
    ------
    FecConfigError
        (a ValueError) A setting out of range or a wrong combination
        (:class:`~pydpdk.fec_config.EncoderConfig`); *adaptive* is not an AdaptivePolicy.
    TypeError
        A setting of the wrong type, or *config* is not an EncoderConfig.
    FecError
        *kernel* cannot run on this CPU (ENOTSUP), or no memory.
    """

    def __init__(self, k: int = 10, m: int = 4, *, code: str = "rs", depth: int = 1,
                 window: int | None = None, max_payload: int = 1518,
                 deadline: float | None = 0.005, kernel: str | None = None,
                 session_id: int | None = None, first_block_id: int = 0,
                 max_m: int | None = None, max_depth: int | None = None,
                 keys: Any = None, aead: str = "aes-256-gcm",
                 adaptive: AdaptivePolicy | None = None,
                 config: EncoderConfig | None = None, timeout: float | None = None) -> None:
        if timeout is not None:            # the old name of deadline
            deadline = timeout
        if adaptive is not None:
            if not isinstance(adaptive, AdaptivePolicy):
                raise FecConfigError("adaptive", "adaptive must be an AdaptivePolicy "
                                     f"(got {adaptive!r})")
            if adaptive.initial is not None:
                k, m = adaptive.initial
            # memory for what the controller may choose
            max_m = max_m if max_m is not None else max(adaptive.max_m, m)
            max_depth = max_depth if max_depth is not None else max(adaptive.max_depth, depth)
        if config is None:
            config = EncoderConfig(code=code, k=k, m=m, depth=depth, window=window,
                                   max_payload=max_payload, deadline=deadline, kernel=kernel,
                                   session_id=session_id, first_block_id=first_block_id,
                                   max_m=max_m, max_depth=max_depth)
        elif not isinstance(config, EncoderConfig):
            raise TypeError(f"config must be an EncoderConfig, got {type(config).__name__}")
        self._open(config)
        self.config = config
        self._sealer = None
        if keys is not None:
            from . import secure

            self._sealer = secure.Sealer(keys, aead=aead, session_id=self.session_id)
        self._controller: Controller | None = None
        self._ignored_reports = 0
        start = FecSetting(self.code, self.k, self.m, self.depth, 0, self.m / self.k, 0.0,
                           "fixed" if adaptive is None else "initial setting")
        self._fixed = start
        if adaptive is not None:
            self._controller = Controller(adaptive, start, deadline=config.deadline)

    @property
    def setting(self) -> FecSetting:
        """The setting in force (FecSetting; asked for: it takes effect at the next packet)."""
        if self._controller is None:
            return self._fixed
        return self._controller.current

    @property
    def adaptive(self) -> AdaptivePolicy | None:
        """The policy (AdaptivePolicy), or None for a fixed setting."""
        return None if self._controller is None else self._controller.policy

    @property
    def reports_ignored(self) -> int:
        """Reports about another encoder session (a previous run), ignored (int)."""
        return self._ignored_reports

    def apply_report(self, report: LinkReport, now: int | None = None) -> FecSetting:
        """Feed one link report of the peer decoder; returns the setting now in force.

        A change is applied at the next block boundary (open blocks close
        with their parity first).  A report that names another sender
        session than this encoder's is ignored (counted in
        :attr:`reports_ignored`).

        Parameters
        ----------
        report : LinkReport
            The peer decoder's measurement (docs/fec-format.md, "Link report").
        now : int, optional
            Nanoseconds of the caller's monotonic clock (default
            :func:`time.monotonic_ns`).

        Returns
        -------
        FecSetting
            The setting in force after this report.

        Raises
        ------
        ValueError
            The encoder was made without *adaptive*, *report* is not a
            LinkReport, or *now* is negative.
        """
        if self._controller is None:
            raise ValueError("apply_report needs an adaptive encoder (Encoder(adaptive=...))")
        if not isinstance(report, LinkReport):
            raise ValueError(f"report must be a LinkReport (got {type(report).__name__})")
        if report.session_id not in (0, self.session_id):
            self._ignored_reports += 1
            return self._controller.current
        before = self._controller.current
        after = self._controller.decide(report, _now(now))
        if (after.code, after.k, after.m, after.depth) != \
                (before.code, before.k, before.m, before.depth):
            self._set_params(after.code, after.k, after.m, after.depth)
        return after

    def _seal(self, packets: list[bytes]) -> list[bytes]:
        if self._sealer is None:
            return packets
        return [self._sealer.seal(p) for p in packets]

    def encode(self, packets: Iterable[BytesLike], now: int | None = None) -> list[bytes]:
        """Encode a batch of payloads; returns the wire packets to send, in order.

        Parameters
        ----------
        packets : iterable of bytes-like
            Payloads, each 1..*max_payload* bytes.
        now : int, optional
            Nanoseconds of the caller's monotonic clock (default
            :func:`time.monotonic_ns`): the deadline's time base.

        Returns
        -------
        list of bytes
            Wire packets: each payload behind its :data:`HEADER_LEN`-byte
            header, and the parity of every block that closed (sealed in
            secure mode).

        Raises
        ------
        ValueError
            An empty or too long payload, a negative *now*, or the encoder
            is closed.
        ConcurrentUseError
            Another thread is inside a call of this encoder.
        FecError
            The codec failed (no memory).
        """
        return self._seal(self._encode(list(packets), _now(now)))

    def poll(self, now: int | None = None) -> list[bytes]:
        """Close blocks whose deadline passed; returns their parity packets.

        Parameters
        ----------
        now : int, optional
            Nanoseconds of the caller's monotonic clock (default
            :func:`time.monotonic_ns`).

        Returns
        -------
        list of bytes
            Parity packets of the blocks closed.

        Raises
        ------
        ValueError
            A negative *now*, or the encoder is closed.
        ConcurrentUseError
            Another thread is inside a call of this encoder.
        """
        return self._seal(self._poll(_now(now), False))

    def flush(self) -> list[bytes]:
        """Close every open block now; returns the parity packets.

        Returns
        -------
        list of bytes
            Parity packets of every block that was open.

        Raises
        ------
        ValueError
            The encoder is closed.
        ConcurrentUseError
            Another thread is inside a call of this encoder.
        """
        return self._seal(self._poll(0, True))


class Decoder(_fec.StreamDecoder):
    """Streaming FEC decoder: wire packets in (any order), payloads out.

    Source packets come out at once; lost ones come out as soon as enough
    packets of their block arrived to rebuild them, byte-identical to the
    originals.  Malformed, duplicate and late packets are counted in
    :attr:`stats` and dropped.  State is bounded: at most *max_blocks* blocks
    in flight (the oldest is given up first) and *max_symbols* stored packet
    copies; a block is given up *timeout* seconds after its first packet.
    Not thread-safe: a call while another thread is inside one raises
    :class:`pydpdk.errors.ConcurrentUseError`.

    Sessions: state is kept per encoder session id, up to *max_sessions*
    side by side (memory for all of them is allocated up front).  A new id
    gets a session at once; when the table is full it replaces a session
    that is not *live* (unconfirmed ones first, then the least recently
    used).  A session is confirmed after 4 packets taken into its state;
    the live session is the confirmed one that delivered most recently, and
    it is never replaced, nor are its blocks given up while other sessions
    hold some.  Until a session is confirmed its window follows the blocks
    it opens; from then on, a block id more than ``2 * max_blocks``
    ahead of the newest is dropped (``unconfirmed``) unless 3 distinct
    packets in a row agree on that region; then the window moves
    (``resyncs``).  So one stray packet never stalls a stream.  Plain mode
    trusts the link: a forger who knows the live session id can still
    disturb it (see docs/fec-format.md).

    :attr:`stats` is a dict of packet counts: ``received``, ``delivered``,
    ``recovered``, ``unrecoverable``, ``duplicate``, ``late``,
    ``malformed``, ``repair_unused``, ``no_buffer``, ``blocks_evicted``,
    ``blocks_expired``, ``unconfirmed`` (dropped: far ahead, not confirmed),
    ``resyncs`` (window moves after confirmation), ``control`` (control
    packets: counted and dropped here, their content is for a feedback
    layer), ``sessions_opened``, ``sessions_evicted``.

    Code 3 (rlc) streams are decoded too, recognised from the header: the
    decoder keeps, per session (for at most 8 sessions at once), the
    stored copies of recent sources and the pending repair equations over
    the unknown ones (at most 128, over the last 512 sequence numbers),
    solved by incremental Gaussian elimination; a lost packet is delivered
    only once the equations determine it.  The same counters apply
    (``blocks_expired`` counts rlc sources given up by *timeout*).

    Secure mode: with *keys* every packet is authenticated and decrypted
    (pydpdk.secure.Opener, AEAD *aead*, newest epochs kept in
    *state_path*) before the decoder sees it; what fails is dropped and
    counted in :attr:`secure_stats` by reason.

    Link measurement (native/fec/measure.c): over the last *measure_window*
    seconds (0: off) the decoder measures the sender session it follows:
    loss, bursts, reordering, recovery delay (:meth:`link_report`).
    :meth:`feedback` makes a control packet of it every *report_interval*
    seconds for the peer's adaptive encoder; control packets received are
    checked and their reports kept for :meth:`peer_reports` (malformed, old
    or repeated ones are counted in :attr:`control_stats` and dropped).

    The settings are :class:`~pydpdk.fec_config.DecoderConfig`'s: the same
    names, units, defaults, checks and errors as the pipeline's
    FecDecodeStage, the gateway and the CLI, but for *measure_window*, on
    (1 s) here for :meth:`link_report` and :meth:`feedback`, off in a stage
    unless its tunnel is adaptive (measuring costs time per packet).

    Parameters
    ----------
    max_payload : int, default 1518
        Largest payload accepted, bytes, 1..65000 (larger packets count as
        malformed).
    max_blocks : int, default 256
        Blocks in flight (all sessions), 1..65536.
    max_symbols : int, optional
        Stored symbol copies, 255..2**24 (default ``max(255, 32 *
        max_blocks)``).
    timeout : float or None, default 0.05
        Seconds before an incomplete block is given up; 0 or None: never.
    cache_entries : int, default 64
        Decode matrices kept, by loss pattern (LRU), 0..65536.
    kernel : str, optional
        ``"scalar"``, ``"avx2"``, ``"avx2gfni"``, ``"gfni"`` or None (the
        best this CPU runs).
    max_sessions : int, default 8
        Sessions decoded side by side, 2..4096, with
        ``max_sessions * max_blocks <= 2**20`` (each session keeps a history
        of 4 * max_blocks finished blocks, 48 bytes each).
    measure_window : float, default 1.0
        Seconds of link measurement, 0.001..3600; 0: off.
    report_interval : float, default 0.1
        Seconds between the control packets :meth:`feedback` makes.
    keys : KeyFile, path or list of (id, 32-byte key), optional
        Secure mode's keys (docs/secure-format.md).
    aead : {"aes-256-gcm", "chacha20-poly1305"}, default "aes-256-gcm"
        The AEAD of secure mode.
    state_path : path, optional
        Secure mode: where the newest accepted epoch per key id is kept.
    config : DecoderConfig, optional
        All the settings at once (the setting keywords above are then
        ignored).
    cache_size : int, optional
        The old name of *cache_entries*; when given it wins.
    measure_window_ms : float, optional
        The old *measure_window* in milliseconds (None or 0: off); when
        given it wins.
    feedback_interval_ms : float, optional
        The old *report_interval* in milliseconds; when given it wins.

    Raises
    ------
    FecConfigError
        (a ValueError) A setting out of range (:class:`~pydpdk.fec_config.DecoderConfig`).
    TypeError
        A setting of the wrong type, or *config* is not a DecoderConfig.
    FecError
        *kernel* cannot run on this CPU (ENOTSUP), or no memory.
    """

    def __init__(self, *, max_payload: int = 1518, max_blocks: int = 256,
                 max_symbols: int | None = None, timeout: float | None = 0.05,
                 cache_entries: int = 64, kernel: str | None = None,
                 max_sessions: int = DEFAULT_MAX_SESSIONS, measure_window: float = 1.0,
                 report_interval: float = 0.1, keys: Any = None,
                 aead: str = "aes-256-gcm", state_path: Any = None,
                 config: DecoderConfig | None = None, cache_size: int | None = None,
                 measure_window_ms: float | None = _UNSET_MS,
                 feedback_interval_ms: float | None = None) -> None:
        # The old names (milliseconds, cache_size) still work.
        if cache_size is not None:
            cache_entries = cache_size
        if measure_window_ms is not _UNSET_MS:
            measure_window = (measure_window_ms or 0) / 1e3
        if feedback_interval_ms is not None:
            report_interval = feedback_interval_ms / 1e3
        if config is None:
            config = DecoderConfig(max_payload=max_payload, max_blocks=max_blocks,
                                   max_symbols=max_symbols, timeout=timeout,
                                   cache_entries=cache_entries, kernel=kernel,
                                   max_sessions=max_sessions, measure_window=measure_window,
                                   report_interval=report_interval)
        elif not isinstance(config, DecoderConfig):
            raise TypeError(f"config must be a DecoderConfig, got {type(config).__name__}")
        self._open(config)
        self.config = config
        self._opener = None
        if keys is not None:
            from . import secure

            self._opener = secure.Opener(keys, aead=aead, state_path=state_path)
        self._feedback_ns = int(config.report_interval * 1e9)
        self._last_feedback: int | None = None
        self._feedback_seq = 0
        self._feedback_session = 0

    def link_report(self, now: int | None = None) -> LinkReport:
        """What the decoder measured over the window ending at *now*.

        Parameters
        ----------
        now : int, optional
            Nanoseconds of the caller's monotonic clock (default
            :func:`time.monotonic_ns`).

        Returns
        -------
        LinkReport
            Loss, bursts, reordering and recovery delay of the session it
            follows (docs/fec-format.md, "Link report").

        Raises
        ------
        ValueError
            Made with ``measure_window=0`` (measurement off), or a negative
            *now*.
        """
        d = self._link_report(_now(now))
        if d is None:
            raise ValueError("link measurement is off (measure_window=0)")
        return LinkReport.from_native(d)

    def feedback(self, now: int | None = None, encoder: Encoder | None = None) -> bytes | None:
        """A control packet with the link report, when one is due, else None.

        Due every *report_interval* seconds (the first call is due), and
        only when the window holds packets.  The packet carries *encoder*'s
        session id and, in secure mode, is sealed by it (send it with that
        encoder's packets); without *encoder* a random session id of this
        decoder's own.  Sequence numbers increase by one per packet.

        Parameters
        ----------
        now : int, optional
            Nanoseconds of the caller's monotonic clock (default
            :func:`time.monotonic_ns`).
        encoder : Encoder, optional
            The encoder whose packets carry the report.

        Returns
        -------
        bytes or None
            A control packet (docs/fec-format.md, "Control packets"), or
            None when none is due.
        """
        t = _now(now)
        if self._last_feedback is not None and t - self._last_feedback < self._feedback_ns:
            return None
        rep = self._link_report(t)
        if rep is None or rep["packets"] == 0:
            return None
        self._last_feedback = t
        self._feedback_seq += 1
        if encoder is not None:
            session = encoder.session_id
        else:
            if not self._feedback_session:
                import secrets

                self._feedback_session = secrets.randbelow(0xFFFFFFFF) + 1
            session = self._feedback_session
        pkt = _fec.control_packet(session, self._feedback_seq, rep)
        return encoder._seal([pkt])[0] if encoder is not None else pkt

    def peer_reports(self) -> list[LinkReport]:
        """Link reports received in control packets since the last call, oldest first.

        Returns
        -------
        list of LinkReport
            At most 64 kept; each checked and newer than the previous one
            of its sender.
        """
        return [LinkReport.from_native(d) for d in self._take_peer_reports()]

    @property
    def secure_stats(self) -> dict[str, int] | None:
        """Secure mode's counts (dict of str to int: opened, and drops by reason), else None."""
        return None if self._opener is None else dict(self._opener.stats)

    def decode(self, packets: Iterable[BytesLike], now: int | None = None) -> list[bytes]:
        """Take a batch of wire packets; returns the payloads now available, in order.

        Parameters
        ----------
        packets : iterable of bytes-like
            Wire packets in any order (sealed ones in secure mode).
        now : int, optional
            Nanoseconds of the caller's monotonic clock (default
            :func:`time.monotonic_ns`): the timeout's time base.

        Returns
        -------
        list of bytes
            Payloads delivered (originals at once, rebuilt ones as soon as
            possible); bad packets are counted in :attr:`stats`, never raised.

        Raises
        ------
        ValueError
            A negative *now*, or the decoder is closed.
        ConcurrentUseError
            Another thread is inside a call of this decoder.
        MemoryError
            No memory for the output.
        """
        batch = list(packets)
        if self._opener is not None:       # nothing unauthenticated reaches FEC state
            batch = [inner for _, inner in map(self._opener.open, batch) if inner is not None]
        return self._decode(batch, _now(now))

    def poll(self, now: int | None = None) -> int:
        """Give up blocks whose timeout passed.

        Parameters
        ----------
        now : int, optional
            Nanoseconds of the caller's monotonic clock (default
            :func:`time.monotonic_ns`).

        Returns
        -------
        int
            Blocks given up (their losses counted as unrecoverable).

        Raises
        ------
        ValueError
            A negative *now*, or the decoder is closed.
        ConcurrentUseError
            Another thread is inside a call of this decoder.
        """
        return self._poll(_now(now))


def _as_blocks(data: Any, rows: int, what: str) -> tuple[np.ndarray, bool]:
    """(n, rows, L) uint8 C-contiguous view of data; True when data was one block."""
    if isinstance(data, np.ndarray):
        arr = data
    else:
        items = list(data)
        lengths = {len(memoryview(x).cast("B")) for x in items}
        if len(lengths) > 1:
            raise ValueError(f"{what} must all have the same length (got {sorted(lengths)})")
        arr = np.array([np.frombuffer(x, dtype=np.uint8) for x in items], dtype=np.uint8)
    if arr.dtype != np.uint8:
        raise ValueError(f"{what} must be uint8 (got {arr.dtype})")
    single = arr.ndim == 2
    if single:
        arr = arr[np.newaxis]
    if arr.ndim != 3 or arr.shape[1] != rows:
        raise ValueError(
            f"{what} must have shape ({rows}, L) or (n, {rows}, L), got {arr.shape}")
    return np.ascontiguousarray(arr), single


class BlockCodec(_fec.BlockCodec):
    """The plain block code: k data symbols of equal length to m parity symbols.

    ``encode`` and ``reconstruct`` take one block ``(k, L)`` or a batch of
    blocks ``(n, k, L)`` as uint8 numpy arrays (or, for one block, a sequence
    of k equal-length bytes-like objects) and loop over the batch natively
    with the GIL released.  Decoding inverts only the lost part and keeps the
    decode matrices of recent loss patterns (*cache_entries*, LRU).
    Reed-Solomon uses a Cauchy generator matrix over GF(2^8): any k of the
    k + m symbols rebuild the block.  ``encode`` is thread-safe,
    ``reconstruct`` is not (its cache): a concurrent call raises
    ConcurrentUseError.

    Parameters
    ----------
    k : int
        Data symbols per block, ``k >= 1``.
    m : int
        Parity symbols per block, ``m >= 1``, ``k + m <= 255`` (xor: 1).
    code : {"rs", "xor"}, default "rs"
        Reed-Solomon (Cauchy) or XOR parity.
    kernel : str, optional
        GF(2^8) kernel (see :func:`available_kernels`); None: the best this
        CPU runs.
    cache_entries : int, default 64
        Decode matrices kept, by loss pattern (LRU); 0: none.
    cache_size : int, optional
        The old name of *cache_entries*; when given it wins.

    Raises
    ------
    FecConfigError
        (a ValueError) An unknown code or kernel, or k, m out of range
        (the checks of :class:`~pydpdk.fec_config.EncoderConfig`).
    FecError
        *kernel* cannot run on this CPU (ENOTSUP), or no memory.
    """

    def __init__(self, k: int, m: int, *, code: str = "rs", kernel: str | None = None,
                 cache_entries: int = 64, cache_size: int | None = None) -> None:
        # The native codec was made by _fec.BlockCodec.__cinit__ with these
        # same arguments (its __init__ is object's): nothing is left to do.
        return


    def encode(self, data: Any, out: np.ndarray | None = None) -> np.ndarray:
        """Parity of data: shape (m, L) for one block, (n, m, L) for a batch.

        Parameters
        ----------
        data : numpy.ndarray or sequence of bytes-like
            uint8 data symbols, shape (k, L) or (n, k, L); or k bytes-like
            of one length L.
        out : numpy.ndarray, optional
            C-contiguous uint8 array of the result's shape to write into.

        Returns
        -------
        numpy.ndarray
            uint8 parity, shape (m, L) or (n, m, L) (*out* when given).

        Raises
        ------
        ValueError
            A wrong shape, dtype or layout, or symbols of different lengths.
        """
        if out is not None and type(data) is np.ndarray and data.ndim == 3:
            # Fast path for batches: the typed buffers check dtype, layout, shape.
            self.encode_blocks(data, out)
            return out
        blocks, single = _as_blocks(data, self.k, "data")
        shape = (blocks.shape[0], self.m, blocks.shape[2])
        if out is None:
            parity = np.empty(shape, dtype=np.uint8)
        else:
            parity = out[np.newaxis] if out.ndim == 2 else out
            if parity.shape != shape or parity.dtype != np.uint8 or not parity.flags.c_contiguous:
                raise ValueError(f"out must be a C-contiguous uint8 array of shape {shape}")
        self.encode_blocks(blocks, parity)
        return parity[0] if single else parity

    def reconstruct(self, symbols: np.ndarray, present: Sequence[bool] | np.ndarray,
                    *, use_cache: bool = True) -> int:
        """Rebuild lost data symbols in place.

        Parameters
        ----------
        symbols : numpy.ndarray
            Writable C-contiguous uint8 array, shape (k+m, L) or
            (n, k+m, L): data symbols then parity.
        present : sequence of bool or numpy.ndarray
            Which symbols arrived, shape (k+m,) or (n, k+m).
        use_cache : bool, default True
            Keep and reuse decode matrices by loss pattern.

        Returns
        -------
        int
            Symbols rebuilt.

        Raises
        ------
        ValueError
            A wrong shape, dtype or layout.
        FecError
            A block lost more than m symbols (errno EAGAIN).
        ConcurrentUseError
            Another thread is inside a reconstruct call of this codec.
        """
        if (type(symbols) is np.ndarray and symbols.ndim == 3 and type(present) is np.ndarray
                and present.ndim == 2 and present.itemsize == 1):
            # Fast path for batches: the typed buffers check dtype, layout, shape.
            if present.dtype == np.bool_:
                present = present.view(np.uint8)
            return self.reconstruct_blocks(symbols, present, use_cache)
        if not isinstance(symbols, np.ndarray) or symbols.dtype != np.uint8:
            raise ValueError("symbols must be a uint8 numpy array")
        if not symbols.flags.c_contiguous or not symbols.flags.writeable:
            raise ValueError("symbols must be writable and C-contiguous (rebuilt in place)")
        sym = symbols[np.newaxis] if symbols.ndim == 2 else symbols
        mask = np.ascontiguousarray(np.asarray(present, dtype=bool).view(np.uint8))
        if mask.ndim == 1:
            mask = mask[np.newaxis]
        return self.reconstruct_blocks(sym, mask, use_cache)
