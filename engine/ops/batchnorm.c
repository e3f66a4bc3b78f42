// SPDX-License-Identifier: MIT
/*
 * batchnorm.c - batch normalisation over (N, inner) per channel.
 * Statistics are computed in double (a 64x16x32x32 channel sums 65536
 * values); training normalises with the biased batch variance and updates
 * the running statistics with the unbiased one, as PyTorch does. Eval uses
 * the running statistics and is then an affine map; a BN without running
 * statistics (ENAS micro's) normalises with the batch's in eval too.
 *
 * On a graph of a data-parallel group (nas_graph_set_dist) the batch
 * statistics are the group's: a pre-pass sums each channel's values and
 * squared deviations (from the rank's own mean, combined exactly) over
 * every rank in one call, and backward sums dy and dy * xhat likewise for
 * dx in one call. dgamma and dbeta keep
 * this rank's share: the group sums parameter gradients after backward.
 */
#include "internal.h"

#include <math.h>

/* One BN's shapes and buffers, for the per-channel ranges below. */
typedef struct {
    int n, c, training;
    size_t inner;
    const float *x, *dy, *gamma, *beta;
    float *y, *dx, *dgamma, *dbeta; /* NULL: not wanted */
    float *mean, *rstd;
    float *rm, *rv; /* running statistics, or NULL */
    float momentum, eps;
    /* The group's sums (synchronised BN), or NULL: forward, the mean
     * and the sum of squared deviations per channel; backward, the sum
     * of dy and of dy (x - mean); then the element count at [2c]. */
    const double *sync;
} bn_ctx;

/* Channel ch's sum of x (or, with dy, of dy and of dy (x - mean)). */
static double channel_sum(const bn_ctx *b, int ch, const float *dy, double *sdyx)
{
    double s = 0.0, s2 = 0.0;
    for (int i = 0; i < b->n; i++) {
        size_t off = ((size_t)i * b->c + ch) * b->inner;
        const float *xr = b->x + off;
        float a = 0.0f, bb = 0.0f;
        if (dy)
            for (size_t j = 0; j < b->inner; j++) {
                a += dy[off + j];
                bb += dy[off + j] * (xr[j] - b->mean[ch]);
            }
        else
            for (size_t j = 0; j < b->inner; j++)
                a += xr[j];
        s += a;
        s2 += bb;
    }
    if (sdyx)
        *sdyx = s2;
    return s;
}

/* The group's sums of b (see sync above) in the arena, one sum per BN
 * and direction. Backward (dy): each channel's sum of dy and of
 * dy (x - mean), and the count. Forward (dy NULL): each rank sends its
 * channel sums s_k, its squared deviations from its own mean m_k = s_k / n_k
 * (M2_k, the same two-pass arithmetic as one process) and s_k m_k, with
 * its count n_k; the group's mean is sum s_k / n and its squared
 * deviations sum M2_k + sum n_k m_k^2 - n mean^2 (Chan et al.'s pairwise
 * combination; the last two terms in double, so the cancellation costs
 * nothing a float statistic can see). One sum of 3c + 1 values instead of
 * two passes each waiting for the group. */
static const double *sync_sums(nas_graph *g, const bn_ctx *b, const float *dy)
{
    const int c = b->c;
    const double nk = (double)b->n * (double)b->inner;
    double *v = nas_arena_alloc(g->arena, (size_t)(3 * c + 1) * sizeof(double));
    if (dy) {
        for (int ch = 0; ch < c; ch++)
            v[ch] = channel_sum(b, ch, dy, &v[c + ch]);
        v[2 * c] = nk;
        g->dist->sum_f64(g->dist->ctx, v, (size_t)(2 * c + 1));
        return v;
    }
    for (int ch = 0; ch < c; ch++) {
        double s = channel_sum(b, ch, NULL, NULL), mk = nk > 0 ? s / nk : 0.0, m2 = 0.0;
        float fm = (float)mk;
        for (int i = 0; i < b->n; i++) {
            const float *xr = b->x + ((size_t)i * c + ch) * b->inner;
            float bb = 0.0f;
            for (size_t j = 0; j < b->inner; j++)
                bb += (xr[j] - fm) * (xr[j] - fm);
            m2 += bb;
        }
        v[ch] = s;
        v[c + ch] = m2;
        v[2 * c + ch] = s * mk;
    }
    v[3 * c] = nk;
    g->dist->sum_f64(g->dist->ctx, v, (size_t)(3 * c + 1));
    const double n = v[3 * c];
    for (int ch = 0; ch < c; ch++) {
        double mu = v[ch] / n, s2 = v[c + ch] + v[2 * c + ch] - mu * v[ch];
        v[ch] = mu;
        v[c + ch] = s2 > 0.0 ? s2 : 0.0;
    }
    v[2 * c] = n; /* where the forward pass reads the count */
    return v;
}

static void bn_bwd_range(void *arg, int c0, int c1)
{
    const bn_ctx *b = arg;
    const int n = b->n, c = b->c;
    const size_t inner = b->inner;
    const double cnt = (double)n * inner;
    const float *mean = b->mean, *rstd = b->rstd, *dy = b->dy;
    for (int ch = c0; ch < c1; ch++) {
        /* sum dy and sum dy * xhat over the channel */
        double sdy = 0.0, sdyx = 0.0;
        for (int i = 0; i < n; i++) {
            size_t off = ((size_t)i * c + ch) * inner;
            const float *dr = dy + off, *xr = b->x + off;
            float a = 0.0f, bb = 0.0f;
#pragma omp simd reduction(+ : a, bb)
            for (size_t j = 0; j < inner; j++) {
                a += dr[j];
                bb += dr[j] * (xr[j] - mean[ch]);
            }
            sdy += a;
            sdyx += bb;
        }
        sdyx *= rstd[ch]; /* now sum dy * xhat */
        float gm = b->gamma ? b->gamma[ch] : 1.0f;
        if (b->dgamma)
            b->dgamma[ch] += (float)sdyx;
        if (b->dbeta)
            b->dbeta[ch] += (float)sdy;
        if (!b->dx)
            continue;
        float k = gm * rstd[ch];
        if (!b->training) {
            for (int i = 0; i < n; i++) {
                size_t off = ((size_t)i * c + ch) * inner;
                nas__axpy(b->dx + off, dy + off, k, inner);
            }
            continue;
        }
        /* dx = k (dy - mean(dy) - xhat mean(dy xhat)), the means the
         * group's when synchronised */
        float mdy = (float)(sdy / cnt), mdyx = (float)(sdyx / cnt);
        if (b->sync) {
            mdy = (float)(b->sync[ch] / b->sync[2 * c]);
            mdyx = (float)(b->sync[c + ch] * rstd[ch] / b->sync[2 * c]);
        }
        float m = mean[ch], r = rstd[ch];
        for (int i = 0; i < n; i++) {
            size_t off = ((size_t)i * c + ch) * inner;
            const float *dr = dy + off, *xr = b->x + off;
            float *gx = b->dx + off;
            for (size_t j = 0; j < inner; j++)
                gx[j] += k * (dr[j] - mdy - (xr[j] - m) * r * mdyx);
        }
    }
}

/* Channels are independent: backward and forward run over channel ranges
 * on the engine's threads, each channel by the same code whatever the
 * split (deterministic for any thread count). */
static void bn_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *x = nd->in[0], *gamma = nd->in[1], *beta = nd->in[2];
    bn_ctx b = {
        .n = nas_tensor_n(x),
        .c = nas_tensor_c(x),
        .training = nd->ia[0],
        .inner = nas_tensor_inner(x),
        .x = x->data,
        .dy = nd->out->grad,
        .gamma = gamma ? gamma->data : NULL,
        .dx = nas__want(g, x) ? x->grad : NULL,
        .dgamma = nas__want(g, gamma) ? gamma->grad : NULL,
        .dbeta = nas__want(g, beta) ? beta->grad : NULL,
        .mean = nd->pa[0],
        .rstd = nd->pa[1],
    };
    if (!b.dx && !b.dgamma && !b.dbeta)
        return;
    if (g->dist && b.training && b.dx)
        b.sync = sync_sums(g, &b, b.dy);
    nas__parallel_for(b.c, bn_bwd_range, &b);
}

/* Channel ch's mean and rstd from its mean mu and sum of squared
 * deviations s2 over cnt values, and its running statistics. */
static void bn_update(const bn_ctx *b, int ch, double mu, double s2, double cnt)
{
    double var = s2 / cnt;
    b->mean[ch] = (float)mu;
    b->rstd[ch] = (float)(1.0 / sqrt(var + b->eps));
    if (b->rm)
        b->rm[ch] = (1.0f - b->momentum) * b->rm[ch] + b->momentum * (float)mu;
    if (b->rv)
        b->rv[ch] = (1.0f - b->momentum) * b->rv[ch] +
                    b->momentum * (float)(cnt > 1 ? s2 / (cnt - 1) : var);
}

static void bn_fwd_range(void *arg, int c0, int c1)
{
    const bn_ctx *b = arg;
    const int n = b->n, c = b->c;
    const size_t inner = b->inner;
    const double cnt = (double)n * inner;
    float *mean = b->mean, *rstd = b->rstd;
    for (int ch = c0; ch < c1; ch++) {
        if (!b->training) {
            mean[ch] = b->rm[ch];
            rstd[ch] = 1.0f / sqrtf(b->rv[ch] + b->eps);
        } else if (b->sync) {
            bn_update(b, ch, b->sync[ch], b->sync[c + ch], b->sync[2 * c]);
        } else {
            double s = 0.0, s2 = 0.0;
            for (int i = 0; i < n; i++) {
                const float *xr = b->x + ((size_t)i * c + ch) * inner;
                float a = 0.0f;
#pragma omp simd reduction(+ : a)
                for (size_t j = 0; j < inner; j++)
                    a += xr[j];
                s += a;
            }
            double mu = s / cnt;
            for (int i = 0; i < n; i++) {
                const float *xr = b->x + ((size_t)i * c + ch) * inner;
                float fm = (float)mu, bb = 0.0f;
#pragma omp simd reduction(+ : bb)
                for (size_t j = 0; j < inner; j++)
                    bb += (xr[j] - fm) * (xr[j] - fm);
                s2 += bb;
            }
            bn_update(b, ch, mu, s2, cnt);
        }
        float k = rstd[ch] * (b->gamma ? b->gamma[ch] : 1.0f);
        float bias = (b->beta ? b->beta[ch] : 0.0f) - mean[ch] * k;
        for (int i = 0; i < n; i++) {
            size_t off = ((size_t)i * c + ch) * inner;
            const float *xr = b->x + off;
            float *yr = b->y + off;
            for (size_t j = 0; j < inner; j++)
                yr[j] = xr[j] * k + bias;
        }
    }
}

nas_tensor *nas_batchnorm(nas_graph *g, nas_tensor *x, nas_tensor *gamma, nas_tensor *beta,
                          nas_tensor *running_mean, nas_tensor *running_var, float momentum,
                          float eps)
{
    int n = nas_tensor_n(x), c = nas_tensor_c(x);
    NAS_ASSERT(x->ndim >= 2 && "batchnorm: (N, C, ...)");
    NAS_ASSERT((!gamma || (int)nas_tensor_numel(gamma) == c) &&
               (!beta || (int)nas_tensor_numel(beta) == c));
    NAS_ASSERT(g->training || !running_mean == !running_var);
    int batch_stats = g->training || !running_mean;
    nas_tensor *in[3] = {x, gamma, beta};
    nas_tensor *y = nas__out(g, x->ndim, x->shape, in, 3);
    bn_ctx b = {
        .n = n,
        .c = c,
        .training = batch_stats,
        .inner = nas_tensor_inner(x),
        .x = x->data,
        .y = y->data,
        .gamma = gamma ? gamma->data : NULL,
        .beta = beta ? beta->data : NULL,
        .mean = nas_arena_alloc(g->arena, (size_t)c * sizeof(float)),
        .rstd = nas_arena_alloc(g->arena, (size_t)c * sizeof(float)),
        .rm = running_mean ? running_mean->data : NULL,
        .rv = running_var ? running_var->data : NULL,
        .momentum = momentum,
        .eps = eps,
    };
    if (g->dist && batch_stats)
        b.sync = sync_sums(g, &b, NULL);
    nas__parallel_for(c, bn_fwd_range, &b);
    nas_node *nd = nas__record(g, bn_bwd, y, in, 3);
    if (nd) {
        nd->pa[0] = b.mean;
        nd->pa[1] = b.rstd;
        nd->ia[0] = batch_stats;
    }
    /* statistics (sum, squares) and the affine normalisation: 5 per element */
    NAS__PROF(nas__prof_op(g, NAS_PROF_BN, y, &x, 1, 5.0 * (double)nas_tensor_numel(y)));
    NAS__EX(g, nas__ex_bn(g, y, x, gamma, beta, running_mean, running_var, eps));
    return y;
}
