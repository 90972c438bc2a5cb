#!/usr/bin/env python3
"""AF_PACKET receive and transmit rates over a veth pair, side by side.

    sudo .venv/bin/python bench/afpacket.py [--duration 2] [--repeat 3] [--sizes 64,1400]

Creates two network namespaces joined by a veth pair (removed at the end)
and measures, for each frame size, in one run:

* rx: frames/s received on one core by pydpdk's AfPacketPort (TPACKET_V3,
  Python loop of rx_burst(256) + free; copy mode "pydpdk" and zero-copy
  mode "pydpdk-zc"), by a plain Python
  ``socket.recv_into`` loop, and by DPDK's net_af_packet PMD (dpdk-testpmd
  --forward-mode=rxonly), each while pydpdk's AfPacketPort sends
  as fast as it can from the other namespace, every frame carried
  --amplify times (an nftables ``dup`` on the sender's side), so that the
  offered load is more than the slower receivers can take;
* rx-rps: the same with the sender pinned to CPU 0, the receiver to CPU 1
  and the kernel's receive processing steered (RPS) to CPU 1, where a NIC's
  interrupt would put it, instead of running on the sender's core;
* rx-drain: the receiver's own cost, draining frames queued beforehand;
* tx: frames/s sent on one core by AfPacketPort (TX ring and sendmmsg), by
  a plain Python ``socket.send`` loop and by dpdk-testpmd txonly, counted
  by the peer interface's rx_packets (what really crossed the veth).

Each measurement is a window of --duration seconds after a warm-up; the
median of --repeat runs is reported with the min-max spread and ratios,
and with the share of the measured side's CPU time spent in the kernel.
Results: a table on stdout and JSON in bench/results/afpacket.json.  A
benchmark, not a test: it never fails on timing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _stats import summarize  # noqa: E402

WARMUP = 0.5
ETH_P_ALL = 0x0003


def frame_bytes(size: int) -> bytes:
    head = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x88\xb5"
    return head + bytes(size - len(head))


# ---------------------------------------------------------------- roles ----
# Each role runs in its own process inside a namespace (ip netns exec) and
# prints one JSON line: packets counted in its measuring window, the
# window's length, and the CPU time the role spent in user space and in the
# kernel during it (where the time goes says which side is the limit).

def rx_packets(ifname: str) -> int:
    """Frames the interface took in (on a veth: every frame the peer sent
    that entered this side's receive path, whatever happened to it next)."""
    return int(Path(f"/sys/class/net/{ifname}/statistics/rx_packets").read_text())


class Window:
    """A role's measuring window: it opens WARMUP seconds after creation and
    lasts *seconds*; counts packets and the process's CPU time inside it,
    and for a receiver (*ifname*) the frames its interface took in meanwhile."""

    def __init__(self, seconds: float, ifname: str | None = None) -> None:
        self.now = time.perf_counter()
        self.mark = self.now + WARMUP
        self.end = self.mark + seconds
        self.count = 0
        self.at_mark: int | None = None
        self.cpu_at_mark = os.times()
        self.ifname = ifname
        self.arrived_at_mark = 0

    def open(self) -> bool:
        return self.now < self.end

    def add(self, packets: int) -> None:
        self.count += packets
        self.now = time.perf_counter()
        if self.at_mark is None and self.now >= self.mark:
            self.at_mark, self.mark, self.cpu_at_mark = self.count, self.now, os.times()
            if self.ifname:
                self.arrived_at_mark = rx_packets(self.ifname)

    def stop(self) -> None:
        self.now = time.perf_counter()

    def result(self, **extra: object) -> dict:
        cpu = os.times()
        res = {"packets": self.count - (self.at_mark or 0), "window": self.now - self.mark,
               "user_s": cpu.user - self.cpu_at_mark.user,
               "sys_s": cpu.system - self.cpu_at_mark.system, **extra}
        if self.ifname:
            res["arrived"] = rx_packets(self.ifname) - self.arrived_at_mark
        return res


def role_send_pydpdk(ifname: str, size: int, seconds: float, tx_mode: str,
                     count: int = 0, qdisc_bypass: bool = True) -> dict:
    from pydpdk._native import AfPacketPort, BufferPool

    pool = BufferPool(capacity=4096, data_room=2048)
    header = frame_bytes(size)[:14]
    import numpy as np

    hdr = np.frombuffer(header, dtype=np.uint8)
    with AfPacketPort(ifname, pool, tx_mode=tx_mode, qdisc_bypass=qdisc_bypass) as port:
        port.start()
        print(json.dumps({"ready": True}), flush=True)
        t0 = time.perf_counter()
        win = Window(seconds)
        while win.open() and not (count and win.count >= count):
            burst = pool.alloc_burst(min(256, count - win.count) if count else 256, size)
            with burst.headers(14) as h:
                h[:] = hdr
            sent = port.tx_burst(burst)
            burst.free()
            win.add(sent)
        if count:  # fill mode (rx-drain): every frame counts, warm-up included
            return {"packets": win.count, "window": win.now - t0}
        return win.result(stats=port.stats())


def role_send_socket(ifname: str, size: int, seconds: float) -> dict:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((ifname, 0))
    frame = frame_bytes(size)
    print(json.dumps({"ready": True}), flush=True)
    win = Window(seconds)
    send = s.send
    while win.open():
        sent = 0
        for _ in range(256):
            try:
                send(frame)
                sent += 1
            except BlockingIOError:
                pass
        win.add(sent)
    return win.result()


def rx_port(ifname: str, zero_copy: bool, **ring: int):
    """The receiving AfPacketPort: copy mode (own BufferPool) or zero copy."""
    from pydpdk._native import AfPacketPort, BufferPool

    if zero_copy:
        return AfPacketPort(ifname, zero_copy=True, **ring)
    return AfPacketPort(ifname, BufferPool(capacity=4096, data_room=2048), **ring)


def role_recv_pydpdk(ifname: str, seconds: float, zero_copy: bool = False) -> dict:
    with rx_port(ifname, zero_copy) as port:
        port.start()
        print(json.dumps({"ready": True}), flush=True)
        if not port.wait(0, 10.0):
            return {"packets": 0, "window": 0.0, "error": "nothing received"}
        win = Window(seconds, ifname)
        rx = port.rx_burst
        while win.open():
            burst = rx(0, 256)
            n = len(burst)
            burst.free()
            win.add(n)
        return win.result(drops=port.stats()["imissed"])


def role_recv_socket(ifname: str, seconds: float) -> dict:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((ifname, 0))
    s.settimeout(10.0)
    buf = bytearray(2048)
    print(json.dumps({"ready": True}), flush=True)
    s.recv_into(buf)
    s.settimeout(0.5)
    win = Window(seconds, ifname)
    recv_into = s.recv_into
    try:
        while win.open():
            for _ in range(256):
                recv_into(buf)
            win.add(256)
    except TimeoutError:
        win.stop()
    _, drops = struct.unpack("II", s.getsockopt(263, 6, 8))  # PACKET_STATISTICS
    return win.result(drops=drops)

def role_drain_pydpdk(ifname: str, count: int, zero_copy: bool = False) -> dict:
    """Receive cost alone: wait (stdin line) until *count* frames sit in a
    large ring, then time draining them."""
    # Long block timeout: blocks fill up instead of retiring every
    # millisecond half-empty, so the ring holds every frame.
    with rx_port(ifname, zero_copy, block_size=1 << 20, block_count=96,
                 block_timeout_ms=100) as port:
        port.start()
        print(json.dumps({"ready": True}), flush=True)
        sys.stdin.readline()
        time.sleep(0.3)  # the last partial block retires after 100 ms
        got, rx = 0, port.rx_burst
        t0 = time.perf_counter()
        while got < count:
            burst = rx(0, 256)
            n = len(burst)
            burst.free()
            if n == 0:
                break
            got += n
        t1 = time.perf_counter()
        st = port.stats()
        return {"packets": got, "window": t1 - t0, "drops": st["imissed"]}


def role_drain_socket(ifname: str, count: int) -> dict:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, 33, 1 << 30)  # SO_RCVBUFFORCE: hold every frame
    s.bind((ifname, 0))
    buf = bytearray(2048)
    print(json.dumps({"ready": True}), flush=True)
    sys.stdin.readline()
    time.sleep(0.2)
    s.setblocking(False)
    got, recv_into = 0, s.recv_into
    t0 = time.perf_counter()
    try:
        while got < count:
            recv_into(buf)
            got += 1
    except BlockingIOError:
        pass
    t1 = time.perf_counter()
    # struct tpacket_stats {tp_packets, tp_drops} (SOL_PACKET, PACKET_STATISTICS)
    _, drops = struct.unpack("II", s.getsockopt(263, 6, 8))
    return {"packets": got, "window": t1 - t0, "drops": drops}


ROLES = {
    "send-pydpdk": lambda a: role_send_pydpdk(a.ifname, a.size, a.duration, a.tx_mode,
                                              a.count, not a.through_egress_hook),
    "drain-pydpdk": lambda a: role_drain_pydpdk(a.ifname, a.count),
    "drain-pydpdk-zc": lambda a: role_drain_pydpdk(a.ifname, a.count, zero_copy=True),
    "drain-socket": lambda a: role_drain_socket(a.ifname, a.count),
    "send-socket": lambda a: role_send_socket(a.ifname, a.size, a.duration),
    "recv-pydpdk": lambda a: role_recv_pydpdk(a.ifname, a.duration),
    "recv-pydpdk-zc": lambda a: role_recv_pydpdk(a.ifname, a.duration, zero_copy=True),
    "recv-socket": lambda a: role_recv_socket(a.ifname, a.duration),
}


# --------------------------------------------------------- orchestration ---

def sh(*args: str, check: bool = True) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=check).stdout


class Veth:
    """Two namespaces joined by a veth pair; ``close()`` removes them."""

    def __init__(self) -> None:
        tag = os.getpid() % 100000
        self.ns = (f"pdbench{tag}a", f"pdbench{tag}b")
        self.ifs = ("pdb0", "pdb1")
        for ns in self.ns:
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            for key in ("all", "default"):
                sh("ip", "netns", "exec", ns, "sysctl", "-qw",
                   f"net.ipv6.conf.{key}.disable_ipv6=1", check=False)
        sh("ip", "-n", self.ns[0], "link", "add", self.ifs[0], "type", "veth", "peer", "name",
           self.ifs[1], "netns", self.ns[1])
        for ns, ifname in zip(self.ns, self.ifs):
            sh("ip", "-n", ns, "link", "set", ifname, "up")

    def amplify(self, side: int, factor: int) -> None:
        """Send *factor* copies of every frame leaving *side*: nftables
        ``dup`` in a netdev egress chain (clones marked 2 pass untouched, so
        copies are not copied again).  factor 1 removes the chain."""
        ns, dev = self.ns[side], self.ifs[side]
        sh("ip", "netns", "exec", ns, "nft", "delete table netdev pdbench_amplify",
           check=False)
        if factor <= 1:
            return
        cmds = ["add table netdev pdbench_amplify",
                "add chain netdev pdbench_amplify out "
                f'{{ type filter hook egress device "{dev}" priority 0 ; }}',
                "add rule netdev pdbench_amplify out meta mark 2 accept"]
        cmds += [f'add rule netdev pdbench_amplify out meta mark set 2 dup to "{dev}" '
                 "meta mark set 0"] * (factor - 1)
        for cmd in cmds:
            sh("ip", "netns", "exec", ns, "nft", cmd)

    def set_rps(self, side: int, cpu: int | None) -> None:
        """Receive Packet Steering: run the kernel's receive processing for
        frames arriving on *side* on *cpu* (None: where they were sent)."""
        mask = 0 if cpu is None else 1 << cpu
        sh("ip", "netns", "exec", self.ns[side], "sh", "-c",
           f"echo {mask:x} > /sys/class/net/{self.ifs[side]}/queues/rx-0/rps_cpus")

    def rx_packets(self, side: int) -> int:
        return int(sh("ip", "netns", "exec", self.ns[side], "cat",
                      f"/sys/class/net/{self.ifs[side]}/statistics/rx_packets"))

    def arrival_rate(self, side: int, seconds: float) -> float:
        """Frames/s arriving on *side* over the next *seconds*."""
        c0, t0 = self.rx_packets(side), time.perf_counter()
        time.sleep(seconds)
        return (self.rx_packets(side) - c0) / (time.perf_counter() - t0)

    def close(self) -> None:
        for ns in self.ns:
            sh("ip", "netns", "del", ns, check=False)


def start_role(ns: str, role: str, ifname: str, size: int, duration: float,
               tx_mode: str = "sendmmsg", count: int = 0,
               cpu: int | None = None, egress_hook: bool = False) -> subprocess.Popen:
    pin = [] if cpu is None else ["taskset", "-c", str(cpu)]
    cmd = pin + ["ip", "netns", "exec", ns, sys.executable, str(Path(__file__).resolve()),
           "--role", role, "--ifname", ifname, "--size", str(size),
           "--duration", str(duration), "--tx-mode", tx_mode, "--count", str(count)]
    if egress_hook:
        cmd.append("--through-egress-hook")
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.strip().startswith('{"ready"'):
        proc.kill()
        raise RuntimeError(f"{role} failed to start: {line}{proc.stderr.read()}")
    return proc


def finish_role(proc: subprocess.Popen, timeout: float) -> dict:
    out, err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"role failed ({proc.returncode}): {err[-2000:]}")
    return json.loads(out.strip().splitlines()[-1])


def testpmd(ns: str, ifname: str, mode: str, size: int, seconds: float) -> list[float]:
    """Run dpdk-testpmd on net_af_packet for a while; its per-second pps samples.
    Its forwarding lcore is CPU 1 (``-l 0,1``: CPU 0 only prints stats)."""
    exe = shutil.which("dpdk-testpmd")
    if exe is None:
        raise RuntimeError("dpdk-testpmd is not installed (Debian package dpdk)")
    cmd = ["ip", "netns", "exec", ns, exe, "--no-huge", "-m", "512", "--no-pci",
           "--file-prefix", f"pdbench{os.getpid()}", "-l", "0,1", "--log-level", "lib.*:error",
           "--vdev", f"net_af_packet0,iface={ifname},qdisc_bypass=1",
           "--", f"--forward-mode={mode}", f"--txpkts={size}", "--stats-period", "1",
           "--total-num-mbufs=16384"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(seconds)
    proc.send_signal(2)
    out, _ = proc.communicate(timeout=30)
    key = "Rx-pps" if mode == "rxonly" else "Tx-pps"
    samples = [float(v) for v in re.findall(rf"{key}:\s+(\d+)", out)]
    if not samples:
        raise RuntimeError(f"testpmd printed no {key}:\n{out[-2000:]}")
    return samples


def measure_rx(veth: Veth, receiver: str, size: int, args: argparse.Namespace,
               rps: bool = False) -> dict:
    """Receiver rate on side b while pydpdk sends from side a, each frame
    sent --amplify times (see Veth.amplify) so that the sender offers more
    than a plain Python receiver can take.  The offered rate is what arrived
    on side b's interface during the receiver's window.

    rps=False: the kernel delivers each frame into the receiving socket on
    the sending core (veth), so the receiver's core only runs the receiver.
    rps=True: sender pinned to CPU 0, receiver to CPU 1, and the kernel's
    receive processing steered to CPU 1, the receiver's core, as a NIC's
    interrupt and NAPI poll would put it."""
    duration = args.duration
    total = WARMUP + duration
    tx_cpu, rx_cpu = (0, 1) if rps else (None, None)
    hook = args.amplify > 1  # dup lives in the egress hook, which QDISC_BYPASS skips
    veth.set_rps(1, rx_cpu)
    veth.amplify(0, args.amplify)
    try:
        if receiver == "testpmd":
            sender = start_role(veth.ns[0], "send-pydpdk", veth.ifs[0], size, total + 6.0,
                                cpu=tx_cpu, egress_hook=hook)
            out: dict = {}
            t = threading.Thread(target=lambda: out.setdefault(
                "samples", testpmd(veth.ns[1], veth.ifs[1], "rxonly", size, total + 3.0)))
            t.start()
            time.sleep(1.5 + WARMUP)  # EAL init, port coming up
            offered = veth.arrival_rate(1, duration)
            t.join()
            finish_role(sender, 60)
            # Skip start-up samples (EAL init, port coming up).
            steady = [v for v in out["samples"][1:] if v > 0] or [0.0]
            res = {"packets": statistics.median(steady), "window": 1.0,
                   "arrived": offered,  # per second, like the samples
                   "drops": None}  # net_af_packet does not report ring drops
        else:
            recv = start_role(veth.ns[1], f"recv-{receiver}", veth.ifs[1], size, duration,
                              cpu=rx_cpu)
            sender = start_role(veth.ns[0], "send-pydpdk", veth.ifs[0], size, total + 1.0,
                                cpu=tx_cpu, egress_hook=hook)
            res = finish_role(recv, 60)
            finish_role(sender, 60)
            if "error" in res:
                raise RuntimeError(f"rx with {receiver}: {res['error']}")
    finally:
        veth.set_rps(1, None)
        veth.amplify(0, 1)
    window = res["window"] or float("inf")
    return {"pps": res["packets"] / window, "sender_pps": res["arrived"] / window,
            "drops": res["drops"], "kernel_share": kernel_share(res)}


def kernel_share(res: dict) -> float | None:
    """Fraction of a role's CPU time spent in the kernel (None if unknown)."""
    busy = res.get("user_s", 0.0) + res.get("sys_s", 0.0)
    return res["sys_s"] / busy if busy > 0 else None


def drain_count(size: int) -> int:
    """Frames that fit the drain ring (96 MiB) with room to spare."""
    return 150_000 if size <= 128 else 40_000


def measure_drain(veth: Veth, receiver: str, size: int, args: argparse.Namespace) -> dict:
    """Receive cost on one core with the sender out of the way: frames are
    queued first (ring / socket buffer), then drained and timed."""
    count = drain_count(size)
    recv = start_role(veth.ns[1], f"drain-{receiver}", veth.ifs[1], size, args.duration,
                      count=count)
    sender = start_role(veth.ns[0], "send-pydpdk", veth.ifs[0], size, 60.0, count=count)
    snd = finish_role(sender, 120)
    recv.stdin.write("go\n")
    recv.stdin.flush()
    res = finish_role(recv, 120)
    rate = res["packets"] / res["window"] if res["window"] else 0.0
    return {"pps": rate, "sender_pps": snd["packets"] / snd["window"],
            "received": res["packets"], "queued": count, "drops": res["drops"]}


def measure_tx(veth: Veth, sender: str, size: int, args: argparse.Namespace) -> dict:
    """Frames/s crossing the veth (peer rx_packets) while side a sends."""
    duration = args.duration
    total = WARMUP + duration
    if sender == "testpmd":
        result: dict = {}
        t = threading.Thread(target=lambda: result.setdefault(
            "samples", testpmd(veth.ns[0], veth.ifs[0], "txonly", size, total + 2.5)))
        t.start()
        time.sleep(1.5 + WARMUP)
        rate = veth.arrival_rate(1, duration)
        t.join()
        return {"pps": rate, "sender_pps": statistics.median(
            result["samples"][2:] or result["samples"])}
    role, mode = ("send-pydpdk", sender.split("-")[1]) if sender.startswith("pydpdk") \
        else ("send-socket", "sendmmsg")
    proc = start_role(veth.ns[0], role, veth.ifs[0], size, duration, tx_mode=mode)
    time.sleep(WARMUP)
    rate = veth.arrival_rate(1, duration * 0.9)
    res = finish_role(proc, 60)
    return {"pps": rate, "sender_pps": res["packets"] / res["window"],
            "kernel_share": kernel_share(res)}


RX_PEERS = ["pydpdk", "pydpdk-zc", "socket", "testpmd"]
DRAIN_PEERS = ["pydpdk", "pydpdk-zc", "socket"]
TX_PEERS = ["pydpdk-ring", "pydpdk-sendmmsg", "socket", "testpmd"]
MEASUREMENTS = {  # direction: (contenders, measuring function)
    "rx": (RX_PEERS, measure_rx),
    "rx-rps": (RX_PEERS, lambda *a: measure_rx(*a, rps=True)),
    "rx-drain": (DRAIN_PEERS, measure_drain),
    "tx": (TX_PEERS, measure_tx),
}


def run(args: argparse.Namespace) -> dict:
    if os.geteuid() != 0:
        sys.exit("needs root: it creates network namespaces and AF_PACKET sockets")
    veth = Veth()
    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                     "duration_s": args.duration, "repeat": args.repeat,
                     "amplify": args.amplify,
                     "cores": os.cpu_count(), "kernel": os.uname().release, "rows": []}
    try:
        for size in args.sizes:
            for direction, (peers, fn) in MEASUREMENTS.items():
                if direction not in args.only:
                    continue
                runs: dict[str, list[dict]] = {p: [] for p in peers}
                # Alternate peers within each repetition (noise hits all alike).
                for _ in range(args.repeat):
                    for peer in peers:
                        runs[peer].append(fn(veth, peer, size, args))
                for peer in peers:
                    row = {
                        "direction": direction, "size": size, "peer": peer,
                        "pps": summarize([r["pps"] for r in runs[peer]]),
                        "other_side_pps": summarize([r["sender_pps"] for r in runs[peer]]),
                    }
                    if direction == "rx-drain":
                        row["received_of_queued"] = [(r["received"], r["queued"], r["drops"])
                                                     for r in runs[peer]]
                    if direction.startswith("rx") and direction != "rx-drain":
                        row["receiver_drops"] = [r["drops"] for r in runs[peer]]
                    shares = [r["kernel_share"] for r in runs[peer]
                              if r.get("kernel_share") is not None]
                    if shares:
                        row["kernel_share"] = statistics.median(shares)
                    results["rows"].append(row)
    finally:
        veth.close()
    return results


def table(results: dict) -> str:
    lines = ["| dir | size | implementation | Mpps median (min-max) | other side Mpps "
             "| vs pydpdk | limit | kernel share of CPU |",
             "|---|---|---|---|---|---|---|---|"]
    base = {}
    for row in results["rows"]:
        if row["peer"] in ("pydpdk", "pydpdk-sendmmsg"):  # the defaults
            base[(row["direction"], row["size"])] = row["pps"]["median"]
    for row in results["rows"]:
        p, o = row["pps"], row["other_side_pps"]["median"]
        ref = base.get((row["direction"], row["size"]))
        ratio = f"{ref / p['median']:.2f}x" if ref and p["median"] else "-"
        if row["direction"] in ("rx", "rx-rps"):
            # The receiver limits when it took less than what arrived.
            took = p["median"] / o if o else 0.0
            limit = "sender" if took >= 0.97 else f"receiver (took {took:.0%})"
        elif row["direction"] == "rx-drain":
            limit = "receiver (alone)"
        else:
            limit = "sender"
        share = f"{row['kernel_share']:.0%}" if "kernel_share" in row else "-"
        lines.append(f"| {row['direction']} | {row['size']} | {row['peer']} | "
                     f"{p['median'] / 1e6:.3f} ({p['min'] / 1e6:.3f}-{p['max'] / 1e6:.3f}) | "
                     f"{o / 1e6:.3f} | {ratio} | {limit} | {share} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=2.0)
    ap.add_argument("--amplify", type=int, default=4,
                    help="rx, rx-rps: the veth carries each frame the sender sends this many "
                         "times (nftables dup on the sender's side; 1 = off)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sizes", default="64,1400")
    ap.add_argument("--only", default=",".join(MEASUREMENTS),
                    help=f"measurements to run (comma-separated: {', '.join(MEASUREMENTS)})")
    ap.add_argument("--output", default=str(HERE / "results" / "afpacket.json"))
    ap.add_argument("--table", metavar="JSON", help="print the table of an earlier run")
    ap.add_argument("--role", choices=sorted(ROLES), help=argparse.SUPPRESS)
    ap.add_argument("--ifname", help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, default=64, help=argparse.SUPPRESS)
    ap.add_argument("--tx-mode", default="sendmmsg", help=argparse.SUPPRESS)
    ap.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--through-egress-hook", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role:
        print(json.dumps(ROLES[args.role](args)), flush=True)
        return
    if args.table:
        print(table(json.loads(Path(args.table).read_text())))
        return
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.only = set(args.only.split(","))
    if args.only - set(MEASUREMENTS):
        ap.error(f"--only: unknown {sorted(args.only - set(MEASUREMENTS))}; "
                 f"choose from {', '.join(MEASUREMENTS)}")
    if "rx-rps" in args.only and (os.cpu_count() or 1) < 2:
        ap.error("rx-rps needs 2 CPUs (sender on CPU 0, receiver on CPU 1)")
    results = run(args)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2))
    print(table(results))
    print(f"\n{results['date']}, {results['cores']} cores, kernel {results['kernel']}; "
          f"JSON: {args.output}")


if __name__ == "__main__":
    main()
