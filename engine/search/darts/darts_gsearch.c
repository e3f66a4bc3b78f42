// SPDX-License-Identifier: MIT
/*
 * darts_gsearch.c - the DARTS search step (darts_search.c) over a model
 * given as a loss callback, for models whose batches carry state: the
 * recurrent search space's language model carries its hidden state from
 * one BPTT chunk to the next, separately for the train and the val
 * stream, and the reference keeps the val state of the architecture
 * step's val pass and the train state of the weight step only.
 *
 * The one design decision to know: this file holds the one implementation
 * of the step (nas__darts_core_*), over a model given as a callback;
 * darts_search.c passes the convolutional supernet through it. The maths:
 * snapshot, virtual step w' = w - xi (momentum buf + grad + wd w),
 * central-difference H v at w0 +- eps v, bit-exact restore by memcpy,
 * plus the option of the reference's rnn architect to clip grad_w before
 * the virtual step and v at w' to the weight optimizer's clip norm, and to
 * scale the implicit term by the virtual step's clip coefficient.
 *
 * Data parallel (the graph has a nas_dist): every gradient pass ends with
 * one sum over the group of each asked-for group's contiguous gradient
 * range (weights, alpha), so every rank goes on with the global batch's
 * gradient and the same bits; the loss callback scales its rank's loss by
 * its share of the global batch, which makes that sum the global mean's
 * gradient.
 */
#include "search/darts/darts.h"

#include <math.h>
#include <stdlib.h>

int nas__darts_gsearch_init(nas__darts_gsearch *s, nas_params *p, nas_graph *g,
                            nas__darts_loss_fn loss, void *ctx, const nas_darts_hp *hp,
                            int clip_unrolled)
{
    *s = (nas__darts_gsearch){
        .p = p, .g = g, .loss = loss, .ctx = ctx, .hp = *hp, .clip_unrolled = clip_unrolled};
    s->sgd = (nas_sgd){.momentum = hp->momentum, .weight_decay = hp->weight_decay};
    s->adam = (nas_adam){.lr = hp->arch_lr,
                         .beta1 = hp->arch_beta1,
                         .beta2 = hp->arch_beta2,
                         .eps = 1e-8f,
                         .weight_decay = hp->arch_weight_decay};
    nas_params_group(p, NAS_GROUP_WEIGHTS, NULL, NULL, NULL, NULL, &s->nw);
    nas_params_group(p, NAS_GROUP_ARCH, NULL, NULL, NULL, NULL, &s->na);
    if (hp->order == 2) {
        s->w0 = malloc(s->nw * sizeof(float));
        s->v = malloc(s->nw * sizeof(float));
    }
    s->ga = malloc(s->na * sizeof(float));
    s->gb = malloc(s->na * sizeof(float));
    if ((hp->order == 2 && (!s->w0 || !s->v)) || !s->ga || !s->gb) {
        nas__darts_gsearch_free(s);
        return nas_fail(NAS_ENOMEM, "darts: out of memory");
    }
    return NAS_OK;
}

void nas__darts_gsearch_free(nas__darts_gsearch *s)
{
    free(s->w0);
    free(s->v);
    free(s->ga);
    free(s->gb);
    s->w0 = s->v = s->ga = s->gb = NULL;
}

/* grad of L(batch) for the groups in mask, zeroed first; returns L. */
static double grad_of(const nas__darts_core *s, const void *batch, enum nas__darts_pass pass,
                      uint32_t mask)
{
    nas_graph_reset(s->g);
    nas_tensor *loss = s->loss(s->ctx, s->g, batch, pass);
    nas_params_zero_grad(s->p, mask);
    nas_graph_backward(s->g, loss, mask);
    const nas_dist *d = s->g->dist;
    for (int grp = 0; d && grp < NAS_GROUP_COUNT; grp++) {
        float *gr;
        size_t n;
        if (!(mask & NAS_MASK(grp)))
            continue;
        nas_params_group(s->p, grp, NULL, &gr, NULL, NULL, &n);
        if (n)
            d->sum_f32(d->ctx, gr, n);
    }
    double l = loss->data[0];
    if (d)
        d->sum_f64(d->ctx, &l, 1);
    return l;
}

static double norm2(const float *v, size_t n)
{
    double acc = 0.0;
    for (size_t i = 0; i < n; i++)
        acc += (double)v[i] * v[i];
    return sqrt(acc);
}

/* torch.nn.utils.clip_grad_norm_'s rule on a flat vector. */
static void clip(float *v, size_t n, float max_norm)
{
    if (max_norm <= 0.0f)
        return;
    double coef = max_norm / (norm2(v, n) + 1e-6);
    if (coef < 1.0)
        for (size_t i = 0; i < n; i++)
            v[i] = (float)(v[i] * coef);
}

/* grad_alpha L_val(w', alpha) - xi H v, see the header. */
static double second_order(const nas__darts_core *s, const void *train, const void *val, float xi,
                           nas__darts_parts *parts)
{
    const uint32_t W = NAS_MASK(NAS_GROUP_WEIGHTS), A = NAS_MASK(NAS_GROUP_ARCH);
    float *w, *gw, *buf, *ga;
    size_t nw = s->nw, na = s->na;
    nas_params_group(s->p, NAS_GROUP_WEIGHTS, &w, &gw, &buf, NULL, NULL);
    nas_params_group(s->p, NAS_GROUP_ARCH, NULL, &ga, NULL, NULL, NULL);
    memcpy(s->w0, w, nw * sizeof(float));

    /* The virtual step of the real optimizer; before the first real step
     * there is no momentum buffer. */
    grad_of(s, train, NAS__DARTS_PASS_UNROLL, W);
    /* The reference's rnn _clip returns max_norm / (norm + 1e-6) whether or
     * not it clipped, and the implicit term is scaled by eta times it. */
    double coef = 1.0;
    if (s->clip_unrolled && s->hp->grad_clip > 0.0f)
        coef = s->hp->grad_clip / (norm2(gw, nw) + 1e-6);
    if (s->clip_unrolled)
        clip(gw, nw, s->hp->grad_clip);
    float mu = s->sgd->steps > 0 ? s->hp->momentum : 0.0f;
    float wd = s->hp->weight_decay;
    const float *w0 = s->w0;
    for (size_t i = 0; i < nw; i++)
        w[i] = w0[i] - xi * (mu * buf[i] + gw[i] + wd * w0[i]);

    /* At w': dalpha = grad_alpha L_val and v = grad_w' L_val, one pass. */
    double val_loss = grad_of(s, val, NAS__DARTS_PASS_VAL, W | A);
    memcpy(s->v, gw, nw * sizeof(float));
    if (s->clip_unrolled)
        clip(s->v, nw, s->hp->grad_clip);
    float *dalpha = s->gb;
    memcpy(dalpha, ga, na * sizeof(float));
    if (parts && parts->dalpha)
        memcpy(parts->dalpha, dalpha, na * sizeof(float));

    /* H v by central differences at w0 +- eps v, alpha gradients only. */
    double vn = norm2(s->v, nw);
    float *hv = s->ga; /* g+ first, then H v */
    memset(hv, 0, na * sizeof(float));
    if (vn > 0.0) {
        double r = s->hp->fd_r > 0.0f ? s->hp->fd_r : 0.01;
        float eps = (float)(r / vn);
        const float *v = s->v;
        for (size_t i = 0; i < nw; i++)
            w[i] = w0[i] + eps * v[i];
        grad_of(s, train, NAS__DARTS_PASS_PROBE, A);
        memcpy(hv, ga, na * sizeof(float));
        for (size_t i = 0; i < nw; i++)
            w[i] = w0[i] - eps * v[i];
        grad_of(s, train, NAS__DARTS_PASS_PROBE, A);
        for (size_t k = 0; k < na; k++)
            hv[k] = (float)(((double)hv[k] - ga[k]) / (2.0 * eps));
    }
    memcpy(w, w0, nw * sizeof(float));
    if (parts && parts->hv)
        memcpy(parts->hv, hv, na * sizeof(float));
    if (parts)
        parts->clip_coef = coef;
    float scale = (float)(xi * coef);
    for (size_t k = 0; k < na; k++)
        ga[k] = dalpha[k] - scale * hv[k];
    return val_loss;
}

double nas__darts_core_arch_grad(const nas__darts_core *s, const void *train, const void *val,
                                 int order, float xi, nas__darts_parts *parts)
{
    NAS_ASSERT((order == 1 || (order == 2 && s->w0)) &&
               "darts: order 2 needs a search initialised with order 2");
    double loss;
    if (order == 1)
        loss = grad_of(s, val, NAS__DARTS_PASS_VAL, NAS_MASK(NAS_GROUP_ARCH));
    else
        loss = second_order(s, train, val, xi, parts);
    if (parts)
        parts->val_loss = loss;
    nas_graph_reset(s->g);
    return loss;
}

double nas__darts_core_step(const nas__darts_core *s, const void *train, const void *val, float lr,
                            double *val_loss)
{
    const uint32_t W = NAS_MASK(NAS_GROUP_WEIGHTS);
    double vl = nas__darts_core_arch_grad(s, train, val, s->hp->order, lr, NULL);
    nas_adam_step(s->adam, s->p, NAS_GROUP_ARCH);
    double loss = grad_of(s, train, NAS__DARTS_PASS_WEIGHT, W);
    if (s->hp->grad_clip > 0.0f)
        nas_clip_grad_norm(s->p, NAS_GROUP_WEIGHTS, s->hp->grad_clip);
    s->sgd->lr = lr;
    nas_sgd_step(s->sgd, s->p, NAS_GROUP_WEIGHTS);
    nas_graph_reset(s->g);
    if (val_loss)
        *val_loss = vl;
    return loss;
}

static nas__darts_core core_of(nas__darts_gsearch *s)
{
    return (nas__darts_core){.p = s->p,
                             .g = s->g,
                             .loss = s->loss,
                             .ctx = s->ctx,
                             .hp = &s->hp,
                             .clip_unrolled = s->clip_unrolled,
                             .sgd = &s->sgd,
                             .adam = &s->adam,
                             .nw = s->nw,
                             .na = s->na,
                             .w0 = s->w0,
                             .v = s->v,
                             .ga = s->ga,
                             .gb = s->gb};
}

double nas__darts_gsearch_arch_grad(nas__darts_gsearch *s, const void *train, const void *val,
                                    int order, float xi, nas__darts_parts *parts)
{
    nas__darts_core c = core_of(s);
    return nas__darts_core_arch_grad(&c, train, val, order, xi, parts);
}

double nas__darts_gsearch_step(nas__darts_gsearch *s, const void *train, const void *val, float lr,
                               double *val_loss)
{
    nas__darts_core c = core_of(s);
    return nas__darts_core_step(&c, train, val, lr, val_loss);
}
