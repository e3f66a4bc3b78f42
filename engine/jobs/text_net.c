// SPDX-License-Identifier: MIT
/*
 * text_net.c - the language models of the train kind (text_net.h): the
 * declarations and the one time step of each.
 *
 * The LSTM LM is PyTorch's word_language_model (embedding, LSTM layers,
 * linear decoder, dropout on the embeddings and on every layer's output);
 * darts-rnn puts the discrete cell of its genotype in place of the LSTM
 * (search/darts/darts_rnn_net.c: one layer, a state h only, dropout_input
 * on the embeddings); enas-rnn is the whole model of one fixed arc
 * (search/enas/enas_rnn.c: its own embedding, the cell, a decoder tied to
 * the embedding); nasrl-rnn the cell of its decisions
 * (search/nasrl/nasrl_rnn.c: the leaves' two stacked maps, the tree over
 * them, a state h and a memory c). Dropout is a no-op when the graph does
 * not train.
 */
#include "text_net.h"
#include "search/nasrl/nasrl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int add(nas_params *p, const char *name, int group, enum nas_init init, float scale,
               int ndim, int a, int b)
{
    int shape[2] = {a, b};
    return nas_params_add(p, name, group, init, scale, ndim, shape);
}

/* The nasrl-rnn tensors, declared as its child training declares them
 * (search/nasrl/nasrl_rnn.c). */
static int nasrl_declare(nas_params *p, const nas_job_spec *s, int vocab, nas__text_net *n)
{
    int rc = nas__nasrl_rnn_fixed_dec(s, n->dec, NAS__NASRL_RNN_MAX_DEC);
    if (rc < 0)
        return rc;
    n->ndec = rc;
    n->nasrl = 1;
    n->base = s->tree_base;
    n->layers = 1;
    return nas__nasrl_rnn_declare(p, vocab, s->embed, s->hidden, s->tree_base, &n->emb, &n->rwx,
                                  &n->rbx, &n->rwh, &n->dec_w, &n->dec_b);
}

int nas__text_net_bind(nas_params *p, const nas_job_spec *s, int vocab, nas__text_net *n)
{
    const nas_tensor *carry = nas_params_find(p, "carry.h.0");
    nas_params *scratch = nas_params_new();
    int rc = scratch ? nas__text_net_declare(scratch, s, vocab, carry ? carry->shape[0] : 0, n)
                     : nas_fail(NAS_ENOMEM, "out of memory");
    if (rc == NAS_OK && nas_params_count(scratch) != nas_params_count(p))
        rc = nas_fail(NAS_EINVAL, "the trained network has %d tensors, its builder %d",
                      nas_params_count(p), nas_params_count(scratch));
    for (int i = 0; rc == NAS_OK && i < nas_params_count(p); i++) {
        const nas_tensor *a = nas_params_get(p, i), *b = nas_params_get(scratch, i);
        int same = !strcmp(a->name, b->name) && a->ndim == b->ndim;
        for (int d = 0; same && d < a->ndim; d++)
            same = a->shape[d] == b->shape[d];
        if (!same)
            rc = nas_fail(NAS_EINVAL, "the trained network's tensor %d is %s, its builder's %s", i,
                          a->name, b->name);
    }
    nas_params_free(scratch);
    return rc;
}

void nas__text_net_model_info(nas__text_net *n, nas__model_info *m)
{
    m->step = nas__text_net_logits;
    m->step_ctx = n;
    m->layers = n->layers;
    m->hidden = n->hidden;
    m->cells = nas__text_net_cells(n);
}

int nas__text_net_declare(nas_params *p, const nas_job_spec *s, int vocab, int carry_batch,
                          nas__text_net *n)
{
    const int W = NAS_GROUP_WEIGHTS, S = NAS_GROUP_STATE;
    int H = s->hidden, B = carry_batch;
    float k = 1.0f / sqrtf((float)H); /* PyTorch's LSTM init */
    char name[64];
    memset(n, 0, sizeof(*n));
    for (int l = 0; l < NAS__TEXT_MAX_LAYERS; l++)
        n->carry_h[l] = n->carry_c[l] = -1;
    n->vocab = vocab;
    n->layers = s->layers;
    n->hidden = H;
    n->dropout = s->dropout;
    n->dropout_in = s->dropout;
    n->darts = s->arch == NAS_ARCH_DARTS_RNN;
    if (s->arch == NAS_ARCH_NASRL_RNN)
        return nasrl_declare(p, s, vocab, n);
    if (s->arch == NAS_ARCH_ENAS_RNN) { /* validated by job.c */
        nas_enas_rnn_cfg cfg = {.vocab = vocab, .hidden = H, .nodes = s->nodes};
        int rc = nas__enas_rnn_declare(p, &cfg, &n->enas);
        if (rc < 0)
            return rc;
        int len = nas__enas_rnn_arc_len(n->enas);
        if (!(n->arc = calloc((size_t)len, sizeof(int))))
            return nas_fail(NAS_ENOMEM, "train: out of memory");
        if ((rc = nas__enas_fixed_rnn_arc(n->enas, s->genotype, n->arc)) < 0)
            return rc;
        n->layers = 1;
        n->drop = (nas_enas_rnn_drop){s->dropout_e, s->dropout_x, s->dropout_h, s->dropout_o};
        if (B > 0 && (n->carry_h[0] = add(p, "carry.h.0", S, NAS_INIT_ZERO, 0.0f, 2, B, H)) < 0)
            return n->carry_h[0];
        return NAS_OK;
    }
    if (n->layers < 1 || n->layers > NAS__TEXT_MAX_LAYERS)
        return BAD("layers", "%d is outside [1, %d]", n->layers, NAS__TEXT_MAX_LAYERS);
    if ((n->emb = add(p, "embed.w", W, NAS_INIT_UNIFORM, 0.1f, 2, vocab, s->embed)) < 0)
        return n->emb;
    if (n->darts) {
        int rc = nas__darts_rnn_fixed_declare(p, s->embed, H, &s->darts_rnn, &n->cell);
        if (rc < 0)
            return rc;
        n->layers = 1;
        n->dropout_in = s->dropout_input;
        if (B > 0 && (n->carry_h[0] = add(p, "carry.h.0", S, NAS_INIT_ZERO, 0.0f, 2, B, H)) < 0)
            return n->carry_h[0];
    }
    for (int l = 0; !n->darts && l < n->layers; l++) {
        int in = l ? H : s->embed;
#define NAME(what) (snprintf(name, sizeof(name), what ".%d", l), name)
        if ((n->wx[l] = add(p, NAME("lstm.wx"), W, NAS_INIT_UNIFORM, k, 2, 4 * H, in)) < 0 ||
            (n->wh[l] = add(p, NAME("lstm.wh"), W, NAS_INIT_UNIFORM, k, 2, 4 * H, H)) < 0 ||
            (n->b[l] = add(p, NAME("lstm.b"), W, NAS_INIT_UNIFORM, k, 1, 4 * H, 0)) < 0)
            return NAS_ENOMEM;
        if (B > 0 &&
            ((n->carry_h[l] = add(p, NAME("carry.h"), S, NAS_INIT_ZERO, 0.0f, 2, B, H)) < 0 ||
             (n->carry_c[l] = add(p, NAME("carry.c"), S, NAS_INIT_ZERO, 0.0f, 2, B, H)) < 0))
            return NAS_ENOMEM;
#undef NAME
    }
    if ((n->dec_w = add(p, "decoder.w", W, NAS_INIT_UNIFORM, 0.1f, 2, vocab, H)) < 0 ||
        (n->dec_b = add(p, "decoder.b", W, NAS_INIT_ZERO, 0.0f, 1, vocab, 0)) < 0)
        return NAS_ENOMEM;
    return NAS_OK;
}

void nas__text_net_free(nas__text_net *n)
{
    nas__enas_rnn_free(n->enas);
    free(n->arc);
    n->enas = NULL;
    n->arc = NULL;
}

int nas__text_net_cells(const nas__text_net *n)
{
    return n->nasrl || (!n->darts && !n->enas);
}

nas_tensor *nas__text_net_step(nas_graph *g, nas_params *p, const nas__text_net *n,
                               const int32_t *ids, int bsz, nas_tensor **h, nas_tensor **c)
{
    if (n->enas) { /* eval: no masks (training runs whole chunks) */
        nas_tensor *emb = nas_params_get(p, nas__enas_rnn_embed_param(n->enas));
        nas_tensor *x = nas_embedding(g, emb, ids, bsz);
        h[0] = nas__enas_rnn_cell(g, p, n->enas, n->arc, x, h[0], NULL, NULL);
        return h[0];
    }
    nas_tensor *x = nas_embedding(g, nas_params_get(p, n->emb), ids, bsz);
    x = nas_dropout(g, x, n->dropout_in);
    if (n->nasrl) {
        nas_tensor *X = nas_linear(g, x, nas_params_get(p, n->rwx), nas_params_get(p, n->rbx));
        nas_tensor *Hh = nas_linear(g, h[0], nas_params_get(p, n->rwh), NULL);
        nas_tensor *cn;
        h[0] = nas__nasrl_rnn_tree(g, n->dec, n->base, X, Hh, c[0], &cn);
        c[0] = cn;
        return nas_dropout(g, h[0], n->dropout);
    }
    if (n->darts) {
        h[0] = nas__darts_rnn_fixed_step(g, p, &n->cell, x, h[0]);
        return nas_dropout(g, h[0], n->dropout);
    }
    for (int l = 0; l < n->layers; l++) {
        nas_lstm_cell cell = {nas_params_get(p, n->wx[l]), nas_params_get(p, n->wh[l]),
                              nas_params_get(p, n->b[l])};
        nas_lstm_cell_step(g, &cell, x, h[l], c[l], &h[l], &c[l]);
        x = nas_dropout(g, h[l], n->dropout);
    }
    return x;
}

nas_tensor *nas__text_net_logits(void *ctx, nas_graph *g, nas_params *p, const int32_t *ids,
                                 int bsz, nas_tensor **h, nas_tensor **c)
{
    const nas__text_net *n = ctx;
    nas_tensor *y = nas__text_net_step(g, p, n, ids, bsz, h, c);
    if (n->enas) /* the decoder is the embedding */
        return nas_linear(g, y, nas_params_get(p, nas__enas_rnn_embed_param(n->enas)), NULL);
    return nas_linear(g, y, nas_params_get(p, n->dec_w), nas_params_get(p, n->dec_b));
}
