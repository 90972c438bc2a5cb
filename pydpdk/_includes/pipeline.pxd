# Declarations of native/pipeline/pipeline.h: the GIL-free run loop.
from libc.stdint cimport uint16_t, uint32_t, uint64_t

from pydpdk._includes.pkt cimport pd_pkt_ops
from pydpdk._includes.stage cimport pd_sink, pd_source, pd_stage


cdef extern from "pipeline.h" nogil:
    enum:
        PD_CHAIN_MAX_STAGES

    ctypedef struct pd_chain:
        int drain

    enum pd_stop_reason:
        PD_STOP_NONE
        PD_STOP_PACKETS
        PD_STOP_DURATION
        PD_STOP_SOURCES_DONE
        PD_STOP_CHECK
        PD_STOP_FLAG
        PD_STOP_FAULT

    ctypedef struct pd_run_opts:
        uint64_t max_packets
        uint64_t duration_ns
        uint32_t idle_rounds
        uint32_t idle_sleep_us
        uint64_t check_interval_ns
        int (*check)(void *arg) noexcept nogil
        void *check_arg
        volatile int *stop_flag
        uint64_t drain_ns
        uint64_t status_interval_ns

    ctypedef struct pd_run_result:
        uint64_t packets, rounds, idle_rounds, sleeps, waits, wakeups, elapsed_ns
        int reason
        int fault
        unsigned fault_chain
        int fault_in_sink

    void pd_run_opts_default(pd_run_opts *o)
    int pd_chain_init(pd_chain *c, pd_source *src, pd_sink *snk, const pd_pkt_ops *ops,
                      uint16_t burst)
    int pd_chain_add_stage(pd_chain *c, pd_stage *st)
    int pd_pipeline_run(pd_chain **chains, unsigned n_chains, const pd_run_opts *o,
                        pd_run_result *res)

    ctypedef struct pd_run_job:
        pd_chain **chains
        unsigned n_chains
        pd_run_opts opts
        pd_run_result res
        int rc
        int done

    int pd_run_job_main(void *job)
    int pd_run_job_done(const pd_run_job *job)
