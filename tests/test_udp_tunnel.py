"""Two sites joined by ``pydpdk fec tunnel`` over ``udp:`` peers, across a routed WAN.

    host_a --lan-- gw_a ==wan 10.81.1.0/24== router ==wan 10.81.2.0/24== gw_b --lan-- host_b

The gateways' WAN sides are kernel UDP sockets in different subnets (or IPv6
prefixes), routed by a router namespace that forwards between them and drops
5 % of the forwarded packets each way (nftables ``numgen random``).  Nobody
configures a MAC address: the kernel routes and resolves the next hop.  The
end hosts share one LAN subnet, bridged through the tunnel.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import netns
import pytest
from test_netns import drain

pytest.importorskip("pydpdk._udp", reason="no UDP socket port (Linux only)")
pytest.importorskip("pydpdk._native", reason="no native AF_PACKET backend")

LOSS_PER_MILLE = 50
PORT = 4790


@dataclass
class Sites:
    host_a: str
    gw_a: str
    router: str
    gw_b: str
    host_b: str
    wan_a: str          # gw_a's WAN address
    wan_b: str
    family: int
    host_ip: tuple[str, str] = ("10.77.0.1", "10.77.0.2")


def _ip(*args: str) -> None:
    netns._run("ip", *args)


def _sysctl(ns: str, key: str, value: str) -> None:
    netns.ns_exec(ns, "sysctl", "-qw", f"{key}={value}")


@contextlib.contextmanager
def two_sites(family: int = socket.AF_INET, wan_uso: bool = True) -> Iterator[Sites]:
    """Five namespaces: two end hosts, two gateways, a router between two WAN subnets."""
    with contextlib.ExitStack() as stack:
        ha, ga, rt, gb, hb = (stack.enter_context(netns.netns(p))
                              for p in ("pduha", "pduga", "pdurt", "pdugb", "pduhb"))
        netns.add_veth(ha, "eth0", ga, "lan")
        netns.add_veth(ga, "wan", rt, "r1")
        netns.add_veth(rt, "r2", gb, "wan")
        netns.add_veth(gb, "lan", hb, "eth0")
        # Wire-sized frames on the LAN sides (the AF_PACKET ports), as the
        # other tunnel tests do; the WAN is the kernel's business here.
        for ns, ifname in ((ha, "eth0"), (ga, "lan"), (gb, "lan"), (hb, "eth0")):
            netns.set_offloads(ns, ifname, tso="off", gso="off", gro="off")
        if not wan_uso:
            # the gateways' WAN devices segment UDP GSO sends in software, as
            # a NIC without UDP segmentation offload does
            for ns in (ga, gb):
                netns.set_offloads(ns, "wan", **{"tx-udp-segmentation": "off"})
        for ns, ip in ((ha, "10.77.0.1"), (hb, "10.77.0.2")):
            _ip("-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
        if family == socket.AF_INET:
            wan_a, wan_b = "10.81.1.2", "10.81.2.2"
            _ip("-n", ga, "addr", "add", "10.81.1.2/24", "dev", "wan")
            _ip("-n", rt, "addr", "add", "10.81.1.1/24", "dev", "r1")
            _ip("-n", rt, "addr", "add", "10.81.2.1/24", "dev", "r2")
            _ip("-n", gb, "addr", "add", "10.81.2.2/24", "dev", "wan")
            _ip("-n", ga, "route", "add", "default", "via", "10.81.1.1")
            _ip("-n", gb, "route", "add", "default", "via", "10.81.2.1")
            _sysctl(rt, "net.ipv4.ip_forward", "1")
        else:
            wan_a, wan_b = "fd81:1::2", "fd81:2::2"
            for ns in (ga, rt, gb):
                for key in ("all", "default"):
                    _sysctl(ns, f"net.ipv6.conf.{key}.disable_ipv6", "0")
            for ns, ifname in ((ga, "wan"), (rt, "r1"), (rt, "r2"), (gb, "wan")):
                _sysctl(ns, f"net.ipv6.conf.{ifname}.disable_ipv6", "0")
            _ip("-n", ga, "addr", "add", "fd81:1::2/64", "dev", "wan", "nodad")
            _ip("-n", rt, "addr", "add", "fd81:1::1/64", "dev", "r1", "nodad")
            _ip("-n", rt, "addr", "add", "fd81:2::1/64", "dev", "r2", "nodad")
            _ip("-n", gb, "addr", "add", "fd81:2::2/64", "dev", "wan", "nodad")
            _ip("-n", ga, "-6", "route", "add", "default", "via", "fd81:1::1")
            _ip("-n", gb, "-6", "route", "add", "default", "via", "fd81:2::1")
            _sysctl(rt, "net.ipv6.conf.all.forwarding", "1")
        yield Sites(ha, ga, rt, gb, hb, wan_a, wan_b, family)
    assert not netns.leftover_namespaces()


@contextlib.contextmanager
def forward_loss(ns: str, per_mille: int) -> Iterator[str]:
    """Drop per_mille/1000 of the packets the router forwards (both ways)."""
    table = netns.unique_name("pduloss")
    netns.ns_exec_stdin(ns, (
        f"table inet {table} {{\n"
        f"  chain lossy {{\n"
        f"    type filter hook forward priority 0; policy accept;\n"
        f"    numgen random mod 1000 < {per_mille} counter drop\n"
        f"  }}\n"
        f"}}\n"), "nft", "-f", "-")
    try:
        yield table
    finally:
        netns.ns_exec(ns, "nft", "delete", "table", "inet", table, check=False)


def nft_dropped(ns: str, table: str) -> int:
    out = netns.ns_exec(ns, "nft", "-j", "list", "table", "inet", table)
    return sum(int(e["counter"]["packets"]) for item in json.loads(out)["nftables"]
               if "rule" in item for e in item["rule"]["expr"] if "counter" in e)


def hostport(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


class Gateway:
    """One ``pydpdk fec tunnel`` process: LAN on AF_PACKET, WAN a udp: peer."""

    def __init__(self, ns: str, peer: str, bind: str, *extra: str, k: int = 8,
                 m: int = 4, dpdk: bool = False) -> None:
        opts = ",keepalive=0.25,dead=1.5" + (",gso=1,gro=1" if "--gso" in extra else "")
        extra = tuple(x for x in extra if x != "--gso")
        # the DPDK backend: the LAN through DPDK's af_packet PMD, mbufs everywhere
        backend = (["--vdev", "net_af_packet0,iface=lan", "--", "--backend", "dpdk",
                    "--local", "0"] if dpdk else
                   ["--", "--backend", "native", "--local", "afpacket:lan"])
        cmd = ["ip", "netns", "exec", ns, sys.executable, "-m", "pydpdk.cli", "fec", "tunnel",
               *backend,
               "--peer", f"udp:{peer}{opts}", "--bind", bind,
               "-k", str(k), "-m", str(m), "--deadline-ms", "2", "--stats-interval", "0.25",
               "--progress",
               *extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_for(self, text: str, timeout: float) -> float:
        """Seconds until a progress line containing *text* appears (fails after timeout)."""
        start = time.monotonic()
        seen = len(self.lines)
        while time.monotonic() - start < timeout:
            if any(text in line for line in self.lines[seen:]):
                return time.monotonic() - start
            assert self.alive(), "".join(self.lines)
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} within {timeout} s:\n" + "".join(self.lines[-5:]))

    def stop(self, json_report: bool = True) -> dict:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        self._reader.join(5)
        assert self.proc.returncode in (0, 128 + signal.SIGTERM), "".join(self.lines)
        return json.loads(out[out.index("{"):]) if json_report else {"text": out}

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
        self.proc.communicate()


@contextlib.contextmanager
def tunnel(sites: Sites, *extra: str) -> Iterator[tuple[Gateway, Gateway]]:
    a = Gateway(sites.gw_a, hostport(sites.wan_b, PORT), hostport(sites.wan_a, PORT),
                "--json", *extra)
    b = Gateway(sites.gw_b, hostport(sites.wan_a, PORT), hostport(sites.wan_b, PORT),
                "--json", *extra)
    try:
        yield a, b
    finally:
        a.kill()
        b.kill()


def udp_socket(ns: str, ip: str, port: int) -> socket.socket:
    with netns.inside(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.bind((ip, port))
    s.setblocking(False)
    return s


def reach(a: socket.socket, b: socket.socket, dst: tuple[str, int], timeout: float = 20) -> None:
    """Send until something arrives (ARP crosses the tunnel, sockets bound)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        a.sendto(b"hello", dst)
        time.sleep(0.2)
        if drain(b):
            return
    raise AssertionError("nothing crossed the tunnel")


def udp_round(sites: Sites, n: int, port_base: int) -> tuple[set, set]:
    """n datagrams each way between the end hosts; the sequence numbers that arrived."""
    ip_a, ip_b = sites.host_ip
    a = udp_socket(sites.host_a, ip_a, port_base)
    b = udp_socket(sites.host_b, ip_b, port_base + 1)
    got_a: list[bytes] = []
    got_b: list[bytes] = []
    with a, b:
        reach(a, b, (ip_b, port_base + 1))
        for i in range(n):
            a.sendto(b"a%06d" % i + b"x" * 1000, (ip_b, port_base + 1))
            b.sendto(b"b%06d" % i + b"y" * 200, (ip_a, port_base))
            if i % 50 == 49:
                time.sleep(0.01)
                got_a += drain(a)
                got_b += drain(b)
        time.sleep(1.0)
        got_a += drain(a)
        got_b += drain(b)
    # reach()'s probes may still be in flight (several when the tunnel was
    # slow to come up): they are not part of the round.
    got_a = [d for d in got_a if d != b"hello"]
    got_b = [d for d in got_b if d != b"hello"]
    assert len({d[:7] for d in got_b}) == len(got_b)       # no duplicates
    return {d[:7] for d in got_a}, {d[:7] for d in got_b}


def tcp_transfer(sites: Sites, payload: bytes, port: int) -> bytes:
    ip_b = sites.host_ip[1]
    with netns.inside(sites.host_b):
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind((ip_b, port))
    server.listen(1)
    server.settimeout(40)
    received = bytearray()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.settimeout(40)
            while chunk := conn.recv(65536):
                received.extend(chunk)

    t = threading.Thread(target=serve)
    t.start()
    with netns.inside(sites.host_a):
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with client:
        client.settimeout(40)
        client.connect((ip_b, port))
        client.sendall(payload)
    t.join(60)
    server.close()
    return bytes(received)


def udp_stats(report: dict) -> dict:
    return report["counters"]["udp.peer"]


def decoder(report: dict) -> dict:
    return next(c for name, c in report["counters"].items() if name.endswith("fec-decode"))


@pytest.fixture(autouse=True)
def _needs_root() -> None:
    netns.require_netns()
    netns.require_nft()


@pytest.mark.parametrize("family,gso,secure", [(socket.AF_INET, False, False),
                                               (socket.AF_INET6, False, False),
                                               (socket.AF_INET, True, False),
                                               (socket.AF_INET, False, True)],
                         ids=["ipv4", "ipv6", "ipv4-gso", "ipv4-secure"])
def test_two_sites_over_a_routed_lossy_wan(family, gso, secure, tmp_path):
    """The README's two-site setup (the secure case is its command line)."""
    if gso and shutil.which("ethtool") is None:
        pytest.skip("ethtool (make deps) is needed to emulate a NIC without UDP GSO offload")
    extra = ["--gso"] if gso else []
    if secure:
        key = tmp_path / "site.key"
        subprocess.run([sys.executable, "-m", "pydpdk.cli", "keygen", str(key)], check=True,
                       capture_output=True, timeout=60)
        extra += ["--key-file", str(key)]
    payload = os.urandom(1 << 20)
    with two_sites(family, wan_uso=not gso) as sites, \
            forward_loss(sites.router, LOSS_PER_MILLE) as table, \
            tunnel(sites, *extra) as (gw_a, gw_b):
        seqs_a, seqs_b = udp_round(sites, 1000, 6000)
        received = tcp_transfer(sites, payload, 7000)
        dropped = nft_dropped(sites.router, table)
        reports = [gw_a.stop(), gw_b.stop()]
    # 5 % loss without FEC would lose ~50 of 1000; RS(8,4) leaves ~0
    assert len(seqs_a) >= 995 and len(seqs_b) >= 995
    assert hashlib.sha256(received).hexdigest() == hashlib.sha256(payload).hexdigest()
    assert dropped > 50                                   # the WAN really lost packets
    assert sum(decoder(r)["recovered"] for r in reports) > 0
    for r in reports:
        u = udp_stats(r)
        assert u["peer_state"] == "up" and u["keepalives_rx"] > 0
        assert u["rx_unknown_source"] == 0 and u["peer_changes"] == 0
        assert r["buffers_leaked"] == 0
        assert r["ports"]["peer"]["ipackets"] > 1000
        assert (u["tx_gso_sends"] > 0) == gso
        opened = [c for name, c in r["counters"].items() if name.endswith("secure-open")]
        assert bool(opened) == secure
        if secure:
            assert opened[0]["opened"] > 1000 and opened[0]["bad_tag"] == 0


def test_dead_peer_is_reported():
    with two_sites() as sites, contextlib.ExitStack() as stack:
        # gateway a reports in text (progress lines and summary), b in JSON
        gw_a = Gateway(sites.gw_a, f"{sites.wan_b}:{PORT}", f"{sites.wan_a}:{PORT}")
        gw_b = Gateway(sites.gw_b, f"{sites.wan_a}:{PORT}", f"{sites.wan_b}:{PORT}", "--json")
        stack.callback(gw_b.kill)
        stack.callback(gw_a.kill)
        ip_a, ip_b = sites.host_ip
        a = udp_socket(sites.host_a, ip_a, 6100)
        b = udp_socket(sites.host_b, ip_b, 6101)
        with a, b:
            reach(a, b, (ip_b, 6101))
        gw_a.wait_for("peer up", 10)
        gw_b.kill()                                  # site b's gateway dies
        noticed = gw_a.wait_for("peer dead", 15)
        summary = gw_a.stop(json_report=False)["text"]
    assert noticed < 8
    line = next(x for x in summary.splitlines() if "udp.peer" in x)
    assert "peer dead" in line and "(dead 1x" in line


def test_a_dpdk_gateway_over_udp():
    """One site's gateway on the DPDK backend (af_packet PMD on its LAN): the
    UDP port moves DPDK mbufs, the other site is native; traffic both ways."""
    pytest.importorskip("pydpdk._dpdk_eal", reason="built without DPDK")
    if shutil.which("ethtool") is None:
        pytest.skip("ethtool (make deps) is needed to turn the hosts' checksum offload off")
    with two_sites() as sites, contextlib.ExitStack() as stack:
        # DPDK's af_packet PMD hands frames on as they are: the hosts must not
        # leave their checksums to a NIC (the native AF_PACKET port completes them)
        for ns in (sites.host_a, sites.host_b):
            netns.set_offloads(ns, "eth0", tx="off")
        a = Gateway(sites.gw_a, f"{sites.wan_b}:{PORT}", f"{sites.wan_a}:{PORT}", "--json",
                    dpdk=True)
        b = Gateway(sites.gw_b, f"{sites.wan_a}:{PORT}", f"{sites.wan_b}:{PORT}", "--json")
        stack.callback(b.kill)
        stack.callback(a.kill)
        seqs_a, seqs_b = udp_round(sites, 500, 6400)
        ra, rb = a.stop(), b.stop()
    assert ra["backend"] == "dpdk" and rb["backend"] == "native"
    assert len(seqs_a) == 500 and len(seqs_b) == 500
    assert udp_stats(ra)["peer_state"] == "up" and ra["buffers_leaked"] == 0


def _rebind_rules(ns: str, table: str, wan_a: str, nat_ip: str, sport: int,
                  first: bool) -> None:
    """Stateless NAT in the router: gw_a's 4790 leaves as nat_ip:*sport*;
    replies to either mapped port come back to gw_a:4790."""
    rules = ""
    if first:
        rules = (f"table ip {table} {{\n"
                 f"  chain post {{ type filter hook postrouting priority 0; }}\n"
                 f"  chain pre {{ type filter hook prerouting priority -300;\n"
                 f"    ip daddr {nat_ip} udp dport {{ 20000, 20001 }} "
                 f"ip daddr set {wan_a} udp dport set {PORT}\n"
                 f"  }}\n"
                 f"}}\n")
    else:
        rules = f"flush chain ip {table} post\n"
    rules += (f"add rule ip {table} post ip saddr {wan_a} udp sport {PORT} "
              f"ip saddr set {nat_ip} udp sport set {sport}\n")
    netns.ns_exec_stdin(ns, rules, "nft", "-f", "-")


def test_nat_rebinding_is_followed():
    nat_ip = "10.81.2.1"
    with two_sites() as sites, contextlib.ExitStack() as stack:
        table = netns.unique_name("pdunat")
        _rebind_rules(sites.router, table, sites.wan_a, nat_ip, 20000, first=True)
        stack.callback(netns.ns_exec, sites.router, "nft", "delete", "table", "ip", table,
                       check=False)
        # gw_b knows gw_a only by its NAT address, as behind a real NAT
        b = Gateway(sites.gw_b, f"{nat_ip}:20000", f"{sites.wan_b}:{PORT}", "--json")
        a = Gateway(sites.gw_a, f"{sites.wan_b}:{PORT}", f"{sites.wan_a}:{PORT}", "--json")
        stack.callback(b.kill)
        stack.callback(a.kill)
        ip_a, ip_b = sites.host_ip
        sa = udp_socket(sites.host_a, ip_a, 6200)
        sb = udp_socket(sites.host_b, ip_b, 6201)
        got: list[bytes] = []
        sent_at: dict[bytes, float] = {}
        with sa, sb:
            reach(sa, sb, (ip_b, 6201))
            i = 0
            start = time.monotonic()
            switched = None
            while time.monotonic() - start < 4.0:
                now = time.monotonic()
                if switched is None and now - start > 1.0:    # the NAT rebinds mid-stream
                    _rebind_rules(sites.router, table, sites.wan_a, nat_ip, 20001, first=False)
                    switched = time.monotonic()
                for _ in range(5):
                    seq = b"a%06d" % i
                    sa.sendto(seq + b"x" * 500, (ip_b, 6201))
                    sent_at[seq] = now
                    i += 1
                time.sleep(0.01)
                got += drain(sb)
                drain(sa)
            time.sleep(1.0)
            got += drain(sb)
            # the way back uses the new mapping too
            for j in range(50):
                sb.sendto(b"late%03d" % j, (ip_a, 6200))
            time.sleep(1.0)
            back = drain(sa)
        rb = b.stop()
        a.stop()
    assert switched is not None
    seqs = {d[:7] for d in got}
    u = udp_stats(rb)
    assert u["peer_changes"] >= 1, u
    assert u["peer"] == f"{nat_ip}:20001"
    # before the switch everything arrived; after it, everything sent once the
    # new address was proven (a keepalive period, 0.25 s, later; 1.5 s of slack) arrived
    before = {s for s, t in sent_at.items() if t < switched - 0.1}
    after = {s for s, t in sent_at.items() if t > switched + 1.5}
    assert before and after
    assert len(before - seqs) <= 2 and len(after - seqs) <= 2
    assert u["rx_unknown_source"] > 0 or u["peer_changes"] >= 1
    assert len({d for d in back if d.startswith(b"late")}) >= 48


def _mac(ns: str, ifname: str) -> str:
    return json.loads(netns.ns_exec(ns, "ip", "-j", "link", "show", ifname))[0]["address"]


def test_raw_ports_resolve_the_next_hop_across_a_router():
    """--encap udp on AF_PACKET WAN ports, peers in different subnets, no MAC
    given: each gateway finds the router's MAC from the kernel's route and
    neighbour tables (resolving it first: the namespaces are fresh)."""
    with two_sites() as sites, contextlib.ExitStack() as stack:
        for ns in (sites.gw_a, sites.gw_b):
            assert "lladdr" not in netns.ns_exec(ns, "ip", "neigh", "show", "dev", "wan")
            # the tunnel's packets are the raw port's, not the kernel's to answer
            netns.ns_exec_stdin(ns, "table inet pdutun {\n  chain local_in {\n"
                                    "    type filter hook input priority 0;\n"
                                    f"    udp dport {PORT} drop\n  }}\n}}\n",
                                "nft", "-f", "-")
        gws = []
        for ns, peer in ((sites.gw_a, sites.wan_b), (sites.gw_b, sites.wan_a)):
            cmd = ["ip", "netns", "exec", ns, sys.executable, "-m", "pydpdk.cli", "fec",
                   "tunnel", "--", "--backend", "native", "--local", "afpacket:lan",
                   "--peer", "afpacket:wan", "--encap", "udp", "--dst-ip", peer,
                   "-k", "8", "-m", "4", "--deadline-ms", "2", "--json"]
            gws.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True))
            stack.callback(gws[-1].kill)
        ip_a, ip_b = sites.host_ip
        a = udp_socket(sites.host_a, ip_a, 6300)
        b = udp_socket(sites.host_b, ip_b, 6301)
        with a, b:
            reach(a, b, (ip_b, 6301))
            for i in range(200):
                a.sendto(b"a%06d" % i, (ip_b, 6301))
                b.sendto(b"b%06d" % i, (ip_a, 6300))
            time.sleep(1.0)
            got_b, got_a = drain(b), drain(a)
        reports = []
        for p in gws:
            p.send_signal(signal.SIGTERM)
            out, err = p.communicate(timeout=30)
            assert p.returncode in (0, 128 + signal.SIGTERM), err
            reports.append(json.loads(out[out.index("{"):]))
        router_macs = _mac(sites.router, "r1"), _mac(sites.router, "r2")
    assert len({d for d in got_b if d.startswith(b"a")}) == 200
    assert len({d for d in got_a if d.startswith(b"b")}) == 200
    ra, rb = reports
    assert ra["next_hop"]["next_hop"] == "10.81.1.1" and ra["next_hop"]["via_gateway"]
    assert rb["next_hop"]["next_hop"] == "10.81.2.1"
    assert (ra["next_hop"]["mac"], rb["next_hop"]["mac"]) == router_macs
    assert ra["next_hop"]["src_ip"] == sites.wan_a
