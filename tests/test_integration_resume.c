// SPDX-License-Identifier: MIT
/*
 * test_integration_resume.c - the two ways a daemon stops mid-job (kill -9
 * and SIGTERM), each followed by a restart that resumes the job from its
 * checkpoint and ends with the same result, loss for loss, as an
 * uninterrupted run of the same spec in a second daemon.
 *
 * The one design decision to know: both daemons run one worker with one
 * engine thread, so a job's numbers depend only on its spec and seed, and
 * the interruption comes once a checkpoint is recorded (polled with a
 * deadline, never slept for): a run that restarted from zero would then
 * report an epoch twice.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "itest.h"

#define JOB_MS 60000

TestSuite(resume, .init = begin_test, .fini = finish_test);

/* Interrupted and uninterrupted runs of this spec are compared. */
#define RESUME_EPOCHS 8
#define RESUME_SPEC                                                                                \
    "{\"algorithm\":\"train\",\"dataset\":\"synthetic\",\"architecture\":{\"space\":"              \
    "\"fixed-cnn\",\"channels\":[8,16],\"hidden\":32},\"budget\":{\"epochs\":8},\"seed\":11}"

typedef struct ckpt_wait {
    int port;
    const char *id;
    json_t *job; /* the last view */
} ckpt_wait;

static int has_checkpoint(void *ctx)
{
    ckpt_wait *w = ctx;
    json_decref(w->job);
    w->job = get_sub(w->port, w->id, "");
    const char *st = str_at(w->job, "state");
    if (st && !strcmp(st, "running") && int_at(w->job, "checkpoint.step") > 0)
        return 1;
    return is_final(st) ? -1 : 0;
}

/* Polls job id until it runs with a checkpoint; returns its view then. */
static json_t *wait_checkpoint(int port, const char *id)
{
    ckpt_wait w = {port, id, NULL};
    int r = nasd_wait_for(JOB_MS, has_checkpoint, &w);
    cr_assert_eq(r, 1, "job %s did not run with a checkpoint within %d ms: %s", id, JOB_MS,
                 text_of(w.job));
    return w.job;
}

/* The two results agree in all but wall-clock seconds. */
static void assert_same_result(int pa, const char *ia, int pb, const char *ib)
{
    json_t *ra = get_sub(pa, ia, "result"), *rb = get_sub(pb, ib, "result");
    cr_assert(json_is_object(at(ra, "details")) && json_is_object(at(rb, "details")));
    json_object_del(at(ra, "details"), "seconds");
    json_object_del(at(rb, "details"), "seconds");
    static const char *const keys[] = {"architecture", "metric", "value", "details"};
    for (size_t i = 0; i < 4; i++) {
        char *ta = json_dumps(at(ra, keys[i]), JSON_COMPACT | JSON_SORT_KEYS);
        char *tb = json_dumps(at(rb, keys[i]), JSON_COMPACT | JSON_SORT_KEYS);
        cr_assert(at(ra, keys[i]) && json_equal(at(ra, keys[i]), at(rb, keys[i])),
                  "result %s differs:\n resumed:       %s\n uninterrupted: %s", keys[i], ta, tb);
        free(ta);
        free(tb);
    }
    json_decref(ra);
    json_decref(rb);
}

/* Every train_loss the resumed job a reported equals the uninterrupted
 * job b's of the same epoch; epochs 1..done (finished before the
 * interruption, in the checkpoint) were reported once, not redone. */
static void assert_same_losses(int pa, const char *ia, int pb, const char *ib, int done)
{
    double want[RESUME_EPOCHS + 1];
    int count[RESUME_EPOCHS + 1] = {0};
    json_t *mb = get_sub(pb, ib, "metrics"), *ma = get_sub(pa, ia, "metrics"), *m;
    size_t i;
    json_array_foreach(json_object_get(mb, "metrics"), i, m)
    {
        json_int_t e = int_at(m, "epoch");
        if (!strcmp(str_at(m, "name"), "train_loss") && e >= 1 && e <= RESUME_EPOCHS) {
            want[e] = json_number_value(at(m, "value"));
            count[e]++;
        }
    }
    for (int e = 1; e <= RESUME_EPOCHS; e++)
        cr_assert_eq(count[e], 1, "uninterrupted run: epoch %d has %d train_loss values", e,
                     count[e]);
    memset(count, 0, sizeof(count));
    json_array_foreach(json_object_get(ma, "metrics"), i, m)
    {
        json_int_t e = int_at(m, "epoch");
        if (strcmp(str_at(m, "name"), "train_loss") != 0)
            continue;
        cr_assert(e >= 1 && e <= RESUME_EPOCHS, "train_loss of epoch %lld", (long long)e);
        double v = json_number_value(at(m, "value"));
        cr_assert(v == want[e], "epoch %lld: train_loss %.17g resumed, %.17g uninterrupted",
                  (long long)e, v, want[e]);
        count[e]++;
    }
    for (int e = 1; e <= RESUME_EPOCHS; e++)
        cr_assert(e <= done ? count[e] == 1 : count[e] >= 1,
                  "resumed run: epoch %d has %d train_loss values (%d epochs were checkpointed)", e,
                  count[e], done);
    json_decref(ma);
    json_decref(mb);
}

/* Runs the resume spec in a, which is interrupted (kill -9 when sigkill,
 * else SIGTERM) and restarted, and in b, which is left alone; checks that
 * a resumed from its checkpoint and ended where b did. */
static void interrupted_run(int sigkill)
{
    nasd_proc a, b;
    start_in(&a, NULL, itest_one_worker, NULL);
    start_in(&b, NULL, itest_one_worker, NULL);
    char ia[33], ib[33];
    submit(a.port, RESUME_SPEC, ia);
    submit(b.port, RESUME_SPEC, ib);

    /* Once an epoch-end checkpoint is recorded: a run that restarted from
     * zero would then report that epoch twice. */
    json_t *job = wait_checkpoint(a.port, ia);
    json_int_t ckpt = int_at(job, "checkpoint.step");
    json_int_t step = int_at(job, "progress.step"), steps = int_at(job, "progress.steps");
    cr_assert_eq(int_at(job, "progress.epochs"), RESUME_EPOCHS);
    json_decref(job);
    char line[512];
    long long shutdown_step = -1, resumed_step = -1;
    if (sigkill) {
        nasd_kill9(&a);
    } else {
        stop_ok(&a);
        cr_assert(nasd_log_after(&a, "shutdown: checkpoint at step ", line, sizeof(line)) &&
                      sscanf(line, "%lld", &shutdown_step) == 1,
                  "no shutdown checkpoint in the log");
        cr_assert(nasd_log_contains(&a, "checkpointed for shutdown"));
    }
    cr_assert(steps > 0 && ckpt < steps && step < steps,
              "the job was not interrupted mid-way (step %lld of %lld)", (long long)step,
              (long long)steps);
    int done = (int)(ckpt / (steps / RESUME_EPOCHS));

    start_in(&a, a.dir, itest_one_worker, NULL);
    cr_assert(nasd_log_contains(&a, "1 interrupted job(s) requeued"), "no recovery in the log");
    job = wait_job(a.port, ia, "succeeded", JOB_MS);
    cr_assert_eq(int_at(job, "attempt"), 2, "attempt %lld", (long long)int_at(job, "attempt"));
    json_decref(job);
    const char *rest = nasd_log_after(&a, "resumed from ", line, sizeof(line));
    rest = rest ? strstr(rest, ", step ") : NULL;
    cr_assert(rest && sscanf(rest, ", step %lld", &resumed_step) == 1,
              "the engine did not resume from a checkpoint");
    if (sigkill)
        cr_assert(resumed_step >= ckpt, "resumed at step %lld, before checkpoint %lld",
                  resumed_step, (long long)ckpt);
    else
        cr_assert_eq(resumed_step, shutdown_step, "resumed at step %lld, shut down at %lld",
                     resumed_step, shutdown_step);

    job = wait_job(b.port, ib, "succeeded", JOB_MS);
    cr_assert_eq(int_at(job, "attempt"), 1);
    json_decref(job);
    assert_same_result(a.port, ia, b.port, ib);
    assert_same_losses(a.port, ia, b.port, ib, done);
    stop_ok(&a);
    stop_ok(&b);
}

Test(resume, kill9_mid_job_then_restart_resumes)
{
    interrupted_run(1);
    PASS();
}

Test(resume, sigterm_checkpoints_then_restart_resumes)
{
    interrupted_run(0);
    PASS();
}
