// SPDX-License-Identifier: MIT
/*
 * ckpt_store.h - what both checkpoint test files (tests/test_checkpoint.c,
 * tests/test_checkpoint_bad.c) need: a store of DARTS-like parameters with
 * filled moments, a snapshot of all its numbers to compare a store with
 * after a load, and whole-file reads and writes.
 *
 * The one design decision to know: a snapshot is data, first and second
 * moments of every parameter concatenated, so "the store is unchanged" is
 * one memcmp.
 */
#ifndef NAS_TESTS_CKPT_STORE_H
#define NAS_TESTS_CKPT_STORE_H

#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nas.h"

static inline unsigned char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "%s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    unsigned char *b = malloc(*n + 1);
    cr_assert_eq(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static inline void write_all(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(b, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

/* A DARTS-like store: weights, BN state and alphas in three groups, one
 * name that needs JSON escaping. Moments filled with random values. */
static inline nas_params *make_store(uint64_t seed)
{
    nas_params *p = nas_params_new();
    nas_rng rng;
    nas_rng_seed(&rng, seed);
    cr_assert(p);
    struct {
        const char *name;
        int group, ndim, shape[4];
    } decl[] = {
        {"stem.conv.w", NAS_GROUP_WEIGHTS, 4, {8, 3, 3, 3}},
        {"stem.bn.gamma", NAS_GROUP_WEIGHTS, 1, {8}},
        {"cells.0.edge.1.sep_conv_3x3.pw1.w", NAS_GROUP_WEIGHTS, 4, {8, 8, 1, 1}},
        {"classifier.w", NAS_GROUP_WEIGHTS, 2, {10, 8}},
        {"alphas.normal", NAS_GROUP_ARCH, 2, {14, 8}},
        {"alphas.reduce", NAS_GROUP_ARCH, 2, {14, 8}},
        {"odd \"name\" \\ \xc3\xa9\t", NAS_GROUP_STATE, 1, {3}},
    };
    for (size_t i = 0; i < sizeof(decl) / sizeof(decl[0]); i++)
        cr_assert_geq(nas_params_add(p, decl[i].name, decl[i].group, NAS_INIT_NORMAL, 1.0f,
                                     decl[i].ndim, decl[i].shape),
                      0);
    cr_assert_eq(nas_params_alloc(p, &rng), NAS_OK);
    for (int k = 0; k < nas_params_count(p); k++) {
        size_t n = nas_tensor_numel(nas_params_get(p, k));
        float *m1 = nas_params_moment1(p, k), *m2 = nas_params_moment2(p, k);
        for (size_t i = 0; i < n; i++) {
            m1[i] = nas_rng_normal(&rng);
            m2[i] = nas_rng_uniform(&rng);
        }
    }
    return p;
}

/* Data, m1 and m2 of every parameter, concatenated. */
static inline float *snapshot(nas_params *p, size_t *len)
{
    size_t n = 0;
    for (int k = 0; k < nas_params_count(p); k++)
        n += 3 * nas_tensor_numel(nas_params_get(p, k));
    float *s = malloc(n * sizeof(float) + 1), *at = s;
    for (int k = 0; k < nas_params_count(p); k++) {
        size_t m = nas_tensor_numel(nas_params_get(p, k));
        memcpy(at, nas_params_get(p, k)->data, m * sizeof(float));
        memcpy(at + m, nas_params_moment1(p, k), m * sizeof(float));
        memcpy(at + 2 * m, nas_params_moment2(p, k), m * sizeof(float));
        at += 3 * m;
    }
    *len = n;
    return s;
}

static inline void restore(nas_params *p, const float *s)
{
    for (int k = 0; k < nas_params_count(p); k++) {
        size_t m = nas_tensor_numel(nas_params_get(p, k));
        memcpy(nas_params_get(p, k)->data, s, m * sizeof(float));
        memcpy(nas_params_moment1(p, k), s + m, m * sizeof(float));
        memcpy(nas_params_moment2(p, k), s + 2 * m, m * sizeof(float));
        s += 3 * m;
    }
}

static inline int same_store(nas_params *p, const float *snap, size_t len)
{
    size_t n;
    float *now = snapshot(p, &n);
    int same = n == len && memcmp(now, snap, n * sizeof(float)) == 0;
    free(now);
    return same;
}

#endif
