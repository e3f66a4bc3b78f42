// SPDX-License-Identifier: MIT
/*
 * test_darts_job.c - the `darts` job kind (darts-cnn) through nas_job_run:
 * a tiny search on the synthetic dataset of each order ends with a valid
 * genotype and reports every epoch (metrics, an architecture row with the
 * softmax of alpha); a shutdown mid-epoch and a resume end with the same
 * bits as an uninterrupted run; cancel; another spec's checkpoint and bad
 * specs are refused; the defaults are issue #4's.
 *
 * The one design decision to know: the jobs are kept tiny (C 4, 3 cells,
 * batch 4, a 16-example subset split 8/8: 2 steps per epoch) because a
 * supernet step under ASan costs about half a second; exactness does not
 * need more steps, only a stop strictly inside an epoch after the first.
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
#include "jobs/jobs.h"
#include "search/darts/darts.h"
#include "recorder.h"
#include "tmpdir.h"

/* ------------------------------------------------------------ recorder */

static const char *const names[5] = {"train_loss", "train_accuracy", "val_loss", "val_accuracy",
                                     "lr"};

/* The search's metrics by name (recorder.h's metric hook): each must be
 * one of names[], counted per name; the last val_accuracy kept. */
typedef struct named {
    int n[5];
    double last_val_acc;
    double lr[8]; /* the lr reported in epoch 1..7 */
} named;

static void count_named(recorder *r, int epoch, int64_t step, const char *name, double value)
{
    (void)step;
    named *m = r->user;
    int k = 0;
    while (k < 5 && strcmp(names[k], name) != 0)
        k++;
    cr_assert(k < 5, "unexpected metric %s", name);
    m->n[k]++;
    if (k == 3)
        m->last_val_acc = value;
    if (k == 4 && epoch >= 1 && epoch < 8)
        m->lr[epoch] = value;
}

/* A recorder counting the metrics by name into *m. */
#define RECORDER(m)                                                                                \
    {                                                                                              \
        .metric_hook = count_named, .user = (m)                                                    \
    }

/* ------------------------------------------------------------- helpers */

static nas_job_spec tiny_spec(int order, int epochs)
{
    nas_job_spec s = {.algorithm = "darts", .dataset = "synthetic"};
    nas_job_spec_defaults(&s);
    s.search_space = "darts-cnn";
    s.order = order;
    s.C = 4;
    s.layers = 3;
    s.batch_size = 4;
    s.max_examples = 16;
    s.epochs = epochs;
    s.seed = 11;
    s.threads = 1;
    return s;
}

/* Checks one cell kind of a genotype in the reference's structure: 8
 * ["op", input] pairs, ops other than none, node j's inputs below j + 2
 * and distinct, and the concat [2, 3, 4, 5]. */
static void check_cell(const char *json, const char *kind)
{
    char key[32], concat[48];
    snprintf(key, sizeof(key), "\"%s\": [", kind);
    snprintf(concat, sizeof(concat), "\"%s_concat\": [2, 3, 4, 5]", kind);
    cr_assert(strstr(json, concat), "%s: no %s", json, concat);
    const char *p = strstr(json, key);
    cr_assert(p, "%s: no %s", json, key);
    p += strlen(key);
    static const char *const ops[] = {"max_pool_3x3", "avg_pool_3x3", "skip_connect",
                                      "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3",
                                      "dil_conv_5x5"};
    int from[8];
    for (int e = 0; e < 8; e++) {
        char op[32];
        int used = 0;
        cr_assert(sscanf(p, "[\"%31[a-z0-9_]\", %d]%n", op, &from[e], &used) == 2 && used > 0,
                  "%s: entry %d of %s unreadable at %.20s", json, e, kind, p);
        int known = 0;
        for (int k = 0; k < 7; k++)
            known |= strcmp(op, ops[k]) == 0;
        cr_assert(known, "%s: op %s", kind, op);
        int node = e / 2;
        cr_assert(from[e] >= 0 && from[e] < node + 2, "%s: entry %d from %d", kind, e, from[e]);
        if (e % 2)
            cr_assert_neq(from[e], from[e - 1], "%s: node %d twice", kind, node);
        p += used;
        if (e < 7) {
            cr_assert(strncmp(p, ", ", 2) == 0);
            p += 2;
        }
    }
    cr_assert(*p == ']', "%s: more than 8 entries", kind);
}

static void check_genotype(const char *json)
{
    check_cell(json, "normal");
    check_cell(json, "reduce");
}

/* The data section of a safetensors file (after the 8-byte length and the
 * JSON header, which holds the wall-clock time), malloc'd. */
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

/* A finished search: everything a user is promised. */
static void check_finished(const recorder *r, int epochs, int order)
{
    cr_assert_eq(r->nprogress, 2 * epochs, "progress after every step");
    cr_assert_eq(r->last.step, 2 * epochs);
    cr_assert_eq(r->last.steps, 2 * epochs);
    for (int k = 0; k < 5; k++)
        cr_assert_eq(((named *)r->user)->n[k], epochs, "%s once per epoch", names[k]);
    cr_assert_eq(r->narch, epochs, "an architecture row per epoch");
    cr_assert_eq(r->nresult, 1);
    cr_assert_str_eq(r->metric, "val_accuracy");
    cr_assert(r->value >= 0.0 && r->value <= 1.0);
    cr_assert(r->value == ((named *)r->user)->last_val_acc && r->value == r->reward);
    check_genotype(r->result_arch);
    cr_assert_str_eq(r->arch_json, r->result_arch, "the last row is the final genotype");
    /* The row's metrics carry the epoch and the softmax of alpha: 14 rows
     * of 8 per cell kind. */
    char ep[32];
    snprintf(ep, sizeof(ep), "{\"epoch\":%d,", epochs);
    cr_assert(strncmp(r->arch_metrics, ep, strlen(ep)) == 0, "%s", r->arch_metrics);
    const char *a = strstr(r->arch_metrics, "\"alpha\":{");
    cr_assert(a, "%s", r->arch_metrics);
    cr_assert(strstr(a, "\"normal\":[[") && strstr(a, "\"reduce\":[["));
    const char *n = strstr(a, "\"normal\":[[") + 10;
    double sum = 0.0;
    int rows = 0;
    for (const char *q = n; *q == '['; rows++) {
        double row = 0.0;
        q++;
        for (int k = 0; k < 8; k++) {
            char *end;
            row += strtod(q, &end);
            cr_assert(end != q);
            q = end + (k < 7);
        }
        cr_assert(*q == ']');
        q++;
        cr_assert_float_eq(row, 1.0, 1e-4, "a softmax row sums to 1");
        sum += row;
        if (*q == ',')
            q++;
    }
    cr_assert_eq(rows, 14, "14 edges");
    cr_assert(strstr(r->result_json, "\"genotype\":\"Genotype(normal=[('"), "%s", r->result_json);
    cr_assert(strstr(r->result_json, "reduce_concat=range(2, 6))\""));
    cr_assert(strstr(r->result_json, "\"alpha\":{\"ops\":[\"none\""));
    char o[16];
    snprintf(o, sizeof(o), "\"order\":%d", order);
    cr_assert(strstr(r->result_json, o), "%s", r->result_json);
    cr_assert(strstr(r->result_json, "\"stopped_by\":\"epochs\""));
    cr_assert(strstr(r->result_json, "\"train_examples\":8,"));
}

/* ---------------------------------------------------------------- runs */

Test(darts_job, first_order_search_reports, .timeout = 60)
{
    named m_r = {.last_val_acc = 0};
    recorder r = RECORDER(&m_r);
    nas_job_spec s = tiny_spec(1, 2);
    int rc = recorder_run(&s, &r);
    cr_assert_eq(rc, NAS_OK, "%s: %s", nas_strerror(rc), nas_errmsg());
    check_finished(&r, 2, 1);
    cr_assert_eq(r.nckpt, 0, "no checkpoint_path: no checkpoint");
    /* The reference steps CosineAnnealingLR before each epoch: of 2, the
     * first runs at the half-way point, the last at lr_min. */
    double mid = s.lr_min + (s.lr - s.lr_min) * 0.5;
    cr_assert_float_eq(m_r.lr[1], mid, 1e-6, "epoch 1 lr %g", m_r.lr[1]);
    cr_assert_float_eq(m_r.lr[2], s.lr_min, 1e-6, "epoch 2 lr %g", m_r.lr[2]);
    cr_log_info("order 1: %s, val accuracy %.3f", r.result_arch, r.value);
    recorder_done(&r);
}

Test(darts_job, second_order_search_reports, .timeout = 60)
{
    named m_r = {.last_val_acc = 0};
    recorder r = RECORDER(&m_r);
    nas_job_spec s = tiny_spec(2, 1);
    int rc = recorder_run(&s, &r);
    cr_assert_eq(rc, NAS_OK, "%s: %s", nas_strerror(rc), nas_errmsg());
    check_finished(&r, 1, 2);
    recorder_done(&r);
}

Test(darts_job, resume_after_shutdown_mid_epoch_is_exact, .timeout = 60)
{
    char *dir = tmpdir_new("nas_darts_job");
    char *pa = path_in(dir, "a.ckpt"), *pb = path_in(dir, "b.ckpt");
    nas_job_spec s = tiny_spec(1, 2);

    named m_a = {.last_val_acc = 0};

    recorder a = RECORDER(&m_a);
    s.checkpoint_path = pa;
    cr_assert_eq(recorder_run(&s, &a), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(a.nckpt, 2, "one checkpoint per epoch");

    /* Shut down after step 3 (epoch 2, step 1 of 2), then resume. */
    named m_b = {.last_val_acc = 0};
    recorder b = RECORDER(&m_b);
    b.stop_at = 3;
    b.stop_value = NAS_STOP_SHUTDOWN;
    s.checkpoint_path = pb;
    s.resume = 1;
    int rc = recorder_run(&s, &b);
    cr_assert_eq(rc, NAS_ECANCELLED, "%s", nas_strerror(rc));
    cr_assert_eq(b.last_ckpt_step, 3, "the shutdown checkpoint");
    cr_assert_eq(b.nresult, 0);
    cr_assert_eq(b.narch, 1, "only epoch 1 was reported");
    named m_b2 = {.last_val_acc = 0};
    recorder b2 = RECORDER(&m_b2);
    cr_assert_eq(recorder_run(&s, &b2), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(b2.nprogress, 1, "only the remaining step runs");
    cr_assert_eq(b2.narch, 1);
    assert_same_result(&a, &b2);
    size_t na, nb;
    unsigned char *da = ckpt_data(pa, &na), *db = ckpt_data(pb, &nb);
    cr_assert(na == nb && memcmp(da, db, na) == 0,
              "weights, alphas, momentum and Adam moments are identical");
    free(da);
    free(db);

    /* Another spec's checkpoint is refused, naming the field. */
    named m_c = {.last_val_acc = 0};
    recorder c = RECORDER(&m_c);
    s.order = 2;
    cr_assert_eq(recorder_run(&s, &c), NAS_EINVAL);
    cr_assert(strstr(nas_errmsg(), "order=1 there, order=2 here"), "%s", nas_errmsg());
    cr_assert_eq(c.nprogress, 0);

    recorder_done(&a);
    recorder_done(&b);
    recorder_done(&b2);
    recorder_done(&c);
    free(pa);
    free(pb);
    rm_dir(dir);
}

Test(darts_job, cancel_stops_without_result, .timeout = 60)
{
    named m_r = {.last_val_acc = 0};
    recorder r = RECORDER(&m_r);
    nas_job_spec s = tiny_spec(1, 2);
    r.stop_at = 1;
    r.stop_value = NAS_STOP_CANCEL;
    cr_assert_eq(recorder_run(&s, &r), NAS_ECANCELLED);
    cr_assert_eq(r.nprogress, 1);
    cr_assert_eq(r.nresult, 0);
    cr_assert_eq(r.nckpt, 0);
    recorder_done(&r);
}

Test(darts_job, max_seconds_still_reports)
{
    named m_r = {.last_val_acc = 0};
    recorder r = RECORDER(&m_r);
    nas_job_spec s = tiny_spec(1, 2);
    s.max_examples = 64;  /* 32 for alpha: 8 batches */
    s.max_seconds = 1e-9; /* spent before the first step */
    cr_assert_eq(recorder_run(&s, &r), NAS_OK, "%s", nas_errmsg());
    /* One progress report: the cut, whose totals are what it did (#20). */
    cr_assert_eq(r.nprogress, 1);
    cr_assert_eq(r.nresult, 1);
    check_genotype(r.result_arch);
    cr_assert(strstr(r.result_json, "\"stopped_by\":\"max_seconds\""));
    /* A search out of time measures one batch of its alpha half, not all
     * 8: it ends within about one step's time of its budget. */
    cr_assert(strstr(r.result_json, "\"val_examples\":32,"), "%s", r.result_json);
    cr_assert(strstr(r.result_json, "\"val_measured_examples\":4,"), "%s", r.result_json);
    recorder_done(&r);
}

/* The largest |softmax(alpha) - 1/8| over the normal cell's 14 edges in
 * a result's "alpha". */
static double alpha_spread(const char *json)
{
    const char *p = strstr(json, "\"normal\":[[");
    cr_assert(p, "%s", json);
    p += strlen("\"normal\":[[");
    double worst = 0.0;
    for (int k = 0; k < 14 * 8; k++) {
        char *end;
        double v = strtod(p, &end);
        cr_assert(end != p, "alpha entry %d unreadable at %.20s", k, p);
        worst = fmax(worst, fabs(v - 0.125));
        p = end;
        while (*p == ',' || *p == ']' || *p == '[')
            p++;
    }
    return worst;
}

/* arch_lr_steps n makes alpha's Adam lr arch_lr * n / the planned steps:
 * the arithmetic, and a search in which alpha moves that much further
 * (Adam's first step moves every alpha by its lr). */
Test(darts_job, arch_lr_steps_scales_the_alpha_lr, .timeout = 60)
{
    nas_job_spec s = tiny_spec(1, 1); /* 2 steps */
    nas_darts_hp hp;
    nas__darts_job_hp(&s, 2, &hp);
    cr_assert_eq(hp.arch_lr, s.arch_lr, "null: the reference's lr");
    s.arch_lr_steps = 200;
    nas__darts_job_hp(&s, 2, &hp);
    cr_assert_float_eq(hp.arch_lr, 3e-4f * 100, 1e-9);
    s.arch_lr_steps = 100000000;
    nas__darts_job_hp(&s, 2, &hp);
    cr_assert_eq(hp.arch_lr, 1.0f, "at most 1");

    double spread[2];
    for (int k = 0; k < 2; k++) {
        named m = {.last_val_acc = 0};
        recorder r = RECORDER(&m);
        s = tiny_spec(1, 1);
        s.arch_lr_steps = k ? 200 : 0;
        cr_assert_eq(recorder_run(&s, &r), NAS_OK, "%s", nas_errmsg());
        spread[k] = alpha_spread(r.result_json);
        recorder_done(&r);
    }
    cr_assert(spread[0] > 0.0 && spread[1] > 10.0 * spread[0], "spread %g (null), %g (200)",
              spread[0], spread[1]);
}

/* ---------------------------------------------------------- spec rules */

Test(darts_job, defaults_are_the_papers)
{
    nas_job_spec s = {.algorithm = "darts", .dataset = "cifar10"};
    nas_job_spec_defaults(&s);
    cr_assert(s.epochs == 50 && s.batch_size == 64 && s.C == 16 && s.layers == 8 && s.order == 1);
    cr_assert(s.lr == 0.025f && s.lr_min == 0.001f && s.momentum == 0.9f &&
              s.weight_decay == 3e-4f && s.grad_clip == 5.0f);
    cr_assert(s.arch_lr == 3e-4f && s.arch_beta1 == 0.5f && s.arch_beta2 == 0.999f &&
              s.arch_weight_decay == 1e-3f);
    cr_assert(s.train_portion == 0.5f && s.max_examples == 0);
    cr_assert(s.nesterov == 0 && s.dropout == 0.0f,
              "the train kind's image defaults do not leak in");
    cr_assert(s.augment == 1, "the reference crops and flips both halves on cifar10");
    cr_assert_str_eq(s.algorithm, "darts");
    nas_job_spec f = {.algorithm = "darts", .dataset = "fashion-mnist"};
    nas_job_spec_defaults(&f);
    cr_assert(f.augment == 0, "off elsewhere, as the train kind's default");
}

/* augment crops the batches of both halves (synthetic: padding 2, no
 * flip): the search differs from one without, and a shutdown mid-epoch
 * resumes to the same bits (the crops draw from the checkpointed op
 * rng). */
Test(darts_job, augment_changes_the_search_and_resumes_exactly, .timeout = 60)
{
    char *dir = tmpdir_new("nas_darts_aug");
    char *pa = path_in(dir, "a.ckpt"), *pb = path_in(dir, "b.ckpt");
    nas_job_spec s = tiny_spec(1, 2);
    named m0 = {.last_val_acc = 0};
    recorder plain = RECORDER(&m0);
    cr_assert_eq(recorder_run(&s, &plain), NAS_OK, "%s", nas_errmsg());

    s.augment = 1;
    s.checkpoint_path = pa;
    named m_a = {.last_val_acc = 0};
    recorder a = RECORDER(&m_a);
    cr_assert_eq(recorder_run(&s, &a), NAS_OK, "%s", nas_errmsg());
    check_finished(&a, 2, 1);
    const char *ca = strstr(a.result_json, ",\"seconds\"");
    const char *cp = strstr(plain.result_json, ",\"seconds\"");
    cr_assert(ca && cp);
    cr_assert(ca - a.result_json != cp - plain.result_json ||
                  memcmp(a.result_json, plain.result_json, (size_t)(ca - a.result_json)) != 0,
              "augmented batches change the alphas");

    named m_b = {.last_val_acc = 0};
    recorder b = RECORDER(&m_b);
    b.stop_at = 3;
    b.stop_value = NAS_STOP_SHUTDOWN;
    s.checkpoint_path = pb;
    s.resume = 1;
    cr_assert_eq(recorder_run(&s, &b), NAS_ECANCELLED);
    named m_b2 = {.last_val_acc = 0};
    recorder b2 = RECORDER(&m_b2);
    cr_assert_eq(recorder_run(&s, &b2), NAS_OK, "%s", nas_errmsg());
    assert_same_result(&a, &b2);
    size_t na, nb;
    unsigned char *da = ckpt_data(pa, &na), *db = ckpt_data(pb, &nb);
    cr_assert(na == nb && memcmp(da, db, na) == 0, "the same bits after the resume");
    free(da);
    free(db);

    /* A checkpoint of the other augment is refused. */
    named m_c = {.last_val_acc = 0};
    recorder c = RECORDER(&m_c);
    s.augment = 0;
    cr_assert_eq(recorder_run(&s, &c), NAS_EINVAL);
    cr_assert(strstr(nas_errmsg(), "augment=1 there, augment=0 here"), "%s", nas_errmsg());

    recorder_done(&plain);
    recorder_done(&a);
    recorder_done(&b);
    recorder_done(&b2);
    recorder_done(&c);
    free(pa);
    free(pb);
    rm_dir(dir);
}

static void refused(nas_job_spec s, const char *prefix)
{
    int rc = nas_job_run(&s, NULL, NULL);
    cr_assert_eq(rc, NAS_EINVAL, "%s: %s", prefix, nas_strerror(rc));
    cr_assert(strncmp(nas_errmsg(), prefix, strlen(prefix)) == 0, "%s", nas_errmsg());
}

Test(darts_job, bad_specs_are_refused)
{
    nas_job_spec s = tiny_spec(1, 1);
    s.search_space = "darts-rnn";
    refused(s, "dataset: darts-rnn needs a text dataset");
    s = tiny_spec(1, 1);
    s.search_space = "enas-micro";
    refused(s, "search_space:");
    s = tiny_spec(3, 1);
    refused(s, "order:");
    s = tiny_spec(1, 1);
    s.dataset = "fortunes";
    refused(s, "dataset:");
    s = tiny_spec(1, 1);
    s.train_portion = 1.0f;
    refused(s, "train_portion:");
    s = tiny_spec(1, 1);
    s.arch_beta2 = 1.0f;
    refused(s, "arch_beta2:");
    s = tiny_spec(1, 1);
    s.nesterov = 1;
    refused(s, "dropout:");
    s = tiny_spec(1, 1);
    s.augment = 2;
    refused(s, "augment:");
    s = tiny_spec(1, 1);
    s.batch_size = 9; /* 8 examples per half */
    refused(s, "batch_size:");
    s = tiny_spec(1, 1);
    s.layers = 65;
    refused(s, "layers:");
}
