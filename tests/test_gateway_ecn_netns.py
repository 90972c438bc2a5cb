"""DSCP and ECN through the FEC tunnel with real kernel traffic (RFC 2983
uniform model for DSCP, RFC 6040 normal mode for ECN).

    host_a --lan-- gw_a ==wan== router (marks CE) ==wan== gw_b --lan-- host_b

host_a sends UDP datagrams with DSCP EF from two sockets: one ECN-capable
(IP_TOS 0xba: ECT(0)), one not (0xb8).  The router sets CE on every tunnel
packet from gw_a (an nftables ``ip ecn set ce`` rule, as a congested AQM
would).  Checked with tcpdump/tshark on the router's WAN interface: source
packets carry their inner DSCP and ECN, repair packets the block's highest
DSCP and Not-ECT.  Checked at host_b with IP_RECVTOS: the ECT datagrams
arrive marked CE with DSCP EF; the Not-ECT ones are dropped and counted
(``ecn_dropped``), not rebuilt from parity.  Both WAN transports: ``udp:``
peers (kernel sockets, TOS per datagram) and ``--encap udp`` over AF_PACKET
WAN ports (the gateway's own IPv4 header); the ``udp:`` case also over an
IPv6 WAN (traffic class).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import netns
import pytest
from test_udp_tunnel import PORT, Gateway, decoder, hostport, two_sites

pytest.importorskip("pydpdk._udp", reason="no UDP socket port (Linux only)")
pytest.importorskip("pydpdk._native", reason="no native AF_PACKET backend")

IP_RECVTOS = getattr(socket, "IP_RECVTOS", 13)
EF = 46 << 2
N = 60


@pytest.fixture(autouse=True)
def _needs_root() -> None:
    netns.require_netns()
    netns.require_nft()
    for tool in ("tcpdump", "tshark"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: make deps installs it")


def mark_ce(router: str, src: str) -> None:
    """The router marks CE on the tunnel packets gw_a sends (forward hook)."""
    ip = "ip6" if ":" in src else "ip"
    netns.ns_exec_stdin(router, (
        "table inet pdiecn {\n  chain ce_wan {\n"
        "    type filter hook forward priority 0; policy accept;\n"
        f"    {ip} saddr {src} udp dport {PORT} {ip} ecn set ce\n  }}\n}}\n"), "nft", "-f", "-")


def raw_gateway(ns: str, peer: str) -> subprocess.Popen:
    netns.ns_exec_stdin(ns, "table inet pdiraw {\n  chain local_in {\n"
                            "    type filter hook input priority 0;\n"
                            f"    udp dport {PORT} drop\n  }}\n}}\n", "nft", "-f", "-")
    cmd = ["ip", "netns", "exec", ns, sys.executable, "-m", "pydpdk.cli", "fec", "tunnel",
           "--", "--backend", "native", "--local", "afpacket:lan", "--peer", "afpacket:wan",
           "--encap", "udp", "--dst-ip", peer, "-k", "4", "-m", "2", "--deadline-ms", "2",
           "--json"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop_report(proc: subprocess.Popen) -> dict:
    import json

    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode in (0, 128 + signal.SIGTERM), err
    return json.loads(out[out.index("{"):])


def host_socket(ns: str, ip: str, port: int, tos: int | None = None) -> socket.socket:
    with netns.inside(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if tos is not None:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
    s.bind((ip, port))
    return s


def receive_with_tos(sock: socket.socket, seconds: float) -> dict[bytes, int]:
    """Datagram -> the TOS byte it arrived with (IP_RECVTOS)."""
    got: dict[bytes, int] = {}
    sock.settimeout(0.1)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data, anc, _, _ = sock.recvmsg(2048, socket.CMSG_SPACE(4))
        except (TimeoutError, socket.timeout):
            continue
        tos = next((c[2][0] for c in anc if c[0] == socket.IPPROTO_IP
                    and c[1] == socket.IP_TOS), -1)
        got[data] = tos
    return got


def wan_packets(pcap: str, field: str = "ip.dsfield") -> list[tuple[int, int]]:
    """(outer TOS / traffic class, FEC kind) of every tunnel packet captured
    on the WAN."""
    out = subprocess.run(["tshark", "-r", pcap, "-T", "fields", "-e", field,
                          "-e", "udp.payload", "-o", "udp.try_heuristic_first:FALSE",
                          "-d", f"udp.port=={PORT},data"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    pkts = []
    for line in out.splitlines():
        tos, _, payload = line.partition("\t")
        payload = payload.replace(":", "")
        if not tos or len(payload) < 4 or payload[:2] != "02":       # FEC v2 only
            continue
        pkts.append((int(tos, 16), (int(payload[2:4], 16) >> 4) & 3))
    return pkts


@pytest.mark.parametrize("transport", ["udp-socket", "udp-socket-ipv6", "raw-encap-udp"])
def test_dscp_copied_and_ce_propagated_or_dropped(transport):
    family = socket.AF_INET6 if transport.endswith("ipv6") else socket.AF_INET
    with two_sites(family) as sites, contextlib.ExitStack() as stack:
        mark_ce(sites.router, sites.wan_a)
        if transport.startswith("udp-socket"):
            gw_a = Gateway(sites.gw_a, hostport(sites.wan_b, PORT), hostport(sites.wan_a, PORT),
                           "--json", k=4, m=2)
            gw_b = Gateway(sites.gw_b, hostport(sites.wan_a, PORT), hostport(sites.wan_b, PORT),
                           "--json", k=4, m=2)
            stack.callback(gw_a.kill)
            stack.callback(gw_b.kill)
            procs = [gw_a.proc, gw_b.proc]
        else:
            procs = [raw_gateway(sites.gw_a, sites.wan_b), raw_gateway(sites.gw_b, sites.wan_a)]
            for p in procs:
                stack.callback(p.kill)
        pcap = os.path.join(stack.enter_context(tempfile.TemporaryDirectory()), "wan.pcap")
        ip_a, ip_b = sites.host_ip
        ect = stack.enter_context(host_socket(sites.host_a, ip_a, 6400, EF | 2))
        plain = stack.enter_context(host_socket(sites.host_a, ip_a, 6401, EF))
        rx = stack.enter_context(host_socket(sites.host_b, ip_b, 6402))
        rx.setsockopt(socket.IPPROTO_IP, IP_RECVTOS, 1)
        # the tunnel is up once an ECT datagram crosses (ARP through it first)
        deadline = time.monotonic() + 30
        while not receive_with_tos(rx, 0.3):
            assert time.monotonic() < deadline, "nothing crossed the tunnel"
            assert all(p.poll() is None for p in procs), "a gateway died"
            ect.sendto(b"hello", (ip_b, 6402))
        dump = subprocess.Popen(["ip", "netns", "exec", sites.router, "tcpdump", "-i", "r1",
                                 "-U", "-w", pcap, "udp", "port", str(PORT)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        stack.callback(dump.kill)
        time.sleep(1.5)                   # tcpdump listening
        for i in range(N):
            ect.sendto(b"e%03d" % i, (ip_b, 6402))
            plain.sendto(b"n%03d" % i, (ip_b, 6402))
            time.sleep(0.002)
        got = receive_with_tos(rx, 2.0)
        dump.send_signal(signal.SIGINT)
        dump.communicate(timeout=20)
        reports = [stop_report(p) for p in procs]
        wan = wan_packets(pcap, "ipv6.tclass" if family == socket.AF_INET6 else "ip.dsfield")
    marked = {d: t for d, t in got.items() if d.startswith(b"e")}
    assert len(marked) == N                                   # none lost
    assert set(marked.values()) == {EF | 3}                   # DSCP EF kept, CE propagated
    assert not [d for d in got if d.startswith(b"n")]         # Not-ECT under CE: dropped
    if transport.startswith("udp-socket"):
        dec = decoder(reports[1])
    else:
        dec = next(c for name, c in reports[1]["counters"].items() if name.endswith("fec-decode"))
    assert dec["ecn_dropped"] >= N and dec["ecn_marked"] >= N
    # On the WAN, before the router marks: sources EF+ECT(0) / EF+Not-ECT as
    # sent, repair packets EF and Not-ECT (no other codepoint at all).
    sources = [t for t, kind in wan if kind == 0]
    repairs = [t for t, kind in wan if kind == 1]
    assert sources.count(EF | 2) >= N and sources.count(EF) >= N
    assert set(sources) <= {EF | 2, EF}
    assert repairs and set(repairs) == {EF}
