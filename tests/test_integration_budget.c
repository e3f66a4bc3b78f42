// SPDX-License-Identifier: MIT
/*
 * test_integration_budget.c - budgets that mean what they say (#20): a
 * search that budget.max_seconds cuts short is still followed by the final
 * training the job asked for, and a final training that its own
 * final_training.max_seconds cuts short still reports its test metric,
 * each stage saying in the result why it stopped; the progress of either
 * ends at 1.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "itest.h"

TestSuite(budget, .init = begin_test, .fini = finish_test);

/* The job ends succeeded with the final training's test accuracy; the
 * search and the final training stopped as said. */
static void check(int port, const char *id, const char *search_stop, const char *final_stop)
{
    json_t *job = wait_job(port, id, "succeeded", ITEST_JOB_MS);
    cr_assert_str_eq(str_at(job, "result.metric"), "test_accuracy", "%s",
                     text_of(at(job, "result")));
    cr_assert_str_eq(str_at(job, "result.details.stopped_by"), search_stop, "the search's stop: %s",
                     text_of(at(job, "result.details")));
    cr_assert_str_eq(str_at(job, "result.details.final_training.stopped_by"), final_stop,
                     "the final training's stop: %s",
                     text_of(at(job, "result.details.final_training")));
    cr_assert(json_number_value(at(job, "progress.fraction")) == 1.0, "progress %s",
              text_of(at(job, "progress")));
    cr_assert_eq(int_at(job, "progress.epoch"), int_at(job, "progress.epochs"), "progress %s",
                 text_of(at(job, "progress")));
    json_decref(job);
}

Test(budget, a_search_cut_by_max_seconds_still_gets_its_final_training)
{
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, NULL);
    char darts[33], enas[33];
    /* Far more epochs than half a second allows. */
    submit(d.port,
           "{\"algorithm\":\"darts\",\"dataset\":\"synthetic\",\"budget\":{\"epochs\":100000,"
           "\"max_seconds\":0.5},\"hyperparameters\":{\"order\":1,\"C\":4,\"layers\":3,"
           "\"batch_size\":8,\"max_examples\":96},\"final_training\":{\"enabled\":true,"
           "\"epochs\":1,\"C\":4,\"layers\":3},\"seed\":3}",
           darts);
    submit(d.port,
           "{\"algorithm\":\"enas\",\"dataset\":\"synthetic\",\"budget\":{\"epochs\":100000,"
           "\"max_seconds\":0.5},\"hyperparameters\":{\"C\":4,\"layers\":1,\"nodes\":3,"
           "\"batch_size\":8,\"max_examples\":48,\"train_portion\":0.5,\"lstm_size\":16,"
           "\"controller_steps\":1,"
           "\"controller_aggregate\":2,\"final_samples\":2},\"final_training\":{\"enabled\":"
           "true,\"epochs\":1,\"C\":4,\"layers\":1},\"seed\":3}",
           enas);
    check(d.port, darts, "max_seconds", "epochs");
    check(d.port, enas, "max_seconds", "epochs");
    stop_ok(&d);
    PASS();
}

Test(budget, a_final_training_cut_by_its_own_max_seconds_says_so)
{
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, NULL);
    char darts[33], enas[33];
    submit(d.port,
           "{\"algorithm\":\"darts\",\"dataset\":\"synthetic\",\"budget\":{\"epochs\":1},"
           "\"hyperparameters\":{\"order\":1,\"C\":4,\"layers\":3,\"batch_size\":8,"
           "\"max_examples\":96},\"final_training\":{\"enabled\":true,\"epochs\":100000,"
           "\"C\":4,\"layers\":3,\"max_seconds\":0.5},\"seed\":3}",
           darts);
    submit(d.port,
           "{\"algorithm\":\"enas\",\"dataset\":\"synthetic\",\"budget\":{\"epochs\":1},"
           "\"hyperparameters\":{\"C\":4,\"layers\":1,\"nodes\":3,\"batch_size\":8,"
           "\"max_examples\":48,\"train_portion\":0.5,\"lstm_size\":16,\"controller_steps\":1,"
           "\"controller_aggregate\":2,\"final_samples\":2},\"final_training\":{\"enabled\":"
           "true,\"epochs\":100000,\"C\":4,\"layers\":1,\"max_seconds\":0.5},\"seed\":3}",
           enas);
    check(d.port, darts, "epochs", "max_seconds");
    check(d.port, enas, "epochs", "max_seconds");
    /* The stored spec shows both stages' budgets. */
    char path[64];
    snprintf(path, sizeof(path), "/v1/jobs/%s", darts);
    json_t *job = call(d.port, "GET", path, NULL, 200);
    cr_assert(json_number_value(at(job, "spec.final_training.max_seconds")) == 0.5, "%s",
              text_of(at(job, "spec")));
    cr_assert(json_number_value(at(job, "spec.budget.max_seconds")) == 0.0);
    json_decref(job);
    stop_ok(&d);
    PASS();
}
