// SPDX-License-Identifier: MIT
/*
 * test_checkpoint.c - safetensors checkpoints: bit-exact round trips, the
 * file format read back by hand, and atomic writes. (Files that must not
 * load: tests/test_checkpoint_bad.c.)
 *
 * The one design decision to know: a round trip is checked bit for bit
 * (data, both moments, the RNG) against a snapshot of the saved store
 * (tests/ckpt_store.h), and the format against a header parsed here, not
 * by the engine's own reader.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt_store.h"
#include "nas.h"
#include "tmpdir.h"

/* ------------------------------------------------------------ helpers */

static int dir_count(const char *dir, const char *needle)
{
    int n = 0;
    DIR *d = opendir(dir);
    cr_assert(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && (!needle || strstr(e->d_name, needle)))
            n++;
    closedir(d);
    return n;
}

/* ------------------------------------------------------- round trip */

Test(checkpoint, round_trip_bit_exact)
{
    char *dir = tmpdir_new("nas_ckpt"), *path = path_in(dir, "ck.safetensors");
    nas_params *a = make_store(1), *b = make_store(2);
    nas_rng ra, rb;
    nas_rng_seed(&ra, 77);
    for (int i = 0; i < 17; i++)
        nas_rng_u64(&ra);
    nas_rng_seed(&rb, 5);
    const nas_kv meta[] = {
        {"step", "1234"},
        {"algo", "darts"},
        {"odd", "quote\" backslash\\ tab\t nl\n ctl\x01 "
                "\xc3\xa9 \xf0\x9f\x98\x80"},
        {"", "empty key"},
    };
    cr_assert_eq(nas_ckpt_save(path, a, &ra, meta, 4), NAS_OK, "%s", nas_errmsg());

    nas_kv *got = NULL;
    int ngot = -1;
    cr_assert_eq(nas_ckpt_load(path, b, &rb, &got, &ngot), NAS_OK, "%s", nas_errmsg());
    size_t na, nb;
    float *sa = snapshot(a, &na), *sb = snapshot(b, &nb);
    cr_assert_eq(na, nb);
    cr_expect(memcmp(sa, sb, na * sizeof(float)) == 0, "store differs");
    for (int i = 0; i < 100; i++)
        cr_expect_eq(nas_rng_u64(&ra), nas_rng_u64(&rb), "draw %d", i);
    cr_assert_eq(ngot, 4);
    for (int i = 0; i < 4; i++) {
        cr_expect_str_eq(got[i].key, meta[i].key);
        cr_expect_str_eq(got[i].value, meta[i].value);
    }
    cr_expect_str_eq(nas_kv_get(got, ngot, "step"), "1234");
    cr_expect_null(nas_kv_get(got, ngot, "missing"));
    nas_kv_free(got, ngot);
    nas_kv_free(NULL, 0);

    /* No rng, no metadata wanted: both ignored. */
    cr_expect_eq(nas_ckpt_load(path, b, NULL, NULL, NULL), NAS_OK);

    free(sa);
    free(sb);
    nas_params_free(a);
    nas_params_free(b);
    free(path);
    rm_dir(dir);
}

Test(checkpoint, no_metadata_no_rng)
{
    char *dir = tmpdir_new("nas_ckpt"), *path = path_in(dir, "ck.safetensors");
    nas_params *a = make_store(1), *b = make_store(2);
    cr_assert_eq(nas_ckpt_save(path, a, NULL, NULL, 0), NAS_OK);
    nas_kv *got = (nas_kv *)1;
    int n = -1;
    cr_assert_eq(nas_ckpt_load(path, b, NULL, &got, &n), NAS_OK, "%s", nas_errmsg());
    cr_expect_eq(n, 0);
    cr_expect_not_null(got);
    nas_kv_free(got, n);
    size_t na, nb;
    float *sa = snapshot(a, &na), *sb = snapshot(b, &nb);
    cr_expect(memcmp(sa, sb, na * sizeof(float)) == 0);

    /* The file has no rng.state, so asking for it fails cleanly. */
    nas_params *c = make_store(3);
    nas_rng r;
    nas_rng_seed(&r, 9);
    nas_rng r0 = r;
    size_t nc;
    float *sc = snapshot(c, &nc);
    cr_expect_eq(nas_ckpt_load(path, c, &r, NULL, NULL), NAS_ENOTFOUND);
    cr_expect(strstr(nas_errmsg(), "rng.state"), "%s", nas_errmsg());
    cr_expect(same_store(c, sc, nc));
    cr_expect(memcmp(&r, &r0, sizeof(r)) == 0);
    free(sa);
    free(sb);
    free(sc);
    nas_params_free(a);
    nas_params_free(b);
    nas_params_free(c);
    free(path);
    rm_dir(dir);
}

/* --------------------------------------------------- the file format */

/* s with '"' and '\' escaped the way the writer does (no control chars
 * except \t, which becomes \u0009). */
static void json_escape(const char *s, char *out)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            *out++ = '\\';
            *out++ = *s;
        } else if (*s == '\t') {
            out += sprintf(out, "\\u0009");
        } else {
            *out++ = *s;
        }
    }
    *out = '\0';
}

/* Finds "name":{"dtype":"<dt>","shape":[...],"data_offsets":[b,e]} in
 * the header and returns the shape text and offsets. */
static void find_entry(const char *hdr, const char *name, const char *dt, char *shape,
                       unsigned long long *b, unsigned long long *e)
{
    char esc[256], key[300];
    json_escape(name, esc);
    snprintf(key, sizeof(key), "\"%s\":{\"dtype\":\"%s\",\"shape\":[", esc, dt);
    const char *at = strstr(hdr, key);
    cr_assert(at, "no entry %s", key);
    at += strlen(key);
    const char *close = strchr(at, ']');
    cr_assert(close);
    memcpy(shape, at, (size_t)(close - at));
    shape[close - at] = '\0';
    cr_assert_eq(sscanf(close, "],\"data_offsets\":[%llu,%llu]}", b, e), 2, "offsets of %s", name);
}

Test(checkpoint, file_is_valid_safetensors)
{
    char *dir = tmpdir_new("nas_ckpt"), *path = path_in(dir, "ck.safetensors");
    nas_params *a = make_store(1);
    nas_rng r;
    nas_rng_seed(&r, 3);
    const nas_kv meta[] = {{"step", "42"}};
    cr_assert_eq(nas_ckpt_save(path, a, &r, meta, 1), NAS_OK);
    size_t size;
    unsigned char *f = read_all(path, &size);
    cr_assert_geq(size, 8);
    unsigned long long n = 0;
    for (int k = 0; k < 8; k++)
        n |= (unsigned long long)f[k] << (8 * k);
    cr_assert_leq(n, size - 8);
    cr_expect_eq(n % 8, 0, "header padded to 8 bytes");
    char *hdr = malloc(n + 1);
    memcpy(hdr, f + 8, n);
    hdr[n] = '\0';
    cr_expect_eq(hdr[0], '{');
    size_t end = n;
    while (end > 0 && hdr[end - 1] == ' ')
        end--;
    cr_expect_eq(hdr[end - 1], '}', "only spaces after the object");
    cr_expect(strstr(hdr, "\"__metadata__\":{\"step\":\"42\"}"), "%s", hdr);
    const unsigned char *data = f + 8 + n;
    unsigned long long data_len = size - 8 - n, covered = 0, max_end = 0;

    char shape[64];
    unsigned long long b, e;
    find_entry(hdr, "rng.state", "U64", shape, &b, &e);
    cr_expect_str_eq(shape, "4");
    cr_assert_eq(e - b, 32);
    for (int i = 0; i < 4; i++) {
        uint64_t v = 0;
        for (int k = 0; k < 8; k++)
            v |= (uint64_t)data[b + 8 * i + k] << (8 * k);
        cr_expect_eq(v, r.s[i]);
    }
    covered += e - b;
    max_end = e;

    static const char *const suffix[3] = {"", "#m1", "#m2"};
    for (int k = 0; k < nas_params_count(a); k++) {
        nas_tensor *t = nas_params_get(a, k);
        const float *src[3] = {t->data, nas_params_moment1(a, k), nas_params_moment2(a, k)};
        char want[64] = "", name[256];
        for (int d = 0; d < t->ndim; d++)
            sprintf(want + strlen(want), "%s%d", d ? "," : "", t->shape[d]);
        for (int s = 0; s < 3; s++) {
            snprintf(name, sizeof(name), "%s%s", t->name, suffix[s]);
            find_entry(hdr, name, "F32", shape, &b, &e);
            cr_expect_str_eq(shape, want, "%s", name);
            cr_assert_leq(b, e);
            cr_assert_leq(e, data_len);
            cr_assert_eq(e - b, nas_tensor_numel(t) * 4, "%s", name);
            cr_expect(memcmp(data + b, src[s], e - b) == 0, "%s", name);
            covered += e - b;
            if (e > max_end)
                max_end = e;
        }
    }
    cr_expect_eq(covered, data_len, "tensors tile the data section");
    cr_expect_eq(max_end, data_len);
    free(hdr);
    free(f);
    nas_params_free(a);
    free(path);
    rm_dir(dir);
}

/* ------------------------------------------------------ atomic write */

Test(checkpoint, atomic_write)
{
    char *dir = tmpdir_new("nas_ckpt"), *path = path_in(dir, "ck.safetensors");
    nas_params *a = make_store(1), *b = make_store(2);
    cr_assert_eq(nas_ckpt_save(path, a, NULL, NULL, 0), NAS_OK);
    cr_expect_eq(dir_count(dir, NULL), 1);
    cr_expect_eq(dir_count(dir, ".tmp."), 0);
    /* Overwriting replaces the content in place. */
    cr_assert_eq(nas_ckpt_save(path, b, NULL, NULL, 0), NAS_OK);
    cr_expect_eq(dir_count(dir, NULL), 1);
    nas_params *c = make_store(3);
    cr_assert_eq(nas_ckpt_load(path, c, NULL, NULL, NULL), NAS_OK);
    size_t nb, nc;
    float *sb = snapshot(b, &nb), *sc = snapshot(c, &nc);
    cr_expect(memcmp(sb, sc, nb * sizeof(float)) == 0);

    /* A directory that does not exist: EIO naming the path and errno. */
    char *bad = path_in(dir, "nope/ck.safetensors");
    cr_expect_eq(nas_ckpt_save(bad, a, NULL, NULL, 0), NAS_EIO);
    cr_expect(strstr(nas_errmsg(), bad), "%s", nas_errmsg());
    cr_expect(strstr(nas_errmsg(), strerror(ENOENT)), "%s", nas_errmsg());

    /* The rename fails (the target is a non-empty directory): the tmp
     * file must be gone afterwards. */
    char *sub = path_in(dir, "sub");
    cr_assert_eq(mkdir(sub, 0755), 0);
    char *inner = path_in(sub, "x");
    write_all(inner, "x", 1);
    cr_expect_eq(nas_ckpt_save(sub, a, NULL, NULL, 0), NAS_EIO);
    cr_expect(strstr(nas_errmsg(), sub), "%s", nas_errmsg());
    cr_expect(strstr(nas_errmsg(), "rename"), "%s", nas_errmsg());
    cr_expect_eq(dir_count(dir, ".tmp."), 0);
    unlink(inner);

    free(inner);
    free(sub);
    free(bad);
    free(sb);
    free(sc);
    nas_params_free(a);
    nas_params_free(b);
    nas_params_free(c);
    free(path);
    rm_dir(dir);
}

Test(checkpoint, save_refuses_bad_arguments)
{
    char *dir = tmpdir_new("nas_ckpt"), *path = path_in(dir, "ck.safetensors");
    nas_params *a = make_store(1);
    const nas_kv dup[] = {{"k", "1"}, {"k", "2"}};
    cr_expect_eq(nas_ckpt_save(path, a, NULL, dup, 2), NAS_EINVAL);
    cr_expect(strstr(nas_errmsg(), "\"k\""), "%s", nas_errmsg());
    const nas_kv bad_utf8[] = {{"k", "\xff"}};
    cr_expect_eq(nas_ckpt_save(path, a, NULL, bad_utf8, 1), NAS_EINVAL);
    nas_params *p = nas_params_new();
    nas_rng r;
    nas_rng_seed(&r, 1);
    nas_params_add(p, "w#m1", 0, NAS_INIT_ZERO, 1, 1, (int[]){2});
    nas_params_alloc(p, &r);
    cr_expect_eq(nas_ckpt_save(path, p, NULL, NULL, 0), NAS_EINVAL);
    cr_expect(strstr(nas_errmsg(), "w#m1"), "%s", nas_errmsg());
    cr_expect_eq(dir_count(dir, NULL), 0);
    nas_params_free(p);
    nas_params_free(a);
    free(path);
    rm_dir(dir);
}
