// SPDX-License-Identifier: MIT
/*
 * test_darts_rnn.c - the DARTS recurrent search space: the fused mixed op
 * against its composition from plain ops and against finite differences,
 * the whole cell's gradient (alpha and weights through BPTT) against
 * finite differences, the derivation rule on hand-made alphas, xi = 0
 * giving the first-order gradient bit for bit, the second-order step
 * against an unrolled finite difference, and the derived cell (the job
 * on darts-rnn is tested in test_darts_rnn_job.c).
 *
 * The one design decision to know: the cell-level check uses weights far
 * larger than the reference's init (U(-0.8, 0.8) instead of 0.04) and
 * alpha ~ N(0, 1), because at the real init the cell is nearly linear and
 * the alpha gradient is so small that any tolerance would pass it.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gradcheck.h"
#include "recorder.h"
#include "tmpdir.h"
#include "jobs/jobs.h"
#include "darts_genotypes.h"
#include "search/darts/darts.h"

/* ------------------------------------------------------------ mixed op */

static nas_tensor *mixed_fn(nas_graph *g, nas_tensor **in, void *ctx)
{
    return nas__darts_rnn_mixed(g, in[0], in[1], in[2], *(int *)ctx);
}

/* The same edge from plain ops: sum_k p_k (s + sig(c) (f_k(h) - s)). */
static nas_tensor *mixed_composed(nas_graph *g, nas_tensor *s, nas_tensor *ch, nas_tensor *probs,
                                  int edge)
{
    int H = s->shape[1];
    nas_tensor *c = nas_sigmoid(g, nas_narrow(g, ch, 0, H));
    nas_tensor *h = nas_narrow(g, ch, H, H);
    nas_tensor *f[4] = {nas_tanh(g, h), nas_relu(g, h), nas_sigmoid(g, h), nas_identity(g, h)};
    nas_tensor *terms[4];
    for (int k = 0; k < 4; k++) {
        nas_tensor *u = nas_add(g, s, nas_mul(g, c, nas_sub(g, f[k], s)));
        terms[k] = nas_scale_by(g, u, probs, edge * NAS_DARTS_RNN_NPRIM + k + 1);
    }
    return nas_sum_n(g, terms, 4);
}

Test(darts_rnn, mixed_op_matches_composition_and_fd)
{
    nas_graph *g = nas_graph_new(1 << 20);
    nas_rng r;
    nas_rng_seed(&r, 1);
    int B = 3, H = 4, edge = 1;
    int ss[2] = {B, H}, sc[2] = {B, 2 * H}, sp[2] = {2, NAS_DARTS_RNN_NPRIM};
    nas_tensor *in[3] = {
        nas_tensor_leaf(g, 2, ss, NAS_GROUP_INPUT),
        nas_tensor_leaf(g, 2, sc, NAS_GROUP_INPUT),
        nas_tensor_leaf(g, 2, sp, NAS_GROUP_INPUT),
    };
    gc_fill(in[0], &r, 1.5f, 0.0f);
    gc_fill(in[1], &r, 2.0f, 0.05f); /* relu kinks >= 0.05 > 2h away */
    gc_fill(in[2], &r, 1.0f, 0.0f);  /* any weights: the op is linear in p */

    /* Forward equals the composition (same float ops up to reassociation). */
    nas_tensor *a = nas__darts_rnn_mixed(g, in[0], in[1], in[2], edge);
    nas_tensor *b = mixed_composed(g, in[0], in[1], in[2], edge);
    for (size_t i = 0; i < nas_tensor_numel(a); i++)
        cr_expect(fabsf(a->data[i] - b->data[i]) <= 1e-5f, "%zu: %g vs %g", i, a->data[i],
                  b->data[i]);

    /* Gradients of s, ch and probs (row `edge`; the other row and `none`
     * get exactly zero) within gradcheck.h's tolerances. */
    cr_expect_eq(gradcheck("darts_rnn_mixed", mixed_fn, &edge, in, 3, 1), 0);
    nas_graph_free(g);
}

/* --------------------------------------------------------- whole cell */

typedef struct tiny {
    nas_params *p;
    nas__darts_rnn *net;
    nas_graph *g;
    nas_rng rng;
} tiny;

static void tiny_init(tiny *t, int V, int H, uint64_t seed, float wscale)
{
    t->p = nas_params_new();
    nas_darts_rnn_cfg cfg = {.vocab = V, .embed = H, .hidden = H, .tied = 1};
    cr_assert_eq(nas__darts_rnn_declare(t->p, &cfg, &t->net), NAS_OK);
    nas_rng_seed(&t->rng, seed);
    cr_assert_eq(nas_params_alloc(t->p, &t->rng), NAS_OK);
    if (wscale > 0.0f) {
        float *w, *al;
        size_t nw, na;
        nas_params_group(t->p, NAS_GROUP_WEIGHTS, &w, NULL, NULL, NULL, &nw);
        nas_params_group(t->p, NAS_GROUP_ARCH, &al, NULL, NULL, NULL, &na);
        for (size_t i = 0; i < nw; i++)
            w[i] = (2.0f * nas_rng_uniform(&t->rng) - 1.0f) * wscale;
        for (size_t i = 0; i < na; i++)
            al[i] = nas_rng_normal(&t->rng);
    }
    t->g = nas_graph_new(1 << 20);
    nas_graph_set_rng(t->g, &t->rng);
}

static void tiny_free(tiny *t)
{
    nas__darts_rnn_free(t->net);
    nas_params_free(t->p);
    nas_graph_free(t->g);
}

static void random_ids(int32_t *ids, int n, int V, nas_rng *r)
{
    for (int i = 0; i < n; i++)
        ids[i] = (int32_t)nas_rng_below(r, (uint32_t)V);
}

static double chunk_loss_reg(tiny *t, const nas_darts_rnn_chunk *c, const nas__darts_rnn_reg *reg)
{
    nas_graph_reset(t->g);
    nas_graph_set_grad(t->g, 0);
    double l = nas__darts_rnn_loss(t->g, t->p, t->net, c, NULL, reg, 0)->data[0];
    nas_graph_set_grad(t->g, 1);
    return l;
}

static double chunk_loss(tiny *t, const nas_darts_rnn_chunk *c)
{
    return chunk_loss_reg(t, c, NULL);
}

/*
 * Tolerances: the loss is a mean cross-entropy of about log V = 1.8,
 * evaluated in float32 through 3 steps of a 36-edge cell with 9 batch
 * norms per step: its rounding error stays around 1e-6, i.e. ~2e-4 after
 * dividing by 2h = 6e-3. The batch norms over 5 examples make the loss
 * strongly curved in the weights: with h = 1e-2 the truncation error
 * h^2/6 f''' reached 4% on two weights (and vanished at h = 3e-3 and 1e-3,
 * so it was truncation, not a wrong gradient); at h = 3e-3 it is ~10x
 * smaller. A relu kink crossed by a probe adds at most p_relu times the
 * part of the interval past the kink times the slope jump, which the
 * relative part covers. Hence |a - n| <= 5e-4 + 2e-2 max(|a|, |n|).
 */
#define CELL_H 3e-3f

/* With reg: the reference's locked dropouts (masks of 0 and 1/keep, one
 * per sequence; dropouti, dropoutx, dropouth and dropout) and its AR and
 * TAR terms, exaggerated so that they move the gradient. */
static void cell_gradient_case(int with_reg)
{
    enum { V = 6, H = 3, T = 3, BSZ = 5 };
    tiny t;
    tiny_init(&t, V, H, 3, 0.8f);
    int32_t rows[(T + 1) * BSZ];
    random_ids(rows, (T + 1) * BSZ, V, &t.rng);
    float h0[BSZ * H];
    for (int i = 0; i < BSZ * H; i++)
        h0[i] = 2.0f * nas_rng_uniform(&t.rng) - 1.0f;
    nas_darts_rnn_chunk c = {rows, T, BSZ, h0};
    float mi[BSZ * H], mx[BSZ * H], mh[BSZ * H], mo[BSZ * H]; /* embed == hidden here */
    nas__darts_rnn_mask(mi, BSZ * H, 0.2f, &t.rng);
    nas__darts_rnn_mask(mx, BSZ * H, 0.3f, &t.rng);
    nas__darts_rnn_mask(mh, BSZ * H, 0.25f, &t.rng);
    nas__darts_rnn_mask(mo, BSZ * H, 0.4f, &t.rng);
    nas__darts_rnn_reg reg = {mi, mx, mh, mo, 0.5f, 0.7f};
    const nas__darts_rnn_reg *rp = with_reg ? &reg : NULL;
    if (with_reg) { /* the masks and terms change the loss */
        double plain = chunk_loss(&t, &c), dropped = chunk_loss_reg(&t, &c, rp);
        cr_assert(fabs(plain - dropped) > 1e-4, "%g vs %g", plain, dropped);
    }

    const uint32_t WA = NAS_MASK(NAS_GROUP_WEIGHTS) | NAS_MASK(NAS_GROUP_ARCH);
    nas_graph_reset(t.g);
    nas_tensor *loss = nas__darts_rnn_loss(t.g, t.p, t.net, &c, NULL, rp, 0);
    nas_params_zero_grad(t.p, WA);
    nas_graph_backward(t.g, loss, WA);

    int bad = 0, checked = 0;
    double amax = 0.0;
    const int groups[2] = {NAS_GROUP_ARCH, NAS_GROUP_WEIGHTS};
    for (int gi = 0; gi < 2; gi++) {
        float *x, *gx;
        size_t n;
        nas_params_group(t.p, groups[gi], &x, &gx, NULL, NULL, &n);
        float *ana = malloc(n * sizeof(float));
        memcpy(ana, gx, n * sizeof(float));
        for (size_t i = 0; i < n; i++) {
            float v = x[i];
            x[i] = v + CELL_H;
            double lp = chunk_loss_reg(&t, &c, rp);
            x[i] = v - CELL_H;
            double lm = chunk_loss_reg(&t, &c, rp);
            x[i] = v;
            double num = (lp - lm) / (2.0 * CELL_H), a = ana[i];
            if (gi == 0)
                amax = fmax(amax, fabs(a));
            checked++;
            if (!(fabs(num - a) <= 5e-4 + 2e-2 * fmax(fabs(num), fabs(a)))) {
                if (bad++ < 5)
                    cr_log_error("group %d elem %zu: analytic %.6g numeric "
                                 "%.6g",
                                 groups[gi], i, a, num);
            }
        }
        free(ana);
    }
    cr_expect_eq(bad, 0, "%d of %d gradients off", bad, checked);
    cr_expect(amax > 2e-3, "the alpha gradient is not negligible (%g)", amax);
    tiny_free(&t);
}

Test(darts_rnn, cell_gradient_matches_fd, .timeout = 60)
{
    cell_gradient_case(0);
}

Test(darts_rnn, regularised_cell_gradient_matches_fd, .timeout = 60)
{
    cell_gradient_case(1);
}

/* ------------------------------------------------------------ genotype */

Test(darts_rnn, derivation_on_handmade_alphas)
{
    float a[NAS_DARTS_RNN_EDGES][NAS_DARTS_RNN_NPRIM] = {{0}};
    /* Columns: none, tanh, relu, sigmoid, identity. Node j's edges start
     * at j (j - 1) / 2 (j = 1..8), from nodes 0..j-1. */
    a[0][2] = 2;                /* node 1: relu from 0 */
    a[2][3] = 2;                /* node 2: sigmoid from 1 */
    a[3][0] = 9;                /* node 3: a huge `none` does not count, */
    a[4][4] = 1;                /* identity from 1 wins */
    a[6][0] = 5, a[6][1] = 3;   /* node 4: tanh 3 under none 5 is p 0.12, */
    a[7][1] = 1;                /* tanh 1 alone is p 0.41: from 1 */
                                /* node 5: all equal, tanh from 0 */
    a[20][2] = 1.5f;            /* node 6: relu from 5 */
    a[24][3] = 1, a[24][4] = 1; /* node 7: a tie of ops, the first: sigmoid */
    a[30][4] = 3, a[35][4] = 3; /* node 8: a tie of nodes, the lower: 2 */
    nas_darts_rnn_gene g;
    nas__darts_rnn_derive(&a[0][0], &g);
    char *json = nas__darts_rnn_genotype_json(&g);
    char *text = nas__darts_rnn_genotype_text(&g);
    cr_expect_str_eq(json, "{\"recurrent\": [[\"relu\", 0], [\"sigmoid\", 1], "
                           "[\"identity\", 1], [\"tanh\", 1], [\"tanh\", 0], "
                           "[\"relu\", 5], [\"sigmoid\", 3], [\"identity\", 2]], "
                           "\"concat\": [1, 2, 3, 4, 5, 6, 7, 8]}");
    cr_expect_str_eq(text, "Genotype(recurrent=[('relu', 0), ('sigmoid', 1), "
                           "('identity', 1), ('tanh', 1), ('tanh', 0), ('relu', 5), "
                           "('sigmoid', 3), ('identity', 2)], concat=range(1, 9))");
    char *alpha = nas__darts_rnn_alpha_json(&a[0][0]);
    cr_expect(strncmp(alpha,
                      "{\"ops\":[\"none\",\"tanh\",\"relu\",\"sigmoid\","
                      "\"identity\"],\"recurrent\":[[",
                      64) == 0,
              "%s", alpha);
    free(json);
    free(text);
    free(alpha);
}

/* ------------------------------------------------------- search step */

Test(darts_rnn, xi_zero_is_first_order)
{
    enum { V = 7, H = 4, T = 4, BSZ = 3 };
    tiny t;
    tiny_init(&t, V, H, 9, 0.5f);
    nas__darts_rnn_model m = {t.p, t.net, {0}};
    nas_darts_hp hp = {.order = 2,
                       .grad_clip = 0.25f,
                       .weight_decay = 5e-7f,
                       .arch_lr = 3e-3f,
                       .arch_beta1 = 0.9f,
                       .arch_beta2 = 0.999f,
                       .arch_weight_decay = 1e-3f};
    nas__darts_gsearch s;
    cr_assert_eq(nas__darts_gsearch_init(&s, t.p, t.g, nas__darts_rnn_pass_loss, &m, &hp, 1),
                 NAS_OK);
    int32_t rt[(T + 1) * BSZ], rv[(T + 1) * BSZ];
    random_ids(rt, (T + 1) * BSZ, V, &t.rng);
    random_ids(rv, (T + 1) * BSZ, V, &t.rng);
    float ht[BSZ * H] = {0}, hv[BSZ * H] = {0}, hv0[BSZ * H];
    nas_darts_rnn_chunk tr = {rt, T, BSZ, ht}, va = {rv, T, BSZ, hv};
    nas__darts_gsearch_step(&s, &tr, &va, 20.0f, NULL); /* states move */

    float *w, *ga;
    size_t nw, na;
    nas_params_group(t.p, NAS_GROUP_WEIGHTS, &w, NULL, NULL, NULL, &nw);
    nas_params_group(t.p, NAS_GROUP_ARCH, NULL, &ga, NULL, NULL, &na);
    float *w_before = malloc(nw * sizeof(float));
    float *first = malloc(na * sizeof(float));
    memcpy(w_before, w, nw * sizeof(float));
    memcpy(hv0, hv, sizeof(hv));
    double l1 = nas__darts_gsearch_arch_grad(&s, &tr, &va, 1, 0.0f, NULL);
    memcpy(first, ga, na * sizeof(float));
    memcpy(hv, hv0, sizeof(hv)); /* the val pass carried the val state */
    double l2 = nas__darts_gsearch_arch_grad(&s, &tr, &va, 2, 0.0f, NULL);
    cr_expect_eq(l1, l2);
    cr_expect_eq(memcmp(first, ga, na * sizeof(float)), 0,
                 "xi = 0: the second-order gradient is the first-order one");
    cr_expect_eq(memcmp(w_before, w, nw * sizeof(float)), 0, "the weights are restored exactly");
    double nrm = 0.0;
    for (size_t i = 0; i < na; i++)
        nrm += fabs(first[i]);
    cr_expect(nrm > 0.0, "a non-zero gradient");
    free(first);
    free(w_before);
    nas__darts_gsearch_free(&s);
    tiny_free(&t);
}

/*
 * The second-order alpha gradient of darts-rnn against a finite
 * difference of the unrolled objective J(alpha) = L_val(w', alpha), w' =
 * w - xi (mu buf + grad_w L_train(w, alpha) + wd w): the check
 * test_darts.c makes for the CNN space. The val state is restored before
 * every evaluation (the VAL pass carries it); clipping is off (grad_clip
 * 0), so the virtual step is the plain one whose alpha derivative the
 * -xi H v term approximates.
 *
 * Tolerances: J is a float32 mean cross-entropy of about log V = 2
 * (ulp 2.4e-7); the median of four one-step differences of h = 2e-3
 * averages two of them, so its rounding is ~6e-5 at worst (the fd values
 * come in steps of that size). The cell is smooth except for relu kinks;
 * the median survives one crossed kink, and the truncation of a one-sided
 * difference, h J'' / 2, stays ~1e-5 here. The engine's H v uses eps =
 * 1e-4 / ||v|| (fd_r): float32 alpha gradients of ~1e-3 differenced over
 * 2e-4 are off by ~1e-6. Hence |ours - fd| <= 1e-4 + 0.1 |fd| on at least
 * 3/4 of the entries (the gradients themselves reach 3e-3, and the
 * first-order part alone misses by up to 8e-4), and ours must fit at
 * least twice as well as the first-order part alone.
 */
static double rnn_unrolled(tiny *t, const nas__darts_rnn_model *m, const nas__darts_gsearch *s,
                           const nas_darts_rnn_chunk *tr, nas_darts_rnn_chunk *va, const float *hv0,
                           size_t hlen, float xi)
{
    float *w, *gw, *buf;
    size_t nw;
    nas_params_group(t->p, NAS_GROUP_WEIGHTS, &w, &gw, &buf, NULL, &nw);
    float *w0 = malloc(nw * sizeof(float));
    memcpy(w0, w, nw * sizeof(float));
    nas_graph_reset(t->g);
    nas_tensor *l = nas__darts_rnn_pass_loss((void *)m, t->g, tr, NAS__DARTS_PASS_UNROLL);
    nas_params_zero_grad(t->p, NAS_MASK(NAS_GROUP_WEIGHTS));
    nas_graph_backward(t->g, l, NAS_MASK(NAS_GROUP_WEIGHTS));
    float mu = s->sgd.steps > 0 ? s->hp.momentum : 0.0f;
    for (size_t i = 0; i < nw; i++)
        w[i] = w0[i] - xi * (mu * buf[i] + gw[i] + s->hp.weight_decay * w0[i]);
    nas_graph_reset(t->g);
    nas_graph_set_grad(t->g, 0);
    memcpy(va->h, hv0, hlen * sizeof(float));
    double loss = nas__darts_rnn_pass_loss((void *)m, t->g, va, NAS__DARTS_PASS_VAL)->data[0];
    nas_graph_set_grad(t->g, 1);
    nas_graph_reset(t->g);
    memcpy(va->h, hv0, hlen * sizeof(float));
    memcpy(w, w0, nw * sizeof(float));
    free(w0);
    return loss;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

Test(darts_rnn, second_order_matches_unrolled_fd, .timeout = 60)
{
    enum { V = 7, H = 4, T = 3, BSZ = 3 };
    tiny t;
    tiny_init(&t, V, H, 21, 0.5f);
    nas__darts_rnn_model m = {t.p, t.net, {0}};
    nas_darts_hp hp = {.order = 2,
                       .momentum = 0.9f,
                       .grad_clip = 0.0f,
                       .weight_decay = 5e-7f,
                       .arch_lr = 3e-3f,
                       .arch_beta1 = 0.9f,
                       .arch_beta2 = 0.999f,
                       .arch_weight_decay = 1e-3f,
                       .fd_r = 1e-4f};
    nas__darts_gsearch s;
    cr_assert_eq(nas__darts_gsearch_init(&s, t.p, t.g, nas__darts_rnn_pass_loss, &m, &hp, 1),
                 NAS_OK);
    int32_t rt[(T + 1) * BSZ], rv[(T + 1) * BSZ];
    random_ids(rt, (T + 1) * BSZ, V, &t.rng);
    random_ids(rv, (T + 1) * BSZ, V, &t.rng);
    float ht[BSZ * H] = {0}, hv[BSZ * H] = {0}, hv0[BSZ * H];
    nas_darts_rnn_chunk tr = {rt, T, BSZ, ht}, va = {rv, T, BSZ, hv};
    /* One real step first: momentum buffer and carried states are then
     * part of the unrolled step. */
    nas__darts_gsearch_step(&s, &tr, &va, 0.5f, NULL);
    memcpy(hv0, hv, sizeof(hv));

    const float xi = 0.5f;
    float *alpha, *ga;
    size_t na;
    nas_params_group(t.p, NAS_GROUP_ARCH, &alpha, &ga, NULL, NULL, &na);
    float *dalpha = calloc(na, sizeof(float)), *hvp = calloc(na, sizeof(float));
    float *ours = malloc(na * sizeof(float));
    nas__darts_parts parts = {.dalpha = dalpha, .hv = hvp};
    nas__darts_gsearch_arch_grad(&s, &tr, &va, 2, xi, &parts);
    memcpy(ours, ga, na * sizeof(float));
    memcpy(hv, hv0, sizeof(hv));

    const int pick[] = {1, 7, 13, 24, 32, 48, 56, 71, 89, 103, 117, 132, 146, 151, 168, 179};
    const int npick = (int)(sizeof(pick) / sizeof(pick[0]));
    const double h = 2e-3;
    int good = 0;
    double err_ours = 0.0, err_first = 0.0;
    for (int q = 0; q < npick; q++) {
        int k = pick[q];
        float a0 = alpha[k];
        double j[5], d[4];
        for (int u = -2; u <= 2; u++) {
            alpha[k] = (float)(a0 + u * h);
            j[u + 2] = rnn_unrolled(&t, &m, &s, &tr, &va, hv0, BSZ * H, xi);
        }
        alpha[k] = a0;
        for (int u = 0; u < 4; u++)
            d[u] = (j[u + 1] - j[u]) /
                   ((double)(float)(a0 + (u - 1) * h) - (double)(float)(a0 + (u - 2) * h));
        qsort(d, 4, sizeof(double), cmp_double);
        double fd = (d[1] + d[2]) / 2;
        double tol = 1e-4 + 0.1 * fabs(fd);
        cr_log_info("alpha[%3d]: ours %+.5e fd %+.5e (dalpha %+.5e, xi*Hv %+.5e)", k, ours[k], fd,
                    dalpha[k], xi * hvp[k]);
        good += fabs(ours[k] - fd) <= tol;
        err_ours += fabs(ours[k] - fd);
        err_first += fabs(dalpha[k] - fd);
    }
    cr_log_info("%d/%d within tolerance; sum |err| ours %.4g, dalpha alone %.4g", good, npick,
                err_ours, err_first);
    cr_expect_geq(4 * good, 3 * npick, "%d of %d entries within tolerance", good, npick);
    cr_expect_lt(2 * err_ours, err_first,
                 "the -xi H v term must bring ours closer than dalpha alone");
    free(dalpha);
    free(hvp);
    free(ours);
    nas__darts_gsearch_free(&s);
    tiny_free(&t);
}

/* With a clip, the reference's rnn architect (latest commit) scales the
 * implicit term by eta * clip_coef, clip_coef = clip / (||grad_w L_train||
 * + 1e-6) of the virtual step, even above 1: ours = dalpha - xi coef H v. */
Test(darts_rnn, second_order_scales_the_implicit_term_by_the_clip_coef, .timeout = 60)
{
    enum { V = 7, H = 4, T = 3, BSZ = 3 };
    for (int big = 0; big < 2; big++) {
        tiny t;
        tiny_init(&t, V, H, 21, 0.5f);
        nas__darts_rnn_model m = {t.p, t.net, {0}};
        float clip = big ? 1e3f : 1e-3f; /* coef above 1, below 1 */
        nas_darts_hp hp = {.order = 2,
                           .momentum = 0.0f,
                           .grad_clip = clip,
                           .weight_decay = 5e-7f,
                           .arch_lr = 3e-3f,
                           .arch_beta1 = 0.9f,
                           .arch_beta2 = 0.999f,
                           .arch_weight_decay = 1e-3f,
                           .fd_r = 1e-4f};
        nas__darts_gsearch s;
        cr_assert_eq(nas__darts_gsearch_init(&s, t.p, t.g, nas__darts_rnn_pass_loss, &m, &hp, 1),
                     NAS_OK);
        int32_t rt[(T + 1) * BSZ], rv[(T + 1) * BSZ];
        random_ids(rt, (T + 1) * BSZ, V, &t.rng);
        random_ids(rv, (T + 1) * BSZ, V, &t.rng);
        float ht[BSZ * H] = {0}, hv[BSZ * H] = {0}, ht0[BSZ * H];
        nas_darts_rnn_chunk tr = {rt, T, BSZ, ht}, va = {rv, T, BSZ, hv};
        /* ||grad_w L_train|| at w, from the same pass the virtual step takes. */
        memcpy(ht0, ht, sizeof(ht));
        nas_graph_reset(t.g);
        nas_tensor *l = nas__darts_rnn_pass_loss(&m, t.g, &tr, NAS__DARTS_PASS_UNROLL);
        nas_params_zero_grad(t.p, NAS_MASK(NAS_GROUP_WEIGHTS));
        nas_graph_backward(t.g, l, NAS_MASK(NAS_GROUP_WEIGHTS));
        float *gw;
        size_t nw;
        nas_params_group(t.p, NAS_GROUP_WEIGHTS, NULL, &gw, NULL, NULL, &nw);
        double n2 = 0.0;
        for (size_t i = 0; i < nw; i++)
            n2 += (double)gw[i] * gw[i];
        double want = clip / (sqrt(n2) + 1e-6);
        nas_graph_reset(t.g);
        memcpy(ht, ht0, sizeof(ht));

        float *ga;
        size_t na;
        nas_params_group(t.p, NAS_GROUP_ARCH, NULL, &ga, NULL, NULL, &na);
        float *dalpha = calloc(na, sizeof(float)), *hvp = calloc(na, sizeof(float));
        nas__darts_parts parts = {.dalpha = dalpha, .hv = hvp};
        const float xi = 0.5f;
        nas__darts_gsearch_arch_grad(&s, &tr, &va, 2, xi, &parts);
        cr_assert(fabs(parts.clip_coef - want) <= 1e-5 * want, "coef %.9g, want %.9g",
                  parts.clip_coef, want);
        cr_assert(big ? want > 1.0 : want < 1.0);
        int moved = 0;
        for (size_t k = 0; k < na; k++) {
            float expect = dalpha[k] - (float)(xi * parts.clip_coef) * hvp[k];
            cr_assert(fabsf(ga[k] - expect) <= 1e-6f + 1e-5f * fabsf(expect), "alpha %zu", k);
            moved += hvp[k] != 0.0f;
        }
        cr_assert(moved > 0, "a nonzero H v");
        free(dalpha);
        free(hvp);
        nas__darts_gsearch_free(&s);
        tiny_free(&t);
    }
}

/* ---------------------------------------------- derived cell (final) */

/* A genotype using every op and skipping around: node j+1 takes from[j]. */
#define HAND_GT "tanh/0,relu/1,sigmoid/0,identity/2,tanh/4,relu/3,sigmoid/6,identity/5/2.5.7.8"

typedef struct fixed_ctx {
    nas_params *p;
    nas__darts_rnn_fixed *n;
} fixed_ctx;

static nas_tensor *fixed_fn(nas_graph *g, nas_tensor **in, void *ctx)
{
    fixed_ctx *c = ctx;
    return nas__darts_rnn_fixed_step(g, c->p, c->n, in[0], in[1]);
}

static double sigm(double v)
{
    return 1.0 / (1.0 + exp(-v));
}

static double act(int op, double v)
{
    switch (op) {
    case NAS_DARTS_RNN_TANH: return tanh(v);
    case NAS_DARTS_RNN_RELU: return v > 0 ? v : 0;
    case NAS_DARTS_RNN_SIGMOID: return sigm(v);
    default: return v;
    }
}

Test(darts_rnn, derived_cell_matches_direct_loops_and_fd)
{
    enum { B = 2, E = 3, H = 4 };
    nas_darts_rnn_genotype gt = darts_rnn_gt(HAND_GT);
    nas_params *p = nas_params_new();
    nas__darts_rnn_fixed n;
    cr_assert_eq(nas__darts_rnn_fixed_declare(p, E, H, &gt, &n), NAS_OK);
    nas_rng r;
    nas_rng_seed(&r, 3);
    cr_assert_eq(nas_params_alloc(p, &r), NAS_OK);
    float *w;
    size_t nw;
    nas_params_group(p, NAS_GROUP_WEIGHTS, &w, NULL, NULL, NULL, &nw);
    for (size_t i = 0; i < nw; i++) /* far from the near-linear init */
        w[i] = (2.0f * nas_rng_uniform(&r) - 1.0f) * 0.9f;

    nas_graph *g = nas_graph_new(1 << 20);
    int sx[2] = {B, E}, sh[2] = {B, H};
    nas_tensor *x = nas_tensor_leaf(g, 2, sx, NAS_GROUP_INPUT);
    nas_tensor *h = nas_tensor_leaf(g, 2, sh, NAS_GROUP_INPUT);
    gc_fill(x, &r, 1.0f, 0.0f);
    gc_fill(h, &r, 1.0f, 0.0f);
    nas_tensor *y = nas__darts_rnn_fixed_step(g, p, &n, x, h);

    /* Direct loops in double. */
    const float *w0 = nas_params_get(p, n.w0)->data;
    for (int b = 0; b < B; b++) {
        double st[NAS_DARTS_RNN_NODES + 1][H], ch[2 * H];
        for (int o = 0; o < 2 * H; o++) {
            ch[o] = 0.0;
            for (int i = 0; i < E; i++)
                ch[o] += (double)w0[o * (E + H) + i] * x->data[b * E + i];
            for (int i = 0; i < H; i++)
                ch[o] += (double)w0[o * (E + H) + E + i] * h->data[b * H + i];
        }
        for (int k = 0; k < H; k++)
            st[0][k] = h->data[b * H + k] + sigm(ch[k]) * (tanh(ch[H + k]) - h->data[b * H + k]);
        for (int j = 0; j < NAS_DARTS_RNN_NODES; j++) {
            const float *ws = nas_params_get(p, n.ws[j])->data;
            const double *src = st[gt.from[j]];
            for (int o = 0; o < 2 * H; o++) {
                ch[o] = 0.0;
                for (int i = 0; i < H; i++)
                    ch[o] += (double)ws[o * H + i] * src[i];
            }
            for (int k = 0; k < H; k++)
                st[j + 1][k] = src[k] + sigm(ch[k]) * (act(gt.op[j], ch[H + k]) - src[k]);
        }
        for (int k = 0; k < H; k++) {
            double mean = (st[2][k] + st[5][k] + st[7][k] + st[8][k]) / 4.0;
            cr_expect(fabs(y->data[b * H + k] - mean) < 1e-5, "b %d k %d: %g vs %g", b, k,
                      y->data[b * H + k], mean);
        }
    }
    /* Gradients of x, h and the weights of the first and the last node. */
    fixed_ctx c = {p, &n};
    nas_tensor *in[4] = {x, h, nas_params_get(p, n.w0), nas_params_get(p, n.ws[7])};
    cr_expect_eq(gradcheck("darts_rnn_fixed", fixed_fn, &c, in, 4, 1), 0);
    nas_graph_free(g);
    nas_params_free(p);
}

Test(darts_rnn, derived_genotype_check_and_token)
{
    nas_darts_rnn_genotype ok = darts_rnn_gt(HAND_GT), gt;
    cr_expect_eq(ok.op[3], NAS_DARTS_RNN_IDENTITY);
    cr_expect_eq(ok.from[4], 4);
    cr_expect_eq(ok.nconcat, 4);
    char tok[256];
    nas__darts_rnn_genotype_token(&ok, tok, sizeof(tok));
    cr_expect_str_eq(tok, HAND_GT);
    nas_json_buf b = {0};
    nas__darts_rnn_genotype_members(&ok, &b);
    cr_expect_str_eq(b.s, "\"recurrent\":[[\"tanh\",0],[\"relu\",1],[\"sigmoid\",0],"
                          "[\"identity\",2],[\"tanh\",4],[\"relu\",3],[\"sigmoid\",6],"
                          "[\"identity\",5]],\"concat\":[2,5,7,8]");
    free(b.s);
    /* The kinds' checks of a typed cell. */
    static const struct {
        int node, op, from, concat0;
        const char *msg;
    } bad[] = {
        {0, NAS_DARTS_RNN_NONE, 0, 2, "recurrent[0]: unknown op 0"},
        {0, NAS_DARTS_RNN_TANH, 1, 2, "recurrent[0]: the input must be"},
        {5, NAS_DARTS_RNN_TANH, 6, 2, "recurrent[5]: the input must be"},
        {0, NAS_DARTS_RNN_TANH, 0, 0, "concat[0]: must be a node in [1, 8]"},
        {0, NAS_DARTS_RNN_TANH, 0, 5, "concat[1]: node 5 appears twice"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        gt = ok;
        gt.op[bad[i].node] = bad[i].op;
        gt.from[bad[i].node] = bad[i].from;
        gt.concat[0] = bad[i].concat0;
        cr_expect_eq(nas__darts_rnn_genotype_check(&gt), NAS_EINVAL, "%zu", i);
        cr_expect(strstr(nas_errmsg(), bad[i].msg), "%zu: %s", i, nas_errmsg());
    }
    gt = (nas_darts_rnn_genotype){0};
    cr_expect_eq(nas__darts_rnn_genotype_check(&gt), NAS_EINVAL);
    cr_expect(strstr(nas_errmsg(), "genotype: missing"), "%s", nas_errmsg());
}
