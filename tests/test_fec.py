"""pydpdk.fec: block codec, streaming encoder/decoder, bad input.

Property tests (hypothesis) check the guarantees of the issue: any set of at
most m losses per block is rebuilt exactly; more losses are reported, never
delivered wrong; reordering and duplication change nothing.
"""

from __future__ import annotations

import errno
import os
import random
import subprocess
import sys
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pydpdk import fec
from pydpdk.errors import FecError

KERNELS = fec.available_kernels()
HYP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def header(pkt: bytes) -> dict:
    """Decode the documented wire header (docs/fec-format.md) independently of the C code."""
    return {
        "version": pkt[0],
        "repair": bool(pkt[1] & 0x80),
        "code": pkt[1] & 0x0F,
        "k": pkt[2],
        "m": pkt[3],
        "index": pkt[4],
        "block": int.from_bytes(pkt[6:12], "big"),
        "length": int.from_bytes(pkt[12:14], "big"),
        "check": int.from_bytes(pkt[14:16], "big"),
    }


def crc16_ccitt(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def rewrite_header(pkt: bytes, **fields: int) -> bytes:
    """The packet with header fields changed and a valid header check."""
    b = bytearray(pkt)
    offsets = {"version": 0, "k": 2, "m": 3, "index": 4}
    for name, value in fields.items():
        if name == "type":
            b[1] = value
        elif name == "block":
            b[6:12] = value.to_bytes(6, "big")
        elif name == "length":
            b[12:14] = value.to_bytes(2, "big")
        else:
            b[offsets[name]] = value
    b[14:16] = crc16_ccitt(bytes(b[:14])).to_bytes(2, "big")
    return bytes(b)


# ---- kernels and the block codec ---------------------------------------

def test_kernels_listed_and_default_is_supported():
    assert KERNELS[0] == "scalar"
    assert fec.default_kernel() in KERNELS


@pytest.mark.parametrize("name", KERNELS)
def test_environment_variable_overrides_default_kernel(name):
    code = "from pydpdk import fec; print(fec.default_kernel())"
    env = dict(os.environ, PYDPDK_FEC_KERNEL=name)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == name


def test_each_object_can_pick_its_kernel():
    for name in KERNELS:
        assert fec.BlockCodec(4, 2, kernel=name).kernel == name


@given(
    k=st.integers(1, 24),
    m=st.integers(1, 8),
    length=st.integers(1, 300),
    seed=st.integers(0, 2**32 - 1),
)
@HYP
def test_block_encode_is_bit_exact_across_kernels(k, m, length, seed):
    data = np.random.default_rng(seed).integers(0, 256, (k, length), dtype=np.uint8)
    parities = [fec.BlockCodec(k, m, kernel=name).encode(data) for name in KERNELS]
    for other in parities[1:]:
        assert np.array_equal(parities[0], other)


def test_xor_code_parity_is_the_xor_of_the_data():
    data = np.random.default_rng(1).integers(0, 256, (7, 333), dtype=np.uint8)
    parity = fec.BlockCodec(7, 1, code="xor").encode(data)
    assert np.array_equal(parity[0], np.bitwise_xor.reduce(data, axis=0))


@given(
    k=st.integers(1, 30),
    m=st.integers(1, 10),
    length=st.integers(1, 200),
    data=st.data(),
)
@HYP
def test_block_reconstruct_any_m_losses_exact(k, m, length, data):
    kernel = data.draw(st.sampled_from(KERNELS))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    codec = fec.BlockCodec(k, m, kernel=kernel, cache_size=data.draw(st.sampled_from([0, 4])))
    blocks = rng.integers(0, 256, (3, k, length), dtype=np.uint8)
    parity = codec.encode(blocks)
    symbols = np.concatenate([blocks, parity], axis=1)
    present = np.ones((3, k + m), dtype=bool)
    lost_data = 0
    for b in range(3):
        lost = data.draw(st.lists(st.integers(0, k + m - 1), max_size=m, unique=True))
        present[b, lost] = False
        lost_data += sum(1 for i in lost if i < k)
    damaged = symbols.copy()
    damaged[~present] = 0xAA
    assert codec.reconstruct(damaged, present) == lost_data
    assert np.array_equal(damaged[:, :k], blocks)


def test_block_reconstruct_more_than_m_losses_raises():
    codec = fec.BlockCodec(5, 2)
    symbols = np.zeros((7, 64), dtype=np.uint8)
    present = [False, False, False, True, True, True, True]
    with pytest.raises(FecError) as info:
        codec.reconstruct(symbols, present)
    assert info.value.errno == errno.EAGAIN
    assert "at most m=2" in str(info.value)


def test_decode_matrix_cache_hits_on_repeated_loss_pattern():
    codec = fec.BlockCodec(10, 4, cache_size=8)
    data = np.random.default_rng(2).integers(0, 256, (10, 1400), dtype=np.uint8)
    symbols = np.concatenate([data, codec.encode(data)])
    present = np.ones(14, dtype=bool)
    present[[1, 4, 6]] = False
    for _ in range(3):
        work = symbols.copy()
        assert codec.reconstruct(work, present) == 3
        assert np.array_equal(work[:10], data)
    assert codec.cache_stats == {"hits": 2, "misses": 1}


def test_block_codec_accepts_lists_of_bytes():
    rows = [bytes([i]) * 10 for i in range(4)]
    parity = fec.BlockCodec(4, 2).encode(rows)
    assert parity.shape == (2, 10)
    with pytest.raises(ValueError, match="same length"):
        fec.BlockCodec(4, 2).encode([b"a", b"bb", b"c", b"d"])


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((0, 2), {}, "at least 1"),
        ((4, 0), {}, "at least 1"),
        ((200, 56), {}, "at most 255"),
        ((4, 2), {"code": "xor"}, "m == 1"),
        ((4, 2), {"code": "ldpc"}, "unknown FEC code"),
        ((4, 2), {"kernel": "sse9"}, "unknown FEC kernel"),
    ],
)
@pytest.mark.parametrize("cls", [fec.BlockCodec, fec.Encoder])
def test_bad_code_parameters_raise_value_error(cls, args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(*args, **kwargs)


def test_wrong_shapes_raise_value_error():
    codec = fec.BlockCodec(4, 2)
    with pytest.raises(ValueError, match=r"shape \(4, L\)"):
        codec.encode(np.zeros((3, 10), dtype=np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        codec.encode(np.zeros((4, 10), dtype=np.int32))
    with pytest.raises(ValueError, match="writable"):
        codec.reconstruct(np.zeros((6, 10), dtype=np.uint8)[:, ::2], [True] * 6)


# ---- streaming encoder / decoder ----------------------------------------

def encode_stream(payloads, k, m, depth=1, code="rs", first_block_id=0):
    enc = fec.Encoder(k, m, code=code, depth=depth, max_payload=2000,
                      first_block_id=first_block_id)
    wire = enc.encode(payloads, now=0) + enc.flush()
    return enc, wire


def block_of(pkt):
    h = header(pkt)
    return h["block"], h["repair"], h["index"]


def test_wire_header_matches_the_documented_layout():
    enc, wire = encode_stream([b"x" * 10, b"y" * 30, b"z" * 5], k=2, m=2, first_block_id=7)
    h = header(wire[0])
    assert h == {"version": 1, "repair": False, "code": 2, "k": 2, "m": 2, "index": 0,
                 "block": 7, "length": 10, "check": crc16_ccitt(wire[0][:14])}
    assert wire[0][fec.HEADER_LEN:] == b"x" * 10
    repair = [header(p) for p in wire if header(p)["repair"]]
    # block 7: two sources, parity as long as the longest (30) + 2 length bytes
    assert [(r["block"], r["index"], r["k"], r["length"]) for r in repair] == [
        (7, 2, 2, 30), (7, 3, 2, 30), (8, 1, 1, 5), (8, 2, 1, 5)]
    assert all(len(p) == fec.HEADER_LEN + 2 + header(p)["length"] for p in wire
               if header(p)["repair"])
    assert enc.stats["blocks_partial"] == 1


def test_header_check_is_crc16_ccitt_false_and_doc_example_holds():
    assert crc16_ccitt(b"123456789") == 0x29B1
    enc = fec.Encoder(2, 1, first_block_id=0x0102030405)
    wire = enc.encode([b"hello", b"FEC!!!!"], now=0)
    assert [p.hex(" ") for p in wire] == [  # as printed in docs/fec-format.md
        "01 02 02 01 00 00 00 01 02 03 04 05 00 05 2a 39 68 65 6c 6c 6f",
        "01 02 02 01 01 00 00 01 02 03 04 05 00 07 65 3e 46 45 43 21 21 21 21",
        "01 82 02 01 02 00 00 01 02 03 04 05 00 07 61 51 00 88 4b c9 c3 f2 f1 9e 9e",
    ]


payload_lists = st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=40)


@given(
    payloads=payload_lists,
    k=st.integers(1, 12),
    m=st.integers(1, 5),
    depth=st.integers(1, 3),
    data=st.data(),
)
@HYP
def test_stream_any_m_losses_per_block_rebuilt_exactly(payloads, k, m, depth, data):
    code = "xor" if m == 1 and data.draw(st.booleans()) else "rs"
    _, wire = encode_stream(payloads, k, m, depth, code)
    by_block: dict[int, list[int]] = {}
    for i, pkt in enumerate(wire):
        by_block.setdefault(block_of(pkt)[0], []).append(i)
    dropped = set()
    for members in by_block.values():
        dropped |= set(data.draw(st.lists(st.sampled_from(members), max_size=m, unique=True)))
    received = [p for i, p in enumerate(wire) if i not in dropped]
    received += data.draw(st.lists(st.sampled_from(received), max_size=5))  # duplicates
    received = data.draw(st.permutations(received))                         # reordering
    dec = fec.Decoder(max_payload=2000, timeout=None)
    out = dec.decode(received, now=0)
    assert sorted(out) == sorted(payloads)
    lost_sources = sum(1 for i in dropped if not header(wire[i])["repair"])
    stats = dec.stats
    # reordering may rebuild a packet before its late original arrives
    assert stats["recovered"] >= lost_sources
    assert stats["recovered"] + stats["delivered"] == len(payloads)
    assert stats["unrecoverable"] == 0 and stats["malformed"] == 0


@given(payloads=payload_lists, k=st.integers(1, 8), m=st.integers(1, 3), data=st.data())
@HYP
def test_stream_too_many_losses_reported_never_wrong(payloads, k, m, data):
    _, wire = encode_stream(payloads, k, m)
    dropped = set(data.draw(st.lists(st.integers(0, len(wire) - 1), unique=True)))
    received = data.draw(st.permutations([p for i, p in enumerate(wire) if i not in dropped]))
    dec = fec.Decoder(max_payload=2000, timeout=1.0)
    out = dec.decode(received, now=0)
    assert dec.poll(now=10**10) >= 0          # everything times out
    remaining = list(payloads)
    for payload in out:                       # every output is one of the originals
        remaining.remove(payload)
    stats = dec.stats
    # every source is delivered, rebuilt, or counted lost (a block whose
    # sources and repairs were all dropped is invisible to the receiver)
    invisible = sum(
        1 for i, p in enumerate(wire)
        if not header(p)["repair"]
        and all(j in dropped for j, q in enumerate(wire) if block_of(q)[0] == block_of(p)[0]))
    assert len(out) + stats["unrecoverable"] + invisible >= len(payloads)
    assert len(out) + stats["unrecoverable"] <= len(payloads) + k  # nominal k of shrunk blocks
    assert dec.blocks_in_flight == 0 and dec.symbols_free == dec.max_symbols


def test_source_packets_are_delivered_at_once():
    _, wire = encode_stream([b"a" * 50, b"b" * 60, b"c" * 70], k=3, m=1)
    dec = fec.Decoder()
    assert dec.decode([wire[0]], now=0) == [b"a" * 50]
    assert dec.decode([wire[3]], now=0) == []          # repair: nothing missing yet
    assert dec.decode([wire[2]], now=0) == [b"c" * 70, b"b" * 60]  # c, then b rebuilt


def test_partial_block_closed_by_deadline_gets_parity():
    enc = fec.Encoder(8, 2, timeout=0.001)
    sent = enc.encode([b"p" * 100, b"q" * 120], now=0)
    assert enc.poll(now=999_999) == []
    parity = enc.poll(now=1_000_000)
    assert [header(p)["k"] for p in parity] == [2, 2]
    assert enc.stats["blocks_partial"] == 1
    dec = fec.Decoder()
    assert dec.decode([sent[1], parity[0]], now=0) == [b"q" * 120, b"p" * 100]
    # two parity packets of a 2-packet block rebuild it without any source
    assert fec.Decoder().decode(parity, now=0) == [b"p" * 100, b"q" * 120]


def test_block_id_wraparound():
    start = 2**48 - 3
    payloads = [bytes([i]) * (20 + i) for i in range(30)]
    _, wire = encode_stream(payloads, k=4, m=1, first_block_id=start)
    assert {block_of(p)[0] for p in wire} >= {2**48 - 1, 0, 1}
    received = [p for i, p in enumerate(wire) if i % 5 != 2]   # one loss per block
    dec = fec.Decoder(max_payload=2000)
    assert sorted(dec.decode(received, now=0)) == sorted(payloads)
    assert dec.stats["late"] == 0


def test_decoder_state_is_bounded():
    dec = fec.Decoder(max_blocks=4, timeout=None)
    enc = fec.Encoder(5, 1)
    wire = enc.encode([b"z" * 40] * 100, now=0)
    # drop the first packet of every block and every parity: nothing completes
    received = [p for p in wire if not header(p)["repair"] and header(p)["index"] != 0]
    assert len(dec.decode(received, now=0)) == len(received)
    assert dec.blocks_in_flight <= 4
    assert dec.stats["blocks_evicted"] == 16
    assert dec.stats["unrecoverable"] == 16


def test_parallel_encoders_in_threads_are_independent():
    payloads = [random.Random(i).randbytes(200) for i in range(500)]
    results = {}

    def work(n):
        _, wire = encode_stream(payloads, 10, 4)
        received = [p for i, p in enumerate(wire) if i % 14 not in (n % 14, (n + 3) % 14)]
        results[n] = fec.Decoder(max_payload=2000).decode(received, now=0)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(sorted(r) == sorted(payloads) for r in results.values())


def test_numpy_and_memoryview_payloads():
    arr = np.arange(100, dtype=np.uint8)
    enc = fec.Encoder(2, 1)
    wire = enc.encode([arr, memoryview(b"hello"), bytearray(b"world!")], now=0) + enc.flush()
    assert fec.Decoder().decode([np.frombuffer(p, dtype=np.uint8) for p in wire], now=0) == [
        arr.tobytes(), b"hello", b"world!"]


# ---- bad input -----------------------------------------------------------

def test_encoder_rejects_empty_and_oversize_packets_without_side_effects():
    enc = fec.Encoder(4, 1, max_payload=100)
    with pytest.raises(ValueError, match="packet 1 is empty"):
        enc.encode([b"ok", b""], now=0)
    with pytest.raises(ValueError, match="101 bytes, more than max_payload=100"):
        enc.encode([b"x" * 101], now=0)
    assert enc.stats["source_packets"] == 0
    with pytest.raises(TypeError):
        enc.encode([12345], now=0)


def test_closed_codec_objects_refuse_work():
    enc = fec.Encoder(4, 1)
    enc.close()
    enc.close()   # idempotent
    with pytest.raises(ValueError, match="closed"):
        enc.encode([b"x"])
    with fec.Decoder() as dec:
        pass
    with pytest.raises(ValueError, match="closed"):
        dec.decode([b"x"])


def test_bad_wire_packets_are_counted_and_dropped():
    _, wire = encode_stream([b"A" * 64, b"B" * 64, b"C" * 64, b"D" * 64], k=4, m=2)
    src, rep = wire[0], wire[4]
    bad = {
        "empty": b"",
        "truncated header": src[:10],
        "truncated payload": src[:-1],
        "garbage": bytes(random.Random(5).randbytes(80)),
        "bad check": src[:14] + bytes([src[14] ^ 1]) + src[15:],
        "unknown version": rewrite_header(src, version=2),
        "unknown code": rewrite_header(src, type=0x07),
        "reserved bits": rewrite_header(src, type=0x42),
        "source index >= k": rewrite_header(src, index=4),
        "repair index >= k+m": rewrite_header(rep, index=6),
        "k = 0": rewrite_header(src, k=0),
        "m = 0": rewrite_header(src, m=0),
        "k+m > 255": rewrite_header(src, k=200, m=60),
        "length 0": rewrite_header(src, length=0),
        "oversize": rewrite_header(src + b"x" * 3000, length=3064),
    }
    dec = fec.Decoder(max_payload=2048)
    for name, pkt in bad.items():
        assert dec.decode([pkt], now=0) == [], name
    assert dec.stats["malformed"] == len(bad)
    assert dec.blocks_in_flight == 0
    # the genuine stream is still decoded after all that
    assert dec.decode(wire[1:], now=0) == [b"B" * 64, b"C" * 64, b"D" * 64, b"A" * 64]


def test_parameters_changing_inside_a_block_are_dropped():
    _, wire = encode_stream([b"A" * 64, b"B" * 64, b"C" * 64, b"D" * 64], k=4, m=2)
    dec = fec.Decoder()
    assert dec.decode([wire[0]], now=0) == [b"A" * 64]
    changed = [rewrite_header(wire[1], k=5), rewrite_header(wire[1], m=3),
               rewrite_header(wire[1], type=0x01, m=1),       # code changes to XOR
               rewrite_header(wire[4], k=5, index=5)]          # repair disagrees on k
    assert dec.decode(changed, now=0) == []
    assert dec.stats["malformed"] == 4
    # the real packets still rebuild the block
    assert sorted(dec.decode(wire[3:], now=0)) == [b"B" * 64, b"C" * 64, b"D" * 64]


def test_duplicates_and_late_packets_are_counted():
    enc = fec.Encoder(2, 1)
    wire = enc.encode([i.to_bytes(2, "big") * 15 for i in range(400)], now=0)
    dec = fec.Decoder(max_blocks=4)
    dec.decode(wire, now=0)
    assert dec.decode(wire[-3:], now=0) == []
    assert dec.stats["duplicate"] == 2 and dec.stats["repair_unused"] >= 1
    assert dec.decode([wire[0]], now=0) == []      # block 0 is far behind: late
    assert dec.stats["late"] == 1


@given(st.lists(st.binary(max_size=120), max_size=30))
@settings(max_examples=200, deadline=None)
def test_random_bytes_never_crash_or_deliver(garbage):
    dec = fec.Decoder()
    assert dec.decode(garbage, now=0) == []
    assert dec.stats["malformed"] == len(garbage)
