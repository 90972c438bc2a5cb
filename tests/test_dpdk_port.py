"""DPDK ports and pools over net_null / net_ring vdevs: configuration, info, bursts, misuse."""

import errno
import gc

import numpy as np
import pytest
from conftest import requires_dpdk

from pydpdk import dpdk
from pydpdk._burst import BURST_MAX
from pydpdk.errors import PacketStateError, PoolError, PortError

pytestmark = requires_dpdk


def test_rss_flags_match_the_installed_headers():
    from pydpdk._dpdk_ethdev import RSS_HEADER_VALUES

    for flag in dpdk.RssHash:
        assert flag.value == RSS_HEADER_VALUES[flag.name], flag.name


def test_open_by_name_and_by_id(vdev, mempool, eal):
    name = vdev("net_null")
    pid = [p for p, n in eal.ports().items() if n == name][0]
    with dpdk.Port(name, mempool) as by_name:
        assert by_name.port_id == pid and by_name.name == name
        with pytest.raises(PortError, match="already open") as info:
            dpdk.Port(pid, mempool)
        assert info.value.errno == errno.EBUSY
    # Closing an ethdev releases it (DPDK semantics): the id is gone until the
    # vdev is added again.
    with pytest.raises(PortError, match="no DPDK port"):
        dpdk.Port(pid, mempool)
    eal.remove_vdev(name)
    eal.add_vdev(name)
    pid = [p for p, n in eal.ports().items() if n == name][0]
    with dpdk.Port(pid, mempool) as by_id:
        assert by_id.name == name


@pytest.mark.parametrize("device", [999, 65535, -1, "net_null_missing"])
def test_nonexistent_port_is_refused(eal, mempool, device):
    with pytest.raises(PortError) as info:
        dpdk.Port(device, mempool)
    assert info.value.errno == errno.ENODEV
    assert "no DPDK port" in str(info.value)


def test_device_of_wrong_type(eal, mempool):
    with pytest.raises(TypeError):
        dpdk.Port(1.5, mempool)
    with pytest.raises(TypeError):
        dpdk.Port(True, mempool)


def test_info_link_mac_mtu_promiscuous(vdev, open_port):
    port = open_port(vdev("net_null"), start=False, promiscuous=True)
    info = port.info()
    assert info["driver"] == "net_null" and port.driver == "net_null"
    assert info["max_rx_queues"] >= 1 and info["socket"] >= 0
    assert len(port.mac.split(":")) == 6
    assert port.promiscuous is True
    with pytest.raises(PortError, match="cannot disable promiscuous") as info:
        port.promiscuous = False  # net_null cannot
    assert info.value.errno == errno.ENOTSUP
    port.mtu = 9000
    assert port.mtu == 9000
    with pytest.raises(ValueError, match="mtu"):
        port.mtu = 10
    port.start()
    assert port.link["up"] is True and port.link["speed_mbps"] > 0


def test_queues_ring_sizes_and_rss(vdev, open_port):
    port = open_port(vdev("net_null"), rx_queues=4, tx_queues=2, rx_ring_size=512,
                     tx_ring_size=256, rss=dpdk.RssHash.IPV4 | dpdk.RssHash.NONFRAG_IPV4_UDP)
    assert port.rx_queues == 4 and port.tx_queues == 2
    assert port.rx_ring_size == 512 and port.tx_ring_size == 256
    assert port.rss_hf & dpdk.RssHash.IPV4
    for q in range(4):
        burst = port.rx_burst(queue=q, max_packets=3)
        assert len(burst) == 3
        burst.free()
    with pytest.raises(ValueError, match="rx queue 4 does not exist"):
        port.rx_burst(queue=4)
    burst = port.rx_burst()
    with pytest.raises(ValueError, match="tx queue 2 does not exist"):
        port.tx_burst(burst, queue=2)
    burst.free()


def test_bad_configuration_values(vdev, mempool):
    name = vdev("net_null")
    with pytest.raises(ValueError, match="rx_queues"):
        dpdk.Port(name, mempool, rx_queues=0)
    with pytest.raises(ValueError, match="tx_queues"):
        dpdk.Port(name, mempool, tx_queues=5000)
    with pytest.raises(ValueError, match="rx_ring_size"):
        dpdk.Port(name, mempool, rx_ring_size=0)
    with pytest.raises(ValueError, match="mtu"):
        dpdk.Port(name, mempool, mtu=10)


@pytest.mark.parametrize("max_packets", [0, -1, BURST_MAX + 1])
def test_burst_size_limits(null_pair, max_packets):
    a, _ = null_pair
    with pytest.raises(ValueError, match="max_packets must be between 1 and 256"):
        a.rx_burst(max_packets=max_packets)


def test_full_size_burst(null_pair):
    a, b = null_pair
    burst = a.rx_burst(max_packets=BURST_MAX)
    assert len(burst) == BURST_MAX
    assert b.tx_burst(burst) == BURST_MAX
    assert len(burst) == 0


def test_stopped_and_closed_ports_refuse_io(vdev, mempool):
    port = dpdk.Port(vdev("net_null"), mempool)
    with pytest.raises(PortError, match="not started"):
        port.rx_burst()
    port.start()
    port.stop()
    with pytest.raises(PortError, match="not started") as info:
        port.rx_burst()
    assert info.value.errno == errno.ENETDOWN
    port.close()
    port.close()
    for op in (port.start, port.rx_burst, port.stats, port.xstats, port.info,
               lambda: port.mac):
        with pytest.raises(PortError, match="closed"):
            op()


def test_stats_xstats_and_reset(null_pair):
    a, b = null_pair
    for _ in range(3):
        burst = a.rx_burst(max_packets=10)
        b.tx_burst(burst)
        burst.free()
    assert a.stats()["ipackets"] == 30
    assert b.stats()["opackets"] == 30
    xs = a.xstats()
    assert xs["rx_good_packets"] == 30
    a.reset_stats()
    assert a.stats()["ipackets"] == 0 and a.xstats()["rx_good_packets"] == 0


def test_ring_pair_carries_bytes_both_ways(ring_pair, mempool):
    a, b = ring_pair
    assert a.info()["driver"] == "net_ring"
    a.promiscuous = False
    assert a.promiscuous is False
    a.promiscuous = True
    assert a.promiscuous is True
    frames = [bytes([i]) * (60 + i) for i in range(20)]
    burst = mempool.burst_from_bytes(frames)
    assert a.tx_burst(burst) == 20
    got = b.rx_burst(max_packets=BURST_MAX)
    assert got.to_bytes_list() == frames
    assert b.tx_burst(got) == 20
    back = a.rx_burst(max_packets=BURST_MAX)
    assert back.to_bytes_list() == frames
    back.free()


def test_partial_tx_on_a_full_ring_leaves_the_tail(ring_pair, mempool):
    a, b = ring_pair  # rings hold 255 packets
    first = mempool.burst_from_bytes([b"x" * 60] * 200)
    second = mempool.burst_from_bytes([b"y" * 60] * 200)
    assert a.tx_burst(first) == 200
    sent = a.tx_burst(second)
    assert 0 < sent < 200
    assert len(second) == 200 - sent
    assert second[0].bytes() == b"y" * 60
    assert a.tx_burst(second) == 0
    second.free()
    while True:
        got = b.rx_burst(max_packets=BURST_MAX)
        if not got:
            break
        got.free()


def test_sent_packet_is_stale(ring_pair, mempool):
    a, b = ring_pair
    burst = mempool.burst_from_bytes([b"a" * 64, b"b" * 64])
    pkt = burst[0]
    view = memoryview(burst[1])
    with pytest.raises(BufferError):
        a.tx_burst(burst)
    view.release()
    a.tx_burst(burst)
    with pytest.raises(PacketStateError):
        pkt.bytes()
    with pytest.raises(PacketStateError):
        memoryview(pkt)
    b.rx_burst().free()


def test_headers_rewrite_macs_on_mbufs(ring_pair, mempool):
    a, b = ring_pair
    frames = [bytes(range(64)) for _ in range(32)]
    burst = mempool.burst_from_bytes(frames)
    new_dst = np.frombuffer(bytes.fromhex("0a0b0c0d0e0f"), dtype=np.uint8)
    with burst.headers(14) as h:
        h[:, 6:12] = h[:, 0:6]
        h[:, 0:6] = new_dst
    a.tx_burst(burst)
    got = b.rx_burst()
    for data in got.to_bytes_list():
        assert data[:6] == bytes.fromhex("0a0b0c0d0e0f")
        assert data[6:12] == bytes(range(6)) and data[12:] == bytes(range(12, 64))
    got.free()


def test_pool_exhaustion_makes_rx_return_fewer(vdev, eal):
    small = dpdk.Mempool(63, cache_size=0)
    try:
        with dpdk.Port(vdev("net_null"), small, rx_ring_size=32) as port:
            port.start()
            held = []
            for _ in range(4):  # asks for 128 packets from a pool of 63
                held.append(port.rx_burst(max_packets=32))
            got = [len(b) for b in held]
            assert got[0] == 32 and sum(got) <= 63 and 0 in got
            assert small.available == 63 - sum(got)
            with pytest.raises(PoolError, match="exhausted"):
                small.alloc_burst(32)
            for b in held:
                b.free()
            assert small.in_use == 0
            again = port.rx_burst(max_packets=32)  # recovers once mbufs are back
            assert len(again) == 32
            again.free()
    finally:
        small.close()


def test_mempool_counts_and_close_refused_while_in_use(eal):
    pool = dpdk.Mempool(127, cache_size=0, data_room=1152)
    assert pool.capacity == 127 and pool.available == 127 and pool.in_use == 0
    assert pool.data_room == 1152
    burst = pool.alloc_burst(10, length=1000)
    assert pool.in_use == 10
    with pytest.raises(ValueError, match="buffer room"):
        pool.alloc_burst(1, length=1100)
    with pytest.raises(PoolError, match="10 mbuf"):
        pool.close()
    burst.free()
    pool.close()
    pool.close()
    with pytest.raises(PoolError, match="closed"):
        pool.alloc_burst(1)


def test_mempool_bad_arguments(eal):
    with pytest.raises(ValueError, match="data_room"):
        dpdk.Mempool(127, data_room=64)
    with pytest.raises(ValueError, match="cache_size"):
        dpdk.Mempool(127, cache_size=600)
    with dpdk.Mempool(63, cache_size=0, name="dup_pool") as pool:
        with pytest.raises(PoolError, match="dup_pool") as info:
            dpdk.Mempool(63, cache_size=0, name="dup_pool")
        assert info.value.errno == errno.EEXIST
        assert pool.name == "dup_pool"


def test_collected_burst_returns_its_mbufs(null_pair, mempool):
    a, _ = null_pair
    burst = a.rx_burst(max_packets=16)
    assert mempool.in_use >= 16
    with pytest.warns(ResourceWarning):
        del burst
        gc.collect()


def test_dropped_port_and_pool_are_released_with_a_warning(vdev, eal):
    name = vdev("net_null")
    pool = dpdk.Mempool(63, cache_size=0)
    port = dpdk.Port(name, pool)
    port.start()
    with pytest.warns(ResourceWarning, match="garbage-collected while open"):
        del port
        gc.collect()
    with pytest.warns(ResourceWarning, match="without close"):
        del pool
        gc.collect()
    # The ethdev was closed, so the vdev can be removed and the name reused.
    eal.remove_vdev(name)
    eal.add_vdev(name)
