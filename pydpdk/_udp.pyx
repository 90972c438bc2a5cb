# cython: language_level=3
"""UdpPort: the FEC tunnel over the kernel's UDP stack (private; see pydpdk.udp).

Wraps native/udp: one UDP socket, received with recvmmsg() into packets of
any pool and sent with sendmmsg(), without the GIL.  Each datagram's
payload is one FEC wire packet.
"""

import errno
import socket
import struct
import warnings

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy

from pydpdk._burst cimport PacketPool, PortBase
from pydpdk._handle cimport check_rc
from pydpdk._includes.udp cimport (
    PD_UDP_PEER_DEAD,
    PD_UDP_PEER_UP,
    PD_UDP_PEER_WAITING,
    pd_udp,
    pd_udp_close,
    pd_udp_config,
    pd_udp_config_init,
    pd_udp_fec_session,
    pd_udp_get_tos,
    pd_udp_instance_id,
    pd_udp_local,
    pd_udp_open,
    pd_udp_peer,
    pd_udp_port_io,
    pd_udp_set_tos,
    pd_udp_start,
    pd_udp_stats,
    pd_udp_stats_get,
    pd_udp_stats_reset,
    pd_udp_stop,
    pd_udp_tick,
    pd_udp_wait,
    sockaddr_storage,
    socklen_t,
)

from pydpdk.errors import PortError, error_from_errno

PEER_STATES = {PD_UDP_PEER_WAITING: "waiting", PD_UDP_PEER_UP: "up", PD_UDP_PEER_DEAD: "dead"}


def split_hostport(text, default_port=None):
    """``"HOST:PORT"``, ``"[V6ADDR]:PORT"`` or ``":PORT"`` -> (host, port).

    Parameters
    ----------
    text : str
        The address; IPv6 addresses need brackets.  Nothing is resolved.
    default_port : int, optional
        Port when *text* has none.

    Returns
    -------
    tuple of (str, int)
        The host (``""`` when left out) and the port, 0..65535.

    Raises
    ------
    ValueError
        Malformed text, an IPv6 address without brackets, a port that is
        no number or out of range, or no port and no *default_port*.
    """
    text = str(text).strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"missing ']' in {text!r}")
        host, rest = text[1:end], text[end + 1:]
        if rest and not rest.startswith(":"):
            raise ValueError(f"expected [ADDRESS]:PORT, got {text!r}")
        port_text = rest[1:]
    elif text.count(":") > 1:
        raise ValueError(f"an IPv6 address needs brackets: [ADDRESS]:PORT, got {text!r}")
    else:
        host, _, port_text = text.partition(":")
    if not port_text:
        if default_port is None:
            raise ValueError(f"no port in {text!r} (HOST:PORT)")
        port = int(default_port)
    else:
        try:
            port = int(port_text)
        except ValueError:
            raise ValueError(f"port must be a number, got {port_text!r} in {text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be within 0..65535, got {port}")
    return host, port


def _resolve(host, port, family=0, passive=False):
    """(family, ip, port, scope_id) of the first UDP address for host/port."""
    flags = socket.AI_PASSIVE if passive and not host else 0
    try:
        infos = socket.getaddrinfo(host or None, port, family, socket.SOCK_DGRAM,
                                   socket.IPPROTO_UDP, flags)
    except socket.gaierror as exc:
        raise PortError(errno.EADDRNOTAVAIL, f"cannot resolve {host!r}: {exc}") from None
    if not infos:
        raise PortError(errno.EADDRNOTAVAIL, f"no address for {host!r}")
    fam, _, _, _, sa = infos[0]
    return fam, sa[0], sa[1], (sa[3] if fam == socket.AF_INET6 else 0)


cdef bytes _sockaddr_bytes(int family, str ip, int port, int scope_id=0):
    if family == socket.AF_INET:
        return (struct.pack("=H", family) + struct.pack("!H", port)
                + socket.inet_pton(family, ip) + bytes(8))
    return (struct.pack("=H", family) + struct.pack("!HI", port, 0)
            + socket.inet_pton(family, ip) + struct.pack("=I", scope_id))


cdef object _sockaddr_tuple(sockaddr_storage *ss, socklen_t length):
    cdef bytes raw = (<char *>ss)[:length]
    family = struct.unpack_from("=H", raw, 0)[0]
    if family == socket.AF_INET:
        return socket.inet_ntop(family, raw[4:8]), struct.unpack_from("!H", raw, 2)[0]
    if family == socket.AF_INET6:
        return socket.inet_ntop(family, raw[8:24]), struct.unpack_from("!H", raw, 2)[0]
    return None


cdef int _fill(sockaddr_storage *ss, socklen_t *length, bytes raw) except -1:
    if len(raw) > sizeof(sockaddr_storage):
        raise ValueError("socket address too long")
    memcpy(ss, <const char *>raw, len(raw))
    length[0] = <socklen_t>len(raw)
    return 0


def format_hostport(addr):
    """``(ip, port)`` -> ``"ip:port"``, or ``"[ip]:port"`` for IPv6.

    Parameters
    ----------
    addr : tuple of (str, int) or None
        An address as ``UdpPort.local``/``peer`` give it.

    Returns
    -------
    str
        The text form; ``""`` for None.
    """
    if addr is None:
        return ""
    ip, port = addr
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def fec_session_id(data):
    """The session id of a FEC v2 packet (docs/fec-format.md), header CRC checked.

    Parameters
    ----------
    data : bytes-like
        A datagram payload (one FEC wire packet).

    Returns
    -------
    int or None
        The 32-bit session id, or None when *data* is no valid FEC v2
        header (too short, other version, CRC mismatch).
    """
    cdef const uint8_t[::1] view = memoryview(bytes(data)).cast("B")
    cdef uint32_t sid = 0
    if view.shape[0] == 0:
        return None
    if pd_udp_fec_session(&view[0], <uint32_t>view.shape[0], &sid) != 0:
        return None
    return sid


def _seconds_to_ns(value, str name):
    if value is None or value == 0:
        return 0
    if value < 0:
        raise ValueError(f"{name} must be >= 0 seconds (0 or None: off), got {value}")
    return <uint64_t>(float(value) * 1e9)


cdef class UdpPort(PortBase):
    """The tunnel's WAN side over a kernel UDP socket (recvmmsg/sendmmsg).

    ``UdpPort("198.51.100.7:4790", pool)`` sends every packet of a tx burst
    as one datagram (its bytes are the UDP payload) to the peer, and
    receives the peer's datagrams as packets of *pool* (any PacketPool:
    BufferPool, a DPDK Mempool, ...; default a new BufferPool of 2048
    buffers).  The kernel routes, resolves neighbours (ARP/NDP) and applies
    the WAN MTU; IPv4 and IPv6 (``"[2001:db8::7]:4790"``).

    *bind* is the local ``"ADDR:PORT"`` (default: any address of the peer's
    family, the peer's port).  A keepalive goes to the peer every
    *keepalive* seconds; a peer silent for *dead_after* seconds is reported
    ``"dead"`` (``stats()["peer_state"]``, ``dead_events``) until heard
    again.  With *follow_peer*, a peer whose address changes (NAT
    rebinding, roaming) is followed once a datagram from the new address
    proves it is the same peer (its keepalive instance id, or a FEC v2
    session id seen from the old address); other datagrams from unknown
    addresses are dropped and counted (``rx_unknown_source``).  With
    *dont_fragment* the kernel refuses datagrams over the path MTU
    (counted ``tx_oversize``); without (default) it fragments them.  With
    *gso*, runs of equal-length packets in a tx burst leave in one
    UDP GSO send (``UDP_SEGMENT``; counted ``tx_gso_sends``), falling back to
    ``sendmmsg`` where the kernel refuses: ~3x less CPU per datagram, but
    a run stays one packet until a device segments it, so a virtual hop or
    qdisc that drops it loses the whole run at once (consecutive packets
    FEC cannot rebuild); off by default.  With *gro*, datagrams that arrive
    coalesced (UDP_GRO) are split by the port, one copy each (counted
    ``rx_coalesced``): ~4x less receive CPU when the peer's datagrams
    arrive coalesced, one copy more per datagram when they do not; off by
    default.  *rcvbuf*/*sndbuf*: socket buffer bytes.

    Thread-safe like every port (one lock per queue; one rx and one tx
    queue).  Source: recvmmsg(2), sendmmsg(2), udp(7), ip(7)
    IP_MTU_DISCOVER.

    Parameters
    ----------
    peer : str or tuple of (str, int)
        ``"HOST:PORT"`` or ``(host, port)``; the host is resolved once
        (``getaddrinfo``), the port is 1..65535.
    pool : PacketPool, optional
        Pool received datagrams are copied into (default: a new BufferPool
        of 2048 buffers of 2048 bytes).
    bind : str or int or tuple of (str, int), optional
        Local ``"ADDR:PORT"``, a port, or ``(addr, port)``; default any
        address of the peer's family and the peer's port.
    keepalive : float or None, default 1.0
        Seconds between keepalives; 0 or None: none.
    dead_after : float or None, default 5.0
        Seconds of silence after which the peer is ``"dead"``; longer than
        *keepalive*; 0 or None: never.
    follow_peer : bool, default True
        Follow a peer whose address changes (see above).
    dont_fragment : bool, default False
        Set IP_PMTUDISC_DO: datagrams over the path MTU are refused.
    gso : bool, default False
        Send runs of equal-length packets with UDP_SEGMENT.
    gro : bool, default False
        Receive coalesced datagrams (UDP_GRO) and split them.
    rcvbuf, sndbuf : int, default 4194304
        Socket buffer sizes in bytes (SO_RCVBUF/SO_SNDBUF).
    tos : bool, default False
        Copy DSCP/ECN between inner and outer headers (RFC 6040): see
        :attr:`tos`.
    queue_group : int, default 1
        Queues of a multi-queue gateway (one UdpPort per queue): N > 1 binds
        with SO_REUSEPORT and makes the kernel give each datagram to socket
        (sender's source port mod N) of the group, in the order the ports
        were opened.
    tx_port : int, default 0
        Non-zero: data and keepalives leave from a second socket bound to
        this local port (queue i of a multi-queue gateway sends from the
        bound port + i).
    peer_ports : int, default 1
        N > 1: datagrams from the peer's address and ports peer..peer+N-1
        are the peer's (a multi-queue peer); address changes are then not
        followed.

    Raises
    ------
    ValueError
        Malformed addresses, a bind address of another family, a port out
        of range, negative timers, or *dead_after* not longer than
        *keepalive*.
    PortError
        The host cannot be resolved (EADDRNOTAVAIL), or the socket cannot
        be opened or bound (its errno: EADDRINUSE, ...).
    PoolError
        *pool* is closed.

    Notes
    -----
    ``stats()`` keys (counts unless stated): ``ipackets``, ``opackets``
    (datagrams), ``ibytes``, ``obytes`` (payload bytes), ``imissed`` (=
    ``kernel_drops``, datagrams the socket dropped, SO_RXQ_OVFL),
    ``ierrors`` (``rx_malformed + rx_unknown_source``), ``oerrors``
    (datagrams the kernel refused, freed), ``rx_nombuf`` (receive skipped:
    pool empty), ``rx_malformed``, ``rx_unknown_source``, ``kernel_drops``,
    ``rx_coalesced`` (GRO datagrams split), ``tx_oversize`` (over the path
    MTU), ``tx_unreachable`` (no route, network or host unreachable),
    ``tx_gso_sends``, ``keepalives_tx``, ``keepalives_rx``,
    ``keepalive_errors``, ``peer_changes``, ``dead_events``, ``peer_state``
    (str, see :attr:`peer_state`), ``last_rx_age_s`` (float seconds since
    the peer was last heard, None if never) and ``peer`` (str
    ``"ip:port"``).
    """

    cdef pd_udp *u
    cdef readonly str spec
    """``"udp:<ip>:<port>"`` of the configured peer (str): the port spec."""
    cdef readonly int family
    """Address family of the socket (int, ``socket.AF_INET`` or ``AF_INET6``)."""

    def __cinit__(self):
        self.u = NULL

    def __init__(self, peer not None, PacketPool pool=None, *, bind=None, keepalive=1.0,
                 dead_after=5.0, bint follow_peer=True, bint dont_fragment=False,
                 bint gso=False, bint gro=False, int rcvbuf=4 << 20, int sndbuf=4 << 20,
                 bint tos=False, int queue_group=1, int tx_port=0,
                 int peer_ports=1):
        cdef pd_udp_config cfg
        cdef int rc
        if self.u != NULL:
            raise PortError(errno.EEXIST, "UdpPort already initialised")
        phost, pport = split_hostport(peer) if isinstance(peer, str) else peer
        if not phost:
            raise ValueError(f"the peer needs a host: HOST:PORT, got {peer!r}")
        if not 1 <= int(pport) <= 65535:
            raise ValueError(f"the peer port must be within 1..65535, got {pport}")
        pfam, pip, pport, pscope = _resolve(phost, int(pport))
        if bind is None:
            bhost, bport = "", pport
        elif isinstance(bind, int):
            bhost, bport = "", bind
        elif isinstance(bind, str):
            bhost, bport = split_hostport(bind, default_port=pport)
        else:
            bhost, bport = bind
        if bhost:
            try:       # a name with addresses of both families: the peer's
                bfam, bip, bport, bscope = _resolve(bhost, int(bport), pfam)
            except PortError:
                bfam, bip, bport, bscope = _resolve(bhost, int(bport))
        else:
            bfam, bscope = pfam, 0
            bip = "0.0.0.0" if pfam == socket.AF_INET else "::"
        if bfam != pfam:
            raise ValueError(f"bind address {bhost!r} and peer {phost!r} are of different "
                             "address families")
        for name, value, low in (("queue_group", queue_group, 1), ("tx_port", tx_port, 0),
                                 ("peer_ports", peer_ports, 1)):
            if not low <= value <= 65535:
                raise ValueError(f"{name} must be within {low}..65535, got {value}")
        ka_ns = _seconds_to_ns(keepalive, "keepalive")
        dead_ns = _seconds_to_ns(dead_after, "dead_after")
        if ka_ns and dead_ns and dead_ns <= ka_ns:
            raise ValueError(f"dead_after ({dead_after} s) must be longer than the keepalive "
                             f"period ({keepalive} s)")
        if pool is None:
            from pydpdk._native import BufferPool
            pool = BufferPool(capacity=2048, data_room=2048)
        pool.check_open()

        pd_udp_config_init(&cfg)
        _fill(&cfg.local, &cfg.local_len, _sockaddr_bytes(bfam, bip, int(bport), bscope))
        _fill(&cfg.peer, &cfg.peer_len, _sockaddr_bytes(pfam, pip, int(pport), pscope))
        cfg.keepalive_ns = ka_ns
        cfg.dead_ns = dead_ns
        cfg.follow_peer = follow_peer
        cfg.dont_fragment = dont_fragment
        cfg.gso = gso
        cfg.gro = gro
        cfg.tos = tos
        cfg.rcvbuf = rcvbuf
        cfg.sndbuf = sndbuf
        cfg.reuseport_queues = <uint16_t>queue_group
        cfg.tx_port = <uint16_t>tx_port
        cfg.peer_port_span = <uint16_t>peer_ports
        rc = pd_udp_open(&self.u, &cfg, pool.ops, pool.pool)
        if rc < 0:
            where = format_hostport((bip, bport))
            raise error_from_errno(rc, f"cannot open a UDP port on {where} towards "
                                       f"{format_hostport((pip, pport))}", PortError)
        self.family = pfam
        self.spec = f"udp:{format_hostport((pip, pport))}"
        self.hold_pool(pool)      # pool.close() is refused while the port is open
        pd_udp_port_io(self.u, &self.io)
        self.n_rx_queues = 1
        self.n_tx_queues = 1

    @property
    def pool(self):
        """The PacketPool received datagrams are put in."""
        return self.rx_pool

    @property
    def local(self):
        """The bound local address, ``(ip, port)`` (tuple); PortError once closed."""
        cdef sockaddr_storage ss
        cdef socklen_t length = 0
        self.check_open()
        pd_udp_local(self.u, &ss, &length)
        return _sockaddr_tuple(&ss, length)

    @property
    def peer(self):
        """Where datagrams go now, ``(ip, port)``: the configured peer, or where it moved.

        PortError once closed.
        """
        cdef sockaddr_storage ss
        cdef socklen_t length = 0
        self.check_open()
        pd_udp_peer(self.u, &ss, &length)
        return _sockaddr_tuple(&ss, length)

    @property
    def tos(self):
        """DSCP/ECN handling for a FEC tunnel (RFC 6040 normal mode).

        On: the outer TOS / traffic class of each FEC source packet sent is
        its inner IP packet's, a repair packet's the highest DSCP of the
        sources before it with ECN Not-ECT; each received datagram is
        followed by one byte, the outer TOS it arrived with, for a
        ``FecDecodeStage(encap="none-tos")``.  Set before a pipeline runs;
        PortError if the socket refuses IP_RECVTOS / IPV6_RECVTCLASS.
        """
        self.check_open()
        return bool(pd_udp_get_tos(self.u))

    @tos.setter
    def tos(self, bint on):
        self.check_open()
        rc = pd_udp_set_tos(self.u, on)
        check_rc(rc, "cannot receive the TOS of datagrams", PortError)

    @property
    def instance_id(self):
        """The random 32-bit id this port's keepalives carry (int); PortError once closed."""
        self.check_open()
        return pd_udp_instance_id(self.u)

    @property
    def peer_state(self):
        """``"waiting"`` (never heard), ``"up"``, or ``"dead"`` (silent for *dead_after* s).

        PortError once closed.
        """
        return self.stats()["peer_state"]

    def wait(self, double timeout=1.0):
        """Block up to *timeout* seconds until a datagram is queued (``poll``).

        The GIL is released while waiting.

        Parameters
        ----------
        timeout : float, default 1.0
            Longest wait in seconds (millisecond resolution).

        Returns
        -------
        bool
            True if a datagram is queued, False on timeout.

        Raises
        ------
        PortError
            The port is closed (EBADF) or not started (ENETDOWN), or
            ``poll`` failed (its errno).
        """
        cdef int rc
        cdef int ms = <int>(timeout * 1000)
        self.check_usable()
        with nogil:
            rc = pd_udp_wait(self.u, ms)
        if rc < 0:      # (the message is only built on failure: wait() loops)
            check_rc(rc, f"waiting on {self!r} failed", PortError)
        return rc > 0

    def tick(self):
        """Run the keepalive and dead-peer timers now (rx_burst does it on every call).

        Raises
        ------
        PortError
            The port is closed (EBADF) or not started (ENETDOWN).
        """
        self.check_usable()
        pd_udp_tick(self.u)

    def _start(self):
        cdef int rc
        self.check_open()
        rc = pd_udp_start(self.u)
        check_rc(rc, f"cannot start {self!r}", PortError)

    def _stop(self):
        if self.u != NULL:
            pd_udp_stop(self.u)

    def _close(self):
        if self.u != NULL:
            pd_udp_close(self.u)
            self.u = NULL

    def _stats(self):
        cdef pd_udp_stats st
        self.check_open()
        pd_udp_stats_get(self.u, &st)
        return {
            "ipackets": st.rx_packets,
            "opackets": st.tx_packets,
            "ibytes": st.rx_bytes,
            "obytes": st.tx_bytes,
            "imissed": st.kernel_drops,
            "ierrors": st.rx_malformed + st.rx_unknown_source,
            "oerrors": st.tx_errors,
            "rx_nombuf": st.rx_nombuf,
            "rx_malformed": st.rx_malformed,
            "rx_unknown_source": st.rx_unknown_source,
            "kernel_drops": st.kernel_drops,
            "rx_coalesced": st.rx_coalesced,
            "tx_oversize": st.tx_oversize,
            "tx_unreachable": st.tx_unreachable,
            "tx_gso_sends": st.tx_gso_sends,
            "keepalives_tx": st.keepalives_tx,
            "keepalives_rx": st.keepalives_rx,
            "keepalive_errors": st.keepalive_errors,
            "peer_changes": st.peer_changes,
            "dead_events": st.dead_events,
            "peer_state": PEER_STATES.get(st.peer_state, "unknown"),
            "last_rx_age_s": (None if st.last_rx_age_ns == <uint64_t>-1
                              else st.last_rx_age_ns / 1e9),
            "peer": format_hostport(self.peer),
        }

    def reset_stats(self):
        """Zero the counters (peer state and address stay).

        Raises
        ------
        PortError
            The port is closed (EBADF).
        """
        self.check_open()
        pd_udp_stats_reset(self.u)

    def __dealloc__(self):
        if self.u != NULL:
            pd_udp_close(self.u)
            self.u = NULL
            warnings.warn("UdpPort garbage-collected without close()", ResourceWarning)

    def __repr__(self):
        return f"<UdpPort {self.spec}>"
