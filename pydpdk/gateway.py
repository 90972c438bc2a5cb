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
import errno
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import _signals
from . import backend as _backend
from .backends import Backend
from .backends import open_udp_spec as open_udp_spec  # re-exported: the udp: spec
from .errors import PortError
from .fec_config import DecoderConfig, EncoderConfig, FecConfigError, option_error
from .pipeline import FecDecodeStage, FecEncodeStage, Pipeline
from .portspec import parse_kv

if TYPE_CHECKING:
    from . import PacketPool

__all__ = ["GatewayConfig", "open_ports", "build_gateway", "run_gateway"]

MODES = ("encode", "decode", "tunnel")
# Receive ring of a gateway's AF_PACKET port: 128 blocks of 256 KiB = 32 MiB,
# ~28k full-size frames: 280 ms of 100k frames/s, so a gateway core that is
# scheduled out for a while (shared cores) catches up instead of losing
# frames.  The port's own default (8 MiB) suits interactive use.
GATEWAY_RX_BLOCKS = 128


AEADS = ("aes-256-gcm", "chacha20-poly1305")


@dataclass
class GatewayConfig:
    """Everything a gateway run can vary (``pydpdk fec MODE`` options).

    Parameters
    ----------
    mode : str
        ``"encode"``, ``"decode"`` or ``"tunnel"``.
    ports : dict of str to str
        Port specs by role: ``in`` and ``out`` (encode, decode) or
        ``local`` and ``peer`` (tunnel); see the module docstring.
    code : str, default "rs"
        FEC code: ``"rs"``, ``"xor"`` or ``"rlc"`` (sliding window).
    k : int, default 10
        Source packets per block.
    m : int, default 4
        Repair packets per block.
    depth : int, default 1
        Interleaving: blocks open at once.
    window : int or None, default None
        ``"rlc"``: sources each repair covers, k..255 (None: k).
    deadline : float, default 0.005
        Seconds before a partial block gets its repair packets (0: never).
    decoder_timeout : float, default 0.05
        Seconds the decoder waits for a block's missing packets.
    max_payload : int, default 1518
        Largest frame protected, in bytes.
    encap : dict, default {}
        The stages' encapsulation options (``encap``, ``src_mac``,
        ``dst_mac``, ``src_ip``, ``dst_ip``, ``src_port``, ``dst_port``,
        ``ethertype``); None values take the stages' defaults.
    burst : int, default 32
        Packets per burst, 1..256.
    duration : float or None, default None
        Seconds to run; None: until stopped.
    packets : int or None, default None
        Stop after this many received packets.
    busy_poll : bool, default False
        Never sleep when idle.
    idle_sleep_us : int, default 50
        Microseconds to sleep when idle.
    backend : str or None, default None
        ``"dpdk"``, ``"native"`` or None (by the port specs, else automatic).
    eal_args : list of str, default []
        EAL arguments (DPDK backend only).
    next_hop : str or None, default None
        ``--encap udp`` on a DPDK port: the IPv4 gateway towards the peer.
    resolved : dict, default {}
        Filled at start: the next hop found (peer, MAC, interface).
    wan_mtu : int or None, default None
        IP MTU of the WAN side in bytes; None: the WAN port's MTU.
    clamp_mss : bool, default True
        Clamp the MSS of TCP SYNs to what fits the WAN.
    icmp : bool, default True
        Answer oversize DF/IPv6 packets with ICMP too big.
    fragment : bool, default True
        Fragment oversize IPv4 packets without DF.
    icmp_source : list of str, default []
        Source addresses of ICMP too big (IPv4 and/or IPv6).
    key_file : str or None, default None
        Secure mode: the key file (docs/secure-format.md).
    aead : str, default "aes-256-gcm"
        Secure mode's AEAD: ``"aes-256-gcm"`` or ``"chacha20-poly1305"``.
    state_file : str or None, default None
        Secure mode: where accepted session epochs are kept (None: beside
        the key file).
    rekey_grace : float, default 5.0
        Seconds from a key file change to sealing with its newest key.
    queues : int, default 1
        Encoder/decoder instances, one per port queue and thread
        (pydpdk.gateway_mq).
    adaptive : bool, default False
        Tunnel: the peer's link reports choose code, k, m and depth.
    target_loss : float, default 1e-4
        Adaptive: residual loss to stay under, in (0, 1).
    max_delay_ms : float, default 100.0
        Adaptive: latency budget of a block, in milliseconds.
    """

    mode: str
    ports: dict[str, str]                 # encode/decode: in, out; tunnel: local, peer
    code: str = "rs"
    k: int = 10
    m: int = 4
    depth: int = 1
    window: int | None = None             # code 'rlc': sources each repair covers (None: k)
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
    # MTU policy (FecEncodeStage): wan_mtu None = the WAN port's MTU
    wan_mtu: int | None = None
    clamp_mss: bool = True
    icmp: bool = True
    fragment: bool = True
    icmp_source: list[str] = field(default_factory=list)
    # Secure mode (docs/secure-format.md): every WAN packet sealed with an
    # AEAD under keys from key_file; state_file remembers accepted epochs.
    key_file: str | None = None
    aead: str = "aes-256-gcm"
    state_file: str | None = None
    rekey_grace: float = 5.0              # s from a key file change to sealing with its key
    # Multi-queue (pydpdk.gateway_mq): N encoder/decoder instances, one per
    # queue of every port, each on its own thread and FEC session.
    queues: int = 1
    # Adaptive FEC (tunnel): reports of the peer's decoder choose code/k/m/depth.
    adaptive: bool = False
    target_loss: float = 1e-4
    max_delay_ms: float = 100.0

    def encoder_config(self, **more: Any) -> EncoderConfig:
        """The encoder's FEC settings of this gateway.

        Parameters
        ----------
        **more
            Other :class:`~pydpdk.fec_config.EncoderConfig` fields.

        Returns
        -------
        EncoderConfig
            The validated settings.

        Raises
        ------
        ValueError, TypeError, FecError
            As :class:`~pydpdk.fec_config.EncoderConfig` raises them.
        """
        return EncoderConfig(code=self.code, k=self.k, m=self.m, depth=self.depth,
                             window=self.window, deadline=self.deadline,
                             max_payload=self.max_payload, **more)

    def decoder_config(self, **more: Any) -> DecoderConfig:
        """The decoder's FEC settings of this gateway.

        Parameters
        ----------
        **more
            Other :class:`~pydpdk.fec_config.DecoderConfig` fields.

        Returns
        -------
        DecoderConfig
            The validated settings.

        Raises
        ------
        ValueError, TypeError, FecError
            As :class:`~pydpdk.fec_config.DecoderConfig` raises them.
        """
        return DecoderConfig(timeout=self.decoder_timeout, max_payload=self.max_payload, **more)

    def validate(self) -> None:
        """Check the combination of settings before anything opens.

        Raises
        ------
        ValueError
            A value out of range, a missing port, or options that do not go
            together (the message names the command-line option).
        """
        if self.aead not in AEADS:
            raise ValueError(f"aead must be one of {', '.join(AEADS)}, got {self.aead!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.adaptive and self.mode != "tunnel":
            raise ValueError("--adaptive needs a tunnel: the reports come back from the peer")
        if self.adaptive and self.code != "rs":
            raise ValueError("--adaptive chooses among RS codes (use --code rs)")
        need = ("local", "peer") if self.mode == "tunnel" else ("in", "out")
        missing = [n for n in need if not self.ports.get(n)]
        if missing:
            raise ValueError(f"fec {self.mode} needs --{' and --'.join(missing)} (a port spec)")
        from .gateway_mq import MAX_QUEUES

        if not 1 <= self.queues <= MAX_QUEUES:
            raise ValueError(f"--queues must be within 1..{MAX_QUEUES}, got {self.queues}")
        try:                               # the FEC settings: one validation (fec_config)
            self.encoder_config()
            self.decoder_config()
        except FecConfigError as exc:
            raise option_error(exc) from None
        if self.adaptive:
            if not (0.0 < self.target_loss < 1.0):
                raise ValueError(f"--target-loss must be within (0, 1), got {self.target_loss}")
            if not (0.0 < self.max_delay_ms < 3.6e6):
                raise ValueError(f"--max-delay-ms must be a positive number of ms, got "
                                 f"{self.max_delay_ms}")
        if self.queues > 1 and self.key_file is not None:
            raise ValueError("secure mode (--key-file) runs with one queue: give --queues 1")
        if self.queues > 1 and self.adaptive:
            raise ValueError("--adaptive runs with one queue: give --queues 1")


# Port specs are parsed by pydpdk.portspec and opened by the backends.
_parse_kv = parse_kv


def is_udp_port(port: Any) -> bool:
    """True for a UdpPort (its packets are bare FEC packets: encapsulation "none")."""
    port = getattr(port, "queue_ports", [port])[0]     # a multi-queue role
    try:
        from .udp import UdpPort
    except ImportError:
        return False
    try:
        return isinstance(port, UdpPort)
    except Exception:       # the extension is not built here
        return False


@contextlib.contextmanager
def open_ports(cfg: GatewayConfig, leaks: list[int] | None = None
               ) -> Iterator[tuple[Backend, Any, dict[str, Any]]]:
    """The backend, pool and ports of a gateway's config; closes them after.

    Parameters
    ----------
    cfg : GatewayConfig
        Its ``ports`` (role to port spec), ``backend``, ``eal_args``,
        ``queues`` and ``max_payload`` (bytes: the pool's buffers hold the
        largest protected frame and its encapsulation) are used.
    leaks : list of int, optional
        On the way out, the number of buffers still in use once the ports
        are closed (and before the pool is) is appended to it.

    Yields
    ------
    tuple of (Backend, PacketPool, dict)
        The backend object, the pool and ``{role: port}`` (a
        :class:`pydpdk.gateway_mq.QueuedPort` per role with ``queues > 1``),
        every port started.

    Raises
    ------
    ValueError
        Port specs that need different backends, EAL arguments without
        DPDK, a malformed spec.
    PortError
        A port cannot be opened.
    EalError, EalStateError, DpdkUnavailableError
        The DPDK backend cannot start its EAL.
    """
    from .portspec import backend_for

    chosen = _backend.select(backend_for(cfg.ports.values(), cfg.backend, cfg.eal_args))
    with contextlib.ExitStack() as stack:
        stack.enter_context(chosen.runtime(cfg.eal_args, reuse=False))
        # Room for the largest protected frame plus its FEC encapsulation,
        # so jumbo frames arrive in one buffer (never cut to 2048 bytes).
        pool: PacketPool = chosen.pool(16384 * cfg.queues,
                                       data_room=max(2048, cfg.max_payload + 256))
        stack.callback(pool.close)
        if leaks is not None:
            stack.callback(lambda: leaks.append(pool.in_use))
        opener = stack.enter_context(chosen.opener(pool, rx_blocks=GATEWAY_RX_BLOCKS))
        ports: dict[str, Any] = {}
        for role, spec in cfg.ports.items():
            if cfg.queues > 1:
                from .gateway_mq import open_queued

                ports[role] = open_queued(opener, spec, cfg.queues)
            else:
                ports[role] = opener.open(spec)
        # a .pcapng output keeps the interfaces of the capture it came from
        from .pcap import mirror_capture_interfaces

        pairs = []
        for a, b in (("in", "out"), ("local", "peer"), ("peer", "local")):
            if a in ports and b in ports:
                # --queues: queue q's output file copies queue q's input file
                qa = getattr(ports[a], "queue_ports", None)
                qb = getattr(ports[b], "queue_ports", None)
                pairs += (list(zip(qa, qb)) if qa is not None and qb is not None
                          and len(qa) == len(qb) else [(ports[a], ports[b])])
        mirror_capture_interfaces(pairs)
        yield chosen, pool, ports


def _wire_encap(cfg: GatewayConfig, pool: Any, wire: Any) -> dict[str, Any]:
    """The stages' encapsulation options for the port facing the peer.

    A UdpPort takes bare FEC packets ("none").  ``--encap udp`` on a raw port
    with a peer address (dst_ip) but no dst_mac resolves the next hop's MAC
    (pydpdk.nexthop; cfg.resolved says what was found); options left None
    take the stages' defaults.  An IPv6 dst_ip makes an Ethernet/IPv6/UDP
    outer header (its next hop found with NDP); ValueError with secure mode,
    whose stages rewrite IPv4 outer headers only.
    """
    encap = {k: v for k, v in cfg.encap.items() if v is not None}
    if is_udp_port(wire):
        if cfg.key_file is None:       # sealed packets hide the inner TOS: plain only
            wire.tos = True            # DSCP/ECN per RFC 6040 (docs/gateway.md)
            return dict(encap, encap="none-tos")
        return dict(encap, encap="none")
    if cfg.key_file is not None and ":" in str(encap.get("dst_ip", "")):
        raise ValueError("secure mode (--key-file) over a raw port needs an IPv4 --dst-ip; "
                         "over an IPv6 WAN use a udp:[ADDR]:PORT peer")
    if cfg.resolved.get("mac") and "dst_mac" not in encap:     # queue > 0: as queue 0
        return dict(encap, dst_mac=cfg.resolved["mac"],
                    **{k: cfg.resolved[k] for k in ("src_ip", "src_mac")
                       if cfg.resolved.get(k) and k not in encap})
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
def _wan_mtu(cfg: GatewayConfig, ports: dict[str, Any]) -> int:
    """The IP MTU of the WAN side: --wan-mtu, else the WAN port's MTU (0: unknown,
    e.g. a pcap file port: no MTU policy)."""
    wan = ports.get("peer" if cfg.mode == "tunnel" else "out")
    if is_udp_port(wan):
        return _udp_payload_mtu(cfg, wan)
    if cfg.wan_mtu is not None:
        return cfg.wan_mtu
    try:
        # an IP MTU the encapsulation can express (loopback's is 65536)
        return min(int(getattr(wan, "mtu", 0) or 0), 65535)
    except Exception:                      # a port that cannot say
        return 0


def _udp_payload_mtu(cfg: GatewayConfig, port: Any) -> int:
    """Datagram payload a UDP transport carries unfragmented: --wan-mtu (an IP
    MTU), else the kernel's path MTU towards the peer (IP_MTU of a connected
    socket), less the IP and UDP headers; 0 when unknown (no MTU policy: the
    kernel fragments larger datagrams unless df=1)."""
    v6 = port.family == socket.AF_INET6
    ip_mtu = cfg.wan_mtu
    if ip_mtu is None:
        try:
            with socket.socket(port.family, socket.SOCK_DGRAM) as probe:
                probe.connect(port.peer)
                ip_mtu = probe.getsockopt(socket.IPPROTO_IPV6 if v6 else socket.IPPROTO_IP,
                                          _IPV6_MTU if v6 else _IP_MTU)
        except OSError:
            return 0
    overhead = (40 if v6 else 20) + 8
    return ip_mtu - overhead if ip_mtu > overhead else 0


_IP_MTU, _IPV6_MTU = 14, 24      # linux/in.h, linux/in6.h getsockopt names


def interfaces_report(ports: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per port role: interface name, MTU and offload state (ethtool ioctl) of
    the AF_PACKET ports, and what the gateway does about them."""
    out: dict[str, dict[str, Any]] = {}
    for role, port in ports.items():
        ifname = getattr(port, "ifname", None)
        if not isinstance(ifname, str):
            if hasattr(port, "xstats"):            # a DPDK ethdev port
                with contextlib.suppress(Exception):
                    out[role] = {"ifname": str(getattr(port, "name", role)),
                                 "mtu": int(port.mtu), "offloads": {}, "vnet_hdr": False,
                                 "plan": "frames in more than one mbuf are made one or "
                                         "dropped and counted (rx_chain_dropped)"}
            continue
        try:
            from .afpacket import interface_info

            info = interface_info(ifname)
        except (ImportError, OSError):
            continue
        vnet = bool(getattr(port, "vnet_hdr", False))
        on = [k for k in ("tso", "tso6", "gso", "gro", "lro", "uso") if info["offloads"].get(k)]
        if on and vnet:
            plan = f"{'/'.join(on)} super-frames are segmented by the gateway"
        elif on:
            plan = f"{'/'.join(on)} on and no vnet header: super-frames are counted as oversize"
        else:
            plan = "no segmentation offload on: frames arrive wire-sized"
        out[role] = dict(info, ifname=ifname, vnet_hdr=vnet, plan=plan)
    return out


def mtu_report(enc: FecEncodeStage | None, replies: bool = True) -> dict[str, Any]:
    """What the encoder does with frames that do not fit the WAN (*replies*:
    a decoder sends its ICMP messages back to the LAN, as in a tunnel)."""
    if enc is None:
        return {}
    c = enc.config
    if not c.get("wan_mtu"):
        return {"wan_mtu": 0, "policy": f"no WAN MTU known: frames over "
                                        f"{c['max_payload']} bytes are dropped (too_big)"}
    parts = [f"LAN frames up to {c['max_frame']} bytes (IP MTU {c['ip_mtu']}) cross whole"]
    if c["mss"]:
        parts.append(f"TCP MSS clamped to {c['mss']} (IPv4) / {c['mss'] - 20} (IPv6)")
    parts.append("IPv4 DF and IPv6: ICMP too big to the sender" if c["icmp"] and replies
                 else "IPv4 DF and IPv6: dropped (counted)")
    parts.append("IPv4 without DF: fragmented" if c["fragment"]
                 else "IPv4 without DF: dropped (counted)")
    return {"wan_mtu": c["wan_mtu"], "max_frame": c["max_frame"], "ip_mtu": c["ip_mtu"],
            "mss": c["mss"], "overhead_bytes": c["overhead_bytes"], "policy": "; ".join(parts)}


# Why a port lost frames, by direction: report key <- port stats key (each
# port reports the ones it keeps: AF_PACKET the segmentation detail, a UDP
# transport datagrams from strangers and the reasons sends failed).  Ports
# without any detail (DPDK) report their ierrors as "errors".
_RX_DETAIL = (("malformed", "rx_malformed"), ("oversize", "rx_oversize"),
              ("segmentation_failed", "rx_gso_failed"),
              ("unknown_source", "rx_unknown_source"))
_TX_DETAIL = (("oversize", "tx_oversize"), ("unreachable", "tx_unreachable"))
# Why a stage dropped frames (stage counters; each frame counted once:
# reply_dropped and icmp_limited are details of mtu_dropped).
_STAGE_DROPS = ("too_big", "mtu_dropped", "icmp_too_big", "no_headroom", "out_full",
                "foreign", "ecn_dropped", "bad_checksum",
                # secure mode: what failed authentication, replays, ...
                "unknown_key", "bad_tag", "replayed", "too_old", "stale_epoch",
                "rate_limited", "no_room")


def drop_report(counters: dict[str, dict[str, int]],
                port_stats: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Every frame the gateway could not carry, by reason: per port and
    direction (ring_overflow = frames the kernel or NIC dropped because the
    receive ring was full, malformed, oversize, segmentation_failed,
    tx_errors), per stage (MTU policy: too_big, icmp_too_big, mtu_dropped;
    foreign frames, ...) and per pipeline element (drops: e.g. frames a sink
    port refused)."""
    ports: dict[str, dict[str, dict[str, int]]] = {}
    for role, st in port_stats.items():
        rx = {"ring_overflow": int(st.get("imissed", 0))}
        if "rx_malformed" in st:
            rx.update((name, int(st[key])) for name, key in _RX_DETAIL if key in st)
        else:
            rx["errors"] = int(st.get("ierrors", 0))
            rx["oversize"] = int(st.get("rx_chain_dropped", 0))
        tx = {name: int(st[key]) for name, key in _TX_DETAIL if key in st}
        # oerrors counts every failed send; the detail says why some failed
        tx["tx_errors"] = int(st.get("oerrors", 0)) - sum(tx.values())
        ports[role] = {"rx": rx, "tx": tx}
    stages = {name: {k: int(c[k]) for k in _STAGE_DROPS if k in c}
              for name, c in counters.items() if any(k in c for k in _STAGE_DROPS)}
    sinks = {name: int(c.get("drops", 0)) for name, c in counters.items() if "drops" in c}
    total = (sum(v for p in ports.values() for d in p.values() for v in d.values()) +
             sum(v for c in stages.values() for v in c.values()) + sum(sinks.values()))
    return {"total": total, "ports": ports, "stages": stages, "elements": sinks}


def build_gateway(cfg: GatewayConfig, pool: Any, ports: dict[str, Any], queue: int = 0
                  ) -> tuple[Pipeline, FecEncodeStage | None, FecDecodeStage | None]:
    """The gateway's pipeline for one queue.

    Parameters
    ----------
    cfg : GatewayConfig
        The settings.
    pool : PacketPool
        The pool of the ports (:func:`open_ports`).
    ports : dict
        ``{role: port}`` as :func:`open_ports` yields it.
    queue : int, default 0
        Which queue of multi-queue ports (``cfg.queues > 1``).

    Returns
    -------
    tuple of (Pipeline, FecEncodeStage or None, FecDecodeStage or None)
        The pipeline (not started) and its encoder and decoder stages
        (None where the mode has none).

    Raises
    ------
    ValueError
        Bad encapsulation or FEC settings.
    KeyFileError
        Secure mode: the key file cannot be used, or the state file's
        directory is not writable.
    PortError
        ``--encap udp`` on a raw port: the next hop's MAC cannot be found
        (EHOSTUNREACH, ENETUNREACH).
    """
    if cfg.queues > 1:                     # gateway_mq.QueuedPort roles
        ports = {role: {"rx": port.source(queue), "tx": port.sink(queue)}
                 for role, port in ports.items()}
    else:
        ports = {role: {"rx": port, "tx": port} for role, port in ports.items()}
    wire_role = "peer" if "peer" in ports else ("out" if cfg.mode == "encode" else "in")
    wire = ports[wire_role]["rx"]
    wire = getattr(wire, "port", wire)
    encap = _wire_encap(cfg, pool, wire)
    wan_mtu = _wan_mtu(cfg, {role: getattr(p["rx"], "port", p["rx"])
                             for role, p in ports.items()})
    keys = None
    if cfg.key_file is not None:
        from . import secure

        keys = secure.KeyFile.load(cfg.key_file)
        if cfg.mode != "encode":                  # a receiver keeps epochs across restarts
            state_dir = os.path.dirname(os.path.abspath(_state_path(cfg)))
            if not os.access(state_dir, os.W_OK | os.X_OK):
                raise secure.KeyFileError(errno.EACCES, f"cannot keep the secure state file "
                                          f"in {state_dir} (missing or not writable): replay "
                                          "protection would not survive a restart; give "
                                          "--state-file")
        if wan_mtu:                        # the envelope rides inside the WAN MTU too
            wan_mtu = max(wan_mtu - secure.OVERHEAD, 1)
    if queue and encap.get("encap", "udp") == "udp" and not is_udp_port(wire):
        # each queue its own outer source port: the peer's RSS/fanout and ECMP spread them
        encap = dict(encap, src_port=int(encap.get("src_port") or 4790) + queue)
    enc_fec: dict[str, Any] = {}
    dec_fec: dict[str, Any] = {}
    enc_args = dict(wan_mtu=wan_mtu, clamp_mss=cfg.clamp_mss, icmp=cfg.icmp,
                    fragment=cfg.fragment, icmp_source=cfg.icmp_source or None, **encap)
    dec_args = dict(encap)
    if cfg.queues > 1 or "peer_queues=" in str(cfg.ports.get("peer", cfg.ports.get("in"))):
        from .gateway_mq import decoder_sessions

        dec_fec["max_sessions"] = decoder_sessions(cfg)
    if cfg.adaptive:       # memory for what the controller may choose; reports to the peer
        from .adaptive import AdaptivePolicy

        policy = AdaptivePolicy()
        enc_fec.update(max_m=max(policy.max_m, cfg.m), max_depth=max(policy.max_depth, cfg.depth))
        dec_fec.update(measure_window=1.0)
        dec_args.update(send_reports=True)
    enc_args["config"] = cfg.encoder_config(**enc_fec)
    dec_args["config"] = cfg.decoder_config(**dec_fec)
    pipe = Pipeline()
    pipe.secure_stages = []                # type: ignore[attr-defined]
    pipe.sealing_since = time.monotonic()  # type: ignore[attr-defined]
    enc = dec = None

    def protect(stage: FecEncodeStage) -> list[Any]:
        """The encoder, then (secure mode) the stage sealing all it sends."""
        if keys is None:
            return [stage]
        from .secure import SealStage

        seal = SealStage(pool, keys, aead=cfg.aead, **encap)
        pipe.secure_stages.append(seal)    # type: ignore[attr-defined]
        return [stage, seal]

    def verify(stage: FecDecodeStage) -> list[Any]:
        """(secure mode) The stage authenticating what arrives, then the decoder:
        nothing unauthenticated reaches FEC state."""
        if keys is None:
            return [stage]
        from .secure import OpenStage

        opened = OpenStage(pool, keys, aead=cfg.aead, state_path=_state_path(cfg), **encap)
        pipe.secure_stages.append(opened)  # type: ignore[attr-defined]
        return [opened, stage]

    if cfg.mode == "encode":
        enc = FecEncodeStage(pool, **enc_args)
        pipe.add(ports["in"]["rx"], *protect(enc), sink=ports["out"]["tx"], burst=cfg.burst)
    elif cfg.mode == "decode":
        dec = FecDecodeStage(pool, **dec_args)
        pipe.add(ports["in"]["rx"], *verify(dec), sink=ports["out"]["tx"], burst=cfg.burst)
    else:
        enc = FecEncodeStage(pool, **enc_args)
        dec = FecDecodeStage(pool, **dec_args)
        dec.send_replies_of(enc)           # ICMP too big goes back to the LAN
        pipe.add(ports["local"]["rx"], *protect(enc), sink=ports["peer"]["tx"],
                 burst=cfg.burst)
        pipe.add(ports["peer"]["rx"], *verify(dec), sink=ports["local"]["tx"],
                 burst=cfg.burst)
    return pipe, enc, dec


def _state_path(cfg: GatewayConfig) -> str:
    """Where the receiver remembers the newest session epoch per key id:
    --state-file, else beside the key file, named after the peer spec, so that
    gateways sharing a key file on one host keep their own state."""
    if cfg.state_file:
        return cfg.state_file
    wire = cfg.ports.get("peer") or cfg.ports.get("in") or "peer"
    tag = "".join(c if c.isalnum() or c in "-." else "_" for c in wire)
    return f"{cfg.key_file}.{tag}.state"


def _rekey_after_peer_restart(pipe: Pipeline, seen: list[int],
                              on_event: Callable[[str], None] | None) -> None:
    """Tunnel, secure mode: when the peer starts a new session (it restarted,
    or rekeyed), start a new sealing session too.  A restarted receiver
    refuses our old session's next packets (docs/secure-format.md, epoch
    rule); our new one it takes at once."""
    from .secure import OpenStage, SealStage

    stages = getattr(pipe, "secure_stages", [])
    opens = [s for s in stages if isinstance(s, OpenStage)]
    seals = [s for s in stages if isinstance(s, SealStage)]
    if not opens or not seals:
        return
    sessions = opens[0].opener.stats["sessions"]
    # Only an old session of ours answers: a side that just (re)started its
    # own does not, so the two sides never take turns forever.
    ours_is_old = time.monotonic() - getattr(pipe, "sealing_since", 0.0) > _REKEY_QUIET_S
    if seen and sessions > seen[0] > 0 and ours_is_old:
        for seal in seals:
            seal.sealer.rekey(*seal.keyfile.current)
        pipe.sealing_since = time.monotonic()      # type: ignore[attr-defined]
        if on_event is not None:
            on_event("the peer started a new secure session: starting a new one too")
    seen[:] = [sessions]


_REKEY_QUIET_S = 3.0


def _reload_keys(pipe: Pipeline, cfg: GatewayConfig,
                 on_event: Callable[[str], None] | None) -> None:
    """Key rotation: when the key file changed, accept every key it holds
    from the next packet on, and seal with its newest key *rekey_grace*
    seconds later, so that the peer has reread its copy by then (either
    side may be rotated first; docs/secure-format.md)."""
    from . import secure

    stages = getattr(pipe, "secure_stages", [])
    pending = getattr(pipe, "pending_seal", None)
    if pending is not None and time.monotonic() >= pending[1]:
        for stage in stages:
            if isinstance(stage, secure.SealStage):
                stage.sealer.rekey(*pending[0].current)
        pipe.pending_seal = None                   # type: ignore[attr-defined]
        pipe.sealing_since = time.monotonic()      # type: ignore[attr-defined]
        if on_event is not None:
            on_event(f"sealing with key {pending[0].current[0]} now")
    if not stages or not stages[0].keyfile.changed():
        return
    try:
        keys = secure.KeyFile.load(cfg.key_file)  # type: ignore[arg-type]
    except secure.KeyFileError as exc:             # keep the old keys; say why
        if on_event is not None:
            on_event(f"key file not reloaded: {exc}")
        return
    for stage in stages:
        if isinstance(stage, secure.OpenStage):
            stage.reload(keys)
        else:
            stage.keyfile = keys                   # changed() compares with this one
    pipe.pending_seal = (keys, time.monotonic() + cfg.rekey_grace)  # type: ignore[attr-defined]
    if on_event is not None:
        on_event(f"key file reloaded: key ids {keys.ids} accepted; sealing with key "
                 f"{keys.current[0]} in {cfg.rekey_grace:g} s")


def run_gateway(cfg: GatewayConfig,
                on_progress: Callable[[dict[str, Any]], None] | None = None,
                progress_interval: float = 1.0,
                on_start: Callable[[dict[str, Any]], None] | None = None,
                on_ports: Callable[[dict[str, dict[str, int]]], None] | None = None,
                on_event: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run a gateway until its duration/packet count or Ctrl-C.

    SIGINT (and SIGTERM where a Python handler is installed) stops the run,
    also during setup (``interrupted``, ``signal`` in the report).
    Whatever ends the run, the native loop is stopped and joined before the
    ports and the pool are closed; ``buffers_leaked`` counts buffers not
    back in the pool then.

    Parameters
    ----------
    cfg : GatewayConfig
        The settings.
    on_progress : callable, optional
        Called with the pipeline's counters every *progress_interval*
        seconds (plus ``udp.<role>`` and ``adaptive`` entries).
    progress_interval : float, default 1.0
        Seconds between progress calls.
    on_start : callable, optional
        Called first with the interfaces' MTU/offload state and the MTU
        policy (``interfaces``, ``mtu``).
    on_ports : callable, optional
        Called with each port's ``stats()`` by role at each interval (ring
        overflows show there while they happen).
    on_event : callable, optional
        Called with one line when a port's link goes down or comes back,
        or the secure mode rekeys.

    Returns
    -------
    dict
        The report: ``backend``, ``mode``, the run's result (``packets``,
        ``elapsed_s``, ``stopped_by``), ``counters``, ``ports``,
        ``drops`` (every frame not carried, by reason), ``interfaces``,
        ``mtu``, ``buffers_leaked``, ``interrupted``, ``signal``, ``fault``,
        ``queues``, ``queue_counters`` and, where used, ``next_hop`` and
        ``adaptive``.

    Raises
    ------
    ValueError
        *cfg* does not validate, or a port spec is malformed.
    PortError
        A port cannot be opened, or failed during the run (within about
        100 ms; raised after the teardown, its ``report`` attribute holding
        the report).
    OSError
        A capture file was cut off or corrupt, or its disk full (with
        ``report`` too).
    EalError, BackendUnavailableError
        The backend cannot start.
    """
    cfg.validate()
    with _signals.deferred() as sig:
        return _run_gateway(cfg, sig, on_progress, progress_interval, on_event, on_start,
                            on_ports)


def _link_states(pipe: Pipeline, ports: dict[str, Any]) -> dict[str, str]:
    """{role: "up" | "down" | "failed"} as the loop last saw each port."""
    roles = {id(p): role for role, port in ports.items()
             for p in getattr(port, "queue_ports", [port])}
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
                 on_event: Callable[[str], None] | None,
                 on_start: Callable[[dict[str, Any]], None] | None,
                 on_ports: Callable[[dict[str, dict[str, int]]], None] | None
                 ) -> dict[str, Any]:
    leaks: list[int] = []
    fault: PortError | None = None
    result: dict[str, Any] | None = None
    with open_ports(cfg, leaks) as (chosen, pool, ports):
        pipe: Any
        if cfg.queues > 1:
            from .gateway_mq import build_queues

            pipe, enc, dec = build_queues(cfg, pool, ports, backend=chosen)
        else:
            pipe, enc, dec = build_gateway(cfg, pool, ports)
        adapt: Any = None                   # --adaptive: the control loop
        plan = {"interfaces": interfaces_report(ports),
                "mtu": mtu_report(enc, replies=dec is not None)}
        if on_start is not None and sig.signum is None:
            on_start(plan)
        # Leaving this block, for any reason, stops and joins the loop first.
        with pipe:
            if sig.signum is None:          # not interrupted during setup
                pipe.start(duration=cfg.duration, packets=cfg.packets,
                           busy_poll=cfg.busy_poll, idle_sleep_us=cfg.idle_sleep_us)
                adapt = _adaptive_loop(cfg, enc, dec)
                links = _link_states(pipe, ports)
                peer_sessions: list[int] = []
                with sig.on_signal(pipe.request_stop):
                    try:
                        while (result := pipe.join(timeout=progress_interval)) is None:
                            if on_progress is not None:
                                on_progress(_with_adaptive(
                                    _with_udp_ports(pipe.counters(), ports), adapt))
                            if on_ports is not None:
                                on_ports({role: port.stats() for role, port in ports.items()})
                            now = _link_states(pipe, ports)
                            for role, state in now.items():
                                if state != links.get(role) and on_event is not None:
                                    on_event(f"link of the {role} port ({cfg.ports[role]}) "
                                             f"is {state}")
                            links = now
                            _reload_keys(pipe, cfg, on_event)
                            if cfg.mode == "tunnel":
                                _rekey_after_peer_restart(pipe, peer_sessions, on_event)
                    except PortError as exc:    # a port failed under the loop
                        fault = exc
                        result = getattr(exc, "result", None)
        counters = _with_udp_ports(pipe.counters(), ports)
        per_queue = (pipe.queue_counters(cfg.mode) if hasattr(pipe, "queue_counters")
                     else None)
        adaptive = None
        if adapt is not None:
            adapt.stop()
            adaptive = adapt.status()
        port_stats = {}
        for role, port in ports.items():
            try:
                port_stats[role] = port.stats()
            except PortError as exc:        # e.g. its device is gone
                port_stats[role] = {"error": str(exc)}
        del pipe, enc, dec
        # A capture file cut off or corrupt, a full disk: the run ended on it.
        capture_error: OSError | None = None
        for port in (p for v in ports.values() for p in getattr(v, "queue_ports", [v])):
            if getattr(port, "_rx_done_fn", None) is not None:
                try:
                    port.check()
                except OSError as exc:
                    capture_error = capture_error or exc
    sig.consume()
    if cfg.resolved:
        result = dict(result or {}, next_hop=cfg.resolved)
    report = {"backend": chosen.name, "mode": cfg.mode, "interrupted": sig.signum is not None,
              "signal": sig.name, **(result or {}), "counters": counters,
              "ports": port_stats, "buffers_leaked": leaks[0] if leaks else 0,
              "fault": None if fault is None else str(fault),
              "queues": cfg.queues, "queue_counters": per_queue,
              "drops": drop_report(counters, {r: st for r, st in port_stats.items()
                                              if "error" not in st}), **plan}
    if adaptive is not None:
        report["adaptive"] = adaptive
    if fault is not None:
        fault.report = report               # type: ignore[attr-defined]
        raise fault
    if capture_error is not None:
        capture_error.report = report       # type: ignore[attr-defined]
        raise capture_error
    return report


def _adaptive_loop(cfg: GatewayConfig, enc: FecEncodeStage | None,
                   dec: FecDecodeStage | None) -> Any:
    """--adaptive: the controller, fed by the peer's reports, on its own thread."""
    if not cfg.adaptive or enc is None or dec is None:
        return None
    from .adaptive import AdaptivePolicy, ControlLoop, StageController

    policy = AdaptivePolicy(target_loss=cfg.target_loss, max_delay_ms=cfg.max_delay_ms,
                            codes=(cfg.code,))
    ctl = StageController(policy, enc, dec.peer_report,
                          deadline=cfg.deadline)
    return ControlLoop(ctl).start()


def _with_adaptive(counters: dict[str, Any], adapt: Any) -> dict[str, Any]:
    """Counters plus ``"adaptive"`` (the setting in force and why) with --adaptive."""
    if adapt is not None:
        counters["adaptive"] = adapt.status()
    return counters


def _with_udp_ports(counters: dict[str, Any], ports: dict[str, Any]) -> dict[str, Any]:
    """Counters plus ``"udp.<role>"`` (peer state, keepalives, drops) per UDP port."""
    for role, port in ports.items():
        if is_udp_port(port) and not port.is_closed:
            counters[f"udp.{role}"] = port.stats()
    return counters
