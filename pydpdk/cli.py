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
import json
import shlex
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from . import __version__, _signals, plotting, report
from .cli_args import (
    configure_logging,
    harden,
    overwritten_input,
    progress_wanted,
    remove_dpdk_runtime_dir,
    same_port,
)
from .errors import EalHelpRequested, PortError, PydpdkError

# The capture helpers were reached through this module before they moved
# (pydpdk.frames); kept importable from here for scripts that do.
from .frames import make_frames as make_frames
from .frames import read_pcap as read_pcap
from .frames import write_pcap as write_pcap


def _pcap_forward(args: argparse.Namespace) -> int:
    from . import dpdk
    from .pcap_forward import forward_capture, write_sample

    if not dpdk.AVAILABLE:
        print("pydpdk pcap-forward needs DPDK, and this build has none.", file=sys.stderr)
        print("Install dpdk, dpdk-dev and libdpdk-dev, then rebuild (make build).", file=sys.stderr)
        return 2
    workdir = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="pydpdk-demo-"))
    if not args.dir:  # nothing left in /tmp unless --dir asks for the files
        atexit.register(shutil.rmtree, workdir, True)
    workdir.mkdir(parents=True, exist_ok=True)
    src, dst = workdir / "in.pcap", workdir / "out.pcap"
    frames = write_sample(src, args.packets, args.size)
    # With --json, stdout carries the JSON document only: the story goes to stderr.
    story = sys.stderr if args.json else sys.stdout
    print(f"generated {len(frames)} UDP frames of {args.size} bytes -> {src}", file=story)

    def eal_up(eal: Any) -> None:
        print(f"EAL up in {eal.init_seconds:.2f} s ({eal.version}, no hugepages, "
              f"{len(eal.lcores())} lcore)", file=story)

    result, stats = forward_capture(src, dst, frames, burst=args.burst, timeout=args.timeout,
                                    eal_args=shlex.split(args.eal), on_eal=eal_up)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"forwarded {stats.tx_packets}/{len(frames)} packets through net_pcap in "
              f"{stats.seconds * 1e3:.1f} ms ({stats.mpps:.2f} Mpps, native loop, "
              f"burst {args.burst}); dropped {stats.dropped}")
        print(f"wrote {result['packets_out']} packets, {result['bytes_out']} bytes -> {dst}")
        print("output identical to input: " + ("yes" if result["identical"] else "NO"))
        print(f"mbufs still in use after teardown: {result['mbufs_leaked']}")
    return 0 if result["identical"] and not result["mbufs_leaked"] else 1


# --------------------------------------------------------------------------
# pydpdk demo
# --------------------------------------------------------------------------

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
    if args.plot and (why := plotting.check_plot_file(args.plot)) is not None:
        usage(why)
    if not args.json:
        print(f"pydpdk demo: generator -> FEC encode ({cfg.code.upper()} k={cfg.k} m={cfg.m}) "
              f"-> lossy link -> FEC decode -> verifier, for {cfg.duration:g} s")

    def progress(snap: dict[str, Any]) -> None:
        if progress_wanted(args):
            print(report.progress_line(snap), file=sys.stderr, flush=True)

    # one runtime (EAL) for every run of this command: DPDK cannot start it twice
    with select_backend(cfg.backend).runtime(cfg.eal_args, eal_optional=True):
        summary = run_demo(cfg, on_progress=progress)
        if args.plot and cfg.adaptive:
            plotting.plot_adaptive(summary["adaptive"], args.plot)
            summary["plot"] = {"file": args.plot}
        elif args.plot:
            losses = [0.005, 0.01, 0.02, 0.04, 0.07, 0.1, 0.15, 0.2]
            points = sweep_link_loss(cfg, losses, seconds_each=max(0.5, cfg.duration / 10))
            plotting.plot_residual_loss(points, cfg, args.plot)
            summary["plot"] = {"file": args.plot, "points": points}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print("\n".join(report.demo_summary_lines(summary, args.plot)))
    if summary["buffers_leaked"]:
        print(f"pydpdk demo: {summary['buffers_leaked']} buffer(s) still in use after the "
              "run (leaked)", file=sys.stderr)
    if summary["corrupted"]:
        print(f"pydpdk demo: {summary['corrupted']} corrupted frame(s) delivered",
              file=sys.stderr)
    ok = summary["corrupted"] == 0 and summary["buffers_leaked"] == 0
    return 0 if ok else 1


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

    from .cli_json import IntervalRecorder, fec_document

    intervals = IntervalRecorder(mode)

    def progress(counters: dict[str, dict[str, int]]) -> None:
        if args.json:
            intervals.add(counters)
        if not show_progress:
            return
        now = time.monotonic()
        line = report.fec_progress_line(counters, last["counts"], max(now - last["t"], 1e-9))
        last["t"], last["counts"] = now, counters
        print(line, file=sys.stderr, flush=True)

    def started(plan: dict[str, Any]) -> None:
        for line in report.interface_lines(plan):
            print(line, file=sys.stderr, flush=True)

    drops = report.PortDrops()

    def ports_progress(stats: dict[str, dict[str, int]]) -> None:
        # A receive ring that overflows says so while it happens (also with
        # --json); so does any other reason a port loses frames.
        for line in drops.new_lines(stats):
            print(line, file=sys.stderr, flush=True)

    def event(line: str) -> None:
        print(f"pydpdk fec {mode}: {line}", file=sys.stderr, flush=True)

    fault = None
    try:
        result = run_gateway(cfg, on_progress=progress, progress_interval=args.stats_interval,
                             on_start=started, on_ports=ports_progress, on_event=event)
    except PortError as exc:
        if not hasattr(exc, "report"):
            raise
        fault, result = exc, exc.report
    if args.json:
        print(json.dumps(fec_document(result, ports, intervals.records), indent=2, default=str))
    else:
        print("\n".join(report.fec_summary_lines(result, mode, fault)))
    sys.stdout.flush()
    status = 0
    if fault is not None:
        print(f"pydpdk fec {mode}: {fault}", file=sys.stderr)
        status = 1
    if result["buffers_leaked"]:
        print(f"pydpdk fec {mode}: {result['buffers_leaked']} buffer(s) still in use after the "
              "run (leaked)", file=sys.stderr)
        status = 1
    return status


# --------------------------------------------------------------------------
# pydpdk info
# --------------------------------------------------------------------------

def _info(args: argparse.Namespace) -> int:
    from . import dpdk
    from .info import installation_info

    info = installation_info(shlex.split(args.eal), eal=dpdk.AVAILABLE and not args.no_eal)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print("\n".join(report.info_lines(info, dpdk_built=dpdk.AVAILABLE)))
    return 0


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
    demo.add_argument("--eal", default="",
                      help="extra EAL arguments, e.g. --eal='-m 512' ('=': the value starts "
                           "with a dash)")
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
    fwd.add_argument("--eal", default="",
                     help="extra EAL arguments, e.g. --eal='-m 512' ('=': the value starts "
                          "with a dash)")
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
