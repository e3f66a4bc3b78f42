// SPDX-License-Identifier: MIT
/*
 * test_integration_budget.c - budgets that mean what they say (#20): a
 * search that budget.max_seconds cuts short is still followed by the final
 * training the job asked for, and a final training that its own
 * final_training.max_seconds cuts short still reports its test metric,
 * each stage saying in the result why it stopped; the progress of either
 * ends at 1. darts and enas, then nas-rl and random (whose final training
 * is the space's own child training).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

#define FORTUNES "/usr/share/games/fortunes/fortunes"

TestSuite(budget, .init = begin_test, .fini = finish_test);

/* The job ends succeeded with the final training's test accuracy; the
 * search and the final training stopped as said. */
static void check_metric(int port, const char *id, const char *metric, const char *search_stop,
                         const char *final_stop)
{
    json_t *job = wait_job(port, id, "succeeded", ITEST_JOB_MS);
    cr_assert_str_eq(str_at(job, "result.metric"), metric, "%s", text_of(at(job, "result")));
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

static void check(int port, const char *id, const char *search_stop, const char *final_stop)
{
    check_metric(port, id, "test_accuracy", search_stop, final_stop);
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

/* ================================================= nas-rl and random */

/* A tiny nasrl-cnn space: 2 layers of 4 or 6 filters, 200 images;
 * extra: the kind's own keys. */
#define NASRL_HP(extra)                                                                            \
    "\"hyperparameters\":{" extra "\"child_epochs\":1,\"batch_size\":50,\"start_layers\":2,"       \
    "\"max_layers\":2,\"filter_heights\":[1,3],\"filter_widths\":[1,3],\"num_filters\":[4,6],"     \
    "\"max_examples\":200}"
#define RL_HP NASRL_HP("\"children_per_update\":2,\"lstm_size\":16,")
#define RANDOM_HP NASRL_HP("\"parallel_children\":2,")

Test(budget, nasrl_search_cut_by_max_seconds_still_gets_its_final_training)
{
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, NULL);
    char rl[33];
    /* Far more architectures than two seconds allow. */
    submit(d.port,
           "{\"algorithm\":\"nas-rl\",\"dataset\":\"synthetic\",\"seed\":5,\"budget\":{"
           "\"max_architectures\":100000,\"max_seconds\":2}," RL_HP ",\"final_training\":{"
           "\"enabled\":true,\"epochs\":1}}",
           rl);
    check(d.port, rl, "max_seconds", "epochs");
    stop_ok(&d);
    PASS();
}

Test(budget, nasrl_and_random_final_training_cut_by_its_own_max_seconds_says_so)
{
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, NULL);
    char rl[33], rnd[33];
    submit(d.port,
           "{\"algorithm\":\"nas-rl\",\"dataset\":\"synthetic\",\"seed\":5,\"budget\":{"
           "\"max_architectures\":2}," RL_HP ",\"final_training\":{\"enabled\":true,"
           "\"epochs\":100000,\"max_seconds\":0.5}}",
           rl);
    submit(d.port,
           "{\"algorithm\":\"random\",\"search_space\":\"nasrl-cnn\",\"dataset\":\"synthetic\","
           "\"seed\":5,\"budget\":{\"max_architectures\":2}," RANDOM_HP ",\"final_training\":{"
           "\"enabled\":true,\"epochs\":100000,\"max_seconds\":0.5}}",
           rnd);
    check(d.port, rl, "max_architectures", "max_seconds");
    check(d.port, rnd, "max_architectures", "max_seconds");
    json_t *res = get_sub(d.port, rl, "result");
    cr_assert(int_at(res, "details.final_training.epochs") < 100000, "%s", text_of(res));
    cr_assert(json_is_number(at(res, "details.final_training.test_accuracy")), "%s", text_of(res));
    json_decref(res);
    stop_ok(&d);
    PASS();
}

/* The text spaces' final trainings (nasrl-rnn's own loop, random's
 * darts-rnn through the train kind's language model) on the fortunes
 * corpus, when it is installed. */
Test(budget, nasrl_text_final_training_cut_by_its_own_max_seconds_says_so)
{
    if (access(FORTUNES, R_OK) != 0)
        cr_skip_test("no fortunes corpus at " FORTUNES);
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, NULL);
    char rl[33], rnd[33];
    submit(d.port,
           "{\"algorithm\":\"nas-rl\",\"search_space\":\"nasrl-rnn\",\"dataset\":\"fortunes\","
           "\"seed\":5,\"budget\":{\"max_architectures\":2},\"hyperparameters\":{"
           "\"child_epochs\":1,\"children_per_update\":2,\"tree_base\":2,\"embed\":8,"
           "\"hidden\":8,\"bptt\":8,\"batch_size\":10,\"lstm_size\":8},\"final_training\":{"
           "\"enabled\":true,\"epochs\":100000,\"max_seconds\":0.5}}",
           rl);
    submit(d.port,
           "{\"algorithm\":\"random\",\"search_space\":\"darts-rnn\",\"dataset\":\"fortunes\","
           "\"seed\":5,\"budget\":{\"max_architectures\":2},\"hyperparameters\":{"
           "\"child_epochs\":1,\"batch_size\":10,\"parallel_children\":2,\"embed\":8,"
           "\"hidden\":8,\"bptt\":8,\"max_vocab\":200},\"final_training\":{\"enabled\":true,"
           "\"epochs\":100000,\"max_seconds\":0.5}}",
           rnd);
    check_metric(d.port, rl, "test_perplexity", "max_architectures", "max_seconds");
    check_metric(d.port, rnd, "test_perplexity", "max_architectures", "max_seconds");
    stop_ok(&d);
    PASS();
}
