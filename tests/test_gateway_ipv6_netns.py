"""Two sites on different IPv6 subnets joined by raw ``--encap udp`` gateways.

    host_a --lan-- gw_a ==wan fd81:1::/64== router ==wan fd81:2::/64== gw_b --lan-- host_b

The gateways' WAN ports are raw (AF_PACKET, or DPDK's af_packet PMD): the
gateway writes the Ethernet/IPv6/UDP outer header itself (UDP checksum
computed, RFC 8200) and finds the router's MAC with NDP (the kernel's
neighbour table on AF_PACKET, neighbour solicitations through the port on
DPDK).  The router forwards IPv6 and drops 5 % of the frames it receives
from either side (nftables ``numgen`` in netdev ingress chains).
"""

from __future__ import annotations

import contextlib
import errno
import gc
import hashlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator

import netns
import pytest
from test_udp_tunnel import Sites, _mac, decoder, tcp_transfer, two_sites, udp_round

pytest.importorskip("pydpdk._native", reason="no native AF_PACKET backend")

PORT = 4790
LOSS_PER_MILLE = 50
ROUTER_IP = {"a": "fd81:1::1", "b": "fd81:2::1"}


@pytest.fixture(autouse=True)
def _needs_root() -> None:
    netns.require_netns()
    netns.require_nft()
    if shutil.which("ethtool") is None:
        pytest.skip("ethtool (make deps) is needed to set the hosts' offloads")


@contextlib.contextmanager
def ingress_loss(ns: str, devices: tuple[str, ...], per_mille: int) -> Iterator[str]:
    """Drop per_mille/1000 of the frames arriving on each of *devices*."""
    table = netns.unique_name("pdu6loss")
    chains = "".join(f"  chain in_{dev} {{\n"
                     f"    type filter hook ingress device \"{dev}\" priority 0; policy accept;\n"
                     f"    numgen random mod 1000 < {per_mille} counter drop\n"
                     f"  }}\n" for dev in devices)
    netns.ns_exec_stdin(ns, f"table netdev {table} {{\n{chains}}}\n", "nft", "-f", "-")
    try:
        yield table
    finally:
        netns.ns_exec(ns, "nft", "delete", "table", "netdev", table, check=False)


def netdev_dropped(ns: str, table: str) -> list[int]:
    out = json.loads(netns.ns_exec(ns, "nft", "-j", "list", "table", "netdev", table))
    return [sum(int(e["counter"]["packets"]) for e in item["rule"]["expr"] if "counter" in e)
            for item in out["nftables"] if "rule" in item]


class Tap:
    """A raw socket in the router that keeps the tunnel's frames on one device,
    to check their outer header independently of the gateway's C code."""

    def __init__(self, ns: str, ifname: str) -> None:
        with netns.inside(ns):
            # ETH_P_ALL: frames leaving the device too
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
            self.sock.bind((ifname, 0))
        # SO_RCVBUFFORCE (root): past rmem_max, so the first frames are all kept
        self.sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 1 << 24)
        self.sock.setblocking(False)
        self.frames: list[bytes] = []

    def drain(self, keep: int = 2000) -> None:
        with contextlib.suppress(BlockingIOError):
            while True:
                f = self.sock.recv(4096)
                if len(self.frames) < keep and len(f) >= 62 and f[12:14] == b"\x86\xdd" \
                        and f[20] == 17 and struct.unpack_from("!H", f, 56)[0] == PORT:
                    self.frames.append(f)

    def close(self) -> None:
        self.sock.close()


def _udp6_checksum_ok(f: bytes) -> bool:
    """RFC 8200 section 8.1: the sum over pseudo-header + UDP is 0xffff, and
    the checksum field is not 0."""
    ulen = struct.unpack_from("!H", f, 58)[0]
    if struct.unpack_from("!H", f, 60)[0] == 0 or 54 + ulen > len(f):
        return False
    data = f[22:54] + struct.pack("!I3xB", ulen, 17) + f[54:54 + ulen]
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


def _gateway(sites: Sites, side: str, dpdk: bool) -> subprocess.Popen:
    ns, own, peer = ((sites.gw_a, sites.wan_a, sites.wan_b) if side == "a"
                     else (sites.gw_b, sites.wan_b, sites.wan_a))
    if dpdk:
        # NDP through the port: the kernel does not see a NIC DPDK drives
        ports = ["--vdev", "net_af_packet0,iface=lan", "--vdev", "net_af_packet1,iface=wan", "--",
                 "--backend", "dpdk", "--local", "0", "--peer", "1",
                 "--src-ip", own, "--next-hop", ROUTER_IP[side]]
    else:
        ports = ["--", "--backend", "native", "--local", "afpacket:lan",
                 "--peer", "afpacket:wan"]
    cmd = ["ip", "netns", "exec", ns, sys.executable, "-m", "pydpdk.cli", "fec", "tunnel",
           *ports, "--encap", "udp", "--dst-ip", peer, "-k", "8", "-m", "4",
           "--deadline-ms", "2", "--json"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stop(p: subprocess.Popen) -> dict:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode in (0, 128 + signal.SIGTERM), err
    return json.loads(out[out.index("{"):])


@pytest.mark.parametrize("dpdk", [False, True], ids=["afpacket", "dpdk"])
def test_two_ipv6_sites_over_raw_udp_encap(dpdk):
    """Exactly what crossed, and why the rest did not: UDP datagrams and a
    TCP stream (sha256) over a lossy routed IPv6 WAN, no MAC configured."""
    if dpdk:
        pytest.importorskip("pydpdk._dpdk_eal", reason="built without DPDK")
    n_udp, tcp_bytes = (300, 1 << 18) if dpdk else (1000, 1 << 20)
    payload = os.urandom(tcp_bytes)
    with two_sites(socket.AF_INET6) as sites, contextlib.ExitStack() as stack:
        if dpdk:
            # DPDK's af_packet PMD hands frames on as they are: the hosts must
            # not leave their checksums to a NIC
            for ns in (sites.host_a, sites.host_b):
                netns.set_offloads(ns, "eth0", tx="off")
        for ns in (sites.gw_a, sites.gw_b):
            # the tunnel's datagrams are the raw port's, not the kernel's to answer
            netns.ns_exec_stdin(ns, "table inet pdu6tun {\n  chain local_in {\n"
                                    "    type filter hook input priority 0;\n"
                                    f"    udp dport {PORT} drop\n  }}\n}}\n",
                                "nft", "-f", "-")
        gws = [_gateway(sites, side, dpdk) for side in "ab"]
        for p in gws:
            stack.callback(lambda p=p: p.poll() is None and p.kill())
        tap = Tap(sites.router, "r2")
        stack.callback(tap.close)
        # resolution first (a lost solicitation costs a second), then the loss
        udp_round(sites, 5, 6500)
        table = stack.enter_context(ingress_loss(sites.router, ("r1", "r2"), LOSS_PER_MILLE))
        seqs_a, seqs_b = udp_round(sites, n_udp, 6510)
        tap.drain()
        received = tcp_transfer(sites, payload, 7510)
        tap.drain()
        dropped = netdev_dropped(sites.router, table)
        reports = [_stop(p) for p in gws]
        router_macs = _mac(sites.router, "r1"), _mac(sites.router, "r2")
    # RS(8,4) over 5 % loss: without FEC ~5 % of the datagrams would be lost
    assert len(seqs_a) >= n_udp - 5 and len(seqs_b) >= n_udp - 5, (len(seqs_a), len(seqs_b))
    # ... and what did not arrive, the receiving gateway counted as lost for good
    assert n_udp - len(seqs_b) <= decoder(reports[1])["unrecoverable"]
    assert n_udp - len(seqs_a) <= decoder(reports[0])["unrecoverable"]
    assert hashlib.sha256(received).hexdigest() == hashlib.sha256(payload).hexdigest()
    assert min(dropped) > 5                       # each way really lost frames
    assert sum(decoder(r)["recovered"] for r in reports) > 0
    # the outer header on the wire: IPv6 + UDP with a correct checksum
    assert len(tap.frames) > 100
    assert all(_udp6_checksum_ok(f) for f in tap.frames)
    assert {socket.inet_ntop(socket.AF_INET6, f[22:38]) for f in tap.frames} == \
        {sites.wan_a, sites.wan_b}
    for side, r, mac in zip("ab", reports, router_macs):
        hop = r["next_hop"]
        assert hop["next_hop"] == ROUTER_IP[side] and hop["via_gateway"]
        assert hop["mac"] == mac
        assert hop["src_ip"] == (sites.wan_a if side == "a" else sites.wan_b)
        # 48 bytes of IPv6 + UDP beyond the WAN's Ethernet header
        assert r["mtu"]["overhead_bytes"] == 62 + 20
        assert r["mtu"]["max_frame"] == 1500 + 14 - 62 - 20 - 2
        dec = decoder(r)
        assert dec["bad_checksum"] == 0 and dec["malformed"] == 0
        assert r["buffers_leaked"] == 0
        enc = next(c for name, c in r["counters"].items() if name.endswith("fec-encode"))
        assert enc["mss_clamped"] > 0             # the hosts' 1460 MSS no longer fits
    assert r["backend"] == ("dpdk" if dpdk else "native")


def test_ndp_through_a_port():
    """resolve_for_port on a port the kernel does not drive: neighbour
    solicitations through the port, the advertisement's target MAC; a typed
    error when nobody answers, or when the addresses mix IP versions."""
    from test_udp_nexthop import lan6

    from pydpdk import _native, nexthop
    from pydpdk.errors import PortError

    pool = _native.BufferPool(capacity=256)
    try:
        with lan6() as pair:
            with netns.inside(pair.a):
                port = _native.AfPacketPort(pair.if_a, pool)
            with port:
                port.start()
                # as a DPDK port would be asked (an AfPacketPort asks the kernel)
                mac = nexthop.ndp_resolve(port, pool, port.mac, "fd93::1", "fd93::2")
                assert mac == _mac(pair.b, pair.if_b)
                with pytest.raises(PortError, match="neighbour advertisement") as info:
                    nexthop.ndp_resolve(port, pool, port.mac, "fd93::1", "fd93::99",
                                        timeout=0.6)
                assert info.value.errno == errno.EHOSTUNREACH
                with pytest.raises(PortError, match="all be IPv4 or all IPv6"):
                    nexthop.resolve_for_port(_Unnamed(port), pool, "fd94::7", "10.0.0.1",
                                             None, gateway="fd93::2")
                hop = nexthop.resolve_for_port(_Unnamed(port), pool, "fd94::7", "fd93::1",
                                               None, gateway="fd93::2")
                assert hop.mac == mac and hop.gateway == "fd93::2" and hop.ifindex == 0
    finally:
        assert pool.available == pool.capacity
        pool.close()


class _Unnamed:
    """A port that is not an AfPacketPort (as a DPDK port): resolve_for_port
    must ask the link through it."""

    def __init__(self, port: object) -> None:
        self._port = port

    def __getattr__(self, name: str) -> object:
        if name == "ifname":
            raise AttributeError(name)
        return getattr(self._port, name)


def _check_ipv6_stages(pool: object) -> None:
    from pydpdk.pipeline import FecDecodeStage, FecEncodeStage

    enc = FecEncodeStage(pool, src_ip="fd00::1", dst_ip="fd00::2", wan_mtu=1500)
    assert enc.config["overhead_bytes"] == 62 + 20 and enc.config["max_frame"] == 1430
    assert FecEncodeStage(pool, wan_mtu=1500).config["max_frame"] == 1450     # IPv4
    dec = FecDecodeStage(pool, src_ip="fd00::2", dst_ip="fd00::1")
    assert dec.counters["bad_checksum"] == 0
    with pytest.raises(ValueError, match="both be IPv4 or both IPv6"):
        FecEncodeStage(pool, dst_ip="fd00::2")          # the default src_ip is IPv4
    with pytest.raises(ValueError, match="unicast"):
        FecEncodeStage(pool, src_ip="::", dst_ip="ff02::1")


def test_ipv6_encap_options_and_secure_mode_refused():
    """Stage options: two IPv6 addresses make the 62-byte outer header (the
    MTU follows); mixed versions and a multicast peer are refused, and so is
    secure mode over a raw IPv6 WAN (its stages rewrite IPv4 headers only)."""
    from pydpdk import _native
    from pydpdk.gateway import GatewayConfig, _wire_encap

    pool = _native.BufferPool(capacity=64)
    try:
        _check_ipv6_stages(pool)
        gc.collect()                # the stages hold the pool until they go
        cfg = GatewayConfig(mode="tunnel", ports={"local": "x", "peer": "y"},
                            encap={"dst_ip": "fd00::2", "dst_mac": "02:00:00:00:00:09"},
                            key_file="k")
        with pytest.raises(ValueError, match="udp:"):
            _wire_encap(cfg, pool, object())
    finally:
        pool.close()
