// SPDX-License-Identifier: MIT
/*
 * test_controller.c - the LSTM controller of ENAS / NAS-RL
 * (engine/search/controller/controller.h): gradients against finite
 * differences on a program with every step kind (and one with every
 * flag and ENAS option), a golden check of one decision's probabilities
 * and an independent double-precision sampler for whole programs,
 * sampling frequencies (CHOICE, ENAS's sigmoid(2 l) skips, the locality
 * prior of PICK), REINFORCE convergence on a toy reward, the baseline and
 * loss formulas, and the rejection of malformed programs.
 *
 * The one design decision to know: the gradient check perturbs the
 * controller's parameters in the store (not leaves of a test graph) and
 * reruns the program with the arc forced, so the decisions stay fixed and
 * logp, entropy and skip_penalty are smooth functions of the parameters.
 * Parameters are redrawn from U(-0.5, 0.5) (the default 0.1 makes most
 * gradients too small for the check to mean anything).
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl_fixture.h"
static const nas_ctrl_step *grad_prog = all_kinds;

static double run_forced(fix *f, int which, int record, nas_ctrl_out *o)
{
    int arc[32];
    nas_graph_reset(f->g);
    nas_graph_set_grad(f->g, record);
    cr_assert_eq(
        nas_ctrl_run(f->c, f->g, f->p, grad_prog, ALL_KINDS_N, NULL, all_kinds_arc, arc, o), NAS_OK,
        "%s", nas_errmsg());
    nas_graph_set_grad(f->g, 1);
    cr_assert_eq(memcmp(arc, all_kinds_arc, sizeof(all_kinds_arc)), 0);
    nas_tensor *t = which == OUT_LOGP ? o->logp : which == OUT_ENT ? o->entropy : o->skip_penalty;
    return t->data[0];
}

/* Central differences with h = 1e-2 in float32: the outputs are sums of
 * ~12 terms of size ~1, rounded to ~1e-6 relative, i.e. ~1e-4 after
 * dividing by 2h; curvature at this h adds ~h^2 ~ 1e-4. Hence atol 5e-4,
 * and at least an eighth of the gradients must be above 1e-3 for the
 * check to mean something. */
static void check_grad(int layers, int enas)
{
    nas_ctrl_cfg cfg = enas ? enas_cfg(layers) : small_cfg(layers);
    cfg.no_lstm_bias = enas == 2; /* as the ENAS jobs declare it */
    grad_prog = enas ? all_flags : all_kinds;
    fix f;
    fix_make(&f, &cfg, 11 + (uint64_t)layers, 0.5f);
    cr_assert_eq(nas_ctrl_arc_len(f.c, grad_prog, ALL_KINDS_N),
                 (int)(sizeof(all_kinds_arc) / sizeof(int)));
    const double h = 1e-2, atol = 5e-4, rtol = 1e-2;
    for (int which = OUT_LOGP; which <= OUT_PEN; which++) {
        nas_ctrl_out o;
        nas_params_zero_grad(f.p, NAS_MASK_ALL);
        run_forced(&f, which, 1, &o);
        nas_tensor *y = which == OUT_LOGP ? o.logp : which == OUT_ENT ? o.entropy : o.skip_penalty;
        nas_graph_backward(f.g, y, NAS_MASK(NAS_GROUP_CONTROLLER));
        int bad = 0, nonzero = 0, checked = 0;
        double gmax = 0.0;
        for (int i = 0; i < nas_params_count(f.p); i++) {
            nas_tensor *t = nas_params_get(f.p, i);
            int touched = 0;
            for (size_t k = 0; k < nas_tensor_numel(t); k++) {
                float v = t->data[k];
                nas_ctrl_out o2;
                t->data[k] = v + (float)h;
                double lp = run_forced(&f, which, 0, &o2);
                t->data[k] = v - (float)h;
                double lm = run_forced(&f, which, 0, &o2);
                t->data[k] = v;
                double num = (lp - lm) / (2 * h), ana = t->grad[k];
                checked++;
                nonzero += fabs(ana) > 2 * atol;
                touched |= ana != 0.0;
                gmax = fmax(gmax, fabs(ana));
                if (!(fabs(num - ana) <= atol + rtol * fmax(fabs(num), fabs(ana)))) {
                    if (bad < 8)
                        cr_log_error("output %d, %s[%zu]: analytic %.6g numeric %.6g", which,
                                     t->name, k, ana, num);
                    bad++;
                }
            }
            /* The skip penalty does not depend on the heads (CHOICE only)
             * and its last SKIPS; everything else reaches every tensor
             * except the unused rows of head 1 (not a whole tensor). */
            if (which != OUT_PEN)
                cr_expect(touched, "output %d: %s has no gradient", which, t->name);
        }
        cr_expect_eq(bad, 0, "output %d: %d of %d elements differ", which, bad, checked);
        cr_expect_gt(nonzero, checked / 8,
                     "output %d: only %d of %d gradients "
                     "are non-negligible (max %g)",
                     which, nonzero, checked, gmax);
    }
    /* The penalty reaches the attention and the LSTM. */
    nas_ctrl_out o;
    nas_params_zero_grad(f.p, NAS_MASK_ALL);
    run_forced(&f, OUT_PEN, 1, &o);
    cr_assert_gt(o.skip_penalty->data[0], 0.0f);
    nas_graph_backward(f.g, o.skip_penalty, NAS_MASK(NAS_GROUP_CONTROLLER));
    nas_tensor *v = nas_params_find(f.p, "ctrl.att.v");
    double s = 0.0;
    for (size_t k = 0; k < nas_tensor_numel(v); k++)
        s += fabs(v->grad[k]);
    cr_expect_gt(s, 1e-3);
    fix_free(&f);
}

/* The references' LSTMs: melodyguan/enas's has no bias and U(-0.1, 0.1)
 * weights; Zoph & Le's controller U(-0.08, 0.08). */
Test(controller, lstm_bias_and_init_range_as_the_references)
{
    for (int k = 0; k < 2; k++) {
        nas_ctrl_cfg cfg = k ? enas_cfg(2) : small_cfg(2);
        if (!k)
            cfg.init_range = 0.08f;
        else
            cfg.no_lstm_bias = 1;
        nas_params *p = nas_params_new();
        nas_ctrl *c = NULL;
        cr_assert_eq(nas_ctrl_declare(p, "ctrl", &cfg, &c), NAS_OK, "%s", nas_errmsg());
        nas_rng r;
        nas_rng_seed(&r, 4);
        cr_assert_eq(nas_params_alloc(p, &r), NAS_OK);
        cr_assert((nas_params_find(p, "ctrl.lstm.0.b") == NULL) == (k == 1), "bias %d", k);
        cr_assert((nas_params_find(p, "ctrl.lstm.1.b") == NULL) == (k == 1));
        float lim = k ? 0.1f : 0.08f, top = 0.0f;
        nas_tensor *wx = nas_params_find(p, "ctrl.lstm.0.wx");
        for (size_t i = 0; i < nas_tensor_numel(wx); i++) {
            cr_assert(fabsf(wx->data[i]) <= lim);
            top = fmaxf(top, fabsf(wx->data[i]));
        }
        cr_assert(top > 0.9f * lim, "U(-%g, %g): max %g", (double)lim, (double)lim, (double)top);
        nas_ctrl_free(c);
        nas_params_free(p);
    }
}

Test(controller, gradients_match_fd_one_layer, .timeout = 60)
{
    check_grad(1, 0);
}

Test(controller, gradients_match_fd_two_layers, .timeout = 60)
{
    check_grad(2, 0);
}

/* The ENAS options add terms to every output: the learned bias, the
 * locality prior, the doubled skip logit, the pushed and zero anchors. */
Test(controller, gradients_match_fd_enas_options, .timeout = 60)
{
    check_grad(1, 1);
}

Test(controller, gradients_match_fd_enas_options_without_lstm_bias, .timeout = 60)
{
    check_grad(1, 2);
}

Test(controller, gradients_match_fd_enas_options_two_layers, .timeout = 60)
{
    check_grad(2, 1);
}

Test(controller, forced_arc_reproduces_sample)
{
    nas_ctrl_cfg cfg = small_cfg(1);
    fix f;
    fix_make(&f, &cfg, 5, 0.5f);
    nas_rng r;
    nas_rng_seed(&r, 77);
    int seen_skip = 0, seen_noskip = 0;
    for (int trial = 0; trial < 20; trial++) {
        int arc[32], arc2[32];
        nas_ctrl_out a, b;
        nas_graph_reset(f.g);
        cr_assert_eq(nas_ctrl_run(f.c, f.g, f.p, all_kinds, ALL_KINDS_N, &r, NULL, arc, &a),
                     NAS_OK);
        float lp = a.logp->data[0], en = a.entropy->data[0];
        float pen = a.skip_penalty->data[0];
        cr_assert_lt(lp, 0.0f);
        cr_assert_gt(en, 0.0f);
        cr_assert_eq(a.skip_total, 6);
        seen_skip |= a.skip_count > 0;
        seen_noskip |= a.skip_count < a.skip_total;
        nas_graph_reset(f.g);
        cr_assert_eq(nas_ctrl_run(f.c, f.g, f.p, all_kinds, ALL_KINDS_N, NULL, arc, arc2, &b),
                     NAS_OK);
        cr_assert_eq(memcmp(arc, arc2, 12 * sizeof(int)), 0);
        cr_assert_eq(b.logp->data[0], lp);
        cr_assert_eq(b.entropy->data[0], en);
        cr_assert_eq(b.skip_penalty->data[0], pen);
        cr_assert_eq(b.skip_count, a.skip_count);
    }
    cr_assert(seen_skip && seen_noskip);
    /* A forced decision out of range is refused. */
    int bad[12];
    memcpy(bad, all_kinds_arc, sizeof(bad));
    bad[1] = 5;
    nas_ctrl_out o;
    nas_graph_reset(f.g);
    cr_assert_eq(nas_ctrl_run(f.c, f.g, f.p, all_kinds, ALL_KINDS_N, NULL, bad, NULL, &o),
                 NAS_EINVAL);
    bad[1] = 3;
    bad[3] = 2;
    nas_graph_reset(f.g);
    cr_assert_eq(nas_ctrl_run(f.c, f.g, f.p, all_kinds, ALL_KINDS_N, NULL, bad, NULL, &o),
                 NAS_EINVAL);
    fix_free(&f);
}

static float sigm(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

/* The probabilities of a first CHOICE, computed here from the parameters:
 * one LSTM step from zero state on g_emb, logits W h / T, c tanh(.). */
static void choice_probs(nas_params *p, const nas_ctrl_cfg *cfg, int n, double *prob)
{
    int H = cfg->hidden;
    float *wx = nas_params_find(p, "ctrl.lstm.0.wx")->data;
    float *b = nas_params_find(p, "ctrl.lstm.0.b")->data;
    float *x = nas_params_find(p, "ctrl.g_emb")->data;
    float *w = nas_params_find(p, "ctrl.head.0.w")->data;
    double gates[4 * 64], hid[64], logit[16], m = -1e30, s = 0.0;
    for (int r = 0; r < 4 * H; r++) {
        gates[r] = b[r];
        for (int k = 0; k < H; k++)
            gates[r] += (double)wx[r * H + k] * x[k];
    }
    for (int k = 0; k < H; k++) {
        double c = sigm((float)gates[k]) * tanh(gates[2 * H + k]);
        hid[k] = sigm((float)gates[3 * H + k]) * tanh(c);
    }
    float tc = cfg->tanh_c / (cfg->choice_tanh_reduce > 0 ? cfg->choice_tanh_reduce : 1);
    for (int i = 0; i < n; i++) {
        double l = 0.0;
        for (int k = 0; k < H; k++)
            l += (double)w[i * H + k] * hid[k];
        l /= cfg->temperature;
        if (tc > 0)
            l = tc * tanh(l);
        logit[i] = l;
        m = fmax(m, l);
    }
    for (int i = 0; i < n; i++)
        s += exp(logit[i] - m);
    for (int i = 0; i < n; i++)
        prob[i] = exp(logit[i] - m) / s;
}

Test(controller, choice_frequencies_match_softmax, .timeout = 60)
{
    nas_ctrl_cfg cfg = small_cfg(1);
    cfg.hidden = 16;
    cfg.tanh_c = 2.5f;
    cfg.choice_tanh_reduce = 1.0f;
    cfg.temperature = 0.5f;
    fix f;
    fix_make(&f, &cfg, 9, 1.0f);
    const nas_ctrl_step prog[] = {{NAS_CTRL_CHOICE, 0, 5}};
    double prob[5];
    choice_probs(f.p, &cfg, 5, prob);
    double pmin = 1, pmax = 0;
    for (int i = 0; i < 5; i++) {
        pmin = fmin(pmin, prob[i]);
        pmax = fmax(pmax, prob[i]);
    }
    cr_assert_gt(pmax - pmin, 0.1, "the test needs an uneven distribution");
    nas_rng r;
    nas_rng_seed(&r, 1);
    enum { DRAWS = 20000 };
    int count[5] = {0};
    for (int t = 0; t < DRAWS; t++) {
        int arc[1];
        nas_ctrl_out o;
        nas_graph_reset(f.g);
        nas_graph_set_grad(f.g, 0);
        cr_assert_eq(nas_ctrl_run(f.c, f.g, f.p, prog, 1, &r, NULL, arc, &o), NAS_OK);
        count[arc[0]]++;
        if (t < 50) { /* logp and entropy against the independent numbers */
            double H = 0;
            for (int i = 0; i < 5; i++)
                H -= prob[i] * log(prob[i]);
            cr_assert_float_eq(o.logp->data[0], log(prob[arc[0]]), 1e-4);
            cr_assert_float_eq(o.entropy->data[0], H, 1e-4);
        }
    }
    double chi2 = 0;
    for (int i = 0; i < 5; i++) {
        double e = DRAWS * prob[i];
        chi2 += (count[i] - e) * (count[i] - e) / e;
    }
    /* 4 degrees of freedom: P(chi2 > 18.47) = 0.001. */
    cr_assert_lt(chi2, 18.47,
                 "chi2 %.2f: counts %d %d %d %d %d, p %.3f %.3f "
                 "%.3f %.3f %.3f",
                 chi2, count[0], count[1], count[2], count[3], count[4], prob[0], prob[1], prob[2],
                 prob[3], prob[4]);
    fix_free(&f);
}

static void train_toy(fix *f, const nas_ctrl_step *prog, int nsteps,
                      double (*reward)(const int *arc), float entropy_weight, float skip_weight,
                      int iters)
{
    nas_reinforce rf = {0};
    rf.entropy_weight = entropy_weight;
    rf.skip_weight = skip_weight;
    rf.baseline_decay = 0.9f;
    rf.adam = (nas_adam){.lr = 0.0035f, .beta1 = 0.0f, .beta2 = 0.999f, .eps = 1e-3f};
    nas_rng r;
    nas_rng_seed(&r, 2);
    for (int it = 0; it < iters; it++) {
        int arc[16];
        nas_ctrl_out o;
        nas_graph_reset(f->g);
        cr_assert_eq(nas_ctrl_run(f->c, f->g, f->p, prog, nsteps, &r, NULL, arc, &o), NAS_OK);
        double R = reward(arc);
        nas_reinforce_baseline(&rf, R);
        nas_graph_backward(f->g, nas_reinforce_loss(f->g, &rf, &o, R, 1.0f),
                           NAS_MASK(NAS_GROUP_CONTROLLER));
        nas_reinforce_step(&rf, f->p);
    }
    cr_assert_eq(rf.adam.steps, iters);
}

/* One CHOICE of 5 (reward for option 3) and one PICK of 3 anchors. */
static const nas_ctrl_step toy_prog[] = {
    {NAS_CTRL_ANCHOR, 0, 0}, {NAS_CTRL_ANCHOR, 0, 0}, {NAS_CTRL_ANCHOR, 0, 0},
    {NAS_CTRL_CHOICE, 0, 5}, {NAS_CTRL_PICK, 0, 3},
};
static int toy_pick;

static double toy_reward(const int *arc)
{
    return (arc[0] == 3) + (arc[1] == toy_pick);
}

static nas_ctrl_cfg toy_cfg(void)
{
    nas_ctrl_cfg cfg = small_cfg(1);
    cfg.hidden = 16;
    cfg.tanh_c = 2.5f;
    cfg.temperature = 0;
    cfg.choice_tanh_reduce = 1.0f;
    return cfg;
}

/* With tanh_c 2.5 the most likely option of 5 has p <= 0.974 and of 3 <=
 * 0.987, so P(best arc) tops out at ~0.96; 0.8 means both converged. Two
 * PICK targets, from two initialisations each, so a policy that ignores
 * the reward cannot pass by luck. (Not anchor 2: three ANCHOR steps on
 * the same input bring the LSTM near its fixed point, anchors 1 and 2 are
 * almost the same state and a tanh-capped attention barely tells them
 * apart; real programs put decisions between anchors.) */
Test(controller, reinforce_learns_toy_reward, .timeout = 60)
{
    nas_ctrl_cfg cfg = toy_cfg();
    for (int pick = 0; pick < 2; pick++)
        for (uint64_t seed = 3; seed < 5; seed++) {
            fix f;
            fix_make(&f, &cfg, seed, 0.5f);
            toy_pick = pick;
            train_toy(&f, toy_prog, 5, toy_reward, 0.0f, 0.0f, 1000);
            const int best[] = {3, pick};
            nas_ctrl_out o;
            nas_graph_reset(f.g);
            cr_assert_eq(nas_ctrl_run(f.c, f.g, f.p, toy_prog, 5, NULL, best, NULL, &o), NAS_OK);
            cr_expect_gt(o.logp->data[0], logf(0.8f), "pick %d seed %d: P(best arc) = %g", pick,
                         (int)seed, expf(o.logp->data[0]));
            fix_free(&f);
        }
}

/* SKIPS: a reward for taking the one anchor is learnt; with no reward at
 * all, the KL penalty alone pulls the skip probability to its target. */
static const nas_ctrl_step skip_prog[] = {
    {NAS_CTRL_ANCHOR, 0, 0},
    {NAS_CTRL_SKIPS, 0, 1},
};

static double skip_reward(const int *arc)
{
    return arc[0];
}

static double no_reward(const int *arc)
{
    return 0.0;
}

Test(controller, reinforce_learns_skips_and_penalty, .timeout = 60)
{
    nas_ctrl_cfg cfg = toy_cfg();
    fix f;
    fix_make(&f, &cfg, 8, 0.5f);
    train_toy(&f, skip_prog, 2, skip_reward, 0.0f, 0.0f, 600);
    const int take[] = {1};
    nas_ctrl_out o;
    nas_graph_reset(f.g);
    cr_assert_eq(nas_ctrl_run(f.c, f.g, f.p, skip_prog, 2, NULL, take, NULL, &o), NAS_OK);
    /* sigmoid(2.5) = 0.924 is the most tanh_c allows. */
    cr_expect_gt(o.logp->data[0], logf(0.85f), "P(skip) = %g", expf(o.logp->data[0]));
    fix_free(&f);

    for (int k = 0; k < 2; k++) {
        cfg.skip_target = k ? 0.2f : 0.7f;
        fix_make(&f, &cfg, 9, 0.5f);
        train_toy(&f, skip_prog, 2, no_reward, 0.0f, 0.8f, 800);
        nas_graph_reset(f.g);
        cr_assert_eq(nas_ctrl_run(f.c, f.g, f.p, skip_prog, 2, NULL, take, NULL, &o), NAS_OK);
        cr_expect_float_eq(expf(o.logp->data[0]), cfg.skip_target, 0.05, "P(skip) = %g, target %g",
                           expf(o.logp->data[0]), cfg.skip_target);
        cr_expect_lt(o.skip_penalty->data[0], 5e-3);
        fix_free(&f);
    }
}

Test(controller, baseline_loss_and_step)
{
    nas_reinforce rf = {0};
    rf.baseline_decay = 0.99f;
    rf.entropy_weight = 0.25f;
    rf.skip_weight = 0.8f;
    nas_reinforce_baseline(&rf, 0.5);
    cr_assert(rf.have_baseline);
    cr_assert_float_eq(rf.baseline, 0.5, 1e-12);
    nas_reinforce_baseline(&rf, 1.5);
    cr_assert_float_eq(rf.baseline, 0.99 * 0.5 + 0.01 * 1.5, 1e-7);
    nas_reinforce_baseline(&rf, -2.0);
    double b = 0.99 * (0.99 * 0.5 + 0.01 * 1.5) + 0.01 * -2.0;
    cr_assert_float_eq(rf.baseline, b, 1e-7);

    nas_graph *g = nas_graph_new(1 << 16);
    int one = 1;
    nas_ctrl_out o = {0};
    o.logp = nas_tensor_leaf(g, 1, &one, NAS_GROUP_INPUT);
    o.entropy = nas_tensor_leaf(g, 1, &one, NAS_GROUP_INPUT);
    o.skip_penalty = nas_tensor_leaf(g, 1, &one, NAS_GROUP_INPUT);
    o.logp->data[0] = -3.0f;
    o.entropy->data[0] = 2.0f;
    o.skip_penalty->data[0] = 0.7f;
    nas_tensor *loss = nas_reinforce_loss(g, &rf, &o, 0.9, 0.25f);
    double want = 0.25 * (-(0.9 - b) * -3.0 - 0.25 * 2.0 + 0.8 * 0.7);
    cr_assert_float_eq(loss->data[0], want, 1e-6);
    nas_graph_backward(g, loss, NAS_MASK_ALL);
    cr_assert_float_eq(o.logp->grad[0], -0.25 * (0.9 - b), 1e-6);
    cr_assert_float_eq(o.entropy->grad[0], -0.25 * 0.25, 1e-6);
    cr_assert_float_eq(o.skip_penalty->grad[0], 0.25 * 0.8, 1e-6);
    nas_graph_free(g);

    /* The step clips, moves the parameters and zeroes the gradient. */
    nas_ctrl_cfg cfg = small_cfg(1);
    fix f;
    fix_make(&f, &cfg, 4, 0.0f);
    float *w, *gr;
    size_t n;
    nas_params_group(f.p, NAS_GROUP_CONTROLLER, &w, &gr, NULL, NULL, &n);
    double ss = 0;
    for (size_t i = 0; i < n; i++) {
        gr[i] = (float)((int)(i % 7) - 3);
        ss += (double)gr[i] * gr[i];
    }
    float *before = malloc(n * sizeof(float));
    memcpy(before, w, n * sizeof(float));
    nas_reinforce r2 = {0};
    r2.grad_clip = 1.0f;
    r2.adam = (nas_adam){.lr = 0.01f, .beta1 = 0.0f, .beta2 = 0.999f, .eps = 1e-3f};
    float norm = nas_reinforce_step(&r2, f.p);
    cr_assert_float_eq(norm, sqrt(ss), 1e-3 * sqrt(ss));
    int moved = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(gr[i], 0.0f);
        moved += w[i] != before[i];
    }
    cr_assert_gt(moved, (int)(n / 2));
    free(before);
    fix_free(&f);
}

Test(controller, arc_len_rejects_malformed_programs)
{
    nas_ctrl_cfg cfg = small_cfg(1);
    fix f;
    fix_make(&f, &cfg, 1, 0.0f);
    const nas_ctrl_step pick0[] = {{NAS_CTRL_PICK, 0, 1}};
    const nas_ctrl_step skips_over[] = {{NAS_CTRL_ANCHOR, 0, 0}, {NAS_CTRL_SKIPS, 0, 2}};
    const nas_ctrl_step bad_head[] = {{NAS_CTRL_CHOICE, 2, 1}};
    const nas_ctrl_step neg_head[] = {{NAS_CTRL_CHOICE, -1, 1}};
    const nas_ctrl_step too_many[] = {{NAS_CTRL_CHOICE, 1, 5}};
    const nas_ctrl_step zero_opts[] = {{NAS_CTRL_CHOICE, 0, 0}};
    const nas_ctrl_step after_reset[] = {
        {NAS_CTRL_ANCHOR, 0, 0}, {NAS_CTRL_RESET, 0, 0}, {NAS_CTRL_PICK, 0, 1}};
    const nas_ctrl_step bad_kind[] = {{42, 0, 0}};
    const nas_ctrl_step bad_flag[] = {{NAS_CTRL_CHOICE | NAS_CTRL_PUSH, 0, 1}};
    const nas_ctrl_step no_fixed[] = {{NAS_CTRL_CHOICE | NAS_CTRL_FIXED_BIAS, 0, 1}};
    const nas_ctrl_step pushed[] = {
        {NAS_CTRL_ANCHOR, 0, 0}, {NAS_CTRL_PICK | NAS_CTRL_PUSH, 0, 1}, {NAS_CTRL_SKIPS, 0, 2}};
    cr_assert_eq(nas_ctrl_arc_len(f.c, bad_flag, 1), NAS_EINVAL);
    cr_assert_eq(nas_ctrl_arc_len(f.c, no_fixed, 1), NAS_EINVAL);
    cr_assert_eq(nas_ctrl_arc_len(f.c, pushed, 3), 3);
    cr_assert_eq(nas_ctrl_arc_len(f.c, pick0, 1), NAS_EINVAL);
    cr_assert_eq(nas_ctrl_arc_len(f.c, skips_over, 2), NAS_EINVAL);
    cr_assert_eq(nas_ctrl_arc_len(f.c, bad_head, 1), NAS_EINVAL);
    cr_assert_eq(nas_ctrl_arc_len(f.c, neg_head, 1), NAS_EINVAL);
    cr_assert_eq(nas_ctrl_arc_len(f.c, too_many, 1), NAS_EINVAL);
    cr_assert_eq(nas_ctrl_arc_len(f.c, zero_opts, 1), NAS_EINVAL);
    cr_assert_eq(nas_ctrl_arc_len(f.c, after_reset, 3), NAS_EINVAL);
    cr_assert_eq(nas_ctrl_arc_len(f.c, bad_kind, 1), NAS_EINVAL);
    cr_assert_eq(nas_ctrl_arc_len(f.c, skips_over, -1), NAS_EINVAL);
    /* Well-formed ones count their ints; running a malformed one fails. */
    cr_assert_eq(nas_ctrl_arc_len(f.c, skips_over, 1), 0);
    cr_assert_eq(nas_ctrl_arc_len(f.c, too_many, 0), 0);
    const nas_ctrl_step ok[] = {{NAS_CTRL_ANCHOR, 0, 0},
                                {NAS_CTRL_ANCHOR, 0, 0},
                                {NAS_CTRL_SKIPS, 0, 2},
                                {NAS_CTRL_CHOICE, 1, 4},
                                {NAS_CTRL_PICK, 0, 2}};
    cr_assert_eq(nas_ctrl_arc_len(f.c, ok, 5), 4);
    nas_ctrl_out o;
    nas_rng r;
    nas_rng_seed(&r, 1);
    cr_assert_eq(nas_ctrl_run(f.c, f.g, f.p, pick0, 1, &r, NULL, NULL, &o), NAS_EINVAL);
    fix_free(&f);

    /* Bad configurations name their field. */
    nas_params *p = nas_params_new();
    nas_ctrl *c = NULL;
    nas_ctrl_cfg bad = small_cfg(1);
    bad.hidden = 0;
    cr_assert_eq(nas_ctrl_declare(p, "x", &bad, &c), NAS_EINVAL);
    cr_assert(strstr(nas_errmsg(), "hidden"));
    bad = small_cfg(1);
    bad.head_size[1] = 0;
    cr_assert_eq(nas_ctrl_declare(p, "x", &bad, &c), NAS_EINVAL);
    cr_assert(strstr(nas_errmsg(), "head_size"));
    bad = small_cfg(1);
    bad.skip_target = 1.0f;
    cr_assert_eq(nas_ctrl_declare(p, "x", &bad, &c), NAS_EINVAL);
    cr_assert(strstr(nas_errmsg(), "skip_target"));
    cr_assert_null(c);
    nas_params_free(p);
}
