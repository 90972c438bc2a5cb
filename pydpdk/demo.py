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
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from . import _signals
from . import backend as _backend
from .analysis import GilbertElliott, residual_loss_gilbert_elliott, residual_loss_random
from .pipeline import FecDecodeStage, FecEncodeStage, Generator, Impairment, Pipeline, Verifier

__all__ = ["DemoConfig", "run_demo", "sweep_link_loss"]


@dataclass
class DemoConfig:
    """Everything the demo can vary; the defaults need no configuration."""

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
    sizes: tuple[int, ...] = (64, 512, 1400)
    rate_pps: float = 0.0               # 0: as fast as the loop goes
    duration: float = 12.0
    seed: int = 1
    burst: int = 32
    eal_args: list[str] = field(default_factory=list)

    def validate(self) -> None:
        if self.duration <= 0:
            raise ValueError(f"duration must be > 0 seconds, got {self.duration}")
        if self.code == "xor" and self.m != 1:
            raise ValueError("the XOR code has m=1 (one parity packet per block)")
        for name in ("loss", "burst_r", "burst_loss"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        if self.burst_p is not None and not 0.0 <= self.burst_p <= 1.0:
            raise ValueError(f"burst_p must be within [0, 1], got {self.burst_p}")

    def link_model(self) -> GilbertElliott | None:
        if self.burst_p is None or self.burst_p == 0:
            return None
        return GilbertElliott(p=self.burst_p, r=self.burst_r, loss_good=0.0,
                              loss_bad=self.burst_loss, random_loss=self.loss)

    def predicted(self) -> dict[str, float]:
        """Link loss and residual loss predicted for this code and loss model."""
        model = self.link_model()
        if model is None:
            return {"link_loss": self.loss,
                    "residual_loss": residual_loss_random(self.loss, self.k, self.m)}
        return {"link_loss": model.mean_loss,
                "residual_loss": residual_loss_gilbert_elliott(model, self.k, self.m,
                                                               self.depth)}


@contextlib.contextmanager
def _link(cfg: DemoConfig, leaks: list[int]) -> Iterator[tuple[str, Any, Any, Any]]:
    """(backend, pool, tx port, rx port) for the link between the two gateways.

    On the way out, the buffers still in use once the ports are closed (and
    before the pool is) are appended to *leaks*."""
    chosen = _backend.select(cfg.backend)
    if chosen == "dpdk":
        from . import dpdk

        eal = dpdk.Eal(cfg.eal_args) if not _eal_running() else None
        try:
            current = dpdk.Eal.current()
            name_a, name_b = current.ring_pair("demo_a", "demo_b", depth=4096)
            mempool = dpdk.Mempool(16383, cache_size=256)
            try:
                with dpdk.Port(name_a, mempool) as a, dpdk.Port(name_b, mempool) as b:
                    a.start()
                    b.start()
                    yield chosen, mempool, a, b
            finally:
                leaks.append(mempool.in_use)
                mempool.close()
                current.remove_ring_pair("demo_a", "demo_b")
        finally:
            if eal is not None:
                eal.close()
    else:
        from ._burst import LoopbackPort
        from ._native import BufferPool

        pool = BufferPool(16384, data_room=2048, headroom=128)
        try:
            with LoopbackPort(pool, depth=4096) as port:
                port.start()
                yield chosen, pool, port, port
        finally:
            leaks.append(pool.in_use)
            pool.close()


def _eal_running() -> bool:
    from . import dpdk
    from .errors import DpdkUnavailableError, EalStateError

    try:
        dpdk.Eal.current()
    except (EalStateError, DpdkUnavailableError):
        return False
    return True


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
    """Run the demo pipeline for ``cfg.duration`` seconds; returns the summary.

    *on_progress* is called from this thread with a snapshot of the counters
    every *progress_interval* seconds.  Ctrl-C (SIGINT, and SIGTERM where a
    Python handler is installed) stops the run early, also during setup: the
    summary says so (``interrupted``, ``signal``).  Whatever ends the run,
    including an exception raised by *on_progress*, the native loop is
    stopped and joined before the ports and the pool are closed, and every
    buffer is back in its pool when this returns or raises.
    """
    cfg = cfg or DemoConfig()
    cfg.validate()
    with _signals.deferred() as sig:
        return _run_demo(cfg, sig, on_progress, progress_interval)


def _run_demo(cfg: DemoConfig, sig: _signals.Deferral,
              on_progress: Callable[[dict[str, Any]], None] | None,
              progress_interval: float) -> dict[str, Any]:
    leaks: list[int] = []
    with _link(cfg, leaks) as (chosen, pool, tx_port, rx_port):
        gen = Generator(pool, sizes=cfg.sizes, rate_pps=cfg.rate_pps)
        enc = FecEncodeStage(pool, code=cfg.code, k=cfg.k, m=cfg.m, depth=cfg.depth,
                             deadline=cfg.deadline, max_payload=max(cfg.sizes),
                             window=cfg.window if cfg.code == "rlc" else None)
        model = cfg.link_model()
        imp = Impairment(pool, loss=cfg.loss, seed=cfg.seed,
                         ge_p=None if model is None else model.p,
                         ge_r=None if model is None else model.r,
                         ge_loss_bad=cfg.burst_loss)
        dec = FecDecodeStage(pool, max_payload=max(cfg.sizes), timeout=0.05)
        ver = Verifier(pool, marker_offset=gen.marker_offset)
        # Leaving this block, for any reason, stops and joins the loop first.
        with Pipeline() as pipe:
            pipe.add(gen, enc, sink=tx_port, burst=cfg.burst)
            # The receiving side pulls bigger bursts so the link never overflows.
            pipe.add(rx_port, imp, dec, sink=ver, burst=256)
            started = time.monotonic()
            result: dict[str, Any] | None = None
            if sig.signum is None:          # not interrupted during setup
                pipe.start(duration=cfg.duration)
                with sig.on_signal(pipe.request_stop):
                    while (result := pipe.join(timeout=progress_interval)) is None:
                        if on_progress is not None:
                            on_progress(_snapshot(gen, enc, imp, dec, ver,
                                                  time.monotonic() - started))
        elapsed = (result or {}).get("elapsed_s", time.monotonic() - started)
        summary = _snapshot(gen, enc, imp, dec, ver, elapsed)
    sig.consume()
    predicted = cfg.predicted()
    offered = max(summary["offered"], 1)
    summary.update(
        backend=chosen,
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
    return summary


def sweep_link_loss(cfg: DemoConfig, losses: list[float], seconds_each: float = 1.0
                    ) -> list[dict[str, float]]:
    """Residual loss measured and predicted for each random link loss (no bursts)."""
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
