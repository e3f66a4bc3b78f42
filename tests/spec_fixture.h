// SPDX-License-Identifier: MIT
/*
 * spec_fixture.h - what tests/test_spec.c and test_spec_engine.c share: a
 * spec that must normalize, one that must fail with a given status, slug
 * and JSON pointer, and a number of the normalized spec.
 */
#ifndef NASD_TESTS_SPEC_FIXTURE_H
#define NASD_TESTS_SPEC_FIXTURE_H

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec.h"

static inline json_t *ok(const char *body)
{
    api_problem err = {0};
    json_t *spec = NULL;
    int rc = api_spec_normalize(body, strlen(body), 42, &spec, &err);
    cr_assert_eq(rc, 0, "%s: %s", body, err.detail);
    api_problem_clear(&err);
    return spec;
}

/* Expects a failure with status, slug and pointer; returns the problem. */
static inline api_problem fails(const char *body, int status, const char *slug, const char *ptr)
{
    api_problem err = {0};
    json_t *spec = NULL;
    int rc = api_spec_normalize(body, strlen(body), 42, &spec, &err);
    cr_assert_eq(rc, -1, "%s was accepted", body);
    cr_assert_null(spec);
    cr_assert_eq(err.status, status, "%s: status %d (%s)", body, err.status, err.detail);
    cr_assert_str_eq(err.type, slug, "%s: %s", body, err.detail);
    cr_assert_str_eq(err.pointer, ptr, "%s: %s", body, err.detail);
    return err;
}

static inline double num_at(const json_t *spec, const char *obj, const char *key)
{
    return json_number_value(json_object_get(json_object_get(spec, obj), key));
}

#endif
