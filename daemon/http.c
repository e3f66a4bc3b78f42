// SPDX-License-Identifier: MIT
/*
 * http.c - the bridge between libmicrohttpd and the libuv loop.
 *
 * MHD runs in external-epoll mode: it owns an epoll fd, the loop watches
 * that fd with a uv_poll_t and calls MHD_run when it is readable, and a
 * uv_timer_t is re-armed from MHD_get_timeout after every run. No thread
 * of MHD's own exists, so handlers run on the loop thread, next to the
 * database connection and the scheduler they use.
 *
 * What a request means is not this file's business: it carries requests
 * to the application that main.c put in s->app (nasd's API) and its
 * answers back, the way MHD hands requests to an access handler. When a
 * request's headers have come, app->admit decides whether it may go on
 * (the gate: limits, Host, Origin, token); its body is then collected up
 * to cfg.max_body (app->too_large as soon as the Content-Length or the
 * bytes received say it is over), and the complete request goes to
 * app->handle. A refusal is sent once the body has been read and dropped
 * (within bounds), so that the client reads it instead of a reset.
 *
 * Two exceptions for an upload (POST /v1/datasets): app->spool may ask
 * for the body to be written to a file as it arrives, under a limit of
 * its own, so that it never sits in memory (the file goes when the
 * request does, whether it completed or the client went away mid-body);
 * and a handler may answer later (rs.deferred: its work runs off the
 * loop), when the connection is suspended until nd_http_answer.
 */
#include "conn_limits.h"
#include "nd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* A refused request's body is read and thrown away up to these bounds
 * before the refusal is sent (a lingering close, as nginx's): a client
 * that writes its whole body before it reads would otherwise meet a
 * reset instead of the answer. Past them the answer goes out at once. */
#define LINGER_BYTES ((size_t)16 << 20)
#define LINGER_SECONDS 10.0

typedef struct req_ctx {
    char *body;
    size_t len, cap;
    size_t limit;         /* of the body: cfg.max_body or the spool's */
    int fd;               /* the spool file's, or -1 */
    char spool[PATH_MAX]; /* its path ("" when none) */
    int deferred;         /* waiting for nd_http_answer, suspended */
    int late_ready;       /* `late` holds the answer */
    nd_response late;
    struct req_ctx *next; /* in s->deferred */
    int refused;          /* `early` holds the answer; the body is discarded */
    int answered;         /* a response is queued */
    nd_response early;
    size_t discarded;
    double t0;       /* monotonic seconds of its first byte (metrics) */
    char path[1024]; /* what is dispatched: decoded, without the query */
    nd_request rq;
} req_ctx;

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void add_header(struct MHD_Response *r, const char *k, const char *v)
{
    if (MHD_add_response_header(r, k, v) != MHD_YES)
        nd_log(ND_LOG_WARN, "could not add header %s", k);
}

/* Turn an nd_response into a queued MHD response; frees what rs owns. */
static enum MHD_Result send_resp(struct MHD_Connection *conn, nd_response *rs)
{
    struct MHD_Response *r = rs->mhd;
    if (!r) {
        if (rs->json) {
            char *text = json_dumps(rs->json, JSON_COMPACT | JSON_REAL_PRECISION(15));
            size_t n = text ? strlen(text) : 0;
            /* One newline at the end: friendlier to curl in a terminal. */
            char *body = malloc(n + 2);
            if (body) {
                memcpy(body, text ? text : "", n);
                body[n] = '\n';
                body[n + 1] = '\0';
            }
            free(text);
            r = MHD_create_response_from_buffer(body ? n + 1 : 0, body, MHD_RESPMEM_MUST_FREE);
            if (!rs->content_type)
                rs->content_type = "application/json";
        } else if (rs->raw) {
            r = MHD_create_response_from_buffer(rs->raw_len, rs->raw,
                                                rs->raw_free   ? MHD_RESPMEM_MUST_FREE
                                                : rs->raw_copy ? MHD_RESPMEM_MUST_COPY
                                                               : MHD_RESPMEM_PERSISTENT);
            rs->raw_free = 0;
        } else {
            r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        }
    }
    json_decref(rs->json);
    rs->json = NULL;
    if (rs->raw_free)
        free(rs->raw);
    rs->raw_free = 0;
    if (!r)
        return MHD_NO;
    if (rs->content_type)
        add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rs->content_type);
    if (rs->location[0])
        add_header(r, MHD_HTTP_HEADER_LOCATION, rs->location);
    if (rs->allow[0])
        add_header(r, MHD_HTTP_HEADER_ALLOW, rs->allow);
    if (rs->retry_after > 0) {
        char v[16];
        snprintf(v, sizeof(v), "%d", rs->retry_after);
        add_header(r, MHD_HTTP_HEADER_RETRY_AFTER, v);
    }
    if (rs->status == 401)
        add_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"nasd\"");
    if (rs->close_connection)
        add_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    /* A URL may carry ?access_token= (event streams, drawings): no page
     * of nasd's tells another site where it came from. */
    add_header(r, "Referrer-Policy", "no-referrer");
    if (rs->no_store && !MHD_get_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL))
        add_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)rs->status, r);
    MHD_destroy_response(r);
    return ok;
}

/* Shows the response to the application (its counters), then sends it. */
static enum MHD_Result answer(nd_server *s, struct MHD_Connection *conn, req_ctx *rc,
                              nd_response *rs)
{
    s->app->answered(&rc->rq, rs, mono_now() - rc->t0);
    rc->answered = 1;
    return send_resp(conn, rs);
}

/* Whether the request announces a body: then a refusal waits for it. */
static int has_body(struct MHD_Connection *conn)
{
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    const char *expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
    /* A client that waits for "100 Continue" sends nothing more: answer. */
    if (expect)
        return 0;
    return te || (cl && strtoull(cl, NULL, 10) > 0);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    nd_server *s = cls;
    req_ctx *rc = *con_cls;
    if (!rc) {
        rc = calloc(1, sizeof(*rc));
        if (!rc)
            return MHD_NO;
        *con_cls = rc;
        rc->t0 = mono_now();
        /* MHD has decoded url, so a %3F in it is a '?' by now, and
         * everything from there on is cut off. */
        snprintf(rc->path, sizeof(rc->path), "%s", url);
        char *q = strchr(rc->path, '?');
        if (q)
            *q = '\0';
        rc->rq = (nd_request){s, conn, method, rc->path, NULL, 0, NULL, ++s->next_token};
        rc->fd = -1;
        rc->limit = s->cfg.max_body;
        nd_limits_request_begins(s, conn);
        if (s->app->admit(&rc->rq, &rc->early)) {
            rc->refused = 1;
        } else {
            size_t spool = s->app->spool ? s->app->spool(&rc->rq, rc->spool, sizeof rc->spool) : 0;
            if (spool) {
                rc->limit = spool;
                rc->fd = open(rc->spool, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                if (rc->fd < 0) {
                    nd_log(ND_LOG_ERROR, "%s: %s", rc->spool, strerror(errno));
                    rc->spool[0] = '\0';
                    return MHD_NO;
                }
            }
            const char *cl =
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
            if (cl && strtoull(cl, NULL, 10) > rc->limit) {
                rc->refused = 1;
                s->app->too_large(&rc->rq, &rc->early);
            }
        }
        if (rc->refused && !has_body(conn))
            return answer(s, conn, rc, &rc->early);
        return MHD_YES;
    }
    rc->rq.method = method; /* as each call passes them */
    rc->rq.conn = conn;
    if (rc->deferred) {
        if (!rc->late_ready)
            return MHD_YES;
        rc->late_ready = 0;
        return answer(s, conn, rc, &rc->late);
    }
    if (rc->answered) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!rc->refused && rc->len + *upload_size > rc->limit) {
            rc->refused = 1;
            s->app->too_large(&rc->rq, &rc->early);
            free(rc->body);
            rc->body = NULL;
        }
        if (!rc->refused && rc->fd >= 0) {
            /* A local file: the page cache takes it without waiting. */
            for (size_t done = 0; done < *upload_size;) {
                ssize_t w = write(rc->fd, upload + done, *upload_size - done);
                if (w < 0 && errno == EINTR)
                    continue;
                if (w < 0) {
                    nd_log(ND_LOG_ERROR, "%s: %s", rc->spool, strerror(errno));
                    return MHD_NO;
                }
                done += (size_t)w;
            }
            rc->len += *upload_size;
            *upload_size = 0;
            return MHD_YES;
        }
        if (rc->refused) {
            rc->discarded += *upload_size;
            *upload_size = 0;
            if (rc->discarded > LINGER_BYTES || mono_now() - rc->t0 > LINGER_SECONDS) {
                rc->early.close_connection = 1;
                return answer(s, conn, rc, &rc->early);
            }
            return MHD_YES;
        }
        if (rc->len + *upload_size + 1 > rc->cap) {
            size_t cap = (rc->len + *upload_size + 1) * 2;
            if (cap > rc->limit + 1)
                cap = rc->limit + 1;
            char *b = realloc(rc->body, cap);
            if (!b)
                return MHD_NO;
            rc->body = b;
            rc->cap = cap;
        }
        memcpy(rc->body + rc->len, upload, *upload_size);
        rc->len += *upload_size;
        rc->body[rc->len] = '\0';
        *upload_size = 0;
        return MHD_YES;
    }
    if (rc->refused)
        return answer(s, conn, rc, &rc->early);
    rc->rq.body = rc->body;
    rc->rq.body_len = rc->len;
    if (rc->fd >= 0) {
        close(rc->fd);
        rc->fd = -1;
        rc->rq.body_file = rc->spool;
    }
    nd_response rs = {0};
    s->app->handle(&rc->rq, &rs);
    if (rs.deferred) {
        rc->deferred = 1;
        rc->next = s->deferred;
        s->deferred = rc;
        MHD_suspend_connection(conn);
        return MHD_YES;
    }
    return answer(s, conn, rc, &rs);
}

/* Takes rc out of s->deferred; 1 when it was there. */
static int undefer(nd_server *s, req_ctx *rc)
{
    for (req_ctx **p = &s->deferred; *p; p = &(*p)->next)
        if (*p == rc) {
            *p = rc->next;
            return 1;
        }
    return 0;
}

void nd_http_answer(nd_server *s, uint64_t token, nd_response *rs)
{
    req_ctx *rc = s->deferred;
    while (rc && rc->rq.token != token)
        rc = rc->next;
    if (!rc || !s->mhd) {
        json_decref(rs->json);
        if (rs->raw_free)
            free(rs->raw);
        *rs = (nd_response){0};
        return;
    }
    undefer(s, rc);
    rc->late = *rs;
    *rs = (nd_response){0};
    rc->late_ready = 1;
    MHD_resume_connection(rc->rq.conn);
    nd_http_kick_soon(s);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    nd_server *s = cls;
    req_ctx *rc = *con_cls;
    nd_limits_request_ends(s, conn);
    if (rc) {
        undefer(s, rc);
        if (rc->fd >= 0)
            close(rc->fd);
        if (rc->spool[0])
            unlink(rc->spool);
        json_decref(rc->early.json);
        json_decref(rc->late.json);
        free(rc->body);
        free(rc);
        *con_cls = NULL;
    }
}

static void on_mhd_timer(uv_timer_t *t)
{
    nd_http_kick(t->data);
}

static void on_mhd_poll(uv_poll_t *p, int status, int events)
{
    nd_http_kick(p->data);
}

/* MHD runs at least this often. At its connection cap (or when accept
 * fails for want of descriptors) MHD takes the listening socket out of its
 * epoll set and puts it back only in a later MHD_run, and MHD_get_timeout
 * does not ask for one: if every connection then closes within one run,
 * nothing would run MHD again and nasd would stop accepting for good. The
 * same tick drives the deadline for request headers (nd_limits_sweep). */
#define FALLBACK_MS 250

void nd_http_kick(nd_server *s)
{
    if (!s->mhd)
        return;
    s->kick_again = 0;
    MHD_run(s->mhd);
    /* A handler that resumed a connection asked for another run. MHD puts
     * a resumed connection back to work at the start of its next run and
     * MHD_get_timeout does not count it: re-arming from the timeout would
     * undo the request, and the stream would wait for an unrelated event
     * (its next heartbeat). */
    MHD_UNSIGNED_LONG_LONG to;
    nd_limits_sweep(s);
    if (s->kick_again)
        uv_timer_start(&s->mhd_timer, on_mhd_timer, 0, 0);
    else if (MHD_get_timeout(s->mhd, &to) == MHD_YES && to < FALLBACK_MS)
        uv_timer_start(&s->mhd_timer, on_mhd_timer, to, 0);
    else
        uv_timer_start(&s->mhd_timer, on_mhd_timer, FALLBACK_MS, 0);
}

void nd_http_kick_soon(nd_server *s)
{
    if (!s->mhd)
        return;
    s->kick_again = 1;
    uv_timer_start(&s->mhd_timer, on_mhd_timer, 0, 0);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    nd_log(ND_LOG_DEBUG, "http: %s", msg);
}

int nd_http_start(nd_server *s)
{
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)s->cfg.listen_port)};
    struct sockaddr_in6 addr6 = {.sin6_family = AF_INET6,
                                 .sin6_port = htons((uint16_t)s->cfg.listen_port)};
    const struct sockaddr *sa;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO | MHD_USE_ERROR_LOG;
    if (inet_pton(AF_INET, s->cfg.listen_host, &addr.sin_addr) == 1) {
        sa = (const struct sockaddr *)&addr;
    } else if (inet_pton(AF_INET6, s->cfg.listen_host, &addr6.sin6_addr) == 1) {
        sa = (const struct sockaddr *)&addr6;
        flags |= MHD_USE_IPv6;
    } else {
        nd_log(ND_LOG_ERROR, "listen: '%s' is not an IPv4 or IPv6 address", s->cfg.listen_host);
        return -1;
    }
    if (nd_auth_load(s) || nd_limits_init(s) || s->app->start(s))
        return -1;
    /* Socket activation (nasd.socket): systemd's listening socket instead
     * of one bound here; --listen then only names the default. */
    int activated = nd_notify_listen_fd();
    struct sockaddr_storage act;
    socklen_t alen = sizeof(act);
    if (activated == -2)
        return -1;
    if (activated >= 0 && getsockname(activated, (struct sockaddr *)&act, &alen) != 0) {
        nd_log(ND_LOG_ERROR, "socket activation: getsockname: %s", strerror(errno));
        return -1;
    }
    if (activated >= 0 && act.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    else if (activated >= 0)
        flags &= ~(unsigned)MHD_USE_IPv6;
    struct MHD_OptionItem where[] = {
        activated >= 0 ? (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, activated, NULL}
                       : (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, (void *)sa},
        {MHD_OPTION_END, 0, NULL}};
    /* MHD's own caps sit above ours: up to them a connection over a limit
     * gets a problem+json naming it (limits.c), past them a silent close. */
    s->mhd = MHD_start_daemon(
        flags, (uint16_t)s->cfg.listen_port, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, where,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->cfg.max_connections + ND_LIMITS_SLACK,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)s->cfg.max_connections_per_ip + ND_LIMITS_SLACK, MHD_OPTION_NOTIFY_CONNECTION,
        nd_limits_notify, s, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->cfg.connection_timeout,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_END);
    if (!s->mhd) {
        nd_log(ND_LOG_ERROR, "cannot listen on %s:%d (address in use or not allowed?)",
               s->cfg.listen_host, s->cfg.listen_port);
        return -1;
    }
    const union MHD_DaemonInfo *ep = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    const union MHD_DaemonInfo *lf = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_LISTEN_FD);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    s->bound_port = s->cfg.listen_port;
    if (lf && getsockname(lf->listen_fd, (struct sockaddr *)&bound, &blen) == 0)
        s->bound_port =
            ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                              : ((struct sockaddr_in *)&bound)->sin_port);
    if (activated >= 0) {
        /* Name the address systemd listens on in the log lines. */
        const void *a = act.ss_family == AF_INET6
                            ? (const void *)&((struct sockaddr_in6 *)&act)->sin6_addr
                            : (const void *)&((struct sockaddr_in *)&act)->sin_addr;
        s->bound_port = ntohs(act.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&act)->sin6_port
                                                        : ((struct sockaddr_in *)&act)->sin_port);
        if (!inet_ntop(act.ss_family, a, s->cfg.listen_host, sizeof(s->cfg.listen_host)))
            snprintf(s->cfg.listen_host, sizeof(s->cfg.listen_host), "?");
        s->cfg.listen_port = s->bound_port;
        nd_log(ND_LOG_INFO, "socket activation: listening on the socket systemd passed (fd %d)",
               activated);
    }
    nd_auth_warn_if_open(s);
    uv_timer_init(s->loop, &s->mhd_timer);
    s->mhd_timer.data = s;
    uv_poll_init(s->loop, &s->mhd_poll, ep->epoll_fd);
    s->mhd_poll.data = s;
    uv_poll_start(&s->mhd_poll, UV_READABLE, on_mhd_poll);
    nd_http_kick(s);
    return 0;
}

void nd_http_quiesce(nd_server *s)
{
    if (!s->mhd)
        return;
    MHD_socket fd = MHD_quiesce_daemon(s->mhd);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

void nd_http_stop(nd_server *s)
{
    if (!s->mhd)
        return;
    /* A deferred request's work may still run: its answer is dropped
     * (nd_http_answer), and MHD closes the connection once resumed. */
    while (s->deferred) {
        req_ctx *rc = s->deferred;
        s->deferred = rc->next;
        MHD_resume_connection(rc->rq.conn);
    }
    uv_poll_stop(&s->mhd_poll);
    uv_close((uv_handle_t *)&s->mhd_poll, NULL);
    uv_close((uv_handle_t *)&s->mhd_timer, NULL);
    MHD_stop_daemon(s->mhd);
    s->mhd = NULL;
    nd_limits_free(s);
    s->app->stop(s);
    nd_auth_free(s);
}
