// SPDX-License-Identifier: MIT
/*
 * sched.c - worker slots, the claim of queued jobs, and the inbox.
 *
 * The loop thread claims the oldest queued job in SQLite (one UPDATE in a
 * transaction: claims are atomic because only this thread writes) and
 * hands it to an idle slot. The slot's thread runs the engine; the
 * engine's reporter callbacks become inbox events (a mutex-protected list
 * plus uv_async_send; sends coalesce, so the async callback drains the
 * whole list), and the loop writes a drained batch to SQLite in one
 * transaction, then publishes it to the event streams. The loop reaches a
 * worker only through the slot's atomic stop flag.
 *
 * Lock order: slot->mu, then sched->inbox_mu; a thread holding inbox_mu
 * never takes a slot lock.
 */
#include "db.h"
#include "nd.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Workers run at a lower priority than the loop, so that answering HTTP
 * never waits behind a training step on a busy machine. */
#define WORKER_NICE 10

typedef enum { EV_PROGRESS, EV_METRIC, EV_ARCH, EV_CKPT, EV_RESULT, EV_LOG, EV_DONE } ev_kind;

typedef struct ev {
    struct ev *next;
    ev_kind kind;
    int slot;
    char id[33];
    char *a, *b, *c; /* strings (JSON texts, names, messages); owned */
    double x, t;
    int64_t step;
    int epoch, rc;
    nas_job_progress prog;
} ev;

typedef struct slot {
    struct nd_sched *sched;
    int index;
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cv;
    int assigned, quit; /* under mu */
    /* Set by the loop before assigning, read by the worker while it runs. */
    char id[33];
    json_t *spec;
    char *spec_text; /* as stored: what the ranks of a job on several get */
    int ranks;       /* resources.ranks: > 1 runs through mpirun (ranks.c) */
    nas_job_spec es;
    char ckpt_path[PATH_MAX + 64];
    char model_path[PATH_MAX + 64]; /* where the engine writes the network */
    /* Loop side: the checkpoint file the database records for the job
     * (daemon/ckpt.c), "" when none. */
    char ckpt_recorded[PATH_MAX + 96];
    char data_path[PATH_MAX]; /* the spec's data_path, resolved; "" if none */
    _Atomic int stop;
    /* Loop side. */
    int busy;
    /* Loop side: the last applied progress report, for steps/s (/metrics). */
    int64_t rate_step;
    double rate_t, steps_per_second;
    /* Worker side: progress throttle. */
    double last_progress;
    /* Monotonic ms of the worker's last sign of life (a step reported,
     * the job started): written by the worker, read by the loop for the
     * systemd watchdog (notify.c). */
    _Atomic int64_t heartbeat_ms;
} slot;

typedef struct nd_sched {
    nd_server *srv;
    slot *slots;
    int n;
    uv_mutex_t inbox_mu;
    ev *head, *tail;
    uv_async_t async;
    int shutting_down;
    void (*shutdown_cb)(nd_server *);
} nd_sched;

static double now_unix(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void beat(slot *sl)
{
    atomic_store_explicit(&sl->heartbeat_ms, now_ms(), memory_order_relaxed);
}

/* --------------------------------------------------- worker side: inbox */

static void push(slot *sl, ev *e)
{
    nd_sched *sc = sl->sched;
    e->slot = sl->index;
    memcpy(e->id, sl->id, sizeof(e->id));
    e->t = now_unix();
    uv_mutex_lock(&sc->inbox_mu);
    if (sc->tail)
        sc->tail->next = e;
    else
        sc->head = e;
    sc->tail = e;
    uv_mutex_unlock(&sc->inbox_mu);
    uv_async_send(&sc->async);
}

static ev *new_ev(ev_kind k)
{
    ev *e = calloc(1, sizeof(*e));
    NAS_ASSERT(e && "inbox: out of memory");
    e->kind = k;
    return e;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void rep_progress(void *ctx, const nas_job_progress *p)
{
    slot *sl = ctx;
    double t = now_mono();
    /* Every step is a heartbeat, throttled or not. */
    beat(sl);
    /* Throttle to 4 per second; the last step always goes through. */
    if (p->step < p->steps && t - sl->last_progress < 0.25)
        return;
    sl->last_progress = t;
    ev *e = new_ev(EV_PROGRESS);
    e->prog = *p;
    push(sl, e);
}

static void rep_metric(void *ctx, int epoch, int64_t step, const char *name, double value)
{
    beat(ctx);
    ev *e = new_ev(EV_METRIC);
    e->epoch = epoch;
    e->step = step;
    e->a = dup_or_null(name);
    e->x = value;
    push(ctx, e);
}

static void rep_arch(void *ctx, const char *arch, double reward, const char *metrics)
{
    beat(ctx);
    ev *e = new_ev(EV_ARCH);
    e->a = dup_or_null(arch);
    e->b = dup_or_null(metrics);
    e->x = reward;
    push(ctx, e);
}

static void rep_ckpt(void *ctx, const char *path, int64_t step)
{
    slot *sl = ctx;
    beat(sl);
    ev *e = new_ev(EV_CKPT);
    /* The file the database will record, out of the engine's way. */
    char kept[PATH_MAX + 96];
    if (nd_ckpt_keep(path, kept, sizeof(kept)) == 0)
        e->a = strdup(kept);
    else {
        nd_log_job(ND_LOG_WARN, sl->id, "job %s: cannot keep checkpoint %s: %s", sl->id, path,
                   strerror(errno));
        e->a = dup_or_null(path);
    }
    e->step = step;
    push(sl, e);
}

static void rep_result(void *ctx, const char *arch, const char *metric, double value,
                       const char *result)
{
    ev *e = new_ev(EV_RESULT);
    e->a = dup_or_null(arch);
    e->b = dup_or_null(metric);
    e->c = dup_or_null(result);
    e->x = value;
    push(ctx, e);
}

static void rep_log(void *ctx, const char *msg)
{
    slot *sl = ctx;
    beat(sl);
    nd_log_job(ND_LOG_INFO, sl->id, "job %s: %s", sl->id, msg);
}

static void worker_main(void *arg)
{
    slot *sl = arg;
    nas_job_reporter rep = {sl, rep_progress, rep_metric, rep_arch, rep_ckpt, rep_result, rep_log};
    /* Named, so that top -H, gdb and the watchdog test can tell it. */
    char name[16];
    snprintf(name, sizeof(name), "nasd-worker-%d", sl->index);
    pthread_setname_np(pthread_self(), name);
    /* Linux keeps a nice value per thread; the engine's pool threads,
     * started from here, inherit it. */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WORKER_NICE) != 0)
        nd_log(ND_LOG_DEBUG, "worker %d: cannot lower its priority", sl->index);
    for (;;) {
        uv_mutex_lock(&sl->mu);
        while (!sl->assigned && !sl->quit)
            uv_cond_wait(&sl->cv, &sl->mu);
        int quit = sl->quit && !sl->assigned;
        uv_mutex_unlock(&sl->mu);
        if (quit)
            return;
        sl->last_progress = 0;
        beat(sl);
        int rc = sl->ranks > 1 ? nd_ranks_run(&sl->sched->srv->cfg, sl->spec_text, &sl->es,
                                              sl->ranks, &rep, &sl->stop)
                               : nas_job_run(&sl->es, &rep, &sl->stop);
        ev *e = new_ev(EV_DONE);
        e->rc = rc;
        if (rc < 0 && rc != NAS_ECANCELLED)
            e->a = strdup(nas_errmsg()[0] ? nas_errmsg() : nas_strerror(rc));
        uv_mutex_lock(&sl->mu);
        sl->assigned = 0;
        uv_mutex_unlock(&sl->mu);
        push(sl, e);
    }
}

/* ------------------------------------------------------ loop side: drain */

static json_t *progress_json(const nas_job_progress *p)
{
    return json_pack("{s:i,s:i,s:I,s:I,s:f,s:o}", "epoch", p->epoch, "epochs", p->epochs, "step",
                     (json_int_t)p->step, "steps", (json_int_t)p->steps, "fraction", p->fraction,
                     "eta_seconds", p->eta_seconds >= 0 ? json_real(p->eta_seconds) : json_null());
}

/* Write one event to SQLite (inside the batch transaction) and publish. */
static void apply(nd_server *s, ev *e)
{
    nd_db *db = s->db;
    json_t *pub = NULL;
    const char *name = NULL;
    switch (e->kind) {
    case EV_PROGRESS: {
        slot *sl = &s->sched->slots[e->slot];
        if (sl->rate_t > 0 && e->t > sl->rate_t && e->prog.step >= sl->rate_step)
            sl->steps_per_second = (double)(e->prog.step - sl->rate_step) / (e->t - sl->rate_t);
        sl->rate_step = e->prog.step;
        sl->rate_t = e->t;
        pub = progress_json(&e->prog);
        char *text = json_dumps(pub, JSON_COMPACT);
        nd_db_progress_set(db, e->id, text);
        free(text);
        name = "progress";
        break;
    }
    case EV_METRIC: {
        int64_t seq = 0;
        if (nd_db_metric_add(db, e->id, e->epoch, e->step, e->a, e->x, e->t, &seq) == 0)
            pub = json_pack("{s:I,s:i,s:I,s:s,s:f}", "seq", (json_int_t)seq, "epoch", e->epoch,
                            "step", (json_int_t)e->step, "name", e->a, "value", e->x);
        name = "metric";
        break;
    }
    case EV_ARCH: {
        int64_t seq = 0;
        json_t *page = NULL;
        /* The event is the row as GET .../architectures serves it. */
        if (nd_db_arch_add(db, e->id, e->a, e->x, e->b, e->t, &seq) == 0 &&
            nd_db_arch_list(db, e->id, seq - 1, 1, &page) == 0)
            pub = json_incref(json_array_get(json_object_get(page, "architectures"), 0));
        json_decref(page);
        name = "architecture";
        break;
    }
    case EV_CKPT: {
        /* The file recorded until now goes once this one is committed. */
        slot *sl = &s->sched->slots[e->slot];
        if (nd_db_checkpoint_set(db, e->id, e->a, e->step) == 0) {
            if (sl->ckpt_recorded[0] && strcmp(sl->ckpt_recorded, e->a) != 0 &&
                strcmp(sl->ckpt_recorded, sl->ckpt_path) != 0)
                e->b = strdup(sl->ckpt_recorded);
            snprintf(sl->ckpt_recorded, sizeof(sl->ckpt_recorded), "%s", e->a);
        }
        break;
    }
    case EV_RESULT: nd_db_result_set(db, e->id, e->a, e->b, e->x, e->c); break;
    default: break;
    }
    if (pub && name)
        nd_events_publish(s, e->id, name, pub);
    json_decref(pub);
}

static void publish_state(nd_server *s, const char *id, int final)
{
    json_t *job = NULL;
    if (nd_db_job_get(s->db, id, &job) != 0)
        return;
    json_t *data = json_pack("{s:s,s:O,s:O}", "id", id, "state", json_object_get(job, "state"),
                             "error", json_object_get(job, "error"));
    if (final)
        nd_events_close_job(s, id, data);
    else
        nd_events_publish(s, id, "state", data);
    json_decref(data);
    json_decref(job);
}

static void finish(nd_server *s, ev *e)
{
    nd_sched *sc = s->sched;
    slot *sl = &sc->slots[e->slot];
    int stop = atomic_load(&sl->stop);
    if (e->rc == NAS_ECANCELLED && stop == NAS_STOP_SHUTDOWN) {
        /* Left `running` on purpose: the next start requeues it and the
         * engine resumes from the checkpoint it just wrote. A clean stop,
         * which the next start does not count as a crash. */
        if (nd_db_job_stopped_clean(s->db, sl->id) != 0)
            nd_log_job(ND_LOG_ERROR, sl->id, "job %s: cannot record its clean stop: %s", sl->id,
                       nd_db_errmsg(s->db));
        nd_log_job(ND_LOG_INFO, sl->id, "job %s checkpointed for shutdown", sl->id);
    } else {
        int st = e->rc == 0                ? ND_DB_SUCCEEDED
                 : e->rc == NAS_ECANCELLED ? ND_DB_CANCELLED
                                           : ND_DB_FAILED;
        const char *state = nd_db_state_name(st);
        if (nd_db_job_finish(s->db, sl->id, st, e->a) != 0)
            nd_log_job(ND_LOG_ERROR, sl->id, "job %s: cannot record state %s: %s", sl->id, state,
                       nd_db_errmsg(s->db));
        nd_log_job(e->rc == 0 || e->rc == NAS_ECANCELLED ? ND_LOG_INFO : ND_LOG_WARN, sl->id,
                   "job %s %s%s%s", sl->id, state, e->a ? ": " : "", e->a ? e->a : "");
        publish_state(s, sl->id, 1);
    }
    json_decref(sl->spec);
    sl->spec = NULL;
    sl->busy = 0;
    nd_notify_status(s);
}

/* Test crash points (daemon/crash.c). */
static int crash_check(const nd_sched *sc, const ev *e)
{
    static const char *const kinds[] = {
        [EV_PROGRESS] = "progress", [EV_METRIC] = "metric", [EV_ARCH] = "arch", [EV_CKPT] = "ckpt"};
    if (e->kind > EV_CKPT || !kinds[e->kind])
        return 0;
    const char *name = json_string_value(json_object_get(sc->slots[e->slot].spec, "name"));
    return nd_crash_check(e->id, name, kinds[e->kind],
                          e->kind == EV_PROGRESS ? e->prog.step : e->step);
}

static void crash_now(nd_server *s)
{
    nd_db_commit(s->db);
    nd_crash_now();
}

static int busy_count(const nd_sched *sc)
{
    int n = 0;
    for (int i = 0; i < sc->n; i++)
        n += sc->slots[i].busy;
    return n;
}

static void on_inbox(uv_async_t *a)
{
    nd_server *s = a->data;
    nd_sched *sc = s->sched;
    uv_mutex_lock(&sc->inbox_mu);
    ev *list = sc->head;
    sc->head = sc->tail = NULL;
    uv_mutex_unlock(&sc->inbox_mu);
    if (!list)
        return;
    int done = 0;
    int batch = nd_db_begin(s->db) == 0;
    if (!batch)
        nd_log(ND_LOG_ERROR, "inbox: BEGIN failed, events dropped: %s", nd_db_errmsg(s->db));
    for (ev *e = list; e; e = e->next) {
        /* Only the newest progress of a job in a batch is worth a write. */
        if (e->kind == EV_PROGRESS) {
            int newer = 0;
            for (ev *f = e->next; f && !newer; f = f->next)
                newer = f->kind == EV_PROGRESS && f->slot == e->slot;
            if (newer)
                continue;
        }
        if (e->kind == EV_DONE)
            done = 1;
        else if (batch) {
            int crash = crash_check(sc, e);
            if (crash == 1)
                crash_now(s);
            apply(s, e);
            if (crash == 2)
                crash_now(s);
        }
    }
    int committed = batch && nd_db_commit(s->db) == 0;
    if (batch && !committed)
        nd_log(ND_LOG_ERROR, "inbox: COMMIT failed: %s", nd_db_errmsg(s->db));
    for (ev *e = list, *next; e; e = next) {
        next = e->next;
        if (e->kind == EV_DONE)
            finish(s, e);
        else if (e->kind == EV_CKPT && committed && e->b && unlink(e->b) != 0 && errno != ENOENT)
            nd_log_job(ND_LOG_WARN, e->id, "cannot remove %s: %s", e->b, strerror(errno));
        free(e->a);
        free(e->b);
        free(e->c);
        free(e);
    }
    if (!done)
        return;
    if (sc->shutting_down) {
        if (busy_count(sc) == 0 && sc->shutdown_cb) {
            void (*cb)(nd_server *) = sc->shutdown_cb;
            sc->shutdown_cb = NULL;
            cb(s);
        }
    } else {
        nd_sched_kick(s);
    }
}

/* ------------------------------------------------------ loop side: claims */

/* A claimed job that cannot run ends failed with why. */
static void fail_claimed(nd_server *s, slot *sl, const char *why)
{
    nd_log_job(ND_LOG_ERROR, sl->id, "job %s: %s", sl->id, why);
    nd_db_job_finish(s->db, sl->id, ND_DB_FAILED, why);
    publish_state(s, sl->id, 1);
    json_decref(sl->spec);
    sl->spec = NULL;
}

/* Streams that sent rows the claim removed are told to drop them. */
static void publish_rewind(nd_server *s, const char *id, const nd_db_rewind *rw)
{
    nd_log_job(ND_LOG_INFO, id,
               "job %s: %d row(s) reported after its checkpoint (step %" PRId64
               ") removed; the resumed run reports them again",
               id, rw->rows, rw->step);
    json_t *data = json_pack("{s:I,s:I,s:I}", "step", (json_int_t)rw->step, "metrics_after",
                             (json_int_t)rw->metrics_after, "architectures_after",
                             (json_int_t)rw->archs_after);
    if (data)
        nd_events_publish(s, id, "rewind", data);
    json_decref(data);
}

static int assign(nd_server *s, slot *sl)
{
    char *spec_text = NULL, *ckpt = NULL;
    int64_t ckpt_step = 0;
    int attempt = 0;
    nd_db_rewind rw;
    int rc = nd_db_job_claim(s->db, sl->id, &spec_text, &ckpt, &ckpt_step, &attempt, &rw);
    if (rc == ND_DB_NOTFOUND)
        return 0;
    if (rc != 0) {
        nd_log(ND_LOG_ERROR, "claim failed: %s", nd_db_errmsg(s->db));
        return 0;
    }
    if (rw.rows > 0)
        publish_rewind(s, sl->id, &rw);
    json_error_t jerr;
    sl->spec = json_loads(spec_text, 0, &jerr);
    free(sl->spec_text);
    sl->spec_text = spec_text;
    char why[PATH_MAX + 256] = "";
    snprintf(sl->ckpt_recorded, sizeof(sl->ckpt_recorded), "%s", ckpt ? ckpt : "");
    int prepared = nd_ckpt_prepare(s->ckpt_dir, sl->id, ckpt, sl->ckpt_path, sizeof(sl->ckpt_path),
                                   why, sizeof(why));
    free(ckpt);
    if (prepared != 0) {
        fail_claimed(s, sl, why);
        return 1; /* try the next one */
    }
    /* The application (api/app.c) turns the stored spec into the
     * engine's, with its data_path checked again now. */
    if (!sl->spec || s->app->job_spec(s, sl->spec, &sl->es, sl->data_path, sizeof(sl->data_path),
                                      why, sizeof(why)) != 0) {
        fail_claimed(s, sl, sl->spec ? why : "stored spec is not JSON");
        return 1; /* try the next one */
    }
    sl->es.checkpoint_path = sl->ckpt_path;
    sl->es.resume = 1;
    {
        json_t *n = json_object_get(json_object_get(sl->spec, "resources"), "ranks");
        sl->ranks = json_is_integer(n) ? (int)json_integer_value(n) : 1;
    }
    if (nd_model_path(s->model_dir, sl->id, sl->model_path, sizeof(sl->model_path)) == 0)
        sl->es.model_path = sl->model_path;
    nd_log_job(ND_LOG_INFO, sl->id, "job %s started (attempt %d%s)", sl->id, attempt,
               ckpt_step > 0 ? ", resuming from its checkpoint" : "");
    atomic_store(&sl->stop, NAS_RUN);
    beat(sl); /* before busy is seen: not the previous job's last beat */
    sl->busy = 1;
    sl->rate_step = 0;
    sl->rate_t = sl->steps_per_second = 0;
    publish_state(s, sl->id, 0);
    uv_mutex_lock(&sl->mu);
    sl->assigned = 1;
    uv_cond_signal(&sl->cv);
    uv_mutex_unlock(&sl->mu);
    return 1;
}

void nd_sched_kick(nd_server *s)
{
    nd_sched *sc = s->sched;
    if (!sc || sc->shutting_down)
        return;
    for (int i = 0; i < sc->n; i++) {
        slot *sl = &sc->slots[i];
        while (!sl->busy && assign(s, sl))
            ;
    }
    nd_notify_status(s);
}

int nd_sched_cancel(nd_server *s, const char *id)
{
    nd_sched *sc = s->sched;
    for (int i = 0; i < sc->n; i++)
        if (sc->slots[i].busy && strcmp(sc->slots[i].id, id) == 0) {
            atomic_store(&sc->slots[i].stop, NAS_STOP_CANCEL);
            return 1;
        }
    return 0;
}

int nd_sched_busy(const nd_server *s)
{
    return s->sched ? busy_count(s->sched) : 0;
}

void nd_sched_foreach_running(const nd_server *s,
                              void (*fn)(void *ctx, const char *id, int64_t step,
                                         double steps_per_second),
                              void *ctx)
{
    const nd_sched *sc = s->sched;
    for (int i = 0; sc && i < sc->n; i++)
        if (sc->slots[i].busy)
            fn(ctx, sc->slots[i].id, sc->slots[i].rate_step, sc->slots[i].steps_per_second);
}

double nd_sched_heartbeat_age(const nd_server *s)
{
    const nd_sched *sc = s->sched;
    int64_t now = now_ms(), oldest = now;
    for (int i = 0; sc && i < sc->n; i++)
        if (sc->slots[i].busy) {
            int64_t hb = atomic_load_explicit(&sc->slots[i].heartbeat_ms, memory_order_relaxed);
            if (hb < oldest)
                oldest = hb;
        }
    return (double)(now - oldest) / 1e3;
}

void nd_sched_shutdown(nd_server *s, void (*done_cb)(nd_server *))
{
    nd_sched *sc = s->sched;
    sc->shutting_down = 1;
    int busy = 0;
    for (int i = 0; i < sc->n; i++)
        if (sc->slots[i].busy) {
            atomic_store(&sc->slots[i].stop, NAS_STOP_SHUTDOWN);
            busy++;
        }
    if (busy) {
        nd_log(ND_LOG_INFO, "waiting for %d job(s) to checkpoint", busy);
        sc->shutdown_cb = done_cb;
    } else {
        done_cb(s);
    }
}

int nd_sched_start(nd_server *s)
{
    nd_sched *sc = calloc(1, sizeof(*sc));
    if (!sc)
        return -1;
    sc->srv = s;
    sc->n = s->cfg.workers;
    nd_crash_init();
    sc->slots = calloc((size_t)sc->n, sizeof(slot));
    if (!sc->slots) {
        free(sc);
        return -1;
    }
    s->sched = sc;
    uv_mutex_init(&sc->inbox_mu);
    uv_async_init(s->loop, &sc->async, on_inbox);
    sc->async.data = s;
    for (int i = 0; i < sc->n; i++) {
        slot *sl = &sc->slots[i];
        sl->sched = sc;
        sl->index = i;
        uv_mutex_init(&sl->mu);
        uv_cond_init(&sl->cv);
        if (uv_thread_create(&sl->thread, worker_main, sl) != 0) {
            nd_log(ND_LOG_ERROR, "cannot start worker thread %d", i);
            return -1;
        }
    }
    nd_sched_kick(s);
    return 0;
}

static void free_sched(uv_handle_t *h)
{
    nd_sched *sc = h->data;
    free(sc->slots);
    free(sc);
}

void nd_sched_free(nd_server *s)
{
    nd_sched *sc = s->sched;
    if (!sc)
        return;
    for (int i = 0; i < sc->n; i++) {
        slot *sl = &sc->slots[i];
        uv_mutex_lock(&sl->mu);
        sl->quit = 1;
        uv_cond_signal(&sl->cv);
        uv_mutex_unlock(&sl->mu);
    }
    for (int i = 0; i < sc->n; i++) {
        uv_thread_join(&sc->slots[i].thread);
        uv_mutex_destroy(&sc->slots[i].mu);
        uv_cond_destroy(&sc->slots[i].cv);
        json_decref(sc->slots[i].spec);
        free(sc->slots[i].spec_text);
    }
    /* Events pushed after the last drain are dropped with the scheduler. */
    for (ev *e = sc->head, *n; e; e = n) {
        n = e->next;
        free(e->a);
        free(e->b);
        free(e->c);
        free(e);
    }
    uv_mutex_destroy(&sc->inbox_mu);
    sc->async.data = sc;
    uv_close((uv_handle_t *)&sc->async, free_sched);
    s->sched = NULL;
}
