"""Backend selection (argument > $PYDPDK_BACKEND > automatic) and the backend
objects select() returns: runtime, pools, ports for every spec kind, links,
workers; and the rule that only the backends touch their private modules."""

from __future__ import annotations

import ast
import gc
import threading
from pathlib import Path

import pytest
from conftest import requires_dpdk, run_python, udp_frames, write_pcap

import pydpdk
from pydpdk import backend, backends
from pydpdk.backends.dpdk import DpdkBackend
from pydpdk.backends.native import NativeBackend
from pydpdk.errors import BackendUnavailableError, DpdkUnavailableError


def test_automatic_choice_prefers_dpdk_when_usable(monkeypatch):
    monkeypatch.delenv(backend.ENV_VAR, raising=False)
    avail = backend.available()
    expected = "dpdk" if avail["dpdk"] is None else "native"
    assert backend.select().name == expected
    assert backend.current().name == expected
    assert backend.describe()["chosen_by"] == "automatic"


def test_native_is_usable_on_linux():
    assert backend.available()["native"] is None
    assert backend.select("native").name == "native"


def test_environment_overrides_automatic(monkeypatch):
    monkeypatch.setenv(backend.ENV_VAR, "native")
    assert backend.select().name == "native"
    info = backend.describe()
    assert info["selected"] == "native" and info["chosen_by"] == "environment"
    monkeypatch.setenv(backend.ENV_VAR, "auto")
    assert backend.select().name in backend.BACKENDS


def test_argument_overrides_environment(monkeypatch):
    monkeypatch.setenv(backend.ENV_VAR, "dpdk")
    assert backend.select("native").name == "native"


def test_unknown_backend_names_the_choices(monkeypatch):
    with pytest.raises(ValueError, match="dpdk, native"):
        backend.select("netmap")
    monkeypatch.setenv(backend.ENV_VAR, "bogus")
    with pytest.raises(ValueError, match=r"\$PYDPDK_BACKEND"):
        backend.select()
    assert backend.describe()["selected"] is None


def test_requesting_unusable_dpdk_says_why(monkeypatch):
    reason = backend.available()["dpdk"]
    if reason is None:
        pytest.skip("DPDK is usable in this build")
    with pytest.raises(DpdkUnavailableError, match="cannot be used") as info:
        backend.select("dpdk")
    assert isinstance(info.value, BackendUnavailableError)


def test_build_without_dpdk_reports_it():
    if pydpdk.BUILD_INFO["dpdk"]:
        pytest.skip("this build has DPDK")
    assert "built without DPDK" in backend.available()["dpdk"]
    assert backend.select().name == "native"


# --------------------------------------------------------------------------
# Backend objects
# --------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def test_select_returns_one_shared_object_per_backend():
    native = backend.select("native")
    assert isinstance(native, NativeBackend) and isinstance(native, backends.Backend)
    assert backend.select(" Native ") is native is backends.get("native")
    assert repr(native) == "<pydpdk native backend>"
    assert isinstance(backends.get("dpdk"), DpdkBackend)
    with pytest.raises(ValueError, match="unknown backend"):
        backends.get("netmap")


def _send(tx, pool, frames):
    burst = pool.burst_from_bytes(frames)
    sent = tx.tx_burst(burst)
    burst.free()
    return sent


def _receive(rx, n):
    got = []
    for _ in range(100):
        burst = rx.rx_burst(0, 64)
        got += burst.to_bytes_list()
        burst.free()
        if len(got) >= n:
            break
    return got


def _check_link(chosen, pool, name):
    frames = udp_frames(5)
    with chosen.link_pair(pool, depth=64, name=name) as ((rx_a, tx_a), (rx_b, tx_b)):
        assert _send(tx_a, pool, frames[:3]) == 3
        assert _send(tx_b, pool, frames[3:]) == 2
        assert _receive(rx_b, 3) == frames[:3]         # a -> b
        assert _receive(rx_a, 2) == frames[3:]         # b -> a
        assert _send(tx_a, pool, frames) == 5          # left in the link: freed on close
    assert tx_a.is_closed and rx_b.is_closed
    gc.collect()
    assert pool.in_use == 0


def test_native_backend_runtime_pool_link_and_worker():
    native = backend.select("native")
    with native.runtime() as rt:
        assert rt is None
    with pytest.raises(ValueError, match="EAL arguments given but the backend is 'native'"):
        with native.runtime(["-m", "512"]):
            pass
    with native.runtime(["-m", "512"], eal_optional=True):
        pass
    pool = native.pool(64, data_room=3000)
    try:
        assert (pool.capacity, pool.data_room, pool.headroom) == (64, 3000, 128)
        _check_link(native, pool, "x")
    finally:
        pool.close()
    ran = []
    worker = native.launch(lambda: ran.append(threading.current_thread().name), name="t15")
    worker.join()
    worker.join()                                      # a second join returns at once
    assert ran == ["t15"]
    assert native.worker_lcores(2) is None
    with pytest.raises(DpdkUnavailableError, match="only the DPDK backend"):
        native.launch_lcore(1, None)


def test_native_backend_opens_capture_udp_and_queued_specs(tmp_path):
    pytest.importorskip("pydpdk._native_pcap", reason="built without libpcap")
    pytest.importorskip("pydpdk._udp", reason="no UDP port here")
    native = backend.select("native")
    frames = udp_frames(4)
    out = tmp_path / "out.pcap"
    spec = native.capture_spec(tx=str(out))
    assert spec == f"pcap:tx={out}"
    with pytest.raises(ValueError, match="comma"):
        native.capture_spec(rx="a,b.pcap")
    with pytest.raises(ValueError, match="needs a file"):
        native.capture_spec()
    pool = native.pool(256)
    try:
        with native.opener(pool) as opener:
            port = opener.open(spec)
            assert opener.open(spec) is port and port.is_started
            assert _send(port, pool, frames) == 4
            udp = opener.open("udp:127.0.0.1:9,bind=127.0.0.1:0")
            assert udp.is_started
            for q in range(2):
                (tmp_path / f"q{q}.pcap").write_bytes(b"")
            ports, index = opener.open_queues(f"pcap:tx={tmp_path}/q{{q}}.pcap", 2)
            assert len(ports) == 2 and ports[0] is not ports[1] and index == [0, 0]
            with pytest.raises(ValueError, match=r"put \{q\} in its file names"):
                opener.open_queues(f"pcap:tx={tmp_path}/one.pcap", 2)
            with pytest.raises(ValueError, match="bare interface name without DPDK"):
                opener.open_queues("eth15x", 2)
        assert port.is_closed and udp.is_closed and ports[1].is_closed
        with native.opener(pool) as opener:
            back = opener.open(native.capture_spec(rx=str(out)))
            assert _receive(back, 4) == frames
        gc.collect()
        assert pool.in_use == 0
    finally:
        pool.close()


@requires_dpdk
def test_dpdk_backend_runtime_pool_link_ports_and_workers(eal, tmp_path):
    from pydpdk import dpdk

    chosen = backend.select("dpdk")
    with chosen.runtime(["--this-is-ignored"]) as running:
        assert running is eal                          # reused, and left running
    assert dpdk.Eal.current() is eal
    pool = chosen.pool(512, data_room=3000)
    try:
        assert pool.capacity == 511 and pool.data_room == 3000 + 128
        _check_link(chosen, pool, "bk15")
        frames = udp_frames(3)
        src = tmp_path / "in.pcap"
        write_pcap(src, frames)
        spec = chosen.capture_spec(rx=str(src), tx=str(tmp_path / "out.pcap"), name="bk15")
        assert spec.startswith("net_pcap_bk15,rx_pcap=")
        with chosen.opener(pool) as opener:
            port = opener.open(spec)
            assert "net_pcap_bk15" in eal.ports().values()
            got = _receive(port, 3)
            assert got == frames
            assert _send(port, pool, got) == 3
        assert "net_pcap_bk15" not in eal.ports().values()   # the vdev went with it
        gc.collect()
        assert pool.in_use == 0
    finally:
        pool.close()
    assert chosen.worker_lcores(1) is None or len(chosen.worker_lcores(1)) == 1

    from pydpdk import _dpdk_eal

    seen = []
    chosen.launch(lambda: seen.append(_dpdk_eal.current_lcore_id())).join()
    assert seen and seen[0] is not None                # the worker thread had an lcore id


def test_dpdk_backend_module_imports_lazily():
    # importing the DPDK backend (and selecting native) loads none of DPDK
    proc = run_python("""
        import sys
        from pydpdk import backend
        from pydpdk.backends import dpdk
        assert backend.select("native").name == "native"
        print(sorted(m for m in sys.modules if m.startswith("pydpdk._dpdk")))
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout


# --------------------------------------------------------------------------
# Only the backends touch their private modules; nobody branches on a name
# --------------------------------------------------------------------------

# The compiled modules of one backend (and the loopback port of the native one).
PRIVATE = {"_native", "_native_pcap", "_dpdk_eal", "_dpdk_mbuf", "_dpdk_ethdev",
           "_dpdk_lcore", "_udp"}
PRIVATE_NAMES = {("_burst", "LoopbackPort")}
# Allowed to: the backend objects, the public facade of each backend's
# extensions, and backend selection (backend.py names the modules it import-checks;
# portspec.backend_for refuses native specs on DPDK).
BACKEND_MODULES = {"backends/__init__.py", "backends/dpdk.py", "backends/native.py",
                   "dpdk.py", "afpacket.py", "pcap.py", "udp.py", "backend.py", "portspec.py"}


def _checked_files():
    pkg = ROOT / "pydpdk"
    files = [p for p in pkg.rglob("*.py")
             if p.relative_to(pkg).as_posix() not in BACKEND_MODULES]
    return files + sorted((ROOT / "examples").glob("*.py"))


def _violations(path):
    tree = ast.parse(path.read_text(), str(path))
    bad = []
    for node in ast.walk(tree):
        where = f"{path.name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.ImportFrom):
            module = (node.module or "").split(".")
            names = {a.name for a in node.names}
            last = module[-1] if module[-1] else ""
            if last in PRIVATE or (names & PRIVATE and module in (["pydpdk"], [""])):
                bad.append(f"{where}: imports a private backend module")
            if any((last, n) in PRIVATE_NAMES for n in names):
                bad.append(f"{where}: imports {names} from {last}")
        elif isinstance(node, ast.Import):
            if any(a.name.split(".")[-1] in PRIVATE for a in node.names):
                bad.append(f"{where}: imports a private backend module")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if any(node.value == f"pydpdk.{m}" for m in PRIVATE):
                bad.append(f"{where}: names a private backend module ({node.value})")
        elif isinstance(node, ast.Compare) and all(
                isinstance(op, (ast.Eq, ast.NotEq, ast.Is, ast.IsNot)) for op in node.ops):
            operands = [node.left, *node.comparators]
            consts = {o.value for o in operands if isinstance(o, ast.Constant)}
            text = ast.unparse(node)
            if "dpdk" in consts or ("native" in consts and "backend" in text):
                bad.append(f"{where}: branches on a backend name ({text})")
    return bad


def test_only_backends_import_private_backend_modules_or_branch_on_names():
    bad = [v for path in _checked_files() for v in _violations(path)]
    assert not bad, "\n".join(bad)


def test_the_checker_catches_what_it_forbids(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('from pydpdk._native import BufferPool\n'
                      'from pydpdk._burst import LoopbackPort\n'
                      'import sys\nsys.modules.get("pydpdk._dpdk_eal")\n'
                      'if backend.select().name == "dpdk":\n    pass\n'
                      'if chosen_backend != "native":\n    pass\n')
    assert len(_violations(sample)) == 5


def test_port_opener_refuses_work_once_closed_and_bad_queue_counts() -> None:
    """A closed opener opens nothing more (the port would be tracked by no one)."""
    from pydpdk import backends
    from pydpdk.errors import ClosedError

    native = backends.get("native")
    with native.pool(64, data_room=256) as pool:
        opener = backends.PortOpener(native, pool)
        for bad in (0, -1, 1.5, True):
            with pytest.raises(ValueError, match="queues must be"):
                opener.open_queues("udp:127.0.0.1:4799", bad)
        opener.close()
        with pytest.raises(ClosedError):
            opener.open("udp:127.0.0.1:4799")
        with pytest.raises(ClosedError):
            opener.open_queues("udp:127.0.0.1:4799", 2)
