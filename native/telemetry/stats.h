/* Registry of live native counter sets, for readers on other threads.
 *
 * DPDK's telemetry thread (native/dpdk/pd_telemetry.c) answers requests while
 * pipelines and FEC codecs run on other threads and Python creates and frees
 * them.  Objects register a pointer to their native state plus a fill
 * function; a reader asks for a snapshot, which runs the fill function under
 * the registry's mutex into a plain key/value buffer.  An object removes its
 * entry before it frees its state: once pd_stats_remove() returns, no fill
 * function touches it again.  Fill functions only read counters (64-bit
 * aligned words: a torn read cannot happen on the 64-bit targets we build
 * for); they never block and never call back into the registry.
 *
 * The registry is an explicit object, not a global, so several copies of this
 * code (one per Python extension linking the static library) can share one
 * instance by pointer.
 *
 * Conventions: 0 or a negative errno; no printing, no exit.
 */
#ifndef PD_STATS_H
#define PD_STATS_H

#include <pthread.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum pd_stats_kind {
    PD_STATS_PIPELINE = 0,
    PD_STATS_FEC_ENCODER = 1,
    PD_STATS_FEC_DECODER = 2,
    PD_STATS_KINDS = 3,
};

#define PD_STATS_KEY_LEN 64      /* key names, NUL included */
#define PD_STATS_STR_LEN 64      /* string values, NUL included (truncated) */
#define PD_STATS_NAME_LEN 48     /* entry names, NUL included (truncated) */
#define PD_STATS_SNAP_MAX 255    /* pairs per snapshot: DPDK's dict holds 256 */

typedef struct pd_stats_kv {
    char key[PD_STATS_KEY_LEN];
    int is_str;
    uint64_t u64;
    char str[PD_STATS_STR_LEN];
} pd_stats_kv;

/* A snapshot: up to PD_STATS_SNAP_MAX pairs; `truncated` counts pairs that
 * did not fit. */
typedef struct pd_stats_snap {
    pd_stats_kv kv[PD_STATS_SNAP_MAX];
    unsigned n;
    unsigned truncated;
} pd_stats_snap;

/* Append a pair.  Keys are sanitised to [A-Za-z0-9_/] (DPDK telemetry's rule
 * for dict names; anything else becomes '_'), string values to printable
 * ASCII without quotes or backslashes.  Returns 0, or -ENOSPC when full (the
 * pair is counted in `truncated`). */
int pd_stats_put_u64(pd_stats_snap *s, const char *key, uint64_t v);
int pd_stats_put_str(pd_stats_snap *s, const char *key, const char *v);

/* Fill a snapshot from obj; called with the registry locked. */
typedef void (*pd_stats_fill_fn)(const void *obj, pd_stats_snap *out);

typedef struct pd_stats_entry {
    uint32_t id;                 /* per kind, from 0, never reused */
    int kind;                    /* enum pd_stats_kind */
    char name[PD_STATS_NAME_LEN];
    const void *obj;
    pd_stats_fill_fn fill;
} pd_stats_entry;

typedef struct pd_stats_registry {
    pthread_mutex_t lock;
    pd_stats_entry *entries;     /* in registration order */
    unsigned n, cap;
    uint32_t next_id[PD_STATS_KINDS];
} pd_stats_registry;

int pd_stats_registry_init(pd_stats_registry *reg);
/* Only when no other thread can use it any more. */
void pd_stats_registry_fini(pd_stats_registry *reg);
/* In a forked child: the lock may have been held by a thread that does not
 * exist there (a telemetry request in the parent); make it usable again. */
void pd_stats_registry_after_fork(pd_stats_registry *reg);

/* Register obj; *id receives its id.  -EINVAL (bad kind, NULL obj or fill),
 * -ENOMEM. */
int pd_stats_add(pd_stats_registry *reg, int kind, const char *name, const void *obj,
                 pd_stats_fill_fn fill, uint32_t *id);
/* Unregister: afterwards fill is never called on the object again.
 * -ENOENT if (kind, id) is not registered. */
int pd_stats_remove(pd_stats_registry *reg, int kind, uint32_t id);

/* Ids of kind (registration order) into ids[0..max); returns how many are
 * registered (may exceed max). */
unsigned pd_stats_list(pd_stats_registry *reg, int kind, uint32_t *ids, unsigned max);

/* Snapshot of (kind, id): "id", "name", then what its fill function puts.
 * -ENOENT if not registered, -EINVAL for a bad kind. */
int pd_stats_snapshot(pd_stats_registry *reg, int kind, uint32_t id, pd_stats_snap *out);

/* Run fn(arg) with the registry locked: for owners that change the state a
 * fill function reads (e.g. add a chain to a pipeline view). */
void pd_stats_locked(pd_stats_registry *reg, void (*fn)(void *arg), void *arg);

/* "pipeline", "fec_encoder", "fec_decoder" (NULL for a bad kind). */
const char *pd_stats_kind_name(int kind);

#ifdef __cplusplus
}
#endif
#endif /* PD_STATS_H */
