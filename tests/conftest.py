"""Shared fixtures.

DPDK cannot re-initialise its EAL in one process, so every DPDK test in this
session shares one EAL (the session fixture ``eal``) and hotplugs the virtual
devices it needs; tests that need their own EAL (bad arguments, second init,
fork) run a subprocess.  After every test that uses the shared ``mempool``,
the pool must be full again (leak check).  In a build with
``-Dhandle_debug=true`` (``make asan``) every test module must also leave no
handle (pool, port, codec, pipeline, capture file) open and alive: the
creation site of each one that outlives it is reported.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import itertools
import struct
import subprocess
import sys
import textwrap

import pytest

from pydpdk import _handle, dpdk

requires_dpdk = pytest.mark.skipif(not dpdk.AVAILABLE, reason="pydpdk built without DPDK")

_names = itertools.count()


@pytest.fixture(scope="session")
def eal():
    if not dpdk.AVAILABLE:
        pytest.skip("pydpdk built without DPDK")
    with dpdk.Eal() as e:
        yield e


# Handles that session fixtures keep for the whole run (not leaks).
_session_handles: set[int] = set()


@pytest.fixture(scope="module", autouse=True)
def _handle_leak_check():
    """With -Dhandle_debug=true: no handle made by a test module outlives it
    unclosed (a closed one may still be referenced, e.g. by pytest's record
    of the module's last test: it holds no native resource any more)."""
    if not _handle.DEBUG:
        yield
        return
    gc.collect()
    before = _handle.live_ids()
    yield
    gc.collect()
    leaked = _handle.live_ids() - before - _session_handles
    if leaked:
        sites = "\n  ".join(sorted(_handle.describe(leaked)))
        pytest.fail(f"{len(leaked)} handle(s) outlived the test module:\n  {sites}",
                    pytrace=False)


@pytest.fixture(scope="session")
def mempool(eal):
    pool = dpdk.Mempool(4095, cache_size=64)
    _session_handles.add(id(pool))
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def big_mempool(eal):
    """A Mempool as large as the pipeline tests' BufferPool (8191 mbufs, no cache)."""
    pool = dpdk.Mempool(8191, cache_size=0)
    _session_handles.add(id(pool))         # lives for the session, not a module
    yield pool
    pool.close()


@pytest.fixture(params=["buffer", "mempool"])
def production_pool(request):
    """The production pool of each backend, as pipelines use them: the native
    BufferPool (every build) and a DPDK Mempool (skipped without DPDK).
    Every packet must be back in it after the test."""
    if request.param == "buffer":
        from pydpdk._native import BufferPool

        pool = BufferPool(capacity=8192)
        yield pool
        gc.collect()
        assert pool.available == pool.capacity, "packets leaked"
        pool.close()
    else:
        pool = request.getfixturevalue("big_mempool")
        yield pool
        gc.collect()
        assert pool.in_use == 0, "packets leaked"


@pytest.fixture(autouse=True)
def _dpdk_leak_check(request):
    """Every mbuf back in the pool after each test that used it."""
    yield
    if "mempool" in request.fixturenames:
        pool = request.getfixturevalue("mempool")
        gc.collect()
        assert pool.in_use == 0, f"test leaked {pool.in_use} mbuf(s)"


@pytest.fixture
def vdev(eal):
    """Factory: vdev(kind, **args) hotplugs a uniquely named vdev, removed after the test."""
    added = []

    def make(kind: str, **args: object) -> str:
        name = f"{kind}{next(_names)}"
        devargs = ",".join([name] + [f"{k}={v}" for k, v in args.items()])
        added.append(eal.add_vdev(devargs))
        return name

    yield make
    for name in reversed(added):
        eal.remove_vdev(name)


@pytest.fixture
def open_port(mempool, vdev):
    """Factory: open_port(device, **kw) -> started Port, closed after the test."""
    ports = []

    def make(device, start=True, **kwargs):
        port = dpdk.Port(device, mempool, **kwargs)
        ports.append(port)
        if start:
            port.start()
        return port

    yield make
    for port in reversed(ports):
        port.close()


@pytest.fixture
def null_pair(vdev, open_port):
    return open_port(vdev("net_null")), open_port(vdev("net_null"))


@pytest.fixture
def ring_pair(eal, open_port):
    n = next(_names)
    a, b = eal.ring_pair(f"ra{n}", f"rb{n}", depth=256)
    ports = open_port(a), open_port(b)
    yield ports
    for p in ports:
        p.close()
    eal.remove_ring_pair(f"ra{n}", f"rb{n}")


# ---------------------------------------------------------------------------
# pcap files: written here, read back with libpcap (an independent reader)
# ---------------------------------------------------------------------------

def write_pcap(path, frames, linktype=1):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))
        for i, frame in enumerate(frames):
            f.write(struct.pack("<IIII", 1_700_000_000 + i, i, len(frame), len(frame)))
            f.write(frame)


class _PcapPkthdr(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long),
                ("caplen", ctypes.c_uint32), ("len", ctypes.c_uint32)]


def read_pcap_with_libpcap(path):
    """Frames of a pcap file, read by libpcap itself (not by pydpdk code)."""
    lib = ctypes.CDLL(ctypes.util.find_library("pcap") or "libpcap.so.0.8")
    lib.pcap_open_offline.restype = ctypes.c_void_p
    lib.pcap_open_offline.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    lib.pcap_next_ex.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.POINTER(_PcapPkthdr)),
                                 ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte))]
    lib.pcap_close.argtypes = [ctypes.c_void_p]
    err = ctypes.create_string_buffer(256)
    handle = lib.pcap_open_offline(str(path).encode(), err)
    if not handle:
        raise OSError(f"libpcap cannot open {path}: {err.value.decode()}")
    frames = []
    hdr = ctypes.POINTER(_PcapPkthdr)()
    data = ctypes.POINTER(ctypes.c_ubyte)()
    try:
        while lib.pcap_next_ex(handle, ctypes.byref(hdr), ctypes.byref(data)) == 1:
            frames.append(ctypes.string_at(data, hdr.contents.caplen))
    finally:
        lib.pcap_close(handle)
    return frames


def udp_frames(n, payload_len=64):
    """Distinct Ethernet/IPv4/UDP frames (payload carries the index)."""
    out = []
    for i in range(n):
        payload = i.to_bytes(4, "big") * (payload_len // 4)
        udp = struct.pack("!HHHH", 40000 + i % 1000, 40999, 8 + len(payload), 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0,
                         bytes([10, 0, 0, 1]), bytes([10, 0, 1, i % 250 + 1]))
        eth = bytes.fromhex("020000000002") + bytes.fromhex("020000000001") + b"\x08\x00"
        out.append(eth + ip + udp)
    return out


def run_python(code, timeout=60):
    """Run code in a fresh interpreter (its own EAL); returns CompletedProcess."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout)
