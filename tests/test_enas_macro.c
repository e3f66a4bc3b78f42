// SPDX-License-Identifier: MIT
/*
 * test_enas_macro.c - the ENAS macro search space (engine/search/
 * enas_macro.c): random children run with the right shapes, a child's
 * backward reaches exactly the weights of its ops (the expected set is
 * derived here from the arc and the parameter names, independently of the
 * space's own bookkeeping), children sharing an op at a layer share its
 * tensor, and the gradient of a tiny child matches finite differences.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search/enas/enas.h"

static const char *const ops[] = {
    "conv_3x3", "sep_conv_3x3", "conv_5x5", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3",
};

typedef struct {
    nas_enas_cfg cfg;
    nas_params *p;
    void *self;
    nas_graph *g;
    nas_rng rng;
    int len; /* ints in an arc */
} fix;

static void fix_make(fix *f, int C, int layers, int hw, float dropout)
{
    memset(f, 0, sizeof(*f));
    f->cfg = (nas_enas_cfg){
        .C = C, .layers = layers, .in_c = 1, .h = hw, .w = hw, .classes = 3, .dropout = dropout};
    f->p = nas_params_new();
    cr_assert_eq(nas__enas_macro.declare(f->p, &f->cfg, &f->self), NAS_OK, "%s", nas_errmsg());
    nas_rng_seed(&f->rng, 5);
    cr_assert_eq(nas_params_alloc(f->p, &f->rng), NAS_OK);
    f->g = nas_graph_new(1 << 22);
    nas_graph_set_rng(f->g, &f->rng);
    f->len = layers * (layers + 1) / 2;
}

static void fix_free(fix *f)
{
    nas_graph_free(f->g);
    nas__enas_macro.free(f->self);
    nas_params_free(f->p);
}

static void random_arc(nas_rng *r, int L, int *arc)
{
    int k = 0;
    for (int l = 0; l < L; l++) {
        arc[k++] = (int)nas_rng_below(r, 6);
        for (int i = 0; i < l; i++)
            arc[k++] = (int)nas_rng_below(r, 2);
    }
}

static const int *skips_of(const int *arc, int l)
{
    return arc + l * (l + 1) / 2 + 1;
}

static nas_tensor *input(fix *f, int n, nas_rng *r)
{
    nas_tensor *x = nas_tensor_new4(f->g, n, 1, f->cfg.h, f->cfg.w);
    for (size_t i = 0; i < nas_tensor_numel(x); i++)
        x->data[i] = nas_rng_normal(r);
    return x;
}

/* The reference's batch_norm epsilon outside its masked BN (#16 item 10). */
Test(enas_macro, bn_epsilon_is_the_references)
{
    cr_assert_eq(NAS_ENAS_MACRO_BN_EPS, 1e-5f);
}

Test(enas_macro, random_children_shapes_and_program, .timeout = 60)
{
    fix f;
    fix_make(&f, 4, 6, 8, 0.2f);
    nas_ctrl_cfg cc = {0};
    int n;
    const nas_ctrl_step *prog = nas__enas_macro.program(f.self, &n, &cc);
    cr_assert_eq(cc.nheads, 1);
    cr_assert_eq(cc.head_size[0], 6);
    /* As general_controller.py: per layer CHOICE, then one LSTM step whose
     * state queries the earlier anchors for the skips (l > 0) and becomes
     * the layer's anchor; the skips are drawn from softmax([-l, l]). */
    cr_assert_eq(n, 2 * 6);
    cr_assert(cc.skip_softmax);
    cr_assert_eq(prog[0].kind, NAS_CTRL_CHOICE);
    cr_assert_eq(prog[1].kind, NAS_CTRL_ANCHOR);
    cr_assert_eq(prog[2].kind, NAS_CTRL_CHOICE);
    cr_assert_eq(prog[3].kind, NAS_CTRL_SKIPS | NAS_CTRL_PUSH);
    cr_assert_eq(prog[3].n, 1);
    cr_assert_eq(prog[11].kind, NAS_CTRL_SKIPS | NAS_CTRL_PUSH);
    cr_assert_eq(prog[11].n, 5);
    nas_ctrl_cfg ctrl = cc;
    ctrl.hidden = 8;
    ctrl.lstm_layers = 1;
    nas_params *cp = nas_params_new();
    nas_ctrl *c;
    cr_assert_eq(nas_ctrl_declare(cp, "c", &ctrl, &c), NAS_OK);
    cr_assert_eq(nas_ctrl_arc_len(c, prog, n), f.len);
    /* Arcs the controller samples from this program are children. */
    nas_rng cr;
    nas_rng_seed(&cr, 4);
    cr_assert_eq(nas_params_alloc(cp, &cr), NAS_OK);
    for (int t = 0; t < 5; t++) {
        int arc[21];
        nas_ctrl_out o;
        nas_graph_reset(f.g);
        cr_assert_eq(nas_ctrl_run(c, f.g, cp, prog, n, &cr, NULL, arc, &o), NAS_OK);
        cr_assert_eq(o.skip_total, 15);
        nas_tensor *y = nas__enas_macro.forward(f.self, f.g, f.p, arc, input(&f, 2, &cr), 1);
        cr_assert_eq(y->shape[0], 2);
        cr_assert_eq(y->shape[1], 3);
    }
    nas_ctrl_free(c);
    nas_params_free(cp);

    nas_rng r;
    for (uint64_t seed = 1; seed <= 30; seed++) {
        nas_rng_seed(&r, seed);
        int arc[21];
        random_arc(&r, 6, arc);
        nas_graph_reset(f.g);
        nas_graph_set_training(f.g, seed % 3 != 0);
        nas_graph_set_grad(f.g, seed % 2);
        nas_tensor *y = nas__enas_macro.forward(f.self, f.g, f.p, arc, input(&f, 3, &r), 1);
        cr_assert_eq(y->ndim, 2);
        cr_assert_eq(y->shape[0], 3);
        cr_assert_eq(y->shape[1], 3);
        for (int i = 0; i < 9; i++)
            cr_assert(isfinite(y->data[i]));
    }
    nas_graph_set_training(f.g, 1);
    nas_graph_set_grad(f.g, 1);

    /* The reports of one handmade arc. */
    const int arc[] = {0, 3, 1, 5, 0, 1, 1, 1, 0, 1, 4, 0, 0, 0, 0, 2, 1, 1, 1, 1, 1};
    nas_json_buf b = {0};
    nas__enas_macro.arc_string(f.self, arc, &b);
    cr_assert_str_eq(b.s, "0 3 1 5 0 1 1 1 0 1 4 0 0 0 0 2 1 1 1 1 1");
    free(b.s);
    memset(&b, 0, sizeof(b));
    nas__enas_macro.arc_json(f.self, arc, &b);
    cr_assert_str_eq(b.s, "{\"layers\": [{\"op\": \"conv_3x3\", \"skips\": []}, "
                          "{\"op\": \"sep_conv_5x5\", \"skips\": [-1]}, "
                          "{\"op\": \"max_pool_3x3\", \"skips\": [0]}, "
                          "{\"op\": \"sep_conv_3x3\", \"skips\": [-1, 1]}, "
                          "{\"op\": \"avg_pool_3x3\", \"skips\": []}, "
                          "{\"op\": \"conv_5x5\", \"skips\": [-1, 0, 1, 2, 3]}]}");
    free(b.s);
    fix_free(&f);
}

Test(enas_macro, bad_configs)
{
    nas_params *p = nas_params_new();
    void *self = NULL;
    nas_enas_cfg cfg = {.C = 3, .layers = 6, .in_c = 1, .h = 8, .w = 8, .classes = 3};
    cr_assert_eq(nas__enas_macro.declare(p, &cfg, &self), NAS_EINVAL);
    cr_assert(strstr(nas_errmsg(), "C:"));
    cfg.C = 4;
    cfg.h = 6; /* 6 -> 3 at the first reduction, odd at the second */
    cr_assert_eq(nas__enas_macro.declare(p, &cfg, &self), NAS_EINVAL);
    cr_assert(strstr(nas_errmsg(), "layers:"));
    cfg.h = 8;
    cfg.layers = 0;
    cr_assert_eq(nas__enas_macro.declare(p, &cfg, &self), NAS_EINVAL);
    cr_assert_null(self);
    nas_params_free(p);
}

/* Whether parameter `name` belongs to the child arc of L layers: derived
 * from the names, the arc and the reference's rules (pool layers L/3-1
 * and 2L/3-1; source i = the stem (0) or layer i-1 is reduced there when
 * it is the next layer's input or a later layer's skip). */
static int expected_used(const char *name, const int *arc, int L)
{
    int l, q, i, n = 0;
    char op[32];
    if (!strncmp(name, "macro.stem.", 11) || !strcmp(name, "macro.fc.w"))
        return 1;
    if (sscanf(name, "macro.layer.%d.bn.%n", &l, &n) == 1 && n > 0)
        return l > 0;
    if (sscanf(name, "macro.layer.%d.%31[a-z_0-9x].", &l, op) == 2) {
        int o = arc[l * (l + 1) / 2];
        return !strcmp(op, ops[o]);
    }
    if (sscanf(name, "macro.pool.%d.from.%d.", &q, &i) == 2) {
        int pl = q == 0 ? L / 3 - 1 : 2 * (L / 3) - 1;
        if (i == pl + 1)
            return 1;
        for (int m = pl + 1; m < L; m++)
            if (i < m && skips_of(arc, m)[i])
                return 1;
        return 0;
    }
    cr_assert_fail("unexpected parameter %s", name);
    return 0;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static int has_grad(const nas_tensor *t)
{
    for (size_t k = 0; k < nas_tensor_numel(t); k++)
        if (t->grad[k] != 0.0f)
            return 1;
    return 0;
}

static void child_backward(fix *f, const int *arc, nas_rng *r)
{
    nas_params_zero_grad(f->p, NAS_MASK_ALL);
    nas_graph_reset(f->g);
    nas_graph_set_training(f->g, 1);
    nas_tensor *y = nas__enas_macro.forward(f->self, f->g, f->p, arc, input(f, 4, r), 1);
    const int32_t labels[4] = {0, 1, 2, 1};
    nas_graph_backward(f->g, nas_cross_entropy(f->g, y, labels), NAS_MASK(NAS_GROUP_WEIGHTS));
}

Test(enas_macro, child_touches_only_its_weights, .timeout = 60)
{
    fix f;
    fix_make(&f, 4, 6, 8, 0.0f);
    nas_rng r;
    int reductions_seen = 0, reductions_skipped = 0;
    for (uint64_t seed = 1; seed <= 12; seed++) {
        nas_rng_seed(&r, 100 + seed);
        int arc[21];
        random_arc(&r, 6, arc);
        child_backward(&f, arc, &r);
        size_t used_floats = 0;
        for (int i = 0; i < nas_params_count(f.p); i++) {
            if (nas_params_group_of(f.p, i) != NAS_GROUP_WEIGHTS)
                continue;
            nas_tensor *t = nas_params_get(f.p, i);
            int want = expected_used(t->name, arc, 6), got = has_grad(t);
            if (want)
                used_floats += nas_tensor_numel(t);
            if (!strncmp(t->name, "macro.pool.", 11) && ends_with(t->name, "path1.w"))
                *(want ? &reductions_seen : &reductions_skipped) += 1;
            cr_expect(!got || want,
                      "seed %d: %s has a gradient but the child "
                      "does not use it",
                      (int)seed, t->name);
            if (want && (ends_with(t->name, ".w") || ends_with(t->name, ".dw") ||
                         ends_with(t->name, ".pw")))
                cr_expect(got, "seed %d: %s is used but has no gradient", (int)seed, t->name);
        }
        cr_expect_eq(nas__enas_macro.arc_params(f.self, f.p, arc), used_floats,
                     "seed %d: arc_params", (int)seed);
    }
    /* Both kinds of reduction sources occurred. */
    cr_expect_gt(reductions_seen, 0);
    cr_expect_gt(reductions_skipped, 0);
    fix_free(&f);
}

Test(enas_macro, children_sharing_an_op_share_its_tensor, .timeout = 60)
{
    fix f;
    fix_make(&f, 4, 6, 8, 0.0f);
    int a[21], b[21], c[21];
    nas_rng r;
    nas_rng_seed(&r, 7);
    random_arc(&r, 6, a);
    random_arc(&r, 6, b);
    memcpy(c, a, sizeof(c));
    /* Layer 2 (at arc[3]): sep_conv_5x5 in a and b, conv_3x3 in c; b also
     * differs from a at layer 0. */
    a[3] = b[3] = 3;
    c[3] = 0;
    a[0] = 1;
    b[0] = 2;
    nas_tensor *dw = nas_params_find(f.p, "macro.layer.2.sep_conv_5x5.dw");
    nas_tensor *w3 = nas_params_find(f.p, "macro.layer.2.conv_3x3.w");
    cr_assert(dw && w3);
    child_backward(&f, a, &r);
    cr_assert(has_grad(dw) && !has_grad(w3));
    child_backward(&f, b, &r);
    cr_assert(has_grad(dw) && !has_grad(w3));
    child_backward(&f, c, &r);
    cr_assert(!has_grad(dw) && has_grad(w3));

    /* Changing the tensor changes the outputs of a and b, not c's. */
    nas_rng xr;
    nas_rng_seed(&xr, 3);
    nas_graph_set_training(f.g, 0);
    nas_graph_set_grad(f.g, 0);
    nas_graph_reset(f.g);
    nas_tensor *x = input(&f, 2, &xr);
    float before[3][6], after[3][6];
    const int *arcs[3] = {a, b, c};
    for (int k = 0; k < 3; k++)
        memcpy(before[k], nas__enas_macro.forward(f.self, f.g, f.p, arcs[k], x, 0)->data,
               sizeof(before[k]));
    for (size_t k = 0; k < nas_tensor_numel(dw); k++)
        dw->data[k] *= -1.5f;
    for (int k = 0; k < 3; k++)
        memcpy(after[k], nas__enas_macro.forward(f.self, f.g, f.p, arcs[k], x, 0)->data,
               sizeof(after[k]));
    cr_assert_neq(memcmp(before[0], after[0], sizeof(before[0])), 0);
    cr_assert_neq(memcmp(before[1], after[1], sizeof(before[1])), 0);
    cr_assert_eq(memcmp(before[2], after[2], sizeof(before[2])), 0);
    fix_free(&f);
}

/* Finite differences over every weight of two tiny children (C 2, three
 * layers, so both reductions and skips from reduced sources occur), BN in
 * training mode without updating the running statistics so that every
 * forward is the same function. In float32 the loss (~1) rounds to
 * ~1e-7, i.e. ~2e-4 after dividing by 2h at the smaller h below. */
static double loss_of(fix *f, const int *arc, nas_tensor *x, int record)
{
    const int32_t labels[2] = {0, 2};
    nas_graph_reset(f->g);
    nas_graph_set_grad(f->g, record);
    nas_tensor *l =
        nas_cross_entropy(f->g, nas__enas_macro.forward(f->self, f->g, f->p, arc, x, 0), labels);
    nas_graph_set_grad(f->g, 1);
    if (record)
        nas_graph_backward(f->g, l, NAS_MASK(NAS_GROUP_WEIGHTS));
    return l->data[0];
}

Test(enas_macro, tiny_child_gradient_matches_fd, .timeout = 60)
{
    const int arcs[2][6] = {{0, 3, 1, 5, 1, 1}, {2, 1, 0, 4, 0, 1}};
    for (int k = 0; k < 2; k++) {
        fix f;
        fix_make(&f, 2, 3, 8, 0.0f);
        nas_graph *xg = nas_graph_new(1 << 16);
        nas_tensor *x = nas_tensor_new4(xg, 2, 1, 8, 8);
        nas_rng r;
        nas_rng_seed(&r, 11 + (uint64_t)k);
        for (size_t i = 0; i < nas_tensor_numel(x); i++)
            x->data[i] = nas_rng_normal(&r);
        nas_params_zero_grad(f.p, NAS_MASK_ALL);
        loss_of(&f, arcs[k], x, 1);
        const double atol = 1e-3, rtol = 2e-2;
        int bad = 0, checked = 0, big = 0, retried = 0;
        for (int i = 0; i < nas_params_count(f.p); i++) {
            if (nas_params_group_of(f.p, i) != NAS_GROUP_WEIGHTS)
                continue;
            nas_tensor *t = nas_params_get(f.p, i);
            for (size_t e = 0; e < nas_tensor_numel(t); e++) {
                double ana = t->grad[e], num = 0;
                int ok = 0;
                checked++;
                big += fabs(ana) > 1e-2;
                /* A mismatch at h = 1e-3 is retried at h / 4: a ReLU or
                 * max-pool kink crossed by the step, or the curvature of
                 * BN over a few values, fades as h shrinks; a wrong
                 * gradient does not. */
                for (int s = 0; s < 2 && !ok; s++) {
                    double h = s ? 2.5e-4 : 1e-3;
                    float v = t->data[e];
                    t->data[e] = v + (float)h;
                    double lp = loss_of(&f, arcs[k], x, 0);
                    t->data[e] = v - (float)h;
                    double lm = loss_of(&f, arcs[k], x, 0);
                    t->data[e] = v;
                    num = (lp - lm) / (2 * h);
                    ok = fabs(num - ana) <= atol + rtol * fmax(fabs(num), fabs(ana));
                    retried += s;
                }
                if (!ok) {
                    if (bad < 8)
                        cr_log_error("arc %d: %s[%zu]: analytic %.6g numeric %.6g", k, t->name, e,
                                     ana, num);
                    bad++;
                }
            }
        }
        cr_expect_leq(retried, checked / 50, "arc %d: %d retries", k, retried);
        cr_expect_eq(bad, 0, "arc %d: %d of %d differ", k, bad, checked);
        cr_expect_gt(big, checked / 10, "arc %d: only %d of %d gradients > 1e-2", k, big, checked);
        nas_graph_free(xg);
        fix_free(&f);
    }
}
