// SPDX-License-Identifier: MIT
/*
 * test_darts_net.c - the discrete DARTS network built from a genotype
 * (engine/search/darts/darts_net.c), the train kind on it, and darts' final
 * training.
 *
 * Golden number: the parameter count of the reference's DARTS_V2 genotype
 * at C 36, 20 layers, 10 classes, without the auxiliary head, is
 * 3,349,342 - the "param size = 3.349342MB" quark0/darts train.py logs for
 * it. It was recomputed independently of this code from per-op formulas
 * (stem 3*108*9 + 2*108; ReLU-conv-BN ci*c + 2c; factorized reduce
 * 2*(c/2)*ci + 2c; sep_conv_k 2(c k^2 + c^2 + 2c); dil_conv_k c k^2 + c^2
 * + 2c; pools and identity 0; head 4c*10 + 10), summed over the 20 cells
 * with reductions at 6 and 13.
 *
 * The one design decision to know: the jobs are tiny (C 2 to 4, 2 or 3
 * cells, 1 epoch on the synthetic set) so that the whole file stays well
 * under 20 s under ASan; exactness needs only a stop strictly inside the
 * final training.
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
#include "darts_genotypes.h"
#include "search/darts/darts.h"

/* Every op but max pooling (its ties make finite differences jump). */
#define SMOOTH                                                                                     \
    "sep_conv_3x3/0,dil_conv_3x3/1,avg_pool_3x3/2,skip_connect/1,sep_conv_5x5/3,dil_conv_5x5/0,"   \
    "skip_connect/2,sep_conv_3x3/4/3.5|skip_connect/0,avg_pool_3x3/1,sep_conv_3x3/2,"              \
    "dil_conv_3x3/0,skip_connect/3,sep_conv_5x5/1,avg_pool_3x3/4,dil_conv_3x3/2/2.3.4.5"

/* U(-a, a) kept at least gap away from 0. */
static void fill(nas_tensor *t, nas_rng *r, float a, float gap)
{
    for (size_t i = 0; i < nas_tensor_numel(t); i++) {
        float v = (2.0f * nas_rng_uniform(r) - 1.0f) * a;
        t->data[i] = v < 0 ? v - gap : v + gap;
    }
}

static size_t weight_count(nas_params *p)
{
    size_t n = 0;
    for (int i = 0; i < nas_params_count(p); i++)
        if (nas_params_group_of(p, i) == NAS_GROUP_WEIGHTS)
            n += nas_tensor_numel(nas_params_get(p, i));
    return n;
}

Test(darts_net, darts_v2_parameter_count_matches_reference)
{
    nas_darts_genotype gt = darts_gt(DARTS_V2_TOKEN);
    nas_darts_cfg cfg = {.C = 36, .layers = 20, .in_c = 3, .h = 32, .w = 32, .classes = 10};
    nas_params *p = nas_params_new();
    nas__darts_fixed *n;
    cr_assert_eq(nas__darts_fixed_declare(p, &cfg, &gt, &n), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(weight_count(p), 3349342u);
    nas__darts_fixed_free(n);
    nas_params_free(p);
}

Test(darts_net, forward_shapes_and_concat)
{
    nas_darts_genotype gt = darts_gt(SMOOTH);
    cr_assert_eq(gt.n_normal_concat, 2);
    nas_darts_cfg cfg = {.C = 3, .layers = 4, .in_c = 1, .h = 16, .w = 16, .classes = 7};
    nas_params *p = nas_params_new();
    nas__darts_fixed *n;
    cr_assert_eq(nas__darts_fixed_declare(p, &cfg, &gt, &n), NAS_OK, "%s", nas_errmsg());
    nas_rng rng;
    nas_rng_seed(&rng, 5);
    cr_assert_eq(nas_params_alloc(p, &rng), NAS_OK);
    /* cells 1 and 2 reduce (4/3, 8/3): the head sees the 2 concat nodes
     * of the last (normal) cell at 4C. */
    nas_tensor *hw = nas_params_find(p, "head.w");
    cr_assert(hw && hw->shape[0] == 7 && hw->shape[1] == 2 * 12);
    cr_assert(nas_params_find(p, "cells.0.node.0.in.0.sep_conv_3x3.bn1.gamma"));
    cr_assert(!nas_params_find(p, "cells.1.node.0.in.1.avg_pool_3x3.bn.running_mean"),
              "the evaluation network's pools have no BN");
    nas_graph *g = nas_graph_new(0);
    for (int training = 1; training >= 0; training--) {
        nas_graph_reset(g);
        nas_graph_set_training(g, training);
        nas_tensor *x = nas_tensor_new4(g, 3, 1, 16, 16);
        for (int i = 0; i < 3 * 256; i++)
            x->data[i] = nas_rng_normal(&rng);
        nas_tensor *y = nas__darts_fixed_forward(g, p, n, x);
        cr_assert(y->ndim == 2 && y->shape[0] == 3 && y->shape[1] == 7);
        for (int i = 0; i < 21; i++)
            cr_assert(isfinite(y->data[i]));
    }
    nas_graph_free(g);
    nas__darts_fixed_free(n);
    nas_params_free(p);
}

Test(darts_net, genotype_errors_name_the_field)
{
    /* A typed genotype is checked as the kinds validate it. */
    nas_darts_genotype ok = darts_gt(SMOOTH), gt;
    cr_assert_eq(nas__darts_genotype_check(&ok), NAS_OK);
    gt = ok;
    gt.normal.op[0][0] = NAS_DARTS_NONE;
    cr_assert_eq(nas__darts_genotype_check(&gt), NAS_EINVAL);
    cr_assert(strstr(nas_errmsg(), "genotype.normal[0][0]: unknown op 0"), "%s", nas_errmsg());
    gt = ok;
    gt.normal.from[1][0] = 3;
    cr_assert_eq(nas__darts_genotype_check(&gt), NAS_EINVAL);
    cr_assert(strstr(nas_errmsg(), "genotype.normal[2][1]: input 3"), "%s", nas_errmsg());
    gt = ok;
    gt.reduce.from[3][1] = -1;
    cr_assert_eq(nas__darts_genotype_check(&gt), NAS_EINVAL);
    cr_assert(strstr(nas_errmsg(), "genotype.reduce[7][1]"), "%s", nas_errmsg());
    gt = ok;
    gt.reduce_concat[0] = 1;
    cr_assert_eq(nas__darts_genotype_check(&gt), NAS_EINVAL);
    cr_assert(strstr(nas_errmsg(), "genotype.reduce_concat[0]"), "%s", nas_errmsg());
    gt = ok;
    gt.normal_concat[1] = 3;
    cr_assert_eq(nas__darts_genotype_check(&gt), NAS_EINVAL);
    cr_assert(strstr(nas_errmsg(), "genotype.normal_concat[1]: node 3 appears twice"), "%s",
              nas_errmsg());
    gt = (nas_darts_genotype){0};
    cr_assert_eq(nas__darts_genotype_check(&gt), NAS_EINVAL);
    cr_assert(strstr(nas_errmsg(), "genotype: missing"), "%s", nas_errmsg());

    /* The spec-text token reads back to the same genotype; the JSON is
     * the served one. */
    char tok[512], text[560];
    nas__darts_genotype_token(&ok, tok, sizeof(tok));
    snprintf(text, sizeof(text), "kind=train arch=darts-cnn genotype=%s augment=0", tok);
    cr_assert_eq(nas__darts_genotype_from_spec_text(text, &gt), NAS_OK, "%s", nas_errmsg());
    cr_assert(memcmp(&ok, &gt, sizeof(gt)) == 0);
    cr_assert_eq(nas__darts_genotype_from_spec_text("kind=train genotype=tanh/0", &gt),
                 NAS_EFORMAT);
    char *d = nas__darts_genotype_dump(&ok);
    cr_assert_str_eq(d, "{\"normal\":[[\"sep_conv_3x3\",0],[\"dil_conv_3x3\",1],"
                        "[\"avg_pool_3x3\",2],[\"skip_connect\",1],[\"sep_conv_5x5\",3],"
                        "[\"dil_conv_5x5\",0],[\"skip_connect\",2],[\"sep_conv_3x3\",4]],"
                        "\"normal_concat\":[3,5],\"reduce\":[[\"skip_connect\",0],"
                        "[\"avg_pool_3x3\",1],[\"sep_conv_3x3\",2],[\"dil_conv_3x3\",0],"
                        "[\"skip_connect\",3],[\"sep_conv_5x5\",1],[\"avg_pool_3x3\",4],"
                        "[\"dil_conv_3x3\",2]],\"reduce_concat\":[2,3,4,5]}");
    free(d);
}

/* ------------------------------------------------------ gradient check */

typedef struct gc_net {
    nas_params *p;
    nas__darts_fixed *n;
    nas_tensor *x;
} gc_net;

/* L = sum(logits * R) in double over a forward in training mode. */
static double net_loss(gc_net *c, nas_graph *g, const float *R, int grad)
{
    nas_graph_reset(g);
    nas_graph_set_grad(g, grad);
    nas_tensor *y = nas__darts_fixed_forward(g, c->p, c->n, c->x);
    double l = 0.0;
    for (size_t i = 0; i < nas_tensor_numel(y); i++)
        l += (double)y->data[i] * R[i];
    if (grad) {
        nas_tensor *rt = nas_tensor_new(g, y->ndim, y->shape);
        memcpy(rt->data, R, nas_tensor_numel(y) * sizeof(float));
        nas_params_zero_grad(c->p, NAS_MASK(NAS_GROUP_WEIGHTS));
        nas_graph_backward(g, nas_sum(g, nas_mul(g, y, rt)), NAS_MASK(NAS_GROUP_WEIGHTS));
    }
    return l;
}

Test(darts_net, gradient_check_of_sampled_parameters)
{
    nas_darts_genotype gt = darts_gt(SMOOTH);
    nas_darts_cfg cfg = {.C = 2, .layers = 3, .in_c = 1, .h = 8, .w = 8, .classes = 3};
    gc_net c = {.p = nas_params_new()};
    cr_assert_eq(nas__darts_fixed_declare(c.p, &cfg, &gt, &c.n), NAS_OK);
    nas_rng rng;
    nas_rng_seed(&rng, 21);
    cr_assert_eq(nas_params_alloc(c.p, &rng), NAS_OK);
    /* Gammas and betas away from their init so that every path matters. */
    for (int i = 0; i < nas_params_count(c.p); i++) {
        nas_tensor *t = nas_params_get(c.p, i);
        if (strstr(t->name, ".gamma") || strstr(t->name, ".beta"))
            fill(t, &rng, 0.7f, 0.3f);
    }
    nas_graph *xg = nas_graph_new(0);
    c.x = nas_tensor_new4(xg, 4, 1, 8, 8);
    fill(c.x, &rng, 1.0f, 0.0f);
    /* One parameter of each kind: stem, a depthwise and a pointwise conv
     * in a normal and a reduction cell, an affine BN, a factorized
     * reduction, the head. */
    static const char *const names[] = {
        "stem.conv.w",
        "cells.0.node.0.in.0.sep_conv_3x3.dw1.w",
        "cells.0.node.2.in.0.sep_conv_5x5.pw2.w",
        "cells.1.node.1.in.1.dil_conv_3x3.pw.w",
        "cells.1.node.0.in.0.skip_connect.conv2.w",
        "cells.2.pre0.conv1.w",
        "cells.2.node.2.in.1.sep_conv_5x5.bn2.gamma",
        "head.w",
    };
    enum { N = sizeof(names) / sizeof(names[0]), PER = 6 };
    /* The loss has only 4 x 3 terms, so its float32 rounding is ~1e-7 and
     * a small step h = 1e-3 keeps the central difference's rounding error
     * near 1e-4 while it rarely moves a ReLU or a BN input across a kink
     * (the larger step of gradcheck.h does, through 3 cells of them). */
    const double h = 1e-3;
    float R[12];
    for (int i = 0; i < 12; i++)
        R[i] = 2.0f * nas_rng_uniform(&rng) - 1.0f;
    nas_graph *g = nas_graph_new(0);
    nas_graph_set_training(g, 1);
    int bad = 0, checked = 0;
    for (int k = 0; k < N; k++) {
        nas_tensor *t = nas_params_find(c.p, names[k]);
        cr_assert(t, "no parameter %s", names[k]);
        size_t n = nas_tensor_numel(t);
        for (int s = 0; s < PER; s++) {
            size_t i = nas_rng_below(&rng, (uint32_t)n);
            net_loss(&c, g, R, 1);
            double ana = t->grad[i];
            float v = t->data[i];
            t->data[i] = (float)(v + h);
            double lp = net_loss(&c, g, R, 0);
            t->data[i] = (float)(v - h);
            double lm = net_loss(&c, g, R, 0);
            t->data[i] = v;
            double num = (lp - lm) / (2 * h);
            checked++;
            if (!(fabs(num - ana) <= 2e-3 + 2e-2 * fmax(fabs(num), fabs(ana)))) {
                cr_log_info("%s[%zu]: analytic %.6g numeric %.6g", names[k], i, ana, num);
                bad++;
            }
        }
    }
    /* A kink crossed now and then is tolerated, a wrong gradient is not. */
    cr_assert(bad <= checked / 16, "%d of %d gradient mismatches", bad, checked);
    nas_graph_free(g);
    nas_graph_free(xg);
    nas__darts_fixed_free(c.n);
    nas_params_free(c.p);
}

/* -------------------------------------------------------------- jobs */

/* Metrics of the final training (final.*) and of the search, counted
 * apart (recorder.h's metric hook; user points to the counts). */
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

Test(darts_net, train_job_on_a_genotype)
{
    nas_job_spec s = {.dataset = "synthetic"};
    nas_job_spec_defaults(&s);
    s.arch = NAS_ARCH_DARTS_CNN;
    s.darts_cnn = darts_gt(DARTS_V2_TOKEN);
    s.C = 2;
    s.layers = 3;
    s.epochs = 1;
    s.batch_size = 100;
    s.seed = 3;
    recorder r = {0};
    cr_assert_eq(recorder_run(&s, &r), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(r.nresult, 1);
    cr_assert_str_eq(r.metric, "test_accuracy");
    cr_assert(r.value >= 0.0 && r.value <= 1.0);
    cr_assert(strncmp(r.result_arch,
                      "{\"space\":\"darts-cnn\",\"genotype\":"
                      "{\"normal\":[[\"sep_conv_3x3\",0],",
                      60) == 0,
              "%s", r.result_arch);
    cr_assert(strstr(r.result_arch, "\"C\":2,\"layers\":3"), "%s", r.result_arch);
    recorder_done(&r);

    /* Bad genotypes are refused before anything runs, naming the field. */
    s.darts_cnn.normal.op[0][0] = NAS_DARTS_NPRIM;
    recorder r2 = {0};
    cr_assert_eq(recorder_run(&s, &r2), NAS_EINVAL);
    cr_assert(strstr(nas_errmsg(), "genotype.normal[0][0]"), "%s", nas_errmsg());
    recorder_done(&r2);
}

/* quark0/darts train.py's regularizers on the discrete network: the
 * auxiliary head after cell 2 layers/3 (declared on request, run in
 * training only), drop path on every op output but identities (training
 * only), and the train kind's model file leaves the head out. */
Test(darts_net, auxiliary_head_and_drop_path)
{
    nas_darts_genotype gt = darts_gt(DARTS_V2_TOKEN);
    nas_darts_cfg cfg = {
        .C = 2, .layers = 3, .in_c = 1, .h = 16, .w = 16, .classes = 5, .auxiliary = 1};
    nas_params *p = nas_params_new();
    nas__darts_fixed *n;
    cr_assert_eq(nas__darts_fixed_declare(p, &cfg, &gt, &n), NAS_OK, "%s", nas_errmsg());
    /* Cell 2 (the second reduction) outputs 4 nodes of 4C at 4x4. */
    nas_tensor *w1 = nas_params_find(p, "aux_head.conv1.w");
    cr_assert(w1 && w1->shape[0] == 128 && w1->shape[1] == 4 * 8);
    nas_rng rng;
    nas_rng_seed(&rng, 5);
    cr_assert_eq(nas_params_alloc(p, &rng), NAS_OK);
    nas_graph *g = nas_graph_new(0);
    nas_rng dr;
    nas_graph_set_rng(g, &dr);
    float x0[4 * 256];
    for (int i = 0; i < 4 * 256; i++)
        x0[i] = nas_rng_normal(&rng);
    float plain[20], dropped[20];
    for (int k = 0; k < 3; k++) {
        float prob = k == 0 ? 0.0f : 0.5f;
        nas_graph_reset(g);
        nas_graph_set_training(g, k < 2);
        nas_rng_seed(&dr, 1);
        nas_tensor *x = nas_tensor_new4(g, 4, 1, 16, 16);
        memcpy(x->data, x0, sizeof(x0));
        nas_tensor *aux = NULL;
        nas_tensor *y = nas__darts_fixed_forward_train(g, p, n, x, prob, &aux);
        cr_assert(y->shape[0] == 4 && y->shape[1] == 5);
        if (k < 2)
            cr_assert(aux && aux->shape[0] == 4 && aux->shape[1] == 5, "aux in training");
        else
            cr_assert_null(aux, "no aux head at inference");
        memcpy(k == 0 ? plain : dropped, y->data, sizeof(plain));
        if (k == 1)
            cr_assert(memcmp(plain, dropped, sizeof(plain)) != 0, "drop path changes the step");
    }
    nas_graph_free(g);
    nas__darts_fixed_free(n);
    nas_params_free(p);

    /* The train kind with the darts-cnn defaults: cutout, drop path 0.2
     * and the head (0.4) train, and the model file has no aux_head.* */
    char dir[64];
    snprintf(dir, sizeof(dir), "/tmp/nas_darts_aux_XXXXXX");
    cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
    char model[96];
    snprintf(model, sizeof(model), "%s/model.safetensors", dir);
    nas_job_spec s = {.dataset = "synthetic", .arch = NAS_ARCH_DARTS_CNN};
    nas_job_spec_defaults(&s);
    cr_assert(s.cutout == 1 && s.drop_path == 0.2f && s.aux_weight == 0.4f,
              "train.py --auxiliary --cutout, drop_path_prob 0.2");
    s.darts_cnn = darts_gt(DARTS_V2_TOKEN);
    s.C = 2;
    s.layers = 3;
    s.epochs = 2;
    s.batch_size = 100;
    s.max_examples = 400;
    s.seed = 3;
    s.model_path = model;
    recorder r = {0};
    cr_assert_eq(recorder_run(&s, &r), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(r.nresult, 1);
    FILE *f = fopen(model, "rb");
    cr_assert(f, "%s", model);
    static char buf[1 << 20];
    size_t got = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[got] = '\0';
    uint64_t hl = 0;
    for (int k = 0; k < 8; k++)
        hl |= (uint64_t)(unsigned char)buf[k] << (8 * k);
    cr_assert(hl > 0 && hl < got);
    buf[8 + hl] = '\0';
    cr_assert(strstr(buf + 8, "\"head.w\""), "the model has the network");
    cr_assert_null(strstr(buf + 8, "\"aux_head."), "the training-only head is left out");
    recorder_done(&r);
    unlink(model);
    rmdir(dir);
}

/* ------------------------------------------------------ final training */

static nas_job_spec final_spec(const char *ckpt)
{
    nas_job_spec s = {.algorithm = "darts", .dataset = "synthetic"};
    nas_job_spec_defaults(&s);
    s.C = 4;
    s.layers = 3;
    s.batch_size = 4;
    s.max_examples = 16;
    s.epochs = 1;
    s.seed = 11;
    s.final_epochs = 1;
    s.final_C = 2;
    s.final_layers = 2;
    s.batch_size = 4;
    s.checkpoint_path = ckpt;
    s.resume = ckpt != NULL;
    return s;
}

static char *tmp_ckpt(char *dir, size_t n)
{
    snprintf(dir, n, "/tmp/nas_darts_net_XXXXXX");
    cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
    char *p = malloc(strlen(dir) + 16);
    sprintf(p, "%s/job.ckpt", dir);
    return p;
}

/* The result up to the wall-clock seconds of the final training. */
static size_t stable_prefix(const char *json)
{
    const char *c = strstr(json, "\"final_training\":");
    cr_assert(c, "%s", json);
    const char *sec = strstr(c, ",\"seconds\"");
    cr_assert(sec, "%s", json);
    return (size_t)(sec - json);
}

Test(darts_net, darts_final_training_and_exact_resume)
{
    char dir[64];
    char *ckpt = tmp_ckpt(dir, sizeof(dir));

    /* Uninterrupted. 1 search epoch of 2 steps, then 1 final epoch of
     * 2000 / 4 = 500 steps. */
    nas_job_spec s = final_spec(NULL);
    s.batch_size = 4;
    stage_counts ca = {0}, cc = {0};
    recorder a = {.metric_hook = count_stage, .user = &ca};
    cr_assert_eq(recorder_run(&s, &a), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(a.nresult, 1);
    cr_assert_str_eq(a.metric, "test_accuracy");
    cr_assert(a.value >= 0.0 && a.value <= 1.0);
    cr_assert(strstr(a.result_json, "\"val_accuracy\":"), "%s", a.result_json);
    char want[64];
    snprintf(want, sizeof(want), "\"final_training\":{\"dataset\"");
    cr_assert(strstr(a.result_json, want), "%s", a.result_json);
    cr_assert(strstr(a.result_json, "\"search_seconds\":"));
    cr_assert(ca.final >= 4 && ca.search >= 5);
    cr_assert_eq(a.last.step, 2 + 500);
    cr_assert_eq(a.backwards, 0, "steps go forward");
    cr_assert_eq(a.first.steps, 2 + 500,
                 "the totals count the final training "
                 "from the first report on");
    cr_assert_eq(a.totals_moved, 0, "progress totals changed mid-job");
    cr_assert(strncmp(a.result_arch, "{\"normal\": [[", 13) == 0, "%s", a.result_arch);

    /* Shut down inside the final training, then resume: same result. */
    s = final_spec(ckpt);
    recorder b = {.stop_at = 2 + 123, .stop_value = NAS_STOP_SHUTDOWN};
    cr_assert_eq(recorder_run(&s, &b), NAS_ECANCELLED, "%s", nas_errmsg());
    cr_assert_eq(b.nresult, 0);
    recorder c = {.metric_hook = count_stage, .user = &cc};
    cr_assert_eq(recorder_run(&s, &c), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(cc.search, 0, "the search is not redone");
    cr_assert_eq(c.nresult, 1);
    cr_assert(c.value == a.value, "%.17g vs %.17g", c.value, a.value);
    size_t na = stable_prefix(a.result_json), nc = stable_prefix(c.result_json);
    /* The search's own seconds differ between the runs: compare from the
     * final training on, and the search part up to its seconds. */
    const char *fa = strstr(a.result_json, "\"final_training\":");
    const char *fc = strstr(c.result_json, "\"final_training\":");
    cr_assert(na - (size_t)(fa - a.result_json) == nc - (size_t)(fc - c.result_json) &&
                  memcmp(fa, fc, na - (size_t)(fa - a.result_json)) == 0,
              "final results differ:\n%s\n%s", a.result_json, c.result_json);
    const char *sa = strstr(a.result_json, ",\"seconds\""),
               *sc = strstr(c.result_json, ",\"seconds\"");
    cr_assert(sa - a.result_json == sc - c.result_json &&
              memcmp(a.result_json, c.result_json, (size_t)(sa - a.result_json)) == 0);
    cr_assert_str_eq(a.result_arch, c.result_arch);
    recorder_done(&a);
    recorder_done(&b);
    recorder_done(&c);
    unlink(ckpt);
    rmdir(dir);
    free(ckpt);
}
