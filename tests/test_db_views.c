// SPDX-License-Identifier: MIT
/*
 * test_db_views.c - the JSON views of the database layer (daemon/db_views.c)
 * on a real SQLite file: the metrics and architectures of a job by cursor,
 * its result and best architecture, stored JSON that does not parse, and
 * the cache of job views (copies, dropped by every write and by a rolled
 * back batch).
 *
 * The one design decision to know: as in test_db.c (db_fixture.h), every
 * test opens a fresh database and checks behaviour only through db.h.
 */
#include "db_fixture.h"

TestSuite(db_views, .init = setup, .fini = teardown);

Test(db_views, metrics_paging_and_latest)
{
    char id[33];
    json_t *out = NULL;
    add_job(id, NULL);
    cr_assert_eq(nd_db_metrics_list(db, id, 0, 10, &out), 0);
    cr_assert_eq(json_array_size(json_object_get(out, "metrics")), 0);
    cr_assert(json_is_null(json_object_get(out, "next_after")));
    json_decref(out);

    cr_assert_eq(nd_db_begin(db), 0);
    for (int e = 1; e <= 3; e++) {
        cr_assert_eq(
            nd_db_metric_add(db, id, e, e * 100, "train_loss", 3.0 - e, 1795000000.0 + e, NULL), 0);
        cr_assert_eq(
            nd_db_metric_add(db, id, e, e * 100, "val_accuracy", e / 10.0, 1795000000.0 + e, NULL),
            0);
    }
    cr_assert_eq(nd_db_metric_add(db, id, 3, 300, "diverged", NAN, 1795000000.4567, NULL), 0);
    cr_assert_eq(nd_db_commit(db), 0);

    /* 7 rows in pages of 3. */
    int64_t after = 0;
    int total = 0, pages = 0;
    for (;;) {
        cr_assert_eq(nd_db_metrics_list(db, id, after, 3, &out), 0);
        json_t *items = json_object_get(out, "metrics");
        for (size_t k = 0; k < json_array_size(items); k++) {
            json_t *m = json_array_get(items, k);
            int64_t seq = json_integer_value(json_object_get(m, "seq"));
            cr_assert_gt(seq, after);
            after = seq;
            total++;
            cr_assert(matches_time(str_of(m, "t")));
            if (total == 7) /* the NaN row: null, and its time */
                cr_assert_str_eq(str_of(m, "t"), "2026-11-18T11:06:40.457Z");
            if (total == 7)
                cr_assert(json_is_null(json_object_get(m, "value")));
        }
        pages++;
        json_t *next = json_object_get(out, "next_after");
        if (json_is_null(next)) {
            json_decref(out);
            break;
        }
        cr_assert_eq(json_integer_value(next), after);
        json_decref(out);
    }
    cr_assert_eq(total, 7);
    cr_assert_eq(pages, 3);

    json_t *job = get_job(id);
    json_t *metrics = json_object_get(job, "metrics");
    cr_assert_eq(json_object_size(metrics), 3);
    json_t *loss = json_object_get(metrics, "train_loss");
    cr_assert_float_eq(json_real_value(json_object_get(loss, "value")), 0.0, 1e-12);
    cr_assert_eq(json_integer_value(json_object_get(loss, "epoch")), 3);
    cr_assert_eq(json_integer_value(json_object_get(loss, "step")), 300);
    cr_assert(json_is_null(json_object_get(json_object_get(metrics, "diverged"), "value")));
    json_decref(job);
}

Test(db_views, architectures_paging_and_best)
{
    char id[33];
    int64_t seqs[4];
    double rewards[4] = {0.1, 0.9, 0.5, NAN};
    json_t *out = NULL;
    add_job(id, NULL);
    for (int i = 0; i < 4; i++) {
        char arch[32];
        snprintf(arch, sizeof arch, "{\"n\":%d}", i);
        cr_assert_eq(nd_db_arch_add(db, id, arch, rewards[i], "{\"params\":10}", 1.0 + i, &seqs[i]),
                     0);
        if (i > 0)
            cr_assert_gt(seqs[i], seqs[i - 1]);
    }
    json_t *job = get_job(id);
    json_t *best = json_object_get(job, "best_architecture");
    cr_assert(json_is_object(best));
    cr_assert_eq(json_integer_value(json_object_get(best, "seq")), seqs[1]);
    cr_assert_float_eq(json_real_value(json_object_get(best, "reward")), 0.9, 1e-12);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(best, "architecture"), "n")),
                 1);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(best, "metrics"), "params")),
                 10);
    json_decref(job);

    cr_assert_eq(nd_db_arch_list(db, id, seqs[0], 2, &out), 0);
    json_t *items = json_object_get(out, "architectures");
    cr_assert_eq(json_array_size(items), 2);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(items, 0), "seq")), seqs[1]);
    cr_assert_eq(json_integer_value(json_object_get(out, "next_after")), seqs[2]);
    json_decref(out);
    cr_assert_eq(nd_db_arch_list(db, id, seqs[2], 2, &out), 0);
    items = json_object_get(out, "architectures");
    cr_assert_eq(json_array_size(items), 1);
    cr_assert(json_is_null(json_object_get(json_array_get(items, 0), "reward")));
    cr_assert(json_is_null(json_object_get(out, "next_after")));
    json_decref(out);
}

Test(db_views, result_set_get_and_in_job)
{
    char id[33];
    json_t *out = NULL;
    add_job(id, NULL);
    cr_assert_eq(nd_db_result_get(db, id, &out), ND_DB_NOTFOUND);
    cr_assert_eq(nd_db_result_set(db, id, "{\"normal\":[]}", "test_accuracy", 0.25, NULL), 0);
    cr_assert_eq(
        nd_db_result_set(db, id, "{\"normal\":[1]}", "test_accuracy", 0.75, "{\"epochs\":2}"), 0);
    cr_assert_eq(nd_db_result_get(db, id, &out), 0);
    cr_assert_str_eq(str_of(out, "metric"), "test_accuracy");
    cr_assert_float_eq(json_real_value(json_object_get(out, "value")), 0.75, 1e-12);
    cr_assert_eq(json_array_size(json_object_get(json_object_get(out, "architecture"), "normal")),
                 1);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(out, "details"), "epochs")), 2);
    json_decref(out);
    json_t *job = get_job(id);
    cr_assert_str_eq(str_of(json_object_get(job, "result"), "metric"), "test_accuracy");
    json_decref(job);
}

Test(db_views, malformed_json_columns_become_null)
{
    char id[33];
    add_job(id, NULL);
    cr_assert_eq(nd_db_progress_set(db, id, "{\"epoch\": 1,"), 0);
    cr_assert_eq(nd_db_arch_add(db, id, "not json", 1.0, "[", 1.0, NULL), 0);
    json_t *job = get_job(id);
    cr_assert(json_is_null(json_object_get(job, "progress")));
    json_t *best = json_object_get(job, "best_architecture");
    cr_assert(json_is_null(json_object_get(best, "architecture")));
    cr_assert(json_is_null(json_object_get(best, "metrics")));
    json_decref(job);

    /* A spec broken behind nasd's back. */
    sqlite3 *c;
    nd_db_close(db);
    db = NULL;
    cr_assert_eq(sqlite3_open(path, &c), SQLITE_OK);
    sqlite3_busy_timeout(c, 5000);
    cr_assert_eq(sqlite3_exec(c, "UPDATE jobs SET spec = '{{{'", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(c);
    open_db();
    job = get_job(id);
    cr_assert(json_is_null(json_object_get(job, "spec")));
    json_decref(job);

    cr_assert_eq(nd_db_progress_set(db, id, "{\"epoch\":2,\"epochs\":5}"), 0);
    job = get_job(id);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(job, "progress"), "epochs")),
                 5);
    json_decref(job);
}

Test(db_views, job_views_are_copies_and_follow_writes)
{
    char id[33];
    add_job(id, "v");
    json_t *a = get_job(id);
    cr_assert_eq(json_object_set_new(a, "links", json_object()), 0);
    json_object_del(a, "state");
    json_t *b = get_job(id);
    cr_assert_null(json_object_get(b, "links"));
    cr_assert_str_eq(str_of(b, "state"), "queued");
    json_decref(a);
    json_decref(b);
    int state;
    cr_assert_eq(nd_db_job_cancel(db, id, &state), 0);
    b = get_job(id);
    cr_assert_str_eq(str_of(b, "state"), "cancelled");
    json_decref(b);
}

Test(db_views, a_view_read_inside_a_rolled_back_batch_is_not_kept)
{
    char id[33];
    add_job(id, NULL);
    cr_assert_eq(nd_db_begin(db), 0);
    cr_assert_eq(nd_db_progress_set(db, id, "{\"epoch\":9}"), 0);
    json_t *job = get_job(id);
    cr_assert(json_is_object(json_object_get(job, "progress")));
    json_decref(job);
    cr_assert_eq(nd_db_rollback(db), 0);
    job = get_job(id);
    cr_assert(json_is_null(json_object_get(job, "progress")));
    json_decref(job);
}

/* The API's response memo lives beside the cached view and goes with it:
 * every kind of write to the job drops it, so a served body is never
 * older than the job. */
Test(db_views, memo_is_dropped_by_every_write)
{
    char id[33], other[33];
    size_t len = 0;
    add_job(id, "m");
    add_job(other, "o");
    cr_assert_null(nd_db_job_memo(db, id, &len), "no view yet");
    nd_db_job_memo_set(db, id, "x", 1);
    cr_assert_null(nd_db_job_memo(db, id, &len), "set without a view is ignored");

    json_decref(get_job(id));
    nd_db_job_memo_set(db, id, "body-1", 6);
    const char *m = nd_db_job_memo(db, id, &len);
    cr_assert(m && len == 6 && memcmp(m, "body-1", 6) == 0);

    /* A write to another job leaves this memo alone. */
    cr_assert_eq(nd_db_begin(db), 0);
    cr_assert_eq(nd_db_progress_set(db, other, "{\"step\":1}"), 0);
    cr_assert_eq(nd_db_commit(db), 0);
    cr_assert_not_null(nd_db_job_memo(db, id, &len));

    /* Each write to the job drops it. */
    for (int k = 0; k < 4; k++) {
        json_decref(get_job(id));
        nd_db_job_memo_set(db, id, "body", 4);
        cr_assert_not_null(nd_db_job_memo(db, id, &len));
        cr_assert_eq(nd_db_begin(db), 0);
        int rc = k == 0   ? nd_db_progress_set(db, id, "{\"step\":2}")
                 : k == 1 ? nd_db_metric_add(db, id, 1, 2, "train_loss", 0.5, 1.0, NULL)
                 : k == 2 ? nd_db_arch_add(db, id, "{}", 0.5, NULL, 1.0, NULL)
                          : nd_db_checkpoint_set(db, id, "/tmp/x", 3);
        cr_assert_eq(rc, 0, "write %d: %s", k, nd_db_errmsg(db));
        cr_assert_eq(nd_db_commit(db), 0);
        cr_assert_null(nd_db_job_memo(db, id, &len), "write %d must drop the memo", k);
    }
    json_decref(get_job(id));
    nd_db_job_memo_set(db, id, "body", 4);
    int state;
    cr_assert_eq(nd_db_job_cancel(db, id, &state), 0);
    cr_assert_null(nd_db_job_memo(db, id, &len), "cancel drops the memo");
}

/* Retention (#22): finished jobs beyond the newest `keep` or finished
 * before a time go, with their rows; queued and running ones never. */

/* Architectures are numbered from 1 within their job whatever other jobs
 * report in between (issue #15: /architectures/1 is the job's first), and
 * the number is found again by nd_db_arch_get. */
Test(db_views, architectures_are_numbered_within_their_job)
{
    char a[33], b[33];
    add_job(a, "a");
    add_job(b, "b");
    int64_t seq;
    for (int i = 0; i < 6; i++) {
        char arch[32];
        snprintf(arch, sizeof arch, "{\"i\":%d}", i);
        /* a, b, b, a, b, b: b's first has global seq 2. */
        const char *id = (i == 0 || i == 3) ? a : b;
        cr_assert_eq(nd_db_arch_add(db, id, arch, 0.1 * i, NULL, 1.0 + i, &seq), 0);
    }
    json_t *out = NULL;
    cr_assert_eq(nd_db_arch_list(db, b, 0, 10, &out), 0);
    json_t *items = json_object_get(out, "architectures");
    cr_assert_eq(json_array_size(items), 4);
    for (size_t k = 0; k < 4; k++) {
        json_t *row = json_array_get(items, k);
        cr_assert_eq(json_integer_value(json_object_get(row, "number")), (json_int_t)k + 1);
        cr_assert(json_object_get(row, "architecture"), "the row names it architecture");
        cr_assert_null(json_object_get(row, "arch"));
    }
    json_decref(out);
    json_t *row = NULL;
    cr_assert_eq(nd_db_arch_get(db, b, 1, &row), 0);
    cr_assert(row);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(row, "architecture"), "i")), 1);
    cr_assert_eq(json_integer_value(json_object_get(row, "seq")), 2);
    json_decref(row);
    cr_assert_eq(nd_db_arch_get(db, a, 2, &row), 0);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(row, "architecture"), "i")), 3);
    json_decref(row);
    cr_assert_eq(nd_db_arch_get(db, a, 3, &row), 0);
    cr_assert_null(row, "job a has two architectures");
    cr_assert_eq(nd_db_arch_get(db, "0123456789abcdef0123456789abcdef", 1, &row), ND_DB_NOTFOUND);
    json_t *job = get_job(b);
    json_t *best = json_object_get(job, "best_architecture");
    cr_assert_eq(json_integer_value(json_object_get(best, "number")), 4,
                 "b's best is its 4th (reward 0.5)");
    json_decref(job);
}

static void add_search(char id[33])
{
    cr_assert_eq(nd_db_new_id(id), 0);
    cr_assert_eq(nd_db_job_insert(db, id, "s", "darts", "darts-cnn", "synthetic",
                                  "{\"algorithm\":\"darts\",\"seed\":1}", NULL, NULL, NULL),
                 0, "%s", nd_db_errmsg(db));
}

/* A search that ends cancelled or failed after it stored architectures keeps
 * its best one as a partial result (issue #15 item 4, the trigger of
 * schema/0005); one that has its result keeps it, one with no
 * architecture has none. */
Test(db_views, cancelled_or_failed_jobs_keep_their_best_architecture_as_a_partial_result)
{
    char a[33], b[33], c[33], t[33];
    int64_t seq;
    json_t *res = NULL;
    add_search(a);
    add_search(b);
    add_search(c);
    add_job(t, "a train job: its architecture is the one it was given");
    cr_assert_eq(nd_db_arch_add(db, t, "{\"i\":0}", 0.5, NULL, 1.0, &seq), 0);
    cr_assert_eq(nd_db_job_finish(db, t, ND_DB_CANCELLED, NULL), 0);
    cr_assert_eq(nd_db_result_get(db, t, &res), ND_DB_NOTFOUND, "no partial result for train");
    double rewards[3] = {0.4, 0.7, 0.7};
    for (int i = 0; i < 3; i++) {
        char arch[32];
        snprintf(arch, sizeof arch, "{\"i\":%d}", i);
        cr_assert_eq(nd_db_arch_add(db, a, arch, rewards[i], NULL, 1.0 + i, &seq), 0);
        cr_assert_eq(nd_db_arch_add(db, b, arch, rewards[i], NULL, 1.0 + i, &seq), 0);
    }
    cr_assert_eq(nd_db_result_get(db, a, &res), ND_DB_NOTFOUND, "no result while it is queued");
    cr_assert_eq(nd_db_job_finish(db, a, ND_DB_CANCELLED, NULL), 0);
    cr_assert_eq(nd_db_result_get(db, a, &res), 0);
    cr_assert_str_eq(json_string_value(json_object_get(res, "metric")), "reward");
    cr_assert_float_eq(json_real_value(json_object_get(res, "value")), 0.7, 1e-12);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(res, "architecture"), "i")), 1,
                 "the best, the earliest of equals");
    json_t *d = json_object_get(res, "details");
    cr_assert(json_is_true(json_object_get(d, "partial")), "%s", json_dumps(res, 0));
    cr_assert_str_eq(json_string_value(json_object_get(d, "reason")), "cancelled");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(d, "architecture"), "number")),
                 2);
    json_decref(res);

    cr_assert_eq(nd_db_job_finish(db, b, ND_DB_FAILED, "out of patience"), 0);
    cr_assert_eq(nd_db_result_get(db, b, &res), 0);
    d = json_object_get(res, "details");
    cr_assert_str_eq(json_string_value(json_object_get(d, "reason")), "failed");
    cr_assert_str_eq(json_string_value(json_object_get(d, "error")), "out of patience");
    json_decref(res);

    cr_assert_eq(nd_db_job_finish(db, c, ND_DB_CANCELLED, NULL), 0);
    cr_assert_eq(nd_db_result_get(db, c, &res), ND_DB_NOTFOUND, "nothing to keep");

    /* A result the job set itself is not replaced. */
    char e[33];
    add_search(e);
    cr_assert_eq(nd_db_arch_add(db, e, "{\"i\":9}", 0.9, NULL, 1.0, &seq), 0);
    cr_assert_eq(nd_db_result_set(db, e, "{\"i\":1}", "test_accuracy", 0.5, "{}"), 0);
    cr_assert_eq(nd_db_job_finish(db, e, ND_DB_FAILED, "late"), 0);
    cr_assert_eq(nd_db_result_get(db, e, &res), 0);
    cr_assert_str_eq(json_string_value(json_object_get(res, "metric")), "test_accuracy");
    json_decref(res);
}
