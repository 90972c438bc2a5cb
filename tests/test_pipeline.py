"""Pipelines on the backend-neutral pool: every native stage and the run loop.

Every test runs on the production pool of each backend, as the port contract
tests do for ports: the native BufferPool (pydpdk._native, every build) and
a DPDK Mempool (rows skipped on a build without DPDK).  The same chains run
over DPDK ports in test_pipeline_dpdk.py.
"""

import itertools
import os
import signal
import threading
import time
from math import sqrt

import numpy as np
import pytest

from pydpdk._burst import LoopbackPort
from pydpdk.analysis import residual_loss_random
from pydpdk.fec import HEADER_LEN as HDR
from pydpdk.pipeline import (
    Discard,
    FecDecodeStage,
    FecEncodeStage,
    Generator,
    Impairment,
    Pipeline,
    PyStage,
    Verifier,
)


@pytest.fixture
def pool(production_pool):
    return production_pool


def fec_chain(pool, count, *, k=10, m=4, code="rs", link=(), sizes=(100, 1400, 600), **enc):
    gen = Generator(pool, sizes=sizes, count=count)
    encoder = FecEncodeStage(pool, code=code, k=k, m=m, **enc)
    decoder = FecDecodeStage(pool, **{key: v for key, v in enc.items() if key == "encap"})
    verifier = Verifier(pool, marker_offset=gen.marker_offset)
    pipe = Pipeline().add(gen, encoder, *link, decoder, sink=verifier)
    return pipe, gen, encoder, decoder, verifier


def test_clean_run_delivers_every_frame_intact(pool):
    pipe, gen, enc, dec, ver = fec_chain(pool, 5000, deadline=0)  # blocks close on count only
    result = pipe.run()
    assert result["stopped_by"] == "sources-done"
    v = ver.counters
    assert v["valid"] == 5000 and v["corrupted"] == 0 and v["duplicates"] == 0
    assert v["reordered"] == 0
    assert enc.counters["repair_packets"] == 4 * 500
    assert dec.counters["delivered"] == 5000 and dec.counters["recovered"] == 0


def test_generator_frames_are_checked_by_the_verifier(pool):
    gen = Generator(pool, sizes=(128,))
    ver = Verifier(pool, marker_offset=gen.marker_offset)
    frame = gen.frame(128, seq=7)
    assert ver.check(frame) == ("valid", 7)
    broken = bytearray(frame)
    broken[3] ^= 1                       # a MAC byte: covered by the CRC
    assert ver.check(bytes(broken)) == ("corrupted", None)
    assert ver.check(b"\x00" * 128) == ("foreign", None)
    with pytest.raises(ValueError, match="frame sizes"):
        gen.frame(129, seq=0)


def _block_residual_moments(p, k, m):
    """Mean and variance of the number of source packets lost for good per block."""
    mean = sq = 0.0
    for pattern in itertools.product((0, 1), repeat=k + m):
        lost = sum(pattern)
        prob = p**lost * (1 - p) ** (k + m - lost)
        x = sum(pattern[:k]) if lost > m else 0
        mean += prob * x
        sq += prob * x * x
    return mean, sq - mean * mean


def test_residual_loss_matches_binomial_prediction(pool):
    p, k, m, blocks = 0.2, 4, 2, 10000
    impair = Impairment(pool, loss=p, seed=2024)
    pipe, gen, enc, dec, ver = fec_chain(pool, blocks * k, k=k, m=m, link=[impair],
                                         deadline=0)
    pipe.run()
    lost_for_good = blocks * k - ver.counters["valid"]
    mean, var = _block_residual_moments(p, k, m)
    assert mean / k == pytest.approx(residual_loss_random(p, k, m))
    # five standard deviations of the sum over independent blocks
    assert abs(lost_for_good - blocks * mean) < 5 * sqrt(blocks * var)
    assert ver.counters["corrupted"] == 0
    assert dec.counters["recovered"] > 0


def test_at_most_m_losses_per_block_lose_nothing(pool):
    k, m = 8, 3
    seen = itertools.count()

    def lose_three_of_eleven(burst):
        # wire order per block: k sources then m parity (no deadline, depth 1)
        keep = np.array([next(seen) % (k + m) not in (1, 5, 9) for _ in range(len(burst))])
        return keep

    pipe, gen, enc, dec, ver = fec_chain(pool, 8000, k=k, m=m, link=[lose_three_of_eleven],
                                         deadline=0)
    pipe.run()
    assert ver.counters["valid"] == 8000
    assert dec.counters["recovered"] == 2000
    assert dec.counters["unrecoverable"] == 0


def test_interleaving_spreads_a_burst_loss_over_blocks(pool):
    k, m, depth = 4, 1, 4
    position = itertools.count()

    def lose_runs_of_four(burst):
        return np.array([next(position) % 40 >= 4 for _ in range(len(burst))])

    pipe, gen, enc, dec, ver = fec_chain(pool, 4000, k=k, m=m, code="xor", depth=depth,
                                         link=[lose_runs_of_four], deadline=0)
    pipe.run()
    assert ver.counters["corrupted"] == 0
    assert ver.counters["valid"] == 4000     # each run of 4 costs 4 blocks one packet each


def test_foreign_and_malformed_input_is_counted_and_dropped(pool):
    rng = np.random.default_rng(5)

    def vandal(burst):
        # scramble the FEC header of every 7th packet, make every 11th foreign
        with burst.headers(64) as h:
            n = len(h)
            idx = np.arange(n)
            h[idx % 7 == 3, 42:42 + HDR] = rng.integers(
                0, 256, size=(int((idx % 7 == 3).sum()), HDR))
            h[idx % 11 == 5, 12:14] = (0x86, 0xDD)
        return None

    impair = Impairment(pool, loss=0.02, seed=9)
    pipe, gen, enc, dec, ver = fec_chain(pool, 20000, link=[impair, vandal])
    pipe.run()
    d = dec.counters
    assert d["foreign"] > 0
    assert d["malformed"] + d["late"] + d["duplicate"] > 0
    assert ver.counters["corrupted"] == 0    # never a wrong frame delivered
    assert ver.counters["foreign"] == 0


def test_impairment_duplicates_and_reorders_reproducibly(pool):
    def run_once():
        gen = Generator(pool, sizes=(200,), count=20000)
        imp = Impairment(pool, loss=0.01, duplicate=0.02, reorder=0.02, reorder_gap=4, seed=77)
        ver = Verifier(pool, marker_offset=gen.marker_offset)
        Pipeline().add(gen, imp, sink=ver).run()
        return imp.counters, ver.counters

    (i1, v1), (i2, v2) = run_once(), run_once()
    assert i1["lost"] == i2["lost"] and i1["duplicated"] == i2["duplicated"]
    assert v1["valid"] == v2["valid"] and v1["reordered"] == v2["reordered"]
    assert v1["duplicates"] == i1["duplicated"]
    assert v1["valid"] + i1["lost"] == 20000
    assert v1["reordered"] > 0


def test_gilbert_elliott_loss_is_bursty(pool):
    gen = Generator(pool, sizes=(80,), count=100000)
    imp = Impairment(pool, ge_p=0.01, ge_r=0.25, seed=4)
    Pipeline().add(gen, imp, sink=Discard(pool)).run()
    c = imp.counters
    assert c["lost_burst"] / 100000 == pytest.approx(0.01 / 0.26, rel=0.15)


def test_python_stage_edits_headers_and_drops(pool):
    def rewrite(burst):
        with burst.headers(14) as h:
            h[:, 0:6] = (0x02, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE)
        return burst.lengths() > 100              # drop the small frames

    seen = []

    def capture(burst):
        seen.extend(pkt.read(0, 6) for pkt in burst)

    gen = Generator(pool, sizes=(80, 300), count=1000, fix_lengths=True)
    stage = PyStage(rewrite)
    pipe = Pipeline().add(gen, stage, capture, sink=Discard(pool))
    pipe.run()
    assert len(seen) == 500
    assert set(seen) == {bytes.fromhex("02aabbccddee")}
    assert stage.counters["drops"] == 500


def test_python_stage_error_stops_the_run_and_propagates(pool):
    calls = []

    def broken(burst):
        calls.append(len(burst))
        if len(calls) == 3:
            raise ZeroDivisionError("boom")

    gen = Generator(pool, sizes=(64,))               # endless
    pipe = Pipeline().add(gen, broken, sink=Discard(pool))
    with pytest.raises(ZeroDivisionError, match="boom"):
        pipe.run(duration=30)


def test_python_stage_bad_mask_is_reported(pool):
    gen = Generator(pool, sizes=(64,), count=64)
    pipe = Pipeline().add(gen, lambda burst: [True], sink=Discard(pool))
    with pytest.raises(ValueError, match="mask of 1 entries"):
        pipe.run()


def test_ctrl_c_stops_the_run_cleanly(pool):
    gen = Generator(pool, sizes=(64,))
    enc = FecEncodeStage(pool, k=10, m=4)
    dec = FecDecodeStage(pool)
    pipe = Pipeline().add(gen, enc, dec, sink=Discard(pool))
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        pipe.run(duration=60)
    assert time.monotonic() - started < 5
    assert enc.counters["source_packets"] > 0


def test_background_run_is_observable_and_stoppable(pool):
    gen = Generator(pool, sizes=(64,), rate_pps=20000)
    ver = Verifier(pool, marker_offset=gen.marker_offset)
    pipe = Pipeline().add(gen, sink=ver)
    pipe.start()
    time.sleep(0.3)
    mid = pipe.counters()["chain0.verify"]["valid"]
    assert mid > 0
    result = pipe.stop()
    assert result["stopped_by"] == "stopped"
    assert ver.counters["valid"] >= mid
    # the rate limit held: about 20000 pps
    assert ver.counters["valid"] / result["elapsed_s"] < 30000


def test_idle_pipeline_does_not_spin(pool):
    port = LoopbackPort(pool)
    port.start()
    pipe = Pipeline().add(port, sink=Discard(pool))
    cpu0 = time.process_time()
    result = pipe.run(duration=0.5)
    cpu = time.process_time() - cpu0
    port.close()
    assert result["sleeps"] > 0
    assert cpu < 0.4          # a busy poll would use the whole 0.5 s


def test_chain_over_a_port_drains_in_flight_packets(pool):
    port = LoopbackPort(pool, depth=1024)
    port.start()
    gen = Generator(pool, sizes=(256,), count=3000)
    enc = FecEncodeStage(pool, k=5, m=2, encap="ether")
    dec = FecDecodeStage(pool, encap="ether")
    ver = Verifier(pool, marker_offset=gen.marker_offset)
    # the receiving chain pulls bigger bursts so the ring never overflows
    pipe = Pipeline().add(gen, enc, sink=port).add(port, dec, sink=ver, burst=128)
    pipe.run()
    port.close()
    assert ver.counters["valid"] == 3000
    assert pipe.counters()["chain0.tx:<LoopbackPort queues=1>:0"]["drops"] == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(k=0), ValueError, "k >= 1"),
        (dict(k=200, m=56), ValueError, "k \\+ m <= 255"),
        (dict(code="ldpc"), ValueError, "'rs', 'xor' or 'rlc'"),
        (dict(code="xor", m=2), ValueError, "m=1"),
        (dict(encap="gre"), ValueError, "'udp' or 'ether'"),
        (dict(dst_mac="zz"), ValueError, None),
        (dict(dst_ip="300.1.1.1"), ValueError, None),
        (dict(dst_port=0), ValueError, "dst_port"),
        (dict(depth=0), ValueError, "depth"),
        (dict(kernel="avx9000"), ValueError, "unknown"),
        (dict(colour="blue"), TypeError, "colour"),
    ],
)
def test_bad_encoder_arguments_raise(pool, kwargs, error, match):
    with pytest.raises(error, match=match):
        FecEncodeStage(pool, **kwargs)


def test_bad_pipeline_arguments_raise(pool):
    gen = Generator(pool, sizes=(64,), count=10)
    with pytest.raises(ValueError, match="burst"):
        Pipeline().add(gen, sink=Discard(pool), burst=0)
    with pytest.raises(ValueError, match="no chain"):
        Pipeline().run()
    with pytest.raises(TypeError, match="not a stage"):
        Pipeline().add(gen, 42, sink=Discard(pool))
    with pytest.raises(ValueError, match="frame size"):
        Generator(pool, sizes=(10,))
    with pytest.raises(ValueError, match="probability"):
        Impairment(pool, loss=1.5)
    with pytest.raises(ValueError, match="both ge_p and ge_r"):
        Impairment(pool, ge_p=0.1)
    sink = Discard(pool)
    Pipeline().add(gen, sink=sink)
    with pytest.raises(ValueError, match="already part of a pipeline"):
        Pipeline().add(Generator(pool, sizes=(64,)), sink=sink)


def test_ports_in_a_running_pipeline_cannot_be_closed(pool):
    port = LoopbackPort(pool, depth=1024)
    port.start()
    gen = Generator(pool, sizes=(128,), rate_pps=10000)
    pipe = Pipeline().add(gen, sink=port).add(port, sink=Discard(pool))
    pipe.start()
    time.sleep(0.1)
    try:
        with pytest.raises(OSError, match="busy|in use"):
            port.close()
    finally:
        pipe.stop()
    port.close()                     # free again once the run is over
    assert port.is_closed


def test_split_modules_keep_every_import_path():
    """_pipeline.pyx was split along the C folders (issue 15): the public module
    and the old private one still give the same classes."""
    from pydpdk import _gateway, _pipeline, _traffic, pipeline

    for name in ("Generator", "Verifier", "Impairment", "DEFAULT_TEMPLATE", "MARKER_LEN",
                 "clock_ns"):
        assert getattr(pipeline, name) is getattr(_traffic, name) is getattr(_pipeline, name)
    for name in ("FecEncodeStage", "FecDecodeStage"):
        assert getattr(pipeline, name) is getattr(_gateway, name) is getattr(_pipeline, name)
    assert issubclass(_traffic.Generator, _pipeline.Source)
    assert issubclass(_gateway.FecEncodeStage, _pipeline.Stage)
    assert issubclass(_traffic.Verifier, _pipeline.Sink)
    with pytest.raises(AttributeError):
        _pipeline.NoSuchName  # noqa: B018
