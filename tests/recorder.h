// SPDX-License-Identifier: MIT
/*
 * recorder.h - a nas_job_reporter that records what an engine job reports,
 * for the engine-level job tests (one copy instead of one per test file).
 *
 * It counts every callback, keeps the first and last progress reports, the
 * last architecture and result (malloc'd copies), the last checkpoint step,
 * and checks what holds for every job: metrics are finite, architectures
 * and metrics are JSON objects, a reported checkpoint exists. A test sets
 * stop_at / stop_value to have the job asked to stop when its progress
 * reaches that step, and may hook metrics and checkpoints for its own
 * bookkeeping (user points to its state).
 */
#ifndef NAS_TESTS_RECORDER_H
#define NAS_TESTS_RECORDER_H

#include <criterion/criterion.h>

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nas.h"

typedef struct recorder recorder;

struct recorder {
    _Atomic int stop;
    int64_t stop_at; /* set stop to stop_value when progress reaches it */
    int stop_value;
    int nprogress, nmetric, narch, nckpt, nresult, nlog;
    nas_job_progress first, last; /* progress reports */
    int totals_moved;             /* reports whose steps/epochs differ from the
                                     report before */
    int backwards;                /* reports whose step is below the one before */
    int64_t last_ckpt_step;
    double reward;      /* of the last architecture */
    double reward_sum;  /* over every architecture */
    char names[32][32]; /* distinct metric names, in order seen */
    int nnames;
    char metric[32]; /* the result's headline */
    double value;
    char *arch_json, *arch_metrics, *result_arch, *result_json;
    /* Optional, called after the common bookkeeping. */
    void (*metric_hook)(recorder *r, int epoch, int64_t step, const char *name, double value);
    void (*ckpt_hook)(recorder *r, const char *path, int64_t step);
    void (*arch_hook)(recorder *r, const char *arch, double reward, const char *metrics);
    void (*log_hook)(recorder *r, const char *msg);
    void *user;
};

static void rec_progress(void *ctx, const nas_job_progress *p)
{
    recorder *r = ctx;
    if (r->nprogress == 0) {
        r->first = *p;
    } else {
        r->totals_moved += p->steps != r->last.steps || p->epochs != r->last.epochs;
        r->backwards += p->step < r->last.step;
    }
    r->last = *p;
    r->nprogress++;
    if (r->stop_at > 0 && p->step == r->stop_at)
        atomic_store(&r->stop, r->stop_value);
}

static void rec_metric(void *ctx, int epoch, int64_t step, const char *name, double value)
{
    recorder *r = ctx;
    r->nmetric++;
    cr_assert(isfinite(value), "%s = %g", name, value);
    int k = 0;
    while (k < r->nnames && strcmp(r->names[k], name) != 0)
        k++;
    if (k == r->nnames && k < 32)
        snprintf(r->names[r->nnames++], sizeof(r->names[0]), "%s", name);
    if (r->metric_hook)
        r->metric_hook(r, epoch, step, name, value);
}

static void rec_arch(void *ctx, const char *arch, double reward, const char *metrics)
{
    recorder *r = ctx;
    cr_assert(arch && arch[0] == '{', "architecture %s", arch ? arch : "NULL");
    cr_assert(!metrics || metrics[0] == '{', "metrics %s", metrics);
    r->narch++;
    r->reward = reward;
    r->reward_sum += reward;
    free(r->arch_json);
    free(r->arch_metrics);
    r->arch_json = strdup(arch);
    r->arch_metrics = metrics ? strdup(metrics) : NULL;
    if (r->arch_hook)
        r->arch_hook(r, arch, reward, metrics);
}

static void rec_ckpt(void *ctx, const char *path, int64_t step)
{
    recorder *r = ctx;
    r->nckpt++;
    r->last_ckpt_step = step;
    cr_assert(access(path, R_OK) == 0, "checkpoint %s is not there", path);
    if (r->ckpt_hook)
        r->ckpt_hook(r, path, step);
}

static void rec_result(void *ctx, const char *arch, const char *metric, double value,
                       const char *json)
{
    recorder *r = ctx;
    r->nresult++;
    snprintf(r->metric, sizeof(r->metric), "%s", metric);
    r->value = value;
    free(r->result_arch);
    free(r->result_json);
    r->result_arch = strdup(arch);
    r->result_json = strdup(json);
}

static void rec_log(void *ctx, const char *msg)
{
    recorder *r = ctx;
    r->nlog++;
    if (r->log_hook)
        r->log_hook(r, msg);
}

static inline nas_job_reporter recorder_reporter(recorder *r)
{
    return (nas_job_reporter){r, rec_progress, rec_metric, rec_arch, rec_ckpt, rec_result, rec_log};
}

/* nas_job_run(s) reporting to r, stoppable through r->stop. */
static inline int recorder_run(const nas_job_spec *s, recorder *r)
{
    nas_job_reporter rep = recorder_reporter(r);
    return nas_job_run(s, &rep, &r->stop);
}

/* 1 when the job reported a metric of this name. */
static inline int recorder_saw(const recorder *r, const char *name)
{
    for (int k = 0; k < r->nnames; k++)
        if (strcmp(r->names[k], name) == 0)
            return 1;
    return 0;
}

static inline void recorder_done(recorder *r)
{
    free(r->arch_json);
    free(r->arch_metrics);
    free(r->result_arch);
    free(r->result_json);
    r->arch_json = r->arch_metrics = r->result_arch = r->result_json = NULL;
}

#endif
