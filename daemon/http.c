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

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct req_ctx {
    char *body;
    size_t len, cap;
    int too_large;
} req_ctx;

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
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)rs->status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result too_large(nd_server *s, struct MHD_Connection *conn)
{
    api_resp rs = {0};
    api_failf(&rs, 413, API_PROBLEM_BODY_TOO_LARGE, "", "the request body is over the limit of %zu bytes",
              s->cfg.max_body);
    json_object_set_new(rs.json, "limit", json_integer((json_int_t)s->cfg.max_body));
    return send_resp(conn, &rs);
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
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->cfg.max_body) {
            rc->too_large = 1;
            return too_large(s, conn);   /* MHD skips the body and closes */
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
        return too_large(s, conn);
    char path[1024];
    snprintf(path, sizeof(path), "%s", url);
    char *q = strchr(path, '?');
    if (q)
        *q = '\0';
    api_req rq = {s, conn, method, path, rc->body, rc->len};
    api_resp rs = {0};
    api_dispatch(&rq, &rs);
    return send_resp(conn, &rs);
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
    s->mhd = MHD_start_daemon(
        flags, (uint16_t)s->cfg.listen_port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, sa,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->cfg.max_connections,
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
}
