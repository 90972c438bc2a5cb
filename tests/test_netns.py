"""The namespace helpers the gateway (FEC tunnel) tests build on.

A pair of plain forwarding "gateways" made of AfPacketPorts stands in for
the FEC gateways: real kernel UDP traffic between the end hosts crosses
host_a - gw_a - link - gw_b - host_b, and random loss injected on the link
by nftables shows up exactly in what arrives.
"""

from __future__ import annotations

import contextlib
import gc
import socket
import time

import netns
import pytest

native = pytest.importorskip("pydpdk._native", reason="no native AF_PACKET backend")


def mac_of(ns: str, ifname: str) -> str:
    return netns.ns_exec(ns, "cat", f"/sys/class/net/{ifname}/address").strip()


@contextlib.contextmanager
def forwarding_gateways(topo: netns.GatewayTopology, pool):
    """lan<->wan forwarding in both gateways; yields a pump(seconds) function."""
    with contextlib.ExitStack() as stack:
        pairs = []
        for gw in (topo.gw_a, topo.gw_b):
            with netns.inside(gw):
                lan = stack.enter_context(native.AfPacketPort("lan", pool))
                wan = stack.enter_context(native.AfPacketPort("wan", pool))
            lan.start()
            wan.start()
            pairs += [(lan, wan), (wan, lan)]

        def pump(seconds: float, until=lambda: False) -> int:
            moved = 0
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and not until():
                idle = True
                for src, dst in pairs:
                    burst = src.rx_burst(0, 256)
                    if burst:
                        idle = False
                        moved += dst.tx_burst(burst)
                        burst.free()  # what the wan refused: a drop, as on a real link
                if idle:
                    time.sleep(0.0005)
            return moved

        yield pump


@pytest.fixture
def topo():
    netns.require_netns()
    with netns.gateway_topology() as t:
        # Static neighbours: only the test's datagrams cross the link, so
        # counts add up exactly (no ARP that the loss rule could also hit).
        for ns, peer in ((t.host_a, t.host_b), (t.host_b, t.host_a)):
            netns.ns_exec(ns, "ip", "neigh", "replace", t.host_ip[peer], "lladdr",
                          mac_of(peer, "eth0"), "dev", "eth0", "nud", "permanent")
        yield t
    assert not netns.leftover_namespaces()


@pytest.fixture
def pool():
    p = native.BufferPool(capacity=4096)
    yield p
    gc.collect()
    assert p.available == p.capacity
    p.close()


def udp_socket(ns: str, ip: str, port: int) -> socket.socket:
    with netns.inside(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.bind((ip, port))
    s.setblocking(False)
    return s


def drain(sock: socket.socket) -> list[bytes]:
    out = []
    with contextlib.suppress(BlockingIOError):
        while True:
            out.append(sock.recv(2048))
    return out


def test_topology_has_five_namespaces_and_is_removed(topo):
    listed = netns.ns_exec(topo.host_a, "ip", "netns", "list")
    for ns in topo.namespaces:
        assert ns in listed
    assert topo.ifaces[topo.gw_a] == {"lan": "lan", "wan": "wan"}
    # Without gateways forwarding, the hosts cannot reach each other.
    b = udp_socket(topo.host_b, topo.host_ip[topo.host_b], 5001)
    a = udp_socket(topo.host_a, topo.host_ip[topo.host_a], 5000)
    with a, b:
        a.sendto(b"lost", (topo.host_ip[topo.host_b], 5001))
        time.sleep(0.2)
        assert drain(b) == []


def test_udp_crosses_the_gateways_both_ways(topo, pool):
    ip_a, ip_b = topo.host_ip[topo.host_a], topo.host_ip[topo.host_b]
    a = udp_socket(topo.host_a, ip_a, 5000)
    b = udp_socket(topo.host_b, ip_b, 5001)
    with a, b, forwarding_gateways(topo, pool) as pump:
        for i in range(100):
            a.sendto(b"a->b %d" % i, (ip_b, 5001))
            b.sendto(b"b->a %d" % i, (ip_a, 5000))
        got_b: list[bytes] = []
        got_a: list[bytes] = []

        def done() -> bool:
            got_b.extend(drain(b))
            got_a.extend(drain(a))
            return len(got_a) == len(got_b) == 100

        pump(5.0, until=done)
    assert got_b == [b"a->b %d" % i for i in range(100)]
    assert got_a == [b"b->a %d" % i for i in range(100)]


def test_random_loss_on_the_link_drops_exactly_what_is_missing(topo, pool):
    netns.require_nft()
    ip_b = topo.host_ip[topo.host_b]
    a = udp_socket(topo.host_a, topo.host_ip[topo.host_a], 5000)
    b = udp_socket(topo.host_b, ip_b, 5001)
    n = 1000
    with a, b, netns.random_loss(topo.link, topo.link_in_a, 50) as rule, \
            forwarding_gateways(topo, pool) as pump:
        got: list[bytes] = []
        for i in range(n):
            a.sendto(b"%06d" % i, (ip_b, 5001))
            if i % 100 == 99:
                pump(0.05)  # keep the hosts' and rings' queues short
                got.extend(drain(b))
        pump(1.0)
        got.extend(drain(b))
        dropped = rule.dropped()
    assert len(got) < n
    assert len(got) + dropped == n  # every datagram: delivered or dropped by the rule
    assert 10 <= dropped <= 100  # 5% of 1000: mean 50, sd ~6.9
    seqs = [int(d) for d in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_tcp_stream_crosses_the_gateways(topo, pool):
    ip_b = topo.host_ip[topo.host_b]
    payload = bytes(range(256)) * 800  # 200 KiB: many full-size segments
    with netns.inside(topo.host_b):
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with netns.inside(topo.host_a):
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind((ip_b, 5002))
    server.listen(1)
    server.setblocking(False)
    client.setblocking(False)
    received = bytearray()
    state: dict = {"conn": None, "offset": 0}
    with server, client, forwarding_gateways(topo, pool) as pump:
        client.connect_ex((ip_b, 5002))

        def step() -> bool:
            if state["conn"] is None:
                with contextlib.suppress(BlockingIOError):
                    state["conn"], _ = server.accept()
                    state["conn"].setblocking(False)
            if state["offset"] < len(payload):
                with contextlib.suppress(BlockingIOError, OSError):
                    state["offset"] += client.send(payload[state["offset"]:])
            if state["conn"] is not None:
                with contextlib.suppress(BlockingIOError):
                    while chunk := state["conn"].recv(65536):
                        received.extend(chunk)
            return len(received) == len(payload)

        pump(20.0, until=step)
        if state["conn"] is not None:
            state["conn"].close()
    assert bytes(received) == payload
