// SPDX-License-Identifier: MIT
/*
 * dataset.c - the in-memory image dataset: statistics, slices and the
 * conversion of uint8 pixels into normalised float batches with optional
 * augmentation (random crop after zero padding, random horizontal flip).
 *
 * The one design decision to know: pixels stay uint8 and every batch is
 * converted on the fly through a 256-entry table per channel, so the
 * augmented batch depends only on the dataset, the indices and the rng.
 * The rng is drawn in a fixed order, image after image in the order of
 * idx: the vertical crop offset, then the horizontal one (when crop_pad >
 * 0), then the flip coin (when hflip is on). The same seed therefore gives
 * the same batch. Padding is "pixel 0", i.e. (0 - mean) / std once
 * normalised, as if the uint8 image had been padded with zeros.
 */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void nas_dataset_free(nas_dataset *d)
{
    if (!d)
        return;
    free(d->x);
    free(d->y);
    free(d);
}

/* Per-channel sums are exact integers; only the final mean and variance
 * are computed in double. A constant channel would give std 0 and divide
 * by zero in every batch, so its std is set to 1 instead. */
void nas_dataset_compute_stats(nas_dataset *d)
{
    NAS_ASSERT(d && d->c >= 1 && d->c <= 4);
    size_t plane = (size_t)d->h * (size_t)d->w;
    for (int ch = 0; ch < d->c; ch++) {
        uint64_t sum = 0, sumsq = 0;
        for (int i = 0; i < d->n; i++) {
            const uint8_t *p = d->x + ((size_t)i * d->c + ch) * plane;
            for (size_t k = 0; k < plane; k++) {
                sum += p[k];
                sumsq += (uint64_t)p[k] * p[k];
            }
        }
        double count = (double)d->n * (double)plane;
        double mean = count > 0 ? (double)sum / count / 255.0 : 0.0;
        double ex2 = count > 0 ? (double)sumsq / count / 65025.0 : 0.0;
        double var = ex2 - mean * mean;
        double sd = var > 0 ? sqrt(var) : 0.0;
        d->mean[ch] = (float)mean;
        d->std[ch] = sd > 1e-6 ? (float)sd : 1.0f;
    }
    for (int ch = d->c; ch < 4; ch++) {
        d->mean[ch] = 0.0f;
        d->std[ch] = 1.0f;
    }
}

/* The slice keeps the source's mean and std (not its own) so that a
 * validation split of a training set is normalised like the training set. */
int nas_dataset_slice(const nas_dataset *d, int start, int count, nas_dataset **out)
{
    NAS_ASSERT(d && out);
    *out = NULL;
    if (start < 0 || start > d->n)
        return nas_fail(NAS_EINVAL, "slice start %d outside [0, %d]", start, d->n);
    if (count <= 0)
        count = d->n - start;
    if (count > d->n - start)
        return nas_fail(NAS_EINVAL, "slice [%d, %d) beyond the %d examples", start, start + count,
                        d->n);

    size_t img = (size_t)d->c * d->h * d->w;
    nas_dataset *s = calloc(1, sizeof(*s));
    if (!s)
        goto fail;
    *s = *d;
    s->n = count;
    s->x = malloc(count > 0 ? img * count : 1);
    s->y = malloc(count > 0 ? sizeof(int32_t) * count : 1);
    if (!s->x || !s->y)
        goto fail;
    if (count > 0) {
        memcpy(s->x, d->x + img * start, img * count);
        memcpy(s->y, d->y + start, sizeof(int32_t) * count);
    }
    *out = s;
    return NAS_OK;

fail:
    nas_dataset_free(s);
    return nas_fail(NAS_ENOMEM, "slice of %d examples: out of memory", count);
}

/* lut[c][v] = (v / 255 - mean[c]) / std[c], computed in double. */
static void build_lut(const nas_dataset *d, float lut[4][256])
{
    for (int ch = 0; ch < d->c; ch++)
        for (int v = 0; v < 256; v++)
            lut[ch][v] = (float)(((double)v / 255.0 - d->mean[ch]) / d->std[ch]);
}

/* One image (c, h, w) into dst: dst[r][col] = src[r + dy][col' + dx] where
 * col' = w - 1 - col when flipped, and pixel 0 outside the image. */
static void copy_image(const nas_dataset *d, const float lut[4][256], const uint8_t *src,
                       float *dst, int dy, int dx, int flip)
{
    int h = d->h, w = d->w;
    for (int ch = 0; ch < d->c; ch++) {
        const uint8_t *sp = src + (size_t)ch * h * w;
        float *dp = dst + (size_t)ch * h * w;
        float pad = lut[ch][0];
        for (int r = 0; r < h; r++) {
            int sr = r + dy;
            for (int col = 0; col < w; col++) {
                int sc = (flip ? w - 1 - col : col) + dx;
                int inside = sr >= 0 && sr < h && sc >= 0 && sc < w;
                dp[(size_t)r * w + col] = inside ? lut[ch][sp[(size_t)sr * w + sc]] : pad;
            }
        }
    }
}

/* Zeroes (the normalised mean) the square of side len centred at
 * (cy, cx) in every channel, clipped at the borders. */
static void cutout(const nas_dataset *d, float *img, int cy, int cx, int len)
{
    int y0 = cy - len / 2, y1 = cy + len / 2, x0 = cx - len / 2, x1 = cx + len / 2;
    y0 = y0 < 0 ? 0 : y0;
    x0 = x0 < 0 ? 0 : x0;
    y1 = y1 > d->h ? d->h : y1;
    x1 = x1 > d->w ? d->w : x1;
    for (int ch = 0; ch < d->c; ch++)
        for (int r = y0; r < y1; r++)
            for (int col = x0; col < x1; col++)
                img[((size_t)ch * d->h + r) * d->w + col] = 0.0f;
}

void nas_dataset_batch(const nas_dataset *d, const int *idx, int n, const nas_augment *aug,
                       nas_rng *rng, float *x, int32_t *y)
{
    NAS_ASSERT(d && d->c >= 1 && d->c <= 4 && n >= 0);
    NAS_ASSERT(n == 0 || (idx && x));
    int pad = aug ? aug->crop_pad : 0;
    int hflip = aug ? aug->hflip : 0;
    int cut = aug ? aug->cutout : 0;
    NAS_ASSERT(pad >= 0 && pad < d->h && pad < d->w && cut >= 0);
    NAS_ASSERT((!pad && !hflip && !cut) || (rng && "augmentation needs an rng"));

    float lut[4][256];
    build_lut(d, lut);
    size_t img = (size_t)d->c * d->h * d->w;
    for (int i = 0; i < n; i++) {
        int j = idx[i];
        NAS_ASSERT(j >= 0 && j < d->n);
        int dy = 0, dx = 0, flip = 0;
        if (pad) {
            dy = (int)nas_rng_below(rng, 2u * pad + 1) - pad;
            dx = (int)nas_rng_below(rng, 2u * pad + 1) - pad;
        }
        if (hflip)
            flip = (int)nas_rng_below(rng, 2);
        copy_image(d, lut, d->x + img * j, x + img * i, dy, dx, flip);
        if (cut) {
            int cy = (int)nas_rng_below(rng, (uint32_t)d->h);
            int cx = (int)nas_rng_below(rng, (uint32_t)d->w);
            cutout(d, x + img * i, cy, cx, cut);
        }
        if (y)
            y[i] = d->y[j];
    }
}
