// SPDX-License-Identifier: MIT
/*
 * darts_cnn.c - the DARTS convolutional supernet: stem (3x3 conv to 3C +
 * BN), `layers` cells with reductions at layers/3 and 2 layers/3, global
 * average pooling and a linear head. A cell preprocesses its two inputs
 * (ReLU-1x1 conv-BN, or a factorized reduction when the previous cell
 * reduced), then node j (4 of them) sums the mixed op of every edge from
 * an earlier node, and the output concatenates the 4 nodes.
 *
 * The one design decision to know: each mixed edge, sum_k softmax(alpha)[k]
 * op_k(x), is one node of the tape that keeps only its input and output
 * and recomputes its ops in backward on a scratch graph (see "mixed
 * edge" below): the arena then holds one edge's intermediates at a time,
 * about 1/10 of the memory for one extra forward of the edges. When
 * memory allows (nas__darts_recompute(n, 0); the job's "recompute"),
 * the edges' ops go on the tape instead, with the same sums in the same
 * order, so both forms give bit-identical results. A node is
 * a nas_sum_n of its incoming edges. `none` is not computed: its output
 * is zero, so it adds nothing to the node and its softmax entry receives
 * a zero gradient either way (alpha still feels it through the softmax's
 * normalisation). The pooling candidates use the fused nas_pool_bn.
 * The op builders (declare_op, apply) also build the discrete network of
 * a genotype (darts_net.c), with affine BNs and plain pools there.
 */
#include "search/darts/darts.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const char *const nas__darts_prim_names[NAS_DARTS_NPRIM] = {
    "none",         "max_pool_3x3", "avg_pool_3x3", "skip_connect",
    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
};

/* Preprocessing kinds, after the primitives (darts.h). */
enum { OP_RCB = NAS__DARTS_OP_RCB, OP_FR = NAS__DARTS_OP_FR };

/* The op builders are shared with the discrete network (darts_net.c). */
typedef nas__darts_op darts_op;

typedef struct darts_cell {
    int reduce, c;
    darts_op pre0, pre1;
    darts_op ops[NAS_DARTS_EDGES][NAS_DARTS_NPRIM];
} darts_cell;

struct nas__darts_net {
    nas_darts_cfg cfg;
    int stem_w, stem_gamma, stem_beta, stem_mean;
    darts_cell *cells;
    int head_w, head_b;
    int alpha[2];
    nas_graph *scratch; /* one mixed edge's ops at a time, see edge_bwd */
    int direct;         /* keep the edges' ops on the tape (no recompute) */
};

/* ---------------------------------------------------------- declaring */

typedef struct decl {
    nas_params *p;
    char prefix[96];
} decl;

static int add(decl *d, int group, enum nas_init init, float scale, int ndim, const int *shape,
               const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static int add(decl *d, int group, enum nas_init init, float scale, int ndim, const int *shape,
               const char *fmt, ...)
{
    char name[160];
    int n = snprintf(name, sizeof(name), "%s", d->prefix);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name + n, sizeof(name) - (size_t)n, fmt, ap);
    va_end(ap);
    return nas_params_add(d->p, name, group, init, scale, ndim, shape);
}

/* A conv weight (co, ci, k, k), PyTorch's default init. */
static int conv_w(decl *d, int co, int ci, int k, const char *name)
{
    int s[4] = {co, ci, k, k};
    return add(d, NAS_GROUP_WEIGHTS, NAS_INIT_KAIMING, 1.0f, 4, s, "%s", name);
}

/* A BN of c channels: gamma and beta (weights, when affine; *gamma gets
 * the gamma's index or -1), then the running mean and variance; returns
 * the mean's index. */
static int bn_stats(decl *d, int c, const char *name, int affine, int *gamma)
{
    *gamma = -1;
    if (affine) {
        int gi = add(d, NAS_GROUP_WEIGHTS, NAS_INIT_ONE, 1.0f, 1, &c, "%s.gamma", name);
        if (gi < 0 || add(d, NAS_GROUP_WEIGHTS, NAS_INIT_ZERO, 1.0f, 1, &c, "%s.beta", name) < 0)
            return NAS_ENOMEM;
        *gamma = gi;
    }
    int m = add(d, NAS_GROUP_STATE, NAS_INIT_ZERO, 1.0f, 1, &c, "%s.running_mean", name);
    if (m < 0)
        return m;
    int v = add(d, NAS_GROUP_STATE, NAS_INIT_ONE, 1.0f, 1, &c, "%s.running_var", name);
    return v < 0 ? v : m;
}

#define TRY(x)                                                                                     \
    do {                                                                                           \
        if ((x) < 0)                                                                               \
            return NAS_ENOMEM;                                                                     \
    } while (0)

/* Declares op `kind` of c channels under d->prefix ("cells.3.edge.5.");
 * c_in differs from c only for the preprocessing ops. */
static int declare_op(decl *d, darts_op *op, int kind, int c_in, int c, int stride, int affine)
{
    *op = (darts_op){.kind = kind,
                     .stride = stride,
                     .affine = affine,
                     .w = {-1, -1, -1, -1},
                     .bn = {-1, -1},
                     .gamma = {-1, -1}};
    if (kind == NAS_DARTS_SKIP_CONNECT && stride > 1)
        kind = OP_FR;
    int *g0 = &op->gamma[0], *g1 = &op->gamma[1];
    switch (kind) {
    case NAS_DARTS_MAX_POOL_3X3:
    case NAS_DARTS_AVG_POOL_3X3:
        if (!affine) /* the evaluation network's pools have no BN */
            TRY(op->bn[0] = bn_stats(d, c, "bn", 0, g0));
        break;
    case NAS_DARTS_SEP_CONV_3X3:
    case NAS_DARTS_SEP_CONV_5X5:
        op->k = kind == NAS_DARTS_SEP_CONV_3X3 ? 3 : 5;
        TRY(op->w[0] = conv_w(d, c, 1, op->k, "dw1.w"));
        TRY(op->w[1] = conv_w(d, c, c, 1, "pw1.w"));
        TRY(op->bn[0] = bn_stats(d, c, "bn1", affine, g0));
        TRY(op->w[2] = conv_w(d, c, 1, op->k, "dw2.w"));
        TRY(op->w[3] = conv_w(d, c, c, 1, "pw2.w"));
        TRY(op->bn[1] = bn_stats(d, c, "bn2", affine, g1));
        break;
    case NAS_DARTS_DIL_CONV_3X3:
    case NAS_DARTS_DIL_CONV_5X5:
        op->k = kind == NAS_DARTS_DIL_CONV_3X3 ? 3 : 5;
        TRY(op->w[0] = conv_w(d, c, 1, op->k, "dw.w"));
        TRY(op->w[1] = conv_w(d, c, c, 1, "pw.w"));
        TRY(op->bn[0] = bn_stats(d, c, "bn", affine, g0));
        break;
    case OP_FR:
        NAS_ASSERT(c % 2 == 0 && "factorized reduce: even channels");
        TRY(op->w[0] = conv_w(d, c / 2, c_in, 1, "conv1.w"));
        TRY(op->w[1] = conv_w(d, c / 2, c_in, 1, "conv2.w"));
        TRY(op->bn[0] = bn_stats(d, c, "bn", affine, g0));
        break;
    case OP_RCB:
        TRY(op->w[0] = conv_w(d, c, c_in, 1, "conv.w"));
        TRY(op->bn[0] = bn_stats(d, c, "bn", affine, g0));
        break;
    default: /* none, identity: no parameters */ break;
    }
    op->kind = kind;
    return NAS_OK;
}

static int declare_cell(decl *d, darts_cell *cell, int i, int c_pp, int c_p, int reduce_prev)
{
    int c = cell->c;
    snprintf(d->prefix, sizeof(d->prefix), "cells.%d.pre0.", i);
    int rc = declare_op(d, &cell->pre0, reduce_prev ? OP_FR : OP_RCB, c_pp, c, 1, 0);
    if (rc < 0)
        return rc;
    snprintf(d->prefix, sizeof(d->prefix), "cells.%d.pre1.", i);
    if ((rc = declare_op(d, &cell->pre1, OP_RCB, c_p, c, 1, 0)) < 0)
        return rc;
    for (int j = 0, e = 0; j < NAS_DARTS_NODES; j++)
        for (int from = 0; from < j + 2; from++, e++) {
            int stride = cell->reduce && from < 2 ? 2 : 1;
            for (int k = 0; k < NAS_DARTS_NPRIM; k++) {
                snprintf(d->prefix, sizeof(d->prefix), "cells.%d.edge.%d.%s.", i, e,
                         nas__darts_prim_names[k]);
                if ((rc = declare_op(d, &cell->ops[e][k], k, c, c, stride, 0)) < 0)
                    return rc;
            }
        }
    return NAS_OK;
}

static int declare_rest(decl *d, nas__darts_net *n)
{
    const nas_darts_cfg *cfg = &n->cfg;
    int c_stem = 3 * cfg->C;
    d->prefix[0] = '\0';
    TRY(n->stem_w = conv_w(d, c_stem, cfg->in_c, 3, "stem.conv.w"));
    TRY(n->stem_gamma = add(d, NAS_GROUP_WEIGHTS, NAS_INIT_ONE, 1.0f, 1, &c_stem, "stem.bn.gamma"));
    TRY(n->stem_beta = add(d, NAS_GROUP_WEIGHTS, NAS_INIT_ZERO, 1.0f, 1, &c_stem, "stem.bn.beta"));
    int no_gamma;
    TRY(n->stem_mean = bn_stats(d, c_stem, "stem.bn", 0, &no_gamma));
    int c_pp = c_stem, c_p = c_stem, c = cfg->C, reduce_prev = 0;
    for (int i = 0; i < cfg->layers; i++) {
        darts_cell *cell = &n->cells[i];
        cell->reduce = i == cfg->layers / 3 || i == 2 * cfg->layers / 3;
        if (cell->reduce)
            c *= 2;
        cell->c = c;
        int rc = declare_cell(d, cell, i, c_pp, c_p, reduce_prev);
        if (rc < 0)
            return rc;
        reduce_prev = cell->reduce;
        c_pp = c_p;
        c_p = NAS_DARTS_NODES * c;
    }
    d->prefix[0] = '\0';
    int hw[2] = {cfg->classes, c_p};
    TRY(n->head_w = add(d, NAS_GROUP_WEIGHTS, NAS_INIT_KAIMING, 1.0f, 2, hw, "head.w"));
    /* nn.Linear's bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
    TRY(n->head_b = add(d, NAS_GROUP_WEIGHTS, NAS_INIT_UNIFORM, 1.0f / sqrtf((float)c_p), 1,
                        &cfg->classes, "head.b"));
    int as[2] = {NAS_DARTS_EDGES, NAS_DARTS_NPRIM};
    TRY(n->alpha[0] = add(d, NAS_GROUP_ARCH, NAS_INIT_NORMAL, 1e-3f, 2, as, "alpha.normal"));
    TRY(n->alpha[1] = add(d, NAS_GROUP_ARCH, NAS_INIT_NORMAL, 1e-3f, 2, as, "alpha.reduce"));
    return NAS_OK;
}

#undef TRY

int nas__darts_op_declare(nas_params *p, const char *prefix, nas__darts_op *op, int kind, int c_in,
                          int c, int stride, int affine)
{
    NAS_ASSERT(kind > NAS_DARTS_NONE && kind <= OP_FR);
    decl d = {.p = p};
    snprintf(d.prefix, sizeof(d.prefix), "%s", prefix);
    return declare_op(&d, op, kind, c_in, c, stride, affine);
}

/* Every reduction halves the map with stride-2 ops and a factorized
 * reduction that must agree on the size: the map must be even there. */
int nas__darts_check_cfg(const nas_darts_cfg *c)
{
    if (c->C < 1 || c->C > 1024)
        return nas_fail(NAS_EINVAL, "C: %d is outside [1, 1024]", c->C);
    if (c->layers < 1 || c->layers > 64)
        return nas_fail(NAS_EINVAL, "layers: %d is outside [1, 64]", c->layers);
    if (c->in_c < 1 || c->classes < 2)
        return nas_fail(NAS_EINVAL, "dataset: %d channels, %d classes", c->in_c, c->classes);
    int h = c->h, w = c->w;
    for (int i = 0; i < c->layers; i++) {
        if (i != c->layers / 3 && i != 2 * c->layers / 3)
            continue;
        if (h % 2 || w % 2 || h < 2 || w < 2)
            return nas_fail(NAS_EINVAL,
                            "layers: cell %d reduces a %dx%d "
                            "map; DARTS reductions need even sizes",
                            i, h, w);
        h /= 2;
        w /= 2;
    }
    return NAS_OK;
}

int nas__darts_declare(nas_params *p, const nas_darts_cfg *cfg, nas__darts_net **out)
{
    *out = NULL;
    int rc = nas__darts_check_cfg(cfg);
    if (rc < 0)
        return rc;
    nas__darts_net *n = calloc(1, sizeof(*n));
    if (!n)
        return nas_fail(NAS_ENOMEM, "darts: out of memory");
    n->cfg = *cfg;
    n->cells = calloc((size_t)cfg->layers, sizeof(*n->cells));
    if (!n->cells) {
        rc = nas_fail(NAS_ENOMEM, "darts: out of memory");
        goto fail;
    }
    n->scratch = nas_graph_new(0);
    if (!n->scratch) {
        rc = nas_fail(NAS_ENOMEM, "darts: out of memory");
        goto fail;
    }
    decl d = {.p = p};
    if ((rc = declare_rest(&d, n)) < 0)
        goto fail;
    *out = n;
    return NAS_OK;

fail:
    nas__darts_net_free(n);
    return rc;
}

void nas__darts_net_free(nas__darts_net *n)
{
    if (!n)
        return;
    nas_graph_free(n->scratch);
    free(n->cells);
    free(n);
}

void nas__darts_recompute(nas__darts_net *n, int on)
{
    n->direct = !on;
}

size_t nas__darts_scratch_peak(nas__darts_net *n)
{
    return nas_arena_peak(nas_graph_arena(n->scratch));
}

int nas__darts_alpha(const nas__darts_net *n, int reduce)
{
    return n->alpha[reduce ? 1 : 0];
}

/* ------------------------------------------------------------- forward */

typedef struct fwd {
    nas_graph *g;
    nas_params *p;
    int update; /* fold batch statistics into the running ones */
    int direct; /* the edges' ops on g's tape (edge_direct) */
} fwd;

#define P(i) nas_params_get(f->p, (i))

/* BN t of op (affine or not). Running statistics are passed (and so
 * updated) in training mode only when asked; eval mode reads them. */
static nas_tensor *bn(const fwd *f, nas_tensor *x, const darts_op *op, int t)
{
    int pass = f->update || !nas_graph_training(f->g);
    int mean = op->bn[t], gamma = op->gamma[t];
    return nas_batchnorm(f->g, x, gamma >= 0 ? P(gamma) : NULL, gamma >= 0 ? P(gamma + 1) : NULL,
                         pass ? P(mean) : NULL, pass ? P(mean + 1) : NULL, 0.1f, 1e-5f);
}

/* Depthwise k x k (stride, dilation dil), pointwise, BN of an input that
 * already went through its ReLU. */
static nas_tensor *dw_pw(const fwd *f, nas_tensor *xr, int dw, int pw, int k, int stride, int dil,
                         const darts_op *op, int t)
{
    nas_graph *g = f->g;
    int c = xr->shape[1];
    nas_tensor *x = nas_conv2d(g, xr, P(dw), NULL, stride, dil * (k - 1) / 2, dil, c);
    x = nas_conv2d(g, x, P(pw), NULL, 1, 0, 1, 1);
    return bn(f, x, op, t);
}

/* op(x); xr is relu(x) when the caller already has it (the four
 * convolution ops of an edge share it), else NULL. */
static nas_tensor *apply(const fwd *f, const darts_op *op, nas_tensor *x, nas_tensor *xr)
{
    nas_graph *g = f->g;
    if (!xr && op->kind != NAS_DARTS_MAX_POOL_3X3 && op->kind != NAS_DARTS_AVG_POOL_3X3 &&
        op->kind != NAS_DARTS_SKIP_CONNECT)
        xr = nas_relu(g, x);
    switch (op->kind) {
    case NAS_DARTS_MAX_POOL_3X3:
    case NAS_DARTS_AVG_POOL_3X3: {
        if (op->affine)
            return op->kind == NAS_DARTS_MAX_POOL_3X3 ? nas_maxpool2d(g, x, 3, op->stride, 1)
                                                      : nas_avgpool2d(g, x, 3, op->stride, 1);
        int pass = f->update || !nas_graph_training(g), m = op->bn[0];
        return nas_pool_bn(g, x, op->kind == NAS_DARTS_MAX_POOL_3X3, op->stride, pass ? P(m) : NULL,
                           pass ? P(m + 1) : NULL, 0.1f, 1e-5f);
    }
    case NAS_DARTS_SKIP_CONNECT: return x;
    case NAS_DARTS_SEP_CONV_3X3:
    case NAS_DARTS_SEP_CONV_5X5:
        x = dw_pw(f, xr, op->w[0], op->w[1], op->k, op->stride, 1, op, 0);
        return dw_pw(f, nas_relu(g, x), op->w[2], op->w[3], op->k, 1, 1, op, 1);
    case NAS_DARTS_DIL_CONV_3X3:
    case NAS_DARTS_DIL_CONV_5X5:
        return dw_pw(f, xr, op->w[0], op->w[1], op->k, op->stride, 2, op, 0);
    case OP_FR: {
        /* Two stride-2 1x1 convs, on the even and (shifted) odd pixel
         * grids, each giving half of the channels. */
        nas_tensor *h[2] = {
            nas_conv2d(g, xr, P(op->w[0]), NULL, 2, 0, 1, 1),
            nas_conv2d(g, nas_shift(g, xr, 1, 1), P(op->w[1]), NULL, 2, 0, 1, 1),
        };
        return bn(f, nas_concat(g, h, 2), op, 0);
    }
    case OP_RCB: x = nas_conv2d(g, xr, P(op->w[0]), NULL, 1, 0, 1, 1); return bn(f, x, op, 0);
    default: NAS_ASSERT(0 && "darts: no op to apply"); return NULL;
    }
}

nas_tensor *nas__darts_op_apply(nas_graph *g, nas_params *p, const nas__darts_op *op, nas_tensor *x,
                                int update_stats)
{
    fwd f = {.g = g, .p = p, .update = update_stats};
    return apply(&f, op, x, NULL);
}

/* ---------------------------------------------------------- mixed edge */

/*
 * A mixed edge, sum_k softmax(alpha)[k] op_k(x), is one node of the tape
 * that keeps nothing but its input and output (activation checkpointing).
 * Its forward runs the seven ops (`none` adds nothing) on the net's
 * scratch graph without a tape and sums them straight into the output;
 * its backward runs them again on the scratch graph, this time recording,
 * seeds each op's output gradient with softmax[k] dy, walks that small
 * tape (weight gradients land in the store, the input gradient in x's
 * buffer) and takes the alpha gradients as the dot products <dy, op_k(x)>.
 * So the arena holds one edge's intermediates at a time instead of all
 * of them (14 edges x ~35 tensors and their gradients per cell), for the
 * price of a second forward of the edge in backward.
 */

typedef struct edge_ctx {
    nas_params *p;
    nas_graph *sg;
    const darts_op *ops; /* the edge's NAS_DARTS_NPRIM ops */
    int widx;            /* index of the edge's row in the softmax */
} edge_ctx;

/* x seen from the scratch graph: same data; gradient and groups as given. */
static nas_tensor *view(nas_graph *sg, const nas_tensor *x, uint32_t groups, float *grad)
{
    nas_tensor *t = nas_arena_zalloc(nas_graph_arena(sg), sizeof(*t));
    t->ndim = x->ndim;
    memcpy(t->shape, x->shape, sizeof(t->shape));
    t->data = x->data;
    t->grad = grad;
    t->groups = groups;
    return t;
}

/* The seven op outputs of an edge on the scratch graph (outs[0] unused). */
static void edge_ops(const edge_ctx *c, nas_tensor *xs, int update, nas_tensor **outs)
{
    fwd sf = {.g = c->sg, .p = c->p, .update = update};
    nas_tensor *xr = nas_relu(c->sg, xs);
    for (int k = 1; k < NAS_DARTS_NPRIM; k++) {
        const darts_op *op = &c->ops[k];
        int conv = op->kind >= NAS_DARTS_SEP_CONV_3X3 && op->kind <= NAS_DARTS_DIL_CONV_5X5;
        outs[k] = apply(&sf, op, xs, conv || op->kind == OP_FR ? xr : NULL);
    }
}

/* list[k]->grad += coef[k] dy for the k < n that backward wants, block by
 * block so a block of dy stays in L1 across the ops. */
static void seed_grads(nas_graph *g, nas_tensor **list, int n, const float *coef, const float *dy)
{
    if (n == 0)
        return;
    size_t numel = nas_tensor_numel(list[0]);
    for (size_t i0 = 0; i0 < numel; i0 += 2048) {
        size_t m = numel - i0 < 2048 ? numel - i0 : 2048;
        for (int k = 0; k < n; k++)
            if (nas__want(g, list[k]))
                nas__axpy(list[k]->grad + i0, dy + i0, coef[k], m);
    }
}

/* A scalar whose backward adds coef[k] dy to the gradient of list[k]: the
 * seed of the scratch tape (its value is never read). */
static void seed_bwd(nas_graph *g, nas_node *nd)
{
    seed_grads(g, nd->list, nd->nlist, nd->pa[0], nd->pa[1]);
}

static nas_tensor *seed(nas_graph *g, nas_tensor **xs, int n, const float *coef, const float *dy)
{
    nas_tensor **kept;
    int one = 1;
    nas_tensor *y = nas__list_out(g, 1, &one, xs, n, &kept);
    y->data[0] = 0.0f;
    nas_node *nd = nas__record(g, seed_bwd, y, NULL, 0);
    if (nd) {
        float *cf = nas_arena_alloc(nas_graph_arena(g), (size_t)n * sizeof(float));
        memcpy(cf, coef, (size_t)n * sizeof(float));
        nd->list = kept;
        nd->nlist = n;
        nd->pa[0] = cf;
        nd->pa[1] = (void *)dy;
    }
    return y;
}

enum { DOT_BLOCK = 1024 };

/* sum over i < n of a[i] b[i], in double over float blocks (an alpha
 * gradient sums a whole feature map). */
static double dot(const float *a, const float *b, size_t n)
{
    double acc = 0.0;
    for (size_t i0 = 0; i0 < n; i0 += DOT_BLOCK) {
        size_t i1 = i0 + DOT_BLOCK < n ? i0 + DOT_BLOCK : n;
        float part = 0.0f;
#pragma omp simd reduction(+ : part)
        for (size_t i = i0; i < i1; i++)
            part += a[i] * b[i];
        acc += part;
    }
    return acc;
}

/* gw[k] += <dy, op_k(x)> for the seven ops (op_k(x) = ops[k - 1]), block
 * by block so the block of dy stays in L1 (the same sums as seven dot()
 * calls). */
static void alpha_grads(float *gw, const nas_tensor *y, nas_tensor *const *ops)
{
    size_t n = nas_tensor_numel(y);
    double acc[NAS_DARTS_NPRIM] = {0};
    for (size_t i0 = 0; i0 < n; i0 += DOT_BLOCK) {
        size_t m = n - i0 < DOT_BLOCK ? n - i0 : DOT_BLOCK;
        for (int k = 1; k < NAS_DARTS_NPRIM; k++)
            acc[k] += dot(y->grad + i0, ops[k - 1]->data + i0, m);
    }
    for (int k = 1; k < NAS_DARTS_NPRIM; k++)
        gw[k] += (float)acc[k];
}

static void edge_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *x = nd->in[0], *w = nd->in[1], *y = nd->out;
    const edge_ctx *c = nd->pa[0];
    const uint32_t IN = NAS_MASK(NAS_GROUP_INPUT);
    int want_x = nas__want(g, x), want_w = nas__want(g, w);
    uint32_t mask = (g->bwd_mask & NAS_MASK(NAS_GROUP_WEIGHTS)) | (want_x ? IN : 0);
    if (!mask && !want_w)
        return;
    nas_graph *sg = c->sg;
    nas_graph_reset(sg);
    nas_graph_set_training(sg, nd->ia[0]);
    nas_graph_set_dist(sg, g->dist); /* its BNs are the group's too */
    nas_graph_set_grad(sg, mask != 0);
    nas_tensor *outs[NAS_DARTS_NPRIM];
    nas_tensor *xs = view(sg, x, want_x ? IN : 0, want_x ? x->grad : NULL);
    edge_ops(c, xs, 0, outs);
    const float *wr = w->data + c->widx;
    if (want_w)
        alpha_grads(w->grad + c->widx, y, outs + 1);
    if (mask) {
        nas_tensor *loss = seed(sg, outs + 1, NAS_DARTS_NPRIM - 1, wr + 1, y->grad);
        nas_graph_backward(sg, loss, mask);
    }
    nas_graph_reset(sg);
}

/* y = sum_k a[k] outs[k] over the seven ops, block by block so a block of
 * y stays in L1 across the seven terms (the same sums, in the same order,
 * as whole-map passes). */
static void mix(nas_tensor *y, nas_tensor *const *outs, const float *a)
{
    size_t n = nas_tensor_numel(y);
    for (int k = 1; k < NAS_DARTS_NPRIM; k++)
        NAS_ASSERT(nas_tensor_same_shape(outs[k], y));
    for (size_t i0 = 0; i0 < n; i0 += 2048) {
        size_t m = n - i0 < 2048 ? n - i0 : 2048;
        float *yb = y->data + i0;
        for (int k = 1; k < NAS_DARTS_NPRIM; k++) {
            const float *o = outs[k]->data + i0;
            if (k == 1)
                for (size_t i = 0; i < m; i++)
                    yb[i] = a[k] * o[i];
            else
                nas__axpy(yb, o, a[k], m);
        }
    }
}

/* The edge without recomputation: its ops on g's tape, then one node
 * whose backward does what edge_bwd does after its recomputation (the
 * alpha gradients, then each op's output gradient seeded with
 * softmax[k] dy); g's walk of the ops' nodes that follows is the scratch
 * tape's walk, node for node, so every sum runs in the same order. */
static void direct_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *w = nd->in[0], *y = nd->out;
    int widx = nd->ia[0];
    if (nas__want(g, w))
        alpha_grads(w->grad + widx, y, nd->list);
    seed_grads(g, nd->list, nd->nlist, w->data + widx + 1, y->grad);
}

static nas_tensor *edge_direct(const fwd *f, const darts_op *ops, nas_tensor *x, nas_tensor *w,
                               int widx)
{
    nas_graph *g = f->g;
    edge_ctx c = {.p = f->p, .sg = g, .ops = ops, .widx = widx};
    nas_tensor *outs[NAS_DARTS_NPRIM], **kept;
    edge_ops(&c, x, f->update, outs);
    nas_tensor *y = nas__list_out(g, 4, outs[1]->shape, outs + 1, NAS_DARTS_NPRIM - 1, &kept);
    y->groups |= w->groups | NAS_MASK(NAS_GROUP_WEIGHTS);
    mix(y, outs, w->data + widx);
    nas_node *nd = nas__record(g, direct_bwd, y, &w, 1);
    if (nd) {
        nd->list = kept;
        nd->nlist = NAS_DARTS_NPRIM - 1;
        nd->ia[0] = widx;
    }
    return y;
}

/* sum_k w[widx + k] op_k(x) over the ops of one edge. */
static nas_tensor *edge_fwd(const fwd *f, nas_graph *sg, const darts_op *ops, nas_tensor *x,
                            nas_tensor *w, int widx)
{
    nas_graph *g = f->g;
    if (f->direct && g->grad_enabled)
        return edge_direct(f, ops, x, w, widx);
    edge_ctx c = {.p = f->p, .sg = sg, .ops = ops, .widx = widx};
    nas_graph_reset(sg);
    nas_graph_set_training(sg, nas_graph_training(g));
    nas_graph_set_dist(sg, g->dist);
    nas_graph_set_grad(sg, 0);
    nas_tensor *outs[NAS_DARTS_NPRIM];
    edge_ops(&c, view(sg, x, 0, NULL), f->update, outs);
    nas_tensor *in[2] = {x, w};
    nas_tensor *y = nas__out(g, 4, outs[1]->shape, in, 2);
    if (g->grad_enabled)
        y->groups |= NAS_MASK(NAS_GROUP_WEIGHTS);
    mix(y, outs, w->data + widx);
    nas_graph_reset(sg);
    nas_node *nd = nas__record(g, edge_bwd, y, in, 2);
    if (nd) {
        edge_ctx *kept = nas_arena_alloc(nas_graph_arena(g), sizeof(*kept));
        *kept = c;
        nd->pa[0] = kept;
        nd->ia[0] = nas_graph_training(g);
    }
    return y;
}

/* w: softmax(alpha) (14, 8) of this kind of cell. */
static nas_tensor *cell_fwd(const fwd *f, nas_graph *sg, const darts_cell *cell, nas_tensor *s0,
                            nas_tensor *s1, nas_tensor *w)
{
    nas_tensor *st[2 + NAS_DARTS_NODES], *terms[NAS_DARTS_NODES + 1];
    st[0] = apply(f, &cell->pre0, s0, NULL);
    st[1] = apply(f, &cell->pre1, s1, NULL);
    for (int j = 0, e = 0; j < NAS_DARTS_NODES; j++) {
        for (int from = 0; from < j + 2; from++, e++)
            terms[from] = edge_fwd(f, sg, cell->ops[e], st[from], w, e * NAS_DARTS_NPRIM);
        st[2 + j] = nas_sum_n(f->g, terms, j + 2);
    }
    return nas_concat(f->g, st + 2, NAS_DARTS_NODES);
}

nas_tensor *nas__darts_forward(nas_graph *g, nas_params *p, const nas__darts_net *n, nas_tensor *x,
                               int update_stats)
{
    fwd ff = {.g = g, .p = p, .update = update_stats, .direct = n->direct}, *f = &ff;
    nas_tensor *w[2] = {nas_softmax(g, P(n->alpha[0])), nas_softmax(g, P(n->alpha[1]))};
    nas_tensor *s = nas_conv2d(g, x, P(n->stem_w), NULL, 1, 1, 1, 1);
    int pass = update_stats || !nas_graph_training(g);
    s = nas_batchnorm(g, s, P(n->stem_gamma), P(n->stem_beta), pass ? P(n->stem_mean) : NULL,
                      pass ? P(n->stem_mean + 1) : NULL, 0.1f, 1e-5f);
    nas_tensor *s0 = s, *s1 = s;
    for (int i = 0; i < n->cfg.layers; i++) {
        const darts_cell *cell = &n->cells[i];
        nas_tensor *out = cell_fwd(f, n->scratch, cell, s0, s1, w[cell->reduce]);
        s0 = s1;
        s1 = out;
    }
    return nas_linear(g, nas_global_avgpool(g, s1), P(n->head_w), P(n->head_b));
}

#undef P
