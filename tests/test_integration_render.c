// SPDX-License-Identifier: MIT
/*
 * test_integration_render.c - drawings through a real nasd (issue #7,
 * "GET /v1/jobs/{id}/result?format=svg and ?format=dot, and the same for
 * any stored architecture"): a short darts-cnn search on the synthetic
 * dataset ends succeeded, and then its result and each of its stored
 * architectures come back as SVG (image/svg+xml) and DOT
 * (text/vnd.graphviz) drawing exactly the edges of the genotype; an
 * unknown format is a 400 naming the parameter and the allowed values; a
 * job still queued has no drawing yet (409), a cancelled one none at all
 * (404), a train job's fixed CNN is not something to draw (422), and an
 * architecture that is not there is a 404.
 *
 * The one design decision to know: one worker, held by a long train job
 * while the search is queued, so "queued" is a state the test can count
 * on (no race with a search that finishes before it is asked); cancelling
 * the blocker lets the search run. Waits poll with deadlines.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "itest.h"

#define JOB_MS 60000

static const char *const flags[] = {"--workers", "1", "--threads-per-job", "1", NULL};

static const char long_job[] =
    "{\"algorithm\":\"train\",\"dataset\":\"synthetic\","
    "\"architecture\":{\"space\":\"fixed-cnn\",\"channels\":[8,16],\"hidden\":32},"
    "\"budget\":{\"epochs\":1000},\"seed\":1}";

static const char tiny_train[] =
    "{\"algorithm\":\"train\",\"dataset\":\"synthetic\","
    "\"architecture\":{\"space\":\"fixed-cnn\",\"channels\":[4,8],\"hidden\":16},"
    "\"budget\":{\"epochs\":1},\"seed\":2}";

static const char search[] =
    "{\"algorithm\":\"darts\",\"search_space\":\"darts-cnn\",\"dataset\":\"synthetic\","
    "\"budget\":{\"epochs\":2},\"hyperparameters\":{\"C\":4,\"layers\":3,\"batch_size\":8,"
    "\"max_examples\":64},\"seed\":3}";

TestSuite(render, .init = begin_test, .fini = finish_test);

/* ------------------------------------------------------------- helpers */

static void get(int port, const char *path, http_resp *r)
{
    int rc = http_get(port, path, r);
    cr_assert_eq(rc, 0, "GET %s: %s", path, http_errmsg());
}

static void content_type_is(const http_resp *r, const char *want)
{
    char ct[128];
    cr_assert(http_header(r, "Content-Type", ct, sizeof(ct)), "no Content-Type");
    cr_assert_str_eq(ct, want);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* The SVG and DOT drawings at path (a result or an architecture) are
 * those of genotype g: every gene is an edge with its op, in each cell. */
static void check_drawings(int port, const char *path, const json_t *g)
{
    char url[256];
    http_resp r;
    snprintf(url, sizeof(url), "%s?format=svg", path);
    get(port, url, &r);
    cr_assert_eq(r.status, 200, "GET %s: %d %s", url, r.status, r.body);
    content_type_is(&r, "image/svg+xml");
    cr_assert(strncmp(r.body, "<svg xmlns=\"http://www.w3.org/2000/svg\"", 39) == 0, "%.200s",
              r.body);
    cr_assert(strstr(r.body, "</svg>\n") && r.body_len == strlen(r.body));
    cr_assert(strstr(r.body, ">normal cell</text>") && strstr(r.body, ">reduction cell</text>"));
    cr_assert_eq(count(r.body, "<path class=\"edge\""), 2 * (8 + 4), "%s", r.body);
    http_resp svg = r;

    snprintf(url, sizeof(url), "%s?format=dot", path);
    get(port, url, &r);
    cr_assert_eq(r.status, 200, "GET %s: %d %s", url, r.status, r.body);
    content_type_is(&r, "text/vnd.graphviz");
    cr_assert(strncmp(r.body, "digraph \"darts-cnn\" {", 21) == 0, "%.200s", r.body);
    static const char *const cells[] = {"normal", "reduce"};
    for (int c = 0; c < 2; c++) {
        const json_t *genes = json_object_get(g, cells[c]);
        cr_assert_eq(json_array_size(genes), 8);
        for (size_t i = 0; i < 8; i++) {
            const json_t *gene = json_array_get(genes, i);
            const char *op = json_string_value(json_array_get(gene, 0));
            json_int_t from = json_integer_value(json_array_get(gene, 1));
            char edge[160], label[96];
            /* Node i/2 of the cell is drawn as node 2 + i/2 (after the two
             * inputs). */
            snprintf(edge, sizeof(edge), "\"%s/%d\" -> \"%s/%zu\" [label=\"%s\"];", cells[c],
                     (int)from, cells[c], 2 + i / 2, op);
            cr_assert(strstr(r.body, edge), "no %s in\n%s", edge, r.body);
            snprintf(label, sizeof(label), "class=\"edge-label\" data-from=\"%d\" data-to=\"%zu\"",
                     (int)from, 2 + i / 2);
            cr_assert(strstr(svg.body, label), "no %s in the SVG", label);
        }
    }
    http_resp_free(&svg);
    http_resp_free(&r);
}

Test(render, result_and_architectures_drawn)
{
    nasd_proc d;
    char dir[PATH_MAX], blocker[33], id[33], path[160];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    cr_assert_eq(nasd_start(&d, dir, flags, ITEST_START_MS), 0, "nasd did not start");
    submit(d.port, long_job, blocker);
    wait_state(d.port, blocker, "running");
    submit(d.port, search, id);

    /* Queued: no drawing yet (409); a bad format is refused first. */
    http_resp r;
    snprintf(path, sizeof(path), "/v1/jobs/%s/result?format=svg", id);
    get(d.port, path, &r);
    json_decref(problem(&r, 409, "conflict"));
    http_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/jobs/%s/result", id);
    get(d.port, path, &r);
    json_decref(problem(&r, 404, "not-found"));
    http_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/jobs/%s/result?format=png", id);
    get(d.port, path, &r);
    json_t *p = problem(&r, 400, "invalid-field");
    cr_assert_str_eq(json_string_value(json_object_get(p, "parameter")), "format");
    json_t *allowed = json_pack("[s,s,s]", "json", "svg", "dot");
    cr_assert(json_equal(json_object_get(p, "allowed"), allowed), "%s", r.body);
    json_decref(allowed);
    cr_assert(strstr(json_string_value(json_object_get(p, "detail")), "png"), "%s", r.body);
    json_decref(p);
    http_resp_free(&r);

    snprintf(path, sizeof(path), "/v1/jobs/%s:cancel", blocker);
    json_decref(call(d.port, "POST", path, NULL, 202));
    wait_state(d.port, blocker, "cancelled");
    wait_state(d.port, id, "succeeded");

    /* A train job of the fixed CNN has a result, but not one with cells:
     * 422 saying why. */
    char train[33];
    submit(d.port, tiny_train, train);
    wait_state(d.port, train, "succeeded");
    snprintf(path, sizeof(path), "/v1/jobs/%s/result?format=svg", train);
    get(d.port, path, &r);
    p = problem(&r, 422, "cannot-draw");
    cr_assert(strstr(json_string_value(json_object_get(p, "detail")), "cannot draw"), "%s", r.body);
    json_decref(p);
    http_resp_free(&r);

    /* A cancelled train job has no result to draw. */
    snprintf(path, sizeof(path), "/v1/jobs/%s/result?format=dot", blocker);
    get(d.port, path, &r);
    json_decref(problem(&r, 404, "not-found"));
    http_resp_free(&r);

    /* The result, drawn. */
    snprintf(path, sizeof(path), "/v1/jobs/%s/result", id);
    json_t *res = call(d.port, "GET", path, NULL, 200);
    check_drawings(d.port, path, json_object_get(res, "architecture"));
    json_decref(res);

    /* Every architecture row, one by one: JSON as listed, and drawn. */
    snprintf(path, sizeof(path), "/v1/jobs/%s/architectures", id);
    json_t *page = call(d.port, "GET", path, NULL, 200);
    json_t *rows = json_object_get(page, "architectures");
    cr_assert_eq(json_array_size(rows), 2, "one row per epoch");
    size_t i;
    json_t *row;
    json_int_t last = 0;
    json_array_foreach(rows, i, row)
    {
        json_int_t seq = json_integer_value(json_object_get(row, "seq"));
        snprintf(path, sizeof(path), "/v1/jobs/%s/architectures/%lld", id, (long long)seq);
        json_t *one = call(d.port, "GET", path, NULL, 200);
        cr_assert(json_equal(one, row), "GET %s differs from the listed row", path);
        json_decref(one);
        check_drawings(d.port, path, json_object_get(row, "architecture"));
        last = seq;
    }
    json_decref(page);

    /* Rows that are not there, and a bad format on a row. */
    snprintf(path, sizeof(path), "/v1/jobs/%s/architectures/%lld", id, (long long)last + 1000);
    get(d.port, path, &r);
    json_decref(problem(&r, 404, "not-found"));
    http_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/jobs/%s/architectures/%lld", blocker, (long long)last);
    get(d.port, path, &r);
    json_decref(problem(&r, 404, "not-found"));
    http_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/jobs/%s/architectures/0", id);
    get(d.port, path, &r);
    json_decref(problem(&r, 404, "not-found"));
    http_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/jobs/%s/architectures/%lld?format=gif", id, (long long)last);
    get(d.port, path, &r);
    json_decref(problem(&r, 400, "invalid-field"));
    http_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/jobs/%s/architectures/x1", id);
    get(d.port, path, &r);
    cr_assert_eq(r.status, 404, "%s: %d", path, r.status);
    http_resp_free(&r);
    /* Only GET. */
    snprintf(path, sizeof(path), "/v1/jobs/%s/architectures/%lld", id, (long long)last);
    http_request(d.port, "DELETE", path, NULL, NULL, 0, HTTP_TIMEOUT_MS, &r);
    cr_assert_eq(r.status, 405, "DELETE %s: %d", path, r.status);
    http_resp_free(&r);

    cr_assert_eq(nasd_stop(&d, ITEST_STOP_MS), 0);
    PASS();
}
