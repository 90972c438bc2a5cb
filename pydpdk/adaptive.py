"""Adaptive redundancy: choose code, k, m and interleaving depth from link reports.

A decoder measures the link it receives from (:meth:`pydpdk.fec.Decoder.link_report`,
native/fec/measure.c): loss rate, a fitted Gilbert-Elliott model, reordering and
recovery delay over a sliding window.  The report travels back to the sending
side in a control packet (docs/fec-format.md, "Link report"), where a
:class:`Controller` turns it into a :class:`FecSetting` for the encoder.

How the controller chooses (:meth:`Controller.decide`):

1. Estimate the link with a safety margin: the measured loss rate is raised
   to an upper confidence bound (two standard deviations, with the sample
   size divided by the mean loss run, since losses in a burst are not
   independent; at least 3 / packets when nothing was lost; from the newest
   fifth of the window instead when its loss is over twice the window's, so
   that a rise is met at once), rounded up
   onto a grid of about 20 steps per decade.  When bursty (in the fitted model a
   loss follows a loss with probability ``bad_loss * (1 - gilbert_r)``;
   bursty when that is over 1.5 times the loss rate) the link is the fitted
   Gilbert-Elliott model scaled to that bound, else independent loss.
2. For every allowed code, interleaving depth D (> 1 only on a bursty link)
   and k whose block fits the latency budget (``(k * D + m)`` packets at the
   measured packet rate within ``max_delay_ms``), find the least m whose
   predicted residual loss is at most ``target_loss``
   (:func:`residual_by_m`: the exact forward pass of
   :func:`pydpdk.analysis.residual_loss_gilbert_elliott`, for all m at once).
3. Take the least overhead m / k (ties: the shorter block).
4. Hysteresis: a setting predicted to miss the target under the new estimate
   is replaced at once (more redundancy is never delayed) by one planned
   for ``headroom * target_loss``, so that noise in the next estimates does
   not move it again; a cheaper one (also planned for ``headroom *
   target_loss``) replaces the current one only when it saves at least
   ``hysteresis`` of the overhead and has been the choice for ``hold_ms``.
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
        Fraction of overhead a cheaper setting must save, in [0, 1).
    headroom : float
        New settings are planned for ``headroom * target_loss``, in (0, 1]:
        the band between that and the target keeps noise in the estimates
        from moving the setting back and forth.
    hold_ms : float
        How long a cheaper setting must stay the choice before it is taken.
    k_choices, depths : tuple of int
        Candidate k and interleaving depths.
    max_m : int
        Largest m (the encoder's memory is sized for it).
    min_packets : int
        Reports with fewer packets change nothing.
    initial : tuple (k, m) or None
        The setting before the first report (None: the encoder's own k, m).

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
    hold_ms: float = 1000.0
    k_choices: tuple[int, ...] = (4, 8, 10, 16, 20, 32, 50, 64, 100)
    depths: tuple[int, ...] = (1, 2, 4, 8)
    max_m: int = 64
    min_packets: int = 200
    initial: tuple[int, int] | None = None

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
class _Pending:
    setting: FecSetting
    since_ns: int


class Controller:
    """Chooses settings from reports (see the module docstring).

    *current* is the setting in force; *timeout_ms* the encoder's block
    deadline (a block never spans longer), None when it has none.
    ``changes`` counts the settings changed.
    """

    def __init__(self, policy: AdaptivePolicy, current: FecSetting,
                 timeout_ms: float | None = None) -> None:
        self.policy = policy
        self.current = current
        self.timeout_ms = timeout_ms
        self.changes = 0
        self._pending: _Pending | None = None

    def estimate(self, rep: LinkReport) -> tuple[GilbertElliott, float, bool]:
        """(link model with margin, loss bound, bursty?) for a report."""
        burst = max(rep.mean_burst, 1.0)

        def upper(a: float, n: int) -> float:
            n_eff = max(n / burst, 1.0)
            return min(max(a + 2.0 * math.sqrt(a * (1.0 - a) / n_eff), 3.0 / max(n, 1)), 1.0)

        n = max(rep.packets, 1)
        a = min(max(rep.loss_rate, 0.0), 1.0)
        bound = upper(a, n)
        # A rise shows first in the newest part of the window: when that
        # part is clearly worse (twice the window's rate), plan for it.
        if rep.recent_packets >= 50 and rep.recent_loss_rate > 2 * a:
            bound = max(bound, upper(rep.recent_loss_rate, rep.recent_packets))
        bound = _round_up(bound)
        # Bursty: a loss makes the next one much likelier than the mean
        # (P(loss | loss) = h (1 - r) in the fitted model; = a if independent).
        after_loss = rep.bad_loss * (1.0 - rep.gilbert_r)
        bursty = a > 0 and rep.lost >= 10 and after_loss > 1.5 * a
        if not bursty:
            return GilbertElliott(p=0.5, r=0.5, loss_good=bound, loss_bad=bound), bound, False
        # coarse and on the safe side: more loss in the bad state, longer stays
        h = min(math.ceil(max(rep.bad_loss, bound) * 10) / 10, 1.0)
        r = max(math.floor(rep.gilbert_r * 20) / 20, 0.01)
        # Scale p so that the model's mean loss is the bound.
        pi_b = min(bound / h, 0.999999)
        p = min(r * pi_b / (1.0 - pi_b), 1.0)
        return GilbertElliott(p=p, r=r, loss_good=0.0, loss_bad=h), bound, True

    def _candidates(self, model: GilbertElliott, bursty: bool,
                    rate_pps: float, target: float) -> list[FecSetting]:
        pol = self.policy
        budget_s = pol.max_delay_ms / 1e3
        if self.timeout_ms:
            budget_s = min(budget_s, self.timeout_ms / 1e3) if rate_pps > 0 else budget_s
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

    def decide(self, rep: LinkReport, now_ns: int) -> FecSetting:
        """The setting to use after *rep* (the current one when unchanged)."""
        pol = self.policy
        if rep.packets < pol.min_packets:
            return self.current
        model, bound, bursty = self.estimate(rep)
        rate = rep.packets / (rep.window_ms / 1e3) if rep.window_ms > 0 else 0.0
        cands = self._candidates(model, bursty, rate, pol.target_loss)
        what = (f"loss {rep.loss_rate:.2%} (bound {bound:.2%}"
                + (f", bursts {rep.mean_burst:.1f}, bad loss {rep.bad_loss:.2f}" if bursty
                   else "") + ")")
        if cands:
            best = min(cands, key=lambda s: (s.overhead, s.k * s.depth + s.m))
            meets = True
        else:
            best = self._fallback(model, bursty)
            meets = False
        cur = self.current
        pred_cur = self.predict(cur, model) if cur.code in ("rs", "xor") else cur.predicted_loss
        same = (best.code, best.k, best.m, best.depth) == (cur.code, cur.k, cur.m, cur.depth)
        if same:
            self._pending = None
            self.current = FecSetting(cur.code, cur.k, cur.m, cur.depth, cur.window,
                                      cur.overhead, pred_cur, cur.reason)
            return self.current
        if pred_cur > pol.target_loss and (best.predicted_loss < pred_cur or not meets):
            # Going up: with headroom, so that the next estimate a little
            # worse does not move it again.
            roomy = self._candidates(model, bursty, rate, pol.target_loss * pol.headroom)
            if roomy:
                best = min(roomy, key=lambda s: (s.overhead, s.k * s.depth + s.m))
            reason = (f"{what}: {cur.code}({cur.k},{cur.m})x{cur.depth} predicts "
                      f"{pred_cur:.1e} > target {pol.target_loss:.0e}"
                      + ("" if meets else "; target unreachable, most protection"))
            return self._switch(best, reason)
        # Going down: to a setting that also keeps the headroom, so that the
        # band [headroom * target, target] separates the two moves.
        roomy = self._candidates(model, bursty, rate, pol.target_loss * pol.headroom)
        if roomy:
            best = min(roomy, key=lambda s: (s.overhead, s.k * s.depth + s.m))
        if meets and roomy and best.overhead < cur.overhead * (1.0 - pol.hysteresis):
            p = self._pending
            if p is None or (p.setting.code, p.setting.k, p.setting.m, p.setting.depth) != \
                    (best.code, best.k, best.m, best.depth):
                # a cheaper choice: wait until it has held long enough
                if p is None:
                    self._pending = _Pending(best, now_ns)
                else:
                    self._pending = _Pending(best, p.since_ns)
                p = self._pending
            if now_ns - p.since_ns >= pol.hold_ms * 1e6:
                reason = (f"{what}: overhead {cur.overhead:.0%} -> {best.overhead:.0%} "
                          f"still predicts {best.predicted_loss:.1e} <= target "
                          f"{pol.target_loss:.0e}")
                return self._switch(best, reason)
            return self.current
        self._pending = None
        return self.current

    def _switch(self, s: FecSetting, reason: str) -> FecSetting:
        self._pending = None
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
                 timeout_ms: float | None = None) -> None:
        code, k, m, depth = encoder.params
        self.encoder = encoder
        self.reports = reports
        self.session_id = int(encoder.config.get("session_id", 0))
        self.controller = Controller(
            policy, FecSetting(code, k, m, depth, 0, m / k, 0.0, "initial setting"),
            timeout_ms=timeout_ms)
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
                "changes": self.controller.changes, "reports": self.received,
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
