"""fec.Encoder/Decoder with a key: the secure mode on plain buffers."""

from __future__ import annotations

import pytest

from pydpdk import fec

secure = pytest.importorskip("pydpdk.secure")
if not secure.AVAILABLE:
    pytest.skip("built without the secure mode", allow_module_level=True)


@pytest.fixture
def keyfile(tmp_path):
    path = tmp_path / "k"
    secure.KeyFile.generate(path)
    return path


def test_sealed_stream_is_decoded_with_losses_rebuilt(keyfile, tmp_path):
    enc = fec.Encoder(k=4, m=2, keys=keyfile)
    dec = fec.Decoder(keys=keyfile, state_path=tmp_path / "state")
    payloads = [b"payload %d" % i for i in range(40)]
    wire = enc.encode(payloads) + enc.flush()
    assert len(wire[0]) == len(payloads[0]) + fec.HEADER_LEN + secure.OVERHEAD
    assert not any(p in w for w in wire for p in payloads)     # encrypted
    lost = set(range(0, len(wire), 6))                           # one in six
    got = dec.decode(w for i, w in enumerate(wire) if i not in lost)
    assert sorted(got) == sorted(payloads)
    assert dec.secure_stats["opened"] == len(wire) - len(lost)


@pytest.mark.parametrize("what", ["flip", "replay", "plain", "wrong key"])
def test_nothing_unauthenticated_reaches_the_decoder(keyfile, tmp_path, what):
    enc = fec.Encoder(k=4, m=2, keys=keyfile)
    dec = fec.Decoder(keys=keyfile, state_path=tmp_path / "state")
    wire = enc.encode([b"genuine %d" % i for i in range(4)]) + enc.flush()
    assert len(dec.decode(wire[:2])) == 2
    if what == "flip":
        bad = [bytes(w[:30]) + bytes([w[30] ^ 1]) + bytes(w[31:]) for w in wire[2:]]
    elif what == "replay":
        bad = wire[:2]
    elif what == "plain":
        bad = fec.Encoder(k=4, m=2).encode([b"forged"])
    else:
        other = tmp_path / "other"
        secure.KeyFile.generate(other)
        bad = fec.Encoder(k=4, m=2, keys=other).encode([b"forged"])
    before = dec.stats
    assert dec.decode(bad) == []
    after = dec.stats
    assert after["received"] == before["received"]        # the decoder never saw them
    st = dec.secure_stats
    assert sum(st[r] for r in ("malformed", "unknown_key", "bad_tag", "replayed",
                               "too_old", "stale_epoch")) == len(bad)
