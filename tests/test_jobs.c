// SPDX-License-Identifier: MIT
/*
 * test_jobs.c - the `train` job end to end: a synthetic image job that
 * learns, reporting through every callback; determinism; exact resume
 * after a shutdown mid-epoch and from an epoch-end checkpoint; cancel;
 * refusal of another spec's checkpoint; dataset and spec errors; and text
 * jobs on a tiny PTB-layout corpus and on fortunes.
 *
 * The one design decision to know: the reporter's callbacks run on the
 * job's thread, so the recorder below can set the stop flag at an exact
 * step from the progress callback and copy a checkpoint at an exact step
 * from the checkpoint callback; "identical" then means the same result
 * (minus wall-clock seconds) and the same bytes in the final checkpoint's
 * data section (weights, moments, rng; the header holds elapsed time).
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h" /* nas__ckpt_meta */
#include "nas.h"
#include "recorder.h"
#include "tmpdir.h"

/* ------------------------------------------------------------ recorder */

/* Test-specific bookkeeping through recorder.h's hooks (user points to
 * a `extra`): the test_accuracy metrics, and a copy of the checkpoint of
 * one step. */
typedef struct extra {
    int ntest_metric;
    double last_test_metric;
    int64_t copy_at;   /* copy the checkpoint of this step ... */
    char copy_to[512]; /* ... to this path */
} extra;

static void test_metric(recorder *r, int epoch, int64_t step, const char *name, double value)
{
    (void)epoch, (void)step;
    extra *x = r->user;
    if (strcmp(name, "test_accuracy") == 0) {
        x->ntest_metric++;
        x->last_test_metric = value;
    }
}

static void copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    cr_assert(a && b, "copy %s -> %s: %s", from, to, strerror(errno));
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), a)) > 0)
        cr_assert(fwrite(buf, 1, n, b) == n);
    fclose(a);
    fclose(b);
}

static void copy_ckpt(recorder *r, const char *path, int64_t step)
{
    extra *x = r->user;
    if (x->copy_at > 0 && step == x->copy_at)
        copy_file(path, x->copy_to);
}

/* A recorder with its extra bookkeeping in *x. */
#define RECORDER(x)                                                                                \
    {                                                                                              \
        .metric_hook = test_metric, .ckpt_hook = copy_ckpt, .user = (x)                            \
    }

/* ------------------------------------------------------------- helpers */

/* A small synthetic job: 31 steps per epoch, about a second under ASan. */
static nas_job_spec small_spec(int epochs)
{
    nas_job_spec s = {.dataset = "synthetic"};
    nas_job_spec_defaults(&s);
    s.channels[0] = 8;
    s.channels[1] = 16;
    s.hidden = 32;
    s.epochs = epochs;
    s.seed = 7;
    s.threads = 1;
    return s;
}

/* s run with a fresh recorder until a shutdown at its third step: the
 * checkpoint at s->checkpoint_path that a resume starts from. */
static void run_to_step_3(const nas_job_spec *s)
{
    extra x = {.copy_at = 0};
    recorder r = RECORDER(&x);
    r.stop_at = 3;
    r.stop_value = NAS_STOP_SHUTDOWN;
    cr_assert_eq(recorder_run(s, &r), NAS_ECANCELLED);
}

/* s resumed with a fresh recorder: what the run returned, and how many
 * progress reports it gave in *nprogress. */
static int resume_run(nas_job_spec *s, int *nprogress)
{
    extra x = {.copy_at = 0};
    recorder r = RECORDER(&x);
    s->resume = 1;
    int rc = recorder_run(s, &r);
    *nprogress = r.nprogress;
    return rc;
}

/* The data section of a safetensors file (after the 8-byte length and the
 * JSON header), malloc'd. */
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

static void assert_same_ckpt(const char *a, const char *b)
{
    size_t na, nb;
    unsigned char *da = ckpt_data(a, &na), *db = ckpt_data(b, &nb);
    cr_assert_eq(na, nb, "data sections of %s and %s differ in size", a, b);
    cr_assert(memcmp(da, db, na) == 0, "weights of %s and %s differ", a, b);
    free(da);
    free(db);
}

/* The result JSON without the wall-clock "seconds" (always last). */
static void assert_same_result(const recorder *a, const recorder *b)
{
    cr_assert_str_eq(a->metric, b->metric);
    cr_assert(a->value == b->value, "%.17g vs %.17g", a->value, b->value);
    const char *ca = strstr(a->result_json, ",\"seconds\"");
    const char *cb = strstr(b->result_json, ",\"seconds\"");
    cr_assert(ca && cb);
    cr_assert(ca - a->result_json == cb - b->result_json &&
                  memcmp(a->result_json, b->result_json, (size_t)(ca - a->result_json)) == 0,
              "results differ:\n%s\n%s", a->result_json, b->result_json);
    cr_assert_str_eq(a->result_arch, b->result_arch);
}

/* ---------------------------------------------------------- image jobs */

Test(jobs, synthetic_learns_and_reports)
{
    extra x_r = {.copy_at = 0};
    recorder r = RECORDER(&x_r);
    nas_job_spec s = small_spec(3);
    int rc = recorder_run(&s, &r);
    cr_assert_eq(rc, NAS_OK, "%s: %s", nas_strerror(rc), nas_errmsg());
    cr_assert_eq(r.nprogress, 3 * 31);
    cr_assert_eq(r.last.step, 93);
    cr_assert_eq(r.last.steps, 93);
    cr_assert_eq(r.last.epoch, 3);
    cr_assert_float_eq(r.last.fraction, 1.0, 1e-12);
    cr_assert_eq(x_r.ntest_metric, 3);
    cr_assert_eq(r.nresult, 1);
    cr_assert_eq(r.narch, 1);
    cr_assert_eq(r.nckpt, 0, "no checkpoint_path: no checkpoint");
    cr_assert(r.nlog >= 4);
    cr_assert_str_eq(r.metric, "test_accuracy");
    cr_assert(r.value > 0.8, "test accuracy %.4f", r.value);
    cr_assert(r.value == x_r.last_test_metric && r.value == r.reward);
    cr_assert(strstr(r.result_arch, "\"space\":\"fixed-cnn\""));
    cr_assert(strstr(r.result_arch, "\"channels\":[8,16]"), "%s", r.result_arch);
    cr_assert(strstr(r.result_json, "\"stopped_by\":\"epochs\""));
    char acc[64];
    snprintf(acc, sizeof(acc), "\"test_accuracy\":%.17g", r.value);
    cr_assert(strstr(r.result_json, acc), "%s", r.result_json);
    recorder_done(&r);
}

Test(jobs, same_seed_same_numbers)
{
    char *dir = tmpdir_new("nas_jobs");
    char *pa = path_in(dir, "a.ckpt"), *pb = path_in(dir, "b.ckpt");
    extra x_a = {.copy_at = 0}, x_b = {.copy_at = 0};
    recorder a = RECORDER(&x_a), b = RECORDER(&x_b);
    nas_job_spec s = small_spec(2);
    s.dropout = 0.3f; /* the op rng must be reproducible too */
    s.checkpoint_path = pa;
    cr_assert_eq(recorder_run(&s, &a), NAS_OK, "%s", nas_errmsg());
    s.checkpoint_path = pb;
    cr_assert_eq(recorder_run(&s, &b), NAS_OK, "%s", nas_errmsg());
    assert_same_result(&a, &b);
    assert_same_ckpt(pa, pb);
    cr_assert_eq(a.nckpt, 2, "one checkpoint per epoch");

    extra x_c = {.copy_at = 0};

    recorder c = RECORDER(&x_c);
    s.seed = 8;
    s.checkpoint_path = NULL;
    cr_assert_eq(recorder_run(&s, &c), NAS_OK);
    cr_assert(c.value != a.value || strcmp(c.result_json, a.result_json));
    recorder_done(&a);
    recorder_done(&b);
    recorder_done(&c);
    free(pa);
    free(pb);
    rm_dir(dir);
}

Test(jobs, resume_after_shutdown_mid_epoch_is_exact)
{
    char *dir = tmpdir_new("nas_jobs");
    char *pa = path_in(dir, "a.ckpt"), *pb = path_in(dir, "b.ckpt");
    char *pc = path_in(dir, "epoch1.ckpt");
    nas_job_spec s = small_spec(2);
    s.dropout = 0.3f;

    /* Uninterrupted, keeping a copy of the epoch-end checkpoint. */
    extra x_a = {.copy_at = 0};
    recorder a = RECORDER(&x_a);
    x_a.copy_at = 31;
    snprintf(x_a.copy_to, sizeof(x_a.copy_to), "%s", pc);
    s.checkpoint_path = pa;
    cr_assert_eq(recorder_run(&s, &a), NAS_OK, "%s", nas_errmsg());

    /* Shut down at step 40 (epoch 2, step 9 of 31), then resume. */
    extra x_b = {.copy_at = 0};
    recorder b = RECORDER(&x_b);
    b.stop_at = 40;
    b.stop_value = NAS_STOP_SHUTDOWN;
    s.checkpoint_path = pb;
    s.resume = 1;
    int rc = recorder_run(&s, &b);
    cr_assert_eq(rc, NAS_ECANCELLED, "%s", nas_strerror(rc));
    cr_assert_eq(b.last_ckpt_step, 40, "the shutdown checkpoint");
    cr_assert_eq(b.nresult, 0);
    extra x_b2 = {.copy_at = 0};
    recorder b2 = RECORDER(&x_b2);
    cr_assert_eq(recorder_run(&s, &b2), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(b2.nprogress, 62 - 40, "only the remaining steps run");
    assert_same_result(&a, &b2);
    assert_same_ckpt(pa, pb);

    /* From the epoch-end checkpoint of the uninterrupted run. */
    extra x_c = {.copy_at = 0};
    recorder c = RECORDER(&x_c);
    s.checkpoint_path = pc;
    cr_assert_eq(recorder_run(&s, &c), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(c.nprogress, 31);
    assert_same_result(&a, &c);
    assert_same_ckpt(pa, pc);

    /* Resuming a finished job reports the same result again. */
    extra x_d = {.copy_at = 0};
    recorder d = RECORDER(&x_d);
    cr_assert_eq(recorder_run(&s, &d), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(d.nprogress, 0);
    assert_same_result(&a, &d);

    recorder_done(&a);
    recorder_done(&b);
    recorder_done(&b2);
    recorder_done(&c);
    recorder_done(&d);
    free(pa);
    free(pb);
    free(pc);
    rm_dir(dir);
}

Test(jobs, cancel_stops_without_checkpoint)
{
    char *dir = tmpdir_new("nas_jobs");
    char *pa = path_in(dir, "a.ckpt");
    extra x_r = {.copy_at = 0};
    recorder r = RECORDER(&x_r);
    r.stop_at = 5;
    r.stop_value = NAS_STOP_CANCEL;
    nas_job_spec s = small_spec(2);
    s.checkpoint_path = pa;
    int rc = recorder_run(&s, &r);
    cr_assert_eq(rc, NAS_ECANCELLED, "%s", nas_strerror(rc));
    cr_assert_eq(r.nprogress, 5, "stops at the next step");
    cr_assert_eq(r.nckpt, 0);
    cr_assert_eq(r.nresult, 0);
    cr_assert(access(pa, F_OK) != 0);
    free(pa);
    rm_dir(dir);
}

Test(jobs, checkpoint_of_another_spec_is_refused)
{
    char *dir = tmpdir_new("nas_jobs");
    char *pa = path_in(dir, "a.ckpt");
    nas_job_spec s = small_spec(1);
    s.checkpoint_path = pa;
    run_to_step_3(&s);
    s.epochs = 2;
    int n;
    int rc = resume_run(&s, &n);
    cr_assert_eq(rc, NAS_EINVAL, "%s", nas_strerror(rc));
    cr_assert(strstr(nas_errmsg(), pa), "%s", nas_errmsg());
    cr_assert(strstr(nas_errmsg(), "epochs=1 there, epochs=2 here"), "%s", nas_errmsg());
    cr_assert_eq(n, 0);
    free(pa);
    rm_dir(dir);
}

/* Replaces `from` by `to` in the JSON header of the safetensors file at
 * path (its 8-byte length adjusted; the data section's offsets are
 * relative to its own start, so they stay true). */
static void respell_header(const char *path, const char *from, const char *to)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "%s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    size_t size = (size_t)ftell(f);
    rewind(f);
    unsigned char *b = malloc(size + 1);
    cr_assert_eq(fread(b, 1, size, f), size);
    fclose(f);
    uint64_t hl = 0;
    for (int k = 0; k < 8; k++)
        hl |= (uint64_t)b[k] << (8 * k);
    char *hdr = malloc(hl + 1);
    memcpy(hdr, b + 8, hl);
    hdr[hl] = '\0';
    char *at = strstr(hdr, from);
    cr_assert(at, "%s not in the header: %s", from, hdr);
    size_t nf = strlen(from), nt = strlen(to), nhl = hl - nf + nt;
    f = fopen(path, "wb");
    cr_assert(f);
    for (int k = 0; k < 8; k++)
        fputc((int)((nhl >> (8 * k)) & 0xff), f);
    fwrite(hdr, 1, (size_t)(at - hdr), f);
    fwrite(to, 1, nt, f);
    fwrite(at + nf, 1, hl - (size_t)(at - hdr) - nf, f);
    fwrite(b + 8 + hl, 1, size - 8 - hl, f);
    cr_assert_eq(fclose(f), 0);
    free(hdr);
    free(b);
}

/* Spec texts print floats in the shortest form that reads back
 * ("lr=0.02"); a checkpoint written when they were %.9g
 * ("lr=0.0199999996") still resumes, and one of another lr still does
 * not. */
Test(jobs, checkpoint_with_9_digit_floats_resumes)
{
    char *dir = tmpdir_new("nas_jobs");
    char *pa = path_in(dir, "a.ckpt");
    nas_job_spec s = small_spec(2);
    s.checkpoint_path = pa;
    run_to_step_3(&s);
    char *text = NULL;
    cr_assert_eq(nas__ckpt_meta(pa, "job.spec", &text), NAS_OK);
    cr_assert(strstr(text, " lr=0.02 ") && strstr(text, " weight_decay=0.0005 "), "%s", text);
    free(text);
    /* The older spelling: 16 bytes longer, the data stays 8-aligned. */
    respell_header(pa, " lr=0.02 ", " lr=0.0199999996 ");
    respell_header(pa, " weight_decay=0.0005 ", " weight_decay=0.000500000024 ");
    int n;
    int rc = resume_run(&s, &n);
    cr_assert_eq(rc, NAS_OK, "%s", nas_errmsg());
    cr_assert_gt(n, 0);

    /* The same file with another learning rate is another spec. */
    s.resume = 0;
    remove(pa);
    run_to_step_3(&s);
    respell_header(pa, " lr=0.02 ", " lr=0.0199999 ");
    rc = resume_run(&s, &n);
    cr_assert_eq(rc, NAS_EINVAL, "%s", nas_strerror(rc));
    cr_assert(strstr(nas_errmsg(), "lr=0.0199999 there, lr=0.02 here"), "%s", nas_errmsg());
    free(pa);
    rm_dir(dir);
}

Test(jobs, budget_max_seconds_still_reports)
{
    extra x_r = {.copy_at = 0};
    recorder r = RECORDER(&x_r);
    nas_job_spec s = small_spec(50);
    s.max_seconds = 0.3;
    int rc = recorder_run(&s, &r);
    cr_assert_eq(rc, NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(r.nresult, 1);
    cr_assert(r.last.step < 50 * 31);
    cr_assert(strstr(r.result_json, "\"stopped_by\":\"max_seconds\""), "%s", r.result_json);
    cr_assert(r.value >= 0.0 && r.value <= 1.0);
    recorder_done(&r);
}

/* -------------------------------------------------------------- errors */

Test(jobs, missing_dataset_names_path_and_fix)
{
    nas_job_spec s = {.dataset = "fashion-mnist"};
    nas_job_spec_defaults(&s);
    s.data_path = "/nonexistent/fmnist";
    int rc = nas_job_run(&s, NULL, NULL);
    cr_assert_eq(rc, NAS_ENOTFOUND, "%s", nas_strerror(rc));
    cr_assert(strstr(nas_errmsg(), "/nonexistent/fmnist/train-images-idx3-ubyte.gz"), "%s",
              nas_errmsg());
    cr_assert(strstr(nas_errmsg(), "data_path"), "%s", nas_errmsg());

    nas_job_spec c = {.dataset = "cifar10"};
    nas_job_spec_defaults(&c);
    cr_assert_eq(nas_job_run(&c, NULL, NULL), NAS_ENOTFOUND);
    cr_assert(strstr(nas_errmsg(), "cifar10") && strstr(nas_errmsg(), "data_path"), "%s",
              nas_errmsg());

    cr_assert_eq(nas_dataset_present("synthetic", NULL), 1);
    cr_assert_eq(nas_dataset_present("cifar10", NULL), 0);
    cr_assert_eq(nas_dataset_present("ptb", "/nonexistent"), 0);
    cr_assert_eq(nas_dataset_present("no-such-set", NULL), 0);
}

Test(jobs, bad_spec_fields_are_named)
{
    nas_job_spec s = small_spec(1);
    s.epochs = 0;
    cr_assert_eq(nas_job_run(&s, NULL, NULL), NAS_EINVAL);
    cr_assert(strncmp(nas_errmsg(), "epochs:", 7) == 0, "%s", nas_errmsg());
    s = small_spec(1);
    s.lr = -1.0f;
    cr_assert_eq(nas_job_run(&s, NULL, NULL), NAS_EINVAL);
    cr_assert(strncmp(nas_errmsg(), "lr:", 3) == 0, "%s", nas_errmsg());
    s = small_spec(1);
    s.batch_size = 0;
    cr_assert_eq(nas_job_run(&s, NULL, NULL), NAS_EINVAL);
    cr_assert(strncmp(nas_errmsg(), "batch_size:", 11) == 0);
    s = small_spec(1);
    s.batch_size = 5000;
    cr_assert_eq(nas_job_run(&s, NULL, NULL), NAS_EINVAL);
    cr_assert(strncmp(nas_errmsg(), "batch_size:", 11) == 0);
    s = small_spec(1);
    s.dropout = 1.0f;
    cr_assert_eq(nas_job_run(&s, NULL, NULL), NAS_EINVAL);
    s = small_spec(1);
    s.dataset = "mnist-ish";
    cr_assert_eq(nas_job_run(&s, NULL, NULL), NAS_EINVAL);
    cr_assert(strncmp(nas_errmsg(), "dataset:", 8) == 0);
    s = small_spec(1);
    s.arch = NAS_ARCH_LSTM_LM;
    cr_assert_eq(nas_job_run(&s, NULL, NULL), NAS_EINVAL);
    cr_assert(strncmp(nas_errmsg(), "arch:", 5) == 0);
    s = small_spec(1);
    s.resume = 1;
    cr_assert_eq(nas_job_run(&s, NULL, NULL), NAS_EINVAL);
    s = small_spec(1);
    s.algorithm = "evolution"; /* not a job kind of this engine */
    cr_assert_eq(nas_job_run(&s, NULL, NULL), NAS_EINVAL);
    cr_assert(strncmp(nas_errmsg(), "algorithm:", 10) == 0);
    cr_assert_eq(nas_job_run(NULL, NULL, NULL), NAS_EINVAL);
}

Test(jobs, defaults_and_table)
{
    nas_job_spec s = {.dataset = "synthetic"};
    nas_job_spec_defaults(&s);
    cr_assert_eq(s.arch, NAS_ARCH_FIXED_CNN);
    cr_assert(s.nblocks == 2 && s.channels[0] == 32 && s.channels[1] == 64);
    cr_assert(s.hidden == 128 && s.epochs == 3 && s.batch_size == 64);
    cr_assert(s.lr == 0.02f && s.momentum == 0.9f && s.weight_decay == 5e-4f);
    cr_assert(s.nesterov == 1 && s.augment == 0 && s.dropout == 0.0f);
    cr_assert_str_eq(s.algorithm, "train");
    nas_job_spec t = {.dataset = "fortunes"};
    nas_job_spec_defaults(&t);
    cr_assert_eq(t.arch, NAS_ARCH_LSTM_LM);
    cr_assert(t.embed == 128 && t.hidden == 128 && t.layers == 1 && t.bptt == 35 &&
              t.max_vocab == 10000 && t.batch_size == 20);
    cr_assert(t.lr == 20.0f && t.grad_clip == 0.25f && t.momentum == 0.0f);
    nas_job_spec c = {.dataset = "cifar10"};
    nas_job_spec_defaults(&c);
    cr_assert_eq(c.augment, 1);

    int n = 0;
    for (const nas_dataset_desc *d = nas_datasets(); d->name; d++)
        n++;
    cr_assert_eq(n, 5);
    const nas_dataset_desc *f = nas_dataset_find("fashion-mnist");
    cr_assert(f && f->c == 1 && f->h == 28 && f->train_size == 60000);
    cr_assert_str_eq(f->package, "dataset-fashion-mnist");
    cr_assert_null(nas_dataset_find("nope"));
    cr_assert_null(nas_dataset_find(NULL));
}

/* ----------------------------------------------------------- text jobs */

/* A PTB-layout corpus from a tiny grammar, so that the model can learn. */
static void write_corpus(const char *dir)
{
    static const char *const subj[] = {"the cat", "a dog", "my friend", "the old man", "she"};
    static const char *const verb[] = {"sees", "likes", "eats", "finds"};
    static const char *const obj[] = {"the fish", "a ball", "some bread", "the red apple"};
    static const char *const names[3] = {"ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"};
    static const int lines[3] = {600, 60, 60};
    nas_rng r;
    nas_rng_seed(&r, 99);
    for (int f = 0; f < 3; f++) {
        char *p = path_in(dir, names[f]);
        FILE *fp = fopen(p, "w");
        cr_assert(fp);
        for (int i = 0; i < lines[f]; i++)
            fprintf(fp, " %s %s %s \n", subj[nas_rng_below(&r, 5)], verb[nas_rng_below(&r, 4)],
                    obj[nas_rng_below(&r, 4)]);
        fclose(fp);
        free(p);
    }
}

static nas_job_spec text_spec(const char *dir, int epochs)
{
    nas_job_spec s = {.dataset = "ptb", .data_path = dir};
    nas_job_spec_defaults(&s);
    s.embed = 16;
    s.hidden = 24;
    s.layers = 2;
    s.bptt = 10;
    s.batch_size = 8;
    s.epochs = epochs;
    s.seed = 3;
    return s;
}

Test(jobs, ptb_layout_text_job_learns_and_resumes)
{
    char *dir = tmpdir_new("nas_jobs");
    write_corpus(dir);
    char *pa = path_in(dir, "a.ckpt"), *pb = path_in(dir, "b.ckpt");
    nas_job_spec s = text_spec(dir, 6);
    s.checkpoint_path = pa;
    extra x_a = {.copy_at = 0};
    recorder a = RECORDER(&x_a);
    int rc = recorder_run(&s, &a);
    cr_assert_eq(rc, NAS_OK, "%s: %s", nas_strerror(rc), nas_errmsg());
    cr_assert_str_eq(a.metric, "test_perplexity");
    /* 17 words + <eos> + <unk>: uniform guessing is 19 and the unigram
     * frequencies about 13; the grammar allows far less. */
    cr_assert(isfinite(a.value) && a.value > 1.0 && a.value < 6.0, "test perplexity %g", a.value);
    cr_assert(strstr(a.result_arch, "\"space\":\"lstm-lm\""), "%s", a.result_arch);
    int64_t total = a.last.steps;
    cr_assert(total >= 10);

    /* Shut down mid-epoch: the carried LSTM state must survive. */
    extra x_b = {.copy_at = 0};
    recorder b = RECORDER(&x_b);
    b.stop_at = total / 2 + 3;
    b.stop_value = NAS_STOP_SHUTDOWN;
    s.checkpoint_path = pb;
    s.resume = 1;
    cr_assert_eq(recorder_run(&s, &b), NAS_ECANCELLED);
    extra x_b2 = {.copy_at = 0};
    recorder b2 = RECORDER(&x_b2);
    cr_assert_eq(recorder_run(&s, &b2), NAS_OK, "%s", nas_errmsg());
    assert_same_result(&a, &b2);
    assert_same_ckpt(pa, pb);
    recorder_done(&a);
    recorder_done(&b);
    recorder_done(&b2);
    free(pa);
    free(pb);
    rm_dir(dir);
}

Test(jobs, fortunes_reports_finite_perplexity)
{
    nas_job_spec s = {.dataset = "fortunes"};
    nas_job_spec_defaults(&s);
    if (!nas_dataset_present("fortunes", NULL)) {
        cr_assert_eq(nas_job_run(&s, NULL, NULL), NAS_ENOTFOUND);
        cr_assert(strstr(nas_errmsg(), "fortunes-min"), "%s", nas_errmsg());
        cr_skip_test("fortunes not installed");
    }
    s.embed = 32;
    s.hidden = 32;
    s.epochs = 1;
    extra x_r = {.copy_at = 0};
    recorder r = RECORDER(&x_r);
    int rc = recorder_run(&s, &r);
    cr_assert_eq(rc, NAS_OK, "%s: %s", nas_strerror(rc), nas_errmsg());
    cr_assert_str_eq(r.metric, "test_perplexity");
    cr_assert(isfinite(r.value) && r.value > 1.0, "perplexity %g", r.value);
    cr_assert(strstr(r.result_json, "\"val_perplexity\":"));
    recorder_done(&r);
}
