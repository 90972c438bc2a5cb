"""Secure envelope (docs/secure-format.md): sealing and opening on plain
buffers, every byte flipped, replays (also across a restart with the state
file), wrong keys, key files, rotation under traffic, forged floods, and the
native stages around the real FEC gateway stages in a pipeline."""

from __future__ import annotations

import random
import stat
import time
from pathlib import Path

import pytest

from pydpdk import secure
from pydpdk.errors import PydpdkError

pytestmark = pytest.mark.skipif(not secure.AVAILABLE, reason="built without libcrypto")

AEADS = ["aes-256-gcm", "chacha20-poly1305"]
K1 = bytes(range(32))
K2 = bytes(range(100, 132))


def crc16(b: bytes) -> int:
    c = 0xFFFF
    for x in b:
        c ^= x << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) & 0xFFFF if c & 0x8000 else (c << 1) & 0xFFFF
    return c


def inner(session_id: int, block: int, payload: bytes) -> bytes:
    """A plain v2 source packet (20-byte header, CRC-16/CCITT-FALSE)."""
    h = bytes([2, 0x02, 4, 2, 0, 0]) + block.to_bytes(6, "big") + \
        session_id.to_bytes(4, "big") + len(payload).to_bytes(2, "big")
    return h + crc16(h).to_bytes(2, "big") + payload


def impls(aead):
    out = ["openssl"]
    if aead == "aes-256-gcm" and secure._secure.available(aead, "ipsec-mb"):
        out.append("ipsec-mb")
    return out


@pytest.mark.parametrize("aead", AEADS)
def test_round_trip_and_library_interop(aead):
    for simpl in impls(aead):
        for oimpl in impls(aead):
            s = secure.Sealer([(1, K1)], aead=aead, impl=simpl)
            o = secure.Opener([(1, K1)], aead=aead, impl=oimpl)
            for n in (0, 1, 15, 16, 17, 500, 1400, 9000):
                pkt = inner(0xCAFE, n, bytes(random.randbytes(n)))
                sealed = s.seal(pkt)
                assert len(sealed) == len(pkt) + secure.OVERHEAD
                assert pkt[20:] not in sealed or n < 4          # encrypted
                assert o.open(sealed) == ("ok", pkt)
            assert o.stats["opened"] == 8 and o.stats["sessions"] == 1


def test_seal_follows_inner_session_and_refuses_non_v2():
    s = secure.Sealer([(1, K1)])
    a = s.seal(inner(5, 0, b"x"))
    b = s.seal(inner(6, 0, b"x"))
    assert a[4:8] == (5).to_bytes(4, "big") and b[4:8] == (6).to_bytes(4, "big")
    assert int.from_bytes(b[8:16], "big") > int.from_bytes(a[8:16], "big")   # new epoch
    assert b[16:24] == bytes(8)                                              # counter reset
    for bad in (b"", b"\x02" * 19, b"\x01" + bytes(30), inner(0, 0, b"x")):
        with pytest.raises(ValueError):
            s.seal(bad)
    assert s.stats["malformed"] == 4


def _expected_reasons(i: int) -> set[str]:
    if i in (0, 1, 3):
        return {"malformed"}
    if i == 2:
        return {"unknown_key", "bad_tag"}
    if i < 16:
        return {"stale_epoch", "bad_tag"}      # another (session, epoch)
    return {"bad_tag"}


@pytest.mark.parametrize("aead", AEADS)
def test_every_byte_flipped_is_dropped_and_counted(aead):
    s = secure.Sealer([(1, K1)], aead=aead)
    o = secure.Opener([(1, K1)], aead=aead, derive_per_ms=1_000_000)
    assert o.open(s.seal(inner(77, 0, b"first")))[0] == "ok"   # session known
    good = s.seal(inner(77, 1, bytes(range(200))))
    seen: dict[str, int] = {}
    for i in range(len(good)):
        for mask in (0x01, 0x80, 0xFF):
            bad = bytearray(good)
            bad[i] ^= mask
            before = o.stats
            verdict, out = o.open(bytes(bad))
            after = o.stats
            assert out is None and verdict in _expected_reasons(i), (i, mask, verdict)
            assert after[verdict] == before[verdict] + 1
            assert after["opened"] == before["opened"]
            seen[verdict] = seen.get(verdict, 0) + 1
    for n in range(len(good)):                       # truncated at every length
        assert o.open(good[:n])[0] in ("malformed", "bad_tag")
    assert o.open(good + b"\x00")[0] == "bad_tag"   # extended
    assert o.open(good)[0] == "ok"                  # the intact packet still passes
    assert seen["bad_tag"] > 3 * 200 and seen["malformed"] == 9


def test_replays_duplicates_and_window():
    s = secure.Sealer([(1, K1)])
    o = secure.Opener([(1, K1)])
    pkts = [s.seal(inner(9, i, i.to_bytes(4, "big"))) for i in range(6000)]
    order = list(range(1500))
    random.Random(1).shuffle(order[:1024])          # reordered inside the window
    for i in order:
        assert o.open(pkts[i])[0] == "ok"
    for i in random.Random(2).sample(range(1500), 300):     # duplicated
        assert o.open(pkts[i]) == ("replayed", None)
    assert o.open(pkts[5000])[0] == "ok"            # jump ahead
    assert o.open(pkts[4000])[0] == "ok"            # late, inside the window
    assert o.open(pkts[4000])[0] == "replayed"
    assert o.open(pkts[1600])[0] == "too_old"       # behind the window, never seen
    assert o.open(pkts[10])[0] == "too_old"
    st = o.stats
    assert st["opened"] == 1502 and st["replayed"] == 301 and st["too_old"] == 2


def test_recorded_session_replayed_after_restart_is_dropped(tmp_path):
    state = tmp_path / "k.state"
    s = secure.Sealer([(1, K1)])
    recorded = [s.seal(inner(3, i, b"old session")) for i in range(50)]
    o = secure.Opener([(1, K1)], state_path=state)
    assert all(o.open(p)[0] == "ok" for p in recorded)
    assert o.stats["state_saves"] == 1 and state.read_text().startswith("pydpdk-secure-state 1")
    del o                                            # the receiver restarts
    o = secure.Opener([(1, K1)], state_path=state)
    # The newest session may go on after our restart, but nothing of it that
    # was accepted before passes again.
    assert [o.open(p)[0] for p in recorded] == ["replayed"] * 50
    # A new session of the same sender (new epoch) is used at once.
    s2 = secure.Sealer([(1, K1)])
    assert o.open(s2.seal(inner(3, 0, b"new session")))[0] == "ok"
    del o                                            # and restarts again
    o = secure.Opener([(1, K1)], state_path=state)
    assert [o.open(p)[0] for p in recorded] == ["stale_epoch"] * 50
    # Without the state file the same replay would have been delivered: the
    # state file is what stops it.
    fresh = secure.Opener([(1, K1)])
    assert fresh.open(recorded[0])[0] == "ok"
    # A corrupt state file is refused, not silently reset.
    state.write_text("hello\n")
    with pytest.raises(PydpdkError, match="state file"):
        secure.Opener([(1, K1)], state_path=state)


def test_wrong_key_delivers_nothing():
    s = secure.Sealer([(1, bytes(32))])
    o = secure.Opener([(1, K1), (2, K2)])
    verdicts = {o.open(s.seal(inner(4, i, b"x" * i)))[0] for i in range(100)}
    # Never verified, so never a session: each packet asks for a derivation.
    assert "bad_tag" in verdicts and verdicts <= {"bad_tag", "rate_limited"}
    assert o.stats["opened"] == 0 and o.stats["sessions"] == 0
    s9 = secure.Sealer([(9, K1)])
    assert o.open(s9.seal(inner(4, 0, b"x")))[0] == "unknown_key"


def test_flood_of_forgeries_interleaved_with_genuine_traffic():
    rng = random.Random(7)
    s = secure.Sealer([(1, K1)])
    o = secure.Opener([(1, K1)], derive_per_ms=4)
    history = []
    # The session exists before the flood starts (a new session's first packet
    # competes with made-up sessions for the derivation budget: see
    # test_new_session_during_a_flood).
    assert o.open(s.seal(inner(21, 99999, b"hello")))[0] == "ok"
    delivered, dropped = 1, 0
    for i in range(3000):
        pkt = inner(21, i, rng.randbytes(rng.randrange(0, 300)))
        sealed = s.seal(pkt)
        for _ in range(10):
            kind = rng.randrange(5)
            if kind == 0:                              # random bytes
                f = rng.randbytes(rng.randrange(0, 400))
            elif kind == 1 and history:               # replay
                f = rng.choice(history)
            elif kind == 2:                            # corrupted copy of the next genuine
                b = bytearray(sealed)
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
                f = bytes(b)
            elif kind == 3:                            # made-up session, newest epoch
                f = bytes([2, 0x30, 1, 1]) + rng.randbytes(4) + b"\x7f" + rng.randbytes(
                    15) + rng.randbytes(rng.randrange(36, 400))
            else:                                      # genuine header, made-up body
                f = sealed[:24] + rng.randbytes(len(sealed) - 24)
            verdict, out = o.open(f)
            assert verdict != "ok" and out is None
            dropped += 1
        assert o.open(sealed) == ("ok", pkt)
        delivered += 1
        history.append(sealed)
    st = o.stats
    drops = sum(st[k] for k in secure._secure.VERDICTS[1:])
    assert st["opened"] == delivered == 3001 and drops == dropped
    assert st["rate_limited"] > 0


def test_new_session_during_a_flood_gets_a_derivation_each_millisecond():
    """Made-up sessions use up the derivation budget of a millisecond; the
    genuine session's next packet in a later millisecond is verified."""
    rng = random.Random(5)
    s = secure.Sealer([(1, K1)])
    o = secure.Opener([(1, K1)], derive_per_ms=4)
    now = 10**12
    genuine = [s.seal(inner(31, i, b"g" * 64)) for i in range(4)]
    verdicts = []
    for ms, g in enumerate(genuine):
        t = now + ms * 1_000_000
        for _ in range(50):                      # the flood arrives first
            f = bytes([2, 0x30, 1, 1]) + rng.randbytes(4) + b"\x7f" + rng.randbytes(55)
            o.open(f, now_ns=t)
        verdicts.append(o.open(g, now_ns=t)[0])
        if ms == 0:
            assert verdicts == ["rate_limited"]
            verdicts.append(o.open(g, now_ns=t + 1_000_000)[0])   # next millisecond
    assert verdicts == ["rate_limited", "ok", "ok", "ok", "ok"]
    assert o.stats["derivations"] == 4 * 4         # the budget, never more, per millisecond


# --- key files ---------------------------------------------------------------

def test_keyfile_generate_rotate_and_permissions(tmp_path):
    p = tmp_path / "k.key"
    kf = secure.KeyFile.generate(p)
    assert stat.S_IMODE(p.stat().st_mode) == 0o600 and kf.ids == [1]
    with pytest.raises(secure.KeyFileError, match="exists"):
        secure.KeyFile.generate(p)
    secure.KeyFile.generate(p, force=True)
    k1 = secure.KeyFile.load(p).current
    r = secure.KeyFile.rotate(p)
    assert r.ids == [1, 2] and r.keys[0] == k1 and r.current[0] == 2
    assert secure.KeyFile.rotate(p).ids == [2, 3]          # at most two: previous + new
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    p.chmod(0o640)
    with pytest.raises(secure.KeyFileError, match=r"k\.key has mode 0640"):
        secure.KeyFile.load(p)
    p.chmod(0o600)
    for bad in ("", "pydpdk-keys 2\n", "pydpdk-keys 1\nkey 1 AAAA\n",
                "pydpdk-keys 1\nkey x " + "A" * 44 + "\n", "pydpdk-keys 1\n"):
        p.write_text(bad)
        with pytest.raises(secure.KeyFileError):
            secure.KeyFile.load(p)
    with pytest.raises(secure.KeyFileError, match="cannot read"):
        secure.KeyFile.load(tmp_path / "missing.key")


def test_cli_keygen(tmp_path):
    from pydpdk.cli import main
    p = tmp_path / "gw.key"
    assert main(["keygen", str(p)]) == 0
    assert main(["keygen", str(p)]) == 1                    # refuses to overwrite
    assert main(["keygen", "--force", str(p)]) == 0
    assert main(["keygen", "--rotate", str(p)]) == 0
    assert secure.KeyFile.load(p).ids == [1, 2]
    p.chmod(0o644)
    assert main(["keygen", "--rotate", str(p)]) == 1


def _rotation_run(tmp_path, receiver_first: bool):
    """Traffic keeps flowing while both sides rotate; returns the verdicts."""
    sk, rk = tmp_path / "send.key", tmp_path / "recv.key"
    secure.KeyFile.generate(sk)
    rk.write_bytes(sk.read_bytes())
    rk.chmod(0o600)
    s = secure.Sealer(sk)
    sender_keys = secure.KeyFile.load(sk)
    o = secure.Opener(rk)
    verdicts = []
    new = None
    for i in range(600):
        if i == 200:
            new = secure.KeyFile.rotate(sk)          # new key written on the sender side
            if receiver_first:
                o.set_keys(new.keys)                 # receivers reload first
        if i == 300:
            sender_keys = secure.KeyFile.load(sk)
            s.rekey(*sender_keys.current)            # the sender switches
        if i == 350 and not receiver_first:
            o.set_keys(new.keys)                     # receiver reloads 50 packets late
        verdicts.append(o.open(s.seal(inner(8, i, b"r" * 40)))[0])
    return verdicts


def test_key_rotation_receiver_first_loses_nothing(tmp_path):
    assert set(_rotation_run(tmp_path, True)) == {"ok"}


def test_key_rotation_sender_first_loses_only_until_the_reload(tmp_path):
    v = _rotation_run(tmp_path, False)
    assert v[:300] == ["ok"] * 300 and v[350:] == ["ok"] * 250
    assert v[300:350] == ["unknown_key"] * 50


# --- the native stages in a pipeline, around the real FEC stages ---------------

@pytest.fixture
def pool(production_pool):
    """The native BufferPool and a DPDK Mempool (conftest.production_pool)."""
    return production_pool


def _chain(pool, keys_tx, keys_rx, count, *, link=(), state=False, **kw):
    from pydpdk.pipeline import FecDecodeStage, FecEncodeStage, Generator, Pipeline, Verifier
    gen = Generator(pool, sizes=(64, 512, 1400), count=count)
    enc = FecEncodeStage(pool, k=10, m=4, deadline=0.002)
    # The envelope follows the FEC encoder's v2 session id; the opener checks
    # that the decrypted v2 header carries the same one.
    outer = {k: enc.config[k] for k in ("encap", "dst_port", "ethertype")}
    seal = secure.SealStage(pool, keys_tx, **outer)
    opn = secure.OpenStage(pool, keys_rx, state_path=state, **outer)
    dec = FecDecodeStage(pool)
    ver = Verifier(pool, marker_offset=gen.marker_offset)
    pipe = Pipeline().add(gen, enc, seal, *link, opn, dec, sink=ver)
    return pipe, enc, seal, opn, dec, ver


def test_stages_around_fec_deliver_everything(pool):
    pipe, enc, seal, opn, dec, ver = _chain(pool, [(1, K1)], [(1, K1)], 5000)
    assert pipe.run()["stopped_by"] == "sources-done"
    assert ver.counters["valid"] == 5000 and ver.counters["corrupted"] == 0
    c = opn.counters
    assert c["opened"] == enc.counters["source_packets"] + enc.counters["repair_packets"]
    assert c["packets_in"] == c["packets_out"] + c["drops"] or c["drops"] == 0
    assert seal.counters["sealed"] == c["opened"]


def test_stage_wrong_key_delivers_nothing(pool):
    pipe, enc, seal, opn, dec, ver = _chain(pool, [(1, bytes(32))], [(1, K1)], 2000)
    pipe.run()
    assert ver.counters["received"] == 0
    c = opn.counters
    assert c["opened"] == 0 and c["bad_tag"] + c["rate_limited"] == seal.counters["sealed"]
    assert dec.counters["received"] == 0                 # the FEC decoder saw nothing


def test_stage_forgeries_never_reach_the_decoder(pool):
    """On the link, every 7th packet is replaced by a forgery (made-up session,
    flipped bit, or another key's packet): the open stage drops each one by
    reason before the FEC decoder, which rebuilds the genuine packets lost."""
    from pydpdk.pipeline import PyStage
    rng = random.Random(3)
    other = secure.Sealer([(1, K2)])          # same sessions, wrong key
    count = [0]
    kinds = {"session": 0, "flip": 0, "key": 0}

    def forge(burst):
        for pkt in burst:
            count[0] += 1
            if count[0] % 7:
                continue
            data = bytearray(pkt.bytes())
            kind = ("session", "flip", "key")[count[0] % 3]
            kinds[kind] += 1
            if kind == "session":
                data[42 + 4:42 + 8] = rng.randbytes(4)
                data[42 + 8] = 0x7F
            elif kind == "flip":
                data[rng.randrange(42, len(data))] ^= 1 << rng.randrange(8)
            else:
                # Same session id, same length, sealed with another key.
                inner_len = len(data) - 42 - secure.OVERHEAD
                sid = int.from_bytes(data[42 + 4:42 + 8], "big")
                data[42:] = other.seal(inner(sid, 0, rng.randbytes(inner_len - 20)))
            pkt.write(0, bytes(data))
        return None

    pipe, enc, seal, opn, dec, ver = _chain(pool, [(1, K1)], [(1, K1)], 3000,
                                             link=(PyStage(forge),))
    pipe.run()
    v, c, d = ver.counters, opn.counters, dec.counters
    forged = sum(kinds.values())
    assert forged > 500 and min(kinds.values()) > 100
    assert v["valid"] == 3000 and v["corrupted"] == 0 and v["duplicates"] == 0
    assert c["opened"] == seal.counters["sealed"] - forged
    assert sum(c[k] for k in secure._secure.VERDICTS[1:]) == forged
    assert c["bad_tag"] >= kinds["key"] and c["stale_epoch"] + c["rate_limited"] > 0
    assert d["received"] == c["opened"] and d["malformed"] == 0 and d["recovered"] > 0


def test_stage_reload_under_traffic(pool, tmp_path):
    """Rotate while a background pipeline runs: receiver first, then sender."""
    from pydpdk.pipeline import FecDecodeStage, FecEncodeStage, Generator, Pipeline, Verifier
    sk = tmp_path / "k.key"
    secure.KeyFile.generate(sk)
    gen = Generator(pool, sizes=(256,), count=300_000, rate_pps=20_000)
    enc = FecEncodeStage(pool, k=8, m=2, deadline=0.002)
    outer = {k: enc.config[k] for k in ("encap", "dst_port", "ethertype")}
    seal = secure.SealStage(pool, sk, session_id=0x77, **outer)
    opn = secure.OpenStage(pool, secure.KeyFile.load(sk), check_inner=False,
                           state_path=tmp_path / "k.state", **outer)
    dec = FecDecodeStage(pool)
    ver = Verifier(pool, marker_offset=gen.marker_offset)
    pipe = Pipeline().add(gen, enc, seal, opn, dec, sink=ver)
    pipe.start()
    try:
        deadline = time.monotonic() + 60
        while ver.counters["valid"] < 2000 and time.monotonic() < deadline:
            time.sleep(0.05)
        secure.KeyFile.rotate(sk)
        assert opn.reload(sk) is True                  # receiver accepts both keys
        time.sleep(0.2)
        assert seal.reload() is True                   # sender seals with key 2
        before = ver.counters["valid"]
        while ver.counters["valid"] < before + 2000 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        pipe.stop()
    assert seal.counters["rekeys"] == 1 and seal.counters["sessions"] == 2
    c = opn.counters
    assert c["opened"] == seal.counters["sealed"] and c["sessions"] == 2
    assert sum(c[k] for k in secure._secure.VERDICTS[1:]) == 0
    assert ver.counters["corrupted"] == 0 and ver.counters["valid"] >= 4000


def test_info_names_the_crypto_library_and_cpu_path(capsys):
    from pydpdk.cli import main
    assert main(["info", "--no-eal"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if "secure mode crypto" in ln)
    assert "OpenSSL 3" in line
    if secure._secure.available("aes-256-gcm", "ipsec-mb"):
        assert "ipsec-mb" in line and "AES-256-GCM path" in line
    if "vaes" in Path("/proc/cpuinfo").read_text() and "ipsec-mb 1" in line:
        assert "vaes" in line


def test_stage_flood_interleaved_with_genuine_frames(tmp_path):
    """Sealed tunnel frames, each followed by three forgeries (made-up session,
    flipped bit, replay of an earlier frame), read back from a pcap file
    through the open stage and the FEC decoder: every genuine frame is
    delivered, every forgery is dropped and counted before the decoder."""
    pytest.importorskip("pydpdk._native_pcap")
    from pydpdk._native import BufferPool
    from pydpdk._native_pcap import PcapPort
    from pydpdk.frames import write_pcap
    from pydpdk.pipeline import (
        Discard,
        FecDecodeStage,
        FecEncodeStage,
        Generator,
        Pipeline,
        PortSource,
        PyStage,
        Verifier,
    )
    bpool = BufferPool(capacity=4096, data_room=2048)
    try:
        gen = Generator(bpool, sizes=(64, 512, 1400), count=2000)
        enc = FecEncodeStage(bpool, k=10, m=4, deadline=0)
        outer = {k: enc.config[k] for k in ("encap", "dst_port", "ethertype")}
        seal = secure.SealStage(bpool, [(1, K1)], session_id=0x5EC1, **outer)
        wire: list[bytes] = []

        def capture(burst):
            wire.extend(p.bytes() for p in burst)

        Pipeline().add(gen, enc, seal, PyStage(capture), sink=Discard(bpool)).run()
        rng = random.Random(11)
        frames = []
        for i, w in enumerate(wire):
            frames.append(w)
            for kind in range(3):
                b = bytearray(rng.choice(wire[:i + 1]))
                if kind == 0:
                    b[42 + 4:42 + 8] = rng.randbytes(4)
                    b[42 + 8] = 0x7F
                elif kind == 1:
                    b[rng.randrange(42, len(b))] ^= 1 << rng.randrange(8)
                frames.append(bytes(b))
        path = tmp_path / "flood.pcap"
        write_pcap(path, frames)
        port = PcapPort(rx_path=str(path), pool=bpool)
        port.start()
        try:
            opn = secure.OpenStage(bpool, [(1, K1)], check_inner=False, **outer)
            dec = FecDecodeStage(bpool)
            ver = Verifier(bpool, marker_offset=gen.marker_offset)
            Pipeline().add(PortSource(port), opn, dec, sink=ver).run(
                duration=300, packets=len(frames))
        finally:
            port.close()
        v, c = ver.counters, opn.counters
        assert v["valid"] == 2000 and v["corrupted"] == 0 and v["duplicates"] == 0
        assert c["packets_in"] == len(frames) == 4 * len(wire)
        assert c["opened"] == len(wire) and dec.counters["received"] == len(wire)
        drops = sum(c[k] for k in secure._secure.VERDICTS[1:])
        assert drops == 3 * len(wire)
        assert min(c["bad_tag"], c["replayed"], c["rate_limited"]) > 0
    finally:
        bpool.close()


def test_stage_recorded_session_replayed_after_restart(tmp_path):
    """A whole recorded tunnel session (pcap) is delivered once; replayed into
    a restarted receiver with the same key file (and its state file beside
    it), nothing reaches the FEC decoder: every frame is refused."""
    pytest.importorskip("pydpdk._native_pcap")
    from pydpdk._native import BufferPool
    from pydpdk._native_pcap import PcapPort
    from pydpdk.frames import write_pcap
    from pydpdk.pipeline import (
        Discard,
        FecDecodeStage,
        FecEncodeStage,
        Generator,
        Pipeline,
        PortSource,
        PyStage,
        Verifier,
    )
    key = tmp_path / "gw.key"
    secure.KeyFile.generate(key)
    bpool = BufferPool(capacity=4096, data_room=2048)
    try:
        gen = Generator(bpool, sizes=(300,), count=500)
        enc = FecEncodeStage(bpool, k=10, m=2, deadline=0)
        outer = {k: enc.config[k] for k in ("encap", "dst_port", "ethertype")}
        seal = secure.SealStage(bpool, key, session_id=0x5EC2, **outer)
        wire: list[bytes] = []
        Pipeline().add(gen, enc, seal, PyStage(lambda b: wire.extend(p.bytes() for p in b)),
                       sink=Discard(bpool)).run()
        path = tmp_path / "session.pcap"
        write_pcap(path, wire)

        def receive():
            port = PcapPort(rx_path=str(path), pool=bpool)
            port.start()
            try:
                opn = secure.OpenStage(bpool, key, check_inner=False, **outer)  # state beside key
                dec = FecDecodeStage(bpool)
                ver = Verifier(bpool, marker_offset=gen.marker_offset)
                Pipeline().add(PortSource(port), opn, dec, sink=ver).run(
                    duration=300, packets=len(wire))
            finally:
                port.close()
            return opn.counters, dec.counters, ver.counters

        c, d, v = receive()
        assert v["valid"] == 500 and c["opened"] == len(wire)
        assert secure.state_path_for(key).exists()
        c, d, v = receive()                                # restart, same recording
        assert v["received"] == 0 and d["received"] == 0
        # the newest session of the key: its recorded packets are replays
        assert c["opened"] == 0 and c["replayed"] == len(wire)
    finally:
        bpool.close()


def test_seal_stage_follows_the_fec_session_id(pool):
    """The envelope's session id is the v2 FEC encoder's (offset 12 of the inner
    header); with check_inner the opener verifies they agree."""
    from pydpdk.pipeline import PyStage
    ids = set()

    def look(burst):
        for pkt in burst:
            d = pkt.read(42, 24)
            assert d[0] == 2 and d[1] == 0x30
            ids.add(int.from_bytes(d[4:8], "big"))

    pipe, enc, seal, opn, dec, ver = _chain(pool, [(1, K1)], [(1, K1)], 300,
                                             link=(PyStage(look),))
    pipe.run()
    assert ids == {enc.config["session_id"]}
    assert ver.counters["valid"] == 300 and opn.counters["malformed"] == 0
