"""The pydpdk command.

``pydpdk demo``            traffic -> FEC encoder -> lossy link -> FEC decoder -> verifier,
                           on built-in virtual devices; ends with a summary
``pydpdk fec encode|decode|tunnel [EAL args] -- [options]``
                           FEC gateways between real ports
``pydpdk pcap-forward``    a generated pcap through DPDK's ``net_pcap`` vdev
``pydpdk info``            what this installation was built with and what it sees
``pydpdk keygen [FILE]``     a key file for the secure mode (mode 0600); --rotate adds a key
"""

from __future__ import annotations

import os
import signal
import sys


def _record_early(signum: int, frame: object) -> None:
    _early_signals.append(signum)


# As the command, record SIGINT/SIGTERM from the first line on: main() acts
# on them once it can stop cleanly (no KeyboardInterrupt traceback from an
# import).  Merely importing this module changes nothing.
_early_signals: list[int] = []
_AS_COMMAND = os.path.basename(sys.argv[0] if sys.argv else "") in ("pydpdk", "cli.py")
if _AS_COMMAND:
    for _signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(_signum, _record_early)

# numpy's OpenBLAS starts worker threads that spin and steal the polling
# core; this command never needs them (set before numpy is first imported).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import atexit
import contextlib
import json
import shlex
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from . import __version__, _signals
from ._build_info import BUILD_INFO
from .cli_args import (
    configure_logging,
    harden,
    overwritten_input,
    progress_wanted,
    remove_dpdk_runtime_dir,
    same_port,
)
from .errors import EalHelpRequested, PortError, PydpdkError
from .frames import make_frames, read_pcap, write_pcap  # checksummed; strict reader


def _pcap_forward(args: argparse.Namespace) -> int:
    from . import dpdk

    if not dpdk.AVAILABLE:
        print("pydpdk pcap-forward needs DPDK, and this build has none.", file=sys.stderr)
        print("Install dpdk, dpdk-dev and libdpdk-dev, then rebuild (make build).", file=sys.stderr)
        return 2
    workdir = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="pydpdk-demo-"))
    if not args.dir:  # nothing left in /tmp unless --dir asks for the files
        atexit.register(shutil.rmtree, workdir, True)
    workdir.mkdir(parents=True, exist_ok=True)
    src, dst = workdir / "in.pcap", workdir / "out.pcap"
    frames = make_frames(args.packets, args.size)
    write_pcap(src, frames)
    print(f"generated {len(frames)} UDP frames of {args.size} bytes -> {src}")

    with dpdk.Eal(shlex.split(args.eal)) as eal:
        print(f"EAL up in {eal.init_seconds:.2f} s ({eal.version}, no hugepages, "
              f"{len(eal.lcores())} lcore)")
        with dpdk.Mempool(8191) as pool:
            name = eal.add_vdev(f"net_pcap_demo0,rx_pcap={src},tx_pcap={dst}")
            with dpdk.Port(name, pool) as port:
                port.start()
                stats = dpdk.forward(port, burst=args.burst, max_packets=len(frames),
                                     duration=args.timeout)
                port_stats = port.stats()
            eal.remove_vdev(name)
            leaked = pool.in_use

    out = read_pcap(dst)
    identical = out == frames
    report: dict[str, Any] = {
        "input": str(src),
        "output": str(dst),
        "packets_in": len(frames),
        "packets_forwarded": stats.tx_packets,
        "packets_out": len(out),
        "bytes_out": sum(len(f) for f in out),
        "dropped": stats.dropped,
        "identical": identical,
        "seconds": round(stats.seconds, 6),
        "mpps": round(stats.mpps, 3),
        "port_ipackets": port_stats["ipackets"],
        "port_opackets": port_stats["opackets"],
        "mbufs_leaked": leaked,
        "stopped_by": stats.stopped_by,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"forwarded {stats.tx_packets}/{len(frames)} packets through net_pcap in "
              f"{stats.seconds * 1e3:.1f} ms ({stats.mpps:.2f} Mpps, native loop, "
              f"burst {args.burst}); dropped {stats.dropped}")
        print(f"wrote {len(out)} packets, {report['bytes_out']} bytes -> {dst}")
        print("output identical to input: " + ("yes" if identical else "NO"))
        print(f"mbufs still in use after teardown: {leaked}")
    return 0 if identical and not leaked else 1



# --------------------------------------------------------------------------
# pydpdk demo
# --------------------------------------------------------------------------

def _pct(x: float) -> str:
    return f"{x * 100:.4f}%" if x < 0.001 else f"{x * 100:.2f}%"


def _progress_line(s: dict[str, Any]) -> str:
    offered = max(s["offered"], 1)
    line = (f"  t={s['elapsed_s']:5.1f}s  offered {s['offered']:>10,}  "
            f"lost on link {s['lost_on_link']:>8,}  recovered {s['recovered']:>8,}  "
            f"residual {_pct((s['offered'] - s['delivered']) / offered):>8}  "
            f"{s['rate_mpps']:.2f} Mpps")
    if "adaptive" in s:
        line += "\n" + _adaptive_line(s["adaptive"])
    return line


def _adaptive_line(a: dict[str, Any]) -> str:
    """The adaptive controller's choice and why, for live progress."""
    st, rep = a["setting"], a.get("report")
    seen = f"measured loss {_pct(rep['loss_rate'])}" if rep else "no report yet"
    return (f"    adaptive: {st['code'].upper()}({st['k']},{st['m']}) depth {st['depth']} "
            f"overhead {st['overhead']:.0%}  {seen}  ({st['reason'] or 'initial'})")


def _print_demo_summary(s: dict[str, Any]) -> None:
    c = s["config"]
    model = (f"random {c['loss']:.1%}" + (
        f" + Gilbert-Elliott bursts (p={c['burst_p']}, r={c['burst_r']}, "
        f"loss in bad state {c['burst_loss']:.0%})" if c["burst_p"] else ""))
    print()
    print(f"pydpdk demo summary ({s['backend']} backend"
          + (", interrupted" if s["interrupted"] else "") + ")")
    spread = (f"window {c.get('window') or c['k']}" if c["code"] == "rlc"
              else f"interleaving depth {c['depth']}")
    print(f"  code                 {c['code'].upper()} k={c['k']} m={c['m']}, {spread}, "
          f"block deadline {c['deadline'] * 1e3:g} ms")
    print(f"  link loss model      {model}")
    print(f"  packets offered      {s['offered']:,} ({s['offered_bytes'] / 1e6:,.1f} MB, "
          f"frames of {', '.join(map(str, c['sizes']))} bytes)")
    print(f"  lost on the link     {s['lost_on_link']:,} of {s['wire_packets']:,} wire packets "
          f"({_pct(s['link_loss'])}; predicted {_pct(s['predicted_link_loss'])})")
    print(f"  recovered by FEC     {s['recovered']:,}")
    print(f"  delivered intact     {s['delivered']:,} (corrupted {s['corrupted']}, "
          f"duplicates {s['duplicates']})")
    print(f"  residual loss        {_pct(s['residual_loss'])} "
          f"(predicted{' for RS k+m' if c['code'] == 'rlc' else ''} "
          f"{_pct(s['predicted_residual_loss'])}; without FEC "
          f"{_pct(s['link_loss'])})")
    print(f"  throughput           {s['rate_mpps']:.2f} Mpps, {s['throughput_gbps']:.2f} Gbit/s "
          f"of payload on one core ({s['elapsed_s']:.1f} s)")
    print(f"  overhead             {s['overhead_packets']:.1%} packets, {s['overhead_bytes']:.1%} "
          f"bytes (parity + headers)")
    print(f"  latency through it   mean {s['latency_mean_us']:.1f} us, max "
          f"{s['latency_max_us']:.0f} us")
    print(f"  buffers leaked       {s['buffers_leaked']}")


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"frame sizes are integers like 64,512,1400: {text!r}") from None
    if not sizes:
        raise argparse.ArgumentTypeError("give at least one frame size")
    return sizes


def _probability(text: str) -> float:
    value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a probability within [0, 1] (or 0%..100%): {text!r}")
    return value


def _demo(args: argparse.Namespace) -> int:
    from .backend import select as select_backend
    from .demo import DemoConfig, parse_loss_schedule, run_demo, sweep_link_loss

    usage = args._parser.error         # bad values and combinations: exit 2, nothing runs
    try:
        schedule = parse_loss_schedule(args.loss_schedule) if args.loss_schedule else ()
    except ValueError as exc:
        usage(f"--loss-schedule: {exc}")
    cfg = DemoConfig(backend=args.backend, code=args.code, k=args.k, m=args.m, depth=args.depth,
                     window=args.window,
                     deadline=args.deadline_ms / 1e3, loss=args.loss,
                     burst_p=None if args.no_bursts else args.burst_p, burst_r=args.burst_r,
                     burst_loss=args.burst_loss, sizes=args.sizes, rate_pps=args.rate,
                     duration=args.duration, seed=args.seed, eal_args=shlex.split(args.eal),
                     adaptive=args.adaptive, target_loss=args.target_loss,
                     max_delay_ms=args.max_delay_ms, loss_schedule=schedule)
    try:
        cfg.validate()
    except ValueError as exc:
        usage(str(exc))
    if args.plot:
        _require_matplotlib()
        from matplotlib.figure import Figure

        fmt = Path(args.plot).suffix.lstrip(".").lower()
        if fmt not in Figure().canvas.get_supported_filetypes():
            usage(f"--plot {args.plot!r}: matplotlib writes no {fmt or 'unnamed'!r} format "
                  "(use .png, .svg or .pdf)")
    if not args.json:
        print(f"pydpdk demo: generator -> FEC encode ({cfg.code.upper()} k={cfg.k} m={cfg.m}) "
              f"-> lossy link -> FEC decode -> verifier, for {cfg.duration:g} s")

    def progress(snap: dict[str, Any]) -> None:
        if progress_wanted(args):
            print(_progress_line(snap), file=sys.stderr, flush=True)

    with contextlib.ExitStack() as stack:
        if select_backend(cfg.backend) == "dpdk":
            # one EAL for every run of this command: DPDK cannot start it twice
            from . import dpdk

            stack.enter_context(dpdk.Eal(cfg.eal_args))
        summary = run_demo(cfg, on_progress=progress)
        if args.plot and cfg.adaptive:
            _plot_adaptive(summary["adaptive"], args.plot)
            summary["plot"] = {"file": args.plot}
        elif args.plot:
            losses = [0.005, 0.01, 0.02, 0.04, 0.07, 0.1, 0.15, 0.2]
            points = sweep_link_loss(cfg, losses, seconds_each=max(0.5, cfg.duration / 10))
            _plot(points, cfg, args.plot)
            summary["plot"] = {"file": args.plot, "points": points}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_demo_summary(summary)
        if "adaptive" in summary:
            print(f"  adaptive             target {summary['adaptive']['target_loss']:g} "
                  f"within {summary['adaptive']['max_delay_ms']:g} ms, "
                  f"{summary['adaptive']['changes']} change(s)")
            print(_adaptive_line(summary["adaptive"]))
        if args.plot:
            print(f"  plot                 {args.plot}")
    if summary["buffers_leaked"]:
        print(f"pydpdk demo: {summary['buffers_leaked']} buffer(s) still in use after the "
              "run (leaked)", file=sys.stderr)
    if summary["corrupted"]:
        print(f"pydpdk demo: {summary['corrupted']} corrupted frame(s) delivered",
              file=sys.stderr)
    ok = summary["corrupted"] == 0 and summary["buffers_leaked"] == 0
    return 0 if ok else 1


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PydpdkError("--plot needs matplotlib: pip install 'pydpdk[plot]' "
                          "(or pip install matplotlib)") from None


def _plot_adaptive(adaptive: dict[str, Any], path: str) -> None:
    """Link loss, chosen overhead and residual loss over time (demo --adaptive)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tl = adaptive["timeline"]
    t = [p["t_s"] for p in tl]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    ax1.plot(t, [p["scheduled_loss"] for p in tl], "--", color="grey", label="link loss (set)")
    ax1.plot(t, [p["link_loss"] for p in tl], "-", label="link loss (measured, 1 s window)")
    ax1.plot(t, [p["overhead"] for p in tl], "-", label="overhead chosen (m/k)")
    ax1.set_ylabel("fraction")
    ax1.legend()
    ax1.grid(True, alpha=0.3)
    lost = [p for p in tl if p["residual_loss"] > 0]
    none = [p for p in tl if p["residual_loss"] == 0 and p["offered"] > 0]
    ax2.semilogy([p["t_s"] for p in lost], [p["residual_loss"] for p in lost], ".",
                 label="residual loss per 100 ms")
    ax2.semilogy([p["t_s"] for p in none], [1.0 / p["offered"] for p in none], "v",
                 color="C2", fillstyle="none", label="none lost (below 1/packets)")
    ax2.axhline(adaptive["target_loss"], color="C3", linestyle=":", label="target")
    ax2.set_xlabel("time (s)")
    ax2.set_ylabel("residual loss")
    ax2.legend()
    ax2.grid(True, which="both", alpha=0.3)
    fig.suptitle("pydpdk demo --adaptive")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot(points: list[dict[str, float]], cfg: Any, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .analysis import residual_loss_random

    seen = [p for p in points if p["residual_loss"] > 0]
    none_lost = [p for p in points if p["residual_loss"] == 0]
    grid = [x / 1000 for x in range(1, 251)]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.loglog(grid, grid, ":", color="grey", label="no FEC")
    ax.loglog(grid, [residual_loss_random(x, cfg.k, cfg.m) for x in grid], "-",
              label=f"predicted, {cfg.code.upper()}({cfg.k},{cfg.m}) binomial")
    ax.loglog([p["link_loss"] for p in seen], [p["residual_loss"] for p in seen], "o",
              label="measured (pydpdk demo)")
    if none_lost:   # nothing lost: the residual is below one packet in what was sent
        ax.loglog([p["link_loss"] for p in none_lost],
                  [1.0 / max(p["offered"], 1) for p in none_lost], "v", color="C1",
                  fillstyle="none", label="measured: none lost (below 1/packets sent)")
    ax.set_xlabel("link loss")
    ax.set_ylabel("residual loss after FEC")
    ax.set_title("Residual loss against random link loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------
# pydpdk fec encode|decode|tunnel [EAL args] -- [options]
# --------------------------------------------------------------------------

def _fec_parser(mode: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"pydpdk fec {mode}",
        usage=f"pydpdk fec {mode} [EAL arguments] -- [options]",
        description={
            "encode": "Protect frames from --in with FEC and send them to --out.",
            "decode": "Decode protected frames from --in, rebuild lost ones, send to --out.",
            "tunnel": "Two-way gateway: --local frames are encoded towards --peer, frames "
                      "from --peer are decoded towards --local.",
        }[mode],
        epilog="Ports: a DPDK port id or device name, DPDK devargs "
               "(net_pcap0,rx_pcap=a.pcap), afpacket:IFNAME, pcap:rx=FILE,tx=FILE or "
               "udp:HOST:PORT (the peer gateway over the kernel's UDP stack; "
               "[V6ADDR]:PORT for IPv6).",
    )
    if mode == "tunnel":
        p.add_argument("--local", required=True, help="port facing the local site")
        p.add_argument("--peer", required=True, help="port facing the peer gateway")
    else:
        p.add_argument("--in", dest="inp", required=True, help="port to receive from")
        p.add_argument("--out", required=True, help="port to send to")
    p.add_argument("--backend", choices=["dpdk", "native", "auto"], default=None)
    p.add_argument("--code", choices=["rs", "xor", "rlc"], default="rs",
                   help="rlc: sliding-window code, k sources between m repairs (no --depth)")
    p.add_argument("--window", type=int, default=None,
                   help="rlc: sources each repair covers, k..255 (default k)")
    p.add_argument("-k", type=int, default=10, help="source packets per block")
    p.add_argument("-m", type=int, default=4, help="parity packets per block")
    p.add_argument("--depth", type=int, default=1, help="interleaving depth")
    p.add_argument("--deadline-ms", type=float, default=5.0,
                   help="close a partial block after this long (0: never)")
    p.add_argument("--decoder-timeout-ms", type=float, default=50.0)
    p.add_argument("--max-payload", type=int, default=1518, help="largest frame protected")
    p.add_argument("--bind", help="local ADDR:PORT of a udp: port (default: any address, "
                   "the peer's port)")
    p.add_argument("--wan-mtu", type=int, default=None,
                   help="IP MTU of the WAN side (default: the WAN port's MTU); LAN frames "
                        "that do not fit after the encapsulation are handled by policy")
    p.add_argument("--no-mss-clamp", action="store_true",
                   help="leave the MSS of TCP SYNs alone")
    p.add_argument("--no-icmp", action="store_true",
                   help="drop oversize DF/IPv6 packets without ICMP too big (counted)")
    p.add_argument("--no-fragment", action="store_true",
                   help="drop oversize IPv4 packets without DF instead of fragmenting")
    p.add_argument("--icmp-source", action="append", default=[], metavar="ADDR",
                   help="source address of ICMP too big (IPv4 and/or IPv6; default: the "
                        "original destination)")
    p.add_argument("--key-file", metavar="FILE",
                   help="secure mode: authenticate and encrypt every WAN packet with the "
                        "keys of FILE (made by 'pydpdk keygen'; both sides use the same "
                        "file); rereads FILE when it changes (key rotation)")
    p.add_argument("--aead", choices=["aes-256-gcm", "chacha20-poly1305"],
                   default="aes-256-gcm", help="secure mode's AEAD (default: %(default)s)")
    p.add_argument("--rekey-grace", type=float, default=5.0, metavar="S",
                   help="secure mode: after the key file changes, keep sealing with the "
                        "old key this long, so the peer rereads its copy first "
                        "(default: %(default)s s)")
    p.add_argument("--state-file", metavar="FILE",
                   help="secure mode: where the newest accepted session epochs are kept "
                        "(default: beside the key file, named after the peer)")
    p.add_argument("--encap", choices=["udp", "ether"], default="udp")
    # Left out: the stages' defaults; with --encap udp on a raw port, a --dst-ip
    # without --dst-mac resolves the next hop's MAC (and --src-ip/--src-mac
    # default to the interface's).
    for opt in ("--src-mac", "--dst-mac", "--src-ip", "--dst-ip"):
        p.add_argument(opt, default=None)
    p.add_argument("--next-hop", help="--encap udp on a DPDK port: the gateway towards "
                   "--dst-ip to ARP (IPv4) or NDP (IPv6) for (default: the peer is on the link)")
    p.add_argument("--src-port", type=int, default=4790)
    p.add_argument("--dst-port", type=int, default=4790)
    p.add_argument("--ethertype", type=lambda x: int(x, 0), default=0x88B5)
    p.add_argument("--burst", type=int, default=32)
    p.add_argument("--queues", type=int, default=1, metavar="N",
                   help="N encoder/decoder instances, one per port queue and thread "
                        "(RSS, PACKET_FANOUT, SO_REUSEPORT keep each flow on one; see "
                        "docs/gateway.md)")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--packets", type=int, help="stop after this many received packets")
    p.add_argument("--busy-poll", action="store_true", help="never sleep when idle")
    p.add_argument("--idle-sleep-us", type=int, default=50,
                   help="sleep this long when idle (default 50 us)")
    p.add_argument("--stats-interval", type=float, default=1.0)
    p.add_argument("--json", action="store_true", help="print the final counters as JSON")
    if mode == "tunnel":
        p.add_argument("--adaptive", action="store_true",
                       help="adaptive redundancy: each side measures the link it receives "
                       "and reports it to the peer, whose encoder chooses k, m and depth "
                       "for --target-loss (-k/-m/--depth: the start)")
        p.add_argument("--target-loss", type=_probability, default=1e-4,
                       help="--adaptive: residual loss to stay under (default 1e-4)")
        p.add_argument("--max-delay-ms", type=float, default=100.0,
                       help="--adaptive: latency budget of a block (default 100 ms)")
    return harden(p, progress=True)


def _udp_line(c: dict[str, Any]) -> str:
    """One line on a UDP peer port: state, address, what it dropped."""
    return (f"peer {c['peer_state']} {c['peer']} (dead {c['dead_events']}x, moved "
            f"{c['peer_changes']}x) keepalives {c['keepalives_tx']:,}/{c['keepalives_rx']:,} "
            f"unknown-source {c['rx_unknown_source']:,} malformed {c['rx_malformed']:,} "
            f"kernel-drops {c['kernel_drops']:,} tx-errors {c['oerrors']:,}")


def _print_queues(queues: list[dict[str, dict[str, int]]]) -> None:
    """One line per queue of a multi-queue gateway: what its fec stages took in."""
    for q, stages in enumerate(queues):
        parts = [f"{name.split('.')[-1]} {c.get('packets_in', 0):,}"
                 for name, c in stages.items() if name.endswith(("fec-encode", "fec-decode"))]
        print(f"  queue {q}: " + ", ".join(parts))


def _fec(argv: list[str]) -> int:
    from .gateway import MODES, GatewayConfig, run_gateway

    usage = ("usage: pydpdk fec {encode,decode,tunnel} [EAL arguments] -- [options]\n"
             "       pydpdk fec MODE --help")
    if argv and argv[0] in ("-h", "--help"):
        print(usage)
        return 0
    if not argv or argv[0] not in MODES:
        print(usage, file=sys.stderr)
        if argv:
            print(f"pydpdk fec: unknown mode {argv[0]!r}", file=sys.stderr)
        return 2
    mode, rest = argv[0], argv[1:]
    if "--" in rest:
        cut = rest.index("--")
        eal_args, app_args = rest[:cut], rest[cut + 1:]
    else:
        eal_args, app_args = [], rest
    from . import dpdk

    if eal_args and dpdk.AVAILABLE and dpdk.eal_help_requested(eal_args):
        print(dpdk.eal_usage(f"pydpdk fec {mode}"), end="")   # as DPDK apps do for -h
        return 0
    parser = _fec_parser(mode)
    args = parser.parse_args(app_args)
    if mode == "tunnel" and (shared := same_port(args.local, args.peer)):
        parser.error(f"--local {args.local!r} and --peer {args.peer!r} are the same {shared}: "
                     "a tunnel needs two different ports")
    configure_logging(args)
    show_progress = progress_wanted(args)
    ports = ({"local": args.local, "peer": args.peer} if mode == "tunnel"
             else {"in": args.inp, "out": args.out})
    if args.bind:
        udp_roles = [r for r, spec in ports.items() if spec.startswith("udp:")]
        if not udp_roles:
            print(f"pydpdk fec {mode}: --bind needs a udp:HOST:PORT port", file=sys.stderr)
            return 2
        for role in udp_roles:
            ports[role] += f",bind={args.bind}"
    encap = dict(encap=args.encap, src_mac=args.src_mac, dst_mac=args.dst_mac,
                 src_ip=args.src_ip, dst_ip=args.dst_ip, src_port=args.src_port,
                 dst_port=args.dst_port, ethertype=args.ethertype)
    cfg = GatewayConfig(mode=mode, ports=ports, code=args.code, k=args.k, m=args.m,
                        depth=args.depth, window=args.window, deadline=args.deadline_ms / 1e3,
                        decoder_timeout=args.decoder_timeout_ms / 1e3,
                        max_payload=args.max_payload, encap=encap, burst=args.burst,
                        duration=args.duration, packets=args.packets,
                        busy_poll=args.busy_poll, idle_sleep_us=args.idle_sleep_us,
                        backend=None if args.backend == "auto" else args.backend,
                        eal_args=eal_args, next_hop=args.next_hop, wan_mtu=args.wan_mtu,
                        clamp_mss=not args.no_mss_clamp, icmp=not args.no_icmp,
                        fragment=not args.no_fragment, icmp_source=args.icmp_source,
                        key_file=args.key_file, aead=args.aead, state_file=args.state_file,
                        rekey_grace=args.rekey_grace,
                        adaptive=getattr(args, "adaptive", False),
                        target_loss=getattr(args, "target_loss", 1e-4),
                        max_delay_ms=getattr(args, "max_delay_ms", 100.0),
                        queues=args.queues)
    try:                # option combinations: a usage error before anything opens
        cfg.validate()
    except ValueError as exc:
        parser.error(str(exc))
    if (overwritten := overwritten_input(list(ports.values()))) is not None:
        parser.error(f"an output would overwrite the input capture {overwritten!r}")
    last: dict[str, Any] = {"t": time.monotonic(), "counts": {}}

    from .cli_json import IntervalRecorder, fec_document, stage_key

    intervals = IntervalRecorder(mode)

    def progress(counters: dict[str, dict[str, int]]) -> None:
        if args.json:
            intervals.add(counters)
        if not show_progress:
            return
        now = time.monotonic()
        dt = max(now - last["t"], 1e-9)
        parts = []
        for name, c in counters.items():
            if name.endswith(("fec-encode", "fec-decode")):
                prev = last["counts"].get(name, {}).get("packets_in", 0)
                rate = (c["packets_in"] - prev) / dt / 1e6
                extra = (f"repair {c['repair_packets']:,}" if "encode" in name else
                         f"recovered {c['recovered']:,} unrecoverable {c['unrecoverable']:,} "
                         f"malformed {c['malformed']:,} foreign {c['foreign']:,}")
                parts.append(f"{name.split('.')[-1]} {c['packets_in']:,} pkts "
                             f"({rate:.3f} Mpps) {extra}")
            elif name.startswith("udp."):
                parts.append(_udp_line(c))
        last["t"], last["counts"] = now, counters
        print("  " + " | ".join(parts), file=sys.stderr, flush=True)
        if "adaptive" in counters:
            print(_adaptive_line(counters["adaptive"]), file=sys.stderr, flush=True)

    def started(plan: dict[str, Any]) -> None:
        for role, i in plan["interfaces"].items():
            offl = " ".join(f"{k}:{'on' if v else 'off'}" for k, v in i["offloads"].items())
            print(f"  {role} {i['ifname']}: mtu {i['mtu']}, {offl or 'offloads unknown'}; "
                  f"{i['plan']}", file=sys.stderr, flush=True)
        if plan["mtu"]:
            print(f"  MTU: {plan['mtu']['policy']}", file=sys.stderr, flush=True)

    missed: dict[str, int] = {}
    lost: dict[tuple[str, str, str], int] = {}

    def ports_progress(stats: dict[str, dict[str, int]]) -> None:
        # A receive ring that overflows says so while it happens (also with
        # --json); so does any other reason a port loses frames.
        from .gateway import drop_report

        for role, st in stats.items():
            n = int(st.get("imissed", 0))
            if n > missed.get(role, 0):
                print(f"  ring overflow: {role} port lost {n - missed.get(role, 0):,} frames "
                      f"(receive ring full; {n:,} in all)", file=sys.stderr, flush=True)
            missed[role] = n
        for role, dirs in drop_report({}, stats)["ports"].items():
            for direction, reasons in dirs.items():
                for reason, count in reasons.items():
                    key = (role, direction, reason)
                    if reason != "ring_overflow" and count > lost.get(key, 0):
                        print(f"  drops: {role} port {direction} {reason} "
                              f"+{count - lost.get(key, 0):,} ({count:,} in all)",
                              file=sys.stderr, flush=True)
                    lost[key] = count

    def event(line: str) -> None:
        print(f"pydpdk fec {mode}: {line}", file=sys.stderr, flush=True)

    fault = None
    try:
        report = run_gateway(cfg, on_progress=progress, progress_interval=args.stats_interval,
                             on_start=started, on_ports=ports_progress, on_event=event)
    except PortError as exc:
        if not hasattr(exc, "report"):
            raise
        fault, report = exc, exc.report
    if args.json:
        print(json.dumps(fec_document(report, ports, intervals.records), indent=2, default=str))
    else:
        stopped = report["signal"] or ("port fault" if fault else report.get("stopped_by"))
        print(f"pydpdk fec {mode} ({report['backend']}): {report.get('packets', 0):,} packets in "
              f"{report.get('elapsed_s', 0):.1f} s, stopped by {stopped}")
        if "next_hop" in report:
            h = report["next_hop"]
            print(f"  next hop towards {h['peer']}: {h['next_hop']} "
                  f"{'(route gateway) ' if h['via_gateway'] else ''}is {h['mac']}")
        for name, c in report["counters"].items():
            if name.startswith("udp."):
                print(f"  {name}: {_udp_line(c)}")
                continue
            keys = [k for k in ("packets_in", "packets_out", "drops", "repair_packets",
                                "recovered", "unrecoverable", "malformed", "foreign",
                                "duplicate", "late", "too_big", "mss_clamped",
                                "icmp_too_big", "fragmented", "mtu_dropped",
                                "reply_dropped", "ecn_dropped", "sealed", "opened",
                                "bad_tag", "replayed", "too_old", "stale_epoch",
                                "unknown_key", "rate_limited") if k in c]
            print(f"  {stage_key(name, mode)}: " + ", ".join(f"{k} {c[k]:,}" for k in keys))
        if report.get("queue_counters"):
            _print_queues(report["queue_counters"])
        if "adaptive" in report:
            print(_adaptive_line(report["adaptive"]) + f" [{report['adaptive']['changes']} "
                  "change(s)]")
        drops = report["drops"]
        print(f"  frames not carried: {drops['total']:,}")
        for role, dirs in drops["ports"].items():
            st = report["ports"][role]
            rx = ", ".join(f"{k} {v:,}" for k, v in dirs["rx"].items() if v) or "none lost"
            tx = ", ".join(f"{k} {v:,}" for k, v in dirs["tx"].items() if v) or "none lost"
            print(f"  port {role}: rx {st.get('ipackets', 0):,} ({rx}); "
                  f"tx {st.get('opackets', 0):,} ({tx})")
    sys.stdout.flush()
    status = 0
    if fault is not None:
        print(f"pydpdk fec {mode}: {fault}", file=sys.stderr)
        status = 1
    if report["buffers_leaked"]:
        print(f"pydpdk fec {mode}: {report['buffers_leaked']} buffer(s) still in use after the "
              "run (leaked)", file=sys.stderr)
        status = 1
    return status


# --------------------------------------------------------------------------
# pydpdk info
# --------------------------------------------------------------------------

def _cpu_features() -> list[str]:
    wanted = ("sse4_2", "avx2", "avx512f", "avx512bw", "avx512vl", "gfni", "vpclmulqdq")
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("flags")).split(":", 1)[1].split()
    except (OSError, StopIteration):
        return []
    return [f for f in wanted if f in flags]


def _print_telemetry(tel: dict[str, Any] | None) -> None:
    """The telemetry lines of `pydpdk info` (docs/telemetry.md)."""
    if tel is None:
        return
    if tel["enabled"]:
        print(f"  telemetry: {tel['socket']} (dpdk-telemetry.py -f {tel['file_prefix']})")
    else:
        print("  telemetry: off in this EAL (on with --eal=--telemetry, or "
              "Eal(telemetry=True) in a program)")
    if tel["error"]:
        print(f"    {tel['error']}")
    if tel["commands"]:
        print(f"    pydpdk endpoints: {' '.join(tel['commands'])}")


def _info(args: argparse.Namespace) -> int:
    from . import backend, dpdk, fec

    info: dict[str, Any] = {"pydpdk": __version__, "build": dict(BUILD_INFO),
                            "backend": backend.describe(), "cpu_features": _cpu_features(),
                            "fec_kernel": fec.default_kernel(),
                            "fec_kernels": fec.available_kernels(),
                            "crypto": _crypto_info()}
    if dpdk.AVAILABLE and not args.no_eal:
        with dpdk.Eal(shlex.split(args.eal)) as eal:
            info["dpdk"] = eal.info()
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(f"pydpdk {__version__}")
    for key, value in BUILD_INFO.items():
        print(f"  build {key}: {value}")
    b = info["backend"]
    print(f"  backend in use: {b['selected']} (chosen {b['chosen_by']}; "
          f"override with --backend or PYDPDK_BACKEND)")
    for name, why in b["available"].items():
        print(f"    {name}: {'usable' if why is None else why}")
    print(f"  CPU features: {' '.join(info['cpu_features']) or 'unknown'}")
    print(f"  FEC kernel: {info['fec_kernel']} (available: {', '.join(info['fec_kernels'])}; "
          f"override with PYDPDK_FEC_KERNEL)")
    print(f"  secure mode crypto: {info['crypto']}")
    if "dpdk" in info:
        d = info["dpdk"]
        print(f"{d['version']}: EAL init {d['init_seconds']:.2f} s, hugepages "
              f"{'yes' if d['hugepages'] else 'no'}, PCI {'yes' if d['pci'] else 'no'}")
        for lc in d["lcores"]:
            print(f"  lcore {lc['lcore']}: cpu {lc['cpu']}, socket {lc['socket']}"
                  + (" (main)" if lc["main"] else ""))
        print(f"  NUMA sockets: {d['sockets']}")
        ports = d["ports"] or "none (add virtual devices with --eal=--vdev=net_null0)"
        print(f"  ports: {ports}")
        _print_telemetry(d.get("telemetry"))
    elif not dpdk.AVAILABLE:
        print("DPDK: not built into this installation")
    return 0



def _crypto_info() -> str:
    from . import secure
    return secure.info()


# pydpdk keygen
# --------------------------------------------------------------------------

def _keygen(args: argparse.Namespace) -> int:
    from . import secure
    if args.rotate:
        kf = secure.KeyFile.rotate(args.file)
        print(f"{args.file}: added key {kf.current[0]}, kept key {kf.keys[0][0]} "
              f"(accepted until the next rotation); senders now seal with key {kf.current[0]}")
    else:
        kf = secure.KeyFile.generate(args.file, force=args.force)
        print(f"{args.file}: new key file, key {kf.current[0]} (mode 0600)")
    return 0


def _sigterm_as_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _quiet_stdout() -> None:
    """The reader of stdout went away: send what is left (and Python's final
    flush) nowhere instead of raising again at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _stderr(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _eal_help(prog: str, eal: str) -> bool:
    """-h/--help among --eal's arguments: print DPDK's usage (as DPDK
    applications do) and say so."""
    from . import dpdk

    try:
        raw = shlex.split(eal)
    except ValueError:
        return False                       # the run reports the bad quoting
    if not (dpdk.AVAILABLE and dpdk.eal_help_requested(raw)):
        return False
    print(dpdk.eal_usage(prog), end="")
    return True


def _run_stoppable(name: str, fn: Any) -> int:
    """Run a command whose runs stop cleanly on SIGINT/SIGTERM.

    The signals are recorded instead of raising (pydpdk._signals): the
    running pipeline stops, everything is torn down in order, then the exit
    status says what happened: 128 + the signal (130 SIGINT, 143 SIGTERM),
    141 when stdout was closed under us (``| head``), 1 for an error (with
    its message), whatever the command returned otherwise.
    """
    with _signals.deferred() as sig:
        for signum in _early_signals[:1]:
            sig._handler(signum, None)
        try:
            status = int(fn())
        except BrokenPipeError:
            _quiet_stdout()
            status = 128 + signal.SIGPIPE
        except EalHelpRequested as exc:    # -h among the EAL arguments
            print(exc.usage, end="")
            status = 0
        except (PydpdkError, ValueError, OSError) as exc:  # OSError: a missing file
            _stderr(f"pydpdk {name}: {exc}")
            status = 1
        if sig.signum is not None:
            sig.consume()
            if status == 0:
                _stderr(f"pydpdk {name}: stopped by {sig.name}")
                status = 128 + sig.signum
    if _AS_COMMAND:
        # Done: a late signal must not kill the interpreter's own shutdown
        # (which restores the default actions) and turn the status into "killed".
        for signum in _signals.SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
    return status


def _default_signals() -> None:
    # Commands without a stoppable run: Ctrl-C and SIGTERM raise KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    atexit.register(remove_dpdk_runtime_dir)  # no empty /var/run/dpdk/pydpdk<pid> left
    if argv and argv[0] == "fec":
        name = "fec" + (f" {argv[1]}" if len(argv) > 1 and not argv[1].startswith("-") else "")
        return _run_stoppable(name, lambda: _fec(argv[1:]))

    parser = argparse.ArgumentParser(prog="pydpdk", description="DPDK from Python, with "
                                     "packet-level forward error correction.",
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n", 2)[2])
    parser.add_argument("--version", action="version", version=f"pydpdk {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="FEC across a lossy link on virtual devices")
    demo.add_argument("--backend", choices=["dpdk", "native"], default=None,
                      help="default: automatic (DPDK when built), or $PYDPDK_BACKEND")
    demo.add_argument("--code", choices=["rs", "xor", "rlc"], default="rs",
                      help="rlc: sliding-window code (k sources between m repairs; "
                      "--depth ignored)")
    demo.add_argument("--window", type=int, default=None,
                      help="rlc: sources each repair covers, k..255 (default k)")
    demo.add_argument("-k", type=int, default=10, help="source packets per block (10)")
    demo.add_argument("-m", type=int, default=3, help="parity packets per block (3)")
    demo.add_argument("--depth", type=int, default=4, help="interleaving depth (4)")
    demo.add_argument("--deadline-ms", type=float, default=2.0, help="block deadline (2 ms)")
    demo.add_argument("--loss", type=_probability, default=0.02,
                      help="random loss on the link (0.02 or 2%%)")
    demo.add_argument("--burst-p", type=_probability, default=0.002,
                      help="Gilbert-Elliott P(good->bad) per packet (0.002)")
    demo.add_argument("--burst-r", type=_probability, default=0.25,
                      help="Gilbert-Elliott P(bad->good) per packet (0.25)")
    demo.add_argument("--burst-loss", type=_probability, default=0.6,
                      help="loss probability in the bad state (0.6)")
    demo.add_argument("--no-bursts", action="store_true", help="random loss only")
    demo.add_argument("--sizes", type=_sizes, default=(1024,),
                      help="frame sizes used in turn, e.g. 64,512,1400 (1024)")
    demo.add_argument("--rate", type=float, default=0.0, help="packets/s (0: as fast as it goes)")
    demo.add_argument("--duration", type=float, default=12.0, help="seconds (12)")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--eal", default="", help="extra EAL arguments, e.g. '-m 512'")
    demo.add_argument("--plot", metavar="FILE.png",
                      help="also sweep link loss and plot residual loss (needs matplotlib); "
                      "with --adaptive: loss, overhead and residual loss over time")
    demo.add_argument("--adaptive", action="store_true",
                      help="feed the decoder's link reports back to the encoder, which "
                      "chooses k, m and depth for --target-loss")
    demo.add_argument("--target-loss", type=_probability, default=1e-4,
                      help="adaptive: residual loss to stay under (1e-4)")
    demo.add_argument("--max-delay-ms", type=float, default=100.0,
                      help="adaptive: latency budget of a block (100 ms)")
    demo.add_argument("--loss-schedule", metavar="T=LOSS,...",
                      help="change the link's loss over time: T=LOSS or T=ge:P:R:H items "
                      "(seconds), e.g. 0=0.001,4=0.05,8=ge:0.01:0.25:0.5,12=0.2")
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    demo.set_defaults(func=_demo, _parser=demo)

    fwd = sub.add_parser("pcap-forward",
                         help="forward a generated pcap through DPDK's net_pcap vdev")
    fwd.add_argument("--packets", type=int, default=10000, help="frames to generate")
    fwd.add_argument("--size", type=int, default=128, help="frame size in bytes")
    fwd.add_argument("--burst", type=int, default=32, help="burst size (1..256)")
    fwd.add_argument("--dir", help="where to write in.pcap/out.pcap (default: a temp dir)")
    fwd.add_argument("--timeout", type=float, default=60.0, help="give up after seconds")
    fwd.add_argument("--eal", default="", help="extra EAL arguments, e.g. '-m 512'")
    fwd.add_argument("--json", action="store_true", help="print the report as JSON")
    fwd.set_defaults(func=_pcap_forward)

    sub.add_parser("fec", help="FEC gateways: pydpdk fec {encode,decode,tunnel} --help",
                   add_help=False)

    info = sub.add_parser("info", help="show build, backend, CPU and DPDK information")
    info.add_argument("--eal", default="", help="extra EAL arguments (e.g. --vdev=net_null0)")
    info.add_argument("--no-eal", action="store_true", help="do not start the EAL")
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=_info)

    keygen = sub.add_parser("keygen", help="write a key file for the secure mode (0600)")
    keygen.add_argument("file", nargs="?", default="pydpdk.key",
                        help="key file to write (pydpdk.key)")
    keygen.add_argument("--force", action="store_true", help="overwrite an existing file")
    keygen.add_argument("--rotate", action="store_true",
                        help="add a new key to FILE and keep the previous one")
    keygen.set_defaults(func=_keygen)

    for sub_parser in (demo, fwd, info, keygen):
        harden(sub_parser, progress=sub_parser is demo)
    args = parser.parse_args(argv)
    configure_logging(args)
    if getattr(args, "packets", 1) <= 0:
        parser.error("--packets must be > 0")
    if getattr(args, "eal", "") and _eal_help(f"pydpdk {args.command}", args.eal):
        return 0
    if args.command == "demo":
        return _run_stoppable("demo", lambda: args.func(args))
    _default_signals()
    if _early_signals:
        _stderr(f"pydpdk {args.command}: interrupted")
        return 128 + _early_signals[0]
    try:
        return int(args.func(args))
    except BrokenPipeError:                  # | head: the reader went away
        _quiet_stdout()
        return 128 + signal.SIGPIPE
    except EalHelpRequested as exc:          # -h among the EAL arguments
        print(exc.usage, end="")
        return 0
    except (PydpdkError, ValueError, OSError) as exc:
        print(f"pydpdk {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"pydpdk {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
