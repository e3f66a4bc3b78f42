// SPDX-License-Identifier: MIT
/*
 * retention.c - finished jobs do not pile up forever: at start and every
 * hour, the finished (succeeded, failed, cancelled) jobs beyond the newest
 * `retain-jobs`, or older than `retain-days`, are deleted with their rows
 * and checkpoint files, as DELETE /v1/jobs/{id} would.
 *
 * The one design decision to know: only finished jobs are ever pruned, and
 * the database deletes them first (one transaction); files go after the
 * commit, so a crash in between leaves stray files (removed with the job's
 * id at the next claim or delete), never a job without its checkpoint.
 */
#include "nd.h"

#include "db.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PRUNE_EVERY_MS (3600u * 1000u)

static void remove_files(void *ctx, const char *id, const char *ckpt)
{
    nd_server *s = ctx;
    char path[PATH_MAX + 64];
    if (ckpt && unlink(ckpt) != 0 && errno != ENOENT)
        nd_log_job(ND_LOG_WARN, id, "cannot remove %s: %s", ckpt, strerror(errno));
    snprintf(path, sizeof(path), "%s/%s.safetensors", s->ckpt_dir, id);
    if (unlink(path) != 0 && errno != ENOENT)
        nd_log_job(ND_LOG_WARN, id, "cannot remove %s: %s", path, strerror(errno));
    nd_ckpt_remove_stale(s->ckpt_dir, id, NULL);
    nd_model_remove(s->model_dir, id);
}

int nd_retention_run(nd_server *s)
{
    const nd_config *c = &s->cfg;
    if (c->retain_jobs <= 0 && c->retain_days <= 0)
        return 0;
    double before = 0;
    if (c->retain_days > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        before = (double)ts.tv_sec - (double)c->retain_days * 86400.0;
    }
    int n = 0;
    if (nd_db_prune(s->db, c->retain_jobs, before, remove_files, s, &n) != 0) {
        nd_log(ND_LOG_ERROR, "retention: pruning finished jobs failed: %s", nd_db_errmsg(s->db));
        return -1;
    }
    if (n > 0)
        nd_log(ND_LOG_INFO,
               "retention: %d finished job(s) removed (retain-jobs %d, retain-days %d)", n,
               c->retain_jobs, c->retain_days);
    return n;
}

static void on_timer(uv_timer_t *t)
{
    nd_retention_run(t->data);
}

int nd_retention_start(nd_server *s)
{
    uv_timer_init(s->loop, &s->retention_timer);
    s->retention_timer.data = s;
    nd_retention_run(s);
    uv_timer_start(&s->retention_timer, on_timer, PRUNE_EVERY_MS, PRUNE_EVERY_MS);
    return 0;
}

void nd_retention_stop(nd_server *s)
{
    uv_timer_stop(&s->retention_timer);
    uv_close((uv_handle_t *)&s->retention_timer, NULL);
}
