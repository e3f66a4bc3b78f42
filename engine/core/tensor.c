// SPDX-License-Identifier: MIT
/*
 * tensor.c - shape helpers and arena tensors. A tensor is a view: its
 * struct and buffers come from the graph's arena (or the param store).
 */
#include "internal.h"

size_t nas_tensor_numel(const nas_tensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= (size_t)t->shape[i];
    return n;
}

int nas_tensor_n(const nas_tensor *t)
{
    return t->ndim > 0 ? t->shape[0] : 1;
}

int nas_tensor_c(const nas_tensor *t)
{
    return t->ndim > 1 ? t->shape[1] : 1;
}

size_t nas_tensor_inner(const nas_tensor *t)
{
    size_t n = 1;
    for (int i = 2; i < t->ndim; i++)
        n *= (size_t)t->shape[i];
    return n;
}

int nas_tensor_same_shape(const nas_tensor *a, const nas_tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return 0;
    return 1;
}

nas_tensor *nas_tensor_new(nas_graph *g, int ndim, const int *shape)
{
    NAS_ASSERT(ndim >= 1 && ndim <= NAS_MAXDIM);
    nas_tensor *t = nas_arena_zalloc(g->arena, sizeof(*t));
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        NAS_ASSERT(shape[i] > 0 && "tensor dims must be positive");
        t->shape[i] = shape[i];
    }
    t->data = nas_arena_alloc(g->arena, nas_tensor_numel(t) * sizeof(float));
    return t;
}

nas_tensor *nas_tensor_new4(nas_graph *g, int n, int c, int h, int w)
{
    int s[4] = {n, c, h, w};
    return nas_tensor_new(g, 4, s);
}

nas_tensor *nas_tensor_zeros(nas_graph *g, int ndim, const int *shape)
{
    nas_tensor *t = nas_tensor_new(g, ndim, shape);
    memset(t->data, 0, nas_tensor_numel(t) * sizeof(float));
    return t;
}

nas_tensor *nas_tensor_leaf(nas_graph *g, int ndim, const int *shape, int group)
{
    NAS_ASSERT(group >= 0 && group < NAS_GROUP_COUNT);
    nas_tensor *t = nas_tensor_zeros(g, ndim, shape);
    t->grad = nas_arena_zalloc(g->arena, nas_tensor_numel(t) * sizeof(float));
    t->groups = NAS_MASK(group);
    return t;
}
