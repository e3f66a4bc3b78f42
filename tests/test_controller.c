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

#include "search/controller/controller.h"

typedef struct {
    nas_params *p;
    nas_ctrl *c;
    nas_graph *g;
} fix;

static void fix_make(fix *f, const nas_ctrl_cfg *cfg, uint64_t seed,
                     float scale)
{
    nas_rng r;
    nas_rng_seed(&r, seed);
    f->p = nas_params_new();
    cr_assert_eq(nas_ctrl_declare(f->p, "ctrl", cfg, &f->c), NAS_OK, "%s",
                 nas_errmsg());
    cr_assert_eq(nas_params_alloc(f->p, &r), NAS_OK);
    if (scale > 0.0f) {
        for (int i = 0; i < nas_params_count(f->p); i++) {
            nas_tensor *t = nas_params_get(f->p, i);
            for (size_t k = 0; k < nas_tensor_numel(t); k++)
                t->data[k] = scale * (2.0f * nas_rng_uniform(&r) - 1.0f);
        }
    }
    f->g = nas_graph_new(1 << 20);
}

static void fix_free(fix *f)
{
    nas_graph_free(f->g);
    nas_ctrl_free(f->c);
    nas_params_free(f->p);
}

/* Every step kind, a CHOICE with fewer options than its head, SKIPS with
 * none, one and two taken, and a RESET in the middle. */
static const nas_ctrl_step all_kinds[] = {
    {NAS_CTRL_ANCHOR, 0, 0},
    {NAS_CTRL_ANCHOR, 0, 0},
    {NAS_CTRL_PICK, 0, 2},
    {NAS_CTRL_CHOICE, 0, 5},
    {NAS_CTRL_CHOICE, 1, 3},
    {NAS_CTRL_SKIPS, 0, 2},
    {NAS_CTRL_ANCHOR, 0, 0},
    {NAS_CTRL_PICK, 0, 3},
    {NAS_CTRL_SKIPS, 0, 3},
    {NAS_CTRL_SKIPS, 0, 1},
    {NAS_CTRL_RESET, 0, 0},
    {NAS_CTRL_ANCHOR, 0, 0},
    {NAS_CTRL_CHOICE, 0, 5},
    {NAS_CTRL_PICK, 0, 1},
    {NAS_CTRL_ANCHOR, 0, 0},
};
#define ALL_KINDS_N ((int)(sizeof(all_kinds) / sizeof(all_kinds[0])))
/* PICK, CHOICE, CHOICE, SKIPS(2), PICK, SKIPS(3), SKIPS(1), CHOICE, PICK */
static const int all_kinds_arc[] = {1, 3, 2, 1, 1, 2, 0, 1, 0, 0, 4, 0};

/* The same decisions with every flag and the ENAS options of the config
 * (enas_cfg): skips drawn from softmax([-l, l]), steps that push their
 * state, a zero-valued anchor, a RESET that keeps the state, learned and
 * fixed op biases and the locality prior. */
static const nas_ctrl_step all_flags[] = {
    {NAS_CTRL_ANCHOR | NAS_CTRL_ZERO_VALUE, 0, 0},
    {NAS_CTRL_ANCHOR, 0, 0},
    {NAS_CTRL_PICK, 0, 2},
    {NAS_CTRL_CHOICE | NAS_CTRL_FIXED_BIAS, 0, 5},
    {NAS_CTRL_CHOICE, 1, 3},
    {NAS_CTRL_SKIPS | NAS_CTRL_PUSH, 0, 2},
    {NAS_CTRL_ANCHOR, 0, 0},
    {NAS_CTRL_PICK | NAS_CTRL_PUSH, 0, 3},
    {NAS_CTRL_SKIPS, 0, 3},
    {NAS_CTRL_SKIPS | NAS_CTRL_PUSH, 0, 1},
    {NAS_CTRL_RESET | NAS_CTRL_KEEP_STATE, 0, 0},
    {NAS_CTRL_ANCHOR, 0, 0},
    {NAS_CTRL_CHOICE | NAS_CTRL_FIXED_BIAS, 0, 5},
    {NAS_CTRL_PICK | NAS_CTRL_PUSH, 0, 1},
    {NAS_CTRL_ANCHOR, 0, 0},
};
_Static_assert(sizeof(all_flags) == sizeof(all_kinds), "the same decisions");

static const float test_bias[5] = {0.8f, -0.3f, 0.5f, 0.0f, 0.2f};
static const float test_fixed[5] = {0.25f, 0.25f, -0.25f, -0.25f, -0.25f};

static nas_ctrl_cfg small_cfg(int layers)
{
    nas_ctrl_cfg cfg = {0};
    cfg.hidden = 6;
    cfg.lstm_layers = layers;
    cfg.nheads = 2;
    cfg.head_size[0] = 5;
    cfg.head_size[1] = 4;
    cfg.temperature = 1.5f;
    cfg.tanh_c = 1.7f;
    cfg.choice_tanh_reduce = 2.5f;
    cfg.skip_target = 0.4f;
    return cfg;
}

static nas_ctrl_cfg enas_cfg(int layers)
{
    nas_ctrl_cfg cfg = small_cfg(layers);
    cfg.skip_softmax = 1;
    cfg.locality = 3.0f;
    cfg.head_bias[0] = test_bias;
    cfg.head_fixed_bias[0] = test_fixed;
    return cfg;
}

enum { OUT_LOGP, OUT_ENT, OUT_PEN };

static const nas_ctrl_step *grad_prog = all_kinds;

static double run_forced(fix *f, int which, int record, nas_ctrl_out *o)
{
    int arc[32];
    nas_graph_reset(f->g);
    nas_graph_set_grad(f->g, record);
    cr_assert_eq(nas_ctrl_run(f->c, f->g, f->p, grad_prog, ALL_KINDS_N, NULL,
                              all_kinds_arc, arc, o), NAS_OK, "%s", nas_errmsg());
    nas_graph_set_grad(f->g, 1);
    cr_assert_eq(memcmp(arc, all_kinds_arc, sizeof(all_kinds_arc)), 0);
    nas_tensor *t = which == OUT_LOGP ? o->logp
                    : which == OUT_ENT ? o->entropy : o->skip_penalty;
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
        nas_tensor *y = which == OUT_LOGP ? o.logp
                        : which == OUT_ENT ? o.entropy : o.skip_penalty;
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
                        cr_log_error("output %d, %s[%zu]: analytic %.6g numeric %.6g",
                                     which, t->name, k, ana, num);
                    bad++;
                }
            }
            /* The skip penalty does not depend on the heads (CHOICE only)
             * and its last SKIPS; everything else reaches every tensor
             * except the unused rows of head 1 (not a whole tensor). */
            if (which != OUT_PEN)
                cr_expect(touched, "output %d: %s has no gradient", which, t->name);
        }
        cr_expect_eq(bad, 0, "output %d: %d of %d elements differ", which, bad,
                     checked);
        cr_expect_gt(nonzero, checked / 8, "output %d: only %d of %d gradients "
                     "are non-negligible (max %g)", which, nonzero, checked, gmax);
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
        cr_assert_eq(nas_ctrl_run(f.c, f.g, f.p, all_kinds, ALL_KINDS_N, &r,
                                  NULL, arc, &a), NAS_OK);
        float lp = a.logp->data[0], en = a.entropy->data[0];
        float pen = a.skip_penalty->data[0];
        cr_assert_lt(lp, 0.0f);
        cr_assert_gt(en, 0.0f);
        cr_assert_eq(a.skip_total, 6);
        seen_skip |= a.skip_count > 0;
        seen_noskip |= a.skip_count < a.skip_total;
        nas_graph_reset(f.g);
        cr_assert_eq(nas_ctrl_run(f.c, f.g, f.p, all_kinds, ALL_KINDS_N, NULL,
                                  arc, arc2, &b), NAS_OK);
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
    cr_assert_eq(nas_ctrl_run(f.c, f.g, f.p, all_kinds, ALL_KINDS_N, NULL, bad,
                              NULL, &o), NAS_EINVAL);
    bad[1] = 3;
    bad[3] = 2;
    nas_graph_reset(f.g);
    cr_assert_eq(nas_ctrl_run(f.c, f.g, f.p, all_kinds, ALL_KINDS_N, NULL, bad,
                              NULL, &o), NAS_EINVAL);
    fix_free(&f);
}

static float sigm(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

/* The probabilities of a first CHOICE, computed here from the parameters:
 * one LSTM step from zero state on g_emb, logits W h / T, c tanh(.). */
static void choice_probs(nas_params *p, const nas_ctrl_cfg *cfg, int n,
                         double *prob)
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
        if (t < 50) {   /* logp and entropy against the independent numbers */
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
    cr_assert_lt(chi2, 18.47, "chi2 %.2f: counts %d %d %d %d %d, p %.3f %.3f "
                 "%.3f %.3f %.3f", chi2, count[0], count[1], count[2], count[3],
                 count[4], prob[0], prob[1], prob[2], prob[3], prob[4]);
    fix_free(&f);
}

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

static ref_out ref_run(nas_params *p, const nas_ctrl_cfg *cfg,
                       const nas_ctrl_step *prog, int n, const int *arc)
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

static void expect_ref(fix *f, const nas_ctrl_cfg *cfg, const nas_ctrl_step *prog,
                       int n, const int *arc, const char *what)
{
    nas_ctrl_out o;
    nas_graph_reset(f->g);
    cr_assert_eq(nas_ctrl_run(f->c, f->g, f->p, prog, n, NULL, arc, NULL, &o),
                 NAS_OK, "%s", nas_errmsg());
    ref_out r = ref_run(f->p, cfg, prog, n, arc);
    double got[3] = {o.logp->data[0], o.entropy->data[0], o.skip_penalty->data[0]};
    double want[3] = {r.logp, r.ent, r.pen};
    const char *name[3] = {"logp", "entropy", "skip_penalty"};
    for (int k = 0; k < 3; k++)
        cr_expect(fabs(got[k] - want[k]) <= 1e-4 + 1e-4 * fabs(want[k]),
                  "%s: %s %.7g, the independent sampler %.7g", what, name[k],
                  got[k], want[k]);
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
        expect_ref(&f, &cfg, prog, ALL_KINDS_N, all_kinds_arc,
                   enas ? "ENAS options" : "plain");
        /* Other decisions of the same program. */
        int arc[12];
        nas_rng r;
        nas_rng_seed(&r, 3);
        for (int t = 0; t < 5; t++) {
            nas_ctrl_out o;
            nas_graph_reset(f.g);
            cr_assert_eq(nas_ctrl_run(f.c, f.g, f.p, prog, ALL_KINDS_N, &r, NULL,
                                      arc, &o), NAS_OK);
            expect_ref(&f, &cfg, prog, ALL_KINDS_N, arc, "sampled arc");
        }
        fix_free(&f);
    }
}

/* Draws of one decision against the independent sampler's probabilities:
 * a chi-square test at P = 0.001 over nopt options. */
static void check_draws(fix *f, const nas_ctrl_cfg *cfg,
                        const nas_ctrl_step *prog, int n, int nopt,
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
        cr_assert_eq(nas_ctrl_run(f->c, f->g, f->p, prog, n, &r, NULL, arc, &o),
                     NAS_OK);
        count[arc[0]]++;
    }
    nas_graph_set_grad(f->g, 1);
    double chi2 = 0;
    for (int a = 0; a < nopt; a++) {
        double e = DRAWS * prob[a];
        chi2 += (count[a] - e) * (count[a] - e) / e;
    }
    cr_expect_lt(chi2, crit, "chi2 %.2f: %d of %d draws took option 0, p %.4f",
                 chi2, count[0], DRAWS, prob[0]);
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
    const nas_ctrl_step prog[] = {
        {NAS_CTRL_ANCHOR, 0, 0}, {NAS_CTRL_ANCHOR, 0, 0},
        {NAS_CTRL_ANCHOR, 0, 0}, {NAS_CTRL_ANCHOR, 0, 0},
        {NAS_CTRL_PICK, 0, 4}};
    nas_ctrl_cfg cfg = small_cfg(1);
    cfg.hidden = 16;
    cfg.tanh_c = 2.5f;
    cfg.temperature = 5.0f;
    cfg.locality = 12.0f;
    fix f;
    fix_make(&f, &cfg, 41, 0.5f);
    int a0[1] = {0}, a3[1] = {3};
    cr_assert_lt(ref_run(f.p, &cfg, prog, 5, a0).logp,
                 ref_run(f.p, &cfg, prog, 5, a3).logp - 0.5);
    /* 3 degrees of freedom: P(chi2 > 16.27) = 0.001. */
    check_draws(&f, &cfg, prog, 5, 4, 16.27);
    fix_free(&f);
}

/* Runs REINFORCE with the reference's optimizer (Adam lr 0.0035, betas
 * (0, 0.999), eps 1e-3) for `iters` updates of reward(arc). */
static void train_toy(fix *f, const nas_ctrl_step *prog, int nsteps,
                      double (*reward)(const int *arc), float entropy_weight,
                      float skip_weight, int iters)
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
        cr_assert_eq(nas_ctrl_run(f->c, f->g, f->p, prog, nsteps, &r, NULL, arc, &o),
                     NAS_OK);
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
    {NAS_CTRL_ANCHOR, 0, 0}, {NAS_CTRL_ANCHOR, 0, 0},
    {NAS_CTRL_ANCHOR, 0, 0}, {NAS_CTRL_CHOICE, 0, 5},
    {NAS_CTRL_PICK, 0, 3},
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
            cr_assert_eq(nas_ctrl_run(f.c, f.g, f.p, toy_prog, 5, NULL, best, NULL, &o),
                         NAS_OK);
            cr_expect_gt(o.logp->data[0], logf(0.8f), "pick %d seed %d: P(best arc) = %g",
                         pick, (int)seed, expf(o.logp->data[0]));
            fix_free(&f);
        }
}

/* SKIPS: a reward for taking the one anchor is learnt; with no reward at
 * all, the KL penalty alone pulls the skip probability to its target. */
static const nas_ctrl_step skip_prog[] = {
    {NAS_CTRL_ANCHOR, 0, 0}, {NAS_CTRL_SKIPS, 0, 1},
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
        cr_assert_eq(nas_ctrl_run(f.c, f.g, f.p, skip_prog, 2, NULL, take, NULL, &o),
                     NAS_OK);
        cr_expect_float_eq(expf(o.logp->data[0]), cfg.skip_target, 0.05,
                           "P(skip) = %g, target %g", expf(o.logp->data[0]),
                           cfg.skip_target);
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
    const nas_ctrl_step skips_over[] = {{NAS_CTRL_ANCHOR, 0, 0},
                                        {NAS_CTRL_SKIPS, 0, 2}};
    const nas_ctrl_step bad_head[] = {{NAS_CTRL_CHOICE, 2, 1}};
    const nas_ctrl_step neg_head[] = {{NAS_CTRL_CHOICE, -1, 1}};
    const nas_ctrl_step too_many[] = {{NAS_CTRL_CHOICE, 1, 5}};
    const nas_ctrl_step zero_opts[] = {{NAS_CTRL_CHOICE, 0, 0}};
    const nas_ctrl_step after_reset[] = {{NAS_CTRL_ANCHOR, 0, 0},
                                         {NAS_CTRL_RESET, 0, 0},
                                         {NAS_CTRL_PICK, 0, 1}};
    const nas_ctrl_step bad_kind[] = {{42, 0, 0}};
    const nas_ctrl_step bad_flag[] = {{NAS_CTRL_CHOICE | NAS_CTRL_PUSH, 0, 1}};
    const nas_ctrl_step no_fixed[] = {{NAS_CTRL_CHOICE | NAS_CTRL_FIXED_BIAS, 0, 1}};
    const nas_ctrl_step pushed[] = {{NAS_CTRL_ANCHOR, 0, 0},
                                    {NAS_CTRL_PICK | NAS_CTRL_PUSH, 0, 1},
                                    {NAS_CTRL_SKIPS, 0, 2}};
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
    const nas_ctrl_step ok[] = {{NAS_CTRL_ANCHOR, 0, 0}, {NAS_CTRL_ANCHOR, 0, 0},
                                {NAS_CTRL_SKIPS, 0, 2}, {NAS_CTRL_CHOICE, 1, 4},
                                {NAS_CTRL_PICK, 0, 2}};
    cr_assert_eq(nas_ctrl_arc_len(f.c, ok, 5), 4);
    nas_ctrl_out o;
    nas_rng r;
    nas_rng_seed(&r, 1);
    cr_assert_eq(nas_ctrl_run(f.c, f.g, f.p, pick0, 1, &r, NULL, NULL, &o),
                 NAS_EINVAL);
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
