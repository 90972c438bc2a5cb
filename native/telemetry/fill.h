/* Fill functions for the counter registry (stats.h): what each kind of
 * object shows, under stable key names (docs/telemetry.md).  They only read
 * counters and never block. */
#ifndef PD_STATS_FILL_H
#define PD_STATS_FILL_H

#include "pipeline.h"
#include "stats.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PD_STATS_VIEW_CHAINS 16
#define PD_STATS_VIEW_ELEMENTS (PD_CHAIN_MAX_STAGES + 2)

/* What a pipeline shows: its chains (at most PD_STATS_VIEW_CHAINS; more are
 * counted in chains_total) with element names, and for FEC stages the
 * registry id of their codec entry.  The owner changes it only through
 * pd_stats_locked(), so readers see it whole. */
typedef struct pd_stats_chain_view {
    const pd_chain *chain;
    char names[PD_STATS_VIEW_ELEMENTS][PD_STATS_NAME_LEN];  /* source, stages..., sink */
    int ref_kind[PD_CHAIN_MAX_STAGES];                      /* -1: none */
    uint32_t ref_id[PD_CHAIN_MAX_STAGES];
} pd_stats_chain_view;

typedef struct pd_stats_pipeline {
    const volatile int *running;     /* optional: nonzero while the loop runs */
    unsigned n_chains;               /* chains in the view */
    unsigned chains_total;           /* chains added */
    pd_stats_chain_view chains[PD_STATS_VIEW_CHAINS];
} pd_stats_pipeline;

/* obj: pd_stats_pipeline *. */
void pd_stats_fill_pipeline(const void *obj, pd_stats_snap *out);
/* obj: fec_encoder * / fec_decoder * (the stand-alone streaming codecs). */
void pd_stats_fill_fec_encoder(const void *obj, pd_stats_snap *out);
void pd_stats_fill_fec_decoder(const void *obj, pd_stats_snap *out);
/* obj: pd_fec_enc_stage * / pd_fec_dec_stage * (pipeline stages). */
void pd_stats_fill_fec_enc_stage(const void *obj, pd_stats_snap *out);
void pd_stats_fill_fec_dec_stage(const void *obj, pd_stats_snap *out);

#ifdef __cplusplus
}
#endif
#endif /* PD_STATS_FILL_H */
