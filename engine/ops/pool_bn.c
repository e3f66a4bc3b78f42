// SPDX-License-Identifier: MIT
/*
 * pool_bn.c - 3x3 max or average pooling (padding 1, stride 1 or 2)
 * followed by a batch norm without affine parameters, as one op: the
 * max_pool_3x3 and avg_pool_3x3 candidates of a DARTS edge.
 *
 * The one design decision to know: the op keeps only its output. A
 * non-affine BN's output is its normalised input (xhat), which is all its
 * backward needs, so the pooled map is normalised in place and never kept;
 * max pooling keeps the argmax of every output. Each channel plane is
 * copied once into a padded scratch plane (-inf or 0 borders) so every
 * window is the same 9 taps with no clipping in the inner loops; taps are
 * visited in the row-major order of pool.c and padding never wins a max
 * nor changes a sum, so the numbers are those of nas_maxpool2d /
 * nas_avgpool2d followed by nas_batchnorm (average pooling multiplies by
 * 1 / count where pool.c divides: the same within rounding). Work is split
 * over channels (a channel's statistics span all images), so it is
 * deterministic for any thread count. On a graph of a data-parallel group
 * (nas_graph_set_dist) training runs the two ops it fuses, so that the
 * statistics are synchronised by nas_batchnorm's one implementation.
 */
#include "internal.h"

#include <assert.h>
#include <math.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

typedef struct {
    int n, c, h, w, stride, ho, wo, hp, wp, max;
    const float *x;
    float *y;            /* output (forward) */
    const float *dy;     /* output gradient (backward) */
    float *dx;           /* input gradient, or NULL */
    int dx_fresh;        /* dx not zeroed: its planes are overwritten */
    int32_t *arg;        /* max: argmax per output, index in the x plane */
    float *inv;          /* avg: 1 / pixels in the window, per output */
    float *mean, *rstd;  /* per channel */
    nas_tensor *rm, *rv; /* running statistics, or NULL */
    float momentum, eps;
    int training;
    float *scratch; /* per chunk: scratch_size floats */
    size_t scratch_size;
    int nchunks;
} pb_ctx;

static int pb_chunk(const pb_ctx *c, int i0)
{
    return nas__chunk_of(c->c, c->nchunks, i0);
}

/* Valid rows (cols) of the window of output o: 1 at a border, else 3. */
static inline int span(int o, int stride, int len)
{
    int i0 = o * stride - 1, i1 = i0 + 3;
    if (i0 < 0)
        i0 = 0;
    if (i1 > len)
        i1 = len;
    return i1 - i0;
}

enum { BLK = 16 }; /* outputs per vector block; planes have the slack */
static_assert(BLK == 16, "row_taps stores a block as one 16-float vector");

/* One output row of the max (avg: sum) over the 9 taps of padded rows b,
 * in blocks of BLK outputs with no scalar tail (the reads past the row
 * land in the plane's slack, the extra outputs are dropped); st is a
 * constant where inlined. Max keeps the first maximum in row-major tap
 * order, as pool.c does. */
static inline __attribute__((always_inline)) void row_taps(const float *restrict b, int wp, int st,
                                                           int wo, int max, int base, int w,
                                                           float *restrict yr, int32_t *restrict ar)
{
    for (int o0 = 0; o0 < wo; o0 += BLK) {
        float acc[BLK];
        int32_t arg[BLK];
        const float *bb = b + o0 * st;
#pragma omp simd
        for (int l = 0; l < BLK; l++) {
            acc[l] = bb[l * st];
            arg[l] = base + (o0 + l) * st;
        }
#pragma GCC unroll 8
        for (int t = 1; t < 9; t++) {
            const int kh = t / 3, kw = t % 3;
            const float *restrict src = bb + (size_t)kh * wp + kw;
            if (max && !ar) {
#pragma omp simd
                for (int l = 0; l < BLK; l++)
                    acc[l] = src[l * st] > acc[l] ? src[l * st] : acc[l];
            } else if (max) {
                const int idx = base + kh * w + kw + o0 * st;
#pragma omp simd
                for (int l = 0; l < BLK; l++) {
                    float v = src[l * st];
                    int gt = v > acc[l];
                    arg[l] = gt ? idx + l * st : arg[l];
                    acc[l] = gt ? v : acc[l];
                }
            } else {
#pragma omp simd
                for (int l = 0; l < BLK; l++)
                    acc[l] += src[l * st];
            }
        }
        /* With AVX-512, one masked store per block: a plain loop over the
         * n < BLK outputs of the last block becomes a `rep movs` that
         * costs more than the taps (and a masked loop, scatters). */
        const int n = wo - o0 < BLK ? wo - o0 : BLK;
#if defined(__AVX512F__)
        const __mmask16 m = (__mmask16)((1u << n) - 1);
        _mm512_mask_storeu_ps(yr + o0, m, _mm512_loadu_ps(acc));
        if (max && ar)
            _mm512_mask_storeu_epi32(ar + o0, m, _mm512_loadu_si512(arg));
#else
        for (int l = 0; l < n; l++)
            yr[o0 + l] = acc[l];
        if (max && ar)
            for (int l = 0; l < n; l++)
                ar[o0 + l] = arg[l];
#endif
    }
}

/* n floats from src to dst: image rows are short (7..32 floats), a memcpy
 * call or a scalar loop per row costs more than the row (AVX-512: 16-float
 * moves, the tail masked). */
static inline void copy_row(float *restrict dst, const float *restrict src, int n)
{
#if defined(__AVX512F__)
    int i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_loadu_ps(src + i));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(dst + i, m, _mm512_maskz_loadu_ps(m, src + i));
    }
#else
    memcpy(dst, src, (size_t)n * sizeof(float));
#endif
}

/* Pool one plane x (h, w) into y (ho, wo) through the padded plane p. */
static void pool_plane(const pb_ctx *c, const float *x, float *y, int32_t *arg, float *p)
{
    const int wp = c->wp, st = c->stride, wo = c->wo;
    for (int r = 0; r < c->h; r++)
        copy_row(p + (size_t)(r + 1) * wp + 1, x + (size_t)r * c->w, c->w);
    for (int oh = 0; oh < c->ho; oh++) {
        const float *b = p + (size_t)oh * st * wp;
        float *yr = y + (size_t)oh * wo;
        int32_t *ar = c->max && arg ? arg + (size_t)oh * wo : NULL;
        /* index in x of tap (0, 0) of output 0 */
        const int base = (oh * st - 1) * c->w - 1;
        if (st == 1) {
            row_taps(b, wp, 1, wo, c->max, base, c->w, yr, ar);
        } else {
            /* Stride 2 at stride 1 (contiguous loads, no gathers), then
             * every other output. */
            float *ty = p + (size_t)c->hp * wp + 2 * BLK * (size_t)st;
            int32_t *ta = (int32_t *)(ty + 2 * wo + BLK);
            row_taps(b, wp, 1, 2 * wo, c->max, base, c->w, ty, ar ? ta : NULL);
            for (int ow = 0; ow < wo; ow++)
                yr[ow] = ty[2 * ow];
            if (ar)
                for (int ow = 0; ow < wo; ow++)
                    ar[ow] = ta[2 * ow];
        }
        if (!c->max) {
            const float *restrict iv = c->inv + (size_t)oh * wo;
            for (int ow = 0; ow < wo; ow++)
                yr[ow] *= iv[ow];
        }
    }
}

static void fill(float *p, size_t n, float v)
{
    for (size_t i = 0; i < n; i++)
        p[i] = v;
}

static void pb_fwd_range(void *arg, int c0, int c1)
{
    pb_ctx *c = arg;
    float *p = c->scratch + (size_t)pb_chunk(c, c0) * c->scratch_size;
    fill(p, (size_t)c->hp * c->wp + 2 * BLK * (size_t)c->stride, c->max ? -INFINITY : 0.0f);
    const size_t in = (size_t)c->h * c->w, out = (size_t)c->ho * c->wo;
    const double cnt = (double)c->n * out;
    for (int ch = c0; ch < c1; ch++) {
        for (int i = 0; i < c->n; i++) {
            size_t item = (size_t)i * c->c + ch;
            pool_plane(c, c->x + item * in, c->y + item * out, c->arg ? c->arg + item * out : NULL,
                       p);
        }
        float m, r;
        if (c->training) {
            double s = 0.0, s2 = 0.0;
            for (int i = 0; i < c->n; i++) {
                const float *yr = c->y + ((size_t)i * c->c + ch) * out;
                float a = 0.0f;
#pragma omp simd reduction(+ : a)
                for (size_t j = 0; j < out; j++)
                    a += yr[j];
                s += a;
            }
            double mu = s / cnt;
            float fm = (float)mu;
            for (int i = 0; i < c->n; i++) {
                const float *yr = c->y + ((size_t)i * c->c + ch) * out;
                float b = 0.0f;
#pragma omp simd reduction(+ : b)
                for (size_t j = 0; j < out; j++)
                    b += (yr[j] - fm) * (yr[j] - fm);
                s2 += b;
            }
            double var = s2 / cnt;
            m = fm;
            r = (float)(1.0 / sqrt(var + c->eps));
            if (c->rm)
                c->rm->data[ch] = (1.0f - c->momentum) * c->rm->data[ch] + c->momentum * fm;
            if (c->rv)
                c->rv->data[ch] = (1.0f - c->momentum) * c->rv->data[ch] +
                                  c->momentum * (float)(cnt > 1 ? s2 / (cnt - 1) : var);
        } else {
            m = c->rm->data[ch];
            r = 1.0f / sqrtf(c->rv->data[ch] + c->eps);
        }
        c->mean[ch] = m;
        c->rstd[ch] = r;
        float b = -m * r;
        for (int i = 0; i < c->n; i++) {
            float *yr = c->y + ((size_t)i * c->c + ch) * out;
            for (size_t j = 0; j < out; j++)
                yr[j] = yr[j] * r + b;
        }
    }
}

/* dx plane (h, w) += (dx_fresh: =) pooling backward of dz (ho, wo); avg
 * scales dz in place. */
static void unpool_plane(const pb_ctx *c, float *dz, const int32_t *arg, float *dx, float *p)
{
    const size_t out = (size_t)c->ho * c->wo;
    if (c->max) {
        if (c->dx_fresh) /* zeroed here, while it is in cache */
            memset(dx, 0, (size_t)c->h * c->w * sizeof(float));
        for (size_t i = 0; i < out; i++)
            dx[arg[i]] += dz[i];
        return;
    }
    const int wp = c->wp, st = c->stride, wo = c->wo;
    if (st == 1) {
        /* The transpose of a stride-1 3x3 window sum is the same window
         * sum over dz / count padded with zeros: row_taps over the plane
         * (whose borders pb_bwd_range zeroed), one row of dx at a time. */
        float *tmp = p + (size_t)c->hp * wp + 2 * BLK + out;
        for (int r = 0; r < c->ho; r++) {
            float *restrict pr = p + (size_t)(r + 1) * wp + 1;
            const float *restrict dr = dz + (size_t)r * wo, *restrict iv = c->inv + (size_t)r * wo;
            for (int j = 0; j < wo; j++)
                pr[j] = dr[j] * iv[j];
        }
        for (int r = 0; r < c->h; r++) {
            row_taps(p + (size_t)r * wp, wp, 1, c->w, 0, 0, c->w, tmp, NULL);
            if (c->dx_fresh)
                copy_row(dx + (size_t)r * c->w, tmp, c->w);
            else
                nas__add_to(dx + (size_t)r * c->w, tmp, (size_t)c->w);
        }
        return;
    }
    fill(p, (size_t)c->hp * wp, 0.0f);
    for (size_t i = 0; i < out; i++)
        dz[i] *= c->inv[i];
    /* Tap by tap over a row (stride 2). */
    for (int oh = 0; oh < c->ho; oh++) {
        const float *restrict dr = dz + (size_t)oh * wo;
        for (int kh = 0; kh < 3; kh++)
            for (int kw = 0; kw < 3; kw++) {
                float *restrict b = p + (size_t)(oh * st + kh) * wp + kw;
                if (st == 1)
                    for (int ow = 0; ow < wo; ow++)
                        b[ow] += dr[ow];
                else
                    for (int ow = 0; ow < wo; ow++)
                        b[(size_t)ow * st] += dr[ow];
            }
    }
    for (int r = 0; r < c->h; r++)
        if (c->dx_fresh)
            copy_row(dx + (size_t)r * c->w, p + (size_t)(r + 1) * wp + 1, c->w);
        else
            nas__add_to(dx + (size_t)r * c->w, p + (size_t)(r + 1) * wp + 1, (size_t)c->w);
}

static void pb_bwd_range(void *arg, int c0, int c1)
{
    pb_ctx *c = arg;
    float *p = c->scratch + (size_t)pb_chunk(c, c0) * c->scratch_size;
    float *dz = p + (size_t)c->hp * c->wp + 2 * BLK * (size_t)c->stride;
    const size_t in = (size_t)c->h * c->w, out = (size_t)c->ho * c->wo;
    if (!c->max && c->stride == 1) /* unpool_plane writes only the interior */
        fill(p, (size_t)c->hp * c->wp + 2 * BLK, 0.0f);
    const double cnt = (double)c->n * out;
    for (int ch = c0; ch < c1; ch++) {
        /* y is xhat: dz = rstd (dy - mean(dy) - xhat mean(dy xhat)) */
        float r = c->rstd[ch], mdy = 0.0f, mdyx = 0.0f;
        if (c->training) {
            double sdy = 0.0, sdyx = 0.0;
            for (int i = 0; i < c->n; i++) {
                size_t off = ((size_t)i * c->c + ch) * out;
                const float *d = c->dy + off, *yr = c->y + off;
                float a = 0.0f, b = 0.0f;
#pragma omp simd reduction(+ : a, b)
                for (size_t j = 0; j < out; j++) {
                    a += d[j];
                    b += d[j] * yr[j];
                }
                sdy += a;
                sdyx += b;
            }
            mdy = (float)(sdy / cnt);
            mdyx = (float)(sdyx / cnt);
        }
        for (int i = 0; i < c->n; i++) {
            size_t item = (size_t)i * c->c + ch, off = item * out;
            const float *d = c->dy + off, *yr = c->y + off;
            for (size_t j = 0; j < out; j++)
                dz[j] = r * (d[j] - mdy - yr[j] * mdyx);
            unpool_plane(c, dz, c->arg ? c->arg + off : NULL, c->dx + item * in, p);
        }
    }
}

static pb_ctx ctx_of(nas_graph *g, const nas_tensor *x, int max, int stride)
{
    pb_ctx c = {.n = x->shape[0],
                .c = x->shape[1],
                .h = x->shape[2],
                .w = x->shape[3],
                .stride = stride,
                .max = max};
    c.ho = (c.h - 1) / stride + 1;
    c.wo = (c.w - 1) / stride + 1;
    /* Rows and columns the windows reach, padding included. */
    c.hp = (c.ho - 1) * stride + 3;
    c.wp = (c.wo - 1) * stride + 3;
    if (c.hp < c.h + 2)
        c.hp = c.h + 2;
    if (c.wp < c.w + 2)
        c.wp = c.w + 2;
    c.nchunks = nas_get_threads() < c.c ? nas_get_threads() : c.c;
    /* The padded plane, the slack of the last row's last block, dz. */
    c.scratch_size = (size_t)c.hp * c.wp + 2 * BLK * (size_t)stride + (size_t)c.ho * c.wo;
    /* Stride-1 avg backward: one row of dx. */
    if (stride == 1)
        c.scratch_size += (size_t)c.w + BLK;
    /* Stride 2: one row at stride 1 and its argmax. */
    if (stride == 2 &&
        c.scratch_size < (size_t)c.hp * c.wp + 4 * BLK + 2 * (2 * (size_t)c.wo + BLK))
        c.scratch_size = (size_t)c.hp * c.wp + 4 * BLK + 2 * (2 * (size_t)c.wo + BLK);
    c.scratch = nas_arena_alloc(g->arena, c.scratch_size * (size_t)c.nchunks * sizeof(float));
    if (!max) {
        /* A multiply per output instead of a divide (count_include_pad
         * false: borders count fewer pixels). */
        c.inv = nas_arena_alloc(g->arena, (size_t)c.ho * c.wo * sizeof(float));
        for (int oh = 0; oh < c.ho; oh++)
            for (int ow = 0; ow < c.wo; ow++)
                c.inv[(size_t)oh * c.wo + ow] =
                    1.0f / (float)(span(oh, stride, c.h) * span(ow, stride, c.w));
    }
    return c;
}

static void pool_bn_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *x = nd->in[0];
    if (!nas__want(g, x))
        return;
    pb_ctx c = ctx_of(g, x, nd->ia[0], nd->ia[1]);
    c.y = nd->out->data;
    c.dy = nd->out->grad;
    c.dx = x->grad;
    c.dx_fresh = nas__fresh(nd, 0);
    c.arg = nd->pa[0];
    c.mean = nd->pa[1];
    c.rstd = nd->pa[2];
    c.training = nd->ia[2];
    nas__parallel_for(c.c, pb_bwd_range, &c);
}

nas_tensor *nas_pool_bn(nas_graph *g, nas_tensor *x, int max, int stride, nas_tensor *running_mean,
                        nas_tensor *running_var, float momentum, float eps)
{
    NAS_ASSERT(x->ndim == 4 && (stride == 1 || stride == 2) &&
               "pool_bn: (N, C, H, W), stride 1 or 2");
    NAS_ASSERT(g->training || (running_mean && running_var));
    if (g->dist && g->training) {
        nas_tensor *p = max ? nas_maxpool2d(g, x, 3, stride, 1) : nas_avgpool2d(g, x, 3, stride, 1);
        return nas_batchnorm(g, p, NULL, NULL, running_mean, running_var, momentum, eps);
    }
    pb_ctx c = ctx_of(g, x, max, stride);
    int shape[4] = {c.n, c.c, c.ho, c.wo};
    nas_tensor *y = nas__out(g, 4, shape, &x, 1);
    c.x = x->data;
    c.y = y->data;
    c.mean = nas_arena_alloc(g->arena, (size_t)c.c * sizeof(float));
    c.rstd = nas_arena_alloc(g->arena, (size_t)c.c * sizeof(float));
    /* The argmax is only kept when backward can run. */
    if (max && g->grad_enabled && y->groups)
        c.arg = nas_arena_alloc(g->arena, nas_tensor_numel(y) * sizeof(int32_t));
    c.rm = running_mean;
    c.rv = running_var;
    c.momentum = momentum;
    c.eps = eps;
    c.training = g->training;
    nas__parallel_for(c.c, pb_fwd_range, &c);
    nas_node *nd = nas__record(g, pool_bn_bwd, y, &x, 1);
    if (nd) {
        nd->ia[0] = max;
        nd->ia[1] = stride;
        nd->ia[2] = g->training;
        nd->pa[0] = c.arg;
        nd->pa[1] = c.mean;
        nd->pa[2] = c.rstd;
        nd->ow = 1u; /* unpool_plane writes every pixel of dx */
    }
    /* a 3x3 window and BN's 5 per output */
    NAS__PROF(nas__prof_op(g, NAS_PROF_POOL, y, &x, 1, 14.0 * (double)nas_tensor_numel(y)));
    NAS__EX(g, nas__ex_pool_bn(g, y, x, max, stride, running_mean, running_var, eps));
    return y;
}
