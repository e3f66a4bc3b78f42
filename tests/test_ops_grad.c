// SPDX-License-Identifier: MIT
/*
 * test_ops_grad.c - a finite-difference gradient check for every op (see
 * gradcheck.h for the tolerances), plus forward golden checks against
 * direct loops written independently here; the blocks of several ops
 * (auxiliary head, LSTM cell) are in test_ops_grad_nn.c.
 */
#include "ops_fixture.h"

/* ------------------------------------------------------------ conv2d */

typedef struct {
    int stride, pad, dil, groups;
} conv_args;

static nas_tensor *f_conv(nas_graph *g, nas_tensor **in, void *ctx)
{
    conv_args *a = ctx;
    return nas_conv2d(g, in[0], in[1], in[2], a->stride, a->pad, a->dil, a->groups);
}

/* Direct 7-loop convolution: the independent reference. */
static void conv_ref(const nas_tensor *x, const nas_tensor *w, const nas_tensor *b,
                     const conv_args *a, nas_tensor *y)
{
    int n = x->shape[0], ci = x->shape[1], h = x->shape[2], wd = x->shape[3];
    int co = w->shape[0], k = w->shape[2], ho = y->shape[2], wo = y->shape[3];
    int cig = ci / a->groups, cog = co / a->groups;
    for (int i = 0; i < n; i++)
        for (int o = 0; o < co; o++)
            for (int oh = 0; oh < ho; oh++)
                for (int ow = 0; ow < wo; ow++) {
                    double s = b ? b->data[o] : 0.0;
                    int gi = o / cog;
                    for (int c = 0; c < cig; c++)
                        for (int kh = 0; kh < k; kh++)
                            for (int kw = 0; kw < k; kw++) {
                                int ih = oh * a->stride - a->pad + kh * a->dil;
                                int iw = ow * a->stride - a->pad + kw * a->dil;
                                if (ih < 0 || ih >= h || iw < 0 || iw >= wd)
                                    continue;
                                s += (double)x->data[((i * ci + gi * cig + c) * h + ih) * wd + iw] *
                                     w->data[((o * cig + c) * k + kh) * k + kw];
                            }
                    y->data[((i * co + o) * ho + oh) * wo + ow] = (float)s;
                }
}

static void check_conv(int n, int ci, int co, int hw, int k, conv_args a, int bias)
{
    nas_tensor *in[3];
    in[0] = leaf4(n, ci, hw, hw, 1.0f, 0.0f);
    in[1] = leaf4(co, ci / a.groups, k, k, 0.5f, 0.0f);
    in[2] = bias ? leaf1(co, 0.5f) : NULL;
    char name[128];
    snprintf(name, sizeof(name), "conv %d->%d k%d s%d p%d d%d g%d", ci, co, k, a.stride, a.pad,
             a.dil, a.groups);

    nas_graph *g = nas_graph_new(1 << 20);
    nas_tensor *y = f_conv(g, in, &a);
    nas_tensor *ref = nas_tensor_new(g, 4, y->shape);
    conv_ref(in[0], in[1], in[2], &a, ref);
    for (size_t i = 0; i < nas_tensor_numel(y); i++)
        cr_assert_float_eq(y->data[i], ref->data[i], 1e-4, "%s fwd elem %zu", name, i);
    nas_graph_free(g);

    cr_expect_eq(gradcheck(name, f_conv, &a, in, bias ? 3 : 2, 1), 0, "%s", name);
}

Test(ops, conv_dense)
{
    check_conv(2, 3, 4, 7, 3, (conv_args){1, 1, 1, 1}, 1);
    check_conv(2, 3, 4, 7, 3, (conv_args){2, 1, 1, 1}, 0);
    check_conv(2, 3, 5, 8, 5, (conv_args){1, 2, 1, 1}, 0);
    check_conv(2, 4, 6, 7, 3, (conv_args){1, 2, 2, 1}, 0);  /* dilated */
    check_conv(2, 6, 4, 6, 1, (conv_args){1, 0, 1, 1}, 1);  /* pointwise */
    check_conv(2, 6, 4, 6, 1, (conv_args){2, 0, 1, 1}, 0);  /* strided 1x1 */
    check_conv(1, 3, 8, 9, 3, (conv_args){3, 0, 1, 1}, 0);  /* stride 3 */
    check_conv(2, 3, 4, 6, 3, (conv_args){1, 3, 1, 1}, 0);  /* pad > dil (k-1) */
    check_conv(1, 2, 3, 19, 3, (conv_args){1, 1, 1, 1}, 0); /* im2col: 16 + 3 */
    check_conv(1, 2, 3, 20, 5, (conv_args){1, 4, 2, 1}, 1); /* 16 + 4, dilated */
}

/* Pointwise convolutions run their per-image GEMMs in ops/gemm_small.c
 * (tiles of 4 rows x 4 vectors of 16, dot-product tiles of 4 x 4):
 * forward, dx and dw against direct loops in double, on channel counts
 * and plane sizes that leave every kind of tail (1-3 rows, 1-3 vectors,
 * a masked vector of 1-15 floats, K below and above 16). */
Test(ops, conv_pointwise_tiles)
{
    static const int ch[] = {1, 3, 4, 5, 8, 9, 20};
    static const int hws[] = {1, 4, 5, 7, 9, 11, 17};
    for (size_t a = 0; a < sizeof(ch) / sizeof(ch[0]); a++)
        for (size_t b = 0; b < sizeof(ch) / sizeof(ch[0]); b += 2)
            for (size_t h = 0; h < sizeof(hws) / sizeof(hws[0]); h++) {
                int ci = ch[a], co = ch[(a + b) % 7], hw = hws[h], n = 2, P = hw * hw;
                nas_tensor *x = leaf4(n, ci, hw, hw, 1.0f, 0.0f);
                nas_tensor *w = leaf4(co, ci, 1, 1, 0.5f, 0.0f);
                memset(x->grad, 0, nas_tensor_numel(x) * sizeof(float));
                memset(w->grad, 0, nas_tensor_numel(w) * sizeof(float));
                nas_graph *g = nas_graph_new(1 << 20);
                nas_tensor *y = nas_conv2d(g, x, w, NULL, 1, 0, 1, 1);
                nas_tensor *dy = nas_tensor_new(g, 4, y->shape);
                for (size_t i = 0; i < nas_tensor_numel(dy); i++)
                    dy->data[i] = (float)((int)(i * 7 % 11) - 5) * 0.25f;
                nas_graph_backward(g, nas_sum(g, nas_mul(g, y, dy)), NAS_MASK_ALL);
                for (int i = 0; i < n; i++)
                    for (int p = 0; p < P; p++) {
                        for (int o = 0; o < co; o++) {
                            double r = 0.0;
                            for (int c = 0; c < ci; c++)
                                r += (double)w->data[o * ci + c] * x->data[(i * ci + c) * P + p];
                            cr_assert_float_eq(y->data[(i * co + o) * P + p], r,
                                               1e-5 * (1.0 + fabs(r)), "y ci %d co %d hw %d", ci,
                                               co, hw);
                        }
                        for (int c = 0; c < ci; c++) {
                            double r = 0.0;
                            for (int o = 0; o < co; o++)
                                r += (double)w->data[o * ci + c] * dy->data[(i * co + o) * P + p];
                            cr_assert_float_eq(x->grad[(i * ci + c) * P + p], r,
                                               1e-5 * (1.0 + fabs(r)), "dx ci %d co %d hw %d", ci,
                                               co, hw);
                        }
                    }
                for (int o = 0; o < co; o++)
                    for (int c = 0; c < ci; c++) {
                        double r = 0.0;
                        for (int i = 0; i < n; i++)
                            for (int p = 0; p < P; p++)
                                r += (double)dy->data[(i * co + o) * P + p] *
                                     x->data[(i * ci + c) * P + p];
                        cr_assert_float_eq(w->grad[o * ci + c], r, 1e-4 * (1.0 + fabs(r)),
                                           "dw ci %d co %d hw %d", ci, co, hw);
                    }
                nas_graph_free(g);
            }
}

Test(ops, conv_grouped)
{
    check_conv(2, 4, 6, 6, 3, (conv_args){1, 1, 1, 2}, 1);
}

Test(ops, conv_depthwise)
{
    check_conv(2, 3, 3, 7, 3, (conv_args){1, 1, 1, 3}, 0);
    check_conv(2, 3, 3, 8, 5, (conv_args){1, 2, 1, 3}, 0);
    check_conv(2, 3, 3, 8, 3, (conv_args){1, 2, 2, 3}, 0); /* dil_conv_3x3 */
    check_conv(2, 3, 3, 9, 5, (conv_args){1, 4, 2, 3}, 1); /* dil_conv_5x5 */
    check_conv(2, 3, 3, 8, 3, (conv_args){2, 1, 1, 3}, 0); /* reduction */
    check_conv(2, 2, 2, 9, 5, (conv_args){2, 4, 2, 2}, 0);
    check_conv(2, 3, 3, 9, 7, (conv_args){1, 3, 1, 3}, 0);  /* 7x7: generic taps */
    check_conv(2, 3, 3, 6, 3, (conv_args){1, 3, 1, 3}, 1);  /* pad > dil (k-1) */
    check_conv(1, 3, 3, 18, 5, (conv_args){1, 4, 2, 3}, 0); /* partial-sum tail */
    check_conv(2, 4, 4, 32, 3, (conv_args){1, 1, 1, 4}, 0); /* DARTS-sized plane */
}

/* Strided depthwise convs: every kernel size, dilation and odd/even map
 * of a DARTS reduction cell, stride 3, and no padding. */
Test(ops, conv_depthwise_strided)
{
    check_conv(2, 3, 3, 7, 3, (conv_args){2, 1, 1, 3}, 0);  /* odd map */
    check_conv(2, 3, 3, 8, 5, (conv_args){2, 2, 1, 3}, 0);  /* sep_conv_5x5 */
    check_conv(2, 3, 3, 8, 3, (conv_args){2, 2, 2, 3}, 0);  /* dil_conv_3x3 */
    check_conv(2, 3, 3, 9, 5, (conv_args){2, 4, 2, 3}, 1);  /* dil_conv_5x5 */
    check_conv(1, 2, 2, 11, 3, (conv_args){3, 1, 1, 2}, 0); /* stride 3 */
    check_conv(1, 2, 2, 10, 5, (conv_args){3, 2, 2, 2}, 0); /* stride 3, dil 2 */
    check_conv(2, 2, 2, 9, 7, (conv_args){2, 3, 1, 2}, 0);  /* 7x7: generic taps */
    check_conv(1, 2, 2, 8, 3, (conv_args){2, 0, 1, 2}, 0);  /* no padding */
    check_conv(1, 2, 2, 28, 3, (conv_args){2, 1, 1, 2}, 0); /* DARTS-sized plane */
    check_conv(1, 2, 2, 28, 5, (conv_args){2, 4, 2, 2}, 0);
}

/* Depthwise kernels run on blocks of 16 planes (images x channels) in
 * vector lanes, transposed 16 x 16 pixels at a time (conv_dw.c): full
 * blocks (16, 32 planes) and a tail block (21 = 16 + 5 planes, channel
 * counts 7 and 5 that are not a multiple of the block and straddle it),
 * planes whose pixel count leaves a tail of 1-15 (7 x 7, 9 x 9, 5 x 5),
 * every stride, kernel and dilation of the DARTS and ENAS cells, and the
 * stride-1 pad > dil (k - 1) case that scatters dx. */
Test(ops, conv_depthwise_blocks)
{
    check_conv(2, 8, 8, 7, 3, (conv_args){1, 1, 1, 8}, 0);    /* 16 planes, 49 px */
    check_conv(3, 7, 7, 8, 5, (conv_args){1, 2, 1, 7}, 1);    /* 21 planes */
    check_conv(2, 8, 8, 9, 3, (conv_args){1, 2, 2, 8}, 0);    /* dil_conv_3x3 */
    check_conv(4, 5, 5, 7, 5, (conv_args){1, 4, 2, 5}, 0);    /* dil_conv_5x5, 20 planes */
    check_conv(2, 8, 8, 8, 3, (conv_args){2, 1, 1, 8}, 0);    /* reduction */
    check_conv(3, 7, 7, 9, 5, (conv_args){2, 2, 1, 7}, 0);    /* odd map, tail */
    check_conv(2, 8, 8, 7, 3, (conv_args){2, 2, 2, 8}, 1);    /* strided, dilated */
    check_conv(4, 4, 4, 10, 5, (conv_args){2, 4, 2, 4}, 0);   /* 16 planes */
    check_conv(1, 16, 16, 5, 3, (conv_args){1, 3, 1, 16}, 0); /* pad > dil (k - 1) */
    check_conv(2, 16, 16, 6, 3, (conv_args){3, 1, 1, 16}, 0); /* stride 3, 32 planes */
    check_conv(3, 6, 6, 7, 7, (conv_args){1, 3, 1, 6}, 0);    /* 7x7: generic taps */
    check_conv(2, 24, 24, 5, 3, (conv_args){1, 1, 1, 24}, 0); /* blocks start at 0, 16, 8 */
}

/* Depthwise forward, dx and dW bit-identical on 1 and 2 threads and from
 * one run to the next (dW: per-block sums added in block order). */
Test(ops, conv_depthwise_threads)
{
    static const int cfg[][5] = {{5, 1, 2, 2, 14}, {3, 2, 1, 1, 15}, {3, 1, 1, 1, 7}};
    for (size_t ci = 0; ci < sizeof(cfg) / sizeof(cfg[0]); ci++) {
        const int k = cfg[ci][0], st = cfg[ci][1], pad = cfg[ci][2], dil = cfg[ci][3];
        nas_tensor *x = leaf4(5, 24, cfg[ci][4], cfg[ci][4], 1.0f, 0.0f);
        nas_tensor *w = leaf4(24, 1, k, k, 0.5f, 0.0f);
        size_t n[3] = {0, nas_tensor_numel(x), nas_tensor_numel(w)};
        float *res[3][3];
        for (int r = 0; r < 3; r++) {
            nas_set_threads(r == 2 ? 2 : 1);
            nas_graph *g = nas_graph_new(1 << 20);
            memset(x->grad, 0, n[1] * sizeof(float));
            memset(w->grad, 0, n[2] * sizeof(float));
            nas_tensor *y = nas_conv2d(g, x, w, NULL, st, pad, dil, 24);
            n[0] = nas_tensor_numel(y);
            nas_tensor *m = nas_tensor_new(g, y->ndim, y->shape);
            for (size_t i = 0; i < n[0]; i++)
                m->data[i] = (float)(i % 7) - 3.0f;
            nas_graph_backward(g, nas_sum(g, nas_mul(g, y, m)), NAS_MASK_ALL);
            const float *src[3] = {y->data, x->grad, w->grad};
            for (int j = 0; j < 3; j++) {
                res[r][j] = malloc(n[j] * sizeof(float));
                memcpy(res[r][j], src[j], n[j] * sizeof(float));
            }
            nas_graph_free(g);
        }
        nas_set_threads(1);
        for (int r = 1; r < 3; r++)
            for (int j = 0; j < 3; j++)
                cr_assert(memcmp(res[0][j], res[r][j], n[j] * sizeof(float)) == 0,
                          "cfg %zu: run %d differs in %s", ci, r, j ? (j == 1 ? "dx" : "dw") : "y");
        for (int r = 0; r < 3; r++)
            for (int j = 0; j < 3; j++)
                free(res[r][j]);
    }
}

/* -------------------------------------------------- linear / matmul */

static nas_tensor *f_linear(nas_graph *g, nas_tensor **in, void *ctx)
{
    return nas_linear(g, in[0], in[1], in[2]);
}

static nas_tensor *f_matmul(nas_graph *g, nas_tensor **in, void *ctx)
{
    return nas_matmul(g, in[0], in[1]);
}

Test(ops, linear)
{
    nas_tensor *in[3] = {leaf2(3, 5, 1.0f), leaf2(4, 5, 1.0f), leaf1(4, 1.0f)};
    nas_graph *g = nas_graph_new(1 << 16);
    nas_tensor *y = nas_linear(g, in[0], in[1], in[2]);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) {
            double s = in[2]->data[j];
            for (int k = 0; k < 5; k++)
                s += (double)in[0]->data[i * 5 + k] * in[1]->data[j * 5 + k];
            cr_assert_float_eq(y->data[i * 4 + j], s, 1e-5);
        }
    nas_graph_free(g);
    cr_expect_eq(gradcheck("linear", f_linear, NULL, in, 3, 1), 0);
}

Test(ops, matmul)
{
    nas_tensor *in[2] = {leaf2(3, 5, 1.0f), leaf2(5, 4, 1.0f)};
    cr_expect_eq(gradcheck("matmul", f_matmul, NULL, in, 2, 1), 0);
}

/* ------------------------------------------------------- batch norm */

typedef struct {
    nas_tensor *rm, *rv;
} bn_ctx;

static nas_tensor *f_bn_affine(nas_graph *g, nas_tensor **in, void *ctx)
{
    bn_ctx *b = ctx;
    return nas_batchnorm(g, in[0], in[1], in[2], b ? b->rm : NULL, b ? b->rv : NULL, 0.1f, 1e-5f);
}

static nas_tensor *f_bn_plain(nas_graph *g, nas_tensor **in, void *ctx)
{
    return nas_batchnorm(g, in[0], NULL, NULL, NULL, NULL, 0.1f, 1e-5f);
}

Test(ops, batchnorm_train)
{
    nas_tensor *in[3] = {leaf4(4, 3, 3, 3, 1.0f, 0.0f), leaf1(3, 1.0f), leaf1(3, 1.0f)};
    cr_expect_eq(gradcheck("bn affine", f_bn_affine, NULL, in, 3, 1), 0);
    cr_expect_eq(gradcheck("bn plain", f_bn_plain, NULL, in, 1, 1), 0);
    nas_tensor *x2[1] = {leaf2(6, 4, 1.0f)}; /* (N, F) input */
    cr_expect_eq(gradcheck("bn 2d", f_bn_plain, NULL, x2, 1, 1), 0);
}

Test(ops, batchnorm_stats)
{
    /* Batch statistics normalise to mean 0 / var 1; running stats follow
     * PyTorch's update with the unbiased variance. */
    nas_tensor *x = leaf4(4, 2, 3, 3, 2.0f, 0.0f);
    int c = 2;
    nas_tensor *rm = nas_tensor_zeros(lg, 1, &c), *rv = nas_tensor_zeros(lg, 1, &c);
    rv->data[0] = rv->data[1] = 1.0f;
    nas_graph *g = nas_graph_new(1 << 16);
    nas_tensor *y = nas_batchnorm(g, x, NULL, NULL, rm, rv, 0.1f, 1e-5f);
    for (int ch = 0; ch < 2; ch++) {
        double s = 0, s2 = 0, xs = 0, xs2 = 0;
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 9; j++) {
                double v = y->data[(i * 2 + ch) * 9 + j], u = x->data[(i * 2 + ch) * 9 + j];
                s += v, s2 += v * v, xs += u, xs2 += u * u;
            }
        cr_expect_float_eq(s / 36, 0.0, 1e-5);
        cr_expect_float_eq(s2 / 36, 1.0, 1e-3);
        double mu = xs / 36, uvar = (xs2 - 36 * mu * mu) / 35;
        cr_expect_float_eq(rm->data[ch], 0.1 * mu, 1e-5);
        cr_expect_float_eq(rv->data[ch], 0.9 + 0.1 * uvar, 1e-4);
    }
    nas_graph_free(g);
}

Test(ops, batchnorm_eval)
{
    int c = 3;
    nas_tensor *in[3] = {leaf4(2, 3, 2, 2, 1.0f, 0.0f), leaf1(3, 1.0f), leaf1(3, 1.0f)};
    bn_ctx b = {nas_tensor_zeros(lg, 1, &c), nas_tensor_zeros(lg, 1, &c)};
    for (int i = 0; i < 3; i++) {
        b.rm->data[i] = 0.1f * (float)i;
        b.rv->data[i] = 0.5f + (float)i;
    }
    nas_graph *g = nas_graph_new(1 << 16);
    nas_graph_set_training(g, 0);
    nas_tensor *y = f_bn_affine(g, in, &b);
    for (int i = 0; i < 24; i++) {
        int ch = (i / 4) % 3;
        double ref =
            (in[0]->data[i] - b.rm->data[ch]) / sqrt(b.rv->data[ch] + 1e-5) * in[1]->data[ch] +
            in[2]->data[ch];
        cr_expect_float_eq(y->data[i], ref, 1e-5);
    }
    nas_graph_free(g);
    cr_expect_eq(gradcheck("bn eval", f_bn_affine, &b, in, 3, 0), 0);
}

/* ------------------------------------------------------ activations */

static nas_tensor *f_relu(nas_graph *g, nas_tensor **in, void *c)
{
    return nas_relu(g, in[0]);
}
static nas_tensor *f_tanh(nas_graph *g, nas_tensor **in, void *c)
{
    return nas_tanh(g, in[0]);
}
static nas_tensor *f_sigmoid(nas_graph *g, nas_tensor **in, void *c)
{
    return nas_sigmoid(g, in[0]);
}
static nas_tensor *f_identity(nas_graph *g, nas_tensor **in, void *c)
{
    return nas_identity(g, in[0]);
}

Test(ops, activations)
{
    nas_tensor *in[1] = {leaf4(2, 3, 4, 4, 2.0f, 0.05f)};
    cr_expect_eq(gradcheck("relu", f_relu, NULL, in, 1, 1), 0);
    cr_expect_eq(gradcheck("tanh", f_tanh, NULL, in, 1, 1), 0);
    cr_expect_eq(gradcheck("sigmoid", f_sigmoid, NULL, in, 1, 1), 0);
    cr_expect_eq(gradcheck("identity", f_identity, NULL, in, 1, 1), 0);
}

/* ---------------------------------------------------------- pooling */

typedef struct {
    int k, stride, pad;
} pool_args;

static nas_tensor *f_maxpool(nas_graph *g, nas_tensor **in, void *ctx)
{
    pool_args *p = ctx;
    return nas_maxpool2d(g, in[0], p->k, p->stride, p->pad);
}

static nas_tensor *f_avgpool(nas_graph *g, nas_tensor **in, void *ctx)
{
    pool_args *p = ctx;
    return nas_avgpool2d(g, in[0], p->k, p->stride, p->pad);
}

static nas_tensor *f_gap(nas_graph *g, nas_tensor **in, void *ctx)
{
    return nas_global_avgpool(g, in[0]);
}

Test(ops, pooling)
{
    nas_tensor *in[1] = {leaf4(2, 2, 7, 7, 1.0f, 0.0f)};
    gc_fill_distinct(in[0], &rng, 0.05f);
    pool_args args[] = {{3, 1, 1}, {3, 2, 1}, {3, 2, 0}, {2, 2, 0}};
    for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
        cr_expect_eq(gradcheck("maxpool", f_maxpool, &args[i], in, 1, 1), 0);
        cr_expect_eq(gradcheck("avgpool", f_avgpool, &args[i], in, 1, 1), 0);
    }
    cr_expect_eq(gradcheck("gap", f_gap, NULL, in, 1, 1), 0);
}

Test(ops, avgpool_excludes_padding)
{
    /* All-ones input: every output is exactly 1 when padding is excluded
     * (the corner window holds 4 real pixels, not 9). */
    int s[4] = {1, 1, 4, 4};
    nas_tensor *x = nas_tensor_new(lg, 4, s);
    for (int i = 0; i < 16; i++)
        x->data[i] = 1.0f;
    nas_graph *g = nas_graph_new(1 << 16);
    nas_tensor *y = nas_avgpool2d(g, x, 3, 1, 1);
    for (int i = 0; i < 16; i++)
        cr_expect_float_eq(y->data[i], 1.0f, 1e-6);
    nas_tensor *m = nas_maxpool2d(g, x, 3, 2, 1);
    cr_expect_eq(m->shape[2], 2);
    nas_graph_free(g);
}

/* Direct window loops over the clipped window: the independent reference
 * of pool.c's separable passes. Max: value and the first maximum's index
 * in row-major window order; avg: the window mean (padding excluded). */
static void pool_ref(const float *x, int h, int w, int k, int st, int pad, int max, int ho, int wo,
                     float *y, int *arg)
{
    for (int oh = 0; oh < ho; oh++)
        for (int ow = 0; ow < wo; ow++) {
            float best = 0.0f, sum = 0.0f;
            int bi = -1, cnt = 0;
            for (int ih = oh * st - pad; ih < oh * st - pad + k; ih++)
                for (int iw = ow * st - pad; iw < ow * st - pad + k; iw++) {
                    if (ih < 0 || iw < 0 || ih >= h || iw >= w)
                        continue;
                    float v = x[ih * w + iw];
                    if (bi < 0 || v > best) {
                        best = v;
                        bi = ih * w + iw;
                    }
                    sum += v;
                    cnt++;
                }
            y[oh * wo + ow] = max ? best : sum / (float)cnt;
            arg[oh * wo + ow] = bi;
        }
}

/* Forward against pool_ref (ties included: values on a coarse grid), and
 * forward and backward bit-identical on 1 and 2 threads, on shapes big
 * enough to be split over threads, with odd sizes and every border case. */
Test(ops, pooling_matches_direct_loops)
{
    static const int cfg[][6] = {
        /* n, c, h, w, k, stride (pad = k / 2 below, and 0) */
        {8, 8, 32, 32, 3, 1}, {9, 8, 31, 33, 3, 2},  {6, 16, 28, 28, 3, 2},
        {3, 5, 9, 33, 2, 2},  {4, 64, 16, 16, 3, 1}, {1, 3, 5, 4, 5, 3},
    };
    for (size_t ci = 0; ci < sizeof(cfg) / sizeof(cfg[0]); ci++)
        for (int pad = 0; pad <= cfg[ci][4] / 2; pad += cfg[ci][4] / 2 ? cfg[ci][4] / 2 : 1)
            for (int max = 0; max < 2; max++) {
                const int *c = cfg[ci];
                int k = c[4], st = c[5];
                nas_tensor *x = leaf4(c[0], c[1], c[2], c[3], 1.0f, 0.0f);
                size_t nx = nas_tensor_numel(x);
                for (size_t i = 0; i < nx; i++) /* ties: 9 distinct values */
                    x->data[i] = (float)((int)(x->data[i] * 4.0f + 8.0f) % 9) - 4.0f;
                float *out[2], *grad[2];
                size_t ny = 0;
                for (int t = 0; t < 2; t++) {
                    nas_set_threads(t + 1);
                    nas_graph *g = nas_graph_new(1 << 20);
                    memset(x->grad, 0, nx * sizeof(float));
                    nas_tensor *y =
                        max ? nas_maxpool2d(g, x, k, st, pad) : nas_avgpool2d(g, x, k, st, pad);
                    ny = nas_tensor_numel(y);
                    nas_tensor *w = nas_tensor_new(g, y->ndim, y->shape);
                    for (size_t i = 0; i < ny; i++)
                        w->data[i] = (float)(i % 7) - 3.0f;
                    nas_graph_backward(g, nas_sum(g, nas_mul(g, y, w)), NAS_MASK_ALL);
                    out[t] = malloc(ny * sizeof(float));
                    grad[t] = malloc(nx * sizeof(float));
                    memcpy(out[t], y->data, ny * sizeof(float));
                    memcpy(grad[t], x->grad, nx * sizeof(float));
                    if (t == 0) {
                        /* Reference forward, and the backward it implies. */
                        int ho = y->shape[2], wo = y->shape[3];
                        size_t plane = (size_t)ho * wo, pin = (size_t)c[2] * c[3];
                        float *ry = malloc(plane * sizeof(float));
                        int *ra = malloc(plane * sizeof(int));
                        float *rg = calloc(nx, sizeof(float));
                        for (int p = 0; p < c[0] * c[1]; p++) {
                            pool_ref(x->data + p * pin, c[2], c[3], k, st, pad, max, ho, wo, ry,
                                     ra);
                            for (size_t i = 0; i < plane; i++) {
                                cr_assert_float_eq(
                                    y->data[p * plane + i], ry[i], 1e-6f * (1.0f + fabsf(ry[i])),
                                    "cfg %zu pad %d max %d plane %d out %zu", ci, pad, max, p, i);
                                float dy = w->data[p * plane + i];
                                if (max) {
                                    rg[p * pin + ra[i]] += dy;
                                    continue;
                                }
                                int oh = (int)i / wo, ow = (int)i % wo, cnt = 0;
                                for (int pass = 0; pass < 2; pass++)
                                    for (int ih = oh * st - pad; ih < oh * st - pad + k; ih++)
                                        for (int iw = ow * st - pad; iw < ow * st - pad + k; iw++) {
                                            if (ih < 0 || iw < 0 || ih >= c[2] || iw >= c[3])
                                                continue;
                                            if (pass)
                                                rg[p * pin + ih * c[3] + iw] += dy / (float)cnt;
                                            else
                                                cnt++;
                                        }
                            }
                        }
                        for (size_t i = 0; i < nx; i++)
                            cr_assert_float_eq(x->grad[i], rg[i], 1e-5f * (1.0f + fabsf(rg[i])),
                                               "cfg %zu pad %d max %d dx %zu: %g, want %g", ci, pad,
                                               max, i, (double)x->grad[i], (double)rg[i]);
                        free(ry);
                        free(ra);
                        free(rg);
                    }
                    nas_graph_free(g);
                }
                nas_set_threads(1);
                cr_assert(memcmp(out[0], out[1], ny * sizeof(float)) == 0,
                          "cfg %zu: 1 and 2 threads differ (forward)", ci);
                cr_assert(memcmp(grad[0], grad[1], nx * sizeof(float)) == 0,
                          "cfg %zu: 1 and 2 threads differ (backward)", ci);
                for (int t = 0; t < 2; t++) {
                    free(out[t]);
                    free(grad[t]);
                }
            }
}

/* Activations big enough to be split over threads: the same numbers on 1
 * and 2 threads as a direct loop. */
Test(ops, activations_split_over_threads)
{
    nas_tensor *x = leaf4(4, 16, 40, 40, 2.0f, 0.0f);
    size_t n = nas_tensor_numel(x);
    for (int t = 1; t <= 2; t++) {
        nas_set_threads(t);
        nas_graph *g = nas_graph_new(1 << 20);
        memset(x->grad, 0, n * sizeof(float));
        nas_tensor *y = nas_relu(g, x);
        nas_tensor *z = nas_tanh(g, y);
        nas_tensor *w = nas_tensor_new(g, z->ndim, z->shape);
        for (size_t i = 0; i < n; i++)
            w->data[i] = (float)(i % 5) - 2.0f;
        nas_graph_backward(g, nas_sum(g, nas_mul(g, z, w)), NAS_MASK_ALL);
        for (size_t i = 0; i < n; i++) {
            float r = x->data[i] > 0.0f ? x->data[i] : 0.0f;
            cr_assert_eq(y->data[i], r, "relu %zu on %d threads", i, t);
            cr_assert_eq(z->data[i], tanhf(r), "tanh %zu on %d threads", i, t);
            float dz = w->data[i] * (1.0f - z->data[i] * z->data[i]);
            cr_assert_float_eq(x->grad[i], x->data[i] > 0.0f ? dz : 0.0f, 1e-6f,
                               "dx %zu on %d threads: %g", i, t, (double)x->grad[i]);
        }
        nas_graph_free(g);
    }
    nas_set_threads(1);
}

/* ---------------------------------------------------- elementwise */

static nas_tensor *f_add(nas_graph *g, nas_tensor **in, void *c)
{
    return nas_add(g, in[0], in[1]);
}
static nas_tensor *f_sub(nas_graph *g, nas_tensor **in, void *c)
{
    return nas_sub(g, in[0], in[1]);
}
static nas_tensor *f_mul(nas_graph *g, nas_tensor **in, void *c)
{
    return nas_mul(g, in[0], in[1]);
}
static nas_tensor *f_scale(nas_graph *g, nas_tensor **in, void *c)
{
    return nas_scale(g, in[0], -1.7f);
}
static nas_tensor *f_scale_by(nas_graph *g, nas_tensor **in, void *c)
{
    return nas_scale_by(g, in[0], in[1], 2);
}
static nas_tensor *f_sum_n(nas_graph *g, nas_tensor **in, void *c)
{
    return nas_sum_n(g, in, 3);
}
static nas_tensor *f_sum(nas_graph *g, nas_tensor **in, void *c)
{
    return nas_sum(g, in[0]);
}
static nas_tensor *f_mean(nas_graph *g, nas_tensor **in, void *c)
{
    return nas_mean(g, in[0]);
}

Test(ops, elementwise)
{
    nas_tensor *in[3] = {leaf4(2, 3, 2, 2, 1.0f, 0.0f), leaf4(2, 3, 2, 2, 1.0f, 0.0f),
                         leaf4(2, 3, 2, 2, 1.0f, 0.0f)};
    cr_expect_eq(gradcheck("add", f_add, NULL, in, 2, 1), 0);
    cr_expect_eq(gradcheck("sub", f_sub, NULL, in, 2, 1), 0);
    cr_expect_eq(gradcheck("mul", f_mul, NULL, in, 2, 1), 0);
    cr_expect_eq(gradcheck("scale", f_scale, NULL, in, 1, 1), 0);
    cr_expect_eq(gradcheck("sum_n", f_sum_n, NULL, in, 3, 1), 0);
    cr_expect_eq(gradcheck("sum", f_sum, NULL, in, 1, 1), 0);
    cr_expect_eq(gradcheck("mean", f_mean, NULL, in, 1, 1), 0);
    nas_tensor *sb[2] = {in[0], leaf1(5, 1.0f)};
    cr_expect_eq(gradcheck("scale_by", f_scale_by, NULL, sb, 2, 1), 0);
}

/* ----------------------------------------------------------- shapes */

static nas_tensor *f_concat(nas_graph *g, nas_tensor **in, void *c)
{
    return nas_concat(g, in, 3);
}
static nas_tensor *f_narrow(nas_graph *g, nas_tensor **in, void *c)
{
    return nas_narrow(g, in[0], 1, 2);
}
static nas_tensor *f_reshape(nas_graph *g, nas_tensor **in, void *c)
{
    int s[2] = {4, 12};
    /* Through a second op so the view's gradient must flow back. */
    return nas_tanh(g, nas_reshape(g, in[0], 2, s));
}

Test(ops, shapes)
{
    nas_tensor *in[3] = {leaf4(2, 1, 3, 3, 1.0f, 0.0f), leaf4(2, 3, 3, 3, 1.0f, 0.0f),
                         leaf4(2, 2, 3, 3, 1.0f, 0.0f)};
    cr_expect_eq(gradcheck("concat", f_concat, NULL, in, 3, 1), 0);
    nas_tensor *x[1] = {leaf4(2, 4, 2, 3, 1.0f, 0.0f)};
    cr_expect_eq(gradcheck("narrow", f_narrow, NULL, x, 1, 1), 0);
    cr_expect_eq(gradcheck("reshape", f_reshape, NULL, x, 1, 1), 0);
    nas_tensor *m[1] = {leaf2(3, 8, 1.0f)};
    cr_expect_eq(gradcheck("narrow 2d", f_narrow, NULL, m, 1, 1), 0);

    nas_graph *g = nas_graph_new(1 << 16);
    nas_tensor *y = nas_concat(g, in, 3);
    cr_expect_eq(y->shape[1], 6);
    /* image 1, channel 4 is channel 0 of in[2] */
    cr_expect_eq(y->data[(1 * 6 + 4) * 9 + 5], in[2]->data[(1 * 2 + 0) * 9 + 5]);
    nas_graph_free(g);
}

/* ---------------------------------------------------------- softmax */

static nas_tensor *f_softmax(nas_graph *g, nas_tensor **in, void *c)
{
    return nas_softmax(g, in[0]);
}
static nas_tensor *f_log_softmax(nas_graph *g, nas_tensor **in, void *c)
{
    return nas_log_softmax(g, in[0]);
}
static const int32_t ce_labels[4] = {2, 0, 4, 1};
static nas_tensor *f_ce(nas_graph *g, nas_tensor **in, void *c)
{
    return nas_cross_entropy(g, in[0], ce_labels);
}

Test(ops, softmax_family)
{
    nas_tensor *in[1] = {leaf2(4, 5, 3.0f)};
    cr_expect_eq(gradcheck("softmax", f_softmax, NULL, in, 1, 1), 0);
    cr_expect_eq(gradcheck("log_softmax", f_log_softmax, NULL, in, 1, 1), 0);
    cr_expect_eq(gradcheck("cross_entropy", f_ce, NULL, in, 1, 1), 0);

    /* Values against a direct computation in double. */
    nas_graph *g = nas_graph_new(1 << 16);
    nas_tensor *ce = f_ce(g, in, NULL), *sm = f_softmax(g, in, NULL);
    double loss = 0.0;
    for (int r = 0; r < 4; r++) {
        double z = 0.0;
        for (int i = 0; i < 5; i++)
            z += exp(in[0]->data[r * 5 + i]);
        for (int i = 0; i < 5; i++)
            cr_expect_float_eq(sm->data[r * 5 + i], exp(in[0]->data[r * 5 + i]) / z, 1e-6);
        loss -= in[0]->data[r * 5 + ce_labels[r]] - log(z);
    }
    cr_expect_float_eq(ce->data[0], loss / 4, 1e-5);
    nas_graph_free(g);
}

/* ------------------------------------------------------------- misc */

static const int32_t emb_ids[5] = {3, 0, 3, 1, 2};
static nas_tensor *f_embedding(nas_graph *g, nas_tensor **in, void *c)
{
    return nas_embedding(g, in[0], emb_ids, 5);
}
static nas_tensor *f_dropout(nas_graph *g, nas_tensor **in, void *c)
{
    return nas_dropout(g, in[0], 0.3f);
}
static nas_tensor *f_drop_path(nas_graph *g, nas_tensor **in, void *c)
{
    return nas_drop_path(g, in[0], 0.5f);
}
static nas_tensor *f_zero(nas_graph *g, nas_tensor **in, void *c)
{
    /* zero(x) + x: the zero op must add nothing to the gradient */
    nas_tensor *z = nas_zero(g, in[0], 1);
    return nas_add(g, z, in[0]);
}

Test(ops, misc)
{
    nas_tensor *table[1] = {leaf2(4, 3, 1.0f)};
    cr_expect_eq(gradcheck("embedding", f_embedding, NULL, table, 1, 1), 0);
    nas_tensor *x[1] = {leaf4(2, 3, 4, 4, 1.0f, 0.0f)};
    cr_expect_eq(gradcheck("dropout", f_dropout, NULL, x, 1, 1), 0);
    cr_expect_eq(gradcheck("dropout eval", f_dropout, NULL, x, 1, 0), 0);
    cr_expect_eq(gradcheck("zero", f_zero, NULL, x, 1, 1), 0);
    nas_tensor *xp[1] = {leaf4(6, 2, 3, 3, 1.0f, 0.0f)};
    cr_expect_eq(gradcheck("drop path", f_drop_path, NULL, xp, 1, 1), 0);
    cr_expect_eq(gradcheck("drop path eval", f_drop_path, NULL, xp, 1, 0), 0);

    nas_graph *g = nas_graph_new(1 << 16);
    nas_rng r;
    nas_rng_seed(&r, 5);
    nas_graph_set_rng(g, &r);
    int big[2] = {100, 100};
    nas_tensor *ones = nas_tensor_new(g, 2, big);
    for (int i = 0; i < 10000; i++)
        ones->data[i] = 1.0f;
    nas_tensor *d = nas_dropout(g, ones, 0.3f);
    int zeros = 0;
    for (int i = 0; i < 10000; i++) {
        zeros += d->data[i] == 0.0f;
        cr_assert(d->data[i] == 0.0f || fabsf(d->data[i] - 1.0f / 0.7f) < 1e-6);
    }
    cr_expect(zeros > 2800 && zeros < 3200, "dropped %d of 10000 at p=0.3", zeros);
    /* Drop path: whole samples kept (scaled by 1 / (1 - p)) or zeroed. */
    int rows[4] = {1000, 2, 2, 2};
    nas_tensor *ones4 = nas_tensor_new(g, 4, rows);
    for (int i = 0; i < 8000; i++)
        ones4->data[i] = 1.0f;
    nas_tensor *dp = nas_drop_path(g, ones4, 0.2f);
    int dropped = 0;
    for (int s = 0; s < 1000; s++) {
        float v = dp->data[s * 8];
        for (int i = 1; i < 8; i++)
            cr_assert(dp->data[s * 8 + i] == v, "one value per sample");
        cr_assert(v == 0.0f || fabsf(v - 1.0f / 0.8f) < 1e-6);
        dropped += v == 0.0f;
    }
    cr_expect(dropped > 160 && dropped < 240, "dropped %d of 1000 samples at p=0.2", dropped);
    nas_tensor *z = nas_zero(g, x[0], 2);
    cr_expect(z->shape[2] == 2 && z->shape[3] == 2 && z->data[0] == 0.0f);
    nas_graph_free(g);
}
