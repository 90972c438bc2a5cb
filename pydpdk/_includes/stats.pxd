# Declarations of native/telemetry/stats.h: the counter registry read by
# DPDK's telemetry thread.
from libc.stdint cimport uint32_t, uint64_t


cdef extern from "stats.h" nogil:
    enum:
        PD_STATS_PIPELINE
        PD_STATS_FEC_ENCODER
        PD_STATS_FEC_DECODER
        PD_STATS_KINDS
        PD_STATS_KEY_LEN
        PD_STATS_STR_LEN
        PD_STATS_NAME_LEN
        PD_STATS_SNAP_MAX

    ctypedef struct pd_stats_kv:
        char key[64]
        int is_str
        uint64_t u64
        char str[64]

    ctypedef struct pd_stats_snap:
        pd_stats_kv kv[255]
        unsigned n
        unsigned truncated

    ctypedef void (*pd_stats_fill_fn)(const void *obj, pd_stats_snap *out) noexcept nogil

    ctypedef struct pd_stats_registry:
        pass

    int pd_stats_registry_init(pd_stats_registry *reg)
    void pd_stats_registry_after_fork(pd_stats_registry *reg)
    int pd_stats_add(pd_stats_registry *reg, int kind, const char *name, const void *obj,
                     pd_stats_fill_fn fill, uint32_t *id)
    int pd_stats_remove(pd_stats_registry *reg, int kind, uint32_t id)
    unsigned pd_stats_list(pd_stats_registry *reg, int kind, uint32_t *ids, unsigned max)
    int pd_stats_snapshot(pd_stats_registry *reg, int kind, uint32_t id, pd_stats_snap *out)
    void pd_stats_locked(pd_stats_registry *reg, void (*fn)(void *arg) noexcept nogil,
                         void *arg)
    const char *pd_stats_kind_name(int kind)
