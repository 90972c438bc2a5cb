# Declarations of native/pipeline/traffic.h: generator and verifying sink.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

from pydpdk._includes.pkt cimport pd_pkt_ops
from pydpdk._includes.stage cimport pd_sink, pd_source


cdef extern from "traffic.h" nogil:
    enum:
        PD_MARKER_LEN
        PD_GEN_MAX_SIZES

    ctypedef struct pd_gen_cfg:
        const uint8_t *tmpl
        uint32_t tmpl_len
        uint32_t sizes[16]
        uint32_t n_sizes
        uint64_t count
        double rate_pps
        uint16_t stream
        int fix_lengths

    ctypedef struct pd_gen_counters:
        uint64_t sent, bytes, alloc_failed

    ctypedef struct pd_gen:
        pass

    pd_gen *pd_gen_create(const pd_gen_cfg *cfg, const pd_pkt_ops *ops, void *pool, int *err)
    void pd_gen_destroy(pd_gen *g)
    void pd_gen_source(pd_gen *g, pd_source *src)
    const pd_gen_counters *pd_gen_counters_get(const pd_gen *g)
    int pd_gen_fill(const pd_gen *g, uint8_t *buf, uint32_t len, uint64_t seq, uint64_t tx_ns)

    ctypedef struct pd_verify_counters:
        uint64_t received, bytes, valid, corrupted, foreign, duplicates, reordered, stale
        uint64_t max_seq_plus1, latency_sum_ns, latency_max_ns

    ctypedef struct pd_verify:
        pass

    pd_verify *pd_verify_create(uint32_t marker_off, uint32_t stream, const pd_pkt_ops *ops,
                                int *err)
    void pd_verify_destroy(pd_verify *v)
    void pd_verify_sink(pd_verify *v, pd_sink *snk)
    const pd_verify_counters *pd_verify_counters_get(const pd_verify *v)
    int pd_verify_frame(uint32_t marker_off, uint32_t stream, const uint8_t *f, uint32_t len,
                        uint64_t *seq)
