// SPDX-License-Identifier: MIT
/*
 * test_concurrency.c - the engine's multi-threaded paths at once, as the
 * daemon drives them: several jobs on their own threads, each spreading
 * its kernels over the engine's thread pool, a DARTS search beside them,
 * and a stop flag set from another thread that makes a job checkpoint
 * and return, followed by its resume.
 *
 * The one design decision to know: a plain C program (exit 0 or 1), not
 * Criterion, because it is also the engine's ThreadSanitizer test, and
 * Criterion's runner does not run under TSan (Snaipe/Criterion#274):
 * tests/tsan.sh builds it with --enable-tsan and runs it with
 * halt_on_error. In every build it checks what concurrency must not
 * change: a job run beside others ends with the same numbers as alone.
 */
#include "nas.h"
#include "scale.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct run {
    nas_job_spec spec;
    _Atomic int stop;
    _Atomic long long steps; /* progress seen, read by the stopper */
    _Atomic int done;        /* nas_job_run returned */
    int rc;
    double value;
    char metric[32];
    char result[4096];
    int64_t ckpt_step;
    char err[256];
} run;

static int failures;

/* How long the stopper waits for the job to reach its step (a few
 * seconds are enough on a quiet machine). */
#define STOP_WAIT_MS 120000

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static void on_progress(void *ctx, const nas_job_progress *p)
{
    run *r = ctx;
    atomic_store(&r->steps, (long long)p->step);
}

static void on_checkpoint(void *ctx, const char *path, int64_t step)
{
    run *r = ctx;
    r->ckpt_step = step;
}

static void on_result(void *ctx, const char *arch, const char *metric, double value,
                      const char *result_json)
{
    run *r = ctx;
    r->value = value;
    snprintf(r->metric, sizeof(r->metric), "%s", metric);
    snprintf(r->result, sizeof(r->result), "%s", result_json ? result_json : "");
}

static void *run_main(void *arg)
{
    run *r = arg;
    nas_job_reporter rep = {r, on_progress, NULL, NULL, on_checkpoint, on_result, NULL};
    r->rc = nas_job_run(&r->spec, &rep, &r->stop);
    snprintf(r->err, sizeof(r->err), "%s", r->rc ? nas_errmsg() : "");
    atomic_store(&r->done, 1);
    return NULL;
}

static void train_spec(run *r, int epochs, int threads)
{
    memset(r, 0, sizeof(*r));
    r->spec.dataset = "synthetic";
    nas_job_spec_defaults(&r->spec);
    r->spec.channels[0] = 8;
    r->spec.channels[1] = 16;
    r->spec.nblocks = 2;
    r->spec.hidden = 32;
    r->spec.epochs = epochs;
    r->spec.seed = 5;
    r->spec.threads = threads;
}

static void darts_spec(run *r, int threads)
{
    memset(r, 0, sizeof(*r));
    r->spec.algorithm = "darts";
    r->spec.search_space = "darts-cnn";
    r->spec.dataset = "synthetic";
    nas_job_spec_defaults(&r->spec);
    r->spec.C = 4;
    r->spec.layers = 3;
    r->spec.batch_size = 8;
    r->spec.max_examples = 32;
    r->spec.epochs = 1;
    r->spec.seed = 9;
    r->spec.threads = threads;
}

/* Results of the same spec must agree exactly but in wall-clock seconds:
 * compares value and the result JSON with its "seconds" member cut. */
static void strip_seconds(char *s)
{
    char *p = strstr(s, "\"seconds\":");
    if (!p)
        return;
    char *end = p + strcspn(p, ",}");
    memmove(p, end, strlen(end) + 1);
}

int main(void)
{
    /* Alone, 2 pool threads: the reference. */
    run alone;
    train_spec(&alone, 1, 2);
    run_main(&alone);
    CHECK(alone.rc == NAS_OK, "train alone: %s", alone.err);
    strip_seconds(alone.result);

    /* Two copies of it, a DARTS search and a 1-thread train job at once. */
    enum { N = 4 };
    run *r = calloc(N, sizeof(run));
    CHECK(r, "out of memory");
    if (!r)
        return 1;
    train_spec(&r[0], 1, 2);
    train_spec(&r[1], 1, 2);
    darts_spec(&r[2], 2);
    train_spec(&r[3], 1, 1);
    pthread_t th[N];
    for (int i = 0; i < N; i++)
        CHECK(pthread_create(&th[i], NULL, run_main, &r[i]) == 0, "pthread_create");
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++)
        CHECK(r[i].rc == NAS_OK, "job %d: rc %d: %s", i, r[i].rc, r[i].err);
    for (int i = 0; i < 2; i++) {
        strip_seconds(r[i].result);
        CHECK(r[i].value == alone.value && !strcmp(r[i].result, alone.result),
              "job %d beside others: %s %.17g, alone %.17g\n  %s\n  %s", i, r[i].metric, r[i].value,
              alone.value, r[i].result, alone.result);
    }
    CHECK(!strcmp(r[2].metric, "val_accuracy"), "darts metric %s", r[2].metric);

    /* A stop from another thread mid-job: checkpoint, return, resume to
     * the end with the reference's numbers (3 epochs of 31 steps: stopped
     * in the second). */
    char dir[] = "/tmp/nasd-concurrency-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char ckpt[64];
    snprintf(ckpt, sizeof(ckpt), "%s/job.safetensors", dir);
    run ref, stopped;
    train_spec(&ref, 3, 2);
    run_main(&ref);
    CHECK(ref.rc == NAS_OK, "reference: %s", ref.err);
    strip_seconds(ref.result);
    train_spec(&stopped, 3, 2);
    stopped.spec.checkpoint_path = ckpt;
    stopped.spec.resume = 1;
    pthread_t job;
    CHECK(pthread_create(&job, NULL, run_main, &stopped) == 0, "pthread_create");
    /* Until step 40, the job's end (a failure) or a deadline: never a
     * wait without one. */
    int64_t deadline = test_now_ms() + test_scaled_ms(STOP_WAIT_MS);
    while (atomic_load(&stopped.steps) < 40 && !atomic_load(&stopped.done) &&
           test_now_ms() < deadline)
        usleep(1000);
    CHECK(atomic_load(&stopped.steps) >= 40, "the job to stop made %lld steps in %d ms%s",
          (long long)atomic_load(&stopped.steps), test_scaled_ms(STOP_WAIT_MS),
          atomic_load(&stopped.done) ? " and ended" : "");
    atomic_store(&stopped.stop, NAS_STOP_SHUTDOWN);
    pthread_join(job, NULL);
    CHECK(stopped.rc == NAS_ECANCELLED, "stopped job: rc %d: %s", stopped.rc, stopped.err);
    CHECK(access(ckpt, F_OK) == 0, "no checkpoint after the stop");
    int64_t at = stopped.ckpt_step;
    atomic_store(&stopped.stop, NAS_RUN);
    run_main(&stopped);
    CHECK(stopped.rc == NAS_OK, "resumed job: %s", stopped.err);
    strip_seconds(stopped.result);
    CHECK(stopped.value == ref.value && !strcmp(stopped.result, ref.result),
          "resumed (stopped at step %lld): %.17g, uninterrupted %.17g\n  %s\n  %s", (long long)at,
          stopped.value, ref.value, stopped.result, ref.result);
    unlink(ckpt);
    rmdir(dir);
    free(r);
    if (failures)
        fprintf(stderr, "test_concurrency: %d check(s) failed\n", failures);
    else
        printf("test_concurrency: 4 jobs at once (2 x train, darts, train) + stop/resume: ok\n");
    return failures ? 1 : 0;
}
