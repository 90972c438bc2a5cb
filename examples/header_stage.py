#!/usr/bin/env python3
"""A Python stage that routes: decrement TTL, fix the checksum, drop expired frames.

    python examples/header_stage.py --seconds 2

Generated Ethernet/IPv4/UDP frames go through one Python stage, called once
per burst.  It works on the whole burst with numpy through ``burst.headers()``
(one gather and one scatter per burst, no Python per packet) and returns a
mask of the frames to keep; the pipeline frees the rest.  It prints the rate,
the counters and one rewritten header checked by hand.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import numpy.typing as npt

from pydpdk import Burst, PacketPool, backend
from pydpdk.cli_args import finite, harden, integer, run_command
from pydpdk.pipeline import Discard, Generator, Pipeline, PyStage

TEMPLATE_TTL = 2       # frames start with TTL 2: after two hops they expire


def route(burst: Burst) -> npt.NDArray[np.bool_]:
    with burst.headers(34) as h:
        ttl = h[:, 22].astype(np.int32)
        alive = ttl > 1
        h[:, 22] = np.maximum(ttl - 1, 0).astype(np.uint8)
        # TTL is the high byte of its 16-bit word: one less TTL is +0x0100 on
        # the one's-complement checksum (RFC 1624), with end-around carry.
        csum = (h[:, 24].astype(np.uint32) << 8) | h[:, 25]
        csum = csum + 0x0100
        csum = (csum & 0xFFFF) + (csum >> 16)
        h[:, 24], h[:, 25] = csum >> 8, csum & 0xFF
    return alive


def ipv4_checksum_ok(header: bytes) -> bool:
    words = np.frombuffer(header[14:34], dtype=">u2").astype(np.uint32)
    s = int(words.sum())
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s == 0xFFFF


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=finite(0, 86400, lo_open=True, unit="(seconds)"),
                    default=2.0, help="how long to run")
    ap.add_argument("--size", dest="frame_size", type=integer(64, 1518, "a frame size in bytes"),
                    default=128, help="frame size in bytes")
    args = harden(ap).parse_args()
    from pydpdk.pipeline import DEFAULT_TEMPLATE

    template = bytearray(DEFAULT_TEMPLATE)
    template[22] = TEMPLATE_TTL
    chosen = backend.select()
    with chosen.runtime():
        pool: PacketPool = chosen.pool(8192)
        try:
            gen = Generator(pool, sizes=(args.frame_size,), template=bytes(template))
            sample = gen.frame(args.frame_size, seq=0)
            hop1 = Discard(pool)
            # two routers in a row; big bursts amortise the numpy calls per burst
            pipe = Pipeline().add(gen, PyStage(route, name="router1"),
                                  PyStage(route, name="router2"), sink=hop1, burst=256)
            result = pipe.run(duration=args.seconds)
            counters = pipe.counters()
            del pipe
            # the stage on one frame, by hand, to show the checksum stays right
            one = pool.burst_from_bytes([sample])
            keep = route(one)
            rewritten = one[0].bytes()
            one.free()
        finally:
            pool.close()
    stages = [counters["chain0.router1"], counters["chain0.router2"]]
    rate = result["packets"] / result["elapsed_s"] / 1e6
    print(f"{result['packets']:,} frames in {result['elapsed_s']:.1f} s ({rate:.2f} Mpps), "
          f"bursts of 256 through two Python stages")
    for i, c in enumerate(stages, 1):
        print(f"  router {i}: in {c['packets_in']:,}, out {c['packets_out']:,}, "
              f"expired {c['drops']:,}, {c['time_ns'] / max(c['packets_in'], 1):.0f} ns/frame")
    ok = bool(keep[0]) and rewritten[22] == TEMPLATE_TTL - 1 and ipv4_checksum_ok(rewritten)
    print(f"  one frame by hand: TTL {sample[22]} -> {rewritten[22]}, "
          f"checksum {'valid' if ipv4_checksum_ok(rewritten) else 'BROKEN'}")
    return 0 if ok and stages[1]["packets_out"] == 0 else 1


if __name__ == "__main__":
    sys.exit(run_command("header_stage.py", main))
