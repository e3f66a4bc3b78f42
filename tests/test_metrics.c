// SPDX-License-Identifier: MIT
/*
 * test_metrics.c - GET /metrics of a real nasd: the Prometheus text
 * format as promtool (Debian's prometheus package) reads it, every family
 * the issue names, request counters that move by exactly the requests
 * made, histogram buckets that never decrease and end at the count, and
 * the job gauges (by state, queue length, busy workers, steps per second
 * of a running job) following a job's life.
 *
 * The one design decision to know: values are read back by exact sample
 * name and labels from the exposition text, so a test fails when a
 * family, a label or a count is wrong, not merely when the page is empty.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "itest.h"

#define ARCH "\"architecture\":{\"space\":\"fixed-cnn\",\"channels\":[8,16],\"hidden\":32}"
static const char long_job[] = "{\"algorithm\":\"train\",\"dataset\":\"synthetic\"," ARCH
                               ",\"budget\":{\"epochs\":1000},\"seed\":1}";

TestSuite(metrics, .init = begin_test, .fini = finish_test);

/* The exposition text (malloc'd). */
static char *scrape(int port)
{
    http_resp r;
    cr_assert_eq(http_get(port, "/metrics", &r), 0, "%s", http_errmsg());
    cr_assert_eq(r.status, 200, "%s", r.body);
    char ct[128] = "";
    cr_assert(http_header(&r, "Content-Type", ct, sizeof ct));
    cr_assert(strncmp(ct, "text/plain; version=0.0.4", 25) == 0, "Content-Type %s", ct);
    char *text = strdup(r.body);
    http_resp_free(&r);
    return text;
}

/* The value of the sample written exactly `series` (name{labels}), or -1
 * when absent. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, series, n) == 0 && l[n] == ' ')
            return strtod(l + n + 1, NULL);
    return -1;
}

static int has_family(const char *text, const char *name, const char *type)
{
    char line[160];
    snprintf(line, sizeof line, "# TYPE %s %s\n", name, type);
    return strstr(text, line) != NULL;
}

/* promtool check metrics on text: its exit status (127: not installed). */
static int promtool(const char *text, char *out, size_t n)
{
    char path[] = "/tmp/nasd-metrics-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "command -v promtool >/dev/null || exit 127; "
             "promtool check metrics < %s 2>&1",
             path);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    size_t got = fread(out, 1, n - 1, p);
    out[got] = '\0';
    int st = pclose(p);
    unlink(path);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(metrics, families_counters_histograms_and_promtool)
{
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, NULL);
    char *t0 = scrape(d.port);
    static const char *const gauges[] = {"nasd_jobs",
                                         "nasd_queue_length",
                                         "nasd_workers",
                                         "nasd_workers_busy",
                                         "nasd_job_steps_per_second",
                                         "nasd_job_step",
                                         "nasd_http_connections",
                                         "nasd_event_streams",
                                         "nasd_database_up"};
    for (size_t i = 0; i < sizeof gauges / sizeof gauges[0]; i++)
        cr_assert(has_family(t0, gauges[i], "gauge"), "no gauge %s:\n%s", gauges[i], t0);
    cr_assert(has_family(t0, "nasd_http_requests_total", "counter"));
    cr_assert(has_family(t0, "nasd_limit_refusals_total", "counter"));
    cr_assert(has_family(t0, "nasd_http_request_duration_seconds", "histogram"));
    cr_assert_eq(sample(t0, "nasd_jobs{state=\"queued\"}"), 0);
    cr_assert_eq(sample(t0, "nasd_workers"), 1);
    cr_assert_eq(sample(t0, "nasd_database_up"), 1);

    /* Counters move by exactly the requests made, labelled by route
     * pattern (never the raw path), method and status. */
    const char *hz = "nasd_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"}";
    double before = sample(t0, hz);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(status_of(d.port, "GET", "/healthz", NULL, NULL, NULL), 200);
    cr_assert_eq(
        status_of(d.port, "GET", "/v1/jobs/0123456789abcdef0123456789abcdef", NULL, NULL, NULL),
        404);
    cr_assert_eq(status_of(d.port, "DELETE", "/v1/jobs", NULL, NULL, NULL), 405);
    cr_assert_eq(status_of(d.port, "POST", "/v1/jobs", NULL, "{\"budget\":{\"epoch\":1}}", NULL),
                 400);
    char *t1 = scrape(d.port);
    cr_assert_eq(sample(t1, hz), (before < 0 ? 0 : before) + 5, "%s", t1);
    cr_assert_eq(sample(t1, "nasd_http_requests_total{route=\"/v1/jobs/{id}\",method=\"GET\","
                            "status=\"404\"}"),
                 1, "%s", t1);
    cr_assert_eq(sample(t1, "nasd_http_requests_total{route=\"/v1/jobs\",method=\"DELETE\","
                            "status=\"405\"}"),
                 1);
    cr_assert_eq(sample(t1, "nasd_http_requests_total{route=\"/v1/jobs\",method=\"POST\","
                            "status=\"400\"}"),
                 1);
    cr_assert(!strstr(t1, "0123456789abcdef0123456789abcdef"), "a raw path became a label");
    /* The scrape before this one is counted too. */
    cr_assert_geq(sample(t1, "nasd_http_requests_total{route=\"/metrics\",method=\"GET\","
                             "status=\"200\"}"),
                  1);

    /* Histogram: buckets never decrease, +Inf equals _count, which
     * equals the requests of that route. */
    double prev = -1, inf = -1;
    for (const char *l = t1; (l = strstr(l, "nasd_http_request_duration_seconds_bucket{route="
                                            "\"/healthz\",le=\""));
         l++) {
        const char *v = strchr(l, ' ');
        double x = strtod(v + 1, NULL);
        cr_assert_geq(x, prev, "a bucket decreased:\n%s", t1);
        prev = x;
        if (strncmp(strstr(l, "le=\"") + 4, "+Inf", 4) == 0)
            inf = x;
    }
    cr_assert_eq(inf, sample(t1, "nasd_http_request_duration_seconds_count{route=\"/healthz\"}"));
    cr_assert_eq(inf, sample(t1, hz));
    cr_assert_geq(sample(t1, "nasd_http_request_duration_seconds_sum{route=\"/healthz\"}"), 0);

    char out[4096];
    int rc = promtool(t1, out, sizeof out);
    cr_assert_neq(rc, 127, "promtool is not installed (Debian package prometheus)");
    cr_assert_eq(rc, 0, "promtool check metrics: %s\n%s", out, t1);
    free(t0);
    free(t1);
    cr_assert_eq(nasd_stop(&d, ITEST_STOP_MS), 0);
    PASS();
}

typedef struct watch {
    int port;
    char series[128];
} watch;

static int positive(void *ctx)
{
    watch *w = ctx;
    char *t = scrape(w->port);
    double v = sample(t, w->series);
    free(t);
    return v > 0;
}

Test(metrics, job_gauges_follow_a_job)
{
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, NULL);
    http_resp r;
    cr_assert_eq(http_send(d.port, "POST", "/v1/jobs", long_job, &r), 0);
    cr_assert_eq(r.status, 202, "%s", r.body);
    json_t *job = http_json(&r);
    char id[33];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(job, "id")));
    json_decref(job);
    http_resp_free(&r);
    cr_assert_eq(status_of(d.port, "POST", "/v1/jobs", NULL, long_job, NULL), 202);

    /* It runs and reports steps: its steps per second become positive. */
    watch w = {d.port, ""};
    snprintf(w.series, sizeof w.series, "nasd_job_steps_per_second{job=\"%s\"}", id);
    cr_assert(nasd_wait_for(60000, positive, &w), "no steps per second for job %s", id);
    char *t = scrape(d.port);
    cr_assert_eq(sample(t, "nasd_jobs{state=\"running\"}"), 1, "%s", t);
    cr_assert_eq(sample(t, "nasd_jobs{state=\"queued\"}"), 1, "%s", t);
    cr_assert_eq(sample(t, "nasd_queue_length"), 1);
    cr_assert_eq(sample(t, "nasd_workers_busy"), 1);
    char step[128];
    snprintf(step, sizeof step, "nasd_job_step{job=\"%s\"}", id);
    cr_assert_gt(sample(t, step), 0);
    char out[4096];
    cr_assert_eq(promtool(t, out, sizeof out), 0, "promtool: %s\n%s", out, t);
    free(t);

    /* Cancelled: it leaves the running gauges. */
    char path[96];
    snprintf(path, sizeof path, "/v1/jobs/%s:cancel", id);
    cr_assert_eq(status_of(d.port, "POST", path, NULL, "", NULL), 202);
    snprintf(w.series, sizeof w.series, "nasd_jobs{state=\"cancelled\"}");
    cr_assert(nasd_wait_for(60000, positive, &w), "the job was not cancelled");
    t = scrape(d.port);
    cr_assert_eq(sample(t, "nasd_jobs{state=\"cancelled\"}"), 1);
    cr_assert_eq(sample(t, w.series), 1);
    cr_assert_eq(sample(t, step), -1, "a finished job is still a running one:\n%s", t);
    free(t);
    cr_assert_eq(nasd_stop(&d, ITEST_STOP_MS), 0);
    PASS();
}
