"""FEC gateways between real ports: one-way encode/decode and the two-way tunnel.

A site runs ``tunnel``: frames from the local side are protected and sent to
the peer gateway; protected frames from the peer are decoded (lost ones rebuilt)
and sent to the local side, so any two-way traffic (TCP, ARP, ...) crosses it.

Ports are named by *specs*, the same on every backend where it makes sense:

===============================  ============================================
``0``, ``net_pcap0``              DPDK port by id or device name
``net_pcap0,rx_pcap=a.pcap``      DPDK vdev hotplugged with these devargs
``afpacket:veth0``                native AF_PACKET port on an interface
``pcap:rx=in.pcap,tx=out.pcap``   native pcap file port (either side optional)
===============================  ============================================
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import backend as _backend
from ._burst import PacketPool
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
def open_ports(cfg: GatewayConfig) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """(backend, pool, {role: port}) for the config's port specs; closes them after."""
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
                progress_interval: float = 1.0) -> dict[str, Any]:
    """Run a gateway until its duration/packet count or Ctrl-C; returns the counters."""
    cfg.validate()
    with open_ports(cfg) as (chosen, pool, ports):
        pipe, enc, dec = build_gateway(cfg, pool, ports)
        pipe.start(duration=cfg.duration, packets=cfg.packets, busy_poll=cfg.busy_poll,
                   idle_sleep_us=cfg.idle_sleep_us)
        interrupted = False
        try:
            while pipe.join(timeout=progress_interval) is None:
                if on_progress is not None:
                    on_progress(pipe.counters())
        except KeyboardInterrupt:
            interrupted = True
        result = pipe.stop() or {}
        counters = pipe.counters()
        port_stats = {role: port.stats() for role, port in ports.items()}
        del pipe, enc, dec
        leaked = pool.in_use
    return {"backend": chosen, "mode": cfg.mode, "interrupted": interrupted, **result,
            "counters": counters, "ports": port_stats, "buffers_leaked": leaked}
