// SPDX-License-Identifier: MIT
/*
 * db_datasets.c - the rows of uploaded datasets (user_datasets, issue
 * #21) and the question a DELETE asks first: does a queued or running job
 * name the dataset?
 *
 * The one design decision to know: these calls are rare (an upload, a
 * delete, a listing), so each prepares its statement when it runs rather
 * than at open, and the job views' cache is not involved: no job's view
 * changes with them.
 */
#include "db_internal.h"

#include <stdlib.h>
#include <string.h>

static int prep(nd_db *db, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(db->conn, sql, -1, st, NULL) == SQLITE_OK)
        return ND_DB_OK;
    snprintf(db->err, sizeof db->err, "%s", sqlite3_errmsg(db->conn));
    return ND_DB_ERROR;
}

static int step_done(nd_db *db, sqlite3_stmt *st)
{
    int r = sqlite3_step(st);
    int rc = r == SQLITE_DONE ? ND_DB_OK : r == SQLITE_CONSTRAINT ? ND_DB_EXISTS : ND_DB_ERROR;
    if (rc == ND_DB_ERROR)
        snprintf(db->err, sizeof db->err, "%s", sqlite3_errmsg(db->conn));
    sqlite3_finalize(st);
    return rc;
}

int nd_db_dataset_insert(nd_db *db, const char *name, const char *kind, const char *meta,
                         int64_t bytes)
{
    sqlite3_stmt *st;
    if (prep(db,
             "INSERT INTO user_datasets (name, kind, meta, bytes, created_at) "
             "VALUES (?1, ?2, ?3, ?4, ?5)",
             &st))
        return ND_DB_ERROR;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, meta, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, bytes);
    sqlite3_bind_double(st, 5, now_seconds());
    return step_done(db, st);
}

int nd_db_dataset_delete(nd_db *db, const char *name)
{
    sqlite3_stmt *st;
    if (prep(db, "DELETE FROM user_datasets WHERE name = ?1", &st))
        return ND_DB_ERROR;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    int rc = step_done(db, st);
    return rc == ND_DB_OK && sqlite3_changes(db->conn) == 0 ? ND_DB_NOTFOUND : rc;
}

/* One row as {"name", "kind", "bytes", "created_at", "meta": {...}}. */
static json_t *row_json(sqlite3_stmt *st)
{
    json_t *meta = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
    return json_pack("{s:s,s:s,s:I,s:f,s:o}", "name", (const char *)sqlite3_column_text(st, 0),
                     "kind", (const char *)sqlite3_column_text(st, 1), "bytes",
                     (json_int_t)sqlite3_column_int64(st, 3), "created_at",
                     sqlite3_column_double(st, 4), "meta", meta ? meta : json_null());
}

int nd_db_dataset_list(nd_db *db, const char *name, json_t **out)
{
    sqlite3_stmt *st;
    *out = NULL;
    if (prep(db,
             "SELECT name, kind, meta, bytes, created_at FROM user_datasets "
             "WHERE ?1 IS NULL OR name = ?1 ORDER BY name",
             &st))
        return ND_DB_ERROR;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    json_t *list = json_array();
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(list, row_json(st));
    int rc = r == SQLITE_DONE ? ND_DB_OK : ND_DB_ERROR;
    if (rc)
        snprintf(db->err, sizeof db->err, "%s", sqlite3_errmsg(db->conn));
    sqlite3_finalize(st);
    if (rc == ND_DB_OK && name && json_array_size(list) == 0)
        rc = ND_DB_NOTFOUND;
    if (rc == ND_DB_OK)
        *out = list;
    else
        json_decref(list);
    return rc;
}

int nd_db_dataset_jobs(nd_db *db, const char *name, int *count, char first[33])
{
    sqlite3_stmt *st;
    *count = 0;
    first[0] = '\0';
    if (prep(db,
             "SELECT id FROM jobs WHERE dataset = ?1 AND state IN ('queued', 'running') "
             "ORDER BY seq",
             &st))
        return ND_DB_ERROR;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        if ((*count)++ == 0)
            snprintf(first, 33, "%s", (const char *)sqlite3_column_text(st, 0));
    int rc = r == SQLITE_DONE ? ND_DB_OK : ND_DB_ERROR;
    if (rc)
        snprintf(db->err, sizeof db->err, "%s", sqlite3_errmsg(db->conn));
    sqlite3_finalize(st);
    return rc;
}
