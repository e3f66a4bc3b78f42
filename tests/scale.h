// SPDX-License-Identifier: MIT
/*
 * scale.h - NASD_TEST_TIMEOUT_SCALE: every sleep and deadline of a test
 * (and of tests/nasd_proc.c, tests/http.c and tests/rawsock.c, which
 * scale the ones they are given) is multiplied by it, so one variable
 * stretches a whole run on a slower build (tests/tsan.sh sets 10).
 */
#ifndef NAS_TESTS_SCALE_H
#define NAS_TESTS_SCALE_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* NASD_TEST_TIMEOUT_SCALE, or 1 when unset or not a positive integer. */
static inline int test_timeout_scale(void)
{
    const char *v = getenv("NASD_TEST_TIMEOUT_SCALE");
    int k = v ? atoi(v) : 1;
    return k > 1 ? k : 1;
}

/* ms times the scale, saturated. */
static inline int test_scaled_ms(int ms)
{
    int k = test_timeout_scale();
    return ms < INT32_MAX / k ? ms * k : INT32_MAX;
}

/* Monotonic milliseconds, for deadlines. */
static inline int64_t test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
