// SPDX-License-Identifier: MIT
/*
 * estimate_steps.c - how long a job runs, from its spec, before it is
 * queued (nas_job_estimate_run, issue #15): the training steps it will
 * take and the seconds they cost on this machine.
 *
 * Steps are counted as the kinds count them (the progress totals of
 * darts_job.c, enas_job.c, train_image.c, ...) from the dataset's known
 * sizes (the table's, or an upload's meta.json) without loading it: the
 * figure is the one the job's progress reaches. A text corpus' token
 * count is known only once loaded, unless it is an upload (its
 * meta.json): there it is estimated from the file's size (exact 0).
 *
 * The one design decision to know: seconds are a cost model, not a
 * calibration run. A run of a few real steps would have to load the
 * dataset and allocate the job's memory (gigabytes for the default DARTS
 * search) inside the request, on the thread that serves every other
 * request. Instead each kind counts the multiply-adds of its step (the
 * convolutions, separable and pointwise ones, LSTM and decoder GEMMs:
 * what dominates a step), and the rate the engine reaches on them is
 * this machine's cblas_sgemm rate, measured once per process in a few
 * milliseconds, times the job's threads and an efficiency per family
 * (the share of the GEMM rate a whole step reaches, with its im2col,
 * BN, depthwise and element-wise ops) measured on this machine against
 * real runs: README's "How long will it run" gives the command.
 */
#include "jobs.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Share of the single-thread GEMM rate a whole training step reaches,
 * per thread (measured: README). */
#define EFF_CNN 0.12
#define EFF_TEXT 0.59
/* Forward, backward for the activations, backward for the weights. */
#define FWD_BWD 3.0
/* Bytes of a text file per token: Debian's fortunes-min file has 24,516
 * bytes and 4,743 tokens (4,262 words and 481 line ends, by awk). */
#define BYTES_PER_TOKEN 5.2
#define DEFAULT_VOCAB 10000.0

/* ------------------------------------------------------------- sizes */

/* The training images a kind starts from: the first max_examples. */
static double images(const nas_job_spec *s, const nas_dataset_desc *d)
{
    int n = d->train_size;
    return s->max_examples > 0 && s->max_examples < n ? s->max_examples : n;
}

static double file_bytes(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 ? (double)st.st_size : 0;
}

/* Training tokens of a text dataset: an upload's meta.json (exact; our
 * own import_text.c writes it as "splits":{"train":{"tokens":N), or the
 * train file's size (*exact = 0). */
static double train_tokens(const nas_job_spec *s, const nas_dataset_desc *d, int *exact)
{
    const char *dir = s->data_path ? s->data_path : d->default_path;
    char path[4096], meta[4096];
    if (d->uploaded && dir) {
        snprintf(path, sizeof(path), "%s/meta.json", dir);
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(meta, 1, sizeof(meta) - 1, f) : 0;
        if (f)
            fclose(f);
        meta[n] = '\0';
        const char *key = "\"splits\":{\"train\":{\"tokens\":", *t = strstr(meta, key);
        double tokens = t ? strtod(t + strlen(key), NULL) : 0;
        if (tokens > 0)
            return tokens;
    }
    *exact = 0;
    double bytes;
    if (strcmp(d->name, "fortunes") == 0) {
        bytes = 0.8 * file_bytes(dir); /* eight entries in ten train */
    } else {
        snprintf(path, sizeof(path), "%s/ptb.train.txt", dir ? dir : ".");
        bytes = file_bytes(path);
    }
    if (bytes <= 0)
        bytes = 5 << 20; /* not there yet: about PTB's 5 MB */
    return floor(bytes / BYTES_PER_TOKEN);
}

/* BPTT chunks of one epoch (nas__stream_make, train_text.c): the tokens
 * in batch_size columns, cut into bptt-long chunks. */
static double text_chunks(const nas_job_spec *s, double tokens)
{
    double rows = floor(tokens / s->batch_size), bptt = s->bptt > 0 ? s->bptt : 35;
    return rows > 1 ? ceil((rows - 1) / bptt) : 0;
}

/* ----------------------------------------------------- multiply-adds */

/* One image through a fixed CNN (conv 3x3 blocks halving to 4x4, then
 * hidden and classes). */
static double macs_fixed_cnn(const nas_job_spec *s, const nas_dataset_desc *d)
{
    double m = 0;
    int h = d->h, w = d->w, cin = d->c;
    for (int i = 0; i < s->nblocks; i++) {
        m += 9.0 * cin * s->channels[i] * h * w;
        if (h > 4 || w > 4) {
            h = (h - 1) / 2 + 1;
            w = (w - 1) / 2 + 1;
        }
        cin = s->channels[i];
    }
    return m + (double)cin * h * w * s->hidden + (double)s->hidden * d->classes;
}

/* One image through a DARTS-shaped network of `layers` cells (the
 * reductions at a third and two thirds double the channels and halve
 * the image): the stem, each cell's two 1x1 preprocessing convolutions
 * (inputs of about 4c channels) and `per_pixel(c)` multiply-adds per
 * output pixel of its edges. */
static double macs_cells(const nas_dataset_desc *d, int C, int layers, int nodes,
                         double (*per_pixel)(double c, int nodes))
{
    double c = C, hw = (double)d->h * d->w;
    double m = 9.0 * d->c * 3 * C * hw;
    for (int i = 0; i < layers; i++) {
        if (i == layers / 3 || i == 2 * layers / 3) {
            c *= 2;
            hw /= 4;
        }
        m += hw * (8.0 * c * c + per_pixel(c, nodes));
    }
    return m;
}

/* The 14 mixed edges of a DARTS supernet cell, each running the eight
 * ops: two separable 3x3 and 5x5 (each two depthwise + pointwise
 * stacks), dilated 3x3 and 5x5, two 3x3 poolings. */
static double darts_mixed(double c, int nodes)
{
    (void)nodes; /* four */
    return 14.0 * (6.0 * c * c + 88.0 * c);
}

/* A discrete DARTS cell: eight ops, a separable 3x3 for each (the
 * genotype is not known before the search). */
static double darts_discrete(double c, int nodes)
{
    (void)nodes;
    return 8.0 * (2.0 * c * c + 18.0 * c);
}

/* An ENAS micro cell's ops, averaged over its five (sep 3x3, sep 5x5,
 * avg, max, identity), two per node. */
static double enas_micro(double c, int nodes)
{
    return 2.0 * (nodes > 0 ? nodes : 5) * (0.8 * c * c + 20.8 * c);
}

/* An LSTM language model, per token: the gates (4H x (in + H)) per
 * layer and the decoder. */
static double macs_lstm(const nas_job_spec *s, double V)
{
    double m = 0, in = s->embed;
    for (int l = 0; l < s->layers; l++) {
        m += 4.0 * s->hidden * (in + s->hidden);
        in = s->hidden;
    }
    return m + (double)s->hidden * V;
}

/* A recurrent cell of `nodes` nodes (DARTS and ENAS RNN: each a H x 2H
 * GEMM), its input GEMM and the decoder, per token. */
static double macs_rnn_cell(double E, double H, double nodes, double V)
{
    return 2.0 * H * (E + H) + nodes * 2.0 * H * H + H * V;
}

static double vocab(const nas_job_spec *s)
{
    return s->max_vocab > 0 ? s->max_vocab : DEFAULT_VOCAB;
}

/* The mean child of a nasrl-cnn search: half the budget's depth, each
 * layer of the mean filter size and count, fed by half of the earlier
 * layers (skips), at full resolution. */
static double macs_nasrl_cnn(const nas_job_spec *s, const nas_dataset_desc *d)
{
    double fh = 0, fw = 0, F = 0;
    for (int i = 0; i < s->nfilter_heights; i++)
        fh += s->filter_heights[i] / (double)s->nfilter_heights;
    for (int i = 0; i < s->nfilter_widths; i++)
        fw += s->filter_widths[i] / (double)s->nfilter_widths;
    for (int i = 0; i < s->nnum_filters; i++)
        F += s->num_filters[i] / (double)s->nnum_filters;
    int first = nas__nasrl_layers_at(s, 0);
    int last = nas__nasrl_layers_at(s, s->max_architectures > 0 ? s->max_architectures - 1 : 0);
    double L = (first + last) / 2.0, m = 0;
    for (int i = 0; i < (int)ceil(L); i++)
        m += (i ? F * (i > 1 ? i / 2.0 : 1) : d->c) * F * fh * fw;
    return m * d->h * d->w + L * F * d->classes;
}

/* -------------------------------------------------------- per kind */

int nas__steps_train(nas_job_spec *s, const nas_dataset_desc *d, nas_job_steps *out)
{
    if (strcmp(d->kind, "image") != 0) {
        double spe = text_chunks(s, train_tokens(s, d, &out->exact));
        int cell = s->arch == NAS_ARCH_DARTS_RNN || s->arch == NAS_ARCH_ENAS_RNN ||
                   s->arch == NAS_ARCH_NASRL_RNN;
        double per = cell
                         ? macs_rnn_cell(s->embed, s->hidden, s->nodes > 0 ? s->nodes : 8, vocab(s))
                         : macs_lstm(s, vocab(s));
        out->search_steps = (int64_t)spe * s->epochs;
        out->search_macs = FWD_BWD * per * s->batch_size * (s->bptt > 0 ? s->bptt : 35);
        out->text = 1;
        return NAS_OK;
    }
    double per;
    if (s->arch == NAS_ARCH_DARTS_CNN)
        per = macs_cells(d, s->C, s->layers, 4, darts_discrete);
    else if (s->arch == NAS_ARCH_ENAS_CNN)
        per = macs_cells(d, s->C, s->layers, s->nodes, enas_micro);
    else if (s->arch == NAS_ARCH_NASRL_CNN)
        per = macs_nasrl_cnn(s, d);
    else
        per = macs_fixed_cnn(s, d);
    out->search_steps = (int64_t)(images(s, d) / s->batch_size) * s->epochs;
    out->search_macs = FWD_BWD * per * s->batch_size;
    return NAS_OK;
}

/* The final training after an image search: the train kind on the whole
 * training set (darts_final.c, enas_final.c). */
static void final_image(const nas_job_spec *s, const nas_dataset_desc *d, double per_image,
                        nas_job_steps *out)
{
    if (s->final_epochs <= 0)
        return;
    out->final_steps = (int64_t)(d->train_size / s->batch_size) * s->final_epochs;
    out->final_macs = FWD_BWD * per_image * s->batch_size;
}

int nas__steps_darts_cnn(nas_job_spec *s, const nas_dataset_desc *d, nas_job_steps *out)
{
    double ntr = floor((double)s->train_portion * images(s, d));
    out->search_steps = (int64_t)(ntr / s->batch_size) * s->epochs;
    /* First order: a weight step and an alpha step on the other half;
     * second order: the alpha step on the unrolled weights also takes
     * the virtual step and two finite-difference passes. */
    double passes = s->order == 2 ? 5.0 : 2.0;
    out->search_macs =
        passes * FWD_BWD * macs_cells(d, s->C, s->layers, 4, darts_mixed) * s->batch_size;
    final_image(s, d,
                macs_cells(d, s->final_C ? s->final_C : 16, s->final_layers ? s->final_layers : 8,
                           4, darts_discrete),
                out);
    return NAS_OK;
}

int nas__steps_darts_rnn(nas_job_spec *s, const nas_dataset_desc *d, nas_job_steps *out)
{
    double spe = text_chunks(s, train_tokens(s, d, &out->exact));
    double passes = s->order == 2 ? 5.0 : 2.0, tok = (double)s->batch_size * s->bptt;
    /* the supernet's nodes each run all four activations over one GEMM */
    double per = macs_rnn_cell(s->embed, s->hidden, 8, vocab(s));
    out->text = 1;
    out->search_steps = (int64_t)spe * s->epochs;
    out->search_macs = passes * FWD_BWD * per * tok;
    if (s->final_epochs > 0) {
        out->final_steps = (int64_t)spe * s->final_epochs;
        out->final_macs = FWD_BWD * per * tok;
    }
    return NAS_OK;
}

/* A step is a weight step of one sampled child or a controller update
 * (controller_aggregate children's forward passes on a validation batch):
 * the cost is their mean over an epoch. */
int nas__steps_enas_cnn(nas_job_spec *s, const nas_dataset_desc *d, nas_job_steps *out)
{
    double ntr = floor((double)s->train_portion * images(s, d));
    double spe_w = floor(ntr / s->batch_size), spe = spe_w + s->ctrl_steps;
    double child = macs_cells(d, s->C, s->layers, s->nodes, enas_micro) * s->batch_size;
    out->search_steps = (int64_t)spe * s->epochs;
    out->search_macs = (spe_w * FWD_BWD * child + s->ctrl_steps * s->ctrl_aggregate * child) / spe;
    int fC, fL;
    nas__enas_final_size(s, &fC, &fL);
    final_image(s, d, macs_cells(d, fC, fL, s->nodes, enas_micro), out);
    return NAS_OK;
}

int nas__steps_enas_rnn(nas_job_spec *s, const nas_dataset_desc *d, nas_job_steps *out)
{
    double chunks = text_chunks(s, train_tokens(s, d, &out->exact));
    double spe = chunks + s->ctrl_steps, tok = (double)s->batch_size * s->bptt;
    double child = macs_rnn_cell(s->hidden, s->hidden, s->nodes, vocab(s)) * tok;
    out->text = 1;
    out->search_steps = (int64_t)spe * s->epochs;
    out->search_macs = (chunks * FWD_BWD * child + s->ctrl_steps * s->ctrl_aggregate * child) / spe;
    if (s->final_epochs > 0) {
        out->final_steps = (int64_t)chunks * s->final_epochs;
        out->final_macs = FWD_BWD * child;
    }
    return NAS_OK;
}

/* nas-rl and random: every architecture trains from scratch for
 * child_epochs on the first 90% of max_examples (nasrl_job.c's split);
 * one the job has trained already is taken from its reward cache, so
 * the count is an upper bound (exact 0). The final training retrains
 * the best child on the whole set. */
int nas__steps_nasrl(nas_job_spec *s, const nas_dataset_desc *d, nas_job_steps *out)
{
    const char *space = s->search_space ? s->search_space : "nasrl-cnn";
    int image = strcmp(d->kind, "image") == 0;
    double per_child, per_step;
    out->exact = 0;
    if (image) {
        double n = images(s, d), nval = floor(n / 10) > 0 ? floor(n / 10) : 1;
        per_child = floor((n - nval) / s->batch_size);
        if (strcmp(space, "nasrl-cnn") == 0) {
            per_step = macs_nasrl_cnn(s, d);
        } else if (strcmp(space, "darts-cnn") == 0) {
            per_step = macs_cells(d, s->C > 0 ? s->C : 16, s->layers > 0 ? s->layers : 8, 4,
                                  darts_discrete);
        } else {
            per_step = macs_cells(d, s->C > 0 ? s->C : 16, s->layers > 0 ? s->layers : 8, s->nodes,
                                  enas_micro);
        }
        per_step *= s->batch_size;
    } else {
        int exact = 1;
        double E = s->embed > 0 ? s->embed : 200, H = s->hidden > 0 ? s->hidden : 200;
        per_child = text_chunks(s, train_tokens(s, d, &exact));
        per_step = macs_rnn_cell(E, H, s->tree_base > 0 ? s->tree_base : 8, vocab(s)) *
                   s->batch_size * (s->bptt > 0 ? s->bptt : 35);
        out->text = 1;
    }
    int64_t child_steps = (int64_t)per_child * (s->child_epochs > 0 ? s->child_epochs : 1);
    out->search_steps = child_steps * s->max_architectures;
    out->search_macs = FWD_BWD * per_step;
    if (s->final_epochs > 0) {
        out->final_steps =
            (int64_t)(image ? d->train_size / s->batch_size : per_child) * s->final_epochs;
        out->final_macs = out->search_macs;
    }
    return NAS_OK;
}

/* ------------------------------------------------------ GEMM rate */

static pthread_once_t rate_once = PTHREAD_ONCE_INIT;
static double rate_macs; /* multiply-adds per second, one thread */

static double now(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* 256 x 256 x 256 products (the size of a DARTS cell's pointwise GEMMs
 * over a batch) on one thread until 50 ms have passed: the median of
 * the repeats' rates, each timed in this thread's CPU time (the wall
 * clock of a loaded machine measured the other processes: 80 times
 * slower under a load of 15 on 2 cores). */
static void measure_rate(void)
{
    enum { N = 256, REPS = 15 };
    static float a[N * N], b[N * N], c[N * N];
    for (int i = 0; i < N * N; i++) {
        a[i] = (float)(i % 17) * 0.01f;
        b[i] = (float)(i % 13) * 0.01f;
    }
    int threads = nas_get_threads();
    nas_set_threads(1); /* OpenBLAS at one thread, as the jobs run it */
    double r[REPS];
    int n = 0;
    double t_end = now(CLOCK_MONOTONIC) + 0.05;
    while (n < REPS && (n < 3 || now(CLOCK_MONOTONIC) < t_end)) {
        double t0 = now(CLOCK_THREAD_CPUTIME_ID);
        nas__sgemm(CblasNoTrans, CblasNoTrans, N, N, N, 1.0f, a, N, b, N, 0.0f, c, N);
        double dt = now(CLOCK_THREAD_CPUTIME_ID) - t0;
        r[n++] = dt > 0 ? (double)N * N * N / dt : 1e12;
    }
    nas_set_threads(threads);
    for (int i = 1; i < n; i++) /* insertion sort: a handful */
        for (int k = i; k > 0 && r[k] < r[k - 1]; k--) {
            double t = r[k];
            r[k] = r[k - 1];
            r[k - 1] = t;
        }
    rate_macs = r[n / 2];
}

double nas_gemm_rate(void)
{
    pthread_once(&rate_once, measure_rate);
    return rate_macs;
}

/* --------------------------------------------------------------- driver */

int nas_job_estimate_run(const nas_job_spec *spec, nas_job_steps *out)
{
    memset(out, 0, sizeof(*out));
    nas_job_spec s;
    const nas_dataset_desc *d;
    const nas__kind *k;
    int rc = nas__estimate_prepare(spec, &s, &d, &k);
    if (rc < 0)
        return rc;
    out->exact = 1;
    rc = k->steps(&s, d, out);
    if (rc < 0)
        return rc;
    out->steps = out->search_steps + out->final_steps;
    double threads = s.threads > 0 ? s.threads : 1;
    out->macs_per_second = nas_gemm_rate() * threads * (out->text ? EFF_TEXT : EFF_CNN);
    out->search_seconds = (double)out->search_steps * out->search_macs / out->macs_per_second;
    out->final_seconds = (double)out->final_steps * out->final_macs / out->macs_per_second;
    /* A time limit ends a stage by it at the latest. */
    if (s.max_seconds > 0 && out->search_seconds > s.max_seconds) {
        out->search_seconds = s.max_seconds;
        out->capped = 1;
    }
    if (s.final_max_seconds > 0 && out->final_seconds > s.final_max_seconds) {
        out->final_seconds = s.final_max_seconds;
        out->capped = 1;
    }
    out->seconds = out->search_seconds + out->final_seconds;
    return NAS_OK;
}
