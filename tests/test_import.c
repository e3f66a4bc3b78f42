// SPDX-License-Identifier: MIT
/*
 * test_import.c - the pieces of an upload's import that stand alone:
 * SHA-256 against FIPS 180-4's test vectors, and PNG pixels through
 * nas_png_encode and back through nas_image_decode (greyscale and
 * colour), with a truncated file and a size over the limit refused.
 * The whole import is tested through nasd (test_integration_datasets.c).
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "nas.h"

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
