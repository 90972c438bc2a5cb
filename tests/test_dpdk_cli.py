"""The pydpdk command: demo (pcap through net_pcap) and info, run as real subprocesses."""

import json
import subprocess
import sys

from conftest import read_pcap_with_libpcap, requires_dpdk

from pydpdk.frames import make_frames, read_pcap, write_pcap


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "pydpdk.cli", *args], capture_output=True,
                          text=True, timeout=120)


def test_pcap_helpers_agree_with_libpcap(tmp_path):
    frames = make_frames(20, 100) + make_frames(1, 1500)
    write_pcap(tmp_path / "f.pcap", frames)
    assert read_pcap_with_libpcap(tmp_path / "f.pcap") == frames
    assert read_pcap(tmp_path / "f.pcap") == frames
    assert all(len(f) == 100 for f in frames[:20])


@requires_dpdk
def test_demo_forwards_the_pcap_and_reports(tmp_path):
    proc = run_cli("pcap-forward", "--packets", "3000", "--size", "200", "--dir", str(tmp_path),
                   "--json")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    report = json.loads(proc.stdout)               # stdout: the JSON document only
    assert "generated 3000 UDP frames" in proc.stderr
    assert report["packets_in"] == report["packets_out"] == report["packets_forwarded"] == 3000
    assert report["identical"] is True and report["mbufs_leaked"] == 0
    assert report["bytes_out"] == 3000 * 200
    # An independent reader agrees with the demo's own check.
    assert read_pcap_with_libpcap(tmp_path / "out.pcap") == \
        read_pcap_with_libpcap(tmp_path / "in.pcap")


@requires_dpdk
def test_demo_reports_bad_arguments():
    proc = run_cli("pcap-forward", "--packets", "10", "--burst", "0")
    assert proc.returncode == 2
    assert "argument --burst: expected a burst size in 1..256, got 0" in proc.stderr
    proc = run_cli("pcap-forward", "--eal=--no-such-flag")
    assert proc.returncode == 1 and "rte_eal_init" in proc.stderr


@requires_dpdk
def test_info_shows_dpdk_and_ports():
    proc = run_cli("info", "--json", "--eal=--vdev=net_null3")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["build"]["dpdk"] is True
    assert info["dpdk"]["ports"] == {"0": "net_null3"}
    assert info["dpdk"]["lcores"][0]["main"] is True


def test_info_without_eal():
    proc = run_cli("info", "--no-eal")
    assert proc.returncode == 0, proc.stderr
    assert "pydpdk" in proc.stdout and "build dpdk" in proc.stdout


@requires_dpdk
def test_l2fwd_example_in_both_modes():
    import pathlib
    import re

    example = pathlib.Path(__file__).parent.parent / "examples" / "l2fwd.py"
    for mode in ("python", "native"):
        proc = subprocess.run([sys.executable, str(example), "--", "--mode", mode,
                               "--seconds", "0.3"], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr
        match = re.search(r"rx (\d+), tx (\d+), dropped (\d+)", proc.stdout)
        assert match, proc.stdout
        rx, tx, dropped = map(int, match.groups())
        assert rx > 0 and rx == tx + dropped
