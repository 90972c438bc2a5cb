"""Network namespaces, veth pairs and nftables loss rules for the tests.

Everything created here is removed again, also when a test fails: use the
context managers.  They need root (CAP_SYS_ADMIN + CAP_NET_ADMIN) and the
``ip`` and ``nft`` tools; :func:`require_netns` skips a test with the reason
when that is not available.

Topology used by the gateway tests (FEC tunnel)::

    host_a --veth-- gw_a --veth-- link (bridge, lossy) --veth-- gw_b --veth-- host_b

The end hosts get IP addresses in one subnet; the gateways get none (their
ports bridge frames in user space).  Code runs inside a namespace with
:func:`inside`, which switches this thread's network namespace: sockets
opened inside keep working after switching back.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

_CLONE_NEWNET = 0x40000000
_counter = itertools.count()
_libc = ctypes.CDLL(None, use_errno=True)


def _run(*args: str, check: bool = True, stdin: str | None = None) -> str:
    proc = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def unique_name(prefix: str) -> str:
    """A short name unique to this process (interface names: 15 bytes max)."""
    return f"{prefix}{os.getpid() % 10000}{next(_counter)}"[:15]


_netns_checked: str | None = None
_created: list[str] = []


def netns_unavailable_reason() -> str | None:
    """None when namespaces can be created here, else why not."""
    global _netns_checked
    if _netns_checked is not None:
        return _netns_checked or None
    reason = ""
    if os.geteuid() != 0:
        reason = "needs root to create network namespaces and veth pairs"
    elif shutil.which("ip") is None:
        reason = "the 'ip' tool (iproute2) is not installed"
    else:
        name = unique_name("pdchk")
        try:
            _run("ip", "netns", "add", name)
            _run("ip", "netns", "del", name)
        except RuntimeError as exc:
            reason = f"cannot create a network namespace here: {exc}"
    _netns_checked = reason
    return reason or None


def require_netns() -> None:
    reason = netns_unavailable_reason()
    if reason:
        pytest.skip(reason)


def require_nft() -> None:
    if shutil.which("nft") is None:
        pytest.skip("the 'nft' tool (nftables) is not installed")


@contextlib.contextmanager
def netns(prefix: str = "pdns") -> Iterator[str]:
    """A fresh network namespace (loopback up), deleted on exit."""
    name = unique_name(prefix)
    _run("ip", "netns", "add", name)
    _created.append(name)
    try:
        _run("ip", "-n", name, "link", "set", "lo", "up")
        # No IPv6 autoconfiguration chatter (router solicitations, DAD) on
        # test links: frame counts must be exactly what the test sent.
        for key in ("all", "default"):
            ns_exec(name, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1", check=False)
        yield name
    finally:
        _run("ip", "netns", "del", name, check=False)


def ns_exec(ns: str, *args: str, check: bool = True) -> str:
    """Run a command inside namespace *ns*; its stdout."""
    return _run("ip", "netns", "exec", ns, *args, check=check)


@contextlib.contextmanager
def inside(ns: str) -> Iterator[None]:
    """Switch this thread into namespace *ns* (and back on exit)."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if _libc.setns(target, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {ns}: {os.strerror(err)}")
        try:
            yield
        finally:
            if _libc.setns(own, _CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns back: {os.strerror(err)}")
    finally:
        os.close(target)
        os.close(own)


def add_veth(ns_a: str, if_a: str, ns_b: str, if_b: str, mtu: int = 1500) -> None:
    """A veth pair with one end in each namespace, both up.  Deleting either
    end (or either namespace) deletes the pair."""
    _run("ip", "-n", ns_a, "link", "add", if_a, "type", "veth", "peer", "name", if_b,
         "netns", ns_b)
    for ns, ifname in ((ns_a, if_a), (ns_b, if_b)):
        _run("ip", "-n", ns, "link", "set", ifname, "mtu", str(mtu))
        _run("ip", "-n", ns, "link", "set", ifname, "up")


def set_offloads(ns: str, ifname: str, **features: str) -> None:
    """``ethtool -K`` in *ns* (ethtool is installed by ``make deps``)."""
    args = [x for kv in features.items() for x in kv]
    ns_exec(ns, "ethtool", "-K", ifname, *args)


@dataclass
class VethPair:
    """Two namespaces joined by a veth pair: ``a``/``if_a`` -- ``b``/``if_b``."""

    a: str
    if_a: str
    b: str
    if_b: str


@contextlib.contextmanager
def veth_pair(mtu: int = 1500) -> Iterator[VethPair]:
    """Two fresh namespaces joined by a veth pair; all removed on exit."""
    with netns("pda") as a, netns("pdb") as b:
        pair = VethPair(a, "pdv0", b, "pdv1")
        add_veth(a, pair.if_a, b, pair.if_b, mtu)
        yield pair


def add_link(ns: str, if_a: str, if_b: str) -> None:
    """Make *ns* a wire between its interfaces *if_a* and *if_b*: a bridge
    with no STP and no forwarding delay, so frames pass at once."""
    br = "br0"
    _run("ip", "-n", ns, "link", "add", br, "type", "bridge", "stp_state", "0",
         "forward_delay", "0")
    for ifname in (if_a, if_b):
        _run("ip", "-n", ns, "link", "set", ifname, "master", br)
    _run("ip", "-n", ns, "link", "set", br, "up")


@dataclass
class LinkedPair:
    """``a``/``if_a`` --veth-- link namespace (bridge) --veth-- ``b``/``if_b``.

    Loss rules go on the link's ingress interfaces ``link_in_a`` (frames
    from a) and ``link_in_b`` (frames from b): dropped there, a frame never
    reaches the other side, whatever listens on it (an AF_PACKET socket on
    the receiving interface itself sees frames *before* that interface's
    ingress hook, so a drop rule there would not hide them from it).
    """

    a: str
    if_a: str
    link: str
    link_in_a: str
    link_in_b: str
    b: str
    if_b: str


@contextlib.contextmanager
def linked_pair(mtu: int = 1500) -> Iterator[LinkedPair]:
    """Namespaces a and b joined through a bridging link namespace."""
    with netns("pda") as a, netns("pdl") as link, netns("pdb") as b:
        pair = LinkedPair(a, "pdv0", link, "la", "lb", b, "pdv1")
        add_veth(a, pair.if_a, link, pair.link_in_a, mtu)
        add_veth(link, pair.link_in_b, b, pair.if_b, mtu)
        add_link(link, pair.link_in_a, pair.link_in_b)
        yield pair


@dataclass
class GatewayTopology:
    """host_a --lan-- gw_a --wan-- link --wan-- gw_b --lan-- host_b.

    ``ifaces[ns]`` names each namespace's interfaces by role ("lan", "wan");
    ``host_ip`` the end hosts' IPv4 addresses (one /24: the gateways bridge).
    The link namespace bridges its two interfaces ``link_in_a`` (frames from
    gw_a) and ``link_in_b`` (frames from gw_b): put loss rules there.
    """

    host_a: str
    gw_a: str
    link: str
    gw_b: str
    host_b: str
    ifaces: dict[str, dict[str, str]] = field(default_factory=dict)
    host_ip: dict[str, str] = field(default_factory=dict)
    host_ip6: dict[str, str] = field(default_factory=dict)
    link_in_a: str = "la"
    link_in_b: str = "lb"

    @property
    def namespaces(self) -> list[str]:
        return [self.host_a, self.gw_a, self.link, self.gw_b, self.host_b]


@contextlib.contextmanager
def gateway_topology(mtu: int = 1500, link_mtu: int | None = None,
                     ipv6: bool = False) -> Iterator[GatewayTopology]:
    """End host - gateway - link - gateway - end host, as five namespaces.

    The gateway-to-link veths may have a larger MTU (*link_mtu*) to carry
    encapsulated frames.  With *ipv6* the end hosts also get IPv6 addresses
    (``host_ip6``; fd77::1 and fd77::2, no duplicate address detection).
    Everything is deleted on exit.
    """
    with contextlib.ExitStack() as stack:
        ha, ga, link, gb, hb = (stack.enter_context(netns(p))
                                for p in ("pdha", "pdga", "pdlk", "pdgb", "pdhb"))
        topo = GatewayTopology(ha, ga, link, gb, hb)
        add_veth(ha, "eth0", ga, "lan", mtu)
        add_veth(ga, "wan", link, topo.link_in_a, link_mtu or mtu)
        add_veth(link, topo.link_in_b, gb, "wan", link_mtu or mtu)
        add_veth(gb, "lan", hb, "eth0", mtu)
        add_link(link, topo.link_in_a, topo.link_in_b)
        topo.ifaces = {
            ha: {"lan": "eth0"},
            ga: {"lan": "lan", "wan": "wan"},
            gb: {"lan": "lan", "wan": "wan"},
            hb: {"lan": "eth0"},
        }
        # Every interface keeps its default offloads (TSO/GSO/GRO on, checksums
        # left to the "NIC"): the gateways' AF_PACKET ports segment the
        # super-frames and complete the checksums themselves.
        topo.host_ip = {ha: "10.77.0.1", hb: "10.77.0.2"}
        for ns, ip in topo.host_ip.items():
            _run("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
        if ipv6:
            topo.host_ip6 = {ha: "fd77::1", hb: "fd77::2"}
            for ns, ip in topo.host_ip6.items():
                for key in ("all", "default", "eth0"):
                    ns_exec(ns, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=0")
                _run("ip", "-n", ns, "addr", "add", f"{ip}/64", "dev", "eth0", "nodad")
        yield topo


@dataclass
class LossRule:
    """An nftables netdev ingress chain that drops a random share of frames."""

    ns: str
    ifname: str
    per_mille: int
    table: str

    def dropped(self) -> int:
        """Frames dropped so far (the rule's counter)."""
        out = ns_exec(self.ns, "nft", "-j", "list", "table", "netdev", self.table)
        for item in json.loads(out)["nftables"]:
            rule = item.get("rule")
            if not rule:
                continue
            for expr in rule["expr"]:
                if "counter" in expr:
                    return int(expr["counter"]["packets"])
        raise RuntimeError(f"no counter in nft table {self.table}")


@contextlib.contextmanager
def random_loss(ns: str, ifname: str, per_mille: int) -> Iterator[LossRule]:
    """Drop *per_mille*/1000 of the frames arriving on *ifname* in *ns*
    (``numgen random mod 1000 < per_mille`` in a netdev ingress chain; this
    kernel has no netem).  The table is deleted on exit."""
    if not 0 <= per_mille <= 1000:
        raise ValueError(f"per_mille must be 0..1000, got {per_mille}")
    table = unique_name("pdloss")
    ruleset = (
        f"table netdev {table} {{\n"
        f"  chain ingress {{\n"
        f'    type filter hook ingress device "{ifname}" priority 0; policy accept;\n'
        f"    numgen random mod 1000 < {per_mille} counter drop\n"
        f"  }}\n"
        f"}}\n"
    )
    ns_exec_stdin(ns, ruleset, "nft", "-f", "-")
    try:
        yield LossRule(ns, ifname, per_mille, table)
    finally:
        ns_exec(ns, "nft", "delete", "table", "netdev", table, check=False)


def ns_exec_stdin(ns: str, stdin: str, *args: str) -> str:
    return _run("ip", "netns", "exec", ns, *args, stdin=stdin)


def leftover_namespaces() -> list[str]:
    """Namespaces created by this process that still exist (should be none)."""
    out = _run("ip", "netns", "list", check=False)
    names = {line.split()[0] for line in out.splitlines() if line.strip()}
    return [n for n in _created if n in names]
