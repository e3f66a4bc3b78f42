// SPDX-License-Identifier: MIT
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
    pool_shape s = {x->shape[0], x->shape[1], x->shape[2], x->shape[3], k, stride, pad, 0, 0};
    s.ho = (s.h + 2 * pad - k) / stride + 1;
    s.wo = (s.w + 2 * pad - k) / stride + 1;
    return s;
}

/*
 * Max and average pooling are separable: a window's max (sum) is the max
 * (sum) over its rows of the row's max (sum) over its columns. Each plane
 * is pooled along its rows into a scratch of h x wo (the window's columns
 * for every output column), then down its columns; the unclipped outputs
 * of both passes are shifted vector loops over a whole row, the clipped
 * ones at the borders a short scalar loop. Max keeps the first maximum in
 * row-major window order (first the earliest row holding the window's
 * maximum, then the earliest column in it), as a direct scan would. Planes
 * are independent: they are split over the engine's threads, and the
 * numbers do not depend on the split.
 */
typedef struct {
    pool_shape s;
    int max;
    const float *x, *dy;
    float *y, *dx;
    int32_t *arg;
    float *scratch; /* per chunk: 2 h wo floats + h wo ints */
    int nchunks;
} pool_ctx;

/* Outputs [lo, hi) along a dimension have unclipped windows. */
static void interior(int out, int in, int k, int stride, int pad, int *lo, int *hi)
{
    *lo = (pad + stride - 1) / stride;
    *hi = in + pad - k < 0 ? 0 : (in + pad - k) / stride + 1;
    if (*hi > out)
        *hi = out;
    if (*lo > *hi)
        *lo = *hi;
}

/* Clipped window [i0, i1) of output o along a dimension of length len. */
static inline void clip(int o, int k, int stride, int pad, int len, int *i0, int *i1)
{
    *i0 = o * stride - pad;
    *i1 = *i0 + k < len ? *i0 + k : len;
    if (*i0 < 0)
        *i0 = 0;
}

/* The number of columns in each output column's window. */
static void col_counts(const pool_shape *s, float *cw)
{
    for (int ow = 0; ow < s->wo; ow++) {
        int w0, w1;
        clip(ow, s->k, s->stride, s->pad, s->w, &w0, &w1);
        cw[ow] = (float)(w1 - w0);
    }
}

/* Row pass of one input row r (w floats) into hr (wo floats): the max
 * (with its column in hc) or the sum of each window's columns. st is the
 * stride, a constant where inlined for stride 1 (the interior loops are
 * then contiguous vector loops). */
static inline __attribute__((always_inline)) void
row_pass_st(const pool_shape *s, const int st, int max, int lo, int hi, const float *restrict r,
            float *restrict hr, int32_t *restrict hc)
{
    for (int ow = 0; ow < s->wo; ow++) {
        if (ow == lo && hi > lo) {
            ow = hi - 1;
            continue;
        }
        int w0, w1;
        clip(ow, s->k, s->stride, s->pad, s->w, &w0, &w1);
        float v = r[w0];
        int32_t c = w0;
        for (int iw = w0 + 1; iw < w1; iw++) {
            if (max && r[iw] > v) {
                v = r[iw];
                c = iw;
            } else if (!max) {
                v += r[iw];
            }
        }
        hr[ow] = v;
        if (max)
            hc[ow] = c;
    }
    const int off = -s->pad;
    if (max) {
        for (int ow = lo; ow < hi; ow++) {
            hr[ow] = r[ow * st + off];
            hc[ow] = ow * st + off;
        }
        for (int kw = 1; kw < s->k; kw++)
            for (int ow = lo; ow < hi; ow++) {
                float v = r[ow * st + off + kw];
                int gt = v > hr[ow];
                hc[ow] = gt ? ow * st + off + kw : hc[ow];
                hr[ow] = gt ? v : hr[ow];
            }
    } else {
        for (int ow = lo; ow < hi; ow++)
            hr[ow] = r[ow * st + off];
        for (int kw = 1; kw < s->k; kw++)
            for (int ow = lo; ow < hi; ow++)
                hr[ow] += r[ow * st + off + kw];
    }
}

static void row_pass(const pool_shape *s, int max, int lo, int hi, const float *restrict r,
                     float *restrict hr, int32_t *restrict hc)
{
    if (s->stride == 1)
        row_pass_st(s, 1, max, lo, hi, r, hr, hc);
    else
        row_pass_st(s, s->stride, max, lo, hi, r, hr, hc);
}

static void pool_fwd_range(void *arg, int p0, int p1)
{
    const pool_ctx *c = arg;
    const pool_shape *s = &c->s;
    int chunk = nas__chunk_of(s->n * s->c, c->nchunks, p0);
    float *hs = c->scratch + (size_t)chunk * 3 * s->h * s->wo;
    int32_t *hc = (int32_t *)(hs + (size_t)s->h * s->wo);
    float *cw = hs + (size_t)2 * s->h * s->wo;
    col_counts(s, cw);
    int lo, hi;
    interior(s->wo, s->w, s->k, s->stride, s->pad, &lo, &hi);
    for (int p = p0; p < p1; p++) {
        const float *xp = c->x + (size_t)p * s->h * s->w;
        float *yp = c->y + (size_t)p * s->ho * s->wo;
        int32_t *ap = c->max ? c->arg + (size_t)p * s->ho * s->wo : NULL;
        for (int ih = 0; ih < s->h; ih++)
            row_pass(s, c->max, lo, hi, xp + (size_t)ih * s->w, hs + (size_t)ih * s->wo,
                     hc + (size_t)ih * s->wo);
        for (int oh = 0; oh < s->ho; oh++) {
            int h0, h1;
            clip(oh, s->k, s->stride, s->pad, s->h, &h0, &h1);
            float *restrict yr = yp + (size_t)oh * s->wo;
            const float *restrict r0 = hs + (size_t)h0 * s->wo;
            if (c->max) {
                /* wo and the row offsets in locals: the stores through ar
                 * and yr could otherwise alias s, and the loops would
                 * reload it and stay scalar */
                const int wo = s->wo;
                int32_t *restrict ar = ap + (size_t)oh * wo;
                const int32_t *restrict c0 = hc + (size_t)h0 * wo;
                const int32_t b0 = h0 * s->w;
                for (int ow = 0; ow < wo; ow++) {
                    yr[ow] = r0[ow];
                    ar[ow] = b0 + c0[ow];
                }
                for (int ih = h0 + 1; ih < h1; ih++) {
                    const float *restrict ri = hs + (size_t)ih * wo;
                    const int32_t *restrict ci = hc + (size_t)ih * wo;
                    const int32_t bi = ih * s->w;
                    for (int ow = 0; ow < wo; ow++) {
                        int gt = ri[ow] > yr[ow];
                        ar[ow] = gt ? bi + ci[ow] : ar[ow];
                        yr[ow] = gt ? ri[ow] : yr[ow];
                    }
                }
            } else {
                const int wo = s->wo;
                for (int ow = 0; ow < wo; ow++)
                    yr[ow] = r0[ow];
                for (int ih = h0 + 1; ih < h1; ih++) {
                    const float *restrict ri = hs + (size_t)ih * wo;
                    for (int ow = 0; ow < wo; ow++)
                        yr[ow] += ri[ow];
                }
                const float rows = (float)(h1 - h0);
                for (int ow = 0; ow < wo; ow++)
                    yr[ow] /= rows * cw[ow];
            }
        }
    }
}

static void pool_bwd_range(void *arg, int p0, int p1)
{
    const pool_ctx *c = arg;
    const pool_shape *s = &c->s;
    const size_t plane_out = (size_t)s->ho * s->wo, plane_in = (size_t)s->h * s->w;
    if (c->max) {
        for (int p = p0; p < p1; p++) {
            float *dx = c->dx + (size_t)p * plane_in;
            const float *dy = c->dy + (size_t)p * plane_out;
            const int32_t *a = c->arg + (size_t)p * plane_out;
            for (size_t i = 0; i < plane_out; i++)
                dx[a[i]] += dy[i];
        }
        return;
    }
    int chunk = nas__chunk_of(s->n * s->c, c->nchunks, p0);
    /* The transpose of the forward: dy / count spread up the window's
     * rows into gs (h x wo), then along each row's window columns. */
    float *gs = c->scratch + (size_t)chunk * 3 * s->h * s->wo;
    float *cw = gs + (size_t)2 * s->h * s->wo;
    col_counts(s, cw);
    int lo, hi;
    interior(s->wo, s->w, s->k, s->stride, s->pad, &lo, &hi);
    const int st = s->stride, off = -s->pad;
    for (int p = p0; p < p1; p++) {
        float *dxp = c->dx + (size_t)p * plane_in;
        const float *dyp = c->dy + (size_t)p * plane_out;
        memset(gs, 0, (size_t)s->h * s->wo * sizeof(float));
        for (int oh = 0; oh < s->ho; oh++) {
            int h0, h1;
            clip(oh, s->k, s->stride, s->pad, s->h, &h0, &h1);
            const float rows = (float)(h1 - h0);
            const float *restrict dr = dyp + (size_t)oh * s->wo;
            for (int ih = h0; ih < h1; ih++) {
                float *restrict gr = gs + (size_t)ih * s->wo;
                for (int ow = 0; ow < s->wo; ow++)
                    gr[ow] += dr[ow] / (rows * cw[ow]);
            }
        }
        for (int ih = 0; ih < s->h; ih++) {
            const float *restrict gr = gs + (size_t)ih * s->wo;
            float *restrict dr = dxp + (size_t)ih * s->w;
            for (int kw = 0; kw < s->k; kw++)
                for (int ow = lo; ow < hi; ow++)
                    dr[ow * st + off + kw] += gr[ow];
            for (int ow = 0; ow < s->wo; ow++) {
                if (ow == lo && hi > lo) {
                    ow = hi - 1;
                    continue;
                }
                int w0, w1;
                clip(ow, s->k, s->stride, s->pad, s->w, &w0, &w1);
                for (int iw = w0; iw < w1; iw++)
                    dr[iw] += gr[ow];
            }
        }
    }
}

/* Planes over the engine's threads when there are enough pixels to pay
 * for waking them. */
static void pool_run(nas_graph *g, pool_ctx *c, nas_range_fn fn)
{
    int planes = c->s.n * c->s.c;
    size_t pixels = (size_t)planes * c->s.h * c->s.w;
    int t = pixels >= 65536 ? nas_get_threads() : 1;
    c->nchunks = t < planes ? t : planes;
    if (c->nchunks < 1)
        c->nchunks = 1;
    if (fn == pool_fwd_range || !c->max)
        c->scratch =
            nas_arena_alloc(g->arena, (size_t)c->nchunks * 3 * c->s.h * c->s.wo * sizeof(float));
    if (c->nchunks > 1)
        nas__parallel_for(planes, fn, c);
    else
        fn(c, 0, planes);
}

static void pool_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *x = nd->in[0];
    if (!nas__want(g, x))
        return;
    pool_ctx c = {.s = shape_of(x, nd->ia[0], nd->ia[1], nd->ia[2]),
                  .max = nd->ia[3],
                  .dy = nd->out->grad,
                  .dx = x->grad,
                  .arg = nd->pa[0]};
    pool_run(g, &c, pool_bwd_range);
}

static nas_tensor *pool(nas_graph *g, nas_tensor *x, int k, int stride, int pad, int max)
{
    NAS_ASSERT(x->ndim == 4 && k >= 1 && stride >= 1 && pad >= 0 && 2 * pad < k + 1);
    pool_shape s = shape_of(x, k, stride, pad);
    NAS_ASSERT(s.ho > 0 && s.wo > 0);
    int shape[4] = {s.n, s.c, s.ho, s.wo};
    nas_tensor *y = nas__out(g, 4, shape, &x, 1);
    pool_ctx c = {.s = s, .max = max, .x = x->data, .y = y->data};
    if (max)
        c.arg = nas_arena_alloc(g->arena, nas_tensor_numel(y) * sizeof(int32_t));
    pool_run(g, &c, pool_fwd_range);
    nas_node *nd = nas__record(g, pool_bwd, y, &x, 1);
    if (nd) {
        nd->ia[0] = k;
        nd->ia[1] = stride;
        nd->ia[2] = pad;
        nd->ia[3] = max;
        nd->pa[0] = c.arg;
    }
    NAS__PROF(nas__prof_op(g, NAS_PROF_POOL, y, &x, 1, (double)nas_tensor_numel(y) * k * k));
    NAS__EX(g, nas__ex_pool(g, y, x, max, k, stride, pad));
    return y;
}

nas_tensor *nas_maxpool2d(nas_graph *g, nas_tensor *x, int k, int stride, int pad)
{
    return pool(g, x, k, stride, pad, 1);
}

nas_tensor *nas_avgpool2d(nas_graph *g, nas_tensor *x, int k, int stride, int pad)
{
    return pool(g, x, k, stride, pad, 0);
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
    NAS__PROF(nas__prof_op(g, NAS_PROF_POOL, y, &x, 1, (double)nas_tensor_numel(x)));
    NAS__EX(g, nas__ex_gap(g, y, x));
    return y;
}
