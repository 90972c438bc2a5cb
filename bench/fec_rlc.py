"""Quick comparison of the sliding-window code (RLC) with Reed-Solomon.

    python bench/fec_rlc.py [--packets N] [--loss P] [--seed S] [--json]

For each pair at equal overhead (RLC window W with a repair batch of m every
k sources, against RS with a block of k = W sources and the same share of
parity), one stream of N sources with independent random loss P on every
wire packet:

* residual loss: sources neither delivered nor rebuilt, over N;
* recovery delay of rebuilt sources, in source-packet intervals: from the
  moment the lost packet would have arrived to the arrival of the packet
  whose decoding rebuilt it (wire packets are evenly spaced, so equal
  overhead means equal spacing for both codes);
* encode and decode throughput (MB/s of payload, one core, the native
  codec through the batch API, best of 3; the decode figure includes the
  loss).

The packets are decoded one by one so that each rebuilt packet is tied to
the packet that completed it.  Not a substitute for bench/fec_effect.py.
"""

from __future__ import annotations

import argparse
import json
import random
import struct
import sys
import time
from typing import Any

from pydpdk import fec

REPEATS = 3
PAIRS = [  # (rlc k, m, W), (rs k = W, m at the same overhead)
    ((5, 1, 20), (20, 4)),
    ((5, 2, 10), (10, 4)),
    ((5, 1, 60), (60, 12)),
    ((4, 1, 40), (40, 10)),
]


def _payloads(n: int, size: int, rng: random.Random) -> list[bytes]:
    pad = rng.randbytes(size)
    return [struct.pack(">I", i) + pad[4:] for i in range(n)]


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def run(code: str, k: int, m: int, window: int | None, payloads: list[bytes], loss: float,
        seed: int) -> dict[str, Any]:
    kw: dict[str, Any] = {"window": window} if code == "rlc" else {}
    size = len(payloads[0])
    t_enc = float("inf")
    for _ in range(REPEATS):                      # best of: the machine may be busy
        enc = fec.Encoder(k=k, m=m, code=code, max_payload=size, session_id=1, **kw)
        t0 = time.perf_counter()
        wire = enc.encode(payloads, now=0) + enc.flush()
        t_enc = min(t_enc, time.perf_counter() - t0)
    rng = random.Random(seed)
    kept = [(i, p) for i, p in enumerate(wire) if rng.random() >= loss]
    # position of each source on the wire (its would-be arrival)
    src_pos = {}
    for i, p in enumerate(wire):
        if p[1] & 0x30 == 0:
            src_pos[struct.unpack(">I", p[20:24])[0]] = i
    spacing = len(payloads) / len(wire)          # source intervals per wire packet
    dec = fec.Decoder(max_payload=size, timeout=None, max_blocks=256)
    got: set[int] = set()
    delays: list[float] = []
    for i, p in kept:
        for out in dec.decode([p], now=0):
            seq = struct.unpack(">I", out[:4])[0]
            if seq in got:
                continue
            got.add(seq)
            if not (p[1] & 0x30 == 0 and struct.unpack(">I", p[20:24])[0] == seq):
                delays.append((i - src_pos[seq]) * spacing)
    # throughput of the decoder alone on the same received packets
    received = [p for _, p in kept]
    t_dec = float("inf")
    for _ in range(REPEATS):
        dec2 = fec.Decoder(max_payload=size, timeout=None, max_blocks=256)
        t0 = time.perf_counter()
        dec2.decode(received, now=0)
        t_dec = min(t_dec, time.perf_counter() - t0)
    mb = len(payloads) * size / 1e6
    return {
        "code": code, "k": k, "m": m, "window": window,
        "overhead": len(wire) / len(payloads) - 1,
        "residual_loss": 1 - len(got) / len(payloads),
        "recovered": len(delays),
        "delay_mean": sum(delays) / len(delays) if delays else 0.0,
        "delay_p99": _pct(delays, 0.99),
        "delay_max": max(delays) if delays else 0.0,
        "encode_MBps": mb / t_enc, "decode_MBps": mb / t_dec,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--packets", type=int, default=200_000)
    ap.add_argument("--size", type=int, default=1200, help="payload bytes")
    ap.add_argument("--loss", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    payloads = _payloads(a.packets, a.size, random.Random(a.seed))
    rows = []
    for (rk, rm, w), (sk, sm) in PAIRS:
        r = run("rlc", rk, rm, w, payloads, a.loss, a.seed)
        s = run("rs", sk, sm, None, payloads, a.loss, a.seed)
        rows += [r, s]
        if not a.json:
            for x in (r, s):
                name = (f"rlc k={x['k']} m={x['m']} W={x['window']}" if x["code"] == "rlc"
                        else f"rs {x['k']}+{x['m']}")
                print(f"{name:22} overhead {x['overhead']:6.1%}  residual "
                      f"{x['residual_loss']:.2e}  rebuilt {x['recovered']:6d}  delay mean "
                      f"{x['delay_mean']:6.2f} p99 {x['delay_p99']:6.2f} max "
                      f"{x['delay_max']:6.1f}  enc {x['encode_MBps']:7.0f} MB/s  dec "
                      f"{x['decode_MBps']:7.0f} MB/s")
            ratio_res = (r["residual_loss"] / s["residual_loss"] if s["residual_loss"]
                         else float("inf") if r["residual_loss"] else 1.0)
            ratio_p99 = r["delay_p99"] / s["delay_p99"] if s["delay_p99"] else float("nan")
            print(f"  -> residual rlc/rs {ratio_res:.2f} (target <= 1.2), p99 delay rlc/rs "
                  f"{ratio_p99:.2f} (target <= 0.5)")
    if a.json:
        json.dump({"packets": a.packets, "loss": a.loss, "size": a.size, "rows": rows},
                  sys.stdout, indent=1)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
