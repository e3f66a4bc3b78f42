// SPDX-License-Identifier: MIT
/*
 * test_enas_job.c - the `enas` job kind over the CNN spaces through
 * nas_job_run: a tiny enas-micro search (and an enas-macro one) on the
 * synthetic dataset runs to the end with a valid result and reports every
 * controller child as an architecture row; a shutdown inside the weight
 * phase and one between the phases, then a resume, end with the same bits
 * as an uninterrupted run; bad fields are refused naming the field; the
 * defaults are the reference scripts'.
 *
 * The jobs are tiny (C 4, 3 cells, batch 8, a 32-example subset split
 * 16/16: 2 weight steps and 2 controller updates of 2 children per
 * epoch) so that they stay fast under ASan.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nas.h"
#include "recorder.h"
#include "tmpdir.h"

/* Every reward is an accuracy (recorder.h's architecture hook). */
static void reward_in_range(recorder *r, const char *arch, double reward, const char *metrics)
{
    (void)r, (void)arch, (void)metrics;
    cr_assert(reward >= 0.0 && reward <= 1.0, "reward %g", reward);
}

#define RECORDER                                                                                   \
    {                                                                                              \
        .arch_hook = reward_in_range                                                               \
    }

static nas_job_spec tiny_spec(const char *space, int epochs)
{
    nas_job_spec s = {.algorithm = "enas", .dataset = "synthetic", .search_space = space};
    nas_job_spec_defaults(&s);
    s.C = 4;
    s.layers = strcmp(space, "enas-macro") == 0 ? 3 : 1;
    s.nodes = 3;
    s.batch_size = 8;
    s.max_examples = 32;
    s.train_portion = 0.5f;
    s.ctrl_steps = 2;
    s.ctrl_aggregate = 2;
    s.final_samples = 3;
    s.ctrl_hidden = 16;
    s.epochs = epochs;
    s.seed = 5;
    s.threads = 1;
    return s;
}

/* The data section of a safetensors file (the header holds times). */
static unsigned char *ckpt_data(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "%s: %s", path, strerror(errno));
    unsigned char len8[8];
    cr_assert(fread(len8, 1, 8, f) == 8);
    uint64_t hl = 0;
    for (int k = 0; k < 8; k++)
        hl |= (uint64_t)len8[k] << (8 * k);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    cr_assert(size > (long)(8 + hl));
    *n = (size_t)size - 8 - hl;
    unsigned char *d = malloc(*n);
    fseek(f, (long)(8 + hl), SEEK_SET);
    cr_assert(fread(d, 1, *n, f) == *n);
    fclose(f);
    return d;
}

/* The result JSON up to the wall-clock "seconds" (always last). */
static void assert_same_result(const recorder *a, const recorder *b)
{
    cr_assert(a->value == b->value, "%.17g vs %.17g", a->value, b->value);
    const char *ca = strstr(a->result_json, ",\"seconds\"");
    const char *cb = strstr(b->result_json, ",\"seconds\"");
    cr_assert(ca && cb);
    cr_assert(ca - a->result_json == cb - b->result_json &&
                  memcmp(a->result_json, b->result_json, (size_t)(ca - a->result_json)) == 0,
              "results differ:\n%s\n%s", a->result_json, b->result_json);
    cr_assert_str_eq(a->result_arch, b->result_arch);
}

/* Node count and the ints of a micro fixed-arc string. */
static int count_ints(const char *s)
{
    int n = 0, v, used;
    while (sscanf(s, "%d%n", &v, &used) == 1) {
        n++;
        s += used;
    }
    return n;
}

/* ---------------------------------------------------------------- runs */

Test(enas_job, micro_search_runs_to_a_valid_result, .timeout = 120)
{
    recorder r = RECORDER;
    nas_job_spec s = tiny_spec("enas-micro", 2);
    /* train_portion splits the examples: 16 of 24 train the weights. */
    s.max_examples = 24;
    s.train_portion = 0.667f;
    int rc = recorder_run(&s, &r);
    cr_assert_eq(rc, NAS_OK, "%s: %s", nas_strerror(rc), nas_errmsg());
    /* 2 weight steps + 2 controller updates per epoch. */
    cr_assert_eq(r.nprogress, 8);
    cr_assert_eq(r.last.step, 8);
    cr_assert_eq(r.narch, 2 * 2 * 2, "every controller child is a row");
    const char *want[] = {"train_loss",      "train_accuracy",     "val_accuracy", "lr",
                          "controller_loss", "controller_entropy", "baseline",     "reward"};
    for (int k = 0; k < 8; k++)
        cr_assert(recorder_saw(&r, want[k]), "no %s metric", want[k]);
    cr_assert_eq(r.nmetric, 2 * 8, "each once per epoch");
    cr_assert(strncmp(r.arch_metrics, "{\"epoch\":2,\"step\":8,", 20) == 0, "%s", r.arch_metrics);
    cr_assert(strstr(r.arch_metrics, "\"fixed_arc\":\""));
    cr_assert_eq(r.nresult, 1);
    cr_assert_str_eq(r.metric, "val_accuracy");
    cr_assert(r.value >= 0.0 && r.value <= 1.0);
    cr_assert(strncmp(r.result_arch, "{\"normal\":[{\"inputs\":[", 22) == 0, "%s", r.result_arch);
    cr_assert(strstr(r.result_arch, "],\"normal_concat\":["));
    cr_assert(strstr(r.result_arch, "],\"reduce\":[{\"inputs\":["));
    cr_assert(strstr(r.result_arch, "],\"reduce_concat\":["));
    const char *fa = strstr(r.result_json, "\"fixed_arc\":\"");
    cr_assert(fa, "%s", r.result_json);
    cr_assert_eq(count_ints(fa + 13), 8 * 3, "4 ints per node, 2 cells");
    cr_assert(strstr(r.result_json, "\"stopped_by\":\"epochs\""));
    cr_assert(strstr(r.result_json, "\"train_examples\":16,"), "%s", r.result_json);
    cr_assert(strstr(r.result_json, "\"val_examples\":8,"), "%s", r.result_json);
    cr_assert_eq(r.nckpt, 0, "no checkpoint_path: no checkpoint");
    recorder_done(&r);
}

Test(enas_job, macro_search_runs_to_a_valid_result, .timeout = 120)
{
    recorder r = RECORDER;
    nas_job_spec s = tiny_spec("enas-macro", 1);
    int rc = recorder_run(&s, &r);
    cr_assert_eq(rc, NAS_OK, "%s: %s", nas_strerror(rc), nas_errmsg());
    cr_assert_eq(r.nprogress, 4);
    cr_assert_eq(r.narch, 4);
    cr_assert_eq(r.nresult, 1);
    cr_assert(r.value >= 0.0 && r.value <= 1.0);
    cr_assert(strstr(r.result_json, "\"search_space\":\"enas-macro\""));
    cr_assert(strstr(r.result_json, "\"fixed_arc\":\""));
    recorder_done(&r);
}

/* Shut down after step `at` of a 2-epoch run, resume, compare. */
static void resume_case(int64_t at, int rows_before, int augment)
{
    char *dir = tmpdir_new("nas_enas_job");
    char *pa = path_in(dir, "a.ckpt"), *pb = path_in(dir, "b.ckpt");
    nas_job_spec s = tiny_spec("enas-micro", 2);
    s.augment = augment;

    recorder a = RECORDER;
    s.checkpoint_path = pa;
    cr_assert_eq(recorder_run(&s, &a), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(a.nckpt, 2, "one checkpoint per epoch");

    recorder b = RECORDER;
    b.stop_at = at;
    b.stop_value = NAS_STOP_SHUTDOWN;
    s.checkpoint_path = pb;
    s.resume = 1;
    int rc = recorder_run(&s, &b);
    cr_assert_eq(rc, NAS_ECANCELLED, "%s", nas_strerror(rc));
    cr_assert_eq(b.last_ckpt_step, at, "the shutdown checkpoint");
    cr_assert_eq(b.nresult, 0);
    cr_assert_eq(b.narch, rows_before);
    recorder b2 = RECORDER;
    cr_assert_eq(recorder_run(&s, &b2), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(b2.nprogress, 8 - at, "only the remaining steps run");
    cr_assert_eq(b.narch + b2.narch, a.narch);
    cr_assert(fabs(b.reward_sum + b2.reward_sum - a.reward_sum) < 1e-12,
              "the same children are scored the same");
    assert_same_result(&a, &b2);
    size_t na, nb;
    unsigned char *da = ckpt_data(pa, &na), *db = ckpt_data(pb, &nb);
    cr_assert(na == nb && memcmp(da, db, na) == 0,
              "weights, momentum, controller and Adam moments identical");
    free(da);
    free(db);

    /* Another spec's checkpoint is refused, naming the field. */
    recorder c = RECORDER;
    s.ctrl_aggregate = 3;
    cr_assert_eq(recorder_run(&s, &c), NAS_EINVAL);
    cr_assert(strstr(nas_errmsg(), "controller_aggregate=2 there, "
                                   "controller_aggregate=3 here"),
              "%s", nas_errmsg());
    recorder_done(&a);
    recorder_done(&b);
    recorder_done(&b2);
    recorder_done(&c);
    free(pa);
    free(pb);
    rm_dir(dir);
}

Test(enas_job, resume_inside_the_weight_phase_is_exact, .timeout = 120)
{
    resume_case(5, 4, 0); /* epoch 2, after its first weight step */
}

/* augment crops the weight steps' batches with draws from the op rng
 * after each child's: a resume inside the weight phase is still exact,
 * and the numbers differ from an unaugmented search. */
Test(enas_job, augmented_search_differs_and_resumes_exactly, .timeout = 120)
{
    resume_case(5, 4, 1);
    recorder plain = RECORDER, aug = RECORDER;
    nas_job_spec s = tiny_spec("enas-micro", 1);
    cr_assert_eq(recorder_run(&s, &plain), NAS_OK, "%s", nas_errmsg());
    s.augment = 1;
    cr_assert_eq(recorder_run(&s, &aug), NAS_OK, "%s", nas_errmsg());
    cr_assert(fabs(plain.reward_sum - aug.reward_sum) > 0.0 ||
                  strcmp(plain.result_json, aug.result_json) != 0,
              "augmented batches train other weights");
    recorder_done(&plain);
    recorder_done(&aug);
}

Test(enas_job, resume_between_the_phases_is_exact, .timeout = 120)
{
    resume_case(6, 4, 0); /* epoch 2, before its controller updates */
}

Test(enas_job, resume_inside_the_controller_phase_is_exact, .timeout = 120)
{
    resume_case(7, 6, 0); /* epoch 2, after one controller update */
}

/* ---------------------------------------------------------- spec rules */

Test(enas_job, defaults_are_the_reference_scripts)
{
    nas_job_spec s = {.algorithm = "enas", .dataset = "cifar10"};
    nas_job_spec_defaults(&s);
    cr_assert_str_eq(s.search_space, "enas-micro");
    cr_assert(s.epochs == 150 && s.batch_size == 160 && s.C == 20 && s.layers == 6 && s.nodes == 5);
    cr_assert(s.lr == 0.05f && s.lr_min == 0.0005f && s.lr_t0 == 10 && s.lr_t_mul == 2 &&
              s.momentum == 0.9f && s.nesterov == 1 && s.dropout == 0.1f);
    /* The reference trains the shared weights on 45,000 of CIFAR-10's
     * 50,000 images, with l2_reg 1e-4 in the loss (a gradient of
     * 2e-4 w) and no clip (its clip_mode "norm" keeps the unclipped
     * gradient). */
    cr_assert(s.train_portion == 0.9f && s.weight_decay == 2e-4f && s.grad_clip == 0.0f,
              "train_portion %g weight_decay %g grad_clip %g", (double)s.train_portion,
              (double)s.weight_decay, (double)s.grad_clip);
    cr_assert(s.ctrl_hidden == 64 && s.ctrl_lr == 0.0035f && s.ctrl_entropy_weight == 1e-4f &&
              s.ctrl_tanh == 1.1f && s.ctrl_op_tanh_reduce == 2.5f && s.ctrl_steps == 30 &&
              s.ctrl_aggregate == 10 && s.final_samples == 100);
    cr_assert(s.augment == 1, "the reference crops and flips its training images");
    cr_assert(s.aux_weight == 0.4f, "cifar10_micro_search.sh --child_use_aux_heads: 0.4");
    nas_job_spec f = {.algorithm = "enas", .dataset = "fashion-mnist"};
    nas_job_spec_defaults(&f);
    cr_assert(f.augment == 0, "off elsewhere, as the train kind's default");
    nas_job_spec m = {.algorithm = "enas", .dataset = "cifar10", .search_space = "enas-macro"};
    nas_job_spec_defaults(&m);
    cr_assert(m.epochs == 310 && m.batch_size == 128 && m.C == 36 && m.layers == 12 &&
              m.ctrl_lr == 0.001f && m.ctrl_tanh == 1.5f && m.ctrl_steps == 50 &&
              m.ctrl_aggregate == 20 && m.ctrl_skip_target == 0.4f && m.ctrl_skip_weight == 0.8f &&
              m.weight_decay == 5e-4f && m.train_portion == 0.9f && m.grad_clip == 0.0f &&
              m.augment == 1 && m.aux_weight == 0.0f);
}

static void refused(nas_job_spec s, const char *prefix)
{
    int rc = nas_job_run(&s, NULL, NULL);
    cr_assert_eq(rc, NAS_EINVAL, "%s: %s", prefix, nas_strerror(rc));
    cr_assert(strncmp(nas_errmsg(), prefix, strlen(prefix)) == 0, "%s", nas_errmsg());
}

Test(enas_job, bad_fields_are_refused_by_name)
{
    nas_job_spec s = tiny_spec("enas-micro", 1);
    s.lr_t0 = 0;
    refused(s, "lr_t0:");
    s = tiny_spec("enas-micro", 1);
    s.lr_t_mul = 0;
    refused(s, "lr_t_mul:");
    s = tiny_spec("enas-micro", 1);
    s.ctrl_aggregate = 0;
    refused(s, "controller_aggregate:");
    s = tiny_spec("enas-micro", 1);
    s.ctrl_lr = -1.0f;
    refused(s, "controller_lr:");
    s = tiny_spec("enas-micro", 1);
    s.nodes = 1;
    refused(s, "nodes:");
    s = tiny_spec("enas-micro", 1);
    s.final_epochs = -1; /* final training: test_enas_final.c */
    refused(s, "final_epochs:");
    s = tiny_spec("enas-macro", 1);
    s.aux_weight = 0.4f;
    refused(s, "auxiliary_weight:");
    s = tiny_spec("enas-micro", 1);
    s.search_space = "enas-mini";
    refused(s, "search_space:");
    s = tiny_spec("enas-micro", 1);
    s.dataset = "fortunes";
    refused(s, "dataset:");
    s = tiny_spec("enas-micro", 1);
    s.batch_size = 17; /* 16 examples a half */
    refused(s, "batch_size:");
    s = tiny_spec("enas-micro", 1);
    s.layers = 3; /* 16 -> 8 -> 4: fine; 4 cells more: odd at 6 */
    s.max_examples = 0;
    s.C = 0;
    refused(s, "C:");
}
