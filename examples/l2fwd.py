#!/usr/bin/env python3
"""l2fwd in Python: forward between port pairs, rewriting MACs like DPDK's l2fwd.

    python examples/l2fwd.py                               # two net_null vdevs, 3 s
    python examples/l2fwd.py --vdev=net_null0 --vdev=net_null1 -- --mode native
    python examples/l2fwd.py --vdev=net_ring0 -- --ports net_ring0 --seconds 1

EAL arguments come before ``--``, the example's own after it.  ``--mode``:

    python   (default) a Python loop: rx_burst, rewrite every packet's Ethernet
             header with one numpy operation per burst (dst 02:00:00:00:00:<port>,
             src = the tx port's MAC), tx_burst, free what tx refused
    native   pydpdk.dpdk.forward: the GIL-free C loop (no MAC rewrite)

Ctrl-C stops either mode and prints the counters.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from pydpdk import dpdk
from pydpdk.cli_args import finite, harden, run_command


def parse(argv: list[str]) -> tuple[list[str], argparse.Namespace]:
    if "--" in argv:
        cut = argv.index("--")
        eal_args, own = argv[:cut], argv[cut + 1:]
    else:
        eal_args, own = [a for a in argv if a.startswith("--vdev")], [
            a for a in argv if not a.startswith("--vdev")]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=["python", "native"], default="python")
    ap.add_argument("--ports", nargs="+", help="device names (default: every port)")
    ap.add_argument("--seconds", type=finite(0, 86400, lo_open=True, unit="(seconds)"),
                    default=3.0, help="how long to forward")
    ap.add_argument("--burst", type=int, default=32, help="packets per burst (1..256)")
    args = harden(ap).parse_args(own)
    if not any(a.startswith("--vdev") for a in eal_args) and not args.ports:
        eal_args += ["--vdev=net_null0", "--vdev=net_null1"]
    return eal_args, args


def mac_bytes(mac: str) -> np.ndarray:
    return np.frombuffer(bytes.fromhex(mac.replace(":", "")), dtype=np.uint8)


def python_loop(pairs: list[tuple[dpdk.Port, dpdk.Port]], burst: int, seconds: float,
                ) -> dict[str, int]:
    # Per tx port: destination MAC 02:00:00:00:00:<port id>, source = its MAC.
    rewrite = {id(tx): (mac_bytes(f"02:00:00:00:00:{tx.port_id:02x}"), mac_bytes(tx.mac))
               for _, tx in pairs}
    counters = {"rx": 0, "tx": 0, "dropped": 0}
    deadline = time.perf_counter() + seconds
    try:
        while time.perf_counter() < deadline:
            for rx, tx in pairs:
                packets = rx.rx_burst(0, burst)
                if not packets:
                    continue
                counters["rx"] += len(packets)
                dst, src = rewrite[id(tx)]
                with packets.headers(12) as eth:
                    eth[:, 0:6] = dst
                    eth[:, 6:12] = src
                counters["tx"] += tx.tx_burst(packets)
                counters["dropped"] += len(packets)
                packets.free()  # what the tx ring refused, as l2fwd does
    except KeyboardInterrupt:
        pass
    return counters


def main(argv: list[str]) -> int:
    eal_args, args = parse(argv)
    with dpdk.Eal(eal_args) as eal:
        names = args.ports or list(eal.ports().values())
        if not names:
            print("no ports: add some with --vdev=net_null0 ...", file=sys.stderr)
            return 1
        with dpdk.Mempool(8191) as pool:
            ports = [dpdk.Port(name, pool) for name in names]
            try:
                for port in ports:
                    port.start()
                # l2fwd pairs ports 0<->1, 2<->3, ...; an odd one out loops back.
                pairs = []
                for i in range(0, len(ports), 2):
                    a = ports[i]
                    b = ports[i + 1] if i + 1 < len(ports) else a
                    pairs.append((a, b))
                    if b is not a:
                        pairs.append((b, a))
                start = time.perf_counter()
                if args.mode == "native":
                    a, b = pairs[0]
                    stats = dpdk.forward(a, b, burst=args.burst, duration=args.seconds)
                    counters = {"rx": stats.rx_packets, "tx": stats.tx_packets,
                                "dropped": stats.dropped}
                else:
                    counters = python_loop(pairs, args.burst, args.seconds)
                elapsed = time.perf_counter() - start
            finally:
                for port in ports:
                    port.close()
    print(f"{args.mode}: rx {counters['rx']}, tx {counters['tx']}, dropped "
          f"{counters['dropped']} in {elapsed:.2f} s = {counters['tx'] / elapsed / 1e6:.2f} Mpps")
    return 0


if __name__ == "__main__":
    sys.exit(run_command("l2fwd.py", lambda: main(sys.argv[1:])))
