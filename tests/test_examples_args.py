"""The examples have the CLI's manners (issue 12): a bad argument is a usage
error (exit 2) and a failure at run time one line (exit 1), each naming the
culprit, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pydpdk import dpdk

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# (example, arguments, exit status, text the message must contain); {tmp} is
# a scratch directory holding "garbage.pcap" (not a capture) and "adir/".
CASES = [
    ("fec_tunnel.py", ["-k", "0"], 2, "-k"),
    ("fec_tunnel.py", ["-k", "200", "-m", "100"], 2, "k + m"),
    ("fec_tunnel.py", ["--loss", "2"], 2, "--loss"),
    ("fec_tunnel.py", ["--loss", "nan"], 2, "--loss"),
    ("fec_tunnel.py", ["--seconds", "inf"], 2, "--seconds"),
    ("fec_tunnel.py", ["--rate", "nan"], 2, "--rate"),
    ("header_stage.py", ["--size", "70000"], 2, "--size"),
    ("header_stage.py", ["--seconds", "0"], 2, "--seconds"),
    ("pcap_rewrite.py", ["{tmp}/missing.pcap", "{tmp}/out.pcap"], 2, "missing.pcap"),
    ("pcap_rewrite.py", ["{tmp}/adir", "{tmp}/out.pcap"], 2, "adir"),
    ("pcap_rewrite.py", ["{tmp}/garbage.pcap", "/nonexistent-dir/out.pcap"], 2,
     "/nonexistent-dir"),
    ("pcap_rewrite.py", ["--ttl", "0"], 2, "--ttl"),
    ("pcap_rewrite.py", ["--dst-mac", "zz:zz"], 2, "--dst-mac"),
    ("pcap_rewrite.py", ["{tmp}/garbage.pcap", "{tmp}/out.pcap"], 1, "garbage.pcap"),
    # a record cut off: it hung waiting for the record (DPDK) or said all was well
    ("pcap_rewrite.py", ["{tmp}/cut.pcap", "{tmp}/out.pcap"], 1, "cut.pcap"),
    # writing the input would destroy it before it is read
    ("pcap_rewrite.py", ["{tmp}/cut.pcap", "{tmp}/cut.pcap"], 2, "INPUT"),
    ("l2fwd.py", ["--burst", "0"], 2, "--burst"),
    ("l2fwd.py", ["--", "--seconds", "nan"], 2, "--seconds"),
    ("l2fwd.py", ["--", "--mode", "warp"], 2, "--mode"),
]
DPDK_CASES = [
    ("l2fwd.py", ["--", "--ports", "nosuchport", "--seconds", "0.1"], 1, "nosuchport"),
    ("l2fwd.py", ["--vdev=net_bogus0", "--", "--seconds", "0.1"], 1, "net_bogus0"),
]


def run(example: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLES / example), *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("example", "args", "status", "culprit"),
                         CASES + [pytest.param(*c, marks=pytest.mark.skipif(
                             not dpdk.AVAILABLE, reason="pydpdk built without DPDK"))
                                  for c in DPDK_CASES])
def test_bad_arguments_give_one_clear_message(tmp_path, example, args, status, culprit):
    (tmp_path / "garbage.pcap").write_bytes(b"not a capture file\n" * 4)
    (tmp_path / "adir").mkdir()
    from pydpdk.frames import make_frames, write_pcap

    write_pcap(tmp_path / "whole.pcap", make_frames(20, 200))
    (tmp_path / "cut.pcap").write_bytes((tmp_path / "whole.pcap").read_bytes()[:-50])
    proc = run(example, [a.replace("{tmp}", str(tmp_path)) for a in args])
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == status, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines, "no message"
    assert culprit in lines[-1], proc.stderr
    assert lines[-1].startswith(f"{example}: "), proc.stderr
    if status == 1:
        assert len(lines) == 1, proc.stderr       # one line, no usage, no log dump
    else:
        assert lines[0].startswith("usage:"), proc.stderr


@pytest.mark.skipif(not dpdk.AVAILABLE, reason="pydpdk built without DPDK")
def test_eal_help_prints_dpdks_usage():
    proc = run("l2fwd.py", ["-h", "--"])
    assert proc.returncode == 0, proc.stderr
    assert "EAL common options" in proc.stdout and "Traceback" not in proc.stderr
