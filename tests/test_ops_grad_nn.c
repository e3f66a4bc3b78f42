// SPDX-License-Identifier: MIT
/*
 * test_ops_grad_nn.c - the finite-difference gradient checks of the
 * blocks of engine/nn built from several ops (the auxiliary head, the
 * LSTM cell); the single ops are checked in test_ops_grad.c, with the
 * same tolerances (gradcheck.h).
 */
#include "ops_fixture.h"

/* ------------------------------------------------- auxiliary head */

typedef struct {
    nas_params *p;
    nas_aux_head h;
} aux_ctx;

static nas_tensor *f_aux(nas_graph *g, nas_tensor **in, void *c)
{
    aux_ctx *a = c;
    return nas_aux_head_forward(g, a->p, &a->h, in[0]);
}

/* The head as the references build it on 8x8 (pool 5 stride 3, conv 2x2)
 * and scaled to Fashion-MNIST's 7x7 (pool 5 stride 2) and a 4x4 map
 * (pool 3 stride 1): the gradient of its input, in training mode (batch
 * statistics) and eval mode. */
Test(ops, aux_head)
{
    int sides[3] = {8, 7, 4}, want_stride[3] = {3, 2, 1}, want_k[3] = {5, 5, 3};
    for (int t = 0; t < 3; t++) {
        aux_ctx a = {.p = nas_params_new()};
        cr_assert_eq(nas_aux_head_declare(a.p, "aux.", 3, sides[t], 4, &a.h), NAS_OK);
        cr_assert(a.h.mid == 128 && a.h.out_c == 768, "the references' channels by default");
        size_t trained = 0;
        for (int i = 0; i < nas_params_count(a.p); i++)
            if (nas_params_group_of(a.p, i) == NAS_GROUP_WEIGHTS)
                trained += nas_tensor_numel(nas_params_get(a.p, i));
        cr_assert_eq(trained, nas_aux_head_weights(3, sides[t], 4), "the estimate's count");
        nas_params_free(a.p);
        /* Few channels for the check: fewer ReLU kinks within its step. */
        a = (aux_ctx){.p = nas_params_new(), .h = {.mid = 6, .out_c = 8}};
        cr_assert_eq(nas_aux_head_declare(a.p, "aux.", 3, sides[t], 4, &a.h), NAS_OK);
        nas_rng init;
        nas_rng_seed(&init, 9);
        cr_assert_eq(nas_params_alloc(a.p, &init), NAS_OK);
        cr_assert(a.h.pool_k == want_k[t] && a.h.pool_stride == want_stride[t] && a.h.conv_k == 2);
        nas_tensor *x[1] = {leaf4(4, 3, sides[t], sides[t], 1.0f, 0.05f)};
        char name[32];
        snprintf(name, sizeof(name), "aux head %d", sides[t]);
        /* eval first: the running statistics still (0, 1) */
        cr_expect_eq(gradcheck(name, f_aux, &a, x, 1, 0), 0, "%s eval", name);
        cr_expect_eq(gradcheck(name, f_aux, &a, x, 1, 1), 0, "%s", name);
        nas_params_free(a.p);
    }
}

/* ------------------------------------------------------------- LSTM */

static nas_tensor *f_lstm(nas_graph *g, nas_tensor **in, void *ctx)
{
    nas_lstm_cell cell = {in[3], in[4], in[5]};
    nas_tensor *h1, *c1, *h2, *c2;
    /* Two chained steps: the check covers BPTT through c and h. */
    nas_lstm_cell_step(g, &cell, in[0], in[1], in[2], &h1, &c1);
    nas_lstm_cell_step(g, &cell, in[0], h1, c1, &h2, &c2);
    nas_tensor *both[2] = {h2, c2};
    return nas_concat(g, both, 2);
}

Test(ops, lstm_cell)
{
    int hid = 4, inp = 3, n = 2;
    nas_tensor *in[6] = {leaf2(n, inp, 1.0f),       leaf2(n, hid, 1.0f),
                         leaf2(n, hid, 1.0f),       leaf2(4 * hid, inp, 0.7f),
                         leaf2(4 * hid, hid, 0.7f), leaf1(4 * hid, 0.5f)};
    cr_expect_eq(gradcheck("lstm", f_lstm, NULL, in, 6, 1), 0);

    /* One step against the gate equations computed here in double. */
    nas_graph *g = nas_graph_new(1 << 16);
    nas_lstm_cell cell = {in[3], in[4], in[5]};
    nas_tensor *h1, *c1;
    nas_lstm_cell_step(g, &cell, in[0], in[1], in[2], &h1, &c1);
    for (int b = 0; b < n; b++)
        for (int j = 0; j < hid; j++) {
            double gate[4];
            for (int q = 0; q < 4; q++) {
                int row = q * hid + j;
                double s = in[5]->data[row];
                for (int k = 0; k < inp; k++)
                    s += (double)in[0]->data[b * inp + k] * in[3]->data[row * inp + k];
                for (int k = 0; k < hid; k++)
                    s += (double)in[1]->data[b * hid + k] * in[4]->data[row * hid + k];
                gate[q] = s;
            }
            double ig = 1 / (1 + exp(-gate[0])), fg = 1 / (1 + exp(-gate[1]));
            double gg = tanh(gate[2]), og = 1 / (1 + exp(-gate[3]));
            double c = fg * in[2]->data[b * hid + j] + ig * gg;
            cr_expect_float_eq(c1->data[b * hid + j], c, 1e-5);
            cr_expect_float_eq(h1->data[b * hid + j], og * tanh(c), 1e-5);
        }
    nas_graph_free(g);
}
