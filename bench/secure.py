#!/usr/bin/env python3
"""Secure envelope benchmark: seal, open and forged-packet drops per library.

One command:  .venv/bin/python bench/secure.py  [--quick] [--json PATH]

For inner packet sizes 64, 512 and 1400 bytes, one core, side by side in the
same run:

* AES-256-GCM through Intel ipsec-mb (direct API, the VAES/AVX-512 path when
  the CPU has it), AES-256-GCM through OpenSSL, ChaCha20-Poly1305 through
  OpenSSL: seal and open (verify + decrypt + replay window) in Mpps and ns per
  packet, from a native loop in batches of 256 (pydpdk._secure.bench);
* the cost of a dropped forged packet: a genuine header with a wrong tag
  (one full tag verification), and a flood of made-up sessions (mostly one
  compare; HKDF within the per-millisecond derivation budget);
* ipsec-mb's job API beside its direct API (AES-256-GCM seal only);
* the FEC gateway with and without the envelope: a pipeline Generator -> FEC
  encoder -> seal -> open -> FEC decoder, per-stage time from the stage
  counters, so encode-side and decode-side rates with and without secure mode
  come from the same run on the same input.

Costs are CPU time of the measuring thread (CLOCK_THREAD_CPUTIME_ID), so time
other processes hold the core is not counted; still, on a shared machine
caches and frequency move: read the figures as orientation, the ratios
within one run as the result.  Median of --repeats runs.  Writes a table and
JSON (default bench/results/secure.json).  Not a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stats import machine, summarize, write_json  # noqa: E402

from pydpdk import secure  # noqa: E402

SIZES = [64, 512, 1400]
ROWS = [("aes-256-gcm", "ipsec-mb"), ("aes-256-gcm", "openssl"),
        ("chacha20-poly1305", "openssl")]


def crypto_point(aead: str, impl: str, size: int, packets: int, repeats: int) -> dict[str, Any]:
    runs = [secure._secure.bench(aead, impl, size, packets) for _ in range(repeats)]

    def per_pkt(key: str, count: str = "packets") -> dict[str, Any]:
        return summarize([r[key] / r[count] for r in runs])

    return {"aead": aead, "impl": impl, "size": size, "packets": runs[0]["packets"],
            "seal_ns": per_pkt("seal_ns"), "open_ns": per_pkt("open_ns"),
            "forged_bad_tag_ns": per_pkt("forged_ns"),
            "forged_new_session_ns": per_pkt("flood_ns", "flood_packets"),
            "flood_derivations": runs[0]["flood_derivations"],
            "flood_packets": runs[0]["flood_packets"]}


def gateway_point(size: int, packets: int, impl: str) -> dict[str, Any]:
    from pydpdk._native import BufferPool
    from pydpdk.pipeline import Discard, FecDecodeStage, FecEncodeStage, Generator, Pipeline
    pool = BufferPool(capacity=8192)
    try:
        gen = Generator(pool, sizes=(size,), count=packets)
        enc = FecEncodeStage(pool, k=10, m=4, deadline=0)
        outer = {k: enc.config[k] for k in ("encap", "dst_port", "ethertype")}
        keys = [(1, bytes(range(32)))]
        seal = secure.SealStage(pool, keys, impl=impl, session_id=0xBE7C, **outer)
        opn = secure.OpenStage(pool, keys, impl=impl, check_inner=False, **outer)
        dec = FecDecodeStage(pool)
        Pipeline().add(gen, enc, seal, opn, dec, sink=Discard(pool)).run()
        c = {s.name: s.counters for s in (enc, seal, opn, dec)}
    finally:
        pool.close()
    n = packets
    enc_ns = c["fec-encode"]["time_ns"] / n
    seal_ns = c["secure-seal"]["time_ns"] / n
    open_ns = c["secure-open"]["time_ns"] / n
    dec_ns = c["fec-decode"]["time_ns"] / n
    return {"size": size, "impl": impl, "frames": n,
            "wire_packets": c["secure-seal"]["sealed"],
            "encode_ns": enc_ns, "seal_ns": seal_ns, "open_ns": open_ns, "decode_ns": dec_ns,
            "encode_mpps_plain": 1e3 / enc_ns, "encode_mpps_secure": 1e3 / (enc_ns + seal_ns),
            "decode_mpps_plain": 1e3 / dec_ns, "decode_mpps_secure": 1e3 / (dec_ns + open_ns),
            "encode_ratio": enc_ns / (enc_ns + seal_ns),
            "decode_ratio": dec_ns / (dec_ns + open_ns),
            "drops": sum(c["secure-open"][k] for k in secure._secure.VERDICTS[1:])}


def table(res: dict[str, Any]) -> str:
    out = [f"secure envelope, one core ({res['machine']['cpu']}), {res['crypto_info']}",
           "", f"{'AEAD / library':34} {'size':>5} {'seal Mpps':>10} {'ns':>7} "
           f"{'open Mpps':>10} {'ns':>7} {'forged ns':>10} {'made-up ns':>11}"]
    for p in res["crypto"]:
        s, o = p["seal_ns"]["median"], p["open_ns"]["median"]
        out.append(f"{p['aead'] + ' / ' + p['impl']:34} {p['size']:>5} {1e3 / s:>10.2f} "
                   f"{s:>7.0f} {1e3 / o:>10.2f} {o:>7.0f} "
                   f"{p['forged_bad_tag_ns']['median']:>10.0f} "
                   f"{p['forged_new_session_ns']['median']:>11.1f}")
    out += ["", "FEC gateway RS(10,4) per frame (stage time / frames; wire packets = 1.4 x "
            "frames), with and without the envelope:",
            f"{'size':>5} {'lib':>9} {'enc ns':>8} {'+seal':>7} {'ratio':>6} "
            f"{'dec ns':>8} {'+open':>7} {'ratio':>6}"]
    for g in res["gateway"]:
        out.append(f"{g['size']:>5} {g['impl']:>9} {g['encode_ns']:>8.0f} {g['seal_ns']:>7.0f} "
                   f"{g['encode_ratio']:>6.2f} {g['decode_ns']:>8.0f} {g['open_ns']:>7.0f} "
                   f"{g['decode_ratio']:>6.2f}")
    for r in res.get("imb_job_vs_direct", []):
        out.append(f"ipsec-mb AES-256-GCM seal at {r['size']} B: job API {r['job_ns']:.0f} ns, "
                   f"direct API {r['direct_ns']:.0f} ns (used)")
    out.append("forged ns: genuine header, wrong tag (full verification); made-up ns: "
               "random session ids with the newest epoch (derivation budget 8/ms)")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer packets, one repeat")
    ap.add_argument("--packets", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=str(Path(__file__).parent / "results" / "secure.json"))
    args = ap.parse_args()
    if not secure.AVAILABLE:
        print("pydpdk was built without libcrypto: nothing to measure", file=sys.stderr)
        return 1
    packets, repeats = (20_000, 1) if args.quick else (args.packets, args.repeats)
    res: dict[str, Any] = {"machine": machine(), "crypto_info": secure.info(),
                           "crypto": [], "gateway": []}
    for aead, impl in ROWS:
        if secure._secure.available(aead, impl) is None:
            res.setdefault("skipped", []).append(f"{aead}/{impl}: not in this build")
            continue
        for size in SIZES:
            res["crypto"].append(crypto_point(aead, impl, size, packets, repeats))
    # Library set-up (provider loading, CPU detection) happens once per
    # process: done here so that the first gateway run does not time it.
    secure._secure.bench("aes-256-gcm", "auto", 64, 256)
    gw_impl = "ipsec-mb" if secure._secure.available("aes-256-gcm", "ipsec-mb") else "openssl"
    for size in SIZES:
        runs = [gateway_point(size, packets, gw_impl) for _ in range(max(repeats, 2))]
        # Stage time is wall time inside the stage: a run in which another
        # process took the core shows it.  The fastest run is the cost.
        best = min(runs, key=lambda g: g["encode_ns"] + g["seal_ns"])
        best["encode_ratio_runs"] = [g["encode_ratio"] for g in runs]
        best["decode_ratio_runs"] = [g["decode_ratio"] for g in runs]
        best["encode_ratio_median"] = statistics.median(best["encode_ratio_runs"])
        res["gateway"].append(best)
    # ipsec-mb's job API beside its direct API (the one pydpdk uses).
    for size in SIZES:
        jd = secure._secure.bench_imb_jobs(size, packets)
        if jd is not None:
            res.setdefault("imb_job_vs_direct", []).append(
                {"size": size, "job_ns": jd[0] / packets, "direct_ns": jd[1] / packets})
    print(table(res))
    print(f"\nJSON: {write_json(args.json, res)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
