// SPDX-License-Identifier: MIT
/*
 * limits.c - what a request may ask for (issue #8): the refusal helper
 * every limit uses, the JSON nesting depth of a body, the queue length,
 * the per-job caps (epochs, seconds, estimated peak memory) and the
 * confinement of a job's data_path to <state-dir>/datasets.
 *
 * The one design decision to know: every refusal is one problem+json of
 * kind limit-exceeded that carries the config key of the limit
 * ("limit_name", e.g. "max-queued") and its value ("limit"), plus the
 * JSON pointer of the field when a field of the spec is over it, so a
 * client (or its operator) knows which knob to turn.
 */
#include "api.h"
#include "db.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void api_fail_limit(api_resp *rs, int status, const char *pointer, const char *limit_name,
                    double value, const char *fmt, ...)
{
    api_problem p = {0};
    va_list ap;
    va_start(ap, fmt);
    api_problem_vset(&p, status, API_PROBLEM_LIMIT_EXCEEDED, pointer, fmt, ap);
    va_end(ap);
    api_fail(rs, &p);
    if (!rs->json)
        return;
    json_object_set_new(rs->json, "limit_name", json_string(limit_name));
    if (value == floor(value) && fabs(value) < 9e15)
        json_object_set_new(rs->json, "limit", json_integer((json_int_t)value));
    else
        json_object_set_new(rs->json, "limit", json_real(value));
}

/* ------------------------------------------------------- nesting depth */

int api_json_depth(const char *body, size_t len, int max)
{
    int depth = 0, in_string = 0;
    for (size_t i = 0; i < len; i++) {
        char c = body[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                return depth;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return depth < 0 ? 0 : depth;
}

int api_check_depth(api_req *rq, api_resp *rs)
{
    int max = rq->srv->cfg.max_json_depth;
    if (!rq->body || api_json_depth(rq->body, rq->body_len, max) <= max)
        return 0;
    api_fail_limit(rs, 400, "", "max-json-depth", max,
                   "the request body nests arrays and objects deeper than the limit of %d "
                   "levels (max-json-depth)",
                   max);
    return -1;
}

/* --------------------------------------------------------------- queue */

int api_check_queue(api_req *rq, api_resp *rs)
{
    nd_server *s = rq->srv;
    int counts[ND_DB_STATE_COUNT] = {0};
    if (nd_db_count_by_state(s->db, counts) != 0)
        return 0; /* the insert will report the database's trouble */
    if (counts[ND_DB_QUEUED] < s->cfg.max_queued)
        return 0;
    /* A guess a client can live with: one worker slot frees up per
     * minute or so; the queue does not move faster than its jobs. */
    rs->retry_after = 60;
    api_fail_limit(rs, 429, "", "max-queued", s->cfg.max_queued,
                   "the queue holds %d jobs, its limit (max-queued); retry later",
                   counts[ND_DB_QUEUED]);
    return -1;
}

/* ---------------------------------------------------------- per-job caps */

size_t api_job_memory_limit(const nd_config *cfg)
{
    nas_job_spec none = {.memory_limit = 0};
    return cfg->max_job_memory_mib > 0 ? (size_t)cfg->max_job_memory_mib << 20
                                       : nas_job_memory_limit(&none);
}

static int cap_int(api_resp *rs, const json_t *obj, const char *key, const char *ptr,
                   const char *limit_name, int cap)
{
    json_t *v = json_object_get(obj, key);
    if (cap <= 0 || !json_is_integer(v) || json_integer_value(v) <= cap)
        return 0;
    api_fail_limit(rs, 400, ptr, limit_name, cap, "%s is %lld, over the limit of %d (%s)", ptr,
                   (long long)json_integer_value(v), cap, limit_name);
    return -1;
}

int api_job_estimate(const json_t *spec, const nd_config *cfg, nas_job_spec *es,
                     nas_job_memory *mem, nas_job_steps *steps, api_problem *p)
{
    char why[256], path[PATH_MAX];
    if (api_spec_data_path(spec, cfg, path, sizeof(path), p) != 0)
        return -1;
    if (api_spec_engine(spec, cfg, es, why, sizeof(why)) != 0)
        return 1;
    const char *configured = es->data_path;
    if (path[0])
        es->data_path = path;
    int rc = nas_job_estimate_memory_parts(es, mem) != 0 ? 1 : 0;
    if (rc == 0 && steps)
        rc = nas_job_estimate_run(es, steps) != 0 ? 1 : 0;
    es->data_path = configured; /* path is this frame's */
    return rc;
}

int api_check_job_caps(api_req *rq, api_resp *rs, json_t *spec)
{
    const nd_config *cfg = &rq->srv->cfg;
    json_t *budget = json_object_get(spec, "budget");
    json_t *ft = json_object_get(spec, "final_training");
    json_t *hp = json_object_get(spec, "hyperparameters");
    if (cap_int(rs, budget, "epochs", "/budget/epochs", "max-job-epochs", cfg->max_job_epochs))
        return -1;
    if (json_is_true(json_object_get(ft, "enabled")) &&
        cap_int(rs, ft, "epochs", "/final_training/epochs", "max-job-epochs", cfg->max_job_epochs))
        return -1;
    if (cap_int(rs, hp, "child_epochs", "/hyperparameters/child_epochs", "max-job-epochs",
                cfg->max_job_epochs))
        return -1;
    if (cap_int(rs, json_object_get(spec, "resources"), "ranks", "/resources/ranks", "max-ranks",
                cfg->max_ranks))
        return -1;
    /* The architectures a job samples and trains: a product of counts for
     * enas, so each field's own range does not bound it. */
    json_int_t archs = json_integer_value(json_object_get(budget, "max_architectures"));
    const char *aptr = "/budget/max_architectures";
    if (json_is_integer(json_object_get(hp, "controller_steps"))) {
        archs = json_integer_value(json_object_get(budget, "epochs")) *
                json_integer_value(json_object_get(hp, "controller_steps")) *
                json_integer_value(json_object_get(hp, "controller_aggregate"));
        aptr = "/hyperparameters/controller_steps";
    }
    if (cfg->max_job_architectures > 0 && archs > cfg->max_job_architectures) {
        api_fail_limit(rs, 400, aptr, "max-job-architectures", cfg->max_job_architectures,
                       "the job samples %lld architectures (enas: epochs x controller_steps x "
                       "controller_aggregate), over the limit of %d (max-job-architectures)",
                       (long long)archs, cfg->max_job_architectures);
        return -1;
    }
    if (cfg->max_job_seconds > 0) {
        json_t *v = json_object_get(budget, "max_seconds");
        double secs = json_number_value(v);
        if (secs > cfg->max_job_seconds) {
            api_fail_limit(rs, 400, "/budget/max_seconds", "max-job-seconds", cfg->max_job_seconds,
                           "/budget/max_seconds is %g, over the limit of %d (max-job-seconds)",
                           secs, cfg->max_job_seconds);
            return -1;
        }
        /* 0 means "no limit": the cap becomes the job's limit, and the
         * stored spec says so. */
        if (json_is_number(v) && secs == 0)
            json_object_set_new(budget, "max_seconds", json_real(cfg->max_job_seconds));
    }

    nas_job_spec es;
    nas_job_memory mem;
    api_problem p = {0};
    int rc = api_job_estimate(spec, cfg, &es, &mem, NULL, &p);
    if (rc < 0) {
        api_fail(rs, &p);
        return -1;
    }
    size_t bytes = mem.total, limit = api_job_memory_limit(cfg);
    if (rc > 0 || bytes <= limit)
        return 0; /* not estimable here: the caller's own checks answer */
    /* nas-rl and random train children side by side, each its own
     * network: fewer at once is the first thing to change. */
    int rl = es.algorithm && !strcmp(es.algorithm, "nas-rl");
    int parallel = rl || (es.algorithm && !strcmp(es.algorithm, "random"));
    const char *field = rl ? "children_per_update" : "parallel_children";
    char ptr[64];
    snprintf(ptr, sizeof(ptr), "/hyperparameters/%s", field);
    char hint[256];
    snprintf(hint, sizeof(hint),
             "train fewer children at once (hyperparameters.%s or threads), or make the "
             "space's largest network, the batch or the dataset smaller",
             field);
    api_fail_limit(rs, 400, parallel ? ptr : "", "max-job-memory", (double)(limit >> 20),
                   "the job's estimated peak memory is %zu MiB, over the limit of %zu MiB "
                   "(max-job-memory); %s",
                   (bytes + (1u << 20) - 1) >> 20, limit >> 20,
                   parallel ? hint : "make the batch, the network or the dataset smaller");
    if (rs->json)
        json_object_set_new(rs->json, "estimate_bytes", json_integer((json_int_t)bytes));
    return -1;
}

/* ------------------------------------------------------------ data_path */

int api_data_path_check_syntax(const char *rel, api_problem *p)
{
    if (!*rel || rel[0] == '/')
        return api_problem_set(p, 400, API_PROBLEM_INVALID_FIELD, "/data_path",
                               "data_path must be a relative path under the state "
                               "directory's datasets folder, got \"%s\"",
                               rel);
    const char *c = rel;
    while (*c) {
        size_t n = strcspn(c, "/");
        if (n == 2 && c[0] == '.' && c[1] == '.')
            return api_problem_set(p, 400, API_PROBLEM_INVALID_FIELD, "/data_path",
                                   "data_path must not contain \"..\": it stays inside "
                                   "the state directory's datasets folder");
        c += n;
        while (*c == '/')
            c++;
    }
    return 0;
}

int api_spec_data_path(const json_t *spec, const nd_config *cfg, char *out, size_t n,
                       api_problem *p)
{
    out[0] = '\0';
    const char *rel = json_string_value(json_object_get(spec, "data_path"));
    if (!rel)
        return 0;
    if (api_data_path_check_syntax(rel, p))
        return -1;
    char base[PATH_MAX + 16], root[PATH_MAX], full[PATH_MAX * 2 + 32], real[PATH_MAX];
    snprintf(base, sizeof(base), "%s/datasets", cfg->state_dir);
    if (!realpath(base, root))
        return api_problem_set(p, 400, API_PROBLEM_INVALID_FIELD, "/data_path",
                               "data_path: the datasets folder %s does not exist (%s)", base,
                               strerror(errno));
    snprintf(full, sizeof(full), "%s/%s", root, rel);
    if (!realpath(full, real))
        return api_problem_set(p, 400, API_PROBLEM_INVALID_FIELD, "/data_path",
                               "data_path \"%s\" does not exist under %s (%s)", rel, base,
                               strerror(errno));
    size_t lr = strlen(root);
    if (strncmp(real, root, lr) != 0 || (real[lr] != '/' && real[lr] != '\0'))
        return api_problem_set(p, 400, API_PROBLEM_INVALID_FIELD, "/data_path",
                               "data_path \"%s\" leads out of the datasets folder %s (through "
                               "a symbolic link)",
                               rel, base);
    if (strlen(real) >= n)
        return api_problem_set(p, 400, API_PROBLEM_INVALID_FIELD, "/data_path",
                               "data_path \"%s\" is too long", rel);
    snprintf(out, n, "%s", real);
    return 0;
}
