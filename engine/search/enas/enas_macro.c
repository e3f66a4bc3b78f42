// SPDX-License-Identifier: MIT
/*
 * enas_macro.c - the ENAS macro search space (Pham et al. 2018; the
 * reference is melodyguan/enas src/cifar10/general_child.py in search
 * mode with whole channels, i.e. _enas_layer, and general_controller.py),
 * behind the nas_enas_space interface of enas.h.
 *
 * The network: a stem (3x3 conv to C + BN, no ReLU), then L layers (cfg
 * layers, default 12) of C channels each. Layer l applies one of six
 * branches to the output of layer l-1 (the stem for layer 0); the op ids
 * are the reference's: 0 conv_3x3, 1 sep_conv_3x3, 2 conv_5x5,
 * 3 sep_conv_5x5, 4 avg_pool_3x3, 5 max_pool_3x3. Every branch starts with
 * a 1x1 conv-BN-ReLU; a conv branch then applies its k x k conv (or the
 * depthwise k x k and pointwise 1x1 of a separable one), BN and ReLU; a
 * pool branch its 3x3 pooling (stride 1; average without the padding).
 * A layer l > 0 then adds its skip connections to the branch output and
 * applies BN. Skip bit i of layer l (i < l) selects the reference's
 * prev_layers[i]: the stem for i = 0, the output of layer i-1 otherwise,
 * so the layer's own input (layer l-1) is never a skip and the stem can
 * be. In the result JSON the skips are therefore layer indices i-1, with
 * -1 for the stem. After the layers at the reference's pool_layers (L/3-1
 * and 2L/3-1, 0-based) every earlier output, the stem included, passes
 * through its own factorized reduction (two stride-2 1x1 convs to C/2 on
 * the even and the shifted pixel grid, concatenated, BN; no ReLU): the
 * map halves and, as in the reference's search mode, the channels stay C.
 * Only the outputs that a later layer still reads are reduced. Then
 * global average pooling, dropout and a linear layer without bias.
 *
 * Controller program, per layer, as general_controller.py: CHOICE of 6
 * ops (head 0), then one LSTM step that for l > 0 draws the skips over
 * the l anchors of the earlier layers and becomes the layer's anchor
 * (SKIPS | PUSH; the next layer starts from the skip-weighted anchors),
 * and for layer 0 is a plain ANCHOR (the next layer starts from g_emb).
 * The skips are drawn from softmax([-l, l]) (cfg skip_softmax), i.e.
 * P(skip) = sigmoid(2 l), and the KL penalty is averaged over the layers.
 * The arc is the reference's fixed-arc layout: per layer the op id
 * followed by l skip bits.
 *
 * The one design decision to know: every (layer, op) has its own weights
 * ("macro.layer.3.sep_conv_5x5.dw", "...inp.w", ...), every reduction
 * its own per (pool, source) ("macro.pool.0.from.2.path1.w"), and the
 * forward builds only the sampled branch of each layer and the reductions
 * still read, so backward reaches exactly the child's weights. BN is
 * affine (gamma 1, beta 0) with running statistics in NAS_GROUP_STATE
 * (momentum 0.1, eps 1e-5 as the reference's batch_norm's decay 0.9 and
 * epsilon; 1e-3 is only its batch_norm_with_mask's, for search_whole_channels
 * false, which the macro scripts do not use);
 * training mode normalises with the batch statistics and folds them into
 * the running ones only when update_stats is set, eval mode reads them.
 * Weights are initialised He-normal like the reference's create_weight.
 */
#include "search/enas/enas.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

enum { OP_CONV3, OP_SEP3, OP_CONV5, OP_SEP5, OP_AVG, OP_MAX, NOPS };

const char *const nas__enas_macro_op_names[NOPS] = {
    "conv_3x3", "sep_conv_3x3", "conv_5x5", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3",
};
_Static_assert(sizeof(nas__enas_macro_op_names) / sizeof(nas__enas_macro_op_names[0]) == NOPS,
               "one name per macro op");

#define BN_MOMENTUM 0.1f
#define BN_EPS NAS_ENAS_MACRO_BN_EPS
#define MAX_LAYERS 64

/* Parameter indices of one BN: gamma, beta (weights), mean, var (state). */
typedef struct bnp {
    int gamma, beta, mean, var;
} bnp;

/* One branch of one layer; -1 where the op has no such tensor. */
typedef struct opw {
    int inp; /* 1x1 conv (C, C, 1, 1) */
    bnp inp_bn;
    int w;      /* conv (C, C, k, k) */
    int dw, pw; /* separable: (C, 1, k, k), (C, C, 1, 1) */
    bnp bn;     /* after the conv (not for pools) */
} opw;

/* One factorized reduction. */
typedef struct frw {
    int path1, path2; /* (C/2, C, 1, 1) each */
    bnp bn;
} frw;

typedef struct macro {
    nas_enas_cfg cfg;
    int L, pool[2]; /* pool layers (-1: none) */
    int stem;
    bnp stem_bn;
    opw *ops;      /* [L][NOPS] */
    bnp *layer_bn; /* [L], layer 0 unused */
    frw *fr;       /* [2][L + 1] */
    int fc;
    nas_ctrl_step *prog;
    int nprog;
} macro;

/* ------------------------------------------------------------ declaring */

typedef struct decl {
    nas_params *p;
    int rc;
} decl;

static int add(decl *d, int group, enum nas_init init, float scale, int ndim, const int *shape,
               const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static int add(decl *d, int group, enum nas_init init, float scale, int ndim, const int *shape,
               const char *fmt, ...)
{
    if (d->rc < 0)
        return -1;
    char name[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    int i = nas_params_add(d->p, name, group, init, scale, ndim, shape);
    if (i < 0)
        d->rc = i;
    return i;
}

/* A conv weight (co, ci, k, k), He normal: std sqrt(2 / (ci k k)). */
static int add_conv(decl *d, int co, int ci, int k, const char *name)
{
    int shape[4] = {co, ci, k, k};
    return add(d, NAS_GROUP_WEIGHTS, NAS_INIT_NORMAL, sqrtf(2.0f / (float)(ci * k * k)), 4, shape,
               "%s", name);
}

static bnp add_bn(decl *d, int c, const char *prefix)
{
    bnp b;
    b.gamma = add(d, NAS_GROUP_WEIGHTS, NAS_INIT_ONE, 0, 1, &c, "%s.gamma", prefix);
    b.beta = add(d, NAS_GROUP_WEIGHTS, NAS_INIT_ZERO, 0, 1, &c, "%s.beta", prefix);
    b.mean = add(d, NAS_GROUP_STATE, NAS_INIT_ZERO, 0, 1, &c, "%s.mean", prefix);
    b.var = add(d, NAS_GROUP_STATE, NAS_INIT_ONE, 0, 1, &c, "%s.var", prefix);
    return b;
}

static const bnp no_bn = {-1, -1, -1, -1};

static void macro_free(void *self)
{
    macro *m = self;
    if (!m)
        return;
    free(m->ops);
    free(m->layer_bn);
    free(m->fr);
    free(m->prog);
    free(m);
}

/* Which reduction (0, 1) follows layer l, or -1. */
static int pool_after(const macro *m, int l)
{
    return l == m->pool[0] ? 0 : l == m->pool[1] ? 1 : -1;
}

static void build_program(macro *m)
{
    int k = 0;
    for (int l = 0; l < m->L; l++) {
        m->prog[k++] = (nas_ctrl_step){.kind = NAS_CTRL_CHOICE, .head = 0, .n = NOPS};
        if (l > 0)
            m->prog[k++] = (nas_ctrl_step){.kind = NAS_CTRL_SKIPS | NAS_CTRL_PUSH, .n = l};
        else
            m->prog[k++] = (nas_ctrl_step){.kind = NAS_CTRL_ANCHOR};
    }
    m->nprog = k;
}

static int declare_weights(macro *m, decl *d)
{
    int L = m->L, C = m->cfg.C;
    char name[160];
    m->stem = add_conv(d, C, m->cfg.in_c, 3, "macro.stem.w");
    m->stem_bn = add_bn(d, C, "macro.stem.bn");
    for (int l = 0; l < L; l++) {
        for (int o = 0; o < NOPS; o++) {
            opw *op = &m->ops[l * NOPS + o];
            const char *nm = nas__enas_macro_op_names[o];
            int k = o == OP_CONV3 || o == OP_SEP3 ? 3 : 5;
            op->w = op->dw = op->pw = -1;
            op->bn = no_bn;
            snprintf(name, sizeof(name), "macro.layer.%d.%s.inp.w", l, nm);
            op->inp = add_conv(d, C, C, 1, name);
            snprintf(name, sizeof(name), "macro.layer.%d.%s.inp.bn", l, nm);
            op->inp_bn = add_bn(d, C, name);
            if (o == OP_CONV3 || o == OP_CONV5) {
                snprintf(name, sizeof(name), "macro.layer.%d.%s.w", l, nm);
                op->w = add_conv(d, C, C, k, name);
            } else if (o == OP_SEP3 || o == OP_SEP5) {
                snprintf(name, sizeof(name), "macro.layer.%d.%s.dw", l, nm);
                op->dw = add_conv(d, C, 1, k, name);
                snprintf(name, sizeof(name), "macro.layer.%d.%s.pw", l, nm);
                op->pw = add_conv(d, C, C, 1, name);
            }
            if (o <= OP_SEP5) {
                snprintf(name, sizeof(name), "macro.layer.%d.%s.bn", l, nm);
                op->bn = add_bn(d, C, name);
            }
        }
        m->layer_bn[l] = no_bn;
        if (l > 0) {
            snprintf(name, sizeof(name), "macro.layer.%d.bn", l);
            m->layer_bn[l] = add_bn(d, C, name);
        }
    }
    for (int q = 0; q < 2; q++)
        for (int i = 0; i <= L; i++) {
            frw *f = &m->fr[q * (L + 1) + i];
            f->path1 = f->path2 = -1;
            f->bn = no_bn;
            /* Sources 0..pool+1 exist at that reduction. */
            if (m->pool[q] < 0 || i > m->pool[q] + 1)
                continue;
            snprintf(name, sizeof(name), "macro.pool.%d.from.%d.path1.w", q, i);
            f->path1 = add_conv(d, C / 2, C, 1, name);
            snprintf(name, sizeof(name), "macro.pool.%d.from.%d.path2.w", q, i);
            f->path2 = add_conv(d, C / 2, C, 1, name);
            snprintf(name, sizeof(name), "macro.pool.%d.from.%d.bn", q, i);
            f->bn = add_bn(d, C, name);
        }
    int fc[2] = {m->cfg.classes, C};
    m->fc = add(d, NAS_GROUP_WEIGHTS, NAS_INIT_NORMAL, sqrtf(2.0f / (float)C), 2, fc, "macro.fc.w");
    return d->rc;
}

static int macro_declare(nas_params *p, const nas_enas_cfg *cfg, void **self)
{
    *self = NULL;
    int L = cfg->layers, C = cfg->C, rc;
    if (L < 1 || L > MAX_LAYERS)
        return nas_fail(NAS_EINVAL, "layers: %d is outside [1, %d]", L, MAX_LAYERS);
    if (C < 2 || C > 1024 || C % 2)
        return nas_fail(NAS_EINVAL,
                        "C: %d must be even and in [2, 1024] (a "
                        "factorized reduction splits it in halves)",
                        C);
    if (cfg->in_c < 1 || cfg->classes < 2 || cfg->h < 1 || cfg->w < 1)
        return nas_fail(NAS_EINVAL, "dataset: %d channels of %dx%d, %d classes", cfg->in_c, cfg->h,
                        cfg->w, cfg->classes);
    if (!(cfg->dropout >= 0.0f && cfg->dropout < 1.0f))
        return nas_fail(NAS_EINVAL, "dropout: %g is outside [0, 1)", (double)cfg->dropout);
    macro *m = calloc(1, sizeof(*m));
    if (!m)
        return nas_fail(NAS_ENOMEM, "enas-macro: out of memory");
    m->cfg = *cfg;
    m->L = L;
    m->pool[0] = L / 3 - 1;
    m->pool[1] = 2 * (L / 3) - 1;
    int h = cfg->h, w = cfg->w;
    for (int l = 0; l < L; l++) {
        if (pool_after(m, l) < 0)
            continue;
        if (h % 2 || w % 2) {
            rc = nas_fail(NAS_EINVAL,
                          "layers: the reduction after layer %d "
                          "halves a %dx%d map; it needs even sizes",
                          l, h, w);
            goto fail;
        }
        h /= 2;
        w /= 2;
    }
    m->ops = malloc((size_t)L * NOPS * sizeof(*m->ops));
    m->layer_bn = malloc((size_t)L * sizeof(*m->layer_bn));
    m->fr = malloc((size_t)2 * (L + 1) * sizeof(*m->fr));
    m->prog = malloc((size_t)3 * L * sizeof(*m->prog));
    if (!m->ops || !m->layer_bn || !m->fr || !m->prog) {
        rc = nas_fail(NAS_ENOMEM, "enas-macro: out of memory");
        goto fail;
    }
    decl d = {p, 0};
    if ((rc = declare_weights(m, &d)) < 0)
        goto fail;
    build_program(m);
    *self = m;
    return NAS_OK;
fail:
    macro_free(m);
    return rc;
}

static const nas_ctrl_step *macro_program(void *self, int *nsteps, nas_ctrl_cfg *ctrl)
{
    macro *m = self;
    *nsteps = m->nprog;
    ctrl->nheads = 1;
    ctrl->head_size[0] = NOPS;
    ctrl->skip_softmax = 1;
    return m->prog;
}

/* ------------------------------------------------------------ the arc */

/* Layer l's op and skip bits within the arc (layout: per layer the op,
 * then l bits). */
static int layer_at(int l)
{
    return l * (l + 1) / 2; /* sum over earlier layers j of 1 + j */
}

/* Whether source i (0: stem, i: output of layer i-1) is read after layer
 * l: as the input of layer l+1 or as a skip of a later layer. */
static int read_after(const macro *m, const int *arc, int l, int i)
{
    if (i == l + 1)
        return 1;
    for (int j = l + 1; j < m->L; j++)
        if (i < j && arc[layer_at(j) + 1 + i])
            return 1;
    return 0;
}

/* ------------------------------------------------------------ forward */

typedef struct fwd {
    nas_graph *g;
    nas_params *p;
    int update;
} fwd;

#define P(i) nas_params_get(f->p, (i))

static nas_tensor *bn(const fwd *f, nas_tensor *x, const bnp *b)
{
    int pass = f->update || !nas_graph_training(f->g);
    return nas_batchnorm(f->g, x, P(b->gamma), P(b->beta), pass ? P(b->mean) : NULL,
                         pass ? P(b->var) : NULL, BN_MOMENTUM, BN_EPS);
}

static nas_tensor *branch(const fwd *f, const opw *op, int o, nas_tensor *x)
{
    nas_graph *g = f->g;
    int C = x->shape[1];
    x = nas_relu(g, bn(f, nas_conv2d(g, x, P(op->inp), NULL, 1, 0, 1, 1), &op->inp_bn));
    switch (o) {
    case OP_CONV3:
    case OP_CONV5: {
        int k = o == OP_CONV3 ? 3 : 5;
        x = nas_conv2d(g, x, P(op->w), NULL, 1, k / 2, 1, 1);
        return nas_relu(g, bn(f, x, &op->bn));
    }
    case OP_SEP3:
    case OP_SEP5: {
        int k = o == OP_SEP3 ? 3 : 5;
        x = nas_conv2d(g, x, P(op->dw), NULL, 1, k / 2, 1, C);
        x = nas_conv2d(g, x, P(op->pw), NULL, 1, 0, 1, 1);
        return nas_relu(g, bn(f, x, &op->bn));
    }
    case OP_AVG: return nas_avgpool2d(g, x, 3, 1, 1);
    default: return nas_maxpool2d(g, x, 3, 1, 1);
    }
}

static nas_tensor *reduce(const fwd *f, const frw *r, nas_tensor *x)
{
    nas_graph *g = f->g;
    nas_tensor *h[2] = {
        nas_conv2d(g, x, P(r->path1), NULL, 2, 0, 1, 1),
        nas_conv2d(g, nas_shift(g, x, 1, 1), P(r->path2), NULL, 2, 0, 1, 1),
    };
    return bn(f, nas_concat(g, h, 2), &r->bn);
}

static nas_tensor *macro_forward(void *self, nas_graph *g, nas_params *p, const int *arc,
                                 nas_tensor *x, int update_stats)
{
    macro *m = self;
    const fwd fw = {g, p, update_stats}, *f = &fw;
    NAS_ASSERT(x->ndim == 4 && x->shape[1] == m->cfg.in_c && x->shape[2] == m->cfg.h &&
               x->shape[3] == m->cfg.w && "enas-macro: input (N, in_c, h, w)");
    int L = m->L;
    /* src[0]: the stem, src[i]: the output of layer i-1 (NULL once no
     * later layer reads it). */
    nas_tensor *src[MAX_LAYERS + 1], *terms[MAX_LAYERS + 1];
    src[0] = bn(f, nas_conv2d(g, x, P(m->stem), NULL, 1, 1, 1, 1), &m->stem_bn);
    for (int l = 0; l < L; l++) {
        const int *a = arc + layer_at(l);
        NAS_ASSERT(a[0] >= 0 && a[0] < NOPS && "enas-macro: op id");
        nas_tensor *out = branch(f, &m->ops[l * NOPS + a[0]], a[0], src[l]);
        if (l > 0) {
            int n = 0;
            for (int i = 0; i < l; i++) {
                NAS_ASSERT((a[1 + i] == 0 || a[1 + i] == 1) && "enas-macro: skip bit");
                if (a[1 + i]) {
                    NAS_ASSERT(src[i] && "enas-macro: a skip reads a dropped source");
                    terms[n++] = src[i];
                }
            }
            terms[n++] = out;
            out = bn(f, n > 1 ? nas_sum_n(g, terms, n) : out, &m->layer_bn[l]);
        }
        src[l + 1] = out;
        int q = pool_after(m, l);
        if (q >= 0)
            for (int i = 0; i <= l + 1; i++)
                src[i] = src[i] && read_after(m, arc, l, i)
                             ? reduce(f, &m->fr[q * (L + 1) + i], src[i])
                             : NULL;
    }
    nas_tensor *h = nas_global_avgpool(g, src[L]);
    h = nas_dropout(g, h, m->cfg.dropout);
    return nas_linear(g, h, P(m->fc), NULL);
}

/* ------------------------------------------------------------ reporting */

static void macro_arc_json(void *self, const int *arc, nas_json_buf *b)
{
    macro *m = self;
    nas__json_buf_puts(b, "{\"layers\": [");
    for (int l = 0; l < m->L; l++) {
        const int *a = arc + layer_at(l);
        nas__json_buf_puts(b, l ? ", {\"op\": " : "{\"op\": ");
        nas__json_buf_str(b, nas__enas_macro_op_names[a[0]], "");
        nas__json_buf_puts(b, ", \"skips\": [");
        int first = 1;
        for (int i = 0; i < l; i++) {
            if (!a[1 + i])
                continue;
            char num[16];
            snprintf(num, sizeof(num), "%s%d", first ? "" : ", ", i - 1);
            nas__json_buf_puts(b, num);
            first = 0;
        }
        nas__json_buf_puts(b, "]}");
    }
    nas__json_buf_puts(b, "]}");
}

static void macro_arc_string(void *self, const int *arc, nas_json_buf *b)
{
    macro *m = self;
    int n = layer_at(m->L);
    for (int i = 0; i < n; i++) {
        if (i)
            nas__json_buf_puts(b, " ");
        nas__json_buf_u64(b, (uint64_t)arc[i]);
    }
}

static size_t numel_of(nas_params *p, int i)
{
    return i < 0 ? 0 : nas_tensor_numel(nas_params_get(p, i));
}

static size_t bn_params(nas_params *p, const bnp *b)
{
    return numel_of(p, b->gamma) + numel_of(p, b->beta);
}

static size_t macro_arc_params(void *self, nas_params *p, const int *arc)
{
    macro *m = self;
    int L = m->L;
    size_t n = numel_of(p, m->stem) + bn_params(p, &m->stem_bn) + numel_of(p, m->fc);
    for (int l = 0; l < L; l++) {
        const opw *op = &m->ops[l * NOPS + arc[layer_at(l)]];
        n += numel_of(p, op->inp) + bn_params(p, &op->inp_bn) + numel_of(p, op->w) +
             numel_of(p, op->dw) + numel_of(p, op->pw) + bn_params(p, &op->bn) +
             bn_params(p, &m->layer_bn[l]);
        int q = pool_after(m, l);
        if (q < 0)
            continue;
        /* The reductions the forward makes: the sources still read (a
         * source read after the second reduction was also read after the
         * first, so it was kept there). */
        for (int i = 0; i <= l + 1; i++) {
            if (read_after(m, arc, l, i)) {
                const frw *r = &m->fr[q * (L + 1) + i];
                n += numel_of(p, r->path1) + numel_of(p, r->path2) + bn_params(p, &r->bn);
            }
        }
    }
    return n;
}

const nas_enas_space nas__enas_macro = {
    .name = "enas-macro",
    .declare = macro_declare,
    .free = macro_free,
    .program = macro_program,
    .forward = macro_forward,
    .arc_json = macro_arc_json,
    .arc_string = macro_arc_string,
    .arc_params = macro_arc_params,
};
