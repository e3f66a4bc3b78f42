// SPDX-License-Identifier: MIT
/*
 * test_integration_darts_train.c - "paste the genotype into a train job"
 * end to end: a real nasd trains a darts-cnn genotype given in the spec
 * (succeeded, the result's architecture echoes the genotype, C and
 * layers, test_accuracy in [0, 1]), and the genotype a finished darts
 * search reports as its result architecture is accepted, unchanged, as a
 * train architecture and trains too.
 *
 * The one design decision to know: everything is tiny (the synthetic
 * dataset, C 4, layers 3 - the fewest cells with a normal cell and two
 * reductions - one epoch), so the suite stays a few seconds on one core;
 * the search and the first train job run side by side on two workers.
 * Waits poll with deadlines, never a fixed sleep.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "itest.h"

/* Generous: the suite also runs under ASan on 2 cores. */
#define JOB_MS 120000

static const char *const flags[] = {"--workers", "2", "--threads-per-job", "1", NULL};

/* A DARTS_V2-like genotype, as a darts-cnn search reports it. */
static const char genotype[] =
    "{\"normal\":[[\"sep_conv_3x3\",0],[\"sep_conv_3x3\",1],[\"sep_conv_3x3\",0],"
    "[\"sep_conv_3x3\",1],[\"sep_conv_3x3\",1],[\"skip_connect\",0],[\"skip_connect\",0],"
    "[\"dil_conv_3x3\",2]],\"normal_concat\":[2,3,4,5],"
    "\"reduce\":[[\"max_pool_3x3\",0],[\"max_pool_3x3\",1],[\"skip_connect\",2],"
    "[\"max_pool_3x3\",1],[\"max_pool_3x3\",0],[\"skip_connect\",2],[\"skip_connect\",2],"
    "[\"max_pool_3x3\",1]],\"reduce_concat\":[2,3,4,5]}";

TestSuite(darts_train, .init = begin_test, .fini = finish_test);

/* Waits for job id to succeed; returns its result (owned). */
static json_t *result_of(int port, const char *id)
{
    json_decref(wait_job(port, id, "succeeded", JOB_MS));
    return get_sub(port, id, "result");
}

/* A tiny train job on the darts-cnn network of genotype g (JSON text). */
static void train_spec(char *out, size_t n, const char *g)
{
    snprintf(out, n,
             "{\"algorithm\":\"train\",\"dataset\":\"synthetic\",\"seed\":3,"
             "\"architecture\":{\"space\":\"darts-cnn\",\"genotype\":%s,\"C\":4,\"layers\":3},"
             "\"budget\":{\"epochs\":1},\"hyperparameters\":{\"batch_size\":32}}",
             g);
}

/* The result of a train job on genotype `want`. */
static void check_train_result(json_t *res, const json_t *want, const char *where)
{
    json_t *arch = json_object_get(res, "architecture");
    double acc = json_number_value(json_object_get(res, "value"));
    cr_assert_str_eq(json_string_value(json_object_get(res, "metric")), "test_accuracy", "%s",
                     where);
    cr_assert(json_is_number(json_object_get(res, "value")) && acc >= 0.0 && acc <= 1.0,
              "%s: test_accuracy %s", where, text_of(json_object_get(res, "value")));
    cr_assert_str_eq(json_string_value(json_object_get(arch, "space")), "darts-cnn", "%s", where);
    cr_assert(json_equal(json_object_get(arch, "genotype"), want), "%s: result genotype %s", where,
              text_of(json_object_get(arch, "genotype")));
    cr_assert_eq(json_integer_value(json_object_get(arch, "C")), 4, "%s", where);
    cr_assert_eq(json_integer_value(json_object_get(arch, "layers")), 3, "%s", where);
}

Test(darts_train, a_genotype_trains_and_a_search_result_pastes_into_train)
{
    char dir[PATH_MAX], spec[2048], train_id[33], search_id[33], pasted_id[33];
    nasd_proc d;
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    cr_assert_eq(nasd_start(&d, dir, flags, ITEST_START_MS), 0, "nasd did not start");

    /* A genotype given in the spec, and a search beside it. */
    train_spec(spec, sizeof(spec), genotype);
    submit(d.port, spec, train_id);
    submit(d.port,
           "{\"algorithm\":\"darts\",\"dataset\":\"synthetic\",\"budget\":{\"epochs\":1},"
           "\"hyperparameters\":{\"C\":4,\"layers\":3,\"batch_size\":16,\"max_examples\":64},"
           "\"seed\":1}",
           search_id);

    json_t *want = json_loads(genotype, 0, NULL);
    json_t *res = result_of(d.port, train_id);
    check_train_result(res, want, "given genotype");
    json_decref(res);
    json_decref(want);

    /* The search's result architecture, pasted as is. */
    res = result_of(d.port, search_id);
    json_t *found = json_object_get(res, "architecture");
    cr_assert(json_is_object(found), "search result: %s", text_of(res));
    char *text = json_dumps(found, JSON_COMPACT);
    cr_assert(text);
    train_spec(spec, sizeof(spec), text);
    free(text);
    submit(d.port, spec, pasted_id);
    json_t *pasted = result_of(d.port, pasted_id);
    /* the served architecture names its space (issue #14); the genotype
     * the train job keeps is the cells */
    cr_assert_str_eq(str_at(found, "space"), "darts-cnn", "%s", text_of(found));
    json_object_del(found, "space");
    check_train_result(pasted, found, "pasted search result");
    json_decref(pasted);
    json_decref(res);

    int status = nasd_stop(&d, ITEST_STOP_MS);
    cr_assert_eq(status, 0, "nasd exited with %d after SIGTERM", status);
    PASS();
}
