// SPDX-License-Identifier: MIT
/*
 * darts_search.c - one DARTS search step: the architecture step (Adam on
 * alpha along the first- or second-order architecture gradient) and then
 * the weight step (SGD with momentum, weight decay and clipping on w).
 *
 * The one design decision to know: the step itself is the callback
 * search's (nas__darts_core_*, darts_gsearch.c); this file passes the
 * supernet as the loss callback (update_stats only in the weight pass,
 * which also counts the correct predictions) and no unrolled clipping.
 * Every pass of the second-order gradient works in place on the store: the
 * snapshot, the virtual step, the probes w0 +- eps v and the restore are
 * loops over the flat weights group, and the restore is a memcpy of the
 * snapshot (bit-exact, unlike adding and subtracting eps v back).
 * Backward is limited to the groups a pass needs: the two Hessian probes
 * and the first-order gradient ask for NAS_GROUP_ARCH only, so the tape
 * skips every weight gradient (the dW GEMM of each conv, the head's dW)
 * and every node that no alpha feeds (the stem, the first cell's
 * preprocessing and its input-edge op chains); PyTorch's
 * autograd.grad(loss, alphas) still walks the whole graph, and the
 * reference's first-order step fills the weight gradients as well.
 */
#include "search/darts/darts.h"

#include <stdlib.h>

int nas__darts_search_init(nas__darts_search *s, nas_params *p, nas_graph *g,
                           const nas__darts_net *net, const nas_darts_cfg *cfg,
                           const nas_darts_hp *hp)
{
    *s = (nas__darts_search){.p = p, .g = g, .net = net, .cfg = *cfg, .hp = *hp};
    nas__darts_gsearch t; /* the same optimizers and scratch */
    int rc = nas__darts_gsearch_init(&t, p, g, NULL, NULL, hp, 0);
    if (rc != NAS_OK)
        return rc;
    s->sgd = t.sgd;
    s->adam = t.adam;
    s->nw = t.nw;
    s->na = t.na;
    s->w0 = t.w0;
    s->v = t.v;
    s->ga = t.ga;
    s->gb = t.gb;
    return NAS_OK;
}

void nas__darts_search_free(nas__darts_search *s)
{
    free(s->w0);
    free(s->v);
    free(s->ga);
    free(s->gb);
    s->w0 = s->v = s->ga = s->gb = NULL;
}

/* The supernet as a nas__darts_loss_fn: ctx a cnn_ctx, batch a
 * nas_darts_batch. The weight pass folds its batch into the BN running
 * statistics and counts its correct predictions. */
typedef struct cnn_ctx {
    nas__darts_search *s;
    int correct;
} cnn_ctx;

static nas_tensor *cnn_loss(void *ctx, nas_graph *g, const void *batch, enum nas__darts_pass pass)
{
    cnn_ctx *cc = ctx;
    nas__darts_search *s = cc->s;
    const nas_darts_batch *b = batch;
    const nas_darts_cfg *c = &s->cfg;
    int weight = pass == NAS__DARTS_PASS_WEIGHT;
    nas_tensor *x = nas_tensor_new4(g, b->n, c->in_c, c->h, c->w);
    memcpy(x->data, b->x, nas_tensor_numel(x) * sizeof(float));
    nas_tensor *out = nas__darts_forward(g, s->p, s->net, x, weight);
    if (weight) {
        int k = c->classes, correct = 0;
        for (int i = 0; i < b->n; i++) {
            const float *row = out->data + (size_t)i * k;
            int best = 0;
            for (int j = 1; j < k; j++)
                if (row[j] > row[best])
                    best = j;
            correct += best == b->y[i];
        }
        cc->correct = correct;
    }
    nas_tensor *loss = nas_cross_entropy(g, out, b->y);
    /* A rank's share of the global batch's mean (darts_gsearch.c). */
    if (g->dist && s->global_batch)
        loss = nas_scale(g, loss, (float)b->n / (float)s->global_batch);
    return loss;
}

static nas__darts_core core_of(nas__darts_search *s, cnn_ctx *cc)
{
    *cc = (cnn_ctx){.s = s};
    return (nas__darts_core){.p = s->p,
                             .g = s->g,
                             .loss = cnn_loss,
                             .ctx = cc,
                             .hp = &s->hp,
                             .clip_unrolled = 0,
                             .sgd = &s->sgd,
                             .adam = &s->adam,
                             .nw = s->nw,
                             .na = s->na,
                             .w0 = s->w0,
                             .v = s->v,
                             .ga = s->ga,
                             .gb = s->gb};
}

double nas__darts_arch_grad(nas__darts_search *s, const nas_darts_batch *train,
                            const nas_darts_batch *val, int order, float xi,
                            nas__darts_parts *parts)
{
    cnn_ctx cc;
    nas__darts_core c = core_of(s, &cc);
    return nas__darts_core_arch_grad(&c, train, val, order, xi, parts);
}

void nas__darts_step(nas__darts_search *s, const nas_darts_batch *train, const nas_darts_batch *val,
                     float lr, nas_darts_stats *st)
{
    cnn_ctx cc;
    nas__darts_core c = core_of(s, &cc);
    double val_loss;
    double loss = nas__darts_core_step(&c, train, val, lr, &val_loss);
    if (st) {
        double correct = cc.correct;
        if (s->g->dist)
            s->g->dist->sum_f64(s->g->dist->ctx, &correct, 1);
        st->train_loss = loss;
        st->train_correct = (int)correct;
        st->val_loss = val_loss;
    }
}
