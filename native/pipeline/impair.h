/* Impairment stage: a lossy, duplicating, reordering link for tests and the
 * demo.  Seeded, so a run is reproducible. */
#ifndef PD_IMPAIR_H
#define PD_IMPAIR_H

#include <stdint.h>
#include "stage.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pd_impair_cfg {
    double loss;             /* independent (Bernoulli) loss probability */
    /* Gilbert-Elliott two-state burst loss; disabled when ge_p == 0.
     * p: P(good -> bad), r: P(bad -> good) per packet; the loss probability
     * is ge_loss_good in the good state and ge_loss_bad in the bad one. */
    double ge_p, ge_r, ge_loss_good, ge_loss_bad;
    double duplicate;        /* probability that a packet is sent twice */
    double reorder;          /* probability that a packet is held back ... */
    uint32_t reorder_gap;    /* ... until this many later packets passed */
    uint64_t seed;
} pd_impair_cfg;

typedef struct pd_impair_counters {
    uint64_t seen;
    uint64_t lost_random, lost_burst;
    uint64_t duplicated, duplicate_failed;   /* failed: pool empty */
    uint64_t reordered;
} pd_impair_counters;

typedef struct pd_impair pd_impair;

/* Returns NULL with *err = -EINVAL (bad probability) or -ENOMEM. */
pd_impair *pd_impair_create(const pd_impair_cfg *cfg, const pd_pkt_ops *ops, void *pool,
                            int *err);
/* Frees the packets it still holds. */
void pd_impair_destroy(pd_impair *im);
void pd_impair_stage(pd_impair *im, pd_stage *st);
const pd_impair_counters *pd_impair_counters_get(const pd_impair *im);
/* Change the loss model (loss, ge_*) while the stage runs, from any thread:
 * taken at the next burst.  0, or -EINVAL (bad probability). */
int pd_impair_set_loss(pd_impair *im, double loss, double ge_p, double ge_r,
                       double ge_loss_good, double ge_loss_bad);

#ifdef __cplusplus
}
#endif
#endif /* PD_IMPAIR_H */
