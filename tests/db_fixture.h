// SPDX-License-Identifier: MIT
/*
 * db_fixture.h - what tests/test_db.c and tests/test_db_views.c share: a
 * fresh database in its own mkdtemp directory per test (setup, teardown)
 * and small helpers over db.h; raw_count looks at the file through a
 * second, plain sqlite3 connection.
 */
#ifndef DB_FIXTURE_H
#define DB_FIXTURE_H

#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "db.h"

static char dir[64];
static char path[128];
static nd_db *db;

static inline void open_db(void)
{
    char err[256] = "";
    int rc = nd_db_open(path, &db, err, sizeof err);
    cr_assert_eq(rc, 0, "open: %s (%s)", nd_db_strerror(rc), err);
}

static inline void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_db.XXXXXX");
    cr_assert(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/nasd.db", dir);
    open_db();
}

static inline void teardown(void)
{
    char p[160];
    nd_db_close(db);
    db = NULL;
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
    rmdir(dir);
}

/* A job with a fresh id and a small spec; id receives it. */
static inline void add_job(char id[33], const char *name)
{
    cr_assert_eq(nd_db_new_id(id), 0);
    cr_assert_eq(nd_db_job_insert(db, id, name, "train", NULL, "synthetic",
                                  "{\"algorithm\":\"train\",\"seed\":1}", NULL, NULL, NULL),
                 0, "%s", nd_db_errmsg(db));
}

static json_t *get_job(const char *id)
{
    json_t *job = NULL;
    cr_assert_eq(nd_db_job_get(db, id, &job), 0, "%s", nd_db_errmsg(db));
    cr_assert(json_is_object(job));
    return job;
}

static const char *str_of(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static inline void claim(char id[33])
{
    char *spec = NULL, *ckpt = NULL;
    int64_t step;
    int attempt;
    cr_assert_eq(nd_db_job_claim(db, id, &spec, &ckpt, &step, &attempt, NULL), 0);
    free(spec);
    free(ckpt);
}

/* A count from the file through a separate connection, with db closed
 * meanwhile (it holds the file exclusively). */
static inline int raw_count(const char *sql, const char *id)
{
    sqlite3 *c;
    sqlite3_stmt *s;
    nd_db_close(db);
    db = NULL;
    cr_assert_eq(sqlite3_open(path, &c), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(c, sql, -1, &s, NULL), SQLITE_OK, "%s", sqlite3_errmsg(c));
    if (id)
        sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    int n = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(c);
    open_db();
    return n;
}

static inline int matches_time(const char *t)
{
    int y, mo, d, h, mi, s, ms;
    char z;
    return t && strlen(t) == 24 &&
           sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &s, &ms, &z) == 8 &&
           z == 'Z' && y >= 2020;
}

#endif
