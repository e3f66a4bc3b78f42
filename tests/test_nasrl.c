// SPDX-License-Identifier: MIT
/*
 * test_nasrl.c - NAS with RL's nasrl-cnn space and the random baseline:
 * gradient checks of the rectangular convolution and the zero padding,
 * of the skip-connection probabilities and of the controller's whole
 * log-probability on the nasrl-cnn program (finite differences over the
 * controller's parameters on a forced architecture); every sampled
 * decision list decodes into a network that runs forward (with strides,
 * so inputs of different sizes are padded); the controller learns a toy
 * reward; uniform sampling passes a chi-square test; the reward cache
 * trains an architecture once. (Random search over the other spaces:
 * tests/test_random.c.)
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gradcheck.h"
#include "job_seen.h"
#include "jobs/jobs.h"
#include "search/controller/controller.h"
#include "search/darts/darts.h"
#include "search/nasrl/nasrl.h"

/* ------------------------------------------------------------- helpers */

static nas_job_spec space(int strides)
{
    nas_job_spec s;
    memset(&s, 0, sizeof(s));
    s.algorithm = "nas-rl";
    s.dataset = "synthetic";
    nas_job_spec_defaults(&s);
    s.search_strides = strides;
    return s;
}

/* ------------------------------------------------------ op gradients */

typedef struct conv_case {
    int stride;
} conv_case;

static nas_tensor *conv_same_fn(nas_graph *g, nas_tensor **in, void *ctx)
{
    return nas__conv2d_same(g, in[0], in[1], ((conv_case *)ctx)->stride);
}

static nas_tensor *pad_fn(nas_graph *g, nas_tensor **in, void *ctx)
{
    (void)ctx;
    return nas__zero_pad(g, in[0], 7, 6);
}

Test(nasrl_ops, conv_rect_gradients)
{
    /* odd x even kernels, strides 1..3, planes that do not divide */
    const int k[4][2] = {{3, 5}, {2, 3}, {1, 7}, {4, 4}};
    nas_graph *g = nas_graph_new(1 << 20);
    nas_rng r;
    nas_rng_seed(&r, 1);
    for (int c = 0; c < 4; c++)
        for (int st = 1; st <= 3; st++) {
            int xs[4] = {2, 3, 7, 6}, ws[4] = {4, 3, k[c][0], k[c][1]};
            nas_tensor *in[2] = {nas_tensor_leaf(g, 4, xs, NAS_GROUP_INPUT),
                                 nas_tensor_leaf(g, 4, ws, NAS_GROUP_INPUT)};
            gc_fill(in[0], &r, 1.0f, 0.0f);
            gc_fill(in[1], &r, 0.5f, 0.0f);
            conv_case cc = {st};
            char name[64];
            snprintf(name, sizeof(name), "conv %dx%d stride %d", k[c][0], k[c][1], st);
            cr_expect_eq(gradcheck(name, conv_same_fn, &cc, in, 2, 1), 0, "%s", name);
        }
    nas_graph_free(g);
}

Test(nasrl_ops, conv_rect_matches_square_conv)
{
    /* An odd square kernel with SAME padding is conv.c's pad (k-1)/2. */
    nas_graph *g = nas_graph_new(1 << 20);
    nas_rng r;
    nas_rng_seed(&r, 2);
    for (int st = 1; st <= 2; st++) {
        int xs[4] = {2, 5, 9, 9}, ws[4] = {6, 5, 3, 3};
        nas_tensor *x = nas_tensor_new(g, 4, xs), *w = nas_tensor_new(g, 4, ws);
        gc_fill(x, &r, 1.0f, 0.0f);
        gc_fill(w, &r, 1.0f, 0.0f);
        nas_tensor *a = nas__conv2d_same(g, x, w, st);
        nas_tensor *b = nas_conv2d(g, x, w, NULL, st, 1, 1, 1);
        cr_assert(nas_tensor_same_shape(a, b));
        for (size_t i = 0; i < nas_tensor_numel(a); i++)
            cr_assert_float_eq(a->data[i], b->data[i], 1e-4);
    }
    nas_graph_free(g);
}

Test(nasrl_ops, same_padding_sizes)
{
    int o, p;
    nas__same_pad(16, 4, 1, &o, &p);
    cr_expect(o == 16 && p == 1);
    nas__same_pad(16, 7, 3, &o, &p);
    cr_expect(o == 6 && p == 3); /* (6-1)*3 + 7 - 16 = 6 */
    nas__same_pad(1, 5, 2, &o, &p);
    cr_expect(o == 1 && p == 2);
}

Test(nasrl_ops, zero_pad_gradient)
{
    nas_graph *g = nas_graph_new(1 << 20);
    nas_rng r;
    nas_rng_seed(&r, 3);
    int xs[4] = {2, 3, 4, 3};
    nas_tensor *in[1] = {nas_tensor_leaf(g, 4, xs, NAS_GROUP_INPUT)};
    gc_fill(in[0], &r, 1.0f, 0.0f);
    cr_expect_eq(gradcheck("zero_pad", pad_fn, NULL, in, 1, 1), 0);
    nas_tensor *y = nas__zero_pad(g, in[0], 7, 6);
    /* centred: top 1, left 1; the border is zero */
    cr_expect_float_eq(y->data[1 * 6 + 1], in[0]->data[0], 0);
    cr_expect_float_eq(y->data[0], 0.0f, 0);
    cr_expect_float_eq(y->data[6 * 6 + 5], 0.0f, 0);
    nas_graph_free(g);
}

/* ------------------------------------------------ controller gradients */

typedef struct ctl {
    nas_params *p;
    nas_ctrl *c;
    nas_graph *g;
} ctl;

static void ctl_new(ctl *t, const nas_ctrl_cfg *cfg, uint64_t seed)
{
    nas_rng r;
    nas_rng_seed(&r, seed);
    t->p = nas_params_new();
    cr_assert_eq(nas_ctrl_declare(t->p, "ctrl", cfg, &t->c), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(nas_params_alloc(t->p, &r), NAS_OK);
    t->g = nas_graph_new(1 << 20);
}

static void ctl_free(ctl *t)
{
    nas_ctrl_free(t->c);
    nas_params_free(t->p);
    nas_graph_free(t->g);
}

static double logp_of(ctl *t, const nas_ctrl_step *prog, int n, const int *arc)
{
    nas_ctrl_out o;
    nas_graph_reset(t->g);
    nas_graph_set_grad(t->g, 0);
    cr_assert_eq(nas_ctrl_run(t->c, t->g, t->p, prog, n, NULL, arc, NULL, &o), NAS_OK);
    nas_graph_set_grad(t->g, 1);
    return o.logp->data[0];
}

/* Finite differences of logp over every `stride`-th float of the
 * parameters whose name contains `only` (all when NULL). Returns the
 * number of mismatches; *checked receives how many were compared. */
static int check_logp(ctl *t, const nas_ctrl_step *prog, int n, const int *arc, const char *only,
                      int stride, int *checked)
{
    nas_ctrl_out o;
    nas_params_zero_grad(t->p, NAS_MASK_ALL);
    nas_graph_reset(t->g);
    cr_assert_eq(nas_ctrl_run(t->c, t->g, t->p, prog, n, NULL, arc, NULL, &o), NAS_OK);
    nas_graph_backward(t->g, o.logp, NAS_MASK(NAS_GROUP_CONTROLLER));
    int bad = 0;
    *checked = 0;
    for (int k = 0; k < nas_params_count(t->p); k++) {
        nas_tensor *w = nas_params_get(t->p, k);
        if (only && !strstr(w->name, only))
            continue;
        size_t nw = nas_tensor_numel(w);
        for (size_t i = (size_t)k % stride; i < nw; i += stride) {
            const double h = 1e-2;
            float v = w->data[i];
            w->data[i] = v + (float)h;
            double lp = logp_of(t, prog, n, arc);
            w->data[i] = v - (float)h;
            double lm = logp_of(t, prog, n, arc);
            w->data[i] = v;
            double num = (lp - lm) / (2 * h), ana = w->grad[i];
            if (fabs(num - ana) > 3e-3 + 1e-2 * fmax(fabs(num), fabs(ana))) {
                if (bad < 5)
                    cr_log_error("%s[%zu]: analytic %.6g numeric %.6g", w->name, i, ana, num);
                bad++;
            }
            (*checked)++;
        }
    }
    return bad;
}

Test(nasrl_controller, skip_probability_gradient)
{
    /* Only anchors and skips: logp is the sum of the skip
     * log-probabilities log sigmoid(+-v^T tanh(W_prev a_j + W_curr h)). */
    nas_ctrl_cfg cfg = {
        .hidden = 8, .lstm_layers = 1, .nheads = 1, .head_size = {2}, .skip_target = 0.4f};
    ctl t;
    ctl_new(&t, &cfg, 11);
    const nas_ctrl_step prog[] = {
        {NAS_CTRL_ANCHOR, 0, 0}, {NAS_CTRL_ANCHOR, 0, 0}, {NAS_CTRL_SKIPS, 0, 2},
        {NAS_CTRL_ANCHOR, 0, 0}, {NAS_CTRL_SKIPS, 0, 3},
    };
    int n = 5, arc[5] = {1, 0, 0, 1, 1};
    cr_assert_eq(nas_ctrl_arc_len(t.c, prog, n), 5);
    int checked, bad = check_logp(&t, prog, n, arc, ".att.", 3, &checked);
    cr_expect_eq(bad, 0);
    cr_expect(checked > 20);
    bad = check_logp(&t, prog, n, arc, "lstm", 7, &checked);
    cr_expect_eq(bad, 0);
    /* and the probability itself: one SKIPS over one anchor, both
     * outcomes, sum to 1 */
    const nas_ctrl_step one[] = {{NAS_CTRL_ANCHOR, 0, 0}, {NAS_CTRL_SKIPS, 0, 1}};
    int a0 = 0, a1 = 1;
    double p0 = exp(logp_of(&t, one, 2, &a0)), p1 = exp(logp_of(&t, one, 2, &a1));
    cr_expect_float_eq(p0 + p1, 1.0, 1e-5);
    ctl_free(&t);
}

Test(nasrl_controller, whole_logp_gradient_on_nasrl_cnn_program)
{
    nas_job_spec s = space(1);
    s.nfilter_heights = 3; /* a shorter list than the default head */
    nas_ctrl_step prog[4 * 6];
    nas_ctrl_cfg cfg = {
        .hidden = 6, .lstm_layers = 2, .skip_target = 0.4f, .tanh_c = 2.5f, .temperature = 1.5f};
    int n = nas__nasrl_cnn_program(&s, 4, prog, &cfg);
    cr_assert_eq(n, 4 * 5 + 3);
    ctl t;
    ctl_new(&t, &cfg, 12);
    int len = nas__nasrl_cnn_arc_len(&s, 4);
    cr_assert_eq(nas_ctrl_arc_len(t.c, prog, n), len);
    int arc[64];
    nas_rng r;
    nas_rng_seed(&r, 5);
    nas__nasrl_cnn_sample_uniform(&s, 4, &r, arc);
    int checked, bad = check_logp(&t, prog, n, arc, NULL, 5, &checked);
    cr_expect_eq(bad, 0);
    cr_expect(checked > 100, "%d", checked);
    ctl_free(&t);
}

/* ------------------------------------------------------------ decoding */

static void run_forward(const nas_job_spec *s, const nas_nasrl_arc *a)
{
    nas_params *p = nas_params_new();
    nas_nasrl_net net;
    nas_rng r;
    nas_rng_seed(&r, 9);
    cr_assert_eq(nas__nasrl_net_declare(p, a, 1, 10, &net), NAS_OK);
    cr_assert_eq(nas_params_alloc(p, &r), NAS_OK);
    nas_graph *g = nas_graph_new(1 << 20);
    nas_graph_set_training(g, 1);
    int xs[4] = {2, 1, 16, 16};
    nas_tensor *x = nas_tensor_new(g, 4, xs);
    gc_fill(x, &r, 1.0f, 0.0f);
    nas_tensor *y = nas__nasrl_net_forward(g, p, &net, x);
    cr_assert(y->ndim == 2 && y->shape[0] == 2 && y->shape[1] == 10);
    for (int i = 0; i < 20; i++)
        cr_assert(isfinite(y->data[i]));
    nas_tensor *loss = nas_sum(g, y);
    nas_graph_backward(g, loss, NAS_MASK(NAS_GROUP_WEIGHTS));
    (void)s;
    nas_graph_free(g);
    nas_params_free(p);
}

Test(nasrl_decode, hand_made_arc_with_padding)
{
    /* 0: 3x5 stride 2 (8x8); 1: 1x7 stride 1 on the image (16x16);
     * 2: takes 0 and 1: 0 is padded to 16x16 before the concat; 3 takes
     * 2 and 0; 3 alone feeds the classifier. */
    nas_job_spec s = space(1);
    int dec[] = {
        1, 2, 0, 1,          /* layer 0: fh 3, fw 5, 24, stride 2 */
        0, 3, 1, 0, 0,       /* layer 1: 1x7, 36, stride 1; no skip */
        2, 2, 2, 0, 1, 1,    /* layer 2: 5x5, 48; inputs 0, 1 */
        3, 0, 3, 2, 1, 0, 1, /* layer 3: 7x1, 64, stride 3; inputs 0, 2 */
    };
    nas_nasrl_arc a;
    cr_assert_eq(nas__nasrl_cnn_decode(&s, dec, 22, &a), NAS_OK, "%s", nas_errmsg());
    cr_expect_eq(a.nlayers, 4);
    cr_expect(a.l[0].fh == 3 && a.l[0].fw == 5 && a.l[0].filters == 24 && a.l[0].stride == 2 &&
              a.l[0].inputs == 0);
    cr_expect(a.l[2].inputs == 3 && a.l[3].inputs == 5 && a.l[3].stride == 3);
    nas_json_buf b = {0};
    nas__nasrl_cnn_arc_json(&a, &b);
    cr_expect_str_eq(b.s, "{\"layers\":[{\"filter_height\":3,\"filter_width\":5,\"filters\":24,"
                          "\"stride\":2,\"inputs\":[]},{\"filter_height\":1,\"filter_width\":7,"
                          "\"filters\":36,\"stride\":1,\"inputs\":[]},{\"filter_height\":5,"
                          "\"filter_width\":5,\"filters\":48,\"stride\":1,\"inputs\":[0,1]},"
                          "{\"filter_height\":7,\"filter_width\":1,\"filters\":64,\"stride\":3,"
                          "\"inputs\":[0,2]}]}");
    free(b.s);
    run_forward(&s, &a);
    /* bad input: out-of-range choice, bad skip, wrong length */
    dec[1] = 4;
    cr_expect_eq(nas__nasrl_cnn_decode(&s, dec, 22, &a), NAS_EINVAL);
    dec[1] = 2;
    dec[8] = 2;
    cr_expect_eq(nas__nasrl_cnn_decode(&s, dec, 22, &a), NAS_EINVAL);
    dec[8] = 0;
    cr_expect_eq(nas__nasrl_cnn_decode(&s, dec, 21, &a), NAS_EINVAL);
}

Test(nasrl_decode, every_sampled_arc_runs_forward)
{
    /* Controller samples and uniform samples, strides on, 1..7 layers. */
    nas_job_spec s = space(1);
    s.nnum_filters = 2;
    s.num_filters[0] = 3;
    s.num_filters[1] = 5;
    nas_ctrl_step prog[7 * 6];
    nas_ctrl_cfg cfg = {.hidden = 16, .lstm_layers = 2, .skip_target = 0.4f};
    nas__nasrl_cnn_program(&s, 1, prog, &cfg);
    ctl t;
    ctl_new(&t, &cfg, 13);
    int padded = 0;
    for (int seed = 0; seed < 60; seed++) {
        int layers = 1 + seed % 7, arc[7 * 4 + 21];
        nas_rng r;
        nas_rng_seed(&r, 100 + seed);
        int n = nas__nasrl_cnn_program(&s, layers, prog, &cfg);
        if (seed % 2) {
            nas_ctrl_out o;
            nas_graph_reset(t.g);
            cr_assert_eq(nas_ctrl_run(t.c, t.g, t.p, prog, n, &r, NULL, arc, &o), NAS_OK);
        } else {
            nas__nasrl_cnn_sample_uniform(&s, layers, &r, arc);
        }
        nas_nasrl_arc a;
        cr_assert_eq(nas__nasrl_cnn_decode(&s, arc, nas__nasrl_cnn_arc_len(&s, layers), &a), NAS_OK,
                     "seed %d: %s", seed, nas_errmsg());
        cr_assert_eq(a.nlayers, layers);
        /* the planes: count layers whose inputs differ in size */
        int sz[7];
        for (int i = 0; i < layers; i++) {
            int lo = 1 << 30, hi = 0;
            for (int j = 0; j < i; j++)
                if (a.l[i].inputs >> j & 1) {
                    lo = sz[j] < lo ? sz[j] : lo;
                    hi = sz[j] > hi ? sz[j] : hi;
                }
            padded += hi > lo;
            int in = hi ? hi : 16;
            sz[i] = (in + a.l[i].stride - 1) / a.l[i].stride;
        }
        run_forward(&s, &a);
    }
    cr_expect(padded > 5, "only %d layers had inputs of different sizes", padded);
    ctl_free(&t);
}

/* --------------------------------------------------- controller learns */

Test(nasrl_controller, learns_a_toy_reward)
{
    /* Reward: the share of layers whose filter height is the first choice
     * (1) and which take no skip. Random policy: 1/4 x (skips...) */
    nas_job_spec s = space(0);
    nas_ctrl_step prog[3 * 6];
    nas_ctrl_cfg cfg = {.hidden = 16, .lstm_layers = 1, .skip_target = 0.4f};
    int n = nas__nasrl_cnn_program(&s, 3, prog, &cfg);
    ctl t;
    ctl_new(&t, &cfg, 21);
    nas_reinforce rf = {.baseline_decay = 0.9f,
                        .adam = {.lr = 0.02f, .beta1 = 0.0f, .beta2 = 0.999f, .eps = 1e-3f}};
    nas_rng r;
    nas_rng_seed(&r, 4);
    double first = 0.0, last = 0.0;
    const int updates = 300, m = 4;
    int arc[4][16];
    for (int u = 0; u < updates; u++) {
        double R[4];
        for (int i = 0; i < m; i++) {
            nas_ctrl_out o;
            nas_graph_reset(t.g);
            nas_graph_set_grad(t.g, 0);
            cr_assert_eq(nas_ctrl_run(t.c, t.g, t.p, prog, n, &r, NULL, arc[i], &o), NAS_OK);
            nas_graph_set_grad(t.g, 1);
            nas_nasrl_arc a;
            cr_assert_eq(nas__nasrl_cnn_decode(&s, arc[i], 12, &a), NAS_OK);
            R[i] = 0.0;
            for (int l = 0; l < 3; l++)
                R[i] += (a.l[l].fh == 1) / 3.0;
            if (u < 5)
                first += R[i] / (5.0 * m);
            if (u >= updates - 20)
                last += R[i] / (20.0 * m);
        }
        if (!rf.have_baseline)
            nas_reinforce_baseline(&rf, R[0]);
        for (int i = 0; i < m; i++) {
            nas_ctrl_out o;
            nas_graph_reset(t.g);
            cr_assert_eq(nas_ctrl_run(t.c, t.g, t.p, prog, n, NULL, arc[i], NULL, &o), NAS_OK);
            nas_tensor *l = nas_reinforce_loss(t.g, &rf, &o, R[i], 1.0f / m);
            nas_graph_backward(t.g, l, NAS_MASK(NAS_GROUP_CONTROLLER));
        }
        nas_reinforce_step(&rf, t.p);
        for (int i = 0; i < m; i++)
            nas_reinforce_baseline(&rf, R[i]);
    }
    cr_log_info("toy reward: first 5 updates %.3f, last 20 %.3f", first, last);
    cr_expect(first < 0.5, "%g", first); /* 1/4 expected at random */
    cr_expect(last > 0.8, "%g", last);
    ctl_free(&t);
}

/* ------------------------------------------------------ random search */

Test(nasrl_random, uniform_chi_square)
{
    /* 4 filter heights at every position, and the skips: chi-square with
     * 3 and 1 degrees of freedom below the 0.1% critical values. */
    nas_job_spec s = space(1);
    enum { N = 8000, LAYERS = 3 };
    long fh[LAYERS][4] = {{0}}, st[3] = {0}, skip[2] = {0};
    nas_rng r;
    nas_rng_seed(&r, 77);
    int dec[3 * 4 + 3];
    for (int i = 0; i < N; i++) {
        nas__nasrl_cnn_sample_uniform(&s, LAYERS, &r, dec);
        nas_nasrl_arc a;
        cr_assert_eq(nas__nasrl_cnn_decode(&s, dec, 15, &a), NAS_OK);
        for (int l = 0; l < LAYERS; l++)
            fh[l][dec[l == 0 ? 0 : l == 1 ? 4 : 9]]++;
        st[dec[3]]++;
        skip[dec[14]]++;
    }
    for (int l = 0; l < LAYERS; l++) {
        double chi = 0.0;
        for (int k = 0; k < 4; k++)
            chi += (fh[l][k] - N / 4.0) * (fh[l][k] - N / 4.0) / (N / 4.0);
        cr_expect(chi < 16.27, "layer %d filter height chi2 %g", l, chi);
    }
    double chi = 0.0;
    for (int k = 0; k < 3; k++)
        chi += (st[k] - N / 3.0) * (st[k] - N / 3.0) / (N / 3.0);
    cr_expect(chi < 13.82, "stride chi2 %g", chi);
    chi = 0.0;
    for (int k = 0; k < 2; k++)
        chi += (skip[k] - N / 2.0) * (skip[k] - N / 2.0) / (N / 2.0);
    cr_expect(chi < 10.83, "skip chi2 %g", chi);
}

/* ------------------------------------------------------------ the jobs */

static nas_job_spec tiny_job(const char *algorithm)
{
    nas_job_spec s;
    memset(&s, 0, sizeof(s));
    s.algorithm = algorithm;
    s.dataset = "synthetic";
    nas_job_spec_defaults(&s);
    s.seed = 3;
    s.child_epochs = 1;
    s.batch_size = 50;
    s.start_layers = s.max_layers = 2;
    s.nfilter_heights = s.nfilter_widths = s.nnum_filters = 1;
    s.filter_heights[0] = 3;
    s.filter_widths[0] = 1;
    s.num_filters[0] = 4;
    s.ctrl_hidden = 8;
    return s;
}

/* The paper's augmentation of the children's images is available
 * (augment, default false: the scaled default): the same children train
 * to other rewards with it, and as reproducibly (crop draws from the
 * child's seed). */
Test(nasrl_job, augment_is_available_and_reproducible)
{
    nas_job_spec s = tiny_job("nas-rl");
    cr_assert_eq(s.augment, 0, "the scaled default");
    s.child_epochs = 4; /* past chance, so that the accuracies tell */
    s.max_architectures = 2;
    s.children_per_update = 2;
    seen plain = {0}, a1 = {0}, a2 = {0};
    nas_job_reporter rep = {.ctx = &plain, .architecture = on_arch, .result = on_result};
    cr_assert_eq(nas_job_run(&s, &rep, NULL), NAS_OK, "%s", nas_errmsg());
    s.augment = 1;
    rep.ctx = &a1;
    cr_assert_eq(nas_job_run(&s, &rep, NULL), NAS_OK, "%s", nas_errmsg());
    rep.ctx = &a2;
    cr_assert_eq(nas_job_run(&s, &rep, NULL), NAS_OK, "%s", nas_errmsg());
    cr_assert(plain.archs == 2 && a1.archs == 2 && a2.archs == 2);
    cr_assert(a1.reward[0] == a2.reward[0] && a1.reward[1] == a2.reward[1], "reproducible");
    cr_assert(a1.reward[0] != plain.reward[0] || a1.reward[1] != plain.reward[1],
              "augmented children train to other rewards: %s\n%s", plain.res, a1.res);
}

Test(nasrl_job, cache_hit_does_not_retrain)
{
    /* A space of 2 architectures (the one skip); 6 samples: at most 2
     * trainings, the rest are cache hits with the same reward. */
    for (int k = 0; k < 2; k++) {
        nas_job_spec s = tiny_job(k ? "random" : "nas-rl");
        s.max_architectures = 6;
        s.children_per_update = 3;
        s.threads = 2;
        seen sn = {0};
        nas_job_reporter rep = {.ctx = &sn, .architecture = on_arch, .result = on_result};
        cr_assert_eq(nas_job_run(&s, &rep, NULL), NAS_OK, "%s", nas_errmsg());
        cr_expect_eq(sn.archs, 6);
        cr_expect_eq(sn.results, 1);
        const char *tr = strstr(sn.res, "\"trained\":");
        cr_assert(tr);
        int trained = atoi(tr + 10);
        cr_expect(trained >= 1 && trained <= 2, "%d", trained);
        cr_expect_eq(sn.cached, 6 - trained);
        cr_expect(sn.value > 0.0 && sn.value <= 1.0);
        cr_expect(strstr(sn.result_arch, "\"layers\":[") != NULL);
    }
}

Test(nasrl_job, resume_is_exact)
{
    /* 2 updates then a resume with a larger budget give the numbers of 4
     * updates in one go: nas-rl (controller, baseline, cache) and random
     * (sampling rng, cache). */
    for (int k = 0; k < 2; k++) {
        char path[] = "/tmp/test_nasrl_ckpt_XXXXXX";
        int fd = mkstemp(path);
        cr_assert(fd >= 0);
        close(fd);
        unlink(path);
        nas_job_spec s = tiny_job(k ? "random" : "nas-rl");
        s.nnum_filters = 2;
        s.num_filters[1] = 6;
        s.children_per_update = 2;
        s.max_architectures = 8;
        seen one = {0}, a = {0}, b = {0};
        nas_job_reporter rep = {
            .ctx = &one, .architecture = on_arch, .result = on_result, .checkpoint = on_ckpt};
        cr_assert_eq(nas_job_run(&s, &rep, NULL), NAS_OK, "%s", nas_errmsg());
        s.checkpoint_path = path;
        s.resume = 1;
        s.max_architectures = 4;
        rep.ctx = &a;
        cr_assert_eq(nas_job_run(&s, &rep, NULL), NAS_OK, "%s", nas_errmsg());
        cr_expect_eq(a.ckpts, 2);
        s.max_architectures = 8;
        rep.ctx = &b;
        cr_assert_eq(nas_job_run(&s, &rep, NULL), NAS_OK, "%s", nas_errmsg());
        cr_expect_eq(b.archs, 4);
        for (int i = 0; i < 4; i++) {
            cr_expect_eq(a.reward[i], one.reward[i], "%s arch %d", s.algorithm, i);
            cr_expect_eq(b.reward[i], one.reward[4 + i], "%s arch %d", s.algorithm, 4 + i);
        }
        cr_expect_str_eq(b.result_arch, one.result_arch);
        cr_expect_eq(b.value, one.value);
        /* another spec's checkpoint is refused, naming the field */
        s.lr = 0.05f;
        cr_expect_eq(nas_job_run(&s, NULL, NULL), NAS_EINVAL);
        cr_expect(strstr(nas_errmsg(), "lr=") != NULL, "%s", nas_errmsg());
        unlink(path);
    }
}

static nas_job_spec rnn_job(const char *algorithm, int base);

Test(nasrl_job, bad_fields_are_named)
{
    nas_job_spec s = tiny_job("nas-rl");
    s.max_layers = 1;
    cr_expect_eq(nas_job_run(&s, NULL, NULL), NAS_EINVAL);
    cr_expect(strstr(nas_errmsg(), "max_layers") != NULL, "%s", nas_errmsg());
    s = tiny_job("random");
    s.num_filters[0] = 0;
    cr_expect_eq(nas_job_run(&s, NULL, NULL), NAS_EINVAL);
    cr_expect(strstr(nas_errmsg(), "num_filters") != NULL, "%s", nas_errmsg());
    s = tiny_job("nas-rl");
    s.search_space = "enas-micro";
    cr_expect_eq(nas_job_run(&s, NULL, NULL), NAS_EINVAL);
    cr_expect(strstr(nas_errmsg(), "search_space") != NULL, "%s", nas_errmsg());
    s = tiny_job("nas-rl");
    s.search_space = "nasrl-rnn"; /* a text space on images */
    cr_expect_eq(nas_job_run(&s, NULL, NULL), NAS_EINVAL);
    cr_expect(strstr(nas_errmsg(), "dataset") != NULL, "%s", nas_errmsg());
    s = rnn_job("nas-rl", 3);
    cr_expect_eq(nas_job_run(&s, NULL, NULL), NAS_EINVAL);
    cr_expect(strstr(nas_errmsg(), "tree_base") != NULL, "%s", nas_errmsg());
    /* A child that fails on its own thread: its message reaches the job. */
    s = rnn_job("nas-rl", 2);
    s.batch_size = 60000;
    s.children_per_update = 2;
    s.threads = 2;
    cr_expect_eq(nas_job_run(&s, NULL, NULL), NAS_EINVAL);
    cr_expect(strstr(nas_errmsg(), "batch_size") != NULL, "%s", nas_errmsg());
}

/* ----------------------------------------------------------- nasrl-rnn */

static nas_job_spec rnn_job(const char *algorithm, int base)
{
    nas_job_spec s;
    memset(&s, 0, sizeof(s));
    s.algorithm = algorithm;
    s.dataset = "fortunes";
    s.search_space = "nasrl-rnn";
    nas_job_spec_defaults(&s);
    s.tree_base = base;
    s.embed = s.hidden = 8;
    s.bptt = 8;
    s.max_vocab = 200;
    s.batch_size = 10;
    s.child_epochs = 1;
    s.ctrl_hidden = 8;
    s.seed = 6;
    return s;
}

Test(nasrl_rnn, programs_decode_and_logp_gradient)
{
    /* Every base: the program's length is the decision count, uniform
     * and controller samples give valid cells, and the controller's
     * log-probability of a forced cell matches finite differences. */
    for (int base = 2; base <= 8; base *= 2) {
        nas_job_spec s = rnn_job("nas-rl", base);
        const nas__nasrl_space *sp = nas__nasrl_space_of(&s);
        cr_assert_str_eq(sp->name, "nasrl-rnn");
        nas_ctrl_step prog[NAS_NASRL_MAX_LAYERS * 6];
        nas_ctrl_cfg cfg = {.hidden = 6, .lstm_layers = 2, .skip_target = 0.4f};
        int n = sp->program(&s, 1, prog, &cfg), len = sp->arc_len(&s, 1);
        cr_assert_eq(len, 2 * (2 * base - 1) + 4);
        ctl t;
        ctl_new(&t, &cfg, 30 + base);
        cr_assert_eq(nas_ctrl_arc_len(t.c, prog, n), len);
        int arc[64];
        nas_rng r;
        nas_rng_seed(&r, base);
        for (int k = 0; k < 40; k++) {
            if (k % 2) {
                nas_ctrl_out o;
                nas_graph_reset(t.g);
                cr_assert_eq(nas_ctrl_run(t.c, t.g, t.p, prog, n, &r, NULL, arc, &o), NAS_OK);
            } else {
                sp->sample_uniform(&s, 1, &r, arc);
            }
            nas_json_buf b = {0};
            cr_assert_eq(sp->arc_json(&s, arc, len, &b), NAS_OK, "%s", nas_errmsg());
            cr_assert(strstr(b.s, "\"cell_inject\":{\"node\":"), "%s", b.s);
            free(b.s);
        }
        arc[0] = 2; /* a combination out of range */
        nas_json_buf b = {0};
        cr_expect_eq(sp->arc_json(&s, arc, len, &b), NAS_EINVAL);
        free(b.s);
        sp->sample_uniform(&s, 1, &r, arc);
        int checked, bad = check_logp(&t, prog, n, arc, NULL, 7, &checked);
        cr_expect_eq(bad, 0, "base %d", base);
        ctl_free(&t);
    }
}

/* The paper's example cell (Zoph & Le 2017, appendix A): base 2, leaf 0
 * tanh(W1 x + W2 h), leaf 1 relu(W3 x * W4 h), c_{t-1} injected into leaf
 * 0 as relu(a0 + c), root sigmoid(a0' * a1), and c_t = (W3 x) * (W4 h):
 * leaf 1's product before its relu. */
Test(nasrl_rnn, c_t_is_the_chosen_node_before_its_activation)
{
    /* (comb, act) per node: add/tanh, mul/relu, mul/sigmoid; inject node
     * 0, add, relu; c node 1. */
    const int dec[10] = {0, 1, 1, 3, 1, 2, 0, 0, 3, 1};
    nas_graph *g = nas_graph_new(0);
    int sh[2] = {1, 4}, hs[2] = {1, 2};
    nas_tensor *X = nas_tensor_new(g, 2, sh), *Hh = nas_tensor_new(g, 2, sh);
    nas_tensor *c = nas_tensor_new(g, 2, hs);
    const float xv[4] = {0.3f, -0.2f, 1.5f, -0.5f}, hv[4] = {0.1f, 0.4f, -2.0f, 0.8f};
    const float cv[2] = {0.25f, -0.1f};
    memcpy(X->data, xv, sizeof(xv));
    memcpy(Hh->data, hv, sizeof(hv));
    memcpy(c->data, cv, sizeof(cv));
    nas_tensor *c_out = NULL;
    nas_tensor *h = nas__nasrl_rnn_tree(g, dec, 2, X, Hh, c, &c_out);
    for (int k = 0; k < 2; k++) {
        float pre1 = xv[2 + k] * hv[2 + k]; /* -3.0 and -0.4: a relu would give 0 */
        cr_assert_float_eq(c_out->data[k], pre1, 1e-7f, "c_t[%d]", k);
        float a0 = tanhf(xv[k] + hv[k]);
        a0 = fmaxf(a0 + cv[k], 0.0f);
        float a1 = fmaxf(pre1, 0.0f);
        float want = 1.0f / (1.0f + expf(-(a0 * a1)));
        cr_assert_float_eq(h->data[k], want, 1e-6f, "h_t[%d]", k);
    }
    nas_graph_free(g);
}

Test(nasrl_rnn, short_searches_end_with_a_cell)
{
    if (!nas_dataset_present("fortunes", NULL)) {
        cr_log_warn("no fortunes file: skipped");
        cr_skip_test();
    }
    for (int k = 0; k < 2; k++) {
        nas_job_spec s = rnn_job(k ? "random" : "nas-rl", k ? 4 : 2);
        s.max_architectures = 3;
        s.children_per_update = 2;
        s.threads = 2;
        seen sn = {0};
        nas_job_reporter rep = {.ctx = &sn, .architecture = on_arch, .result = on_result_any};
        cr_assert_eq(nas_job_run(&s, &rep, NULL), NAS_OK, "%s", nas_errmsg());
        cr_expect_eq(sn.archs, 3);
        cr_expect_eq(sn.results, 1);
        cr_expect(strstr(sn.result_arch, "{\"base\":") == sn.result_arch, "%s", sn.result_arch);
        /* the value is the best child's perplexity; reward 80 / ppl^2 */
        cr_expect(sn.value > 1.0 && sn.value < 300.0, "%g: trained (vocabulary 200)", sn.value);
        cr_expect_eq(s.momentum, 0.0f);
        double best = 0.0;
        for (int i = 0; i < 3; i++)
            best = sn.reward[i] > best ? sn.reward[i] : best;
        cr_expect(fabs(best - 80.0 / (sn.value * sn.value)) < 1e-9 * best, "best reward %g, ppl %g",
                  best, sn.value);
    }
}

/* ------------------------------------------- growth and the cube reward */

typedef struct grow_seen {
    int n, layers[16];
    double reward[16], val[16];
} grow_seen;

static void on_arch_grow(void *ctx, const char *arch, double reward, const char *met)
{
    grow_seen *g = ctx;
    (void)arch;
    if (g->n >= 16)
        return;
    const char *l = strstr(met, "\"layers\":"), *v = strstr(met, "\"val_accuracy\":");
    g->layers[g->n] = l ? atoi(l + 9) : -1;
    g->val[g->n] = v ? atof(v + 15) : -1.0;
    g->reward[g->n++] = reward;
}

Test(nasrl_job, depth_grows_and_cube_reward)
{
    /* 1 layer, +1 every 2 architectures, up to 3: 1 1 2 2 3 3 3 3; the
     * reward of a 2-epoch child is the cube of the best of its two
     * validation accuracies. */
    nas_job_spec s = tiny_job("nas-rl");
    s.start_layers = 1;
    s.max_layers = 3;
    s.layers_step = 1;
    s.grow_every = 2;
    s.children_per_update = 2;
    s.max_architectures = 8;
    s.child_epochs = 2;
    s.reward_cube = 1;
    grow_seen g = {0};
    nas_job_reporter rep = {.ctx = &g, .architecture = on_arch_grow};
    cr_assert_eq(nas_job_run(&s, &rep, NULL), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(g.n, 8);
    const int want[8] = {1, 1, 2, 2, 3, 3, 3, 3};
    for (int i = 0; i < 8; i++) {
        cr_expect_eq(g.layers[i], want[i], "architecture %d", i);
        /* best = cbrt(reward) is an accuracy over the 200 validation
         * images (k / 200) and at least the last epoch's */
        double best = cbrt(g.reward[i]), k = best * 200.0;
        cr_expect(fabs(k - round(k)) < 1e-6,
                  "architecture %d: reward %g is "
                  "not the cube of an accuracy",
                  i, g.reward[i]);
        cr_expect(best >= g.val[i] - 1e-9, "architecture %d: best %g < last %g", i, best, g.val[i]);
    }
}
