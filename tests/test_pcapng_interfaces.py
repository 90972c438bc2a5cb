"""A pcapng input with several interfaces keeps them through a pipeline and
through ``pydpdk fec encode | decode`` into a ``.pcapng`` output (issue 12).

The input is made by the real tools: two classic pcaps (microsecond and
nanosecond resolution, snap lengths 65535 and 1600) turned into pcapng by
editcap and merged by mergecap, so its records alternate between two
interfaces.  tshark and capinfos judge the output.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_pcapng import FRAMES, need, tshark_bytes, tshark_rows, write_pcap

from pydpdk.pipeline import Pipeline

try:
    from pydpdk.pcap import BufferPool, PcapPort
except Exception as exc:  # built without the pcap feature
    pytest.skip(str(exc), allow_module_level=True)


def two_interface_capture(tmp_path: Path) -> Path:
    write_pcap(tmp_path / "a.pcap", FRAMES[:12], ns=False)
    write_pcap(tmp_path / "b.pcap", FRAMES[12:], snaplen=1600)
    for name in ("a", "b"):
        subprocess.run([need("editcap"), "-F", "pcapng", str(tmp_path / f"{name}.pcap"),
                        str(tmp_path / f"{name}.pcapng")], check=True)
    merged = tmp_path / "merged.pcapng"
    subprocess.run([need("mergecap"), "-F", "pcapng", "-w", str(merged),
                    str(tmp_path / "a.pcapng"), str(tmp_path / "b.pcapng")], check=True)
    assert {r[3] for r in tshark_rows(merged)} == {0, 1}
    return merged


def interfaces(path: Path) -> list[tuple[str, str]]:
    """(capture length, time precision) of each interface, as capinfos says."""
    out = subprocess.run([need("capinfos"), "-I", str(path)], capture_output=True,
                         text=True, check=True).stdout
    lengths = [line.split("=", 1)[1].strip() for line in out.splitlines()
               if "Capture length" in line]
    precisions = [line.split("=", 1)[1].strip() for line in out.splitlines()
                  if "Time precision" in line]
    return list(zip(lengths, precisions))


def test_pipeline_keeps_interfaces_resolutions_and_timestamps(tmp_path):
    src, dst = two_interface_capture(tmp_path), tmp_path / "out.pcapng"
    pool = BufferPool(capacity=256)
    try:
        rx = PcapPort(rx_path=src, pool=pool)
        tx = PcapPort(tx_path=dst, pool=pool)
        with rx, tx:
            rx.start()
            tx.start()
            pipe = Pipeline()
            pipe.add(rx, sink=tx)
            assert pipe.run(duration=60)["stopped_by"] == "sources-done"
            del pipe
        assert pool.available == pool.capacity
    finally:
        pool.close()
    # every record on its interface, with its time and length (tshark's view)
    assert tshark_rows(dst) == tshark_rows(src)
    assert tshark_bytes(dst) == tshark_bytes(src)
    assert interfaces(dst) == interfaces(src) == [
        ("65535", "microseconds (6)"), ("1600", "nanoseconds (9)")]


def test_fec_encode_and_decode_keep_interfaces(tmp_path):
    src = two_interface_capture(tmp_path)
    enc, dec = tmp_path / "enc.pcapng", tmp_path / "dec.pcapng"
    for mode, inp, out in (("encode", src, enc), ("decode", enc, dec)):
        proc = subprocess.run([sys.executable, "-m", "pydpdk", "fec", mode, "--in",
                               f"pcap:rx={inp}", "--out", f"pcap:tx={out}", "-k", "4",
                               "-m", "2"], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    # the encoded stream: every source frame on its input interface
    enc_ifaces = [r[3] for r in tshark_rows(enc)]
    assert {0, 1} <= set(enc_ifaces)
    # decoded: the input again, record for record, interfaces and times included
    assert tshark_rows(dec) == tshark_rows(src)
    assert tshark_bytes(dec) == tshark_bytes(src)
    assert interfaces(dec) == interfaces(src)
