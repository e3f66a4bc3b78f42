// SPDX-License-Identifier: MIT
/*
 * nas.h - the one public header of the nasd engine (libnas).
 *
 * The engine trains the networks that the NAS algorithms sample. It has no
 * daemon dependencies: no libuv, MHD, SQLite or Jansson in here, so it can
 * be tested and benchmarked alone.
 *
 * The one design decision to know: memory has two regions. Parameters (and
 * their gradients and optimizer moments) live in a persistent store carved
 * from one allocation, laid out contiguously per group so that a whole group
 * is one flat float array. Everything made during one step (activations,
 * their gradients, the tape) comes from an arena reset in O(1) after the
 * step. Ops record themselves on the tape of a graph; nas_graph_backward
 * walks it in reverse and accumulates (+=) into gradients, limited to the
 * leaves of the groups asked for.
 *
 * Ownership: _new returns an owned object released by the matching _free,
 * and _free(NULL) is a no-op. Tensors returned by ops belong to the graph's
 * arena and die at nas_graph_reset. Parameter tensors belong to the store.
 *
 * Errors: bugs abort through NAS_ASSERT with file:line; runtime failures
 * return a negative NAS_E* code, results go through out-parameters,
 * nas_strerror() names the code and nas_errmsg() gives the detail of the
 * last failure on this thread (e.g. which file and what is wrong with it).
 */
#ifndef NAS_H
#define NAS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NAS_VERSION "0.1.0"

/* ---------------------------------------------------------------- errors */

enum {
    NAS_OK = 0,
    NAS_ENOMEM = -1,     /* allocation failed */
    NAS_EIO = -2,        /* read/write/open failed (errno kept in message) */
    NAS_EFORMAT = -3,    /* a file is malformed: bad magic, truncated, ... */
    NAS_EINVAL = -4,     /* an argument is out of range */
    NAS_ENOTFOUND = -5,  /* a named thing does not exist */
    NAS_ESHAPE = -6,     /* shapes disagree (e.g. checkpoint vs model) */
    NAS_ECANCELLED = -7, /* a job stopped because it was asked to */
    NAS_ECOUNT_ = 8
};

const char *nas_strerror(int err);
/* Detail of the last error set on this thread ("" if none). */
const char *nas_errmsg(void);
/* Set the detail message (printf-style) and return err, for one-line
 * failure paths: return nas_fail(NAS_EFORMAT, "%s: truncated", path). */
int nas_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void nas__assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));
#define NAS_ASSERT(c) ((c) ? (void)0 : nas__assert_fail(#c, __FILE__, __LINE__))

/* Number of threads the engine's kernels may use, for the calling thread
 * (default 1): a daemon job calls it on its own thread. OpenBLAS is kept
 * at 1 thread; the engine spreads its work over its own pool. Same seed
 * and same thread count give the same numbers. */
void nas_set_threads(int n);
int nas_get_threads(void);

/* ---------------------------------------------------------------- arena */

typedef struct nas_arena nas_arena;

/* An arena grows in chunks of at least chunk_bytes; reset is O(1) and keeps
 * the memory for the next step. Allocations are 64-byte aligned. */
nas_arena *nas_arena_new(size_t chunk_bytes);
void nas_arena_free(nas_arena *a);
void *nas_arena_alloc(nas_arena *a, size_t bytes); /* aborts when OOM */
void *nas_arena_zalloc(nas_arena *a, size_t bytes);
void nas_arena_reset(nas_arena *a);
size_t nas_arena_used(const nas_arena *a); /* bytes handed out since reset */
size_t nas_arena_peak(const nas_arena *a); /* max of used over its life */

/* ------------------------------------------------------------------ rng */

/* xoshiro256** seeded through splitmix64. The whole state is s[4]; saving
 * it and loading it back continues the exact sequence. */
typedef struct nas_rng {
    uint64_t s[4];
} nas_rng;

void nas_rng_seed(nas_rng *r, uint64_t seed);
uint64_t nas_rng_u64(nas_rng *r);
uint32_t nas_rng_below(nas_rng *r, uint32_t n); /* uniform in [0, n) */
float nas_rng_uniform(nas_rng *r);              /* uniform in [0, 1) */
float nas_rng_normal(nas_rng *r);               /* N(0, 1) */
void nas_rng_shuffle(nas_rng *r, int *v, int n);

/* --------------------------------------------------------------- tensor */

#define NAS_MAXDIM 4

/* Parameter groups. A tensor's `groups` mask has bit g set when it depends
 * on a leaf of group g; backward limited to a mask skips everything else. */
enum {
    NAS_GROUP_WEIGHTS = 0,    /* network weights w */
    NAS_GROUP_ARCH = 1,       /* architecture weights alpha (DARTS) */
    NAS_GROUP_CONTROLLER = 2, /* controller (ENAS, NAS-RL) */
    NAS_GROUP_STATE = 3,      /* non-trained state: BN running stats */
    NAS_GROUP_INPUT = 4,      /* inputs whose gradient is wanted (tests) */
    NAS_GROUP_COUNT = 5
};
#define NAS_MASK(g) (1u << (g))
#define NAS_MASK_ALL 0xffffffffu

/* A float32 tensor, NCHW when 4-d. `grad` is NULL until backward needs it
 * (arena tensors) or points into the store (parameters). */
typedef struct nas_tensor {
    int ndim;
    int shape[NAS_MAXDIM];
    float *data;
    float *grad;
    uint32_t groups;  /* leaves of which groups this tensor depends on */
    const char *name; /* parameters only */
} nas_tensor;

size_t nas_tensor_numel(const nas_tensor *t);
/* dim 0, dim 1 and the product of the dims after 1 (1 when absent): every
 * tensor is viewed as [N, C, inner] by the channel-wise ops. */
int nas_tensor_n(const nas_tensor *t);
int nas_tensor_c(const nas_tensor *t);
size_t nas_tensor_inner(const nas_tensor *t);
int nas_tensor_same_shape(const nas_tensor *a, const nas_tensor *b);

/* ---------------------------------------------------------- param store */

typedef struct nas_params nas_params;

enum nas_init {
    NAS_INIT_ZERO,
    NAS_INIT_ONE,
    NAS_INIT_NORMAL,  /* scale * N(0,1) */
    NAS_INIT_UNIFORM, /* U(-scale, scale) */
    NAS_INIT_KAIMING, /* PyTorch's default for conv/linear weights:
                         U(-b, b), b = 1/sqrt(fan_in), fan_in = numel/dim0
                         (scale multiplies b) */
    NAS_INIT_COUNT_
};

/* Declaration phase: add named parameters; the index returned is stable.
 * Then nas_params_alloc lays all of them out in one allocation (grouped,
 * so nas_params_group gives one flat range per group) and initialises them
 * from rng. Names are unique ("cells.3.edge.5.sep_conv_3x3.pw1.w"). */
nas_params *nas_params_new(void);
void nas_params_free(nas_params *p);
int nas_params_add(nas_params *p, const char *name, int group, enum nas_init init, float scale,
                   int ndim, const int *shape);
int nas_params_alloc(nas_params *p, nas_rng *rng);
int nas_params_count(const nas_params *p);
nas_tensor *nas_params_get(nas_params *p, int index);
nas_tensor *nas_params_find(nas_params *p, const char *name);
int nas_params_group_of(const nas_params *p, int index);
/* Optimizer moments of parameter index (same shape as the tensor). */
float *nas_params_moment1(nas_params *p, int index);
float *nas_params_moment2(nas_params *p, int index);
/* A whole group as flat arrays of n floats (any of the out-pointers may be
 * NULL). Empty group: n = 0. */
void nas_params_group(nas_params *p, int group, float **data, float **grad, float **m1, float **m2,
                      size_t *n);
size_t nas_params_total(const nas_params *p); /* floats over all groups */
void nas_params_zero_grad(nas_params *p, uint32_t group_mask);

/* --------------------------------------------------------- graph / tape */

typedef struct nas_graph nas_graph;

/* A graph owns an arena and a tape. `training` selects batch statistics in
 * BN and active dropout; rng feeds dropout. */
nas_graph *nas_graph_new(size_t arena_chunk_bytes);
void nas_graph_free(nas_graph *g);
void nas_graph_reset(nas_graph *g); /* forget the tape, reset the arena */
void nas_graph_set_training(nas_graph *g, int training);
int nas_graph_training(const nas_graph *g);
void nas_graph_set_rng(nas_graph *g, nas_rng *rng);
/* Recording off (e.g. evaluation): ops run but leave no tape. */
void nas_graph_set_grad(nas_graph *g, int enabled);
nas_arena *nas_graph_arena(nas_graph *g);

/* A data-parallel group of processes (issue #18): each holds the same
 * store and runs the same steps on its slice of every global batch. The
 * engine never includes MPI; the rank program (rank/) fills this with its
 * collectives. Every sum must give every rank the same bits (a fixed
 * reduction order), or the stores drift apart. */
typedef struct nas_dist {
    void *ctx;
    int rank, size; /* this process, of size (>= 2 when used) */
    /* In place: v becomes the elementwise sum of every rank's v. */
    void (*sum_f32)(void *ctx, float *v, size_t n);
    void (*sum_f64)(void *ctx, double *v, size_t n);
    /* Rank 0's v, on every rank. */
    int (*bcast_int)(void *ctx, int v);
    /* Rank 0's bytes of buf, on every rank (every rank passes the same
     * count). */
    void (*bcast)(void *ctx, void *buf, size_t bytes);
    /* Every rank's `bytes` of mine, in rank order, in all (size * bytes),
     * on every rank. The ranks run one build (the same struct layout). */
    void (*allgather)(void *ctx, const void *mine, void *all, size_t bytes);
    /* One int between rank 0 and the others, outside the collectives and
     * from the main thread only (nas-rl's stop while children train):
     * to_all, rank 0 to every other rank; from_root, another rank's next
     * int from rank 0 (wait 0: -1 while none has arrived); to_root,
     * another rank's int to rank 0; at_root, rank 0: how many to_root
     * ints arrived since its last call (never waits). */
    void (*to_all)(void *ctx, int v);
    int (*from_root)(void *ctx, int wait);
    void (*to_root)(void *ctx, int v);
    int (*at_root)(void *ctx);
} nas_dist;

/* Training-mode batch norm on g takes its statistics over the whole
 * group's batch (synchronised BN: one sum per statistic per BN), so a
 * step on N ranks computes what one process computes on the global
 * batch. NULL (the default): this process's batch alone. */
void nas_graph_set_dist(nas_graph *g, const nas_dist *d);

/* Reverse walk from a scalar loss (its gradient seeded with 1), limited to
 * leaves whose group is in group_mask. Gradients accumulate. */
void nas_graph_backward(nas_graph *g, nas_tensor *loss, uint32_t group_mask);

/* New arena tensors. nas_tensor_new leaves data uninitialised. */
nas_tensor *nas_tensor_new(nas_graph *g, int ndim, const int *shape);
nas_tensor *nas_tensor_new4(nas_graph *g, int n, int c, int h, int w);
nas_tensor *nas_tensor_zeros(nas_graph *g, int ndim, const int *shape);
/* A leaf of group `group` with its own zeroed gradient (gradient checks,
 * inputs whose gradient is wanted). */
nas_tensor *nas_tensor_leaf(nas_graph *g, int ndim, const int *shape, int group);

/* ------------------------------------------------------------------ ops */

/* Every op records itself on g's tape (when recording) and has a backward
 * that accumulates into the inputs that need a gradient. */

/* conv2d: x (N,Ci,H,W), w (Co,Ci/groups,K,K) -> (N,Co,Ho,Wo),
 * Ho = (H + 2 pad - dil (K-1) - 1) / stride + 1. groups == Ci == Co is the
 * depthwise case (direct loops); otherwise im2col + sgemm per image.
 * bias may be NULL. */
nas_tensor *nas_conv2d(nas_graph *g, nas_tensor *x, nas_tensor *w, nas_tensor *bias, int stride,
                       int pad, int dil, int groups);
/* y = x W^T + b: x (N,K), W (M,K), b (M) or NULL -> (N,M) */
nas_tensor *nas_linear(nas_graph *g, nas_tensor *x, nas_tensor *w, nas_tensor *b);
/* a (M,K) @ b (K,N) -> (M,N) */
nas_tensor *nas_matmul(nas_graph *g, nas_tensor *a, nas_tensor *b);

/* Batch norm over (N, inner) per channel. gamma/beta NULL = no affine.
 * Training: batch statistics (biased variance to normalise), running stats
 * updated as r = (1-momentum) r + momentum stat (unbiased variance), like
 * PyTorch. Eval: running statistics. running_* may be NULL in training. */
nas_tensor *nas_batchnorm(nas_graph *g, nas_tensor *x, nas_tensor *gamma, nas_tensor *beta,
                          nas_tensor *running_mean, nas_tensor *running_var, float momentum,
                          float eps);

nas_tensor *nas_relu(nas_graph *g, nas_tensor *x);
nas_tensor *nas_tanh(nas_graph *g, nas_tensor *x);
nas_tensor *nas_sigmoid(nas_graph *g, nas_tensor *x);
nas_tensor *nas_identity(nas_graph *g, nas_tensor *x);

/* 2-d pooling, k x k window (k odd; 3 in DARTS/ENAS). Average pooling
 * excludes padding from the count (count_include_pad=False). */
nas_tensor *nas_maxpool2d(nas_graph *g, nas_tensor *x, int k, int stride, int pad);
nas_tensor *nas_avgpool2d(nas_graph *g, nas_tensor *x, int k, int stride, int pad);
/* (N,C,H,W) -> (N,C) */
nas_tensor *nas_global_avgpool(nas_graph *g, nas_tensor *x);

nas_tensor *nas_add(nas_graph *g, nas_tensor *a, nas_tensor *b);
nas_tensor *nas_sub(nas_graph *g, nas_tensor *a, nas_tensor *b);
nas_tensor *nas_mul(nas_graph *g, nas_tensor *a, nas_tensor *b);
/* x * c for a constant c */
nas_tensor *nas_scale(nas_graph *g, nas_tensor *x, float c);
/* x * s->data[i]: scale by one element of another tensor (softmax-weighted
 * sums of candidate ops); the gradient reaches both x and s[i]. */
nas_tensor *nas_scale_by(nas_graph *g, nas_tensor *x, nas_tensor *s, int i);
/* Sum of n same-shaped tensors (the nodes of a cell). */
nas_tensor *nas_sum_n(nas_graph *g, nas_tensor **xs, int n);
/* Sum / mean of all elements -> shape (1). */
nas_tensor *nas_sum(nas_graph *g, nas_tensor *x);
nas_tensor *nas_mean(nas_graph *g, nas_tensor *x);

/* Concatenate along dim 1 (channels); all other dims equal. */
nas_tensor *nas_concat(nas_graph *g, nas_tensor **xs, int n);
/* x[:, start:start+len] along dim 1. */
nas_tensor *nas_narrow(nas_graph *g, nas_tensor *x, int start, int len);
/* Same data in another shape (numel equal). */
nas_tensor *nas_reshape(nas_graph *g, nas_tensor *x, int ndim, const int *shape);

/* Along the last dim of a (rows, n) view. */
nas_tensor *nas_softmax(nas_graph *g, nas_tensor *x);
nas_tensor *nas_log_softmax(nas_graph *g, nas_tensor *x);
/* Mean over the batch of -log softmax(logits)[label]; logits (N,K). */
nas_tensor *nas_cross_entropy(nas_graph *g, nas_tensor *logits, const int32_t *labels);

/* table (V,D), ids[n] -> (n, D) */
nas_tensor *nas_embedding(nas_graph *g, nas_tensor *table, const int32_t *ids, int n);
/* Inverted dropout with drop probability p; identity when not training. */
nas_tensor *nas_dropout(nas_graph *g, nas_tensor *x, float p);
/* Drop path: each sample (index of dim 0) of x is zeroed with probability
 * p and the others scaled by 1/(1-p), one draw per sample from the
 * graph's rng; identity when not training or p == 0. */
nas_tensor *nas_drop_path(nas_graph *g, nas_tensor *x, float p);
/* nas_drop_path's mask of n samples (1/(1-p) or 0 each), drawn as it
 * draws them, in the graph's arena: for a forward that applies it
 * itself (enas-micro's recomputed ops). */
float *nas_drop_path_mask(nas_graph *g, int n, float p);
/* Zeros shaped like x, optionally strided like a pooling of stride s
 * (DARTS `none` on a reduction edge). No gradient flows. */
nas_tensor *nas_zero(nas_graph *g, nas_tensor *x, int stride);

/* Ops added for the DARTS search space (engine/ops/shift.c). */

/* x[:, :, dh:, dw:] of an (N,C,H,W) tensor -> (N, C, H-dh, W-dw): the
 * shifted input of the second convolution of a factorized reduction. */
nas_tensor *nas_shift(nas_graph *g, nas_tensor *x, int dh, int dw);

/* Fused ops for the DARTS supernet's speed and memory (engine/ops/pool_bn.c). */

/* nas_batchnorm(nas_maxpool2d(x, 3, stride, 1) (max = 1) or
 * nas_avgpool2d(x, 3, stride, 1) (max = 0), no affine, running_mean,
 * running_var, momentum, eps) as one op that keeps only its output (and
 * the argmax for max): same forward numbers, stride 1 or 2. */
nas_tensor *nas_pool_bn(nas_graph *g, nas_tensor *x, int max, int stride, nas_tensor *running_mean,
                        nas_tensor *running_var, float momentum, float eps);

/* ------------------------------------------------------------------ nn */

/* LSTM cell built from the ops above: gates = x Wx^T + h Wh^T + b, split in
 * i, f, g, o (PyTorch order); c' = sig(f) c + sig(i) tanh(g);
 * h' = sig(o) tanh(c'). wx (4H,I), wh (4H,H), b (4H). */
typedef struct nas_lstm_cell {
    nas_tensor *wx, *wh, *b;
} nas_lstm_cell;

void nas_lstm_cell_step(nas_graph *g, const nas_lstm_cell *cell, nas_tensor *x, nas_tensor *h,
                        nas_tensor *c, nas_tensor **h_out, nas_tensor **c_out);

/* The auxiliary classifier of the references' CNN trainings
 * (engine/nn/aux_head.c): ReLU, average pooling scaled to the map (5x5
 * stride 3 on 8x8), 1x1 conv to 128 + BN + ReLU, conv over the pooled map
 * to 768 + BN + ReLU, linear to the classes. Parameter indices into the
 * store; its names start with the declare's prefix. */
typedef struct nas_aux_head {
    int mid, out_c; /* channels (0 before declare: the references' 128 and
                       768; tests use fewer) */
    int w1, bn1, bn1_stats, w2, bn2, bn2_stats, fc_w, fc_b;
    int pool_k, pool_stride, conv_k;
} nas_aux_head;

/* Pooling window, stride and the second conv's kernel for a map of side s. */
void nas_aux_head_geometry(int side, int *pool_k, int *pool_stride, int *conv_k);
int nas_aux_head_declare(nas_params *p, const char *prefix, int c_in, int side, int classes,
                         nas_aux_head *out);
/* Trained floats of the head of the references' channels (for memory
 * estimates). */
size_t nas_aux_head_weights(int c_in, int side, int classes);
/* x (N, c_in, side, side) -> logits (N, classes). */
nas_tensor *nas_aux_head_forward(nas_graph *g, nas_params *p, const nas_aux_head *h, nas_tensor *x);

/* ---------------------------------------------------------- optimizers */

/* SGD with momentum and L2 weight decay, PyTorch semantics:
 * d = grad + wd w; buf = momentum buf + d (buf = d at the first step);
 * w -= lr (nesterov ? d + momentum buf : buf). The buffer is moment1. */
typedef struct nas_sgd {
    float lr, momentum, weight_decay;
    int nesterov;
    int64_t steps;
} nas_sgd;

void nas_sgd_step(nas_sgd *opt, nas_params *p, int group);

/* Adam with L2 weight decay added to the gradient (torch.optim.Adam):
 * d = grad + wd w; m = b1 m + (1-b1) d; v = b2 v + (1-b2) d^2;
 * w -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps). */
typedef struct nas_adam {
    float lr, beta1, beta2, eps, weight_decay;
    int64_t steps;
} nas_adam;

void nas_adam_step(nas_adam *opt, nas_params *p, int group);

/* lr at step t of T: lr_min + (lr_max - lr_min) (1 + cos(pi t / T)) / 2 */
float nas_cosine_lr(float lr_max, float lr_min, int64_t t, int64_t T);
/* Scale the gradients of a group so that their global L2 norm is at most
 * max_norm; returns the norm before clipping. */
float nas_clip_grad_norm(nas_params *p, int group, float max_norm);

/* ------------------------------------------------------------ checkpoint */

/* Checkpoints are safetensors files: 8-byte little-endian header length,
 * a JSON header, then raw little-endian data. They hold every parameter
 * (data as "<name>", optimizer moments as "<name>#m1" and "<name>#m2"),
 * the RNG state ("rng.state", U64 x4) and string metadata (counters such
 * as the step). Writes are atomic: tmp file, fsync, rename, fsync dir.
 * Parameter names must not be "__metadata__" or "rng.state" nor end in
 * "#m1"/"#m2" (one flat namespace in the file): save returns NAS_EINVAL.
 * Loading validates the whole file before changing the store: on any error
 * the store and rng are left as they were. */
typedef struct nas_kv {
    const char *key;
    const char *value;
} nas_kv;

int nas_ckpt_save(const char *path, nas_params *p, const nas_rng *rng, const nas_kv *meta,
                  int nmeta);
/* A model file: the same safetensors format holding only the data of the
 * parameters of the groups in `groups` (bit g for group g) whose names do
 * not start with skip_prefix (NULL: none skipped), no moments, no RNG,
 * and the metadata. Written atomically too. */
int nas_model_save(const char *path, nas_params *p, uint32_t groups, const char *skip_prefix,
                   const nas_kv *meta, int nmeta);
/* Loads into an allocated store of the same layout; every parameter must
 * be present with its shape. meta_out (may be NULL) receives a malloc'd
 * array of malloc'd pairs, freed with nas_kv_free. */
int nas_ckpt_load(const char *path, nas_params *p, nas_rng *rng, nas_kv **meta_out, int *nmeta_out);
/* Loads a model file (nas_model_save) into an allocated store that holds
 * exactly the file's tensors, each with its shape: the data only (the
 * moments are left as they are); as strict as nas_ckpt_load. */
int nas_model_load(const char *path, nas_params *p, nas_kv **meta_out, int *nmeta_out);
void nas_kv_free(nas_kv *kv, int n);
const char *nas_kv_get(const nas_kv *kv, int n, const char *key);

/* ------------------------------------------------------------- datasets */

/* An image dataset kept as uint8 pixels (NCHW per image) + int labels;
 * batches are converted to normalised float on the fly. The loaders fill
 * mean/std with the loaded set's own statistics and slices copy their
 * parent's; to normalise a test set like its training set, copy the
 * training set's mean/std over. */
typedef struct nas_dataset {
    int n, c, h, w;
    int classes;
    uint8_t *x;            /* n * c * h * w */
    int32_t *y;            /* n */
    float mean[4], std[4]; /* per channel, on the 0..1 scale */
} nas_dataset;

void nas_dataset_free(nas_dataset *d);
/* IDX images + labels, gzip or raw (MNIST, Fashion-MNIST). */
int nas_idx_load(const char *images_path, const char *labels_path, nas_dataset **out);
/* CIFAR-10 binary batches: each record 1 label byte + 3072 pixel bytes. */
int nas_cifar10_load(const char *const *paths, int npaths, nas_dataset **out);
/* Per-channel mean and std of the pixels (0..1 scale) into d->mean/std. */
void nas_dataset_compute_stats(nas_dataset *d);
/* Copy of examples [start, start+count) (count <= 0: to the end). */
int nas_dataset_slice(const nas_dataset *d, int start, int count, nas_dataset **out);

typedef struct nas_augment {
    int crop_pad; /* random crop after zero padding by this many (0: off) */
    int hflip;    /* random horizontal flip */
    int cutout;   /* side of a square set to 0 after normalisation at a
                     random centre, clipped at the borders (0: off;
                     DeVries & Taylor 2017, as quark0/darts train.py) */
} nas_augment;

/* Fill x (n, c, h, w) with normalised images idx[0..n) and y with labels;
 * aug may be NULL (no augmentation); rng needed when aug is on. Draws per
 * image, in this order: crop row offset and column offset (crop_pad > 0),
 * then the flip coin (hflip), then the cutout centre's row and column
 * (cutout > 0). */
void nas_dataset_batch(const nas_dataset *d, const int *idx, int n, const nas_augment *aug,
                       nas_rng *rng, float *x, int32_t *y);

/* Text corpus for language modelling: ids of train/valid/test streams over
 * one vocabulary. Word level: tokens split on whitespace, "<eos>" after
 * every line, words outside the vocabulary -> "<unk>" (PTB convention).
 * Character level: every byte a token, "<eos>" after every line. */
typedef struct nas_corpus {
    int vocab_size;
    char **vocab; /* id -> token */
    int32_t *train, *valid, *test;
    int ntrain, nvalid, ntest;
} nas_corpus;

enum nas_corpus_level { NAS_CORPUS_WORD, NAS_CORPUS_CHAR };

/* Three text files, one sentence per line (PTB layout). The vocabulary is
 * built from train (max_vocab > 0 keeps the most frequent words). */
int nas_corpus_load(const char *train, const char *valid, const char *test,
                    enum nas_corpus_level level, int max_vocab, nas_corpus **out);
/* A fortune(6) database (entries separated by "%" lines): each line of an
 * entry is a sentence; entries are dealt to train/valid/test 8:1:1 by
 * position (deterministic). */
int nas_corpus_load_fortunes(const char *path, enum nas_corpus_level level, int max_vocab,
                             nas_corpus **out);
void nas_corpus_free(nas_corpus *c);
/* A text encoded as a corpus of `level` encodes its splits, with the
 * vocabulary vocab[0, n) (which holds "<unk>"): ids malloc'd into *ids
 * (NULL when the text has no token) and their count into *nids; tokens
 * outside the vocabulary become "<unk>" and are counted in *nunk.
 * open_end: a last line without its newline gets no "<eos>" (a prompt
 * that goes on). NAS_EINVAL when the vocabulary has no "<unk>". */
int nas_corpus_encode(char *const *vocab, int n, enum nas_corpus_level level, const char *text,
                      size_t len, int open_end, int32_t **ids, int *nids, int *nunk);

/* Batchify a stream for BPTT: n tokens -> (steps, bsz) in column order
 * like the PTB example (token t of column b at out[t * bsz + b]), dropping
 * the remainder. *out malloc'd. */
int nas_batchify(const int32_t *ids, int n, int bsz, int32_t **out, int *steps);

/* ----------------------------------------------------------------- jobs */

/* A job is what the daemon runs on a worker thread: one algorithm over
 * one dataset within a budget. The engine reports through callbacks (all
 * called on the job's thread; the daemon queues them to its loop) and
 * checks `stop` between steps. The kinds, all in engine/jobs/: `train` (a
 * fixed CNN, an LSTM language model, or the network of a DARTS genotype
 * or of an ENAS arc; train_image.c, train_text.c); `darts` over
 * `darts-cnn` (darts_job.c) and `darts-rnn` (darts_rnn_job.c), with final
 * training (darts_final.c); `enas` over `enas-micro`, `enas-macro`
 * (enas_job.c) and `enas-rnn` (enas_rnn_job.c), with final training
 * (enas_final.c); `nas-rl` over `nasrl-cnn` and `nasrl-rnn`
 * (nasrl_job.c); `random` over those two and the five darts and enas
 * spaces (random_job.c), the baseline. */

enum nas_stop {
    NAS_RUN = 0,
    NAS_STOP_CANCEL = 1,   /* the user cancelled: stop, no checkpoint needed */
    NAS_STOP_SHUTDOWN = 2, /* the daemon stops: checkpoint now, then stop */
};

typedef struct nas_job_progress {
    int epoch, epochs;   /* epoch in progress, 1-based */
    int64_t step, steps; /* optimizer steps done / planned over the job */
    double fraction;     /* 0..1 */
    double eta_seconds;  /* < 0 when unknown */
} nas_job_progress;

typedef struct nas_job_reporter {
    void *ctx;
    /* After every step; the receiver throttles. */
    void (*progress)(void *ctx, const nas_job_progress *p);
    /* A named scalar, e.g. "train_loss", "train_accuracy", "val_accuracy",
     * "test_accuracy", "val_perplexity", "images_per_second". */
    void (*metric)(void *ctx, int epoch, int64_t step, const char *name, double value);
    /* A sampled or derived architecture (JSON text) with its reward and
     * metrics (a JSON object text, may be NULL). */
    void (*architecture)(void *ctx, const char *arch_json, double reward, const char *metrics_json);
    /* A checkpoint is durable at path (fsync'd and renamed); step is the
     * optimizer step it holds. Only then may the daemon record it. */
    void (*checkpoint)(void *ctx, const char *path, int64_t step);
    /* The final result: architecture JSON, the headline metric (name:
     * "test_accuracy" or "test_perplexity" for train; "val_accuracy" for
     * darts-cnn, on its alpha half, "val_perplexity" for darts-rnn, on the
     * valid split: a search never touches the test set; "test_accuracy"
     * for darts-cnn with final training, measured by that training) and
     * a JSON object text with everything else worth keeping. */
    void (*result)(void *ctx, const char *arch_json, const char *metric, double value,
                   const char *result_json);
    /* A line worth showing in the daemon's log. */
    void (*log)(void *ctx, const char *msg);
} nas_job_reporter;

/* Datasets the engine knows by name. The path of a dataset is a directory
 * (fashion-mnist: the four IDX .gz files; cifar10: data_batch_1..5.bin and
 * test_batch.bin; ptb: ptb.train.txt, ptb.valid.txt, ptb.test.txt) or, for
 * fortunes, the fortune file itself. synthetic is generated from the job's
 * seed (1x16x16, 10 classes, each a bar at its own row or column plus
 * noise) and needs no files. */
typedef struct nas_dataset_desc {
    const char *name;          /* "fashion-mnist", "cifar10", "synthetic", "fortunes", "ptb" */
    const char *kind;          /* "image" or "text" */
    const char *default_path;  /* NULL: must come from the config */
    int c, h, w, classes;      /* image datasets; 0 for text */
    int train_size, test_size; /* examples (images) or 0 when it depends on files */
    const char *package;       /* Debian package providing default_path, or NULL */
    int uploaded;              /* 1: a user's upload (default_path its import) */
} nas_dataset_desc;

/* The table of known datasets, ending with a zeroed entry. */
const nas_dataset_desc *nas_datasets(void);
const nas_dataset_desc *nas_dataset_find(const char *name);
/* 1 when the files of dataset `name` are present at path (NULL: its
 * default), 0 otherwise; synthetic is always present. */
int nas_dataset_present(const char *name, const char *path);
/* Where the files of dataset d come from when no Debian package provides
 * them, in which format, and which setting names their directory (cifar10,
 * ptb); NULL for the others. */
const char *nas_dataset_hint(const nas_dataset_desc *d);

/* Uploaded datasets (issue #21; engine/jobs/user_datasets.c): the daemon
 * registers each one it has imported (at start, and after an upload), and
 * nas_dataset_find then returns it like a built-in one, with the
 * directory of its import as default_path; jobs load it through the same
 * descriptor. A descriptor stays valid until nas_dataset_registry_clear
 * (unregistering hides it from nas_dataset_find only). Thread-safe. */
int nas_dataset_register(const char *name, const char *kind, const char *dir, int c, int h, int w,
                         int classes, int train_size, int test_size);
void nas_dataset_unregister(const char *name);
void nas_dataset_registry_clear(void);

/* SHA-256 (engine/data/sha256.c). */
typedef struct nas_sha256 {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t fill;
} nas_sha256;
void nas_sha256_init(nas_sha256 *s);
void nas_sha256_update(nas_sha256 *s, const void *data, size_t n);
/* Finishes and writes the digest as 64 hex digits and a NUL. */
void nas_sha256_hex(nas_sha256 *s, char out[65]);

/* Importing an upload into nasd's format (engine/data/import.c). An image
 * upload is a tar or zip archive of <class>/<file>.png|.jpg|.jpeg,
 * optionally under train/, valid/ and test/ (and one top folder); the
 * import writes into out_dir (an empty directory) train-images.idx,
 * train-labels.idx, test-images.idx, test-labels.idx (IDX, pixels as the
 * engine keeps them) and meta.json. */
typedef struct nas_import_limits {
    uint64_t max_expanded;   /* bytes of all entries, as they unpack */
    long max_files;          /* entries of the archive */
    long max_pixels;         /* width x height of one image */
    const _Atomic int *stop; /* non-zero: give up (shutdown); may be NULL */
    /* Not a limit: > 0, every image is resized to resize_h x resize_w
     * (nas_image_resize) as it is read; 0, images of another size than
     * the most common one are refused, listed. */
    int resize_h, resize_w;
} nas_import_limits;

typedef struct nas_import_error {
    char where[256]; /* the archive entry, class or field at fault ("") */
    char limit[48];  /* the limit exceeded, by its config key (""): */
} nas_import_error;

/* Returns NAS_OK with *meta_json (owned) the text of meta.json, or an
 * error code with nas_errmsg() saying what is wrong and err naming where;
 * NAS_EINVAL with err->limit naming the limit of lim exceeded, NAS_ECANCELLED
 * when lim->stop was set. Out_dir's files
 * are the caller's to remove on failure. */
int nas_dataset_import(const char *upload, const char *name, const nas_import_limits *lim,
                       const char *out_dir, char **meta_json, nas_import_error *err);
/* The same for a text upload (engine/data/import_text.c): a tar or zip of
 * train.txt, valid.txt and test.txt, or one text file whose lines are
 * split 80/10/10 in order, into ptb.train.txt, ptb.valid.txt,
 * ptb.test.txt (the PTB layout) and meta.json. */
int nas_dataset_import_text(const char *upload, const char *name, const nas_import_limits *lim,
                            const char *out_dir, char **meta_json, nas_import_error *err);

/* The decoded images of PNG and JPEG files (engine/data/image_io.c):
 * 8-bit RGB, height x width x 3. */
typedef struct nas_image {
    int w, h;
    int color; /* 0: the file was greyscale */
    uint8_t *rgb;
} nas_image;
/* Decodes buf (a PNG or JPEG file, told apart by its signature); -1 with
 * why filled when it is not one, is corrupt or truncated, or is over
 * max_pixels. */
int nas_image_decode(const uint8_t *buf, size_t n, long max_pixels, nas_image *out, char *why,
                     size_t whylen);
void nas_image_free(nas_image *img);
/* src (h x w x 3, 8-bit RGB) resized into dst (oh x ow x 3), each axis
 * on its own (engine/data/resize.c): an axis that shrinks by area (each
 * output pixel the mean of the input it covers, fractional pixels
 * weighted by their part: OpenCV's INTER_AREA), an axis that grows or
 * keeps its size bilinearly with half-pixel centres and the edges
 * repeated (PyTorch's interpolate, align_corners=False); rounded to the
 * nearest integer. */
int nas_image_resize(const uint8_t *src, int h, int w, uint8_t *dst, int oh, int ow);

/* The header of a NumPy .npy file (engine/data/npy.c): versions 1.0, 2.0
 * and 3.0, C order, dtype '|u1', '<i4' or '<i8', up to 4 dimensions; -1
 * with why filled for anything else or a header cut short (buf holds the
 * file's first n bytes). The data is count x item bytes from header_len. */
typedef struct nas_npy {
    char descr[8]; /* "|u1", "<i4" or "<i8" */
    int ndim;
    int64_t shape[4];
    size_t item;       /* bytes of an element */
    uint64_t count;    /* elements */
    size_t header_len; /* bytes before the data */
} nas_npy;
int nas_npy_header(const uint8_t *buf, size_t n, nas_npy *out, char *why, size_t whylen);

/* A PNG file in memory of pixels (h x w x c, c 1 or 3): *out malloc'd. */
int nas_png_encode(const uint8_t *px, int w, int h, int c, uint8_t **out, size_t *outlen);

/* ------------------------------------------------------ DARTS genotypes */

/* A DARTS genotype as the engine takes it: typed cells, filled once at
 * the edge (the API's spec conversion, from the JSON a user or a search
 * result gives) and read as such by the networks, the memory estimate and
 * the final training. The kinds' validation (nas_job_validate) checks
 * every op, input and concat list: a spec filled by hand gets the same
 * errors as one the API converted.
 *
 * The candidate ops of the darts-cnn space, in the reference's order
 * (quark0/darts genotypes.py PRIMITIVES; alpha column k is op k). A
 * derived cell never holds NAS_DARTS_NONE. */
enum nas_darts_prim {
    NAS_DARTS_NONE,
    NAS_DARTS_MAX_POOL_3X3,
    NAS_DARTS_AVG_POOL_3X3,
    NAS_DARTS_SKIP_CONNECT,
    NAS_DARTS_SEP_CONV_3X3,
    NAS_DARTS_SEP_CONV_5X5,
    NAS_DARTS_DIL_CONV_3X3,
    NAS_DARTS_DIL_CONV_5X5,
    NAS_DARTS_NPRIM
};

#define NAS_DARTS_NODES 4 /* intermediate nodes of a darts-cnn cell */

/* A darts-cnn cell: two (op, input) pairs per intermediate node; inputs
 * count the two cell inputs as 0 and 1, node j as j + 2, so node j reads
 * inputs in [0, j + 1]. */
typedef struct nas_darts_gene {
    int op[NAS_DARTS_NODES][2]; /* enum nas_darts_prim, not none */
    int from[NAS_DARTS_NODES][2];
} nas_darts_gene;

/* The normal and the reduction cell with the nodes (2..5, distinct, 1 to
 * 4 of them) concatenated into each cell's output. */
typedef struct nas_darts_genotype {
    nas_darts_gene normal, reduce;
    int normal_concat[NAS_DARTS_NODES], n_normal_concat;
    int reduce_concat[NAS_DARTS_NODES], n_reduce_concat;
} nas_darts_genotype;

/* The ops of the darts-rnn cell (quark0/darts rnn/genotypes.py). */
enum nas_darts_rnn_prim {
    NAS_DARTS_RNN_NONE,
    NAS_DARTS_RNN_TANH,
    NAS_DARTS_RNN_RELU,
    NAS_DARTS_RNN_SIGMOID,
    NAS_DARTS_RNN_IDENTITY,
    NAS_DARTS_RNN_NPRIM
};

#define NAS_DARTS_RNN_NODES 8 /* intermediate nodes of a darts-rnn cell */

/* The darts-rnn recurrent cell: node j + 1 takes one earlier node s_from
 * (0: s0, the cell's first state; from[j] in [0, j]) through op[j]; h_t
 * is the mean of the nodes listed in concat (1..8, distinct). */
typedef struct nas_darts_rnn_genotype {
    int op[NAS_DARTS_RNN_NODES];     /* enum nas_darts_rnn_prim, not none */
    int from[NAS_DARTS_RNN_NODES];   /* node j+1 takes s_from (0: s0) */
    int concat[NAS_DARTS_RNN_NODES]; /* nodes averaged into h_t (1..8) */
    int nconcat;
} nas_darts_rnn_genotype;

/* The name of op k as the genotype JSON spells it ("sep_conv_3x3",
 * "tanh"), or NULL when k is not an op of the space. */
const char *nas_darts_op_name(int k);
const char *nas_darts_rnn_op_name(int k);

/* The architectures `train` knows. A fixed CNN for images: `channels`
 * conv3x3-BN-ReLU blocks (each followed by maxpool 3x3/2 except when the
 * map is already <= 4 pixels), then linear(hidden)-ReLU-linear(classes).
 * An LSTM language model for text: embedding(embed)-LSTM(hidden) x layers
 * -linear(vocab), BPTT over `bptt` tokens. A DARTS network for images:
 * the discrete network of a darts-cnn genotype (quark0/darts
 * NetworkCIFAR: stem conv3x3 to 3C + BN, `layers` cells with reductions at
 * 1/3 and 2/3, global average pooling, linear; no auxiliary head, no drop
 * path). A DARTS language model for text: the LSTM model's embedding and
 * decoder around the discrete recurrent cell of a darts-rnn genotype
 * (quark0/darts rnn/model.py DARTSCell, hidden units; one layer; dropout
 * on the cell outputs and dropout_input on the embeddings). An ENAS child
 * for images (NAS_ARCH_ENAS_CNN): one fixed arc of the enas-micro or
 * enas-macro space (search_space) trained from scratch: a fresh store
 * with the space's weights (engine/search/enas/enas_micro.c, enas_macro.c:
 * C, layers, nodes for micro, dropout before the classifier) and the
 * forward of that one arc; genotype holds the arc as the reference's
 * fixed-arc string (space-separated ints, as the enas result's
 * "fixed_arc"); "parameters" counts only the weights the arc uses. An
 * ENAS language model (NAS_ARCH_ENAS_RNN): one fixed arc of the enas-rnn
 * space (engine/search/enas/enas_rnn.c: embedding and cell of `hidden` units,
 * tied decoder, `nodes` nodes, dropout_e/x/h/o, dropout 0) trained from
 * scratch, genotype its fixed-arc string as the enas-rnn result's. A
 * NAS-RL child (NAS_ARCH_NASRL_CNN, NAS_ARCH_NASRL_RNN): a nasrl-cnn layer
 * stack or a nasrl-rnn cell's language model trained as nas-rl trains its
 * children (engine/jobs/nasrl_train.c), genotype its ints: nasrl-cnn
 * "L, then per layer fh fw filters stride k in_1 .. in_k", nasrl-rnn the
 * space's decisions (tree_base from their count). */
typedef enum nas_arch_kind {
    NAS_ARCH_DEFAULT = 0, /* the dataset's kind decides */
    NAS_ARCH_FIXED_CNN,
    NAS_ARCH_LSTM_LM,
    NAS_ARCH_DARTS_CNN,
    NAS_ARCH_DARTS_RNN,
    NAS_ARCH_ENAS_CNN,
    NAS_ARCH_ENAS_RNN,
    NAS_ARCH_NASRL_CNN, /* a nasrl-cnn layer stack (jobs/nasrl_train.c) */
    NAS_ARCH_NASRL_RNN, /* a nasrl-rnn cell's language model (same) */
} nas_arch_kind;

#define NAS_MAX_BLOCKS 8
#define NAS_GENOTYPE_MAX 1024 /* bytes of nas_job_spec.genotype (ENAS, NAS-RL), NUL included */

typedef struct nas_job_spec {
    const char *algorithm;    /* "train", "darts", "enas", "nas-rl" or
                                 "random" (NULL: "train") */
    const char *search_space; /* darts: "darts-cnn" (NULL) or "darts-rnn";
                                 enas: "enas-micro" (NULL), "enas-macro"
                                 or "enas-rnn"; nas-rl: "nasrl-cnn"
                                 (NULL) or "nasrl-rnn"; random: any of
                                 these seven (NULL: "nasrl-cnn"); train:
                                 the space of an ENAS arc */
    const char *dataset;      /* a nas_datasets() name */
    const char *data_path;    /* NULL: the dataset's default path */
    nas_arch_kind arch;
    int channels[NAS_MAX_BLOCKS], nblocks; /* fixed CNN (32, 64) */
    int hidden;                            /* CNN classifier / LSTM hidden (128 / 128) */
    int embed, layers, bptt;               /* LSTM LM (128, 1, 35); darts: layers is
                                              the number of cells (8) */
    int max_vocab;                         /* LSTM LM: most frequent words kept (10000);
                                              0 in nas_job_run: no cap */
    char genotype[NAS_GENOTYPE_MAX];       /* ENAS and NAS-RL: the arc's ints
                                              (see above) */
    nas_darts_genotype darts_cnn;          /* NAS_ARCH_DARTS_CNN: the cells, with
                                              C (16) and layers (8) */
    nas_darts_rnn_genotype darts_rnn;      /* NAS_ARCH_DARTS_RNN: the cell */
    int epochs;                            /* budget.epochs (image 3, text 4) */
    double max_seconds;                    /* budget.max_seconds; 0: no limit. When it
                                              runs out, training stops between steps and
                                              the job still evaluates and reports its
                                              result ("stopped_by":"max_seconds") */
    uint64_t seed;
    int threads;                  /* engine threads for this job (1) */
    int batch_size;               /* image 64, text 20 */
    float lr, lr_min;             /* cosine from lr to lr_min over the whole job:
                                     image 0.02 -> 0, text 20 -> 0 */
    float momentum, weight_decay; /* image 0.9, 5e-4; text 0, 0 */
    float grad_clip;              /* global L2 norm; 0: off (image 0, text 0.25) */
    float dropout;                /* image: before the last layer (0); text: on
                                     embeddings and LSTM outputs (0.2) */
    int nesterov;                 /* image 1, text 0 */
    int augment;                  /* random crop (pad 4 on 32x32, 2 otherwise),
                                     plus horizontal flip except on fashion-mnist
                                     and synthetic (where sides matter); default
                                     1 for cifar10, 0 for the others */
    /* darts (defaults of issue #4, i.e. the paper and quark0/darts
     * train_search.py; the shared fields above take darts defaults too:
     * epochs 50, batch_size 64, lr 0.025 -> lr_min 0.001 by epoch,
     * momentum 0.9, weight_decay 3e-4, grad_clip 5; dropout and nesterov
     * must stay 0; augment, 1 on cifar10, crops (and on cifar10 flips)
     * the batches of both halves and the final training's). The
     * training set is split by a seeded shuffle:
     * train_portion of it trains the weights w, the rest ("val") alpha and
     * the per-epoch val_loss / val_accuracy. */
    int order;                    /* 1: first-order, 2: second-order alpha
                                     gradient (1) */
    int C;                        /* initial channels (16) */
    float arch_lr;                /* Adam on alpha (3e-4) */
    float arch_beta1, arch_beta2; /* (0.5, 0.999) */
    float arch_weight_decay;      /* (1e-3) */
    int arch_lr_steps;            /* 0: arch_lr as given (the reference);
                                     n: alpha's Adam lr is arch_lr * n / the
                                     search's planned steps (at most 1), the
                                     lr that moves alpha as far in a short
                                     search as arch_lr does in n steps (0) */
    float train_portion;          /* share of the examples for w (darts 0.5,
                                     enas CNN 0.9) */
    int max_examples;             /* use a seeded random subset of this many
                                     training examples before the split; 0: all
                                     (0) */
    int recompute;                /* darts-cnn: NAS_RECOMPUTE_AUTO (0), _ALWAYS
                                     or _NEVER: whether the mixed edges
                                     recompute their ops in backward (auto:
                                     not when the estimate without it fits
                                     memory_limit; results are the same) */
    size_t memory_limit;          /* bytes a job may take (the daemon's
                                     max-job-memory); 0: half the RAM
                                     (nas_job_memory_limit) */
    /* darts-cnn final training: after the search, the derived genotype is
     * trained from scratch by the train kind (NAS_ARCH_DARTS_CNN) on the
     * whole training set for final_epochs and evaluated on the test set;
     * the result's headline becomes its test_accuracy. 0: off (0). Its
     * optimizer is the reference's train.py: SGD lr 0.025 cosine to 0,
     * momentum 0.9, weight_decay 3e-4, grad_clip 5, no Nesterov, the
     * search's batch_size and augment; cutout, drop_path and aux_weight
     * (below) as the paper runs train.py (--auxiliary --cutout). */
    int final_epochs;
    double final_max_seconds; /* final_training.max_seconds: the final
                                 training's own wall-clock limit; 0: none.
                                 budget.max_seconds bounds the search
                                 stage alone: a search it cuts short is
                                 still followed by the final training */
    int cutout;               /* darts-cnn networks trained by the train kind
                                 (and darts' final training): cutout of
                                 half the image side (16 on 32x32, 14 on
                                 28x28) after the crop and flip, as
                                 quark0/darts train.py --cutout (1) */
    float aux_weight;         /* the same: weight of the auxiliary head's
                                 loss (0.4; 0: no head) */
    /* drop_path (below, with enas) is also the darts-cnn training's drop
     * path probability, scaled by (epoch - 1) / epochs like train.py (0.2) */
    int final_C, final_layers; /* its network (16, 8 when final_epochs).
                                  enas-micro / enas-macro: the best sampled
                                  arc trained the same way by the train kind
                                  (NAS_ARCH_ENAS_CNN, optimizer in
                                  engine/jobs/enas_final.c); final_C /
                                  final_layers 0 take the search's C /
                                  layers, and an enas-macro arc fixes its
                                  layers (final_layers 0 or the search's) */
    /* darts-rnn (search_space "darts-rnn" on a text dataset; defaults of
     * quark0/darts rnn/train_search.py when search_space is set to it
     * before nas_job_spec_defaults): embed 300, hidden 300 (the decoder is
     * tied to the embedding when they are equal), bptt 35, max_vocab
     * 10000, epochs 50, batch_size 256, lr 20 constant (lr_min = lr),
     * momentum 0, weight_decay 5e-7, grad_clip 0.25, dropout 0.75 (cell
     * outputs), arch_lr 3e-3, arch betas (0.9, 0.999), arch_weight_decay
     * 1e-3. The weights train on the corpus' train split, alpha on its
     * valid split, as in the reference; val_perplexity is measured on the
     * valid split. C, layers, train_portion and max_examples do not apply. */
    float dropout_input; /* darts-rnn: on the embeddings (0.2) */
    float ar_alpha;      /* darts-rnn search: activation regulariser (0) */
    float tar_beta;      /* darts-rnn search: temporal activation regulariser
                            (1e-3); its dropout_x (0.75) and dropout_h (0.25)
                            are enas-rnn's members below */
    /* ---- the controller (engine/search/controller/controller.h) of enas
     * (#5) and nas-rl (#6); API names in parentheses, defaults per space
     * in engine/jobs/spec_table.c, applied by nas_job_spec_defaults */
    int ctrl_hidden;                          /* lstm_size */
    int ctrl_layers;                          /* lstm_layers (enas: 1) */
    float ctrl_lr;                            /* controller_lr (Adam) */
    float ctrl_entropy_weight;                /* entropy_weight */
    float ctrl_tanh;                          /* tanh_constant; 0: off (null in the API) */
    float ctrl_temperature;                   /* temperature */
    float ctrl_baseline_decay;                /* baseline_decay */
    float ctrl_op_tanh_reduce;                /* op_tanh_reduce (enas CNN spaces) */
    float ctrl_skip_target, ctrl_skip_weight; /* skip_target, skip_weight
                                (enas-macro) */
    /* ---- enas (#5): fields of the enas kind (engine/search/enas*.c);
     * C, layers, batch_size, lr, lr_min, momentum, weight_decay,
     * grad_clip, dropout, bptt, hidden, epochs, final_* are shared above;
     * enas-micro/macro also read max_examples and train_portion (0.9:
     * weights, the rest controller rewards) and nesterov (1) */
    int ctrl_steps;      /* controller_steps: updates per epoch */
    int ctrl_aggregate;  /* controller_aggregate: children per update */
    int final_samples;   /* architectures sampled for the result (100) */
    int nodes;           /* enas-micro B (5), enas-rnn N (12) */
    float drop_path;     /* enas-micro: the final training's (and the train
                            kind's) drop path; the search applies none */
    float final_dropout; /* enas-micro / enas-macro final training: before
                            the classifier (0.2 / 0.5: the final scripts'
                            child_keep_prob 0.80 / 0.50) */
    int lr_t0, lr_t_mul; /* enas CNN: cosine with warm restarts */
    int lr_decay_start;  /* enas-rnn: epoch from which lr decays */
    float lr_decay_rate; /* enas-rnn: per epoch */
    float dropout_e, dropout_x, dropout_h, dropout_o; /* enas-rnn */
    float reward_c;                                   /* enas-rnn: c / ppl; nasrl-rnn: c / ppl^2 */
    /* ---- end enas */
    /* ---- nas-rl and random (#6): fields of those kinds
     * (engine/search/nasrl*.c, random*.c) */
    int max_architectures; /* budget.max_architectures */
    int child_epochs;
    int children_per_update;                               /* nas-rl; random: parallel_children */
    int start_layers, max_layers, layers_step, grow_every; /* nasrl-cnn */
    int filter_heights[8], nfilter_heights;
    int filter_widths[8], nfilter_widths;
    int num_filters[8], nnum_filters;
    int strides[3], nstrides;
    int search_strides;
    int reward_cube; /* reward "cube-best-last5" (1) or
                        "accuracy" (0) */
    int tree_base;   /* nasrl-rnn: 2, 4 or 8 */
    /* ---- end nas-rl and random */
    const char *checkpoint_path; /* where to write checkpoints; NULL: none */
    const char *model_path;      /* where a job that trains a network (train,
                                    final training) writes it when it
                                    succeeds: engine/jobs/model.c; NULL: none */
    int resume;                  /* continue from checkpoint_path when it exists */
} nas_job_spec;

/* Defaults of the job's kind (spec->algorithm; NULL becomes "train") and
 * search space, written into spec (dataset must be set; an unknown
 * dataset leaves spec unchanged). Every field that is zero gets its
 * default for the kind and the dataset's kind: the job-spec table's row of
 * (algorithm, search_space; for train, arch) first (nas_spec_spaces), then
 * what only the kind knows (the values in parentheses above), including
 * fields for which zero is a valid choice (momentum, dropout, nesterov,
 * ...): call it first on a spec zeroed except for dataset (and algorithm,
 * search_space), then set what the user gave. The enas, nas-rl and random
 * kinds fill in a NULL search_space; the other strings, seed, max_seconds
 * and the checkpoint
 * fields are left alone. */
void nas_job_spec_defaults(nas_job_spec *spec);
/* Runs the job to the end, reporting as it goes. Returns NAS_OK,
 * NAS_ECANCELLED when *stop became non-zero (after writing a checkpoint
 * when it was NAS_STOP_SHUTDOWN), or a negative error with nas_errmsg():
 * NAS_EINVAL names the bad spec field, a missing dataset names the path and
 * the Debian package or data_path to set, and a checkpoint written by
 * another spec (any field that changes the numbers: not threads,
 * max_seconds or paths) is refused with the first field that differs.
 * Same spec and seed and thread count: same numbers, also across a resume
 * from any checkpoint it wrote. stop may be NULL, rep or any callback in it
 * may be NULL. nas_set_threads(spec->threads) is called first: the thread
 * count is process-wide for now. */
int nas_job_run(const nas_job_spec *spec, const nas_job_reporter *rep, const _Atomic int *stop);
/* nas_job_run on one rank of a data-parallel group (NULL or size 1: the
 * same as nas_job_run, bit for bit). Every rank calls it with the same
 * spec; rank 0's stop flag and clock decide for all of them, only rank 0
 * writes checkpoints and models, and only its reporter should be given.
 * A spec whose kind does not distribute (nas_job_distributes) is
 * NAS_EINVAL. */
int nas_job_run_dist(const nas_job_spec *spec, const nas_job_reporter *rep, const _Atomic int *stop,
                     const nas_dist *dist);
/* 1 when the kind of spec (its defaults applied) runs data parallel under
 * nas_job_run_dist: darts over darts-cnn without final training, for
 * now. 0 otherwise, with nas_errmsg() saying what is not distributed. */
int nas_job_distributes(const nas_job_spec *spec);
/* The checks nas_job_run makes before it loads anything, alone: NAS_OK
 * when the spec passes them (the job gets past its preparation), else
 * NAS_EINVAL with nas_errmsg() "field: why", the field named as the API
 * names it where the two differ only by prefix (final_C, arch_beta1,
 * dropout_input, nblocks). Loads no data, allocates no network and
 * touches no file: what the daemon calls before it acknowledges a job.
 * What depends on the data (a batch larger than the split, a corpus too
 * short for its columns) is only known when the job runs. */
int nas_job_validate(const nas_job_spec *spec);

/* ---------------------------------------------------------------- models */

/* A trained network opened for inference (issue #14; jobs/predict.c). */
typedef struct nas_model nas_model;

/* One metadata value of a model (or checkpoint) file (jobs/model.c lists
 * the keys) into *value (malloc'd; NULL when the file has no such key). */
int nas_model_meta(const char *path, const char *key, char **value);
/* Opens the model file at path, whose network is the one a `train` job
 * with `spec` builds (the caller makes spec from the file's
 * "architecture" and "dataset" metadata; its dataset paths are not read).
 * The network comes from the train job's own builder and the file must
 * hold exactly its tensors, by name and shape. Image networks of
 * fixed-cnn, darts-cnn, enas-micro, enas-macro and nasrl-cnn, and the
 * language models of the train kind (over the file's "vocabulary");
 * another is NAS_EINVAL. *out is owned by the caller (nas_model_free). */
int nas_model_open(const char *path, const nas_job_spec *spec, nas_model **out);
void nas_model_free(nas_model *m);
/* The input's shape (C, H, W) and the number of classes. */
void nas_model_input(const nas_model *m, int *c, int *h, int *w, int *classes);
/* The name of class k (the file's "classes"), NULL out of range. */
const char *nas_model_class_name(const nas_model *m, int k);
/* pixels (n, C, H, W) as the dataset stores them (0-255) -> logits
 * (n, classes), eval mode, normalised as the training was. Only reads the
 * network (and reuses the model's spare graphs under a lock): threads may
 * share one model. NAS_OK or NAS_ENOMEM. */
int nas_model_logits(nas_model *m, const uint8_t *pixels, int n, float *logits);
/* A language model's file (the LSTM LM, darts-rnn, enas-rnn, nasrl-rnn):
 * 1; an image model's: 0. The calls below are for language models; like
 * nas_model_logits they only read the network. */
int nas_model_is_text(const nas_model *m);
/* The vocabulary's size, and the token of id (NULL out of range). */
int nas_model_vocab_size(const nas_model *m);
const char *nas_model_token(const nas_model *m, int id);
/* text as the job's dataset encodes its splits, with the file's
 * vocabulary (nas_corpus_encode; open_end as there). */
int nas_model_encode(const nas_model *m, const char *text, size_t len, int open_end, int32_t **ids,
                     int *n, int *nunk);
/* The summed negative log-likelihood (natural log) of ids[1, n), each
 * given the ids before it, read as one stream from a zero state in eval
 * mode, one token at a time: exp(*nll / (n - 1)) is the perplexity the
 * job's evaluation gives a column holding these ids. n >= 2. */
int nas_model_text_nll(nas_model *m, const int32_t *ids, int n, double *nll);
/* count tokens following ids[0, n) (n >= 1), each drawn from
 * softmax(logits / temperature) by an rng seeded with seed (temperature
 * 0: the most likely token) and fed back: the same arguments give the
 * same tokens. */
int nas_model_sample(nas_model *m, const int32_t *ids, int n, int count, uint64_t seed,
                     double temperature, int32_t *out);

/* The names an architecture of search space `space` spells the choices
 * `what` with, in the order of the engine's decision values: "op"
 * (enas-micro, enas-macro), "activation" (enas-rnn, nasrl-rnn), "combine"
 * (nasrl-rnn); *n of them. What turns an architecture as a search serves
 * it into the decision ints the train kind takes. NULL (*n = 0) for
 * another pair. */
const char *const *nas_arch_choice_names(const char *space, const char *what, int *n);

/* ------------------------------------------------------ job-spec table */

/* One row per job-spec field, per (algorithm, search space): its name as
 * the API spells it, type, range, default, one line of doc and where it
 * goes in nas_job_spec (engine/jobs/spec_table.c, modelled on PostgreSQL's
 * guc_tables.c). The engine's defaults and range checks, the API's
 * normalization and problem+json errors, its conversion to nas_job_spec,
 * the JSON Schema, the OpenAPI description and GET /v1/search-spaces all
 * read these rows: a new hyperparameter is one row. */
typedef enum nas_spec_type {
    NAS_SPEC_INT,      /* int at off */
    NAS_SPEC_NUM,      /* float at off (double for budget.max_seconds) */
    NAS_SPEC_BOOL,     /* int 0/1 at off */
    NAS_SPEC_STR,      /* one of choices; the engine stores its index */
    NAS_SPEC_INT_LIST, /* int array at off, its length at count_off */
    NAS_SPEC_NUM_LIST, /* max_items consecutive floats at off */
    NAS_SPEC_CUSTOM,   /* a value no rule above describes (a genotype):
                          the API validates it and converts it
                          (api/spec_genotype.c, spec_arch.c) into the
                          member at off: DARTS typed cells, ENAS and
                          NAS-RL ints as text */
} nas_spec_type;

enum {
    NAS_SPEC_NULLABLE = 1, /* null is a valid value (and may be the default) */
    NAS_SPEC_EXCL_MIN = 2, /* value > min rather than >= min */
    NAS_SPEC_EXCL_MAX = 4, /* value < max rather than <= max */
    NAS_SPEC_UNIQUE = 8,   /* lists: no value twice */
    NAS_SPEC_EXPLAIN = 16, /* a range error quotes the doc: it says why */
    NAS_SPEC_DOUBLE = 32,  /* NAS_SPEC_NUM stored as a double */
};

struct nas_spec_custom; /* defined by the reader of NAS_SPEC_CUSTOM rows */

typedef struct nas_spec_field {
    const char *name; /* the API's key; NULL ends a table */
    nas_spec_type type;
    double min, max; /* the value, or each element of a list */
    int flags;
    const char *choices;      /* JSON array text of the allowed values, or NULL */
    const char *def;          /* JSON text of the default; NULL: required */
    int min_items, max_items; /* lists */
    const char *doc;
    const char *na;                       /* non-NULL: does not apply here (why); must be
                                             null or absent */
    const struct nas_spec_custom *custom; /* NAS_SPEC_CUSTOM in a reader's
                               own tables; NULL in the engine's */
    int off;                              /* offsetof in nas_job_spec; -1: not stored */
    int count_off;                        /* INT_LIST: offsetof its int count */
    int null_off;                         /* NULLABLE: null takes the value of the field
                                             at this offset (darts-rnn lr_min: lr);
                                             -1: null is 0 */
} nas_spec_field;

/* One row per (algorithm, search space) - for `train`, per architecture
 * space - with the data it needs and its fields. */
typedef struct nas_spec_space {
    const char *algorithm;
    const char *space;           /* search_space; for train, architecture.space */
    const char *data_kind;       /* "image" or "text" */
    const char *epochs;          /* budget.epochs default (JSON); NULL: n/a */
    const char *max_arch;        /* budget.max_architectures default; NULL: n/a */
    const nas_spec_field *hp;    /* hyperparameters */
    const nas_spec_field *arch;  /* train only: the architecture's fields */
    const nas_spec_field *fixed; /* engine values that are no key (def
                                    applies): enas' Nesterov momentum and
                                    one-layer controller; or NULL */
    nas_arch_kind arch_kind;     /* train only */
    unsigned final_fields;       /* final_training fields the engine reads, bit
                                    i for nas_spec_final_fields()[i]; 0: no
                                    final training */
    int engine_defaults;         /* 1: nas_job_spec_defaults fills what the
                                    rows leave (nas-rl, random) */
    const char *doc;             /* one line: what it is, where it comes from */
} nas_spec_space;

/* The rows, *n of them; the first row of an algorithm is its default
 * space, and for train the first row of a data kind that kind's default
 * architecture. */
const nas_spec_space *nas_spec_spaces(int *n);
/* The row of (algorithm, space); space NULL: the algorithm's first. */
const nas_spec_space *nas_spec_space_find(const char *algorithm, const char *space);
/* The budget's fields (epochs, max_seconds, max_architectures) and the
 * final training's (enabled, epochs, C, layers), ended by a NULL name. */
const nas_spec_field *nas_spec_budget_fields(void);
const nas_spec_field *nas_spec_final_fields(void);
/* The value (JSON text) a final_training row whose default is null takes
 * in the given space, or NULL: null stays (the row does not apply). */
const char *nas_spec_final_default(const char *space, const char *field);
/* The resources' fields (ranks): where the job runs, not what it
 * computes, so none is stored in nas_job_spec. */
const nas_spec_field *nas_spec_resources_fields(void);
/* The row named name in a table, or NULL. */
const nas_spec_field *nas_spec_field_find(const nas_spec_field *fs, const char *name);

/* An estimate of a job's peak memory from its spec alone, before it is
 * queued (engine/jobs/estimate.c): nothing is allocated or run. The parts:
 * the parameter store (each parameter with its gradient and two optimizer
 * moments, counted exactly from the architecture), the activations of one
 * step (the arena: forward tensors and their gradients, the DARTS mixed
 * edges' outputs and one edge's recomputation, im2col buffers; a model
 * calibrated against measured arena peaks, tests/test_estimate.c: the
 * estimate is >= the measured peak and <= 3x it; darts-rnn is measured on
 * one loss pass of its supernet), the dataset in memory
 * and a fixed base (code, BLAS and thread buffers). enas: the shared
 * weights exactly; enas-rnn's activations a model (one measured run),
 * the CNN spaces' bounded by the DARTS supernet's of the same C, layers
 * and batch (exact_model 0). nas-rl and random (exact_model 0): the
 * largest child of the space, times the children that train at once
 * (children_per_update, at most threads): for nasrl-cnn max_layers layers
 * of the largest filters at full resolution, each fed by every earlier
 * layer; for the other spaces the DARTS supernet's (image) or darts-rnn's
 * (text) for the spec's channels, cells and batch. */
typedef struct nas_job_memory {
    size_t params, activations, data, base;
    size_t total;    /* the sum */
    int exact_model; /* 0: the conservative figure above */
    int recompute;   /* darts-cnn search: 1 the activations are those of
                        the recomputing supernet, 0 of the one that keeps
                        its edges' ops (the spec's "recompute", auto
                        resolved against memory_limit); -1 other kinds */
} nas_job_memory;

/* darts-cnn's "recompute" (nas_job_spec.recompute). */
enum { NAS_RECOMPUTE_AUTO = 0, NAS_RECOMPUTE_ALWAYS = 1, NAS_RECOMPUTE_NEVER = 2 };
/* s->memory_limit, or half the physical memory when it is 0 (the daemon's
 * default max-job-memory). */
size_t nas_job_memory_limit(const nas_job_spec *s);

int nas_job_estimate_memory_parts(const nas_job_spec *spec, nas_job_memory *out);
/* The total of the above in *bytes. NAS_EINVAL for a spec it cannot read. */
int nas_job_estimate_memory(const nas_job_spec *spec, size_t *bytes);

/* How long a job runs, from its spec alone (engine/jobs/estimate_steps.c):
 * the training steps its progress counts (the search's or the training's,
 * then the final training's), from the dataset's known sizes without
 * loading it, and the seconds they take here: the multiply-adds of each
 * step over this machine's measured GEMM rate (nas_gemm_rate) times the
 * job's threads and a measured efficiency, each stage capped by its
 * max_seconds (capped 1 then). exact 0: the steps are estimated (a text
 * corpus' tokens from its file's size) or an upper bound (nas-rl and
 * random take an architecture trained already from their cache). */
typedef struct nas_job_steps {
    int64_t steps, search_steps, final_steps;
    double search_macs, final_macs; /* multiply-adds of one step */
    double macs_per_second;         /* the rate the seconds assume */
    double seconds, search_seconds, final_seconds;
    int exact, capped, text;
} nas_job_steps;
int nas_job_estimate_run(const nas_job_spec *spec, nas_job_steps *out);
/* Multiply-adds per second of one thread's sgemm on this machine,
 * measured on the first call (about 50 ms) and kept for the process. */
double nas_gemm_rate(void);

#ifdef __cplusplus
}
#endif
#endif
