// SPDX-License-Identifier: MIT
/*
 * nasrl_rnn.c - the nasrl-rnn search space of NAS with RL (Zoph & Le
 * 2017): a recurrent cell written as a binary tree over x_t and h_{t-1},
 * plus the cell-inject decisions that thread a memory c through it, and a
 * language model built on that cell, trained from scratch as a child with
 * reward reward_c / (validation perplexity)^2.
 *
 * The tree of base B (2, 4 or 8) has B leaves and B - 1 inner nodes,
 * numbered leaves first, then level by level (node 2B-2 is the root).
 * Every node picks a combination (add, elementwise multiply) and an
 * activation (identity, tanh, sigmoid, relu): leaf i computes
 * act(comb(W_i x_t + b_i, U_i h_{t-1})), an inner node act(comb(left,
 * right)). Then the cell inject: a node k (not the root) whose output is
 * replaced by act'(comb'(a_k, c_{t-1})) right after it is computed, and a
 * node m (not the root) whose combination before its activation becomes
 * c_t (the paper's example); h_t is the root's output. Decisions, in program order: (comb, act) per
 * node, then inject node, inject comb, inject act, c node (arc length 2 (2B - 1) + 4).
 *
 * The one design decision to know: the B leaves' input and recurrent
 * matrices are stored stacked (B H x E and B H x H), so a time step is two
 * GEMMs whatever B, and each leaf takes its H columns with nas_narrow.
 * The LM around the cell is the train kind's (embedding, dropout on its
 * input and output, linear decoder, truncated BPTT with the state carried
 * between chunks of an epoch).
 */
#include "internal.h"
#include "search/nasrl/nasrl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { HEAD_COMB, HEAD_ACT, HEAD_NODE };
enum { NCOMB = 2, NACT = 4, MAX_BASE = 8, MAX_NODES = 2 * MAX_BASE - 1 };

const char *const nas__nasrl_rnn_comb_names[NCOMB] = {"add", "mul"};
const char *const nas__nasrl_rnn_act_names[NACT] = {"identity", "tanh", "sigmoid", "relu"};

static int nodes_of(const nas_job_spec *s)
{
    return 2 * s->tree_base - 1;
}

static int rnn_arc_len(const nas_job_spec *s, int layers)
{
    (void)layers;
    return 2 * nodes_of(s) + 4;
}

static int rnn_program(const nas_job_spec *s, int layers, nas_ctrl_step *prog, nas_ctrl_cfg *cfg)
{
    (void)layers;
    int nodes = nodes_of(s), n = 0;
    cfg->nheads = 3;
    cfg->head_size[HEAD_COMB] = NCOMB;
    cfg->head_size[HEAD_ACT] = NACT;
    cfg->head_size[HEAD_NODE] = MAX_NODES - 1;
    for (int k = 0; k < nodes; k++) {
        prog[n++] = (nas_ctrl_step){NAS_CTRL_CHOICE, HEAD_COMB, NCOMB};
        prog[n++] = (nas_ctrl_step){NAS_CTRL_CHOICE, HEAD_ACT, NACT};
    }
    prog[n++] = (nas_ctrl_step){NAS_CTRL_CHOICE, HEAD_NODE, nodes - 1};
    prog[n++] = (nas_ctrl_step){NAS_CTRL_CHOICE, HEAD_COMB, NCOMB};
    prog[n++] = (nas_ctrl_step){NAS_CTRL_CHOICE, HEAD_ACT, NACT};
    prog[n++] = (nas_ctrl_step){NAS_CTRL_CHOICE, HEAD_NODE, nodes - 1};
    return n;
}

static void rnn_sample(const nas_job_spec *s, int layers, nas_rng *rng, int *dec)
{
    (void)layers;
    int nodes = nodes_of(s), k = 0;
    for (int i = 0; i < nodes; i++) {
        dec[k++] = (int)nas_rng_below(rng, NCOMB);
        dec[k++] = (int)nas_rng_below(rng, NACT);
    }
    dec[k++] = (int)nas_rng_below(rng, (uint32_t)(nodes - 1));
    dec[k++] = (int)nas_rng_below(rng, NCOMB);
    dec[k++] = (int)nas_rng_below(rng, NACT);
    dec[k++] = (int)nas_rng_below(rng, (uint32_t)(nodes - 1));
}

static int rnn_check(const nas_job_spec *s, const int *dec, int n)
{
    int nodes = nodes_of(s);
    if (n != rnn_arc_len(s, 0))
        return nas_fail(NAS_EINVAL, "nasrl-rnn: %d decisions, not %d", n, rnn_arc_len(s, 0));
    for (int k = 0; k < nodes + 1; k++) {
        const int *d = dec + 2 * k + (k == nodes);
        if (d[0] < 0 || d[0] >= NCOMB || d[1] < 0 || d[1] >= NACT)
            return nas_fail(NAS_EINVAL,
                            "nasrl-rnn: node %d: combination "
                            "or activation out of range",
                            k);
    }
    const int *tail = dec + 2 * nodes;
    if (tail[0] < 0 || tail[0] >= nodes - 1 || tail[3] < 0 || tail[3] >= nodes - 1)
        return nas_fail(NAS_EINVAL,
                        "nasrl-rnn: cell inject or cell output "
                        "node out of range [0, %d)",
                        nodes - 1);
    return NAS_OK;
}

/* {"base":B,"nodes":[{"inputs":["x","h"]|[l,r],"combine":"add",
 * "activation":"tanh"}, ...],"cell_inject":{"node":k,"combine":..,
 * "activation":..},"cell_output":m} */
static int rnn_json(const nas_job_spec *s, const int *dec, int n, nas_json_buf *b)
{
    int rc = rnn_check(s, dec, n);
    if (rc < 0)
        return rc;
    int B = s->tree_base, nodes = nodes_of(s), child = 0;
    char t[160];
    snprintf(t, sizeof(t), "{\"base\":%d,\"nodes\":[", B);
    nas__json_buf_puts(b, t);
    for (int k = 0; k < nodes; k++) {
        char in[32];
        if (k < B) {
            snprintf(in, sizeof(in), "[\"x\",\"h\"]");
        } else {
            snprintf(in, sizeof(in), "[%d,%d]", child, child + 1);
            child += 2;
        }
        snprintf(t, sizeof(t),
                 "%s{\"inputs\":%s,\"combine\":\"%s\","
                 "\"activation\":\"%s\"}",
                 k ? "," : "", in, nas__nasrl_rnn_comb_names[dec[2 * k]],
                 nas__nasrl_rnn_act_names[dec[2 * k + 1]]);
        nas__json_buf_puts(b, t);
    }
    const int *tail = dec + 2 * nodes;
    snprintf(t, sizeof(t),
             "],\"cell_inject\":{\"node\":%d,\"combine\":\"%s\","
             "\"activation\":\"%s\"},\"cell_output\":%d}",
             tail[0], nas__nasrl_rnn_comb_names[tail[1]], nas__nasrl_rnn_act_names[tail[2]],
             tail[3]);
    nas__json_buf_puts(b, t);
    return b->oom ? nas_fail(NAS_ENOMEM, "nasrl-rnn: json") : NAS_OK;
}

static int rnn_layers(const nas_job_spec *s, const int *dec, int n)
{
    (void)s;
    (void)dec;
    (void)n;
    return 0;
}

/* ---------------------------------------------------------------- cell */

static nas_tensor *act(nas_graph *g, int a, nas_tensor *x)
{
    switch (a) {
    case 1: return nas_tanh(g, x);
    case 2: return nas_sigmoid(g, x);
    case 3: return nas_relu(g, x);
    default: return x;
    }
}

static nas_tensor *comb(nas_graph *g, int c, nas_tensor *a, nas_tensor *b)
{
    return c ? nas_mul(g, a, b) : nas_add(g, a, b);
}

typedef struct rnn_lm {
    const nas_job_spec *s;
    const int *dec;
    int V, E, H, B;
    int emb, wx, bx, wh, dec_w, dec_b;
} rnn_lm;

nas_tensor *nas__nasrl_rnn_tree(nas_graph *g, const int *dec, int B, nas_tensor *X, nas_tensor *Hh,
                                nas_tensor *c, nas_tensor **c_out)
{
    int H = X->shape[1] / B, nodes = 2 * B - 1;
    const int *tail = dec + 2 * nodes;
    nas_tensor *a[MAX_NODES], *pre[MAX_NODES];
    int child = 0;
    for (int k = 0; k < nodes; k++) {
        nas_tensor *l, *r;
        if (k < B) {
            l = nas_narrow(g, X, k * H, H);
            r = nas_narrow(g, Hh, k * H, H);
        } else {
            l = a[child];
            r = a[child + 1];
            child += 2;
        }
        pre[k] = comb(g, dec[2 * k], l, r);
        a[k] = act(g, dec[2 * k + 1], pre[k]);
        if (k == tail[0])
            a[k] = act(g, tail[2], comb(g, tail[1], a[k], c));
    }
    /* The paper's example (Zoph & Le 2017, appendix): c_t is the chosen
     * node's combination before its activation, c_t = (W3 x) * (W4 h). */
    *c_out = pre[tail[3]];
    return a[nodes - 1];
}

/* One step: x (N, E), h and c (N, H) -> new h (returned) and *c_out. */
static nas_tensor *cell_step(nas_graph *g, nas_params *p, const rnn_lm *m, nas_tensor *x,
                             nas_tensor *h, nas_tensor *c, nas_tensor **c_out)
{
    nas_tensor *X = nas_linear(g, x, nas_params_get(p, m->wx), nas_params_get(p, m->bx));
    nas_tensor *Hh = nas_linear(g, h, nas_params_get(p, m->wh), NULL);
    return nas__nasrl_rnn_tree(g, m->dec, m->B, X, Hh, c, c_out);
}

/* Mean cross-entropy of a chunk of T steps of rows (T + 1 rows of bsz
 * ids); h, c (bsz, H) carried in and out. */
static nas_tensor *chunk_loss(nas_graph *g, nas_params *p, const rnn_lm *m, const int32_t *rows,
                              int T, int bsz, float *h, float *c, float dropout)
{
    int H = m->H, shape[2] = {bsz, H};
    nas_tensor *hs = nas_tensor_new(g, 2, shape), *cs = nas_tensor_new(g, 2, shape);
    memcpy(hs->data, h, (size_t)bsz * H * sizeof(float));
    memcpy(cs->data, c, (size_t)bsz * H * sizeof(float));
    nas_tensor **outs = nas_arena_alloc(nas_graph_arena(g), (size_t)T * sizeof(*outs));
    for (int t = 0; t < T; t++) {
        nas_tensor *x = nas_embedding(g, nas_params_get(p, m->emb), rows + (size_t)t * bsz, bsz);
        x = nas_dropout(g, x, dropout);
        hs = cell_step(g, p, m, x, hs, cs, &cs);
        outs[t] = nas_dropout(g, hs, dropout);
    }
    int flat[2] = {bsz * T, H};
    nas_tensor *y = nas_reshape(g, nas_concat(g, outs, T), 2, flat);
    int32_t *tgt = nas_arena_alloc(nas_graph_arena(g), (size_t)bsz * T * sizeof(int32_t));
    for (int b = 0; b < bsz; b++)
        for (int t = 0; t < T; t++)
            tgt[(size_t)b * T + t] = rows[(size_t)(t + 1) * bsz + b];
    nas_tensor *logits = nas_linear(g, y, nas_params_get(p, m->dec_w), nas_params_get(p, m->dec_b));
    memcpy(h, hs->data, (size_t)bsz * H * sizeof(float));
    memcpy(c, cs->data, (size_t)bsz * H * sizeof(float));
    return nas_cross_entropy(g, logits, tgt);
}

int nas__nasrl_rnn_declare(nas_params *p, int V, int E, int H, int B, int *emb, int *wx, int *bx,
                           int *wh, int *dec_w, int *dec_b)
{
    const int W = NAS_GROUP_WEIGHTS;
    int se[2] = {V, E}, sx[2] = {B * H, E}, sb[1] = {B * H}, sh[2] = {B * H, H}, sd[2] = {V, H},
        sv[1] = {V};
    if ((*emb = nas_params_add(p, "emb", W, NAS_INIT_UNIFORM, 0.1f, 2, se)) < 0 ||
        (*wx = nas_params_add(p, "cell.wx", W, NAS_INIT_KAIMING, 1.0f, 2, sx)) < 0 ||
        (*bx = nas_params_add(p, "cell.bx", W, NAS_INIT_ZERO, 1.0f, 1, sb)) < 0 ||
        (*wh = nas_params_add(p, "cell.wh", W, NAS_INIT_KAIMING, 1.0f, 2, sh)) < 0 ||
        (*dec_w = nas_params_add(p, "dec.w", W, NAS_INIT_UNIFORM, 0.1f, 2, sd)) < 0 ||
        (*dec_b = nas_params_add(p, "dec.b", W, NAS_INIT_ZERO, 1.0f, 1, sv)) < 0)
        return NAS_ENOMEM;
    return NAS_OK;
}

static int declare(nas_params *p, rnn_lm *m)
{
    return nas__nasrl_rnn_declare(p, m->V, m->E, m->H, m->B, &m->emb, &m->wx, &m->bx, &m->wh,
                                  &m->dec_w, &m->dec_b);
}

/* Perplexity of a whole batchified stream, eval mode, state from zero. */
static double evaluate(nas_graph *g, nas_params *p, const rnn_lm *m, const int32_t *ids, int rows,
                       int bsz, int bptt, float *h, float *c)
{
    double sum = 0.0, count = 0.0;
    memset(h, 0, (size_t)bsz * m->H * sizeof(float));
    memset(c, 0, (size_t)bsz * m->H * sizeof(float));
    nas_graph_set_training(g, 0);
    nas_graph_set_grad(g, 0);
    for (int i = 0; i + 1 < rows; i += bptt) {
        int T = rows - 1 - i < bptt ? rows - 1 - i : bptt;
        nas_graph_reset(g);
        nas_tensor *loss = chunk_loss(g, p, m, ids + (size_t)i * bsz, T, bsz, h, c, 0.0f);
        sum += (double)loss->data[0] * T * bsz;
        count += (double)T * bsz;
    }
    nas_graph_reset(g);
    nas_graph_set_training(g, 1);
    nas_graph_set_grad(g, 1);
    return count > 0 ? exp(sum / count) : INFINITY;
}

static int rnn_train(const nas_job_spec *s, const int *dec, int n, const nas_nasrl_train_cfg *cfg,
                     const nas__nasrl_data *d, nas_nasrl_child *out)
{
    const nas_corpus *cp = d->corpus;
    int rc = rnn_check(s, dec, n), bsz = cfg->batch_size, bptt = s->bptt;
    int ebsz = cp->nvalid / 2 < 10 ? cp->nvalid / 2 : 10, trows = 0, vrows = 0;
    double t0 = nas__now();
    memset(out, 0, sizeof(*out));
    if (rc < 0)
        return rc;
    if (cp->ntrain < 2 * bsz || ebsz < 1)
        return nas_fail(NAS_EINVAL,
                        "batch_size: %d columns need %d training "
                        "tokens, the corpus has %d (and %d valid)",
                        bsz, 2 * bsz, cp->ntrain, cp->nvalid);
    nas_set_threads(cfg->threads);
    rnn_lm m = {
        .s = s, .dec = dec, .V = cp->vocab_size, .E = s->embed, .H = s->hidden, .B = s->tree_base};
    nas_params *p = nas_params_new();
    nas_graph *g = nas_graph_new(0);
    int32_t *train = NULL, *valid = NULL;
    float *state = malloc((size_t)4 * (bsz > ebsz ? bsz : ebsz) * m.H * sizeof(float));
    nas_rng init, drop;
    if (!p || !g || !state) {
        rc = nas_fail(NAS_ENOMEM, "nasrl-rnn child: out of memory");
        goto fail;
    }
    if ((rc = nas_batchify(cp->train, cp->ntrain, bsz, &train, &trows)) < 0 ||
        (rc = nas_batchify(cp->valid, cp->nvalid, ebsz, &valid, &vrows)) < 0 ||
        (rc = declare(p, &m)) < 0)
        goto fail;
    nas_rng_seed(&init, cfg->seed);
    nas_rng_seed(&drop, cfg->seed ^ 0x64726f702d726e67ull);
    if ((rc = nas_params_alloc(p, &init)) < 0)
        goto fail;
    nas_graph_set_rng(g, &drop);
    out->parameters = nas__params_weights_numel(p);
    int64_t spe = (trows - 2) / bptt + 1, total = spe * cfg->epochs;
    nas_sgd sgd = nas__nasrl_sgd(cfg);
    float *h = state, *c = state + (size_t)bsz * m.H;
    float *eh = c + (size_t)bsz * m.H, *ec = eh + (size_t)ebsz * m.H;
    for (int e = 0; e < cfg->epochs; e++) {
        double loss_sum = 0.0;
        int steps = 0;
        memset(h, 0, (size_t)2 * bsz * m.H * sizeof(float));
        for (int i = 0; i + 1 < trows; i += bptt, steps++) {
            if (cfg->should_stop && cfg->should_stop(cfg->stop_ctx)) {
                rc = NAS_ECANCELLED;
                goto fail;
            }
            if (nas__nasrl_out_of_time(cfg, t0)) {
                out->by_time = 1;
                break;
            }
            int T = trows - 1 - i < bptt ? trows - 1 - i : bptt;
            nas_graph_reset(g);
            nas_tensor *loss =
                chunk_loss(g, p, &m, train + (size_t)i * bsz, T, bsz, h, c, s->dropout);
            nas__nasrl_sgd_step(cfg, g, p, loss, &sgd, total);
            loss_sum += loss->data[0];
        }
        if (out->by_time && steps == 0 && e > 0)
            break; /* stopped at an epoch's end: its numbers stand */
        out->train_loss = steps ? loss_sum / steps : 0.0;
        double ppl = evaluate(g, p, &m, valid, vrows, ebsz, bptt, eh, ec);
        if (!isfinite(ppl))
            ppl = 1e30; /* a diverged child: reward ~0, never NaN */
        out->val_metric = ppl;
        if (out->by_time)
            break; /* a part of epoch e: evaluated, not counted */
        out->epochs = e + 1;
    }
    out->reward = s->reward_c / (out->val_metric * out->val_metric);
    out->seconds = nas__now() - t0;
    if (cfg->keep)
        rc = cfg->keep(cfg->keep_ctx, p, out);
fail:
    free(train);
    free(valid);
    free(state);
    nas_graph_free(g);
    nas_params_free(p);
    return rc;
}

const nas__nasrl_space nas__nasrl_rnn_space = {
    .name = "nasrl-rnn",
    .metric = "val_perplexity",
    .text = 1,
    .program = rnn_program,
    .arc_len = rnn_arc_len,
    .sample_uniform = rnn_sample,
    .arc_json = rnn_json,
    .train = rnn_train,
    .layers = rnn_layers,
};
