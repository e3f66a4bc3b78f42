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
 * the browser sends without asking nasd first.
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
    const char *body_type; /* media type of a POST body; NULL: no body read */
} route;

static const route routes[] = {
    {"/healthz", api_healthz, NULL, NULL, NULL, NULL, NULL, NULL},
    {"/metrics", api_metrics_get, NULL, NULL, NULL, NULL, NULL, NULL},
    {"/v1/openapi.json", api_openapi_get, NULL, NULL, NULL, NULL, NULL, NULL},
    {"/v1/datasets", api_datasets_list, NULL, NULL, NULL, NULL, NULL, NULL},
    {"/v1/search-spaces", api_search_spaces_list, NULL, NULL, NULL, NULL, NULL, NULL},
    {"/v1/jobs", api_jobs_list, api_jobs_create, NULL, NULL, NULL, NULL, "application/json"},
    {"/v1/jobs/{id}", NULL, NULL, NULL, api_jobs_get, NULL, api_jobs_delete, NULL},
    {"/v1/jobs/{id}:cancel", NULL, NULL, NULL, NULL, api_jobs_cancel, NULL, NULL},
    {"/v1/jobs/{id}/metrics", NULL, NULL, NULL, api_jobs_metrics, NULL, NULL, NULL},
    {"/v1/jobs/{id}/architectures", NULL, NULL, NULL, api_jobs_architectures, NULL, NULL, NULL},
    {"/v1/jobs/{id}/architectures/{n}", NULL, NULL, NULL, api_jobs_architecture_get, NULL, NULL,
     NULL},
    {"/v1/jobs/{id}/result", NULL, NULL, NULL, api_jobs_result, NULL, NULL, NULL},
    {"/v1/jobs/{id}/model", NULL, NULL, NULL, api_jobs_model, NULL, NULL, NULL},
    {"/v1/jobs/{id}/events", NULL, NULL, NULL, api_jobs_events, NULL, NULL, NULL},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

/* Whether path matches pattern; for an {id} copy the id into id[33]. */
static int match(const char *pattern, const char *path, char id[33])
{
    const char *p = path, *q = pattern, *job = NULL;
    while (*q) {
        if (strncmp(q, "{id}", 4) == 0) {
            if (strspn(p, "0123456789abcdef") != 32)
                return 0;
            job = p;
            p += 32;
            q += 4;
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
        memcpy(id, job, 32);
        id[32] = '\0';
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
    char id[33];
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

/* 0 when the request's Content-Type is r's body type (parameters such as
 * charset aside) or absent; else -1 with rs a 415. Without a header the
 * body is read as JSON: curl scripts and nasd's tests send it so, and a
 * browser sends a body without a type only from a Blob, with an Origin
 * that http.c has checked already. */
static int check_body_type(const route *r, api_req *rq, api_resp *rs)
{
    const char *ct = api_header(rq, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!r->body_type || !ct)
        return 0;
    size_t n = strcspn(ct, "; \t"), want = strlen(r->body_type);
    if (n == want && strncasecmp(ct, r->body_type, n) == 0)
        return 0;
    api_failf(rs, 415, API_PROBLEM_UNSUPPORTED_MEDIA_TYPE, "",
              "%s %s takes a body of Content-Type %s, not \"%.100s\"", rq->method, rq->path,
              r->body_type, ct);
    if (rs->json)
        json_object_set_new(rs->json, "allowed", json_pack("[s]", r->body_type));
    return -1;
}

void api_dispatch(api_req *rq, api_resp *rs)
{
    char id[33] = "";
    const char *m = rq->method;
    int is_get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
    int is_post = strcmp(m, "POST") == 0, is_del = strcmp(m, "DELETE") == 0;
    for (size_t i = 0; i < N_ROUTES; i++) {
        const route *r = &routes[i];
        if (!match(r->pattern, rq->path, id))
            continue;
        if (is_get && r->get)
            return r->get(rq, rs);
        if (is_post && r->post)
            return check_body_type(r, rq, rs) ? (void)0 : r->post(rq, rs);
        if (is_del && r->del)
            return r->del(rq, rs);
        if (is_get && r->get_id)
            return r->get_id(rq, rs, id);
        if (is_post && r->post_id)
            return r->post_id(rq, rs, id);
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
