/*
 * test_kill_resume.c - kill -9 nasd at random points while short jobs run
 * (train jobs on the synthetic dataset and a small DARTS search), restart
 * it on the same state directory, and repeat; then check that nothing was
 * lost, duplicated or redone from zero, and that the SQLite file is sound
 * after every crash.
 *
 * The one design decision to know: what "resumed from its checkpoint"
 * means is checked three ways that do not depend on timing. Right before
 * each kill the test reads every job's recorded checkpoint step (the
 * database records a checkpoint only once it is durable, so the real one
 * at the kill is at least that). After the restart, the engine's
 * "resumed from ..., step S" log line of the job's next start must show
 * S >= that step, and no "starting afresh" may appear for it; and at the
 * end each epoch the checkpoints covered has exactly one train_loss
 * metric, which a rerun of the epoch would have doubled.
 *
 * NASD_RELIABILITY_SEED replays a kill schedule, NASD_RELIABILITY_ROUNDS
 * changes the number of kills (default 10), NASD_TEST_TIMEOUT_SCALE
 * stretches the schedule with the deadlines (tests/tsan.sh).
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rel.h"

#define MAX_JOBS 16
#define MAX_ROUNDS 64

static int passed;

static void begin_test(void)
{
    passed = 0;
}

static void finish_test(void)
{
    nasd_cleanup(!passed);
}

TestSuite(reliability, .init = begin_test, .fini = finish_test);

static const char *const flags[] = {"--workers", "2", "--threads-per-job", "1", NULL};

typedef struct job {
    char id[33];
    char kind[16];
    int epochs;
    /* Recorded checkpoint step right before kill k (0: none yet). */
    int64_t ckpt_before[MAX_ROUNDS];
    int final_before[MAX_ROUNDS]; /* finished when kill k came */
    int resumes;                  /* resume lines checked */
} job;

static job jobs[MAX_JOBS];
static int njobs;

static void submit(int port, const char *kind, const char *body)
{
    cr_assert(njobs < MAX_JOBS);
    job *j = &jobs[njobs];
    memset(j, 0, sizeof(*j));
    int status = rel_post_job(port, body, NULL, j->id);
    cr_assert_eq(status, 202, "POST %s: %d", body, status);
    snprintf(j->kind, sizeof(j->kind), "%s", kind);
    njobs++;
}

static void submit_train(int port, int epochs, int seed)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"algorithm\":\"train\",\"dataset\":\"synthetic\",\"architecture\":{\"space\":"
             "\"fixed-cnn\",\"channels\":[8,16],\"hidden\":32},\"budget\":{\"epochs\":%d},"
             "\"seed\":%d}",
             epochs, seed);
    submit(port, "train", body);
    jobs[njobs - 1].epochs = epochs;
}

static void submit_darts(int port, int epochs, int seed)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"algorithm\":\"darts\",\"search_space\":\"darts-cnn\",\"dataset\":\"synthetic\","
             "\"budget\":{\"epochs\":%d},\"hyperparameters\":{\"order\":1,\"C\":4,\"layers\":3,"
             "\"batch_size\":8,\"max_examples\":192},\"seed\":%d}",
             epochs, seed);
    submit(port, "darts", body);
    jobs[njobs - 1].epochs = epochs;
}

/* Every job's recorded checkpoint and whether it has finished, now. */
static void snapshot(int port, int round)
{
    for (int i = 0; i < njobs; i++) {
        json_t *v = rel_job(port, jobs[i].id);
        jobs[i].ckpt_before[round] = rel_int(v, "checkpoint.step");
        const char *st = rel_str(v, "state");
        jobs[i].final_before[round] = st && strcmp(st, "queued") && strcmp(st, "running");
        json_decref(v);
    }
}

/* 1 when some job runs with a recorded checkpoint: a kill now interrupts
 * it after a checkpoint. */
static int interruptible(void *ctx)
{
    int port = *(int *)ctx, found = 0;
    for (int i = 0; i < njobs && !found; i++) {
        json_t *v = rel_job(port, jobs[i].id);
        const char *st = rel_str(v, "state");
        found = st && !strcmp(st, "running") && rel_int(v, "checkpoint.step") > 0;
        json_decref(v);
    }
    return found;
}

/* The log line holding `a` and `b` (in that order on one line) at or
 * after `from` and before `to`; NULL when none. */
static const char *find_line(const char *from, const char *to, const char *a, const char *b)
{
    const char *p = from;
    while (p && p < to && (p = strstr(p, a)) && p < to) {
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

/* After kill k (the daemon restarted at log offset seg[k + 1]), job j's
 * next start must resume from at least the checkpoint recorded before
 * the kill. seg has nseg offsets into log; log_end is the log's end. */
static void check_resume(const char *log, const off_t *seg, int nseg, job *j, int k)
{
    int64_t want = j->ckpt_before[k];
    if (want <= 0 || j->final_before[k])
        return;
    char started[128], resumed[128], afresh[128];
    snprintf(started, sizeof(started), "job %.32s started (attempt", j->id);
    snprintf(resumed, sizeof(resumed), "job %.32s: resumed from ", j->id);
    snprintf(afresh, sizeof(afresh), "job %.32s: no checkpoint at", j->id);
    const char *end = log + strlen(log);
    cr_assert(!find_line(log + seg[k + 1], end, afresh, ""),
              "job %s started afresh after kill %d although checkpoint step %" PRId64
              " was recorded",
              j->id, k + 1, want);
    /* Each later run of the daemon (segment) that started the job: the
     * resume line follows the start line unless a kill came between. */
    for (int s = k + 1; s < nseg; s++) {
        const char *from = log + seg[s], *to = s + 1 < nseg ? log + seg[s + 1] : end;
        const char *st = find_line(from, to, started, "");
        if (!st)
            continue;
        const char *rs = find_line(st, to, resumed, ", step ");
        if (!rs)
            continue;
        long long step = -1;
        const char *at = strstr(rs, ", step ");
        cr_assert(at && sscanf(at, ", step %lld", &step) == 1, "unreadable resume line");
        cr_assert(step >= want,
                  "job %s resumed at step %lld after kill %d, but checkpoint step %" PRId64
                  " was recorded before it",
                  j->id, step, k + 1, want);
        j->resumes++;
        return;
    }
    /* Not started again after the kill: it must have finished before it
     * (between the snapshot and the kill) - it ended succeeded, checked
     * by the caller - and so never ran again. */
    cr_assert(!find_line(log + seg[k + 1], end, started, ""),
              "job %s was started after kill %d but never logged its resume", j->id, k + 1);
}

/* Every epoch the checkpoints covered before a kill was reported once;
 * every epoch was reported at least once. */
static void check_epochs(int port, job *j, json_t *view)
{
    json_int_t steps = rel_int(view, "progress.steps");
    cr_assert(steps > 0 && steps % j->epochs == 0, "job %s: progress.steps %lld", j->id,
              (long long)steps);
    int64_t spe = steps / j->epochs, done = 0;
    for (int k = 0; k < MAX_ROUNDS; k++)
        if (j->ckpt_before[k] / spe > done)
            done = j->ckpt_before[k] / spe;
    char path[128];
    snprintf(path, sizeof(path), "/v1/jobs/%s/metrics?limit=10000", j->id);
    json_t *m = rel_get(port, path), *row;
    int count[1024] = {0};
    size_t i;
    json_array_foreach(json_object_get(m, "metrics"), i, row)
    {
        json_int_t e = rel_int(row, "epoch");
        if (strcmp(rel_str(row, "name"), "train_loss") != 0)
            continue;
        cr_assert(e >= 1 && e <= j->epochs, "job %s: train_loss of epoch %lld", j->id,
                  (long long)e);
        count[e]++;
    }
    cr_assert(json_is_null(json_object_get(m, "next_after")), "job %s: more metrics than read",
              j->id);
    json_decref(m);
    for (int e = 1; e <= j->epochs; e++)
        cr_assert(e <= done ? count[e] == 1 : count[e] >= 1,
                  "job %s (%s): epoch %d has %d train_loss values (%lld epochs were in a "
                  "checkpoint before a kill)",
                  j->id, j->kind, e, count[e], (long long)done);
}

Test(reliability, kill9_at_random_points_loses_nothing)
{
    rel_seed("kill9_at_random_points");
    int rounds = rel_env_int("NASD_RELIABILITY_ROUNDS", 10);
    cr_assert(rounds >= 1 && rounds < MAX_ROUNDS);
    int64_t t0 = rel_now_ms();
    char dir[PATH_MAX];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    nasd_proc d;
    off_t seg[MAX_ROUNDS + 1];
    seg[0] = 0;
    cr_assert_eq(nasd_start(&d, dir, flags, REL_START_MS), 0, "nasd did not start");
    njobs = 0;
    /* Work in proportion to the kills (10 rounds: 30, 40, 25 and 4 x 20
     * epochs of about 50 ms each, and 4 DARTS epochs; 2 under 6 rounds):
     * jobs that outlast the schedule, but not by much. */
    submit_train(d.port, 3 * rounds, 1);
    submit_darts(d.port, rounds >= 6 ? 4 : 2, 2);
    submit_train(d.port, 4 * rounds, 3);
    submit_train(d.port, 5 * rounds / 2, 4);

    for (int k = 0; k < rounds; k++) {
        /* Now and then a kill right after the restart (recovery, a
         * claim), otherwise somewhere in the jobs' epochs. */
        int delay = rel_scale() * (rel_rand(0, 3) == 0 ? rel_rand(0, 60) : rel_rand(100, 1200));
        if (k < 4)
            submit_train(d.port, 2 * rounds, 10 + k);
        rel_sleep_ms(delay);
        /* The last kill: if none so far came after a checkpoint (a slow,
         * sanitized nasd), wait for one, so the resume is always tested. */
        int before = 0;
        for (int i = 0; i < njobs; i++)
            for (int r = 0; r < k; r++)
                before += jobs[i].ckpt_before[r] > 0 && !jobs[i].final_before[r];
        if (k == rounds - 1 && before == 0)
            cr_assert(nasd_wait_for(REL_JOB_MS, interruptible, &d.port),
                      "no job ran with a checkpoint before the last kill");
        snapshot(d.port, k);
        nasd_kill9(&d);
        char when[64];
        snprintf(when, sizeof(when), "after kill %d", k + 1);
        int rows = rel_db_check(dir, when);
        cr_assert_eq(rows, njobs, "%s: %d jobs in the database, %d acknowledged", when, rows,
                     njobs);
        seg[k + 1] = rel_file_size(d.log);
        cr_assert_eq(nasd_start(&d, dir, flags, REL_START_MS), 0, "nasd did not restart");
    }

    /* Every acknowledged job once, and each succeeds. */
    for (int i = 0; i < njobs; i++) {
        json_t *v = rel_wait_final(d.port, jobs[i].id, REL_JOB_MS);
        cr_assert_str_eq(rel_str(v, "state"), "succeeded", "job %s (%s) ended %s: %s",
                         jobs[i].id, jobs[i].kind, rel_str(v, "state"),
                         rel_str(v, "error") ? rel_str(v, "error") : "");
        cr_assert_eq(rel_int(v, "progress.epoch"), jobs[i].epochs);
        check_epochs(d.port, &jobs[i], v);
        json_decref(v);
        char path[96];
        snprintf(path, sizeof(path), "/v1/jobs/%s/result", jobs[i].id);
        json_decref(rel_get(d.port, path));
    }
    json_t *all = rel_all_jobs(d.port);
    cr_assert_eq((int)json_array_size(all), njobs, "%zu jobs listed, %d acknowledged",
                 json_array_size(all), njobs);
    for (int i = 0; i < njobs; i++) {
        int seen = 0;
        size_t k;
        json_t *v;
        json_array_foreach(all, k, v) seen += strcmp(rel_str(v, "id"), jobs[i].id) == 0;
        cr_assert_eq(seen, 1, "job %s is listed %d times", jobs[i].id, seen);
    }
    json_decref(all);
    int status = nasd_stop(&d, REL_STOP_MS);
    cr_assert_eq(status, 0, "nasd exited with %d after SIGTERM", status);
    cr_assert_eq(rel_db_check(dir, "at the end"), njobs);

    /* Resumes, from the whole log of every run. */
    char *log = rel_read_from(d.log, 0);
    cr_assert(log, "cannot read %s", d.log);
    int resumes = 0, interrupted = 0;
    for (int i = 0; i < njobs; i++) {
        for (int k = 0; k < rounds; k++) {
            if (jobs[i].ckpt_before[k] > 0 && !jobs[i].final_before[k])
                interrupted++;
            check_resume(log, seg, rounds + 1, &jobs[i], k);
        }
        resumes += jobs[i].resumes;
    }
    free(log);
    /* Without one resume the schedule tested nothing of it. */
    cr_assert(resumes > 0, "no job was interrupted after a checkpoint in %d kills", rounds);
    fprintf(stderr,
            "kill9_at_random_points: %d kills, %d jobs (all succeeded, each listed once), %d "
            "interruptions after a checkpoint, %d resumes checked, integrity ok %d times, "
            "%.1f s\n",
            rounds, njobs, interrupted, resumes, rounds + 1, (double)(rel_now_ms() - t0) / 1000.0);
    passed = 1;
}
