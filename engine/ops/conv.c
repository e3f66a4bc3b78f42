// SPDX-License-Identifier: MIT
/*
 * conv.c - 2-d convolution, forward and backward: the op, and the dense
 * and grouped kernels (depthwise ones are conv_dw.c's).
 *
 * Dense and grouped convolutions are im2col + cblas_sgemm per image (and
 * group), not one GEMM over the whole batch: with the few output channels
 * of NAS cells (M = 8..64) a batch-wide N = B*H*W GEMM runs at half the
 * speed of per-image ones (../shared/peer/results.md). Images are spread
 * over the engine's threads, each with its own column buffer and its own
 * weight-gradient partial, summed in thread order (deterministic for a
 * given thread count). 1x1 stride-1 convolutions skip im2col: the image is
 * its own column matrix. With stride 1, im2col copies rows of a padded
 * plane, and dx is computed as a convolution of dy (im2col of dy + a GEMM
 * accumulating into dx) instead of a dcol GEMM + col2im.
 */
#include "internal.h"
#include "ops/conv.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>

static int out_size(int in, int k, int stride, int pad, int dil)
{
    return (in + 2 * pad - dil * (k - 1) - 1) / stride + 1;
}

/* Stride-1 im2col through a zero-padded copy of each channel plane (pbuf,
 * (h + 2 pad) x (w + 2 pad)): every row of col is then a plain copy. */
static void im2col_s1(const float *x, const conv_shape *s, int ci, float *col, float *pbuf)
{
    const int hw_out = s->ho * s->wo, wp = s->w + 2 * s->pad;
    memset(pbuf, 0, (size_t)(s->h + 2 * s->pad) * wp * sizeof(float));
    for (int c = 0; c < ci; c++) {
        put_plane(x + (size_t)c * s->h * s->w, s->h, s->w, pbuf, wp, s->pad, s->pad);
        for (int kh = 0; kh < s->k; kh++)
            for (int kw = 0; kw < s->k; kw++) {
                float *row = col + ((size_t)(c * s->k + kh) * s->k + kw) * hw_out;
                const float *src = pbuf + (size_t)kh * s->dil * wp + kw * s->dil;
                for (int oh = 0; oh < s->ho; oh++)
                    copy_row(row + (size_t)oh * s->wo, src + (size_t)oh * wp, s->wo);
            }
    }
}

/* Floats of the pbuf im2col_s1 needs for shape s (0: it is not used). */
static size_t im2col_pbuf(const conv_shape *s)
{
    if (s->stride != 1)
        return 0;
    return (size_t)(s->h + 2 * s->pad) * (s->w + 2 * s->pad);
}

/* col (ci*k*k, ho*wo) from one image x (ci, h, w); pbuf: im2col_pbuf(s)
 * floats of scratch. */
static void im2col(const float *x, const conv_shape *s, int ci, float *col, float *pbuf)
{
    if (im2col_pbuf(s)) {
        im2col_s1(x, s, ci, col, pbuf);
        return;
    }
    const int hw_out = s->ho * s->wo;
    for (int c = 0; c < ci; c++)
        for (int kh = 0; kh < s->k; kh++)
            for (int kw = 0; kw < s->k; kw++) {
                float *row = col + ((size_t)(c * s->k + kh) * s->k + kw) * hw_out;
                const float *xc = x + (size_t)c * s->h * s->w;
                int xoff = kw * s->dil - s->pad;
                /* ow range with 0 <= ow*stride + xoff < w */
                int ow0 = xoff >= 0 ? 0 : (-xoff + s->stride - 1) / s->stride;
                int ow1 = (s->w - xoff + s->stride - 1) / s->stride;
                if (ow1 > s->wo)
                    ow1 = s->wo;
                if (ow1 < ow0)
                    ow1 = ow0;
                for (int oh = 0; oh < s->ho; oh++) {
                    float *r = row + (size_t)oh * s->wo;
                    int ih = oh * s->stride - s->pad + kh * s->dil;
                    if (ih < 0 || ih >= s->h) {
                        memset(r, 0, (size_t)s->wo * sizeof(float));
                        continue;
                    }
                    const float *xr = xc + (size_t)ih * s->w + xoff;
                    for (int ow = 0; ow < ow0; ow++)
                        r[ow] = 0.0f;
                    if (s->stride == 1)
                        memcpy(r + ow0, xr + ow0, (size_t)(ow1 - ow0) * sizeof(float));
                    else
                        for (int ow = ow0; ow < ow1; ow++)
                            r[ow] = xr[ow * s->stride];
                    for (int ow = ow1; ow < s->wo; ow++)
                        r[ow] = 0.0f;
                }
            }
}

/* dx (ci, h, w) += col2im(dcol). */
static void col2im_add(const float *col, const conv_shape *s, int ci, float *dx)
{
    const int hw_out = s->ho * s->wo;
    for (int c = 0; c < ci; c++)
        for (int kh = 0; kh < s->k; kh++)
            for (int kw = 0; kw < s->k; kw++) {
                const float *row = col + ((size_t)(c * s->k + kh) * s->k + kw) * hw_out;
                float *dc = dx + (size_t)c * s->h * s->w;
                int xoff = kw * s->dil - s->pad;
                int ow0 = xoff >= 0 ? 0 : (-xoff + s->stride - 1) / s->stride;
                int ow1 = (s->w - xoff + s->stride - 1) / s->stride;
                if (ow1 > s->wo)
                    ow1 = s->wo;
                for (int oh = 0; oh < s->ho; oh++) {
                    int ih = oh * s->stride - s->pad + kh * s->dil;
                    if (ih < 0 || ih >= s->h)
                        continue;
                    const float *r = row + (size_t)oh * s->wo;
                    float *dr = dc + (size_t)ih * s->w + xoff;
                    if (s->stride == 1)
                        for (int ow = ow0; ow < ow1; ow++)
                            dr[ow] += r[ow];
                    else
                        for (int ow = ow0; ow < ow1; ow++)
                            dr[ow * s->stride] += r[ow];
                }
            }
}

static int is_pointwise(const conv_shape *s)
{
    return s->k == 1 && s->stride == 1 && s->pad == 0;
}

/* ------------------------------------------------------------- dense */

typedef struct {
    const conv_shape *s;
    const float *x, *w, *dy;
    float *y, *dx, *dw; /* dw: one partial per thread chunk */
    float *cols;        /* one column buffer per thread chunk */
    size_t col_size, dw_size;
    size_t chunk_size; /* col_size + im2col's plane buffer */
    int nchunks;
    const float *wt; /* flipped, transposed w (dx as a conv), or NULL */
    conv_shape ts;   /* shape of that transposed conv */
} dense_ctx;

static int chunk_of(const dense_ctx *c, int i0)
{
    return nas__chunk_of(c->s->n, c->nchunks, i0);
}

static void dense_fwd_range(void *arg, int i0, int i1)
{
    dense_ctx *c = arg;
    const conv_shape *s = c->s;
    int cig = s->ci / s->groups, cog = s->co / s->groups;
    int kk = cig * s->k * s->k, hw = s->ho * s->wo;
    /* No column buffer for a pointwise conv: NULL + 0 is undefined. */
    float *col = c->cols ? c->cols + (size_t)chunk_of(c, i0) * c->chunk_size : NULL;
    for (int n = i0; n < i1; n++)
        for (int gi = 0; gi < s->groups; gi++) {
            const float *xg = c->x + ((size_t)n * s->ci + (size_t)gi * cig) * s->h * s->w;
            const float *b = xg;
            if (!is_pointwise(s)) {
                im2col(xg, s, cig, col, col + c->col_size);
                b = col;
            }
            float *yg = c->y + ((size_t)n * s->co + (size_t)gi * cog) * hw;
            /* yg (cog, hw) = w_g (cog, kk) @ col (kk, hw) */
            if (is_pointwise(s))
                nas__gemm_small_nn(0, cog, hw, kk, c->w + (size_t)gi * cog * kk, kk, b, hw, 0, yg,
                                   hw);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cog, hw, kk, 1.0f,
                            c->w + (size_t)gi * cog * kk, kk, b, hw, 0.0f, yg, hw);
        }
}

static void dense_bwd_range(void *arg, int i0, int i1)
{
    dense_ctx *c = arg;
    const conv_shape *s = c->s;
    int cig = s->ci / s->groups, cog = s->co / s->groups;
    int kk = cig * s->k * s->k, hw = s->ho * s->wo;
    int ch = chunk_of(c, i0);
    float *col = c->cols ? c->cols + (size_t)ch * c->chunk_size : NULL;
    float *dw = c->dw ? c->dw + (size_t)ch * c->dw_size : NULL;
    for (int n = i0; n < i1; n++)
        for (int gi = 0; gi < s->groups; gi++) {
            const float *dyg = c->dy + ((size_t)n * s->co + (size_t)gi * cog) * hw;
            const float *wg = c->w + (size_t)gi * cog * kk;
            size_t xoff = ((size_t)n * s->ci + (size_t)gi * cig) * s->h * s->w;
            if (dw) {
                const float *b = c->x + xoff;
                if (!is_pointwise(s)) {
                    im2col(c->x + xoff, s, cig, col, col + c->col_size);
                    b = col;
                }
                /* dw_g (cog, kk) += dy_g (cog, hw) @ col^T (hw, kk) */
                if (is_pointwise(s))
                    nas__gemm_small_nt_acc(cog, kk, hw, dyg, hw, b, hw, dw + (size_t)gi * cog * kk,
                                           kk);
                else
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, cog, kk, hw, 1.0f, dyg, hw,
                                b, hw, 1.0f, dw + (size_t)gi * cog * kk, kk);
            }
            if (c->dx && c->wt) {
                /* dx_g (cig, h*w) += wt_g (cig, cog*k*k) @ im2col(dy_g) */
                const conv_shape *t = &c->ts;
                int tk = cog * s->k * s->k, thw = s->h * s->w;
                im2col(dyg, t, cog, col, col + c->col_size);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cig, thw, tk, 1.0f,
                            c->wt + (size_t)gi * cig * tk, tk, col, thw, 1.0f, c->dx + xoff, thw);
            } else if (c->dx) {
                if (is_pointwise(s)) {
                    /* dx_g (kk, hw) += w_g^T (kk, cog) @ dy_g (cog, hw) */
                    nas__gemm_small_nn(1, kk, hw, cog, wg, kk, dyg, hw, 1, c->dx + xoff, hw);
                } else {
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kk, hw, cog, 1.0f, wg, kk,
                                dyg, hw, 0.0f, col, hw);
                    col2im_add(col, s, cig, c->dx + xoff);
                }
            }
        }
}

static int n_chunks(int n)
{
    int t = nas_get_threads();
    return t < n ? t : n;
}

static void dense_fwd(nas_graph *g, const conv_shape *s, const float *x, const float *w, float *y)
{
    dense_ctx c = {.s = s, .x = x, .w = w, .y = y, .nchunks = n_chunks(s->n)};
    c.col_size = (size_t)(s->ci / s->groups) * s->k * s->k * s->ho * s->wo;
    c.chunk_size = c.col_size + im2col_pbuf(s);
    if (!is_pointwise(s))
        c.cols = nas_arena_alloc(g->arena, c.chunk_size * c.nchunks * sizeof(float));
    nas__parallel_for(s->n, dense_fwd_range, &c);
}

static void dense_bwd(nas_graph *g, const conv_shape *s, const float *x, const float *w,
                      const float *dy, float *dx, float *dw)
{
    dense_ctx c = {.s = s, .x = x, .w = w, .dy = dy, .dx = dx, .nchunks = n_chunks(s->n)};
    const int cig = s->ci / s->groups, cog = s->co / s->groups, kk = s->k * s->k;
    c.col_size = (size_t)cig * kk * s->ho * s->wo;
    c.dw_size = (size_t)s->co * cig * kk;
    /* Stride 1 (and pad <= dil (k-1)): dx is the convolution of dy, padded
     * by q = dil (k-1) - pad, with w flipped in space and its channel axes
     * swapped. One im2col of dy and a GEMM of the forward's efficient shape
     * (M = cig, K = cog k k) accumulate straight into dx, where the dcol
     * GEMM (K = cog, a handful of channels) and col2im would make and then
     * scatter a whole column matrix. */
    int q = s->dil * (s->k - 1) - s->pad;
    if (dx && s->stride == 1 && q >= 0 && !is_pointwise(s)) {
        c.ts = (conv_shape){.n = s->n,
                            .ci = s->co,
                            .h = s->ho,
                            .w = s->wo,
                            .co = s->ci,
                            .k = s->k,
                            .stride = 1,
                            .pad = q,
                            .dil = s->dil,
                            .groups = s->groups,
                            .ho = s->h,
                            .wo = s->w};
        float *wt = nas_arena_alloc(g->arena, c.dw_size * sizeof(float));
        /* w (co, cig, kh, kw) -> wt per group (cig, cog, k-1-kh, k-1-kw) */
        for (int gi = 0; gi < s->groups; gi++)
            for (int o = 0; o < cog; o++)
                for (int i = 0; i < cig; i++)
                    for (int t = 0; t < kk; t++)
                        wt[(((size_t)gi * cig + i) * cog + o) * kk + kk - 1 - t] =
                            w[(((size_t)gi * cog + o) * cig + i) * kk + t];
        c.wt = wt;
        size_t tcol = (size_t)cog * kk * s->h * s->w;
        if (tcol > c.col_size)
            c.col_size = tcol;
    }
    size_t pb = im2col_pbuf(s), tpb = c.wt ? im2col_pbuf(&c.ts) : 0;
    c.chunk_size = c.col_size + (pb > tpb ? pb : tpb);
    c.cols = nas_arena_alloc(g->arena, c.chunk_size * c.nchunks * sizeof(float));
    if (dw) {
        if (c.nchunks == 1) {
            c.dw = dw; /* accumulate in place */
        } else {
            c.dw = nas_arena_zalloc(g->arena, c.dw_size * c.nchunks * sizeof(float));
        }
    }
    nas__parallel_for(s->n, dense_bwd_range, &c);
    if (dw && c.nchunks > 1)
        for (int k = 0; k < c.nchunks; k++)
            nas__add_to(dw, c.dw + (size_t)k * c.dw_size, c.dw_size);
}

/* -------------------------------------------------------------- op */

static void conv_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2];
    conv_shape s = {
        .n = x->shape[0],
        .ci = x->shape[1],
        .h = x->shape[2],
        .w = x->shape[3],
        .co = w->shape[0],
        .k = w->shape[2],
        .stride = nd->ia[0],
        .pad = nd->ia[1],
        .dil = nd->ia[2],
        .groups = nd->ia[3],
        .ho = nd->out->shape[2],
        .wo = nd->out->shape[3],
    };
    const float *dy = nd->out->grad;
    float *dx = nas__want(g, x) ? x->grad : NULL;
    float *dwt = nas__want(g, w) ? w->grad : NULL;
    if (nas__want(g, b)) {
        size_t hw = (size_t)s.ho * s.wo;
        for (int n = 0; n < s.n; n++)
            for (int c = 0; c < s.co; c++) {
                const float *r = dy + ((size_t)n * s.co + c) * hw;
                float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
                for (size_t i = 0; i < hw; i++)
                    sum += r[i];
                b->grad[c] += sum;
            }
    }
    if (!dx && !dwt)
        return;
    if (s.groups == s.ci && s.ci == s.co && s.groups > 1) {
        nas__conv_dw_bwd(g, &s, x->data, w->data, dy, dx, nas__fresh(nd, 0), dwt);
    } else {
        dense_bwd(g, &s, x->data, w->data, dy, dx, dwt);
    }
}

nas_tensor *nas_conv2d(nas_graph *g, nas_tensor *x, nas_tensor *w, nas_tensor *bias, int stride,
                       int pad, int dil, int groups)
{
    NAS_ASSERT(x->ndim == 4 && w->ndim == 4 && "conv2d: 4-d x and w");
    NAS_ASSERT(stride >= 1 && pad >= 0 && dil >= 1 && groups >= 1);
    conv_shape s = {
        .n = x->shape[0],
        .ci = x->shape[1],
        .h = x->shape[2],
        .w = x->shape[3],
        .co = w->shape[0],
        .k = w->shape[2],
        .stride = stride,
        .pad = pad,
        .dil = dil,
        .groups = groups,
    };
    NAS_ASSERT(w->shape[2] == w->shape[3] && "conv2d: square kernels");
    NAS_ASSERT(s.ci % groups == 0 && s.co % groups == 0 && w->shape[1] == s.ci / groups &&
               "conv2d: channels vs groups");
    NAS_ASSERT(!bias || (int)nas_tensor_numel(bias) == s.co);
    s.ho = out_size(s.h, s.k, stride, pad, dil);
    s.wo = out_size(s.w, s.k, stride, pad, dil);
    NAS_ASSERT(s.ho > 0 && s.wo > 0 && "conv2d: output would be empty");
    int shape[4] = {s.n, s.co, s.ho, s.wo};
    nas_tensor *in[3] = {x, w, bias};
    nas_tensor *y = nas__out(g, 4, shape, in, 3);
    if (groups == s.ci && s.ci == s.co && groups > 1) {
        NAS_ASSERT(s.k <= 7 && "depthwise: kernels up to 7x7");
        nas__conv_dw_fwd(g, &s, x->data, w->data, y->data);
    } else {
        dense_fwd(g, &s, x->data, w->data, y->data);
    }
    if (bias) {
        size_t hw = (size_t)s.ho * s.wo;
        for (int n = 0; n < s.n; n++)
            for (int c = 0; c < s.co; c++) {
                float *r = y->data + ((size_t)n * s.co + c) * hw;
                for (size_t i = 0; i < hw; i++)
                    r[i] += bias->data[c];
            }
    }
    nas_node *nd = nas__record(g, conv_bwd, y, in, 3);
    if (nd) {
        nd->ia[0] = stride;
        nd->ia[1] = pad;
        nd->ia[2] = dil;
        nd->ia[3] = groups;
        /* depthwise backward writes every pixel of dx */
        nd->ow = groups == s.ci && s.ci == s.co && groups > 1 ? 1u : 0u;
    }
    NAS__PROF(nas__prof_conv(g, y, x, w, groups));
    NAS__EX(g, nas__ex_conv(g, y, x, w, bias, stride, pad, dil, groups));
    return y;
}
