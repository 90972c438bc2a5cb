"""A capture written onto a full disk ends the run with status 1 and a
message naming the file, on pydpdk's pcap port and on DPDK's net_pcap,
whose driver (libpcap's pcap_dump) hides write errors (issue 12)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pydpdk import dpdk
from pydpdk.frames import make_frames, write_pcap


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs: a few hundred frames fill it."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fec_encode(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pydpdk", "fec", "encode", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def big_input(tmp_path: Path) -> Path:
    path = tmp_path / "in.pcap"
    write_pcap(path, make_frames(1500, 1000))        # ~1.5 MB, more than the disk
    return path


def check_failed(proc: subprocess.CompletedProcess[str], out: Path) -> None:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert str(out) in last or out.name in last, last


def test_native_capture_on_a_full_disk(small_disk, big_input):
    out = small_disk / "out.pcap"
    check_failed(fec_encode("--in", f"pcap:rx={big_input}", "--out", f"pcap:tx={out}"), out)


@pytest.mark.skipif(not dpdk.AVAILABLE, reason="pydpdk built without DPDK")
def test_dpdk_net_pcap_capture_on_a_full_disk(small_disk, big_input):
    out = small_disk / "out.pcap"
    proc = fec_encode(f"--vdev=net_pcap0,rx_pcap={big_input}", f"--vdev=net_pcap1,tx_pcap={out}",
                      "--", "--in", "net_pcap0", "--out", "net_pcap1", "--duration", "1.5")
    check_failed(proc, out)
    assert "wrote" in proc.stderr


@pytest.mark.skipif(not dpdk.AVAILABLE, reason="pydpdk built without DPDK")
def test_dpdk_net_pcap_capture_that_fits_is_fine(tmp_path, small_disk):
    src, out = tmp_path / "in.pcap", small_disk / "out.pcap"
    write_pcap(src, make_frames(20, 200))
    proc = fec_encode(f"--vdev=net_pcap0,rx_pcap={src}", f"--vdev=net_pcap1,tx_pcap={out}",
                      "--", "--in", "net_pcap0", "--out", "net_pcap1", "--duration", "0.5")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.skipif(not dpdk.AVAILABLE, reason="pydpdk built without DPDK")
@pytest.mark.parametrize("args", [["demo", "--eal=-h"], ["info", "--eal=--help"],
                                  ["pcap-forward", "--eal=-h"], ["fec", "encode", "-h", "--"]])
def test_eal_help_in_every_subcommand(args):
    proc = subprocess.run([sys.executable, "-m", "pydpdk", *args], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "EAL common options" in proc.stdout and not proc.stderr.strip()


@pytest.mark.skipif(not dpdk.AVAILABLE, reason="pydpdk built without DPDK")
def test_dpdk_net_pcap_truncated_input_is_reported(tmp_path, big_input):
    # net_pcap stops at the cut record and says nothing; the run must.
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(big_input.read_bytes()[:50_000])
    proc = fec_encode("--in", f"net_pcap0,rx_pcap={cut}", "--out",
                      f"net_pcap1,tx_pcap={tmp_path / 'out.pcap'}", "--duration", "1")
    check_failed(proc, cut)
    assert "record 50" in proc.stderr
