// SPDX-License-Identifier: MIT
/*
 * conv_dw.c - depthwise 2-d convolution (groups == Ci == Co), the kernels
 * under nas_conv2d (conv.c) for the separable and dilated convolutions of
 * the DARTS and ENAS cells.
 *
 * The one design decision to know: the kernels work on blocks of BL = 16
 * consecutive planes (plane n C + c is image n, channel c), held
 * pixel-major with the block's planes in the lanes of one vector (oneDNN's
 * nChw16c, but across images too, so C = 8 still fills a block). A tap is
 * then one full-width vector multiply-add per output pixel for any
 * stride, dilation and plane size: no horizontal work, no row edges, no
 * dropped padding columns. Each block is transposed (16 x 16 tiles in
 * registers) into a zero-bordered scratch plane, computed, and transposed
 * back. Forward and dx are independent per plane; dW is summed per block
 * and lane, then the blocks' sums are added per channel in block order
 * after the parallel loop: the numbers do not depend on the thread count.
 */
#include "internal.h"
#include "ops/conv.h"

#include <math.h>
#include <stdlib.h>

enum { BL = 16, KKMAX = 49 };

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
    float *y, *dx;
    float *part; /* dW: kk x BL sums per block */
    float *wtab; /* block weights, see block_wv */
    int nstart, flip;
    float *scratch;
    size_t scratch_size; /* floats per chunk */
    int planes, nblocks, nchunks;
    int hp, wp;    /* zero-padded x plane */
    int q, hq, wq; /* dy padded by q = dil (k - 1) - pad */
    int gather;    /* dx as taps over padded dy (stride 1, q >= 0) */
    int dx_add;    /* add to dx (else overwrite: its first write) */
} dw_ctx;

#if defined(__AVX512F__)
/* v[l][j] <- v[j][l]: swap the off-diagonal b x b blocks of every 2b x 2b
 * block, b = 8, 4, 2, 1. */
static inline void transpose16(__m512 *v)
{
    static const int32_t idx[4][2][16] = {
        {{0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23},
         {8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31}},
        {{0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27},
         {4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31}},
        {{0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29},
         {2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31}},
        {{0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30},
         {1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31}},
    };
#pragma GCC unroll 4
    for (int s = 0; s < 4; s++) {
        const int b = 8 >> s;
        const __m512i lo = _mm512_loadu_si512(idx[s][0]), hi = _mm512_loadu_si512(idx[s][1]);
#pragma GCC unroll 8
        for (int j = 0; j < BL / 2; j++) {
            const int r = (j / b) * 2 * b + j % b; /* the rows with bit b clear */
            __m512 a = v[r], c = v[r + b];
            v[r] = _mm512_permutex2var_ps(a, lo, c);
            v[r + b] = _mm512_permutex2var_ps(a, hi, c);
        }
    }
}
#endif

/* Planes src + l plsz (l < nl), rows x cols, into the blocked plane dst of
 * row width dwid at (top, left): pixel (r, c) of plane l goes to
 * dst[((r + top) dwid + c + left) BL + l]; lanes l >= nl are zeroed. */
static void to_blocked(const float *src, size_t plsz, int nl, int rows, int cols, float *dst,
                       int dwid, int top, int left)
{
    const int npix = rows * cols;
    int i = 0;
#if defined(__AVX512F__)
    if (nl == BL) {
        /* tiles of 16 pixels x 16 planes, the last one masked */
        for (; i < npix; i += BL) {
            const int m = npix - i < BL ? npix - i : BL;
            const __mmask16 k = (__mmask16)((1u << m) - 1);
            __m512 v[BL];
#pragma GCC unroll 16
            for (int l = 0; l < BL; l++)
                v[l] = _mm512_maskz_loadu_ps(k, src + l * plsz + i);
            transpose16(v);
            int r = i / cols, c = i % cols;
            for (int j = 0; j < m; j++) {
                _mm512_storeu_ps(dst + ((size_t)(r + top) * dwid + c + left) * BL, v[j]);
                if (++c == cols) {
                    c = 0;
                    r++;
                }
            }
        }
    }
#endif
    for (; i < npix; i++) {
        float *d = dst + ((size_t)(i / cols + top) * dwid + i % cols + left) * BL;
        for (int l = 0; l < BL; l++)
            d[l] = l < nl ? src[l * plsz + i] : 0.0f;
    }
}

/* The inverse: dst[l plsz + i] = (or +=) the blocked pixel i = (r, c) of
 * src (row width swid, origin (top, left)), for lanes l < nl. */
static void from_blocked(const float *src, int swid, int top, int left, int rows, int cols,
                         float *dst, size_t plsz, int nl, int add)
{
    const int npix = rows * cols;
    int i = 0;
#if defined(__AVX512F__)
    if (nl == BL) {
        for (; i < npix; i += BL) {
            const int m = npix - i < BL ? npix - i : BL;
            const __mmask16 k = (__mmask16)((1u << m) - 1);
            __m512 v[BL];
            int r = i / cols, c = i % cols;
#pragma GCC unroll 16
            for (int j = 0; j < BL; j++) {
                v[j] = j < m ? _mm512_loadu_ps(src + ((size_t)(r + top) * swid + c + left) * BL)
                             : _mm512_setzero_ps();
                if (++c == cols) {
                    c = 0;
                    r++;
                }
            }
            transpose16(v);
#pragma GCC unroll 16
            for (int l = 0; l < BL; l++) {
                float *d = dst + l * plsz + i;
                __m512 o = add ? _mm512_add_ps(_mm512_maskz_loadu_ps(k, d), v[l]) : v[l];
                _mm512_mask_storeu_ps(d, k, o);
            }
        }
    }
#endif
    for (; i < npix; i++) {
        const float *s = src + ((size_t)(i / cols + top) * swid + i % cols + left) * BL;
        for (int l = 0; l < nl; l++)
            dst[l * plsz + i] = add ? dst[l * plsz + i] + s[l] : s[l];
    }
}

/* PX output pixels o[p BL + l] = sum_t wv[t BL + l] src[p ps + off[t] + l]:
 * PX independent chains of multiply-adds hide their latency; kk and PX
 * are constants where inlined, so the taps unroll and the sums stay in
 * registers. */
static inline __attribute__((always_inline)) void taps_px(float *restrict o,
                                                          const float *restrict src, size_t ps,
                                                          const float *restrict wv, const int *off,
                                                          int kk, const int PX)
{
    float acc[4][BL];
#pragma GCC unroll 4
    for (int p = 0; p < PX; p++)
#pragma omp simd
        for (int l = 0; l < BL; l++)
            acc[p][l] = 0.0f;
#pragma GCC unroll 25
    for (int t = 0; t < kk; t++)
#pragma GCC unroll 4
        for (int p = 0; p < PX; p++)
#pragma omp simd
            for (int l = 0; l < BL; l++)
                acc[p][l] = MADD(wv[t * BL + l], src[p * ps + off[t] + l], acc[p][l]);
#pragma GCC unroll 4
    for (int p = 0; p < PX; p++)
#pragma omp simd
        for (int l = 0; l < BL; l++)
            o[p * BL + l] = acc[p][l];
}

/* out[p] = sum_t wv[t] * in[pos(p) + off[t]] for the output pixels p =
 * (oh, ow) of rows x cols, pos(p) = (oh st wid + ow st) BL; every term a
 * BL-float vector; 4 pixels at a time. */
static inline __attribute__((always_inline)) void
taps_k(float *restrict out, const float *restrict in, int rows, int cols, int wid, int st,
       const float *restrict wv, const int *off, int kk)
{
    const size_t ps = (size_t)st * BL;
    for (int oh = 0; oh < rows; oh++) {
        const float *restrict row = in + (size_t)oh * st * wid * BL;
        float *restrict o = out + (size_t)oh * cols * BL;
        int ow = 0;
        for (; ow + 4 <= cols; ow += 4)
            taps_px(o + (size_t)ow * BL, row + ow * ps, ps, wv, off, kk, 4);
        if (cols - ow >= 2) {
            taps_px(o + (size_t)ow * BL, row + ow * ps, ps, wv, off, kk, 2);
            ow += 2;
        }
        if (ow < cols)
            taps_px(o + (size_t)ow * BL, row + ow * ps, ps, wv, off, kk, 1);
    }
}

static void taps(float *out, const float *in, int rows, int cols, int wid, int st, const float *wv,
                 const int *off, int kk)
{
    if (kk == 9)
        taps_k(out, in, rows, cols, wid, st, wv, off, 9);
    else if (kk == 25)
        taps_k(out, in, rows, cols, wid, st, wv, off, 25);
    else
        taps_k(out, in, rows, cols, wid, st, wv, off, kk);
}

/* acc[t BL + l] += sum over the output pixels p (as in taps) of
 * dz[p BL + l] * in[pos(p) + off[t] + l], pixels in row-major order: one
 * chain per tap and lane, kk of them in registers for 3x3 and 5x5. */
static inline __attribute__((always_inline)) void
dot_k(float *restrict acc, const float *restrict dz, const float *restrict in, int rows, int cols,
      int wid, int st, const int *off, int kk)
{
    float a[KKMAX][BL];
    for (int t = 0; t < kk; t++)
#pragma omp simd
        for (int l = 0; l < BL; l++)
            a[t][l] = acc[t * BL + l];
    for (int oh = 0; oh < rows; oh++) {
        const float *restrict row = in + (size_t)oh * st * wid * BL;
        const float *restrict d = dz + (size_t)oh * cols * BL;
        for (int ow = 0; ow < cols; ow++) {
            const float *restrict src = row + (size_t)ow * st * BL;
            const float *restrict dv = d + (size_t)ow * BL;
#pragma GCC unroll 25
            for (int t = 0; t < kk; t++)
#pragma omp simd
                for (int l = 0; l < BL; l++)
                    a[t][l] = MADD(dv[l], src[off[t] + l], a[t][l]);
        }
    }
    for (int t = 0; t < kk; t++)
#pragma omp simd
        for (int l = 0; l < BL; l++)
            acc[t * BL + l] = a[t][l];
}

static void dot_taps(float *acc, const float *dz, const float *in, int rows, int cols, int wid,
                     int st, const int *off, int kk)
{
    if (kk == 9)
        dot_k(acc, dz, in, rows, cols, wid, st, off, 9);
    else if (kk == 25)
        dot_k(acc, dz, in, rows, cols, wid, st, off, 25);
    else
        dot_k(acc, dz, in, rows, cols, wid, st, off, kk);
}

/* The transpose of taps: dxb[pos(p) + off[t]] += wv[t] * dz[p] (strided
 * convs, and stride 1 with pad > dil (k - 1)). */
static void scatter_taps(float *restrict dxb, const float *restrict dz, int rows, int cols, int wid,
                         int st, const float *restrict wv, const int *off, int kk)
{
    for (int oh = 0; oh < rows; oh++)
        for (int ow = 0; ow < cols; ow++) {
            float *restrict dst = dxb + ((size_t)oh * st * wid + (size_t)ow * st) * BL;
            const float *restrict dv = dz + ((size_t)oh * cols + ow) * BL;
            for (int t = 0; t < kk; t++)
#pragma omp simd
                for (int l = 0; l < BL; l++)
                    dst[off[t] + l] = MADD(wv[t * BL + l], dv[l], dst[off[t] + l]);
        }
}

static void tap_offsets(int k, int d, int wid, int *off)
{
    for (int kh = 0; kh < k; kh++)
        for (int kw = 0; kw < k; kw++)
            off[kh * k + kw] = (kh * wid + kw) * d * BL;
}

/* wv[t BL + l]: tap t (flipped: kk - 1 - t) of the channel of lane l of
 * block b; 0 in lanes past the last plane. */
static void block_weights(const dw_ctx *c, int b, int nl, int flip, float *wv)
{
    const int kk = c->s->k * c->s->k;
    for (int l = 0; l < BL; l++)
        for (int t = 0; t < kk; t++) {
            int ch = (b * BL + l) % c->s->ci;
            wv[t * BL + l] = l < nl ? c->w[(size_t)ch * kk + (flip ? kk - 1 - t : t)] : 0.0f;
        }
}

static int block_lanes(const dw_ctx *c, int b)
{
    int nl = c->planes - b * BL;
    return nl < BL ? nl : BL;
}

/* This chunk's scratch. */
static float *dw_scratch(const dw_ctx *c, int i0)
{
    return c->scratch + (size_t)nas__chunk_of(c->nblocks, c->nchunks, i0) * c->scratch_size;
}

/* Zero the border of the blocked plane p (rows x wid) around its interior
 * of ir x ic pixels at (top, left): every block then only writes the
 * interior. */
static void zero_border(float *p, int rows, int wid, int top, int left, int ir, int ic)
{
    const size_t row = (size_t)wid * BL;
    memset(p, 0, (size_t)top * row * sizeof(float));
    for (int r = top; r < top + ir; r++) {
        memset(p + r * row, 0, (size_t)left * BL * sizeof(float));
        memset(p + r * row + (size_t)(left + ic) * BL, 0,
               (size_t)(wid - left - ic) * BL * sizeof(float));
    }
    memset(p + (size_t)(top + ir) * row, 0, (size_t)(rows - top - ir) * row * sizeof(float));
}

/* The weights of block b: full blocks repeat every nstart blocks (their
 * first channel (b BL) % C cycles), so their vectors are built once per
 * call in c->wtab; the tail block's (zero lanes) into wv. */
static const float *block_wv(const dw_ctx *c, int b, int nl, float *wv)
{
    if (nl < BL) {
        block_weights(c, b, nl, c->flip, wv);
        return wv;
    }
    return c->wtab + (size_t)(b % c->nstart) * c->s->k * c->s->k * BL;
}

static void build_wtab(nas_graph *g, dw_ctx *c, int flip)
{
    const int kk = c->s->k * c->s->k;
    int a = c->s->ci, bb = BL;
    while (bb) { /* gcd */
        int t = a % bb;
        a = bb;
        bb = t;
    }
    c->flip = flip;
    c->nstart = c->s->ci / a;
    c->wtab = nas_arena_alloc(g->arena, (size_t)c->nstart * kk * BL * sizeof(float));
    for (int i = 0; i < c->nstart; i++)
        block_weights(c, i, BL, flip, c->wtab + (size_t)i * kk * BL);
}

static void dw_fwd_range(void *arg, int b0, int b1)
{
    const dw_ctx *c = arg;
    const conv_shape *s = c->s;
    const int kk = s->k * s->k;
    float *xb = dw_scratch(c, b0), *yb = xb + (size_t)c->hp * c->wp * BL;
    const size_t in_sz = (size_t)s->h * s->w, out_sz = (size_t)s->ho * s->wo;
    int off[KKMAX];
    float wv[KKMAX * BL];
    tap_offsets(s->k, s->dil, c->wp, off);
    zero_border(xb, c->hp, c->wp, s->pad, s->pad, s->h, s->w);
    for (int b = b0; b < b1; b++) {
        const int nl = block_lanes(c, b);
        const size_t p0 = (size_t)b * BL;
        to_blocked(c->x + p0 * in_sz, in_sz, nl, s->h, s->w, xb, c->wp, s->pad, s->pad);
        taps(yb, xb, s->ho, s->wo, c->wp, s->stride, block_wv(c, b, nl, wv), off, kk);
        from_blocked(yb, s->wo, 0, 0, s->ho, s->wo, c->y + p0 * out_sz, out_sz, nl, 0);
    }
}

/* Backward of blocks [b0, b1): dW's per-block sums into part, dx added to
 * the planes' gradients. Scratch: x padded, dy blocked, then (gather) dy
 * padded by q and dx blocked, or (scatter) dx padded. */
static void dw_bwd_range(void *arg, int b0, int b1)
{
    const dw_ctx *c = arg;
    const conv_shape *s = c->s;
    const int kk = s->k * s->k;
    float *xb = dw_scratch(c, b0);
    float *dz = xb + (size_t)c->hp * c->wp * BL;
    float *dq = dz + (size_t)s->ho * s->wo * BL, *dxb = dq;
    float *dxo = dq + (size_t)c->hq * c->wq * BL;
    const size_t in_sz = (size_t)s->h * s->w, out_sz = (size_t)s->ho * s->wo;
    int off_p[KKMAX], off_q[KKMAX];
    float wv[KKMAX * BL];
    tap_offsets(s->k, s->dil, c->wp, off_p);
    tap_offsets(s->k, s->dil, c->wq, off_q);
    zero_border(xb, c->hp, c->wp, s->pad, s->pad, s->h, s->w);
    if (c->gather)
        zero_border(dq, c->hq, c->wq, c->q, c->q, s->ho, s->wo);
    for (int b = b0; b < b1; b++) {
        const int nl = block_lanes(c, b);
        const size_t p0 = (size_t)b * BL;
        to_blocked(c->dy + p0 * out_sz, out_sz, nl, s->ho, s->wo, dz, s->wo, 0, 0);
        if (c->part) {
            float *acc = c->part + (size_t)b * kk * BL;
            memset(acc, 0, (size_t)kk * BL * sizeof(float));
            to_blocked(c->x + p0 * in_sz, in_sz, nl, s->h, s->w, xb, c->wp, s->pad, s->pad);
            dot_taps(acc, dz, xb, s->ho, s->wo, c->wp, s->stride, off_p, kk);
        }
        if (!c->dx)
            continue;
        if (c->gather) {
            for (int oh = 0; oh < s->ho; oh++)
                memcpy(dq + ((size_t)(oh + c->q) * c->wq + c->q) * BL, dz + (size_t)oh * s->wo * BL,
                       (size_t)s->wo * BL * sizeof(float));
            taps(dxo, dq, s->h, s->w, c->wq, 1, block_wv(c, b, nl, wv), off_q, kk);
            from_blocked(dxo, s->w, 0, 0, s->h, s->w, c->dx + p0 * in_sz, in_sz, nl, c->dx_add);
        } else {
            memset(dxb, 0, (size_t)c->hp * c->wp * BL * sizeof(float));
            scatter_taps(dxb, dz, s->ho, s->wo, c->wp, s->stride, block_wv(c, b, nl, wv), off_p,
                         kk);
            from_blocked(dxb, c->wp, s->pad, s->pad, s->h, s->w, c->dx + p0 * in_sz, in_sz, nl,
                         c->dx_add);
        }
    }
}

static void dw_setup(nas_graph *g, dw_ctx *c, const conv_shape *s)
{
    /* The padded plane covers x with its padding and every tap's reach. */
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
    c->gather = s->stride == 1 && c->q >= 0;
    c->planes = s->n * s->ci;
    c->nblocks = (c->planes + BL - 1) / BL;
    c->nchunks = nas_get_threads() < c->nblocks ? nas_get_threads() : c->nblocks;
    const size_t xp = (size_t)c->hp * c->wp * BL, yo = (size_t)s->ho * s->wo * BL;
    size_t bwd = xp + yo + (c->gather ? (size_t)c->hq * c->wq * BL + (size_t)s->h * s->w * BL : xp);
    c->scratch_size = bwd > xp + yo ? bwd : xp + yo;
    c->scratch = nas_arena_alloc(g->arena, c->scratch_size * c->nchunks * sizeof(float));
}

void nas__conv_dw_fwd(nas_graph *g, const conv_shape *s, const float *x, const float *w, float *y)
{
    NAS_ASSERT(s->k * s->k <= KKMAX);
    dw_ctx c = {.s = s, .x = x, .w = w, .y = y};
    dw_setup(g, &c, s);
    build_wtab(g, &c, 0);
    nas__parallel_for(c.nblocks, dw_fwd_range, &c);
}

void nas__conv_dw_bwd(nas_graph *g, const conv_shape *s, const float *x, const float *w,
                      const float *dy, float *dx, int dx_fresh, float *dw)
{
    NAS_ASSERT(s->k * s->k <= KKMAX);
    const int kk = s->k * s->k;
    dw_ctx c = {.s = s, .x = x, .w = w, .dy = dy, .dx = dx, .dx_add = !dx_fresh};
    dw_setup(g, &c, s);
    if (dx)
        build_wtab(g, &c, c.gather);
    if (dw)
        c.part = nas_arena_alloc(g->arena, (size_t)c.nblocks * kk * BL * sizeof(float));
    nas__parallel_for(c.nblocks, dw_bwd_range, &c);
    if (!dw)
        return;
    /* Per channel, the blocks' lane sums in block and lane order. */
    float *sum = nas_arena_zalloc(g->arena, (size_t)s->ci * kk * sizeof(float));
    for (int b = 0; b < c.nblocks; b++)
        for (int l = 0; l < block_lanes(&c, b); l++) {
            float *sc = sum + (size_t)((b * BL + l) % s->ci) * kk;
            for (int t = 0; t < kk; t++)
                sc[t] += c.part[((size_t)b * kk + t) * BL + l];
        }
    for (size_t i = 0; i < (size_t)s->ci * kk; i++)
        dw[i] += sum[i];
}
