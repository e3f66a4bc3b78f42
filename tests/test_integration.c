// SPDX-License-Identifier: MIT
/*
 * test_integration.c - nasd end to end: a real daemon on an ephemeral
 * loopback port with a temporary state directory, driven over HTTP.
 * Submit and poll to completion, list and paging, server-sent events and
 * their cap, cancel and delete, every 4xx the API promises, idempotency
 * and the service endpoints (a stop mid-job and its resume:
 * tests/test_integration_resume.c).
 *
 * The one design decision to know: nothing here sleeps hoping something
 * happened. Every wait polls a condition (a job's state, a checkpoint
 * step, the stream count) with a deadline, and every daemon runs one
 * worker with one engine thread, so a job's numbers depend only on its
 * spec and seed. Jobs are small CNNs on the synthetic dataset; a "long"
 * job is one with a budget of many epochs that a test cancels.
 */
#include <criterion/criterion.h>

#include <dirent.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "itest.h"

/* Deadlines are generous: the suite also runs under ASan on 2 cores. They
 * bound every wait and request, so no Criterion .timeout is needed (its
 * watchdog's allocation shows up as a leak under LeakSanitizer with
 * libcriterion 2.4.1). */
#define JOB_MS 60000
#define EVENT_MS 20000

#define ARCH "\"architecture\":{\"space\":\"fixed-cnn\",\"channels\":[8,16],\"hidden\":32}"
/* Long enough to watch, cancel or interrupt; never run to its end. */
static const char long_job[] = "{\"algorithm\":\"train\",\"dataset\":\"synthetic\"," ARCH
                               ",\"budget\":{\"epochs\":1000},\"seed\":1}";

TestSuite(nasd, .init = begin_test, .fini = finish_test);

/* A small train job's spec (static buffer). */
static const char *train_spec(int epochs, int seed)
{
    static char spec[512];
    snprintf(spec, sizeof(spec),
             "{\"algorithm\":\"train\",\"dataset\":\"synthetic\"," ARCH
             ",\"budget\":{\"epochs\":%d},\"seed\":%d}",
             epochs, seed);
    return spec;
}

/* A job list's ids, joined by spaces, in list order (static buffer). */
static const char *ids_of(json_t *page)
{
    static char out[1024];
    size_t i;
    json_t *j;
    out[0] = '\0';
    json_array_foreach(json_object_get(page, "jobs"), i, j)
    {
        if (out[0])
            strncat(out, " ", sizeof(out) - strlen(out) - 1);
        strncat(out, str_at(j, "id") ? str_at(j, "id") : "?", sizeof(out) - strlen(out) - 1);
    }
    return out;
}

/* ======================================================= submit and list */

Test(nasd, submit_poll_result_and_list)
{
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, NULL);
    char j[33], l[33], q[33];

    json_t *job = submit_with(d.port, train_spec(3, 7), NULL, j);
    const char *st = str_at(job, "state");
    cr_assert(st && (!strcmp(st, "queued") || !strcmp(st, "running")), "new job is %s", st);
    cr_assert_eq(int_at(job, "spec.seed"), 7);
    cr_assert_eq(int_at(job, "spec.budget.epochs"), 3);
    cr_assert_str_eq(str_at(job, "spec.architecture.space"), "fixed-cnn");
    json_decref(job);

    job = wait_job(d.port, j, "succeeded", JOB_MS);
    cr_assert_eq(int_at(job, "attempt"), 1);
    static const char *const progress_keys[] = {"epoch", "epochs", "step", "fraction",
                                                "eta_seconds"};
    for (size_t k = 0; k < 5; k++)
        cr_assert(json_object_get(at(job, "progress"), progress_keys[k]), "progress lacks %s",
                  progress_keys[k]);
    cr_assert_eq(int_at(job, "progress.epoch"), 3);
    cr_assert_eq(int_at(job, "progress.epochs"), 3);
    cr_assert(json_number_value(at(job, "progress.fraction")) == 1.0);
    cr_assert(json_is_number(at(job, "metrics.test_accuracy.value")), "no latest test_accuracy");
    cr_assert(json_is_object(at(job, "best_architecture")), "no best architecture");
    cr_assert(json_is_null(at(job, "error")), "error is not null");
    json_decref(job);

    json_t *res = get_sub(d.port, j, "result");
    cr_assert_str_eq(str_at(res, "metric"), "test_accuracy");
    cr_assert(json_is_number(at(res, "value")), "result value is not a number");
    double v = json_number_value(at(res, "value"));
    cr_assert(v >= 0.0 && v <= 1.0, "test_accuracy %g is not in [0, 1]", v);
    cr_assert_str_eq(str_at(res, "architecture.space"), "fixed-cnn");
    json_t *want_channels = json_pack("[i,i]", 8, 16);
    cr_assert(json_equal(at(res, "architecture.channels"), want_channels));
    json_decref(want_channels);

    /* One train_loss per epoch, in order. */
    json_t *metrics = get_sub(d.port, j, "metrics");
    int seen[4] = {0};
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(metrics, "metrics"), i, m)
    {
        if (strcmp(str_at(m, "name"), "train_loss") != 0)
            continue;
        json_int_t e = int_at(m, "epoch");
        cr_assert(e >= 1 && e <= 3, "train_loss of epoch %lld", (long long)e);
        cr_assert(json_is_number(at(m, "value")));
        seen[e]++;
    }
    for (int e = 1; e <= 3; e++)
        cr_assert_eq(seen[e], 1, "epoch %d has %d train_loss values", e, seen[e]);
    json_decref(metrics);

    json_t *archs = get_sub(d.port, j, "architectures");
    json_t *list = json_object_get(archs, "architectures");
    cr_assert_eq(json_array_size(list), 1);
    cr_assert(json_equal(at(json_array_get(list, 0), "architecture"), at(res, "architecture")),
              "the architecture listed is not the result's");
    json_decref(archs);
    json_decref(res);

    /* One running and one cancelled job next to the succeeded one. */
    submit(d.port, long_job, l);
    wait_state(d.port, l, "running");
    submit(d.port, train_spec(1, 2), q);
    char path[128];
    snprintf(path, sizeof(path), "/v1/jobs/%s:cancel", q);
    json_decref(call(d.port, "POST", path, NULL, 200));

    json_t *page = call(d.port, "GET", "/v1/jobs", NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(page, "jobs")), 3, "%s", ids_of(page));
    cr_assert(strstr(ids_of(page), j), "the list lacks job %s", j);
    json_decref(page);
    const struct {
        const char *state;
        const char *id;
    } filters[] = {{"succeeded", j}, {"running", l}, {"cancelled", q}};
    for (size_t f = 0; f < 3; f++) {
        snprintf(path, sizeof(path), "/v1/jobs?state=%s", filters[f].state);
        page = call(d.port, "GET", path, NULL, 200);
        cr_assert_str_eq(ids_of(page), filters[f].id, "?state=%s", filters[f].state);
        cr_assert_str_eq(str_at(json_array_get(json_object_get(page, "jobs"), 0), "state"),
                         filters[f].state);
        json_decref(page);
    }

    /* page_size=1 walks every job once. */
    char walked[1024] = "", token[256] = "";
    int pages = 0;
    for (;;) {
        if (token[0])
            snprintf(path, sizeof(path), "/v1/jobs?page_size=1&page_token=%s", token);
        else
            snprintf(path, sizeof(path), "/v1/jobs?page_size=1");
        page = call(d.port, "GET", path, NULL, 200);
        cr_assert_eq(json_array_size(json_object_get(page, "jobs")), 1, "page %d", pages);
        strncat(walked, ids_of(page), sizeof(walked) - strlen(walked) - 2);
        strcat(walked, " ");
        pages++;
        const char *next = str_at(page, "next_page_token");
        cr_assert(next || json_is_null(at(page, "next_page_token")), "next_page_token missing");
        if (next) {
            static const char unreserved[] = "abcdefghijklmnopqrstuvwxyz"
                                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~";
            cr_assert(strlen(next) < sizeof(token) && strspn(next, unreserved) == strlen(next),
                      "page_token %s needs escaping", next);
            snprintf(token, sizeof(token), "%s", next);
        }
        json_decref(page);
        if (!next)
            break;
        cr_assert(pages < 10, "paging does not end");
    }
    cr_assert_eq(pages, 3, "walked %s", walked);
    cr_assert(strstr(walked, j) && strstr(walked, l) && strstr(walked, q), "walked %s", walked);
    json_decref(
        expect_problem(d.port, "GET", "/v1/jobs?page_token=nonsense", NULL, 400, "invalid-field"));
    json_decref(expect_problem(d.port, "GET", "/v1/jobs?state=done", NULL, 400, "invalid-field"));
    json_t *p = expect_problem(d.port, "GET", "/v1/jobs?page_size=0", NULL, 400, "invalid-field");
    cr_assert_eq(int_at(p, "allowed.minimum"), 1);
    json_decref(p);

    /* SIGTERM with a job running: it is checkpointed, and nasd exits 0. */
    stop_ok(&d);
    cr_assert(nasd_log_contains(&d, "checkpointed for shutdown"));
    PASS();
}

/* ================================================================ events */

/* Reads the next event, which must come within EVENT_MS. */
static json_t *next_event(sse *s, char *name, size_t n)
{
    json_t *data = NULL;
    int r = sse_next(s, EVENT_MS, name, n, &data);
    cr_assert_eq(r, 1, "no event within %d ms (%s)", EVENT_MS, r ? http_errmsg() : "stream ended");
    cr_assert(json_is_object(data), "event %s without JSON object data", name);
    return data;
}

static sse *open_stream(int port, const char *id)
{
    char path[128], ct[64];
    snprintf(path, sizeof(path), "/v1/jobs/%s/events", id);
    sse *s;
    http_resp r;
    int status = sse_open(port, path, HTTP_TIMEOUT_MS, &s, &r);
    cr_assert_eq(status, 200, "GET %s: %d %s", path, status, status < 0 ? http_errmsg() : "");
    cr_assert(http_header(&r, "Content-Type", ct, sizeof(ct)));
    cr_assert_str_eq(ct, "text/event-stream");
    http_resp_free(&r);
    return s;
}

Test(nasd, events_follow_a_job_to_its_end)
{
    /* No heartbeat within the test's deadlines: every event must be
     * delivered when it happens, not when a heartbeat happens to wake the
     * stream's connection up. */
    static const char *const extra[] = {"--heartbeat-seconds", "3600", NULL};
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, extra);
    char b[33], w[33], name[32], path[128];

    /* A job queued behind a busy worker: the stream sees all of its life. */
    submit(d.port, long_job, b);
    wait_state(d.port, b, "running");
    submit(d.port, train_spec(4, 3), w);
    sse *s = open_stream(d.port, w);
    json_t *ev = next_event(s, name, sizeof(name));
    cr_assert_str_eq(name, "state");
    cr_assert_str_eq(str_at(ev, "id"), w);
    cr_assert_str_eq(str_at(ev, "state"), "queued");
    json_decref(ev);

    /* A queued job cancelled while watched: its final state, then the end. */
    char q[33];
    submit(d.port, train_spec(1, 6), q);
    sse *sq = open_stream(d.port, q);
    ev = next_event(sq, name, sizeof(name));
    cr_assert_str_eq(str_at(ev, "state"), "queued");
    json_decref(ev);
    snprintf(path, sizeof(path), "/v1/jobs/%s:cancel", q);
    json_decref(call(d.port, "POST", path, NULL, 200));
    ev = next_event(sq, name, sizeof(name));
    cr_assert_str_eq(name, "state");
    cr_assert_str_eq(str_at(ev, "state"), "cancelled");
    json_decref(ev);
    json_t *data = NULL;
    cr_assert_eq(sse_next(sq, EVENT_MS, name, sizeof(name), &data), 0);
    sse_close(sq);

    /* The worker frees up: w runs while its stream watches. */
    snprintf(path, sizeof(path), "/v1/jobs/%s:cancel", b);
    json_decref(call(d.port, "POST", path, NULL, 202));

    int running = 0, progress = 0, losses = 0;
    double last_fraction = -1;
    for (int i = 0;; i++) {
        cr_assert(i < 100000, "the stream does not end");
        ev = next_event(s, name, sizeof(name));
        if (!strcmp(name, "state")) {
            const char *st = str_at(ev, "state");
            cr_assert_str_eq(str_at(ev, "id"), w);
            if (!strcmp(st, "running")) {
                running++;
            } else {
                cr_assert_str_eq(st, "succeeded", "final state event: %s", st);
                json_decref(ev);
                break;
            }
        } else if (!strcmp(name, "progress")) {
            cr_assert(running, "progress before the running state");
            double f = json_number_value(at(ev, "fraction"));
            cr_assert(f >= last_fraction && f <= 1.0, "fraction %g after %g", f, last_fraction);
            last_fraction = f;
            progress++;
        } else if (!strcmp(name, "metric")) {
            cr_assert(running, "metric before the running state");
            if (!strcmp(str_at(ev, "name"), "train_loss"))
                losses++;
        } else {
            cr_assert_str_eq(name, "architecture", "unexpected event %s", name);
        }
        json_decref(ev);
    }
    cr_assert_eq(running, 1);
    cr_assert(progress > 0, "no progress events");
    cr_assert_eq(losses, 4, "train_loss events: %d", losses);
    cr_assert_eq(sse_next(s, EVENT_MS, name, sizeof(name), &data), 0,
                 "the stream went on after the final state (%s)", name);
    sse_close(s);

    /* A finished job's stream: its state, then the end. */
    s = open_stream(d.port, w);
    ev = next_event(s, name, sizeof(name));
    cr_assert_str_eq(name, "state");
    cr_assert_str_eq(str_at(ev, "state"), "succeeded");
    json_decref(ev);
    cr_assert_eq(sse_next(s, EVENT_MS, name, sizeof(name), &data), 0);
    sse_close(s);

    wait_state(d.port, b, "cancelled");
    stop_ok(&d);
    PASS();
}

typedef struct stream_count {
    int port, want;
} stream_count;

static int streams_are(void *ctx)
{
    stream_count *c = ctx;
    json_t *h = call(c->port, "GET", "/healthz", NULL, 200);
    int n = (int)int_at(h, "streams");
    json_decref(h);
    return n == c->want;
}

Test(nasd, event_stream_cap_and_disconnect)
{
    static const char *const extra[] = {"--max-streams", "1", "--heartbeat-seconds", "1", NULL};
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, extra);
    char l[33], q[33], name[32], path[128], ra[32];

    /* A queued job publishes nothing: only heartbeats reach its streams. */
    submit(d.port, long_job, l);
    wait_state(d.port, l, "running");
    submit(d.port, train_spec(1, 5), q);
    sse *s = open_stream(d.port, q);
    json_t *ev = next_event(s, name, sizeof(name));
    cr_assert_str_eq(str_at(ev, "state"), "queued");
    json_decref(ev);

    snprintf(path, sizeof(path), "/v1/jobs/%s/events", q);
    sse *second = NULL;
    http_resp r;
    int status = sse_open(d.port, path, HTTP_TIMEOUT_MS, &second, &r);
    cr_assert_eq(status, 429, "second stream: %d", status);
    cr_assert_null(second);
    json_decref(problem(&r, 429, "too-many-streams"));
    cr_assert(http_header(&r, "Retry-After", ra, sizeof(ra)), "429 without Retry-After");
    cr_assert(atoi(ra) > 0, "Retry-After: %s", ra);
    http_resp_free(&r);

    /* The client goes away; a heartbeat finds out and frees the slot. */
    sse_close(s);
    stream_count none = {d.port, 0};
    cr_assert(nasd_wait_for(10000, streams_are, &none),
              "the slot of a closed stream was not freed within 10 s (heartbeat 1 s)");
    s = open_stream(d.port, q);
    ev = next_event(s, name, sizeof(name));
    cr_assert_str_eq(str_at(ev, "state"), "queued");
    json_decref(ev);

    /* SIGTERM with a stream open still ends in exit 0. */
    stop_ok(&d);
    sse_close(s);
    PASS();
}

/* ===================================================== cancel and delete */

/* The files in dir whose names start with job id. */
static int files_of(const char *dir, const char *id)
{
    DIR *d = opendir(dir);
    cr_assert(d, "cannot open %s", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strncmp(e->d_name, id, strlen(id)) == 0;
    closedir(d);
    return n;
}

Test(nasd, cancel_and_delete)
{
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, NULL);
    char s[33], l[33], q[33], path[PATH_MAX + 128];

    submit(d.port, train_spec(2, 4), s);
    wait_state(d.port, s, "succeeded");
    /* One checkpoint file: the one the database records (daemon/ckpt.c);
     * each newer one replaced the one before. */
    char ckpt[PATH_MAX + 96];
    snprintf(ckpt, sizeof(ckpt), "%s/checkpoints", d.dir);
    cr_assert_eq(files_of(ckpt, s), 1, "%d checkpoint files of job %s in %s", files_of(ckpt, s), s,
                 ckpt);
    snprintf(path, sizeof(path), "/v1/jobs/%s:cancel", s);
    json_decref(expect_problem(d.port, "POST", path, NULL, 409, "conflict"));

    submit(d.port, long_job, l);
    wait_state(d.port, l, "running");
    snprintf(path, sizeof(path), "/v1/jobs/%s", l);
    json_decref(expect_problem(d.port, "DELETE", path, NULL, 409, "conflict"));

    /* Queued behind l: cancelled at once. */
    submit(d.port, train_spec(1, 5), q);
    snprintf(path, sizeof(path), "/v1/jobs/%s:cancel", q);
    json_t *job = call(d.port, "POST", path, NULL, 200);
    cr_assert_str_eq(str_at(job, "state"), "cancelled");
    json_decref(job);
    job = get_sub(d.port, q, "");
    cr_assert_str_eq(str_at(job, "state"), "cancelled");
    json_decref(job);

    /* Running: accepted, then cancelled when the worker stops. */
    snprintf(path, sizeof(path), "/v1/jobs/%s:cancel", l);
    job = call(d.port, "POST", path, NULL, 202);
    cr_assert_str_eq(str_at(job, "state"), "running");
    json_decref(job);
    wait_state(d.port, l, "cancelled");

    /* Deleting a finished job removes it and its checkpoint. */
    snprintf(path, sizeof(path), "/v1/jobs/%s", s);
    http_resp r;
    request(d.port, "DELETE", path, NULL, NULL, &r);
    cr_assert_eq(r.status, 204, "DELETE %s: %d %s", path, r.status, r.body);
    cr_assert_eq(r.body_len, 0);
    http_resp_free(&r);
    json_decref(expect_problem(d.port, "GET", path, NULL, 404, "not-found"));
    json_decref(expect_problem(d.port, "DELETE", path, NULL, 404, "not-found"));
    snprintf(path, sizeof(path), "/v1/jobs/%s/result", s);
    json_decref(expect_problem(d.port, "GET", path, NULL, 404, "not-found"));
    cr_assert_eq(files_of(ckpt, s), 0, "a checkpoint file in %s outlived job %s", ckpt, s);
    snprintf(path, sizeof(path), "/v1/jobs/%s", l);
    request(d.port, "DELETE", path, NULL, NULL, &r);
    cr_assert_eq(r.status, 204, "DELETE a cancelled job: %d %s", r.status, r.body);
    http_resp_free(&r);

    json_t *page = call(d.port, "GET", "/v1/jobs", NULL, 200);
    cr_assert_str_eq(ids_of(page), q);
    json_decref(page);
    stop_ok(&d);
    PASS();
}

/* ================================================================ errors */

Test(nasd, spec_errors)
{
    static const char *const extra[] = {"--max-body", "4096", NULL};
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, extra);

    /* Invalid JSON: where it broke, on the third line. */
    json_t *p = post_problem(d.port, "{\n  \"algorithm\": \"train\",\n  \"seed\": 1,,\n}", 400,
                             "invalid-json");
    cr_assert_eq(int_at(p, "line"), 3, "line %lld", (long long)int_at(p, "line"));
    cr_assert(int_at(p, "column") > 1, "column %lld", (long long)int_at(p, "column"));
    json_decref(p);

    p = post_problem(d.port, "{\"algorithm\":\"train\",\"colour\":\"blue\"}", 400, "unknown-field");
    cr_assert_str_eq(str_at(p, "pointer"), "/colour");
    cr_assert(json_is_array(at(p, "allowed")), "no allowed keys");
    json_decref(p);

    p = post_problem(d.port, "{\"algorithm\":\"train\",\"budget\":{\"epoch\":3}}", 400,
                     "unknown-field");
    cr_assert_str_eq(str_at(p, "pointer"), "/budget/epoch");
    json_decref(p);

    p = post_problem(d.port, "{\"algorithm\":\"train\",\"seed\":\"seven\"}", 400, "invalid-field");
    cr_assert_str_eq(str_at(p, "pointer"), "/seed");
    json_decref(p);

    p = post_problem(d.port, "{\"algorithm\":\"train\",\"budget\":{\"epochs\":0}}", 400,
                     "invalid-field");
    cr_assert_str_eq(str_at(p, "pointer"), "/budget/epochs");
    cr_assert_eq(int_at(p, "allowed.minimum"), 1);
    cr_assert(int_at(p, "allowed.maximum") >= 1000, "allowed.maximum");
    json_decref(p);

    p = post_problem(d.port, "{\"algorithm\":\"train\",\"dataset\":\"mnist\"}", 400,
                     "invalid-field");
    cr_assert_str_eq(str_at(p, "pointer"), "/dataset");
    json_t *allowed = at(p, "allowed");
    static const char *const datasets[] = {"fashion-mnist", "cifar10", "synthetic", "fortunes",
                                           "ptb"};
    cr_assert_eq(json_array_size(allowed), 5);
    for (size_t i = 0; i < 5; i++)
        cr_assert_str_eq(json_string_value(json_array_get(allowed, i)), datasets[i]);
    json_decref(p);

    p = post_problem(d.port, "[1,2]", 400, "bad-request");
    json_decref(p);

    /* Over --max-body: with a Content-Length, and chunked. */
    char *big = malloc(10001);
    cr_assert(big);
    memset(big, ' ', 10000);
    big[0] = '{';
    big[9999] = '}';
    big[10000] = '\0';
    p = post_problem(d.port, big, 413, "body-too-large");
    cr_assert_eq(int_at(p, "limit"), 4096);
    json_decref(p);
    /* Chunked: no Content-Length to refuse it by, so the limit counts the
     * bytes as they come. */
    http_resp r;
    request(d.port, "POST", "/v1/jobs", "Transfer-Encoding: chunked\r\n", big, &r);
    json_decref(problem(&r, 413, "body-too-large"));
    http_resp_free(&r);
    free(big);

    /* An algorithm not built yet answers 501 naming it, never a fake run.
     * Which ones are built changes as nasd grows, so each is asked for on
     * cifar10, which this daemon has no files for: a built one fails with
     * 400 at /dataset instead, and neither makes a job. */
    static const char *const algorithms[] = {"darts", "enas", "nas-rl", "random"};
    for (size_t i = 0; i < 4; i++) {
        char body[128];
        snprintf(body, sizeof(body), "{\"algorithm\":\"%s\",\"dataset\":\"cifar10\"}",
                 algorithms[i]);
        http_resp r501;
        request(d.port, "POST", "/v1/jobs", NULL, body, &r501);
        int built = r501.status != 501;
        p = problem(&r501, built ? 400 : 501, built ? "invalid-field" : "not-implemented");
        /* Not built: the algorithm, or its default space when another of
         * its spaces is built (enas: enas-rnn but not enas-micro). */
        const char *ptr = str_at(p, "pointer") ? str_at(p, "pointer") : "";
        cr_assert(built ? !strcmp(ptr, "/dataset")
                        : !strcmp(ptr, "/algorithm") || !strcmp(ptr, "/search_space"),
                  "%s", r501.body);
        if (!built)
            cr_assert(strstr(str_at(p, "detail"), algorithms[i]), "detail: %s",
                      str_at(p, "detail"));
        json_decref(p);
        http_resp_free(&r501);
    }

    /* None of these made a job. */
    json_t *page = call(d.port, "GET", "/v1/jobs", NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(page, "jobs")), 0, "%s", ids_of(page));
    json_decref(page);
    stop_ok(&d);
    PASS();
}

Test(nasd, unknown_ids_routes_and_methods)
{
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, NULL);
    static const char *const missing[] = {
        "/v1/jobs/0123456789abcdef0123456789abcdef",
        "/v1/jobs/0123456789abcdef0123456789abcdef/result",
        "/v1/jobs/0123456789abcdef0123456789abcdef/metrics",
        "/v1/jobs/0123456789abcdef0123456789abcdef/architectures",
        "/v1/jobs/0123456789abcdef0123456789abcdef/events",
        "/v1/jobs/xyz",
        "/v1/jobs/0123456789ABCDEF0123456789ABCDEF",
        "/v1/jobs/0123456789abcdef0123456789abcdef0",
        "/v1/nothing",
        "/v1",
        "/no-such-file.html",
    };
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++)
        json_decref(expect_problem(d.port, "GET", missing[i], NULL, 404, "not-found"));
    json_decref(expect_problem(d.port, "POST", "/v1/jobs/0123456789abcdef0123456789abcdef:cancel",
                               NULL, 404, "not-found"));
    json_decref(expect_problem(d.port, "DELETE", "/v1/jobs/0123456789abcdef0123456789abcdef", NULL,
                               404, "not-found"));

    static const struct {
        const char *method, *path, *allow;
    } wrong[] = {
        {"PUT", "/v1/jobs", "GET, HEAD, POST"},
        {"DELETE", "/v1/jobs", "GET, HEAD, POST"},
        {"POST", "/v1/jobs/0123456789abcdef0123456789abcdef", "GET, HEAD, DELETE"},
        {"GET", "/v1/jobs/0123456789abcdef0123456789abcdef:cancel", "POST"},
        {"DELETE", "/v1/jobs/0123456789abcdef0123456789abcdef/result", "GET, HEAD"},
        {"POST", "/healthz", "GET, HEAD"},
        {"PATCH", "/v1/datasets", "GET, HEAD, POST"},
        {"PUT", "/v1/datasets/photos", "GET, HEAD, DELETE"},
    };
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        http_resp r;
        request(d.port, wrong[i].method, wrong[i].path, NULL, NULL, &r);
        json_decref(problem(&r, 405, "method-not-allowed"));
        char allow[64];
        cr_assert(http_header(&r, "Allow", allow, sizeof(allow)), "%s %s: 405 without Allow",
                  wrong[i].method, wrong[i].path);
        cr_assert_str_eq(allow, wrong[i].allow, "%s %s", wrong[i].method, wrong[i].path);
        http_resp_free(&r);
    }
    stop_ok(&d);
    PASS();
}

Test(nasd, idempotency_key)
{
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, NULL);
    char a[33], b[33], c[33];
    const char *key1 = "Idempotency-Key: retry-me-1\r\n";
    char spec[512];
    snprintf(spec, sizeof(spec), "%s", train_spec(1, 8));

    json_decref(submit_with(d.port, spec, key1, a));
    json_decref(submit_with(d.port, spec, key1, b));
    cr_assert_str_eq(a, b, "the same key and body made two jobs");
    json_t *page = call(d.port, "GET", "/v1/jobs", NULL, 200);
    cr_assert_str_eq(ids_of(page), a);
    json_decref(page);

    http_resp r;
    request(d.port, "POST", "/v1/jobs", key1, train_spec(1, 9), &r);
    json_decref(problem(&r, 422, "idempotency-conflict"));
    http_resp_free(&r);

    /* Another key is another job, even with the same body. */
    json_decref(submit_with(d.port, spec, "Idempotency-Key: retry-me-2\r\n", c));
    cr_assert_str_neq(a, c);
    page = call(d.port, "GET", "/v1/jobs", NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(page, "jobs")), 2, "%s", ids_of(page));
    json_decref(page);
    wait_state(d.port, a, "succeeded");
    wait_state(d.port, c, "succeeded");
    /* A retry after the job ended still returns it. */
    json_decref(submit_with(d.port, spec, key1, b));
    cr_assert_str_eq(a, b);
    stop_ok(&d);
    PASS();
}

/* =============================================================== service */

Test(nasd, health_datasets_openapi_and_web)
{
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, NULL);

    json_t *h = call(d.port, "GET", "/healthz", NULL, 200);
    cr_assert_str_eq(str_at(h, "status"), "ok");
    cr_assert_eq(int_at(h, "workers.total"), 1);
    json_decref(h);

    json_t *ds = call(d.port, "GET", "/v1/datasets", NULL, 200);
    static const char *const names[] = {"fashion-mnist", "cifar10", "synthetic", "fortunes", "ptb"};
    json_t *list = json_object_get(ds, "datasets");
    for (size_t i = 0; i < 5; i++) {
        json_t *found = NULL, *x;
        size_t k;
        json_array_foreach(list, k, x) if (!strcmp(str_at(x, "name"), names[i])) found = x;
        cr_assert(found, "dataset %s is not listed", names[i]);
        cr_assert(json_is_boolean(at(found, "present")), "%s has no present flag", names[i]);
    }
    json_decref(ds);

    json_t *api = call(d.port, "GET", "/v1/openapi.json", NULL, 200);
    const char *version = str_at(api, "openapi");
    cr_assert(version && !strncmp(version, "3.1.", 4), "openapi %s", version ? version : "?");
    cr_assert(json_is_object(at(api, "paths")), "no paths");
    json_decref(api);

    http_resp r;
    request(d.port, "GET", "/", NULL, NULL, &r);
    cr_assert_eq(r.status, 200);
    char ct[64];
    cr_assert(http_header(&r, "Content-Type", ct, sizeof(ct)));
    cr_assert(!strncmp(ct, "text/html", 9), "GET / is %s", ct);
    cr_assert(strstr(r.body, "<html"), "GET / is not a page");
    http_resp_free(&r);
    stop_ok(&d);
    PASS();
}
