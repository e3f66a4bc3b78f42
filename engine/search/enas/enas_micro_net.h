// SPDX-License-Identifier: MIT
/*
 * enas_micro_net.h - the layout of an enas-micro network, shared by the
 * two files of the space: enas_micro.c declares it and describes arcs,
 * enas_micro_fwd.c runs it. Private to those two files.
 */
#ifndef NAS_SEARCH_ENAS_MICRO_NET_H
#define NAS_SEARCH_ENAS_MICRO_NET_H

#include "search/enas/enas_micro.h"

enum { OP_SEP3, OP_SEP5, OP_AVG, OP_MAX, OP_ID, NOPS };

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
    int reduce, c, hw; /* width and map side of the cell */
    int level;         /* reductions up to this cell: 0, 1, 2 */
    cal pre;           /* reduce: FR of the last output before it */
    cal cal_x, cal_y;
    sep_w *sep;                 /* [node][slot][input (B+1)][op 2] */
    int final_w[MAX_NODES + 2]; /* (c, c, 1, 1) per possible loose end */
    int final_gamma;
} layer;

typedef struct micro {
    nas_enas_cfg cfg;
    int ncells; /* layers + 2 */
    int pool[2];
    layer *cells;
    int stem_w, stem_gamma, head_w;
    int aux_cell;           /* the cell whose output feeds the aux head; -1 */
    nas_aux_head aux;       /* declared when cfg.aux */
    nas_tensor *aux_logits; /* of the last forward, or NULL */
    nas_ctrl_step *prog;
    int nprog;
    nas_graph *scratch;
    int direct;      /* no recomputation: every op on the tape */
    float drop_path; /* of the next training forwards (the fixed-arc
                        training's, step-scaled); 0: none (the search) */
    /* Gradient buffers of the tensors that live inside one cell (its
     * calibrated inputs and its nodes), one set for all cells, each buffer
     * as big as the largest level's map (gpool_cap floats); gpool_n is a
     * level's map size: see "gradient pool" below. */
    float *gpool[MAX_NODES + 2];
    size_t gpool_cap, gpool_n[3];
} micro;

static inline sep_w *sep_of(const micro *m, const layer *l, int node, int slot, int in, int op)
{
    int B = m->cfg.nodes;
    return &l->sep[((node * 2 + slot) * (B + 1) + in) * 2 + op];
}

/* The arc is in program order: per cell, per node (in1, in2, op1, op2). */
static inline void node_of(const micro *m, const int *arc, int reduce, int j, int in[2], int op[2])
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
static inline int loose_ends(const micro *m, const int *arc, int reduce, int *out)
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

/* The space's forward (nas_enas_space.forward). */
nas_tensor *nas__enas_micro_forward(void *self, nas_graph *g, nas_params *p, const int *arc,
                                    nas_tensor *x, int update_stats);

#endif
