// SPDX-License-Identifier: MIT
/*
 * main.c - nasd: configuration, the state directory, start-up recovery,
 * and the orderly shutdown.
 *
 * Start: open (and migrate) the database, requeue the jobs a crash left
 * `running` (they resume from their checkpoints), start the workers, then
 * listen. Shutdown on SIGTERM/SIGINT: stop accepting connections, ask
 * every worker to checkpoint and stop, and when the last one has, close
 * the streams, MHD and every libuv handle, so that uv_loop_close returns 0.
 *
 * The one file of daemon/ that includes api/: it hands the daemon its
 * application, api_app (see nd.h on the layers).
 */
#include "api.h"
#include "db.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int make_dir(const char *path)
{
    if (mkdir(path, 0750) == 0 || errno == EEXIST)
        return 0;
    nd_log(ND_LOG_ERROR, "cannot create %s: %s", path, strerror(errno));
    return -1;
}

static void finish_shutdown(nd_server *s)
{
    nd_events_close_all(s);
    /* Let MHD flush the closing streams once before it goes. */
    if (s->mhd)
        nd_http_kick(s);
    nd_http_stop(s);
    nd_events_free(s);
    uv_close((uv_handle_t *)&s->sig_term, NULL);
    uv_close((uv_handle_t *)&s->sig_int, NULL);
    nd_notify_close(s);
    nd_retention_stop(s);
    nd_sched_free(s);
    nd_log(ND_LOG_INFO, "stopped");
}

static void on_signal(uv_signal_t *h, int signum)
{
    nd_server *s = h->data;
    if (s->stopping) {
        nd_log(ND_LOG_WARN, "second signal: still waiting for workers to checkpoint");
        return;
    }
    s->stopping = 1;
    nd_log(ND_LOG_INFO, "%s: shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    nd_http_quiesce(s);
    nd_notify_stopping(s, nd_sched_busy(s));
    nd_sched_shutdown(s, finish_shutdown);
}

static void log_datasets(nd_server *s)
{
    for (const nas_dataset_desc *d = nas_datasets(); d->name; d++) {
        const char *path = nd_config_dataset_path(&s->cfg, d->name);
        int present = nas_dataset_present(d->name, path);
        if (!path)
            path = d->default_path ? d->default_path : "";
        nd_log(ND_LOG_DEBUG, "dataset %s: %s%s", d->name, present ? "present" : "missing",
               *path ? "" : " (no path configured)");
    }
}

int main(int argc, char **argv)
{
    static nd_server srv;
    nd_server *s = &srv;
    int rc = nd_config_load(&s->cfg, argc, argv);
    if (rc)
        return rc > 0 ? 0 : 2;
    nd_log_set_level(s->cfg.log_level);
    nd_log_set_target(s->cfg.log_target);
    signal(SIGPIPE, SIG_IGN);
    /* The database, checkpoints and logs are the user's alone, whatever
     * the caller's umask (nasd.service sets UMask=0077 too). */
    umask(077);

    if ((size_t)snprintf(s->db_path, sizeof(s->db_path), "%s/nasd.db", s->cfg.state_dir) >=
            sizeof(s->db_path) ||
        (size_t)snprintf(s->ckpt_dir, sizeof(s->ckpt_dir), "%s/checkpoints", s->cfg.state_dir) >=
            sizeof(s->ckpt_dir) ||
        (size_t)snprintf(s->model_dir, sizeof(s->model_dir), "%s/models", s->cfg.state_dir) >=
            sizeof(s->model_dir)) {
        nd_log(ND_LOG_ERROR, "state-dir is too long");
        return 2;
    }
    if (make_dir(s->cfg.state_dir) || make_dir(s->ckpt_dir) || make_dir(s->model_dir))
        return 1;
    /* Where a job's data_path may point (api/limits.c confines it here). */
    char datasets[PATH_MAX + 16];
    if ((size_t)snprintf(datasets, sizeof(datasets), "%s/datasets", s->cfg.state_dir) >=
            sizeof(datasets) ||
        make_dir(datasets))
        return 1;
    char err[512];
    if (nd_db_open(s->db_path, &s->db, err, sizeof(err)) != 0) {
        nd_log(ND_LOG_ERROR, "database %s", err); /* err names the path */
        return 1;
    }
    int requeued = 0, cancelled = 0, failed = 0;
    if (nd_db_requeue_running(s->db, s->cfg.max_attempts, &requeued, &cancelled, &failed) != 0) {
        nd_log(ND_LOG_ERROR, "recovery failed: %s", nd_db_errmsg(s->db));
        nd_db_close(s->db);
        return 1;
    }
    if (requeued || cancelled)
        nd_log(ND_LOG_INFO, "recovery: %d interrupted job(s) requeued, %d cancelled", requeued,
               cancelled);
    if (failed)
        nd_log(ND_LOG_WARN,
               "recovery: %d job(s) failed: nasd died under each of them %d time(s) "
               "(max-attempts)",
               failed, s->cfg.max_attempts);

    s->loop = uv_default_loop();
    /* The daemon carries requests and runs jobs; what they mean is the
     * API's (api/app.c). */
    s->app = &api_app;
    log_datasets(s);
    if (nd_events_init(s) || nd_retention_start(s) || nd_sched_start(s) || nd_http_start(s) ||
        nd_notify_init(s)) {
        nd_log(ND_LOG_ERROR, "start-up failed");
        return 1;
    }
    uv_signal_init(s->loop, &s->sig_term);
    uv_signal_init(s->loop, &s->sig_int);
    s->sig_term.data = s->sig_int.data = s;
    uv_signal_start(&s->sig_term, on_signal, SIGTERM);
    uv_signal_start(&s->sig_int, on_signal, SIGINT);

    nd_log(ND_LOG_INFO,
           "nasd %s listening on http://%s:%d (state in %s, %d worker(s) x %d "
           "thread(s))",
           ND_VERSION, s->cfg.listen_host, s->bound_port, s->cfg.state_dir, s->cfg.workers,
           s->cfg.threads_per_job);
    /* The database is open, recovery ran, the socket listens: ready. */
    nd_notify_ready(s);

    uv_run(s->loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(s->loop);
    if (rc != 0)
        nd_log(ND_LOG_ERROR, "uv_loop_close: %s (a handle was left open)", uv_strerror(rc));
    nd_db_close(s->db);
    return rc == 0 ? 0 : 1;
}
