/* The C unit tests' check macro: a failed check prints where it failed and
 * the run goes on, so one run reports every broken check; main() returns
 * pd_check_result(). Header-only, one copy per test program. */
#ifndef PD_CHECK_H
#define PD_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                      \
            failures++;                                                    \
        }                                                                  \
    } while (0)

/* main()'s exit status: 0 when every check passed, 1 (with a count) if not. */
static inline int pd_check_result(void)
{
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}

#endif
