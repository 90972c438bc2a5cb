/* lcore identity for non-EAL threads: see pd_thread.h. */
#define _GNU_SOURCE
#include "pd_thread.h"

#include <errno.h>
#include <pthread.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mempool.h>

/* Per thread: 0 nothing done, 1 registered by pd_thread_attach, <0 refused
 * (-errno, remembered so a hot path does not retry per burst). */
static __thread int pd_thread_state;

pd_thread_hook_fn pd_thread_hook;

void pd_thread_set_hook(pd_thread_hook_fn fn)
{
    __atomic_store_n(&pd_thread_hook, fn, __ATOMIC_RELEASE);
}

static int enabled;             /* off until the EAL runs (pd_thread_enable) */
static int forked;              /* in a forked child: never touch DPDK */
static int eal_gone;            /* after rte_eal_cleanup: never touch DPDK */
static uint64_t n_registered, n_unregistered, n_failed;

static pthread_key_t exit_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static int key_rc = -1;

static void flush_one(struct rte_mempool *mp, void *arg)
{
    unsigned int lcore = *(const unsigned int *)arg;
    struct rte_mempool_cache *cache = rte_mempool_default_cache(mp, lcore);

    /* The slot goes to the next registered thread: hand this thread's
     * cached objects back to the pool rather than leave them parked. */
    if (cache != NULL && cache->len > 0)
        rte_mempool_cache_flush(cache, mp);
}

static void unregister_self(void)
{
    unsigned int lcore = rte_lcore_id();

    if (lcore != LCORE_ID_ANY)
        rte_mempool_walk(flush_one, &lcore);
    rte_thread_unregister();
    __atomic_fetch_add(&n_unregistered, 1, __ATOMIC_RELAXED);
}

/* Runs on the exiting thread itself (POSIX TSD destructor), where
 * rte_lcore_id() still names its slot. */
static void at_thread_exit(void *value)
{
    (void)value;
    if (pd_thread_state == 1 && !__atomic_load_n(&forked, __ATOMIC_RELAXED) &&
        !__atomic_load_n(&eal_gone, __ATOMIC_ACQUIRE))
        unregister_self();
    pd_thread_state = 0;
}

static void in_child(void)
{
    __atomic_store_n(&forked, 1, __ATOMIC_RELAXED);
}

static void make_key(void)
{
    key_rc = pthread_key_create(&exit_key, at_thread_exit);
    if (key_rc == 0)
        pthread_atfork(NULL, NULL, in_child);
}

int pd_thread_attach(void)
{
    if (rte_lcore_id() != LCORE_ID_ANY)
        return 0;               /* an EAL lcore, or registered already */
    if (pd_thread_state < 0)
        return pd_thread_state;
    if (__atomic_load_n(&forked, __ATOMIC_RELAXED) || !__atomic_load_n(&enabled, __ATOMIC_RELAXED))
        return -EPERM;          /* not remembered: may be switched on later */
    pthread_once(&key_once, make_key);
    /* Without the key nothing would unregister the thread at exit and
     * every short-lived thread would leak a slot: stay uncached. */
    if (key_rc != 0) {
        pd_thread_state = -ENOMEM;
        __atomic_fetch_add(&n_failed, 1, __ATOMIC_RELAXED);
        return -ENOMEM;
    }
    pd_thread_state = 0;
    if (rte_thread_register() != 0) {
        int err = rte_errno ? rte_errno : EINVAL;
        pd_thread_state = -err;
        __atomic_fetch_add(&n_failed, 1, __ATOMIC_RELAXED);
        return -err;
    }
    if (pthread_setspecific(exit_key, (void *)1) != 0) {
        rte_thread_unregister();
        pd_thread_state = -ENOMEM;
        __atomic_fetch_add(&n_failed, 1, __ATOMIC_RELAXED);
        return -ENOMEM;
    }
    pd_thread_state = 1;
    __atomic_fetch_add(&n_registered, 1, __ATOMIC_RELAXED);
    return 1;
}

int pd_thread_detach(void)
{
    int was = pd_thread_state;

    pd_thread_state = 0;
    if (was != 1)
        return 0;
    pthread_setspecific(exit_key, NULL);
    if (!__atomic_load_n(&forked, __ATOMIC_RELAXED) && !__atomic_load_n(&eal_gone, __ATOMIC_ACQUIRE))
        unregister_self();
    return 1;
}

void pd_thread_enable(int on)
{
    /* The fork handler is in place before any thread can register. */
    if (on)
        pthread_once(&key_once, make_key);
    __atomic_store_n(&enabled, on ? 1 : 0, __ATOMIC_RELAXED);
}

void pd_thread_eal_gone(void)
{
    __atomic_store_n(&enabled, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&eal_gone, 1, __ATOMIC_RELEASE);
}

int pd_thread_enabled(void)
{
    return __atomic_load_n(&enabled, __ATOMIC_RELAXED);
}

void pd_thread_get_stats(struct pd_thread_stats *st)
{
    st->registered = __atomic_load_n(&n_registered, __ATOMIC_RELAXED);
    st->unregistered = __atomic_load_n(&n_unregistered, __ATOMIC_RELAXED);
    st->failed = __atomic_load_n(&n_failed, __ATOMIC_RELAXED);
    st->live = st->registered - st->unregistered;
}

unsigned int pd_thread_lcore_id(void)
{
    return rte_lcore_id();
}

unsigned int pd_thread_cache_len(void *mp)
{
    unsigned int lcore = rte_lcore_id();
    struct rte_mempool_cache *cache;

    if (lcore == LCORE_ID_ANY || mp == NULL)
        return 0;
    cache = rte_mempool_default_cache((struct rte_mempool *)mp, lcore);
    return cache != NULL ? cache->len : 0;
}
