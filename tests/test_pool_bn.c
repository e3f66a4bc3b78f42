// SPDX-License-Identifier: MIT
/*
 * test_pool_bn.c - nas_pool_bn, the fused 3x3 pooling + non-affine batch
 * norm of the DARTS pooling candidates: its forward (and the running
 * statistics it updates) against nas_maxpool2d / nas_avgpool2d followed by
 * nas_batchnorm, and a finite-difference gradient check in training and
 * eval mode (gradcheck.h gives the tolerances; max pooling gets inputs
 * spaced by 0.05 > 2h so no difference crosses a kink).
 */
#include "gradcheck.h"

typedef struct {
    int max, stride;
    nas_tensor *rm, *rv; /* eval mode only */
} pb_args;

static nas_tensor *f_pool_bn(nas_graph *g, nas_tensor **in, void *ctx)
{
    pb_args *a = ctx;
    return nas_pool_bn(g, in[0], a->max, a->stride, a->rm, a->rv, 0.1f, 1e-5f);
}

/* Shapes with odd and even sides, so stride 2 clips the last window, and
 * rows of 16 + 3 (two blocks of row_taps, which also runs the stride-1
 * average's backward). */
static const int shapes[3][4] = {{3, 2, 6, 5}, {2, 3, 7, 8}, {2, 2, 5, 19}};

Test(pool_bn, forward_matches_pool_then_batchnorm)
{
    nas_graph *g = nas_graph_new(1 << 20);
    nas_rng r;
    nas_rng_seed(&r, 11);
    for (int sh = 0; sh < 3; sh++)
        for (int max = 0; max < 2; max++)
            for (int stride = 1; stride <= 2; stride++)
                for (int training = 1; training >= 0; training--) {
                    nas_graph_reset(g);
                    nas_graph_set_training(g, training);
                    nas_tensor *x = nas_tensor_new(g, 4, shapes[sh]);
                    gc_fill(x, &r, 2.0f, 0.0f);
                    int c = shapes[sh][1];
                    nas_tensor *st[4];
                    for (int k = 0; k < 4; k++) {
                        st[k] = nas_tensor_new(g, 1, &c);
                        for (int i = 0; i < c; i++)
                            st[k]->data[i] =
                                k % 2 ? 1.5f + 0.1f * (float)i : 0.2f * (float)i - 0.1f;
                    }
                    nas_tensor *p =
                        max ? nas_maxpool2d(g, x, 3, stride, 1) : nas_avgpool2d(g, x, 3, stride, 1);
                    nas_tensor *want = nas_batchnorm(g, p, NULL, NULL, st[0], st[1], 0.1f, 1e-5f);
                    nas_tensor *got = nas_pool_bn(g, x, max, stride, st[2], st[3], 0.1f, 1e-5f);
                    cr_assert(nas_tensor_same_shape(want, got));
                    for (size_t i = 0; i < nas_tensor_numel(got); i++)
                        cr_assert_float_eq(
                            got->data[i], want->data[i], 1e-5f * (1.0f + fabsf(want->data[i])),
                            "max %d stride %d training %d elem %zu", max, stride, training, i);
                    for (int i = 0; i < c; i++) {
                        cr_assert_float_eq(st[2]->data[i], st[0]->data[i], 1e-6f);
                        cr_assert_float_eq(st[3]->data[i], st[1]->data[i], 1e-6f);
                    }
                }
    nas_graph_free(g);
}

Test(pool_bn, gradient)
{
    nas_graph *lg = nas_graph_new(1 << 16);
    nas_rng r;
    nas_rng_seed(&r, 5);
    for (int sh = 0; sh < 3; sh++)
        for (int max = 0; max < 2; max++)
            for (int stride = 1; stride <= 2; stride++)
                for (int training = 1; training >= 0; training--) {
                    nas_graph_reset(lg);
                    nas_tensor *x = nas_tensor_leaf(lg, 4, shapes[sh], NAS_GROUP_INPUT);
                    if (max)
                        gc_fill_distinct(x, &r, 0.05f);
                    else
                        gc_fill(x, &r, 1.0f, 0.0f);
                    int c = shapes[sh][1];
                    pb_args a = {.max = max, .stride = stride};
                    if (!training) {
                        a.rm = nas_tensor_new(lg, 1, &c);
                        a.rv = nas_tensor_new(lg, 1, &c);
                        for (int i = 0; i < c; i++) {
                            a.rm->data[i] = 0.1f * (float)i;
                            a.rv->data[i] = 0.5f + 0.25f * (float)i;
                        }
                    }
                    cr_expect_eq(gradcheck("pool_bn", f_pool_bn, &a, &x, 1, training), 0,
                                 "shape %d max %d stride %d training %d", sh, max, stride,
                                 training);
                }
    nas_graph_free(lg);
}
