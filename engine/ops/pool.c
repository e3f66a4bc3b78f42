/*
 * pool.c - k x k max and average pooling and global average pooling.
 * Windows are clipped to the image: max pooling ignores padding (as if
 * padded with -inf), average pooling divides by the number of pixels
 * actually inside the window (count_include_pad=False, as DARTS uses).
 * Max pooling keeps the argmax of every output for backward.
 */
#include "internal.h"

#include <float.h>

typedef struct {
    int n, c, h, w, k, stride, pad, ho, wo;
} pool_shape;

static pool_shape shape_of(const nas_tensor *x, int k, int stride, int pad)
{
    pool_shape s = {x->shape[0], x->shape[1], x->shape[2], x->shape[3],
                    k, stride, pad, 0, 0};
    s.ho = (s.h + 2 * pad - k) / stride + 1;
    s.wo = (s.w + 2 * pad - k) / stride + 1;
    return s;
}

/* Window of output (oh, ow) clipped to the image: rows [h0,h1), cols [w0,w1). */
static inline void window(const pool_shape *s, int oh, int ow, int *h0,
                          int *h1, int *w0, int *w1)
{
    *h0 = oh * s->stride - s->pad;
    *w0 = ow * s->stride - s->pad;
    *h1 = *h0 + s->k < s->h ? *h0 + s->k : s->h;
    *w1 = *w0 + s->k < s->w ? *w0 + s->k : s->w;
    if (*h0 < 0)
        *h0 = 0;
    if (*w0 < 0)
        *w0 = 0;
}

static void maxpool_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *x = nd->in[0];
    if (!nas__want(g, x))
        return;
    const int32_t *arg = nd->pa[0];
    size_t nout = nas_tensor_numel(nd->out);
    size_t plane_out = (size_t)nd->out->shape[2] * nd->out->shape[3];
    size_t plane_in = (size_t)x->shape[2] * x->shape[3];
    for (size_t i = 0; i < nout; i++)
        x->grad[(i / plane_out) * plane_in + arg[i]] += nd->out->grad[i];
}

nas_tensor *nas_maxpool2d(nas_graph *g, nas_tensor *x, int k, int stride,
                          int pad)
{
    NAS_ASSERT(x->ndim == 4 && k >= 1 && stride >= 1 && pad >= 0 && 2 * pad < k + 1);
    pool_shape s = shape_of(x, k, stride, pad);
    NAS_ASSERT(s.ho > 0 && s.wo > 0);
    int shape[4] = {s.n, s.c, s.ho, s.wo};
    nas_tensor *y = nas__out(g, 4, shape, &x, 1);
    int32_t *arg = nas_arena_alloc(g->arena, nas_tensor_numel(y) * sizeof(int32_t));
    for (int p = 0; p < s.n * s.c; p++) {
        const float *xp = x->data + (size_t)p * s.h * s.w;
        float *yp = y->data + (size_t)p * s.ho * s.wo;
        int32_t *ap = arg + (size_t)p * s.ho * s.wo;
        for (int oh = 0; oh < s.ho; oh++)
            for (int ow = 0; ow < s.wo; ow++) {
                int h0, h1, w0, w1;
                window(&s, oh, ow, &h0, &h1, &w0, &w1);
                float best = -FLT_MAX;
                int bi = h0 * s.w + w0;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++)
                        if (xp[ih * s.w + iw] > best) {
                            best = xp[ih * s.w + iw];
                            bi = ih * s.w + iw;
                        }
                yp[oh * s.wo + ow] = best;
                ap[oh * s.wo + ow] = bi;
            }
    }
    nas_node *nd = nas__record(g, maxpool_bwd, y, &x, 1);
    if (nd)
        nd->pa[0] = arg;
    return y;
}

static void avgpool_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *x = nd->in[0];
    if (!nas__want(g, x))
        return;
    pool_shape s = shape_of(x, nd->ia[0], nd->ia[1], nd->ia[2]);
    for (int p = 0; p < s.n * s.c; p++) {
        float *dx = x->grad + (size_t)p * s.h * s.w;
        const float *dy = nd->out->grad + (size_t)p * s.ho * s.wo;
        for (int oh = 0; oh < s.ho; oh++)
            for (int ow = 0; ow < s.wo; ow++) {
                int h0, h1, w0, w1;
                window(&s, oh, ow, &h0, &h1, &w0, &w1);
                float v = dy[oh * s.wo + ow] / (float)((h1 - h0) * (w1 - w0));
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++)
                        dx[ih * s.w + iw] += v;
            }
    }
}

nas_tensor *nas_avgpool2d(nas_graph *g, nas_tensor *x, int k, int stride,
                          int pad)
{
    NAS_ASSERT(x->ndim == 4 && k >= 1 && stride >= 1 && pad >= 0 && 2 * pad < k + 1);
    pool_shape s = shape_of(x, k, stride, pad);
    NAS_ASSERT(s.ho > 0 && s.wo > 0);
    int shape[4] = {s.n, s.c, s.ho, s.wo};
    nas_tensor *y = nas__out(g, 4, shape, &x, 1);
    for (int p = 0; p < s.n * s.c; p++) {
        const float *xp = x->data + (size_t)p * s.h * s.w;
        float *yp = y->data + (size_t)p * s.ho * s.wo;
        for (int oh = 0; oh < s.ho; oh++)
            for (int ow = 0; ow < s.wo; ow++) {
                int h0, h1, w0, w1;
                window(&s, oh, ow, &h0, &h1, &w0, &w1);
                float sum = 0.0f;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++)
                        sum += xp[ih * s.w + iw];
                yp[oh * s.wo + ow] = sum / (float)((h1 - h0) * (w1 - w0));
            }
    }
    nas_node *nd = nas__record(g, avgpool_bwd, y, &x, 1);
    if (nd) {
        nd->ia[0] = k;
        nd->ia[1] = stride;
        nd->ia[2] = pad;
    }
    return y;
}

static void gap_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *x = nd->in[0];
    if (!nas__want(g, x))
        return;
    size_t planes = (size_t)x->shape[0] * x->shape[1];
    size_t hw = nas_tensor_inner(x);
    for (size_t p = 0; p < planes; p++) {
        float v = nd->out->grad[p] / (float)hw;
        float *dx = x->grad + p * hw;
        for (size_t i = 0; i < hw; i++)
            dx[i] += v;
    }
}

nas_tensor *nas_global_avgpool(nas_graph *g, nas_tensor *x)
{
    NAS_ASSERT(x->ndim == 4);
    int shape[2] = {x->shape[0], x->shape[1]};
    nas_tensor *y = nas__out(g, 2, shape, &x, 1);
    size_t planes = (size_t)x->shape[0] * x->shape[1];
    size_t hw = nas_tensor_inner(x);
    for (size_t p = 0; p < planes; p++) {
        const float *xp = x->data + p * hw;
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (size_t i = 0; i < hw; i++)
            sum += xp[i];
        y->data[p] = sum / (float)hw;
    }
    nas__record(g, gap_bwd, y, &x, 1);
    return y;
}
