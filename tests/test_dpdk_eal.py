"""EAL lifecycle: init, bad arguments, singleton, cleanup, fork, hotplug, lcore info."""

import errno
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import requires_dpdk, run_python

from pydpdk import dpdk
from pydpdk.errors import EalError, EalStateError, PortError


@requires_dpdk
def test_session_eal_defaults_need_no_configuration(eal):
    argv = eal.argv
    assert "--no-huge" in argv and "--no-pci" in argv and "--no-shconf" in argv
    assert f"--file-prefix=pydpdk{os.getpid()}" in argv
    assert eal.state == "running"
    info = eal.info()
    assert info["hugepages"] is False and info["pci"] is False
    assert info["version"].startswith("DPDK ")
    assert 0 < eal.init_seconds < 60


@requires_dpdk
def test_lcore_and_numa_info(eal):
    lcores = eal.lcores()
    assert len(lcores) == 1 and lcores[0]["main"] and lcores[0]["lcore"] == 0
    assert lcores[0]["socket"] in eal.sockets()
    assert eal.sockets()


@requires_dpdk
def test_eal_keeps_the_interpreter_cpu_affinity():
    # lcore 0 floats over every CPU the process had, so nothing got pinned.
    proc = run_python("""
        import os
        from pydpdk import dpdk
        before = os.sched_getaffinity(0)
        with dpdk.Eal():
            print("SAME", os.sched_getaffinity(0) == before)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "SAME True" in proc.stdout


@requires_dpdk
def test_second_init_in_the_same_process_is_refused(eal):
    with pytest.raises(EalStateError, match="already initialised") as info:
        dpdk.Eal()
    assert info.value.errno == errno.EALREADY
    assert eal.state == "running"


@requires_dpdk
def test_current_returns_the_running_eal(eal):
    assert dpdk.Eal.current() is eal


@requires_dpdk
def test_hotplug_add_and_remove(eal, mempool):
    name = eal.add_vdev("net_null_hp0,size=128")
    try:
        assert name in eal.ports().values()
        with dpdk.Port(name, mempool) as port:
            with pytest.raises(PortError, match="close"):
                eal.remove_vdev(name)
            port.start()
            burst = port.rx_burst(max_packets=4)
            assert burst.lengths().tolist() == [128] * 4
            burst.free()
    finally:
        eal.remove_vdev(name)
    assert name not in eal.ports().values()
    # The same name can be used again once removed.
    eal.add_vdev("net_null_hp0")
    eal.remove_vdev("net_null_hp0")


@requires_dpdk
def test_bad_vdev_reports_the_drivers_reason(eal):
    with pytest.raises(PortError, match="cannot add device") as info:
        eal.add_vdev("net_pcap_bad0,rx_pcap=/nonexistent/in.pcap")
    assert info.value.errno
    with pytest.raises(ValueError, match="virtual device"):
        eal.add_vdev("0000:00:01.0")
    with pytest.raises(ValueError, match="was not added"):
        eal.remove_vdev("net_null_never")


@requires_dpdk
def test_invalid_eal_arguments_report_the_eal_reason():
    proc = run_python("""
        from pydpdk import dpdk
        from pydpdk.errors import EalError
        try:
            dpdk.Eal(["--no-such-option"])
        except EalError as exc:
            print("ERR", exc.errno, exc)
    """)
    assert proc.returncode == 0, proc.stderr
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("ERR")][0]
    assert "rte_eal_init" in line and "--no-such-option" in line
    assert "Invalid 'command line' arguments" in line  # the EAL's own words
    assert "unrecognized option '--no-such-option'" in line  # getopt's, from stderr
    # The library printed nothing: no usage text, no getopt or FATAL lines.
    assert proc.stdout.splitlines() == [line]
    assert proc.stderr == ""


@requires_dpdk
def test_conflicting_eal_arguments_name_the_conflict():
    proc = run_python("""
        from pydpdk import dpdk
        from pydpdk.errors import EalError
        try:
            dpdk.Eal(["--in-memory"])
        except EalError as exc:
            print("ERR", exc)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "not compatible with --in-memory" in proc.stdout


@requires_dpdk
def test_use_after_cleanup_is_refused():
    proc = run_python("""
        import gc
        from pydpdk import dpdk
        from pydpdk.errors import EalStateError, PortError, PoolError
        eal = dpdk.Eal(vdevs=["net_null0"])
        pool = dpdk.Mempool(511, cache_size=0)
        port = dpdk.Port("net_null0", pool)
        port.start()
        burst = port.rx_burst(max_packets=8)
        burst.free()
        eal.close()
        eal.close()   # idempotent
        results = []
        for op in (lambda: dpdk.Mempool(63), lambda: eal.add_vdev("net_null1"),
                   lambda: dpdk.Eal(), lambda: dpdk.Port(0, pool)):
            try:
                op()
            except EalStateError as exc:
                results.append("state" if "cleaned up" in str(exc) else str(exc))
        try:
            port.rx_burst()
        except PortError as exc:
            results.append("port-closed" if "closed" in str(exc) else str(exc))
        try:
            pool.alloc_burst(1)
        except PoolError as exc:
            results.append("pool-closed" if "closed" in str(exc) else str(exc))
        print(results)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "['state', 'state', 'state', 'state', 'port-closed', 'pool-closed']" in proc.stdout


@requires_dpdk
def test_teardown_with_packets_still_held_warns_and_does_not_crash():
    proc = run_python("""
        import warnings
        from pydpdk import dpdk
        eal = dpdk.Eal()
        pool = dpdk.Mempool(255, cache_size=0)
        held = pool.alloc_burst(3)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            eal.close()
        print("WARN", [str(w.message) for w in caught])
        held.free()   # memory stayed mapped: this must not crash
        print("FREED")
    """)
    assert proc.returncode == 0, proc.stderr
    assert "3 mbuf(s) still in use" in proc.stdout and "FREED" in proc.stdout


@requires_dpdk
def test_forked_child_cannot_use_the_parents_eal():
    proc = run_python("""
        import os
        from pydpdk import dpdk
        from pydpdk.errors import EalStateError, PortError, PoolError
        eal = dpdk.Eal(vdevs=["net_null0"])
        pool = dpdk.Mempool(255, cache_size=0)
        port = dpdk.Port("net_null0", pool)
        port.start()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                dpdk.Mempool(63)
            except EalStateError as exc:
                code |= 1 if "forked child" in str(exc) else 0
            try:
                port.rx_burst()
            except PortError:
                code |= 2
            try:
                pool.alloc_burst(1)
            except PoolError:
                code |= 4
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        print("CHILD", os.waitstatus_to_exitcode(status))
        burst = port.rx_burst(max_packets=2)   # the parent still works
        print("PARENT", len(burst))
        burst.free()
        eal.close()
    """)
    assert proc.returncode == 0, proc.stderr
    assert "CHILD 7" in proc.stdout and "PARENT 2" in proc.stdout


@requires_dpdk
def test_eal_init_time_is_reported():
    proc = run_python("""
        from pydpdk import dpdk
        with dpdk.Eal() as eal:
            print("INIT", eal.init_seconds)
    """)
    assert proc.returncode == 0, proc.stderr
    seconds = float(proc.stdout.split("INIT")[1])
    assert 0 < seconds < 60


@requires_dpdk
def test_raw_arguments_override_defaults():
    proc = run_python("""
        from pydpdk import dpdk
        with dpdk.Eal("-m 128 --file-prefix=custom-prefix --vdev=net_null7") as eal:
            print("ARGV", eal.argv)
            print("PORTS", eal.ports())
    """)
    assert proc.returncode == 0, proc.stderr
    assert "'-m', '128'" in proc.stdout and "'256'" not in proc.stdout
    assert "--file-prefix=custom-prefix" in proc.stdout and "pydpdk" not in proc.stdout.split(
        "ARGV")[1].split("--file-prefix")[1][:20]
    assert "net_null7" in proc.stdout


@requires_dpdk
def test_eal_error_is_an_oserror():
    assert issubclass(EalStateError, EalError) and issubclass(EalError, OSError)


@pytest.mark.skipif(dpdk.AVAILABLE, reason="this build has DPDK")
def test_without_dpdk_entry_points_say_how_to_get_it():
    from pydpdk.errors import DpdkUnavailableError

    for make in (dpdk.Eal, lambda: dpdk.Mempool(63), lambda: dpdk.Port(0, None)):
        with pytest.raises(DpdkUnavailableError, match="libdpdk-dev"):
            make()


@requires_dpdk
def test_eal_close_is_refused_while_a_pipeline_runs():
    """Closing the EAL under a running loop would pull its ports away: BusyError,
    nothing closed; once the pipeline is halted the close goes through."""
    code = textwrap.dedent("""
        import errno
        from pydpdk import dpdk
        from pydpdk.errors import BusyError
        from pydpdk.pipeline import Discard, Generator, Pipeline
        eal = dpdk.Eal()
        pool = dpdk.Mempool(1023)
        pipe = Pipeline().add(Generator(pool, sizes=(64,)), sink=Discard(pool))
        pipe.start()
        try:
            eal.close()
        except BusyError as exc:
            assert exc.errno == errno.EBUSY and not eal.closed
            print("refused")
        pipe.halt()
        pool.close()
        eal.close()
        assert eal.closed
        print("closed")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["refused", "closed"]
