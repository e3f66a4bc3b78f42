// SPDX-License-Identifier: MIT
/*
 * image_net.c - the one builder of a `train` job's image network (see
 * image_net.h): a fixed CNN (conv3x3-BN-ReLU blocks with max pooling,
 * then linear-ReLU-[dropout]-linear), the discrete network of a DARTS
 * genotype (search/darts/darts_net.c) or one fixed arc of an ENAS CNN
 * space (search/enas/enas_micro.c, enas_macro.c).
 *
 * The one design decision to know: the train job and the model loader
 * both declare through nas__image_net_declare, so a model file's tensors
 * are exactly the parameters declared here, by name and shape.
 */
#include "image_net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add(nas_params *p, const char *name, int group, enum nas_init init, int ndim, int a,
               int b, int c, int d)
{
    int shape[4] = {a, b, c, d};
    return nas_params_add(p, name, group, init, 1.0f, ndim, shape);
}

/* Declares the blocks; *h, *w track the map through the poolings. */
static int declare_blocks(nas_params *p, nas__image_net *n, const nas_job_spec *s, int cin, int *h,
                          int *w)
{
    const int W = NAS_GROUP_WEIGHTS, S = NAS_GROUP_STATE;
    char name[64];
    for (int i = 0; i < s->nblocks; i++) {
        int co = s->channels[i];
        nas__cnn_block *b = &n->b[i];
#define NAME(what) (snprintf(name, sizeof(name), "block%d." what, i), name)
        if ((b->w = add(p, NAME("conv.w"), W, NAS_INIT_KAIMING, 4, co, cin, 3, 3)) < 0 ||
            (b->gamma = add(p, NAME("bn.gamma"), W, NAS_INIT_ONE, 1, co, 0, 0, 0)) < 0 ||
            (b->beta = add(p, NAME("bn.beta"), W, NAS_INIT_ZERO, 1, co, 0, 0, 0)) < 0 ||
            (b->mean = add(p, NAME("bn.running_mean"), S, NAS_INIT_ZERO, 1, co, 0, 0, 0)) < 0 ||
            (b->var = add(p, NAME("bn.running_var"), S, NAS_INIT_ONE, 1, co, 0, 0, 0)) < 0)
            return NAS_ENOMEM;
#undef NAME
        b->pool = *h > 4 || *w > 4;
        if (b->pool) {
            *h = (*h - 1) / 2 + 1; /* 3x3, stride 2, pad 1 */
            *w = (*w - 1) / 2 + 1;
        }
        cin = co;
    }
    return cin;
}

int nas__image_net_declare(nas_params *p, const nas_job_spec *s, const nas_dataset_desc *d,
                           nas__image_net *n)
{
    int h = d->h, w = d->w;
    n->nblocks = s->nblocks;
    n->classes = d->classes;
    n->dropout = s->dropout;
    if (s->arch == NAS_ARCH_DARTS_CNN) {
        nas_darts_cfg cfg = {.C = s->C,
                             .layers = s->layers,
                             .in_c = d->c,
                             .h = d->h,
                             .w = d->w,
                             .classes = d->classes,
                             .auxiliary = s->aux_weight > 0.0f};
        return nas__darts_fixed_declare(p, &cfg, &s->darts_cnn, &n->darts);
    }
    if (s->arch == NAS_ARCH_ENAS_CNN) { /* validated by job.c */
        nas_enas_cfg cfg = {.C = s->C,
                            .layers = s->layers,
                            .nodes = s->nodes,
                            .in_c = d->c,
                            .h = d->h,
                            .w = d->w,
                            .classes = d->classes,
                            .dropout = s->dropout,
                            .aux = s->aux_weight > 0.0f};
        n->enas = nas__enas_space_find(s->search_space);
        if (strcmp(n->enas->name, "enas-macro") == 0)
            cfg.nodes = 0;
        int rc = n->enas->declare(p, &cfg, &n->enas_self);
        if (rc < 0)
            return rc;
        int len = nas__enas_arc_len(n->enas, n->enas_self);
        if (!(n->arc = calloc((size_t)len + 1, sizeof(int))))
            return nas_fail(NAS_ENOMEM, "train: out of memory");
        return nas__enas_arc_parse(n->enas, n->enas_self, s->genotype, n->arc);
    }
    int c = declare_blocks(p, n, s, d->c, &h, &w);
    if (c < 0)
        return c;
    n->flat = c * h * w;
    const int W = NAS_GROUP_WEIGHTS;
    if ((n->fc1w = add(p, "fc1.w", W, NAS_INIT_KAIMING, 2, s->hidden, n->flat, 0, 0)) < 0 ||
        (n->fc1b = add(p, "fc1.b", W, NAS_INIT_ZERO, 1, s->hidden, 0, 0, 0)) < 0 ||
        (n->fc2w = add(p, "fc2.w", W, NAS_INIT_KAIMING, 2, n->classes, s->hidden, 0, 0)) < 0 ||
        (n->fc2b = add(p, "fc2.b", W, NAS_INIT_ZERO, 1, n->classes, 0, 0, 0)) < 0)
        return NAS_ENOMEM;
    return NAS_OK;
}

nas_tensor *nas__image_net_forward(nas_graph *g, nas_params *p, const nas__image_net *n,
                                   nas_tensor *x, int train)
{
    if (n->enas)
        return n->enas->forward(n->enas_self, g, p, n->arc, x, train);
    if (n->darts)
        return nas__darts_fixed_forward(g, p, n->darts, x);
#define P(i) nas_params_get(p, (i))
    nas_tensor *h = x;
    for (int i = 0; i < n->nblocks; i++) {
        const nas__cnn_block *b = &n->b[i];
        h = nas_conv2d(g, h, P(b->w), NULL, 1, 1, 1, 1);
        h = nas_relu(
            g, nas_batchnorm(g, h, P(b->gamma), P(b->beta), P(b->mean), P(b->var), 0.1f, 1e-5f));
        if (b->pool)
            h = nas_maxpool2d(g, h, 3, 2, 1);
    }
    int flat[2] = {h->shape[0], n->flat};
    h = nas_reshape(g, h, 2, flat);
    h = nas_relu(g, nas_linear(g, h, P(n->fc1w), P(n->fc1b)));
    h = nas_dropout(g, h, n->dropout);
    return nas_linear(g, h, P(n->fc2w), P(n->fc2b));
#undef P
}

void nas__image_net_free(nas__image_net *n)
{
    if (!n)
        return;
    nas__darts_fixed_free(n->darts);
    if (n->enas_self)
        n->enas->free(n->enas_self);
    free(n->arc);
    n->darts = NULL;
    n->enas_self = NULL;
    n->arc = NULL;
}
