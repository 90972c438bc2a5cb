"""The main job: traffic -> FEC encoder -> lossy link -> FEC decoder -> verifier.

:func:`run_demo` builds the pipeline on whatever this machine offers, with no
NIC and no configuration:

* DPDK backend: the EAL without hugepages, an mbuf pool, and two ``net_ring``
  ports wired back to back as the link between the gateways;
* native backend (no DPDK): the native buffer pool and an in-memory loopback
  port as the link.

Two chains share one GIL-free loop on a background thread::

    Generator -> FecEncodeStage -> tx port A
    rx port B -> Impairment (random + Gilbert-Elliott loss) -> FecDecodeStage -> Verifier

and the caller's thread reports progress.  The result compares the measured
residual loss with the analytical prediction for the code and loss model.

Adaptive mode (``DemoConfig.adaptive``): the decoder measures the link
(pydpdk.adaptive) and its reports go straight back to the encoder's
controller, which picks code, k, m and depth for the target residual loss;
``loss_schedule`` changes the link's loss while it runs, and the summary's
``adaptive.timeline`` has, per tick, the link loss, the overhead chosen and
the residual loss.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from . import _signals
from . import backend as _backend
from .analysis import GilbertElliott, residual_loss_gilbert_elliott, residual_loss_random
from .fec_config import OPTIONS, DecoderConfig, EncoderConfig, FecConfigError, option_error
from .pipeline import FecDecodeStage, FecEncodeStage, Generator, Impairment, Pipeline, Verifier

if TYPE_CHECKING:
    from .backends import Backend

__all__ = ["DemoConfig", "LossPhase", "parse_loss_schedule", "run_demo", "sweep_link_loss"]


@dataclass(frozen=True)
class LossPhase:
    """One phase of a loss schedule: the link's loss from *start_s* on.

    The link loses packets at random with *loss*, plus Gilbert-Elliott
    bursts when *burst_p* is set (pydpdk.analysis.GilbertElliott).

    Parameters
    ----------
    start_s : float
        When the phase starts, in seconds from the start of the run.
    loss : float, default 0.0
        Independent loss probability per packet, in [0, 1].
    burst_p : float or None, default None
        Gilbert-Elliott P(good -> bad) per packet, in [0, 1]; None: no bursts.
    burst_r : float, default 0.25
        Gilbert-Elliott P(bad -> good) per packet, in [0, 1].
    burst_loss : float, default 0.5
        Loss probability in the bad state, in [0, 1].
    """

    start_s: float
    loss: float = 0.0
    burst_p: float | None = None
    burst_r: float = 0.25
    burst_loss: float = 0.5


def parse_loss_schedule(text: str) -> tuple[LossPhase, ...]:
    """Parse the demo's ``--loss-schedule``.

    Parameters
    ----------
    text : str
        ``T=LOSS`` or ``T=ge:P:R:H`` items, comma-separated, T in seconds
        from the start (increasing), LOSS a probability or a percentage,
        e.g. ``0=0.001,5=0.05,10=ge:0.01:0.25:0.5,15=2%``.

    Returns
    -------
    tuple of LossPhase
        The phases in order.

    Raises
    ------
    ValueError
        A malformed item, a probability outside [0, 1], times that do not
        increase from 0, or an empty schedule.
    """
    phases: list[LossPhase] = []
    for item in (x.strip() for x in text.split(",") if x.strip()):
        try:
            when, what = item.split("=", 1)
            start = float(when)
            if what.startswith("ge:"):
                p, r, h = (float(x) for x in what[3:].split(":"))
                phase = LossPhase(start, 0.0, p, r, h)
            else:
                phase = LossPhase(start, float(what.rstrip("%")) /
                                  (100 if what.endswith("%") else 1))
        except ValueError:
            raise ValueError(f"loss schedule items are T=LOSS or T=ge:P:R:H, got {item!r}"
                             ) from None
        for v in (phase.loss, phase.burst_p or 0.0, phase.burst_r, phase.burst_loss):
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"probabilities within [0, 1] only: {item!r}")
        if start < 0 or (phases and start <= phases[-1].start_s):
            raise ValueError(f"loss schedule times must increase from 0: {item!r}")
        phases.append(phase)
    if not phases:
        raise ValueError("empty loss schedule")
    return tuple(phases)


@dataclass
class DemoConfig:
    """Everything the demo can vary; the defaults need no configuration.

    Parameters
    ----------
    backend : str or None, default None
        ``"dpdk"``, ``"native"``, or None for the automatic choice
        (:func:`pydpdk.backend.select`).
    code : str, default "rs"
        FEC code: ``"rs"``, ``"xor"`` or ``"rlc"`` (sliding window).
    k : int, default 10
        Source packets per block.
    m : int, default 3
        Repair packets per block (1 for ``"xor"``).
    depth : int, default 4
        Interleaving: blocks open at once (not ``"rlc"``).
    window : int or None, default None
        ``"rlc"``: sources each repair covers, k..255 (None: k).
    deadline : float, default 0.002
        Seconds before a partial block gets its repair packets.
    loss : float, default 0.02
        Independent loss probability per packet on the link, in [0, 1].
    burst_p : float or None, default 0.002
        Gilbert-Elliott P(good -> bad) per packet; None: no bursts.
    burst_r : float, default 0.25
        Gilbert-Elliott P(bad -> good) per packet.
    burst_loss : float, default 0.6
        Loss probability in the bad state.
    sizes : tuple of int, default (64, 512, 1400)
        Frame sizes in bytes, used in turn.
    rate_pps : float, default 0.0
        Offered packets per second; 0: as fast as the loop goes.
    duration : float, default 12.0
        Seconds to run, > 0.
    seed : int, default 1
        Seed of the link's loss.
    burst : int, default 32
        Packets per burst on the sending side, 1..256.
    eal_args : list of str, default []
        Extra EAL arguments (DPDK backend only; ignored by the native one).
    adaptive : bool, default False
        Feed the decoder's link reports back to the encoder's controller.
    target_loss : float, default 1e-4
        Adaptive: residual loss to stay under, in (0, 1).
    max_delay_ms : float, default 100.0
        Adaptive: latency budget of a block, in milliseconds.
    loss_schedule : tuple of LossPhase, default ()
        The link's loss over time (see :func:`parse_loss_schedule`).
    """

    backend: str | None = None          # 'dpdk', 'native', None: automatic
    code: str = "rs"
    k: int = 10
    m: int = 3
    depth: int = 4                      # interleaving: D blocks open at once (not rlc)
    window: int | None = None           # code 'rlc': sources each repair covers (None: k)
    deadline: float = 0.002             # seconds before a partial block gets parity
    loss: float = 0.02                  # independent loss on the link
    burst_p: float | None = 0.002       # Gilbert-Elliott good -> bad (None: no bursts)
    burst_r: float = 0.25               # bad -> good
    burst_loss: float = 0.6             # loss probability in the bad state
    sizes: tuple[int, ...] = (1024,)    # frame sizes in bytes, used in turn (the CLI's default)
    rate_pps: float = 0.0               # 0: as fast as the loop goes
    duration: float = 12.0
    seed: int = 1
    burst: int = 32
    eal_args: list[str] = field(default_factory=list)
    adaptive: bool = False              # reports fed back to the encoder's controller
    target_loss: float = 1e-4
    max_delay_ms: float = 100.0
    loss_schedule: tuple[LossPhase, ...] = ()   # the link's loss over time

    def encoder_config(self) -> EncoderConfig:
        """The encoder's FEC settings (rlc: no interleaving, *depth* is not used).

        Adaptive: room for what the controller may choose, and a block may
        span the whole latency budget.

        Returns
        -------
        EncoderConfig
            The validated settings of the demo's encoder stage.

        Raises
        ------
        ValueError, TypeError, FecError
            As :class:`~pydpdk.fec_config.EncoderConfig` raises them.
        """
        adaptive = self.adaptive and self.code != "rlc"
        return EncoderConfig(code=self.code, k=self.k, m=self.m,
                             depth=1 if self.code == "rlc" else self.depth,
                             window=self.window,
                             deadline=self.max_delay_ms / 1e3 if self.adaptive else self.deadline,
                             max_payload=max(self.sizes),
                             max_m=max(64, self.m) if adaptive else None,
                             max_depth=max(8, self.depth) if adaptive else None)

    def decoder_config(self) -> DecoderConfig:
        """The decoder's FEC settings (adaptive: measuring the link).

        Returns
        -------
        DecoderConfig
            The validated settings of the demo's decoder stage.

        Raises
        ------
        ValueError, TypeError, FecError
            As :class:`~pydpdk.fec_config.DecoderConfig` raises them.
        """
        enc = self.encoder_config()
        return DecoderConfig(max_payload=enc.max_payload,
                             timeout=max(0.05, 2 * (enc.deadline or 0)) if self.adaptive
                             else 0.05,
                             measure_window=1.0 if self.adaptive else 0.0)

    def validate(self) -> None:
        """Check the combination of settings.

        Raises
        ------
        ValueError
            A value out of range or settings that do not go together (the
            message names the command-line option).
        """
        try:                               # the FEC settings: one validation (fec_config)
            self.encoder_config()
        except FecConfigError as exc:
            raise option_error(exc, dict(OPTIONS, max_payload="--sizes")) from None
        if self.adaptive and self.code != "rs":
            raise ValueError("--adaptive chooses among RS codes (use --code rs)")
        if not 0.0 < self.target_loss < 1.0:
            raise ValueError(f"--target-loss must be within (0, 1), got {self.target_loss}")
        if not self.max_delay_ms > 0:
            raise ValueError(f"--max-delay-ms must be > 0, got {self.max_delay_ms}")
        if self.duration <= 0:
            raise ValueError(f"duration must be > 0 seconds, got {self.duration}")
        for name in ("loss", "burst_r", "burst_loss"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        if self.burst_p is not None and not 0.0 <= self.burst_p <= 1.0:
            raise ValueError(f"burst_p must be within [0, 1], got {self.burst_p}")

    def link_model(self) -> GilbertElliott | None:
        """The link's loss model.

        Returns
        -------
        GilbertElliott or None
            The Gilbert-Elliott model with *loss* added; None without
            bursts (random loss only).
        """
        if self.burst_p is None or self.burst_p == 0:
            return None
        return GilbertElliott(p=self.burst_p, r=self.burst_r, loss_good=0.0,
                              loss_bad=self.burst_loss, random_loss=self.loss)

    def predicted(self) -> dict[str, float]:
        """Link loss and residual loss predicted for this code and loss model.

        Returns
        -------
        dict of str to float
            ``link_loss`` and ``residual_loss`` (fractions of packets),
            from pydpdk.analysis (RS k+m also for ``"rlc"``).
        """
        model = self.link_model()
        if model is None:
            return {"link_loss": self.loss,
                    "residual_loss": residual_loss_random(self.loss, self.k, self.m)}
        return {"link_loss": model.mean_loss,
                "residual_loss": residual_loss_gilbert_elliott(model, self.k, self.m,
                                                               self.depth)}


@contextlib.contextmanager
def _link(cfg: DemoConfig, leaks: list[int]) -> Iterator[tuple[Backend, Any, Any, Any]]:
    """(backend, pool, tx port, rx port) for the link between the two gateways.

    On the way out, the buffers still in use once the ports are closed (and
    before the pool is) are appended to *leaks*."""
    chosen = _backend.select(cfg.backend)
    with chosen.runtime(cfg.eal_args, eal_optional=True):
        pool = chosen.pool(16384)
        try:
            with chosen.link_pair(pool, depth=4096, name="demo") as ((_, tx), (rx, _)):
                yield chosen, pool, tx, rx
        finally:
            leaks.append(pool.in_use)
            pool.close()


def _snapshot(gen: Generator, enc: FecEncodeStage, imp: Impairment, dec: FecDecodeStage,
              ver: Verifier, elapsed: float) -> dict[str, Any]:
    g, e, i, d, v = gen.counters, enc.counters, imp.counters, dec.counters, ver.counters
    offered = g["sent"]
    delivered = v["valid"]
    return {
        "elapsed_s": elapsed,
        "offered": offered,
        "offered_bytes": g["sent_bytes"],
        "repair_packets": e["repair_packets"],
        "wire_packets": i["seen"],
        "wire_bytes": e["bytes_out"],
        "lost_on_link": i["lost"],
        "lost_random": i["lost_random"],
        "lost_burst": i["lost_burst"],
        "recovered": d["recovered"],
        "delivered": delivered,
        "corrupted": v["corrupted"],
        "duplicates": v["duplicates"],
        "unrecoverable": d["unrecoverable"],
        "latency_mean_us": v["latency_sum_ns"] / max(v["received"], 1) / 1e3,
        "latency_max_us": v["latency_max_ns"] / 1e3,
        "rate_mpps": offered / elapsed / 1e6 if elapsed > 0 else 0.0,
    }


def run_demo(cfg: DemoConfig | None = None,
             on_progress: Callable[[dict[str, Any]], None] | None = None,
             progress_interval: float = 0.5) -> dict[str, Any]:
    """Run the demo pipeline for ``cfg.duration`` seconds.

    Ctrl-C (SIGINT, and SIGTERM where a Python handler is installed) stops
    the run early, also during setup: the summary says so (``interrupted``,
    ``signal``).  Whatever ends the run, including an exception raised by
    *on_progress*, the native loop is stopped and joined before the ports
    and the pool are closed, and every buffer is back in its pool when this
    returns or raises.

    Parameters
    ----------
    cfg : DemoConfig, optional
        The settings; None: the defaults.
    on_progress : callable, optional
        Called from this thread with a snapshot of the counters (the
        summary's counter keys) every *progress_interval* seconds.
    progress_interval : float, default 0.5
        Seconds between progress snapshots.

    Returns
    -------
    dict
        The summary: packet counts (``offered``, ``lost_on_link``,
        ``recovered``, ``delivered``, ``corrupted``, ...), ``link_loss`` and
        ``residual_loss`` with their predictions, ``throughput_gbps``,
        ``rate_mpps``, latency in microseconds, ``overhead_packets`` and
        ``overhead_bytes`` (fractions), ``backend``, ``config``,
        ``interrupted``, ``signal``, ``buffers_leaked`` and, adaptive,
        ``adaptive`` (the controller's state and its timeline).

    Raises
    ------
    ValueError
        *cfg* does not validate.
    BackendUnavailableError, DpdkUnavailableError
        The backend asked for cannot run here.
    EalError
        DPDK refused the EAL arguments.
    """
    cfg = cfg or DemoConfig()
    cfg.validate()
    with _signals.deferred() as sig:
        return _run_demo(cfg, sig, on_progress, progress_interval)


class _Adaptive:
    """The demo's adaptive loop: loss schedule, controller, timeline."""

    TICK = 0.1

    def __init__(self, cfg: DemoConfig, enc: FecEncodeStage, imp: Impairment,
                 dec: FecDecodeStage) -> None:
        from .adaptive import AdaptivePolicy, StageController

        self.cfg, self.imp = cfg, imp
        self.policy = AdaptivePolicy(target_loss=cfg.target_loss, max_delay_ms=cfg.max_delay_ms,
                                     codes=(cfg.code,))
        self.ctl = StageController(self.policy, enc, dec.link_report,
                                   deadline=cfg.max_delay_ms / 1e3)
        self.phase = -1
        self.timeline: list[dict[str, Any]] = []
        self.last: tuple[int, int, int] | None = None

    def tick(self, elapsed: float, snap: dict[str, Any]) -> None:
        sched = self.cfg.loss_schedule
        while self.phase + 1 < len(sched) and sched[self.phase + 1].start_s <= elapsed:
            self.phase += 1
            ph = sched[self.phase]
            self.imp.set_loss(ph.loss, ge_p=ph.burst_p, ge_r=ph.burst_r if ph.burst_p else None,
                              ge_loss_bad=ph.burst_loss)
        self.ctl.step(int(elapsed * 1e9))
        now = (snap["offered"], snap["delivered"], snap["repair_packets"])
        if self.last is not None:
            offered = now[0] - self.last[0]
            rep = self.ctl.report
            s = self.ctl.setting
            self.timeline.append({
                "t_s": round(elapsed, 3),
                "link_loss": rep.loss_rate if rep else 0.0,
                "scheduled_loss": self.scheduled_loss(),
                "overhead": s.overhead, "k": s.k, "m": s.m, "depth": s.depth,
                "residual_loss": max(offered - (now[1] - self.last[1]), 0) / offered
                if offered > 0 else 0.0,
                "offered": offered})
        self.last = now

    def scheduled_loss(self) -> float:
        if self.phase < 0:
            return self.cfg.loss
        ph = self.cfg.loss_schedule[self.phase]
        if ph.burst_p:
            from .analysis import GilbertElliott

            return GilbertElliott(ph.burst_p, ph.burst_r, 0.0, ph.burst_loss,
                                  ph.loss).mean_loss
        return ph.loss

    def status(self) -> dict[str, Any]:
        st = self.ctl.status()
        st["scheduled_loss"] = self.scheduled_loss()
        return st


def _run_demo(cfg: DemoConfig, sig: _signals.Deferral,
              on_progress: Callable[[dict[str, Any]], None] | None,
              progress_interval: float) -> dict[str, Any]:
    leaks: list[int] = []
    with _link(cfg, leaks) as (chosen, pool, tx_port, rx_port):
        gen = Generator(pool, sizes=cfg.sizes, rate_pps=cfg.rate_pps)
        enc = FecEncodeStage(pool, config=cfg.encoder_config())
        model = cfg.link_model()
        imp = Impairment(pool, loss=cfg.loss, seed=cfg.seed,
                         ge_p=None if model is None else model.p,
                         ge_r=None if model is None else model.r,
                         ge_loss_bad=cfg.burst_loss)
        dec = FecDecodeStage(pool, config=cfg.decoder_config())
        ver = Verifier(pool, marker_offset=gen.marker_offset)
        adapt = _Adaptive(cfg, enc, imp, dec) if cfg.adaptive else None
        # Leaving this block, for any reason, stops and joins the loop first.
        with Pipeline() as pipe:
            pipe.add(gen, enc, sink=tx_port, burst=cfg.burst)
            # The receiving side pulls bigger bursts so the link never overflows.
            pipe.add(rx_port, imp, dec, sink=ver, burst=256)
            started = time.monotonic()
            result: dict[str, Any] | None = None
            if sig.signum is None:          # not interrupted during setup
                if adapt is not None:
                    adapt.tick(0.0, _snapshot(gen, enc, imp, dec, ver, 0.0))
                pipe.start(duration=cfg.duration)
                tick = min(progress_interval, _Adaptive.TICK) if adapt else progress_interval
                shown = time.monotonic()
                with sig.on_signal(pipe.request_stop):
                    while (result := pipe.join(timeout=tick)) is None:
                        now = time.monotonic()
                        snap = _snapshot(gen, enc, imp, dec, ver, now - started)
                        if adapt is not None:
                            adapt.tick(now - started, snap)
                            snap["adaptive"] = adapt.status()
                        if on_progress is not None and (adapt is None or
                                                        now - shown >= progress_interval):
                            shown = now
                            on_progress(snap)
        elapsed = (result or {}).get("elapsed_s", time.monotonic() - started)
        summary = _snapshot(gen, enc, imp, dec, ver, elapsed)
    sig.consume()
    predicted = cfg.predicted()
    offered = max(summary["offered"], 1)
    summary.update(
        backend=chosen.name,
        interrupted=sig.signum is not None,
        signal=sig.name,
        config=asdict(cfg),
        link_loss=summary["lost_on_link"] / max(summary["wire_packets"], 1),
        residual_loss=(summary["offered"] - summary["delivered"]) / offered,
        predicted_link_loss=predicted["link_loss"],
        predicted_residual_loss=predicted["residual_loss"],
        overhead_packets=summary["repair_packets"] / offered,
        overhead_bytes=summary["wire_bytes"] / max(summary["offered_bytes"], 1) - 1.0,
        throughput_gbps=summary["offered_bytes"] * 8 / elapsed / 1e9 if elapsed else 0.0,
        buffers_leaked=leaks[0] if leaks else 0,
    )
    if adapt is not None:
        summary["adaptive"] = dict(adapt.status(), timeline=adapt.timeline)
    return summary


def sweep_link_loss(cfg: DemoConfig, losses: list[float], seconds_each: float = 1.0
                    ) -> list[dict[str, float]]:
    """Residual loss measured and predicted for each random link loss (no bursts).

    Runs the demo once per loss (an interrupted run ends the sweep).

    Parameters
    ----------
    cfg : DemoConfig
        The code and the rest of the settings (its loss and bursts are
        replaced).
    losses : list of float
        Random link loss probabilities, in [0, 1].
    seconds_each : float, default 1.0
        Duration of each run in seconds.

    Returns
    -------
    list of dict
        Per loss: ``link_loss`` (measured), ``residual_loss``,
        ``predicted_residual_loss`` (fractions) and ``offered`` (packets).

    Raises
    ------
    ValueError, BackendUnavailableError, EalError
        As :func:`run_demo`.
    """
    points = []
    for loss in losses:
        point_cfg = DemoConfig(**{**asdict(cfg), "loss": loss, "burst_p": None,
                                  "duration": seconds_each, "sizes": tuple(cfg.sizes)})
        s = run_demo(point_cfg)
        if s["interrupted"]:
            break
        points.append({"link_loss": s["link_loss"], "residual_loss": s["residual_loss"],
                       "predicted_residual_loss": s["predicted_residual_loss"],
                       "offered": s["offered"]})
    return points
