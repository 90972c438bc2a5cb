"""One lifecycle for every handle (issue 15, item 5): pydpdk._handle.

Every handle class derives from ``Handle`` (or ``HandleMixin``), reports
``closed``, closes idempotently, closes on ``with``, and raises the same
exception for the same condition: ClosedError (EBADF) once closed,
BusyError (EBUSY) when closed/stopped/run while in use.
"""

from __future__ import annotations

import errno
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import pydpdk
from pydpdk import _handle, backends, dpdk, pcap
from pydpdk._burst import LoopbackPort, PacketPool, PortBase
from pydpdk._handle import Handle, HandleMixin
from pydpdk._native import AfPacketPort, BufferPool
from pydpdk.errors import (
    BusyError,
    ClosedError,
    FecError,
    PacketStateError,
    PoolError,
    PortError,
    PydpdkError,
)
from pydpdk.fec import Decoder, Encoder
from pydpdk.pipeline import Discard, Generator, Pipeline

HAVE_PCAP = bool(pydpdk.BUILD_INFO["pcap"])


def test_every_handle_class_derives_from_the_one_base():
    for cls in (PacketPool, PortBase, BufferPool, LoopbackPort, AfPacketPort, Encoder,
                Decoder, Pipeline):
        assert issubclass(cls, Handle), cls
    for cls in (dpdk.Mempool, dpdk.Port):
        if dpdk.AVAILABLE:
            assert issubclass(cls, Handle), cls
    if HAVE_PCAP:
        for cls in (pcap.PcapPort, pcap.CaptureReader, pcap.CaptureWriter):
            assert issubclass(cls, Handle), cls
    assert issubclass(dpdk.Eal, HandleMixin)
    assert issubclass(backends.PortOpener, HandleMixin)


def test_the_two_conditions_are_one_exception_each_and_stay_compatible():
    for cls in (PoolError, PortError, FecError):
        assert issubclass(ClosedError, cls)
        assert issubclass(BusyError, cls)
    assert issubclass(BusyError, PacketStateError)
    assert issubclass(ClosedError, PydpdkError) and issubclass(ClosedError, OSError)


def _closed(call):
    with pytest.raises(ClosedError) as exc:
        call()
    assert exc.value.errno == errno.EBADF
    assert "closed" in str(exc.value)


def test_pool_and_port_closed_raise_closed_error():
    with BufferPool(64) as pool:
        with LoopbackPort(pool) as port:
            assert not port.closed and not pool.closed
            port.start()
        assert port.closed and port.is_closed
        port.close()                                # idempotent
        _closed(port.start)
        _closed(port.rx_burst)
        _closed(port.stats)
    assert pool.closed
    pool.close()
    _closed(lambda: pool.alloc_burst(1))


def test_fec_codecs_closed_raise_closed_error_not_value_error():
    enc = Encoder(4, 1)
    with enc:
        enc.encode([b"x" * 10], now=0)
    assert enc.closed
    enc.close()
    _closed(lambda: enc.encode([b"x"], now=0))
    with Decoder() as dec:
        pass
    _closed(lambda: dec.decode([b"x"], now=0))


@pytest.mark.skipif(not HAVE_PCAP, reason="pydpdk built without libpcap")
def test_capture_writer_closed_raises_closed_error(tmp_path):
    with pcap.CaptureWriter(tmp_path / "a.pcap") as w:
        w.write(b"\x00" * 60, ts_ns=0)
    assert w.closed
    _closed(lambda: w.write(b"\x00" * 60, ts_ns=0))
    _closed(w.flush)
    with pcap.CaptureReader(tmp_path / "a.pcap") as r:
        assert len(list(r)) == 1
    assert r.closed


def test_busy_conditions_raise_busy_error():
    pool = BufferPool(64)
    burst = pool.alloc_burst(2)
    with pytest.raises(BusyError) as exc:
        pool.close()                                # packets out
    assert exc.value.errno == errno.EBUSY and isinstance(exc.value, PoolError)
    assert not pool.closed
    burst.free()
    with LoopbackPort(pool) as port:
        with pytest.raises(BusyError):
            pool.close()                            # a port is open on it
    gen = Generator(pool, sizes=(64,))
    pipe = Pipeline()
    pipe.add(gen, sink=Discard(pool))
    pipe.start()
    try:
        with pytest.raises(BusyError) as exc:
            pipe.start()                            # was RuntimeError
        assert exc.value.errno == errno.EBUSY
        with pytest.raises(BusyError):
            pipe.close()
    finally:
        pipe.stop()
    pipe.close()
    pipe.close()
    assert pipe.closed
    with pytest.raises(ClosedError):
        pipe.run(packets=1)
    del pipe, gen, port
    pool.close()


def test_handle_mixin_closes_once_and_in_with():
    calls = []

    class Thing(HandleMixin):
        def _close(self) -> None:
            calls.append(1)

    with Thing() as t:
        t.check_open()
        assert not t.closed
    assert t.closed and calls == [1]
    t.close()
    assert calls == [1]
    _closed(t.check_open)


def test_check_rc_maps_errno_to_the_errors_class():
    from pydpdk._native import interface_info

    with pytest.raises(PortError) as exc:
        interface_info("nosuchifc15")
    assert exc.value.errno == errno.ENODEV


def test_live_handles_is_empty_without_the_debug_option():
    if _handle.DEBUG:
        pool = BufferPool(8)
        counts = _handle.live_counts()
        assert counts.get("BufferPool", 0) >= 1
        here = [site for name, site in _handle.live_handles() if name == "BufferPool"]
        assert any("test_lifecycle_handle.py" in line for s in here for line in s)
        ids = _handle.live_ids()
        pool.close()
        del pool
        assert len(_handle.live_ids()) == len(ids) - 1
    else:
        BufferPool(8).close()
        assert _handle.live_handles() == [] and _handle.live_counts() == {}


@pytest.mark.skipif(not _handle.DEBUG, reason="needs a -Dhandle_debug=true build (make asan)")
def test_the_suite_reports_a_leaked_handle_with_its_creation_site(tmp_path):
    (tmp_path / "conftest.py").write_text(
        (Path(__file__).parent / "conftest.py").read_text())
    (tmp_path / "test_leaky.py").write_text(textwrap.dedent("""
        from pydpdk._native import BufferPool
        KEPT = []

        def test_leaks():
            KEPT.append(BufferPool(8))
    """))
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(tmp_path / "test_leaky.py")], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert out.returncode != 0, out.stdout
    assert "outlived the test module" in out.stdout
    assert "test_leaky.py" in out.stdout and "BufferPool" in out.stdout
