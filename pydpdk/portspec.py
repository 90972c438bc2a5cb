"""Port specs of the command line and the gateway, and the backend they run on.

A port spec is one of:

``afpacket:IFACE``
    pydpdk's own AF_PACKET port (TPACKET_V3) on a kernel interface.
``pcap:rx=FILE,tx=FILE``
    pydpdk's own capture file port (either side optional; pcap or pcapng,
    every interface read; the output format follows the name).
``NAME,key=value,...``
    DPDK devargs: a vdev hot-plugged for the run (``net_pcap0,rx_pcap=a.pcap``,
    ``net_af_packet0,iface=eth1``, ``net_ring0``...).  DPDK only.
``udp:HOST:PORT``
    a UDP socket towards a peer gateway: runs with either backend.
``0``, ``0000:03:00.0``, ``net_null0``
    A DPDK port id or device name (DPDK only); without DPDK a bare name is
    an interface (``afpacket:NAME``).

The native kinds (``afpacket:``, ``pcap:``) run on the native backend on
every build: when every spec of a run is native and no backend or EAL
argument was given, the run uses the native backend, so the same command
works with and without DPDK.  Their packets cannot share a pipeline with
DPDK ports (buffers of another kind), so mixing both kinds in one run is a
usage error saying what to write instead.

Why ``afpacket:`` rather than DPDK's ``net_af_packet``: the kernel hands
locally sent packets to AF_PACKET with their checksums left for offload
(CHECKSUM_PARTIAL); pydpdk's port completes them, DPDK 22.11's driver
passes them on unfinished (a receiver then drops them).  Use
``net_af_packet`` devargs only for traffic that comes from the wire or when
a pipeline must mix it with other DPDK ports.  Likewise ``pcap:`` rather
than ``net_pcap``: DPDK's driver reads through libpcap, which refuses
pcapng files whose interfaces differ in link type or snap length.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["NATIVE_KINDS", "backend_for", "is_native", "parse_kv", "parse_pcap_spec",
           "parse_udp_spec"]

#: Spec prefixes served by the native backend.
NATIVE_KINDS = ("afpacket", "pcap")
#: Spec prefixes that work on any backend (a socket: packets are copied).
ANY_BACKEND_KINDS = ("udp",)


def is_any_backend(spec: str) -> bool:
    """True for ``udp:...`` specs, which run with either backend."""
    kind, sep, _ = spec.partition(":")
    return bool(sep) and kind in ANY_BACKEND_KINDS


def is_native(spec: str) -> bool:
    """True for ``afpacket:...`` and ``pcap:...`` specs."""
    kind, sep, _ = spec.partition(":")
    return bool(sep) and kind in NATIVE_KINDS


def parse_pcap_spec(rest: str) -> dict[str, str]:
    """The options of a ``pcap:`` spec (after the colon).

    Keys: ``rx``, ``tx`` (files), ``format`` (``pcap``/``pcapng``: the
    output's format, default by its name), ``loop`` (passes over the input,
    0 = forever; default 1), ``timing`` (``1``: replay at the file's pace),
    ``speed`` (replay speed factor).

    Raises
    ------
    ValueError
        For an empty spec, a part that is not ``key=value``, an unknown
        key or a bad value; the message shows the spec's form.
    """
    form = "pcap:rx=FILE,tx=FILE[,format=pcap|pcapng][,loop=N][,timing=1][,speed=X]"
    opts: dict[str, str] = {}
    for part in filter(None, rest.split(",")):
        key, sep, value = part.partition("=")
        if not sep or not value.strip():
            raise ValueError(f"port spec pcap:{rest}: expected key=value, got {part!r} ({form})")
        opts[key.strip()] = value.strip()
    unknown = set(opts) - {"rx", "tx", "format", "loop", "timing", "speed"}
    if unknown:
        raise ValueError(f"port spec pcap:{rest}: unknown key(s) {', '.join(sorted(unknown))} "
                         f"({form})")
    if "rx" not in opts and "tx" not in opts:
        raise ValueError(f"port spec pcap:{rest}: needs rx=FILE, tx=FILE or both ({form})")
    if opts.get("format", "pcapng") not in ("pcap", "pcapng"):
        raise ValueError(f"port spec pcap:{rest}: format must be pcap or pcapng")
    if "loop" in opts and (not opts["loop"].isdigit()):
        raise ValueError(f"port spec pcap:{rest}: loop must be a count >= 0 (0: forever)")
    if opts.get("timing", "0") not in ("0", "1"):
        raise ValueError(f"port spec pcap:{rest}: timing must be 0 or 1")
    if "speed" in opts:
        try:
            speed = float(opts["speed"])
        except ValueError:
            speed = float("nan")
        if not (0 < speed < float("inf")):
            raise ValueError(f"port spec pcap:{rest}: speed must be a finite number > 0")
    return opts


def parse_kv(text: str) -> dict[str, str]:
    """The ``key=value`` parts of a comma-separated option list.

    Parameters
    ----------
    text : str
        E.g. ``"bind=0.0.0.0:4790,df=1"``; empty parts are skipped.

    Returns
    -------
    dict of str to str
        Keys and values, blanks around them stripped.

    Raises
    ------
    ValueError
        A part is not ``key=value``.
    """
    out = {}
    for part in filter(None, text.split(",")):
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"expected key=value in port spec, got {part!r}")
        out[key.strip()] = value.strip()
    return out


def parse_udp_spec(rest: str) -> tuple[str, dict[str, Any]]:
    """The peer and the ``UdpPort`` keyword arguments of a ``udp:`` spec.

    Parameters
    ----------
    rest : str
        The spec after ``udp:``: ``HOST:PORT`` then options after commas:
        ``bind=ADDR:PORT``, ``keepalive=S`` and ``dead=S`` (seconds),
        ``df``, ``follow``, ``gso``, ``gro`` (``0`` or ``1``),
        ``peer_queues=N``.

    Returns
    -------
    tuple of (str, dict)
        ``(peer, kwargs)`` for :class:`pydpdk.udp.UdpPort`.

    Raises
    ------
    ValueError
        No peer, an unknown option or a bad value; the message shows the
        spec's form.
    """
    peer, _, opts_text = rest.partition(",")
    opts = parse_kv(opts_text)
    unknown = set(opts) - {"bind", "keepalive", "dead", "df", "follow", "gso",
                          "gro", "peer_queues"}
    if unknown or not peer:
        raise ValueError("udp port spec is udp:HOST:PORT[,bind=ADDR:PORT][,keepalive=S]"
                         "[,dead=S][,df=0|1][,follow=0|1][,gso=0|1][,gro=0|1]"
                         "[,peer_queues=N], "
                         f"got udp:{rest}")
    kwargs: dict[str, Any] = {}
    if "bind" in opts:
        kwargs["bind"] = opts["bind"]
    for key, arg in (("keepalive", "keepalive"), ("dead", "dead_after")):
        if key in opts:
            try:
                kwargs[arg] = float(opts[key])
            except ValueError:
                raise ValueError(f"udp port option {key} is a time in seconds, "
                                 f"got {opts[key]!r}") from None
    for key, arg in (("df", "dont_fragment"), ("follow", "follow_peer"), ("gso", "gso"),
                     ("gro", "gro")):
        if key in opts:
            if opts[key] not in ("0", "1"):
                raise ValueError(f"udp port option {key} is 0 or 1, got {opts[key]!r}")
            kwargs[arg] = opts[key] == "1"
    if "peer_queues" in opts:              # a multi-queue peer sends from N ports
        text = opts["peer_queues"]
        if not text.isdigit() or int(text) < 1:
            raise ValueError(f"udp port option peer_queues is an integer >= 1, got {text!r}")
        kwargs["peer_ports"] = int(text)
    return peer, kwargs


def pcap_port_kwargs(opts: dict[str, str]) -> dict[str, Any]:
    """PcapPort keyword arguments for :func:`parse_pcap_spec`'s options."""
    return {
        "rx_path": opts.get("rx"),
        "tx_path": opts.get("tx"),
        "format": opts.get("format"),
        "passes": int(opts.get("loop", "1")),
        "replay_timing": opts.get("timing") == "1",
        "speed": float(opts.get("speed", "1")),
    }


def backend_for(specs: Iterable[str], requested: str | None, eal_args: Iterable[str] = ()
                ) -> str | None:
    """The backend a run with these port specs must use.

    Returns *requested* when it is given (after checking it can serve the
    specs), ``"native"`` when every spec is native and no EAL argument was
    given, else None (the automatic choice of :func:`pydpdk.backend.select`).

    Raises
    ------
    ValueError
        When native specs are mixed with DPDK ones, or asked to run on DPDK,
        or EAL arguments come with native specs only; the message says what
        to write instead.
    """
    specs = [s for s in specs if not is_any_backend(s)]
    native = [s for s in specs if is_native(s)]
    if not native:
        return requested
    others = [s for s in specs if not is_native(s)]
    hint = ("afpacket:IFACE and pcap:... run on pydpdk's native backend; for DPDK's drivers "
            "write devargs (net_af_packet0,iface=IFACE or net_pcap0,rx_pcap=FILE,tx_pcap=FILE)")
    if others:
        raise ValueError(f"port specs {', '.join(native)} and {', '.join(others)} need "
                         f"different backends and cannot share a run: {hint}")
    if requested == "dpdk":
        raise ValueError(f"--backend dpdk cannot open {', '.join(native)}: {hint}")
    if list(eal_args):
        raise ValueError(f"EAL arguments were given but {', '.join(native)} run without the "
                         f"EAL (drop them, or {hint.split('; ', 1)[1]})")
    return "native"
