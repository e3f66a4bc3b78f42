// SPDX-License-Identifier: MIT
/*
 * tmpdir.h - temporary directories for the tests: made under $TMPDIR
 * (default /tmp) and removed with everything in them; and the whole of a
 * file the test's code wrote there, read back.
 *
 * The one design decision to know: removal walks the tree with nftw
 * (depth first, not following symbolic links) instead of running
 * `rm -rf` through a shell, so a path is never parsed as a command.
 */
#ifndef NAS_TESTS_TMPDIR_H
#define NAS_TESTS_TMPDIR_H

#include <criterion/criterion.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline int tmpdir__remove_entry(const char *path, const struct stat *st, int flag,
                                       struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

/* Removes dir and all it holds: 0, or -1 with errno. */
static inline int tmpdir_remove(const char *dir)
{
    return nftw(dir, tmpdir__remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A new empty directory $TMPDIR/tag.XXXXXX (owned; rm_dir removes it). */
static inline char *tmpdir_new(const char *tag)
{
    const char *base = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    size_t n = strlen(base) + strlen(tag) + 16;
    char *d = malloc(n);
    cr_assert(d);
    snprintf(d, n, "%s/%s.XXXXXX", base, tag);
    cr_assert(mkdtemp(d), "mkdtemp %s: %s", d, strerror(errno));
    return d;
}

/* Removes dir (from tmpdir_new) and frees the name. */
static inline void rm_dir(char *dir)
{
    cr_assert_eq(tmpdir_remove(dir), 0, "removing %s: %s", dir, strerror(errno));
    free(dir);
}

/* dir/name (owned). */
static inline char *path_in(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    cr_assert(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* The bytes of the file at path (owned, with a NUL after them), their
 * count in *len; NULL when it cannot be opened. */
static inline char *file_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    cr_assert_geq(n, 0, "%s", path);
    char *b = malloc((size_t)n + 1);
    cr_assert(b);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n, "%s", path);
    fclose(f);
    b[n] = '\0';
    *len = (size_t)n;
    return b;
}

#endif
