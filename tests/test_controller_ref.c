// SPDX-License-Identifier: MIT
/*
 * test_controller_ref.c - the controller (engine/search/controller/) held
 * against an independent double-precision sampler for whole programs, and
 * the sampling frequencies of ENAS's sigmoid(2 l) skips and the locality
 * prior of PICK (chi-square over many draws).
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl_fixture.h"

/* ------------------------------------------------ an independent sampler */

/* The controller of controller.h written again in double precision, one
 * LSTM layer, straight from the header's description of each step and
 * flag (and from the ENAS reference's samplers): the outputs of a forced
 * arc, to hold nas_ctrl_run's numbers against. */
typedef struct {
    double logp, ent, pen;
} ref_out;

static const float *par(nas_params *p, const char *fmt, int k)
{
    char name[64];
    snprintf(name, sizeof(name), fmt, k);
    nas_tensor *t = nas_params_find(p, name);
    return t ? t->data : NULL;
}

static double sigmd(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

static double shape_ref(const nas_ctrl_cfg *cfg, double l, double c)
{
    if (cfg->temperature > 0 && cfg->temperature != 1)
        l /= cfg->temperature;
    return c > 0 ? c * tanh(l) : l;
}

/* log-softmax of l (n) into lp; returns the entropy. */
static double log_softmax_ref(const double *l, int n, double *lp)
{
    double m = l[0], s = 0, H = 0;
    for (int i = 1; i < n; i++)
        m = fmax(m, l[i]);
    for (int i = 0; i < n; i++)
        s += exp(l[i] - m);
    for (int i = 0; i < n; i++) {
        lp[i] = l[i] - m - log(s);
        H -= exp(lp[i]) * lp[i];
    }
    return H;
}

static double kl_ref(double p, double t)
{
    return p * log(p / t) + (1 - p) * log((1 - p) / (1 - t));
}

enum { RH = 16, RA = 16 };

static ref_out ref_run(nas_params *p, const nas_ctrl_cfg *cfg, const nas_ctrl_step *prog, int n,
                       const int *arc)
{
    int H = cfg->hidden;
    cr_assert(H <= RH && cfg->lstm_layers == 1);
    const float *wx = par(p, "ctrl.lstm.%d.wx", 0), *wh = par(p, "ctrl.lstm.%d.wh", 0);
    const float *b = par(p, "ctrl.lstm.%d.b", 0), *g_emb = par(p, "ctrl.g_emb", 0);
    const float *w_prev = par(p, "ctrl.att.w_prev", 0);
    const float *w_curr = par(p, "ctrl.att.w_curr", 0), *v = par(p, "ctrl.att.v", 0);
    double h[RH] = {0}, c[RH] = {0}, x[RH], val[RA][RH], key[RA][RH];
    double pen_sum = 0;
    int nanch = 0, pos = 0, nskips = 0;
    ref_out o = {0, 0, 0};
    for (int k = 0; k < H; k++)
        x[k] = g_emb[k];
    double choice_c = cfg->tanh_c;
    if (cfg->choice_tanh_reduce > 0 && cfg->choice_tanh_reduce != 1)
        choice_c /= cfg->choice_tanh_reduce;
    for (int i = 0; i < n; i++) {
        int kind = prog[i].kind & 0xff, fl = prog[i].kind & ~0xff, m = prog[i].n;
        if (kind == NAS_CTRL_RESET) {
            if (!(fl & NAS_CTRL_KEEP_STATE))
                for (int k = 0; k < H; k++)
                    h[k] = c[k] = 0;
            nanch = 0;
            for (int k = 0; k < H; k++)
                x[k] = g_emb[k];
            continue;
        }
        double gates[4 * RH];
        for (int r = 0; r < 4 * H; r++) {
            gates[r] = b[r];
            for (int k = 0; k < H; k++)
                gates[r] += (double)wx[r * H + k] * x[k] + (double)wh[r * H + k] * h[k];
        }
        for (int k = 0; k < H; k++) {
            c[k] = sigmd(gates[H + k]) * c[k] + sigmd(gates[k]) * tanh(gates[2 * H + k]);
            h[k] = sigmd(gates[3 * H + k]) * tanh(c[k]);
        }
        double pushed[RH], pkey[RH];
        for (int k = 0; k < H; k++) {
            pushed[k] = h[k];
            pkey[k] = 0;
            for (int q = 0; q < H; q++)
                pkey[k] += (double)w_prev[k * H + q] * h[q];
        }
        if (kind == NAS_CTRL_ANCHOR) {
            for (int k = 0; k < H; k++) {
                val[nanch][k] = fl & NAS_CTRL_ZERO_VALUE ? 0 : h[k];
                key[nanch][k] = pkey[k];
                x[k] = g_emb[k];
            }
            nanch++;
            continue;
        }
        double l[RA], lp[RA];
        if (kind == NAS_CTRL_CHOICE) {
            int hd = prog[i].head;
            const float *w = par(p, "ctrl.head.%d.w", hd);
            const float *db = par(p, "ctrl.head.%d.b", hd);
            for (int j = 0; j < m; j++) {
                l[j] = 0;
                for (int k = 0; k < H; k++)
                    l[j] += (double)w[j * H + k] * h[k];
                if (cfg->head_bias[hd])
                    l[j] += cfg->head_bias[hd][j] + db[j];
                l[j] = shape_ref(cfg, l[j], choice_c);
                if (fl & NAS_CTRL_FIXED_BIAS)
                    l[j] += cfg->head_fixed_bias[hd][j];
            }
        } else {
            double q[RH];
            for (int k = 0; k < H; k++) {
                q[k] = 0;
                for (int r = 0; r < H; r++)
                    q[k] += (double)w_curr[k * H + r] * h[r];
            }
            for (int j = 0; j < m; j++) {
                l[j] = 0;
                for (int k = 0; k < H; k++)
                    l[j] += v[k] * tanh(key[j][k] + q[k]);
                l[j] = shape_ref(cfg, l[j], cfg->tanh_c);
                if (kind == NAS_CTRL_PICK && cfg->locality > 0)
                    l[j] -= (m - j) * (m - j) / (double)cfg->locality;
            }
        }
        if (kind == NAS_CTRL_SKIPS) {
            double kl = 0, taken = 0, sum[RH] = {0};
            for (int j = 0; j < m; j++) {
                int sj = arc[pos++];
                double pj = sigmd(cfg->skip_softmax ? 2 * l[j] : l[j]);
                o.logp += log(sj ? pj : 1 - pj);
                o.ent -= pj * log(pj) + (1 - pj) * log(1 - pj);
                kl += kl_ref(sigmd(l[j]), cfg->skip_target);
                taken += sj;
                for (int k = 0; k < H && sj; k++)
                    sum[k] += val[j][k];
            }
            pen_sum += kl;
            nskips++;
            for (int k = 0; k < H; k++)
                x[k] = sum[k] / (1 + taken);
        } else {
            int a = arc[pos++];
            o.ent += log_softmax_ref(l, m, lp);
            o.logp += lp[a];
            if (kind == NAS_CTRL_CHOICE) {
                const float *emb = par(p, "ctrl.head.%d.emb", prog[i].head);
                for (int k = 0; k < H; k++)
                    x[k] = emb[a * H + k];
            } else {
                double d = cfg->locality > 0 ? 0.1 + m - a : 1;
                for (int k = 0; k < H; k++)
                    x[k] = val[a][k] / d;
            }
        }
        if (fl & NAS_CTRL_PUSH) {
            for (int k = 0; k < H; k++) {
                val[nanch][k] = pushed[k];
                key[nanch][k] = pkey[k];
            }
            nanch++;
        }
    }
    o.pen = nskips ? pen_sum / nskips : 0;
    return o;
}

static void expect_ref(fix *f, const nas_ctrl_cfg *cfg, const nas_ctrl_step *prog, int n,
                       const int *arc, const char *what)
{
    nas_ctrl_out o;
    nas_graph_reset(f->g);
    cr_assert_eq(nas_ctrl_run(f->c, f->g, f->p, prog, n, NULL, arc, NULL, &o), NAS_OK, "%s",
                 nas_errmsg());
    ref_out r = ref_run(f->p, cfg, prog, n, arc);
    double got[3] = {o.logp->data[0], o.entropy->data[0], o.skip_penalty->data[0]};
    double want[3] = {r.logp, r.ent, r.pen};
    const char *name[3] = {"logp", "entropy", "skip_penalty"};
    for (int k = 0; k < 3; k++)
        cr_expect(fabs(got[k] - want[k]) <= 1e-4 + 1e-4 * fabs(want[k]),
                  "%s: %s %.7g, the independent sampler %.7g", what, name[k], got[k], want[k]);
}

/* Every step kind and flag against the independent sampler: with the ENAS
 * options the skips are Bernoulli(sigmoid(2 l)) with the KL of
 * sigmoid(l), the penalty is the mean over SKIPS steps, PICK has the
 * locality prior and its 1 / (0.1 + n - j) input, CHOICE the learned and
 * fixed biases, and the pushed, zero and kept states are what the
 * references feed. */
Test(controller, outputs_match_an_independent_sampler)
{
    for (int enas = 0; enas < 2; enas++) {
        nas_ctrl_cfg cfg = enas ? enas_cfg(1) : small_cfg(1);
        fix f;
        fix_make(&f, &cfg, 21, 0.5f);
        const nas_ctrl_step *prog = enas ? all_flags : all_kinds;
        expect_ref(&f, &cfg, prog, ALL_KINDS_N, all_kinds_arc, enas ? "ENAS options" : "plain");
        /* Other decisions of the same program. */
        int arc[12];
        nas_rng r;
        nas_rng_seed(&r, 3);
        for (int t = 0; t < 5; t++) {
            nas_ctrl_out o;
            nas_graph_reset(f.g);
            cr_assert_eq(nas_ctrl_run(f.c, f.g, f.p, prog, ALL_KINDS_N, &r, NULL, arc, &o), NAS_OK);
            expect_ref(&f, &cfg, prog, ALL_KINDS_N, arc, "sampled arc");
        }
        fix_free(&f);
    }
}

/* Draws of one decision against the independent sampler's probabilities:
 * a chi-square test at P = 0.001 over nopt options. */
static void check_draws(fix *f, const nas_ctrl_cfg *cfg, const nas_ctrl_step *prog, int n, int nopt,
                        double crit)
{
    double prob[8];
    for (int a = 0; a < nopt; a++) {
        int arc[8] = {0};
        arc[0] = a;
        prob[a] = exp(ref_run(f->p, cfg, prog, n, arc).logp);
    }
    nas_rng r;
    nas_rng_seed(&r, 12);
    enum { DRAWS = 20000 };
    int count[8] = {0};
    for (int t = 0; t < DRAWS; t++) {
        int arc[8];
        nas_ctrl_out o;
        nas_graph_reset(f->g);
        nas_graph_set_grad(f->g, 0);
        cr_assert_eq(nas_ctrl_run(f->c, f->g, f->p, prog, n, &r, NULL, arc, &o), NAS_OK);
        count[arc[0]]++;
    }
    nas_graph_set_grad(f->g, 1);
    double chi2 = 0;
    for (int a = 0; a < nopt; a++) {
        double e = DRAWS * prob[a];
        chi2 += (count[a] - e) * (count[a] - e) / e;
    }
    cr_expect_lt(chi2, crit, "chi2 %.2f: %d of %d draws took option 0, p %.4f", chi2, count[0],
                 DRAWS, prob[0]);
}

/* ENAS draws a skip from softmax([-l, l]): P(skip) = sigmoid(2 l), not
 * sigmoid(l) (which NAS-RL keeps). */
Test(controller, skip_draws_follow_sigmoid_2l, .timeout = 60)
{
    const nas_ctrl_step prog[] = {{NAS_CTRL_ANCHOR, 0, 0}, {NAS_CTRL_SKIPS, 0, 1}};
    for (int enas = 0; enas < 2; enas++) {
        nas_ctrl_cfg cfg = small_cfg(1);
        cfg.hidden = 16;
        cfg.temperature = 0;
        cfg.tanh_c = 0;
        cfg.skip_softmax = enas;
        fix f;
        int one[1] = {1};
        double p1 = 0.5;
        /* The first initialisation with a clearly uneven skip. */
        for (uint64_t seed = 31; fabs(p1 - 0.5) < 0.2 && seed < 60; seed++) {
            if (seed > 31)
                fix_free(&f);
            fix_make(&f, &cfg, seed, 1.0f);
            p1 = exp(ref_run(f.p, &cfg, prog, 2, one).logp);
        }
        cr_assert(fabs(p1 - 0.5) >= 0.2, "the test needs an uneven skip: %g", p1);
        expect_ref(&f, &cfg, prog, 2, one, "one skip");
        /* 1 degree of freedom: P(chi2 > 10.83) = 0.001. */
        check_draws(&f, &cfg, prog, 2, 2, 10.83);
        fix_free(&f);
    }
}

/* ENAS recurrent: the locality prior -(n - j)^2 / 12 moves PICK's draws
 * towards the latest anchors. */
Test(controller, pick_draws_follow_locality_prior, .timeout = 60)
{
    const nas_ctrl_step prog[] = {{NAS_CTRL_ANCHOR, 0, 0},
                                  {NAS_CTRL_ANCHOR, 0, 0},
                                  {NAS_CTRL_ANCHOR, 0, 0},
                                  {NAS_CTRL_ANCHOR, 0, 0},
                                  {NAS_CTRL_PICK, 0, 4}};
    nas_ctrl_cfg cfg = small_cfg(1);
    cfg.hidden = 16;
    cfg.tanh_c = 2.5f;
    cfg.temperature = 5.0f;
    cfg.locality = 12.0f;
    fix f;
    fix_make(&f, &cfg, 41, 0.5f);
    int a0[1] = {0}, a3[1] = {3};
    cr_assert_lt(ref_run(f.p, &cfg, prog, 5, a0).logp, ref_run(f.p, &cfg, prog, 5, a3).logp - 0.5);
    /* 3 degrees of freedom: P(chi2 > 16.27) = 0.001. */
    check_draws(&f, &cfg, prog, 5, 4, 16.27);
    fix_free(&f);
}

/* Runs REINFORCE with the reference's optimizer (Adam lr 0.0035, betas
 * (0, 0.999), eps 1e-3) for `iters` updates of reward(arc). */
