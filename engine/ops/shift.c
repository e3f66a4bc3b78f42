// SPDX-License-Identifier: MIT
/*
 * shift.c - x[:, :, dh:, dw:], the shifted crop that DARTS's factorized
 * reduction feeds to its second stride-2 1x1 convolution, so that the two
 * halves of the output channels see the even and the odd pixel grid.
 *
 * The one design decision to know: it is a copy, not a view (tensors own
 * contiguous NCHW data), and backward adds the output gradient back into
 * the same window of the input gradient; the cropped-off rows and columns
 * get nothing.
 */
#include "internal.h"

static void shift_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *x = nd->in[0], *y = nd->out;
    if (!nas__want(g, x))
        return;
    int nc = x->shape[0] * x->shape[1], h = x->shape[2], w = x->shape[3];
    int ho = y->shape[2], wo = y->shape[3], dh = nd->ia[0], dw = nd->ia[1];
    for (int p = 0; p < nc; p++)
        for (int r = 0; r < ho; r++)
            nas__add_to(x->grad + ((size_t)p * h + r + dh) * w + dw,
                        y->grad + ((size_t)p * ho + r) * wo, (size_t)wo);
}

nas_tensor *nas_shift(nas_graph *g, nas_tensor *x, int dh, int dw)
{
    NAS_ASSERT(x->ndim == 4 && "shift: (N, C, H, W)");
    NAS_ASSERT(dh >= 0 && dw >= 0 && dh < x->shape[2] && dw < x->shape[3] &&
               "shift: offsets inside the plane");
    int nc = x->shape[0] * x->shape[1], h = x->shape[2], w = x->shape[3];
    int shape[4] = {x->shape[0], x->shape[1], h - dh, w - dw};
    nas_tensor *y = nas__out(g, 4, shape, &x, 1);
    int ho = shape[2], wo = shape[3];
    for (int p = 0; p < nc; p++)
        for (int r = 0; r < ho; r++)
            memcpy(y->data + ((size_t)p * ho + r) * wo, x->data + ((size_t)p * h + r + dh) * w + dw,
                   (size_t)wo * sizeof(float));
    nas_node *nd = nas__record(g, shift_bwd, y, &x, 1);
    if (nd) {
        nd->ia[0] = dh;
        nd->ia[1] = dw;
    }
    NAS__PROF(nas__prof_op(g, NAS_PROF_COPY, y, &x, 1, 0.0));
    NAS__EX(g, nas__ex_slice(g, y, x, 2, (int[]){2, 3}, (int[]){dh, dw}));
    return y;
}
