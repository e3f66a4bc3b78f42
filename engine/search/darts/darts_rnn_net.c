// SPDX-License-Identifier: MIT
/*
 * darts_rnn_net.c - the discrete recurrent cell of a darts-rnn genotype
 * (quark0/darts rnn/model.py's DARTSCell), for the train kind's language
 * model and so for darts-rnn's final training, from a typed genotype
 * (nas.h; darts_cells.c checks it): the cell's parameters and one step
 * of it.
 *
 * The cell, from x_t and h_{t-1}: (c0, h0) = [x_t, h_{t-1}] W0^T,
 * s0 = h_{t-1} + sigmoid(c0) (tanh(h0) - h_{t-1}); node j = 1..8 takes the
 * one earlier node i = from[j] of the genotype and its op f:
 * (c, h) = s_i Ws_j^T, s_j = s_i + sigmoid(c) (f(h) - s_i); h_t is the
 * mean of the nodes listed in concat. As in the reference's final model
 * there is no batch norm (the search's keeps the mixture of 8 summed edges
 * bounded; a derived node has one input). The reference's variational
 * dropouts inside the cell are not applied; the train kind's dropout on
 * the embeddings and on the cell outputs is.
 */
#include "search/darts/darts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CELL_INIT 0.04f /* the reference's INITRANGE */

int nas__darts_rnn_fixed_declare(nas_params *p, int embed, int hidden,
                                 const nas_darts_rnn_genotype *gt, nas__darts_rnn_fixed *out)
{
    int H = hidden;
    char name[48];
    *out = (nas__darts_rnn_fixed){.gt = *gt, .embed = embed, .hidden = H};
    int s0[2] = {2 * H, embed + H};
    if ((out->w0 = nas_params_add(p, "cell.w0", NAS_GROUP_WEIGHTS, NAS_INIT_UNIFORM, CELL_INIT, 2,
                                  s0)) < 0)
        return out->w0;
    for (int j = 0; j < NAS_DARTS_RNN_NODES; j++) {
        int s[2] = {2 * H, H};
        snprintf(name, sizeof(name), "cell.ws.%d", j + 1);
        if ((out->ws[j] =
                 nas_params_add(p, name, NAS_GROUP_WEIGHTS, NAS_INIT_UNIFORM, CELL_INIT, 2, s)) < 0)
            return out->ws[j];
    }
    return NAS_OK;
}

/* s + sigmoid(c) (f(h) - s) for (c, h) = ch split in halves. */
static nas_tensor *highway(nas_graph *g, nas_tensor *s, nas_tensor *ch, int op, int H)
{
    nas_tensor *c = nas_sigmoid(g, nas_narrow(g, ch, 0, H));
    nas_tensor *h = nas_narrow(g, ch, H, H);
    switch (op) {
    case NAS_DARTS_RNN_TANH: h = nas_tanh(g, h); break;
    case NAS_DARTS_RNN_RELU: h = nas_relu(g, h); break;
    case NAS_DARTS_RNN_SIGMOID: h = nas_sigmoid(g, h); break;
    default: break; /* identity */
    }
    return nas_add(g, s, nas_mul(g, c, nas_sub(g, h, s)));
}

nas_tensor *nas__darts_rnn_fixed_step(nas_graph *g, nas_params *p, const nas__darts_rnn_fixed *n,
                                      nas_tensor *x, nas_tensor *h)
{
    int H = n->hidden;
    nas_tensor *xh[2] = {x, h};
    nas_tensor *ch0 = nas_linear(g, nas_concat(g, xh, 2), nas_params_get(p, n->w0), NULL);
    nas_tensor *states[NAS_DARTS_RNN_NODES + 1];
    states[0] = highway(g, h, ch0, NAS_DARTS_RNN_TANH, H);
    for (int j = 0; j < NAS_DARTS_RNN_NODES; j++) {
        nas_tensor *s = states[n->gt.from[j]];
        nas_tensor *ch = nas_linear(g, s, nas_params_get(p, n->ws[j]), NULL);
        states[j + 1] = highway(g, s, ch, n->gt.op[j], H);
    }
    nas_tensor *out[NAS_DARTS_RNN_NODES];
    for (int i = 0; i < n->gt.nconcat; i++)
        out[i] = states[n->gt.concat[i]];
    nas_tensor *sum = n->gt.nconcat == 1 ? out[0] : nas_sum_n(g, out, n->gt.nconcat);
    return nas_scale(g, sum, 1.0f / (float)n->gt.nconcat);
}
