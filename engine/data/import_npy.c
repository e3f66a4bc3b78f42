// SPDX-License-Identifier: MIT
/*
 * import_npy.c - an uploaded archive of NumPy arrays into nasd's format:
 * x_train.npy and y_train.npy, and optionally x_test.npy and y_test.npy,
 * in a tar, a zip or NumPy's own .npz (a zip of .npy files, as
 * numpy.savez and savez_compressed write it), at any folder depth.
 *
 * Images are uint8 arrays (N, H, W) (grey), (N, H, W, C) or (N, C, H, W)
 * with C 1 or 3: channels last when the last axis is 1 or 3 (the NumPy and
 * Keras habit), else channels first (PyTorch's). Labels are (N,) or
 * (N, 1) of uint8, int32 or int64 with values 0 to 255; the classes are
 * named by their labels, "0" to the largest. Without x_test.npy the test
 * split is held out as for class folders (import.c).
 *
 * import.c copies the files out of the archive (under its limits) into
 * out_dir; here each header is read with nas_npy_header, the file's size
 * checked against it, and every image goes to the pixel spool as RGB
 * (resized when asked), so that the rest - the held-out split, the class
 * checks, the IDX files, meta.json and the sample grid - is import.c's
 * and import_meta.c's, the same as for PNG files. The copies are removed
 * once read. Every refusal names the file.
 */
#include "import.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPY_HEAD_READ (65536 + 12)

const char *const nas__import_npy_files[4] = {"x_train.npy", "y_train.npy", "x_test.npy",
                                              "y_test.npy"};

int nas__import_npy_role(const char *norm)
{
    const char *slash = strrchr(norm, '/'), *b = slash ? slash + 1 : norm;
    size_t n = strlen(b);
    for (int r = 0; r < 4; r++)
        if (strcmp(b, nas__import_npy_files[r]) == 0)
            return r;
    return n > 4 && strcmp(b + n - 4, ".npy") == 0 ? NAS__NPY_OTHER : -1;
}

typedef struct npy_file {
    const char *name;
    FILE *f;
    nas_npy h;
} npy_file;

static int bad(nas_import_error *err, const char *file, const char *fmt, const char *detail)
{
    snprintf(err->where, sizeof err->where, "%s", file);
    return nas_fail(NAS_EINVAL, fmt, file, detail);
}

/* Opens out_dir/name and reads its header; the data must be exactly
 * what the header says. */
static int open_npy(const char *dir, const char *name, npy_file *o, nas_import_error *err)
{
    char path[4096], why[200];
    uint8_t *head = malloc(NPY_HEAD_READ);
    struct stat st;
    int rc = NAS_OK;
    o->name = name;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!head)
        return nas_fail(NAS_ENOMEM, "import: out of memory");
    if (!(o->f = fopen(path, "rb")) || fstat(fileno(o->f), &st) != 0) {
        free(head);
        return nas_fail(NAS_EIO, "%s: %s", path, strerror(errno));
    }
    size_t got = fread(head, 1, NPY_HEAD_READ, o->f);
    if (nas_npy_header(head, got, &o->h, why, sizeof why) != 0)
        rc = bad(err, name, "%s: %s", why);
    else if ((uint64_t)st.st_size - o->h.header_len != o->h.count * o->h.item)
        rc = bad(err, name, "%s: %s",
                 (uint64_t)st.st_size - o->h.header_len < o->h.count * o->h.item
                     ? "the data is shorter than the header's shape and dtype say (cut short?)"
                     : "bytes after the data the header's shape and dtype describe");
    else if (fseeko(o->f, (off_t)o->h.header_len, SEEK_SET) != 0)
        rc = nas_fail(NAS_EIO, "%s: %s", path, strerror(errno));
    free(head);
    return rc;
}

typedef struct layout {
    int64_t n;
    int c, h, w;
    int last; /* channels last */
} layout;

static int image_layout(const npy_file *x, long max_pixels, layout *l, nas_import_error *err)
{
    const nas_npy *h = &x->h;
    const int64_t *s = h->shape;
    char t[200];
    if (strcmp(h->descr, "|u1") != 0)
        return bad(err, x->name, "%s: %s",
                   "images must be uint8 ('|u1'): scale them to 0-255 and convert "
                   "(numpy.uint8) before saving");
    *l = (layout){.n = s[0], .c = 1, .last = 1};
    if (h->ndim == 3) {
        l->h = (int)(s[1] > INT32_MAX ? INT32_MAX : s[1]);
        l->w = (int)(s[2] > INT32_MAX ? INT32_MAX : s[2]);
    } else if (h->ndim == 4 && (s[3] == 1 || s[3] == 3)) {
        l->h = (int)(s[1] > INT32_MAX ? INT32_MAX : s[1]);
        l->w = (int)(s[2] > INT32_MAX ? INT32_MAX : s[2]);
        l->c = (int)s[3];
    } else if (h->ndim == 4 && (s[1] == 1 || s[1] == 3)) {
        l->c = (int)s[1];
        l->h = (int)(s[2] > INT32_MAX ? INT32_MAX : s[2]);
        l->w = (int)(s[3] > INT32_MAX ? INT32_MAX : s[3]);
        l->last = 0;
    } else {
        return bad(err, x->name, "%s: %s",
                   "the shape must be (N, H, W), (N, H, W, C) or (N, C, H, W) with C 1 or 3");
    }
    if (l->n < 1 || l->h < 1 || l->w < 1)
        return bad(err, x->name, "%s: %s", "an empty array (a dimension of 0)");
    if ((long)l->h * (long)l->w > max_pixels || l->h > 65535 || l->w > 65535) {
        snprintf(err->limit, sizeof err->limit, "max-dataset-pixels");
        snprintf(t, sizeof t, "%dx%d pixels an image is over the limit of %ld", l->h, l->w,
                 max_pixels);
        return bad(err, x->name, "%s: %s", t);
    }
    return NAS_OK;
}

/* The labels of y into lab (n of them), each checked against 0..255. */
static int read_labels(npy_file *y, int64_t n, int32_t *lab, int *max, nas_import_error *err)
{
    const nas_npy *h = &y->h;
    char t[200];
    if (!(h->ndim == 1 || (h->ndim == 2 && h->shape[1] == 1)))
        return bad(err, y->name, "%s: %s", "labels must have the shape (N,) or (N, 1)");
    if (h->shape[0] != n) {
        snprintf(t, sizeof t, "%lld labels for %lld images", (long long)h->shape[0], (long long)n);
        return bad(err, y->name, "%s: %s", t);
    }
    uint8_t b[8];
    size_t item = h->item < sizeof b ? h->item : sizeof b; /* 1, 4 or 8 (nas_npy_header) */
    for (int64_t i = 0; i < n; i++) {
        if (fread(b, 1, item, y->f) != item)
            return nas_fail(NAS_EIO, "%s: read error", y->name);
        int64_t v = 0;
        for (size_t k = 0; k < item; k++)
            v |= (int64_t)((uint64_t)b[k] << (8 * k));
        if (item == 4)
            v = (int32_t)(uint32_t)v;
        if (v < 0 || v > 255) {
            snprintf(t, sizeof t, "label %lld at index %lld is outside 0 to 255", (long long)v,
                     (long long)i);
            return bad(err, y->name, "%s: %s", t);
        }
        lab[i] = (int32_t)v;
        if (v > *max)
            *max = (int)v;
    }
    return NAS_OK;
}

/* Every image of x to the spool, an item each with its label. */
static int spool_images(imp_set *s, npy_file *x, const layout *l, const int32_t *lab, int split)
{
    size_t hw = (size_t)l->h * (size_t)l->w, bytes = hw * (size_t)l->c;
    uint8_t *px = malloc(bytes), *rgb = malloc(hw * 3);
    int rc = NAS_OK;
    if (!px || !rgb) {
        rc = nas_fail(NAS_ENOMEM, "import: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < l->n; i++) {
        if (fread(px, 1, bytes, x->f) != bytes) {
            rc = nas_fail(NAS_EIO, "%s: read error", x->name);
            goto done;
        }
        for (size_t p = 0; p < hw; p++)
            for (int k = 0; k < 3; k++) {
                int ch = l->c == 3 ? k : 0;
                rgb[p * 3 + (size_t)k] =
                    px[l->last ? p * (size_t)l->c + (size_t)ch : (size_t)ch * hw + p];
            }
        imp_item *it = &s->items[s->n++];
        *it = (imp_item){(char *)x->name, lab[i], split, 0, 0, 0};
        if ((rc = nas__import_spool(s, rgb, l->h, l->w, &it->h, &it->w, &it->off)) < 0)
            goto done;
    }
    s->color |= l->c == 3;
done:
    free(px);
    free(rgb);
    return rc;
}

int nas__import_npy_read(imp_set *s, const char *dir, const int have[4],
                         const nas_import_limits *lim, nas_import_error *err)
{
    npy_file f[4] = {{0}};
    layout l[2];
    int32_t *lab[2] = {NULL, NULL};
    int rc = NAS_OK, max = -1, splits = have[2] || have[3] ? 2 : 1;
    for (int r = 0; r < 4; r++)
        if (!have[r] && (r < 2 || splits == 2)) {
            rc = bad(err, nas__import_npy_files[r], "%s: %s",
                     r < 2 ? "missing: NumPy uploads need x_train.npy and y_train.npy"
                           : "missing: x_test.npy and y_test.npy come together");
            goto done;
        }
    for (int r = 0; r < 2 * splits; r++)
        if ((rc = open_npy(dir, nas__import_npy_files[r], &f[r], err)) < 0)
            goto done;
    int64_t total = 0;
    for (int sp = 0; sp < splits; sp++) {
        if ((rc = image_layout(&f[2 * sp], lim->max_pixels, &l[sp], err)) < 0)
            goto done;
        total += l[sp].n;
        if (total > lim->max_files) {
            snprintf(err->limit, sizeof err->limit, "max-dataset-files");
            rc = bad(err, f[2 * sp].name, "%s: %s",
                     "the images of the arrays are over the limit max-dataset-files");
            goto done;
        }
        if (!(lab[sp] = malloc((size_t)l[sp].n * sizeof(int32_t)))) {
            rc = nas_fail(NAS_ENOMEM, "import: out of memory");
            goto done;
        }
        if ((rc = read_labels(&f[2 * sp + 1], l[sp].n, lab[sp], &max, err)) < 0)
            goto done;
    }
    if (max < 1) {
        rc = bad(err, "y_train.npy", "%s: %s",
                 "the labels name one class: a classifier needs two or more");
        goto done;
    }
    if (!(s->items = calloc((size_t)total + 1, sizeof(imp_item))) ||
        !(s->classes = calloc((size_t)max + 2, sizeof(char *)))) {
        rc = nas_fail(NAS_ENOMEM, "import: out of memory");
        goto done;
    }
    for (int c = 0; c <= max; c++) {
        char t[16];
        snprintf(t, sizeof t, "%d", c);
        if (!(s->classes[c] = strdup(t))) {
            rc = nas_fail(NAS_ENOMEM, "import: out of memory");
            goto done;
        }
        s->nclasses = c + 1;
    }
    for (int sp = 0; sp < splits && rc == NAS_OK; sp++)
        rc = spool_images(s, &f[2 * sp], &l[sp], lab[sp], sp ? IMP_TEST : IMP_TRAIN);
done:
    for (int r = 0; r < 4; r++) {
        char path[4096];
        if (f[r].f)
            fclose(f[r].f);
        snprintf(path, sizeof path, "%s/%s", dir, nas__import_npy_files[r]);
        unlink(path);
    }
    free(lab[0]);
    free(lab[1]);
    return rc;
}
