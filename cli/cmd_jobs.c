// SPDX-License-Identifier: MIT
/*
 * cmd_jobs.c - nasctl's commands on jobs as a whole (cli/nasctl.h):
 * submit (with --follow and --dry-run), get, list, cancel and delete.
 *
 * The one design decision to know: submit --follow trusts the event
 * stream for the end of the job (its final `state` event), not a poll;
 * when the stream closes before that (nasd restarted, the stream fell
 * behind, a connection refused while nasd restarts) it reconnects with
 * Last-Event-ID, a second apart, up to MAX_RECONNECTS times in a row; the
 * state the stream's first event reports on each connection decides as
 * well, so a job that ended while nasctl was away is seen at once.
 */
#include "nasctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_RECONNECTS 15 /* in a row, a second apart */

static int is_final(const char *st)
{
    return st && (!strcmp(st, "succeeded") || !strcmp(st, "failed") || !strcmp(st, "cancelled"));
}

/* The whole of path ("-": stdin) as a NUL-terminated string. */
static int read_all(const char *path, char **out)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    *out = NULL;
    if (!f) {
        fprintf(stderr, "nasctl: cannot read %s: %s\n", path, strerror(errno));
        return NASCTL_USAGE;
    }
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
        if (len + 1 == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    int bad = ferror(f) || !buf;
    if (f != stdin)
        fclose(f);
    if (bad) {
        fprintf(stderr, "nasctl: cannot read %s%s\n", path, buf ? "" : ": out of memory");
        free(buf);
        return NASCTL_USAGE;
    }
    buf[len] = '\0';
    *out = buf;
    return NASCTL_OK;
}

/* ------------------------------------------------------------- follow */

typedef struct follow {
    int events;     /* events this connection */
    char state[16]; /* the final state seen, or "" */
    char *error;    /* the job's error then */
} follow;

static int on_event(const char *event, const char *data, void *ctx)
{
    follow *fw = ctx;
    fw->events++;
    int is_state = strcmp(event, "state") == 0;
    if (!is_state && strcmp(event, "progress") != 0)
        return 0; /* metric, architecture, rewind: not drawn here */
    json_t *j = json_loads(data, 0, NULL);
    if (!j)
        return 0;
    int stop = 0;
    if (is_state) {
        const char *st = json_string_value(json_object_get(j, "state"));
        json_t *p = json_object_get(j, "progress");
        if (json_is_object(p) && !is_final(st))
            nasctl_progress(p);
        if (is_final(st)) {
            snprintf(fw->state, sizeof(fw->state), "%s", st);
            const char *e = json_string_value(json_object_get(j, "error"));
            free(fw->error);
            fw->error = e ? strdup(e) : NULL;
            stop = 1;
        }
    } else {
        nasctl_progress(j);
    }
    json_decref(j);
    return stop;
}

static int follow_job(const nasctl_opts *o, const char *id)
{
    char path[128], last_id[64] = "";
    snprintf(path, sizeof(path), "/v1/jobs/%s/events", id);
    follow fw = {.state = ""};
    int rc = NASCTL_OK;
    for (int failures = 0;;) {
        fw.events = 0;
        rc = nasctl_stream(path, last_id, on_event, &fw);
        if (fw.state[0] || rc == NASCTL_SERVER)
            break;
        /* Closed before the end, or nasd gone: a restart, most likely.
         * An attempt that got more than its opening event was no failure. */
        failures = fw.events > 1 ? 1 : failures + 1;
        nasctl_progress_end();
        if (failures > MAX_RECONNECTS) {
            fprintf(stderr, "nasctl: giving up on the event stream of job %s (nasctl get %s)\n", id,
                    id);
            rc = NASCTL_UNREACHABLE;
            break;
        }
        fprintf(stderr,
                "nasctl: the event stream closed before the job ended; reconnecting "
                "(%d/%d)\n",
                failures, MAX_RECONNECTS);
        sleep(1); /* let a restarting nasd come back */
    }
    nasctl_progress_end();
    if (rc == NASCTL_OK && strcmp(fw.state, "succeeded") != 0) {
        fprintf(stderr, "nasctl: job %s %s%s%s\n", id, fw.state, fw.error ? ": " : "",
                fw.error ? fw.error : "");
        rc = NASCTL_JOB_FAILED;
    }
    free(fw.error);
    if (rc != NASCTL_OK)
        return rc;
    json_t *res = NULL;
    snprintf(path, sizeof(path), "/v1/jobs/%s/result", id);
    if ((rc = nasctl_call_json("GET", path, NULL, &res)) != NASCTL_OK)
        return rc;
    if (o->json)
        nasctl_print_json(res);
    else
        nasctl_print_result(res);
    json_decref(res);
    return NASCTL_OK;
}

/* ------------------------------------------------------------ commands */

int nasctl_cmd_submit(const nasctl_opts *o)
{
    char *spec = NULL;
    json_t *job = NULL;
    int rc = read_all(o->arg, &spec);
    if (rc != NASCTL_OK)
        return rc;
    rc = nasctl_call_json("POST", o->dry_run ? "/v1/jobs?dry_run=true" : "/v1/jobs", spec, &job);
    free(spec);
    if (rc != NASCTL_OK)
        return rc;
    if (o->dry_run) {
        nasctl_print_json(job); /* the complete spec and its estimate: JSON is the readable form */
        json_decref(job);
        return NASCTL_OK;
    }
    const char *id = json_string_value(json_object_get(job, "id"));
    if (!id) {
        fprintf(stderr, "nasctl: nasd accepted the job but its answer has no id\n");
        json_decref(job);
        return NASCTL_SERVER;
    }
    if (o->json)
        nasctl_print_json(job);
    else
        printf("%s\n", id);
    fflush(stdout);
    if (o->follow)
        rc = follow_job(o, id);
    json_decref(job);
    return rc;
}

int nasctl_job_path(const char *id, const char *suffix, char *out, size_t n)
{
    if (!*id || strpbrk(id, "/?#%:& ") || strlen(id) > 64) {
        fprintf(stderr, "nasctl: '%s' is not a job id (32 hex digits, from nasctl list)\n", id);
        return NASCTL_USAGE;
    }
    snprintf(out, n, "/v1/jobs/%s%s", id, suffix);
    return NASCTL_OK;
}

int nasctl_cmd_get(const nasctl_opts *o)
{
    char path[128];
    json_t *job = NULL;
    int rc = nasctl_job_path(o->arg, "", path, sizeof(path));
    if (rc == NASCTL_OK)
        rc = nasctl_call_json("GET", path, NULL, &job);
    if (rc != NASCTL_OK)
        return rc;
    if (o->json)
        nasctl_print_json(job);
    else
        nasctl_print_job(job);
    json_decref(job);
    return NASCTL_OK;
}

int nasctl_add_param(char *q, size_t n, const char *key, const char *value)
{
    if (!value)
        return 0;
    char *e = nasctl_escape(value);
    if (!e)
        return -1;
    size_t len = strlen(q);
    int w = snprintf(q + len, n - len, "%s%s=%s", strchr(q, '?') ? "&" : "?", key, e);
    free(e);
    return w < 0 || (size_t)w >= n - len ? -1 : 0;
}

int nasctl_cmd_list(const nasctl_opts *o)
{
    char base[2048] = "/v1/jobs", path[2400];
    if (nasctl_add_param(base, sizeof(base), "state", o->state) ||
        nasctl_add_param(base, sizeof(base), "name", o->name) ||
        nasctl_add_param(base, sizeof(base), "algorithm", o->algorithm) ||
        nasctl_add_param(base, sizeof(base), "search_space", o->search_space) ||
        nasctl_add_param(base, sizeof(base), "dataset", o->dataset) ||
        nasctl_add_param(base, sizeof(base), "tag", o->tag) ||
        nasctl_add_param(base, sizeof(base), "page_size",
                         o->page_size ? o->page_size
                         : o->all     ? "200"
                                      : NULL)) {
        fprintf(stderr, "nasctl: the filters are too long\n");
        return NASCTL_USAGE;
    }
    json_t *all = json_array(), *page = NULL;
    char *token = NULL;
    int rc = NASCTL_OK;
    for (int first = 1;; first = 0) {
        snprintf(path, sizeof(path), "%s", base);
        if (token && nasctl_add_param(path, sizeof(path), "page_token", token)) {
            fprintf(stderr, "nasctl: nasd's page token is too long\n");
            rc = NASCTL_SERVER;
            break;
        }
        if ((rc = nasctl_call_json("GET", path, NULL, &page)) != NASCTL_OK)
            break;
        if (first && !o->json)
            nasctl_print_jobs_header();
        json_t *jobs = json_object_get(page, "jobs");
        size_t i;
        json_t *job;
        json_array_foreach(jobs, i, job)
        {
            if (o->json)
                json_array_append(all, job);
            else
                nasctl_print_jobs_row(job);
        }
        const char *next = json_string_value(json_object_get(page, "next_page_token"));
        free(token);
        token = next && o->all ? strdup(next) : NULL;
        if (!token) {
            if (o->json) {
                json_object_set(page, "jobs", all);
                if (o->all)
                    json_object_set_new(page, "next_page_token", json_null());
                nasctl_print_json(page);
            }
            json_decref(page);
            break;
        }
        json_decref(page);
    }
    free(token);
    json_decref(all);
    return rc;
}

int nasctl_cmd_cancel(const nasctl_opts *o)
{
    char path[128];
    nasctl_resp r;
    int rc = nasctl_job_path(o->arg, ":cancel", path, sizeof(path));
    if (rc == NASCTL_OK)
        rc = nasctl_call("POST", path, NULL, &r);
    if (rc != NASCTL_OK)
        return rc;
    if (o->json)
        printf("%s\n", r.body);
    else
        printf("%s %s\n", o->arg,
               r.status == 202 ? "cancel requested (it stops at its next step)" : "cancelled");
    nasctl_resp_free(&r);
    return NASCTL_OK;
}

int nasctl_cmd_delete(const nasctl_opts *o)
{
    char path[128];
    nasctl_resp r;
    int rc = nasctl_job_path(o->arg, "", path, sizeof(path));
    if (rc == NASCTL_OK)
        rc = nasctl_call("DELETE", path, NULL, &r);
    if (rc != NASCTL_OK)
        return rc;
    if (!o->json)
        printf("%s deleted\n", o->arg);
    nasctl_resp_free(&r);
    return NASCTL_OK;
}
