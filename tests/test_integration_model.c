// SPDX-License-Identifier: MIT
/*
 * test_integration_model.c - from a found cell to a model you can use
 * (issue #14 parts 1 and 2), through a real nasd:
 *
 *   - every search space: a tiny search (darts, enas, nas-rl; synthetic
 *     images or the fortunes corpus), then a train job whose architecture
 *     is exactly what GET /v1/jobs/ID/result served, which must succeed
 *     with a test metric; and that train job's own result architecture,
 *     pasted again, must be accepted;
 *   - nas-rl and random with final_training end with a test metric as
 *     their headline;
 *   - GET /v1/jobs/ID/model serves safetensors: the 8-byte header length,
 *     a JSON header whose tensors tile the data exactly, the metadata keys,
 *     tensor names and shapes of the fixed CNN the spec describes, its
 *     weights byte for byte those of the job's last checkpoint; 409
 *     while a job runs, 404 for a search without final training; DELETE
 *     of the job removes the file.
 *
 * Waits poll with deadlines, never a fixed sleep.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "itest.h"

/* Deadlines bound every wait (no Criterion .timeout: its watchdog shows as
 * a leak under LeakSanitizer with libcriterion 2.4.1). */
#define JOB_MS 120000
#define FORTUNES "/usr/share/games/fortunes/fortunes"

static const char *const flags[] = {"--workers", "2", "--threads-per-job", "1", NULL};

TestSuite(model, .init = begin_test, .fini = finish_test);

/* ------------------------------------------------------------- helpers */

static json_t *succeeded(int port, const char *id)
{
    json_t *job = wait_job(port, id, NULL, JOB_MS);
    cr_assert_str_eq(str_at(job, "state"), "succeeded", "%s", text_of(job));
    return job;
}

/* The result architecture of a finished search, as served. */
static char *served_arch(int port, const char *id)
{
    json_decref(succeeded(port, id));
    json_t *res = get_sub(port, id, "result");
    json_t *arch = json_object_get(res, "architecture");
    cr_assert(json_is_string(json_object_get(arch, "space")), "%s", text_of(res));
    char *text = json_dumps(arch, JSON_COMPACT);
    json_decref(res);
    return text;
}

/* A train job on arch (JSON text) with tiny settings; its id into id. */
static void train_on(int port, const char *dataset, const char *arch, const char *extra,
                     char id[33])
{
    size_t n = strlen(arch) + 512;
    char *spec = malloc(n);
    snprintf(spec, n,
             "{\"algorithm\":\"train\",\"dataset\":\"%s\",\"seed\":3,\"architecture\":%s,"
             "\"budget\":{\"epochs\":1},\"hyperparameters\":{%s}}",
             dataset, arch, extra);
    submit(port, spec, id);
    free(spec);
}

static void check_test_metric(int port, const char *id, const char *metric)
{
    json_decref(succeeded(port, id));
    json_t *res = get_sub(port, id, "result");
    cr_assert_str_eq(str_at(res, "metric"), metric, "%s", text_of(res));
    double v = json_number_value(at(res, "value"));
    cr_assert(strcmp(metric, "test_accuracy") ? v > 1.0 && v < 1e5 : v >= 0.0 && v <= 1.0, "%s",
              text_of(res));
    json_decref(res);
}

/* The served architecture of a succeeded train job pasted again must be
 * accepted (202); the job is cancelled at once. */
static void train_result_trains_again(int port, const char *id, const char *dataset)
{
    json_t *res = get_sub(port, id, "result");
    char *arch = json_dumps(json_object_get(res, "architecture"), JSON_COMPACT);
    char again[33];
    train_on(port, dataset, arch, "", again);
    cancel(port, again);
    free(arch);
    json_decref(res);
}

/* ======================================================= every space */

typedef struct search_case {
    const char *what, *dataset, *spec, *train_extra, *metric;
} search_case;

#define TEXT_HP "\"embed\":8,\"hidden\":8,\"bptt\":8,\"batch_size\":10,\"max_vocab\":200"
static const search_case cases[] = {
    {"darts-cnn", "synthetic",
     "{\"algorithm\":\"darts\",\"dataset\":\"synthetic\",\"seed\":5,\"budget\":{\"epochs\":1},"
     "\"hyperparameters\":{\"C\":4,\"layers\":3,\"batch_size\":32,\"max_examples\":128}}",
     "\"batch_size\":50,\"max_examples\":200", "test_accuracy"},
    {"darts-rnn", "fortunes",
     "{\"algorithm\":\"darts\",\"search_space\":\"darts-rnn\",\"dataset\":\"fortunes\","
     "\"seed\":5,\"budget\":{\"epochs\":1},\"hyperparameters\":{" TEXT_HP "}}",
     "\"batch_size\":10", "test_perplexity"},
    {"enas-micro", "synthetic",
     "{\"algorithm\":\"enas\",\"search_space\":\"enas-micro\",\"dataset\":\"synthetic\","
     "\"seed\":5,\"budget\":{\"epochs\":1},\"hyperparameters\":{\"C\":4,\"layers\":1,"
     "\"nodes\":3,\"batch_size\":16,\"max_examples\":200,\"lstm_size\":16,"
     "\"controller_steps\":1,\"controller_aggregate\":1,\"final_samples\":2}}",
     "\"batch_size\":50,\"max_examples\":200", "test_accuracy"},
    {"enas-macro", "synthetic",
     "{\"algorithm\":\"enas\",\"search_space\":\"enas-macro\",\"dataset\":\"synthetic\","
     "\"seed\":5,\"budget\":{\"epochs\":1},\"hyperparameters\":{\"C\":4,\"layers\":3,"
     "\"batch_size\":16,\"max_examples\":200,\"lstm_size\":16,\"controller_steps\":1,"
     "\"controller_aggregate\":1,\"final_samples\":2}}",
     "\"batch_size\":50,\"max_examples\":200", "test_accuracy"},
    {"enas-rnn", "fortunes",
     "{\"algorithm\":\"enas\",\"search_space\":\"enas-rnn\",\"dataset\":\"fortunes\","
     "\"seed\":5,\"budget\":{\"epochs\":1},\"hyperparameters\":{\"nodes\":4,\"hidden\":8,"
     "\"bptt\":8,\"batch_size\":10,\"max_vocab\":200,\"lstm_size\":8,"
     "\"controller_steps\":1,\"controller_aggregate\":1,\"final_samples\":2}}",
     "\"batch_size\":10", "test_perplexity"},
    {"nasrl-cnn", "synthetic",
     "{\"algorithm\":\"nas-rl\",\"dataset\":\"synthetic\",\"seed\":5,"
     "\"budget\":{\"max_architectures\":2},\"hyperparameters\":{\"child_epochs\":1,"
     "\"children_per_update\":2,\"lstm_size\":16,\"start_layers\":2,\"max_layers\":2,"
     "\"num_filters\":[4,6],\"max_examples\":500}}",
     "\"batch_size\":50,\"max_examples\":200", "test_accuracy"},
    {"nasrl-rnn", "fortunes",
     "{\"algorithm\":\"nas-rl\",\"search_space\":\"nasrl-rnn\",\"dataset\":\"fortunes\","
     "\"seed\":5,\"budget\":{\"max_architectures\":2},\"hyperparameters\":{"
     "\"child_epochs\":1,\"children_per_update\":2,\"tree_base\":2,\"lstm_size\":8,"
     "\"embed\":8,\"hidden\":8,\"bptt\":8,\"batch_size\":10}}",
     "\"batch_size\":10", "test_perplexity"},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

Test(model, every_search_result_trains_as_served)
{
    nasd_proc d;
    char search[NCASES][33], train[NCASES][33];
    int text_ok = access(FORTUNES, R_OK) == 0;
    start_in(&d, NULL, flags, NULL);
    for (size_t i = 0; i < NCASES; i++)
        if (text_ok || strcmp(cases[i].dataset, "fortunes"))
            submit(d.port, cases[i].spec, search[i]);
    for (size_t i = 0; i < NCASES; i++) {
        if (!text_ok && !strcmp(cases[i].dataset, "fortunes"))
            continue;
        char *arch = served_arch(d.port, search[i]);
        /* the space the served architecture names is the search's */
        json_t *a = json_loads(arch, 0, NULL);
        cr_assert_str_eq(str_at(a, "space"), cases[i].what, "%s", arch);
        json_decref(a);
        /* the text models of the searches are tiny: train one as tiny */
        char extra[256];
        snprintf(extra, sizeof(extra), "%s", cases[i].train_extra);
        char *with_size = NULL;
        if (!strcmp(cases[i].what, "nasrl-rnn")) {
            /* a nas-rl search serves its cell with the sizes it trained */
            json_t *b = json_loads(arch, 0, NULL);
            cr_assert_eq(json_integer_value(json_object_get(b, "hidden")), 8, "%s", arch);
            cr_assert_eq(json_integer_value(json_object_get(b, "embed")), 8, "%s", arch);
            json_decref(b);
            size_t n = strlen(arch) + 32;
            with_size = malloc(n);
            snprintf(with_size, n, "%.*s,\"max_vocab\":200}", (int)strlen(arch) - 1, arch);
        } else if (!strcmp(cases[i].what, "darts-rnn") || !strcmp(cases[i].what, "enas-rnn")) {
            /* the size keys beside the cell, as a user would add them */
            size_t n = strlen(arch) + 128;
            with_size = malloc(n);
            snprintf(with_size, n, "%.*s,\"hidden\":8,\"bptt\":8,\"max_vocab\":200%s}",
                     (int)strlen(arch) - 1, arch,
                     strcmp(cases[i].what, "enas-rnn") ? ",\"embed\":8" : "");
        } else if (!strcmp(cases[i].what, "darts-cnn") || !strcmp(cases[i].what, "enas-micro") ||
                   !strcmp(cases[i].what, "enas-macro")) {
            size_t n = strlen(arch) + 64;
            with_size = malloc(n);
            snprintf(with_size, n, "%.*s,\"C\":4%s}", (int)strlen(arch) - 1, arch,
                     !strcmp(cases[i].what, "enas-macro")  ? ""
                     : !strcmp(cases[i].what, "darts-cnn") ? ",\"layers\":3"
                                                           : ",\"layers\":1");
        }
        train_on(d.port, cases[i].dataset, with_size ? with_size : arch, extra, train[i]);
        free(with_size);
        free(arch);
    }
    for (size_t i = 0; i < NCASES; i++) {
        if (!text_ok && !strcmp(cases[i].dataset, "fortunes"))
            continue;
        check_test_metric(d.port, train[i], cases[i].metric);
        train_result_trains_again(d.port, train[i], cases[i].dataset);
        /* its model is there */
        http_resp r;
        char path[320];
        snprintf(path, sizeof(path), "/v1/jobs/%s/model", train[i]);
        request(d.port, "GET", path, NULL, NULL, &r);
        cr_assert_eq(r.status, 200, "%s: %s", cases[i].what, r.body);
        http_resp_free(&r);
    }
    stop_ok(&d);
    PASS();
}

/* ============================================ final training, nas-rl */

Test(model, nasrl_and_random_final_training_end_with_a_test_metric)
{
    nasd_proc d;
    char rl[33], rnd[33], rnn[33];
    start_in(&d, NULL, flags, NULL);
    submit(d.port,
           "{\"algorithm\":\"nas-rl\",\"dataset\":\"synthetic\",\"seed\":5,"
           "\"budget\":{\"max_architectures\":2},\"hyperparameters\":{\"child_epochs\":1,"
           "\"children_per_update\":2,\"lstm_size\":16,\"start_layers\":2,\"max_layers\":2,"
           "\"num_filters\":[4,6],\"max_examples\":500},"
           "\"final_training\":{\"enabled\":true,\"epochs\":1}}",
           rl);
    submit(d.port,
           "{\"algorithm\":\"random\",\"search_space\":\"enas-micro\",\"dataset\":\"synthetic\","
           "\"seed\":5,\"budget\":{\"max_architectures\":2},\"hyperparameters\":{"
           "\"child_epochs\":1,\"batch_size\":50,\"parallel_children\":2,\"C\":4,"
           "\"layers\":1,\"nodes\":3,\"max_examples\":500},"
           "\"final_training\":{\"enabled\":true,\"epochs\":1}}",
           rnd);
    int text_ok = access(FORTUNES, R_OK) == 0;
    if (text_ok)
        submit(d.port,
               "{\"algorithm\":\"random\",\"search_space\":\"nasrl-rnn\",\"dataset\":"
               "\"fortunes\",\"seed\":5,\"budget\":{\"max_architectures\":2},"
               "\"hyperparameters\":{\"child_epochs\":1,\"parallel_children\":2,"
               "\"tree_base\":2,\"embed\":8,\"hidden\":8,\"bptt\":8,\"batch_size\":10},"
               "\"final_training\":{\"enabled\":true,\"epochs\":1}}",
               rnn);
    const char *ids[3] = {rl, rnd, rnn};
    const char *metric[3] = {"test_accuracy", "test_accuracy", "test_perplexity"};
    for (int k = 0; k < (text_ok ? 3 : 2); k++) {
        check_test_metric(d.port, ids[k], metric[k]);
        json_t *res = get_sub(d.port, ids[k], "result");
        json_t *ft = at(res, "details.final_training");
        cr_assert(json_is_object(ft), "%s", text_of(res));
        cr_assert_eq(int_at(ft, "epochs"), 1, "%s", text_of(res));
        cr_assert(json_equal(json_object_get(ft, metric[k]), at(res, "value")), "%s", text_of(res));
        /* the search's own metric is still there */
        cr_assert(
            json_is_number(at(res, k == 2 ? "details.val_perplexity" : "details.val_accuracy")),
            "%s", text_of(res));
        json_decref(res);
    }
    stop_ok(&d);
    PASS();
}

/* ======================================================== the file */

static uint64_t le64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int k = 7; k >= 0; k--)
        v = v << 8 | b[k];
    return v;
}

/* The body is safetensors: header length, JSON header, data that the
 * tensors tile exactly; returns the header (tensors and __metadata__). */
static json_t *parse_safetensors(const http_resp *r)
{
    cr_assert(r->body_len > 8, "%zu bytes", r->body_len);
    uint64_t n = le64((const unsigned char *)r->body);
    cr_assert(8 + n <= r->body_len, "header of %llu bytes", (unsigned long long)n);
    json_error_t e;
    json_t *h = json_loadb(r->body + 8, (size_t)n, 0, &e);
    json_object_set_new(h, "__data_start__", json_integer((json_int_t)(8 + n)));
    cr_assert(h, "header: %s", e.text);
    const char *name;
    json_t *t;
    uint64_t covered = 0, data = r->body_len - 8 - n;
    json_object_foreach(h, name, t)
    {
        if (!strncmp(name, "__", 2))
            continue;
        cr_assert_str_eq(str_at(t, "dtype"), "F32", "%s", name);
        uint64_t numel = 1, b = json_integer_value(json_array_get(at(t, "data_offsets"), 0)),
                 e2 = json_integer_value(json_array_get(at(t, "data_offsets"), 1));
        size_t i;
        json_t *dim;
        json_array_foreach(at(t, "shape"), i, dim) numel *= (uint64_t)json_integer_value(dim);
        cr_assert_eq(e2 - b, numel * 4, "%s: %s", name, text_of(t));
        cr_assert(e2 <= data, "%s past the data", name);
        covered += e2 - b;
    }
    cr_assert_eq(covered, data, "the tensors tile the data");
    return h;
}

static int file_exists(const char *dir, const char *id)
{
    char path[4200];
    struct stat st;
    snprintf(path, sizeof(path), "%s/models/%s.safetensors", dir, id);
    return stat(path, &st) == 0;
}

Test(model, the_trained_network_is_a_safetensors_file)
{
    nasd_proc d;
    char id[33], search[33], path[128];
    http_resp r;
    start_in(&d, NULL, flags, NULL);
    submit(d.port,
           "{\"algorithm\":\"train\",\"dataset\":\"synthetic\",\"seed\":2,"
           "\"architecture\":{\"space\":\"fixed-cnn\",\"channels\":[4,6],\"hidden\":12},"
           "\"budget\":{\"epochs\":2},\"hyperparameters\":{\"max_examples\":600}}",
           id);
    /* while it may still run: 409 (or 200 when it was that quick) */
    snprintf(path, sizeof(path), "/v1/jobs/%s/model", id);
    request(d.port, "GET", path, NULL, NULL, &r);
    cr_assert(r.status == 409 || r.status == 200, "%d %s", r.status, r.body);
    http_resp_free(&r);

    json_t *job = succeeded(d.port, id);
    double acc = json_number_value(at(job, "result.value"));
    json_decref(job);
    /* max_examples: 600 images, batch 64: 9 steps an epoch */
    json_t *res = get_sub(d.port, id, "result");
    cr_assert_eq(int_at(res, "details.steps"), 18, "%s", text_of(res));
    json_decref(res);
    request(d.port, "GET", path, NULL, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.head, "application/octet-stream"), "%s", r.head);
    cr_assert(strstr(r.head, "attachment"), "%s", r.head);
    json_t *h = parse_safetensors(&r);
    const char *model_body = r.body;

    /* the network the spec describes, and nothing of the optimizer */
    static const struct {
        const char *name;
        int shape[4], ndim;
    } want[] = {
        {"block0.conv.w", {4, 1, 3, 3}, 4}, {"block0.bn.gamma", {4}, 1},
        {"block0.bn.running_mean", {4}, 1}, {"block1.conv.w", {6, 4, 3, 3}, 4},
        {"block1.bn.running_var", {6}, 1},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        json_t *t = json_object_get(h, want[i].name);
        cr_assert(t, "%s missing: %s", want[i].name, text_of(h));
        cr_assert_eq((int)json_array_size(at(t, "shape")), want[i].ndim, "%s", want[i].name);
        for (int k = 0; k < want[i].ndim; k++)
            cr_assert_eq(json_integer_value(json_array_get(at(t, "shape"), (size_t)k)),
                         want[i].shape[k], "%s", want[i].name);
    }
    const char *name;
    json_t *t;
    json_object_foreach(h, name, t) cr_assert(!strchr(name, '#'), "moment %s in a model", name);

    /* The weights are the trained ones: byte for byte those of the job's
     * last checkpoint (written at the end of its last epoch, before the
     * test set was scored with them). */
    {
        char ckpt[PATH_MAX + 512] = "";
        DIR *dir;
        struct dirent *de;
        snprintf(ckpt, sizeof(ckpt), "%s/checkpoints", d.dir);
        cr_assert((dir = opendir(ckpt)), "%s", ckpt);
        while ((de = readdir(dir)))
            if (!strncmp(de->d_name, id, 32)) {
                snprintf(ckpt, sizeof(ckpt), "%s/checkpoints/%s", d.dir, de->d_name);
                break;
            }
        closedir(dir);
        FILE *f = fopen(ckpt, "rb");
        cr_assert(f, "no checkpoint of %s in %s", id, ckpt);
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        http_resp c = {.body = malloc((size_t)len + 1), .body_len = (size_t)len};
        cr_assert(fread(c.body, 1, (size_t)len, f) == (size_t)len);
        fclose(f);
        uint64_t cn = le64((const unsigned char *)c.body);
        json_t *ch = json_loadb(c.body + 8, (size_t)cn, 0, NULL);
        cr_assert(ch, "checkpoint header");
        size_t compared = 0;
        json_object_foreach(h, name, t)
        {
            if (!strncmp(name, "__", 2))
                continue;
            json_t *ct = json_object_get(ch, name);
            cr_assert(ct, "%s is not in the checkpoint", name);
            json_int_t mb = json_integer_value(json_array_get(at(t, "data_offsets"), 0));
            json_int_t me = json_integer_value(json_array_get(at(t, "data_offsets"), 1));
            json_int_t cb = json_integer_value(json_array_get(at(ct, "data_offsets"), 0));
            cr_assert(!memcmp(model_body + int_at(h, "__data_start__") + mb, c.body + 8 + cn + cb,
                              (size_t)(me - mb)),
                      "%s differs from the checkpoint's", name);
            compared++;
        }
        cr_assert(compared >= 5);
        json_decref(ch);
        free(c.body);
    }
    cr_assert(!json_object_get(h, "rng.state"), "the RNG in a model");

    json_t *meta = json_object_get(h, "__metadata__");
    static const char *const keys[] = {"format",  "nasd_version", "architecture",
                                       "dataset", "metric",       "metric_value",
                                       "input",   "classes",      "tensors"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        cr_assert(json_is_string(json_object_get(meta, keys[i])), "%s: %s", keys[i], text_of(meta));
    cr_assert_str_eq(str_at(meta, "metric"), "test_accuracy");
    cr_assert(fabs(strtod(str_at(meta, "metric_value"), NULL) - acc) < 1e-12, "%s vs %g",
              str_at(meta, "metric_value"), acc);
    json_t *input = json_loads(str_at(meta, "input"), 0, NULL);
    cr_assert(input, "%s", str_at(meta, "input"));
    cr_assert_eq(json_integer_value(json_array_get(at(input, "shape"), 0)), 1);
    cr_assert_eq(json_integer_value(json_array_get(at(input, "shape"), 1)), 16);
    cr_assert_eq(json_array_size(at(input, "mean")), 1);
    cr_assert_eq(json_array_size(at(input, "std")), 1);
    json_decref(input);
    json_t *arch = json_loads(str_at(meta, "architecture"), 0, NULL);
    cr_assert_str_eq(str_at(arch, "space"), "fixed-cnn");
    json_decref(arch);
    json_decref(h);
    http_resp_free(&r);

    /* a search without final training has no model */
    submit(d.port,
           "{\"algorithm\":\"nas-rl\",\"dataset\":\"synthetic\",\"seed\":5,"
           "\"budget\":{\"max_architectures\":2},\"hyperparameters\":{\"child_epochs\":1,"
           "\"children_per_update\":2,\"lstm_size\":16,\"start_layers\":1,\"max_layers\":1,"
           "\"num_filters\":[4],\"max_examples\":300}}",
           search);
    json_decref(succeeded(d.port, search));
    snprintf(path, sizeof(path), "/v1/jobs/%s/model", search);
    json_decref(expect_problem(d.port, "GET", path, NULL, 404, "not-found"));

    /* DELETE removes the file */
    cr_assert(file_exists(d.dir, id));
    snprintf(path, sizeof(path), "/v1/jobs/%s", id);
    cr_assert_eq(status_of(d.port, "DELETE", path, NULL, NULL, NULL), 204);
    cr_assert(!file_exists(d.dir, id), "the model outlived its job");
    snprintf(path, sizeof(path), "/v1/jobs/%s/model", id);
    json_decref(expect_problem(d.port, "GET", path, NULL, 404, "not-found"));
    stop_ok(&d);
    PASS();
}
