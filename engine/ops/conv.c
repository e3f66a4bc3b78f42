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
 * its own column matrix. With stride 1, im2col copies rows of a padded
 * plane, and dx is computed as a convolution of dy (im2col of dy + a GEMM
 * accumulating into dx) instead of a dcol GEMM + col2im.
 *
 * Depthwise convolutions (groups == Ci == Co) are direct loops over
 * zero-padded planes that the compiler vectorises; stride 1 (every DARTS
 * sep/dil conv) has its own path, described above dw_ctx; strided ones run
 * the same contiguous kernels over phase planes (above dw_phase_offsets).
 * Backward is split by channel so no two threads touch the same weight
 * gradient.
 */
#include "internal.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

typedef struct {
    int n, ci, h, w, co, k, stride, pad, dil, groups, ho, wo;
} conv_shape;

static int out_size(int in, int k, int stride, int pad, int dil)
{
    return (in + 2 * pad - dil * (k - 1) - 1) / stride + 1;
}

/* n floats from src to dst. Image rows are short (7..32 floats): with
 * AVX-512, 16-float moves and one masked move for the tail (a memcpy call
 * per row, or a scalar tail, costs more than the row; the compiler turns a
 * masked loop into gathers and scatters). */
static inline void copy_row(float *restrict dst, const float *restrict src,
                            int n)
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

/* Copy plane src (rows, cols) into dst of row width wd at (top, left);
 * the rest of dst is left as it is (zero borders). */
static void put_plane(const float *src, int rows, int cols, float *dst,
                      int wd, int top, int left)
{
    for (int i = 0; i < rows; i++)
        copy_row(dst + (size_t)(i + top) * wd + left, src + (size_t)i * cols, cols);
}

/* Stride-1 im2col through a zero-padded copy of each channel plane (pbuf,
 * (h + 2 pad) x (w + 2 pad)): every row of col is then a plain copy. */
static void im2col_s1(const float *x, const conv_shape *s, int ci, float *col,
                      float *pbuf)
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
static void im2col(const float *x, const conv_shape *s, int ci, float *col,
                   float *pbuf)
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
    float *y, *dx, *dw;     /* dw: one partial per thread chunk */
    float *cols;            /* one column buffer per thread chunk */
    size_t col_size, dw_size;
    size_t chunk_size;      /* col_size + im2col's plane buffer */
    int nchunks;
    const float *wt;        /* flipped, transposed w (dx as a conv), or NULL */
    conv_shape ts;          /* shape of that transposed conv */
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
                nas__gemm_small_nn(0, cog, hw, kk, c->w + (size_t)gi * cog * kk, kk, b, hw, 0,
                                   yg, hw);
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
                    nas__gemm_small_nt_acc(cog, kk, hw, dyg, hw, b, hw,
                                           dw + (size_t)gi * cog * kk, kk);
                else
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, cog, kk, hw, 1.0f, dyg,
                                hw, b, hw, 1.0f, dw + (size_t)gi * cog * kk, kk);
            }
            if (c->dx && c->wt) {
                /* dx_g (cig, h*w) += wt_g (cig, cog*k*k) @ im2col(dy_g) */
                const conv_shape *t = &c->ts;
                int tk = cog * s->k * s->k, thw = s->h * s->w;
                im2col(dyg, t, cog, col, col + c->col_size);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cig, thw, tk,
                            1.0f, c->wt + (size_t)gi * cig * tk, tk, col, thw, 1.0f,
                            c->dx + xoff, thw);
            } else if (c->dx) {
                if (is_pointwise(s)) {
                    /* dx_g (kk, hw) += w_g^T (kk, cog) @ dy_g (cog, hw) */
                    nas__gemm_small_nn(1, kk, hw, cog, wg, kk, dyg, hw, 1, c->dx + xoff, hw);
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
    c.chunk_size = c.col_size + im2col_pbuf(s);
    if (!is_pointwise(s))
        c.cols = nas_arena_alloc(g->arena, c.chunk_size * c.nchunks * sizeof(float));
    nas__parallel_for(s->n, dense_fwd_range, &c);
}

static void dense_bwd(nas_graph *g, const conv_shape *s, const float *x,
                      const float *w, const float *dy, float *dx, float *dw)
{
    dense_ctx c = {.s = s, .x = x, .w = w, .dy = dy, .dx = dx,
                   .nchunks = n_chunks(s->n)};
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
        c.ts = (conv_shape){.n = s->n, .ci = s->co, .h = s->ho, .w = s->wo,
                            .co = s->ci, .k = s->k, .stride = 1, .pad = q,
                            .dil = s->dil, .groups = s->groups, .ho = s->h,
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

/*
 * Stride-1 depthwise (every DARTS sep_conv / dil_conv) works on planes kept
 * at their padded row width wp: tap (kh, kw) of output i is then input
 * i + (kh * wp + kw) * dil for every i, so a whole plane is one long loop
 * with no row edges; the outputs that fall in the padding columns are
 * computed and dropped. Forward: y = taps(pad(x), w). dx is the same taps
 * over dy padded by q = dil (k - 1) - pad with the kernel flipped; dW is k*k
 * dot products of pad(x) with dy laid out at width wp (zero columns), summed
 * in LANES partial sums per tap over all images of a channel, reduced once.
 * The zero borders of the scratch planes are written once per chunk: each
 * plane only overwrites its interior.
 */
enum { LANES = 32 };

/* a * b + c, fused where the target has FMA: the depthwise loops are
 * bound by their multiply and add instructions, not by their loads. */
#if defined(__FMA__)
#define MADD(a, b, c) fmaf((a), (b), (c))
#else
#define MADD(a, b, c) ((a) * (b) + (c))
#endif

typedef struct {
    const conv_shape *s;
    const float *x, *w, *dy;
    float *y, *dx, *dw;
    float *scratch;    /* per chunk, see dw_setup */
    size_t scratch_size;
    int hp, wp;        /* padded x plane */
    int q, hq, wq;     /* padded dy plane (stride-1 dx) */
    int fast;          /* stride-1 path */
    int hph, wph;      /* phase planes (other path), see to_phases */
    size_t phsz;       /* floats of one phase plane, slack included */
    unsigned pmask;    /* bit r: some tap reads phase row (column) r */
    int total;         /* items of the parallel loop */
    int nchunks;
} dw_ctx;

static int dw_chunk(const dw_ctx *c, int i0)
{
    return nas__chunk_of(c->total, c->nchunks, i0);
}

/* out[i] = sum_t wt[t] * in[i + off[t]], i < n; kk known at compile time
 * where inlined with a constant (3x3, 5x5), so the taps unroll and each
 * vector of outputs stays in a register. */
static inline __attribute__((always_inline)) void
taps_fixed(float *restrict out, const float *restrict in, size_t n,
           const float *wt, const int *off, int kk)
{
    float wv[49];
    int o[49];
    for (int t = 0; t < kk; t++) {
        wv[t] = wt[t];
        o[t] = off[t];
    }
    /* TB outputs at a time: TB / 16 independent chains of kk multiply-adds
     * hide their latency (one vector's chain alone waits on each add). */
    enum { TB = 64 };
    size_t i = 0;
    for (; i + TB <= n; i += TB) {
        float acc[TB];
#pragma omp simd
        for (int l = 0; l < TB; l++)
            acc[l] = 0.0f;
#pragma GCC unroll 25
        for (int t = 0; t < kk; t++) {
            const float *restrict src = in + i + o[t];
            const float wt_ = wv[t];
#pragma omp simd
            for (int l = 0; l < TB; l++)
                acc[l] = MADD(wt_, src[l], acc[l]);
        }
#pragma omp simd
        for (int l = 0; l < TB; l++)
            out[i + l] = acc[l];
    }
    /* The rest in blocks of 16, the last one complete (see taps). */
    for (; i < n; i += 16) {
        float acc[16];
#pragma omp simd
        for (int l = 0; l < 16; l++)
            acc[l] = 0.0f;
#pragma GCC unroll 25
        for (int t = 0; t < kk; t++) {
            const float *restrict src = in + i + o[t];
            const float wt_ = wv[t];
#pragma omp simd
            for (int l = 0; l < 16; l++)
                acc[l] = MADD(wt_, src[l], acc[l]);
        }
#pragma omp simd
        for (int l = 0; l < 16; l++)
            out[i + l] = acc[l];
    }
}

/* out[i] = sum_t wt[t] * in[i + off[t]] for i < n, and for 3x3 and 5x5 up
 * to n rounded up to 16 (planes are a few rows of 7..32 floats: a scalar
 * tail would cost as much as the vectors): the callers leave TAPS_SLACK
 * floats past out and past the reads of in. */
enum { TAPS_SLACK = 16 };

static void taps(float *restrict out, const float *restrict in, size_t n,
                 const float *wt, const int *off, int kk)
{
    if (kk == 9) {
        taps_fixed(out, in, n, wt, off, 9);
    } else if (kk == 25) {
        taps_fixed(out, in, n, wt, off, 25);
    } else {
        for (size_t i = 0; i < n; i++)
            out[i] = 0.0f;
        for (int t = 0; t < kk; t++)
            nas__axpy(out, in + off[t], wt[t], n);
    }
}

/* acc[t * LANES + l] += sum over i < n, i % LANES == l (for the vector
 * part) of dz[i] * in[i + off[t]]: fixed order, independent of threads. */
static void dot_taps(float *restrict acc, const float *restrict dz,
                     const float *restrict in, size_t n, const int *off, int kk)
{
    size_t nv = n / LANES * LANES;
    for (int t = 0; t < kk; t++) {
        const float *restrict src = in + off[t];
        float a[LANES];
        for (int l = 0; l < LANES; l++)
            a[l] = acc[t * LANES + l];
        for (size_t i = 0; i < nv; i += LANES)
            for (int l = 0; l < LANES; l++)
                a[l] = MADD(dz[i + l], src[i + l], a[l]);
        for (size_t i = nv; i < n; i++)
            a[i - nv] = MADD(dz[i], src[i], a[i - nv]);
        for (int l = 0; l < LANES; l++)
            acc[t * LANES + l] = a[l];
    }
}

static void tap_offsets(int k, int d, int width, int *off)
{
    for (int kh = 0; kh < k; kh++)
        for (int kw = 0; kw < k; kw++)
            off[kh * k + kw] = (kh * width + kw) * d;
}

/* Scratch layout of one chunk (floats): x plane hp*wp + slack, then
 * (forward) output at width wp, or (backward) dy at width wp, dy padded
 * (hq*wq + slack) and dx at width wq. The slack covers the reads of the
 * last row's dropped columns. */
static size_t dw_slack(const conv_shape *s)
{
    return (size_t)(s->k - 1) * s->dil + LANES;
}

static void dw_fwd_fast(dw_ctx *c, int i0, int i1, float *p)
{
    const conv_shape *s = c->s;
    const int k = s->k, kk = k * k;
    float *out = p + (size_t)c->hp * c->wp + dw_slack(s);
    const size_t n = (size_t)s->ho * c->wp;
    int off[49];
    tap_offsets(k, s->dil, c->wp, off);
    for (int item = i0; item < i1; item++) {   /* item = n * C + ch */
        int ch = item % s->ci;
        put_plane(c->x + (size_t)item * s->h * s->w, s->h, s->w, p, c->wp,
                  s->pad, s->pad);
        taps(out, p, n, c->w + (size_t)ch * kk, off, kk);
        float *y = c->y + (size_t)item * s->ho * s->wo;
        for (int oh = 0; oh < s->ho; oh++)
            copy_row(y + (size_t)oh * s->wo, out + (size_t)oh * c->wp, s->wo);
    }
}

static void dw_bwd_fast(dw_ctx *c, int i0, int i1, float *p)
{
    const conv_shape *s = c->s;
    const int k = s->k, kk = k * k;
    const size_t slack = dw_slack(s);
    float *dz = p + (size_t)c->hp * c->wp + slack;     /* dy at width wp */
    float *dq = dz + (size_t)s->ho * c->wp;            /* dy padded by q */
    float *dxo = dq + (size_t)c->hq * c->wq + slack;   /* dx at width wq */
    const size_t nz = (size_t)s->ho * c->wp, nx = (size_t)s->h * c->wq;
    int off_p[49], off_q[49];
    tap_offsets(k, s->dil, c->wp, off_p);
    tap_offsets(k, s->dil, c->wq, off_q);
    float acc[49 * LANES];
    for (int ch = i0; ch < i1; ch++) {
        const float *wk = c->w + (size_t)ch * kk;
        float wflip[49];
        for (int t = 0; t < kk; t++)
            wflip[t] = wk[kk - 1 - t];
        memset(acc, 0, (size_t)kk * LANES * sizeof(float));
        for (int n = 0; n < s->n; n++) {
            size_t item = (size_t)n * s->ci + ch;
            const float *dy = c->dy + item * s->ho * s->wo;
            if (c->dw) {
                put_plane(c->x + item * s->h * s->w, s->h, s->w, p, c->wp,
                          s->pad, s->pad);
                put_plane(dy, s->ho, s->wo, dz, c->wp, 0, 0);
                dot_taps(acc, dz, p, nz, off_p, kk);
            }
            if (c->dx) {
                put_plane(dy, s->ho, s->wo, dq, c->wq, c->q, c->q);
                taps(dxo, dq, nx, wflip, off_q, kk);
                float *dx = c->dx + item * s->h * s->w;
                for (int i = 0; i < s->h; i++)
                    nas__add_to(dx + (size_t)i * s->w, dxo + (size_t)i * c->wq,
                                (size_t)s->w);
            }
        }
        if (c->dw)
            for (int t = 0; t < kk; t++) {
                float sum = 0.0f;
                for (int l = 0; l < LANES; l++)
                    sum += acc[t * LANES + l];
                c->dw[(size_t)ch * kk + t] += sum;
            }
    }
}

/*
 * Strided depthwise (reduction cells) and the stride-1 convs with
 * pad > dil (k - 1): the padded plane (hp, wp) is split into stride^2
 * phase planes (hph, wph), phase (r, q) holding the padded pixels (i, j)
 * with i % stride == r, j % stride == q at (i / stride, j / stride). Tap
 * (kh, kw) of output (oh, ow) then reads phase (kh d % stride, kw d %
 * stride) at (oh + kh d / stride, ow + kw d / stride): every tap is a
 * contiguous run, so the stride-1 kernels (taps, dot_taps) apply, with
 * outputs laid out at width wph (the extra columns are dropped). dx is
 * one axpy per tap into phase-plane gradients, gathered back. Only the
 * phases some tap reads are filled; the others stay zero.
 */
static void dw_phase_offsets(const dw_ctx *c, int *off)
{
    const int k = c->s->k, d = c->s->dil, st = c->s->stride;
    for (int kh = 0; kh < k; kh++)
        for (int kw = 0; kw < k; kw++) {
            int r = kh * d % st, q = kw * d % st;
            off[kh * k + kw] = (int)((size_t)(r * st + q) * c->phsz +
                                     (size_t)(kh * d / st) * c->wph +
                                     (size_t)(kw * d / st));
        }
}

static int phase_read(const dw_ctx *c, int r)
{
    return r >= 32 || (c->pmask >> r & 1);
}

/* The interior (x's pixels) of the phase planes P <-> plane x (h, w):
 * to_phases writes P from x, from_phases adds P to x. Borders and unread
 * phases are never touched. */
static inline __attribute__((always_inline)) void
phases_io_st(const dw_ctx *c, float *x, float *P, int add, const int st)
{
    const conv_shape *s = c->s;
    const int pad = s->pad;
    for (int r = 0; r < s->h; r++) {
        int R = r + pad;
        if (!phase_read(c, R % st))
            continue;
        float *prow = P + (size_t)(R % st * st) * c->phsz + (size_t)(R / st) * c->wph;
        for (int q = 0; q < st; q++) {
            if (!phase_read(c, q))
                continue;
            int c0 = ((q - pad) % st + st) % st;   /* (c0 + pad) % st == q */
            if (c0 >= s->w)
                continue;
            int cnt = (s->w - c0 + st - 1) / st;
            float *restrict pr = prow + (size_t)q * c->phsz + (c0 + pad) / st;
            float *restrict xr = x + (size_t)r * s->w + c0;
            if (add)
                for (int j = 0; j < cnt; j++)
                    xr[(size_t)j * st] += pr[j];
            else
                for (int j = 0; j < cnt; j++)
                    pr[j] = xr[(size_t)j * st];
        }
    }
}

/* Stride 2 (every reduction) with a constant stride: no integer
 * divisions, and the de-interleave vectorises. */
static void phases_io(const dw_ctx *c, float *x, float *P, int add)
{
    if (c->s->stride == 2)
        phases_io_st(c, x, P, add, 2);
    else
        phases_io_st(c, x, P, add, c->s->stride);
}

static void dw_fwd_phase(dw_ctx *c, int i0, int i1, float *P)
{
    const conv_shape *s = c->s;
    const int kk = s->k * s->k;
    float *out = P + (size_t)s->stride * s->stride * c->phsz;
    const size_t n = (size_t)s->ho * c->wph;
    int off[49];
    dw_phase_offsets(c, off);
    for (int item = i0; item < i1; item++) {   /* item = n * C + ch */
        int ch = item % s->ci;
        phases_io(c, (float *)(c->x + (size_t)item * s->h * s->w), P, 0);
        taps(out, P, n, c->w + (size_t)ch * kk, off, kk);
        float *y = c->y + (size_t)item * s->ho * s->wo;
        for (int oh = 0; oh < s->ho; oh++)
            copy_row(y + (size_t)oh * s->wo, out + (size_t)oh * c->wph, s->wo);
    }
}

static void dw_fwd_range(void *arg, int i0, int i1)
{
    dw_ctx *c = arg;
    float *p = c->scratch + (size_t)dw_chunk(c, i0) * c->scratch_size;
    memset(p, 0, c->scratch_size * sizeof(float));
    if (c->fast)
        dw_fwd_fast(c, i0, i1, p);
    else
        dw_fwd_phase(c, i0, i1, p);
}

/* Backward of the phase path over channels [i0, i1); scratch: the phase
 * planes of x, dy at width wph, the phase planes of dx. */
static void dw_bwd_phase(dw_ctx *c, int i0, int i1, float *P)
{
    const conv_shape *s = c->s;
    const int kk = s->k * s->k;
    const size_t nph = (size_t)s->stride * s->stride * c->phsz;
    float *dz = P + nph;
    const size_t nz = (size_t)s->ho * c->wph;
    float *dP = dz + nz;
    int off[49];
    dw_phase_offsets(c, off);
    float acc[49 * LANES];
    for (int ch = i0; ch < i1; ch++) {
        const float *wk = c->w + (size_t)ch * kk;
        memset(acc, 0, (size_t)kk * LANES * sizeof(float));
        for (int n = 0; n < s->n; n++) {
            size_t item = (size_t)n * s->ci + ch;
            put_plane(c->dy + item * s->ho * s->wo, s->ho, s->wo, dz, c->wph,
                      0, 0);
            if (c->dw) {
                phases_io(c, (float *)(c->x + item * s->h * s->w), P, 0);
                dot_taps(acc, dz, P, nz, off, kk);
            }
            if (c->dx) {
                memset(dP, 0, nph * sizeof(float));
                for (int t = 0; t < kk; t++)
                    nas__axpy(dP + off[t], dz, wk[t], nz);
                phases_io(c, c->dx + item * s->h * s->w, dP, 1);
            }
        }
        if (c->dw)
            for (int t = 0; t < kk; t++) {
                float sum = 0.0f;
                for (int l = 0; l < LANES; l++)
                    sum += acc[t * LANES + l];
                c->dw[(size_t)ch * kk + t] += sum;
            }
    }
}

/* Backward over channels [i0, i1): every image of those channels, so the
 * weight gradient of a channel is written by one thread only. */
static void dw_bwd_range(void *arg, int i0, int i1)
{
    dw_ctx *c = arg;
    float *p = c->scratch + (size_t)dw_chunk(c, i0) * c->scratch_size;
    memset(p, 0, c->scratch_size * sizeof(float));
    if (c->fast)
        dw_bwd_fast(c, i0, i1, p);
    else
        dw_bwd_phase(c, i0, i1, p);
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
    c->q = (s->k - 1) * s->dil - s->pad;
    c->hq = s->h + (s->k - 1) * s->dil;
    c->wq = s->w + (s->k - 1) * s->dil;
    c->fast = s->stride == 1 && c->q >= 0;
    c->total = total;
    c->nchunks = nas_get_threads() < total ? nas_get_threads() : total;
    if (c->fast) {
        size_t slack = dw_slack(s), plane = (size_t)c->hp * c->wp + slack;
        size_t fwd = plane + (size_t)s->ho * c->wp;
        size_t bwd = plane + (size_t)s->ho * c->wp + (size_t)c->hq * c->wq + slack +
                     (size_t)s->h * c->wq + TAPS_SLACK;
        c->scratch_size = fwd > bwd ? fwd : bwd;
    } else {
        const int st = s->stride;
        c->hph = (c->hp + st - 1) / st;
        c->wph = (c->wp + st - 1) / st;
        /* slack: the dropped columns of the last output row read up to
         * (k - 1) dil / stride < wph floats past the plane */
        c->phsz = (size_t)(c->hph + 1) * c->wph + TAPS_SLACK;
        c->pmask = 0;
        for (int t = 0; t < s->k; t++)
            if (t * s->dil % st < 32)
                c->pmask |= 1u << (t * s->dil % st);
        size_t nph = (size_t)st * st * c->phsz, nz = (size_t)s->ho * c->wph;
        c->scratch_size = 2 * nph + nz;
    }
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
