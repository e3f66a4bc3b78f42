// SPDX-License-Identifier: MIT
/*
 * import_meta.c - the files of an imported dataset: the images of each
 * split as IDX (train-images.idx, train-labels.idx, test-images.idx,
 * test-labels.idx) and meta.json, which says what GET /v1/datasets/{name}
 * shows: shape, classes and their names, counts per split and class,
 * per-channel mean and std of the training pixels, and the sha256 of the
 * upload.
 *
 * The one design decision to know: the pixels are written as the engine
 * keeps them (channel-major per image, one byte each; 4-dimension IDX
 * for colour), so a job loads an upload with nas_idx_load, the loader of
 * Fashion-MNIST, and nothing else reads these files. Each file is
 * flushed to disk before the caller renames the directory into place.
 * samples.png, a grid of the first training images of each class (a row
 * per class, up to GRID_COLS each, shrunk to at most GRID_TILE pixels a
 * side), is made here too, so that serving it is reading a small file.
 */
#include "import.h"

#include "../core/json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

static void be32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}

static int close_synced(FILE *f, const char *path, int bad)
{
    bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    return bad ? nas_fail(NAS_EIO, "%s: cannot write: %s", path, strerror(errno)) : NAS_OK;
}

typedef struct stats {
    double sum[3], sq[3];
    uint64_t count;
} stats;

/* One split's two files; its training pixels go into st (NULL: not). */
static int write_split(imp_set *s, int split, const char *dir, const char *stem, int c, int h,
                       int w, stats *st)
{
    char ipath[4096], lpath[4096];
    size_t hw = (size_t)h * (size_t)w, n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += s->items[i].split == split;
    snprintf(ipath, sizeof ipath, "%s/%s-images.idx", dir, stem);
    snprintf(lpath, sizeof lpath, "%s/%s-labels.idx", dir, stem);
    FILE *fi = fopen(ipath, "wb"), *fl = fopen(lpath, "wb");
    uint8_t *rgb = malloc(hw * 3), *chw = malloc(hw * 3), hdr[20];
    int bad = !fi || !fl || !rgb || !chw, rc;
    if (bad)
        goto done;
    size_t hn = 0;
    be32(hdr, c == 3 ? 0x00000804u : 0x00000803u);
    be32(hdr + 4, (uint32_t)n);
    hn = 8;
    if (c == 3) {
        be32(hdr + hn, 3);
        hn += 4;
    }
    be32(hdr + hn, (uint32_t)h);
    be32(hdr + hn + 4, (uint32_t)w);
    bad |= fwrite(hdr, 1, hn + 8, fi) != hn + 8;
    be32(hdr, 0x00000801u);
    be32(hdr + 4, (uint32_t)n);
    bad |= fwrite(hdr, 1, 8, fl) != 8;
    for (size_t i = 0; i < s->n && !bad; i++) {
        const imp_item *it = &s->items[i];
        if (it->split != split)
            continue;
        bad |= fseeko(s->spool, (off_t)it->off, SEEK_SET) != 0 ||
               fread(rgb, 1, hw * 3, s->spool) != hw * 3;
        for (int k = 0; k < c; k++)
            for (size_t p = 0; p < hw; p++) {
                uint8_t v = rgb[p * 3 + (size_t)k];
                chw[(size_t)k * hw + p] = v;
                if (st) {
                    double x = v / 255.0;
                    st->sum[k] += x;
                    st->sq[k] += x * x;
                }
            }
        if (st)
            st->count += hw;
        uint8_t label = (uint8_t)it->cls;
        bad |=
            fwrite(chw, 1, hw * (size_t)c, fi) != hw * (size_t)c || fwrite(&label, 1, 1, fl) != 1;
    }
done:
    free(rgb);
    free(chw);
    rc = bad ? nas_fail(NAS_EIO, "%s: cannot write: %s", ipath, strerror(errno)) : NAS_OK;
    if (fi && close_synced(fi, ipath, 0) < 0 && rc == NAS_OK)
        rc = NAS_EIO;
    if (fl && close_synced(fl, lpath, 0) < 0 && rc == NAS_OK)
        rc = NAS_EIO;
    return rc;
}

#define GRID_COLS 8
#define GRID_ROWS 64 /* classes shown */
#define GRID_TILE 64
#define GRID_GAP 2

static int write_grid(imp_set *s, const char *dir, int h, int w)
{
    int step = 1;
    while ((h + step - 1) / step > GRID_TILE || (w + step - 1) / step > GRID_TILE)
        step++;
    int th = (h + step - 1) / step, tw = (w + step - 1) / step;
    int rows = s->nclasses < GRID_ROWS ? s->nclasses : GRID_ROWS;
    int gw = GRID_COLS * (tw + GRID_GAP) + GRID_GAP, gh = rows * (th + GRID_GAP) + GRID_GAP;
    size_t hw = (size_t)h * (size_t)w;
    uint8_t *grid = calloc((size_t)gw * (size_t)gh * 3, 1), *rgb = malloc(hw * 3), *png = NULL;
    size_t len = 0;
    int rc = NAS_ENOMEM;
    if (!grid || !rgb)
        goto done;
    memset(grid, 255, (size_t)gw * (size_t)gh * 3);
    for (int c = 0; c < rows; c++) {
        int col = 0;
        for (size_t i = 0; i < s->n && col < GRID_COLS; i++) {
            const imp_item *it = &s->items[i];
            if (it->cls != c || it->split != IMP_TRAIN)
                continue;
            if (fseeko(s->spool, (off_t)it->off, SEEK_SET) != 0 ||
                fread(rgb, 1, hw * 3, s->spool) != hw * 3) {
                rc = nas_fail(NAS_EIO, "import: cannot read the pixel spool");
                goto done;
            }
            int x0 = GRID_GAP + col * (tw + GRID_GAP), y0 = GRID_GAP + c * (th + GRID_GAP);
            for (int y = 0; y < th; y++)
                for (int x = 0; x < tw; x++)
                    memcpy(grid + (((size_t)(y0 + y) * (size_t)gw) + (size_t)(x0 + x)) * 3,
                           rgb + ((size_t)(y * step) * (size_t)w + (size_t)(x * step)) * 3, 3);
            col++;
        }
    }
    if ((rc = nas_png_encode(grid, gw, gh, 3, &png, &len)) < 0)
        goto done;
    char path[4096];
    snprintf(path, sizeof path, "%s/samples.png", dir);
    FILE *f = fopen(path, "wb");
    if (!f) {
        rc = nas_fail(NAS_EIO, "%s: %s", path, strerror(errno));
        goto done;
    }
    rc = close_synced(f, path, fwrite(png, 1, len, f) != len);
done:
    if (rc == NAS_ENOMEM)
        nas_fail(rc, "import: out of memory for the sample grid");
    free(grid);
    free(rgb);
    free(png);
    return rc;
}

static void put_double(nas_json_buf *b, double v)
{
    char t[32];
    snprintf(t, sizeof t, "%.6g", v);
    nas__json_buf_puts(b, t);
}

static void put_counts(nas_json_buf *b, const imp_set *s, int split)
{
    size_t total = 0;
    nas__json_buf_puts(b, "{\"images\":");
    for (size_t i = 0; i < s->n; i++)
        total += s->items[i].split == split;
    nas__json_buf_u64(b, total);
    nas__json_buf_puts(b, ",\"per_class\":[");
    for (int c = 0; c < s->nclasses; c++) {
        size_t k = 0;
        for (size_t i = 0; i < s->n; i++)
            k += s->items[i].split == split && s->items[i].cls == c;
        if (c)
            nas__json_buf_puts(b, ",");
        nas__json_buf_u64(b, k);
    }
    nas__json_buf_puts(b, "]}");
}

int nas__import_write(imp_set *s, const char *name, const char *out_dir, int h, int w,
                      const char *holdout, char **meta_json)
{
    int c = s->color ? 3 : 1, rc;
    stats st = {0};
    if ((rc = write_split(s, IMP_TRAIN, out_dir, "train", c, h, w, &st)) < 0 ||
        (rc = write_split(s, IMP_TEST, out_dir, "test", c, h, w, NULL)) < 0 ||
        (rc = write_grid(s, out_dir, h, w)) < 0)
        return rc;
    nas_json_buf b = {0};
    nas__json_buf_puts(&b, "{\"name\":");
    nas__json_buf_str(&b, name, "");
    nas__json_buf_puts(&b, ",\"kind\":\"image\",\"format\":\"nasd-idx-1\",\"shape\":[");
    nas__json_buf_u64(&b, (uint64_t)c);
    nas__json_buf_puts(&b, ",");
    nas__json_buf_u64(&b, (uint64_t)h);
    nas__json_buf_puts(&b, ",");
    nas__json_buf_u64(&b, (uint64_t)w);
    nas__json_buf_puts(&b, "],\"channels\":");
    nas__json_buf_u64(&b, (uint64_t)c);
    nas__json_buf_puts(&b, ",\"classes\":[");
    for (int k = 0; k < s->nclasses; k++) {
        if (k)
            nas__json_buf_puts(&b, ",");
        nas__json_buf_str(&b, s->classes[k], "");
    }
    nas__json_buf_puts(&b, "],\"splits\":{\"train\":");
    put_counts(&b, s, IMP_TRAIN);
    nas__json_buf_puts(&b, ",\"test\":");
    put_counts(&b, s, IMP_TEST);
    nas__json_buf_puts(&b, "},\"test_split\":");
    nas__json_buf_str(&b, holdout, "");
    const char *keys[2] = {",\"mean\":[", "],\"std\":["};
    for (int q = 0; q < 2; q++) {
        nas__json_buf_puts(&b, keys[q]);
        for (int k = 0; k < c; k++) {
            double n = st.count ? (double)st.count : 1.0, m = st.sum[k] / n;
            double var = st.sq[k] / n - m * m;
            if (k)
                nas__json_buf_puts(&b, ",");
            put_double(&b, q == 0 ? m : sqrt(var > 0 ? var : 0));
        }
    }
    nas__json_buf_puts(&b, "],\"sha256\":");
    nas__json_buf_str(&b, s->sha256, "");
    nas__json_buf_puts(&b, "}\n");
    if (b.oom) {
        free(b.s);
        return nas_fail(NAS_ENOMEM, "import: out of memory");
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/meta.json", out_dir);
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(b.s);
        return nas_fail(NAS_EIO, "%s: %s", path, strerror(errno));
    }
    int bad = fwrite(b.s, 1, b.len, f) != b.len;
    if ((rc = close_synced(f, path, bad)) < 0) {
        free(b.s);
        return rc;
    }
    *meta_json = b.s;
    return NAS_OK;
}
