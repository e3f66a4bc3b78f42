// SPDX-License-Identifier: MIT
/*
 * darts_net.c - the discrete DARTS network built from a genotype, the one
 * the reference trains from scratch after a search (quark0/darts
 * model.py's NetworkCIFAR), from a typed genotype (nas.h; darts_cells.c
 * checks it).
 *
 * The one design decision to know: the network reuses the supernet's op
 * builders (darts_cnn.c) with affine BNs, so an op here is the same code
 * as the candidate the search weighed; only the pools differ, as in the
 * reference (no BN after them outside the search). Two parts of the
 * reference's training are left out and documented as such: drop path
 * (its drop_path_prob, 0.2 there) and the auxiliary head (weight 0.4
 * there). So the parameter count equals the reference's without the
 * auxiliary head: 3,349,342 for DARTS_V2 at C 36, 20 layers, 10 classes.
 */
#include "search/darts/darts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- network */

typedef struct fixed_cell {
    int reduce;
    nas__darts_op pre0, pre1;
    nas__darts_op ops[NAS_DARTS_NODES][2];
} fixed_cell;

struct nas__darts_fixed {
    nas_darts_cfg cfg;
    nas_darts_genotype gt;
    int stem_w, stem_gamma, stem_mean; /* beta, running_var: the next */
    fixed_cell *cells;
    int head_w, head_b;
    int aux_cell; /* the cell whose output feeds the aux head; -1: none */
    nas_aux_head aux;
};

static int add(nas_params *p, const char *name, int group, enum nas_init init, float scale,
               int ndim, int a, int b, int c, int d)
{
    int shape[4] = {a, b, c, d};
    int i = nas_params_add(p, name, group, init, scale, ndim, shape);
    return i < 0 ? nas_fail(NAS_ENOMEM, "darts: out of memory") : i;
}

static int declare_cell(nas_params *p, nas__darts_fixed *n, int i, int c, int c_pp, int c_p,
                        int reduce_prev)
{
    fixed_cell *cell = &n->cells[i];
    const nas_darts_gene *g = cell->reduce ? &n->gt.reduce : &n->gt.normal;
    char prefix[96];
    snprintf(prefix, sizeof(prefix), "cells.%d.pre0.", i);
    int rc = nas__darts_op_declare(
        p, prefix, &cell->pre0, reduce_prev ? NAS__DARTS_OP_FR : NAS__DARTS_OP_RCB, c_pp, c, 1, 1);
    if (rc < 0)
        return rc;
    snprintf(prefix, sizeof(prefix), "cells.%d.pre1.", i);
    if ((rc = nas__darts_op_declare(p, prefix, &cell->pre1, NAS__DARTS_OP_RCB, c_p, c, 1, 1)) < 0)
        return rc;
    for (int j = 0; j < NAS_DARTS_NODES; j++)
        for (int t = 0; t < 2; t++) {
            int stride = cell->reduce && g->from[j][t] < 2 ? 2 : 1;
            snprintf(prefix, sizeof(prefix), "cells.%d.node.%d.in.%d.%s.", i, j, t,
                     nas__darts_prim_names[g->op[j][t]]);
            if ((rc = nas__darts_op_declare(p, prefix, &cell->ops[j][t], g->op[j][t], c, c, stride,
                                            1)) < 0)
                return rc;
        }
    return NAS_OK;
}

static int declare(nas_params *p, nas__darts_fixed *n)
{
    const nas_darts_cfg *cfg = &n->cfg;
    const int W = NAS_GROUP_WEIGHTS, S = NAS_GROUP_STATE;
    int c_stem = 3 * cfg->C;
    if ((n->stem_w = add(p, "stem.conv.w", W, NAS_INIT_KAIMING, 1.0f, 4, c_stem, cfg->in_c, 3, 3)) <
            0 ||
        (n->stem_gamma = add(p, "stem.bn.gamma", W, NAS_INIT_ONE, 1.0f, 1, c_stem, 0, 0, 0)) < 0 ||
        add(p, "stem.bn.beta", W, NAS_INIT_ZERO, 1.0f, 1, c_stem, 0, 0, 0) < 0 ||
        (n->stem_mean =
             add(p, "stem.bn.running_mean", S, NAS_INIT_ZERO, 1.0f, 1, c_stem, 0, 0, 0)) < 0 ||
        add(p, "stem.bn.running_var", S, NAS_INIT_ONE, 1.0f, 1, c_stem, 0, 0, 0) < 0)
        return NAS_ENOMEM;
    int c_pp = c_stem, c_p = c_stem, c = cfg->C, reduce_prev = 0, side = cfg->h;
    n->aux_cell = -1;
    for (int i = 0; i < cfg->layers; i++) {
        fixed_cell *cell = &n->cells[i];
        cell->reduce = i == cfg->layers / 3 || i == 2 * cfg->layers / 3;
        if (cell->reduce) {
            c *= 2;
            side /= 2;
        }
        int rc = declare_cell(p, n, i, c, c_pp, c_p, reduce_prev);
        if (rc < 0)
            return rc;
        reduce_prev = cell->reduce;
        c_pp = c_p;
        c_p = (cell->reduce ? n->gt.n_reduce_concat : n->gt.n_normal_concat) * c;
        if (cfg->auxiliary && i == 2 * cfg->layers / 3) {
            n->aux_cell = i;
            if ((rc = nas_aux_head_declare(p, "aux_head.", c_p, side, cfg->classes, &n->aux)) < 0)
                return rc;
        }
    }
    if ((n->head_w = add(p, "head.w", W, NAS_INIT_KAIMING, 1.0f, 2, cfg->classes, c_p, 0, 0)) < 0 ||
        (n->head_b = add(p, "head.b", W, NAS_INIT_UNIFORM, 1.0f / sqrtf((float)c_p), 1,
                         cfg->classes, 0, 0, 0)) < 0)
        return NAS_ENOMEM;
    return NAS_OK;
}

int nas__darts_fixed_declare(nas_params *p, const nas_darts_cfg *cfg, const nas_darts_genotype *gt,
                             nas__darts_fixed **out)
{
    *out = NULL;
    int rc = nas__darts_check_cfg(cfg);
    if (rc < 0)
        return rc;
    nas__darts_fixed *n = calloc(1, sizeof(*n));
    if (!n || !(n->cells = calloc((size_t)cfg->layers, sizeof(*n->cells)))) {
        free(n);
        return nas_fail(NAS_ENOMEM, "darts: out of memory");
    }
    n->cfg = *cfg;
    n->gt = *gt;
    if ((rc = declare(p, n)) < 0) {
        nas__darts_fixed_free(n);
        return rc;
    }
    *out = n;
    return NAS_OK;
}

void nas__darts_fixed_free(nas__darts_fixed *n)
{
    if (!n)
        return;
    free(n->cells);
    free(n);
}

static nas_tensor *cell_fwd(nas_graph *g, nas_params *p, const fixed_cell *cell,
                            const nas_darts_genotype *gt, nas_tensor *s0, nas_tensor *s1,
                            float drop_prob)
{
    const nas_darts_gene *ge = cell->reduce ? &gt->reduce : &gt->normal;
    const int *concat = cell->reduce ? gt->reduce_concat : gt->normal_concat;
    int nc = cell->reduce ? gt->n_reduce_concat : gt->n_normal_concat;
    nas_tensor *st[2 + NAS_DARTS_NODES], *out[NAS_DARTS_NODES];
    st[0] = nas__darts_op_apply(g, p, &cell->pre0, s0, 1);
    st[1] = nas__darts_op_apply(g, p, &cell->pre1, s1, 1);
    for (int j = 0; j < NAS_DARTS_NODES; j++) {
        nas_tensor *h[2];
        for (int t = 0; t < 2; t++) {
            const nas__darts_op *op = &cell->ops[j][t];
            h[t] = nas__darts_op_apply(g, p, op, st[ge->from[j][t]], 1);
            int identity = op->kind == NAS_DARTS_SKIP_CONNECT && op->stride == 1;
            if (drop_prob > 0.0f && g->training && !identity)
                h[t] = nas_drop_path(g, h[t], drop_prob);
        }
        st[2 + j] = nas_add(g, h[0], h[1]);
    }
    if (nc == 1)
        return st[concat[0]];
    for (int i = 0; i < nc; i++)
        out[i] = st[concat[i]];
    return nas_concat(g, out, nc);
}

nas_tensor *nas__darts_fixed_forward(nas_graph *g, nas_params *p, const nas__darts_fixed *n,
                                     nas_tensor *x)
{
    return nas__darts_fixed_forward_train(g, p, n, x, 0.0f, NULL);
}

nas_tensor *nas__darts_fixed_forward_train(nas_graph *g, nas_params *p, const nas__darts_fixed *n,
                                           nas_tensor *x, float drop_prob, nas_tensor **aux)
{
#define P(i) nas_params_get(p, (i))
    if (aux)
        *aux = NULL;
    nas_tensor *s = nas_conv2d(g, x, P(n->stem_w), NULL, 1, 1, 1, 1);
    s = nas_batchnorm(g, s, P(n->stem_gamma), P(n->stem_gamma + 1), P(n->stem_mean),
                      P(n->stem_mean + 1), 0.1f, 1e-5f);
    nas_tensor *s0 = s, *s1 = s;
    for (int i = 0; i < n->cfg.layers; i++) {
        nas_tensor *o = cell_fwd(g, p, &n->cells[i], &n->gt, s0, s1, drop_prob);
        s0 = s1;
        s1 = o;
        if (i == n->aux_cell && aux && g->training)
            *aux = nas_aux_head_forward(g, p, &n->aux, s1);
    }
    return nas_linear(g, nas_global_avgpool(g, s1), P(n->head_w), P(n->head_b));
#undef P
}
