"""The native backend: pydpdk's own buffers and ports, no DPDK.

Pools are :class:`pydpdk.afpacket.BufferPool` (``native/buf``); ports are
AF_PACKET (``afpacket:IFACE``, or a bare interface name), capture files
(``pcap:...``), UDP sockets (``udp:...``) and in-memory loopback ports
(the links of :meth:`NativeBackend.link_pair`).  Workers run on threads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from . import Backend, End, PortOpener

__all__ = ["NativeBackend"]


class NativeBackend(Backend):
    """pydpdk's own AF_PACKET, capture file and loopback ports over native buffers.

    Runs on any Linux machine; needs no runtime (:meth:`runtime` does
    nothing) and no privilege beyond ``CAP_NET_RAW`` for AF_PACKET ports.
    """

    #: ``"native"``
    name = "native"

    @contextlib.contextmanager
    def runtime(self, eal_args: list[str] | tuple[str, ...] = (), *, reuse: bool = True,
                eal_optional: bool = False) -> Iterator[None]:
        """Nothing to start: a ``with`` block that yields None.

        Parameters
        ----------
        eal_args : list of str, default ()
            Must be empty (unless *eal_optional*): there is no EAL.
        reuse : bool, default True
            Ignored.
        eal_optional : bool, default False
            True: ignore *eal_args*.

        Yields
        ------
        None
            There is no runtime object.

        Raises
        ------
        ValueError
            *eal_args* given and not *eal_optional*.
        """
        if eal_args and not eal_optional:
            raise ValueError("EAL arguments given but the backend is 'native' (no DPDK): "
                             f"{' '.join(eal_args)}")
        yield None

    def pool(self, n: int, *, data_room: int = 2048, cache_size: int = 256) -> Any:
        """A :class:`~pydpdk.afpacket.BufferPool` of *n* buffers.

        Parameters
        ----------
        n : int
            Buffers, >= 1.
        data_room : int, default 2048
            Packet bytes per buffer, 128 bytes of headroom not included.
        cache_size : int, default 256
            Ignored (native pools have no per-thread cache).

        Returns
        -------
        BufferPool
            The pool; the caller closes it.

        Raises
        ------
        ValueError
            *n* is 0, or *data_room* out of range (64 bytes .. 1 MiB).
        ResourceLimitError
            More memory than the limit (75% of MemAvailable).
        """
        from ..afpacket import BufferPool

        return BufferPool(n, data_room=data_room, headroom=128)

    def capture_spec(self, rx: str | None = None, tx: str | None = None, *,
                     name: str = "capture0") -> str:
        """``pcap:rx=RX,tx=TX``: pydpdk's own capture file port.

        Parameters
        ----------
        rx : str, optional
            The capture to read (pcap or pcapng).
        tx : str, optional
            The capture to write (pcapng when its name ends in ``.pcapng``).
        name : str, default "capture0"
            Unused (the port has no device name).

        Returns
        -------
        str
            The spec.

        Raises
        ------
        ValueError
            Neither file given, or a path with a comma.
        """
        self._capture_paths(rx, tx)
        return "pcap:" + ",".join(f"{k}={v}" for k, v in (("rx", rx), ("tx", tx))
                                  if v is not None)

    def _open_device(self, spec: str, pool: Any, opener: PortOpener, queues: int
                     ) -> tuple[list[Any], list[int]]:
        if queues > 1:
            raise ValueError(f"{spec}: a bare interface name without DPDK; give "
                             f"afpacket:{spec} with --queues")
        # without DPDK a bare name is an interface
        return self._open(f"afpacket:{spec}", pool, opener, 1)

    @contextlib.contextmanager
    def link_pair(self, pool: Any, *, depth: int = 4096, name: str = "link"
                  ) -> Iterator[tuple[End, End]]:
        """Two loopback ports (what one sends, it receives), one per direction.

        Parameters
        ----------
        pool : PacketPool
            The pool of the ports.
        depth : int, default 4096
            Packets each loopback port holds.
        name : str, default "link"
            Unused (loopback ports have no name).

        Yields
        ------
        tuple of (tuple, tuple)
            ``((rx_a, tx_a), (rx_b, tx_b))``: end a sends on one loopback
            port, on which end b receives, and the other way round.

        Raises
        ------
        ResourceLimitError
            The queues would take more memory than the limit.
        """
        from .._burst import LoopbackPort

        a_to_b = LoopbackPort(pool, depth=depth)
        try:
            b_to_a = LoopbackPort(pool, depth=depth)
        except BaseException:
            a_to_b.close()
            raise
        with a_to_b, b_to_a:
            a_to_b.start()
            b_to_a.start()
            yield (b_to_a, a_to_b), (a_to_b, b_to_a)
