// SPDX-License-Identifier: MIT
/*
 * test_enas_rnn.c - the ENAS recurrent space: random children over many
 * seeds give the right shapes and loose ends; the loss gradient of a
 * child with a forced arc against finite differences (weights and
 * embedding through BPTT); a child's backward reaches exactly the edges it
 * uses; two children sharing an edge update the same tensor; and the
 * `enas` job on enas-rnn over the fortunes corpus: a tiny search runs to
 * the end with a valid result, and shutdowns inside the weight phase and
 * inside the controller phase, each followed by a resume, end with the
 * same bits as an uninterrupted run.
 *
 * The one design decision to know: the gradient check uses weights far
 * larger than the reference's init (U(-0.8, 0.8) instead of 0.1), because
 * at the real init the cell is nearly linear and any tolerance would pass.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs/jobs.h"
#include "recorder.h"
#include "tmpdir.h"
#include "search/enas/enas_rnn.h"

#define FORTUNES "/usr/share/games/fortunes/fortunes"

typedef struct tiny {
    nas_params *p;
    nas__enas_rnn *net;
    nas_graph *g;
    nas_rng rng;
    int V, H, N;
} tiny;

static void tiny_init(tiny *t, int V, int H, int N, uint64_t seed, float wscale)
{
    t->V = V;
    t->H = H;
    t->N = N;
    t->p = nas_params_new();
    nas_enas_rnn_cfg cfg = {.vocab = V, .hidden = H, .nodes = N};
    cr_assert_eq(nas__enas_rnn_declare(t->p, &cfg, &t->net), NAS_OK, "%s", nas_errmsg());
    nas_rng_seed(&t->rng, seed);
    cr_assert_eq(nas_params_alloc(t->p, &t->rng), NAS_OK);
    if (wscale > 0.0f) {
        float *w;
        size_t nw;
        nas_params_group(t->p, NAS_GROUP_WEIGHTS, &w, NULL, NULL, NULL, &nw);
        for (size_t i = 0; i < nw; i++)
            w[i] = (2.0f * nas_rng_uniform(&t->rng) - 1.0f) * wscale;
    }
    t->g = nas_graph_new(1 << 20);
    nas_graph_set_rng(t->g, &t->rng);
}

static void tiny_free(tiny *t)
{
    nas__enas_rnn_free(t->net);
    nas_params_free(t->p);
    nas_graph_free(t->g);
}

static void random_arc(int *arc, int N, nas_rng *r, int with_relu)
{
    static const int smooth[3] = {NAS_ENAS_RNN_TANH, NAS_ENAS_RNN_IDENTITY, NAS_ENAS_RNN_SIGMOID};
    for (int i = 0; i < N; i++) {
        int a = with_relu ? (int)nas_rng_below(r, NAS_ENAS_RNN_NACT) : smooth[nas_rng_below(r, 3)];
        arc[i ? 2 * i : 0] = a;
        if (i)
            arc[2 * i - 1] = (int)nas_rng_below(r, (uint32_t)i);
    }
}

static void random_ids(int32_t *ids, int n, int V, nas_rng *r)
{
    for (int i = 0; i < n; i++)
        ids[i] = (int32_t)nas_rng_below(r, (uint32_t)V);
}

/* ------------------------------------------------------------- shapes */

Test(enas_rnn, random_children_have_the_right_shapes)
{
    for (uint64_t seed = 1; seed <= 40; seed++) {
        nas_rng r;
        nas_rng_seed(&r, seed);
        int N = 2 + (int)nas_rng_below(&r, 11), H = 1 + (int)nas_rng_below(&r, 6);
        int V = 2 + (int)nas_rng_below(&r, 9), B = 1 + (int)nas_rng_below(&r, 4);
        int T = 1 + (int)nas_rng_below(&r, 4);
        tiny t;
        tiny_init(&t, V, H, N, seed, 0.0f);
        int arc[2 * NAS_ENAS_RNN_MAX_NODES];
        cr_assert_eq(nas__enas_rnn_arc_len(t.net), 2 * N - 1);
        random_arc(arc, N, &r, 1);
        cr_assert_eq(nas__enas_rnn_check_arc(t.net, arc), NAS_OK);

        /* Loose ends: exactly the nodes nobody takes as input. */
        int ends[NAS_ENAS_RNN_MAX_NODES], k = nas__enas_rnn_loose_ends(t.net, arc, ends);
        cr_assert(k >= 1 && ends[k - 1] == N - 1, "node N-1 is a loose end");
        for (int i = 0, e = 0; i < N; i++) {
            int used = 0;
            for (int m = 1; m < N; m++)
                used |= arc[2 * m - 1] == i;
            cr_assert_eq(!used, e < k && ends[e] == i, "seed %llu node %d",
                         (unsigned long long)seed, i);
            e += e < k && ends[e] == i;
        }

        /* One cell step and a chunk's loss. */
        int shape[2] = {B, H};
        nas_tensor *x = nas_tensor_zeros(t.g, 2, shape);
        nas_tensor *h = nas_tensor_zeros(t.g, 2, shape);
        for (int i = 0; i < B * H; i++)
            x->data[i] = nas_rng_normal(&r);
        nas_tensor *y = nas__enas_rnn_cell(t.g, t.p, t.net, arc, x, h, NULL, NULL);
        cr_assert(y->ndim == 2 && y->shape[0] == B && y->shape[1] == H);
        int32_t ids[5 * 4];
        random_ids(ids, (T + 1) * B, V, &r);
        float h0[4 * 6] = {0}, h1[4 * 6];
        nas_enas_rnn_chunk c = {ids, T, B, h0};
        nas_enas_rnn_drop d = {0.2f, 0.3f, 0.2f, 0.3f};
        nas_graph_reset(t.g);
        nas_tensor *loss = nas__enas_rnn_loss(t.g, t.p, t.net, arc, &c, h1, &d);
        cr_assert(loss->ndim == 1 && loss->shape[0] == 1);
        cr_assert(isfinite(loss->data[0]) && loss->data[0] > 0.0f);
        for (int i = 0; i < B * H; i++)
            cr_assert(isfinite(h1[i]));

        /* The JSON names every node, and the bad arcs are refused. */
        nas_json_buf b = {0};
        nas__enas_rnn_arc_json(t.net, arc, &b);
        cr_assert(!b.oom && !strncmp(b.s,
                                     "{\"nodes\": [{\"input\": null, "
                                     "\"activation\": \"",
                                     41),
                  "%s", b.s);
        cr_assert(strstr(b.s, "], \"output\": ["), "%s", b.s);
        free(b.s);
        arc[2 * N - 3] = N - 1; /* node N-1 from itself */
        cr_assert_eq(nas__enas_rnn_check_arc(t.net, arc), NAS_EINVAL);
        arc[2 * N - 3] = 0;
        arc[0] = NAS_ENAS_RNN_NACT;
        cr_assert_eq(nas__enas_rnn_check_arc(t.net, arc), NAS_EINVAL);
        tiny_free(&t);
    }
}

/* The controller program of ptb_enas_controller.py: node i's input is
 * picked by the step that becomes node i's anchor, under the locality
 * prior -(i - j)^2 / 12. */
Test(enas_rnn, controller_program_is_the_reference_sampler)
{
    tiny t;
    tiny_init(&t, 5, 4, 4, 1, 0.0f);
    nas_ctrl_cfg cc = {0};
    int n;
    const nas_ctrl_step *prog = nas__enas_rnn_program(t.net, &n, &cc);
    cr_assert_eq(n, 2 * 4);
    cr_assert_float_eq(cc.locality, 12.0f, 0.0f);
    cr_assert_eq(prog[0].kind, NAS_CTRL_ANCHOR);
    cr_assert_eq(prog[1].kind, NAS_CTRL_CHOICE);
    for (int i = 1; i < 4; i++) {
        cr_assert_eq(prog[2 * i].kind, NAS_CTRL_PICK | NAS_CTRL_PUSH);
        cr_assert_eq(prog[2 * i].n, i);
        cr_assert_eq(prog[2 * i + 1].kind, NAS_CTRL_CHOICE);
    }
    tiny_free(&t);
}

Test(enas_rnn, arc_json_and_fixed_arc_string)
{
    tiny t;
    tiny_init(&t, 5, 3, 4, 1, 0.0f);
    /* node 0 tanh; 1 <- 0 relu; 2 <- 0 identity; 3 <- 1 sigmoid */
    int arc[7] = {0, 0, 1, 0, 2, 1, 3};
    nas_json_buf b = {0};
    nas__enas_rnn_arc_json(t.net, arc, &b);
    cr_assert_str_eq(b.s, "{\"nodes\": [{\"input\": null, \"activation\": \"tanh\"}, "
                          "{\"input\": 0, \"activation\": \"relu\"}, "
                          "{\"input\": 0, \"activation\": \"identity\"}, "
                          "{\"input\": 1, \"activation\": \"sigmoid\"}], "
                          "\"output\": [2, 3]}");
    free(b.s);
    nas_json_buf s = {0};
    nas__enas_rnn_arc_string(t.net, arc, &s);
    cr_assert_str_eq(s.s, "0 0 1 0 2 1 3");
    free(s.s);
    cr_assert_str_eq(nas_params_get(t.p, nas__enas_rnn_edge_param(t.net, 3, 1))->name,
                     "ernn.node.3.from.1.w");
    tiny_free(&t);
}

/* ------------------------------------------------------ gradient check */

static double chunk_loss(tiny *t, const int *arc, const nas_enas_rnn_chunk *c)
{
    nas_graph_reset(t->g);
    nas_graph_set_grad(t->g, 0);
    double l = nas__enas_rnn_loss(t->g, t->p, t->net, arc, c, NULL, NULL)->data[0];
    nas_graph_set_grad(t->g, 1);
    return l;
}

/*
 * Tolerances: the loss is a mean cross-entropy of about log V = 1.9 in
 * float32 (rounding ~2e-7 relative, over a few hundred terms), so with
 * h = 1e-2 the central difference is off by ~1e-4 from rounding and by
 * h^2/6 f''' ~ 2e-5 from truncation: |a - n| <= 5e-4 + 2e-2 |n|.
 */
Test(enas_rnn, child_gradient_matches_finite_differences)
{
    int V = 7, H = 5, N = 6, B = 3, T = 3;
    tiny t;
    tiny_init(&t, V, H, N, 7, 0.8f);
    nas_rng r;
    nas_rng_seed(&r, 3);
    int arc[2 * 6 - 1];
    random_arc(arc, N, &r, 0);
    arc[2 * 5 - 1] = 2; /* a chain deep enough: 5 <- 2 */
    int32_t ids[(3 + 1) * 3];
    random_ids(ids, (T + 1) * B, V, &r);
    float h0[3 * 5];
    for (int i = 0; i < B * H; i++)
        h0[i] = 0.5f * nas_rng_normal(&r);
    nas_enas_rnn_chunk c = {ids, T, B, h0};

    nas_params_zero_grad(t.p, NAS_MASK_ALL);
    nas_graph_reset(t.g);
    nas_tensor *loss = nas__enas_rnn_loss(t.g, t.p, t.net, arc, &c, NULL, NULL);
    nas_graph_backward(t.g, loss, NAS_MASK(NAS_GROUP_WEIGHTS));

    /* Every used tensor: node 0, the chosen edges, the embedding. */
    int idx[NAS_ENAS_RNN_MAX_NODES + 1], n = 0;
    idx[n++] = nas__enas_rnn_embed_param(t.net);
    idx[n++] = nas__enas_rnn_edge_param(t.net, 0, 0);
    for (int i = 1; i < N; i++)
        idx[n++] = nas__enas_rnn_edge_param(t.net, i, arc[2 * i - 1]);
    int bad = 0, checked = 0;
    for (int k = 0; k < n; k++) {
        nas_tensor *w = nas_params_get(t.p, idx[k]);
        size_t numel = nas_tensor_numel(w);
        for (size_t e = 0; e < numel; e += 1 + numel / 23) {
            float keep = w->data[e];
            w->data[e] = keep + 1e-2f;
            double lp = chunk_loss(&t, arc, &c);
            w->data[e] = keep - 1e-2f;
            double lm = chunk_loss(&t, arc, &c);
            w->data[e] = keep;
            double num = (lp - lm) / 2e-2, ana = w->grad[e];
            checked++;
            if (fabs(num - ana) > 5e-4 + 2e-2 * fabs(num)) {
                if (bad++ < 5)
                    cr_log_error("%s[%zu]: analytic %g, numeric %g", w->name, e, ana, num);
            }
        }
    }
    cr_assert(checked > 100, "%d elements checked", checked);
    cr_assert_eq(bad, 0, "%d of %d elements disagree", bad, checked);
    tiny_free(&t);
}

/* ------------------------------------------------------ weight sharing */

static int grad_nonzero(nas_tensor *w)
{
    for (size_t i = 0; i < nas_tensor_numel(w); i++)
        if (w->grad[i] != 0.0f)
            return 1;
    return 0;
}

Test(enas_rnn, only_the_used_edges_get_gradients)
{
    int V = 6, H = 4, N = 8, B = 2, T = 3;
    for (uint64_t seed = 1; seed <= 10; seed++) {
        tiny t;
        tiny_init(&t, V, H, N, seed, 0.5f);
        nas_rng r;
        nas_rng_seed(&r, seed + 100);
        int arc[2 * 8 - 1];
        random_arc(arc, N, &r, 0);
        int32_t ids[4 * 2];
        random_ids(ids, (T + 1) * B, V, &r);
        float h0[2 * 4] = {0};
        nas_enas_rnn_chunk c = {ids, T, B, h0};
        nas_params_zero_grad(t.p, NAS_MASK_ALL);
        nas_graph_reset(t.g);
        nas_graph_backward(t.g, nas__enas_rnn_loss(t.g, t.p, t.net, arc, &c, NULL, NULL),
                           NAS_MASK(NAS_GROUP_WEIGHTS));
        cr_assert(grad_nonzero(nas_params_get(t.p, nas__enas_rnn_embed_param(t.net))));
        cr_assert(grad_nonzero(nas_params_get(t.p, nas__enas_rnn_edge_param(t.net, 0, 0))));
        for (int i = 1; i < N; i++)
            for (int j = 0; j < i; j++) {
                nas_tensor *w = nas_params_get(t.p, nas__enas_rnn_edge_param(t.net, i, j));
                cr_assert_eq(grad_nonzero(w), arc[2 * i - 1] == j,
                             "seed %llu: %s (node %d takes %d)", (unsigned long long)seed, w->name,
                             i, arc[2 * i - 1]);
            }
        tiny_free(&t);
    }
}

/* One SGD step (no decay) of child arc; returns a copy of every weight
 * tensor's data before the step, concatenated. */
static float *sgd_step(tiny *t, const int *arc, const nas_enas_rnn_chunk *c)
{
    float *w;
    size_t nw;
    nas_params_group(t->p, NAS_GROUP_WEIGHTS, &w, NULL, NULL, NULL, &nw);
    float *before = malloc(nw * sizeof(float));
    memcpy(before, w, nw * sizeof(float));
    nas_params_zero_grad(t->p, NAS_MASK_ALL);
    nas_graph_reset(t->g);
    nas_graph_backward(t->g, nas__enas_rnn_loss(t->g, t->p, t->net, arc, c, NULL, NULL),
                       NAS_MASK(NAS_GROUP_WEIGHTS));
    nas_sgd opt = {.lr = 0.5f};
    nas_sgd_step(&opt, t->p, NAS_GROUP_WEIGHTS);
    return before;
}

static int changed(tiny *t, int index, const float *before)
{
    float *w0;
    nas_params_group(t->p, NAS_GROUP_WEIGHTS, &w0, NULL, NULL, NULL, NULL);
    nas_tensor *w = nas_params_get(t->p, index);
    const float *old = before + (w->data - w0);
    return memcmp(old, w->data, nas_tensor_numel(w) * sizeof(float)) != 0;
}

Test(enas_rnn, two_children_sharing_an_edge_update_the_same_tensor)
{
    int V = 6, H = 4, N = 5, B = 2, T = 2;
    tiny t;
    tiny_init(&t, V, H, N, 11, 0.5f);
    nas_rng r;
    nas_rng_seed(&r, 12);
    int32_t ids[3 * 2];
    random_ids(ids, (T + 1) * B, V, &r);
    float h0[2 * 4] = {0};
    nas_enas_rnn_chunk c = {ids, T, B, h0};
    /* Both take edge 3 <- 1, with other activations and other edges:
     * A: 1<-0 2<-0 3<-1 4<-2; B: 1<-0 2<-1 3<-1 4<-3. */
    int a[9] = {0, 0, 0, 0, 1, 1, 2, 2, 3};
    int b[9] = {3, 0, 2, 1, 0, 1, 3, 3, 0};
    int shared = nas__enas_rnn_edge_param(t.net, 3, 1);
    cr_assert(nas_params_get(t.p, shared) == nas_params_find(t.p, "ernn.node.3.from.1.w"));
    float *before = sgd_step(&t, a, &c);
    cr_assert(changed(&t, shared, before), "A moved the shared edge");
    cr_assert(changed(&t, nas__enas_rnn_edge_param(t.net, 4, 2), before));
    cr_assert(!changed(&t, nas__enas_rnn_edge_param(t.net, 4, 3), before),
              "A does not touch B's edge 4 <- 3");
    free(before);
    before = sgd_step(&t, b, &c);
    cr_assert(changed(&t, shared, before), "B moved the same tensor");
    cr_assert(changed(&t, nas__enas_rnn_edge_param(t.net, 4, 3), before));
    cr_assert(!changed(&t, nas__enas_rnn_edge_param(t.net, 4, 2), before),
              "B does not touch A's edge 4 <- 2");
    for (int i = 1; i < N; i++)
        for (int j = 0; j < i; j++)
            if (j != a[2 * i - 1] && j != b[2 * i - 1]) {
                cr_assert(!changed(&t, nas__enas_rnn_edge_param(t.net, i, j), before));
            }
    free(before);
    tiny_free(&t);
}

/* --------------------------------------------------------------- the job */

static nas_job_spec tiny_spec(int epochs)
{
    nas_job_spec s = {.algorithm = "enas", .search_space = "enas-rnn", .dataset = "fortunes"};
    nas_job_spec_defaults(&s);
    s.data_path = FORTUNES;
    s.nodes = 5;
    s.hidden = 8;
    s.bptt = 6;
    s.batch_size = 16;
    s.max_vocab = 300;
    s.lr = 0.5f;
    s.lr_decay_start = 1;
    s.lr_decay_rate = 0.5f;
    s.ctrl_hidden = 12;
    s.ctrl_steps = 3;
    s.ctrl_aggregate = 2;
    s.final_samples = 4;
    s.epochs = epochs;
    s.seed = 9;
    s.threads = 1;
    return s;
}

/* The arc JSON of a result: N nodes, node 0 without input, node i from an
 * earlier node, the output the loose ends. */
static void assert_valid_arch(const char *arch, int N)
{
    const char *q = strstr(arch, "{\"input\": null, \"activation\": \"");
    cr_assert(q == arch + 11, "%s", arch);
    int used[NAS_ENAS_RNN_MAX_NODES] = {0};
    for (int i = 1; i < N; i++) {
        q = strstr(q + 1, "{\"input\": ");
        cr_assert(q, "%s", arch);
        int from;
        char act[16];
        cr_assert_eq(sscanf(q, "{\"input\": %d, \"activation\": \"%15[a-z]\"}", &from, act), 2,
                     "%s", q);
        cr_assert(from >= 0 && from < i, "node %d from %d", i, from);
        cr_assert(!strcmp(act, "tanh") || !strcmp(act, "relu") || !strcmp(act, "identity") ||
                      !strcmp(act, "sigmoid"),
                  "%s", act);
        used[from] = 1;
    }
    cr_assert(!strstr(q + 1, "{\"input\": "), "more than %d nodes: %s", N, arch);
    char want[256] = "\"output\": [";
    for (int i = 0, first = 1; i < N; i++)
        if (!used[i]) {
            snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%d", first ? "" : ", ",
                     i);
            first = 0;
        }
    strcat(want, "]}");
    cr_assert(strstr(arch, want), "%s in %s", want, arch);
}

Test(enas_rnn, tiny_search_on_fortunes_runs_to_a_valid_result, .timeout = 60)
{
    if (access(FORTUNES, R_OK) != 0)
        cr_skip_test(FORTUNES " missing (Debian package fortunes-min)");
    recorder r = {0};
    nas_job_spec s = tiny_spec(2);
    cr_assert_eq(recorder_run(&s, &r), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(r.nresult, 1);
    cr_assert_eq(r.narch, 2 * 3 * 2, "every controller-phase child is a row");
    /* Per update: controller_loss, controller_entropy, baseline, reward;
     * per epoch: train loss and perplexity, val perplexity, lr. */
    cr_assert_eq(r.nmetric, 2 * (3 * 4 + 4));
    cr_assert_str_eq(r.metric, "val_perplexity");
    cr_assert(isfinite(r.value) && r.value > 1.0 && r.value < 300.0, "perplexity %g", r.value);
    cr_assert(r.reward > 0.0 && r.reward <= 80.0);
    assert_valid_arch(r.result_arch, 5);
    assert_valid_arch(r.arch_json, 5);
    cr_assert(strstr(r.arch_metrics, "\"fixed_arc\":\""), "%s", r.arch_metrics);
    /* The fixed-arc string: 2N - 1 ints, the same child as the JSON. */
    const char *f = strstr(r.result_json, "\"fixed_arc\":\"");
    cr_assert(f, "%s", r.result_json);
    int a[9], n = 0, off = 0;
    f += strlen("\"fixed_arc\":\"");
    while (n < 9 && sscanf(f, "%d%n", &a[n], &off) == 1) {
        f += off;
        n++;
    }
    cr_assert_eq(n, 9, "%s", r.result_json);
    cr_assert_eq(*f, '"');
    char node[64];
    snprintf(node, sizeof(node), "{\"input\": %d, \"activation\": \"%s\"}", a[7],
             nas__enas_rnn_act_names[a[8]]);
    cr_assert(strstr(r.result_arch, node), "%s in %s", node, r.result_arch);
    cr_assert(strstr(r.result_json, "\"stopped_by\":\"epochs\""), "%s", r.result_json);
    recorder_done(&r);
}

/* The result JSON without its wall-clock "seconds". */
static char *strip_seconds(const char *json)
{
    char *s = strdup(json), *p = strstr(s, ",\"seconds\":");
    cr_assert(p);
    *p = '\0';
    return s;
}

Test(enas_rnn, shutdowns_and_resumes_are_exact, .timeout = 60)
{
    if (access(FORTUNES, R_OK) != 0)
        cr_skip_test(FORTUNES " missing (Debian package fortunes-min)");
    char *dir = tmpdir_new("test_enas_rnn");
    char pa[600], pb[600];
    snprintf(pa, sizeof(pa), "%s/a.ckpt", dir);
    snprintf(pb, sizeof(pb), "%s/b.ckpt", dir);
    nas_job_spec s = tiny_spec(2);

    recorder a = {0};
    s.checkpoint_path = pa;
    cr_assert_eq(recorder_run(&s, &a), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(a.nckpt, 2, "one checkpoint per epoch");
    int64_t spe = a.last_ckpt_step / 2;
    cr_assert(spe > 3 + 2, "%lld steps per epoch", (long long)spe);

    /* Stop inside epoch 1's controller phase (after its first update),
     * then inside epoch 2's weight phase; resume each time. */
    s.checkpoint_path = pb;
    s.resume = 1;
    int64_t stops[2] = {spe - 2, spe + 2};
    int64_t from = 0;
    for (int k = 0; k < 2; k++) {
        recorder b = {0};
        b.stop_at = stops[k];
        b.stop_value = NAS_STOP_SHUTDOWN;
        int rc = recorder_run(&s, &b);
        cr_assert_eq(rc, NAS_ECANCELLED, "%s", nas_strerror(rc));
        cr_assert_eq(b.last_ckpt_step, stops[k], "the shutdown checkpoint");
        cr_assert_eq(b.nprogress, stops[k] - from);
        cr_assert_eq(b.nresult, 0);
        from = stops[k];
        recorder_done(&b);
    }
    recorder c = {0};
    cr_assert_eq(recorder_run(&s, &c), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(c.nprogress, 2 * spe - from, "only the remaining steps run");
    cr_assert_eq(c.nresult, 1);
    cr_assert_eq(memcmp(&a.value, &c.value, sizeof(double)), 0, "val perplexity %.17g vs %.17g",
                 a.value, c.value);
    char *ja = strip_seconds(a.result_json), *jc = strip_seconds(c.result_json);
    cr_assert_str_eq(ja, jc, "same child, losses and baseline");
    cr_assert_str_eq(a.arch_metrics, c.arch_metrics);
    cr_assert_eq(memcmp(&a.reward, &c.reward, sizeof(double)), 0);
    free(ja);
    free(jc);

    /* Another spec's checkpoint is refused. */
    recorder d = {0};
    s.nodes = 6;
    cr_assert_eq(recorder_run(&s, &d), NAS_EINVAL);
    cr_assert(strstr(nas_errmsg(), "nodes=5 there, nodes=6 here"), "%s", nas_errmsg());
    recorder_done(&a);
    recorder_done(&c);
    recorder_done(&d);
    rm_dir(dir);
}

Test(enas_rnn, defaults_and_bad_specs)
{
    nas_job_spec s = {.algorithm = "enas", .search_space = "enas-rnn", .dataset = "ptb"};
    nas_job_spec_defaults(&s);
    cr_expect_eq(s.batch_size, 20);
    cr_expect_eq(s.nodes, 12);
    cr_expect_eq(s.hidden, 720);
    cr_expect_eq(s.bptt, 35);
    cr_expect_eq(s.lr, 0.25f);
    cr_expect_eq(s.lr_decay_start, 12);
    cr_expect_eq(s.lr_decay_rate, 0.95f);
    cr_expect_eq(s.grad_clip, 10.0f);
    cr_expect_eq(s.dropout_x, 0.75f);
    cr_expect_eq(s.ctrl_hidden, 100);
    cr_expect_eq(s.ctrl_temperature, 5.0f);
    cr_expect_eq(s.reward_c, 80.0f);
    cr_expect_eq(s.final_samples, 100);

    nas_job_spec bad = s;
    bad.dataset = "synthetic";
    cr_expect_eq(nas_job_run(&bad, NULL, NULL), NAS_EINVAL);
    cr_expect(strstr(nas_errmsg(), "needs a text dataset"), "%s", nas_errmsg());
    bad = s;
    bad.nodes = 1;
    cr_expect_eq(nas_job_run(&bad, NULL, NULL), NAS_EINVAL);
    cr_expect(strncmp(nas_errmsg(), "nodes:", 6) == 0, "%s", nas_errmsg());
    bad = s;
    bad.dropout_h = 1.0f;
    cr_expect_eq(nas_job_run(&bad, NULL, NULL), NAS_EINVAL);
    cr_expect(strncmp(nas_errmsg(), "dropout_h:", 10) == 0, "%s", nas_errmsg());
}
