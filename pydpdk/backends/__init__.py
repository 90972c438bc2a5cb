"""Backend objects: what a backend gives the rest of pydpdk.

:func:`pydpdk.backend.select` returns one of these (pyzmq's backend
selection is the model): :class:`~pydpdk.backends.dpdk.DpdkBackend` (DPDK's
EAL, mempools and ethdev ports) or
:class:`~pydpdk.backends.native.NativeBackend` (pydpdk's own buffer pool,
AF_PACKET, capture file and loopback ports).  Every backend offers

* :meth:`Backend.runtime`: its process-wide runtime as a context manager
  (the EAL for DPDK; nothing for native);
* :meth:`Backend.pool`: a packet pool;
* :meth:`Backend.opener`: ports for every port spec of the command line
  (``pydpdk.portspec``), closed together;
* :meth:`Backend.link_pair`: two ports wired back to back (a link in memory);
* :meth:`Backend.launch`: a worker thread for a native loop (DPDK also
  launches on worker lcores: :meth:`~pydpdk.backends.dpdk.DpdkBackend.launch_lcore`).

Only the modules of this package (and the public facades of each backend:
:mod:`pydpdk.dpdk`, :mod:`pydpdk.afpacket`, :mod:`pydpdk.pcap`,
:mod:`pydpdk.udp`) import the private extensions of a backend; the DPDK
backend's module imports DPDK's extensions only when used, so it imports on
a build without DPDK.
"""

from __future__ import annotations

import abc
import contextlib
import importlib
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

from .._handle import HandleMixin
from ..errors import PortError
from ..portspec import parse_kv, parse_pcap_spec, parse_udp_spec, pcap_port_kwargs

__all__ = ["Backend", "PortOpener", "Worker", "get", "open_udp_spec", "worker_backend"]

# One end of a link: (the port it receives on, the port it sends on).
End = tuple[Any, Any]

_CLASSES = {"dpdk": ("pydpdk.backends.dpdk", "DpdkBackend"),
            "native": ("pydpdk.backends.native", "NativeBackend")}
_INSTANCES: dict[str, Backend] = {}


def get(name: str) -> Backend:
    """The backend object called *name*, without checking it can run here.

    Use :func:`pydpdk.backend.select` to choose one; this only maps a name
    to its (shared, stateless) object.

    Parameters
    ----------
    name : str
        ``"dpdk"`` or ``"native"``.

    Returns
    -------
    Backend
        The same object for every call with the same name.

    Raises
    ------
    ValueError
        *name* is not a backend.
    """
    if name not in _CLASSES:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(_CLASSES)}")
    if name not in _INSTANCES:
        module, cls = _CLASSES[name]
        _INSTANCES[name] = getattr(importlib.import_module(module), cls)()
    return _INSTANCES[name]


def worker_backend(lcore: int | None = None) -> Backend:
    """The backend whose :meth:`Backend.launch` runs a native loop's worker.

    DPDK when *lcore* is given, or when DPDK's extensions are loaded in
    this process (a thread that touches mempools then needs an lcore id,
    docs/architecture.md, "Threads"); native otherwise.

    Parameters
    ----------
    lcore : int, optional
        The DPDK worker lcore asked for, if any.

    Returns
    -------
    Backend
        The backend object; not checked for availability (launching on an
        lcore without DPDK raises there).
    """
    if lcore is not None or "pydpdk._dpdk_eal" in sys.modules:
        return get("dpdk")
    return get("native")


def open_udp_spec(rest: str, pool: Any, **extra: Any) -> Any:
    """A UDP socket port from a ``udp:`` spec.

    Parameters
    ----------
    rest : str
        The spec after ``udp:`` (``pydpdk.portspec.parse_udp_spec``).
    pool : PacketPool
        The pool received datagrams are put in (any backend's).
    **extra
        More :class:`pydpdk.udp.UdpPort` keyword arguments.

    Returns
    -------
    UdpPort
        The port, not started.

    Raises
    ------
    ValueError
        A malformed spec.
    PortError
        The socket cannot be opened or bound (errno set).
    """
    from ..udp import UdpPort

    peer, kwargs = parse_udp_spec(rest)
    return UdpPort(peer, pool, **dict(kwargs, **extra))


class Worker:
    """A running worker: a thread, or a DPDK lcore.

    Parameters
    ----------
    join : callable
        Waits until the worker has ended; called once by :meth:`join`.
    """

    def __init__(self, join: Callable[[], object]) -> None:
        self._join: Callable[[], object] | None = join

    def join(self) -> None:
        """Wait until the worker has ended (a second call returns at once)."""
        join, self._join = self._join, None
        if join is not None:
            join()


class Backend(metaclass=abc.ABCMeta):
    """What every backend offers; get one from :func:`pydpdk.backend.select`.

    Objects are stateless and shared: the resources they create (pools,
    ports, the EAL) are owned by the caller or by the context managers
    they return.
    """

    #: The backend's name: ``"dpdk"`` or ``"native"``.
    name: str = ""

    def __repr__(self) -> str:
        return f"<pydpdk {self.name} backend>"

    @abc.abstractmethod
    def runtime(self, eal_args: list[str] | tuple[str, ...] = (), *, reuse: bool = True,
                eal_optional: bool = False) -> contextlib.AbstractContextManager[Any]:
        """The backend's process-wide runtime for a ``with`` block.

        Parameters
        ----------
        eal_args : list of str, default ()
            DPDK EAL arguments (raw, as after ``--`` on the command line).
        reuse : bool, default True
            An EAL already running in this process is used as it is (and
            left running); False: start one for the block.
        eal_optional : bool, default False
            True: *eal_args* only apply where there is an EAL (the native
            backend ignores them); False: the native backend refuses them.

        Returns
        -------
        context manager
            Yields the runtime object (:class:`pydpdk.dpdk.Eal`, or None for
            the native backend) and tears it down on the way out if it
            started it.

        Raises
        ------
        ValueError
            EAL arguments given to the native backend.
        EalError, EalStateError
            DPDK: the EAL refused the arguments, or cannot start (again).
        """

    @abc.abstractmethod
    def pool(self, n: int, *, data_room: int = 2048, cache_size: int = 256) -> Any:
        """A packet pool of this backend.

        Parameters
        ----------
        n : int
            Buffers, > 1.  The DPDK backend makes ``n - 1`` mbufs: a mempool
            sits on a ring of a power of two slots, one of which stays
            empty, so ``2**q - 1`` is its best size (``rte_mempool_create``).
        data_room : int, default 2048
            Bytes of packet data per buffer, headroom (128 bytes, for
            headers prepended in place) not included.
        cache_size : int, default 256
            DPDK: mbufs in each lcore's cache; ignored by native pools.

        Returns
        -------
        PacketPool
            :class:`pydpdk.dpdk.Mempool` or :class:`pydpdk.afpacket.BufferPool`;
            the caller closes it.

        Raises
        ------
        ValueError
            *n* or *data_room* out of range.
        ResourceLimitError
            More memory than the limit (75% of MemAvailable).
        EalStateError
            DPDK: the EAL is not running (enter :meth:`runtime` first).
        """

    def opener(self, pool: Any, *, rx_blocks: int | None = None) -> PortOpener:
        """A :class:`PortOpener` for port specs on this backend.

        Parameters
        ----------
        pool : PacketPool
            The pool of every port it opens (one of this backend's).
        rx_blocks : int, optional
            Receive ring blocks of AF_PACKET ports (256 KiB each); None:
            the port's default.

        Returns
        -------
        PortOpener
            Close it (or leave its ``with`` block) to close every port.
        """
        return PortOpener(self, pool, rx_blocks=rx_blocks)

    @abc.abstractmethod
    def capture_spec(self, rx: str | None = None, tx: str | None = None, *,
                     name: str = "capture0") -> str:
        """The port spec of a capture file port on this backend.

        Parameters
        ----------
        rx : str, optional
            The capture to read (pcap; pcapng on the native backend).
        tx : str, optional
            The capture to write.
        name : str, default "capture0"
            DPDK: the vdev is ``net_pcap_<name>`` (unique among open ports).

        Returns
        -------
        str
            ``net_pcap_<name>,rx_pcap=RX,tx_pcap=TX`` (DPDK's ``net_pcap``)
            or ``pcap:rx=RX,tx=TX`` (pydpdk's own capture port).

        Raises
        ------
        ValueError
            Neither *rx* nor *tx* given, or a path with a comma (the specs'
            separator).
        """

    @staticmethod
    def _capture_paths(rx: str | None, tx: str | None) -> None:
        if rx is None and tx is None:
            raise ValueError("a capture port needs a file to read (rx), to write (tx) or both")
        for path in (rx, tx):
            if path is not None and "," in str(path):
                raise ValueError(f"capture file {str(path)!r}: a port spec cannot hold a comma")

    def _open(self, spec: str, pool: Any, opener: PortOpener, queues: int
              ) -> tuple[list[Any], list[int]]:
        """(port objects, queue of each) serving *queues* queues of *spec*:
        queue i is queue ``index[i]`` of ``objects[i]`` (or of the only
        object).  Kinds every backend shares are opened here."""
        kind, sep, rest = spec.partition(":")
        if sep and kind == "udp":
            if queues == 1:
                return [open_udp_spec(rest, pool)], [0]
            return self._open_udp_queues(rest, pool, queues), [0] * queues
        if sep and kind == "afpacket":
            from ..afpacket import AfPacketPort

            kw: dict[str, Any] = {}
            if opener.rx_blocks is not None:
                kw["block_count"] = opener.rx_blocks
            if queues > 1:
                kw.update(queues=queues, fanout="hash")
            return [AfPacketPort(rest, pool, **kw)], list(range(queues))
        if sep and kind == "pcap":
            from ..pcap import PcapPort

            if queues == 1:
                return [PcapPort(pool=pool, **pcap_port_kwargs(parse_pcap_spec(rest)))], [0]
            if "{q}" not in rest:
                raise ValueError(f"a pcap port has one queue per file: with --queues {queues} "
                                 f"put {{q}} in its file names (the queue number), got {spec}")
            objects: list[Any] = []
            try:
                for q in range(queues):
                    opts = parse_pcap_spec(rest.replace("{q}", str(q)))
                    objects.append(PcapPort(pool=pool, **pcap_port_kwargs(opts)))
            except BaseException:
                for port in objects:
                    port.close()
                raise
            return objects, [0] * queues
        return self._open_device(spec, pool, opener, queues)

    @abc.abstractmethod
    def _open_device(self, spec: str, pool: Any, opener: PortOpener, queues: int
                     ) -> tuple[list[Any], list[int]]:
        """The backend's own specs (DPDK: ids, names, devargs; native: a
        bare interface name), as :meth:`_open`."""

    @staticmethod
    def _open_udp_queues(rest: str, pool: Any, queues: int) -> list[Any]:
        """*queues* UDP sockets on one local port (SO_REUSEPORT); queue q
        sends from the group's port + q (pydpdk.gateway_mq)."""
        peer, _, opts_text = rest.partition(",")
        opts = parse_kv(opts_text)
        peer_queues = int(opts.pop("peer_queues", queues))
        base = ",".join(f"{k}={v}" for k, v in opts.items())
        objects: list[Any] = []
        local_port = 0
        for q in range(queues):
            extra: dict[str, Any] = {"queue_group": queues, "peer_ports": max(peer_queues, 1)}
            if q:                      # queue 0 sends from the group's own port
                extra["tx_port"] = local_port + q
            try:
                port = open_udp_spec(f"{peer},{base}" if base else peer, pool, **extra)
            except PortError as exc:
                for opened in objects:     # the queues opened so far
                    opened.close()
                if q == 0:
                    raise
                raise PortError(exc.errno, f"udp queue {q}: {exc} (queue {q} sends from "
                                           f"port {local_port + q}, which must be free)"
                                ) from exc
            if q == 0:
                local_port = int(port.local[1])
            objects.append(port)
        return objects

    def _close_ports(self, opener: PortOpener) -> None:
        """Close every port *opener* opened, in the order it opened them."""
        for port in opener.opened:
            port.close()

    @abc.abstractmethod
    def link_pair(self, pool: Any, *, depth: int = 4096, name: str = "link"
                  ) -> contextlib.AbstractContextManager[tuple[End, End]]:
        """A link in memory: two ends, started, closed on the way out.

        What one end sends on its tx port the other end receives on its rx
        port.  DPDK: a ``net_ring`` pair (each end one port both ways);
        native: two loopback ports, one per direction.

        Parameters
        ----------
        pool : PacketPool
            The pool of the ports (one of this backend's).
        depth : int, default 4096
            Packets each direction holds, a power of two.
        name : str, default "link"
            DPDK: the ring pair is ``<name>_a``/``<name>_b``, unique among
            the links open at once.

        Returns
        -------
        context manager
            Yields ``((rx_a, tx_a), (rx_b, tx_b))``.

        Raises
        ------
        ResourceLimitError
            The rings would take more memory than the limit.
        EalStateError
            DPDK: the EAL is not running.
        """

    def launch(self, target: Callable[[], object], *, name: str = "pydpdk-worker") -> Worker:
        """Run *target* on a new (daemon) thread.

        The DPDK backend gives the thread an lcore id for the run
        (``rte_thread_register``) while the EAL runs, so the mempools'
        per-lcore caches serve it.

        Parameters
        ----------
        target : callable
            Called with no argument on the thread.
        name : str, default "pydpdk-worker"
            The thread's name.

        Returns
        -------
        Worker
            Join it to wait for *target* to return.

        Raises
        ------
        RuntimeError
            The thread cannot be started.
        """
        thread = threading.Thread(target=self._thread_body(target), name=name, daemon=True)
        thread.start()
        return Worker(thread.join)

    def _thread_body(self, target: Callable[[], object]) -> Callable[[], object]:
        return target

    def launch_lcore(self, lcore: int, job: Any) -> Worker:
        """Run a prepared native job on a DPDK worker lcore (DPDK only).

        Parameters
        ----------
        lcore : int
            An enabled worker lcore of the running EAL.
        job : object
            The job capsule of a native loop.

        Returns
        -------
        Worker
            Joining it waits for the lcore.

        Raises
        ------
        DpdkUnavailableError
            This backend has no lcores (only DPDK has).
        """
        from ..errors import DpdkUnavailableError

        raise DpdkUnavailableError(f"lcore {lcore}: only the DPDK backend runs work on "
                                   f"lcores, not the {self.name} backend")

    def worker_lcores(self, n: int) -> list[int] | None:
        """*n* worker lcores for *n* loops, or None to run them on threads.

        Parameters
        ----------
        n : int
            Loops to place.

        Returns
        -------
        list of int or None
            DPDK: the first *n* worker lcores of the running EAL when it has
            that many; None otherwise (and always for native).
        """
        return None


class PortOpener(HandleMixin):
    """Opens port specs on one backend; closes all it opened.

    A spec opened twice gives the same port (a gateway whose input is its
    output).  Ports are started when opened.

    Parameters
    ----------
    backend : Backend
        The backend that opens the specs it does not share with others.
    pool : PacketPool
        The pool of every port.
    rx_blocks : int, optional
        Receive ring blocks of AF_PACKET ports; None: their default.
    """

    def __init__(self, backend: Backend, pool: Any, *, rx_blocks: int | None = None) -> None:
        self.backend, self.pool, self.rx_blocks = backend, pool, rx_blocks
        #: ``{spec: port}`` of what :meth:`open` and :meth:`open_queues` opened.
        self.ports: dict[str, Any] = {}
        #: Every port object opened, in order.
        self.opened: list[Any] = []
        #: DPDK vdevs hot-plugged for the specs, removed by ``close()``.
        self.vdevs: list[str] = []
        self._queued: dict[str, tuple[list[Any], list[int]]] = {}

    def open(self, spec: str) -> Any:
        """The started port for *spec* (one queue).

        Parameters
        ----------
        spec : str
            A port spec (``pydpdk.portspec``).

        Returns
        -------
        PortBase
            The port; ``close()`` closes it.

        Raises
        ------
        ValueError
            A malformed spec, or one this backend cannot open.
        PortError
            The device or interface cannot be opened (errno set).
        BackendUnavailableError
            The spec's port kind is not built here.
        ClosedError
            The opener was closed (EBADF).
        """
        self.check_open()
        if spec not in self.ports:
            self.ports[spec] = self._start(spec, 1)[0][0]
        return self.ports[spec]

    def open_queues(self, spec: str, queues: int) -> tuple[list[Any], list[int]]:
        """Port objects serving *queues* queues of *spec*, started.

        DPDK ports get *queues* rx/tx queues with RSS on addresses and
        ports; ``afpacket:`` *queues* sockets in one PACKET_FANOUT_HASH
        group; ``udp:`` *queues* sockets on one local port; ``pcap:`` one
        file port per queue (``{q}`` in the file names is the queue).

        Parameters
        ----------
        spec : str
            A port spec.
        queues : int
            Queues, >= 1.

        Returns
        -------
        tuple of (list, list of int)
            ``(ports, index)``, both of length *queues*: queue i is queue
            ``index[i]`` of ``ports[i]`` (one object may serve several).

        Raises
        ------
        ValueError, PortError, BackendUnavailableError
            As :meth:`open`; ValueError also for a ``pcap:`` spec without
            ``{q}`` or a bare interface name without DPDK, or *queues*
            out of range.
        ClosedError
            The opener was closed (EBADF).
        """
        self.check_open()
        if isinstance(queues, bool) or not isinstance(queues, int) or queues < 1:
            raise ValueError(f"queues must be an int >= 1, got {queues!r}")
        if spec not in self._queued:
            objects, index = self._start(spec, queues)
            self.ports.setdefault(spec, objects[0])
            ports = objects if len(objects) == queues else objects * queues
            self._queued[spec] = (ports, index)
        return self._queued[spec]

    def _start(self, spec: str, queues: int) -> tuple[list[Any], list[int]]:
        objects, index = self.backend._open(spec, self.pool, self, queues)
        self.opened.extend(objects)            # closed by close(), even if start fails
        for port in objects:
            port.start()
        return objects, index

    def _close(self) -> None:
        """Close every port opened (and remove the vdevs hot-plugged for them);
        ``close()`` (the :class:`~pydpdk._handle.HandleMixin` contract) calls
        it once.

        Raises
        ------
        PortError
            A port refused to close (e.g. a loop still uses it).
        OSError
            DPDK ``net_pcap``: an output file holds less than was sent (a
            full disk); :class:`~pydpdk.errors.CaptureFileError` for an
            input the driver could not read to its end.
        """
        self.backend._close_ports(self)


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield None
