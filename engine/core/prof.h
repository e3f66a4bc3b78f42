// SPDX-License-Identifier: MIT
/*
 * prof.h - the per-op-kind accounting of one thread's training steps, for
 * the roofline report of bench/ (issue #17): calls, FLOPs, bytes moved,
 * wall time and roofline time per op kind.
 *
 * The one design decision: the hooks sit where every op already passes,
 * not in the kernels. An op's forward is timed from its output's
 * allocation (nas__out, nas__list_out) to its NAS__PROF line beside the
 * NAS__EX one; a backward node from its dispatch in nas_graph_backward
 * to its return; gradient zeroing (nas__zero, zero_grad) and the
 * optimizers as their own kinds. Times are exclusive: a stack of frames
 * charges every interval to exactly one kind (a backward node that
 * recomputes its ops in forward is charged only its own glue), so the
 * kinds sum to the step's wall time. What runs outside any op (the
 * searches' own loops: a DARTS edge's weighted sum, the alpha dot
 * products) is `other`, with no FLOP or byte model.
 *
 * Beside the wall time, each interval's process CPU time (all threads) is
 * charged the same way: on a machine that other work keeps busy, CPU time
 * over threads is the time the op had the cores, where wall time also
 * counts the waits for them.
 *
 * Off (the default), every hook is one thread-local load and a branch
 * per op call, never in a kernel loop. On, it counts the calling thread
 * only: the engine's worker threads run kernels, never ops, so an op's
 * wall time includes its parallel workers and 2 threads are counted right.
 *
 * Byte model, stated: every tensor an op reads or writes moves once per
 * pass (forward: its inputs read, its output written; backward: the
 * forward's tensors and dy read, each wanted gradient read and written,
 * since gradients accumulate); reuse between ops in cache is not
 * credited. FLOPs: 2 per multiply-add for convolutions and linear layers
 * (backward: 2 x MACs per wanted gradient), and small per-element counts
 * for the rest (the ops name them beside their hook). Backward nodes of
 * the searches' own (a DARTS edge, an ENAS chunk) are `other` and carry
 * no model.
 */
#ifndef NAS_PROF_H
#define NAS_PROF_H

#include <stddef.h>

typedef enum nas_prof_kind {
    NAS_PROF_OTHER = 0,   /* outside any op: the searches' own loops */
    NAS_PROF_DENSE,       /* convolution, groups 1, kernel > 1x1 */
    NAS_PROF_POINTWISE,   /* 1x1 convolution */
    NAS_PROF_DEPTHWISE,   /* grouped convolution (groups > 1) */
    NAS_PROF_POOL,        /* max / avg pooling, pool + BN fused, global avg pool */
    NAS_PROF_BN,          /* batch norm */
    NAS_PROF_ELEMENTWISE, /* activations, add / mul / scale / sum_n, dropout */
    NAS_PROF_COPY,        /* concat, narrow, shift, padding, gradient zeroing */
    NAS_PROF_OPTIM,       /* SGD, Adam, gradient clipping */
    NAS_PROF_HEAD,        /* linear, matmul, softmax, loss, embedding, reductions */
    NAS_PROF_KINDS
} nas_prof_kind;

typedef struct nas_prof_row {
    double calls, flops, bytes, seconds;
    double cpu_s;  /* process CPU seconds (all threads) in the same intervals */
    double roof_s; /* sum over calls of max(flops / peak, bytes / bandwidth) */
} nas_prof_row;

typedef struct nas_prof {
    double peak_flops; /* FLOP/s and bytes/s of the roofline, set by the caller */
    double bandwidth;
    nas_prof_row kind[NAS_PROF_KINDS]; /* all passes */
    /* Convolution and linear FLOPs of forwards outside backward and of
     * all backward passes: what ../shared/peer/results.md counts (6F for
     * a first-order DARTS step); recomputation in backward is not. */
    double useful_flops;
    double fwd_flops;                    /* the convolution FLOPs of those forwards alone */
    double recompute_flops, recompute_s; /* forward ops run inside a backward node */
} nas_prof;

/* Accounts the calling thread's ops into p (zeroed here; set p's
 * peak_flops and bandwidth after, before the ops) until nas_prof_stop. */
void nas_prof_start(nas_prof *p);
void nas_prof_stop(void);
/* "dense conv", "pointwise", ...: the row names of the report. */
const char *nas_prof_kind_name(int kind);

#endif
