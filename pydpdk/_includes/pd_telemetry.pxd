# Declarations of native/dpdk/pd_telemetry.h: the /pydpdk DPDK telemetry commands.
from pydpdk._includes.stats cimport pd_stats_registry


cdef extern from "pd_telemetry.h" nogil:
    int pd_telemetry_register(pd_stats_registry *reg)
    const char *const pd_telemetry_commands[]
    const char *const pd_telemetry_help[]


cdef extern from "rte_eal.h" nogil:
    const char *rte_eal_get_runtime_dir()
