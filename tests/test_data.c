// SPDX-License-Identifier: MIT
/*
 * test_data.c - the image dataset loaders (IDX, CIFAR-10), batch
 * conversion with augmentation, and slices. (Text corpora and fortune
 * files: tests/test_text.c.)
 *
 * The one design decision to know: every file a test reads is written by
 * the test itself into a fresh directory (tests/data_files.h), so
 * each malformed case is one small, exact byte sequence; the expected
 * numbers are computed here independently of the engine. Only the
 * Fashion-MNIST tests read installed files.
 */
#include <criterion/criterion.h>

#include "nas.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data_files.h"

TestSuite(idx, .init = data_dir_make, .fini = data_dir_remove);
TestSuite(cifar, .init = data_dir_make, .fini = data_dir_remove);

static void write_gz(const char *path, const void *data, size_t len)
{
    gzFile f = gzopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    cr_assert_eq(gzwrite(f, data, (unsigned)len), (int)len);
    cr_assert_eq(gzclose(f), Z_OK);
}

static size_t put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return 4;
}

/* IDX images file bytes into buf (large enough); returns the length. */
static size_t idx_images(uint8_t *buf, uint32_t magic, uint32_t n, uint32_t rows, uint32_t cols,
                         const uint8_t *px, size_t npx)
{
    size_t k = put_be32(buf, magic);
    k += put_be32(buf + k, n);
    k += put_be32(buf + k, rows);
    k += put_be32(buf + k, cols);
    if (npx)
        memcpy(buf + k, px, npx);
    return k + npx;
}

static size_t idx_labels(uint8_t *buf, uint32_t magic, uint32_t n, const uint8_t *lab, size_t nlab)
{
    size_t k = put_be32(buf, magic);
    k += put_be32(buf + k, n);
    if (nlab)
        memcpy(buf + k, lab, nlab);
    return k + nlab;
}

/* Asserts a failure with code `code` whose message names `path` and
 * contains `word`. */
/* A hand-made dataset of zeros (freed by nas_dataset_free). */
static nas_dataset *make_ds(int n, int c, int h, int w)
{
    nas_dataset *d = calloc(1, sizeof(*d));
    cr_assert_not_null(d);
    d->n = n;
    d->c = c;
    d->h = h;
    d->w = w;
    d->classes = 10;
    d->x = calloc((size_t)n * c * h * w, 1);
    d->y = calloc((size_t)n, sizeof(int32_t));
    for (int k = 0; k < 4; k++) {
        d->mean[k] = 0.0f;
        d->std[k] = 1.0f;
    }
    return d;
}

/* ---------------------------------------------------------------- IDX */

/* Three 2x3 images and labels 0, 4, 2: the good-file fixture. */
static const uint8_t small_px[18] = {0, 10, 20, 30,  40, 50, 255, 254, 253,
                                     1, 2,  3,  128, 64, 32, 16,  8,   4};
static const uint8_t small_lab[3] = {0, 4, 2};

static void write_small_idx(const char *img, const char *lab, int gz)
{
    uint8_t buf[64];
    size_t k = idx_images(buf, 0x803, 3, 2, 3, small_px, 18);
    (gz ? write_gz : write_raw)(img, buf, k);
    k = idx_labels(buf, 0x801, 3, small_lab, 3);
    (gz ? write_gz : write_raw)(lab, buf, k);
}

static void check_small(const nas_dataset *d)
{
    cr_assert_eq(d->n, 3);
    cr_assert_eq(d->c, 1);
    cr_assert_eq(d->h, 2);
    cr_assert_eq(d->w, 3);
    cr_assert_eq(d->classes, 5);
    cr_assert_eq(memcmp(d->x, small_px, 18), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(d->y[i], small_lab[i]);
    /* Mean and population std of the 18 pixels on the 0..1 scale. */
    double s = 0, s2 = 0;
    for (int i = 0; i < 18; i++)
        s += small_px[i] / 255.0;
    double mean = s / 18;
    for (int i = 0; i < 18; i++)
        s2 += (small_px[i] / 255.0 - mean) * (small_px[i] / 255.0 - mean);
    cr_assert_float_eq(d->mean[0], mean, 1e-6);
    cr_assert_float_eq(d->std[0], sqrt(s2 / 18), 1e-6);
}

Test(idx, raw_file_loads)
{
    nas_dataset *d = NULL;
    write_small_idx(tpath("img"), tpath("lab"), 0);
    cr_assert_eq(nas_idx_load(tpath("img"), tpath("lab"), &d), NAS_OK, "%s", nas_errmsg());
    check_small(d);
    nas_dataset_free(d);
}

Test(idx, gzip_file_loads_the_same)
{
    nas_dataset *d = NULL;
    write_small_idx(tpath("img.gz"), tpath("lab.gz"), 1);
    cr_assert_eq(nas_idx_load(tpath("img.gz"), tpath("lab.gz"), &d), NAS_OK, "%s", nas_errmsg());
    check_small(d);
    nas_dataset_free(d);
}

Test(idx, bad_image_magic)
{
    uint8_t buf[64];
    nas_dataset *d = (nas_dataset *)1;
    write_small_idx(tpath("img"), tpath("lab"), 0);
    write_raw(tpath("bad"), buf, idx_images(buf, 0x805, 3, 2, 3, small_px, 18));
    int rc = nas_idx_load(tpath("bad"), tpath("lab"), &d);
    expect_fail(rc, NAS_EFORMAT, tpath("bad"), "bad magic 0x00000805");
    cr_assert_null(d);
    /* A labels file given as the images file. */
    rc = nas_idx_load(tpath("lab"), tpath("lab"), &d);
    expect_fail(rc, NAS_EFORMAT, tpath("lab"), "magic");
}

/* Four dimensions (magic 0x804: n, channels, rows, cols) hold colour
 * images, channel-major: what nasd writes for an uploaded dataset. */
Test(idx, four_dimensions_are_colour_images)
{
    uint8_t buf[128], lab[3] = {0, 1, 1};
    size_t k = put_be32(buf, 0x804);
    k += put_be32(buf + k, 3);
    k += put_be32(buf + k, 3);
    k += put_be32(buf + k, 2);
    k += put_be32(buf + k, 2);
    for (int i = 0; i < 3 * 3 * 2 * 2; i++)
        buf[k++] = (uint8_t)(i * 7);
    write_raw(tpath("img4"), buf, k);
    write_raw(tpath("lab4"), buf, idx_labels(buf, 0x801, 3, lab, 3));
    nas_dataset *d = NULL;
    cr_assert_eq(nas_idx_load(tpath("img4"), tpath("lab4"), &d), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(d->n, 3);
    cr_assert_eq(d->c, 3);
    cr_assert_eq(d->h, 2);
    cr_assert_eq(d->w, 2);
    cr_assert_eq(d->x[12 * 2 + 5], (uint8_t)((12 * 2 + 5) * 7));
    cr_assert_eq(d->classes, 2);
    nas_dataset_free(d);
    /* Two channels are not an image nasd reads. */
    k = put_be32(buf, 0x804);
    k += put_be32(buf + k, 1);
    k += put_be32(buf + k, 2);
    k += put_be32(buf + k, 1);
    k += put_be32(buf + k, 1);
    buf[k++] = 0;
    buf[k++] = 0;
    write_raw(tpath("img4"), buf, k);
    write_raw(tpath("lab4"), buf, idx_labels(buf, 0x801, 1, lab, 1));
    expect_fail(nas_idx_load(tpath("img4"), tpath("lab4"), &d), NAS_EFORMAT, tpath("img4"),
                "2 channels");
}

Test(idx, bad_label_magic)
{
    nas_dataset *d = NULL;
    write_small_idx(tpath("img"), tpath("lab"), 0);
    int rc = nas_idx_load(tpath("img"), tpath("img"), &d);
    expect_fail(rc, NAS_EFORMAT, tpath("img"), "magic 0x00000803");
    cr_assert_null(d);
}

Test(idx, truncated_images)
{
    uint8_t buf[64];
    nas_dataset *d = NULL;
    write_small_idx(tpath("img"), tpath("lab"), 0);
    size_t k = idx_images(buf, 0x803, 3, 2, 3, small_px, 18);
    write_raw(tpath("short"), buf, k - 1);
    int rc = nas_idx_load(tpath("short"), tpath("lab"), &d);
    expect_fail(rc, NAS_EFORMAT, tpath("short"), "truncated");
    write_gz(tpath("short.gz"), buf, k - 5);
    rc = nas_idx_load(tpath("short.gz"), tpath("lab"), &d);
    expect_fail(rc, NAS_EFORMAT, tpath("short.gz"), "truncated");
    cr_assert_null(d);
}

Test(idx, truncated_header)
{
    uint8_t buf[64];
    nas_dataset *d = NULL;
    write_small_idx(tpath("img"), tpath("lab"), 0);
    idx_images(buf, 0x803, 3, 2, 3, small_px, 18);
    write_raw(tpath("hdr"), buf, 10);
    int rc = nas_idx_load(tpath("hdr"), tpath("lab"), &d);
    expect_fail(rc, NAS_EFORMAT, tpath("hdr"), "truncated");
    write_raw(tpath("empty"), buf, 0);
    rc = nas_idx_load(tpath("empty"), tpath("lab"), &d);
    expect_fail(rc, NAS_EFORMAT, tpath("empty"), "truncated");
}

Test(idx, truncated_labels)
{
    uint8_t buf[64];
    nas_dataset *d = NULL;
    write_small_idx(tpath("img"), tpath("lab"), 0);
    write_raw(tpath("lshort"), buf, idx_labels(buf, 0x801, 3, small_lab, 2));
    int rc = nas_idx_load(tpath("img"), tpath("lshort"), &d);
    expect_fail(rc, NAS_EFORMAT, tpath("lshort"), "truncated");
    cr_assert_null(d);
}

Test(idx, count_disagrees)
{
    uint8_t buf[64];
    nas_dataset *d = NULL;
    write_small_idx(tpath("img"), tpath("lab"), 0);
    write_raw(tpath("l2"), buf, idx_labels(buf, 0x801, 2, small_lab, 2));
    int rc = nas_idx_load(tpath("img"), tpath("l2"), &d);
    expect_fail(rc, NAS_EFORMAT, tpath("l2"), "2 labels but");
    cr_assert_not_null(strstr(nas_errmsg(), tpath("img")));
    cr_assert_null(d);
}

Test(idx, zero_sized_images)
{
    uint8_t buf[64];
    nas_dataset *d = NULL;
    write_small_idx(tpath("img"), tpath("lab"), 0);
    write_raw(tpath("z"), buf, idx_images(buf, 0x803, 3, 0, 3, NULL, 0));
    int rc = nas_idx_load(tpath("z"), tpath("lab"), &d);
    expect_fail(rc, NAS_EFORMAT, tpath("z"), "zero image size 0x3");
    write_raw(tpath("z2"), buf, idx_images(buf, 0x803, 3, 2, 0, NULL, 0));
    rc = nas_idx_load(tpath("z2"), tpath("lab"), &d);
    expect_fail(rc, NAS_EFORMAT, tpath("z2"), "zero image size");
    write_raw(tpath("n0"), buf, idx_images(buf, 0x803, 0, 2, 3, NULL, 0));
    rc = nas_idx_load(tpath("n0"), tpath("lab"), &d);
    expect_fail(rc, NAS_EFORMAT, tpath("n0"), "zero images");
    cr_assert_null(d);
}

Test(idx, trailing_bytes)
{
    uint8_t buf[64];
    uint8_t px[19];
    nas_dataset *d = NULL;
    memcpy(px, small_px, 18);
    px[18] = 7;
    write_small_idx(tpath("img"), tpath("lab"), 0);
    write_raw(tpath("long"), buf, idx_images(buf, 0x803, 3, 2, 3, px, 19));
    int rc = nas_idx_load(tpath("long"), tpath("lab"), &d);
    expect_fail(rc, NAS_EFORMAT, tpath("long"), "trailing");
}

/* A header claiming ~1.6 TB of pixels must be reported as truncated, not
 * allocated up front. */
Test(idx, lying_header_is_truncated)
{
    uint8_t buf[64];
    nas_dataset *d = NULL;
    write_small_idx(tpath("img"), tpath("lab"), 0);
    write_raw(tpath("big"), buf, idx_images(buf, 0x803, 0x7fffffff, 28, 28, small_px, 18));
    uint8_t lab[8];
    write_raw(tpath("blab"), lab, idx_labels(lab, 0x801, 0x7fffffff, NULL, 0));
    int rc = nas_idx_load(tpath("big"), tpath("blab"), &d);
    expect_fail(rc, NAS_EFORMAT, tpath("big"), "truncated");
    cr_assert_null(d);
}

Test(idx, corrupt_gzip)
{
    uint8_t px[4096], buf[4200];
    nas_dataset *d = NULL;
    for (int i = 0; i < 4096; i++)
        px[i] = (uint8_t)(i * 7 + i / 13);
    write_small_idx(tpath("img"), tpath("lab"), 0);
    write_gz(tpath("c.gz"), buf, idx_images(buf, 0x803, 3, 2, 3, px, 18));
    /* Flip bytes inside the deflate data (after the 10-byte header). */
    FILE *f = fopen(tpath("c.gz"), "r+b");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    for (long at = 12; at < size - 8; at += 3) {
        fseek(f, at, SEEK_SET);
        fputc(0xff, f);
    }
    fclose(f);
    int rc = nas_idx_load(tpath("c.gz"), tpath("lab"), &d);
    cr_assert(rc == NAS_EFORMAT, "rc %d: %s", rc, nas_errmsg());
    cr_assert_not_null(strstr(nas_errmsg(), tpath("c.gz")));
    cr_assert_null(d);
}

Test(idx, missing_file)
{
    nas_dataset *d = NULL;
    write_small_idx(tpath("img"), tpath("lab"), 0);
    int rc = nas_idx_load(tpath("nope"), tpath("lab"), &d);
    expect_fail(rc, NAS_EIO, tpath("nope"), "cannot open");
    cr_assert_not_null(strstr(nas_errmsg(), "No such file"));
    rc = nas_idx_load(tpath("img"), tpath("nolab"), &d);
    expect_fail(rc, NAS_EIO, tpath("nolab"), "cannot open");
    cr_assert_null(d);
}

/* -------------------------------------------------------- Fashion-MNIST */

static int fashion_path(char *buf, size_t len, const char *name)
{
    const char *dir = getenv("FASHION_MNIST_DIR");
    if (!dir || !*dir)
        dir = "/usr/share/datasets/fashion-mnist";
    snprintf(buf, len, "%s/%s", dir, name);
    return access(buf, R_OK) == 0;
}

static void check_fashion(const char *img, const char *lab, int n)
{
    char ip[1024], lp[1024];
    if (!fashion_path(ip, sizeof(ip), img) || !fashion_path(lp, sizeof(lp), lab))
        cr_skip_test("Fashion-MNIST not found (%s)", ip);
    nas_dataset *d = NULL;
    cr_assert_eq(nas_idx_load(ip, lp, &d), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(d->n, n);
    cr_assert_eq(d->c, 1);
    cr_assert_eq(d->h, 28);
    cr_assert_eq(d->w, 28);
    cr_assert_eq(d->classes, 10);
    int per[10] = {0};
    for (int i = 0; i < d->n; i++) {
        cr_assert(d->y[i] >= 0 && d->y[i] < 10);
        per[d->y[i]]++;
    }
    for (int k = 0; k < 10; k++)
        cr_assert_eq(per[k], n / 10, "class %d has %d images", k, per[k]);
    if (n == 60000) {
        cr_assert_float_eq(d->mean[0], 0.2860, 0.001, "mean %f", d->mean[0]);
        cr_assert_float_eq(d->std[0], 0.3530, 0.001, "std %f", d->std[0]);
    }
    nas_dataset_free(d);
}

Test(fashion_mnist, train_set)
{
    check_fashion("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 60000);
}

Test(fashion_mnist, test_set)
{
    check_fashion("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 10000);
}

/* -------------------------------------------------------------- CIFAR */

#define REC 3073

/* Record r of a synthetic batch: label lab, pixel k = (k * 3 + r) % 256. */
static void cifar_record(uint8_t *rec, int r, uint8_t lab)
{
    rec[0] = lab;
    for (int k = 0; k < 3072; k++)
        rec[1 + k] = (uint8_t)((k * 3 + r) % 256);
}

static void write_cifar(const char *path, int first, int n)
{
    uint8_t *buf = malloc((size_t)n * REC + 1);
    for (int r = 0; r < n; r++)
        cifar_record(buf + (size_t)r * REC, first + r, (uint8_t)((first + r) % 10));
    write_raw(path, buf, (size_t)n * REC);
    free(buf);
}

Test(cifar, two_files_load)
{
    const char *paths[2] = {strdup(tpath("b1")), strdup(tpath("b2"))};
    write_cifar(paths[0], 0, 2);
    write_cifar(paths[1], 2, 11);
    nas_dataset *d = NULL;
    cr_assert_eq(nas_cifar10_load(paths, 2, &d), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(d->n, 13);
    cr_assert_eq(d->c, 3);
    cr_assert_eq(d->h, 32);
    cr_assert_eq(d->w, 32);
    cr_assert_eq(d->classes, 10);
    for (int i = 0; i < 13; i++) {
        cr_assert_eq(d->y[i], i % 10);
        const uint8_t *x = d->x + (size_t)i * 3072;
        /* Red (0,0), green (0,1) and blue (31,31) of image i. */
        cr_assert_eq(x[0], (uint8_t)(i % 256));
        cr_assert_eq(x[1024 + 1], (uint8_t)((1025 * 3 + i) % 256));
        cr_assert_eq(x[2048 + 31 * 32 + 31], (uint8_t)((3071 * 3 + i) % 256));
    }
    nas_dataset_free(d);
    free((void *)paths[0]);
    free((void *)paths[1]);
}

Test(cifar, size_not_multiple_of_record)
{
    uint8_t *buf = calloc(2 * REC + 5, 1);
    write_raw(tpath("odd"), buf, 2 * REC + 5);
    free(buf);
    const char *paths[1] = {tpath("odd")};
    nas_dataset *d = NULL;
    int rc = nas_cifar10_load(paths, 1, &d);
    expect_fail(rc, NAS_EFORMAT, tpath("odd"), "multiple of the 3073");
    cr_assert_null(d);
}

Test(cifar, empty_file)
{
    write_raw(tpath("empty"), "", 0);
    const char *paths[1] = {tpath("empty")};
    nas_dataset *d = NULL;
    int rc = nas_cifar10_load(paths, 1, &d);
    expect_fail(rc, NAS_EFORMAT, tpath("empty"), "size 0");
}

Test(cifar, label_above_nine)
{
    uint8_t *buf = malloc(3 * REC);
    for (int r = 0; r < 3; r++)
        cifar_record(buf + r * REC, r, r == 2 ? 10 : 1);
    write_raw(tpath("lab10"), buf, 3 * REC);
    free(buf);
    const char *paths[2] = {strdup(tpath("good")), strdup(tpath("lab10"))};
    write_cifar(paths[0], 0, 1);
    nas_dataset *d = NULL;
    int rc = nas_cifar10_load(paths, 2, &d);
    expect_fail(rc, NAS_EFORMAT, paths[1], "record 2 has label 10");
    cr_assert_null(d);
    free((void *)paths[0]);
    free((void *)paths[1]);
}

Test(cifar, missing_file)
{
    const char *paths[2] = {strdup(tpath("good")), strdup(tpath("absent"))};
    write_cifar(paths[0], 0, 1);
    nas_dataset *d = NULL;
    int rc = nas_cifar10_load(paths, 2, &d);
    expect_fail(rc, NAS_EIO, paths[1], "cannot open");
    cr_assert_eq(nas_cifar10_load(paths, 0, &d), NAS_EINVAL);
    cr_assert_null(d);
    free((void *)paths[0]);
    free((void *)paths[1]);
}

/* ------------------------------------------------- statistics, batches */

Test(dataset, stats_per_channel_by_hand)
{
    nas_dataset *d = make_ds(2, 2, 1, 2);
    /* Channel 0 holds 0, 255, 51, 102; channel 1 is constant 200. */
    const uint8_t px[8] = {0, 255, 200, 200, 51, 102, 200, 200};
    memcpy(d->x, px, 8);
    nas_dataset_compute_stats(d);
    double v[4] = {0, 1, 0.2, 0.4};
    double m = (v[0] + v[1] + v[2] + v[3]) / 4, var = 0;
    for (int i = 0; i < 4; i++)
        var += (v[i] - m) * (v[i] - m) / 4;
    cr_assert_float_eq(d->mean[0], m, 1e-7);
    cr_assert_float_eq(d->std[0], sqrt(var), 1e-7);
    cr_assert_float_eq(d->mean[1], 200 / 255.0, 1e-7);
    /* A constant channel would divide by zero: its std becomes 1. */
    cr_assert_eq(d->std[1], 1.0f);
    nas_dataset_free(d);
}

Test(dataset, batch_normalises_and_picks_indices)
{
    nas_dataset *d = make_ds(3, 3, 2, 2);
    for (int i = 0; i < 3 * 12; i++)
        d->x[i] = (uint8_t)(i * 7);
    for (int i = 0; i < 3; i++)
        d->y[i] = 7 - i;
    const float mean[3] = {0.5f, 0.25f, 0.125f}, sd[3] = {0.5f, 0.2f, 2.0f};
    memcpy(d->mean, mean, sizeof(mean));
    memcpy(d->std, sd, sizeof(sd));
    int idx[4] = {2, 0, 2, 1};
    float x[4 * 12];
    int32_t y[4];
    nas_dataset_batch(d, idx, 4, NULL, NULL, x, y);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(y[i], 7 - idx[i]);
        for (int k = 0; k < 12; k++) {
            int ch = k / 4;
            double v = d->x[idx[i] * 12 + k] / 255.0;
            double want = (v - mean[ch]) / sd[ch];
            cr_assert_float_eq(x[i * 12 + k], want, 1e-6, "image %d px %d", i, k);
        }
    }
    nas_dataset_free(d);
}

/* One 1x5x5 image with distinct pixels 10..34. */
static nas_dataset *grid_ds(void)
{
    nas_dataset *d = make_ds(1, 1, 5, 5);
    for (int k = 0; k < 25; k++)
        d->x[k] = (uint8_t)(10 + k);
    d->mean[0] = 0.1f;
    d->std[0] = 0.3f;
    return d;
}

static float norm(const nas_dataset *d, int v)
{
    return (float)((v / 255.0 - d->mean[0]) / d->std[0]);
}

/* The documented draw order: dy, dx (crop), then the flip coin. */
Test(dataset, crop_and_flip_exact_positions)
{
    nas_dataset *d = grid_ds();
    nas_augment aug = {.crop_pad = 2, .hflip = 1};
    int idx = 0, seen_flip[2] = {0, 0};
    for (uint64_t seed = 1; seed <= 200; seed++) {
        nas_rng r, mirror;
        nas_rng_seed(&r, seed);
        mirror = r;
        int dy = (int)nas_rng_below(&mirror, 5) - 2;
        int dx = (int)nas_rng_below(&mirror, 5) - 2;
        int flip = (int)nas_rng_below(&mirror, 2);
        seen_flip[flip] = 1;
        float x[25];
        nas_dataset_batch(d, &idx, 1, &aug, &r, x, NULL);
        cr_assert_eq(memcmp(&r, &mirror, sizeof(r)), 0, "draw count");
        for (int row = 0; row < 5; row++)
            for (int col = 0; col < 5; col++) {
                int sr = row + dy, sc = (flip ? 4 - col : col) + dx;
                int in = sr >= 0 && sr < 5 && sc >= 0 && sc < 5;
                float want = norm(d, in ? 10 + sr * 5 + sc : 0);
                cr_assert_float_eq(x[row * 5 + col], want, 1e-6, "seed %d (%d,%d)", (int)seed, row,
                                   col);
            }
    }
    cr_assert(seen_flip[0] && seen_flip[1]);
    nas_dataset_free(d);
}

/* Cutout (quark0/darts train.py's Cutout): after the crop and flip
 * draws, the centre's row and column; a square of side 2 around it
 * (rows cy-1..cy, columns cx-1..cx, clipped) is 0, everything else is the
 * normalised image. */
Test(dataset, cutout_exact_square)
{
    nas_dataset *d = grid_ds();
    nas_augment aug = {.cutout = 2};
    int idx = 0, seen_corner = 0;
    for (uint64_t seed = 1; seed <= 200; seed++) {
        nas_rng r, mirror;
        nas_rng_seed(&r, seed);
        mirror = r;
        int cy = (int)nas_rng_below(&mirror, 5);
        int cx = (int)nas_rng_below(&mirror, 5);
        seen_corner |= cy == 0 && cx == 0;
        float x[25];
        nas_dataset_batch(d, &idx, 1, &aug, &r, x, NULL);
        cr_assert_eq(memcmp(&r, &mirror, sizeof(r)), 0, "draw count");
        for (int row = 0; row < 5; row++)
            for (int col = 0; col < 5; col++) {
                int cut = row >= cy - 1 && row < cy + 1 && col >= cx - 1 && col < cx + 1;
                float want = cut ? 0.0f : norm(d, 10 + row * 5 + col);
                cr_assert_float_eq(x[row * 5 + col], want, 1e-6, "seed %d (%d,%d)", (int)seed, row,
                                   col);
            }
    }
    cr_assert(seen_corner, "a square clipped at the corner");
    nas_dataset_free(d);
}

/* Batching an image and its mirror with the same rng gives mirrored
 * outputs, whatever the crop: flipping twice is the identity. */
Test(dataset, flip_of_mirror_is_mirror)
{
    nas_dataset *a = grid_ds(), *b = grid_ds();
    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 5; c++)
            b->x[r * 5 + c] = a->x[r * 5 + 4 - c];
    nas_augment aug = {.crop_pad = 0, .hflip = 1};
    int idx = 0;
    for (uint64_t seed = 0; seed < 32; seed++) {
        nas_rng ra, rb;
        nas_rng_seed(&ra, seed);
        nas_rng_seed(&rb, seed);
        float xa[25], xb[25];
        nas_dataset_batch(a, &idx, 1, &aug, &ra, xa, NULL);
        nas_dataset_batch(b, &idx, 1, &aug, &rb, xb, NULL);
        for (int r = 0; r < 5; r++)
            for (int c = 0; c < 5; c++)
                cr_assert_eq(xa[r * 5 + c], xb[r * 5 + 4 - c]);
    }
    nas_dataset_free(a);
    nas_dataset_free(b);
}

Test(dataset, same_seed_same_batch)
{
    nas_dataset *d = make_ds(8, 3, 6, 6);
    for (size_t i = 0; i < 8 * 108; i++)
        d->x[i] = (uint8_t)(i * 31 + 5);
    nas_dataset_compute_stats(d);
    nas_augment aug = {.crop_pad = 2, .hflip = 1};
    int idx[8] = {7, 6, 5, 4, 3, 2, 1, 0};
    float x1[8 * 108], x2[8 * 108], x3[8 * 108];
    nas_rng r1, r2, r3;
    nas_rng_seed(&r1, 42);
    nas_rng_seed(&r2, 42);
    nas_rng_seed(&r3, 43);
    nas_dataset_batch(d, idx, 8, &aug, &r1, x1, NULL);
    nas_dataset_batch(d, idx, 8, &aug, &r2, x2, NULL);
    nas_dataset_batch(d, idx, 8, &aug, &r3, x3, NULL);
    cr_assert_eq(memcmp(x1, x2, sizeof(x1)), 0);
    cr_assert_neq(memcmp(x1, x3, sizeof(x1)), 0);
    nas_dataset_free(d);
}

Test(dataset, slice_is_a_deep_copy)
{
    nas_dataset *d = make_ds(5, 1, 2, 2), *s = NULL;
    for (int i = 0; i < 20; i++)
        d->x[i] = (uint8_t)i;
    for (int i = 0; i < 5; i++)
        d->y[i] = i;
    d->mean[0] = 0.25f;
    d->std[0] = 0.5f;
    cr_assert_eq(nas_dataset_slice(d, 1, 3, &s), NAS_OK);
    cr_assert_eq(s->n, 3);
    cr_assert_eq(s->c, 1);
    cr_assert_eq(s->h, 2);
    cr_assert_eq(s->w, 2);
    cr_assert_eq(s->classes, 10);
    cr_assert_eq(s->mean[0], 0.25f);
    cr_assert_eq(s->std[0], 0.5f);
    cr_assert_neq(s->x, d->x);
    d->x[4] = 99;
    d->y[1] = 99;
    for (int i = 0; i < 12; i++)
        cr_assert_eq(s->x[i], 4 + i);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(s->y[i], i + 1);
    nas_dataset_free(s);

    cr_assert_eq(nas_dataset_slice(d, 3, 0, &s), NAS_OK);
    cr_assert_eq(s->n, 2);
    cr_assert_eq(s->y[1], 4);
    nas_dataset_free(s);
    cr_assert_eq(nas_dataset_slice(d, 5, -1, &s), NAS_OK);
    cr_assert_eq(s->n, 0);
    nas_dataset_free(s);

    cr_assert_eq(nas_dataset_slice(d, 3, 3, &s), NAS_EINVAL);
    cr_assert_null(s);
    cr_assert_eq(nas_dataset_slice(d, -1, 1, &s), NAS_EINVAL);
    cr_assert_eq(nas_dataset_slice(d, 6, 0, &s), NAS_EINVAL);
    nas_dataset_free(d);
    nas_dataset_free(NULL);
}
