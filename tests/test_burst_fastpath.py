"""rx_burst/tx_burst with a single Python thread (docs/architecture.md, "GIL").

A process whose only Python thread calls rx_burst/tx_burst keeps the GIL
through the call and skips the queue mutex; a native loop's claim on the
queue must still refuse the call.  Each case runs in a fresh interpreter, so
that no thread of the test session makes the process multi-threaded.
"""

import subprocess

from conftest import run_python

IMPORTS = """
import threading
from pydpdk._burst import LoopbackPort
from pydpdk._native import BufferPool
from pydpdk.errors import ConcurrentUseError
from pydpdk.pipeline import Discard, Pipeline, PortSink, PortSource, PyStage
"""


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


STAGE = """
seen = []

def stage(burst):
    assert threading.active_count() == 1
    try:
        port.rx_burst(0).free()
        seen.append("rx-accepted")
    except ConcurrentUseError:
        seen.append("rx-refused")
    extra = pool.alloc_burst(1, 64)
    try:
        port.tx_burst(extra, 0)
        seen.append("tx-accepted")
    except ConcurrentUseError:
        seen.append("tx-refused")
    extra.free()
"""


def test_claimed_rx_queue_refuses_the_only_python_thread():
    # The pipeline runs on the calling (main, only) thread; its Python stage
    # calls back into the port whose rx queue the pipeline's source claimed.
    out = ok(run_python(IMPORTS + """
pool = BufferPool(512)
port = LoopbackPort(pool, depth=256)
port.start()
port.tx_burst(pool.alloc_burst(8, 64), 0)
""" + STAGE + """
Pipeline().add(PortSource(port), PyStage(stage), sink=Discard(pool)).run(packets=8, duration=5)
leftover = port.rx_burst(0, 256)
leftover.free()
print(" ".join(sorted(set(seen))))
""", timeout=60))
    assert out.split() == ["rx-refused", "tx-accepted"]


def test_claimed_tx_queue_refuses_the_only_python_thread():
    out = ok(run_python(IMPORTS + """
pool = BufferPool(512)
port = LoopbackPort(pool, depth=256)
port.start()
src = LoopbackPort(pool, depth=64)
src.start()
src.tx_burst(pool.alloc_burst(8, 64), 0)
""" + STAGE + """
Pipeline().add(PortSource(src), PyStage(stage), sink=PortSink(port)).run(packets=8, duration=5)
print(" ".join(sorted(set(seen))))
""", timeout=60))
    assert out.split() == ["rx-accepted", "tx-refused"]


def test_the_only_python_thread_moves_every_packet():
    out = ok(run_python(IMPORTS + """
pool = BufferPool(512)
port = LoopbackPort(pool, depth=256)
port.start()
sent = got = 0
for i in range(300):
    b = pool.alloc_burst(1 + i % 32, 64)
    sent += port.tx_burst(b, 0)
    b.free()
    r = port.rx_burst(0, 1 + (i * 7) % 32)
    got += len(r)
    r.free()
while True:
    r = port.rx_burst(0, 256)
    if not r:
        break
    got += len(r)
    r.free()
assert threading.active_count() == 1
print(sent, got, pool.in_use)
""", timeout=60))
    sent, got, in_use = map(int, out.split())
    assert sent == got > 0 and in_use == 0
