// SPDX-License-Identifier: MIT
/*
 * data_files.h - the files a dataset or corpus test writes for itself
 * (tests/test_data.c, tests/test_text.c): a fresh directory per test,
 * paths in it, raw bytes and text, and the check of a loader's refusal.
 *
 * The one design decision to know: each test's directory is made by its
 * suite's .init and removed by .fini (data_dir_make, data_dir_remove),
 * so a test names files, never directories.
 */
#ifndef NAS_TESTS_DATA_FILES_H
#define NAS_TESTS_DATA_FILES_H

#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "nas.h"
#include "tmpdir.h"

static char data_dir[512];

static inline void data_dir_make(void)
{
    char *d = tmpdir_new("nas_test_data");
    snprintf(data_dir, sizeof(data_dir), "%s", d);
    free(d);
}

static inline void data_dir_remove(void)
{
    tmpdir_remove(data_dir);
}

/* A path inside the test's directory; one of four rotating buffers so a
 * test can hold several at once. */
static inline const char *tpath(const char *name)
{
    static char buf[4][600];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 600, "%s/%s", data_dir, name);
    return p;
}

static inline void write_raw(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

static inline void write_text(const char *path, const char *text)
{
    write_raw(path, text, strlen(text));
}

/* Asserts a failure with code `code` whose message names `path` and
 * contains `word`. */
static inline void expect_fail(int rc, int code, const char *path, const char *word)
{
    const char *msg = nas_errmsg();
    cr_assert_eq(rc, code, "rc %d (%s), want %d; message: %s", rc, nas_strerror(rc), code, msg);
    cr_assert_not_null(strstr(msg, path), "message \"%s\" lacks path %s", msg, path);
    cr_assert_not_null(strstr(msg, word), "message \"%s\" lacks \"%s\"", msg, word);
}

#endif
