// SPDX-License-Identifier: MIT
/*
 * idx.c - loader for IDX files (MNIST, Fashion-MNIST): an images file of
 * unsigned bytes (magic 0x00000803, dims n, rows, cols) and a labels file
 * (magic 0x00000801, dim n), all header fields big-endian 32-bit. An
 * images file of four dimensions (magic 0x00000804: n, channels, rows,
 * cols, pixels channel-major per image) holds colour images: nasd writes
 * uploaded datasets so (import.c), and they load through this same path.
 *
 * The one design decision to know: both files are read through zlib's
 * gzopen/gzread, which passes uncompressed files through unchanged, so
 * ".gz" and raw files take the same path and nothing looks at the file
 * name. The header is never trusted for the allocation size: the pixel
 * buffer grows as data actually arrives, so a lying header costs at most
 * what the file holds before it is reported as truncated.
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_IMAGES4_MAGIC 0x00000804u
#define IDX_LABELS_MAGIC 0x00000801u
/* The first allocation for a payload; it doubles up to the size wanted. */
#define IDX_FIRST_CHUNK ((size_t)1 << 24)

static int open_gz(const char *path, gzFile *out)
{
    errno = 0;
    *out = gzopen(path, "rb");
    if (!*out)
        return nas_fail(NAS_EIO, "%s: cannot open: %s", path,
                        errno ? strerror(errno) : "out of memory");
    gzbuffer(*out, 1u << 17);
    return NAS_OK;
}

/* A failed gzread is an I/O error when the system said so and a corrupt
 * compressed stream otherwise. */
static int gz_failure(gzFile f, const char *path)
{
    int zerr = 0;
    const char *msg = gzerror(f, &zerr);
    if (zerr == Z_ERRNO)
        return nas_fail(NAS_EIO, "%s: read error: %s", path, strerror(errno));
    return nas_fail(NAS_EFORMAT, "%s: corrupt gzip data: %s", path, msg);
}

/* Reads exactly len bytes into buf; `what` names them in messages. */
static int read_exact(gzFile f, const char *path, void *buf, size_t len, size_t done_before,
                      size_t total, const char *what)
{
    size_t got = 0;
    while (got < len) {
        size_t left = len - got;
        unsigned chunk = left > (1u << 30) ? 1u << 30 : (unsigned)left;
        int r = gzread(f, (char *)buf + got, chunk);
        if (r < 0)
            return gz_failure(f, path);
        if (r == 0)
            return nas_fail(NAS_EFORMAT, "%s: truncated: %s end after %zu of %zu bytes", path, what,
                            done_before + got, total);
        got += (size_t)r;
    }
    return NAS_OK;
}

/* Reads a payload of len bytes into a malloc'd buffer grown as it fills. */
static int read_payload(gzFile f, const char *path, size_t len, const char *what, uint8_t **out)
{
    size_t cap = len < IDX_FIRST_CHUNK ? len : IDX_FIRST_CHUNK;
    size_t got = 0;
    uint8_t *buf = malloc(cap ? cap : 1);
    int rc = NAS_ENOMEM;
    if (!buf)
        goto fail;
    while (got < len) {
        if (got == cap) {
            size_t ncap = cap * 2 < len ? cap * 2 : len;
            uint8_t *nbuf = realloc(buf, ncap);
            if (!nbuf)
                goto fail;
            buf = nbuf;
            cap = ncap;
        }
        rc = read_exact(f, path, buf + got, cap - got, got, len, what);
        if (rc < 0)
            goto fail;
        got = cap;
    }
    *out = buf;
    return NAS_OK;

fail:
    free(buf);
    if (rc == NAS_ENOMEM)
        return nas_fail(rc, "%s: out of memory for %zu bytes of %s", path, len, what);
    return rc;
}

/* Extra bytes after the declared payload mean the header lies. */
static int expect_eof(gzFile f, const char *path)
{
    char extra;
    int r = gzread(f, &extra, 1);
    if (r < 0)
        return gz_failure(f, path);
    if (r > 0)
        return nas_fail(NAS_EFORMAT,
                        "%s: trailing bytes after the data the header "
                        "declares",
                        path);
    return NAS_OK;
}

static int read_be32(gzFile f, const char *path, uint32_t *v)
{
    uint8_t b[4];
    int rc = read_exact(f, path, b, 4, 0, 4, "header fields");
    if (rc < 0)
        return rc;
    *v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
    return NAS_OK;
}

static int read_magic(gzFile f, const char *path, uint32_t want, const char *kind)
{
    uint32_t m;
    int rc = read_be32(f, path, &m);
    if (rc < 0)
        return rc;
    if (m != want)
        return nas_fail(NAS_EFORMAT, "%s: bad magic 0x%08x (want 0x%08x for IDX %s)", path, m, want,
                        kind);
    return NAS_OK;
}

static int read_image_header(gzFile f, const char *path, uint32_t *n, uint32_t *ch, uint32_t *rows,
                             uint32_t *cols)
{
    uint32_t m;
    int rc = read_be32(f, path, &m);
    if (rc < 0)
        return rc;
    if (m != IDX_IMAGES_MAGIC && m != IDX_IMAGES4_MAGIC)
        return nas_fail(NAS_EFORMAT, "%s: bad magic 0x%08x (want 0x%08x or 0x%08x for IDX images)",
                        path, m, IDX_IMAGES_MAGIC, IDX_IMAGES4_MAGIC);
    *ch = 1;
    if ((rc = read_be32(f, path, n)) < 0 ||
        (m == IDX_IMAGES4_MAGIC && (rc = read_be32(f, path, ch)) < 0) ||
        (rc = read_be32(f, path, rows)) < 0 || (rc = read_be32(f, path, cols)) < 0)
        return rc;
    if (*n == 0)
        return nas_fail(NAS_EFORMAT, "%s: header declares zero images", path);
    if (*n > INT_MAX)
        return nas_fail(NAS_EFORMAT, "%s: too many images (%u)", path, *n);
    if (*ch != 1 && *ch != 3)
        return nas_fail(NAS_EFORMAT, "%s: %u channels (1 or 3 are read)", path, *ch);
    if (*rows == 0 || *cols == 0)
        return nas_fail(NAS_EFORMAT, "%s: zero image size %ux%u", path, *rows, *cols);
    if (*rows > 65535 || *cols > 65535 || (uint64_t)*rows * *cols * *ch > INT_MAX)
        return nas_fail(NAS_EFORMAT, "%s: image size %ux%u too large", path, *rows, *cols);
    return NAS_OK;
}

static int read_label_header(gzFile f, const char *path, uint32_t *n)
{
    int rc = read_magic(f, path, IDX_LABELS_MAGIC, "labels");
    if (rc < 0 || (rc = read_be32(f, path, n)) < 0)
        return rc;
    return NAS_OK;
}

/* Labels as int32; classes = largest label + 1. */
static int convert_labels(nas_dataset *d, const uint8_t *labels, const char *path)
{
    d->y = malloc(sizeof(int32_t) * (size_t)d->n);
    if (!d->y)
        return nas_fail(NAS_ENOMEM, "%s: out of memory for labels", path);
    int max = 0;
    for (int i = 0; i < d->n; i++) {
        d->y[i] = labels[i];
        max = labels[i] > max ? labels[i] : max;
    }
    d->classes = max + 1;
    return NAS_OK;
}

int nas_idx_load(const char *images_path, const char *labels_path, nas_dataset **out)
{
    NAS_ASSERT(images_path && labels_path && out);
    *out = NULL;
    gzFile fi = NULL, fl = NULL;
    uint8_t *labels = NULL;
    nas_dataset *d = NULL;
    uint32_t n = 0, ch = 1, rows = 0, cols = 0, nl = 0;
    int rc;

    if ((rc = open_gz(images_path, &fi)) < 0 ||
        (rc = read_image_header(fi, images_path, &n, &ch, &rows, &cols)) < 0 ||
        (rc = open_gz(labels_path, &fl)) < 0 || (rc = read_label_header(fl, labels_path, &nl)) < 0)
        goto fail;
    if (nl != n) {
        rc = nas_fail(NAS_EFORMAT, "%s: %u labels but %s has %u images", labels_path, nl,
                      images_path, n);
        goto fail;
    }
    d = calloc(1, sizeof(*d));
    if (!d) {
        rc = nas_fail(NAS_ENOMEM, "%s: out of memory", images_path);
        goto fail;
    }
    d->n = (int)n;
    d->c = (int)ch;
    d->h = (int)rows;
    d->w = (int)cols;
    if ((rc = read_payload(fi, images_path, (size_t)n * ch * rows * cols, "pixels", &d->x)) < 0 ||
        (rc = expect_eof(fi, images_path)) < 0 ||
        (rc = read_payload(fl, labels_path, n, "labels", &labels)) < 0 ||
        (rc = expect_eof(fl, labels_path)) < 0 || (rc = convert_labels(d, labels, labels_path)) < 0)
        goto fail;
    gzclose(fi);
    gzclose(fl);
    free(labels);
    nas_dataset_compute_stats(d);
    *out = d;
    return NAS_OK;

fail:
    if (fi)
        gzclose(fi);
    if (fl)
        gzclose(fl);
    free(labels);
    nas_dataset_free(d);
    return rc;
}
