#!/usr/bin/env python3
"""The FEC tunnel end to end across network namespaces, beside its peers.

    sudo .venv/bin/python bench/tunnel.py [--speederv2 PATH] [--repeat 5] [--duration 2]
        [--rates 5000,10000,20000,30000,50000,80000] [--loss random,ge] [--tcp]
        [--contenders pydpdk-ether,udpspeeder]

Topology (five namespaces, 1500-byte MTU everywhere, the hosts' default
offloads; removed at the end)::

    host_a --lan-- gw_a --wan-- link --wan-- gw_b --lan-- host_b

The link namespace drops frames: ``random`` is 5 % independent loss each way
(nftables ``numgen random`` in a netdev ingress chain on a kernel bridge);
``ge`` is Gilbert-Elliott burst loss (p = 0.01, r = 0.25, 50 % loss in the
bad state, 0 in the good one) applied by a pydpdk impairment pipeline that
forwards between the link's two interfaces (this kernel has no netem; its
CPU time is reported apart).

Contenders, each given the same offered traffic:

* ``nofec``: the gateways are kernel bridges; frames cross the lossy link
  unprotected (the floor any FEC must beat);
* ``pydpdk-ether``: two ``pydpdk fec tunnel`` processes on the native
  AF_PACKET backend, frames carried in an Ethernet type on the WAN;
* ``pydpdk-udp``: the same with the kernel's UDP stack as WAN transport
  (``--peer udp:HOST:PORT``), where this build has it;
* ``udpspeeder``: UDPspeeder's ``speederv2`` client and server (``-f10:4``,
  the largest socket buffers it allows, obscuring off), from a path given
  with ``--speederv2`` (build it from its public source with
  ``make fast OPT=-O2``); the bench says so and goes on when it is absent.

Traffic: 1200-byte UDP datagrams with distinct random payloads and sequence
numbers, paced at each rate of ``--rates`` for ``--duration`` seconds, from
host_a to host_b.  For each contender, rate and loss model: delivered pps,
residual loss beside the MDS prediction for RS(k, m) (pydpdk.analysis),
and CPU time per delivered packet of each gateway process.  Every round
runs every contender (interleaved); the median of ``--repeat`` rounds is
reported with its spread.  ``--tcp`` adds one iperf3 TCP stream per
contender that can carry TCP.  The "highest clean rate" of a contender is
the highest offered rate whose median residual loss is at most 1.2x the
prediction and whose delivered rate is at least 90 % of the offered one.

A benchmark, not a test: it never fails on timing.  Results: a table on
stdout and JSON in bench/results/tunnel.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _stats import machine, summarize, write_json  # noqa: E402

K, M = 10, 4
DEADLINE_MS = 5
PAYLOAD = 1200
DST_PORT = 9002
SPEEDER_PORT_A, SPEEDER_PORT_B = 9000, 9001
LOSS_PER_MILLE = 50
GE = {"p": 0.01, "r": 0.25, "bad": 0.5, "good": 0.0}
HOST_A, HOST_B = "10.81.1.1", "10.81.1.2"
GWLAN_A, GWLAN_B = "10.81.1.253", "10.81.1.252"
WAN_A, WAN_B = "10.81.2.1", "10.81.2.2"
TICK = 0.001
HDR = struct.Struct("!QQ")      # run id, sequence number


# ----------------------------------------------------------------- roles ----
# The sender and the receiver run inside the end hosts' namespaces
# (ip netns exec ... bench/tunnel.py --role ...) and print one JSON line.

def role_send(dst: str, port: int, rate: float, seconds: float, run_id: int) -> dict:
    """Paced sender: every TICK, the datagrams due so far; distinct payloads."""
    rng = random.Random(run_id)
    bodies = [rng.randbytes(PAYLOAD - HDR.size) for _ in range(1024)]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    sent = errors = 0
    start = time.perf_counter()
    end = start + seconds
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        due = int((now - start) * rate) + 1
        while sent < due:
            try:
                sock.sendto(HDR.pack(run_id, sent) + bodies[sent & 1023], (dst, port))
            except OSError:
                errors += 1     # e.g. ENOBUFS: counted as sent and lost
            sent += 1
        time.sleep(max(0.0, min(TICK, start + due / rate - time.perf_counter())))
    elapsed = time.perf_counter() - start
    return {"sent": sent, "send_errors": errors, "seconds": elapsed}


def role_recv(port: int, seconds: float, run_id: int) -> dict:
    """Counts the distinct sequence numbers of this run received within
    *seconds*; duplicates and datagrams of other runs are counted apart."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    sock.bind(("0.0.0.0", port))
    sock.settimeout(0.2)
    seen: set[int] = set()
    dup = other = 0
    print(json.dumps({"ready": True}), flush=True)
    end = time.monotonic() + seconds
    buf = bytearray(2048)
    while time.monotonic() < end:
        try:
            n = sock.recv_into(buf)
        except socket.timeout:
            continue
        if n < HDR.size:
            other += 1
            continue
        rid, seq = HDR.unpack_from(buf)
        if rid != run_id:
            other += 1
        elif seq in seen:
            dup += 1
        else:
            seen.add(seq)
    return {"received": len(seen), "duplicates": dup, "other": other}


# -------------------------------------------------------------- topology ----

def sh(*args: str, check: bool = True, stdin: str | None = None) -> str:
    proc = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def nsx(ns: str, *args: str, check: bool = True) -> str:
    return sh("ip", "netns", "exec", ns, *args, check=check)


class Topology:
    """host_a - gw_a - link - gw_b - host_b; see the module docstring."""

    def __init__(self, tag: str) -> None:
        suffix = f"{os.getpid() % 1000}{tag}"
        self.ha, self.ga, self.lk, self.gb, self.hb = (
            f"bt{r}{suffix}"[:15] for r in ("ha", "ga", "lk", "gb", "hb"))
        self.namespaces = [self.ha, self.ga, self.lk, self.gb, self.hb]

    def __enter__(self) -> Topology:
        for ns in self.namespaces:
            sh("ip", "netns", "add", ns)
            nsx(ns, "ip", "link", "set", "lo", "up")
            nsx(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", check=False)
        pairs = [(self.ha, "eth0", self.ga, "lan"), (self.ga, "wan", self.lk, "la"),
                 (self.lk, "lb", self.gb, "wan"), (self.gb, "lan", self.hb, "eth0")]
        for a, ia, b, ib in pairs:
            sh("ip", "-n", a, "link", "add", ia, "type", "veth", "peer", "name", ib,
               "netns", b)
            for ns, ifn in ((a, ia), (b, ib)):
                sh("ip", "-n", ns, "link", "set", ifn, "up")
        sh("ip", "-n", self.ha, "addr", "add", f"{HOST_A}/24", "dev", "eth0")
        sh("ip", "-n", self.hb, "addr", "add", f"{HOST_B}/24", "dev", "eth0")
        return self

    def __exit__(self, *exc: object) -> None:
        for ns in self.namespaces:
            sh("ip", "netns", "del", ns, check=False)

    def bridge(self, ns: str, a: str, b: str) -> None:
        sh("ip", "-n", ns, "link", "add", "br0", "type", "bridge", "stp_state", "0",
           "forward_delay", "0")
        for ifn in (a, b):
            sh("ip", "-n", ns, "link", "set", ifn, "master", "br0")
        sh("ip", "-n", ns, "link", "set", "br0", "up")

    def unbridge(self, ns: str) -> None:
        sh("ip", "-n", ns, "link", "del", "br0", check=False)

    def gateway_ips(self, lan: bool, wan: bool) -> None:
        for ns, lan_ip, wan_ip in ((self.ga, GWLAN_A, WAN_A), (self.gb, GWLAN_B, WAN_B)):
            for ifn, ip, want in (("lan", lan_ip, lan), ("wan", wan_ip, wan)):
                sh("ip", "-n", ns, "addr", "flush", "dev", ifn)
                if want:
                    sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", ifn)


@contextlib.contextmanager
def random_loss(topo: Topology, per_mille: int) -> Iterator[None]:
    topo.bridge(topo.lk, "la", "lb")
    rules = "".join(
        f"table netdev bt{ifn} {{\n chain c {{\n  type filter hook ingress device \"{ifn}\" "
        f"priority 0; policy accept;\n  numgen random mod 1000 < {per_mille} drop\n }}\n}}\n"
        for ifn in ("la", "lb"))
    sh("ip", "netns", "exec", topo.lk, "nft", "-f", "-", stdin=rules)
    try:
        yield
    finally:
        for ifn in ("la", "lb"):
            nsx(topo.lk, "nft", "delete", "table", "netdev", f"bt{ifn}", check=False)
        topo.unbridge(topo.lk)


GE_LINK = r"""
import signal, sys
from pydpdk.afpacket import AfPacketPort
from pydpdk._native import BufferPool
from pydpdk.pipeline import Impairment, Pipeline
p, r, bad, good = (float(x) for x in sys.argv[1:5])
pool = BufferPool(8192)
a, b = AfPacketPort("la", pool), AfPacketPort("lb", pool)
a.start(); b.start()
pipe = Pipeline()
pipe.add(a, Impairment(pool, ge_p=p, ge_r=r, ge_loss_bad=bad, ge_loss_good=good, seed=1), sink=b)
pipe.add(b, Impairment(pool, ge_p=p, ge_r=r, ge_loss_bad=bad, ge_loss_good=good, seed=2), sink=a)
signal.signal(signal.SIGTERM, lambda *_: pipe.request_stop())
print("ready", flush=True)
pipe.run()
"""


@contextlib.contextmanager
def ge_loss(topo: Topology) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(
        ["ip", "netns", "exec", topo.lk, sys.executable, "-c", GE_LINK,
         str(GE["p"]), str(GE["r"]), str(GE["bad"]), str(GE["good"])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"GE link did not start: {proc.communicate(timeout=10)[1]}")
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> str:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out or ""


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user + system, system) CPU time of a process and its reaped children, s.

    The system part is the kernel's work done in the process's context: on
    veths that includes the receiving side's delivery of every frame the
    process sends, which no user-space gateway can avoid."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = [int(x) for x in fields[11:15]]      # utime stime cutime cstime
    hz = os.sysconf("SC_CLK_TCK")
    return sum(ticks) / hz, (ticks[1] + ticks[3]) / hz


# ------------------------------------------------------------ contenders ----

def pydpdk_cmd(ns: str, peer: list[str]) -> list[str]:
    return ["ip", "netns", "exec", ns, sys.executable, "-m", "pydpdk.cli", "fec", "tunnel",
            "--", "--backend", "native", "--local", "afpacket:lan", *peer,
            "-k", str(K), "-m", str(M), "--deadline-ms", str(DEADLINE_MS), "--json"]


def pydpdk_has_udp_transport() -> bool:
    out = subprocess.run([sys.executable, "-m", "pydpdk.cli", "fec", "tunnel", "--", "--help"],
                         capture_output=True, text=True).stdout
    return "udp:" in out


class Contender:
    """Sets a topology up for one contender, runs its gateways, says where
    the sender must send."""

    name = ""
    tcp = True

    def __init__(self, topo: Topology, speederv2: str | None) -> None:
        self.topo = topo
        self.speederv2 = speederv2
        self.procs: list[subprocess.Popen] = []

    def dst(self) -> tuple[str, int]:
        return HOST_B, DST_PORT

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        for p in self.procs:
            stop(p)
        self.procs = []

    def gateway_pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def _spawn(self, cmds: list[list[str]]) -> None:
        for cmd in cmds:
            self.procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                               stderr=subprocess.PIPE, text=True))
        time.sleep(1.5)
        for p in self.procs:
            if p.poll() is not None:
                raise RuntimeError(f"{self.name} gateway died: {p.communicate()[1][-2000:]}")


class NoFec(Contender):
    name = "nofec"

    def start(self) -> None:
        self.topo.gateway_ips(lan=False, wan=False)
        for ns in (self.topo.ga, self.topo.gb):
            self.topo.bridge(ns, "lan", "wan")

    def stop(self) -> None:
        for ns in (self.topo.ga, self.topo.gb):
            self.topo.unbridge(ns)


class PydpdkEther(Contender):
    name = "pydpdk-ether"

    def start(self) -> None:
        self.topo.gateway_ips(lan=False, wan=False)
        self._spawn([pydpdk_cmd(ns, ["--peer", "afpacket:wan", "--encap", "ether"])
                     for ns in (self.topo.ga, self.topo.gb)])


class PydpdkUdp(Contender):
    name = "pydpdk-udp"

    def start(self) -> None:
        self.topo.gateway_ips(lan=False, wan=True)
        self._spawn([
            pydpdk_cmd(self.topo.ga, ["--peer", f"udp:{WAN_B}:4790", "--bind", f"{WAN_A}:4790"]),
            pydpdk_cmd(self.topo.gb, ["--peer", f"udp:{WAN_A}:4790", "--bind", f"{WAN_B}:4790"]),
        ])


class UdpSpeeder(Contender):
    name = "udpspeeder"
    tcp = False        # a UDP-only tunnel: iperf3's TCP stream cannot cross it

    def dst(self) -> tuple[str, int]:
        return GWLAN_A, SPEEDER_PORT_A

    def start(self) -> None:
        assert self.speederv2
        self.topo.gateway_ips(lan=True, wan=True)
        common = ["-f", f"{K}:{M}", "--timeout", str(DEADLINE_MS), "--sock-buf", "10240",
                  "--disable-obscure", "1", "--log-level", "1"]
        self._spawn([
            ["ip", "netns", "exec", self.topo.ga, self.speederv2, "-c",
             "-l", f"{GWLAN_A}:{SPEEDER_PORT_A}", "-r", f"{WAN_B}:{SPEEDER_PORT_B}", *common],
            ["ip", "netns", "exec", self.topo.gb, self.speederv2, "-s",
             "-l", f"{WAN_B}:{SPEEDER_PORT_B}", "-r", f"{HOST_B}:{DST_PORT}", *common],
        ])


# ------------------------------------------------------------ measuring ----

def measure_udp(topo: Topology, cont: Contender, rate: float, seconds: float,
                run_id: int) -> dict:
    dst, port = cont.dst()
    recv = subprocess.Popen(
        ["ip", "netns", "exec", topo.hb, sys.executable, __file__, "--role", "recv",
         "--port", str(DST_PORT), "--seconds", str(seconds + 2.0), "--run-id", str(run_id)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert recv.stdout is not None
    recv.stdout.readline()                       # ready
    pids = cont.gateway_pids()
    cpu0 = [cpu_seconds(p) for p in pids]
    send = subprocess.run(
        ["ip", "netns", "exec", topo.ha, sys.executable, __file__, "--role", "send",
         "--dst", dst, "--port", str(port), "--rate", str(rate), "--seconds", str(seconds),
         "--run-id", str(run_id)], capture_output=True, text=True, timeout=seconds + 60)
    out, err = recv.communicate(timeout=seconds + 60)
    cpu1 = [cpu_seconds(p) for p in pids]
    s = json.loads(send.stdout.strip().splitlines()[-1])
    r = json.loads(out.strip().splitlines()[-1])
    delivered = r["received"]
    cpu = [b[0] - a[0] for a, b in zip(cpu0, cpu1)]
    sys_cpu = [b[1] - a[1] for a, b in zip(cpu0, cpu1)]
    return {
        "offered_pps": s["sent"] / s["seconds"],
        "delivered_pps": delivered / s["seconds"],
        "residual_loss": 1.0 - delivered / s["sent"] if s["sent"] else None,
        "duplicates": r["duplicates"],
        "gateway_cpu_s": cpu,
        "cpu_us_per_pkt": [c / delivered * 1e6 for c in cpu] if delivered else None,
        "sys_us_per_pkt": [c / delivered * 1e6 for c in sys_cpu] if delivered else None,
    }


def measure_tcp(topo: Topology, seconds: float) -> float | None:
    """One iperf3 TCP stream host_a -> host_b, Mbit/s (received)."""
    if shutil.which("iperf3") is None:
        return None
    server = subprocess.Popen(["ip", "netns", "exec", topo.hb, "iperf3", "-s", "-1",
                               "-B", HOST_B], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        out = subprocess.run(["ip", "netns", "exec", topo.ha, "iperf3", "-c", HOST_B, "-J",
                              "-t", str(seconds), "--connect-timeout", "5000"],
                             capture_output=True, text=True, timeout=seconds + 60).stdout
        try:
            end = json.loads(out)["end"]
            return end["sum_received"]["bits_per_second"] / 1e6
        except (ValueError, KeyError):
            return None
    finally:
        stop(server)


def prediction(loss_model: str) -> float:
    from pydpdk import analysis

    if loss_model == "random":
        return analysis.residual_loss_random(LOSS_PER_MILLE / 1000, K, M)
    ge = analysis.GilbertElliott(p=GE["p"], r=GE["r"], loss_good=GE["good"],
                                 loss_bad=GE["bad"])
    return analysis.residual_loss_gilbert_elliott(ge, K, M)


def run(args: argparse.Namespace) -> dict:
    classes: list[type[Contender]] = [NoFec, PydpdkEther]
    notes = []
    if pydpdk_has_udp_transport():
        classes.append(PydpdkUdp)
    else:
        notes.append("pydpdk-udp: this build's fec tunnel has no udp: transport")
    if args.speederv2 and os.access(args.speederv2, os.X_OK):
        classes.append(UdpSpeeder)
    else:
        notes.append("udpspeeder: no speederv2 binary given (--speederv2 PATH)")
    if args.contenders:
        wanted = set(args.contenders.split(","))
        classes = [c for c in classes if c.name in wanted]
    results: dict = {"machine": machine(), "k": K, "m": M, "payload": PAYLOAD,
                     "deadline_ms": DEADLINE_MS, "notes": notes, "loss": {}}
    run_id = 1
    for loss_model in args.loss:
        raw: dict[str, dict[float, list[dict]]] = {c.name: {r: [] for r in args.rates}
                                                   for c in classes}
        tcp: dict[str, list[float]] = {c.name: [] for c in classes if c.tcp}
        for rnd in range(args.repeat):
            order = classes[rnd % len(classes):] + classes[:rnd % len(classes)]
            for cls in order:
                with Topology(f"{rnd}") as topo:
                    loss_cm = (random_loss(topo, LOSS_PER_MILLE) if loss_model == "random"
                               else ge_loss(topo))
                    with loss_cm:
                        cont = cls(topo, args.speederv2)
                        cont.start()
                        try:
                            time.sleep(0.5)
                            for rate in args.rates:
                                run_id += 1
                                res = measure_udp(topo, cont, rate, args.duration, run_id)
                                raw[cls.name][rate].append(res)
                                print(f"  {loss_model} round {rnd + 1} {cls.name:13s} "
                                      f"{rate:>7.0f} pps: delivered {res['delivered_pps']:8.0f}"
                                      f" residual {res['residual_loss']:.2e}", file=sys.stderr)
                            if args.tcp and cls.tcp:
                                mbps = measure_tcp(topo, args.duration)
                                if mbps is not None:
                                    tcp[cls.name].append(mbps)
                        finally:
                            cont.stop()
        pred = prediction(loss_model)
        summary: dict = {"prediction": pred, "contenders": {}}
        for name, by_rate in raw.items():
            rows = {}
            clean = None
            for rate, runs in by_rate.items():
                if not runs:
                    continue
                row = {key: summarize([r[key] for r in runs])
                       for key in ("offered_pps", "delivered_pps", "residual_loss")}
                cpu = [sum(r["cpu_us_per_pkt"]) for r in runs if r["cpu_us_per_pkt"]]
                row["cpu_us_per_pkt_both_gateways"] = summarize(cpu) if cpu and any(cpu) else None
                kcpu = [sum(r["sys_us_per_pkt"]) for r in runs if r.get("sys_us_per_pkt")]
                row["sys_us_per_pkt_both_gateways"] = (summarize(kcpu) if kcpu and any(cpu)
                                                       else None)
                row["duplicates"] = sum(r["duplicates"] for r in runs)
                rows[str(rate)] = row
                if (row["residual_loss"]["median"] <= 1.2 * pred
                        and row["delivered_pps"]["median"] >= 0.9 * rate):
                    clean = rate
            summary["contenders"][name] = {
                "rates": rows, "highest_clean_rate": clean,
                "tcp_mbps": summarize(tcp[name]) if tcp.get(name) else None}
        results["loss"][loss_model] = summary
    return results


def table(results: dict) -> str:
    lines = []
    for loss_model, summary in results["loss"].items():
        lines.append(f"\n{loss_model} loss, RS({results['k']},{results['m']}), "
                     f"{results['payload']} B; MDS prediction {summary['prediction']:.2e}")
        lines.append(f"{'contender':14s} {'rate':>7s} {'delivered':>10s} {'residual':>9s} "
                     f"{'(min-max)':>19s} {'CPU us/pkt':>11s} {'of it kernel':>12s}")
        for name, c in summary["contenders"].items():
            for rate, row in c["rates"].items():
                res = row["residual_loss"]
                cpu = row["cpu_us_per_pkt_both_gateways"]
                kcpu = row.get("sys_us_per_pkt_both_gateways")
                lines.append(
                    f"{name:14s} {float(rate):7.0f} {row['delivered_pps']['median']:10.0f} "
                    f"{res['median']:9.2e} ({res['min']:.1e}-{res['max']:.1e}) "
                    f"{cpu['median'] if cpu else float('nan'):11.2f} "
                    f"{kcpu['median'] if kcpu else float('nan'):12.2f}")
            tcp = c["tcp_mbps"]
            lines.append(f"{name:14s} highest clean rate: {c['highest_clean_rate']}; "
                         f"TCP: {tcp['median']:.0f} Mbit/s" if tcp else
                         f"{name:14s} highest clean rate: {c['highest_clean_rate']}")
    for note in results["notes"]:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--role", choices=["send", "recv"], help=argparse.SUPPRESS)
    ap.add_argument("--dst", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--run-id", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--speederv2", help="path of UDPspeeder's speederv2 binary")
    ap.add_argument("--repeat", type=int, default=5, help="interleaved rounds (5)")
    ap.add_argument("--duration", type=float, default=2.0, help="seconds per rate (2)")
    ap.add_argument("--rates", default="5000,10000,20000,30000,50000,80000",
                    help="offered datagrams/s, comma-separated")
    ap.add_argument("--loss", default="random,ge", help="loss models: random, ge")
    ap.add_argument("--tcp", action="store_true", help="add an iperf3 TCP stream")
    ap.add_argument("--contenders", default="",
                    help="only these, comma-separated (nofec, pydpdk-ether, pydpdk-udp, "
                         "udpspeeder; default: all)")
    ap.add_argument("--output", default=str(HERE / "results" / "tunnel.json"))
    args = ap.parse_args()
    if args.role == "send":
        print(json.dumps(role_send(args.dst, args.port, args.rate, args.seconds, args.run_id)))
        return
    if args.role == "recv":
        print(json.dumps(role_recv(args.port, args.seconds, args.run_id)))
        return
    if os.geteuid() != 0:
        sys.exit("bench/tunnel.py needs root (network namespaces)")
    args.rates = [float(x) for x in args.rates.split(",")]
    args.loss = [x.strip() for x in args.loss.split(",")]
    results = run(args)
    print(table(results))
    print(f"\nJSON: {write_json(args.output, results)}")


if __name__ == "__main__":
    main()
