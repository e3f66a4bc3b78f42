/*
 * darts_search.c - one DARTS search step: the architecture step (Adam on
 * alpha along the first- or second-order architecture gradient) and then
 * the weight step (SGD with momentum, weight decay and clipping on w).
 *
 * The one design decision to know: every pass of the second-order
 * gradient works in place on the store. The weights group is one flat
 * array, so the snapshot, the virtual step w' = w - xi (momentum buf +
 * grad + wd w), the probes w0 +- eps v and the restore are loops over it,
 * and the restore is a memcpy of the snapshot (bit-exact, unlike adding
 * and subtracting eps v back). Backward is limited to the groups a pass
 * needs: the two Hessian probes and the first-order gradient ask for
 * NAS_GROUP_ARCH only, so the tape skips every weight gradient (the dW
 * GEMM of each conv, the head's dW) and every node that no alpha feeds
 * (the stem, the first cell's preprocessing and its input-edge op chains);
 * PyTorch's autograd.grad(loss, alphas) still walks the whole graph, and
 * the reference's first-order step fills the weight gradients as well.
 */
#include "search/darts.h"

#include <math.h>
#include <stdlib.h>

int nas__darts_search_init(nas__darts_search *s, nas_params *p, nas_graph *g,
                           const nas__darts_net *net, const nas_darts_cfg *cfg,
                           const nas_darts_hp *hp)
{
    *s = (nas__darts_search){.p = p, .g = g, .net = net, .cfg = *cfg,
                             .hp = *hp};
    s->sgd = (nas_sgd){.momentum = hp->momentum,
                       .weight_decay = hp->weight_decay};
    s->adam = (nas_adam){.lr = hp->arch_lr, .beta1 = hp->arch_beta1,
                         .beta2 = hp->arch_beta2, .eps = 1e-8f,
                         .weight_decay = hp->arch_weight_decay};
    nas_params_group(p, NAS_GROUP_WEIGHTS, NULL, NULL, NULL, NULL, &s->nw);
    nas_params_group(p, NAS_GROUP_ARCH, NULL, NULL, NULL, NULL, &s->na);
    int rc = NAS_OK;
    if (hp->order == 2) {
        s->w0 = malloc(s->nw * sizeof(float));
        s->v = malloc(s->nw * sizeof(float));
    }
    s->ga = malloc(s->na * sizeof(float));
    s->gb = malloc(s->na * sizeof(float));
    if ((hp->order == 2 && (!s->w0 || !s->v)) || !s->ga || !s->gb) {
        rc = nas_fail(NAS_ENOMEM, "darts: out of memory");
        goto fail;
    }
    return NAS_OK;

fail:
    nas__darts_search_free(s);
    return rc;
}

void nas__darts_search_free(nas__darts_search *s)
{
    free(s->w0);
    free(s->v);
    free(s->ga);
    free(s->gb);
    s->w0 = s->v = s->ga = s->gb = NULL;
}

/* Forward of one batch on a fresh tape; *logits may be NULL. */
static nas_tensor *loss_of(nas__darts_search *s, const nas_darts_batch *b,
                           int update_stats, nas_tensor **logits)
{
    nas_graph_reset(s->g);
    const nas_darts_cfg *c = &s->cfg;
    nas_tensor *x = nas_tensor_new4(s->g, b->n, c->in_c, c->h, c->w);
    memcpy(x->data, b->x, nas_tensor_numel(x) * sizeof(float));
    nas_tensor *out = nas__darts_forward(s->g, s->p, s->net, x, update_stats);
    if (logits)
        *logits = out;
    return nas_cross_entropy(s->g, out, b->y);
}

/* grad of L(batch) for the groups in mask, zeroed first; returns L. */
static double grad_of(nas__darts_search *s, const nas_darts_batch *b,
                      uint32_t mask)
{
    nas_tensor *loss = loss_of(s, b, 0, NULL);
    nas_params_zero_grad(s->p, mask);
    nas_graph_backward(s->g, loss, mask);
    return loss->data[0];
}

static double norm2(const float *v, size_t n)
{
    double acc = 0.0;
    for (size_t i = 0; i < n; i++)
        acc += (double)v[i] * v[i];
    return sqrt(acc);
}

/* grad_alpha L_val(w', alpha) - xi H v, see the header. */
static double second_order(nas__darts_search *s, const nas_darts_batch *train,
                           const nas_darts_batch *val, float xi,
                           nas__darts_parts *parts)
{
    const uint32_t W = NAS_MASK(NAS_GROUP_WEIGHTS), A = NAS_MASK(NAS_GROUP_ARCH);
    float *w, *gw, *buf, *ga;
    size_t nw = s->nw, na = s->na;
    nas_params_group(s->p, NAS_GROUP_WEIGHTS, &w, &gw, &buf, NULL, NULL);
    nas_params_group(s->p, NAS_GROUP_ARCH, NULL, &ga, NULL, NULL, NULL);
    memcpy(s->w0, w, nw * sizeof(float));

    /* The virtual step of the real optimizer (no clipping, like the
     * reference); before the first real step there is no momentum buffer. */
    grad_of(s, train, W);
    float mu = s->sgd.steps > 0 ? s->hp.momentum : 0.0f, wd = s->hp.weight_decay;
    const float *w0 = s->w0;
    for (size_t i = 0; i < nw; i++)
        w[i] = w0[i] - xi * (mu * buf[i] + gw[i] + wd * w0[i]);

    /* At w': dalpha = grad_alpha L_val and v = grad_w' L_val, one pass. */
    double val_loss = grad_of(s, val, W | A);
    memcpy(s->v, gw, nw * sizeof(float));
    float *dalpha = s->gb;
    memcpy(dalpha, ga, na * sizeof(float));
    if (parts && parts->dalpha)
        memcpy(parts->dalpha, dalpha, na * sizeof(float));

    /* H v by central differences at w0 +- eps v, alpha gradients only. */
    double vn = norm2(s->v, nw);
    float *hv = s->ga;   /* g+ first, then H v */
    memset(hv, 0, na * sizeof(float));
    if (vn > 0.0) {
        double r = s->hp.fd_r > 0.0f ? s->hp.fd_r : 0.01;
        float eps = (float)(r / vn);
        const float *v = s->v;
        for (size_t i = 0; i < nw; i++)
            w[i] = w0[i] + eps * v[i];
        grad_of(s, train, A);
        memcpy(hv, ga, na * sizeof(float));
        for (size_t i = 0; i < nw; i++)
            w[i] = w0[i] - eps * v[i];
        grad_of(s, train, A);
        for (size_t k = 0; k < na; k++)
            hv[k] = (float)(((double)hv[k] - ga[k]) / (2.0 * eps));
    }
    memcpy(w, w0, nw * sizeof(float));
    if (parts && parts->hv)
        memcpy(parts->hv, hv, na * sizeof(float));
    for (size_t k = 0; k < na; k++)
        ga[k] = dalpha[k] - xi * hv[k];
    return val_loss;
}

double nas__darts_arch_grad(nas__darts_search *s, const nas_darts_batch *train,
                            const nas_darts_batch *val, int order, float xi,
                            nas__darts_parts *parts)
{
    NAS_ASSERT((order == 1 || (order == 2 && s->w0)) &&
               "darts: order 2 needs a search initialised with order 2");
    double loss;
    if (order == 1)
        loss = grad_of(s, val, NAS_MASK(NAS_GROUP_ARCH));
    else
        loss = second_order(s, train, val, xi, parts);
    if (parts)
        parts->val_loss = loss;
    nas_graph_reset(s->g);
    return loss;
}

void nas__darts_step(nas__darts_search *s, const nas_darts_batch *train,
                     const nas_darts_batch *val, float lr, nas_darts_stats *st)
{
    const uint32_t W = NAS_MASK(NAS_GROUP_WEIGHTS);
    double val_loss = nas__darts_arch_grad(s, train, val, s->hp.order, lr, NULL);
    nas_adam_step(&s->adam, s->p, NAS_GROUP_ARCH);

    nas_tensor *logits;
    nas_tensor *loss = loss_of(s, train, 1, &logits);
    nas_params_zero_grad(s->p, W);
    nas_graph_backward(s->g, loss, W);
    if (s->hp.grad_clip > 0.0f)
        nas_clip_grad_norm(s->p, NAS_GROUP_WEIGHTS, s->hp.grad_clip);
    s->sgd.lr = lr;
    nas_sgd_step(&s->sgd, s->p, NAS_GROUP_WEIGHTS);
    if (st) {
        int k = s->cfg.classes, correct = 0;
        for (int i = 0; i < train->n; i++) {
            const float *row = logits->data + (size_t)i * k;
            int best = 0;
            for (int j = 1; j < k; j++)
                if (row[j] > row[best])
                    best = j;
            correct += best == train->y[i];
        }
        st->train_loss = loss->data[0];
        st->train_correct = correct;
        st->val_loss = val_loss;
    }
    nas_graph_reset(s->g);
}
