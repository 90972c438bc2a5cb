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
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pydpdk import fec
from pydpdk.errors import ClosedError, FecError

KERNELS = fec.available_kernels()
HYP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def header(pkt: bytes) -> dict:
    """Decode the documented wire header (docs/fec-format.md) independently of the C code."""
    return {
        "version": pkt[0],
        "repair": (pkt[1] >> 4) & 3 == 1,
        "kind": (pkt[1] >> 4) & 3,
        "code": pkt[1] & 0x0F,
        "k": pkt[2],
        "m": pkt[3],
        "index": pkt[4],
        "flags": pkt[5],
        "block": int.from_bytes(pkt[6:12], "big"),
        "session": int.from_bytes(pkt[12:16], "big"),
        "length": int.from_bytes(pkt[16:18], "big"),
        "check": int.from_bytes(pkt[18:20], "big"),
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
    offsets = {"version": 0, "type": 1, "k": 2, "m": 3, "index": 4, "flags": 5}
    for name, value in fields.items():
        if name == "block":
            b[6:12] = (value % 2**48).to_bytes(6, "big")
        elif name == "session":
            b[12:16] = value.to_bytes(4, "big")
        elif name == "length":
            b[16:18] = value.to_bytes(2, "big")
        else:
            b[offsets[name]] = value
    b[18:20] = crc16_ccitt(bytes(b[:18])).to_bytes(2, "big")
    return bytes(b)


def control_packet(session: int, seq: int, msg_type: int, tlvs: bytes) -> bytes:
    """A control packet built from the documented layout (kind 2, code/k/m 0)."""
    hdr = bytearray(20)
    hdr[0] = 2
    hdr[1] = 0x20
    hdr[4] = msg_type
    hdr[6:12] = seq.to_bytes(6, "big")
    hdr[12:16] = session.to_bytes(4, "big")
    hdr[16:18] = len(tlvs).to_bytes(2, "big")
    hdr[18:20] = crc16_ccitt(bytes(hdr[:18])).to_bytes(2, "big")
    return bytes(hdr) + tlvs


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

def encode_stream(payloads, k, m, depth=1, code="rs", first_block_id=0, session_id=None):
    enc = fec.Encoder(k, m, code=code, depth=depth, max_payload=2000,
                      first_block_id=first_block_id, session_id=session_id)
    wire = enc.encode(payloads, now=0) + enc.flush()
    return enc, wire


def block_of(pkt):
    h = header(pkt)
    return h["block"], h["repair"], h["index"]


def test_wire_header_matches_the_documented_layout():
    enc, wire = encode_stream([b"x" * 10, b"y" * 30, b"z" * 5], k=2, m=2, first_block_id=7,
                              session_id=0xDEADBEEF)
    assert fec.HEADER_LEN == 20 and fec.VERSION == 2
    h = header(wire[0])
    assert h == {"version": 2, "repair": False, "kind": 0, "code": 2, "k": 2, "m": 2,
                 "index": 0, "flags": 0, "block": 7, "session": 0xDEADBEEF, "length": 10,
                 "check": crc16_ccitt(wire[0][:18])}
    assert {header(p)["session"] for p in wire} == {0xDEADBEEF}
    assert {header(p)["kind"] for p in wire} == {0, 1}
    assert wire[0][fec.HEADER_LEN:] == b"x" * 10
    repair = [header(p) for p in wire if header(p)["repair"]]
    # block 7: two sources, parity as long as the longest (30) + 2 length bytes
    assert [(r["block"], r["index"], r["k"], r["length"]) for r in repair] == [
        (7, 2, 2, 30), (7, 3, 2, 30), (8, 1, 1, 5), (8, 2, 1, 5)]
    assert all(len(p) == fec.HEADER_LEN + 2 + header(p)["length"] for p in wire
               if header(p)["repair"])
    assert enc.stats["blocks_partial"] == 1


DOC_VECTOR = [  # the worked example of docs/fec-format.md, byte for byte
    "02 02 02 01 00 00 00 01 02 03 04 05 0a 0b 0c 0d 00 05 10 cf 68 65 6c 6c 6f",
    "02 02 02 01 01 00 00 01 02 03 04 05 0a 0b 0c 0d 00 07 4b ec 46 45 43 21 21 21 21",
    "02 12 02 01 02 00 00 01 02 03 04 05 0a 0b 0c 0d 00 07 d8 4e 00 88 4b c9 c3 f2 f1 9e 9e",
]


def doc_example_lines() -> list[str]:
    """The hex lines of the example in docs/fec-format.md (after their label)."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "fec-format.md").read_text()
    section = doc.split("## Example", 1)[1]
    block = section.split("```", 2)[1]
    return [" ".join(line.split(":", 1)[1].split()) for line in block.strip().splitlines()
            if ":" in line]


def test_header_check_is_crc16_ccitt_false_and_doc_example_holds():
    assert crc16_ccitt(b"123456789") == 0x29B1
    enc = fec.Encoder(2, 1, first_block_id=0x0102030405, session_id=0x0A0B0C0D)
    wire = enc.encode([b"hello", b"FEC!!!!"], now=0)
    assert [p.hex(" ") for p in wire] == DOC_VECTOR
    assert doc_example_lines()[:3] == DOC_VECTOR
    # and the decoder takes the documented bytes: both sources from the repair
    assert fec.Decoder().decode([bytes.fromhex(DOC_VECTOR[1]), bytes.fromhex(DOC_VECTOR[2])],
                                now=0) == [b"FEC!!!!", b"hello"]


def test_doc_control_packet_example_is_handed_out_not_delivered():
    pkt = control_packet(0x0A0B0C0D, 1, 1, bytes.fromhex("01 02 00 10"))
    assert pkt.hex(" ") == doc_example_lines()[3]
    dec = fec.Decoder()
    assert dec.decode([pkt], now=0) == []
    assert dec.stats["control"] == 1 and dec.stats["malformed"] == 0
    assert dec.sessions == 0 and dec.blocks_in_flight == 0
    # a control packet whose code, k or m is not 0, or that is cut short, is malformed
    bad = [rewrite_header(pkt, type=0x22), rewrite_header(pkt, k=1), pkt[:-1]]
    assert dec.decode(bad, now=0) == []
    assert dec.stats["malformed"] == 3 and dec.stats["control"] == 1


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
    assert enc.closed
    with pytest.raises(ClosedError, match="closed") as exc:
        enc.encode([b"x"])
    assert exc.value.errno == errno.EBADF
    with fec.Decoder() as dec:
        pass
    assert dec.closed
    with pytest.raises(ClosedError, match="closed"):
        dec.decode([b"x"])


def test_bad_wire_packets_are_counted_and_dropped():
    _, wire = encode_stream([b"A" * 64, b"B" * 64, b"C" * 64, b"D" * 64], k=4, m=2)
    src, rep = wire[0], wire[4]
    bad = {
        "empty": b"",
        "truncated header": src[:19],
        "truncated payload": src[:-1],
        "garbage": bytes(random.Random(5).randbytes(80)),
        "bad check": src[:18] + bytes([src[18] ^ 1]) + src[19:],
        "version 1": rewrite_header(src, version=1),
        "unknown version": rewrite_header(src, version=3),
        "unknown code": rewrite_header(src, type=0x07),
        "code 3 (RLC) source with index 0": rewrite_header(src, type=0x03),
        "kind 3 (secure envelope, not plain)": rewrite_header(src, type=0x32),
        "reserved type bits": rewrite_header(src, type=0x42),
        "reserved flags": rewrite_header(src, flags=0x02),
        "session id 0": rewrite_header(src, session=0),
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


# ---- sessions, restarts, stray packets (wire format v2) --------------------

def numbered(n: int, start: int = 0, tag: int = 0) -> list[bytes]:
    """n distinct payloads, 12..200 bytes, each saying which it is."""
    return [(tag << 24 | i).to_bytes(4, "big") * (3 + (i * 7) % 48)
            for i in range(start, start + n)]


def lossy(wire: list[bytes], period: int = 14, lost: tuple[int, ...] = (3, 9)) -> list[bytes]:
    """Drop packets at fixed positions: 2 of every 14 (recoverable with RS(10, 4))."""
    return [p for i, p in enumerate(wire) if i % period not in lost]


def test_session_id_random_per_encoder_settable_and_read_only():
    a, b = fec.Encoder(4, 2), fec.Encoder(4, 2)
    assert a.session_id != b.session_id and 0 < a.session_id < 2**32
    assert fec.Encoder(4, 2, session_id=7).session_id == 7
    with pytest.raises(AttributeError):
        a.session_id = 5  # type: ignore[misc]
    for bad in (0, 2**32, -1):
        with pytest.raises(ValueError, match="session_id"):
            fec.Encoder(4, 2, session_id=bad)
    wire = fec.Encoder(4, 2, session_id=0x01020304).encode([b"abc"], now=0)
    assert wire[0][12:16] == bytes([1, 2, 3, 4])


def test_max_sessions_is_checked():
    assert fec.Decoder().max_sessions == fec.DEFAULT_MAX_SESSIONS == 8
    assert fec.Decoder(max_sessions=2).max_sessions == 2
    for bad in (0, 1, 4097):
        with pytest.raises(ValueError, match="max_sessions"):
            fec.Decoder(max_sessions=bad)
    with pytest.raises(ValueError, match=r"max_sessions \* max_blocks"):
        fec.Decoder(max_sessions=4096, max_blocks=257)


def test_restarted_encoder_is_decoded_at_once():
    # Issue 9's handed case: after 2000 blocks of one Encoder(), a fresh
    # Encoder() starts again at block 0; version 1 delivered 0 of its 5000.
    dec = fec.Decoder()
    first = numbered(20000, tag=1)
    assert sorted(dec.decode(lossy(fec.Encoder(10, 4).encode(first, now=0)), now=0)) == \
        sorted(first)
    second = numbered(5000, tag=2)
    restarted = fec.Encoder(10, 4)
    out = dec.decode(lossy(restarted.encode(second, now=0) + restarted.flush()), now=0)
    assert sorted(out) == sorted(second)
    assert dec.stats["late"] == 0 and dec.stats["sessions_opened"] == 2
    assert dec.live_session == restarted.session_id


def test_restart_mid_block_loses_at_most_what_was_in_flight():
    # 3000 payloads, the encoder dies with a block half full (its parity is
    # never sent), a new one sends 3000 more: only the lost packets of the
    # unfinished block can be missing, and here none were lost.
    one = fec.Encoder(10, 4)
    wire = one.encode(numbered(3005, tag=3), now=0)          # 5 in an open block
    two = fec.Encoder(10, 4)
    wire += two.encode(numbered(3000, tag=4), now=0) + two.flush()
    dec = fec.Decoder()
    assert sorted(dec.decode(wire, now=0)) == sorted(numbered(3005, tag=3) +
                                                       numbered(3000, tag=4))


def test_four_interleaved_sessions_all_delivered():
    streams = [fec.Encoder(10, 4, session_id=100 + t).encode(numbered(1500, tag=t), now=0)
               for t in range(4)]
    mixed = [s[i] for i in range(len(streams[0])) for s in streams
             if (i + streams.index(s)) % 14 not in (3, 9)]
    dec = fec.Decoder()
    out = dec.decode(mixed, now=0)
    assert sorted(out) == sorted(sum((numbered(1500, tag=t) for t in range(4)), []))
    assert dec.sessions == 4 and dec.stats["sessions_evicted"] == 0


@pytest.mark.parametrize("ahead", [2**10, 2**20, 2**47])
def test_one_far_ahead_packet_never_stalls_the_stream(ahead):
    # Issue 11's handed case: one packet with a block id far ahead of the
    # newest in a live stream of 1100 payloads.  Version 1 delivered 113 of
    # 1100 (2^20 ahead) and lost 40 % of the following traffic (2^10 ahead).
    payloads = numbered(1100, tag=5)
    wire = lossy(fec.Encoder(10, 4, session_id=0xABC).encode(payloads, now=0))
    h = header(wire[300])
    stray = rewrite_header(wire[301], block=h["block"] + ahead)
    dec = fec.Decoder()
    out = dec.decode(wire[:300] + [stray] + wire[300:], now=0)
    assert sorted(out) == sorted(payloads)
    s = dec.stats
    assert s["unconfirmed"] + s["late"] == 1 and s["resyncs"] == 0
    assert s["unrecoverable"] == 0 and dec.live_session == 0xABC


@pytest.mark.parametrize("shift", [2**20, 2**48 - 5000])
def test_stray_first_packet_of_a_session_does_not_fix_its_window(shift):
    payloads = numbered(1100, tag=9)
    wire = lossy(fec.Encoder(10, 4, session_id=0xF1).encode(payloads, now=0))
    stray = rewrite_header(wire[5], block=header(wire[0])["block"] + shift)
    dec = fec.Decoder()
    assert set(dec.decode([stray] + wire, now=0)) == set(payloads)
    assert dec.stats["late"] == 0 and dec.stats["unconfirmed"] == 0


def test_far_ahead_ids_move_the_window_once_confirmed():
    # An outage of 200 blocks (more than 2 * max_blocks) in one session: the
    # first packets after it wait for confirmation, then the stream goes on;
    # the held-back packets are rebuilt from their block's repair packets.
    payloads = numbered(5000, tag=6)
    wire = fec.Encoder(10, 4).encode(payloads, now=0)
    dec = fec.Decoder(max_blocks=64)
    out = dec.decode(wire[:14 * 50] + wire[14 * 250:], now=0)
    assert sorted(out) == sorted(payloads[:500] + payloads[2500:])
    assert dec.stats["resyncs"] == 1 and dec.stats["unconfirmed"] == 2
    assert dec.stats["late"] == 0


def test_stray_packet_with_a_new_session_id_leaves_the_live_one_alone():
    payloads = numbered(1100, tag=7)
    wire = lossy(fec.Encoder(10, 4, session_id=0x11).encode(payloads, now=0))
    stray = rewrite_header(wire[500], session=0x22, block=2**40)
    dec = fec.Decoder()
    out = dec.decode(wire[:400] + [stray] + wire[400:], now=0)
    assert sorted(set(out)) == sorted(payloads)    # the stray is a copy of a real one
    assert dec.stats["sessions_opened"] == 2 and dec.live_session == 0x11
    assert dec.stats["unrecoverable"] == 0


def test_session_table_full_of_forged_ids_leaves_the_live_one_alone():
    payloads = numbered(3000, tag=8)
    wire = lossy(fec.Encoder(10, 4, session_id=0x1234).encode(payloads, now=0))
    rng = random.Random(3)
    received = []
    forged = 0
    for i, pkt in enumerate(wire):
        received.append(pkt)
        if i >= 20 and i % 50 == 0:      # bursts of 3x the table size
            for _ in range(24):
                forged += 1
                received.append(rewrite_header(pkt, session=0xF0000000 + forged,
                                               block=rng.getrandbits(48)))
    dec = fec.Decoder()
    out = dec.decode(received, now=0)
    assert set(out) == set(payloads)
    s = dec.stats
    assert s["sessions_opened"] == forged + 1 and s["sessions_evicted"] == forged + 1 - 8
    assert dec.sessions == 8 and dec.live_session == 0x1234
    # the forged sessions' blocks went with them (their missing sources are
    # counted unrecoverable); the live session's blocks were never touched
    assert s["blocks_evicted"] == forged + 1 - 8


def test_pipeline_fec_stages_take_session_settings():
    from pydpdk._native import BufferPool
    from pydpdk.pipeline import FecDecodeStage, FecEncodeStage

    pool = BufferPool(capacity=64)
    try:
        assert FecEncodeStage(pool, session_id=0x77).config["session_id"] == 0x77
        a, b = FecEncodeStage(pool), FecEncodeStage(pool)
        assert a.config["session_id"] != b.config["session_id"]
        assert 0 < a.config["session_id"] < 2**32
        with pytest.raises(ValueError, match="session_id"):
            FecEncodeStage(pool, session_id=0)
        with pytest.raises(ValueError, match="max_sessions"):
            FecDecodeStage(pool, max_sessions=1)
        counters = FecDecodeStage(pool, max_sessions=3).counters
        assert {"unconfirmed", "resyncs", "control", "sessions_opened",
                "sessions_evicted"} <= set(counters)
    finally:
        pool.close()
