"""Nothing vanishes: frames the tunnel cannot carry are counted by reason, and
the counts reconcile with what the interfaces themselves counted.

    host_a -- [fec tunnel a] -- link -- [fec tunnel b] -- host_b

Gateway a is frozen (SIGSTOP) while host_a sends more datagrams than its
receive ring holds: the kernel drops the rest.  The gateway's report must
show them (ring_overflow, per port and direction, text and JSON), the CLI
must say so on stderr while it happens, and: frames that reached gateway a's
LAN interface (its own counters) = frames its port received + counted drops;
frames the encoder sent = frames the WAN port sent (= what the link's
interface received) + counted drops.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import time

import netns
import pytest
from test_fec_tunnel_netns import Gateways
from test_netns import drain, udp_socket

pytest.importorskip("pydpdk._native", reason="no native AF_PACKET backend")


def rx_packets(ns: str, ifname: str) -> int:
    """The interface's own receive counter (``ip -s link``)."""
    out = netns.ns_exec(ns, "ip", "-j", "-s", "link", "show", "dev", ifname)
    return int(json.loads(out)[0]["stats64"]["rx"]["packets"])


def stage(report: dict, suffix: str) -> dict:
    return next(c for name, c in report["counters"].items() if name.endswith(suffix))


@pytest.fixture
def tunnel():
    netns.require_netns()
    with netns.gateway_topology(link_mtu=1600) as topo, contextlib.ExitStack():
        gws = Gateways(topo, k=8, m=4, extra=("--stats-interval", "0.2"))
        try:
            yield topo, gws
        finally:
            gws.kill()
    assert not netns.leftover_namespaces()


def test_ring_overflow_is_counted_and_totals_reconcile(tunnel):
    topo, gws = tunnel
    ip_a, ip_b = topo.host_ip[topo.host_a], topo.host_ip[topo.host_b]
    a = udp_socket(topo.host_a, ip_a, 6400)
    b = udp_socket(topo.host_b, ip_b, 6401)
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
    n = 80000                                   # ~90 MB: more than the 32 MiB ring
    got = 0
    with a, b:
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            a.sendto(b"hello", (ip_b, 6401))
            time.sleep(0.2)
            got += len(drain(b))
        assert got, "nothing crossed the tunnel"
        gw_a = gws.procs[0]
        gw_a.send_signal(signal.SIGSTOP)         # the gateway's core is busy elsewhere
        try:
            sent = 0
            for i in range(n):
                try:
                    a.sendto(b"%06d" % i + b"r" * 1000, (ip_b, 6401))
                    sent += 1
                except BlockingIOError:
                    time.sleep(0.001)
                if i % 2000 == 0:
                    got += len(drain(b))
        finally:
            gw_a.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.5)
            more = len(drain(b))
            got += more
            if not more:
                break
    lan_rx = rx_packets(topo.gw_a, "lan")
    link_rx = rx_packets(topo.link, topo.link_in_a)
    reports = gws.stop()
    r = reports[0]
    local, wan = r["ports"]["local"], r["ports"]["peer"]
    drops = r["drops"]
    overflow = drops["ports"]["local"]["rx"]["ring_overflow"]
    # the ring overflowed, and the report says so
    assert overflow > 0 and overflow == local["imissed"]
    assert drops["total"] >= overflow
    assert got < sent                           # what was lost really is lost
    # frames that reached the LAN interface = frames received + counted drops
    assert lan_rx == local["ipackets"] + local["imissed"] + local["ierrors"]
    enc = stage(r, "fec-encode")
    assert enc["packets_in"] == local["ipackets"]
    # the encoder's output = frames the WAN port sent + its counted drops,
    # and the link's interface received exactly what the WAN port sent
    wan_sink = next(c for name, c in r["counters"].items()
                    if name.startswith("chain0.tx:") and "'wan'" in name)
    assert enc["packets_out"] == wan["opackets"] + wan["oerrors"] + wan_sink["drops"]
    assert link_rx == wan["opackets"]
    # said while it happened (stderr), and in the text-free JSON
    assert "ring overflow: local port lost" in gws.stderr[0]
    assert r["buffers_leaked"] == 0
