// SPDX-License-Identifier: MIT
/*
 * aux_head.c - the auxiliary classifier of the references' CNN trainings
 * (Szegedy et al.'s auxiliary tower as quark0/darts AuxiliaryHeadCIFAR and
 * melodyguan/enas micro_child's aux head build it): ReLU, average pooling
 * 5x5 stride 3 without padding (an 8x8 map becomes 2x2), 1x1 convolution
 * to 128 channels, batch norm, ReLU, a convolution over the whole pooled
 * map to 768 channels (2x2 -> 1x1), batch norm, ReLU, and a linear layer
 * to the classes. Its loss, weighted, is added to the network's during
 * training only; inference never runs it.
 *
 * The one design decision to know: the pooling is scaled to the map it
 * gets, so that the head fits any input size with the reference's shape
 * on 8x8: a side s of 7 or more pools 5x5 with stride s - 5 (8: stride 3,
 * the reference; 7, Fashion-MNIST after two reductions: stride 2), 4 to 6
 * pools 3x3 with stride s - 3, and smaller maps are not pooled; the second
 * convolution's kernel is the pooled side, so the head always ends 1x1.
 * Batch norm keeps running statistics like every other BN of the network
 * (used by nobody at inference, but saved, so a resume is exact).
 */
#include "internal.h"

#include <stdio.h>

#define AUX_MID 128 /* the references' channels */
#define AUX_OUT 768

static int add(nas_params *p, const char *prefix, const char *name, int group, enum nas_init init,
               int ndim, int a, int b, int c, int d)
{
    char full[160];
    snprintf(full, sizeof(full), "%s%s", prefix, name);
    int shape[4] = {a, b, c, d};
    int i = nas_params_add(p, full, group, init, 1.0f, ndim, shape);
    return i < 0 ? nas_fail(NAS_ENOMEM, "aux head: out of memory") : i;
}

void nas_aux_head_geometry(int side, int *pool_k, int *pool_stride, int *conv_k)
{
    NAS_ASSERT(side >= 1);
    if (side >= 7) {
        *pool_k = 5;
        *pool_stride = side - 5;
    } else if (side >= 4) {
        *pool_k = 3;
        *pool_stride = side - 3;
    } else {
        *pool_k = 1;
        *pool_stride = 1;
    }
    *conv_k = (side - *pool_k) / *pool_stride + 1;
}

int nas_aux_head_declare(nas_params *p, const char *prefix, int c_in, int side, int classes,
                         nas_aux_head *out)
{
    const int W = NAS_GROUP_WEIGHTS, S = NAS_GROUP_STATE;
    nas_aux_head *h = out;
    nas_aux_head_geometry(side, &h->pool_k, &h->pool_stride, &h->conv_k);
    int k = h->conv_k;
    int mid = h->mid = h->mid > 0 ? h->mid : AUX_MID;
    int oc = h->out_c = h->out_c > 0 ? h->out_c : AUX_OUT;
    if ((h->w1 = add(p, prefix, "conv1.w", W, NAS_INIT_KAIMING, 4, mid, c_in, 1, 1)) < 0 ||
        (h->bn1 = add(p, prefix, "bn1.gamma", W, NAS_INIT_ONE, 1, mid, 0, 0, 0)) < 0 ||
        add(p, prefix, "bn1.beta", W, NAS_INIT_ZERO, 1, mid, 0, 0, 0) < 0 ||
        (h->bn1_stats = add(p, prefix, "bn1.running_mean", S, NAS_INIT_ZERO, 1, mid, 0, 0, 0)) <
            0 ||
        add(p, prefix, "bn1.running_var", S, NAS_INIT_ONE, 1, mid, 0, 0, 0) < 0 ||
        (h->w2 = add(p, prefix, "conv2.w", W, NAS_INIT_KAIMING, 4, oc, mid, k, k)) < 0 ||
        (h->bn2 = add(p, prefix, "bn2.gamma", W, NAS_INIT_ONE, 1, oc, 0, 0, 0)) < 0 ||
        add(p, prefix, "bn2.beta", W, NAS_INIT_ZERO, 1, oc, 0, 0, 0) < 0 ||
        (h->bn2_stats = add(p, prefix, "bn2.running_mean", S, NAS_INIT_ZERO, 1, oc, 0, 0, 0)) < 0 ||
        add(p, prefix, "bn2.running_var", S, NAS_INIT_ONE, 1, oc, 0, 0, 0) < 0 ||
        (h->fc_w = add(p, prefix, "fc.w", W, NAS_INIT_KAIMING, 2, classes, oc, 0, 0)) < 0 ||
        (h->fc_b = add(p, prefix, "fc.b", W, NAS_INIT_ZERO, 1, classes, 0, 0, 0)) < 0)
        return NAS_ENOMEM;
    return NAS_OK;
}

size_t nas_aux_head_weights(int c_in, int side, int classes)
{
    int pk, ps, k;
    nas_aux_head_geometry(side, &pk, &ps, &k);
    return (size_t)AUX_MID * c_in + 2u * AUX_MID + (size_t)AUX_OUT * AUX_MID * k * k +
           2u * AUX_OUT + (size_t)classes * AUX_OUT + (size_t)classes;
}

nas_tensor *nas_aux_head_forward(nas_graph *g, nas_params *p, const nas_aux_head *h, nas_tensor *x)
{
#define P(i) nas_params_get(p, (i))
    nas_tensor *y = nas_relu(g, x);
    if (h->pool_k > 1)
        y = nas_avgpool2d(g, y, h->pool_k, h->pool_stride, 0);
    y = nas_conv2d(g, y, P(h->w1), NULL, 1, 0, 1, 1);
    y = nas_relu(g, nas_batchnorm(g, y, P(h->bn1), P(h->bn1 + 1), P(h->bn1_stats),
                                  P(h->bn1_stats + 1), 0.1f, 1e-5f));
    y = nas_conv2d(g, y, P(h->w2), NULL, 1, 0, 1, 1);
    y = nas_relu(g, nas_batchnorm(g, y, P(h->bn2), P(h->bn2 + 1), P(h->bn2_stats),
                                  P(h->bn2_stats + 1), 0.1f, 1e-5f));
    NAS_ASSERT(y->shape[2] == 1 && y->shape[3] == 1);
    int flat[2] = {y->shape[0], y->shape[1]};
    return nas_linear(g, nas_reshape(g, y, 2, flat), P(h->fc_w), P(h->fc_b));
#undef P
}
