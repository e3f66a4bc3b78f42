// SPDX-License-Identifier: MIT
/*
 * test_integration_datasets.c - uploaded datasets (issue #21) through a
 * real nasd: archives made here (libarchive's writer) of images made here
 * (libpng, libjpeg), uploaded with POST /v1/datasets, their metadata
 * checked, a train job run on one, and every bad input refused with a
 * problem naming the entry, field or limit, leaving no row and no file.
 *
 * Waits poll with deadlines, never a fixed sleep.
 */
#include <criterion/criterion.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <jpeglib.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "itest.h"
#include "rawsock.h"
#include "scale.h"
#include "upload_fixture.h"

TestSuite(datasets, .init = begin_test, .fini = finish_test);

Test(datasets, a_png_archive_uploads_imports_and_trains)
{
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, NULL);
    ent es[32];
    char names[32][64];
    int n = classes_of(es, 12, PNG_GRAY, 8, 8, names, "photos/");
    size_t len;
    char *tar = archive_of(es, n, 0, &len);
    http_resp r;
    cr_assert_eq(upload(d.port, "name=photos&kind=image", tar, len, "application/x-tar", &r), 201,
                 "%s", r.body);
    char loc[128];
    cr_assert_str_eq(http_header(&r, "Location", loc, sizeof loc), "/v1/datasets/photos");
    json_t *ds = http_json(&r);
    cr_assert_str_eq(text_of(at(ds, "meta.shape")), "[1,8,8]", "%s", r.body);
    cr_assert_str_eq(text_of(at(ds, "meta.classes")), "[\"a\",\"b\"]", "%s", r.body);
    cr_assert_eq(int_at(ds, "meta.splits.train.images"), 22, "%s", r.body);
    cr_assert_eq(int_at(ds, "meta.splits.test.images"), 2, "%s", r.body);
    cr_assert_eq(strlen(str_at(ds, "meta.sha256")), 64);
    cr_assert(json_real_value(json_array_get(at(ds, "meta.mean"), 0)) > 0.2);
    json_decref(ds);
    http_resp_free(&r);

    json_t *one = call(d.port, "GET", "/v1/datasets/photos", NULL, 200);
    cr_assert_eq(int_at(one, "classes"), 2);
    json_decref(one);
    /* The sample grid: a row per class, 8 tiles of 8x8 with 2-pixel gaps. */
    request(d.port, "GET", "/v1/datasets/photos?format=png", NULL, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(http_header(&r, "Content-Type", loc, sizeof loc), "image/png");
    png_image im = {.version = PNG_IMAGE_VERSION};
    cr_assert(png_image_begin_read_from_memory(&im, r.body, r.body_len), "%s", im.message);
    cr_assert_eq(im.width, 8 * 10 + 2);
    cr_assert_eq(im.height, 2 * 10 + 2);
    png_image_free(&im);
    http_resp_free(&r);
    json_t *list = call(d.port, "GET", "/v1/datasets", NULL, 200);
    cr_assert(strstr(text_of(list), "\"photos\""), "%s", text_of(list));
    json_decref(list);
    /* The same name again. */
    cr_assert_eq(upload(d.port, "name=photos", tar, len, "application/x-tar", &r), 409);
    json_decref(problem(&r, 409, "conflict"));
    http_resp_free(&r);

    char id[33];
    submit(d.port,
           "{\"algorithm\":\"train\",\"dataset\":\"photos\",\"budget\":{\"epochs\":1},"
           "\"hyperparameters\":{\"batch_size\":8}}",
           id);
    json_t *job = wait_job(d.port, id, NULL, ITEST_JOB_MS);
    cr_assert_str_eq(str_at(job, "state"), "succeeded", "%s", text_of(job));
    json_decref(job);

    /* A DELETE while a job names it is refused. */
    submit(d.port,
           "{\"algorithm\":\"train\",\"dataset\":\"photos\",\"budget\":{\"epochs\":500},"
           "\"hyperparameters\":{\"batch_size\":8}}",
           id);
    json_decref(expect_problem(d.port, "DELETE", "/v1/datasets/photos", NULL, 409, "conflict"));
    cancel(d.port, id);
    wait_state(d.port, id, "cancelled");
    cr_assert_eq(status_of(d.port, "DELETE", "/v1/datasets/photos", NULL, NULL, NULL), 204);
    json_decref(expect_problem(d.port, "GET", "/v1/datasets/photos", NULL, 404, "not-found"));
    cr_assert_eq(leftovers_soon(d.dir, NULL, 0), 0);
    free(tar);
    stop_ok(&d);
    PASS();
}

Test(datasets, a_zip_of_colour_jpegs_with_splits)
{
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, NULL);
    ent es[32];
    char names[32][64];
    int n = classes_of(es, 10, JPEG_RGB, 16, 16, names, "train/");
    n += classes_of(es + n, 2, JPEG_RGB, 16, 16, names + n, "test/");
    size_t len;
    char *zip = archive_of(es, n, 1, &len);
    http_resp r;
    cr_assert_eq(upload(d.port, "name=colour", zip, len, "application/zip", &r), 201, "%s", r.body);
    json_t *ds = http_json(&r);
    cr_assert_str_eq(text_of(at(ds, "meta.shape")), "[3,16,16]", "%s", r.body);
    cr_assert_eq(int_at(ds, "meta.splits.train.images"), 20, "%s", r.body);
    cr_assert_eq(int_at(ds, "meta.splits.test.images"), 4, "%s", r.body);
    cr_assert_str_eq(str_at(ds, "meta.test_split"), "test/");
    json_decref(ds);
    http_resp_free(&r);
    char id[33];
    submit(d.port,
           "{\"algorithm\":\"train\",\"dataset\":\"colour\",\"budget\":{\"epochs\":1},"
           "\"hyperparameters\":{\"batch_size\":8}}",
           id);
    wait_state(d.port, id, "succeeded");
    /* The searches take it too, through the same descriptor. */
    static const char *const searches[] = {
        "{\"algorithm\":\"darts\",\"dataset\":\"colour\",\"seed\":5,\"budget\":{\"epochs\":1},"
        "\"hyperparameters\":{\"C\":4,\"layers\":3,\"batch_size\":4}}",
        "{\"algorithm\":\"enas\",\"search_space\":\"enas-micro\",\"dataset\":\"colour\","
        "\"seed\":5,\"budget\":{\"epochs\":1},\"hyperparameters\":{\"C\":4,\"layers\":1,"
        "\"nodes\":3,\"batch_size\":2,\"lstm_size\":16}}",
    };
    for (size_t i = 0; i < sizeof searches / sizeof searches[0]; i++) {
        submit(d.port, searches[i], id);
        json_t *job = wait_job(d.port, id, NULL, ITEST_JOB_MS);
        cr_assert_str_eq(str_at(job, "state"), "succeeded", "%s", text_of(job));
        json_decref(job);
    }
    free(zip);
    stop_ok(&d);
    PASS();
}

Test(datasets, uploads_survive_a_restart_and_leftovers_go)
{
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, NULL);
    size_t len;
    char *tar = classes_tar(5, PNG_RGB, 6, 8, "", &len);
    upload_ok(d.port, "name=kept", tar, len, "application/x-tar");
    stop_ok(&d);
    /* What a crash mid-import leaves: a temporary directory and a spool. */
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/user-datasets/.import-crashed", d.dir);
    cr_assert_eq(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/user-datasets/.import-crashed/train-images.idx", d.dir);
    write_file(p, "partial");
    snprintf(p, sizeof p, "%s/user-datasets/.upload-1-1", d.dir);
    write_file(p, "partial");
    start_in(&d, d.dir, itest_one_worker, NULL);
    cr_assert_eq(leftovers_soon(d.dir, "kept", 0), 0);
    json_t *one = call(d.port, "GET", "/v1/datasets/kept", NULL, 200);
    cr_assert_str_eq(text_of(at(one, "shape")), "[3,8,6]", "%s", text_of(one));
    json_decref(one);
    char id[33];
    submit(d.port,
           "{\"algorithm\":\"train\",\"dataset\":\"kept\",\"budget\":{\"epochs\":1},"
           "\"hyperparameters\":{\"batch_size\":4}}",
           id);
    wait_state(d.port, id, "succeeded");
    free(tar);
    stop_ok(&d);
    PASS();
}

/* Uploads es as a tar, which must be refused with status and, when
 * `file` is given, name it. */
static void refused(int port, const ent *es, int n, int status, const char *file, const char *limit)
{
    size_t len;
    char *tar = archive_of(es, n, 0, &len);
    http_resp r;
    upload(port, "name=bad", tar, len, "application/x-tar", &r);
    json_t *p = problem(&r, status, status == 413 ? "limit-exceeded" : "bad-request");
    if (file)
        cr_assert_str_eq(str_at(p, "file"), file, "%s", r.body);
    if (limit)
        cr_assert_str_eq(str_at(p, "limit_name"), limit, "%s", r.body);
    json_decref(p);
    http_resp_free(&r);
    free(tar);
}

Test(datasets, bad_archives_are_refused_and_leave_nothing)
{
    nasd_proc d;
    static const char *const caps[] = {"--max-dataset-files", "40", "--max-dataset-pixels", "4096",
                                       NULL};
    start_in(&d, NULL, itest_one_worker, caps);
    ent es[64];
    char names[64][64];
    int n = classes_of(es, 4, PNG_GRAY, 8, 8, names, "");

    es[n] = (ent){"../evil/x.png", PNG_GRAY, 8, 8, 0, NULL, 0};
    refused(d.port, es, n + 1, 400, "../evil/x.png", NULL);
    es[n] = (ent){"a/../../x.png", PNG_GRAY, 8, 8, 0, NULL, 0};
    refused(d.port, es, n + 1, 400, "a/../../x.png", NULL);
    es[n] = (ent){"/etc/x.png", PNG_GRAY, 8, 8, 0, NULL, 0};
    refused(d.port, es, n + 1, 400, "/etc/x.png", NULL);
    es[n] = (ent){"a/link.png", SYMLINK, 0, 0, 0, "/etc/passwd", 0};
    refused(d.port, es, n + 1, 400, "a/link.png", NULL);
    es[n] = (ent){"a/hard.png", HARDLINK, 0, 0, 0, "a/img00.png", 0};
    refused(d.port, es, n + 1, 400, "a/hard.png", NULL);
    es[n] = (ent){"a/corrupt.png", RAW, 0, 0, 0, "\x89PNG\r\n\x1a\nnot really a png", 0};
    refused(d.port, es, n + 1, 400, "a/corrupt.png", NULL);
    es[n] = (ent){"a/cut.png", PNG_GRAY, 8, 8, 0, NULL, 60};
    refused(d.port, es, n + 1, 400, "a/cut.png", NULL);
    es[n] = (ent){"b/cut.jpg", JPEG_RGB, 8, 8, 1, NULL, 200};
    refused(d.port, es, n + 1, 400, "b/cut.jpg", NULL);
    es[n] = (ent){"a/notes.txt", RAW, 0, 0, 0, "hello", 0};
    refused(d.port, es, n + 1, 400, "a/notes.txt", NULL);
    es[n] = (ent){"c", DIR_, 0, 0, 0, NULL, 0};
    refused(d.port, es, n + 1, 400, "c", NULL);
    es[n] = (ent){"b/wide.png", PNG_GRAY, 9, 8, 1, NULL, 0};
    refused(d.port, es, n + 1, 400, "b/wide.png", NULL);
    es[n] = (ent){"b/huge.png", PNG_GRAY, 80, 80, 1, NULL, 0};
    refused(d.port, es, n + 1, 413, "b/huge.png", "max-dataset-pixels");
    es[n] = (ent){"loose.png", PNG_GRAY, 8, 8, 1, NULL, 0};
    refused(d.port, es, n + 1, 400, "loose.png", NULL);
    /* More entries than max-dataset-files. */
    int many = classes_of(es, 21, PNG_GRAY, 8, 8, names, "");
    refused(d.port, es, many, 413, NULL, "max-dataset-files");
    /* One class only. */
    refused(d.port, es, 4, 400, NULL, NULL);

    http_resp r;
    upload(d.port, "name=bad", "not an archive at all", 21, "application/x-tar", &r);
    json_decref(problem(&r, 400, "bad-request"));
    http_resp_free(&r);
    upload(d.port, "name=Bad%20Name", "x", 1, "application/x-tar", &r);
    json_t *p = problem(&r, 400, "invalid-field");
    cr_assert_str_eq(str_at(p, "parameter"), "name");
    json_decref(p);
    http_resp_free(&r);
    upload(d.port, "name=fashion-mnist", "x", 1, "application/x-tar", &r);
    json_decref(problem(&r, 409, "conflict"));
    http_resp_free(&r);
    upload(d.port, "name=ok&kind=sound", "x", 1, "application/x-tar", &r);
    json_decref(problem(&r, 400, "invalid-field"));
    http_resp_free(&r);
    upload(d.port, "name=ok", "x", 1, "text/plain", &r);
    json_decref(problem(&r, 415, "unsupported-media-type"));
    http_resp_free(&r);

    json_t *list = call(d.port, "GET", "/v1/datasets", NULL, 200);
    cr_assert_null(strstr(text_of(list), "\"uploaded\":true"), "%s", text_of(list));
    json_decref(list);
    cr_assert_eq(leftovers_soon(d.dir, NULL, 0), 0);
    stop_ok(&d);
    PASS();
}

Test(datasets, over_max_dataset_bytes_and_cut_off_bodies_leave_nothing)
{
    nasd_proc d;
    /* A cut-off connection is noticed when its close is read or, when MHD
     * saw the close in the same wake-up as the last data, when it has
     * been idle for connection-timeout: 1 s here. */
    static const char *const caps[] = {"--max-dataset-bytes", "4096", "--connection-timeout", "1",
                                       NULL};
    start_in(&d, NULL, itest_one_worker, caps);
    char *big = calloc(1, 10000);
    memset(big, 'x', 9999);
    http_resp r;
    upload(d.port, "name=big", big, 9999, "application/x-tar", &r);
    json_t *p = problem(&r, 413, "body-too-large");
    cr_assert_str_eq(str_at(p, "limit_name"), "max-dataset-bytes");
    json_decref(p);
    http_resp_free(&r);

    /* A body cut off: the connection closes after 1000 of 3000 bytes. */
    int fd = raw_connect(d.port, test_scaled_ms(5000));
    cr_assert(fd >= 0);
    const char *head = "POST /v1/datasets?name=cut HTTP/1.1\r\nHost: localhost\r\n"
                       "Content-Type: application/x-tar\r\nContent-Length: 3000\r\n\r\n";
    raw_send_all(fd, head, strlen(head));
    raw_send_all(fd, big, 1000);
    close(fd);
    /* Poll with a deadline. */
    int left = 1;
    int64_t deadline = test_now_ms() + test_scaled_ms(10000);
    while (left && test_now_ms() < deadline) {
        json_decref(call(d.port, "GET", "/healthz", NULL, 200));
        if ((left = leftovers(d.dir, NULL)) != 0)
            usleep(20000);
    }
    cr_assert_eq(left, 0, "the spool of a cut-off upload stayed");
    json_decref(expect_problem(d.port, "GET", "/v1/datasets/cut", NULL, 404, "not-found"));

    /* A bad name is refused before the body: a client waiting for "100
     * Continue" gets the 400 instead, having sent nothing. */
    fd = raw_connect(d.port, test_scaled_ms(5000));
    cr_assert(fd >= 0);
    head = "POST /v1/datasets?name=..x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
           "Content-Type: application/x-tar\r\nContent-Length: 1000000000\r\n"
           "Expect: 100-continue\r\n\r\n";
    raw_send_all(fd, head, strlen(head));
    size_t got = 0;
    char *answer = raw_read_all(fd, 1 << 16, &got);
    close(fd);
    cr_assert(answer && strncmp(answer, "HTTP/1.1 400", 12) == 0, "%s", answer ? answer : "-");
    cr_assert(strstr(answer, "\"parameter\":\"name\""), "%s", answer);
    free(answer);
    free(big);
    stop_ok(&d);
    PASS();
}

/* Lines of words from a small vocabulary, deterministic. */
static char *corpus_text(int lines)
{
    static const char *const words[] = {"the", "cat", "sat", "on", "a", "mat", "dog", "ran"};
    char *t = malloc((size_t)lines * 64 + 1), *p = t;
    unsigned seed = 7;
    for (int i = 0; i < lines; i++) {
        for (int k = 0; k < 8; k++) {
            seed = seed * 1103515245u + 12345u;
            p += sprintf(p, "%s%s", k ? " " : "", words[(seed >> 16) % 8]);
        }
        *p++ = '\n';
    }
    *p = '\0';
    return t;
}

Test(datasets, text_as_one_file_or_three_and_a_language_model_trains)
{
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, NULL);
    char *text = corpus_text(100);
    http_resp r;
    cr_assert_eq(
        upload(d.port, "name=corpus&kind=text", text, strlen(text), "application/octet-stream", &r),
        201, "%s", r.body);
    json_t *ds = http_json(&r);
    cr_assert_str_eq(str_at(ds, "kind"), "text", "%s", r.body);
    cr_assert_str_eq(str_at(ds, "meta.test_split"), "the last 10% of the lines", "%s", r.body);
    cr_assert_eq(int_at(ds, "meta.vocabulary") >= 8, 1, "%s", r.body);
    /* 80 lines of 8 words and an end of line each. */
    cr_assert_eq(int_at(ds, "meta.splits.train.tokens"), 80 * 9, "%s", r.body);
    json_decref(ds);
    http_resp_free(&r);
    char id[33];
    submit(d.port,
           "{\"algorithm\":\"train\",\"dataset\":\"corpus\",\"architecture\":{\"space\":"
           "\"lstm-lm\",\"embed\":8,\"hidden\":8,\"bptt\":8},\"budget\":{\"epochs\":1},"
           "\"hyperparameters\":{\"batch_size\":4}}",
           id);
    json_t *job = wait_job(d.port, id, NULL, ITEST_JOB_MS);
    cr_assert_str_eq(str_at(job, "state"), "succeeded", "%s", text_of(job));
    json_decref(job);

    ent es[4] = {{"c/train.txt", RAW, 0, 0, 0, text, 0},
                 {"c/valid.txt", RAW, 0, 0, 0, "the cat sat\non a mat\n", 0},
                 {"c/test.txt", RAW, 0, 0, 0, "a dog ran\non the mat\n", 0},
                 {"c/notes.md", RAW, 0, 0, 0, "hello", 0}};
    size_t len;
    char *tar = archive_of(es, 3, 0, &len);
    cr_assert_eq(upload(d.port, "name=three&kind=text", tar, len, "application/x-tar", &r), 201,
                 "%s", r.body);
    ds = http_json(&r);
    cr_assert_str_eq(str_at(ds, "meta.test_split"), "test.txt", "%s", r.body);
    cr_assert_eq(int_at(ds, "meta.splits.test.tokens"), 8, "%s", r.body);
    json_decref(ds);
    http_resp_free(&r);
    free(tar);

    /* A split missing, another file, a NUL byte, too few lines. */
    const struct {
        int n;
        const char *file;
    } bad[] = {{2, "test.txt"}, {4, "c/notes.md"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tar = archive_of(es, bad[i].n, 0, &len);
        upload(d.port, "name=bad&kind=text", tar, len, "application/x-tar", &r);
        json_t *p = problem(&r, 400, "bad-request");
        cr_assert_str_eq(str_at(p, "file"), bad[i].file, "%s", r.body);
        json_decref(p);
        http_resp_free(&r);
        free(tar);
    }
    upload(d.port, "name=bad&kind=text", "one\0two\n", 8, "application/octet-stream", &r);
    json_decref(problem(&r, 400, "bad-request"));
    http_resp_free(&r);
    upload(d.port, "name=bad&kind=text", "one\ntwo\n", 8, "application/octet-stream", &r);
    json_decref(problem(&r, 400, "bad-request"));
    http_resp_free(&r);
    /* Nothing but corpus and three. */
    cr_assert_eq(leftovers_soon(d.dir, "corpus", 1), 1);
    cr_assert_eq(leftovers_soon(d.dir, "three", 1), 1);
    free(text);
    stop_ok(&d);
    PASS();
}

/* An IDX file of n images (h x w, class i % 2: the band of pixels()) or
 * of their labels, into buf; its length. */
static size_t idx_file(char *buf, int n, int h, int w, int labels)
{
    uint8_t *b = (uint8_t *)buf;
    size_t o = 0;
    uint32_t head[4] = {labels ? 0x801u : 0x803u, (uint32_t)n, (uint32_t)h, (uint32_t)w};
    for (int k = 0; k < (labels ? 2 : 4); k++)
        for (int j = 3; j >= 0; j--)
            b[o++] = (uint8_t)(head[k] >> (8 * j));
    for (int i = 0; i < n; i++) {
        if (labels) {
            b[o++] = (uint8_t)(i % 2);
            continue;
        }
        uint8_t *px = pixels(w, h, 1, i % 2, (unsigned)i);
        memcpy(b + o, px, (size_t)h * w);
        o += (size_t)h * w;
        free(px);
    }
    return o;
}

Test(datasets, an_archive_of_idx_files)
{
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, NULL);
    static char f[4][4096];
    size_t n[4] = {idx_file(f[0], 20, 8, 8, 0), idx_file(f[1], 20, 8, 8, 1),
                   idx_file(f[2], 4, 8, 8, 0), idx_file(f[3], 4, 8, 8, 1)};
    ent es[4] = {{"mnist/train-images-idx3-ubyte", RAW, 0, 0, 0, f[0], n[0]},
                 {"mnist/train-labels-idx1-ubyte", RAW, 0, 0, 0, f[1], n[1]},
                 {"mnist/t10k-images-idx3-ubyte", RAW, 0, 0, 0, f[2], n[2]},
                 {"mnist/t10k-labels-idx1-ubyte", RAW, 0, 0, 0, f[3], n[3]}};
    size_t len;
    char *tar = archive_of(es, 4, 0, &len);
    http_resp r;
    cr_assert_eq(upload(d.port, "name=digits", tar, len, "application/x-tar", &r), 201, "%s",
                 r.body);
    json_t *ds = http_json(&r);
    cr_assert_str_eq(text_of(at(ds, "meta.shape")), "[1,8,8]", "%s", r.body);
    cr_assert_str_eq(text_of(at(ds, "meta.classes")), "[\"0\",\"1\"]", "%s", r.body);
    cr_assert_str_eq(text_of(at(ds, "meta.splits.test.per_class")), "[2,2]", "%s", r.body);
    json_decref(ds);
    http_resp_free(&r);
    free(tar);
    char id[33];
    submit(d.port,
           "{\"algorithm\":\"train\",\"dataset\":\"digits\",\"budget\":{\"epochs\":1},"
           "\"hyperparameters\":{\"batch_size\":4}}",
           id);
    wait_state(d.port, id, "succeeded");

    /* A file missing; labels that do not match the images. */
    tar = archive_of(es, 3, 0, &len);
    upload(d.port, "name=bad", tar, len, "application/x-tar", &r);
    json_t *p = problem(&r, 400, "bad-request");
    cr_assert_str_eq(str_at(p, "file"), "t10k-labels-idx1-ubyte", "%s", r.body);
    json_decref(p);
    http_resp_free(&r);
    free(tar);
    es[3].cut = n[3] - 1;
    tar = archive_of(es, 4, 0, &len);
    upload(d.port, "name=bad", tar, len, "application/x-tar", &r);
    json_decref(problem(&r, 400, "bad-request"));
    http_resp_free(&r);
    free(tar);
    cr_assert_eq(leftovers_soon(d.dir, "digits", 0), 0);
    stop_ok(&d);
    PASS();
}

/* The sample grid is an <img src>: ?access_token= stands for the header
 * there, and only there among the dataset routes. */
Test(datasets, a_query_token_reaches_the_sample_grid_only)
{
    char dir[PATH_MAX], tokens[PATH_MAX + 16];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(tokens, sizeof tokens, "%s/tokens", dir);
    write_file(tokens, "T0ken\n");
    const char *const args[] = {"--token-file", tokens, NULL};
    nasd_proc d;
    start_in(&d, dir, itest_one_worker, args);
    http_resp r;
    cr_assert_eq(status_of(d.port, "GET", "/v1/datasets/none?format=png", NULL, NULL, NULL), 401);
    cr_assert_eq(
        status_of(d.port, "GET", "/v1/datasets/none?format=png&access_token=T0ken", NULL, NULL, &r),
        404, "%s", r.body);
    http_resp_free(&r);
    cr_assert_eq(status_of(d.port, "GET", "/v1/datasets/none?access_token=T0ken", NULL, NULL, NULL),
                 401);
    cr_assert_eq(status_of(d.port, "POST", "/v1/datasets?name=x&access_token=T0ken",
                           "Content-Type: application/x-tar\r\n", "x", NULL),
                 401);
    stop_ok(&d);
    PASS();
}
