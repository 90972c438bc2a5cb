"""Adaptive redundancy: choose code, k, m and interleaving depth from link reports.

A decoder measures the link it receives from (:meth:`pydpdk.fec.Decoder.link_report`,
native/fec/measure.c): loss rate, a fitted Gilbert-Elliott model, reordering and
recovery delay over a sliding window.  The report travels back to the sending
side in a control packet (docs/fec-format.md, "Link report"), where a
:class:`Controller` turns it into a :class:`FecSetting` for the encoder.

How the controller chooses (:meth:`Controller.decide`): it plans once
after each change of the link and then holds, so that noise in the 1 s
reports does not move the setting.

1. Change detection.  Since the last detected change the controller sums
   the newest part of each report's window (packets, losses, loss runs;
   each report weighted by the share of that part that is new, so that
   overlapping windows count a packet about once) and the Gilbert-Elliott
   fit of reports whose whole window is after the change: the long-run
   estimate, more precise the longer the link stays the same.  A report
   whose newest part is inconsistent with it is a change: more losses than
   ``change_sigma`` standard deviations over the expected count (and 1.5
   times it), or fewer than 1.25 ``change_sigma`` under it (and 1 / 1.5 of
   it: going down needs more evidence).  The standard deviation counts the
   estimate's own error and the burstiness (variance over mean of a loss
   count: (1 - h) + h (2 - r) / r for the fitted model, the mean loss run
   for independent loss).  The first report is a change too.
2. Right after a change (for ``hold_ms``, and until a whole report window
   is after the change and after the last change of interleaving depth,
   whose burst fit is only then clean): only more protection, at once,
   when the setting in force misses the target on the report alone (the
   worse of its newest part and its whole window).
3. Then one plan from that report's window: the link planned for is the
   measured loss times ``margin`` plus ``plan_sigma`` standard deviations
   of that 1 s sample (fixed at this point: it does not shrink later, so
   it causes no late moves down), rounded up onto a grid of about 20
   steps per decade; bursty when the fit has P(loss | loss) = ``bad_loss
   * (1 - gilbert_r)`` over 1.5 times the loss rate, then the fitted
   Gilbert-Elliott model scaled to that loss, else independent loss.  For
   every allowed code, interleaving depth D (> 1 only on a bursty link)
   and k whose block fits the latency budget (``(k * D + m)`` packets at
   the measured packet rate within ``max_delay_ms``), the least m whose
   predicted residual loss is at most ``headroom * target_loss``
   (:func:`residual_by_m`: the exact forward pass of
   :func:`pydpdk.analysis.residual_loss_gilbert_elliott`, for all m at
   once); the least overhead m / k wins (ties: the shorter block).  It
   replaces the setting in force when that misses the target, or when it
   saves at least ``hysteresis`` of the overhead.
4. Until the next change the setting holds; it moves up only if it misses
   the target on the long-run estimate itself (without margin).
   Reports with fewer than ``min_packets`` packets change nothing; without
   reports the last setting stays in force.

The encoder applies a change at the next block boundary (the native
``fec_encoder_set_params`` closes open blocks, with their parity, first).
Codes: RS and XOR are planned; ``"rlc"`` is accepted in a policy but not
planned yet (no residual-loss model for it here).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .analysis import GilbertElliott

__all__ = [
    "AdaptivePolicy",
    "Controller",
    "FecSetting",
    "LinkReport",
    "residual_by_m",
]

_CODES = ("rs", "xor", "rlc")


@dataclass(frozen=True)
class LinkReport:
    """A decoder's measurement of one link direction over its window.

    Probabilities are in [0, 1], times in milliseconds.  ``packets`` is the
    number of source + repair packets expected in the window (from their
    sequence positions), ``lost`` of them not received.  The Gilbert-Elliott
    fit has a loss-free good state: ``gilbert_p`` = P(good -> bad),
    ``gilbert_r`` = P(bad -> good) per packet, ``bad_loss`` the loss
    probability in the bad state.  ``mean_burst`` is lost / loss runs;
    ``reorder_rate`` the fraction of received packets that came after a
    later packet of their block.  Recovery delay: time from a rebuilt
    packet's expected arrival (between its received neighbours) to its
    rebuild.  ``recent_packets`` / ``recent_lost``: the newest fifth of the
    window.  ``session_id`` is the sender session measured, ``depth`` the
    interleaving depth seen in the stream, ``run_hist`` loss runs by length
    (bin i: 2**i .. 2**(i+1) - 1 packets).

    Raises ``ValueError`` when a field is out of its range (a probability
    outside [0, 1] or NaN, a negative or infinite time or count, depth < 1).
    """

    loss_rate: float = 0.0
    gilbert_p: float = 0.0
    gilbert_r: float = 1.0
    bad_loss: float = 1.0
    mean_burst: float = 0.0
    reorder_rate: float = 0.0
    recovery_delay_mean_ms: float = 0.0
    recovery_delay_p99_ms: float = 0.0
    packets: int = 0
    window_ms: float = 0.0
    lost: int = 0
    loss_runs: int = 0
    recovered: int = 0
    depth: int = 1
    session_id: int = 0
    run_hist: tuple[int, ...] = ()
    recent_packets: int = 0
    recent_lost: int = 0

    def __post_init__(self) -> None:
        # A report steers the redundancy: refuse values no decoder can measure
        # (NaN, negative counts, probabilities outside [0, 1]) here, once,
        # rather than as an odd error deep in the controller.
        for name in ("loss_rate", "gilbert_p", "gilbert_r", "bad_loss", "reorder_rate"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:         # also false for NaN
                raise ValueError(f"LinkReport.{name} must be a probability in [0, 1], not {v!r}")
        for name in ("mean_burst", "recovery_delay_mean_ms", "recovery_delay_p99_ms",
                     "window_ms"):
            v = getattr(self, name)
            if not 0.0 <= v < float("inf"):
                raise ValueError(f"LinkReport.{name} must be finite and >= 0, not {v!r}")
        for name in ("packets", "lost", "loss_runs", "recovered", "session_id",
                     "recent_packets", "recent_lost"):
            if getattr(self, name) < 0:
                raise ValueError(f"LinkReport.{name} must be >= 0, not {getattr(self, name)!r}")
        if self.depth < 1:
            raise ValueError(f"LinkReport.depth must be >= 1, not {self.depth!r}")
        if any(n < 0 for n in self.run_hist):
            raise ValueError("LinkReport.run_hist counts must be >= 0")

    @property
    def recent_loss_rate(self) -> float:
        """Loss in the newest fifth of the window (a change shows here first)."""
        return self.recent_lost / self.recent_packets if self.recent_packets else 0.0

    @classmethod
    def from_native(cls, d: dict[str, Any]) -> LinkReport:
        """From the dict of the compiled module (times in ns)."""
        return cls(loss_rate=float(d["loss_rate"]), gilbert_p=float(d["gilbert_p"]),
                   gilbert_r=float(d["gilbert_r"]), bad_loss=float(d["bad_loss"]),
                   mean_burst=float(d["mean_burst"]), reorder_rate=float(d["reorder_rate"]),
                   recovery_delay_mean_ms=float(d["recovery_mean"]) / 1e6,
                   recovery_delay_p99_ms=float(d["recovery_p99"]) / 1e6,
                   packets=int(d["packets"]), window_ms=float(d["window"]) / 1e6,
                   lost=int(d["lost"]), loss_runs=int(d["loss_runs"]),
                   recovered=int(d["recovered"]), depth=int(d["depth"]) or 1,
                   session_id=int(d["session_id"]), run_hist=tuple(d.get("run_hist", ())),
                   recent_packets=int(d.get("recent_packets", 0)),
                   recent_lost=int(d.get("recent_lost", 0)))

    def to_native(self) -> dict[str, Any]:
        """The dict the compiled module writes into a control packet."""
        lost = min(self.lost, self.packets)
        return {"window": int(self.window_ms * 1e6), "packets": self.packets, "lost": lost,
                "loss_runs": min(self.loss_runs, lost), "recovered": self.recovered,
                "loss_rate": self.loss_rate, "gilbert_p": self.gilbert_p,
                "gilbert_r": self.gilbert_r, "bad_loss": self.bad_loss,
                "recovery_mean": self.recovery_delay_mean_ms * 1e6,
                "recovery_p99": max(self.recovery_delay_p99_ms,
                                    self.recovery_delay_mean_ms) * 1e6,
                "session_id": self.session_id, "depth": self.depth,
                "run_hist": list(self.run_hist), "recent_packets": self.recent_packets,
                "recent_lost": min(self.recent_lost, self.recent_packets)}

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        d = asdict(self)
        d["run_hist"] = list(self.run_hist)
        return d


@dataclass(frozen=True)
class FecSetting:
    """What an encoder sends: code, k, m, interleaving depth (and window for
    a sliding-window code, else 0), overhead = m / k, the residual loss
    predicted for the last link estimate, and why it was chosen."""

    code: str
    k: int
    m: int
    depth: int = 1
    window: int = 0
    overhead: float = 0.0
    predicted_loss: float = 0.0
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AdaptivePolicy:
    """What the adaptive encoder aims for and may choose from.

    Parameters
    ----------
    target_loss : float
        Residual loss per source packet to stay under, in (0, 1).
    max_delay_ms : float
        Latency budget: a block (k * depth + m packets at the measured rate)
        must span at most this long, > 0.
    codes : tuple of str
        Codes allowed: ``"rs"``, ``"xor"`` (m = 1), ``"rlc"`` (only when the
        codec supports it).
    min_overhead, max_overhead : float
        Bounds on m / k.
    hysteresis : float
        Fraction of overhead the plan made after a change must save to
        replace the setting in force, in [0, 1).
    headroom : float
        Settings are planned for ``headroom * target_loss``, in (0, 1]: the
        band between that and the target absorbs the error of the estimate
        the plan was made from.
    hold_ms : float
        After a detected change, how long only more protection is taken
        (from single reports) before the one plan for the new link, >= 0.
        The plan also waits for a report window that is all after the
        change (with 1 s windows: about 0.8 s after the detection).
    k_choices, depths : tuple of int
        Candidate k and interleaving depths.
    max_m : int
        Largest m (the encoder's memory is sized for it).
    min_packets : int
        Reports with fewer packets change nothing.
    initial : tuple (k, m) or None
        The setting before the first report (None: the encoder's own k, m).
    margin : float
        The loss rate planned for is the measured one times *margin*, in
        [1, 10] (plus *plan_sigma* standard deviations of the sample).
    plan_sigma : float
        Standard deviations of the sample a plan is made from added to its
        loss rate, >= 0.
    change_sigma : float
        Standard deviations by which a report's newest part must exceed the
        long-run estimate to be a change (1.25 times as many below it), > 0.

    Raises
    ------
    ValueError
        A value out of range.
    """

    target_loss: float = 1e-4
    max_delay_ms: float = 100.0
    codes: tuple[str, ...] = ("rs",)
    min_overhead: float = 0.0
    max_overhead: float = 4.0
    hysteresis: float = 0.2
    headroom: float = 0.3
    hold_ms: float = 800.0
    k_choices: tuple[int, ...] = (4, 8, 10, 16, 20, 32, 50, 64, 100)
    depths: tuple[int, ...] = (1, 2, 4, 8)
    max_m: int = 64
    min_packets: int = 200
    initial: tuple[int, int] | None = None
    margin: float = 1.05
    plan_sigma: float = 3.0
    change_sigma: float = 4.5

    def __post_init__(self) -> None:
        if not 0.0 < self.target_loss < 1.0:
            raise ValueError(f"target_loss must be within (0, 1), got {self.target_loss}")
        if not self.max_delay_ms > 0:
            raise ValueError(f"max_delay_ms must be > 0, got {self.max_delay_ms}")
        if not self.codes or any(c not in _CODES for c in self.codes):
            raise ValueError(f"codes must be a non-empty subset of {_CODES}, got {self.codes}")
        if not 0.0 <= self.min_overhead <= self.max_overhead:
            raise ValueError("need 0 <= min_overhead <= max_overhead")
        if not 0.0 <= self.hysteresis < 1.0:
            raise ValueError(f"hysteresis must be within [0, 1), got {self.hysteresis}")
        if not 0.0 < self.headroom <= 1.0:
            raise ValueError(f"headroom must be within (0, 1], got {self.headroom}")
        if self.hold_ms < 0:
            raise ValueError(f"hold_ms must be >= 0, got {self.hold_ms}")
        if not self.k_choices or any(not 1 <= k <= 254 for k in self.k_choices):
            raise ValueError("k_choices must be within 1..254")
        if not self.depths or any(not 1 <= d <= 64 for d in self.depths):
            raise ValueError("depths must be within 1..64")
        if not 1 <= self.max_m <= 254:
            raise ValueError(f"max_m must be within 1..254, got {self.max_m}")
        if self.min_packets < 0:
            raise ValueError("min_packets must be >= 0")
        if not 1.0 <= self.margin <= 10.0:
            raise ValueError(f"margin must be within [1, 10], got {self.margin}")
        if not self.plan_sigma >= 0:
            raise ValueError(f"plan_sigma must be >= 0, got {self.plan_sigma}")
        if not self.change_sigma > 0:
            raise ValueError(f"change_sigma must be > 0, got {self.change_sigma}")

    @property
    def max_depth(self) -> int:
        return max(self.depths)


_GRID = (1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.8, 2.0, 2.2, 2.5, 2.8, 3.2, 3.6, 4.0, 4.5,
         5.0, 5.6, 6.3, 7.1, 8.0, 9.0, 10.0)


def _round_up(x: float) -> float:
    """x rounded up onto a grid of about 20 steps per decade (estimates
    jitter; a grid keeps the plans cached, rounding up keeps them safe)."""
    if x <= 0:
        return 0.0
    e = math.floor(math.log10(x))
    base = 10.0 ** e
    for g in _GRID:
        if g * base >= x * (1 - 1e-12):
            return min(g * base, 1.0)
    return min(10.0 * base, 1.0)


def _upper(a: float, n: float, dispersion: float) -> float:
    """Loss rate *a* of *n* packets raised by two standard deviations (the
    sample size divided by *dispersion*: losses in a burst are not
    independent), at least 3 / n (none lost)."""
    n_eff = max(n / max(dispersion, 1.0), 1.0)
    return min(max(a + 2.0 * math.sqrt(a * (1.0 - a) / n_eff), 3.0 / max(n, 1.0)), 1.0)


_CACHE: dict[tuple[float, float, float, float, int, int, int], tuple[float, ...]] = {}


def _residual_by_m(p: float, r: float, lg: float, lb: float, k: int, depth: int,
                   m_max: int) -> tuple[float, ...]:
    key = (p, r, lg, lb, k, depth, m_max)
    hit = _CACHE.get(key)
    if hit is None:
        if len(_CACHE) >= 4096:         # plans repeat: a bounded memo is enough
            _CACHE.clear()
        hit = _CACHE[key] = _residual_pass(p, r, lg, lb, k, depth, m_max)
    return hit


def _residual_pass(p: float, r: float, lg: float, lb: float, k: int, depth: int,
                   m_max: int) -> tuple[float, ...]:
    model = GilbertElliott(p=p, r=r, loss_good=lg, loss_bad=lb) if p + r > 0 else None
    if model is None:
        return tuple([lb] * (m_max + 1))
    loss = np.array(model.state_loss())
    pi_b = model.stationary_bad
    cap = m_max + 1
    dist = np.zeros((2, cap + 1))
    acc = np.zeros((2, cap + 1))
    dist[0, 0], dist[1, 0] = 1.0 - pi_b, pi_b
    # sources D apart, then the parity right after the last source
    positions = [j * depth for j in range(k)]
    positions += [(k - 1) * depth + 1 + i for i in range(m_max)]
    steps: dict[int, np.ndarray] = {}
    out: list[float] = []
    prev = positions[0]
    keep = (1.0 - loss)[:, None]
    lose = loss[:, None]
    for t, pos in enumerate(positions):
        if t > 0:
            gap = pos - prev
            if gap not in steps:
                steps[gap] = np.array(model.transition(gap))
            T = steps[gap]
            dist = T.T @ dist
            acc = T.T @ acc
            prev = pos
        src = 1.0 if t < k else 0.0
        lost_d = dist * lose
        lost_a = (acc + src * dist) * lose
        dist = dist * keep
        acc = acc * keep
        dist[:, 1:] += lost_d[:, :-1]
        dist[:, cap] += lost_d[:, cap]
        acc[:, 1:] += lost_a[:, :-1]
        acc[:, cap] += lost_a[:, cap]
        if t >= k - 1:
            m = t + 1 - k
            out.append(float(acc[:, m + 1:].sum()) / k)
    return tuple(out)


def residual_by_m(model: GilbertElliott, k: int, depth: int, m_max: int) -> list[float]:
    """Residual loss per source packet for m = 0 .. m_max at once.

    The forward pass of :func:`pydpdk.analysis.residual_loss_gilbert_elliott`
    (exact for the model) carrying, per chain state and count of losses so
    far, the expected number of lost sources, so that one pass over the k
    sources and m_max parity packets gives every m (a block with m parity
    packets is a prefix).  Wire positions: sources *depth* apart, parity
    right after the last source (exact for depth 1; for depth > 1 other
    blocks' parity between the lanes is ignored).  *random_loss* is not
    supported here (fold it into the state losses).

    Raises
    ------
    ValueError
        k < 1, depth < 1, m_max < 0 or k + m_max > 255.
    """
    if k < 1 or depth < 1 or m_max < 0 or k + m_max > 255:
        raise ValueError(f"need k >= 1, depth >= 1, m_max >= 0, k + m_max <= 255 "
                         f"(got k={k}, depth={depth}, m_max={m_max})")
    lg, lb = model.state_loss()
    return list(_residual_by_m(model.p, model.r, lg, lb, k, depth, m_max))


@dataclass
class _Tally:
    """Link statistics accumulated since the last detected change (each
    report weighted by the share of its span that is new, so that
    overlapping windows count every packet about once)."""

    packets: float = 0.0
    lost: float = 0.0
    runs: float = 0.0
    bad_loss: float = 0.0         # loss-weighted sums of the fitted h and h (1 - r)
    after_loss: float = 0.0
    weight: float = 0.0           # loss weight of those sums

    def add(self, n: float, lost: float, rep: LinkReport, w: float, fit: bool) -> None:
        """*fit*: the report's Gilbert-Elliott fit (over its whole window)
        is all after the change, and counts."""
        self.packets += w * n
        self.lost += w * lost
        if rep.lost > 0:
            self.runs += w * lost * rep.loss_runs / rep.lost
        if fit:
            # P(loss | loss) = h (1 - r) and h are what the fit measures;
            # averaged as such (averaging r itself would bias their product)
            lw = w * max(rep.lost, 1)
            self.bad_loss += lw * rep.bad_loss
            self.after_loss += lw * rep.bad_loss * (1.0 - rep.gilbert_r)
            self.weight += lw

    def fit(self) -> tuple[float, float]:
        """(bad_loss, gilbert_r), (1, 1) (no burst) without a clean fit."""
        if self.weight <= 0 or self.bad_loss <= 0:
            return 1.0, 1.0
        h = self.bad_loss / self.weight
        return h, min(max(1.0 - self.after_loss / self.bad_loss, 0.0), 1.0)

    @property
    def rate(self) -> float:
        return self.lost / self.packets if self.packets > 0 else 0.0


def _recent(rep: LinkReport) -> tuple[int, int, float]:
    """(packets, lost, span in ms) of the newest part of a report's window
    (the whole window when the report has no recent part)."""
    if rep.recent_packets >= 50 and rep.packets > 0:
        span = rep.window_ms * rep.recent_packets / rep.packets
        return rep.recent_packets, min(rep.recent_lost, rep.recent_packets), span
    return rep.packets, min(rep.lost, rep.packets), rep.window_ms


def _dispersion(bad_loss: float, gilbert_r: float, mean_burst: float, bursty: bool) -> float:
    """Variance of a loss count over its mean.  Losses come in bad-state
    visits: with a loss-free good state, a visit of geometric length
    (mean 1 / r) loses Binomial(length, h), whose second moment over its
    mean is (1 - h) + h (2 - r) / r; independent loss gives 1."""
    if not bursty:
        return max(1.0, mean_burst)
    h = min(max(bad_loss, 0.0), 1.0)
    r = min(max(gilbert_r, 0.01), 1.0)
    return min(max(1.0, (1.0 - h) + h * (2.0 - r) / r, mean_burst), 100.0)


class Controller:
    """Chooses settings from reports (see the module docstring).

    *current* is the setting in force; *deadline* the encoder's block
    deadline in seconds (``EncoderConfig.deadline``: a block never spans
    longer), None or 0 when it has none.
    ``changes`` counts the settings changed, ``detections`` the changes of
    the link detected (the first report counts as one).
    """

    def __init__(self, policy: AdaptivePolicy, current: FecSetting,
                 deadline: float | None = None) -> None:
        self.policy = policy
        self.current = current
        self.deadline = deadline
        self.changes = 0
        self.detections = 0
        self._change_ns: int | None = None    # when the last link change was detected
        self._settled = False                 # planned from the link after that change
        self._tally = _Tally()
        self._last_ns: int | None = None
        self._depth_ns: int | None = None     # when the interleaving depth last changed

    def estimate(self, rep: LinkReport) -> tuple[GilbertElliott, float, bool]:
        """(link model with margin, loss bound, bursty?) for one report on
        its own: the loss rate raised to two standard deviations over it
        (the newest part of the window instead when that is over twice the
        window's rate, so that a rise is met at once)."""
        burst = max(rep.mean_burst, 1.0)
        n = max(rep.packets, 1)
        a = min(max(rep.loss_rate, 0.0), 1.0)
        bound = _upper(a, n, burst)
        if rep.recent_packets >= 50 and rep.recent_loss_rate > 2 * a:
            bound = max(bound, _upper(rep.recent_loss_rate, rep.recent_packets, burst))
        return self._model(bound, a, rep.lost, rep.bad_loss, rep.gilbert_r)

    def _model(self, bound: float, a: float, lost: float, bad_loss: float,
               gilbert_r: float) -> tuple[GilbertElliott, float, bool]:
        bound = _round_up(bound)
        # Bursty: a loss makes the next one much likelier than the mean
        # (P(loss | loss) = h (1 - r) in the fitted model; = a if independent).
        after_loss = bad_loss * (1.0 - gilbert_r)
        bursty = a > 0 and lost >= 10 and after_loss > 1.5 * a
        if not bursty:
            return GilbertElliott(p=0.5, r=0.5, loss_good=bound, loss_bad=bound), bound, False
        # coarse and on the safe side: more loss in the bad state, longer stays
        h = min(math.ceil(max(bad_loss, bound) * 10) / 10, 1.0)
        r = max(math.floor(gilbert_r * 20) / 20, 0.01)
        # Scale p so that the model's mean loss is the bound.
        pi_b = min(bound / h, 0.999999)
        p = min(r * pi_b / (1.0 - pi_b), 1.0)
        return GilbertElliott(p=p, r=r, loss_good=0.0, loss_bad=h), bound, True

    def _planning(self, n: float, lost: float, runs: float, bad_loss: float,
                  gilbert_r: float, sigmas: float) -> tuple[GilbertElliott, float, bool]:
        """The link to plan for from a sample of *n* packets: the point
        estimate times the policy's margin plus *sigmas* standard deviations
        of the sample (made once per change, so it does not shrink later)."""
        n = max(n, 1.0)
        a = min(max(lost / n, 0.0), 1.0)
        burst = lost / runs if runs > 0 else 1.0
        bursty_fit = bad_loss * (1.0 - gilbert_r) > 1.5 * a and lost >= 10
        f = _dispersion(bad_loss, gilbert_r, burst, bursty_fit and a > 0)
        sd = math.sqrt(a * (1.0 - a) * f / n)
        bound = a * self.policy.margin + sigmas * sd
        if sigmas > 0:
            bound = max(bound, 3.0 / n)
        return self._model(min(bound, 1.0), a, lost, bad_loss, gilbert_r)

    def _candidates(self, model: GilbertElliott, bursty: bool,
                    rate_pps: float, target: float) -> list[FecSetting]:
        pol = self.policy
        budget_s = pol.max_delay_ms / 1e3
        if self.deadline:
            budget_s = min(budget_s, self.deadline) if rate_pps > 0 else budget_s
        out: list[FecSetting] = []
        depths = sorted(pol.depths) if bursty else [1]
        for code in pol.codes:
            if code == "rlc":
                continue                   # not a block code: not planned here yet
            for depth in depths:
                for k in sorted(pol.k_choices):
                    m_max = 1 if code == "xor" else min(pol.max_m, 255 - k,
                                                        max(1, int(pol.max_overhead * k)))
                    if rate_pps > 0 and (k * depth + m_max) / rate_pps > budget_s and k > 1:
                        if (k * depth + 1) / rate_pps > budget_s:
                            continue
                    # A short pass first (most links need few parity packets).
                    m_try = min(m_max, max(4, math.ceil(4 * model.mean_loss * k) + 4))
                    res = residual_by_m(model, k, depth, m_try)
                    if res[m_try] > target and m_try < m_max:
                        res = residual_by_m(model, k, depth, m_max)
                    m_min = max(1, math.ceil(pol.min_overhead * k))
                    for m in range(m_min, len(res)):
                        if rate_pps > 0 and (k * depth + m) / rate_pps > budget_s and k > 1:
                            break
                        if res[m] <= target:
                            out.append(FecSetting(code, k, m, depth, 0, m / k, res[m]))
                            break
        return out

    def _fallback(self, model: GilbertElliott, bursty: bool) -> FecSetting:
        """The most protection allowed when nothing meets the target."""
        pol = self.policy
        code = "rs" if "rs" in pol.codes else pol.codes[0]
        k = min(pol.k_choices)
        m = 1 if code == "xor" else min(pol.max_m, 255 - k, max(1, int(pol.max_overhead * k)))
        depth = max(pol.depths) if bursty else 1
        res = residual_by_m(model, k, depth, m)[m]
        return FecSetting(code, k, m, depth, 0, m / k, res)

    def predict(self, setting: FecSetting, model: GilbertElliott) -> float:
        return residual_by_m(model, setting.k, setting.depth, setting.m)[setting.m]

    def _best(self, model: GilbertElliott, bursty: bool, rate: float,
              target: float) -> FecSetting | None:
        cands = self._candidates(model, bursty, rate, target)
        return min(cands, key=lambda s: (s.overhead, s.k * s.depth + s.m)) if cands else None

    def _changed(self, rep: LinkReport) -> int:
        """+1 / -1 when the newest part of *rep* is statistically inconsistent
        with the link measured since the last change (more / less loss), else 0."""
        pol = self.policy
        t = self._tally
        if t.packets < pol.min_packets:
            return 0
        n, x, _ = _recent(rep)
        p0 = max(t.rate, 1.0 / t.packets)
        burst = t.lost / t.runs if t.runs > 0 else 1.0
        h, r = t.fit()
        bursty = h * (1.0 - r) > 1.5 * p0 and t.lost >= 10
        f = _dispersion(h, r, burst, bursty)
        mean = n * p0
        # the sample's own noise plus the long-run estimate's
        sd = math.sqrt(mean * (1.0 - p0) * f * (1.0 + n / t.packets)) or 1.0
        z = (x - mean) / sd
        if z > pol.change_sigma and x > 1.5 * mean:
            return 1
        if z < -1.25 * pol.change_sigma and x < mean / 1.5:
            return -1
        return 0

    def decide(self, rep: LinkReport, now_ns: int) -> FecSetting:
        """The setting to use after *rep* (the current one when unchanged)."""
        pol = self.policy
        if rep.packets < pol.min_packets:
            return self.current
        rate = rep.packets / (rep.window_ms / 1e3) if rep.window_ms > 0 else 0.0
        last, self._last_ns = self._last_ns, now_ns
        cur = self.current
        if self._change_ns is None:
            self._detect(now_ns)                  # the first report: a new link
        elif self._settled:
            step = self._changed(rep)
            if step:
                self._detect(now_ns)
            else:
                # the same link: accumulate the newest part of the window
                n, x, span = _recent(rep)
                dt = (now_ns - last) / 1e6 if last is not None else span
                w = min(1.0, dt / span) if span > 0 else 1.0
                self._tally.add(n, x, rep, w, self._fit_clean(rep, now_ns))
                t = self._tally
                h, r = t.fit()
                model, bound, bursty = self._planning(t.packets, t.lost, t.runs, h, r, 0.0)
                pred_cur = self._predict_cur(model)
                point, _, _ = self._model(t.rate, t.rate, t.lost, h, r)
                if self._predict_cur(point) <= pol.target_loss:
                    self.current = self._with_prediction(pred_cur)
                    return self.current
                # The setting fails the target on the long-run estimate itself.
                return self._plan_up(model, bursty, rate, bound, t.rate, pred_cur,
                                     "since the last change")
        n, x, _ = _recent(rep)
        clean = self._fit_clean(rep, now_ns)
        if not clean or now_ns - (self._change_ns or 0) < pol.hold_ms * 1e6 - 20e6:
            # Right after a change: only more protection, at once, planned
            # from this report alone: the worse of its newest part and its
            # whole window (either may still hold some of the old link);
            # its burst fit only once the window is all after the change.
            h, r = (rep.bad_loss, rep.gilbert_r) if clean else (1.0, 1.0)
            runs = x * rep.loss_runs / rep.lost if rep.lost else 0.0
            plans = [self._planning(n, x, runs, h, r, pol.plan_sigma),
                     self._planning(rep.packets, min(rep.lost, rep.packets),
                                    rep.loss_runs, h, r, pol.plan_sigma)]
            model, bound, bursty = max(plans, key=lambda e: e[1])
            pred_cur = self._predict_cur(model)
            if pred_cur <= pol.target_loss:
                self.current = self._with_prediction(pred_cur)
                return self.current
            return self._plan_up(model, bursty, rate, bound, x / max(n, 1), pred_cur,
                                 "after a change")
        # hold_ms after the change, with a window all after it: plan once
        # from the newest part of the window, then hold.
        self._settled = True
        self._tally = _Tally()
        n, x = rep.packets, min(rep.lost, rep.packets)
        self._tally.add(n, x, rep, 1.0, True)
        h, r = self._tally.fit()
        model, bound, bursty = self._planning(n, x, self._tally.runs, h, r, pol.plan_sigma)
        pred_cur = self._predict_cur(model)
        if pred_cur > pol.target_loss:
            return self._plan_up(model, bursty, rate, bound, x / max(n, 1), pred_cur,
                                 "settled")
        best = self._best(model, bursty, rate, pol.target_loss * pol.headroom)
        if best is not None and best.overhead < cur.overhead * (1.0 - pol.hysteresis):
            reason = (f"{self._what(x / max(n, 1), bound, bursty)}, settled: overhead "
                      f"{cur.overhead:.0%} -> {best.overhead:.0%} still predicts "
                      f"{best.predicted_loss:.1e} <= target {pol.target_loss:.0e}")
            return self._switch(best, reason)
        self.current = self._with_prediction(pred_cur)
        return self.current

    def _fit_clean(self, rep: LinkReport, now_ns: int) -> bool:
        """Whether the report's whole window (and so its burst fit) is after
        the last detected change and the last switch.  A change shows a
        fifth of a window late (blocks are measured when complete)."""
        if self.detections == 1 and self._depth_ns is None:
            return True                   # the first link seen: nothing before it
        since = max((self._change_ns or 0) - rep.window_ms * 0.2e6, self._depth_ns or 0)
        return now_ns - rep.window_ms * 1e6 >= since - 20e6   # (report timing jitter)

    def _detect(self, now_ns: int) -> None:
        self.detections += 1
        self._change_ns = now_ns
        self._settled = False
        self._tally = _Tally()

    def _what(self, a: float, bound: float, bursty: bool) -> str:
        return f"loss {a:.2%} (planned for {bound:.2%}{', bursty' if bursty else ''})"

    def _predict_cur(self, model: GilbertElliott) -> float:
        cur = self.current
        return self.predict(cur, model) if cur.code in ("rs", "xor") else cur.predicted_loss

    def _with_prediction(self, pred: float) -> FecSetting:
        c = self.current
        return FecSetting(c.code, c.k, c.m, c.depth, c.window, c.overhead, pred, c.reason)

    def _plan_up(self, model: GilbertElliott, bursty: bool, rate: float, bound: float,
                 a: float, pred_cur: float, when: str) -> FecSetting:
        """More protection: planned for ``headroom * target`` (the most allowed
        when the target is out of reach)."""
        pol = self.policy
        cur = self.current
        best = self._best(model, bursty, rate, pol.target_loss * pol.headroom)
        meets = best is not None
        if best is None:
            best = self._best(model, bursty, rate, pol.target_loss)
            meets = best is not None
        if best is None:
            best = self._fallback(model, bursty)
        if (best.code, best.k, best.m, best.depth) == (cur.code, cur.k, cur.m, cur.depth):
            self.current = self._with_prediction(pred_cur)
            return self.current
        reason = (f"{self._what(a, bound, bursty)}, {when}: {cur.code}({cur.k},{cur.m})"
                  f"x{cur.depth} predicts {pred_cur:.1e} > target {pol.target_loss:.0e}"
                  + ("" if meets else "; target unreachable, most protection"))
        return self._switch(best, reason)

    def _switch(self, s: FecSetting, reason: str) -> FecSetting:
        if s.depth != self.current.depth:
            self._depth_ns = self._last_ns      # the measured runs change with it
        self.changes += 1
        self.current = FecSetting(s.code, s.k, s.m, s.depth, s.window, s.overhead,
                                  s.predicted_loss, reason)
        return self.current


class StageController:
    """A :class:`Controller` driving a native encoder stage from link reports.

    For the gateways and the demo: the pipeline runs on other threads, this
    runs on the monitoring thread.  *reports* returns ``(generation, report
    dict)`` or None (``FecDecodeStage.peer_report`` in a tunnel: the peer's
    measurement of what this side sends; ``FecDecodeStage.link_report`` in
    the demo, whose decoder sees this encoder's packets); *encoder* is a
    ``FecEncodeStage`` made with ``max_m`` / ``max_depth``.  :meth:`step`
    takes a new report, if any, and sets the encoder when the choice
    changes; without reports the setting in force stays.
    """

    def __init__(self, policy: AdaptivePolicy, encoder: Any, reports: Any,
                 deadline: float | None = None) -> None:
        code, k, m, depth = encoder.params
        self.encoder = encoder
        self.reports = reports
        self.session_id = int(encoder.config.get("session_id", 0))
        self.controller = Controller(
            policy, FecSetting(code, k, m, depth, 0, m / k, 0.0, "initial setting"),
            deadline=deadline)
        self.last_gen = 0
        self.received = 0
        self.ignored = 0
        self.report: LinkReport | None = None

    @property
    def setting(self) -> FecSetting:
        return self.controller.current

    def step(self, now_ns: int) -> bool:
        """Take the newest report if there is a new one; True when the setting changed."""
        got = self.reports()
        if got is None or got[0] == self.last_gen:
            return False
        self.last_gen = got[0]
        rep = LinkReport.from_native(got[1])
        if rep.session_id not in (0, self.session_id):
            self.ignored += 1               # about another sender session
            return False
        self.received += 1
        self.report = rep
        before = self.controller.current
        after = self.controller.decide(rep, now_ns)
        if (after.code, after.k, after.m, after.depth) == \
                (before.code, before.k, before.m, before.depth):
            return False
        self.encoder.set_params(after.code, after.k, after.m, after.depth)
        return True

    def status(self) -> dict[str, Any]:
        """JSON-ready: policy, setting in force (with its reason), last report."""
        pol = self.controller.policy
        return {"target_loss": pol.target_loss, "max_delay_ms": pol.max_delay_ms,
                "codes": list(pol.codes), "setting": self.setting.as_dict(),
                "changes": self.controller.changes,
                "detections": self.controller.detections, "reports": self.received,
                "reports_ignored": self.ignored,
                "report": None if self.report is None else self.report.as_dict()}


class ControlLoop:
    """Runs :meth:`StageController.step` every *interval* seconds on a daemon
    thread, next to a running pipeline (its stages' calls are thread-safe).
    :meth:`stop` ends it; :meth:`status` is safe from any thread."""

    def __init__(self, controller: StageController, interval: float = 0.1) -> None:
        import threading

        self.controller = controller
        self.interval = interval
        self.error: str | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="pydpdk-adaptive", daemon=True)

    def start(self) -> ControlLoop:
        self._thread.start()
        return self

    def _run(self) -> None:
        import time

        while not self._stop.wait(self.interval):
            try:
                with self._lock:
                    self.controller.step(time.monotonic_ns())
            except ValueError as exc:   # a choice the stage refused: keep the old one
                self.error = str(exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def status(self) -> dict[str, Any]:
        with self._lock:
            st = self.controller.status()
        if self.error:
            st["error"] = self.error
        return st
