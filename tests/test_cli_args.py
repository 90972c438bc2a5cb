"""Every subcommand with a table of bad values: exit 2, a message naming the
option and what was wrong, never a traceback; help and defaults everywhere."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pydpdk import cli, cli_args

FEC = ["fec", "encode", "--", "--in", "pcap:rx=in.pcap", "--out", "pcap:tx=out.pcap"]
TUNNEL = ["fec", "tunnel", "--", "--local", "afpacket:a", "--peer", "afpacket:b"]

# (command prefix, option, bad value, text the message must contain)
TABLE = [
    *[(FEC, opt, value, want) for opt, value, want in [
        ("-k", "-1", "in 1..254"), ("-k", "1000", "in 1..254"), ("-k", "x", "got 'x'"),
        ("-m", "-3", "in 1..254"), ("-m", "99999999999", "in 1..254"),
        ("--depth", "0", "interleaving depth"), ("--depth", "-5", "interleaving depth"),
        ("--max-payload", "-1", "frame size"), ("--max-payload", "100000", "frame size"),
        ("--deadline-ms", "nan", "finite"), ("--deadline-ms", "inf", "finite"),
        ("--deadline-ms", "-1", ">= 0"),
        ("--decoder-timeout-ms", "0", "> 0"), ("--decoder-timeout-ms", "nan", "finite"),
        ("--duration", "inf", "finite"), ("--duration", "0", "> 0"),
        ("--duration", "-2", "> 0"), ("--packets", "0", "packet count"),
        ("--burst", "0", "burst size"), ("--burst", "257", "burst size"),
        ("--stats-interval", "0", ">= 0.1"), ("--stats-interval", "nan", "finite"),
        ("--idle-sleep-us", "-1", "microseconds"),
        ("--src-port", "70000", "UDP port"), ("--dst-port", "0", "UDP port"),
        ("--ethertype", "0x10000", "EtherType"), ("--ethertype", "zz", "EtherType"),
        ("--src-mac", "02:00", "MAC address"), ("--dst-ip", "300.1.1.1", "IPv4 address"),
        ("--in", "pcap:rx=a,zz=1", "unknown key"), ("--out", "pcap:", "needs rx=FILE"),
        ("--code", "ldpc", "invalid choice"), ("--encap", "gre", "invalid choice"),
        ("--backend", "fpga", "invalid choice"),
        ("--rekey-grace", "-inf", "finite"), ("--wan-mtu", "10", "IP MTU"),
    ]],
    (TUNNEL, "--peer", "", "port spec"),
    (TUNNEL, "--peer", "udp:[2001:db8::2]", "no port"),
    (TUNNEL, "--peer", "udp:2001:db8::2:4790", "brackets"),
    (TUNNEL, "--peer", "udp:192.0.2.2:4790,peer_queues=0", "peer_queues"),
    (TUNNEL, "--peer", "udp:192.0.2.2:4790,gso=2", "gso is 0 or 1"),
    (TUNNEL, "--peer", "udp:192.0.2.2:4790,keepalive=abc", "keepalive"),
    (TUNNEL, "--peer", "udp:192.0.2.2:4790,bind=10.0.0.1", "no port"),
    (TUNNEL, "--local", "afpacket:", "afpacket:IFACE"),
    *[(["demo"], opt, value, want) for opt, value, want in [
        ("-k", "0", "in 1..254"), ("-m", "-1", "in 1..254"), ("--depth", "100000", "depth"),
        ("--seed", "-1", "seed"), ("--seed", "99999999999", "seed"),
        ("--duration", "inf", "finite"), ("--duration", "nan", "finite"),
        ("--rate", "-5", ">= 0"), ("--rate", "inf", "finite"),
        ("--sizes", "9000", "frame size"), ("--sizes", "10", "frame size"),
        ("--sizes", ",", "at least one"), ("--loss", "2", "probability"),
        ("--deadline-ms", "nan", "finite"),
        ("--plot", "/nonexistent-dir/x.png", "does not exist"), ("--plot", "/", "directory"),
        ("--plot", "x.txt", "format"), ("--loss-schedule", "0=2", "[0, 1]"),
        ("--loss-schedule", "garbage", "T=LOSS"), ("--max-delay-ms", "-5", "> 0"),
        ("--target-loss", "0", "(0, 1)"),
    ]],
    *[(["pcap-forward"], opt, value, want) for opt, value, want in [
        ("--packets", "0", "packet count"), ("--size", "70000", "frame size"),
        ("--size", "10", "frame size"), ("--burst", "0", "burst size"),
        ("--timeout", "inf", "finite"), ("--timeout", "0", "> 0"),
        ("--dir", "/proc/version", "not a directory"),
        ("--dir", "/nonexistent-a/b", "cannot create"),
    ]],
]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("PYDPDK_BACKEND", None)
    return subprocess.run([sys.executable, "-m", "pydpdk", *args], capture_output=True,
                          text=True, timeout=60, env=env)


@pytest.mark.parametrize("prefix,option,value,want", TABLE,
                         ids=[f"{t[0][0]}{t[0][1] if len(t[0]) > 1 else ''} {t[1]}={t[2]}"
                              for t in TABLE])
def test_bad_value_is_a_usage_error_naming_the_option(prefix, option, value, want):
    proc = run(*prefix, f"{option}={value}" if value.startswith("-") else option,
               *([] if value.startswith("-") else [value]))
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert f"argument {option}" in last or option.lstrip("-") in last, last
    assert want in last, last


def test_python_dash_m_pydpdk():
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("pydpdk ")
    proc = run("--help")
    assert proc.returncode == 0 and "usage" in proc.stdout


@pytest.mark.parametrize("mode", ["encode", "decode", "tunnel"])
def test_every_fec_option_has_help_and_shows_its_default(mode):
    parser = cli._fec_parser(mode)
    for action in parser._actions:
        if not action.option_strings:
            continue
        assert action.help, action.option_strings
        if action.default not in (None, False, "==SUPPRESS==") and action.nargs != 0:
            assert "default" in action.help, action.option_strings
    assert "(default: 10)" in parser.format_help()


def test_random_argument_tables_never_trace_back():
    # A pseudo-random sample of options and hostile values, every one rejected
    # with exit 2 or accepted by argparse (then the run is not started).
    import random

    rng = random.Random(12)
    hostile = ["-1", "0", "nan", "inf", "-inf", "1e400", "x", "", "0x", "99999999999999999999",
               "1,2", "%", "/", "\x01"]
    parser = cli._fec_parser("encode")
    options = [a for a in parser._actions if a.option_strings and a.nargs != 0
               and a.dest not in ("help", "verbose")]
    for _ in range(300):
        action = rng.choice(options)
        value = rng.choice(hostile)
        try:
            ns = parser.parse_args(["--in", "pcap:rx=a", "--out", "pcap:tx=b",
                                    f"{action.option_strings[-1]}={value}"])
        except SystemExit as exc:
            assert exc.code == 2
            continue
        v = getattr(ns, action.dest)
        if isinstance(v, float):
            assert v == v and v not in (float("inf"), float("-inf"))


def test_validators_directly():
    check = cli_args.integer(1, 5)
    assert check("0x3") == 3
    with pytest.raises(Exception, match="in 1..5"):
        check("6")
    assert cli_args.finite(0, lo_open=True)("1.5") == 1.5


def test_pcap_forward_leaves_nothing_in_tmp(tmp_path):
    from pydpdk import dpdk

    if not dpdk.AVAILABLE:
        pytest.skip("pydpdk built without DPDK")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    proc = subprocess.run([sys.executable, "-m", "pydpdk", "pcap-forward", "--packets", "50"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert list(tmp.iterdir()) == []


def test_dpdk_runs_leave_no_runtime_directory(tmp_path):
    from pydpdk import dpdk

    if not dpdk.AVAILABLE:
        pytest.skip("pydpdk built without DPDK")
    proc = subprocess.Popen([sys.executable, "-m", "pydpdk", "pcap-forward", "--packets", "20",
                             "--dir", str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    base = "/var/run/dpdk" if os.geteuid() == 0 else os.path.join(
        os.environ.get("XDG_RUNTIME_DIR", "/tmp"), "dpdk")
    assert not os.path.exists(os.path.join(base, f"pydpdk{proc.pid}"))


@pytest.mark.parametrize("args,want", [
    (["demo", "--code", "rlc", "-k", "10", "--window", "5"], "--window"),
    (["demo", "--code", "rs", "--window", "12"], "--window"),
    (["demo", "--adaptive", "--code", "xor", "-m", "1"], "RS"),
    (["fec", "encode", "--", "--in", "pcap:rx=a.pcap", "--out", "pcap:tx=b.pcap",
      "--queues", "0"], "--queues"),
    (["fec", "encode", "--", "--in", "pcap:rx=a.pcap", "--out", "pcap:tx=b.pcap",
      "--code", "rlc", "-k", "8", "--window", "5"], "--window"),
    (["fec", "tunnel", "--", "--local", "afpacket:x0", "--peer", "afpacket:x1",
      "--adaptive", "--queues", "2"], "--queues 1"),
    (["fec", "tunnel", "--", "--local", "afpacket:x0", "--peer", "afpacket:x1",
      "--adaptive", "--target-loss", "1"], "--target-loss"),
])
def test_bad_combinations_are_usage_errors_before_anything_runs(args, want):
    # They exited 1 once the run had started (the demo after its banner).
    proc = run(*args)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and not proc.stdout
    assert want in proc.stderr.strip().splitlines()[-1], proc.stderr
