// SPDX-License-Identifier: MIT
/*
 * cmd_datasets.c - nasctl's dataset commands (issue #21): upload (POST
 * /v1/datasets with a file as the body), list, get (with -o, the sample
 * grid) and delete.
 *
 * The one design decision to know: upload streams the file from disk as
 * the body (curl reads it; nothing is held in memory), with the
 * Content-Type its name suggests, and the name, kind and resize go to
 * nasd as they are: nasd checks them, and its problem is what the user
 * reads. Without --name the dataset is named after the file, up to its
 * first dot (photos.tar.gz: photos).
 */
#include "nasctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static const char *type_of(const char *file)
{
    static const struct {
        const char *suffix, *type;
    } types[] = {{".zip", "application/zip"},   {".npz", "application/zip"},
                 {".tar", "application/x-tar"}, {".tgz", "application/gzip"},
                 {".gz", "application/gzip"},   {NULL, NULL}};
    size_t n = strlen(file);
    for (int i = 0; types[i].suffix; i++) {
        size_t k = strlen(types[i].suffix);
        if (n > k && strcasecmp(file + n - k, types[i].suffix) == 0)
            return types[i].type;
    }
    return "application/octet-stream";
}

/* /v1/datasets/NAME (NAME escaped) followed by suffix. */
static int dataset_path(const char *name, const char *suffix, char *out, size_t n)
{
    char *e = nasctl_escape(name);
    int w = e ? snprintf(out, n, "/v1/datasets/%s%s", e, suffix) : -1;
    free(e);
    if (!*name || w < 0 || (size_t)w >= n) {
        fprintf(stderr, "nasctl: '%s' is not a dataset name nasctl can use\n", name);
        return NASCTL_USAGE;
    }
    return NASCTL_OK;
}

static void print_dataset(const json_t *d)
{
    const json_t *m = json_object_get(d, "meta"), *shape = json_object_get(d, "shape");
    printf("name     %s\n", json_string_value(json_object_get(d, "name")));
    printf("kind     %s%s\n", json_string_value(json_object_get(d, "kind")),
           json_is_true(json_object_get(d, "uploaded")) ? " (uploaded)" : " (built in)");
    if (json_array_size(shape) == 3)
        printf("shape    %lld x %lld x %lld (channels x height x width)\n",
               (long long)json_integer_value(json_array_get(shape, 0)),
               (long long)json_integer_value(json_array_get(shape, 1)),
               (long long)json_integer_value(json_array_get(shape, 2)));
    const json_t *classes = json_object_get(m, "classes");
    if (json_array_size(classes)) {
        size_t i;
        const json_t *c;
        printf("classes  %zu:", json_array_size(classes));
        json_array_foreach(classes, i, c)
        {
            if (i == 16) {
                printf(" ...");
                break;
            }
            printf(" %s", json_string_value(c));
        }
        printf("\n");
    } else if (json_object_get(d, "classes")) {
        printf("classes  %lld\n", (long long)json_integer_value(json_object_get(d, "classes")));
    }
    if (json_object_get(d, "train_size"))
        printf("train    %lld\ntest     %lld\n",
               (long long)json_integer_value(json_object_get(d, "train_size")),
               (long long)json_integer_value(json_object_get(d, "test_size")));
    const json_t *vocab = json_object_get(m, "vocabulary");
    if (vocab)
        printf("vocab    %lld\n", (long long)json_integer_value(vocab));
    const char *held = json_string_value(json_object_get(m, "test_split"));
    if (held)
        printf("test is  %s\n", held);
    const char *sha = json_string_value(json_object_get(m, "sha256"));
    if (sha)
        printf("sha256   %s\n", sha);
}

int nasctl_cmd_dataset_upload(const nasctl_opts *o)
{
    char name[128], q[1024] = "/v1/datasets";
    const char *base = strrchr(o->arg, '/') ? strrchr(o->arg, '/') + 1 : o->arg;
    snprintf(name, sizeof(name), "%.*s", (int)strcspn(base, "."), base);
    if (nasctl_add_param(q, sizeof(q), "name", o->name ? o->name : name) ||
        nasctl_add_param(q, sizeof(q), "kind", o->kind) ||
        nasctl_add_param(q, sizeof(q), "resize", o->resize)) {
        fprintf(stderr, "nasctl: the name, kind or resize is too long\n");
        return NASCTL_USAGE;
    }
    FILE *f = strcmp(o->arg, "-") == 0 ? NULL : fopen(o->arg, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "nasctl: %s: %s\n", o->arg,
                !f && strcmp(o->arg, "-") == 0 ? "upload needs a file (not stdin: nasd wants "
                                                 "the size first)"
                : f                            ? "not a regular file"
                                               : strerror(errno));
        if (f)
            fclose(f);
        return NASCTL_USAGE;
    }
    nasctl_resp r;
    int rc = nasctl_upload(q, f, (long long)st.st_size, type_of(o->arg), &r);
    fclose(f);
    if (rc != NASCTL_OK)
        return rc;
    if (r.status != 201) {
        nasctl_print_problem(&r);
        nasctl_resp_free(&r);
        return NASCTL_SERVER;
    }
    json_t *d = json_loadb(r.body, r.len, 0, NULL);
    if (!d) {
        fprintf(stderr, "nasctl: nasd's answer is not JSON\n");
        nasctl_resp_free(&r);
        return NASCTL_SERVER;
    }
    if (o->json)
        nasctl_print_json(d);
    else
        print_dataset(d);
    json_decref(d);
    nasctl_resp_free(&r);
    return NASCTL_OK;
}

int nasctl_cmd_dataset_list(const nasctl_opts *o)
{
    json_t *list = NULL;
    int rc = nasctl_call_json("GET", "/v1/datasets", NULL, &list);
    if (rc != NASCTL_OK)
        return rc;
    if (o->json) {
        nasctl_print_json(list);
        json_decref(list);
        return NASCTL_OK;
    }
    size_t i;
    const json_t *d;
    printf("%-24s %-6s %-12s %7s %9s %9s %s\n", "NAME", "KIND", "SHAPE", "CLASSES", "TRAIN", "TEST",
           "SOURCE");
    json_array_foreach(json_object_get(list, "datasets"), i, d)
    {
        const json_t *shape = json_object_get(d, "shape");
        char sh[40] = "-", cl[16] = "-", tr[24] = "-", te[24] = "-";
        if (json_array_size(shape) == 3)
            snprintf(sh, sizeof(sh), "%lldx%lldx%lld",
                     (long long)json_integer_value(json_array_get(shape, 0)),
                     (long long)json_integer_value(json_array_get(shape, 1)),
                     (long long)json_integer_value(json_array_get(shape, 2)));
        if (json_object_get(d, "classes"))
            snprintf(cl, sizeof(cl), "%lld",
                     (long long)json_integer_value(json_object_get(d, "classes")));
        if (json_object_get(d, "train_size"))
            snprintf(tr, sizeof(tr), "%lld",
                     (long long)json_integer_value(json_object_get(d, "train_size")));
        if (json_object_get(d, "test_size"))
            snprintf(te, sizeof(te), "%lld",
                     (long long)json_integer_value(json_object_get(d, "test_size")));
        int up = json_is_true(json_object_get(d, "uploaded"));
        printf("%-24s %-6s %-12s %7s %9s %9s %s\n", json_string_value(json_object_get(d, "name")),
               json_string_value(json_object_get(d, "kind")), sh, cl, tr, te,
               up                                            ? "uploaded"
               : json_is_true(json_object_get(d, "present")) ? "built in"
                                                             : "built in, absent");
    }
    json_decref(list);
    return NASCTL_OK;
}

int nasctl_cmd_dataset_get(const nasctl_opts *o)
{
    char path[400];
    int rc = dataset_path(o->arg, o->output ? "?format=png" : "", path, sizeof(path));
    if (rc != NASCTL_OK)
        return rc;
    if (o->output) {
        nasctl_resp r;
        if ((rc = nasctl_call("GET", path, NULL, &r)) != NASCTL_OK)
            return rc;
        rc = nasctl_write_file(o->output, r.body, r.len);
        if (rc == NASCTL_OK && strcmp(o->output, "-") != 0)
            fprintf(stderr, "nasctl: wrote the sample grid (%zu bytes) to %s\n", r.len, o->output);
        nasctl_resp_free(&r);
        return rc;
    }
    json_t *d = NULL;
    if ((rc = nasctl_call_json("GET", path, NULL, &d)) != NASCTL_OK)
        return rc;
    if (o->json)
        nasctl_print_json(d);
    else
        print_dataset(d);
    json_decref(d);
    return NASCTL_OK;
}

int nasctl_cmd_dataset_delete(const nasctl_opts *o)
{
    char path[400];
    nasctl_resp r;
    int rc = dataset_path(o->arg, "", path, sizeof(path));
    if (rc == NASCTL_OK && (rc = nasctl_call("DELETE", path, NULL, &r)) == NASCTL_OK) {
        nasctl_resp_free(&r);
        if (!o->json)
            printf("deleted %s\n", o->arg);
    }
    return rc;
}
