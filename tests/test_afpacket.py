"""Native AF_PACKET port over real veth pairs in throw-away network namespaces."""

from __future__ import annotations

import errno
import gc
import struct
import subprocess
import sys
import textwrap
import time

import netns
import pytest
from conftest import requires_dpdk

from pydpdk import dpdk
from pydpdk.errors import PacketStateError, PoolError, PortError

afpacket = pytest.importorskip("pydpdk.afpacket")
try:
    from pydpdk._native import AfPacketPort, AfPacketRing, BufferPool
except ImportError:  # pragma: no cover - non-Linux
    pytest.skip("the native AF_PACKET backend is not built here", allow_module_level=True)

ETHERTYPE_TEST = 0x88B5  # IEEE 802 local experimental: nothing else answers it
BROADCAST = b"\xff" * 6


def test_frame(seq: int, size: int, src: bytes = b"\x02\x00\x00\x00\x00\x01") -> bytes:
    """An Ethernet frame carrying its sequence number, *size* bytes long."""
    head = BROADCAST + src + struct.pack("!HI", ETHERTYPE_TEST, seq)
    body = bytes((seq + i) & 0xFF for i in range(size - len(head)))
    return head + body


test_frame.__test__ = False  # a helper, not a test


def udp_frame(sport: int, dport: int, size: int = 100) -> bytes:
    """An IPv4/UDP frame (flow hashing needs an IP header)."""
    payload = bytes(size - 42)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + len(payload), 0, 0, 64, 17, 0,
                     bytes([10, 9, 0, 1]), bytes([10, 9, 0, 2]))
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    return BROADCAST + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + ip + udp + payload


@pytest.fixture
def pool():
    p = BufferPool(capacity=4096, data_room=2048)
    yield p
    gc.collect()
    assert p.available == p.capacity, "a test leaked packets"
    assert p.double_frees == 0
    p.close()


@pytest.fixture
def veth():
    netns.require_netns()
    with netns.veth_pair() as pair:
        yield pair
    assert not netns.leftover_namespaces()


def open_port(ns: str, ifname: str, pool, **kwargs) -> AfPacketPort:
    with netns.inside(ns):
        port = AfPacketPort(ifname, pool, **kwargs)
    port.start()
    return port


def send_all(port, pool, frames: list[bytes], queue: int = 0, timeout: float = 5.0) -> int:
    """Send every frame (retrying a full ring); the number the port took."""
    sent = 0
    deadline = time.monotonic() + timeout
    for start in range(0, len(frames), 64):
        burst = pool.burst_from_bytes(frames[start:start + 64])
        try:
            while len(burst) and time.monotonic() < deadline:
                sent += port.tx_burst(burst, queue)
        finally:
            burst.free()
    return sent


def receive(port, want: int, queue: int = 0, timeout: float = 3.0,
            ethertype: int | None = ETHERTYPE_TEST) -> list[bytes]:
    """Frames received on *queue* until *want* matched or *timeout* passed."""
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        port.wait(queue, 0.05)
        burst = port.rx_burst(queue, 256)
        try:
            for frame in burst.to_bytes_list():
                if ethertype is None or frame[12:14] == struct.pack("!H", ethertype):
                    got.append(frame)
        finally:
            burst.free()
    return got


@pytest.mark.parametrize("tx_mode", ["ring", "sendmmsg"])
def test_frames_cross_the_veth_unchanged(veth, pool, tx_mode):
    frames = [test_frame(i, 60 + (i * 37) % 1455) for i in range(300)]
    with open_port(veth.a, veth.if_a, pool, tx_mode=tx_mode) as tx, \
            open_port(veth.b, veth.if_b, pool) as rx:
        assert send_all(tx, pool, frames) == len(frames)
        got = receive(rx, len(frames))
        assert got == frames
        assert tx.stats()["opackets"] == len(frames)
        assert tx.stats()["obytes"] == sum(map(len, frames))
        rx_stats = rx.stats()
        assert rx_stats["ipackets"] == len(frames)
        assert rx_stats["imissed"] == 0 and rx_stats["ierrors"] == 0
        # And back the other way.
        assert send_all(rx, pool, frames[:10]) == 10
        assert receive(tx, 10) == frames[:10]


def test_port_reports_interface_facts(veth, pool):
    with open_port(veth.a, veth.if_a, pool) as port:
        link = netns.ns_exec(veth.a, "cat", f"/sys/class/net/{veth.if_a}/address").strip()
        assert port.mac == link
        assert port.mtu == 1500
        assert port.rx_queues == port.tx_queues == 1
        assert port.is_started


def test_vlan_tag_is_put_back_on_receive(veth, pool):
    # The kernel moves the 802.1Q tag into metadata; the port restores it.
    inner = test_frame(7, 100)
    tagged = inner[:12] + b"\x81\x00\x00\x05" + inner[12:]
    with open_port(veth.a, veth.if_a, pool) as tx, open_port(veth.b, veth.if_b, pool) as rx:
        assert send_all(tx, pool, [tagged]) == 1
        assert receive(rx, 1, ethertype=0x8100) == [tagged]


def test_not_started_port_refuses_io(veth, pool):
    with netns.inside(veth.a):
        port = AfPacketPort(veth.if_a, pool)
    with port:
        with pytest.raises(PortError, match="not started"):
            port.rx_burst()
        port.start()
        port.stop()
        burst = pool.alloc_burst(1, 60)
        with pytest.raises(PortError, match="not started"):
            port.tx_burst(burst)
        assert len(burst) == 1  # still the caller's
        burst.free()


def test_oversized_frame_is_counted_and_dropped(veth, pool):
    with open_port(veth.a, veth.if_a, pool) as tx, open_port(veth.b, veth.if_b, pool) as rx:
        frames = [test_frame(1, 60), test_frame(2, 1600), test_frame(3, 60)]
        assert send_all(tx, pool, frames) == 3  # all taken: one as an error
        assert tx.stats()["oerrors"] == 1
        assert tx.stats()["opackets"] == 2
        assert receive(rx, 2, timeout=1.0) == [frames[0], frames[2]]


@pytest.mark.parametrize("bad", ["", "x" * 16, "a/b"])
def test_invalid_interface_name_is_a_value_error(pool, bad):
    with pytest.raises(ValueError, match="not a valid interface name"):
        AfPacketPort(bad, pool)


def test_missing_interface_gives_clear_error(pool):
    netns.require_netns()  # needs CAP_NET_RAW to get as far as the lookup
    with pytest.raises(PortError, match="no network interface named 'nosuch0'") as info:
        AfPacketPort("nosuch0", pool)
    assert info.value.errno == errno.ENODEV


def test_missing_permission_gives_permission_error():
    # A child without CAP_NET_RAW (dropped from its capability sets).
    code = textwrap.dedent("""
        import ctypes, struct, sys
        libc = ctypes.CDLL(None, use_errno=True)
        CAP_NET_RAW = 13
        hdr = struct.pack("II", 0x20080522, 0)          # _LINUX_CAPABILITY_VERSION_3
        data = ctypes.create_string_buffer(24)
        if libc.capget(hdr, data) != 0:
            sys.exit("capget failed")
        words = list(struct.unpack("6I", data.raw))
        words[0] &= ~(1 << CAP_NET_RAW)                 # effective
        words[1] &= ~(1 << CAP_NET_RAW)                 # permitted
        if libc.capset(hdr, struct.pack("6I", *words)) != 0:
            sys.exit("capset failed")
        from pydpdk.afpacket import AfPacketPort
        try:
            AfPacketPort("lo")
        except PermissionError as exc:
            print("PermissionError:", exc)
        else:
            print("opened")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "PermissionError:" in proc.stdout
    assert "CAP_NET_RAW" in proc.stdout


def test_ring_overrun_shows_as_kernel_drops(veth, pool):
    # A tiny ring (2 x 64 KiB blocks) that nobody reads while 3000 frames
    # arrive: the kernel must drop, and say so.
    n = 3000
    frames = [test_frame(i, 1000) for i in range(n)]
    with open_port(veth.a, veth.if_a, pool) as tx, \
            open_port(veth.b, veth.if_b, pool, block_size=1 << 16, block_count=2,
                      block_timeout_ms=50) as rx:
        assert send_all(tx, pool, frames) == n
        time.sleep(0.1)
        got = receive(rx, n, timeout=1.0)
        st = rx.stats()
        assert st["kernel_drops"] > 0 and st["imissed"] == st["kernel_drops"]
        assert st["ring_freezes"] > 0
        # Every frame is accounted for: delivered or dropped by the kernel.
        assert st["kernel_packets"] == n
        assert len(got) == st["ipackets"] == n - st["kernel_drops"]
        # Delivered frames are intact and in order.
        seqs = [struct.unpack("!I", f[14:18])[0] for f in got]
        assert seqs == sorted(seqs)
        assert all(f == frames[s] for f, s in zip(got, seqs))


def test_empty_pool_leaves_frames_in_the_ring(veth):
    small = BufferPool(capacity=8, data_room=2048)
    big = BufferPool(capacity=256, data_room=2048)
    try:
        with open_port(veth.a, veth.if_a, big) as tx, open_port(veth.b, veth.if_b, small) as rx:
            assert send_all(tx, big, [test_frame(i, 100) for i in range(20)]) == 20
            rx.wait(0, 1.0)
            time.sleep(0.05)
            held = rx.rx_burst(0, 32)
            assert len(held) == 8  # the pool had 8 buffers
            assert len(rx.rx_burst(0, 32)) == 0
            assert rx.stats()["rx_nombuf"] >= 1
            held.free()
            rest = receive(rx, 12, timeout=1.0)
            assert len(rest) == 12  # nothing lost: they waited in the ring
    finally:
        gc.collect()
        assert small.available == 8 and big.available == 256
        small.close()
        big.close()


def test_interface_deleted_mid_run_stops_cleanly(veth, pool):
    rx = open_port(veth.b, veth.if_b, pool)
    try:
        netns.ns_exec(veth.a, "ip", "link", "del", veth.if_a)  # takes the peer with it
        deadline = time.monotonic() + 3.0
        with pytest.raises(PortError, match="was deleted") as info:
            while time.monotonic() < deadline:
                rx.rx_burst()
        assert info.value.errno == errno.ENODEV
        assert not rx.is_started
        rx.stop()  # already stopped: no error
    finally:
        rx.close()
    rx.close()  # idempotent
    assert rx.is_closed


def test_deleted_interface_fails_tx_too(veth, pool):
    tx = open_port(veth.a, veth.if_a, pool, tx_mode="sendmmsg")
    with tx:
        netns.ns_exec(veth.a, "ip", "link", "del", veth.if_a)
        burst = pool.burst_from_bytes([test_frame(1, 60)] * 4)
        try:
            with pytest.raises(PortError):
                for _ in range(100):
                    tx.tx_burst(burst)
                    tx.check()
        finally:
            burst.free()


def test_fanout_spreads_flows_over_queues(veth, pool):
    frames = [udp_frame(1000 + i, 2000 + 7 * i) for i in range(400)]
    with open_port(veth.a, veth.if_a, pool) as tx, \
            open_port(veth.b, veth.if_b, pool, queues=2, fanout="hash") as rx:
        assert rx.rx_queues == 2
        assert send_all(tx, pool, frames) == len(frames)
        time.sleep(0.1)
        per_queue = [receive(rx, len(frames), queue=q, timeout=0.5, ethertype=0x0800)
                     for q in (0, 1)]
        assert all(len(q) > 0 for q in per_queue), [len(q) for q in per_queue]
        assert sorted(per_queue[0] + per_queue[1]) == sorted(frames)
        assert rx.queue_stats(0)["ipackets"] == len(per_queue[0])
        assert rx.stats()["ipackets"] == len(frames)
        with pytest.raises(ValueError, match="queue 2"):
            rx.queue_stats(2)
        with pytest.raises(ValueError, match="rx queue 2 does not exist"):
            rx.rx_burst(2)


def test_random_loss_on_the_link_is_seen_by_the_receiver(pool):
    # a --veth-- link (bridge; nft drops 10% at its ingress) --veth-- b
    netns.require_netns()
    netns.require_nft()
    n, per_mille = 2000, 100
    with netns.linked_pair() as lp, netns.random_loss(lp.link, lp.link_in_a, per_mille) as rule:
        with open_port(lp.a, lp.if_a, pool) as tx, open_port(lp.b, lp.if_b, pool) as rx:
            frames = [test_frame(i, 200) for i in range(n)]
            assert send_all(tx, pool, frames) == n
            got = receive(rx, n, timeout=2.0)
            dropped = rule.dropped()
        # Fewer arrive; sent = received + dropped by the rule, exactly.
        assert len(got) < n
        assert len(got) + dropped == n
        # 10% of 2000: mean 200, sd ~13.4; allow +-6 sd.
        assert 120 <= dropped <= 280
        assert all(f == frames[struct.unpack("!I", f[14:18])[0]] for f in got)
    assert not netns.leftover_namespaces()


def interface_flags(ns: str, ifname: str) -> int:
    return int(netns.ns_exec(ns, "cat", f"/sys/class/net/{ifname}/flags").strip(), 16)


IFF_PROMISC = 0x100


@pytest.mark.parametrize("promiscuous", [True, False])
def test_promiscuous_mode_lasts_as_long_as_the_port(veth, pool, promiscuous):
    assert not interface_flags(veth.a, veth.if_a) & IFF_PROMISC
    port = open_port(veth.a, veth.if_a, pool, promiscuous=promiscuous)
    try:
        assert bool(interface_flags(veth.a, veth.if_a) & IFF_PROMISC) == promiscuous
    finally:
        port.close()
    assert not interface_flags(veth.a, veth.if_a) & IFF_PROMISC


@requires_dpdk
def test_port_needs_a_native_pool(veth, mempool):
    with netns.inside(veth.a), pytest.raises(TypeError, match="needs a BufferPool"):
        AfPacketPort(veth.if_a, mempool)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"queues": 0}, "queues must be between"),
    ({"fanout": "bogus"}, "fanout must be one of"),
    ({"tx_mode": "carrier-pigeon"}, "tx_mode must be one of"),
    ({"block_size": 1000}, "multiple of the page size"),
])
def test_bad_port_configuration_is_a_value_error(veth, pool, kwargs, match):
    with netns.inside(veth.a), pytest.raises(ValueError, match=match):
        AfPacketPort(veth.if_a, pool, **kwargs)


# --------------------------------------------------------------------------
# Zero-copy receive: packets are views of the ring's frames
# --------------------------------------------------------------------------

@pytest.fixture
def zc_ports():
    """Opens zero-copy ports; at the end nothing may still hold a ring frame."""
    ports: list[AfPacketPort] = []

    def open_zc(ns: str, ifname: str, **kwargs) -> AfPacketPort:
        port = open_port(ns, ifname, None, zero_copy=True, **kwargs)
        ports.append(port)
        return port

    yield open_zc
    gc.collect()
    for port in ports:
        ring = port.ring
        assert ring.in_use == 0, f"a test still holds zero-copy frames of {port!r}"
        port.close()
        assert ring.blocks_held == 0


def sizes_frames(n: int = 200) -> list[bytes]:
    return [test_frame(i, (60, 61, 64, 128, 577, 1000, 1499, 1514)[i % 8]) for i in range(n)]


def test_zero_copy_frames_are_byte_identical(veth, pool, zc_ports):
    frames = sizes_frames()
    with open_port(veth.a, veth.if_a, pool) as tx:
        rx = zc_ports(veth.b, veth.if_b)
        assert rx.zero_copy and isinstance(rx.ring, AfPacketRing)
        assert send_all(tx, pool, frames) == len(frames)
        got = receive(rx, len(frames))
        assert got == frames
        st = rx.stats()
        assert st["ipackets"] == len(frames) and st["imissed"] == 0 and st["ierrors"] == 0


def test_zero_copy_packet_views_and_headers(veth, pool, zc_ports):
    frames = [test_frame(i, 100 + i) for i in range(8)]
    with open_port(veth.a, veth.if_a, pool) as tx:
        rx = zc_ports(veth.b, veth.if_b)
        assert send_all(tx, pool, frames) == 8
        rx.wait(0, 1.0)
        time.sleep(0.05)
        burst = rx.rx_burst(0, 64)
        try:
            mine = [i for i, f in enumerate(burst.to_bytes_list()) if f in frames]
            assert len(mine) == 8
            assert burst.pool is rx.ring
            assert rx.ring.in_use == len(burst) and rx.ring.blocks_held >= 1
            pkt = burst[mine[0]]
            with memoryview(pkt) as view:
                assert bytes(view) == frames[0]
                view[0] = 0x02  # writable, in the ring
            assert pkt.bytes()[0] == 0x02
            headers = burst.headers(14)
            assert headers.shape == (len(burst), 14)
            assert bytes(headers[mine[1]]) == frames[1][:14]
        finally:
            burst.free()
        assert rx.ring.in_use == 0


def test_zero_copy_restores_the_vlan_tag(veth, pool, zc_ports):
    inner = test_frame(7, 100)
    tagged = inner[:12] + b"\x81\x00\x00\x05" + inner[12:]
    with open_port(veth.a, veth.if_a, pool) as tx:
        rx = zc_ports(veth.b, veth.if_b)
        assert send_all(tx, pool, [tagged]) == 1
        assert receive(rx, 1, ethertype=0x8100) == [tagged]


def test_held_packets_hold_their_blocks_until_freed(veth, pool, zc_ports):
    # Two small blocks: hold packets of both and the kernel has nowhere to
    # write; free them and reception goes on.
    with open_port(veth.a, veth.if_a, pool) as tx:
        rx = zc_ports(veth.b, veth.if_b, block_size=1 << 16, block_count=2,
                      block_timeout_ms=10)
        ring = rx.ring
        held = []
        seq = 0
        try:
            for _ in range(10):
                frames = [test_frame(seq + i, 200) for i in range(10)]
                seq += 10
                assert send_all(tx, pool, frames) == 10
                time.sleep(0.05)  # past the block timeout: the block is ours
                burst = rx.rx_burst(0, 256)
                if len(burst):
                    held.append(burst)
                if rx.stats()["imissed"] > 0:
                    break
            st = rx.stats()
            assert st["imissed"] > 0, "the kernel never ran out of blocks"
            assert ring.blocks_held == 2
            assert ring.in_use == sum(len(b) for b in held)
            assert len(rx.rx_burst(0, 256)) == 0  # nothing more: every block is held
        finally:
            for burst in held:
                burst.free()
        assert ring.in_use == 0
        frames = [test_frame(10_000 + i, 200) for i in range(20)]
        assert send_all(tx, pool, frames) == 20
        assert receive(rx, 20) == frames


def test_zero_copy_prepend_uses_reserved_headroom(veth, pool, zc_ports):
    frame = test_frame(3, 300)
    with open_port(veth.a, veth.if_a, pool) as tx:
        rx = zc_ports(veth.b, veth.if_b, headroom=256)
        assert rx.ring.headroom == 256
        assert send_all(tx, pool, [frame]) == 1
        rx.wait(0, 1.0)
        time.sleep(0.05)
        burst = rx.rx_burst(0, 16)
        try:
            pkt = next(p for p in burst if p.bytes() == frame)
            assert pkt.headroom >= 256 and pkt.tailroom == 0
            pkt.prepend(b"\xaa" * 256)
            assert pkt.bytes() == b"\xaa" * 256 + frame
            with pytest.raises(ValueError, match="cannot prepend .* headroom is"):
                pkt.prepend(pkt.headroom + 1)
            with pytest.raises(ValueError, match="cannot append 1 bytes: tailroom is 0"):
                pkt.append(b"x")
            pkt.adj(256)
            pkt.trim(100)
            assert pkt.bytes() == frame[:-100]
        finally:
            burst.free()


@pytest.fixture
def three_hops():
    """a --veth-- m --veth-- b: m has two interfaces and no bridge."""
    netns.require_netns()
    with netns.netns("pda") as a, netns.netns("pdm") as m, netns.netns("pdb") as b:
        netns.add_veth(a, "pdv0", m, "pdm0")
        netns.add_veth(m, "pdm1", b, "pdv1")
        yield a, m, b
    assert not netns.leftover_namespaces()


@pytest.mark.parametrize("tx_mode", ["ring", "sendmmsg"])
def test_zero_copy_packets_forwarded_out_of_another_port(three_hops, pool, zc_ports, tx_mode):
    a, m, b = three_hops
    frames = sizes_frames(120)
    with open_port(a, "pdv0", pool) as src, open_port(b, "pdv1", pool) as dst, \
            open_port(m, "pdm1", pool, tx_mode=tx_mode) as out:
        fwd = zc_ports(m, "pdm0")
        assert send_all(src, pool, frames) == len(frames)
        deadline = time.monotonic() + 3.0
        forwarded = 0
        while forwarded < len(frames) and time.monotonic() < deadline:
            fwd.wait(0, 0.05)
            burst = fwd.rx_burst(0, 64)
            try:
                while len(burst) and time.monotonic() < deadline:
                    forwarded += out.tx_burst(burst)
            finally:
                burst.free()
        assert fwd.ring.in_use == 0  # sent frames gave their blocks back
        got = receive(dst, len(frames))
        assert got == frames
        assert out.stats()["opackets"] >= len(frames)


def test_zero_copy_packets_sent_back_out_of_the_same_port(veth, pool, zc_ports):
    frames = [test_frame(i, 500) for i in range(30)]
    with open_port(veth.a, veth.if_a, pool) as peer:
        port = zc_ports(veth.b, veth.if_b)
        assert send_all(peer, pool, frames) == 30
        deadline = time.monotonic() + 3.0
        echoed = 0
        while echoed < 30 and time.monotonic() < deadline:
            port.wait(0, 0.05)
            burst = port.rx_burst(0, 64)
            try:
                echoed += port.tx_burst(burst)
            finally:
                burst.free()
        assert receive(peer, 30) == frames
        assert port.ring.in_use == 0


def test_close_with_zero_copy_packets_held_is_refused(veth, pool):
    with open_port(veth.a, veth.if_a, pool) as tx:
        rx = open_port(veth.b, veth.if_b, None, zero_copy=True)
        ring = rx.ring
        assert send_all(tx, pool, [test_frame(1, 100)]) == 1
        rx.wait(0, 1.0)
        time.sleep(0.05)
        burst = rx.rx_burst(0, 16)
        assert len(burst) >= 1
        with pytest.raises(PacketStateError, match="still hold ring blocks") as info:
            rx.close()
        assert info.value.errno == errno.EBUSY
        assert not rx.is_closed
        burst.free()
        rx.close()
        assert rx.is_closed and ring.in_use == 0 and not ring.is_open


def test_restart_with_zero_copy_packets_held(veth, pool, zc_ports):
    # Packets held across stop/start stay valid and keep their block; frames
    # that arrived while the port was stopped are discarded by start(), as
    # in copy mode; reception then goes on.
    first = [test_frame(i, 300) for i in range(10)]
    while_stopped = [test_frame(100 + i, 300) for i in range(10)]
    after = [test_frame(200 + i, 300) for i in range(10)]
    with open_port(veth.a, veth.if_a, pool) as tx:
        rx = zc_ports(veth.b, veth.if_b, block_timeout_ms=10)
        ring = rx.ring
        assert send_all(tx, pool, first) == len(first)
        held, got = [], []
        deadline = time.monotonic() + 3.0
        while len(got) < len(first) and time.monotonic() < deadline:
            rx.wait(0, 0.05)
            burst = rx.rx_burst(0, 256)
            held.append(burst)
            got += [f for f in burst.to_bytes_list() if f in first]
        try:
            assert got == first
            blocks = ring.blocks_held
            assert blocks >= 1
            rx.stop()
            assert send_all(tx, pool, while_stopped) == len(while_stopped)
            time.sleep(0.1)  # past the block timeout: the kernel retires the block
            rx.start()
            assert ring.blocks_held == blocks  # held blocks were not handed back
            assert send_all(tx, pool, after) == len(after)
            assert receive(rx, len(after)) == after  # nothing from while stopped
            assert [f for b in held for f in b.to_bytes_list() if f in first] == first
        finally:
            for burst in held:
                burst.free()
        assert ring.in_use == 0 and ring.blocks_held == 0


def test_port_garbage_collected_with_packets_held_keeps_them_valid(veth, pool):
    frame = test_frame(5, 700)
    with open_port(veth.a, veth.if_a, pool) as tx:
        rx = open_port(veth.b, veth.if_b, None, zero_copy=True)
        assert send_all(tx, pool, [frame]) == 1
        rx.wait(0, 1.0)
        time.sleep(0.05)
        burst = rx.rx_burst(0, 16)
        with pytest.warns(ResourceWarning, match="without close"):
            del rx
            gc.collect()
        # The ring stays mapped until the last packet goes.
        assert frame in burst.to_bytes_list()
        burst.free()


def test_zero_copy_bad_configuration(veth, pool, request):
    with netns.inside(veth.a):
        with pytest.raises(ValueError, match="pass no pool"):
            AfPacketPort(veth.if_a, pool, zero_copy=True)
        with pytest.raises(ValueError, match="only with zero_copy=True"):
            AfPacketPort(veth.if_a, pool, headroom=64)
        with pytest.raises(ValueError, match="headroom must be between"):
            AfPacketPort(veth.if_a, zero_copy=True, headroom=1000)
        with pytest.raises(ValueError, match="headroom must be between"):
            AfPacketPort(veth.if_a, zero_copy=True, headroom=-1)
        port = AfPacketPort(veth.if_a, zero_copy=True)
    with port:
        port.start()
        with pytest.raises(PoolError, match="cannot allocate"):
            port.ring.alloc_burst(1)
        if dpdk.AVAILABLE:        # packets of another backend: refused
            burst = request.getfixturevalue("mempool").alloc_burst(1, 60)
            with pytest.raises(ValueError, match=r"\(mbuf\) cannot be sent on a port of another"):
                port.tx_burst(burst)
            burst.free()


def test_tx_burst_is_the_one_of_every_port():
    # Buffers and zero-copy frames go through pd_port_io.tx_burst_ops: the
    # AF_PACKET port has no tx_burst of its own (the forwarding tests above
    # send zero-copy frames of one port out of another through it).
    from pydpdk._burst import PortBase

    assert "tx_burst" not in vars(AfPacketPort)
    assert AfPacketPort.tx_burst is PortBase.tx_burst


@pytest.mark.parametrize("mac", ["d2:00:e1:4c:53:f2", "02:00:00:00:00:01", "00:11:00:00:22:00"])
def test_mac_with_zero_bytes_is_reported_whole(veth, pool, mac):
    netns.ns_exec(veth.a, "ip", "link", "set", veth.if_a, "address", mac)
    with open_port(veth.a, veth.if_a, pool) as port:
        assert port.mac == mac
