// SPDX-License-Identifier: MIT
/*
 * app.c - the API as nasd's daemon sees it: api_app, the nd_app that
 * main.c hands the server. It holds the router (api_dispatch), the gate
 * every request meets before its body is read, the count of every answer
 * for /metrics, and the engine spec of a job the scheduler claimed.
 *
 * The gate decides, in this order: the connection limits (counted by
 * daemon/conn_limits.c when the connection opened), the Host header (DNS
 * rebinding), the Origin of a request that changes something (other
 * sites' pages in the user's browser) and the bearer token, each on the
 * path that will be dispatched; then an upload's query (a bad or taken
 * name is refused before its body is read). The daemon sends a refusal once the body
 * has been read and dropped (within bounds), so that the client reads it
 * instead of a reset.
 */
#include "api.h"
#include "conn_limits.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void too_large(api_req *rq, api_resp *rs)
{
    const nd_server *s = rq->srv;
    char path[8];
    int upload = api_datasets_spool(rq, path, sizeof path) != 0;
    size_t limit = upload ? s->cfg.max_dataset_bytes : s->cfg.max_body;
    const char *key = upload ? "max-dataset-bytes" : "max-body";
    api_failf(rs, 413, API_PROBLEM_BODY_TOO_LARGE, "",
              "the request body is over the limit of %zu bytes (%s)", limit, key);
    json_object_set_new(rs->json, "limit", json_integer((json_int_t)limit));
    json_object_set_new(rs->json, "limit_name", json_string(key));
}

static int start(nd_server *s)
{
    return api_metrics_init(s) || api_datasets_start(s) || api_predict_init(s) ? -1 : 0;
}

static void stop(nd_server *s)
{
    api_predict_free(s);
    api_datasets_stop(s);
    api_metrics_free(s);
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
    if (in_list(s->cfg.allowed_hosts, host, strlen(host)) || in_list(s->cfg.allowed_hosts, host, n))
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
    int wildcard =
        strcmp(s->cfg.listen_host, "0.0.0.0") == 0 || strcmp(s->cfg.listen_host, "::") == 0;
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
 * cannot send one (EventSource, <img src>), so GET of an event stream, a
 * drawing (?format=svg or dot) or a dataset's sample grid (?format=png),
 * which change nothing. */
static int query_token_allowed(struct MHD_Connection *conn, const char *path, const char *method)
{
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return 0;
    const char *route = api_route_name(path);
    if (strcmp(route, "/v1/jobs/{id}/events") == 0)
        return 1;
    const char *fmt = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "format");
    return fmt && strcmp(fmt, "json") != 0 &&
           (strcmp(route, "/v1/jobs/{id}/result") == 0 ||
            strcmp(route, "/v1/jobs/{id}/architectures/{n}") == 0 ||
            strcmp(route, "/v1/datasets/{name}") == 0);
}

/* What every request meets before its body is read, in this order: the
 * connection limits (decided when the connection opened), the Host
 * header, the Origin of a request that changes things, and the bearer
 * token on /v1 and /metrics. rq->path is the path that will be
 * dispatched (decoded, without the query), so what is authorized is what
 * runs. 1 when rs holds the refusal. */
static int admit(api_req *rq, api_resp *rs)
{
    nd_server *s = rq->srv;
    struct MHD_Connection *conn = rq->conn;
    const char *path = rq->path, *method = rq->method;
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
    int safe =
        strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 || strcmp(method, "OPTIONS") == 0;
    if (origin && !safe && !origin_allowed(s, origin, host)) {
        api_failf(rs, 403, API_PROBLEM_FORBIDDEN, "",
                  "a %s from the page of another site (Origin \"%.200s\") is refused; "
                  "allowed-origins lists the sites that may",
                  method, origin);
        return 1;
    }
    int needs_token =
        strncmp(path, "/v1/", 4) == 0 || strcmp(path, "/v1") == 0 || strcmp(path, "/metrics") == 0;
    if (!needs_token || !nd_auth_required(s))
        return api_datasets_admit(rq, rs);
    const char *given =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    /* RFC 6750 2.3: the token as ?access_token=, for a browser's
     * EventSource and <img>, which cannot send headers. */
    const char *query = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "access_token");
    if (!given && query && !query_token_allowed(conn, path, method)) {
        api_failf(rs, 401, API_PROBLEM_UNAUTHORIZED, "",
                  "?access_token= is accepted only on GET of an event stream, a drawing "
                  "(?format=svg or dot) or a sample grid (?format=png); send "
                  "\"Authorization: Bearer TOKEN\"");
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
    return api_datasets_admit(rq, rs);
}

/* Counts the answer for /metrics; an API answer (/v1, /metrics, /healthz)
 * is one that no cache keeps. */
static void answered(api_req *rq, api_resp *rs, double seconds)
{
    nd_server *s = rq->srv;
    size_t route = api_route_of(rq->path);
    if (rs->json && rs->status >= 400)
        api_metrics_refused(s, json_string_value(json_object_get(rs->json, "limit_name")));
    api_metrics_observe(s, route, rq->method, rs->status, seconds);
    rs->no_store = strcmp(api_route_label(route), "static") != 0;
}

/* The engine's job of a claimed job's stored spec, its data_path checked
 * again now (a symbolic link may have changed since the job was
 * accepted). */
static int job_spec(nd_server *s, const json_t *spec, nas_job_spec *es, char *data_path, size_t n,
                    char *why, size_t whylen)
{
    if (api_spec_engine(spec, &s->cfg, es, why, whylen) != 0)
        return -1;
    api_problem p = {0};
    int rc = api_spec_data_path(spec, &s->cfg, data_path, n, &p);
    if (rc != 0) {
        size_t k = strnlen(p.detail, whylen - 1);
        memcpy(why, p.detail, k);
        why[k] = '\0';
    } else if (data_path[0])
        es->data_path = data_path;
    api_problem_clear(&p);
    return rc;
}

const nd_app api_app = {
    .start = start,
    .stop = stop,
    .spool = api_datasets_spool,
    .admit = admit,
    .too_large = too_large,
    .handle = api_dispatch,
    .answered = answered,
    .job_spec = job_spec,
};
