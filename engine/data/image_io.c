// SPDX-License-Identifier: MIT
/*
 * image_io.c - PNG and JPEG files to pixels and pixels to a PNG file,
 * through libpng and libjpeg-turbo: what an uploaded dataset's images
 * pass through (import.c) and the sample grid of GET /v1/datasets/{name}.
 *
 * The one design decision to know: every image becomes 8-bit RGB as it
 * is decoded (the libraries convert greyscale, palettes, 16-bit and
 * CMYK-free JPEGs), with a flag saying whether the file had colour, so
 * the importer sees one layout and keeps one channel when no file had
 * any. A file's declared size is checked against max_pixels before any
 * pixel buffer is allocated (a decompression bomb is refused by its
 * header), and anything the libraries only warn about - a truncated
 * JPEG, which libjpeg would pad with grey - is an error here.
 */
#include "internal.h"

#include <jpeglib.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

static int is_png(const uint8_t *b, size_t n)
{
    return n >= 8 && png_sig_cmp(b, 0, 8) == 0;
}

static int is_jpeg(const uint8_t *b, size_t n)
{
    return n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff;
}

static int decode_png(const uint8_t *buf, size_t n, long max_pixels, nas_image *out, char *why,
                      size_t whylen)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&im, buf, n)) {
        snprintf(why, whylen, "not a readable PNG file: %s", im.message);
        return -1;
    }
    if ((long)im.width * (long)im.height > max_pixels || im.width > 65535 || im.height > 65535) {
        snprintf(why, whylen, "%ux%u pixels is over the limit of %ld (max-dataset-pixels)",
                 im.width, im.height, max_pixels);
        png_image_free(&im);
        return -1;
    }
    out->color = (im.format & PNG_FORMAT_FLAG_COLOR) != 0;
    im.format = PNG_FORMAT_RGB;
    out->w = (int)im.width;
    out->h = (int)im.height;
    out->rgb = malloc(PNG_IMAGE_SIZE(im));
    if (!out->rgb) {
        png_image_free(&im);
        snprintf(why, whylen, "out of memory for %dx%d pixels", out->w, out->h);
        return -1;
    }
    if (!png_image_finish_read(&im, NULL, out->rgb, 0, NULL)) {
        snprintf(why, whylen, "corrupt or truncated PNG data: %s", im.message);
        nas_image_free(out);
        return -1;
    }
    return 0;
}

typedef struct jerr {
    struct jpeg_error_mgr mgr;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} jerr;

static void jpeg_fail(j_common_ptr c)
{
    jerr *e = (jerr *)c->err;
    e->mgr.format_message(c, e->msg);
    longjmp(e->jb, 1);
}

/* Warnings (a premature end of the data, corrupt entropy data) are
 * failures: libjpeg would carry on with made-up pixels. */
static void jpeg_warn(j_common_ptr c, int level)
{
    if (level < 0)
        jpeg_fail(c);
}

static int decode_jpeg(const uint8_t *buf, size_t n, long max_pixels, nas_image *out, char *why,
                       size_t whylen)
{
    struct jpeg_decompress_struct d;
    jerr e;
    uint8_t *volatile px = NULL;
    d.err = jpeg_std_error(&e.mgr);
    e.mgr.error_exit = jpeg_fail;
    e.mgr.emit_message = jpeg_warn;
    if (setjmp(e.jb)) {
        snprintf(why, whylen, "corrupt or truncated JPEG data: %s", e.msg);
        jpeg_destroy_decompress(&d);
        free(px);
        return -1;
    }
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, buf, (unsigned long)n);
    jpeg_read_header(&d, TRUE);
    if ((long)d.image_width * (long)d.image_height > max_pixels) {
        snprintf(why, whylen, "%ux%u pixels is over the limit of %ld (max-dataset-pixels)",
                 d.image_width, d.image_height, max_pixels);
        jpeg_destroy_decompress(&d);
        return -1;
    }
    out->color = d.jpeg_color_space != JCS_GRAYSCALE;
    d.out_color_space = JCS_RGB;
    jpeg_start_decompress(&d);
    size_t stride = (size_t)d.output_width * 3;
    px = malloc(stride * d.output_height);
    if (!px) {
        snprintf(why, whylen, "out of memory for %ux%u pixels", d.output_width, d.output_height);
        jpeg_destroy_decompress(&d);
        return -1;
    }
    while (d.output_scanline < d.output_height) {
        JSAMPROW row = px + stride * d.output_scanline;
        jpeg_read_scanlines(&d, &row, 1);
    }
    jpeg_finish_decompress(&d);
    out->w = (int)d.output_width;
    out->h = (int)d.output_height;
    out->rgb = px;
    jpeg_destroy_decompress(&d);
    return 0;
}

int nas_image_decode(const uint8_t *buf, size_t n, long max_pixels, nas_image *out, char *why,
                     size_t whylen)
{
    memset(out, 0, sizeof *out);
    if (is_png(buf, n))
        return decode_png(buf, n, max_pixels, out, why, whylen);
    if (is_jpeg(buf, n))
        return decode_jpeg(buf, n, max_pixels, out, why, whylen);
    snprintf(why, whylen, "neither a PNG nor a JPEG file (by its first bytes)");
    return -1;
}

void nas_image_free(nas_image *img)
{
    if (!img)
        return;
    free(img->rgb);
    img->rgb = NULL;
}

int nas_png_encode(const uint8_t *px, int w, int h, int c, uint8_t **out, size_t *outlen)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)w;
    im.height = (png_uint_32)h;
    im.format = c == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    png_alloc_size_t n = 0;
    *out = NULL;
    if (!png_image_write_get_memory_size(im, n, 0, px, 0, NULL))
        return nas_fail(NAS_EINVAL, "png: %s", im.message);
    uint8_t *buf = malloc(n);
    if (!buf)
        return nas_fail(NAS_ENOMEM, "png: out of memory for %zu bytes", (size_t)n);
    if (!png_image_write_to_memory(&im, buf, &n, 0, px, 0, NULL)) {
        free(buf);
        return nas_fail(NAS_EINVAL, "png: %s", im.message);
    }
    *out = buf;
    *outlen = n;
    return NAS_OK;
}
