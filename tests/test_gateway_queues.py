"""Multi-queue gateways through the Python API, on pcap file ports (no namespaces).

``GatewayConfig(queues=2)``: an encoder per queue, each with its own FEC
session, then a two-queue decoder; every flow comes out whole and in order,
the counters are the sums of the queues', and nothing is lost uncounted.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

pytest.importorskip("pydpdk._native", reason="no native backend")

from pydpdk.gateway import GatewayConfig, run_gateway  # noqa: E402
from pydpdk.gateway_mq import MAX_QUEUES, merge_counters  # noqa: E402

PCAP_HDR = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def frame(flow: int, seq: int, size: int = 300) -> bytes:
    """Ethernet/IPv4/UDP, flow *flow* (its own ports), payload ``flow, seq``."""
    payload = struct.pack("!II", flow, seq) + bytes((seq + i) & 255 for i in range(size))
    udp = struct.pack("!HHHH", 30000 + flow, 5001, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), seq & 0xFFFF, 0x4000, 64, 17,
                     0, bytes([10, 0, 0, flow]), bytes([10, 0, 1, 1]))
    return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + ip + udp


def write_pcap(path: Path, frames: list[bytes]) -> None:
    with open(path, "wb") as f:
        f.write(PCAP_HDR)
        for i, data in enumerate(frames):
            f.write(struct.pack("<IIII", 0, i, len(data), len(data)) + data)


def read_pcap(path: Path) -> list[bytes]:
    raw = path.read_bytes()
    out, off = [], 24
    while off + 16 <= len(raw):
        caplen = struct.unpack_from("<I", raw, off + 8)[0]
        out.append(raw[off + 16: off + 16 + caplen])
        off += 16 + caplen
    return out


def fec_stage(report: dict, suffix: str) -> dict:
    return next(c for name, c in report["counters"].items() if name.endswith(suffix))


def test_two_queues_encode_then_decode_every_flow_whole_and_in_order(tmp_path):
    flows, per_flow = 12, 150
    # queue q's input: the flows a flow hash would give it (here: flow % 2)
    for q in range(2):
        frames = [frame(f, s) for s in range(per_flow) for f in range(flows) if f % 2 == q]
        write_pcap(tmp_path / f"in-{q}.pcap", frames)
    enc = run_gateway(GatewayConfig(
        mode="encode", backend="native", queues=2, k=8, m=4, encap={"encap": "ether"},
        ports={"in": f"pcap:rx={tmp_path}/in-{{q}}.pcap",
               "out": f"pcap:tx={tmp_path}/wire-{{q}}.pcap"}))
    e = fec_stage(enc, "fec-encode")
    assert e["packets_in"] == flows * per_flow
    assert [q["chain0.fec-encode"]["packets_in"] for q in enc["queue_counters"]] == \
        [flows * per_flow // 2] * 2
    assert enc["drops"]["total"] == 0 and enc["buffers_leaked"] == 0
    assert enc["ports"]["in"]["ipackets"] == flows * per_flow          # both files read
    # one FEC session per queue (docs/fec-format.md: header offset 12, after 14 B Ethernet)
    sessions = [{struct.unpack_from("!I", p, 14 + 12)[0] for p in
                 read_pcap(tmp_path / f"wire-{q}.pcap")} for q in range(2)]
    assert all(len(s) == 1 for s in sessions) and sessions[0] != sessions[1]

    dec = run_gateway(GatewayConfig(
        mode="decode", backend="native", queues=2, encap={"encap": "ether"},
        ports={"in": f"pcap:rx={tmp_path}/wire-{{q}}.pcap",
               "out": f"pcap:tx={tmp_path}/out-{{q}}.pcap"}))
    d = fec_stage(dec, "fec-decode")
    assert d["packets_out"] == flows * per_flow and d["unrecoverable"] == 0
    assert dec["drops"]["total"] == 0 and dec["buffers_leaked"] == 0
    seen: dict[int, list[int]] = {}
    for q in range(2):
        for p in read_pcap(tmp_path / f"out-{q}.pcap"):
            flow, seq = struct.unpack_from("!II", p, 14 + 20 + 8)
            seen.setdefault(flow, []).append(seq)
            assert flow % 2 == q                       # the flow stayed on its queue
    assert seen == {f: list(range(per_flow)) for f in range(flows)}


def test_pcap_queues_need_a_file_per_queue(tmp_path):
    write_pcap(tmp_path / "in.pcap", [frame(1, 0)])
    cfg = GatewayConfig(mode="encode", backend="native", queues=2,
                        ports={"in": f"pcap:rx={tmp_path}/in.pcap",
                               "out": f"pcap:tx={tmp_path}/o-{{q}}.pcap"})
    with pytest.raises(ValueError, match=r"\{q\}"):
        run_gateway(cfg)


@pytest.mark.parametrize("queues", [0, MAX_QUEUES + 1])
def test_queues_out_of_range_are_refused(queues):
    cfg = GatewayConfig(mode="encode", ports={"in": "pcap:rx=a", "out": "pcap:tx=b"},
                        queues=queues)
    with pytest.raises(ValueError, match="queues"):
        cfg.validate()


def test_secure_mode_with_queues_is_refused():
    cfg = GatewayConfig(mode="tunnel", ports={"local": "afpacket:x", "peer": "udp:1.2.3.4:5"},
                        queues=2, key_file="k")
    with pytest.raises(ValueError, match="secure"):
        cfg.validate()


def test_merge_counters_sums_counts_and_merges_states():
    merged = merge_counters([
        {"packets_in": 3, "link_up": 1, "link_errno": 0, "peer_state": "waiting", "peer": "x"},
        {"packets_in": 4, "link_up": 0, "link_errno": 100, "peer_state": "up", "peer": "y"}])
    assert merged == {"packets_in": 7, "link_up": 0, "link_errno": 100, "peer_state": "up",
                      "peer": "x"}


def test_udp_queue_group_spreads_by_source_port_and_sends_from_its_own():
    """Two queue ports on one local port: the kernel gives each sender port
    its own queue (source port mod 2), queue 1 sends from the bound port + 1,
    and both take the peer's two ports as the peer's."""
    import socket
    import time

    from pydpdk._native import BufferPool
    from pydpdk.udp import UdpPort

    pool = BufferPool(256, data_room=2048)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        base = probe.getsockname()[1] & ~1          # an even port: base % 2 == 0
    senders = []
    ports = [UdpPort(f"127.0.0.1:{base}", pool, bind=f"127.0.0.1:{base + 2}",
                     keepalive=None, dead_after=None, queue_group=2, peer_ports=2,
                     tx_port=base + 2 + q if q else 0) for q in range(2)]
    try:
        for p in ports:
            p.start()
        for q in range(2):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            senders.append(s)
            s.bind(("127.0.0.1", base + q))
            for i in range(5):
                s.sendto(b"from %d %d" % (q, i), ("127.0.0.1", base + 2))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
            stranger.sendto(b"not the peer", ("127.0.0.1", base + 2))
        time.sleep(0.1)
        for q, p in enumerate(ports):
            burst = p.rx_burst()
            got = burst.to_bytes_list()
            burst.free()
            assert got == [b"from %d %d" % (q, i) for i in range(5)]
        assert sum(p.stats()["rx_unknown_source"] for p in ports) == 1
        assert ports[1].tx_burst(pool.burst_from_bytes([b"reply"])) == 1
        senders[0].settimeout(2)
        assert senders[0].recvfrom(64) == (b"reply", ("127.0.0.1", base + 3))
    finally:
        for p in ports:
            p.close()
        for s in senders:
            s.close()


@pytest.mark.skipif("not __import__('pydpdk.dpdk').dpdk.AVAILABLE", reason="no DPDK")
def test_dpdk_two_queues_one_session_per_queue(tmp_path):
    """The DPDK backend: net_pcap with a file per rx and tx queue."""
    import json
    import subprocess
    import sys

    flows, per_flow = 6, 100
    for q in range(2):
        write_pcap(tmp_path / f"in-{q}.pcap",
                   [frame(f, s) for s in range(per_flow) for f in range(flows) if f % 2 == q])
    inp = f"net_pcap0,rx_pcap={tmp_path}/in-0.pcap,rx_pcap={tmp_path}/in-1.pcap"
    out = f"net_pcap1,tx_pcap={tmp_path}/w-0.pcap,tx_pcap={tmp_path}/w-1.pcap"
    # three lcores: the main one and a worker per queue
    eal = ["--no-pci", "--lcores=0@(0,1),1@(0,1),2@(0,1)"]
    proc = subprocess.run([sys.executable, "-m", "pydpdk.cli", "fec", "encode", *eal, "--",
                           "--backend", "dpdk", "--queues", "2", "--in", inp, "--out", out,
                           "--encap", "ether", "--packets", str(flows * per_flow),
                           "--duration", "60", "--json"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert report["queue_lcores"] == [1, 2]
    assert report["counters"]["chain0.fec-encode"]["packets_in"] == flows * per_flow
    assert [q["chain0.fec-encode"]["packets_in"] for q in report["queue_counters"]] == \
        [flows * per_flow // 2] * 2
    assert report["drops"]["total"] == 0 and report["buffers_leaked"] == 0
    sessions = [{struct.unpack_from("!I", p, 14 + 12)[0] for p in
                 read_pcap(tmp_path / f"w-{q}.pcap")} for q in range(2)]
    assert all(len(s) == 1 for s in sessions) and sessions[0] != sessions[1]
