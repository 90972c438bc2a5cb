"""The two-way FEC tunnel across network namespaces, with real kernel traffic.

    host_a -- [fec tunnel] -- link (5% loss each way) -- [fec tunnel] -- host_b

Both gateways are real ``pydpdk fec tunnel`` processes on the native AF_PACKET
backend; the link namespace drops frames at random with nftables
(``numgen random``).  UDP and TCP between sockets in the end namespaces, and
the ARP that precedes them, cross the tunnel; what the link drops, the
gateways rebuild.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import netns
import pytest
from test_netns import drain, udp_socket

pytest.importorskip("pydpdk._native", reason="no native AF_PACKET backend")

LOSS_PER_MILLE = 50


class Gateways:
    """One ``pydpdk fec tunnel`` process per gateway namespace."""

    def __init__(self, topo: netns.GatewayTopology, k: int, m: int,
                 extra: tuple[str, ...] = ()) -> None:
        self.cmds = [["ip", "netns", "exec", gw, sys.executable, "-m", "pydpdk.cli", "fec",
                      "tunnel", "--", "--backend", "native", "--local", "afpacket:lan",
                      "--peer", "afpacket:wan", "--encap", "ether", "-k", str(k), "-m", str(m),
                      "--deadline-ms", "2", "--json", *extra]
                     for gw in (topo.gw_a, topo.gw_b)]
        self.procs = [self._spawn(cmd) for cmd in self.cmds]
        self.early = ["" for _ in self.procs]
        # bound and running once each has printed its start report (MTU policy)
        for i in range(len(self.procs)):
            self.wait_for(i, "MTU:", timeout=60)

    @staticmethod
    def _spawn(cmd: list[str]) -> subprocess.Popen:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def restart(self, i: int) -> None:
        """Kill gateway *i* as a crash would (SIGKILL) and start it again."""
        self.procs[i].kill()
        self.procs[i].communicate()
        self.procs[i] = self._spawn(self.cmds[i])
        self.early[i] = ""
        self.wait_for(i, "MTU:", timeout=60)

    def wait_for(self, i: int, text: str, timeout: float) -> None:
        """Read gateway *i*'s stderr until *text* appears (kept for stop())."""
        p = self.procs[i]
        assert p.stderr is not None
        fd = p.stderr.fileno()
        deadline = time.monotonic() + timeout
        while text not in self.early[i]:
            left = deadline - time.monotonic()
            assert left > 0 and p.poll() is None, (p.poll(), self.early[i])
            if select.select([fd], [], [], min(left, 0.5))[0]:
                chunk = os.read(fd, 65536)
                if not chunk:
                    time.sleep(0.05)
                self.early[i] += chunk.decode(errors="replace")

    def stop(self) -> list[dict]:
        """SIGTERM both (a clean stop, as Ctrl-C); their final JSON reports
        (stderr, the start report and progress lines, in ``self.stderr``)."""
        reports = []
        self.stderr = []
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            out, err = p.communicate(timeout=30)
            err = self.early[len(self.stderr)] + err
            assert p.returncode in (0, 128 + signal.SIGTERM), err     # 143: stopped by SIGTERM
            self.stderr.append(err)
            reports.append(json.loads(out[out.index("{"):]))
        return reports

    def kill(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.communicate()          # reaps it and closes its pipes


def send_tagged(a: socket.socket, b: socket.socket, dst: tuple[str, int], tag: bytes,
                n: int, size: int) -> set[bytes]:
    """n datagrams ``tag + seq`` from *a* to *dst* at about 5k/s, received on
    *b*; the tagged sequence numbers that arrived."""
    got: list[bytes] = []
    for i in range(n):
        a.sendto(tag + b"%06d" % i + b"x" * size, dst)
        if i % 50 == 49:
            time.sleep(0.01)
            got += drain(b)
    time.sleep(1.0)
    got += drain(b)
    return {d[:7] for d in got if d[:1] == tag}


def decoder(report: dict) -> dict:
    return next(c for name, c in report["counters"].items() if name.endswith("fec-decode"))


@contextlib.contextmanager
def lossy_tunnel(mtu: int = 1500, link_mtu: int | None = None,
                 extra: tuple[str, ...] = ()) -> Iterator[tuple]:
    """The five-namespace topology with LOSS_PER_MILLE random loss each way on
    the link and two RS(8,4) ``fec tunnel`` gateways; (topo, gateways, rules)."""
    netns.require_netns()
    netns.require_nft()
    with netns.gateway_topology(mtu=mtu, link_mtu=link_mtu) as topo, \
            contextlib.ExitStack() as stack:
        rules = [stack.enter_context(netns.random_loss(topo.link, ifname, LOSS_PER_MILLE))
                 for ifname in (topo.link_in_a, topo.link_in_b)]
        gws = Gateways(topo, k=8, m=4, extra=extra)
        try:
            yield topo, gws, rules
        finally:
            gws.kill()
    assert not netns.leftover_namespaces()


@pytest.fixture
def tunnel():
    # the gateway-link hops carry encapsulated frames: a larger MTU there
    with lossy_tunnel(link_mtu=1600) as t:
        yield t


def test_udp_both_ways_through_a_lossy_link(tunnel):
    topo, gws, rules = tunnel
    ip_a, ip_b = topo.host_ip[topo.host_a], topo.host_ip[topo.host_b]
    a = udp_socket(topo.host_a, ip_a, 6000)
    b = udp_socket(topo.host_b, ip_b, 6001)
    n = 2000
    got_a: list[bytes] = []
    got_b: list[bytes] = []
    with a, b:
        # ARP crosses the tunnel first (and may need a retry if the link ate it)
        deadline = time.monotonic() + 10
        while not got_b and time.monotonic() < deadline:
            a.sendto(b"hello", (ip_b, 6001))
            time.sleep(0.2)
            got_b += drain(b)
        assert got_b, "nothing crossed the tunnel"
        got_b.clear()
        for i in range(n):
            a.sendto(b"a%06d" % i + b"x" * 900, (ip_b, 6001))
            b.sendto(b"b%06d" % i + b"y" * 300, (ip_a, 6000))
            if i % 50 == 49:
                time.sleep(0.005)          # about 10k datagrams/s each way
                got_a += drain(a)
                got_b += drain(b)
        time.sleep(1.0)
        got_a += drain(a)
        got_b += drain(b)
    reports = gws.stop()
    seqs_b = {d[:7] for d in got_b}
    seqs_a = {d[:7] for d in got_a}
    assert all(r.dropped() > 20 for r in rules)          # the link really lost frames
    # 5% loss without FEC would lose ~100 of 2000; RS(8,4) leaves ~0
    assert len(seqs_b) >= n - 5 and len(seqs_a) >= n - 5
    assert len(got_b) == len(seqs_b) and len(got_a) == len(seqs_a)   # no duplicates
    assert all(decoder(r)["recovered"] > 0 for r in reports)
    assert all(r["buffers_leaked"] == 0 for r in reports)


def test_tcp_stream_through_a_lossy_link(tunnel):
    topo, gws, rules = tunnel
    ip_b = topo.host_ip[topo.host_b]
    payload = bytes(range(256)) * 4096          # 1 MiB
    with netns.inside(topo.host_b):
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind((ip_b, 7000))
    server.listen(1)
    server.settimeout(30)
    received = bytearray()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.settimeout(30)
            while chunk := conn.recv(65536):
                received.extend(chunk)

    t = threading.Thread(target=serve)
    t.start()
    started = time.monotonic()
    with netns.inside(topo.host_a):
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with client:
        client.settimeout(30)
        client.connect((ip_b, 7000))
        client.sendall(payload)
    t.join(60)
    server.close()
    elapsed = time.monotonic() - started
    reports = gws.stop()
    assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()
    # default offloads: the sender's TSO super-frames reached gateway a's
    # LAN port and were cut into wire-sized segments there, none dropped
    lan_a = reports[0]["ports"]["local"]
    print("gateway a LAN port:", {k: v for k, v in lan_a.items() if "gso" in k})
    assert lan_a["rx_gso_frames"] > 0 and lan_a["rx_gso_segments"] > lan_a["rx_gso_frames"]
    assert lan_a["rx_gso_failed"] == 0 and lan_a["rx_oversize"] == 0
    assert sum(r.dropped() for r in rules) > 20
    assert sum(decoder(r)["recovered"] for r in reports) > 0
    assert elapsed < 30


def test_gateway_restarted_mid_stream(tunnel):
    """A gateway that crashes and restarts starts a new FEC session: the peer
    decodes the new stream at once (before session ids it took the new
    blocks, numbered from 0 again, for old ones and dropped them)."""
    topo, gws, rules = tunnel
    ip_a, ip_b = topo.host_ip[topo.host_a], topo.host_ip[topo.host_b]
    a = udp_socket(topo.host_a, ip_a, 6100)
    b = udp_socket(topo.host_b, ip_b, 6101)
    n = 1500

    def send(tag: bytes) -> set[bytes]:
        return send_tagged(a, b, (ip_b, 6101), tag, n, 700)

    with a, b:
        deadline = time.monotonic() + 10
        while not drain(b) and time.monotonic() < deadline:
            a.sendto(b"hello", (ip_b, 6101))
            time.sleep(0.2)
        before = send(b"p")
        gws.restart(0)                       # gateway A: the encoder of this direction
        time.sleep(0.5)
        after = send(b"q")
    reports = gws.stop()
    assert len(before) >= n - 5
    # every datagram sent after the restart arrives, as before it (RS(8,4) at 5 %)
    assert len(after) >= n - 5, f"{n - len(after)} of {n} lost after the restart"
    dec_b = decoder(reports[1])
    assert dec_b["sessions_opened"] >= 2    # the restarted encoder's new session
    assert all(r["buffers_leaked"] == 0 for r in reports)
