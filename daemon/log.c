/*
 * log.c - plain log lines on stderr with a level and a UTC timestamp.
 * One fprintf per line (stdio locks the stream), so lines from the loop
 * and from workers never interleave mid-line.
 */
#include "nd.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

static atomic_int level = ND_LOG_INFO;
static const char *const names[] = {"error", "warn", "info", "debug"};

void nd_log_set_level(int l)
{
    atomic_store(&level, l);
}

void nd_log(int l, const char *fmt, ...)
{
    if (l > atomic_load(&level))
        return;
    char msg[1024], ts[32];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s.%03ldZ nasd %s: %s\n", ts, now.tv_nsec / 1000000, names[l], msg);
}
