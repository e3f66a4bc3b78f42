// SPDX-License-Identifier: MIT
/*
 * test_routes.c - the route table of api/router.c against its other views:
 * the OpenAPI document (schema/openapi.yaml, served as /v1/openapi.json)
 * has one path per row with the row's methods, and the /metrics route
 * label of a path is the pattern of the row it matches.
 *
 * The one design decision to know: the rows are read through api.h
 * (api_route_count, api_route_label, api_route_allow), never restated
 * here, so a new route is checked without touching this file.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

extern const char api_openapi_json[];

/* The rows of the table: every route but "static" and "other". */
static size_t n_rows(void)
{
    return api_route_count() - 2;
}

/* A path template with each {name} written {} (OpenAPI names its
 * parameters, the router only their kind). */
static void template_of(const char *path, char *out, size_t n)
{
    size_t o = 0;
    for (const char *p = path; *p && o + 1 < n; p++) {
        out[o++] = *p;
        if (*p == '{')
            while (p[1] && p[1] != '}')
                p++;
    }
    out[o] = '\0';
}

static json_t *openapi_paths(void)
{
    json_error_t err;
    json_t *doc = json_loads(api_openapi_json, 0, &err);
    cr_assert(doc, "openapi.json: %s", err.text);
    json_t *paths = json_incref(json_object_get(doc, "paths"));
    json_decref(doc);
    cr_assert(json_is_object(paths), "openapi.json has no paths");
    return paths;
}

/* The OpenAPI path of a row, or NULL. */
static json_t *path_of_row(json_t *paths, size_t row, const char **key_out)
{
    char want[128], have[128];
    template_of(api_route_label(row), want, sizeof want);
    const char *key;
    json_t *item;
    json_object_foreach(paths, key, item)
    {
        template_of(key, have, sizeof have);
        if (strcmp(want, have) == 0) {
            if (key_out)
                *key_out = key;
            return item;
        }
    }
    return NULL;
}

Test(routes, every_row_is_an_openapi_path_with_its_methods)
{
    json_t *paths = openapi_paths();
    cr_assert_gt(n_rows(), 0);
    for (size_t i = 0; i < n_rows(); i++) {
        const char *pattern = api_route_label(i);
        json_t *item = path_of_row(paths, i, NULL);
        cr_assert(item, "route %s is not a path of schema/openapi.yaml", pattern);
        /* The row's Allow header and the document's operations, as the
         * same text ("GET, HEAD, POST"). */
        char allow[64], doc[64] = "";
        api_route_allow(i, allow, sizeof allow);
        static const char *const ops[][2] = {
            {"get", "GET, HEAD"}, {"post", "POST"}, {"delete", "DELETE"}};
        for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++)
            if (json_object_get(item, ops[k][0]))
                snprintf(doc + strlen(doc), sizeof doc - strlen(doc), "%s%s", *doc ? ", " : "",
                         ops[k][1]);
        cr_assert_str_eq(doc, allow, "%s: openapi.yaml has %s, the route table %s", pattern, doc,
                         allow);
    }
    json_decref(paths);
}

Test(routes, every_openapi_path_is_a_row)
{
    json_t *paths = openapi_paths();
    const char *key;
    json_t *item;
    json_object_foreach(paths, key, item)
    {
        if (strcmp(key, "/") == 0) /* the web root: "static", not a row */
            continue;
        int found = 0;
        for (size_t i = 0; i < n_rows(); i++) {
            const char *k = NULL;
            if (path_of_row(paths, i, &k) && strcmp(k, key) == 0)
                found = 1;
        }
        cr_assert(found, "openapi.yaml has %s, which is no row of api/router.c", key);
    }
    json_decref(paths);
}

Test(routes, the_metrics_label_is_the_matching_row)
{
    const char *id = "0123456789abcdef0123456789abcdef";
    char path[128];
    for (size_t i = 0; i < n_rows(); i++) {
        /* The row's pattern with its parameters filled in is labelled
         * with the pattern itself. */
        const char *pattern = api_route_label(i);
        size_t o = 0;
        for (const char *p = pattern; *p; p++) {
            if (*p == '{') {
                const char *v = strncmp(p, "{id}", 4) == 0 ? id : "12";
                o += (size_t)snprintf(path + o, sizeof path - o, "%s", v);
                p = strchr(p, '}');
            } else {
                path[o++] = *p;
            }
        }
        path[o] = '\0';
        cr_assert_str_eq(api_route_name(path), pattern, "%s", path);
    }
    cr_assert_str_eq(api_route_name("/"), "static");
    cr_assert_str_eq(api_route_name("/app.js"), "static");
    cr_assert_str_eq(api_route_name("/v1"), "other");
    cr_assert_str_eq(api_route_name("/v1/nope"), "other");
    cr_assert_str_eq(api_route_name("/v1/jobs/0123"), "other");
    cr_assert_str_eq(api_route_name("/v1/jobs/0123456789abcdef0123456789abcdef/nope"), "other");
    cr_assert_str_eq(api_route_name("/v1/jobs/0123456789ABCDEF0123456789abcdef"), "other");
    cr_assert_str_eq(api_route_name("/v1/jobs/0123456789abcdef0123456789abcdef/architectures/x"),
                     "other");
    cr_assert_str_eq(
        api_route_name(
            "/v1/jobs/0123456789abcdef0123456789abcdef/architectures/1234567890123456789"),
        "other");
}

/* The query parameters of an OpenAPI operation (its own and its path's),
 * sorted, space-separated; access_token aside (the bridge's, documented
 * where a browser may use it). */
static json_t *openapi_doc(void)
{
    json_error_t err;
    json_t *doc = json_loads(api_openapi_json, 0, &err);
    cr_assert(doc, "openapi.json: %s", err.text);
    return doc;
}

/* A parameter, its $ref (#/components/parameters/NAME) followed. */
static json_t *deref(json_t *doc, json_t *p)
{
    const char *ref = json_string_value(json_object_get(p, "$ref"));
    const char *pre = "#/components/parameters/";
    if (!ref || strncmp(ref, pre, strlen(pre)) != 0)
        return p;
    json_t *r = json_object_get(json_object_get(json_object_get(doc, "components"), "parameters"),
                                ref + strlen(pre));
    cr_assert(r, "%s is not a parameter of the document", ref);
    return r;
}

static void doc_query(json_t *doc, json_t *item, json_t *op, char *out, size_t n)
{
    const char *names[32];
    size_t k = 0;
    json_t *lists[2] = {json_object_get(item, "parameters"), json_object_get(op, "parameters")};
    for (int l = 0; l < 2; l++) {
        size_t i;
        json_t *p;
        json_array_foreach(lists[l], i, p)
        {
            p = deref(doc, p);
            const char *in = json_string_value(json_object_get(p, "in"));
            const char *name = json_string_value(json_object_get(p, "name"));
            if (in && name && !strcmp(in, "query") && strcmp(name, "access_token") && k < 32)
                names[k++] = name;
        }
    }
    for (size_t i = 1; i < k; i++) /* insertion sort */
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            const char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    out[0] = '\0';
    for (size_t i = 0; i < k; i++)
        snprintf(out + strlen(out), n - strlen(out), "%s%s", i ? " " : "", names[i]);
}

/* The same list from the route table, sorted. */
static void row_query(const char *list, char *out, size_t n)
{
    char words[32][40];
    size_t k = 0;
    for (const char *p = list; p && *p && k < 32;) {
        size_t w = strcspn(p, " ");
        snprintf(words[k++], sizeof words[0], "%.*s", (int)w, p);
        p += w;
        p += strspn(p, " ");
    }
    qsort(words, k, sizeof words[0], (int (*)(const void *, const void *))strcmp);
    out[0] = '\0';
    for (size_t i = 0; i < k; i++)
        snprintf(out + strlen(out), n - strlen(out), "%s%.39s", i ? " " : "", words[i]);
}

/* A query parameter the router refuses must not be documented, and one
 * it takes must be (issue #15: an unknown one is a 400). */
Test(routes, every_row_takes_the_query_parameters_openapi_documents)
{
    json_t *doc = openapi_doc(), *paths = json_object_get(doc, "paths");
    static const char *const methods[2] = {"get", "post"};
    for (size_t i = 0; i < n_rows(); i++) {
        json_t *item = path_of_row(paths, i, NULL);
        cr_assert(item, "route %s is not a path of schema/openapi.yaml", api_route_label(i));
        for (int post = 0; post < 2; post++) {
            json_t *op = json_object_get(item, methods[post]);
            if (!op)
                continue;
            char have[512], row[512];
            doc_query(doc, item, op, have, sizeof have);
            row_query(api_route_query(i, post), row, sizeof row);
            cr_expect_str_eq(have, row,
                             "%s %s: OpenAPI documents query parameters [%s], the route "
                             "table takes [%s]",
                             methods[post], api_route_label(i), have, row);
        }
    }
    json_decref(doc);
}
