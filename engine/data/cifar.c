// SPDX-License-Identifier: MIT
/*
 * cifar.c - loader for the CIFAR-10 binary batches (data_batch_1.bin ...
 * test_batch.bin): records of 1 label byte (0..9) and 3072 pixel bytes,
 * the 1024 red, then green, then blue values of a 32x32 image, row-major.
 *
 * The one design decision to know: a record's pixels are already in the
 * dataset's CHW layout, so each record is copied as it is; the file size
 * is checked against the record size before anything is read, so a file
 * of the wrong kind is rejected without allocating for it.
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CIFAR_SIDE 32
#define CIFAR_PIXELS (3 * CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_RECORD (1 + CIFAR_PIXELS)
#define CIFAR_CLASSES 10

/* Opens path and counts its records from the file size. */
static int open_batch(const char *path, FILE **fp, int *nrec)
{
    struct stat st;
    FILE *f = fopen(path, "rb");
    if (!f)
        return nas_fail(NAS_EIO, "%s: cannot open: %s", path, strerror(errno));
    int rc;
    if (fstat(fileno(f), &st) != 0) {
        rc = nas_fail(NAS_EIO, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = nas_fail(NAS_EIO, "%s: not a regular file", path);
        goto fail;
    }
    if (st.st_size == 0 || st.st_size % CIFAR_RECORD != 0) {
        rc = nas_fail(NAS_EFORMAT,
                      "%s: size %lld is not a non-zero multiple of the "
                      "%d-byte CIFAR-10 record",
                      path, (long long)st.st_size, CIFAR_RECORD);
        goto fail;
    }
    if (st.st_size / CIFAR_RECORD > INT_MAX) {
        rc = nas_fail(NAS_EFORMAT, "%s: too many records", path);
        goto fail;
    }
    *fp = f;
    *nrec = (int)(st.st_size / CIFAR_RECORD);
    return NAS_OK;

fail:
    fclose(f);
    return rc;
}

/* Reads nrec records into x (nrec images) and y (nrec labels). */
static int read_records(FILE *f, const char *path, int nrec, uint8_t *x, int32_t *y)
{
    uint8_t rec[CIFAR_RECORD];
    for (int r = 0; r < nrec; r++) {
        if (fread(rec, 1, CIFAR_RECORD, f) != CIFAR_RECORD) {
            if (ferror(f))
                return nas_fail(NAS_EIO, "%s: read error: %s", path, strerror(errno));
            return nas_fail(NAS_EFORMAT, "%s: truncated at record %d", path, r);
        }
        if (rec[0] >= CIFAR_CLASSES)
            return nas_fail(NAS_EFORMAT,
                            "%s: record %d has label %u (CIFAR-10 labels "
                            "are 0..9)",
                            path, r, rec[0]);
        y[r] = rec[0];
        memcpy(x + (size_t)r * CIFAR_PIXELS, rec + 1, CIFAR_PIXELS);
    }
    return NAS_OK;
}

/* Grows d by nrec examples. */
static int grow(nas_dataset *d, int nrec, const char *path)
{
    if (nrec > INT_MAX - d->n)
        return nas_fail(NAS_EFORMAT, "%s: too many records in total", path);
    size_t n = (size_t)d->n + (size_t)nrec;
    uint8_t *x = realloc(d->x, n * CIFAR_PIXELS);
    if (!x)
        return nas_fail(NAS_ENOMEM, "%s: out of memory", path);
    d->x = x;
    int32_t *y = realloc(d->y, n * sizeof(int32_t));
    if (!y)
        return nas_fail(NAS_ENOMEM, "%s: out of memory", path);
    d->y = y;
    return NAS_OK;
}

/* Appends the records of one batch file to d. */
static int load_batch(nas_dataset *d, const char *path)
{
    FILE *f = NULL;
    int nrec = 0;
    int rc = open_batch(path, &f, &nrec);
    if (rc < 0)
        return rc;
    if ((rc = grow(d, nrec, path)) < 0 ||
        (rc = read_records(f, path, nrec, d->x + (size_t)d->n * CIFAR_PIXELS, d->y + d->n)) < 0)
        goto fail;
    if (fgetc(f) != EOF) {
        rc = nas_fail(NAS_EFORMAT, "%s: changed size while being read", path);
        goto fail;
    }
    fclose(f);
    d->n += nrec;
    return NAS_OK;

fail:
    fclose(f);
    return rc;
}

int nas_cifar10_load(const char *const *paths, int npaths, nas_dataset **out)
{
    NAS_ASSERT(out && (npaths <= 0 || paths));
    *out = NULL;
    int rc;
    nas_dataset *d = NULL;
    if (npaths <= 0) {
        rc = nas_fail(NAS_EINVAL, "CIFAR-10: no batch files given");
        goto fail;
    }
    d = calloc(1, sizeof(*d));
    if (!d) {
        rc = nas_fail(NAS_ENOMEM, "CIFAR-10: out of memory");
        goto fail;
    }
    d->c = 3;
    d->h = d->w = CIFAR_SIDE;
    d->classes = CIFAR_CLASSES;
    for (int i = 0; i < npaths; i++) {
        NAS_ASSERT(paths[i]);
        if ((rc = load_batch(d, paths[i])) < 0)
            goto fail;
    }
    nas_dataset_compute_stats(d);
    *out = d;
    return NAS_OK;

fail:
    nas_dataset_free(d);
    return rc;
}
