// SPDX-License-Identifier: MIT
/*
 * test_integration_onnx.c - GET /v1/jobs/{id}/model?format=onnx through a
 * real nasd (issue #14 part 3):
 *
 *   - a train job's image network and a nas-rl search's final training
 *     are served as ONNX: 200, an attachment named <id>.onnx, the bytes
 *     of <state>/models/<id>.onnx, a model with the input "pixels" and
 *     the output "logits"; ?format=safetensors (the default) still
 *     serves the weights;
 *   - ?format=other is a 400 problem naming the allowed values;
 *   - the LSTM language model and a random search's nasrl-rnn final
 *     training are served as their one step, the safetensors too;
 *   - DELETE of the job removes the .onnx file too.
 *
 * (tests/test_onnx checks the models' structure; tests/onnx/run.sh runs
 * them in onnxruntime.) Waits poll with deadlines, never a fixed sleep.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "itest.h"
#include "tmpdir.h"

#define JOB_MS 120000
#define FORTUNES "/usr/share/games/fortunes/fortunes"

static const char *const flags[] = {"--workers", "2", "--threads-per-job", "1", NULL};

TestSuite(onnx_route, .init = begin_test, .fini = finish_test);

static void succeeded(int port, const char *id)
{
    json_t *job = wait_job(port, id, NULL, JOB_MS);
    cr_assert_str_eq(str_at(job, "state"), "succeeded", "%s", text_of(job));
    json_decref(job);
}

static char *file_of(const char *dir, const char *id, const char *ext, size_t *len)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/models/%s.%s", dir, id, ext);
    return file_slurp(path, len);
}

static int has(const char *buf, size_t len, const char *what)
{
    return memmem(buf, len, what, strlen(what)) != NULL;
}

/* GET ?format=onnx of job id: 200, the file nasd wrote, a model whose
 * first input is named input. */
static void serves_onnx(const nasd_proc *d, const char *id, const char *input)
{
    char path[128], disp[96];
    http_resp r;
    size_t len = 0;
    snprintf(path, sizeof(path), "/v1/jobs/%s/model?format=onnx", id);
    request(d->port, "GET", path, NULL, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    snprintf(disp, sizeof(disp), "filename=\"%s.onnx\"", id);
    cr_assert(strstr(r.head, disp), "%s", r.head);
    cr_assert(strstr(r.head, "application/octet-stream"), "%s", r.head);
    char *file = file_of(d->dir, id, "onnx", &len);
    cr_assert(file, "models/%s.onnx", id);
    cr_assert_eq(r.body_len, len);
    cr_assert(memcmp(r.body, file, len) == 0, "the served bytes are the file's");
    /* ModelProto: field 1 (ir_version, varint) first; the graph's input
     * and output by name; the producer. */
    cr_assert_eq((unsigned char)r.body[0], 0x08);
    cr_assert(has(r.body, r.body_len, input) && has(r.body, r.body_len, "logits"));
    cr_assert(has(r.body, r.body_len, "nasd"));
    free(file);
    http_resp_free(&r);
}

Test(onnx_route, image_and_language_models_as_onnx)
{
    nasd_proc d;
    char train[33], rl[33], text[33], rnn[33], path[128];
    http_resp r;
    int text_ok = access(FORTUNES, R_OK) == 0;
    start_in(&d, NULL, flags, NULL);
    submit(d.port,
           "{\"algorithm\":\"train\",\"dataset\":\"synthetic\",\"seed\":2,"
           "\"architecture\":{\"space\":\"fixed-cnn\",\"channels\":[4,6],\"hidden\":12},"
           "\"budget\":{\"epochs\":1},\"hyperparameters\":{\"max_examples\":300}}",
           train);
    submit(d.port,
           "{\"algorithm\":\"nas-rl\",\"dataset\":\"synthetic\",\"seed\":5,"
           "\"budget\":{\"max_architectures\":2},\"hyperparameters\":{\"child_epochs\":1,"
           "\"children_per_update\":2,\"lstm_size\":16,\"start_layers\":2,\"max_layers\":2,"
           "\"num_filters\":[4,6],\"max_examples\":300},"
           "\"final_training\":{\"enabled\":true,\"epochs\":1}}",
           rl);
    if (text_ok) {
        submit(d.port,
               "{\"algorithm\":\"train\",\"dataset\":\"fortunes\",\"seed\":5,"
               "\"architecture\":{\"space\":\"lstm-lm\",\"embed\":8,\"hidden\":8,"
               "\"bptt\":8,\"layers\":1},\"budget\":{\"epochs\":1},"
               "\"hyperparameters\":{\"batch_size\":10}}",
               text);
        submit(d.port,
               "{\"algorithm\":\"random\",\"search_space\":\"nasrl-rnn\",\"dataset\":"
               "\"fortunes\",\"seed\":5,\"budget\":{\"max_architectures\":2},"
               "\"hyperparameters\":{\"child_epochs\":1,\"parallel_children\":2,"
               "\"tree_base\":2,\"embed\":8,\"hidden\":8,\"bptt\":8,\"batch_size\":10},"
               "\"final_training\":{\"enabled\":true,\"epochs\":1}}",
               rnn);
    }

    /* an unknown format: 400 naming the allowed ones, before anything */
    snprintf(path, sizeof(path), "/v1/jobs/%s/model?format=pt", train);
    request(d.port, "GET", path, NULL, NULL, &r);
    json_t *p = problem(&r, 400, "invalid-field");
    cr_assert_str_eq(str_at(p, "parameter"), "format", "%s", text_of(p));
    cr_assert(strstr(str_at(p, "detail"), "safetensors, onnx"), "%s", text_of(p));
    cr_assert_eq(json_array_size(json_object_get(p, "allowed")), 2, "%s", text_of(p));
    json_decref(p);
    http_resp_free(&r);

    succeeded(d.port, train);
    serves_onnx(&d, train, "pixels");
    snprintf(path, sizeof(path), "/v1/jobs/%s/model?format=safetensors", train);
    request(d.port, "GET", path, NULL, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.head, ".safetensors\""), "%s", r.head);
    http_resp_free(&r);

    succeeded(d.port, rl); /* the final training's network (jobs/nasrl_job.c) */
    serves_onnx(&d, rl, "pixels");

    if (text_ok) {
        succeeded(d.port, text);
        serves_onnx(&d, text, "tokens");
        succeeded(d.port, rnn); /* a nasrl-rnn final training's cell, one step */
        serves_onnx(&d, rnn, "tokens");
        snprintf(path, sizeof(path), "/v1/jobs/%s/model", rnn);
        cr_assert_eq(status_of(d.port, "GET", path, NULL, NULL, NULL), 200);
    }

    /* DELETE removes both files */
    size_t len;
    char *f = file_of(d.dir, train, "onnx", &len);
    cr_assert(f);
    free(f);
    snprintf(path, sizeof(path), "/v1/jobs/%s", train);
    cr_assert_eq(status_of(d.port, "DELETE", path, NULL, NULL, NULL), 204);
    cr_assert_null(file_of(d.dir, train, "onnx", &len), "the ONNX file outlived its job");
    cr_assert_null(file_of(d.dir, train, "safetensors", &len));
    stop_ok(&d);
    PASS();
}

/* A random search's final training on each text space keeps a language
 * model that serves its ONNX step, answers a text's perplexity, and whose
 * result architecture carries the sizes it was trained with (so a train
 * job on it, and the loader, build the same network). */
Test(onnx_route, random_final_trainings_on_text_spaces)
{
    static const char *const spaces[] = {"darts-rnn", "enas-rnn", "nasrl-rnn"};
    if (access(FORTUNES, R_OK) != 0)
        cr_skip_test("no fortunes corpus");
    nasd_proc d;
    char id[3][33], body[640], path[128];
    start_in(&d, NULL, flags, NULL);
    for (int i = 0; i < 3; i++) {
        snprintf(body, sizeof(body),
                 "{\"algorithm\":\"random\",\"search_space\":\"%s\",\"dataset\":"
                 "\"fortunes\",\"seed\":5,\"budget\":{\"max_architectures\":2},"
                 "\"hyperparameters\":{\"child_epochs\":1,\"parallel_children\":2,%s"
                 "\"hidden\":8,\"bptt\":8,\"batch_size\":10},"
                 "\"final_training\":{\"enabled\":true,\"epochs\":1}}",
                 spaces[i],
                 i == 0   ? "\"embed\":8,\"max_vocab\":200,"
                 : i == 1 ? "\"nodes\":3,\"max_vocab\":200,"
                          : "\"tree_base\":2,\"embed\":8,");
        submit(d.port, body, id[i]);
    }
    for (int i = 0; i < 3; i++) {
        succeeded(d.port, id[i]);
        json_t *res = get_sub(d.port, id[i], "result");
        json_t *arch = json_object_get(res, "architecture");
        cr_assert_eq(json_integer_value(json_object_get(arch, "hidden")), 8, "%s: %s", spaces[i],
                     text_of(res));
        cr_assert_eq(json_integer_value(json_object_get(arch, "bptt")), 8, "%s", text_of(res));
        json_decref(res);
        serves_onnx(&d, id[i], "tokens");
        snprintf(path, sizeof(path), "/v1/jobs/%s/predictions", id[i]);
        json_t *p = call(d.port, "POST", path, "{\"text\":\"the man and the dog\\n\"}", 200);
        cr_assert_eq(json_integer_value(json_object_get(p, "tokens")), 6, "%s: %s", spaces[i],
                     text_of(p));
        cr_assert(json_number_value(json_object_get(p, "perplexity")) > 1.0, "%s", text_of(p));
        json_decref(p);
    }
    stop_ok(&d);
    PASS();
}
