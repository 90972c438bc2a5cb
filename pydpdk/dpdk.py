"""DPDK backend: EAL, mbuf pools, ethdev ports and the native forwarding loop.

Typical use::

    from pydpdk.dpdk import Eal, Mempool, Port, forward

    with Eal(vdevs=["net_null0", "net_null1"]) as eal:
        pool = Mempool(8191)
        with Port("net_null0", pool) as a, Port("net_null1", pool) as b:
            a.start(); b.start()
            burst = a.rx_burst(max_packets=32)
            b.tx_burst(burst)
            burst.free()          # whatever b did not take
            print(forward(a, b, duration=1.0))

The EAL is a process singleton: one ``Eal`` per process, never re-initialised
after it is closed, unusable from a forked child (all raise EalStateError).
Defaults need no system configuration: no hugepages (``--no-huge`` with
``memory_mb`` of ordinary memory), a per-process ``--file-prefix``, no shared
config files, error-level logging, no PCI probing, and lcore 0 floating over
the CPUs this process may use (the interpreter's affinity is not changed).
"""

from __future__ import annotations

import enum
import os
import shlex
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from . import _build_info
from ._burst import Burst, Packet, PacketPool
from .errors import DpdkUnavailableError, EalStateError, ResourceLimitError

__all__ = [
    "AVAILABLE",
    "Burst",
    "Eal",
    "ForwardStats",
    "Mempool",
    "Packet",
    "PacketPool",
    "Port",
    "RssHash",
    "eal_help_requested",
    "eal_usage",
    "forward",
]

_HOW_TO_GET_DPDK = (
    "pydpdk was built without DPDK. Install it (Debian/Ubuntu: apt install dpdk dpdk-dev "
    "libdpdk-dev pkg-config) and rebuild pydpdk (make build, or pip install . "
    "-Csetup-args=-Ddpdk=enabled)"
)

try:
    from . import _dpdk_eal, _dpdk_ethdev, _dpdk_mbuf
except ImportError as exc:  # built without DPDK (or libdpdk missing at run time)
    AVAILABLE = False
    _import_error: ImportError | None = exc
else:
    AVAILABLE = True
    _import_error = None


def _require_dpdk() -> None:
    if not AVAILABLE:
        detail = _HOW_TO_GET_DPDK
        if _build_info.BUILD_INFO.get("dpdk"):
            detail = f"the DPDK extensions failed to load ({_import_error})"
        raise DpdkUnavailableError(detail)


class RssHash(enum.IntFlag):
    """RSS hash types (``RTE_ETH_RSS_*``); a test checks them against the headers."""

    IPV4 = 1 << 2
    NONFRAG_IPV4_TCP = 1 << 4
    NONFRAG_IPV4_UDP = 1 << 5
    IPV6 = 1 << 8
    NONFRAG_IPV6_TCP = 1 << 10
    NONFRAG_IPV6_UDP = 1 << 11
    ETH = 1 << 24


if AVAILABLE:
    Mempool = _dpdk_mbuf.Mempool
    Port = _dpdk_ethdev.Port
else:

    class Mempool(PacketPool):  # type: ignore[no-redef]
        """Placeholder: DPDK is not built into this installation."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            _require_dpdk()

    class Port:  # type: ignore[no-redef]
        """Placeholder: DPDK is not built into this installation."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            _require_dpdk()


def eal_help_requested(args: Sequence[str] | str) -> bool:
    """True if EAL arguments (no program name) contain -h/--help as DPDK parses them.

    ``Eal`` then raises :class:`~pydpdk.errors.EalHelpRequested` instead of
    letting DPDK print its usage and exit the process.
    """
    _require_dpdk()
    raw = shlex.split(args) if isinstance(args, str) else list(args)
    return bool(_dpdk_eal.help_requested(raw))


def eal_usage(prog: str = "pydpdk") -> str:
    """DPDK's EAL usage text, as ``-h`` prints it (read from a short-lived
    forked child, so this process is not affected)."""
    _require_dpdk()
    return str(_dpdk_eal.usage_text(prog))


def _has_option(args: Sequence[str], *names: str) -> bool:
    return any(a == n or a.startswith(n + "=") for a in args for n in names)


class Eal:
    """The DPDK Environment Abstraction Layer, as a context manager.

    *args* are raw EAL arguments (a list, or a string split like a shell
    would); keywords add the usual ones unless *args* already has them.

    Observability (docs/telemetry.md): ``telemetry=True`` keeps DPDK's
    telemetry socket, where ``dpdk-telemetry.py -f <file_prefix>`` sees the
    ``/pydpdk/...`` counters of pipelines and FEC codecs; ``pdump=True``
    (needs ``hugepages=True``) calls ``rte_pdump_init()`` so that
    ``dpdk-dumpcap``/``dpdk-pdump`` can capture this process's ports.

    ``-h``/``--help`` among them raises
    :class:`~pydpdk.errors.EalHelpRequested` carrying DPDK's usage text
    (DPDK itself would print it and end the process).  Not thread-safe
    (create and close it from one thread); unusable in a forked child.
    """

    _current: Eal | None = None

    def __init__(
        self,
        args: Sequence[str] | str | None = None,
        *,
        memory_mb: int = 256,
        hugepages: bool = False,
        file_prefix: str | None = None,
        log_level: str = "error",
        pci: bool = False,
        vdevs: Iterable[str] = (),
        lcores: str | None = None,
        telemetry: bool = False,
        pdump: bool = False,
    ) -> None:
        _require_dpdk()
        raw = shlex.split(args) if isinstance(args, str) else list(args or ())
        if memory_mb <= 0:
            raise ValueError(f"memory_mb must be > 0, got {memory_mb}")
        from ._burst import MEMORY_FRACTION, memory_limit

        limit = memory_limit()
        if limit is not None and memory_mb * 2**20 > limit:
            raise ResourceLimitError(
                12,  # ENOMEM
                f"memory_mb={memory_mb} is more than the limit of {limit // 2**20} MiB "
                f"({MEMORY_FRACTION:.0%} of MemAvailable in /proc/meminfo)")
        argv = ["pydpdk"]
        if not hugepages and not _has_option(raw, "--no-huge"):
            argv.append("--no-huge")
        if not _has_option(raw, "-m", "--socket-mem"):
            argv += ["-m", str(memory_mb)]
        # The runtime directory of a prefix pydpdk chose (DPDK leaves it
        # behind, empty) is removed again by close() and at exit.
        self._own_prefix: str | None = None
        if not _has_option(raw, "--file-prefix"):
            if file_prefix is None:
                self._own_prefix = f"pydpdk{os.getpid()}"
            argv.append(f"--file-prefix={file_prefix or self._own_prefix}")
        if not hugepages and not _has_option(raw, "--no-shconf", "--in-memory"):
            argv.append("--no-shconf")
        if not _has_option(raw, "--log-level"):
            argv.append(f"--log-level={log_level}")
        if not pci and not _has_option(raw, "--no-pci", "-a", "--allow", "-b", "--block"):
            argv.append("--no-pci")
        if not telemetry and not _has_option(raw, "--no-telemetry", "--telemetry"):
            argv.append("--no-telemetry")
        if not _has_option(raw, "-l", "--lcores", "-c", "--coremask"):
            if lcores is None:
                # One lcore allowed on every CPU we may use: EAL pins the
                # calling thread to it, so this keeps the interpreter's affinity.
                cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
                lcores = f"0@({cpus})"
            argv.append(f"--lcores={lcores}")
        argv += [f"--vdev={v}" for v in vdevs]
        argv += raw
        self.argv: list[str] = argv
        if pdump and not hugepages:
            raise ValueError("pdump=True needs hugepages=True: the capturing process "
                             "(dpdk-dumpcap, dpdk-pdump) maps this process's hugepage memory")
        self.init_seconds: float = _dpdk_eal.init(argv)
        if self._own_prefix is not None:
            import atexit

            atexit.register(self.close)     # before the EAL's own exit hook
        if pdump:  # docs/telemetry.md: capture from a secondary process
            try:
                _dpdk_eal.pdump_init()
            except BaseException:
                _dpdk_eal.cleanup()
                raise
        Eal._current = self

    @classmethod
    def current(cls) -> Eal:
        """The running Eal (EalStateError when there is none)."""
        _require_dpdk()
        _dpdk_eal.check()
        if cls._current is None:
            raise EalStateError("the EAL was initialised outside pydpdk.dpdk.Eal")
        return cls._current

    @property
    def state(self) -> str:
        return _dpdk_eal.state()

    @property
    def version(self) -> str:
        return _dpdk_eal.version()

    def add_vdev(self, devargs: str) -> str:
        """Hotplug a virtual device; returns its name (open it with ``Port(name, pool)``)."""
        return _dpdk_eal.add_vdev(devargs)

    def remove_vdev(self, name: str) -> None:
        """Remove a device added with :meth:`add_vdev` (close its Port first)."""
        _dpdk_eal.remove_vdev(name)

    def ring_pair(self, name_a: str, name_b: str, depth: int = 1024) -> tuple[str, str]:
        """Two ``net_ring`` ports wired back to back; returns their device names."""
        return _dpdk_eal.ring_pair(name_a, name_b, depth)

    def remove_ring_pair(self, name_a: str, name_b: str) -> None:
        _dpdk_eal.remove_ring_pair(name_a, name_b)

    def port_ids(self) -> list[int]:
        return _dpdk_eal.port_ids()

    def ports(self) -> dict[int, str]:
        """{port id: device name} of every ethdev port."""
        return {p: _dpdk_eal.port_name(p) for p in _dpdk_eal.port_ids()}

    def lcores(self) -> list[dict[str, Any]]:
        return _dpdk_eal.lcores()

    def sockets(self) -> list[int]:
        return _dpdk_eal.sockets()

    def info(self) -> dict[str, Any]:
        return _dpdk_eal.info()

    def telemetry(self) -> dict[str, Any]:
        """DPDK telemetry of this process: ``enabled``, ``socket`` (path),
        ``file_prefix`` (``dpdk-telemetry.py -f``), ``commands`` (the
        ``/pydpdk`` ones, docs/telemetry.md) and ``error`` (or None)."""
        return _dpdk_eal.telemetry_info()

    def close(self) -> None:
        """Stop and close ports, free pools, remove added vdevs, rte_eal_cleanup.

        Idempotent.  If packets are still held by bursts the DPDK memory is left
        mapped (so their later release cannot crash) and a ResourceWarning says so.
        """
        problems = _dpdk_eal.cleanup()
        if (not problems and self._own_prefix is not None
                and _dpdk_eal.state() == _dpdk_eal.CLEANED_UP):
            from .cli_args import remove_dpdk_runtime_dir

            remove_dpdk_runtime_dir(int(self._own_prefix[len("pydpdk"):]))
        if problems:
            warnings.warn(
                "EAL teardown incomplete: " + "; ".join(problems),
                ResourceWarning,
                stacklevel=2,
            )

    def __enter__(self) -> Eal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Eal {self.state}>"


@dataclass(frozen=True)
class ForwardStats:
    """What :func:`forward` did."""

    rx_packets: int
    tx_packets: int
    dropped: int
    rx_bursts: int
    polls: int
    seconds: float
    stopped_by: str

    @property
    def mpps(self) -> float:
        """Forwarded (sent) packets per second, in millions."""
        return self.tx_packets / self.seconds / 1e6 if self.seconds > 0 else 0.0

    @property
    def average_burst(self) -> float:
        return self.rx_packets / self.rx_bursts if self.rx_bursts else 0.0


def forward(
    rx: Port,
    tx: Port | None = None,
    *,
    bidirectional: bool = True,
    burst: int = 32,
    max_packets: int | None = None,
    duration: float | None = None,
    rx_queue: int = 0,
    tx_queue: int = 0,
) -> ForwardStats:
    """l2fwd-style forwarding in native code, GIL released.

    Packets received on *rx* go out on *tx* (and, with *bidirectional*, the
    other way too); with *tx* None they go back out of *rx*.  Runs until
    *max_packets* are received, *duration* seconds pass, or Ctrl-C (then it
    returns normally with ``stopped_by == "interrupt"``).  With neither limit
    it runs until Ctrl-C.  Packets a tx queue refuses are freed and counted in
    ``dropped``.  Do not use the same queues from another thread meanwhile.
    """
    _require_dpdk()
    if tx is None or tx is rx:
        links = [(rx, rx_queue, rx, tx_queue)]
    else:
        links = [(rx, rx_queue, tx, tx_queue)]
        if bidirectional:
            links.append((tx, rx_queue, rx, tx_queue))
    result = _dpdk_ethdev.forward(links, burst, max_packets, duration)
    return ForwardStats(**result)
