// SPDX-License-Identifier: MIT
/*
 * jobs.c - the job resource: create (validated, durable before the 202),
 * list, get, cancel, delete, and the job's metrics, architectures, result
 * and live event stream.
 *
 * The database layer returns jobs as JSON objects; this file only adds
 * what is about the HTTP view (links, a progress object before the first
 * step) and maps database outcomes to statuses.
 */
#include "api.h"
#include "db.h"
#include "render.h"
#include "spec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const states[] = {"queued", "running", "succeeded", "failed", "cancelled"};

/* Add links and a progress object to a job from the database. */
static json_t *decorate(json_t *job)
{
    const char *id = json_string_value(json_object_get(job, "id"));
    char base[64];
    snprintf(base, sizeof(base), "/v1/jobs/%s", id ? id : "");
    json_t *links = json_object();
    json_object_set_new(links, "self", json_string(base));
    static const char *const sub[] = {"events", "metrics", "architectures", "result"};
    for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
        char u[96];
        snprintf(u, sizeof(u), "%s/%s", base, sub[i]);
        json_object_set_new(links, sub[i], json_string(u));
    }
    snprintf(base + strlen(base), sizeof(base) - strlen(base), ":cancel");
    json_object_set_new(links, "cancel", json_string(base));
    json_object_set_new(job, "links", links);
    if (json_is_null(json_object_get(job, "progress")) || !json_object_get(job, "progress")) {
        json_t *budget = json_object_get(json_object_get(job, "spec"), "budget");
        json_t *epochs = json_object_get(budget, "epochs");
        json_object_set_new(job, "progress",
                            json_pack("{s:i,s:O,s:i,s:n,s:f,s:n}", "epoch", 0, "epochs",
                                      epochs ? epochs : json_null(), "step", 0, "steps", "fraction",
                                      0.0, "eta_seconds"));
    }
    return job;
}

static uint64_t random_seed(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
        v = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull;
    return v % API_SPEC_SEED_MAX;
}

static api_spec_paths paths_of(const nd_config *cfg)
{
    api_spec_paths p = {nd_config_dataset_path(cfg, "fashion-mnist"),
                        nd_config_dataset_path(cfg, "cifar10"), nd_config_dataset_path(cfg, "ptb"),
                        nd_config_dataset_path(cfg, "fortunes")};
    return p;
}

int api_spec_engine(const json_t *spec, const nd_config *cfg, nas_job_spec *es, char *why,
                    size_t whylen)
{
    api_problem p = {0};
    api_spec_paths paths = paths_of(cfg);
    int rc = api_spec_to_engine(spec, &paths, cfg->threads_per_job, es, &p);
    es->memory_limit = api_job_memory_limit(cfg); /* darts-cnn's recompute "auto" */
    if (rc != 0)
        snprintf(why, whylen, "%s", p.detail);
    api_problem_clear(&p);
    return rc;
}

/* 400 when the dataset's files are not where the config says. */
static int check_dataset(api_req *rq, api_resp *rs, const json_t *spec)
{
    const char *name = json_string_value(json_object_get(spec, "dataset"));
    if (!name)
        return 0;
    const char *path = nd_config_dataset_path(&rq->srv->cfg, name);
    char own[PATH_MAX]; /* the spec's data_path, confined (api/limits.c) */
    api_problem dp = {0};
    if (api_spec_data_path(spec, &rq->srv->cfg, own, sizeof(own), &dp) == 0 && own[0])
        path = own;
    api_problem_clear(&dp);
    if (nas_dataset_present(name, path))
        return 0;
    const nas_dataset_desc *d = nas_dataset_find(name);
    const char *where = path ? path : d && d->default_path ? d->default_path : NULL;
    const char *hint = d ? nas_dataset_hint(d) : NULL;
    if (where)
        api_failf(rs, 400, API_PROBLEM_INVALID_FIELD, "/dataset",
                  "dataset \"%s\" is not available: its files are not at %s%s%s%s", name, where,
                  strcmp(name, "fashion-mnist") == 0 ? " (apt-get install dataset-fashion-mnist)"
                  : strcmp(name, "fortunes") == 0    ? " (apt-get install fortunes)"
                                                     : "",
                  hint ? "; " : "", hint ? hint : "");
    else
        api_failf(rs, 400, API_PROBLEM_INVALID_FIELD, "/dataset",
                  "dataset \"%s\" is not available: set %s-dir in nasd's config%s%s", name, name,
                  hint ? "; " : "", hint ? hint : "");
    return -1;
}

/* ?dry_run=true|false (or bare ?dry_run): 1, 0, or -1 with rs a 400. */
static int dry_run_param(api_req *rq, api_resp *rs)
{
    const char *v = api_query(rq, "dry_run");
    if (!v)
        return MHD_lookup_connection_value_n(rq->conn, MHD_GET_ARGUMENT_KIND, "dry_run", 7, NULL,
                                             NULL) == MHD_YES;
    if (!*v || !strcmp(v, "true") || !strcmp(v, "1"))
        return 1;
    if (!strcmp(v, "false") || !strcmp(v, "0"))
        return 0;
    api_failf(rs, 400, API_PROBLEM_INVALID_FIELD, "",
              "query parameter dry_run must be true or false, got \"%.60s\"", v);
    json_object_set_new(rs->json, "parameter", json_string("dry_run"));
    json_object_set_new(rs->json, "allowed", json_pack("[s,s]", "true", "false"));
    return -1;
}

/* POST /v1/jobs?dry_run=true: every check a submission passes, and what
 * the job would be (its spec with every default, its estimated peak
 * memory, steps and seconds), without a job. */
static void dry_run(api_req *rq, api_resp *rs, json_t *spec)
{
    nas_job_spec es;
    nas_job_memory m;
    nas_job_steps st;
    api_problem p = {0};
    if (api_check_job_caps(rq, rs, spec) || check_dataset(rq, rs, spec))
        return;
    int rc = api_job_estimate(spec, &rq->srv->cfg, &es, &m, &st, &p);
    if (rc < 0) {
        api_fail(rs, &p);
        return;
    }
    json_t *est = json_object();
    if (rc == 0) {
        json_object_set_new(est, "memory_bytes", json_integer((json_int_t)m.total));
        json_object_set_new(est, "memory_parts",
                            json_pack("{s:I,s:I,s:I,s:I,s:b}", "params", (json_int_t)m.params,
                                      "activations", (json_int_t)m.activations, "data",
                                      (json_int_t)m.data, "base", (json_int_t)m.base, "exact_model",
                                      m.exact_model));
        if (m.recompute >= 0) /* darts-cnn: what its recompute "auto" chose */
            json_object_set_new(json_object_get(est, "memory_parts"), "recompute",
                                json_boolean(m.recompute));
        json_object_set_new(est, "steps", json_integer((json_int_t)st.steps));
        json_object_set_new(est, "seconds", json_real(st.seconds));
        json_object_set_new(est, "time_parts",
                            json_pack("{s:I,s:I,s:f,s:f,s:b,s:b,s:f}", "search_steps",
                                      (json_int_t)st.search_steps, "final_steps",
                                      (json_int_t)st.final_steps, "search_seconds",
                                      st.search_seconds, "final_seconds", st.final_seconds,
                                      "steps_exact", st.exact, "capped_by_max_seconds", st.capped,
                                      "multiply_adds_per_second", st.macs_per_second));
    }
    json_object_set_new(est, "memory_limit_bytes",
                        json_integer((json_int_t)api_job_memory_limit(&rq->srv->cfg)));
    api_json(rs, 200, json_pack("{s:b,s:O,s:o}", "dry_run", 1, "spec", spec, "estimate", est));
}

void api_jobs_create(api_req *rq, api_resp *rs)
{
    nd_server *s = rq->srv;
    api_problem p = {0};
    json_t *spec = NULL, *job = NULL;
    const char *body = rq->body_len ? rq->body : "{}";
    size_t len = rq->body_len ? rq->body_len : 2;
    int dry = dry_run_param(rq, rs);
    if (dry < 0 || api_check_depth(rq, rs))
        goto done;
    if (api_spec_normalize(body, len, random_seed(), &spec, &p) != 0 ||
        api_spec_implemented(spec, &p) != 0) {
        api_fail(rs, &p);
        goto done;
    }
    if (dry) {
        dry_run(rq, rs, spec);
        goto done;
    }
    const char *key = api_header(rq, "Idempotency-Key");
    if (key && (strlen(key) == 0 || strlen(key) > 255)) {
        api_failf(rs, 400, API_PROBLEM_BAD_REQUEST, "",
                  "Idempotency-Key must be 1..255 characters");
        goto done;
    }
    char hash[API_SPEC_HASH_SIZE], id[33] = "";
    api_spec_hash(body, len, hash);
    /* A retry finds its job whatever the limits say now. */
    int rc = key ? nd_db_job_by_idem(s->db, key, hash, &job) : 0;
    if (rc == 0) {
        if (api_check_job_caps(rq, rs, spec) || check_dataset(rq, rs, spec) ||
            api_check_queue(rq, rs))
            goto done;
        nd_db_new_id(id);
        char *text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
        const char *ss = json_string_value(json_object_get(spec, "search_space"));
        rc = nd_db_job_insert(s->db, id, json_string_value(json_object_get(spec, "name")),
                              json_string_value(json_object_get(spec, "algorithm")), ss,
                              json_string_value(json_object_get(spec, "dataset")), text, key,
                              key ? hash : NULL, &job);
        free(text);
    }
    if (rc == ND_DB_IDEM_CONFLICT) {
        api_failf(rs, 422, API_PROBLEM_IDEMPOTENCY_CONFLICT, "",
                  "Idempotency-Key \"%s\" was already used with a different body", key);
        goto done;
    }
    if (rc != 0 && rc != ND_DB_IDEM_SAME) {
        nd_log(ND_LOG_ERROR, "insert job: %s", nd_db_errmsg(s->db));
        api_failf(rs, 500, API_PROBLEM_INTERNAL, "", "the job could not be stored");
        goto done;
    }
    const char *jid = json_string_value(json_object_get(job, "id"));
    snprintf(rs->location, sizeof(rs->location), "/v1/jobs/%s", jid ? jid : id);
    if (rc == 0) {
        nd_log_job(ND_LOG_INFO, id, "job %s queued (%s on %s)", id,
                   json_string_value(json_object_get(spec, "algorithm")),
                   json_string_value(json_object_get(spec, "dataset")));
        nd_sched_kick(s);
        /* The claim may have changed its state already. */
        json_decref(job);
        job = NULL;
        if (nd_db_job_get(s->db, id, &job) != 0) {
            api_failf(rs, 500, API_PROBLEM_INTERNAL, "", "the job vanished");
            goto done;
        }
    }
    api_json(rs, 202, decorate(job));
    job = NULL;
done:
    json_decref(spec);
    json_decref(job);
}

static int parse_int_param(api_req *rq, api_resp *rs, const char *name, long lo, long hi, long dflt,
                           long *out)
{
    const char *v = api_query(rq, name);
    *out = dflt;
    if (!v)
        return 0;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || end == v || n < lo || n > hi) {
        api_failf(rs, 400, API_PROBLEM_INVALID_FIELD, "",
                  "query parameter %s must be an integer in [%ld, %ld], got \"%s\"", name, lo, hi,
                  v);
        json_object_set_new(rs->json, "parameter", json_string(name));
        json_object_set_new(
            rs->json, "allowed",
            json_pack("{s:I,s:I}", "minimum", (json_int_t)lo, "maximum", (json_int_t)hi));
        return -1;
    }
    *out = n;
    return 0;
}

void api_jobs_list(api_req *rq, api_resp *rs)
{
    const char *state = api_query(rq, "state");
    if (state) {
        size_t i = 0;
        while (i < 5 && strcmp(state, states[i]) != 0)
            i++;
        if (i == 5) {
            api_failf(rs, 400, API_PROBLEM_INVALID_FIELD, "",
                      "query parameter state must be one of queued, running, succeeded, "
                      "failed, cancelled; got \"%s\"",
                      state);
            json_object_set_new(rs->json, "parameter", json_string("state"));
            json_object_set_new(
                rs->json, "allowed",
                json_pack("[s,s,s,s,s]", states[0], states[1], states[2], states[3], states[4]));
            return;
        }
    }
    long size;
    if (parse_int_param(rq, rs, "page_size", 1, 200, 20, &size))
        return;
    json_t *page = NULL;
    nd_db_job_filter f = {state,
                          api_query(rq, "name"),
                          api_query(rq, "algorithm"),
                          api_query(rq, "search_space"),
                          api_query(rq, "dataset"),
                          api_query(rq, "tag")};
    int rc = nd_db_job_list(rq->srv->db, &f, (int)size, api_query(rq, "page_token"), &page);
    if (rc == ND_DB_BADTOKEN) {
        api_failf(rs, 400, API_PROBLEM_INVALID_FIELD, "",
                  "query parameter page_token is not a token this server gave out");
        json_object_set_new(rs->json, "parameter", json_string("page_token"));
        return;
    }
    if (rc != 0) {
        api_failf(rs, 500, API_PROBLEM_INTERNAL, "", "listing jobs failed");
        return;
    }
    json_t *jobs = json_object_get(page, "jobs");
    size_t i;
    json_t *j;
    json_array_foreach(jobs, i, j) decorate(j);
    api_json(rs, 200, page);
}

static int not_found(api_resp *rs, const char *id)
{
    api_failf(rs, 404, API_PROBLEM_NOT_FOUND, "", "no job with id %s", id);
    return -1;
}

/* The hot path (polled by every client): the serialised response is kept
 * as the database view's memo, which any write to the job drops. */
void api_jobs_get(api_req *rq, api_resp *rs, const char *id)
{
    nd_db *db = rq->srv->db;
    size_t len;
    const char *memo = nd_db_job_memo(db, id, &len);
    if (!memo) {
        json_t *job = NULL;
        if (nd_db_job_get(db, id, &job) != 0) {
            not_found(rs, id);
            return;
        }
        char *text = json_dumps(decorate(job), JSON_COMPACT | JSON_REAL_PRECISION(15));
        json_decref(job);
        if (!text) {
            api_failf(rs, 500, API_PROBLEM_INTERNAL, "", "cannot render job %s", id);
            return;
        }
        len = strlen(text);
        char *body = realloc(text, len + 2);
        if (!body) {
            free(text);
            api_failf(rs, 500, API_PROBLEM_INTERNAL, "", "cannot render job %s", id);
            return;
        }
        body[len++] = '\n';
        body[len] = '\0';
        nd_db_job_memo_set(db, id, body, len);
        rs->status = 200;
        rs->raw = body;
        rs->raw_len = len;
        rs->raw_free = 1;
        rs->content_type = "application/json";
        return;
    }
    rs->status = 200;
    rs->raw = (char *)memo;
    rs->raw_len = len;
    rs->raw_copy = 1;
    rs->content_type = "application/json";
}

static void unlink_checkpoint(const char *path)
{
    if (!path || !*path)
        return;
    if (unlink(path) != 0 && errno != ENOENT)
        nd_log(ND_LOG_WARN, "cannot remove %s: %s", path, strerror(errno));
}

void api_jobs_delete(api_req *rq, api_resp *rs, const char *id)
{
    nd_server *s = rq->srv;
    char *ckpt = NULL;
    int rc = nd_db_job_delete(s->db, id, &ckpt);
    if (rc == ND_DB_NOTFOUND) {
        not_found(rs, id);
        return;
    }
    if (rc == ND_DB_BUSY) {
        api_failf(rs, 409, API_PROBLEM_CONFLICT, "",
                  "job %s has not finished; cancel it first (POST /v1/jobs/%s:cancel)", id, id);
        return;
    }
    if (rc != 0) {
        api_failf(rs, 500, API_PROBLEM_INTERNAL, "", "deleting job %s failed", id);
        return;
    }
    unlink_checkpoint(ckpt);
    free(ckpt);
    /* The engine's own file, and any kept file a crash left unrecorded. */
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s.safetensors", s->ckpt_dir, id);
    unlink_checkpoint(path);
    nd_ckpt_remove_stale(s->ckpt_dir, id, NULL);
    nd_model_remove(s->model_dir, id);
    api_predict_forget(id);
    nd_log_job(ND_LOG_INFO, id, "job %s deleted", id);
    rs->status = 204;
}

void api_jobs_cancel(api_req *rq, api_resp *rs, const char *id)
{
    nd_server *s = rq->srv;
    int state = 0;
    int rc = nd_db_job_cancel(s->db, id, &state);
    if (rc == ND_DB_NOTFOUND) {
        not_found(rs, id);
        return;
    }
    if (rc != 0) {
        api_failf(rs, 500, API_PROBLEM_INTERNAL, "", "cancelling job %s failed", id);
        return;
    }
    json_t *job = NULL;
    if (nd_db_job_get(s->db, id, &job) != 0) {
        not_found(rs, id);
        return;
    }
    const char *st = json_string_value(json_object_get(job, "state"));
    if (st && (strcmp(st, "succeeded") == 0 || strcmp(st, "failed") == 0)) {
        json_decref(job);
        api_failf(rs, 409, API_PROBLEM_CONFLICT, "", "job %s has already %s", id, st);
        return;
    }
    if (st && strcmp(st, "running") == 0) {
        nd_sched_cancel(s, id); /* the worker stops at its next step */
        api_json(rs, 202, decorate(job));
        return;
    }
    json_t *data = json_pack("{s:s,s:s,s:n}", "id", id, "state", st ? st : "cancelled", "error");
    nd_events_close_job(s, id, data);
    json_decref(data);
    api_json(rs, 200, decorate(job));
}

/* Metrics and architectures share cursor paging: ?after=SEQ&limit=N. */
static void list_after(api_req *rq, api_resp *rs, const char *id, int metrics)
{
    long after, limit;
    if (parse_int_param(rq, rs, "after", 0, 0x7fffffffffffffffL, 0, &after) ||
        parse_int_param(rq, rs, "limit", 1, 1000, 1000, &limit))
        return;
    json_t *job = NULL;
    if (nd_db_job_get(rq->srv->db, id, &job) != 0) {
        not_found(rs, id);
        return;
    }
    json_decref(job);
    json_t *out = NULL;
    int rc = metrics ? nd_db_metrics_named(rq->srv->db, id, api_query(rq, "name"), after,
                                           (int)limit, &out)
                     : nd_db_arch_list(rq->srv->db, id, after, (int)limit, &out);
    if (rc != 0) {
        api_failf(rs, 500, API_PROBLEM_INTERNAL, "", "reading job %s failed", id);
        return;
    }
    api_json(rs, 200, out);
}

void api_jobs_metrics(api_req *rq, api_resp *rs, const char *id)
{
    list_after(rq, rs, id, 1);
}

void api_jobs_architectures(api_req *rq, api_resp *rs, const char *id)
{
    list_after(rq, rs, id, 0);
}

/* The result's architecture names the space it belongs to, first: what
 * GET .../result serves is what a train job takes as its architecture
 * (api/spec_arch.c), pasted unchanged. A search's space is its
 * search_space; a train job's architecture names its own. */
static void with_space(json_t *res, const json_t *job)
{
    json_t *arch = json_object_get(res, "architecture"), *out, *v;
    const json_t *spec = json_object_get(job, "spec");
    const json_t *space = json_object_get(spec, "search_space");
    const char *key;
    if (!json_is_string(space))
        space = json_object_get(json_object_get(spec, "architecture"), "space");
    if (!json_is_object(arch) || json_object_get(arch, "space") || !json_is_string(space) ||
        !(out = json_pack("{s:O}", "space", space)))
        return;
    json_object_foreach(arch, key, v) json_object_set(out, key, v);
    json_object_set_new(res, "architecture", out);
}

void api_jobs_result(api_req *rq, api_resp *rs, const char *id)
{
    json_t *job = NULL, *res = NULL;
    api_render_format fmt;
    if (api_render_query(rq, rs, &fmt))
        return;
    if (nd_db_job_get(rq->srv->db, id, &job) != 0) {
        not_found(rs, id);
        return;
    }
    if (nd_db_result_get(rq->srv->db, id, &res) != 0) {
        const char *st = json_string_value(json_object_get(job, "state"));
        /* A drawing of a job still on its way is a 409: ask again later. */
        int later = fmt != API_RENDER_JSON && st &&
                    (strcmp(st, "queued") == 0 || strcmp(st, "running") == 0);
        api_failf(rs, later ? 409 : 404, later ? API_PROBLEM_CONFLICT : API_PROBLEM_NOT_FOUND, "",
                  "job %s has no result (it is %s)", id, st);
        json_decref(job);
        return;
    }
    with_space(res, job);
    json_decref(job);
    if (fmt != API_RENDER_JSON) {
        api_render_reply(rs, json_object_get(res, "architecture"), fmt);
        json_decref(res);
        return;
    }
    api_json(rs, 200, res);
}

/* The trained network as safetensors (engine/jobs/model.c writes it when
 * the job's network has its test metric): streamed from the file, 409
 * while the job may still write it, 404 when it has none (a search
 * without final training, a failed or cancelled job). */
/* The file formats of GET /v1/jobs/{id}/model?format=. */
static const char *const model_formats[] = {"safetensors", "onnx"};

void api_jobs_model(api_req *rq, api_resp *rs, const char *id)
{
    json_t *job = NULL;
    char path[PATH_MAX + 64], disp[96];
    struct stat st;
    int fd, onnx;
    const char *fmt = api_query(rq, "format");
    if (fmt && strcmp(fmt, model_formats[0]) != 0 && strcmp(fmt, model_formats[1]) != 0) {
        api_failf(rs, 400, API_PROBLEM_INVALID_FIELD, "",
                  "query parameter format must be one of safetensors, onnx; got \"%s\"", fmt);
        json_object_set_new(rs->json, "parameter", json_string("format"));
        json_object_set_new(rs->json, "allowed",
                            json_pack("[s,s]", model_formats[0], model_formats[1]));
        return;
    }
    onnx = fmt && strcmp(fmt, "onnx") == 0;
    if (nd_db_job_get(rq->srv->db, id, &job) != 0) {
        not_found(rs, id);
        return;
    }
    const char *state = json_string_value(json_object_get(job, "state"));
    if (state && (strcmp(state, "queued") == 0 || strcmp(state, "running") == 0)) {
        api_failf(rs, 409, API_PROBLEM_CONFLICT, "",
                  "job %s is %s: its model is written when it succeeds", id, state);
        json_decref(job);
        return;
    }
    int ok = state && strcmp(state, "succeeded") == 0;
    json_decref(job);
    if (!ok || nd_model_path(rq->srv->model_dir, id, path, sizeof(path)) != 0 ||
        stat(path, &st) != 0) {
        api_failf(rs, 404, API_PROBLEM_NOT_FOUND, "",
                  "job %s has no model: only a train job or a search with final_training "
                  "that succeeded keeps its trained network",
                  id);
        return;
    }
    /* The network is kept but has no ONNX form: the export refused it
     * (the job's log says which op, or why the language model's step
     * could not be bound). */
    if (onnx && (nd_model_onnx_path(rq->srv->model_dir, id, path, sizeof(path)) != 0 ||
                 access(path, F_OK) != 0)) {
        api_failf(rs, 501, API_PROBLEM_NOT_IMPLEMENTED, "",
                  "job %s has no ONNX model: the export refused its network, and the job's "
                  "log says why (the export covers the image networks of fixed-cnn, "
                  "darts-cnn, enas-micro, enas-macro and nasrl-cnn and, as one step, the "
                  "LSTM LM, darts-rnn, enas-rnn and nasrl-rnn); ?format=safetensors serves "
                  "its weights",
                  id);
        return;
    }
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        api_failf(rs, 404, API_PROBLEM_NOT_FOUND, "", "job %s has no model file", id);
        return;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        !(rs->mhd = MHD_create_response_from_fd((uint64_t)st.st_size, fd))) {
        close(fd);
        api_failf(rs, 500, API_PROBLEM_INTERNAL, "", "cannot read the model of job %s", id);
        return;
    }
    snprintf(disp, sizeof(disp), "attachment; filename=\"%s.%s\"", id,
             onnx ? "onnx" : "safetensors");
    MHD_add_response_header(rs->mhd, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
    MHD_add_response_header(rs->mhd, "Content-Disposition", disp);
    rs->status = 200;
}

void api_jobs_events(api_req *rq, api_resp *rs, const char *id)
{
    nd_server *s = rq->srv;
    json_t *job = NULL;
    if (nd_db_job_get(s->db, id, &job) != 0) {
        not_found(rs, id);
        return;
    }
    long cap = 0;
    const char *full = nd_events_full(s, rq->conn, &cap);
    if (full) {
        json_decref(job);
        rs->retry_after = 5;
        api_failf(rs, 429, API_PROBLEM_TOO_MANY_STREAMS, "",
                  strcmp(full, "max-streams") == 0
                      ? "all %ld event streams are in use (%s); retry later"
                      : "this client has %ld event streams open, its limit (%s); retry later",
                  cap, full);
        if (rs->json) {
            json_object_set_new(rs->json, "limit_name", json_string(full));
            json_object_set_new(rs->json, "limit", json_integer(cap));
        }
        return;
    }
    const char *st = json_string_value(json_object_get(job, "state"));
    int final = st && strcmp(st, "queued") != 0 && strcmp(st, "running") != 0;
    const char *last = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Last-Event-ID");
    rs->mhd = nd_events_open(s, rq->conn, id, "state", decorate(job), final, last);
    json_decref(job);
    if (!rs->mhd) {
        api_failf(rs, 500, API_PROBLEM_INTERNAL, "", "cannot open an event stream");
        return;
    }
    rs->status = 200;
}
