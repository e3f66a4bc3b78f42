// SPDX-License-Identifier: MIT
/*
 * test_enas_micro.c - the ENAS micro search space (engine/search/
 * enas_micro.c) with hand-made arcs, no controller: the program and the
 * output shape of random children of many seeds, the arc JSON and the
 * reference's fixed-arc string, that a child's backward reaches exactly
 * the weights it uses, that two children sharing an op at the same place
 * train the same tensor, and a finite-difference gradient check of a tiny
 * child through the recomputing chunks of the space.
 *
 * The arc layout (program order): per cell (normal, then reduction), per
 * node, (input 1, input 2, op 1, op 2); op ids as the reference's: 0
 * sep_conv_3x3, 1 sep_conv_5x5, 2 avg_pool_3x3, 3 max_pool_3x3, 4
 * identity.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search/enas/enas_micro.h"

static const char *const OPS[5] = {"sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3",
                                   "identity"};

typedef struct fix {
    nas_enas_cfg cfg;
    nas_params *p;
    nas_graph *g;
    void *sp;
    const nas_ctrl_step *prog;
    int nprog, arc_len;
    nas_rng drop;
} fix;

static void fix_init(fix *f, nas_enas_cfg cfg, uint64_t seed)
{
    memset(f, 0, sizeof(*f));
    f->cfg = cfg;
    f->p = nas_params_new();
    f->g = nas_graph_new(1 << 20);
    cr_assert_eq(nas__enas_micro.declare(f->p, &cfg, &f->sp), NAS_OK, "%s", nas_errmsg());
    nas_rng r;
    nas_rng_seed(&r, seed);
    cr_assert_eq(nas_params_alloc(f->p, &r), NAS_OK);
    nas_ctrl_cfg cc = {0};
    f->prog = nas__enas_micro.program(f->sp, &f->nprog, &cc);
    cr_assert_eq(cc.nheads, 1);
    cr_assert_eq(cc.head_size[0], 5);
    for (int i = 0; i < f->nprog; i++)
        f->arc_len += nas_ctrl_kind(&f->prog[i]) == NAS_CTRL_PICK ||
                      nas_ctrl_kind(&f->prog[i]) == NAS_CTRL_CHOICE;
    /* micro_controller.py's biases: b_soft learned from [10, 10, 0, 0, 0],
     * b_soft_no_learn on the normal cell's ops. */
    static const float b_soft[5] = {10, 10, 0, 0, 0};
    static const float fixed[5] = {0.25f, 0.25f, -0.25f, -0.25f, -0.25f};
    cr_assert(cc.head_bias[0] && cc.head_fixed_bias[0]);
    cr_assert_eq(memcmp(cc.head_bias[0], b_soft, sizeof(b_soft)), 0);
    cr_assert_eq(memcmp(cc.head_fixed_bias[0], fixed, sizeof(fixed)), 0);
    nas_rng_seed(&f->drop, 5);
    nas_graph_set_rng(f->g, &f->drop);
}

static void fix_free(fix *f)
{
    nas__enas_micro.free(f->sp);
    nas_graph_free(f->g);
    nas_params_free(f->p);
}

/* A random child by walking the program: what a controller may emit. */
static void random_arc(const fix *f, nas_rng *r, int *arc)
{
    int k = 0, anchors = 0;
    for (int i = 0; i < f->nprog; i++) {
        const nas_ctrl_step *s = &f->prog[i];
        switch (nas_ctrl_kind(s)) {
        case NAS_CTRL_PICK:
            cr_assert(s->n >= 1 && s->n <= anchors);
            arc[k++] = (int)nas_rng_below(r, (uint32_t)s->n);
            break;
        case NAS_CTRL_CHOICE: arc[k++] = (int)nas_rng_below(r, (uint32_t)s->n); break;
        case NAS_CTRL_ANCHOR: anchors++; break;
        case NAS_CTRL_RESET: anchors = 0; break;
        default: cr_assert_fail("unexpected step kind %d", s->kind);
        }
    }
    cr_assert_eq(k, f->arc_len);
}

/* x on graph g (leaf: with a gradient, group NAS_GROUP_INPUT). */
static nas_tensor *input_on(fix *f, nas_graph *g, int n, nas_rng *r, int leaf)
{
    int shape[4] = {n, f->cfg.in_c, f->cfg.h, f->cfg.w};
    nas_tensor *x =
        leaf ? nas_tensor_leaf(g, 4, shape, NAS_GROUP_INPUT) : nas_tensor_new(g, 4, shape);
    for (size_t i = 0; i < nas_tensor_numel(x); i++)
        x->data[i] = nas_rng_normal(r);
    return x;
}

static nas_tensor *input(fix *f, int n, nas_rng *r, int leaf)
{
    return input_on(f, f->g, n, r, leaf);
}

static nas_enas_cfg tiny(int layers, int nodes)
{
    return (nas_enas_cfg){
        .C = 4, .layers = layers, .nodes = nodes, .in_c = 1, .h = 8, .w = 8, .classes = 10};
}

/* ---------------------------------------------------------------- shape */

Test(enas_micro, program_and_shapes_of_random_children)
{
    for (int layers = 1; layers <= 4; layers++) {
        fix f;
        nas_enas_cfg cfg = tiny(layers, 2 + layers % 3);
        cfg.dropout = 0.1f;
        fix_init(&f, cfg, (uint64_t)layers);
        /* Two cells of B nodes, 4 decisions each. */
        cr_assert_eq(f.arc_len, 8 * cfg.nodes);
        /* As micro_controller.py: the cell inputs' anchors feed zeros, the
         * normal cell's ops have the fixed bias, and the reduction cell's
         * sampler continues from the normal cell's state. */
        int B = cfg.nodes, cell1 = 2 + 5 * B;
        cr_assert_eq(f.nprog, 2 * cell1 + 1);
        for (int c = 0; c < 2; c++) {
            int at = c ? cell1 + 1 : 0;
            cr_assert_eq(f.prog[at].kind, NAS_CTRL_ANCHOR | NAS_CTRL_ZERO_VALUE);
            cr_assert_eq(f.prog[at + 1].kind, NAS_CTRL_ANCHOR | NAS_CTRL_ZERO_VALUE);
            cr_assert_eq(f.prog[at + 4].kind, NAS_CTRL_CHOICE | (c ? 0 : NAS_CTRL_FIXED_BIAS));
        }
        cr_assert_eq(f.prog[cell1].kind, NAS_CTRL_RESET | NAS_CTRL_KEEP_STATE);
        nas_rng r;
        nas_rng_seed(&r, 100 + (uint64_t)layers);
        int *arc = malloc((size_t)f.arc_len * sizeof(int));
        for (int seed = 0; seed < 6; seed++) {
            random_arc(&f, &r, arc);
            nas_graph_reset(f.g);
            nas_graph_set_training(f.g, seed % 2);
            nas_tensor *x = input(&f, 3, &r, 0);
            nas_tensor *y = nas__enas_micro.forward(f.sp, f.g, f.p, arc, x, 1);
            cr_assert_eq(y->ndim, 2);
            cr_assert_eq(y->shape[0], 3);
            cr_assert_eq(y->shape[1], 10);
            for (int i = 0; i < 30; i++)
                cr_assert(isfinite(y->data[i]));
            size_t used = nas__enas_micro.arc_params(f.sp, f.p, arc);
            cr_assert(used > 0 && used < nas_params_total(f.p));
        }
        free(arc);
        fix_free(&f);
    }
}

Test(enas_micro, rejects_bad_configs_naming_the_field)
{
    nas_params *p = nas_params_new();
    void *sp = NULL;
    nas_enas_cfg c = tiny(2, 5);
    c.C = 0;
    cr_assert_eq(nas__enas_micro.declare(p, &c, &sp), NAS_EINVAL);
    cr_assert(strstr(nas_errmsg(), "C:"));
    c = tiny(2, 1);
    cr_assert_eq(nas__enas_micro.declare(p, &c, &sp), NAS_EINVAL);
    cr_assert(strstr(nas_errmsg(), "nodes:"));
    c = tiny(2, 5);
    c.h = c.w = 6; /* 6 -> 3: the second reduction meets an odd map */
    cr_assert_eq(nas__enas_micro.declare(p, &c, &sp), NAS_EINVAL);
    cr_assert(strstr(nas_errmsg(), "layers:"), "%s", nas_errmsg());
    cr_assert_null(sp);
    nas_params_free(p);
}

/* ---------------------------------------------------------- describing */

Test(enas_micro, arc_json_and_fixed_arc_string)
{
    fix f;
    fix_init(&f, tiny(1, 2), 1);
    /* normal: node 0 = sep3(in 0) + id(in 1); node 1 = max(in 2) + avg(in
     * 0): loose end 3. reduce: node 0 = sep5(1) + sep5(1); node 1 =
     * id(0) + sep3(1): loose ends 2, 3. */
    int arc[16] = {0, 1, 0, 4, 2, 0, 3, 2, 1, 1, 1, 1, 0, 1, 4, 0};
    nas_json_buf b = {0};
    nas__enas_micro.arc_json(f.sp, arc, &b);
    cr_assert_str_eq(b.s, "{\"normal\":[{\"inputs\":[0,1],\"ops\":[\"sep_conv_3x3\","
                          "\"identity\"]},{\"inputs\":[2,0],\"ops\":[\"max_pool_3x3\","
                          "\"avg_pool_3x3\"]}],\"normal_concat\":[3],"
                          "\"reduce\":[{\"inputs\":[1,1],\"ops\":[\"sep_conv_5x5\","
                          "\"sep_conv_5x5\"]},{\"inputs\":[0,1],\"ops\":[\"identity\","
                          "\"sep_conv_3x3\"]}],\"reduce_concat\":[2,3]}");
    free(b.s);
    nas_json_buf s = {0};
    nas__enas_micro.arc_string(f.sp, arc, &s);
    cr_assert_str_eq(s.s, "0 0 1 4 2 3 0 2 1 1 1 1 0 4 1 0");
    free(s.s);
    fix_free(&f);
}

/* ------------------------------------------------------ weight sharing */

/* From "micro.cell.L.node.J.S.inI.OP.K.what": whether the child arc uses
 * that separable conv; -1 for the other parameters. */
static int sep_used(const fix *f, const char *name, const int *arc)
{
    int cell, node, in, stack;
    char side, op[32], what[16];
    if (sscanf(name, "micro.cell.%d.node.%d.%c.in%d.%31[a-z_0-9x].%d.%15s", &cell, &node, &side,
               &in, op, &stack, what) != 7)
        return -1;
    int d = f->cfg.layers / 3, reduce = cell == d || cell == 2 * d + 1;
    const int *a = arc + (reduce ? 4 * f->cfg.nodes : 0) + 4 * node;
    int slot = side == 'y';
    return a[slot] == in && strcmp(OPS[a[2 + slot]], op) == 0;
}

/* Loose-end slices of the final conv: "micro.cell.L.final.inI.w". */
static int final_used(const fix *f, const char *name, const int *arc)
{
    int cell, in;
    if (sscanf(name, "micro.cell.%d.final.in%d.w", &cell, &in) != 2)
        return -1;
    int d = f->cfg.layers / 3, reduce = cell == d || cell == 2 * d + 1;
    const int *a = arc + (reduce ? 4 * f->cfg.nodes : 0);
    for (int j = 0; j < f->cfg.nodes; j++)
        if (a[4 * j] == in || a[4 * j + 1] == in)
            return 0;
    return 1;
}

static int any_nonzero(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] != 0.0f)
            return 1;
    return 0;
}

static void backward_of(fix *f, const int *arc, nas_rng *r)
{
    nas_graph_reset(f->g);
    nas_graph_set_training(f->g, 1);
    nas_tensor *x = input(f, 4, r, 0);
    nas_tensor *y = nas__enas_micro.forward(f->sp, f->g, f->p, arc, x, 1);
    int32_t lab[4] = {1, 2, 3, 4};
    nas_graph_backward(f->g, nas_cross_entropy(f->g, y, lab), NAS_MASK(NAS_GROUP_WEIGHTS));
}

Test(enas_micro, backward_reaches_exactly_the_used_weights)
{
    fix f;
    fix_init(&f, tiny(3, 4), 2);
    nas_rng r;
    nas_rng_seed(&r, 11);
    int arc[32];
    for (int rep = 0; rep < 3; rep++) {
        random_arc(&f, &r, arc);
        nas_params_zero_grad(f.p, NAS_MASK_ALL);
        backward_of(&f, arc, &r);
        int seps = 0, unused = 0;
        for (int i = 0; i < nas_params_count(f.p); i++) {
            nas_tensor *t = nas_params_get(f.p, i);
            int touched = any_nonzero(t->grad, nas_tensor_numel(t));
            int u = sep_used(&f, t->name, arc);
            if (u < 0)
                u = final_used(&f, t->name, arc);
            if (u < 0)
                u = 1; /* stem, calibrations, BNs of cells, head */
            cr_assert_eq(touched, u, "%s: gradient %s, used %d", t->name,
                         touched ? "non-zero" : "zero", u);
            seps += u;
            unused += !u;
        }
        cr_assert(seps > 0 && unused > 0);
        /* "parameters" of the child: the floats it trains. */
        size_t touched = 0;
        for (int i = 0; i < nas_params_count(f.p); i++) {
            nas_tensor *t = nas_params_get(f.p, i);
            if (any_nonzero(t->grad, nas_tensor_numel(t)))
                touched += nas_tensor_numel(t);
        }
        size_t ap = nas__enas_micro.arc_params(f.sp, f.p, arc);
        cr_assert_eq(ap, touched, "arc_params %zu, trained floats %zu", ap, touched);
    }
    fix_free(&f);
}

Test(enas_micro, children_sharing_an_op_train_the_same_tensor)
{
    fix f;
    fix_init(&f, tiny(2, 3), 3);
    nas_rng r;
    nas_rng_seed(&r, 12);
    int a[24], b[24];
    random_arc(&f, &r, a);
    random_arc(&f, &r, b);
    /* Both: normal node 1, slot y, input 2, sep_conv_5x5; they differ
     * elsewhere. */
    a[4 + 1] = b[4 + 1] = 2;
    a[4 + 3] = b[4 + 3] = 1;
    a[0] = 0;
    b[0] = 1;
    /* layers 2: cells 0 and 1 reduce, 2 and 3 are normal. */
    const char *name = "micro.cell.2.node.1.y.in2.sep_conv_5x5.0.dw";
    nas_tensor *t = nas_params_find(f.p, name);
    cr_assert_not_null(t);
    size_t n = nas_tensor_numel(t);
    float *w0 = malloc(n * sizeof(float)), *w1 = malloc(n * sizeof(float));
    memcpy(w0, t->data, n * sizeof(float));
    nas_sgd sgd = {.lr = 0.1f, .momentum = 0.9f};
    const int *arcs[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        nas_params_zero_grad(f.p, NAS_MASK_ALL);
        backward_of(&f, arcs[k], &r);
        cr_assert(any_nonzero(t->grad, n), "child %d left %s alone", k, name);
        memcpy(w1, t->data, n * sizeof(float));
        nas_sgd_step(&sgd, f.p, NAS_GROUP_WEIGHTS);
        int changed = 0;
        for (size_t i = 0; i < n; i++)
            changed |= t->data[i] != w1[i];
        cr_assert(changed, "child %d's step did not move %s", k, name);
    }
    /* The tensor of another input of the same place is a different one,
     * untouched by both (in 1 of that slot is used by neither). */
    nas_tensor *other = nas_params_find(f.p, "micro.cell.2.node.1.y.in1.sep_conv_5x5.0.dw");
    cr_assert_not_null(other);
    cr_assert_neq(other, t);
    free(w0);
    free(w1);
    fix_free(&f);
}

/* ------------------------------------------------------- gradient check */

Test(enas_micro, gradient_check_of_a_tiny_child)
{
    fix f;
    nas_enas_cfg cfg = tiny(1, 2);
    cfg.C = 2;
    cfg.h = cfg.w = 16; /* BN over >= 128 values per channel */
    fix_init(&f, cfg, 4);
    /* No max pool (ties), everything else. */
    int arc[16] = {0, 1, 0, 4, 2, 0, 2, 1, 1, 0, 1, 1, 2, 1, 4, 2};
    nas_rng r;
    nas_rng_seed(&r, 13);
    nas_graph_reset(f.g);
    nas_graph_set_training(f.g, 1);
    nas_graph *xg = nas_graph_new(0); /* x outlives f.g's resets */
    nas_tensor *x = input_on(&f, xg, 8, &r, 1);
    nas_tensor *y = nas__enas_micro.forward(f.sp, f.g, f.p, arc, x, 1);
    size_t ny = nas_tensor_numel(y);
    float *wt = malloc(ny * sizeof(float));
    for (size_t i = 0; i < ny; i++)
        wt[i] = 2.0f * nas_rng_uniform(&r) - 1.0f;
    nas_tensor *wy = nas_tensor_new(f.g, y->ndim, y->shape);
    memcpy(wy->data, wt, ny * sizeof(float));
    nas_params_zero_grad(f.p, NAS_MASK_ALL);
    nas_graph_backward(f.g, nas_sum(f.g, nas_mul(f.g, y, wy)),
                       NAS_MASK(NAS_GROUP_WEIGHTS) | NAS_MASK(NAS_GROUP_INPUT));
    size_t nx = nas_tensor_numel(x);
    float *gx = malloc(nx * sizeof(float));
    memcpy(gx, x->grad, nx * sizeof(float));

    /* Checked: a few elements of the input, the stem, a calibration, two
     * separable convs, a final conv slice and the head. */
    const char *names[] = {
        "micro.stem.w",
        "micro.cell.0.cal_x.w1",
        "micro.cell.0.node.0.x.in0.sep_conv_3x3.0.dw",
        "micro.cell.1.node.0.y.in1.sep_conv_5x5.1.pw",
        "micro.cell.2.final.in3.w",
        "micro.head.w",
        "micro.cell.1.node.1.y.in1.sep_conv_3x3.1.bn.gamma",
    };
    const int nn = (int)(sizeof(names) / sizeof(names[0]));
    /* Through three cells of ReLUs and batch-statistics BNs the loss is
     * rough: a large h crosses kinks (at h = 1e-2 the stem's numeric
     * gradients are off by up to 50 %, and they converge to the analytic
     * ones as h shrinks), a small h meets float32 rounding (about 2e-3
     * at h = 1e-4). So an element passes when the central difference of
     * one of three step sizes agrees; a wrong gradient disagrees at all
     * of them. */
    static const double hs[3] = {1e-4, 3e-4, 1e-3};
    int bad = 0, checked = 0;
    for (int k = -1; k < nn; k++) {
        nas_tensor *t = k < 0 ? x : nas_params_find(f.p, names[k]);
        cr_assert_not_null(t, "%s", k < 0 ? "x" : names[k]);
        const float *ga = k < 0 ? gx : t->grad;
        size_t n = nas_tensor_numel(t);
        for (size_t i = 0; i < n; i += n / 6 + 1) {
            float v = t->data[i];
            double ana = ga[i], num[3];
            int ok = 0;
            for (int hi = 0; hi < 3; hi++) {
                double l[2], h = hs[hi];
                for (int s = 0; s < 2; s++) {
                    t->data[i] = v + (float)(s ? -h : h);
                    nas_graph_reset(f.g);
                    nas_graph_set_grad(f.g, 0);
                    nas_tensor *yy = nas__enas_micro.forward(f.sp, f.g, f.p, arc, x, 1);
                    double acc = 0.0;
                    for (size_t q = 0; q < ny; q++)
                        acc += (double)yy->data[q] * wt[q];
                    l[s] = acc;
                    nas_graph_set_grad(f.g, 1);
                }
                t->data[i] = v;
                num[hi] = (l[0] - l[1]) / (2 * h);
                double tol = 3e-3 + 3e-2 * fmax(fabs(num[hi]), fabs(ana));
                ok |= fabs(num[hi] - ana) <= tol;
            }
            checked++;
            if (!ok) {
                if (bad < 10)
                    cr_log_error("%s[%zu]: analytic %.6g numeric %.6g %.6g "
                                 "%.6g",
                                 k < 0 ? "x" : names[k], i, ana, num[0], num[1], num[2]);
                bad++;
            }
        }
    }
    cr_assert(checked > 30);
    cr_assert_eq(bad, 0, "%d of %d gradients disagree", bad, checked);
    free(wt);
    free(gx);
    nas_graph_free(xg);
    fix_free(&f);
}

/* The recomputing chunks give the gradients of the plain tape, with
 * and without the auxiliary head (whose ops sit between two cells). */
static void recompute_case(int aux, float drop_path)
{
    fix f[2];
    nas_rng r;
    int arc[32];
    float *grads[2], *gx[2];
    size_t n = 0;
    nas_tensor *y[2];
    for (int k = 0; k < 2; k++) {
        nas_enas_cfg cfg = tiny(3, 4);
        cfg.aux = aux;
        fix_init(&f[k], cfg, 21);
        nas__enas_micro_recompute(f[k].sp, k == 0);
        nas__enas_micro_drop_path(f[k].sp, drop_path, 0, 1);
        nas_rng_seed(&r, 22);
        random_arc(&f[k], &r, arc);
        nas_graph_reset(f[k].g);
        nas_graph_set_training(f[k].g, 1);
        nas_tensor *x = input(&f[k], 4, &r, 1);
        y[k] = nas__enas_micro.forward(f[k].sp, f[k].g, f[k].p, arc, x, 1);
        int32_t lab[4] = {0, 3, 6, 9};
        nas_tensor *loss = nas_cross_entropy(f[k].g, y[k], lab);
        nas_tensor *al = nas__enas_micro.aux_logits(f[k].sp);
        cr_assert(aux ? al != NULL : al == NULL);
        if (al) /* the reference's train_loss = loss + 0.4 aux_loss */
            loss =
                nas_add(f[k].g, loss, nas_scale(f[k].g, nas_cross_entropy(f[k].g, al, lab), 0.4f));
        nas_params_zero_grad(f[k].p, NAS_MASK_ALL);
        nas_graph_backward(f[k].g, loss, NAS_MASK(NAS_GROUP_WEIGHTS) | NAS_MASK(NAS_GROUP_INPUT));
        if (aux) {
            nas_tensor *w1 = nas_params_find(f[k].p, "aux_head.conv1.w");
            cr_assert(w1);
            float g2 = 0.0f;
            for (size_t i = 0; i < nas_tensor_numel(w1); i++)
                g2 += w1->grad[i] * w1->grad[i];
            cr_assert(g2 > 0.0f, "the head trains");
        }
        nas_params_group(f[k].p, NAS_GROUP_WEIGHTS, NULL, &grads[k], NULL, NULL, &n);
        gx[k] = x->grad;
    }
    for (int i = 0; i < 40; i++)
        cr_assert_eq(y[0]->data[i], y[1]->data[i], "logit %d", i);
    for (size_t i = 0; i < n; i++)
        cr_assert(fabsf(grads[0][i] - grads[1][i]) <= 1e-6f + 1e-4f * fabsf(grads[1][i]),
                  "weight gradient %zu: %g recomputed, %g plain", i, (double)grads[0][i],
                  (double)grads[1][i]);
    for (int i = 0; i < 4 * 64; i++)
        cr_assert(fabsf(gx[0][i] - gx[1][i]) <= 1e-6f + 1e-4f * fabsf(gx[1][i]),
                  "input gradient %d", i);
    fix_free(&f[0]);
    fix_free(&f[1]);
}

Test(enas_micro, recomputation_gives_the_plain_tape_gradients)
{
    recompute_case(0, 0.0f);
}

Test(enas_micro, recomputation_gives_the_plain_tape_gradients_with_the_aux_head)
{
    recompute_case(1, 0.0f);
}

/* With drop path the recomputing chunks draw the masks nas_drop_path
 * (gradient-checked in test_ops_grad) draws on the plain tape. */
Test(enas_micro, recomputation_gives_the_plain_tape_gradients_with_drop_path)
{
    recompute_case(1, 0.6f);
}

/* micro_child.py's _fixed_layer: drop path on every op output but the
 * identities', cell i of the layers + 2 dropping with p (i + 1) /
 * (layers + 2) min(1, (step + 1) / steps), one draw per sample and op in
 * program order; nothing in eval mode. With one sample and every node reading the cell's inputs
 * only, an op's weights get a zero gradient exactly when its draw
 * dropped it, which an independent replay of the draws predicts. */
Test(enas_micro, drop_path_masks_follow_the_layer_rule)
{
    const float p0 = 0.9f;
    const int64_t step = 2, steps = 4; /* 3/4 of the way */
    for (int k = 0; k < 2; k++) {
        fix f;
        nas_enas_cfg cfg = tiny(3, 3);
        fix_init(&f, cfg, 31);
        nas__enas_micro_recompute(f.sp, k == 0);
        /* per node (0, 1, op, op'): sep3 or sep5 and an identity */
        int arc[24], ops[6] = {0, 4, 1, 0, 4, 1};
        for (int c = 0; c < 2; c++)
            for (int j = 0; j < 3; j++) {
                int *a = arc + 12 * c + 4 * j;
                a[0] = 0;
                a[1] = 1;
                a[2] = ops[(2 * j + c) % 6];
                a[3] = ops[(2 * j + c + 1) % 6];
            }
        nas_rng r;
        nas_rng_seed(&r, 32);
        nas_graph *xg = nas_graph_new(0);
        nas_tensor *x = input_on(&f, xg, 1, &r, 0);

        /* Eval mode: the same logits with and without drop path. */
        float eval[10];
        for (int d = 0; d < 2; d++) {
            nas__enas_micro_drop_path(f.sp, d ? p0 : 0.0f, step, steps);
            nas_graph_reset(f.g);
            nas_graph_set_training(f.g, 0);
            nas_rng before = f.drop;
            nas_tensor *y = nas__enas_micro.forward(f.sp, f.g, f.p, arc, x, 0);
            cr_assert_eq(memcmp(&before, &f.drop, sizeof before), 0, "eval draws nothing");
            if (!d)
                memcpy(eval, y->data, sizeof eval);
            else
                cr_assert_eq(memcmp(eval, y->data, sizeof eval), 0, "eval is unaffected");
        }

        nas_rng replay = f.drop;
        nas__enas_micro_drop_path(f.sp, p0, step, steps);
        nas_graph_reset(f.g);
        nas_graph_set_training(f.g, 1);
        nas_tensor *y = nas__enas_micro.forward(f.sp, f.g, f.p, arc, x, 1);
        nas_params_zero_grad(f.p, NAS_MASK_ALL);
        nas_graph_backward(f.g, nas_sum(f.g, y), NAS_MASK(NAS_GROUP_WEIGHTS));
        int ncells = cfg.layers + 2, dropped = 0, kept = 0;
        for (int i = 0; i < ncells; i++) {
            int c = i == 1 || i == 3; /* reductions at layers / 3 and 2 (layers / 3) + 1 */
            float pi = p0 * (float)(i + 1) / (float)ncells * 0.75f;
            for (int j = 0; j < 3; j++)
                for (int s = 0; s < 2; s++) {
                    int op = arc[12 * c + 4 * j + 2 + s];
                    if (op == 4)
                        continue;
                    int drop = nas_rng_uniform(&replay) < pi;
                    char name[128];
                    snprintf(name, sizeof name, "micro.cell.%d.node.%d.%s.in%d.%s.0.dw", i, j,
                             s ? "y" : "x", s, OPS[op]);
                    nas_tensor *w = nas_params_find(f.p, name);
                    cr_assert_not_null(w, "%s", name);
                    double g2 = 0.0;
                    for (size_t q = 0; q < nas_tensor_numel(w); q++)
                        g2 += (double)w->grad[q] * w->grad[q];
                    cr_assert_eq(g2 == 0.0, drop, "%s (cell %d, p %g): |grad|^2 %g, drawn %s", name,
                                 i, (double)pi, g2, drop ? "dropped" : "kept");
                    dropped += drop;
                    kept += !drop;
                }
        }
        cr_assert(dropped > 2 && kept > 2, "%d dropped, %d kept", dropped, kept);
        cr_assert_eq(memcmp(&replay, &f.drop, sizeof replay), 0,
                     "one draw per non-identity op, nothing else");
        nas_graph_free(xg);
        fix_free(&f);
    }
}
