"""Event-driven idle: a pipeline over descriptor ports sleeps in poll().

Real kernel UDP sockets on 127.0.0.1: an idle pipeline whose source is a
UdpPort blocks on its socket (``waits``) instead of polling with 50 µs sleeps,
wakes for the datagrams that arrive, and still closes a FEC block on its
deadline while nothing arrives.
"""

from __future__ import annotations

import time

import pytest
from test_udp_port import udp_pair

from pydpdk.pipeline import Discard, FecEncodeStage, Pipeline

native = pytest.importorskip("pydpdk._native", reason="no native buffers")


def test_idle_udp_pipeline_blocks_and_wakes_for_traffic_and_deadlines():
    pool = native.BufferPool(capacity=512)
    with udp_pair(pool) as (a, b):
        enc = FecEncodeStage(pool, k=10, m=4, deadline=0.02, encap="none")
        sink = Discard(pool)
        pipe = Pipeline().add(a, enc, sink=sink)
        pipe.start()
        try:
            time.sleep(0.2)                       # idle: blocked in poll()
            burst = pool.burst_from_bytes([bytes([i]) * 200 for i in range(3)])
            try:
                assert b.tx_burst(burst) == 3
            finally:
                burst.free()
            # 3 of 10 sources: only the 20 ms deadline closes the block, while
            # the loop sleeps (generous wait for a starved CPU)
            deadline = time.monotonic() + 10
            while enc.counters["repair_packets"] == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert enc.counters["repair_packets"] == 4
            assert enc.counters["source_packets"] == 3
        finally:
            result = pipe.stop()
    assert result["packets"] == 3
    assert result["waits"] > 0 and result["wakeups"] >= 1
    # no 50 µs sleep back-off while descriptors can be waited on
    assert result["sleeps"] <= result["waits"]
