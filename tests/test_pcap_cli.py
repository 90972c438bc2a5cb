"""Capture files through pipelines and the CLI: runs end at end of file,
errors end them with a message and a non-zero status, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pydpdk.errors import CaptureFileError

try:
    from pydpdk.pcap import BufferPool, CaptureReader, CaptureWriter, PcapPort
except Exception:  # noqa: BLE001 - built without the pcap feature
    pytest.skip("pydpdk was built without the pcap file backend", allow_module_level=True)

from pydpdk.pipeline import Pipeline


def frame(i: int, size: int = 200) -> bytes:
    return b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x88\xb5" + bytes(
        (i + j) & 0xFF for j in range(size - 14))


def make_input(path: Path, count: int = 100) -> list[bytes]:
    frames = [frame(i, 60 + i * 13 % 1400) for i in range(count)]
    with CaptureWriter(path) as w:
        for i, f in enumerate(frames):
            w.write(f, 1_700_000_000_000_000_000 + i * 1000)
    return frames


def pydpdk(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("PYDPDK_BACKEND", None)
    return subprocess.run([sys.executable, "-m", "pydpdk.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def test_pipeline_from_a_file_ends_at_end_of_file(tmp_path):
    src, dst = tmp_path / "in.pcapng", tmp_path / "out.pcapng"
    frames = make_input(src, 300)
    pool = BufferPool(capacity=512)
    rx, tx = PcapPort(rx_path=src, pool=pool), PcapPort(tx_path=dst, pool=pool)
    with rx, tx:
        rx.start()
        tx.start()
        result = Pipeline().add(rx, sink=tx).run(duration=120)
        assert result["stopped_by"] == "sources-done", result
        assert rx.done
    assert [r.data for r in CaptureReader(dst)] == frames
    pool.close()


def test_fec_encode_from_a_file_ends_without_packets_option(tmp_path):
    src, dst = tmp_path / "in.pcap", tmp_path / "out.pcapng"
    make_input(src)
    # No --backend, no --packets: pcap: specs run natively on every build.
    proc = pydpdk("fec", "encode", "--", "--in", f"pcap:rx={src}", "--out", f"pcap:tx={dst}",
                  "-k", "4", "-m", "2")
    assert proc.returncode == 0, proc.stderr
    assert "sources-done" in proc.stdout
    assert dst.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"     # .pcapng gives pcapng
    assert len(list(CaptureReader(dst))) == 150            # 100 + 50 repair


def test_fec_round_trip_through_files(tmp_path):
    src, mid, out = tmp_path / "in.pcap", tmp_path / "mid.pcap", tmp_path / "out.pcap"
    frames = make_input(src)
    for mode, a, b in (("encode", src, mid), ("decode", mid, out)):
        proc = pydpdk("fec", mode, "--", "--in", f"pcap:rx={a}", "--out", f"pcap:tx={b}",
                      "-k", "4", "-m", "2")
        assert proc.returncode == 0, proc.stderr
    assert [r.data for r in CaptureReader(out)] == frames


def test_cut_off_input_ends_the_run_with_a_message(tmp_path):
    src = tmp_path / "in.pcap"
    make_input(src, 20)
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(src.read_bytes()[:-30])
    proc = pydpdk("fec", "encode", "--", "--in", f"pcap:rx={cut}", "--out",
                  f"pcap:tx={tmp_path / 'o.pcap'}")
    assert proc.returncode == 1
    assert "cut.pcap" in proc.stderr and "record 20" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_full_disk_ends_the_run_with_a_message(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    src = tmp_path / "in.pcap"
    make_input(src, 400)
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs_files_cli", str(mnt)],
                   check=True)
    try:
        proc = pydpdk("fec", "encode", "--", "--in", f"pcap:rx={src}", "--out",
                      f"pcap:tx={mnt / 'out.pcap'}")
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    assert proc.returncode == 1, proc.stdout
    assert "out.pcap" in proc.stderr and "No space left" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("spec,message", [
    ("pcap:rx", "expected key=value"),
    ("pcap:rx=a.pcap,bogus=1", "unknown key"),
    ("pcap:", "needs rx=FILE"),
    ("pcap:rx=a.pcap,speed=nan", "speed"),
])
def test_bad_pcap_specs_are_named(tmp_path, spec, message):
    proc = pydpdk("fec", "encode", "--", "--in", spec, "--out", f"pcap:tx={tmp_path / 'o'}")
    assert proc.returncode in (1, 2)
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_missing_capture_file_is_one_line(tmp_path):
    proc = pydpdk("fec", "encode", "--", "--in", f"pcap:rx={tmp_path / 'nope.pcap'}", "--out",
                  f"pcap:tx={tmp_path / 'o.pcap'}")
    assert proc.returncode == 1
    assert "nope.pcap" in proc.stderr and "Traceback" not in proc.stderr


def test_capture_reader_errors_are_typed(tmp_path):
    bad = tmp_path / "bad.pcapng"
    bad.write_bytes(b"\x0a\x0d\x0d\x0a" + b"\x00" * 8)
    with pytest.raises(CaptureFileError, match="bad.pcapng"):
        CaptureReader(bad)


def test_json_document_has_a_schema_and_stable_keys(tmp_path):
    import json

    src, dst = tmp_path / "in.pcap", tmp_path / "out.pcap"
    with CaptureWriter(src) as w:
        for i in range(12):
            w.write(frame(i), 1_700_000_000_000_000_000 + i * 100_000_000)
    proc = pydpdk("fec", "encode", "--", "--in", f"pcap:rx={src},timing=1", "--out",
                  f"pcap:tx={dst}", "-k", "4", "-m", "1", "--json", "--stats-interval", "0.3")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "pydpdk.fec/1" and doc["stopped_by"] == "sources-done"
    assert set(doc["ports"]) == {"in", "out"} and doc["ports"]["in"]["ipackets"] == 12
    assert doc["port_specs"]["in"] == f"pcap:rx={src},timing=1"
    assert set(doc["counters"]) == {"chain0.rx.in", "chain0.fec-encode", "chain0.tx.out"}
    assert doc["counters"]["chain0.fec-encode"]["packets_in"] == 12
    # interval records: per-interval counts that add up to the totals
    assert len(doc["intervals"]) >= 2
    total = sum(r["stages"].get("chain0.rx.in", {}).get("packets_out", 0)
                for r in doc["intervals"])
    assert total <= 12
    keys = json.dumps([list(doc["counters"]), list(doc["ports"]),
                       [list(r["stages"]) for r in doc["intervals"]]])
    assert "<" not in keys and str(tmp_path) not in keys   # no reprs, no paths in keys
    assert "Mpps" not in proc.stderr                       # no progress lines with --json


def test_loop_and_timed_replay_from_the_spec(tmp_path):
    import time

    src, dst = tmp_path / "in.pcap", tmp_path / "out.pcap"
    with CaptureWriter(src) as w:
        for i in range(5):
            w.write(frame(i), 1_700_000_000_000_000_000 + i * 200_000_000)   # 0.8 s in all
    start = time.monotonic()
    proc = pydpdk("fec", "encode", "--", "--in", f"pcap:rx={src},loop=3,timing=1,speed=2",
                  "--out", f"pcap:tx={dst}", "-k", "5", "-m", "1", "--deadline-ms", "0")
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    assert "sources-done" in proc.stdout
    assert len(list(CaptureReader(dst))) == 15 + 3      # 3 passes of 5, one parity each
    assert elapsed >= 3 * 0.8 / 2 * 0.9                 # paced at twice the file's speed
