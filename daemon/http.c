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
 *
 * Before any route runs, a request passes the gate of refuse_early: the
 * connection limits, the Host header (DNS rebinding), the Origin of a
 * request that changes something (other sites' pages in the user's
 * browser) and the bearer token, each decided on the path that will be
 * dispatched. A refusal is sent once the body has been read and dropped
 * (within bounds), so that the client reads it instead of a reset.
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
#include <strings.h>
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
    int refused;      /* `early` holds the answer; the body is discarded */
    int answered;     /* a response is queued */
    api_resp early;
    size_t discarded;
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

/* Turn an api_resp into a queued MHD response; frees what rs owns. api:
 * an API answer (/v1, /metrics, /healthz), which no cache keeps. */
static enum MHD_Result send_resp(struct MHD_Connection *conn, api_resp *rs, int api)
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
     * of nasd's tells another site where it came from, and no cache
     * keeps an API answer. */
    add_header(r, "Referrer-Policy", "no-referrer");
    if (api && !MHD_get_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL))
        add_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)rs->status, r);
    MHD_destroy_response(r);
    return ok;
}

/* Counts the response for /metrics, then sends it. */
static enum MHD_Result answer(nd_server *s, struct MHD_Connection *conn, req_ctx *rc,
                              const char *path, const char *method, api_resp *rs)
{
    const char *route = api_route_name(path);
    if (rs->json && rs->status >= 400)
        api_metrics_refused(s, json_string_value(json_object_get(rs->json, "limit_name")));
    api_metrics_observe(s, route, method, rs->status, mono_now() - rc->t0);
    rc->answered = 1;
    return send_resp(conn, rs, strcmp(route, "static") != 0);
}

static void too_large(nd_server *s, api_resp *rs)
{
    api_failf(rs, 413, API_PROBLEM_BODY_TOO_LARGE, "",
              "the request body is over the limit of %zu bytes (max-body)", s->cfg.max_body);
    json_object_set_new(rs->json, "limit", json_integer((json_int_t)s->cfg.max_body));
    json_object_set_new(rs->json, "limit_name", json_string("max-body"));
}

/* 1 when word (n bytes) is in list (separated by commas or blanks),
 * compared without case; "*" in the list matches anything. */
static int in_list(const char *list, const char *word, size_t n)
{
    const char *p = list;
    while (*p) {
        p += strspn(p, ", \t");
        size_t k = strcspn(p, ", \t");
        if ((k == 1 && *p == '*') || (k == n && k && strncasecmp(p, word, n) == 0))
            return 1;
        p += k;
    }
    return 0;
}

/* 1 when host (a Host header's value) names nasd: localhost, 127.0.0.1,
 * [::1] or the address it listens on, with its port or none, or a name
 * of allowed-hosts (with any port, or exactly as listed). Anything else
 * is a name that resolved to this machine without being its name: DNS
 * rebinding, where a page of evil.example, now resolving to 127.0.0.1,
 * would be same-origin with nasd. */
static int host_allowed(const nd_server *s, const char *host)
{
    size_t n;
    const char *port;
    if (host[0] == '[') {
        const char *rb = strchr(host, ']');
        if (!rb)
            return 0;
        n = (size_t)(rb + 1 - host);
        port = rb[1] == ':' ? rb + 2 : rb[1] ? "" : NULL;
    } else {
        const char *colon = strchr(host, ':');
        n = colon ? (size_t)(colon - host) : strlen(host);
        port = colon ? colon + 1 : NULL;
    }
    if (in_list(s->cfg.allowed_hosts, host, strlen(host)) ||
        in_list(s->cfg.allowed_hosts, host, n))
        return 1;
    if (port) {
        char *end;
        long p = strtol(port, &end, 10);
        if (!*port || *end || p != s->bound_port)
            return 0;
    }
    char own[80];
    int v6 = strchr(s->cfg.listen_host, ':') != NULL;
    snprintf(own, sizeof(own), v6 ? "[%s]" : "%s", s->cfg.listen_host);
    int wildcard = strcmp(s->cfg.listen_host, "0.0.0.0") == 0 || strcmp(s->cfg.listen_host, "::") == 0;
    return in_list("localhost,127.0.0.1,[::1]", host, n) ||
           (!wildcard && strlen(own) == n && strncasecmp(own, host, n) == 0);
}

/* 1 when a request from origin may change things: nasd's own origin (the
 * scheme, then the Host the request was sent to, which host_allowed has
 * checked) or one of allowed-origins. */
static int origin_allowed(const nd_server *s, const char *origin, const char *host)
{
    if (in_list(s->cfg.allowed_origins, origin, strlen(origin)))
        return 1;
    if (!host)
        return 0;
    const char *rest = strncasecmp(origin, "http://", 7) == 0    ? origin + 7
                       : strncasecmp(origin, "https://", 8) == 0 ? origin + 8
                                                                  : NULL;
    return rest && strcasecmp(rest, host) == 0;
}

/* Whether ?access_token= may stand for the header: only where a browser
 * cannot send one (EventSource, <img src>), so GET of an event stream or
 * a drawing (?format=svg or dot), which change nothing. */
static int query_token_allowed(struct MHD_Connection *conn, const char *path,
                               const char *method)
{
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return 0;
    const char *route = api_route_name(path);
    if (strcmp(route, "/v1/jobs/{id}/events") == 0)
        return 1;
    const char *fmt = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "format");
    return fmt && strcmp(fmt, "json") != 0 &&
           (strcmp(route, "/v1/jobs/{id}/result") == 0 ||
            strcmp(route, "/v1/jobs/{id}/architectures/{n}") == 0);
}

/* What every request meets before its body is read, in this order: the
 * connection limits (decided when the connection opened), the Host
 * header, the Origin of a request that changes things, and the bearer
 * token on /v1 and /metrics. path is the path that will be dispatched
 * (decoded, without the query), so what is authorized is what runs.
 * 1 when rs holds the refusal. */
static int refuse_early(nd_server *s, struct MHD_Connection *conn, const char *path,
                        const char *method, api_resp *rs)
{
    long value = 0;
    const char *over = nd_limits_over(s, conn, &value);
    if (over) {
        int per_ip = strcmp(over, "max-connections-per-ip") == 0;
        int files = strcmp(over, "open-files") == 0;
        rs->retry_after = 1;
        rs->close_connection = 1;
        api_fail_limit(rs, per_ip ? 429 : 503, "", over, (double)value,
                       per_ip  ? "this client has more than %ld connections open (%s)"
                       : files ? "nasd is near its limit of %ld open files (%s, LimitNOFILE)"
                               : "nasd has more than %ld connections open (%s)",
                       value, over);
        return 1;
    }
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    /* /healthz tells nothing and is what probes ask under any name. */
    if (host && strcmp(path, "/healthz") != 0 && !host_allowed(s, host)) {
        rs->close_connection = 1;
        api_failf(rs, 421, API_PROBLEM_MISDIRECTED, "",
                  "Host \"%.200s\" is not a name of this nasd (localhost, 127.0.0.1, [::1] "
                  "with port %d; allowed-hosts)",
                  host, s->bound_port);
        return 1;
    }
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    int safe = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
               strcmp(method, "OPTIONS") == 0;
    if (origin && !safe && !origin_allowed(s, origin, host)) {
        api_failf(rs, 403, API_PROBLEM_FORBIDDEN, "",
                  "a %s from the page of another site (Origin \"%.200s\") is refused; "
                  "allowed-origins lists the sites that may",
                  method, origin);
        return 1;
    }
    int needs_token = strncmp(path, "/v1/", 4) == 0 || strcmp(path, "/v1") == 0 ||
                      strcmp(path, "/metrics") == 0;
    if (!needs_token || !nd_auth_required(s))
        return 0;
    const char *given = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_AUTHORIZATION);
    /* RFC 6750 2.3: the token as ?access_token=, for a browser's
     * EventSource and <img>, which cannot send headers. */
    const char *query = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "access_token");
    if (!given && query && !query_token_allowed(conn, path, method)) {
        api_failf(rs, 401, API_PROBLEM_UNAUTHORIZED, "",
                  "?access_token= is accepted only on GET of an event stream or a drawing "
                  "(?format=svg or dot); send \"Authorization: Bearer TOKEN\"");
        return 1;
    }
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
                        : "this endpoint needs \"Authorization: Bearer TOKEN\" (or, for an "
                          "event stream or a drawing, ?access_token=TOKEN; token-file)");
        return 1;
    }
    return 0;
}

/* Whether the request announces a body: then a refusal waits for it. */
static int has_body(struct MHD_Connection *conn)
{
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_TRANSFER_ENCODING);
    const char *expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_EXPECT);
    /* A client that waits for "100 Continue" sends nothing more: answer. */
    if (expect)
        return 0;
    return te || (cl && strtoull(cl, NULL, 10) > 0);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    nd_server *s = cls;
    req_ctx *rc = *con_cls;
    /* The path that is dispatched: MHD has decoded url, so a %3F in it is
     * a '?' by now, and everything from there on is cut off. */
    char path[1024];
    snprintf(path, sizeof(path), "%s", url);
    char *q = strchr(path, '?');
    if (q)
        *q = '\0';
    if (!rc) {
        rc = calloc(1, sizeof(*rc));
        if (!rc)
            return MHD_NO;
        *con_cls = rc;
        rc->t0 = mono_now();
        nd_limits_request_begins(s, conn);
        if (refuse_early(s, conn, path, method, &rc->early)) {
            rc->refused = 1;
        } else {
            const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                         MHD_HTTP_HEADER_CONTENT_LENGTH);
            if (cl && strtoull(cl, NULL, 10) > s->cfg.max_body) {
                rc->refused = 1;
                too_large(s, &rc->early);
            }
        }
        if (rc->refused && !has_body(conn))
            return answer(s, conn, rc, path, method, &rc->early);
        return MHD_YES;
    }
    if (rc->answered) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!rc->refused && rc->len + *upload_size > s->cfg.max_body) {
            rc->refused = 1;
            too_large(s, &rc->early);
            free(rc->body);
            rc->body = NULL;
        }
        if (rc->refused) {
            rc->discarded += *upload_size;
            *upload_size = 0;
            if (rc->discarded > LINGER_BYTES || mono_now() - rc->t0 > LINGER_SECONDS) {
                rc->early.close_connection = 1;
                return answer(s, conn, rc, path, method, &rc->early);
            }
            return MHD_YES;
        }
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
        *upload_size = 0;
        return MHD_YES;
    }
    if (rc->refused)
        return answer(s, conn, rc, path, method, &rc->early);
    api_req rq = {s, conn, method, path, rc->body, rc->len};
    api_resp rs = {0};
    api_dispatch(&rq, &rs);
    return answer(s, conn, rc, path, method, &rs);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    nd_server *s = cls;
    req_ctx *rc = *con_cls;
    nd_limits_request_ends(s, conn);
    if (rc) {
        json_decref(rc->early.json);
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
    uv_poll_stop(&s->mhd_poll);
    uv_close((uv_handle_t *)&s->mhd_poll, NULL);
    uv_close((uv_handle_t *)&s->mhd_timer, NULL);
    MHD_stop_daemon(s->mhd);
    s->mhd = NULL;
    nd_limits_free(s);
    api_metrics_free(s);
    nd_auth_free(s);
}
