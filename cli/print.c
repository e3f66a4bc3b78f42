// SPDX-License-Identifier: MIT
/*
 * print.c - what nasctl prints for a person (cli/nasctl.h): a job as a few
 * labelled lines, the jobs table, a result, and the progress bar of
 * submit --follow.
 *
 * The one design decision to know: stdout gets only what a command was
 * asked for (so `nasctl list | awk` and `nasctl submit spec.json` in
 * `$(...)` work), and the progress bar goes to stderr: redrawn in place
 * with CR on a terminal, one line per tenth of the job otherwise (a log
 * file gets eleven lines, not thousands). --json bypasses all of this.
 */
#include "nasctl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void nasctl_print_json(const json_t *j)
{
    char *t = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY);
    if (t)
        printf("%s\n", t);
    free(t);
}

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* "label: value" when the value is a string. */
static void line_str(const char *label, const char *v)
{
    if (v && *v)
        printf("%-13s %s\n", label, v);
}

/* A number as short as reads back the same in 6 digits. */
static void put_num(FILE *f, const json_t *v)
{
    if (json_is_integer(v))
        fprintf(f, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        fprintf(f, "%.6g", json_real_value(v));
    else if (json_is_null(v) || !v)
        fprintf(f, "-");
    else {
        char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        fprintf(f, "%s", t ? t : "?");
        free(t);
    }
}

/* "1h02m", "3m05s", "12s" */
static void put_duration(FILE *f, double s)
{
    if (!(s >= 0) || s > 1e9) {
        fprintf(f, "?");
        return;
    }
    long t = lround(s);
    if (t >= 3600)
        fprintf(f, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60)
        fprintf(f, "%ldm%02lds", t / 60, t % 60);
    else
        fprintf(f, "%lds", t);
}

static void print_progress_line(const json_t *p)
{
    if (!json_is_object(p))
        return;
    const json_t *fr = json_object_get(p, "fraction");
    printf("%-13s ", "progress:");
    if (json_is_number(fr))
        printf("%.0f%%", 100.0 * json_number_value(fr));
    else
        printf("-");
    printf(" (epoch ");
    put_num(stdout, json_object_get(p, "epoch"));
    printf("/");
    put_num(stdout, json_object_get(p, "epochs"));
    printf(", step ");
    put_num(stdout, json_object_get(p, "step"));
    printf("/");
    put_num(stdout, json_object_get(p, "steps"));
    const json_t *eta = json_object_get(p, "eta_seconds");
    if (json_is_number(eta)) {
        printf(", eta ");
        put_duration(stdout, json_number_value(eta));
    }
    printf(")\n");
}

void nasctl_print_job(const json_t *job)
{
    line_str("id:", str(job, "id"));
    line_str("name:", str(job, "name"));
    line_str("state:", str(job, "state"));
    line_str("algorithm:", str(job, "algorithm"));
    line_str("space:", str(job, "search_space"));
    line_str("dataset:", str(job, "dataset"));
    const json_t *tags = json_object_get(json_object_get(job, "spec"), "tags");
    if (json_array_size(tags) > 0) {
        printf("%-13s", "tags:");
        size_t i;
        json_t *t;
        json_array_foreach(tags, i, t) printf(" %s", json_string_value(t));
        printf("\n");
    }
    line_str("created:", str(job, "created_at"));
    line_str("started:", str(job, "started_at"));
    line_str("finished:", str(job, "finished_at"));
    print_progress_line(json_object_get(job, "progress"));
    line_str("error:", str(job, "error"));
    const json_t *metrics = json_object_get(job, "metrics");
    if (json_object_size(metrics) > 0) {
        const char *k;
        json_t *m;
        printf("%-13s", "metrics:");
        json_object_foreach((json_t *)metrics, k, m)
        {
            printf(" %s=", k);
            put_num(stdout, json_object_get(m, "value"));
        }
        printf("\n");
    }
    const json_t *res = json_object_get(job, "result");
    if (json_is_object(res)) {
        printf("%-13s %s = ", "result:", str(res, "metric") ? str(res, "metric") : "value");
        put_num(stdout, json_object_get(res, "value"));
        printf("%s\n", json_is_true(json_object_get(json_object_get(res, "details"), "partial"))
                           ? " (partial)"
                           : "");
    }
}

void nasctl_print_result(const json_t *res)
{
    const json_t *details = json_object_get(res, "details");
    printf("%-13s %s = ", "result:", str(res, "metric") ? str(res, "metric") : "value");
    put_num(stdout, json_object_get(res, "value"));
    printf("\n");
    if (json_is_true(json_object_get(details, "partial"))) {
        const char *why = str(details, "reason");
        printf("%-13s yes (%s)\n", "partial:", why ? why : "the job did not finish");
    }
    char *a = json_dumps(json_object_get(res, "architecture"), JSON_COMPACT | JSON_SORT_KEYS);
    if (a)
        printf("%-13s %s\n", "architecture:", a);
    free(a);
}

void nasctl_print_jobs_header(void)
{
    printf("%-32s  %-9s  %-9s  %-13s  %4s  %s\n", "ID", "STATE", "ALGORITHM", "DATASET", "DONE",
           "NAME");
}

void nasctl_print_jobs_row(const json_t *job)
{
    const json_t *fr = json_object_get(json_object_get(job, "progress"), "fraction");
    char done[16] = "-";
    if (json_is_number(fr))
        snprintf(done, sizeof(done), "%.0f%%", 100.0 * json_number_value(fr));
    const char *name = str(job, "name");
    printf("%-32s  %-9s  %-9s  %-13s  %4s  %s\n", str(job, "id") ? str(job, "id") : "?",
           str(job, "state") ? str(job, "state") : "?",
           str(job, "algorithm") ? str(job, "algorithm") : "-",
           str(job, "dataset") ? str(job, "dataset") : "-", done, name ? name : "");
}

/* ------------------------------------------------------------ progress */

#define BAR_WIDTH 30

static int bar_drawn;       /* a bar is on the terminal's current line */
static int last_tenth = -1; /* the last tenth printed (not a terminal) */

void nasctl_progress(const json_t *p)
{
    const json_t *fr = json_object_get(p, "fraction");
    double f = json_is_number(fr) ? json_number_value(fr) : 0.0;
    if (!(f >= 0))
        f = 0;
    if (f > 1)
        f = 1;
    int tty = isatty(STDERR_FILENO);
    int tenth = (int)(f * 10.0 + 1e-9);
    if (!tty && tenth == last_tenth)
        return;
    last_tenth = tenth;
    char bar[BAR_WIDTH + 1];
    int filled = (int)(f * BAR_WIDTH + 1e-9);
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    fprintf(stderr, "%s[%s] %3.0f%%  epoch ", tty ? "\r" : "", bar, 100.0 * f);
    put_num(stderr, json_object_get(p, "epoch"));
    fprintf(stderr, "/");
    put_num(stderr, json_object_get(p, "epochs"));
    const json_t *eta = json_object_get(p, "eta_seconds");
    if (json_is_number(eta)) {
        fprintf(stderr, "  eta ");
        put_duration(stderr, json_number_value(eta));
    }
    fprintf(stderr, tty ? "\033[K" : "\n");
    fflush(stderr);
    bar_drawn = tty;
}

void nasctl_progress_end(void)
{
    if (bar_drawn)
        fputc('\n', stderr);
    bar_drawn = 0;
}
