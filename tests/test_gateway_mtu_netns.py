"""The FEC tunnel as an edge device on a 1500-byte WAN, hosts with default offloads.

    host_a -- [fec tunnel] -- link (1500 MTU, 5% loss each way) -- [fec tunnel] -- host_b

Every interface has a 1500-byte MTU and the kernel's default offloads (TSO,
GSO, GRO, checksum offload): full-size LAN frames no longer fit once the
gateway adds its encapsulation and FEC header, so the gateways clamp TCP's
MSS, answer DF packets with ICMP "fragmentation needed" (path-MTU discovery)
and fragment IPv4 packets without DF.  Real kernel sockets at both ends.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import subprocess
import threading
import time

import netns
import pytest
from test_fec_tunnel_netns import Gateways, decoder, lossy_tunnel
from test_netns import drain, udp_socket

pytest.importorskip("pydpdk._native", reason="no native AF_PACKET backend")

LOSS_PER_MILLE = 50
IP_MTU_DISCOVER, IP_PMTUDISC_DONT, IP_PMTUDISC_WANT = 10, 0, 1


def encoder(report: dict) -> dict:
    return next(c for name, c in report["counters"].items() if name.endswith("fec-encode"))


@pytest.fixture
def wan1500():
    with lossy_tunnel(mtu=1500) as t:
        yield t


def _arp_through(topo: netns.GatewayTopology) -> None:
    """Small datagrams until one crosses (ARP first, the link may eat some)."""
    ip_a, ip_b = topo.host_ip[topo.host_a], topo.host_ip[topo.host_b]
    a = udp_socket(topo.host_a, ip_a, 6100)
    b = udp_socket(topo.host_b, ip_b, 6101)
    with a, b:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            a.sendto(b"hello", (ip_b, 6101))
            time.sleep(0.2)
            if drain(b):
                return
    raise AssertionError("nothing crossed the tunnel")


def test_start_report_shows_offloads_and_mtu_policy(wan1500):
    topo, gws, _ = wan1500
    reports = gws.stop()
    r = reports[0]
    lan = r["interfaces"]["local"]
    assert lan["ifname"] == "lan" and lan["mtu"] == 1500 and lan["vnet_hdr"]
    assert lan["offloads"]["tso"] and lan["offloads"]["gso"]       # veth defaults
    assert "segmented by the gateway" in lan["plan"]
    mtu = r["mtu"]
    # ether encapsulation: 14 outer + FEC header + 2 (repair length) on a 1500 WAN
    assert mtu["wan_mtu"] == 1500 and mtu["max_frame"] < 1514
    assert mtu["mss"] == mtu["max_frame"] - 14 - 40
    assert "ICMP too big" in mtu["policy"] and "fragmented" in mtu["policy"]
    assert "MTU: LAN frames up to" in gws.stderr[0]
    assert "segmented by the gateway" in gws.stderr[0]


def test_tcp_stream_full_mtu_hosts_through_a_1500_wan(wan1500):
    topo, gws, rules = wan1500
    ip_b = topo.host_ip[topo.host_b]
    payload = bytes(range(251)) * 8000          # ~2 MB
    with netns.inside(topo.host_b):
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind((ip_b, 7100))
    server.listen(1)
    server.settimeout(60)
    received = bytearray()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.settimeout(60)
            while chunk := conn.recv(65536):
                received.extend(chunk)

    t = threading.Thread(target=serve)
    t.start()
    with netns.inside(topo.host_a):
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with client:
        client.settimeout(60)
        client.connect((ip_b, 7100))
        client.sendall(payload)
    t.join(90)
    server.close()
    reports = gws.stop()
    assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()
    enc_a, enc_b = encoder(reports[0]), encoder(reports[1])
    # the SYN (gateway a) and the SYN-ACK (gateway b) were clamped
    assert enc_a["mss_clamped"] >= 1 and enc_b["mss_clamped"] >= 1
    # nothing had to be dropped for size: clamping made every segment fit
    assert enc_a["too_big"] == 0 and enc_a["mtu_dropped"] == 0
    lan_a = reports[0]["ports"]["local"]
    assert lan_a["rx_gso_frames"] > 0 and lan_a["rx_gso_failed"] == 0
    assert sum(r.dropped() for r in rules) > 20
    assert sum(decoder(r)["recovered"] for r in reports) > 0


def test_udp_df_full_mtu_gets_icmp_then_arrives(wan1500):
    """Linux UDP sockets set DF (path-MTU "want"): the first full-size datagram
    is answered with ICMP fragmentation needed, after which the sender's
    kernel fragments to the learned path MTU and the datagrams arrive."""
    topo, gws, _ = wan1500
    _arp_through(topo)
    ip_a, ip_b = topo.host_ip[topo.host_a], topo.host_ip[topo.host_b]
    a = udp_socket(topo.host_a, ip_a, 6200)
    b = udp_socket(topo.host_b, ip_b, 6201)
    a.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_WANT)
    n, size = 300, 1472                        # 1500-byte IP packets
    got: list[bytes] = []
    with a, b:
        for i in range(n):
            a.sendto(b"%06d" % i + b"d" * (size - 6), (ip_b, 6201))
            time.sleep(0.002)
            got += drain(b)
        time.sleep(1.0)
        got += drain(b)
    reports = gws.stop()
    enc_a = encoder(reports[0])
    assert enc_a["icmp_too_big"] >= 1 and enc_a["reply_dropped"] == 0
    assert all(len(d) == size for d in got)
    seqs = {int(d[:6]) for d in got}
    # the first (or first few, while the ICMP travels) may be lost; then all arrive
    assert len(seqs) >= n - 10
    assert all(i in seqs for i in range(20, n))


def test_udp_without_df_full_mtu_is_fragmented(wan1500):
    topo, gws, _ = wan1500
    _arp_through(topo)
    ip_a, ip_b = topo.host_ip[topo.host_a], topo.host_ip[topo.host_b]
    a = udp_socket(topo.host_a, ip_a, 6300)
    b = udp_socket(topo.host_b, ip_b, 6301)
    a.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
    n, size = 300, 1472
    got: list[bytes] = []
    with a, b:
        for i in range(n):
            a.sendto(b"%06d" % i + bytes([i % 256]) * (size - 6), (ip_b, 6301))
            time.sleep(0.002)
            got += drain(b)
        time.sleep(1.0)
        got += drain(b)
    reports = gws.stop()
    enc_a = encoder(reports[0])
    assert enc_a["fragmented"] >= n - 5 and enc_a["fragments"] == 2 * enc_a["fragmented"]
    assert enc_a["icmp_too_big"] == 0
    seqs = {int(d[:6]) for d in got}
    assert len(seqs) >= n - 5                   # FEC rebuilt what the link lost
    assert all(d[6:] == bytes([int(d[:6]) % 256]) * (size - 6) for d in got)


def test_iperf3_tcp_through_the_lossy_1500_wan(wan1500):
    topo, gws, _ = wan1500
    ip_b = topo.host_ip[topo.host_b]
    server = subprocess.Popen(["ip", "netns", "exec", topo.host_b, "iperf3", "-s", "-1",
                               "-B", ip_b, "-p", "5301"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        out = netns.ns_exec(topo.host_a, "iperf3", "-c", ip_b, "-p", "5301", "-t", "3",
                            "-J")
    finally:
        server.wait(timeout=30)
    result = json.loads(out)
    bps = result["end"]["sum_received"]["bits_per_second"]
    print(f"iperf3 through the tunnel (5% loss each way, default offloads): "
          f"{bps / 1e6:.1f} Mbit/s")
    reports = gws.stop()
    assert bps > 0 and result["end"]["sum_received"]["bytes"] > 0
    assert encoder(reports[0])["mss_clamped"] >= 1


def _tcp_stream(topo: netns.GatewayTopology, port: int, payload: bytes) -> bytes:
    """Send *payload* from host_a to host_b over TCP; what host_b received."""
    ip_b = topo.host_ip[topo.host_b]
    with netns.inside(topo.host_b):
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind((ip_b, port))
    server.listen(1)
    server.settimeout(60)
    received = bytearray()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            while chunk := conn.recv(65536):
                received.extend(chunk)

    t = threading.Thread(target=serve)
    t.start()
    with netns.inside(topo.host_a):
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with client:
        client.settimeout(60)
        client.connect((ip_b, port))
        client.sendall(payload)
    t.join(90)
    server.close()
    return bytes(received)


def _segments(pcap, ip_a: str, port: int) -> dict[int, tuple[int, int]]:
    """Data segments host_a sent to *port*, as host_b received them (tshark):
    {sequence number: (payload length, TCP flags)}; asserts each one is
    wire-sized with good IPv4 and TCP checksums."""
    out = subprocess.run(
        ["tshark", "-r", str(pcap), "-o", "ip.check_checksum:TRUE",
         "-o", "tcp.check_checksum:TRUE", "-o", "tcp.relative_sequence_numbers:FALSE",
         "-Y", f"ip.src == {ip_a} && tcp.dstport == {port} && tcp.len > 0",
         "-T", "fields", "-E", "separator=,",
         "-e", "frame.len", "-e", "tcp.len", "-e", "tcp.seq", "-e", "tcp.flags",
         "-e", "ip.checksum.status", "-e", "tcp.checksum.status"],
        capture_output=True, text=True, timeout=120, check=True).stdout
    segs = {}
    for line in filter(None, out.splitlines()):
        frame_len, tcp_len, seq, flags, ip_ok, tcp_ok = line.split(",")
        assert int(frame_len) <= 1514
        assert ip_ok == "1" and tcp_ok == "1", (ip_ok, tcp_ok)   # 1: good
        segs[int(seq)] = (int(tcp_len), int(flags, 16))
    # consecutive sequence numbers (retransmissions repeat a start, never overlap)
    starts = sorted(segs)
    for s0, s1 in zip(starts, starts[1:]):
        assert s0 + segs[s0][0] == s1
    return segs


def test_segments_match_what_the_kernel_sends_with_offloads_off(wan1500, tmp_path):
    """host_a's TSO super-frames, segmented by gateway a and carried across,
    reach host_b as the frames host_a's kernel sends itself once TSO/GSO are
    off (checked with tshark): wire-sized, checksums right, consecutive
    sequence numbers, the same full segment size, FIN/PSH where the kernel
    puts them."""
    topo, gws, _ = wan1500
    ip_a = topo.host_ip[topo.host_a]
    pcap = tmp_path / "host_b.pcap"
    cap = subprocess.Popen(["ip", "netns", "exec", topo.host_b, "tshark", "-q", "-i", "eth0",
                            "-w", str(pcap), "-f", "tcp portrange 7200-7201"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    payload = bytes(range(256)) * 2048       # 512 KiB
    try:
        deadline = time.monotonic() + 20
        while not pcap.exists() and time.monotonic() < deadline:
            time.sleep(0.1)                     # dumpcap is capturing once the file exists
        time.sleep(0.5)
        assert _tcp_stream(topo, 7200, payload) == payload
        netns.set_offloads(topo.host_a, "eth0", tso="off", gso="off")
        assert _tcp_stream(topo, 7201, payload) == payload
        time.sleep(1.0)
    finally:
        cap.terminate()
        cap.wait(timeout=30)
    reports = gws.stop()
    mss = reports[0]["mtu"]["mss"]
    ours, kernel = _segments(pcap, ip_a, 7200), _segments(pcap, ip_a, 7201)
    for segs in (ours, kernel):
        assert len(segs) >= len(payload) // mss
        largest = max(n for n, _ in segs.values())
        assert mss - 40 <= largest <= mss       # the clamped MSS less TCP options
        assert sum(1 for n, _ in segs.values() if n == largest) >= 0.9 * len(segs)
        # FIN only on the stream's last segment
        last = max(segs)
        assert all(not (f & 0x01) for s, (_, f) in segs.items() if s != last)
    assert max(n for n, _ in ours.values()) == max(n for n, _ in kernel.values())
    lan_a = reports[0]["ports"]["local"]
    assert lan_a["rx_gso_segments"] > lan_a["rx_gso_frames"] > 0


@pytest.fixture
def wan1500_v6():
    netns.require_netns()
    netns.require_nft()
    with netns.gateway_topology(mtu=1500, ipv6=True) as topo, \
            contextlib.ExitStack() as stack:
        for ifname in (topo.link_in_a, topo.link_in_b):
            stack.enter_context(netns.random_loss(topo.link, ifname, LOSS_PER_MILLE))
        gws = Gateways(topo, k=8, m=4)
        try:
            yield topo, gws
        finally:
            gws.kill()
    assert not netns.leftover_namespaces()


def test_ipv6_tcp_stream_and_packet_too_big(wan1500_v6):
    """IPv6: TSO6 super-frames segmented, the SYN's MSS clamped (IPv6 value),
    and a full-size UDP datagram answered with ICMPv6 packet too big, after
    which the sender's kernel fragments and the datagrams arrive."""
    topo, gws = wan1500_v6
    ip6_a, ip6_b = topo.host_ip6[topo.host_a], topo.host_ip6[topo.host_b]
    payload = bytes(range(241)) * 4000
    with netns.inside(topo.host_b):
        server = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        ub = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    with netns.inside(topo.host_a):
        client = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        ua = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    server.bind((ip6_b, 7300))
    server.listen(1)
    server.settimeout(60)
    received = bytearray()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.settimeout(60)
            while chunk := conn.recv(65536):
                received.extend(chunk)

    t = threading.Thread(target=serve)
    t.start()
    with client:
        client.settimeout(60)
        client.connect((ip6_b, 7300))          # neighbour discovery crosses first
        client.sendall(payload)
    t.join(90)
    server.close()
    ua.bind((ip6_a, 7302))
    ub.bind((ip6_b, 7301))
    ub.setblocking(False)
    n, size = 200, 1452                       # 1500-byte IPv6 packets
    got: list[bytes] = []
    with ua, ub:
        for i in range(n):
            ua.sendto(b"%06d" % i + b"6" * (size - 6), (ip6_b, 7301))
            time.sleep(0.002)
            got += drain(ub)
        time.sleep(1.0)
        got += drain(ub)
    reports = gws.stop()
    assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()
    enc_a = encoder(reports[0])
    assert enc_a["mss_clamped"] >= 1 and encoder(reports[1])["mss_clamped"] >= 1
    assert enc_a["icmp_too_big"] >= 1 and enc_a["reply_dropped"] == 0
    seqs = {int(d[:6]) for d in got}
    assert all(len(d) == size for d in got)
    assert all(i in seqs for i in range(20, n))
    lan_a = reports[0]["ports"]["local"]
    assert lan_a["rx_gso_frames"] > 0 and lan_a["rx_gso_failed"] == 0


def test_udp_gso_batches_are_segmented(wan1500):
    """A sender using UDP segmentation offload (UDP_SEGMENT) hands one
    super-frame to its interface; gateway a cuts it into the datagrams."""
    topo, gws, _ = wan1500
    _arp_through(topo)
    ip_a, ip_b = topo.host_ip[topo.host_a], topo.host_ip[topo.host_b]
    a = udp_socket(topo.host_a, ip_a, 6500)
    b = udp_socket(topo.host_b, ip_b, 6501)
    udp_segment = 103                           # linux/udp.h
    a.setsockopt(socket.IPPROTO_UDP, udp_segment, 1000)
    got: list[bytes] = []
    batches, per = 50, 10
    with a, b:
        for i in range(batches):
            a.sendto(b"".join(b"%04d%02d" % (i, j) + b"u" * 994 for j in range(per)),
                     (ip_b, 6501))
            time.sleep(0.005)
            got += drain(b)
        time.sleep(1.0)
        got += drain(b)
    reports = gws.stop()
    lan_a = reports[0]["ports"]["local"]
    assert lan_a["rx_gso_frames"] >= batches - 2 and lan_a["rx_gso_failed"] == 0
    assert all(len(d) == 1000 for d in got)
    assert len({d[:6] for d in got}) >= batches * per - 5     # FEC rebuilt the losses
