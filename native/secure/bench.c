/* Measurement loops for bench/secure.py: sealing, opening and dropping
 * forged packets in batches, timed with CLOCK_MONOTONIC, no I/O. */
#include "secure.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Costs are measured in CPU time of this thread: on a shared machine wall
 * time would count the time other processes held the core. */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define BATCH 256

int pd_sec_bench(int aead, int impl, uint32_t inner_len, uint64_t packets,
                 pd_sec_bench_result *res)
{
    pd_sec_seal_cfg sc = { .aead = aead, .impl = impl, .key_id = 1, .session_id = 0x01020304 };
    pd_sec_open_cfg oc = { .aead = aead, .impl = impl };
    pd_sec_sealer *s = NULL;
    pd_sec_opener *o = NULL;
    uint32_t stride = (inner_len + PD_SEC_OVERHEAD + 63) & ~63u, il;
    uint8_t *ring = NULL;
    int err = 0, rc = 0;

    memset(res, 0, sizeof(*res));
    if (inner_len < PD_SEC_INNER_MIN || inner_len > 9000 || packets == 0)
        return -EINVAL;
    for (int i = 0; i < 32; i++)
        sc.key[i] = (uint8_t)(i * 3);
    oc.keys.n = 1;
    oc.keys.id[0] = 1;
    memcpy(oc.keys.key[0], sc.key, 32);
    oc.derive_per_ms = 8;
    if (!(s = pd_sec_sealer_create(&sc, &err)) || !(o = pd_sec_opener_create(&oc, &err))) {
        rc = err;
        goto out;
    }
    ring = aligned_alloc(64, (size_t)stride * BATCH * 2);
    if (!ring) {
        rc = -ENOMEM;
        goto out;
    }
    /* Warm-up: the session exists before the timed loop. */
    memset(ring + PD_SEC_HDR_LEN, 0, inner_len);
    if (pd_sec_seal(s, ring, inner_len) < 0 ||
        pd_sec_open(o, ring, inner_len + PD_SEC_OVERHEAD, mono_ns(), &il) != PD_SEC_OK) {
        rc = -EIO;
        goto out;
    }
    for (uint64_t done = 0; done < packets; done += BATCH) {
        uint8_t *forged = ring + (size_t)stride * BATCH;
        uint64_t t0, t1, t2, t3, now;
        for (int i = 0; i < BATCH; i++)
            memset(ring + (size_t)stride * i + PD_SEC_HDR_LEN, (int)i, inner_len);
        t0 = cpu_ns();
        for (int i = 0; i < BATCH; i++)
            if (pd_sec_seal(s, ring + (size_t)stride * i, inner_len) < 0)
                rc = -EIO;
        t1 = cpu_ns();
        /* Forged copies: genuine header, one tag byte changed (costs a full
         * tag verification, the most expensive drop). */
        memcpy(forged, ring, (size_t)stride * BATCH);
        for (int i = 0; i < BATCH; i++)
            forged[(size_t)stride * i + PD_SEC_HDR_LEN + inner_len + 3] ^= 0x10;
        now = mono_ns();          /* one clock read per burst, as the pipeline loop */
        t2 = cpu_ns();
        for (int i = 0; i < BATCH; i++)
            if (pd_sec_open(o, forged + (size_t)stride * i, inner_len + PD_SEC_OVERHEAD,
                            now, &il) != PD_SEC_DROP_BAD_TAG)
                rc = -EIO;
        t3 = cpu_ns();
        res->forged_ns += t3 - t2;
        t2 = cpu_ns();
        for (int i = 0; i < BATCH; i++)
            if (pd_sec_open(o, ring + (size_t)stride * i, inner_len + PD_SEC_OVERHEAD,
                            now, &il))
                rc = -EIO;
        t3 = cpu_ns();
        res->seal_ns += t1 - t0;
        res->open_ns += t3 - t2;
        res->packets += BATCH;
    }
    /* Made-up sessions (random session id, newest epoch): most are dropped by
     * the derivation budget, a few pay for HKDF + key setup + tag check. */
    {
        uint8_t *f = ring;
        uint64_t n = packets < 100000 ? packets : 100000, t0, t1;
        pd_sec_open_stats st;
        uint32_t x = 12345;
        uint64_t now = mono_ns();
        memset(f + PD_SEC_HDR_LEN, 0, inner_len);
        pd_sec_seal(s, f, inner_len);
        t0 = cpu_ns();
        for (uint64_t i = 0; i < n; i++) {
            x = x * 1103515245u + 12345u;
            memcpy(f + 4, &x, 4);
            f[8] = 0x7f;
            if (i % 32 == 0)
                now = mono_ns();
            pd_sec_open(o, f, inner_len + PD_SEC_OVERHEAD, now, &il);
        }
        t1 = cpu_ns();
        pd_sec_opener_stats(o, &st);
        res->flood_packets = n;
        res->flood_ns = t1 - t0;
        res->flood_derivations = st.derivations - 1;
    }
out:
    free(ring);
    pd_sec_sealer_destroy(s);
    pd_sec_opener_destroy(o);
    return rc;
}
