// SPDX-License-Identifier: MIT
/*
 * darts_rnn_job.c - the `darts` job kind over the darts-rnn search space:
 * a language model with the searched recurrent cell (darts_rnn.c) on a
 * text corpus, like quark0/darts rnn/train_search.py. The weights train on
 * the corpus' train split in BPTT chunks, alpha on its valid split (the
 * reference's search_data), one chunk of each per search step
 * (darts_gsearch.c); per epoch the train and val perplexity, the lr, the
 * softmax of alpha and the derived genotype as an architecture row.
 *
 * The one design decision to know: both streams carry their hidden state
 * from chunk to chunk, so the state is part of what the numbers depend
 * on. The two states live in the parameter store as NAS_GROUP_STATE
 * tensors ("carry.train", "carry.val"), like the LSTM's in train_text.c:
 * the optimizers never touch them, every pass copies them into fresh
 * arena tensors (detached), only the val pass of the architecture step
 * and the weight step write them back, and a checkpoint taken between
 * two steps saves them with the weights. With the train kind's position
 * (jobs.h) and the Adam step count that is everything an exact resume
 * needs; the val chunk of step k is a function of k (the valid stream
 * comes round again when it is shorter), and both states restart from
 * zero at every epoch, as in the reference.
 */
#include "jobs/jobs.h"
#include "search/darts/darts.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EVAL_BSZ = 10 };

/* What the spec table (engine/jobs/spec_table.c, applied first by
 * nas_job_spec_defaults) does not hold: its lr_min is null there, the lr. */
void nas__darts_rnn_job_defaults(nas_job_spec *s)
{
    SET0(s->lr_min, s->lr); /* the reference keeps the lr constant */
}

int nas__darts_rnn_job_prepare(nas__job *j)
{
    nas_job_spec *s = &j->spec;
    s->search_space = "darts-rnn";
    if (strcmp(j->desc->kind, "text") != 0)
        return BAD("dataset", "darts-rnn needs a text dataset, %s is %s", j->desc->name,
                   j->desc->kind);
    if (s->arch != NAS_ARCH_DEFAULT)
        return BAD("arch", "does not apply to darts (it searches for one)");
    if (s->nesterov || s->augment)
        return BAD("nesterov", "nesterov and augment do not apply to "
                               "darts-rnn and must be 0");
    /* Their ranges: the spec table's darts-rnn rows. */
    static const char *const keys[] = {"order",     "embed",          "hidden",
                                       "bptt",      "dropout_i",      "dropout_x",
                                       "dropout_h", "activation_reg", "temporal_activation_reg",
                                       NULL};
    int rc = nas__spec_check(s, nas_spec_space_find("darts", "darts-rnn"), keys);
    if (rc < 0)
        return rc;
    if (s->max_vocab < 0)
        return BAD("max_vocab", "%d must be >= 0 (0: all)", s->max_vocab);
    if (s->final_epochs < 0 || s->final_epochs > 100000)
        return BAD("final_epochs", "%d is outside [0, 100000] (0: off)", s->final_epochs);
    rc = nas__darts_job_check_arch(s);
    if (rc < 0)
        return rc;
    snprintf(j->spec_text, sizeof(j->spec_text),
             "kind=darts space=darts-rnn dataset=%s embed=%d hidden=%d "
             "bptt=%d max_vocab=%d order=%d epochs=%d seed=%" PRIu64
             " batch_size=%d lr=%.9g lr_min=%.9g momentum=%.9g "
             "weight_decay=%.9g grad_clip=%.9g dropout=%.9g "
             "dropout_input=%.9g dropout_x=%.9g dropout_h=%.9g ar=%.9g tar=%.9g "
             "arch_lr=%.9g arch_beta1=%.9g "
             "arch_beta2=%.9g arch_weight_decay=%.9g arch_lr_steps=%d",
             j->desc->name, s->embed, s->hidden, s->bptt, s->max_vocab, s->order, s->epochs,
             s->seed, s->batch_size, (double)s->lr, (double)s->lr_min, (double)s->momentum,
             (double)s->weight_decay, (double)s->grad_clip, (double)s->dropout,
             (double)s->dropout_input, (double)s->dropout_x, (double)s->dropout_h,
             (double)s->ar_alpha, (double)s->tar_beta, (double)s->arch_lr, (double)s->arch_beta1,
             (double)s->arch_beta2, (double)s->arch_weight_decay, s->arch_lr_steps);
    return NAS_OK;
}

/* ----------------------------------------------------------------- run */

typedef nas__stream stream;

typedef struct run {
    nas__job *j;
    nas_corpus *corpus;
    stream train, search, eval; /* w chunks, alpha chunks, val metrics */
    nas_params *p;
    nas_graph *g;
    nas__darts_rnn *net;
    nas__darts_rnn_model model;
    nas__darts_gsearch s;
    int searching;
    int carry_train, carry_val; /* store indices of the carried states */
    float *eval_h;              /* EVAL_BSZ x hidden */
    float *masks;               /* the step's dropout masks (mi, mx, mh, mo) */
    nas_rng op_rng;             /* dropout */
    int64_t spe, total;
    nas__job_pos pos; /* last_acc: train perplexity */
    float lr;
    double val_loss;
    int val_fresh;
    double val_tokens; /* tokens val_loss was measured on */
} run;

static int setup(void *ctx)
{
    run *r = ctx;
    nas__job *j = r->j;
    const nas_job_spec *s = &j->spec;
    int rc = nas__job_load_corpus(j, &r->corpus);
    if (rc < 0)
        return rc;
    const nas_corpus *c = r->corpus;
    int ebsz = c->nvalid / 2 < EVAL_BSZ ? c->nvalid / 2 : EVAL_BSZ;
    if ((rc = nas__stream_make(c->train, c->ntrain, s->batch_size, "batch_size (train split)",
                               &r->train)) < 0 ||
        (rc = nas__stream_make(c->valid, c->nvalid, s->batch_size,
                               "batch_size (valid split, which trains alpha)", &r->search)) < 0 ||
        (rc = nas__stream_make(c->valid, c->nvalid, ebsz < 1 ? 1 : ebsz, "valid split", &r->eval)) <
            0)
        return rc;
    r->spe = (r->train.rows - 1 + s->bptt - 1) / s->bptt;
    r->total = r->spe * s->epochs;
    if (s->final_epochs > 0) { /* the final training: the same stream */
        j->after_epochs = s->final_epochs;
        j->after_max_seconds = s->final_max_seconds;
        j->after_steps = r->spe * s->final_epochs;
    }
    r->p = nas_params_new();
    r->g = nas_graph_new(0);
    r->eval_h = malloc((size_t)EVAL_BSZ * s->hidden * sizeof(float));
    if (!r->p || !r->g || !r->eval_h)
        return nas_fail(NAS_ENOMEM, "darts-rnn: out of memory");
    nas_darts_rnn_cfg cfg = {.vocab = c->vocab_size,
                             .embed = s->embed,
                             .hidden = s->hidden,
                             .tied = s->embed == s->hidden};
    if ((rc = nas__darts_rnn_declare(r->p, &cfg, &r->net)) < 0)
        return rc;
    int shape[2] = {s->batch_size, s->hidden};
    if ((r->carry_train = nas_params_add(r->p, "carry.train", NAS_GROUP_STATE, NAS_INIT_ZERO, 0.0f,
                                         2, shape)) < 0 ||
        (r->carry_val =
             nas_params_add(r->p, "carry.val", NAS_GROUP_STATE, NAS_INIT_ZERO, 0.0f, 2, shape)) < 0)
        return nas_fail(NAS_ENOMEM, "darts-rnn: out of memory");
    nas_rng init;
    nas_rng_seed(&init, s->seed);
    if ((rc = nas_params_alloc(r->p, &init)) < 0)
        return rc;
    size_t be = (size_t)s->batch_size * s->embed, bh = (size_t)s->batch_size * s->hidden;
    if (!(r->masks = malloc((2 * be + 2 * bh) * sizeof(float))))
        return nas_fail(NAS_ENOMEM, "darts-rnn: out of memory");
    r->model =
        (nas__darts_rnn_model){.p = r->p,
                               .net = r->net,
                               .masks = {.mi = s->dropout_input > 0.0f ? r->masks : NULL,
                                         .mx = s->dropout_x > 0.0f ? r->masks + be : NULL,
                                         .mh = s->dropout_h > 0.0f ? r->masks + 2 * be : NULL,
                                         .mo = s->dropout > 0.0f ? r->masks + 2 * be + bh : NULL,
                                         .ar = s->ar_alpha,
                                         .tar = s->tar_beta}};
    nas_darts_hp hp;
    nas__darts_job_hp(s, r->total, &hp);
    if (s->arch_lr_steps > 0)
        nas__job_log(j, "arch_lr %g scaled to %g: %d steps' worth over %" PRId64 " steps",
                     (double)s->arch_lr, (double)hp.arch_lr, s->arch_lr_steps, r->total);
    if ((rc = nas__darts_gsearch_init(&r->s, r->p, r->g, nas__darts_rnn_pass_loss, &r->model, &hp,
                                      1)) < 0)
        return rc;
    r->searching = 1;
    nas_graph_set_rng(r->g, &r->op_rng);
    if ((rc = nas__darts_job_resume(j, r->p, &r->op_rng, r->spe, &r->pos)) < 0)
        return rc;
    r->s.sgd.steps = r->pos.sgd_steps;
    r->s.adam.steps = r->pos.adam_steps;
    nas__job_log(j,
                 "corpus %s: %d words of vocabulary, %d/%d tokens for "
                 "w/alpha; %" PRId64 " steps per epoch%s",
                 j->desc->name, c->vocab_size, c->ntrain, c->nvalid, r->spe,
                 cfg.tied ? "; decoder tied to the embedding" : "");
    return NAS_OK;
}

static void teardown(void *ctx)
{
    run *r = ctx;
    if (r->searching)
        nas__darts_gsearch_free(&r->s);
    nas__darts_rnn_free(r->net);
    nas_graph_free(r->g);
    nas_params_free(r->p);
    free(r->train.ids);
    free(r->search.ids);
    free(r->eval.ids);
    free(r->eval_h);
    free(r->masks);
    nas_corpus_free(r->corpus);
}

static float *carry(run *r, int which)
{
    return nas_params_get(r->p, which)->data;
}

static const float *alpha_of(run *r)
{
    return nas_params_get(r->p, nas__darts_rnn_alpha(r->net))->data;
}

/* Mean loss per token over the valid split, eval mode, state from zero,
 * in chunks of bptt (summed in double): the whole split, or only its
 * first chunk when the budget's max_seconds has run out (`cut`), so that
 * a search stops within about one step's time of its budget. */
static void evaluate(run *r, int cut)
{
    const stream *s = &r->eval;
    int bptt = r->j->spec.bptt;
    memset(r->eval_h, 0, (size_t)s->bsz * r->j->spec.hidden * sizeof(float));
    double sum = 0.0, count = 0.0;
    nas_graph_set_training(r->g, 0);
    nas_graph_set_grad(r->g, 0);
    for (int i = 0; i + 1 < s->rows && !(cut && i > 0); i += bptt) {
        int T = s->rows - 1 - i < bptt ? s->rows - 1 - i : bptt;
        nas_graph_reset(r->g);
        nas_darts_rnn_chunk c = {s->ids + (size_t)i * s->bsz, T, s->bsz, r->eval_h};
        nas_tensor *loss = nas__darts_rnn_loss(r->g, r->p, r->net, &c, r->eval_h, NULL, 0);
        sum += (double)loss->data[0] * T * s->bsz;
        count += (double)T * s->bsz;
    }
    nas_graph_reset(r->g);
    nas_graph_set_training(r->g, 1);
    nas_graph_set_grad(r->g, 1);
    r->val_loss = sum / count;
    r->val_tokens = count;
    r->val_fresh = 1;
}

/* Step k: train chunk k, and the val chunk at the same row modulo the
 * valid stream (the reference's i % (search_data.size(0) - 1)). */
static void search_step(void *ctx)
{
    run *r = ctx;
    const nas_job_spec *s = &r->j->spec;
    int bptt = s->bptt, bsz = s->batch_size;
    int i = (int)(r->pos.step * bptt);
    int T = r->train.rows - 1 - i < bptt ? r->train.rows - 1 - i : bptt;
    int vi = i % (r->search.rows - 1);
    int vT = r->search.rows - 1 - vi < bptt ? r->search.rows - 1 - vi : bptt;
    nas_darts_rnn_chunk tr = {r->train.ids + (size_t)i * bsz, T, bsz, carry(r, r->carry_train)};
    nas_darts_rnn_chunk va = {r->search.ids + (size_t)vi * bsz, vT, bsz, carry(r, r->carry_val)};
    /* The step's locked-dropout masks, from the op rng (checkpointed), one
     * set for all its passes: alpha's (the reference's architect runs in
     * training mode) and the weights'. */
    size_t be = (size_t)bsz * s->embed, bh = (size_t)bsz * s->hidden;
    nas__darts_rnn_mask(r->masks, be, s->dropout_input, &r->op_rng);
    nas__darts_rnn_mask(r->masks + be, be, s->dropout_x, &r->op_rng);
    nas__darts_rnn_mask(r->masks + 2 * be, bh, s->dropout_h, &r->op_rng);
    nas__darts_rnn_mask(r->masks + 2 * be + bh, bh, s->dropout, &r->op_rng);
    double loss = nas__darts_gsearch_step(&r->s, &tr, &va, r->lr, NULL);
    r->pos.loss_sum += loss * T * bsz;
    r->pos.seen += (double)T * bsz;
    r->pos.step++;
    r->pos.global_step++;
    r->pos.sgd_steps = r->s.sgd.steps;
    r->pos.adam_steps = r->s.adam.steps;
    r->val_fresh = 0;
}

static int genotype(run *r, char **json, char **text, nas_darts_rnn_genotype *gt)
{
    nas_darts_rnn_gene g;
    nas__darts_rnn_derive(alpha_of(r), &g);
    if (gt)
        nas__darts_rnn_genotype_of(&g, gt);
    if (json && !(*json = nas__darts_rnn_genotype_json(&g)))
        return NAS_ENOMEM;
    if (text && !(*text = nas__darts_rnn_genotype_text(&g)))
        return NAS_ENOMEM;
    return NAS_OK;
}

static char *epoch_metrics(run *r, int epoch)
{
    return nas__darts_job_epoch_json(nas__darts_rnn_alpha_json(alpha_of(r)), epoch, &r->pos,
                                     "train_perplexity", "val_perplexity", r->val_loss,
                                     exp(r->val_loss), r->lr);
}

/* Reports the epoch and moves the position to the start of the next. */
static int end_epoch(void *ctx)
{
    run *r = ctx;
    nas__job *j = r->j;
    nas__job_pos *pos = &r->pos;
    int e = pos->epoch;
    evaluate(r, pos->step < r->spe); /* an epoch cut short by max_seconds */
    double vppl = exp(r->val_loss);
    pos->last_loss = pos->seen > 0 ? pos->loss_sum / pos->seen : 0.0;
    pos->last_acc = exp(pos->last_loss);
    nas__job_metric(j, e, pos->global_step, "train_loss", pos->last_loss);
    nas__job_metric(j, e, pos->global_step, "train_perplexity", pos->last_acc);
    nas__job_metric(j, e, pos->global_step, "val_loss", r->val_loss);
    nas__job_metric(j, e, pos->global_step, "val_perplexity", vppl);
    nas__job_metric(j, e, pos->global_step, "lr", r->lr);
    char *arch = NULL, *met = NULL;
    int rc = genotype(r, &arch, NULL, NULL);
    if (rc == NAS_OK && !(met = epoch_metrics(r, e)))
        rc = NAS_ENOMEM;
    /* The reward of the ENAS language-model search: 80 / perplexity. */
    if (rc == NAS_OK && j->rep.architecture)
        j->rep.architecture(j->rep.ctx, arch, 80.0 / vppl, met);
    if (rc == NAS_OK)
        nas__job_log(j,
                     "epoch %d/%d: train perplexity %.2f, val perplexity "
                     "%.2f; %s",
                     e, j->spec.epochs, pos->last_acc, vppl, arch);
    free(arch);
    free(met);
    if (rc < 0)
        return nas_fail(rc, "darts-rnn: epoch %d report: out of memory", e);
    nas__job_next_epoch(pos);
    return NAS_OK;
}

static int run_epoch(void *ctx)
{
    run *r = ctx;
    nas__job *j = r->j;
    const nas_job_spec *s = &j->spec;
    nas__job_pos *pos = &r->pos;
    if (pos->step == 0) { /* both states start every epoch from zero */
        size_t n = (size_t)s->batch_size * s->hidden * sizeof(float);
        memset(carry(r, r->carry_train), 0, n);
        memset(carry(r, r->carry_val), 0, n);
    }
    r->lr = nas_cosine_lr(s->lr, s->lr_min, pos->epoch - 1, s->epochs);
    return nas__job_run_epoch(j, r->p, &r->op_rng, pos, r->spe, r->total, search_step, end_epoch,
                              r);
}

/* Reports the search's result, or - when final training follows - hands
 * it over in *out instead (out->arch set), as darts_job.c does. */
static int report_result(run *r, int stopped_by_time, nas__darts_search_out *out)
{
    nas__job *j = r->j;
    char *arch = NULL, *text = NULL;
    char *alpha = nas__darts_rnn_alpha_json(alpha_of(r));
    nas_json_buf res = {0};
    double vppl = exp(r->val_loss);
    int rc = genotype(r, &arch, &text, &out->darts_rnn);
    if (rc < 0 || !alpha) {
        rc = nas_fail(NAS_ENOMEM, "darts-rnn: result: out of memory");
        goto fail;
    }
    nas__darts_job_result_head(&res, "darts-rnn", j, text, alpha, "val_perplexity", vppl,
                               r->val_loss, "train_perplexity", &r->pos);
    nas__json_buf_puts(&res, ",\"val_data\":\"the valid split, which also "
                             "trains alpha; a search does not use the test "
                             "split\"");
    nas__json_num(&res, 0, "vocab", r->corpus->vocab_size);
    nas__json_num(&res, 0, "train_tokens", r->corpus->ntrain);
    nas__json_num(&res, 0, "val_tokens", r->corpus->nvalid);
    nas__json_num(&res, 0, "val_measured_tokens", r->val_tokens);
    nas__job_log(j, "result: %s, val perplexity %.2f", text, vppl);
    rc = nas__darts_job_deliver(j, "darts-rnn", &res, &r->pos, r->spe, r->p, stopped_by_time, &arch,
                                "val_perplexity", vppl, out);
fail:
    free(arch);
    free(text);
    free(alpha);
    free(res.s);
    return rc;
}

static int finish(void *ctx, int by_time, void *out)
{
    run *r = ctx;
    if (!r->val_fresh)
        evaluate(r, by_time);
    return report_result(r, by_time, out);
}

/* The search: its result reported, or handed over in *out; the search's
 * memory goes before the final model's. */
static int search(nas__job *j, nas__darts_search_out *out)
{
    static const nas__job_stages stages = {setup, run_epoch, finish, teardown};
    run r = {.j = j};
    return nas__job_search(j, &r.pos, &stages, &r, out);
}

int nas__darts_rnn_job(nas__job *j)
{
    return nas__darts_stages(j, search);
}
