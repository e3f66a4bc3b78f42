// SPDX-License-Identifier: MIT
/*
 * upload_fixture.h - what the upload tests share (test_integration_datasets.c,
 * test_integration_uploads.c): images made here (libpng, libjpeg) in
 * archives made here (libarchive's writer), their upload to a real nasd,
 * and the count of what an upload left under <state>/user-datasets.
 */
#ifndef NAS_TESTS_UPLOAD_FIXTURE_H
#define NAS_TESTS_UPLOAD_FIXTURE_H

#include <criterion/criterion.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <jpeglib.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"
#include "scale.h"

enum { PNG_GRAY, PNG_RGB, JPEG_RGB, RAW, DIR_, SYMLINK, HARDLINK };

typedef struct ent {
    const char *path;
    int kind;
    int w, h, cls;
    const char *raw; /* RAW: the bytes; links: the target */
    size_t cut;      /* > 0: only this many bytes of the image */
} ent;

/* Pixels of class cls: a bright band on the left (0) or the right (1)
 * half, with a little deterministic noise. */
static inline uint8_t *pixels(int w, int h, int c, int cls, unsigned seed)
{
    uint8_t *p = malloc((size_t)w * h * c);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++) {
                seed = seed * 1103515245u + 12345u;
                int on = (x < w / 2) == (cls == 0);
                p[((size_t)y * w + x) * c + k] = (uint8_t)((on ? 200 : 30) + (seed >> 28));
            }
    return p;
}

static inline uint8_t *png_of(int w, int h, int c, int cls, unsigned seed, size_t *len)
{
    png_image im = {.version = PNG_IMAGE_VERSION,
                    .width = (png_uint_32)w,
                    .height = (png_uint_32)h,
                    .format = c == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY};
    uint8_t *px = pixels(w, h, c, cls, seed);
    png_alloc_size_t n = 0;
    cr_assert(png_image_write_get_memory_size(im, n, 0, px, 0, NULL));
    uint8_t *buf = malloc(n);
    cr_assert(png_image_write_to_memory(&im, buf, &n, 0, px, 0, NULL));
    free(px);
    *len = n;
    return buf;
}

static inline uint8_t *jpeg_of(int w, int h, int cls, unsigned seed, size_t *len)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    unsigned char *buf = NULL;
    unsigned long n = 0;
    uint8_t *px = pixels(w, h, 3, cls, seed);
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &buf, &n);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = px + (size_t)c.next_scanline * w * 3;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(px);
    *len = n;
    return buf;
}

/* The archive (tar, or zip when zip) of the entries, in memory. */
static inline char *archive_of(const ent *es, int n, int zip, size_t *len)
{
    size_t cap = 1 << 24;
    char *out = malloc(cap);
    struct archive *a = archive_write_new();
    if (zip)
        archive_write_set_format_zip(a);
    else
        archive_write_set_format_pax_restricted(a);
    cr_assert_eq(archive_write_open_memory(a, out, cap, len), ARCHIVE_OK);
    for (int i = 0; i < n; i++) {
        const ent *e = &es[i];
        struct archive_entry *ae = archive_entry_new();
        uint8_t *data = NULL;
        size_t dl = 0;
        archive_entry_set_pathname(ae, e->path);
        archive_entry_set_perm(ae, 0644);
        if (e->kind == PNG_GRAY || e->kind == PNG_RGB)
            data = png_of(e->w, e->h, e->kind == PNG_RGB ? 3 : 1, e->cls, (unsigned)i, &dl);
        else if (e->kind == JPEG_RGB)
            data = jpeg_of(e->w, e->h, e->cls, (unsigned)i, &dl);
        else if (e->kind == RAW) {
            dl = e->cut ? e->cut : strlen(e->raw);
            data = malloc(dl + 1);
            memcpy(data, e->raw, dl);
        }
        if (e->cut)
            dl = e->cut;
        if (e->kind == DIR_) {
            archive_entry_set_filetype(ae, AE_IFDIR);
        } else if (e->kind == SYMLINK) {
            archive_entry_set_filetype(ae, AE_IFLNK);
            archive_entry_set_symlink(ae, e->raw);
        } else if (e->kind == HARDLINK) {
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_hardlink(ae, e->raw);
        } else {
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_size(ae, (la_int64_t)dl);
        }
        cr_assert_eq(archive_write_header(a, ae), ARCHIVE_OK, "%s", archive_error_string(a));
        if (data)
            archive_write_data(a, data, dl);
        free(data);
        archive_entry_free(ae);
    }
    cr_assert_eq(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    return out;
}

/* Two classes (a, b) of `per` w x h images of the given kind. */
static inline int classes_of(ent *es, int per, int kind, int w, int h, char names[][64],
                             const char *pre)
{
    int n = 0;
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < per; i++, n++) {
            snprintf(names[n], 64, "%s%c/img%02d.%s", pre, 'a' + c, i,
                     kind == JPEG_RGB ? "jpg" : "png");
            es[n] = (ent){names[n], kind, w, h, c, NULL, 0};
        }
    return n;
}

static inline int upload(int port, const char *query, const char *body, size_t len,
                         const char *type, http_resp *r)
{
    char path[256], hdr[128];
    snprintf(path, sizeof path, "/v1/datasets?%s", query);
    snprintf(hdr, sizeof hdr, "Content-Type: %s\r\n", type);
    cr_assert_eq(http_request(port, "POST", path, hdr, body, len, test_scaled_ms(120000), r), 0,
                 "%s", http_errmsg());
    return r->status;
}

/* An upload that must be accepted (201); its answer is not kept. */
static inline void upload_ok(int port, const char *query, const char *body, size_t len,
                             const char *type)
{
    http_resp r;
    cr_assert_eq(upload(port, query, body, len, type, &r), 201, "%s: %s", query, r.body);
    http_resp_free(&r);
}

/* The tar (owned, its length in *len) of classes_of()'s images. */
static inline char *classes_tar(int per, int kind, int w, int h, const char *pre, size_t *len)
{
    ent es[64];
    char names[64][64];
    cr_assert_leq(per, 32);
    int n = classes_of(es, per, kind, w, h, names, pre);
    return archive_of(es, n, 0, len);
}

/* The entries of <state>/user-datasets (none expected but `keep`). */
static inline int leftovers(const char *state, const char *keep)
{
    char root[PATH_MAX + 32];
    snprintf(root, sizeof root, "%s/user-datasets", state);
    DIR *d = opendir(root);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
            !(keep && strcmp(e->d_name, keep) == 0))
            n++;
    if (d)
        closedir(d);
    return n;
}

/* leftovers() once it is `want`, or what it is at the deadline: an
 * upload's spool file goes when its request completes, which may be
 * just after the client has read the answer. */
static inline int leftovers_soon(const char *state, const char *keep, int want)
{
    int64_t deadline = test_now_ms() + test_scaled_ms(10000);
    int n;
    while ((n = leftovers(state, keep)) != want && test_now_ms() < deadline)
        usleep(10000);
    return n;
}

#endif
