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
import sys
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from . import _build_info
from ._burst import Burst, Packet, PacketPool
from ._handle import HandleMixin
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
    """RSS hash types (``RTE_ETH_RSS_*`` of ``rte_ethdev.h``), combinable with ``|``.

    Used for ``Port(rss_hf=...)``; a test checks the values against DPDK's
    headers.
    """

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
        """Placeholder: DPDK is not built into this installation.

        Parameters
        ----------
        *args, **kwargs
            Ignored.

        Raises
        ------
        DpdkUnavailableError
            Always, saying how to get DPDK.
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            _require_dpdk()

    class Port:  # type: ignore[no-redef]
        """Placeholder: DPDK is not built into this installation.

        Parameters
        ----------
        *args, **kwargs
            Ignored.

        Raises
        ------
        DpdkUnavailableError
            Always, saying how to get DPDK.
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            _require_dpdk()


def eal_help_requested(args: Sequence[str] | str) -> bool:
    """True if EAL arguments (no program name) contain -h/--help as DPDK parses them.

    ``Eal`` then raises :class:`~pydpdk.errors.EalHelpRequested` instead of
    letting DPDK print its usage and exit the process.  Follows DPDK 22.11's
    getopt tables (abbreviated long options, option arguments, ``--``).

    Parameters
    ----------
    args : sequence of str or str
        EAL arguments without the program name; a string is split like a
        shell would (``shlex.split``).

    Returns
    -------
    bool
        Whether ``rte_eal_init`` would print its usage and exit.

    Raises
    ------
    DpdkUnavailableError
        pydpdk was built without DPDK.
    """
    _require_dpdk()
    raw = shlex.split(args) if isinstance(args, str) else list(args)
    return bool(_dpdk_eal.help_requested(raw))


def eal_usage(prog: str = "pydpdk") -> str:
    """DPDK's EAL usage text, as ``-h`` prints it.

    Read from a short-lived forked child that runs ``rte_eal_init(prog, -h)``
    with stdout on a pipe, so this process is not affected (works before and
    after ``Eal``).

    Parameters
    ----------
    prog : str, default "pydpdk"
        Program name the text shows in its ``Usage:`` line.

    Returns
    -------
    str
        The usage text, ending in a newline.

    Raises
    ------
    OSError
        No pipe (EMFILE) or no fork (EAGAIN) could be made.
    DpdkUnavailableError
        pydpdk was built without DPDK.
    """
    _require_dpdk()
    return str(_dpdk_eal.usage_text(prog))


def _has_option(args: Sequence[str], *names: str) -> bool:
    return any(a == n or a.startswith(n + "=") for a in args for n in names)


class Eal(HandleMixin):
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
    After init, ``argv`` (list of str) is the full argument list given to
    ``rte_eal_init`` and ``init_seconds`` (float) the seconds it took.

    Parameters
    ----------
    args : sequence of str or str, optional
        Raw EAL arguments without the program name (``rte_eal_init``'s
        ``argv[1:]``); they override every default below.
    memory_mb : int, default 256
        Memory for the EAL in MiB (``-m``), at most ``memory_limit()``
        (75% of MemAvailable).
    hugepages : bool, default False
        Use hugepages and DPDK's shared config; False adds ``--no-huge``
        and ``--no-shconf`` (ordinary memory, no files under /var/run/dpdk).
    file_prefix : str, optional
        ``--file-prefix`` (default ``pydpdk<pid>``): names the runtime
        directory that ``dpdk-telemetry.py -f`` and ``dpdk-dumpcap`` use.
    log_level : str, default "error"
        ``--log-level`` of the EAL's log.
    pci : bool, default False
        Probe PCI devices; False adds ``--no-pci``.
    vdevs : iterable of str, default ()
        Virtual devices to create at init (``--vdev``), e.g. ``"net_null0"``.
    lcores : str, optional
        ``--lcores`` map; default ``0@(<the CPUs this process may use>)``, so
        the interpreter's CPU affinity is not changed.
    telemetry : bool, default False
        Keep DPDK's telemetry socket (else ``--no-telemetry``).
    pdump : bool, default False
        Call ``rte_pdump_init()`` after init so that ``dpdk-dumpcap`` and
        ``dpdk-pdump`` can capture the ports; needs ``hugepages=True``.

    Raises
    ------
    EalHelpRequested
        ``-h``/``--help`` is among *args*; nothing was initialised.
    EalStateError
        An EAL already runs in this process (EALREADY), was cleaned up, or
        was inherited from the parent of this forked process (EPERM).
    EalError
        ``rte_eal_init`` (or ``rte_pdump_init``) failed; the message has the
        EAL's own reason and ``errno`` its ``rte_errno``.
    ResourceLimitError
        *memory_mb* is more than ``memory_limit()`` (ENOMEM).
    ValueError
        *memory_mb* is not positive, or ``pdump`` without ``hugepages``.
    DpdkUnavailableError
        pydpdk was built without DPDK.
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
        """The Eal object running in this process.

        Returns
        -------
        Eal
            The object whose ``__init__`` initialised the EAL.

        Raises
        ------
        EalStateError
            The EAL is not running in this process (not initialised, cleaned
            up, or inherited by a forked child).
        DpdkUnavailableError
            pydpdk was built without DPDK.
        """
        _require_dpdk()
        _dpdk_eal.check()
        if cls._current is None:
            raise EalStateError("the EAL was initialised outside pydpdk.dpdk.Eal")
        return cls._current

    @property
    def state(self) -> str:
        """The EAL's state (str): ``"not initialised"``, ``"running"``,
        ``"cleaned up"`` or ``"inherited by a forked child"``."""
        return _dpdk_eal.state()

    @property
    def version(self) -> str:
        """DPDK's runtime version (str, ``rte_version()``, e.g. ``"DPDK 22.11.4"``)."""
        return _dpdk_eal.version()

    def add_vdev(self, devargs: str) -> str:
        """Hotplug a virtual device (``rte_dev_probe``).

        Parameters
        ----------
        devargs : str
            Device name and arguments, e.g. ``"net_null0"`` or
            ``"net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap"``; the name must
            start with ``net_``, ``crypto_``, ``event_``, ``baseband_`` or
            ``dma_``.

        Returns
        -------
        str
            The device name (open it with ``Port(name, pool)``).

        Raises
        ------
        ValueError
            Not a virtual device name.
        PortError
            DPDK refused the device; the message has the EAL's reason and
            ``errno`` its error code.
        EalStateError
            The EAL is not running in this process (not initialised, cleaned
            up, or inherited by a forked child).
        """
        return _dpdk_eal.add_vdev(devargs)

    def remove_vdev(self, name: str) -> None:
        """Remove a device added with :meth:`add_vdev` (``rte_eal_hotplug_remove``).

        Parameters
        ----------
        name : str
            The name :meth:`add_vdev` returned.

        Raises
        ------
        ValueError
            *name* was not added with :meth:`add_vdev`.
        PortError
            A Port on the device is still open (EBUSY; close it first), or
            DPDK refused the removal (its errno).
        EalStateError
            The EAL is not running in this process (not initialised, cleaned
            up, or inherited by a forked child).
        """
        _dpdk_eal.remove_vdev(name)

    def ring_pair(self, name_a: str, name_b: str, depth: int = 1024) -> tuple[str, str]:
        """Two ``net_ring`` ports wired back to back (``rte_eth_from_rings``).

        What is sent on one is received on the other.

        Parameters
        ----------
        name_a, name_b : str
            Names of the two ends; the devices are called ``net_ring_<name>``.
        depth : int, default 1024
            Ring size in packets, a power of two.

        Returns
        -------
        tuple of (str, str)
            The two device names, for ``Port(name, pool)``.

        Raises
        ------
        ValueError
            *depth* is not a power of two.
        PortError
            DPDK could not create the rings or ports (its errno, e.g. EEXIST
            for a name in use).
        EalStateError
            The EAL is not running in this process (not initialised, cleaned
            up, or inherited by a forked child).
        """
        return _dpdk_eal.ring_pair(name_a, name_b, depth)

    def remove_ring_pair(self, name_a: str, name_b: str) -> None:
        """Remove a pair made by :meth:`ring_pair` (its devices and rings).

        Parameters
        ----------
        name_a, name_b : str
            The names given to :meth:`ring_pair`.

        Raises
        ------
        ValueError
            There is no such pair.
        PortError
            A Port on either end is still open (EBUSY; close both first).
        EalStateError
            The EAL is not running in this process (not initialised, cleaned
            up, or inherited by a forked child).
        """
        _dpdk_eal.remove_ring_pair(name_a, name_b)

    def port_ids(self) -> list[int]:
        """Ids of the ethdev ports that exist (``rte_eth_dev_is_valid_port``).

        Returns
        -------
        list of int
            Port ids in increasing order.

        Raises
        ------
        EalStateError
            The EAL is not running in this process (not initialised, cleaned
            up, or inherited by a forked child).
        """
        return _dpdk_eal.port_ids()

    def ports(self) -> dict[int, str]:
        """Every ethdev port with its device name.

        Returns
        -------
        dict of int to str
            ``{port id: device name}``.

        Raises
        ------
        EalStateError
            The EAL is not running in this process (not initialised, cleaned
            up, or inherited by a forked child).
        """
        return {p: _dpdk_eal.port_name(p) for p in _dpdk_eal.port_ids()}

    def lcores(self) -> list[dict[str, Any]]:
        """The enabled lcores.

        Returns
        -------
        list of dict
            One dict per lcore: ``lcore`` (id), ``cpu`` (CPU id, or the first
            of its cpuset), ``socket`` (NUMA id) and ``main`` (bool).

        Raises
        ------
        EalStateError
            The EAL is not running in this process (not initialised, cleaned
            up, or inherited by a forked child).
        """
        return _dpdk_eal.lcores()

    def sockets(self) -> list[int]:
        """NUMA socket ids known to the EAL.

        Returns
        -------
        list of int
            ``rte_socket_id_by_idx`` of every socket.

        Raises
        ------
        EalStateError
            The EAL is not running in this process (not initialised, cleaned
            up, or inherited by a forked child).
        """
        return _dpdk_eal.sockets()

    def info(self) -> dict[str, Any]:
        """Summary of the running EAL.

        Returns
        -------
        dict
            ``version`` (str), ``args`` (list of str, the EAL argv),
            ``init_seconds`` (float, s), ``hugepages``, ``pci`` (bool),
            ``lcores`` (as :meth:`lcores`), ``sockets`` (list of int),
            ``ports`` (as :meth:`ports`), ``telemetry`` (as
            :meth:`telemetry`) and ``pdump`` (bool, ``rte_pdump_init`` done).

        Raises
        ------
        EalStateError
            The EAL is not running in this process (not initialised, cleaned
            up, or inherited by a forked child).
        """
        return _dpdk_eal.info()

    def telemetry(self) -> dict[str, Any]:
        """DPDK telemetry of this process (docs/telemetry.md).

        Returns
        -------
        dict
            ``enabled`` (bool: the telemetry socket exists), ``socket`` (str
            path, or None), ``file_prefix`` (str for ``dpdk-telemetry.py -f``,
            or None), ``commands`` (list of the ``/pydpdk`` commands
            registered) and ``error`` (why they are missing, or None).

        Raises
        ------
        EalStateError
            The EAL is not running in this process (not initialised, cleaned
            up, or inherited by a forked child).
        """
        return _dpdk_eal.telemetry_info()

    def close(self) -> None:
        """Stop and close ports, free pools, remove added vdevs, rte_eal_cleanup.

        Idempotent.  Refused while a pipeline still runs: its loop polls
        ports of this EAL (halt or join it first).

        Raises
        ------
        BusyError
            A :class:`pydpdk.pipeline.Pipeline` is running (EBUSY); nothing
            was closed.
        """
        # Only when pipelines were ever made (no import here: close() also
        # runs at interpreter exit).
        pipeline = sys.modules.get("pydpdk.pipeline")
        if not self.closed and pipeline is not None:
            import errno as _errno

            from .errors import BusyError

            running = list(pipeline._running)
            if running:
                raise BusyError(_errno.EBUSY, f"{len(running)} pipeline(s) still running: "
                                "halt() or join() them before closing the EAL")
        super().close()

    def _close(self) -> None:
        """Stop and close ports, free pools, remove added vdevs, rte_eal_cleanup.

        Called once by ``close()`` (HandleMixin: idempotent, ``with``
        closes).  If packets are still held by bursts the DPDK memory is
        left mapped (so their later release cannot crash) and a
        ResourceWarning says so.
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
                stacklevel=3,
            )

    def __repr__(self) -> str:
        return f"<Eal {self.state}>"


@dataclass(frozen=True)
class ForwardStats:
    """What :func:`forward` did.

    Parameters
    ----------
    rx_packets : int
        Packets received on all links.
    tx_packets : int
        Packets sent on all links.
    dropped : int
        Packets a tx queue refused, freed (``rx_packets = tx_packets +
        dropped``).
    rx_bursts : int
        Rx calls that returned at least one packet.
    polls : int
        Rx calls (``rte_eth_rx_burst``) in all, empty ones included.
    seconds : float
        Wall-clock duration of the run, in seconds.
    stopped_by : str
        Why it ended: ``"count"`` (*max_packets* received), ``"duration"``,
        ``"interrupt"`` (Ctrl-C) or ``"quit"``.
    """

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
        """Packets per non-empty rx burst (float; 0.0 when nothing arrived)."""
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
    ``dropped``.  The queues are claimed for the run: burst calls on them
    from another thread raise ConcurrentUseError meanwhile.  The loop is
    DPDK's l2fwd example's (``rte_eth_rx_burst``/``rte_eth_tx_burst``).

    Parameters
    ----------
    rx : Port
        Started port to receive from.
    tx : Port, optional
        Started port to send on; None (or *rx*) sends back out of *rx*.
    bidirectional : bool, default True
        Also forward *tx* -> *rx* (when *tx* is another port).
    burst : int, default 32
        Packets per rx call, 1 to ``BURST_MAX``.
    max_packets : int, optional
        Stop after this many packets were received (all links).
    duration : float, optional
        Stop after this many seconds.
    rx_queue, tx_queue : int, default 0
        Queue ids used on every link.

    Returns
    -------
    ForwardStats
        Packet counts, duration and why it stopped.

    Raises
    ------
    ValueError
        *burst* out of range, a queue that does not exist, or a limit that
        is not positive.
    PortError
        A port is closed or not started, or the loop failed (its errno).
    ConcurrentUseError
        Another native loop polls one of the queues (EBUSY).
    DpdkUnavailableError
        pydpdk was built without DPDK.
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
