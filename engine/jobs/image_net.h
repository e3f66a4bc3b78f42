// SPDX-License-Identifier: MIT
/*
 * image_net.h - the network of a `train` job on an image dataset, built
 * from its spec: the fixed CNN, the discrete network of a darts-cnn
 * genotype or one fixed arc of an ENAS CNN space (internal).
 *
 * The one design decision to know: this is the only builder of these
 * networks. The train job (train_image.c) trains what it declares and the
 * model loader (predict.c) rebuilds the same network from a model file's
 * architecture, so the two cannot drift apart: same parameter names,
 * same shapes, same forward.
 */
#ifndef NAS_IMAGE_NET_H
#define NAS_IMAGE_NET_H

#include "jobs.h"
#include "search/darts/darts.h"
#include "search/enas/enas.h"

typedef struct nas__cnn_block {
    int w, gamma, beta, mean, var;
    int pool; /* followed by max pooling */
} nas__cnn_block;

typedef struct nas__image_net {
    int nblocks;
    nas__cnn_block b[NAS_MAX_BLOCKS];
    int fc1w, fc1b, fc2w, fc2b;
    int flat, classes;
    float dropout;
    nas__darts_fixed *darts;    /* NAS_ARCH_DARTS_CNN: the whole network */
    const nas_enas_space *enas; /* NAS_ARCH_ENAS_CNN: the space, */
    void *enas_self;            /* its state */
    int *arc;                   /* and the fixed arc */
} nas__image_net;

/* Declares the network of spec s on images shaped as d in p (not yet
 * allocated). NAS_OK or a negative error; n is freed with
 * nas__image_net_free either way. */
int nas__image_net_declare(nas_params *p, const nas_job_spec *s, const nas_dataset_desc *d,
                           nas__image_net *n);
/* x (N, C, H, W) -> logits (N, classes); train: a training step (ENAS
 * spaces fold the batch statistics into their running ones). With train 0
 * the forward only reads p, so threads may share one store. */
nas_tensor *nas__image_net_forward(nas_graph *g, nas_params *p, const nas__image_net *n,
                                   nas_tensor *x, int train);
void nas__image_net_free(nas__image_net *n);

#endif
