# Declarations of native/pipeline/impair.h: the lossy-link stage.
from libc.stdint cimport uint32_t, uint64_t

from pydpdk._includes.pkt cimport pd_pkt_ops
from pydpdk._includes.stage cimport pd_stage


cdef extern from "impair.h" nogil:
    ctypedef struct pd_impair_cfg:
        double loss
        double ge_p, ge_r, ge_loss_good, ge_loss_bad
        double duplicate
        double reorder
        uint32_t reorder_gap
        uint64_t seed

    ctypedef struct pd_impair_counters:
        uint64_t seen, lost_random, lost_burst, duplicated, duplicate_failed, reordered

    ctypedef struct pd_impair:
        pass

    pd_impair *pd_impair_create(const pd_impair_cfg *cfg, const pd_pkt_ops *ops, void *pool,
                                int *err)
    void pd_impair_destroy(pd_impair *im)
    void pd_impair_stage(pd_impair *im, pd_stage *st)
    const pd_impair_counters *pd_impair_counters_get(const pd_impair *im)
    int pd_impair_set_loss(pd_impair *im, double loss, double ge_p, double ge_r,
                           double ge_loss_good, double ge_loss_bad)
