// SPDX-License-Identifier: MIT
/*
 * estimate.c - a job's peak memory from its spec, before it is queued
 * (nas_job_estimate_memory, issue #8): the daemon refuses a job whose
 * estimate is over its limit instead of letting the kernel's OOM killer
 * end the whole service halfway through someone's search.
 *
 * The one design decision to know: parameters are counted exactly, by
 * declaring the real network into a parameter store that is never
 * allocated (declaration only records names and shapes); activations are
 * a model: the number of floats each layer's output has, times how many
 * tensors of that size one training step keeps in the arena (forward
 * outputs, their gradients, saved statistics, im2col columns). Those
 * multipliers were measured (tests/test_estimate.c builds the same
 * networks, runs a real step and reads nas_arena_peak) and rounded up, so
 * the estimate stays at or above the real peak and within 3x of it.
 */
#include "jobs.h"
#include "search/darts/darts.h"
#include "search/enas/enas.h"
#include "search/enas/enas_rnn.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Arena floats per output float of a layer in one training step: forward
 * outputs and their gradients plus op scratch, measured and rounded up
 * (see the header comment). */
#define K_CNN_BLOCK 7.0   /* conv, BN, ReLU (+ pool) of a fixed CNN */
#define K_CNN_IM2COL 2.0  /* per image, per column float */
#define K_DARTS_NODE 50.0 /* supernet: per cell-channel-pixel (14 edges) */
#define K_DARTS_EDGE 60.0 /* supernet: one edge's recomputation */
/* supernet without recomputation, per cell-channel-pixel: every edge's
 * ops and their gradients kept (measured 364-373 before the blocked
 * depthwise kernels, 465 after on 16x16 images: their block scratch;
 * rounded up) */
#define K_DARTS_KEEP 480.0
#define K_FIXED_OP 84.0  /* a genotype network's op, per output float */
#define K_LSTM_STEP 66.0 /* LSTM: per hidden unit per token per layer */
#define K_LOGITS 4.0     /* decoder logits, log-softmax and gradients */
#define K_DRNN_NODE 44.0 /* darts-rnn: per node per hidden unit per token */
#define K_ERNN_NODE                                                                                \
    40.0 /* enas-rnn: per node per hidden unit per token                                           \
            (one run: hidden 720, 12 nodes, batch 20,                                              \
            bptt 35 peaked at 1.65 GB RSS) */
/* Code, libraries, the BLAS buffers and the engine's thread stacks. */
#define BASE_BYTES ((size_t)96 << 20)
/* A text corpus in memory: ids (4 bytes) per token, about a token per 5
 * bytes of file, plus the vocabulary; 2 bytes per file byte covers it. */
#define TEXT_BYTES_PER_FILE_BYTE 2
#define UNKNOWN_VOCAB 100000

static size_t clamp_bytes(double b)
{
    return b >= (double)(SIZE_MAX / 2) ? SIZE_MAX / 2 : (size_t)b;
}

/* The store keeps every tensor 64-byte aligned: 16 floats. */
static size_t r16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

static size_t numel_all(nas_params *p)
{
    size_t n = 0;
    for (int i = 0; i < nas_params_count(p); i++)
        n += r16(nas_tensor_numel(nas_params_get(p, i)));
    return n;
}

/* data + grad + moment1 + moment2, 4 bytes each. */
static size_t store_bytes(size_t floats)
{
    return floats * 16;
}

static size_t file_size(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

static size_t text_data_bytes(const nas_job_spec *s, const nas_dataset_desc *d)
{
    const char *path = s->data_path ? s->data_path : d->default_path;
    size_t bytes = 0;
    if (strcmp(d->name, "ptb") == 0 && path) {
        static const char *const f[] = {"ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"};
        char buf[4096];
        for (int i = 0; i < 3; i++) {
            snprintf(buf, sizeof(buf), "%s/%s", path, f[i]);
            bytes += file_size(buf);
        }
    } else {
        bytes = file_size(path);
    }
    if (!bytes)
        bytes = (size_t)16 << 20; /* not there yet: a PTB-sized corpus */
    return bytes * TEXT_BYTES_PER_FILE_BYTE;
}

static size_t image_data_bytes(const nas_dataset_desc *d)
{
    size_t per = (size_t)d->c * d->h * d->w + sizeof(int32_t);
    size_t n = (size_t)d->train_size + (size_t)d->test_size;
    /* The split and subset copies of a search hold the training set once
     * more at most. */
    return per * (n + (size_t)d->train_size);
}

/* ------------------------------------------------------------ fixed CNN */

static void est_fixed_cnn(const nas_job_spec *s, const nas_dataset_desc *d, nas_job_memory *m)
{
    double B = s->batch_size, act = 0;
    size_t params = 0;
    int h = d->h, w = d->w, cin = d->c;
    size_t col_max = 0;
    act += B * cin * h * w; /* the input batch */
    for (int i = 0; i < s->nblocks; i++) {
        int co = s->channels[i];
        params += r16((size_t)co * cin * 9) + 4 * r16((size_t)co);
        act += K_CNN_BLOCK * B * co * h * w;
        size_t col = (size_t)cin * 9 * h * w;
        if (col > col_max)
            col_max = col;
        if (h > 4 || w > 4) {
            h = (h - 1) / 2 + 1;
            w = (w - 1) / 2 + 1;
        }
        cin = co;
    }
    size_t flat = (size_t)cin * h * w;
    params += r16(flat * s->hidden) + r16((size_t)s->hidden) + r16((size_t)s->hidden * d->classes) +
              r16((size_t)d->classes);
    act += K_CNN_IM2COL * B * col_max + 6.0 * B * (s->hidden + d->classes);
    m->params = store_bytes(params);
    m->activations = (size_t)(act * 4);
}

/* ------------------------------------------------------------ DARTS CNN */

/* Output floats of the stem and of every cell: channel-pixels summed
 * over the cells (sum) and the largest single cell's (max). */
static void darts_cells(int C, int layers, int h, int w, double *sum, double *max)
{
    int c = C;
    *sum = 3.0 * C * h * w; /* the stem */
    *max = 0;
    for (int i = 0; i < layers; i++) {
        if (i == layers / 3 || i == 2 * layers / 3) {
            c *= 2;
            h /= 2;
            w /= 2;
        }
        double e = (double)c * h * w;
        *sum += e;
        if (e > *max)
            *max = e;
    }
}

/* keep: the edges' ops stay on the tape (no recomputation). */
static int est_darts_supernet(const nas_job_spec *s, const nas_dataset_desc *d, int C, int layers,
                              int batch, int keep, nas_job_memory *m)
{
    nas_darts_cfg cfg = {
        .C = C, .layers = layers, .in_c = d->c, .h = d->h, .w = d->w, .classes = d->classes};
    nas_params *p = nas_params_new();
    nas__darts_net *net = NULL;
    if (!p)
        return NAS_ENOMEM;
    int rc = nas__darts_declare(p, &cfg, &net);
    if (rc == 0)
        m->params = store_bytes(numel_all(p));
    nas__darts_net_free(net);
    nas_params_free(p);
    if (rc < 0)
        return rc;
    double sum, max;
    darts_cells(C, layers, d->h, d->w, &sum, &max);
    double act =
        (double)batch * (keep ? K_DARTS_KEEP * sum : K_DARTS_NODE * sum + K_DARTS_EDGE * max);
    /* The second order keeps a weight snapshot and a direction (2 w) and
     * runs its passes one after another on the same arena. */
    if (s->order == 2)
        m->params += m->params / 8;
    m->activations = clamp_bytes(act * 4);
    return 0;
}

static int est_darts_fixed(const nas_job_spec *s, const nas_dataset_desc *d, int C, int layers,
                           int batch, const nas_darts_genotype *gt, nas_job_memory *m)
{
    nas_darts_cfg cfg = {.C = C,
                         .layers = layers,
                         .in_c = d->c,
                         .h = d->h,
                         .w = d->w,
                         .classes = d->classes,
                         .auxiliary = s->aux_weight > 0.0f};
    int rc = nas__darts_genotype_check(gt);
    if (rc < 0)
        return rc;
    nas_params *p = nas_params_new();
    nas__darts_fixed *net = NULL;
    if (!p)
        return NAS_ENOMEM;
    rc = nas__darts_fixed_declare(p, &cfg, gt, &net);
    if (rc == 0)
        m->params = store_bytes(numel_all(p));
    nas__darts_fixed_free(net);
    nas_params_free(p);
    if (rc < 0)
        return rc;
    double sum, max;
    darts_cells(C, layers, d->h, d->w, &sum, &max);
    /* Eight ops and four nodes per cell, each about a cell output's
     * quarter (C channels of the 4C concatenated). */
    double act = K_FIXED_OP * sum;
    /* The auxiliary head (its weights are in the store above): its ReLU
     * over a cell output after two reductions (4C channels of h/4 x w/4)
     * and its small 128- and 768-channel maps, each kept with a BN. */
    if (cfg.auxiliary)
        act += 4.0 * C * (d->h / 4) * (d->w / 4) + 3.0 * (128 * 4 + 768);
    m->activations = (size_t)((double)batch * act * 4);
    return 0;
}

/* ------------------------------------------------------------- text */

static void est_lstm_lm(const nas_job_spec *s, const nas_dataset_desc *d, nas_job_memory *m)
{
    double V = s->max_vocab > 0 ? s->max_vocab : UNKNOWN_VOCAB;
    double E = s->embed, H = s->hidden, L = s->layers, T = s->bptt, B = s->batch_size;
    size_t params = r16((size_t)(V * E)) + r16((size_t)(V * H)) + r16((size_t)V);
    double in = E;
    for (int l = 0; l < s->layers; l++) {
        params += r16((size_t)(4 * H * in)) + r16((size_t)(4 * H * H)) + r16((size_t)(4 * H));
        in = H;
    }
    m->params = store_bytes(params);
    double act = T * B * (K_LSTM_STEP * H * L + 4 * E) + K_LOGITS * T * B * V;
    m->activations = (size_t)(act * 4);
    (void)d;
}

static int est_darts_rnn(const nas_job_spec *s, nas_job_memory *m)
{
    double V = s->max_vocab > 0 ? s->max_vocab : UNKNOWN_VOCAB;
    nas_darts_rnn_cfg cfg = {
        .vocab = (int)V, .embed = s->embed, .hidden = s->hidden, .tied = s->embed == s->hidden};
    nas_params *p = nas_params_new();
    nas__darts_rnn *net = NULL;
    if (!p)
        return NAS_ENOMEM;
    int rc = nas__darts_rnn_declare(p, &cfg, &net);
    if (rc == 0)
        m->params = store_bytes(numel_all(p));
    nas__darts_rnn_free(net);
    nas_params_free(p);
    if (rc < 0)
        return rc;
    double T = s->bptt, B = s->batch_size, H = s->hidden, E = s->embed;
    double act = T * B * (K_DRNN_NODE * 8 * H + 6 * E) + K_LOGITS * T * B * V;
    m->activations = (size_t)(act * 4);
    return 0;
}

/* ------------------------------------------------------------- enas */

/* The shared weights exactly (the space's own declaration); the
 * activations of one child step are bounded by the darts supernet's of
 * the same C, layers and batch (a child runs one op where a mixed edge
 * runs eight; enas-micro also recomputes its ops in backward). */
static int est_enas_cnn(const nas_job_spec *s, const nas_dataset_desc *d, nas_job_memory *m)
{
    const nas_enas_space *sp = s->search_space && strcmp(s->search_space, "enas-macro") == 0
                                   ? &nas__enas_macro
                                   : &nas__enas_micro;
    nas_enas_cfg cfg = {.C = s->C,
                        .layers = s->layers,
                        .nodes = s->nodes,
                        .in_c = d->c,
                        .h = d->h,
                        .w = d->w,
                        .classes = d->classes,
                        .aux = sp == &nas__enas_micro && s->aux_weight > 0.0f};
    nas_params *p = nas_params_new();
    void *self = NULL;
    if (!p)
        return NAS_ENOMEM;
    int rc = sp->declare(p, &cfg, &self);
    size_t params = rc == 0 ? store_bytes(numel_all(p)) : 0;
    if (self)
        sp->free(self);
    nas_params_free(p);
    if (rc < 0)
        return rc;
    int L = s->layers > 20 ? 20 : s->layers;
    rc = est_darts_supernet(s, d, s->C, L < 3 ? 3 : L, s->batch_size, 0, m);
    m->params = params;
    return rc;
}

static int est_enas_rnn(const nas_job_spec *s, nas_job_memory *m)
{
    double V = s->max_vocab > 0 ? s->max_vocab : UNKNOWN_VOCAB;
    nas_enas_rnn_cfg cfg = {.vocab = (int)V, .hidden = s->hidden, .nodes = s->nodes};
    nas_params *p = nas_params_new();
    nas__enas_rnn *net = NULL;
    if (!p)
        return NAS_ENOMEM;
    int rc = nas__enas_rnn_declare(p, &cfg, &net);
    if (rc == 0)
        m->params = store_bytes(numel_all(p));
    nas__enas_rnn_free(net);
    nas_params_free(p);
    if (rc < 0)
        return rc;
    double T = s->bptt, B = s->batch_size, H = s->hidden;
    double act = T * B * (K_ERNN_NODE * s->nodes * H + 6 * H) + K_LOGITS * T * B * V;
    m->activations = (size_t)(act * 4);
    return 0;
}

/* ------------------------------------------------------------ nasrl-cnn */

static int max_of(const int *v, int n)
{
    int m = 0;
    for (int i = 0; i < n; i++)
        if (v[i] > m)
            m = v[i];
    return m;
}

/* The largest child the nasrl-cnn controller can sample: the deepest
 * one the search grows to within its budget, each of the largest filter height,
 * width and count, at stride 1 (the full image: every stride choice may
 * be 1), each fed by the depth-concat of every earlier layer (skips may
 * join them all; nasrl_cnn.c). Per layer as a fixed CNN's block: its
 * output, BN and ReLU with their gradients (K_CNN_BLOCK), its input
 * concat and that one's gradient, and its two im2col matrices of one
 * image (forward and backward: conv_rect.c takes them from the arena,
 * which keeps them to the end of the step). A
 * bound, not a model: the caller marks it so and multiplies it by the
 * children that train at once. In doubles: a spec may ask for sizes
 * that overflow size_t arithmetic. */
static int est_nasrl_cnn(const nas_job_spec *s, const nas_dataset_desc *d, double *params,
                         double *act)
{
    /* The deepest child within the budget: the last of max_architectures
     * (counting max_layers priced the default search, 100 architectures
     * and growth every 1600, at 15 layers instead of its 6 and refused it
     * on a 24 GiB machine). */
    int L = nas__nasrl_layers_at(s, s->max_architectures > 0 ? s->max_architectures - 1 : 0);
    int fh = max_of(s->filter_heights, s->nfilter_heights);
    int fw = max_of(s->filter_widths, s->nfilter_widths);
    int F = max_of(s->num_filters, s->nnum_filters);
    if (L < 1 || fh < 1 || fw < 1 || F < 1)
        return nas_fail(NAS_EINVAL, "estimate: a nasrl-cnn space without layers or filter "
                                    "choices cannot be estimated");
    double B = s->batch_size, hw = (double)d->h * d->w;
    *params = 0;
    *act = B * d->c * hw;
    for (int i = 0; i < L; i++) {
        double cin = i ? (double)i * F : d->c;
        *params += F * cin * fh * fw + 16.0 * 5; /* conv, BN (16-float aligned) */
        *act += K_CNN_BLOCK * B * F * hw + 2.0 * B * cin * hw + K_CNN_IM2COL * cin * fh * fw * hw;
    }
    *params += (double)L * F * d->classes + d->classes;
    return NAS_OK;
}

/* ------------------------------------------------------ one per kind */

int nas__estimate_train(nas_job_spec *s, const nas_dataset_desc *d, nas_job_memory *out)
{
    if (strcmp(d->kind, "image") != 0)
        est_lstm_lm(s, d, out);
    else if (s->arch == NAS_ARCH_DARTS_CNN)
        return est_darts_fixed(s, d, s->C, s->layers, s->batch_size, &s->darts_cnn, out);
    else
        est_fixed_cnn(s, d, out);
    return 0;
}

size_t nas_job_memory_limit(const nas_job_spec *s)
{
    if (s->memory_limit > 0)
        return s->memory_limit;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0)
        return (size_t)4 << 30;
    return (size_t)pages * (size_t)page / 2;
}

/* recompute "auto": keep the edges' ops when the search's whole figure
 * without recomputation (its parameters, activations, data and base)
 * fits the job's memory limit; recompute otherwise. */
int nas__estimate_darts_cnn(nas_job_spec *s, const nas_dataset_desc *d, nas_job_memory *out)
{
    int keep = s->recompute == NAS_RECOMPUTE_NEVER;
    if (s->recompute == NAS_RECOMPUTE_AUTO) {
        nas_job_memory k = *out;
        int rc = est_darts_supernet(s, d, s->C, s->layers, s->batch_size, 1, &k);
        if (rc < 0)
            return rc;
        double total = (double)k.params + (double)k.activations + (double)image_data_bytes(d) +
                       (double)BASE_BYTES;
        keep = total <= (double)nas_job_memory_limit(s);
    }
    out->recompute = !keep;
    return est_darts_supernet(s, d, s->C, s->layers, s->batch_size, keep, out);
}

/* The final training runs after the search, in its place. */
void nas__estimate_darts_final(const nas_job_spec *s, const nas_dataset_desc *d,
                               nas_job_memory *out)
{
    nas_job_memory f = {0};
    int C = s->final_C ? s->final_C : 16, L = s->final_layers ? s->final_layers : 8;
    /* The genotype is not known yet: its every op a 5x5 separable
     * convolution is the largest it can be. */
    nas_darts_genotype all_sep = {.n_normal_concat = 4, .n_reduce_concat = 4};
    for (int k = 0; k < 2 * NAS_DARTS_NODES; k++) {
        nas_darts_gene *g = k < NAS_DARTS_NODES ? &all_sep.normal : &all_sep.reduce;
        g->op[k % NAS_DARTS_NODES][0] = g->op[k % NAS_DARTS_NODES][1] = NAS_DARTS_SEP_CONV_5X5;
        g->from[k % NAS_DARTS_NODES][0] = 0;
        g->from[k % NAS_DARTS_NODES][1] = 1;
    }
    for (int k = 0; k < NAS_DARTS_NODES; k++)
        all_sep.normal_concat[k] = all_sep.reduce_concat[k] = k + 2;
    if (est_darts_fixed(s, d, C, L, s->batch_size, &all_sep, &f) == 0 &&
        f.params + f.activations > out->params + out->activations) {
        out->params = f.params;
        out->activations = f.activations;
    }
}

int nas__estimate_darts_rnn(nas_job_spec *s, const nas_dataset_desc *d, nas_job_memory *out)
{
    (void)d;
    return est_darts_rnn(s, out);
}

/* Weights exact, activations bounded (see est_enas_cnn). */
int nas__estimate_enas_cnn(nas_job_spec *s, const nas_dataset_desc *d, nas_job_memory *out)
{
    out->exact_model = 0;
    return est_enas_cnn(s, d, out);
}

/* The CNN spaces' final training runs after the search, in its place, at
 * final_C channels and (micro) final_layers cells: the space declared at
 * that size bounds the arc's weights, the same supernet bound its
 * activations (enas-rnn's keeps the search's model; enas_final.c has the
 * rules). */
void nas__estimate_enas_final(const nas_job_spec *s, const nas_dataset_desc *d, nas_job_memory *out)
{
    nas_job_spec f = *s;
    nas__enas_final_size(s, &f.C, &f.layers);
    nas_job_memory fm = {0};
    if (est_enas_cnn(&f, d, &fm) == 0 &&
        fm.params + fm.activations > out->params + out->activations) {
        out->params = fm.params;
        out->activations = fm.activations;
    }
}

int nas__estimate_enas_rnn(nas_job_spec *s, const nas_dataset_desc *d, nas_job_memory *out)
{
    (void)d;
    return est_enas_rnn(s, out);
}

/* nas-rl, random: the largest child times the children that train at
 * once (nasrl_job.c: children_per_update, at most one per thread); see
 * nas.h. */
int nas__estimate_nasrl(nas_job_spec *s, const nas_dataset_desc *d, nas_job_memory *out)
{
    int image = strcmp(d->kind, "image") == 0, rc;
    out->exact_model = 0;
    int C = s->C > 0 ? s->C : 16, L = s->layers > 0 ? s->layers : 8;
    const char *space = s->search_space ? s->search_space : "nasrl-cnn";
    if (image && strcmp(space, "nasrl-cnn") == 0) {
        double p = 0, a = 0;
        rc = est_nasrl_cnn(s, d, &p, &a);
        /* a parameter, its gradient and two moments */
        out->params = clamp_bytes(p * 16.0);
        out->activations = clamp_bytes(a * 4.0);
    } else if (image) {
        rc = est_darts_supernet(s, d, C, L > 20 ? 20 : L, s->batch_size, 0, out);
    } else {
        if (!s->hidden)
            s->hidden = 300;
        if (!s->embed)
            s->embed = s->hidden;
        if (!s->bptt)
            s->bptt = 35;
        rc = est_darts_rnn(s, out);
    }
    /* Each child has its own parameter store and arena. */
    int par = s->children_per_update > 1 ? s->children_per_update : 1;
    if (s->threads > 0 && s->threads < par)
        par = s->threads;
    out->params = clamp_bytes((double)out->params * par);
    out->activations = clamp_bytes((double)out->activations * par);
    return rc;
}

/* --------------------------------------------------------------- driver */

int nas__estimate_prepare(const nas_job_spec *spec, nas_job_spec *s, const nas_dataset_desc **d,
                          const nas__kind **k)
{
    if (!spec || !spec->dataset)
        return nas_fail(NAS_EINVAL, "estimate: the spec names no dataset");
    if (!(*d = nas_dataset_find(spec->dataset)))
        return nas_fail(NAS_EINVAL, "estimate: unknown dataset %s", spec->dataset);
    *s = *spec;
    nas_job_spec_defaults(s);
    if (s->batch_size < 1)
        return nas_fail(NAS_EINVAL, "estimate: batch_size %d", s->batch_size);
    if (!(*k = nas__kind_of(s->algorithm, s->search_space)))
        return nas_fail(NAS_EINVAL, "estimate: unknown algorithm %s", s->algorithm);
    return NAS_OK;
}

int nas_job_estimate_memory_parts(const nas_job_spec *spec, nas_job_memory *out)
{
    memset(out, 0, sizeof(*out));
    out->exact_model = 1;
    out->recompute = -1;
    nas_job_spec s;
    const nas_dataset_desc *d;
    const nas__kind *k;
    int rc = nas__estimate_prepare(spec, &s, &d, &k);
    if (rc < 0)
        return rc;
    int image = strcmp(d->kind, "image") == 0;
    rc = k->estimate(&s, d, out);
    if (rc == 0 && k->estimate_final && s.final_epochs > 0)
        k->estimate_final(&s, d, out);
    if (rc < 0)
        return rc;
    out->data = image ? image_data_bytes(d) : text_data_bytes(&s, d);
    out->base = BASE_BYTES;
    out->total = clamp_bytes((double)out->params + (double)out->activations + (double)out->data +
                             (double)out->base);
    return NAS_OK;
}

int nas_job_estimate_memory(const nas_job_spec *spec, size_t *bytes)
{
    nas_job_memory m;
    int rc = nas_job_estimate_memory_parts(spec, &m);
    *bytes = rc == 0 ? m.total : 0;
    return rc;
}
