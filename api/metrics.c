// SPDX-License-Identifier: MIT
/*
 * metrics.c - GET /metrics: nasd's state in the Prometheus text exposition
 * format (version 0.0.4), for operators and their scrapers.
 *
 * Families: jobs by state and the queue length (from SQLite at scrape
 * time), busy and total workers, steps per second and the step of each
 * running job (from the scheduler's progress reports), open connections
 * and event streams, HTTP requests by route, method and status (counter)
 * with a latency histogram per route, and refusals by limit.
 *
 * The one design decision to know: request labels are route patterns
 * ("/v1/jobs/{id}/events", the rows of api/router.c's table), fixed
 * methods and status codes, never raw paths, so no client can grow the
 * label set; the counters live in small tables, sized once from the route
 * table, that only the loop thread touches (handlers and MHD run there),
 * so there are no locks and no allocation per request.
 */
#include "api.h"
#include "db.h"
#include "conn_limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const method_names[] = {"GET", "HEAD",  "POST",    "DELETE",
                                           "PUT", "PATCH", "OPTIONS", "other"};
#define N_METHODS (sizeof method_names / sizeof method_names[0])

static const char *const limit_names[] = {
    "max-body",
    "max-json-depth",
    "max-connections",
    "max-connections-per-ip",
    "max-queued",
    "max-job-epochs",
    "max-job-seconds",
    "max-job-memory",
    "max-predict-images",
    "max-predict-requests",
    "max-predict-text-bytes",
    "max-predict-tokens",
};
#define N_LIMITS (sizeof limit_names / sizeof limit_names[0])

/* Upper bounds in seconds; +Inf is the count. */
static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                 0.05,   0.1,   0.25,   0.5,   1,    2.5};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

#define MAX_STATUS 600

typedef struct histogram {
    unsigned long long le[N_BUCKETS]; /* not cumulative here */
    unsigned long long count;
    double sum;
} histogram;

typedef struct api_metrics {
    /* requests[route][method][status - 100], status 100..599; routes are
     * api_route_of's, the rows of the route table and two more. */
    unsigned long long (*requests)[N_METHODS][MAX_STATUS - 100];
    histogram *latency; /* per route */
    unsigned long long refused[N_LIMITS];
} api_metrics;

/* The counters are the API's state in the server (nd_server.app_data). */
static api_metrics *metrics_of(const nd_server *s)
{
    return s->app_data;
}

int api_metrics_init(nd_server *s)
{
    api_metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return -1;
    m->requests = calloc(api_route_count(), sizeof(*m->requests));
    m->latency = calloc(api_route_count(), sizeof(*m->latency));
    if (!m->requests || !m->latency) {
        free(m->requests);
        free(m->latency);
        free(m);
        return -1;
    }
    s->app_data = m;
    return 0;
}

void api_metrics_free(nd_server *s)
{
    api_metrics *m = metrics_of(s);
    if (!m)
        return;
    free(m->requests);
    free(m->latency);
    free(m);
    s->app_data = NULL;
}

static size_t index_of(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return n - 1; /* the last entry is "other" */
}

void api_metrics_observe(nd_server *s, size_t r, const char *method, int status, double seconds)
{
    api_metrics *m = metrics_of(s);
    if (!m || r >= api_route_count())
        return;
    size_t k = index_of(method_names, N_METHODS, method);
    if (status >= 100 && status < MAX_STATUS)
        m->requests[r][k][status - 100]++;
    histogram *h = &m->latency[r];
    size_t b = 0;
    while (b < N_BUCKETS && seconds > buckets[b])
        b++;
    if (b < N_BUCKETS)
        h->le[b]++;
    h->count++;
    h->sum += seconds > 0 ? seconds : 0;
}

void api_metrics_refused(nd_server *s, const char *limit_name)
{
    api_metrics *m = metrics_of(s);
    if (!m || !limit_name)
        return;
    for (size_t i = 0; i < N_LIMITS; i++)
        if (strcmp(limit_names[i], limit_name) == 0)
            m->refused[i]++;
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void running_job(void *ctx, const char *id, int64_t step, double steps_per_second)
{
    FILE **fs = ctx;
    fprintf(fs[0], "nasd_job_steps_per_second{job=\"%s\"} %.6g\n", id, steps_per_second);
    fprintf(fs[1], "nasd_job_step{job=\"%s\"} %lld\n", id, (long long)step);
}

void api_metrics_get(api_req *rq, api_resp *rs)
{
    nd_server *s = rq->srv;
    api_metrics *m = metrics_of(s);
    char *text = NULL, *rates = NULL, *steps = NULL;
    size_t len = 0, rlen = 0, slen = 0;
    FILE *f = open_memstream(&text, &len);
    FILE *fr = open_memstream(&rates, &rlen), *fsteps = open_memstream(&steps, &slen);
    if (!f || !fr || !fsteps || !m) {
        if (f)
            fclose(f);
        if (fr)
            fclose(fr);
        if (fsteps)
            fclose(fsteps);
        free(text);
        free(rates);
        free(steps);
        api_failf(rs, 500, API_PROBLEM_INTERNAL, "", "cannot render the metrics");
        return;
    }

    int counts[ND_DB_STATE_COUNT] = {0};
    int db_ok = nd_db_count_by_state(s->db, counts) == 0;
    family(f, "nasd_build_info", "gauge", "nasd's version (always 1).");
    fprintf(f, "nasd_build_info{version=\"%s\",git=\"%s\"} 1\n", ND_VERSION, nd_git_describe);
    family(f, "nasd_database_up", "gauge", "1 when the database answered this scrape.");
    fprintf(f, "nasd_database_up %d\n", db_ok);
    family(f, "nasd_jobs", "gauge", "Jobs in the database by state.");
    for (int i = 0; i < ND_DB_STATE_COUNT; i++)
        fprintf(f, "nasd_jobs{state=\"%s\"} %d\n", nd_db_state_name(i), counts[i]);
    family(f, "nasd_queue_length", "gauge", "Jobs waiting for a worker.");
    fprintf(f, "nasd_queue_length %d\n", counts[ND_DB_QUEUED]);
    family(f, "nasd_queue_limit", "gauge", "Queued jobs before submissions get 429 (max-queued).");
    fprintf(f, "nasd_queue_limit %d\n", s->cfg.max_queued);
    family(f, "nasd_workers", "gauge", "Worker slots (jobs that can run at once).");
    fprintf(f, "nasd_workers %d\n", s->cfg.workers);
    family(f, "nasd_workers_busy", "gauge", "Worker slots running a job.");
    fprintf(f, "nasd_workers_busy %d\n", nd_sched_busy(s));

    FILE *fs[2] = {fr, fsteps};
    nd_sched_foreach_running(s, running_job, fs);
    fclose(fr);
    fclose(fsteps);
    family(f, "nasd_job_steps_per_second", "gauge",
           "Optimizer steps per second of each running job, between its last two progress "
           "reports (0 until two came).");
    fwrite(rates, 1, rlen, f);
    family(f, "nasd_job_step", "gauge", "Optimizer steps done by each running job.");
    fwrite(steps, 1, slen, f);
    free(rates);
    free(steps);

    family(f, "nasd_http_connections", "gauge", "HTTP connections open.");
    fprintf(f, "nasd_http_connections %d\n", nd_limits_open(s));
    family(f, "nasd_event_streams", "gauge", "Server-sent event streams open.");
    fprintf(f, "nasd_event_streams %d\n", nd_events_count(s));

    family(f, "nasd_http_requests_total", "counter",
           "HTTP requests answered, by route pattern, method and status.");
    for (size_t r = 0; r < api_route_count(); r++)
        for (size_t k = 0; k < N_METHODS; k++)
            for (int st = 0; st < MAX_STATUS - 100; st++)
                if (m->requests[r][k][st])
                    fprintf(f,
                            "nasd_http_requests_total{route=\"%s\",method=\"%s\",status=\"%d\"} "
                            "%llu\n",
                            api_route_label(r), method_names[k], st + 100, m->requests[r][k][st]);

    family(f, "nasd_http_request_duration_seconds", "histogram",
           "Seconds from a request's first byte to its response being queued, by route "
           "pattern.");
    for (size_t r = 0; r < api_route_count(); r++) {
        const histogram *h = &m->latency[r];
        if (!h->count)
            continue;
        unsigned long long cum = 0;
        for (size_t b = 0; b < N_BUCKETS; b++) {
            cum += h->le[b];
            fprintf(f, "nasd_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                    api_route_label(r), buckets[b], cum);
        }
        fprintf(f, "nasd_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
                api_route_label(r), h->count);
        fprintf(f, "nasd_http_request_duration_seconds_sum{route=\"%s\"} %.9g\n",
                api_route_label(r), h->sum);
        fprintf(f, "nasd_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                api_route_label(r), h->count);
    }

    family(f, "nasd_limit_refusals_total", "counter",
           "Requests refused by a configured limit, by the limit's config key.");
    for (size_t i = 0; i < N_LIMITS; i++)
        fprintf(f, "nasd_limit_refusals_total{limit=\"%s\"} %llu\n", limit_names[i], m->refused[i]);
    fclose(f);

    rs->status = 200;
    rs->raw = text;
    rs->raw_len = len;
    rs->raw_free = 1;
    rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
