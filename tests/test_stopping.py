"""Runs stop cleanly whatever ends them, and port faults surface (regression tests).

The cases of issue 10 as users hit them: ``pydpdk demo | head -1``, an
exception in a progress callback, two quick Ctrl-C on a gateway, Ctrl-C
while joining a background pipeline, an interface deleted (or its link
taken down) under a running ``fec tunnel`` on both backends.  Each checks
the exit status, the one-line message and that every buffer went back.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time

import netns
import pytest
from conftest import requires_dpdk

from pydpdk import backend

BACKENDS = [b for b, why in backend.available().items() if why is None]


def cli(*args: str, ns: str | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "pydpdk.cli", *args]
    return ["ip", "netns", "exec", ns, *cmd] if ns else cmd


class Lines:
    """The lines of a process's stream, read by a thread (so waits can time out)."""

    def __init__(self, stream) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream) -> None:
        with stream:
            for line in stream:
                self.queue.put(line)
        self.queue.put("")

    def wait_for(self, needle: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = ""
            if not line:
                raise AssertionError(f"{needle!r} never came; got "
                                     f"{''.join(self.seen)[-2000:]}")
            self.seen.append(line)
            if needle in line:
                return

    def rest(self, timeout: float = 60.0) -> str:
        while True:
            line = self.queue.get(timeout=timeout)
            if not line:
                return "".join(self.seen)
            self.seen.append(line)


# --------------------------------------------------------------------------
# stdout closed under the run
# --------------------------------------------------------------------------

@pytest.mark.parametrize("which", BACKENDS)
def test_demo_into_head_stops_quietly_with_141(which):
    # `pydpdk demo | head -1`: head reads one line and goes away.
    proc = subprocess.Popen(cli("demo", "--backend", which, "--duration", "30"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    proc.stdout.close()
    started = time.monotonic()
    _, err = proc.communicate(timeout=60)
    assert first.startswith("pydpdk demo:")
    # 141 = 128 + SIGPIPE, what a shell reports for a tool killed by it.
    assert proc.returncode == 141, err
    assert err == "", err                    # no traceback, no PoolError, no DPDK dump
    assert time.monotonic() - started < 20


# --------------------------------------------------------------------------
# an exception in the caller's callback
# --------------------------------------------------------------------------

@pytest.mark.parametrize("which", BACKENDS)
def test_exception_in_progress_callback_is_the_error_raised(which, request):
    from pydpdk.demo import DemoConfig, run_demo

    if which == "dpdk":
        request.getfixturevalue("eal")        # the session's EAL: the demo uses it
    calls = []

    def progress(snapshot):
        calls.append(snapshot)
        raise ZeroDivisionError("progress callback failed")

    with pytest.raises(ZeroDivisionError, match="progress callback failed") as info:
        run_demo(DemoConfig(backend=which, duration=30), on_progress=progress,
                 progress_interval=0.1)
    # The callback's own error, not one from tearing down under a running
    # loop (PortError "in use", PoolError "buffers in use").
    assert info.value.__context__ is None and info.value.__cause__ is None
    assert len(calls) == 1
    # Nothing was left running or held: the same demo runs again at once.
    again = run_demo(DemoConfig(backend=which, duration=0.3))
    assert again["buffers_leaked"] == 0 and again["offered"] > 0


def test_ctrl_c_while_joining_stops_the_loop_first():
    from pydpdk._native import BufferPool
    from pydpdk.pipeline import Discard, FecEncodeStage, Generator, Pipeline

    pool = BufferPool(4096)
    pipe = Pipeline().add(Generator(pool, sizes=(256,)), FecEncodeStage(pool, k=4, m=2),
                          sink=Discard(pool))
    pipe.start()
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        pipe.join()                           # no timeout: only Ctrl-C ends it
    # The loop had ended before the interrupt reached us: nothing runs and
    # every buffer is back, so the pool closes.
    assert not pipe.running
    assert pool.in_use == 0
    pool.close()


def test_pipeline_as_context_manager_joins_on_error():
    from pydpdk._native import BufferPool
    from pydpdk.pipeline import Discard, Generator, Pipeline

    pool = BufferPool(4096)
    with pytest.raises(RuntimeError, match="caller failed"):
        with Pipeline() as pipe:
            pipe.add(Generator(pool, sizes=(128,)), sink=Discard(pool))
            pipe.start()
            time.sleep(0.05)
            raise RuntimeError("caller failed")
    assert not pipe.running and pool.in_use == 0
    pool.close()


def test_stop_right_after_start_is_not_lost():
    from pydpdk._native import BufferPool
    from pydpdk.pipeline import Discard, Generator, Pipeline

    pool = BufferPool(4096)
    for _ in range(20):
        pipe = Pipeline().add(Generator(pool, sizes=(128,)), sink=Discard(pool))
        pipe.start()
        result = pipe.stop(timeout=10)
        assert result is not None and result["stopped_by"] == "stopped"
    assert pool.in_use == 0
    pool.close()


# --------------------------------------------------------------------------
# repeated Ctrl-C on a gateway
# --------------------------------------------------------------------------

@requires_dpdk
@pytest.mark.parametrize("mode", ["tunnel", "encode"])
@pytest.mark.parametrize("gap", [0.0, 0.02, 0.2])
def test_double_ctrl_c_on_a_busy_dpdk_gateway(mode, gap):
    ports = ["--local", "0", "--peer", "1"] if mode == "tunnel" else ["--in", "0", "--out", "1"]
    proc = subprocess.Popen(cli("fec", mode, "--vdev=net_null0", "--vdev=net_null1", "--",
                                *ports, "--stats-interval", "0.2"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outs, errs = Lines(proc.stdout), Lines(proc.stderr)
    try:
        errs.wait_for("fec-encode")              # progress: traffic is flowing
        proc.send_signal(signal.SIGINT)
        time.sleep(gap)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out, err = outs.rest(), errs.rest()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "not ready" not in err
    # a leak would be reported here (and exit 1)
    assert err.strip().splitlines()[-1] == f"pydpdk fec {mode}: stopped by SIGINT"
    assert "stopped by SIGINT" in out.splitlines()[0]
    assert "chain0.fec-encode: packets_in" in out


# --------------------------------------------------------------------------
# faults: link down and up, interface deleted
# --------------------------------------------------------------------------

@pytest.fixture
def gateway_ns():
    netns.require_netns()
    with netns.netns("pdstop") as ns:
        for a, b in (("lan", "lanp"), ("wan", "wanp")):
            netns._run("ip", "-n", ns, "link", "add", a, "type", "veth", "peer", "name", b)
            for ifname in (a, b):
                netns._run("ip", "-n", ns, "link", "set", ifname, "up")
        yield ns


def tunnel_cmd(which: str, ns: str) -> list[str]:
    if which == "dpdk":
        return cli("fec", "tunnel", "--vdev=net_af_packet0,iface=lan",
                   "--vdev=net_af_packet1,iface=wan", "--", "--backend", "dpdk",
                   "--local", "0", "--peer", "1", "--stats-interval", "0.2", ns=ns)
    return cli("fec", "tunnel", "--", "--backend", "native", "--local", "afpacket:lan",
               "--peer", "afpacket:wan", "--stats-interval", "0.2", ns=ns)


@pytest.mark.parametrize("which", BACKENDS)
def test_link_down_is_reported_and_the_tunnel_goes_on(which, gateway_ns):
    proc = subprocess.Popen(tunnel_cmd(which, gateway_ns), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        outs, errs = Lines(proc.stdout), Lines(proc.stderr)
        errs.wait_for("fec-encode")
        netns._run("ip", "-n", gateway_ns, "link", "set", "wanp", "down")   # carrier lost
        errs.wait_for("link of the peer port", timeout=10)
        assert errs.seen[-1].rstrip().endswith("is down")
        netns._run("ip", "-n", gateway_ns, "link", "set", "wanp", "up")
        errs.wait_for("is up", timeout=10)
        assert proc.poll() is None             # link down is not fatal
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = errs.rest()
    outs.rest()
    assert proc.returncode == 143, err
    assert "Traceback" not in err


@pytest.mark.parametrize("which", BACKENDS)
def test_deleted_interface_stops_the_tunnel_with_an_error(which, gateway_ns):
    proc = subprocess.Popen(tunnel_cmd(which, gateway_ns), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        outs, errs = Lines(proc.stdout), Lines(proc.stderr)
        errs.wait_for("fec-encode")
        netns._run("ip", "-n", gateway_ns, "link", "del", "lan")
        deleted = time.monotonic()
        proc.wait(timeout=30)
        took = time.monotonic() - deleted
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out, err = outs.rest(), errs.rest()
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("pydpdk fec tunnel:") and "is gone" in last, err
    assert "stopped by port fault" in out
    assert took < 10                           # noticed within ~100 ms; teardown included


def test_pipeline_run_raises_port_error_when_its_interface_is_deleted():
    pytest.importorskip("pydpdk._native", reason="no native AF_PACKET backend")
    import errno

    from pydpdk._native import BufferPool
    from pydpdk.afpacket import AfPacketPort
    from pydpdk.errors import PortError
    from pydpdk.pipeline import Discard, FecEncodeStage, Pipeline

    netns.require_netns()
    pool = BufferPool(4096)
    with netns.veth_pair() as veth:
        with netns.inside(veth.b):
            port = AfPacketPort(veth.if_b, pool)
        with port:
            port.start()
            pipe = Pipeline().add(port, FecEncodeStage(pool, k=4, m=2), sink=Discard(pool))
            timer = threading.Timer(0.3, netns.ns_exec, (veth.a, "ip", "link", "del", veth.if_a))
            timer.start()
            started = time.monotonic()
            with pytest.raises(PortError, match="is gone") as info:
                pipe.run(duration=30)
            timer.join()
            assert time.monotonic() - started < 10
            assert info.value.errno == errno.ENODEV
            assert info.value.result["stopped_by"] == "port-fault"
            rx = pipe.counters()["chain0." + pipe.elements[0][0].name]
            assert rx["link_up"] == 0 and rx["link_errno"] == errno.ENODEV
    assert pool.in_use == 0
    pool.close()


def test_gateway_counts_buffers_not_back_in_the_pool(tmp_path):
    # What the CLI reports as leaked (exit 1): buffers in use once the ports
    # are closed, counted before the pool is closed.
    pytest.importorskip("pydpdk.pcap", reason="no pcap backend")
    from pydpdk.errors import PydpdkError
    from pydpdk.gateway import GatewayConfig, open_ports

    cfg = GatewayConfig(mode="encode", backend="native",
                        ports={"in": f"pcap:tx={tmp_path / 'a.pcap'}",
                               "out": f"pcap:tx={tmp_path / 'b.pcap'}"})
    leaks: list[int] = []
    kept = []
    try:
        with open_ports(cfg, leaks) as (_backend, pool, _ports):
            kept.append(pool.alloc_burst(3, 60))
    except PydpdkError:
        pass                     # a pool may refuse to close while buffers are out
    assert leaks == [3]
    kept[0].free()
    leaks.clear()
    with open_ports(cfg, leaks):
        pass
    assert leaks == [0]
