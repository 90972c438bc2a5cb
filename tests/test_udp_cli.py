"""``pydpdk fec encode`` and ``decode`` with udp: ports: a pcap of frames is
protected and sent over loopback UDP, decoded and written back, byte for byte."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest

from pydpdk.frames import make_frames, read_pcap, write_pcap

pytest.importorskip("pydpdk._udp", reason="no UDP socket port (Linux only)")
pytest.importorskip("pydpdk._native_pcap", reason="built without libpcap")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pydpdk.cli", "fec", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def report(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return json.loads(out[out.index("{"):])


def test_encode_to_udp_and_decode_from_udp(tmp_path):
    frames = make_frames(300, 700)
    write_pcap(tmp_path / "in.pcap", frames)
    enc_port, dec_port = free_port(), free_port()
    dec = cli("decode", "--", "--backend", "native",
              "--in", f"udp:127.0.0.1:{enc_port},bind=127.0.0.1:{dec_port}",
              "--out", f"pcap:tx={tmp_path / 'out.pcap'}", "--duration", "6", "--json")
    time.sleep(2.0)                      # the decoder is bound before anything is sent
    enc = cli("encode", "--", "--backend", "native", "--in", f"pcap:rx={tmp_path / 'in.pcap'}",
              "--out", f"udp:127.0.0.1:{dec_port}", "--bind", f"127.0.0.1:{enc_port}",
              "-k", "10", "-m", "2", "--packets", "300", "--json")
    r_enc, r_dec = report(enc), report(dec)
    assert read_pcap(tmp_path / "out.pcap") == frames
    u_enc, u_dec = r_enc["counters"]["udp.out"], r_dec["counters"]["udp.in"]
    assert u_enc["opackets"] == 300 + r_enc["counters"]["chain0.fec-encode"]["repair_packets"]
    assert u_dec["ipackets"] == u_enc["opackets"]
    assert u_dec["rx_unknown_source"] == 0 and u_dec["peer_state"] in ("up", "dead")
    assert r_dec["buffers_leaked"] == 0 and r_enc["buffers_leaked"] == 0
