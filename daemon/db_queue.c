// SPDX-License-Identifier: MIT
/*
 * db_queue.c - the job queue in SQLite: insert (with its Idempotency-Key),
 * claim, finish, cancel, delete, the requeue at start, and the rows a
 * running job reports (progress, metrics, architectures, checkpoints,
 * results), and the prune of finished jobs (retention).
 *
 * The one design decision to know: a claim is exactly-once for the rows a
 * job reports. A checkpoint records the largest metric and architecture
 * seq at the moment it became durable; the claim that resumes the job
 * deletes what was reported after it (rewind_job), in the claim's own
 * transaction, so that the resumed run reports those rows once.
 */
#include "db_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- jobs */

int nd_db_job_state(nd_db *db, const char *id, int *state_out)
{
    sqlite3_stmt *s = db->st[ST_JOB_STATE];
    int rc = nd__db_row_by_id(db, s, id);
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
static int idem_lookup(nd_db *db, const char *idem_key, const char *request_hash, char old_id[33])
{
    sqlite3_stmt *s = db->st[ST_JOB_BY_IDEM];
    if (bind_text(s, 1, idem_key) != SQLITE_OK) {
        st_done(s);
        return nd__db_fail(db);
    }
    int step = sqlite3_step(s);
    if (step == SQLITE_DONE) {
        st_done(s);
        return 0;
    }
    if (step != SQLITE_ROW) {
        int rc = nd__db_fail(db);
        st_done(s);
        return rc;
    }
    const char *had = (const char *)sqlite3_column_text(s, 1);
    int same = (!had && !request_hash) || (had && request_hash && strcmp(had, request_hash) == 0);
    snprintf(old_id, 33, "%s", (const char *)sqlite3_column_text(s, 0));
    st_done(s);
    return same ? 1 : ND_DB_IDEM_CONFLICT;
}

int nd_db_job_by_idem(nd_db *db, const char *idem_key, const char *request_hash, json_t **job_out)
{
    char old_id[33];
    *job_out = NULL;
    int rc = idem_lookup(db, idem_key, request_hash, old_id);
    if (rc != 1)
        return rc;
    rc = nd__db_job_view(db, old_id, job_out);
    return rc == 0 ? ND_DB_IDEM_SAME : rc;
}

int nd_db_job_insert(nd_db *db, const char *id, const char *name, const char *algorithm,
                     const char *search_space, const char *dataset, const char *spec_json,
                     const char *idem_key, const char *request_hash, json_t **job_out)
{
    nd__db_view_drop(db, id);
    sqlite3_stmt *s = NULL;
    int rc;
    json_t *job = NULL;
    if (job_out)
        *job_out = NULL;
    rc = nd__db_tx_begin(db);
    if (rc < 0)
        return rc;
    if (idem_key) {
        char old_id[33];
        rc = idem_lookup(db, idem_key, request_hash, old_id);
        if (rc == 1) {
            rc = job_out ? nd__db_job_view(db, old_id, &job) : 0;
            if (rc == 0)
                rc = ND_DB_IDEM_SAME;
        }
        if (rc != 0)
            goto fail;
    }
    s = db->st[ST_JOB_INSERT];
    if (bind_text(s, 1, id) | bind_text(s, 2, name) | bind_text(s, 3, algorithm) |
        bind_text(s, 4, search_space) | bind_text(s, 5, dataset) | bind_text(s, 6, spec_json) |
        sqlite3_bind_double(s, 7, now_seconds()) | bind_text(s, 8, idem_key) |
        bind_text(s, 9, request_hash)) {
        rc = nd__db_fail(db);
        goto fail;
    }
    rc = nd__db_exec(db, s);
    s = NULL;
    if (rc == 0 && job_out)
        rc = nd__db_job_view(db, id, &job);
fail:
    if (s)
        st_done(s);
    rc = nd__db_tx_end(db, rc);
    if (rc >= 0 && job_out)
        *job_out = job;
    else
        json_decref(job);
    return rc;
}

/* nd__db_exec_bound() of one of the rewind statements (?1 the job, ?2 a seq
 * when the statement has it); adds the rows it changed to *rows. */
static int rewind_exec(nd_db *db, enum st_id which, const char *id, int64_t after, int *rows)
{
    sqlite3_stmt *s = db->st[which];
    int bind_rc = bind_text(s, 1, id);
    if (sqlite3_bind_parameter_count(s) >= 2)
        bind_rc |= sqlite3_bind_int64(s, 2, after);
    int rc = nd__db_exec_bound(db, s, bind_rc);
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
    if (rows > 0 && ((rc = rewind_exec(db, ST_REWIND_LATEST_DEL, id, 0, NULL)) < 0 ||
                     (rc = rewind_exec(db, ST_REWIND_LATEST_ADD, id, 0, NULL)) < 0))
        return rc;
    return 0;
}

int nd_db_job_claim(nd_db *db, char id[33], char **spec_json, char **checkpoint_path,
                    int64_t *checkpoint_step, int *attempt, nd_db_rewind *rewind)
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
    rc = nd__db_tx_begin(db);
    if (rc < 0)
        return rc;
    step = sqlite3_step(s);
    if (step == SQLITE_DONE) {
        rc = ND_DB_NOTFOUND;
        goto fail;
    }
    if (step != SQLITE_ROW) {
        rc = nd__db_fail(db);
        goto fail;
    }
    seq = sqlite3_column_int64(s, 0);
    snprintf(id, 33, "%s", (const char *)sqlite3_column_text(s, 1));
    nd__db_view_drop(db, id);
    *spec_json = nd__db_dup_column(s, 2, &oom);
    *checkpoint_path = nd__db_dup_column(s, 3, &oom);
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
        rc = nd__db_nomem(db);
        goto fail;
    }
    s = db->st[ST_CLAIM_SET];
    rc = nd__db_exec_bound(
        db, s, sqlite3_bind_int64(s, 1, seq) | sqlite3_bind_double(s, 2, now_seconds()));
    if (rc == 0)
        rc = rewind_job(db, id, &rw);
fail:
    st_done(s);
    rc = nd__db_tx_end(db, rc);
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
    nd__db_view_drop(db, id);
    sqlite3_stmt *s = db->st[ST_FINISH];
    int rc;
    if (state != ND_DB_SUCCEEDED && state != ND_DB_FAILED && state != ND_DB_CANCELLED)
        return ND_DB_INVAL;
    rc = nd__db_exec_bound(db, s,
                           bind_text(s, 1, id) | bind_text(s, 2, nd_db_state_name(state)) |
                               bind_text(s, 3, error) | sqlite3_bind_double(s, 4, now_seconds()));
    if (rc == 0 && sqlite3_changes(db->conn) == 0)
        rc = not_active(db, id);
    return rc;
}

int nd_db_job_cancel(nd_db *db, const char *id, int *state_out)
{
    nd__db_view_drop(db, id);
    sqlite3_stmt *s = NULL;
    int rc, state = -1;
    rc = nd__db_tx_begin(db);
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
    rc = nd__db_exec_bound(db, s, bind_text(s, 1, id) | sqlite3_bind_double(s, 2, now_seconds()));
    if (rc == 0 && state == ND_DB_QUEUED)
        state = ND_DB_CANCELLED;
fail:
    if (s)
        st_done(s);
    rc = nd__db_tx_end(db, rc);
    if (rc == 0)
        *state_out = state;
    return rc;
}

int nd_db_job_delete(nd_db *db, const char *id, char **checkpoint_path_out)
{
    nd__db_view_drop(db, id);
    sqlite3_stmt *s = db->st[ST_JOB_STATE];
    char *path = NULL;
    int rc, oom = 0;
    if (checkpoint_path_out)
        *checkpoint_path_out = NULL;
    rc = nd__db_tx_begin(db);
    if (rc < 0)
        return rc;
    rc = nd__db_row_by_id(db, s, id);
    if (rc < 0)
        goto fail;
    int state = nd_db_state_parse((const char *)sqlite3_column_text(s, 0));
    if (state == ND_DB_QUEUED || state == ND_DB_RUNNING) {
        rc = ND_DB_BUSY;
        goto fail;
    }
    path = nd__db_dup_column(s, 1, &oom);
    st_done(s);
    if (oom) {
        rc = nd__db_nomem(db);
        goto fail;
    }
    s = db->st[ST_JOB_DELETE];
    rc = nd__db_exec_bound(db, s, bind_text(s, 1, id));
fail:
    st_done(s);
    rc = nd__db_tx_end(db, rc);
    if (rc == 0 && checkpoint_path_out)
        *checkpoint_path_out = path;
    else
        free(path);
    return rc;
}

int nd_db_job_stopped_clean(nd_db *db, const char *id)
{
    nd__db_view_drop(db, id);
    sqlite3_stmt *s = db->st[ST_STOPPED_CLEAN];
    return nd__db_exec_bound(db, s, bind_text(s, 1, id));
}

int nd_db_requeue_running(nd_db *db, int max_attempts, int *requeued, int *cancelled, int *failed)
{
    nd__db_view_drop_all(db);
    sqlite3_stmt *s = db->st[ST_REQUEUE_CANCELLED];
    int rc, n_cancelled = 0, n_requeued = 0, n_seen = 0;
    double t = now_seconds();
    if (max_attempts < 1)
        return ND_DB_INVAL;
    rc = nd__db_tx_begin(db);
    if (rc < 0)
        return rc;
    rc = nd__db_exec_bound(db, s, sqlite3_bind_double(s, 1, t));
    if (rc < 0)
        goto fail;
    n_cancelled = sqlite3_changes(db->conn);
    s = db->st[ST_REQUEUE_FAIL];
    rc = nd__db_exec_bound(db, s,
                           sqlite3_bind_double(s, 1, t) | sqlite3_bind_int(s, 2, max_attempts));
    if (rc < 0)
        goto fail;
    n_seen = sqlite3_changes(db->conn);
    s = db->st[ST_REQUEUE];
    rc = nd__db_exec_bound(db, s, sqlite3_bind_double(s, 1, t));
    if (rc < 0)
        goto fail;
    n_requeued = sqlite3_changes(db->conn);
fail:
    st_done(s);
    rc = nd__db_tx_end(db, rc);
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
        rc = nd__db_fail(db);
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
        rc = nd__db_fail(db);
    st_done(s);
    return rc;
}

/* ----------------------------------------------------------- events */

/* nd__db_exec_bound() of an UPDATE of one job by id; no row changed:
 * ND_DB_NOTFOUND. */
static int update_job(nd_db *db, sqlite3_stmt *s, int bind_rc)
{
    int rc = nd__db_exec_bound(db, s, bind_rc);
    if (rc == 0 && sqlite3_changes(db->conn) == 0)
        rc = ND_DB_NOTFOUND;
    return rc;
}

int nd_db_progress_set(nd_db *db, const char *id, const char *progress_json)
{
    nd__db_view_drop(db, id);
    sqlite3_stmt *s = db->st[ST_PROGRESS];
    return update_job(db, s,
                      bind_text(s, 1, id) | bind_text(s, 2, progress_json) |
                          sqlite3_bind_double(s, 3, now_seconds()));
}

int nd_db_metric_add(nd_db *db, const char *id, int epoch, int64_t step, const char *name,
                     double value, double t, int64_t *seq_out)
{
    nd__db_view_drop(db, id);
    sqlite3_stmt *s = db->st[ST_METRIC_ADD];
    int rc = nd__db_exec_bound(db, s,
                               bind_text(s, 1, id) | sqlite3_bind_int(s, 2, epoch) |
                                   sqlite3_bind_int64(s, 3, step) | bind_text(s, 4, name) |
                                   sqlite3_bind_double(s, 5, value) | sqlite3_bind_double(s, 6, t));
    if (rc == 0 && seq_out)
        *seq_out = sqlite3_last_insert_rowid(db->conn);
    return rc;
}

int nd_db_arch_add(nd_db *db, const char *id, const char *arch_json, double reward,
                   const char *metrics_json, double t, int64_t *seq_out)
{
    nd__db_view_drop(db, id);
    sqlite3_stmt *s = db->st[ST_ARCH_ADD];
    int rc = nd__db_exec_bound(db, s,
                               bind_text(s, 1, id) | bind_text(s, 2, arch_json) |
                                   sqlite3_bind_double(s, 3, reward) |
                                   bind_text(s, 4, metrics_json) | sqlite3_bind_double(s, 5, t));
    if (rc == 0 && seq_out)
        *seq_out = sqlite3_last_insert_rowid(db->conn);
    return rc;
}

int nd_db_checkpoint_set(nd_db *db, const char *id, const char *path, int64_t step)
{
    nd__db_view_drop(db, id);
    sqlite3_stmt *s = db->st[ST_CHECKPOINT];
    return update_job(db, s,
                      bind_text(s, 1, id) | bind_text(s, 2, path) | sqlite3_bind_int64(s, 3, step) |
                          sqlite3_bind_double(s, 4, now_seconds()));
}

int nd_db_result_set(nd_db *db, const char *id, const char *arch_json, const char *metric,
                     double value, const char *result_json)
{
    nd__db_view_drop(db, id);
    sqlite3_stmt *s = db->st[ST_RESULT_SET];
    return nd__db_exec_bound(db, s,
                             bind_text(s, 1, id) | bind_text(s, 2, arch_json) |
                                 bind_text(s, 3, metric) | sqlite3_bind_double(s, 4, value) |
                                 bind_text(s, 5, result_json) |
                                 sqlite3_bind_double(s, 6, now_seconds()));
}

/* ------------------------------------------------------- retention */

int nd_db_prune(nd_db *db, int keep, double before,
                void (*removed)(void *ctx, const char *id, const char *ckpt), void *ctx, int *count)
{
    /* Rare (at start and hourly): prepared here, not kept. */
    static const char pick[] =
        "SELECT id, checkpoint_path FROM jobs"
        " WHERE state IN ('succeeded', 'failed', 'cancelled')"
        " AND ((?1 > 0 AND finished_at < ?1) OR (?2 > 0 AND seq NOT IN ("
        "  SELECT seq FROM jobs WHERE state IN ('succeeded', 'failed', 'cancelled')"
        "  ORDER BY seq DESC LIMIT ?2)))";
    sqlite3_stmt *s = NULL, *del = NULL;
    char **ids = NULL, **paths = NULL;
    int n = 0, cap = 0, rc, step, oom = 0;
    *count = 0;
    if (db->batch)
        return ND_DB_INVAL;
    rc = nd__db_tx_begin(db);
    if (rc < 0)
        return rc;
    if (sqlite3_prepare_v2(db->conn, pick, -1, &s, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db->conn, "DELETE FROM jobs WHERE id = ?1", -1, &del, NULL) !=
            SQLITE_OK) {
        rc = nd__db_fail(db);
        goto fail;
    }
    sqlite3_bind_double(s, 1, before);
    sqlite3_bind_int(s, 2, keep);
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **a = realloc(ids, (size_t)cap * sizeof *a);
            char **b = a ? realloc(paths, (size_t)cap * sizeof *b) : NULL;
            if (a)
                ids = a;
            if (b)
                paths = b;
            if (!a || !b) {
                rc = nd__db_nomem(db);
                goto fail;
            }
        }
        ids[n] = nd__db_dup_column(s, 0, &oom);
        paths[n] = nd__db_dup_column(s, 1, &oom);
        n++;
        if (oom) {
            rc = nd__db_nomem(db);
            goto fail;
        }
    }
    if (step != SQLITE_DONE) {
        rc = nd__db_fail(db);
        goto fail;
    }
    for (int i = 0; i < n && rc == 0; i++) {
        nd__db_view_drop(db, ids[i]);
        sqlite3_reset(del);
        rc = nd__db_exec_bound(db, del, bind_text(del, 1, ids[i]));
    }
fail:
    sqlite3_finalize(s);
    sqlite3_finalize(del);
    rc = nd__db_tx_end(db, rc);
    for (int i = 0; i < n; i++) {
        if (rc == 0 && removed)
            removed(ctx, ids[i], paths[i]);
        free(ids[i]);
        free(paths[i]);
    }
    free(ids);
    free(paths);
    if (rc == 0)
        *count = n;
    return rc;
}
