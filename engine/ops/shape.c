// SPDX-License-Identifier: MIT
/*
 * shape.c - concat and narrow along dim 1 (channels of NCHW, features of a
 * (N, F) matrix) and reshape. Every tensor is seen as (N, C, inner), so one
 * pair of copy loops serves 2-d and 4-d tensors alike.
 */
#include "internal.h"

static void concat_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *y = nd->out;
    int n = nas_tensor_n(y), cy = nas_tensor_c(y);
    size_t inner = nas_tensor_inner(y);
    int off = 0;
    for (int k = 0; k < nd->nlist; k++) {
        nas_tensor *x = nd->list[k];
        int cx = nas_tensor_c(x);
        if (nas__want(g, x))
            for (int i = 0; i < n; i++)
                nas__add_to(x->grad + (size_t)i * cx * inner,
                            y->grad + ((size_t)i * cy + off) * inner, (size_t)cx * inner);
        off += cx;
    }
}

nas_tensor *nas_concat(nas_graph *g, nas_tensor **xs, int n)
{
    NAS_ASSERT(n >= 1 && xs[0]->ndim >= 2);
    int shape[NAS_MAXDIM];
    memcpy(shape, xs[0]->shape, sizeof(shape));
    shape[1] = 0;
    for (int k = 0; k < n; k++) {
        NAS_ASSERT(xs[k]->ndim == xs[0]->ndim && "concat: same rank");
        for (int d = 0; d < xs[0]->ndim; d++)
            NAS_ASSERT((d == 1 || xs[k]->shape[d] == xs[0]->shape[d]) &&
                       "concat: dims other than 1 must agree");
        shape[1] += xs[k]->shape[1];
    }
    nas_tensor **kept;
    nas_tensor *y = nas__list_out(g, xs[0]->ndim, shape, xs, n, &kept);
    int nb = shape[0], cy = shape[1];
    size_t inner = nas_tensor_inner(y);
    int off = 0;
    for (int k = 0; k < n; k++) {
        int cx = xs[k]->shape[1];
        for (int i = 0; i < nb; i++)
            memcpy(y->data + ((size_t)i * cy + off) * inner, xs[k]->data + (size_t)i * cx * inner,
                   (size_t)cx * inner * sizeof(float));
        off += cx;
    }
    nas__record_list(g, concat_bwd, y, kept, n, 0);
    NAS__PROF(nas__prof_op(g, NAS_PROF_COPY, y, xs, n, 0.0));
    NAS__EX(g, nas__ex_list(g, y, xs, n, "Concat"));
    return y;
}

static void narrow_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *x = nd->in[0], *y = nd->out;
    if (!nas__want(g, x))
        return;
    int n = nas_tensor_n(x), cx = nas_tensor_c(x), len = nas_tensor_c(y);
    size_t inner = nas_tensor_inner(x);
    for (int i = 0; i < n; i++)
        nas__add_to(x->grad + ((size_t)i * cx + nd->ia[0]) * inner,
                    y->grad + (size_t)i * len * inner, (size_t)len * inner);
}

nas_tensor *nas_narrow(nas_graph *g, nas_tensor *x, int start, int len)
{
    NAS_ASSERT(x->ndim >= 2 && start >= 0 && len >= 1 && start + len <= x->shape[1] &&
               "narrow: range inside dim 1");
    int shape[NAS_MAXDIM];
    memcpy(shape, x->shape, sizeof(shape));
    shape[1] = len;
    nas_tensor *y = nas__out(g, x->ndim, shape, &x, 1);
    int n = nas_tensor_n(x), cx = nas_tensor_c(x);
    size_t inner = nas_tensor_inner(x);
    for (int i = 0; i < n; i++)
        memcpy(y->data + (size_t)i * len * inner, x->data + ((size_t)i * cx + start) * inner,
               (size_t)len * inner * sizeof(float));
    nas_node *nd = nas__record(g, narrow_bwd, y, &x, 1);
    if (nd)
        nd->ia[0] = start;
    NAS__PROF(nas__prof_op(g, NAS_PROF_COPY, y, &y, 1, 0.0));
    NAS__EX(g, nas__ex_slice(g, y, x, 1, (int[]){1}, &start));
    return y;
}

static void reshape_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *x = nd->in[0];
    if (nas__want(g, x))
        nas__add_to(x->grad, nd->out->grad, nas_tensor_numel(x));
}

nas_tensor *nas_reshape(nas_graph *g, nas_tensor *x, int ndim, const int *shape)
{
    NAS_ASSERT(ndim >= 1 && ndim <= NAS_MAXDIM);
    /* The output shares x's data: a view, with a gradient of its own. */
    nas_tensor *y = nas_arena_zalloc(g->arena, sizeof(*y));
    y->ndim = ndim;
    memcpy(y->shape, shape, (size_t)ndim * sizeof(int));
    NAS_ASSERT(nas_tensor_numel(y) == nas_tensor_numel(x) && "reshape: numel");
    y->data = x->data;
    y->groups = g->grad_enabled ? x->groups : 0;
    nas__record(g, reshape_bwd, y, &x, 1);
    NAS__EX(g, nas__ex_reshape(g, y, x));
    return y;
}
