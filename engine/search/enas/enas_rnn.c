// SPDX-License-Identifier: MIT
/*
 * enas_rnn.c - the ENAS recurrent cell over one shared store, inside a
 * language model (embedding, the cell over the BPTT steps, decoder tied to
 * the embedding), and the child's JSON and fixed-arc string.
 *
 * The cell of child arc (melodyguan/enas src/ptb/ptb_enas_child.py,
 * _rhn_enas), with f_i the activation of node i (tanh, relu, identity,
 * sigmoid) and m_x, m_h the variational dropout masks:
 *   node 0:  [c | h] = [x_t * m_x, h_{t-1} * m_h] W_0^T        (W_0: 2H x 2H)
 *            s_0 = h_{t-1} + sigmoid(c) * (f_0(h) - h_{t-1})
 *   node i:  j = the input node of i (< i)
 *            [c | h] = (s_j * m_h) W_{i,j}^T                   (W_{i,j}: 2H x H)
 *            s_i = s_j + sigmoid(c) * (f_i(h) - s_j)
 *   h_t = the mean of the loose ends (the s_i no other node uses).
 * The decoder is the embedding table transposed, without bias, as in the
 * reference (logits = h_t E^T).
 *
 * Granularity of the shared weights: one matrix per edge (i, j), shared by
 * the four activations, as in carpedm20/ENAS-pytorch (w_h, w_c per edge);
 * the TF reference keeps one slice per (i, j, activation), four times the
 * memory, which at its hidden 720 and 12 nodes is over 1 GB of weights
 * alone. Left out on purpose: the reference's batch norm of each node's
 * [c | h] and of the output (the gated sums are convex combinations, and
 * its BN with epsilon 1 only rescales them), and its rule that zeroes the
 * embedding of a word repeated in a row whose earlier occurrence was
 * dropped. Dropouts, all only when the graph trains: dropout_e drops whole
 * embedding rows (a word at a step), dropout_x and dropout_h are masks
 * drawn once per chunk and shared by all steps (and, for h, all nodes),
 * as in the reference; dropout_o is a mask of the same kind on the cell
 * outputs before the decoder (the TF reference draws this mask but never
 * applies it; the paper and the PyTorch port do).
 *
 * The one design decision to know: the forward builds only the child's
 * edges on the tape (one linear map per node and step), so a backward
 * reaches exactly the weights that child used.
 */
#include "search/enas/enas_rnn.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

const char *const nas__enas_rnn_act_names[NAS_ENAS_RNN_NACT] = {
    "tanh",
    "relu",
    "identity",
    "sigmoid",
};
static_assert(NAS_ENAS_RNN_NACT == 4, "names in step with the enum");

struct nas__enas_rnn {
    nas_enas_rnn_cfg cfg;
    int emb;
    int *edge; /* edge[i * N + j]: store index of W_{i,j}; edge[0]: W_0 */
    nas_ctrl_step *prog;
    int nprog;
};

/* ------------------------------------------------------------ declare */

static float init_range(int H)
{
    return H <= 300 ? 0.1f : H <= 400 ? 0.05f : 0.04f;
}

int nas__enas_rnn_declare(nas_params *p, const nas_enas_rnn_cfg *cfg, nas__enas_rnn **out)
{
    *out = NULL;
    if (cfg->nodes < 2 || cfg->nodes > NAS_ENAS_RNN_MAX_NODES)
        return nas_fail(NAS_EINVAL, "nodes: %d is outside [2, %d]", cfg->nodes,
                        NAS_ENAS_RNN_MAX_NODES);
    if (cfg->hidden < 1 || cfg->vocab < 2)
        return nas_fail(NAS_EINVAL,
                        "hidden: %d (vocabulary %d) cannot be "
                        "built",
                        cfg->hidden, cfg->vocab);
    int N = cfg->nodes, H = cfg->hidden;
    nas__enas_rnn *n = calloc(1, sizeof(*n));
    if (n) {
        n->edge = malloc((size_t)N * N * sizeof(int));
        n->prog = malloc((size_t)3 * N * sizeof(*n->prog));
    }
    if (!n || !n->edge || !n->prog) {
        nas__enas_rnn_free(n);
        return nas_fail(NAS_ENOMEM, "enas-rnn: out of memory");
    }
    n->cfg = *cfg;
    float r = init_range(H);
    const int W = NAS_GROUP_WEIGHTS;
    char name[64];
    int shape[2] = {cfg->vocab, H};
    int bad = (n->emb = nas_params_add(p, "ernn.embed.w", W, NAS_INIT_UNIFORM, r, 2, shape)) < 0;
    shape[0] = 2 * H;
    shape[1] = 2 * H;
    bad |= (n->edge[0] = nas_params_add(p, "ernn.node.0.w", W, NAS_INIT_UNIFORM, r, 2, shape)) < 0;
    shape[1] = H;
    for (int i = 1; i < N; i++)
        for (int j = 0; j < i; j++) {
            snprintf(name, sizeof(name), "ernn.node.%d.from.%d.w", i, j);
            bad |= (n->edge[i * N + j] =
                        nas_params_add(p, name, W, NAS_INIT_UNIFORM, r, 2, shape)) < 0;
        }
    if (bad) {
        nas__enas_rnn_free(n);
        return nas_fail(NAS_ENOMEM, "enas-rnn: cannot declare parameters");
    }
    /* The controller program (see enas_rnn.h). */
    int k = 0;
    for (int i = 0; i < N; i++) {
        if (i > 0)
            n->prog[k++] = (nas_ctrl_step){.kind = NAS_CTRL_PICK | NAS_CTRL_PUSH, .n = i};
        else
            n->prog[k++] = (nas_ctrl_step){.kind = NAS_CTRL_ANCHOR};
        n->prog[k++] = (nas_ctrl_step){.kind = NAS_CTRL_CHOICE, .head = 0, .n = NAS_ENAS_RNN_NACT};
    }
    n->nprog = k;
    *out = n;
    return NAS_OK;
}

void nas__enas_rnn_free(nas__enas_rnn *n)
{
    if (!n)
        return;
    free(n->edge);
    free(n->prog);
    free(n);
}

const nas_enas_rnn_cfg *nas__enas_rnn_cfg_of(const nas__enas_rnn *n)
{
    return &n->cfg;
}

int nas__enas_rnn_edge_param(const nas__enas_rnn *n, int i, int j)
{
    NAS_ASSERT(i >= 0 && i < n->cfg.nodes && (i == 0 || (j >= 0 && j < i)));
    return i == 0 ? n->edge[0] : n->edge[i * n->cfg.nodes + j];
}

int nas__enas_rnn_embed_param(const nas__enas_rnn *n)
{
    return n->emb;
}

/* ---------------------------------------------------------------- arcs */

int nas__enas_rnn_arc_len(const nas__enas_rnn *n)
{
    return 2 * n->cfg.nodes - 1;
}

int nas__enas_rnn_check_arc(const nas__enas_rnn *n, const int *arc)
{
    for (int i = 0; i < n->cfg.nodes; i++) {
        int act = arc[i ? 2 * i : 0];
        if (act < 0 || act >= NAS_ENAS_RNN_NACT)
            return nas_fail(NAS_EINVAL,
                            "arc[%d]: activation %d of node %d "
                            "is outside [0, %d]",
                            i ? 2 * i : 0, act, i, NAS_ENAS_RNN_NACT - 1);
        if (i && (arc[2 * i - 1] < 0 || arc[2 * i - 1] >= i))
            return nas_fail(NAS_EINVAL,
                            "arc[%d]: input %d of node %d is "
                            "outside [0, %d]",
                            2 * i - 1, arc[2 * i - 1], i, i - 1);
    }
    return NAS_OK;
}

const nas_ctrl_step *nas__enas_rnn_program(nas__enas_rnn *n, int *nsteps, nas_ctrl_cfg *ctrl)
{
    ctrl->nheads = 1;
    ctrl->head_size[0] = NAS_ENAS_RNN_NACT;
    ctrl->locality = 12.0f; /* ptb_enas_controller.py: diff / 12.0 */
    *nsteps = n->nprog;
    return n->prog;
}

int nas__enas_rnn_loose_ends(const nas__enas_rnn *n, const int *arc, int *out)
{
    int N = n->cfg.nodes, count = 0;
    unsigned char used[NAS_ENAS_RNN_MAX_NODES] = {0};
    for (int i = 1; i < N; i++)
        used[arc[2 * i - 1]] = 1;
    for (int i = 0; i < N; i++)
        if (!used[i])
            out[count++] = i;
    return count;
}

/* --------------------------------------------------------------- cell */

static nas_tensor *act(nas_graph *g, nas_tensor *x, int a)
{
    switch (a) {
    case NAS_ENAS_RNN_TANH: return nas_tanh(g, x);
    case NAS_ENAS_RNN_RELU: return nas_relu(g, x);
    case NAS_ENAS_RNN_IDENTITY: return x;
    case NAS_ENAS_RNN_SIGMOID: return nas_sigmoid(g, x);
    }
    NAS_ASSERT(!"enas-rnn: unknown activation");
    return NULL;
}

/* s + sigmoid(c) (f(h) - s) with [c | h] = ch. */
static nas_tensor *highway(nas_graph *g, nas_tensor *s, nas_tensor *ch, int a)
{
    int H = s->shape[1];
    nas_tensor *c = nas_sigmoid(g, nas_narrow(g, ch, 0, H));
    nas_tensor *h = act(g, nas_narrow(g, ch, H, H), a);
    return nas_add(g, s, nas_mul(g, c, nas_sub(g, h, s)));
}

nas_tensor *nas__enas_rnn_cell(nas_graph *g, nas_params *p, const nas__enas_rnn *n, const int *arc,
                               nas_tensor *x, nas_tensor *h, nas_tensor *mask_x, nas_tensor *mask_h)
{
    int N = n->cfg.nodes;
    nas_tensor *s[NAS_ENAS_RNN_MAX_NODES];
    nas_tensor *xh[2] = {mask_x ? nas_mul(g, x, mask_x) : x, mask_h ? nas_mul(g, h, mask_h) : h};
    nas_tensor *ch = nas_linear(g, nas_concat(g, xh, 2), nas_params_get(p, n->edge[0]), NULL);
    s[0] = highway(g, h, ch, arc[0]);
    for (int i = 1; i < N; i++) {
        int j = arc[2 * i - 1];
        NAS_ASSERT(j >= 0 && j < i && "enas-rnn: input of a node");
        nas_tensor *in = mask_h ? nas_mul(g, s[j], mask_h) : s[j];
        ch = nas_linear(g, in, nas_params_get(p, n->edge[i * N + j]), NULL);
        s[i] = highway(g, s[j], ch, arc[2 * i]);
    }
    int ends[NAS_ENAS_RNN_MAX_NODES];
    int k = nas__enas_rnn_loose_ends(n, arc, ends);
    if (k == 1)
        return s[ends[0]];
    nas_tensor *outs[NAS_ENAS_RNN_MAX_NODES];
    for (int e = 0; e < k; e++)
        outs[e] = s[ends[e]];
    return nas_scale(g, nas_sum_n(g, outs, k), 1.0f / (float)k);
}

/* ---------------------------------------------------------------- loss */

/* A (B,H) mask: each element 0 with probability p, else 1/(1-p); rows
 * (whole vectors) instead of elements when rows is set. */
static nas_tensor *make_mask(nas_graph *g, int B, int H, float p, int rows)
{
    int shape[2] = {B, H};
    nas_tensor *m = nas_tensor_new(g, 2, shape);
    float keep = 1.0f / (1.0f - p);
    NAS_ASSERT(g->rng && "enas-rnn: dropout needs the graph's rng");
    for (int b = 0; b < B; b++) {
        float *row = m->data + (size_t)b * H;
        if (rows) {
            float v = nas_rng_uniform(g->rng) < p ? 0.0f : keep;
            for (int k = 0; k < H; k++)
                row[k] = v;
        } else {
            for (int k = 0; k < H; k++)
                row[k] = nas_rng_uniform(g->rng) < p ? 0.0f : keep;
        }
    }
    return m;
}

nas_tensor *nas__enas_rnn_loss(nas_graph *g, nas_params *p, const nas__enas_rnn *n, const int *arc,
                               const nas_enas_rnn_chunk *c, float *h_out,
                               const nas_enas_rnn_drop *drop)
{
    int H = n->cfg.hidden, T = c->T, bsz = c->bsz, shape[2] = {bsz, H};
    NAS_ASSERT(T >= 1 && bsz >= 1 && "enas-rnn: a chunk of T x bsz tokens");
    nas_enas_rnn_drop d = {0};
    if (drop && nas_graph_training(g))
        d = *drop;
    /* Masks in a fixed order: x, h, o, then the embedding rows by step. */
    nas_tensor *mx = d.x > 0.0f ? make_mask(g, bsz, H, d.x, 0) : NULL;
    nas_tensor *mh = d.h > 0.0f ? make_mask(g, bsz, H, d.h, 0) : NULL;
    nas_tensor *mo = d.o > 0.0f ? make_mask(g, bsz, H, d.o, 0) : NULL;
    nas_tensor *h = nas_tensor_new(g, 2, shape);
    memcpy(h->data, c->h, (size_t)bsz * H * sizeof(float));
    nas_tensor *emb = nas_params_get(p, n->emb);
    nas_tensor **outs = nas_arena_alloc(nas_graph_arena(g), (size_t)T * sizeof(*outs));
    for (int t = 0; t < T; t++) {
        nas_tensor *x = nas_embedding(g, emb, c->rows + (size_t)t * bsz, bsz);
        if (d.e > 0.0f)
            x = nas_mul(g, x, make_mask(g, bsz, H, d.e, 1));
        h = nas__enas_rnn_cell(g, p, n, arc, x, h, mx, mh);
        outs[t] = mo ? nas_mul(g, h, mo) : h;
    }
    /* (bsz, T*H) viewed as (bsz*T, H): row b*T + t is step t of column b. */
    int flat[2] = {bsz * T, H};
    nas_tensor *y = T == 1 ? outs[0] : nas_reshape(g, nas_concat(g, outs, T), 2, flat);
    int32_t *tgt = nas_arena_alloc(nas_graph_arena(g), (size_t)bsz * T * sizeof(int32_t));
    for (int b = 0; b < bsz; b++)
        for (int t = 0; t < T; t++)
            tgt[(size_t)b * T + t] = c->rows[(size_t)(t + 1) * bsz + b];
    nas_tensor *logits = nas_linear(g, y, emb, NULL);
    if (h_out)
        memcpy(h_out, h->data, (size_t)bsz * H * sizeof(float));
    return nas_cross_entropy(g, logits, tgt);
}

/* ---------------------------------------------------------------- JSON */

void nas__enas_rnn_arc_json(const nas__enas_rnn *n, const int *arc, nas_json_buf *b)
{
    char t[32];
    nas__json_buf_puts(b, "{\"nodes\": [");
    for (int i = 0; i < n->cfg.nodes; i++) {
        if (i)
            snprintf(t, sizeof(t), ", {\"input\": %d", arc[2 * i - 1]);
        else
            snprintf(t, sizeof(t), "{\"input\": null");
        nas__json_buf_puts(b, t);
        nas__json_buf_puts(b, ", \"activation\": ");
        nas__json_buf_str(b, nas__enas_rnn_act_names[arc[i ? 2 * i : 0]], "");
        nas__json_buf_puts(b, "}");
    }
    nas__json_buf_puts(b, "], \"output\": [");
    int ends[NAS_ENAS_RNN_MAX_NODES];
    int k = nas__enas_rnn_loose_ends(n, arc, ends);
    for (int e = 0; e < k; e++) {
        snprintf(t, sizeof(t), "%s%d", e ? ", " : "", ends[e]);
        nas__json_buf_puts(b, t);
    }
    nas__json_buf_puts(b, "]}");
}

void nas__enas_rnn_arc_string(const nas__enas_rnn *n, const int *arc, nas_json_buf *b)
{
    char t[16];
    for (int k = 0; k < nas__enas_rnn_arc_len(n); k++) {
        snprintf(t, sizeof(t), "%s%d", k ? " " : "", arc[k]);
        nas__json_buf_puts(b, t);
    }
}

size_t nas__enas_rnn_arc_params(const nas__enas_rnn *n, nas_params *p, const int *arc)
{
    int N = n->cfg.nodes;
    size_t total = nas_tensor_numel(nas_params_get(p, n->emb)) +
                   nas_tensor_numel(nas_params_get(p, n->edge[0]));
    for (int i = 1; i < N; i++)
        total += nas_tensor_numel(nas_params_get(p, n->edge[i * N + arc[2 * i - 1]]));
    return total;
}
