// SPDX-License-Identifier: MIT
/*
 * test_graph.c - the arena, the RNG, the parameter store and the tape:
 * backward limited to one group, accumulation, repeated backward, and
 * same seed + same thread count giving the same numbers.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "nas.h"

Test(arena, reset_reuses_memory)
{
    nas_arena *a = nas_arena_new(4096);
    void *p1 = nas_arena_alloc(a, 100);
    cr_assert(((uintptr_t)p1 & 63) == 0, "64-byte aligned");
    nas_arena_alloc(a, 10000); /* bigger than a chunk */
    size_t used = nas_arena_used(a);
    cr_assert(used >= 10100);
    nas_arena_reset(a);
    cr_assert_eq(nas_arena_used(a), 0);
    void *p2 = nas_arena_alloc(a, 100);
    cr_assert_eq(p1, p2, "reset rewinds to the first chunk");
    cr_assert(nas_arena_peak(a) >= used);
    nas_arena_free(a);
    nas_arena_free(NULL);
}

Test(rng, deterministic_and_restorable)
{
    nas_rng a, b;
    nas_rng_seed(&a, 42);
    nas_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(nas_rng_u64(&a), nas_rng_u64(&b));
    nas_rng saved = a;
    float x = nas_rng_normal(&a);
    a = saved;
    cr_assert_eq(nas_rng_normal(&a), x, "saved state replays the sequence");

    /* Moments of the normal and uniform draws. */
    double s = 0, s2 = 0, u = 0;
    int counts[10] = {0};
    for (int i = 0; i < 100000; i++) {
        double v = nas_rng_normal(&a);
        s += v, s2 += v * v;
        u += nas_rng_uniform(&a);
        counts[nas_rng_below(&a, 10)]++;
    }
    cr_expect(fabs(s / 1e5) < 0.02 && fabs(s2 / 1e5 - 1) < 0.02);
    cr_expect(fabs(u / 1e5 - 0.5) < 0.01);
    for (int i = 0; i < 10; i++)
        cr_expect(counts[i] > 9500 && counts[i] < 10500);
}

Test(params, layout_and_groups)
{
    nas_params *p = nas_params_new();
    int s1[2] = {3, 5}, s2[1] = {7}, s3[4] = {2, 2, 3, 3};
    int w1 = nas_params_add(p, "stem.w", NAS_GROUP_WEIGHTS, NAS_INIT_KAIMING, 1.0f, 2, s1);
    int a1 = nas_params_add(p, "alpha.normal", NAS_GROUP_ARCH, NAS_INIT_NORMAL, 1e-3f, 1, s2);
    int w2 = nas_params_add(p, "cells.0.conv.w", NAS_GROUP_WEIGHTS, NAS_INIT_ONE, 1.0f, 4, s3);
    cr_assert_eq(nas_params_add(p, "stem.w", 0, NAS_INIT_ZERO, 0, 2, s1), NAS_EINVAL);
    nas_rng r;
    nas_rng_seed(&r, 1);
    cr_assert_eq(nas_params_alloc(p, &r), NAS_OK);
    cr_assert_eq(nas_params_count(p), 3);
    cr_assert_eq(nas_params_find(p, "cells.0.conv.w"), nas_params_get(p, w2));
    cr_assert_null(nas_params_find(p, "nope"));

    float *data, *grad;
    size_t n;
    nas_params_group(p, NAS_GROUP_WEIGHTS, &data, &grad, NULL, NULL, &n);
    cr_assert(n >= 15 + 36);
    cr_assert_eq(nas_params_get(p, w1)->data, data, "group is one flat range");
    cr_assert(nas_params_get(p, w2)->data >= data && nas_params_get(p, w2)->data < data + n);
    float b = 1.0f / sqrtf(5.0f);
    for (int i = 0; i < 15; i++)
        cr_assert(fabsf(nas_params_get(p, w1)->data[i]) <= b);
    for (int i = 0; i < 36; i++)
        cr_assert_eq(nas_params_get(p, w2)->data[i], 1.0f);
    for (int i = 0; i < 7; i++)
        cr_assert(fabsf(nas_params_get(p, a1)->data[i]) < 1e-2f);
    nas_params_free(p);
    nas_params_free(NULL);
}

/* y = sum(scale_by(relu-free linear(x, W), alpha, 1)): gradients reach
 * only the groups asked for. */
Test(graph, backward_limited_to_group)
{
    nas_params *p = nas_params_new();
    int sw[2] = {2, 3}, sa[1] = {3};
    int iw = nas_params_add(p, "w", NAS_GROUP_WEIGHTS, NAS_INIT_ONE, 1, 2, sw);
    int ia = nas_params_add(p, "alpha", NAS_GROUP_ARCH, NAS_INIT_ONE, 1, 1, sa);
    nas_rng r;
    nas_rng_seed(&r, 1);
    nas_params_alloc(p, &r);
    nas_tensor *w = nas_params_get(p, iw), *al = nas_params_get(p, ia);
    al->data[1] = 2.0f;

    nas_graph *g = nas_graph_new(1 << 16);
    int sx[2] = {1, 3};
    nas_tensor *x = nas_tensor_new(g, 2, sx);
    x->data[0] = 1, x->data[1] = 2, x->data[2] = 3;
    nas_tensor *loss = nas_sum(g, nas_scale_by(g, nas_linear(g, x, w, NULL), al, 1));
    cr_assert_float_eq(loss->data[0], 2.0f * 12.0f, 1e-6);

    nas_graph_backward(g, loss, NAS_MASK(NAS_GROUP_ARCH));
    cr_assert_float_eq(al->grad[1], 12.0f, 1e-6);
    cr_assert_eq(al->grad[0], 0.0f);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(w->grad[i], 0.0f, "weights untouched by an arch-only backward");

    /* A second backward over the same tape, now for the weights: the arch
     * gradient accumulates only if asked; intermediates start clean. */
    nas_graph_backward(g, loss, NAS_MASK(NAS_GROUP_WEIGHTS));
    cr_assert_float_eq(al->grad[1], 12.0f, 1e-6);
    for (int i = 0; i < 3; i++)
        cr_assert_float_eq(w->grad[i], 2.0f * x->data[i], 1e-6);

    nas_graph_backward(g, loss, NAS_MASK_ALL);
    cr_assert_float_eq(al->grad[1], 24.0f, 1e-6, "gradients accumulate");
    cr_assert_float_eq(w->grad[0], 4.0f, 1e-6);
    nas_params_zero_grad(p, NAS_MASK(NAS_GROUP_ARCH));
    cr_assert_eq(al->grad[1], 0.0f);
    cr_assert_float_eq(w->grad[0], 4.0f, 1e-6);
    nas_graph_free(g);
    nas_params_free(p);
}

Test(graph, no_tape_when_grad_disabled)
{
    nas_graph *g = nas_graph_new(1 << 16);
    int s[1] = {4};
    nas_tensor *x = nas_tensor_leaf(g, 1, s, NAS_GROUP_INPUT);
    nas_graph_set_grad(g, 0);
    nas_tensor *y = nas_tanh(g, x);
    cr_assert_eq(y->groups, 0u);
    nas_graph_set_grad(g, 1);
    nas_tensor *z = nas_tanh(g, x);
    cr_assert_eq(z->groups, NAS_MASK(NAS_GROUP_INPUT));
    nas_graph_free(g);
}

/* One small conv net step, run twice from the same seed: bit-identical,
 * with 1 and with 2 threads. */
static void run_net(int threads, float *out_loss, float *out_grad, int ngrad)
{
    nas_set_threads(threads);
    nas_rng r;
    nas_rng_seed(&r, 77);
    nas_params *p = nas_params_new();
    int sw[4] = {8, 3, 3, 3}, sd[4] = {8, 1, 3, 3}, sl[2] = {10, 8};
    int iw = nas_params_add(p, "c1.w", 0, NAS_INIT_KAIMING, 1, 4, sw);
    int id = nas_params_add(p, "dw.w", 0, NAS_INIT_KAIMING, 1, 4, sd);
    int il = nas_params_add(p, "fc.w", 0, NAS_INIT_KAIMING, 1, 2, sl);
    nas_params_alloc(p, &r);
    nas_graph *g = nas_graph_new(1 << 20);
    nas_tensor *x = nas_tensor_new4(g, 6, 3, 12, 12);
    for (size_t i = 0; i < nas_tensor_numel(x); i++)
        x->data[i] = nas_rng_normal(&r);
    int32_t y[6] = {1, 2, 3, 4, 5, 6};
    nas_tensor *h = nas_relu(g, nas_conv2d(g, x, nas_params_get(p, iw), NULL, 1, 1, 1, 1));
    h = nas_conv2d(g, h, nas_params_get(p, id), NULL, 1, 2, 2, 8);
    h = nas_batchnorm(g, h, NULL, NULL, NULL, NULL, 0.1f, 1e-5f);
    nas_tensor *loss = nas_cross_entropy(
        g, nas_linear(g, nas_global_avgpool(g, h), nas_params_get(p, il), NULL), y);
    nas_graph_backward(g, loss, NAS_MASK_ALL);
    *out_loss = loss->data[0];
    float *gr;
    nas_params_group(p, 0, NULL, &gr, NULL, NULL, NULL);
    memcpy(out_grad, gr, (size_t)ngrad * sizeof(float));
    nas_graph_free(g);
    nas_params_free(p);
    nas_set_threads(1);
}

Test(graph, deterministic_per_thread_count)
{
    float l1, l2, g1[300], g2[300];
    for (int t = 1; t <= 2; t++) {
        run_net(t, &l1, g1, 300);
        run_net(t, &l2, g2, 300);
        cr_assert_eq(l1, l2, "%d threads: same loss", t);
        cr_assert_eq(memcmp(g1, g2, sizeof(g1)), 0, "%d threads: same gradients", t);
    }
    run_net(1, &l1, g1, 300);
    run_net(2, &l2, g2, 300);
    cr_assert_float_eq(l1, l2, 1e-5, "1 vs 2 threads agree up to rounding");
    for (int i = 0; i < 300; i++)
        cr_assert_float_eq(g1[i], g2[i], 1e-4);
}

/* y = op(h) for the ops whose backward overwrites a just-allocated input
 * gradient instead of adding to a zeroed one: depthwise conv (taps over
 * padded dy: stride 1; scattered: stride 2, and stride 1 with pad > dil
 * (k - 1)) and pool_bn (max and avg, stride 1 and 2). */
static nas_tensor *overwriting_op(nas_graph *g, nas_tensor *h, nas_tensor *const *w, int op)
{
    switch (op) {
    case 0: return nas_conv2d(g, h, w[0], NULL, 1, 1, 1, 8);
    case 1: return nas_conv2d(g, h, w[1], NULL, 2, 4, 2, 8);
    case 2: return nas_conv2d(g, h, w[0], NULL, 1, 3, 1, 8);
    default: return nas_pool_bn(g, h, (op - 3) & 1, 1 + (op - 3) / 2, NULL, NULL, 0.1f, 1e-5f);
    }
}

/* The first write into a gradient stands for its zeroing where the op
 * overwrites it whole: on an arena dirtied with NaN, x -> relu -> op gives
 * x exactly the gradient that op gives a leaf (zeroed, then added to). */
Test(graph, first_write_overwrites_gradient)
{
    nas_graph *lg = nas_graph_new(1 << 20);
    int xs[4] = {3, 8, 9, 7}, ws[2][4] = {{8, 1, 3, 3}, {8, 1, 5, 5}};
    nas_tensor *x = nas_tensor_leaf(lg, 4, xs, NAS_GROUP_INPUT);
    nas_tensor *w[2] = {nas_tensor_leaf(lg, 4, ws[0], NAS_GROUP_INPUT),
                        nas_tensor_leaf(lg, 4, ws[1], NAS_GROUP_INPUT)};
    size_t nx = nas_tensor_numel(x);
    for (size_t i = 0; i < nx; i++)
        x->data[i] = (float)((int)(i * 37 % 17) - 8) * 0.25f + 0.125f;
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < nas_tensor_numel(w[k]); i++)
            w[k]->data[i] = (float)((int)(i * 5 % 11) - 5) * 0.1f;
    for (int op = 0; op < 7; op++) {
        nas_graph *g = nas_graph_new(1 << 22), *g2 = nas_graph_new(1 << 20);
        int big[1] = {1 << 18};
        nas_tensor *d = nas_tensor_new(g, 1, big);
        for (int i = 0; i < big[0]; i++)
            d->data[i] = NAN;
        nas_graph_reset(g);
        memset(x->grad, 0, nx * sizeof(float));
        nas_tensor *h = nas_relu(g, x);
        nas_tensor *y = overwriting_op(g, h, w, op);
        nas_tensor *m = nas_tensor_new(g, y->ndim, y->shape);
        for (size_t i = 0; i < nas_tensor_numel(y); i++)
            m->data[i] = (float)((int)(i % 7) - 3);
        nas_graph_backward(g, nas_sum(g, nas_mul(g, y, m)), NAS_MASK_ALL);

        nas_tensor *hl = nas_tensor_leaf(g2, 4, xs, NAS_GROUP_INPUT);
        memcpy(hl->data, h->data, nx * sizeof(float));
        memset(hl->grad, 0, nx * sizeof(float));
        nas_tensor *y2 = overwriting_op(g2, hl, w, op);
        nas_graph_backward(g2, nas_sum(g2, nas_mul(g2, y2, m)), NAS_MASK_ALL);
        for (size_t i = 0; i < nx; i++) {
            float want = x->data[i] > 0.0f ? hl->grad[i] : 0.0f;
            cr_assert(x->grad[i] == want, "op %d dx %zu: %g, want %g", op, i, (double)x->grad[i],
                      (double)want);
        }
        nas_graph_free(g2);
        nas_graph_free(g);
    }
    nas_graph_free(lg);
}
