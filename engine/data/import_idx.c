// SPDX-License-Identifier: MIT
/*
 * import_idx.c - an uploaded archive of IDX files (the MNIST layout:
 * train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-
 * ubyte, t10k-labels-idx1-ubyte, each raw or .gz) into nasd's format.
 *
 * import.c copies the four files out of the archive (under its entry and
 * size limits) to the names a job loads (train-images.idx, ...); here
 * they are loaded once with nas_idx_load, the loader jobs use, which
 * checks them, and meta.json and samples.png are written from what it
 * read. Labels name the classes "0", "1", ...; a label no training image
 * has is refused (a class with no images).
 */
#include "import.h"

#include "../core/json.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

const char *const nas__import_idx_files[4] = {"train-images.idx", "train-labels.idx",
                                              "test-images.idx", "test-labels.idx"};

int nas__import_idx_role(const char *norm)
{
    const char *slash = strrchr(norm, '/'), *b = slash ? slash + 1 : norm;
    static const char *const stems[4][2] = {{"train-images-idx3-ubyte", "train-images.idx"},
                                            {"train-labels-idx1-ubyte", "train-labels.idx"},
                                            {"t10k-images-idx3-ubyte", "test-images.idx"},
                                            {"t10k-labels-idx1-ubyte", "test-labels.idx"}};
    for (int r = 0; r < 4; r++)
        for (int k = 0; k < 2; k++) {
            size_t n = strlen(stems[r][k]);
            if (strncmp(b, stems[r][k], n) == 0 && (!b[n] || strcmp(b + n, ".gz") == 0))
                return r;
        }
    return -1;
}

static void put_counts(nas_json_buf *b, const nas_dataset *d, int classes)
{
    nas__json_buf_puts(b, "{\"images\":");
    nas__json_buf_u64(b, (uint64_t)d->n);
    nas__json_buf_puts(b, ",\"per_class\":[");
    for (int c = 0; c < classes; c++) {
        uint64_t k = 0;
        for (int i = 0; i < d->n; i++)
            k += d->y[i] == c;
        if (c)
            nas__json_buf_puts(b, ",");
        nas__json_buf_u64(b, k);
    }
    nas__json_buf_puts(b, "]}");
}

/* samples.png from the loaded training set (pixels channel-major). */
static int grid(const nas_dataset *d, int classes, const char *dir)
{
    enum { COLS = 8, ROWS = 64, GAP = 2 };
    int rows = classes < ROWS ? classes : ROWS, h = d->h, w = d->w;
    int gw = COLS * (w + GAP) + GAP, gh = rows * (h + GAP) + GAP;
    size_t hw = (size_t)h * (size_t)w;
    uint8_t *g = malloc((size_t)gw * (size_t)gh * 3), *png = NULL;
    size_t len = 0;
    int rc;
    if (!g)
        return nas_fail(NAS_ENOMEM, "import: out of memory for the sample grid");
    memset(g, 255, (size_t)gw * (size_t)gh * 3);
    for (int c = 0; c < rows; c++)
        for (int i = 0, col = 0; i < d->n && col < COLS; i++) {
            if (d->y[i] != c)
                continue;
            const uint8_t *x = d->x + (size_t)i * hw * (size_t)d->c;
            for (int y = 0; y < h; y++)
                for (int xx = 0; xx < w; xx++)
                    for (int k = 0; k < 3; k++)
                        g[(((size_t)(GAP + c * (h + GAP) + y)) * (size_t)gw +
                           (size_t)(GAP + col * (w + GAP) + xx)) *
                              3 +
                          (size_t)k] = x[(size_t)(d->c == 3 ? k : 0) * hw + (size_t)y * w + xx];
            col++;
        }
    rc = nas_png_encode(g, gw, gh, 3, &png, &len);
    free(g);
    if (rc < 0)
        return rc;
    char path[4096];
    snprintf(path, sizeof path, "%s/samples.png", dir);
    FILE *f = fopen(path, "wb");
    int bad = !f || fwrite(png, 1, len, f) != len;
    if (f) {
        bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
        bad |= fclose(f) != 0;
    }
    free(png);
    return bad ? nas_fail(NAS_EIO, "%s: cannot write", path) : NAS_OK;
}

int nas__import_idx_finish(const char *dir, const char *name, const char *sha256, char **meta_json,
                           nas_import_error *err)
{
    char p[4][4096];
    nas_dataset *tr = NULL, *te = NULL;
    nas_json_buf b = {0};
    int rc, classes;
    for (int i = 0; i < 4; i++)
        snprintf(p[i], sizeof p[i], "%s/%s", dir, nas__import_idx_files[i]);
    if ((rc = nas_idx_load(p[0], p[1], &tr)) < 0 || (rc = nas_idx_load(p[2], p[3], &te)) < 0) {
        /* The loader names its own file; the user's is the archive's. */
        snprintf(err->where, sizeof err->where, "%s",
                 tr ? "t10k-images-idx3-ubyte" : "train-images-idx3-ubyte");
        goto done;
    }
    if (te->c != tr->c || te->h != tr->h || te->w != tr->w) {
        snprintf(err->where, sizeof err->where, "t10k-images-idx3-ubyte");
        rc = nas_fail(NAS_EINVAL, "test images are %dx%dx%d, training images %dx%dx%d", te->c,
                      te->h, te->w, tr->c, tr->h, tr->w);
        goto done;
    }
    classes = tr->classes > te->classes ? tr->classes : te->classes;
    for (int c = 0; c < classes; c++) {
        int k = 0;
        for (int i = 0; i < tr->n && !k; i++)
            k = tr->y[i] == c;
        if (!k) {
            snprintf(err->where, sizeof err->where, "%d", c);
            rc = nas_fail(NAS_EINVAL, "class %d: no training images (labels run 0 to %d)", c,
                          classes - 1);
            goto done;
        }
    }
    if (classes < 2) {
        rc = nas_fail(NAS_EINVAL, "the labels name one class: a classifier needs two or more");
        goto done;
    }
    if ((rc = grid(tr, classes, dir)) < 0)
        goto done;
    nas__json_buf_puts(&b, "{\"name\":");
    nas__json_buf_str(&b, name, "");
    nas__json_buf_puts(&b, ",\"kind\":\"image\",\"format\":\"nasd-idx-1\",\"shape\":[");
    int dims[3] = {tr->c, tr->h, tr->w};
    for (int i = 0; i < 3; i++) {
        if (i)
            nas__json_buf_puts(&b, ",");
        nas__json_buf_u64(&b, (uint64_t)dims[i]);
    }
    nas__json_buf_puts(&b, "],\"channels\":");
    nas__json_buf_u64(&b, (uint64_t)tr->c);
    nas__json_buf_puts(&b, ",\"classes\":[");
    for (int c = 0; c < classes; c++) {
        char t[16];
        snprintf(t, sizeof t, "%d", c);
        if (c)
            nas__json_buf_puts(&b, ",");
        nas__json_buf_str(&b, t, "");
    }
    nas__json_buf_puts(&b, "],\"splits\":{\"train\":");
    put_counts(&b, tr, classes);
    nas__json_buf_puts(&b, ",\"test\":");
    put_counts(&b, te, classes);
    nas__json_buf_puts(&b, "},\"test_split\":\"t10k\"");
    for (int q = 0; q < 2; q++) {
        nas__json_buf_puts(&b, q ? "],\"std\":[" : ",\"mean\":[");
        for (int k = 0; k < tr->c; k++) {
            char t[32];
            snprintf(t, sizeof t, "%s%.6g", k ? "," : "", q ? tr->std[k] : tr->mean[k]);
            nas__json_buf_puts(&b, t);
        }
    }
    nas__json_buf_puts(&b, "],\"sha256\":");
    nas__json_buf_str(&b, sha256, "");
    nas__json_buf_puts(&b, "}\n");
    if (b.oom) {
        rc = nas_fail(NAS_ENOMEM, "import: out of memory");
        goto done;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    FILE *f = fopen(path, "wb");
    int bad = !f || fwrite(b.s, 1, b.len, f) != b.len;
    if (f) {
        bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
        bad |= fclose(f) != 0;
    }
    if (bad) {
        rc = nas_fail(NAS_EIO, "%s: cannot write", path);
        goto done;
    }
    *meta_json = b.s;
    b.s = NULL;
done:
    free(b.s);
    nas_dataset_free(tr);
    nas_dataset_free(te);
    return rc;
}
