"""The DPDK backend: the EAL, mempools, ethdev ports and worker lcores.

This module imports on every build: DPDK's extensions are imported by the
methods that use them, so a build without DPDK raises
:class:`~pydpdk.errors.DpdkUnavailableError` from there (through
:mod:`pydpdk.dpdk`) instead of failing to import.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import DpdkUnavailableError, EalStateError, PortError
from . import Backend, End, PortOpener, Worker

__all__ = ["DpdkBackend"]


def _with_option(spec: str, key: str, value: str) -> str:
    """*spec* with ``key=value`` added to its devargs unless given."""
    if f",{key}=" in spec:
        return spec
    return f"{spec},{key}={value}"


class DpdkBackend(Backend):
    """DPDK's EAL, mempools and poll-mode ports (NICs and vdevs).

    Port specs: a port id (``0``), a device name (``net_null0``,
    ``0000:03:00.0``) or devargs (``net_pcap0,rx_pcap=a.pcap``: the vdev is
    hot-plugged for the run and removed when the opener closes), plus the
    ``udp:`` socket ports every backend has.
    """

    #: ``"dpdk"``
    name = "dpdk"

    @contextlib.contextmanager
    def runtime(self, eal_args: list[str] | tuple[str, ...] = (), *, reuse: bool = True,
                eal_optional: bool = False) -> Iterator[Any]:
        """The EAL for a ``with`` block (:class:`pydpdk.dpdk.Eal`).

        Parameters
        ----------
        eal_args : list of str, default ()
            Raw EAL arguments added to pydpdk's defaults (no hugepages, a
            per-process file prefix, ...: :class:`pydpdk.dpdk.Eal`).
        reuse : bool, default True
            When the EAL already runs in this process, yield it (ignoring
            *eal_args*) and leave it running; False: always initialise it
            here (EalStateError if it runs or ran).
        eal_optional : bool, default False
            Unused: the EAL takes *eal_args* either way.

        Yields
        ------
        Eal
            The running EAL; closed on the way out if started here.

        Raises
        ------
        DpdkUnavailableError
            pydpdk was built without DPDK.
        EalError
            DPDK refused the arguments (its reason in the message).
        EalStateError
            The EAL cannot be initialised (again) in this process.
        """
        from .. import dpdk

        if reuse:
            try:
                current = dpdk.Eal.current()
            except (EalStateError, DpdkUnavailableError):
                current = None
            if current is not None:
                yield current
                return
        with dpdk.Eal(list(eal_args)) as eal:
            yield eal

    def pool(self, n: int, *, data_room: int = 2048, cache_size: int = 256) -> Any:
        """A :class:`~pydpdk.dpdk.Mempool` of ``n - 1`` mbufs.

        Parameters
        ----------
        n : int
            Buffers asked for, > 1; the mempool gets ``n - 1``
            (``rte_mempool_create``: ``2**q - 1`` is the best size).
        data_room : int, default 2048
            Packet bytes per mbuf; each mbuf has ``data_room`` plus
            ``RTE_PKTMBUF_HEADROOM`` (128) bytes.
        cache_size : int, default 256
            Mbufs in each lcore's cache (``RTE_MEMPOOL_CACHE_MAX_SIZE`` at
            most).

        Returns
        -------
        Mempool
            The pool; the caller closes it.

        Raises
        ------
        ValueError
            *n*, *data_room* or *cache_size* out of range.
        ResourceLimitError
            More memory than the EAL has.
        EalStateError
            The EAL is not running.
        DpdkUnavailableError
            pydpdk was built without DPDK.
        """
        from .. import dpdk

        dpdk._require_dpdk()
        from .._dpdk_mbuf import HEADROOM

        if n < 2:
            raise ValueError(f"a DPDK pool needs n >= 2 (it makes n - 1 mbufs), got {n}")
        return dpdk.Mempool(n - 1, cache_size=cache_size, data_room=data_room + HEADROOM)

    def capture_spec(self, rx: str | None = None, tx: str | None = None, *,
                     name: str = "capture0") -> str:
        """``net_pcap_<name>,rx_pcap=RX,tx_pcap=TX``: DPDK's ``net_pcap`` vdev.

        Parameters
        ----------
        rx : str, optional
            The capture to read (classic pcap, or pcapng libpcap can read).
        tx : str, optional
            The capture to write (classic pcap).
        name : str, default "capture0"
            The vdev is ``net_pcap_<name>``: unique among open ports.

        Returns
        -------
        str
            The devargs; opened through
            :meth:`~pydpdk.backends.Backend.opener`, the vdev is
            hot-plugged, and removed when the opener closes.

        Raises
        ------
        ValueError
            Neither file given, or a path with a comma.
        """
        self._capture_paths(rx, tx)
        return f"net_pcap_{name}" + "".join(f",{k}={v}" for k, v in (("rx_pcap", rx),
                                                                     ("tx_pcap", tx))
                                            if v is not None)

    def _open_device(self, spec: str, pool: Any, opener: PortOpener, queues: int
                     ) -> tuple[list[Any], list[int]]:
        from .. import dpdk

        kwargs: dict[str, Any] = {}
        if queues > 1:
            from .._dpdk_ethdev import RSS_HEADER_VALUES

            rss = 0
            for key, value in RSS_HEADER_VALUES.items():
                if key != "ETH":
                    rss |= int(value)
            kwargs = {"rx_queues": queues, "tx_queues": queues, "rss": rss}
            if "," in spec and spec.startswith("net_af_packet"):
                spec = _with_option(spec, "qpairs", str(queues))
        device: Any
        if "," in spec:                    # devargs: hotplug a vdev first
            device = dpdk.Eal.current().add_vdev(spec)
            opener.vdevs.append(device)
        else:
            device = int(spec) if spec.isdigit() else spec
        if queues == 1:
            return [dpdk.Port(device, pool)], [0]
        try:
            port = dpdk.Port(device, pool, **kwargs)
        except PortError as exc:
            raise PortError(exc.errno, f"{spec}: cannot configure {queues} rx/tx queues "
                                       f"(the device's queue limit or RSS support): {exc}"
                            ) from exc
        return [port], list(range(queues))

    def _close_ports(self, opener: PortOpener) -> None:
        from .. import dpdk
        from ..pcap import check_dpdk_captures, dpdk_capture_sizes

        eal = dpdk.Eal.current() if opener.vdevs or opener.ports else None
        # net_pcap hides write errors: its files are checked after close
        captures = dpdk_capture_sizes(opener.ports, eal.info()["args"] if eal else ())
        super()._close_ports(opener)
        if eal is not None:
            for name in reversed(opener.vdevs):
                eal.remove_vdev(name)
        check_dpdk_captures(captures)

    @contextlib.contextmanager
    def link_pair(self, pool: Any, *, depth: int = 4096, name: str = "link"
                  ) -> Iterator[tuple[End, End]]:
        """A ``net_ring`` pair: two ports wired back to back.

        Parameters
        ----------
        pool : Mempool
            The pool of the ports.
        depth : int, default 4096
            Ring size in packets, a power of two.
        name : str, default "link"
            The rings are ``<name>_a`` and ``<name>_b`` (devices
            ``net_ring_<name>_a``...): unique among the links open at once.

        Yields
        ------
        tuple of (tuple, tuple)
            ``((a, a), (b, b))``: each end one port, both ways.

        Raises
        ------
        EalStateError
            The EAL is not running.
        ValueError
            The names are taken or *depth* is not a power of two.
        """
        from .. import dpdk

        eal = dpdk.Eal.current()
        names = (f"{name}_a", f"{name}_b")
        dev_a, dev_b = eal.ring_pair(*names, depth=depth)
        try:
            with dpdk.Port(dev_a, pool) as a, dpdk.Port(dev_b, pool) as b:
                a.start()
                b.start()
                yield (a, a), (b, b)
        finally:
            eal.remove_ring_pair(*names)

    def _thread_body(self, target: Callable[[], object]) -> Callable[[], object]:
        def body() -> None:
            # With DPDK in use, the thread gets an lcore id first, so the
            # mempools' per-lcore caches serve it, and gives it back at the
            # end (docs/architecture.md, "Threads").  No EAL: nothing done.
            eal = sys.modules.get("pydpdk._dpdk_eal")
            attached = eal is not None and eal.attach_thread()
            try:
                target()
            finally:
                if attached and eal is not None:
                    eal.detach_thread()

        return body

    def launch_lcore(self, lcore: int, job: Any) -> Worker:
        """Run a prepared native job on a DPDK worker lcore.

        Parameters
        ----------
        lcore : int
            An enabled worker lcore of the running EAL (not the main one).
        job : object
            The job capsule of a native loop (``rte_eal_remote_launch``
            calls its function), e.g. what a pipeline prepares for a run.

        Returns
        -------
        Worker
            Joining it waits for the lcore (``rte_eal_wait_lcore``).

        Raises
        ------
        DpdkUnavailableError
            pydpdk was built without DPDK.
        EalStateError
            The EAL is not running in this process.
        ValueError
            *lcore* is not an enabled worker lcore (or is the main one).
        OSError
            The lcore is busy with another job (EBUSY); EalError if DPDK
            refuses the launch otherwise.
        """
        from .. import dpdk

        dpdk._require_dpdk()
        from .. import _dpdk_lcore

        _dpdk_lcore.launch(lcore, job)
        return Worker(lambda: _dpdk_lcore.wait(lcore))

    def worker_lcores(self, n: int) -> list[int] | None:
        """The first *n* worker lcores of the running EAL, if it has that many.

        Parameters
        ----------
        n : int
            Loops to place, one per lcore.

        Returns
        -------
        list of int or None
            Lcore ids; None when the EAL has fewer workers (or does not
            run, or DPDK is not built): run the loops on threads.
        """
        try:
            from .._dpdk_eal import lcores
        except ImportError:                    # built without DPDK
            return None
        try:
            workers = [int(lc["lcore"]) for lc in lcores() if not lc["main"]]
        except EalStateError:
            return None
        return workers[:n] if len(workers) >= n else None
