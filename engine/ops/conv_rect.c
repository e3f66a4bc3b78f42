// SPDX-License-Identifier: MIT
/*
 * conv_rect.c - the two ops NAS with RL's children need that conv.c does
 * not have: a dense convolution with a rectangular kernel (kh x kw, e.g.
 * 3x7) and "same" padding, and a zero padding of a feature map to a larger
 * plane (inputs of different sizes concatenated along depth).
 *
 * The one design decision to know: padding follows TensorFlow's "SAME"
 * rule, so every kernel size (odd or even) and stride gives an output of
 * ceil(H / stride) x ceil(W / stride): the total padding is what the
 * kernel needs, its odd unit goes to the bottom / right. The op itself is
 * general (pad_top, pad_left, output size given); out-of-plane taps read
 * zero. im2col + sgemm per image (nas__sgemm spreads one GEMM over the
 * calling thread's engine threads); the weight gradient accumulates image
 * after image, so the sums do not depend on the thread count's split.
 */
#include "internal.h"

typedef struct {
    int n, ci, h, w, co, kh, kw, stride, pt, pl, ho, wo;
} rect_shape;

/* col (ci kh kw, ho wo) of one image x (ci, h, w). */
static void im2col(const float *x, const rect_shape *s, float *col)
{
    const int hw = s->ho * s->wo;
    for (int c = 0; c < s->ci; c++)
        for (int a = 0; a < s->kh; a++)
            for (int b = 0; b < s->kw; b++) {
                float *row = col + ((size_t)(c * s->kh + a) * s->kw + b) * hw;
                for (int oh = 0; oh < s->ho; oh++) {
                    int ih = oh * s->stride - s->pt + a;
                    float *r = row + (size_t)oh * s->wo;
                    if (ih < 0 || ih >= s->h) {
                        memset(r, 0, (size_t)s->wo * sizeof(float));
                        continue;
                    }
                    const float *src = x + ((size_t)c * s->h + ih) * s->w;
                    for (int ow = 0; ow < s->wo; ow++) {
                        int iw = ow * s->stride - s->pl + b;
                        r[ow] = iw >= 0 && iw < s->w ? src[iw] : 0.0f;
                    }
                }
            }
}

/* dx (ci, h, w) += the columns of dcol folded back (im2col's adjoint). */
static void col2im(const float *dcol, const rect_shape *s, float *dx)
{
    const int hw = s->ho * s->wo;
    for (int c = 0; c < s->ci; c++)
        for (int a = 0; a < s->kh; a++)
            for (int b = 0; b < s->kw; b++) {
                const float *row = dcol + ((size_t)(c * s->kh + a) * s->kw + b) * hw;
                for (int oh = 0; oh < s->ho; oh++) {
                    int ih = oh * s->stride - s->pt + a;
                    if (ih < 0 || ih >= s->h)
                        continue;
                    float *dst = dx + ((size_t)c * s->h + ih) * s->w;
                    const float *r = row + (size_t)oh * s->wo;
                    for (int ow = 0; ow < s->wo; ow++) {
                        int iw = ow * s->stride - s->pl + b;
                        if (iw >= 0 && iw < s->w)
                            dst[iw] += r[ow];
                    }
                }
            }
}

static rect_shape shape_of(const nas_tensor *x, const nas_tensor *w, const nas_tensor *y,
                           const int *ia)
{
    rect_shape s = {
        .n = x->shape[0],
        .ci = x->shape[1],
        .h = x->shape[2],
        .w = x->shape[3],
        .co = w->shape[0],
        .kh = w->shape[2],
        .kw = w->shape[3],
        .stride = ia[0],
        .pt = ia[1],
        .pl = ia[2],
        .ho = y->shape[2],
        .wo = y->shape[3],
    };
    return s;
}

static void conv_rect_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *x = nd->in[0], *w = nd->in[1];
    rect_shape s = shape_of(x, w, nd->out, nd->ia);
    float *dx = nas__want(g, x) ? x->grad : NULL;
    float *dw = nas__want(g, w) ? w->grad : NULL;
    if (!dx && !dw)
        return;
    const int K = s.ci * s.kh * s.kw, hw = s.ho * s.wo;
    float *col = nas_arena_alloc(g->arena, (size_t)K * hw * sizeof(float));
    for (int i = 0; i < s.n; i++) {
        const float *dy = nd->out->grad + (size_t)i * s.co * hw;
        if (dw) {
            /* dw (co, K) += dy (co, hw) col^T (hw, K) */
            im2col(x->data + (size_t)i * s.ci * s.h * s.w, &s, col);
            nas__sgemm(CblasNoTrans, CblasTrans, s.co, K, hw, 1.0f, dy, hw, col, hw, 1.0f, dw, K);
        }
        if (dx) {
            /* dcol (K, hw) = w^T (K, co) dy (co, hw) */
            nas__sgemm(CblasTrans, CblasNoTrans, K, hw, s.co, 1.0f, w->data, K, dy, hw, 0.0f, col,
                       hw);
            col2im(col, &s, dx + (size_t)i * s.ci * s.h * s.w);
        }
    }
}

nas_tensor *nas__conv2d_rect(nas_graph *g, nas_tensor *x, nas_tensor *w, int stride, int pad_top,
                             int pad_left, int ho, int wo)
{
    NAS_ASSERT(x->ndim == 4 && w->ndim == 4 && "conv2d_rect: 4-d x and w");
    NAS_ASSERT(w->shape[1] == x->shape[1] && "conv2d_rect: input channels");
    NAS_ASSERT(stride >= 1 && pad_top >= 0 && pad_left >= 0 && ho > 0 && wo > 0);
    int shape[4] = {x->shape[0], w->shape[0], ho, wo};
    nas_tensor *in[2] = {x, w};
    nas_tensor *y = nas__out(g, 4, shape, in, 2);
    int ia[3] = {stride, pad_top, pad_left};
    rect_shape s = shape_of(x, w, y, ia);
    const int K = s.ci * s.kh * s.kw, hw = s.ho * s.wo;
    float *col = nas_arena_alloc(g->arena, (size_t)K * hw * sizeof(float));
    for (int i = 0; i < s.n; i++) {
        im2col(x->data + (size_t)i * s.ci * s.h * s.w, &s, col);
        /* y (co, hw) = w (co, K) col (K, hw) */
        nas__sgemm(CblasNoTrans, CblasNoTrans, s.co, hw, K, 1.0f, w->data, K, col, hw, 0.0f,
                   y->data + (size_t)i * s.co * hw, hw);
    }
    nas_node *nd = nas__record(g, conv_rect_bwd, y, in, 2);
    if (nd)
        memcpy(nd->ia, ia, sizeof(ia));
    NAS__PROF(nas__prof_conv(g, y, x, w, 1));
    NAS__EX(g, nas__ex_conv_rect(g, y, x, w, stride, pad_top, pad_left));
    return y;
}

void nas__same_pad(int in, int k, int stride, int *out, int *pad_before)
{
    int o = (in + stride - 1) / stride;
    int total = (o - 1) * stride + k - in;
    *out = o;
    *pad_before = total > 0 ? total / 2 : 0;
}

nas_tensor *nas__conv2d_same(nas_graph *g, nas_tensor *x, nas_tensor *w, int stride)
{
    int ho, wo, pt, pl;
    nas__same_pad(x->shape[2], w->shape[2], stride, &ho, &pt);
    nas__same_pad(x->shape[3], w->shape[3], stride, &wo, &pl);
    return nas__conv2d_rect(g, x, w, stride, pt, pl, ho, wo);
}

/* ----------------------------------------------------------- zero pad */

static void pad_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *x = nd->in[0], *y = nd->out;
    if (!nas__want(g, x))
        return;
    int nc = x->shape[0] * x->shape[1], h = x->shape[2], w = x->shape[3];
    int ho = y->shape[2], wo = y->shape[3], top = nd->ia[0], left = nd->ia[1];
    for (int p = 0; p < nc; p++)
        for (int r = 0; r < h; r++)
            nas__add_to(x->grad + ((size_t)p * h + r) * w,
                        y->grad + ((size_t)p * ho + r + top) * wo + left, (size_t)w);
}

nas_tensor *nas__zero_pad(nas_graph *g, nas_tensor *x, int ho, int wo)
{
    NAS_ASSERT(x->ndim == 4 && "zero_pad: (N, C, H, W)");
    int h = x->shape[2], w = x->shape[3];
    NAS_ASSERT(ho >= h && wo >= w && "zero_pad: the plane only grows");
    if (ho == h && wo == w)
        return x;
    int nc = x->shape[0] * x->shape[1];
    int top = (ho - h) / 2, left = (wo - w) / 2;
    int shape[4] = {x->shape[0], x->shape[1], ho, wo};
    nas_tensor *y = nas__out(g, 4, shape, &x, 1);
    memset(y->data, 0, nas_tensor_numel(y) * sizeof(float));
    for (int p = 0; p < nc; p++)
        for (int r = 0; r < h; r++)
            memcpy(y->data + ((size_t)p * ho + r + top) * wo + left,
                   x->data + ((size_t)p * h + r) * w, (size_t)w * sizeof(float));
    nas_node *nd = nas__record(g, pad_bwd, y, &x, 1);
    if (nd) {
        nd->ia[0] = top;
        nd->ia[1] = left;
    }
    NAS__PROF(nas__prof_op(g, NAS_PROF_COPY, y, &x, 1, 0.0));
    NAS__EX(g, nas__ex_zero_pad(g, y, x));
    return y;
}
