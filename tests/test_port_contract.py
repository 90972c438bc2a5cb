"""The same port tests over every backend this build has.

Each backend provides a "link": a tx port, and a way to receive what it sent
(on the same port for the in-memory loopback, on the veth peer for
AF_PACKET, by reading the written file back for pcap, on the other end of a
net_ring pair for DPDK).  Another backend only needs a factory here.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import struct
import time

import netns
import pytest

from pydpdk._burst import LoopbackPort
from pydpdk._native import BufferPool
from pydpdk.errors import PoolError, PortError

STATS_KEYS = {"ipackets", "opackets", "ibytes", "obytes", "imissed", "oerrors"}


def frames(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        head = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x07" + struct.pack("!HI", 0x88B5, i)
        out.append(head + bytes((i + k) & 0xFF for k in range(40 + 13 * i)))
    return out


class Link:
    """tx port + how to get back what it sent."""

    def __init__(self, pool, tx, open_rx, stack: contextlib.ExitStack,
                 counts_bytes: bool = True):
        self.pool, self.tx, self._open_rx, self._stack = pool, tx, open_rx, stack
        self.counts_bytes = counts_bytes

    def receive(self, n: int, timeout: float = 3.0) -> list[bytes]:
        rx = self._open_rx()
        got: list[bytes] = []
        deadline = time.monotonic() + timeout
        while len(got) < n and time.monotonic() < deadline:
            burst = rx.rx_burst(0, 64)
            got.extend(f for f in burst.to_bytes_list() if f[12:14] == b"\x88\xb5")
            burst.free()
            if not burst:
                time.sleep(0.005)
        return got


@contextlib.contextmanager
def loopback_link():
    pool = BufferPool(capacity=512)
    with contextlib.ExitStack() as stack:
        port = stack.enter_context(LoopbackPort(pool, depth=256))
        port.start()
        yield Link(pool, port, lambda: port, stack)
    gc.collect()
    assert pool.available == pool.capacity
    pool.close()


@contextlib.contextmanager
def afpacket_link():
    native = pytest.importorskip("pydpdk._native", reason="no native AF_PACKET backend")
    netns.require_netns()
    pool = native.BufferPool(capacity=1024)
    with netns.veth_pair() as pair, contextlib.ExitStack() as stack:
        with netns.inside(pair.a):
            tx = stack.enter_context(native.AfPacketPort(pair.if_a, pool))
        with netns.inside(pair.b):
            rx = stack.enter_context(native.AfPacketPort(pair.if_b, pool))
        tx.start()
        rx.start()
        yield Link(pool, tx, lambda: rx, stack)
    gc.collect()
    assert pool.available == pool.capacity
    pool.close()


@contextlib.contextmanager
def pcap_link(tmp_path):
    native = pytest.importorskip("pydpdk._native")
    pcap = pytest.importorskip("pydpdk._native_pcap", reason="built without libpcap")
    pool = native.BufferPool(capacity=512)
    path = tmp_path / "link.pcap"
    with contextlib.ExitStack() as stack:
        tx = stack.enter_context(pcap.PcapPort(tx_path=path, pool=pool))
        tx.start()
        opened = []

        def open_rx():
            if not opened:
                tx.flush()
                rx = stack.enter_context(pcap.PcapPort(rx_path=path, pool=pool))
                rx.start()
                opened.append(rx)
            return opened[0]

        yield Link(pool, tx, open_rx, stack)
    gc.collect()
    assert pool.available == pool.capacity
    pool.close()


@contextlib.contextmanager
def dpdk_ring_link(request):
    # DPDK net_ring pair (shared session EAL from conftest; its leak check
    # covers the mempool).
    a, b = request.getfixturevalue("ring_pair")
    pool = request.getfixturevalue("mempool")
    with contextlib.ExitStack() as stack:
        # DPDK's net_ring PMD counts packets, not bytes.
        yield Link(pool, a, lambda: b, stack, counts_bytes=False)


BACKENDS = ["loopback", "afpacket", "pcap", "dpdk-ring"]


@pytest.fixture(params=BACKENDS)
def link(request, tmp_path):
    factory = {"loopback": loopback_link, "afpacket": afpacket_link,
               "pcap": lambda: pcap_link(tmp_path),
               "dpdk-ring": lambda: dpdk_ring_link(request)}[request.param]
    with factory() as lk:
        yield lk


def send(link: Link, data: list[bytes]) -> int:
    burst = link.pool.burst_from_bytes(data)
    sent = 0
    try:
        for _ in range(100):
            sent += link.tx.tx_burst(burst)
            if not burst:
                break
    finally:
        burst.free()
    return sent


def test_sent_frames_arrive_intact_and_in_order(link):
    data = frames(40)
    assert send(link, data) == len(data)
    assert link.receive(len(data)) == data
    st = link.tx.stats()
    assert STATS_KEYS <= set(st)
    assert st["opackets"] == len(data)
    assert st["obytes"] == (sum(map(len, data)) if link.counts_bytes else 0)


def test_stopped_port_refuses_io_and_keeps_the_burst(link):
    link.tx.stop()
    burst = link.pool.burst_from_bytes(frames(3))
    with pytest.raises(PortError, match="not started") as info:
        link.tx.tx_burst(burst)
    assert info.value.errno == errno.ENETDOWN
    assert len(burst) == 3
    burst.free()
    with pytest.raises(PortError, match="not started"):
        link.tx.rx_burst()
    link.tx.start()
    assert link.tx.is_started


def test_close_is_idempotent_and_final(link):
    link.tx.close()
    link.tx.close()
    assert link.tx.is_closed
    with pytest.raises(PortError) as info:
        link.tx.stats()
    assert info.value.errno == errno.EBADF
    with pytest.raises(PortError):
        link.tx.start()


def test_bad_queue_and_burst_size(link):
    with pytest.raises(ValueError, match="rx queue 5 does not exist"):
        link.tx.rx_burst(5)
    with pytest.raises(ValueError, match="max_packets"):
        link.tx.rx_burst(0, 0)


def test_an_open_port_holds_its_pool(link):
    # rx allocates from the pool: closing it under an open port would hand
    # the port freed memory (issue: UdpPort once forgot to hold its pool).
    with pytest.raises(PoolError) as info:
        link.pool.close()
    assert info.value.errno == errno.EBUSY
