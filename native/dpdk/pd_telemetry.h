/* pydpdk's DPDK telemetry endpoints (docs/telemetry.md).
 *
 * Registers /pydpdk/... commands with librte_telemetry; their callbacks run
 * on DPDK's telemetry threads and answer from a counter registry
 * (native/telemetry/stats.h) by snapshot, never touching Python.
 * Conventions: 0 or a negative errno; no printing.
 */
#ifndef PD_TELEMETRY_H
#define PD_TELEMETRY_H

#include "stats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Register every /pydpdk command, answering from reg (which must outlive
 * the process's telemetry: commands cannot be unregistered).  Once per
 * process: a second call with the same registry returns 0, with another one
 * -EBUSY.  Otherwise 0 or the negative errno of rte_telemetry_register_cmd
 * (-ENOENT: DPDK's command table is full). */
int pd_telemetry_register(pd_stats_registry *reg);

/* The commands pd_telemetry_register adds and their help texts, in the same
 * order, NULL-terminated. */
extern const char *const pd_telemetry_commands[];
extern const char *const pd_telemetry_help[];

#ifdef __cplusplus
}
#endif
#endif /* PD_TELEMETRY_H */
