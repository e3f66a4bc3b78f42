// SPDX-License-Identifier: MIT
/*
 * test_enas_final.c - a fixed ENAS arc trained from scratch by the train
 * kind (NAS_ARCH_ENAS_CNN), and enas' final training: a tiny enas-micro
 * search on the synthetic data with final_epochs ends with the test
 * accuracy of the found arc as its headline, counts the final training's
 * epochs and steps on from the search's, and a shutdown inside the final
 * training resumes there and ends with the same bits.
 *
 * The networks are tiny (C 4, 1 normal cell per stack, 3 nodes) so that
 * the tests stay fast under ASan.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nas.h"
#include "recorder.h"

/* Normal cell then reduction cell, per node "x_id x_op y_id y_op" (ops:
 * 0 sep_conv_3x3, 1 sep_conv_5x5, 2 avg_pool, 3 max_pool, 4 identity). */
static const char *const SEP_ARC = "0 0 1 1 2 0 1 0 3 1 0 0  1 0 0 1 2 1 1 0 2 0 3 1";
static const char *const CHEAP_ARC = "0 4 1 2 2 3 1 4 3 2 0 4  1 4 0 2 2 3 1 4 2 2 3 4";

static nas_job_spec fixed_spec(const char *space, const char *arc)
{
    nas_job_spec s = {.dataset = "synthetic", .arch = NAS_ARCH_ENAS_CNN, .search_space = space};
    nas_job_spec_defaults(&s);
    snprintf(s.genotype, sizeof(s.genotype), "%s", arc);
    s.C = 4;
    s.layers = strcmp(space, "enas-macro") == 0 ? 3 : 1;
    s.nodes = 3;
    s.epochs = 1;
    s.batch_size = 50;
    s.seed = 3;
    return s;
}

static double num_of(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(json, pat);
    cr_assert(p, "no %s in %s", key, json);
    return strtod(p + strlen(pat), NULL);
}

Test(enas_final, train_kind_on_a_fixed_micro_arc)
{
    nas_job_spec s = fixed_spec("enas-micro", SEP_ARC);
    recorder r = {0};
    cr_assert_eq(recorder_run(&s, &r), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(r.nresult, 1);
    cr_assert_str_eq(r.metric, "test_accuracy");
    cr_assert(r.value > 0.15, "one epoch learns the bars: %g", r.value);
    cr_assert(strncmp(r.result_arch,
                      "{\"space\":\"enas-micro\",\"arc\":"
                      "{\"normal\":[{\"inputs\":[0,1],\"ops\":"
                      "[\"sep_conv_3x3\",\"sep_conv_5x5\"]}",
                      85) == 0,
              "%s", r.result_arch);
    cr_assert(strstr(r.result_arch, "\"fixed_arc\":\"0 0 1 1 2 0"), "%s", r.result_arch);
    double sep = num_of(r.result_json, "parameters");

    /* The same space with pools and identities only: the parameters
     * counted are the arc's, not the whole space's. */
    s = fixed_spec("enas-micro", CHEAP_ARC);
    recorder c = {0};
    cr_assert_eq(recorder_run(&s, &c), NAS_OK, "%s", nas_errmsg());
    double cheap = num_of(c.result_json, "parameters");
    cr_assert(cheap > 0 && cheap < sep / 2, "%g vs %g", cheap, sep);
    recorder_done(&r);
    recorder_done(&c);
}

Test(enas_final, train_kind_on_a_fixed_macro_arc)
{
    /* 3 layers: op; op, 1 skip bit; op, 2 skip bits. */
    nas_job_spec s = fixed_spec("enas-macro", "1 0 1 5 1 1");
    recorder r = {0};
    cr_assert_eq(recorder_run(&s, &r), NAS_OK, "%s", nas_errmsg());
    cr_assert_str_eq(r.metric, "test_accuracy");
    cr_assert(strstr(r.result_arch, "{\"op\": \"max_pool_3x3\", \"skips\": "
                                    "[-1, 0]}"),
              "%s", r.result_arch);
    recorder_done(&r);
}

/* The train loss of each step (the train kind reports it per epoch; one
 * epoch here). */
static void keep_train_loss(recorder *r, int epoch, int64_t step, const char *name, double value)
{
    (void)epoch;
    (void)step;
    if (strcmp(name, "train_loss") == 0)
        *(double *)r->user = value;
}

/* Drop path trains a different network (the final training's weights and
 * loss change with it), and the same one from the same seed. */
Test(enas_final, drop_path_changes_the_micro_training_deterministically)
{
    double loss[3] = {0};
    double acc[3];
    for (int k = 0; k < 3; k++) {
        nas_job_spec s = fixed_spec("enas-micro", SEP_ARC);
        s.dropout = 0.0f;
        s.drop_path = k ? 0.5f : 0.0f;
        recorder r = {.metric_hook = keep_train_loss, .user = &loss[k]};
        cr_assert_eq(recorder_run(&s, &r), NAS_OK, "%s", nas_errmsg());
        cr_assert(loss[k] > 0.0);
        acc[k] = r.value;
        recorder_done(&r);
    }
    cr_assert(loss[1] != loss[0], "drop path 0.5 trains as 0 did: %.9g", loss[0]);
    cr_assert_eq(loss[1], loss[2], "the masks come from the seed");
    cr_assert_eq(acc[1], acc[2]);
}

static void refused(nas_job_spec s, const char *what)
{
    recorder r = {0};
    cr_assert_eq(recorder_run(&s, &r), NAS_EINVAL, "%s accepted", what);
    cr_assert(strncmp(nas_errmsg(), what, strlen(what)) == 0, "want %s: %s", what, nas_errmsg());
    cr_assert_eq(r.nprogress, 0);
    recorder_done(&r);
}

Test(enas_final, bad_fixed_arcs_name_the_field)
{
    refused(fixed_spec("enas-micro", "0 0 1 1"), "genotype");
    /* node 0 can read inputs 0 and 1 only */
    refused(fixed_spec("enas-micro", "2 0 1 1 2 0 1 0 3 1 0 0 1 0 0 1 2 1 1 0 2 0 3 1"),
            "genotype");
    refused(fixed_spec("enas-micro", "0 5 1 1 2 0 1 0 3 1 0 0 1 0 0 1 2 1 1 0 2 0 3 1"),
            "genotype");
    refused(fixed_spec("enas-micro", "0 0 x"), "genotype");
    refused(fixed_spec("enas-macro", "1 0 1 5 1 2"), "genotype");
    refused(fixed_spec("enas-rnn", SEP_ARC), "search_space");
    nas_job_spec s = fixed_spec("enas-micro", SEP_ARC);
    s.nodes = 0;
    refused(s, "nodes");
    s = fixed_spec("enas-micro", SEP_ARC);
    s.dataset = "fortunes";
    refused(s, "arch");
    s = fixed_spec("enas-micro", SEP_ARC);
    s.drop_path = 1.0f;
    refused(s, "drop_path");
    s = fixed_spec("enas-macro", "1 0 1 5 1 1");
    s.drop_path = 0.2f;
    refused(s, "drop_path");
}

/* --------------------------------------------------- final training */

typedef struct stage_counts {
    int final, search;
} stage_counts;

static void count_stage(recorder *r, int epoch, int64_t step, const char *name, double value)
{
    (void)epoch, (void)step, (void)value;
    stage_counts *c = r->user;
    if (strncmp(name, "final.", 6) == 0)
        c->final++;
    else
        c->search++;
}

/* 1 search epoch: 32 examples split 16/16, batch 16: 1 weight step and 2
 * controller updates; then 1 final epoch of 2000 / 16 = 125 steps. */
static nas_job_spec search_spec(const char *ckpt)
{
    nas_job_spec s = {.algorithm = "enas", .dataset = "synthetic", .search_space = "enas-micro"};
    nas_job_spec_defaults(&s);
    s.C = 4;
    s.layers = 1;
    s.nodes = 3;
    s.batch_size = 16;
    s.max_examples = 32;
    s.train_portion = 0.5f;
    s.ctrl_steps = 2;
    s.ctrl_aggregate = 2;
    s.final_samples = 3;
    s.ctrl_hidden = 16;
    s.epochs = 1;
    s.seed = 7;
    s.final_epochs = 1;
    s.final_C = 4;
    s.final_layers = 1;
    s.checkpoint_path = ckpt;
    s.resume = ckpt != NULL;
    return s;
}

/* The final training's spec text, as the job logs it. */
static char final_text[1400];

static void keep_final_text(recorder *r, const char *msg)
{
    (void)r;
    if (strncmp(msg, "final training: kind=train ", 27) == 0)
        snprintf(final_text, sizeof(final_text), "%s", msg);
}

/* The reference's final scripts (cifar10_micro_final.sh and
 * cifar10_macro_final.sh) put child_l2_reg 2e-4 into the loss as
 * l2 sum w^2: a decay of 4e-4 w; and their training images are cropped
 * and flipped, as the search's are when augment is on. */
Test(enas_final, final_training_takes_the_scripts_decay_and_the_searchs_augment)
{
    nas_job_spec s = search_spec(NULL);
    s.augment = 1;
    recorder a = {.log_hook = keep_final_text};
    final_text[0] = '\0';
    cr_assert_eq(recorder_run(&s, &a), NAS_OK, "%s", nas_errmsg());
    cr_assert(strstr(final_text, " augment=1 aux_weight=0.4 "),
              "cifar10_micro_final.sh trains the auxiliary head too: %s", final_text);
    cr_assert(strstr(final_text, " weight_decay=0.0004 "), "%s", final_text);
    /* cifar10_micro_final.sh: child_keep_prob 0.80 (the search's 0.90
     * does not carry over), child_drop_path_keep_prob 0.60. */
    cr_assert(strstr(final_text, " dropout=0.2"), "%s", final_text);
    cr_assert(strstr(final_text, " drop_path=0.4"), "%s", final_text);
    recorder_done(&a);
    nas_job_spec t = {.algorithm = "train",
                      .dataset = "synthetic",
                      .arch = NAS_ARCH_ENAS_CNN,
                      .search_space = "enas-macro"};
    nas_job_spec_defaults(&t);
    cr_assert(t.weight_decay == 4e-4f, "train on a macro arc: %g", (double)t.weight_decay);
    cr_assert(t.aux_weight == 0.0f, "no head on a macro arc");
    nas_job_spec m = {.algorithm = "enas", .dataset = "synthetic", .search_space = "enas-macro"};
    nas_job_spec_defaults(&m);
    cr_assert(m.final_dropout == 0.5f, "cifar10_macro_final.sh: %g", (double)m.final_dropout);
    nas_job_spec u = {.algorithm = "train",
                      .dataset = "synthetic",
                      .arch = NAS_ARCH_ENAS_CNN,
                      .search_space = "enas-micro"};
    nas_job_spec_defaults(&u);
    cr_assert(u.aux_weight == 0.4f, "train on a micro arc: %g", (double)u.aux_weight);
}

Test(enas_final, micro_search_with_final_training_and_exact_resume)
{
    char dir[64];
    snprintf(dir, sizeof(dir), "/tmp/nas_enas_final_XXXXXX");
    cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
    char ckpt[96];
    snprintf(ckpt, sizeof(ckpt), "%s/job.ckpt", dir);

    nas_job_spec s = search_spec(NULL);
    stage_counts ca = {0}, cc = {0};
    recorder a = {.metric_hook = count_stage, .user = &ca};
    cr_assert_eq(recorder_run(&s, &a), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(a.nresult, 1);
    cr_assert_str_eq(a.metric, "test_accuracy");
    cr_assert(a.value >= 0.0 && a.value <= 1.0);
    cr_assert(strstr(a.result_json, "\"final_training\":{\"dataset\":"
                                    "\"synthetic\",\"test_accuracy\":"),
              "%s", a.result_json);
    cr_assert(strstr(a.result_json, "\"fixed_arc\":"), "%s", a.result_json);
    cr_assert(strstr(a.result_json, "\"search_seconds\":"));
    cr_assert(num_of(strstr(a.result_json, "\"final_training\":"), "test_accuracy") == a.value);
    cr_assert(strncmp(a.result_arch, "{\"normal\":[{\"inputs\":[", 22) == 0,
              "the search's architecture JSON: %s", a.result_arch);
    cr_assert(ca.final >= 4 && ca.search >= 3, "%d %d", ca.final, ca.search);
    cr_assert_eq(a.last.step, 3 + 125);
    cr_assert_eq(a.first.steps, 3 + 125,
                 "the totals count the final "
                 "training from the first report on");
    cr_assert_eq(a.totals_moved, 0);
    cr_assert_eq(a.backwards, 0);

    /* Shut down inside the final training, then resume: same result. */
    s = search_spec(ckpt);
    recorder b = {.stop_at = 3 + 40, .stop_value = NAS_STOP_SHUTDOWN};
    cr_assert_eq(recorder_run(&s, &b), NAS_ECANCELLED, "%s", nas_errmsg());
    cr_assert_eq(b.nresult, 0);
    cr_assert_eq(b.last_ckpt_step, 3 + 40);
    recorder c = {.metric_hook = count_stage, .user = &cc};
    cr_assert_eq(recorder_run(&s, &c), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(cc.search, 0, "the search is not redone");
    cr_assert(cc.final > 0);
    cr_assert_eq(c.nresult, 1);
    cr_assert(c.value == a.value, "%.17g vs %.17g", c.value, a.value);
    cr_assert_str_eq(a.result_arch, c.result_arch);
    /* The final training's result, up to its wall-clock seconds. */
    const char *fa = strstr(a.result_json, "\"final_training\":");
    const char *fc = strstr(c.result_json, "\"final_training\":");
    const char *ea = strstr(fa, ",\"seconds\":"), *ec = strstr(fc, ",\"seconds\":");
    cr_assert(ea - fa == ec - fc && memcmp(fa, fc, (size_t)(ea - fa)) == 0,
              "final results differ:\n%s\n%s", a.result_json, c.result_json);

    /* Another final configuration is refused by the checkpoint. */
    s.final_epochs = 2;
    recorder d = {0};
    cr_assert_eq(recorder_run(&s, &d), NAS_EINVAL);
    cr_assert_eq(d.nresult, 0);
    recorder_done(&a);
    recorder_done(&b);
    recorder_done(&c);
    recorder_done(&d);
    unlink(ckpt);
    rmdir(dir);
}

Test(enas_final, bad_final_fields_name_the_field)
{
    nas_job_spec s = search_spec(NULL);
    s.final_epochs = -1;
    refused(s, "final_epochs");
    s = search_spec(NULL);
    s.final_C = 5000;
    refused(s, "final_C");
    s = search_spec(NULL);
    s.search_space = "enas-macro";
    s.aux_weight = 0.0f; /* micro's default: macro has no head */
    s.layers = 3;
    s.final_layers = 4;
    refused(s, "final_layers");
    s = search_spec(NULL);
    s.final_layers = 65;
    refused(s, "final_layers");
}

/* ------------------------------------------------------------ enas-rnn */

/* 1 search epoch, then 1 final epoch of the found cell in the enas-rnn
 * language model, trained from scratch on the train split. */
static nas_job_spec rnn_search_spec(const char *ckpt)
{
    nas_job_spec s = {.algorithm = "enas", .search_space = "enas-rnn", .dataset = "fortunes"};
    nas_job_spec_defaults(&s);
    s.nodes = 4;
    s.hidden = 8;
    s.bptt = 6;
    s.batch_size = 16;
    s.max_vocab = 300;
    s.lr = 0.5f;
    s.ctrl_hidden = 12;
    s.ctrl_steps = 2;
    s.ctrl_aggregate = 2;
    s.final_samples = 3;
    s.epochs = 1;
    s.seed = 9;
    s.final_epochs = 1;
    s.checkpoint_path = ckpt;
    s.resume = ckpt != NULL;
    return s;
}

Test(enas_final, rnn_search_with_final_training_and_exact_resume)
{
    char dir[64];
    snprintf(dir, sizeof(dir), "/tmp/nas_enas_final_XXXXXX");
    cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
    char ckpt[96];
    snprintf(ckpt, sizeof(ckpt), "%s/job.ckpt", dir);

    nas_job_spec s = rnn_search_spec(NULL);
    stage_counts ca = {0}, cc = {0};
    recorder a = {.metric_hook = count_stage, .user = &ca};
    cr_assert_eq(recorder_run(&s, &a), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(a.nresult, 1);
    cr_assert_str_eq(a.metric, "test_perplexity");
    cr_assert(a.value > 1.0 && a.value < 1e4, "%g", a.value);
    cr_assert(strstr(a.result_json, "\"final_training\":{\"dataset\":\"fortunes\","
                                    "\"test_perplexity\":"),
              "%s", a.result_json);
    cr_assert(strstr(strstr(a.result_json, "\"final_training\":"), "\"parameters\":"));
    cr_assert(strncmp(a.result_arch, "{\"nodes\":", 9) == 0, "%s", a.result_arch);
    cr_assert(ca.final >= 3 && ca.search >= 2, "%d %d", ca.final, ca.search);
    int64_t total = a.last.step;
    cr_assert(total > 3, "steps %lld", (long long)total);
    cr_assert_eq(a.backwards, 0);

    /* Shut down inside the final training, then resume: same result. */
    s = rnn_search_spec(ckpt);
    int64_t search_steps =
        total - (int64_t)num_of(strstr(a.result_json, "\"final_training\":"), "steps");
    recorder b = {.stop_at = search_steps + 2, .stop_value = NAS_STOP_SHUTDOWN};
    cr_assert_eq(recorder_run(&s, &b), NAS_ECANCELLED, "%s", nas_errmsg());
    cr_assert_eq(b.nresult, 0);
    recorder c = {.metric_hook = count_stage, .user = &cc};
    cr_assert_eq(recorder_run(&s, &c), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(cc.search, 0, "the search is not redone");
    cr_assert(c.value == a.value, "%.17g vs %.17g", c.value, a.value);
    const char *fa = strstr(a.result_json, "\"final_training\":");
    const char *fc = strstr(c.result_json, "\"final_training\":");
    const char *ea = strstr(fa, ",\"seconds\":"), *ec = strstr(fc, ",\"seconds\":");
    cr_assert(ea - fa == ec - fc && memcmp(fa, fc, (size_t)(ea - fa)) == 0,
              "final results differ:\n%s\n%s", a.result_json, c.result_json);
    recorder_done(&a);
    recorder_done(&b);
    recorder_done(&c);
    unlink(ckpt);
    rmdir(dir);
}

Test(enas_final, train_kind_on_a_fixed_rnn_arc)
{
    nas_job_spec s = {.dataset = "fortunes", .arch = NAS_ARCH_ENAS_RNN, .search_space = "enas-rnn"};
    nas_job_spec_defaults(&s);
    snprintf(s.genotype, sizeof(s.genotype), "0 0 1 1 2 0 3");
    s.nodes = 4;
    s.hidden = s.embed = 8;
    s.bptt = 6;
    s.batch_size = 16;
    s.max_vocab = 300;
    s.epochs = 1;
    s.dropout = 0.0f;
    s.seed = 2;
    recorder r = {0};
    cr_assert_eq(recorder_run(&s, &r), NAS_OK, "%s", nas_errmsg());
    cr_assert_str_eq(r.metric, "test_perplexity");
    cr_assert(strstr(r.result_arch, "{\"space\":\"enas-rnn\",\"arc\":{\"nodes\":"), "%s",
              r.result_arch);
    recorder_done(&r);
    /* node 2 cannot read node 2; 6 ints are too few */
    snprintf(s.genotype, sizeof(s.genotype), "0 0 1 2 2 0 3");
    refused(s, "genotype");
    snprintf(s.genotype, sizeof(s.genotype), "0 0 1 1 2 0");
    refused(s, "genotype");
    snprintf(s.genotype, sizeof(s.genotype), "0 0 1 1 2 0 3");
    s.dropout_h = 1.5f;
    refused(s, "dropout_h");
}

Test(enas_final, search_out_of_time_still_gets_its_final_training)
{
    /* max_seconds bounds the search alone (#20): a search it cuts short
     * is still followed by the final training, whose test accuracy is the
     * headline; the result says the search stopped by time. */
    nas_job_spec s = search_spec(NULL);
    s.max_seconds = 1e-6;
    stage_counts cs = {0};
    recorder r = {.metric_hook = count_stage, .user = &cs};
    cr_assert_eq(recorder_run(&s, &r), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(r.nresult, 1);
    cr_assert_str_eq(r.metric, "test_accuracy");
    cr_assert(strstr(r.result_json, "\"stopped_by\":\"max_seconds\""), "%s", r.result_json);
    cr_assert(strstr(r.result_json, "\"final_training\":{"), "%s", r.result_json);
    cr_assert(!strstr(r.result_json, "\"skipped\""), "%s", r.result_json);
    cr_assert(cs.final > 0, "no final-training metric");
    recorder_done(&r);
}
