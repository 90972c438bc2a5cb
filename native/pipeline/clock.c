#include "clock.h"

#include <pthread.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define PD_HAVE_TSC 1
#endif

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#ifdef PD_HAVE_TSC
/* ns = ns0 + (tsc - tsc0) * mult >> 32, calibrated once. */
static uint64_t tsc0, ns0, mult;
static pthread_once_t calibrated = PTHREAD_ONCE_INIT;

static void calibrate(void)
{
    uint64_t n0 = mono_ns(), t0 = __rdtsc();
    uint64_t n1, t1;
    do {   /* 5 ms is enough for a few ppm at GHz rates */
        n1 = mono_ns();
    } while (n1 - n0 < 5000000u);
    t1 = __rdtsc();
    mult = t1 > t0 ? (uint64_t)(((unsigned __int128)(n1 - n0) << 32) / (t1 - t0)) : 0;
    tsc0 = t1;
    ns0 = n1;
}

uint64_t pd_cycles(void) { return __rdtsc(); }

uint64_t pd_cycles_to_ns(uint64_t cycles)
{
    pthread_once(&calibrated, calibrate);
    return (uint64_t)(((unsigned __int128)cycles * mult) >> 32);
}

uint64_t pd_clock_ns(void)
{
    pthread_once(&calibrated, calibrate);
    if (mult == 0)
        return mono_ns();
    return ns0 + pd_cycles_to_ns(__rdtsc() - tsc0);
}
#else
uint64_t pd_cycles(void) { return mono_ns(); }
uint64_t pd_cycles_to_ns(uint64_t cycles) { return cycles; }
uint64_t pd_clock_ns(void) { return mono_ns(); }
#endif

void pd_sleep_us(uint32_t us)
{
    struct timespec ts = { .tv_sec = us / 1000000u, .tv_nsec = (long)(us % 1000000u) * 1000 };
    nanosleep(&ts, NULL);
}
