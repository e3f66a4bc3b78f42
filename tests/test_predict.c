// SPDX-License-Identifier: MIT
/*
 * test_predict.c - the model loader (engine/jobs/predict.c, issue #14
 * part 4): a train job writes its model file, nas_model_open rebuilds the
 * network from the job's spec and loads it, and its eval forward on the
 * test set is bit for bit the forward of the job's own network (declared
 * by the same builder, loaded from the job's last checkpoint) and scores
 * exactly the test accuracy the job reported (a nasrl-cnn network, which
 * has no checkpoint: the accuracy alone). A spec that does not
 * describe the file's network, and a text spec, are refused (language
 * models: test_predict_text.c).
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/image_net.h"
#include "nas.h"
#include "model_fixture.h"

static nas_job_spec small_spec(const char *arch)
{
    nas_job_spec s = {.dataset = "synthetic"};
    nas_job_spec_defaults(&s);
    s.epochs = 1;
    s.seed = 11;
    s.threads = 1;
    if (!strcmp(arch, "darts-cnn")) {
        s.arch = NAS_ARCH_DARTS_CNN;
        s.C = 4;
        s.layers = 3;
        s.aux_weight = 0.4f; /* an auxiliary head, which the file leaves out */
        s.darts_cnn = (nas_darts_genotype){
            .normal = {.op = {{NAS_DARTS_SEP_CONV_3X3, NAS_DARTS_SKIP_CONNECT},
                              {NAS_DARTS_MAX_POOL_3X3, NAS_DARTS_DIL_CONV_3X3},
                              {NAS_DARTS_SEP_CONV_5X5, NAS_DARTS_AVG_POOL_3X3},
                              {NAS_DARTS_SKIP_CONNECT, NAS_DARTS_DIL_CONV_5X5}},
                       .from = {{0, 1}, {0, 2}, {1, 0}, {2, 3}}},
            .reduce = {.op = {{NAS_DARTS_MAX_POOL_3X3, NAS_DARTS_MAX_POOL_3X3},
                              {NAS_DARTS_SKIP_CONNECT, NAS_DARTS_MAX_POOL_3X3},
                              {NAS_DARTS_MAX_POOL_3X3, NAS_DARTS_SKIP_CONNECT},
                              {NAS_DARTS_SKIP_CONNECT, NAS_DARTS_AVG_POOL_3X3}},
                       .from = {{0, 1}, {2, 1}, {0, 2}, {2, 1}}},
            .normal_concat = {2, 3, 4, 5},
            .n_normal_concat = 4,
            .reduce_concat = {2, 3, 4, 5},
            .n_reduce_concat = 4,
        };
    } else if (!strcmp(arch, "nasrl-cnn")) {
        s.arch = NAS_ARCH_NASRL_CNN;
        /* 2 layers: 3x3 4 filters stride 1 on the image; 3x3 6 filters
         * stride 1 on layer 0 */
        snprintf(s.genotype, sizeof s.genotype, "%s", "2 3 3 4 1 0 3 3 6 1 1 0");
    } else {
        s.channels[0] = 4;
        s.channels[1] = 8;
        s.nblocks = 2;
        s.hidden = 16;
    }
    return s;
}

static void train(trained *t, const char *arch)
{
    train_model(t, "nas_predict", small_spec(arch), 1, "test_accuracy");
}

/* The job's test set, normalised as the job normalised it. */
static void load_test(const nas_job_spec *s, nas_dataset **train, nas_dataset **test)
{
    nas__job j = {.spec = *s, .desc = nas_dataset_find(s->dataset)};
    cr_assert_eq(nas__job_load_images(&j, train, test), NAS_OK, "%s", nas_errmsg());
}

static void loader_is_the_jobs_eval(const char *arch)
{
    trained t;
    train(&t, arch);
    nas_dataset *tr, *te;
    load_test(&t.s, &tr, &te);
    const nas_dataset_desc *d = nas_dataset_find("synthetic");
    int k = d->classes;

    /* the job's network, from its builder and its last checkpoint */
    nas_params *p = nas_params_new();
    nas__image_net net = {0};
    nas_rng rng;
    nas_rng_seed(&rng, 1);
    cr_assert_eq(nas__image_net_declare(p, &t.s, d, &net), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(nas_params_alloc(p, &rng), NAS_OK);
    cr_assert_eq(nas_ckpt_load(t.ckpt, p, &rng, NULL, NULL), NAS_OK, "%s", nas_errmsg());

    nas_model *m = NULL;
    cr_assert_eq(nas_model_open(t.model, &t.s, &m), NAS_OK, "%s", nas_errmsg());
    int c, h, w, classes;
    nas_model_input(m, &c, &h, &w, &classes);
    cr_assert(c == d->c && h == d->h && w == d->w && classes == k);
    cr_assert_str_eq(nas_model_class_name(m, 3), "3");

    nas_graph *g = nas_graph_new(0);
    nas_graph_set_training(g, 0);
    nas_graph_set_grad(g, 0);
    /* in the evaluation's batches (train_image.c) */
    const int bs = nas__eval_batch(t.s.batch_size);
    float *got = malloc((size_t)bs * k * sizeof(float));
    int idx[NAS__EVAL_BATCH];
    long correct = 0;
    size_t img = (size_t)c * h * w;
    for (int s = 0; s < te->n; s += bs) {
        int n = te->n - s < bs ? te->n - s : bs;
        for (int i = 0; i < n; i++)
            idx[i] = s + i;
        nas_graph_reset(g);
        nas_tensor *x = nas_tensor_new4(g, n, c, h, w);
        nas_dataset_batch(te, idx, n, NULL, NULL, x->data, NULL);
        nas_tensor *want = nas__image_net_forward(g, p, &net, x, 0);
        cr_assert_eq(nas_model_logits(m, te->x + (size_t)s * img, n, got), NAS_OK);
        cr_assert(memcmp(got, want->data, (size_t)n * k * sizeof(float)) == 0,
                  "%s: the loader's logits differ from the job's network's at batch %d", arch, s);
        for (int i = 0; i < n; i++)
            correct += nas__argmax(got + (size_t)i * k, k) == te->y[s + i];
        if (s == 0) { /* one image alone: the same numbers as in its batch, up
                         to the last bits (a kernel's path depends on the
                         batch's size), and the same class */
            float one[16];
            double worst = 0;
            cr_assert_eq(nas_model_logits(m, te->x + img * 7, 1, one), NAS_OK);
            for (int i = 0; i < k; i++) {
                double dv = fabs((double)one[i] - got[7 * k + i]);
                worst = dv > worst ? dv : worst;
            }
            cr_assert(worst < 1e-4, "%s: batch of 1 differs by %g", arch, worst);
            cr_assert_eq(nas__argmax(one, k), nas__argmax(got + 7 * k, k));
        }
    }
    double acc = (double)correct / te->n;
    cr_assert(acc == t.r.value, "%s: loader %.17g, job %.17g", arch, acc, t.r.value);

    free(got);
    nas_graph_free(g);
    nas_model_free(m);
    nas__image_net_free(&net);
    nas_params_free(p);
    nas_dataset_free(tr);
    nas_dataset_free(te);
    untrain(&t);
}

Test(predict, fixed_cnn_loader_is_the_jobs_eval_bit_for_bit)
{
    loader_is_the_jobs_eval("fixed-cnn");
}

Test(predict, darts_cnn_loader_is_the_jobs_eval_bit_for_bit)
{
    loader_is_the_jobs_eval("darts-cnn");
}

/* A nasrl-cnn train job keeps no checkpoint: its file, loaded, scores the
 * test set in the children's evaluation batches (250) exactly as the job
 * reported. */
Test(predict, nasrl_cnn_loader_scores_the_jobs_test_accuracy_exactly)
{
    enum { NBS = 250 };
    trained t;
    train(&t, "nasrl-cnn");
    nas_dataset *tr, *te;
    load_test(&t.s, &tr, &te);
    nas_model *m = NULL;
    cr_assert_eq(nas_model_open(t.model, &t.s, &m), NAS_OK, "%s", nas_errmsg());
    int c, h, w, k;
    nas_model_input(m, &c, &h, &w, &k);
    float *got = malloc((size_t)NBS * k * sizeof(float));
    size_t img = (size_t)c * h * w;
    long correct = 0;
    for (int s = 0; s < te->n; s += NBS) {
        int n = te->n - s < NBS ? te->n - s : NBS;
        cr_assert_eq(nas_model_logits(m, te->x + (size_t)s * img, n, got), NAS_OK);
        for (int i = 0; i < n; i++)
            correct += nas__argmax(got + (size_t)i * k, k) == te->y[s + i];
    }
    double acc = (double)correct / te->n;
    cr_assert(acc == t.r.value, "loader %.17g, job %.17g", acc, t.r.value);
    free(got);
    nas_model_free(m);
    nas_dataset_free(tr);
    nas_dataset_free(te);
    untrain(&t);
}

Test(predict, a_spec_of_another_network_is_refused)
{
    trained t;
    train(&t, "fixed-cnn");
    nas_job_spec other = t.s;
    other.channels[1] = 6; /* not the file's network */
    nas_model *m = (nas_model *)1;
    int rc = nas_model_open(t.model, &other, &m);
    cr_assert_eq(rc, NAS_ESHAPE, "%s", nas_errmsg());
    cr_assert_null(m);
    cr_assert(strstr(nas_errmsg(), "block1.conv.w"), "%s", nas_errmsg());
    nas_job_spec text = {.dataset = "fortunes"};
    nas_job_spec_defaults(&text);
    rc = nas_model_open(t.model, &text, &m); /* an image model has no vocabulary */
    cr_assert_eq(rc, NAS_EFORMAT, "%s", nas_errmsg());
    cr_assert(strstr(nas_errmsg(), "vocabulary"), "%s", nas_errmsg());
    char *v = NULL;
    cr_assert_eq(nas_model_meta(t.model, "dataset", &v), NAS_OK);
    cr_assert_str_eq(v, "synthetic");
    free(v);
    untrain(&t);
}
