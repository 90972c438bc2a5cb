"""UdpPort: the common port contract over loopback (native buffers and DPDK
mbufs), keepalives, proven and unproven peer moves, counted drops, errors.

Real kernel UDP sockets on 127.0.0.1/::1 and, for the routing errors, in a
namespace of their own.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import socket
import struct
import time

import netns
import pytest

# The backend-neutral port contract, run here on UDP links (the imported test
# functions use this module's `link` fixture).
from test_port_contract import (  # noqa: F401
    Link,
    frames,
    test_an_open_port_holds_its_pool,
    test_bad_queue_and_burst_size,
    test_close_is_idempotent_and_final,
    test_sent_frames_arrive_intact_and_in_order,
    test_stopped_port_refuses_io_and_keeps_the_burst,
)

from pydpdk.errors import PortError

udp = pytest.importorskip("pydpdk._udp", reason="no UDP socket port (Linux only)")
native = pytest.importorskip("pydpdk._native", reason="no native buffers")
UdpPort = udp.UdpPort


def free_port(family: int = socket.AF_INET) -> int:
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1" if family == socket.AF_INET else "::1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def udp_pair(pool, family: int = socket.AF_INET, **kw):
    """Two started UdpPorts on loopback pointing at each other."""
    lo = "127.0.0.1" if family == socket.AF_INET else "::1"
    pa, pb = free_port(family), free_port(family)
    fmt = udp.format_hostport
    with UdpPort(fmt((lo, pb)), pool, bind=fmt((lo, pa)), **kw) as a, \
            UdpPort(fmt((lo, pa)), pool, bind=fmt((lo, pb)), **kw) as b:
        a.start()
        b.start()
        yield a, b


@contextlib.contextmanager
def udp_link():
    pool = native.BufferPool(capacity=512)
    with contextlib.ExitStack() as stack:
        a, b = stack.enter_context(udp_pair(pool))
        yield Link(pool, a, lambda: b, stack)
    gc.collect()
    assert pool.available == pool.capacity
    pool.close()


@contextlib.contextmanager
def udp_dpdk_link(request):
    # The same port over DPDK mbufs: it works with any pool's packet ops.
    pool = request.getfixturevalue("mempool")
    with contextlib.ExitStack() as stack:
        a, b = stack.enter_context(udp_pair(pool))
        yield Link(pool, a, lambda: b, stack)


@pytest.fixture(params=["udp", "udp-dpdk"])
def link(request):
    factory = {"udp": udp_link, "udp-dpdk": lambda: udp_dpdk_link(request)}[request.param]
    with factory() as lk:
        yield lk


@pytest.fixture
def pool():
    p = native.BufferPool(capacity=1024)
    yield p
    gc.collect()
    assert p.available == p.capacity
    p.close()


def receive(port, n: int, timeout: float = 3.0) -> list[bytes]:
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        burst = port.rx_burst(max_packets=64)
        got += burst.to_bytes_list()
        burst.free()
        if len(got) < n:
            port.wait(0.02)
    return got


def fec_packet(session: int, payload: bytes = b"payload") -> bytes:
    """A real FEC source packet of session *session* (pydpdk.fec's encoder)."""
    from pydpdk import fec

    return fec.Encoder(k=10, m=4, session_id=session).encode([payload])[0]


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["ipv4", "ipv6"])
def test_datagrams_both_ways_and_keepalives(pool, family):
    with udp_pair(pool, family, keepalive=0.05, dead_after=1.0) as (a, b):
        data = frames(20)
        burst = pool.burst_from_bytes(data)
        assert a.tx_burst(burst) == 20
        assert receive(b, 20) == data
        burst = pool.burst_from_bytes([b"back"])
        assert b.tx_burst(burst) == 1
        assert receive(a, 1) == [b"back"]
        time.sleep(0.2)
        for port in (a, b):
            port.rx_burst().free()            # runs the timers, takes keepalives
        st_a, st_b = a.stats(), b.stats()
    assert st_a["keepalives_tx"] >= 2 and st_b["keepalives_rx"] >= 1
    assert st_b["peer_state"] == "up" and st_a["peer_state"] == "up"
    # keepalives are neither delivered nor counted as packets
    assert st_b["ipackets"] == 20 and st_a["ipackets"] == 1
    assert st_a["opackets"] == 20 and st_a["obytes"] == sum(map(len, data))
    assert st_b["rx_unknown_source"] == 0 and st_b["ierrors"] == 0


def test_strangers_are_counted_and_dropped_until_they_prove_to_be_the_peer(pool):
    with udp_pair(pool, keepalive=0.05, dead_after=2.0) as (a, b), \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        other.bind(("127.0.0.1", 0))
        # b learns a's FEC session 0x0badcafe and a's keepalive id
        burst = pool.burst_from_bytes([fec_packet(0x0BADCAFE)])
        assert a.tx_burst(burst) == 1
        assert len(receive(b, 1)) == 1
        time.sleep(0.1)
        a.rx_burst().free()
        b.rx_burst().free()
        assert b.stats()["keepalives_rx"] >= 1
        # a stranger: plain data, an unknown session, a forged CRC, empty
        other.sendto(b"hello", b.local)
        other.sendto(fec_packet(0x11111111), b.local)
        bad = bytearray(fec_packet(0x0BADCAFE))
        bad[19] ^= 0xFF                     # the header check
        other.sendto(bytes(bad), b.local)
        other.sendto(b"", b.local)
        time.sleep(0.05)
        assert receive(b, 1, timeout=0.2) == []
        st = b.stats()
        assert st["rx_unknown_source"] == 3 and st["rx_malformed"] == 1
        assert st["peer_changes"] == 0 and b.peer == a.local
        # a keepalive with a's instance id, from elsewhere: a moved
        ka = b"PDKA" + bytes([1, 0, 0, 0]) + struct.pack("!I", a.instance_id)
        other.sendto(ka, b.local)
        time.sleep(0.05)
        b.rx_burst().free()
        assert b.stats()["peer_changes"] == 1
        assert b.peer == other.getsockname()
        burst = pool.burst_from_bytes([b"to the new address"])
        assert b.tx_burst(burst) == 1
        other.settimeout(2)
        while (got := other.recv(2048)).startswith(b"PDKA"):
            pass
        assert got == b"to the new address"
        # and a valid packet of the known session from a's own address moves it back
        again = fec_packet(0x0BADCAFE, b"again")
        burst = pool.burst_from_bytes([again])
        assert a.tx_burst(burst) == 1
        assert receive(b, 1) == [again]
        assert b.stats()["peer_changes"] == 2 and b.peer == a.local


def test_follow_peer_off_never_moves(pool):
    with udp_pair(pool, keepalive=0.05, dead_after=2.0, follow_peer=False) as (a, b), \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        time.sleep(0.1)
        a.rx_burst().free()
        b.rx_burst().free()
        other.sendto(b"PDKA" + bytes([1, 0, 0, 0]) + struct.pack("!I", a.instance_id),
                     b.local)
        time.sleep(0.05)
        b.rx_burst().free()
        assert b.stats()["peer_changes"] == 0 and b.stats()["rx_unknown_source"] == 1


def test_a_silent_peer_is_dead_then_up_again(pool):
    with udp_pair(pool, keepalive=0.05, dead_after=0.3) as (a, b):
        deadline = time.monotonic() + 2
        while b.peer_state != "up" and time.monotonic() < deadline:
            a.tick()
            b.rx_burst().free()
            time.sleep(0.02)
        assert b.peer_state == "up"
        deadline = time.monotonic() + 3       # a stops sending anything
        while b.peer_state != "dead" and time.monotonic() < deadline:
            b.rx_burst().free()
            time.sleep(0.02)
        st = b.stats()
        assert st["peer_state"] == "dead" and st["dead_events"] == 1
        assert st["last_rx_age_s"] >= 0.3
        a.tick()
        time.sleep(0.05)
        b.rx_burst().free()
        assert b.peer_state == "up" and b.stats()["dead_events"] == 1


def test_truncated_datagrams_are_counted(pool):
    small = native.BufferPool(capacity=64, data_room=256)
    try:
        with udp_pair(small, keepalive=None, dead_after=None) as (a, b):
            big = pool.burst_from_bytes([b"x" * 1000, b"y" * 100])
            assert a.tx_burst(big) == 2
            assert receive(b, 1) == [b"y" * 100]
            assert b.stats()["rx_malformed"] == 1
    finally:
        gc.collect()
        assert small.available == small.capacity
        small.close()


def test_refused_datagrams_are_counted_and_freed(pool):
    netns.require_netns()
    with netns.veth_pair() as pair:
        netns.ns_exec(pair.a, "ip", "addr", "add", "10.91.0.1/24", "dev", pair.if_a)
        with netns.inside(pair.a):
            # DF on: 1600 bytes over a 1500-byte MTU is refused (EMSGSIZE)
            df = UdpPort("10.91.0.2:4790", pool, bind="10.91.0.1:4790", dont_fragment=True,
                         keepalive=None, dead_after=None)
            # no route to 10.92.0.0/16 at all
            lost = UdpPort("10.92.0.2:4790", pool, bind="10.91.0.1:4791", keepalive=None,
                           dead_after=None)
        with df, lost:
            df.start()
            lost.start()
            burst = pool.burst_from_bytes([b"z" * 1600, b"ok" * 10])
            assert df.tx_burst(burst) == 2             # both taken: one sent, one dropped
            st = df.stats()
            assert st["oerrors"] == 1 and st["tx_oversize"] == 1 and st["opackets"] == 1
            burst = pool.burst_from_bytes([b"a", b"b", b"c"])
            assert lost.tx_burst(burst) == 3
            st = lost.stats()
            assert st["oerrors"] == 3 and st["tx_unreachable"] == 3 and st["opackets"] == 0


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="brackets"):
        UdpPort("::1:4790")
    with pytest.raises(ValueError, match="no port"):
        UdpPort("127.0.0.1")
    with pytest.raises(ValueError, match="needs a host"):
        UdpPort(":4790")
    with pytest.raises(ValueError, match="different address families"):
        UdpPort("127.0.0.1:4790", bind="[::1]:0")
    with pytest.raises(ValueError, match="longer than the keepalive"):
        UdpPort("127.0.0.1:4790", bind="127.0.0.1:0", keepalive=2, dead_after=1)
    with pytest.raises(PortError) as info:
        UdpPort("127.0.0.1:4790", bind="192.0.2.77:0")
    assert info.value.errno == errno.EADDRNOTAVAIL
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        with pytest.raises(PortError) as info:
            UdpPort("127.0.0.1:4790", bind=f"127.0.0.1:{taken.getsockname()[1]}")
        assert info.value.errno == errno.EADDRINUSE


def test_hostport_helpers():
    assert udp.split_hostport("[fd00::1]:80") == ("fd00::1", 80)
    assert udp.split_hostport("10.0.0.1:7") == ("10.0.0.1", 7)
    assert udp.split_hostport(":9") == ("", 9)
    assert udp.split_hostport("host", default_port=5) == ("host", 5)
    assert udp.format_hostport(("fd00::1", 80)) == "[fd00::1]:80"
    assert udp.fec_session_id(fec_packet(0xDEADBEEF)) == 0xDEADBEEF
    assert udp.fec_session_id(fec_packet(0xDEADBEEF)[:19]) is None
    assert udp.fec_session_id(fec_packet(0xDEADBEEF)[:-1]) is None     # payload cut
    assert udp.fec_session_id(b"") is None


def test_gateway_udp_spec(pool):
    from pydpdk.gateway import open_udp_spec

    port = open_udp_spec("127.0.0.1:4790,bind=127.0.0.1:0,keepalive=0.5,dead=2,df=1", pool)
    with port:
        assert port.peer == ("127.0.0.1", 4790)
        assert port.local[0] == "127.0.0.1" and port.local[1] != 0
    with pytest.raises(ValueError, match="udp port spec"):
        open_udp_spec("127.0.0.1:4790,colour=blue", pool)
    with pytest.raises(ValueError, match="0 or 1"):
        open_udp_spec("127.0.0.1:4790,df=yes", pool)
    with open_udp_spec("127.0.0.1:4790,bind=127.0.0.1:0,gso=1", pool) as gso_port:
        gso_port.start()
        burst = pool.burst_from_bytes([b"x" * 100] * 4)
        assert gso_port.tx_burst(burst) == 4
        assert gso_port.stats()["tx_gso_sends"] == 1


def test_gso_runs_and_the_fallback_for_datagrams_over_the_mtu(pool):
    """Equal-length runs leave as one UDP GSO send each; a run over the
    1500-byte MTU is refused by the kernel and goes plain (fragmented)."""
    netns.require_netns()
    with netns.veth_pair() as pair:
        netns.ns_exec(pair.a, "ip", "addr", "add", "10.96.0.1/24", "dev", pair.if_a)
        netns.ns_exec(pair.b, "ip", "addr", "add", "10.96.0.2/24", "dev", pair.if_b)
        with netns.inside(pair.a):
            a = UdpPort("10.96.0.2:4790", pool, bind="10.96.0.1:4790", keepalive=None,
                        dead_after=None, gso=True)
        with netns.inside(pair.b):
            b = UdpPort("10.96.0.1:4790", pool, bind="10.96.0.2:4790", keepalive=None,
                        dead_after=None)
        with a, b:
            a.start()
            b.start()
            data = [bytes([i]) * 1600 for i in range(4)] + [bytes([9 + i]) * 1000
                                                           for i in range(6)]
            for _ in range(2):        # the second burst knows the big run will not go
                burst = pool.burst_from_bytes(data)
                assert a.tx_burst(burst) == len(data)
                assert receive(b, len(data)) == data
            st = a.stats()
    assert st["opackets"] == 20 and st["oerrors"] == 0
    assert st["tx_gso_sends"] == 2          # the two 1000-byte runs


def test_gro_splits_coalesced_datagrams(pool):
    """A GSO sender on loopback: the run arrives as one buffer; gro=True splits it."""
    lo = "127.0.0.1"
    pa, pb = free_port(), free_port()
    with UdpPort(f"{lo}:{pb}", pool, bind=f"{lo}:{pa}", keepalive=None, dead_after=None,
                 gso=True) as a, \
            UdpPort(f"{lo}:{pa}", pool, bind=f"{lo}:{pb}", keepalive=None, dead_after=None,
                    gro=True) as b:
        a.start()
        b.start()
        data = [bytes([i]) * 900 for i in range(20)] + [b"tail" * 10]
        burst = pool.burst_from_bytes(data)
        assert a.tx_burst(burst) == len(data)
        got = []
        deadline = time.monotonic() + 3
        while len(got) < len(data) and time.monotonic() < deadline:
            rx = b.rx_burst(max_packets=8)          # smaller than a run: the rest waits
            got += rx.to_bytes_list()
            rx.free()
        st = b.stats()
    assert got == data
    assert st["rx_coalesced"] == len(data) and st["ipackets"] == len(data)
