// SPDX-License-Identifier: MIT
/*
 * test_integration_uploads.c - more of issue #21 through a real nasd: a
 * class-folder archive of Fashion-MNIST PNG files made here against the
 * same images as IDX files (stored bytes and test accuracy), NumPy
 * arrays (.npy headers written here by hand, in a tar and a zip), the
 * resize query, and searches on image sizes their networks cannot
 * reduce (and a batch larger than the images), refused before the 202.
 *
 * Waits poll with deadlines, never a fixed sleep.
 */
#include "upload_fixture.h"

#include "nas.h"
#include "npy_fixture.h"
#include "tmpdir.h"

TestSuite(uploads, .init = begin_test, .fini = finish_test);

/* n images (n, 8, 8, 3), class i % 2 (the band of pixels()), channels
 * last; and their labels as int64. */
static uint8_t *nhwc(int n)
{
    uint8_t *x = malloc((size_t)n * 192);
    for (int i = 0; i < n; i++) {
        uint8_t *p = pixels(8, 8, 3, i % 2, (unsigned)i);
        memcpy(x + (size_t)i * 192, p, 192);
        free(p);
    }
    return x;
}

static void labels64(int64_t *y, int n)
{
    for (int i = 0; i < n; i++)
        y[i] = i % 2;
}

static char *stored(const char *state, const char *name, const char *file, size_t *len)
{
    char p[PATH_MAX + 128];
    snprintf(p, sizeof p, "%s/user-datasets/%s/%s", state, name, file);
    char *b = file_slurp(p, len);
    cr_assert_not_null(b, "%s", p);
    return b;
}

static uint8_t f_xtr[20 * 192 + 128], f_ytr[20 * 8 + 128], f_xte[4 * 192 + 128], f_yte[4 * 4 + 128];

Test(uploads, numpy_arrays_in_a_tar_and_an_npz)
{
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, NULL);
    uint8_t *x = nhwc(20), *xt = nhwc(4);
    int64_t y[20];
    int32_t yt[4] = {0, 1, 0, 1};
    labels64(y, 20);
    size_t n[4] = {
        npy_file(f_xtr, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (20, 8, 8, 3), }", x,
                 20 * 192),
        npy_file(f_ytr, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (20,), }", y, 160),
        npy_file(f_xte, 2,
                 "{\"shape\": (4, 8, 8, 3), \"descr\": \"|u1\", \"fortran_order\": False}", xt,
                 4 * 192),
        npy_file(f_yte, 3, "{'descr': '<i4', 'fortran_order': False, 'shape': (4, 1)}", yt, 16)};
    ent es[4] = {{"arrays/x_train.npy", RAW, 0, 0, 0, (char *)f_xtr, n[0]},
                 {"arrays/y_train.npy", RAW, 0, 0, 0, (char *)f_ytr, n[1]},
                 {"arrays/x_test.npy", RAW, 0, 0, 0, (char *)f_xte, n[2]},
                 {"arrays/y_test.npy", RAW, 0, 0, 0, (char *)f_yte, n[3]}};
    size_t len;
    char *tar = archive_of(es, 4, 0, &len);
    http_resp r;
    cr_assert_eq(upload(d.port, "name=arrays", tar, len, "application/x-tar", &r), 201, "%s",
                 r.body);
    json_t *ds = http_json(&r);
    cr_assert_str_eq(text_of(at(ds, "meta.shape")), "[3,8,8]", "%s", r.body);
    cr_assert_str_eq(text_of(at(ds, "meta.classes")), "[\"0\",\"1\"]", "%s", r.body);
    cr_assert_eq(int_at(ds, "meta.splits.train.images"), 20, "%s", r.body);
    cr_assert_str_eq(text_of(at(ds, "meta.splits.test.per_class")), "[2,2]", "%s", r.body);
    cr_assert_str_eq(str_at(ds, "meta.test_split"), "x_test.npy", "%s", r.body);
    json_decref(ds);
    http_resp_free(&r);
    free(tar);
    /* The stored pixels are the arrays' channels last made channel-major,
     * in the arrays' order, after the IDX header of 4 dimensions. */
    size_t sl;
    uint8_t *st = (uint8_t *)stored(d.dir, "arrays", "train-images.idx", &sl);
    cr_assert_eq(sl, 20u + 20 * 192);
    for (int i = 0; i < 20; i++)
        for (int k = 0; k < 3; k++)
            for (int p = 0; p < 64; p++)
                cr_assert_eq(st[20 + i * 192 + k * 64 + p], x[i * 192 + p * 3 + k],
                             "image %d channel %d pixel %d", i, k, p);
    free(st);
    st = (uint8_t *)stored(d.dir, "arrays", "test-labels.idx", &sl);
    cr_assert_eq(sl, 8u + 4);
    cr_assert(st[8] == 0 && st[9] == 1 && st[10] == 0 && st[11] == 1);
    free(st);
    free(x);
    free(xt);

    /* An .npz-like zip: channels first, grey, labels uint8, version 2.0,
     * no test split (a seeded 10% of each class is held out). */
    static uint8_t g[24 * 64], lab[24];
    for (int i = 0; i < 24; i++) {
        uint8_t *p = pixels(8, 8, 1, i % 2, (unsigned)i);
        memcpy(g + i * 64, p, 64);
        free(p);
        lab[i] = (uint8_t)(i % 2);
    }
    n[0] = npy_file(f_xtr, 2, "{'descr': '|u1', 'fortran_order': False, 'shape': (24, 1, 8, 8), }",
                    g, sizeof g);
    n[1] =
        npy_file(f_ytr, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (24,), }", lab, 24);
    ent z[2] = {{"x_train.npy", RAW, 0, 0, 0, (char *)f_xtr, n[0]},
                {"y_train.npy", RAW, 0, 0, 0, (char *)f_ytr, n[1]}};
    char *zip = archive_of(z, 2, 1, &len);
    cr_assert_eq(upload(d.port, "name=npz", zip, len, "application/zip", &r), 201, "%s", r.body);
    ds = http_json(&r);
    cr_assert_str_eq(text_of(at(ds, "meta.shape")), "[1,8,8]", "%s", r.body);
    cr_assert_eq(int_at(ds, "meta.splits.train.images"), 22, "%s", r.body);
    cr_assert_eq(int_at(ds, "meta.splits.test.images"), 2, "%s", r.body);
    json_decref(ds);
    http_resp_free(&r);
    free(zip);
    char id[33];
    submit(d.port,
           "{\"algorithm\":\"train\",\"dataset\":\"npz\",\"budget\":{\"epochs\":1},"
           "\"hyperparameters\":{\"batch_size\":4}}",
           id);
    wait_state(d.port, id, "succeeded");
    stop_ok(&d);
    PASS();
}

/* The archive of es (tar) must be refused with 400 naming file. */
static void npy_refused(int port, const ent *es, int n, const char *file, const char *word)
{
    size_t len;
    char *tar = archive_of(es, n, 0, &len);
    http_resp r;
    upload(port, "name=bad", tar, len, "application/x-tar", &r);
    json_t *p = problem(&r, 400, "bad-request");
    cr_assert_str_eq(str_at(p, "file"), file, "%s", r.body);
    cr_assert(strstr(str_at(p, "detail"), word), "%s", r.body);
    json_decref(p);
    http_resp_free(&r);
    free(tar);
}

Test(uploads, bad_numpy_arrays_are_refused_naming_the_file)
{
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, NULL);
    static uint8_t g[8 * 16], lab[8] = {0, 1, 0, 1, 0, 1, 0, 1}, x[1024], y[256];
    const char *ok = "{'descr': '|u1', 'fortran_order': False, 'shape': (8, 4, 4), }";
    size_t ny = npy_file(y, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (8,), }", lab, 8);
    ent es[3] = {{"x_train.npy", RAW, 0, 0, 0, (char *)x, 0},
                 {"y_train.npy", RAW, 0, 0, 0, (char *)y, ny},
                 {"x_test.npy", RAW, 0, 0, 0, (char *)x, 0}};
    static const struct {
        const char *dict;
        int version;
        size_t cut; /* bytes of data dropped */
        const char *word;
    } bad_x[] = {
        {"{'descr': '|u1', 'fortran_order': True, 'shape': (8, 4, 4), }", 1, 0, "fortran_order"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (8, 4, 4), }", 1, 0, "'<f4'"},
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (8, 4, 4), }", 4, 0, "4.0"},
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (8, 4, 4), }", 1, 5, "shorter"},
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (8, 4, 1, 4), }", 1, 0, "(N, H, W)"},
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (8, 4, 4), 'x': 1}", 1, 0, "'x'"},
        {"{'descr': '|u1', 'shape': (8, 4, 4), }", 1, 0, "fortran_order"},
        {"['descr', '|u1']", 1, 0, "not a dict"},
    };
    for (size_t i = 0; i < sizeof bad_x / sizeof bad_x[0]; i++) {
        es[0].cut = npy_file(x, bad_x[i].version, bad_x[i].dict, g, sizeof g) - bad_x[i].cut;
        npy_refused(d.port, es, 2, "x_train.npy", bad_x[i].word);
    }
    es[0].cut = npy_file(x, 1, ok, g, sizeof g);
    /* Labels: out of range, as many as the images, of one class. */
    int64_t l64[8] = {0, 1, 0, 1, 0, 1, 0, -1};
    es[1].cut =
        npy_file(y, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (8,), }", l64, 64);
    npy_refused(d.port, es, 2, "y_train.npy", "label -1 at index 7");
    l64[7] = 300;
    es[1].cut =
        npy_file(y, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (8,), }", l64, 64);
    npy_refused(d.port, es, 2, "y_train.npy", "label 300");
    es[1].cut = npy_file(y, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (7,), }", lab, 7);
    npy_refused(d.port, es, 2, "y_train.npy", "7 labels for 8 images");
    static const uint8_t zeros[8];
    es[1].cut =
        npy_file(y, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (8,), }", zeros, 8);
    npy_refused(d.port, es, 2, "y_train.npy", "one class");
    es[1].cut = ny;
    /* Files missing, or another name. */
    npy_refused(d.port, es, 1, "y_train.npy", "missing");
    npy_refused(d.port, es, 3, "y_test.npy", "missing");
    es[2].path = "images.npy";
    npy_refused(d.port, es, 3, "images.npy", "x_train.npy");
    /* A lone .npy body. */
    http_resp r;
    upload(d.port, "name=bad", (const char *)x, es[0].cut, "application/octet-stream", &r);
    json_t *p = problem(&r, 400, "bad-request");
    cr_assert(strstr(str_at(p, "detail"), "no labels"), "%s", r.body);
    json_decref(p);
    http_resp_free(&r);
    cr_assert_eq(leftovers_soon(d.dir, NULL, 0), 0);
    stop_ok(&d);
    PASS();
}

Test(uploads, resize_makes_mixed_sizes_one)
{
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, NULL);
    ent es[32];
    char names[32][64];
    int n = classes_of(es, 6, PNG_GRAY, 8, 8, names, "");
    es[1].w = 9;
    es[7].h = 20;
    es[8].kind = PNG_RGB;
    size_t len;
    char *tar = archive_of(es, n, 0, &len);
    http_resp r;
    /* Without resize: refused, the odd ones listed. */
    upload(d.port, "name=mixed", tar, len, "application/x-tar", &r);
    json_t *p = problem(&r, 400, "bad-request");
    cr_assert(strstr(str_at(p, "detail"), "a/img01.png (8x9)"), "%s", r.body);
    cr_assert(strstr(str_at(p, "detail"), "b/img01.png (20x8)"), "%s", r.body);
    json_decref(p);
    http_resp_free(&r);
    cr_assert_eq(upload(d.port, "name=mixed&resize=12x10", tar, len, "application/x-tar", &r), 201,
                 "%s", r.body);
    json_t *ds = http_json(&r);
    cr_assert_str_eq(text_of(at(ds, "meta.shape")), "[3,12,10]", "%s", r.body);
    json_decref(ds);
    http_resp_free(&r);
    /* Bad values, refused before the body is read; kind=text has no size. */
    static const char *const bad[] = {"name=b&resize=8",         "name=b&resize=0x8",
                                      "name=b&resize=8x8x",      "name=b&resize=x8",
                                      "name=b&resize=3000x3000", "name=b&kind=text&resize=8x8"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        upload(d.port, bad[i], tar, len, "application/x-tar", &r);
        p = problem(&r, 400, "invalid-field");
        cr_assert_str_eq(str_at(p, "parameter"), "resize", "%s: %s", bad[i], r.body);
        json_decref(p);
        http_resp_free(&r);
    }
    free(tar);
    /* IDX files are stored as they are: resize is refused for them. */
    ent idx[4] = {{"train-images-idx3-ubyte", RAW, 0, 0, 0, "x", 0},
                  {"train-labels-idx1-ubyte", RAW, 0, 0, 0, "x", 0},
                  {"t10k-images-idx3-ubyte", RAW, 0, 0, 0, "x", 0},
                  {"t10k-labels-idx1-ubyte", RAW, 0, 0, 0, "x", 0}};
    tar = archive_of(idx, 4, 0, &len);
    upload(d.port, "name=idx&resize=8x8", tar, len, "application/x-tar", &r);
    p = problem(&r, 400, "invalid-field");
    cr_assert_str_eq(str_at(p, "parameter"), "resize", "%s", r.body);
    json_decref(p);
    http_resp_free(&r);
    free(tar);
    /* Colour NumPy arrays resized too. */
    uint8_t *x = nhwc(20);
    int64_t y[20];
    labels64(y, 20);
    size_t nx = npy_file(
        f_xtr, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (20, 8, 8, 3)}", x, 20 * 192);
    size_t ny =
        npy_file(f_ytr, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (20,)}", y, 160);
    free(x);
    ent a[2] = {{"x_train.npy", RAW, 0, 0, 0, (char *)f_xtr, nx},
                {"y_train.npy", RAW, 0, 0, 0, (char *)f_ytr, ny}};
    tar = archive_of(a, 2, 0, &len);
    cr_assert_eq(upload(d.port, "name=small&resize=4x4", tar, len, "application/x-tar", &r), 201,
                 "%s", r.body);
    ds = http_json(&r);
    cr_assert_str_eq(text_of(at(ds, "meta.shape")), "[3,4,4]", "%s", r.body);
    json_decref(ds);
    http_resp_free(&r);
    free(tar);
    cr_assert_eq(leftovers_soon(d.dir, "mixed", 1), 1);
    stop_ok(&d);
    PASS();
}

/* A search on a size its network cannot reduce is refused with 400, the
 * pointer at the field that sets the depth and the reason, before any
 * 202; resized to an even size, the same search runs. */
Test(uploads, sizes_a_search_cannot_reduce_are_refused_at_submission)
{
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, NULL);
    size_t len;
    char *tar = classes_tar(5, PNG_GRAY, 30, 30, "", &len);
    upload_ok(d.port, "name=odd", tar, len, "application/x-tar");
    upload_ok(d.port, "name=even&resize=32x32", tar, len, "application/x-tar");
    free(tar);
    static const char *const specs[] = {
        "{\"algorithm\":\"darts\",\"dataset\":\"%s\",\"budget\":{\"epochs\":1},"
        "\"hyperparameters\":{\"C\":4,\"layers\":3,\"batch_size\":4}}",
        "{\"algorithm\":\"random\",\"search_space\":\"darts-cnn\",\"dataset\":\"%s\","
        "\"budget\":{\"max_architectures\":1},\"hyperparameters\":{\"child_epochs\":1,"
        "\"batch_size\":4}}",
        "{\"algorithm\":\"enas\",\"search_space\":\"enas-micro\",\"dataset\":\"%s\","
        "\"budget\":{\"epochs\":1},\"hyperparameters\":{\"C\":4,\"layers\":1,\"nodes\":3,"
        "\"batch_size\":2,\"lstm_size\":16}}",
        "{\"algorithm\":\"enas\",\"search_space\":\"enas-macro\",\"dataset\":\"%s\","
        "\"budget\":{\"epochs\":1},\"hyperparameters\":{\"batch_size\":2,\"lstm_size\":16}}",
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        char spec[600];
        snprintf(spec, sizeof spec, specs[i], "odd");
        json_t *p = post_problem(d.port, spec, 400, "invalid-field");
        cr_assert_str_eq(str_at(p, "pointer"), "/hyperparameters/layers", "%s", text_of(p));
        cr_assert(strstr(str_at(p, "detail"), "15x15"), "%s", text_of(p));
        cr_assert(strstr(str_at(p, "detail"), "even"), "%s", text_of(p));
        json_decref(p);
    }
    /* A batch larger than the training images, likewise before the 202. */
    json_t *p =
        post_problem(d.port, "{\"algorithm\":\"train\",\"dataset\":\"odd\"}", 400, "invalid-field");
    cr_assert_str_eq(str_at(p, "pointer"), "/hyperparameters/batch_size", "%s", text_of(p));
    cr_assert(strstr(str_at(p, "detail"), "64 is larger than the 8 training images of odd"), "%s",
              text_of(p));
    json_decref(p);
    json_t *page = call(d.port, "GET", "/v1/jobs", NULL, 200);
    cr_assert_eq(json_array_size(at(page, "jobs")), 0, "%s", text_of(page));
    json_decref(page);
    char spec[600], id[33];
    snprintf(spec, sizeof spec, specs[0], "even");
    submit(d.port, spec, id);
    json_t *job = wait_job(d.port, id, NULL, ITEST_JOB_MS);
    cr_assert_str_eq(str_at(job, "state"), "succeeded", "%s", text_of(job));
    json_decref(job);
    stop_ok(&d);
    PASS();
}

/* ------------------------------------------------ Fashion-MNIST as PNG */

#define FM_TRAIN 2000
#define FM_TEST 500

/* The first n images of a Fashion-MNIST split, ordered by (label, index):
 * the order the class-folder import stores them in (by path). */
static nas_dataset *fashion(const char *stem, int n)
{
    const char *dir = getenv("FASHION_MNIST_DIR");
    char ip[PATH_MAX], lp[PATH_MAX];
    nas_dataset *d = NULL;
    snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte.gz", dir && *dir ? dir : "/nonexistent", stem);
    snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte.gz", dir && *dir ? dir : "/nonexistent", stem);
    if (access(ip, R_OK) != 0 || nas_idx_load(ip, lp, &d) != NAS_OK)
        return NULL;
    nas_dataset *s = NULL;
    cr_assert_eq(nas_dataset_slice(d, 0, n, &s), NAS_OK);
    nas_dataset_free(d);
    int k = 0;
    nas_dataset *o = NULL;
    cr_assert_eq(nas_dataset_slice(s, 0, n, &o), NAS_OK);
    for (int c = 0; c < 10; c++)
        for (int i = 0; i < n; i++)
            if (s->y[i] == c) {
                memcpy(o->x + (size_t)k * 784, s->x + (size_t)i * 784, 784);
                o->y[k++] = c;
            }
    cr_assert_eq(k, n);
    nas_dataset_free(s);
    return o;
}

/* The IDX files (raw) of d into b; their lengths. */
static void idx_of(const nas_dataset *d, char *img, size_t *il, char *lab, size_t *ll)
{
    uint32_t ih[4] = {0x803u, (uint32_t)d->n, 28, 28}, lh[2] = {0x801u, (uint32_t)d->n};
    for (int k = 0; k < 16; k++)
        img[k] = (char)(ih[k / 4] >> (8 * (3 - k % 4)));
    for (int k = 0; k < 8; k++)
        lab[k] = (char)(lh[k / 4] >> (8 * (3 - k % 4)));
    memcpy(img + 16, d->x, (size_t)d->n * 784);
    for (int i = 0; i < d->n; i++)
        lab[8 + i] = (char)d->y[i];
    *il = 16 + (size_t)d->n * 784;
    *ll = 8 + (size_t)d->n;
}

static double trained_accuracy(int port, const char *dataset)
{
    char spec[512], id[33];
    snprintf(spec, sizeof spec,
             "{\"algorithm\":\"train\",\"dataset\":\"%s\",\"seed\":7,\"architecture\":{\"space\":"
             "\"fixed-cnn\",\"channels\":[4,8],\"hidden\":16},\"budget\":{\"epochs\":1},"
             "\"hyperparameters\":{\"batch_size\":50}}",
             dataset);
    submit(port, spec, id);
    json_decref(wait_job(port, id, "succeeded", ITEST_JOB_MS));
    json_t *res = get_sub(port, id, "result");
    cr_assert_str_eq(str_at(res, "metric"), "test_accuracy", "%s", text_of(res));
    double v = json_number_value(at(res, "value"));
    json_decref(res);
    return v;
}

Test(uploads, fashion_mnist_as_png_folders_matches_the_idx_path, .timeout = 600)
{
    nas_dataset *tr = fashion("train", FM_TRAIN), *te = fashion("t10k", FM_TEST);
    if (!tr || !te)
        cr_skip_test("Fashion-MNIST is not installed (dataset-fashion-mnist)");
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, NULL);
    /* train/<label>/<index>.png and test/<label>/<index>.png */
    static char names[FM_TRAIN + FM_TEST][64];
    static ent es[FM_TRAIN + FM_TEST];
    static uint8_t *pngs[FM_TRAIN + FM_TEST];
    for (int i = 0; i < FM_TRAIN + FM_TEST; i++) {
        const nas_dataset *s = i < FM_TRAIN ? tr : te;
        int k = i < FM_TRAIN ? i : i - FM_TRAIN;
        png_image im = {
            .version = PNG_IMAGE_VERSION, .width = 28, .height = 28, .format = PNG_FORMAT_GRAY};
        png_alloc_size_t pl = 0;
        const uint8_t *px = s->x + (size_t)k * 784;
        cr_assert(png_image_write_get_memory_size(im, pl, 0, px, 0, NULL));
        pngs[i] = malloc(pl);
        cr_assert(png_image_write_to_memory(&im, pngs[i], &pl, 0, px, 0, NULL));
        snprintf(names[i], sizeof names[i], "fm/%s/%d/%05d.png", i < FM_TRAIN ? "train" : "test",
                 s->y[k], k);
        es[i] = (ent){names[i], RAW, 0, 0, 0, (const char *)pngs[i], pl};
    }
    size_t len;
    char *tar = archive_of(es, FM_TRAIN + FM_TEST, 0, &len);
    upload_ok(d.port, "name=fm-png", tar, len, "application/x-tar");
    free(tar);
    for (int i = 0; i < FM_TRAIN + FM_TEST; i++)
        free(pngs[i]);

    static char f[4][16 + FM_TRAIN * 784];
    size_t fl[4];
    idx_of(tr, f[0], &fl[0], f[1], &fl[1]);
    idx_of(te, f[2], &fl[2], f[3], &fl[3]);
    ent idx[4] = {{"train-images-idx3-ubyte", RAW, 0, 0, 0, f[0], fl[0]},
                  {"train-labels-idx1-ubyte", RAW, 0, 0, 0, f[1], fl[1]},
                  {"t10k-images-idx3-ubyte", RAW, 0, 0, 0, f[2], fl[2]},
                  {"t10k-labels-idx1-ubyte", RAW, 0, 0, 0, f[3], fl[3]}};
    tar = archive_of(idx, 4, 0, &len);
    upload_ok(d.port, "name=fm-idx", tar, len, "application/x-tar");
    free(tar);

    /* The two imports store the same bytes ... */
    static const char *const files[] = {"train-images.idx", "train-labels.idx", "test-images.idx",
                                        "test-labels.idx"};
    for (int i = 0; i < 4; i++) {
        size_t a, b;
        char *x = stored(d.dir, "fm-png", files[i], &a), *y = stored(d.dir, "fm-idx", files[i], &b);
        cr_assert_eq(a, b, "%s: %zu and %zu bytes", files[i], a, b);
        cr_assert_eq(memcmp(x, y, a), 0, "%s differs", files[i]);
        free(x);
        free(y);
    }
    /* ... so one seed gives one test accuracy, to the last digit (the
     * issue asks for 0.5 points; identical data leaves no room at all),
     * and a network that learned something (chance is 0.1). */
    double png_acc = trained_accuracy(d.port, "fm-png"),
           idx_acc = trained_accuracy(d.port, "fm-idx");
    fprintf(stderr, "test accuracy: %.4f through PNG folders, %.4f through IDX\n", png_acc,
            idx_acc);
    cr_assert_eq(png_acc, idx_acc, "PNG %.4f, IDX %.4f", png_acc, idx_acc);
    cr_assert_gt(png_acc, 0.4, "%.4f", png_acc);
    nas_dataset_free(tr);
    nas_dataset_free(te);
    stop_ok(&d);
    PASS();
}
