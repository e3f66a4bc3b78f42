// SPDX-License-Identifier: MIT
/*
 * test_integration_enas_final.c - enas' final training end to end (issue
 * #5, "with final_training, train it from scratch through the train stage
 * and report test accuracy"): a real nasd runs a tiny enas-micro search
 * and a tiny enas-macro one on the synthetic data, each with
 * final_training, and a tiny enas-rnn one on the fortunes corpus (test
 * perplexity); each must end `succeeded` with the test metric of the
 * found arc as its headline, the search's result (the arc JSON, the
 * reference's fixed-arc string, its val accuracy) with "final_training"
 * (the train kind's result on that arc, trained from scratch) in the
 * details, and the final training's metrics named final.* in the epoch
 * after the search's.
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

static const char *const flags[] = {"--workers", "2", "--threads-per-job", "1", NULL};

/* ------------------------------------------------------------- fixture */

TestSuite(enas_final, .init = begin_test, .fini = finish_test);

/* ---------------------------------------------------------------- JSON */

/* -------------------------------------------------------------- requests */

/* ----------------------------------------------------------------- waits */

/* ============================================================== tests */

/* 1 search epoch (48 examples: 24/24, batch 8: 3 weight steps, 2
 * controller updates), then 1 final epoch over the 2000 images. */
static void search_then_final(int port, const char *space, const char *extra, char id[33])
{
    char spec[1024];
    snprintf(spec, sizeof(spec),
             "{\"algorithm\":\"enas\",\"search_space\":\"%s\",\"dataset\":\"synthetic\","
             "\"budget\":{\"epochs\":1},\"hyperparameters\":{\"C\":4,\"layers\":%d,%s"
             "\"batch_size\":8,\"max_examples\":48,\"train_portion\":0.5,\"lstm_size\":16,"
             "\"controller_steps\":2,\"controller_aggregate\":2,\"final_samples\":3},"
             "\"final_training\":{\"enabled\":true,\"epochs\":1,\"C\":4,\"layers\":1},"
             "\"seed\":6}",
             space, strcmp(space, "enas-macro") == 0 ? 3 : 1, extra);
    submit(port, spec, id);
}

static void check_final(int port, const char *id, const char *arc_key)
{
    json_decref(wait_job(port, id, "succeeded", JOB_MS));
    json_t *res = get_sub(port, id, "result");
    cr_assert_str_eq(str_at(res, "metric"), "test_accuracy", "%s", text_of(res));
    double v = json_number_value(at(res, "value"));
    cr_assert(v >= 0.0 && v <= 1.0, "test accuracy %g", v);
    cr_assert(json_is_array(json_object_get(at(res, "architecture"), arc_key)),
              "the search's arc JSON: %s", text_of(res));
    const char *fixed = str_at(res, "details.fixed_arc");
    cr_assert(fixed && *fixed, "%s", text_of(at(res, "details")));
    cr_assert(json_is_number(at(res, "details.val_accuracy")));
    cr_assert(json_is_object(at(res, "details.final_training")), "%s", text_of(at(res, "details")));
    cr_assert(json_number_value(at(res, "details.final_training.test_accuracy")) == v);
    cr_assert(json_is_number(at(res, "details.search_seconds")));
    cr_assert(json_number_value(at(res, "details.final_training.parameters")) > 0, "%s",
              text_of(at(res, "details.final_training")));
    json_decref(res);

    /* final.* metrics of epoch 2 (the search had one). */
    json_t *metrics = get_sub(port, id, "metrics"), *m;
    size_t i;
    int seen = 0;
    json_array_foreach(json_object_get(metrics, "metrics"), i, m)
    {
        const char *name = str_at(m, "name");
        if (name && !strcmp(name, "final.test_accuracy")) {
            seen++;
            cr_assert_eq(int_at(m, "epoch"), 2, "%s", text_of(m));
        }
    }
    cr_assert_eq(seen, 1, "one final.test_accuracy: %s", text_of(metrics));
    json_decref(metrics);
}

Test(enas_final, micro_macro_and_rnn_searches_then_final_training, .timeout = 120)
{
    nasd_proc d;
    start_in(&d, NULL, flags, NULL);
    char micro[33], macro[33], rnn[33];
    search_then_final(d.port, "enas-micro", "\"nodes\":3,", micro);
    search_then_final(d.port, "enas-macro", "", macro);
    submit(d.port,
           "{\"algorithm\":\"enas\",\"search_space\":\"enas-rnn\",\"dataset\":\"fortunes\","
           "\"budget\":{\"epochs\":1},\"hyperparameters\":{\"nodes\":4,\"hidden\":8,"
           "\"bptt\":6,\"batch_size\":16,\"lstm_size\":12,\"controller_steps\":2,"
           "\"controller_aggregate\":2,\"final_samples\":3},"
           "\"final_training\":{\"enabled\":true,\"epochs\":1},\"seed\":6}",
           rnn);
    check_final(d.port, micro, "normal");
    check_final(d.port, macro, "layers");

    /* enas-rnn: the cell in the search's language model, test perplexity */
    json_decref(wait_job(d.port, rnn, "succeeded", JOB_MS));
    json_t *res = get_sub(d.port, rnn, "result");
    cr_assert_str_eq(str_at(res, "metric"), "test_perplexity", "%s", text_of(res));
    double v = json_number_value(at(res, "value"));
    cr_assert(isfinite(v) && v > 1.0, "test perplexity %g", v);
    cr_assert(json_is_array(at(res, "architecture.nodes")), "%s", text_of(res));
    cr_assert(json_number_value(at(res, "details.final_training.test_perplexity")) == v, "%s",
              text_of(at(res, "details")));
    json_decref(res);
    json_t *metrics = get_sub(d.port, rnn, "metrics"), *m;
    size_t i;
    int seen = 0;
    json_array_foreach(json_object_get(metrics, "metrics"), i, m)
    {
        const char *name = str_at(m, "name");
        if (name && !strcmp(name, "final.val_perplexity")) {
            seen++;
            cr_assert_eq(int_at(m, "epoch"), 2, "%s", text_of(m));
        }
    }
    cr_assert_eq(seen, 1, "one final.val_perplexity: %s", text_of(metrics));
    json_decref(metrics);
    stop_ok(&d);
    PASS();
}
