"""Property tests: any sequence of packet edits behaves like editing a bytearray,
on every pool kind; refused edits leave the packet unchanged."""

import gc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pydpdk import dpdk
from pydpdk._native import BufferPool

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("prepend"), st.binary(max_size=200)),
        st.tuples(st.just("append"), st.binary(max_size=700)),
        st.tuples(st.just("adj"), st.integers(0, 300)),
        st.tuples(st.just("trim"), st.integers(0, 300)),
        st.tuples(st.just("write"), st.integers(0, 100), st.binary(max_size=50)),
    ),
    max_size=25,
)


@pytest.fixture(params=["buffer", "mbuf"])
def any_pool(request):
    if request.param == "buffer":
        pool = BufferPool(capacity=64)
        yield pool
        pool.close()
    else:
        if not dpdk.AVAILABLE:
            pytest.skip("pydpdk built without DPDK")
        yield request.getfixturevalue("mempool")


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(initial=st.binary(max_size=300), ops=OPS)
def test_packet_edits_match_a_bytearray_model(any_pool, initial, ops):
    burst = any_pool.burst_from_bytes([initial])
    pkt = burst[0]
    model = bytearray(initial)
    try:
        for op, *args in ops:
            before = pkt.bytes()
            head, tail = pkt.headroom, pkt.tailroom
            if op == "prepend":
                if len(args[0]) <= head:
                    pkt.prepend(args[0])
                    model[0:0] = args[0]
                else:
                    with pytest.raises(ValueError):
                        pkt.prepend(args[0])
            elif op == "append":
                if len(args[0]) <= tail:
                    pkt.append(args[0])
                    model += args[0]
                else:
                    with pytest.raises(ValueError):
                        pkt.append(args[0])
            elif op == "adj":
                if args[0] <= len(model):
                    pkt.adj(args[0])
                    del model[:args[0]]
                else:
                    with pytest.raises(ValueError):
                        pkt.adj(args[0])
            elif op == "trim":
                if args[0] <= len(model):
                    pkt.trim(args[0])
                    del model[len(model) - args[0]:]
                else:
                    with pytest.raises(ValueError):
                        pkt.trim(args[0])
            else:
                offset, data = args
                if offset + len(data) <= len(model):
                    pkt.write(offset, data)
                    model[offset:offset + len(data)] = data
                else:
                    with pytest.raises(IndexError):
                        pkt.write(offset, data)
            if pkt.bytes() != bytes(model):
                raise AssertionError(f"{op}{tuple(args)} diverged from {before!r}")
            assert len(pkt) == len(model)
            assert pkt.headroom + len(pkt) + pkt.tailroom == head + len(before) + tail
            assert bytes(memoryview(pkt)) == bytes(model)
    finally:
        burst.free()
        gc.collect()
    assert any_pool.in_use == 0
