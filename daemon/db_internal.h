// SPDX-License-Identifier: MIT
/*
 * db_internal.h - what the three files of nasd's SQLite layer share:
 * db.c (the connection, migrations and the prepared statements),
 * db_queue.c (the queue, claims, idempotency and the rows jobs report)
 * and db_views.c (the JSON views and their cache).
 *
 * The one design decision to know: struct nd_db is visible to those three
 * files only; everything outside them goes through db.h. Every write that
 * may change a job's view calls nd__db_view_drop first (db_views.c keeps
 * the rendered views until then).
 */
#ifndef ND_DB_INTERNAL_H
#define ND_DB_INTERNAL_H

#include "db.h"

#include <stdint.h>
#include <time.h>

#include <sqlite3.h>

#define ND_DB_ASSERT(cond) ((cond) ? (void)0 : nd__db_abort(__FILE__, __LINE__, #cond))

void nd__db_abort(const char *file, int line, const char *what) __attribute__((noreturn));

/* The columns of a job view (JOB_COLS in db.c), in order. */
enum job_col {
    JC_SEQ,
    JC_ID,
    JC_NAME,
    JC_ALGORITHM,
    JC_SEARCH_SPACE,
    JC_DATASET,
    JC_STATE,
    JC_SPEC,
    JC_CREATED,
    JC_STARTED,
    JC_FINISHED,
    JC_UPDATED,
    JC_ATTEMPT,
    JC_ERROR,
    JC_PROGRESS,
    JC_CKPT_STEP,
    JC_CANCEL,
    JC_ARCH,                 /* seq, number, arch, reward, metrics, t: as in ST_ARCH_LIST */
    JC_RESULT = JC_ARCH + 6, /* as in ST_RESULT_GET */
};

/* The prepared statements; their SQL is st_sql[] in db.c. */
enum st_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_JOB_GET,
    ST_JOB_LIST,
    ST_METRIC_LATEST,
    ST_JOB_STATE,
    ST_JOB_BY_IDEM,
    ST_JOB_INSERT,
    ST_CLAIM_PICK,
    ST_CLAIM_SET,
    ST_FINISH,
    ST_CANCEL_QUEUED,
    ST_CANCEL_RUNNING,
    ST_JOB_DELETE,
    ST_REQUEUE_CANCELLED,
    ST_REQUEUE,
    ST_QUEUE_LENGTH,
    ST_COUNT_STATES,
    ST_CLAIM_CLEAN,
    ST_REWIND_METRICS,
    ST_REWIND_ARCHS,
    ST_REWIND_RESULT,
    ST_REWIND_LATEST_DEL,
    ST_REWIND_LATEST_ADD,
    ST_STOPPED_CLEAN,
    ST_REQUEUE_FAIL,
    ST_SEQ_EXISTS_METRIC,
    ST_SEQ_EXISTS_ARCH,
    ST_SEQ_BEFORE_METRIC,
    ST_SEQ_BEFORE_ARCH,
    ST_SEQ_MAX,
    ST_PROGRESS,
    ST_METRIC_ADD,
    ST_ARCH_ADD,
    ST_CHECKPOINT,
    ST_RESULT_SET,
    ST_METRICS_LIST,
    ST_ARCH_LIST,
    ST_ARCH_NUMBER,
    ST_RESULT_GET,
    ST_COUNT
};

/* A job view rendered once, handed out as shallow copies until a write
 * through this connection touches the job. Direct-mapped by id hash. */
#define VIEW_SLOTS 256

struct view {
    char id[33];
    json_t *job; /* NULL: empty slot */
    char *memo;  /* the caller's text derived from job, or NULL */
    size_t memo_len;
};

struct nd_db {
    sqlite3 *conn;
    sqlite3_stmt *st[ST_COUNT];
    int batch;     /* inside nd_db_begin() .. nd_db_commit() */
    char err[256]; /* the last error, copied when it happened */
    struct view views[VIEW_SLOTS];
};

/* ------------------------------------------------ helpers (db.c) */

static inline double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Every use of a cached statement ends here. */
static inline void st_done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

static inline int bind_text(sqlite3_stmt *s, int i, const char *text)
{
    if (!text)
        return sqlite3_bind_null(s, i);
    return sqlite3_bind_text(s, i, text, -1, SQLITE_STATIC);
}

/* Records SQLite's message and maps its error to a code. */
int nd__db_fail(nd_db *db);
int nd__db_nomem(nd_db *db);
/* Steps a statement that returns no rows, then resets it. */
int nd__db_exec(nd_db *db, sqlite3_stmt *s);
/* Runs s, whose bindings returned bind_rc (the OR of the bind calls):
 * when one failed, records it and resets s instead. */
int nd__db_exec_bound(nd_db *db, sqlite3_stmt *s, int bind_rc);
/* The transactional calls: begin, and end with commit when rc >= 0, else
 * (or when the commit fails) roll back. Returns the final code. */
int nd__db_tx_begin(nd_db *db);
int nd__db_tx_end(nd_db *db, int rc);
/* A malloc'd copy of column i (NULL when it is NULL; *oom set when out of
 * memory). */
char *nd__db_dup_column(sqlite3_stmt *s, int i, int *oom);
/* Binds id to ?1 of s and steps to its row: 0 on a row, ND_DB_NOTFOUND
 * on none, else an error. The caller st_done()s s. */
int nd__db_row_by_id(nd_db *db, sqlite3_stmt *s, const char *id);

/* ------------------------------------------- views (db_views.c) */

/* Every write that may change the view of job id calls this first. */
void nd__db_view_drop(nd_db *db, const char *id);
void nd__db_view_drop_all(nd_db *db);
/* The job view of id, read now (not from the cache). */
int nd__db_job_view(nd_db *db, const char *id, json_t **job_out);

#endif
