# Declarations of native/pipeline/stage.h: sources, stages, sinks.
from libc.stdint cimport uint16_t, uint64_t

from pydpdk._includes.pkt cimport pd_pkt, pd_pkt_ops, pd_port_io


cdef extern from "stage.h" nogil:
    enum:
        PD_STAGE_OUT_MAX

    ctypedef struct pd_counters:
        uint64_t pkts_in, bytes_in, pkts_out, bytes_out, drops, calls, ns

    ctypedef struct pd_stage:
        const char *name
        void *ctx
        uint16_t (*process)(void *ctx, pd_pkt **inp, uint16_t n, pd_pkt **out,
                            uint16_t cap, uint64_t now_ns) noexcept nogil
        uint16_t (*flush)(void *ctx, pd_pkt **out, uint16_t cap, uint64_t now_ns) noexcept nogil
        void (*finish)(void *ctx) noexcept nogil
        pd_counters c

    ctypedef struct pd_source:
        const char *name
        void *ctx
        int health
        uint64_t health_changes
        pd_counters c

    ctypedef struct pd_sink:
        const char *name
        void *ctx
        int health
        uint64_t health_changes
        pd_counters c

    ctypedef struct pd_port_endpoint:
        pd_port_io io
        uint16_t queue
        uint16_t tx_retries

    void pd_source_from_port(pd_source *src, pd_port_endpoint *ep)
    void pd_sink_from_port(pd_sink *snk, pd_port_endpoint *ep)
    void pd_sink_discard(pd_sink *snk, const pd_pkt_ops *ops)
