# cython: language_level=3
"""Run packaged native jobs (pipeline runs) on DPDK worker lcores (private)."""

import errno

from cpython.pycapsule cimport PyCapsule_GetContext, PyCapsule_GetPointer

from pydpdk._handle cimport check_rc
from pydpdk._includes.rte_launch cimport (
    lcore_function_t,
    rte_eal_remote_launch,
    rte_eal_wait_lcore,
)
from pydpdk._includes.rte_lcore cimport rte_get_main_lcore, rte_lcore_is_enabled

from pydpdk import _dpdk_eal
from pydpdk.errors import EalError

JOB_CAPSULE = b"pydpdk.pd_run_job"


cdef unsigned int checked_worker(int lcore) except? 0:
    _dpdk_eal.check()
    if lcore < 0 or lcore >= 1024 or not rte_lcore_is_enabled(<unsigned int>lcore):
        raise ValueError(f"lcore {lcore} is not enabled in this EAL (give the EAL more "
                         "lcores, e.g. Eal(lcores='0@(0,1),1@(0,1)'))")
    if <unsigned int>lcore == rte_get_main_lcore():
        raise ValueError(f"lcore {lcore} is the main lcore (this thread); pick a worker")
    return <unsigned int>lcore


def launch(int lcore, job):
    """Start a packaged job (a capsule from Pipeline._prepare_job) on a worker lcore."""
    cdef unsigned int worker = checked_worker(lcore)
    cdef void *arg = PyCapsule_GetPointer(job, JOB_CAPSULE)
    cdef lcore_function_t *entry = <lcore_function_t *>PyCapsule_GetContext(job)
    cdef int rc
    if entry == NULL:
        raise ValueError("the job has no entry point")
    rc = rte_eal_remote_launch(entry, arg, worker)
    check_rc(rc, f"cannot launch on lcore {lcore}",
             EalError if rc != -errno.EBUSY else None)


def wait(int lcore):
    """Wait for the job on *lcore* to return; returns its return code."""
    cdef unsigned int worker = checked_worker(lcore)
    cdef int rc
    with nogil:
        rc = rte_eal_wait_lcore(worker)
    return rc
