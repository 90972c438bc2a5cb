# cython: language_level=3
"""EAL lifecycle, device hotplug and lcore/NUMA information (private).

The EAL is a process singleton that DPDK cannot re-initialise: this module
keeps its state (not initialised / running / cleaned up / inherited by a
forked child) and refuses every use in the wrong state with EalStateError.
DPDK resources (pools, ports) register here so teardown can release them in
order, and so a forked child can mark them unusable without touching DPDK.
"""

import atexit
import errno
import os
import time
import weakref

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport uint16_t
from libc cimport errno as cerrno
from libc.stdio cimport fflush, stdout
from posix.unistd cimport _exit, close, dup2, fork, getpid, pipe, read
from posix.signal cimport kill
from posix.wait cimport WNOHANG, waitpid

cdef extern from "<poll.h>" nogil:
    struct pollfd:
        int fd
        short events
        short revents
    int poll(pollfd *fds, unsigned long nfds, int timeout)
    enum:
        POLLIN

cdef extern from "<fcntl.h>" nogil:
    int open(const char *path, int flags)
    enum:
        O_WRONLY

cdef extern from "rte_eal.h" nogil:
    ctypedef void (*rte_usage_hook_t)(const char *prgname) noexcept nogil
    rte_usage_hook_t rte_set_application_usage_hook(rte_usage_hook_t usage_func)
    int rte_eal_init(int argc, char **argv)

from pydpdk._handle cimport check_rc
from pydpdk._includes.pd_dpdk cimport (
    pd_dpdk_eal_init,
    pd_dpdk_log_capture_begin,
    pd_dpdk_log_capture_end,
    pd_dpdk_ring_pair,
    pd_dpdk_ring_pair_free,
)
from pydpdk._includes.pd_thread cimport (
    pd_thread_attach,
    pd_thread_detach,
    pd_thread_eal_gone,
    pd_thread_enable,
    pd_thread_enabled,
    pd_thread_get_stats,
    pd_thread_lcore_id,
    pd_thread_set_hook,
    pd_thread_stats,
)
from pydpdk._includes.rte_dev cimport rte_dev_probe, rte_eal_hotplug_remove
from pydpdk._includes.rte_eal cimport rte_eal_cleanup, rte_eal_has_hugepages, rte_eal_has_pci
from pydpdk._includes.rte_errno cimport rte_errno, rte_strerror
from pydpdk._includes.rte_ethdev cimport (
    RTE_MAX_ETHPORTS,
    rte_eth_dev_count_avail,
    rte_eth_dev_get_name_by_port,
    rte_eth_dev_get_port_by_name,
    rte_eth_dev_is_valid_port,
)
from pydpdk._includes.rte_lcore cimport (
    RTE_MAX_LCORE,
    rte_get_main_lcore,
    rte_lcore_count,
    rte_lcore_is_enabled,
    rte_lcore_to_cpu_id,
    rte_lcore_to_socket_id,
    rte_socket_count,
    rte_socket_id_by_idx,
)
from pydpdk._includes.rte_version cimport rte_version

# telemetry and pdump (see the section at the end of this file)
from pydpdk._includes.pd_telemetry cimport (
    pd_telemetry_commands,
    pd_telemetry_help,
    pd_telemetry_register,
    rte_eal_get_runtime_dir,
)
from pydpdk._includes.stats cimport pd_stats_registry
from pydpdk._includes.rte_pdump cimport rte_pdump_init, rte_pdump_uninit
from pydpdk._telemetry cimport registry as _telemetry_registry

from pydpdk.errors import (
    EalError,
    EalHelpRequested,
    EalStateError,
    PortError,
    error_from_errno,
)

NOT_INITIALISED = "not initialised"
RUNNING = "running"
CLEANED_UP = "cleaned up"
FORKED = "inherited by a forked child"

cdef str _state = NOT_INITIALISED
cdef int _owner_pid = 0
cdef object _args = ()
cdef double _init_seconds = 0.0
# Resources in creation order; teardown goes in reverse.
_resources = weakref.WeakValueDictionary()
cdef unsigned long long _next_resource_id = 0
# vdevs added with add_vdev, removed at teardown.
_vdevs = []
# net_ring pairs: (name_a, name_b).
_ring_pairs = []


cdef int require_eal() except -1:
    if _state is RUNNING and os.getpid() != _owner_pid:
        _mark_forked()
    if _state is not RUNNING:
        raise EalStateError(errno.EPERM, _state_message())
    return 0


cdef bint eal_usable() noexcept:
    return _state is RUNNING and getpid() == _owner_pid


def check():
    """Raise EalStateError unless the EAL is initialised and usable here."""
    require_eal()


def _state_message():
    if _state is NOT_INITIALISED:
        return "the DPDK EAL is not initialised: use `with pydpdk.dpdk.Eal(): ...` first"
    if _state is CLEANED_UP:
        return ("the DPDK EAL was cleaned up; DPDK cannot initialise twice in one process "
                "(start a new process)")
    return (f"the DPDK EAL belongs to process {_owner_pid}; a forked child cannot use it "
            "(initialise DPDK in a fresh process, e.g. multiprocessing 'spawn')")


def state():
    if _state is RUNNING and os.getpid() != _owner_pid:
        return FORKED
    return _state


def register(resource):
    """Track a DPDK resource (must have close() and _abandon()) for teardown."""
    global _next_resource_id
    require_eal()
    _next_resource_id += 1
    _resources[_next_resource_id] = resource


def _mark_forked():
    global _state
    if _state is RUNNING:
        _state = FORKED
        # Nothing of the parent's DPDK may be touched here: just disarm.
        for res in list(_resources.values()):
            res._abandon()


os.register_at_fork(after_in_child=_mark_forked)


def _cleanup_at_exit():
    # Like a DPDK application's exit path: close ports (flushing e.g. net_pcap
    # output files), free pools, rte_eal_cleanup.  Problems are ignored here.
    if _state is RUNNING and os.getpid() == _owner_pid:
        cleanup()


atexit.register(_cleanup_at_exit)


def _log_tail():
    cdef char buf[2048]
    pd_dpdk_log_capture_end(buf, sizeof(buf))
    return buf.decode("utf-8", "replace").strip()


# ---- -h / --help -----------------------------------------------------------
# rte_eal_init prints its usage and calls exit(0) for -h: that would end the
# interpreter (no finally, no atexit).  So -h is found first (as DPDK's getopt
# would) and the usage text is produced by a forked child that runs
# rte_eal_init(prog, -h) with stdout on a pipe.

EAL_SHORT_WITH_ARG = "abcsdlSmnr"        # DPDK 22.11 eal_short_options "a:b:c:s:d:hl:S:m:n:r:v"
EAL_LONG_WITH_ARG = (
    "allow", "base-virtaddr", "block", "file-prefix", "force-max-simd-bitwidth",
    "huge-dir", "iova-mode", "lcores", "log-level", "main-lcore", "mbuf-pool-ops-name",
    "proc-type", "socket-limit", "socket-mem", "syslog", "trace", "trace-bufsz",
    "trace-dir", "trace-mode", "vdev", "vfio-intr", "vfio-vf-token",
)
EAL_LONG_NO_ARG = (
    "create-uio-dev", "help", "huge-unlink", "huge-worker-stack", "in-memory",
    "legacy-mem", "match-allocations", "no-hpet", "no-huge", "no-pci", "no-shconf",
    "no-telemetry", "single-file-segments", "telemetry", "vmware-tsc-map",
)


def help_requested(args):
    """True if DPDK's option parser would see -h/--help in *args* (no program name)."""
    i = 0
    args = list(args)
    while i < len(args):
        a = args[i]
        i += 1
        if a == "--":
            return False
        if a.startswith("--"):
            name = a[2:].split("=", 1)[0]
            if not name:
                continue
            exact = [o for o in EAL_LONG_WITH_ARG + EAL_LONG_NO_ARG if o == name]
            matches = exact or [o for o in EAL_LONG_WITH_ARG + EAL_LONG_NO_ARG
                                if o.startswith(name)]
            if len(matches) != 1:
                continue                        # unknown or ambiguous: an error, no exit
            if matches[0] == "help" and "=" not in a:
                return True
            if matches[0] in EAL_LONG_WITH_ARG and "=" not in a:
                i += 1                          # the next element is its argument
        elif a.startswith("-") and len(a) > 1:
            for j, c in enumerate(a[1:]):
                if c == "h":
                    return True
                if c in EAL_SHORT_WITH_ARG:
                    if j == len(a) - 2:
                        i += 1                  # "-l 0-3": the argument follows
                    break
    return False


cdef void _usage_done(const char *prgname) noexcept nogil:
    # Called by DPDK at the end of its usage text: leave before its exit(0)
    # (which would run the parent's C atexit handlers in this child).
    fflush(stdout)
    _exit(0)


def usage_text(str prog="pydpdk"):
    """DPDK's EAL usage text (what ``-h`` prints), produced by a forked child."""
    cdef int fds[2]
    cdef int pid, status = 0, got, devnull, remaining
    cdef char buf[4096]
    cdef char *argv[3]
    cdef pollfd pfd
    cdef bytes prog_b = os.fsencode(prog)
    cdef bytes h = b"-h"
    if pipe(fds) != 0:
        raise OSError(errno.EMFILE, "cannot create a pipe for the EAL usage text")
    argv[0] = prog_b
    argv[1] = h
    argv[2] = NULL
    fflush(stdout)
    with nogil:
        pid = fork()
        if pid == 0:
            close(fds[0])
            dup2(fds[1], 1)
            devnull = open(b"/dev/null", O_WRONLY)
            if devnull >= 0:
                dup2(devnull, 2)
            rte_set_application_usage_hook(_usage_done)
            rte_eal_init(2, argv)
            fflush(stdout)
            _exit(1)
    close(fds[1])
    if pid < 0:
        close(fds[0])
        raise OSError(errno.EAGAIN, "cannot fork to read the EAL usage text")
    chunks = []
    deadline = time.monotonic() + 10.0
    try:
        while True:
            remaining = int((deadline - time.monotonic()) * 1000)
            if remaining <= 0:
                break
            pfd.fd = fds[0]
            pfd.events = POLLIN
            pfd.revents = 0
            with nogil:
                got = poll(&pfd, 1, remaining)
            if got < 0 and cerrno.errno == cerrno.EINTR:
                continue
            if got <= 0:
                break
            with nogil:
                got = read(fds[0], buf, sizeof(buf))
            if got <= 0:
                break
            chunks.append(buf[:got])
    finally:
        close(fds[0])
        if waitpid(pid, &status, WNOHANG) == 0:
            kill(pid, 9)
            waitpid(pid, &status, 0)
    text = b"".join(chunks).decode("utf-8", "replace")
    text = text.replace("===== Application Usage =====", "")
    return text.strip("\n") + "\n"


def init(list args):
    """rte_eal_init(args); args[0] is the program name.  Returns seconds taken.

    EalHelpRequested (with DPDK's usage text) when the arguments ask for help,
    before anything is initialised.
    """
    global _state, _owner_pid, _args, _init_seconds
    cdef int argc = len(args)
    cdef char **argv
    cdef int rc, i
    if _state is RUNNING and os.getpid() != _owner_pid:
        _mark_forked()
    if _state is RUNNING:
        raise EalStateError(errno.EALREADY, "the DPDK EAL is already initialised in this "
                                            "process (it is a process-wide singleton)")
    if _state is not NOT_INITIALISED:
        raise EalStateError(errno.EPERM, _state_message())
    if help_requested(args[1:]):
        raise EalHelpRequested(usage_text(args[0] if args else "pydpdk"))
    encoded = [os.fsencode(a) for a in args]
    argv = <char **>PyMem_Malloc((argc + 1) * sizeof(char *))
    if argv == NULL:
        raise MemoryError()
    try:
        for i in range(argc):
            argv[i] = encoded[i]
        argv[argc] = NULL
        capturing = pd_dpdk_log_capture_begin() == 0
        start = time.perf_counter()
        # The GIL stays held: while the EAL runs, stdout and stderr point at
        # memory files (see pd_dpdk_eal_init), and other Python threads'
        # output must not land there.
        rc = pd_dpdk_eal_init(argc, argv)
        elapsed = time.perf_counter() - start
        reason = _log_tail() if capturing else ""
    finally:
        PyMem_Free(argv)
    if rc < 0:
        err = -rc
        # The EAL parses its arguments twice, so its complaints come twice.
        lines = list(dict.fromkeys(ln for ln in reason.splitlines() if ln.strip()))
        detail = "; ".join(lines[-3:]) if lines else rte_strerror(err).decode()
        cls = EalStateError if err == errno.EALREADY else EalError
        raise error_from_errno(err, f"rte_eal_init({' '.join(args[1:])}) failed", cls, detail)
    _state = RUNNING
    _owner_pid = os.getpid()
    _args = tuple(args)
    _init_seconds = elapsed
    pd_thread_enable(_threads_may_register(_args))
    _telemetry_start()
    return elapsed


def cleanup():
    """Close registered resources (newest first), remove added vdevs, rte_eal_cleanup.

    Returns a list of problems that prevented a full cleanup (empty when all
    went well); the EAL is unusable afterwards either way.
    """
    global _state
    cdef int rc
    if _state is RUNNING and os.getpid() != _owner_pid:
        _mark_forked()
    if _state is not RUNNING:
        return []
    problems = []
    # Ports first (they hold mbufs in their rings), then pools.
    items = sorted(_resources.items(), reverse=True)
    ports = [r for _, r in items if getattr(r, "_is_port", False)]
    others = [r for _, r in items if not getattr(r, "_is_port", False)]
    for res in ports + others:
        try:
            res.close()
        except Exception as exc:  # keep tearing down; report at the end
            problems.append(f"{res!r}: {exc}")
            res._abandon()
    for a, b in reversed(_ring_pairs):
        for name in (a, b):
            rte_eal_hotplug_remove(b"vdev", f"net_ring_{name}".encode())
        pd_dpdk_ring_pair_free(a.encode(), b.encode())
    _ring_pairs.clear()
    for name in reversed(_vdevs):
        rte_eal_hotplug_remove(b"vdev", name.encode())
    _vdevs.clear()
    _state = CLEANED_UP
    pd_thread_eal_gone()
    _pdump_stop()
    if problems:
        # Packets are still out of a pool: unmapping DPDK memory now would
        # turn their later release into a crash, so the EAL stays mapped.
        return problems
    rc = rte_eal_cleanup()
    if rc < 0:
        problems.append(f"rte_eal_cleanup: {rte_strerror(-rc).decode()}")
    return problems


def add_vdev(str devargs):
    """Hotplug a virtual device ("net_null0", "net_pcap0,rx_pcap=in.pcap,...").

    Returns the device name.  The EAL's reason for a refusal reaches the error.
    """
    cdef int rc
    require_eal()
    name = devargs.split(",", 1)[0].strip()
    if not name.startswith(("net_", "crypto_", "event_", "baseband_", "dma_")):
        raise ValueError(f"{name!r} is not a virtual device name (expected e.g. 'net_null0')")
    cdef bytes raw = devargs.encode()
    cdef const char *c_devargs = raw
    capturing = pd_dpdk_log_capture_begin() == 0
    with nogil:
        rc = rte_dev_probe(c_devargs)
    reason = _log_tail() if capturing else ""
    if rc < 0:
        lines = [ln for ln in reason.splitlines() if ln.strip()]
        detail = "; ".join(lines[-3:]) if lines else rte_strerror(-rc).decode()
        raise error_from_errno(-rc, f"cannot add device {devargs!r}", PortError, detail)
    _vdevs.append(name)
    return name


def remove_vdev(str name):
    """Hot-unplug a device added with add_vdev (close its port first)."""
    cdef int rc
    require_eal()
    if name not in _vdevs:
        raise ValueError(f"{name!r} was not added with add_vdev")
    for res in list(_resources.values()):
        if getattr(res, "_is_port", False) and not res.is_closed and res.name == name:
            raise PortError(errno.EBUSY, f"close {res!r} before removing its device")
    rc = rte_eal_hotplug_remove(b"vdev", name.encode())
    if rc < 0:
        raise error_from_errno(-rc, f"cannot remove device {name!r}", PortError,
                               rte_strerror(-rc).decode())
    _vdevs.remove(name)


def ring_pair(str name_a, str name_b, unsigned int depth=1024):
    """Two net_ring ports joined back to back; returns their device names."""
    cdef uint16_t pa = 0, pb = 0
    cdef int rc
    require_eal()
    if depth == 0 or depth & (depth - 1):
        raise ValueError(f"depth must be a power of two, got {depth}")
    rc = pd_dpdk_ring_pair(name_a.encode(), name_b.encode(), depth, &pa, &pb)
    if rc < 0:
        check_rc(rc, f"cannot create net_ring pair {name_a!r}/{name_b!r}",
                 PortError, rte_strerror(-rc).decode())
    _ring_pairs.append((name_a, name_b))
    return f"net_ring_{name_a}", f"net_ring_{name_b}"


def remove_ring_pair(str name_a, str name_b):
    """Remove a pair made by ring_pair (close both ports first)."""
    require_eal()
    if (name_a, name_b) not in _ring_pairs:
        raise ValueError(f"no ring pair {name_a!r}/{name_b!r}")
    devs = (f"net_ring_{name_a}", f"net_ring_{name_b}")
    for res in list(_resources.values()):
        if getattr(res, "_is_port", False) and not res.is_closed and res.name in devs:
            raise PortError(errno.EBUSY, f"close {res!r} before removing its ring pair")
    for dev in devs:
        rte_eal_hotplug_remove(b"vdev", dev.encode())
    pd_dpdk_ring_pair_free(name_a.encode(), name_b.encode())
    _ring_pairs.remove((name_a, name_b))


def port_ids():
    """Ids of the ethdev ports that exist."""
    require_eal()
    return [p for p in range(RTE_MAX_ETHPORTS) if rte_eth_dev_is_valid_port(p)]


def port_name(int port_id):
    cdef char name[64]
    require_eal()
    if not 0 <= port_id < RTE_MAX_ETHPORTS or not rte_eth_dev_is_valid_port(port_id):
        raise PortError(errno.ENODEV, f"no DPDK port {port_id} (ports: {port_ids()})")
    if rte_eth_dev_get_name_by_port(port_id, name) != 0:
        raise PortError(errno.ENODEV, f"no DPDK port {port_id}")
    return name.decode()


def port_id(str name):
    cdef uint16_t pid = 0
    require_eal()
    if rte_eth_dev_get_port_by_name(name.encode(), &pid) != 0:
        known = [port_name(p) for p in port_ids()]
        raise PortError(errno.ENODEV, f"no DPDK port named {name!r} (ports: {known}); "
                                      "add virtual devices with Eal.add_vdev()")
    return pid


def port_count():
    require_eal()
    return rte_eth_dev_count_avail()


def lcores():
    """Enabled lcores as a list of dicts: lcore, cpu, socket, main."""
    cdef unsigned int lc, main
    require_eal()
    main = rte_get_main_lcore()
    return [{"lcore": lc, "cpu": rte_lcore_to_cpu_id(lc),
             "socket": rte_lcore_to_socket_id(lc), "main": lc == main}
            for lc in range(RTE_MAX_LCORE) if rte_lcore_is_enabled(lc)]


def lcore_count():
    require_eal()
    return rte_lcore_count()


def sockets():
    """NUMA socket ids known to the EAL."""
    require_eal()
    return [rte_socket_id_by_idx(i) for i in range(rte_socket_count())]


def version():
    """DPDK's runtime version string (works without EAL)."""
    return rte_version().decode()


def info():
    """Summary of the running EAL."""
    require_eal()
    return {
        "version": version(),
        "args": list(_args),
        "init_seconds": _init_seconds,
        "hugepages": bool(rte_eal_has_hugepages()),
        "pci": bool(rte_eal_has_pci()),
        "lcores": lcores(),
        "sockets": sockets(),
        "ports": {p: port_name(p) for p in port_ids()},
        "telemetry": telemetry_info(),
        "pdump": _pdump_on,
        "threads": thread_info(),
    }


# --------------------------------------------------------------------------
# DPDK telemetry (/pydpdk endpoints) and librte_pdump (docs/telemetry.md)
# --------------------------------------------------------------------------

cdef int _telemetry_rc = 1      # 1: not registered yet, else pd_telemetry_register's result
cdef bint _pdump_on = False


cdef void _telemetry_start() noexcept:
    # The commands read the process's counter registry (pydpdk._telemetry);
    # they are served only when the EAL runs its telemetry thread.
    global _telemetry_rc
    if _telemetry_rc == 1:
        _telemetry_rc = pd_telemetry_register(<pd_stats_registry *>_telemetry_registry())


def telemetry_commands():
    """The /pydpdk telemetry commands: list of (command, help)."""
    cdef int i = 0
    out = []
    while pd_telemetry_commands[i] != NULL:
        out.append((pd_telemetry_commands[i].decode(), pd_telemetry_help[i].decode()))
        i += 1
    return out


def telemetry_info():
    """Telemetry state of the running EAL: ``enabled`` (its socket exists),
    ``socket`` (path), ``file_prefix`` (for ``dpdk-telemetry.py -f``),
    ``commands`` (/pydpdk ones) and ``error`` (why they are missing, or None)."""
    require_eal()
    path = os.path.join(rte_eal_get_runtime_dir().decode(), "dpdk_telemetry.v2")
    prefix = None
    for arg in _args:
        if arg.startswith("--file-prefix="):
            prefix = arg.split("=", 1)[1]
    error = None
    if _telemetry_rc < 0:
        error = f"registering the /pydpdk commands failed: {os.strerror(-_telemetry_rc)}"
    enabled = "--no-telemetry" not in _args and os.path.exists(path)
    return {"enabled": enabled, "socket": path if enabled else None, "file_prefix": prefix,
            "commands": [c for c, _ in telemetry_commands()] if _telemetry_rc == 0 else [],
            "error": error}


def pdump_init():
    """rte_pdump_init(): let dpdk-pdump / dpdk-dumpcap (secondary processes)
    capture this process's ports.  EalError when DPDK refuses (e.g. no
    shared memory: the EAL must run with hugepages and shared config)."""
    global _pdump_on
    require_eal()
    if _pdump_on:
        return
    if rte_pdump_init() < 0:
        raise error_from_errno(rte_errno_value(), "rte_pdump_init failed", EalError,
                               "packet capture needs the EAL with hugepages and shared "
                               "config (Eal(hugepages=True))")
    _pdump_on = True


cdef int rte_errno_value() noexcept:
    return rte_errno or errno.EIO


cdef void _pdump_stop() noexcept:
    global _pdump_on
    if _pdump_on:
        rte_pdump_uninit()
        _pdump_on = False


# --------------------------------------------------------------------------
# Non-EAL threads (native/dpdk/pd_thread.h, docs/architecture.md "Threads")
# --------------------------------------------------------------------------
# A plain thread (a Python thread running a pipeline or calling bursts) has
# no lcore id, so every mempool get/put of it bypasses the per-lcore cache.
# Such threads are registered with rte_thread_register() on their first
# burst (or when a pipeline starts on them) and unregistered when they exit.

cdef unsigned int LCORE_ANY = 0xFFFFFFFF

cdef extern from "rte_config.h" nogil:
    enum:
        RTE_MAX_LCORE

# This extension's copy of native/dpdk holds the thread state; the other
# DPDK extensions install thread_attach as the hook of their copy.
pd_thread_set_hook(pd_thread_attach)


cdef int thread_attach() noexcept nogil:
    return pd_thread_attach()


def _threads_may_register(args):
    """Registration needs multi-process off (rte_thread_register disables it
    for good): only when no secondary process can attach anyway."""
    return any(a in ("--no-shconf", "--in-memory") for a in args)


def attach_thread():
    """Give the calling thread an lcore id (rte_thread_register) unless it has
    one; True when it now runs with the mempools' per-lcore caches, False when
    it runs uncached (EAL not running, shared config, or all RTE_MAX_LCORE
    slots taken: see thread_info()["error"]).  Never raises: uncached is the
    documented fallback."""
    if not eal_usable():
        return False
    with nogil:
        pd_thread_attach()
    return pd_thread_lcore_id() != LCORE_ANY


def detach_thread():
    """Unregister the calling thread now if attach registered it (its cached
    mbufs go back to their pools first); True if it did."""
    if not eal_usable():
        return False
    return pd_thread_detach() == 1


def current_lcore_id():
    """rte_lcore_id() of the calling thread, or None without one."""
    cdef unsigned int lcore = pd_thread_lcore_id()
    return None if lcore == LCORE_ANY else int(lcore)


def thread_info():
    """Registration of non-EAL threads: ``enabled``, ``max_lcores``
    (RTE_MAX_LCORE: EAL lcores and registered threads together), counters
    ``registered``/``unregistered``/``failed``/``live``, and for the calling
    thread ``lcore_id`` (None without one) and ``error`` (errno name of a
    refused registration, or None)."""
    cdef pd_thread_stats st
    cdef int rc = 0
    pd_thread_get_stats(&st)
    lcore = current_lcore_id()
    if lcore is None and eal_usable() and pd_thread_enabled():
        rc = pd_thread_attach()          # returns the remembered refusal
        lcore = current_lcore_id()
    return {"enabled": bool(pd_thread_enabled()), "max_lcores": RTE_MAX_LCORE,
            "registered": st.registered,
            "unregistered": st.unregistered, "failed": st.failed, "live": st.live,
            "lcore_id": lcore, "error": errno.errorcode.get(-rc) if rc < 0 else None}


def _set_thread_registration(bint on):
    """Switch registration of threads not yet registered (benchmarks, tests)."""
    if on and not (eal_usable() and _threads_may_register(_args)):
        raise EalStateError(errno.EPERM, "threads register only with a running EAL without "
                                         "shared config (--no-shconf or --in-memory)")
    pd_thread_enable(on)
