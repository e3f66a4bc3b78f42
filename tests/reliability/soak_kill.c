// SPDX-License-Identifier: MIT
/*
 * soak_kill.c - `make soak`: kill -9 nasd at seeded random moments, many
 * times (NASD_RELIABILITY_ROUNDS, 200 by default), while two workers run
 * a growing mix of train, darts, enas and nas-rl jobs; restart it on the
 * same state directory after every kill; and in the end every acknowledged
 * job has succeeded, is listed once and holds each of its rows exactly
 * once, every start resumed from exactly the checkpoint the database
 * recorded, and PRAGMA integrity_check passed after every kill.
 *
 * The one design decision to know: this is not part of `make check`.
 * Its kills are timed, so what they hit depends on the machine; the gate
 * is the deterministic crash-point test next to it (test_kill_resume.c).
 * The seed is fresh from the clock unless NASD_RELIABILITY_SEED is set,
 * and it is printed first: it replays the schedule (the delays, the jobs
 * and their seeds), not the timing. Resumes are checked one run of nasd
 * at a time: after each kill, while no nasd runs, the database's
 * checkpoint step of every job is read, and the job's next start, in the
 * log of any later run, must resume from exactly that step (0: afresh).
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "rel.h"

TestSuite(soak, .init = begin_test, .fini = finish_test);

/* Every kill is a crash under each running job: the most attempts the
 * configuration allows (daemon/config.c), so none fails for them. */
static const char *const flags[] = {"--workers", "2", "--threads-per-job", "1", "--max-attempts",
                                    "1000",      NULL};

/* A new wave of jobs every WAVE rounds, unless BACKLOG jobs still wait
 * for a worker: work never runs out, nor piles up past what the end can
 * drain. */
#define WAVE 10
#define BACKLOG 8

typedef struct soak_job {
    rel_jobrun r;
    int64_t want; /* checkpoint step recorded at the last kill: where its
                     next start must resume (0: afresh) */
} soak_job;

typedef struct soak {
    soak_job *jobs;
    int njobs, cap;
    int resumes, fresh; /* starts checked, from a checkpoint or afresh */
} soak;

static void submit_one(soak *s, int port, enum rel_kind kind)
{
    cr_assert(s->njobs < s->cap, "more jobs than the %d planned", s->cap);
    soak_job *j = &s->jobs[s->njobs];
    memset(j, 0, sizeof(*j));
    j->r.kind = kind;
    /* A few seconds of work each on a quiet machine; enas epochs are
     * short (tens of ms), hence many. darts is 3 + 2 epochs (rel.c). */
    j->r.epochs = kind == REL_TRAIN   ? rel_rand(10, 40)
                  : kind == REL_ENAS  ? rel_rand(20, 60)
                  : kind == REL_NASRL ? rel_rand(2, 5)
                                      : 0;
    rel_submit(port, &j->r, rel_rand(1, 999999));
    s->njobs++;
}

static void submit_wave(soak *s, int port)
{
    submit_one(s, port, REL_TRAIN);
    submit_one(s, port, REL_DARTS);
    submit_one(s, port, REL_ENAS);
    submit_one(s, port, REL_NASRL);
}

static int queued_jobs(int port)
{
    json_t *all = rel_all_jobs(port), *v;
    size_t i;
    int n = 0;
    json_array_foreach(all, i, v) n += !strcmp(str_at(v, "state"), "queued");
    json_decref(all);
    return n;
}

/* The first complete line (ending in a newline) of [from, to) holding a
 * and then b, or NULL. */
static const char *line_with(const char *from, const char *to, const char *a, const char *b)
{
    for (const char *p = from; p < to && (p = strstr(p, a)) && p < to;) {
        const char *eol = memchr(p, '\n', (size_t)(to - p));
        if (!eol)
            return NULL;
        const char *q = strstr(p, b);
        if (q && q < eol)
            return p;
        p = eol;
    }
    return NULL;
}

/* One run of nasd, [from, to) of its log, is over: each job that started
 * in it started from exactly the checkpoint recorded before the run
 * (want). `run` numbers the run for messages (1: the first). */
static void check_run(soak *s, const char *from, const char *to, int run)
{
    for (int i = 0; i < s->njobs; i++) {
        const rel_jobrun *j = &s->jobs[i].r;
        int64_t want = s->jobs[i].want;
        char resumed[80], afresh[80];
        snprintf(resumed, sizeof(resumed), "job %s: resumed from ", j->id);
        snprintf(afresh, sizeof(afresh), "job %s: no checkpoint at", j->id);
        const char *r = line_with(from, to, resumed, ", step ");
        const char *a = line_with(from, to, afresh, "afresh");
        if (!r && !a)
            continue; /* not started in this run, or killed before */
        if (want == 0) {
            cr_assert(a && !r, "run %d: job %s (%s) had no recorded checkpoint, but resumed", run,
                      j->id, j->name);
            s->fresh++;
            continue;
        }
        cr_assert(r && !a,
                  "run %d: job %s (%s) had checkpoint step %" PRId64 " recorded but started "
                  "afresh",
                  run, j->id, j->name, want);
        long long step = -1;
        cr_assert_eq(sscanf(strstr(r, ", step "), ", step %lld", &step), 1);
        /* darts' final training counts its own steps after the search's. */
        int final = j->search_steps > 0 && want > j->search_steps;
        int64_t got = step + (final ? j->search_steps : 0);
        cr_assert_eq(got, want,
                     "run %d: job %s (%s) resumed at step %lld%s, but the database recorded "
                     "checkpoint step %" PRId64 " at the kill before",
                     run, j->id, j->name, step, final ? " of its final training" : "", want);
        s->resumes++;
    }
}

/* Checks the run of nasd that the log holds from *at on, then moves *at
 * to the log's end. */
static void check_log(soak *s, const char *log_path, off_t *at, int run)
{
    char *text = rel_read_from(log_path, *at);
    cr_assert(text, "cannot read %s", log_path);
    size_t n = strlen(text);
    check_run(s, text, text + n, run);
    *at += (off_t)n;
    free(text);
}

/* Metric rows there more than once (same job, name, epoch and step), in
 * the file nasd left (none may hold it). */
static int db_duplicate_metrics(const char *dir)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/nasd.db", dir);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n "
                                    "FROM metrics GROUP BY job_id, name, epoch, step)",
                                    -1, &st, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sqlite3_errmsg(db));
    int dups = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return dups;
}

Test(soak, kill9_at_random_moments, .timeout = 0)
{
    uint64_t seed = rel_seed("soak kill9_at_random_moments");
    int rounds = rel_env_int("NASD_RELIABILITY_ROUNDS", 200);
    cr_assert(rounds >= 1 && rounds <= 100000, "NASD_RELIABILITY_ROUNDS=%d", rounds);
    int64_t t0 = test_now_ms();
    soak s = {0};
    s.cap = 4 * (rounds / WAVE + 2);
    s.jobs = calloc((size_t)s.cap, sizeof(*s.jobs));
    cr_assert(s.jobs);

    char dir[PATH_MAX];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    nasd_proc d = {0};
    cr_assert_eq(nasd_start(&d, dir, flags, REL_START_MS), 0, "nasd did not start");
    off_t at = 0;
    submit_wave(&s, d.port);

    int waves = 1, skipped = 0;
    for (int k = 0; k < rounds; k++) {
        if (k > 0 && k % WAVE == 0) {
            if (queued_jobs(d.port) < BACKLOG) {
                submit_wave(&s, d.port);
                waves++;
            } else {
                skipped++;
            }
        }
        /* Now and then a kill right after the restart (recovery, a
         * claim), one time in eight a long run (jobs reach checkpoints and
         * finish, so later kills interrupt resumed runs), otherwise
         * somewhere in the jobs' epochs and updates. */
        int pick = rel_rand(0, 7);
        int delay = test_timeout_scale() * (pick < 2    ? rel_rand(0, 60)
                                            : pick == 7 ? rel_rand(2000, 5000)
                                                        : rel_rand(100, 1200));
        rel_sleep_ms(delay);
        nasd_kill9(&d);

        char when[64];
        snprintf(when, sizeof(when), "after kill %d", k + 1);
        int rows = rel_db_check(dir, when);
        cr_assert_eq(rows, s.njobs, "%s: %d jobs in the database, %d acknowledged", when, rows,
                     s.njobs);
        check_log(&s, d.log, &at, k + 1);
        for (int i = 0; i < s.njobs; i++)
            s.jobs[i].want = rel_db_ckpt_step(dir, s.jobs[i].r.id);
        cr_assert_eq(nasd_start(&d, dir, flags, REL_START_MS), 0, "nasd did not restart (%s)",
                     when);
    }

    /* The end: every job runs to completion in this last run, succeeds,
     * is listed once and holds each of its rows once. */
    int rows_checked = 0, count[4] = {0};
    for (int i = 0; i < s.njobs; i++) {
        const rel_jobrun *j = &s.jobs[i].r;
        json_t *v = wait_job(d.port, j->id, NULL, REL_JOB_MS * 4);
        cr_assert_str_eq(str_at(v, "state"), "succeeded", "job %s (%s) ended %s: %s", j->id,
                         j->name, str_at(v, "state"), str_at(v, "error") ? str_at(v, "error") : "");
        json_decref(v);
        rel_check_history(d.port, j);
        rows_checked += j->metrics + j->archs;
        count[j->kind]++;
    }
    json_t *all = rel_all_jobs(d.port);
    int lost = 0, dups = 0;
    for (int i = 0; i < s.njobs; i++) {
        int seen = 0;
        size_t k;
        json_t *v;
        json_array_foreach(all, k, v) seen += strcmp(str_at(v, "id"), s.jobs[i].r.id) == 0;
        lost += seen == 0;
        dups += seen > 1 ? seen - 1 : 0;
    }
    cr_assert_eq((int)json_array_size(all), s.njobs, "%zu jobs listed, %d acknowledged",
                 json_array_size(all), s.njobs);
    json_decref(all);
    int status = nasd_stop(&d, REL_STOP_MS);
    cr_assert_eq(status, 0, "nasd exited with %d after SIGTERM", status);
    cr_assert_eq(rel_db_check(dir, "at the end"), s.njobs);
    check_log(&s, d.log, &at, rounds + 1);
    /* Independent of the counts above: no metric row twice in the file. */
    dups += db_duplicate_metrics(dir);

    fprintf(stderr,
            "soak: seed %" PRIu64 ", %d kills, %d jobs (%d train, %d darts, %d enas, %d "
            "nas-rl; %d waves, %d skipped for a backlog), %d resumes checked (and %d fresh "
            "starts), %d rows checked, %d duplicates, %d lost jobs, integrity_check ok %d "
            "times, %.1f s\n",
            seed, rounds, s.njobs, count[REL_TRAIN], count[REL_DARTS], count[REL_ENAS],
            count[REL_NASRL], waves, skipped, s.resumes, s.fresh, rows_checked, dups, lost,
            rounds + 1, (double)(test_now_ms() - t0) / 1000.0);
    cr_assert_eq(dups, 0, "%d duplicates", dups);
    cr_assert_eq(lost, 0, "%d acknowledged jobs are not listed", lost);
    cr_assert(s.resumes > 0, "no job resumed from a checkpoint in %d kills", rounds);
    free(s.jobs);
    PASS();
}
