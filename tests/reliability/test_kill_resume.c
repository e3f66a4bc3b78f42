// SPDX-License-Identifier: MIT
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

#include <sqlite3.h>

#include "rel.h"

/* finish_test (tests/itest.h) once the crash point is no longer asked for. */
static void finish_crash_test(void)
{
    unsetenv("NASD_TEST_CRASH");
    finish_test();
}

TestSuite(reliability, .init = begin_test, .fini = finish_crash_test);

/* Every kill is a crash under the running job: no cap on them here. */
static const char *const flags[] = {"--workers", "1", "--threads-per-job", "1", "--max-attempts",
                                    "1000",      NULL};

enum { D, E, N, T, NJOBS };

typedef struct round {
    int job;
    const char *point; /* KIND:N:WHEN */
    int rewind;        /* rows were committed after the recorded
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
        cr_assert(a && !r, "round %d: job %s (%s) had no recorded checkpoint, but %s", k + 1, j->id,
                  j->name, r ? "resumed" : "did not start afresh");
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
    int64_t t0 = test_now_ms();
    char dir[PATH_MAX];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    rel_jobrun jobs[NJOBS] = {[D] = {.kind = REL_DARTS},
                              [E] = {.kind = REL_ENAS, .epochs = 3},
                              [N] = {.kind = REL_NASRL, .epochs = 3},
                              [T] = {.kind = REL_TRAIN, .epochs = 4}};
    for (int i = 0; i < NJOBS; i++)
        rel_job_spec(&jobs[i], 0);
    /* NASD_RELIABILITY_ROUNDS below the schedule's length (tests/tsan.sh,
     * where everything runs 5-15x slower) keeps the rounds of the cheap
     * jobs (enas, train) and submits only those. */
    int sel[NROUNDS], n = 0, use[NJOBS] = {0}, njobs = 0;
    int light = rel_env_int("NASD_RELIABILITY_ROUNDS", NROUNDS) < NROUNDS;
    for (int k = 0; k < NROUNDS; k++)
        if (!light || rounds[k].job == E || rounds[k].job == T) {
            sel[n++] = k;
            use[rounds[k].job] = 1;
        }
    for (int i = 0; i < NJOBS; i++)
        use[i] = use[i] || !light;
    for (int i = 0; i < NJOBS; i++)
        njobs += use[i];
    nasd_proc d = {0};
    off_t seg[NROUNDS + 2];
    int64_t recorded[NROUNDS];
    for (int q = 0; q < n; q++) {
        int k = sel[q];
        const rel_jobrun *j = &jobs[rounds[k].job];
        char point[128];
        /* The jobs' names are known before they exist: KIND-SEED. */
        snprintf(point, sizeof(point), "%s-%d:%s", j->name, 10 + rounds[k].job, rounds[k].point);
        setenv("NASD_TEST_CRASH", point, 1);
        seg[q] = d.log[0] ? rel_file_size(d.log) : 0;
        cr_assert_eq(nasd_start(&d, dir, flags, REL_START_MS), 0, "nasd did not start");
        unsetenv("NASD_TEST_CRASH");
        if (q == 0)
            for (int i = 0; i < NJOBS; i++)
                if (use[i])
                    rel_submit(d.port, &jobs[i], 10 + i);
        int status = nasd_wait_exit(&d, REL_JOB_MS);
        cr_assert_eq(status, 128 + 9,
                     "round %d (%s, %s: %s): nasd did not die at its crash point (status %d)",
                     k + 1, point, rounds[k].what, j->name, status);
        char reached[160];
        snprintf(reached, sizeof(reached), "test crash point %s reached", point);
        cr_assert(nasd_log_contains(&d, reached), "round %d: no \"%s\" in the log", k + 1, reached);
        char when[64];
        snprintf(when, sizeof(when), "after crash %d", k + 1);
        cr_assert_eq(rel_db_check(dir, when), njobs);
        recorded[q] = rel_db_ckpt_step(dir, j->id);
    }
    seg[n] = rel_file_size(d.log);
    cr_assert_eq(nasd_start(&d, dir, flags, REL_START_MS), 0, "nasd did not restart");
    for (int i = 0; i < NJOBS; i++) {
        if (!use[i])
            continue;
        json_t *v = wait_job(d.port, jobs[i].id, NULL, REL_JOB_MS);
        cr_assert_str_eq(str_at(v, "state"), "succeeded", "job %s (%s) ended %s: %s", jobs[i].id,
                         jobs[i].name, str_at(v, "state"),
                         str_at(v, "error") ? str_at(v, "error") : "");
        json_decref(v);
        rel_check_history(d.port, &jobs[i]);
    }
    int status = nasd_stop(&d, REL_STOP_MS);
    cr_assert_eq(status, 0, "nasd exited with %d after SIGTERM", status);
    cr_assert_eq(rel_db_check(dir, "at the end"), njobs);

    /* Each crash's job restarted from exactly its recorded checkpoint,
     * and the rows committed after it went where the round says so. */
    char *log = rel_read_from(d.log, 0);
    cr_assert(log, "cannot read %s", d.log);
    seg[n + 1] = (off_t)strlen(log);
    int rewinds = 0;
    for (int q = 0; q < n; q++) {
        int k = sel[q];
        const rel_jobrun *j = &jobs[rounds[k].job];
        /* The run of nasd after crash q. */
        char *next = strndup(log + seg[q + 1], (size_t)(seg[q + 2] - seg[q + 1]));
        cr_assert(next);
        check_start(next, j, recorded[q], k);
        char removed[80];
        snprintf(removed, sizeof(removed), "job %s: ", j->id);
        int rewound = line_with(next, removed, "reported after its checkpoint") != NULL;
        free(next);
        if (rounds[k].rewind)
            cr_assert(rewound,
                      "round %d (%s): the restart removed no row reported after the "
                      "checkpoint",
                      k + 1, rounds[k].what);
        rewinds += rewound;
    }
    free(log);
    fprintf(stderr,
            "crash_points: %d crashes at named points, %d jobs (all succeeded, every row once), "
            "%d rewinds, integrity ok %d times, %.1f s\n",
            n, njobs, rewinds, n + 1, (double)(test_now_ms() - t0) / 1000.0);
    PASS();
}

/* ------------------------------------------- an event stream across a crash */

/* What a client holds: the seqs of the rows it was sent. */
typedef struct held {
    int64_t m[4096], a[4096];
    int nm, na, rewinds;
    long long id_m, id_a; /* the last id: seen, which may never go back */
} held;

static void hold(int64_t *v, int *n, int64_t seq)
{
    for (int i = 0; i < *n; i++)
        if (v[i] == seq)
            return;
    cr_assert(*n < 4096);
    v[(*n)++] = seq;
}

static void drop_after(int64_t *v, int *n, int64_t after)
{
    int k = 0;
    for (int i = 0; i < *n; i++)
        if (v[i] <= after)
            v[k++] = v[i];
    *n = k;
}

/* Reads stream s into h until it ends: 1 when it ended after the job's
 * final state (nasd closes it then; a replay comes between), 0 when the
 * connection dropped without one. */
static int follow(sse *s, held *h)
{
    char name[32];
    json_t *data = NULL;
    int final = 0;
    while (sse_next(s, REL_JOB_MS, name, sizeof(name), &data) == 1) {
        long long m = -1, a = -1;
        cr_assert_eq(sscanf(sse_last_id(s), "%lld-%lld", &m, &a), 2, "id: %s", sse_last_id(s));
        cr_assert(m >= h->id_m && a >= h->id_a, "the event id went back from %lld-%lld to %s",
                  h->id_m, h->id_a, sse_last_id(s));
        h->id_m = m;
        h->id_a = a;
        if (!strcmp(name, "metric"))
            hold(h->m, &h->nm, int_at(data, "seq"));
        else if (!strcmp(name, "architecture"))
            hold(h->a, &h->na, int_at(data, "seq"));
        else if (!strcmp(name, "rewind")) {
            drop_after(h->m, &h->nm, int_at(data, "metrics_after"));
            drop_after(h->a, &h->na, int_at(data, "architectures_after"));
            h->rewinds++;
        } else if (!strcmp(name, "state")) {
            const char *st = str_at(data, "state");
            final = st && strcmp(st, "queued") && strcmp(st, "running");
        }
        json_decref(data);
        data = NULL;
    }
    return final;
}

/* The seqs of job id's rows in the database file (no nasd holds it). */
static void db_rows(const char *dir, const char *id, held *h)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/nasd.db", dir);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    const char *sql[] = {"SELECT seq FROM metrics WHERE job_id = ?1",
                         "SELECT seq FROM architectures WHERE job_id = ?1"};
    for (int t = 0; t < 2; t++) {
        sqlite3_stmt *st = NULL;
        cr_assert_eq(sqlite3_prepare_v2(db, sql[t], -1, &st, NULL), SQLITE_OK);
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW)
            hold(t ? h->a : h->m, t ? &h->na : &h->nm, sqlite3_column_int64(st, 0));
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
}

static int64_t largest(const int64_t *v, int n)
{
    int64_t x = 0;
    for (int i = 0; i < n; i++)
        x = v[i] > x ? v[i] : x;
    return x;
}

static int same_set(const int64_t *a, int na, const int64_t *b, int nb)
{
    if (na != nb)
        return 0;
    for (int i = 0; i < na; i++) {
        int found = 0;
        for (int k = 0; k < nb && !found; k++)
            found = a[i] == b[k];
        if (!found)
            return 0;
    }
    return 1;
}

static void expect_same(const held *client, const held *db, const char *who)
{
    cr_assert(same_set(client->m, client->nm, db->m, db->nm),
              "%s holds %d metric rows, the job has %d (or other ones)", who, client->nm, db->nm);
    cr_assert(same_set(client->a, client->na, db->a, db->na),
              "%s holds %d architecture rows, the job has %d (or other ones)", who, client->na,
              db->na);
}

Test(reliability, a_stream_resumed_after_a_crash_holds_exactly_the_rows)
{
    char dir[PATH_MAX];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    rel_jobrun j = {.kind = REL_ENAS, .epochs = 3};
    /* Dies before recording the checkpoint of epoch 2: the rows of that
     * epoch are committed (and perhaps sent) after the recorded one. */
    setenv("NASD_TEST_CRASH", "enas-31:ckpt:16:before", 1);
    nasd_proc d = {0};
    cr_assert_eq(nasd_start(&d, dir, flags, REL_START_MS), 0, "nasd did not start");
    unsetenv("NASD_TEST_CRASH");
    rel_submit(d.port, &j, 31);
    char path[96];
    snprintf(path, sizeof(path), "/v1/jobs/%s/events", j.id);
    static held a, b, before, after;
    sse *s = NULL;
    cr_assert_eq(sse_open(d.port, path, REL_START_MS, &s, NULL), 200);
    cr_assert_eq(follow(s, &a), 0, "the stream ended with the job, but nasd was to crash");
    char last[128];
    snprintf(last, sizeof(last), "%s", sse_last_id(s));
    sse_close(s);
    cr_assert_eq(nasd_wait_exit(&d, REL_JOB_MS), 128 + 9, "nasd did not die at its crash point");
    db_rows(dir, j.id, &before);

    cr_assert_eq(nasd_start(&d, dir, flags, REL_START_MS), 0, "nasd did not restart");
    /* Client a reconnects as EventSource does, with the last id it saw. */
    cr_assert(last[0], "no id: line came before the crash");
    cr_assert_eq(sse_open_with(d.port, path, last, REL_START_MS, &s, NULL), 200);
    cr_assert_eq(follow(s, &a), 1, "the resumed stream did not end with the job");
    sse_close(s);
    /* Client b held every row the crash left (it was sent them all): its
     * cursor names rows the claim removed, so it must be told. */
    b = before;
    char cursor[64];
    b.id_m = largest(b.m, b.nm);
    b.id_a = largest(b.a, b.na);
    snprintf(cursor, sizeof(cursor), "%lld-%lld", b.id_m, b.id_a);
    cr_assert_eq(sse_open_with(d.port, path, cursor, REL_START_MS, &s, NULL), 200);
    cr_assert_eq(follow(s, &b), 1, "the resumed stream did not end with the job");
    sse_close(s);
    cr_assert_eq(b.rewinds, 1, "client b got %d rewind events, want 1", b.rewinds);

    json_t *v = wait_job(d.port, j.id, NULL, REL_JOB_MS);
    cr_assert_str_eq(str_at(v, "state"), "succeeded");
    json_decref(v);
    rel_check_history(d.port, &j);
    cr_assert_eq(nasd_stop(&d, REL_STOP_MS), 0);
    db_rows(dir, j.id, &after);
    expect_same(&a, &after, "client a");
    expect_same(&b, &after, "client b");
    /* The crash did take rows back: the ones of epoch 2 before it. */
    cr_assert(!same_set(before.a, before.na, after.a, after.na) &&
                  largest(before.a, before.na) < largest(after.a, after.na),
              "the crash removed no architecture row");
    fprintf(stderr,
            "stream across a crash: client a %d rewind(s), client b %d; both hold the job's %d "
            "metric and %d architecture rows\n",
            a.rewinds, b.rewinds, after.nm, after.na);
    PASS();
}
