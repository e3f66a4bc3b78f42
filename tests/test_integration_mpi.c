// SPDX-License-Identifier: MIT
/*
 * test_integration_mpi.c - jobs on several Open MPI ranks (issue #18)
 * through a real nasd on a loopback port: what the API refuses (the 501s
 * and the max-ranks limit, and without Open MPI the 501 of any ranks > 1);
 * with Open MPI, a darts-cnn job on 2 ranks that ends like an in-process
 * one (the same views, keys and kinds of events) except for its
 * resources.ranks, a cancel that reaches the ranks and leaves no process
 * behind, a kill -9 of nasd that takes the ranks along and a resume to the
 * uninterrupted run's numbers, and one rank through mpirun giving the
 * in-process job's numbers bit for bit; a nas-rl job whose children train
 * on 2 ranks with the in-process job's architectures and rewards.
 *
 * The one design decision to know: the ranks talk over TCP on loopback
 * (--mca btl tcp,self), the path separate hosts take, with more ranks
 * than cores allowed; they yield when idle, so that busy-polling ranks do
 * not starve each other on a small machine.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "itest.h"
#include "scale.h"

#define JOB_MS 120000

/* Open MPI keeps allocations to its exit: no leak report from the ranks
 * of an ASan build (ASan itself stays on). */
#define MPIRUN_ARGS                                                                                \
    "--mca btl tcp,self --oversubscribe --bind-to none --mca mpi_yield_when_idle 1 "               \
    "-x ASAN_OPTIONS=detect_leaks=0"

static const char *const flags[] = {"--workers",   "1", "--threads-per-job", "1",
                                    "--max-ranks", "3", "--mpirun-args",     MPIRUN_ARGS,
                                    NULL};

/* A darts-cnn search of 2 steps on the synthetic dataset; %s: more of
 * the spec (its resources, a budget). */
#define TINY_DARTS                                                                                 \
    "{\"algorithm\":\"darts\",\"dataset\":\"synthetic\",\"seed\":5,"                               \
    "\"hyperparameters\":{\"C\":4,\"layers\":3,\"batch_size\":8,\"max_examples\":32}%s}"

TestSuite(mpi, .init = begin_test, .fini = finish_test);

static json_t *refused(int port, const char *body, int status, const char *slug, const char *ptr)
{
    json_t *p = post_problem(port, body, status, slug);
    cr_assert_str_eq(str_at(p, "pointer"), ptr, "%s", text_of(p));
    return p;
}

Test(mpi, what_the_api_refuses)
{
    nasd_proc d;
    start_in(&d, NULL, flags, NULL);
    char body[1024];
    snprintf(body, sizeof body, TINY_DARTS, ",\"resources\":{\"ranks\":0}");
    json_decref(refused(d.port, body, 400, "invalid-field", "/resources/ranks"));
    snprintf(body, sizeof body, TINY_DARTS, ",\"resources\":{\"rank\":2}");
    json_decref(refused(d.port, body, 400, "unknown-field", "/resources/rank"));
#ifdef NASD_HAVE_MPI
    snprintf(body, sizeof body, TINY_DARTS, ",\"resources\":{\"ranks\":4}");
    json_t *p = refused(d.port, body, 400, "limit-exceeded", "/resources/ranks");
    cr_assert(strstr(str_at(p, "detail"), "max-ranks"), "%s", text_of(p));
    json_decref(p);
    /* Not distributed yet: another space, a final training. */
    json_decref(refused(d.port,
                        "{\"algorithm\":\"darts\",\"search_space\":\"darts-rnn\","
                        "\"dataset\":\"fortunes\",\"resources\":{\"ranks\":2}}",
                        501, "not-implemented", "/resources/ranks"));
    json_decref(refused(d.port, "{\"algorithm\":\"enas\",\"resources\":{\"ranks\":2}}", 501,
                        "not-implemented", "/resources/ranks"));
    snprintf(body, sizeof body, TINY_DARTS,
             ",\"final_training\":{\"enabled\":true},\"resources\":{\"ranks\":2}");
    json_decref(refused(d.port, body, 501, "not-implemented", "/resources/ranks"));
    json_decref(refused(d.port,
                        "{\"algorithm\":\"nas-rl\",\"final_training\":{\"enabled\":true},"
                        "\"resources\":{\"ranks\":2}}",
                        501, "not-implemented", "/resources/ranks"));
#else
    snprintf(body, sizeof body, TINY_DARTS, ",\"resources\":{\"ranks\":2}");
    json_t *p = refused(d.port, body, 501, "not-implemented", "/resources/ranks");
    cr_assert(strstr(str_at(p, "detail"), "Open MPI"), "%s", text_of(p));
    json_decref(p);
#endif
    /* The default, written out in the stored spec. */
    char id[33];
    snprintf(body, sizeof body, TINY_DARTS, ",\"budget\":{\"epochs\":1}");
    json_t *job = submit_with(d.port, body, NULL, id);
    cr_assert_eq(int_at(job, "spec.resources.ranks"), 1, "%s", text_of(job));
    json_decref(job);
    wait_state(d.port, id, "succeeded");
    stop_ok(&d);
    PASS();
}

#ifdef NASD_HAVE_MPI

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of object o, sorted, as one string. */
static void keys_of(json_t *o, char *out, size_t n)
{
    const char *names[64];
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (k < 64)
            names[k++] = key;
    }
    qsort(names, k, sizeof names[0], by_name);
    out[0] = '\0';
    for (size_t i = 0; i < k; i++)
        snprintf(out + strlen(out), n - strlen(out), "%s,", names[i]);
}

static void same_keys(json_t *a, json_t *b, const char *what)
{
    char ka[2048], kb[2048];
    keys_of(a, ka, sizeof ka);
    keys_of(b, kb, sizeof kb);
    cr_assert_str_eq(ka, kb, "%s: the keys differ", what);
}

Test(mpi, two_ranks_look_like_one_process, .timeout = 600)
{
    nasd_proc d;
    start_in(&d, NULL, flags, NULL);
    char body[1024], one[33], two[33];
    snprintf(body, sizeof body, TINY_DARTS, ",\"budget\":{\"epochs\":1}");
    submit(d.port, body, one);
    snprintf(body, sizeof body, TINY_DARTS,
             ",\"budget\":{\"epochs\":1},\"resources\":{\"ranks\":2}");
    submit(d.port, body, two);
    json_decref(wait_job(d.port, one, "succeeded", JOB_MS));
    json_t *j2 = wait_job(d.port, two, "succeeded", JOB_MS);
    json_t *j1 = get_sub(d.port, one, "");
    cr_assert_eq(int_at(j2, "spec.resources.ranks"), 2, "%s", text_of(j2));
    same_keys(j1, j2, "the job");
    same_keys(at(j1, "metrics"), at(j2, "metrics"), "the metrics");
    cr_assert_eq(int_at(j2, "progress.step"), int_at(j1, "progress.step"));
    cr_assert_eq(int_at(j2, "checkpoint.step"), int_at(j1, "checkpoint.step"), "%s", text_of(j2));
    json_t *r1 = get_sub(d.port, one, "result"), *r2 = get_sub(d.port, two, "result");
    same_keys(r1, r2, "the result");
    same_keys(at(r1, "details"), at(r2, "details"), "the result's details");
    cr_assert_str_eq(str_at(r2, "metric"), "val_accuracy");
    /* Two ranks train on the same global batches: the losses agree with
     * one process's to float rounding, not bit for bit. */
    double l1 = json_number_value(at(r1, "details.train_loss"));
    double l2 = json_number_value(at(r2, "details.train_loss"));
    cr_assert(fabs(l1 - l2) <= 1e-5 * fabs(l1), "train loss %.17g on 2 ranks, %.17g on 1", l2, l1);
    json_t *a1 = get_sub(d.port, one, "architectures"), *a2 = get_sub(d.port, two, "architectures");
    cr_assert_eq(json_array_size(at(a2, "architectures")), json_array_size(at(a1, "architectures")),
                 "%s", text_of(a2));
    json_decref(a1);
    json_decref(a2);
    json_decref(r1);
    json_decref(r2);
    json_decref(j1);
    json_decref(j2);
    stop_ok(&d);
    PASS();
}

/* The living children of pid (zombies do not count), from /proc: their
 * count, the first max of them in out (may be NULL). */
static int children_of(pid_t pid, pid_t *out, int max)
{
    int n = 0;
    DIR *dir = opendir("/proc");
    struct dirent *e;
    while (dir && (e = readdir(dir))) {
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t k = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[k] = '\0';
        char *rp = strrchr(buf, ')');
        int ppid = 0;
        char st = 0;
        if (rp && sscanf(rp + 1, " %c %d", &st, &ppid) == 2 && ppid == pid && st != 'Z') {
            if (out && n < max)
                out[n] = (pid_t)atoi(e->d_name);
            n++;
        }
    }
    if (dir)
        closedir(dir);
    return n;
}

/* Whether process pid still lives (a zombie does not). */
static int alive(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t k = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[k] = '\0';
    char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' && rp[2] != 'Z';
}

/* Until job id has made a step on its ranks (or, with ckpt, recorded a
 * checkpoint). */
static void wait_running(int port, const char *id, int ckpt)
{
    int64_t deadline = test_now_ms() + test_scaled_ms(JOB_MS);
    for (;;) {
        json_t *j = get_sub(port, id, "");
        int there = ckpt ? int_at(j, "checkpoint.step") >= 1 : int_at(j, "progress.step") >= 1;
        json_decref(j);
        if (there)
            return;
        cr_assert(test_now_ms() < deadline, "job %s: no %s in time", id,
                  ckpt ? "checkpoint" : "step");
        usleep(100000);
    }
}

Test(mpi, cancel_reaches_the_ranks, .timeout = 600)
{
    nasd_proc d;
    start_in(&d, NULL, flags, NULL);
    char body[1024], id[33];
    snprintf(body, sizeof body, TINY_DARTS,
             ",\"budget\":{\"epochs\":10000},\"resources\":{\"ranks\":2}");
    submit(d.port, body, id);
    wait_running(d.port, id, 0);
    cr_assert_geq(children_of(d.pid, NULL, 0), 1, "mpirun is nasd's child while the job runs");
    cancel(d.port, id);
    json_decref(wait_job(d.port, id, "cancelled", JOB_MS));
    /* The slot is free only after mpirun has exited. */
    cr_assert_eq(children_of(d.pid, NULL, 0), 0, "mpirun outlived its cancelled job");
    stop_ok(&d);
    PASS();
}

/* kill -9 of nasd mid-job: mpirun and the ranks go with it, and the next
 * nasd resumes the job from rank 0's checkpoint on the same 2 ranks, to
 * the numbers of an uninterrupted run on 2 ranks, bit for bit. */
Test(mpi, kill9_takes_the_ranks_along_and_the_job_resumes, .timeout = 900)
{
    nasd_proc d;
    start_in(&d, NULL, flags, NULL);
    char body[1024], whole[33], cut[33];
    snprintf(body, sizeof body, TINY_DARTS,
             ",\"budget\":{\"epochs\":3},\"resources\":{\"ranks\":2}");
    submit(d.port, body, whole);
    json_t *w = wait_job(d.port, whole, "succeeded", JOB_MS);
    json_t *rw = get_sub(d.port, whole, "result");
    submit(d.port, body, cut);
    wait_running(d.port, cut, 1);
    pid_t mpirun[4], ranks[8];
    cr_assert_eq(children_of(d.pid, mpirun, 4), 1, "one mpirun under nasd");
    int nr = children_of(mpirun[0], ranks, 8);
    cr_assert_geq(nr, 2, "the ranks are mpirun's children");
    nasd_kill9(&d);
    int64_t deadline = test_now_ms() + test_scaled_ms(ITEST_STOP_MS);
    for (;;) {
        int left = alive(mpirun[0]);
        for (int i = 0; i < nr; i++)
            left += alive(ranks[i]);
        if (!left)
            break;
        cr_assert(test_now_ms() < deadline, "%d of mpirun and its ranks outlived nasd", left);
        usleep(50000);
    }
    start_in(&d, d.dir, flags, NULL);
    json_t *c = wait_job(d.port, cut, "succeeded", JOB_MS);
    cr_assert_eq(int_at(c, "attempt"), 2, "%s", text_of(c));
    json_t *rc = get_sub(d.port, cut, "result");
    cr_assert(json_equal(at(rc, "details.alpha"), at(rw, "details.alpha")),
              "the resumed run's alphas differ from the uninterrupted run's");
    cr_assert_eq(int_at(rc, "details.steps"), int_at(rw, "details.steps"));
    json_decref(w);
    json_decref(rw);
    json_decref(c);
    json_decref(rc);
    stop_ok(&d);
    PASS();
}

/* Runs mpirun -np np nasd-rank --threads 1 [--checkpoint ckpt] SPEC with
 * its stdin open until it ends; returns the "result" line's result JSON.
 * logs (may be NULL) gets rank 0's log lines, one per line. */
static json_t *on_ranks(const char *spec_text, int np, const char *ckpt, char *logs, size_t n)
{
    char prog[PATH_MAX], nps[16];
    const char *nasd = getenv("NASD");
    snprintf(prog, sizeof prog, "%s-rank", nasd ? nasd : "./nasd");
    snprintf(nps, sizeof nps, "%d", np);
    int in[2], out[2];
    cr_assert(pipe(in) == 0 && pipe(out) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
        setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
        const char *argv[] = {"mpirun",
                              "--mca",
                              "btl",
                              "tcp,self",
                              "--oversubscribe",
                              "-x",
                              "ASAN_OPTIONS=detect_leaks=0",
                              "-np",
                              nps,
                              prog,
                              "--threads",
                              "1",
                              ckpt ? "--checkpoint" : spec_text,
                              ckpt ? ckpt : NULL,
                              ckpt ? spec_text : NULL,
                              NULL};
        execvp("mpirun", (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    FILE *f = fdopen(out[0], "r");
    char *line = NULL;
    size_t cap = 0;
    json_t *result = NULL;
    if (logs)
        logs[0] = '\0';
    while (getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        if (o && !strcmp(str_at(o, "ev"), "result"))
            result = json_loads(str_at(o, "result"), 0, NULL);
        if (o && logs && !strcmp(str_at(o, "ev"), "log"))
            snprintf(logs + strlen(logs), n - strlen(logs), "%s\n", str_at(o, "msg"));
        json_decref(o);
    }
    free(line);
    fclose(f);
    close(in[1]);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "mpirun failed");
    cr_assert(result, "no result line");
    return result;
}

/* A checkpoint of 2 ranks resumed on 1: the same weights (the alphas of
 * the finished search, nothing left to train), and it says the numbers
 * are no longer bit-exact. */
Test(mpi, another_rank_count_resumes_and_says_so, .timeout = 600)
{
    nasd_proc d;
    start_in(&d, NULL, flags, NULL);
    char body[1024], id[33], ckpt[PATH_MAX + 16], logs[8192];
    snprintf(body, sizeof body, TINY_DARTS, ",\"budget\":{\"epochs\":1}");
    json_t *job = submit_with(d.port, body, NULL, id);
    char *spec = json_dumps(at(job, "spec"), JSON_COMPACT);
    snprintf(ckpt, sizeof ckpt, "%s/two.ckpt", d.dir);
    json_t *two = on_ranks(spec, 2, ckpt, logs, sizeof logs);
    cr_assert(!strstr(logs, "no longer bit-exact"), "%s", logs);
    json_t *one = on_ranks(spec, 1, ckpt, logs, sizeof logs);
    cr_assert(strstr(logs, "written on 2 rank(s), resumed on 1") &&
                  strstr(logs, "no longer bit-exact"),
              "%s", logs);
    cr_assert(json_equal(at(one, "alpha"), at(two, "alpha")), "the weights did not carry over");
    free(spec);
    json_decref(one);
    json_decref(two);
    json_decref(job);
    wait_state(d.port, id, "succeeded");
    stop_ok(&d);
    PASS();
}

Test(mpi, one_rank_through_mpirun_is_the_in_process_run, .timeout = 600)
{
    nasd_proc d;
    start_in(&d, NULL, flags, NULL);
    char body[1024], id[33];
    snprintf(body, sizeof body, TINY_DARTS, ",\"budget\":{\"epochs\":1}");
    submit(d.port, body, id);
    json_t *job = wait_job(d.port, id, "succeeded", JOB_MS);
    char *spec = json_dumps(at(job, "spec"), JSON_COMPACT);
    json_t *mine = on_ranks(spec, 1, NULL, NULL, 0);
    json_t *theirs = get_sub(d.port, id, "result");
    /* The alphas are the engine's floats, printed exactly. */
    cr_assert(json_equal(at(mine, "alpha"), at(theirs, "details.alpha")), "alpha %s vs %s",
              text_of(at(mine, "alpha")), text_of(at(theirs, "details.alpha")));
    cr_assert_str_eq(str_at(mine, "genotype"), str_at(theirs, "details.genotype"));
    cr_assert_eq(int_at(mine, "steps"), int_at(theirs, "details.steps"));
    free(spec);
    json_decref(mine);
    json_decref(theirs);
    json_decref(job);
    stop_ok(&d);
    PASS();
}

/* A nas-rl search of 2 updates of 2 children on the synthetic dataset. */
#define TINY_RL                                                                                    \
    "{\"algorithm\":\"nas-rl\",\"dataset\":\"synthetic\",\"seed\":5,"                              \
    "\"budget\":{\"max_architectures\":4},\"hyperparameters\":{\"child_epochs\":1,"                \
    "\"children_per_update\":2,\"lstm_size\":16,\"start_layers\":2,\"max_layers\":2,"              \
    "\"num_filters\":[4,6],\"max_examples\":200}%s}"

/* Each child trains whole on one rank with one engine thread, as each
 * child of the in-process job does on its thread (--threads-per-job 1):
 * the same rewards bit for bit, so the controller learns the same and
 * the second update samples the same architectures. */
Test(mpi, nasrl_children_on_two_ranks_are_the_in_process_children, .timeout = 600)
{
    nasd_proc d;
    start_in(&d, NULL, flags, NULL);
    char body[1024], one[33], two[33];
    snprintf(body, sizeof body, TINY_RL, "");
    submit(d.port, body, one);
    snprintf(body, sizeof body, TINY_RL, ",\"resources\":{\"ranks\":2}");
    submit(d.port, body, two);
    json_decref(wait_job(d.port, one, "succeeded", JOB_MS));
    json_t *j2 = wait_job(d.port, two, "succeeded", JOB_MS);
    cr_assert_eq(int_at(j2, "spec.resources.ranks"), 2, "%s", text_of(j2));
    json_t *a1 = get_sub(d.port, one, "architectures"), *a2 = get_sub(d.port, two, "architectures");
    json_t *l1 = at(a1, "architectures"), *l2 = at(a2, "architectures");
    cr_assert_eq(json_array_size(l1), 4, "%s", text_of(a1));
    cr_assert_eq(json_array_size(l2), 4, "%s", text_of(a2));
    for (size_t i = 0; i < 4; i++) {
        json_t *r1 = json_array_get(l1, i), *r2 = json_array_get(l2, i);
        cr_assert(json_equal(at(r1, "architecture"), at(r2, "architecture")),
                  "architecture %zu: %s vs %s", i, text_of(r1), text_of(r2));
        cr_assert_eq(json_number_value(at(r1, "reward")), json_number_value(at(r2, "reward")),
                     "reward %zu: %.17g in process, %.17g on 2 ranks", i,
                     json_number_value(at(r1, "reward")), json_number_value(at(r2, "reward")));
        /* the reward is a coarse accuracy; the loss shows every bit */
        double t1 = json_number_value(at(r1, "metrics.train_loss"));
        double t2 = json_number_value(at(r2, "metrics.train_loss"));
        cr_assert(t1 > 0 && t1 == t2, "train loss %zu: %.17g in process, %.17g on 2 ranks", i, t1,
                  t2);
    }
    json_t *r1 = get_sub(d.port, one, "result"), *r2 = get_sub(d.port, two, "result");
    cr_assert(json_equal(at(r1, "architecture"), at(r2, "architecture")), "%s vs %s", text_of(r1),
              text_of(r2));
    json_decref(r1);
    json_decref(r2);
    json_decref(a1);
    json_decref(a2);
    json_decref(j2);
    stop_ok(&d);
    PASS();
}

#endif

/* One test at a time. Two of these tests at once put four ranks and two
 * nasds on a 2-core machine, and under LeakSanitizer Criterion's runner
 * then kept 48 bytes of its own (kill9_... beside one_rank_... leaked in
 * every parallel run tried, never with --jobs 1). */
int main(int argc, char *argv[])
{
    struct criterion_test_set *tests = criterion_initialize();
    criterion_options.jobs = 1;
    int result = 0;
    if (criterion_handle_args(argc, argv, true))
        result = !criterion_run_all_tests(tests);
    criterion_finalize(tests);
    return result;
}
