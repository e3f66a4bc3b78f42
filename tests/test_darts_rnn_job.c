// SPDX-License-Identifier: MIT
/*
 * test_darts_rnn_job.c - the `darts` job on darts-rnn over a small
 * generated corpus in the PTB layout (the cell itself is tested in
 * test_darts_rnn.c): a short search of each order ends with a valid
 * genotype and finite perplexity, a shutdown mid-epoch plus a resume ends
 * with the same bits as an uninterrupted run, the search hands its cell
 * to the final training, and the defaults and bad specs of the kind.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gradcheck.h"
#include "recorder.h"
#include "tmpdir.h"
#include "jobs/jobs.h"
#include "darts_genotypes.h"
#include "search/darts/darts.h"

/* A PTB-layout corpus of a 12-word language in which a word is mostly
 * followed by the next one, so there is something to learn. */
static void write_corpus(const char *dir)
{
    static const char *const words[12] = {"the", "cat", "sat", "on", "a",   "mat",
                                          "and", "dog", "ran", "to", "big", "house"};
    const char *files[3] = {"ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"};
    const int lines[3] = {60, 24, 24};
    nas_rng r;
    nas_rng_seed(&r, 42);
    for (int f = 0; f < 3; f++) {
        char path[600];
        snprintf(path, sizeof(path), "%s/%s", dir, files[f]);
        FILE *fp = fopen(path, "w");
        cr_assert(fp);
        for (int l = 0; l < lines[f]; l++) {
            int w = (int)nas_rng_below(&r, 12), n = 3 + (int)nas_rng_below(&r, 6);
            for (int k = 0; k < n; k++) {
                fprintf(fp, " %s", words[w]);
                w = nas_rng_uniform(&r) < 0.7f ? (w + 1) % 12 : (int)nas_rng_below(&r, 12);
            }
            fputs(" \n", fp);
        }
        fclose(fp);
    }
}

static nas_job_spec tiny_spec(const char *dir, int order, int epochs)
{
    nas_job_spec s = {.algorithm = "darts", .search_space = "darts-rnn", .dataset = "ptb"};
    nas_job_spec_defaults(&s);
    s.data_path = dir;
    s.order = order;
    s.embed = s.hidden = 6;
    s.bptt = 6;
    s.batch_size = 4;
    s.epochs = epochs;
    s.dropout = 0.3f;
    s.dropout_input = 0.1f;
    s.seed = 5;
    s.threads = 1;
    return s;
}

static void assert_valid_genotype(const char *arch)
{
    cr_assert(strncmp(arch, "{\"recurrent\": [[", 16) == 0, "%s", arch);
    cr_assert(strstr(arch, "], \"concat\": [1, 2, 3, 4, 5, 6, 7, 8]}"), "%s", arch);
    /* Node j's input is an earlier node and its op is not none. */
    const char *q = arch;
    for (int j = 1; j <= NAS_DARTS_RNN_NODES; j++) {
        q = strstr(q + 1, "[\"");
        cr_assert(q, "%s", arch);
        char op[16];
        int from;
        cr_assert_eq(sscanf(q, "[\"%15[a-z]\", %d]", op, &from), 2, "%s", q);
        cr_assert(from >= 0 && from < j, "node %d from %d", j, from);
        cr_assert(strcmp(op, "none") != 0);
    }
}

Test(darts_rnn, tiny_search_each_order, .timeout = 60)
{
    char *dir = tmpdir_new("test_darts_rnn");
    write_corpus(dir);
    for (int order = 1; order <= 2; order++) {
        recorder r = {0};
        nas_job_spec s = tiny_spec(dir, order, 1);
        cr_assert_eq(recorder_run(&s, &r), NAS_OK, "order %d: %s", order, nas_errmsg());
        cr_assert_eq(r.nresult, 1);
        cr_assert_eq(r.narch, 1, "one architecture row per epoch");
        cr_assert_eq(r.nmetric, 5, "train/val loss and perplexity, lr");
        cr_assert_str_eq(r.metric, "val_perplexity");
        cr_assert(isfinite(r.value) && r.value > 1.0 && r.value < 100.0,
                  "perplexity %g of a 13-token vocabulary", r.value);
        assert_valid_genotype(r.result_arch);
        cr_assert(strstr(r.result_json, "\"genotype\":\"Genotype(recurrent=["), "%s",
                  r.result_json);
        cr_assert(strstr(r.arch_metrics, "\"recurrent\":[["), "%s", r.arch_metrics);
        recorder_done(&r);
    }
    rm_dir(dir);
}

/* The result JSON without its wall-clock "seconds". */
static char *strip_seconds(const char *json)
{
    char *s = strdup(json), *p = strstr(s, ",\"seconds\":");
    cr_assert(p);
    *p = '\0';
    return s;
}

Test(darts_rnn, shutdown_and_resume_is_exact, .timeout = 60)
{
    char *dir = tmpdir_new("test_darts_rnn");
    write_corpus(dir);
    char pa[600], pb[600];
    snprintf(pa, sizeof(pa), "%s/a.ckpt", dir);
    snprintf(pb, sizeof(pb), "%s/b.ckpt", dir);
    nas_job_spec s = tiny_spec(dir, 2, 2);

    recorder a = {0};
    s.checkpoint_path = pa;
    cr_assert_eq(recorder_run(&s, &a), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(a.nckpt, 2, "one checkpoint per epoch");
    int64_t spe = a.last_ckpt_step / 2;
    cr_assert(spe >= 3, "%lld steps per epoch", (long long)spe);

    /* Stop strictly inside epoch 2, with the carried states mid-stream. */
    recorder b = {0};
    b.stop_at = spe + 2;
    b.stop_value = NAS_STOP_SHUTDOWN;
    s.checkpoint_path = pb;
    s.resume = 1;
    int rc = recorder_run(&s, &b);
    cr_assert_eq(rc, NAS_ECANCELLED, "%s", nas_strerror(rc));
    cr_assert_eq(b.last_ckpt_step, spe + 2, "the shutdown checkpoint");
    cr_assert_eq(b.nresult, 0);
    recorder b2 = {0};
    cr_assert_eq(recorder_run(&s, &b2), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(b2.nprogress, spe - 2, "only the remaining steps run");
    cr_assert_eq(b2.nresult, 1);
    cr_assert_eq(memcmp(&a.value, &b2.value, sizeof(double)), 0, "val perplexity %.17g vs %.17g",
                 a.value, b2.value);
    char *ja = strip_seconds(a.result_json), *jb = strip_seconds(b2.result_json);
    cr_assert_str_eq(ja, jb, "same genotype, alphas and losses");
    cr_assert_str_eq(a.arch_metrics, b2.arch_metrics);
    free(ja);
    free(jb);

    /* Another spec's checkpoint is refused. */
    recorder c = {0};
    s.hidden = s.embed = 7;
    cr_assert_eq(recorder_run(&s, &c), NAS_EINVAL);
    cr_assert(strstr(nas_errmsg(), "embed=6 there, embed=7 here"), "%s", nas_errmsg());
    recorder_done(&a);
    recorder_done(&b);
    recorder_done(&b2);
    recorder_done(&c);
    rm_dir(dir);
}

/* Search, then the derived cell trained from scratch as a language model:
 * the headline is its test perplexity, its metrics come as final.*, and a
 * shutdown inside the final training resumes there and ends with the
 * same bits as an uninterrupted run. */
Test(darts_rnn, search_then_final_training, .timeout = 60)
{
    char *dir = tmpdir_new("test_darts_rnn");
    write_corpus(dir);
    char pa[600], pb[600];
    snprintf(pa, sizeof(pa), "%s/a.ckpt", dir);
    snprintf(pb, sizeof(pb), "%s/b.ckpt", dir);
    nas_job_spec s = tiny_spec(dir, 1, 1);
    s.final_epochs = 2;

    recorder a = {0};
    s.checkpoint_path = pa;
    cr_assert_eq(recorder_run(&s, &a), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(a.nresult, 1);
    cr_assert_str_eq(a.metric, "test_perplexity");
    cr_assert(isfinite(a.value) && a.value > 1.0 && a.value < 100.0,
              "test perplexity %g of a 13-token vocabulary", a.value);
    assert_valid_genotype(a.result_arch);
    cr_assert(strstr(a.result_json, "\"final_training\":{"), "%s", a.result_json);
    cr_assert(strstr(a.result_json, "\"search_seconds\":"), "%s", a.result_json);
    cr_assert(strstr(a.arch_json, "\"space\":\"darts-rnn\""), "%s", a.arch_json);
    cr_assert_eq(a.nckpt, 3, "one search epoch, two final epochs");
    int64_t total = a.last_ckpt_step;
    /* The progress totals include the final training from the start. */
    cr_assert_eq(a.totals_moved, 0, "progress totals changed mid-job");
    cr_assert_eq(a.last.steps, total);
    cr_assert_eq(a.last.epochs, 3);

    /* Stop in the final training's second epoch, resume, compare. */
    recorder b = {0};
    b.stop_at = total - 1;
    b.stop_value = NAS_STOP_SHUTDOWN;
    s.checkpoint_path = pb;
    s.resume = 1;
    cr_assert_eq(recorder_run(&s, &b), NAS_ECANCELLED, "%s", nas_errmsg());
    cr_assert_eq(b.nresult, 0);
    recorder b2 = {0};
    cr_assert_eq(recorder_run(&s, &b2), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(b2.nprogress, 1, "only the last step runs again");
    cr_assert_eq(memcmp(&a.value, &b2.value, sizeof(double)), 0, "test perplexity %.17g vs %.17g",
                 a.value, b2.value);
    cr_assert_str_eq(a.result_arch, b2.result_arch);
    recorder_done(&a);
    recorder_done(&b);
    recorder_done(&b2);
    rm_dir(dir);
}

Test(darts_rnn, defaults_and_bad_specs)
{
    nas_job_spec s = {.algorithm = "darts", .search_space = "darts-rnn", .dataset = "ptb"};
    nas_job_spec_defaults(&s);
    cr_expect_eq(s.batch_size, 256);
    cr_expect_eq(s.embed, 300);
    cr_expect_eq(s.hidden, 300);
    cr_expect_eq(s.bptt, 35);
    cr_expect_eq(s.lr, 20.0f);
    cr_expect_eq(s.lr_min, 20.0f);
    cr_expect_eq(s.grad_clip, 0.25f);
    cr_expect_eq(s.arch_lr, 3e-3f);
    cr_expect_eq(s.arch_weight_decay, 1e-3f);
    cr_expect_eq(s.arch_beta1, 0.9f);
    /* train_search.py's regularisers (#16 item 6) */
    cr_expect_eq(s.dropout, 0.75f);
    cr_expect_eq(s.dropout_input, 0.2f);
    cr_expect_eq(s.dropout_x, 0.75f);
    cr_expect_eq(s.dropout_h, 0.25f);
    cr_expect_eq(s.ar_alpha, 0.0f);
    cr_expect_eq(s.tar_beta, 1e-3f);

    nas_job_spec bad = s;
    bad.dataset = "synthetic";
    cr_expect_eq(nas_job_run(&bad, NULL, NULL), NAS_EINVAL);
    cr_expect(strstr(nas_errmsg(), "needs a text dataset"), "%s", nas_errmsg());
    bad = s;
    bad.order = 3;
    cr_expect_eq(nas_job_run(&bad, NULL, NULL), NAS_EINVAL);
    cr_expect(strncmp(nas_errmsg(), "order:", 6) == 0, "%s", nas_errmsg());
    bad = s;
    bad.dropout_h = 1.0f;
    cr_expect_eq(nas_job_run(&bad, NULL, NULL), NAS_EINVAL);
    cr_expect(strncmp(nas_errmsg(), "dropout_h:", 10) == 0, "%s", nas_errmsg());
}
