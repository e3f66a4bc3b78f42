// SPDX-License-Identifier: MIT
/*
 * gradcheck.h - finite-difference gradient checks for the engine's ops.
 *
 * For an op f and leaves x_k, the test loss is L = sum(f(x) * R) with a
 * fixed random R, so every output element contributes with its own weight.
 * The analytic gradient comes from nas_graph_backward; the numeric one is
 * the central difference (L(x + h e_i) - L(x - h e_i)) / 2h with L summed in
 * double from the float32 forward.
 *
 * Tolerances, and why: with h = 1e-2, the float32 forward rounds each
 * output by about 6e-8 relative; L sums at most ~600 terms of size ~1, so
 * its rounding error is at most ~4e-5 in the worst case, i.e. ~2e-3 after
 * dividing by 2h (typically far less, errors are not aligned). The
 * truncation error of the central difference is h^2/6 f''' ~ 2e-5 for the
 * smooth ops at these input scales. Hence |a - n| <= 3e-3 + 1e-2 max(|a|,|n|).
 * Non-smooth ops (relu, max pooling) get inputs kept at least 0.05 > 2h
 * away from their kinks, so the difference never crosses one.
 */
#ifndef NAS_TESTS_GRADCHECK_H
#define NAS_TESTS_GRADCHECK_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>

#include "nas.h"

#define GC_H 1e-2
#define GC_ATOL 3e-3
#define GC_RTOL 1e-2
#define GC_MAX_PER_INPUT 400 /* elements checked per input (sampled) */

typedef nas_tensor *(*gc_fn)(nas_graph *g, nas_tensor **in, void *ctx);

/* Fill with U(-a, a), kept at least `gap` away from 0 (relu kinks). */
static inline void gc_fill(nas_tensor *t, nas_rng *r, float a, float gap)
{
    size_t n = nas_tensor_numel(t);
    for (size_t i = 0; i < n; i++) {
        float v = (2.0f * nas_rng_uniform(r) - 1.0f) * a;
        if (fabsf(v) < gap)
            v = v < 0 ? -gap - fabsf(v) : gap + fabsf(v);
        t->data[i] = v;
    }
}

/* Distinct values spaced by `gap` in a random order (max pooling ties). */
static inline void gc_fill_distinct(nas_tensor *t, nas_rng *r, float gap)
{
    int n = (int)nas_tensor_numel(t);
    int *perm = malloc((size_t)n * sizeof(int));
    for (int i = 0; i < n; i++)
        perm[i] = i;
    nas_rng_shuffle(r, perm, n);
    for (int i = 0; i < n; i++)
        t->data[i] = (float)(perm[i] - n / 2) * gap;
    free(perm);
}

static inline double gc_loss(const nas_tensor *y, const float *w)
{
    double s = 0.0;
    size_t n = nas_tensor_numel(y);
    for (size_t i = 0; i < n; i++)
        s += (double)y->data[i] * w[i];
    return s;
}

/* Checks d L / d in[k] for every k; returns the number of mismatches and
 * reports each of the first few. `training` is the graph mode; the graph's
 * rng is reseeded before every forward so dropout draws the same mask. */
static inline int gradcheck(const char *name, gc_fn f, void *ctx, nas_tensor **in, int nin,
                            int training)
{
    nas_graph *g = nas_graph_new(1 << 20);
    nas_rng dr, wr;
    nas_graph_set_training(g, training);
    nas_graph_set_rng(g, &dr);

    nas_rng_seed(&dr, 99);
    nas_tensor *y = f(g, in, ctx);
    size_t ny = nas_tensor_numel(y);
    float *w = malloc(ny * sizeof(float));
    nas_rng_seed(&wr, 7);
    for (size_t i = 0; i < ny; i++)
        w[i] = 2.0f * nas_rng_uniform(&wr) - 1.0f;
    nas_tensor *wt = nas_tensor_new(g, y->ndim, y->shape);
    memcpy(wt->data, w, ny * sizeof(float));
    for (int k = 0; k < nin; k++)
        memset(in[k]->grad, 0, nas_tensor_numel(in[k]) * sizeof(float));
    nas_graph_backward(g, nas_sum(g, nas_mul(g, y, wt)), NAS_MASK_ALL);

    int bad = 0;
    nas_rng pick;
    nas_rng_seed(&pick, 3);
    for (int k = 0; k < nin; k++) {
        size_t n = nas_tensor_numel(in[k]);
        size_t step = n > GC_MAX_PER_INPUT ? n / GC_MAX_PER_INPUT : 1;
        for (size_t i = nas_rng_below(&pick, (uint32_t)step); i < n; i += step) {
            float v = in[k]->data[i];
            double l[2];
            for (int s = 0; s < 2; s++) {
                in[k]->data[i] = v + (s ? -GC_H : GC_H);
                nas_graph_reset(g);
                nas_graph_set_grad(g, 0);
                nas_rng_seed(&dr, 99);
                l[s] = gc_loss(f(g, in, ctx), w);
                nas_graph_set_grad(g, 1);
            }
            in[k]->data[i] = v;
            double num = (l[0] - l[1]) / (2 * GC_H);
            double ana = in[k]->grad[i];
            double tol = GC_ATOL + GC_RTOL * fmax(fabs(num), fabs(ana));
            if (!(fabs(num - ana) <= tol)) {
                if (bad < 5)
                    cr_log_error("%s: input %d elem %zu: analytic %.6g numeric %.6g", name, k, i,
                                 ana, num);
                bad++;
            }
        }
    }
    free(w);
    nas_graph_free(g);
    return bad;
}

#endif
