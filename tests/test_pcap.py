"""Native pcap file port: real files, read back and written by real tools."""

from __future__ import annotations

import gc
import os
import shutil
import socket
import struct
import subprocess
import sys
import textwrap
import time

import pytest

from pydpdk.errors import CaptureFileError, PortError

try:
    from pydpdk._native import BufferPool
    from pydpdk._native_pcap import PcapPort
except ImportError:
    pytest.skip("pydpdk was built without libpcap (meson feature 'pcap')",
                allow_module_level=True)


def frame(seq: int, size: int) -> bytes:
    head = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + struct.pack("!HI", 0x88B5, seq)
    return head + bytes((seq * 3 + i) & 0xFF for i in range(size - len(head)))


FRAMES = [frame(i, 60 + (i * 97) % 1455) for i in range(50)]


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


@pytest.fixture
def pool():
    p = BufferPool(capacity=512, data_room=2048)
    yield p
    gc.collect()
    assert p.available == p.capacity, "a test leaked packets"
    p.close()


def write_pcap(path, pool, frames=FRAMES, **kwargs) -> None:
    with PcapPort(tx_path=path, pool=pool, **kwargs) as port:
        port.start()
        for start in range(0, len(frames), 32):
            burst = pool.burst_from_bytes(frames[start:start + 32])
            assert port.tx_burst(burst) == len(frames[start:start + 32])
            assert len(burst) == 0
        assert port.stats()["opackets"] == len(frames)


def read_all(port, max_bursts: int = 10_000) -> list[bytes]:
    out: list[bytes] = []
    for _ in range(max_bursts):
        burst = port.rx_burst(max_packets=32)
        out.extend(burst.to_bytes_list())
        burst.free()
        if port.done and not burst:
            break
    return out


def test_written_pcap_is_read_by_tcpdump_and_tshark(tmp_path, pool):
    path = tmp_path / "out.pcap"
    write_pcap(path, pool)
    tcpdump = subprocess.run([need("tcpdump"), "-nn", "-r", str(path), "-xx"],
                             capture_output=True, text=True, check=True)
    assert tcpdump.stdout.count("ethertype Unknown (0x88b5)") == len(FRAMES)
    # tshark: frame lengths and the bytes themselves.
    tshark = subprocess.run([need("tshark"), "-r", str(path), "-T", "fields",
                             "-e", "frame.len", "-e", "frame.protocols"],
                            capture_output=True, text=True, check=True)
    lengths = [int(line.split()[0]) for line in tshark.stdout.splitlines()]
    assert lengths == [len(f) for f in FRAMES]
    payloads = subprocess.run([need("tshark"), "-r", str(path), "-T", "fields",
                               "-e", "eth.type", "-e", "data.data"],
                              capture_output=True, text=True, check=True)
    rows = [line.split() for line in payloads.stdout.splitlines()]
    assert rows == [["0x88b5", f[14:].hex()] for f in FRAMES]


def test_round_trip_through_our_reader(tmp_path, pool):
    path = tmp_path / "rt.pcap"
    write_pcap(path, pool)
    with PcapPort(rx_path=path, pool=pool) as port:
        port.start()
        assert read_all(port) == FRAMES
        st = port.stats()
        assert st["ipackets"] == len(FRAMES) and st["ierrors"] == 0
        assert st["passes_done"] == 1
        assert len(port.rx_burst()) == 0  # done: stays empty


def test_reads_pcapng_made_by_editcap(tmp_path, pool):
    plain, ng = tmp_path / "a.pcap", tmp_path / "a.pcapng"
    write_pcap(plain, pool)
    subprocess.run([need("editcap"), "-F", "pcapng", str(plain), str(ng)], check=True)
    assert ng.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"  # section header block
    with PcapPort(rx_path=ng, pool=pool) as port:
        port.start()
        assert read_all(port) == FRAMES


def test_reads_capture_from_tcpdump_of_real_traffic(tmp_path, pool):
    # tcpdump captures UDP datagrams sent over loopback (Ethernet link type on lo).
    if os.geteuid() != 0:
        pytest.skip("capturing with tcpdump needs root")
    path = tmp_path / "udp.pcap"
    port_no = 40000 + os.getpid() % 20000
    cap = subprocess.Popen([need("tcpdump"), "-i", "lo", "-w", str(path), "-c", "4", "-U",
                            "udp", "and", "port", str(port_no)], stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(4):
                s.sendto(b"hello %d" % i, ("127.0.0.1", port_no))
        cap.wait(timeout=10)
    finally:
        if cap.poll() is None:
            cap.kill()
            cap.wait()
    with PcapPort(rx_path=path, pool=pool) as port:
        port.start()
        got = read_all(port)
    assert len(got) == 4
    assert all(f[12:14] == b"\x08\x00" and f[23] == 17 for f in got)  # IPv4, UDP
    assert [f[-7:] for f in got] == [b"hello %d" % i for i in range(4)]


def test_passes_loop_over_the_file(tmp_path, pool):
    path = tmp_path / "loop.pcap"
    write_pcap(path, pool, FRAMES[:7])
    with PcapPort(rx_path=path, pool=pool, passes=3) as port:
        port.start()
        assert read_all(port) == FRAMES[:7] * 3
        assert port.stats()["passes_done"] == 3


def test_loop_forever_keeps_going(tmp_path, pool):
    path = tmp_path / "loop.pcap"
    write_pcap(path, pool, FRAMES[:3])
    with PcapPort(rx_path=path, pool=pool, passes=0) as port:
        port.start()
        got = read_all(port, max_bursts=10)
        assert len(got) == 10 * 32 and not port.done
        assert got[:6] == FRAMES[:3] * 2


def test_timed_replay_follows_the_file(tmp_path, pool):
    # Frames recorded 50 ms apart, replayed twice as fast: 25 ms apart.
    path = tmp_path / "timed.pcap"
    burst = pool.burst_from_bytes(FRAMES[:5])
    with PcapPort(tx_path=path, pool=pool) as writer:
        writer.start()
        # Timestamps from the packets' own clock are kept; set them by
        # writing one frame per burst at 50 ms intervals.
        for i in range(5):
            one = pool.burst_from_bytes([FRAMES[i]])
            writer.tx_burst(one)
            time.sleep(0.05)
    burst.free()
    with PcapPort(rx_path=path, pool=pool, replay_timing=True, speed=2.0) as port:
        port.start()
        t0 = time.monotonic()
        first = port.rx_burst(max_packets=32)
        assert len(first) == 1  # only the first is due at once
        first.free()
        due = port.next_due()
        assert due is not None and 0.005 < due < 0.05
        got = 1
        while not port.done and time.monotonic() - t0 < 5:
            b = port.rx_burst()
            got += len(b)
            b.free()
            time.sleep(0.002)
        elapsed = time.monotonic() - t0
    assert got == 5
    assert 0.09 <= elapsed < 1.0  # 4 gaps of ~25 ms


def test_missing_file_is_file_not_found(tmp_path, pool):
    with pytest.raises(FileNotFoundError, match="nope.pcap"):
        PcapPort(rx_path=tmp_path / "nope.pcap", pool=pool)


def test_directory_is_not_a_capture(tmp_path, pool):
    with pytest.raises(IsADirectoryError):
        PcapPort(rx_path=tmp_path, pool=pool)


def test_tx_into_missing_directory(tmp_path, pool):
    with pytest.raises(FileNotFoundError):
        PcapPort(tx_path=tmp_path / "no" / "out.pcap", pool=pool)


@pytest.mark.parametrize("content", [b"", b"GIF89a not a capture at all" * 4,
                                     b"\xd4\xc3\xb2\xa1" + b"\x00" * 3])
def test_garbage_file_is_capture_file_error(tmp_path, pool, content):
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    with pytest.raises(CaptureFileError, match="pcap/pcapng") as err:
        PcapPort(rx_path=path, pool=pool)
    assert "bad.pcap" in str(err.value)


def test_cut_off_file_delivers_good_packets_then_raises(tmp_path, pool):
    path = tmp_path / "cut.pcap"
    write_pcap(path, pool, FRAMES[:10])
    data = path.read_bytes()
    path.write_bytes(data[:-(len(FRAMES[9]) // 2)])
    with PcapPort(rx_path=path, pool=pool) as port:
        port.start()
        burst = port.rx_burst(max_packets=32)
        assert burst.to_bytes_list() == FRAMES[:9]
        burst.free()
        with pytest.raises(CaptureFileError, match="cut off or corrupt") as err:
            port.rx_burst()
        # The message names the file and the record, as tshark numbers them.
        assert "cut.pcap" in str(err.value) and "record 10" in str(err.value)
        assert port.stats()["ierrors"] == 1
        assert port.done


def test_truncated_records_are_counted_and_dropped(tmp_path, pool):
    # tcpdump-style snap length: records shorter than the frame on the wire.
    path = tmp_path / "snap.pcap"
    write_pcap(path, pool, FRAMES[:10])
    small = tmp_path / "snap100.pcap"
    subprocess.run([need("editcap"), "-s", "100", str(path), str(small)], check=True)
    with PcapPort(rx_path=small, pool=pool) as port:
        port.start()
        got = read_all(port)
        whole = [f for f in FRAMES[:10] if len(f) <= 100]
        assert got == whole
        assert port.stats()["ierrors"] == 10 - len(whole)
        assert port.stats()["rx_snapped"] == 10 - len(whole)
        assert "snap length" in port.drop_reason and "record" in port.drop_reason
    # Or delivered as they are, with their original length.
    with PcapPort(rx_path=small, pool=pool, deliver_snapped=True) as port:
        port.start()
        burst = port.rx_burst()
        assert burst.to_bytes_list() == [f[:100] for f in FRAMES[:10]]
        assert [i.orig_len for i in port.rx_info()] == [len(f) for f in FRAMES[:10]]
        burst.free()


def test_non_ethernet_records_are_delivered_with_their_link_type(tmp_path, pool):
    # A raw-IP (linktype 101) capture: delivered as it is; rx_info says how to read it.
    path = tmp_path / "rawip.pcap"
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)
    record = struct.pack("<IIII", 7, 8, 20, 20) + bytes(range(20))
    path.write_bytes(header + record)
    with PcapPort(rx_path=path, pool=pool) as port:
        port.start()
        burst = port.rx_burst()
        assert burst.to_bytes_list() == [bytes(range(20))]
        (info,) = port.rx_info()
        assert (info.link_type, info.interface, info.orig_len, info.number) == (101, 0, 20, 1)
        assert info.ts_raw == 7_000_008 and info.ts_resolution == 6
        burst.free()


def test_unreadable_file_as_unprivileged_user(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to the 'nobody' user")
    path = tmp_path / "secret.pcap"
    path.write_bytes(b"\xd4\xc3\xb2\xa1")
    path.chmod(0o600)
    os.chmod(tmp_path, 0o755)
    code = textwrap.dedent(f"""
        import os
        from pydpdk.pcap import PcapPort  # import (and build) as root first
        os.setgid(65534); os.setuid(65534)
        try:
            PcapPort(rx_path={str(path)!r})
        except PermissionError as exc:
            print("PermissionError:", exc)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert "PermissionError:" in proc.stdout, proc.stderr
    assert "secret.pcap" in proc.stdout


def test_port_without_tx_file_refuses_tx(tmp_path, pool):
    path = tmp_path / "in.pcap"
    write_pcap(path, pool, FRAMES[:2])
    with PcapPort(rx_path=path, pool=pool) as port:
        port.start()
        burst = pool.burst_from_bytes(FRAMES[:1])
        with pytest.raises(PortError, match="no tx file"):
            port.tx_burst(burst)
        burst.free()


def test_bad_arguments(tmp_path, pool):
    with pytest.raises(ValueError, match="rx_path, tx_path"):
        PcapPort(pool=pool)
    with pytest.raises(ValueError, match="speed"):
        PcapPort(tx_path=tmp_path / "x.pcap", pool=pool, speed=0)


def test_pipe_pcap_to_pcap_keeps_frames_and_timestamps(tmp_path, pool):
    src, dst = tmp_path / "src.pcap", tmp_path / "dst.pcap"
    write_pcap(src, pool)
    with PcapPort(rx_path=src, tx_path=dst, pool=pool) as port:
        port.start()
        while not port.done:
            burst = port.rx_burst()
            port.tx_burst(burst)
    fields = ["-T", "fields", "-e", "frame.time_epoch", "-e", "frame.len"]
    a = subprocess.run([need("tshark"), "-r", str(src), *fields], capture_output=True,
                       text=True, check=True).stdout
    b = subprocess.run([need("tshark"), "-r", str(dst), *fields], capture_output=True,
                       text=True, check=True).stdout
    assert a == b and len(a.splitlines()) == len(FRAMES)
