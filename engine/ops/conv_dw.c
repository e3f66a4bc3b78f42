// SPDX-License-Identifier: MIT
/*
 * conv_dw.c - depthwise 2-d convolution (groups == Ci == Co), the kernels
 * under nas_conv2d (conv.c) for the separable and dilated convolutions of
 * the DARTS and ENAS cells.
 *
 * The one design decision to know: these are direct loops over
 * zero-padded planes that the compiler vectorises, not im2col + GEMM (a
 * depthwise GEMM has one row). Stride 1 (every DARTS sep/dil conv) has its
 * own path, described above dw_ctx; strided ones run the same contiguous
 * kernels over phase planes (above dw_phase_offsets). Backward is split by
 * channel so no two threads touch the same weight gradient.
 */
#include "internal.h"
#include "ops/conv.h"

#include <math.h>
#include <stdlib.h>

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
    float *scratch; /* per chunk, see dw_setup */
    size_t scratch_size;
    int hp, wp;     /* padded x plane */
    int q, hq, wq;  /* padded dy plane (stride-1 dx) */
    int fast;       /* stride-1 path */
    int hph, wph;   /* phase planes (other path), see to_phases */
    size_t phsz;    /* floats of one phase plane, slack included */
    unsigned pmask; /* bit r: some tap reads phase row (column) r */
    int total;      /* items of the parallel loop */
    int nchunks;
} dw_ctx;

static int dw_chunk(const dw_ctx *c, int i0)
{
    return nas__chunk_of(c->total, c->nchunks, i0);
}

/* out[i] = sum_t wt[t] * in[i + off[t]], i < n; kk known at compile time
 * where inlined with a constant (3x3, 5x5), so the taps unroll and each
 * vector of outputs stays in a register. */
static inline __attribute__((always_inline)) void taps_fixed(float *restrict out,
                                                             const float *restrict in, size_t n,
                                                             const float *wt, const int *off,
                                                             int kk)
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

static void taps(float *restrict out, const float *restrict in, size_t n, const float *wt,
                 const int *off, int kk)
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
static void dot_taps(float *restrict acc, const float *restrict dz, const float *restrict in,
                     size_t n, const int *off, int kk)
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
    for (int item = i0; item < i1; item++) { /* item = n * C + ch */
        int ch = item % s->ci;
        put_plane(c->x + (size_t)item * s->h * s->w, s->h, s->w, p, c->wp, s->pad, s->pad);
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
    float *dz = p + (size_t)c->hp * c->wp + slack;   /* dy at width wp */
    float *dq = dz + (size_t)s->ho * c->wp;          /* dy padded by q */
    float *dxo = dq + (size_t)c->hq * c->wq + slack; /* dx at width wq */
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
                put_plane(c->x + item * s->h * s->w, s->h, s->w, p, c->wp, s->pad, s->pad);
                put_plane(dy, s->ho, s->wo, dz, c->wp, 0, 0);
                dot_taps(acc, dz, p, nz, off_p, kk);
            }
            if (c->dx) {
                put_plane(dy, s->ho, s->wo, dq, c->wq, c->q, c->q);
                taps(dxo, dq, nx, wflip, off_q, kk);
                float *dx = c->dx + item * s->h * s->w;
                for (int i = 0; i < s->h; i++)
                    nas__add_to(dx + (size_t)i * s->w, dxo + (size_t)i * c->wq, (size_t)s->w);
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
                                     (size_t)(kh * d / st) * c->wph + (size_t)(kw * d / st));
        }
}

static int phase_read(const dw_ctx *c, int r)
{
    return r >= 32 || (c->pmask >> r & 1);
}

/* The interior (x's pixels) of the phase planes P <-> plane x (h, w):
 * to_phases writes P from x, from_phases adds P to x. Borders and unread
 * phases are never touched. */
static inline __attribute__((always_inline)) void phases_io_st(const dw_ctx *c, float *x, float *P,
                                                               int add, const int st)
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
            int c0 = ((q - pad) % st + st) % st; /* (c0 + pad) % st == q */
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
    for (int item = i0; item < i1; item++) { /* item = n * C + ch */
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
            put_plane(c->dy + item * s->ho * s->wo, s->ho, s->wo, dz, c->wph, 0, 0);
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

void nas__conv_dw_fwd(nas_graph *g, const conv_shape *s, const float *x, const float *w, float *y)
{
    dw_ctx c = {.s = s, .x = x, .w = w, .y = y};
    dw_setup(g, &c, s, s->n * s->ci);
    nas__parallel_for(s->n * s->ci, dw_fwd_range, &c);
}

void nas__conv_dw_bwd(nas_graph *g, const conv_shape *s, const float *x, const float *w,
                      const float *dy, float *dx, float *dw)
{
    dw_ctx c = {.s = s, .x = x, .w = w, .dy = dy, .dx = dx, .dw = dw};
    dw_setup(g, &c, s, s->ci);
    nas__parallel_for(s->ci, dw_bwd_range, &c);
}
