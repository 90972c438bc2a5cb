# Declarations of native/telemetry/fill.h: what each kind of object shows.
from libc.stdint cimport uint32_t

from pydpdk._includes.pipeline cimport PD_CHAIN_MAX_STAGES, pd_chain
from pydpdk._includes.stats cimport pd_stats_snap


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
