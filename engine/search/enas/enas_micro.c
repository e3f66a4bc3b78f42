// SPDX-License-Identifier: MIT
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
 * search does not apply drop_path. The auxiliary head is built when the
 * spec's aux_weight is above 0 (cfg->aux), after the cell that follows the
 * last reduction (the reference's aux_head_indices), and gives logits only
 * in training with gradients on; its loss is weighted by aux_weight.
 *
 * The one design decision to know: the space is its layout here and its
 * execution in enas_micro_fwd.c. This file declares the shared weights
 * (one set per cell, node, slot, input and op, as above), writes the
 * controller's program and describes arcs (JSON, the fixed-arc string,
 * the parameters an arc uses); enas_micro_fwd.c runs a child and
 * recomputes its ops in backward to save memory. What both need of the
 * layout is enas_micro_net.h.
 */
#include "search/enas/enas_micro_net.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const char *const nas__enas_micro_op_names[NOPS] = {
    "sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3", "identity",
};

/* ---------------------------------------------------------- declaring */

typedef struct decl {
    nas_params *p;
    int err;
} decl;

static int add(decl *d, enum nas_init init, int ndim, const int *shape, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int add(decl *d, enum nas_init init, int ndim, const int *shape, const char *fmt, ...)
{
    char name[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    int i = nas_params_add(d->p, name, NAS_GROUP_WEIGHTS, init, 1.0f, ndim, shape);
    if (i < 0)
        d->err = i;
    return i;
}

static int conv_w(decl *d, int co, int ci, int k, const char *pre, const char *what)
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

static void declare_cal(decl *d, cal *k, int kind, int relu, int ci, int c, const char *pre)
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
                        snprintf(pre, sizeof(pre), "micro.cell.%d.node.%d.%c.in%d.%s.%d", li, j,
                                 s ? 'y' : 'x', in, nas__enas_micro_op_names[op], st);
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

/* The controller's program, as micro_controller.py samples the two cells:
 * each starts with two LSTM steps whose anchors are the cell inputs (keys
 * from the LSTM, zeros as the next input when picked); per node two
 * PICKs, two op CHOICEs (the normal cell's with the fixed bias
 * b_soft_no_learn), and an ANCHOR; the reduction cell's sampler continues
 * from the normal cell's LSTM state (RESET | KEEP_STATE). */
static void build_program(micro *m)
{
    int B = m->cfg.nodes, k = 0;
    for (int cell = 0; cell < 2; cell++) {
        if (cell)
            m->prog[k++] = (nas_ctrl_step){.kind = NAS_CTRL_RESET | NAS_CTRL_KEEP_STATE};
        for (int s = 0; s < 2; s++)
            m->prog[k++] = (nas_ctrl_step){.kind = NAS_CTRL_ANCHOR | NAS_CTRL_ZERO_VALUE};
        for (int j = 0; j < B; j++) {
            for (int s = 0; s < 2; s++)
                m->prog[k++] = (nas_ctrl_step){.kind = NAS_CTRL_PICK, .n = j + 2};
            for (int s = 0; s < 2; s++)
                m->prog[k++] =
                    (nas_ctrl_step){.kind = NAS_CTRL_CHOICE | (cell ? 0 : NAS_CTRL_FIXED_BIAS),
                                    .head = 0,
                                    .n = NOPS};
            m->prog[k++] = (nas_ctrl_step){.kind = NAS_CTRL_ANCHOR};
        }
    }
    m->nprog = k;
}

/* micro_controller.py's op biases, in our op order (sep_conv_3x3,
 * sep_conv_5x5, avg_pool_3x3, max_pool_3x3, identity, the reference's):
 * b_soft is learned from this start, b_soft_no_learn fixed. */
static const float b_soft[NOPS] = {10.0f, 10.0f, 0.0f, 0.0f, 0.0f};
static const float b_soft_no_learn[NOPS] = {0.25f, 0.25f, -0.25f, -0.25f, -0.25f};

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
        return nas_fail(NAS_EINVAL, "layers: %d is outside [1, 64]", c->layers);
    if (c->nodes < 2 || c->nodes > MAX_NODES)
        return nas_fail(NAS_EINVAL, "nodes: %d is outside [2, %d]", c->nodes, MAX_NODES);
    if (c->in_c < 1 || c->classes < 2 || c->h < 1 || c->w < 1)
        return nas_fail(NAS_EINVAL, "dataset: %d channels, %d classes", c->in_c, c->classes);
    if (c->h != c->w)
        return nas_fail(NAS_EINVAL,
                        "dataset: enas-micro needs square "
                        "images, got %dx%d",
                        c->h, c->w);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return nas_fail(NAS_EINVAL, "dropout: %g must be in [0, 1)", (double)c->dropout);
    if (!(c->drop_path >= 0.0f && c->drop_path < 1.0f))
        return nas_fail(NAS_EINVAL, "drop_path: %g must be in [0, 1)", (double)c->drop_path);
    int hw = c->h, d = c->layers / 3;
    int pool[2] = {d, 2 * d + 1};
    for (int i = 0; i < 2; i++) {
        if (hw % 2)
            return nas_fail(NAS_EINVAL,
                            "layers: cell %d reduces a %dx%d "
                            "map; reductions need even sizes",
                            pool[i], hw, hw);
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
        declare_cal(&d, &l->cal_x,
                    h0 != h1  ? CAL_FR
                    : c0 != c ? CAL_CONV
                              : CAL_NONE,
                    1, c0, c, pre);
        snprintf(pre, sizeof(pre), "micro.cell.%d.cal_y", i);
        declare_cal(&d, &l->cal_y, c1 != c ? CAL_CONV : CAL_NONE, 1, c1, c, pre);
        declare_cell(&d, m, l, i);
        if (l->reduce) { /* the next inputs: the reduction, this cell */
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
    m->aux_cell = -1;
    if (cfg->aux) { /* the reference's aux_head_indices: pool_layers[-1] + 1 */
        m->aux_cell = m->pool[1] + 1;
        const layer *l = &m->cells[m->aux_cell];
        if ((rc = nas_aux_head_declare(p, "aux_head.", l->c, l->hw, cfg->classes, &m->aux)) < 0)
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

static const nas_ctrl_step *micro_program(void *self, int *nsteps, nas_ctrl_cfg *ctrl)
{
    micro *m = self;
    *nsteps = m->nprog;
    ctrl->nheads = 1;
    ctrl->head_size[0] = NOPS;
    ctrl->head_bias[0] = b_soft;
    ctrl->head_fixed_bias[0] = b_soft_no_learn;
    return m->prog;
}

/* ---------------------------------------------------------- describing */

static void put_int(nas_json_buf *b, int v)
{
    char t[16];
    snprintf(t, sizeof(t), "%d", v);
    nas__json_buf_puts(b, t);
}

static void cell_json(const micro *m, const int *arc, int reduce, nas_json_buf *b)
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
        nas__json_buf_puts(b, nas__enas_micro_op_names[op[0]]);
        nas__json_buf_puts(b, "\",\"");
        nas__json_buf_puts(b, nas__enas_micro_op_names[op[1]]);
        nas__json_buf_puts(b, "\"]}");
    }
    nas__json_buf_puts(b, reduce ? "],\"reduce_concat\":[" : "],\"normal_concat\":[");
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
    return numel_of(p, k->w[0]) + numel_of(p, k->w[1]) + 2 * numel_of(p, k->gamma);
}

static size_t micro_arc_params(void *self, nas_params *p, const int *arc)
{
    const micro *m = self;
    size_t n = numel_of(p, m->stem_w) + 2 * numel_of(p, m->stem_gamma) + numel_of(p, m->head_w);
    for (int i = 0; i < m->ncells; i++) {
        const layer *l = &m->cells[i];
        n += cal_params(p, &l->pre) + cal_params(p, &l->cal_x) + cal_params(p, &l->cal_y) +
             2 * numel_of(p, l->final_gamma);
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

static nas_tensor *micro_aux_logits(void *self)
{
    return ((micro *)self)->aux_logits;
}

const nas_enas_space nas__enas_micro = {
    .name = "enas-micro",
    .declare = micro_declare,
    .free = micro_free,
    .program = micro_program,
    .forward = nas__enas_micro_forward,
    .aux_logits = micro_aux_logits,
    .arc_json = micro_arc_json,
    .arc_string = micro_arc_string,
    .arc_params = micro_arc_params,
};
