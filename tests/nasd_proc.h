// SPDX-License-Identifier: MIT
/*
 * nasd_proc.h - a real nasd as a child of a test: started on an ephemeral
 * loopback port with its own state directory, stopped with SIGTERM or
 * killed with SIGKILL, and waited for with deadlines.
 *
 * The one design decision to know: the child's stdout and stderr go to
 * DIR/nasd.log (appended across restarts on the same directory), and the
 * port is read from its "listening on http://127.0.0.1:PORT" line, so no
 * port is ever guessed. Every child is also registered here and dies with
 * the test process (PR_SET_PDEATHSIG), so a failed or timed-out test never
 * leaves a daemon behind; nasd_cleanup ends the rest and shows their logs
 * when the test failed.
 */
#ifndef TESTS_NASD_PROC_H
#define TESTS_NASD_PROC_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct nasd_proc {
    pid_t pid;               /* 0 when not running */
    int port;                /* where it listens */
    char dir[PATH_MAX];      /* its state directory */
    char log[PATH_MAX + 16]; /* DIR/nasd.log */
} nasd_proc;

/* A new empty directory under $TMPDIR (default /tmp), removed again by
 * nasd_cleanup(0). out must hold PATH_MAX bytes. 0 or -1. */
int nasd_mkdtemp(char *out, size_t n);

/* Starts $NASD (default ./nasd) with --listen 127.0.0.1:0 --state-dir dir
 * and args (a NULL-terminated list, or NULL), and waits up to timeout_ms
 * for its listening line. 0, or -1 with the reason and the log on stderr
 * (the child is then gone). */
int nasd_start(nasd_proc *p, const char *dir, const char *const *args, int timeout_ms);
/* SIGTERM, then wait up to timeout_ms for the exit. Returns the exit
 * status (0..255), 128 + N when signal N ended it, or -1 when it did not
 * exit in time (it is then killed with SIGKILL). */
int nasd_stop(nasd_proc *p, int timeout_ms);
/* Waits up to timeout_ms for nasd to exit by itself (a test crash
 * point): its status as nasd_stop's, or -1 when it still runs then (it is
 * left running). */
int nasd_wait_exit(nasd_proc *p, int timeout_ms);
/* SIGKILL and reap: a crash as far as nasd can tell. */
void nasd_kill9(nasd_proc *p);

/* Whether p's log holds text. */
int nasd_log_contains(const nasd_proc *p, const char *text);
/* The rest of the first log line holding text, after text, copied into
 * out; NULL when no line holds it. */
const char *nasd_log_after(const nasd_proc *p, const char *text, char *out, size_t n);

/* Calls cond(ctx) every 10 ms until it returns non-zero (which is then
 * returned) or timeout_ms have passed (0). Polling with a deadline, as
 * redis' wait_for_condition: never a fixed sleep hoping it was enough. */
int nasd_wait_for(int timeout_ms, int (*cond)(void *ctx), void *ctx);

/* The end of a test: kill every child still running; when failed (or
 * NASD_TEST_KEEP is set in the environment), print the tail of every log
 * and keep the directories, else remove them. */
void nasd_cleanup(int failed);

#endif
