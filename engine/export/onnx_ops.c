// SPDX-License-Identifier: MIT
/*
 * onnx_ops.c - the ONNX form of each engine op: the nas__ex_* hooks that
 * an op's forward calls when its graph carries an exporter (internal.h).
 *
 * The one design decision to know: a hook writes the op as it computed
 * it on the traced batch, in opset 13, or fails the export naming the op:
 * batch norm in eval mode with running statistics is BatchNormalization;
 * without them (ENAS micro normalises with the batch's statistics even at
 * evaluation) it is the same arithmetic spelled out (ReduceMean over N, H,
 * W), so the ONNX model computes what nasd computes, batch dependence
 * included. Shapes are fixed by the trace except the batch: a reshape
 * keeps its first dimension with Reshape's 0.
 */
#include "export/onnx_build.h"

#include <stdio.h>

#define EX(g) ((g)->ex)
#define ALIVE(g) (!nas__ox_failed((g)->ex))

void nas__ex_none(nas_graph *g, const char *op)
{
    nas__ox_fail(EX(g), "the op %s has no ONNX form", op);
}

void nas__ex_conv(nas_graph *g, nas_tensor *y, nas_tensor *x, nas_tensor *w, nas_tensor *b,
                  int stride, int pad, int dil, int groups)
{
    nas__onnx *ex = EX(g);
    const char *in[3] = {nas__ox_in(ex, x, "conv2d"), nas__ox_in(ex, w, "conv2d"),
                         b ? nas__ox_in(ex, b, "conv2d") : ""};
    if (!ALIVE(g))
        return;
    Onnx__NodeProto *n = nas__ox_node(ex, "Conv", in, b ? 3 : 2, nas__ox_out(ex, y));
    int64_t k[2] = {w->shape[2], w->shape[3]}, s[2] = {stride, stride}, d[2] = {dil, dil};
    int64_t p[4] = {pad, pad, pad, pad};
    nas__ox_attr_ints(ex, n, "kernel_shape", k, 2);
    nas__ox_attr_ints(ex, n, "strides", s, 2);
    nas__ox_attr_ints(ex, n, "dilations", d, 2);
    nas__ox_attr_ints(ex, n, "pads", p, 4);
    nas__ox_attr_i(ex, n, "group", groups);
}

void nas__ex_conv_rect(nas_graph *g, nas_tensor *y, nas_tensor *x, nas_tensor *w, int stride,
                       int pad_top, int pad_left)
{
    nas__onnx *ex = EX(g);
    const char *in[2] = {nas__ox_in(ex, x, "conv2d_rect"), nas__ox_in(ex, w, "conv2d_rect")};
    if (!ALIVE(g))
        return;
    /* The padding after is what the output size needs; taps beyond it
     * read zero in the engine, so a negative one has no ONNX form. */
    int kh = w->shape[2], kw = w->shape[3];
    int64_t bottom = (int64_t)(y->shape[2] - 1) * stride + kh - x->shape[2] - pad_top;
    int64_t right = (int64_t)(y->shape[3] - 1) * stride + kw - x->shape[3] - pad_left;
    if (bottom < 0 || right < 0) {
        nas__ox_fail(ex, "the op conv2d_rect: a window past the plane has no ONNX form");
        return;
    }
    Onnx__NodeProto *n = nas__ox_node(ex, "Conv", in, 2, nas__ox_out(ex, y));
    int64_t k[2] = {kh, kw}, s[2] = {stride, stride}, p[4] = {pad_top, pad_left, bottom, right};
    nas__ox_attr_ints(ex, n, "kernel_shape", k, 2);
    nas__ox_attr_ints(ex, n, "strides", s, 2);
    nas__ox_attr_ints(ex, n, "pads", p, 4);
}

void nas__ex_zero_pad(nas_graph *g, nas_tensor *y, nas_tensor *x)
{
    nas__onnx *ex = EX(g);
    const char *in[2] = {nas__ox_in(ex, x, "zero_pad"), NULL};
    if (!ALIVE(g))
        return;
    int dh = y->shape[2] - x->shape[2], dw = y->shape[3] - x->shape[3];
    int64_t pads[8] = {0, 0, dh / 2, dw / 2, 0, 0, dh - dh / 2, dw - dw / 2};
    in[1] = nas__ox_const_i64(ex, 8, pads);
    nas__ox_node(ex, "Pad", in, 2, nas__ox_out(ex, y));
}

/* A per-channel vector v (C) as (1, C, 1, ...) for broadcasting over an
 * ndim-d tensor. */
static const char *per_channel(nas__onnx *ex, const char *v, int ndim)
{
    int64_t shape[NAS_MAXDIM] = {1, -1, 1, 1};
    const char *in[2] = {v, nas__ox_const_i64(ex, ndim, shape)}, *out = nas__ox_tmp(ex);
    nas__ox_node(ex, "Reshape", in, 2, out);
    return out;
}

static const char *bin(nas__onnx *ex, const char *op, const char *a, const char *b)
{
    const char *in[2] = {a, b}, *out = nas__ox_tmp(ex);
    nas__ox_node(ex, op, in, 2, out);
    return out;
}

/* The batch norm of value xn (shaped like y) into y: BatchNormalization
 * with the running statistics in eval mode, else the batch's statistics
 * spelled out; gamma / beta NULL: no affine. */
static void bn_of(nas_graph *g, const char *xn, nas_tensor *y, nas_tensor *gamma, nas_tensor *beta,
                  nas_tensor *rm, nas_tensor *rv, float eps)
{
    nas__onnx *ex = EX(g);
    int c = y->shape[1], nd = y->ndim;
    int64_t cdim[1] = {c};
    float *ones = nas_arena_alloc(nas_graph_arena(g), (size_t)c * sizeof(float));
    float *zeros = nas_arena_zalloc(nas_graph_arena(g), (size_t)c * sizeof(float));
    for (int i = 0; i < c; i++)
        ones[i] = 1.0f;
    const char *ga = gamma ? nas__ox_in(ex, gamma, "batchnorm") : NULL;
    const char *be = beta ? nas__ox_in(ex, beta, "batchnorm") : NULL;
    if (!ALIVE(g))
        return;
    if (!ga)
        ga = nas__ox_const_f(ex, 1, cdim, ones);
    if (!be)
        be = nas__ox_const_f(ex, 1, cdim, zeros);
    if (!g->training && rm && rv) {
        const char *in[5] = {xn, ga, be, nas__ox_in(ex, rm, "batchnorm"),
                             nas__ox_in(ex, rv, "batchnorm")};
        if (!ALIVE(g))
            return;
        Onnx__NodeProto *n = nas__ox_node(ex, "BatchNormalization", in, 5, nas__ox_out(ex, y));
        nas__ox_attr_f(ex, n, "epsilon", eps);
        return;
    }
    /* (x - mean) / sqrt(var + eps) gamma + beta, mean and the biased
     * variance over every axis but the channels. */
    int64_t axes[NAS_MAXDIM] = {0, 2, 3}, one[1] = {1};
    const char *in[1] = {xn}, *mean = nas__ox_tmp(ex);
    Onnx__NodeProto *n = nas__ox_node(ex, "ReduceMean", in, 1, mean);
    nas__ox_attr_ints(ex, n, "axes", axes, nd - 1);
    nas__ox_attr_i(ex, n, "keepdims", 1);
    const char *dev = bin(ex, "Sub", xn, mean), *sq = bin(ex, "Mul", dev, dev);
    const char *var = nas__ox_tmp(ex);
    in[0] = sq;
    n = nas__ox_node(ex, "ReduceMean", in, 1, var);
    nas__ox_attr_ints(ex, n, "axes", axes, nd - 1);
    nas__ox_attr_i(ex, n, "keepdims", 1);
    const char *ve = bin(ex, "Add", var, nas__ox_const_f(ex, 0, one, &eps));
    const char *sd = nas__ox_tmp(ex);
    in[0] = ve;
    nas__ox_node(ex, "Sqrt", in, 1, sd);
    const char *z = bin(ex, "Div", dev, sd);
    const char *zs = bin(ex, "Mul", z, per_channel(ex, ga, nd));
    const char *fin[2] = {zs, per_channel(ex, be, nd)};
    nas__ox_node(ex, "Add", fin, 2, nas__ox_out(ex, y));
}

void nas__ex_bn(nas_graph *g, nas_tensor *y, nas_tensor *x, nas_tensor *gamma, nas_tensor *beta,
                nas_tensor *rm, nas_tensor *rv, float eps)
{
    const char *xn = nas__ox_in(EX(g), x, "batchnorm");
    if (!ALIVE(g))
        return;
    if (x->ndim != 4 && (g->training || !rm)) {
        nas__ox_fail(EX(g), "the op batchnorm: batch statistics of a %d-d tensor", x->ndim);
        return;
    }
    bn_of(g, xn, y, gamma, beta, rm, rv, eps);
}

static Onnx__NodeProto *pool_node(nas__onnx *ex, const char *xn, const char *out, int max, int k,
                                  int stride, int pad)
{
    const char *in[1] = {xn};
    Onnx__NodeProto *n = nas__ox_node(ex, max ? "MaxPool" : "AveragePool", in, 1, out);
    int64_t ks[2] = {k, k}, s[2] = {stride, stride}, p[4] = {pad, pad, pad, pad};
    nas__ox_attr_ints(ex, n, "kernel_shape", ks, 2);
    nas__ox_attr_ints(ex, n, "strides", s, 2);
    nas__ox_attr_ints(ex, n, "pads", p, 4);
    if (!max) /* the engine divides by the pixels inside the window */
        nas__ox_attr_i(ex, n, "count_include_pad", 0);
    return n;
}

void nas__ex_pool(nas_graph *g, nas_tensor *y, nas_tensor *x, int max, int k, int stride, int pad)
{
    const char *xn = nas__ox_in(EX(g), x, max ? "maxpool2d" : "avgpool2d");
    if (ALIVE(g))
        pool_node(EX(g), xn, nas__ox_out(EX(g), y), max, k, stride, pad);
}

void nas__ex_pool_bn(nas_graph *g, nas_tensor *y, nas_tensor *x, int max, int stride,
                     nas_tensor *rm, nas_tensor *rv, float eps)
{
    const char *xn = nas__ox_in(EX(g), x, "pool_bn");
    if (!ALIVE(g))
        return;
    const char *p = nas__ox_tmp(EX(g));
    pool_node(EX(g), xn, p, max, 3, stride, 1);
    bn_of(g, p, y, NULL, NULL, rm, rv, eps);
}

void nas__ex_gap(nas_graph *g, nas_tensor *y, nas_tensor *x)
{
    nas__onnx *ex = EX(g);
    const char *in[1] = {nas__ox_in(ex, x, "global_avgpool")}, *p = NULL;
    if (!ALIVE(g))
        return;
    p = nas__ox_tmp(ex);
    nas__ox_node(ex, "GlobalAveragePool", in, 1, p);
    in[0] = p;
    nas__ox_attr_i(ex, nas__ox_node(ex, "Flatten", in, 1, nas__ox_out(ex, y)), "axis", 1);
}

void nas__ex_unary(nas_graph *g, nas_tensor *y, nas_tensor *x, const char *op)
{
    const char *in[1] = {nas__ox_in(EX(g), x, op)};
    if (ALIVE(g))
        nas__ox_node(EX(g), op, in, 1, nas__ox_out(EX(g), y));
}

void nas__ex_binary(nas_graph *g, nas_tensor *y, nas_tensor *a, nas_tensor *b, const char *op)
{
    const char *in[2] = {nas__ox_in(EX(g), a, op), nas__ox_in(EX(g), b, op)};
    if (ALIVE(g))
        nas__ox_node(EX(g), op, in, 2, nas__ox_out(EX(g), y));
}

void nas__ex_scale(nas_graph *g, nas_tensor *y, nas_tensor *x, float c)
{
    int64_t one[1] = {1};
    const char *in[2] = {nas__ox_in(EX(g), x, "scale"), NULL};
    if (!ALIVE(g))
        return;
    in[1] = nas__ox_const_f(EX(g), 0, one, &c);
    nas__ox_node(EX(g), "Mul", in, 2, nas__ox_out(EX(g), y));
}

void nas__ex_list(nas_graph *g, nas_tensor *y, nas_tensor **xs, int n, const char *op)
{
    nas__onnx *ex = EX(g);
    const char **in = nas_arena_alloc(nas_graph_arena(g), (size_t)n * sizeof(char *));
    for (int i = 0; i < n; i++)
        in[i] = nas__ox_in(ex, xs[i], op);
    if (!ALIVE(g))
        return;
    Onnx__NodeProto *nd = nas__ox_node(ex, op, in, n, nas__ox_out(ex, y));
    if (strcmp(op, "Concat") == 0)
        nas__ox_attr_i(ex, nd, "axis", 1);
}

void nas__ex_linear(nas_graph *g, nas_tensor *y, nas_tensor *x, nas_tensor *w, nas_tensor *b)
{
    nas__onnx *ex = EX(g);
    const char *in[3] = {nas__ox_in(ex, x, "linear"), nas__ox_in(ex, w, "linear"),
                         b ? nas__ox_in(ex, b, "linear") : ""};
    if (!ALIVE(g))
        return;
    Onnx__NodeProto *n = nas__ox_node(ex, "Gemm", in, b ? 3 : 2, nas__ox_out(ex, y));
    nas__ox_attr_i(ex, n, "transB", 1);
}

void nas__ex_reshape(nas_graph *g, nas_tensor *y, nas_tensor *x)
{
    nas__onnx *ex = EX(g);
    const char *in[2] = {nas__ox_in(ex, x, "reshape"), NULL};
    if (!ALIVE(g))
        return;
    if (y->shape[0] != x->shape[0]) {
        nas__ox_fail(ex, "the op reshape: a reshape across the batch dimension");
        return;
    }
    int64_t shape[NAS_MAXDIM] = {0}; /* 0: the batch, as it comes */
    for (int d = 1; d < y->ndim; d++)
        shape[d] = y->shape[d];
    in[1] = nas__ox_const_i64(ex, y->ndim, shape);
    nas__ox_node(ex, "Reshape", in, 2, nas__ox_out(ex, y));
}

void nas__ex_slice(nas_graph *g, nas_tensor *y, nas_tensor *x, int naxes, const int *axes,
                   const int *starts)
{
    nas__onnx *ex = EX(g);
    const char *in[4] = {nas__ox_in(ex, x, "slice"), NULL, NULL, NULL};
    if (!ALIVE(g))
        return;
    int64_t st[NAS_MAXDIM], en[NAS_MAXDIM], ax[NAS_MAXDIM];
    for (int i = 0; i < naxes; i++) {
        ax[i] = axes[i];
        st[i] = starts[i];
        en[i] = starts[i] + y->shape[axes[i]];
    }
    in[1] = nas__ox_const_i64(ex, naxes, st);
    in[2] = nas__ox_const_i64(ex, naxes, en);
    in[3] = nas__ox_const_i64(ex, naxes, ax);
    nas__ox_node(ex, "Slice", in, 4, nas__ox_out(ex, y));
}

void nas__ex_softmax(nas_graph *g, nas_tensor *y, nas_tensor *x, int log)
{
    const char *op = log ? "LogSoftmax" : "Softmax";
    const char *in[1] = {nas__ox_in(EX(g), x, op)};
    if (ALIVE(g))
        nas__ox_attr_i(EX(g), nas__ox_node(EX(g), op, in, 1, nas__ox_out(EX(g), y)), "axis", -1);
}

void nas__ex_embedding(nas_graph *g, nas_tensor *y, nas_tensor *table, const int32_t *ids)
{
    nas__onnx *ex = EX(g);
    const char *in[2] = {nas__ox_in(ex, table, "embedding"), nas__ox_ids(ex, ids, "embedding")};
    if (ALIVE(g))
        nas__ox_attr_i(ex, nas__ox_node(ex, "Gather", in, 2, nas__ox_out(ex, y)), "axis", 0);
}
