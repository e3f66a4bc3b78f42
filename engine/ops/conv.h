// SPDX-License-Identifier: MIT
/*
 * conv.h - what the two files of nas_conv2d share (internal to ops/): the
 * shape of one convolution, the row copies of its padded planes, and the
 * depthwise kernels of conv_dw.c that conv.c's op calls.
 */
#ifndef NAS_OPS_CONV_H
#define NAS_OPS_CONV_H

#include "internal.h"

#include <string.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

typedef struct {
    int n, ci, h, w, co, k, stride, pad, dil, groups, ho, wo;
} conv_shape;

/* n floats from src to dst. Image rows are short (7..32 floats): with
 * AVX-512, 16-float moves and one masked move for the tail (a memcpy call
 * per row, or a scalar tail, costs more than the row; the compiler turns a
 * masked loop into gathers and scatters). */
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

/* Copy plane src (rows, cols) into dst of row width wd at (top, left);
 * the rest of dst is left as it is (zero borders). */
static inline void put_plane(const float *src, int rows, int cols, float *dst, int wd, int top,
                             int left)
{
    for (int i = 0; i < rows; i++)
        copy_row(dst + (size_t)(i + top) * wd + left, src + (size_t)i * cols, cols);
}

/* Depthwise (groups == ci == co) forward y = conv(x, w) and backward
 * (dw accumulates, dx too unless dx_fresh: then it is overwritten; either
 * may be NULL), scratch from g's arena. */
void nas__conv_dw_fwd(nas_graph *g, const conv_shape *s, const float *x, const float *w, float *y);
void nas__conv_dw_bwd(nas_graph *g, const conv_shape *s, const float *x, const float *w,
                      const float *dy, float *dx, int dx_fresh, float *dw);

#endif
