/*
 * darts.h - DARTS (Liu, Simonyan, Yang 2019) convolutional search, shared
 * by the engine's own files (internal; users see only the jobs section of
 * nas.h): the supernet (darts_cnn.c), the search step of first and second
 * order (darts_search.c) and the derivation of the genotype
 * (darts_genotype.c).
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

/* The candidate operations, in the reference implementation's order
 * (quark0/darts genotypes.py PRIMITIVES): alpha column k is op k. */
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

extern const char *const nas__darts_prim_names[NAS_DARTS_NPRIM];

#define NAS_DARTS_NODES 4    /* intermediate nodes per cell */
#define NAS_DARTS_EDGES 14   /* 2 + 3 + 4 + 5 */

/* ------------------------------------------------------------ supernet */

typedef struct nas_darts_cfg {
    int C;                  /* initial channels (16) */
    int layers;             /* cells (8); reductions at layers/3, 2 layers/3 */
    int in_c, h, w;         /* input images */
    int classes;
} nas_darts_cfg;

typedef struct nas__darts_net nas__darts_net;

/* Declares every parameter of the supernet in p (before nas_params_alloc)
 * and returns the net's layout in *out (owned, nas__darts_net_free).
 * NAS_EINVAL names the field when the config cannot be built (a reduction
 * needs even map sizes). */
int nas__darts_declare(nas_params *p, const nas_darts_cfg *cfg,
                       nas__darts_net **out);
void nas__darts_net_free(nas__darts_net *n);
/* Index in the store of the alpha matrix (14 x 8) of the normal (reduce =
 * 0) or reduction (reduce = 1) cells. */
int nas__darts_alpha(const nas__darts_net *n, int reduce);
/* x (N, in_c, h, w) -> logits (N, classes). update_stats: in training
 * mode, fold this batch into the BN running statistics (only the real
 * weight step does; the architecture step's extra forward passes leave
 * them alone). In eval mode the running statistics are used. */
nas_tensor *nas__darts_forward(nas_graph *g, nas_params *p,
                               const nas__darts_net *n, nas_tensor *x,
                               int update_stats);

/* --------------------------------------------------------- search step */

typedef struct nas_darts_hp {
    int order;              /* 1 or 2 */
    float momentum, weight_decay, grad_clip;   /* weight SGD (0.9, 3e-4, 5) */
    float arch_lr, arch_beta1, arch_beta2;     /* alpha Adam (3e-4, .5, .999) */
    float arch_weight_decay;                   /* 1e-3 */
    float fd_r;             /* H v probes at w +- (fd_r / ||v||) v; 0: the
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
    nas_sgd sgd;            /* lr set per step; steps and moment1 persist */
    nas_adam adam;
    size_t nw, na;          /* floats in the weights / arch groups */
    float *w0, *v, *ga, *gb;   /* scratch: snapshot of w, v (nw); two alpha
                                  gradients (na) */
} nas__darts_search;

/* Statistics of the weight step's training batch. */
typedef struct nas_darts_stats {
    double train_loss;
    int train_correct;
    double val_loss;        /* of the architecture step's validation pass */
} nas_darts_stats;

/* s->p must be allocated; g is the graph every pass runs on (reset
 * between passes). The search keeps pointers to p, g and net. */
int nas__darts_search_init(nas__darts_search *s, nas_params *p, nas_graph *g,
                           const nas__darts_net *net, const nas_darts_cfg *cfg,
                           const nas_darts_hp *hp);
void nas__darts_search_free(nas__darts_search *s);

/* What the second-order gradient is made of, for tests: dalpha =
 * grad_alpha L_val(w', alpha) and hv = the finite-difference H v (na floats
 * each, or NULL). */
typedef struct nas__darts_parts {
    float *dalpha, *hv;
    double val_loss;
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
void nas__darts_step(nas__darts_search *s, const nas_darts_batch *train,
                     const nas_darts_batch *val, float lr,
                     nas_darts_stats *st);

/* ----------------------------------------------------------- genotype */

/* Two (op, input) pairs per intermediate node; inputs count the two cell
 * inputs as 0 and 1, node j as j + 2. */
typedef struct nas_darts_gene {
    int op[NAS_DARTS_NODES][2];
    int from[NAS_DARTS_NODES][2];
} nas_darts_gene;

/* The derivation rule of the paper on one alpha matrix (14 x 8, row-major):
 * per node, the 2 incoming edges whose strongest non-`none` softmax weight
 * is largest (strongest first, ties to the lower input), each with that
 * op. */
void nas__darts_derive(const float *alpha, nas_darts_gene *out);
/* {"normal": [["sep_conv_3x3", 0], ...], "normal_concat": [2,3,4,5],
 * "reduce": [...], "reduce_concat": [2,3,4,5]}; malloc'd text. */
char *nas__darts_genotype_json(const nas_darts_gene *normal,
                               const nas_darts_gene *reduce);
/* The reference's Genotype(normal=[('sep_conv_3x3', 0), ...],
 * normal_concat=range(2, 6), reduce=[...], reduce_concat=range(2, 6));
 * malloc'd text. */
char *nas__darts_genotype_text(const nas_darts_gene *normal,
                               const nas_darts_gene *reduce);
/* {"ops": ["none", ...], "normal": [[p_none, ..., p_dil_conv_5x5] x 14],
 * "reduce": [...]}: the softmax of each alpha row; malloc'd text. */
char *nas__darts_alpha_json(const float *normal, const float *reduce);

#endif
