"""Every example runs on virtual devices with no NIC (smoke tests as subprocesses)."""

import struct
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import read_pcap_with_libpcap, udp_frames, write_pcap

from pydpdk import backend

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BACKENDS = [b for b, why in backend.available().items() if why is None]


def run_example(name, *args, env_backend=None, timeout=120):
    env = None
    if env_backend:
        import os

        env = dict(os.environ, PYDPDK_BACKEND=env_backend)
    return subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def with_ipv4_checksum(frame):
    s = sum(struct.unpack("!10H", frame[14:24] + b"\0\0" + frame[26:34]))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return frame[:24] + struct.pack("!H", ~s & 0xFFFF) + frame[26:]


def ipv4_checksum_ok(frame):
    s = sum(struct.unpack("!10H", frame[14:34]))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s == 0xFFFF


@pytest.mark.parametrize("which", BACKENDS)
def test_fec_tunnel_carries_both_directions(which):
    proc = run_example("fec_tunnel.py", "--seconds", "1", "--loss", "0.05", env_backend=which)
    assert proc.returncode == 0, proc.stderr
    assert "A -> B" in proc.stdout and "B -> A" in proc.stdout
    assert proc.stdout.count("corrupted 0") == 2


@pytest.mark.parametrize("which", BACKENDS)
def test_header_stage_routes_and_keeps_checksums(which):
    proc = run_example("header_stage.py", "--seconds", "0.5", env_backend=which)
    assert proc.returncode == 0, proc.stderr
    assert "checksum valid" in proc.stdout


@pytest.mark.parametrize("which", BACKENDS)
def test_pcap_rewrite_rewrites_every_frame(tmp_path, which):
    frames = [with_ipv4_checksum(f) for f in udp_frames(300, payload_len=100)]
    assert all(ipv4_checksum_ok(f) for f in frames)
    write_pcap(tmp_path / "in.pcap", frames)
    proc = run_example("pcap_rewrite.py", str(tmp_path / "in.pcap"), str(tmp_path / "out.pcap"),
                       "--dst-mac", "02:12:34:56:78:9a", "--ttl", "9", env_backend=which)
    assert proc.returncode == 0, proc.stderr
    out = read_pcap_with_libpcap(tmp_path / "out.pcap")
    assert len(out) == len(frames)
    for before, after in zip(frames, out):
        assert after[:6] == bytes.fromhex("02123456789a")
        assert after[22] == 9 and ipv4_checksum_ok(after)
        assert after[6:22] == before[6:22] and after[26:] == before[26:]
