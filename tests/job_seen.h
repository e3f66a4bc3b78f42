// SPDX-License-Identifier: MIT
/*
 * job_seen.h - a nas_job_reporter for the NAS-RL and random-search job
 * tests (tests/test_nasrl.c, tests/test_random.c): counts architectures,
 * cache hits, results and checkpoints, and keeps the first rewards and the
 * last result. (tests/recorder.h is the general recorder; this one keeps
 * the per-architecture rewards these tests compare.)
 */
#ifndef NAS_TESTS_JOB_SEEN_H
#define NAS_TESTS_JOB_SEEN_H

#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct seen {
    int archs, cached, results, ckpts;
    double reward[16];
    char result_arch[2048];
    double value;
    char res[2048];
} seen;

static inline void on_arch(void *ctx, const char *arch, double reward, const char *met)
{
    seen *s = ctx;
    (void)arch;
    if (s->archs < 16)
        s->reward[s->archs] = reward;
    s->archs++;
    s->cached += strstr(met, "\"cached\":true") != NULL;
}

static inline void on_result(void *ctx, const char *arch, const char *metric, double value,
                             const char *res)
{
    seen *s = ctx;
    cr_expect_str_eq(metric, "val_accuracy");
    snprintf(s->result_arch, sizeof(s->result_arch), "%s", arch);
    snprintf(s->res, sizeof(s->res), "%s", res);
    s->value = value;
    s->results++;
}

static inline void on_result_any(void *ctx, const char *arch, const char *metric, double value,
                                 const char *res)
{
    seen *s = ctx;
    cr_expect_str_eq(metric, "val_perplexity");
    snprintf(s->result_arch, sizeof(s->result_arch), "%s", arch);
    snprintf(s->res, sizeof(s->res), "%s", res);
    s->value = value;
    s->results++;
}

static inline void on_ckpt(void *ctx, const char *path, int64_t step)
{
    (void)path;
    (void)step;
    ((seen *)ctx)->ckpts++;
}

#endif
