"""Multi-queue gateways: N encoder/decoder instances side by side, one per queue.

``GatewayConfig(queues=N)`` (``pydpdk fec ... --queues N``) opens every port
with N queues and runs N copies of the gateway's chains, each on its own
thread (the native loop releases the GIL, so the copies run on N cores),
each with its own FEC encoder session (docs/fec-format.md, "Sessions").
How each kind of port spreads frames over its queues, so that a flow stays
on one queue and its FEC blocks in order:

=====================  ==================================================
DPDK port              N rx/tx queues; RSS on IP addresses and TCP/UDP
                       ports where the device hashes (``rss_hf``);
                       ``net_af_packet`` devargs get ``qpairs=N`` (the
                       kernel's PACKET_FANOUT spreads them)
``afpacket:IF``        N sockets in one PACKET_FANOUT_HASH group (the
                       kernel's flow hash: addresses and ports)
``udp:HOST:PORT``      N sockets on the same local port (SO_REUSEPORT);
                       the kernel picks one by the sender's source port;
                       queue i sends from local port + i, so the peer and
                       ECMP on the way spread the queues too; the peer
                       accepts its peer's ports port..port+N-1
                       (``peer_queues=``, default N) as one peer
``pcap:...{q}...``     one file per queue: ``{q}`` in the file names is
                       replaced by the queue number
=====================  ==================================================

Counters are summed over the queues (``queue_counters`` in the report has
the fec stages of each queue); the ports' stats are summed over the port
objects of a role.
"""

from __future__ import annotations

import time
from typing import Any

from .pipeline import Pipeline, PortSink, PortSource

__all__ = ["MAX_QUEUES", "MultiPipeline", "QueuedPort", "open_queued", "build_queues"]

#: Largest --queues (the native AF_PACKET port's PD_AFP_MAX_QUEUES).
MAX_QUEUES = 16

# Counters that are states, not counts: merged by min/max instead of a sum.
_MERGE_MIN = {"link_up"}
_MERGE_MAX = {"link_errno", "last_rx_age_ns"}


class QueuedPort:
    """One port role of a multi-queue gateway: queue i is queue ``index[i]``
    of port object ``ports[i]`` (one object with N queues, or N objects).

    Attributes other than ``stats()`` are those of queue 0's port (its MTU,
    interface name, peer address, ...).

    Parameters
    ----------
    ports : list of PortBase
        The port object of each gateway queue (the same object may repeat).
    index : list of int
        For each gateway queue, the queue id within its port object.
    """

    def __init__(self, ports: list[Any], index: list[int]) -> None:
        self.queue_ports = ports
        self.queue_index = index

    @property
    def distinct(self) -> list[Any]:
        """The port objects, each once, in queue order (list of PortBase)."""
        seen: dict[int, Any] = {}
        for p in self.queue_ports:
            seen.setdefault(id(p), p)
        return list(seen.values())

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("queue_ports", "queue_index"):
            raise AttributeError(name)
        return getattr(self.queue_ports[0], name)

    def __repr__(self) -> str:
        return f"QueuedPort({self.queue_ports[0]!r} x {len(self.queue_ports)})"

    def source(self, q: int) -> PortSource:
        """The pipeline source of gateway queue *q*.

        Parameters
        ----------
        q : int
            Gateway queue, ``0 <= q < len(queue_ports)``.

        Returns
        -------
        PortSource
            Receives from that queue of its port object.
        """
        return PortSource(self.queue_ports[q], self.queue_index[q])

    def sink(self, q: int) -> PortSink:
        """The pipeline sink of gateway queue *q*.

        Parameters
        ----------
        q : int
            Gateway queue, ``0 <= q < len(queue_ports)``.

        Returns
        -------
        PortSink
            Sends on that queue of its port object.
        """
        return PortSink(self.queue_ports[q], self.queue_index[q])

    def stats(self) -> dict[str, Any]:
        """The port statistics summed over the port objects.

        Returns
        -------
        dict
            As one port's ``stats()``: counts summed, states merged (see
            ``merge_counters``).
        """
        return merge_counters([p.stats() for p in self.distinct])


def merge_counters(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum the integer counters of *items* (states merged by min/max; a UDP
    peer is "up" when any queue hears it); other values are the first's.

    Parameters
    ----------
    items : list of dict
        Counter dictionaries of the same shape, one per queue.

    Returns
    -------
    dict
        The merged counters (empty for no items).
    """
    out: dict[str, Any] = dict(items[0]) if items else {}
    for key, first in list(out.items()):
        values = [d.get(key) for d in items]
        if isinstance(first, bool) or not all(isinstance(v, int) for v in values):
            continue
        ints = [int(v) for v in values if v is not None]
        out[key] = (min(ints) if key in _MERGE_MIN else
                    max(ints) if key in _MERGE_MAX else sum(ints))
    if "peer_state" in out:
        states = [d.get("peer_state") for d in items]
        out["peer_state"] = next((s for s in ("up", "dead", "waiting") if s in states),
                                 out["peer_state"])
    return out


def open_queued(opener: Any, spec: str, queues: int) -> QueuedPort:
    """Open *spec* with *queues* queues through a gateway's port opener.

    Parameters
    ----------
    opener : pydpdk.backends.PortOpener
        Its backend and pool are used; every port object opened is started
        and closed with the opener's.
    spec : str
        A port spec (docs/cli.md).
    queues : int
        Gateway queues, 1 to :data:`MAX_QUEUES`.

    Returns
    -------
    QueuedPort
        The queues of that port role.

    Raises
    ------
    ValueError
        The spec's port cannot have that many queues.
    PortError
        A port cannot be opened.
    """
    ports, index = opener.open_queues(spec, queues)
    return QueuedPort(ports, index)


class MultiPipeline:
    """N gateway pipelines (one per queue) run and stopped together.

    Offers what pydpdk.gateway's run loop uses of a Pipeline: start, join,
    request_stop, counters (summed over the queues, keyed as queue 0's),
    elements (all queues'), and the context manager that stops and joins
    every loop on the way out.

    Parameters
    ----------
    pipes : list of Pipeline
        One gateway pipeline per queue.
    lcores : list of int, optional
        DPDK worker lcore of each queue's loop; None runs each on a thread.
    """

    def __init__(self, pipes: list[Pipeline], lcores: list[int] | None = None) -> None:
        self.pipes = pipes
        self.lcores = lcores
        self.secure_stages: list[Any] = []
        self.sealing_since = time.monotonic()
        self._packets: int | None = None
        self._results: list[dict[str, Any] | None] = [None] * len(pipes)
        self._done = [False] * len(pipes)

    @property
    def elements(self) -> list[Any]:
        """Every queue's (source, stages, sink) chains, queue by queue (list)."""
        return [el for p in self.pipes for el in p.elements]

    def start(self, *, packets: int | None = None, **run_kwargs: Any) -> None:
        """Start every queue's loop (all or none: a failure halts those started).

        Parameters
        ----------
        packets : int, optional
            Stop all queues once this many packets were received over all
            of them (checked by :meth:`join`).
        **run_kwargs
            Passed to each :meth:`pydpdk.pipeline.Pipeline.start`.

        Raises
        ------
        BusyError
            A queue's pipeline is already running.
        """
        # A packet count is the gateway's, not a queue's: counted over all here.
        self._packets = packets
        started: list[Pipeline] = []
        try:
            for i, p in enumerate(self.pipes):
                p.start(lcore=None if self.lcores is None else self.lcores[i], **run_kwargs)
                started.append(p)
        except BaseException:
            for p in started:
                p.halt()
            raise

    def request_stop(self) -> None:
        """Ask every queue's loop to stop (returns at once; see :meth:`join`)."""
        for p in self.pipes:
            p.request_stop()

    def _received(self) -> int:
        total = 0
        for p in self.pipes:
            for src, _stages, _snk in p.elements:
                total += int(src.counters.get("packets_out", 0))
        return total

    def join(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The merged result once every queue's loop ended (None before).

        A fault in one queue (or the packet count, counted over all queues)
        stops the others; a duration or a capture file's end ends each on
        its own.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait; None waits until every loop ended.

        Returns
        -------
        dict or None
            The queues' results merged (counts summed, ``elapsed_s`` the
            longest, ``queue_results`` and ``queue_lcores`` added), or None
            when *timeout* passed first.

        Raises
        ------
        Exception
            What ended a faulted queue's run, once all ended (its
            ``result`` attribute holds the merged result).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        error: BaseException | None = None
        while True:
            for i, p in enumerate(self.pipes):
                if self._done[i]:
                    continue
                try:
                    res = p.join(timeout=0)
                except BaseException as exc:      # a fault: stop the rest, then raise
                    self._done[i] = True
                    self._results[i] = getattr(exc, "result", None)
                    error = error or exc
                    self.request_stop()
                    continue
                if res is not None:        # its duration, or its capture file ended:
                    self._done[i] = True       # the other queues end on their own
                    self._results[i] = res
            if all(self._done):
                break
            if self._packets is not None and self._received() >= self._packets:
                self._stopped_by = "packets"
                self.request_stop()
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(0.02)
        result = self._merged()
        if error is not None:
            error.result = result            # type: ignore[attr-defined]
            raise error
        return result

    def _merged(self) -> dict[str, Any]:
        results = [r for r in self._results if r]
        if not results:
            return {}
        out = merge_counters(results)
        out["elapsed_s"] = max(float(r.get("elapsed_s", 0.0)) for r in results)
        out["stopped_by"] = getattr(self, "_stopped_by", None) or results[0].get("stopped_by")
        out["queue_results"] = results
        out["queue_lcores"] = self.lcores      # None: each queue on a thread
        return out

    def halt(self) -> None:
        """Stop and join every queue's loop now (idempotent)."""
        for p in self.pipes:
            p.halt()

    def __enter__(self) -> MultiPipeline:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.halt()

    def counters(self) -> dict[str, dict[str, int]]:
        """Every element's counters summed over the queues, keyed as queue 0's.

        Returns
        -------
        dict of str to dict
            Element name to its merged counters.
        """
        per_queue = [p.counters() for p in self.pipes]
        out: dict[str, dict[str, int]] = {}
        for pos, name in enumerate(per_queue[0]):
            items = [list(c.values())[pos] for c in per_queue if len(c) > pos]
            out[name] = merge_counters(items)
        return out

    def queue_counters(self, mode: str) -> list[dict[str, dict[str, int]]]:
        """Per queue: the FEC stages' and port elements' packet counts.

        Parameters
        ----------
        mode : str
            The gateway mode (``encode``, ``decode`` or ``tunnel``), which
            names the stages' keys as the ``--json`` schema does.

        Returns
        -------
        list of dict
            One ``{element key: {count name: int}}`` per queue.
        """
        from .cli_json import stage_key

        keep = ("packets_in", "packets_out", "drops", "recovered", "unrecoverable",
                "repair_packets")
        return [{stage_key(name, mode): {k: int(v) for k, v in c.items() if k in keep}
                 for name, c in p.counters().items()} for p in self.pipes]


def decoder_sessions(cfg: Any) -> int:
    """Sessions a decoder keeps side by side: twice the queues a peer may
    send from (its --queues, or peer_queues= of a udp: spec; twice, so a
    restarted peer's new sessions fit beside the old ones), at least the
    decoder's default of 8.

    Parameters
    ----------
    cfg : GatewayConfig
        Its ``queues`` and peer port spec are read.

    Returns
    -------
    int
        Sessions, >= 8.
    """
    from .portspec import parse_kv

    peers = int(cfg.queues)
    spec = str(cfg.ports.get("peer") or cfg.ports.get("in") or "")
    if spec.startswith("udp:"):
        opts = parse_kv(spec.partition(",")[2])
        if "peer_queues" in opts:
            peers = max(peers, int(opts["peer_queues"]))
    return max(8, 2 * peers)


def build_queues(cfg: Any, pool: Any, ports: dict[str, Any], backend: Any = None
                 ) -> tuple[MultiPipeline, Any, Any]:
    """One gateway pipeline per queue (gateway.build_gateway with queue q's
    ports).

    On the DPDK backend (*backend*), when the EAL has a worker lcore per
    queue (e.g. ``--lcores 0@(0,1),1@(0,1),2@(0,1)``), queue i runs on the
    i-th worker lcore (with the mempool's per-lcore cache); else each on a
    thread.

    Parameters
    ----------
    cfg : GatewayConfig
        The gateway's settings (``queues`` pipelines are built).
    pool : PacketPool
        The pool the stages allocate parity and decoded packets from.
    ports : dict of str to QueuedPort
        Role to port, as :func:`pydpdk.gateway.open_ports` yields them.
    backend : pydpdk.backends.Backend, optional
        The backend that launches the loops.

    Returns
    -------
    tuple of (MultiPipeline, FecEncodeStage or None, FecDecodeStage or None)
        The set, and queue 0's encoder and decoder stages.
    """
    from . import gateway

    pipes = []
    first: tuple[Any, Any] = (None, None)
    for q in range(cfg.queues):
        pipe, enc, dec = gateway.build_gateway(cfg, pool, ports, queue=q)
        pipes.append(pipe)
        if q == 0:
            first = (enc, dec)
    lcores = backend.worker_lcores(cfg.queues) if backend is not None else None
    return MultiPipeline(pipes, lcores), first[0], first[1]
