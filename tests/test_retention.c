// SPDX-License-Identifier: MIT
/*
 * test_retention.c - finished jobs are pruned (issue #22): a real nasd
 * with --retain-jobs keeps the newest finished jobs and deletes the
 * others with their rows and checkpoint files at its next start; queued
 * and running jobs are never touched.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "itest.h"

TestSuite(retention, .init = begin_test, .fini = finish_test);

/* The files in dir whose names start with id. */
static int files_of(const char *dir, const char *id)
{
    DIR *d = opendir(dir);
    cr_assert(d, "cannot open %s", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strncmp(e->d_name, id, strlen(id)) == 0;
    closedir(d);
    return n;
}

Test(retention, the_newest_finished_jobs_stay_the_rest_go_with_their_files)
{
    static const char *const keep2[] = {"--retain-jobs", "2", NULL};
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, keep2);
    char ids[3][33];
    for (int i = 0; i < 3; i++) {
        char spec[256];
        snprintf(spec, sizeof(spec),
                 "{\"algorithm\":\"train\",\"dataset\":\"synthetic\",\"architecture\":{\"space\":"
                 "\"fixed-cnn\",\"channels\":[4],\"hidden\":8},\"budget\":{\"epochs\":1},"
                 "\"seed\":%d}",
                 i + 1);
        submit(d.port, spec, ids[i]);
        json_decref(wait_job(d.port, ids[i], "succeeded", ITEST_JOB_MS));
    }
    char ckpt[PATH_MAX + 32];
    snprintf(ckpt, sizeof(ckpt), "%s/checkpoints", d.dir);
    cr_assert_eq(files_of(ckpt, ids[0]), 1, "the oldest job has no checkpoint file to remove");
    /* Pruning runs at start (and hourly): three finished, two kept. */
    stop_ok(&d);
    start_in(&d, d.dir, itest_one_worker, keep2);
    cr_assert(nasd_log_contains(&d, "retention: 1 finished job(s) removed"));
    char path[96];
    snprintf(path, sizeof(path), "/v1/jobs/%s", ids[0]);
    json_decref(expect_problem(d.port, "GET", path, NULL, 404, "not-found"));
    cr_assert_eq(files_of(ckpt, ids[0]), 0, "the pruned job's checkpoint stayed");
    for (int i = 1; i < 3; i++) {
        json_t *v = wait_job(d.port, ids[i], "succeeded", ITEST_JOB_MS);
        json_decref(v);
        cr_assert_eq(files_of(ckpt, ids[i]), 1);
    }
    stop_ok(&d);
    PASS();
}
