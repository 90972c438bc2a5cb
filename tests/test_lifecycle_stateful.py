"""Stateful property test of the public object lifecycle (issue 10).

A hypothesis RuleBasedStateMachine drives pools (BufferPool and a
DPDK Mempool with a net_ring pair when DPDK is built in), LoopbackPorts,
bursts, packets, memoryviews, pipelines and FEC encoders/decoders through
alloc / write / read / view / send / receive / free / close / del / gc in
random orders, some steps from a second thread.  A model knows every packet
(its pool and its 8-byte tag); after every step each pool still referenced
must have exactly the model's packets in use and the model's holders, and
every packet received must carry the tag that was sent.  Dropping a pool
while its packets sit in another pool's port is allowed, and must not make
them invalid.  Bounded: a few hundred steps in all, seconds of run time.
"""

from __future__ import annotations

import gc
import itertools
import sys
import threading
import warnings
from collections import deque

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from pydpdk import dpdk
from pydpdk._burst import LoopbackPort
from pydpdk._native import BufferPool
from pydpdk.errors import ConcurrentUseError, PacketStateError, PoolError
from pydpdk.fec import Decoder, Encoder
from pydpdk.pipeline import Discard, Generator, Pipeline

_tags = itertools.count(1)


def in_thread(fn):
    """Run fn() on a second thread; its result or exception comes back here."""
    out = {}

    def body():
        try:
            out["value"] = fn()
        except BaseException as exc:     # re-raised in the caller
            out["error"] = exc

    t = threading.Thread(target=body)
    t.start()
    t.join(60)
    assert not t.is_alive(), "a step did not finish"
    if "error" in out:
        raise out["error"]
    return out.get("value")


class PoolModel:
    def __init__(self, obj, backend):
        self.obj = obj
        self.backend = backend       # packets of one backend can go to its ports only
        self.ports = 0               # open ports holding it
        self.elements = 0            # live pipeline elements holding it
        self.closed = False


class BurstModel:
    def __init__(self, obj, tags):
        self.obj = obj
        self.tags = tags             # [(pool key, tag)] in order
        self.views = []


class PortModel:
    def __init__(self, obj, pool_key, backend, rx_of=None):
        self.obj = obj
        self.pool_key = pool_key
        self.backend = backend
        self.queue = deque()          # (pool key, tag) waiting to be received
        self.rx_of = rx_of            # net_ring: where what is sent arrives
        self.pair = None              # net_ring: names of the pair
        self.closed = False


_pairs = itertools.count()


class Lifecycle(RuleBasedStateMachine):
    eal = None                        # the session's Eal when DPDK is tested

    def __init__(self):
        super().__init__()
        self.pools: dict[int, PoolModel] = {}
        self.dropped: set[int] = set()     # pool keys whose object we let go of
        self.bursts: list[BurstModel] = []
        self.ports: list[PortModel] = []
        self.elements: list[tuple[int, object]] = []
        self.codecs = [Encoder(4, 2, max_payload=64), Decoder(max_payload=64)]
        self.next_key = itertools.count()

    pools_b = Bundle("pools")

    # ---- pools --------------------------------------------------------------

    @rule(target=pools_b, kind=st.sampled_from(["buffer", "mbuf"]),
          capacity=st.integers(8, 64))
    def new_pool(self, kind, capacity):
        if kind == "mbuf" and self.eal is None:
            kind = "buffer"
        if kind == "buffer":
            obj, backend = BufferPool(capacity, data_room=256, headroom=64), "buf"
        else:
            obj, backend = dpdk.Mempool(max(capacity, 63), cache_size=0), "mbuf"
        key = next(self.next_key)
        self.pools[key] = PoolModel(obj, backend)
        return key

    def usable(self, key):
        return key not in self.dropped and not self.pools[key].closed

    @rule(key=pools_b, n=st.integers(1, 16), threaded=st.booleans())
    def alloc(self, key, n, threaded):
        if not self.usable(key):
            return
        pool = self.pools[key].obj
        expect_ok = pool.available >= n
        tags = [(key, next(_tags)) for _ in range(n)]

        def work():
            burst = pool.alloc_burst(n, 8)
            for pkt, (_k, tag) in zip(burst, tags):
                pkt.write(0, tag.to_bytes(8, "little"))
            return burst

        try:
            burst = in_thread(work) if threaded else work()
        except PoolError:
            assert not expect_ok
            return
        assert expect_ok
        self.bursts.append(BurstModel(burst, tags))

    @rule(key=pools_b)
    def close_pool(self, key):
        if not self.usable(key):
            return
        m = self.pools[key]
        in_use = self.in_use_of(key)
        try:
            m.obj.close()
        except PoolError as exc:
            assert in_use or m.ports, f"close refused: {exc}"
            return
        # idle pipeline elements only defer the free (the pool is closed)
        assert not (in_use or m.ports), "close accepted while in use"
        assert not m.obj.is_open and m.obj.holders == m.elements
        m.closed = True

    @rule(key=consumes(pools_b))
    def drop_pool(self, key):
        # Let go of our reference: the pool object may be collected while its
        # packets are still out (in bursts or another pool's port).
        if key in self.dropped:
            return
        self.dropped.add(key)
        m = self.pools[key]
        if m.closed:
            return
        m.obj = None

    # ---- bursts, packets, views --------------------------------------------

    @precondition(lambda self: self.bursts)
    @rule(data=st.data())
    def free_burst(self, data):
        b = data.draw(st.sampled_from(self.bursts))
        try:
            b.obj.free()
        except BufferError:
            assert b.views
            return
        assert not b.views
        self.bursts.remove(b)

    @precondition(lambda self: self.bursts)
    @rule(data=st.data())
    def drop_burst(self, data):
        b = data.draw(st.sampled_from(self.bursts))
        for v in b.views:
            v.release()
        b.views.clear()
        self.bursts.remove(b)
        b.obj = None                 # frees its packets (with a ResourceWarning)

    @precondition(lambda self: self.bursts)
    @rule(data=st.data(), offset=st.sampled_from([0, 4, 8, 9, 2**31, 2**32 + 1, sys.maxsize]),
          n=st.sampled_from([0, 1, 4, 8, 2**32, sys.maxsize]))
    def read_write(self, data, offset, n):
        b = data.draw(st.sampled_from(self.bursts))
        if not b.tags:
            return
        i = data.draw(st.integers(0, len(b.tags) - 1))
        pkt = b.obj[i]
        fits = offset + n <= 8
        try:
            got = pkt.read(offset, n)
            assert fits and len(got) == n
        except IndexError:
            assert not fits
        try:
            pkt.write(offset, b"")
            assert offset <= 8
        except IndexError:
            assert offset > 8
        assert pkt.read(0, 8) == b.tags[i][1].to_bytes(8, "little")

    @precondition(lambda self: self.bursts)
    @rule(data=st.data())
    def take_view(self, data):
        b = data.draw(st.sampled_from(self.bursts))
        if not b.tags:
            return
        i = data.draw(st.integers(0, len(b.tags) - 1))
        view = memoryview(b.obj[i])
        assert bytes(view[:8]) == b.tags[i][1].to_bytes(8, "little")
        b.views.append(view)

    @precondition(lambda self: any(b.views for b in self.bursts))
    @rule(data=st.data())
    def release_view(self, data):
        b = data.draw(st.sampled_from([b for b in self.bursts if b.views]))
        b.views.pop().release()

    # ---- ports ----------------------------------------------------------------

    @rule(key=pools_b, depth=st.integers(1, 48))
    def new_loopback(self, key, depth):
        if not self.usable(key):
            return
        m = self.pools[key]
        port = LoopbackPort(m.obj, depth=depth)
        port.start()
        m.ports += 1
        self.ports.append(PortModel(port, key, m.backend))

    @rule(key=pools_b)
    def new_ring_pair_ports(self, key):
        if self.eal is None or not self.usable(key) or self.pools[key].backend != "mbuf":
            return
        m = self.pools[key]
        n = next(_pairs)
        pair = (f"lcsm{n}a", f"lcsm{n}b")
        dev_a, dev_b = self.eal.ring_pair(*pair, depth=64)
        a = dpdk.Port(dev_a, m.obj, rx_ring_size=64, tx_ring_size=64)
        b = dpdk.Port(dev_b, m.obj, rx_ring_size=64, tx_ring_size=64)
        a.start()
        b.start()
        m.ports += 2
        pa, pb = PortModel(a, key, "mbuf"), PortModel(b, key, "mbuf")
        pa.rx_of, pb.rx_of = pb, pa      # sent on a arrives on b, and back
        pa.pair = pb.pair = pair
        self.ports += [pa, pb]

    @precondition(lambda self: self.bursts and any(not p.closed for p in self.ports))
    @rule(data=st.data(), threaded=st.booleans())
    def send(self, data, threaded):
        b = data.draw(st.sampled_from(self.bursts))
        p = data.draw(st.sampled_from([p for p in self.ports if not p.closed]))
        backends = {self.pools[k].backend for k, _ in b.tags}
        try:
            sent = in_thread(lambda: p.obj.tx_burst(b.obj)) if threaded else p.obj.tx_burst(b.obj)
        except BufferError:
            assert b.views
            return
        except ValueError:
            assert backends and backends != {p.backend}
            return
        assert not (b.views and b.tags)
        moved, b.tags = b.tags[:sent], b.tags[sent:]
        (p.rx_of or p).queue.extend(moved)

    @precondition(lambda self: any(not p.closed for p in self.ports))
    @rule(data=st.data(), n=st.integers(1, 32), threaded=st.booleans())
    def receive(self, data, n, threaded):
        p = data.draw(st.sampled_from([p for p in self.ports if not p.closed]))
        burst = in_thread(lambda: p.obj.rx_burst(max_packets=n)) if threaded \
            else p.obj.rx_burst(max_packets=n)
        expected = [p.queue.popleft() for _ in range(min(n, len(p.queue)))]
        assert len(burst) == len(expected)
        assert [pkt.read(0, 8) for pkt in burst] == [t.to_bytes(8, "little")
                                                      for _, t in expected]
        self.bursts.append(BurstModel(burst, expected))

    @precondition(lambda self: any(not p.closed for p in self.ports))
    @rule(data=st.data())
    def close_port(self, data):
        p = data.draw(st.sampled_from([p for p in self.ports if not p.closed]))
        self.close(p)

    def close(self, p):
        p.obj.close()
        p.closed = True
        self.pools[p.pool_key].ports -= 1
        if p.pair is None:
            p.queue.clear()          # LoopbackPort.close() frees what was queued
        elif p.rx_of.closed:
            # mbufs in a net_ring stay there until the pair is removed
            self.eal.remove_ring_pair(*p.pair)
            p.queue.clear()
            p.rx_of.queue.clear()

    # ---- pipelines and codecs ---------------------------------------------

    @rule(key=pools_b, count=st.integers(1, 200), keep=st.booleans())
    def run_pipeline(self, key, count, keep):
        if not self.usable(key):
            return
        m = self.pools[key]
        gen = Generator(m.obj, sizes=(64,), count=count)
        sink = Discard(m.obj)
        m.elements += 2
        pipe = Pipeline().add(gen, sink=sink, burst=8)
        # (the generator would wait while the pool is exhausted)
        if m.obj.available >= 8:
            result = pipe.run(duration=10.0)
            assert result["packets"] == count, result
        if keep:                     # the elements keep holding the pool
            self.elements.append((key, (pipe, gen, sink)))
        else:
            del pipe, gen, sink          # no cycle: freed here, holds released
            m.elements -= 2

    @precondition(lambda self: self.elements)
    @rule(data=st.data())
    def drop_pipeline(self, data):
        # (an index: hypothesis keeps what it draws, which would keep them alive)
        key, _objects = self.elements.pop(data.draw(st.integers(0, len(self.elements) - 1)))
        del _objects
        self.pools[key].elements -= 2

    @precondition(lambda self: self.bursts)
    @rule(data=st.data(), threaded=st.booleans())
    def fec_roundtrip(self, data, threaded):
        b = data.draw(st.sampled_from(self.bursts))
        if not b.tags or b.views:
            return
        payloads = b.obj.to_bytes_list()
        enc, dec = self.codecs

        def work():
            return dec.decode(enc.encode(payloads, now=0) + enc.flush(), now=0)

        try:
            out = in_thread(work) if threaded else work()
        except ConcurrentUseError:
            raise AssertionError("one thread at a time: no concurrent use here") from None
        assert payloads == out[:len(payloads)]

    @rule()
    def collect(self):
        gc.collect(1)      # young generations: a full pass costs ~60 ms here

    # ---- the invariant ------------------------------------------------------

    def in_use_of(self, key):
        n = sum(1 for b in self.bursts for k, _ in b.tags if k == key)
        return n + sum(1 for p in self.ports for k, _ in p.queue if k == key)

    @invariant()
    def every_buffer_is_accounted_for(self):
        for key, m in self.pools.items():
            if key in self.dropped or m.closed:
                continue
            assert m.obj.in_use == self.in_use_of(key), (key, m.obj)
            assert m.obj.holders == m.ports + m.elements
        for b in self.bursts:
            assert len(b.obj) == len(b.tags)

    def teardown(self):
        for b in self.bursts:
            for v in b.views:
                v.release()
            b.views.clear()
            b.obj.free()
        self.bursts.clear()
        for p in self.ports:
            if not p.closed:
                self.close(p)
        self.ports.clear()
        self.elements.clear()
        for key, m in self.pools.items():
            if key not in self.dropped and not m.closed:
                assert m.obj.in_use == 0
                m.obj.close()
        for c in self.codecs:
            c.close()


SETTINGS = settings(max_examples=80, stateful_step_count=40, deadline=None,
                    suppress_health_check=list(HealthCheck))


def run_machine():
    # Dropped bursts and pools warn (ResourceWarning) by design; the tests
    # here are about what happens to their memory.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        run_state_machine_as_test(Lifecycle, settings=SETTINGS)
        gc.collect()


def test_lifecycle_state_machine_native():
    Lifecycle.eal = None
    run_machine()


@pytest.mark.skipif(not dpdk.AVAILABLE, reason="pydpdk built without DPDK")
def test_lifecycle_state_machine_with_dpdk(eal):
    Lifecycle.eal = eal
    try:
        run_machine()
    finally:
        Lifecycle.eal = None


def test_stale_packet_views_never_outlive_their_burst():
    # A packet taken before its burst moved raises instead of reading freed memory.
    pool = BufferPool(8)
    burst = pool.alloc_burst(2, 8)
    pkt = burst[1]
    burst.free()
    with pytest.raises(PacketStateError):
        bytes(memoryview(pkt))
    pool.close()
