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
``udp:HOST:PORT[,bind=A:P]``      UDP socket towards a peer gateway (any backend)
===============================  ============================================

A ``udp:`` port carries each FEC packet as one datagram's payload (the
stages facing it use encapsulation "none"); options after commas:
``bind=ADDR:PORT`` (default: any address, the peer's port), ``keepalive=S``,
``dead=S`` (seconds), ``df=1`` (don't fragment), ``follow=0`` (never follow
a peer's address change), ``gso=1``/``gro=1`` (UDP GSO sends, GRO receive;
see pydpdk.udp).
IPv6: ``udp:[2001:db8::2]:4790``.
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
    next_hop: str | None = None           # --encap udp on a DPDK port: the route's gateway
    resolved: dict[str, Any] = field(default_factory=dict)   # next hop found at start

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


def open_udp_spec(rest: str, pool: Any) -> Any:
    """A UdpPort from the part of a ``udp:`` spec after the colon."""
    from .udp import UdpPort

    peer, _, opts_text = rest.partition(",")
    opts = _parse_kv(opts_text)
    unknown = set(opts) - {"bind", "keepalive", "dead", "df", "follow", "gso",
                          "gro"}
    if unknown or not peer:
        raise ValueError("udp port spec is udp:HOST:PORT[,bind=ADDR:PORT][,keepalive=S]"
                         "[,dead=S][,df=0|1][,follow=0|1][,gso=0|1][,gro=0|1], "
                         f"got udp:{rest}")
    kwargs: dict[str, Any] = {}
    if "bind" in opts:
        kwargs["bind"] = opts["bind"]
    if "keepalive" in opts:
        kwargs["keepalive"] = float(opts["keepalive"])
    if "dead" in opts:
        kwargs["dead_after"] = float(opts["dead"])
    for key, arg in (("df", "dont_fragment"), ("follow", "follow_peer"), ("gso", "gso"),
                     ("gro", "gro")):
        if key in opts:
            if opts[key] not in ("0", "1"):
                raise ValueError(f"udp port option {key} is 0 or 1, got {opts[key]!r}")
            kwargs[arg] = opts[key] == "1"
    return UdpPort(peer, pool, **kwargs)


def is_udp_port(port: Any) -> bool:
    """True for a UdpPort (its packets are bare FEC packets: encapsulation "none")."""
    try:
        from .udp import UdpPort
    except ImportError:
        return False
    try:
        return isinstance(port, UdpPort)
    except Exception:       # the extension is not built here
        return False


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
        if sep and kind == "udp":
            port = open_udp_spec(rest, self.pool)
        elif sep and kind in ("afpacket", "pcap"):
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


def _wire_encap(cfg: GatewayConfig, pool: Any, wire: Any) -> dict[str, Any]:
    """The stages' encapsulation options for the port facing the peer.

    A UdpPort takes bare FEC packets ("none").  ``--encap udp`` on a raw port
    with a peer address (dst_ip) but no dst_mac resolves the next hop's MAC
    (pydpdk.nexthop; cfg.resolved says what was found); options left None
    take the stages' defaults.
    """
    encap = {k: v for k, v in cfg.encap.items() if v is not None}
    if is_udp_port(wire):
        return dict(encap, encap="none")
    if encap.get("encap", "udp") == "udp" and "dst_ip" in encap and "dst_mac" not in encap:
        from .nexthop import resolve_for_port

        hop = resolve_for_port(wire, pool, encap["dst_ip"], encap.get("src_ip"),
                               encap.get("src_mac"), gateway=cfg.next_hop)
        encap["dst_mac"] = hop.mac
        if hop.src_ip:
            encap.setdefault("src_ip", hop.src_ip)
        with contextlib.suppress(Exception):
            encap.setdefault("src_mac", wire.mac)
        cfg.resolved = {"peer": hop.peer, "next_hop": hop.address, "mac": hop.mac,
                        "via_gateway": hop.gateway is not None, "interface": hop.ifname,
                        "src_ip": encap.get("src_ip"), "src_mac": encap.get("src_mac")}
    return encap


def build_gateway(cfg: GatewayConfig, pool: Any, ports: dict[str, Any]
                  ) -> tuple[Pipeline, FecEncodeStage | None, FecDecodeStage | None]:
    wire = ports.get("peer") or (ports["out"] if cfg.mode == "encode" else ports["in"])
    encap = _wire_encap(cfg, pool, wire)
    enc_args = dict(code=cfg.code, k=cfg.k, m=cfg.m, depth=cfg.depth, deadline=cfg.deadline,
                    max_payload=cfg.max_payload, **encap)
    dec_args = dict(timeout=cfg.decoder_timeout, max_payload=cfg.max_payload, **encap)
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
                    on_progress(_with_udp_ports(pipe.counters(), ports))
        except KeyboardInterrupt:
            interrupted = True
        result = pipe.stop() or {}
        counters = _with_udp_ports(pipe.counters(), ports)
        port_stats = {role: port.stats() for role, port in ports.items()}
        del pipe, enc, dec
        leaked = pool.in_use
    if cfg.resolved:
        result = dict(result, next_hop=cfg.resolved)
    return {"backend": chosen, "mode": cfg.mode, "interrupted": interrupted, **result,
            "counters": counters, "ports": port_stats, "buffers_leaked": leaked}


def _with_udp_ports(counters: dict[str, Any], ports: dict[str, Any]) -> dict[str, Any]:
    """Counters plus ``"udp.<role>"`` (peer state, keepalives, drops) per UDP port."""
    for role, port in ports.items():
        if is_udp_port(port) and not port.is_closed:
            counters[f"udp.{role}"] = port.stats()
    return counters
