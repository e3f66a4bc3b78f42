// SPDX-License-Identifier: MIT
/*
 * rel.h - what the reliability tests share: a seeded schedule, job
 * submission and views over HTTP, the complete job list, reading the
 * daemon's log from an offset, and checks made on the SQLite file itself
 * (PRAGMA integrity_check, row counts) while no nasd holds it.
 *
 * The one design decision to know: every random choice (when to kill, how
 * many POSTs, which body) comes from one generator seeded from
 * NASD_RELIABILITY_SEED (else the clock), and the seed is printed first,
 * so a failure seen once can be replayed with the same schedule. The
 * helpers assert (Criterion) instead of returning errors, except where a
 * failure is the point (a POST cut by a kill).
 */
#ifndef TESTS_RELIABILITY_REL_H
#define TESTS_RELIABILITY_REL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "../itest.h"
#include "../scale.h"

/* Generous bounds: the suite also runs under ASan and against a TSan nasd
 * on 2 shared cores. They bound waits, not the schedule. */
#define REL_START_MS 30000
#define REL_STOP_MS 60000
#define REL_JOB_MS 240000

/* ----------------------------------------------------------- schedule */

/* Seeds the generator from NASD_RELIABILITY_SEED or the clock and prints
 * the seed with `what` to stderr; returns the seed. */
uint64_t rel_seed(const char *what);
/* Uniform in [lo, hi]. */
int rel_rand(int lo, int hi);
/* An integer from the environment, or dflt when unset or not a number. */
int rel_env_int(const char *name, int dflt);
void rel_sleep_ms(int ms);

/* -------------------------------------------------------------- HTTP */

/* POST /v1/jobs with body and optional extra header lines. Returns the
 * HTTP status (id filled on 202), or -1 when no answer came (the daemon
 * died under the request). */
int rel_post_job(int port, const char *body, const char *headers, char id[33]);
/* Every job, walking the list's pages (owned array of job objects). */
json_t *rel_all_jobs(int port);

/* --------------------------------------------------------------- log */

/* The size of a file now (0 when absent): an offset for rel_read_from. */
off_t rel_file_size(const char *path);
/* The file from offset on, NUL-terminated (malloc'd), or NULL. */
char *rel_read_from(const char *path, off_t from);

/* ----------------------------------------------------------- database */

/* Opens DIR/nasd.db read-only (no nasd may hold it) and asserts that
 * PRAGMA integrity_check answers "ok" and that jobs.id is unique; `when`
 * names the moment in the message. Returns the number of job rows. */
int rel_db_check(const char *dir, const char *when);

/* The checkpoint step the database records for job id (0: none), read
 * from the file while no nasd holds it. */
int64_t rel_db_ckpt_step(const char *dir, const char *id);

/* ------------------------------------------------------------ the jobs */

/* The four kinds of job the crash tests run, small enough for seconds,
 * each with the rows an uninterrupted run reports (counted from what each
 * kind reports per epoch, update or child: see rel.c). */
enum rel_kind { REL_TRAIN, REL_DARTS, REL_ENAS, REL_NASRL };

typedef struct rel_jobrun {
    enum rel_kind kind;
    int epochs; /* set before rel_submit: train and enas epochs,
                   nas-rl controller updates (darts: 3 + 2 fixed) */
    char id[33];
    char name[16];  /* the kind, for messages */
    char label[32]; /* the job's name: NAME-SEED */
    char spec[1024];
    int metrics, archs;   /* rows of an uninterrupted run */
    int64_t search_steps; /* darts: steps before the final training */
} rel_jobrun;

/* Fills j's spec and expected rows from j->kind and j->epochs. */
void rel_job_spec(rel_jobrun *j, int seed);
/* rel_job_spec, then POST it named j->label (must be 202). */
void rel_submit(int port, rel_jobrun *j, int seed);
/* Exactly once: no metric row twice (same name, epoch and step), every
 * epoch's train loss once, and exactly the metric and architecture rows
 * an uninterrupted run reports (ENAS children each once by number). */
void rel_check_history(int port, const rel_jobrun *j);

#endif
