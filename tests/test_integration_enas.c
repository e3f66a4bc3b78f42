// SPDX-License-Identifier: MIT
/*
 * test_integration_enas.c - ENAS over the CNN spaces end to end (issue #5,
 * "a short search of each space on the synthetic data, submitted through
 * the daemon, ends `succeeded` with a valid architecture"): a real nasd
 * with two workers runs a tiny enas-micro and a tiny enas-macro search;
 * each must end `succeeded` with an architecture of its space's structure,
 * one architecture row with a reward per controller child, the per-epoch
 * metrics of the shared weights and of the controller, and the reference's
 * fixed-arc string in the result. Then what the API refuses for enas: a
 * field out of range (400 naming it).
 *
 * Waits poll with deadlines, never a fixed sleep.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "itest.h"

/* Generous: the suite also runs under ASan on 2 cores. */
#define JOB_MS 60000

#define EPOCHS 2
#define CTRL_STEPS 2
#define AGGREGATE 2

static const char *const flags[] = {"--workers", "2", "--threads-per-job", "1", NULL};

TestSuite(enas, .init = begin_test, .fini = finish_test);

/* ------------------------------------------------------------ checks */

static const char *const micro_ops[] = {"sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3",
                                        "max_pool_3x3", "identity"};

static int micro_op(const char *name)
{
    for (int k = 0; name && k < 5; k++)
        if (!strcmp(name, micro_ops[k]))
            return k;
    return -1;
}

/* {"normal": [{"inputs": [i, j], "ops": [a, b]} x nodes], "normal_concat":
 * the loose ends, "reduce": ..., "reduce_concat": ...}. */
static void check_micro(json_t *a, int nodes, const char *where)
{
    static const char *const cells[2] = {"normal", "reduce"};
    cr_assert(json_is_object(a), "%s: %s", where, text_of(a));
    for (int c = 0; c < 2; c++) {
        json_t *cell = json_object_get(a, cells[c]);
        cr_assert(json_is_array(cell) && (int)json_array_size(cell) == nodes, "%s: %s %s", where,
                  cells[c], text_of(cell));
        int used[32] = {0};
        for (int j = 0; j < nodes; j++) {
            json_t *n = json_array_get(cell, (size_t)j);
            json_t *in = json_object_get(n, "inputs"), *ops = json_object_get(n, "ops");
            cr_assert(json_array_size(in) == 2 && json_array_size(ops) == 2, "%s: node %s", where,
                      text_of(n));
            for (int s = 0; s < 2; s++) {
                json_int_t i = json_integer_value(json_array_get(in, (size_t)s));
                cr_assert(i >= 0 && i < j + 2, "%s: node %d input %lld", where, j, (long long)i);
                used[i] = 1;
                cr_assert(micro_op(json_string_value(json_array_get(ops, (size_t)s))) >= 0,
                          "%s: node %d ops %s", where, j, text_of(ops));
            }
        }
        char key[32];
        snprintf(key, sizeof(key), "%s_concat", cells[c]);
        json_t *concat = json_object_get(a, key);
        size_t k = 0;
        cr_assert(json_is_array(concat), "%s: no %s", where, key);
        for (int i = 0; i < nodes + 2; i++)
            if (!used[i]) {
                cr_assert(json_integer_value(json_array_get(concat, k)) == i,
                          "%s: %s %s, %d is a loose end", where, key, text_of(concat), i);
                k++;
            }
        cr_assert_eq(k, json_array_size(concat), "%s: %s %s", where, key, text_of(concat));
    }
}

static const char *spec_of(const char *space)
{
    static char spec[640];
    snprintf(spec, sizeof(spec),
             "{\"algorithm\":\"enas\",\"search_space\":\"%s\",\"dataset\":\"synthetic\","
             "\"budget\":{\"epochs\":%d},\"hyperparameters\":{\"C\":4,\"layers\":%d,%s"
             "\"batch_size\":8,\"max_examples\":48,\"train_portion\":0.5,\"lstm_size\":16,"
             "\"controller_steps\":%d,"
             "\"controller_aggregate\":%d,\"final_samples\":4},\"seed\":3}",
             space, EPOCHS, strcmp(space, "enas-micro") ? 3 : 1,
             strcmp(space, "enas-micro") ? "" : "\"nodes\":3,", CTRL_STEPS, AGGREGATE);
    return spec;
}

static void check_search(int port, const char *id, const char *space)
{
    int micro = !strcmp(space, "enas-micro");
    char where[96];
    json_t *job = wait_job(port, id, "succeeded", JOB_MS);
    cr_assert(json_is_null(at(job, "error")), "error: %s", text_of(at(job, "error")));
    cr_assert_eq(int_at(job, "progress.epoch"), EPOCHS);
    cr_assert(json_number_value(at(job, "progress.fraction")) == 1.0, "progress %s",
              text_of(at(job, "progress")));
    json_decref(job);

    json_t *res = get_sub(port, id, "result");
    snprintf(where, sizeof(where), "%s: result", space);
    cr_assert_str_eq(str_at(res, "metric"), "val_accuracy", "%s", where);
    double v = json_number_value(at(res, "value"));
    cr_assert(v >= 0.0 && v <= 1.0, "%s: accuracy %g", where, v);
    cr_assert_str_eq(str_at(res, "details.search_space"), space, "%s", where);
    const char *fixed = str_at(res, "details.fixed_arc");
    cr_assert(fixed && *fixed, "%s: no fixed_arc: %s", where, text_of(at(res, "details")));
    if (micro) {
        check_micro(at(res, "architecture"), 3, where);
        int n = 0, x, used;
        for (const char *q = fixed; sscanf(q, "%d%n", &x, &used) == 1; q += used)
            n++;
        cr_assert_eq(n, 2 * 3 * 4, "%s: fixed_arc \"%s\"", where, fixed);
    } else {
        cr_assert(json_is_object(at(res, "architecture")) || json_is_array(at(res, "architecture")),
                  "%s: architecture %s", where, text_of(at(res, "architecture")));
    }
    json_decref(res);

    /* One row per controller child, with its reward. */
    json_t *page = get_sub(port, id, "architectures?limit=100");
    json_t *rows = json_object_get(page, "architectures"), *row;
    cr_assert_eq(json_array_size(rows), EPOCHS * CTRL_STEPS * AGGREGATE, "%s: %zu rows", space,
                 json_array_size(rows));
    size_t i;
    json_array_foreach(rows, i, row)
    {
        double r = json_number_value(at(row, "reward"));
        cr_assert(json_is_number(at(row, "reward")) && r >= 0.0 && r <= 1.0, "%s row %zu: %s",
                  space, i, text_of(row));
        json_int_t e = int_at(row, "metrics.epoch");
        cr_assert_eq(e, (json_int_t)(i / (CTRL_STEPS * AGGREGATE)) + 1, "%s row %zu: %s", space, i,
                     text_of(at(row, "metrics")));
        cr_assert(json_is_integer(at(row, "metrics.step")), "%s row %zu", space, i);
        cr_assert(json_is_string(at(row, "metrics.fixed_arc")), "%s row %zu", space, i);
        if (micro) {
            snprintf(where, sizeof(where), "%s: row %zu", space, i);
            check_micro(at(row, "architecture"), 3, where);
        }
    }
    json_decref(page);

    /* Per epoch: the shared weights' and the controller's metrics. */
    static const char *const names[] = {
        "train_loss",      "train_accuracy", "val_accuracy",       "lr",
        "controller_loss", "baseline",       "controller_entropy", "reward"};
    int seen[8][EPOCHS + 1] = {{0}};
    json_t *metrics = get_sub(port, id, "metrics"), *m;
    json_array_foreach(json_object_get(metrics, "metrics"), i, m)
    {
        const char *name = str_at(m, "name");
        json_int_t e = int_at(m, "epoch");
        for (int k = 0; k < 8; k++)
            if (name && !strcmp(name, names[k]) && e >= 1 && e <= EPOCHS) {
                cr_assert(isfinite(json_number_value(at(m, "value"))), "%s", text_of(m));
                seen[k][e]++;
            }
    }
    for (int k = 0; k < 8; k++)
        for (int e = 1; e <= EPOCHS; e++)
            cr_assert_eq(seen[k][e], 1, "%s: epoch %d has %d %s values", space, e, seen[k][e],
                         names[k]);
    json_decref(metrics);
}

Test(enas, micro_and_macro_searches_succeed_with_valid_architectures, .timeout = 240)
{
    nasd_proc d;
    start_in(&d, NULL, flags, NULL);
    char micro[33], macro[33];
    submit(d.port, spec_of("enas-micro"), micro);
    submit(d.port, spec_of("enas-macro"), macro);
    json_t *job = get_sub(d.port, micro, "");
    cr_assert_str_eq(str_at(job, "spec.search_space"), "enas-micro");
    cr_assert_eq(int_at(job, "spec.hyperparameters.nodes"), 3);
    json_decref(job);
    check_search(d.port, micro, "enas-micro");
    check_search(d.port, macro, "enas-macro");
    stop_ok(&d);
    PASS();
}

static void refused(int port, const char *body, int status, const char *pointer)
{
    http_resp r;
    int rc = http_request(port, "POST", "/v1/jobs", NULL, body, strlen(body), HTTP_TIMEOUT_MS, &r);
    cr_assert_eq(rc, 0, "%s", http_errmsg());
    cr_assert_eq(r.status, status, "%s: %d %s", body, r.status, r.body);
    char ct[128];
    cr_assert(http_header(&r, "Content-Type", ct, sizeof(ct)));
    cr_assert_str_eq(ct, "application/problem+json");
    json_t *p = http_json(&r);
    cr_assert_str_eq(str_at(p, "pointer") ? str_at(p, "pointer") : "", pointer, "%s", r.body);
    json_decref(p);
    http_resp_free(&r);
}

Test(enas, final_training_and_bad_fields_are_refused, .timeout = 60)
{
    nasd_proc d;
    start_in(&d, NULL, flags, NULL);
    /* enas' final training runs (test_integration_enas_final.c), and
     * nas-rl's (test_integration_model.c). */
    refused(d.port, "{\"algorithm\":\"enas\",\"hyperparameters\":{\"controller_aggregate\":0}}",
            400, "/hyperparameters/controller_aggregate");
    refused(d.port,
            "{\"algorithm\":\"enas\",\"search_space\":\"enas-macro\","
            "\"hyperparameters\":{\"nodes\":5}}",
            400, "/hyperparameters/nodes");
    stop_ok(&d);
    PASS();
}
