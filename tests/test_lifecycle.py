"""Lifecycle, thread and fork rules of the native objects (issue 10).

Each test is one handed case of the issue (or a member of its class).  Cases
that crashed the interpreter before the fix run in a subprocess, so the old
code fails the test instead of killing the session.
"""

from __future__ import annotations

import errno
import gc
import os
import subprocess
import sys
import threading
import time

import pytest
from conftest import requires_dpdk, run_python

from pydpdk import dpdk
from pydpdk._burst import LoopbackPort, memory_limit
from pydpdk._native import AfPacketPort, BufferPool
from pydpdk.errors import (
    ConcurrentUseError,
    EalHelpRequested,
    ForkedChildError,
    PacketStateError,
    PoolError,
    PortError,
    ResourceLimitError,
)
from pydpdk.fec import Encoder
from pydpdk.pipeline import Discard, Generator, Pipeline, PortSource

POOLS = {"buffer": "BufferPool"}
IMPORTS = ("from pydpdk._burst import LoopbackPort\n"
           "from pydpdk._native import BufferPool\n")


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


# --------------------------------------------------------------------------
# Python ints meeting C sizes
# --------------------------------------------------------------------------

@pytest.mark.parametrize("pool_cls", sorted(POOLS.values()))
def test_read_write_offsets_near_sys_maxsize_raise(pool_cls):
    out = ok(run_python(IMPORTS + f"""
import sys
pool = {pool_cls}(8)
burst = pool.burst_from_bytes([bytes(range(64))])
pkt = burst[0]
caught = []
for call in (lambda: pkt.write(sys.maxsize, b"x"), lambda: pkt.read(sys.maxsize, 1),
             lambda: pkt.read(1, sys.maxsize), lambda: pkt.read(sys.maxsize, sys.maxsize),
             lambda: pkt.write(63, b"xy"), lambda: pkt.read(64, 1)):
    try:
        call()
    except IndexError:
        caught.append(1)
print(len(caught), pkt.read(62, 2).hex(), pkt.read(64, 0))
burst.free()
pool.close()
"""))
    assert out.split() == ["6", "3e3f", "b''"]


def test_appending_more_than_a_uint32_wraps_nothing():
    pool = BufferPool(4)
    burst = pool.alloc_burst(1)
    with pytest.raises(ValueError):
        burst[0].append(memoryview(bytearray(1 << 16)))   # over 65535 bytes
    assert len(burst[0]) == 0
    burst.free()
    pool.close()


# --------------------------------------------------------------------------
# Pools outlive every user of their memory
# --------------------------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(POOLS))
def test_packets_of_a_dropped_pool_queued_in_another_pools_port_stay_valid(kind):
    # The handed case: pool A's packets in a LoopbackPort made on pool B,
    # then `del` of A and gc: rx_burst handed out freed memory.
    out = ok(run_python(IMPORTS + f"""
import gc
a = {POOLS[kind]}(64)
b = {POOLS[kind]}(64)
port = LoopbackPort(b, depth=64)
port.start()
frames = [bytes([i]) * 200 for i in range(32)]
burst = a.burst_from_bytes(frames)
assert port.tx_burst(burst) == 32
del burst, a
gc.collect()
junk = BufferPool(64).alloc_burst(32, 2000)      # reuse what the allocator freed
got = port.rx_burst(max_packets=32)
print(got.to_bytes_list() == frames)
got.free()
junk.free()
port.close()
b.close()
print("done")
"""))
    assert out.split() == ["True", "done"]


@pytest.mark.parametrize("kind", sorted(POOLS))
def test_pool_close_refused_while_a_port_holds_it(kind):
    pool = BufferPool(16)
    port = LoopbackPort(pool)
    assert pool.holders == 1
    with pytest.raises(PoolError) as exc:
        pool.close()
    assert exc.value.errno == errno.EBUSY
    assert pool.is_open
    port.close()
    assert pool.holders == 0
    pool.close()
    assert not pool.is_open


def test_port_in_a_garbage_cycle_lets_go_of_its_pool():
    pool = BufferPool(16)
    port = LoopbackPort(pool)
    cycle = [port]
    cycle.append(cycle)
    del port, cycle
    pool.close()                         # collects the cycle, then closes
    assert not pool.is_open


@pytest.mark.parametrize("kind", sorted(POOLS))
def test_pool_closed_before_run_or_during_a_run_never_frees_memory_under_the_loop(kind):
    # The handed case: close() was accepted before run() and while running,
    # and the run then allocated from freed memory (segfault; subprocess).
    # Now: before the run the close is deferred (the pool is closed, its
    # memory stays for the elements) and the run refuses with PoolError;
    # while it runs the close is refused.
    out = ok(run_python(IMPORTS + f"""
from pydpdk.errors import PoolError
from pydpdk.pipeline import Discard, Generator, Pipeline
pool = {POOLS[kind]}(512)
gen = Generator(pool, sizes=(256,), count=1000)
pipe = Pipeline().add(gen, sink=Discard(pool))
pool.close()
print("deferred", pool.is_open, pool.holders)
try:
    pipe.run()
    print("RAN")
except PoolError as exc:
    print("run-refused", exc.errno)
del pipe, gen                     # the last holders: the memory goes now

pool = {POOLS[kind]}(512)
gen = Generator(pool, sizes=(256,), count=0)
pipe = Pipeline().add(gen, sink=Discard(pool))
pipe.start(duration=60)             # stopped below
while not pipe.running:
    pass
refused = 0
for _ in range(20):
    try:
        pool.close()
    except PoolError as exc:
        refused += exc.errno == 16
print("refused-during", refused)
pipe.stop()
del pipe, gen
pool.close()
print("closed-after", pool.is_open)
"""))
    assert out.split() == ["deferred", "False", "2", "run-refused", "9", "refused-during", "20",
                           "closed-after", "False"]


def test_element_holds_its_pool_until_collected():
    pool = BufferPool(64)
    gen = Generator(pool, sizes=(64,), count=1)
    assert pool.holders == 1
    pool.close()                       # deferred: closed, memory kept for gen
    assert not pool.is_open and pool.holders == 1
    with pytest.raises(PoolError):
        pool.alloc_burst(1)
    with pytest.raises(PoolError):
        Pipeline().add(gen, sink=Discard(BufferPool(8))).run()
    del gen
    assert pool.holders == 0


def test_port_close_refused_while_a_pipeline_polls_it():
    pool = BufferPool(512)
    port = LoopbackPort(pool, depth=256)
    port.start()
    pipe = Pipeline().add(PortSource(port), sink=Discard(pool))
    pipe.start(duration=5)
    while not pipe.running:
        time.sleep(0.001)
    try:
        with pytest.raises(PortError) as exc:
            port.close()
        assert exc.value.errno == errno.EBUSY
        # the polled queue is the loop's: burst calls on it raise
        with pytest.raises(ConcurrentUseError):
            port.rx_burst()
    finally:
        pipe.stop()
    assert port.rx_burst().free() is None       # usable again after the run
    del pipe
    port.close()
    pool.close()


@requires_dpdk
def test_mempool_close_refused_while_a_pipeline_runs_or_a_port_is_open(mempool, eal):
    pool = dpdk.Mempool(1023, cache_size=0)
    try:
        gen = Generator(pool, sizes=(128,), count=0)
        pipe = Pipeline().add(gen, sink=Discard(pool))
        pipe.start(duration=0.3)
        while not pipe.running:
            time.sleep(0.001)
        with pytest.raises(PoolError) as exc:
            pool.close()
        assert exc.value.errno == errno.EBUSY
        pipe.stop()
        del pipe, gen
        name = eal.add_vdev("net_null_lc0")
        port = dpdk.Port(name, pool)
        with pytest.raises(PoolError):
            pool.close()
        port.close()
        eal.remove_vdev(name)
    finally:
        gc.collect()
        pool.close()
    assert not pool.is_open


# --------------------------------------------------------------------------
# Threads
# --------------------------------------------------------------------------

def _hammer(n_threads, fn, seconds=None, rounds=None):
    errors = []
    barrier = threading.Barrier(n_threads)

    def run(i):
        try:
            barrier.wait()
            fn(i)
        except BaseException as exc:          # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return errors


@pytest.mark.parametrize("codec", ["encoder", "decoder"])
def test_fec_codec_used_from_two_threads_raises_instead_of_crashing(codec):
    out = ok(run_python(f"""
import threading
from pydpdk.errors import ConcurrentUseError
from pydpdk.fec import Decoder, Encoder
wire = Encoder(10, 4).encode([bytes([i]) * 1400 for i in range(10)], now=0)
obj = Encoder(10, 4, depth=4) if "{codec}" == "encoder" else Decoder()
busy = [0]
done = [0]
def work():
    for j in range(300):
        try:
            if "{codec}" == "encoder":
                obj.encode([bytes([j % 256]) * 1400] * 200, now=j)
            else:
                obj.decode(wire, now=j)
            done[0] += 1
        except ConcurrentUseError:
            busy[0] += 1
ts = [threading.Thread(target=work) for _ in range(2)]
[t.start() for t in ts]
[t.join() for t in ts]
print(busy[0] + done[0])
obj.close()
""", timeout=300))
    assert out.split() == ["600"]


def test_fec_encoder_refuses_a_second_thread_while_one_is_inside():
    enc = Encoder(10, 4, max_payload=1400)
    big = [b"x" * 1400] * 4000           # a long call without the GIL
    refused = []
    for _attempt in range(50):
        t = threading.Thread(target=lambda: enc.encode(big, now=0))
        t.start()
        while t.is_alive() and not refused:
            try:
                enc.encode([b"y" * 100], now=0)
            except ConcurrentUseError as exc:
                refused.append(exc)
                with pytest.raises(ConcurrentUseError):
                    enc.close()          # nor closed under the running call
        t.join(60)
        if refused:
            break
    assert refused and refused[0].errno == errno.EBUSY
    assert len(enc.encode([b"z" * 100], now=0)) >= 1       # still usable
    enc.close()


@pytest.mark.parametrize("kind", sorted(POOLS))
def test_loopback_port_shared_by_four_threads_loses_nothing(kind):
    # The handed case segfaulted or aborted; the mbuf count must stay exact.
    out = ok(run_python(IMPORTS + f"""
import threading
pool = {POOLS[kind]}(16384)
port = LoopbackPort(pool, queues=1, depth=4096)
port.start()
received = [0] * 4
sent = [0] * 4
def work(i):
    for _ in range(4000):
        b = pool.alloc_burst(256, 64)
        sent[i] += port.tx_burst(b)
        b.free()
        r = port.rx_burst(max_packets=256)
        received[i] += len(r)
        r.free()
ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
queued = port.queued()
print(sum(sent) == sum(received) + queued, pool.in_use == queued)
port.close()
print(pool.in_use)
pool.close()
""", timeout=300))
    assert out.split() == ["True", "True", "0"]


@requires_dpdk
def test_net_ring_port_shared_by_four_threads_keeps_mbuf_accounting_exact(mempool, ring_pair):
    a, b = ring_pair
    sent = [0] * 4
    got = [0] * 4

    def work(i):
        for _ in range(4000):
            burst = mempool.alloc_burst(128, 64)
            sent[i] += a.tx_burst(burst)
            burst.free()
            r = b.rx_burst(max_packets=128)
            got[i] += len(r)
            r.free()

    assert _hammer(4, work) == []
    while True:                      # drain what is still in the ring
        r = b.rx_burst(max_packets=32)
        if not r:
            break
        got[0] += len(r)
        r.free()
    assert sum(sent) == sum(got)
    assert mempool.in_use == 0


def test_buffer_pool_shared_by_threads_stays_exact():
    pool = BufferPool(1024)

    def work(i):
        for _ in range(2000):
            pool.alloc_burst(8, 32).free()

    assert _hammer(4, work) == []
    assert pool.available == 1024 and pool.double_frees == 0
    pool.close()


# --------------------------------------------------------------------------
# fork
# --------------------------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(POOLS))
def test_forked_child_cannot_touch_the_parents_packets_pools_or_ports(kind):
    out = ok(run_python(IMPORTS + f"""
import gc, os
from pydpdk.errors import ForkedChildError, PacketStateError, PoolError, PortError
pool = {POOLS[kind]}(64)
port = LoopbackPort(pool)
port.start()
burst = pool.burst_from_bytes([b"parent" * 10] * 4)
queued = pool.burst_from_bytes([b"queued" * 10] * 4)
port.tx_burst(queued)
pid = os.fork()
if pid == 0:
    code = 0
    for bit, call in enumerate((burst.free, lambda: burst[0].bytes(), lambda: pool.alloc_burst(1),
                                lambda: port.rx_burst(), lambda: port.tx_burst(burst),
                                pool.close)):
        try:
            call()
        except ForkedChildError as exc:
            code |= 1 << bit if exc.errno == 1 else 0
    port.close()                    # only marks it closed
    del burst, queued, port
    gc.collect()
    os._exit(code)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status), pool.in_use, burst[0].bytes()[:6], port.queued())
r = port.rx_burst()
print(len(r), pool.in_use)
r.free(); burst.free(); port.close(); pool.close()
"""))
    assert out.split() == ["63", "8", "b'parent'", "4", "4", "8"]


@pytest.mark.parametrize("kind", sorted(POOLS))
def test_child_that_simply_exits_leaves_the_parents_packets_alone(kind):
    out = ok(run_python(IMPORTS + f"""
import os, sys
pool = {POOLS[kind]}(16)
port = LoopbackPort(pool)
port.start()
burst = pool.burst_from_bytes([bytes([i]) * 100 for i in range(8)])
port.tx_burst(pool.burst_from_bytes([b"q" * 100] * 4))
pid = os.fork()
if pid == 0:
    sys.exit(0)            # normal interpreter exit: finalisers run here
os.waitpid(pid, 0)
print(pool.in_use)
print([p.bytes()[0] for p in burst] == list(range(8)))
burst.free()
port.close()
pool.close()
"""))
    assert out.split() == ["12", "True"]


@requires_dpdk
def test_forked_child_exit_does_not_free_the_parents_mbufs():
    # The handed case: the child's exit freed the parent's mbufs into the
    # shared mempool, which then handed them out again.
    out = ok(run_python("""
import gc, os, sys
from pydpdk import dpdk
eal = dpdk.Eal()
pool = dpdk.Mempool(255, cache_size=0)
held = pool.burst_from_bytes([bytes([i]) * 300 for i in range(16)])
pid = os.fork()
if pid == 0:
    del held
    gc.collect()
    sys.exit(0)
os.waitpid(pid, 0)
print(pool.in_use)
fresh = pool.alloc_burst(32, 300)
for p in fresh:
    p.write(0, b"\\xee" * 300)
print(all(p.bytes() == bytes([i]) * 300 for i, p in enumerate(held)))
fresh.free(); held.free()
print(pool.in_use)
pool.close(); eal.close()
"""))
    assert out.split() == ["16", "True", "0"]


# --------------------------------------------------------------------------
# Resources bounded by the machine
# --------------------------------------------------------------------------

def _more_than_the_machine() -> int:
    limit = memory_limit()
    assert limit is not None and limit > 0
    return limit * 2


def test_afpacket_ring_beyond_available_memory_is_refused_before_the_kernel_sees_it():
    need = _more_than_the_machine()
    block = 1 << 22
    with pytest.raises(ResourceLimitError) as exc:
        # "lo" exists everywhere; the check runs before any socket is opened
        AfPacketPort("lo", block_size=block, block_count=need // block + 1, frame_size=2048)
    assert exc.value.errno == errno.ENOMEM and "MemAvailable" in str(exc.value)


@pytest.mark.parametrize("make", [
    lambda n: BufferPool(n // 2048 + 1, data_room=2048),
    lambda n: LoopbackPort(BufferPool(1), queues=64, depth=min(n // 512 + 1, 2**32 - 1)),
], ids=["BufferPool", "LoopbackPort"])
def test_pools_and_queues_beyond_available_memory_are_refused(make):
    with pytest.raises(ResourceLimitError) as exc:
        make(_more_than_the_machine())
    assert "limit" in str(exc.value)


@requires_dpdk
def test_eal_memory_beyond_available_memory_is_refused():
    proc = run_python(f"""
from pydpdk import dpdk
from pydpdk.errors import ResourceLimitError
try:
    dpdk.Eal(memory_mb={_more_than_the_machine() // 2**20})
except ResourceLimitError as exc:
    print("refused", exc.errno)
""")
    assert ok(proc).split() == ["refused", "12"]


# --------------------------------------------------------------------------
# Eal(["-h"])
# --------------------------------------------------------------------------

@requires_dpdk
@pytest.mark.parametrize("args", [["-h"], ["--help"], ["-l", "0", "-vh"], ["--hel"],
                                  ["--vdev", "net_null0", "-h"]])
def test_eal_help_raises_with_the_usage_and_keeps_the_interpreter(args):
    out = ok(run_python(f"""
import atexit
from pydpdk import dpdk
from pydpdk.errors import EalHelpRequested
atexit.register(lambda: print("ATEXIT"))
try:
    dpdk.Eal({args!r})
except EalHelpRequested as exc:
    print("RAISED", "EAL common options" in exc.usage, "-h, --help" in exc.usage)
finally:
    print("FINALLY", dpdk.Eal.__name__)
print(dpdk._dpdk_eal.state())
eal = dpdk.Eal()                 # nothing was initialised: a real init still works
print(eal.state)
eal.close()
"""))
    assert out.split() == ["RAISED", "True", "True", "FINALLY", "Eal", "not", "initialised",
                           "running", "ATEXIT"]


@requires_dpdk
@pytest.mark.parametrize("args,expected", [
    (["-h"], True), (["-l", "-h"], False), (["-l0", "-h"], True), (["--file-prefix", "-h"], False),
    (["--file-prefix=x", "-h"], True), (["--", "-h"], False), (["--h"], False),
    (["-vh"], True), (["--no-huge"], False), (["-m", "64"], False), (["-ch"], False),
])
def test_eal_help_detection_follows_dpdk_getopt(args, expected):
    assert dpdk.eal_help_requested(args) is expected


@requires_dpdk
def test_cli_prints_dpdk_usage_for_h_among_eal_args_and_exits_0():
    proc = subprocess.run([sys.executable, "-m", "pydpdk.cli", "fec", "encode", "-h", "--",
                           "--in", "0", "--out", "1"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "EAL common options" in proc.stdout and "pydpdk fec encode" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "pydpdk.cli", "info", "--eal=-h"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "EAL common options" in proc.stdout


# --------------------------------------------------------------------------
# ASan: the planted bug (run by `make asan`; a no-op elsewhere)
# --------------------------------------------------------------------------

@pytest.mark.skipif(not os.environ.get("PYDPDK_ASAN"), reason="needs the ASan build (make asan)")
def test_asan_catches_the_planted_use_after_free():
    proc = run_python("""
from pydpdk._native import BufferPool
BufferPool(4)._debug_use_after_free()
print("NOT CAUGHT")
""")
    assert proc.returncode != 0 and "NOT CAUGHT" not in proc.stdout
    assert "AddressSanitizer: use-after-poison" in proc.stderr


def test_stale_packet_of_a_freed_burst_raises():
    pool = BufferPool(4)
    burst = pool.alloc_burst(1, 8)
    pkt = burst[0]
    burst.free()
    with pytest.raises(PacketStateError):
        pkt.read(0, 1)
    pool.close()


def test_forked_child_error_is_each_state_error():
    assert issubclass(ForkedChildError, PoolError)
    assert issubclass(ForkedChildError, PortError)
    assert issubclass(ForkedChildError, PacketStateError)
    with pytest.raises(EalHelpRequested) as exc:
        raise EalHelpRequested("text")
    assert exc.value.usage == "text"


def test_pipeline_inherited_by_a_forked_child_refuses_to_run_and_exits_cleanly():
    # Its job thread does not exist in the child: finalising must not wait
    # for it, and running it would allocate from the parent's pool.
    out = ok(run_python(IMPORTS + """
import os, sys
from pydpdk.errors import ForkedChildError
from pydpdk.pipeline import Discard, Generator, Pipeline
pool = BufferPool(256)
pipe = Pipeline().add(Generator(pool, sizes=(64,), count=0), sink=Discard(pool))
pipe.start(duration=30)
pid = os.fork()
if pid == 0:
    try:
        Pipeline().add(Generator(pool, sizes=(64,), count=1), sink=Discard(pool)).run()
        code = 1
    except ForkedChildError:
        code = 0
    sys.stdout.flush()
    sys.exit(code)          # finalisers run: must not hang on the parent's job
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
pipe.stop()
print(pool.in_use)
""", timeout=120))
    assert out.split() == ["0", "0"]
