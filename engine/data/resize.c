// SPDX-License-Identifier: MIT
/*
 * resize.c - resizing an uploaded image (?resize=HxW of POST
 * /v1/datasets, import.c and import_npy.c), 8-bit RGB to 8-bit RGB.
 *
 * The one design decision to know: the two axes are resized one after
 * the other through a table of (first input pixel, weights) per output
 * pixel, and each axis picks its own filter: shrinking averages the
 * input pixels an output pixel covers (area, OpenCV's INTER_AREA: no
 * aliasing, and an exact mean when the factor is whole), growing or
 * keeping the size interpolates bilinearly between the two nearest
 * input pixels with half-pixel centres (align_corners=False). The
 * intermediate row pass is kept in float, so the only rounding is the
 * final one to the nearest integer.
 */
#include "internal.h"

#include <math.h>
#include <stdlib.h>

typedef struct axis {
    int *first, *count;
    float *w; /* out * span weights, row o at o * span */
    int span;
} axis;

static void axis_free(axis *a)
{
    free(a->first);
    free(a->count);
    free(a->w);
}

static int axis_make(axis *a, int in, int out)
{
    double s = (double)in / (double)out;
    a->span = in > out ? (int)ceil(s) + 1 : 2;
    a->first = malloc((size_t)out * sizeof(int));
    a->count = malloc((size_t)out * sizeof(int));
    a->w = calloc((size_t)out * (size_t)a->span, sizeof(float));
    if (!a->first || !a->count || !a->w)
        return nas_fail(NAS_ENOMEM, "resize: out of memory");
    for (int o = 0; o < out; o++) {
        float *w = a->w + (size_t)o * (size_t)a->span;
        if (in > out) {
            double lo = o * s, hi = (o + 1) * s;
            int i0 = (int)floor(lo), i1 = (int)ceil(hi);
            if (i1 > in)
                i1 = in;
            a->first[o] = i0;
            a->count[o] = i1 - i0;
            for (int i = i0; i < i1; i++) {
                double l = i > lo ? i : lo, r = i + 1 < hi ? i + 1 : hi;
                w[i - i0] = (float)((r - l) / s);
            }
        } else {
            double x = (o + 0.5) * s - 0.5;
            if (x < 0)
                x = 0;
            int i0 = (int)floor(x);
            if (i0 > in - 1)
                i0 = in - 1;
            double f = x - i0;
            a->first[o] = i0;
            a->count[o] = i0 + 1 < in ? 2 : 1;
            w[0] = (float)(a->count[o] == 2 ? 1.0 - f : 1.0);
            if (a->count[o] == 2)
                w[1] = (float)f;
        }
    }
    return NAS_OK;
}

int nas_image_resize(const uint8_t *src, int h, int w, uint8_t *dst, int oh, int ow)
{
    NAS_ASSERT(h > 0 && w > 0 && oh > 0 && ow > 0);
    axis ax = {0}, ay = {0};
    float *tmp = malloc((size_t)h * (size_t)ow * 3 * sizeof(float));
    int rc = NAS_ENOMEM;
    if (!tmp || (rc = axis_make(&ax, w, ow)) < 0 || (rc = axis_make(&ay, h, oh)) < 0)
        goto done;
    /* rows: src (h, w, 3) -> tmp (h, ow, 3) */
    for (int y = 0; y < h; y++)
        for (int o = 0; o < ow; o++) {
            const float *wt = ax.w + (size_t)o * (size_t)ax.span;
            float acc[3] = {0, 0, 0};
            for (int k = 0; k < ax.count[o]; k++) {
                const uint8_t *p = src + ((size_t)y * (size_t)w + (size_t)(ax.first[o] + k)) * 3;
                for (int ch = 0; ch < 3; ch++)
                    acc[ch] += wt[k] * p[ch];
            }
            for (int ch = 0; ch < 3; ch++)
                tmp[((size_t)y * (size_t)ow + (size_t)o) * 3 + (size_t)ch] = acc[ch];
        }
    /* columns: tmp (h, ow, 3) -> dst (oh, ow, 3) */
    for (int o = 0; o < oh; o++) {
        const float *wt = ay.w + (size_t)o * (size_t)ay.span;
        for (size_t x = 0; x < (size_t)ow * 3; x++) {
            float acc = 0;
            for (int k = 0; k < ay.count[o]; k++)
                acc += wt[k] * tmp[(size_t)(ay.first[o] + k) * (size_t)ow * 3 + x];
            long v = lroundf(acc);
            dst[(size_t)o * (size_t)ow * 3 + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    rc = NAS_OK;
done:
    if (rc == NAS_ENOMEM)
        nas_fail(rc, "resize: out of memory");
    free(tmp);
    axis_free(&ax);
    axis_free(&ay);
    return rc;
}
