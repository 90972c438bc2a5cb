/* DPDK lcore identity for threads the EAL did not create (Python threads
 * running a pipeline or calling rx/tx bursts).
 *
 * Why: rte_mempool_get/put use the per-lcore cache only on a thread with an
 * lcore id; a plain thread (rte_lcore_id() == LCORE_ID_ANY) goes to the
 * pool's shared ring for every burst, 2-3x slower.  pd_thread_attach()
 * registers the calling thread with rte_thread_register() (DPDK >= 20.11)
 * once; a pthread key destructor flushes the thread's mempool caches and
 * calls rte_thread_unregister() when the thread exits, so the lcore slot
 * (RTE_MAX_LCORE in all, EAL lcores included) is reused.
 *
 * Fallback: when no slot is free (-ENOMEM) or multi-process is in use
 * (-EINVAL: DPDK refuses, and registering would shut secondaries out), the
 * thread runs as before, uncached; the failure is remembered for the thread
 * (no retry per burst) and counted.
 *
 * Conventions: 0 or a negative errno; no printing.
 */
#ifndef PD_THREAD_H
#define PD_THREAD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Make the calling thread an lcore if it is not one.  Returns 1 when this
 * call registered it, 0 when it already had an lcore id (EAL thread, or
 * registered before), -EPERM when registration is switched off or after
 * fork in a child, -EINVAL before rte_eal_init or with multi-process in
 * use, -ENOMEM when every lcore slot is taken.  A failure is remembered
 * for the thread and returned again without calling DPDK. */
int pd_thread_attach(void);

/* Each Python extension links its own copy of this library, so the thread
 * state (and the enable switch and counters) must live in one of them: the
 * EAL extension.  The others install its pd_thread_attach as their hook;
 * the mbuf ops and ethdev rx/tx of pd_dpdk.c call the hook on a thread
 * without an lcore id (first burst of a plain thread). */
typedef int (*pd_thread_hook_fn)(void);
extern pd_thread_hook_fn pd_thread_hook;
void pd_thread_set_hook(pd_thread_hook_fn fn);

/* Unregister the calling thread now if pd_thread_attach registered it
 * (flushing its mempool caches first); 1 if it did, 0 if there was nothing
 * to do.  A later pd_thread_attach registers it again. */
int pd_thread_detach(void);

/* Switch registration on or off (off at load: the caller switches it on
 * after rte_eal_init) for threads not yet attached; threads already
 * registered stay registered until they exit. */
void pd_thread_enable(int on);
int pd_thread_enabled(void);
/* Before rte_eal_cleanup: registration off for good, and threads that exit
 * later leave DPDK (its memory is gone) untouched. */
void pd_thread_eal_gone(void);

struct pd_thread_stats {
    uint64_t registered;     /* rte_thread_register successes */
    uint64_t unregistered;   /* at thread exit or pd_thread_detach */
    uint64_t failed;         /* refused (slots exhausted, multi-process) */
    uint64_t live;           /* registered now */
};

void pd_thread_get_stats(struct pd_thread_stats *st);

/* rte_lcore_id() of the calling thread (UINT32_MAX = LCORE_ID_ANY). */
unsigned int pd_thread_lcore_id(void);

/* Objects in the calling thread's per-lcore cache of mp (0 without an
 * lcore id or a cache).  mp is a struct rte_mempool *. */
unsigned int pd_thread_cache_len(void *mp);

#ifdef __cplusplus
}
#endif
#endif /* PD_THREAD_H */
