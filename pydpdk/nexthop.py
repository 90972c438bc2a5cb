"""Next-hop MAC resolution for ``--encap udp`` on raw ports (AF_PACKET, DPDK).

A raw port writes whole Ethernet frames, so an IPv4/UDP tunnel over it needs
the MAC address of the next hop: the peer itself when it is on the link,
otherwise the gateway of the route towards the peer (RFC 1812 forwarding).

* :func:`kernel_next_hop` asks the kernel of the current network namespace
  over rtnetlink (IPv4 and IPv6 next hops: ARP and NDP entries alike):
  the route to the peer (``RTM_GETROUTE``, rtnetlink(7))
  gives the outgoing interface, the gateway and the preferred source
  address; the neighbour table (``RTM_GETNEIGH``) gives the gateway's MAC.
  An absent entry is resolved by the kernel itself: one empty datagram to
  the peer's discard port (9) from a socket bound to the interface makes it
  send the ARP request; the table is polled until the entry is usable.
  This needs the interface to have an address and routes in the kernel (as
  any host on that link would), as on an AF_PACKET gateway.
* :func:`arp_resolve` asks the link directly through any started port
  (DPDK ports, whose interface the kernel does not see): ARP requests
  (RFC 826) for the next hop, sent and answered through the port's own
  bursts, before the gateway's pipeline starts.  The next hop comes from
  the kernel's route when it has one, else the peer is taken to be on-link.

Errors: :class:`pydpdk.errors.PortError` with ``EHOSTUNREACH`` (no route, or
no answer within the timeout) or ``ENETUNREACH``; the message says to give
``--dst-mac`` instead.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

from .errors import PortError

__all__ = ["NextHop", "arp_request", "arp_resolve", "kernel_next_hop", "neighbour_mac",
           "route_get"]

_NLM_F_REQUEST = 0x1
_NLM_F_DUMP = 0x300
_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_RTM_NEWROUTE, _RTM_GETROUTE = 24, 26
_RTM_NEWNEIGH, _RTM_GETNEIGH = 28, 30
_RTA_DST, _RTA_OIF, _RTA_GATEWAY, _RTA_PREFSRC = 1, 4, 5, 7
_NDA_DST, _NDA_LLADDR = 1, 2
# Neighbour states with a usable link-layer address (linux/neighbour.h).
_NUD_USABLE = 0x02 | 0x04 | 0x08 | 0x10 | 0x80   # REACHABLE STALE DELAY PROBE PERMANENT


@dataclass
class NextHop:
    """Where frames towards *peer* go: out of *ifname*, to *mac*.

    *gateway* is the route's gateway (None: the peer is on the link);
    *src_ip* the kernel's preferred source address for the route.
    """

    peer: str
    ifname: str
    ifindex: int
    gateway: str | None
    src_ip: str | None
    mac: str

    @property
    def address(self) -> str:
        """The IP address whose MAC this is: the gateway, or the peer itself."""
        return self.gateway or self.peer


def _attrs(data: bytes, offset: int) -> dict[int, bytes]:
    out = {}
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            break
        out[kind & 0x3FFF] = data[offset + 4:offset + length]
        offset += (length + 3) & ~3
    return out


def _attr(kind: int, value: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(value), kind) + value
    return raw + bytes(-len(raw) % 4)


def _netlink(payload: bytes, msg_type: int, flags: int) -> list[tuple[int, bytes]]:
    """One rtnetlink request; the (type, body) of every answer message."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as s:
        s.settimeout(2.0)
        s.bind((0, 0))
        seq = int(time.monotonic_ns() & 0x7FFFFFFF)
        s.send(struct.pack("=IHHII", 16 + len(payload), msg_type, flags | _NLM_F_REQUEST,
                           seq, 0) + payload)
        out: list[tuple[int, bytes]] = []
        while True:
            data = s.recv(1 << 16)
            offset = 0
            while offset + 16 <= len(data):
                length, kind, _, rseq, _ = struct.unpack_from("=IHHII", data, offset)
                if length < 16:
                    return out
                body = data[offset + 16:offset + length]
                offset += (length + 3) & ~3
                if rseq != seq:
                    continue
                if kind == _NLMSG_ERROR:
                    code = -struct.unpack_from("=i", body)[0]
                    if code:
                        raise OSError(code, os.strerror(code))
                    return out
                if kind == _NLMSG_DONE:
                    return out
                out.append((kind, body))
            if not flags & _NLM_F_DUMP:
                return out


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text.split("%", 1)[0])


def route_get(dst: str, ifindex: int = 0) -> tuple[int, str | None, str | None]:
    """The kernel's route to *dst* (IPv4 or IPv6; optionally out of
    *ifindex*): (ifindex, gateway or None, preferred source or None).
    OSError (ENETUNREACH, ...) when there is none."""
    ip = _ip(dst)
    family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
    req = struct.pack("=BBBBBBBBI", family, ip.max_prefixlen, 0, 0, 0, 0, 0, 0, 0)
    req += _attr(_RTA_DST, ip.packed)
    if ifindex:
        req += _attr(_RTA_OIF, struct.pack("=i", ifindex))
    for kind, body in _netlink(req, _RTM_GETROUTE, 0):
        if kind != _RTM_NEWROUTE:
            continue
        attrs = _attrs(body, 12)
        oif = struct.unpack("=i", attrs[_RTA_OIF])[0] if _RTA_OIF in attrs else 0
        gw = str(ipaddress.ip_address(attrs[_RTA_GATEWAY])) if _RTA_GATEWAY in attrs else None
        src = (str(ipaddress.ip_address(attrs[_RTA_PREFSRC])) if _RTA_PREFSRC in attrs
               else None)
        return oif, gw, src
    raise OSError(errno.ENETUNREACH, f"no route to {dst}")


def neighbour_mac(ifindex: int, ip: str) -> str | None:
    """The usable MAC of *ip* (IPv4: ARP, IPv6: NDP) in the kernel's neighbour
    table on *ifindex*."""
    addr = _ip(ip)
    family = socket.AF_INET if addr.version == 4 else socket.AF_INET6
    want = addr.packed
    req = struct.pack("=BxxxiHBB", family, 0, 0, 0, 0)
    for kind, body in _netlink(req, _RTM_GETNEIGH, _NLM_F_DUMP):
        if kind != _RTM_NEWNEIGH or len(body) < 12:
            continue
        fam, index, state, _, _ = struct.unpack_from("=BxxxiHBB", body)
        if fam != family or index != ifindex or not state & _NUD_USABLE:
            continue
        attrs = _attrs(body, 12)
        mac = attrs.get(_NDA_LLADDR, b"")
        if attrs.get(_NDA_DST) == want and len(mac) == 6 and any(mac):
            return ":".join(f"{b:02x}" for b in mac)
    return None


def _provoke_resolution(ifname: str, peer: str) -> None:
    """Make the kernel resolve the next hop towards *peer* on *ifname*: an
    empty datagram to the peer's discard port needs the next hop's MAC (ARP
    request, or an ICMPv6 neighbour solicitation, RFC 4861)."""
    family = socket.AF_INET if _ip(peer).version == 4 else socket.AF_INET6
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
            s.sendto(b"", (peer, 9))
        except OSError:
            pass                   # resolution may still be under way; the poll decides


def kernel_next_hop(peer: str, ifname: str, timeout: float = 3.0) -> NextHop:
    """Resolve the next hop towards *peer* (IPv4 or IPv6) out of *ifname* from
    the kernel's route and neighbour tables, triggering ARP / neighbour
    discovery when the entry is missing.

    Raises PortError (ENETUNREACH: no route out of *ifname*; EHOSTUNREACH:
    the next hop did not answer within *timeout* seconds).
    """
    try:
        ifindex = socket.if_nametoindex(ifname)
    except OSError:
        raise PortError(errno.ENODEV, f"no interface {ifname!r} in this namespace") from None
    try:
        # without an interface: with one, the kernel invents an on-link route
        oif, gateway, src = route_get(peer)
    except OSError as exc:
        raise PortError(exc.errno or errno.ENETUNREACH,
                        f"the kernel has no route to {peer} out of {ifname}: {exc.strerror}; "
                        "give --dst-mac") from None
    if oif != ifindex:
        raise PortError(errno.ENETUNREACH, f"the kernel's route to {peer} leaves by interface "
                                           f"#{oif}, not {ifname}; give --dst-mac")
    hop = gateway or peer
    deadline = time.monotonic() + timeout
    provoked = 0.0
    while True:
        mac = neighbour_mac(ifindex, hop)
        if mac:
            return NextHop(peer, ifname, ifindex, gateway, src, mac)
        now = time.monotonic()
        if now >= deadline:
            raise PortError(errno.EHOSTUNREACH,
                            f"next hop {hop} (towards {peer}) did not answer "
                            f"{'ARP' if _ip(hop).version == 4 else 'neighbour discovery'} "
                            f"on {ifname} "
                            f"within {timeout} s; give --dst-mac")
        if now - provoked >= 1.0:                  # ARP may be lost: ask again
            _provoke_resolution(ifname, peer)
            provoked = now
        time.sleep(0.02)


def arp_request(src_mac: str, src_ip: str, target_ip: str) -> bytes:
    """An Ethernet broadcast ARP request (RFC 826) for *target_ip*."""
    sha = bytes.fromhex(src_mac.replace(":", ""))
    return (b"\xff" * 6 + sha + b"\x08\x06"
            + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + sha
            + ipaddress.IPv4Address(src_ip).packed + bytes(6)
            + ipaddress.IPv4Address(target_ip).packed + bytes(18))


def _arp_reply_mac(frame: bytes, target_ip: bytes) -> str | None:
    if len(frame) < 42 or frame[12:14] != b"\x08\x06":
        return None
    htype, ptype, hlen, plen, op = struct.unpack_from("!HHBBH", frame, 14)
    if (htype, ptype, hlen, plen, op) != (1, 0x0800, 6, 4, 2) or frame[28:32] != target_ip:
        return None
    return ":".join(f"{b:02x}" for b in frame[22:28])


def arp_resolve(port: Any, pool: Any, src_mac: str, src_ip: str, target_ip: str,
                timeout: float = 3.0) -> str:
    """The MAC of *target_ip*, asked with ARP through a started *port* (any backend).

    Frames received meanwhile that are not the answer are dropped (the
    gateway has not started yet).  Raises PortError (EHOSTUNREACH) without an
    answer within *timeout* seconds.
    """
    want = ipaddress.IPv4Address(target_ip).packed
    request = arp_request(src_mac, src_ip, target_ip)
    deadline = time.monotonic() + timeout
    asked = 0.0
    while time.monotonic() < deadline:
        if time.monotonic() - asked >= 0.5:       # one request per half second
            burst = pool.burst_from_bytes([request])
            try:
                port.tx_burst(burst)
            finally:
                burst.free()
            asked = time.monotonic()
        burst = port.rx_burst(max_packets=32)
        try:
            for frame in burst.to_bytes_list():
                mac = _arp_reply_mac(frame, want)
                if mac:
                    return mac
        finally:
            burst.free()
        time.sleep(0.005)
    raise PortError(errno.EHOSTUNREACH, f"no ARP answer from {target_ip} within {timeout} s; "
                                        "give --dst-mac")


def resolve_for_port(port: Any, pool: Any, peer: str, src_ip: str | None,
                     src_mac: str | None, gateway: str | None = None,
                     timeout: float = 3.0) -> NextHop:
    """The next hop towards *peer* for a raw *port*.

    An AF_PACKET port asks the kernel (route and neighbour tables of its
    interface; *gateway* is then ignored).  Any other port (DPDK) asks the
    link with ARP through the port: for *gateway* when given (the peer is in
    another subnet), else for the peer itself (on-link); the kernel's tables
    describe the kernel's interfaces, not a NIC DPDK drives.
    """
    ifname = getattr(port, "ifname", None)
    if ifname and type(port).__name__ == "AfPacketPort":
        return kernel_next_hop(peer, ifname, timeout)
    if not src_ip:
        raise PortError(errno.EINVAL, "ARP through the port needs a source address: "
                                      "give --src-ip")
    mac = arp_resolve(port, pool, src_mac or port.mac, src_ip, gateway or peer, timeout)
    return NextHop(peer, str(getattr(port, "name", port)), 0, gateway, src_ip, mac)
