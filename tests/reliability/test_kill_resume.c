/*
 * test_kill_resume.c - nasd crashes (SIGKILL) at named points of a DARTS
 * search with final training, an ENAS search, a NAS-RL search and a train
 * job, is restarted on the same state directory each time, and in the end
 * every job has succeeded with each of its rows reported exactly once,
 * every resume started from exactly the checkpoint the database recorded,
 * and the SQLite file was sound after every crash.
 *
 * The one design decision to know: the kills are not timed. nasd kills
 * itself at a crash point (daemon/crash.c, NASD_TEST_CRASH): a given
 * job's checkpoint, progress, architecture row or metric row, before or
 * after it is committed. So the schedule below always covers the same
 * cases (a kill before any checkpoint, a checkpoint durable on disk but
 * not recorded, inside an epoch after a checkpoint, right after one,
 * inside the final training, inside an ENAS and a NAS-RL controller
 * update, rows committed after the last checkpoint), whatever the
 * machine's speed, and a failure replays exactly. One worker runs the jobs
 * in order, so each point lies ahead of its job when its round starts.
 * Kills at random moments, many more of them and with two workers, are
 * the soak (tests/reliability/soak_kill.c, `make soak`).
 *
 * A second test follows a job's event stream across a crash: the client
 * reconnects with Last-Event-ID, gets a `rewind` for the rows the crash
 * took back and then what it missed, and ends holding exactly the rows
 * the job's history holds.
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rel.h"

static int passed;

static void begin_test(void)
{
    passed = 0;
}

static void finish_test(void)
{
    unsetenv("NASD_TEST_CRASH");
    nasd_cleanup(!passed);
}

TestSuite(reliability, .init = begin_test, .fini = finish_test);

/* Every kill is a crash under the running job: no cap on them here. */
static const char *const flags[] = {"--workers",      "1", "--threads-per-job", "1",
                                    "--max-attempts", "1000", NULL};

enum { D, E, N, T, NJOBS };

typedef struct round {
    int job;
    const char *point;   /* KIND:N:WHEN */
    int rewind;          /* rows were committed after the recorded
                            checkpoint: the next claim must remove some */
    const char *what;
} round;

static const round rounds[] = {
    {D, "progress:1:after", 0, "inside the first epoch, before any checkpoint"},
    {D, "ckpt:12:before", 1, "the first checkpoint durable on disk, not recorded"},
    {D, "progress:18:after", 0, "inside an epoch after a recorded checkpoint"},
    {D, "ckpt:24:after", 0, "right after a recorded checkpoint"},
    {D, "progress:160:after", 0, "inside the final training"},
    {E, "arch:4:after", 1, "inside an ENAS controller update"},
    {E, "ckpt:16:before", 1, "an ENAS checkpoint on disk, not recorded"},
    {N, "arch:3:after", 1, "inside a NAS-RL controller update"},
    {T, "metric:6:after", 1, "rows of an epoch committed after its checkpoint"},
    {T, "progress:100:after", 0, "inside a train epoch"},
};
#define NROUNDS ((int)(sizeof(rounds) / sizeof(rounds[0])))

/* The line of `log` (from `from` on) holding both a and b, or NULL. */
static const char *line_with(const char *from, const char *a, const char *b)
{
    for (const char *p = from; (p = strstr(p, a));) {
        const char *eol = strchr(p, '\n');
        if (!eol)
            eol = p + strlen(p);
        const char *q = strstr(p, b);
        if (q && q < eol)
            return p;
        p = eol;
    }
    return NULL;
}

/* After a crash, the job's next run started from exactly the checkpoint
 * the database recorded (want; 0: none, so afresh), in the log from seg. */
static void check_start(const char *seg, const rel_jobrun *j, int64_t want, int k)
{
    char resumed[80], afresh[80];
    snprintf(resumed, sizeof(resumed), "job %s: resumed from ", j->id);
    snprintf(afresh, sizeof(afresh), "job %s: no checkpoint at", j->id);
    const char *r = line_with(seg, resumed, ", step "), *a = line_with(seg, afresh, "afresh");
    if (want == 0) {
        cr_assert(a && !r, "round %d: job %s (%s) had no recorded checkpoint, but %s", k + 1,
                  j->id, j->name, r ? "resumed" : "did not start afresh");
        return;
    }
    cr_assert(r && !a, "round %d: job %s (%s) had checkpoint step %" PRId64 " recorded but %s",
              k + 1, j->id, j->name, want, a ? "started afresh" : "logged no resume");
    long long step = -1;
    cr_assert_eq(sscanf(strstr(r, ", step "), ", step %lld", &step), 1);
    /* darts' final training counts its own steps after the search's. */
    int64_t got = step, final = want > j->search_steps && j->search_steps > 0;
    if (final)
        got += j->search_steps;
    cr_assert_eq(got, want,
                 "round %d: job %s (%s) resumed at step %lld%s, but the database recorded "
                 "checkpoint step %" PRId64,
                 k + 1, j->id, j->name, step, final ? " of its final training" : "", want);
}

Test(reliability, crash_points_lose_and_repeat_nothing)
{
    int64_t t0 = rel_now_ms();
    char dir[PATH_MAX];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    rel_jobrun jobs[NJOBS] = {
        [D] = {.kind = REL_DARTS}, [E] = {.kind = REL_ENAS, .epochs = 3},
        [N] = {.kind = REL_NASRL, .epochs = 3}, [T] = {.kind = REL_TRAIN, .epochs = 4}};
    for (int i = 0; i < NJOBS; i++)
        rel_job_spec(&jobs[i], 0);
    nasd_proc d = {0};
    off_t seg[NROUNDS + 2];
    int64_t recorded[NROUNDS];
    for (int k = 0; k < NROUNDS; k++) {
        const rel_jobrun *j = &jobs[rounds[k].job];
        char point[128];
        /* The jobs' names are known before they exist: KIND-SEED. */
        snprintf(point, sizeof(point), "%s-%d:%s", j->name, 10 + rounds[k].job, rounds[k].point);
        setenv("NASD_TEST_CRASH", point, 1);
        seg[k] = d.log[0] ? rel_file_size(d.log) : 0;
        cr_assert_eq(nasd_start(&d, dir, flags, REL_START_MS), 0, "nasd did not start");
        unsetenv("NASD_TEST_CRASH");
        if (k == 0)
            for (int i = 0; i < NJOBS; i++)
                rel_submit(d.port, &jobs[i], 10 + i);
        int status = nasd_wait_exit(&d, REL_JOB_MS);
        cr_assert_eq(status, 128 + 9,
                     "round %d (%s, %s: %s): nasd did not die at its crash point (status %d)",
                     k + 1, point, rounds[k].what, j->name, status);
        char reached[160];
        snprintf(reached, sizeof(reached), "test crash point %s reached", point);
        cr_assert(nasd_log_contains(&d, reached), "round %d: no \"%s\" in the log", k + 1,
                  reached);
        char when[64];
        snprintf(when, sizeof(when), "after crash %d", k + 1);
        cr_assert_eq(rel_db_check(dir, when), NJOBS);
        recorded[k] = rel_db_ckpt_step(dir, j->id);
    }
    seg[NROUNDS] = rel_file_size(d.log);
    cr_assert_eq(nasd_start(&d, dir, flags, REL_START_MS), 0, "nasd did not restart");
    for (int i = 0; i < NJOBS; i++) {
        json_t *v = rel_wait_final(d.port, jobs[i].id, REL_JOB_MS);
        cr_assert_str_eq(rel_str(v, "state"), "succeeded", "job %s (%s) ended %s: %s",
                         jobs[i].id, jobs[i].name, rel_str(v, "state"),
                         rel_str(v, "error") ? rel_str(v, "error") : "");
        json_decref(v);
        rel_check_history(d.port, &jobs[i]);
    }
    int status = nasd_stop(&d, REL_STOP_MS);
    cr_assert_eq(status, 0, "nasd exited with %d after SIGTERM", status);
    cr_assert_eq(rel_db_check(dir, "at the end"), NJOBS);

    /* Each crash's job restarted from exactly its recorded checkpoint,
     * and the rows committed after it went where the round says so. */
    char *log = rel_read_from(d.log, 0);
    cr_assert(log, "cannot read %s", d.log);
    seg[NROUNDS + 1] = (off_t)strlen(log);
    int rewinds = 0;
    for (int k = 0; k < NROUNDS; k++) {
        const rel_jobrun *j = &jobs[rounds[k].job];
        /* The run of nasd after crash k. */
        char *next = strndup(log + seg[k + 1], (size_t)(seg[k + 2] - seg[k + 1]));
        cr_assert(next);
        check_start(next, j, recorded[k], k);
        char removed[80];
        snprintf(removed, sizeof(removed), "job %s: ", j->id);
        int rewound = line_with(next, removed, "reported after its checkpoint") != NULL;
        free(next);
        if (rounds[k].rewind)
            cr_assert(rewound, "round %d (%s): the restart removed no row reported after the "
                               "checkpoint", k + 1, rounds[k].what);
        rewinds += rewound;
    }
    free(log);
    fprintf(stderr,
            "crash_points: %d crashes at named points, %d jobs (all succeeded, every row once), "
            "%d rewinds, integrity ok %d times, %.1f s\n",
            NROUNDS, NJOBS, rewinds, NROUNDS + 1, (double)(rel_now_ms() - t0) / 1000.0);
    passed = 1;
}
