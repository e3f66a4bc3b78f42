/*
 * api.h - the REST API: one route table, one handler per resource and
 * method, JSON in and out through Jansson, errors as problem+json.
 *
 * Handlers run on the loop thread with a complete request (body already
 * read and size-checked by the HTTP bridge) and fill an api_resp; the
 * bridge turns it into a libmicrohttpd response. Handlers never block:
 * they read and write SQLite (fast, local) and touch in-memory state.
 */
#ifndef API_H
#define API_H

#include <jansson.h>

#include "nd.h"
#include "problem.h"

struct MHD_Connection;
struct MHD_Response;

typedef struct api_req {
    nd_server *srv;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;          /* without the query string */
    const char *body;          /* NUL-terminated copy, may be NULL */
    size_t body_len;
} api_req;

typedef struct api_resp {
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
    struct MHD_Response *mhd;  /* a ready response (event streams) */
} api_resp;

/* Route, run the handler, fill rs (always: unknown routes give 404 and
 * wrong methods 405 with Allow). */
void api_dispatch(api_req *rq, api_resp *rs);

/* Query-string argument or request header, NULL when absent. */
const char *api_query(const api_req *rq, const char *key);
const char *api_header(const api_req *rq, const char *key);

/* Fill rs from a problem (application/problem+json); clears p. */
void api_fail(api_resp *rs, api_problem *p);
/* Shorthand: status + slug + pointer + printf detail. */
void api_failf(api_resp *rs, int status, api_problem_kind kind, const char *pointer,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void api_json(api_resp *rs, int status, json_t *body);

/* Handlers (api/jobs.c, api/datasets.c, api/static.c). `id` is the
 * job id taken from the path. */
void api_jobs_create(api_req *rq, api_resp *rs);
void api_jobs_list(api_req *rq, api_resp *rs);
void api_jobs_get(api_req *rq, api_resp *rs, const char *id);
void api_jobs_delete(api_req *rq, api_resp *rs, const char *id);
void api_jobs_cancel(api_req *rq, api_resp *rs, const char *id);
void api_jobs_metrics(api_req *rq, api_resp *rs, const char *id);
void api_jobs_architectures(api_req *rq, api_resp *rs, const char *id);
void api_jobs_result(api_req *rq, api_resp *rs, const char *id);
void api_jobs_events(api_req *rq, api_resp *rs, const char *id);
void api_datasets_list(api_req *rq, api_resp *rs);
void api_static_get(api_req *rq, api_resp *rs);
void api_openapi_get(api_req *rq, api_resp *rs);
void api_healthz(api_req *rq, api_resp *rs);

/* Dataset location from the config ("" in the config: NULL, the engine's
 * default). */
const char *api_dataset_path(const nd_config *cfg, const char *dataset);
/* The engine's view of a stored (normalised) spec; strings point into
 * spec, which must outlive es. Non-zero with a reason when it cannot run. */
int api_spec_engine(const json_t *spec, const nd_config *cfg, nas_job_spec *es, char *why,
                    size_t whylen);

#endif
