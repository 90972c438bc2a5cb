"""Next-hop resolution for --encap udp on raw ports: the kernel's route and
neighbour tables over rtnetlink, and ARP through a port (AF_PACKET, DPDK)."""

from __future__ import annotations

import contextlib
import errno
import json
import socket

import netns
import pytest

from pydpdk import nexthop
from pydpdk.errors import PortError

native = pytest.importorskip("pydpdk._native", reason="no native AF_PACKET backend")


def _mac(ns: str, ifname: str) -> str:
    return json.loads(netns.ns_exec(ns, "ip", "-j", "link", "show", ifname))[0]["address"]


@contextlib.contextmanager
def lan():
    """a (10.93.0.1/24, default via 10.93.0.2) --veth-- b (10.93.0.2/24)."""
    netns.require_netns()
    with netns.veth_pair() as pair:
        netns.ns_exec(pair.a, "ip", "addr", "add", "10.93.0.1/24", "dev", pair.if_a)
        netns.ns_exec(pair.b, "ip", "addr", "add", "10.93.0.2/24", "dev", pair.if_b)
        netns.ns_exec(pair.a, "ip", "route", "add", "10.94.0.0/16", "via", "10.93.0.2")
        yield pair


def test_kernel_tables_give_the_gateway_of_the_route_and_its_mac():
    with lan() as pair, netns.inside(pair.a):
        assert nexthop.neighbour_mac(socket.if_nametoindex(pair.if_a), "10.93.0.2") is None
        oif, gw, src = nexthop.route_get("10.94.1.1")
        assert (oif, gw, src) == (socket.if_nametoindex(pair.if_a), "10.93.0.2", "10.93.0.1")
        hop = nexthop.kernel_next_hop("10.94.1.1", pair.if_a)   # resolves it first
        assert hop.gateway == "10.93.0.2" and hop.address == "10.93.0.2"
        assert hop.src_ip == "10.93.0.1"
        assert hop.mac == _mac(pair.b, pair.if_b)
        on_link = nexthop.kernel_next_hop("10.93.0.2", pair.if_a)
        assert on_link.gateway is None and on_link.mac == hop.mac


def test_no_route_and_no_answer_raise():
    with lan() as pair, netns.inside(pair.a):
        with pytest.raises(PortError, match="no route to 10.99.0.1") as info:
            nexthop.kernel_next_hop("10.99.0.1", pair.if_a)
        assert info.value.errno == errno.ENETUNREACH
        with pytest.raises(PortError, match="did not answer ARP") as info:
            nexthop.kernel_next_hop("10.93.0.77", pair.if_a, timeout=1.0)
        assert info.value.errno == errno.EHOSTUNREACH
        with pytest.raises(PortError) as info:
            nexthop.kernel_next_hop("10.93.0.2", "nosuchif0")
        assert info.value.errno == errno.ENODEV


def test_arp_through_a_port():
    pool = native.BufferPool(capacity=256)
    try:
        with lan() as pair:
            with netns.inside(pair.a):
                port = native.AfPacketPort(pair.if_a, pool)
            with port:
                port.start()
                mac = nexthop.arp_resolve(port, pool, port.mac, "10.93.0.1", "10.93.0.2")
                assert mac == _mac(pair.b, pair.if_b)
                with pytest.raises(PortError, match="no ARP answer"):
                    nexthop.arp_resolve(port, pool, port.mac, "10.93.0.1", "10.93.0.99",
                                        timeout=0.6)
    finally:
        assert pool.available == pool.capacity
        pool.close()


def test_arp_through_a_dpdk_port(eal, mempool):
    from pydpdk import dpdk

    # DPDK's af_packet PMD names its interface in ioctls: stay in the namespace
    with lan() as pair, netns.inside(pair.a):
        name = eal.add_vdev(f"net_af_packet77,iface={pair.if_a}")
        try:
            with dpdk.Port(name, mempool) as port:
                port.start()
                hop = nexthop.resolve_for_port(port, mempool, "10.94.1.1", "10.93.0.1", None,
                                               gateway="10.93.0.2")
                assert hop.mac == _mac(pair.b, pair.if_b) and hop.gateway == "10.93.0.2"
                with pytest.raises(PortError, match="--src-ip"):
                    nexthop.resolve_for_port(port, mempool, "10.94.1.1", None, None)
        finally:
            eal.remove_vdev(name)


@contextlib.contextmanager
def lan6():
    """a (fd93::1/64, fd94::/32 via fd93::2) --veth-- b (fd93::2/64), IPv6 on."""
    netns.require_netns()
    with netns.veth_pair() as pair:
        for ns, ifname, ip in ((pair.a, pair.if_a, "fd93::1"), (pair.b, pair.if_b, "fd93::2")):
            for key in ("all", "default", ifname):
                netns.ns_exec(ns, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=0")
            netns.ns_exec(ns, "ip", "addr", "add", f"{ip}/64", "dev", ifname, "nodad")
        netns.ns_exec(pair.a, "ip", "-6", "route", "add", "fd94::/32", "via", "fd93::2")
        yield pair


def test_ipv6_next_hop_is_resolved_with_neighbour_discovery():
    """IPv6 peers: the kernel's IPv6 route and NDP neighbour table, the
    neighbour solicitation triggered when the entry is missing."""
    with lan6() as pair, netns.inside(pair.a):
        ifindex = socket.if_nametoindex(pair.if_a)
        assert nexthop.neighbour_mac(ifindex, "fd93::2") is None
        assert nexthop.route_get("fd94::7") == (ifindex, "fd93::2", "fd93::1")
        hop = nexthop.kernel_next_hop("fd94::7", pair.if_a)    # solicits it first
        assert hop.gateway == "fd93::2" and hop.src_ip == "fd93::1"
        assert hop.mac == _mac(pair.b, pair.if_b)
        assert nexthop.neighbour_mac(ifindex, "fd93::2") == hop.mac
        on_link = nexthop.kernel_next_hop("fd93::2", pair.if_a)
        assert on_link.gateway is None and on_link.mac == hop.mac
        with pytest.raises(PortError, match="did not answer neighbour discovery") as info:
            nexthop.kernel_next_hop("fd93::77", pair.if_a, timeout=1.0)
        assert info.value.errno == errno.EHOSTUNREACH
