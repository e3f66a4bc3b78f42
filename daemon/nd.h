/*
 * nd.h - what the daemon's parts share: the configuration, the server
 * context and the interfaces between the loop, the HTTP bridge, the
 * scheduler and the event streams.
 *
 * The one rule: the loop thread owns libuv, libmicrohttpd, the SQLite
 * connection and every structure below except what a worker slot's
 * comment marks as shared. Workers talk to the loop only through the
 * scheduler's inbox (mutex-protected queue + uv_async_send); the loop
 * talks to a worker only through its atomic stop flag.
 *
 * Layers: daemon/ is the lower layer and includes only its own headers
 * (nd.h, db.h, conn_limits.h) and the engine's nas.h. It knows nothing of
 * api/: what a request means, the gate it meets first and how a stored
 * spec becomes the engine's job reach it as the callbacks of an nd_app
 * (below), the way libmicrohttpd takes its access handler. api/ includes
 * nd.h and db.h and fills an nd_app (api_app, api/app.c); main.c, the one
 * file that includes both, hands it to the server. The build enforces it:
 * daemon/libnasd.a is compiled without api/ on the include path.
 */
#ifndef ND_H
#define ND_H

#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "nas.h"

#define ND_VERSION NAS_VERSION

/* ------------------------------------------------------------- config */

#define ND_LIST_MAX 1024           /* bytes of a list setting */

typedef struct nd_config {
    char listen_host[64];
    int listen_port;               /* 0: an ephemeral port */
    char state_dir[PATH_MAX];
    int workers;                   /* concurrent jobs */
    int threads_per_job;           /* engine threads of one job */
    size_t max_body;               /* bytes of a request body */
    int max_streams;               /* concurrent event streams */
    int max_connections;
    int connection_timeout;        /* seconds idle before a connection closes */
    int heartbeat_seconds;         /* SSE keep-alive comment period */
    char web_dir[PATH_MAX];
    /* Dataset locations; "" means the engine's default. */
    char fashion_mnist_dir[PATH_MAX];
    char cifar10_dir[PATH_MAX];
    char fortunes_path[PATH_MAX];
    char ptb_dir[PATH_MAX];
    int log_level;                 /* ND_LOG_* */
    int log_target;                /* ND_LOG_TO_* */
    int stall_seconds;             /* a busy worker without a step for longer
                                      stops the systemd watchdog; 0: its interval */
    /* Access and limits (issue #8; daemon/auth.c, api/limits.c). */
    char token_file[PATH_MAX];     /* bearer tokens, one per line; "": the
                                      credential $CREDENTIALS_DIRECTORY/nasd-token
                                      when present, else no token */
    int max_json_depth;            /* nesting of a request body's JSON */
    int max_connections_per_ip;
    int max_queued;                /* queued jobs before POST /v1/jobs is 429 */
    int max_job_epochs;            /* budget.epochs cap; 0: none */
    int max_job_seconds;           /* budget.max_seconds cap; 0: none */
    int max_job_architectures;     /* architectures one job samples; 0: none */
    int max_job_memory_mib;        /* estimated peak memory cap; 0: half the RAM */
    int max_attempts;              /* crashes under a job before it fails */
    /* Browsers (issue #22; daemon/http.c). Lists are separated by commas
     * or blanks. */
    char allowed_hosts[ND_LIST_MAX];      /* Host names besides localhost, 127.0.0.1,
                                      [::1] and the listening address; "*": any */
    char allowed_origins[ND_LIST_MAX];    /* Origins that may POST and DELETE besides
                                      nasd's own; "*": any */
    int max_streams_per_client;    /* event streams of one client address */
} nd_config;

/* Defaults, then the config file (when --config is given), then the other
 * flags. Returns 0, 1 after printing --help/--version (exit 0), or -1
 * after printing what is wrong (exit 2). */
int nd_config_load(nd_config *cfg, int argc, char **argv);
/* The configured location of a dataset of the engine's ("" in the config,
 * or a dataset without a setting: NULL, the engine's default). */
const char *nd_config_dataset_path(const nd_config *cfg, const char *dataset);

/* ---------------------------------------------------------------- log */

enum { ND_LOG_ERROR, ND_LOG_WARN, ND_LOG_INFO, ND_LOG_DEBUG };
void nd_log_set_level(int level);
void nd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A line about job `job_id`: in the journal it carries JOB_ID=. */
void nd_log_job(int level, const char *job_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Where lines go: auto is the journal when stderr is connected to it
 * ($JOURNAL_STREAM names stderr's device:inode), else stderr. */
enum { ND_LOG_TO_AUTO, ND_LOG_TO_STDERR, ND_LOG_TO_JOURNAL };
void nd_log_set_target(int target);

/* ---------------------------------------------- checkpoint files (ckpt.c) */

/* Worker side, in the engine's checkpoint callback: moves the checkpoint
 * the engine just made durable at engine_path to a name of its own beside
 * it (in out), so that the engine's next write cannot replace the file the
 * database is about to record. -1 (errno) when it could not. */
int nd_ckpt_keep(const char *engine_path, char *out, size_t n);
/* Loop side, at a claim: the engine's path of job id in dir (into
 * engine_path) holds exactly the recorded checkpoint (NULL: none, the job
 * starts afresh) and every other kept file of the job is removed. -1 with
 * a reason in why when the recorded file is missing or a file operation
 * failed. */
int nd_ckpt_prepare(const char *dir, const char *id, const char *recorded, char *engine_path,
                    size_t n, char *why, size_t whylen);
/* Removes job id's kept checkpoint files in dir except keep (may be NULL). */
void nd_ckpt_remove_stale(const char *dir, const char *id, const char *keep);

/* ------------------------------------- test crash points (crash.c) */

/* Reads NASD_TEST_CRASH (nothing happens without it). */
void nd_crash_init(void);
/* The loop is about to apply an event of job `job` named `name` (may be
 * NULL) (kind "ckpt",
 * "progress", "arch" or "metric", step where it has one): 0 to go on, 1
 * when the armed point is this event and `before` (commit what came
 * before, then nd_crash_now), 2 when `after` (apply it, commit, crash). */
int nd_crash_check(const char *job, const char *name, const char *kind, int64_t step);
/* Logs the crash point to stderr and SIGKILLs this process. */
void nd_crash_now(void);

/* --------------------------------------------------------------- server */

struct nd_db;
struct nd_sched;
struct nd_events;
struct MHD_Daemon;
struct MHD_Connection;
struct MHD_Response;
typedef struct nd_server nd_server;

/* A complete request as the HTTP bridge hands it on: the body has been
 * read and size-checked (cfg.max_body). */
typedef struct nd_request {
    nd_server *srv;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;          /* decoded, without the query string */
    const char *body;          /* NUL-terminated copy, may be NULL */
    size_t body_len;
} nd_request;

/* An answer, which the bridge turns into a libmicrohttpd response. */
typedef struct nd_response {
    int status;
    json_t *json;              /* body as JSON (owned), or NULL */
    const char *content_type;  /* default application/json */
    char *raw;                 /* or a raw body (owned when raw_free) */
    size_t raw_len;
    int raw_free;
    int raw_copy;              /* copy raw when sending (it may not live on) */
    char location[160];
    char allow[64];
    int retry_after;           /* seconds; 0: no header */
    int close_connection;      /* send "Connection: close" */
    int no_store;              /* send "Cache-Control: no-store" unless the
                                  response has a Cache-Control already */
    struct MHD_Response *mhd;  /* a ready response (event streams) */
} nd_response;

/* What the daemon runs but does not define: the application (nasd's API,
 * api/app.c) that main.c hands it in nd_server.app. Every callback runs
 * on the loop thread. */
typedef struct nd_app {
    /* Before listening, and after MHD has stopped: the application's own
     * state (in nd_server.app_data). start returns 0, or -1 after logging. */
    int (*start)(nd_server *s);
    void (*stop)(nd_server *s);
    /* A request's headers have come (its body has not): 0 to read the
     * body and go on, 1 when rs holds a refusal, which is sent once the
     * body has been read and dropped (within bounds). */
    int (*admit)(nd_request *rq, nd_response *rs);
    /* The body is over cfg.max_body: fill rs with the refusal. */
    void (*too_large)(nd_request *rq, nd_response *rs);
    /* The complete request: fill rs, always (the router). */
    void (*handle)(nd_request *rq, nd_response *rs);
    /* rs is about to be sent, `seconds` after the request's first byte
     * (counters; the application may still set rs's headers). */
    void (*answered)(nd_request *rq, nd_response *rs, double seconds);
    /* The scheduler claimed a job: its engine spec from the stored spec
     * (strings point into spec, which outlives es), with a data_path
     * resolved into data_path (n bytes) when it has one. 0, or -1 with
     * the reason in why. */
    int (*job_spec)(nd_server *s, const json_t *spec, nas_job_spec *es, char *data_path,
                    size_t n, char *why, size_t whylen);
} nd_app;

struct nd_server {
    nd_config cfg;
    const nd_app *app;             /* set before nd_http_start and nd_sched_start */
    void *app_data;                /* the application's own (api/: /metrics counters) */
    uv_loop_t *loop;
    struct MHD_Daemon *mhd;
    int bound_port;
    uv_poll_t mhd_poll;
    uv_timer_t mhd_timer;
    uv_signal_t sig_term, sig_int;
    struct nd_db *db;
    struct nd_sched *sched;
    struct nd_events *events;
    int stopping;                  /* a signal came: finishing up */
    int kick_again;                /* nd_http_kick_soon during an MHD_run */
    char db_path[PATH_MAX + 16];
    char ckpt_dir[PATH_MAX + 16];
    struct nd_auth *auth;          /* bearer tokens (daemon/auth.c) */
    struct nd_limits *limits;      /* connection counts (daemon/conn_limits.c) */
    struct nd_notify *notify;      /* systemd notifications (daemon/notify.c) */
};

/* Start listening (MHD in external-epoll mode, driven by the loop);
 * requests go to s->app. */
int nd_http_start(nd_server *s);
/* Run MHD now (after resuming a connection, say) and re-arm its timer. */
void nd_http_kick(nd_server *s);
/* Run MHD soon, from the loop (after resuming a suspended connection:
 * safe to call from inside a handler, unlike nd_http_kick). */
void nd_http_kick_soon(nd_server *s);
/* Stop accepting new connections (shutdown begins). */
void nd_http_quiesce(nd_server *s);
/* Close MHD and its handles; the loop then ends. */
void nd_http_stop(nd_server *s);

/* ---------------------------------------------------- access and limits */

/* Reads the bearer tokens (cfg.token_file, else the systemd credential
 * $CREDENTIALS_DIRECTORY/nasd-token when it exists) and warns when nasd
 * listens on a non-loopback address without one. 0, or -1 after logging
 * why (an unreadable or empty token file). */
int nd_auth_load(nd_server *s);
/* Warns when the address nasd actually listens on (s->cfg.listen_host once
 * the socket is bound or passed by systemd) is not loopback and no token
 * is configured. */
void nd_auth_warn_if_open(const nd_server *s);
void nd_auth_free(nd_server *s);
/* 1 when requests to /v1 and /metrics need a token. */
int nd_auth_required(const nd_server *s);
/* 1 when `authorization` (the header's value, may be NULL) is "Bearer T"
 * with T one of the tokens; compared in constant time. */
int nd_auth_check(const nd_server *s, const char *authorization);
/* Connection accounting: daemon/conn_limits.h. */

/* ------------------------------------------------------------ scheduler */

/* Worker threads, the claim of queued jobs and the inbox. */
int nd_sched_start(nd_server *s);
/* Claim queued jobs while a worker slot is free. */
void nd_sched_kick(nd_server *s);
/* Ask the worker running job `id` to cancel; 1 when it runs here. */
int nd_sched_cancel(nd_server *s, const char *id);
/* Ask every worker to checkpoint and stop; done_cb runs on the loop once
 * all slots are idle (at once when they already are). */
void nd_sched_shutdown(nd_server *s, void (*done_cb)(nd_server *));
/* Join the threads and free the scheduler (after shutdown completed). */
void nd_sched_free(nd_server *s);
int nd_sched_busy(const nd_server *s);
/* Seconds since the busy worker that has gone longest without a step
 * last made one (its heartbeat); 0 when no worker is busy. */
double nd_sched_heartbeat_age(const nd_server *s);

/* --------------------------------------------------- systemd (notify.c) */

/* The socket systemd passed (sd_listen_fds): its fd, -1 when none was
 * passed, -2 (logged) when what was passed is unusable. */
int nd_notify_listen_fd(void);
/* Reads NOTIFY_SOCKET and the watchdog settings, starts the timers. */
int nd_notify_init(nd_server *s);
/* READY=1: the database is open, recovery ran, the socket listens. */
void nd_notify_ready(nd_server *s);
/* STATUS= with the queue length and the running jobs, when it changed. */
void nd_notify_status(nd_server *s);
/* STOPPING=1, and EXTEND_TIMEOUT_USEC while `checkpointing` jobs do. */
void nd_notify_stopping(nd_server *s, int checkpointing);
/* Close the timers (shutdown). */
void nd_notify_close(nd_server *s);
/* Calls fn for every running job with its id, its last step and its
 * steps per second between its last two progress reports (0 until two). */
void nd_sched_foreach_running(const nd_server *s,
                              void (*fn)(void *ctx, const char *id, int64_t step,
                                         double steps_per_second),
                              void *ctx);

/* ------------------------------------------------------- event streams */

int nd_events_init(nd_server *s);
/* A new stream of job id whose first event is (first_event, first_data);
 * final: the job has ended, close after that event (and after the replay).
 * last_event_id: the client's Last-Event-ID header (may be NULL): when it
 * is a cursor this stream sent, the rows after it are replayed first (with
 * a `rewind` event before them when rows the client has were removed).
 * NULL on OOM or a database failure. */
struct MHD_Response *nd_events_open(nd_server *s, struct MHD_Connection *conn, const char *id,
                                    const char *first_event, json_t *first_data, int final,
                                    const char *last_event_id);
void nd_events_free(nd_server *s);
/* Publish an event of job `id` to its open streams: `event` is the SSE
 * event name, data a JSON object (borrowed). "metric" and "architecture"
 * events are rows: their data has the row's "seq" and they are published
 * only once committed. "rewind" tells clients to drop the rows after
 * {"metrics_after", "architectures_after"}. */
void nd_events_publish(nd_server *s, const char *id, const char *event,
                       json_t *data);
/* The job ended: streams of it send `data` as a final "state" event and
 * close. */
void nd_events_close_job(nd_server *s, const char *id, json_t *data);
/* Close every stream (shutdown). */
void nd_events_close_all(nd_server *s);
int nd_events_count(const nd_server *s);
/* Whether a new stream for conn would be over a cap: the cap's config key
 * ("max-streams", or "max-streams-per-client" for conn's client address)
 * with its value in *value, or NULL. */
const char *nd_events_full(const nd_server *s, struct MHD_Connection *conn, long *value);

#endif
