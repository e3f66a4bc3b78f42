// SPDX-License-Identifier: MIT
/*
 * log.c - log lines: structured journal entries under systemd, plain
 * lines on stderr with a level and a UTC timestamp otherwise.
 *
 * Under systemd stderr is usually a stream to journald, which would store
 * each line as an unstructured message at the unit's default priority;
 * so when $JOURNAL_STREAM names stderr's device:inode (or --log-target
 * journal asks for it) lines go through sd_journal_send instead, with
 * PRIORITY=, and JOB_ID= on the lines about a job (journalctl -u nasd
 * JOB_ID=...). A line the journal refuses still reaches stderr.
 * One fprintf per line (stdio locks the stream), so lines from the loop
 * and from workers never interleave mid-line.
 */
#include "nd.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <time.h>

static atomic_int level = ND_LOG_INFO;
static atomic_int to_journal;
static const char *const names[] = {"error", "warn", "info", "debug"};
/* syslog(3) priorities of ND_LOG_*: err, warning, info, debug. */
static const int priorities[] = {3, 4, 6, 7};

void nd_log_set_level(int l)
{
    atomic_store(&level, l);
}

/* systemd.exec(5): JOURNAL_STREAM is "DEVICE:INODE" of the stream it
 * connected; stderr may since have been redirected elsewhere. */
static int stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) != 0)
        return 0;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void nd_log_set_target(int target)
{
    atomic_store(&to_journal,
                 target == ND_LOG_TO_JOURNAL || (target == ND_LOG_TO_AUTO && stderr_is_journal()));
}

static void vlog(int l, const char *job_id, const char *fmt, va_list ap)
{
    if (l > atomic_load(&level))
        return;
    char msg[1024], ts[32];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (atomic_load(&to_journal)) {
        int rc = job_id ? sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", priorities[l],
                                          "SYSLOG_IDENTIFIER=nasd", "JOB_ID=%s", job_id, NULL)
                        : sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", priorities[l],
                                          "SYSLOG_IDENTIFIER=nasd", NULL);
        if (rc == 0)
            return;
    }
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ nasd %s: %s\n", ts, now.tv_nsec / 1000000, names[l], msg);
}

void nd_log(int l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(l, NULL, fmt, ap);
    va_end(ap);
}

void nd_log_job(int l, const char *job_id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(l, job_id, fmt, ap);
    va_end(ap);
}
