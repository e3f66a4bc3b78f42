// SPDX-License-Identifier: MIT
/*
 * test_integration_query.c - what a request's query says, through a real
 * nasd (issue #15 items 1 and 5): a query parameter a route does not take
 * is a 400 naming it and the ones it takes (a misspelt ?dry_run must not
 * start a job, a misspelt filter must not list every job);
 * POST /v1/jobs?dry_run=true answers 200 with the complete spec and its
 * memory estimate and creates no job, and refuses what a submission
 * refuses; GET /v1/jobs filters by name, algorithm, search space,
 * dataset and tag (the spec's `tags`), and a metric's points by name.
 *
 * The one design decision to know: the jobs listed are queued behind one
 * worker held by a long train job, so nothing here depends on how fast a
 * job runs; the blocker is cancelled at the end.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "itest.h"
#include "scale.h"

TestSuite(query, .init = begin_test, .fini = finish_test);

static const char blocker_spec[] =
    "{\"algorithm\":\"train\",\"dataset\":\"synthetic\",\"name\":\"blocker\","
    "\"architecture\":{\"space\":\"fixed-cnn\",\"channels\":[8,16],\"hidden\":32},"
    "\"budget\":{\"epochs\":1000},\"seed\":1}";

/* The number of jobs GET path lists (one page is enough here). */
static size_t listed(int port, const char *path)
{
    json_t *page = call(port, "GET", path, NULL, 200);
    size_t n = json_array_size(json_object_get(page, "jobs"));
    json_decref(page);
    return n;
}

Test(query, unknown_parameters_are_named_and_dry_runs_create_nothing)
{
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, NULL);

    /* A misspelt parameter: 400 naming it and what the route takes. */
    json_t *p = expect_problem(d.port, "GET", "/v1/jobs?nmae=x", NULL, 400, "invalid-field");
    cr_assert_str_eq(str_at(p, "parameter"), "nmae");
    cr_assert(strstr(str_at(p, "detail"), "page_token"), "%s", str_at(p, "detail"));
    json_t *allowed = json_object_get(p, "allowed");
    cr_assert(json_is_array(allowed) && json_array_size(allowed) == 8, "%s", text_of(p));
    json_decref(p);
    p = expect_problem(d.port, "POST", "/v1/jobs?dryrun=true", "{}", 400, "invalid-field");
    cr_assert_str_eq(str_at(p, "parameter"), "dryrun");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(p, "allowed"), 0)),
                     "dry_run");
    json_decref(p);
    p = expect_problem(d.port, "POST", "/v1/jobs?dry_run=maybe", "{}", 400, "invalid-field");
    cr_assert_str_eq(str_at(p, "parameter"), "dry_run");
    json_decref(p);
    p = expect_problem(d.port, "GET", "/healthz?verbose=1", NULL, 400, "invalid-field");
    cr_assert(strstr(str_at(p, "detail"), "takes no query parameters"), "%s", str_at(p, "detail"));
    json_decref(p);
    cr_assert_eq(listed(d.port, "/v1/jobs"), 0, "a refused request created a job");

    /* A dry run: the complete spec, the estimate, no job. */
    json_t *r = call(d.port, "POST", "/v1/jobs?dry_run=true", "{\"algorithm\":\"darts\"}", 200);
    cr_assert(json_is_true(json_object_get(r, "dry_run")));
    cr_assert_str_eq(str_at(r, "spec.search_space"), "darts-cnn");
    cr_assert_eq(int_at(r, "spec.hyperparameters.C"), 16);
    cr_assert(json_is_array(at(r, "spec.tags")));
    json_int_t mem = int_at(r, "estimate.memory_bytes");
    json_int_t sum =
        int_at(r, "estimate.memory_parts.params") + int_at(r, "estimate.memory_parts.activations") +
        int_at(r, "estimate.memory_parts.data") + int_at(r, "estimate.memory_parts.base");
    cr_assert_gt(mem, 0, "%s", text_of(r));
    cr_assert_eq(mem, sum, "the estimate is its parts: %s", text_of(r));
    cr_assert_gt(int_at(r, "estimate.memory_limit_bytes"), 0);
    json_decref(r);
    r = call(d.port, "POST", "/v1/jobs?dry_run", "{}", 200); /* bare: true */
    json_decref(r);
    r = call(d.port, "POST", "/v1/jobs?dry_run=false",
             "{\"algorithm\":\"train\",\"dataset\":\"synthetic\",\"budget\":{\"epochs\":1}}", 202);
    json_decref(r);
    cr_assert_eq(listed(d.port, "/v1/jobs"), 1, "dry runs created jobs");

    /* A dry run refuses what a submission refuses. */
    p = expect_problem(d.port, "POST", "/v1/jobs?dry_run=true",
                       "{\"algorithm\":\"darts\",\"hyperparameters\":{\"lr\":-1}}", 400,
                       "invalid-field");
    cr_assert_str_eq(str_at(p, "pointer"), "/hyperparameters/lr");
    json_decref(p);
    p = expect_problem(d.port, "POST", "/v1/jobs?dry_run=true",
                       "{\"algorithm\":\"darts\",\"hyperparameters\":{\"C\":64,\"layers\":20,"
                       "\"batch_size\":4096}}",
                       400, "limit-exceeded");
    cr_assert_str_eq(str_at(p, "limit_name"), "max-job-memory");
    json_decref(p);
    cr_assert_eq(listed(d.port, "/v1/jobs"), 1);
    stop_ok(&d);
    PASS();
}

Test(query, jobs_filter_by_name_algorithm_space_dataset_and_tag)
{
    nasd_proc d;
    char blocker[33], a[33], b[33], c[33];
    start_in(&d, NULL, itest_one_worker, NULL);
    submit(d.port, blocker_spec, blocker);
    wait_state(d.port, blocker, "running");
    submit(d.port,
           "{\"algorithm\":\"darts\",\"dataset\":\"synthetic\",\"name\":\"alpha\","
           "\"tags\":[\"baseline\",\"fmnist:v2\"],\"budget\":{\"epochs\":1}}",
           a);
    submit(d.port,
           "{\"algorithm\":\"random\",\"search_space\":\"enas-micro\",\"dataset\":\"synthetic\","
           "\"name\":\"beta\",\"tags\":[\"baseline\"]}",
           b);
    submit(d.port,
           "{\"algorithm\":\"train\",\"dataset\":\"synthetic\",\"name\":\"alpha\","
           "\"budget\":{\"epochs\":1}}",
           c);

    cr_assert_eq(listed(d.port, "/v1/jobs"), 4);
    cr_assert_eq(listed(d.port, "/v1/jobs?name=alpha"), 2);
    cr_assert_eq(listed(d.port, "/v1/jobs?algorithm=random"), 1);
    cr_assert_eq(listed(d.port, "/v1/jobs?search_space=enas-micro"), 1);
    cr_assert_eq(listed(d.port, "/v1/jobs?dataset=synthetic"), 4);
    cr_assert_eq(listed(d.port, "/v1/jobs?dataset=cifar10"), 0);
    cr_assert_eq(listed(d.port, "/v1/jobs?tag=baseline"), 2);
    cr_assert_eq(listed(d.port, "/v1/jobs?tag=fmnist:v2"), 1);
    cr_assert_eq(listed(d.port, "/v1/jobs?tag=base"), 0, "a tag matches whole");
    cr_assert_eq(listed(d.port, "/v1/jobs?name=alpha&algorithm=darts&tag=baseline"), 1);
    cr_assert_eq(listed(d.port, "/v1/jobs?state=running&name=blocker"), 1);
    json_t *page = call(d.port, "GET", "/v1/jobs?tag=baseline&page_size=1", NULL, 200);
    cr_assert_str_eq(str_at(json_array_get(json_object_get(page, "jobs"), 0), "id"), b);
    char next[256];
    snprintf(next, sizeof next, "/v1/jobs?tag=baseline&page_size=1&page_token=%s",
             str_at(page, "next_page_token"));
    json_decref(page);
    page = call(d.port, "GET", next, NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(page, "jobs")), 1);
    cr_assert_str_eq(str_at(json_array_get(json_object_get(page, "jobs"), 0), "id"), a);
    cr_assert(json_is_null(json_object_get(page, "next_page_token")), "%s", text_of(page));
    json_decref(page);

    /* Tags are checked like every field. */
    json_t *p = post_problem(d.port, "{\"tags\":\"baseline\"}", 400, "invalid-field");
    cr_assert_str_eq(str_at(p, "pointer"), "/tags");
    json_decref(p);
    p = post_problem(d.port, "{\"tags\":[\"ok\",\"not ok\"]}", 400, "invalid-field");
    cr_assert_str_eq(str_at(p, "pointer"), "/tags/1");
    json_decref(p);
    p = post_problem(d.port, "{\"tags\":[\"x\",\"x\"]}", 400, "invalid-field");
    cr_assert_str_eq(str_at(p, "pointer"), "/tags/1");
    json_decref(p);

    cancel(d.port, c);
    cancel(d.port, b);
    cancel(d.port, a);
    cancel(d.port, blocker);
    wait_job(d.port, blocker, "cancelled", ITEST_JOB_MS);
    stop_ok(&d);
    PASS();
}

Test(query, metric_points_by_name)
{
    nasd_proc d;
    char id[33], path[160];
    start_in(&d, NULL, itest_one_worker, NULL);
    submit(d.port,
           "{\"algorithm\":\"train\",\"dataset\":\"synthetic\",\"budget\":{\"epochs\":2},"
           "\"architecture\":{\"space\":\"fixed-cnn\",\"channels\":[4,8],\"hidden\":16},"
           "\"seed\":2}",
           id);
    wait_job(d.port, id, "succeeded", ITEST_JOB_MS);
    json_t *all = get_sub(d.port, id, "metrics"), *m;
    size_t i, want = 0;
    json_array_foreach(json_object_get(all, "metrics"), i, m) want +=
        !strcmp(str_at(m, "name"), "train_loss");
    cr_assert_gt(want, 0, "%s", text_of(all));
    snprintf(path, sizeof path, "/v1/jobs/%s/metrics?name=train_loss", id);
    json_t *some = call(d.port, "GET", path, NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(some, "metrics")), want, "%s", text_of(some));
    json_array_foreach(json_object_get(some, "metrics"), i, m)
        cr_assert_str_eq(str_at(m, "name"), "train_loss");
    json_decref(some);
    json_decref(all);
    snprintf(path, sizeof path, "/v1/jobs/%s/metrics?limit=1001", id);
    json_decref(expect_problem(d.port, "GET", path, NULL, 400, "invalid-field"));
    stop_ok(&d);
    PASS();
}

/* Architectures are numbered from 1 within their job (issue #15 item 3):
 * the second job's first architecture is /architectures/1 although its
 * global seq is not 1, and the list, that route, the job's best and the
 * event stream's architecture events are one row with one field name. */
Test(query, architectures_numbered_per_job_in_one_shape)
{
    nasd_proc d;
    char first[33], second[33], path[160];
    static const char search[] =
        "{\"algorithm\":\"darts\",\"search_space\":\"darts-cnn\",\"dataset\":\"synthetic\","
        "\"budget\":{\"epochs\":2},\"hyperparameters\":{\"C\":4,\"layers\":3,\"batch_size\":8,"
        "\"max_examples\":64},\"seed\":3}";
    start_in(&d, NULL, itest_one_worker, NULL);
    submit(d.port, search, first);
    wait_job(d.port, first, "succeeded", ITEST_JOB_MS);
    submit(d.port, search, second);
    wait_job(d.port, second, "succeeded", ITEST_JOB_MS);

    json_t *list = get_sub(d.port, second, "architectures");
    json_t *rows = json_object_get(list, "architectures"), *row;
    size_t i;
    cr_assert_eq(json_array_size(rows), 2, "%s", text_of(list));
    cr_assert_gt(int_at(json_array_get(rows, 0), "seq"), 1, "the first job's rows came first");
    json_array_foreach(rows, i, row)
    {
        cr_assert_eq(int_at(row, "number"), (json_int_t)i + 1);
        cr_assert(json_object_get(row, "architecture") && !json_object_get(row, "arch"), "%s",
                  text_of(row));
        snprintf(path, sizeof path, "/v1/jobs/%s/architectures/%zu", second, i + 1);
        json_t *one = call(d.port, "GET", path, NULL, 200);
        cr_assert(json_equal(one, row), "%s is the list's row: %s vs %s", path, text_of(one),
                  text_of(row));
        json_decref(one);
    }
    snprintf(path, sizeof path, "/v1/jobs/%s/architectures/3", second);
    json_decref(expect_problem(d.port, "GET", path, NULL, 404, "not-found"));

    /* The best so far is one of the rows, as it is. */
    json_t *job = get_sub(d.port, second, "");
    json_t *best = json_object_get(job, "best_architecture");
    int found = 0;
    json_array_foreach(rows, i, row) found += json_equal(row, best);
    cr_assert_eq(found, 1, "best %s is not a row", text_of(best));
    json_decref(job);

    /* The event stream replays the same rows to a client that has seen
     * nothing (Last-Event-ID 0-0, as after a reconnect). */
    sse *s = NULL;
    http_resp r;
    snprintf(path, sizeof path, "/v1/jobs/%s/events", second);
    cr_assert_eq(sse_open_with(d.port, path, "0-0", ITEST_START_MS, &s, &r), 200, "%s",
                 http_errmsg());
    http_resp_free(&r);
    char ev[32];
    json_t *data = NULL;
    size_t seen = 0;
    while (sse_next(s, ITEST_START_MS, ev, sizeof ev, &data) == 1) {
        if (!strcmp(ev, "architecture")) {
            cr_assert(json_equal(data, json_array_get(rows, seen)), "event %s vs row %s",
                      text_of(data), text_of(json_array_get(rows, seen)));
            seen++;
        }
        json_decref(data);
        data = NULL;
    }
    sse_close(s);
    cr_assert_eq(seen, 2, "the stream replayed %zu architectures", seen);
    json_decref(list);
    stop_ok(&d);
    PASS();
}

/* A search cancelled after it has stored architectures keeps its best so
 * far as a partial result (issue #15 item 4): served, marked, drawable. */
Test(query, a_cancelled_search_keeps_a_partial_result)
{
    nasd_proc d;
    char id[33], path[160];
    start_in(&d, NULL, itest_one_worker, NULL);
    submit(d.port,
           "{\"algorithm\":\"darts\",\"search_space\":\"darts-cnn\",\"dataset\":\"synthetic\","
           "\"budget\":{\"epochs\":500},\"hyperparameters\":{\"C\":4,\"layers\":3,"
           "\"batch_size\":8,\"max_examples\":64},\"seed\":5}",
           id);
    /* Two epochs' architectures, polled with a deadline. */
    int64_t deadline = test_now_ms() + test_scaled_ms(ITEST_JOB_MS);
    json_t *list = NULL;
    for (;;) {
        list = get_sub(d.port, id, "architectures");
        if (json_array_size(json_object_get(list, "architectures")) >= 2)
            break;
        json_decref(list);
        cr_assert_lt(test_now_ms(), deadline, "no architectures in time");
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    json_decref(list);
    cancel(d.port, id);
    wait_job(d.port, id, "cancelled", ITEST_JOB_MS);

    list = get_sub(d.port, id, "architectures");
    json_t *rows = json_object_get(list, "architectures"), *row, *best = NULL;
    size_t i;
    json_array_foreach(
        rows, i, row) if (!best || json_real_value(json_object_get(row, "reward")) >
                                       json_real_value(json_object_get(best, "reward"))) best = row;
    json_t *res = get_sub(d.port, id, "result");
    cr_assert(json_is_true(at(res, "details.partial")), "%s", text_of(res));
    cr_assert_str_eq(str_at(res, "details.reason"), "cancelled");
    cr_assert_str_eq(str_at(res, "metric"), "reward");
    cr_assert_eq(int_at(res, "details.architecture.number"), int_at(best, "number"), "%s",
                 text_of(res));
    cr_assert_str_eq(str_at(res, "architecture.space"), "darts-cnn");
    json_t *genotype = json_deep_copy(at(res, "architecture"));
    json_object_del(genotype, "space");
    cr_assert(json_equal(genotype, at(best, "architecture")), "%s vs %s", text_of(genotype),
              text_of(best));
    json_decref(genotype);
    json_decref(res);
    json_decref(list);
    snprintf(path, sizeof path, "/v1/jobs/%s/result?format=svg", id);
    http_resp r;
    request(d.port, "GET", path, NULL, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "<svg"), "not an SVG");
    http_resp_free(&r);
    stop_ok(&d);
    PASS();
}
