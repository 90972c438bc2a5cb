"""Interface MTU and offload state read with the ethtool ioctl (no external
tool), checked against the ethtool tool itself; the port's vnet header."""

from __future__ import annotations

import re

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
