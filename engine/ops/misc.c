// SPDX-License-Identifier: MIT
/*
 * misc.c - embedding lookup, dropout, drop path and the zero op.
 * Dropout keeps its mask (already scaled by 1/(1-p)) for backward; its
 * draws come from the graph's rng in element order, so a run is
 * reproducible from the seed. Drop path is dropout with one mask value
 * per sample (a whole path of one image), drawn in sample order.
 */
#include "internal.h"

static void embedding_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *table = nd->in[0];
    if (!nas__want(g, table))
        return;
    const int32_t *ids = nd->pa[0];
    int n = nd->out->shape[0], d = nd->out->shape[1];
    for (int i = 0; i < n; i++)
        nas__add_to(table->grad + (size_t)ids[i] * d, nd->out->grad + (size_t)i * d, (size_t)d);
}

nas_tensor *nas_embedding(nas_graph *g, nas_tensor *table, const int32_t *ids, int n)
{
    NAS_ASSERT(table->ndim == 2 && n >= 1 && "embedding: table (V, D)");
    int v = table->shape[0], d = table->shape[1];
    int shape[2] = {n, d};
    nas_tensor *y = nas__out(g, 2, shape, &table, 1);
    int32_t *kept = nas_arena_alloc(g->arena, (size_t)n * sizeof(int32_t));
    for (int i = 0; i < n; i++) {
        NAS_ASSERT(ids[i] >= 0 && ids[i] < v && "embedding: id in range");
        kept[i] = ids[i];
        memcpy(y->data + (size_t)i * d, table->data + (size_t)ids[i] * d,
               (size_t)d * sizeof(float));
    }
    nas_node *nd = nas__record(g, embedding_bwd, y, &table, 1);
    if (nd)
        nd->pa[0] = kept;
    NAS__PROF(nas__prof_op(g, NAS_PROF_HEAD, y, &table, 0, 0.0));
    NAS__EX(g, nas__ex_embedding(g, y, table, ids));
    return y;
}

static void dropout_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *x = nd->in[0];
    if (!nas__want(g, x))
        return;
    const float *mask = nd->pa[0];
    size_t n = nas_tensor_numel(x);
    for (size_t i = 0; i < n; i++)
        x->grad[i] += nd->out->grad[i] * mask[i];
}

nas_tensor *nas_dropout(nas_graph *g, nas_tensor *x, float p)
{
    NAS_ASSERT(p >= 0.0f && p < 1.0f && "dropout: 0 <= p < 1");
    if (!g->training || p == 0.0f)
        return x;
    NAS_ASSERT(g->rng && "dropout: nas_graph_set_rng first");
    nas_tensor *y = nas__out(g, x->ndim, x->shape, &x, 1);
    size_t n = nas_tensor_numel(x);
    float *mask = nas_arena_alloc(g->arena, n * sizeof(float));
    float keep = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) {
        mask[i] = nas_rng_uniform(g->rng) >= p ? keep : 0.0f;
        y->data[i] = x->data[i] * mask[i];
    }
    nas_node *nd = nas__record(g, dropout_bwd, y, &x, 1);
    if (nd)
        nd->pa[0] = mask;
    NAS__PROF(nas__prof_op(g, NAS_PROF_ELEMENTWISE, y, &x, 1, (double)nas_tensor_numel(y)));
    NAS__EX(g, nas__ex_none(g, "dropout in training"));
    return y;
}

static void drop_path_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *x = nd->in[0];
    if (!nas__want(g, x))
        return;
    const float *mask = nd->pa[0];
    int n = x->shape[0];
    size_t per = nas_tensor_numel(x) / (size_t)n;
    for (int s = 0; s < n; s++)
        for (size_t i = 0; i < per; i++)
            x->grad[(size_t)s * per + i] += nd->out->grad[(size_t)s * per + i] * mask[s];
}

float *nas_drop_path_mask(nas_graph *g, int n, float p)
{
    NAS_ASSERT(p >= 0.0f && p < 1.0f && "drop path: 0 <= p < 1");
    NAS_ASSERT(g->rng && "drop path: nas_graph_set_rng first");
    float *mask = nas_arena_alloc(g->arena, (size_t)n * sizeof(float));
    float keep = 1.0f / (1.0f - p);
    for (int s = 0; s < n; s++)
        mask[s] = nas_rng_uniform(g->rng) >= p ? keep : 0.0f;
    return mask;
}

nas_tensor *nas_drop_path(nas_graph *g, nas_tensor *x, float p)
{
    NAS_ASSERT(p >= 0.0f && p < 1.0f && "drop path: 0 <= p < 1");
    if (!g->training || p == 0.0f)
        return x;
    NAS_ASSERT(x->ndim >= 1);
    nas_tensor *y = nas__out(g, x->ndim, x->shape, &x, 1);
    int n = x->shape[0];
    size_t per = nas_tensor_numel(x) / (size_t)n;
    float *mask = nas_drop_path_mask(g, n, p);
    for (int s = 0; s < n; s++) {
        for (size_t i = 0; i < per; i++)
            y->data[(size_t)s * per + i] = x->data[(size_t)s * per + i] * mask[s];
    }
    nas_node *nd = nas__record(g, drop_path_bwd, y, &x, 1);
    if (nd)
        nd->pa[0] = mask;
    NAS__PROF(nas__prof_op(g, NAS_PROF_ELEMENTWISE, y, &x, 1, (double)nas_tensor_numel(y)));
    return y;
}

nas_tensor *nas_zero(nas_graph *g, nas_tensor *x, int stride)
{
    NAS_ASSERT(stride >= 1 && (stride == 1 || x->ndim == 4));
    int shape[NAS_MAXDIM];
    memcpy(shape, x->shape, sizeof(shape));
    if (stride > 1) {
        shape[2] = (shape[2] + stride - 1) / stride;
        shape[3] = (shape[3] + stride - 1) / stride;
    }
    /* A constant: it depends on no leaf, so nothing is recorded and no
     * gradient flows back (the derivative of 0 * x is 0). */
    NAS__EX(g, nas__ex_none(g, "zero"));
    return nas_tensor_zeros(g, x->ndim, shape);
}
