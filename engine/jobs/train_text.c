// SPDX-License-Identifier: MIT
/*
 * train_text.c - the `train` job on a text corpus: a word-level LSTM
 * language model (embedding, LSTM layers, linear to the vocabulary) trained
 * with truncated BPTT and SGD like PyTorch's word_language_model example,
 * reporting validation perplexity per epoch and test perplexity at the end.
 *
 * The recurrent part is either LSTM layers or, for NAS_ARCH_DARTS_RNN, the
 * discrete cell of a darts-rnn genotype (search/darts/darts_rnn_net.c:
 * one layer, a state h only, dropout_input on the embeddings and dropout
 * on the cell outputs); embedding, decoder, loop and reports are the same. For
 * NAS_ARCH_ENAS_RNN it is the whole model of one fixed enas-rnn arc
 * (search/enas/enas_rnn.c: its own embedding, cell and tied decoder, the
 * dropouts dropout_e/x/h/o); the loop and reports are the same. The
 * networks themselves are declared and stepped by text_net.c, which the
 * model loader and the ONNX export share.
 *
 * The one design decision to know: the hidden state carried from one BPTT
 * chunk to the next lives in the parameter store as NAS_GROUP_STATE
 * tensors ("carry.h.0", ...). The optimizer never touches that group, each
 * chunk copies the values into fresh arena tensors (which detaches them:
 * they depend on no leaf), and a checkpoint taken mid-epoch saves them with
 * the weights, so a resumed run continues from the exact state.
 */
#include "text_net.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { EVAL_BSZ = 10, MAX_LAYERS = NAS__TEXT_MAX_LAYERS };

typedef nas__text_net lm;

typedef nas__stream stream;

typedef struct run {
    nas__job *j;
    nas_corpus *corpus;
    stream train, valid, test;
    nas_params *p;
    nas_graph *g;
    lm net;
    nas_rng op_rng;
    nas_sgd sgd;
    float *eval_state; /* 2 * layers * EVAL_BSZ * hidden */
    int64_t spe, total;
    nas__job_pos pos;  /* last_acc holds the validation perplexity */
    double t0, tokens; /* the epoch's start and tokens trained on */
    int borrowed;      /* corpus is the caller's (nas__train_text_child) */
} run;

/* ----------------------------------------------------------------- net */

static int declare(run *r)
{
    return nas__text_net_declare(r->p, &r->j->spec, r->corpus->vocab_size, r->j->spec.batch_size,
                                 &r->net);
}

/* rows: T + 1 rows of bsz ids (inputs are rows 0..T-1, targets 1..T);
 * h[l], c[l] (bsz, H) hold the state before the chunk and receive the
 * state after it. Returns the mean cross-entropy over the T * bsz tokens. */
static nas_tensor *chunk_loss(run *r, const int32_t *rows, int T, int bsz, float **h, float **c)
{
    nas_graph *g = r->g;
    nas_params *p = r->p;
    const lm *n = &r->net;
    int H = n->hidden, shape[2] = {bsz, H};
    if (n->enas) { /* dropout only when the graph trains */
        nas_enas_rnn_chunk ch = {.rows = rows, .T = T, .bsz = bsz, .h = h[0]};
        return nas__enas_rnn_loss(g, p, n->enas, n->arc, &ch, h[0], &n->drop);
    }
    nas_tensor *hs[MAX_LAYERS], *cs[MAX_LAYERS];
    for (int l = 0; l < n->layers; l++) {
        hs[l] = nas_tensor_new(g, 2, shape);
        memcpy(hs[l]->data, h[l], (size_t)bsz * H * sizeof(float));
        if (n->darts)
            continue;
        cs[l] = nas_tensor_new(g, 2, shape);
        memcpy(cs[l]->data, c[l], (size_t)bsz * H * sizeof(float));
    }
    nas_tensor **outs = nas_arena_alloc(nas_graph_arena(g), (size_t)T * sizeof(*outs));
    for (int t = 0; t < T; t++)
        outs[t] = nas__text_net_step(g, p, n, rows + (size_t)t * bsz, bsz, hs, cs);
    /* (bsz, T*H) viewed as (bsz*T, H): row b*T + t is step t of column b. */
    int flat[2] = {bsz * T, H};
    nas_tensor *y = nas_reshape(g, nas_concat(g, outs, T), 2, flat);
    int32_t *tgt = nas_arena_alloc(nas_graph_arena(g), (size_t)bsz * T * sizeof(int32_t));
    for (int b = 0; b < bsz; b++)
        for (int t = 0; t < T; t++)
            tgt[(size_t)b * T + t] = rows[(size_t)(t + 1) * bsz + b];
    nas_tensor *logits = nas_linear(g, y, nas_params_get(p, n->dec_w), nas_params_get(p, n->dec_b));
    for (int l = 0; l < n->layers; l++) {
        memcpy(h[l], hs[l]->data, (size_t)bsz * H * sizeof(float));
        if (!n->darts)
            memcpy(c[l], cs[l]->data, (size_t)bsz * H * sizeof(float));
    }
    return nas_cross_entropy(g, logits, tgt);
}

/* Perplexity of a whole stream, in eval mode, state from zero. */
static double evaluate(run *r, const stream *s)
{
    const lm *n = &r->net;
    size_t plane = (size_t)s->bsz * n->hidden;
    float *h[MAX_LAYERS], *c[MAX_LAYERS];
    memset(r->eval_state, 0, 2 * n->layers * plane * sizeof(float));
    for (int l = 0; l < n->layers; l++) {
        h[l] = r->eval_state + 2 * l * plane;
        c[l] = h[l] + plane;
    }
    double sum = 0.0, count = 0.0;
    int bptt = r->j->spec.bptt;
    nas_graph_set_training(r->g, 0);
    nas_graph_set_grad(r->g, 0);
    for (int i = 0; i + 1 < s->rows; i += bptt) {
        int T = s->rows - 1 - i < bptt ? s->rows - 1 - i : bptt;
        nas_graph_reset(r->g);
        nas_tensor *loss = chunk_loss(r, s->ids + (size_t)i * s->bsz, T, s->bsz, h, c);
        sum += (double)loss->data[0] * T * s->bsz;
        count += (double)T * s->bsz;
    }
    nas_graph_reset(r->g);
    nas_graph_set_training(r->g, 1);
    nas_graph_set_grad(r->g, 1);
    return exp(sum / count);
}

/* --------------------------------------------------------------- setup */

/* Evaluation streams use 10 columns, fewer for a tiny split. */
static int eval_stream(const int32_t *ids, int n, const char *what, stream *out)
{
    int bsz = n / 2 < EVAL_BSZ ? n / 2 : EVAL_BSZ;
    return nas__stream_make(ids, n, bsz < 1 ? 1 : bsz, what, out);
}

static int setup(run *r)
{
    const nas_job_spec *s = &r->j->spec;
    int rc = r->corpus ? NAS_OK : nas__job_load_corpus(r->j, &r->corpus);
    if (rc < 0)
        return rc;
    nas_corpus *c = r->corpus;
    if ((rc = nas__stream_make(c->train, c->ntrain, s->batch_size, "batch_size (train split)",
                               &r->train)) < 0 ||
        (rc = eval_stream(c->valid, c->nvalid, "valid split", &r->valid)) < 0 ||
        (rc = eval_stream(c->test, c->ntest, "test split", &r->test)) < 0)
        return rc;
    r->spe = (r->train.rows - 1 + s->bptt - 1) / s->bptt;
    r->total = r->spe * s->epochs;
    r->p = nas_params_new();
    r->g = nas_graph_new(0);
    r->eval_state = malloc(2 * (size_t)s->layers * EVAL_BSZ * s->hidden * sizeof(float));
    if (!r->p || !r->g || !r->eval_state)
        return nas_fail(NAS_ENOMEM, "train: out of memory");
    if ((rc = declare(r)) < 0)
        return rc;
    nas_rng init;
    nas_rng_seed(&init, s->seed);
    if ((rc = nas_params_alloc(r->p, &init)) < 0)
        return rc;
    nas_rng_seed(&r->op_rng, s->seed ^ 0x6f70732d726e6731ull);
    nas_rng_seed(&r->pos.data_rng, s->seed ^ 0x646174612d726e67ull);
    nas_graph_set_rng(r->g, &r->op_rng);
    r->pos.epoch = 1;
    r->sgd = (nas_sgd){.lr = s->lr,
                       .momentum = s->momentum,
                       .weight_decay = s->weight_decay,
                       .nesterov = s->nesterov};
    int resumed;
    if ((rc = nas__job_resume(r->j, r->p, &r->op_rng, r->spe, &r->pos, &resumed)) < 0)
        return rc;
    r->sgd.steps = r->pos.sgd_steps;
    nas__job_log(r->j, "corpus %s: %d words of vocabulary, %d/%d/%d tokens", r->j->desc->name,
                 c->vocab_size, c->ntrain, c->nvalid, c->ntest);
    return NAS_OK;
}

static void teardown(run *r)
{
    free(r->train.ids);
    free(r->valid.ids);
    free(r->test.ids);
    free(r->eval_state);
    nas_graph_free(r->g);
    nas_params_free(r->p);
    nas__text_net_free(&r->net);
    if (!r->borrowed)
        nas_corpus_free(r->corpus);
}

/* ---------------------------------------------------------------- loop */

static void carry(run *r, float **h, float **c)
{
    for (int l = 0; l < r->net.layers; l++) {
        h[l] = nas_params_get(r->p, r->net.carry_h[l])->data;
        c[l] = r->net.carry_c[l] < 0 /* darts-rnn, enas-rnn: h only */
                   ? NULL
                   : nas_params_get(r->p, r->net.carry_c[l])->data;
    }
}

/* One BPTT chunk; returns the tokens trained on. */
static int train_step(run *r)
{
    const nas_job_spec *s = &r->j->spec;
    float *h[MAX_LAYERS], *c[MAX_LAYERS];
    carry(r, h, c);
    int i = (int)(r->pos.step * s->bptt);
    int T = r->train.rows - 1 - i < s->bptt ? r->train.rows - 1 - i : s->bptt;
    int bsz = r->train.bsz;
    nas_graph_reset(r->g);
    nas_tensor *loss = chunk_loss(r, r->train.ids + (size_t)i * bsz, T, bsz, h, c);
    nas_params_zero_grad(r->p, NAS_MASK(NAS_GROUP_WEIGHTS));
    nas_graph_backward(r->g, loss, NAS_MASK(NAS_GROUP_WEIGHTS));
    if (s->grad_clip > 0.0f)
        nas_clip_grad_norm(r->p, NAS_GROUP_WEIGHTS, s->grad_clip);
    r->sgd.lr = nas_cosine_lr(s->lr, s->lr_min, r->sgd.steps, r->total);
    nas_sgd_step(&r->sgd, r->p, NAS_GROUP_WEIGHTS);
    r->pos.loss_sum += (double)loss->data[0] * T * bsz;
    r->pos.seen += (double)T * bsz;
    r->pos.step++;
    r->pos.global_step++;
    r->pos.sgd_steps = r->sgd.steps;
    return T * bsz;
}

static void end_epoch(run *r, double seconds, double tokens)
{
    nas__job *j = r->j;
    nas__job_pos *pos = &r->pos;
    int e = pos->epoch;
    pos->last_loss = pos->seen > 0 ? pos->loss_sum / pos->seen : 0.0;
    pos->last_acc = evaluate(r, &r->valid);
    nas__job_metric(j, e, pos->global_step, "train_loss", pos->last_loss);
    nas__job_metric(j, e, pos->global_step, "train_perplexity", exp(pos->last_loss));
    nas__job_metric(j, e, pos->global_step, "val_perplexity", pos->last_acc);
    nas__job_metric(j, e, pos->global_step, "lr", r->sgd.lr);
    if (seconds > 0)
        nas__job_metric(j, e, pos->global_step, "tokens_per_second", tokens / seconds);
    nas__job_log(j, "epoch %d/%d: train loss %.4f, valid perplexity %.2f", e, j->spec.epochs,
                 pos->last_loss, pos->last_acc);
    nas__job_next_epoch(pos);
}

static void epoch_step(void *ctx)
{
    run *r = ctx;
    r->tokens += train_step(r);
}

static int epoch_end(void *ctx)
{
    run *r = ctx;
    end_epoch(r, nas__now() - r->t0, r->tokens);
    return NAS_OK;
}

static void zero_carry(run *r)
{
    float *h[MAX_LAYERS], *c[MAX_LAYERS];
    carry(r, h, c);
    for (int l = 0; l < r->net.layers; l++) {
        size_t n = (size_t)r->train.bsz * r->net.hidden * sizeof(float);
        memset(h[l], 0, n);
        if (c[l])
            memset(c[l], 0, n);
    }
}

/* One epoch from pos.step: NAS_OK at its end, NAS__STOP_TIME, or
 * NAS_ECANCELLED (after the shutdown checkpoint). */
static int run_epoch(void *ctx)
{
    run *r = ctx;
    nas__job *j = r->j;
    nas__job_pos *pos = &r->pos;
    if (pos->step == 0) /* every epoch starts from a zero state */
        zero_carry(r);
    r->t0 = nas__now();
    r->tokens = 0;
    return nas__job_run_epoch(j, r->p, &r->op_rng, pos, r->spe, r->total, epoch_step, epoch_end, r);
}

static int report_result(run *r, int by_time, double test_ppl)
{
    nas__job *j = r->j;
    const nas_job_spec *s = &j->spec;
    nas_json_buf arch = {0}, res = {0}, met = {0};
    if (r->net.darts) {
        /* The genotype itself, as a darts-rnn search reports it. */
        nas__json_buf_puts(&arch, "{");
        nas__darts_rnn_genotype_members(&r->net.cell.gt, &arch);
        nas__json_buf_puts(&arch, ",\"space\":\"darts-rnn\"");
        nas__json_num(&arch, 0, "dropout_input", s->dropout_input);
    } else if (r->net.enas) {
        nas__json_buf_puts(&arch, "{\"space\":\"enas-rnn\",\"arc\":");
        nas__enas_rnn_arc_json(r->net.enas, r->net.arc, &arch);
        nas__json_buf_puts(&arch, ",\"fixed_arc\":");
        nas__json_buf_str(&arch, s->genotype, "");
        nas__json_num(&arch, 0, "nodes", s->nodes);
        nas__json_num(&arch, 0, "dropout_e", s->dropout_e);
        nas__json_num(&arch, 0, "dropout_x", s->dropout_x);
        nas__json_num(&arch, 0, "dropout_h", s->dropout_h);
        nas__json_num(&arch, 0, "dropout_o", s->dropout_o);
    } else {
        nas__json_buf_puts(&arch, "{\"space\":\"lstm-lm\"");
        nas__json_num(&arch, 0, "layers", s->layers);
    }
    nas__json_num(&arch, 0, "embed", s->embed);
    nas__json_num(&arch, 0, "hidden", s->hidden);
    nas__json_num(&arch, 0, "bptt", s->bptt);
    nas__json_num(&arch, 0, "vocab", r->net.vocab);
    nas__json_num(&arch, 0, "dropout", s->dropout);
    nas__json_buf_puts(&arch, "}");

    nas__json_buf_puts(&met, "{");
    nas__json_num(&met, 1, "test_perplexity", test_ppl);
    nas__json_num(&met, 0, "val_perplexity", r->pos.last_acc);
    nas__json_buf_puts(&met, "}");

    nas__json_buf_puts(&res, "{\"dataset\":");
    nas__json_buf_str(&res, j->desc->name, "");
    nas__json_num(&res, 0, "test_perplexity", test_ppl);
    nas__json_num(&res, 0, "val_perplexity", r->pos.last_acc);
    nas__json_num(&res, 0, "train_loss", r->pos.last_loss);
    nas__job_json_steps(&res, &r->pos, r->spe);
    nas__json_num(&res, 0, "vocab", r->net.vocab);
    nas__json_num(&res, 0, "train_tokens", r->corpus->ntrain);
    if (r->net.enas) { /* only the weights the arc uses */
        nas__json_num(&res, 0, "parameters",
                      (double)nas__enas_rnn_arc_params(r->net.enas, r->p, r->net.arc));
        nas__json_buf_puts(&res, by_time ? ",\"stopped_by\":\"max_seconds\""
                                         : ",\"stopped_by\":\"epochs\"");
    } else {
        nas__job_json_stop(&res, r->p, by_time);
    }
    nas__json_num(&res, 0, "seconds", nas__job_elapsed(j));
    nas__json_buf_puts(&res, "}");

    if (!arch.oom) {
        nas__model_info m = {.arch_json = arch.s,
                             .metric = "test_perplexity",
                             .value = test_ppl,
                             .corpus = r->corpus};
        nas__text_net_model_info(&r->net, &m);
        int rc = nas__job_save_model(j, r->p, &m);
        if (rc < 0) {
            free(arch.s);
            free(res.s);
            free(met.s);
            return rc;
        }
    }
    /* The reward of ENAS' language model search: 80 / perplexity. */
    return nas__job_report(j, &arch, &res, &met, 80.0 / test_ppl, "test_perplexity", test_ppl);
}

int nas__train_text(nas__job *j)
{
    run r = {.j = j};
    int rc = setup(&r);
    if (rc < 0)
        goto fail;
    int by_time;
    rc = nas__job_epochs(j, &r.pos, run_epoch, &r, &by_time);
    if (rc < 0)
        goto fail;
    if (r.pos.global_step == 0) /* stopped before any step */
        r.pos.last_acc = evaluate(&r, &r.valid);
    rc = report_result(&r, by_time, evaluate(&r, &r.test));
fail:
    teardown(&r);
    return rc;
}

int nas__train_text_child(const nas_job_spec *t, nas_corpus *corpus, int (*should_stop)(void *ctx),
                          void *ctx,
                          int (*keep)(void *keep_ctx, nas_params *p, const nas__text_child *c),
                          void *keep_ctx, nas__text_child *out)
{
    nas__job sub;
    memset(out, 0, sizeof(*out));
    int rc = nas__job_prepare(&sub, t, NULL, NULL);
    if (rc < 0)
        return rc;
    sub.t0 = nas__now();
    run r = {.j = &sub, .corpus = corpus, .borrowed = 1};
    if ((rc = setup(&r)) < 0)
        goto fail;
    out->parameters = nas__params_weights_numel(r.p);
    for (int e = 0; e < t->epochs; e++) {
        zero_carry(&r);
        int64_t k = 0;
        for (; k < r.spe; k++) {
            if (should_stop && should_stop(ctx)) {
                rc = NAS_ECANCELLED;
                goto fail;
            }
            if (t->max_seconds > 0.0 && nas__now() - sub.t0 >= t->max_seconds) {
                out->by_time = 1;
                break;
            }
            train_step(&r);
        }
        if (out->by_time && k == 0 && e > 0)
            break; /* stopped at an epoch's end: its numbers stand */
        out->train_loss = r.pos.seen > 0 ? r.pos.loss_sum / r.pos.seen : 0.0;
        out->val_perplexity = evaluate(&r, &r.valid);
        if (out->by_time)
            break; /* a part of epoch e: evaluated, not counted */
        out->epochs = e + 1;
        nas__job_next_epoch(&r.pos);
    }
    if (keep)
        rc = keep(keep_ctx, r.p, out);
fail:
    teardown(&r);
    return rc;
}
