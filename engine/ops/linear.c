// SPDX-License-Identifier: MIT
/*
 * linear.c - fully connected layers and matrix products on nas__sgemm
 * (cblas_sgemm split over the engine's threads).
 * Backward computes only the gradients backward asks for: a limited
 * backward (DARTS' alpha-only pass) never pays for dW.
 */
#include "internal.h"

static void linear_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2];
    int n = x->shape[0], k = x->shape[1], m = w->shape[0];
    const float *dy = nd->out->grad; /* (n, m) */
    if (nas__want(g, x))             /* dx (n,k) += dy (n,m) @ w (m,k) */
        nas__sgemm(CblasNoTrans, CblasNoTrans, n, k, m, 1.0f, dy, m, w->data, k, 1.0f, x->grad, k);
    if (nas__want(g, w)) /* dw (m,k) += dy^T (m,n) @ x (n,k) */
        nas__sgemm(CblasTrans, CblasNoTrans, m, k, n, 1.0f, dy, m, x->data, k, 1.0f, w->grad, k);
    if (nas__want(g, b))
        for (int i = 0; i < n; i++)
            nas__add_to(b->grad, dy + (size_t)i * m, (size_t)m);
}

nas_tensor *nas_linear(nas_graph *g, nas_tensor *x, nas_tensor *w, nas_tensor *b)
{
    NAS_ASSERT(x->ndim == 2 && w->ndim == 2 && x->shape[1] == w->shape[1] &&
               "linear: x (N,K), w (M,K)");
    int n = x->shape[0], k = x->shape[1], m = w->shape[0];
    NAS_ASSERT(!b || (int)nas_tensor_numel(b) == m);
    int shape[2] = {n, m};
    nas_tensor *in[3] = {x, w, b};
    nas_tensor *y = nas__out(g, 2, shape, in, 3);
    for (int i = 0; i < n; i++) {
        float *r = y->data + (size_t)i * m;
        if (b)
            memcpy(r, b->data, (size_t)m * sizeof(float));
        else
            memset(r, 0, (size_t)m * sizeof(float));
    }
    nas__sgemm(CblasNoTrans, CblasTrans, n, m, k, 1.0f, x->data, k, w->data, k, 1.0f, y->data, m);
    nas__record(g, linear_bwd, y, in, 3);
    NAS__PROF(
        nas__prof_op(g, NAS_PROF_HEAD, y, in, 3, 2.0 * (double)nas_tensor_numel(y) * x->shape[1]));
    NAS__EX(g, nas__ex_linear(g, y, x, w, b));
    return y;
}

static void matmul_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *a = nd->in[0], *b = nd->in[1];
    int m = a->shape[0], k = a->shape[1], n = b->shape[1];
    const float *dy = nd->out->grad; /* (m, n) */
    if (nas__want(g, a))             /* da (m,k) += dy (m,n) @ b^T (n,k) */
        nas__sgemm(CblasNoTrans, CblasTrans, m, k, n, 1.0f, dy, n, b->data, n, 1.0f, a->grad, k);
    if (nas__want(g, b)) /* db (k,n) += a^T (k,m) @ dy (m,n) */
        nas__sgemm(CblasTrans, CblasNoTrans, k, n, m, 1.0f, a->data, k, dy, n, 1.0f, b->grad, n);
}

nas_tensor *nas_matmul(nas_graph *g, nas_tensor *a, nas_tensor *b)
{
    NAS_ASSERT(a->ndim == 2 && b->ndim == 2 && a->shape[1] == b->shape[0] &&
               "matmul: a (M,K), b (K,N)");
    int m = a->shape[0], k = a->shape[1], n = b->shape[1];
    int shape[2] = {m, n};
    nas_tensor *in[2] = {a, b};
    nas_tensor *y = nas__out(g, 2, shape, in, 2);
    nas__sgemm(CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a->data, k, b->data, n, 0.0f, y->data, n);
    nas__record(g, matmul_bwd, y, in, 2);
    NAS__PROF(
        nas__prof_op(g, NAS_PROF_HEAD, y, in, 2, 2.0 * (double)nas_tensor_numel(y) * a->shape[1]));
    NAS__EX(g, nas__ex_none(g, "matmul"));
    return y;
}
