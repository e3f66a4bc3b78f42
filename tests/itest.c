// SPDX-License-Identifier: MIT
/*
 * itest.c - the integration tests' shared fixture, requests and checks
 * (tests/itest.h).
 *
 * The one design decision to know: a check fails the test where it is
 * made, with what was asked and what came back, instead of returning an
 * error code each test would have to turn into a message.
 */
#include "itest.h"

#include <errno.h>
#include <limits.h>
#include <sys/stat.h>

int itest_passed;

void begin_test(void)
{
    itest_passed = 0;
}

void finish_test(void)
{
    nasd_cleanup(!itest_passed);
}

const char *const itest_one_worker[] = {"--workers", "1", "--threads-per-job", "1", NULL};

void start_in(nasd_proc *p, const char *dir, const char *const *args, const char *const *extra)
{
    char own[PATH_MAX];
    if (dir)
        snprintf(own, sizeof(own), "%s", dir); /* may be p->dir, which nasd_start fills */
    else
        cr_assert_eq(nasd_mkdtemp(own, sizeof(own)), 0);
    const char *all[64];
    size_t n = 0;
    for (int i = 0; args && args[i]; i++) {
        cr_assert(n < 63, "too many arguments");
        all[n++] = args[i];
    }
    for (int i = 0; extra && extra[i]; i++) {
        cr_assert(n < 63, "too many arguments");
        all[n++] = extra[i];
    }
    all[n] = NULL;
    cr_assert_eq(nasd_start(p, own, all, ITEST_START_MS), 0, "nasd did not start");
}

void stop_ok(nasd_proc *p)
{
    int status = nasd_stop(p, ITEST_STOP_MS);
    cr_assert_eq(status, 0, "nasd exited with %d after SIGTERM (0 means every handle closed)",
                 status);
}

void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f, "%s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
    chmod(path, 0600);
}

const char *text_of(const json_t *j)
{
    static _Thread_local char out[800];
    char *t = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    snprintf(out, sizeof(out), "%s", t ? t : "(none)");
    free(t);
    return out;
}

/* ------------------------------------------------------------ requests */

void request(int port, const char *method, const char *path, const char *headers, const char *body,
             http_resp *r)
{
    int rc = http_request(port, method, path, headers, body, body ? strlen(body) : 0,
                          HTTP_TIMEOUT_MS, r);
    cr_assert_eq(rc, 0, "%s %s: %s", method, path, http_errmsg());
}

int status_of(int port, const char *method, const char *path, const char *headers, const char *body,
              http_resp *keep)
{
    http_resp r;
    request(port, method, path, headers, body, &r);
    int st = r.status;
    if (keep)
        *keep = r;
    else
        http_resp_free(&r);
    return st;
}

json_t *call(int port, const char *method, const char *path, const char *body, int status)
{
    http_resp r;
    request(port, method, path, NULL, body, &r);
    cr_assert_eq(r.status, status, "%s %s: %d, expected %d: %s", method, path, r.status, status,
                 r.body);
    char ct[128] = "";
    const char *want = status >= 400 ? "application/problem+json" : "application/json";
    cr_assert(http_header(&r, "Content-Type", ct, sizeof(ct)) && strcmp(ct, want) == 0,
              "%s %s: Content-Type %s, expected %s", method, path, ct, want);
    json_t *j = http_json(&r);
    cr_assert(j, "%s %s: the body is not JSON: %s", method, path, r.body);
    http_resp_free(&r);
    return j;
}

json_t *problem(const http_resp *r, int status, const char *slug)
{
    cr_assert_eq(r->status, status, "status %d, expected %d: %s", r->status, status, r->body);
    char ct[128] = "";
    cr_assert(http_header(r, "Content-Type", ct, sizeof(ct)), "no Content-Type");
    cr_assert_str_eq(ct, "application/problem+json");
    json_t *p = http_json(r);
    cr_assert(json_is_object(p), "problem body is not a JSON object: %s", r->body);
    char type[96];
    snprintf(type, sizeof(type), "urn:nasd:problem:%s", slug);
    cr_assert_str_eq(str_at(p, "type") ? str_at(p, "type") : "", type, "%s", r->body);
    cr_assert(str_at(p, "title") && *str_at(p, "title"), "no title: %s", r->body);
    cr_assert_eq(int_at(p, "status"), status, "%s", r->body);
    cr_assert(str_at(p, "detail") && *str_at(p, "detail"), "no detail: %s", r->body);
    return p;
}

json_t *expect_problem(int port, const char *method, const char *path, const char *body, int status,
                       const char *slug)
{
    http_resp r;
    request(port, method, path, NULL, body, &r);
    json_t *p = problem(&r, status, slug);
    http_resp_free(&r);
    return p;
}

json_t *post_problem(int port, const char *body, int status, const char *slug)
{
    return expect_problem(port, "POST", "/v1/jobs", body, status, slug);
}

/* ---------------------------------------------------------------- jobs */

json_t *submit_with(int port, const char *spec, const char *headers, char id[33])
{
    http_resp r;
    request(port, "POST", "/v1/jobs", headers, spec, &r);
    cr_assert_eq(r.status, 202, "POST /v1/jobs: %d %s", r.status, r.body);
    json_t *job = http_json(&r);
    const char *jid = str_at(job, "id");
    cr_assert(jid && strlen(jid) == 32 && strspn(jid, "0123456789abcdef") == 32,
              "job id %s is not 32 lowercase hex characters", jid ? jid : "(none)");
    snprintf(id, 33, "%s", jid);
    char loc[160], want[64];
    snprintf(want, sizeof(want), "/v1/jobs/%s", id);
    cr_assert(http_header(&r, "Location", loc, sizeof(loc)), "202 without Location");
    cr_assert_str_eq(loc, want);
    http_resp_free(&r);
    return job;
}

void submit(int port, const char *spec, char id[33])
{
    json_decref(submit_with(port, spec, NULL, id));
}

json_t *get_sub(int port, const char *id, const char *what)
{
    char path[256];
    snprintf(path, sizeof(path), "/v1/jobs/%s%s%s", id, *what ? "/" : "", what);
    return call(port, "GET", path, NULL, 200);
}

void cancel(int port, const char *id)
{
    char path[96];
    snprintf(path, sizeof(path), "/v1/jobs/%s:cancel", id);
    http_resp r;
    request(port, "POST", path, NULL, NULL, &r);
    cr_assert(r.status == 200 || r.status == 202, "POST %s: %d %s", path, r.status, r.body);
    http_resp_free(&r);
}

typedef struct job_wait {
    int port;
    const char *id, *state;
    json_t *job; /* the last view */
} job_wait;

static int job_reached(void *ctx)
{
    job_wait *w = ctx;
    json_decref(w->job);
    w->job = get_sub(w->port, w->id, "");
    const char *st = str_at(w->job, "state");
    if (st && (w->state ? !strcmp(st, w->state) : is_final(st)))
        return 1;
    return is_final(st) ? -1 : 0;
}

json_t *wait_job(int port, const char *id, const char *state, int timeout_ms)
{
    job_wait w = {port, id, state, NULL};
    int r = nasd_wait_for(timeout_ms, job_reached, &w);
    cr_assert_eq(r, 1, "job %s did not reach %s within %d ms: %s", id, state ? state : "its end",
                 timeout_ms, text_of(w.job));
    return w.job;
}

void wait_state(int port, const char *id, const char *state)
{
    json_decref(wait_job(port, id, state, ITEST_JOB_MS));
}
