// SPDX-License-Identifier: MIT
/*
 * test_optim.c - SGD, Adam, the cosine schedule and gradient clipping
 * against the formulas of nas.h evaluated independently in double.
 *
 * The one design decision to know: the reference is recomputed here per
 * element from the documented (PyTorch) update rule, in double and without
 * the engine's kernels, over several steps with a different gradient at
 * each step; the engine's float result must agree to float rounding.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nas.h"

#define STEPS 3

/* Group 0: "a" (3,5) and "b" (7), padding between them in the flat range;
 * group 1: "c" (4), which the group-0 steps must not touch. */
static nas_params *make_store(void)
{
    nas_params *p = nas_params_new();
    nas_rng rng;
    nas_rng_seed(&rng, 42);
    cr_assert(p);
    cr_assert_geq(
        nas_params_add(p, "a", NAS_GROUP_WEIGHTS, NAS_INIT_NORMAL, 1.0f, 2, (int[]){3, 5}), 0);
    cr_assert_geq(nas_params_add(p, "b", NAS_GROUP_WEIGHTS, NAS_INIT_UNIFORM, 0.5f, 1, (int[]){7}),
                  0);
    cr_assert_geq(nas_params_add(p, "c", NAS_GROUP_ARCH, NAS_INIT_NORMAL, 1.0f, 1, (int[]){4}), 0);
    cr_assert_eq(nas_params_alloc(p, &rng), NAS_OK);
    return p;
}

/* Gradient of element i of a tensor at step s: varied, both signs. */
static float grad_at(int tensor, int i, int s)
{
    return (float)(0.3 * sin(1.7 * i + 0.9 * s + tensor) + 0.05 * (s + 1));
}

/* Gradients of step s for every tensor of the groups in mask. */
static void set_grads(nas_params *p, int s, uint32_t mask)
{
    for (int k = 0; k < nas_params_count(p); k++) {
        if (!(mask & NAS_MASK(nas_params_group_of(p, k))))
            continue;
        nas_tensor *t = nas_params_get(p, k);
        for (size_t i = 0; i < nas_tensor_numel(t); i++)
            t->grad[i] = grad_at(k, (int)i, s);
    }
}

/* The four planes of group 1, to check they do not move. */
static void snapshot_group(nas_params *p, int group, float *out)
{
    float *d, *g, *m1, *m2;
    size_t n;
    nas_params_group(p, group, &d, &g, &m1, &m2, &n);
    memcpy(out, d, n * sizeof(float));
    memcpy(out + n, g, n * sizeof(float));
    memcpy(out + 2 * n, m1, n * sizeof(float));
    memcpy(out + 3 * n, m2, n * sizeof(float));
}

static void expect_group_unchanged(nas_params *p, int group, const float *before)
{
    float *after;
    size_t n;
    nas_params_group(p, group, NULL, NULL, NULL, NULL, &n);
    after = malloc(4 * n * sizeof(float) + 1);
    snapshot_group(p, group, after);
    cr_expect(memcmp(before, after, 4 * n * sizeof(float)) == 0, "group %d changed", group);
    free(after);
}

/* Floats of the flat group range that belong to no tensor must stay 0. */
static void expect_padding_zero(nas_params *p, int group)
{
    float *planes[4];
    size_t n;
    nas_params_group(p, group, &planes[0], &planes[1], &planes[2], &planes[3], &n);
    char *covered = calloc(n, 1);
    for (int k = 0; k < nas_params_count(p); k++) {
        if (nas_params_group_of(p, k) != group)
            continue;
        nas_tensor *t = nas_params_get(p, k);
        size_t off = (size_t)(t->data - planes[0]);
        memset(covered + off, 1, nas_tensor_numel(t));
    }
    for (int pl = 0; pl < 4; pl++)
        for (size_t i = 0; i < n; i++)
            if (!covered[i])
                cr_expect_eq(planes[pl][i], 0.0f, "plane %d pad %zu", pl, i);
    free(covered);
}

static void expect_close(float got, double want, const char *what, int k, size_t i)
{
    double tol = 1e-5 * (1.0 + fabs(want));
    cr_expect(fabs(got - want) <= tol, "%s: tensor %d [%zu]: %.9g vs %.9g", what, k, i, got, want);
}

static void run_sgd(int nesterov)
{
    nas_params *p = make_store();
    nas_sgd opt = {
        .lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.01f, .nesterov = nesterov, .steps = 0};
    size_t n1;
    nas_params_group(p, NAS_GROUP_ARCH, NULL, NULL, NULL, NULL, &n1);
    float *g1 = malloc(4 * n1 * sizeof(float));
    set_grads(p, 0, NAS_MASK_ALL);
    snapshot_group(p, NAS_GROUP_ARCH, g1);

    /* Reference state in double for the two group-0 tensors. */
    double w[2][16], buf[2][16];
    for (int k = 0; k < 2; k++) {
        nas_tensor *t = nas_params_get(p, k);
        for (size_t i = 0; i < nas_tensor_numel(t); i++)
            w[k][i] = t->data[i];
    }
    const double lr = 0.1, mu = 0.9, wd = 0.01;
    for (int s = 0; s < STEPS; s++) {
        set_grads(p, s, NAS_MASK(NAS_GROUP_WEIGHTS));
        nas_sgd_step(&opt, p, NAS_GROUP_WEIGHTS);
        for (int k = 0; k < 2; k++) {
            nas_tensor *t = nas_params_get(p, k);
            for (size_t i = 0; i < nas_tensor_numel(t); i++) {
                double d = (double)grad_at(k, (int)i, s) + wd * w[k][i];
                buf[k][i] = s == 0 ? d : mu * buf[k][i] + d;
                w[k][i] -= lr * (nesterov ? d + mu * buf[k][i] : buf[k][i]);
            }
        }
    }
    cr_expect_eq(opt.steps, STEPS);
    for (int k = 0; k < 2; k++) {
        nas_tensor *t = nas_params_get(p, k);
        float *m1 = nas_params_moment1(p, k);
        for (size_t i = 0; i < nas_tensor_numel(t); i++) {
            expect_close(t->data[i], w[k][i], "sgd w", k, i);
            expect_close(m1[i], buf[k][i], "sgd buf", k, i);
        }
    }
    expect_group_unchanged(p, NAS_GROUP_ARCH, g1);
    expect_padding_zero(p, NAS_GROUP_WEIGHTS);
    free(g1);
    nas_params_free(p);
}

Test(optim, sgd_momentum_wd)
{
    run_sgd(0);
}

Test(optim, sgd_nesterov)
{
    run_sgd(1);
}

Test(optim, sgd_first_step_sets_buffer)
{
    /* A stale moment1 (e.g. from another optimizer) must not leak into
     * the first step: buf = d, w -= lr d. */
    nas_params *p = make_store();
    nas_sgd opt = {.lr = 0.5f, .momentum = 0.9f};
    nas_tensor *c = nas_params_get(p, 2);
    float *m1 = nas_params_moment1(p, 2);
    float w0[4];
    for (int i = 0; i < 4; i++) {
        m1[i] = 100.0f;
        c->grad[i] = (float)(i + 1);
        w0[i] = c->data[i];
    }
    nas_sgd_step(&opt, p, NAS_GROUP_ARCH);
    for (int i = 0; i < 4; i++) {
        cr_expect_eq(m1[i], (float)(i + 1));
        cr_expect_eq(c->data[i], w0[i] - 0.5f * (float)(i + 1));
    }
    nas_params_free(p);
}

Test(optim, adam_with_weight_decay)
{
    nas_params *p = make_store();
    nas_adam opt = {.lr = 0.01f,
                    .beta1 = 0.9f,
                    .beta2 = 0.999f,
                    .eps = 1e-8f,
                    .weight_decay = 0.05f,
                    .steps = 0};
    size_t n1;
    nas_params_group(p, NAS_GROUP_ARCH, NULL, NULL, NULL, NULL, &n1);
    float *g1 = malloc(4 * n1 * sizeof(float));
    set_grads(p, 0, NAS_MASK_ALL);
    snapshot_group(p, NAS_GROUP_ARCH, g1);

    double w[2][16], m[2][16] = {{0}}, v[2][16] = {{0}};
    for (int k = 0; k < 2; k++) {
        nas_tensor *t = nas_params_get(p, k);
        for (size_t i = 0; i < nas_tensor_numel(t); i++)
            w[k][i] = t->data[i];
    }
    /* The float hyperparameters as the engine sees them. */
    const double lr = 0.01f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.05f;
    for (int s = 0; s < STEPS; s++) {
        set_grads(p, s, NAS_MASK(NAS_GROUP_WEIGHTS));
        nas_adam_step(&opt, p, NAS_GROUP_WEIGHTS);
        int t = s + 1;
        for (int k = 0; k < 2; k++) {
            nas_tensor *tt = nas_params_get(p, k);
            for (size_t i = 0; i < nas_tensor_numel(tt); i++) {
                double d = (double)grad_at(k, (int)i, s) + wd * w[k][i];
                m[k][i] = b1 * m[k][i] + (1 - b1) * d;
                v[k][i] = b2 * v[k][i] + (1 - b2) * d * d;
                double mh = m[k][i] / (1 - pow(b1, t));
                double vh = v[k][i] / (1 - pow(b2, t));
                w[k][i] -= lr * mh / (sqrt(vh) + eps);
            }
        }
    }
    cr_expect_eq(opt.steps, STEPS);
    for (int k = 0; k < 2; k++) {
        nas_tensor *t = nas_params_get(p, k);
        float *m1 = nas_params_moment1(p, k), *m2 = nas_params_moment2(p, k);
        for (size_t i = 0; i < nas_tensor_numel(t); i++) {
            expect_close(t->data[i], w[k][i], "adam w", k, i);
            expect_close(m1[i], m[k][i], "adam m", k, i);
            expect_close(m2[i], v[k][i], "adam v", k, i);
        }
    }
    expect_group_unchanged(p, NAS_GROUP_ARCH, g1);
    expect_padding_zero(p, NAS_GROUP_WEIGHTS);
    free(g1);
    nas_params_free(p);
}

Test(optim, adam_first_step_is_lr_sign)
{
    /* At t = 1 with eps tiny, the bias-corrected step is lr * sign(g):
     * this fails if steps is incremented after the bias corrections. */
    nas_params *p = make_store();
    nas_adam opt = {.lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-12f};
    nas_tensor *c = nas_params_get(p, 2);
    float w0[4];
    for (int i = 0; i < 4; i++) {
        c->grad[i] = i % 2 ? -2.0f : 3.0f;
        w0[i] = c->data[i];
    }
    nas_adam_step(&opt, p, NAS_GROUP_ARCH);
    for (int i = 0; i < 4; i++)
        cr_expect_float_eq(c->data[i], w0[i] - (i % 2 ? -0.01f : 0.01f), 1e-6f, "elem %d", i);
    nas_params_free(p);
}

Test(optim, cosine_lr)
{
    const float hi = 0.025f, lo = 0.001f;
    cr_expect_float_eq(nas_cosine_lr(hi, lo, 0, 50), hi, 1e-9f);
    cr_expect_float_eq(nas_cosine_lr(hi, lo, 25, 50), (hi + lo) / 2, 1e-8f);
    cr_expect_float_eq(nas_cosine_lr(hi, lo, 50, 50), lo, 1e-9f);
    double want = lo + (hi - lo) * (1 + cos(M_PI * 10 / 50)) / 2;
    cr_expect_float_eq(nas_cosine_lr(hi, lo, 10, 50), (float)want, 1e-8f);
    /* Monotone over the schedule. */
    for (int t = 1; t <= 50; t++)
        cr_expect_leq(nas_cosine_lr(hi, lo, t, 50), nas_cosine_lr(hi, lo, t - 1, 50));
}

Test(optim, clip_grad_norm)
{
    nas_params *p = make_store();
    set_grads(p, 1, NAS_MASK_ALL);
    float *g0, *g1;
    size_t n0, n1;
    nas_params_group(p, NAS_GROUP_WEIGHTS, NULL, &g0, NULL, NULL, &n0);
    nas_params_group(p, NAS_GROUP_ARCH, NULL, &g1, NULL, NULL, &n1);
    float *before0 = malloc(n0 * sizeof(float));
    float *before1 = malloc(n1 * sizeof(float));
    memcpy(before0, g0, n0 * sizeof(float));
    memcpy(before1, g1, n1 * sizeof(float));

    /* The norm over the whole group, both tensors. */
    double ss = 0;
    for (int k = 0; k < 2; k++) {
        nas_tensor *t = nas_params_get(p, k);
        for (size_t i = 0; i < nas_tensor_numel(t); i++)
            ss += (double)t->grad[i] * t->grad[i];
    }
    double norm = sqrt(ss);

    /* Below the limit: norm returned, nothing changes. */
    float got = nas_clip_grad_norm(p, NAS_GROUP_WEIGHTS, (float)norm * 2);
    cr_expect_float_eq(got, (float)norm, 1e-6f * (float)norm);
    cr_expect(memcmp(before0, g0, n0 * sizeof(float)) == 0);

    /* Above: scaled by max / (norm + 1e-6), the other group untouched. */
    const float max_norm = 0.5f;
    got = nas_clip_grad_norm(p, NAS_GROUP_WEIGHTS, max_norm);
    cr_expect_float_eq(got, (float)norm, 1e-6f * (float)norm);
    double scale = max_norm / (norm + 1e-6);
    double ss2 = 0;
    for (size_t i = 0; i < n0; i++) {
        cr_expect_float_eq(g0[i], (float)(before0[i] * scale), 1e-6f, "grad %zu", i);
        ss2 += (double)g0[i] * g0[i];
    }
    cr_expect_float_eq((float)sqrt(ss2), max_norm, 1e-5f);
    cr_expect(memcmp(before1, g1, n1 * sizeof(float)) == 0);

    /* A known vector: (3, 4, 0, 0) has norm 5. */
    nas_tensor *c = nas_params_get(p, 2);
    memcpy(c->grad, (float[]){3, 4, 0, 0}, 4 * sizeof(float));
    cr_expect_float_eq(nas_clip_grad_norm(p, NAS_GROUP_ARCH, 1.0f), 5.0f, 1e-6f);
    cr_expect_float_eq(c->grad[0], 0.6f, 1e-6f);
    cr_expect_float_eq(c->grad[1], 0.8f, 1e-6f);
    cr_expect_eq(c->grad[2], 0.0f);

    /* An empty group: norm 0, no crash. */
    cr_expect_eq(nas_clip_grad_norm(p, NAS_GROUP_CONTROLLER, 1.0f), 0.0f);
    free(before0);
    free(before1);
    nas_params_free(p);
}

Test(optim, empty_group_step_is_harmless)
{
    nas_params *p = make_store();
    nas_sgd sgd = {.lr = 0.1f, .momentum = 0.9f};
    nas_adam adam = {.lr = 0.1f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    nas_sgd_step(&sgd, p, NAS_GROUP_CONTROLLER);
    nas_adam_step(&adam, p, NAS_GROUP_CONTROLLER);
    cr_expect_eq(sgd.steps, 1);
    cr_expect_eq(adam.steps, 1);
    nas_params_free(p);
}
