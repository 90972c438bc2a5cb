"""SIGINT/SIGTERM at random moments to the CLI's long runs: demo and the FEC gateways.

Each run starts a real ``pydpdk`` process and sends one or two signals at
random times from process start on (interpreter start, imports, EAL init,
port setup, the run, the teardown).  Whatever the moment, the process must
end by itself with the status the signal asks for (130 SIGINT, 143
SIGTERM; 0 when the run ended before the signal), print no traceback, not
crash, and leak no buffer (the CLI exits 1 and says so when its pool is not
full at the end).  The seed is printed with every failure: set
``PYDPDK_SIGNAL_SEED`` to replay it.

Runs go four at a time; the whole file is bounded to about two minutes on
two busy cores.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

import netns
import pytest
from conftest import requires_dpdk

from pydpdk import backend

SEED = int(os.environ.get("PYDPDK_SIGNAL_SEED", random.randrange(1 << 30)))

# The console script in an installed pydpdk imports pydpdk.cli at once, and
# the module records signals from its first lines on.  An editable build
# runs a rebuild check at the first import of pydpdk, which would widen the
# window in which Python itself turns SIGINT into a KeyboardInterrupt
# traceback; so site (which installs that import hook) is loaded only after
# a recording handler is in place (the builtin _signal: `signal` imports
# enum, itself long enough to be hit), and handed over to the CLI.
LAUNCH = """
import _signal
early = []
for s in (_signal.SIGINT, _signal.SIGTERM):
    _signal.signal(s, lambda signum, frame: early.append(signum))
import sys
import site
site.main()
sys.argv[0] = "pydpdk"
import pydpdk.cli as cli
if hasattr(cli, "_early_signals"):
    cli._early_signals[:0] = early
sys.exit(cli.main(sys.argv[1:]))
"""


def command(*args: str, ns: str | None = None) -> list[str]:
    cmd = [sys.executable, "-S", "-c", LAUNCH, *args]
    return ["ip", "netns", "exec", ns, *cmd] if ns else cmd


@dataclass
class Run:
    cmd: list[str]
    signals: list[tuple[float, int]]          # (seconds after start, signal)
    proc: subprocess.Popen = field(init=False)
    started: float = 0.0
    sent: list[tuple[float, int]] = field(default_factory=list)

    @property
    def cmd_name(self) -> str:
        args = self.cmd[self.cmd.index(LAUNCH) + 1:]
        return "pydpdk " + " ".join(args[:2] if args[0] == "fec" else args[:1])

    def describe(self) -> str:
        return (f"seed {SEED}: {' '.join(self.cmd[-12:])!r}, signals planned "
                f"{self.signals}, sent {self.sent}")


def launch(runs: list[Run], timeout: float = 60.0) -> list[tuple[Run, int, str, str]]:
    """Start every run, send its signals on time, wait for all of them."""
    for run in runs:
        run.proc = subprocess.Popen(run.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
        run.started = time.monotonic()
    pending = [(run.started + at, sig, run) for run in runs for at, sig in run.signals]
    pending.sort(key=lambda item: item[0])
    for when, sig, run in pending:
        time.sleep(max(0.0, when - time.monotonic()))
        if run.proc.poll() is None:
            run.proc.send_signal(sig)
            run.sent.append((round(time.monotonic() - run.started, 3), sig))
    results = []
    for run in runs:
        try:
            out, err = run.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            run.proc.kill()
            out, err = run.proc.communicate()
            pytest.fail(f"did not stop within {timeout} s: {run.describe()}\n{err[-2000:]}")
        results.append((run, run.proc.returncode, out, err))
    return results


def check(run: Run, rc: int, out: str, err: str) -> None:
    where = f"{run.describe()}\nexit {rc}\nstderr: {err[-3000:]}"
    assert "Traceback" not in err, where
    assert "Segmentation" not in err and rc not in (-signal.SIGSEGV, -signal.SIGABRT,
                                                    -signal.SIGBUS), where
    assert "leaked" not in err and "in use" not in err, where
    sent = {sig for _at, sig in run.sent}
    if not sent:
        assert rc == 0, where                  # the run ended before any signal
    elif rc < 0:
        # Killed before the interpreter ran a line (its default action):
        # nothing was set up, nothing printed.
        assert -rc in sent and out == "" and err == "", where
    elif rc != 0:
        # Stopped by a signal: by the first one handled (two pending at
        # once, e.g. during EAL init, are handled in signal-number order).
        assert rc - 128 in sent, where
        name = signal.Signals(rc - 128).name
        assert err.strip().splitlines()[-1] == f"{run.cmd_name}: stopped by {name}", where
    # rc == 0: the run had ended and was reporting when the signals came.


def random_signals(rng: random.Random, horizon: float) -> list[tuple[float, int]]:
    sig = rng.choice((signal.SIGINT, signal.SIGTERM))
    first = rng.uniform(0.0, horizon)
    plan = [(first, sig)]
    if rng.random() < 0.5:                     # a second, quick one (impatient Ctrl-C)
        plan.append((first + rng.uniform(0.0, 0.3), rng.choice((signal.SIGINT,
                                                                signal.SIGTERM))))
    return plan


def storm(make_cmd, n: int, horizon: float, salt: str) -> None:
    rng = random.Random(f"{SEED}-{salt}")
    runs = [Run(make_cmd(i), random_signals(rng, horizon)) for i in range(n)]
    for batch in range(0, n, 4):
        for run, rc, out, err in launch(runs[batch:batch + 4]):
            check(run, rc, out, err)


@pytest.mark.parametrize("which", [b for b, why in backend.available().items() if why is None])
def test_demo_survives_signals_at_any_moment(which):
    storm(lambda i: command("demo", "--backend", which, "--duration", "2.5", "--json"),
          n=8, horizon=2.0, salt=f"demo-{which}")


@requires_dpdk
@pytest.mark.parametrize("mode", ["tunnel", "encode", "decode"])
def test_dpdk_gateways_survive_signals_at_any_moment(mode):
    # net_null receives an endless stream of frames: the gateway is busy.
    ports = ["--local", "0", "--peer", "1"] if mode == "tunnel" else ["--in", "0", "--out", "1"]

    def cmd(i: int) -> list[str]:
        return command("fec", mode, f"--vdev=net_null{i}0", f"--vdev=net_null{i}1", "--",
                       "--backend", "dpdk", *ports, "--duration", "2.5", "--json")

    storm(cmd, n=8, horizon=2.0, salt=f"dpdk-{mode}")


@pytest.fixture(scope="module")
def veths():
    """One namespace with two veth pairs for the native gateways (idle ports)."""
    netns.require_netns()
    with netns.netns("pdsig") as ns:
        for a, b in (("sg0", "sg1"), ("sg2", "sg3")):
            netns._run("ip", "-n", ns, "link", "add", a, "type", "veth", "peer", "name", b)
            for ifname in (a, b):
                netns._run("ip", "-n", ns, "link", "set", ifname, "up")
        yield ns


@pytest.mark.parametrize("mode", ["tunnel", "encode", "decode"])
def test_native_gateways_survive_signals_at_any_moment(mode, veths):
    pytest.importorskip("pydpdk._native", reason="no native AF_PACKET backend")
    ports = (["--local", "afpacket:sg0", "--peer", "afpacket:sg2"] if mode == "tunnel"
             else ["--in", "afpacket:sg0", "--out", "afpacket:sg2"])
    storm(lambda i: command("fec", mode, "--", "--backend", "native", *ports,
                            "--duration", "2", "--json", ns=veths),
          n=4, horizon=1.6, salt=f"native-{mode}")
