// SPDX-License-Identifier: MIT
/*
 * test_db.c - the database layer (daemon/db.c, db_queue.c) on a real
 * SQLite file: migrations, the job lifecycle, idempotency, paging, events,
 * durability, retention. The JSON views and their cache: test_db_views.c.
 *
 * The one design decision to know: every test opens a fresh database in
 * its own mkdtemp directory and checks behaviour only through db.h, except
 * where the point is what is on disk (schema version, cascaded rows): there
 * a second, plain sqlite3 connection looks at the file. Nothing is timed.
 */
#include "db_fixture.h"

TestSuite(db, .init = setup, .fini = teardown);

Test(db, migrations_apply_and_reopen_is_idempotent)
{
    int last = nd_migrations[nd_migration_count - 1].version;
    cr_assert_eq(raw_count("PRAGMA user_version", NULL), last);
    cr_assert_eq(raw_count("SELECT count(*) FROM sqlite_master WHERE name IN"
                           " ('jobs', 'metrics', 'metric_latest',"
                           " 'architectures', 'results')",
                           NULL),
                 5);
    /* 0003 dropped the table nothing read. */
    cr_assert_eq(raw_count("SELECT count(*) FROM sqlite_master WHERE name ="
                           " 'datasets'",
                           NULL),
                 0);
    char id[33];
    add_job(id, "kept");
    nd_db_close(db);
    open_db();
    nd_db_close(db);
    open_db();
    cr_assert_eq(raw_count("PRAGMA user_version", NULL), last);
    json_t *job = get_job(id);
    cr_assert_str_eq(str_of(job, "name"), "kept");
    json_decref(job);
    /* WAL is a property of the file, so a plain connection sees it. */
    nd_db_close(db);
    db = NULL;
    sqlite3 *c;
    sqlite3_stmt *s;
    cr_assert_eq(sqlite3_open(path, &c), SQLITE_OK);
    sqlite3_prepare_v2(c, "PRAGMA journal_mode", -1, &s, NULL);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(c);
}

Test(db, newer_schema_is_refused)
{
    sqlite3 *c;
    char err[256] = "";
    nd_db_close(db);
    db = NULL;
    cr_assert_eq(sqlite3_open(path, &c), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(c, "PRAGMA user_version = 9999", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(c);
    cr_assert_eq(nd_db_open(path, &db, err, sizeof err), ND_DB_SCHEMA);
    cr_assert_null(db);
    cr_assert(strstr(err, "9999") && strstr(err, "newer"), "%s", err);
}

Test(db, insert_then_get)
{
    char id[33];
    json_t *job = NULL;
    cr_assert_eq(nd_db_new_id(id), 0);
    cr_assert_eq(nd_db_job_insert(db, id, "first", "darts", "darts-cnn", "cifar10",
                                  "{\"seed\":7,\"budget\":{}}", NULL, NULL, &job),
                 0);
    cr_assert_str_eq(str_of(job, "id"), id);
    cr_assert_str_eq(str_of(job, "state"), "queued");
    json_decref(job);

    job = get_job(id);
    cr_assert_str_eq(str_of(job, "name"), "first");
    cr_assert_str_eq(str_of(job, "algorithm"), "darts");
    cr_assert_str_eq(str_of(job, "search_space"), "darts-cnn");
    cr_assert_str_eq(str_of(job, "dataset"), "cifar10");
    json_t *spec = json_object_get(job, "spec");
    cr_assert(json_is_object(spec));
    cr_assert_eq(json_integer_value(json_object_get(spec, "seed")), 7);
    cr_assert(matches_time(str_of(job, "created_at")), "%s", str_of(job, "created_at"));
    cr_assert(matches_time(str_of(job, "updated_at")));
    cr_assert(json_is_null(json_object_get(job, "started_at")));
    cr_assert(json_is_null(json_object_get(job, "finished_at")));
    cr_assert(json_is_null(json_object_get(job, "error")));
    cr_assert(json_is_null(json_object_get(job, "progress")));
    cr_assert(json_is_null(json_object_get(job, "checkpoint")));
    cr_assert(json_is_null(json_object_get(job, "best_architecture")));
    cr_assert(json_is_null(json_object_get(job, "result")));
    cr_assert_eq(json_object_size(json_object_get(job, "metrics")), 0);
    cr_assert_eq(json_integer_value(json_object_get(job, "attempt")), 0);
    cr_assert(json_is_false(json_object_get(job, "cancel_requested")));
    json_decref(job);
}

Test(db, unknown_id_is_not_found)
{
    json_t *out = (json_t *)1;
    int state;
    char *path_out = NULL;
    cr_assert_eq(nd_db_job_get(db, "0123456789abcdef0123456789abcdef", &out), ND_DB_NOTFOUND);
    cr_assert_null(out);
    cr_assert_eq(nd_db_job_state(db, "nope", &state), ND_DB_NOTFOUND);
    cr_assert_eq(nd_db_job_cancel(db, "nope", &state), ND_DB_NOTFOUND);
    cr_assert_eq(nd_db_job_delete(db, "nope", &path_out), ND_DB_NOTFOUND);
    cr_assert_eq(nd_db_job_finish(db, "nope", ND_DB_FAILED, NULL), ND_DB_NOTFOUND);
    cr_assert_eq(nd_db_metrics_list(db, "nope", 0, 10, &out), ND_DB_NOTFOUND);
    cr_assert_eq(nd_db_arch_list(db, "nope", 0, 10, &out), ND_DB_NOTFOUND);
    cr_assert_eq(nd_db_result_get(db, "nope", &out), ND_DB_NOTFOUND);
    cr_assert_eq(nd_db_progress_set(db, "nope", "{}"), ND_DB_NOTFOUND);
    cr_assert_eq(nd_db_checkpoint_set(db, "nope", "/x", 1), ND_DB_NOTFOUND);
    cr_assert_eq(nd_db_metric_add(db, "nope", 1, 1, "loss", 1.0, 1.0, NULL), ND_DB_NOTFOUND);
    cr_assert_eq(nd_db_arch_add(db, "nope", "{}", 1.0, NULL, 1.0, NULL), ND_DB_NOTFOUND);
    cr_assert_eq(nd_db_result_set(db, "nope", "{}", "test_accuracy", 0.5, NULL), ND_DB_NOTFOUND);
}

Test(db, list_pages_newest_first_and_filters_by_state)
{
    char ids[5][33];
    for (int i = 0; i < 5; i++)
        add_job(ids[i], NULL);

    /* Pages of 2: 4 3 | 2 1 | 0. */
    const char *token = NULL;
    char saved[32] = "";
    int seen = 0;
    for (int page = 0; page < 3; page++) {
        json_t *out = NULL;
        cr_assert_eq(nd_db_job_list(db, NULL, 2, token, &out), 0);
        json_t *jobs = json_object_get(out, "jobs");
        size_t n = json_array_size(jobs);
        cr_assert_eq(n, page < 2 ? 2u : 1u);
        for (size_t k = 0; k < n; k++, seen++)
            cr_assert_str_eq(str_of(json_array_get(jobs, k), "id"), ids[4 - seen]);
        json_t *next = json_object_get(out, "next_page_token");
        if (page < 2) {
            cr_assert(json_is_string(next));
            snprintf(saved, sizeof saved, "%s", json_string_value(next));
            token = saved;
        } else {
            cr_assert(json_is_null(next));
        }
        json_decref(out);
    }
    cr_assert_eq(seen, 5);

    claim(ids[0]);
    json_t *out = NULL;
    cr_assert_eq(nd_db_job_list(db, &(nd_db_job_filter){.state = "running"}, 10, NULL, &out), 0);
    cr_assert_eq(json_array_size(json_object_get(out, "jobs")), 1);
    cr_assert_str_eq(str_of(json_array_get(json_object_get(out, "jobs"), 0), "id"), ids[0]);
    json_decref(out);
    cr_assert_eq(nd_db_job_list(db, &(nd_db_job_filter){.state = "queued"}, 0, NULL, &out), 0);
    cr_assert_eq(json_array_size(json_object_get(out, "jobs")), 4);
    cr_assert(json_is_null(json_object_get(out, "next_page_token")));
    json_decref(out);

    cr_assert_eq(nd_db_job_list(db, &(nd_db_job_filter){.state = "sleeping"}, 10, NULL, &out),
                 ND_DB_INVAL);
    const char *bad[] = {"", "s", "x12", "s-1", "sZZ", "s0", "szzzzzzzzzzzzzzzzz"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(nd_db_job_list(db, NULL, 10, bad[i], &out), ND_DB_BADTOKEN, "token '%s'",
                     bad[i]);
}

Test(db, idempotency_same_and_conflict)
{
    char id[33], id2[33];
    json_t *job = NULL;
    cr_assert_eq(nd_db_new_id(id), 0);
    cr_assert_eq(nd_db_new_id(id2), 0);
    cr_assert_eq(
        nd_db_job_insert(db, id, "a", "train", NULL, "synthetic", "{}", "key-1", "hash-A", &job),
        0);
    json_decref(job);
    job = NULL;
    cr_assert_eq(
        nd_db_job_insert(db, id2, "a", "train", NULL, "synthetic", "{}", "key-1", "hash-A", &job),
        ND_DB_IDEM_SAME);
    cr_assert_str_eq(str_of(job, "id"), id);
    json_decref(job);
    job = NULL;
    cr_assert_eq(
        nd_db_job_insert(db, id2, "b", "train", NULL, "synthetic", "{}", "key-1", "hash-B", &job),
        ND_DB_IDEM_CONFLICT);
    cr_assert_null(job);
    int state;
    cr_assert_eq(nd_db_job_state(db, id2, &state), ND_DB_NOTFOUND);
    /* Another key is another job; no key never collides. */
    cr_assert_eq(
        nd_db_job_insert(db, id2, "b", "train", NULL, "synthetic", "{}", "key-2", "hash-B", NULL),
        0);
    int counts[ND_DB_STATE_COUNT];
    cr_assert_eq(nd_db_count_by_state(db, counts), 0);
    cr_assert_eq(counts[ND_DB_QUEUED], 2);
}

Test(db, claim_takes_oldest_once)
{
    char a[33], b[33], got[33];
    char *spec = NULL, *ckpt = NULL;
    int64_t step = -1;
    int attempt = -1, n;
    add_job(a, "a");
    add_job(b, "b");
    cr_assert_eq(nd_db_queue_length(db, &n), 0);
    cr_assert_eq(n, 2);

    cr_assert_eq(nd_db_job_claim(db, got, &spec, &ckpt, &step, &attempt, NULL), 0);
    cr_assert_str_eq(got, a);
    cr_assert_str_eq(spec, "{\"algorithm\":\"train\",\"seed\":1}");
    cr_assert_null(ckpt);
    cr_assert_eq(step, 0);
    cr_assert_eq(attempt, 1);
    free(spec);

    cr_assert_eq(nd_db_job_claim(db, got, &spec, &ckpt, &step, &attempt, NULL), 0);
    cr_assert_str_eq(got, b);
    free(spec);

    cr_assert_eq(nd_db_job_claim(db, got, &spec, &ckpt, &step, &attempt, NULL), ND_DB_NOTFOUND);
    cr_assert_null(spec);
    cr_assert_eq(nd_db_queue_length(db, &n), 0);
    cr_assert_eq(n, 0);

    json_t *job = get_job(a);
    cr_assert_str_eq(str_of(job, "state"), "running");
    cr_assert(matches_time(str_of(job, "started_at")));
    cr_assert_eq(json_integer_value(json_object_get(job, "attempt")), 1);
    json_decref(job);
}

Test(db, finish_sets_state_once)
{
    char id[33];
    add_job(id, NULL);
    claim(id);
    cr_assert_eq(nd_db_job_finish(db, id, ND_DB_QUEUED, NULL), ND_DB_INVAL);
    cr_assert_eq(nd_db_job_finish(db, id, ND_DB_FAILED, "diverged"), 0);
    cr_assert_eq(nd_db_job_finish(db, id, ND_DB_SUCCEEDED, NULL), ND_DB_STATE);
    json_t *job = get_job(id);
    cr_assert_str_eq(str_of(job, "state"), "failed");
    cr_assert_str_eq(str_of(job, "error"), "diverged");
    cr_assert(matches_time(str_of(job, "finished_at")));
    json_decref(job);
}

Test(db, cancel_queued_running_finished)
{
    char q[33], r[33];
    int state = -1;
    add_job(r, NULL);
    add_job(q, NULL);
    claim(r);

    cr_assert_eq(nd_db_job_cancel(db, q, &state), 0);
    cr_assert_eq(state, ND_DB_CANCELLED);
    json_t *job = get_job(q);
    cr_assert(matches_time(str_of(job, "finished_at")));
    json_decref(job);

    cr_assert_eq(nd_db_job_cancel(db, r, &state), 0);
    cr_assert_eq(state, ND_DB_RUNNING);
    job = get_job(r);
    cr_assert_str_eq(str_of(job, "state"), "running");
    cr_assert(json_is_true(json_object_get(job, "cancel_requested")));
    json_decref(job);

    cr_assert_eq(nd_db_job_finish(db, r, ND_DB_CANCELLED, NULL), 0);
    cr_assert_eq(nd_db_job_cancel(db, r, &state), 0);
    cr_assert_eq(state, ND_DB_CANCELLED);
    cr_assert_eq(nd_db_job_cancel(db, q, &state), 0);
    cr_assert_eq(state, ND_DB_CANCELLED);
}

Test(db, delete_refused_while_active_and_cascades)
{
    char id[33], other[33];
    char *ckpt = NULL;
    add_job(id, NULL);
    add_job(other, NULL);
    cr_assert_eq(nd_db_job_delete(db, id, &ckpt), ND_DB_BUSY);
    claim(id);
    cr_assert_eq(nd_db_job_delete(db, id, &ckpt), ND_DB_BUSY);
    cr_assert_null(ckpt);

    cr_assert_eq(nd_db_begin(db), 0);
    cr_assert_eq(nd_db_metric_add(db, id, 1, 10, "train_loss", 2.5, 1.0, NULL), 0);
    cr_assert_eq(nd_db_metric_add(db, other, 1, 10, "train_loss", 2.5, 1.0, NULL), 0);
    cr_assert_eq(nd_db_arch_add(db, id, "{\"ops\":[1]}", 0.5, NULL, 1.0, NULL), 0);
    cr_assert_eq(nd_db_checkpoint_set(db, id, "/state/ckpt/a.st", 10), 0);
    cr_assert_eq(nd_db_result_set(db, id, "{\"ops\":[1]}", "test_accuracy", 0.9, "{\"epochs\":1}"),
                 0);
    cr_assert_eq(nd_db_job_finish(db, id, ND_DB_SUCCEEDED, NULL), 0);
    cr_assert_eq(nd_db_commit(db), 0);

    cr_assert_eq(nd_db_job_delete(db, id, &ckpt), 0);
    cr_assert_str_eq(ckpt, "/state/ckpt/a.st");
    free(ckpt);
    int state;
    cr_assert_eq(nd_db_job_state(db, id, &state), ND_DB_NOTFOUND);
    const char *tables[] = {"metrics", "metric_latest", "architectures", "results"};
    for (int i = 0; i < 4; i++) {
        char sql[96];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE job_id = ?", tables[i]);
        cr_assert_eq(raw_count(sql, id), 0, "%s", tables[i]);
    }
    cr_assert_eq(raw_count("SELECT count(*) FROM metrics WHERE job_id = ?", other), 1);
    /* A job without a checkpoint gives NULL. */
    cr_assert_eq(nd_db_job_cancel(db, other, &state), 0);
    ckpt = (char *)1;
    cr_assert_eq(nd_db_job_delete(db, other, &ckpt), 0);
    cr_assert_null(ckpt);
}

Test(db, requeue_running_honours_cancel_requested)
{
    char a[33], b[33], c[33], got[33];
    char *spec = NULL, *ckpt = NULL;
    int64_t step;
    int attempt, requeued = -1, cancelled = -1, state;
    add_job(a, "a");
    add_job(b, "b");
    add_job(c, "c");
    claim(a);
    claim(b);
    cr_assert_eq(nd_db_checkpoint_set(db, a, "/ck/a", 123), 0);
    cr_assert_eq(nd_db_job_cancel(db, b, &state), 0);

    nd_db_close(db); /* as after a crash: a and b still running */
    open_db();
    cr_assert_eq(nd_db_requeue_running(db, 3, &requeued, &cancelled, NULL), 0);
    cr_assert_eq(requeued, 1);
    cr_assert_eq(cancelled, 1);
    cr_assert_eq(nd_db_job_state(db, b, &state), 0);
    cr_assert_eq(state, ND_DB_CANCELLED);

    /* a goes before c, which was queued after it, and resumes. */
    cr_assert_eq(nd_db_job_claim(db, got, &spec, &ckpt, &step, &attempt, NULL), 0);
    cr_assert_str_eq(got, a);
    cr_assert_str_eq(ckpt, "/ck/a");
    cr_assert_eq(step, 123);
    cr_assert_eq(attempt, 2);
    free(spec);
    free(ckpt);
    json_t *job = get_job(a);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(job, "checkpoint"), "step")),
                 123);
    cr_assert_null(json_object_get(json_object_get(job, "checkpoint"), "path"));
    json_decref(job);
}

Test(db, committed_job_survives_process_exit)
{
    char id[33];
    cr_assert_eq(nd_db_new_id(id), 0);
    nd_db_close(db); /* the child needs the file to itself */
    db = NULL;
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        /* A child with its own connection inserts and dies without
         * closing anything, as nasd would if killed after its 202. */
        nd_db *child;
        char err[256];
        if (nd_db_open(path, &child, err, sizeof err) != 0 ||
            nd_db_job_insert(child, id, "durable", "train", NULL, "synthetic", "{}", NULL, NULL,
                             NULL) != 0)
            _exit(1);
        _exit(0);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    open_db();
    json_t *job = get_job(id);
    cr_assert_str_eq(str_of(job, "name"), "durable");
    json_decref(job);
}

Test(db, batch_rollback_discards_events)
{
    char id[33];
    json_t *out = NULL;
    add_job(id, NULL);
    cr_assert_eq(nd_db_begin(db), 0);
    cr_assert_eq(nd_db_metric_add(db, id, 1, 1, "train_loss", 1.0, 1.0, NULL), 0);
    cr_assert_eq(nd_db_rollback(db), 0);
    cr_assert_eq(nd_db_metrics_list(db, id, 0, 0, &out), 0);
    cr_assert_eq(json_array_size(json_object_get(out, "metrics")), 0);
    json_decref(out);
}

Test(db, counts_by_state)
{
    char a[33], b[33], c[33];
    int counts[ND_DB_STATE_COUNT], state;
    add_job(a, NULL);
    add_job(b, NULL);
    add_job(c, NULL);
    claim(a);
    cr_assert_eq(nd_db_job_cancel(db, c, &state), 0);
    cr_assert_eq(nd_db_count_by_state(db, counts), 0);
    cr_assert_eq(counts[ND_DB_QUEUED], 1);
    cr_assert_eq(counts[ND_DB_RUNNING], 1);
    cr_assert_eq(counts[ND_DB_CANCELLED], 1);
    cr_assert_eq(counts[ND_DB_SUCCEEDED] + counts[ND_DB_FAILED], 0);
}

Test(db, new_ids_are_hex_and_differ)
{
    char a[33], b[33];
    cr_assert_eq(nd_db_new_id(a), 0);
    cr_assert_eq(nd_db_new_id(b), 0);
    cr_assert_eq(strlen(a), 32);
    cr_assert_eq(strspn(a, "0123456789abcdef"), 32);
    cr_assert_str_neq(a, b);
}

Test(db, names_and_codes)
{
    for (int i = 0; i < ND_DB_STATE_COUNT; i++)
        cr_assert_eq(nd_db_state_parse(nd_db_state_name(i)), i);
    cr_assert_eq(nd_db_state_parse("paused"), -1);
    cr_assert_null(nd_db_state_name(ND_DB_STATE_COUNT));
    for (int c = ND_DB_CODE_MIN; c <= ND_DB_IDEM_SAME; c++)
        cr_assert_str_neq(nd_db_strerror(c), "unknown error");
    cr_assert_str_eq(nd_db_strerror(-100), "unknown error");
}

Test(db, second_open_is_refused_while_open)
{
    nd_db *other = NULL;
    char err[256] = "";
    /* Waits out the 5 s busy timeout, then names the likely cause. */
    cr_assert_lt(nd_db_open(path, &other, err, sizeof err), 0);
    cr_assert_null(other);
    cr_assert(strstr(err, "another nasd"), "%s", err);
}

Test(db, prune_keeps_the_newest_finished_and_never_active_jobs)
{
    char ids[5][33], got[33];
    char *spec = NULL, *ckpt = NULL;
    int64_t step;
    int attempt, n = -1;
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(nd_db_new_id(ids[i]), 0);
        cr_assert_eq(
            nd_db_job_insert(db, ids[i], NULL, "train", NULL, "synthetic", "{}", NULL, NULL, NULL),
            0);
    }
    /* 0..2 finish, 3 runs, 4 stays queued. */
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(nd_db_job_claim(db, got, &spec, &ckpt, &step, &attempt, NULL), 0);
        free(spec);
        free(ckpt);
        if (i < 3) {
            cr_assert_eq(nd_db_metric_add(db, got, 1, 1, "train_loss", 1.0, 1.0, NULL), 0);
            cr_assert_eq(nd_db_job_finish(db, got, ND_DB_SUCCEEDED, NULL), 0);
        }
    }
    cr_assert_eq(nd_db_prune(db, 2, 0, NULL, NULL, &n), 0);
    cr_assert_eq(n, 1, "pruned %d, want the oldest finished job only", n);
    int state;
    cr_assert_eq(nd_db_job_state(db, ids[0], &state), ND_DB_NOTFOUND);
    for (int i = 1; i < 5; i++)
        cr_assert_eq(nd_db_job_state(db, ids[i], &state), 0, "job %d went", i);
    /* By age: everything finished before a time far ahead goes; the
     * running and the queued job stay. */
    cr_assert_eq(nd_db_prune(db, 0, 4e9, NULL, NULL, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(nd_db_job_state(db, ids[3], &state), 0);
    cr_assert_eq(state, ND_DB_RUNNING);
    cr_assert_eq(nd_db_job_state(db, ids[4], &state), 0);
    cr_assert_eq(state, ND_DB_QUEUED);
}
