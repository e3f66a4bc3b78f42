// SPDX-License-Identifier: MIT
/*
 * crash.c - crash points for the reliability tests: nasd kills itself
 * (SIGKILL, no cleanup) at an exact point of a job's history.
 *
 * The one design decision to know: a kill at a random moment covers what
 * the timing happens to hit, so the test gate (tests/reliability/
 * test_kill_resume.c) instead names where to die, as SQLite's fault
 * injection does: NASD_TEST_CRASH=JOB:KIND:N:WHEN, with JOB a job's id or
 * name (a test knows the name before the job exists) and KIND one of
 *   ckpt      the job's checkpoint of step >= N,
 *   progress  the job's progress report of step >= N,
 *   arch      the job's N-th architecture row in this process,
 *   metric    the job's N-th metric row in this process,
 * and WHEN `before` (every event before it is committed, it and what
 * follows are not: for a checkpoint, the file is on disk but unrecorded)
 * or `after` (committed up to and including it). The database then holds
 * an exact prefix of the job's events, whatever the batching. Unset,
 * nothing here runs. The kill is a real SIGKILL of the whole process,
 * like the OOM killer's.
 */
#include "nd.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct {
    int armed, fired;
    char job[65];
    char kind[16];
    long long n, count;
    int after;
} cp;

void nd_crash_init(void)
{
    const char *v = getenv("NASD_TEST_CRASH");
    char when[16] = "";
    if (!v || !*v)
        return;
    if (sscanf(v, "%64[^:]:%15[a-z]:%lld:%15[a-z]", cp.job, cp.kind, &cp.n, when) != 4 ||
        (strcmp(when, "before") && strcmp(when, "after")) ||
        (strcmp(cp.kind, "ckpt") && strcmp(cp.kind, "progress") && strcmp(cp.kind, "arch") &&
         strcmp(cp.kind, "metric"))) {
        nd_log(ND_LOG_ERROR,
               "NASD_TEST_CRASH=%s: expected JOB-OR-NAME:ckpt|progress|arch|metric:N:"
               "before|after; ignored",
               v);
        return;
    }
    cp.after = strcmp(when, "after") == 0;
    cp.armed = 1;
    nd_log(ND_LOG_WARN, "test crash point armed: %s", v);
}

int nd_crash_check(const char *job, const char *name, const char *kind, int64_t step)
{
    if (!cp.armed || cp.fired || strcmp(kind, cp.kind) ||
        (strcmp(job, cp.job) && (!name || strcmp(name, cp.job))))
        return 0;
    int counted = !strcmp(kind, "arch") || !strcmp(kind, "metric");
    if (counted ? ++cp.count < cp.n : step < cp.n)
        return 0;
    cp.fired = 1;
    return cp.after ? 2 : 1;
}

void nd_crash_now(void)
{
    /* One write(2), so the line is out before the kill. */
    char line[160];
    int n = snprintf(line, sizeof(line), "nasd: test crash point %s:%s:%lld:%s reached\n", cp.job,
                     cp.kind, cp.n, cp.after ? "after" : "before");
    if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0)
        n = 0;
    kill(getpid(), SIGKILL);
}
