// SPDX-License-Identifier: MIT
/*
 * cmd_results.c - nasctl's commands on what a job produced (cli/nasctl.h):
 * result (as text, SVG or Graphviz dot), architectures, model and metrics.
 *
 * The one design decision to know: a file nasctl writes (--svg, -o) is
 * written only after nasd answered 2xx with the whole body, so a failed
 * download never leaves a truncated model behind; and the series nasd
 * pages by cursor (?after=SEQ, answered with next_after) are walked to
 * their end, so `nasctl metrics ID` is every point, not the first 1000.
 */
#include "nasctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nasctl_write_file(const char *path, const char *bytes, size_t n)
{
    int to_stdout = strcmp(path, "-") == 0;
    FILE *f = to_stdout ? stdout : fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "nasctl: cannot write %s: %s\n", path, strerror(errno));
        return NASCTL_USAGE;
    }
    int bad = fwrite(bytes, 1, n, f) != n;
    bad |= to_stdout ? fflush(f) != 0 : fclose(f) != 0;
    if (bad) {
        fprintf(stderr, "nasctl: cannot write %s: %s\n", path, strerror(errno));
        return NASCTL_USAGE;
    }
    return NASCTL_OK;
}

int nasctl_cmd_result(const nasctl_opts *o)
{
    char path[160];
    const char *suffix = o->svg ? "/result?format=svg" : o->dot ? "/result?format=dot" : "/result";
    int rc = nasctl_job_path(o->arg, suffix, path, sizeof(path));
    if (rc != NASCTL_OK)
        return rc;
    if (o->svg || o->dot) {
        nasctl_resp r;
        if ((rc = nasctl_call("GET", path, NULL, &r)) != NASCTL_OK)
            return rc;
        rc = nasctl_write_file(o->svg ? o->svg : "-", r.body, r.len);
        nasctl_resp_free(&r);
        return rc;
    }
    json_t *res = NULL;
    if ((rc = nasctl_call_json("GET", path, NULL, &res)) != NASCTL_OK)
        return rc;
    if (o->json)
        nasctl_print_json(res);
    else
        nasctl_print_result(res);
    json_decref(res);
    return NASCTL_OK;
}

/* Every row of a cursor-paged series (key "architectures" or "metrics")
 * of job o->arg, filtered by name when not NULL, into *rows. */
static int walk_series(const nasctl_opts *o, const char *key, const char *name, json_t **rows)
{
    char base[512], path[600], after[32];
    *rows = json_array();
    char suffix[64];
    snprintf(suffix, sizeof(suffix), "/%s", key);
    int rc = nasctl_job_path(o->arg, suffix, base, sizeof(base));
    if (rc != NASCTL_OK)
        return rc;
    if (nasctl_add_param(base, sizeof(base), "name", name) ||
        nasctl_add_param(base, sizeof(base), "limit", "1000")) {
        fprintf(stderr, "nasctl: the metric name is too long\n");
        return NASCTL_USAGE;
    }
    json_int_t cursor = 0;
    for (;;) {
        snprintf(path, sizeof(path), "%s", base);
        snprintf(after, sizeof(after), "%lld", (long long)cursor);
        if (cursor > 0)
            nasctl_add_param(path, sizeof(path), "after", after);
        json_t *page = NULL;
        if ((rc = nasctl_call_json("GET", path, NULL, &page)) != NASCTL_OK)
            return rc;
        json_array_extend(*rows, json_object_get(page, key));
        json_t *next = json_object_get(page, "next_after");
        json_int_t n = json_integer_value(next);
        json_decref(page);
        if (!json_is_integer(next) || n <= cursor)
            return NASCTL_OK;
        cursor = n;
    }
}

int nasctl_cmd_architectures(const nasctl_opts *o)
{
    json_t *rows = NULL;
    int rc = walk_series(o, "architectures", NULL, &rows);
    if (rc == NASCTL_OK && o->json) {
        json_t *doc = json_pack("{s:O}", "architectures", rows);
        nasctl_print_json(doc);
        json_decref(doc);
    } else if (rc == NASCTL_OK) {
        printf("%6s  %-10s  %s\n", "NUMBER", "REWARD", "ARCHITECTURE");
        size_t i;
        json_t *a;
        json_array_foreach(rows, i, a)
        {
            json_t *reward = json_object_get(a, "reward");
            char *arch =
                json_dumps(json_object_get(a, "architecture"), JSON_COMPACT | JSON_SORT_KEYS);
            printf("%6lld  ", (long long)json_integer_value(json_object_get(a, "number")));
            if (json_is_number(reward))
                printf("%-10.6g", json_number_value(reward));
            else
                printf("%-10s", "-");
            printf("  %s\n", arch ? arch : "");
            free(arch);
        }
    }
    json_decref(rows);
    return rc;
}

int nasctl_cmd_metrics(const nasctl_opts *o)
{
    json_t *rows = NULL;
    int rc = walk_series(o, "metrics", o->name, &rows);
    if (rc == NASCTL_OK && o->json) {
        json_t *doc = json_pack("{s:O}", "metrics", rows);
        nasctl_print_json(doc);
        json_decref(doc);
    } else if (rc == NASCTL_OK) {
        printf("%8s  %5s  %8s  %-20s  %s\n", "SEQ", "EPOCH", "STEP", "NAME", "VALUE");
        size_t i;
        json_t *m;
        json_array_foreach(rows, i, m)
        {
            const char *name = json_string_value(json_object_get(m, "name"));
            printf("%8lld  %5lld  %8lld  %-20s  %.10g\n",
                   (long long)json_integer_value(json_object_get(m, "seq")),
                   (long long)json_integer_value(json_object_get(m, "epoch")),
                   (long long)json_integer_value(json_object_get(m, "step")), name ? name : "?",
                   json_number_value(json_object_get(m, "value")));
        }
    }
    json_decref(rows);
    return rc;
}

int nasctl_cmd_model(const nasctl_opts *o)
{
    char path[160];
    nasctl_resp r;
    int rc = nasctl_job_path(o->arg, o->onnx ? "/model?format=onnx" : "/model", path, sizeof(path));
    if (rc == NASCTL_OK)
        rc = nasctl_call("GET", path, NULL, &r);
    if (rc != NASCTL_OK)
        return rc;
    rc = nasctl_write_file(o->output, r.body, r.len);
    if (rc == NASCTL_OK && strcmp(o->output, "-") != 0)
        fprintf(stderr, "nasctl: wrote %zu bytes to %s\n", r.len, o->output);
    nasctl_resp_free(&r);
    return rc;
}
