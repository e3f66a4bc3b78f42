// SPDX-License-Identifier: MIT
/*
 * predict.c - POST /v1/jobs/{id}/predictions (issue #14 part 4): the
 * classes a job's trained network gives images sent as JSON pixel arrays
 * or as an IDX file; a language model's answers (the perplexity of a
 * text, a sampled continuation) come from predict_text.c.
 *
 * The one design decision to know: the loop thread only checks what it
 * can check at once (the job, its model file, the concurrent-request
 * limit), defers its answer (rs->deferred, the request's token) and hands the request to
 * libuv's thread pool (uv_queue_work). Everything slow happens there:
 * parsing the body, opening the model (engine nas_model_open, on the
 * spec api_spec_of_model makes from the file's architecture), the
 * forward passes in batches of BATCH (128) and the response's JSON; the after-work
 * callback, back on the loop, only sends it. Opened models are kept in a
 * small cache (max-predict-models, least recently used out), shared by
 * the pool's threads under one mutex and reference counts; DELETE of a
 * job drops its entry (api_predict_forget), and the model is freed when
 * its last request is done.
 */
#include "api.h"
#include "db.h"
#include "spec.h"

#include <math.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Images per forward pass: the train kind's evaluation batch for its
 * default training batch of 64 (nas__eval_batch, engine/internal.h), so
 * that a test set sent in the same groups of 128 gets the evaluation's
 * logits bit for bit (another grouping may change their last bits, as
 * a kernel's path depends on the batch's size; the classes hardly). Not
 * more: a forward keeps every layer's output, about 3.6 MB an image for
 * a C 8, 5-cell darts-cnn network on Fashion-MNIST (1.8 GB at 500), and
 * the pool runs several requests at once. */
#define BATCH 128

typedef struct cached {
    char id[33];
    nas_model *m;
    int refs;
    int dropped; /* forgotten: freed when refs reaches 0 */
    unsigned long long used;
    struct cached *next;
} cached;

/* The one server of the process's prediction state. `mu` guards the
 * cache; inflight is the loop thread's alone. */
static struct {
    int init;
    uv_mutex_t mu;
    cached *head;
    int count;
    unsigned long long tick;
    int inflight;
} P;

typedef struct work {
    uv_work_t req;
    nd_server *srv;
    uint64_t token; /* the request's, for nd_http_answer */
    char id[33];
    char path[PATH_MAX + 64];
    char *body;
    size_t len;
    int idx; /* the body is an IDX file */
    int max_images, max_models;
    api_predict_limits text; /* a language model's */
    int over_images;         /* refused by max-predict-images */
    char space[32];          /* the job's space, for an architecture without one */
    nd_response rs;
} work;

/* ----------------------------------------------------------------- cache */

static void release(cached *c)
{
    int last;
    uv_mutex_lock(&P.mu);
    last = --c->refs == 0 && c->dropped;
    uv_mutex_unlock(&P.mu);
    if (last) {
        nas_model_free(c->m);
        free(c);
    }
}

/* Unlinks *at (under mu); frees it unless a request still holds it. */
static cached *unlink_at(cached **at)
{
    cached *c = *at;
    *at = c->next;
    P.count--;
    c->dropped = 1;
    return c->refs == 0 ? c : NULL;
}

void api_predict_forget(const char *id)
{
    cached *gone = NULL;
    if (!P.init)
        return;
    uv_mutex_lock(&P.mu);
    for (cached **at = &P.head; *at; at = &(*at)->next)
        if (!strcmp((*at)->id, id)) {
            gone = unlink_at(at);
            break;
        }
    uv_mutex_unlock(&P.mu);
    if (gone) {
        nas_model_free(gone->m);
        free(gone);
    }
}

/* The architecture text with "space" added when it has none (a nas-rl
 * network's JSON is its space's own: the API adds the space when it
 * serves it, and the job's stored spec names it). */
static char *with_space(char *arch, const char *space)
{
    json_t *a = json_loads(arch, 0, NULL);
    char *out = arch;
    if (json_is_object(a) && !json_object_get(a, "space") && space[0] &&
        !json_object_set_new(a, "space", json_string(space)) && (out = json_dumps(a, JSON_COMPACT)))
        free(arch);
    json_decref(a);
    return out ? out : arch;
}

/* Opens the model at path: its architecture as a train job's spec. */
static int open_model(const char *path, const char *space, nas_model **out, api_problem *err)
{
    char *arch = NULL, *dataset = NULL;
    json_t *spec = NULL;
    nas_job_spec es;
    int rc = -1;
    *out = NULL;
    if (nas_model_meta(path, "architecture", &arch) < 0 ||
        nas_model_meta(path, "dataset", &dataset) < 0 || !arch || !dataset) {
        api_problem_set(err, 500, API_PROBLEM_INTERNAL, "", "the model file cannot be read: %s",
                        nas_errmsg());
        goto done;
    }
    arch = with_space(arch, space);
    if (!(spec = api_spec_of_model(dataset, arch, err)) ||
        api_spec_to_engine(spec, NULL, 1, &es, err))
        goto done;
    if (nas_model_open(path, &es, out) < 0) {
        api_problem_set(err, 501, API_PROBLEM_NOT_IMPLEMENTED, "", "%s", nas_errmsg());
        goto done;
    }
    rc = 0;
done:
    free(arch);
    free(dataset);
    json_decref(spec);
    return rc;
}

/* The cached model of job id, opened when absent; NULL with *err set. */
static cached *acquire(const work *w, api_problem *err)
{
    cached *c, *gone = NULL;
    uv_mutex_lock(&P.mu);
    for (c = P.head; c && strcmp(c->id, w->id); c = c->next)
        ;
    if (c) {
        c->refs++;
        c->used = ++P.tick;
    }
    uv_mutex_unlock(&P.mu);
    if (c)
        return c;
    /* Two requests may open the same model at once: the second to finish
     * keeps its own copy out of the cache. */
    nas_model *m;
    if (open_model(w->path, w->space, &m, err))
        return NULL;
    if (!(c = calloc(1, sizeof *c))) {
        nas_model_free(m);
        api_problem_set(err, 500, API_PROBLEM_INTERNAL, "", "out of memory");
        return NULL;
    }
    memcpy(c->id, w->id, sizeof c->id);
    c->m = m;
    c->refs = 1;
    uv_mutex_lock(&P.mu);
    c->used = ++P.tick;
    c->next = P.head;
    P.head = c;
    P.count++;
    if (P.count > w->max_models) { /* the least recently used idle one */
        cached **lru = NULL;
        for (cached **at = &P.head; *at; at = &(*at)->next)
            if ((*at)->refs == 0 && (!lru || (*at)->used < (*lru)->used))
                lru = at;
        if (lru)
            gone = unlink_at(lru);
    }
    uv_mutex_unlock(&P.mu);
    if (gone) {
        nas_model_free(gone->m);
        free(gone);
    }
    return c;
}

/* ------------------------------------------------------------ the body */

static int bad(api_problem *err, const char *ptr, const char *fmt, const char *what)
{
    api_problem_set(err, 400, API_PROBLEM_INVALID_FIELD, ptr, fmt, ptr, what);
    return -1;
}

/* One pixel value at ptr: an integer 0..255. */
static int pixel(const json_t *v, const char *ptr, uint8_t *out, api_problem *err)
{
    double x = json_is_integer(v) ? (double)json_integer_value(v)
               : json_is_real(v)  ? json_real_value(v)
                                  : -1.0;
    if (!json_is_number(v) || x != (double)(long)x || x < 0 || x > 255)
        return bad(err, ptr, "%s must be an integer pixel value 0-255%s", "");
    *out = (uint8_t)x;
    return 0;
}

/* An array of exactly n at ptr. */
static int array_of(const json_t *v, size_t n, const char *ptr, const char *what, api_problem *err)
{
    if (json_is_array(v) && json_array_size(v) == n)
        return 0;
    api_problem_set(err, 400, API_PROBLEM_INVALID_FIELD, ptr,
                    "%s must be an array of %zu %s (the dataset's shape)", ptr, n, what);
    return -1;
}

/* {"images": [...]} into n images of c x h x w pixels. */
static int parse_json(work *w, int c, int h, int wd, uint8_t **px, int *n, api_problem *err)
{
    json_error_t je;
    json_t *doc = json_loadb(w->body, w->len, 0, &je);
    char ptr[96];
    int rc = -1;
    *px = NULL;
    if (!doc) {
        api_problem_set(err, 400, API_PROBLEM_INVALID_JSON, "",
                        "the body is not valid JSON (line %d, column %d): %s", je.line, je.column,
                        je.text);
        return -1;
    }
    const char *key;
    json_t *v, *images = json_object_get(doc, "images");
    if (!json_is_object(doc)) {
        api_problem_set(err, 400, API_PROBLEM_BAD_REQUEST, "",
                        "the body must be an object {\"images\": [...]}");
        goto done;
    }
    json_object_foreach(doc, key, v) if (strcmp(key, "images"))
    {
        char kp[80];
        snprintf(kp, sizeof kp, "/%.64s", key);
        api_problem_set(err, 400, API_PROBLEM_UNKNOWN_FIELD, kp,
                        "unknown field \"%.64s\": the body has only \"images\"", key);
        goto done;
    }
    if (!json_is_array(images) || json_array_size(images) == 0) {
        api_problem_set(err, 400, API_PROBLEM_INVALID_FIELD, "/images",
                        "/images must be a non-empty array of images");
        goto done;
    }
    size_t count = json_array_size(images), img = (size_t)c * h * wd;
    if (count > (size_t)w->max_images) {
        w->over_images = 1;
        api_problem_set(err, 400, API_PROBLEM_LIMIT_EXCEEDED, "/images",
                        "%zu images are over the limit of %d per request (max-predict-images)",
                        count, w->max_images);
        goto done;
    }
    if (!(*px = malloc(count * img))) {
        api_problem_set(err, 500, API_PROBLEM_INTERNAL, "", "out of memory");
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        const json_t *im = json_array_get(images, i);
        uint8_t *out = *px + i * img;
        snprintf(ptr, sizeof ptr, "/images/%zu", i);
        for (int ch = 0; ch < c; ch++) {
            const json_t *plane = im;
            char pp[112];
            snprintf(pp, sizeof pp, "%s", ptr);
            if (c > 1) {
                if (array_of(im, (size_t)c, ptr, "channels", err))
                    goto done;
                plane = json_array_get(im, (size_t)ch);
                snprintf(pp, sizeof pp, "%s/%d", ptr, ch);
            }
            if (array_of(plane, (size_t)h, pp, "rows", err))
                goto done;
            for (int y = 0; y < h; y++) {
                const json_t *row = json_array_get(plane, (size_t)y);
                char rp[128], vp[144];
                snprintf(rp, sizeof rp, "%s/%d", pp, y);
                if (array_of(row, (size_t)wd, rp, "pixels", err))
                    goto done;
                for (int x = 0; x < wd; x++) {
                    snprintf(vp, sizeof vp, "%s/%d", rp, x);
                    if (pixel(json_array_get(row, (size_t)x), vp,
                              out + ((size_t)ch * h + y) * wd + x, err))
                        goto done;
                }
            }
        }
    }
    *n = (int)count;
    rc = 0;
done:
    json_decref(doc);
    if (rc) {
        free(*px);
        *px = NULL;
    }
    return rc;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* An IDX file of unsigned bytes: n x h x w (one channel) or n x c x h x w. */
static int parse_idx(work *w, int c, int h, int wd, uint8_t **px, int *n, api_problem *err)
{
    const unsigned char *b = (const unsigned char *)w->body;
    size_t img = (size_t)c * h * wd;
    int dims = w->len >= 4 ? b[3] : 0;
    *px = NULL;
    if (w->len < 4 || b[0] || b[1] || b[2] != 0x08 || (dims != 3 && dims != 4) ||
        w->len < 4 + 4 * (size_t)dims) {
        api_problem_set(err, 400, API_PROBLEM_INVALID_FIELD, "",
                        "the body is not an IDX file of unsigned bytes (magic 0x00000803 or "
                        "0x00000804, uncompressed)");
        return -1;
    }
    uint32_t d[4];
    for (int i = 0; i < dims; i++)
        d[i] = be32(b + 4 + 4 * i);
    int ok = dims == 3 ? c == 1 && d[1] == (uint32_t)h && d[2] == (uint32_t)wd
                       : d[1] == (uint32_t)c && d[2] == (uint32_t)h && d[3] == (uint32_t)wd;
    if (!ok) {
        api_problem_set(err, 400, API_PROBLEM_INVALID_FIELD, "",
                        "the IDX file's images are not of the dataset's shape %d x %d x %d", c, h,
                        wd);
        return -1;
    }
    if (d[0] == 0 || d[0] > (uint32_t)w->max_images) {
        w->over_images = d[0] > 0;
        api_problem_set(err, 400, d[0] ? API_PROBLEM_LIMIT_EXCEEDED : API_PROBLEM_INVALID_FIELD, "",
                        "the IDX file holds %u images; 1 to %d per request "
                        "(max-predict-images)",
                        d[0], w->max_images);
        return -1;
    }
    size_t head = 4 + 4 * (size_t)dims;
    if (w->len - head != (size_t)d[0] * img) {
        api_problem_set(err, 400, API_PROBLEM_INVALID_FIELD, "",
                        "the IDX file has %zu bytes of pixels, its header says %zu", w->len - head,
                        (size_t)d[0] * img);
        return -1;
    }
    if (!(*px = malloc((size_t)d[0] * img))) {
        api_problem_set(err, 500, API_PROBLEM_INTERNAL, "", "out of memory");
        return -1;
    }
    memcpy(*px, b + head, (size_t)d[0] * img);
    *n = (int)d[0];
    return 0;
}

/* ----------------------------------------------------------- the work */

static json_t *prediction(const nas_model *m, const float *logits, int k)
{
    int best = 0;
    double mx = logits[0], sum = 0;
    for (int i = 1; i < k; i++)
        if (logits[i] > logits[best]) /* the first largest, as the evaluation */
            best = i;
    mx = logits[best];
    json_t *probs = json_array();
    for (int i = 0; i < k; i++)
        sum += exp((double)logits[i] - mx);
    for (int i = 0; probs && i < k; i++)
        json_array_append_new(probs, json_real(exp((double)logits[i] - mx) / sum));
    return json_pack("{s:i,s:s,s:o*}", "class", best, "label", nas_model_class_name(m, best),
                     "probabilities", probs);
}

/* On a pool thread: everything but the sending. */
static void run(uv_work_t *req)
{
    work *w = req->data;
    api_problem err = {0};
    uint8_t *px = NULL;
    float *logits = NULL;
    int n = 0, c, h, wd, k;
    cached *mc = acquire(w, &err);
    if (!mc)
        goto fail;
    if (nas_model_is_text(mc->m)) {
        nas_set_threads(1);
        api__predict_text(mc->m, w->body, w->len, w->idx, &w->text, &w->rs);
        goto done;
    }
    nas_model_input(mc->m, &c, &h, &wd, &k);
    if ((w->idx ? parse_idx(w, c, h, wd, &px, &n, &err) : parse_json(w, c, h, wd, &px, &n, &err)))
        goto fail;
    json_t *list = json_array();
    if (!list || !(logits = malloc((size_t)BATCH * k * sizeof(float)))) {
        json_decref(list);
        api_problem_set(&err, 500, API_PROBLEM_INTERNAL, "", "out of memory");
        goto fail;
    }
    nas_set_threads(1);
    size_t img = (size_t)c * h * wd;
    for (int s = 0; s < n; s += BATCH) {
        int b = n - s < BATCH ? n - s : BATCH;
        if (nas_model_logits(mc->m, px + (size_t)s * img, b, logits) < 0) {
            json_decref(list);
            api_problem_set(&err, 500, API_PROBLEM_INTERNAL, "", "%s", nas_errmsg());
            goto fail;
        }
        for (int i = 0; i < b; i++)
            json_array_append_new(list, prediction(mc->m, logits + (size_t)i * k, k));
    }
    api_json(&w->rs, 200, json_pack("{s:o}", "predictions", list));
    goto done;
fail:
    api_fail(&w->rs, &err);
    if (w->over_images && w->rs.json) {
        json_object_set_new(w->rs.json, "limit_name", json_string("max-predict-images"));
        json_object_set_new(w->rs.json, "limit", json_integer(w->max_images));
    }
done:
    if (mc)
        release(mc);
    free(px);
    free(logits);
}

/* Back on the loop: send it. */
static void after(uv_work_t *req, int status)
{
    work *w = req->data;
    P.inflight--;
    if (status) /* cancelled: never ran */
        api_failf(&w->rs, 503, API_PROBLEM_INTERNAL, "", "the prediction was cancelled");
    nd_http_answer(w->srv, w->token, &w->rs);
    free(w->body);
    free(w);
}

/* -------------------------------------------------------------- handler */

void api_jobs_predict(api_req *rq, api_resp *rs, const char *id)
{
    nd_server *s = rq->srv;
    json_t *job = NULL;
    work *w = NULL;
    if (nd_db_job_get(s->db, id, &job) != 0) {
        api_failf(rs, 404, API_PROBLEM_NOT_FOUND, "", "no job %s", id);
        return;
    }
    const char *state = json_string_value(json_object_get(job, "state"));
    if (state && (!strcmp(state, "queued") || !strcmp(state, "running"))) {
        api_failf(rs, 409, API_PROBLEM_CONFLICT, "",
                  "job %s is %s: its model is written when it succeeds", id, state);
        json_decref(job);
        return;
    }
    int ok = state && !strcmp(state, "succeeded");
    if (!(w = calloc(1, sizeof *w))) {
        json_decref(job);
        api_failf(rs, 500, API_PROBLEM_INTERNAL, "", "out of memory");
        return;
    }
    const json_t *spec = json_object_get(job, "spec");
    const char *space =
        json_string_value(json_object_get(json_object_get(spec, "architecture"), "space"));
    if (!space)
        space = json_string_value(json_object_get(spec, "search_space"));
    snprintf(w->space, sizeof w->space, "%s", space ? space : "");
    json_decref(job);
    if (!ok || nd_model_path(s->model_dir, id, w->path, sizeof w->path) != 0 ||
        access(w->path, R_OK) != 0) {
        api_failf(rs, 404, API_PROBLEM_NOT_FOUND, "",
                  "job %s has no model: only a train job or a search with final_training that "
                  "succeeded keeps its trained network",
                  id);
        free(w);
        return;
    }
    if (P.inflight >= s->cfg.max_predict_requests) {
        api_fail_limit(rs, 429, "", "max-predict-requests", s->cfg.max_predict_requests,
                       "%d prediction requests are being worked on, the limit "
                       "(max-predict-requests): retry shortly",
                       P.inflight);
        rs->retry_after = 1;
        free(w);
        return;
    }
    const char *ct = api_header(rq, MHD_HTTP_HEADER_CONTENT_TYPE);
    w->idx = ct && !strncasecmp(ct, "application/octet-stream", 24);
    w->srv = s;
    memcpy(w->id, id, sizeof w->id);
    w->max_images = s->cfg.max_predict_images;
    w->max_models = s->cfg.max_predict_models;
    w->text = (api_predict_limits){s->cfg.max_predict_text, s->cfg.max_predict_tokens};
    w->len = rq->body_len;
    if (!(w->body = malloc(w->len + 1))) {
        api_failf(rs, 500, API_PROBLEM_INTERNAL, "", "out of memory");
        free(w);
        return;
    }
    if (w->len)
        memcpy(w->body, rq->body, w->len);
    w->body[w->len] = '\0';
    w->req.data = w;
    w->token = rq->token;
    /* after() runs on this thread, so not before this handler returns */
    int rc = uv_queue_work(s->loop, &w->req, run, after);
    NAS_ASSERT(rc == 0 && "uv_queue_work fails only without a work callback");
    P.inflight++;
    rs->deferred = 1; /* the answer comes from after(), by the token */
}

int api_predict_init(nd_server *s)
{
    (void)s;
    if (!P.init && uv_mutex_init(&P.mu) != 0)
        return -1;
    P.init = 1;
    return 0;
}

void api_predict_free(nd_server *s)
{
    (void)s;
    /* The work still queued holds references: whatever it holds is freed
     * by its own release; the rest goes now. */
    if (!P.init)
        return;
    uv_mutex_lock(&P.mu);
    cached *c = P.head;
    P.head = NULL;
    P.count = 0;
    uv_mutex_unlock(&P.mu);
    while (c) {
        cached *next = c->next;
        uv_mutex_lock(&P.mu);
        c->dropped = 1;
        int idle = c->refs == 0;
        uv_mutex_unlock(&P.mu);
        if (idle) {
            nas_model_free(c->m);
            free(c);
        }
        c = next;
    }
}
