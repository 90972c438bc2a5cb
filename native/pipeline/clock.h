/* Cheap monotonic time for hot loops: the TSC where it is invariant, scaled
 * to nanoseconds by a factor calibrated once against CLOCK_MONOTONIC; plain
 * clock_gettime elsewhere. */
#ifndef PD_CLOCK_H
#define PD_CLOCK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Nanoseconds since an arbitrary origin; monotonic; thread-safe. */
uint64_t pd_clock_ns(void);

/* Raw cycle counter (TSC) for interval timing; pd_cycles_to_ns converts. */
uint64_t pd_cycles(void);
uint64_t pd_cycles_to_ns(uint64_t cycles);

/* Sleep for about `us` microseconds (idle back-off). */
void pd_sleep_us(uint32_t us);

#ifdef __cplusplus
}
#endif
#endif /* PD_CLOCK_H */
