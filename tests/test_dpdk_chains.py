"""DPDK ports: frames larger than one mbuf are never passed on truncated.

The net_pcap PMD reads a frame longer than an mbuf's room into a chain of
mbufs; pydpdk's packet handles see one segment, so the port's receive path
makes a chain one segment when the first mbuf has the room and otherwise
drops it, counted in ``rx_chain_dropped`` (in the gateway's drop report as
``oversize``).
"""

from __future__ import annotations

from conftest import requires_dpdk, udp_frames, write_pcap

from pydpdk.gateway import drop_report

pytestmark = requires_dpdk


def test_frames_over_one_mbuf_are_counted_never_truncated(vdev, open_port, tmp_path):
    small = udp_frames(5, payload_len=1000)
    big = udp_frames(3, payload_len=3000)          # > 2048-byte mbuf room
    frames = small[:2] + big + small[2:]
    src = tmp_path / "in.pcap"
    write_pcap(src, frames)
    port = open_port(vdev("net_pcap", rx_pcap=src))
    got = []
    for _ in range(20):
        burst = port.rx_burst(max_packets=32)
        got += [bytes(p) for p in burst]
        burst.free()
        if len(got) >= len(small):
            break
    assert got == small                             # whole, in order; none cut short
    st = port.stats()
    assert st["rx_chain_dropped"] == 3
    report = drop_report({}, {"local": st})
    assert report["ports"]["local"]["rx"]["oversize"] == 3
    assert report["total"] >= 3
