"""Interface MTU and offload state read with the ethtool ioctl (no external
tool), checked against the ethtool tool itself; the port's vnet header."""

from __future__ import annotations

import re
import time

import netns
import pytest

native = pytest.importorskip("pydpdk._native", reason="no native AF_PACKET backend")


@pytest.fixture
def veth():
    netns.require_netns()
    with netns.veth_pair() as pair:
        yield pair
    assert not netns.leftover_namespaces()


def ethtool_k(ns: str, ifname: str) -> dict[str, bool]:
    out = netns.ns_exec(ns, "ethtool", "-k", ifname)
    return {m.group(1): m.group(2) == "on"
            for m in re.finditer(r"^\s*([\w-]+): (on|off)", out, re.M)}


def test_offload_state_matches_ethtool(veth):
    with netns.inside(veth.a):
        info = native.interface_info(veth.if_a)
    assert info["mtu"] == 1500
    tool = ethtool_k(veth.a, veth.if_a)
    for ours, theirs in (("tso", "tcp-segmentation-offload"),
                         ("gso", "generic-segmentation-offload"),
                         ("gro", "generic-receive-offload")):
        assert info["offloads"][ours] == tool[theirs], ours
    assert info["offloads"]["tso"]                          # a veth's default
    netns.set_offloads(veth.a, veth.if_a, tso="off", gro="on")
    with netns.inside(veth.a):
        after = native.interface_info(veth.if_a)
    assert not after["offloads"]["tso"] and after["offloads"]["gro"]


def test_missing_interface_is_a_port_error():
    from pydpdk.errors import PortError

    with pytest.raises(PortError):
        native.interface_info("no-such-if0")
    with pytest.raises(ValueError):
        native.interface_info("x" * 20)


def test_port_uses_a_vnet_header_by_default(veth):
    pool = native.BufferPool(256)
    with netns.inside(veth.a):
        port = native.AfPacketPort(veth.if_a, pool)
        plain = native.AfPacketPort(veth.if_a, pool, vnet_hdr=False)
    with port, plain:
        assert port.vnet_hdr and not plain.vnet_hdr
        assert port.stats()["rx_gso_frames"] == 0
    pool.close()


def _tcp_between(veth, payload: bytes) -> None:
    """A TCP stream from namespace a to namespace b over the veth (default
    offloads: a's stack hands TSO super-frames to its veth)."""
    import socket
    import threading

    for ns, ifname, ip in ((veth.a, veth.if_a, "10.88.0.1"), (veth.b, veth.if_b, "10.88.0.2")):
        netns.ns_exec(ns, "ip", "addr", "add", f"{ip}/24", "dev", ifname)
    with netns.inside(veth.b):
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with netns.inside(veth.a):
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("10.88.0.2", 7400))
    server.listen(1)
    server.settimeout(30)
    got = bytearray()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            while chunk := conn.recv(65536):
                got.extend(chunk)

    t = threading.Thread(target=serve)
    t.start()
    with client:
        client.settimeout(30)
        client.connect(("10.88.0.2", 7400))
        client.sendall(payload)
    t.join(60)
    server.close()
    assert got == payload


def test_super_frames_segmented_in_copy_mode_counted_in_zero_copy(veth):
    """Two ports watch b's interface while a TSO stream arrives: the copy-mode
    port hands out wire-sized TCP segments with valid checksums, the
    zero-copy port (nothing to segment into) counts the super-frames."""
    import struct

    pool = native.BufferPool(4096)
    with netns.inside(veth.b):
        copy = native.AfPacketPort(veth.if_b, pool, promiscuous=False)
        zc = native.AfPacketPort(veth.if_b, None, zero_copy=True, promiscuous=False)
    copy.start()
    zc.start()
    frames: list[bytes] = []
    try:
        _tcp_between(veth, bytes(range(256)) * 2048)
        time.sleep(0.2)
        for port in (copy, zc):
            while True:
                burst = port.rx_burst(0, 256)
                if not len(burst):
                    break
                if port is copy:
                    frames += burst.to_bytes_list()
                burst.free()
        st, zst = copy.stats(), zc.stats()
    finally:
        copy.close()
        zc.close()
        pool.close()
    assert st["rx_gso_frames"] > 0 and st["rx_gso_segments"] > st["rx_gso_frames"]
    assert st["rx_gso_failed"] == 0
    assert zst["rx_gso_failed"] == st["rx_gso_frames"]
    tcp = [f for f in frames if f[12:14] == b"\x08\x00" and f[23] == 6]
    assert tcp and max(len(f) for f in tcp) <= 1514
    def csum(data: bytes) -> int:
        if len(data) % 2:
            data += b"\0"
        s = sum(struct.unpack(f"!{len(data) // 2}H", data))
        while s >> 16:
            s = (s & 0xffff) + (s >> 16)
        return s

    for f in tcp:
        ihl = (f[14] & 15) * 4
        total = struct.unpack("!H", f[16:18])[0]
        assert csum(f[14:14 + ihl]) == 0xffff                       # IPv4 header
        seg = f[14 + ihl:14 + total]
        pseudo = f[26:34] + struct.pack("!BBH", 0, 6, len(seg))
        assert csum(pseudo + seg) == 0xffff                         # TCP
