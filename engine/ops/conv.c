/*
 * conv.c - 2-d convolution, forward and backward.
 *
 * Dense and grouped convolutions are im2col + cblas_sgemm per image (and
 * group), not one GEMM over the whole batch: with the few output channels
 * of NAS cells (M = 8..64) a batch-wide N = B*H*W GEMM runs at half the
 * speed of per-image ones (../shared/peer/results.md). Images are spread
 * over the engine's threads, each with its own column buffer and its own
 * weight-gradient partial, summed in thread order (deterministic for a
 * given thread count). 1x1 stride-1 convolutions skip im2col: the image is
 * its own column matrix.
 *
 * Depthwise convolutions (groups == Ci == Co) are direct loops over a
 * zero-padded copy of each plane, written as row axpys the compiler
 * vectorises; backward is split by channel so no two threads touch the
 * same weight gradient.
 */
#include "internal.h"

#include <cblas.h>
#include <stdlib.h>

typedef struct {
    int n, ci, h, w, co, k, stride, pad, dil, groups, ho, wo;
} conv_shape;

static int out_size(int in, int k, int stride, int pad, int dil)
{
    return (in + 2 * pad - dil * (k - 1) - 1) / stride + 1;
}

/* col (ci*k*k, ho*wo) from one image x (ci, h, w). */
static void im2col(const float *x, const conv_shape *s, int ci, float *col)
{
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
    float *y, *dx, *dw;     /* dw: one partial per thread chunk */
    float *cols;            /* one column buffer per thread chunk */
    size_t col_size, dw_size;
    int nchunks;
} dense_ctx;

static int chunk_of(const dense_ctx *c, int i0)
{
    /* nas__parallel_for gives chunk k the range starting at n*k/t. */
    for (int k = c->nchunks - 1; k > 0; k--)
        if (i0 >= (int)((long)c->s->n * k / c->nchunks))
            return k;
    return 0;
}

static void dense_fwd_range(void *arg, int i0, int i1)
{
    dense_ctx *c = arg;
    const conv_shape *s = c->s;
    int cig = s->ci / s->groups, cog = s->co / s->groups;
    int kk = cig * s->k * s->k, hw = s->ho * s->wo;
    float *col = c->cols + (size_t)chunk_of(c, i0) * c->col_size;
    for (int n = i0; n < i1; n++)
        for (int gi = 0; gi < s->groups; gi++) {
            const float *xg = c->x + ((size_t)n * s->ci + (size_t)gi * cig) * s->h * s->w;
            const float *b = xg;
            if (!is_pointwise(s)) {
                im2col(xg, s, cig, col);
                b = col;
            }
            float *yg = c->y + ((size_t)n * s->co + (size_t)gi * cog) * hw;
            /* yg (cog, hw) = w_g (cog, kk) @ col (kk, hw) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cog, hw, kk,
                        1.0f, c->w + (size_t)gi * cog * kk, kk, b, hw, 0.0f, yg, hw);
        }
}

static void dense_bwd_range(void *arg, int i0, int i1)
{
    dense_ctx *c = arg;
    const conv_shape *s = c->s;
    int cig = s->ci / s->groups, cog = s->co / s->groups;
    int kk = cig * s->k * s->k, hw = s->ho * s->wo;
    int ch = chunk_of(c, i0);
    float *col = c->cols + (size_t)ch * c->col_size;
    float *dw = c->dw ? c->dw + (size_t)ch * c->dw_size : NULL;
    for (int n = i0; n < i1; n++)
        for (int gi = 0; gi < s->groups; gi++) {
            const float *dyg = c->dy + ((size_t)n * s->co + (size_t)gi * cog) * hw;
            const float *wg = c->w + (size_t)gi * cog * kk;
            size_t xoff = ((size_t)n * s->ci + (size_t)gi * cig) * s->h * s->w;
            if (dw) {
                const float *b = c->x + xoff;
                if (!is_pointwise(s)) {
                    im2col(c->x + xoff, s, cig, col);
                    b = col;
                }
                /* dw_g (cog, kk) += dy_g (cog, hw) @ col^T (hw, kk) */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, cog, kk, hw,
                            1.0f, dyg, hw, b, hw, 1.0f, dw + (size_t)gi * cog * kk, kk);
            }
            if (c->dx) {
                if (is_pointwise(s)) {
                    /* dx_g (kk, hw) += w_g^T (kk, cog) @ dy_g (cog, hw) */
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kk, hw, cog,
                                1.0f, wg, kk, dyg, hw, 1.0f, c->dx + xoff, hw);
                } else {
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kk, hw, cog,
                                1.0f, wg, kk, dyg, hw, 0.0f, col, hw);
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

static void dense_fwd(nas_graph *g, const conv_shape *s, const float *x,
                      const float *w, float *y)
{
    dense_ctx c = {.s = s, .x = x, .w = w, .y = y, .nchunks = n_chunks(s->n)};
    c.col_size = (size_t)(s->ci / s->groups) * s->k * s->k * s->ho * s->wo;
    if (!is_pointwise(s))
        c.cols = nas_arena_alloc(g->arena, c.col_size * c.nchunks * sizeof(float));
    nas__parallel_for(s->n, dense_fwd_range, &c);
}

static void dense_bwd(nas_graph *g, const conv_shape *s, const float *x,
                      const float *w, const float *dy, float *dx, float *dw)
{
    dense_ctx c = {.s = s, .x = x, .w = w, .dy = dy, .dx = dx,
                   .nchunks = n_chunks(s->n)};
    c.col_size = (size_t)(s->ci / s->groups) * s->k * s->k * s->ho * s->wo;
    c.dw_size = (size_t)s->co * (s->ci / s->groups) * s->k * s->k;
    c.cols = nas_arena_alloc(g->arena, c.col_size * c.nchunks * sizeof(float));
    if (dw) {
        if (c.nchunks == 1) {
            c.dw = dw;   /* accumulate in place */
        } else {
            c.dw = nas_arena_zalloc(g->arena, c.dw_size * c.nchunks * sizeof(float));
        }
    }
    nas__parallel_for(s->n, dense_bwd_range, &c);
    if (dw && c.nchunks > 1)
        for (int k = 0; k < c.nchunks; k++)
            nas__add_to(dw, c.dw + (size_t)k * c.dw_size, c.dw_size);
}

/* --------------------------------------------------------- depthwise */

typedef struct {
    const conv_shape *s;
    const float *x, *w, *dy;
    float *y, *dx, *dw;
    float *scratch;    /* per chunk: padded plane + its gradient */
    size_t scratch_size;
    int hp, wp;        /* padded plane */
    int total;         /* items of the parallel loop */
    int nchunks;
} dw_ctx;

static int dw_chunk(const dw_ctx *c, int i0)
{
    for (int k = c->nchunks - 1; k > 0; k--)
        if (i0 >= (int)((long)c->total * k / c->nchunks))
            return k;
    return 0;
}

static void pad_plane(const float *x, const conv_shape *s, int hp, int wp,
                      float *p)
{
    memset(p, 0, (size_t)hp * wp * sizeof(float));
    for (int i = 0; i < s->h; i++)
        memcpy(p + (size_t)(i + s->pad) * wp + s->pad, x + (size_t)i * s->w,
               (size_t)s->w * sizeof(float));
}

static void dw_fwd_range(void *arg, int i0, int i1)
{
    dw_ctx *c = arg;
    const conv_shape *s = c->s;
    const int k = s->k, st = s->stride, d = s->dil, wo = s->wo;
    float *p = c->scratch + (size_t)dw_chunk(c, i0) * c->scratch_size;
    for (int item = i0; item < i1; item++) {   /* item = n * C + ch */
        int ch = item % s->ci;
        pad_plane(c->x + (size_t)item * s->h * s->w, s, c->hp, c->wp, p);
        const float *wk = c->w + (size_t)ch * k * k;
        float *y = c->y + (size_t)item * s->ho * wo;
        for (int oh = 0; oh < s->ho; oh++) {
            float *restrict yr = y + (size_t)oh * wo;
            for (int ow = 0; ow < wo; ow++)
                yr[ow] = 0.0f;
            for (int kh = 0; kh < k; kh++) {
                const float *pr = p + (size_t)(oh * st + kh * d) * c->wp;
                for (int kw = 0; kw < k; kw++) {
                    const float wv = wk[kh * k + kw];
                    const float *restrict src = pr + kw * d;
                    if (st == 1)
                        for (int ow = 0; ow < wo; ow++)
                            yr[ow] += wv * src[ow];
                    else
                        for (int ow = 0; ow < wo; ow++)
                            yr[ow] += wv * src[ow * st];
                }
            }
        }
    }
}

/* Backward over channels [i0, i1): every image of those channels, so the
 * weight gradient of a channel is written by one thread only. */
static void dw_bwd_range(void *arg, int i0, int i1)
{
    dw_ctx *c = arg;
    const conv_shape *s = c->s;
    const int k = s->k, st = s->stride, d = s->dil, wo = s->wo;
    const size_t plane = (size_t)c->hp * c->wp;
    float *p = c->scratch + (size_t)dw_chunk(c, i0) * c->scratch_size;
    float *dp = p + plane;
    for (int ch = i0; ch < i1; ch++) {
        const float *wk = c->w + (size_t)ch * k * k;
        float acc[49 * 2];   /* k <= 7 */
        for (int i = 0; i < k * k; i++)
            acc[i] = 0.0f;
        for (int n = 0; n < s->n; n++) {
            size_t item = (size_t)n * s->ci + ch;
            const float *dy = c->dy + item * s->ho * wo;
            if (c->dw)
                pad_plane(c->x + item * s->h * s->w, s, c->hp, c->wp, p);
            if (c->dx)
                memset(dp, 0, plane * sizeof(float));
            for (int oh = 0; oh < s->ho; oh++) {
                const float *restrict dyr = dy + (size_t)oh * wo;
                for (int kh = 0; kh < k; kh++) {
                    size_t roff = (size_t)(oh * st + kh * d) * c->wp;
                    for (int kw = 0; kw < k; kw++) {
                        if (c->dw) {
                            const float *restrict src = p + roff + kw * d;
                            float sum = 0.0f;
                            if (st == 1) {
#pragma omp simd reduction(+ : sum)
                                for (int ow = 0; ow < wo; ow++)
                                    sum += dyr[ow] * src[ow];
                            } else {
#pragma omp simd reduction(+ : sum)
                                for (int ow = 0; ow < wo; ow++)
                                    sum += dyr[ow] * src[ow * st];
                            }
                            acc[kh * k + kw] += sum;
                        }
                        if (c->dx) {
                            const float wv = wk[kh * k + kw];
                            float *restrict dst = dp + roff + kw * d;
                            if (st == 1)
                                for (int ow = 0; ow < wo; ow++)
                                    dst[ow] += wv * dyr[ow];
                            else
                                for (int ow = 0; ow < wo; ow++)
                                    dst[ow * st] += wv * dyr[ow];
                        }
                    }
                }
            }
            if (c->dx) {
                float *dx = c->dx + item * s->h * s->w;
                for (int i = 0; i < s->h; i++)
                    nas__add_to(dx + (size_t)i * s->w,
                                dp + (size_t)(i + s->pad) * c->wp + s->pad,
                                (size_t)s->w);
            }
        }
        if (c->dw)
            nas__add_to(c->dw + (size_t)ch * k * k, acc, (size_t)k * k);
    }
}

static void dw_setup(nas_graph *g, dw_ctx *c, const conv_shape *s, int total)
{
    /* Rows past the last needed one are never read; the padded plane only
     * needs to cover what the kernel reaches. */
    c->hp = s->h + 2 * s->pad;
    c->wp = s->w + 2 * s->pad;
    int need_h = (s->ho - 1) * s->stride + (s->k - 1) * s->dil + 1;
    int need_w = (s->wo - 1) * s->stride + (s->k - 1) * s->dil + 1;
    if (need_h > c->hp)
        c->hp = need_h;
    if (need_w > c->wp)
        c->wp = need_w;
    c->total = total;
    c->nchunks = nas_get_threads() < total ? nas_get_threads() : total;
    c->scratch_size = 2 * (size_t)c->hp * c->wp;
    c->scratch = nas_arena_alloc(g->arena, c->scratch_size * c->nchunks * sizeof(float));
}

/* -------------------------------------------------------------- op */

static void conv_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2];
    conv_shape s = {
        .n = x->shape[0], .ci = x->shape[1], .h = x->shape[2], .w = x->shape[3],
        .co = w->shape[0], .k = w->shape[2], .stride = nd->ia[0],
        .pad = nd->ia[1], .dil = nd->ia[2], .groups = nd->ia[3],
        .ho = nd->out->shape[2], .wo = nd->out->shape[3],
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
        dw_ctx c = {.s = &s, .x = x->data, .w = w->data, .dy = dy, .dx = dx, .dw = dwt};
        dw_setup(g, &c, &s, s.ci);
        nas__parallel_for(s.ci, dw_bwd_range, &c);
    } else {
        dense_bwd(g, &s, x->data, w->data, dy, dx, dwt);
    }
}

nas_tensor *nas_conv2d(nas_graph *g, nas_tensor *x, nas_tensor *w,
                       nas_tensor *bias, int stride, int pad, int dil,
                       int groups)
{
    NAS_ASSERT(x->ndim == 4 && w->ndim == 4 && "conv2d: 4-d x and w");
    NAS_ASSERT(stride >= 1 && pad >= 0 && dil >= 1 && groups >= 1);
    conv_shape s = {
        .n = x->shape[0], .ci = x->shape[1], .h = x->shape[2], .w = x->shape[3],
        .co = w->shape[0], .k = w->shape[2], .stride = stride, .pad = pad,
        .dil = dil, .groups = groups,
    };
    NAS_ASSERT(w->shape[2] == w->shape[3] && "conv2d: square kernels");
    NAS_ASSERT(s.ci % groups == 0 && s.co % groups == 0 &&
               w->shape[1] == s.ci / groups && "conv2d: channels vs groups");
    NAS_ASSERT(!bias || (int)nas_tensor_numel(bias) == s.co);
    s.ho = out_size(s.h, s.k, stride, pad, dil);
    s.wo = out_size(s.w, s.k, stride, pad, dil);
    NAS_ASSERT(s.ho > 0 && s.wo > 0 && "conv2d: output would be empty");
    int shape[4] = {s.n, s.co, s.ho, s.wo};
    nas_tensor *in[3] = {x, w, bias};
    nas_tensor *y = nas__out(g, 4, shape, in, 3);
    if (groups == s.ci && s.ci == s.co && groups > 1) {
        NAS_ASSERT(s.k <= 7 && "depthwise: kernels up to 7x7");
        dw_ctx c = {.s = &s, .x = x->data, .w = w->data, .y = y->data};
        dw_setup(g, &c, &s, s.n * s.ci);
        nas__parallel_for(s.n * s.ci, dw_fwd_range, &c);
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
    }
    return y;
}
