# cython: language_level=3
"""DPDK ethdev ports and the native forwarding loop (private).

Port subclasses PortBase: rx_burst/tx_burst/start/stop/close and all
argument checks come from the burst core; this module configures the device
and reports on it.  Port and queue ids are checked here because DPDK release
builds do not check them in the burst functions.
"""

import errno
import itertools
import os
import time
import warnings

from cpython.exc cimport PyErr_CheckSignals
from libc.stdint cimport uint16_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memset

from pydpdk._burst cimport PortBase
from pydpdk._dpdk_eal cimport eal_usable, require_eal, thread_attach
from pydpdk._dpdk_mbuf cimport Mempool
from pydpdk._includes.pd_afxdp cimport (
    pd_afxdp_close_socket,
    pd_afxdp_pool_create,
    pd_afxdp_pool_free,
    pd_afxdp_quiet_libs,
    pd_afxdp_rx_copy,
    pd_afxdp_rx_copy_add,
    pd_afxdp_rx_copy_remove,
    pd_afxdp_rx_copy_stats,
    pd_afxdp_sockets,
)
from pydpdk._includes.pd_dpdk cimport (
    PD_FWD_COUNT_REACHED,
    PD_FWD_DEADLINE,
    PD_FWD_MAX_LINKS,
    PD_FWD_QUIT,
    PD_FWD_SLICE_DONE,
    pd_dpdk_dev_info,
    pd_dpdk_get_dev_info,
    pd_dpdk_log_capture_begin,
    pd_dpdk_log_capture_end,
    pd_dpdk_port_io,
    pd_dpdk_rx_chain_stats,
    pd_dpdk_rx_chain_stats_reset,
    pd_fwd_config,
    pd_fwd_counters,
    pd_fwd_run,
)
from pydpdk._includes.pd_thread cimport pd_thread_set_hook
from pydpdk._includes.pkt cimport PD_BURST_MAX
from pydpdk._includes.rte_cycles cimport rte_get_tsc_cycles, rte_get_tsc_hz
from pydpdk._includes.rte_errno cimport rte_strerror
from pydpdk._includes.rte_ethdev cimport (
    RTE_ETH_LINK_FULL_DUPLEX,
    RTE_ETH_LINK_UP,
    RTE_ETH_MQ_RX_NONE,
    RTE_ETH_MQ_RX_RSS,
    RTE_ETH_RSS_ETH,
    RTE_ETH_RSS_IP,
    RTE_ETH_RSS_IPV4,
    RTE_ETH_RSS_IPV6,
    RTE_ETH_RSS_NONFRAG_IPV4_TCP,
    RTE_ETH_RSS_NONFRAG_IPV4_UDP,
    RTE_ETH_RSS_NONFRAG_IPV6_TCP,
    RTE_ETH_RSS_NONFRAG_IPV6_UDP,
    RTE_ETH_RSS_TCP,
    RTE_ETH_RSS_UDP,
    rte_eth_conf,
    rte_eth_dev_adjust_nb_rx_tx_desc,
    rte_eth_dev_close,
    rte_eth_dev_configure,
    rte_eth_dev_get_mtu,
    rte_eth_dev_set_mtu,
    rte_eth_dev_start,
    rte_eth_dev_stop,
    rte_eth_link,
    rte_eth_link_get_nowait,
    rte_eth_macaddr_get,
    rte_eth_promiscuous_disable,
    rte_eth_promiscuous_enable,
    rte_eth_promiscuous_get,
    rte_eth_rx_queue_setup,
    rte_eth_stats,
    rte_eth_stats_get,
    rte_eth_stats_reset,
    rte_eth_tx_queue_setup,
    rte_eth_xstat,
    rte_eth_xstat_name,
    rte_eth_xstats_get,
    rte_eth_xstats_get_names,
    rte_eth_xstats_reset,
)
from pydpdk._includes.rte_ether cimport rte_ether_addr
from pydpdk._includes.rte_mempool cimport rte_mempool

from pydpdk import _dpdk_eal
from pydpdk.errors import PortError, error_from_errno

# A plain thread's first rx/tx burst (Python burst loop, dpdk.forward, a
# pipeline) through this extension's ethdev I/O gets it an lcore id, so the
# mempools' per-lcore caches serve it (docs/architecture.md, "Threads").
pd_thread_set_hook(thread_attach)

# The installed headers' values, for the IntFlag in pydpdk.dpdk (checked by a test).
RSS_HEADER_VALUES = {
    "IPV4": RTE_ETH_RSS_IPV4,
    "NONFRAG_IPV4_TCP": RTE_ETH_RSS_NONFRAG_IPV4_TCP,
    "NONFRAG_IPV4_UDP": RTE_ETH_RSS_NONFRAG_IPV4_UDP,
    "IPV6": RTE_ETH_RSS_IPV6,
    "NONFRAG_IPV6_TCP": RTE_ETH_RSS_NONFRAG_IPV6_TCP,
    "NONFRAG_IPV6_UDP": RTE_ETH_RSS_NONFRAG_IPV6_UDP,
    "ETH": RTE_ETH_RSS_ETH,
    "IP": RTE_ETH_RSS_IP,
    "TCP": RTE_ETH_RSS_TCP,
    "UDP": RTE_ETH_RSS_UDP,
}


# net_af_xdp (DPDK 22.11) keeps the mbufs of its rx pool and leaves its
# sockets open when closed (native/dpdk/pd_afxdp.h): its ports get a pool of
# their own for the driver, freed after close with whatever the driver kept.
cdef enum:
    XDP_MAX_QUEUES = 64
    XDP_MAX_SOCKETS = 256
# Per queue: the fill ring's 2048 mbufs, the rx ring, and frames sent from
# other pools (copied into the driver's pool) waiting in the tx and
# completion rings.
cdef enum:
    XDP_FILL = 2048
    XDP_COMPLETION = 2048
_xdp_pool_names = itertools.count()
# When this process last closed the AF_XDP sockets of a port (monotonic s).
_xdp_closed_at = 0.0
# How long the kernel may take to release an interface queue after that.
XDP_RELEASE_WAIT = 0.3


cdef inline object _fail(int rc, str what):
    return error_from_errno(rc, what, PortError, rte_strerror(-rc if rc < 0 else rc).decode())


cdef class Port(PortBase):
    """A DPDK ethdev port, configured on creation and started with ``start()``.

    *device* is a port id or a device name ("net_null0").  rx queues allocate
    from *pool*.  With *rss* (RSS hash types) and several rx queues, traffic
    is spread by RSS; unsupported hash types are dropped from the request (see
    ``rss_hf``).  The pool cannot be closed before the port.  Thread-safe:
    burst calls on one queue take turns (DPDK queues are not multi-thread
    safe); a queue polled by ``forward`` or a Pipeline raises
    ConcurrentUseError on burst calls from Python.  Configured with
    ``rte_eth_dev_configure``, ``rte_eth_rx_queue_setup`` and
    ``rte_eth_tx_queue_setup``.

    Parameters
    ----------
    device : int or str
        Ethdev port id, or device name (``"net_null0"``, see
        ``Eal.add_vdev``).
    pool : Mempool
        Pool the rx queues allocate mbufs from; held until ``close()``.
    rx_queues, tx_queues : int, default 1
        Number of queues, 1 to the driver's ``max_rx_queues`` /
        ``max_tx_queues``.
    rx_ring_size, tx_ring_size : int, default 1024
        Descriptors per queue, 1 to 65535; the driver may adjust them
        (``rte_eth_dev_adjust_nb_rx_tx_desc``; the result is in the
        attributes of the same name).
    rss : int or RssHash, default 0
        RSS hash types to spread traffic over several rx queues; types the
        driver does not offer are dropped (see ``rss_hf``).
    mtu : int, optional
        MTU in bytes, within the driver's ``min_mtu``..``max_mtu``.
    promiscuous : bool, optional
        Enable or disable promiscuous mode (None: the driver's default).

    Raises
    ------
    TypeError
        *device* is neither an int nor a str.
    ValueError
        A queue count, ring size, *rss* or *mtu* outside what the driver
        allows.
    PortError
        No such port (ENODEV), already open (EBUSY), or configuring it
        failed (DPDK's errno).
    PoolError
        *pool* is closed.
    EalStateError
        The EAL is not running in this process.

    Notes
    -----
    ``stats()`` keys (``rte_eth_stats_get``; packets unless named bytes):
    ``ipackets``, ``opackets``, ``ibytes``, ``obytes`` (bytes), ``imissed``
    (dropped by the device: rx queue full), ``ierrors``, ``oerrors``,
    ``rx_nombuf`` (rx mbuf allocation failures), and pydpdk's
    ``rx_linearized`` (multi-mbuf frames rx copied into one mbuf) and
    ``rx_chain_dropped`` (multi-mbuf frames too large for one, dropped).
    :meth:`xstats` has the driver's extended counters.

    A ``net_af_xdp`` port gives its driver a pool of its own and copies what
    it receives into *pool*: DPDK 22.11's driver keeps its pool's mbufs when
    closed (see docs/architecture.md).  That pool is freed on close;
    ``driver_kept`` then counts the mbufs the driver had not returned.
    """

    cdef readonly uint16_t port_id
    """Ethdev port id (int, ``0..RTE_MAX_ETHPORTS-1``)."""
    cdef readonly str name
    """Device name (str), e.g. ``"net_null0"``; None until configured."""
    cdef readonly Mempool pool
    """The Mempool rx allocates from, held until ``close()``."""
    cdef readonly uint16_t rx_ring_size
    """Rx descriptors per queue after the driver's adjustment (int)."""
    cdef readonly uint16_t tx_ring_size
    """Tx descriptors per queue after the driver's adjustment (int)."""
    cdef readonly uint64_t rss_hf
    """RSS hash types in effect (int, ``RssHash`` bits); 0 without RSS."""
    # net_af_xdp only (see XDP_* above): the driver's own pool, the rx
    # copies into `pool`, and the sockets the port opened (fd, inode).
    cdef rte_mempool *xdp_pool
    cdef pd_afxdp_rx_copy *xdp_copies[XDP_MAX_QUEUES]
    cdef int xdp_fds[XDP_MAX_SOCKETS]
    cdef uint64_t xdp_inodes[XDP_MAX_SOCKETS]
    cdef int n_xdp_sockets
    cdef readonly unsigned int driver_kept
    """net_af_xdp: mbufs its driver still held when the port was closed (int)."""

    _is_port = True

    def __init__(self, device, Mempool pool not None, *, int rx_queues=1, int tx_queues=1,
                 int rx_ring_size=1024, int tx_ring_size=1024, rss=0, mtu=None,
                 promiscuous=None):
        cdef pd_dpdk_dev_info info
        cdef rte_eth_conf conf
        cdef uint16_t nb_rxd, nb_txd
        cdef int rc, q
        cdef bint xdp
        require_eal()
        if self.name is not None:
            raise PortError(errno.EEXIST, f"{self!r} is already configured")
        pool.check_open()
        if isinstance(device, str):
            pid = _dpdk_eal.port_id(device)
        elif isinstance(device, int) and not isinstance(device, bool):
            _dpdk_eal.port_name(device)  # validates the id
            pid = device
        else:
            raise TypeError(f"device must be a port id or a device name, not {device!r}")
        for res in list(_dpdk_eal._resources.values()):
            if isinstance(res, Port) and not res.is_closed and res.port_id == pid:
                raise PortError(errno.EBUSY, f"DPDK port {pid} is already open as {res!r}")
        rc = pd_dpdk_get_dev_info(pid, &info)
        if rc < 0:
            raise _fail(rc, f"cannot read device info of port {pid}")
        if not 1 <= rx_queues <= info.max_rx_queues:
            raise ValueError(f"rx_queues must be between 1 and {info.max_rx_queues} for "
                             f"{info.driver.decode()}, got {rx_queues}")
        if not 1 <= tx_queues <= info.max_tx_queues:
            raise ValueError(f"tx_queues must be between 1 and {info.max_tx_queues} for "
                             f"{info.driver.decode()}, got {tx_queues}")
        for label, size in (("rx_ring_size", rx_ring_size), ("tx_ring_size", tx_ring_size)):
            if not 1 <= size <= 0xFFFF:
                raise ValueError(f"{label} must be between 1 and 65535, got {size}")
        rss = int(rss)
        if rss < 0:
            raise ValueError(f"rss must be a set of RSS hash flags, got {rss}")

        memset(&conf, 0, sizeof(conf))
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_NONE
        if rss and rx_queues > 1:
            conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS
            conf.rx_adv_conf.rss_conf.rss_hf = rss & info.flow_type_rss_offloads
        if mtu is not None:
            if not info.min_mtu <= mtu <= info.max_mtu:
                raise ValueError(f"mtu must be between {info.min_mtu} and {info.max_mtu}, "
                                 f"got {mtu}")
            conf.rxmode.mtu = mtu
        # self.name stays None until the port is fully set up: a half-configured
        # port is not "open" (no registry entry, nothing for __dealloc__ to close).
        name = _dpdk_eal.port_name(pid)
        socket = info.socket_id if info.socket_id >= 0 else 0
        rc = rte_eth_dev_configure(pid, rx_queues, tx_queues, &conf)
        if rc < 0:
            raise _fail(rc, f"cannot configure port {name!r}")
        nb_rxd = rx_ring_size
        nb_txd = tx_ring_size
        rc = rte_eth_dev_adjust_nb_rx_tx_desc(pid, &nb_rxd, &nb_txd)
        if rc < 0:
            raise _fail(rc, f"cannot fit ring sizes to port {name!r}")
        xdp = info.driver.decode() == "net_af_xdp"
        if xdp:
            if max(rx_queues, tx_queues) > XDP_MAX_QUEUES:
                raise ValueError(f"at most {XDP_MAX_QUEUES} queues on a net_af_xdp port")
            pd_afxdp_quiet_libs()        # libxdp/libbpf print on stderr otherwise
            self._xdp_setup(pid, name, pool, rx_queues, tx_queues, nb_rxd, nb_txd, socket)
        else:
            for q in range(rx_queues):
                rc = rte_eth_rx_queue_setup(pid, q, nb_rxd, socket, NULL, pool.mp)
                if rc < 0:
                    raise _fail(rc, f"cannot set up rx queue {q} of port {name!r}")
            for q in range(tx_queues):
                rc = rte_eth_tx_queue_setup(pid, q, nb_txd, socket, NULL)
                if rc < 0:
                    raise _fail(rc, f"cannot set up tx queue {q} of port {name!r}")
        self.port_id = pid
        self.name = name
        self.rx_ring_size = nb_rxd
        self.tx_ring_size = nb_txd
        self.rss_hf = conf.rx_adv_conf.rss_conf.rss_hf
        self.pool = pool
        self.hold_pool(pool)
        pd_dpdk_port_io(&self.io, pid, pool.mp)
        pd_dpdk_rx_chain_stats_reset(pid)   # a reused port id starts from 0
        # The pool's ops table: bursts from it and from rx share one pointer.
        self.io.ops = pool.ops
        self.n_rx_queues = rx_queues
        self.n_tx_queues = tx_queues
        _dpdk_eal.register(self)
        if promiscuous is not None:
            self.promiscuous = promiscuous

    cdef int check_open_port(self) except -1:
        if self.name is None:
            raise PortError(errno.ENODEV, "port is not configured")
        self.check_open()
        return 0

    def _start(self):
        cdef int rc
        require_eal()
        rc = rte_eth_dev_start(self.port_id)
        if rc < 0:
            raise _fail(rc, f"cannot start port {self.name!r}")

    def _stop(self):
        cdef int rc = rte_eth_dev_stop(self.port_id)
        if rc < 0:
            raise _fail(rc, f"cannot stop port {self.name!r}")

    def _close(self):
        cdef int rc
        if self.name is None:
            return
        if self.xdp_pool != NULL:
            rc = self._xdp_release(self.port_id, True)
        else:
            rc = rte_eth_dev_close(self.port_id)
        if rc < 0:
            raise _fail(rc, f"cannot close port {self.name!r}")

    cdef int _xdp_setup(self, uint16_t pid, str name, Mempool pool, int rx_queues,
                        int tx_queues, uint16_t nb_rxd, uint16_t nb_txd,
                        int socket) except -1:
        """Queues of a net_af_xdp port on a pool of its own, rx copied into *pool*.

        The kernel lets go of a closed AF_XDP socket's interface queue in
        deferred work, and a bind before that fails.  The driver cannot
        retry a failed queue setup (libxdp does not reset the fill ring's
        cached producer index: a second attempt hands the kernel 2048 empty
        fill slots), so the first attempt waits until XDP_RELEASE_WAIT after
        this process last closed such a socket, and a failure closes the
        device.  DPDK's log is captured meanwhile for the error message."""
        cdef int rc = 0, q, err = 0
        cdef char logbuf[512]
        cdef unsigned int per_queue = XDP_FILL + nb_rxd + XDP_COMPLETION + nb_txd
        cdef unsigned int n = max(rx_queues, tx_queues) * per_queue
        global _xdp_closed_at
        logbuf[0] = 0
        wait = _xdp_closed_at + XDP_RELEASE_WAIT - time.monotonic()
        if wait > 0:
            time.sleep(min(wait, XDP_RELEASE_WAIT))
        before = self._xdp_socket_set()
        xdp_name = f"pdx{os.getpid() % 100000}_{next(_xdp_pool_names)}".encode()
        self.xdp_pool = pd_afxdp_pool_create(xdp_name, n, socket, &err)
        if self.xdp_pool == NULL:
            raise _fail(err, f"cannot create the net_af_xdp pool of {name!r} ({n} mbufs)")
        capturing = pd_dpdk_log_capture_begin() == 0
        rc = rte_eth_rx_queue_setup(pid, 0, nb_rxd, socket, NULL, self.xdp_pool)
        if capturing:
            pd_dpdk_log_capture_end(logbuf, sizeof(logbuf))
        if rc < 0:
            detail = logbuf.decode(errors="replace").strip().replace("\n", "; ")
            self._xdp_release(pid, True)
            raise error_from_errno(
                rc, f"cannot set up rx queue 0 of port {name!r} (the device is closed: remove "
                    "and add it again; an AF_XDP socket closed a moment ago may still hold "
                    "the interface queue)", PortError, detail or rte_strerror(-rc).decode())
        try:
            for q in range(1, rx_queues):
                rc = rte_eth_rx_queue_setup(pid, q, nb_rxd, socket, NULL, self.xdp_pool)
                if rc < 0:
                    raise _fail(rc, f"cannot set up rx queue {q} of port {name!r}")
            for q in range(tx_queues):
                rc = rte_eth_tx_queue_setup(pid, q, nb_txd, socket, NULL)
                if rc < 0:
                    raise _fail(rc, f"cannot set up tx queue {q} of port {name!r}")
            for fd, ino in sorted(self._xdp_socket_set() - before):
                if self.n_xdp_sockets < XDP_MAX_SOCKETS:
                    self.xdp_fds[self.n_xdp_sockets] = fd
                    self.xdp_inodes[self.n_xdp_sockets] = ino
                    self.n_xdp_sockets += 1
            for q in range(rx_queues):
                rc = pd_afxdp_rx_copy_add(pid, q, pool.mp, &self.xdp_copies[q])
                if rc < 0:
                    raise _fail(rc, f"cannot copy what rx queue {q} of {name!r} receives")
        except BaseException:
            # The driver holds the pool's memory: close the device first.
            self._xdp_release(pid, True)
            raise
        return 0

    @staticmethod
    def _xdp_socket_set():
        """{(fd, inode)} of this process's AF_XDP sockets."""
        cdef int fds[XDP_MAX_SOCKETS]
        cdef uint64_t inodes[XDP_MAX_SOCKETS]
        cdef int n = pd_afxdp_sockets(fds, inodes, XDP_MAX_SOCKETS)
        if n < 0:
            raise _fail(n, "cannot list the AF_XDP sockets of this process")
        return {(fds[i], inodes[i]) for i in range(n)}

    cdef int _xdp_release(self, uint16_t pid, bint close_dev) noexcept:
        """Close a net_af_xdp device and undo what its driver leaves behind:
        rx copies removed, the sockets it left open closed, its pool freed
        with the mbufs it kept (counted in driver_kept).  Returns close's rc."""
        cdef int rc = 0, i
        for i in range(XDP_MAX_QUEUES):
            pd_afxdp_rx_copy_remove(self.xdp_copies[i])
            self.xdp_copies[i] = NULL
        if close_dev:
            rc = rte_eth_dev_close(pid)
        global _xdp_closed_at
        for i in range(self.n_xdp_sockets):
            pd_afxdp_close_socket(self.xdp_fds[i], self.xdp_inodes[i])
        if close_dev:
            _xdp_closed_at = time.monotonic()
        self.n_xdp_sockets = 0
        if self.xdp_pool != NULL:
            self.driver_kept += pd_afxdp_pool_free(self.xdp_pool)
            self.xdp_pool = NULL
        return rc

    def _abandon(self):
        # Forked child or failed teardown: unusable from now on, DPDK untouched.
        self.closed = True

    def __dealloc__(self):
        # Safety net: a Port dropped without close() would stay configured
        # (and drop out of the EAL's weak registry), so release it here.
        if self.name is None or self.closed or not eal_usable():
            return
        self.closed = True
        if self.started:
            rte_eth_dev_stop(self.port_id)
        if self.xdp_pool != NULL:
            self._xdp_release(self.port_id, True)
        else:
            rte_eth_dev_close(self.port_id)
        warnings.warn(f"DPDK port {self.name!r} garbage-collected while open; it was closed "
                      "(call close() or use a with block)", ResourceWarning)

    @property
    def mac(self):
        """MAC address as ``'aa:bb:cc:dd:ee:ff'`` (str, ``rte_eth_macaddr_get``).

        Raises PortError when the port is closed or DPDK refuses.
        """
        cdef rte_ether_addr addr
        self.check_open_port()
        rc = rte_eth_macaddr_get(self.port_id, &addr)
        if rc < 0:
            raise _fail(rc, f"cannot read the MAC address of {self.name!r}")
        return ":".join(f"{addr.addr_bytes[i]:02x}" for i in range(6))

    @property
    def link(self):
        """Link status without waiting (``rte_eth_link_get_nowait``).

        A dict: ``up`` (bool), ``speed_mbps`` (int, Mbit/s), ``full_duplex``
        and ``autoneg`` (bool).  Raises PortError when the port is closed or
        DPDK refuses.
        """
        cdef rte_eth_link link
        self.check_open_port()
        memset(&link, 0, sizeof(link))
        rc = rte_eth_link_get_nowait(self.port_id, &link)
        if rc < 0:
            raise _fail(rc, f"cannot read the link of {self.name!r}")
        return {"up": link.link_status == RTE_ETH_LINK_UP, "speed_mbps": link.link_speed,
                "full_duplex": link.link_duplex == RTE_ETH_LINK_FULL_DUPLEX,
                "autoneg": bool(link.link_autoneg)}

    @property
    def mtu(self):
        """MTU in bytes (int); settable, 68 to 65535 and what the driver allows.

        ``rte_eth_dev_get_mtu`` / ``rte_eth_dev_set_mtu``.  Raises ValueError
        for a value out of range, PortError when the port is closed or DPDK
        refuses.
        """
        cdef uint16_t mtu = 0
        self.check_open_port()
        rc = rte_eth_dev_get_mtu(self.port_id, &mtu)
        if rc < 0:
            raise _fail(rc, f"cannot read the MTU of {self.name!r}")
        return mtu

    @mtu.setter
    def mtu(self, int value):
        self.check_open_port()
        if not 68 <= value <= 0xFFFF:
            raise ValueError(f"mtu must be between 68 and 65535, got {value}")
        rc = rte_eth_dev_set_mtu(self.port_id, value)
        if rc < 0:
            raise _fail(rc, f"cannot set the MTU of {self.name!r} to {value}")

    @property
    def promiscuous(self):
        """Promiscuous mode (bool); settable (``rte_eth_promiscuous_*``).

        Raises PortError when the port is closed or DPDK refuses.
        """
        self.check_open_port()
        rc = rte_eth_promiscuous_get(self.port_id)
        if rc < 0:
            raise _fail(rc, f"cannot read promiscuous mode of {self.name!r}")
        return bool(rc)

    @promiscuous.setter
    def promiscuous(self, bint enable):
        self.check_open_port()
        rc = (rte_eth_promiscuous_enable(self.port_id) if enable
              else rte_eth_promiscuous_disable(self.port_id))
        if rc < 0:
            raise _fail(rc, f"cannot {'enable' if enable else 'disable'} promiscuous mode "
                            f"on {self.name!r}")

    def info(self):
        """Driver and capability information (``rte_eth_dev_info_get``).

        Returns
        -------
        dict
            ``port_id``, ``name``, ``driver`` (str), ``socket`` (NUMA id),
            ``max_rx_queues``, ``max_tx_queues``, ``rx_desc_max``,
            ``tx_desc_max``, ``min_mtu``, ``max_mtu`` (bytes),
            ``min_rx_bufsize``, ``max_rx_bufsize`` (bytes, None where DPDK
            does not say), ``max_rx_pktlen`` (bytes), ``rx_offload_capa``,
            ``tx_offload_capa``, ``rss_offloads`` (bit masks), ``reta_size``
            and ``hash_key_size`` (bytes).

        Raises
        ------
        PortError
            The port is closed (EBADF), or DPDK refused (its errno).
        """
        cdef pd_dpdk_dev_info info
        self.check_open_port()
        rc = pd_dpdk_get_dev_info(self.port_id, &info)
        if rc < 0:
            raise _fail(rc, f"cannot read device info of {self.name!r}")
        return {
            "port_id": self.port_id,
            "name": self.name,
            "driver": info.driver.decode(),
            "socket": info.socket_id,
            "max_rx_queues": info.max_rx_queues,
            "max_tx_queues": info.max_tx_queues,
            "rx_desc_max": info.rx_desc_max,
            "tx_desc_max": info.tx_desc_max,
            "min_mtu": info.min_mtu,
            "max_mtu": info.max_mtu,
            "min_rx_bufsize": info.min_rx_bufsize,
            "max_rx_bufsize": info.max_rx_bufsize or None,
            "max_rx_pktlen": info.max_rx_pktlen,
            "rx_offload_capa": info.rx_offload_capa,
            "tx_offload_capa": info.tx_offload_capa,
            "rss_offloads": info.flow_type_rss_offloads,
            "reta_size": info.reta_size,
            "hash_key_size": info.hash_key_size,
        }

    @property
    def driver(self):
        """Driver name (str), e.g. ``"net_null"``; PortError when closed."""
        return self.info()["driver"]

    def _stats(self):
        """ethdev counters, plus the frames of more than one mbuf that rx made one
        (``rx_linearized``) or dropped as too large (``rx_chain_dropped``)."""
        cdef rte_eth_stats st
        cdef uint64_t linearized = 0, chain_dropped = 0, nombuf = 0, oversize = 0
        cdef uint64_t copy_nombuf = 0, copy_oversize = 0
        cdef int q
        rc = rte_eth_stats_get(self.port_id, &st)
        if rc < 0:
            raise _fail(rc, f"cannot read stats of {self.name!r}")
        pd_dpdk_rx_chain_stats(self.port_id, &linearized, &chain_dropped)
        for q in range(XDP_MAX_QUEUES):
            if self.xdp_copies[q] != NULL:
                pd_afxdp_rx_copy_stats(self.xdp_copies[q], &copy_nombuf, &copy_oversize)
                nombuf += copy_nombuf
                oversize += copy_oversize
        # net_af_xdp: frames the copy into the user's pool had to drop
        return {"ipackets": st.ipackets, "opackets": st.opackets, "ibytes": st.ibytes,
                "obytes": st.obytes, "imissed": st.imissed, "ierrors": st.ierrors,
                "oerrors": st.oerrors, "rx_nombuf": st.rx_nombuf + nombuf,
                "rx_linearized": linearized, "rx_chain_dropped": chain_dropped + oversize}

    def xstats(self):
        """Extended statistics (``rte_eth_xstats_get``).

        Returns
        -------
        dict of str to int
            ``{xstat name: value}``; names and units are the driver's.

        Raises
        ------
        PortError
            The port is closed (EBADF), or DPDK refused (its errno).
        MemoryError
            No memory for the tables.
        """
        cdef rte_eth_xstat_name *names = NULL
        cdef rte_eth_xstat *values = NULL
        cdef int n, got, i
        self.check_open_port()
        n = rte_eth_xstats_get_names(self.port_id, NULL, 0)
        if n < 0:
            raise _fail(n, f"cannot list xstats of {self.name!r}")
        if n == 0:
            return {}
        names = <rte_eth_xstat_name *>calloc(n, sizeof(rte_eth_xstat_name))
        values = <rte_eth_xstat *>calloc(n, sizeof(rte_eth_xstat))
        try:
            if names == NULL or values == NULL:
                raise MemoryError()
            got = rte_eth_xstats_get_names(self.port_id, names, n)
            if got < 0 or got > n:
                raise _fail(got if got < 0 else -errno.EAGAIN,
                            f"cannot list xstats of {self.name!r}")
            got = rte_eth_xstats_get(self.port_id, values, n)
            if got < 0 or got > n:
                raise _fail(got if got < 0 else -errno.EAGAIN,
                            f"cannot read xstats of {self.name!r}")
            return {names[values[i].id].name.decode(): values[i].value for i in range(got)}
        finally:
            free(names)
            free(values)

    def reset_stats(self):
        """Zero the basic and extended statistics (``rte_eth_stats_reset``).

        Raises
        ------
        PortError
            The port is closed (EBADF), or DPDK refused (its errno).
        """
        self.check_open_port()
        rc = rte_eth_stats_reset(self.port_id)
        if rc < 0:
            raise _fail(rc, f"cannot reset stats of {self.name!r}")
        pd_dpdk_rx_chain_stats_reset(self.port_id)
        rc = rte_eth_xstats_reset(self.port_id)
        if rc < 0 and rc != -errno.ENOTSUP:
            raise _fail(rc, f"cannot reset xstats of {self.name!r}")

    def __repr__(self):
        state = "closed" if self.closed else ("started" if self.started else "stopped")
        return f"<dpdk.Port {self.port_id} {self.name!r} {state}>"


_STOP_REASONS = {PD_FWD_COUNT_REACHED: "count", PD_FWD_DEADLINE: "duration",
                 PD_FWD_QUIT: "quit"}


def forward(list links, int burst=32, max_packets=None, duration=None,
            double slice_seconds=0.005):
    """Forward between started ports in native code with the GIL released.

    *links* is a list of (rx_port, rx_queue, tx_port, tx_queue).  Stops after
    *max_packets* received, after *duration* seconds, or on Ctrl-C (checked
    every *slice_seconds*).  Packets the tx side refuses are freed (counted as
    dropped).  Returns the counters as a dict.
    """
    cdef pd_fwd_config cfg
    cdef pd_fwd_counters ctr
    cdef uint64_t hz = rte_get_tsc_hz()
    cdef uint64_t slice_tsc
    cdef int rc = PD_FWD_SLICE_DONE
    cdef Port rx, tx
    require_eal()
    if not 1 <= burst <= PD_BURST_MAX:
        raise ValueError(f"burst must be between 1 and {PD_BURST_MAX}, got {burst}")
    if not 1 <= len(links) <= PD_FWD_MAX_LINKS:
        raise ValueError(f"between 1 and {PD_FWD_MAX_LINKS} links, got {len(links)}")
    if max_packets is not None and max_packets <= 0:
        raise ValueError(f"max_packets must be > 0, got {max_packets}")
    if duration is not None and duration <= 0:
        raise ValueError(f"duration must be > 0 seconds, got {duration}")
    if max_packets is None and duration is None:
        duration = float("inf")
    memset(&cfg, 0, sizeof(cfg))
    memset(&ctr, 0, sizeof(ctr))
    for i, (rx, rxq, tx, txq) in enumerate(links):
        if rx is None or tx is None:
            raise TypeError("links need Port objects")
        rx.check_rx_queue(rxq)
        tx.check_tx_queue(txq)
        rx.check_usable()
        tx.check_usable()
        cfg.links[i].rx_port = rx.port_id
        cfg.links[i].rx_queue = rxq
        cfg.links[i].tx_port = tx.port_id
        cfg.links[i].tx_queue = txq
    cfg.n_links = len(links)
    cfg.burst = burst
    cfg.max_packets = max_packets or 0
    slice_tsc = <uint64_t>(slice_seconds * hz)
    start = time.perf_counter()
    if duration is not None and duration != float("inf"):
        cfg.deadline_tsc = rte_get_tsc_cycles() + <uint64_t>(duration * hz)
    stopped = None
    # Other threads may not stop or close these ports, nor use the polled
    # queues, while the loop runs.
    # (busy first: claiming may wait without the GIL)
    busy = [port for link in links for port in (link[0], link[2])]
    for port in busy:
        (<Port>port).busy += 1
    claimed = []
    try:
        for rx, rxq, tx, txq in links:
            if (rx, False, rxq) not in claimed:
                rx.claim_queue(False, rxq)
                claimed.append((rx, False, rxq))
            if (tx, True, txq) not in claimed:
                tx.claim_queue(True, txq)
                claimed.append((tx, True, txq))
    except BaseException:
        for port, is_tx, q in claimed:
            (<Port>port).unclaim_queue(is_tx, q)
        for port in busy:
            (<Port>port).busy -= 1
        raise
    try:
        while True:
            with nogil:
                rc = pd_fwd_run(&cfg, &ctr, NULL, slice_tsc)
            if rc < 0:
                raise _fail(rc, "forwarding loop failed")
            if rc != PD_FWD_SLICE_DONE:
                stopped = _STOP_REASONS.get(rc, "quit")
                break
            try:
                PyErr_CheckSignals()
            except KeyboardInterrupt:
                stopped = "interrupt"
                break
    finally:
        for port in busy:
            (<Port>port).busy -= 1
        for port, is_tx, q in claimed:
            (<Port>port).unclaim_queue(is_tx, q)
    return {
        "rx_packets": ctr.rx_packets,
        "tx_packets": ctr.tx_packets,
        "dropped": ctr.dropped,
        "rx_bursts": ctr.rx_bursts,
        "polls": ctr.polls,
        "seconds": time.perf_counter() - start,
        "stopped_by": stopped,
    }
