/*
 * http.c - the bridge between libmicrohttpd and the libuv loop.
 *
 * MHD runs in external-epoll mode: it owns an epoll fd, the loop watches
 * that fd with a uv_poll_t and calls MHD_run when it is readable, and a
 * uv_timer_t is re-armed from MHD_get_timeout after every run. No thread
 * of MHD's own exists, so handlers run on the loop thread, next to the
 * database connection and the scheduler they use.
 *
 * A request body is collected here up to cfg.max_body (413 as soon as the
 * Content-Length or the bytes received say it is over), then the complete
 * request goes to api_dispatch.
 */
#include "api.h"
#include "conn_limits.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

typedef struct req_ctx {
    char *body;
    size_t len, cap;
    int too_large;
    double t0;        /* monotonic seconds of its first byte (metrics) */
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

/* Turn an api_resp into a queued MHD response; frees what rs owns. */
static enum MHD_Result send_resp(struct MHD_Connection *conn, api_resp *rs)
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
            r = MHD_create_response_from_buffer(body ? n + 1 : 0, body,
                                                MHD_RESPMEM_MUST_FREE);
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
    if (rs->raw_free)
        free(rs->raw);
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
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)rs->status, r);
    MHD_destroy_response(r);
    return ok;
}

/* Counts the response for /metrics, then sends it. */
static enum MHD_Result answer(nd_server *s, struct MHD_Connection *conn, const req_ctx *rc,
                              const char *url, const char *method, api_resp *rs)
{
    if (rs->json && rs->status >= 400)
        api_metrics_refused(s, json_string_value(json_object_get(rs->json, "limit_name")));
    api_metrics_observe(s, api_route_name(url), method, rs->status, mono_now() - rc->t0);
    return send_resp(conn, rs);
}

static enum MHD_Result too_large(nd_server *s, struct MHD_Connection *conn, const req_ctx *rc,
                                 const char *url, const char *method)
{
    api_resp rs = {0};
    api_failf(&rs, 413, API_PROBLEM_BODY_TOO_LARGE, "",
              "the request body is over the limit of %zu bytes (max-body)", s->cfg.max_body);
    json_object_set_new(rs.json, "limit", json_integer((json_int_t)s->cfg.max_body));
    json_object_set_new(rs.json, "limit_name", json_string("max-body"));
    return answer(s, conn, rc, url, method, &rs);
}

/* What every request meets before its body is read: the connection
 * limits (decided when the connection opened) and the bearer token on
 * /v1 and /metrics. 1 when rs holds the refusal. */
static int refuse_early(nd_server *s, struct MHD_Connection *conn, const char *url,
                        api_resp *rs)
{
    long value = 0;
    const char *over = nd_limits_over(s, conn, &value);
    if (over) {
        int per_ip = strcmp(over, "max-connections-per-ip") == 0;
        rs->retry_after = 1;
        rs->close_connection = 1;
        api_fail_limit(rs, per_ip ? 429 : 503, "", over, (double)value,
                       per_ip ? "this client has more than %ld connections open (%s)"
                              : "nasd has more than %ld connections open (%s)",
                       value, over);
        return 1;
    }
    int needs_token = strncmp(url, "/v1/", 4) == 0 || strcmp(url, "/v1") == 0 ||
                      strcmp(url, "/metrics") == 0;
    if (!needs_token || !nd_auth_required(s))
        return 0;
    const char *given = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_AUTHORIZATION);
    /* RFC 6750 2.3: the token as ?access_token=, for a browser's
     * EventSource, which cannot send headers (the dashboard's streams). */
    const char *query = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "access_token");
    char bearer[600];
    if (!given && query && strlen(query) < sizeof(bearer) - 8) {
        snprintf(bearer, sizeof(bearer), "Bearer %s", query);
        given = bearer;
    }
    int ok = nd_auth_check(s, given);
    explicit_bzero(bearer, sizeof(bearer));
    if (!ok) {
        api_failf(rs, 401, API_PROBLEM_UNAUTHORIZED, "",
                  given ? "the bearer token is not one of nasd's tokens (token-file)"
                        : "this endpoint needs \"Authorization: Bearer TOKEN\" (or "
                          "?access_token=TOKEN; token-file)");
        return 1;
    }
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    nd_server *s = cls;
    req_ctx *rc = *con_cls;
    if (!rc) {
        rc = calloc(1, sizeof(*rc));
        if (!rc)
            return MHD_NO;
        *con_cls = rc;
        rc->t0 = mono_now();
        api_resp early = {0};
        if (refuse_early(s, conn, url, &early)) {
            rc->too_large = 1;   /* the body, if any, is not kept */
            return answer(s, conn, rc, url, method, &early);
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->cfg.max_body) {
            rc->too_large = 1;
            return too_large(s, conn, rc, url, method);   /* MHD skips the body and closes */
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!rc->too_large && rc->len + *upload_size > s->cfg.max_body) {
            rc->too_large = 1;
            free(rc->body);
            rc->body = NULL;
        }
        if (!rc->too_large) {
            if (rc->len + *upload_size + 1 > rc->cap) {
                size_t cap = (rc->len + *upload_size + 1) * 2;
                if (cap > s->cfg.max_body + 1)
                    cap = s->cfg.max_body + 1;
                char *b = realloc(rc->body, cap);
                if (!b)
                    return MHD_NO;
                rc->body = b;
                rc->cap = cap;
            }
            memcpy(rc->body + rc->len, upload, *upload_size);
            rc->len += *upload_size;
            rc->body[rc->len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (rc->too_large)
        return too_large(s, conn, rc, url, method);
    char path[1024];
    snprintf(path, sizeof(path), "%s", url);
    char *q = strchr(path, '?');
    if (q)
        *q = '\0';
    api_req rq = {s, conn, method, path, rc->body, rc->len};
    api_resp rs = {0};
    api_dispatch(&rq, &rs);
    return answer(s, conn, rc, path, method, &rs);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    req_ctx *rc = *con_cls;
    if (rc) {
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
    if (s->kick_again)
        uv_timer_start(&s->mhd_timer, on_mhd_timer, 0, 0);
    else if (MHD_get_timeout(s->mhd, &to) == MHD_YES)
        uv_timer_start(&s->mhd_timer, on_mhd_timer, to, 0);
    else
        uv_timer_stop(&s->mhd_timer);
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
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->cfg.listen_port)};
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
    if (nd_auth_load(s) || nd_limits_init(s) || api_metrics_init(s))
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
        (unsigned)s->cfg.max_connections_per_ip + ND_LIMITS_SLACK,
        MHD_OPTION_NOTIFY_CONNECTION, nd_limits_notify, s,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->cfg.connection_timeout,
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
        s->bound_port = ntohs(bound.ss_family == AF_INET6
                                  ? ((struct sockaddr_in6 *)&bound)->sin6_port
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
    uv_poll_stop(&s->mhd_poll);
    uv_close((uv_handle_t *)&s->mhd_poll, NULL);
    uv_close((uv_handle_t *)&s->mhd_timer, NULL);
    MHD_stop_daemon(s->mhd);
    s->mhd = NULL;
    nd_limits_free(s);
    api_metrics_free(s);
    nd_auth_free(s);
}
