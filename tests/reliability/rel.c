// SPDX-License-Identifier: MIT
/*
 * rel.c - the reliability tests' shared helpers (see rel.h).
 *
 * The one design decision to know: the database checks go through the
 * SQLite C API on the file nasd left behind, read-only, so they see what
 * a restarted nasd would see, including a write-ahead log that a kill -9
 * left unmerged; they never change the file.
 */
#include "rel.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

/* ----------------------------------------------------------- schedule */

static uint64_t rng_state;

static uint64_t splitmix64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int rel_env_int(const char *name, int dflt)
{
    const char *v = getenv(name);
    char *end;
    if (!v || !*v)
        return dflt;
    long n = strtol(v, &end, 10);
    return *end ? dflt : (int)n;
}

uint64_t rel_seed(const char *what)
{
    const char *v = getenv("NASD_RELIABILITY_SEED");
    uint64_t seed;
    if (v && *v) {
        seed = strtoull(v, NULL, 10);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = ((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid()) %
               1000000000ull;
    }
    rng_state = seed;
    fprintf(stderr, "%s: seed %" PRIu64 " (NASD_RELIABILITY_SEED=%" PRIu64 " replays it)\n", what,
            seed, seed);
    return seed;
}

int rel_rand(int lo, int hi)
{
    if (hi <= lo)
        return lo;
    return lo + (int)(splitmix64() % (uint64_t)(hi - lo + 1));
}

void rel_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* --------------------------------------------------------------- JSON */

/* -------------------------------------------------------------- HTTP */

int rel_post_job(int port, const char *body, const char *headers, char id[33])
{
    http_resp r;
    if (http_request(port, "POST", "/v1/jobs", headers, body, strlen(body), HTTP_TIMEOUT_MS, &r) !=
        0) {
        http_resp_free(&r);
        return -1;
    }
    int status = r.status;
    if (status == 202) {
        json_t *job = http_json(&r);
        const char *jid = str_at(job, "id");
        cr_assert(jid && strlen(jid) == 32, "202 without a job id: %s", r.body);
        snprintf(id, 33, "%s", jid);
        char loc[160], want[64];
        snprintf(want, sizeof(want), "/v1/jobs/%s", id);
        cr_assert(http_header(&r, "Location", loc, sizeof(loc)) && strcmp(loc, want) == 0,
                  "202 for %s without its Location", id);
        json_decref(job);
    }
    http_resp_free(&r);
    return status;
}

json_t *rel_all_jobs(int port)
{
    json_t *all = json_array();
    char token[256] = "", path[512];
    for (int pages = 0;; pages++) {
        cr_assert(pages < 1000, "the job list does not end");
        if (token[0])
            snprintf(path, sizeof(path), "/v1/jobs?page_size=200&page_token=%s", token);
        else
            snprintf(path, sizeof(path), "/v1/jobs?page_size=200");
        json_t *page = call(port, "GET", path, NULL, 200);
        json_array_extend(all, json_object_get(page, "jobs"));
        const char *next = str_at(page, "next_page_token");
        if (!next) {
            json_decref(page);
            return all;
        }
        snprintf(token, sizeof(token), "%s", next);
        json_decref(page);
    }
}

/* --------------------------------------------------------------- log */

off_t rel_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : 0;
}

char *rel_read_from(const char *path, off_t from)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    off_t size = lseek(fd, 0, SEEK_END);
    if (size < from)
        from = size;
    char *buf = malloc((size_t)(size - from) + 1);
    ssize_t got = buf ? pread(fd, buf, (size_t)(size - from), from) : -1;
    close(fd);
    if (got < 0) {
        free(buf);
        return NULL;
    }
    buf[got] = '\0';
    return buf;
}

/* ----------------------------------------------------------- database */

int rel_db_check(const char *dir, const char *when)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/nasd.db", dir);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    cr_assert_eq(rc, SQLITE_OK, "%s: cannot open %s read-only: %s", when, path,
                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_busy_timeout(db, 5000);

    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s", when, sqlite3_errmsg(db));
    char verdict[1024] = "";
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *row = (const char *)sqlite3_column_text(st, 0);
        size_t used = strlen(verdict);
        snprintf(verdict + used, sizeof(verdict) - used, "%s%s", used ? "; " : "",
                 row ? row : "(null)");
    }
    cr_assert_eq(rc, SQLITE_DONE, "%s: integrity_check: %s", when, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    cr_assert_str_eq(verdict, "ok", "%s: PRAGMA integrity_check of %s: %s", when, path, verdict);

    rc = sqlite3_prepare_v2(db, "SELECT count(*), count(DISTINCT id) FROM jobs", -1, &st, NULL);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s", when, sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s: %s", when, sqlite3_errmsg(db));
    int rows = sqlite3_column_int(st, 0), distinct = sqlite3_column_int(st, 1);
    sqlite3_finalize(st);
    cr_assert_eq(rows, distinct, "%s: %d job rows but %d distinct ids", when, rows, distinct);
    sqlite3_close(db);
    return rows;
}

int64_t rel_db_ckpt_step(const char *dir, const char *id)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/nasd.db", dir);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    cr_assert_eq(rc, SQLITE_OK, "cannot open %s read-only", path);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(db,
                            "SELECT coalesce(checkpoint_step, 0) FROM jobs WHERE id = ?1"
                            " AND checkpoint_path IS NOT NULL",
                            -1, &st, NULL);
    cr_assert_eq(rc, SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int64_t step = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return step;
}

/* ------------------------------------------------------------ the jobs */

void rel_job_spec(rel_jobrun *j, int seed)
{
    switch (j->kind) {
    case REL_TRAIN:
        snprintf(j->spec, sizeof(j->spec),
                 "{\"algorithm\":\"train\",\"dataset\":\"synthetic\",\"architecture\":{\"space\":"
                 "\"fixed-cnn\",\"channels\":[8,16],\"hidden\":32},\"budget\":{\"epochs\":%d},"
                 "\"seed\":%d}",
                 j->epochs, seed);
        /* train_loss, train_accuracy, test_accuracy, images_per_second, lr
         * per epoch; the trained network as the one architecture row. */
        j->metrics = 5 * j->epochs;
        j->archs = 1;
        j->search_steps = 0;
        snprintf(j->name, sizeof(j->name), "train");
        break;
    case REL_DARTS:
        /* 3 search epochs of 12 steps (192 examples, half for alpha,
         * batch 8), then 2 final-training epochs of 250 steps (2000
         * synthetic images): a kill can fall in either stage. */
        snprintf(j->spec, sizeof(j->spec),
                 "{\"algorithm\":\"darts\",\"search_space\":\"darts-cnn\",\"dataset\":"
                 "\"synthetic\",\"budget\":{\"epochs\":3},\"hyperparameters\":{\"order\":1,"
                 "\"C\":4,\"layers\":3,\"batch_size\":8,\"max_examples\":192},"
                 "\"final_training\":{\"enabled\":true,\"epochs\":2,\"C\":4,\"layers\":3},"
                 "\"seed\":%d}",
                 seed);
        j->epochs = 5;
        /* Search: train_loss, train_accuracy, val_loss, val_accuracy, lr
         * and a genotype row per epoch; final training: five final.*
         * metrics per epoch and the trained network's row. */
        j->metrics = 5 * 3 + 5 * 2;
        j->archs = 3 + 1;
        j->search_steps = 36;
        snprintf(j->name, sizeof(j->name), "darts");
        break;
    case REL_ENAS:
        /* Per epoch 10 shared-weight steps (train_portion 0.9 of 96, batch 8) and 2 controller
         * updates of 3 children each. */
        snprintf(j->spec, sizeof(j->spec),
                 "{\"algorithm\":\"enas\",\"search_space\":\"enas-micro\",\"dataset\":"
                 "\"synthetic\",\"budget\":{\"epochs\":%d},\"hyperparameters\":{\"C\":4,"
                 "\"layers\":1,\"nodes\":3,\"batch_size\":8,\"max_examples\":96,"
                 "\"lstm_size\":16,\"controller_steps\":2,\"controller_aggregate\":3,"
                 "\"final_samples\":4},\"seed\":%d}",
                 j->epochs, seed);
        /* baseline, controller_entropy, controller_loss, lr, reward,
         * train_accuracy, train_loss, val_accuracy per epoch; a row per
         * controller child. */
        j->metrics = 8 * j->epochs;
        j->archs = 2 * 3 * j->epochs;
        j->search_steps = 0;
        snprintf(j->name, sizeof(j->name), "enas");
        break;
    case REL_NASRL:
        /* epochs here: controller updates of 2 children each. Children
         * of 3 layers (not the default 6 to 15): an update takes about a
         * second, so that many of the soak's kills fall after one ended. */
        snprintf(j->spec, sizeof(j->spec),
                 "{\"algorithm\":\"nas-rl\",\"search_space\":\"nasrl-cnn\",\"dataset\":"
                 "\"synthetic\",\"budget\":{\"max_architectures\":%d},\"hyperparameters\":{"
                 "\"max_examples\":200,\"children_per_update\":2,\"child_epochs\":1,"
                 "\"start_layers\":3,\"max_layers\":3},\"seed\":%d}",
                 2 * j->epochs, seed);
        /* baseline, controller_entropy, controller_loss, reward_mean per
         * update; a row per child. */
        j->metrics = 4 * j->epochs;
        j->archs = 2 * j->epochs;
        j->search_steps = 0;
        snprintf(j->name, sizeof(j->name), "nas-rl");
        break;
    }
}

void rel_submit(int port, rel_jobrun *j, int seed)
{
    rel_job_spec(j, seed);
    /* Named, so that a crash point can name the job before it exists. */
    char named[sizeof(j->spec)];
    snprintf(j->label, sizeof(j->label), "%s-%d", j->name, seed);
    int n = snprintf(named, sizeof(named), "{\"name\":\"%s\",%s", j->label, j->spec + 1);
    cr_assert(n > 0 && (size_t)n < sizeof(named));
    memcpy(j->spec, named, (size_t)n + 1);
    int status = rel_post_job(port, j->spec, NULL, j->id);
    cr_assert_eq(status, 202, "POST %s: %d", j->spec, status);
}

/* The rows of one series of job id (owned array), all pages. */
static json_t *all_rows(int port, const char *id, const char *series)
{
    json_t *rows = json_array();
    json_int_t after = 0;
    for (;;) {
        char path[160];
        snprintf(path, sizeof(path), "/v1/jobs/%s/%s?limit=1000&after=%lld", id, series,
                 (long long)after);
        json_t *page = call(port, "GET", path, NULL, 200);
        json_array_extend(rows, json_object_get(page, series));
        json_t *next = json_object_get(page, "next_after");
        int more = json_is_integer(next);
        after = json_integer_value(next);
        json_decref(page);
        if (!more)
            return rows;
    }
}

void rel_check_history(int port, const rel_jobrun *j)
{
    json_t *m = all_rows(port, j->id, "metrics"), *row, *other;
    size_t i, k;
    json_array_foreach(m, i, row)
    {
        for (k = i + 1; k < json_array_size(m); k++) {
            other = json_array_get(m, k);
            cr_assert(!(int_at(row, "epoch") == int_at(other, "epoch") &&
                        int_at(row, "step") == int_at(other, "step") &&
                        !strcmp(str_at(row, "name"), str_at(other, "name"))),
                      "job %s (%s): metric %s of epoch %lld, step %lld is there twice (seq %lld "
                      "and %lld)",
                      j->id, j->name, str_at(row, "name"), (long long)int_at(row, "epoch"),
                      (long long)int_at(row, "step"), (long long)int_at(row, "seq"),
                      (long long)int_at(other, "seq"));
        }
    }
    cr_assert_eq((int)json_array_size(m), j->metrics, "job %s (%s): %zu metric rows, want %d",
                 j->id, j->name, json_array_size(m), j->metrics);
    /* Every epoch's train_loss once (nas-rl reports none; darts' final
     * training reports final.train_loss, covered by the count above). */
    int epochs = j->kind == REL_NASRL ? 0 : j->kind == REL_DARTS ? 3 : j->epochs;
    for (int e = 1; e <= epochs; e++) {
        int n = 0;
        json_array_foreach(m, i, row) n +=
            int_at(row, "epoch") == e && !strcmp(str_at(row, "name"), "train_loss");
        cr_assert_eq(n, 1, "job %s (%s): epoch %d has %d train_loss values", j->id, j->name, e, n);
    }
    json_decref(m);
    json_t *a = all_rows(port, j->id, "architectures");
    cr_assert_eq((int)json_array_size(a), j->archs,
                 "job %s (%s): %zu architecture rows, want %d (one per sampled or derived "
                 "architecture)",
                 j->id, j->name, json_array_size(a), j->archs);
    /* ENAS children are numbered: each (epoch, controller step, child)
     * once. */
    json_array_foreach(a, i, row)
    {
        if (j->kind != REL_ENAS)
            break;
        for (k = i + 1; k < json_array_size(a); k++) {
            other = json_array_get(a, k);
            cr_assert(!(int_at(row, "metrics.epoch") == int_at(other, "metrics.epoch") &&
                        int_at(row, "metrics.controller_step") ==
                            int_at(other, "metrics.controller_step") &&
                        int_at(row, "metrics.child") == int_at(other, "metrics.child")),
                      "job %s (enas): child %lld of controller step %lld, epoch %lld twice", j->id,
                      (long long)int_at(row, "metrics.child"),
                      (long long)int_at(row, "metrics.controller_step"),
                      (long long)int_at(row, "metrics.epoch"));
        }
    }
    json_decref(a);
}
