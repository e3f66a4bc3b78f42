// SPDX-License-Identifier: MIT
/*
 * datasets.c - /v1/datasets: the datasets the engine knows and the ones
 * users upload (issue #21). GET lists both; POST takes an archive as its
 * body and imports it; GET /v1/datasets/{name} shows one; DELETE removes
 * an upload no queued or running job names. An upload is of images (a
 * tar or zip of class folders: engine/data/import.c) or of text
 * (import_text.c).
 *
 * The one design decision to know: an upload is imported once, off the
 * loop thread. The HTTP bridge writes the body to a file as it arrives
 * (api_datasets_spool, under max-dataset-bytes); the handler checks the
 * name, makes a temporary directory <state-dir>/user-datasets/.import-*
 * and hands the import to libuv's thread pool, and the connection waits
 * (a deferred answer). Back on the loop, the database row is written and
 * the directory renamed to its name in one step (the row is removed again
 * if the rename fails); on any failure the directory goes, so a refused
 * or interrupted upload leaves nothing behind. At start, rows whose
 * directory is missing and .import-* leftovers of a crash are removed,
 * and the rest registered with the engine (nas_dataset_register), where
 * jobs find them by name.
 */
#include "api.h"
#include "db.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME_MAX_LEN 64

typedef struct import_job {
    uv_work_t work;
    nd_server *srv;
    uint64_t token;
    char name[NAME_MAX_LEN + 1];
    int text; /* kind=text */
    char upload[PATH_MAX + 64];
    char tmp[PATH_MAX + 64];
    int64_t bytes;
    nas_import_limits lim;
    int rc;
    char *meta;
    char msg[1024];
    nas_import_error err;
    struct import_job *next;
} import_job;

static import_job *running;  /* imports under way (loop thread only) */
static _Atomic int stopping; /* read by the imports' threads */

static void root_dir(const nd_config *cfg, char *out, size_t n)
{
    snprintf(out, n, "%s/user-datasets", cfg->state_dir);
}

/* Removes dir and the files in it (an import writes no subfolders). */
static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[PATH_MAX + 300];
    if (d) {
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
                unlink(p);
            }
        closedir(d);
    }
    rmdir(dir);
}

static int register_row(const nd_config *cfg, const json_t *row)
{
    const char *name = json_string_value(json_object_get(row, "name"));
    const json_t *m = json_object_get(row, "meta"), *shape = json_object_get(m, "shape");
    const json_t *splits = json_object_get(m, "splits");
    char dir[PATH_MAX + 80], root[PATH_MAX + 16];
    root_dir(cfg, root, sizeof root);
    snprintf(dir, sizeof dir, "%s/%s", root, name ? name : "");
    const char *kind = json_string_value(json_object_get(row, "kind"));
    if (!name || !kind)
        return -1;
    if (strcmp(kind, "text") == 0)
        return nas_dataset_register(name, kind, dir, 0, 0, 0, 0, 0, 0);
    if (json_array_size(shape) != 3)
        return -1;
    return nas_dataset_register(
        name, kind, dir, (int)json_integer_value(json_array_get(shape, 0)),
        (int)json_integer_value(json_array_get(shape, 1)),
        (int)json_integer_value(json_array_get(shape, 2)),
        (int)json_array_size(json_object_get(m, "classes")),
        (int)json_integer_value(json_object_get(json_object_get(splits, "train"), "images")),
        (int)json_integer_value(json_object_get(json_object_get(splits, "test"), "images")));
}

int api_datasets_start(nd_server *s)
{
    char root[PATH_MAX + 16], p[PATH_MAX + 300];
    root_dir(&s->cfg, root, sizeof root);
    stopping = 0;
    if (mkdir(root, 0750) != 0 && errno != EEXIST) {
        nd_log(ND_LOG_ERROR, "cannot create %s: %s", root, strerror(errno));
        return -1;
    }
    DIR *d = opendir(root);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strncmp(e->d_name, ".import-", 8) == 0 || strncmp(e->d_name, ".upload-", 8) == 0 ||
            strncmp(e->d_name, ".delete-", 8) == 0) {
            snprintf(p, sizeof p, "%s/%s", root, e->d_name);
            nd_log(ND_LOG_INFO, "removing %s (an upload nasd did not finish)", p);
            if (unlink(p) != 0)
                remove_tree(p);
        }
    if (d)
        closedir(d);
    json_t *rows = NULL, *row;
    size_t i;
    if (nd_db_dataset_list(s->db, NULL, &rows) != ND_DB_OK) {
        nd_log(ND_LOG_ERROR, "datasets: %s", nd_db_errmsg(s->db));
        return -1;
    }
    json_array_foreach(rows, i, row)
    {
        const char *name = json_string_value(json_object_get(row, "name"));
        struct stat st;
        snprintf(p, sizeof p, "%s/%s/meta.json", root, name);
        if (stat(p, &st) != 0) {
            nd_log(ND_LOG_WARN, "dataset %s: %s is missing: its row goes", name, p);
            nd_db_dataset_delete(s->db, name);
        } else if (register_row(&s->cfg, row) != 0) {
            nd_log(ND_LOG_WARN, "dataset %s: %s", name, nas_errmsg());
        }
    }
    json_decref(rows);
    return 0;
}

void api_datasets_stop(nd_server *s)
{
    (void)s;
    stopping = 1;
}

size_t api_datasets_spool(api_req *rq, char *path, size_t n)
{
    if (strcmp(rq->method, "POST") != 0 || strcmp(rq->path, "/v1/datasets") != 0)
        return 0;
    char root[PATH_MAX + 16];
    root_dir(&rq->srv->cfg, root, sizeof root);
    snprintf(path, n, "%s/.upload-%d-%llu", root, (int)getpid(), (unsigned long long)rq->token);
    return rq->srv->cfg.max_dataset_bytes;
}

/* A built-in dataset as the list shows it. */
static json_t *builtin_json(const nd_config *cfg, const nas_dataset_desc *d)
{
    const char *path = nd_config_dataset_path(cfg, d->name);
    int present = nas_dataset_present(d->name, path);
    if (!path)
        path = d->default_path;
    json_t *o =
        json_pack("{s:s,s:s,s:o,s:b,s:b}", "name", d->name, "kind", d->kind, "path",
                  path ? json_string(path) : json_null(), "present", present, "uploaded", 0);
    if (d->c)
        json_object_set_new(o, "shape", json_pack("[i,i,i]", d->c, d->h, d->w));
    if (d->classes)
        json_object_set_new(o, "classes", json_integer(d->classes));
    if (d->train_size)
        json_object_set_new(o, "train_size", json_integer(d->train_size));
    if (d->test_size)
        json_object_set_new(o, "test_size", json_integer(d->test_size));
    return o;
}

/* An upload's row (db_datasets.c) as the API shows it: the list's fields
 * first, the whole meta.json under "meta". */
static json_t *upload_json(json_t *row)
{
    json_t *m = json_object_get(row, "meta"), *splits = json_object_get(m, "splits");
    json_object_set_new(row, "uploaded", json_true());
    json_object_set_new(row, "present", json_true());
    if (json_object_get(m, "shape")) {
        json_object_set(row, "shape", json_object_get(m, "shape"));
        json_object_set_new(
            row, "classes",
            json_integer((json_int_t)json_array_size(json_object_get(m, "classes"))));
        json_object_set(row, "train_size",
                        json_object_get(json_object_get(splits, "train"), "images"));
        json_object_set(row, "test_size",
                        json_object_get(json_object_get(splits, "test"), "images"));
    }
    return row;
}

void api_datasets_list(api_req *rq, api_resp *rs)
{
    json_t *list = json_array(), *rows = NULL, *row;
    size_t i;
    for (const nas_dataset_desc *d = nas_datasets(); d->name; d++)
        json_array_append_new(list, builtin_json(&rq->srv->cfg, d));
    if (nd_db_dataset_list(rq->srv->db, NULL, &rows) != ND_DB_OK) {
        json_decref(list);
        api_failf(rs, 500, API_PROBLEM_INTERNAL, "", "datasets: %s", nd_db_errmsg(rq->srv->db));
        return;
    }
    json_array_foreach(rows, i, row) json_array_append(list, upload_json(row));
    json_decref(rows);
    api_json(rs, 200, json_pack("{s:o}", "datasets", list));
}

static const nas_dataset_desc *builtin(const char *name)
{
    for (const nas_dataset_desc *d = nas_datasets(); d->name; d++)
        if (strcmp(d->name, name) == 0)
            return d;
    return NULL;
}

/* ?format=png: the grid of samples the import drew (samples.png). */
static void samples_png(api_req *rq, api_resp *rs, const char *name)
{
    char root[PATH_MAX + 16], path[PATH_MAX + 120];
    root_dir(&rq->srv->cfg, root, sizeof root);
    snprintf(path, sizeof path, "%s/%s/samples.png", root, name);
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n = -1;
    if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        fclose(f);
        rs->status = 200;
        rs->content_type = "image/png";
        rs->raw = buf;
        rs->raw_len = (size_t)n;
        rs->raw_free = 1;
        return;
    }
    if (f)
        fclose(f);
    free(buf);
    api_failf(rs, 500, API_PROBLEM_INTERNAL, "", "%s: cannot read the sample grid", name);
}

void api_datasets_get(api_req *rq, api_resp *rs, const char *name)
{
    const nas_dataset_desc *d = builtin(name);
    const char *format = api_query(rq, "format");
    int png = format && strcmp(format, "png") == 0;
    if (format && !png && strcmp(format, "json") != 0) {
        api_failf(rs, 400, API_PROBLEM_INVALID_FIELD, "",
                  "query parameter format must be json or png, got \"%.20s\"", format);
        json_object_set_new(rs->json, "parameter", json_string("format"));
        json_object_set_new(rs->json, "allowed", json_pack("[s,s]", "json", "png"));
        return;
    }
    if (d && png) {
        api_failf(rs, 501, API_PROBLEM_NOT_IMPLEMENTED, "",
                  "the sample grid of a built-in dataset is not built yet; uploads have one");
        return;
    }
    if (d) {
        api_json(rs, 200, builtin_json(&rq->srv->cfg, d));
        return;
    }
    json_t *rows = NULL;
    int rc = nd_db_dataset_list(rq->srv->db, name, &rows);
    if (rc == ND_DB_NOTFOUND) {
        api_failf(rs, 404, API_PROBLEM_NOT_FOUND, "", "no dataset named \"%s\"", name);
        return;
    }
    if (rc != ND_DB_OK) {
        api_failf(rs, 500, API_PROBLEM_INTERNAL, "", "datasets: %s", nd_db_errmsg(rq->srv->db));
        return;
    }
    if (png)
        samples_png(rq, rs, name);
    else
        api_json(rs, 200, json_incref(upload_json(json_array_get(rows, 0))));
    json_decref(rows);
}

void api_datasets_delete(api_req *rq, api_resp *rs, const char *name)
{
    nd_server *s = rq->srv;
    char first[33], root[PATH_MAX + 16], dir[PATH_MAX + 100], gone[PATH_MAX + 100];
    int count = 0;
    if (builtin(name)) {
        api_failf(rs, 409, API_PROBLEM_CONFLICT, "",
                  "dataset \"%s\" is built in: only uploaded datasets can be deleted", name);
        return;
    }
    if (nd_db_dataset_jobs(s->db, name, &count, first) != ND_DB_OK) {
        api_failf(rs, 500, API_PROBLEM_INTERNAL, "", "datasets: %s", nd_db_errmsg(s->db));
        return;
    }
    if (count) {
        api_failf(rs, 409, API_PROBLEM_CONFLICT, "",
                  "dataset \"%s\" is named by %d queued or running job%s (%s): cancel %s first",
                  name, count, count > 1 ? "s" : "", first, count > 1 ? "them" : "it");
        json_object_set_new(rs->json, "job", json_string(first));
        return;
    }
    int rc = nd_db_dataset_delete(s->db, name);
    if (rc == ND_DB_NOTFOUND) {
        api_failf(rs, 404, API_PROBLEM_NOT_FOUND, "", "no dataset named \"%s\"", name);
        return;
    }
    if (rc != ND_DB_OK) {
        api_failf(rs, 500, API_PROBLEM_INTERNAL, "", "datasets: %s", nd_db_errmsg(s->db));
        return;
    }
    nas_dataset_unregister(name);
    root_dir(&s->cfg, root, sizeof root);
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    snprintf(gone, sizeof gone, "%s/.delete-%s", root, name);
    if (rename(dir, gone) == 0)
        remove_tree(gone);
    rs->status = 204;
}

/* ------------------------------------------------------------- upload */

/* Lowercase letters, digits, '.', '_' and '-', starting with a letter or
 * a digit, 1 to 64 of them: a file name and a URL segment as it is. */
static int name_ok(const char *n)
{
    size_t k = strlen(n);
    return k >= 1 && k <= NAME_MAX_LEN &&
           strspn(n, "abcdefghijklmnopqrstuvwxyz0123456789._-") == k &&
           strchr("abcdefghijklmnopqrstuvwxyz0123456789", n[0]);
}

static void import_work(uv_work_t *w)
{
    import_job *j = w->data;
    j->rc = (j->text ? nas_dataset_import_text : nas_dataset_import)(j->upload, j->name, &j->lim,
                                                                     j->tmp, &j->meta, &j->err);
    if (j->rc != NAS_OK)
        snprintf(j->msg, sizeof j->msg, "%s", nas_errmsg());
}

/* The refusal of a failed import, naming the entry or limit at fault. */
static void import_failed(import_job *j, api_resp *rs)
{
    if (j->err.limit[0]) {
        const nd_config *c = &j->srv->cfg;
        double v = strcmp(j->err.limit, "max-dataset-files") == 0    ? (double)c->max_dataset_files
                   : strcmp(j->err.limit, "max-dataset-pixels") == 0 ? (double)c->max_dataset_pixels
                   : strcmp(j->err.limit, "max-dataset-expanded-bytes") == 0
                       ? (double)c->max_dataset_expanded
                       : 256.0;
        api_fail_limit(rs, 413, "", j->err.limit, v, "%s", j->msg);
    } else if (strcmp(j->err.where, "resize") == 0) {
        api_failf(rs, 400, API_PROBLEM_INVALID_FIELD, "", "%s", j->msg);
        json_object_set_new(rs->json, "parameter", json_string("resize"));
        return;
    } else if (j->rc == NAS_ECANCELLED) {
        api_failf(rs, 503, API_PROBLEM_INTERNAL, "", "%s", j->msg);
    } else if (j->rc == NAS_EIO || j->rc == NAS_ENOMEM) {
        api_failf(rs, 500, API_PROBLEM_INTERNAL, "", "%s", j->msg);
    } else {
        api_failf(rs, 400, API_PROBLEM_BAD_REQUEST, "", "%s", j->msg);
    }
    if (j->err.where[0])
        json_object_set_new(rs->json, "file", json_string(j->err.where));
}

static void import_done(uv_work_t *w, int status)
{
    import_job *j = w->data;
    nd_server *s = j->srv;
    api_resp rs = {0};
    char root[PATH_MAX + 16], dir[PATH_MAX + 100];
    for (import_job **p = &running; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            break;
        }
    root_dir(&s->cfg, root, sizeof root);
    snprintf(dir, sizeof dir, "%s/%s", root, j->name);
    json_t *meta = j->meta ? json_loads(j->meta, 0, NULL) : NULL;
    const char *kind = j->text ? "text" : "image";
    if (status != 0 || j->rc != NAS_OK || !meta) {
        import_failed(j, &rs);
    } else if (nd_db_dataset_insert(s->db, j->name, kind, j->meta, j->bytes) != ND_DB_OK) {
        api_failf(&rs, 500, API_PROBLEM_INTERNAL, "", "datasets: %s", nd_db_errmsg(s->db));
    } else if (rename(j->tmp, dir) != 0) {
        api_failf(&rs, 500, API_PROBLEM_INTERNAL, "", "cannot rename %s to %s: %s", j->tmp, dir,
                  strerror(errno));
        nd_db_dataset_delete(s->db, j->name);
    } else {
        json_t *row = json_pack("{s:s,s:s,s:I,s:O}", "name", j->name, "kind", kind, "bytes",
                                (json_int_t)j->bytes, "meta", meta);
        if (register_row(&s->cfg, row) != 0)
            nd_log(ND_LOG_WARN, "dataset %s: %s", j->name, nas_errmsg());
        nd_log(ND_LOG_INFO, "dataset %s imported (%lld bytes)", j->name, (long long)j->bytes);
        api_json(&rs, 201, upload_json(row));
        snprintf(rs.location, sizeof rs.location, "/v1/datasets/%s", j->name);
        j->tmp[0] = '\0';
    }
    if (j->tmp[0])
        remove_tree(j->tmp);
    json_decref(meta);
    free(j->meta);
    nd_http_answer(s, j->token, &rs);
    free(j);
}

/* ?resize=HxW into *h, *w (0 when absent): 0, or -1 with rs filled. */
static int parse_resize(api_req *rq, api_resp *rs, int *h, int *w)
{
    const char *v = api_query(rq, "resize"), *kind = api_query(rq, "kind");
    long ph = 0, pw = 0;
    char *end = NULL;
    *h = *w = 0;
    if (!v)
        return 0;
    if (v[0] >= '0' && v[0] <= '9') {
        ph = strtol(v, &end, 10);
        if (*end == 'x' && end[1] >= '0' && end[1] <= '9')
            pw = strtol(end + 1, &end, 10);
    }
    long max = rq->srv->cfg.max_dataset_pixels;
    if (!end || *end || ph < 1 || pw < 1 || ph > 65535 || pw > 65535 || ph * pw > max ||
        (kind && strcmp(kind, "image") != 0)) {
        api_failf(rs, 400, API_PROBLEM_INVALID_FIELD, "",
                  "query parameter resize must be HEIGHTxWIDTH (e.g. 32x32) with at most %ld "
                  "pixels (max-dataset-pixels), for kind=image; got \"%.40s\"",
                  max, v);
        json_object_set_new(rs->json, "parameter", json_string("resize"));
        return -1;
    }
    *h = (int)ph;
    *w = (int)pw;
    return 0;
}

/* The checks of an upload's query (name, kind, resize, a taken name): 0,
 * or -1 with rs filled. Run before the body is read (api_datasets_admit) and
 * again when it has come (a name may have been taken meanwhile). */
static int check_query(api_req *rq, api_resp *rs)
{
    nd_server *s = rq->srv;
    const char *name = api_query(rq, "name"), *kind = api_query(rq, "kind");
    json_t *rows = NULL;
    if (!name || !name_ok(name)) {
        api_failf(rs, 400, API_PROBLEM_INVALID_FIELD, "",
                  "query parameter name must be 1 to 64 of a-z, 0-9, '.', '_' and '-', starting "
                  "with a letter or a digit; got \"%.80s\"",
                  name ? name : "(none)");
        json_object_set_new(rs->json, "parameter", json_string("name"));
        return -1;
    }
    if (kind && strcmp(kind, "image") != 0 && strcmp(kind, "text") != 0) {
        api_failf(rs, 400, API_PROBLEM_INVALID_FIELD, "",
                  "query parameter kind must be image or text, got \"%.40s\"", kind);
        json_object_set_new(rs->json, "parameter", json_string("kind"));
        json_object_set_new(rs->json, "allowed", json_pack("[s,s]", "image", "text"));
        return -1;
    }
    int rh, rw;
    if (parse_resize(rq, rs, &rh, &rw))
        return -1;
    int taken = builtin(name) != NULL;
    for (import_job *j = running; j && !taken; j = j->next)
        taken = strcmp(j->name, name) == 0;
    if (!taken) {
        int rc = nd_db_dataset_list(s->db, name, &rows);
        json_decref(rows);
        if (rc != ND_DB_OK && rc != ND_DB_NOTFOUND) {
            api_failf(rs, 500, API_PROBLEM_INTERNAL, "", "datasets: %s", nd_db_errmsg(s->db));
            return -1;
        }
        taken = rc == ND_DB_OK;
    }
    if (taken) {
        api_failf(rs, 409, API_PROBLEM_CONFLICT, "",
                  "a dataset named \"%s\" exists (or is being imported): delete it first or "
                  "choose another name",
                  name);
        json_object_set_new(rs->json, "parameter", json_string("name"));
        return -1;
    }
    return 0;
}

int api_datasets_admit(api_req *rq, api_resp *rs)
{
    if (strcmp(rq->method, "POST") != 0 || strcmp(rq->path, "/v1/datasets") != 0)
        return 0;
    return check_query(rq, rs) != 0;
}

void api_datasets_create(api_req *rq, api_resp *rs)
{
    nd_server *s = rq->srv;
    const char *name = api_query(rq, "name"), *kind = api_query(rq, "kind");
    char root[PATH_MAX + 16];
    if (check_query(rq, rs))
        return;
    if (!rq->body_file || rq->body_len == 0) {
        api_failf(rs, 400, API_PROBLEM_BAD_REQUEST, "",
                  "the body must be the dataset: a tar or zip archive of <class>/<image> files, "
                  "of the four MNIST IDX files or of x_train.npy and y_train.npy (or an .npz) "
                  "(kind=image), or a text file or an archive of train.txt, valid.txt and "
                  "test.txt (kind=text)");
        return;
    }
    import_job *j = calloc(1, sizeof *j);
    if (!j) {
        api_failf(rs, 500, API_PROBLEM_INTERNAL, "", "out of memory");
        return;
    }
    root_dir(&s->cfg, root, sizeof root);
    snprintf(j->tmp, sizeof j->tmp, "%s/.import-XXXXXX", root);
    if (!mkdtemp(j->tmp)) {
        api_failf(rs, 500, API_PROBLEM_INTERNAL, "", "cannot create %s: %s", j->tmp,
                  strerror(errno));
        free(j);
        return;
    }
    j->srv = s;
    j->token = rq->token;
    j->bytes = (int64_t)rq->body_len;
    j->text = kind && strcmp(kind, "text") == 0;
    snprintf(j->name, sizeof j->name, "%s", name);
    snprintf(j->upload, sizeof j->upload, "%s", rq->body_file);
    j->lim = (nas_import_limits){(uint64_t)s->cfg.max_dataset_expanded,
                                 (long)s->cfg.max_dataset_files,
                                 (long)s->cfg.max_dataset_pixels,
                                 &stopping,
                                 0,
                                 0};
    parse_resize(rq, rs, &j->lim.resize_h, &j->lim.resize_w); /* checked by check_query */
    j->work.data = j;
    if (uv_queue_work(s->loop, &j->work, import_work, import_done) != 0) {
        remove_tree(j->tmp);
        free(j);
        api_failf(rs, 500, API_PROBLEM_INTERNAL, "", "cannot start the import");
        return;
    }
    j->next = running;
    running = j;
    rs->deferred = 1;
}
