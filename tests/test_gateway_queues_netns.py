"""``pydpdk fec tunnel --queues 2`` on both sides, across network namespaces.

Sixteen UDP flows (distinct source ports, sequence numbers in the payloads)
from host A to host B through two two-queue gateways: every flow arrives
whole and in order (a flow stays on one queue, so its FEC blocks and its
frames stay in order), both queues carried traffic, and the counters are the
queues' sums.  The WAN is an AF_PACKET link (``--encap ether``) or the
kernel's UDP stack (``udp:`` peers: queue i sends from the bound port + i,
and the peer's SO_REUSEPORT group hands each source port to its own queue).
The links are lossless here: with loss a rebuilt frame is delivered after
the later frames of its block, so order is only a property of a clean link
(the lossy cases are test_fec_tunnel_netns and test_udp_tunnel's).
"""

from __future__ import annotations

import json
import socket
import struct
import time

import netns
import pytest
from test_fec_tunnel_netns import Gateways
from test_netns import drain, udp_socket
from test_udp_tunnel import reach, tunnel, two_sites

pytest.importorskip("pydpdk._native", reason="no native AF_PACKET backend")
pytest.importorskip("pydpdk._udp", reason="no UDP socket port (Linux only)")

FLOWS, PER_FLOW = 16, 120


def send_flows(ns: str, src_ip: str, rx: socket.socket, dst: tuple[str, int],
               port_base: int) -> dict[int, list[int]]:
    """PER_FLOW datagrams on each of FLOWS flows (source ports port_base + f),
    interleaved, about 4k/s; {flow: sequence numbers in arrival order}."""
    senders = [udp_socket(ns, src_ip, port_base + f) for f in range(FLOWS)]
    got: list[bytes] = []
    try:
        for seq in range(PER_FLOW):
            for f, s in enumerate(senders):
                s.sendto(b"Q" + struct.pack("!HI", f, seq) + bytes(400), dst)
            time.sleep(0.004)
            got += drain(rx)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and len(got) < FLOWS * PER_FLOW:
            time.sleep(0.1)
            got += drain(rx)
    finally:
        for s in senders:
            s.close()
    flows: dict[int, list[int]] = {}
    for d in got:
        if d[:1] == b"Q":
            f, seq = struct.unpack_from("!HI", d, 1)
            flows.setdefault(f, []).append(seq)
    return flows


def stage(report: dict, suffix: str) -> dict:
    return next(c for name, c in report["counters"].items() if name.endswith(suffix))


def per_queue(report: dict, suffix: str) -> list[int]:
    return [next(c["packets_in"] for name, c in q.items() if name.endswith(suffix))
            for q in report["queue_counters"]]


def check_reports(enc: dict, dec: dict) -> None:
    """Both queues of the encoder carried flows; the aggregate is their sum;
    every frame is delivered or counted."""
    assert enc["queues"] == 2 and dec["queues"] == 2
    enc_q = per_queue(enc, "fec-encode")
    assert all(n > 0 for n in enc_q), enc_q
    assert sum(enc_q) == stage(enc, "fec-encode")["packets_in"]
    dec_q = per_queue(dec, "fec-decode")
    assert sum(dec_q) == stage(dec, "fec-decode")["packets_in"]
    for r in (enc, dec):
        # Frames the kernel itself sends on the WAN veths (IPv6 neighbour
        # discovery, MLD) reach the decoder and are counted as foreign.
        foreign = sum(st.get("foreign", 0) for st in r["drops"]["stages"].values())
        assert r["drops"]["total"] == foreign and r["buffers_leaked"] == 0, \
            json.dumps(r["drops"])


def test_two_queue_tunnel_on_afpacket_keeps_every_flow_in_order():
    netns.require_netns()
    with netns.gateway_topology(link_mtu=1600) as topo:
        gws = Gateways(topo, k=8, m=4, extra=("--queues", "2"))
        try:
            ip_a, ip_b = topo.host_ip[topo.host_a], topo.host_ip[topo.host_b]
            with udp_socket(topo.host_a, ip_a, 6400) as a, \
                    udp_socket(topo.host_b, ip_b, 6401) as b:
                reach(a, b, (ip_b, 6401))
                flows = send_flows(topo.host_a, ip_a, b, (ip_b, 6401), 6500)
            reports = gws.stop()
        finally:
            gws.kill()
    assert flows == {f: list(range(PER_FLOW)) for f in range(FLOWS)}
    check_reports(reports[0], reports[1])
    # the LAN port's frames all reached an encoder: in = out + drops
    lan = reports[0]["ports"]["local"]
    assert lan["ipackets"] == stage(reports[0], "fec-encode")["packets_in"]
    assert not netns.leftover_namespaces()


def test_two_queue_tunnel_over_udp_peers_spreads_the_wan_too():
    with two_sites() as sites, tunnel(sites, "--queues", "2") as (gw_a, gw_b):
        ip_a, ip_b = sites.host_ip
        with udp_socket(sites.host_a, ip_a, 6400) as a, \
                udp_socket(sites.host_b, ip_b, 6401) as b:
            reach(a, b, (ip_b, 6401))
            flows = send_flows(sites.host_a, ip_a, b, (ip_b, 6401), 6500)
        enc, dec = gw_a.stop(), gw_b.stop()
    assert flows == {f: list(range(PER_FLOW)) for f in range(FLOWS)}
    check_reports(enc, dec)
    # A's queues send from ports 4790 and 4791: B's socket group gives each
    # its own queue, and B takes both ports as its one peer
    dec_q = per_queue(dec, "fec-decode")
    assert all(n > 0 for n in dec_q), dec_q
    u = dec["counters"]["udp.peer"]
    assert u["rx_unknown_source"] == 0 and u["peer_state"] == "up"
    assert stage(dec, "fec-decode")["sessions_opened"] >= 2


def test_one_queue_gateway_takes_a_two_queue_peer_with_peer_queues():
    """A two-queue sender and a one-queue receiver told ``peer_queues=2``:
    the receiver's one decoder takes both sessions, from both source ports."""
    from test_udp_tunnel import PORT, Gateway, hostport

    with two_sites() as sites:
        gw_a = Gateway(sites.gw_a, hostport(sites.wan_b, PORT), hostport(sites.wan_a, PORT),
                       "--json", "--queues", "2")
        gw_b = Gateway(sites.gw_b, hostport(sites.wan_a, PORT) + ",peer_queues=2",
                       hostport(sites.wan_b, PORT), "--json")
        try:
            ip_a, ip_b = sites.host_ip
            with udp_socket(sites.host_a, ip_a, 6400) as a, \
                    udp_socket(sites.host_b, ip_b, 6401) as b:
                reach(a, b, (ip_b, 6401))
                flows = send_flows(sites.host_a, ip_a, b, (ip_b, 6401), 6500)
            enc, dec = gw_a.stop(), gw_b.stop()
        finally:
            gw_a.kill()
            gw_b.kill()
    assert flows == {f: list(range(PER_FLOW)) for f in range(FLOWS)}
    assert all(n > 0 for n in per_queue(enc, "fec-encode"))
    assert dec["queues"] == 1 and dec["drops"]["total"] == 0
    u = dec["counters"]["udp.peer"]
    assert u["rx_unknown_source"] == 0
    assert stage(dec, "fec-decode")["sessions_opened"] >= 2
