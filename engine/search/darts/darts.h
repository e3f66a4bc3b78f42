// SPDX-License-Identifier: MIT
/*
 * darts.h - DARTS (Liu, Simonyan, Yang 2019) convolutional search, shared
 * by the engine's own files (internal; users see only the jobs section of
 * nas.h): the supernet (darts_cnn.c), the search step of first and second
 * order (darts_search.c), the derivation of the genotype
 * (darts_genotype.c) and the discrete network of a genotype (darts_net.c).
 *
 * The one design decision to know: the supernet is plain engine ops over
 * one parameter store. Weights are group NAS_GROUP_WEIGHTS, the two alpha
 * matrices (normal, reduce; 14 x 8 each) group NAS_GROUP_ARCH, the BN
 * running statistics NAS_GROUP_STATE. So the second-order step's
 * snapshot / virtual step / +-eps v perturbations are loops over one flat
 * array (nas_params_group), and a backward limited to NAS_GROUP_ARCH
 * computes alpha gradients without any weight gradient.
 */
#ifndef NAS_SEARCH_DARTS_H
#define NAS_SEARCH_DARTS_H

#include "internal.h"
#include "core/json.h"

extern const char *const nas__darts_prim_names[NAS_DARTS_NPRIM];

#define NAS_DARTS_EDGES 14 /* 2 + 3 + 4 + 5 */

/* ------------------------------------------------------------ supernet */

typedef struct nas_darts_cfg {
    int C;          /* initial channels (16) */
    int layers;     /* cells (8); reductions at layers/3, 2 layers/3 */
    int in_c, h, w; /* input images */
    int classes;
    int auxiliary; /* the discrete network (nas__darts_fixed) only: declare
                      the auxiliary head (nas_aux_head) on the output of
                      cell 2 layers/3, as quark0/darts NetworkCIFAR */
} nas_darts_cfg;

typedef struct nas__darts_net nas__darts_net;

/* Declares every parameter of the supernet in p (before nas_params_alloc)
 * and returns the net's layout in *out (owned, nas__darts_net_free).
 * NAS_EINVAL names the field when the config cannot be built (a reduction
 * needs even map sizes). */
int nas__darts_declare(nas_params *p, const nas_darts_cfg *cfg, nas__darts_net **out);
void nas__darts_net_free(nas__darts_net *n);
/* on (the default): each mixed edge keeps only its input and output and
 * recomputes its ops in backward (about 1/10 of the activations for one
 * more forward of the edges); off: the ops stay on the tape. Results are
 * bit-identical either way (tests/test_darts_recompute.c). */
void nas__darts_recompute(nas__darts_net *n, int on);
/* The peak of the scratch graph's arena (one mixed edge recomputed at a
 * time), for the memory estimate's calibration (tests/test_estimate.c). */
size_t nas__darts_scratch_peak(nas__darts_net *n);
/* Index in the store of the alpha matrix (14 x 8) of the normal (reduce =
 * 0) or reduction (reduce = 1) cells. */
int nas__darts_alpha(const nas__darts_net *n, int reduce);
/* x (N, in_c, h, w) -> logits (N, classes). update_stats: in training
 * mode, fold this batch into the BN running statistics (only the real
 * weight step does; the architecture step's extra forward passes leave
 * them alone). In eval mode the running statistics are used. */
nas_tensor *nas__darts_forward(nas_graph *g, nas_params *p, const nas__darts_net *n, nas_tensor *x,
                               int update_stats);

/* --------------------------------------------------------- search step */

typedef struct nas_darts_hp {
    int order;                               /* 1 or 2 */
    float momentum, weight_decay, grad_clip; /* weight SGD (0.9, 3e-4, 5) */
    float arch_lr, arch_beta1, arch_beta2;   /* alpha Adam (3e-4, .5, .999) */
    float arch_weight_decay;                 /* 1e-3 */
    float fd_r;                              /* H v probes at w +- (fd_r / ||v||) v; 0: the
                                                paper's 0.01 */
} nas_darts_hp;

/* One batch: x (n, c, h, w) normalised floats and labels, caller-owned. */
typedef struct nas_darts_batch {
    const float *x;
    const int32_t *y;
    int n;
} nas_darts_batch;

typedef struct nas__darts_search {
    nas_params *p;
    nas_graph *g;
    const nas__darts_net *net;
    nas_darts_cfg cfg;
    nas_darts_hp hp;
    nas_sgd sgd; /* lr set per step; steps and moment1 persist */
    nas_adam adam;
    size_t nw, na;           /* floats in the weights / arch groups */
    float *w0, *v, *ga, *gb; /* scratch: snapshot of w, v (nw); two alpha
                                gradients (na) */
    int global_batch;        /* data parallel (the graph's nas_dist): the batches
                                are this rank's slices of global batches of this
                                many examples; 0 otherwise */
} nas__darts_search;

/* Statistics of the weight step's training batch. */
typedef struct nas_darts_stats {
    double train_loss;
    int train_correct;
    double val_loss; /* of the architecture step's validation pass */
} nas_darts_stats;

/* s->p must be allocated; g is the graph every pass runs on (reset
 * between passes). The search keeps pointers to p, g and net. */
int nas__darts_search_init(nas__darts_search *s, nas_params *p, nas_graph *g,
                           const nas__darts_net *net, const nas_darts_cfg *cfg,
                           const nas_darts_hp *hp);
void nas__darts_search_free(nas__darts_search *s);

/* What the second-order gradient is made of, for tests: dalpha =
 * grad_alpha L_val(w', alpha) and hv = the finite-difference H v (na floats
 * each, or NULL); clip_coef the factor of the implicit term besides xi
 * (1 unless clip_unrolled, see nas__darts_gsearch). */
typedef struct nas__darts_parts {
    float *dalpha, *hv;
    double val_loss;
    double clip_coef;
} nas__darts_parts;

/* The architecture gradient into the arch group's grad (zeroed first):
 * order 1: grad_alpha L_val(w, alpha); order 2: grad_alpha L_val(w',
 * alpha) - xi H v with w' one virtual step of the weight optimizer of lr
 * xi. The weights and the BN statistics are left exactly as they were.
 * Returns the validation loss of the pass at w (order 1) or w'. */
double nas__darts_arch_grad(nas__darts_search *s, const nas_darts_batch *train,
                            const nas_darts_batch *val, int order, float xi,
                            nas__darts_parts *parts);
/* One search step at weight learning rate lr: the architecture step (Adam
 * on alpha along nas__darts_arch_grad of order hp.order, xi = lr), then the
 * weight step (SGD on train, clipped). */
void nas__darts_step(nas__darts_search *s, const nas_darts_batch *train, const nas_darts_batch *val,
                     float lr, nas_darts_stats *st);

/* ----------------------------------------------------------- genotype */

/* The derivation rule of the paper on one alpha matrix (14 x 8, row-major):
 * per node, the 2 incoming edges whose strongest non-`none` softmax weight
 * is largest (strongest first, ties to the lower input), each with that
 * op. */
void nas__darts_derive(const float *alpha, nas_darts_gene *out);
/* {"normal": [["sep_conv_3x3", 0], ...], "normal_concat": [2,3,4,5],
 * "reduce": [...], "reduce_concat": [2,3,4,5]}; malloc'd text. */
char *nas__darts_genotype_json(const nas_darts_gene *normal, const nas_darts_gene *reduce);
/* The reference's Genotype(normal=[('sep_conv_3x3', 0), ...],
 * normal_concat=range(2, 6), reduce=[...], reduce_concat=range(2, 6));
 * malloc'd text. */
char *nas__darts_genotype_text(const nas_darts_gene *normal, const nas_darts_gene *reduce);
/* {"ops": ["none", ...], "normal": [[p_none, ..., p_dil_conv_5x5] x 14],
 * "reduce": [...]}: the softmax of each alpha row; malloc'd text. */
char *nas__darts_alpha_json(const float *normal, const float *reduce);

/* ================================================================
 * Op builders shared by the supernet and the discrete network
 * (darts_cnn.c), and the discrete network built from a genotype
 * (darts_net.c). The supernet's behaviour does not change: it declares
 * its ops with affine = 0 exactly as before.
 * ================================================================ */

/* Preprocessing kinds, after the primitives: ReLU-1x1 conv-BN and the
 * factorized reduction (also skip_connect at stride 2). */
enum { NAS__DARTS_OP_RCB = NAS_DARTS_NPRIM, NAS__DARTS_OP_FR };

/* One op's parameters: convolution weights w[] (sep: dw1, pw1, dw2, pw2;
 * dil: dw, pw; factorized reduce: conv1, conv2; ReLU-conv-BN: conv), the
 * running means of its BNs (the running variance is the next parameter)
 * and, when affine, their gammas (the beta is the next parameter). -1
 * where absent. */
typedef struct nas__darts_op {
    int kind, stride, k, affine;
    int w[4];
    int bn[2];
    int gamma[2];
} nas__darts_op;

/* Declares op `kind` (a primitive other than none, or NAS__DARTS_OP_RCB /
 * NAS__DARTS_OP_FR) of c output channels under the name prefix (e.g.
 * "cells.3.node.1.in.0."); c_in differs from c only for the preprocessing
 * ops. affine = 0: BNs without gamma/beta and pools followed by a BN (the
 * search's ops); affine = 1: BNs with gamma/beta and plain pools (the
 * reference's evaluation network, whose pools have no BN). */
int nas__darts_op_declare(nas_params *p, const char *prefix, nas__darts_op *op, int kind, int c_in,
                          int c, int stride, int affine);
/* op(x). update_stats as in nas__darts_forward. */
nas_tensor *nas__darts_op_apply(nas_graph *g, nas_params *p, const nas__darts_op *op, nas_tensor *x,
                                int update_stats);
/* NAS_EINVAL naming the field when cfg cannot be built (C, layers out of
 * range; a reduction of an odd map). */
int nas__darts_check_cfg(const nas_darts_cfg *cfg);

/* darts_cells.c: the typed genotypes of nas.h. */

/* A search's derived cells as a genotype: every node concatenated, as the
 * reference's genotype() gives them (normal_concat = reduce_concat =
 * [2, 3, 4, 5]; the recurrent cell's concat [1..8]). */
void nas__darts_genotype_of(const nas_darts_gene *normal, const nas_darts_gene *reduce,
                            nas_darts_genotype *out);
struct nas_darts_rnn_gene;
void nas__darts_rnn_genotype_of(const struct nas_darts_rnn_gene *g, nas_darts_rnn_genotype *out);

/* NAS_EINVAL naming the field ("genotype.normal[3][1]: ...") unless every
 * op is one of the 7 primitives other than none, node j's inputs are in
 * [0, j + 1] and each concat list holds 1 to 4 distinct nodes in [2, 5];
 * an all-empty genotype is "genotype: missing". */
int nas__darts_genotype_check(const nas_darts_genotype *gt);
/* The genotype of a train spec text's " genotype=" token (as
 * nas__darts_genotype_token writes it; a final-training checkpoint's
 * job.spec), checked; NAS_EFORMAT when the text has none. */
int nas__darts_genotype_from_spec_text(const char *spec_text, nas_darts_genotype *out);
/* The genotype as compact JSON (the structure above, concat lists
 * included); malloc'd. */
char *nas__darts_genotype_dump(const nas_darts_genotype *gt);
/* One space-free token for a checkpoint's spec text:
 * "sep_conv_3x3/0,.../2.3.4.5|max_pool_3x3/0,.../2.3.4.5". */
void nas__darts_genotype_token(const nas_darts_genotype *gt, char *buf, size_t cap);

/* The discrete network (quark0/darts NetworkCIFAR; its auxiliary head
 * and drop path optional): stem conv 3x3 to 3C + affine BN, `layers`
 * cells (reductions at layers/3 and 2 layers/3, channels doubled), each
 * preprocessing its two inputs and summing, per node, its two chosen ops
 * on their chosen inputs; the output concatenates the concat nodes; then
 * global average pooling and a linear head. Every parameter is in
 * NAS_GROUP_WEIGHTS, the BN running statistics in NAS_GROUP_STATE. */
typedef struct nas__darts_fixed nas__darts_fixed;

int nas__darts_fixed_declare(nas_params *p, const nas_darts_cfg *cfg, const nas_darts_genotype *gt,
                             nas__darts_fixed **out);
void nas__darts_fixed_free(nas__darts_fixed *n);
/* x (N, in_c, h, w) -> logits (N, classes). Training mode folds the
 * batch statistics into the running ones; eval mode uses them. */
nas_tensor *nas__darts_fixed_forward(nas_graph *g, nas_params *p, const nas__darts_fixed *n,
                                     nas_tensor *x);
/* The same in a training step of quark0/darts train.py: in training mode
 * every op output of a node other than an identity is passed through
 * nas_drop_path(drop_prob) (the graph's rng, cell by cell, node by node,
 * first input first), and, when declared with auxiliary and aux is not
 * NULL, *aux gets the auxiliary head's logits (NULL otherwise). */
nas_tensor *nas__darts_fixed_forward_train(nas_graph *g, nas_params *p, const nas__darts_fixed *n,
                                           nas_tensor *x, float drop_prob, nas_tensor **aux);

/* ================================================================
 * Additions for the recurrent search space (darts-rnn). They are kept
 * apart from the convolutional interface above, which they do not change.
 * ================================================================ */

/* ------------------------------------- search step over any model (any loss)
 * darts_gsearch.c: the same first/second-order step as nas__darts_search,
 * but the model is a callback, so a model whose batches carry state (the
 * recurrent language model's hidden state) can use it. The callback is
 * told which pass it builds, so that it can keep a pass's side effects
 * (carried state) only where the reference keeps them and draw dropout
 * only in the real weight step. */

enum nas__darts_pass {
    NAS__DARTS_PASS_UNROLL, /* train batch at w, for the virtual step */
    NAS__DARTS_PASS_VAL,    /* val batch at w (order 1) or w' (order 2):
                               the pass whose outcome the reference keeps */
    NAS__DARTS_PASS_PROBE,  /* train batch at w +- eps v (H v) */
    NAS__DARTS_PASS_WEIGHT, /* train batch at w, the real weight step */
};

/* The loss of `batch` built on g (already reset) from the store's current
 * values; a scalar whose groups include the weights and the alphas. */
typedef nas_tensor *(*nas__darts_loss_fn)(void *ctx, nas_graph *g, const void *batch,
                                          enum nas__darts_pass pass);

typedef struct nas__darts_gsearch {
    nas_params *p;
    nas_graph *g;
    nas__darts_loss_fn loss;
    void *ctx;
    nas_darts_hp hp;
    int clip_unrolled; /* clip grad_w at w and v at w' to hp.grad_clip
                          and multiply the implicit term by clip_coef =
                          grad_clip / (||grad_w|| + 1e-6) of the virtual
                          step, above 1 too (the reference's rnn
                          architect at its latest commit does all three,
                          its cnn one none; grad_clip 0: no clip, coef 1) */
    nas_sgd sgd;       /* lr set per step; steps and moment1 persist */
    nas_adam adam;
    size_t nw, na;
    float *w0, *v, *ga, *gb; /* scratch as in nas__darts_search */
} nas__darts_gsearch;

int nas__darts_gsearch_init(nas__darts_gsearch *s, nas_params *p, nas_graph *g,
                            nas__darts_loss_fn loss, void *ctx, const nas_darts_hp *hp,
                            int clip_unrolled);
void nas__darts_gsearch_free(nas__darts_gsearch *s);
/* As nas__darts_arch_grad: the architecture gradient into the arch
 * group's grad; weights restored bit-exactly; returns the val loss. */
double nas__darts_gsearch_arch_grad(nas__darts_gsearch *s, const void *train, const void *val,
                                    int order, float xi, nas__darts_parts *parts);
/* As nas__darts_step: Adam on alpha, then SGD on w (clipped) at lr.
 * Returns the train loss of the weight step; *val_loss (may be NULL)
 * gets the architecture step's. */
double nas__darts_gsearch_step(nas__darts_gsearch *s, const void *train, const void *val, float lr,
                               double *val_loss);

/* The one implementation of the step behind both searches: the fields of
 * a nas__darts_search or nas__darts_gsearch, by pointer where the step
 * updates them (the optimizers). darts_search.c passes its supernet as a
 * loss callback with clip_unrolled = 0. */
typedef struct nas__darts_core {
    nas_params *p;
    nas_graph *g;
    nas__darts_loss_fn loss;
    void *ctx;
    const nas_darts_hp *hp;
    int clip_unrolled;
    nas_sgd *sgd;
    nas_adam *adam;
    size_t nw, na;
    float *w0, *v, *ga, *gb;
} nas__darts_core;

double nas__darts_core_arch_grad(const nas__darts_core *c, const void *train, const void *val,
                                 int order, float xi, nas__darts_parts *parts);
double nas__darts_core_step(const nas__darts_core *c, const void *train, const void *val, float lr,
                            double *val_loss);

/* ---------------------------------------------------- recurrent cell
 * darts_rnn.c: the DARTS recurrent cell inside a language model
 * (embedding, the cell over the BPTT steps, linear decoder). */

extern const char *const nas__darts_rnn_prim_names[NAS_DARTS_RNN_NPRIM];

#define NAS_DARTS_RNN_EDGES 36 /* 1 + 2 + ... + 8 */

typedef struct nas_darts_rnn_cfg {
    int vocab, embed, hidden;
    int tied; /* decoder weight = embedding table (embed must
                 equal hidden) */
} nas_darts_rnn_cfg;

typedef struct nas__darts_rnn nas__darts_rnn;

/* Declares the model's parameters in p (before nas_params_alloc): the
 * embedding, W0 (2H, E+H), one Ws (2H, H) per intermediate node, the
 * decoder, the BN running statistics (NAS_GROUP_STATE) and alpha (36 x 5,
 * NAS_GROUP_ARCH). */
int nas__darts_rnn_declare(nas_params *p, const nas_darts_rnn_cfg *cfg, nas__darts_rnn **out);
void nas__darts_rnn_free(nas__darts_rnn *n);
int nas__darts_rnn_alpha(const nas__darts_rnn *n);

/* The mixed op of edge `edge`: s (B,H) the source node, ch (B,2H) its
 * linear map (c = ch[:, :H], h = ch[:, H:]), probs (36,5) softmax(alpha):
 * sum over the ops k != none of probs[edge][k] (s + sigmoid(c) (f_k(h) -
 * s)) -> (B,H). One tape node. */
nas_tensor *nas__darts_rnn_mixed(nas_graph *g, nas_tensor *s, nas_tensor *ch, nas_tensor *probs,
                                 int edge);
/* One step of the search cell: x (B,E), h (B,H) -> h' (B,H). s0 and every
 * node go through a batch norm without affine parameters (batch statistics
 * when g trains, folded into the running ones when update_stats; running
 * statistics in eval mode). mx (B,E) and mh (B,H), when not NULL, are the
 * reference's dropoutx / dropouth masks: x * mx and h * mh enter W0, and
 * every node's input is multiplied by mh before its linear map (the
 * op's own residual uses it undropped, as model_search.py). */
nas_tensor *nas__darts_rnn_cell(nas_graph *g, nas_params *p, const nas__darts_rnn *n,
                                nas_tensor *probs, nas_tensor *x, nas_tensor *h, nas_tensor *mx,
                                nas_tensor *mh, int update_stats);

/* One BPTT chunk: rows holds T + 1 rows of bsz ids (inputs rows 0..T-1,
 * targets 1..T); h (bsz, H) is the state before the chunk. */
typedef struct nas_darts_rnn_chunk {
    const int32_t *rows;
    int T, bsz;
    float *h;
} nas_darts_rnn_chunk;

/* The reference's training-time regularisers of one pass (quark0/darts
 * rnn/model_search.py, train_search.py): locked (variational) dropout
 * masks, one per sequence (bsz rows) for every step of the chunk, already
 * scaled by 1/keep - on the embeddings (mi, bsz x embed: dropouti), the
 * cell's input (mx, bsz x embed: dropoutx), the previous state and every
 * node's input to its linear map (mh, bsz x hidden: dropouth) and the cell
 * outputs before the decoder (mo, bsz x hidden: dropout); NULL: none - and
 * the activation regulariser ar * mean(dropped output^2) and the temporal
 * one tar * mean((h_t - h_{t-1})^2) over the chunk's raw outputs. */
typedef struct nas__darts_rnn_reg {
    const float *mi, *mx, *mh, *mo;
    float ar, tar;
} nas__darts_rnn_reg;

/* Mean cross-entropy over the T * bsz tokens (plus reg's activation
 * terms); when h_out is not NULL the state after the chunk is written
 * there (it may be c->h). reg may be NULL (no dropout, no regulariser);
 * update_stats as in nas__darts_rnn_cell. */
nas_tensor *nas__darts_rnn_loss(nas_graph *g, nas_params *p, const nas__darts_rnn *n,
                                const nas_darts_rnn_chunk *c, float *h_out,
                                const nas__darts_rnn_reg *reg, int update_stats);

/* The model as a nas__darts_loss_fn: ctx a nas__darts_rnn_model, batch a
 * nas_darts_rnn_chunk whose h is carried (overwritten) by the VAL and
 * WEIGHT passes only. Every pass applies the step's dropout masks (the
 * reference's architect runs in training mode; here one set of masks per
 * step, so that the finite-difference probes see one function), the
 * activation regularisers the WEIGHT pass only (the architect's _loss has
 * none), and the BN running statistics are updated by the WEIGHT pass
 * only. masks: mi, mx, mh, mo as in nas__darts_rnn_reg (NULL: none). */
typedef struct nas__darts_rnn_model {
    nas_params *p;
    const nas__darts_rnn *net;
    nas__darts_rnn_reg masks; /* ar, tar: the WEIGHT pass's */
} nas__darts_rnn_model;

/* Locked-dropout masks of drop probability q into m (n floats: 0 or
 * 1/(1-q)), from rng; all ones when q is 0 (no draw). */
void nas__darts_rnn_mask(float *m, size_t n, float q, nas_rng *rng);

nas_tensor *nas__darts_rnn_pass_loss(void *ctx, nas_graph *g, const void *batch,
                                     enum nas__darts_pass pass);

/* One input per intermediate node: node j (1-based) takes the earlier
 * node (0 = s0) whose strongest non-`none` softmax weight is largest, with
 * that op (ties: the lower node, the first op). */
typedef struct nas_darts_rnn_gene {
    int op[NAS_DARTS_RNN_NODES];
    int from[NAS_DARTS_RNN_NODES];
} nas_darts_rnn_gene;

void nas__darts_rnn_derive(const float *alpha, nas_darts_rnn_gene *out);
/* {"recurrent": [["tanh", 0], ...], "concat": [1, ..., 8]}; malloc'd. */
char *nas__darts_rnn_genotype_json(const nas_darts_rnn_gene *g);
/* Genotype(recurrent=[('tanh', 0), ...], concat=range(1, 9)); malloc'd. */
char *nas__darts_rnn_genotype_text(const nas_darts_rnn_gene *g);
/* {"ops": [...], "recurrent": [[p_none, ..., p_identity] x 36]}. */
char *nas__darts_rnn_alpha_json(const float *alpha);

/* ------------------------------------------- derived recurrent cell
 * darts_rnn_net.c: the discrete cell of a darts-rnn genotype, trained by
 * the train kind (NAS_ARCH_DARTS_RNN) as darts-rnn's final training. */

/* darts_cells.c: as nas__darts_genotype_check (inputs of node j + 1 in
 * [0, j], concat 1 to 8 distinct nodes in [1, 8]) and
 * nas__darts_genotype_from_spec_text, for the recurrent cell. */
int nas__darts_rnn_genotype_check(const nas_darts_rnn_genotype *gt);
int nas__darts_rnn_genotype_from_spec_text(const char *spec_text, nas_darts_rnn_genotype *out);
/* Appends "recurrent":[[op, input], ...],"concat":[...] (no braces). */
void nas__darts_rnn_genotype_members(const nas_darts_rnn_genotype *gt, nas_json_buf *b);
/* "tanh/0,relu/1,.../1.2.3.4.5.6.7.8" for spec texts. */
void nas__darts_rnn_genotype_token(const nas_darts_rnn_genotype *gt, char *buf, size_t cap);

typedef struct nas__darts_rnn_fixed {
    nas_darts_rnn_genotype gt;
    int embed, hidden;
    int w0, ws[NAS_DARTS_RNN_NODES]; /* store indices */
} nas__darts_rnn_fixed;

/* Declares "cell.w0" (2H, E+H) and "cell.ws.<j>" (2H, H), U(-0.04, 0.04)
 * as the reference. */
int nas__darts_rnn_fixed_declare(nas_params *p, int embed, int hidden,
                                 const nas_darts_rnn_genotype *gt, nas__darts_rnn_fixed *out);
/* One step: x (B, E), h (B, H) -> h' (B, H). */
nas_tensor *nas__darts_rnn_fixed_step(nas_graph *g, nas_params *p, const nas__darts_rnn_fixed *n,
                                      nas_tensor *x, nas_tensor *h);

#endif
