// SPDX-License-Identifier: MIT
/*
 * darts_rnn.c - the DARTS recurrent search space: a language model
 * (embedding, the searched cell over the BPTT steps, linear decoder) whose
 * cell is a softmax-weighted mixture of candidate ops, and the derivation
 * of its genotype.
 *
 * The cell, from x_t and h_{t-1}: (c0, h0) = [x_t, h_{t-1}] W0^T,
 * s0 = h_{t-1} + sigmoid(c0) (tanh(h0) - h_{t-1}); node j = 1..8 sums, over
 * the earlier nodes i, the mixed op of edge (i, j):
 *   sum_k softmax(alpha_e)[k] (s_i + sigmoid(c) (f_k(h) - s_i)),
 *   (c, h) = s_i Ws_j^T,
 * with f over none (adds nothing), tanh, relu, sigmoid, identity; the
 * output h_t is the mean of nodes 1..8. As in quark0/darts
 * rnn/model_search.py, the linear map Ws_j belongs to the destination node:
 * it is shared by the ops of an edge and by all the edges into node j, and
 * the derived cell (one input per node) keeps exactly one Ws_j per node.
 *
 * Kept from the reference: its batch norm without affine parameters on s0
 * and on every node (one set of running statistics for all of them, like
 * its single BatchNorm1d), without which the sums over incoming edges grow
 * geometrically along the nodes and the recurrence explodes; the running
 * statistics are updated by the real weight step only (as in darts_cnn.c)
 * and used in evaluation. Its training-time regularisers are here too
 * (nas__darts_rnn_reg): locked dropout on the embeddings (dropouti) and on
 * the cell outputs (dropout), the variational dropouts on x and h inside
 * the cell (dropoutx, dropouth), one mask per sequence for a whole chunk,
 * and the activation regularisers AR and TAR ("slowness"). Left out:
 * word dropout (dropoute, 0 in the reference's search) and the random
 * BPTT length. The decoder shares the embedding table when tied
 * (the reference always ties; embed == hidden is then required).
 *
 * The one design decision to know: a mixed edge is one fused op
 * (nas__darts_rnn_mixed) rather than ~20 elementwise ops, because a cell
 * has 36 edges and runs at every one of the BPTT steps: the tape holds
 * one node and one (B,H) output per edge and step, and backward recomputes
 * the four activations from the saved linear map.
 */
#include "search/darts/darts.h"
#include "core/json.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

const char *const nas__darts_rnn_prim_names[NAS_DARTS_RNN_NPRIM] = {
    "none", "tanh", "relu", "sigmoid", "identity",
};
static_assert(NAS_DARTS_RNN_NPRIM == 5, "names in step with the enum");
static_assert(NAS_DARTS_RNN_EDGES == NAS_DARTS_RNN_NODES * (NAS_DARTS_RNN_NODES + 1) / 2,
              "one edge from every earlier node");

/* The reference's INITRANGE for W0 and Ws, and its embedding init. */
#define CELL_INIT 0.04f
#define EMBED_INIT 0.1f

struct nas__darts_rnn {
    nas_darts_rnn_cfg cfg;
    int emb, w0, ws[NAS_DARTS_RNN_NODES], dec_w, dec_b, alpha;
    int bn_mean, bn_var; /* one BN's running statistics, as the reference
                            shares one BatchNorm1d over s0 and the nodes */
};

/* ------------------------------------------------------------ declare */

static int add2(nas_params *p, const char *name, int group, enum nas_init init, float scale, int a,
                int b)
{
    int shape[2] = {a, b};
    return nas_params_add(p, name, group, init, scale, b ? 2 : 1, shape);
}

int nas__darts_rnn_declare(nas_params *p, const nas_darts_rnn_cfg *cfg, nas__darts_rnn **out)
{
    *out = NULL;
    if (cfg->tied && cfg->embed != cfg->hidden)
        return nas_fail(NAS_EINVAL,
                        "embed: tied weights need embed (%d) == "
                        "hidden (%d)",
                        cfg->embed, cfg->hidden);
    nas__darts_rnn *n = calloc(1, sizeof(*n));
    if (!n)
        return nas_fail(NAS_ENOMEM, "darts-rnn: out of memory");
    n->cfg = *cfg;
    const int W = NAS_GROUP_WEIGHTS;
    int V = cfg->vocab, E = cfg->embed, H = cfg->hidden;
    char name[48];
    int bad = (n->emb = add2(p, "embed.w", W, NAS_INIT_UNIFORM, EMBED_INIT, V, E)) < 0;
    bad |= (n->w0 = add2(p, "cell.w0", W, NAS_INIT_UNIFORM, CELL_INIT, 2 * H, E + H)) < 0;
    for (int j = 0; j < NAS_DARTS_RNN_NODES; j++) {
        snprintf(name, sizeof(name), "cell.ws.%d", j + 1);
        bad |= (n->ws[j] = add2(p, name, W, NAS_INIT_UNIFORM, CELL_INIT, 2 * H, H)) < 0;
    }
    n->dec_w = n->emb;
    if (!cfg->tied)
        bad |= (n->dec_w = add2(p, "decoder.w", W, NAS_INIT_UNIFORM, EMBED_INIT, V, H)) < 0;
    bad |= (n->dec_b = add2(p, "decoder.b", W, NAS_INIT_ZERO, 0.0f, V, 0)) < 0;
    bad |= (n->bn_mean =
                add2(p, "cell.bn.running_mean", NAS_GROUP_STATE, NAS_INIT_ZERO, 0.0f, H, 0)) < 0;
    bad |=
        (n->bn_var = add2(p, "cell.bn.running_var", NAS_GROUP_STATE, NAS_INIT_ONE, 1.0f, H, 0)) < 0;
    bad |= (n->alpha = add2(p, "alpha.recurrent", NAS_GROUP_ARCH, NAS_INIT_NORMAL, 1e-3f,
                            NAS_DARTS_RNN_EDGES, NAS_DARTS_RNN_NPRIM)) < 0;
    if (bad) {
        free(n);
        return nas_fail(NAS_ENOMEM, "darts-rnn: cannot declare parameters");
    }
    *out = n;
    return NAS_OK;
}

void nas__darts_rnn_free(nas__darts_rnn *n)
{
    free(n);
}

int nas__darts_rnn_alpha(const nas__darts_rnn *n)
{
    return n->alpha;
}

/* ----------------------------------------------------------- mixed op */

static inline float sigm(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

/* y = P(1 - sig(c)) s + sig(c) m with P = sum_k p_k and m = sum_k p_k
 * f_k(h) over k != none, hence
 *   dy/ds = P (1 - sig), dy/dc = sig (1 - sig) (m - P s),
 *   dy/dh = sig sum_k p_k f_k'(h), dy/dp_k = (1 - sig) s + sig f_k(h).
 * relu'(0) = 0 like PyTorch. */
static void mixed_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *s = nd->in[0], *ch = nd->in[1], *probs = nd->in[2];
    const float *dy = nd->out->grad;
    int B = s->shape[0], H = s->shape[1], e = nd->ia[0];
    const float *p = probs->data + (size_t)e * NAS_DARTS_RNN_NPRIM;
    float P = p[1] + p[2] + p[3] + p[4];
    bool ws = nas__want(g, s), wc = nas__want(g, ch), wp = nas__want(g, probs);
    double dp[NAS_DARTS_RNN_NPRIM] = {0};
    for (int b = 0; b < B; b++) {
        const float *sv = s->data + (size_t)b * H, *d = dy + (size_t)b * H;
        const float *cv = ch->data + (size_t)b * 2 * H, *hv = cv + H;
        for (int k = 0; k < H; k++) {
            float sg = sigm(cv[k]), h = hv[k];
            float f1 = tanhf(h), f2 = h > 0.0f ? h : 0.0f, f3 = sigm(h);
            if (ws)
                s->grad[(size_t)b * H + k] += d[k] * P * (1.0f - sg);
            if (wc) {
                float m = p[1] * f1 + p[2] * f2 + p[3] * f3 + p[4] * h;
                float fd = p[1] * (1.0f - f1 * f1) + (h > 0.0f ? p[2] : 0.0f) +
                           p[3] * f3 * (1.0f - f3) + p[4];
                float *gc = ch->grad + (size_t)b * 2 * H;
                gc[k] += d[k] * sg * (1.0f - sg) * (m - P * sv[k]);
                gc[H + k] += d[k] * sg * fd;
            }
            if (wp) {
                float base = (1.0f - sg) * sv[k];
                dp[1] += (double)d[k] * (base + sg * f1);
                dp[2] += (double)d[k] * (base + sg * f2);
                dp[3] += (double)d[k] * (base + sg * f3);
                dp[4] += (double)d[k] * (base + sg * h);
            }
        }
    }
    if (wp)
        for (int k = 1; k < NAS_DARTS_RNN_NPRIM; k++)
            probs->grad[(size_t)e * NAS_DARTS_RNN_NPRIM + k] += (float)dp[k];
}

nas_tensor *nas__darts_rnn_mixed(nas_graph *g, nas_tensor *s, nas_tensor *ch, nas_tensor *probs,
                                 int edge)
{
    NAS_ASSERT(s->ndim == 2 && ch->ndim == 2 && ch->shape[0] == s->shape[0] &&
               ch->shape[1] == 2 * s->shape[1] && "mixed: s (B,H), ch (B,2H)");
    NAS_ASSERT(probs->ndim == 2 && probs->shape[1] == NAS_DARTS_RNN_NPRIM && edge >= 0 &&
               edge < probs->shape[0] && "mixed: probs (E,5)");
    nas_tensor *in[3] = {s, ch, probs};
    nas_tensor *y = nas__out(g, 2, s->shape, in, 3);
    int B = s->shape[0], H = s->shape[1];
    const float *p = probs->data + (size_t)edge * NAS_DARTS_RNN_NPRIM;
    float P = p[1] + p[2] + p[3] + p[4];
    for (int b = 0; b < B; b++) {
        const float *sv = s->data + (size_t)b * H;
        const float *cv = ch->data + (size_t)b * 2 * H, *hv = cv + H;
        float *yv = y->data + (size_t)b * H;
        for (int k = 0; k < H; k++) {
            float sg = sigm(cv[k]), h = hv[k];
            float m = p[1] * tanhf(h) + p[2] * (h > 0.0f ? h : 0.0f) + p[3] * sigm(h) + p[4] * h;
            yv[k] = P * sv[k] + sg * (m - P * sv[k]);
        }
    }
    nas_node *nd = nas__record(g, mixed_bwd, y, in, 3);
    if (nd)
        nd->ia[0] = edge;
    return y;
}

/* --------------------------------------------------------------- cell */

/* BatchNorm1d(H, affine=False) over the batch: batch statistics when the
 * graph trains (folded into the running ones only when update_stats),
 * the running statistics otherwise. */
static nas_tensor *bn(nas_graph *g, nas_params *p, const nas__darts_rnn *n, nas_tensor *x,
                      int update_stats)
{
    nas_tensor *m = NULL, *v = NULL;
    if (!nas_graph_training(g) || update_stats) {
        m = nas_params_get(p, n->bn_mean);
        v = nas_params_get(p, n->bn_var);
    }
    return nas_batchnorm(g, x, NULL, NULL, m, v, 0.1f, 1e-5f);
}

nas_tensor *nas__darts_rnn_cell(nas_graph *g, nas_params *p, const nas__darts_rnn *n,
                                nas_tensor *probs, nas_tensor *x, nas_tensor *h, nas_tensor *mx,
                                nas_tensor *mh, int update_stats)
{
    int H = n->cfg.hidden;
    nas_tensor *xh[2] = {mx ? nas_mul(g, x, mx) : x, mh ? nas_mul(g, h, mh) : h};
    nas_tensor *ch0 = nas_linear(g, nas_concat(g, xh, 2), nas_params_get(p, n->w0), NULL);
    nas_tensor *c0 = nas_sigmoid(g, nas_narrow(g, ch0, 0, H));
    nas_tensor *h0 = nas_tanh(g, nas_narrow(g, ch0, H, H));
    nas_tensor *states[NAS_DARTS_RNN_NODES + 1], *dropped[NAS_DARTS_RNN_NODES + 1];
    states[0] = bn(g, p, n, nas_add(g, h, nas_mul(g, c0, nas_sub(g, h0, h))), update_stats);
    dropped[0] = mh ? nas_mul(g, states[0], mh) : states[0];
    nas_tensor *in[NAS_DARTS_RNN_NODES];
    for (int j = 1, e = 0; j <= NAS_DARTS_RNN_NODES; j++) {
        nas_tensor *w = nas_params_get(p, n->ws[j - 1]);
        for (int i = 0; i < j; i++, e++) {
            nas_tensor *ch = nas_linear(g, dropped[i], w, NULL);
            in[i] = nas__darts_rnn_mixed(g, states[i], ch, probs, e);
        }
        states[j] = bn(g, p, n, j == 1 ? in[0] : nas_sum_n(g, in, j), update_stats);
        dropped[j] = mh && j < NAS_DARTS_RNN_NODES ? nas_mul(g, states[j], mh) : states[j];
    }
    return nas_scale(g, nas_sum_n(g, states + 1, NAS_DARTS_RNN_NODES), 1.0f / NAS_DARTS_RNN_NODES);
}

/* ---------------------------------------------------------------- loss */

void nas__darts_rnn_mask(float *m, size_t n, float q, nas_rng *rng)
{
    float keep = 1.0f / (1.0f - q);
    for (size_t i = 0; i < n; i++)
        m[i] = q <= 0.0f ? 1.0f : nas_rng_uniform(rng) >= q ? keep : 0.0f;
}

/* A mask (rows, cols) as a constant of g, or NULL. */
static nas_tensor *mask_of(nas_graph *g, const float *m, int rows, int cols)
{
    if (!m)
        return NULL;
    int shape[2] = {rows, cols};
    nas_tensor *t = nas_tensor_new(g, 2, shape);
    memcpy(t->data, m, (size_t)rows * cols * sizeof(float));
    return t;
}

nas_tensor *nas__darts_rnn_loss(nas_graph *g, nas_params *p, const nas__darts_rnn *n,
                                const nas_darts_rnn_chunk *c, float *h_out,
                                const nas__darts_rnn_reg *reg, int update_stats)
{
    int H = n->cfg.hidden, E = n->cfg.embed, T = c->T, bsz = c->bsz, shape[2] = {bsz, H};
    NAS_ASSERT(T >= 1 && bsz >= 1 && "darts-rnn: a chunk of T x bsz tokens");
    nas__darts_rnn_reg none = {0};
    if (!reg)
        reg = &none;
    nas_tensor *h = nas_tensor_new(g, 2, shape);
    memcpy(h->data, c->h, (size_t)bsz * H * sizeof(float));
    nas_tensor *probs = nas_softmax(g, nas_params_get(p, n->alpha));
    nas_tensor *emb = nas_params_get(p, n->emb);
    nas_tensor *mi = mask_of(g, reg->mi, bsz, E), *mx = mask_of(g, reg->mx, bsz, E);
    nas_tensor *mh = mask_of(g, reg->mh, bsz, H), *mo = mask_of(g, reg->mo, bsz, H);
    nas_tensor **outs = nas_arena_alloc(nas_graph_arena(g), (size_t)T * sizeof(*outs));
    nas_tensor *act = NULL, *prev = NULL;
    for (int t = 0; t < T; t++) {
        nas_tensor *x = nas_embedding(g, emb, c->rows + (size_t)t * bsz, bsz);
        if (mi)
            x = nas_mul(g, x, mi);
        h = nas__darts_rnn_cell(g, p, n, probs, x, h, mx, mh, update_stats);
        outs[t] = mo ? nas_mul(g, h, mo) : h;
        /* train_search.py: alpha * dropped^2 .mean() over the chunk, beta
         * * (h[1:] - h[:-1])^2 .mean(): per-step means, averaged. */
        if (reg->ar > 0.0f) {
            nas_tensor *a = nas_scale(g, nas_mean(g, nas_mul(g, outs[t], outs[t])), reg->ar / T);
            act = act ? nas_add(g, act, a) : a;
        }
        if (reg->tar > 0.0f && prev) {
            nas_tensor *d = nas_sub(g, h, prev);
            nas_tensor *a = nas_scale(g, nas_mean(g, nas_mul(g, d, d)), reg->tar / (T - 1));
            act = act ? nas_add(g, act, a) : a;
        }
        prev = h;
    }
    /* (bsz, T*H) viewed as (bsz*T, H): row b*T + t is step t of column b. */
    int flat[2] = {bsz * T, H};
    nas_tensor *y = T == 1 ? outs[0] : nas_reshape(g, nas_concat(g, outs, T), 2, flat);
    int32_t *tgt = nas_arena_alloc(nas_graph_arena(g), (size_t)bsz * T * sizeof(int32_t));
    for (int b = 0; b < bsz; b++)
        for (int t = 0; t < T; t++)
            tgt[(size_t)b * T + t] = c->rows[(size_t)(t + 1) * bsz + b];
    nas_tensor *logits = nas_linear(g, y, nas_params_get(p, n->dec_w), nas_params_get(p, n->dec_b));
    if (h_out)
        memcpy(h_out, h->data, (size_t)bsz * H * sizeof(float));
    nas_tensor *loss = nas_cross_entropy(g, logits, tgt);
    return act ? nas_add(g, loss, act) : loss;
}

nas_tensor *nas__darts_rnn_pass_loss(void *ctx, nas_graph *g, const void *batch,
                                     enum nas__darts_pass pass)
{
    const nas__darts_rnn_model *m = ctx;
    const nas_darts_rnn_chunk *c = batch;
    int keep = pass == NAS__DARTS_PASS_VAL || pass == NAS__DARTS_PASS_WEIGHT;
    int weight = pass == NAS__DARTS_PASS_WEIGHT;
    nas__darts_rnn_reg reg = m->masks;
    if (!weight)
        reg.ar = reg.tar = 0.0f;
    return nas__darts_rnn_loss(g, m->p, m->net, c, keep ? c->h : NULL, &reg, weight);
}

/* ----------------------------------------------------------- genotype */

static void softmax_row(const float *a, double *p)
{
    double m = a[0], z = 0.0;
    for (int k = 1; k < NAS_DARTS_RNN_NPRIM; k++)
        m = a[k] > m ? a[k] : m;
    for (int k = 0; k < NAS_DARTS_RNN_NPRIM; k++)
        z += p[k] = exp((double)a[k] - m);
    for (int k = 0; k < NAS_DARTS_RNN_NPRIM; k++)
        p[k] /= z;
}

/* The strongest op of a row other than `none` (the first on ties). */
static int best_op(const double *p)
{
    int best = 1;
    for (int k = 2; k < NAS_DARTS_RNN_NPRIM; k++)
        if (p[k] > p[best])
            best = k;
    return best;
}

/* Like the reference's _parse: per node, the earlier node whose row has
 * the largest non-`none` weight (a stable sort: the lower node on ties). */
void nas__darts_rnn_derive(const float *alpha, nas_darts_rnn_gene *out)
{
    for (int j = 0, start = 0; j < NAS_DARTS_RNN_NODES; start += j + 1, j++) {
        int from = -1, op = 0;
        double strongest = -1.0;
        for (int i = 0; i <= j; i++) {
            double p[NAS_DARTS_RNN_NPRIM];
            softmax_row(alpha + (size_t)(start + i) * NAS_DARTS_RNN_NPRIM, p);
            int k = best_op(p);
            if (p[k] > strongest) {
                strongest = p[k];
                from = i;
                op = k;
            }
        }
        out->from[j] = from;
        out->op[j] = op;
    }
}

static char *finish(nas_json_buf *b)
{
    if (!b->oom)
        return b->s;
    free(b->s);
    nas_fail(NAS_ENOMEM, "darts-rnn: genotype: out of memory");
    return NULL;
}

char *nas__darts_rnn_genotype_json(const nas_darts_rnn_gene *g)
{
    nas_json_buf b = {0};
    nas__json_buf_puts(&b, "{\"recurrent\": [");
    for (int j = 0; j < NAS_DARTS_RNN_NODES; j++) {
        nas__json_buf_puts(&b, j ? ", [" : "[");
        nas__json_buf_str(&b, nas__darts_rnn_prim_names[g->op[j]], "");
        nas__json_buf_puts(&b, ", ");
        nas__json_buf_u64(&b, (uint64_t)g->from[j]);
        nas__json_buf_puts(&b, "]");
    }
    nas__json_buf_puts(&b, "], \"concat\": [1, 2, 3, 4, 5, 6, 7, 8]}");
    return finish(&b);
}

char *nas__darts_rnn_genotype_text(const nas_darts_rnn_gene *g)
{
    nas_json_buf b = {0};
    char t[48];
    nas__json_buf_puts(&b, "Genotype(recurrent=[");
    for (int j = 0; j < NAS_DARTS_RNN_NODES; j++) {
        snprintf(t, sizeof(t), "%s('%s', %d)", j ? ", " : "", nas__darts_rnn_prim_names[g->op[j]],
                 g->from[j]);
        nas__json_buf_puts(&b, t);
    }
    nas__json_buf_puts(&b, "], concat=range(1, 9))");
    return finish(&b);
}

char *nas__darts_rnn_alpha_json(const float *alpha)
{
    nas_json_buf b = {0};
    char t[32];
    nas__json_buf_puts(&b, "{\"ops\":[");
    for (int k = 0; k < NAS_DARTS_RNN_NPRIM; k++) {
        nas__json_buf_puts(&b, k ? "," : "");
        nas__json_buf_str(&b, nas__darts_rnn_prim_names[k], "");
    }
    nas__json_buf_puts(&b, "],\"recurrent\":[");
    for (int e = 0; e < NAS_DARTS_RNN_EDGES; e++) {
        double p[NAS_DARTS_RNN_NPRIM];
        softmax_row(alpha + (size_t)e * NAS_DARTS_RNN_NPRIM, p);
        nas__json_buf_puts(&b, e ? ",[" : "[");
        for (int k = 0; k < NAS_DARTS_RNN_NPRIM; k++) {
            snprintf(t, sizeof(t), "%s%.6g", k ? "," : "", p[k]);
            nas__json_buf_puts(&b, t);
        }
        nas__json_buf_puts(&b, "]");
    }
    nas__json_buf_puts(&b, "]}");
    return finish(&b);
}
