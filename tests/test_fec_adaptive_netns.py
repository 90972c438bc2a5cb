"""``pydpdk fec tunnel --adaptive`` across namespaces under nftables loss.

Both gateways start with RS(8,1), too little for the link's 5 % random loss
each way; each side measures what it receives and reports it to the peer in
control packets, whose encoder raises m.  The --json reports show the choice
and why, and every UDP datagram crosses.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from test_fec_tunnel_netns import decoder, lossy_tunnel
from test_netns import drain, udp_socket


@pytest.mark.parametrize("secure", [False, True], ids=["plain", "secure"])
def test_adaptive_tunnel_raises_m_under_loss(secure, tmp_path):
    """In secure mode the reports are sealed and opened like every packet."""
    extra: tuple[str, ...] = (
        "--adaptive", "-m", "1", "--deadline-ms", "20", "--max-delay-ms", "100",
        "--target-loss", "1e-4", "--stats-interval", "0.5")
    if secure:
        key = tmp_path / "tunnel.key"
        subprocess.run([sys.executable, "-m", "pydpdk.cli", "keygen", str(key)], check=True,
                       capture_output=True)
        extra += ("--key-file", str(key))
    with lossy_tunnel(link_mtu=1600, extra=extra) as (topo, gws, rules):
        ip_a, ip_b = topo.host_ip[topo.host_a], topo.host_ip[topo.host_b]
        a = udp_socket(topo.host_a, ip_a, 6100)
        b = udp_socket(topo.host_b, ip_b, 6101)
        got_a: list[bytes] = []
        got_b: list[bytes] = []
        with a, b:
            deadline = time.monotonic() + 10
            while not got_b and time.monotonic() < deadline:
                a.sendto(b"hello", (ip_b, 6101))
                time.sleep(0.2)
                got_b += drain(b)
            assert got_b, "nothing crossed the tunnel"
            got_b.clear()
            n = 0
            end = time.monotonic() + 5.0          # ~4k datagrams/s each way
            while time.monotonic() < end:
                for _ in range(40):
                    a.sendto(b"a%06d" % n + b"x" * 600, (ip_b, 6101))
                    b.sendto(b"b%06d" % n + b"y" * 200, (ip_a, 6100))
                    n += 1
                time.sleep(0.01)
                got_a += drain(a)
                got_b += drain(b)
            time.sleep(1.0)
            got_a += drain(a)
            got_b += drain(b)
        reports = gws.stop()
        dropped = [r.dropped() for r in rules]
    assert all(d > 50 for d in dropped), dropped
    for rep in reports:
        ad = rep["adaptive"]
        st = ad["setting"]
        # the peer's reports arrived and raised the redundancy above m=1
        assert ad["reports"] > 5 and ad["changes"] >= 1, ad
        assert st["m"] >= 2 and st["overhead"] > 0.1 and "predicts" in st["reason"], ad
        assert 0.02 < ad["report"]["loss_rate"] < 0.1, ad
        assert decoder(rep)["control"] > 5
        assert any("adaptive" in rec for rec in rep["intervals"])
        assert rep["buffers_leaked"] == 0
        if secure:       # every control packet went through seal and open
            opened = next(c for n, c in rep["counters"].items() if n.endswith("secure-open"))
            assert opened["opened"] > 0 and opened.get("bad_tag", 0) == 0
    # once adapted, the tunnel rebuilds what the link loses: at most the
    # first blocks (sent with m=1) lose anything
    seqs_a = {d[:7] for d in got_a}
    seqs_b = {d[:7] for d in got_b}
    assert len(seqs_b) >= n - n // 50 and len(seqs_a) >= n - n // 50
