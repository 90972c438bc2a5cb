# Declarations of native/telemetry/stats.h and fill.h: the counter registry
# read by DPDK's telemetry thread.
from libc.stdint cimport uint32_t, uint64_t

from pydpdk._includes.pipeline cimport PD_CHAIN_MAX_STAGES, pd_chain


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
    int pd_stats_add(pd_stats_registry *reg, int kind, const char *name, const void *obj,
                     pd_stats_fill_fn fill, uint32_t *id)
    int pd_stats_remove(pd_stats_registry *reg, int kind, uint32_t id)
    unsigned pd_stats_list(pd_stats_registry *reg, int kind, uint32_t *ids, unsigned max)
    int pd_stats_snapshot(pd_stats_registry *reg, int kind, uint32_t id, pd_stats_snap *out)
    void pd_stats_locked(pd_stats_registry *reg, void (*fn)(void *arg) noexcept nogil,
                         void *arg)
    const char *pd_stats_kind_name(int kind)


cdef extern from "fill.h" nogil:
    enum:
        PD_STATS_VIEW_CHAINS
        PD_STATS_VIEW_ELEMENTS

    ctypedef struct pd_stats_chain_view:
        const pd_chain *chain
        char names[18][48]
        int ref_kind[PD_CHAIN_MAX_STAGES]
        uint32_t ref_id[PD_CHAIN_MAX_STAGES]

    ctypedef struct pd_stats_pipeline:
        const volatile int *running
        unsigned n_chains
        unsigned chains_total
        pd_stats_chain_view chains[16]

    void pd_stats_fill_pipeline(const void *obj, pd_stats_snap *out)
    void pd_stats_fill_fec_encoder(const void *obj, pd_stats_snap *out)
    void pd_stats_fill_fec_decoder(const void *obj, pd_stats_snap *out)
    void pd_stats_fill_fec_enc_stage(const void *obj, pd_stats_snap *out)
    void pd_stats_fill_fec_dec_stage(const void *obj, pd_stats_snap *out)
