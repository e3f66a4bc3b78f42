// SPDX-License-Identifier: MIT
/*
 * test_caps.c - what a client may not override (issue #22): the counts a
 * job sets are bounded by the operator's max-job-architectures, and the
 * shipped systemd/nasd.conf caps epochs, seconds and architectures with
 * finite values. Against a real nasd; nothing is trained.
 *
 * The one design decision to know: each refusal is checked next to the
 * same request just under the cap, which is accepted, so a cap that
 * refused everything would fail too. Accepted jobs are cancelled at once.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "itest.h"

TestSuite(caps, .init = begin_test, .fini = finish_test);

/* POSTs body: its status, and for a 202 the job is cancelled. */
static int post(int port, const char *body, json_t **answer)
{
    http_resp r;
    cr_assert_eq(http_send(port, "POST", "/v1/jobs", body, &r), 0, "%s", http_errmsg());
    int st = r.status;
    json_t *j = http_json(&r);
    http_resp_free(&r);
    if (st == 202) {
        char path[96];
        snprintf(path, sizeof path, "/v1/jobs/%s:cancel", str_at(j, "id"));
        cr_assert_eq(http_send(port, "POST", path, "", &r), 0, "%s", http_errmsg());
        http_resp_free(&r);
    }
    if (answer)
        *answer = j;
    else
        json_decref(j);
    return st;
}

/* A 400 limit-exceeded naming limit_name = limit at pointer. */
static void refused(int port, const char *body, const char *limit_name, long limit,
                    const char *pointer)
{
    json_t *j = NULL;
    int st = post(port, body, &j);
    cr_assert_eq(st, 400, "%s: %d %s", body, st, text_of(j));
    cr_assert_str_eq(str_at(j, "type"), "urn:nasd:problem:limit-exceeded", "%s", text_of(j));
    cr_assert_str_eq(str_at(j, "limit_name"), limit_name, "%s", text_of(j));
    cr_assert_eq(int_at(j, "limit"), limit, "%s", text_of(j));
    cr_assert_str_eq(str_at(j, "pointer"), pointer, "%s", text_of(j));
    json_decref(j);
}

Test(caps, max_job_architectures_bounds_every_count)
{
    char dir[PATH_MAX];
    nasd_proc p;
    cr_assert_eq(nasd_mkdtemp(dir, sizeof dir), 0);
    const char *args[] = {"--workers", "1", "--threads-per-job", "1", "--max-job-architectures",
                          "200",       NULL};
    cr_assert_eq(nasd_start(&p, dir, args, ITEST_START_MS), 0, "nasd did not start");

    /* nas-rl and random: budget.max_architectures. */
    refused(p.port,
            "{\"algorithm\":\"random\",\"search_space\":\"nasrl-cnn\",\"dataset\":\"synthetic\","
            "\"budget\":{\"max_architectures\":201}}",
            "max-job-architectures", 200, "/budget/max_architectures");
    cr_assert_eq(post(p.port,
                      "{\"algorithm\":\"random\",\"search_space\":\"nasrl-cnn\",\"dataset\":"
                      "\"synthetic\",\"budget\":{\"max_architectures\":200}}",
                      NULL),
                 202);
    refused(p.port,
            "{\"algorithm\":\"nas-rl\",\"dataset\":\"synthetic\","
            "\"budget\":{\"max_architectures\":1000}}",
            "max-job-architectures", 200, "/budget/max_architectures");
    /* enas: epochs x controller_steps x controller_aggregate, each within
     * its own range (2 x 10 x 11 = 220 > 200; 2 x 10 x 10 = 200). */
    refused(p.port,
            "{\"algorithm\":\"enas\",\"dataset\":\"synthetic\",\"budget\":{\"epochs\":2},"
            "\"hyperparameters\":{\"controller_steps\":10,\"controller_aggregate\":11}}",
            "max-job-architectures", 200, "/hyperparameters/controller_steps");
    cr_assert_eq(post(p.port,
                      "{\"algorithm\":\"enas\",\"dataset\":\"synthetic\",\"budget\":{\"epochs\":2},"
                      "\"hyperparameters\":{\"controller_steps\":10,\"controller_aggregate\":10}}",
                      NULL),
                 202);
    refused(p.port,
            "{\"algorithm\":\"enas\",\"search_space\":\"enas-rnn\",\"dataset\":\"fortunes\","
            "\"budget\":{\"epochs\":1},\"hyperparameters\":{\"controller_steps\":1000}}",
            "max-job-architectures", 200, "/hyperparameters/controller_steps");
    cr_assert_eq(nasd_stop(&p, ITEST_STOP_MS), 0);
    PASS();
}

Test(caps, the_shipped_config_caps_epochs_seconds_and_architectures)
{
    /* make check exports srcdir; by hand, run from the build tree. */
    const char *srcdir = getenv("srcdir");
    char conf[PATH_MAX], dir[PATH_MAX];
    snprintf(conf, sizeof conf, "%s/systemd/nasd.conf", srcdir ? srcdir : "..");
    cr_assert_eq(nasd_mkdtemp(dir, sizeof dir), 0);
    nasd_proc p;
    /* The file's listen and state-dir give way to nasd_start's flags. */
    const char *args[] = {"--config", conf, "--threads-per-job", "1", NULL};
    cr_assert_eq(nasd_start(&p, dir, args, ITEST_START_MS), 0, "nasd did not start with %s", conf);
    refused(p.port,
            "{\"algorithm\":\"train\",\"dataset\":\"synthetic\",\"budget\":{\"epochs\":1001}}",
            "max-job-epochs", 1000, "/budget/epochs");
    refused(
        p.port,
        "{\"algorithm\":\"train\",\"dataset\":\"synthetic\",\"budget\":{\"max_seconds\":604801}}",
        "max-job-seconds", 604800, "/budget/max_seconds");
    /* 100 x 100 x 101 = 1,010,000 children, each count within its range. */
    refused(p.port,
            "{\"algorithm\":\"enas\",\"dataset\":\"synthetic\",\"budget\":{\"epochs\":100},"
            "\"hyperparameters\":{\"controller_steps\":100,\"controller_aggregate\":101}}",
            "max-job-architectures", 1000000, "/hyperparameters/controller_steps");
    /* A job without max_seconds gets the cap, and the stored spec says so. */
    json_t *j = NULL;
    cr_assert_eq(
        post(p.port,
             "{\"algorithm\":\"train\",\"dataset\":\"synthetic\",\"budget\":{\"epochs\":1}}", &j),
        202, "%s", text_of(j));
    cr_assert_eq(json_number_value(at(j, "spec.budget.max_seconds")), 604800.0, "%s", text_of(j));
    json_decref(j);
    cr_assert_eq(nasd_stop(&p, ITEST_STOP_MS), 0);
    PASS();
}
