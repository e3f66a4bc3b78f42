// SPDX-License-Identifier: MIT
/*
 * itest.h - what the integration tests share: a real nasd on a loopback
 * port (tests/nasd_proc.h) spoken to with tests/http.h, the fixture that
 * keeps a failed test's state directory, requests that must be answered,
 * the checks every test makes of a JSON or problem answer, and reading
 * values out of the JSON. One copy instead of one per test file.
 *
 * The one design decision to know: every helper asserts (Criterion's
 * cr_assert ends the test with the method, path and body in the message),
 * so a test reads as the conversation it checks.
 *
 * Ownership: a json_t * a helper returns is a new reference (json_decref);
 * an http_resp a helper fills is the caller's (http_resp_free).
 */
#ifndef NAS_TESTS_ITEST_H
#define NAS_TESTS_ITEST_H

#include <criterion/criterion.h>
#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "nasd_proc.h"

/* Deadlines are generous: the suite also runs under ASan on 2 cores. */
#define ITEST_START_MS 15000
#define ITEST_STOP_MS 30000
#define ITEST_JOB_MS 60000

/* ------------------------------------------------------------- fixture */

/* A test sets it (PASS()) at its end; a failed one keeps its nasd's state
 * directory and log for the reader (nasd_cleanup). */
extern int itest_passed;
#define PASS() (itest_passed = 1)

/* TestSuite(name, .init = begin_test, .fini = finish_test). */
void begin_test(void);
void finish_test(void);

/* --workers 1 --threads-per-job 1: a job's numbers depend only on its
 * spec and seed. */
extern const char *const itest_one_worker[];

/* Starts nasd in dir (a new temporary directory when NULL; p->dir to
 * restart p) with the arguments of args followed by those of extra (each
 * a NULL-terminated list, or NULL). */
void start_in(nasd_proc *p, const char *dir, const char *const *args, const char *const *extra);
/* SIGTERM, which must end nasd with status 0 (every handle closed). */
void stop_ok(nasd_proc *p);
/* Writes text to path, mode 0600 (a token file, a config). */
void write_file(const char *path, const char *text);

/* ------------------------------------------------------------ requests */

/* method path with extra header lines (or NULL) and body (or NULL), which
 * must get an answer; r is the caller's. */
void request(int port, const char *method, const char *path, const char *headers, const char *body,
             http_resp *r);
/* The status of that answer; keep (when non-NULL) gets the answer. */
int status_of(int port, const char *method, const char *path, const char *headers, const char *body,
              http_resp *keep);
/* The body of method path, which must answer `status` with a JSON body
 * (application/json, or application/problem+json for a status >= 400). */
json_t *call(int port, const char *method, const char *path, const char *body, int status);

/* Checks an error answer: the status, application/problem+json, the RFC
 * 9457 members (type urn:nasd:problem:SLUG, title, status, detail).
 * Returns the body. */
json_t *problem(const http_resp *r, int status, const char *slug);
/* problem() of the answer to method path with body. */
json_t *expect_problem(int port, const char *method, const char *path, const char *body, int status,
                       const char *slug);
/* problem() of POST /v1/jobs with body. */
json_t *post_problem(int port, const char *body, int status, const char *slug);

/* ---------------------------------------------------------------- jobs */

/* POST /v1/jobs with extra header lines (or NULL), which must answer 202
 * with the job: its id (32 lowercase hex characters) is copied to id and
 * Location names it. Returns the job. */
json_t *submit_with(int port, const char *spec, const char *headers, char id[33]);
/* The same without headers, the job not kept. */
void submit(int port, const char *spec, char id[33]);
/* GET /v1/jobs/ID/WHAT (WHAT "" for the job itself), which must be 200. */
json_t *get_sub(int port, const char *id, const char *what);
/* POST /v1/jobs/ID:cancel, which must answer 200 or 202. */
void cancel(int port, const char *id);
/* Polls job id until it is in state (any final state when NULL) within
 * timeout_ms (scaled); another final state first fails the test. Returns
 * the job's view then. */
json_t *wait_job(int port, const char *id, const char *state, int timeout_ms);
/* wait_job within ITEST_JOB_MS, the view not kept. */
void wait_state(int port, const char *id, const char *state);

/* ---------------------------------------------------------------- JSON */

/* The value at a dotted path of object keys ("details.order"), or NULL. */
static inline json_t *at(json_t *o, const char *path)
{
    char key[64];
    while (o && *path) {
        size_t n = strcspn(path, ".");
        snprintf(key, sizeof(key), "%.*s", (int)n, path);
        o = json_object_get(o, key);
        path += n + (path[n] == '.');
    }
    return o;
}

static inline const char *str_at(json_t *o, const char *path)
{
    return json_string_value(at(o, path));
}

static inline json_int_t int_at(json_t *o, const char *path)
{
    return json_integer_value(at(o, path));
}

/* JSON text of j for messages (a buffer of this thread, cut short). */
const char *text_of(const json_t *j);

static inline int is_final(const char *st)
{
    return st && (!strcmp(st, "succeeded") || !strcmp(st, "failed") || !strcmp(st, "cancelled"));
}

#endif
