"""pydpdk.fec sliding-window code (RLC, wire code 3; docs/fec-format.md).

The checks use an independent Python model of the documented rules: the
SplitMix64 coefficient generator, GF(2^8) arithmetic with 0x11D, the repair
symbols, and Gaussian elimination over the lost sources.  Property tests
(hypothesis): the encoder's bytes are the model's; under any loss,
reordering and duplication the decoder delivers exactly the received
sources plus the lost sources the received equations determine, each once,
never anything else; every source is delivered or counted unrecoverable;
the decoder's state stays bounded.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pydpdk import _fec, fec

HYP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
M64 = (1 << 64) - 1


# ---- independent model of the documented code ---------------------------

def _gf_tables() -> tuple[list[int], list[int]]:
    exp, log = [0] * 512, [0] * 256
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        x <<= 1
        if x & 0x100:
            x ^= 0x11D
    for i in range(255, 512):
        exp[i] = exp[i - 255]
    return exp, log


EXP, LOG = _gf_tables()


def gmul(a: int, b: int) -> int:
    return 0 if a == 0 or b == 0 else EXP[LOG[a] + LOG[b]]


def ginv(a: int) -> int:
    return EXP[255 - LOG[a]]


def coefs(first: int, n: int, key: int) -> list[int]:
    """docs/fec-format.md: SplitMix64 seeded with (f << 16) | (n << 8) | r."""
    x = ((first % 2**48) << 16) | (n << 8) | key
    out: list[int] = []
    while len(out) < n:
        x = (x + 0x9E3779B97F4A7C15) & M64
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        z ^= z >> 31
        for b in range(8):
            c = (z >> (8 * b)) & 0xFF
            if c and len(out) < n:
                out.append(c)
    return out


def crc16(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def hdr(kind: int, k: int, m: int, index: int, block: int, session: int, length: int) -> bytes:
    h = bytes([2, (kind << 4) | 3, k, m, index, 0]) + block.to_bytes(6, "big") \
        + session.to_bytes(4, "big") + length.to_bytes(2, "big")
    return h + crc16(h).to_bytes(2, "big")


def symbol(p: bytes, L: int) -> bytes:
    return len(p).to_bytes(2, "big") + p + bytes(L - len(p))


def repair_symbol(window: list[bytes], first: int, key: int) -> bytes:
    L = max(len(p) for p in window)
    out = bytearray(L + 2)
    for c, p in zip(coefs(first, len(window), key), window):
        for i, b in enumerate(symbol(p, L)):
            out[i] ^= gmul(c, b)
    return bytes(out)


def model_stream(payloads: list[bytes], k: int, m: int, w: int, first: int, session: int,
                 flush: bool) -> list[bytes]:
    """The wire packets the documented rules give (no deadline)."""
    out: list[bytes] = []
    sent: list[bytes] = []
    since = 0

    def batch() -> None:
        window = sent[-w:]
        f = (first + len(sent) - len(window)) % 2**48
        L = max(len(p) for p in window)
        for key in range(m):
            out.append(hdr(1, len(window), m, key, f, session, L)
                       + repair_symbol(window, f, key))

    for p in payloads:
        out.append(hdr(0, w, m, k, (first + len(sent)) % 2**48, session, len(p)) + p)
        sent.append(p)
        since += 1
        if since == k:
            batch()
            since = 0
    if flush and since:
        batch()
    return out


def determined(wire: list[bytes], received: set[int], first: int,
               payloads: list[bytes]) -> set[int]:
    """ESIs of lost sources that the received repairs determine (RREF over GF(2^8))."""
    lost = {first + i for i in range(len(payloads))} - {
        int.from_bytes(wire[i][6:12], "big") for i in received if wire[i][1] == 0x03}
    rows: list[dict[int, int]] = []
    for i in received:
        p = wire[i]
        if p[1] != 0x13:
            continue
        f, n, key = int.from_bytes(p[6:12], "big"), p[2], p[4]
        row = {f + j: c for j, c in enumerate(coefs(f, n, key)) if f + j in lost}
        # reduce against the pivots there are
        for r in rows:
            piv = min(r)
            x = row.get(piv, 0)
            if x:
                for col, v in r.items():
                    row[col] = row.get(col, 0) ^ gmul(x, v)
                row = {c: v for c, v in row.items() if v}
        if not row:
            continue
        piv = min(row)
        inv = ginv(row[piv])
        row = {c: gmul(inv, v) for c, v in row.items()}
        for j, r in enumerate(rows):
            x = r.get(piv, 0)
            if x:
                for col, v in row.items():
                    r[col] = r.get(col, 0) ^ gmul(x, v)
                rows[j] = {c: v for c, v in r.items() if v}
        rows.append(row)
    return {min(r) for r in rows if len(r) == 1}


# ---- the documented example ----------------------------------------------

DOC_VECTOR = [  # docs/fec-format.md, "Sliding-window code (code 3)", byte for byte
    "02 03 03 01 02 00 00 01 02 03 04 05 0a 0b 0c 0d 00 05 5e cb 68 65 6c 6c 6f",
    "02 03 03 01 02 00 00 01 02 03 04 06 0a 0b 0c 0d 00 07 a6 0b 46 45 43 21 21 21 21",
    "02 13 02 01 00 00 00 01 02 03 04 05 0a 0b 0c 0d 00 07 3e 6e 00 1e 6e db 91 33 25 91 91",
    "02 03 03 01 02 00 00 01 02 03 04 07 0a 0b 0c 0d 00 03 5e ee 72 6c 63",
    "02 13 03 01 00 00 00 01 02 03 04 05 0a 0b 0c 0d 00 07 96 4a 00 4b 0b 0c 3d 4b 92 2a 2a",
]


def doc_rlc_lines() -> list[str]:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "fec-format.md").read_text()
    section = doc.split("## Sliding-window code (code 3)", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1]
    return [" ".join(line.split(":", 1)[1].split()) for line in block.strip().splitlines()]


def test_doc_vector_is_what_the_encoder_and_the_model_send():
    enc = fec.Encoder(k=2, m=1, code="rlc", window=3, first_block_id=0x0102030405,
                      session_id=0x0A0B0C0D)
    wire = enc.encode([b"hello", b"FEC!!!!"], now=0) + enc.encode([b"rlc"], now=0) + enc.flush()
    assert [p.hex(" ") for p in wire] == DOC_VECTOR
    assert doc_rlc_lines() == DOC_VECTOR
    model = model_stream([b"hello", b"FEC!!!!", b"rlc"], 2, 1, 3, 0x0102030405, 0x0A0B0C0D,
                         flush=True)
    assert [p.hex(" ") for p in model] == DOC_VECTOR
    assert coefs(0x0102030405, 2, 0) == [0xF9, 0x0C]
    assert coefs(0x0102030405, 3, 0) == [0xBC, 0x10, 0x3B]
    # and the decoder takes the documented bytes: any one source from the
    # other two and the last repair
    pk = [bytes.fromhex(x) for x in DOC_VECTOR]
    for lost, payload in [(0, b"hello"), (1, b"FEC!!!!"), (3, b"rlc")]:
        rest = [p for i, p in enumerate(pk) if i not in (lost, 2)]
        out = fec.Decoder().decode(rest, now=0)
        assert sorted(out) == sorted([b"hello", b"FEC!!!!", b"rlc"]), lost
        assert out[-1] == payload


@pytest.mark.parametrize("first,n,key", [(0, 1, 0), (5, 255, 7), (2**48 - 1, 40, 255),
                                         (0x123456789ABC, 17, 3)])
def test_coefficients_are_the_documented_generator(first, n, key):
    assert list(_fec.rlc_coefs(first, n, key)) == coefs(first, n, key)
    assert 0 not in coefs(first, n, key)


@given(payloads=st.lists(st.binary(min_size=1, max_size=60), min_size=1, max_size=30),
       k=st.integers(1, 6), extra=st.integers(0, 6), m=st.integers(1, 3),
       first=st.sampled_from([0, 7, 2**48 - 3]), flush=st.booleans())
@HYP
def test_encoder_bytes_are_the_models(payloads, k, extra, m, first, flush):
    enc = fec.Encoder(k=k, m=m, code="rlc", window=k + extra, first_block_id=first,
                      session_id=99)
    wire = enc.encode(payloads, now=0) + (enc.flush() if flush else [])
    assert wire == model_stream(payloads, k, m, k + extra, first, 99, flush)


# ---- decoding ------------------------------------------------------------

@given(payloads=st.lists(st.binary(min_size=1, max_size=80), min_size=1, max_size=40),
       k=st.integers(1, 6), extra=st.integers(0, 10), m=st.integers(1, 3),
       first=st.sampled_from([0, 2**48 - 5]), data=st.data())
@HYP
def test_delivers_exactly_the_received_and_the_determined(payloads, k, extra, m, first, data):
    w = k + extra
    enc = fec.Encoder(k=k, m=m, code="rlc", window=w, first_block_id=first, session_id=5)
    wire = enc.encode(payloads, now=0) + enc.flush()
    dropped = set(data.draw(st.lists(st.integers(0, len(wire) - 1), unique=True)))
    kept = [i for i in range(len(wire)) if i not in dropped]
    order = kept + data.draw(st.lists(st.sampled_from(kept), max_size=6)) if kept else []
    order = data.draw(st.permutations(order))
    dec = fec.Decoder(max_payload=200, timeout=1.0)
    out = dec.decode([wire[i] for i in order], now=0)
    # model in unwrapped ESIs (the stream is far shorter than 2^47)
    unwrapped = [bytes(p[:6]) + ((int.from_bytes(p[6:12], "big") - first) % 2**48)
                 .to_bytes(6, "big") + p[12:] for p in wire]
    got = determined(unwrapped, set(kept), 0, payloads)
    received = {int.from_bytes(unwrapped[i][6:12], "big") for i in kept if wire[i][1] == 0x03}
    expect = sorted(payloads[e] for e in received | got)
    assert sorted(out) == expect                   # exact: nothing missing, nothing extra
    stats = dec.stats
    # reordering may rebuild a source before its original arrives (a duplicate then)
    assert stats["recovered"] >= len(got) and stats["malformed"] == 0
    assert stats["recovered"] + stats["delivered"] == len(out)
    dec.poll(now=10**10)                           # every unknown times out
    # every ESI the receiver had evidence of is delivered or counted lost
    seen: list[int] = []
    for i in kept:
        h = unwrapped[i]
        e = int.from_bytes(h[6:12], "big")
        seen += [e] if h[1] == 0x03 else [e, e + h[2] - 1]
    if seen:
        assert len(out) + dec.stats["unrecoverable"] == max(seen) - min(seen) + 1
    dec.poll(now=2 * 10**10)                       # idle: stored copies go back
    assert dec.symbols_free == dec.max_symbols


def test_five_percent_loss_is_repaired_and_recovered_counted():
    rng = random.Random(3)
    payloads = [rng.randbytes(rng.randrange(20, 400)) for _ in range(3000)]
    enc = fec.Encoder(k=10, m=4, code="rlc", window=20, max_payload=400)
    wire = enc.encode(payloads, now=0) + enc.flush()
    kept = [p for p in wire if rng.random() >= 0.05]
    dec = fec.Decoder(max_payload=400, timeout=1.0)
    out = dec.decode(kept, now=0)
    dec.poll(now=10**10)
    stats = dec.stats
    assert len(set(out)) == len(out) and set(out) <= set(payloads)
    assert stats["delivered"] + stats["recovered"] == len(out)
    assert len(out) + stats["unrecoverable"] == len(payloads)
    assert stats["recovered"] > 100 and stats["unrecoverable"] <= 3


def test_state_is_bounded_and_released_when_idle():
    rng = random.Random(4)
    enc = fec.Encoder(k=50, m=5, code="rlc", window=255, max_payload=300)
    dec = fec.Decoder(max_payload=300, timeout=0.5, max_symbols=4096)
    lowest = dec.max_symbols
    for t in range(40):
        batch = enc.encode([rng.randbytes(rng.randrange(1, 300)) for _ in range(100)], now=t)
        dec.decode([p for p in batch if rng.random() >= 0.3], now=t)   # far beyond repair
        lowest = min(lowest, dec.symbols_free)
    # stored copies (at most 512 ESIs) + pending equations (at most 128) per session
    assert dec.max_symbols - lowest <= 512 + 128
    assert dec.stats["unrecoverable"] > 0
    dec.poll(now=10**10)
    assert dec.symbols_free == dec.max_symbols


def test_duplicates_late_and_far_ahead_are_counted():
    enc = fec.Encoder(k=4, m=2, code="rlc", window=8, session_id=11)
    wire = enc.encode([i.to_bytes(2, "big") * 15 for i in range(6000)], now=0)
    dec = fec.Decoder(timeout=None)
    out = dec.decode(wire, now=0)
    assert len(out) == 6000
    first_src = wire[0]
    assert dec.decode([wire[-1], wire[-3]], now=0) == []      # the newest again
    assert dec.decode([first_src], now=0) == []               # 6000 ESIs back: late
    stats = dec.stats
    assert stats["duplicate"] >= 1 and stats["late"] == 1
    # one stray far-ahead packet is dropped and does not stall the stream
    stray = bytearray(wire[-6])
    far = (int.from_bytes(stray[6:12], "big") + 10**6) % 2**48
    stray[6:12] = far.to_bytes(6, "big")
    stray[18:20] = crc16(bytes(stray[:18])).to_bytes(2, "big")
    assert dec.decode([bytes(stray)], now=0) == []
    assert dec.stats["unconfirmed"] == 1
    more = enc.encode([b"next"], now=0)
    assert dec.decode(more, now=0) == [b"next"]


def test_malformed_code3_headers_are_dropped():
    enc = fec.Encoder(k=2, m=1, code="rlc", window=3, session_id=12)
    src, _, rep = enc.encode([b"aa", b"bb"], now=0)
    def rewrite(p: bytes, **f: int) -> bytes:
        b = bytearray(p)
        for name, off in (("k", 2), ("m", 3), ("index", 4)):
            if name in f:
                b[off] = f[name]
        b[18:20] = crc16(bytes(b[:18])).to_bytes(2, "big")
        return bytes(b)
    bad = [rewrite(src, k=0), rewrite(src, m=0), rewrite(src, index=0), rewrite(src, index=4),
           rewrite(rep, k=0), rep[:-1]]
    dec = fec.Decoder()
    assert dec.decode(bad, now=0) == []
    assert dec.stats["malformed"] == len(bad)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"k": 4, "m": 2, "window": 3}, "window must be k..255"),
    ({"k": 4, "m": 2, "window": 256}, "window must be k..255"),
    ({"k": 0, "m": 2}, "k \\(sources between"),
    ({"k": 4, "m": 0}, "m \\(repairs per batch"),
    ({"k": 4, "m": 2, "depth": 2}, "depth must be 1"),
])
def test_bad_rlc_parameters_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fec.Encoder(code="rlc", **kwargs)


def test_window_only_with_rlc_and_read_back():
    with pytest.raises(ValueError, match="window applies"):
        fec.Encoder(k=4, m=2, code="rs", window=8)
    assert fec.Encoder(k=4, m=2, code="rlc").window == 4
    assert fec.Encoder(k=4, m=2, code="rlc", window=200).window == 200
    assert fec.Encoder(k=4, m=2).window == 0


def test_pipeline_encode_stage_takes_rlc():
    from pydpdk._native import BufferPool
    from pydpdk.pipeline import FecEncodeStage

    pool = BufferPool(capacity=64)
    try:
        stage = FecEncodeStage(pool, code="rlc", k=5, m=2, window=25)
        assert stage.config["window"] == 25 and stage.config["depth"] == 1
        # one rule with fec.Encoder (pydpdk.fec_config): rlc has no interleaving
        with pytest.raises(ValueError, match="rlc: depth must be 1"):
            FecEncodeStage(pool, code="rlc", k=5, m=2, window=25, depth=4)
        assert FecEncodeStage(pool, code="rlc", k=5, m=2).config["window"] == 5
        with pytest.raises(ValueError, match="window"):
            FecEncodeStage(pool, code="rlc", k=5, m=2, window=4)
        with pytest.raises(ValueError, match="window applies"):
            FecEncodeStage(pool, code="rs", window=20)
    finally:
        pool.close()


# ---- the command line: demo and a real tunnel ------------------------------

def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pydpdk.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_demo_with_the_sliding_window_code():
    proc = _cli("demo", "--backend", "native", "--code", "rlc", "-k", "5", "-m", "2",
                "--window", "20", "--duration", "1.5", "--no-bursts", "--loss", "3%", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert report["config"]["code"] == "rlc" and report["config"]["window"] == 20
    assert report["corrupted"] == 0 and report["duplicates"] == 0
    assert report["buffers_leaked"] == 0 and report["recovered"] > 0
    assert report["residual_loss"] < report["link_loss"] / 10


def test_cli_refuses_a_window_below_k():
    proc = _cli("demo", "--backend", "native", "--code", "rlc", "-k", "8", "--window", "4",
                "--duration", "1")
    assert proc.returncode != 0 and "window" in proc.stderr


def test_tunnel_with_the_sliding_window_code_through_a_lossy_link():
    from test_fec_tunnel_netns import decoder, lossy_tunnel
    from test_netns import drain, udp_socket

    with lossy_tunnel(link_mtu=1600, extra=("--code", "rlc", "--window", "24")) as (
            topo, gws, rules):
        ip_a, ip_b = topo.host_ip[topo.host_a], topo.host_ip[topo.host_b]
        a = udp_socket(topo.host_a, ip_a, 6100)
        b = udp_socket(topo.host_b, ip_b, 6101)
        n = 2000
        got: list[bytes] = []
        with a, b:
            deadline = time.monotonic() + 10        # ARP crosses the tunnel first
            while not got and time.monotonic() < deadline:
                a.sendto(b"hello", (ip_b, 6101))
                time.sleep(0.2)
                got += drain(b)
            assert got, "nothing crossed the tunnel"
            got.clear()
            for i in range(n):
                a.sendto(b"a%06d" % i + b"x" * 900, (ip_b, 6101))
                if i % 50 == 49:
                    time.sleep(0.005)
                    got += drain(b)
            time.sleep(1.0)
            got += drain(b)
        reports = gws.stop()
        dropped = [r.dropped() for r in rules]
    seqs = {d[:7] for d in got}
    assert dropped[0] > 20                               # the link really lost frames
    assert len(seqs) >= n - 5 and len(got) == len(seqs)  # ~100 lost without FEC, no dups
    assert decoder(reports[1])["recovered"] > 0
    assert all(r["buffers_leaked"] == 0 for r in reports)


def _recovery_delays(code: str, k: int, m: int, window: int | None, n: int) -> list[int]:
    """Wire positions between each lost source and the packet that rebuilt it."""
    rng = random.Random(8)
    kw = {"window": window} if code == "rlc" else {}
    enc = fec.Encoder(k=k, m=m, code=code, max_payload=64, session_id=3, **kw)
    wire = enc.encode([i.to_bytes(4, "big") * 8 for i in range(n)], now=0) + enc.flush()
    pos = {int.from_bytes(p[20:24], "big"): i for i, p in enumerate(wire) if p[1] & 0x30 == 0}
    dec = fec.Decoder(max_payload=64, timeout=None)
    delays, seen = [], set()
    for i, p in enumerate(wire):
        if rng.random() < 0.05:
            continue
        for out in dec.decode([p], now=0):
            seq = int.from_bytes(out[:4], "big")
            if seq not in seen:
                seen.add(seq)
                if pos[seq] != i:
                    delays.append(i - pos[seq])
    return sorted(delays)


def test_rebuilt_sooner_than_reed_solomon_of_the_window_size():
    # equal overhead (25 %): RLC repairs every 4 sources over the last 40,
    # RS protects blocks of 40 with 10 parity packets
    rlc = _recovery_delays("rlc", 4, 1, 40, 8000)
    rs = _recovery_delays("rs", 40, 10, None, 8000)
    assert len(rlc) > 300 and len(rs) > 300
    assert sum(rlc) / len(rlc) < 0.5 * sum(rs) / len(rs)
    assert rlc[int(0.99 * len(rlc))] < rs[int(0.99 * len(rs))]


def test_deadline_closes_a_partial_batch():
    enc = fec.Encoder(k=8, m=2, code="rlc", window=16, timeout=0.001, session_id=21)
    wire = enc.encode([b"one", b"two", b"three"], now=0)
    assert len(wire) == 3                               # sent at once, nothing held
    assert enc.poll(now=500_000) == []                  # 0.5 ms: not yet
    repairs = enc.poll(now=1_000_000)
    assert [(p[1], p[2], p[4]) for p in repairs] == [(0x13, 3, 0), (0x13, 3, 1)]
    assert enc.stats["blocks_partial"] == 1
    # the two repairs rebuild any two of the three
    out = fec.Decoder().decode([wire[1]] + repairs, now=0)
    assert sorted(out) == [b"one", b"three", b"two"]


def test_window_across_the_48_bit_antipode_is_dropped_not_looped():
    enc = fec.Encoder(k=4, m=1, code="rlc", window=8, session_id=22)
    wire = enc.encode([bytes([i]) * 10 for i in range(40)], now=0)
    dec = fec.Decoder(timeout=None)
    assert len(dec.decode(wire, now=0)) == 40
    # a repair whose window starts just past the antipode of the newest ESI
    # and ends just before it (a lie: no sender makes one)
    rep = bytearray(next(p for p in wire if p[1] == 0x13))
    rep[2] = 8
    rep[6:12] = ((40 + 2**47 - 3) % 2**48).to_bytes(6, "big")
    rep[18:20] = crc16(bytes(rep[:18])).to_bytes(2, "big")
    assert dec.decode([bytes(rep)], now=0) == []
    assert dec.stats["late"] == 1
    assert dec.decode(enc.encode([b"after"], now=0), now=0) == [b"after"]
