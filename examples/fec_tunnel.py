#!/usr/bin/env python3
"""Two FEC gateways and a lossy link between them, with traffic both ways.

    python examples/fec_tunnel.py                    # DPDK net_ring vdevs (or native)
    python examples/fec_tunnel.py --loss 0.1 -k 8 -m 4 --seconds 5

Topology, all in this process, over in-memory links (DPDK ``net_ring``
pairs, or loopback ports on the native backend)::

    host A <-> gateway A ==== lossy link ==== gateway B <-> host B

Each gateway is the two-way tunnel of ``pydpdk fec tunnel``: frames from its
host are encoded towards the peer, frames from the peer are decoded towards
its host.  Host A sends numbered frames to host B and host B to host A; each
host checks what arrives (lost, duplicated, corrupted).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator

from pydpdk import PacketPool, PortBase, backend
from pydpdk.cli_args import finite, harden, run_command
from pydpdk.pipeline import (
    FecDecodeStage,
    FecEncodeStage,
    Generator,
    Impairment,
    Pipeline,
    Verifier,
)

# one end of a link: (the port it receives on, the port it sends on)
End = tuple[PortBase, PortBase]


@contextlib.contextmanager
def links(n: int) -> Iterator[tuple[PacketPool, list[tuple[End, End]]]]:
    """(pool, [link, ...]): each link has two ends, each end an (rx port, tx port)."""
    chosen = backend.select()
    with chosen.runtime(), contextlib.ExitStack() as stack:
        pool: PacketPool = chosen.pool(16384)
        stack.callback(pool.close)
        # what one end sends on its tx port, the other end receives on its rx port
        yield pool, [stack.enter_context(chosen.link_pair(pool, depth=4096, name=f"tun{i}"))
                     for i in range(n)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=finite(0, 86400, lo_open=True, unit="(seconds)"),
                    default=3.0, help="how long to run")
    ap.add_argument("--loss", type=finite(0, 1), default=0.05,
                    help="random loss on the middle link (0..1)")
    ap.add_argument("-k", type=int, default=10, help="source frames per block")
    ap.add_argument("-m", type=int, default=3, help="parity frames per block")
    ap.add_argument("--rate", type=float, default=200_000, help="frames/s from each host")
    args = harden(ap).parse_args()         # the CLI's validators: -k, -m, --rate
    if args.k + args.m > 255:
        ap.error(f"-k {args.k} and -m {args.m}: k + m must be <= 255")

    with links(3) as (pool, (host_a, middle, host_b)):
        gen_a = Generator(pool, sizes=(300, 1200), rate_pps=args.rate, stream=1)
        gen_b = Generator(pool, sizes=(100,), rate_pps=args.rate, stream=2)
        at_b = Verifier(pool, marker_offset=gen_a.marker_offset, stream=1)
        at_a = Verifier(pool, marker_offset=gen_b.marker_offset, stream=2)
        enc_a, dec_a = FecEncodeStage(pool, k=args.k, m=args.m), FecDecodeStage(pool)
        enc_b, dec_b = FecEncodeStage(pool, k=args.k, m=args.m), FecDecodeStage(pool)
        link_ab = Impairment(pool, loss=args.loss, seed=1)
        link_ba = Impairment(pool, loss=args.loss, seed=2)
        (host_a_rx, host_a_tx), (gw_a_host_rx, gw_a_host_tx) = host_a
        (gw_a_rx, gw_a_tx), (gw_b_rx, gw_b_tx) = middle
        (gw_b_host_rx, gw_b_host_tx), (host_b_rx, host_b_tx) = host_b
        pipe = Pipeline()
        # hosts send on their access links
        pipe.add(gen_a, sink=host_a_tx).add(gen_b, sink=host_b_tx)
        # gateway A: from its host -> encode -> link; from the link -> decode -> host
        pipe.add(gw_a_host_rx, enc_a, sink=gw_a_tx, burst=64)
        pipe.add(gw_a_rx, link_ba, dec_a, sink=gw_a_host_tx, burst=64)
        # gateway B: the mirror image
        pipe.add(gw_b_host_rx, enc_b, sink=gw_b_tx, burst=64)
        pipe.add(gw_b_rx, link_ab, dec_b, sink=gw_b_host_tx, burst=64)
        # hosts receive and check
        pipe.add(host_b_rx, sink=at_b, burst=64).add(host_a_rx, sink=at_a, burst=64)
        result = pipe.run(duration=args.seconds)
        del pipe

    ok = True
    for direction, gen, link, dec, ver in (("A -> B", gen_a, link_ab, dec_b, at_b),
                                           ("B -> A", gen_b, link_ba, dec_a, at_a)):
        g, v, d, i = gen.counters, ver.counters, dec.counters, link.counters
        print(f"{direction}: sent {g['sent']:,}, lost on the link {i['lost']:,} "
              f"({i['lost'] / max(i['seen'], 1):.1%}), rebuilt {d['recovered']:,}, "
              f"delivered {v['valid']:,} ({(g['sent'] - v['valid']) / max(g['sent'], 1):.3%} "
              f"lost for good), corrupted {v['corrupted']}")
        ok &= v["corrupted"] == 0 and v["valid"] > 0
    print(f"ran {result['elapsed_s']:.1f} s, stopped by {result['stopped_by']}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(run_command("fec_tunnel.py", main))
