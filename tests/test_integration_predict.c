// SPDX-License-Identifier: MIT
/*
 * test_integration_predict.c - POST /v1/jobs/{id}/predictions (issue #14
 * part 4) through a real nasd:
 *
 *   - a small fixed CNN trained on Fashion-MNIST (max_examples), then
 *     the whole test set the job evaluated sent back as IDX files: the
 *     accuracy of the predicted classes is the job's test accuracy
 *     exactly; a few of the same images as JSON pixel arrays get the same
 *     classes and probabilities;
 *   - every limit refuses with a problem naming it: max-predict-images,
 *     max-body, max-predict-requests (two requests at once with a limit
 *     of one);
 *   - malformed bodies name what is wrong (JSON pointer or the IDX
 *     header); no job, a queued job, a job without a model, a deleted
 *     job;
 *   - a language model: its test split sent back as texts gives the
 *     job's test perplexity, a continuation is the same per seed, its
 *     limits (max-predict-text-bytes, max-predict-tokens) and fields are
 *     named.
 *
 * Waits poll with deadlines, never a fixed sleep.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "itest.h"
#include "nas.h"
#include "rawsock.h"
#include "scale.h"

#define JOB_MS 300000
#define FMNIST "/usr/share/datasets/fashion-mnist"
#define FORTUNES "/usr/share/games/fortunes/fortunes"
#define CHUNK 2500 /* images per request: max-predict-images */

static const char *const flags[] = {"--workers",
                                    "1",
                                    "--threads-per-job",
                                    "1",
                                    "--max-predict-images",
                                    "2500",
                                    "--max-body",
                                    "2200000",
                                    "--max-predict-requests",
                                    "1",
                                    NULL};

TestSuite(predict, .init = begin_test, .fini = finish_test);

static nas_dataset *test_set(void)
{
    nas_dataset *t = NULL;
    if (nas_idx_load(FMNIST "/t10k-images-idx3-ubyte.gz", FMNIST "/t10k-labels-idx1-ubyte.gz",
                     &t) != NAS_OK)
        return NULL;
    return t;
}

/* An IDX file (magic 0x00000803) of images [from, from + n) of t. */
static char *idx_of(const nas_dataset *t, int from, int n, size_t *len)
{
    size_t img = (size_t)t->h * t->w;
    *len = 16 + (size_t)n * img;
    unsigned char *b = malloc(*len);
    uint32_t head[4] = {0x803, (uint32_t)n, (uint32_t)t->h, (uint32_t)t->w};
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 4; k++)
            b[4 * i + k] = (unsigned char)(head[i] >> (24 - 8 * k));
    memcpy(b + 16, t->x + (size_t)from * img, (size_t)n * img);
    return (char *)b;
}

static void predict_path(char *out, size_t n, const char *id)
{
    snprintf(out, n, "/v1/jobs/%s/predictions", id);
}

/* POST of an IDX body: the answer into r. */
static void post_idx(int port, const char *id, const char *body, size_t len, http_resp *r)
{
    char path[96];
    predict_path(path, sizeof path, id);
    cr_assert_eq(http_request(port, "POST", path, "Content-Type: application/octet-stream\r\n",
                              body, len, test_scaled_ms(60000), r),
                 0, "%s", http_errmsg());
}

static json_t *predict_json(int port, const char *id, const char *body, int status)
{
    char path[96];
    predict_path(path, sizeof path, id);
    return call(port, "POST", path, body, status);
}

static json_t *predict_problem(int port, const char *id, const char *body, int status,
                               const char *slug)
{
    char path[96];
    predict_path(path, sizeof path, id);
    return expect_problem(port, "POST", path, body, status, slug);
}

/* The body {"images": [...]} of images [from, from + n) of t. */
static char *json_images(const nas_dataset *t, int from, int n)
{
    json_t *imgs = json_array();
    for (int i = from; i < from + n; i++) {
        json_t *im = json_array();
        for (int y = 0; y < t->h; y++) {
            json_t *row = json_array();
            for (int x = 0; x < t->w; x++)
                json_array_append_new(row, json_integer(t->x[((size_t)i * t->h + y) * t->w + x]));
            json_array_append_new(im, row);
        }
        json_array_append_new(imgs, im);
    }
    json_t *doc = json_pack("{s:o}", "images", imgs);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

static void expect_pointer(json_t *p, const char *ptr, const char *word)
{
    cr_assert_str_eq(str_at(p, "pointer"), ptr, "%s", text_of(p));
    if (word)
        cr_assert(strstr(str_at(p, "detail"), word), "%s", text_of(p));
    json_decref(p);
}

#define TRAIN                                                                                      \
    "{\"algorithm\":\"train\",\"dataset\":\"fashion-mnist\",\"seed\":7,"                           \
    "\"architecture\":{\"space\":\"fixed-cnn\",\"channels\":[4,8],\"hidden\":16},"                 \
    "\"budget\":{\"epochs\":1},\"hyperparameters\":{\"batch_size\":50,\"max_examples\":1000}}"

Test(predict, test_set_replayed_reaches_the_jobs_test_accuracy_exactly)
{
    nas_dataset *t = test_set();
    if (!t)
        cr_skip_test("Fashion-MNIST is not installed (dataset-fashion-mnist)");
    nasd_proc d;
    char id[33], queued[33];
    start_in(&d, NULL, flags, NULL);
    submit(d.port, TRAIN, id);
    /* one worker: this one waits behind the first, then runs until it is
     * cancelled at the end (queued or running, it has no model yet) */
    submit(d.port,
           "{\"algorithm\":\"train\",\"dataset\":\"synthetic\",\"budget\":{\"epochs\":1000},"
           "\"architecture\":{\"space\":\"fixed-cnn\",\"channels\":[4],\"hidden\":8}}",
           queued);
    json_t *p = predict_problem(d.port, queued, "{\"images\":[]}", 409, "conflict");
    json_decref(p);
    json_decref(wait_job(d.port, id, "succeeded", JOB_MS));
    json_t *res = get_sub(d.port, id, "result");
    double want = json_number_value(at(res, "value"));
    cr_assert_str_eq(str_at(res, "metric"), "test_accuracy", "%s", text_of(res));
    json_decref(res);

    long correct = 0;
    int classes[3];
    for (int s = 0; s < t->n; s += CHUNK) {
        int n = t->n - s < CHUNK ? t->n - s : CHUNK;
        size_t len;
        char *body = idx_of(t, s, n, &len);
        http_resp r = {0};
        post_idx(d.port, id, body, len, &r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        json_t *out = http_json(&r);
        json_t *list = json_object_get(out, "predictions");
        cr_assert_eq(json_array_size(list), (size_t)n, "%s", r.body);
        for (int i = 0; i < n; i++) {
            json_t *one = json_array_get(list, (size_t)i);
            json_int_t k = int_at(one, "class");
            correct += k == t->y[s + i];
            if (s == 0 && i < 3)
                classes[i] = (int)k;
            cr_assert_eq(json_array_size(json_object_get(one, "probabilities")), 10);
            cr_assert(str_at(one, "label"));
        }
        json_decref(out);
        http_resp_free(&r);
        free(body);
    }
    double got = (double)correct / t->n;
    cr_assert_eq(got, want, "predictions score %.17g, the job reported %.17g", got, want);

    /* the same images as JSON pixel arrays */
    char *body = json_images(t, 0, 3);
    json_t *out = predict_json(d.port, id, body, 200);
    free(body);
    for (int i = 0; i < 3; i++) {
        json_t *one = json_array_get(json_object_get(out, "predictions"), (size_t)i);
        cr_assert_eq(int_at(one, "class"), classes[i], "%s", text_of(out));
        static const char *const names[] = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                            "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                            "Bag",         "Ankle boot"};
        cr_assert_str_eq(str_at(one, "label"), names[classes[i]]);
        double sum = 0;
        json_t *pr = json_object_get(one, "probabilities");
        for (size_t k = 0; k < json_array_size(pr); k++)
            sum += json_number_value(json_array_get(pr, k));
        cr_assert(sum > 0.999 && sum < 1.001, "%s", text_of(one));
    }
    json_decref(out);

    /* ------------------------------------------------ limits */
    size_t len;
    char *big = idx_of(t, 0, CHUNK + 1, &len);
    http_resp r = {0};
    post_idx(d.port, id, big, len, &r);
    p = problem(&r, 400, "limit-exceeded");
    cr_assert_str_eq(str_at(p, "limit_name"), "max-predict-images", "%s", text_of(p));
    cr_assert_eq(int_at(p, "limit"), CHUNK);
    json_decref(p);
    http_resp_free(&r);
    free(big);
    body = malloc(2300000);
    memset(body, ' ', 2299999);
    body[2299999] = '\0';
    p = predict_problem(d.port, id, body, 413, "body-too-large");
    cr_assert_str_eq(str_at(p, "limit_name"), "max-body", "%s", text_of(p));
    json_decref(p);
    free(body);

    /* max-predict-requests 1: a second request while the first is worked
     * on. Two connections send at once; the race is retried until the
     * refusal has been seen (it is, at once, on any machine where the
     * first takes longer than reading the second). */
    char *chunk = idx_of(t, 0, CHUNK, &len);
    char head[256];
    int refused = 0;
    for (int attempt = 0; attempt < 50 && !refused; attempt++) {
        int fds[2];
        snprintf(head, sizeof head,
                 "POST /v1/jobs/%s/predictions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 "Content-Type: application/octet-stream\r\nContent-Length: %zu\r\n"
                 "Connection: close\r\n\r\n",
                 id, len);
        for (int k = 0; k < 2; k++) {
            fds[k] = raw_connect(d.port, test_scaled_ms(60000));
            cr_assert(fds[k] >= 0);
        }
        for (int k = 0; k < 2; k++)
            cr_assert_eq(raw_send_all(fds[k], head, strlen(head)), strlen(head));
        for (int k = 0; k < 2; k++)
            cr_assert_eq(raw_send_all(fds[k], chunk, len), len);
        for (int k = 0; k < 2; k++) {
            size_t n;
            char *ans = raw_read_all(fds[k], 1 << 24, &n);
            cr_assert(ans, "no answer");
            if (strstr(ans, " 429 ")) {
                refused = 1;
                cr_assert(strstr(ans, "\"max-predict-requests\""), "%s", ans);
                cr_assert(strstr(ans, "Retry-After: 1"), "%s", ans);
            } else {
                cr_assert(strstr(ans, " 200 "), "%.300s", ans);
            }
            free(ans);
            close(fds[k]);
        }
    }
    cr_assert(refused, "two requests at once never met max-predict-requests 1");
    free(chunk);
    http_resp mr = {0};
    cr_assert_eq(http_get(d.port, "/metrics", &mr), 0);
    cr_assert(strstr(mr.body, "/v1/jobs/{id}/predictions"), "no route label");
    cr_assert(strstr(mr.body, "max-predict-requests"), "no refusal counter");
    http_resp_free(&mr);

    /* ------------------------------------------------ malformed bodies */
    json_decref(predict_problem(d.port, id, "{\"images\":", 400, "invalid-json"));
    json_decref(predict_problem(d.port, id, "[]", 400, "bad-request"));
    expect_pointer(predict_problem(d.port, id, "{\"images\":[]}", 400, "invalid-field"), "/images",
                   "non-empty");
    expect_pointer(predict_problem(d.port, id, "{\"images\":[[1]],\"x\":1}", 400, "unknown-field"),
                   "/x", "\"x\"");
    expect_pointer(predict_problem(d.port, id, "{\"images\":[[1,2]]}", 400, "invalid-field"),
                   "/images/0", "28 rows");
    {
        /* one bad pixel in an otherwise good image: each names its index */
        static const char *const bad[] = {"256", "-1", "1.5", "\"a\"", "null"};
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            char *good = json_images(t, 0, 2);
            json_t *doc = json_loads(good, 0, NULL);
            json_t *r3 = json_array_get(json_array_get(json_object_get(doc, "images"), 1), 3);
            json_array_set_new(r3, 4, json_loads(bad[b], JSON_DECODE_ANY, NULL));
            char *text = json_dumps(doc, JSON_COMPACT);
            expect_pointer(predict_problem(d.port, id, text, 400, "invalid-field"), "/images/1/3/4",
                           "0-255");
            free(text);
            free(good);
            json_decref(doc);
        }
    }
    {
        /* a row of 3 pixels in an image of 28 rows */
        char *one = json_images(t, 0, 1);
        json_t *doc = json_loads(one, 0, NULL);
        free(one);
        json_t *im = json_array_get(json_object_get(doc, "images"), 0);
        json_array_set_new(im, 5, json_pack("[i,i,i]", 1, 2, 3));
        char *text = json_dumps(doc, JSON_COMPACT);
        expect_pointer(predict_problem(d.port, id, text, 400, "invalid-field"), "/images/0/5",
                       "28 pixels");
        free(text);
        json_decref(doc);
    }
    {
        http_resp rr = {0};
        post_idx(d.port, id, "\x00\x00\x08\x01\x00\x00\x00\x01", 8, &rr);
        json_t *q = problem(&rr, 400, "invalid-field");
        cr_assert(strstr(str_at(q, "detail"), "IDX"), "%s", text_of(q));
        json_decref(q);
        http_resp_free(&rr);
        char *c = idx_of(t, 0, 2, &len);
        c[11] = 32; /* 32 rows */
        post_idx(d.port, id, c, len, &rr);
        q = problem(&rr, 400, "invalid-field");
        cr_assert(strstr(str_at(q, "detail"), "shape"), "%s", text_of(q));
        json_decref(q);
        http_resp_free(&rr);
        c[11] = 28;
        post_idx(d.port, id, c, len - 1, &rr); /* one pixel short */
        q = problem(&rr, 400, "invalid-field");
        cr_assert(strstr(str_at(q, "detail"), "bytes"), "%s", text_of(q));
        json_decref(q);
        http_resp_free(&rr);
        free(c);
    }
    {
        char path[96];
        predict_path(path, sizeof path, id);
        http_resp rr = {0};
        cr_assert_eq(http_request(d.port, "POST", path, "Content-Type: text/plain\r\n", "x", 1,
                                  test_scaled_ms(10000), &rr),
                     0);
        json_decref(problem(&rr, 415, "unsupported-media-type"));
        http_resp_free(&rr);
    }

    /* ------------------------------------------------ no model */
    json_decref(
        predict_problem(d.port, "0123456789abcdef0123456789abcdef", "{}", 404, "not-found"));
    cancel(d.port, queued);
    json_decref(wait_job(d.port, queued, "cancelled", JOB_MS));
    p = predict_problem(d.port, queued, "{\"images\":[]}", 404, "not-found");
    cr_assert(strstr(str_at(p, "detail"), "has no model"), "%s", text_of(p));
    json_decref(p);
    char path[96];
    snprintf(path, sizeof path, "/v1/jobs/%s", id);
    cr_assert_eq(status_of(d.port, "DELETE", path, NULL, NULL, NULL), 204);
    json_decref(predict_problem(d.port, id, "{\"images\":[]}", 404, "not-found"));
    nas_dataset_free(t);
    stop_ok(&d);
    PASS();
}

/* {"text": T} of a language model's file: T's perplexity, "nll", tokens. */
static json_t *score_text(int port, const char *id, const char *text)
{
    json_t *doc = json_pack("{s:s}", "text", text);
    char *body = json_dumps(doc, JSON_COMPACT);
    json_t *out = predict_json(port, id, body, 200);
    json_decref(doc);
    free(body);
    return out;
}

static char *sample_of(int port, const char *id, const char *body)
{
    json_t *out = predict_json(port, id, body, 200);
    cr_assert_eq(json_array_size(json_object_get(out, "tokens")), 12, "%s", text_of(out));
    char *s = strdup(str_at(out, "continuation"));
    json_decref(out);
    return s;
}

/* The LSTM LM's test split sent back column by column (the columns its
 * evaluation cut it into, each a text of the tokens as the vocabulary
 * spells them, "<eos>" and "<unk>" included): the perplexity of the whole
 * is the job's test perplexity within float round-off (test_predict_text
 * says why; 1e-5 relative here). A continuation is the same for the same
 * seed, differs across seeds; every limit and bad field is named. */
Test(predict, a_language_model_replays_its_test_perplexity)
{
    if (access(FORTUNES, R_OK) != 0)
        cr_skip_test("no fortunes corpus");
    nasd_proc d;
    char id[33];
    start_in(&d, NULL, flags, NULL);
    submit(d.port,
           "{\"algorithm\":\"train\",\"dataset\":\"fortunes\",\"seed\":3,"
           "\"architecture\":{\"space\":\"lstm-lm\",\"embed\":8,\"hidden\":8,\"layers\":1,"
           "\"bptt\":8,\"max_vocab\":200},"
           "\"budget\":{\"epochs\":1},\"hyperparameters\":{\"batch_size\":10}}",
           id);
    json_decref(wait_job(d.port, id, "succeeded", JOB_MS));
    json_t *res = get_sub(d.port, id, "result");
    cr_assert_str_eq(str_at(res, "metric"), "test_perplexity", "%s", text_of(res));
    double want = json_number_value(at(res, "value"));
    json_decref(res);

    nas_corpus *c = NULL;
    cr_assert_eq(nas_corpus_load_fortunes(FORTUNES, NAS_CORPUS_WORD, 200, &c), NAS_OK);
    int cols = c->ntest / 2 < 10 ? c->ntest / 2 : 10, rows = c->ntest / cols;
    double nll = 0.0;
    for (int b = 0; b < cols; b++) {
        size_t cap = 1, len = 0;
        for (int t = 0; t < rows; t++)
            cap += strlen(c->vocab[c->test[b * rows + t]]) + 1;
        char *text = malloc(cap);
        for (int t = 0; t < rows; t++) {
            const char *w = c->vocab[c->test[b * rows + t]];
            len += (size_t)sprintf(text + len, "%s%s", t ? " " : "", w);
        }
        json_t *out = score_text(d.port, id, text);
        cr_assert_eq(int_at(out, "tokens"), rows, "%s", text_of(out));
        cr_assert_eq(int_at(out, "predicted"), rows - 1);
        cr_assert_eq(int_at(out, "unknown"), 0, "every token is the vocabulary's");
        nll += json_number_value(at(out, "nll"));
        free(text);
        json_decref(out);
    }
    double got = exp(nll / ((double)cols * (rows - 1)));
    cr_assert(fabs(got - want) / want < 1e-5, "the job's test perplexity %.9g, replayed %.9g", want,
              got);
    nas_corpus_free(c);

    /* a line's words, one unknown, its <eos> after the newline */
    json_t *one = score_text(d.port, id, "the zzyzx of\n");
    cr_assert_eq(int_at(one, "tokens"), 4, "%s", text_of(one));
    cr_assert_eq(int_at(one, "unknown"), 1, "%s", text_of(one));
    json_decref(one);

    /* continuations */
    const char *b7 = "{\"prompt\":\"the\",\"tokens\":12,\"seed\":7}";
    char *s1 = sample_of(d.port, id, b7), *s2 = sample_of(d.port, id, b7);
    char *s3 = sample_of(d.port, id, "{\"prompt\":\"the\",\"tokens\":12,\"seed\":8}");
    cr_assert_str_eq(s1, s2, "the same request, the same answer");
    cr_assert_str_neq(s1, s3, "seeds 7 and 8 gave one continuation");
    free(s1);
    free(s2);
    free(s3);
    s1 = sample_of(d.port, id, "{\"prompt\":\"\",\"tokens\":12,\"temperature\":0,\"seed\":1}");
    s2 = sample_of(d.port, id, "{\"prompt\":\"\",\"tokens\":12,\"temperature\":0,\"seed\":2}");
    cr_assert_str_eq(s1, s2, "temperature 0: the most likely tokens, whatever the seed");
    free(s1);
    free(s2);

    /* limits and bad fields */
    size_t big = 131073;
    char *text = malloc(big + 1);
    memset(text, 'a', big);
    text[big] = '\0';
    json_t *doc = json_pack("{s:s}", "text", text);
    char *body = json_dumps(doc, JSON_COMPACT);
    json_t *p = predict_problem(d.port, id, body, 400, "limit-exceeded");
    cr_assert_str_eq(str_at(p, "limit_name"), "max-predict-text-bytes", "%s", text_of(p));
    cr_assert_eq(int_at(p, "limit"), 131072);
    expect_pointer(p, "/text", "0 to 131072");
    json_decref(doc);
    free(body);
    free(text);
    p = predict_problem(d.port, id, "{\"prompt\":\"a\",\"tokens\":1001}", 400, "limit-exceeded");
    cr_assert_str_eq(str_at(p, "limit_name"), "max-predict-tokens", "%s", text_of(p));
    expect_pointer(p, "/tokens", "1 to 1000");
    expect_pointer(
        predict_problem(d.port, id, "{\"prompt\":\"a\",\"tokens\":0}", 400, "invalid-field"),
        "/tokens", "1 to 1000");
    expect_pointer(
        predict_problem(d.port, id, "{\"prompt\":\"a\",\"temperature\":-1}", 400, "invalid-field"),
        "/temperature", "0");
    expect_pointer(
        predict_problem(d.port, id, "{\"prompt\":\"a\",\"seed\":-2}", 400, "invalid-field"),
        "/seed", NULL);
    expect_pointer(
        predict_problem(d.port, id, "{\"text\":\"a b\",\"seed\":1}", 400, "invalid-field"), "/seed",
        "prompt");
    expect_pointer(
        predict_problem(d.port, id, "{\"text\":\"a\",\"prompt\":\"b\"}", 400, "invalid-field"),
        "/prompt", "either");
    expect_pointer(predict_problem(d.port, id, "{\"text\":7}", 400, "invalid-field"), "/text",
                   "string");
    expect_pointer(predict_problem(d.port, id, "{\"text\":\"lonely\"}", 400, "invalid-field"),
                   "/text", "2 or more");
    expect_pointer(predict_problem(d.port, id, "{\"images\":[]}", 400, "unknown-field"), "/images",
                   "prompt");
    http_resp r = {0};
    post_idx(d.port, id, "\0\0\x08\x03", 4, &r);
    cr_assert_eq(r.status, 400, "%s", r.body);
    http_resp_free(&r);
    stop_ok(&d);
    PASS();
}

/* A nasrl-cnn network (its model's architecture is its space's own JSON,
 * without "space": the job's stored spec names it) and a darts-cnn one
 * answer, on the synthetic set, one image as JSON; both agree with the
 * IDX form of the same image. */
Test(predict, nasrl_cnn_and_darts_cnn_networks_answer)
{
    static const char *const specs[] = {
        "{\"algorithm\":\"train\",\"dataset\":\"synthetic\",\"seed\":2,"
        "\"architecture\":{\"space\":\"nasrl-cnn\",\"layers\":[{\"filter_height\":3,"
        "\"filter_width\":3,\"filters\":4,\"stride\":1,\"inputs\":[]},{\"filter_height\":3,"
        "\"filter_width\":5,\"filters\":6,\"stride\":1,\"inputs\":[0]}]},"
        "\"budget\":{\"epochs\":1},\"hyperparameters\":{\"max_examples\":400}}",
        "{\"algorithm\":\"train\",\"dataset\":\"synthetic\",\"seed\":2,"
        "\"architecture\":{\"space\":\"darts-cnn\",\"C\":4,\"layers\":3},"
        "\"budget\":{\"epochs\":1},\"hyperparameters\":{\"max_examples\":128,"
        "\"batch_size\":32}}",
    };
    nasd_proc d;
    char id[2][33];
    start_in(&d, NULL, flags, NULL);
    for (int i = 0; i < 2; i++)
        submit(d.port, specs[i], id[i]);
    /* one 16 x 16 image: a bar in row 5 */
    json_t *img = json_array();
    unsigned char idx[16 + 256];
    memset(idx, 0, 16);
    idx[2] = 8, idx[3] = 3, idx[7] = 1, idx[11] = 16, idx[15] = 16;
    for (int y = 0; y < 16; y++) {
        json_t *row = json_array();
        for (int x = 0; x < 16; x++) {
            int v = y == 5 ? 220 : 40;
            json_array_append_new(row, json_integer(v));
            idx[16 + y * 16 + x] = (unsigned char)v;
        }
        json_array_append_new(img, row);
    }
    json_t *doc = json_pack("{s:[o]}", "images", img);
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    for (int i = 0; i < 2; i++) {
        json_decref(wait_job(d.port, id[i], "succeeded", JOB_MS));
        json_t *a = predict_json(d.port, id[i], body, 200);
        http_resp r = {0};
        post_idx(d.port, id[i], (const char *)idx, sizeof idx, &r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        json_t *b = http_json(&r);
        json_t *pa = json_array_get(json_object_get(a, "predictions"), 0);
        json_t *pb = json_array_get(json_object_get(b, "predictions"), 0);
        cr_assert(json_equal(pa, pb), "%s vs %s", text_of(a), r.body);
        cr_assert_eq(json_array_size(json_object_get(pa, "probabilities")), 10);
        json_decref(a);
        json_decref(b);
        http_resp_free(&r);
    }
    free(body);
    stop_ok(&d);
    PASS();
}
