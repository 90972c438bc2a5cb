#!/usr/bin/env python3
"""FEC codec benchmark: pydpdk's block codec beside ISA-L, pyeclib and zfec.

One command:  .venv/bin/python bench/fec_codec.py  [--quick] [--json PATH]

For (k, m) in {(4,1),(8,2),(10,4),(20,5),(32,8)} and packet sizes {64, 512,
1400, 9000} it measures, on identical inputs in the same run:

* pydpdk native (a C loop over blocks, per kernel: scalar, avx2,
  avx2gfni, gfni):
  encode, decode with a fresh loss pattern per block (decode matrix built
  every block), decode with one repeated pattern (matrix cache);
* pydpdk through the Python API (BlockCodec.encode / reconstruct), default
  kernel: one call per batch of blocks ("python") and one call per block
  ("python-1", the granularity the peers' APIs allow);
* Intel ISA-L, the same C loop shape (ec_init_tables + ec_encode_data;
  decode = invert the k x k survivor matrix per block, or once for the
  repeated pattern), in two builds:
  - "isal-upstream": upstream ISA-L built from a source checkout by
    `bench/build_isal.sh SRC_DIR` (needs nasm) into bench/peers/isa-l
    (git-ignored; --isal-lib to point elsewhere).  Its dispatch runs the
    AVX-512 + GFNI kernels on a CPU that has them.  Skipped with a note when
    it has not been built.  The version is read from the library
    (isal_get_version_str);
  - "isal-debian": Debian's libisal 2.30 (AVX-512 PSHUFB kernels, no GFNI),
    version from dpkg;
  for encode also ec_encode_data_avx2 (ISA-L's AVX2 PSHUFB code, the peer
  of pydpdk's avx2 kernel) and, upstream, ec_encode_data_avx2_gfni (the
  peer of pydpdk's avx2gfni kernel);
* pyeclib (isa_l_rs_cauchy backend) and zfec, one Python call per block:
  their APIs take one block (stripe) per call, so they cannot be batched.

Every decode loses m data packets (min(m, k)).  Rounds are interleaved:
in each of --repeats rounds every codec of a cell runs an untimed pass and
then one sample of about --target seconds.  Figures: GB/s of data (k x
packet size per block), ns per data packet, median over the rounds with the
min-max spread; target ratios are the median of the per-round ratios with
their quartiles.  On a loaded machine use short samples and many rounds
(the BENCHMARKS.md runs: --repeats 61 --target 0.0002).  The CPU's
instruction rates (bench/fec_bound.c) give each kernel's compute bound.
One core (single-threaded).  Not a test: nothing fails on timing.  Writes
a table to stdout and JSON (default bench/results/fec_codec.json).
Installs pyeclib and zfec into the running environment with pip when they
are missing, and reports a peer it could not install or run instead of
failing.
"""

from __future__ import annotations

import os

# numpy's OpenBLAS thread pool spins on idle cores; on a 2-core box that
# steals time from the codecs being timed.  Set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import ctypes
import datetime
import importlib
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHAPES = [(4, 1), (8, 2), (10, 4), (20, 5), (32, 8)]
SIZES = [64, 512, 1400, 9000]
# Every library source of native/fec (the C unit tests and fuzz drivers excluded),
# so a new file of the codec cannot leave the helper with an undefined symbol.
FEC_SOURCES = sorted(p.name for p in (ROOT / "native" / "fec").glob("*.c")
                     if not p.name.startswith(("test_", "fuzz_")))


def _compile(out: Path, sources: list[Path], args: list[str]) -> None:
    """cc -O3 -shared unless out is newer than every source and was built by
    the same command (a file added to the sources must trigger a rebuild)."""
    cmd = ["cc", "-O3", "-std=gnu11", "-shared", "-fPIC", "-DNDEBUG",
           *map(str, sources), "-o", str(out), *args]
    stamp = out.with_suffix(out.suffix + ".cmd")
    if (not out.exists() or not stamp.exists() or stamp.read_text() != " ".join(cmd)
            or any(s.stat().st_mtime > out.stat().st_mtime for s in sources)):
        subprocess.run(cmd, check=True)
        stamp.write_text(" ".join(cmd))


def build_native_helper() -> ctypes.CDLL:
    """Compile bench/fec_native.c with native/fec (release flags)."""
    out_dir = ROOT / "build" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    lib = out_dir / "libfecbench.so"
    sources = [ROOT / "bench" / "fec_native.c"] + [ROOT / "native" / "fec" / s for s in FEC_SOURCES]
    _compile(lib, sources, ["-I", str(ROOT / "native" / "fec"), "-lpthread"])
    dll = ctypes.CDLL(str(lib))
    p, i = ctypes.c_void_p, ctypes.c_int
    dll.pd_fec_encode.argtypes = [ctypes.c_char_p, i, i, i, i, p, p, i]
    dll.pd_fec_decode.argtypes = [ctypes.c_char_p, i, i, i, i, p, p, i, i]
    dll.pd_stream_encode.argtypes = [i, i, i, i, p, i]
    dll.pd_stream_decode.argtypes = [p, p, p, i, i, i]
    return dll


def _isal_dll(lib: Path) -> ctypes.CDLL:
    dll = ctypes.CDLL(str(lib))
    p, i = ctypes.c_void_p, ctypes.c_int
    dll.isal_encode.argtypes = [i, i, i, i, p, p, i, i, p]
    dll.isal_decode.argtypes = [i, i, i, i, p, p, p, i, i]
    dll.isal_peer_version.restype = ctypes.c_char_p
    return dll


def build_isal_debian() -> tuple[ctypes.CDLL | None, str]:
    """bench/fec_isal.c against Debian's libisal: (dll, version) or (None, why)."""
    if not Path("/usr/include/isa-l/erasure_code.h").exists():
        return None, "Debian libisal-dev not installed (make deps installs it)"
    lib = ROOT / "build" / "bench" / "libfecbench_isal_debian.so"
    lib.parent.mkdir(parents=True, exist_ok=True)
    _compile(lib, [ROOT / "bench" / "fec_isal.c"], ["-I", "/usr/include/isa-l", "-lisal"])
    proc = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "libisal2"],
                          capture_output=True, text=True)
    version = proc.stdout.strip() if proc.returncode == 0 else "unknown"
    return _isal_dll(lib), f"{version} (Debian libisal2)"


def build_isal_upstream(peer: Path) -> tuple[ctypes.CDLL | None, str]:
    """bench/fec_isal.c against the ISA-L that bench/build_isal.sh built into
    peer (a directory with include/ and lib/libisal_pic.a, or the archive
    itself).  Its symbols stay inside the helper (-Bsymbolic, archive symbols
    not exported), so Debian's libisal.so.2 can be loaded beside it."""
    archive = peer if peer.is_file() else peer / "lib" / "libisal_pic.a"
    include = archive.parent.parent / "include"
    if not archive.exists() or not (include / "erasure_code.h").exists():
        return None, (f"no upstream ISA-L at {peer}: run bench/build_isal.sh SRC_DIR "
                      "with an ISA-L source checkout (needs nasm)")
    lib = ROOT / "build" / "bench" / "libfecbench_isal_upstream.so"
    lib.parent.mkdir(parents=True, exist_ok=True)
    _compile(lib, [ROOT / "bench" / "fec_isal.c", archive],
             ["-DISAL_UPSTREAM", "-I", str(include), "-Wl,--exclude-libs,ALL",
              "-Wl,-Bsymbolic"])
    dll = _isal_dll(lib)
    return dll, dll.isal_peer_version().decode()


def measure_bound() -> dict | None:
    """Run bench/fec_bound.c (3 times, best of each figure): instruction
    throughputs per ns, and the clock, of this CPU."""
    exe = ROOT / "build" / "bench" / "fec_bound"
    src = ROOT / "bench" / "fec_bound.c"
    try:
        if not exe.exists() or src.stat().st_mtime > exe.stat().st_mtime:
            subprocess.run(["cc", "-O2", str(src), "-o", str(exe)], check=True)
        runs = [json.loads(subprocess.run([str(exe)], check=True, capture_output=True,
                                          text=True).stdout) for _ in range(3)]
    except (OSError, subprocess.CalledProcessError, json.JSONDecodeError) as exc:
        print(f"compute bound: not measured ({exc})")
        return None
    return {key: max(r[key] for r in runs) for key in runs[0]}


def kernel_bounds(bound: dict, m: int) -> dict:
    """GB/s of data each kernel could reach at RS(k, m) if nothing but its
    arithmetic counted: every data byte is multiplied by m coefficients
    (decode of e = m lost sources: by e), and
      gfni:     one 512-bit VGF2P8AFFINEQB per 64 bytes per row (the XORs,
                one VPTERNLOGQ per two products, run on other ports);
      avx2gfni: one 256-bit VGF2P8AFFINEQB per 32 bytes per row;
      avx2:     two VPSHUFB per 32 bytes per row, bounded by the shuffle
                ports and by all 4m+3 vector ops per 32 bytes (2m shuffles,
                2m XORs, 3 for the nibble split) on the vector ALUs."""
    alu = bound["ternlog512_per_ns"]           # any-port vector op rate
    return {
        "gfni": 64 * bound["affine512_per_ns"] / m,
        "avx2gfni": 32 * bound["affine256_per_ns"] / m,
        "avx2": min(32 * bound["pshufb256_per_ns"] / (2 * m), 32 * alu / (4 * m + 3)),
    }


def ensure_peer(module: str, requirement: str) -> object | None:
    try:
        return importlib.import_module(module)
    except ImportError:
        pass
    print(f"installing {requirement} ...", file=sys.stderr)
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", requirement],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"cannot install {requirement}: {proc.stderr.strip()[-300:]}", file=sys.stderr)
        return None
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        print(f"{requirement} installed but cannot be imported: {exc}", file=sys.stderr)
        return None


def calibrate(run, target: float) -> int:
    """Passes per sample so that one sample takes about `target` seconds."""
    run(1)  # warm up
    iters = 1
    while True:
        t0 = time.perf_counter()
        run(iters)
        elapsed = time.perf_counter() - t0
        if elapsed >= target or iters >= 1 << 20:
            return iters
        iters = max(iters * 2, int(iters * target / max(elapsed, 1e-9) * 1.1))


def measure_interleaved(runs: dict, repeats: int, target: float) -> dict:
    """Seconds per pass of every run (median, min, max).  Samples are taken
    round-robin over all runs, so machine noise hits every codec alike."""
    iters = {name: calibrate(run, target) for name, run in runs.items()}
    samples: dict = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            run(1)   # untimed pass: caches hold this codec's buffers, not the previous one's
            t0 = time.perf_counter()
            run(iters[name])
            samples[name].append((time.perf_counter() - t0) / iters[name])
    return {name: {"median": statistics.median(v), "min": min(v), "max": max(v), "runs": v}
            for name, v in samples.items()}


def figures(seconds: dict, data_bytes: int, packets: int) -> dict:
    med = seconds["median"]
    return {
        "gbps": data_bytes / med / 1e9,
        "gbps_min": data_bytes / seconds["max"] / 1e9,
        "gbps_max": data_bytes / seconds["min"] / 1e9,
        "ns_per_pkt": med / packets * 1e9,
        "seconds_per_pass": seconds["runs"],   # one per round, rounds in order
    }


def loss_patterns(k: int, m: int, nblocks: int, fresh: bool, rng) -> np.ndarray:
    present = np.ones((nblocks, k + m), dtype=np.uint8)
    lose = min(m, k)
    fixed = rng.choice(k, lose, replace=False)
    for b in range(nblocks):
        present[b, rng.choice(k, lose, replace=False) if fresh else fixed] = 0
    return present


def ptr(a: np.ndarray) -> int:
    return a.ctypes.data


def bench_cell(dll, isal_peers, k, m, size, kernels, peers, repeats, target, rng,
               native_only=False) -> dict:
    from pydpdk import fec

    nblocks = max(2, min(256, (512 * 1024) // (k * size)))
    data = rng.integers(0, 256, (nblocks, k, size), dtype=np.uint8)
    data_bytes = nblocks * k * size
    packets = nblocks * k
    fresh = loss_patterns(k, m, nblocks, True, rng)
    repeated = loss_patterns(k, m, nblocks, False, rng)
    cell: dict = {"k": k, "m": m, "size": size, "blocks_per_call": nblocks, "results": {}}
    res = cell["results"]

    runs: dict = {}
    checks: dict = {}

    def record(name, run, check=None):
        runs[name] = run
        if check is not None:
            checks[name] = check

    # pydpdk native, every kernel
    for kern in kernels:
        kb = kern.encode()
        parity = np.zeros((nblocks, m, size), dtype=np.uint8)
        record(f"pydpdk/{kern}/encode",
               lambda n, kb=kb, parity=parity: dll.pd_fec_encode(
                   kb, k, m, size, nblocks, ptr(data), ptr(parity), n))
        dll.pd_fec_encode(kb, k, m, size, nblocks, ptr(data), ptr(parity), 1)
        symbols = np.concatenate([data, parity], axis=1)
        for label, present, cached in (("decode_fresh", fresh, 0), ("decode_repeat", repeated, 1)):
            sym = symbols.copy()
            sym[present == 0] = 0
            record(f"pydpdk/{kern}/{label}",
                   lambda n, kb=kb, sym=sym, present=present, cached=cached: dll.pd_fec_decode(
                       kb, k, m, size, nblocks, ptr(sym), ptr(present), n, cached),
                   lambda sym=sym: np.array_equal(sym[:, :k], data))

    if not native_only:
        # pydpdk through the Python batch API: one call per batch of blocks,
        # and (python-1) one call per block, as the peers below are called
        codec = fec.BlockCodec(k, m)
        parity = np.empty((nblocks, m, size), dtype=np.uint8)
        record("pydpdk/python/encode",
               lambda n: [codec.encode(data, out=parity) for _ in range(n)])
        record("pydpdk/python-1/encode",
               lambda n: [codec.encode(data[b], out=parity[b])
                          for _ in range(n) for b in range(nblocks)])
        codec.encode(data, out=parity)
        symbols = np.concatenate([data, parity], axis=1)
        for label, present, cached in (("decode_fresh", fresh, False),
                                       ("decode_repeat", repeated, True)):
            sym = symbols.copy()
            sym[present == 0] = 0
            record(f"pydpdk/python/{label}",
                   lambda n, sym=sym, present=present, cached=cached: [
                       codec.reconstruct(sym, present, use_cache=cached) for _ in range(n)],
                   lambda sym=sym: np.array_equal(sym[:, :k], data))
            record(f"pydpdk/python-1/{label}",
                   lambda n, sym=sym, present=present, cached=cached: [
                       codec.reconstruct(sym[b], present[b], use_cache=cached)
                       for _ in range(n) for b in range(nblocks)],
                   lambda sym=sym: np.array_equal(sym[:, :k], data))

    # ISA-L (Debian's and upstream's), same loops in C
    for label, idll in isal_peers.items():
        iparity = np.zeros((nblocks, m, size), dtype=np.uint8)
        variants = {"encode": 0}
        if "avx2" in kernels:   # ISA-L's AVX2 code beside pydpdk's AVX2 kernel
            variants["avx2/encode"] = 1
        if "avx2gfni" in kernels and label == "isal-upstream":
            variants["avx2gfni/encode"] = 2
        for op, variant in variants.items():
            scratch = np.zeros_like(iparity)
            record(f"{label}/{op}",
                   lambda n, idll=idll, scratch=scratch, variant=variant: idll.isal_encode(
                       k, m, size, nblocks, ptr(data), ptr(scratch), n, variant, None))
        idll.isal_encode(k, m, size, nblocks, ptr(data), ptr(iparity), 1, 0, None)
        isym = np.concatenate([data, iparity], axis=1)
        for op, present, cached in (("decode_fresh", fresh, 0), ("decode_repeat", repeated, 1)):
            out = np.zeros((nblocks, m, size), dtype=np.uint8)
            record(f"{label}/{op}",
                   lambda n, idll=idll, isym=isym, present=present, cached=cached, out=out:
                   idll.isal_decode(k, m, size, nblocks, ptr(isym), ptr(present), ptr(out),
                                    n, cached))
            lost0 = np.flatnonzero(present[0][:k] == 0)
            checks[f"{label}/{op}"] = (
                lambda idll=idll, isym=isym, present=present, cached=cached, out=out,
                lost0=lost0:
                idll.isal_decode(k, m, size, nblocks, ptr(isym), ptr(present), ptr(out), 1,
                                 cached) == 0
                and np.array_equal(out[0, : len(lost0)], data[0, lost0]))

    # pyeclib: one call per block on the concatenated data
    pyeclib = None if native_only else peers.get("pyeclib")
    if pyeclib is not None:
        try:
            drv = pyeclib.ECDriver(k=k, m=m, ec_type="isa_l_rs_cauchy")
            blobs = [data[b].tobytes() for b in range(nblocks)]
            frags = [drv.encode(b) for b in blobs]
            record("pyeclib/encode", lambda n: [drv.encode(b) for _ in range(n) for b in blobs])
            keep = [[f for i, f in enumerate(frags[b]) if fresh[b][i]] for b in range(nblocks)]
            record("pyeclib/decode_fresh",
                   lambda n: [drv.decode(kf) for _ in range(n) for kf in keep],
                   lambda: drv.decode(keep[0]) == blobs[0])
        except Exception as exc:  # a peer that fails is reported, not fatal
            cell.setdefault("errors", {})["pyeclib"] = repr(exc)

    zfec = None if native_only else peers.get("zfec")
    if zfec is not None:
        enc = zfec.Encoder(k, k + m)
        dec = zfec.Decoder(k, k + m)
        rows = [[data[b, i].tobytes() for i in range(k)] for b in range(nblocks)]
        want = list(range(k, k + m))
        record("zfec/encode", lambda n: [enc.encode(r, want) for _ in range(n) for r in rows])
        zpar = [enc.encode(r, want) for r in rows]
        shares, nums = [], []
        for b in range(nblocks):
            # zfec wants each received primary share at its own position
            spare = iter(i for i in range(k, k + m) if fresh[b][i])
            ids = [i if fresh[b][i] else next(spare) for i in range(k)]
            shares.append([rows[b][i] if i < k else zpar[b][i - k] for i in ids])
            nums.append(ids)
        record("zfec/decode_fresh",
               lambda n: [dec.decode(shares[b], nums[b]) for _ in range(n) for b in range(nblocks)],
               lambda: dec.decode(shares[0], nums[0]) == rows[0])

    for name, t in measure_interleaved(runs, repeats, target).items():
        res[name] = figures(t, data_bytes, packets)
    for name, check in checks.items():
        if not check():
            raise AssertionError(f"{name}: wrong result for k={k} m={m} size={size}")
    return cell


def bench_stream(dll, k, m, size, repeats, target, rng) -> dict:
    """The streaming codec (what a pipeline stage runs per packet): native
    loop and Python batch API, one loss per block on the decode side."""
    from pydpdk import fec

    # the same working set as the block benchmark (about 512 KiB of payload)
    npkts = max(8 * k, (512 * 1024 // size) // k * k)
    flat = rng.integers(0, 256, (npkts, size), dtype=np.uint8)
    payloads = [flat[i].tobytes() for i in range(npkts)]
    enc = fec.Encoder(k, m, max_payload=size)
    wire = enc.encode(payloads, now=0)
    received = [p for i, p in enumerate(wire) if i % (k + m) != 1]   # lose source 1
    blob = b"".join(received)
    lens = np.array([len(p) for p in received], dtype=np.uint32)
    offsets = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.uint32)
    blob_arr = np.frombuffer(blob, dtype=np.uint8)
    if dll.pd_stream_decode(ptr(blob_arr), ptr(offsets), ptr(lens), len(received), size, 1) \
            != npkts // k:
        raise AssertionError("native stream decode did not rebuild one packet per block")
    check = fec.Decoder(max_payload=size, timeout=None).decode(received, now=0)
    if sorted(check) != sorted(payloads):
        raise AssertionError("stream decode through Python is not exact")
    batch = 256
    chunks = [received[i:i + batch] for i in range(0, len(received), batch)]
    src_chunks = [payloads[i:i + batch] for i in range(0, npkts, batch)]

    def py_encode(n):
        for _ in range(n):
            e = fec.Encoder(k, m, max_payload=size)
            for c in src_chunks:
                e.encode(c, now=0)

    def py_decode(n):
        for _ in range(n):
            d = fec.Decoder(max_payload=size, timeout=None)
            for c in chunks:
                d.decode(c, now=0)

    runs = {
        "native/encode": lambda n: dll.pd_stream_encode(k, m, size, npkts, ptr(flat), n),
        "native/decode": lambda n: dll.pd_stream_decode(
            ptr(blob_arr), ptr(offsets), ptr(lens), len(received), size, n),
        "python/encode": py_encode,
        "python/decode": py_decode,
    }
    out = {"k": k, "m": m, "size": size, "packets": npkts, "python_batch": batch,
           "kernel": fec.default_kernel(), "results": {}}
    for name, t in measure_interleaved(runs, repeats, target).items():
        out["results"][name] = figures(t, npkts * size, npkts)
    return out


# How each codec is called; written to the JSON and printed under the table.
PEER_BATCHING = {
    "pydpdk native, ISA-L": "C loop over all blocks of a cell (no Python call inside)",
    "pydpdk/python": "one BlockCodec call per batch of all blocks of a cell",
    "pydpdk/python-1": "one BlockCodec call per block (the peers' granularity)",
    "pyeclib": "one ECDriver.encode/decode call per block: its API takes one stripe",
    "zfec": "one Encoder.encode/Decoder.decode call per block: its API takes one block",
}


def ratio(res: dict, a: str, b: str) -> float | None:
    """Speed of a over b: the median over rounds of the ratio within each
    round (a and b ran back to back), which load that changes between rounds
    disturbs less than a ratio of medians.  ratio_spread() gives its range."""
    if a in res and b in res:
        return statistics.median(tb / ta for ta, tb in zip(res[a]["seconds_per_pass"],
                                                           res[b]["seconds_per_pass"]))
    return None


def ratio_spread(res: dict, a: str, b: str) -> list[float] | None:
    """[min, 25th percentile, 75th percentile, max] of the per-round ratios."""
    if a in res and b in res:
        r = [tb / ta for ta, tb in zip(res[a]["seconds_per_pass"], res[b]["seconds_per_pass"])]
        q = statistics.quantiles(r, n=4) if len(r) >= 2 else [r[0]] * 3
        return [min(r), q[0], q[2], max(r)]
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="only k=10 m=4 and 1400-byte packets")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--target", type=float, default=0.02, help="seconds per sample")
    ap.add_argument("--part", choices=["all", "block", "stream"], default="all",
                    help="block codec grid, streaming codec, or both (default)")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "fec_codec.json")
    ap.add_argument("--isal-lib", type=Path, default=ROOT / "bench" / "peers" / "isa-l",
                    help="upstream ISA-L built by bench/build_isal.sh (its output directory "
                         "or lib/libisal_pic.a); default bench/peers/isa-l")
    ap.add_argument("--native-only", action="store_true",
                    help="only the C loops (pydpdk kernels and ISA-L), no Python-level codecs")
    args = ap.parse_args()

    from pydpdk import fec

    dll = build_native_helper()
    kernels = fec.available_kernels()
    isal_peers: dict = {}
    isal_versions: dict = {}
    for label, (idll, note) in (("isal-upstream", build_isal_upstream(args.isal_lib)),
                                ("isal-debian", build_isal_debian())):
        isal_versions[label] = note if idll is not None else None
        if idll is None:
            print(f"peer {label}: SKIPPED: {note}")
        else:
            isal_peers[label] = idll
            print(f"peer {label}: ISA-L {note}")
    peers: dict = {"pyeclib": None, "zfec": None}
    if not args.native_only:
        peers["pyeclib"] = ensure_peer("pyeclib.ec_iface", "pyeclib")
        peers["zfec"] = ensure_peer("zfec", "zfec")
        for name, value in peers.items():
            if value is None:
                print(f"peer {name}: NOT AVAILABLE (could not be installed or imported)")

    bound = measure_bound()
    if bound is not None:
        print("CPU throughput (best of 3 x 41 tries): "
              + ", ".join(f"{k} {v:.2f}" for k, v in bound.items()))

    shapes = [(10, 4)] if args.quick else SHAPES
    sizes = [1400] if args.quick else SIZES
    rng = np.random.default_rng(12345)
    cells = []
    if args.part == "stream":
        shapes = []
    for k, m in shapes:
        for size in sizes:
            cell = bench_cell(dll, isal_peers, k, m, size, kernels, peers, args.repeats,
                              args.target, rng, args.native_only)
            cells.append(cell)
            print_cell(cell, kernels)

    streams = []
    print("\nstreaming codec (Encoder/Decoder), RS, one loss per block on decode, "
          f"kernel {fec.default_kernel()}; GB/s of payload, ns per source packet:")
    stream_shapes = [(10, 4, 1400)] if args.quick else [(10, 4, 64), (10, 4, 1400),
                                                       (20, 5, 1400), (10, 4, 9000)]
    if args.part == "block" or args.native_only:
        stream_shapes = []
    for k, m, size in stream_shapes:
        st = bench_stream(dll, k, m, size, args.repeats, args.target, rng)
        streams.append(st)
        parts = [f"{name} {f['gbps']:.2f} GB/s {f['ns_per_pkt']:.0f} ns"
                 for name, f in st["results"].items()]
        print(f"  k={k} m={m} {size:5d} B: " + " | ".join(parts))

    target = next((c for c in cells if (c["k"], c["m"], c["size"]) == (10, 4, 1400)), None)
    summary = {}
    if target is not None:
        r = target["results"]
        best = fec.default_kernel()
        summary = {"kernel": best}
        for peer in ("isal-upstream", "isal-debian"):
            if peer not in isal_peers:
                continue
            for op in ("encode", "decode_fresh", "decode_repeat"):
                summary[f"{op}_vs_{peer}"] = {
                    kern: ratio(r, f"pydpdk/{kern}/{op}", f"{peer}/{op}") for kern in kernels}
            summary[f"avx2_encode_vs_{peer}_avx2"] = ratio(
                r, "pydpdk/avx2/encode", f"{peer}/avx2/encode")
        summary["avx2gfni_encode_vs_isal-upstream_avx2gfni"] = ratio(
            r, "pydpdk/avx2gfni/encode", "isal-upstream/avx2gfni/encode")
        summary.update({
            "python_vs_native_encode": ratio(r, "pydpdk/python/encode", f"pydpdk/{best}/encode"),
            "python_vs_native_decode_fresh": ratio(r, "pydpdk/python/decode_fresh",
                                                   f"pydpdk/{best}/decode_fresh"),
            "python_vs_pyeclib_encode": ratio(r, "pydpdk/python/encode", "pyeclib/encode"),
            "python_vs_pyeclib_decode": ratio(r, "pydpdk/python/decode_fresh",
                                              "pyeclib/decode_fresh"),
            "python_vs_zfec_encode": ratio(r, "pydpdk/python/encode", "zfec/encode"),
            "python_vs_zfec_decode": ratio(r, "pydpdk/python/decode_fresh", "zfec/decode_fresh"),
            # the same granularity as the peers: one Python call per block
            "python1_vs_pyeclib_encode": ratio(r, "pydpdk/python-1/encode", "pyeclib/encode"),
            "python1_vs_pyeclib_decode": ratio(r, "pydpdk/python-1/decode_fresh",
                                               "pyeclib/decode_fresh"),
            "python1_vs_zfec_encode": ratio(r, "pydpdk/python-1/encode", "zfec/encode"),
            "python1_vs_zfec_decode": ratio(r, "pydpdk/python-1/decode_fresh",
                                            "zfec/decode_fresh"),
        })
        if bound is not None:
            kb = kernel_bounds(bound, 4)
            summary["compute_bound_gbps"] = kb
            summary["fraction_of_bound"] = {
                f"{kern}/{op}": r[f"pydpdk/{kern}/{op}"]["gbps"] / kb[kern]
                for kern in kb for op in ("encode", "decode_repeat")
                if f"pydpdk/{kern}/{op}" in r}
        targets = [
            ("gfni encode / ISA-L upstream", "pydpdk/gfni/encode", "isal-upstream/encode"),
            ("gfni decode repeat / ISA-L upstream", "pydpdk/gfni/decode_repeat",
             "isal-upstream/decode_repeat"),
            ("gfni decode fresh / ISA-L upstream", "pydpdk/gfni/decode_fresh",
             "isal-upstream/decode_fresh"),
            ("avx2 encode / ISA-L upstream avx2", "pydpdk/avx2/encode",
             "isal-upstream/avx2/encode"),
            ("avx2 encode / ISA-L Debian avx2", "pydpdk/avx2/encode", "isal-debian/avx2/encode"),
            ("avx2gfni encode / ISA-L upstream avx2gfni", "pydpdk/avx2gfni/encode",
             "isal-upstream/avx2gfni/encode"),
            ("gfni encode / ISA-L Debian", "pydpdk/gfni/encode", "isal-debian/encode"),
            ("gfni decode repeat / ISA-L Debian", "pydpdk/gfni/decode_repeat",
             "isal-debian/decode_repeat"),
            ("gfni decode fresh / ISA-L Debian", "pydpdk/gfni/decode_fresh",
             "isal-debian/decode_fresh"),
        ]
        summary["targets"] = {}
        print("\nk=10 m=4 1400 B targets (median of the per-round ratios, their quartiles "
              "and range):")
        for name, a, b in targets:
            value, spread = ratio(r, a, b), ratio_spread(r, a, b)
            if value is None or spread is None:
                print(f"  {name:44s} not measured")
                continue
            summary["targets"][name] = {"ratio": value, "min": spread[0], "p25": spread[1],
                                        "p75": spread[2], "max": spread[3]}
            print(f"  {name:44s} {value:.2f}x  quartiles {spread[1]:.2f}-{spread[2]:.2f}"
                  f"  range {spread[0]:.2f}-{spread[3]:.2f}")
        print("\nk=10 m=4 1400 B ratios (GB/s of this / GB/s of that, medians):")
        for key, value in summary.items():
            if key in ("compute_bound_gbps", "fraction_of_bound", "targets"):
                continue
            if isinstance(value, dict):
                text = ", ".join(f"{kk} {v:.2f}x" for kk, v in value.items() if v is not None)
                print(f"  {key:32s} {text}")
            elif isinstance(value, float):
                print(f"  {key:32s} {value:.2f}x")
        if "compute_bound_gbps" in summary:
            print("  compute bound GB/s (RS 10+4): " + ", ".join(
                f"{k} {v:.0f}" for k, v in summary["compute_bound_gbps"].items()))
            print("  fraction of that bound reached: " + ", ".join(
                f"{k} {v:.0%}" for k, v in summary["fraction_of_bound"].items()))
    result = {
        "benchmark": "fec_codec",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"cpu": cpu_name(), "cores_used": 1, "python": platform.python_version()},
        "kernels": kernels,
        "peers": {**{name: (getattr(mod, "__version__", "yes") if mod else None)
                     for name, mod in peers.items()}, **isal_versions},
        "peer_batching": PEER_BATCHING,
        "cpu_bound": bound,
        "cells": cells,
        "stream": streams,
        "summary_k10_m4_1400": summary,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(f"\nJSON written to {args.json}")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def print_cell(cell: dict, kernels: list[str]) -> None:
    res = cell["results"]
    print(f"\nk={cell['k']} m={cell['m']} size={cell['size']} B "
          f"({cell['blocks_per_call']} blocks per call)")
    print(f"  {'codec':22s} {'encode GB/s':>18s} {'ns/pkt':>8s} {'dec fresh GB/s':>18s} "
          f"{'ns/pkt':>8s} {'dec repeat GB/s':>18s}")
    names = [f"pydpdk/{k}" for k in kernels] + [
        "pydpdk/python", "pydpdk/python-1", "isal-upstream", "isal-upstream/avx2",
        "isal-upstream/avx2gfni", "isal-debian", "isal-debian/avx2", "pyeclib", "zfec"]
    for name in names:
        cols = []
        for op in ("encode", "decode_fresh", "decode_repeat"):
            f = res.get(f"{name}/{op}")
            if f is None:
                cols.append(f"{'-':>18s}" + ("" if op == "decode_repeat" else f" {'-':>8s}"))
                continue
            spread = f"{f['gbps']:6.2f} [{f['gbps_min']:.1f}-{f['gbps_max']:.1f}]"
            cols.append(f"{spread:>18s}" + ("" if op == "decode_repeat"
                                            else f" {f['ns_per_pkt']:8.1f}"))
        print(f"  {name:22s} " + " ".join(cols))
    for peer, err in cell.get("errors", {}).items():
        print(f"  {peer}: failed: {err}")


if __name__ == "__main__":
    main()
