"""One FEC vocabulary: the validated settings of an encoder and of a decoder.

Every API that makes a FEC codec takes the same settings under the same
names, checked here and only here: :class:`pydpdk.fec.Encoder` and
:class:`pydpdk.fec.Decoder` (the codec objects), the pipeline stages
:class:`pydpdk.pipeline.FecEncodeStage` and
:class:`pydpdk.pipeline.FecDecodeStage`, the gateway
(:class:`pydpdk.gateway.GatewayConfig`), the demo and the CLI's FEC options.
Each builds an :class:`EncoderConfig` or a :class:`DecoderConfig` (or takes
one as ``config=``), and the Cython layer turns it into the native
``fec_encoder_config`` / ``fec_decoder_config`` (native/fec/fec.h) in one
place (pydpdk/_fec_config.pxd).

Units: sizes in bytes, durations in seconds (float; the CLI takes
milliseconds and divides).  One exception per condition: a value out of
range or a wrong combination raises :class:`ValueError`, a value of the
wrong type :class:`TypeError`, a kernel this CPU cannot run
:class:`pydpdk.errors.FecError` (errno ENOTSUP).  The limits are those of
the native codec and of the wire format (docs/fec-format.md).
"""

from __future__ import annotations

import errno
import math
import operator
from dataclasses import dataclass, replace
from typing import Any

from . import _fec
from .errors import FecError, error_from_errno

__all__ = ["CODES", "OPTIONS", "DecoderConfig", "EncoderConfig", "FecConfigError",
           "check_code", "check_kernel", "decoder_config", "encoder_config", "option_error"]

CODES = ("rs", "xor", "rlc")
"""FEC codes: Reed-Solomon (Cauchy), XOR parity, sliding-window RLC (RFC 8681 style)."""


class FecConfigError(ValueError):
    """A FEC setting out of range, or a wrong combination (a :class:`ValueError`).

    Parameters
    ----------
    field : str
        The setting at fault (an :class:`EncoderConfig` or
        :class:`DecoderConfig` field name).
    message : str
        What is wrong.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


OPTIONS = {"code": "--code", "k": "-k", "m": "-m", "depth": "--depth", "window": "--window",
           "max_payload": "--max-payload", "deadline": "--deadline-ms",
           "timeout": "--decoder-timeout-ms", "kernel": "--kernel"}
"""The CLI option of each setting (``pydpdk fec``, ``pydpdk demo``)."""


def option_error(exc: FecConfigError, options: dict[str, str] | None = None) -> ValueError:
    """*exc* with the CLI option of its field in front, for a usage message.

    Parameters
    ----------
    exc : FecConfigError
        The error of a configuration.
    options : dict of str to str, optional
        Option by field (default :data:`~pydpdk.fec_config.OPTIONS`).

    Returns
    -------
    ValueError
        ``"<option>: <message>"``.
    """
    option = (options or OPTIONS).get(exc.field, exc.field)
    return ValueError(f"{option}: {exc}")


def _int(owner: Any, name: str) -> int:
    """The integer field *name* of *owner*, normalised (TypeError for non-integers)."""
    value = getattr(owner, name)
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None
    object.__setattr__(owner, name, value)
    return value


def _seconds(owner: Any, name: str, allow_none: bool = True) -> float | None:
    """The duration field *name* of *owner* in seconds: None or a finite number >= 0."""
    value = getattr(owner, name)
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise FecConfigError(name, f"{name} must be >= 0 seconds"
                             f"{' or None' if allow_none else ''} "
                         f"(0: none), got {value!r}")
    object.__setattr__(owner, name, float(value))
    return float(value)


def _within(name: str, value: int, low: int, high: int, what: str = "",
            label: str | None = None) -> None:
    if not low <= value <= high:
        raise FecConfigError(name, f"{label or name} must be {low}..{high}{what} (got {value})")


def check_kernel(kernel: str | None) -> None:
    """Check a GF(2^8) kernel name.

    Parameters
    ----------
    kernel : str or None
        ``"scalar"``, ``"avx2"``, ``"avx2gfni"``, ``"gfni"``, or None (the
        best this CPU runs, or ``PYDPDK_FEC_KERNEL``).

    Raises
    ------
    TypeError
        *kernel* is not a str.
    ValueError
        No kernel of that name (unknown FEC kernel).
    FecError
        This CPU cannot run it (errno ENOTSUP).
    """
    if kernel is None:
        return
    if not isinstance(kernel, str):
        raise TypeError(f"kernel must be a str or None, got {kernel!r}")
    names = _fec.kernel_names()
    if kernel not in names:
        raise FecConfigError("kernel", f"unknown FEC kernel {kernel!r}: choose one of {names}")
    if not _fec.kernel_supported(kernel):
        raise error_from_errno(errno.ENOTSUP, f"FEC kernel {kernel!r} cannot run on this CPU",
                               FecError)


def check_code(code: str, k: int, m: int) -> None:
    """Check a block code (``"rs"`` or ``"xor"``) with *k* data and *m* parity symbols.

    Parameters
    ----------
    code : str
        ``"rs"`` or ``"xor"``.
    k, m : int
        Data and parity symbols (packets) per block.

    Raises
    ------
    ValueError
        An unknown code, ``k < 1`` or ``m < 1``, ``k + m > 255``, or xor
        with ``m != 1``.
    """
    if code not in ("rs", "xor"):
        raise FecConfigError("code", f"unknown FEC code {code!r}: code must be 'rs', 'xor' or "
                             "'rlc' "
                         "('rlc' is a streaming code, not a block code)")
    if k < 1 or m < 1:
        raise FecConfigError("k" if k < 1 else "m", f"k and m must be at least 1 (need k >= 1, "
                             f"m >= 1), got k={k}, m={m}")
    if k + m > _fec.MAX_SYMBOLS:
        raise FecConfigError("m", f"k + m must be at most {_fec.MAX_SYMBOLS} (need k + m <= "
                         f"{_fec.MAX_SYMBOLS}), got k={k}, m={m}")
    if code == "xor" and m != 1:
        raise FecConfigError("m", f"code 'xor' needs m == 1 (one parity packet per block: "
                             f"m=1), got m={m}")



def _ns(seconds: float | None) -> int:
    """Seconds as the native codec's nanoseconds: 0 (off) stays 0, anything
    else is at least 1 ns."""
    return max(1, int(seconds * 1e9)) if seconds else 0


@dataclass(frozen=True)
class EncoderConfig:
    """The settings of one FEC encoder (codec object or pipeline stage), validated.

    Wire format: docs/fec-format.md (version 2).  Codes: Reed-Solomon over
    GF(2^8) with a Cauchy matrix (any m), XOR parity (m = 1), or the
    sliding-window random linear code (RFC 8681 style, wire code 3).

    Parameters
    ----------
    code : {"rs", "xor", "rlc"}, default "rs"
        The FEC code.
    k : int, default 10
        rs/xor: source packets per block, ``k >= 1``.  rlc: source packets
        between repair batches, 1..255.
    m : int, default 4
        rs/xor: repair packets per block, ``m >= 1``, ``k + m <= 255``
        (xor: exactly 1).  rlc: repair packets per batch, 1..255.
    depth : int, default 1
        Interleaving depth (blocks open at once, packets dealt round-robin),
        1..1024; rlc: 1.
    window : int, optional
        rlc only: source packets each repair covers, k..255 (None: k).
    max_payload : int, default 1518
        Largest payload (a whole frame, for a stage) protected, bytes,
        1..65000 (``pydpdk.fec.MAX_PAYLOAD``).
    deadline : float or None, default 0.005
        Seconds after a block's first packet at which it is closed with
        what it has (its parity sent); 0 or None: only full blocks (and
        flushes).
    kernel : str, optional
        GF(2^8) kernel (see :func:`~pydpdk.fec_config.check_kernel`); None: the best this CPU
        runs.
    session_id : int, optional
        Wire session id, 1..2**32-1; None: a random one per encoder.
    first_block_id : int, default 0
        Block id of the first block, 0..2**48-1.
    max_m : int, optional
        rs/xor: largest m a parameter switch (adaptive FEC) may choose,
        m..254 (memory is sized for it); None: m.
    max_depth : int, optional
        rs/xor: largest depth a parameter switch may choose, depth..1024;
        None: depth.

    Raises
    ------
    FecConfigError
        (a ValueError) A value out of range or a wrong combination (e.g.
        *window* with rs, *depth* > 1 with rlc), or an unknown code or
        kernel; ``.field`` names the setting.
    TypeError
        A value of the wrong type.
    FecError
        *kernel* cannot run on this CPU (errno ENOTSUP).
    """

    code: str = "rs"
    k: int = 10
    m: int = 4
    depth: int = 1
    window: int | None = None
    max_payload: int = 1518
    deadline: float | None = 0.005
    kernel: str | None = None
    session_id: int | None = None
    first_block_id: int = 0
    max_m: int | None = None
    max_depth: int | None = None

    def __post_init__(self) -> None:
        k, m = _int(self, "k"), _int(self, "m")
        depth = _int(self, "depth")
        for name in ("window", "session_id", "max_m", "max_depth"):
            if getattr(self, name) is not None:
                _int(self, name)
        if self.code == "rlc":
            _within("k", k, 1, _fec.RLC_MAX_WINDOW,
                    label="rlc: k (sources between repair batches)")
            _within("m", m, 1, _fec.RLC_MAX_M, label="rlc: m (repairs per batch)")
            window = k if self.window is None else self.window
            if not k <= window <= _fec.RLC_MAX_WINDOW:
                raise FecConfigError("window", f"rlc: window must be "
                                     f"k..{_fec.RLC_MAX_WINDOW} (k={k}, got {window})")
            if depth != 1:
                raise FecConfigError("depth", "rlc: depth must be 1, the window spreads repair "
                                     f"over time (got {depth})")
            if self.max_m is not None or self.max_depth is not None:
                raise FecConfigError("max_m", "rlc: max_m/max_depth apply to the block codes "
                                     "(an rlc encoder does not switch parameters)")
        else:
            if not isinstance(self.code, str):
                raise TypeError(f"code must be a str, got {self.code!r}")
            check_code(self.code, k, m)
            if self.window is not None:
                raise FecConfigError("window", f"window applies to code 'rlc' only "
                                     f"(code={self.code!r})")
        _within("depth", depth, 1, _fec.MAX_DEPTH)
        if self.max_m is not None:
            _within("max_m", self.max_m, m, _fec.MAX_SYMBOLS - 1, f" (m={m})")
        if self.max_depth is not None:
            _within("max_depth", self.max_depth, depth, _fec.MAX_DEPTH, f" (depth={depth})")
        _within("max_payload", _int(self, "max_payload"), 1, _fec.MAX_PAYLOAD, " bytes")
        _seconds(self, "deadline")
        check_kernel(self.kernel)
        if self.session_id is not None and not 1 <= self.session_id <= 0xFFFFFFFF:
            raise FecConfigError("session_id", f"session_id must be 1..2**32-1 or None "
                                 f"(got {self.session_id!r})")
        _within("first_block_id", _int(self, "first_block_id"), 0, (1 << 48) - 1)

    @property
    def effective_window(self) -> int:
        """Source packets each repair covers (int): *window* or k for rlc, 0 for rs/xor."""
        if self.code != "rlc":
            return 0
        return self.k if self.window is None else int(self.window)

    @property
    def deadline_ns(self) -> int:
        """The deadline in nanoseconds (int), 0 for none (the native codec's unit)."""
        return _ns(self.deadline)

    def replace(self, **changes: Any) -> EncoderConfig:
        """A copy with *changes* applied, validated again.

        Parameters
        ----------
        **changes
            Fields to change (names of this class's parameters).

        Returns
        -------
        EncoderConfig
            The new configuration.

        Raises
        ------
        ValueError, TypeError, FecError
            As the constructor.
        """
        return replace(self, **changes)


@dataclass(frozen=True)
class DecoderConfig:
    """The settings of one FEC decoder (codec object or pipeline stage), validated.

    The wire format is self-describing (docs/fec-format.md): a decoder needs
    no setting of the encoder's but *max_payload* at least as large.

    Parameters
    ----------
    max_payload : int, default 1518
        Largest payload (frame) accepted, bytes, 1..65000; larger packets
        are counted ``malformed``.
    max_blocks : int, default 256
        Blocks in flight (all sessions), 1..65536; the oldest is given up
        first.
    max_symbols : int, optional
        Stored packet copies, 255..2**24; None: ``max(255, 32 *
        max_blocks)`` (:attr:`effective_max_symbols`).
    timeout : float or None, default 0.05
        Seconds after a block's first packet at which an incomplete block
        is given up (its losses counted); 0 or None: never by time.
    cache_entries : int, default 64
        Decoding matrices kept, by loss pattern (LRU), 0..65536.
    kernel : str, optional
        GF(2^8) kernel (see :func:`~pydpdk.fec_config.check_kernel`); None: the best this CPU
        runs.
    max_sessions : int, default 8
        Sender sessions decoded side by side, 2..4096, with
        ``max_sessions * max_blocks <= 2**20``.
    measure_window : float, default 0.0
        Seconds of link measurement (loss, bursts, reordering, recovery
        delay; docs/fec-format.md, "Link report"), 0.001..3600; 0: off.
    report_interval : float, default 0.1
        Seconds between link reports (a stage publishes one, a codec's
        ``feedback()`` makes a control packet), > 0 and <= 3600.

    Raises
    ------
    FecConfigError
        (a ValueError) A value out of range or an unknown kernel;
        ``.field`` names the setting.
    TypeError
        A value of the wrong type.
    FecError
        *kernel* cannot run on this CPU (errno ENOTSUP).
    """

    max_payload: int = 1518
    max_blocks: int = 256
    max_symbols: int | None = None
    timeout: float | None = 0.05
    cache_entries: int = 64
    kernel: str | None = None
    max_sessions: int = _fec.DEFAULT_MAX_SESSIONS
    measure_window: float = 0.0
    report_interval: float = 0.1

    def __post_init__(self) -> None:
        _within("max_payload", _int(self, "max_payload"), 1, _fec.MAX_PAYLOAD, " bytes")
        blocks = _int(self, "max_blocks")
        _within("max_blocks", blocks, 1, _fec.MAX_BLOCKS)
        if self.max_symbols is not None:
            _within("max_symbols", _int(self, "max_symbols"), _fec.MAX_SYMBOLS,
                    _fec.MAX_STORED_SYMBOLS)
        _seconds(self, "timeout")
        _within("cache_entries", _int(self, "cache_entries"), 0, 65536)
        check_kernel(self.kernel)
        sessions = _int(self, "max_sessions")
        _within("max_sessions", sessions, 2, _fec.MAX_SESSIONS)
        if sessions * blocks > _fec.MAX_SESSION_BLOCKS:
            raise FecConfigError("max_sessions", f"max_sessions * max_blocks must be at most "
                             f"{_fec.MAX_SESSION_BLOCKS} (got {sessions} * {blocks})")
        window = _seconds(self, "measure_window", allow_none=False)
        if window and not 0.001 <= window <= 3600:
            raise FecConfigError("measure_window", "measure_window must be 0 (off) or "
                                 f"0.001..3600 seconds "
                             f"(got {window!r})")
        interval = _seconds(self, "report_interval", allow_none=False)
        if not interval or interval > 3600:
            raise FecConfigError("report_interval", "report_interval must be > 0 and <= 3600 "
                                 f"seconds "
                             f"(got {interval!r})")

    @property
    def effective_max_symbols(self) -> int:
        """Stored packet copies (int): *max_symbols*, or its default from *max_blocks*."""
        if self.max_symbols is not None:
            return int(self.max_symbols)
        return min(max(_fec.MAX_SYMBOLS, 32 * self.max_blocks), _fec.MAX_STORED_SYMBOLS)

    @property
    def timeout_ns(self) -> int:
        """The timeout in nanoseconds (int), 0 for none (the native codec's unit)."""
        return _ns(self.timeout)

    @property
    def measure_window_ns(self) -> int:
        """The measurement window in nanoseconds (int), 0 when off."""
        return _ns(self.measure_window)

    def replace(self, **changes: Any) -> DecoderConfig:
        """A copy with *changes* applied, validated again.

        Parameters
        ----------
        **changes
            Fields to change (names of this class's parameters).

        Returns
        -------
        DecoderConfig
            The new configuration.

        Raises
        ------
        ValueError, TypeError, FecError
            As the constructor.
        """
        return replace(self, **changes)


def encoder_config(config: EncoderConfig | None = None, **settings: Any) -> EncoderConfig:
    """*config* (default :class:`EncoderConfig`'s defaults) with *settings* applied.

    Parameters
    ----------
    config : EncoderConfig, optional
        The base configuration.
    **settings
        :class:`EncoderConfig` fields to set.

    Returns
    -------
    EncoderConfig
        The validated configuration.

    Raises
    ------
    TypeError
        *config* is not an EncoderConfig.
    ValueError, FecError
        As :class:`EncoderConfig`.
    """
    if config is None:
        return EncoderConfig(**settings)
    if not isinstance(config, EncoderConfig):
        raise TypeError(f"config must be an EncoderConfig, got {type(config).__name__}")
    return replace(config, **settings) if settings else config


def decoder_config(config: DecoderConfig | None = None, **settings: Any) -> DecoderConfig:
    """*config* (default :class:`DecoderConfig`'s defaults) with *settings* applied.

    Parameters
    ----------
    config : DecoderConfig, optional
        The base configuration.
    **settings
        :class:`DecoderConfig` fields.

    Returns
    -------
    DecoderConfig
        The validated configuration.

    Raises
    ------
    TypeError
        *config* is not a DecoderConfig.
    ValueError, FecError
        As :class:`DecoderConfig`.
    """
    if config is None:
        return DecoderConfig(**settings)
    if not isinstance(config, DecoderConfig):
        raise TypeError(f"config must be a DecoderConfig, got {type(config).__name__}")
    return replace(config, **settings) if settings else config
