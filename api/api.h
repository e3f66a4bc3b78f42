// SPDX-License-Identifier: MIT
/*
 * api.h - the REST API: one route table, one handler per resource and
 * method, JSON in and out through Jansson, errors as problem+json.
 *
 * Handlers run on the loop thread with a complete request (body already
 * read and size-checked by the HTTP bridge) and fill an api_resp; the
 * bridge turns it into a libmicrohttpd response. Handlers never block:
 * they read and write SQLite (fast, local) and touch in-memory state.
 *
 * Layers: api/ sits on the daemon. It includes daemon/nd.h, db.h and
 * conn_limits.h (the server, its database, scheduler, event streams and
 * connection counts) and the engine's nas.h; nothing in daemon/ includes
 * a header of api/. The daemon reaches the API only through api_app
 * (app.c), the nd_app of callbacks main.c hands it: the router, the gate
 * before a request's body, the count of every answer and the engine spec
 * of a claimed job. api_req and api_resp are the daemon's nd_request and
 * nd_response under the names the handlers use.
 */
#ifndef API_H
#define API_H

#include <jansson.h>

#include "nd.h"
#include "problem.h"

typedef nd_request api_req;
typedef nd_response api_resp;

/* What main.c hands the daemon (nd_server.app): app.c. */
extern const nd_app api_app;

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
void api_jobs_model(api_req *rq, api_resp *rs, const char *id);
void api_jobs_events(api_req *rq, api_resp *rs, const char *id);
/* POST /v1/jobs/{id}/predictions (api/predict.c): answered off the loop
 * thread. init/free at the app's start and stop; forget drops a job's
 * opened model (its DELETE). */
void api_jobs_predict(api_req *rq, api_resp *rs, const char *id);
int api_predict_init(nd_server *s);
void api_predict_free(nd_server *s);
void api_predict_forget(const char *id);
/* A language model's predictions (api/predict_text.c), on a pool thread:
 * the body (idx: sent as a file, which a language model refuses) answered
 * into rs, within these limits. */
typedef struct api_predict_limits {
    int max_text;   /* max-predict-text-bytes */
    int max_tokens; /* max-predict-tokens */
} api_predict_limits;
void api__predict_text(nas_model *m, const char *body, size_t len, int idx,
                       const api_predict_limits *lim, api_resp *rs);
void api_datasets_list(api_req *rq, api_resp *rs);
void api_datasets_create(api_req *rq, api_resp *rs);
void api_datasets_get(api_req *rq, api_resp *rs, const char *name);
void api_datasets_delete(api_req *rq, api_resp *rs, const char *name);
/* Uploaded datasets' start (the directory, leftovers, the rows registered
 * with the engine), stop (imports give up) and the spool of an upload's
 * body (nd_app.spool). */
int api_datasets_start(nd_server *s);
void api_datasets_stop(nd_server *s);
size_t api_datasets_spool(api_req *rq, char *path, size_t n);
/* An upload's query checked before its body is read (nd_app.admit): 1
 * with rs the refusal, so a bad name costs no upload. */
int api_datasets_admit(api_req *rq, api_resp *rs);
void api_search_spaces_list(api_req *rq, api_resp *rs); /* api/search_spaces.c */
void api_static_get(api_req *rq, api_resp *rs);
void api_openapi_get(api_req *rq, api_resp *rs);
void api_healthz(api_req *rq, api_resp *rs);

/* The engine's view of a stored (normalised) spec; strings point into
 * spec, which must outlive es. Non-zero with a reason when it cannot run. */
int api_spec_engine(const json_t *spec, const nd_config *cfg, nas_job_spec *es, char *why,
                    size_t whylen);

/* Limits (api/limits.c). Each check returns 0, or -1 with rs filled with
 * a limit-exceeded problem naming the limit ("limit_name": its config
 * key, "limit": its value). */
void api_fail_limit(api_resp *rs, int status, const char *pointer, const char *limit_name,
                    double value, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* The deepest nesting of [ and { in a JSON text, counting up to max + 1. */
int api_json_depth(const char *body, size_t len, int max);
int api_check_depth(api_req *rq, api_resp *rs); /* 400 max-json-depth */
int api_check_queue(api_req *rq, api_resp *rs); /* 429 max-queued, Retry-After */
/* 400 max-job-epochs / max-job-seconds (naming the field) and
 * max-job-memory (with the estimate); a budget.max_seconds of 0 becomes
 * the max-job-seconds cap in spec. */
int api_check_job_caps(api_req *rq, api_resp *rs, json_t *spec);
/* The engine's spec of a normalized spec and its peak-memory estimate
 * (and, when steps is not NULL, its steps and seconds): 0; 1 when the
 * spec does not run here (its dataset, say: the callers' own checks
 * answer that); -1 with p a problem (a data_path outside the datasets
 * folder). The spec's own data_path is resolved into this call's buffer
 * for the estimate only: es keeps the configured one. */
int api_job_estimate(const json_t *spec, const nd_config *cfg, nas_job_spec *es,
                     nas_job_memory *mem, nas_job_steps *steps, api_problem *p);
size_t api_job_memory_limit(const nd_config *cfg);
/* data_path: relative, no "..", and (api_spec_data_path) resolved with
 * realpath inside <state-dir>/datasets into out ("" when the spec has
 * none). 0, or -1 with p set (400 invalid-field /data_path). */
int api_data_path_check_syntax(const char *rel, api_problem *p);
int api_spec_data_path(const json_t *spec, const nd_config *cfg, char *out, size_t n,
                       api_problem *p);

/* /metrics (api/metrics.c): the Prometheus text exposition. */
int api_metrics_init(nd_server *s);
void api_metrics_free(nd_server *s);
/* One answered request: its route (api_route_of), method, status and
 * seconds from its first byte to its response. */
void api_metrics_observe(nd_server *s, size_t route, const char *method, int status,
                         double seconds);
/* A refusal by a limit (its config key). */
void api_metrics_refused(nd_server *s, const char *limit_name);
void api_metrics_get(api_req *rq, api_resp *rs);

/* The route table (api/router.c) as labels: each row by its pattern
 * ("/v1/jobs/{id}"), then "static" (a path outside /v1 that no row
 * matches: the web root's) and "other" (any other path), never the raw
 * path, so label values stay few. Routes are numbered 0 to
 * api_route_count() - 1. */
size_t api_route_count(void);
size_t api_route_of(const char *path);
const char *api_route_label(size_t route);
/* api_route_label(api_route_of(path)) */
const char *api_route_name(const char *path);
/* The Allow header of a row ("GET, HEAD, POST"); route < the rows. */
void api_route_allow(size_t route, char *out, size_t n);
/* The query parameters a row's GET (post 0) or POST (post 1) takes,
 * separated by spaces; NULL: none. */
const char *api_route_query(size_t route, int post);

#endif
