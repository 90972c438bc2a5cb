/* The GIL-free run loop over chains of source -> stages -> sink. */
#ifndef PD_PIPELINE_H
#define PD_PIPELINE_H

#include <stdint.h>
#include "stage.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PD_CHAIN_MAX_STAGES 16

typedef struct pd_chain {
    pd_source *src;
    pd_stage *stages[PD_CHAIN_MAX_STAGES];
    uint16_t n_stages;
    pd_sink *snk;
    const pd_pkt_ops *ops;   /* frees what the sink refuses */
    uint16_t burst;          /* packets pulled per call, 1..PD_BURST_MAX */
    int drain;               /* keep pulling this source while draining (ports) */
    pd_pkt *buf[2][PD_STAGE_OUT_MAX];
} pd_chain;

enum pd_stop_reason {
    PD_STOP_NONE = 0,
    PD_STOP_PACKETS,         /* max_packets pulled */
    PD_STOP_DURATION,
    PD_STOP_SOURCES_DONE,    /* every source that can end (generator, file) ended */
    PD_STOP_CHECK,           /* the check callback asked to stop (Ctrl-C) */
    PD_STOP_FLAG,            /* *stop_flag set by another thread */
    PD_STOP_FAULT,           /* a source's or sink's status() reported a failure */
};

typedef struct pd_run_opts {
    uint64_t max_packets;        /* 0: no limit */
    uint64_t duration_ns;        /* 0: no limit */
    uint32_t idle_rounds;        /* empty rounds before sleeping */
    uint32_t idle_sleep_us;      /* 0: busy poll */
    uint64_t check_interval_ns;  /* how often check() runs */
    int (*check)(void *arg);     /* nonzero: stop */
    void *check_arg;
    volatile int *stop_flag;     /* nonzero: stop */
    uint64_t drain_ns;           /* at the end, keep moving packets this long at most */
    uint64_t status_interval_ns; /* how often sources'/sinks' status() runs */
    /* Event-driven idle: when every chain's source has a wait_fd (AF_PACKET,
     * UDP ports) and no stage holds packets on an unknown timer, the loop
     * blocks in poll() after wait_rounds empty rounds instead of sleeping
     * idle_sleep_us, until a source is readable, the next stage deadline,
     * or wait_max_ns at most.  wait_rounds 0: never block (sleep back-off);
     * also off when idle_sleep_us is 0 (busy poll). */
    uint32_t wait_rounds;
    uint64_t wait_max_ns;
} pd_run_opts;

typedef struct pd_run_result {
    uint64_t packets;            /* pulled from sources */
    uint64_t rounds, idle_rounds, sleeps;
    uint64_t waits;              /* blocking waits in poll() (event-driven idle) */
    uint64_t wakeups;            /* ... that ended with a readable source */
    uint64_t elapsed_ns;
    int reason;                  /* enum pd_stop_reason */
    int fault;                   /* PD_STOP_FAULT: the negative errno reported */
    unsigned fault_chain;        /* ... by this chain's */
    int fault_in_sink;           /* ... sink (1) or source (0) */
} pd_run_result;

void pd_run_opts_default(pd_run_opts *o);

/* Initialise a chain; returns 0 or -EINVAL. */
int pd_chain_init(pd_chain *c, pd_source *src, pd_sink *snk, const pd_pkt_ops *ops,
                  uint16_t burst);
int pd_chain_add_stage(pd_chain *c, pd_stage *st);

/* Move one burst through a chain.  Returns packets pulled. */
uint16_t pd_chain_poll(pd_chain *c, uint64_t now_ns);

/* Flush held packets of every stage down to the sink.  Returns packets moved. */
uint32_t pd_chain_flush(pd_chain *c, uint64_t now_ns);

/* Run until a stop condition; then drain and flush so every packet ends at a
 * sink or is freed.  A source or sink whose status() returns -ENETDOWN (link
 * down) is only recorded (the run goes on, the link may come back); any
 * other negative errno stops the run with PD_STOP_FAULT (the drain that
 * follows is bounded by drain_ns, as after any stop).  Returns 0 or -EINVAL. */
int pd_pipeline_run(pd_chain **chains, unsigned n_chains, const pd_run_opts *o,
                    pd_run_result *res);

/* A run packaged for another thread, e.g. a DPDK worker lcore:
 * pd_run_job_main has the lcore_function_t signature.  `done` becomes 1
 * (release order) when the run is over and res/rc are final. */
typedef struct pd_run_job {
    pd_chain **chains;
    unsigned n_chains;
    pd_run_opts opts;
    pd_run_result res;
    int rc;
    int done;
} pd_run_job;

int pd_run_job_main(void *job);
int pd_run_job_done(const pd_run_job *job);

#ifdef __cplusplus
}
#endif
#endif /* PD_PIPELINE_H */
