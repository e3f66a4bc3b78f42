// SPDX-License-Identifier: MIT
/*
 * optim.c - SGD with momentum, Adam, the cosine learning-rate schedule and
 * gradient-norm clipping, with PyTorch's semantics (torch.optim.SGD, Adam,
 * CosineAnnealingLR and nn.utils.clip_grad_norm_).
 *
 * The one design decision to know: an optimizer step works on a whole
 * parameter group at once, as flat arrays taken from the store (data,
 * grad, moment1, moment2 planes), not tensor by tensor. The kernels are
 * plain loops over restrict float pointers so that they vectorise; the
 * padding floats between tensors are zero in every plane and stay zero
 * (zero gradient and zero weight give a zero update).
 */
#include "internal.h"

#include <math.h>

/* w (n), g (n), buf (n): one SGD step. first: buf = d instead of
 * momentum buf + d. */
static void sgd_kernel(float *restrict w, const float *restrict g, float *restrict buf, size_t n,
                       float lr, float mu, float wd, int nesterov, int first)
{
    if (first) {
        for (size_t i = 0; i < n; i++)
            buf[i] = g[i] + wd * w[i];
    } else {
        for (size_t i = 0; i < n; i++)
            buf[i] = mu * buf[i] + (g[i] + wd * w[i]);
    }
    if (nesterov) {
        for (size_t i = 0; i < n; i++) {
            float d = g[i] + wd * w[i];
            w[i] -= lr * (d + mu * buf[i]);
        }
    } else {
        for (size_t i = 0; i < n; i++)
            w[i] -= lr * buf[i];
    }
}

void nas_sgd_step(nas_sgd *opt, nas_params *p, int group)
{
    float *w, *g, *buf;
    size_t n;
    nas_params_group(p, group, &w, &g, &buf, NULL, &n);
    NAS__PROF(nas__prof_push(NAS_PROF_OPTIM));
    sgd_kernel(w, g, buf, n, opt->lr, opt->momentum, opt->weight_decay, opt->nesterov,
               opt->steps == 0);
    /* w and buf read and written, g read; decay, momentum, Nesterov, step */
    NAS__PROF(nas__prof_pop(6.0 * (double)n, 20.0 * (double)n));
    opt->steps++;
}

/* w, g, m, v (n): one Adam step; c1 = lr / (1 - b1^t),
 * c2 = sqrt(1 - b2^t), applied in torch's order. */
static void adam_kernel(float *restrict w, const float *restrict g, float *restrict m,
                        float *restrict v, size_t n, float b1, float b2, float eps, float wd,
                        float c1, float c2)
{
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + wd * w[i];
        float mi = b1 * m[i] + (1.0f - b1) * d;
        float vi = b2 * v[i] + (1.0f - b2) * d * d;
        m[i] = mi;
        v[i] = vi;
        w[i] -= c1 * (mi / (sqrtf(vi) / c2 + eps));
    }
}

void nas_adam_step(nas_adam *opt, nas_params *p, int group)
{
    float *w, *g, *m, *v;
    size_t n;
    nas_params_group(p, group, &w, &g, &m, &v, &n);
    opt->steps++;
    /* Bias corrections in double: b2^t stays accurate for large t. */
    double t = (double)opt->steps;
    double bc1 = 1.0 - pow((double)opt->beta1, t);
    double bc2 = 1.0 - pow((double)opt->beta2, t);
    NAS__PROF(nas__prof_push(NAS_PROF_OPTIM));
    adam_kernel(w, g, m, v, n, opt->beta1, opt->beta2, opt->eps, opt->weight_decay,
                (float)(opt->lr / bc1), (float)sqrt(bc2));
    /* w, m, v read and written, g read */
    NAS__PROF(nas__prof_pop(14.0 * (double)n, 28.0 * (double)n));
}

float nas_cosine_lr(float lr_max, float lr_min, int64_t t, int64_t T)
{
    /* Past the end (or with no schedule at all) stay at lr_min rather than
     * climbing back up the next half period. */
    if (t >= T)
        return lr_min;
    if (t <= 0)
        return lr_max;
    double c = cos(M_PI * (double)t / (double)T);
    return (float)(lr_min + ((double)lr_max - lr_min) * (1.0 + c) / 2.0);
}

/* Sum of squares in double over four independent lanes, so that the loop
 * vectorises without reassociating a single accumulator. */
static double sum_squares(const float *restrict g, size_t n)
{
    double acc[4] = {0.0, 0.0, 0.0, 0.0};
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++)
            acc[k] += (double)g[i + k] * (double)g[i + k];
    for (; i < n; i++)
        acc[0] += (double)g[i] * (double)g[i];
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

float nas_clip_grad_norm(nas_params *p, int group, float max_norm)
{
    float *g;
    size_t n;
    nas_params_group(p, group, NULL, &g, NULL, NULL, &n);
    NAS__PROF(nas__prof_push(NAS_PROF_OPTIM));
    double norm = sqrt(sum_squares(g, n));
    int clip = norm > (double)max_norm;
    if (clip) {
        float s = (float)((double)max_norm / (norm + 1e-6));
        for (size_t i = 0; i < n; i++)
            g[i] *= s;
    }
    NAS__PROF(nas__prof_pop((clip ? 3.0 : 2.0) * (double)n, (clip ? 12.0 : 4.0) * (double)n));
    return (float)norm;
}
