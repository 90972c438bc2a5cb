"""The backend-neutral burst core over every pool kind: the native BufferPool
(every build) and DPDK's Mempool (mbufs), with LoopbackPort as the port."""

import gc

import numpy as np
import pytest

from pydpdk import dpdk
from pydpdk._burst import BURST_MAX, Burst, LoopbackPort, Packet, PortBase
from pydpdk._native import BufferPool
from pydpdk.errors import PacketStateError, PoolError, PortError


@pytest.fixture(params=["buffer", "mbuf"])
def pool(request):
    if request.param == "buffer":
        p = BufferPool(capacity=512, data_room=2048, headroom=128)
    else:
        if not dpdk.AVAILABLE:
            pytest.skip("pydpdk built without DPDK")
        p = request.getfixturevalue("mempool")  # same room: 2176 bytes, 128 headroom
    yield p
    gc.collect()
    assert p.in_use == 0, "a test leaked packets"
    if request.param == "buffer":
        p.close()


@pytest.fixture
def port(pool):
    with LoopbackPort(pool, queues=2, depth=64) as p:
        p.start()
        yield p


def frames(n, size=60):
    return [bytes([i % 256]) * size for i in range(n)]


def test_alloc_burst_counts_and_lengths(pool):
    burst = pool.alloc_burst(10, length=100)
    assert len(burst) == 10 and bool(burst)
    assert pool.in_use == 10 and pool.available == pool.capacity - 10
    assert burst.lengths().tolist() == [100] * 10
    assert burst.lengths().dtype == np.uint32
    burst.free()
    assert len(burst) == 0 and not burst
    burst.free()  # idempotent
    assert pool.in_use == 0


@pytest.mark.parametrize("n", [0, -1, BURST_MAX + 1])
def test_alloc_burst_rejects_bad_sizes(pool, n):
    with pytest.raises(ValueError, match="between 1 and"):
        pool.alloc_burst(n)


def test_alloc_longer_than_room_is_refused_without_leak(pool):
    with pytest.raises(ValueError, match="exceeds the buffer room"):
        pool.alloc_burst(4, length=5000)
    assert pool.in_use == 0


def test_pool_exhaustion_raises_pool_error(pool):
    held = []
    while pool.available:
        held.append(pool.alloc_burst(min(256, pool.available)))
    assert sum(len(b) for b in held) == pool.capacity
    with pytest.raises(PoolError, match="exhausted"):
        pool.alloc_burst(1)
    for b in held:
        b.free()
    assert pool.available == pool.capacity


def test_bytes_round_trip(pool):
    data = frames(5, 64) + [b"", b"x" * 2000]
    burst = pool.burst_from_bytes(data)
    assert burst.to_bytes_list() == data
    assert [p.bytes() for p in burst] == data
    burst.free()


def test_burst_from_bytes_too_long_frees_everything(pool):
    with pytest.raises(ValueError, match="frame 1"):
        pool.burst_from_bytes([b"a", b"b" * 3000])
    assert pool.in_use == 0


def test_burst_and_packet_cannot_be_built_directly():
    with pytest.raises(TypeError):
        Burst()
    with pytest.raises(TypeError):
        Packet()


def test_indexing(pool):
    burst = pool.burst_from_bytes([b"a", b"bb", b"ccc"])
    assert burst[-1].bytes() == b"ccc"
    with pytest.raises(IndexError):
        burst[3]
    with pytest.raises(IndexError):
        burst[-4]
    burst.free()


def test_packet_edit_operations(pool):
    burst = pool.burst_from_bytes([b"payload"])
    pkt = burst[0]
    head, tail = pkt.headroom, pkt.tailroom
    pkt.prepend(b"HDR")
    pkt.append(b"!!")
    assert pkt.bytes() == b"HDRpayload!!"
    assert pkt.headroom == head - 3 and pkt.tailroom == tail - 2
    pkt.adj(3)
    pkt.trim(2)
    assert pkt.bytes() == b"payload"
    pkt.append(3)
    assert pkt.bytes() == b"payload\0\0\0"
    pkt.write(0, b"PAY")
    assert pkt.read(0, 4) == b"PAYl" and len(pkt) == 10
    with pytest.raises(IndexError):
        pkt.read(8, 3)
    with pytest.raises(IndexError):
        pkt.write(9, b"xy")
    with pytest.raises(ValueError, match="headroom"):
        pkt.prepend(pkt.headroom + 1)
    with pytest.raises(ValueError, match="tailroom"):
        pkt.append(pkt.tailroom + 1)
    with pytest.raises(ValueError):
        pkt.trim(11)
    with pytest.raises(ValueError):
        pkt.adj(11)
    assert pkt.bytes() == b"PAYload\0\0\0"
    burst.free()


def test_memoryview_is_zero_copy_and_pins_the_burst(pool):
    burst = pool.burst_from_bytes([b"abcdef"])
    pkt = burst[0]
    with memoryview(pkt) as view:
        assert view.nbytes == 6 and not view.readonly
        view[0:3] = b"XYZ"
        assert pkt.bytes() == b"XYZdef"
        with pytest.raises(BufferError):
            burst.free()
        with pytest.raises(BufferError):
            pkt.append(b"g")
        arr = np.frombuffer(pkt, dtype=np.uint8)
        arr[5] = ord("!")
        del arr
    assert pkt.bytes() == b"XYZde!"
    burst.free()


def test_freed_packet_is_stale(pool):
    burst = pool.burst_from_bytes([b"abc", b"def"])
    pkt = burst[1]
    burst.free()
    assert not pkt.is_valid
    for op in (pkt.bytes, lambda: len(pkt), lambda: memoryview(pkt), lambda: pkt.write(0, b"x")):
        with pytest.raises(PacketStateError):
            op()


def test_headers_gather_and_scatter(pool):
    burst = pool.burst_from_bytes([bytes(range(20)), bytes(range(100, 120)), b"\x01\x02"])
    dst = np.frombuffer(b"\xaa" * 6, dtype=np.uint8)
    with burst.headers(14) as h:
        assert h.shape == (3, 14) and h.dtype == np.uint8
        assert h[0].tobytes() == bytes(range(14))
        assert h[2].tobytes() == b"\x01\x02" + bytes(12)  # past the end reads as zero
        h[:, 0:6] = dst
    out = burst.to_bytes_list()
    assert out[0] == b"\xaa" * 6 + bytes(range(6, 20))
    assert out[1] == b"\xaa" * 6 + bytes(range(106, 120))
    assert out[2] == b"\xaa\xaa"  # a short packet keeps its length
    plain = burst.headers(2)
    plain[:] = 0  # without the context manager nothing is written back
    assert burst[0].read(0, 2) == b"\xaa\xaa"
    burst.free()


def test_headers_after_free_are_not_written_back(pool):
    burst = pool.burst_from_bytes([b"x" * 20])
    h = burst.headers(14)
    burst.free()
    with pytest.raises(PacketStateError):
        with h:
            h[:] = 1


def test_gather_into_preallocated_rows(pool):
    burst = pool.burst_from_bytes(frames(4, 30))
    rows = np.zeros((32, 14), dtype=np.uint8)
    assert burst.gather_headers(rows) == 4
    assert rows[3].tolist() == [3] * 14
    rows[:4, 0] = 9
    burst.scatter_headers(rows)
    assert [p.read(0, 1) for p in burst] == [b"\x09"] * 4
    with pytest.raises(ValueError, match="rows"):
        burst.gather_headers(np.zeros((2, 14), dtype=np.uint8))
    burst.free()


def test_collected_burst_frees_and_warns(pool):
    burst = pool.alloc_burst(3)
    with pytest.warns(ResourceWarning, match="3 packet"):
        del burst
        gc.collect()
    assert pool.in_use == 0


def test_pool_close_refused_while_packets_are_out():
    pool = BufferPool(capacity=8)
    burst = pool.alloc_burst(2)
    with pytest.raises(PoolError, match="2 packet"):
        pool.close()
    burst.free()
    pool.close()
    pool.close()
    with pytest.raises(PoolError, match="closed"):
        pool.alloc_burst(1)


def test_loopback_tx_then_rx(port, pool):
    sent = pool.burst_from_bytes(frames(10))
    assert port.tx_burst(sent, queue=1) == 10
    assert len(sent) == 0
    assert port.rx_burst(queue=0).to_bytes_list() == []
    got = port.rx_burst(queue=1, max_packets=4)
    assert got.to_bytes_list() == frames(10)[:4]
    rest = port.rx_burst(queue=1, max_packets=BURST_MAX)
    assert len(rest) == 6
    stats = port.stats()
    assert stats["opackets"] == 10 and stats["ipackets"] == 10 and stats["obytes"] == 600
    got.free()
    rest.free()


def test_partial_tx_leaves_the_tail_with_the_caller(port, pool):
    burst = pool.burst_from_bytes(frames(100))
    first = burst[0]
    assert port.tx_burst(burst) == 64  # queue depth
    assert not first.is_valid
    assert len(burst) == 36
    assert burst[0].bytes() == frames(100)[64]
    assert port.tx_burst(burst) == 0
    burst.free()
    drained = port.rx_burst(max_packets=BURST_MAX)
    assert len(drained) == 64
    drained.free()


def test_tx_refused_while_a_view_is_alive(port, pool):
    burst = pool.burst_from_bytes(frames(2))
    view = memoryview(burst[0])
    with pytest.raises(BufferError):
        port.tx_burst(burst)
    view.release()
    assert port.tx_burst(burst) == 2
    port.rx_burst().free()


@pytest.mark.parametrize("max_packets", [0, -5, BURST_MAX + 1])
def test_rx_burst_size_is_validated(port, max_packets):
    with pytest.raises(ValueError, match="max_packets"):
        port.rx_burst(max_packets=max_packets)


@pytest.mark.parametrize("queue", [-1, 2, 1000])
def test_queue_ids_are_validated(port, pool, queue):
    with pytest.raises(ValueError, match="queue"):
        port.rx_burst(queue=queue)
    burst = pool.alloc_burst(1)
    with pytest.raises(ValueError, match="queue"):
        port.tx_burst(burst, queue=queue)
    burst.free()


def test_stopped_and_closed_port_refuse_io(pool):
    port = LoopbackPort(pool)
    assert isinstance(port, PortBase)
    with pytest.raises(PortError, match="not started"):
        port.rx_burst()
    port.start()
    burst = pool.burst_from_bytes(frames(3))
    port.tx_burst(burst)
    port.stop()
    with pytest.raises(PortError, match="not started"):
        port.rx_burst()
    port.close()
    port.close()  # idempotent
    assert port.is_closed
    for op in (port.start, port.stop, port.stats, port.rx_burst):
        with pytest.raises(PortError, match="closed"):
            op()
    assert pool.in_use == 0  # close freed what was queued


def test_bursts_of_another_pool_kind_are_refused_same_kind_accepted(port, pool):
    with BufferPool(capacity=4) as other:
        burst = other.alloc_burst(2, 10)
        if isinstance(pool, BufferPool):
            # Same kind (native buffers), another pool: sent; the packets go home on free.
            assert port.tx_burst(burst) == 2
            port.rx_burst().free()
        else:
            with pytest.raises(ValueError, match="another backend"):
                port.tx_burst(burst)
            assert len(burst) == 2
            burst.free()
        assert other.in_use == 0


@pytest.mark.parametrize("bad", [
    np.zeros((4, 14), dtype=np.uint16),    # not bytes
    np.zeros(56, dtype=np.uint8),          # not 2-D
    np.zeros((4, 28), dtype=np.uint8)[:, ::2],  # not contiguous
])
def test_gather_and_scatter_reject_unsuitable_arrays(pool, bad):
    burst = pool.burst_from_bytes(frames(4, 30))
    with pytest.raises((ValueError, BufferError)):
        burst.gather_headers(bad)
    with pytest.raises((ValueError, BufferError)):
        burst.scatter_headers(bad)
    burst.free()


def test_gather_needs_a_writable_array(pool):
    burst = pool.burst_from_bytes(frames(2, 30))
    readonly = np.zeros((2, 14), dtype=np.uint8)
    readonly.flags.writeable = False
    with pytest.raises((ValueError, BufferError)):
        burst.gather_headers(readonly)
    assert burst.scatter_headers(readonly) == 2  # reading from it is fine
    assert burst[0].read(0, 14) == bytes(14)
    burst.free()


def test_headers_of_an_empty_burst(port):
    burst = port.rx_burst()
    assert len(burst) == 0
    with burst.headers(14) as h:
        assert h.shape == (0, 14)
    assert burst.lengths().shape == (0,)
