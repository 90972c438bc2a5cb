#!/usr/bin/env python3
"""What FEC buys on a lossy link: residual loss, overhead and recovery delay.

    .venv/bin/python bench/fec_effect.py [--seed 1] [--rate 20000] [--plot PNG]
    .venv/bin/python bench/fec_effect.py --quick          # smoke run, seconds
    .venv/bin/python bench/fec_effect.py --table JSON     # reprint a result

A packet-level simulation in virtual time through the real codec: every
payload goes through pydpdk.fec.Encoder and every surviving wire packet
through pydpdk.fec.Decoder (the native C codec, not a model of it); only the
link and the clock are simulated.  Per tick (5 ms of virtual time):

    sender (fixed rate, distinct payloads of 64..1400 bytes, the first 8
    bytes a sequence number) -> Encoder -> loss channel -> one-way delay
    -> Decoder -> payloads, each checked byte for byte when rebuilt

and for the adaptive encoder, the decoder's feedback (control packets) goes
back over a reverse channel with the same loss model and delay (it is lost
like a packet of reverse traffic at the same rate would be).

Loss models: independent (Bernoulli) loss with probability p, and
Gilbert-Elliott: a two-state chain advanced once per wire packet, good ->
bad with probability p, bad -> good with r, loss "bad" in the bad state and
none in the good one (pydpdk.analysis has the predictions for both).

Scenarios: steady random 1 % and 5 % and Gilbert-Elliott (p = 0.01,
r = 0.25, bad 50 %), and the time-varying schedule fixed here: 30 s phases
of 0.1 % random, 5 % random, Gilbert-Elliott (as above), 20 % random, 1 %
random.  Residual loss per phase is counted without the first 2 s after
each transition (and with them, reported too).

Rows: no FEC; RS 10+4 (the tunnel's default); RS 20+10, the rate of
UDPspeeder's default ``-f20:10`` simulated with pydpdk's RS codec (UDPspeeder
uses Reed-Solomon over the same grouping of 20 packets + 10 parity); the
smallest-overhead fixed RS k+m that meets the target in every phase of the
schedule, found by this bench's own sweep (below); the adaptive encoder
(pydpdk.fec.AdaptivePolicy, target 1e-4, where this build has it); and the
sliding-window code (``code="rlc"``, where this build has it) beside RS
with a block of the window's size at the same overhead.

The sweep: for each k of a grid, the smallest m whose binomial prediction
meets the target at the schedule's worst random phase, and m - 1 (which the
prediction says misses, but a finite run may not); candidates are run in
order of estimated byte overhead through the phases of the schedule, each
phase for --sweep-s seconds (90: three times a phase, for the statistics;
a fixed code's phases are independent, and the first 30 s are the very loss
pattern of the schedule run), worst phase first, each stopping at its first
phase over the target, until one meets it in every phase; candidates
estimated within 5 % of it are run too, and the smallest measured byte
overhead among those that pass wins.

Metrics per row and phase: residual loss (sources never delivered / sent)
with the count, a 95 % interval on independent packets (Wilson) and one on
loss events (residual losses less than a block's k sources apart, or a
window's, are one event: they are not independent, a failed block loses
several at once; exact Poisson interval on the event count times the mean
event size); bandwidth
overhead (repair + header bytes / source bytes, and repair packets / source
packets; feedback bytes apart); recovery delay of rebuilt packets (time of
the packet that let the decoder rebuild it minus its own send time, i.e. the
extra latency over its original arrival: mean and p99); for the adaptive
row, settling time after each transition and the chosen overhead over time.

A benchmark, not a test: deterministic per seed, independent of CPU speed.
Results: a table on stdout and JSON in bench/results/fec_effect.json.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import deque
from dataclasses import dataclass
from itertools import compress
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _stats import machine, write_json  # noqa: E402

from pydpdk import analysis, fec  # noqa: E402

TARGET = 1e-4
MAX_DELAY_MS = 100.0
PAYLOAD_MIN, PAYLOAD_MAX = 64, 1400
SEQ_BYTES = 8
SKIP_S = 2.0
PHASE_S = 30.0
TICK_MS = 5.0
BIN_S = 0.1
SWEEP_KS = (4, 5, 8, 10, 16, 20, 25, 32, 40, 50, 64, 80, 100, 128, 150, 170, 180, 190,
            200, 210, 220, 230)
UDPSPEEDER = (20, 10)
# (sources per repair step k, repair packets per step m, window W): compared with
# RS(W, W * m / k) at the same overhead.
RLC_PAIRS = ((5, 1, 20), (4, 1, 40), (10, 2, 50))


# ------------------------------------------------------------- loss models ---

@dataclass(frozen=True)
class Loss:
    """A loss model: kind "random" (p) or "ge" (p, r, bad)."""

    kind: str
    p: float
    r: float = 0.0
    bad: float = 0.0

    @property
    def label(self) -> str:
        if self.kind == "random":
            return f"random {self.p * 100:g}%"
        return f"GE p={self.p:g} r={self.r:g} bad={self.bad * 100:g}%"

    @property
    def mean(self) -> float:
        if self.kind == "random":
            return self.p
        return self.p / (self.p + self.r) * self.bad

    def model(self) -> analysis.GilbertElliott:
        return analysis.GilbertElliott(p=self.p, r=self.r, loss_good=0.0, loss_bad=self.bad)

    def predict(self, k: int, m: int, depth: int = 1) -> float | None:
        """MDS prediction of the residual loss of RS(k, m) on this link (None: too slow)."""
        if self.kind == "random":
            return analysis.residual_loss_random(self.p, k, m)
        if (k + m) * k * depth > 4000:       # the exact GE pass is pure Python
            return None
        return analysis.residual_loss_gilbert_elliott(self.model(), k, m, interleave=depth)


GE_BURSTS = Loss("ge", 0.01, 0.25, 0.5)
SCHEDULE = (Loss("random", 0.001), Loss("random", 0.05), GE_BURSTS, Loss("random", 0.2),
            Loss("random", 0.01))
STEADY = {"random 1%": Loss("random", 0.01), "random 5%": Loss("random", 0.05),
          "GE bursts": GE_BURSTS}


class LossStream:
    """Loss bits of one model, consumed in order, one per packet on the link."""

    CHUNK = 1 << 16

    def __init__(self, loss: Loss, seed: tuple[int, ...]) -> None:
        self.loss = loss
        self.rng = np.random.default_rng(list(seed))
        self.buf = np.zeros(0, dtype=bool)
        self.at = 0
        if loss.kind == "ge":
            pi_b = loss.p / (loss.p + loss.r)
            self.bad = bool(self.rng.random() < pi_b)   # stationary start
            self.left = int(self.rng.geometric(loss.r if self.bad else loss.p))

    def _refill(self, need: int) -> None:
        n = max(self.CHUNK, need)
        if self.loss.kind == "random":
            fresh = self.rng.random(n) < self.loss.p
        else:
            fresh = self._ge(n)
        self.buf = np.concatenate([self.buf[self.at:], fresh])
        self.at = 0

    def _ge(self, n: int) -> np.ndarray:
        lo = self.loss
        states = [np.full(min(self.left, n), self.bad)]
        have = len(states[0])
        self.left -= have
        bad = self.bad
        while have < n:
            count = max(16, int((n - have) * (lo.p * lo.r) / (lo.p + lo.r) * 1.2) + 16)
            goods = self.rng.geometric(lo.p, count)
            bads = self.rng.geometric(lo.r, count)
            # Alternate runs, starting with the state after the current one.
            first, second = (goods, bads) if bad else (bads, goods)
            runs = np.empty(2 * count, dtype=np.int64)
            runs[0::2], runs[1::2] = first, second
            flags = np.empty(2 * count, dtype=bool)
            flags[0::2], flags[1::2] = (not bad), bad
            seq = np.repeat(flags, runs)
            take = min(len(seq), n - have)
            states.append(seq[:take])
            have += take
            ends = np.cumsum(runs)
            last = int(np.searchsorted(ends, take, side="left"))   # run holding bit take-1
            self.bad = bool(flags[last])
            self.left = int(ends[last] - take)
            bad = self.bad
        if self.left == 0:      # the last run ended exactly: draw the next one
            self.bad = not self.bad
            self.left = int(self.rng.geometric(lo.r if self.bad else lo.p))
        st = np.concatenate(states)
        return st & (self.rng.random(n) < lo.bad)

    def take(self, n: int) -> np.ndarray:
        if self.at + n > len(self.buf):
            self._refill(n)
        out = self.buf[self.at:self.at + n]
        self.at += n
        return out


class Channel:
    """A lossy link following a schedule of phases: one loss stream per phase."""

    def __init__(self, phases: list[Loss], seed: int, direction: int,
                 ids: list[int] | None = None) -> None:
        ids = ids if ids is not None else list(range(len(phases)))
        self.streams = [LossStream(loss, (seed, direction, n)) for n, loss in zip(ids, phases)]

    def take(self, n: int, phase: int) -> np.ndarray:
        return self.streams[phase].take(n)


# -------------------------------------------------------------- statistics ---

def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    ph = k / n
    den = 1 + z * z / n
    mid = (ph + z * z / (2 * n)) / den
    half = z * math.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n)) / den
    return (max(0.0, mid - half), min(1.0, mid + half))


def _poisson_cdf(k: int, mu: float) -> float:
    if mu <= 0:
        return 1.0
    term = math.exp(-mu)
    total = term
    for j in range(1, k + 1):
        term *= mu / j
        total += term
    return min(1.0, total)


def poisson_ci(k: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact (Garwood) interval for a Poisson mean given k events."""
    if k > 500:                              # normal approximation is fine here
        half = 1.96 * math.sqrt(k)
        return (max(0.0, k - half), k + half + 1)

    def solve(pred: Any, lo: float, hi: float) -> float:
        for _ in range(100):
            mid = (lo + hi) / 2
            if pred(mid):
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2
    upper = solve(lambda mu: _poisson_cdf(k, mu) > alpha / 2, 0.0, 10.0 * k + 20)
    lower = 0.0 if k == 0 else solve(lambda mu: 1 - _poisson_cdf(k - 1, mu) < alpha / 2,
                                     0.0, 10.0 * k + 20)
    return (lower, upper)


def event_gap(row: dict[str, Any]) -> int:
    """Source packets within which residual losses count as one event: one
    block (or window) fails at once; without FEC every loss is its own."""
    code = row["code"]
    if code == "none":
        return 1
    if code == "rlc":
        return int(row["window"])
    if code == "adaptive":
        return 255
    return int(row["k"]) * int(row.get("depth", 1))


def residual_stats(lost_seqs: np.ndarray, sent: int, gap: int) -> dict[str, Any]:
    lost = int(len(lost_seqs))
    if lost:
        events = 1 + int(np.count_nonzero(np.diff(np.sort(lost_seqs)) >= gap))
    else:
        events = 0
    lo, hi = poisson_ci(events)
    size = lost / events if events else 1.0
    return {
        "sent": sent, "lost": lost, "events": events,
        "residual": lost / sent if sent else None,
        "ci_packets": wilson(lost, sent),
        "ci_events": ((lo * size / sent, hi * size / sent) if sent else (0.0, 1.0)),
    }


# --------------------------------------------------------------- encoders ---

def has_rlc() -> bool:
    try:
        fec.Encoder(5, 1, code="rlc", window=20, session_id=1).close()
    except (TypeError, ValueError, fec.FecError):
        return False
    return True


def has_adaptive() -> bool:
    return hasattr(fec, "AdaptivePolicy")


def make_encoder(row: dict[str, Any], target: float, max_delay_ms: float) -> Any:
    code = row["code"]
    if code == "none":
        return None
    if code == "adaptive":
        api: Any = fec          # AdaptivePolicy exists in builds with adaptive FEC
        policy = api.AdaptivePolicy(target_loss=target, max_delay_ms=max_delay_ms)
        encoder: Any = fec.Encoder
        return encoder(10, 4, adaptive=policy, session_id=0x5EED, max_payload=2048)
    kw: dict[str, Any] = {"code": code, "session_id": 0x5EED, "max_payload": 2048}
    if code == "rlc":
        kw["window"] = row["window"]
    else:
        kw["depth"] = row.get("depth", 1)
    return fec.Encoder(row["k"], row["m"], **kw)


def make_decoder(row: dict[str, Any]) -> Any:
    if row["code"] == "none":
        return None
    if row["code"] == "adaptive":
        decoder: Any = fec.Decoder
        return decoder(max_payload=2048, measure_window_ms=1000)
    return fec.Decoder(max_payload=2048)


def setting_of(enc: Any, row: dict[str, Any]) -> tuple[Any, ...]:
    if row["code"] != "adaptive":
        return (row["code"], row.get("k"), row.get("m"), row.get("depth", 1),
                row.get("window"))
    s = enc.setting
    return (s.code, s.k, s.m, s.depth, s.window, round(float(s.overhead), 6),
            float(s.predicted_loss), str(s.reason))


# -------------------------------------------------------------- simulator ---

class Payloads:
    """Distinct payloads: 8-byte sequence number + a slice of a random pool."""

    def __init__(self, n: int, seed: int) -> None:
        rng = np.random.default_rng([seed, 7])
        self.sizes = rng.integers(PAYLOAD_MIN, PAYLOAD_MAX + 1, n)
        self.offsets = rng.integers(0, 1 << 20, n)
        self.pool = rng.bytes((1 << 20) + PAYLOAD_MAX)
        self.sizes_l = self.sizes.tolist()
        self.offsets_l = self.offsets.tolist()

    def get(self, seq: int) -> bytes:
        off = self.offsets_l[seq]
        return seq.to_bytes(SEQ_BYTES, "little") + self.pool[
            off:off + self.sizes_l[seq] - SEQ_BYTES]


def simulate(row: dict[str, Any], phases: list[Loss], phase_s: float, *, rate: int,
             seed: int, delay_ms: float, target: float, max_delay_ms: float,
             payloads: Payloads | None = None,
             phase_ids: list[int] | None = None) -> dict[str, Any]:
    """Runs one row through the phases; returns raw per-packet and per-tick arrays."""
    tick_ns = int(TICK_MS * 1e6)
    delay_ticks = max(0, round(delay_ms / TICK_MS))
    phase_ns = int(phase_s * 1e9)
    n_src = int(len(phases) * phase_s * rate)
    send_ns = (np.arange(n_src, dtype=np.int64) * 1_000_000_000) // rate
    pl = payloads if payloads is not None and len(payloads.sizes) >= n_src \
        else Payloads(n_src, seed)
    enc: Any = make_encoder(row, target, max_delay_ms)
    dec: Any = make_decoder(row)
    adaptive = row["code"] == "adaptive"
    peer: Any = fec.Decoder(max_payload=2048) if adaptive else None
    fwd = Channel(phases, seed, 0, phase_ids)
    rev = Channel(phases, seed, 1, phase_ids)

    arrived = np.zeros(n_src, dtype=bool)
    link_lost = np.zeros(n_src, dtype=bool)
    delivered = np.zeros(n_src, dtype=np.int32)
    rec_lo = np.full(n_src, -1, dtype=np.int64)
    rec_hi = np.full(n_src, -1, dtype=np.int64)
    corrupt = ambiguous = 0
    # per tick: sources, source bytes, repair packets, wire bytes, wire lost, control bytes
    t_src: list[int] = []
    t_srcb: list[int] = []
    t_rep: list[int] = []
    t_wireb: list[int] = []
    t_lost: list[int] = []
    t_wire: list[int] = []
    fb_sent = fb_lost = fb_bytes = reports = 0
    settings: list[tuple[float, tuple[Any, ...]]] = []
    over_series: list[tuple[float, float]] = []
    fq: deque[tuple[int, list[bytes], np.ndarray, np.ndarray]] = deque()
    rq: deque[tuple[int, bytes]] = deque()

    last_setting = None
    if enc is not None:
        last_setting = setting_of(enc, row)
        settings.append((0.0, last_setting))
    s = 0
    flushed = enc is None
    i = 0
    n_phases = len(phases)
    while True:
        T = (i + 1) * tick_ns
        phase = min(n_phases - 1, (i * tick_ns) // phase_ns)
        # ---- sender
        e = min(n_src, -(-T * rate // 1_000_000_000))
        wire: list[bytes]
        if s < e:
            batch = [pl.get(j) for j in range(s, e)]
            srcb = int(pl.sizes[s:e].sum())
            if enc is None:
                wire = batch
            else:
                wire = enc.encode(batch, now=T)
                wire += enc.poll(now=T)
        else:
            srcb = 0
            wire = []
            if s >= n_src and not flushed:
                wire = enc.flush()
                flushed = True
        nw = len(wire)
        if nw:
            if enc is None:
                is_src = np.ones(nw, dtype=bool)
                ctrl = np.zeros(nw, dtype=bool)
            else:
                kinds = (np.frombuffer(bytes([w[1] for w in wire]), dtype=np.uint8) >> 4) & 3
                is_src = kinds == 0
                ctrl = kinds == 2
            seqs = np.full(nw, -1, dtype=np.int64)
            seqs[is_src] = np.arange(s, e)
            pos = np.where(is_src, np.arange(nw), -1)
            last = np.maximum.accumulate(pos)
            times = np.where(last >= 0, send_ns[seqs[np.maximum(last, 0)]], T)
            lost = fwd.take(nw, phase)
            link_lost[seqs[is_src & lost]] = True
            wireb = sum(map(len, wire))
            keep = ~lost
            fq.append((i + delay_ticks, list(compress(wire, keep.tolist())), seqs[keep],
                       times[keep]))
            t_rep.append(int(nw - is_src.sum() - ctrl.sum()))
            t_lost.append(int(lost.sum()))
        else:
            wireb = 0
            t_rep.append(0)
            t_lost.append(0)
        t_src.append(e - s if s < e else 0)
        t_srcb.append(srcb)
        t_wireb.append(wireb)
        t_wire.append(nw)
        s = max(s, e)
        # ---- receiver
        while fq and fq[0][0] <= i:
            _, pkts, iseq, itime = fq.popleft()
            arrived[iseq[iseq >= 0]] = True
            if dec is None:
                cuts = [0, len(pkts)]
            else:
                # One decode call per run of packets in which every repair packet
                # has the send time of the packet before it: then whatever a call
                # rebuilds is placed exactly in time (see _attribute).
                new_t = np.flatnonzero((iseq[1:] < 0) & (itime[1:] != itime[:-1])) + 1
                cuts = [0, *new_t.tolist(), len(pkts)]
            for c0, c1 in zip(cuts, cuts[1:]):
                if c0 == c1:
                    continue
                part = pkts[c0:c1]
                outs = part if dec is None else dec.decode(part, now=T)
                if not outs:
                    continue
                oseq = np.frombuffer(b"".join([p[:SEQ_BYTES] for p in outs]), dtype="<i8")
                first = delivered[oseq] == 0
                np.add.at(delivered, oseq, 1)
                rec = ~arrived[oseq] & first
                if rec.any():
                    ambiguous += _attribute(oseq, rec, iseq[c0:c1], itime[c0:c1],
                                            rec_lo, rec_hi)
                    for o in np.flatnonzero(rec).tolist():
                        if outs[o] != pl.get(int(oseq[o])):
                            corrupt += 1
        # ---- feedback (adaptive), while the sender runs
        if adaptive and not (s >= n_src and flushed):
            fb = dec.feedback(now=T)
            # the reverse link carries as much traffic as the forward one: a
            # feedback packet is lost as one of those packets would be
            rbits = rev.take(max(1, nw), phase)
            if fb is not None:
                fb_sent += 1
                fb_bytes += len(fb)
                if rbits[-1]:
                    fb_lost += 1
                else:
                    rq.append((i + delay_ticks, fb))
            while rq and rq[0][0] <= i:
                _, pkt = rq.popleft()
                peer.decode([pkt], now=T)
                for rep in _take_reports(peer):
                    enc.apply_report(rep, now=T)
                    reports += 1
            cur = setting_of(enc, row)
            if cur != last_setting:
                settings.append((T / 1e9, cur))
                last_setting = cur
            over_series.append((T / 1e9, float(enc.setting.overhead)))
        i += 1
        if s >= n_src and flushed and not fq and not rq:
            break
    if dec is not None:
        dec.poll(now=(i + 1) * tick_ns + 10 * 1_000_000_000)
        dstats = dict(dec.stats)
    else:
        dstats = {}
    return {
        "row": row, "n_src": n_src, "send_ns": send_ns, "sizes": pl.sizes[:n_src],
        "arrived": arrived, "link_lost": link_lost, "delivered": delivered,
        "rec_lo": rec_lo, "rec_hi": rec_hi, "corrupt": corrupt, "ambiguous": ambiguous,
        "tick": {"src": np.array(t_src), "srcb": np.array(t_srcb), "rep": np.array(t_rep),
                 "wireb": np.array(t_wireb), "lost": np.array(t_lost),
                 "wire": np.array(t_wire)},
        "feedback": {"sent": fb_sent, "lost": fb_lost, "bytes": fb_bytes, "reports": reports},
        "settings": settings, "overhead_series": over_series, "decoder": dstats,
        "phase_ns": phase_ns, "tick_ns": tick_ns,
    }


def _take_reports(peer: Any) -> list[Any]:
    got = peer.peer_reports()
    if isinstance(got, dict):
        got = list(got.values())
    return list(got or [])


def _attribute(oseq: np.ndarray, rec: np.ndarray, iseq: np.ndarray, itime: np.ndarray,
               rec_lo: np.ndarray, rec_hi: np.ndarray) -> int:
    """Send time of the packet that let the decoder rebuild each recovered payload.

    The decoder returns, for each input packet in turn, that packet's own
    payload (a source) and then what it let it rebuild.  So a rebuilt payload
    listed after the payload of input a and before the next delivered source
    b was rebuilt by one of inputs a .. b-1 (by the first inputs of the call
    when no source came before).  The caller cuts its batches so that those
    inputs share one send time; returns how many rebuilt payloads still had a
    range spanning more than one (the later time is used: an upper bound).
    """
    where = {int(q): n for n, q in enumerate(iseq.tolist()) if q >= 0}
    n_in = len(iseq)
    a = 0
    pending: list[int] = []
    amb = 0

    def settle(b: int) -> int:
        lo, hi = int(itime[a]), int(itime[max(a, b - 1)])
        for seq in pending:
            rec_lo[seq], rec_hi[seq] = lo, hi
        n = len(pending) if hi != lo else 0
        pending.clear()
        return n
    for o, seq in enumerate(oseq.tolist()):
        if rec[o]:
            pending.append(seq)
            continue
        b = where.get(seq)
        if b is None:        # a source delivered late from an older batch: not a boundary
            continue
        if pending:
            amb += settle(b)
        a = b
    if pending:
        amb += settle(n_in)
    return amb


# ------------------------------------------------------------- summaries ---

def summarize_run(raw: dict[str, Any], phases: list[Loss], skip_s: float,
                  target: float) -> dict[str, Any]:
    send = raw["send_ns"]
    phase_ns = raw["phase_ns"]
    tick_ns = raw["tick_ns"]
    ph_of = np.minimum(send // phase_ns, len(phases) - 1)
    never = raw["delivered"] == 0
    recovered = (raw["rec_hi"] >= 0)
    delay_ms = (raw["rec_hi"] - send) / 1e6
    tk = raw["tick"]
    n_ticks = len(tk["src"])
    tick_phase = np.minimum((np.arange(n_ticks) * tick_ns) // phase_ns, len(phases) - 1)
    in_skip = (send % phase_ns) < int(skip_s * 1e9)
    in_skip &= ph_of > 0                  # the first phase has no transition
    gap = event_gap(raw["row"])

    def part(sel: np.ndarray, tsel: np.ndarray) -> dict[str, Any]:
        sent = int(sel.sum())
        d = delay_ms[sel & recovered]
        srcb = int(tk["srcb"][tsel].sum())
        nsrc = int(tk["src"][tsel].sum())
        out = residual_stats(np.flatnonzero(sel & never), sent, gap)
        out.update({
            "link_loss": float(raw["link_lost"][sel].mean()) if sent else None,
            "recovered": int(d.size),
            "delay_mean_ms": float(d.mean()) if d.size else None,
            "delay_p99_ms": float(np.percentile(d, 99)) if d.size else None,
            "delay_p50_p90_max_ms": ([float(x) for x in np.percentile(d, [50, 90, 100])]
                                     if d.size else None),
            "overhead_bytes": (int(tk["wireb"][tsel].sum()) - srcb) / srcb if srcb else None,
            "overhead_packets": int(tk["rep"][tsel].sum()) / nsrc if nsrc else None,
        })
        return out

    per_phase = []
    for n, loss in enumerate(phases):
        sel = ph_of == n
        tsel = tick_phase == n
        entry: dict[str, Any] = {"loss": loss.label, "all": part(sel, tsel),
                 "steady": part(sel & ~in_skip, tsel)}
        st = entry["steady"]
        st["meets_target"] = st["residual"] is not None and st["residual"] <= target
        per_phase.append(entry)
    everything = np.ones(len(send), dtype=bool)
    total = part(everything, np.ones(n_ticks, dtype=bool))
    steady_total = part(~in_skip, np.ones(n_ticks, dtype=bool))
    fb = raw["feedback"]
    srcb_all = int(tk["srcb"].sum())
    total["overhead_bytes_with_feedback"] = (
        (int(tk["wireb"].sum()) - srcb_all + fb["bytes"]) / srcb_all if srcb_all else None)
    res = {
        "name": raw["row"]["name"], "row": raw["row"], "phases": per_phase, "total": total,
        "steady_total": steady_total, "corrupt": raw["corrupt"],
        "delay_ambiguous": raw["ambiguous"], "feedback": fb,
        "accounting": {"sent": int(len(send)),
                       "delivered": int((raw["delivered"] > 0).sum()),
                       "duplicates": int(np.maximum(raw["delivered"] - 1, 0).sum()),
                       "never_delivered": int(never.sum()),
                       "direct": int(((raw["delivered"] > 0) & raw["arrived"]).sum()),
                       "arrived_not_delivered": int((never & raw["arrived"]).sum()),
                       "recovered": int(recovered.sum())},
        "decoder": {k: int(v) for k, v in raw["decoder"].items()},
        "meets_target_every_phase": all(p["steady"]["meets_target"] for p in per_phase),
    }
    if raw["row"]["code"] == "adaptive":
        res["settings"] = [{"t": t, "setting": list(s)} for t, s in raw["settings"]]
        res["settling"] = settling(raw, phases, target)
    res["series"] = series(raw, phases)
    return res


def settling(raw: dict[str, Any], phases: list[Loss], target: float) -> list[dict[str, Any]]:
    """Per transition: time to the last setting change in the phase, and the
    first time from which the residual loss to the phase's end meets the target."""
    phase_ns = raw["phase_ns"]
    send = raw["send_ns"]
    never = raw["delivered"] == 0
    changes = [(t, s[:5]) for t, s in raw["settings"]]
    out = []
    for n in range(1, len(phases)):
        t0 = n * phase_ns / 1e9
        t1 = t0 + phase_ns / 1e9
        inside = [t for t, _ in changes if t0 <= t < t1]
        # changes to code, k, m, depth or window only (not to the prediction)
        distinct = []
        prev = None
        for t, s in changes:
            if s != prev:
                if t0 <= t < t1:
                    distinct.append(t)
                prev = s
        setting_s = (max(distinct) - t0) if distinct else 0.0
        sel = (send >= int(t0 * 1e9)) & (send < int(t1 * 1e9))
        lost_t = send[sel & never]
        grid = np.arange(0.0, phase_ns / 1e9, 0.01)
        starts = (t0 + grid) * 1e9
        sent_after = sel.sum() - np.searchsorted(send[sel], starts)
        lost_after = len(lost_t) - np.searchsorted(lost_t, starts)
        ok = lost_after <= target * np.maximum(sent_after, 1)
        good = np.flatnonzero(ok)
        resid_s = float(grid[good[0]]) if len(good) else float(phase_ns / 1e9)
        late = [t for t in distinct if t >= t0 + 1.0]
        out.append({"transition_s": t0, "to": phases[n].label,
                    "setting_changes": len(distinct), "updates_incl_prediction": len(inside),
                    "setting_changes_after_1s": len(late),
                    "setting_settled_s": setting_s,
                    "residual_settled_s": resid_s, "settled_s": max(setting_s, resid_s)})
    return out


def series(raw: dict[str, Any], phases: list[Loss]) -> dict[str, list[float]]:
    """Per BIN_S bin: link loss, overhead (packets) and residual loss."""
    tk = raw["tick"]
    tick_ns = raw["tick_ns"]
    per_bin = max(1, int(BIN_S * 1e9 / tick_ns))
    n_bins = len(phases) * int(round(raw["phase_ns"] / 1e9 / BIN_S))

    def binsum(a: np.ndarray) -> np.ndarray:
        a = a[:n_bins * per_bin]
        a = np.pad(a, (0, n_bins * per_bin - len(a)))
        return a.reshape(n_bins, per_bin).sum(axis=1)
    wire, lost, rep, src = (binsum(tk[x]) for x in ("wire", "lost", "rep", "src"))
    b = (raw["send_ns"] // int(BIN_S * 1e9)).clip(0, n_bins - 1)
    never = np.bincount(b, weights=(raw["delivered"] == 0), minlength=n_bins)
    sent = np.bincount(b, minlength=n_bins)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {"bin_s": BIN_S,
                "link_loss": np.nan_to_num(lost / wire).round(5).tolist(),
                "overhead_packets": np.nan_to_num(rep / src).round(4).tolist(),
                "residual": np.nan_to_num(never / sent).round(6).tolist()}


# ------------------------------------------------------------------ rows ---

def rs_row(k: int, m: int, name: str | None = None) -> dict[str, Any]:
    return {"name": name or f"RS {k}+{m}", "code": "rs", "k": k, "m": m, "depth": 1}


def base_rows(best: tuple[int, int] | None, notes: list[str]) -> list[dict[str, Any]]:
    rows = [{"name": "no FEC", "code": "none"}, rs_row(10, 4),
            rs_row(*UDPSPEEDER, name="RS 20+10 (UDPspeeder -f20:10 rate)")]
    if best is not None:
        rows.append(rs_row(*best, name=f"RS {best[0]}+{best[1]} (sweep best)"))
    if has_adaptive():
        rows.append({"name": "adaptive (target 1e-4)", "code": "adaptive"})
    else:
        notes.append("adaptive: this build has no fec.AdaptivePolicy; row missing")
    if has_rlc():
        for k, m, w in RLC_PAIRS:
            rows.append({"name": f"RLC w={w} {k}:{m}", "code": "rlc", "k": k, "m": m,
                         "window": w, "pair": w})
            rows.append(dict(rs_row(w, w * m // k, name=f"RS {w}+{w * m // k} (block = w)"),
                             pair=w))
    else:
        notes.append("rlc: this build has no sliding-window code (code='rlc'); rows missing")
    return rows


def sweep_candidates(phases: list[Loss], target: float,
                     ks: tuple[int, ...]) -> list[tuple[int, int]]:
    worst = [p for p in phases if p.kind == "random"]
    out: list[tuple[int, int]] = []
    for k in ks:
        m_pred = None
        for m in range(1, 256 - k):
            if all(analysis.residual_loss_random(p.p, k, m) <= target for p in worst):
                m_pred = m
                break
        if m_pred is None:
            continue
        out.extend((k, m) for m in (m_pred - 1, m_pred) if m >= 1)
    return out


def est_overhead(k: int, m: int) -> float:
    """Byte overhead expected of RS(k, m) with uniform payload sizes."""
    mean = (PAYLOAD_MIN + PAYLOAD_MAX) / 2
    longest = PAYLOAD_MIN + (PAYLOAD_MAX - PAYLOAD_MIN) * k / (k + 1)
    return (m * (longest + 2 + fec.HEADER_LEN) + k * fec.HEADER_LEN) / (k * mean)


def run_sweep(phases: list[Loss], args: argparse.Namespace,
              ks: tuple[int, ...], log: Any) -> dict[str, Any]:
    cands = sorted(sweep_candidates(phases, args.target, ks), key=lambda km: est_overhead(*km))
    order = sorted(range(len(phases)), key=lambda n: -phases[n].mean)
    tried = []
    winner_est = None
    for k, m in cands:
        if winner_est is not None and est_overhead(k, m) > 1.05 * winner_est:
            break
        entry: dict[str, Any] = {"k": k, "m": m, "est_overhead": est_overhead(k, m),
                                 "phases": {}, "passes": True}
        over_b = []
        for n in order:
            raw = simulate(rs_row(k, m), [phases[n]], args.sweep_s, rate=args.rate,
                           seed=args.seed, delay_ms=args.delay_ms, target=args.target,
                           max_delay_ms=args.max_delay_ms, phase_ids=[n])
            summ = summarize_run(raw, [phases[n]], 0.0, args.target)
            st = summ["phases"][0]["steady"]
            entry["phases"][phases[n].label] = {"residual": st["residual"], "lost": st["lost"],
                                                "sent": st["sent"]}
            over_b.append(summ["total"]["overhead_bytes"])
            log(f"  sweep RS {k}+{m}: {phases[n].label}: residual {st['residual']:.2e}")
            if not st["meets_target"]:
                entry["passes"] = False
                entry["failed_at"] = phases[n].label
                break
        entry["overhead_bytes"] = float(np.mean(over_b))
        tried.append(entry)
        if entry["passes"] and winner_est is None:
            winner_est = est_overhead(k, m)
    passing = [e for e in tried if e["passes"]]
    best = min(passing, key=lambda e: e["overhead_bytes"]) if passing else None
    return {"candidates": tried, "best": (best["k"], best["m"]) if best else None}


# -------------------------------------------------------------- evaluation ---

def verdicts(scen: dict[str, Any], best_name: str | None, target: float) -> dict[str, Any]:
    """The issue's targets: adaptive on the schedule (against the sweep's
    best fixed RS), the sliding-window code against RS(window) anywhere."""
    rows = {r["name"]: r for r in scen["rows"]}
    out: dict[str, Any] = {}
    ad = next((r for r in scen["rows"] if r["row"]["code"] == "adaptive"), None)
    if ad is not None and best_name in rows and len(scen["phases"]) > 1:
        fixed = rows[best_name]
        ratio = (ad["total"]["overhead_bytes_with_feedback"] /
                 fixed["total"]["overhead_bytes"])
        settle = max((s["settled_s"] for s in ad.get("settling", [])), default=0.0)
        out["adaptive"] = {
            "meets_target_every_phase": ad["meets_target_every_phase"],
            "overhead_ratio_vs_best_fixed": ratio, "overhead_ok": ratio <= 0.6,
            "worst_settle_s": settle, "settle_ok": settle <= 1.0,
            "pass": ad["meets_target_every_phase"] and ratio <= 0.6 and settle <= 1.0,
        }
    pairs: dict[int, dict[str, Any]] = {}
    for r in scen["rows"]:
        w = r["row"].get("pair")
        if w is not None:
            pairs.setdefault(w, {})[r["row"]["code"]] = r
    for w, pr in pairs.items():
        if "rlc" not in pr or "rs" not in pr:
            continue
        a, b = pr["rlc"]["steady_total"], pr["rs"]["steady_total"]
        res_ok = a["residual"] <= 1.2 * b["residual"] if b["residual"] else a["residual"] == 0
        d_ok = (a["delay_p99_ms"] is not None and b["delay_p99_ms"] is not None
                and a["delay_p99_ms"] <= 0.5 * b["delay_p99_ms"])
        out[f"rlc_w{w}"] = {
            "residual_ratio": (a["residual"] / b["residual"]) if b["residual"] else None,
            "p99_ratio": (a["delay_p99_ms"] / b["delay_p99_ms"])
            if a["delay_p99_ms"] and b["delay_p99_ms"] else None,
            "overhead_rlc": a["overhead_packets"], "overhead_rs": b["overhead_packets"],
            "residual_ok": res_ok, "delay_ok": d_ok, "pass": res_ok and d_ok}
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    t_start = time.monotonic()

    def log(msg: str) -> None:
        print(f"[{time.monotonic() - t_start:7.1f}s] {msg}", file=sys.stderr, flush=True)
    notes: list[str] = []
    schedule = list(SCHEDULE)
    ks = (50, 100) if args.quick else SWEEP_KS
    results: dict[str, Any] = {
        "machine": machine(), "seed": args.seed, "rate_pps": args.rate,
        "phase_s": args.phase_s, "steady_s": args.steady_s, "skip_s": args.skip_s,
        "sweep_s": args.sweep_s,
        "delay_ms": args.delay_ms, "tick_ms": TICK_MS, "target": args.target,
        "max_delay_ms": args.max_delay_ms, "payload_bytes": [PAYLOAD_MIN, PAYLOAD_MAX],
        "quick": args.quick, "notes": notes, "scenarios": {},
        "schedule": [p.label for p in schedule]}
    if args.fixed:
        k, m = (int(x) for x in args.fixed.split("+"))
        results["sweep"] = {"candidates": [], "best": (k, m), "given": True}
        notes.append(f"sweep skipped: fixed RS {k}+{m} given with --fixed")
    else:
        log("sweep over fixed RS k+m on the schedule's phases")
        results["sweep"] = run_sweep(schedule, args, ks, log)
    best = results["sweep"]["best"]
    if best is None:
        notes.append("the sweep found no fixed RS k+m meeting the target in every phase")
    rows = base_rows(tuple(best) if best else None, notes)
    best_name = next((r["name"] for r in rows if "sweep best" in r["name"]), None)
    scenarios: list[tuple[str, list[Loss], float]] = [("schedule", schedule, args.phase_s)]
    scenarios += [(name, [loss], args.steady_s) for name, loss in STEADY.items()
                  if name in args.scenarios]
    for name, phases, seconds in scenarios:
        if name not in args.scenarios:
            continue
        pl = Payloads(int(len(phases) * seconds * args.rate), args.seed)
        scen: dict[str, Any] = {"phases": [p.label for p in phases], "phase_s": seconds,
                                "rows": []}
        for row in rows:
            raw = simulate(row, phases, seconds, rate=args.rate, seed=args.seed,
                           delay_ms=args.delay_ms, target=args.target,
                           max_delay_ms=args.max_delay_ms, payloads=pl)
            summ = summarize_run(raw, phases, args.skip_s if len(phases) > 1 else 0.0,
                                 args.target)
            summ["predicted"] = [
                (p.predict(row["k"], row["m"], row.get("depth", 1))
                 if row["code"] == "rs" else None) for p in phases]
            scen["rows"].append(summ)
            st = summ["steady_total"]
            log(f"{name}: {row['name']}: residual {st['residual']:.2e} "
                f"overhead {summ['total']['overhead_bytes'] or 0:.3f}")
        scen["verdicts"] = verdicts(scen, best_name, args.target)
        results["scenarios"][name] = scen
    results["elapsed_s"] = time.monotonic() - t_start
    return results


# ------------------------------------------------------------------ output ---

def _e(x: float | None) -> str:
    return "-" if x is None else f"{x:.2e}"


def _f(x: float | None, fmt: str = ".3f") -> str:
    return "-" if x is None else format(x, fmt)


def table(results: dict[str, Any]) -> str:
    lines = [f"seed {results['seed']}, {results['rate_pps']} pps, payloads "
             f"{results['payload_bytes'][0]}-{results['payload_bytes'][1]} B, one-way delay "
             f"{results['delay_ms']} ms, target {results['target']:g}"]
    sw = results["sweep"]
    if sw.get("candidates"):
        lines.append(f"\nsweep (fixed RS, {results['sweep_s']:g} s per phase, worst phase first, "
                     "stop at the first miss):")
        for c in sw["candidates"]:
            ph = ", ".join(f"{k}: {_e(v['residual'])} ({v['lost']}/{v['sent']})"
                           for k, v in c["phases"].items())
            lines.append(f"  RS {c['k']}+{c['m']}: overhead {c['overhead_bytes']:.3f} "
                         f"{'PASS' if c['passes'] else 'miss'}; {ph}")
    lines.append(f"sweep best: {sw['best']}")
    for name, scen in results["scenarios"].items():
        lines.append(f"\n== {name}: {', '.join(scen['phases'])} ({scen['phase_s']:g} s each)")
        head = (f"{'row':38s} {'residual':>9s} {'lost':>7s} {'95% (events)':>19s} "
                f"{'ovh B':>6s} {'ovh pk':>6s} {'rec':>7s} {'mean ms':>7s} {'p99 ms':>7s}")
        lines.append(head)
        for r in scen["rows"]:
            st = r["steady_total"]
            lo, hi = st["ci_events"]
            lines.append(
                f"{r['name'][:38]:38s} {_e(st['residual']):>9s} {st['lost']:7d} "
                f"{_e(lo):>9s}-{_e(hi):>9s} {_f(r['total']['overhead_bytes']):>6s} "
                f"{_f(r['total']['overhead_packets']):>6s} {st['recovered']:7d} "
                f"{_f(st['delay_mean_ms'], '.2f'):>7s} {_f(st['delay_p99_ms'], '.2f'):>7s}")
        if len(scen["phases"]) > 1:
            lines.append("\nresidual per phase, without the first "
                         f"{results['skip_s']:g} s after a transition, lost/events (with "
                         "them; * over the target):")
            lines.append(f"{'row':38s} " + " ".join(f"{p[:22]:>30s}" for p in scen["phases"]))
            for r in scen["rows"]:
                cells = [f"{_e(p['steady']['residual'])} {p['steady']['lost']}/"
                         f"{p['steady']['events']} ({_e(p['all']['residual'])})"
                         f"{'*' if not p['steady']['meets_target'] else ' '}"
                         for p in r["phases"]]
                lines.append(f"{r['name'][:38]:38s} " + " ".join(f"{c:>30s}" for c in cells))
            lines.append("overhead (bytes) per phase:")
            for r in scen["rows"]:
                cells = [_f(p["all"]["overhead_bytes"]) for p in r["phases"]]
                lines.append(f"{r['name'][:38]:38s} " + " ".join(f"{c:>30s}" for c in cells))
            for r in scen["rows"]:
                for s in r.get("settling", []):
                    lines.append(f"  {r['name']}: -> {s['to']} at {s['transition_s']:g} s: "
                                 f"settled {s['settled_s']:.2f} s (setting "
                                 f"{s['setting_settled_s']:.2f} s, {s['setting_changes']} "
                                 f"changes; residual {s['residual_settled_s']:.2f} s)")
        for key, v in scen.get("verdicts", {}).items():
            lines.append(f"target {key}: {'PASS' if v['pass'] else 'FAIL'} "
                         + json.dumps({k: (round(x, 4) if isinstance(x, float) else x)
                                       for k, x in v.items() if k != 'pass'}))
    for note in results["notes"]:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scen = results["scenarios"]["schedule"]
    fig, axes = plt.subplots(3, 1, figsize=(9, 7.5), sharex=True)
    picks = [r for r in scen["rows"] if r["row"]["code"] in ("adaptive", "none")
             or "sweep best" in r["name"] or "UDPspeeder" in r["name"]]
    for r in picks:
        s = r["series"]
        if r["row"]["code"] == "none":
            per_s = int(round(1 / s["bin_s"]))
            sec = np.array(s["link_loss"]).reshape(-1, per_s).mean(axis=1)
            axes[0].step(np.arange(len(sec) + 1), np.maximum(np.append(sec, sec[-1]), 1e-4),
                         where="post", color="0.3", lw=0.8)
            continue
        per_s = int(round(1 / s["bin_s"]))
        over = np.array(s["overhead_packets"]).reshape(-1, per_s).mean(axis=1) * 100
        axes[1].step(np.arange(len(over) + 1), np.append(over, over[-1]), where="post", lw=1,
                     label=r["name"])
        sec = np.array(s["residual"]).reshape(-1, int(round(1 / s["bin_s"]))).mean(axis=1)
        sec = np.append(sec, sec[-1])
        axes[2].step(np.arange(len(sec)), np.maximum(sec, 1e-6), where="post", lw=1,
                     label=r["name"])
    axes[0].set_yscale("log")
    axes[0].set_ylabel("link loss\n(1 s bins)")
    axes[1].set_ylabel("repair / source\npackets % (1 s bins)")
    axes[2].set_ylabel("residual loss\n(1 s bins)")
    axes[2].set_yscale("log")
    axes[2].axhline(results["target"], color="k", ls=":", lw=0.8)
    axes[2].set_xlabel("virtual time, s")
    axes[1].legend(fontsize=7, loc="upper left")
    for ax in axes:
        for n in range(1, len(scen["phases"])):
            ax.axvline(n * scen["phase_s"], color="0.7", lw=0.6)
    for n, label in enumerate(scen["phases"]):
        axes[0].text((n + 0.5) * scen["phase_s"], 0.9, label.replace(" bad=", "\nbad="),
                     ha="center", va="top", fontsize=7,
                     transform=axes[0].get_xaxis_transform())
    fig.suptitle(f"FEC on a time-varying link (seed {results['seed']}, "
                 f"{results['rate_pps']} pps, 1e-6 = none lost)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate", type=int, default=20000, help="source packets/s (20000)")
    ap.add_argument("--phase-s", type=float, default=PHASE_S, help="schedule phase, s (30)")
    ap.add_argument("--steady-s", type=float, default=PHASE_S,
                    help="steady scenarios, s (30)")
    ap.add_argument("--sweep-s", type=float, default=90.0,
                    help="seconds of each phase a sweep candidate is run for (90)")
    ap.add_argument("--skip-s", type=float, default=SKIP_S,
                    help="seconds after a transition left out of the per-phase residual (2)")
    ap.add_argument("--delay-ms", type=float, default=10.0, help="one-way delay, ms (10)")
    ap.add_argument("--target", type=float, default=TARGET)
    ap.add_argument("--max-delay-ms", type=float, default=MAX_DELAY_MS)
    ap.add_argument("--scenarios", default="schedule,random 1%,random 5%,GE bursts")
    ap.add_argument("--fixed", metavar="K+M", help="skip the sweep: this RS as the best fixed")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 2000 pps, 2 s phases, a small sweep")
    ap.add_argument("--plot", metavar="PNG", help="draw the schedule run (needs matplotlib)")
    ap.add_argument("--output", default=str(HERE / "results" / "fec_effect.json"))
    ap.add_argument("--table", metavar="JSON", help="reprint the table of an earlier run")
    args = ap.parse_args()
    if args.table:
        results = json.loads(Path(args.table).read_text())
        print(table(results))
        if args.plot:
            plot(results, Path(args.plot))
        return
    if args.quick:
        args.rate, args.phase_s, args.steady_s, args.skip_s = 2000, 2.0, 2.0, 0.5
        args.sweep_s = 2.0
    args.scenarios = [x.strip() for x in args.scenarios.split(",")]
    results = run(args)
    print(table(results))
    print(f"\nJSON: {write_json(args.output, results)}")
    if args.plot:
        try:
            plot(results, Path(args.plot))
            print(f"plot: {args.plot}")
        except ImportError:
            print("plot: matplotlib is not installed", file=sys.stderr)


if __name__ == "__main__":
    main()
