"""Forwarding: the native loop and Python burst loops over net_null, net_ring and net_pcap."""

import os
import shutil
import signal
import subprocess
import threading
import time

import pytest
from conftest import (
    read_pcap_with_libpcap,
    requires_dpdk,
    run_python,
    udp_frames,
    write_pcap,
)

from pydpdk import dpdk
from pydpdk._burst import BURST_MAX
from pydpdk.errors import PortError

pytestmark = requires_dpdk


def test_native_forward_stops_at_exact_count(null_pair):
    a, b = null_pair
    stats = dpdk.forward(a, b, max_packets=100_003, burst=32)
    assert stats.stopped_by == "count"
    assert stats.rx_packets == 100_003
    assert stats.tx_packets == 100_003 and stats.dropped == 0
    assert a.stats()["ipackets"] + b.stats()["ipackets"] == 100_003
    assert stats.mpps > 0 and stats.average_burst > 1


def test_native_forward_stops_after_duration(null_pair):
    a, b = null_pair
    stats = dpdk.forward(a, b, duration=0.2)
    assert stats.stopped_by == "duration"
    assert 0.19 < stats.seconds < 2.0
    assert stats.rx_packets == stats.tx_packets > 0


def test_native_forward_stops_on_ctrl_c(null_pair):
    a, b = null_pair
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        stats = dpdk.forward(a, b)  # no limit: only Ctrl-C ends it
    finally:
        timer.cancel()
    assert stats.stopped_by == "interrupt"
    assert 0.25 < stats.seconds < 5
    assert stats.rx_packets == stats.tx_packets > 0


def test_native_forward_frees_what_tx_refuses(vdev, open_port, ring_pair):
    source = open_port(vdev("net_null"))
    ring_a, ring_b = ring_pair  # 255 slots, nobody drains ring_b
    stats = dpdk.forward(source, ring_a, bidirectional=False, max_packets=1000)
    assert stats.rx_packets == 1000
    assert stats.tx_packets == 255 and stats.dropped == 745
    # The leak check (pool full again after ring_pair teardown) proves the
    # 745 were freed and the 255 queued ones are returned on removal.


@pytest.mark.parametrize("kwargs", [{"burst": 0}, {"burst": BURST_MAX + 1},
                                    {"max_packets": 0}, {"duration": -1.0}])
def test_native_forward_rejects_bad_limits(null_pair, kwargs):
    a, b = null_pair
    with pytest.raises(ValueError):
        dpdk.forward(a, b, **kwargs)


def test_native_forward_rejects_bad_queues_and_stopped_ports(null_pair):
    a, b = null_pair
    with pytest.raises(ValueError, match="rx queue 1"):
        dpdk.forward(a, b, rx_queue=1, max_packets=10)
    b.stop()
    with pytest.raises(PortError, match="not started"):
        dpdk.forward(a, b, max_packets=10)


def test_ring_pair_forward_preserves_bytes(ring_pair, mempool):
    a, b = ring_pair
    frames = udp_frames(100)
    burst = mempool.burst_from_bytes(frames[:100])
    assert b.tx_burst(burst) == 100  # now waiting on a's rx
    stats = dpdk.forward(a, b, bidirectional=False, max_packets=100)
    assert stats.tx_packets == 100
    received = []
    while len(received) < 100:
        got = a.rx_burst(max_packets=64)
        assert got, "packets lost"
        received += got.to_bytes_list()
        got.free()
    assert received == frames


def test_python_burst_loop_over_net_null(null_pair):
    a, b = null_pair
    forwarded = 0
    for _ in range(100):
        burst = a.rx_burst(max_packets=32)
        forwarded += b.tx_burst(burst)
        burst.free()
    assert forwarded == 3200
    assert b.stats()["opackets"] == 3200


# ---------------------------------------------------------------------------
# net_pcap: a pcap in, forwarded, a pcap out, read back by libpcap and tcpdump
# ---------------------------------------------------------------------------

def _pcap_port(vdev, open_port, tmp_path, frames):
    src, dst = tmp_path / "in.pcap", tmp_path / "out.pcap"
    write_pcap(src, frames)
    port = open_port(vdev("net_pcap", rx_pcap=src, tx_pcap=dst))
    return port, src, dst


def test_pcap_forward_native_is_byte_identical(vdev, open_port, tmp_path):
    frames = udp_frames(500, payload_len=64) + udp_frames(3, payload_len=1400)
    port, src, dst = _pcap_port(vdev, open_port, tmp_path, frames)
    stats = dpdk.forward(port, max_packets=len(frames), duration=10)
    assert stats.stopped_by == "count"
    assert stats.tx_packets == len(frames)
    port.close()  # flushes and closes the output file
    assert read_pcap_with_libpcap(dst) == frames


def test_pcap_forward_python_loop_is_byte_identical(vdev, open_port, tmp_path):
    frames = udp_frames(300, payload_len=100)
    port, src, dst = _pcap_port(vdev, open_port, tmp_path, frames)
    sent = 0
    while sent < len(frames):
        burst = port.rx_burst(max_packets=64)
        if not burst:
            break
        sent += port.tx_burst(burst)
        assert not burst  # pcap tx takes everything
    assert sent == len(frames)
    assert not port.rx_burst()  # end of file: nothing more, no error
    port.close()
    assert read_pcap_with_libpcap(dst) == frames


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump not installed")
def test_pcap_output_is_readable_by_tcpdump(vdev, open_port, tmp_path):
    frames = udp_frames(50)
    port, src, dst = _pcap_port(vdev, open_port, tmp_path, frames)
    dpdk.forward(port, max_packets=len(frames), duration=10)
    port.close()

    def dump(path):
        out = subprocess.run(["tcpdump", "-r", str(path), "-nn", "-t", "-xx"],
                             capture_output=True, text=True, check=True)
        return out.stdout

    assert dump(dst) == dump(src)
    assert dump(dst).count("UDP, length") == 50


def test_pcap_output_complete_when_the_program_just_exits(tmp_path):
    frames = udp_frames(200)
    write_pcap(tmp_path / "in.pcap", frames)
    proc = run_python(f"""
        from pydpdk import dpdk
        eal = dpdk.Eal()
        pool = dpdk.Mempool(1023, cache_size=0)
        eal.add_vdev("net_pcap0,rx_pcap={tmp_path / 'in.pcap'},tx_pcap={tmp_path / 'out.pcap'}")
        port = dpdk.Port("net_pcap0", pool)
        port.start()
        print(dpdk.forward(port, max_packets=200, duration=10).tx_packets)
        # no close(): the exit path tears the EAL down in order
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "200"
    assert read_pcap_with_libpcap(tmp_path / "out.pcap") == frames


def test_ports_in_a_running_loop_cannot_be_closed_from_another_thread(null_pair):
    a, b = null_pair
    result = {}
    worker = threading.Thread(target=lambda: result.update(
        stats=dpdk.forward(a, b, duration=0.5)))
    worker.start()
    try:
        for _ in range(1000):  # until the loop is forwarding
            if a.stats()["ipackets"]:
                break
            time.sleep(0.001)
        with pytest.raises(PortError, match="in use by another thread"):
            b.close()
        with pytest.raises(PortError, match="in use"):
            a.stop()
    finally:
        worker.join()
    assert result["stats"].stopped_by == "duration"
    assert not b.is_closed
    b.close()  # fine once the loop is over
