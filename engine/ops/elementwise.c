// SPDX-License-Identifier: MIT
/*
 * elementwise.c - add, sub, mul, scaling and reductions to a scalar.
 * Binary ops take same-shaped operands (no broadcasting: every use in the
 * NAS cells is same-shaped, and an explicit op keeps backward obvious).
 */
#include "internal.h"

enum bin { BIN_ADD, BIN_SUB, BIN_MUL };

static void bin_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *a = nd->in[0], *b = nd->in[1];
    size_t n = nas_tensor_numel(a);
    const float *dy = nd->out->grad;
    switch (nd->ia[0]) {
    case BIN_ADD:
    case BIN_SUB:
        if (nas__want(g, a))
            nas__add_to(a->grad, dy, n);
        if (nas__want(g, b))
            nas__axpy(b->grad, dy, nd->ia[0] == BIN_ADD ? 1.0f : -1.0f, n);
        break;
    default:
        if (nas__want(g, a))
            for (size_t i = 0; i < n; i++)
                a->grad[i] += dy[i] * b->data[i];
        if (nas__want(g, b))
            for (size_t i = 0; i < n; i++)
                b->grad[i] += dy[i] * a->data[i];
    }
}

static nas_tensor *binary(nas_graph *g, nas_tensor *a, nas_tensor *b, enum bin op)
{
    NAS_ASSERT(nas_tensor_same_shape(a, b) && "elementwise: same shapes");
    nas_tensor *in[2] = {a, b};
    nas_tensor *y = nas__out(g, a->ndim, a->shape, in, 2);
    size_t n = nas_tensor_numel(a);
    const float *av = a->data, *bv = b->data;
    float *yv = y->data;
    if (op == BIN_ADD)
        for (size_t i = 0; i < n; i++)
            yv[i] = av[i] + bv[i];
    else if (op == BIN_SUB)
        for (size_t i = 0; i < n; i++)
            yv[i] = av[i] - bv[i];
    else
        for (size_t i = 0; i < n; i++)
            yv[i] = av[i] * bv[i];
    nas_node *nd = nas__record(g, bin_bwd, y, in, 2);
    if (nd)
        nd->ia[0] = op;
    NAS__PROF(nas__prof_op(g, NAS_PROF_ELEMENTWISE, y, in, 2, (double)nas_tensor_numel(y)));
    NAS__EX(g, nas__ex_binary(g, y, a, b, op == BIN_ADD ? "Add" : op == BIN_SUB ? "Sub" : "Mul"));
    return y;
}

nas_tensor *nas_add(nas_graph *g, nas_tensor *a, nas_tensor *b)
{
    return binary(g, a, b, BIN_ADD);
}

nas_tensor *nas_sub(nas_graph *g, nas_tensor *a, nas_tensor *b)
{
    return binary(g, a, b, BIN_SUB);
}

nas_tensor *nas_mul(nas_graph *g, nas_tensor *a, nas_tensor *b)
{
    return binary(g, a, b, BIN_MUL);
}

static void scale_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *x = nd->in[0], *s = nd->in[1];
    size_t n = nas_tensor_numel(x);
    const float *dy = nd->out->grad;
    float c = s ? s->data[nd->ia[0]] : nd->fa[0];
    if (nas__want(g, x))
        nas__axpy(x->grad, dy, c, n);
    if (nas__want(g, s)) {
        /* d/ds_i sum(dy * x * s_i) = sum(dy * x), accumulated in double:
         * this is the gradient of a DARTS alpha, summed over a whole
         * feature map. */
        double acc = 0.0;
        const size_t blk = 1024;
        for (size_t i0 = 0; i0 < n; i0 += blk) {
            size_t i1 = i0 + blk < n ? i0 + blk : n;
            float part = 0.0f;
#pragma omp simd reduction(+ : part)
            for (size_t i = i0; i < i1; i++)
                part += dy[i] * x->data[i];
            acc += part;
        }
        s->grad[nd->ia[0]] += (float)acc;
    }
}

static nas_tensor *scale_impl(nas_graph *g, nas_tensor *x, nas_tensor *s, int idx, float c)
{
    nas_tensor *in[2] = {x, s};
    nas_tensor *y = nas__out(g, x->ndim, x->shape, in, 2);
    size_t n = nas_tensor_numel(x);
    for (size_t i = 0; i < n; i++)
        y->data[i] = x->data[i] * c;
    nas_node *nd = nas__record(g, scale_bwd, y, in, 2);
    if (nd) {
        nd->ia[0] = idx;
        nd->fa[0] = c;
    }
    NAS__PROF(nas__prof_op(g, NAS_PROF_ELEMENTWISE, y, &x, 1, (double)nas_tensor_numel(y)));
    NAS__EX(g, s ? nas__ex_none(g, "scale_by") : nas__ex_scale(g, y, x, c));
    return y;
}

nas_tensor *nas_scale(nas_graph *g, nas_tensor *x, float c)
{
    return scale_impl(g, x, NULL, 0, c);
}

nas_tensor *nas_scale_by(nas_graph *g, nas_tensor *x, nas_tensor *s, int i)
{
    NAS_ASSERT(i >= 0 && (size_t)i < nas_tensor_numel(s));
    return scale_impl(g, x, s, i, s->data[i]);
}

static void sum_n_bwd(nas_graph *g, nas_node *nd)
{
    size_t n = nas_tensor_numel(nd->out);
    for (int k = 0; k < nd->nlist; k++)
        if (nas__want(g, nd->list[k]))
            nas__add_to(nd->list[k]->grad, nd->out->grad, n);
}

nas_tensor *nas__list_out(nas_graph *g, int ndim, const int *shape, nas_tensor **xs, int n,
                          nas_tensor ***kept)
{
    NAS__PROF(nas__prof_begin());
    nas_tensor *y = nas_tensor_new(g, ndim, shape);
    if (g->grad_enabled)
        for (int k = 0; k < n; k++)
            y->groups |= xs[k]->groups;
    *kept = nas_arena_alloc(g->arena, (size_t)n * sizeof(nas_tensor *));
    memcpy(*kept, xs, (size_t)n * sizeof(nas_tensor *));
    return y;
}

void nas__record_list(nas_graph *g, nas_bwd_fn fn, nas_tensor *y, nas_tensor **kept, int n, int ia0)
{
    nas_node *nd = nas__record(g, fn, y, NULL, 0);
    if (nd) {
        nd->list = kept;
        nd->nlist = n;
        nd->ia[0] = ia0;
    }
}

nas_tensor *nas_sum_n(nas_graph *g, nas_tensor **xs, int n)
{
    NAS_ASSERT(n >= 1);
    for (int k = 1; k < n; k++)
        NAS_ASSERT(nas_tensor_same_shape(xs[0], xs[k]) && "sum_n: same shapes");
    nas_tensor **kept;
    nas_tensor *y = nas__list_out(g, xs[0]->ndim, xs[0]->shape, xs, n, &kept);
    size_t m = nas_tensor_numel(y);
    memcpy(y->data, xs[0]->data, m * sizeof(float));
    for (int k = 1; k < n; k++)
        nas__add_to(y->data, xs[k]->data, m);
    nas__record_list(g, sum_n_bwd, y, kept, n, 0);
    NAS__PROF(nas__prof_op(g, NAS_PROF_ELEMENTWISE, y, xs, n, (double)m * (n - 1)));
    NAS__EX(g, nas__ex_list(g, y, xs, n, "Sum"));
    return y;
}

static void reduce_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *x = nd->in[0];
    if (!nas__want(g, x))
        return;
    size_t n = nas_tensor_numel(x);
    float v = nd->out->grad[0] * (nd->ia[0] ? 1.0f / (float)n : 1.0f);
    for (size_t i = 0; i < n; i++)
        x->grad[i] += v;
}

static nas_tensor *reduce(nas_graph *g, nas_tensor *x, int mean)
{
    int one = 1;
    nas_tensor *y = nas__out(g, 1, &one, &x, 1);
    size_t n = nas_tensor_numel(x);
    double acc = 0.0;
    for (size_t i = 0; i < n; i++)
        acc += x->data[i];
    y->data[0] = (float)(mean ? acc / (double)n : acc);
    nas_node *nd = nas__record(g, reduce_bwd, y, &x, 1);
    if (nd)
        nd->ia[0] = mean;
    NAS__PROF(nas__prof_op(g, NAS_PROF_HEAD, y, &x, 1, (double)nas_tensor_numel(x)));
    NAS__EX(g, nas__ex_none(g, mean ? "mean" : "sum"));
    return y;
}

nas_tensor *nas_sum(nas_graph *g, nas_tensor *x)
{
    return reduce(g, x, 0);
}

nas_tensor *nas_mean(nas_graph *g, nas_tensor *x)
{
    return reduce(g, x, 1);
}
