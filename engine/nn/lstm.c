// SPDX-License-Identifier: MIT
/*
 * lstm.c - one LSTM step built from the differentiable ops, so its
 * backward (BPTT when steps are chained) is the tape's reverse walk and
 * needs no code of its own. Gate order i, f, g, o as in PyTorch.
 */
#include "internal.h"

void nas_lstm_cell_step(nas_graph *g, const nas_lstm_cell *cell, nas_tensor *x, nas_tensor *h,
                        nas_tensor *c, nas_tensor **h_out, nas_tensor **c_out)
{
    int hid = cell->wh->shape[1];
    NAS_ASSERT(cell->wx->shape[0] == 4 * hid && cell->wh->shape[0] == 4 * hid);
    nas_tensor *gates =
        nas_add(g, nas_linear(g, x, cell->wx, cell->b), nas_linear(g, h, cell->wh, NULL));
    nas_tensor *i = nas_sigmoid(g, nas_narrow(g, gates, 0, hid));
    nas_tensor *f = nas_sigmoid(g, nas_narrow(g, gates, hid, hid));
    nas_tensor *gg = nas_tanh(g, nas_narrow(g, gates, 2 * hid, hid));
    nas_tensor *o = nas_sigmoid(g, nas_narrow(g, gates, 3 * hid, hid));
    nas_tensor *c2 = nas_add(g, nas_mul(g, f, c), nas_mul(g, i, gg));
    *c_out = c2;
    *h_out = nas_mul(g, o, nas_tanh(g, c2));
}
