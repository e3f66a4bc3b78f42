// SPDX-License-Identifier: MIT
/*
 * test_shift.c - nas_shift (x[:, :, dh:, dw:]): forward against direct
 * indexing and a finite-difference gradient check (gradcheck.h gives the
 * tolerances; the op is linear, so only rounding matters).
 */
#include "gradcheck.h"

typedef struct {
    int dh, dw;
} shift_args;

static nas_tensor *f_shift(nas_graph *g, nas_tensor **in, void *ctx)
{
    shift_args *a = ctx;
    return nas_shift(g, in[0], a->dh, a->dw);
}

Test(shift, forward_matches_indexing)
{
    nas_graph *g = nas_graph_new(1 << 16);
    nas_tensor *x = nas_tensor_new4(g, 2, 3, 5, 4);
    for (size_t i = 0; i < nas_tensor_numel(x); i++)
        x->data[i] = (float)i;
    nas_tensor *y = nas_shift(g, x, 1, 2);
    cr_assert_eq(y->shape[0], 2);
    cr_assert_eq(y->shape[1], 3);
    cr_assert_eq(y->shape[2], 4);
    cr_assert_eq(y->shape[3], 2);
    for (int p = 0; p < 6; p++)
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 2; c++)
                cr_assert_eq(y->data[(p * 4 + r) * 2 + c], x->data[(p * 5 + r + 1) * 4 + c + 2]);
    nas_graph_free(g);
}

Test(shift, gradient)
{
    nas_graph *lg = nas_graph_new(1 << 16);
    nas_rng r;
    nas_rng_seed(&r, 5);
    int s[4] = {2, 3, 6, 5};
    nas_tensor *x = nas_tensor_leaf(lg, 4, s, NAS_GROUP_INPUT);
    gc_fill(x, &r, 1.0f, 0.0f);
    shift_args cases[] = {{1, 1}, {0, 2}, {3, 0}};
    for (int k = 0; k < 3; k++)
        cr_expect_eq(gradcheck("shift", f_shift, &cases[k], &x, 1, 1), 0, "dh %d dw %d",
                     cases[k].dh, cases[k].dw);
    nas_graph_free(lg);
}
