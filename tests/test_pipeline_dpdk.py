"""Pipelines over real DPDK vdevs: net_ring links and net_pcap captures.

The shared session EAL and mempool come from conftest.py; its autouse leak
check asserts the mempool is full again after every test.
"""

import itertools
import os
import signal
import threading
from collections import Counter

import numpy as np
import pytest
from conftest import read_pcap_with_libpcap, requires_dpdk, udp_frames, write_pcap

from pydpdk import dpdk
from pydpdk.errors import PortError
from pydpdk.pipeline import (
    FecDecodeStage,
    FecEncodeStage,
    Generator,
    Impairment,
    Pipeline,
    Verifier,
)

pytestmark = requires_dpdk


def test_fec_across_a_net_ring_link(mempool, ring_pair):
    a, b = ring_pair
    gen = Generator(mempool, sizes=(64, 700, 1400), count=30000)
    enc = FecEncodeStage(mempool, k=10, m=4)
    imp = Impairment(mempool, loss=0.05, seed=8)
    dec = FecDecodeStage(mempool)
    ver = Verifier(mempool, marker_offset=gen.marker_offset)
    pipe = Pipeline().add(gen, enc, sink=a).add(b, imp, dec, sink=ver, burst=256)
    result = pipe.run()
    assert result["stopped_by"] == "sources-done"
    v, d = ver.counters, dec.counters
    assert v["corrupted"] == 0 and v["duplicates"] == 0
    assert imp.counters["lost"] > 1000 and d["recovered"] > 1000
    assert v["valid"] + d["unrecoverable"] == 30000
    assert d["unrecoverable"] < 100          # predicted ~5 for RS(10,4) at 5 %
    assert a.stats()["opackets"] == b.stats()["ipackets"]


def _pcap_port(eal, vdev, open_port, rx, tx):
    return open_port(vdev("net_pcap", rx_pcap=rx, tx_pcap=tx))


def test_pcap_through_encode_impair_decode_equals_the_original(mempool, vdev, open_port,
                                                               tmp_path):
    frames = udp_frames(3000, payload_len=400)
    write_pcap(tmp_path / "in.pcap", frames)
    port = open_port(vdev("net_pcap", rx_pcap=tmp_path / "in.pcap",
                          tx_pcap=tmp_path / "out.pcap"))
    k, m = 6, 2
    position = itertools.count()

    def lose_two_per_block(burst):          # wire order: 6 sources, 2 parity
        return np.array([next(position) % (k + m) not in (2, 6) for _ in range(len(burst))])

    enc = FecEncodeStage(mempool, k=k, m=m, deadline=0)
    dec = FecDecodeStage(mempool)
    pipe = Pipeline().add(port, enc, lose_two_per_block, dec, sink=port)
    pipe.run(packets=len(frames))
    port.close()                            # flushes the pcap writer
    out = read_pcap_with_libpcap(tmp_path / "out.pcap")
    assert Counter(out) == Counter(frames)  # byte for byte, nothing missing or extra
    assert dec.counters["recovered"] == 500


def test_pcap_with_random_loss_loses_only_what_is_reported(mempool, vdev, open_port,
                                                          tmp_path):
    frames = udp_frames(4000, payload_len=100)
    write_pcap(tmp_path / "in.pcap", frames)
    port = open_port(vdev("net_pcap", rx_pcap=tmp_path / "in.pcap",
                          tx_pcap=tmp_path / "out.pcap"))
    dec = FecDecodeStage(mempool)
    pipe = Pipeline().add(port, FecEncodeStage(mempool, k=4, m=1, code="xor"),
                          Impairment(mempool, loss=0.1, seed=1), dec, sink=port)
    pipe.run(packets=len(frames))
    port.close()
    out = read_pcap_with_libpcap(tmp_path / "out.pcap")
    assert not Counter(out) - Counter(frames)
    assert len(out) == len(set(out))
    assert len(frames) - len(out) == dec.counters["unrecoverable"] > 0


def test_python_stage_rewrites_mbuf_headers(mempool, ring_pair):
    a, b = ring_pair
    gen = Generator(mempool, sizes=(128,), count=2000)
    seen = []

    def set_dst_mac(burst):
        with burst.headers(6) as h:
            h[:] = (0x02, 0x11, 0x22, 0x33, 0x44, 0x55)

    def record(burst):
        seen.extend(pkt.read(0, 6) for pkt in burst)
        burst.free()                          # a stage may consume the burst itself

    pipe = Pipeline().add(gen, set_dst_mac, sink=a).add(b, record, sink=a)
    pipe.run()
    assert len(seen) == 2000 and set(seen) == {bytes.fromhex("021122334455")}


def test_ctrl_c_leaves_every_mbuf_in_the_pool(mempool, ring_pair):
    a, b = ring_pair
    gen = Generator(mempool, sizes=(512,))
    pipe = Pipeline().add(gen, FecEncodeStage(mempool, k=8, m=2), sink=a)
    pipe.add(b, Impairment(mempool, loss=0.01, reorder=0.01, seed=2),
             FecDecodeStage(mempool), sink=Verifier(mempool, marker_offset=gen.marker_offset),
             burst=256)
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
    with pytest.raises(KeyboardInterrupt):
        pipe.run(duration=60)
    # (the autouse fixture checks that the pool is full again)


def test_ports_must_be_started(mempool, vdev):
    port = dpdk.Port(vdev("net_null"), mempool)
    try:
        pipe = Pipeline().add(port, sink=port)
        with pytest.raises(PortError, match="not started"):
            pipe.run(duration=0.1)
    finally:
        port.close()


def test_pipeline_runs_on_a_worker_lcore():
    # its own EAL with two lcores (the session EAL has one)
    from conftest import run_python

    proc = run_python("""
        import threading, time
        from pydpdk import dpdk
        from pydpdk.pipeline import Generator, Pipeline, Verifier
        with dpdk.Eal(lcores="0@(0,1),1@(0,1)") as eal:
            pool = dpdk.Mempool(4095)
            seen = []
            gen = Generator(pool, sizes=(128,), rate_pps=50000)
            ver = Verifier(pool, marker_offset=gen.marker_offset)
            def stage(burst):
                seen.append(threading.get_ident())
            pipe = Pipeline().add(gen, stage, sink=ver)
            pipe.start(lcore=1)
            time.sleep(0.3)                       # the main thread stays free
            mid = ver.counters["valid"]
            result = pipe.stop()
            assert mid > 0 and result["stopped_by"] == "stopped", (mid, result)
            assert threading.get_ident() not in set(seen)
            try:
                pipe.start(lcore=0)
            except ValueError as exc:
                assert "main lcore" in str(exc)
            else:
                raise AssertionError("lcore 0 accepted")
            try:
                pipe.start(lcore=7)
            except ValueError as exc:
                assert "not enabled" in str(exc)
            else:
                raise AssertionError("lcore 7 accepted")
            del pipe, gen, ver
            assert pool.in_use == 0
            pool.close()
        print("ok")
    """)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr + proc.stdout
