// SPDX-License-Identifier: MIT
/*
 * nas_train.c - train a small fixed CNN on Fashion-MNIST with the engine:
 * the end-to-end proof that tensors, ops, tape, optimizer, data pipeline
 * and checkpoints work together (`./quickstart run` runs it until the
 * daemon exists).
 *
 * The network: conv3x3(1->32)-BN-ReLU, maxpool 3x3/2, conv3x3(32->64)-BN-
 * ReLU, maxpool 3x3/2, linear(64*7*7 -> 128)-ReLU-[dropout]-linear(128 ->
 * 10); SGD with Nesterov momentum and a cosine schedule. Every epoch prints
 * the mean training loss, the training accuracy (of the batches as they
 * were trained), the test accuracy on the full test set and images/s.
 */
#include "nas.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    int c1w, bn1g, bn1b, bn1m, bn1v;
    int c2w, bn2g, bn2b, bn2m, bn2v;
    int fc1w, fc1b, fc2w, fc2b;
} net_ids;

typedef struct {
    const char *data_dir;
    const char *save;
    int epochs, batch, threads;
    float lr, momentum, weight_decay, dropout;
    unsigned long seed;
    long limit; /* train on the first `limit` images (0: all) */
} options;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int add(nas_params *p, const char *name, int group, enum nas_init init, int ndim, int a,
               int b, int c, int d)
{
    int shape[4] = {a, b, c, d};
    int id = nas_params_add(p, name, group, init, 1.0f, ndim, shape);
    NAS_ASSERT(id >= 0);
    return id;
}

static void declare(nas_params *p, net_ids *n)
{
    const int W = NAS_GROUP_WEIGHTS, S = NAS_GROUP_STATE;
    n->c1w = add(p, "conv1.w", W, NAS_INIT_KAIMING, 4, 32, 1, 3, 3);
    n->bn1g = add(p, "bn1.gamma", W, NAS_INIT_ONE, 1, 32, 0, 0, 0);
    n->bn1b = add(p, "bn1.beta", W, NAS_INIT_ZERO, 1, 32, 0, 0, 0);
    n->bn1m = add(p, "bn1.running_mean", S, NAS_INIT_ZERO, 1, 32, 0, 0, 0);
    n->bn1v = add(p, "bn1.running_var", S, NAS_INIT_ONE, 1, 32, 0, 0, 0);
    n->c2w = add(p, "conv2.w", W, NAS_INIT_KAIMING, 4, 64, 32, 3, 3);
    n->bn2g = add(p, "bn2.gamma", W, NAS_INIT_ONE, 1, 64, 0, 0, 0);
    n->bn2b = add(p, "bn2.beta", W, NAS_INIT_ZERO, 1, 64, 0, 0, 0);
    n->bn2m = add(p, "bn2.running_mean", S, NAS_INIT_ZERO, 1, 64, 0, 0, 0);
    n->bn2v = add(p, "bn2.running_var", S, NAS_INIT_ONE, 1, 64, 0, 0, 0);
    n->fc1w = add(p, "fc1.w", W, NAS_INIT_KAIMING, 2, 128, 64 * 7 * 7, 0, 0);
    n->fc1b = add(p, "fc1.b", W, NAS_INIT_ZERO, 1, 128, 0, 0, 0);
    n->fc2w = add(p, "fc2.w", W, NAS_INIT_KAIMING, 2, 10, 128, 0, 0);
    n->fc2b = add(p, "fc2.b", W, NAS_INIT_ZERO, 1, 10, 0, 0, 0);
}

static nas_tensor *forward(nas_graph *g, nas_params *p, const net_ids *n, nas_tensor *x,
                           float dropout)
{
#define P(i) nas_params_get(p, (i))
    nas_tensor *h = nas_conv2d(g, x, P(n->c1w), NULL, 1, 1, 1, 1);
    h = nas_relu(g,
                 nas_batchnorm(g, h, P(n->bn1g), P(n->bn1b), P(n->bn1m), P(n->bn1v), 0.1f, 1e-5f));
    h = nas_maxpool2d(g, h, 3, 2, 1);
    h = nas_conv2d(g, h, P(n->c2w), NULL, 1, 1, 1, 1);
    h = nas_relu(g,
                 nas_batchnorm(g, h, P(n->bn2g), P(n->bn2b), P(n->bn2m), P(n->bn2v), 0.1f, 1e-5f));
    h = nas_maxpool2d(g, h, 3, 2, 1);
    int flat[2] = {h->shape[0], 64 * 7 * 7};
    h = nas_reshape(g, h, 2, flat);
    h = nas_relu(g, nas_linear(g, h, P(n->fc1w), P(n->fc1b)));
    h = nas_dropout(g, h, dropout);
    return nas_linear(g, h, P(n->fc2w), P(n->fc2b));
#undef P
}

static int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

static double evaluate(nas_graph *g, nas_params *p, const net_ids *ids, const nas_dataset *test)
{
    const int bs = 500;
    int *idx = malloc((size_t)bs * sizeof(int));
    int32_t *y = malloc((size_t)bs * sizeof(int32_t));
    long correct = 0;
    nas_graph_set_training(g, 0);
    nas_graph_set_grad(g, 0);
    for (int s = 0; s < test->n; s += bs) {
        int n = test->n - s < bs ? test->n - s : bs;
        for (int i = 0; i < n; i++)
            idx[i] = s + i;
        nas_graph_reset(g);
        nas_tensor *x = nas_tensor_new4(g, n, test->c, test->h, test->w);
        nas_dataset_batch(test, idx, n, NULL, NULL, x->data, y);
        nas_tensor *logits = forward(g, p, ids, x, 0.0f);
        for (int i = 0; i < n; i++)
            correct += argmax(logits->data + (size_t)i * 10, 10) == y[i];
    }
    nas_graph_reset(g);
    nas_graph_set_training(g, 1);
    nas_graph_set_grad(g, 1);
    free(idx);
    free(y);
    return (double)correct / test->n;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: nas-train [options]\n"
               "Train a small CNN on Fashion-MNIST and report loss, train/test\n"
               "accuracy and images/s per epoch.\n\n"
               "  --data DIR        IDX files (default /usr/share/datasets/fashion-mnist)\n"
               "  --epochs N        default 3\n"
               "  --batch N         default 64\n"
               "  --lr X            peak learning rate, cosine to 0 (default 0.02)\n"
               "  --dropout P       before the last layer (default 0)\n"
               "  --threads N       engine threads (default 2)\n"
               "  --seed N          default 1\n"
               "  --limit N         train on the first N images only\n"
               "  --save PATH       write a checkpoint (safetensors) at the end\n"
               "  --help, --version\n");
}

static int parse_int(const char *s, const char *opt, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "nas-train: %s must be an integer in [%ld, %ld], got '%s'\n", opt, lo, hi,
                s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, options *o)
{
    static const struct option opts[] = {
        {"data", 1, 0, 'd'},  {"epochs", 1, 0, 'e'},  {"batch", 1, 0, 'b'},
        {"lr", 1, 0, 'l'},    {"threads", 1, 0, 't'}, {"seed", 1, 0, 's'},
        {"limit", 1, 0, 'n'}, {"dropout", 1, 0, 'p'}, {"save", 1, 0, 'o'},
        {"help", 0, 0, 'h'},  {"version", 0, 0, 'V'}, {0, 0, 0, 0}};
    int c;
    long v;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o->data_dir = optarg; break;
        case 'o': o->save = optarg; break;
        case 'e':
            if (parse_int(optarg, "--epochs", 1, 1000, &v))
                return -1;
            o->epochs = (int)v;
            break;
        case 'b':
            if (parse_int(optarg, "--batch", 1, 4096, &v))
                return -1;
            o->batch = (int)v;
            break;
        case 't':
            if (parse_int(optarg, "--threads", 1, 64, &v))
                return -1;
            o->threads = (int)v;
            break;
        case 's':
            if (parse_int(optarg, "--seed", 0, 0x7fffffffL, &v))
                return -1;
            o->seed = (unsigned long)v;
            break;
        case 'n':
            if (parse_int(optarg, "--limit", 1, 100000000L, &v))
                return -1;
            o->limit = v;
            break;
        case 'p': {
            char *end;
            o->dropout = strtof(optarg, &end);
            if (*end || end == optarg || !(o->dropout >= 0.0f && o->dropout < 1.0f)) {
                fprintf(stderr, "nas-train: --dropout must be in [0, 1), got '%s'\n", optarg);
                return -1;
            }
            break;
        }
        case 'l': {
            char *end;
            o->lr = strtof(optarg, &end);
            if (*end || !(o->lr > 0.0f && o->lr < 10.0f)) {
                fprintf(stderr, "nas-train: --lr must be in (0, 10), got '%s'\n", optarg);
                return -1;
            }
            break;
        }
        case 'h': usage(stdout); exit(0);
        case 'V': printf("nas-train (nasd) %s\n", NAS_VERSION); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "nas-train: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

static int load(const char *dir, const char *img, const char *lab, nas_dataset **out)
{
    char a[4096], b[4096];
    snprintf(a, sizeof(a), "%s/%s", dir, img);
    snprintf(b, sizeof(b), "%s/%s", dir, lab);
    int rc = nas_idx_load(a, b, out);
    if (rc < 0)
        fprintf(stderr, "nas-train: %s: %s\n", nas_strerror(rc), nas_errmsg());
    return rc;
}

int main(int argc, char **argv)
{
    options o = {
        "/usr/share/datasets/fashion-mnist", NULL, 3, 64, 2, 0.02f, 0.9f, 5e-4f, 0.0f, 1, 0};
    if (parse_args(argc, argv, &o))
        return 2;
    nas_set_threads(o.threads);

    nas_dataset *train = NULL, *test = NULL;
    if (load(o.data_dir, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", &train) < 0 ||
        load(o.data_dir, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", &test) < 0)
        return 1;
    if (o.limit && o.limit < train->n)
        train->n = (int)o.limit;
    /* Normalise both sets with the training statistics. */
    nas_dataset_compute_stats(train);
    memcpy(test->mean, train->mean, sizeof(test->mean));
    memcpy(test->std, train->std, sizeof(test->std));
    printf("Fashion-MNIST: %d train, %d test images %dx%dx%d; mean %.4f std %.4f; "
           "%d thread(s), batch %d, %d epochs\n",
           train->n, test->n, train->c, train->h, train->w, train->mean[0], train->std[0],
           o.threads, o.batch, o.epochs);

    nas_rng rng;
    nas_rng_seed(&rng, o.seed);
    nas_params *p = nas_params_new();
    net_ids ids;
    declare(p, &ids);
    if (nas_params_alloc(p, &rng) < 0) {
        fprintf(stderr, "nas-train: %s\n", nas_errmsg());
        return 1;
    }
    nas_graph *g = nas_graph_new(0);
    nas_graph_set_rng(g, &rng);
    nas_sgd sgd = {
        .lr = o.lr, .momentum = o.momentum, .weight_decay = o.weight_decay, .nesterov = 1};
    int *order = malloc((size_t)train->n * sizeof(int));
    int32_t *y = malloc((size_t)o.batch * sizeof(int32_t));
    for (int i = 0; i < train->n; i++)
        order[i] = i;
    const int steps_per_epoch = train->n / o.batch; /* drop the last partial batch */
    const int64_t total = (int64_t)steps_per_epoch * o.epochs;
    double t_start = now();
    double test_acc = 0.0;

    for (int epoch = 1; epoch <= o.epochs; epoch++) {
        double t0 = now(), loss_sum = 0.0;
        long correct = 0, seen = 0;
        nas_rng_shuffle(&rng, order, train->n);
        for (int s = 0; s < steps_per_epoch; s++) {
            nas_graph_reset(g);
            nas_tensor *x = nas_tensor_new4(g, o.batch, 1, 28, 28);
            nas_dataset_batch(train, order + (size_t)s * o.batch, o.batch, NULL, NULL, x->data, y);
            nas_tensor *logits = forward(g, p, &ids, x, o.dropout);
            nas_tensor *loss = nas_cross_entropy(g, logits, y);
            nas_params_zero_grad(p, NAS_MASK(NAS_GROUP_WEIGHTS));
            nas_graph_backward(g, loss, NAS_MASK(NAS_GROUP_WEIGHTS));
            sgd.lr = nas_cosine_lr(o.lr, 0.0f, sgd.steps, total);
            nas_sgd_step(&sgd, p, NAS_GROUP_WEIGHTS);
            loss_sum += loss->data[0];
            for (int i = 0; i < o.batch; i++)
                correct += argmax(logits->data + (size_t)i * 10, 10) == y[i];
            seen += o.batch;
        }
        double train_time = now() - t0;
        test_acc = evaluate(g, p, &ids, test);
        printf("epoch %d/%d  loss %.4f  train acc %.4f  test acc %.4f  "
               "%.0f images/s  (%.1f s)\n",
               epoch, o.epochs, loss_sum / steps_per_epoch, (double)correct / seen, test_acc,
               seen / train_time, now() - t0);
        fflush(stdout);
    }
    printf("final test accuracy %.4f on %d images; wall time %.1f s\n", test_acc, test->n,
           now() - t_start);

    int rc = 0;
    if (o.save) {
        char step[32];
        snprintf(step, sizeof(step), "%lld", (long long)sgd.steps);
        nas_kv meta[2] = {{"step", step}, {"model", "fmnist-cnn"}};
        rc = nas_ckpt_save(o.save, p, &rng, meta, 2);
        if (rc < 0)
            fprintf(stderr, "nas-train: %s: %s\n", nas_strerror(rc), nas_errmsg());
        else
            printf("checkpoint written to %s\n", o.save);
    }
    free(order);
    free(y);
    nas_graph_free(g);
    nas_params_free(p);
    nas_dataset_free(train);
    nas_dataset_free(test);
    return rc < 0 ? 1 : 0;
}
