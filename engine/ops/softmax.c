// SPDX-License-Identifier: MIT
/*
 * softmax.c - softmax, log-softmax and cross-entropy along the last dim of
 * a (rows, n) view. Max-subtracted exponentials; cross-entropy is fused
 * (log-softmax + NLL, mean over rows) and keeps the probabilities for its
 * backward, (p - onehot) / rows.
 */
#include "internal.h"

#include <math.h>

static size_t row_len(const nas_tensor *x)
{
    return (size_t)x->shape[x->ndim - 1];
}

/* out = log softmax(x) over one row; returns nothing, writes n values. */
static void log_softmax_row(const float *x, float *out, size_t n)
{
    float m = x[0];
    for (size_t i = 1; i < n; i++)
        m = x[i] > m ? x[i] : m;
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += exp((double)(x[i] - m));
    float lse = m + (float)log(s);
    for (size_t i = 0; i < n; i++)
        out[i] = x[i] - lse;
}

static void softmax_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *x = nd->in[0], *y = nd->out;
    if (!nas__want(g, x))
        return;
    size_t n = row_len(x), rows = nas_tensor_numel(x) / n;
    int is_log = nd->ia[0];
    for (size_t r = 0; r < rows; r++) {
        const float *yr = y->data + r * n, *dy = y->grad + r * n;
        float *dx = x->grad + r * n;
        double dot = 0.0;
        if (is_log) { /* dx = dy - softmax * sum(dy) */
            for (size_t i = 0; i < n; i++)
                dot += dy[i];
            for (size_t i = 0; i < n; i++)
                dx[i] += dy[i] - expf(yr[i]) * (float)dot;
        } else { /* dx = y * (dy - sum(dy * y)) */
            for (size_t i = 0; i < n; i++)
                dot += (double)dy[i] * yr[i];
            for (size_t i = 0; i < n; i++)
                dx[i] += yr[i] * (dy[i] - (float)dot);
        }
    }
}

static nas_tensor *softmax_impl(nas_graph *g, nas_tensor *x, int is_log)
{
    nas_tensor *y = nas__out(g, x->ndim, x->shape, &x, 1);
    size_t n = row_len(x), rows = nas_tensor_numel(x) / n;
    for (size_t r = 0; r < rows; r++) {
        float *yr = y->data + r * n;
        log_softmax_row(x->data + r * n, yr, n);
        if (!is_log)
            for (size_t i = 0; i < n; i++)
                yr[i] = expf(yr[i]);
    }
    nas_node *nd = nas__record(g, softmax_bwd, y, &x, 1);
    if (nd)
        nd->ia[0] = is_log;
    NAS__PROF(nas__prof_op(g, NAS_PROF_HEAD, y, &x, 1, 5.0 * (double)nas_tensor_numel(y)));
    NAS__EX(g, nas__ex_softmax(g, y, x, is_log));
    return y;
}

nas_tensor *nas_softmax(nas_graph *g, nas_tensor *x)
{
    return softmax_impl(g, x, 0);
}

nas_tensor *nas_log_softmax(nas_graph *g, nas_tensor *x)
{
    return softmax_impl(g, x, 1);
}

static void ce_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *x = nd->in[0];
    if (!nas__want(g, x))
        return;
    const float *logp = nd->pa[0];
    const int32_t *labels = nd->pa[1];
    size_t n = row_len(x), rows = nas_tensor_numel(x) / n;
    float k = nd->out->grad[0] / (float)rows;
    for (size_t r = 0; r < rows; r++) {
        float *dx = x->grad + r * n;
        for (size_t i = 0; i < n; i++)
            dx[i] += k * expf(logp[r * n + i]);
        dx[labels[r]] -= k;
    }
}

nas_tensor *nas_cross_entropy(nas_graph *g, nas_tensor *logits, const int32_t *labels)
{
    NAS_ASSERT(logits->ndim == 2 && "cross_entropy: logits (N, K)");
    size_t n = row_len(logits), rows = (size_t)logits->shape[0];
    float *logp = nas_arena_alloc(g->arena, rows * n * sizeof(float));
    int32_t *lab = nas_arena_alloc(g->arena, rows * sizeof(int32_t));
    double loss = 0.0;
    for (size_t r = 0; r < rows; r++) {
        NAS_ASSERT(labels[r] >= 0 && (size_t)labels[r] < n && "label in range");
        lab[r] = labels[r];
        log_softmax_row(logits->data + r * n, logp + r * n, n);
        loss -= logp[r * n + labels[r]];
    }
    int one = 1;
    nas_tensor *y = nas__out(g, 1, &one, &logits, 1);
    y->data[0] = (float)(loss / (double)rows);
    nas_node *nd = nas__record(g, ce_bwd, y, &logits, 1);
    if (nd) {
        nd->pa[0] = logp;
        nd->pa[1] = lab;
    }
    NAS__PROF(
        nas__prof_op(g, NAS_PROF_HEAD, y, &logits, 1, 5.0 * (double)nas_tensor_numel(logits)));
    NAS__EX(g, nas__ex_none(g, "cross_entropy"));
    return y;
}
