// SPDX-License-Identifier: MIT
/*
 * test_acks.c - an acknowledged job is never lost and never doubled: a
 * stream of POSTs with kill -9 right after the last 202, POSTs cut by a
 * kill while several clients send them (retried after the restart with
 * their Idempotency-Key), and concurrent retries of one POST with one
 * Idempotency-Key.
 *
 * The one design decision to know: a 202 is the daemon's promise, so the
 * checks count exactly: after the restart the database and the list hold
 * every job that got a 202, each once, with the spec that was sent, and
 * nothing else - except a POST whose answer the kill cut off, which may
 * or may not have been stored, and whose retry with the same key must
 * then return that job rather than make a second one.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rel.h"

TestSuite(acks, .init = begin_test, .fini = finish_test);

static const char *const flags[] = {"--workers", "1", "--threads-per-job", "1", NULL};

/* A one-epoch train job told apart by its seed. */
static void body_of(int seed, char *out, size_t n)
{
    snprintf(out, n,
             "{\"algorithm\":\"train\",\"dataset\":\"synthetic\",\"architecture\":{\"space\":"
             "\"fixed-cnn\",\"channels\":[4],\"hidden\":8},\"budget\":{\"epochs\":1},"
             "\"seed\":%d}",
             seed);
}

/* ids[i] has seed seeds[i]: each listed exactly once with that seed, and
 * the list holds `total` jobs. */
static void check_listed(int port, char (*ids)[33], const int *seeds, int n, int total)
{
    json_t *all = rel_all_jobs(port);
    cr_assert_eq((int)json_array_size(all), total, "%zu jobs listed, %d expected",
                 json_array_size(all), total);
    for (int i = 0; i < n; i++) {
        int seen = 0;
        size_t k;
        json_t *v;
        json_array_foreach(all, k, v)
        {
            if (strcmp(str_at(v, "id"), ids[i]) != 0)
                continue;
            seen++;
            cr_assert_eq(int_at(v, "spec.seed"), seeds[i], "job %s has seed %lld, sent %d", ids[i],
                         (long long)int_at(v, "spec.seed"), seeds[i]);
        }
        cr_assert_eq(seen, 1, "acknowledged job %s is listed %d times", ids[i], seen);
    }
    json_decref(all);
}

#define STREAM_MAX 64

Test(acks, kill9_right_after_a_stream_of_202s)
{
    rel_seed("kill9_right_after_202s");
    char dir[PATH_MAX];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    nasd_proc d;
    cr_assert_eq(nasd_start(&d, dir, flags, REL_START_MS), 0, "nasd did not start");
    static char ids[STREAM_MAX * 3][33];
    static int seeds[STREAM_MAX * 3];
    int n = 0;
    for (int round = 0; round < 3; round++) {
        int count = rel_rand(STREAM_MAX / 2, STREAM_MAX);
        for (int i = 0; i < count; i++) {
            char body[512], key[96];
            seeds[n] = 1000 * (round + 1) + i;
            body_of(seeds[n], body, sizeof(body));
            /* Half of them with a key, which takes another path in the
             * insert. */
            snprintf(key, sizeof(key), "Idempotency-Key: stream-%d-%d\r\n", round, i);
            int status = rel_post_job(d.port, body, i % 2 ? key : NULL, ids[n]);
            cr_assert_eq(status, 202, "POST %d of round %d: %d", i, round, status);
            n++;
        }
        nasd_kill9(&d); /* at once after the last 202 */
        char when[64];
        snprintf(when, sizeof(when), "after kill %d", round + 1);
        cr_assert_eq(rel_db_check(dir, when), n, "%s: not every acknowledged job is stored", when);
        cr_assert_eq(nasd_start(&d, dir, flags, REL_START_MS), 0, "nasd did not restart");
        check_listed(d.port, ids, seeds, n, n);
    }
    int status = nasd_stop(&d, REL_STOP_MS);
    cr_assert_eq(status, 0, "nasd exited with %d after SIGTERM", status);
    rel_db_check(dir, "at the end");
    fprintf(stderr, "kill9_right_after_202s: 3 kills, %d acknowledged jobs, all there once\n", n);
    PASS();
}

/* ------------------------------------------- POSTs cut off by a kill */

#define CLIENTS 4
#define PER_CLIENT 200

typedef struct client {
    int index, port;
    atomic_int *stop;
    int acked; /* 202s received */
    char ids[PER_CLIENT][33];
    int seeds[PER_CLIENT];
    int cut;   /* the POST after the last 202 got no answer */
    int other; /* another status: a failure */
    int other_status;
} client;

static void *client_main(void *arg)
{
    client *c = arg;
    for (int i = 0; i < PER_CLIENT && !atomic_load(c->stop); i++) {
        char body[512], key[96];
        int seed = 100000 * (c->index + 1) + i;
        body_of(seed, body, sizeof(body));
        snprintf(key, sizeof(key), "Idempotency-Key: client-%d-%d\r\n", c->index, i);
        char id[33];
        int status = rel_post_job(c->port, body, key, id);
        if (status == 202) {
            memcpy(c->ids[c->acked], id, 33);
            c->seeds[c->acked++] = seed;
        } else if (status < 0) {
            c->cut = 1; /* the kill came: this one is retried */
            break;
        } else {
            c->other = 1;
            c->other_status = status;
            break;
        }
    }
    return NULL;
}

Test(acks, kill9_while_clients_post_then_retry)
{
    rel_seed("kill9_while_clients_post");
    char dir[PATH_MAX];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    nasd_proc d;
    cr_assert_eq(nasd_start(&d, dir, flags, REL_START_MS), 0, "nasd did not start");
    static client cl[CLIENTS];
    atomic_int stop = 0;
    pthread_t th[CLIENTS];
    for (int c = 0; c < CLIENTS; c++) {
        memset(&cl[c], 0, sizeof(cl[c]));
        cl[c].index = c;
        cl[c].port = d.port;
        cl[c].stop = &stop;
        cr_assert_eq(pthread_create(&th[c], NULL, client_main, &cl[c]), 0);
    }
    /* The kill comes 100-600 ms in (times NASD_TEST_TIMEOUT_SCALE: a
     * slower nasd needs longer to acknowledge the same POSTs). */
    rel_sleep_ms(rel_rand(100, 600) * test_timeout_scale());
    nasd_kill9(&d);
    atomic_store(&stop, 1);
    for (int c = 0; c < CLIENTS; c++)
        pthread_join(th[c], NULL);
    int acked = 0, cut = 0;
    for (int c = 0; c < CLIENTS; c++) {
        cr_assert(!cl[c].other, "client %d got %d", c, cl[c].other_status);
        acked += cl[c].acked;
        cut += cl[c].cut;
    }
    cr_assert(acked > 0, "no POST was acknowledged before the kill");
    int rows = rel_db_check(dir, "after the kill");
    cr_assert(rows >= acked && rows <= acked + cut,
              "%d jobs stored: %d were acknowledged and %d cut off", rows, acked, cut);

    cr_assert_eq(nasd_start(&d, dir, flags, REL_START_MS), 0, "nasd did not restart");
    /* The retries of the cut POSTs: the same key and body give the job
     * that was stored, or store it now; either way one job. */
    static char ids[CLIENTS * (PER_CLIENT + 1)][33];
    static int seeds[CLIENTS * (PER_CLIENT + 1)];
    int n = 0;
    for (int c = 0; c < CLIENTS; c++) {
        for (int i = 0; i < cl[c].acked; i++) {
            memcpy(ids[n], cl[c].ids[i], 33);
            seeds[n++] = cl[c].seeds[i];
        }
        if (!cl[c].cut)
            continue;
        char body[512], key[96];
        int i = cl[c].acked, seed = 100000 * (c + 1) + i;
        body_of(seed, body, sizeof(body));
        snprintf(key, sizeof(key), "Idempotency-Key: client-%d-%d\r\n", c, i);
        cr_assert_eq(rel_post_job(d.port, body, key, ids[n]), 202, "retry of client %d", c);
        seeds[n++] = seed;
    }
    check_listed(d.port, ids, seeds, n, n);
    int status = nasd_stop(&d, REL_STOP_MS);
    cr_assert_eq(status, 0, "nasd exited with %d after SIGTERM", status);
    cr_assert_eq(rel_db_check(dir, "at the end"), n);
    fprintf(stderr,
            "kill9_while_clients_post: %d clients, %d acknowledged, %d cut off by the kill "
            "(%d of them stored before it), all there once after the retries\n",
            CLIENTS, acked, cut, rows - acked);
    PASS();
}

/* -------------------------------------- concurrent retries of one POST */

#define RETRIERS 8

typedef struct retrier {
    int port;
    const char *key;
    const char *body;
    pthread_barrier_t *go;
    int status;
    char id[33];
} retrier;

static void *retrier_main(void *arg)
{
    retrier *r = arg;
    char headers[160];
    snprintf(headers, sizeof(headers), "Idempotency-Key: %s\r\n", r->key);
    pthread_barrier_wait(r->go);
    r->status = rel_post_job(r->port, r->body, headers, r->id);
    return NULL;
}

/* RETRIERS clients POST at once with one key; the even ones send body a,
 * the odd ones body b when b is not NULL. Exactly one job results: every
 * 202 names it, and every other answer is a 422 for the body it was not
 * made from. Its id goes to id_out, and 1 when it was made from a. */
static int retry_at_once(int port, const char *key, const char *a, const char *b, char id_out[33])
{
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, RETRIERS);
    retrier r[RETRIERS];
    pthread_t th[RETRIERS];
    for (int i = 0; i < RETRIERS; i++) {
        r[i] = (retrier){port, key, b && i % 2 ? b : a, &go, 0, ""};
        cr_assert_eq(pthread_create(&th[i], NULL, retrier_main, &r[i]), 0);
    }
    for (int i = 0; i < RETRIERS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    const char *winner = NULL, *winner_id = NULL;
    for (int i = 0; i < RETRIERS; i++) {
        cr_assert(r[i].status == 202 || (b && r[i].status == 422), "key %s, client %d: status %d",
                  key, i, r[i].status);
        if (r[i].status != 202)
            continue;
        if (!winner) {
            winner = r[i].body;
            winner_id = r[i].id;
        }
        cr_assert_str_eq(r[i].id, winner_id, "key %s: two jobs from one key", key);
        cr_assert(r[i].body == winner, "key %s: 202 for both bodies", key);
        snprintf(id_out, 33, "%s", r[i].id);
    }
    cr_assert(winner, "key %s: no client got a 202", key);
    for (int i = 0; i < RETRIERS; i++)
        if (r[i].status == 422)
            cr_assert(r[i].body != winner, "key %s: 422 for the job's own body", key);
    return winner == a;
}

Test(acks, concurrent_retries_with_one_key_make_one_job)
{
    char dir[PATH_MAX];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    nasd_proc d;
    cr_assert_eq(nasd_start(&d, dir, flags, REL_START_MS), 0, "nasd did not start");
    enum { KEYS = 6 };
    char ids[KEYS][33], key[KEYS][32], a[KEYS][512], b[KEYS][512];
    int seeds[KEYS];
    for (int k = 0; k < KEYS; k++) {
        snprintf(key[k], sizeof(key[k]), "retry-%d", k);
        body_of(500 + k, a[k], sizeof(a[k]));
        body_of(600 + k, b[k], sizeof(b[k]));
        /* Half the keys race two different bodies as well. */
        int from_a = retry_at_once(d.port, key[k], a[k], k % 2 ? b[k] : NULL, ids[k]);
        seeds[k] = from_a ? 500 + k : 600 + k;
    }
    check_listed(d.port, ids, seeds, KEYS, KEYS);

    /* The keys outlive a crash: the same races after kill -9 and a
     * restart still name the same jobs and make none. */
    nasd_kill9(&d);
    rel_db_check(dir, "after the kill");
    cr_assert_eq(nasd_start(&d, dir, flags, REL_START_MS), 0, "nasd did not restart");
    for (int k = 0; k < KEYS; k++) {
        char again[33];
        const char *same = seeds[k] == 500 + k ? a[k] : b[k];
        retry_at_once(d.port, key[k], same, NULL, again);
        cr_assert_str_eq(again, ids[k], "key %s names another job after the restart", key[k]);
    }
    check_listed(d.port, ids, seeds, KEYS, KEYS);
    int status = nasd_stop(&d, REL_STOP_MS);
    cr_assert_eq(status, 0, "nasd exited with %d after SIGTERM", status);
    cr_assert_eq(rel_db_check(dir, "at the end"), KEYS);
    fprintf(stderr,
            "concurrent_retries: %d keys x %d clients at once, twice (before and after a "
            "kill -9): one job per key\n",
            KEYS, RETRIERS);
    PASS();
}
