// SPDX-License-Identifier: MIT
/*
 * test_estimate.c - nas_job_estimate_memory against measured peaks.
 *
 * For each architecture the estimate models (the fixed CNN, the LSTM
 * language model, a DARTS genotype network, the DARTS CNN supernet of
 * first and second order, the darts-rnn supernet's loss pass) the test builds the same
 * network from the engine's own pieces, runs one real training step
 * (forward, loss, backward; the DARTS search step itself) and reads the
 * arena's peak: the estimate's activations must be at least that peak and
 * at most 3x it. The parameter part is checked against the allocated
 * store's size (data, gradient, two moments). The figures are printed, so
 * a run shows how tight the estimate is.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "darts_genotypes.h"
#include "jobs/jobs.h"
#include "search/darts/darts.h"
#include "search/enas/enas_rnn.h"

#define RATIO_MAX 3.0

static void check_band(const char *what, size_t estimate, size_t measured)
{
    double r = (double)estimate / (double)measured;
    printf("%-44s estimate %9.2f MiB  measured %9.2f MiB  ratio %.2f\n", what,
           (double)estimate / 1048576.0, (double)measured / 1048576.0, r);
    cr_expect(estimate >= measured, "%s: estimate %zu below the measured peak %zu", what, estimate,
              measured);
    cr_expect(r <= RATIO_MAX, "%s: estimate %zu over %.1fx the measured peak %zu", what, estimate,
              RATIO_MAX, measured);
}

static void fill_random(float *x, size_t n, nas_rng *r)
{
    for (size_t i = 0; i < n; i++)
        x[i] = nas_rng_normal(r);
}

static nas_job_memory estimate(const nas_job_spec *s)
{
    nas_job_memory m;
    cr_assert_eq(nas_job_estimate_memory_parts(s, &m), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(m.total, m.params + m.activations + m.data + m.base);
    size_t total = 0;
    cr_assert_eq(nas_job_estimate_memory(s, &total), NAS_OK);
    cr_assert_eq(total, m.total);
    return m;
}

/* ------------------------------------------------------------ fixed CNN */

static void fixed_cnn_case(const char *dataset, const int *channels, int nblocks, int hidden,
                           int batch)
{
    const nas_dataset_desc *d = nas_dataset_find(dataset);
    cr_assert(d);
    nas_job_spec s = {.algorithm = "train", .dataset = dataset};
    nas_job_spec_defaults(&s);
    s.arch = NAS_ARCH_FIXED_CNN;
    s.nblocks = nblocks;
    memcpy(s.channels, channels, sizeof(int) * (size_t)nblocks);
    s.hidden = hidden;
    s.batch_size = batch;
    nas_job_memory m = estimate(&s);

    /* The network of engine/jobs/train_image.c, op for op. */
    nas_params *p = nas_params_new();
    int ids[NAS_MAX_BLOCKS][5], pool[NAS_MAX_BLOCKS];
    int cin = d->c, h = d->h, w = d->w;
    char name[64];
    for (int i = 0; i < nblocks; i++) {
        int co = channels[i], ws[4] = {co, cin, 3, 3}, v[1] = {co};
        snprintf(name, sizeof name, "b%d.w", i);
        ids[i][0] = nas_params_add(p, name, NAS_GROUP_WEIGHTS, NAS_INIT_KAIMING, 1, 4, ws);
        snprintf(name, sizeof name, "b%d.g", i);
        ids[i][1] = nas_params_add(p, name, NAS_GROUP_WEIGHTS, NAS_INIT_ONE, 1, 1, v);
        snprintf(name, sizeof name, "b%d.b", i);
        ids[i][2] = nas_params_add(p, name, NAS_GROUP_WEIGHTS, NAS_INIT_ZERO, 1, 1, v);
        snprintf(name, sizeof name, "b%d.m", i);
        ids[i][3] = nas_params_add(p, name, NAS_GROUP_STATE, NAS_INIT_ZERO, 1, 1, v);
        snprintf(name, sizeof name, "b%d.v", i);
        ids[i][4] = nas_params_add(p, name, NAS_GROUP_STATE, NAS_INIT_ONE, 1, 1, v);
        pool[i] = h > 4 || w > 4;
        if (pool[i]) {
            h = (h - 1) / 2 + 1;
            w = (w - 1) / 2 + 1;
        }
        cin = co;
    }
    int flat = cin * h * w;
    int s1[2] = {hidden, flat}, s2[1] = {hidden}, s3[2] = {d->classes, hidden},
        s4[1] = {d->classes};
    int f1w = nas_params_add(p, "fc1.w", NAS_GROUP_WEIGHTS, NAS_INIT_KAIMING, 1, 2, s1);
    int f1b = nas_params_add(p, "fc1.b", NAS_GROUP_WEIGHTS, NAS_INIT_ZERO, 1, 1, s2);
    int f2w = nas_params_add(p, "fc2.w", NAS_GROUP_WEIGHTS, NAS_INIT_KAIMING, 1, 2, s3);
    int f2b = nas_params_add(p, "fc2.b", NAS_GROUP_WEIGHTS, NAS_INIT_ZERO, 1, 1, s4);
    nas_rng r;
    nas_rng_seed(&r, 1);
    cr_assert_eq(nas_params_alloc(p, &r), NAS_OK);
    cr_expect_eq(m.params, nas_params_total(p) * 16, "%s: parameters %zu, store %zu", dataset,
                 m.params, nas_params_total(p) * 16);

    nas_graph *g = nas_graph_new(0);
    nas_tensor *x = nas_tensor_new4(g, batch, d->c, d->h, d->w);
    fill_random(x->data, nas_tensor_numel(x), &r);
    int32_t *y = calloc((size_t)batch, sizeof(int32_t));
#define P(i) nas_params_get(p, (i))
    nas_tensor *t = x;
    for (int i = 0; i < nblocks; i++) {
        t = nas_conv2d(g, t, P(ids[i][0]), NULL, 1, 1, 1, 1);
        t = nas_relu(g, nas_batchnorm(g, t, P(ids[i][1]), P(ids[i][2]), P(ids[i][3]), P(ids[i][4]),
                                      0.1f, 1e-5f));
        if (pool[i])
            t = nas_maxpool2d(g, t, 3, 2, 1);
    }
    int fl[2] = {batch, flat};
    t = nas_reshape(g, t, 2, fl);
    t = nas_relu(g, nas_linear(g, t, P(f1w), P(f1b)));
    t = nas_dropout(g, t, 0);
    t = nas_linear(g, t, P(f2w), P(f2b));
#undef P
    nas_tensor *loss = nas_cross_entropy(g, t, y);
    nas_graph_backward(g, loss, NAS_MASK(NAS_GROUP_WEIGHTS));
    char what[96];
    snprintf(what, sizeof what, "train fixed-cnn %s batch %d", dataset, batch);
    check_band(what, m.activations, nas_arena_peak(nas_graph_arena(g)));
    free(y);
    nas_graph_free(g);
    nas_params_free(p);
}

Test(estimate, fixed_cnn)
{
    const int a[] = {32, 64}, b[] = {8, 16}, c[] = {16, 32, 64};
    fixed_cnn_case("fashion-mnist", a, 2, 128, 64);
    fixed_cnn_case("synthetic", b, 2, 32, 32);
    fixed_cnn_case("cifar10", c, 3, 64, 128);
}

/* ------------------------------------------------------------ LSTM LM */

static void lstm_case(int V, int E, int H, int L, int T, int B)
{
    nas_job_spec s = {.algorithm = "train", .dataset = "ptb"};
    nas_job_spec_defaults(&s);
    s.arch = NAS_ARCH_LSTM_LM;
    s.max_vocab = V;
    s.embed = E;
    s.hidden = H;
    s.layers = L;
    s.bptt = T;
    s.batch_size = B;
    nas_job_memory m = estimate(&s);

    nas_params *p = nas_params_new();
    int se[2] = {V, E}, sd[2] = {V, H}, sb[1] = {V};
    int emb = nas_params_add(p, "emb", NAS_GROUP_WEIGHTS, NAS_INIT_UNIFORM, 0.1f, 2, se);
    int dw = nas_params_add(p, "dec.w", NAS_GROUP_WEIGHTS, NAS_INIT_UNIFORM, 0.1f, 2, sd);
    int db = nas_params_add(p, "dec.b", NAS_GROUP_WEIGHTS, NAS_INIT_ZERO, 1, 1, sb);
    int wx[4], wh[4], bb[4], in = E;
    char name[32];
    for (int l = 0; l < L; l++) {
        int a[2] = {4 * H, in}, c[2] = {4 * H, H}, d[1] = {4 * H};
        snprintf(name, sizeof name, "wx%d", l);
        wx[l] = nas_params_add(p, name, NAS_GROUP_WEIGHTS, NAS_INIT_UNIFORM, 0.1f, 2, a);
        snprintf(name, sizeof name, "wh%d", l);
        wh[l] = nas_params_add(p, name, NAS_GROUP_WEIGHTS, NAS_INIT_UNIFORM, 0.1f, 2, c);
        snprintf(name, sizeof name, "b%d", l);
        bb[l] = nas_params_add(p, name, NAS_GROUP_WEIGHTS, NAS_INIT_ZERO, 1, 1, d);
        in = H;
    }
    nas_rng r;
    nas_rng_seed(&r, 2);
    cr_assert_eq(nas_params_alloc(p, &r), NAS_OK);
    cr_expect_eq(m.params, nas_params_total(p) * 16);

    /* The chunk loss of engine/jobs/train_text.c. */
    nas_graph *g = nas_graph_new(0);
    nas_graph_set_rng(g, &r);
    int32_t *rows = calloc((size_t)(T + 1) * B, sizeof(int32_t));
    for (int i = 0; i < (T + 1) * B; i++)
        rows[i] = (int32_t)nas_rng_below(&r, (uint32_t)V);
    int sh[2] = {B, H};
    nas_tensor *hs[4], *cs[4];
    for (int l = 0; l < L; l++) {
        hs[l] = nas_tensor_zeros(g, 2, sh);
        cs[l] = nas_tensor_zeros(g, 2, sh);
    }
    nas_tensor **outs = nas_arena_alloc(nas_graph_arena(g), (size_t)T * sizeof(*outs));
    for (int t = 0; t < T; t++) {
        nas_tensor *x = nas_embedding(g, nas_params_get(p, emb), rows + (size_t)t * B, B);
        x = nas_dropout(g, x, 0.2f);
        for (int l = 0; l < L; l++) {
            nas_lstm_cell cell = {nas_params_get(p, wx[l]), nas_params_get(p, wh[l]),
                                  nas_params_get(p, bb[l])};
            nas_lstm_cell_step(g, &cell, x, hs[l], cs[l], &hs[l], &cs[l]);
            x = nas_dropout(g, hs[l], 0.2f);
        }
        outs[t] = x;
    }
    int flat[2] = {B * T, H};
    nas_tensor *yv = nas_reshape(g, nas_concat(g, outs, T), 2, flat);
    int32_t *tgt = nas_arena_alloc(nas_graph_arena(g), (size_t)B * T * sizeof(int32_t));
    for (int i = 0; i < B * T; i++)
        tgt[i] = rows[B + i];
    nas_tensor *loss =
        nas_cross_entropy(g, nas_linear(g, yv, nas_params_get(p, dw), nas_params_get(p, db)), tgt);
    nas_graph_backward(g, loss, NAS_MASK(NAS_GROUP_WEIGHTS));
    char what[96];
    snprintf(what, sizeof what, "train lstm-lm V %d H %d L %d T %d B %d", V, H, L, T, B);
    check_band(what, m.activations, nas_arena_peak(nas_graph_arena(g)));
    free(rows);
    nas_graph_free(g);
    nas_params_free(p);
}

Test(estimate, lstm_lm)
{
    lstm_case(2000, 128, 128, 1, 35, 20);
    lstm_case(500, 64, 96, 2, 20, 16);
}

/* ------------------------------------------------- DARTS genotype network */

#define GENOTYPE_                                                                                  \
    "sep_conv_3x3/0,sep_conv_3x3/1,skip_connect/0,sep_conv_3x3/1,skip_connect/0,dil_conv_3x3/2,"   \
    "max_pool_3x3/0,sep_conv_5x5/1/2.3.4.5|max_pool_3x3/0,max_pool_3x3/1,skip_connect/2,"          \
    "max_pool_3x3/0,max_pool_3x3/0,skip_connect/2,skip_connect/2,avg_pool_3x3/0/2.3.4.5"

static void darts_fixed_case(const char *dataset, int C, int layers, int batch)
{
    const nas_dataset_desc *d = nas_dataset_find(dataset);
    nas_job_spec s = {.algorithm = "train", .dataset = dataset, .arch = NAS_ARCH_DARTS_CNN};
    nas_job_spec_defaults(&s);
    s.darts_cnn = darts_gt(GENOTYPE_);
    s.C = C;
    s.layers = layers;
    s.batch_size = batch;
    nas_job_memory m = estimate(&s);

    /* The train kind's darts-cnn defaults: train.py's auxiliary head
     * (its weights in the store) and drop path. */
    cr_assert(s.aux_weight == 0.4f && s.drop_path == 0.2f && s.cutout == 1);
    nas_darts_cfg cfg = {.C = C,
                         .layers = layers,
                         .in_c = d->c,
                         .h = d->h,
                         .w = d->w,
                         .classes = d->classes,
                         .auxiliary = 1};
    nas_darts_genotype gt = s.darts_cnn;
    nas_params *p = nas_params_new();
    nas__darts_fixed *net = NULL;
    cr_assert_eq(nas__darts_fixed_declare(p, &cfg, &gt, &net), NAS_OK, "%s", nas_errmsg());
    nas_rng r;
    nas_rng_seed(&r, 3);
    cr_assert_eq(nas_params_alloc(p, &r), NAS_OK);
    cr_expect_eq(m.params, nas_params_total(p) * 16);
    nas_graph *g = nas_graph_new(0);
    nas_tensor *x = nas_tensor_new4(g, batch, d->c, d->h, d->w);
    fill_random(x->data, nas_tensor_numel(x), &r);
    int32_t *y = calloc((size_t)batch, sizeof(int32_t));
    nas_graph_set_rng(g, &r);
    nas_tensor *aux = NULL;
    nas_tensor *loss =
        nas_cross_entropy(g, nas__darts_fixed_forward_train(g, p, net, x, s.drop_path, &aux), y);
    cr_assert(aux, "the auxiliary head runs in training");
    loss = nas_add(g, loss, nas_scale(g, nas_cross_entropy(g, aux, y), s.aux_weight));
    nas_graph_backward(g, loss, NAS_MASK(NAS_GROUP_WEIGHTS));
    char what[96];
    snprintf(what, sizeof what, "train darts-cnn %s C %d layers %d batch %d", dataset, C, layers,
             batch);
    check_band(what, m.activations, nas_arena_peak(nas_graph_arena(g)));
    nas_graph_free(g);

    /* The test set's evaluation (train_image.c): a forward without
     * gradients over nas__eval_batch images, more than a training batch;
     * the same estimate must hold it. */
    g = nas_graph_new(0);
    nas_graph_set_training(g, 0);
    nas_graph_set_grad(g, 0);
    x = nas_tensor_new4(g, nas__eval_batch(batch), d->c, d->h, d->w);
    fill_random(x->data, nas_tensor_numel(x), &r);
    nas__darts_fixed_forward(g, p, net, x);
    snprintf(what, sizeof what, "eval darts-cnn %s C %d layers %d batch %d", dataset, C, layers,
             nas__eval_batch(batch));
    check_band(what, m.activations, nas_arena_peak(nas_graph_arena(g)));
    free(y);
    nas_graph_free(g);
    nas__darts_fixed_free(net);
    nas_params_free(p);
}

Test(estimate, darts_genotype_network)
{
    darts_fixed_case("fashion-mnist", 8, 5, 32);
    darts_fixed_case("cifar10", 16, 8, 16);
}

/* ------------------------------------------------------- DARTS supernet */

/* recompute: NAS_RECOMPUTE_ALWAYS or _NEVER, the spec's and the net's. */
static void darts_search_case(const char *dataset, int C, int layers, int batch, int order,
                              int recompute)
{
    const nas_dataset_desc *d = nas_dataset_find(dataset);
    nas_job_spec s = {.algorithm = "darts", .search_space = "darts-cnn", .dataset = dataset};
    nas_job_spec_defaults(&s);
    s.C = C;
    s.layers = layers;
    s.batch_size = batch;
    s.order = order;
    s.recompute = recompute;
    nas_job_memory m = estimate(&s);
    cr_expect_eq(m.recompute, recompute == NAS_RECOMPUTE_ALWAYS);

    nas_darts_cfg cfg = {
        .C = C, .layers = layers, .in_c = d->c, .h = d->h, .w = d->w, .classes = d->classes};
    nas_darts_hp hp = {.order = order,
                       .momentum = 0.9f,
                       .weight_decay = 3e-4f,
                       .grad_clip = 5.0f,
                       .arch_lr = 3e-4f,
                       .arch_beta1 = 0.5f,
                       .arch_beta2 = 0.999f,
                       .arch_weight_decay = 1e-3f};
    nas_params *p = nas_params_new();
    nas__darts_net *net = NULL;
    cr_assert_eq(nas__darts_declare(p, &cfg, &net), NAS_OK, "%s", nas_errmsg());
    nas__darts_recompute(net, recompute == NAS_RECOMPUTE_ALWAYS);
    nas_rng r;
    nas_rng_seed(&r, 4);
    cr_assert_eq(nas_params_alloc(p, &r), NAS_OK);
    size_t store = nas_params_total(p) * 16;
    nas_graph *g = nas_graph_new(0);
    nas__darts_search srch;
    cr_assert_eq(nas__darts_search_init(&srch, p, g, net, &cfg, &hp), NAS_OK);
    size_t n = (size_t)batch * d->c * d->h * d->w;
    float *xt = malloc(n * sizeof(float)), *xv = malloc(n * sizeof(float));
    int32_t *yt = calloc((size_t)batch, sizeof(int32_t)), *yv = calloc((size_t)batch, 4);
    fill_random(xt, n, &r);
    fill_random(xv, n, &r);
    nas_darts_batch bt = {xt, yt, batch}, bv = {xv, yv, batch};
    nas_darts_stats st;
    nas__darts_step(&srch, &bt, &bv, 0.025f, &st);
    size_t peak = nas_arena_peak(nas_graph_arena(g)) + nas__darts_scratch_peak(net);
    /* The search's scratch: a snapshot of w, v, two alpha gradients. */
    size_t scratch = (2 * srch.nw + 2 * srch.na) * sizeof(float);
    char what[96];
    snprintf(what, sizeof what, "darts darts-cnn %s C %d L %d B %d order %d %s", dataset, C, layers,
             batch, order, recompute == NAS_RECOMPUTE_ALWAYS ? "recompute" : "keep");
    check_band(what, m.activations, peak);
    cr_expect(m.params >= store, "%s: parameters %zu below the store %zu", what, m.params, store);
    cr_expect(m.params <= store + scratch + store / 4, "%s: parameters %zu, store %zu", what,
              m.params, store);
    free(xt);
    free(xv);
    free(yt);
    free(yv);
    nas__darts_search_free(&srch);
    nas_graph_free(g);
    nas__darts_net_free(net);
    nas_params_free(p);
}

Test(estimate, darts_supernet)
{
    darts_search_case("synthetic", 4, 5, 16, 1, NAS_RECOMPUTE_ALWAYS);
    darts_search_case("fashion-mnist", 8, 5, 32, 1, NAS_RECOMPUTE_ALWAYS);
    darts_search_case("synthetic", 4, 5, 16, 2, NAS_RECOMPUTE_ALWAYS);
}

Test(estimate, darts_supernet_without_recompute)
{
    darts_search_case("synthetic", 4, 5, 16, 1, NAS_RECOMPUTE_NEVER);
    darts_search_case("fashion-mnist", 8, 5, 32, 1, NAS_RECOMPUTE_NEVER);
    darts_search_case("synthetic", 4, 5, 16, 2, NAS_RECOMPUTE_NEVER);
}

/* ------------------------------------------------------ darts-rnn */

static void darts_rnn_case(int V, int H, int T, int B)
{
    nas_job_spec s = {.algorithm = "darts", .search_space = "darts-rnn", .dataset = "ptb"};
    nas_job_spec_defaults(&s);
    s.max_vocab = V;
    s.embed = H;
    s.hidden = H;
    s.bptt = T;
    s.batch_size = B;
    nas_job_memory m = estimate(&s);

    nas_darts_rnn_cfg cfg = {.vocab = V, .embed = H, .hidden = H, .tied = 1};
    nas_params *p = nas_params_new();
    nas__darts_rnn *net = NULL;
    cr_assert_eq(nas__darts_rnn_declare(p, &cfg, &net), NAS_OK, "%s", nas_errmsg());
    nas_rng r;
    nas_rng_seed(&r, 5);
    cr_assert_eq(nas_params_alloc(p, &r), NAS_OK);
    cr_expect_eq(m.params, nas_params_total(p) * 16);
    nas_graph *g = nas_graph_new(0);
    nas_graph_set_rng(g, &r);
    int32_t *rows = calloc((size_t)(T + 1) * B, sizeof(int32_t));
    for (int i = 0; i < (T + 1) * B; i++)
        rows[i] = (int32_t)nas_rng_below(&r, (uint32_t)V);
    float *h = calloc((size_t)B * H, sizeof(float));
    nas_darts_rnn_chunk c = {rows, T, B, h};
    /* The weight pass with the search's default regularisers: the four
     * locked-dropout masks and TAR. */
    size_t bh = (size_t)B * H;
    float *mk = malloc(4 * bh * sizeof(float));
    float q[4] = {s.dropout_input, s.dropout_x, s.dropout_h, s.dropout};
    for (int k = 0; k < 4; k++)
        nas__darts_rnn_mask(mk + k * bh, bh, q[k], &r);
    nas__darts_rnn_reg reg = {mk, mk + bh, mk + 2 * bh, mk + 3 * bh, s.ar_alpha, s.tar_beta};
    nas_tensor *loss = nas__darts_rnn_loss(g, p, net, &c, h, &reg, 1);
    nas_graph_backward(g, loss, NAS_MASK(NAS_GROUP_WEIGHTS) | NAS_MASK(NAS_GROUP_ARCH));
    char what[96];
    snprintf(what, sizeof what, "darts darts-rnn V %d H %d T %d B %d", V, H, T, B);
    check_band(what, m.activations, nas_arena_peak(nas_graph_arena(g)));
    free(mk);
    free(rows);
    free(h);
    nas_graph_free(g);
    nas__darts_rnn_free(net);
    nas_params_free(p);
}

Test(estimate, darts_rnn_supernet)
{
    darts_rnn_case(2000, 64, 35, 32);
    darts_rnn_case(1000, 128, 20, 16);
}

/* enas-rnn: the shared weights exactly, and a child's step (a chain
 * arc: every node uses the one before, all tanh) within the band. */
static void enas_rnn_case(int V, int H, int N, int T, int B)
{
    nas_job_spec s = {.algorithm = "enas", .search_space = "enas-rnn", .dataset = "ptb"};
    nas_job_spec_defaults(&s);
    s.max_vocab = V;
    s.hidden = H;
    s.nodes = N;
    s.bptt = T;
    s.batch_size = B;
    nas_job_memory m = estimate(&s);
    cr_expect(m.exact_model);

    nas_enas_rnn_cfg cfg = {.vocab = V, .hidden = H, .nodes = N};
    nas_params *p = nas_params_new();
    nas__enas_rnn *net = NULL;
    cr_assert_eq(nas__enas_rnn_declare(p, &cfg, &net), NAS_OK, "%s", nas_errmsg());
    nas_rng r;
    nas_rng_seed(&r, 5);
    cr_assert_eq(nas_params_alloc(p, &r), NAS_OK);
    cr_expect_eq(m.params, nas_params_total(p) * 16);
    int len = nas__enas_rnn_arc_len(net);
    int *arc = calloc((size_t)len, sizeof(int));
    /* node 0: activation; node i: input, activation (the reference's
     * layout): input i-1, activation tanh (0). */
    for (int i = 1, k = 1; i < N && k + 1 < len + 1; i++, k += 2)
        arc[k] = i - 1;
    cr_assert_eq(nas__enas_rnn_check_arc(net, arc), NAS_OK, "%s", nas_errmsg());
    nas_graph *g = nas_graph_new(0);
    nas_graph_set_rng(g, &r);
    int32_t *rows = calloc((size_t)(T + 1) * B, sizeof(int32_t));
    for (int i = 0; i < (T + 1) * B; i++)
        rows[i] = (int32_t)nas_rng_below(&r, (uint32_t)V);
    float *h = calloc((size_t)B * H, sizeof(float));
    nas_enas_rnn_chunk c = {rows, T, B, h};
    nas_enas_rnn_drop drop = {0.1f, 0.2f, 0.2f, 0.2f};
    nas_tensor *loss = nas__enas_rnn_loss(g, p, net, arc, &c, h, &drop);
    nas_graph_backward(g, loss, NAS_MASK(NAS_GROUP_WEIGHTS));
    char what[96];
    snprintf(what, sizeof what, "enas enas-rnn V %d H %d N %d T %d B %d", V, H, N, T, B);
    check_band(what, m.activations, nas_arena_peak(nas_graph_arena(g)));
    free(arc);
    free(rows);
    free(h);
    nas_graph_free(g);
    nas__enas_rnn_free(net);
    nas_params_free(p);
}

Test(estimate, enas_rnn)
{
    enas_rnn_case(2000, 64, 12, 35, 20);
    enas_rnn_case(1000, 128, 6, 20, 16);
}

/* ---------------------------------------------------------- everything */

Test(estimate, whole_job_parts_and_unknown_kinds)
{
    /* The dataset and the base are part of every estimate. */
    nas_job_spec s = {.algorithm = "train", .dataset = "fashion-mnist"};
    nas_job_memory m = estimate(&s);
    cr_expect(m.data >= (size_t)70000 * 784, "fashion-mnist in memory: %zu", m.data);
    cr_expect(m.base > 0 && m.exact_model);
    /* enas CNN spaces: the shared weights exactly, bounded activations. */
    nas_job_spec en = {.algorithm = "enas", .search_space = "enas-micro", .dataset = "synthetic"};
    nas_job_memory men = estimate(&en);
    cr_expect(!men.exact_model && men.params > 0 && men.activations > 0);
    /* Its final training at three times the channels and more cells is
     * the larger part of the job; at the search's size it adds nothing. */
    nas_job_spec enf = en;
    enf.final_epochs = 1;
    enf.final_C = 60;
    enf.final_layers = 9;
    nas_job_memory menf = estimate(&enf);
    cr_expect(menf.params > 4 * men.params && menf.activations > 3 * men.activations,
              "final training: %zu + %zu bytes, search %zu + %zu", menf.params, menf.activations,
              men.params, men.activations);
    nas_job_spec ens = en;
    ens.final_epochs = 1;
    nas_job_memory mens = estimate(&ens);
    cr_expect_eq(mens.total, men.total, "final training at the search's size: %zu vs %zu",
                 mens.total, men.total);
    /* A kind not modelled yet gets the conservative figure. */
    nas_job_spec e = {.algorithm = "random", .search_space = "darts-cnn", .dataset = "synthetic"};
    nas_job_memory me = estimate(&e);
    cr_expect(!me.exact_model);
    cr_expect(me.activations > 0);
    /* Unknown datasets are refused. */
    nas_job_spec bad = {.algorithm = "train", .dataset = "nope"};
    size_t b = 1;
    cr_expect_eq(nas_job_estimate_memory(&bad, &b), NAS_EINVAL);
    cr_expect_eq(b, 0);
}

/* nas-rl and random over nasrl-cnn: the largest child the space allows,
 * times the children that train at once (issue #22: a space of 1024
 * filters, 64 layers of 15x15 kernels was estimated as the default). */
Test(estimate, nasrl_cnn_sizes_the_largest_child)
{
    nas_job_spec def = {.algorithm = "nas-rl", .dataset = "fashion-mnist"};
    nas_job_memory md = estimate(&def);
    cr_expect(!md.exact_model);
    nas_job_spec big = {.algorithm = "nas-rl",
                        .dataset = "fashion-mnist",
                        .num_filters = {1024},
                        .nnum_filters = 1,
                        .filter_heights = {15},
                        .nfilter_heights = 1,
                        .filter_widths = {15},
                        .nfilter_widths = 1,
                        .start_layers = 64,
                        .max_layers = 64,
                        .children_per_update = 256,
                        .threads = 1};
    nas_job_memory mb = estimate(&big);
    /* One child's forward outputs alone: 64 layers x 1024 x 28 x 28 x
     * the batch, in floats. */
    nas_job_spec dflt = big;
    nas_job_spec_defaults(&dflt);
    double forward = 64.0 * 1024 * 28 * 28 * dflt.batch_size * 4;
    cr_expect(mb.activations >= forward, "%zu bytes < %.0f", mb.activations, forward);
    cr_expect(mb.total > 20 * md.total, "big %zu, default %zu", mb.total, md.total);
    /* Children trained at once multiply it. */
    nas_job_spec par = big;
    par.threads = 8;
    nas_job_memory mp = estimate(&par);
    cr_expect(mp.activations >= 7 * mb.activations, "%zu vs %zu", mp.activations, mb.activations);
    /* random over the same space is sized the same way. */
    nas_job_spec rnd = big;
    rnd.algorithm = "random";
    cr_expect_eq(estimate(&rnd).total, mb.total);
    /* A larger filter count alone moves it. */
    nas_job_spec wide = def;
    wide.num_filters[0] = 512;
    wide.nnum_filters = 1;
    cr_expect(estimate(&wide).total > md.total);
}

/* recompute "auto" keeps the edges' ops when the figure without
 * recomputation fits the job's memory limit: a small search does at a
 * 1 GiB limit, the default cifar10 search (about 12 GB without) does not;
 * either way the estimate is the one of the form it chose. */
static nas_job_memory darts_auto(const char *dataset, int C, int batch, int recompute)
{
    nas_job_spec s = {.algorithm = "darts", .search_space = "darts-cnn", .dataset = dataset};
    nas_job_spec_defaults(&s);
    s.C = C;
    s.batch_size = batch;
    s.recompute = recompute;
    s.memory_limit = (size_t)1 << 30;
    return estimate(&s);
}

Test(estimate, darts_recompute_auto)
{
    nas_job_memory small = darts_auto("synthetic", 4, 16, NAS_RECOMPUTE_AUTO);
    nas_job_memory keep = darts_auto("synthetic", 4, 16, NAS_RECOMPUTE_NEVER);
    cr_expect_eq(small.recompute, 0, "a small search keeps its ops");
    cr_expect_eq(small.total, keep.total);
    cr_expect_leq(small.total, (size_t)1 << 30);
    nas_job_memory huge = darts_auto("cifar10", 16, 64, NAS_RECOMPUTE_AUTO);
    nas_job_memory always = darts_auto("cifar10", 16, 64, NAS_RECOMPUTE_ALWAYS);
    nas_job_memory never = darts_auto("cifar10", 16, 64, NAS_RECOMPUTE_NEVER);
    cr_expect_eq(huge.recompute, 1, "the default cifar10 search recomputes");
    cr_expect_eq(huge.total, always.total);
    cr_expect_gt(never.total, (size_t)1 << 30, "without recomputation: %zu", never.total);
    cr_expect_gt(never.activations, 5 * always.activations);
    /* Other kinds say nothing about it. */
    nas_job_spec t = {.algorithm = "train", .dataset = "synthetic"};
    nas_job_spec_defaults(&t);
    cr_expect_eq(estimate(&t).recompute, -1);
}
