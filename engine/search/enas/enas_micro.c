/*
 * enas_micro.c - the ENAS micro search space (Pham et al. 2018; the
 * reference is melodyguan/enas src/cifar10/micro_child.py in search mode,
 * i.e. _enas_layer), behind the nas_enas_space interface of enas.h.
 *
 * The network: a stem (3x3 conv to 3C + BN), then layers + 2 cells; the
 * cells at layers/3 and 2 (layers/3) + 1 are reduction cells (the
 * reference's pool_layers: `layers` counts the normal cells, so layers 6
 * gives 8 cells), each preceded by a factorized reduction of the last
 * output that doubles the channels. A cell first calibrates its two inputs
 * to its width and size (ReLU-FR when the older input is larger, ReLU-1x1
 * conv-BN when its channels differ), then node j (B of them) sums op_x
 * (input_x) and op_y (input_y), the inputs among the two cell inputs and
 * the earlier nodes, the ops among sep_conv_3x3, sep_conv_5x5,
 * avg_pool_3x3, max_pool_3x3, identity (the reference's op ids 0..4).
 * Every op runs at stride 1: the reduction happened before the cell, as in
 * the reference's search mode. The cell output is ReLU, a 1x1 conv of the
 * loose ends (the cell inputs and nodes no node uses; one C x C slice of
 * the conv per possible loose end) and BN. Then ReLU, global average
 * pooling, dropout and a linear layer without bias.
 *
 * Sharing is the reference's: a separable conv (two ReLU-depthwise-
 * pointwise-BN stacks) has its own weights per (cell, node, slot x/y,
 * input index, op), e.g. "micro.cell.3.node.2.x.in1.sep_conv_3x3.0.dw";
 * the pools and identity have none. As in the reference, every BN of the
 * search uses the batch statistics (in eval mode too: its search-mode
 * model forces is_training), so the space has no running statistics,
 * update_stats has nothing to update, and the reward of a child is
 * measured like the reference's valid_shuffle_acc. The reference's drop
 * path acts only in its fixed-architecture network (_fixed_layer), so the
 * search does not apply drop_path; nor the auxiliary head (not built).
 *
 * The one design decision to know: memory. A child step at C=20, batch
 * 64, 32x32 would keep ~100 feature maps per cell on the tape. Instead the
 * stem, every calibration, every node and every cell output is one tape
 * node that keeps only its inputs and output ("chunk" below): forward runs
 * its ops on a scratch graph without a tape; backward runs them again on
 * the scratch graph with a tape, one part (one branch of a node) at a
 * time, and walks that small tape with the output gradient as seed
 * (weight gradients land in the store, input gradients in the inputs'
 * buffers). The arena then holds ~8 maps per cell and their gradients,
 * plus one branch's intermediates, for the price of a second forward.
 * The gradients of what lives inside one cell (its calibrated inputs and
 * its nodes) come from one pool instead of the arena, each buffer the
 * size of the largest level's map: a cell's backward runs in one piece,
 * so all cells, whatever their level, can take turns with the same
 * buffers (the cell's output chunk, the first of the cell to run
 * backward, clears them). So one space runs one tape at a
 * time: a forward with a tape must be followed by its backward (or a
 * graph reset) before the next forward with a tape.
 */
#include "search/enas/enas_micro.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

enum { OP_SEP3, OP_SEP5, OP_AVG, OP_MAX, OP_ID, NOPS };

static const char *const op_names[NOPS] = {
    "sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3",
    "identity",
};

#define MAX_NODES 16
#define BN_EPS 1e-5f

/* Parameter indices; beta is always gamma + 1. */
typedef struct sep_w {
    int dw[2], pw[2], gamma[2];
} sep_w;

/* A calibration or a factorized reduction. kind: CAL_NONE, CAL_CONV
 * (ReLU, 1x1 conv, BN) or CAL_FR (optional ReLU, two stride-2 1x1 convs
 * on the even and the shifted grid, concatenated, BN). */
enum { CAL_NONE, CAL_CONV, CAL_FR };
typedef struct cal {
    int kind, relu;
    int w[2], gamma;
} cal;

typedef struct layer {
    int reduce, c, hw;      /* width and map side of the cell */
    int level;              /* reductions up to this cell: 0, 1, 2 */
    cal pre;                /* reduce: FR of the last output before it */
    cal cal_x, cal_y;
    sep_w *sep;             /* [node][slot][input (B+1)][op 2] */
    int final_w[MAX_NODES + 2];   /* (c, c, 1, 1) per possible loose end */
    int final_gamma;
} layer;

typedef struct micro {
    nas_enas_cfg cfg;
    int ncells;             /* layers + 2 */
    int pool[2];
    layer *cells;
    int stem_w, stem_gamma, head_w;
    nas_ctrl_step *prog;
    int nprog;
    nas_graph *scratch;
    int direct;             /* no recomputation: every op on the tape */
    /* Gradient buffers of the tensors that live inside one cell (its
     * calibrated inputs and its nodes), one set for all cells, each buffer
     * as big as the largest level's map (gpool_cap floats); gpool_n is a
     * level's map size: see "gradient pool" below. */
    float *gpool[MAX_NODES + 2];
    size_t gpool_cap, gpool_n[3];
} micro;

static sep_w *sep_of(const micro *m, const layer *l, int node, int slot,
                     int in, int op)
{
    int B = m->cfg.nodes;
    return &l->sep[((node * 2 + slot) * (B + 1) + in) * 2 + op];
}

/* ---------------------------------------------------------- declaring */

typedef struct decl {
    nas_params *p;
    int err;
} decl;

static int add(decl *d, enum nas_init init, int ndim, const int *shape,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int add(decl *d, enum nas_init init, int ndim, const int *shape,
               const char *fmt, ...)
{
    char name[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    int i = nas_params_add(d->p, name, NAS_GROUP_WEIGHTS, init, 1.0f, ndim,
                           shape);
    if (i < 0)
        d->err = i;
    return i;
}

static int conv_w(decl *d, int co, int ci, int k, const char *pre,
                  const char *what)
{
    int s[4] = {co, ci, k, k};
    return add(d, NAS_INIT_KAIMING, 4, s, "%s.%s", pre, what);
}

static int bn_w(decl *d, int c, const char *pre)
{
    int g = add(d, NAS_INIT_ONE, 1, &c, "%s.bn.gamma", pre);
    add(d, NAS_INIT_ZERO, 1, &c, "%s.bn.beta", pre);
    return g;
}

static void declare_cal(decl *d, cal *k, int kind, int relu, int ci, int c,
                        const char *pre)
{
    *k = (cal){.kind = kind, .relu = relu, .w = {-1, -1}, .gamma = -1};
    if (kind == CAL_CONV) {
        k->w[0] = conv_w(d, c, ci, 1, pre, "w");
    } else if (kind == CAL_FR) {
        k->w[0] = conv_w(d, c / 2, ci, 1, pre, "w1");
        k->w[1] = conv_w(d, c / 2, ci, 1, pre, "w2");
    }
    if (kind != CAL_NONE)
        k->gamma = bn_w(d, c, pre);
}

static void declare_cell(decl *d, micro *m, layer *l, int li)
{
    int B = m->cfg.nodes, c = l->c;
    char pre[128];
    for (int j = 0; j < B; j++)
        for (int s = 0; s < 2; s++)
            for (int in = 0; in < j + 2; in++)
                for (int op = 0; op < 2; op++) {
                    sep_w *w = sep_of(m, l, j, s, in, op);
                    int k = op == 0 ? 3 : 5;
                    for (int st = 0; st < 2; st++) {
                        snprintf(pre, sizeof(pre),
                                 "micro.cell.%d.node.%d.%c.in%d.%s.%d", li, j,
                                 s ? 'y' : 'x', in, op_names[op], st);
                        w->dw[st] = conv_w(d, c, 1, k, pre, "dw");
                        w->pw[st] = conv_w(d, c, c, 1, pre, "pw");
                        w->gamma[st] = bn_w(d, c, pre);
                    }
                }
    for (int i = 0; i < B + 2; i++) {
        snprintf(pre, sizeof(pre), "micro.cell.%d.final.in%d", li, i);
        l->final_w[i] = conv_w(d, c, c, 1, pre, "w");
    }
    snprintf(pre, sizeof(pre), "micro.cell.%d.final", li);
    l->final_gamma = bn_w(d, c, pre);
}

static void build_program(micro *m)
{
    int B = m->cfg.nodes, k = 0;
    for (int cell = 0; cell < 2; cell++) {
        if (cell)
            m->prog[k++] = (nas_ctrl_step){.kind = NAS_CTRL_RESET};
        m->prog[k++] = (nas_ctrl_step){.kind = NAS_CTRL_ANCHOR};
        m->prog[k++] = (nas_ctrl_step){.kind = NAS_CTRL_ANCHOR};
        for (int j = 0; j < B; j++) {
            for (int s = 0; s < 2; s++)
                m->prog[k++] = (nas_ctrl_step){.kind = NAS_CTRL_PICK,
                                               .n = j + 2};
            for (int s = 0; s < 2; s++)
                m->prog[k++] = (nas_ctrl_step){.kind = NAS_CTRL_CHOICE,
                                               .head = 0, .n = NOPS};
            m->prog[k++] = (nas_ctrl_step){.kind = NAS_CTRL_ANCHOR};
        }
    }
    m->nprog = k;
}

static void micro_free(void *self)
{
    micro *m = self;
    if (!m)
        return;
    if (m->cells)
        for (int i = 0; i < m->ncells; i++)
            free(m->cells[i].sep);
    free(m->cells);
    free(m->prog);
    for (int k = 0; k < MAX_NODES + 2; k++)
        free(m->gpool[k]);
    nas_graph_free(m->scratch);
    free(m);
}

static int check_cfg(const nas_enas_cfg *c)
{
    if (c->C < 1 || c->C > 1024)
        return nas_fail(NAS_EINVAL, "C: %d is outside [1, 1024]", c->C);
    if (c->layers < 1 || c->layers > 64)
        return nas_fail(NAS_EINVAL, "layers: %d is outside [1, 64]",
                        c->layers);
    if (c->nodes < 2 || c->nodes > MAX_NODES)
        return nas_fail(NAS_EINVAL, "nodes: %d is outside [2, %d]", c->nodes,
                        MAX_NODES);
    if (c->in_c < 1 || c->classes < 2 || c->h < 1 || c->w < 1)
        return nas_fail(NAS_EINVAL, "dataset: %d channels, %d classes",
                        c->in_c, c->classes);
    if (c->h != c->w)
        return nas_fail(NAS_EINVAL, "dataset: enas-micro needs square "
                        "images, got %dx%d", c->h, c->w);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return nas_fail(NAS_EINVAL, "dropout: %g must be in [0, 1)",
                        (double)c->dropout);
    if (!(c->drop_path >= 0.0f && c->drop_path < 1.0f))
        return nas_fail(NAS_EINVAL, "drop_path: %g must be in [0, 1)",
                        (double)c->drop_path);
    int hw = c->h, d = c->layers / 3;
    int pool[2] = {d, 2 * d + 1};
    for (int i = 0; i < 2; i++) {
        if (hw % 2)
            return nas_fail(NAS_EINVAL, "layers: cell %d reduces a %dx%d "
                            "map; reductions need even sizes", pool[i], hw,
                            hw);
        hw /= 2;
    }
    return NAS_OK;
}

static int micro_declare(nas_params *p, const nas_enas_cfg *cfg, void **self)
{
    *self = NULL;
    int rc = check_cfg(cfg);
    if (rc < 0)
        return rc;
    micro *m = calloc(1, sizeof(*m));
    if (!m)
        return nas_fail(NAS_ENOMEM, "enas-micro: out of memory");
    m->cfg = *cfg;
    m->ncells = cfg->layers + 2;
    m->pool[0] = cfg->layers / 3;
    m->pool[1] = 2 * (cfg->layers / 3) + 1;
    int B = cfg->nodes;
    m->cells = calloc((size_t)m->ncells, sizeof(*m->cells));
    m->prog = calloc((size_t)(2 * (2 + 5 * B) + 1), sizeof(*m->prog));
    m->scratch = nas_graph_new(0);
    if (!m->cells || !m->prog || !m->scratch)
        goto oom;
    for (int i = 0; i < m->ncells; i++) {
        m->cells[i].sep = calloc((size_t)B * 2 * (B + 1) * 2, sizeof(sep_w));
        if (!m->cells[i].sep)
            goto oom;
    }
    build_program(m);

    decl d = {.p = p};
    int C = cfg->C, c_stem = 3 * C;
    m->stem_w = conv_w(&d, c_stem, cfg->in_c, 3, "micro.stem", "w");
    m->stem_gamma = bn_w(&d, c_stem, "micro.stem");
    /* (channels, side) of the two inputs of the next cell. */
    int c0 = c_stem, c1 = c_stem, h0 = cfg->h, h1 = cfg->h, c = C;
    char pre[96];
    for (int i = 0; i < m->ncells; i++) {
        layer *l = &m->cells[i];
        l->reduce = i == m->pool[0] || i == m->pool[1];
        if (l->reduce) {
            c *= 2;
            snprintf(pre, sizeof(pre), "micro.cell.%d.reduce", i);
            declare_cal(&d, &l->pre, CAL_FR, 0, c1, c, pre);
            c0 = c1;
            h0 = h1;
            c1 = c;
            h1 /= 2;
        }
        l->c = c;
        l->hw = h1;
        l->level = (i >= m->pool[0]) + (i >= m->pool[1]);
        snprintf(pre, sizeof(pre), "micro.cell.%d.cal_x", i);
        declare_cal(&d, &l->cal_x, h0 != h1 ? CAL_FR : c0 != c ? CAL_CONV
                                                               : CAL_NONE,
                    1, c0, c, pre);
        snprintf(pre, sizeof(pre), "micro.cell.%d.cal_y", i);
        declare_cal(&d, &l->cal_y, c1 != c ? CAL_CONV : CAL_NONE, 1, c1, c,
                    pre);
        declare_cell(&d, m, l, i);
        if (l->reduce) {   /* the next inputs: the reduction, this cell */
            c0 = c;
            h0 = h1;
        } else {
            c0 = c1;
            h0 = h1;
        }
        c1 = c;
    }
    int hs[2] = {cfg->classes, c};
    m->head_w = add(&d, NAS_INIT_KAIMING, 2, hs, "micro.head.w");
    if (d.err < 0) {
        rc = d.err;
        goto fail;
    }
    *self = m;
    return NAS_OK;
oom:
    rc = nas_fail(NAS_ENOMEM, "enas-micro: out of memory");
fail:
    micro_free(m);
    return rc;
}

static const nas_ctrl_step *micro_program(void *self, int *nsteps,
                                          nas_ctrl_cfg *ctrl)
{
    micro *m = self;
    *nsteps = m->nprog;
    ctrl->nheads = 1;
    ctrl->head_size[0] = NOPS;
    return m->prog;
}

/* The arc is in program order: per cell, per node (in1, in2, op1, op2). */
static void node_of(const micro *m, const int *arc, int reduce, int j,
                    int in[2], int op[2])
{
    const int *a = arc + (reduce ? 4 * m->cfg.nodes : 0) + 4 * j;
    in[0] = a[0];
    in[1] = a[1];
    op[0] = a[2];
    op[1] = a[3];
    NAS_ASSERT(in[0] >= 0 && in[0] < j + 2 && in[1] >= 0 && in[1] < j + 2 &&
               "enas-micro: node input out of range");
    NAS_ASSERT(op[0] >= 0 && op[0] < NOPS && op[1] >= 0 && op[1] < NOPS &&
               "enas-micro: op out of range");
}

/* used[i] = 1 when node or cell input i feeds some node. */
static int loose_ends(const micro *m, const int *arc, int reduce, int *out)
{
    int B = m->cfg.nodes, used[MAX_NODES + 2] = {0}, n = 0;
    for (int j = 0; j < B; j++) {
        int in[2], op[2];
        node_of(m, arc, reduce, j, in, op);
        used[in[0]] = used[in[1]] = 1;
    }
    for (int i = 0; i < B + 2; i++)
        if (!used[i])
            out[n++] = i;
    return n;
}

/* -------------------------------------------------------- sub-graphs */

#define P(i) nas_params_get(p, (i))

static nas_tensor *bn(nas_graph *g, nas_params *p, nas_tensor *x, int gamma)
{
    return nas_batchnorm(g, x, P(gamma), P(gamma + 1), NULL, NULL, 0.1f,
                         BN_EPS);
}

static nas_tensor *apply_cal(nas_graph *g, nas_params *p, const cal *k,
                             nas_tensor *x)
{
    if (k->relu)
        x = nas_relu(g, x);
    if (k->kind == CAL_CONV)
        return bn(g, p, nas_conv2d(g, x, P(k->w[0]), NULL, 1, 0, 1, 1),
                  k->gamma);
    NAS_ASSERT(k->kind == CAL_FR);
    nas_tensor *h[2] = {
        nas_conv2d(g, x, P(k->w[0]), NULL, 2, 0, 1, 1),
        nas_conv2d(g, nas_shift(g, x, 1, 1), P(k->w[1]), NULL, 2, 0, 1, 1),
    };
    return bn(g, p, nas_concat(g, h, 2), k->gamma);
}

static nas_tensor *apply_op(nas_graph *g, nas_params *p, const sep_w *w,
                            int op, nas_tensor *x)
{
    switch (op) {
    case OP_SEP3:
    case OP_SEP5: {
        int k = op == OP_SEP3 ? 3 : 5, c = x->shape[1];
        for (int st = 0; st < 2; st++) {
            x = nas_conv2d(g, nas_relu(g, x), P(w->dw[st]), NULL, 1, k / 2,
                           1, c);
            x = nas_conv2d(g, x, P(w->pw[st]), NULL, 1, 0, 1, 1);
            x = bn(g, p, x, w->gamma[st]);
        }
        return x;
    }
    case OP_AVG:
        return nas_avgpool2d(g, x, 3, 1, 1);
    case OP_MAX:
        return nas_maxpool2d(g, x, 3, 1, 1);
    default:
        return x;
    }
}

/* What a chunk computes. A chunk is the sum of its parts; each part reads
 * some of the chunk's inputs. */
enum { SUB_STEM, SUB_CAL, SUB_OP, SUB_COMBINE };

typedef struct part {
    int kind;
    const cal *k;           /* SUB_CAL */
    const sep_w *w;         /* SUB_OP (NULL for the parameter-free ops) */
    int op;
    const layer *l;         /* SUB_COMBINE, with the loose-end indices */
    int ends[MAX_NODES + 2];
    int first, n;           /* inputs [first, first + n) of the chunk */
} part;

typedef struct chunk {
    const micro *m;
    nas_params *p;
    part parts[2];
    int nparts;
    float *zero[MAX_NODES + 2];   /* pooled gradients to clear first */
    int nzero;
    size_t zero_n;
} chunk;

static nas_tensor *run_part(const micro *m, nas_graph *g, nas_params *p,
                            const part *pt, nas_tensor **xs)
{
    switch (pt->kind) {
    case SUB_STEM:
        return bn(g, p, nas_conv2d(g, xs[0], P(m->stem_w), NULL, 1, 1, 1, 1),
                  m->stem_gamma);
    case SUB_CAL:
        return apply_cal(g, p, pt->k, xs[0]);
    case SUB_OP:
        return apply_op(g, p, pt->w, pt->op, xs[0]);
    default: {   /* SUB_COMBINE */
        nas_tensor *t[MAX_NODES + 2];
        for (int i = 0; i < pt->n; i++)
            t[i] = nas_conv2d(g, nas_relu(g, xs[i]),
                              P(pt->l->final_w[pt->ends[i]]), NULL, 1, 0, 1,
                              1);
        nas_tensor *s = pt->n > 1 ? nas_sum_n(g, t, pt->n) : t[0];
        return bn(g, p, s, pt->l->final_gamma);
    }
    }
}

#undef P

/* x seen from the scratch graph: same data; gradient and groups given. */
static nas_tensor *view(nas_graph *sg, const nas_tensor *x, uint32_t groups,
                        float *grad)
{
    nas_tensor *t = nas_arena_zalloc(nas_graph_arena(sg), sizeof(*t));
    t->ndim = x->ndim;
    memcpy(t->shape, x->shape, sizeof(t->shape));
    t->data = x->data;
    t->grad = grad;
    t->groups = groups;
    return t;
}

/* A scalar whose backward adds dy into the gradient of its one list
 * input: the seed of a part's scratch tape (its value is never read). */
static void seed_bwd(nas_graph *g, nas_node *nd)
{
    if (nas__want(g, nd->list[0]))
        nas__add_to(nd->list[0]->grad, nd->pa[0],
                    nas_tensor_numel(nd->list[0]));
}

static nas_tensor *seed(nas_graph *g, nas_tensor *y, const float *dy)
{
    nas_tensor **kept;
    int one = 1;
    nas_tensor *s = nas__list_out(g, 1, &one, &y, 1, &kept);
    s->data[0] = 0.0f;
    nas_node *nd = nas__record(g, seed_bwd, s, NULL, 0);
    if (nd) {
        nd->list = kept;
        nd->nlist = 1;
        nd->pa[0] = (void *)dy;
    }
    return s;
}

static void chunk_bwd(nas_graph *g, nas_node *nd)
{
    const chunk *ck = nd->pa[0];
    nas_graph *sg = ck->m->scratch;
    const uint32_t IN = NAS_MASK(NAS_GROUP_INPUT);
    for (int k = 0; k < ck->nzero; k++)
        memset(ck->zero[k], 0, ck->zero_n * sizeof(float));
    uint32_t wmask = g->bwd_mask & NAS_MASK(NAS_GROUP_WEIGHTS);
    for (int q = 0; q < ck->nparts; q++) {
        const part *pt = &ck->parts[q];
        nas_tensor *xs[MAX_NODES + 2];
        int any = 0;
        for (int i = 0; i < pt->n; i++)
            any |= nas__want(g, nd->list[pt->first + i]);
        uint32_t mask = wmask | (any ? IN : 0);
        if (!mask)
            continue;
        nas_graph_reset(sg);
        nas_graph_set_training(sg, 1);
        nas_graph_set_grad(sg, 1);
        for (int i = 0; i < pt->n; i++) {
            nas_tensor *x = nd->list[pt->first + i];
            int want = nas__want(g, x);
            xs[i] = view(sg, x, want ? IN : 0, want ? x->grad : NULL);
        }
        nas_tensor *y = run_part(ck->m, sg, ck->p, pt, xs);
        nas_tensor *loss = seed(sg, y, nd->out->grad);
        nas_graph_backward(sg, loss, mask);
    }
    nas_graph_reset(sg);
}

/* The chunk's output: the sum of its parts, computed on the scratch graph
 * part by part; one tape node on g keeping the inputs xs[0, n). */
static nas_tensor *chunk_run(const micro *m, nas_graph *g, nas_params *p,
                             const part *parts, int nparts, nas_tensor **xs,
                             int n, float *const *zero, int nzero,
                             size_t zero_n)
{
    if (m->direct) {
        nas_tensor *o[2];
        for (int q = 0; q < nparts; q++)
            o[q] = run_part(m, g, p, &parts[q], xs + parts[q].first);
        return nparts == 2 ? nas_add(g, o[0], o[1]) : o[0];
    }
    nas_graph *sg = m->scratch;
    nas_tensor *y = NULL;
    for (int q = 0; q < nparts; q++) {
        const part *pt = &parts[q];
        nas_graph_reset(sg);
        nas_graph_set_training(sg, 1);
        nas_graph_set_grad(sg, 0);
        nas_tensor *v[MAX_NODES + 2];
        for (int i = 0; i < pt->n; i++)
            v[i] = view(sg, xs[pt->first + i], 0, NULL);
        nas_tensor *o = run_part(m, sg, p, pt, v);
        if (!y) {
            nas_tensor **kept;
            y = nas__list_out(g, o->ndim, o->shape, xs, n, &kept);
            if (g->grad_enabled)
                y->groups |= NAS_MASK(NAS_GROUP_WEIGHTS);
            memcpy(y->data, o->data, nas_tensor_numel(o) * sizeof(float));
            nas_node *nd = nas__record(g, chunk_bwd, y, NULL, 0);
            if (nd) {
                chunk *ck = nas_arena_alloc(nas_graph_arena(g), sizeof(*ck));
                *ck = (chunk){.m = m, .p = p, .nparts = nparts,
                              .nzero = nzero, .zero_n = zero_n};
                memcpy(ck->parts, parts, (size_t)nparts * sizeof(*parts));
                if (nzero)
                    memcpy(ck->zero, zero, (size_t)nzero * sizeof(*zero));
                nd->list = kept;
                nd->nlist = n;
                nd->pa[0] = ck;
            }
        } else {
            NAS_ASSERT(nas_tensor_same_shape(o, y));
            nas__add_to(y->data, o->data, nas_tensor_numel(o));
        }
    }
    nas_graph_reset(sg);
    return y;
}

static nas_tensor *one(const micro *m, nas_graph *g, nas_params *p,
                       part pt, nas_tensor *x)
{
    pt.first = 0;
    pt.n = 1;
    return chunk_run(m, g, p, &pt, 1, &x, 1, NULL, 0, 0);
}

/* ------------------------------------------------------------- forward */

static nas_tensor *cell_fwd(const micro *m, nas_graph *g, nas_params *p,
                            const layer *l, const int *arc, nas_tensor *s0,
                            nas_tensor *s1)
{
    int B = m->cfg.nodes;
    nas_tensor *st[MAX_NODES + 2];
    st[0] = l->cal_x.kind == CAL_NONE
                ? s0
                : one(m, g, p, (part){.kind = SUB_CAL, .k = &l->cal_x}, s0);
    st[1] = l->cal_y.kind == CAL_NONE
                ? s1
                : one(m, g, p, (part){.kind = SUB_CAL, .k = &l->cal_y}, s1);
    for (int j = 0; j < B; j++) {
        int in[2], op[2];
        node_of(m, arc, l->reduce, j, in, op);
        part parts[2];
        nas_tensor *xs[2];
        for (int s = 0; s < 2; s++) {
            parts[s] = (part){.kind = SUB_OP, .op = op[s], .first = s, .n = 1,
                              .w = op[s] <= OP_SEP5
                                       ? sep_of(m, l, j, s, in[s], op[s])
                                       : NULL};
            xs[s] = st[in[s]];
        }
        st[j + 2] = chunk_run(m, g, p, parts, 2, xs, 2, NULL, 0, 0);
    }
    /* The gradient pool: the tensors made in this cell and used only
     * here take their gradient buffers from the pool; the cell's
     * output chunk, the first of the cell to run backward, clears them. */
    float *zero[MAX_NODES + 2];
    int nzero = 0;
    size_t zn = 0;
    if (!m->direct && g->grad_enabled && m->gpool_n[l->level]) {
        zn = m->gpool_n[l->level];
        for (int i = 0; i < B + 2; i++) {
            nas_tensor *t = st[i];
            if (t == s0 || t == s1 || !t->groups || t->grad)
                continue;
            NAS_ASSERT(nas_tensor_numel(t) == zn);
            t->grad = zero[nzero++] = m->gpool[i];
        }
    }
    part c = {.kind = SUB_COMBINE, .l = l, .first = 0};
    c.n = loose_ends(m, arc, l->reduce, c.ends);
    nas_tensor *ends[MAX_NODES + 2];
    for (int i = 0; i < c.n; i++)
        ends[i] = st[c.ends[i]];
    return chunk_run(m, g, p, &c, 1, ends, c.n, zero, nzero, zn);
}

/* The gradient pool for batches of n. A cell's backward runs in one piece
 * (its output chunk first, its calibrations last) before the previous
 * cell's begins, whatever their levels, so one set of buffers serves
 * every cell. A failed allocation leaves no pool: the arena then serves
 * as usual. */
static void ensure_pool(micro *m, int n)
{
    size_t cap = 0;
    for (int i = 0; i < m->ncells; i++) {
        const layer *l = &m->cells[i];
        size_t want = (size_t)n * l->c * l->hw * l->hw;
        m->gpool_n[l->level] = want;
        if (want > cap)
            cap = want;
    }
    if (cap == m->gpool_cap)
        return;
    m->gpool_cap = cap;
    for (int k = 0; k < m->cfg.nodes + 2; k++) {
        free(m->gpool[k]);
        m->gpool[k] = malloc(cap * sizeof(float));
        if (!m->gpool[k])
            m->gpool_cap = 0;
    }
    if (!m->gpool_cap)
        memset(m->gpool_n, 0, sizeof(m->gpool_n));
}

static nas_tensor *micro_forward(void *self, nas_graph *g, nas_params *p,
                                 const int *arc, nas_tensor *x,
                                 int update_stats)
{
    (void)update_stats;   /* no running statistics: see the top */
    micro *m = self;
    NAS_ASSERT(x->ndim == 4 && x->shape[1] == m->cfg.in_c &&
               x->shape[2] == m->cfg.h && x->shape[3] == m->cfg.w);
    if (!m->direct && g->grad_enabled)
        ensure_pool(m, x->shape[0]);
    nas_tensor *s = one(m, g, p, (part){.kind = SUB_STEM}, x);
    nas_tensor *s0 = s, *s1 = s;
    for (int i = 0; i < m->ncells; i++) {
        const layer *l = &m->cells[i];
        if (l->reduce) {
            nas_tensor *r = one(m, g, p, (part){.kind = SUB_CAL, .k = &l->pre},
                                s1);
            s0 = s1;
            s1 = r;
        }
        nas_tensor *out = cell_fwd(m, g, p, l, arc, s0, s1);
        s0 = s1;
        s1 = out;
    }
    nas_tensor *h = nas_global_avgpool(g, nas_relu(g, s1));
    if (m->cfg.dropout > 0.0f)
        h = nas_dropout(g, h, m->cfg.dropout);
    return nas_linear(g, h, nas_params_get(p, m->head_w), NULL);
}

void nas__enas_micro_recompute(void *self, int on)
{
    ((micro *)self)->direct = !on;
}

size_t nas__enas_micro_scratch_peak(void *self)
{
    return nas_arena_peak(nas_graph_arena(((micro *)self)->scratch));
}

/* ---------------------------------------------------------- describing */

static void put_int(nas_json_buf *b, int v)
{
    char t[16];
    snprintf(t, sizeof(t), "%d", v);
    nas__json_buf_puts(b, t);
}

static void cell_json(const micro *m, const int *arc, int reduce,
                      nas_json_buf *b)
{
    nas__json_buf_puts(b, reduce ? ",\"reduce\":[" : "\"normal\":[");
    for (int j = 0; j < m->cfg.nodes; j++) {
        int in[2], op[2];
        node_of(m, arc, reduce, j, in, op);
        nas__json_buf_puts(b, j ? ",{\"inputs\":[" : "{\"inputs\":[");
        put_int(b, in[0]);
        nas__json_buf_puts(b, ",");
        put_int(b, in[1]);
        nas__json_buf_puts(b, "],\"ops\":[\"");
        nas__json_buf_puts(b, op_names[op[0]]);
        nas__json_buf_puts(b, "\",\"");
        nas__json_buf_puts(b, op_names[op[1]]);
        nas__json_buf_puts(b, "\"]}");
    }
    nas__json_buf_puts(b, reduce ? "],\"reduce_concat\":["
                                 : "],\"normal_concat\":[");
    int ends[MAX_NODES + 2], n = loose_ends(m, arc, reduce, ends);
    for (int i = 0; i < n; i++) {
        if (i)
            nas__json_buf_puts(b, ",");
        put_int(b, ends[i]);
    }
    nas__json_buf_puts(b, "]");
}

static void micro_arc_json(void *self, const int *arc, nas_json_buf *b)
{
    nas__json_buf_puts(b, "{");
    cell_json(self, arc, 0, b);
    cell_json(self, arc, 1, b);
    nas__json_buf_puts(b, "}");
}

/* The reference's fixed_arc: per node "x_id x_op y_id y_op", the normal
 * cell then the reduction cell, op ids as in the reference. */
static void micro_arc_string(void *self, const int *arc, nas_json_buf *b)
{
    const micro *m = self;
    for (int r = 0; r < 2; r++)
        for (int j = 0; j < m->cfg.nodes; j++) {
            int in[2], op[2];
            node_of(m, arc, r, j, in, op);
            int v[4] = {in[0], op[0], in[1], op[1]};
            for (int k = 0; k < 4; k++) {
                if (r || j || k)
                    nas__json_buf_puts(b, " ");
                put_int(b, v[k]);
            }
        }
}

static size_t numel_of(nas_params *p, int i)
{
    return i < 0 ? 0 : nas_tensor_numel(nas_params_get(p, i));
}

static size_t cal_params(nas_params *p, const cal *k)
{
    if (k->kind == CAL_NONE)
        return 0;
    return numel_of(p, k->w[0]) + numel_of(p, k->w[1]) +
           2 * numel_of(p, k->gamma);
}

static size_t micro_arc_params(void *self, nas_params *p, const int *arc)
{
    const micro *m = self;
    size_t n = numel_of(p, m->stem_w) + 2 * numel_of(p, m->stem_gamma) +
               numel_of(p, m->head_w);
    for (int i = 0; i < m->ncells; i++) {
        const layer *l = &m->cells[i];
        n += cal_params(p, &l->pre) + cal_params(p, &l->cal_x) +
             cal_params(p, &l->cal_y) + 2 * numel_of(p, l->final_gamma);
        for (int j = 0; j < m->cfg.nodes; j++) {
            int in[2], op[2];
            node_of(m, arc, l->reduce, j, in, op);
            for (int s = 0; s < 2; s++) {
                if (op[s] > OP_SEP5)
                    continue;
                const sep_w *w = sep_of(m, l, j, s, in[s], op[s]);
                for (int st = 0; st < 2; st++)
                    n += numel_of(p, w->dw[st]) + numel_of(p, w->pw[st]) +
                         2 * numel_of(p, w->gamma[st]);
            }
        }
        int ends[MAX_NODES + 2], ne = loose_ends(m, arc, l->reduce, ends);
        for (int e = 0; e < ne; e++)
            n += numel_of(p, l->final_w[ends[e]]);
    }
    return n;
}

const nas_enas_space nas__enas_micro = {
    .name = "enas-micro",
    .declare = micro_declare,
    .free = micro_free,
    .program = micro_program,
    .forward = micro_forward,
    .arc_json = micro_arc_json,
    .arc_string = micro_arc_string,
    .arc_params = micro_arc_params,
};
