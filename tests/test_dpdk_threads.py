"""Plain threads get an lcore id, so DPDK's per-lcore mempool cache serves them.

A pipeline started without an lcore and a Python thread calling bursts are
registered with the EAL (rte_thread_register) and unregistered when the run
or the thread ends; lcore slots are reused, exhaustion falls back to
uncached operation, and a forked child touches nothing (docs/architecture.md,
"Threads").  Functional checks only, no timing.
"""

import threading

import pytest
from conftest import requires_dpdk, run_python

from pydpdk.pipeline import Pipeline, PortSink, PortSource, PyStage

pytestmark = requires_dpdk
_dpdk_eal = pytest.importorskip("pydpdk._dpdk_eal", reason="pydpdk built without DPDK")


def counts():
    info = _dpdk_eal.thread_info()
    return info["registered"], info["unregistered"], info["live"]


def settled_counts(live, timeout=60.0):
    """counts() once *live* threads are registered again.  Thread.join()
    returns before the OS thread has finished exiting, and a thread
    unregisters in its last step (a pthread key destructor)."""
    stop = threading.Event()
    for _ in range(int(timeout * 100)):
        if counts()[2] == live:
            break
        stop.wait(0.01)
    return counts()


def test_the_shared_eal_registers_threads(eal):
    info = eal.info()["threads"]
    assert info["enabled"] is True                      # --no-shconf by default
    assert info["lcore_id"] == 0                        # the main lcore: nothing to do
    assert info["max_lcores"] >= 2


def test_pipeline_started_without_lcore_runs_with_the_mempool_cache(mempool, null_pair):
    a, b = null_pair
    seen = []

    def look(burst):
        # Runs on the loop's thread, after the loop's own allocations/frees.
        seen.append((_dpdk_eal.current_lcore_id(), mempool._thread_cache_len()))

    reg0, unreg0, live0 = counts()
    pipe = Pipeline().add(PortSource(a), PyStage(look), sink=PortSink(b))
    pipe.start()
    try:
        deadline = threading.Event()
        for _ in range(600):                 # up to 60 s on a starved machine
            if len(seen) >= 20:
                break
            deadline.wait(0.1)
    finally:
        result = pipe.stop(timeout=60)
    assert result is not None and result["packets"] > 0
    assert len(seen) >= 20
    lcores = {lc for lc, _ in seen}
    assert None not in lcores and 0 not in lcores       # not LCORE_ID_ANY, not main
    assert max(n for _, n in seen[5:]) > 0              # the cache holds mbufs
    reg1, unreg1, live1 = counts()
    assert reg1 - reg0 == 1 and unreg1 - unreg0 == 1    # released when the run ended
    assert live1 == live0


def test_registration_off_runs_uncached(mempool, null_pair):
    # The old behaviour, kept as the fallback: still correct, just uncached.
    a, b = null_pair
    seen = []
    _dpdk_eal._set_thread_registration(False)
    try:
        pipe = Pipeline().add(PortSource(a), PyStage(lambda burst: seen.append(
            _dpdk_eal.current_lcore_id())), sink=PortSink(b))
        result = pipe.run(packets=3200)
    finally:
        _dpdk_eal._set_thread_registration(True)
    assert result["packets"] >= 3200
    assert set(seen) == {0}                 # run() on the main thread: its own lcore

    out = {}

    def worker():
        _dpdk_eal._set_thread_registration(False)
        try:
            burst = a.rx_burst(max_packets=32)
            out["lcore"] = _dpdk_eal.current_lcore_id()
            out["error"] = _dpdk_eal.thread_info()["error"]
            b.tx_burst(burst)
            burst.free()
        finally:
            _dpdk_eal._set_thread_registration(True)

    t = threading.Thread(target=worker)
    t.start()
    t.join(60)
    assert out == {"lcore": None, "error": None}


def burst_loop(a, b, rounds, out, key, hold=None):
    out[key] = {"before": _dpdk_eal.current_lcore_id()}
    for _ in range(rounds):
        burst = a.rx_burst(max_packets=32)
        b.tx_burst(burst)
        burst.free()
    out[key]["after"] = _dpdk_eal.current_lcore_id()
    out[key]["error"] = _dpdk_eal.thread_info()["error"]
    if hold is not None:
        hold.wait()


def test_python_burst_thread_registers_on_first_burst_and_releases_at_exit(null_pair):
    a, b = null_pair
    out = {}
    reg0, unreg0, live0 = counts()
    t = threading.Thread(target=burst_loop, args=(a, b, 50, out, 0))
    t.start()
    t.join(60)
    assert out[0]["before"] is None                     # a plain thread...
    assert out[0]["after"] not in (None, 0)             # ...an lcore after its first burst
    reg1, unreg1, live1 = settled_counts(live0)
    assert (reg1 - reg0, unreg1 - unreg0, live1) == (1, 1, live0)


def test_many_threads_start_and_stop_without_exhausting_slots(null_pair):
    a, b = null_pair
    n = _dpdk_eal.thread_info()["max_lcores"] + 20
    reg0, unreg0, live0 = counts()
    failed0 = _dpdk_eal.thread_info()["failed"]
    out = {}
    for start in range(0, n, 8):             # a few at a time, more than all slots
        threads = [threading.Thread(target=burst_loop, args=(a, b, 2, out, i))
                   for i in range(start, min(start + 8, n))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert len(out) == n
    assert all(v["after"] not in (None, 0) for v in out.values())
    reg1, unreg1, live1 = settled_counts(live0)
    assert reg1 - reg0 == n and unreg1 - unreg0 == n and live1 == live0
    assert _dpdk_eal.thread_info()["failed"] == failed0


def test_slot_exhaustion_falls_back_to_uncached_and_counts(mempool, null_pair):
    a, b = null_pair
    info = _dpdk_eal.thread_info()
    if info["max_lcores"] > 256:
        pytest.skip("DPDK built with many lcore slots: too many threads for a unit test")
    n = info["max_lcores"] + 4
    failed0, live0 = info["failed"], info["live"]
    hold = threading.Barrier(n + 1)
    out = {}
    threads = [threading.Thread(target=burst_loop, args=(a, b, 3, out, i, hold))
               for i in range(n)]
    for t in threads:
        t.start()
    try:
        for _ in range(600):
            if len(out) == n and all("error" in v for v in out.values()):
                break
            threading.Event().wait(0.1)
    finally:
        hold.wait(60)
        for t in threads:
            t.join(60)
    got = [v for v in out.values() if v["after"] is not None]
    refused = [v for v in out.values() if v["after"] is None]
    assert len(got) + len(refused) == n
    assert refused and all(v["error"] == "ENOMEM" for v in refused)
    assert len(got) <= info["max_lcores"] - 1            # the main lcore keeps its slot
    settled_counts(live0)
    after = _dpdk_eal.thread_info()
    assert after["failed"] - failed0 == len(refused)
    assert after["live"] == live0                          # every slot came back
    # The refused threads still moved packets: the leak check (conftest) sees
    # every mbuf home.


def test_fork_after_registration():
    proc = run_python("""
        import os, threading
        from pydpdk import dpdk, _dpdk_eal
        with dpdk.Eal(vdevs=["net_null0", "net_null1"]) as eal:
            pool = dpdk.Mempool(4095, cache_size=64)
            a, b = dpdk.Port("net_null0", pool), dpdk.Port("net_null1", pool)
            a.start(); b.start()
            ready, done = threading.Event(), threading.Event()
            lc = {}

            def loop():
                while not done.is_set():
                    burst = a.rx_burst(max_packets=32)
                    b.tx_burst(burst); burst.free()
                    lc["id"] = _dpdk_eal.current_lcore_id()
                    ready.set()

            t = threading.Thread(target=loop); t.start()
            assert ready.wait(60) and lc["id"] not in (None, 0)

            def child_thread(res):
                res.append(_dpdk_eal.attach_thread())
                res.append(_dpdk_eal.current_lcore_id())

            pid = os.fork()
            if pid == 0:
                # A thread of the child never registers with the parent's EAL.
                res = []
                ct = threading.Thread(target=child_thread, args=(res,))
                ct.start(); ct.join()
                os._exit(0 if res == [False, None] else 3)
            _, status = os.waitpid(pid, 0)
            done.set(); t.join(60)
            for _ in range(6000):                # the thread unregisters as it exits
                if _dpdk_eal.thread_info()["live"] == 0:
                    break
                threading.Event().wait(0.01)
            info = _dpdk_eal.thread_info()
            a.close(); b.close()
            print(os.waitstatus_to_exitcode(status), info["live"], info["registered"],
                  pool.in_use)
            pool.close()
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0", "0", "1", "0"]


def test_registration_only_where_no_secondary_process_can_attach(eal):
    # rte_thread_register() switches multi-process off for good: threads
    # register only when the EAL has no shared config anyway.
    assert _dpdk_eal._threads_may_register(["prog", "--no-huge", "--no-shconf"])
    assert _dpdk_eal._threads_may_register(["prog", "--in-memory"])
    assert not _dpdk_eal._threads_may_register(["prog", "--file-prefix=x"])
    assert _dpdk_eal._threads_may_register(eal.info()["args"])
