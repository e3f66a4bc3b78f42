// SPDX-License-Identifier: MIT
/*
 * db_views.c - the JSON views of nasd's SQLite layer: a job, the job list
 * and its page tokens, a job's metrics and architectures by cursor, its
 * result; and the cache of rendered job views.
 *
 * The one design decision to know: a rendered job view is cached in
 * db->views[] (direct-mapped by id) and handed out as shallow copies until
 * a write through this connection touches that job: every write calls
 * nd__db_view_drop first. That is safe only because the connection is the
 * database's one user (db.c opens it with locking_mode=EXCLUSIVE).
 */
#include "db_internal.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------- the cache */

static struct view *view_of(nd_db *db, const char *id)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = id; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return &db->views[h % VIEW_SLOTS];
}

/* Every write that may change the view of job id calls this first. */
void nd__db_view_drop(nd_db *db, const char *id)
{
    struct view *v = view_of(db, id);
    if (v->job && strcmp(v->id, id) == 0) {
        json_decref(v->job);
        v->job = NULL;
        free(v->memo);
        v->memo = NULL;
    }
}

void nd__db_view_drop_all(nd_db *db)
{
    for (int i = 0; i < VIEW_SLOTS; i++) {
        json_decref(db->views[i].job);
        db->views[i].job = NULL;
        free(db->views[i].memo);
        db->views[i].memo = NULL;
    }
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
    json_t *v = json_loadb(t, (size_t)sqlite3_column_bytes(s, i), JSON_DECODE_ANY, NULL);
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
    double x = t * 1000.0; /* rounded to the nearest ms, no libm */
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
#define NFIELDS(f) ((int)(sizeof(f) / sizeof(f)[0]))

/* Puts the n fields of columns base, base + 1, ... into o; nonzero when
 * any put failed. */
static int put_fields(json_t *o, sqlite3_stmt *s, int base, const struct field *f, int n)
{
    int bad = 0;
    for (int i = 0; i < n; i++)
        bad |= put(o, f[i].key, f[i].col(s, base + i));
    return bad;
}

/* A new object of the n fields from column base; NULL on no memory. */
static json_t *fields_json(sqlite3_stmt *s, int base, const struct field *f, int n)
{
    json_t *o = json_object();
    if (o && put_fields(o, s, base, f, n)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Columns seq, number, arch, reward, metrics, t. One name for the
 * architecture in a row, the job's best and the event stream. */
static const struct field arch_fields[] = {
    {"seq", col_int},     {"number", col_int},   {"architecture", col_json},
    {"reward", col_real}, {"metrics", col_json}, {"t", col_time},
};

/* Columns architecture, metric, value, result, t. */
static const struct field result_fields[] = {
    {"architecture", col_json}, {"metric", col_text}, {"value", col_real},
    {"details", col_json},      {"t", col_time},
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
int nd__db_row_by_id(nd_db *db, sqlite3_stmt *s, const char *id)
{
    if (bind_text(s, 1, id) != SQLITE_OK)
        return nd__db_fail(db);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW)
        return 0;
    return step == SQLITE_DONE ? ND_DB_NOTFOUND : nd__db_fail(db);
}

/* {"<name>": {value, epoch, step}} of job id. */
static int latest_metrics(nd_db *db, const char *id, json_t **out)
{
    sqlite3_stmt *s = db->st[ST_METRIC_LATEST];
    json_t *o = json_object(), *m = NULL;
    int rc = 0, step;
    if (!o) {
        rc = nd__db_nomem(db);
        goto fail;
    }
    if (bind_text(s, 1, id) != SQLITE_OK) {
        rc = nd__db_fail(db);
        goto fail;
    }
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        static const struct field f[] = {
            {"value", col_real},
            {"epoch", col_int},
            {"step", col_int},
        };
        const char *name = (const char *)sqlite3_column_text(s, 0);
        m = fields_json(s, 1, f, NFIELDS(f));
        if (!name || !m) {
            rc = nd__db_nomem(db);
            goto fail;
        }
        if (json_object_set_new(o, name, m)) {
            m = NULL;
            rc = nd__db_nomem(db);
            goto fail;
        }
        m = NULL;
    }
    if (step != SQLITE_DONE) {
        rc = nd__db_fail(db);
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
        rc = nd__db_nomem(db);
        goto fail;
    }
    /* Columns JC_ID .. JC_PROGRESS, in order. */
    static const struct field f[] = {
        {"id", col_text},           {"name", col_text},       {"algorithm", col_text},
        {"search_space", col_text}, {"dataset", col_text},    {"state", col_text},
        {"spec", col_json},         {"created_at", col_time}, {"started_at", col_time},
        {"finished_at", col_time},  {"updated_at", col_time}, {"attempt", col_int},
        {"error", col_text},        {"progress", col_json},
    };
    static_assert(JC_PROGRESS - JC_ID + 1 == NFIELDS(f), "job fields and enum job_col out of step");
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
        rc = nd__db_nomem(db);
        goto fail;
    }
    rc = latest_metrics(db, (const char *)sqlite3_column_text(s, JC_ID), &metrics);
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
        rc = nd__db_nomem(db);
        goto fail;
    }
    *out = o;
    return 0;
fail:
    json_decref(o);
    return rc;
}

/* ------------------------------------------------------------- jobs */

/* The job view of id, with db->st[ST_JOB_GET]. */
int nd__db_job_view(nd_db *db, const char *id, json_t **job_out)
{
    sqlite3_stmt *s = db->st[ST_JOB_GET];
    int rc = nd__db_row_by_id(db, s, id);
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
    if (strlen(id) != 32) { /* the CHECK on jobs.id: cannot exist */
        rc = ND_DB_NOTFOUND;
        goto fail;
    }
    if (!v->job || strcmp(v->id, id) != 0) {
        rc = nd__db_job_view(db, id, &job);
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
        rc = nd__db_nomem(db);
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
        return; /* no view to tie it to: nothing would drop it */
    char *m = malloc(len + 1);
    if (!m)
        return;
    memcpy(m, text, len);
    m[len] = '\0';
    free(v->memo);
    v->memo = m;
    v->memo_len = len;
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
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'z' ? c - 'a' + 10 : -1;
        if (d < 0)
            return ND_DB_BADTOKEN;
        v = v * 36 + d; /* 12 digits of base 36 fit in 63 bits */
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
static int page_list(nd_db *db, sqlite3_stmt *s, int bind_rc, int limit, row_fn *row, int seq_col,
                     const char *key, const char *next_key, json_t *(*next)(int64_t), json_t **out)
{
    json_t *page = NULL, *items = NULL, *item;
    int64_t last = 0;
    int rc = 0, n = 0, more = 0, step;
    if (bind_rc) {
        rc = nd__db_fail(db);
        goto fail;
    }
    page = json_object();
    items = json_array();
    if (!page || !items) {
        rc = nd__db_nomem(db);
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
            rc = nd__db_nomem(db);
            goto fail;
        }
        last = sqlite3_column_int64(s, seq_col);
        n++;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        rc = nd__db_fail(db);
        goto fail;
    }
    int bad = put(page, key, items);
    items = NULL;
    bad |= put(page, next_key, more ? next(last) : json_null());
    if (bad) {
        rc = nd__db_nomem(db);
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

/* A NULL value binds SQL NULL: "no filter" in ST_JOB_LIST. */
static int bind_opt(sqlite3_stmt *s, int i, const char *v)
{
    return v ? bind_text(s, i, v) : sqlite3_bind_null(s, i);
}

int nd_db_job_list(nd_db *db, const nd_db_job_filter *f, int page_size, const char *page_token,
                   json_t **page_out)
{
    static const nd_db_job_filter none = {0};
    int64_t before = INT64_MAX;
    *page_out = NULL;
    f = f ? f : &none;
    if (page_token && token_parse(page_token, &before) < 0)
        return ND_DB_BADTOKEN;
    if (f->state && nd_db_state_parse(f->state) < 0)
        return ND_DB_INVAL;
    page_size = page_size <= 0 ? 50 : page_size > 1000 ? 1000 : page_size;
    sqlite3_stmt *s = db->st[ST_JOB_LIST];
    int bind_rc = sqlite3_bind_int64(s, 1, before) | sqlite3_bind_int(s, 2, page_size + 1) |
                  bind_opt(s, 3, f->state) | bind_opt(s, 4, f->name) |
                  bind_opt(s, 5, f->algorithm) | bind_opt(s, 6, f->search_space) |
                  bind_opt(s, 7, f->dataset) | bind_opt(s, 8, f->tag);
    return page_list(db, s, bind_rc, page_size, job_json, JC_SEQ, "jobs", "next_page_token",
                     next_token, page_out);
}

/* ------------------------------------------------------------ reads */

static int metric_row(nd_db *db, sqlite3_stmt *s, json_t **out)
{
    static const struct field f[] = {
        {"seq", col_int},   {"epoch", col_int},  {"step", col_int},
        {"name", col_text}, {"value", col_real}, {"t", col_time},
    };
    *out = fields_json(s, 0, f, NFIELDS(f));
    return *out ? 0 : nd__db_nomem(db);
}

static int arch_row(nd_db *db, sqlite3_stmt *s, json_t **out)
{
    *out = arch_json(s, 0);
    return *out ? 0 : nd__db_nomem(db);
}

static json_t *next_after(int64_t last)
{
    return json_integer(last);
}

/* The cursor pages of the metrics and architectures of a job. */
static int series_list(nd_db *db, enum st_id which, const char *key, row_fn *row, const char *id,
                       const char *name, int64_t after, int limit, json_t **out)
{
    sqlite3_stmt *s = db->st[which];
    int rc, state;
    *out = NULL;
    rc = nd_db_job_state(db, id, &state);
    if (rc < 0)
        return rc;
    limit = limit <= 0 ? 100 : limit > 1000 ? 1000 : limit;
    int bind_rc = bind_text(s, 1, id) | sqlite3_bind_int64(s, 2, after) |
                  sqlite3_bind_int(s, 3, limit + 1) |
                  (which == ST_METRICS_LIST ? bind_opt(s, 4, name) : SQLITE_OK);
    return page_list(db, s, bind_rc, limit, row, 0, key, "next_after", next_after, out);
}

int nd_db_metrics_list(nd_db *db, const char *id, int64_t after_seq, int limit, json_t **out)
{
    return nd_db_metrics_named(db, id, NULL, after_seq, limit, out);
}

int nd_db_metrics_named(nd_db *db, const char *id, const char *name, int64_t after_seq, int limit,
                        json_t **out)
{
    return series_list(db, ST_METRICS_LIST, "metrics", metric_row, id, name, after_seq, limit, out);
}

int nd_db_arch_get(nd_db *db, const char *id, int64_t number, json_t **out)
{
    sqlite3_stmt *s = db->st[ST_ARCH_NUMBER];
    int state, rc = nd_db_job_state(db, id, &state);
    *out = NULL;
    if (rc < 0)
        return rc;
    if ((bind_text(s, 1, id) | sqlite3_bind_int64(s, 2, number)) != SQLITE_OK) {
        sqlite3_reset(s);
        return nd__db_fail(db);
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *out = arch_json(s, 0);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        return nd__db_fail(db);
    return *out ? 0 : nd__db_nomem(db);
}

int nd_db_arch_list(nd_db *db, const char *id, int64_t after_seq, int limit, json_t **out)
{
    return series_list(db, ST_ARCH_LIST, "architectures", arch_row, id, NULL, after_seq, limit,
                       out);
}

/* One row of one or two int64 columns from statement which, bound to
 * (id, arg). *found is 0 when the statement returned no row. */
static int query_int64(nd_db *db, enum st_id which, const char *id, int64_t arg, int64_t *a,
                       int64_t *b, int *found)
{
    sqlite3_stmt *s = db->st[which];
    int bind_rc = bind_text(s, 1, id);
    if (sqlite3_bind_parameter_count(s) >= 2)
        bind_rc |= sqlite3_bind_int64(s, 2, arg);
    if (bind_rc != SQLITE_OK) {
        st_done(s);
        return nd__db_fail(db);
    }
    int step = sqlite3_step(s), rc = 0;
    *found = step == SQLITE_ROW;
    if (step == SQLITE_ROW) {
        if (a)
            *a = sqlite3_column_int64(s, 0);
        if (b)
            *b = sqlite3_column_int64(s, 1);
    } else if (step != SQLITE_DONE)
        rc = nd__db_fail(db);
    st_done(s);
    return rc;
}

/* One cursor: kept when its row exists, else moved back. */
static int cursor_fix(nd_db *db, enum st_id exists, enum st_id before, const char *id,
                      int64_t *cursor, int *rewound)
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

int nd_db_cursor_check(nd_db *db, const char *id, int64_t *metrics, int64_t *archs, int *rewound)
{
    int rc, state;
    *rewound = 0;
    if ((rc = nd_db_job_state(db, id, &state)) < 0)
        return rc;
    if ((rc = cursor_fix(db, ST_SEQ_EXISTS_METRIC, ST_SEQ_BEFORE_METRIC, id, metrics, rewound)) < 0)
        return rc;
    return cursor_fix(db, ST_SEQ_EXISTS_ARCH, ST_SEQ_BEFORE_ARCH, id, archs, rewound);
}

int nd_db_cursor_now(nd_db *db, const char *id, int64_t *metrics, int64_t *archs)
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
    rc = nd__db_row_by_id(db, s, id);
    if (rc == 0) {
        *out = result_json(s, 0);
        if (!*out)
            rc = nd__db_nomem(db);
    }
    st_done(s);
    return rc;
}
