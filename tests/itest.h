/*
 * itest.h - what the integration tests share (a real nasd on a loopback
 * port, tests/nasd_proc.h, spoken to with tests/http.h): the fixture that
 * keeps a failed test's state directory, and reading values out of the
 * JSON answers. One copy instead of one per test file.
 */
#ifndef NAS_TESTS_ITEST_H
#define NAS_TESTS_ITEST_H

#include <criterion/criterion.h>
#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nasd_proc.h"

/* A test sets passed (PASS()) at its end; a failed one keeps its nasd's
 * state directory and log for the reader (nasd_cleanup). */
static int passed;

static void begin_test(void)
{
    passed = 0;
}

static void finish_test(void)
{
    nasd_cleanup(!passed);
}

#define PASS() (passed = 1)

/* The value at a dotted path of object keys ("details.order"), or NULL. */
static inline json_t *at(json_t *o, const char *path)
{
    char key[64];
    while (o && *path) {
        size_t n = strcspn(path, ".");
        snprintf(key, sizeof(key), "%.*s", (int)n, path);
        o = json_object_get(o, key);
        path += n + (path[n] == '.');
    }
    return o;
}

static inline const char *str_at(json_t *o, const char *path)
{
    return json_string_value(at(o, path));
}

static inline json_int_t int_at(json_t *o, const char *path)
{
    return json_integer_value(at(o, path));
}

/* JSON text of j for messages (static buffer, cut short). */
static inline const char *text_of(const json_t *j)
{
    static char out[800];
    char *t = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    snprintf(out, sizeof(out), "%s", t ? t : "(none)");
    free(t);
    return out;
}

static inline int is_final(const char *st)
{
    return st && (!strcmp(st, "succeeded") || !strcmp(st, "failed") ||
                  !strcmp(st, "cancelled"));
}

#endif
