// SPDX-License-Identifier: MIT
/*
 * model_fixture.h - what the model tests share (test_predict.c,
 * test_predict_text.c, test_onnx.c): a small language model of each text
 * space on Debian's fortunes, and a job trained to the end in a temporary
 * directory with its model file (and, when asked, its checkpoint) there.
 */
#ifndef NAS_TESTS_MODEL_FIXTURE_H
#define NAS_TESTS_MODEL_FIXTURE_H

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nas.h"
#include "recorder.h"
#include "tmpdir.h"

#define FORTUNES "/usr/share/games/fortunes/fortunes"

/* A language model of arch ("lstm-lm", "darts-rnn", "enas-rnn" or
 * "nasrl-rnn") small enough for a test: 8-wide, 200 words of fortunes,
 * one epoch, one thread, with a fixed cell for the searched spaces. */
static inline nas_job_spec lm_spec(const char *arch)
{
    nas_job_spec s = {.dataset = "fortunes"};
    nas_job_spec_defaults(&s);
    s.epochs = 1;
    s.seed = 5;
    s.threads = 1;
    s.embed = 8;
    s.hidden = 8;
    s.bptt = 8;
    s.batch_size = 10;
    s.max_vocab = 200;
    if (!strcmp(arch, "lstm-lm")) {
        s.layers = 2;
    } else if (!strcmp(arch, "darts-rnn")) {
        s.arch = NAS_ARCH_DARTS_RNN;
        s.darts_rnn = (nas_darts_rnn_genotype){
            .op = {NAS_DARTS_RNN_RELU, NAS_DARTS_RNN_SIGMOID, NAS_DARTS_RNN_IDENTITY,
                   NAS_DARTS_RNN_TANH, NAS_DARTS_RNN_TANH, NAS_DARTS_RNN_RELU,
                   NAS_DARTS_RNN_SIGMOID, NAS_DARTS_RNN_IDENTITY},
            .from = {0, 1, 1, 1, 0, 5, 3, 2},
            .concat = {1, 2, 3, 4, 5, 6, 7, 8},
            .nconcat = 8};
    } else if (!strcmp(arch, "enas-rnn")) {
        s.arch = NAS_ARCH_ENAS_RNN;
        s.search_space = "enas-rnn";
        s.nodes = 4; /* tanh; relu on 0; identity on 1; sigmoid on 0: two loose ends */
        snprintf(s.genotype, sizeof s.genotype, "%s", "0 0 1 1 2 0 3");
        s.lr = 1.0f;
        s.dropout = 0.0f; /* its own dropouts instead */
    } else {
        cr_assert_str_eq(arch, "nasrl-rnn");
        s.arch = NAS_ARCH_NASRL_RNN;
        s.tree_base = 2; /* leaves add tanh, mul sigmoid; root add; c via node 1 */
        snprintf(s.genotype, sizeof s.genotype, "%s", "0 1 1 2 0 0 1 1 3 0");
        s.lr = 1.0f;
    }
    return s;
}

typedef struct trained {
    char *dir, *ckpt, *model; /* ckpt: NULL unless asked for */
    recorder r;
    nas_job_spec s;
} trained;

/* Runs s to the end in a new temporary directory (named after prefix),
 * its model file there as job.safetensors and, when ckpt, its checkpoint
 * as job.ckpt; the job must succeed and report metric. */
static inline void train_model(trained *t, const char *prefix, nas_job_spec s, int ckpt,
                               const char *metric)
{
    memset(t, 0, sizeof *t);
    t->dir = tmpdir_new(prefix);
    size_t n = strlen(t->dir) + 32;
    t->model = malloc(n);
    snprintf(t->model, n, "%s/job.safetensors", t->dir);
    if (ckpt) {
        t->ckpt = malloc(n);
        snprintf(t->ckpt, n, "%s/job.ckpt", t->dir);
    }
    t->s = s;
    if (ckpt)
        t->s.checkpoint_path = t->ckpt;
    t->s.model_path = t->model;
    int rc = recorder_run(&t->s, &t->r);
    cr_assert_eq(rc, NAS_OK, "%s", nas_errmsg());
    cr_assert_str_eq(t->r.metric, metric);
}

static inline void untrain(trained *t)
{
    recorder_done(&t->r);
    tmpdir_remove(t->dir);
    free(t->dir);
    free(t->ckpt);
    free(t->model);
}

#endif
