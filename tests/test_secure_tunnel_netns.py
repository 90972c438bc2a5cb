"""The FEC tunnel in secure mode across namespaces, under attack.

    host_a -- [fec tunnel --key-file] -- link (5% loss) -- [fec tunnel --key-file] -- host_b

Both gateways are real ``pydpdk fec tunnel`` processes sharing one key file
made by ``pydpdk keygen``.  While UDP traffic crosses, an attacker in the
link namespace puts frames on the WAN towards gateway B: forged FEC packets
(plain v2 source and repair packets with far-ahead block ids and made-up
sessions, as in reports against unauthenticated tunnels), envelopes with forged tags,
and replays of genuine frames it recorded.  Nothing of that may be
delivered or disturb FEC: every genuine datagram still arrives, and the
receiver counts the attack by reason.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
import sys
import threading
import time

import netns
import pytest
from test_fec_tunnel_netns import decoder, lossy_tunnel, send_tagged
from test_netns import drain, udp_socket

pytest.importorskip("pydpdk._native", reason="no native AF_PACKET backend")
secure = pytest.importorskip("pydpdk.secure")
if not secure.AVAILABLE:
    pytest.skip("pydpdk was built without the secure mode (libcrypto)", allow_module_level=True)

ETH_P_ALL = 0x0003
ETHERTYPE_FEC = 0x88B5


def opener(report: dict) -> dict:
    return next(c for name, c in report["counters"].items() if name.endswith("secure-open"))


@pytest.fixture
def secure_tunnel(tmp_path):
    key = tmp_path / "tunnel.key"
    subprocess.run([sys.executable, "-m", "pydpdk.cli", "keygen", str(key)], check=True,
                   capture_output=True, timeout=60)
    # progress (and the key file check) every 0.2 s
    with lossy_tunnel(link_mtu=1600, extra=("--key-file", str(key), "--stats-interval", "0.2",
                                            "--rekey-grace", "0.5")) as t:
        yield t


def _fec_v2_packets(session: int, block: int, payload: bytes) -> list[bytes]:
    """Well-formed plain FEC v2 packets (docs/fec-format.md): a source packet
    and the repair packets of its (partial) block, which in a plain tunnel
    would make the decoder "rebuild" whatever the forger chose."""
    from pydpdk import fec

    enc = fec.Encoder(k=8, m=4, session_id=session, first_block_id=block)
    return enc.encode([payload]) + enc.flush()


def _mac(ns: str, ifname: str) -> bytes:
    text = netns.ns_exec(ns, "cat", f"/sys/class/net/{ifname}/address").strip()
    return bytes.fromhex(text.replace(":", ""))


def _udp_frame(src_mac: bytes, dst_mac: bytes, src_ip: str, dst_ip: str, port: int,
               payload: bytes) -> bytes:
    """An Ethernet/IPv4/UDP frame (UDP checksum 0: none, as IPv4 allows)."""
    udp = struct.pack("!HHHH", 40000, port, 8 + len(payload), 0) + payload
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                               socket.inet_aton(src_ip), socket.inet_aton(dst_ip)))
    csum = sum(struct.unpack("!10H", bytes(ip)))
    csum = (csum & 0xFFFF) + (csum >> 16)
    csum = (csum & 0xFFFF) + (csum >> 16)
    struct.pack_into("!H", ip, 10, ~csum & 0xFFFF)
    return dst_mac + src_mac + b"\x08\x00" + bytes(ip) + udp


class Attacker:
    """Raw sockets on the link namespace's two interfaces: records frames
    coming from gateway A and puts forged or replayed frames towards B."""

    def __init__(self, topo: netns.GatewayTopology, port: int) -> None:
        # what a forged packet carries: a datagram to host_b's socket, as if
        # from host_a (a plain tunnel would deliver it)
        self.evil = _udp_frame(_mac(topo.host_a, "eth0"), _mac(topo.host_b, "eth0"),
                               topo.host_ip[topo.host_a], topo.host_ip[topo.host_b], port,
                               b"EVIL" * 100)
        with netns.inside(topo.link):
            self.rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            self.tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.rx.bind((topo.link_in_a, ETH_P_ALL))
        self.rx.settimeout(0.2)
        self.tx.bind((topo.link_in_b, 0))
        self.recorded: list[bytes] = []
        self.sent = {"plain": 0, "forged_tag": 0, "replay": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._record, daemon=True)
        self._thread.start()

    def _record(self) -> None:
        while not self._stop.is_set() and len(self.recorded) < 400:
            with contextlib.suppress(socket.timeout):
                frame = self.rx.recv(4096)
                if frame[12:14] == struct.pack("!H", ETHERTYPE_FEC):
                    self.recorded.append(frame)

    def attack(self, rounds: int) -> None:
        for i in range(rounds):
            if not self.recorded:
                time.sleep(0.01)
                continue
            genuine = self.recorded[i % len(self.recorded)]
            eth = genuine[:14]
            # 1. plain FEC packets: a made-up session, and block ids far ahead
            for block in (1 << 10, 1 << 20, (1 << 47) + i):
                for packet in _fec_v2_packets(0x5EC0DE00 + i, block, self.evil):
                    self.tx.send(eth + packet)
                    self.sent["plain"] += 1
            # 2. a genuine envelope header with a forged body and tag
            forged = bytearray(genuine)
            forged[14 + 24:] = os.urandom(len(forged) - 14 - 24)
            self.tx.send(bytes(forged))
            self.sent["forged_tag"] += 1
            # 3. a replay of a frame B already received
            self.tx.send(genuine)
            self.sent["replay"] += 1
            time.sleep(0.002)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.rx.close()
        self.tx.close()


def test_secure_tunnel_delivers_and_counts_attacks(secure_tunnel):
    topo, gws, rules = secure_tunnel
    ip_a, ip_b = topo.host_ip[topo.host_a], topo.host_ip[topo.host_b]
    a = udp_socket(topo.host_a, ip_a, 6200)
    b = udp_socket(topo.host_b, ip_b, 6201)
    n = 2000
    got_b: list[bytes] = []
    attacker = Attacker(topo, 6201)
    with a, b:
        deadline = time.monotonic() + 10
        while not got_b and time.monotonic() < deadline:
            a.sendto(b"hello", (ip_b, 6201))
            time.sleep(0.2)
            got_b += drain(b)
        assert got_b, "nothing crossed the secure tunnel"
        got_b.clear()
        attack = threading.Thread(target=attacker.attack, args=(300,))
        attack.start()
        for i in range(n):
            a.sendto(b"a%06d" % i + b"x" * 900, (ip_b, 6201))
            if i % 50 == 49:
                time.sleep(0.005)
                got_b += drain(b)
        attack.join(60)
        time.sleep(1.0)
        got_b += drain(b)
    attacker.close()
    reports = gws.stop()
    genuine = [d for d in got_b if d.startswith(b"a")]
    assert len(got_b) == len(genuine), "something not sent by host_a was delivered"
    seqs = {d[:7] for d in genuine}
    assert len(seqs) >= n - 5 and len(genuine) == len(seqs)      # all genuine, no duplicate
    assert sum(attacker.sent.values()) >= 300
    op_b = opener(reports[1])
    # the plain packets and forged envelopes fail authentication, replays the window
    assert op_b["bad_tag"] + op_b["malformed"] + op_b["unknown_key"] >= (
        attacker.sent["plain"] + attacker.sent["forged_tag"])
    assert op_b["replayed"] + op_b["too_old"] >= attacker.sent["replay"] * 0.9
    dec_b = decoder(reports[1])
    assert dec_b["recovered"] > 0 and dec_b["unconfirmed"] == 0 and dec_b["late"] == 0
    assert all(r["buffers_leaked"] == 0 for r in reports)


def test_key_rotation_under_traffic(secure_tunnel, tmp_path):
    """``pydpdk keygen --rotate`` on the live key file: both gateways reread it
    and accept both keys at once, seal with the new one after the grace
    period (0.5 s here), and traffic goes on throughout."""
    topo, gws, _ = secure_tunnel
    key = tmp_path / "tunnel.key"
    ip_a, ip_b = topo.host_ip[topo.host_a], topo.host_ip[topo.host_b]
    a = udp_socket(topo.host_a, ip_a, 6300)
    b = udp_socket(topo.host_b, ip_b, 6301)
    n = 3000
    got: list[bytes] = []
    with a, b:
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            a.sendto(b"hello", (ip_b, 6301))
            time.sleep(0.2)
            got += drain(b)
        got.clear()
        for i in range(n):
            a.sendto(b"r%06d" % i + b"x" * 500, (ip_b, 6301))
            if i == n // 3:
                subprocess.run([sys.executable, "-m", "pydpdk.cli", "keygen", "--rotate",
                                str(key)], check=True, capture_output=True, timeout=60)
            if i % 50 == 49:
                time.sleep(0.04)               # ~1.2k/s: 2.4 s, the rotation ~0.8 s in
                got += drain(b)
        time.sleep(1.0)
        got += drain(b)
    reports = gws.stop()
    seqs = {d[:7] for d in got if d.startswith(b"r")}
    # The rotation itself loses nothing: no packet fails authentication on
    # either side (sealed with a key the peer had not loaded yet, ...) ...
    for r in reports:
        op = opener(r)
        assert all(op[k] == 0 for k in ("unknown_key", "bad_tag", "stale_epoch", "replayed",
                                        "too_old")), op
    # ... and every datagram the FEC decoder did not declare lost arrived (on
    # 2 busy cores a descheduled gateway can give up a block by timeout).
    lost_by_fec = decoder(reports[1])["unrecoverable"]
    assert len(seqs) >= n - 5 - lost_by_fec, f"{n - len(seqs)} of {n} lost across the rotation"
    assert all("key file reloaded" in err and "sealing with key 2 now" in err
               for err in gws.stderr)
    seal_a = next(c for name, c in reports[0]["counters"].items() if name.endswith("secure-seal"))
    assert seal_a["sealed"] > 0
    assert opener(reports[1])["bad_tag"] == 0


def test_restarted_gateway_in_secure_mode(secure_tunnel):
    """Gateway B crashes and restarts: it refuses the rest of A's old session
    (nothing it accepted before may pass again), A sees B's new session and
    starts a new one too, and A -> B traffic flows again."""
    topo, gws, _ = secure_tunnel
    ip_a, ip_b = topo.host_ip[topo.host_a], topo.host_ip[topo.host_b]
    a = udp_socket(topo.host_a, ip_a, 6400)
    b = udp_socket(topo.host_b, ip_b, 6401)
    n = 1000

    def send(tag: bytes) -> set[bytes]:
        return send_tagged(a, b, (ip_b, 6401), tag, n, 400)

    with a, b:
        deadline = time.monotonic() + 10
        while not drain(b) and time.monotonic() < deadline:
            a.sendto(b"hello", (ip_b, 6401))
            time.sleep(0.2)
        time.sleep(3.5)                       # A's sealing session is an old one now
        before = send(b"p")
        gws.restart(1)                        # gateway B: the receiver of this direction
        got_a: list[bytes] = []
        deadline = time.monotonic() + 10      # B speaks first (its new session)
        while not got_a and time.monotonic() < deadline:
            b.sendto(b"from b", (ip_a, 6400))
            time.sleep(0.3)
            got_a += drain(a)
        assert got_a, "nothing from the restarted gateway reached A"
        time.sleep(0.5)
        after = send(b"q")
    reports = gws.stop()
    assert len(before) >= n - 5
    assert len(after) >= n - 5, f"{n - len(after)} of {n} lost after B restarted"
    assert all(r["buffers_leaked"] == 0 for r in reports)
    assert "starting a new one too" in gws.stderr[0]
