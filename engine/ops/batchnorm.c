/*
 * batchnorm.c - batch normalisation over (N, inner) per channel.
 * Statistics are computed in double (a 64x16x32x32 channel sums 65536
 * values); training normalises with the biased batch variance and updates
 * the running statistics with the unbiased one, as PyTorch does. Eval uses
 * the running statistics and is then an affine map.
 */
#include "internal.h"

#include <math.h>

static void bn_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *x = nd->in[0], *gamma = nd->in[1], *beta = nd->in[2];
    const float *mean = nd->pa[0], *rstd = nd->pa[1];
    int training = nd->ia[0];
    int n = nas_tensor_n(x), c = nas_tensor_c(x);
    size_t inner = nas_tensor_inner(x);
    double cnt = (double)n * inner;
    const float *dy = nd->out->grad;
    for (int ch = 0; ch < c; ch++) {
        /* sum dy and sum dy * xhat over the channel */
        double sdy = 0.0, sdyx = 0.0;
        for (int i = 0; i < n; i++) {
            size_t off = ((size_t)i * c + ch) * inner;
            const float *dr = dy + off, *xr = x->data + off;
            float a = 0.0f, b = 0.0f;
#pragma omp simd reduction(+ : a, b)
            for (size_t j = 0; j < inner; j++) {
                a += dr[j];
                b += dr[j] * (xr[j] - mean[ch]);
            }
            sdy += a;
            sdyx += b;
        }
        sdyx *= rstd[ch];   /* now sum dy * xhat */
        float gm = gamma ? gamma->data[ch] : 1.0f;
        if (nas__want(g, gamma))
            gamma->grad[ch] += (float)sdyx;
        if (nas__want(g, beta))
            beta->grad[ch] += (float)sdy;
        if (!nas__want(g, x))
            continue;
        float k = gm * rstd[ch];
        if (!training) {
            for (int i = 0; i < n; i++) {
                size_t off = ((size_t)i * c + ch) * inner;
                nas__axpy(x->grad + off, dy + off, k, inner);
            }
            continue;
        }
        /* dx = k (dy - mean(dy) - xhat mean(dy xhat)) */
        float mdy = (float)(sdy / cnt), mdyx = (float)(sdyx / cnt);
        float m = mean[ch], r = rstd[ch];
        for (int i = 0; i < n; i++) {
            size_t off = ((size_t)i * c + ch) * inner;
            const float *dr = dy + off, *xr = x->data + off;
            float *gx = x->grad + off;
            for (size_t j = 0; j < inner; j++)
                gx[j] += k * (dr[j] - mdy - (xr[j] - m) * r * mdyx);
        }
    }
}

nas_tensor *nas_batchnorm(nas_graph *g, nas_tensor *x, nas_tensor *gamma,
                          nas_tensor *beta, nas_tensor *running_mean,
                          nas_tensor *running_var, float momentum,
                          float eps)
{
    int n = nas_tensor_n(x), c = nas_tensor_c(x);
    size_t inner = nas_tensor_inner(x);
    NAS_ASSERT(x->ndim >= 2 && "batchnorm: (N, C, ...)");
    NAS_ASSERT((!gamma || (int)nas_tensor_numel(gamma) == c) &&
               (!beta || (int)nas_tensor_numel(beta) == c));
    NAS_ASSERT(g->training || (running_mean && running_var));
    nas_tensor *in[3] = {x, gamma, beta};
    nas_tensor *y = nas__out(g, x->ndim, x->shape, in, 3);
    float *mean = nas_arena_alloc(g->arena, (size_t)c * sizeof(float));
    float *rstd = nas_arena_alloc(g->arena, (size_t)c * sizeof(float));
    double cnt = (double)n * inner;
    for (int ch = 0; ch < c; ch++) {
        if (!g->training) {
            mean[ch] = running_mean->data[ch];
            rstd[ch] = 1.0f / sqrtf(running_var->data[ch] + eps);
            continue;
        }
        double s = 0.0, s2 = 0.0;
        for (int i = 0; i < n; i++) {
            const float *xr = x->data + ((size_t)i * c + ch) * inner;
            float a = 0.0f;
#pragma omp simd reduction(+ : a)
            for (size_t j = 0; j < inner; j++)
                a += xr[j];
            s += a;
        }
        double mu = s / cnt;
        for (int i = 0; i < n; i++) {
            const float *xr = x->data + ((size_t)i * c + ch) * inner;
            float fm = (float)mu, b = 0.0f;
#pragma omp simd reduction(+ : b)
            for (size_t j = 0; j < inner; j++)
                b += (xr[j] - fm) * (xr[j] - fm);
            s2 += b;
        }
        double var = s2 / cnt;
        mean[ch] = (float)mu;
        rstd[ch] = (float)(1.0 / sqrt(var + eps));
        if (running_mean)
            running_mean->data[ch] = (1.0f - momentum) * running_mean->data[ch] +
                                     momentum * (float)mu;
        if (running_var)
            running_var->data[ch] = (1.0f - momentum) * running_var->data[ch] +
                momentum * (float)(cnt > 1 ? s2 / (cnt - 1) : var);
    }
    for (int ch = 0; ch < c; ch++) {
        float k = rstd[ch] * (gamma ? gamma->data[ch] : 1.0f);
        float b = (beta ? beta->data[ch] : 0.0f) - mean[ch] * k;
        for (int i = 0; i < n; i++) {
            size_t off = ((size_t)i * c + ch) * inner;
            const float *xr = x->data + off;
            float *yr = y->data + off;
            for (size_t j = 0; j < inner; j++)
                yr[j] = xr[j] * k + b;
        }
    }
    nas_node *nd = nas__record(g, bn_bwd, y, in, 3);
    if (nd) {
        nd->pa[0] = mean;
        nd->pa[1] = rstd;
        nd->ia[0] = g->training;
    }
    return y;
}
