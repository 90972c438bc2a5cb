"""DPDK's net_af_xdp over a veth pair: every mbuf back after each close (issue 10).

DPDK 22.11's af_xdp driver keeps the mbufs of its rx pool (2048 in the fill
ring per queue) and the UMEM socket when a port is closed (see
native/dpdk/pd_afxdp.h); pydpdk gives the driver a pool of its own, copies
received frames into the user's pool and closes what the driver leaves
open.  Each cycle here opens a port on the same pool and interface, passes
frames both ways, closes and removes it, and checks that the pool is full
and no AF_XDP socket is left.
"""

from __future__ import annotations

import select
import socket
import struct
import time

import netns
import pytest

from pydpdk import dpdk

pytestmark = pytest.mark.skipif(not dpdk.AVAILABLE, reason="pydpdk built without DPDK")

ETH_P_ALL = 0x0003
ETHERTYPE = 0x88B6          # IEEE local experimental: nothing else sends it


def _frame(dst: bytes, src: bytes, cycle: int, i: int, size: int) -> bytes:
    head = dst + src + struct.pack("!HII", ETHERTYPE, cycle, i)
    return head + bytes((cycle + i + k) & 0xFF for k in range(size - len(head)))


def _mac(ns: str, ifname: str) -> bytes:
    with netns.inside(ns):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            s.bind((ifname, 0))
            return s.getsockname()[4][:6]
        finally:
            s.close()


def _xdp_sockets() -> set[tuple[int, int]]:
    return dpdk.Port._xdp_socket_set()


def test_af_xdp_port_opens_and_closes_repeatedly_with_every_mbuf_back(eal, mempool, capfd):
    netns.require_netns()
    with netns.veth_pair() as pair:
        mac_a, mac_b = _mac(pair.a, pair.if_a), _mac(pair.b, pair.if_b)
        with netns.inside(pair.b):
            peer = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETHERTYPE))
        peer.bind((pair.if_b, 0))
        try:
            sockets_before = _xdp_sockets()
            for cycle in range(3):
                with netns.inside(pair.a):  # the driver resolves the interface here
                    name = eal.add_vdev(f"net_af_xdp{90 + cycle},iface={pair.if_a}")
                    try:
                        port = dpdk.Port(name, mempool)
                        try:
                            port.start()
                            _both_ways(port, mempool, peer, mac_a, mac_b, cycle)
                        finally:
                            port.close()
                    finally:
                        eal.remove_vdev(name)
                # The driver kept (at least) its fill ring's 2048 mbufs: they went
                # with the port's own pool, none of them is the user's.
                assert port.driver_kept >= 2048
                assert mempool.in_use == 0, f"cycle {cycle}: {mempool.in_use} mbufs not back"
                assert _xdp_sockets() == sockets_before, "an AF_XDP socket was left open"
        finally:
            peer.close()
    # libxdp and libbpf print their warnings on stderr unless told otherwise
    err = capfd.readouterr().err
    assert "libxdp" not in err and "libbpf" not in err, err


def _both_ways(port, mempool, peer, mac_a, mac_b, cycle):
    n = 16
    # peer -> port: every frame arrives whole, in the user's pool
    sent = [_frame(mac_a, mac_b, cycle, i, 60 + 37 * i) for i in range(n)]
    for f in sent:
        peer.send(f)
    got: list[bytes] = []
    deadline = time.monotonic() + 15
    while len(got) < n and time.monotonic() < deadline:
        burst = port.rx_burst(max_packets=32)
        try:
            got += [bytes(p) for p in burst
                    if bytes(p)[12:14] == struct.pack("!H", ETHERTYPE)]
        finally:
            burst.free()
        if not got:
            time.sleep(0.005)
    assert got == sent, f"cycle {cycle}: {len(got)} of {n} frames arrived intact"
    # port -> peer
    out = [_frame(mac_b, mac_a, cycle, 1000 + i, 64 + 41 * i) for i in range(n)]
    burst = mempool.burst_from_bytes(out)
    try:
        left = n
        deadline = time.monotonic() + 15
        while left and time.monotonic() < deadline:
            left -= port.tx_burst(burst)
    finally:
        burst.free()
    seen: list[bytes] = []
    deadline = time.monotonic() + 15
    while len(seen) < n and time.monotonic() < deadline:
        if select.select([peer], [], [], 0.2)[0]:
            f = peer.recv(4096)
            if struct.unpack("!I", f[14:18])[0] == cycle:
                seen.append(f)
    assert seen == out, f"cycle {cycle}: {len(seen)} of {n} frames reached the peer"
