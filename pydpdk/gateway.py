"""FEC gateways between real ports: one-way encode/decode and the two-way tunnel.

A site runs ``tunnel``: frames from the local side are protected and sent to
the peer gateway; protected frames from the peer are decoded (lost ones rebuilt)
and sent to the local side, so any two-way traffic (TCP, ARP, ...) crosses it.

Ports are named by *specs*, the same on every backend where it makes sense:

============================  ============================================
``0``, ``net_pcap0``           DPDK port by id or device name
``net_pcap0,rx_pcap=a.pcap``   DPDK vdev hotplugged with these devargs
``afpacket:veth0``             native AF_PACKET port on an interface
``pcap:rx=in.pcap,tx=out.pcap``  native pcap file port (either side optional)
============================  ============================================
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import _signals
from . import backend as _backend
from ._burst import PacketPool
from .errors import PortError
from .pipeline import FecDecodeStage, FecEncodeStage, Pipeline

__all__ = ["GatewayConfig", "open_ports", "build_gateway", "run_gateway"]

MODES = ("encode", "decode", "tunnel")


@dataclass
class GatewayConfig:
    mode: str
    ports: dict[str, str]                 # encode/decode: in, out; tunnel: local, peer
    code: str = "rs"
    k: int = 10
    m: int = 4
    depth: int = 1
    deadline: float = 0.005               # seconds
    decoder_timeout: float = 0.05         # seconds
    max_payload: int = 1518
    encap: dict[str, Any] = field(default_factory=dict)
    burst: int = 32
    duration: float | None = None
    packets: int | None = None
    busy_poll: bool = False
    idle_sleep_us: int = 50
    backend: str | None = None
    eal_args: list[str] = field(default_factory=list)

    def validate(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        need = ("local", "peer") if self.mode == "tunnel" else ("in", "out")
        missing = [n for n in need if not self.ports.get(n)]
        if missing:
            raise ValueError(f"fec {self.mode} needs --{' and --'.join(missing)} (a port spec)")


def _parse_kv(text: str) -> dict[str, str]:
    out = {}
    for part in filter(None, text.split(",")):
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"expected key=value in port spec, got {part!r}")
        out[key.strip()] = value.strip()
    return out


class _PortOpener:
    """Opens port specs on one backend and closes everything it opened."""

    def __init__(self, backend: str, pool: Any, eal: Any = None) -> None:
        self.backend, self.pool, self.eal = backend, pool, eal
        self.ports: dict[str, Any] = {}
        self.vdevs: list[str] = []

    def open(self, spec: str) -> Any:
        if spec in self.ports:             # in == out: one port both ways
            return self.ports[spec]
        kind, sep, rest = spec.partition(":")
        if sep and kind in ("afpacket", "pcap"):
            port = self._open_native(kind, rest)
        elif self.backend == "dpdk":
            port = self._open_dpdk(spec)
        else:
            # without DPDK a bare name is an interface
            port = self._open_native("afpacket", spec)
        port.start()
        self.ports[spec] = port
        return port

    def _open_native(self, kind: str, rest: str) -> Any:
        if kind == "afpacket":
            from .afpacket import AfPacketPort

            return AfPacketPort(rest, self.pool)
        from .pcap import PcapPort

        opts = _parse_kv(rest)
        unknown = set(opts) - {"rx", "tx"}
        if unknown or not opts:
            raise ValueError(f"pcap port spec is pcap:rx=FILE,tx=FILE, got pcap:{rest}")
        return PcapPort(opts.get("rx"), opts.get("tx"), self.pool)

    def _open_dpdk(self, spec: str) -> Any:
        from . import dpdk

        if "," in spec:                    # devargs: hotplug a vdev first
            name = self.eal.add_vdev(spec)
            self.vdevs.append(name)
            return dpdk.Port(name, self.pool)
        return dpdk.Port(int(spec) if spec.isdigit() else spec, self.pool)

    def close(self) -> None:
        for port in self.ports.values():
            port.close()
        for name in reversed(self.vdevs):
            self.eal.remove_vdev(name)


@contextlib.contextmanager
def open_ports(cfg: GatewayConfig, leaks: list[int] | None = None
               ) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """(backend, pool, {role: port}) for the config's port specs; closes them after.

    With *leaks*, the number of buffers still in use once the ports are
    closed (and before the pool is) is appended to it on the way out."""
    chosen = _backend.select(cfg.backend)
    with contextlib.ExitStack() as stack:
        eal = None
        pool: PacketPool
        if chosen == "dpdk":
            from . import dpdk

            eal = stack.enter_context(dpdk.Eal(cfg.eal_args))
            pool = dpdk.Mempool(16383, cache_size=256)
        else:
            if cfg.eal_args:
                raise ValueError("EAL arguments given but the backend is 'native' (no DPDK): "
                                 f"{' '.join(cfg.eal_args)}")
            from ._native import BufferPool

            pool = BufferPool(16384)
        stack.callback(pool.close)
        if leaks is not None:
            stack.callback(lambda: leaks.append(pool.in_use))
        opener = _PortOpener(chosen, pool, eal)
        stack.callback(opener.close)
        ports = {role: opener.open(spec) for role, spec in cfg.ports.items()}
        yield chosen, pool, ports


def build_gateway(cfg: GatewayConfig, pool: Any, ports: dict[str, Any]
                  ) -> tuple[Pipeline, FecEncodeStage | None, FecDecodeStage | None]:
    enc_args = dict(code=cfg.code, k=cfg.k, m=cfg.m, depth=cfg.depth, deadline=cfg.deadline,
                    max_payload=cfg.max_payload, **cfg.encap)
    dec_args = dict(timeout=cfg.decoder_timeout, max_payload=cfg.max_payload, **cfg.encap)
    pipe = Pipeline()
    enc = dec = None
    if cfg.mode == "encode":
        enc = FecEncodeStage(pool, **enc_args)
        pipe.add(ports["in"], enc, sink=ports["out"], burst=cfg.burst)
    elif cfg.mode == "decode":
        dec = FecDecodeStage(pool, **dec_args)
        pipe.add(ports["in"], dec, sink=ports["out"], burst=cfg.burst)
    else:
        enc = FecEncodeStage(pool, **enc_args)
        dec = FecDecodeStage(pool, **dec_args)
        pipe.add(ports["local"], enc, sink=ports["peer"], burst=cfg.burst)
        pipe.add(ports["peer"], dec, sink=ports["local"], burst=cfg.burst)
    return pipe, enc, dec


def run_gateway(cfg: GatewayConfig,
                on_progress: Callable[[dict[str, Any]], None] | None = None,
                progress_interval: float = 1.0,
                on_event: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run a gateway until its duration/packet count or Ctrl-C; returns the report.

    *on_progress* gets the counters every *progress_interval* seconds;
    *on_event* gets one line when a port's link goes down or comes back.
    SIGINT (and SIGTERM where a Python handler is installed) stops the run,
    also during setup (``interrupted``, ``signal`` in the report).  A port
    that fails (interface deleted, device removed) stops the run within
    about 100 ms: ``PortError`` is raised after the teardown, its
    ``report`` attribute holding the report.  Whatever ends the run, the
    native loop is stopped and joined before the ports and the pool are
    closed; ``buffers_leaked`` counts buffers not back in the pool then.
    """
    cfg.validate()
    with _signals.deferred() as sig:
        return _run_gateway(cfg, sig, on_progress, progress_interval, on_event)


def _link_states(pipe: Pipeline, ports: dict[str, Any]) -> dict[str, str]:
    """{role: "up" | "down" | "failed"} as the loop last saw each port."""
    roles = {id(port): role for role, port in ports.items()}
    states: dict[str, str] = {}
    for src, _stages, snk in pipe.elements:
        for element in (src, snk):
            role = roles.get(id(getattr(element, "port", None)))
            if role is not None:
                c = element.counters
                state = ("up" if c["link_up"] else
                         "down" if c["link_errno"] == errno.ENETDOWN else "failed")
                if states.get(role, "up") == "up":
                    states[role] = state
    return states


def _run_gateway(cfg: GatewayConfig, sig: _signals.Deferral,
                 on_progress: Callable[[dict[str, Any]], None] | None,
                 progress_interval: float,
                 on_event: Callable[[str], None] | None) -> dict[str, Any]:
    leaks: list[int] = []
    fault: PortError | None = None
    result: dict[str, Any] | None = None
    with open_ports(cfg, leaks) as (chosen, pool, ports):
        pipe, enc, dec = build_gateway(cfg, pool, ports)
        # Leaving this block, for any reason, stops and joins the loop first.
        with pipe:
            if sig.signum is None:          # not interrupted during setup
                pipe.start(duration=cfg.duration, packets=cfg.packets,
                           busy_poll=cfg.busy_poll, idle_sleep_us=cfg.idle_sleep_us)
                links = _link_states(pipe, ports)
                with sig.on_signal(pipe.request_stop):
                    try:
                        while (result := pipe.join(timeout=progress_interval)) is None:
                            if on_progress is not None:
                                on_progress(pipe.counters())
                            now = _link_states(pipe, ports)
                            for role, state in now.items():
                                if state != links.get(role) and on_event is not None:
                                    on_event(f"link of the {role} port ({cfg.ports[role]}) "
                                             f"is {state}")
                            links = now
                    except PortError as exc:    # a port failed under the loop
                        fault = exc
                        result = getattr(exc, "result", None)
        counters = pipe.counters()
        port_stats = {}
        for role, port in ports.items():
            try:
                port_stats[role] = port.stats()
            except PortError as exc:        # e.g. its device is gone
                port_stats[role] = {"error": str(exc)}
        del pipe, enc, dec
    sig.consume()
    report = {"backend": chosen, "mode": cfg.mode, "interrupted": sig.signum is not None,
              "signal": sig.name, **(result or {}), "counters": counters,
              "ports": port_stats, "buffers_leaked": leaks[0] if leaks else 0,
              "fault": None if fault is None else str(fault)}
    if fault is not None:
        fault.report = report               # type: ignore[attr-defined]
        raise fault
    return report
