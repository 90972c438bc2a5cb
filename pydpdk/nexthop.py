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
* :func:`arp_resolve` and :func:`ndp_resolve` ask the link directly
  through any started port (DPDK ports, whose interface the kernel does not
  see): ARP requests (RFC 826) for an IPv4 next hop, ICMPv6 neighbour
  solicitations (RFC 4861 section 7.2) for an IPv6 one, sent and answered
  through the port's own bursts, before the gateway's pipeline starts.  The
  next hop is the gateway given (``--next-hop``), else the peer is taken to
  be on-link.

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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import PortError

__all__ = ["NextHop", "arp_request", "arp_resolve", "kernel_next_hop", "ndp_resolve",
           "ndp_solicitation", "neighbour_mac", "resolve_for_port", "route_get"]

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

    Parameters
    ----------
    peer : str
        The tunnel peer's IP address (IPv4 or IPv6).
    ifname : str
        The interface (or DPDK port name) the frames leave by.
    ifindex : int
        The kernel's interface index; 0 for a port the kernel does not see.
    gateway : str or None
        The route's gateway; None when the peer is on the link.
    src_ip : str or None
        The source address to use: the kernel's preferred source for the
        route, or the one given.
    mac : str
        The next hop's MAC address, ``"aa:bb:cc:dd:ee:ff"``.
    """

    peer: str
    ifname: str
    ifindex: int
    gateway: str | None
    src_ip: str | None
    mac: str

    @property
    def address(self) -> str:
        """The IP address whose MAC this is: the gateway, or the peer itself (str)."""
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
    """The kernel's route to *dst* in the current network namespace.

    Asked over rtnetlink (``RTM_GETROUTE``, rtnetlink(7)).

    Parameters
    ----------
    dst : str
        Destination address, IPv4 or IPv6 (a ``%scope`` suffix is ignored).
    ifindex : int, default 0
        Only routes out of this interface index; 0: any.

    Returns
    -------
    tuple of (int, str or None, str or None)
        The outgoing interface index, the gateway (None: on-link) and the
        preferred source address (None: none given).

    Raises
    ------
    OSError
        ENETUNREACH (or the kernel's errno) when there is no route.
    ValueError
        *dst* is not an IP address.
    """
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
    """The usable MAC of *ip* in the kernel's neighbour table.

    Asked over rtnetlink (``RTM_GETNEIGH``): ARP entries for IPv4, NDP
    entries for IPv6, in a usable state (reachable, stale, delay, probe,
    permanent).

    Parameters
    ----------
    ifindex : int
        The interface index whose entries count.
    ip : str
        The neighbour's IPv4 or IPv6 address.

    Returns
    -------
    str or None
        The MAC address, ``"aa:bb:cc:dd:ee:ff"``; None without a usable entry.

    Raises
    ------
    OSError
        The netlink request failed.
    ValueError
        *ip* is not an IP address.
    """
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
    """Resolve the next hop towards *peer* from the kernel's tables.

    The route to *peer* (it must leave by *ifname*) and the neighbour table
    give the next hop and its MAC; a missing entry is resolved by the kernel
    itself (ARP, or NDP for IPv6: an empty datagram to the peer's discard
    port makes it ask), asked again every second.

    Parameters
    ----------
    peer : str
        The tunnel peer, IPv4 or IPv6.
    ifname : str
        The interface the tunnel's frames leave by (an AF_PACKET port's).
    timeout : float, default 3.0
        Seconds to wait for the neighbour's answer.

    Returns
    -------
    NextHop
        The next hop, its MAC and the route's source address.

    Raises
    ------
    PortError
        ENODEV: no such interface; ENETUNREACH: no route to *peer* out of
        *ifname*; EHOSTUNREACH: the next hop did not answer within
        *timeout* seconds.
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
    """An Ethernet broadcast ARP request (RFC 826) for *target_ip*.

    Parameters
    ----------
    src_mac : str
        The asking port's MAC, ``"aa:bb:cc:dd:ee:ff"``.
    src_ip : str
        The asking port's IPv4 address.
    target_ip : str
        The IPv4 address whose MAC is wanted.

    Returns
    -------
    bytes
        The 60-byte Ethernet frame (padded to the minimum size).

    Raises
    ------
    ValueError
        An address is not a MAC or an IPv4 address.
    """
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
    return _mac_text(frame[22:28])


def _mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _mac_bytes(mac: str) -> bytes:
    raw = bytes.fromhex(mac.replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise ValueError(f"not a MAC address: {mac!r}")
    return raw


def _ask_link(port: Any, pool: Any, request: bytes, answer: Callable[[bytes], str | None],
              timeout: float, what: str) -> str:
    """Send *request* through *port* every half second until *answer* finds
    the MAC in a received frame; PortError (EHOSTUNREACH) after *timeout*."""
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
                mac = answer(frame)
                if mac:
                    return mac
        finally:
            burst.free()
        time.sleep(0.005)
    raise PortError(errno.EHOSTUNREACH, f"no {what} within {timeout} s; give --dst-mac")


def arp_resolve(port: Any, pool: Any, src_mac: str, src_ip: str, target_ip: str,
                timeout: float = 3.0) -> str:
    """The MAC of *target_ip*, asked with ARP (RFC 826) through a started *port*.

    Frames received meanwhile that are not the answer are dropped (the
    gateway has not started yet).  Any backend's port.

    Parameters
    ----------
    port : Port
        A started port with ``rx_burst``/``tx_burst`` (DPDK, AF_PACKET, ...).
    pool : PacketPool
        The pool the request is built in.
    src_mac : str
        The port's MAC (the request's sender).
    src_ip : str
        The port's IPv4 address (the request's sender).
    target_ip : str
        The IPv4 address whose MAC is wanted.
    timeout : float, default 3.0
        Seconds to wait for the answer (a request every half second).

    Returns
    -------
    str
        The MAC address, ``"aa:bb:cc:dd:ee:ff"``.

    Raises
    ------
    PortError
        EHOSTUNREACH: no answer within *timeout* seconds.
    ValueError
        An address is not a MAC or an IPv4 address.
    """
    want = ipaddress.IPv4Address(target_ip).packed
    return _ask_link(port, pool, arp_request(src_mac, src_ip, target_ip),
                     lambda frame: _arp_reply_mac(frame, want), timeout,
                     f"ARP answer from {target_ip}")


def _icmp6_csum(src: bytes, dst: bytes, msg: bytes) -> int:
    """The ICMPv6 checksum (RFC 4443 section 2.3: IPv6 pseudo-header) of
    *msg* whose checksum field is zero; or 0 over a message that is right."""
    data = src + dst + struct.pack("!I3xB", len(msg), 58) + msg
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


# ff02::1:ff00:0/104, RFC 4291 section 2.7.1
_SOLICITED_NODE = ipaddress.IPv6Address("ff02::1:ff00:0").packed[:13]


def ndp_solicitation(src_mac: str, src_ip: str, target_ip: str) -> bytes:
    """An ICMPv6 neighbour solicitation (RFC 4861 section 4.3) for *target_ip*.

    Sent to the target's solicited-node multicast address (ff02::1:ffXX:XXXX,
    Ethernet 33:33:ff:XX:XX:XX, RFC 4291 / RFC 2464) with hop limit 255 and
    the sender's link-layer address option, as a host resolving a neighbour.

    Parameters
    ----------
    src_mac : str
        The asking port's MAC, ``"aa:bb:cc:dd:ee:ff"``.
    src_ip : str
        The asking port's IPv6 address (the answer goes there).
    target_ip : str
        The IPv6 address whose MAC is wanted.

    Returns
    -------
    bytes
        The 86-byte Ethernet frame.

    Raises
    ------
    ValueError
        An address is not a MAC or an IPv6 address.
    """
    sha = _mac_bytes(src_mac)
    src = ipaddress.IPv6Address(src_ip).packed
    target = ipaddress.IPv6Address(target_ip).packed
    group = _SOLICITED_NODE + target[13:]
    msg = struct.pack("!BBHI", 135, 0, 0, 0) + target + bytes((1, 1)) + sha
    msg = msg[:2] + struct.pack("!H", _icmp6_csum(src, group, msg)) + msg[4:]
    ip6 = struct.pack("!IHBB", 6 << 28, len(msg), 58, 255) + src + group
    return b"\x33\x33" + group[12:] + sha + b"\x86\xdd" + ip6 + msg


def _ndp_advert_mac(frame: bytes, target: bytes) -> str | None:
    """The target link-layer address of a neighbour advertisement for
    *target* (RFC 4861 section 7.1.2 validity checks), or None."""
    if len(frame) < 14 + 40 + 24 or frame[12:14] != b"\x86\xdd" or frame[14] >> 4 != 6:
        return None
    plen = struct.unpack_from("!H", frame, 18)[0]
    msg = frame[54:54 + plen]
    if (frame[20] != 58 or frame[21] != 255 or len(msg) != plen or len(msg) < 24
            or msg[0] != 136 or msg[1] != 0 or msg[8:24] != target
            or _icmp6_csum(frame[22:38], frame[38:54], msg) != 0):
        return None
    off = 24
    while off + 8 <= len(msg):
        kind, units = msg[off], msg[off + 1]
        if units == 0:                            # malformed option: stop
            return None
        if kind == 2 and units == 1:              # target link-layer address
            return _mac_text(msg[off + 2:off + 8])
        off += units * 8
    return None                # an answer to a multicast solicitation must have it


def ndp_resolve(port: Any, pool: Any, src_mac: str, src_ip: str, target_ip: str,
                timeout: float = 3.0) -> str:
    """The MAC of *target_ip*, asked with NDP (RFC 4861) through a started *port*.

    Neighbour solicitations go out every half second until a valid neighbour
    advertisement for *target_ip* with its link-layer address comes back;
    frames received meanwhile that are not the answer are dropped (the
    gateway has not started yet).  Any backend's port.

    Parameters
    ----------
    port : Port
        A started port with ``rx_burst``/``tx_burst`` (DPDK, AF_PACKET, ...).
    pool : PacketPool
        The pool the solicitation is built in.
    src_mac : str
        The port's MAC (the solicitation's source link-layer address).
    src_ip : str
        The port's IPv6 address (the advertisement is sent to it).
    target_ip : str
        The IPv6 address whose MAC is wanted.
    timeout : float, default 3.0
        Seconds to wait for the answer.

    Returns
    -------
    str
        The MAC address, ``"aa:bb:cc:dd:ee:ff"``.

    Raises
    ------
    PortError
        EHOSTUNREACH: no answer within *timeout* seconds.
    ValueError
        An address is not a MAC or an IPv6 address.
    """
    want = ipaddress.IPv6Address(target_ip).packed
    return _ask_link(port, pool, ndp_solicitation(src_mac, src_ip, target_ip),
                     lambda frame: _ndp_advert_mac(frame, want), timeout,
                     f"neighbour advertisement (NDP) from {target_ip}")


def resolve_for_port(port: Any, pool: Any, peer: str, src_ip: str | None,
                     src_mac: str | None, gateway: str | None = None,
                     timeout: float = 3.0) -> NextHop:
    """The next hop towards *peer* for a raw *port* (``--encap udp``).

    An AF_PACKET port asks the kernel (route and neighbour tables of its
    interface, :func:`kernel_next_hop`; *gateway* is then ignored).  Any
    other port (DPDK) asks the link through the port, with ARP for an IPv4
    peer and NDP for an IPv6 one: for *gateway* when given (the peer is in
    another subnet), else for the peer itself (on-link); the kernel's tables
    describe the kernel's interfaces, not a NIC DPDK drives.

    Parameters
    ----------
    port : Port
        The started WAN port.
    pool : PacketPool
        The pool requests are built in (ARP/NDP through the port).
    peer : str
        The tunnel peer, IPv4 or IPv6.
    src_ip : str or None
        The port's address, of the peer's IP version (needed for ARP/NDP
        through the port; an AF_PACKET port takes the route's when None).
    src_mac : str or None
        The port's MAC; None: ``port.mac``.
    gateway : str or None, default None
        The route's gateway for a port the kernel does not see.
    timeout : float, default 3.0
        Seconds to wait for an answer.

    Returns
    -------
    NextHop
        The next hop and its MAC.

    Raises
    ------
    PortError
        EINVAL: no *src_ip* for ARP/NDP through the port, or addresses of
        different IP versions; ENETUNREACH, EHOSTUNREACH, ENODEV as
        :func:`kernel_next_hop`, :func:`arp_resolve` and
        :func:`ndp_resolve` raise them.
    """
    ifname = getattr(port, "ifname", None)
    if ifname and type(port).__name__ == "AfPacketPort":
        return kernel_next_hop(peer, ifname, timeout)
    if not src_ip:
        raise PortError(errno.EINVAL, "ARP/NDP through the port needs a source address: "
                                      "give --src-ip")
    hop = gateway or peer
    versions = {_ip(a).version for a in (peer, src_ip, hop)}
    if len(versions) != 1:
        raise PortError(errno.EINVAL, f"peer {peer}, source {src_ip} and next hop {hop} "
                                      "must all be IPv4 or all IPv6")
    ask = ndp_resolve if versions == {6} else arp_resolve
    mac = ask(port, pool, src_mac or port.mac, src_ip, hop, timeout)
    return NextHop(peer, str(getattr(port, "name", port)), 0, gateway, src_ip, mac)
