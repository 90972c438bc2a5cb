"""pcap/pcapng fidelity: every record of every interface, checked against tshark.

Inputs are built by real tools (editcap, mergecap) or by a small pcapng
writer here (struct, either byte order); each file is read by pydpdk's
reader and by tshark, and the two must agree record by record: lengths,
timestamps (to the nanosecond), interface and bytes.
"""

from __future__ import annotations

import errno
import gc
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pydpdk.errors import CaptureFileError

try:
    from pydpdk.pcap import (
        BufferPool,
        CaptureReader,
        CaptureWriter,
        PcapPort,
        copy_capture,
        read_frames,
    )
except Exception:  # noqa: BLE001 - built without the pcap feature
    pytest.skip("pydpdk was built without the pcap file backend", allow_module_level=True)


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (make deps installs it)")
    return path


def frame(seq: int, size: int) -> bytes:
    head = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + struct.pack("!HI", 0x88B5, seq)
    return head + bytes((seq * 7 + i) & 0xFF for i in range(size - len(head)))


FRAMES = [frame(i, 60 + (i * 211) % 1400) for i in range(24)]


def tshark_rows(path: Path) -> list[tuple[int, int, str, int]]:
    """(frame.len, frame.cap_len, frame.time_epoch, frame.interface_id) per record."""
    out = subprocess.run([need("tshark"), "-r", str(path), "-T", "fields",
                          "-e", "frame.len", "-e", "frame.cap_len", "-e", "frame.time_epoch",
                          "-e", "frame.interface_id"],
                         capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        length, cap, epoch, iface = line.split("\t")
        rows.append((int(length), int(cap), epoch or "0", int(iface or 0)))
    return rows


def epoch(ns: int) -> str:
    return f"{ns // 10**9}.{ns % 10**9:09d}" if ns else "0"


def our_rows(path: Path) -> list[tuple[int, int, str, int]]:
    return [(r.orig_len, len(r.data), epoch(r.ts_ns), r.interface) for r in CaptureReader(path)]


def tshark_bytes(path: Path) -> list[bytes]:
    out = subprocess.run([need("tshark"), "-r", str(path), "-T", "json", "-x"],
                         capture_output=True, text=True, check=True).stdout
    import json
    return [bytes.fromhex(p["_source"]["layers"]["frame_raw"][0]) for p in json.loads(out)]


def write_pcap(path: Path, frames: list[bytes], ns: bool = True, snaplen: int = 65535) -> None:
    with CaptureWriter(path, "pcap", ts_resolution=9 if ns else 6, snaplen=snaplen) as w:
        for i, f in enumerate(frames):
            w.write(f, 1_700_000_000_000_000_000 + i * 1_000_123)


@pytest.fixture
def pool():
    p = BufferPool(capacity=512, data_room=2048)
    yield p
    assert p.available == p.capacity, "a test leaked packets"
    p.close()


def read_port(path: Path, pool, **kw) -> tuple[list[bytes], list]:
    frames, infos = [], []
    with PcapPort(rx_path=path, pool=pool, **kw) as port:
        port.start()
        for _ in range(10_000):
            burst = port.rx_burst(max_packets=32)
            frames.extend(burst.to_bytes_list())
            infos.extend(port.rx_info())
            burst.free()
            if port.done and not burst:
                break
    return frames, infos


# --------------------------------------------------------------- handed inputs

def test_two_ethernet_interfaces_differing_in_snap_length(tmp_path, pool):
    # libpcap 1.10.3 reads 0 packets of this file ("cut off or corrupt").
    a, b = tmp_path / "a.pcapng", tmp_path / "b.pcapng"
    write_pcap(tmp_path / "a.pcap", FRAMES[:12])
    write_pcap(tmp_path / "b.pcap", FRAMES[12:], snaplen=1600)
    for src, dst in ((tmp_path / "a.pcap", a), (tmp_path / "b.pcap", b)):
        subprocess.run([need("editcap"), "-F", "pcapng", str(src), str(dst)], check=True)
    merged = tmp_path / "merged.pcapng"
    subprocess.run([need("mergecap"), "-F", "pcapng", "-w", str(merged), str(a), str(b)],
                   check=True)
    rows = tshark_rows(merged)
    assert len(rows) == len(FRAMES) and {r[3] for r in rows} == {0, 1}
    # libpcap (tcpdump) refuses the file: the reason for our own reader.
    libpcap = subprocess.run([need("tcpdump"), "-nn", "-r", str(merged)], capture_output=True,
                             text=True)
    assert libpcap.returncode != 0 or libpcap.stdout.count("0x88b5") < len(FRAMES)
    assert our_rows(merged) == rows
    frames, infos = read_port(merged, pool)
    assert sorted(frames) == sorted(FRAMES)
    assert frames == tshark_bytes(merged)
    assert [i.interface for i in infos] == [r[3] for r in rows]


def test_ethernet_and_linux_cooked_interfaces(tmp_path, pool):
    # Ethernet and Linux SLL (link type 113) in one file: every record is
    # delivered as it is, its link type reported per packet.
    write_pcap(tmp_path / "eth.pcap", FRAMES[:8])
    write_pcap(tmp_path / "x.pcap", FRAMES[8:16])
    sll = tmp_path / "sll.pcapng"
    subprocess.run([need("editcap"), "-F", "pcapng", "-T", "linux-sll", str(tmp_path / "x.pcap"),
                    str(sll)], check=True)
    merged = tmp_path / "mixed.pcapng"
    subprocess.run([need("mergecap"), "-F", "pcapng", "-w", str(merged),
                    str(tmp_path / "eth.pcap"), str(sll)], check=True)
    rows = tshark_rows(merged)
    assert len(rows) == 16
    assert our_rows(merged) == rows
    frames, infos = read_port(merged, pool)
    assert frames == tshark_bytes(merged)
    assert sorted(frames) == sorted(FRAMES[:16])
    links = {f: i.link_type for f, i in zip(frames, infos)}
    assert all(links[f] == 1 for f in FRAMES[:8])
    assert all(links[f] == 113 for f in FRAMES[8:16])


# ------------------------------------------------ a pcapng writer of the test

class NgBuilder:
    """Minimal pcapng writer, in either byte order, for inputs tools do not make."""

    def __init__(self, big_endian: bool) -> None:
        self.e = ">" if big_endian else "<"
        self.out = bytearray()

    def block(self, btype: int, body: bytes) -> None:
        body += b"\0" * (-len(body) % 4)
        total = 12 + len(body)
        self.out += struct.pack(self.e + "II", btype, total) + body + struct.pack(self.e + "I",
                                                                                  total)

    def shb(self) -> None:
        self.block(0x0A0D0D0A, struct.pack(self.e + "IHHq", 0x1A2B3C4D, 1, 0, -1))

    def idb(self, link: int, snap: int, tsresol: int | None = None, offset: int = 0) -> None:
        opts = b""
        if tsresol is not None:
            opts += struct.pack(self.e + "HH", 9, 1) + bytes([tsresol, 0, 0, 0])
        if offset:
            opts += struct.pack(self.e + "HHq", 14, 8, offset)
        if opts:
            opts += struct.pack(self.e + "HH", 0, 0)
        self.block(1, struct.pack(self.e + "HHI", link, 0, snap) + opts)

    def epb(self, iface: int, ts: int, data: bytes, orig: int | None = None) -> None:
        self.block(6, struct.pack(self.e + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data),
                                  len(data) if orig is None else orig) + data)

    def spb(self, data: bytes) -> None:
        self.block(3, struct.pack(self.e + "I", len(data)) + data)

    def other(self, btype: int) -> None:
        self.block(btype, b"\x01\x02\x03\x04")


def rich_file(big_endian: bool) -> bytes:
    b = NgBuilder(big_endian)
    b.shb()
    b.idb(1, 65535)                               # microseconds (default)
    b.idb(113, 200, tsresol=9)                    # SLL, nanoseconds, snap 200
    b.idb(1, 9000, tsresol=0x80 | 20, offset=50)  # 2^-20 s, +50 s
    b.idb(101, 0, tsresol=3)                      # raw IP, milliseconds
    b.other(0x80000001)                           # local-use block: skipped
    b.epb(0, 1_700_000_000_123_456, FRAMES[0])
    b.epb(1, 1_700_000_000_123_456_789, FRAMES[1][:200], orig=len(FRAMES[1]))
    b.epb(2, (1_700_000_000 << 20) | (3 << 18), FRAMES[2])
    b.epb(3, 1_700_000_000_250, FRAMES[3])
    b.spb(FRAMES[4])
    b.shb()                                       # a second section
    b.idb(1, 65535, tsresol=9)
    b.epb(0, 1_700_000_001_000_000_001, FRAMES[5])
    return bytes(b.out)


@pytest.mark.parametrize("big_endian", [False, True], ids=["little-endian", "big-endian"])
def test_every_block_resolution_and_byte_order_agrees_with_tshark(tmp_path, big_endian):
    path = tmp_path / "rich.pcapng"
    path.write_bytes(rich_file(big_endian))
    rows = tshark_rows(path)
    assert len(rows) == 6
    assert our_rows(path) == rows
    recs = list(CaptureReader(path))
    assert [r.data for r in recs] == tshark_bytes(path)
    assert [r.link_type for r in recs] == [1, 113, 1, 101, 1, 1]
    assert [r.ts_resolution for r in recs] == [6, 9, 0x80 | 20, 3, 6, 9]
    assert [r.section for r in recs] == [0, 0, 0, 0, 0, 1]
    assert [r.number for r in recs] == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("big_endian", [False, True])
def test_copy_keeps_interfaces_resolutions_and_timestamps(tmp_path, big_endian):
    src, dst = tmp_path / "rich.pcapng", tmp_path / "copy.pcapng"
    src.write_bytes(rich_file(big_endian))
    assert copy_capture(src, dst) == 6
    # The simple packet block (no timestamp) becomes an enhanced one at 0.
    assert [r if r[2] != "0.000000000" else (*r[:2], "0", r[3]) for r in tshark_rows(dst)] \
        == tshark_rows(src)
    assert tshark_bytes(dst) == tshark_bytes(src)
    a, b = list(CaptureReader(src)), list(CaptureReader(dst))
    assert [(r.ts_raw, r.ts_resolution, r.link_type, r.snaplen) for r in a] == \
        [(r.ts_raw, r.ts_resolution, r.link_type, r.snaplen) for r in b]
    # capinfos-like check by tshark: the link types of the copy's interfaces
    out = subprocess.run([need("tshark"), "-r", str(dst), "-T", "fields", "-e",
                          "frame.interface_id", "-e", "frame.encap_type"],
                         capture_output=True, text=True, check=True).stdout
    assert len(set(out.splitlines())) == 4


def test_copy_into_pcap_refuses_several_link_types(tmp_path):
    src = tmp_path / "rich.pcapng"
    src.write_bytes(rich_file(False))
    with pytest.raises(ValueError, match="link types"):
        copy_capture(src, tmp_path / "x.pcap")


def test_output_format_follows_the_name(tmp_path, pool):
    for name, magic in (("o.pcapng", b"\x0a\x0d\x0d\x0a"), ("o.pcap", b"\xd4\xc3\xb2\xa1"),
                        ("o.cap", b"\x4d\x3c\xb2\xa1")):
        nanos = name != "o.pcap"
        with PcapPort(tx_path=tmp_path / name, pool=pool, nanosecond=nanos) as port:
            port.start()
            burst = pool.burst_from_bytes(FRAMES[:3])
            assert port.tx_burst(burst) == 3
            assert port.tx_format == ("pcapng" if name.endswith("ng") else "pcap")
        data = (tmp_path / name).read_bytes()
        assert data[:4] == magic
        rows = tshark_rows(tmp_path / name)
        assert [r[0] for r in rows] == [len(f) for f in FRAMES[:3]]
    # tcpdump reads both
    for name in ("o.pcapng", "o.pcap"):
        out = subprocess.run([need("tcpdump"), "-nn", "-r", str(tmp_path / name)],
                             capture_output=True, text=True, check=True)
        assert out.stdout.count("0x88b5") == 3
    # an explicit format wins over the name
    with PcapPort(tx_path=tmp_path / "x.pcap", pool=pool, format="pcapng") as port:
        assert port.tx_format == "pcapng"
    assert (tmp_path / "x.pcap").read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    with pytest.raises(ValueError, match="format"):
        PcapPort(tx_path=tmp_path / "y", pool=pool, format="erf")


def test_port_copy_with_rx_info_keeps_interfaces(tmp_path, pool):
    src, dst = tmp_path / "rich.pcapng", tmp_path / "out.pcapng"
    src.write_bytes(rich_file(False))
    rx = PcapPort(rx_path=src, pool=pool, deliver_snapped=True)
    tx = PcapPort(tx_path=dst, pool=pool, link_type=1, snaplen=65535)
    with rx, tx:
        rx.start()
        tx.start()
        # interfaces 1..3 of the file (0 is the port's own)
        assert tx.add_tx_interface(113, 200, 9) == 1
        assert tx.add_tx_interface(1, 9000, 9) == 2
        assert tx.add_tx_interface(101, 65535, 9) == 3
        while not rx.done:
            burst = rx.rx_burst()
            info = rx.rx_info()
            tx.tx_burst(burst, interfaces=[i.interface for i in info],
                        orig_lens=[i.orig_len for i in info])
    want = [(r[0], r[1], r[3]) for r in tshark_rows(src)]
    assert [(r[0], r[1], r[3]) for r in tshark_rows(dst)] == want
    # ns timestamps as the reader computed them
    assert [r[2] for r in tshark_rows(dst)][:2] == [r[2] for r in tshark_rows(src)][:2]


def test_bad_interface_number_is_named(tmp_path):
    b = NgBuilder(False)
    b.shb()
    b.idb(1, 0)
    b.epb(0, 1, FRAMES[0])
    b.epb(4, 1, FRAMES[1])
    path = tmp_path / "badif.pcapng"
    path.write_bytes(bytes(b.out))
    reader = CaptureReader(path)
    assert next(reader).data == FRAMES[0]
    with pytest.raises(CaptureFileError, match=r"record 2 .*interface 4 is not defined"):
        next(reader)


def test_cut_off_pcapng_names_the_block(tmp_path, pool):
    path = tmp_path / "cut.pcapng"
    data = rich_file(False)
    path.write_bytes(data[:-10])
    with pytest.raises(CaptureFileError, match=r"cut\.pcapng.*byte \d+.*cut off"):
        list(CaptureReader(path))
    frames, _ = [], []
    with PcapPort(rx_path=path, pool=pool, deliver_snapped=True) as port:
        port.start()
        burst = port.rx_burst()
        frames = burst.to_bytes_list()
        burst.free()
        with pytest.raises(CaptureFileError, match="cut off"):
            port.rx_burst()
    assert frames[:5] == [r.data for r in list(CaptureReader(tmp_path / "ok.pcapng"))[:5]] \
        if (tmp_path / "ok.pcapng").write_bytes(data) else True


def test_read_frames_refuses_snapped_records(tmp_path):
    path = tmp_path / "rich.pcapng"
    path.write_bytes(rich_file(False))
    with pytest.raises(CaptureFileError, match="record 2 holds 200 of"):
        read_frames(path)
    with pytest.raises(FileNotFoundError, match="missing.pcap"):
        read_frames(tmp_path / "missing.pcap")


# ------------------------------------------------------------------ writing

def test_full_disk_is_an_error_not_a_short_file(tmp_path, pool):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs_files_test", str(mnt)],
                   check=True)
    try:
        port = PcapPort(tx_path=mnt / "out.pcapng", pool=pool)
        port.start()
        with pytest.raises(OSError) as err:
            for _ in range(200):
                burst = pool.burst_from_bytes(FRAMES[:16])
                try:
                    port.tx_burst(burst)
                finally:
                    burst.free()
            port.flush()
        assert err.value.errno == errno.ENOSPC
        assert "out.pcapng" in str(err.value)
        assert port.stats()["oerrors"] > 0
        with pytest.raises(OSError):
            port.close()
        # The writer API too: the error comes from write() or close().
        w = CaptureWriter(mnt / "w.pcap")
        with pytest.raises(OSError) as err2:
            try:
                for _ in range(200):
                    w.write(FRAMES[5], 1)
            finally:
                w.close()
        assert err2.value.errno == errno.ENOSPC
    finally:
        gc.collect()
        subprocess.run(["umount", str(mnt)], check=True)


def test_written_pcapng_interfaces_read_by_tshark(tmp_path):
    path = tmp_path / "w.pcapng"
    with CaptureWriter(path, link_type=1, ts_resolution=6) as w:
        assert w.add_interface(113, 128, 9) == 1
        assert w.add_interface(1, 65535, 0x80 | 10) == 2
        w.write(FRAMES[0], 1_700_000_000_123_456_000)
        w.write(FRAMES[1][:128], 1_700_000_000_123_456_789, interface=1,
                orig_len=len(FRAMES[1]))
        w.write(FRAMES[2], ts_raw=(1_700_000_000 << 10) | 512, interface=2)
    assert tshark_rows(path) == [
        (len(FRAMES[0]), len(FRAMES[0]), "1700000000.123456000", 0),
        (len(FRAMES[1]), 128, "1700000000.123456789", 1),
        (len(FRAMES[2]), len(FRAMES[2]), "1700000000.500000000", 2),
    ]


# ------------------------------------------------------------------ fuzzing

@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_files_end_cleanly_or_with_capture_file_error(tmp_path, data):
    base = bytearray(rich_file(data.draw(st.booleans())))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(base) - 1))
        base[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(base)))
    path = tmp_path / "fuzz.pcapng"
    path.write_bytes(bytes(base[:cut]))
    got = []
    try:
        for rec in CaptureReader(path):
            assert len(rec.data) <= 2000
            got.append(rec)
    except CaptureFileError as exc:
        assert "fuzz.pcapng" in str(exc)
    assert len(got) <= 6
