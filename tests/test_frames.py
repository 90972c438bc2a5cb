"""The CLI's frame builder and pcap reader: checksums tcpdump accepts, and cut
records raised (naming the record), never returned short."""

from __future__ import annotations

import shutil
import struct
import subprocess

import pytest

from pydpdk.errors import CaptureFileError
from pydpdk.frames import internet_checksum, make_frames, read_pcap, write_pcap


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (make deps installs it)")
    return path


def test_checksums_are_good_for_tcpdump_and_tshark(tmp_path):
    frames = make_frames(20, 100) + make_frames(3, 1514)
    path = tmp_path / "f.pcap"
    write_pcap(path, frames)
    out = subprocess.run([need("tcpdump"), "-nn", "-vv", "-r", str(path)],
                         capture_output=True, text=True, check=True).stdout
    assert out.count("[udp sum ok]") == 23
    assert "bad cksum" not in out and "bad udp cksum" not in out
    status = subprocess.run([need("tshark"), "-r", str(path), "-o", "ip.check_checksum:TRUE",
                             "-o", "udp.check_checksum:TRUE", "-T", "fields",
                             "-e", "ip.checksum.status", "-e", "udp.checksum.status"],
                            capture_output=True, text=True, check=True).stdout.split()
    assert status == ["1"] * 46   # Good, Good for every frame


def test_internet_checksum_of_rfc1071_example():
    # RFC 1071 section 3: the sum of 0001 f203 f4f5 f6f7 is ddf2 -> checksum 220d
    assert internet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D


def test_bad_sizes():
    with pytest.raises(ValueError, match="between 46 and 65535"):
        make_frames(1, 45)
    with pytest.raises(ValueError, match="between 46 and 65535"):
        make_frames(1, 70000)


def test_reader_raises_for_cut_and_snapped_records(tmp_path):
    frames = make_frames(5, 200)
    path = tmp_path / "f.pcap"
    write_pcap(path, frames)
    assert read_pcap(path) == frames
    data = path.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:-50])
    with pytest.raises(CaptureFileError, match=r"cut\.pcap: record 5 at byte \d+: cut off"):
        read_pcap(cut)
    snapped = tmp_path / "snap.pcap"
    subprocess.run([need("editcap"), "-F", "pcap", "-s", "100", str(path), str(snapped)],
                   check=True)
    with pytest.raises(CaptureFileError, match="record 1 .*holds 100 of 200"):
        read_pcap(snapped)
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(struct.pack("<I", 0x12345678) + bytes(40))
    with pytest.raises(CaptureFileError, match="not a pcap"):
        read_pcap(bad)
