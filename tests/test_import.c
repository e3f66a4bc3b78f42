// SPDX-License-Identifier: MIT
/*
 * test_import.c - the pieces of an upload's import that stand alone:
 * SHA-256 against FIPS 180-4's test vectors, and PNG pixels through
 * nas_png_encode and back through nas_image_decode (greyscale and
 * colour), with a truncated file and a size over the limit refused;
 * .npy headers as numpy writes them and every other kind refused;
 * resizing against means and interpolations computed here.
 * The whole import is tested through nasd (test_integration_datasets.c).
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nas.h"
#include "npy_fixture.h"

static void hex_of(const char *msg, size_t n, size_t repeat, char out[65])
{
    nas_sha256 h;
    nas_sha256_init(&h);
    for (size_t i = 0; i < repeat; i++)
        nas_sha256_update(&h, msg, n);
    nas_sha256_hex(&h, out);
}

Test(sha256, fips_180_4_vectors)
{
    char out[65];
    hex_of("abc", 3, 1, out);
    cr_assert_str_eq(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hex_of("", 0, 1, out);
    cr_assert_str_eq(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hex_of(m, strlen(m), 1, out);
    cr_assert_str_eq(out, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* A million 'a's, fed 1000 at a time (blocks across update calls). */
    char a[1000];
    memset(a, 'a', sizeof a);
    hex_of(a, sizeof a, 1000, out);
    cr_assert_str_eq(out, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void roundtrip(int c)
{
    enum { W = 7, H = 5 };
    uint8_t px[W * H * 3];
    for (int i = 0; i < W * H * c; i++)
        px[i] = (uint8_t)(i * 37 + 11);
    uint8_t *png;
    size_t len;
    cr_assert_eq(nas_png_encode(px, W, H, c, &png, &len), NAS_OK);
    nas_image img;
    char why[200];
    cr_assert_eq(nas_image_decode(png, len, W * H, &img, why, sizeof why), 0, "%s", why);
    cr_assert_eq(img.w, W);
    cr_assert_eq(img.h, H);
    cr_assert_eq(img.color, c == 3);
    for (int i = 0; i < W * H; i++)
        for (int k = 0; k < 3; k++)
            cr_assert_eq(img.rgb[i * 3 + k], px[i * c + (c == 3 ? k : 0)], "pixel %d", i);
    nas_image_free(&img);
    /* Over max_pixels: refused by the header, naming the limit. */
    cr_assert_neq(nas_image_decode(png, len, W * H - 1, &img, why, sizeof why), 0);
    cr_assert(strstr(why, "max-dataset-pixels"), "%s", why);
    /* Cut short: refused, never padded. */
    cr_assert_neq(nas_image_decode(png, len - 20, W * H, &img, why, sizeof why), 0);
    free(png);
}

Test(image, png_roundtrip_grey_and_colour_and_refusals)
{
    roundtrip(1);
    roundtrip(3);
    nas_image img;
    char why[200];
    cr_assert_neq(nas_image_decode((const uint8_t *)"GIF89a", 6, 100, &img, why, sizeof why), 0);
    cr_assert(strstr(why, "neither a PNG nor a JPEG"), "%s", why);
}

Test(npy, headers_numpy_writes_are_read)
{
    uint8_t b[256];
    nas_npy h;
    char why[200];
    size_t n = npy_file(
        b, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (60000, 28, 28), }", NULL, 0);
    cr_assert_eq(nas_npy_header(b, n, &h, why, sizeof why), 0, "%s", why);
    cr_assert_eq(h.header_len, 128);
    cr_assert_eq(h.ndim, 3);
    cr_assert(h.shape[0] == 60000 && h.shape[1] == 28 && h.shape[2] == 28);
    cr_assert_eq(h.count, 60000u * 784);
    cr_assert_eq(h.item, 1);
    cr_assert_str_eq(h.descr, "|u1");
    n = npy_file(b, 2, "{\"descr\":\"<i8\",\"fortran_order\":False,\"shape\":(5,)}", NULL, 0);
    cr_assert_eq(nas_npy_header(b, n, &h, why, sizeof why), 0, "%s", why);
    cr_assert(h.ndim == 1 && h.shape[0] == 5 && h.item == 8 && h.header_len == 64);
    n = npy_file(b, 3, "{'shape': (2, 3, 4, 1), 'fortran_order': False, 'descr': '<i4'}", NULL, 0);
    cr_assert_eq(nas_npy_header(b, n, &h, why, sizeof why), 0, "%s", why);
    cr_assert(h.ndim == 4 && h.count == 24 && h.item == 4);
    n = npy_file(b, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (), }", NULL, 0);
    cr_assert_eq(nas_npy_header(b, n, &h, why, sizeof why), 0, "%s", why);
    cr_assert(h.ndim == 0 && h.count == 1);
}

Test(npy, everything_else_is_refused_saying_why)
{
    static const struct {
        int v;
        const char *dict, *why;
    } bad[] = {
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", "'<f4' is not taken"},
        {1, "{'descr': '>i8', 'fortran_order': False, 'shape': (2,), }", "'>i8' is not taken"},
        {1, "{'descr': '|u1', 'fortran_order': True, 'shape': (2,), }", "fortran_order is True"},
        {4, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", "version 4.0"},
        {1, "{'descr': '|u1', 'fortran_order': False}", "lacks 'shape'"},
        {1, "{'descr': '|u1', 'descr': '|u1', 'fortran_order': False, 'shape': (2,)}", "twice"},
        {1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), 'x': 0}", "unknown key"},
        {1, "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 3, 4, 5)}", "4 dimensions"},
        {1, "{'descr': '|u1', 'fortran_order': False, 'shape': (-2,)}", "other than integers"},
        {1, "{'descr': '|u1', 'fortran_order': False, 'shape': [2]}", "not a tuple"},
        {1, "{'descr': '|u1', 'fortran_order': 0, 'shape': (2,)}", "True or False"},
        {1, "{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (2,)}", "dtype string"},
        {1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,)} x", "after the header"},
        {1, "{'descr': '|u1', 'fortran_order': False, 'shape': (99999999999, 99999999999)}",
         "too large"},
    };
    uint8_t b[256];
    nas_npy h;
    char why[200];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = npy_file(b, bad[i].v, bad[i].dict, NULL, 0);
        cr_assert_neq(nas_npy_header(b, n, &h, why, sizeof why), 0, "%s", bad[i].dict);
        cr_assert(strstr(why, bad[i].why), "%s: %s", bad[i].dict, why);
    }
    size_t n = npy_file(b, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", NULL, 0);
    cr_assert_neq(nas_npy_header(b, n - 1, &h, why, sizeof why), 0);
    cr_assert(strstr(why, "cut short"), "%s", why);
    cr_assert_neq(nas_npy_header((const uint8_t *)"PK\3\4xxxxxxxx", 12, &h, why, sizeof why), 0);
    cr_assert(strstr(why, "not a .npy"), "%s", why);
}

/* One channel of an image, repeated into the three of RGB. */
static void grey3(const uint8_t *g, int n, uint8_t *rgb)
{
    for (int i = 0; i < n; i++)
        rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = g[i];
}

Test(resize, area_when_shrinking_bilinear_when_growing)
{
    /* 4x4 -> 2x2 by area: the mean of each 2x2 block, rounded. */
    static const uint8_t a[16] = {0,  10, 20,  30,  40,  50,  60,  70,
                                  80, 90, 100, 110, 120, 130, 140, 151};
    uint8_t src[48], dst[48];
    grey3(a, 16, src);
    cr_assert_eq(nas_image_resize(src, 4, 4, dst, 2, 2), NAS_OK);
    const double want[4] = {(0 + 10 + 40 + 50) / 4.0, (20 + 30 + 60 + 70) / 4.0,
                            (80 + 90 + 120 + 130) / 4.0, (100 + 110 + 140 + 151) / 4.0};
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 3; k++)
            cr_assert_eq(dst[i * 3 + k], (uint8_t)lround(want[i]), "pixel %d: %d", i,
                         dst[i * 3 + k]);
    /* 1x3 -> 1x2 by area: output pixel 0 covers input 0 and half of 1
     * (weights 2/3, 1/3), pixel 1 the other half of 1 and 2. */
    static const uint8_t b[3] = {30, 90, 240};
    grey3(b, 3, src);
    cr_assert_eq(nas_image_resize(src, 1, 3, dst, 1, 2), NAS_OK);
    cr_assert_eq(dst[0], (uint8_t)lround((2 * 30 + 90) / 3.0));
    cr_assert_eq(dst[3], (uint8_t)lround((90 + 2 * 240) / 3.0));
    /* 1x2 -> 1x4 bilinear, half-pixel centres, edges repeated: PyTorch's
     * interpolate(mode="bilinear", align_corners=False) gives 0, 25, 75,
     * 100 for [0, 100]. */
    static const uint8_t c[2] = {0, 100};
    grey3(c, 2, src);
    cr_assert_eq(nas_image_resize(src, 1, 2, dst, 1, 4), NAS_OK);
    cr_assert(dst[0] == 0 && dst[3] == 25 && dst[6] == 75 && dst[9] == 100, "%d %d %d %d", dst[0],
              dst[3], dst[6], dst[9]);
    /* The same size is the same image; channels stay apart. */
    for (int i = 0; i < 48; i++)
        src[i] = (uint8_t)(i * 5);
    cr_assert_eq(nas_image_resize(src, 4, 4, dst, 4, 4), NAS_OK);
    cr_assert_eq(memcmp(src, dst, 48), 0);
    /* Growing one axis and shrinking the other: a constant stays. */
    memset(src, 77, 48);
    uint8_t big[8 * 2 * 3];
    cr_assert_eq(nas_image_resize(src, 4, 4, big, 8, 2), NAS_OK);
    for (size_t i = 0; i < sizeof big; i++)
        cr_assert_eq(big[i], 77);
}
