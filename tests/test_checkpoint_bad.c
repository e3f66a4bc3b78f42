// SPDX-License-Identifier: MIT
/*
 * test_checkpoint_bad.c - checkpoint files that must not load: malformed
 * headers and data (one case per way a file can lie), escapes, nesting,
 * bad lengths, a missing file, and fuzzing (truncation at every length,
 * random header bytes).
 *
 * The one design decision to know: every failing load is checked for the
 * same three things - the error code, a message naming the file and the
 * problem, and a store (data, moments, RNG) left exactly as it was - and
 * the fuzz loops rely on ASan/UBSan to turn any out-of-bounds read into a
 * failure.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt_store.h"
#include "nas.h"
#include "tmpdir.h"

/* ---------------------------------------------------- malformed files */

/* The small model of the malformed cases: w (2,3) and b (3). */
static nas_params *small_store(uint64_t seed)
{
    nas_params *p = nas_params_new();
    nas_rng r;
    nas_rng_seed(&r, seed);
    cr_assert_geq(nas_params_add(p, "w", NAS_GROUP_WEIGHTS, NAS_INIT_NORMAL, 1, 2, (int[]){2, 3}),
                  0);
    cr_assert_geq(nas_params_add(p, "b", NAS_GROUP_ARCH, NAS_INIT_NORMAL, 1, 1, (int[]){3}), 0);
    cr_assert_eq(nas_params_alloc(p, &r), NAS_OK);
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < nas_tensor_numel(nas_params_get(p, k)); i++) {
            nas_params_moment1(p, k)[i] = nas_rng_normal(&r);
            nas_params_moment2(p, k)[i] = nas_rng_normal(&r);
        }
    return p;
}

/* A valid header for small_store, with or without the RNG, built the way
 * a third-party writer could (its own order and spacing). */
static void good_header(char *out, int with_rng)
{
    int off = with_rng ? 32 : 0;
    out += sprintf(out, "{\"__metadata__\":{\"step\":\"7\"}");
    if (with_rng)
        out += sprintf(out, ", \"rng.state\":{\"dtype\":\"U64\",\"shape\":"
                            "[4],\"data_offsets\":[0,32]}");
    const char *names[6] = {"w", "w#m1", "w#m2", "b", "b#m1", "b#m2"};
    for (int i = 0; i < 6; i++) {
        int bytes = i < 3 ? 24 : 12;
        out += sprintf(out,
                       ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%s],"
                       "\"data_offsets\":[%d,%d]}",
                       names[i], i < 3 ? "2,3" : "3", off, off + bytes);
        off += bytes;
    }
    sprintf(out, "}");
}

enum { GOOD_DATA = 32 + 108 };

/* Replace the first `from` in s with `to` (in place, s large enough). */
static void replace(char *s, const char *from, const char *to)
{
    char *at = strstr(s, from);
    cr_assert(at, "template lacks %s", from);
    size_t lf = strlen(from), lt = strlen(to);
    memmove(at + lt, at + lf, strlen(at + lf) + 1);
    memcpy(at, to, lt);
}

static void write_ckpt(const char *path, const char *hdr, size_t data_len, int zero_rng)
{
    size_t hl = strlen(hdr), padded = (hl + 7) / 8 * 8;
    size_t size = 8 + padded + data_len;
    unsigned char *f = malloc(size + 1);
    for (int k = 0; k < 8; k++)
        f[k] = (unsigned char)((uint64_t)padded >> (8 * k));
    memcpy(f + 8, hdr, hl);
    memset(f + 8 + hl, ' ', padded - hl);
    for (size_t i = 0; i < data_len; i++)
        f[8 + padded + i] = zero_rng && i < 32 ? 0 : (unsigned char)(i * 7 + 1);
    write_all(path, f, size);
    free(f);
}

typedef struct {
    const char *from, *to; /* edit of the good header (NULL: none) */
    int data_delta;        /* bytes added to / removed from the data */
    int with_rng;          /* header (and the load) with rng.state */
    int zero_rng;
    int expect;
    const char *msg1, *msg2; /* both must be in nas_errmsg() */
} bad_case;

static const bad_case cases[] = {
    /* Positive controls: the good file, and legal JSON variations. */
    {NULL, NULL, 0, 1, 0, 0, NULL, NULL},
    {NULL, NULL, 0, 0, 0, 0, NULL, NULL},
    {"\"w\":{\"dtype\"",
     "\"w\" : { \"extra\":{\"a\":[1,-2.5e3,null,true,"
     "false,{}],\"s\":\"\\u00e9\\ud83d\\ude00\"}, \"dtype\"",
     0, 1, 0, 0, NULL, NULL},
    {"\"step\":\"7\"", "\"step\":\"\\u00e9\\ud83d\\ude00\\n\"", 0, 1, 0, 0, NULL, NULL},
    /* Not JSON. */
    {"\"w\":{", "\"w\" {", 0, 1, 0, NAS_EFORMAT, "not valid JSON", "at byte 96 of the header"},
    {"\"data_offsets\":[0,32]}", "\"data_offsets\":[0,32],}", 0, 1, 0, NAS_EFORMAT,
     "not valid JSON", "expected a string"},
    {"{\"__metadata__\"", "[{\"__metadata__\"", 0, 1, 0, NAS_EFORMAT, "not valid JSON",
     "at byte 0"},
    {"\"step\":\"7\"", "\"step\":\"7", 0, 1, 0, NAS_EFORMAT, "not valid JSON",
     "expected ',' or '}'"},
    {"\"step\":", "\"step\" ", 0, 1, 0, NAS_EFORMAT, "not valid JSON", "expected ':'"},
    {"\"step\":\"7\"", "\"step\":\"\\ud83d\"", 0, 1, 0, NAS_EFORMAT, "not valid JSON", "surrogate"},
    {"\"step\":\"7\"", "\"step\":\"a\\u0000\"", 0, 1, 0, NAS_EFORMAT, "not valid JSON", "\\u0000"},
    {"\"step\":\"7\"", "\"step\":\"\\x\"", 0, 1, 0, NAS_EFORMAT, "not valid JSON", "escape"},
    {"\"step\":\"7\"", "\"step\":\"\xc3\x28\"", 0, 1, 0, NAS_EFORMAT, "not valid JSON", "UTF-8"},
    {"\"step\":\"7\"", "\"step\":\"a\nb\"", 0, 1, 0, NAS_EFORMAT, "not valid JSON", "control"},
    {"[56,80]", "[056,80]", 0, 1, 0, NAS_EFORMAT, "not valid JSON", "leading zero"},
    {"}}", "}} x", 0, 1, 0, NAS_EFORMAT, "not valid JSON", "trailing"},
    /* JSON, but not a valid safetensors header. */
    {"\"w\":{\"dtype\":\"F32\",", "\"w\":{", 0, 1, 0, NAS_EFORMAT, "\"w\"", "no dtype"},
    {"\"w#m1\":{\"dtype\":\"F32\",\"shape\":[2,3],",
     "\"w#m1\":{\"dtype\":"
     "\"F32\",",
     0, 1, 0, NAS_EFORMAT, "\"w#m1\"", "no shape"},
    {",\"data_offsets\":[56,80]", "", 0, 1, 0, NAS_EFORMAT, "\"w#m1\"", "no data_offsets"},
    {"\"w\":{\"dtype\":\"F32\"", "\"w\":{\"dtype\":\"F33\"", 0, 1, 0, NAS_EFORMAT, "unknown dtype",
     "F33"},
    {"[128,140]", "[128,144]", 0, 1, 0, NAS_EFORMAT, "\"b#m2\"", "outside the data section"},
    {"[32,56]", "[56,32]", 0, 1, 0, NAS_EFORMAT, "\"w\"", "begin 56 > end"},
    {"[32,56]", "[32,52]", 0, 1, 0, NAS_EFORMAT, "\"w\"", "24 bytes"},
    {"[32,56]", "[-32,56]", 0, 1, 0, NAS_EFORMAT, "non-negative", NULL},
    {"[32,56]", "[32.0,56]", 0, 1, 0, NAS_EFORMAT, "integer", NULL},
    {"[32,56]", "[32,56,80]", 0, 1, 0, NAS_EFORMAT, "data_offsets", "2"},
    {"[32,56]", "[32,18446744073709551616]", 0, 1, 0, NAS_EFORMAT, "too large", NULL},
    {"\"shape\":[2,3]", "\"shape\":[2,3,1,1,1,1,1,1,1]", 0, 1, 0, NAS_EFORMAT, "shape",
     "more than"},
    {NULL, NULL, 8, 1, 0, NAS_EFORMAT, "data section is 148 bytes", "cover 140"},
    {NULL, NULL, -4, 1, 0, NAS_EFORMAT, "\"b#m2\"", "outside"},
    {"[116,128]", "[112,124]", 0, 1, 0, NAS_EFORMAT, "\"b#m1\"", "overlap"},
    {"\"step\":\"7\"", "\"step\":7", 0, 1, 0, NAS_EFORMAT, "\"step\"", "not a string"},
    {"\"step\":\"7\"", "\"step\":\"7\",\"step\":\"8\"", 0, 1, 0, NAS_EFORMAT,
     "duplicate metadata key", "step"},
    {"\"b#m2\"", "\"b#m1\"", 0, 1, 0, NAS_EFORMAT, "duplicate tensor", "b#m1"},
    {"\"w\":{\"dtype\":\"F32\"", "\"w\":{\"dtype\":\"I32\"", 0, 1, 0, NAS_EFORMAT, "\"w\"",
     "dtype I32"},
    {"\"dtype\":\"U64\"", "\"dtype\":\"F64\"", 0, 1, 0, NAS_EFORMAT, "rng.state", "U64"},
    {NULL, NULL, 0, 1, 1, NAS_EFORMAT, "rng.state", "all zero"},
    /* Valid file, wrong model. */
    {",\"b#m2\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[128,140]}", "", -12, 1, 0,
     NAS_ENOTFOUND, "\"b#m2\"", "missing"},
    {NULL, NULL, 0, 0, 0, NAS_ENOTFOUND, "rng.state", "missing"},
    {"\"w\":{\"dtype\":\"F32\",\"shape\":[2,3]",
     "\"w\":{\"dtype\":\"F32\","
     "\"shape\":[3,2]",
     0, 1, 0, NAS_ESHAPE, "[3,2] in the file", "[2,3] in the model"},
    {"\"w\":{\"dtype\":\"F32\",\"shape\":[2,3]",
     "\"w\":{\"dtype\":\"F32\","
     "\"shape\":[6]",
     0, 1, 0, NAS_ESHAPE, "[6]", "[2,3]"},
    {"}}",
     "},\"z\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[140,"
     "144]}}",
     4, 1, 0, NAS_ESHAPE, "unexpected tensor", "\"z\""},
};

Test(checkpoint, malformed_files)
{
    char *dir = tmpdir_new("nas_ckpt"), *path = path_in(dir, "bad.safetensors");
    static char hdr[4096];
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const bad_case *k = &cases[c];
        /* The no-rng case expecting ENOTFOUND writes a file without
         * rng.state and loads it asking for the RNG. */
        int file_rng = k->with_rng;
        int load_rng = k->with_rng || k->expect == NAS_ENOTFOUND;
        good_header(hdr, file_rng);
        if (k->from)
            replace(hdr, k->from, k->to);
        write_ckpt(path, hdr, (size_t)((file_rng ? GOOD_DATA : 108) + k->data_delta), k->zero_rng);
        nas_params *p = small_store(1);
        size_t n;
        float *snap = snapshot(p, &n);
        nas_rng r, r0;
        nas_rng_seed(&r, 11);
        r0 = r;
        nas_kv *meta = (nas_kv *)1;
        int nmeta = -1;
        int err = nas_ckpt_load(path, p, load_rng ? &r : NULL, &meta, &nmeta);
        cr_expect_eq(err, k->expect, "case %zu: %d (%s)", c, err, nas_errmsg());
        if (err == 0) {
            nas_kv_free(meta, nmeta);
        } else {
            const char *m = nas_errmsg();
            cr_expect(strstr(m, path), "case %zu: no path in: %s", c, m);
            cr_expect(!k->msg1 || strstr(m, k->msg1),
                      "case %zu: no '%s' in "
                      "%s",
                      c, k->msg1, m);
            cr_expect(!k->msg2 || strstr(m, k->msg2),
                      "case %zu: no '%s' in "
                      "%s",
                      c, k->msg2, m);
            cr_expect(same_store(p, snap, n), "case %zu: store changed", c);
            cr_expect(memcmp(&r, &r0, sizeof(r)) == 0, "case %zu: rng", c);
            cr_expect_null(meta, "case %zu", c);
            cr_expect_eq(nmeta, 0, "case %zu", c);
        }
        free(snap);
        nas_params_free(p);
    }
    free(path);
    rm_dir(dir);
}

Test(checkpoint, escapes_decode)
{
    char *dir = tmpdir_new("nas_ckpt"), *path = path_in(dir, "ck.safetensors");
    char hdr[4096];
    good_header(hdr, 1);
    replace(hdr, "\"step\":\"7\"", "\"st\\u0065p\":\"\\u00e9\\ud83d\\ude00\\n\\t\\/\\\"\"");
    write_ckpt(path, hdr, GOOD_DATA, 0);
    nas_params *p = small_store(1);
    nas_rng r;
    nas_kv *meta;
    int n;
    cr_assert_eq(nas_ckpt_load(path, p, &r, &meta, &n), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(n, 1);
    cr_expect_str_eq(nas_kv_get(meta, n, "step"), "\xc3\xa9\xf0\x9f\x98\x80\n\t/\"");
    nas_kv_free(meta, n);
    /* The data went where the offsets say: w[0] is bytes 32..35. */
    unsigned char want[4] = {32 * 7 + 1, 33 * 7 + 1, 34 * 7 + 1, 35 * 7 + 1};
    cr_expect(memcmp(nas_params_get(p, 0)->data, want, 4) == 0);
    nas_params_free(p);
    free(path);
    rm_dir(dir);
}

Test(checkpoint, nesting_depth_is_bounded)
{
    char *dir = tmpdir_new("nas_ckpt"), *path = path_in(dir, "ck.safetensors");
    static const int depth[2] = {40, 100000};
    for (int c = 0; c < 2; c++) {
        size_t d = (size_t)depth[c];
        char *hdr = malloc(2 * d + 4096), *nest = malloc(2 * d + 64);
        strcpy(nest, "\"w\":{\"x\":");
        size_t at = strlen(nest);
        memset(nest + at, '[', d);
        memset(nest + at + d, ']', d);
        strcpy(nest + at + 2 * d, ",\"dtype\"");
        good_header(hdr, 1);
        replace(hdr, "\"w\":{\"dtype\"", nest);
        write_ckpt(path, hdr, GOOD_DATA, 0);
        nas_params *p = small_store(1);
        nas_rng r;
        int err = nas_ckpt_load(path, p, &r, NULL, NULL);
        if (c == 0) {
            cr_expect_eq(err, NAS_OK, "%s", nas_errmsg());
        } else {
            cr_expect_eq(err, NAS_EFORMAT);
            cr_expect(strstr(nas_errmsg(), "too deep"), "%s", nas_errmsg());
        }
        nas_params_free(p);
        free(nest);
        free(hdr);
    }
    free(path);
    rm_dir(dir);
}

/* Failures found before the JSON: length field and the file itself. */
Test(checkpoint, bad_length_and_missing_file)
{
    char *dir = tmpdir_new("nas_ckpt"), *path = path_in(dir, "bad.safetensors");
    nas_params *p = small_store(1);
    size_t n;
    float *snap = snapshot(p, &n);
    struct {
        unsigned char bytes[16];
        size_t len;
        int expect;
        const char *msg;
    } raw[] = {
        {{0}, 0, NAS_EFORMAT, "too short"},
        {{1, 2, 3, 4, 5}, 5, NAS_EFORMAT, "too short"},
        {{0}, 8, NAS_EFORMAT, "not valid JSON"},                                     /* length 0 */
        {{0x00, 0xc2, 0xeb, 0x0b, 0, 0, 0, 0, '{', '}'}, 10, NAS_EFORMAT, "absurd"}, /* 200 MB */
        {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'}, 10, NAS_EFORMAT, "absurd"},
        {{0xe8, 0x03, 0, 0, 0, 0, 0, 0, '{', '}'}, 10, NAS_EFORMAT, "exceeds"}, /* 1000 */
        {{2, 0, 0, 0, 0, 0, 0, 0, '{', '}'}, 10, NAS_ENOTFOUND, "\"w\""},
    };
    for (size_t c = 0; c < sizeof(raw) / sizeof(raw[0]); c++) {
        write_all(path, raw[c].bytes, raw[c].len);
        cr_expect_eq(nas_ckpt_load(path, p, NULL, NULL, NULL), raw[c].expect, "case %zu: %s", c,
                     nas_errmsg());
        cr_expect(strstr(nas_errmsg(), path), "%s", nas_errmsg());
        cr_expect(strstr(nas_errmsg(), raw[c].msg), "case %zu: %s", c, nas_errmsg());
        cr_expect(same_store(p, snap, n));
    }
    char *missing = path_in(dir, "missing.safetensors");
    cr_expect_eq(nas_ckpt_load(missing, p, NULL, NULL, NULL), NAS_EIO);
    cr_expect(strstr(nas_errmsg(), missing), "%s", nas_errmsg());
    cr_expect(strstr(nas_errmsg(), strerror(ENOENT)), "%s", nas_errmsg());
    cr_expect_eq(nas_ckpt_load(dir, p, NULL, NULL, NULL), NAS_EIO);
    cr_expect(strstr(nas_errmsg(), dir), "%s", nas_errmsg());
    cr_expect(same_store(p, snap, n));
    free(missing);
    free(snap);
    nas_params_free(p);
    free(path);
    rm_dir(dir);
}

/* ---------------------------------------------------------- fuzzing */

Test(checkpoint, truncated_at_every_length)
{
    char *dir = tmpdir_new("nas_ckpt"), *path = path_in(dir, "ck.safetensors");
    char *cut = path_in(dir, "cut.safetensors");
    nas_params *a = make_store(1), *b = make_store(2);
    nas_rng r;
    nas_rng_seed(&r, 1);
    const nas_kv meta[] = {{"step", "9"}};
    cr_assert_eq(nas_ckpt_save(path, a, &r, meta, 1), NAS_OK);
    size_t size, n;
    unsigned char *f = read_all(path, &size);
    float *snap = snapshot(b, &n);
    size_t hend = 8;
    for (int k = 0; k < 8; k++)
        hend += (size_t)f[k] << (8 * k);
    /* Every length through the header and a little beyond, then a stride
     * through the data (prime, so it lands at every alignment). */
    size_t tried = 0;
    int fails = 0;
    for (size_t len = 0; len < size; len += len < hend + 64 ? 1 : 13) {
        tried++;
        write_all(cut, f, len);
        nas_rng rb = r;
        nas_kv *m = NULL;
        int nm = 0;
        int err = nas_ckpt_load(cut, b, &rb, &m, &nm);
        cr_expect_lt(err, 0, "length %zu of %zu loaded", len, size);
        fails += err < 0;
        cr_expect(strstr(nas_errmsg(), cut), "%s", nas_errmsg());
        if (!same_store(b, snap, n)) {
            cr_expect(0, "length %zu changed the store", len);
            break;
        }
        nas_kv_free(m, nm);
    }
    cr_expect_eq((size_t)fails, tried);
    cr_expect_gt(tried, hend);
    write_all(cut, f, size);
    cr_expect_eq(nas_ckpt_load(cut, b, &r, NULL, NULL), NAS_OK);
    free(snap);
    free(f);
    nas_params_free(a);
    nas_params_free(b);
    free(cut);
    free(path);
    rm_dir(dir);
}

Test(checkpoint, random_header_bytes)
{
    char *dir = tmpdir_new("nas_ckpt"), *path = path_in(dir, "ck.safetensors");
    char *mut = path_in(dir, "mut.safetensors");
    nas_params *a = make_store(1), *b = make_store(2);
    nas_rng r, fuzz;
    nas_rng_seed(&r, 1);
    nas_rng_seed(&fuzz, 12345);
    const nas_kv meta[] = {{"step", "9"}, {"note", "\xc3\xa9t\xc3\xa9"}};
    cr_assert_eq(nas_ckpt_save(path, a, &r, meta, 2), NAS_OK);
    size_t size, n;
    unsigned char *f = read_all(path, &size);
    unsigned char *g = malloc(size);
    size_t hend = 8;
    for (int k = 0; k < 8; k++)
        hend += (size_t)f[k] << (8 * k);
    float *snap = snapshot(b, &n);
    int ok = 0, failed = 0;
    /* Bytes worth trying: structure, digits, quotes, escapes, UTF-8. */
    static const unsigned char pool[] = "{}[]:,\"\\u0123456789-.eE tfn"
                                        "\xc3\xa9\xf0\xff\x01";
    for (int it = 0; it < 4000; it++) {
        memcpy(g, f, size);
        int flips = 1 + (int)nas_rng_below(&fuzz, 3);
        for (int k = 0; k < flips; k++) {
            size_t at = nas_rng_below(&fuzz, (uint32_t)hend);
            if (nas_rng_below(&fuzz, 2))
                g[at] ^= (unsigned char)(1 + nas_rng_below(&fuzz, 255));
            else
                g[at] = pool[nas_rng_below(&fuzz, sizeof(pool) - 1)];
        }
        write_all(mut, g, size);
        nas_rng rb = r;
        nas_rng rb0 = rb;
        nas_kv *m = NULL;
        int nm = 0;
        int err = nas_ckpt_load(mut, b, &rb, &m, &nm);
        if (err == 0) {
            ok++;
            nas_kv_free(m, nm);
            restore(b, snap);
            continue;
        }
        failed++;
        cr_expect(err < 0 && err > -NAS_ECOUNT_, "bad code %d", err);
        cr_expect(strstr(nas_errmsg(), mut), "%s", nas_errmsg());
        cr_expect_null(m);
        if (!same_store(b, snap, n) || memcmp(&rb, &rb0, sizeof(rb))) {
            cr_expect(0, "iteration %d: failed load changed the store", it);
            break;
        }
    }
    cr_log_info("random header bytes: %d loaded, %d refused", ok, failed);
    cr_expect_gt(failed, 0);
    free(snap);
    free(g);
    free(f);
    nas_params_free(a);
    nas_params_free(b);
    free(mut);
    free(path);
    rm_dir(dir);
}
