// SPDX-License-Identifier: MIT
/*
 * internal.h - what the engine's own files share and users never see: the
 * graph and tape layout, the op recording helpers, small kernels and ops
 * only the engine uses, and a few helpers every layer may call (a clock,
 * an argmax, the size of the weights).
 *
 * An op is two functions: the forward computes its output from the arena
 * and, when the graph records, pushes a node {backward fn, inputs, output,
 * saved scalars/pointers}. nas_graph_backward calls node->bwd in reverse
 * order for every node whose output has a gradient; bwd accumulates into
 * the inputs for which nas__want() is true.
 */
#ifndef NAS_INTERNAL_H
#define NAS_INTERNAL_H

#include "core/prof.h"
#include "nas.h"

#include <cblas.h>

#include <stdbool.h>
#include <string.h>
#include <time.h>

#define NAS_NODE_MAXIN 4

typedef struct nas_node nas_node;
typedef void (*nas_bwd_fn)(nas_graph *g, nas_node *n);

struct nas_node {
    nas_bwd_fn bwd;
    nas_tensor *out;
    nas_tensor *in[NAS_NODE_MAXIN];
    int nin;
    int ia[8];         /* saved integers (stride, pad, ...) */
    float fa[4];       /* saved floats */
    void *pa[4];       /* saved arena pointers (masks, stats, ...) */
    nas_tensor **list; /* variadic inputs (concat, sum_n) */
    int nlist;
    /* ow bit i: bwd can overwrite in[i]'s whole gradient instead of adding
     * to it; backward then leaves a just-allocated gradient unzeroed and
     * sets bit i of fresh for that call (graph.c, nas__fresh). */
    unsigned ow, fresh;
    int pkind;     /* nas_prof_kind of the op, set only while profiling */
    double pflops; /* its forward FLOPs (core/prof.c's backward model) */
};

struct nas_graph {
    nas_arena *arena;
    nas_node **tape;
    int ntape, captape;
    int training;
    int grad_enabled;
    nas_rng *rng;
    uint32_t bwd_mask;    /* groups asked for by the running backward */
    struct nas__onnx *ex; /* ONNX exporter of a trace (export/onnx.h) or NULL */
    const nas_dist *dist; /* synchronised BN over a group, or NULL */
};

/* ONNX export hooks (export/onnx_ops.c): an op's forward hands its ONNX
 * form to the graph's exporter, when there is one, through NAS__EX; an
 * op with no ONNX form calls nas__ex_none so that the export fails
 * naming it. */
typedef struct nas__onnx nas__onnx;
#define NAS__EX(g, call)                                                                           \
    do {                                                                                           \
        if ((g)->ex)                                                                               \
            call;                                                                                  \
    } while (0)
void nas__ex_none(nas_graph *g, const char *op);
void nas__ex_conv(nas_graph *g, nas_tensor *y, nas_tensor *x, nas_tensor *w, nas_tensor *b,
                  int stride, int pad, int dil, int groups);
void nas__ex_conv_rect(nas_graph *g, nas_tensor *y, nas_tensor *x, nas_tensor *w, int stride,
                       int pad_top, int pad_left);
void nas__ex_zero_pad(nas_graph *g, nas_tensor *y, nas_tensor *x);
void nas__ex_bn(nas_graph *g, nas_tensor *y, nas_tensor *x, nas_tensor *gamma, nas_tensor *beta,
                nas_tensor *rm, nas_tensor *rv, float eps);
void nas__ex_pool(nas_graph *g, nas_tensor *y, nas_tensor *x, int max, int k, int stride, int pad);
void nas__ex_pool_bn(nas_graph *g, nas_tensor *y, nas_tensor *x, int max, int stride,
                     nas_tensor *rm, nas_tensor *rv, float eps);
void nas__ex_gap(nas_graph *g, nas_tensor *y, nas_tensor *x);
/* op: the ONNX op type ("Relu", "Add", "Sum", "Concat", ...). */
void nas__ex_unary(nas_graph *g, nas_tensor *y, nas_tensor *x, const char *op);
void nas__ex_binary(nas_graph *g, nas_tensor *y, nas_tensor *a, nas_tensor *b, const char *op);
void nas__ex_list(nas_graph *g, nas_tensor *y, nas_tensor **xs, int n, const char *op);
void nas__ex_scale(nas_graph *g, nas_tensor *y, nas_tensor *x, float c);
void nas__ex_linear(nas_graph *g, nas_tensor *y, nas_tensor *x, nas_tensor *w, nas_tensor *b);
void nas__ex_reshape(nas_graph *g, nas_tensor *y, nas_tensor *x);
/* y = x[starts[i] : starts[i] + y's size] along axes[i], i < naxes. */
void nas__ex_slice(nas_graph *g, nas_tensor *y, nas_tensor *x, int naxes, const int *axes,
                   const int *starts);
void nas__ex_softmax(nas_graph *g, nas_tensor *y, nas_tensor *x, int log);
void nas__ex_embedding(nas_graph *g, nas_tensor *y, nas_tensor *table, const int32_t *ids);

/* Profiling hooks (core/prof.h): NAS__PROF(call) runs call only while
 * the calling thread is profiled; each op's forward ends with one, beside
 * its NAS__EX. nas__prof_op: y computed from in[0, nin) in flops FLOPs;
 * nas__prof_conv: the same for a convolution, whose kind (dense,
 * pointwise, depthwise) and FLOPs it derives from the shapes. push / pop
 * bracket work that is no op (zeroing, optimizers); pop counts one call
 * of the frame's kind with the FLOPs and bytes given. */
typedef struct nas__prof_state nas__prof_state;
extern _Thread_local nas__prof_state *nas__prof_cur;
#define NAS__PROF(call)                                                                            \
    do {                                                                                           \
        if (__builtin_expect(nas__prof_cur != NULL, 0))                                            \
            call;                                                                                  \
    } while (0)
void nas__prof_begin(void);
void nas__prof_op(nas_graph *g, int kind, nas_tensor *y, nas_tensor *const *in, int nin,
                  double flops);
void nas__prof_conv(nas_graph *g, nas_tensor *y, nas_tensor *x, nas_tensor *w, int groups);
void nas__prof_push(int kind);
void nas__prof_pop(double flops, double bytes);
/* Around a backward node's dispatch: its kind's frame, and the backward
 * FLOP and byte model of the node's tensors at its end. */
void nas__prof_node_push(const nas_node *n);
void nas__prof_node_pop(const nas_graph *g, const nas_node *n);

/* Output tensor for an op over inputs: shape given, groups = OR of the
 * inputs' groups (0 when the graph does not record). */
nas_tensor *nas__out(nas_graph *g, int ndim, const int *shape, nas_tensor *const *in, int nin);
/* Push a node when recording and some input needs a gradient; returns the
 * node (to fill saved values) or NULL when nothing is recorded. */
nas_node *nas__record(nas_graph *g, nas_bwd_fn bwd, nas_tensor *out, nas_tensor *const *in,
                      int nin);
/* Ops over a variadic list (concat, sum_n): the output's groups come from
 * all of them, and the list is copied to the arena and kept on the node
 * (the fixed inputs of a node hold at most NAS_NODE_MAXIN). */
nas_tensor *nas__list_out(nas_graph *g, int ndim, const int *shape, nas_tensor **xs, int n,
                          nas_tensor ***kept);
void nas__record_list(nas_graph *g, nas_bwd_fn fn, nas_tensor *y, nas_tensor **kept, int n,
                      int ia0);
/* True when n's bwd must write (not add) in[i]'s gradient: it was just
 * allocated and not zeroed, n having declared the overwrite (n->ow). */
static inline bool nas__fresh(const nas_node *n, int i)
{
    return n->fresh >> i & 1u;
}
/* True when backward must produce t's gradient; t->grad is then allocated. */
static inline bool nas__want(const nas_graph *g, const nas_tensor *t)
{
    return t && t->grad && (t->groups & g->bwd_mask);
}

/* Parallel for over [0, n): fn(ctx, i0, i1) on up to nas_get_threads()
 * threads, each a contiguous chunk; deterministic (every index is computed
 * by the same code whatever the split, and no reductions cross chunks). */
typedef void (*nas_range_fn)(void *ctx, int i0, int i1);
void nas__parallel_for(int n, nas_range_fn fn, void *ctx);
/* Which of the t chunks of nas__parallel_for(n, ...) starts at i0 (chunk
 * k is [n k / t, n (k + 1) / t)): the index of the caller's scratch. */
static inline int nas__chunk_of(int n, int t, int i0)
{
    for (int k = t - 1; k > 0; k--)
        if (i0 >= (int)((long)n * k / t))
            return k;
    return 0;
}
/* fn(ctx, i0, i1) over [0, n) elementwise work: long spans (n >= 65536)
 * are cut into blocks of 4096 and split over the engine's threads, short
 * ones run on the caller, where waking a worker would cost more than the
 * loop. For work whose every index is computed alone (the numbers do not
 * depend on the split). */
typedef void (*nas_span_fn)(void *ctx, size_t i0, size_t i1);
void nas__parallel_span(size_t n, nas_span_fn fn, void *ctx);

/* Zeroes n floats, split over the engine's threads when n is large (the
 * gradient buffers of a training step's activations). */
void nas__zero(float *p, size_t n);

/* Row-major C = alpha op(A) op(B) + beta C, split over the calling
 * thread's engine threads in column (or row) blocks; same numbers for a
 * given thread count. */
void nas__sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, float alpha,
                const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
/* The per-image GEMMs of a pointwise convolution (ops/gemm_small.c), one
 * small operand: C (m, n) = (or += when accumulate) op(A) (m, k) B (k, n),
 * op(A) = A or A^T (trans_a); and C (m, n) += A (m, k) B^T with B (n, k).
 * Row-major; cblas_sgemm without AVX-512. */
void nas__gemm_small_nn(int trans_a, int m, int n, int k, const float *a, int lda, const float *b,
                        int ldb, int accumulate, float *c, int ldc);
void nas__gemm_small_nt_acc(int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                            float *c, int ldc);
/* ops/conv_rect.c: the ops of NAS with RL's children, internal because
 * only the nasrl-cnn space needs them.
 * x (N,Ci,H,W), w (Co,Ci,KH,KW) -> (N,Co,ho,wo): a dense convolution with
 * a rectangular kernel, stride, pad_top / pad_left zero rows / columns
 * before the plane (taps beyond the plane read zero). No bias. */
nas_tensor *nas__conv2d_rect(nas_graph *g, nas_tensor *x, nas_tensor *w, int stride, int pad_top,
                             int pad_left, int ho, int wo);
/* TensorFlow "SAME": *out = ceil(in / stride), *pad_before = half of the
 * padding the kernel needs (the odd unit after). */
void nas__same_pad(int in, int k, int stride, int *out, int *pad_before);
nas_tensor *nas__conv2d_same(nas_graph *g, nas_tensor *x, nas_tensor *w, int stride);
/* x (N,C,H,W) -> (N,C,ho,wo), centred (the odd row / column after), the
 * border zero; x itself when the size is already that. */
nas_tensor *nas__zero_pad(nas_graph *g, nas_tensor *x, int ho, int wo);

/* Joins the pool's threads (registered with atexit). */
void nas__threads_shutdown(void);

/* The string metadata value `key` of the checkpoint at path, read without
 * reading any tensor (core/ckpt_header.c); *out malloc'd, NULL when the
 * key is absent. */
int nas__ckpt_meta(const char *path, const char *key, char **out);

static inline void nas__axpy(float *restrict y, const float *restrict x, float a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

/* Seconds on the monotonic clock (for rates, ETAs and time budgets). */
static inline double nas__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The index of the first largest of v[0, n) (a row of logits). */
static inline int nas__argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

/* Forward-only evaluations (the train kind's test set, train_image.c; a
 * NAS-RL or random child's validation set, nasrl_cnn.c) run in batches of
 * twice the training batch, at most NAS__EVAL_BATCH images: a forward
 * without gradients keeps about 0.45x a training step's arena per image
 * (tests/test_estimate.c measures both), so the evaluation stays inside
 * the step's memory estimate (at 500 images a C 8, 5-cell darts-cnn
 * network took 1.8 GB where its step took 0.26 GB, and 7.9 GB on
 * CIFAR-10 at C 16, 8 layers). */
#define NAS__EVAL_BATCH 500
static inline int nas__eval_batch(int batch_size)
{
    return batch_size >= NAS__EVAL_BATCH / 2 ? NAS__EVAL_BATCH : 2 * batch_size;
}

/* Floats of the tensors in the weights group (the trained parameters,
 * a network's "parameters" count; core/params.c). */
size_t nas__params_weights_numel(nas_params *p);

static inline void nas__add_to(float *restrict y, const float *restrict x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
}

#endif
