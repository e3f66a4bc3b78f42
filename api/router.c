// SPDX-License-Identifier: MIT
/*
 * router.c - the one route table of the API and the response helpers.
 *
 * A route is a path pattern (with `{id}` for a job id, which must be 32
 * lowercase hex characters) and its handlers per method; a path that
 * matches with a method that has no handler gets 405 with an Allow header
 * built from the same row, and /metrics labels a request with the pattern
 * of the row its path matched, so the table is the only place a route is
 * written. The row also names the media type its POST body must have:
 * a body of another Content-Type is a 415, so that a page of another
 * site cannot send one as a "simple" request (text/plain, a form) that
 * the browser sends without asking nasd first. {name} is a dataset's name
 * (1-64 of a-z, 0-9, '.', '_', '-'), given to the *_id handlers as is.
 */
#include "api.h"
#include "render.h"

#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef void (*h_plain)(api_req *, api_resp *);
typedef void (*h_id)(api_req *, api_resp *, const char *);

typedef struct {
    /* The path, with {id} for a job id (32 lowercase hex characters, given
     * to the *_id handlers) and {n} for 1-18 digits (which the handler reads
     * from the path itself). The pattern is also the route's label in
     * /metrics (api_route_name), and the OpenAPI document has one path
     * per pattern (tests/test_routes.c). */
    const char *pattern;
    h_plain get, post, del;
    h_id get_id, post_id, del_id;
    const char *body_type; /* media types of a POST body (separated by
                              blanks); NULL: no body read */
    /* The query parameters a GET (or HEAD) and a POST take, separated by
     * spaces; any other is a 400 naming these (access_token aside: the
     * bridge decides where it may stand for the header). NULL: none. */
    const char *get_query, *post_query;
} route;

#define JOB_LIST_QUERY "state page_size page_token name algorithm search_space dataset tag"

static const route routes[] = {
    {.pattern = "/healthz", .get = api_healthz},
    {.pattern = "/metrics", .get = api_metrics_get},
    {.pattern = "/v1/openapi.json", .get = api_openapi_get},
    {.pattern = "/v1/datasets",
     .get = api_datasets_list,
     .post = api_datasets_create,
     .body_type = "application/x-tar application/zip application/gzip application/octet-stream",
     .post_query = "name kind resize"},
    {.pattern = "/v1/datasets/{name}",
     .get_id = api_datasets_get,
     .del_id = api_datasets_delete,
     .get_query = "format"},
    {.pattern = "/v1/search-spaces", .get = api_search_spaces_list},
    {.pattern = "/v1/jobs",
     .get = api_jobs_list,
     .post = api_jobs_create,
     .body_type = "application/json",
     .get_query = JOB_LIST_QUERY,
     .post_query = "dry_run"},
    {.pattern = "/v1/jobs/{id}", .get_id = api_jobs_get, .del_id = api_jobs_delete},
    {.pattern = "/v1/jobs/{id}:cancel", .post_id = api_jobs_cancel},
    {.pattern = "/v1/jobs/{id}/metrics",
     .get_id = api_jobs_metrics,
     .get_query = "name after limit"},
    {.pattern = "/v1/jobs/{id}/architectures",
     .get_id = api_jobs_architectures,
     .get_query = "after limit"},
    {.pattern = "/v1/jobs/{id}/architectures/{n}",
     .get_id = api_jobs_architecture_get,
     .get_query = "format"},
    {.pattern = "/v1/jobs/{id}/result", .get_id = api_jobs_result, .get_query = "format"},
    {.pattern = "/v1/jobs/{id}/model", .get_id = api_jobs_model, .get_query = "format"},
    {.pattern = "/v1/jobs/{id}/predictions",
     .post_id = api_jobs_predict,
     .body_type = "application/json application/octet-stream"},
    {.pattern = "/v1/jobs/{id}/events", .get_id = api_jobs_events},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

#define NAME_CHARS "abcdefghijklmnopqrstuvwxyz0123456789._-"

/* Whether path matches pattern; for an {id} or a {name} copy it into
 * id[65]. */
static int match(const char *pattern, const char *path, char id[65])
{
    const char *p = path, *q = pattern, *job = NULL;
    size_t idlen = 0;
    while (*q) {
        if (strncmp(q, "{id}", 4) == 0) {
            if (strspn(p, "0123456789abcdef") != 32)
                return 0;
            job = p;
            idlen = 32;
            p += 32;
            q += 4;
        } else if (strncmp(q, "{name}", 6) == 0) {
            idlen = strspn(p, NAME_CHARS);
            if (idlen == 0 || idlen > 64 || *p == '.' || *p == '-' || *p == '_')
                return 0;
            job = p;
            p += idlen;
            q += 6;
        } else if (strncmp(q, "{n}", 3) == 0) {
            size_t d = strspn(p, "0123456789");
            if (d == 0 || d > 18)
                return 0;
            p += d;
            q += 3;
        } else if (*q++ != *p++) {
            return 0;
        }
    }
    if (*p != '\0')
        return 0;
    if (job) {
        memcpy(id, job, idlen);
        id[idlen] = '\0';
    }
    return 1;
}

/* Rows, then the two labels of paths no row matches. */
size_t api_route_count(void)
{
    return N_ROUTES + 2;
}

const char *api_route_label(size_t i)
{
    NAS_ASSERT(i < N_ROUTES + 2 && "a route index from api_route_of");
    return i < N_ROUTES ? routes[i].pattern : i == N_ROUTES ? "static" : "other";
}

size_t api_route_of(const char *path)
{
    char id[65];
    for (size_t i = 0; i < N_ROUTES; i++)
        if (match(routes[i].pattern, path, id))
            return i;
    /* Everything outside /v1 is the web root's. */
    if (strncmp(path, "/v1/", 4) != 0 && strcmp(path, "/v1") != 0)
        return N_ROUTES;
    return N_ROUTES + 1;
}

const char *api_route_name(const char *path)
{
    return api_route_label(api_route_of(path));
}

static void allow_header(const route *r, char *out, size_t n)
{
    out[0] = '\0';
    if (r->get || r->get_id)
        strncat(out, "GET, HEAD, ", n - strlen(out) - 1);
    if (r->post || r->post_id)
        strncat(out, "POST, ", n - strlen(out) - 1);
    if (r->del || r->del_id)
        strncat(out, "DELETE, ", n - strlen(out) - 1);
    size_t l = strlen(out);
    if (l >= 2)
        out[l - 2] = '\0';
}

void api_route_allow(size_t i, char *out, size_t n)
{
    NAS_ASSERT(i < N_ROUTES && "a row of the route table");
    allow_header(&routes[i], out, n);
}

const char *api_route_query(size_t i, int post)
{
    NAS_ASSERT(i < N_ROUTES && "a row of the route table");
    return post ? routes[i].post_query : routes[i].get_query;
}

/* The rows' lists (body types, query parameters) are words separated by
 * blanks. The next word at *p: its length (0 at the end of the list),
 * with *p moved to its start. */
static size_t word_at(const char **p)
{
    *p += strspn(*p, " ");
    return strcspn(*p, " ");
}

/* Whether the n bytes at w are a word of list (NULL: none); fold: any
 * case. */
static int in_list(const char *list, const char *w, size_t n, int fold)
{
    size_t k;
    for (const char *p = list ? list : ""; (k = word_at(&p)) != 0; p += k)
        if (k == n && (fold ? strncasecmp(p, w, n) : strncmp(p, w, n)) == 0)
            return 1;
    return 0;
}

/* The words of list as a JSON array (a problem's "allowed"). */
static json_t *words_json(const char *list)
{
    json_t *a = json_array();
    size_t k;
    for (const char *p = list ? list : ""; a && (k = word_at(&p)) != 0; p += k)
        json_array_append_new(a, json_stringn(p, k));
    return a;
}

/* 0 when the request's Content-Type is r's body type (parameters such as
 * charset aside) or absent; else -1 with rs a 415. Without a header the
 * body is read as JSON: curl scripts and nasd's tests send it so, and a
 * browser sends a body without a type only from a Blob, with an Origin
 * that http.c has checked already. */
static int check_body_type(const route *r, api_req *rq, api_resp *rs)
{
    const char *ct = api_header(rq, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!r->body_type || !ct || in_list(r->body_type, ct, strcspn(ct, "; \t"), 1))
        return 0;
    api_failf(rs, 415, API_PROBLEM_UNSUPPORTED_MEDIA_TYPE, "",
              "%s %s takes a body of Content-Type %s, not \"%.100s\"", rq->method, rq->path,
              r->body_type, ct);
    if (rs->json)
        json_object_set_new(rs->json, "allowed", words_json(r->body_type));
    return -1;
}

typedef struct {
    const char *allowed;
    const char *unknown; /* the first parameter not in allowed */
} query_scan;

static enum MHD_Result scan_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    query_scan *q = cls;
    (void)kind;
    (void)value;
    if (strcmp(key, "access_token") == 0 || in_list(q->allowed, key, strlen(key), 0))
        return MHD_YES;
    q->unknown = key;
    return MHD_NO;
}

/* 0 when every query parameter is one the method of r takes; else -1
 * with rs a 400 that names the unknown one and lists the known ones (a
 * misspelt ?dry_run or ?nmae must not be ignored: the request would do
 * something else than asked). */
static int check_query(const route *r, const char *allowed, api_req *rq, api_resp *rs)
{
    query_scan q = {allowed, NULL};
    if (!rq->conn)
        return 0;
    MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, scan_arg, &q);
    if (!q.unknown)
        return 0;
    if (q.allowed)
        api_failf(rs, 400, API_PROBLEM_INVALID_FIELD, "",
                  "%s %s takes no query parameter \"%.60s\"; it takes: %s", rq->method, r->pattern,
                  q.unknown, q.allowed);
    else
        api_failf(rs, 400, API_PROBLEM_INVALID_FIELD, "",
                  "%s %s takes no query parameters; got \"%.60s\"", rq->method, r->pattern,
                  q.unknown);
    if (rs->json) {
        json_object_set_new(rs->json, "parameter", json_string(q.unknown));
        json_object_set_new(rs->json, "allowed", words_json(q.allowed));
    }
    return -1;
}

void api_dispatch(api_req *rq, api_resp *rs)
{
    char id[65] = "";
    const char *m = rq->method;
    int is_get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
    int is_post = strcmp(m, "POST") == 0, is_del = strcmp(m, "DELETE") == 0;
    for (size_t i = 0; i < N_ROUTES; i++) {
        const route *r = &routes[i];
        if (!match(r->pattern, rq->path, id))
            continue;
        if ((is_get && (r->get || r->get_id)) || (is_post && (r->post || r->post_id)) ||
            (is_del && (r->del || r->del_id))) {
            if (check_query(r, is_post ? r->post_query : is_del ? NULL : r->get_query, rq, rs))
                return;
        }
        if (is_get && r->get)
            return r->get(rq, rs);
        if (is_post && r->post)
            return check_body_type(r, rq, rs) ? (void)0 : r->post(rq, rs);
        if (is_del && r->del)
            return r->del(rq, rs);
        if (is_get && r->get_id)
            return r->get_id(rq, rs, id);
        if (is_post && r->post_id)
            return check_body_type(r, rq, rs) ? (void)0 : r->post_id(rq, rs, id);
        if (is_del && r->del_id)
            return r->del_id(rq, rs, id);
        allow_header(r, rs->allow, sizeof(rs->allow));
        api_failf(rs, 405, API_PROBLEM_METHOD_NOT_ALLOWED, "",
                  "%s is not allowed on %s; allowed: %s", m, rq->path, rs->allow);
        return;
    }
    /* Everything else outside /v1 is the web root's business. */
    if (strncmp(rq->path, "/v1/", 4) != 0 && strcmp(rq->path, "/v1") != 0) {
        if (is_get)
            return api_static_get(rq, rs);
        snprintf(rs->allow, sizeof(rs->allow), "GET, HEAD");
        api_failf(rs, 405, API_PROBLEM_METHOD_NOT_ALLOWED, "",
                  "%s is not allowed on %s; allowed: GET, HEAD", m, rq->path);
        return;
    }
    if (strncmp(rq->path, "/v1/jobs/", 9) == 0)
        api_failf(rs, 404, API_PROBLEM_NOT_FOUND, "",
                  "no such job or route: %s (job ids are 32 lowercase hex characters)", rq->path);
    else
        api_failf(rs, 404, API_PROBLEM_NOT_FOUND, "", "no such route: %s", rq->path);
}

const char *api_query(const api_req *rq, const char *key)
{
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *api_header(const api_req *rq, const char *key)
{
    return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, key);
}

void api_json(api_resp *rs, int status, json_t *body)
{
    rs->status = status;
    json_decref(rs->json);
    rs->json = body;
    rs->content_type = "application/json";
}

void api_fail(api_resp *rs, api_problem *p)
{
    api_json(rs, p->status, api_problem_json(p));
    rs->content_type = API_PROBLEM_CONTENT_TYPE;
    api_problem_clear(p);
}

void api_failf(api_resp *rs, int status, api_problem_kind kind, const char *pointer,
               const char *fmt, ...)
{
    api_problem p = {0};
    va_list ap;
    va_start(ap, fmt);
    api_problem_vset(&p, status, kind, pointer, fmt, ap);
    va_end(ap);
    api_fail(rs, &p);
}
