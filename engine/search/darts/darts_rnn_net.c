// SPDX-License-Identifier: MIT
/*
 * darts_rnn_net.c - the discrete recurrent cell of a darts-rnn genotype
 * (quark0/darts rnn/model.py's DARTSCell), for the train kind's language
 * model and so for darts-rnn's final training: the genotype's JSON text
 * parsed and checked, a short token of it for spec texts, the cell's
 * parameters and one step of it.
 *
 * The cell, from x_t and h_{t-1}: (c0, h0) = [x_t, h_{t-1}] W0^T,
 * s0 = h_{t-1} + sigmoid(c0) (tanh(h0) - h_{t-1}); node j = 1..8 takes the
 * one earlier node i = from[j] of the genotype and its op f:
 * (c, h) = s_i Ws_j^T, s_j = s_i + sigmoid(c) (f(h) - s_i); h_t is the
 * mean of the nodes listed in concat. As in the reference's final model
 * there is no batch norm (the search's keeps the mixture of 8 summed edges
 * bounded; a derived node has one input). The reference's variational
 * dropouts inside the cell are not applied; the train kind's dropout on
 * the embeddings and on the cell outputs is.
 */
#include "search/darts/darts.h"
#include "core/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BAD(...) nas_fail(NAS_EINVAL, __VA_ARGS__)
#define CELL_INIT 0.04f /* the reference's INITRANGE */

static int as_einval(int rc)
{
    return rc == NAS_EFORMAT ? NAS_EINVAL : rc;
}

static int parse_op(nas_json *js, int n, int *op)
{
    char *name = NULL;
    int rc = nas__json_string(js, &name);
    if (rc < 0)
        return BAD("genotype.recurrent[%d]: the op must be a string", n);
    for (int k = 1; k < NAS_DARTS_RNN_NPRIM; k++)
        if (strcmp(name, nas__darts_rnn_prim_names[k]) == 0) {
            *op = k;
            free(name);
            return NAS_OK;
        }
    rc = BAD("genotype.recurrent[%d]: unknown op \"%.40s\" (known: tanh, "
             "relu, sigmoid, identity)",
             n, name);
    free(name);
    return rc;
}

static int parse_recurrent(nas_json *js, nas_darts_rnn_genotype *gt)
{
    int first = 1, rc, n = 0;
    if ((rc = nas__json_expect(js, '[', "an array of [op, input] pairs")) < 0)
        return rc;
    while ((rc = nas__json_element(js, &first)) == 1) {
        if (n == NAS_DARTS_RNN_NODES)
            return BAD("genotype.recurrent: more than %d entries (one per "
                       "node)",
                       NAS_DARTS_RNN_NODES);
        int pfirst = 1, op = 0;
        uint64_t from = 0;
        if ((rc = nas__json_expect(js, '[', "an [op, input] pair")) < 0 ||
            (rc = nas__json_element(js, &pfirst)) != 1)
            return rc < 0 ? rc : BAD("genotype.recurrent[%d]: empty pair", n);
        if ((rc = parse_op(js, n, &op)) < 0)
            return rc;
        if ((rc = nas__json_element(js, &pfirst)) != 1)
            return rc < 0 ? rc
                          : BAD("genotype.recurrent[%d]: the input is "
                                "missing",
                                n);
        if (nas__json_peek(js) == '-' || nas__json_uint(js, &from) < 0 || from > (uint64_t)n)
            return BAD("genotype.recurrent[%d]: the input must be an integer "
                       "in [0, %d] (0: s0, i: node i)",
                       n, n);
        if ((rc = nas__json_element(js, &pfirst)) != 0)
            return rc < 0 ? rc
                          : BAD("genotype.recurrent[%d]: more than two items "
                                "in an [op, input] pair",
                                n);
        gt->op[n] = op;
        gt->from[n] = (int)from;
        n++;
    }
    if (rc < 0)
        return rc;
    if (n != NAS_DARTS_RNN_NODES)
        return BAD("genotype.recurrent: %d entries, must be %d (one per "
                   "node)",
                   n, NAS_DARTS_RNN_NODES);
    return NAS_OK;
}

static int parse_concat(nas_json *js, nas_darts_rnn_genotype *gt)
{
    int first = 1, rc;
    gt->nconcat = 0;
    if ((rc = nas__json_expect(js, '[', "an array of nodes")) < 0)
        return rc;
    while ((rc = nas__json_element(js, &first)) == 1) {
        uint64_t v = 0;
        if (nas__json_peek(js) == '-' || nas__json_uint(js, &v) < 0 || v < 1 ||
            v > NAS_DARTS_RNN_NODES)
            return BAD("genotype.concat[%d]: must be a node in [1, %d]", gt->nconcat,
                       NAS_DARTS_RNN_NODES);
        for (int i = 0; i < gt->nconcat; i++)
            if (gt->concat[i] == (int)v)
                return BAD("genotype.concat[%d]: node %d appears twice", gt->nconcat, (int)v);
        gt->concat[gt->nconcat++] = (int)v;
    }
    if (rc < 0)
        return rc;
    if (gt->nconcat == 0)
        return BAD("genotype.concat: must list 1 to %d nodes", NAS_DARTS_RNN_NODES);
    return NAS_OK;
}

int nas__darts_rnn_genotype_parse(const char *text, nas_darts_rnn_genotype *out)
{
    if (!text || !*text)
        return BAD("genotype: missing (the darts-rnn architecture needs one)");
    nas_darts_rnn_genotype gt = {.nconcat = NAS_DARTS_RNN_NODES};
    for (int i = 0; i < NAS_DARTS_RNN_NODES; i++)
        gt.concat[i] = i + 1;
    nas_json js = {.path = "genotype", .what = "genotype", .s = text, .n = strlen(text)};
    int first = 1, rc, seen_rec = 0, seen_cat = 0;
    char *key = NULL;
    if ((rc = nas__json_expect(&js, '{', "an object")) < 0)
        return as_einval(rc);
    while ((rc = nas__json_member(&js, &first, &key)) == 1) {
        int rec = strcmp(key, "recurrent") == 0;
        int cat = strcmp(key, "concat") == 0;
        if (!rec && !cat) {
            rc = BAD("genotype.%.40s: not a darts-rnn genotype field (known: "
                     "recurrent, concat)",
                     key);
            free(key);
            return rc;
        }
        free(key);
        if ((rec && seen_rec++) || (cat && seen_cat++))
            return BAD("genotype.%s: given twice", rec ? "recurrent" : "concat");
        rc = rec ? parse_recurrent(&js, &gt) : parse_concat(&js, &gt);
        if (rc < 0)
            return as_einval(rc);
    }
    if (rc < 0)
        return as_einval(rc);
    if (nas__json_peek(&js) >= 0)
        return as_einval(nas__json_syntax(&js, "text after the genotype "
                                               "object"));
    if (!seen_rec)
        return BAD("genotype.recurrent: missing");
    *out = gt;
    return NAS_OK;
}

void nas__darts_rnn_genotype_token(const nas_darts_rnn_genotype *gt, char *buf, size_t cap)
{
    NAS_ASSERT(cap >= 1);
    size_t len = 0;
    buf[0] = '\0';
    for (int j = 0; j < NAS_DARTS_RNN_NODES; j++)
        len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, "%s%s/%d", j ? "," : "",
                                nas__darts_rnn_prim_names[gt->op[j]], gt->from[j]);
    for (int i = 0; i < gt->nconcat; i++)
        len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, "%s%d", i ? "." : "/",
                                gt->concat[i]);
}

void nas__darts_rnn_genotype_members(const nas_darts_rnn_genotype *gt, nas_json_buf *b)
{
    nas__json_buf_puts(b, "\"recurrent\":[");
    for (int j = 0; j < NAS_DARTS_RNN_NODES; j++) {
        nas__json_buf_puts(b, j ? ",[" : "[");
        nas__json_buf_str(b, nas__darts_rnn_prim_names[gt->op[j]], "");
        nas__json_buf_puts(b, ",");
        nas__json_buf_u64(b, (uint64_t)gt->from[j]);
        nas__json_buf_puts(b, "]");
    }
    nas__json_buf_puts(b, "],\"concat\":[");
    for (int i = 0; i < gt->nconcat; i++) {
        nas__json_buf_puts(b, i ? "," : "");
        nas__json_buf_u64(b, (uint64_t)gt->concat[i]);
    }
    nas__json_buf_puts(b, "]");
}

int nas__darts_rnn_fixed_declare(nas_params *p, int embed, int hidden,
                                 const nas_darts_rnn_genotype *gt, nas__darts_rnn_fixed *out)
{
    int H = hidden;
    char name[48];
    *out = (nas__darts_rnn_fixed){.gt = *gt, .embed = embed, .hidden = H};
    int s0[2] = {2 * H, embed + H};
    if ((out->w0 = nas_params_add(p, "cell.w0", NAS_GROUP_WEIGHTS, NAS_INIT_UNIFORM, CELL_INIT, 2,
                                  s0)) < 0)
        return out->w0;
    for (int j = 0; j < NAS_DARTS_RNN_NODES; j++) {
        int s[2] = {2 * H, H};
        snprintf(name, sizeof(name), "cell.ws.%d", j + 1);
        if ((out->ws[j] =
                 nas_params_add(p, name, NAS_GROUP_WEIGHTS, NAS_INIT_UNIFORM, CELL_INIT, 2, s)) < 0)
            return out->ws[j];
    }
    return NAS_OK;
}

/* s + sigmoid(c) (f(h) - s) for (c, h) = ch split in halves. */
static nas_tensor *highway(nas_graph *g, nas_tensor *s, nas_tensor *ch, int op, int H)
{
    nas_tensor *c = nas_sigmoid(g, nas_narrow(g, ch, 0, H));
    nas_tensor *h = nas_narrow(g, ch, H, H);
    switch (op) {
    case NAS_DARTS_RNN_TANH: h = nas_tanh(g, h); break;
    case NAS_DARTS_RNN_RELU: h = nas_relu(g, h); break;
    case NAS_DARTS_RNN_SIGMOID: h = nas_sigmoid(g, h); break;
    default: break; /* identity */
    }
    return nas_add(g, s, nas_mul(g, c, nas_sub(g, h, s)));
}

nas_tensor *nas__darts_rnn_fixed_step(nas_graph *g, nas_params *p, const nas__darts_rnn_fixed *n,
                                      nas_tensor *x, nas_tensor *h)
{
    int H = n->hidden;
    nas_tensor *xh[2] = {x, h};
    nas_tensor *ch0 = nas_linear(g, nas_concat(g, xh, 2), nas_params_get(p, n->w0), NULL);
    nas_tensor *states[NAS_DARTS_RNN_NODES + 1];
    states[0] = highway(g, h, ch0, NAS_DARTS_RNN_TANH, H);
    for (int j = 0; j < NAS_DARTS_RNN_NODES; j++) {
        nas_tensor *s = states[n->gt.from[j]];
        nas_tensor *ch = nas_linear(g, s, nas_params_get(p, n->ws[j]), NULL);
        states[j + 1] = highway(g, s, ch, n->gt.op[j], H);
    }
    nas_tensor *out[NAS_DARTS_RNN_NODES];
    for (int i = 0; i < n->gt.nconcat; i++)
        out[i] = states[n->gt.concat[i]];
    nas_tensor *sum = n->gt.nconcat == 1 ? out[0] : nas_sum_n(g, out, n->gt.nconcat);
    return nas_scale(g, sum, 1.0f / (float)n->gt.nconcat);
}
