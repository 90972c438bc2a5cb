/* C unit tests of pd_thread: non-EAL threads registered with the EAL (own
 * EAL in this process: no hugepages, no shared config), released at thread
 * exit, slots reused, exhaustion refused and remembered, caches flushed. */
#define _GNU_SOURCE
#include "pd_thread.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include "pd_check.h"

static struct rte_mempool *pool;

struct seen {
    int rc;
    unsigned int lcore;
    unsigned int cache_len;
    int again;
};

/* Register, use the pool's cache, exit without detaching: the key
 * destructor must unregister. */
static void *one_thread(void *arg)
{
    struct seen *s = arg;
    struct rte_mbuf *m[8];

    s->rc = pd_thread_attach();
    s->lcore = rte_lcore_id();
    if (rte_pktmbuf_alloc_bulk(pool, m, 8) == 0) {
        rte_pktmbuf_free_bulk(m, 8);
        s->cache_len = pd_thread_cache_len(pool);
    }
    s->again = pd_thread_attach();
    return NULL;
}

static void test_register_and_release_at_exit(void)
{
    struct pd_thread_stats before, after;
    struct seen s;
    pthread_t t;
    int i;

    pd_thread_get_stats(&before);
    /* More threads than RTE_MAX_LCORE, one after the other: slots come back. */
    for (i = 0; i < RTE_MAX_LCORE + 8; i++) {
        memset(&s, 0, sizeof(s));
        CHECK(pthread_create(&t, NULL, one_thread, &s) == 0);
        pthread_join(t, NULL);
        CHECK(s.rc == 1);
        CHECK(s.lcore != LCORE_ID_ANY && s.lcore != rte_get_main_lcore());
        CHECK(s.cache_len >= 8);   /* refills take more than asked */
        CHECK(s.again == 0);
    }
    pd_thread_get_stats(&after);
    CHECK(after.registered - before.registered == RTE_MAX_LCORE + 8);
    CHECK(after.unregistered - before.unregistered == RTE_MAX_LCORE + 8);
    CHECK(after.live == before.live);
    CHECK(after.failed == before.failed);
    /* Caches were flushed on unregister: every mbuf is in the ring again. */
    CHECK(rte_mempool_avail_count(pool) == 1023);
}

static pthread_barrier_t hold;

static void *holding_thread(void *arg)
{
    struct seen *s = arg;

    s->rc = pd_thread_attach();
    s->lcore = rte_lcore_id();
    s->again = pd_thread_attach();     /* a refusal is remembered */
    pthread_barrier_wait(&hold);       /* all registered (or refused) */
    pthread_barrier_wait(&hold);       /* main has looked */
    return NULL;
}

static void test_exhaustion_is_refused_and_remembered(void)
{
    enum { N = RTE_MAX_LCORE + 4 };
    static struct seen s[N];
    static pthread_t t[N];
    struct pd_thread_stats before, after;
    int i, ok = 0, nomem = 0;

    pd_thread_get_stats(&before);
    pthread_barrier_init(&hold, NULL, N + 1);
    for (i = 0; i < N; i++)
        CHECK(pthread_create(&t[i], NULL, holding_thread, &s[i]) == 0);
    pthread_barrier_wait(&hold);
    for (i = 0; i < N; i++) {
        if (s[i].rc == 1 && s[i].lcore != LCORE_ID_ANY)
            ok++;
        if (s[i].rc == -ENOMEM && s[i].lcore == LCORE_ID_ANY && s[i].again == -ENOMEM)
            nomem++;
    }
    /* Every slot but the main lcore's is taken, the rest are refused. */
    CHECK(ok == RTE_MAX_LCORE - 1);
    CHECK(ok + nomem == N);
    pthread_barrier_wait(&hold);
    for (i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&hold);
    pd_thread_get_stats(&after);
    CHECK(after.live == before.live);
    CHECK(after.failed - before.failed == (uint64_t)nomem);
}

static void *disabled_thread(void *arg)
{
    struct seen *s = arg;

    s->rc = pd_thread_attach();
    s->lcore = rte_lcore_id();
    return NULL;
}

static void test_switched_off_and_detach(void)
{
    struct seen s;
    pthread_t t;

    pd_thread_enable(0);
    memset(&s, 0, sizeof(s));
    pthread_create(&t, NULL, disabled_thread, &s);
    pthread_join(t, NULL);
    CHECK(s.rc == -EPERM && s.lcore == LCORE_ID_ANY);
    pd_thread_enable(1);
    /* The main lcore has an id already: nothing to do, nothing to detach. */
    CHECK(pd_thread_attach() == 0);
    CHECK(pd_thread_detach() == 0);
    CHECK(rte_lcore_id() == rte_get_main_lcore());
}

int main(void)
{
    char prefix[64];
    char *argv[] = {"test_pd_thread", "--no-huge", "-m", "64", "--no-shconf", "--no-pci",
                    "--no-telemetry", "-l", "0", "--log-level=error", prefix, NULL};
    int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1;

    snprintf(prefix, sizeof(prefix), "--file-prefix=pdthr%d", (int)getpid());
    /* Before rte_eal_init registration is refused (and off by default). */
    CHECK(pd_thread_enabled() == 0);
    if (rte_eal_init(argc, argv) < 0) {
        fprintf(stderr, "rte_eal_init failed: skipped\n");
        return 77;
    }
    pd_thread_enable(1);
    pool = rte_pktmbuf_pool_create("pdthr", 1023, 32, 0, RTE_MBUF_DEFAULT_BUF_SIZE, -1);
    CHECK(pool != NULL);
    if (pool != NULL) {
        test_register_and_release_at_exit();
        test_exhaustion_is_refused_and_remembered();
        test_switched_off_and_detach();
        rte_mempool_free(pool);
    }
    pd_thread_eal_gone();
    rte_eal_cleanup();
    return pd_check_result();
}
