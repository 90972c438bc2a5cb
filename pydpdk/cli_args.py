"""Command-line argument validation, help text and diagnostics for ``pydpdk``.

Every option of every subcommand is checked by argparse ``type=``
validators before anything runs, so a bad value is a usage error (exit 2)
whose message names the option and says what was wrong, never a traceback:

>>> parser = argparse.ArgumentParser(prog="x")
>>> _ = parser.add_argument("-k", type=int, default=10)
>>> harden(parser)              # -k now takes 1..254, its help shows the default

:data:`RULES` maps an option's ``dest`` to its validator; the same name has
the same meaning in every subcommand.  :func:`harden` also fills in missing
help texts (:data:`HELP`), shows every default, and adds ``-v/--verbose``,
``-q/--quiet`` (the :mod:`logging` level of the ``pydpdk`` logger, on
stderr) and, where a command reports progress, ``--progress`` /
``--no-progress`` (default: only when stderr is a terminal).
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import math
import os
import re
import sys
from collections.abc import Callable
from typing import Any

__all__ = [
    "HELP",
    "MIN_STATS_INTERVAL",
    "RULES",
    "configure_logging",
    "remove_dpdk_runtime_dir",
    "same_port",
    "directory",
    "finite",
    "harden",
    "integer",
    "progress_wanted",
    "readable_file",
    "run_command",
    "writable_file",
]

#: Smallest progress interval (seconds): a smaller one would flood the terminal.
MIN_STATS_INTERVAL = 0.1

Validator = Callable[[str], Any]


def integer(lo: int, hi: int, what: str = "an integer") -> Validator:
    """Validator: an integer in [lo, hi] (decimal, or 0x.. hexadecimal)."""

    def check(text: str) -> int:
        try:
            value = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {what} in {lo}..{hi}, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"expected {what} in {lo}..{hi}, got {value}")
        return value

    check.__name__ = "integer"
    return check


def finite(lo: float, hi: float = math.inf, *, lo_open: bool = False,
           unit: str = "") -> Validator:
    """Validator: a finite number in [lo, hi] (``(lo, hi]`` with *lo_open*)."""
    low = f"> {lo:g}" if lo_open else f">= {lo:g}"
    bound = low if hi == math.inf else f"{low} and <= {hi:g}"
    unit = f" {unit}" if unit else ""

    def check(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a number{unit} {bound}, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number{unit} {bound}, "
                                             f"got {text!r}")
        if value < lo or (lo_open and value == lo) or value > hi:
            raise argparse.ArgumentTypeError(f"expected a number{unit} {bound}, got {text!r}")
        return value

    check.__name__ = "number"
    return check


def writable_file(text: str) -> str:
    """Validator: a file path that can be created or overwritten."""
    if not text:
        raise argparse.ArgumentTypeError("expected a file name, got ''")
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a directory, expected a file name")
    parent = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: directory {parent!r} "
                                         "does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (os.path.exists(text)
                                                    and not os.access(text, os.W_OK)):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: permission denied")
    return text


def readable_file(text: str) -> str:
    """Validator: an existing, readable regular file."""
    if not text:
        raise argparse.ArgumentTypeError("expected a file name, got ''")
    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"{text!r} does not exist")
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a directory, expected a file")
    if not os.access(text, os.R_OK):
        raise argparse.ArgumentTypeError(f"cannot read {text!r}: permission denied")
    return text


def run_command(prog: str, main: Callable[[], int]) -> int:
    """Run a command's *main* with the CLI's manners; its exit status.

    A library error (:class:`~pydpdk.errors.PydpdkError`, ``OSError``,
    ``ValueError``) becomes one line ``PROG: error: ...`` on stderr and
    status 1; Ctrl-C status 130; a closed stdout (``| head``) 141 quietly;
    ``-h`` among EAL arguments prints DPDK's usage (status 0).  Usage errors
    stay argparse's (status 2).  For scripts built on pydpdk, such as the
    examples.
    """
    import signal

    from .errors import EalHelpRequested, PydpdkError

    try:
        return int(main() or 0)
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except EalHelpRequested as exc:
        print(exc.usage, end="")
        return 0
    except (PydpdkError, ValueError, OSError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def directory(text: str) -> str:
    """Validator: a writable directory, or one that can be created."""
    if not text:
        raise argparse.ArgumentTypeError("expected a directory, got ''")
    if os.path.exists(text):
        if not os.path.isdir(text):
            raise argparse.ArgumentTypeError(f"{text!r} exists and is not a directory")
        if not os.access(text, os.W_OK | os.X_OK):
            raise argparse.ArgumentTypeError(f"cannot write into {text!r}: permission denied")
        return text
    parent = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot create directory {text!r}: {parent!r} is "
                                         "missing or not writable")
    return text


_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")


def mac(text: str) -> str:
    """Validator: a MAC address aa:bb:cc:dd:ee:ff."""
    if not _MAC.match(text):
        raise argparse.ArgumentTypeError(f"expected a MAC address like 02:00:00:00:00:01, "
                                         f"got {text!r}")
    return text


def ip_address(text: str) -> str:
    """Validator: an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an IPv4 address like 192.0.2.1 or an "
                                         f"IPv6 address like 2001:db8::1, got {text!r}") from None
    return text


def ipv4(text: str) -> str:
    """Validator: a dotted IPv4 address."""
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an IPv4 address like 192.0.2.1, "
                                         f"got {text!r}") from None
    return text


def frame_sizes(text: str) -> tuple[int, ...]:
    """Validator: comma-separated frame sizes, each 60..1518 bytes."""
    check = integer(60, 1518, "a frame size in bytes")
    sizes = tuple(check(x.strip()) for x in text.split(",") if x.strip())
    if not sizes:
        raise argparse.ArgumentTypeError("give at least one frame size, e.g. 64,512,1400")
    return sizes


def port_spec(text: str) -> str:
    """Validator: a non-empty port spec (checked in full when opened)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a port spec (afpacket:IFACE, "
                                         "pcap:rx=FILE,tx=FILE, a DPDK port or devargs)")
    if text.startswith("pcap:"):
        from .portspec import parse_pcap_spec

        try:
            parse_pcap_spec(text[5:])
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    elif text.startswith("udp:"):
        # The spec's form and values (the peer's HOST:PORT, options): a usage
        # error before anything runs, as for pcap: specs.
        from .portspec import parse_udp_spec

        try:
            peer, kwargs = parse_udp_spec(text[4:])
            from .udp import split_hostport

            split_hostport(peer)
            if "bind" in kwargs:
                split_hostport(kwargs["bind"])
        except ImportError:
            pass                            # no UDP port on this platform: said when opened
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    elif text.startswith("afpacket:") and not text[9:].split(",")[0]:
        raise argparse.ArgumentTypeError("afpacket port spec is afpacket:IFACE, got "
                                         f"{text!r}")
    return text


def _port_keys(spec: str) -> set[tuple[str, str]]:
    """What a port spec uses: kernel interfaces, DPDK devices and output
    files it takes for itself, and (as ``"input"``) capture files it reads,
    files by real path."""
    keys: set[tuple[str, str]] = set()
    kind, sep, rest = spec.partition(":")
    if sep and kind == "afpacket":
        keys.add(("interface", rest.strip()))
    elif sep and kind == "pcap":
        from .portspec import parse_pcap_spec

        try:
            opts = parse_pcap_spec(rest)
        except ValueError:
            return keys
        if "tx" in opts:
            keys.add(("file", os.path.realpath(opts["tx"])))
        if "rx" in opts:
            keys.add(("input", os.path.realpath(opts["rx"])))
    elif sep and kind == "udp":
        keys.add(("udp", rest.strip()))
    else:
        name, _, devargs = spec.partition(",")
        keys.add(("device", name.strip()))
        if not devargs:                     # a bare name: also an interface (native)
            keys.add(("interface", name.strip()))
        for part in devargs.split(","):
            key, _, value = (x.strip() for x in part.partition("="))
            if not value:
                continue
            if key in ("iface", "tx_iface"):
                keys.add(("interface", value))
            elif key in ("tx_pcap", "rx_pcap"):
                keys.add(("file" if key == "tx_pcap" else "input", os.path.realpath(value)))
    return keys


def same_port(a: str, b: str) -> str | None:
    """What two port specs both use (``interface 'eth1'``, ``file '/x.pcap'``,
    ``device 'net_ring0'``), or None: two ports of one run must not share an
    interface, a DPDK device or an output file (reading one input twice is
    fine)."""
    common = sorted(k for k in _port_keys(a) & _port_keys(b) if k[0] != "input")
    if not common:
        return None
    what, name = common[0]
    return f"{what} {name!r}"


def overwritten_input(specs: list[str]) -> str | None:
    """An input capture file that an output of the same run would write
    (through any name or symlink), or None: writing it would destroy what is
    still being read."""
    keys = set().union(*(_port_keys(s) for s in specs))
    common = sorted({n for w, n in keys if w == "input"} & {n for w, n in keys if w == "file"})
    return common[0] if common else None


#: Validators by option ``dest``: the same name means the same in every subcommand.
RULES: dict[str, Validator] = {
    "k": integer(1, 254, "a block size k (k + m <= 255)"),
    "m": integer(1, 254, "a parity count m (k + m <= 255)"),
    "depth": integer(1, 1024, "an interleaving depth"),
    "window": integer(1, 255, "an rlc window (k..255)"),
    "seed": integer(0, 2**32 - 1, "a seed"),
    "max_payload": integer(46, 9600, "a frame size in bytes"),
    "deadline_ms": finite(0, 60_000, unit="(ms)"),
    "decoder_timeout_ms": finite(0, 60_000, lo_open=True, unit="(ms)"),
    "src_port": integer(1, 65535, "a UDP port"),
    "dst_port": integer(1, 65535, "a UDP port"),
    "ethertype": integer(0x600, 0xFFFF, "an EtherType"),
    "burst": integer(1, 256, "a burst size"),
    "duration": finite(0, 86400 * 365, lo_open=True, unit="(seconds)"),
    "packets": integer(1, 2**63 - 1, "a packet count"),
    "idle_sleep_us": integer(0, 1_000_000, "a sleep in microseconds"),
    "stats_interval": finite(MIN_STATS_INTERVAL, 86400, unit="(seconds)"),
    "rate": finite(0, 1e9, unit="(packets/s)"),
    "size": integer(46, 2048, "a frame size in bytes"),
    "timeout": finite(0, 86400, lo_open=True, unit="(seconds)"),
    "plot": writable_file,
    "dir": directory,
    "sizes": frame_sizes,
    "src_mac": mac,
    "dst_mac": mac,
    "src_ip": ip_address,
    "dst_ip": ip_address,
    "rekey_grace": finite(0, 86400, unit="(seconds)"),
    "wan_mtu": integer(576, 65535, "an IP MTU"),
    "inp": port_spec,
    "out": port_spec,
    "local": port_spec,
    "peer": port_spec,
}

#: Help for options that were defined without one.
HELP: dict[str, str] = {
    "backend": "dpdk, native or auto (default: automatic, or $PYDPDK_BACKEND)",
    "code": "FEC code: rs (Reed-Solomon, m parity packets) or xor (m = 1)",
    "decoder_timeout_ms": "give up on an incomplete block after this long (ms)",
    "encap": "FEC encapsulation: udp (UDP over IPv4 or IPv6, by --dst-ip) or ether (raw EtherType)",
    "src_mac": "source MAC of encapsulated packets",
    "dst_mac": "destination MAC of encapsulated packets",
    "src_ip": "source IPv4 or IPv6 address of the UDP tunnel",
    "dst_ip": "destination IPv4 or IPv6 address of the UDP tunnel (IPv6: an IPv6 outer header)",
    "src_port": "source UDP port of the tunnel",
    "dst_port": "destination UDP port of the tunnel",
    "ethertype": "EtherType of --encap ether packets (0x600..0xffff)",
    "burst": "packets per rx/tx burst (1..256)",
    "stats_interval": f"seconds between progress lines (>= {MIN_STATS_INTERVAL:g})",
    "seed": "random seed of the loss model (0..2^32-1)",
    "json": "print the result as JSON (schema: docs/cli.md)",
}


def harden(parser: argparse.ArgumentParser, *, progress: bool = False) -> argparse.ArgumentParser:
    """Validate, document and show defaults for every option of *parser*.

    Options whose ``dest`` is in :data:`RULES` get its validator as
    ``type``; options without help get :data:`HELP`'s (or their metavar);
    every help shows its default.  Adds ``-v/--verbose`` and
    ``-q/--quiet``, and with *progress* ``--progress/--no-progress``.
    Returns *parser*.
    """
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or not action.option_strings:
            if action.dest in RULES and not isinstance(action, argparse._HelpAction):
                action.type = RULES[action.dest]
            continue
        if action.dest in RULES and action.nargs != 0:
            action.type = RULES[action.dest]
        if action.help is None:
            action.help = HELP.get(action.dest, action.dest.replace("_", " "))
        if (action.default not in (None, False, argparse.SUPPRESS) and action.nargs != 0
                and "default" not in action.help and "%(default)" not in action.help):
            action.help += " (default: %(default)s)"
    existing = {s for a in parser._actions for s in a.option_strings}
    if "-v" not in existing:
        parser.add_argument("-v", "--verbose", action="count", default=0,
                            help="more diagnostics on stderr (-vv: debug)")
    if "-q" not in existing:
        parser.add_argument("-q", "--quiet", action="store_true",
                            help="errors only on stderr: no progress, no warnings")
    if progress and "--progress" not in existing:
        parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                            help="progress lines on stderr (default: only when stderr is a "
                                 "terminal)")
    return parser


def configure_logging(args: argparse.Namespace) -> logging.Logger:
    """Set the ``pydpdk`` logger's level from -v/-q (stderr, one line a record)."""
    log = logging.getLogger("pydpdk")
    verbose = getattr(args, "verbose", 0) or 0
    level = (logging.ERROR if getattr(args, "quiet", False) else
             logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else logging.WARNING)
    log.setLevel(level)
    if not any(getattr(h, "_pydpdk_cli", False) for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("pydpdk: %(levelname)s: %(message)s"))
        handler._pydpdk_cli = True  # type: ignore[attr-defined]
        log.addHandler(handler)
    return log


def progress_wanted(args: argparse.Namespace) -> bool:
    """Whether to print progress: --progress/--no-progress, else stderr is a TTY;
    never with --quiet or --json."""
    if getattr(args, "quiet", False) or getattr(args, "json", False):
        return False
    chosen = getattr(args, "progress", None)
    if chosen is not None:
        return bool(chosen)
    return sys.stderr.isatty()


def remove_dpdk_runtime_dir(pid: int | None = None) -> None:
    """Remove the EAL runtime directory of this process's default file prefix.

    :class:`pydpdk.dpdk.Eal` uses ``--file-prefix=pydpdk<pid>``; DPDK leaves
    ``/var/run/dpdk/pydpdk<pid>`` (or under ``$XDG_RUNTIME_DIR`` / ``/tmp``
    when not root) behind after ``rte_eal_cleanup``.  The command line calls
    this at exit so that nothing is left unless the user chose a prefix.
    """
    import shutil

    name = f"pydpdk{os.getpid() if pid is None else pid}"
    bases = ["/var/run/dpdk", os.path.join(os.environ.get("XDG_RUNTIME_DIR", "/tmp"), "dpdk"),
             "/tmp/dpdk"]
    for base in bases:
        shutil.rmtree(os.path.join(base, name), ignore_errors=True)
