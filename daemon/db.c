// SPDX-License-Identifier: MIT
/*
 * db.c - nasd's SQLite layer: the connection, its migrations at open and
 * the statements every call uses (the queue is db_queue.c, the JSON views
 * db_views.c; db_internal.h is what they share).
 *
 * The one design decision to know: this connection is the database's only
 * user. It is opened with locking_mode=EXCLUSIVE (no other process, not
 * even a second nasd, can open the file while nasd runs; WAL then keeps
 * its index in memory and a read takes no file lock) and it is used by
 * one thread (SQLITE_OPEN_NOMUTEX). That is what makes the two speed-ups
 * of the hot read, GET /v1/jobs/{id}, safe: every statement is prepared
 * once at open into db->st[] (a call binds, steps, resets and clears the
 * bindings), and a rendered job view is cached in db->views[] until a
 * write through this connection touches that job (every write calls
 * nd__db_view_drop first). Durability: WAL with synchronous=FULL fsyncs
 * the log at every commit; NORMAL would only fsync at checkpoints, so a power loss
 * could drop a job after its 202 had been sent.
 */
#include "db_internal.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

void nd__db_abort(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, what);
    abort();
}

/* ------------------------------------------------------- statements */

/* The columns of a job view, in the order of enum job_col
 * (db_internal.h). */
#define JOB_COLS                                                                                   \
    "SELECT j.seq, j.id, j.name, j.algorithm, j.search_space, j.dataset,"                          \
    " j.state, j.spec, j.created_at, j.started_at, j.finished_at,"                                 \
    " j.updated_at, j.attempt, j.error, j.progress, j.checkpoint_step,"                            \
    " j.cancel_requested, a.seq, a.number, a.arch, a.reward, a.metrics, a.t,"                      \
    " r.architecture, r.metric, r.value, r.result, r.t"                                            \
    " FROM jobs j"                                                                                 \
    " LEFT JOIN architectures a ON a.seq = (SELECT b.seq FROM architectures b"                     \
    "  WHERE b.job_id = j.id ORDER BY b.reward DESC, b.seq LIMIT 1)"                               \
    " LEFT JOIN results r ON r.job_id = j.id"

static const char *const st_sql[] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_JOB_GET] = JOB_COLS " WHERE j.id = ?1",
    [ST_JOB_LIST] = JOB_COLS " WHERE j.seq < ?1 AND (?3 IS NULL OR j.state = ?3)"
                             " AND (?4 IS NULL OR j.name = ?4)"
                             " AND (?5 IS NULL OR j.algorithm = ?5)"
                             " AND (?6 IS NULL OR j.search_space = ?6)"
                             " AND (?7 IS NULL OR j.dataset = ?7)"
                             " AND (?8 IS NULL OR EXISTS (SELECT 1 FROM json_each(j.spec, '$.tags')"
                             "  WHERE value = ?8))"
                             " ORDER BY j.seq DESC LIMIT ?2",
    [ST_METRIC_LATEST] = "SELECT name, value, epoch, step FROM metric_latest"
                         " WHERE job_id = ?1 ORDER BY name",
    [ST_JOB_STATE] = "SELECT state, checkpoint_path FROM jobs WHERE id = ?1",
    [ST_JOB_BY_IDEM] = "SELECT id, request_hash FROM jobs WHERE idempotency_key = ?1",
    [ST_JOB_INSERT] = "INSERT INTO jobs (id, name, algorithm, search_space, dataset, spec,"
                      " state, created_at, updated_at, idempotency_key, request_hash)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?7, ?8, ?9)",
    [ST_CLAIM_PICK] = "SELECT seq, id, spec, checkpoint_path, checkpoint_step, attempt,"
                      " ckpt_metric_seq, ckpt_arch_seq"
                      " FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1",
    [ST_CLAIM_SET] = "UPDATE jobs SET state = 'running', attempt = attempt + 1,"
                     " started_at = coalesce(started_at, ?2), updated_at = ?2,"
                     " clean_stop = 0 WHERE seq = ?1",
    /* The rewind of a claim: what the job reported after the checkpoint
     * it resumes from (?2: metrics, ?3: architectures) goes. */
    [ST_CLAIM_CLEAN] = "UPDATE jobs SET progress = NULL WHERE id = ?1",
    [ST_REWIND_METRICS] = "DELETE FROM metrics WHERE job_id = ?1 AND seq > ?2",
    [ST_REWIND_ARCHS] = "DELETE FROM architectures WHERE job_id = ?1 AND seq > ?2",
    [ST_REWIND_RESULT] = "DELETE FROM results WHERE job_id = ?1",
    [ST_REWIND_LATEST_DEL] = "DELETE FROM metric_latest WHERE job_id = ?1",
    [ST_REWIND_LATEST_ADD] = "INSERT INTO metric_latest (job_id, name, value, epoch, step, t)"
                             " SELECT job_id, name, value, epoch, step, t FROM metrics m"
                             " WHERE job_id = ?1 AND seq = (SELECT max(seq) FROM metrics"
                             "  WHERE job_id = ?1 AND name = m.name)",
    [ST_STOPPED_CLEAN] = "UPDATE jobs SET clean_stop = 1 WHERE id = ?1 AND state = 'running'",
    /* Jobs that were running when nasd died (no clean stop) count a
     * crash; at the cap they fail instead of being requeued. */
    [ST_REQUEUE_FAIL] = "UPDATE jobs SET crashes = crashes + 1 - clean_stop, clean_stop = 0,"
                        " state = CASE WHEN crashes + 1 - clean_stop >= ?2 THEN 'failed'"
                        "  ELSE state END,"
                        " error = CASE WHEN crashes + 1 - clean_stop >= ?2 THEN printf("
                        "  'nasd stopped without a clean shutdown while this job ran, %d"
                        " time(s) (the max-attempts setting is %d): the job may be what"
                        " brings nasd down (e.g. out of memory), so it is not run again',"
                        "  crashes + 1 - clean_stop, ?2) ELSE error END,"
                        " finished_at = CASE WHEN crashes + 1 - clean_stop >= ?2 THEN ?1"
                        "  ELSE finished_at END,"
                        " updated_at = ?1 WHERE state = 'running' AND cancel_requested = 0",
    [ST_SEQ_EXISTS_METRIC] = "SELECT 1 FROM metrics WHERE seq = ?2 AND job_id = ?1",
    [ST_SEQ_EXISTS_ARCH] = "SELECT 1 FROM architectures WHERE seq = ?2 AND job_id = ?1",
    [ST_SEQ_BEFORE_METRIC] = "SELECT coalesce(max(seq), 0) FROM metrics WHERE job_id = ?1"
                             " AND seq < ?2",
    [ST_SEQ_BEFORE_ARCH] = "SELECT coalesce(max(seq), 0) FROM architectures WHERE job_id = ?1"
                           " AND seq < ?2",
    [ST_SEQ_MAX] = "SELECT coalesce((SELECT max(seq) FROM metrics WHERE job_id = ?1), 0),"
                   " coalesce((SELECT max(seq) FROM architectures WHERE job_id = ?1), 0)",
    [ST_FINISH] = "UPDATE jobs SET state = ?2, error = ?3, finished_at = ?4,"
                  " updated_at = ?4 WHERE id = ?1 AND state IN ('queued', 'running')",
    [ST_CANCEL_QUEUED] = "UPDATE jobs SET state = 'cancelled', finished_at = ?2,"
                         " updated_at = ?2 WHERE id = ?1 AND state = 'queued'",
    [ST_CANCEL_RUNNING] = "UPDATE jobs SET cancel_requested = 1, updated_at = ?2"
                          " WHERE id = ?1 AND state = 'running'",
    [ST_JOB_DELETE] = "DELETE FROM jobs WHERE id = ?1",
    [ST_REQUEUE_CANCELLED] = "UPDATE jobs SET state = 'cancelled', finished_at = ?1,"
                             " updated_at = ?1 WHERE state = 'running' AND cancel_requested = 1",
    [ST_REQUEUE] = "UPDATE jobs SET state = 'queued', updated_at = ?1"
                   " WHERE state = 'running'",
    [ST_QUEUE_LENGTH] = "SELECT count(*) FROM jobs WHERE state = 'queued'",
    [ST_COUNT_STATES] = "SELECT state, count(*) FROM jobs GROUP BY state",
    [ST_PROGRESS] = "UPDATE jobs SET progress = ?2, updated_at = ?3 WHERE id = ?1",
    [ST_METRIC_ADD] = "INSERT INTO metrics (job_id, epoch, step, name, value, t)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_ARCH_ADD] = "INSERT INTO architectures (job_id, arch, reward, metrics, t, number)"
                    " VALUES (?1, ?2, ?3, ?4, ?5, coalesce((SELECT max(number)"
                    "  FROM architectures WHERE job_id = ?1), 0) + 1)",
    [ST_CHECKPOINT] = "UPDATE jobs SET checkpoint_path = ?2, checkpoint_step = ?3,"
                      " updated_at = ?4,"
                      " ckpt_metric_seq = coalesce((SELECT max(seq) FROM metrics"
                      "  WHERE job_id = ?1), 0),"
                      " ckpt_arch_seq = coalesce((SELECT max(seq) FROM architectures"
                      "  WHERE job_id = ?1), 0)"
                      " WHERE id = ?1",
    [ST_RESULT_SET] = "INSERT INTO results (job_id, architecture, metric, value, result, t)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (job_id) DO UPDATE SET"
                      " architecture = excluded.architecture, metric = excluded.metric,"
                      " value = excluded.value, result = excluded.result, t = excluded.t",
    [ST_METRICS_LIST] = "SELECT seq, epoch, step, name, value, t FROM metrics"
                        " WHERE job_id = ?1 AND seq > ?2 AND (?4 IS NULL OR name = ?4)"
                        " ORDER BY seq LIMIT ?3",
    [ST_ARCH_LIST] = "SELECT seq, number, arch, reward, metrics, t FROM architectures"
                     " WHERE job_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    [ST_ARCH_NUMBER] = "SELECT seq, number, arch, reward, metrics, t FROM architectures"
                       " WHERE job_id = ?1 AND number = ?2",
    [ST_RESULT_GET] = "SELECT architecture, metric, value, result, t FROM results"
                      " WHERE job_id = ?1",
};
static_assert(sizeof st_sql / sizeof st_sql[0] == ST_COUNT, "st_sql[] and enum st_id out of step");

/* ------------------------------------------------------------ names */

static const char *const state_names[] = {
    [ND_DB_QUEUED] = "queued", [ND_DB_RUNNING] = "running",     [ND_DB_SUCCEEDED] = "succeeded",
    [ND_DB_FAILED] = "failed", [ND_DB_CANCELLED] = "cancelled",
};
static_assert(sizeof state_names / sizeof state_names[0] == ND_DB_STATE_COUNT,
              "state_names[] and enum nd_db_job_state out of step");

/* Indexed by -code. */
static const char *const code_names[] = {
    [0] = "ok",
    [-ND_DB_ERROR] = "database error",
    [-ND_DB_NOTFOUND] = "not found",
    [-ND_DB_IDEM_CONFLICT] = "idempotency key reused with another request",
    [-ND_DB_BADTOKEN] = "invalid page token",
    [-ND_DB_BUSY] = "job is queued or running",
    [-ND_DB_STATE] = "job already finished",
    [-ND_DB_INVAL] = "invalid argument",
    [-ND_DB_NOMEM] = "out of memory",
    [-ND_DB_SCHEMA] = "database schema not usable",
    [-ND_DB_EXISTS] = "the name is taken",
};
static_assert(sizeof code_names / sizeof code_names[0] == 1 - ND_DB_CODE_MIN,
              "code_names[] and enum nd_db_code out of step");

const char *nd_db_state_name(int state)
{
    if (state < 0 || state >= ND_DB_STATE_COUNT)
        return NULL;
    return state_names[state];
}

int nd_db_state_parse(const char *name)
{
    for (int i = 0; name && i < ND_DB_STATE_COUNT; i++)
        if (strcmp(name, state_names[i]) == 0)
            return i;
    return -1;
}

const char *nd_db_strerror(int code)
{
    if (code == ND_DB_IDEM_SAME)
        return "idempotency key reused with the same request";
    if (code > 0 || code < ND_DB_CODE_MIN)
        return "unknown error";
    return code_names[-code];
}

const char *nd_db_errmsg(const nd_db *db)
{
    return db ? db->err : "no database";
}

int nd_db_new_id(char out[33])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[16];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;
        got += (size_t)n;
    }
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[32] = '\0';
    return 0;
fail:
    out[0] = '\0';
    return ND_DB_ERROR;
}

/* ---------------------------------------------------------- helpers */

/* Records SQLite's message and maps its error to a code. */
int nd__db_fail(nd_db *db)
{
    int ext = sqlite3_extended_errcode(db->conn);
    snprintf(db->err, sizeof db->err, "%s", sqlite3_errmsg(db->conn));
    if ((ext & 0xff) == SQLITE_BUSY) /* only another process can */
        snprintf(db->err, sizeof db->err,
                 "the database is locked by "
                 "another process (another nasd on this state "
                 "directory?)");
    if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
        return ND_DB_NOTFOUND;
    if (ext == SQLITE_NOMEM)
        return ND_DB_NOMEM;
    return ND_DB_ERROR;
}

int nd__db_nomem(nd_db *db)
{
    snprintf(db->err, sizeof db->err, "out of memory");
    return ND_DB_NOMEM;
}

int nd__db_exec(nd_db *db, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : nd__db_fail(db);
    st_done(s);
    return rc;
}

int nd__db_exec_bound(nd_db *db, sqlite3_stmt *s, int bind_rc)
{
    if (bind_rc) {
        int rc = nd__db_fail(db);
        st_done(s);
        return rc;
    }
    return nd__db_exec(db, s);
}

int nd__db_tx_begin(nd_db *db)
{
    ND_DB_ASSERT(!db->batch && "a self-committing call inside a batch");
    return nd__db_exec(db, db->st[ST_BEGIN]);
}

int nd__db_tx_end(nd_db *db, int rc)
{
    if (rc >= 0) {
        int c = nd__db_exec(db, db->st[ST_COMMIT]);
        if (c == 0)
            return rc;
        rc = c;
    }
    if (!sqlite3_get_autocommit(db->conn)) {
        sqlite3_step(db->st[ST_ROLLBACK]);
        st_done(db->st[ST_ROLLBACK]);
    }
    return rc;
}

char *nd__db_dup_column(sqlite3_stmt *s, int i, int *oom)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    if (!t)
        return NULL;
    size_t n = (size_t)sqlite3_column_bytes(s, i);
    char *d = malloc(n + 1);
    if (!d) {
        *oom = 1;
        return NULL;
    }
    memcpy(d, t, n + 1);
    return d;
}

/* ------------------------------------------------------------- open */

static int pragma_int(nd_db *db, const char *sql, int *value)
{
    sqlite3_stmt *s = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(db->conn, sql, -1, &s, NULL) != SQLITE_OK) {
        rc = nd__db_fail(db);
        goto fail;
    }
    if (sqlite3_step(s) != SQLITE_ROW) {
        rc = nd__db_fail(db);
        goto fail;
    }
    *value = sqlite3_column_int(s, 0);
fail:
    sqlite3_finalize(s);
    return rc;
}

static int exec_sql(nd_db *db, const char *sql)
{
    if (sqlite3_exec(db->conn, sql, NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    return nd__db_fail(db);
}

static int configure(nd_db *db)
{
    sqlite3_stmt *s = NULL;
    int rc = 0, fk = 0;
    sqlite3_extended_result_codes(db->conn, 1);
    sqlite3_busy_timeout(db->conn, 5000);
    /* Before the first access, so that WAL keeps its index in memory
     * and takes no file lock per read; it also keeps a second nasd
     * (or anyone) off the file, which the view cache relies on. */
    rc = exec_sql(db, "PRAGMA locking_mode = EXCLUSIVE");
    if (rc < 0)
        goto fail;
    if (sqlite3_prepare_v2(db->conn, "PRAGMA journal_mode = WAL", -1, &s, NULL) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW) {
        rc = nd__db_fail(db);
        goto fail;
    }
    const char *mode = (const char *)sqlite3_column_text(s, 0);
    if (!mode || strcmp(mode, "wal") != 0) {
        snprintf(db->err, sizeof db->err,
                 "cannot use WAL journal mode (got %s): is the state "
                 "directory on a local file system?",
                 mode ? mode : "?");
        rc = ND_DB_ERROR;
        goto fail;
    }
    rc = exec_sql(db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON");
    if (rc < 0)
        goto fail;
    rc = pragma_int(db, "PRAGMA foreign_keys", &fk);
    if (rc < 0)
        goto fail;
    if (fk != 1) {
        snprintf(db->err, sizeof db->err, "this SQLite cannot enforce foreign keys");
        rc = ND_DB_ERROR;
    }
fail:
    sqlite3_finalize(s);
    return rc;
}

/* Applies the migrations newer than user_version, each in a transaction
 * that re-reads user_version (another process may have migrated) and ends
 * by setting it. */
static int migrate(nd_db *db)
{
    int have = 0, rc;
    ND_DB_ASSERT(nd_migration_count > 0);
    int known = nd_migrations[nd_migration_count - 1].version;
    rc = pragma_int(db, "PRAGMA user_version", &have);
    if (rc < 0)
        goto fail;
    if (have > known) {
        snprintf(db->err, sizeof db->err,
                 "database schema version %d is newer than this nasd knows "
                 "(%d): refusing to open it; use a newer nasd",
                 have, known);
        rc = ND_DB_SCHEMA;
        goto fail;
    }
    for (int i = 0; i < nd_migration_count; i++) {
        const struct nd_migration *m = &nd_migrations[i];
        char sql[64];
        if (m->version <= have)
            continue;
        rc = exec_sql(db, "BEGIN IMMEDIATE");
        if (rc < 0)
            goto fail;
        rc = pragma_int(db, "PRAGMA user_version", &have);
        if (rc == 0 && m->version > have) {
            rc = exec_sql(db, m->sql);
            snprintf(sql, sizeof sql, "PRAGMA user_version = %d", m->version);
            if (rc == 0)
                rc = exec_sql(db, sql);
        }
        if (rc == 0)
            rc = exec_sql(db, "COMMIT");
        if (rc < 0) {
            char why[sizeof db->err];
            snprintf(why, sizeof why, "%s", db->err);
            snprintf(db->err, sizeof db->err, "migration %.40s: %.200s", m->name, why);
            if (!sqlite3_get_autocommit(db->conn))
                sqlite3_exec(db->conn, "ROLLBACK", NULL, NULL, NULL);
            rc = ND_DB_SCHEMA;
            goto fail;
        }
        have = m->version > have ? m->version : have;
    }
    return 0;
fail:
    return rc;
}

int nd_db_open(const char *path, nd_db **out, char *err, size_t errlen)
{
    nd_db *db = calloc(1, sizeof *db);
    int rc = 0;
    *out = NULL;
    if (!db) {
        rc = ND_DB_NOMEM;
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    if (sqlite3_open_v2(path, &db->conn,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rc = db->conn ? nd__db_fail(db) : ND_DB_NOMEM;
        if (!db->conn)
            snprintf(db->err, sizeof db->err, "out of memory");
        goto fail_msg;
    }
    rc = configure(db);
    if (rc < 0)
        goto fail_msg;
    rc = migrate(db);
    if (rc < 0)
        goto fail_msg;
    for (int i = 0; i < ST_COUNT; i++) {
        ND_DB_ASSERT(st_sql[i] && "a statement without SQL");
        if (sqlite3_prepare_v3(db->conn, st_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &db->st[i],
                               NULL) != SQLITE_OK) {
            rc = nd__db_fail(db);
            goto fail_msg;
        }
    }
    *out = db;
    return 0;
fail_msg:
    snprintf(err, errlen, "%s: %s", path, db->err);
fail:
    nd_db_close(db);
    return rc;
}

void nd_db_close(nd_db *db)
{
    if (!db)
        return;
    if (db->conn && !sqlite3_get_autocommit(db->conn))
        sqlite3_exec(db->conn, "ROLLBACK", NULL, NULL, NULL);
    nd__db_view_drop_all(db);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(db->st[i]);
    sqlite3_close(db->conn);
    free(db);
}

/* ---------------------------------------------------- transactions */

int nd_db_begin(nd_db *db)
{
    int rc = nd__db_tx_begin(db);
    if (rc == 0)
        db->batch = 1;
    return rc;
}

int nd_db_commit(nd_db *db)
{
    ND_DB_ASSERT(db->batch && "nd_db_commit without nd_db_begin");
    db->batch = 0;
    int rc = nd__db_tx_end(db, 0);
    if (rc < 0) /* views read inside the batch may be gone */
        nd__db_view_drop_all(db);
    return rc;
}

int nd_db_rollback(nd_db *db)
{
    ND_DB_ASSERT(db->batch && "nd_db_rollback without nd_db_begin");
    db->batch = 0;
    nd__db_view_drop_all(db); /* views read inside the batch are gone */
    return nd__db_exec(db, db->st[ST_ROLLBACK]);
}
