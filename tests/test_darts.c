// SPDX-License-Identifier: MIT
/*
 * test_darts.c - the DARTS convolutional search on a tiny supernet: the
 * layout of the supernet, the second-order architecture gradient against
 * a finite-difference derivative of the unrolled objective, xi = 0 giving
 * the first-order gradient bit for bit, the derivation rule on hand-made
 * alphas, a short search on the synthetic dataset, and determinism.
 *
 * The one design decision to know: the reference for the hypergradient is
 * computed here from the definition, independently of darts_search.c's
 * finite-difference Hessian: J(alpha) = L_val(w - xi (mu buf +
 * grad_w L_train(w, alpha) + wd w), alpha), differentiated by central
 * differences in alpha with the loss summed in double from the logits.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/jobs.h"
#include "search/darts/darts.h"

/* ------------------------------------------------------------- fixture */

typedef struct fix {
    nas_darts_cfg cfg;
    nas_darts_hp hp;
    nas_params *p;
    nas_graph *g;
    nas__darts_net *net;
    nas__darts_search s;
} fix;

static nas_darts_hp default_hp(int order)
{
    return (nas_darts_hp){.order = order,
                          .momentum = 0.9f,
                          .weight_decay = 3e-4f,
                          .grad_clip = 5.0f,
                          .arch_lr = 3e-4f,
                          .arch_beta1 = 0.5f,
                          .arch_beta2 = 0.999f,
                          .arch_weight_decay = 1e-3f};
}

static void fix_init(fix *f, const nas_darts_cfg *cfg, int order, uint64_t seed)
{
    memset(f, 0, sizeof(*f));
    f->cfg = *cfg;
    f->hp = default_hp(order);
    f->p = nas_params_new();
    f->g = nas_graph_new(1 << 20);
    cr_assert(f->p && f->g);
    cr_assert_eq(nas__darts_declare(f->p, cfg, &f->net), NAS_OK, "%s", nas_errmsg());
    nas_rng r;
    nas_rng_seed(&r, seed);
    cr_assert_eq(nas_params_alloc(f->p, &r), NAS_OK);
    cr_assert_eq(nas__darts_search_init(&f->s, f->p, f->g, f->net, cfg, &f->hp), NAS_OK);
}

static void fix_free(fix *f)
{
    nas__darts_search_free(&f->s);
    nas__darts_net_free(f->net);
    nas_graph_free(f->g);
    nas_params_free(f->p);
}

typedef struct batch {
    float *x;
    int32_t *y;
    nas_darts_batch b;
} batch;

static void batch_random(batch *b, const nas_darts_cfg *c, int n, nas_rng *r)
{
    size_t m = (size_t)n * c->in_c * c->h * c->w;
    b->x = malloc(m * sizeof(float));
    b->y = malloc((size_t)n * sizeof(int32_t));
    for (size_t i = 0; i < m; i++)
        b->x[i] = nas_rng_normal(r);
    for (int i = 0; i < n; i++)
        b->y[i] = (int32_t)nas_rng_below(r, (uint32_t)c->classes);
    b->b = (nas_darts_batch){.x = b->x, .y = b->y, .n = n};
}

static void batch_free(batch *b)
{
    free(b->x);
    free(b->y);
}

static float *arch(fix *f, size_t *n)
{
    float *a;
    nas_params_group(f->p, NAS_GROUP_ARCH, &a, NULL, NULL, NULL, n);
    return a;
}

static float *arch_grad(fix *f)
{
    float *g;
    nas_params_group(f->p, NAS_GROUP_ARCH, NULL, &g, NULL, NULL, NULL);
    return g;
}

/* The tiny supernet: 3 cells (reductions at 1 and 2), 8x8 maps. */
static const nas_darts_cfg tiny = {.C = 2, .layers = 3, .in_c = 2, .h = 8, .w = 8, .classes = 3};

/* -------------------------------------------------------------- layout */

Test(darts, supernet_layout)
{
    fix f;
    fix_init(&f, &tiny, 1, 1);
    /* Names of the reference's structure, groups as documented. */
    nas_tensor *t = nas_params_find(f.p, "cells.2.edge.5.sep_conv_3x3.pw1.w");
    cr_assert(t);
    /* Cell 2 reduces: C = 2 -> 4 -> 8 channels. */
    cr_expect_eq(t->shape[0], 8);
    cr_expect_eq(t->shape[1], 8);
    cr_assert(nas_params_find(f.p, "cells.1.edge.0.skip_connect.conv2.w"));
    cr_expect_null(nas_params_find(f.p, "cells.1.edge.4.skip_connect.conv1.w"),
                   "stride-1 edges of a reduction cell are identities");
    cr_assert(nas_params_find(f.p, "cells.2.pre0.conv1.w"));
    cr_assert(nas_params_find(f.p, "cells.0.pre0.conv.w"));
    nas_tensor *bn = nas_params_find(f.p, "cells.0.edge.13.max_pool_3x3.bn.running_var");
    cr_assert(bn);
    cr_expect_eq(bn->groups, NAS_MASK(NAS_GROUP_STATE));
    nas_tensor *a = nas_params_find(f.p, "alpha.reduce");
    cr_assert(a);
    cr_expect_eq(a->groups, NAS_MASK(NAS_GROUP_ARCH));
    cr_expect_eq(a->shape[0], 14);
    cr_expect_eq(a->shape[1], 8);
    size_t na;
    float *al = arch(&f, &na);
    double sd = 0.0;
    for (size_t i = 0; i < na; i++)
        sd += (double)al[i] * al[i];
    sd = sqrt(sd / (double)na);
    cr_expect(sd > 3e-4 && sd < 3e-3, "alpha ~ 1e-3 N(0,1): rms %g", sd);
    /* Logits of the right shape and finite, in eval mode too. */
    nas_graph_reset(f.g);
    nas_tensor *x = nas_tensor_zeros(f.g, 4, (int[4]){3, 2, 8, 8});
    for (size_t i = 0; i < nas_tensor_numel(x); i++)
        x->data[i] = sinf((float)i);
    for (int mode = 1; mode >= 0; mode--) {
        nas_graph_set_training(f.g, mode);
        nas_tensor *y = nas__darts_forward(f.g, f.p, f.net, x, 0);
        cr_assert_eq(y->shape[0], 3);
        cr_assert_eq(y->shape[1], 3);
        for (int i = 0; i < 9; i++)
            cr_assert(isfinite(y->data[i]));
    }
    nas_graph_set_training(f.g, 1);
    fix_free(&f);
}

Test(darts, odd_reduction_refused)
{
    nas_darts_cfg c = tiny;
    c.h = c.w = 6; /* 6 -> 3 -> a 3x3 map cannot be halved */
    nas_params *p = nas_params_new();
    nas__darts_net *n = NULL;
    cr_expect_eq(nas__darts_declare(p, &c, &n), NAS_EINVAL);
    cr_expect_null(n);
    cr_expect(strstr(nas_errmsg(), "layers") != NULL, "%s", nas_errmsg());
    nas_params_free(p);
}

/* ----------------------------------------------------- hypergradient */

/* Cross-entropy of logits (n, k) in double. */
static double ce_double(const nas_tensor *logits, const int32_t *y)
{
    int n = logits->shape[0], k = logits->shape[1];
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        const float *r = logits->data + (size_t)i * k;
        double m = r[0], z = 0.0;
        for (int j = 1; j < k; j++)
            m = r[j] > m ? r[j] : m;
        for (int j = 0; j < k; j++)
            z += exp((double)r[j] - m);
        sum += m + log(z) - r[y[i]];
    }
    return sum / n;
}

static nas_tensor *input(fix *f, const nas_darts_batch *b)
{
    nas_tensor *x = nas_tensor_new4(f->g, b->n, f->cfg.in_c, f->cfg.h, f->cfg.w);
    memcpy(x->data, b->x, nas_tensor_numel(x) * sizeof(float));
    return x;
}

/* The unrolled objective J(alpha) at the store's current alpha; the
 * weights are restored bit for bit afterwards. */
static double unrolled(fix *f, const nas_darts_batch *tr, const nas_darts_batch *va, float xi)
{
    float *w, *gw, *buf;
    size_t nw;
    nas_params_group(f->p, NAS_GROUP_WEIGHTS, &w, &gw, &buf, NULL, &nw);
    float *w0 = malloc(nw * sizeof(float));
    memcpy(w0, w, nw * sizeof(float));
    nas_graph_reset(f->g);
    nas_tensor *logits = nas__darts_forward(f->g, f->p, f->net, input(f, tr), 0);
    nas_params_zero_grad(f->p, NAS_MASK(NAS_GROUP_WEIGHTS));
    nas_graph_backward(f->g, nas_cross_entropy(f->g, logits, tr->y), NAS_MASK(NAS_GROUP_WEIGHTS));
    float mu = f->s.sgd.steps > 0 ? f->hp.momentum : 0.0f;
    for (size_t i = 0; i < nw; i++)
        w[i] = w0[i] - xi * (mu * buf[i] + gw[i] + f->hp.weight_decay * w0[i]);
    nas_graph_reset(f->g);
    nas_graph_set_grad(f->g, 0);
    logits = nas__darts_forward(f->g, f->p, f->net, input(f, va), 0);
    double loss = ce_double(logits, va->y);
    nas_graph_set_grad(f->g, 1);
    nas_graph_reset(f->g);
    memcpy(w, w0, nw * sizeof(float));
    free(w0);
    return loss;
}

/* The slope of J along alpha[k] at its current value: the median of the
 * four one-step differences over [-2h, 2h]. J is only piecewise smooth (a
 * ReLU or max-pool kink crossed by the train pass makes grad_w L_train,
 * hence w' and J, jump), and a jump spoils at most one of the four. */
static double fd_slope(fix *f, const nas_darts_batch *tr, const nas_darts_batch *va, float xi,
                       float *alpha, int k, double h)
{
    float a0 = alpha[k];
    double j[5], d[4];
    for (int t = -2; t <= 2; t++) {
        alpha[k] = (float)(a0 + t * h);
        j[t + 2] = unrolled(f, tr, va, xi);
    }
    alpha[k] = a0;
    for (int t = 0; t < 4; t++)
        d[t] = (j[t + 1] - j[t]) /
               ((double)(float)(a0 + (t - 1) * h) - (double)(float)(a0 + (t - 2) * h));
    for (int x = 0; x < 4; x++) /* sort the four */
        for (int y = x + 1; y < 4; y++)
            if (d[y] < d[x]) {
                double t = d[x];
                d[x] = d[y];
                d[y] = t;
            }
    return (d[1] + d[2]) / 2;
}

/*
 * Tolerance, and why the test is partly statistical. The unrolled
 * objective J of a ReLU / max-pool network is piecewise smooth: moving
 * alpha by 1e-3 already crosses kinks of the train pass on this supernet
 * (a probe showed a jump of 2.7e-4 in J within 5e-4 of alpha), so J is
 * differenced over h = 5e-5 (median of four one-step differences). The
 * engine's H v has the same problem in w-space: with the paper's probes
 * of norm 0.01 (and even 1e-4) it mostly measures crossed kinks on a net
 * this small (../shared/peer/check_darts_hypergrad.py saw the same in
 * PyTorch), so the test sets fd_r = 1e-5. What is left:
 * - float32 J: the logits carry ~1e-7 relative rounding, so a one-step
 *   difference over h = 5e-5 is off by up to ~1e-7 / 5e-5 = 2e-3;
 * - one-sided differences: truncation h J'' / 2 ~ 1e-5 here;
 * - the engine's H v with eps = 1e-5 / ||v||: float32 alpha gradients
 *   (~1e-2, relative rounding ~1e-7) differenced over 2 eps ~ 4e-6 give
 *   ~3e-4 in H v, 3e-5 after the factor xi.
 * Hence |ours - fd| <= 3e-3 + 0.1 |fd| on at least 3/4 of the entries
 * (a kink can still sit inside a probe; all 18 pass today), and ours must
 * fit the reference much better than dalpha alone (the first-order
 * gradient at w'), i.e. the -xi H v term is really there and right.
 */
#define HG_ATOL 3e-3
#define HG_RTOL 1e-1

Test(darts, second_order_matches_unrolled_fd, .timeout = 60)
{
    fix f;
    fix_init(&f, &tiny, 2, 7);
    nas_rng r;
    nas_rng_seed(&r, 11);
    batch tr, va, tr0, va0;
    batch_random(&tr, &tiny, 4, &r);
    batch_random(&va, &tiny, 4, &r);
    batch_random(&tr0, &tiny, 4, &r);
    batch_random(&va0, &tiny, 4, &r);
    /* One real step first: the momentum buffer is then part of w'. */
    nas__darts_step(&f.s, &tr0.b, &va0.b, 0.025f, NULL);

    f.s.hp.fd_r = 1e-5f;
    const float xi = 0.1f;
    size_t na;
    float *alpha = arch(&f, &na);
    float *dalpha = calloc(na, sizeof(float)), *hv = calloc(na, sizeof(float));
    float *ours = malloc(na * sizeof(float));
    nas__darts_parts parts = {.dalpha = dalpha, .hv = hv};
    nas__darts_arch_grad(&f.s, &tr.b, &va.b, 2, xi, &parts);
    memcpy(ours, arch_grad(&f), na * sizeof(float));

    /* A spread of entries over both matrices and all op columns. */
    const int pick[] = {3,   12,  21,  38,  47,  60,  77,  94,  101,
                        119, 125, 140, 158, 163, 181, 196, 210, 223};
    const int npick = (int)(sizeof(pick) / sizeof(pick[0]));
    int good = 0;
    double err_ours = 0.0, err_first = 0.0;
    for (int t = 0; t < npick; t++) {
        int k = pick[t];
        double fd = fd_slope(&f, &tr.b, &va.b, xi, alpha, k, 5e-5);
        double tol = HG_ATOL + HG_RTOL * fabs(fd);
        cr_log_info("alpha[%3d]: ours %+.5e fd %+.5e (dalpha %+.5e, xi*Hv %+.5e)", k, ours[k], fd,
                    dalpha[k], xi * hv[k]);
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
    free(hv);
    free(ours);
    batch_free(&tr);
    batch_free(&va);
    batch_free(&tr0);
    batch_free(&va0);
    fix_free(&f);
}

Test(darts, xi_zero_is_first_order)
{
    fix f;
    fix_init(&f, &tiny, 2, 3);
    nas_rng r;
    nas_rng_seed(&r, 5);
    batch tr, va;
    batch_random(&tr, &tiny, 3, &r);
    batch_random(&va, &tiny, 3, &r);
    nas__darts_step(&f.s, &tr.b, &va.b, 0.025f, NULL);
    size_t na, nw;
    arch(&f, &na);
    float *w;
    nas_params_group(f.p, NAS_GROUP_WEIGHTS, &w, NULL, NULL, NULL, &nw);
    float *w_before = malloc(nw * sizeof(float));
    memcpy(w_before, w, nw * sizeof(float));
    float *first = malloc(na * sizeof(float));
    double l1 = nas__darts_arch_grad(&f.s, &tr.b, &va.b, 1, 0.0f, NULL);
    memcpy(first, arch_grad(&f), na * sizeof(float));
    double l2 = nas__darts_arch_grad(&f.s, &tr.b, &va.b, 2, 0.0f, NULL);
    cr_expect_eq(l1, l2);
    cr_expect_eq(memcmp(first, arch_grad(&f), na * sizeof(float)), 0,
                 "xi = 0: the second-order gradient is the first-order one");
    cr_expect_eq(memcmp(w_before, w, nw * sizeof(float)), 0, "the weights are restored exactly");
    double nrm = 0.0;
    for (size_t i = 0; i < na; i++)
        nrm += fabs(first[i]);
    cr_expect(nrm > 0.0, "a non-zero gradient");
    free(first);
    free(w_before);
    batch_free(&tr);
    batch_free(&va);
    fix_free(&f);
}

/* ------------------------------------------------------------ genotype */

Test(darts, derivation_on_handmade_alphas)
{
    float a[NAS_DARTS_EDGES * NAS_DARTS_NPRIM] = {0};
#define SET(e, op, v) a[(e)*NAS_DARTS_NPRIM + (op)] = (v)
    /* Node 0 (edges 0, 1): `none` is ignored however strong it is. */
    SET(0, NAS_DARTS_NONE, 9.0f);
    SET(0, NAS_DARTS_SEP_CONV_3X3, 1.0f);
    SET(1, NAS_DARTS_SKIP_CONNECT, 2.0f);
    /* Node 1 (edges 2, 3, 4): edge from node 0 (input 2) is the strongest,
     * then input 0; input 1 loses. */
    SET(2, NAS_DARTS_MAX_POOL_3X3, 1.0f);
    SET(3, NAS_DARTS_DIL_CONV_5X5, 0.5f);
    SET(4, NAS_DARTS_SEP_CONV_5X5, 3.0f);
    /* Node 2 (edges 5..8): rows compete by softmax, not raw alpha: edge 6
     * has the larger alpha but shares it with a second strong op. */
    SET(5, NAS_DARTS_AVG_POOL_3X3, 2.0f);
    SET(6, NAS_DARTS_DIL_CONV_3X3, 2.2f);
    SET(6, NAS_DARTS_SEP_CONV_3X3, 2.2f);
    SET(8, NAS_DARTS_SKIP_CONNECT, 1.5f);
    /* Node 3 (edges 9..13): all rows equal -> ties go to the lower inputs
     * and the first op after `none` (max_pool_3x3). */
    nas_darts_gene g;
    nas__darts_derive(a, &g);
#undef SET
    const int op[4][2] = {
        {NAS_DARTS_SKIP_CONNECT, NAS_DARTS_SEP_CONV_3X3},
        {NAS_DARTS_SEP_CONV_5X5, NAS_DARTS_MAX_POOL_3X3},
        {NAS_DARTS_AVG_POOL_3X3, NAS_DARTS_SKIP_CONNECT},
        {NAS_DARTS_MAX_POOL_3X3, NAS_DARTS_MAX_POOL_3X3},
    };
    const int from[4][2] = {{1, 0}, {2, 0}, {0, 3}, {0, 1}};
    for (int j = 0; j < 4; j++)
        for (int t = 0; t < 2; t++) {
            cr_expect_eq(g.op[j][t], op[j][t], "node %d pick %d: op %s", j, t,
                         nas__darts_prim_names[g.op[j][t]]);
            cr_expect_eq(g.from[j][t], from[j][t], "node %d pick %d: from %d", j, t, g.from[j][t]);
        }
    char *json = nas__darts_genotype_json(&g, &g);
    char *text = nas__darts_genotype_text(&g, &g);
    cr_assert(json && text);
    cr_expect_str_eq(json, "{\"normal\": [[\"skip_connect\", 1], [\"sep_conv_3x3\", 0], "
                           "[\"sep_conv_5x5\", 2], [\"max_pool_3x3\", 0], [\"avg_pool_3x3\", 0], "
                           "[\"skip_connect\", 3], [\"max_pool_3x3\", 0], [\"max_pool_3x3\", 1]], "
                           "\"normal_concat\": [2, 3, 4, 5], \"reduce\": [[\"skip_connect\", 1], "
                           "[\"sep_conv_3x3\", 0], [\"sep_conv_5x5\", 2], [\"max_pool_3x3\", 0], "
                           "[\"avg_pool_3x3\", 0], [\"skip_connect\", 3], [\"max_pool_3x3\", 0], "
                           "[\"max_pool_3x3\", 1]], \"reduce_concat\": [2, 3, 4, 5]}");
    cr_expect(strncmp(text,
                      "Genotype(normal=[('skip_connect', 1), "
                      "('sep_conv_3x3', 0), ('sep_conv_5x5', 2)",
                      75) == 0,
              "%s", text);
    cr_expect(strstr(text, "normal_concat=range(2, 6), reduce=[") != NULL);
    free(json);
    free(text);
}

/* ---------------------------------------------------- a short search */

/* Runs `steps` search steps on the synthetic dataset (train half for w,
 * val half for alpha); returns the genotype JSON, alphas copied to
 * alpha_out (na floats). */
static char *short_search(int order, int steps, uint64_t seed, float *alpha_out, float *alpha_init,
                          double *first_loss, double *last_loss)
{
    nas__job j = {0};
    j.spec.dataset = "synthetic";
    j.spec.seed = seed;
    j.desc = nas_dataset_find("synthetic");
    nas_dataset *train, *test;
    cr_assert_eq(nas__job_load_images(&j, &train, &test), NAS_OK);
    nas_darts_cfg cfg = {.C = 4, .layers = 3, .in_c = 1, .h = 16, .w = 16, .classes = 10};
    fix f;
    fix_init(&f, &cfg, order, seed);
    size_t na;
    float *alpha = arch(&f, &na);
    cr_assert_eq(na, 2 * NAS_DARTS_EDGES * NAS_DARTS_NPRIM, "no padding");
    if (alpha_init)
        memcpy(alpha_init, alpha, na * sizeof(float));
    enum { BS = 8 };
    int half = train->n / 2, idx_t[BS], idx_v[BS];
    float *xt = malloc(sizeof(float) * BS * 256), *xv = malloc(sizeof(float) * BS * 256);
    int32_t yt[BS], yv[BS];
    nas_rng order_rng;
    nas_rng_seed(&order_rng, seed + 1);
    for (int s = 0; s < steps; s++) {
        for (int i = 0; i < BS; i++) {
            idx_t[i] = (int)nas_rng_below(&order_rng, (uint32_t)half);
            idx_v[i] = half + (int)nas_rng_below(&order_rng, (uint32_t)half);
        }
        nas_dataset_batch(train, idx_t, BS, NULL, NULL, xt, yt);
        nas_dataset_batch(train, idx_v, BS, NULL, NULL, xv, yv);
        nas_darts_batch bt = {xt, yt, BS}, bv = {xv, yv, BS};
        nas_darts_stats st;
        float lr = nas_cosine_lr(0.025f, 0.001f, s, steps);
        nas__darts_step(&f.s, &bt, &bv, lr, &st);
        cr_assert(isfinite(st.train_loss) && isfinite(st.val_loss));
        if (s == 0 && first_loss)
            *first_loss = st.train_loss;
        if (last_loss)
            *last_loss = st.train_loss;
    }
    memcpy(alpha_out, alpha, na * sizeof(float));
    nas_darts_gene gn, gr;
    nas__darts_derive(alpha, &gn);
    nas__darts_derive(nas_params_get(f.p, nas__darts_alpha(f.net, 1))->data, &gr);
    for (int jn = 0; jn < NAS_DARTS_NODES; jn++)
        for (int t = 0; t < 2; t++) {
            cr_assert(gn.op[jn][t] > 0 && gn.op[jn][t] < NAS_DARTS_NPRIM);
            cr_assert(gr.op[jn][t] > 0 && gr.op[jn][t] < NAS_DARTS_NPRIM);
            cr_assert(gn.from[jn][t] >= 0 && gn.from[jn][t] < jn + 2);
            cr_assert(gr.from[jn][t] >= 0 && gr.from[jn][t] < jn + 2);
        }
    cr_assert_neq(gn.from[0][0], gn.from[0][1]);
    char *json = nas__darts_genotype_json(&gn, &gr);
    free(xt);
    free(xv);
    fix_free(&f);
    nas_dataset_free(train);
    nas_dataset_free(test);
    return json;
}

Test(darts, short_search_moves_alpha, .timeout = 60)
{
    float a0[2 * 112], a1[2 * 112];
    double l0 = 0, l1 = 0;
    char *g = short_search(1, 12, 21, a1, a0, &l0, &l1);
    double moved = 0.0;
    for (int i = 0; i < 224; i++)
        moved = fmax(moved, fabs(a1[i] - a0[i]));
    /* Adam moves each entry by up to ~lr = 3e-4 per step. */
    cr_expect(moved > 1e-3, "alpha moved by at most %g", moved);
    cr_expect(l1 < l0, "the training loss went down: %g -> %g", l0, l1);
    cr_log_info("first-order: loss %.4f -> %.4f, max |d alpha| %.3g, %s", l0, l1, moved, g);
    cr_expect(strncmp(g, "{\"normal\": [[\"", 14) == 0, "%s", g);
    free(g);
}

Test(darts, same_seed_same_search, .timeout = 60)
{
    float a[2 * 112], b[2 * 112];
    char *ga = short_search(2, 2, 9, a, NULL, NULL, NULL);
    char *gb = short_search(2, 2, 9, b, NULL, NULL, NULL);
    cr_expect_str_eq(ga, gb);
    cr_expect_eq(memcmp(a, b, sizeof(a)), 0, "alphas bit-identical");
    free(ga);
    free(gb);
}

/* ------------------------------------------------ recompute on and off */

/* Keeping the edges' ops on the tape instead of recomputing them changes
 * where the intermediates live, not one sum: after search steps of both
 * orders from the same seed, weights (and their momentum), alpha (and its
 * Adam moments) and the BN running statistics are bit-identical, and so
 * are the losses. */
static void steps_with(int recompute, int order, float *out[3], size_t nout[3], double *loss)
{
    fix f;
    fix_init(&f, &tiny, order, 17);
    nas__darts_recompute(f.net, recompute);
    nas_rng r;
    nas_rng_seed(&r, 5);
    *loss = 0;
    for (int s = 0; s < 3; s++) {
        batch tr, va;
        batch_random(&tr, &tiny, 4, &r);
        batch_random(&va, &tiny, 4, &r);
        nas_darts_stats st;
        nas__darts_step(&f.s, &tr.b, &va.b, 0.05f, &st);
        *loss += st.train_loss + st.val_loss;
        batch_free(&tr);
        batch_free(&va);
    }
    static const int groups[3] = {NAS_GROUP_WEIGHTS, NAS_GROUP_ARCH, NAS_GROUP_STATE};
    for (int k = 0; k < 3; k++) {
        float *d, *m1, *m2;
        size_t n;
        nas_params_group(f.p, groups[k], &d, NULL, &m1, &m2, &n);
        nout[k] = 3 * n;
        out[k] = malloc(3 * n * sizeof(float));
        memcpy(out[k], d, n * sizeof(float));
        memset(out[k] + n, 0, 2 * n * sizeof(float));
        if (m1)
            memcpy(out[k] + n, m1, n * sizeof(float));
        if (m2)
            memcpy(out[k] + 2 * n, m2, n * sizeof(float));
    }
    if (!recompute)
        cr_expect_eq(nas__darts_scratch_peak(f.net), 0,
                     "without recomputation the scratch "
                     "graph holds nothing");
    fix_free(&f);
}

static void same_either_way(int order)
{
    float *a[3], *b[3];
    size_t na[3], nb[3];
    double la, lb;
    steps_with(1, order, a, na, &la);
    steps_with(0, order, b, nb, &lb);
    cr_expect_eq(la, lb, "order %d: losses %.17g and %.17g", order, la, lb);
    static const char *const names[3] = {"weights", "alpha", "BN statistics"};
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(na[k], nb[k]);
        cr_expect_gt(na[k], 0);
        size_t diff = 0;
        for (size_t i = 0; i < na[k]; i++)
            diff += memcmp(a[k] + i, b[k] + i, sizeof(float)) != 0;
        cr_expect_eq(diff, 0, "order %d: %zu of %zu floats of the %s (and moments) differ", order,
                     diff, na[k], names[k]);
        free(a[k]);
        free(b[k]);
    }
}

Test(darts, recompute_off_is_bit_identical_order1, .timeout = 60)
{
    same_either_way(1);
}

Test(darts, recompute_off_is_bit_identical_order2, .timeout = 60)
{
    same_either_way(2);
}
