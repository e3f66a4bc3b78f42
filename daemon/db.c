/*
 * db.c - nasd's SQLite layer: migrations at open, the job queue, event
 * writes and the JSON views the API serialises.
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
 * view_drop first). Durability: WAL with synchronous=FULL fsyncs the log
 * at every commit; NORMAL would only fsync at checkpoints, so a power loss
 * could drop a job after its 202 had been sent.
 */
#include "db.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <sqlite3.h>

#define ND_DB_ASSERT(cond) \
    ((cond) ? (void)0 : db_abort(__FILE__, __LINE__, #cond))

static void db_abort(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, what);
    abort();
}

/* ------------------------------------------------------- statements */

/* The columns of a job view, in the order of enum job_col. */
#define JOB_COLS \
    "SELECT j.seq, j.id, j.name, j.algorithm, j.search_space, j.dataset," \
    " j.state, j.spec, j.created_at, j.started_at, j.finished_at," \
    " j.updated_at, j.attempt, j.error, j.progress, j.checkpoint_step," \
    " j.cancel_requested, a.seq, a.arch, a.reward, a.metrics, a.t," \
    " r.architecture, r.metric, r.value, r.result, r.t" \
    " FROM jobs j" \
    " LEFT JOIN architectures a ON a.seq = (SELECT b.seq FROM architectures b" \
    "  WHERE b.job_id = j.id ORDER BY b.reward DESC, b.seq LIMIT 1)" \
    " LEFT JOIN results r ON r.job_id = j.id"

enum job_col {
    JC_SEQ, JC_ID, JC_NAME, JC_ALGORITHM, JC_SEARCH_SPACE, JC_DATASET,
    JC_STATE, JC_SPEC, JC_CREATED, JC_STARTED, JC_FINISHED, JC_UPDATED,
    JC_ATTEMPT, JC_ERROR, JC_PROGRESS, JC_CKPT_STEP, JC_CANCEL,
    JC_ARCH,        /* seq, arch, reward, metrics, t: as in ST_ARCH_LIST */
    JC_RESULT = JC_ARCH + 5,   /* as in ST_RESULT_GET */
};

enum st_id {
    ST_BEGIN, ST_COMMIT, ST_ROLLBACK,
    ST_JOB_GET, ST_JOB_LIST, ST_JOB_LIST_STATE, ST_METRIC_LATEST,
    ST_JOB_STATE, ST_JOB_BY_IDEM, ST_JOB_INSERT,
    ST_CLAIM_PICK, ST_CLAIM_SET, ST_FINISH,
    ST_CANCEL_QUEUED, ST_CANCEL_RUNNING, ST_JOB_DELETE,
    ST_REQUEUE_CANCELLED, ST_REQUEUE, ST_QUEUE_LENGTH, ST_COUNT_STATES,
    ST_CLAIM_CLEAN, ST_REWIND_METRICS, ST_REWIND_ARCHS, ST_REWIND_RESULT,
    ST_REWIND_LATEST_DEL, ST_REWIND_LATEST_ADD, ST_STOPPED_CLEAN,
    ST_REQUEUE_FAIL, ST_SEQ_EXISTS_METRIC, ST_SEQ_EXISTS_ARCH,
    ST_SEQ_BEFORE_METRIC, ST_SEQ_BEFORE_ARCH, ST_SEQ_MAX,
    ST_PROGRESS, ST_METRIC_ADD, ST_ARCH_ADD, ST_CHECKPOINT, ST_RESULT_SET,
    ST_METRICS_LIST, ST_ARCH_LIST, ST_RESULT_GET,
    ST_COUNT
};

static const char *const st_sql[] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_JOB_GET] = JOB_COLS " WHERE j.id = ?1",
    [ST_JOB_LIST] = JOB_COLS " WHERE j.seq < ?1 ORDER BY j.seq DESC LIMIT ?2",
    [ST_JOB_LIST_STATE] = JOB_COLS
        " WHERE j.state = ?3 AND j.seq < ?1 ORDER BY j.seq DESC LIMIT ?2",
    [ST_METRIC_LATEST] =
        "SELECT name, value, epoch, step FROM metric_latest"
        " WHERE job_id = ?1 ORDER BY name",
    [ST_JOB_STATE] = "SELECT state, checkpoint_path FROM jobs WHERE id = ?1",
    [ST_JOB_BY_IDEM] =
        "SELECT id, request_hash FROM jobs WHERE idempotency_key = ?1",
    [ST_JOB_INSERT] =
        "INSERT INTO jobs (id, name, algorithm, search_space, dataset, spec,"
        " state, created_at, updated_at, idempotency_key, request_hash)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?7, ?8, ?9)",
    [ST_CLAIM_PICK] =
        "SELECT seq, id, spec, checkpoint_path, checkpoint_step, attempt,"
        " ckpt_metric_seq, ckpt_arch_seq"
        " FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1",
    [ST_CLAIM_SET] =
        "UPDATE jobs SET state = 'running', attempt = attempt + 1,"
        " started_at = coalesce(started_at, ?2), updated_at = ?2,"
        " clean_stop = 0 WHERE seq = ?1",
    /* The rewind of a claim: what the job reported after the checkpoint
     * it resumes from (?2: metrics, ?3: architectures) goes. */
    [ST_CLAIM_CLEAN] =
        "UPDATE jobs SET progress = NULL WHERE id = ?1",
    [ST_REWIND_METRICS] =
        "DELETE FROM metrics WHERE job_id = ?1 AND seq > ?2",
    [ST_REWIND_ARCHS] =
        "DELETE FROM architectures WHERE job_id = ?1 AND seq > ?2",
    [ST_REWIND_RESULT] = "DELETE FROM results WHERE job_id = ?1",
    [ST_REWIND_LATEST_DEL] = "DELETE FROM metric_latest WHERE job_id = ?1",
    [ST_REWIND_LATEST_ADD] =
        "INSERT INTO metric_latest (job_id, name, value, epoch, step, t)"
        " SELECT job_id, name, value, epoch, step, t FROM metrics m"
        " WHERE job_id = ?1 AND seq = (SELECT max(seq) FROM metrics"
        "  WHERE job_id = ?1 AND name = m.name)",
    [ST_STOPPED_CLEAN] =
        "UPDATE jobs SET clean_stop = 1 WHERE id = ?1 AND state = 'running'",
    /* Jobs that were running when nasd died (no clean stop) count a
     * crash; at the cap they fail instead of being requeued. */
    [ST_REQUEUE_FAIL] =
        "UPDATE jobs SET crashes = crashes + 1 - clean_stop, clean_stop = 0,"
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
    [ST_SEQ_EXISTS_METRIC] =
        "SELECT 1 FROM metrics WHERE seq = ?2 AND job_id = ?1",
    [ST_SEQ_EXISTS_ARCH] =
        "SELECT 1 FROM architectures WHERE seq = ?2 AND job_id = ?1",
    [ST_SEQ_BEFORE_METRIC] =
        "SELECT coalesce(max(seq), 0) FROM metrics WHERE job_id = ?1"
        " AND seq < ?2",
    [ST_SEQ_BEFORE_ARCH] =
        "SELECT coalesce(max(seq), 0) FROM architectures WHERE job_id = ?1"
        " AND seq < ?2",
    [ST_SEQ_MAX] =
        "SELECT coalesce((SELECT max(seq) FROM metrics WHERE job_id = ?1), 0),"
        " coalesce((SELECT max(seq) FROM architectures WHERE job_id = ?1), 0)",
    [ST_FINISH] =
        "UPDATE jobs SET state = ?2, error = ?3, finished_at = ?4,"
        " updated_at = ?4 WHERE id = ?1 AND state IN ('queued', 'running')",
    [ST_CANCEL_QUEUED] =
        "UPDATE jobs SET state = 'cancelled', finished_at = ?2,"
        " updated_at = ?2 WHERE id = ?1 AND state = 'queued'",
    [ST_CANCEL_RUNNING] =
        "UPDATE jobs SET cancel_requested = 1, updated_at = ?2"
        " WHERE id = ?1 AND state = 'running'",
    [ST_JOB_DELETE] = "DELETE FROM jobs WHERE id = ?1",
    [ST_REQUEUE_CANCELLED] =
        "UPDATE jobs SET state = 'cancelled', finished_at = ?1,"
        " updated_at = ?1 WHERE state = 'running' AND cancel_requested = 1",
    [ST_REQUEUE] =
        "UPDATE jobs SET state = 'queued', updated_at = ?1"
        " WHERE state = 'running'",
    [ST_QUEUE_LENGTH] = "SELECT count(*) FROM jobs WHERE state = 'queued'",
    [ST_COUNT_STATES] = "SELECT state, count(*) FROM jobs GROUP BY state",
    [ST_PROGRESS] =
        "UPDATE jobs SET progress = ?2, updated_at = ?3 WHERE id = ?1",
    [ST_METRIC_ADD] =
        "INSERT INTO metrics (job_id, epoch, step, name, value, t)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_ARCH_ADD] =
        "INSERT INTO architectures (job_id, arch, reward, metrics, t)"
        " VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_CHECKPOINT] =
        "UPDATE jobs SET checkpoint_path = ?2, checkpoint_step = ?3,"
        " updated_at = ?4,"
        " ckpt_metric_seq = coalesce((SELECT max(seq) FROM metrics"
        "  WHERE job_id = ?1), 0),"
        " ckpt_arch_seq = coalesce((SELECT max(seq) FROM architectures"
        "  WHERE job_id = ?1), 0)"
        " WHERE id = ?1",
    [ST_RESULT_SET] =
        "INSERT INTO results (job_id, architecture, metric, value, result, t)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (job_id) DO UPDATE SET"
        " architecture = excluded.architecture, metric = excluded.metric,"
        " value = excluded.value, result = excluded.result, t = excluded.t",
    [ST_METRICS_LIST] =
        "SELECT seq, epoch, step, name, value, t FROM metrics"
        " WHERE job_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    [ST_ARCH_LIST] =
        "SELECT seq, arch, reward, metrics, t FROM architectures"
        " WHERE job_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    [ST_RESULT_GET] =
        "SELECT architecture, metric, value, result, t FROM results"
        " WHERE job_id = ?1",
};
static_assert(sizeof st_sql / sizeof st_sql[0] == ST_COUNT,
              "st_sql[] and enum st_id out of step");

/* A job view rendered once, handed out as shallow copies until a write
 * through this connection touches the job. Direct-mapped by id hash. */
#define VIEW_SLOTS 256

struct view {
    char id[33];
    json_t *job;            /* NULL: empty slot */
    char *memo;             /* the caller's text derived from job, or NULL */
    size_t memo_len;
};

struct nd_db {
    sqlite3 *conn;
    sqlite3_stmt *st[ST_COUNT];
    int batch;              /* inside nd_db_begin() .. nd_db_commit() */
    char err[256];          /* the last error, copied when it happened */
    struct view views[VIEW_SLOTS];
};

static struct view *view_of(nd_db *db, const char *id)
{
    uint32_t h = 2166136261u;           /* FNV-1a */
    for (const char *p = id; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return &db->views[h % VIEW_SLOTS];
}

/* Every write that may change the view of job id calls this first. */
static void view_drop(nd_db *db, const char *id)
{
    struct view *v = view_of(db, id);
    if (v->job && strcmp(v->id, id) == 0) {
        json_decref(v->job);
        v->job = NULL;
        free(v->memo);
        v->memo = NULL;
    }
}

static void view_drop_all(nd_db *db)
{
    for (int i = 0; i < VIEW_SLOTS; i++) {
        json_decref(db->views[i].job);
        db->views[i].job = NULL;
        free(db->views[i].memo);
        db->views[i].memo = NULL;
    }
}

/* ------------------------------------------------------------ names */

static const char *const state_names[] = {
    [ND_DB_QUEUED] = "queued",
    [ND_DB_RUNNING] = "running",
    [ND_DB_SUCCEEDED] = "succeeded",
    [ND_DB_FAILED] = "failed",
    [ND_DB_CANCELLED] = "cancelled",
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

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Records SQLite's message and maps its error to a code. */
static int sql_fail(nd_db *db)
{
    int ext = sqlite3_extended_errcode(db->conn);
    snprintf(db->err, sizeof db->err, "%s", sqlite3_errmsg(db->conn));
    if ((ext & 0xff) == SQLITE_BUSY)    /* only another process can */
        snprintf(db->err, sizeof db->err, "the database is locked by "
                 "another process (another nasd on this state "
                 "directory?)");
    if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
        return ND_DB_NOTFOUND;
    if (ext == SQLITE_NOMEM)
        return ND_DB_NOMEM;
    return ND_DB_ERROR;
}

static int nomem(nd_db *db)
{
    snprintf(db->err, sizeof db->err, "out of memory");
    return ND_DB_NOMEM;
}

/* Every use of a cached statement ends here. */
static void st_done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

static int bind_text(sqlite3_stmt *s, int i, const char *text)
{
    if (!text)
        return sqlite3_bind_null(s, i);
    return sqlite3_bind_text(s, i, text, -1, SQLITE_STATIC);
}

/* Steps a statement that returns no rows, then resets it. */
static int st_exec(nd_db *db, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : sql_fail(db);
    st_done(s);
    return rc;
}

/* Runs s, whose bindings returned bind_rc (the OR of the bind calls):
 * when one failed, records it and resets s instead. */
static int exec_bound(nd_db *db, sqlite3_stmt *s, int bind_rc)
{
    if (bind_rc) {
        int rc = sql_fail(db);
        st_done(s);
        return rc;
    }
    return st_exec(db, s);
}

/* The transactional calls: begin, and end with commit when rc >= 0, else
 * (or when the commit fails) roll back. Returns the final code. */
static int tx_begin(nd_db *db)
{
    ND_DB_ASSERT(!db->batch && "a self-committing call inside a batch");
    return st_exec(db, db->st[ST_BEGIN]);
}

static int tx_end(nd_db *db, int rc)
{
    if (rc >= 0) {
        int c = st_exec(db, db->st[ST_COMMIT]);
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

static char *dup_column(sqlite3_stmt *s, int i, int *oom)
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

/* ------------------------------------------------------ JSON values */

static json_t *col_text(sqlite3_stmt *s, int i)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    if (!t)
        return json_null();
    json_t *v = json_stringn(t, (size_t)sqlite3_column_bytes(s, i));
    return v ? v : json_null();
}

/* Stored JSON text, parsed; null when absent or unparseable. */
static json_t *col_json(sqlite3_stmt *s, int i)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    if (!t)
        return json_null();
    json_t *v = json_loadb(t, (size_t)sqlite3_column_bytes(s, i),
                           JSON_DECODE_ANY, NULL);
    return v ? v : json_null();
}

static json_t *col_int(sqlite3_stmt *s, int i)
{
    if (sqlite3_column_type(s, i) == SQLITE_NULL)
        return json_null();
    return json_integer(sqlite3_column_int64(s, i));
}

static json_t *real_json(double v)
{
    json_t *j = isfinite(v) ? json_real(v) : NULL;
    return j ? j : json_null();
}

static json_t *col_real(sqlite3_stmt *s, int i)
{
    if (sqlite3_column_type(s, i) == SQLITE_NULL)
        return json_null();
    return real_json(sqlite3_column_double(s, i));
}

/* Writes n decimal digits of v at p. */
static char *put_digits(char *p, int v, int n)
{
    for (int i = n - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
    return p + n;
}

/* "2026-11-28T01:02:03.456Z" from unix seconds; null outside years
 * 0000-9999. */
static json_t *time_json(double t)
{
    char buf[32], *p = buf;
    struct tm tm;
    if (!isfinite(t) || fabs(t) > 1e14)
        return json_null();
    double x = t * 1000.0;     /* rounded to the nearest ms, no libm */
    int64_t ms = (int64_t)(x >= 0 ? x + 0.5 : x - 0.5);
    int64_t sec = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        sec -= 1;
    }
    time_t tt = (time_t)sec;
    if (!gmtime_r(&tt, &tm) || tm.tm_year < -1900 || tm.tm_year > 8099)
        return json_null();
    p = put_digits(p, tm.tm_year + 1900, 4);
    *p++ = '-';
    p = put_digits(p, tm.tm_mon + 1, 2);
    *p++ = '-';
    p = put_digits(p, tm.tm_mday, 2);
    *p++ = 'T';
    p = put_digits(p, tm.tm_hour, 2);
    *p++ = ':';
    p = put_digits(p, tm.tm_min, 2);
    *p++ = ':';
    p = put_digits(p, tm.tm_sec, 2);
    *p++ = '.';
    p = put_digits(p, (int)frac, 3);
    *p++ = 'Z';
    json_t *v = json_stringn_nocheck(buf, (size_t)(p - buf));
    return v ? v : json_null();
}

static json_t *col_time(sqlite3_stmt *s, int i)
{
    if (sqlite3_column_type(s, i) == SQLITE_NULL)
        return json_null();
    return time_json(sqlite3_column_double(s, i));
}

/* json_object_set_new fails (and frees nothing) only when v is NULL or
 * memory runs out; callers OR the results and check once. */
static int put(json_t *o, const char *key, json_t *v)
{
    return json_object_set_new(o, key, v) ? 1 : 0;
}

static json_t *col_bool(sqlite3_stmt *s, int i)
{
    return json_boolean(sqlite3_column_int(s, i));
}

/* A JSON key and how to read its column; a table of these maps
 * consecutive columns to keys, in order. */
struct field {
    const char *key;
    json_t *(*col)(sqlite3_stmt *s, int i);
};
#define NFIELDS(f) ((int)(sizeof (f) / sizeof (f)[0]))

/* Puts the n fields of columns base, base + 1, ... into o; nonzero when
 * any put failed. */
static int put_fields(json_t *o, sqlite3_stmt *s, int base,
                      const struct field *f, int n)
{
    int bad = 0;
    for (int i = 0; i < n; i++)
        bad |= put(o, f[i].key, f[i].col(s, base + i));
    return bad;
}

/* A new object of the n fields from column base; NULL on no memory. */
static json_t *fields_json(sqlite3_stmt *s, int base, const struct field *f,
                           int n)
{
    json_t *o = json_object();
    if (o && put_fields(o, s, base, f, n)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Columns seq, arch, reward, metrics, t. */
static const struct field arch_fields[] = {
    {"seq", col_int}, {"arch", col_json}, {"reward", col_real},
    {"metrics", col_json}, {"t", col_time},
};

/* Columns architecture, metric, value, result, t. */
static const struct field result_fields[] = {
    {"architecture", col_json}, {"metric", col_text}, {"value", col_real},
    {"details", col_json}, {"t", col_time},
};

static json_t *arch_json(sqlite3_stmt *s, int base)
{
    return fields_json(s, base, arch_fields, NFIELDS(arch_fields));
}

static json_t *result_json(sqlite3_stmt *s, int base)
{
    return fields_json(s, base, result_fields, NFIELDS(result_fields));
}

/* Binds id to ?1 of s and steps to its row: 0 on a row, ND_DB_NOTFOUND
 * on none, else an error. The caller st_done()s s. */
static int row_by_id(nd_db *db, sqlite3_stmt *s, const char *id)
{
    if (bind_text(s, 1, id) != SQLITE_OK)
        return sql_fail(db);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW)
        return 0;
    return step == SQLITE_DONE ? ND_DB_NOTFOUND : sql_fail(db);
}

/* {"<name>": {value, epoch, step}} of job id. */
static int latest_metrics(nd_db *db, const char *id, json_t **out)
{
    sqlite3_stmt *s = db->st[ST_METRIC_LATEST];
    json_t *o = json_object(), *m = NULL;
    int rc = 0, step;
    if (!o) {
        rc = nomem(db);
        goto fail;
    }
    if (bind_text(s, 1, id) != SQLITE_OK) {
        rc = sql_fail(db);
        goto fail;
    }
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        static const struct field f[] = {
            {"value", col_real}, {"epoch", col_int}, {"step", col_int},
        };
        const char *name = (const char *)sqlite3_column_text(s, 0);
        m = fields_json(s, 1, f, NFIELDS(f));
        if (!name || !m) {
            rc = nomem(db);
            goto fail;
        }
        if (json_object_set_new(o, name, m)) {
            m = NULL;
            rc = nomem(db);
            goto fail;
        }
        m = NULL;
    }
    if (step != SQLITE_DONE) {
        rc = sql_fail(db);
        goto fail;
    }
    st_done(s);
    *out = o;
    return 0;
fail:
    st_done(s);
    json_decref(m);
    json_decref(o);
    return rc;
}

/* The job view of the current row of a JOB_COLS statement. */
static int job_json(nd_db *db, sqlite3_stmt *s, json_t **out)
{
    json_t *o = json_object(), *metrics = NULL, *v;
    int rc = 0, bad = 0;
    if (!o) {
        rc = nomem(db);
        goto fail;
    }
    /* Columns JC_ID .. JC_PROGRESS, in order. */
    static const struct field f[] = {
        {"id", col_text}, {"name", col_text}, {"algorithm", col_text},
        {"search_space", col_text}, {"dataset", col_text},
        {"state", col_text}, {"spec", col_json}, {"created_at", col_time},
        {"started_at", col_time}, {"finished_at", col_time},
        {"updated_at", col_time}, {"attempt", col_int}, {"error", col_text},
        {"progress", col_json},
    };
    static_assert(JC_PROGRESS - JC_ID + 1 == NFIELDS(f),
                  "job fields and enum job_col out of step");
    bad |= put_fields(o, s, JC_ID, f, NFIELDS(f));
    if (sqlite3_column_type(s, JC_CKPT_STEP) == SQLITE_NULL) {
        v = json_null();
    } else {
        v = json_object();
        if (v && put(v, "step", col_int(s, JC_CKPT_STEP))) {
            json_decref(v);
            v = NULL;
        }
    }
    bad |= put(o, "checkpoint", v);
    if (bad) {
        rc = nomem(db);
        goto fail;
    }
    rc = latest_metrics(db, (const char *)sqlite3_column_text(s, JC_ID),
                        &metrics);
    if (rc < 0)
        goto fail;
    bad |= put(o, "metrics", metrics);
    if (sqlite3_column_type(s, JC_ARCH) == SQLITE_NULL)
        bad |= put(o, "best_architecture", json_null());
    else
        bad |= put(o, "best_architecture", arch_json(s, JC_ARCH));
    if (sqlite3_column_type(s, JC_RESULT + 4) == SQLITE_NULL)
        bad |= put(o, "result", json_null());
    else
        bad |= put(o, "result", result_json(s, JC_RESULT));
    bad |= put(o, "cancel_requested", col_bool(s, JC_CANCEL));
    if (bad) {
        rc = nomem(db);
        goto fail;
    }
    *out = o;
    return 0;
fail:
    json_decref(o);
    return rc;
}

/* ------------------------------------------------------------- open */

static int pragma_int(nd_db *db, const char *sql, int *value)
{
    sqlite3_stmt *s = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(db->conn, sql, -1, &s, NULL) != SQLITE_OK) {
        rc = sql_fail(db);
        goto fail;
    }
    if (sqlite3_step(s) != SQLITE_ROW) {
        rc = sql_fail(db);
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
    return sql_fail(db);
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
    if (sqlite3_prepare_v2(db->conn, "PRAGMA journal_mode = WAL", -1, &s,
                           NULL) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW) {
        rc = sql_fail(db);
        goto fail;
    }
    const char *mode = (const char *)sqlite3_column_text(s, 0);
    if (!mode || strcmp(mode, "wal") != 0) {
        snprintf(db->err, sizeof db->err,
                 "cannot use WAL journal mode (got %s): is the state "
                 "directory on a local file system?", mode ? mode : "?");
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
        snprintf(db->err, sizeof db->err,
                 "this SQLite cannot enforce foreign keys");
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
                 "(%d): refusing to open it; use a newer nasd", have, known);
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
            snprintf(db->err, sizeof db->err, "migration %.40s: %.200s",
                     m->name, why);
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
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (sqlite3_open_v2(path, &db->conn, SQLITE_OPEN_READWRITE |
                        SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rc = db->conn ? sql_fail(db) : ND_DB_NOMEM;
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
        if (sqlite3_prepare_v3(db->conn, st_sql[i], -1,
                               SQLITE_PREPARE_PERSISTENT, &db->st[i],
                               NULL) != SQLITE_OK) {
            rc = sql_fail(db);
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
    view_drop_all(db);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(db->st[i]);
    sqlite3_close(db->conn);
    free(db);
}

/* ------------------------------------------------------------- jobs */

/* The job view of id, with db->st[ST_JOB_GET]. */
static int job_get(nd_db *db, const char *id, json_t **job_out)
{
    sqlite3_stmt *s = db->st[ST_JOB_GET];
    int rc = row_by_id(db, s, id);
    if (rc == 0)
        rc = job_json(db, s, job_out);
    st_done(s);
    return rc;
}

int nd_db_job_get(nd_db *db, const char *id, json_t **job_out)
{
    struct view *v = view_of(db, id);
    json_t *job = NULL;
    int rc = 0;
    *job_out = NULL;
    if (strlen(id) != 32) {     /* the CHECK on jobs.id: cannot exist */
        rc = ND_DB_NOTFOUND;
        goto fail;
    }
    if (!v->job || strcmp(v->id, id) != 0) {
        rc = job_get(db, id, &job);
        if (rc < 0)
            goto fail;
        json_decref(v->job);
        free(v->memo);
        v->memo = NULL;
        v->job = job;
        memcpy(v->id, id, sizeof v->id);
    }
    /* Shallow: the caller may change the top level freely. */
    *job_out = json_copy(v->job);
    if (!*job_out)
        rc = nomem(db);
fail:
    return rc;
}

const char *nd_db_job_memo(nd_db *db, const char *id, size_t *len)
{
    struct view *v = view_of(db, id);
    if (!v->job || !v->memo || strcmp(v->id, id) != 0)
        return NULL;
    *len = v->memo_len;
    return v->memo;
}

void nd_db_job_memo_set(nd_db *db, const char *id, const char *text, size_t len)
{
    struct view *v = view_of(db, id);
    if (!v->job || strcmp(v->id, id) != 0)
        return;     /* no view to tie it to: nothing would drop it */
    char *m = malloc(len + 1);
    if (!m)
        return;
    memcpy(m, text, len);
    m[len] = '\0';
    free(v->memo);
    v->memo = m;
    v->memo_len = len;
}

int nd_db_job_state(nd_db *db, const char *id, int *state_out)
{
    sqlite3_stmt *s = db->st[ST_JOB_STATE];
    int rc = row_by_id(db, s, id);
    if (rc == 0) {
        *state_out = nd_db_state_parse((const char *)sqlite3_column_text(s, 0));
        ND_DB_ASSERT(*state_out >= 0 && "the CHECK constraint allows it");
    }
    st_done(s);
    return rc;
}

/* The job that idem_key names: 1 with its id in old_id when request_hash
 * matches the stored one (both NULL match), ND_DB_IDEM_CONFLICT when it
 * does not, 0 when no job has the key, < 0 on a database error. */
static int idem_lookup(nd_db *db, const char *idem_key,
                       const char *request_hash, char old_id[33])
{
    sqlite3_stmt *s = db->st[ST_JOB_BY_IDEM];
    if (bind_text(s, 1, idem_key) != SQLITE_OK) {
        st_done(s);
        return sql_fail(db);
    }
    int step = sqlite3_step(s);
    if (step == SQLITE_DONE) {
        st_done(s);
        return 0;
    }
    if (step != SQLITE_ROW) {
        int rc = sql_fail(db);
        st_done(s);
        return rc;
    }
    const char *had = (const char *)sqlite3_column_text(s, 1);
    int same = (!had && !request_hash) ||
               (had && request_hash && strcmp(had, request_hash) == 0);
    snprintf(old_id, 33, "%s", (const char *)sqlite3_column_text(s, 0));
    st_done(s);
    return same ? 1 : ND_DB_IDEM_CONFLICT;
}

int nd_db_job_by_idem(nd_db *db, const char *idem_key,
                      const char *request_hash, json_t **job_out)
{
    char old_id[33];
    *job_out = NULL;
    int rc = idem_lookup(db, idem_key, request_hash, old_id);
    if (rc != 1)
        return rc;
    rc = job_get(db, old_id, job_out);
    return rc == 0 ? ND_DB_IDEM_SAME : rc;
}

int nd_db_job_insert(nd_db *db, const char *id, const char *name,
                     const char *algorithm, const char *search_space,
                     const char *dataset, const char *spec_json,
                     const char *idem_key, const char *request_hash,
                     json_t **job_out)
{
    view_drop(db, id);
    sqlite3_stmt *s = NULL;
    int rc;
    json_t *job = NULL;
    if (job_out)
        *job_out = NULL;
    rc = tx_begin(db);
    if (rc < 0)
        return rc;
    if (idem_key) {
        char old_id[33];
        rc = idem_lookup(db, idem_key, request_hash, old_id);
        if (rc == 1) {
            rc = job_out ? job_get(db, old_id, &job) : 0;
            if (rc == 0)
                rc = ND_DB_IDEM_SAME;
        }
        if (rc != 0)
            goto fail;
    }
    s = db->st[ST_JOB_INSERT];
    if (bind_text(s, 1, id) | bind_text(s, 2, name) |
        bind_text(s, 3, algorithm) | bind_text(s, 4, search_space) |
        bind_text(s, 5, dataset) | bind_text(s, 6, spec_json) |
        sqlite3_bind_double(s, 7, now_seconds()) |
        bind_text(s, 8, idem_key) | bind_text(s, 9, request_hash)) {
        rc = sql_fail(db);
        goto fail;
    }
    rc = st_exec(db, s);
    s = NULL;
    if (rc == 0 && job_out)
        rc = job_get(db, id, &job);
fail:
    if (s)
        st_done(s);
    rc = tx_end(db, rc);
    if (rc >= 0 && job_out)
        *job_out = job;
    else
        json_decref(job);
    return rc;
}

/* Page tokens: "s" and the seq of the last job shown, in base 36. */
static void token_make(int64_t seq, char out[16])
{
    char tmp[16];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdefghijklmnopqrstuvwxyz"[seq % 36];
        seq /= 36;
    } while (seq > 0);
    out[0] = 's';
    for (int i = 0; i < n; i++)
        out[1 + i] = tmp[n - 1 - i];
    out[1 + n] = '\0';
}

static int token_parse(const char *token, int64_t *seq)
{
    int64_t v = 0;
    size_t n = strlen(token);
    if (n < 2 || n > 13 || token[0] != 's')
        return ND_DB_BADTOKEN;
    for (size_t i = 1; i < n; i++) {
        char c = token[i];
        int d = c >= '0' && c <= '9' ? c - '0'
              : c >= 'a' && c <= 'z' ? c - 'a' + 10 : -1;
        if (d < 0)
            return ND_DB_BADTOKEN;
        v = v * 36 + d;     /* 12 digits of base 36 fit in 63 bits */
    }
    if (v <= 0)
        return ND_DB_BADTOKEN;
    *seq = v;
    return 0;
}

/* The row reader of a paged list: the value of the current row of s in
 * *out, or an error code. */
typedef int row_fn(nd_db *db, sqlite3_stmt *s, json_t **out);

/* One page of the rows of s, which the caller bound (bind_rc: the OR of
 * the bind calls) to return up to limit + 1 rows ordered by the seq in
 * column seq_col: {key: [row(s), ... up to limit],
 * next_key: next(the seq of the last row shown) when there are more,
 * else null}. Resets s. */
static int page_list(nd_db *db, sqlite3_stmt *s, int bind_rc, int limit,
                     row_fn *row, int seq_col, const char *key,
                     const char *next_key, json_t *(*next)(int64_t),
                     json_t **out)
{
    json_t *page = NULL, *items = NULL, *item;
    int64_t last = 0;
    int rc = 0, n = 0, more = 0, step;
    if (bind_rc) {
        rc = sql_fail(db);
        goto fail;
    }
    page = json_object();
    items = json_array();
    if (!page || !items) {
        rc = nomem(db);
        goto fail;
    }
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == limit) {
            more = 1;
            break;
        }
        rc = row(db, s, &item);
        if (rc < 0)
            goto fail;
        /* json_array_append_new takes item even when it fails. */
        if (json_array_append_new(items, item)) {
            rc = nomem(db);
            goto fail;
        }
        last = sqlite3_column_int64(s, seq_col);
        n++;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        rc = sql_fail(db);
        goto fail;
    }
    int bad = put(page, key, items);
    items = NULL;
    bad |= put(page, next_key, more ? next(last) : json_null());
    if (bad) {
        rc = nomem(db);
        goto fail;
    }
    *out = page;
    page = NULL;
fail:
    st_done(s);
    json_decref(items);
    json_decref(page);
    return rc;
}

static json_t *next_token(int64_t last)
{
    char token[16];
    token_make(last, token);
    return json_string(token);
}

int nd_db_job_list(nd_db *db, const char *state, int page_size,
                   const char *page_token, json_t **page_out)
{
    int64_t before = INT64_MAX;
    *page_out = NULL;
    if (page_token && token_parse(page_token, &before) < 0)
        return ND_DB_BADTOKEN;
    if (state && nd_db_state_parse(state) < 0)
        return ND_DB_INVAL;
    page_size = page_size <= 0 ? 50 : page_size > 1000 ? 1000 : page_size;
    sqlite3_stmt *s = db->st[state ? ST_JOB_LIST_STATE : ST_JOB_LIST];
    int bind_rc = sqlite3_bind_int64(s, 1, before) |
                  sqlite3_bind_int(s, 2, page_size + 1) |
                  (state ? bind_text(s, 3, state) : SQLITE_OK);
    return page_list(db, s, bind_rc, page_size, job_json, JC_SEQ, "jobs",
                     "next_page_token", next_token, page_out);
}

/* exec_bound() of one of the rewind statements (?1 the job, ?2 a seq
 * when the statement has it); adds the rows it changed to *rows. */
static int rewind_exec(nd_db *db, enum st_id which, const char *id,
                       int64_t after, int *rows)
{
    sqlite3_stmt *s = db->st[which];
    int bind_rc = bind_text(s, 1, id);
    if (sqlite3_bind_parameter_count(s) >= 2)
        bind_rc |= sqlite3_bind_int64(s, 2, after);
    int rc = exec_bound(db, s, bind_rc);
    if (rc == 0 && rows)
        *rows += sqlite3_changes(db->conn);
    return rc;
}

/* The job's history back to its checkpoint (inside the claim's
 * transaction). */
static int rewind_job(nd_db *db, const char *id, nd_db_rewind *rw)
{
    int rc, rows = 0;
    if ((rc = rewind_exec(db, ST_REWIND_METRICS, id, rw->metrics_after, &rows)) < 0 ||
        (rc = rewind_exec(db, ST_REWIND_ARCHS, id, rw->archs_after, &rows)) < 0 ||
        (rc = rewind_exec(db, ST_REWIND_RESULT, id, 0, &rows)) < 0 ||
        (rc = rewind_exec(db, ST_CLAIM_CLEAN, id, 0, NULL)) < 0)
        return rc;
    rw->rows = rows;
    if (rows > 0 &&
        ((rc = rewind_exec(db, ST_REWIND_LATEST_DEL, id, 0, NULL)) < 0 ||
         (rc = rewind_exec(db, ST_REWIND_LATEST_ADD, id, 0, NULL)) < 0))
        return rc;
    return 0;
}

int nd_db_job_claim(nd_db *db, char id[33], char **spec_json,
                    char **checkpoint_path, int64_t *checkpoint_step,
                    int *attempt, nd_db_rewind *rewind)
{
    sqlite3_stmt *s = db->st[ST_CLAIM_PICK];
    int rc, step, oom = 0;
    int64_t seq;
    nd_db_rewind rw = {0};
    id[0] = '\0';
    *spec_json = *checkpoint_path = NULL;
    *checkpoint_step = 0;
    *attempt = 0;
    if (rewind)
        memset(rewind, 0, sizeof *rewind);
    rc = tx_begin(db);
    if (rc < 0)
        return rc;
    step = sqlite3_step(s);
    if (step == SQLITE_DONE) {
        rc = ND_DB_NOTFOUND;
        goto fail;
    }
    if (step != SQLITE_ROW) {
        rc = sql_fail(db);
        goto fail;
    }
    seq = sqlite3_column_int64(s, 0);
    snprintf(id, 33, "%s", (const char *)sqlite3_column_text(s, 1));
    view_drop(db, id);
    *spec_json = dup_column(s, 2, &oom);
    *checkpoint_path = dup_column(s, 3, &oom);
    *checkpoint_step = sqlite3_column_int64(s, 4);
    *attempt = sqlite3_column_int(s, 5) + 1;
    /* Without a checkpoint the job starts afresh: all its rows go. */
    if (*checkpoint_path) {
        rw.metrics_after = sqlite3_column_int64(s, 6);
        rw.archs_after = sqlite3_column_int64(s, 7);
        rw.step = *checkpoint_step;
    }
    st_done(s);
    if (oom || !*spec_json) {
        rc = nomem(db);
        goto fail;
    }
    s = db->st[ST_CLAIM_SET];
    rc = exec_bound(db, s, sqlite3_bind_int64(s, 1, seq) |
                    sqlite3_bind_double(s, 2, now_seconds()));
    if (rc == 0)
        rc = rewind_job(db, id, &rw);
fail:
    st_done(s);
    rc = tx_end(db, rc);
    if (rc < 0) {
        free(*spec_json);
        free(*checkpoint_path);
        *spec_json = *checkpoint_path = NULL;
        id[0] = '\0';
    } else if (rewind)
        *rewind = rw;
    return rc;
}

/* A state other than queued/running: ND_DB_STATE or ND_DB_NOTFOUND. */
static int not_active(nd_db *db, const char *id)
{
    int state, rc = nd_db_job_state(db, id, &state);
    return rc < 0 ? rc : ND_DB_STATE;
}

int nd_db_job_finish(nd_db *db, const char *id, int state, const char *error)
{
    view_drop(db, id);
    sqlite3_stmt *s = db->st[ST_FINISH];
    int rc;
    if (state != ND_DB_SUCCEEDED && state != ND_DB_FAILED &&
        state != ND_DB_CANCELLED)
        return ND_DB_INVAL;
    rc = exec_bound(db, s, bind_text(s, 1, id) |
                    bind_text(s, 2, state_names[state]) |
                    bind_text(s, 3, error) |
                    sqlite3_bind_double(s, 4, now_seconds()));
    if (rc == 0 && sqlite3_changes(db->conn) == 0)
        rc = not_active(db, id);
    return rc;
}

int nd_db_job_cancel(nd_db *db, const char *id, int *state_out)
{
    view_drop(db, id);
    sqlite3_stmt *s = NULL;
    int rc, state = -1;
    rc = tx_begin(db);
    if (rc < 0)
        return rc;
    rc = nd_db_job_state(db, id, &state);
    if (rc < 0)
        goto fail;
    if (state == ND_DB_QUEUED)
        s = db->st[ST_CANCEL_QUEUED];
    else if (state == ND_DB_RUNNING)
        s = db->st[ST_CANCEL_RUNNING];
    if (!s)
        goto fail;
    rc = exec_bound(db, s, bind_text(s, 1, id) |
                    sqlite3_bind_double(s, 2, now_seconds()));
    if (rc == 0 && state == ND_DB_QUEUED)
        state = ND_DB_CANCELLED;
fail:
    if (s)
        st_done(s);
    rc = tx_end(db, rc);
    if (rc == 0)
        *state_out = state;
    return rc;
}

int nd_db_job_delete(nd_db *db, const char *id, char **checkpoint_path_out)
{
    view_drop(db, id);
    sqlite3_stmt *s = db->st[ST_JOB_STATE];
    char *path = NULL;
    int rc, oom = 0;
    if (checkpoint_path_out)
        *checkpoint_path_out = NULL;
    rc = tx_begin(db);
    if (rc < 0)
        return rc;
    rc = row_by_id(db, s, id);
    if (rc < 0)
        goto fail;
    int state = nd_db_state_parse((const char *)sqlite3_column_text(s, 0));
    if (state == ND_DB_QUEUED || state == ND_DB_RUNNING) {
        rc = ND_DB_BUSY;
        goto fail;
    }
    path = dup_column(s, 1, &oom);
    st_done(s);
    if (oom) {
        rc = nomem(db);
        goto fail;
    }
    s = db->st[ST_JOB_DELETE];
    rc = exec_bound(db, s, bind_text(s, 1, id));
fail:
    st_done(s);
    rc = tx_end(db, rc);
    if (rc == 0 && checkpoint_path_out)
        *checkpoint_path_out = path;
    else
        free(path);
    return rc;
}

int nd_db_job_stopped_clean(nd_db *db, const char *id)
{
    view_drop(db, id);
    sqlite3_stmt *s = db->st[ST_STOPPED_CLEAN];
    return exec_bound(db, s, bind_text(s, 1, id));
}

int nd_db_requeue_running(nd_db *db, int max_attempts, int *requeued,
                          int *cancelled, int *failed)
{
    view_drop_all(db);
    sqlite3_stmt *s = db->st[ST_REQUEUE_CANCELLED];
    int rc, n_cancelled = 0, n_requeued = 0, n_seen = 0;
    double t = now_seconds();
    if (max_attempts < 1)
        return ND_DB_INVAL;
    rc = tx_begin(db);
    if (rc < 0)
        return rc;
    rc = exec_bound(db, s, sqlite3_bind_double(s, 1, t));
    if (rc < 0)
        goto fail;
    n_cancelled = sqlite3_changes(db->conn);
    s = db->st[ST_REQUEUE_FAIL];
    rc = exec_bound(db, s, sqlite3_bind_double(s, 1, t) |
                    sqlite3_bind_int(s, 2, max_attempts));
    if (rc < 0)
        goto fail;
    n_seen = sqlite3_changes(db->conn);
    s = db->st[ST_REQUEUE];
    rc = exec_bound(db, s, sqlite3_bind_double(s, 1, t));
    if (rc < 0)
        goto fail;
    n_requeued = sqlite3_changes(db->conn);
fail:
    st_done(s);
    rc = tx_end(db, rc);
    if (rc == 0 && requeued)
        *requeued = n_requeued;
    if (rc == 0 && cancelled)
        *cancelled = n_cancelled;
    if (rc == 0 && failed)
        *failed = n_seen - n_requeued;
    return rc;
}

int nd_db_queue_length(nd_db *db, int *n)
{
    sqlite3_stmt *s = db->st[ST_QUEUE_LENGTH];
    int rc = 0;
    if (sqlite3_step(s) != SQLITE_ROW) {
        rc = sql_fail(db);
        goto fail;
    }
    *n = sqlite3_column_int(s, 0);
fail:
    st_done(s);
    return rc;
}

int nd_db_count_by_state(nd_db *db, int counts[ND_DB_STATE_COUNT])
{
    sqlite3_stmt *s = db->st[ST_COUNT_STATES];
    int rc = 0, step;
    memset(counts, 0, ND_DB_STATE_COUNT * sizeof counts[0]);
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        int i = nd_db_state_parse((const char *)sqlite3_column_text(s, 0));
        if (i >= 0)
            counts[i] = sqlite3_column_int(s, 1);
    }
    if (step != SQLITE_DONE)
        rc = sql_fail(db);
    st_done(s);
    return rc;
}

/* ----------------------------------------------------------- events */

int nd_db_begin(nd_db *db)
{
    int rc = tx_begin(db);
    if (rc == 0)
        db->batch = 1;
    return rc;
}

int nd_db_commit(nd_db *db)
{
    ND_DB_ASSERT(db->batch && "nd_db_commit without nd_db_begin");
    db->batch = 0;
    int rc = tx_end(db, 0);
    if (rc < 0)     /* views read inside the batch may be gone */
        view_drop_all(db);
    return rc;
}

int nd_db_rollback(nd_db *db)
{
    ND_DB_ASSERT(db->batch && "nd_db_rollback without nd_db_begin");
    db->batch = 0;
    view_drop_all(db);  /* views read inside the batch are gone */
    return st_exec(db, db->st[ST_ROLLBACK]);
}

/* exec_bound() of an UPDATE of one job by id; no row changed:
 * ND_DB_NOTFOUND. */
static int update_job(nd_db *db, sqlite3_stmt *s, int bind_rc)
{
    int rc = exec_bound(db, s, bind_rc);
    if (rc == 0 && sqlite3_changes(db->conn) == 0)
        rc = ND_DB_NOTFOUND;
    return rc;
}

int nd_db_progress_set(nd_db *db, const char *id, const char *progress_json)
{
    view_drop(db, id);
    sqlite3_stmt *s = db->st[ST_PROGRESS];
    return update_job(db, s, bind_text(s, 1, id) |
                      bind_text(s, 2, progress_json) |
                      sqlite3_bind_double(s, 3, now_seconds()));
}

int nd_db_metric_add(nd_db *db, const char *id, int epoch, int64_t step,
                     const char *name, double value, double t,
                     int64_t *seq_out)
{
    view_drop(db, id);
    sqlite3_stmt *s = db->st[ST_METRIC_ADD];
    int rc = exec_bound(db, s, bind_text(s, 1, id) |
                        sqlite3_bind_int(s, 2, epoch) |
                        sqlite3_bind_int64(s, 3, step) |
                        bind_text(s, 4, name) |
                        sqlite3_bind_double(s, 5, value) |
                        sqlite3_bind_double(s, 6, t));
    if (rc == 0 && seq_out)
        *seq_out = sqlite3_last_insert_rowid(db->conn);
    return rc;
}

int nd_db_arch_add(nd_db *db, const char *id, const char *arch_json,
                   double reward, const char *metrics_json, double t,
                   int64_t *seq_out)
{
    view_drop(db, id);
    sqlite3_stmt *s = db->st[ST_ARCH_ADD];
    int rc = exec_bound(db, s, bind_text(s, 1, id) |
                        bind_text(s, 2, arch_json) |
                        sqlite3_bind_double(s, 3, reward) |
                        bind_text(s, 4, metrics_json) |
                        sqlite3_bind_double(s, 5, t));
    if (rc == 0 && seq_out)
        *seq_out = sqlite3_last_insert_rowid(db->conn);
    return rc;
}

int nd_db_checkpoint_set(nd_db *db, const char *id, const char *path,
                         int64_t step)
{
    view_drop(db, id);
    sqlite3_stmt *s = db->st[ST_CHECKPOINT];
    return update_job(db, s, bind_text(s, 1, id) | bind_text(s, 2, path) |
                      sqlite3_bind_int64(s, 3, step) |
                      sqlite3_bind_double(s, 4, now_seconds()));
}

int nd_db_result_set(nd_db *db, const char *id, const char *arch_json,
                     const char *metric, double value,
                     const char *result_json)
{
    view_drop(db, id);
    sqlite3_stmt *s = db->st[ST_RESULT_SET];
    return exec_bound(db, s, bind_text(s, 1, id) |
                      bind_text(s, 2, arch_json) | bind_text(s, 3, metric) |
                      sqlite3_bind_double(s, 4, value) |
                      bind_text(s, 5, result_json) |
                      sqlite3_bind_double(s, 6, now_seconds()));
}

/* ------------------------------------------------------------ reads */

static int metric_row(nd_db *db, sqlite3_stmt *s, json_t **out)
{
    static const struct field f[] = {
        {"seq", col_int}, {"epoch", col_int}, {"step", col_int},
        {"name", col_text}, {"value", col_real}, {"t", col_time},
    };
    *out = fields_json(s, 0, f, NFIELDS(f));
    return *out ? 0 : nomem(db);
}

static int arch_row(nd_db *db, sqlite3_stmt *s, json_t **out)
{
    *out = arch_json(s, 0);
    return *out ? 0 : nomem(db);
}

static json_t *next_after(int64_t last)
{
    return json_integer(last);
}

/* The cursor pages of the metrics and architectures of a job. */
static int series_list(nd_db *db, enum st_id which, const char *key,
                       row_fn *row, const char *id, int64_t after,
                       int limit, json_t **out)
{
    sqlite3_stmt *s = db->st[which];
    int rc, state;
    *out = NULL;
    rc = nd_db_job_state(db, id, &state);
    if (rc < 0)
        return rc;
    limit = limit <= 0 ? 100 : limit > 1000 ? 1000 : limit;
    int bind_rc = bind_text(s, 1, id) | sqlite3_bind_int64(s, 2, after) |
                  sqlite3_bind_int(s, 3, limit + 1);
    return page_list(db, s, bind_rc, limit, row, 0, key, "next_after",
                     next_after, out);
}

int nd_db_metrics_list(nd_db *db, const char *id, int64_t after_seq,
                       int limit, json_t **out)
{
    return series_list(db, ST_METRICS_LIST, "metrics", metric_row, id,
                       after_seq, limit, out);
}

int nd_db_arch_list(nd_db *db, const char *id, int64_t after_seq,
                    int limit, json_t **out)
{
    return series_list(db, ST_ARCH_LIST, "architectures", arch_row, id,
                       after_seq, limit, out);
}

/* One row of one or two int64 columns from statement which, bound to
 * (id, arg). *found is 0 when the statement returned no row. */
static int query_int64(nd_db *db, enum st_id which, const char *id,
                       int64_t arg, int64_t *a, int64_t *b, int *found)
{
    sqlite3_stmt *s = db->st[which];
    int bind_rc = bind_text(s, 1, id);
    if (sqlite3_bind_parameter_count(s) >= 2)
        bind_rc |= sqlite3_bind_int64(s, 2, arg);
    if (bind_rc != SQLITE_OK) {
        st_done(s);
        return sql_fail(db);
    }
    int step = sqlite3_step(s), rc = 0;
    *found = step == SQLITE_ROW;
    if (step == SQLITE_ROW) {
        if (a)
            *a = sqlite3_column_int64(s, 0);
        if (b)
            *b = sqlite3_column_int64(s, 1);
    } else if (step != SQLITE_DONE)
        rc = sql_fail(db);
    st_done(s);
    return rc;
}

/* One cursor: kept when its row exists, else moved back. */
static int cursor_fix(nd_db *db, enum st_id exists, enum st_id before,
                      const char *id, int64_t *cursor, int *rewound)
{
    int found = 0, rc;
    if (*cursor <= 0)
        return 0;
    if ((rc = query_int64(db, exists, id, *cursor, NULL, NULL, &found)) < 0 || found)
        return rc;
    if ((rc = query_int64(db, before, id, *cursor, cursor, NULL, &found)) < 0)
        return rc;
    *rewound = 1;
    return 0;
}

int nd_db_cursor_check(nd_db *db, const char *id, int64_t *metrics,
                       int64_t *archs, int *rewound)
{
    int rc, state;
    *rewound = 0;
    if ((rc = nd_db_job_state(db, id, &state)) < 0)
        return rc;
    if ((rc = cursor_fix(db, ST_SEQ_EXISTS_METRIC, ST_SEQ_BEFORE_METRIC, id,
                         metrics, rewound)) < 0)
        return rc;
    return cursor_fix(db, ST_SEQ_EXISTS_ARCH, ST_SEQ_BEFORE_ARCH, id, archs,
                      rewound);
}

int nd_db_cursor_now(nd_db *db, const char *id, int64_t *metrics,
                     int64_t *archs)
{
    int found = 0;
    *metrics = *archs = 0;
    return query_int64(db, ST_SEQ_MAX, id, 0, metrics, archs, &found);
}

int nd_db_result_get(nd_db *db, const char *id, json_t **out)
{
    sqlite3_stmt *s = db->st[ST_RESULT_GET];
    int rc;
    *out = NULL;
    rc = row_by_id(db, s, id);
    if (rc == 0) {
        *out = result_json(s, 0);
        if (!*out)
            rc = nomem(db);
    }
    st_done(s);
    return rc;
}
