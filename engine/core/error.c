// SPDX-License-Identifier: MIT
/*
 * error.c - the two error channels: aborting assertions for bugs, and
 * negative codes with a per-thread detail message for runtime failures.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const err_names[NAS_ECOUNT_] = {
    "success",          "out of memory", "input/output error", "malformed file",
    "invalid argument", "not found",     "shape mismatch",     "cancelled",
};
_Static_assert(sizeof(err_names) / sizeof(err_names[0]) == NAS_ECOUNT_,
               "err_names must name every NAS_E code");

static _Thread_local char errbuf[512];

const char *nas_strerror(int err)
{
    if (err > 0 || -err >= NAS_ECOUNT_)
        return "unknown error";
    return err_names[-err];
}

const char *nas_errmsg(void)
{
    return errbuf;
}

int nas_fail(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
    va_end(ap);
    return err;
}

void nas__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
    abort();
}
