// SPDX-License-Identifier: MIT
/*
 * enas_rnn_job.c - the `enas` job kind over the enas-rnn search space
 * (melodyguan/enas src/ptb, scripts/ptb_search.sh): a language model
 * whose cell is a child of the shared store (enas_rnn.c), on a text
 * corpus. Each epoch (1) trains the shared weights for one pass over the
 * train split, in BPTT chunks, a freshly sampled child per chunk, with
 * SGD (lr decayed by lr_decay_rate per epoch from epoch lr_decay_start
 * on, floor lr_min; the loss summed over the chunk's steps and averaged
 * over its columns as in the reference, so lr has the reference's scale),
 * then (2) makes controller_steps REINFORCE updates of
 * controller_aggregate children each, the reward of a child being
 * reward_c / its perplexity (capped at e^10, as the reference) on a
 * random valid chunk with the shared weights, from a zero state and
 * without dropout. Every controller-phase child is an architecture row;
 * per epoch the train loss and perplexity, the lr and the valid-split
 * perplexity of the epoch's best-reward child. The result: final_samples
 * children sampled from the trained controller, each scored on the first
 * valid chunk, the best kept; its headline is its perplexity on the whole
 * valid split (a search never touches the test split).
 *
 * The one design decision to know: the controller updates are steps of
 * the epoch like the weight steps (steps per epoch = train chunks +
 * controller_steps), so the stop checks, progress and shutdown
 * checkpoints of nas__job_run_epoch cover both phases. Everything a
 * resume needs is in the store (weights, SGD buffers, the controller and
 * its Adam moments, the carried train state "carry.train"), the op rng
 * (children, dropout, reward chunks all draw from it), the position
 * (SGD and Adam step counts) and two metadata strings written with every
 * checkpoint: the baseline and the epoch's best child so far.
 */
#include "jobs/jobs.h"
#include "search/enas/enas_rnn.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EVAL_BSZ = 10 };

static int check_drop(const char *name, float p)
{
    if (!(p >= 0.0f && p < 1.0f))
        return nas_fail(NAS_EINVAL, "%s: %g must be in [0, 1)", name, (double)p);
    return NAS_OK;
}

int nas__enas_rnn_job_prepare(nas__job *j)
{
    nas_job_spec *s = &j->spec;
    s->search_space = "enas-rnn";
    int rc;
    if (strcmp(j->desc->kind, "text") != 0)
        return BAD("dataset", "enas-rnn needs a text dataset, %s is %s", j->desc->name,
                   j->desc->kind);
    if (s->arch != NAS_ARCH_DEFAULT)
        return BAD("arch", "does not apply to enas (it searches for one)");
    if (s->nesterov || s->augment)
        return BAD("nesterov", "nesterov and augment do not apply to "
                               "enas-rnn and must be 0");
    if (s->dropout != 0.0f)
        return BAD("dropout",
                   "%g: enas-rnn has dropout_e, dropout_x, "
                   "dropout_h and dropout_o instead; must be 0",
                   (double)s->dropout);
    /* ---- final training (jobs/enas_final.c) */
    if ((rc = nas__enas_final_check(j)) < 0)
        return rc;
    /* ---- end final training */
    if (s->nodes < 2 || s->nodes > NAS_ENAS_RNN_MAX_NODES)
        return BAD("nodes", "%d is outside [2, %d]", s->nodes, NAS_ENAS_RNN_MAX_NODES);
    if (s->hidden < 1 || s->hidden > 4096)
        return BAD("hidden", "%d is outside [1, 4096]", s->hidden);
    if (s->bptt < 1 || s->bptt > 1000)
        return BAD("bptt", "%d is outside [1, 1000]", s->bptt);
    if (s->max_vocab < 0 || s->max_vocab == 1)
        return BAD("max_vocab", "%d must be 0 (no cap) or >= 2", s->max_vocab);
    if (s->lr_decay_start < 0 || s->lr_decay_start > 100000)
        return BAD("lr_decay_start", "%d is outside [0, 100000]", s->lr_decay_start);
    if (!(s->lr_decay_rate > 0.0f && s->lr_decay_rate <= 1.0f))
        return BAD("lr_decay_rate", "%g must be in (0, 1]", (double)s->lr_decay_rate);
    if ((rc = check_drop("dropout_e", s->dropout_e)) < 0 ||
        (rc = check_drop("dropout_x", s->dropout_x)) < 0 ||
        (rc = check_drop("dropout_h", s->dropout_h)) < 0 ||
        (rc = check_drop("dropout_o", s->dropout_o)) < 0)
        return rc;
    if ((rc = nas__enas_check_controller(s)) < 0)
        return rc;
    if (!(s->reward_c > 0.0f && s->reward_c <= 1e6f))
        return BAD("reward_c", "%g must be in (0, 1e6]", (double)s->reward_c);
    snprintf(j->spec_text, sizeof(j->spec_text),
             "kind=enas space=enas-rnn dataset=%s nodes=%d hidden=%d "
             "bptt=%d max_vocab=%d epochs=%d seed=%" PRIu64
             " batch_size=%d lr=%.9g lr_min=%.9g lr_decay_start=%d "
             "lr_decay_rate=%.9g momentum=%.9g weight_decay=%.9g "
             "grad_clip=%.9g dropout_e=%.9g dropout_x=%.9g dropout_h=%.9g "
             "dropout_o=%.9g lstm_size=%d lstm_layers=%d controller_lr=%.9g "
             "entropy_weight=%.9g tanh_constant=%.9g temperature=%.9g "
             "baseline_decay=%.9g controller_steps=%d "
             "controller_aggregate=%d reward_c=%.9g final_samples=%d",
             j->desc->name, s->nodes, s->hidden, s->bptt, s->max_vocab, s->epochs, s->seed,
             s->batch_size, (double)s->lr, (double)s->lr_min, s->lr_decay_start,
             (double)s->lr_decay_rate, (double)s->momentum, (double)s->weight_decay,
             (double)s->grad_clip, (double)s->dropout_e, (double)s->dropout_x, (double)s->dropout_h,
             (double)s->dropout_o, s->ctrl_hidden, s->ctrl_layers, (double)s->ctrl_lr,
             (double)s->ctrl_entropy_weight, (double)s->ctrl_tanh, (double)s->ctrl_temperature,
             (double)s->ctrl_baseline_decay, s->ctrl_steps, s->ctrl_aggregate, (double)s->reward_c,
             s->final_samples);
    return NAS_OK;
}

/* ----------------------------------------------------------------- run */

typedef nas__stream stream;

enum { META_BASELINE, META_BEST, NMETA };

typedef struct run {
    nas__job *j;
    nas_corpus *corpus;
    stream train, valid, eval; /* weight chunks, reward chunks, val ppl */
    nas_params *p;
    nas_graph *g;  /* the child */
    nas_graph *gc; /* the controller */
    nas__enas_rnn *net;
    nas_ctrl *ctrl;
    const nas_ctrl_step *prog;
    int nprog, alen;
    nas_reinforce rf;
    nas_sgd sgd;
    nas_enas_rnn_drop drop;
    int carry; /* store index of the carried train state */
    float *eval_h, *zero_h;
    int *arc, *best_arc; /* best_arc: the epoch's best child */
    double best_reward;  /* -1: none yet this epoch */
    nas_rng op_rng;
    int64_t ntrain, spe, total; /* train chunks; steps per epoch; job */
    nas__job_pos pos;           /* last_acc: the epoch's val perplexity */
    float lr;
    double val_loss;
    nas_kv meta[NMETA];
    char meta_val[NMETA][16 + 8 * NAS_ENAS_RNN_MAX_NODES * 2];
} run;

static uint64_t dbits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    return u;
}

static double from_bits(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof(v));
    return v;
}

/* The two metadata strings, as they stand: "none" or the baseline's bits;
 * "none" or the best reward's bits followed by the best arc. */
static void update_meta(run *r)
{
    char *b = r->meta_val[META_BASELINE], *a = r->meta_val[META_BEST];
    size_t cap = sizeof(r->meta_val[0]);
    if (r->rf.have_baseline)
        snprintf(b, cap, "%016" PRIx64, dbits(r->rf.baseline));
    else
        snprintf(b, cap, "none");
    if (r->best_reward < 0.0) {
        snprintf(a, cap, "none");
        return;
    }
    int n = snprintf(a, cap, "%016" PRIx64, dbits(r->best_reward));
    for (int k = 0; k < r->alen; k++)
        n += snprintf(a + n, cap - (size_t)n, " %d", r->best_arc[k]);
}

static int parse_meta(run *r, const char *key, const char *v)
{
    char *end;
    if (strcmp(v, "none") == 0)
        return NAS_OK;
    errno = 0;
    uint64_t u = strtoull(v, &end, 16);
    if (errno || end != v + 16)
        goto bad;
    if (strcmp(key, "enas.baseline") == 0) {
        if (*end)
            goto bad;
        r->rf.baseline = from_bits(u);
        r->rf.have_baseline = 1;
        return NAS_OK;
    }
    r->best_reward = from_bits(u);
    for (int k = 0; k < r->alen; k++) {
        const char *q = end;
        long x = strtol(q, &end, 10);
        if (end == q)
            goto bad;
        r->best_arc[k] = (int)x;
    }
    if (*end || nas__enas_rnn_check_arc(r->net, r->best_arc) < 0)
        goto bad;
    return NAS_OK;
bad:
    return nas_fail(NAS_EFORMAT, "%s: metadata %s is malformed", r->j->spec.checkpoint_path, key);
}

static int resume(run *r)
{
    nas__job *j = r->j;
    const nas_job_spec *s = &j->spec;
    nas_rng_seed(&r->op_rng, s->seed ^ 0x656e61732d726e6eull);
    nas_rng_seed(&r->pos.data_rng, s->seed ^ 0x646174612d726e67ull);
    r->pos.epoch = 1;
    int resumed, rc = nas__job_resume(j, r->p, &r->op_rng, r->spe, &r->pos, &resumed);
    if (rc < 0 || !resumed)
        return rc;
    /* One SGD step per train chunk and one Adam step per controller update
     * done so far. */
    int64_t whole = (int64_t)(r->pos.epoch - 1);
    int64_t in_ep = r->pos.step;
    int64_t sgd = whole * r->ntrain + (in_ep < r->ntrain ? in_ep : r->ntrain);
    int64_t adam = whole * s->ctrl_steps + (in_ep > r->ntrain ? in_ep - r->ntrain : 0);
    if (r->pos.sgd_steps != sgd || r->pos.adam_steps != adam)
        return nas_fail(
            NAS_EFORMAT,
            "%s: step counts disagree (sgd %" PRId64 ", adam %" PRId64 " at step %" PRId64 ")",
            s->checkpoint_path, r->pos.sgd_steps, r->pos.adam_steps, r->pos.global_step);
    r->sgd.steps = r->pos.sgd_steps;
    r->rf.adam.steps = r->pos.adam_steps;
    const char *keys[NMETA] = {"enas.baseline", "enas.best"};
    for (int k = 0; k < NMETA; k++) {
        char *v = NULL;
        if ((rc = nas__ckpt_meta(s->checkpoint_path, keys[k], &v)) < 0)
            return rc;
        if (!v)
            return nas_fail(NAS_EFORMAT, "%s: no %s metadata", s->checkpoint_path, keys[k]);
        rc = parse_meta(r, keys[k], v);
        free(v);
        if (rc < 0)
            return rc;
    }
    update_meta(r);
    return NAS_OK;
}

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
                               "batch_size (valid split, which gives the "
                               "rewards)",
                               &r->valid)) < 0 ||
        (rc = nas__stream_make(c->valid, c->nvalid, ebsz < 1 ? 1 : ebsz, "valid split", &r->eval)) <
            0)
        return rc;
    r->ntrain = (r->train.rows - 1 + s->bptt - 1) / s->bptt;
    r->spe = r->ntrain + s->ctrl_steps;
    r->total = r->spe * s->epochs;
    r->p = nas_params_new();
    r->g = nas_graph_new(0);
    r->gc = nas_graph_new(0);
    size_t hb = (size_t)s->hidden * sizeof(float);
    r->eval_h = malloc((size_t)EVAL_BSZ * hb);
    r->zero_h = calloc((size_t)s->batch_size, hb);
    if (!r->p || !r->g || !r->gc || !r->eval_h || !r->zero_h)
        return nas_fail(NAS_ENOMEM, "enas-rnn: out of memory");
    nas_enas_rnn_cfg cfg = {.vocab = c->vocab_size, .hidden = s->hidden, .nodes = s->nodes};
    if ((rc = nas__enas_rnn_declare(r->p, &cfg, &r->net)) < 0)
        return rc;
    r->alen = nas__enas_rnn_arc_len(r->net);
    r->arc = calloc((size_t)r->alen, sizeof(int));
    r->best_arc = calloc((size_t)r->alen, sizeof(int));
    if (!r->arc || !r->best_arc)
        return nas_fail(NAS_ENOMEM, "enas-rnn: out of memory");
    nas_ctrl_cfg cc = {.hidden = s->ctrl_hidden,
                       .lstm_layers = s->ctrl_layers,
                       .temperature = s->ctrl_temperature,
                       .tanh_c = s->ctrl_tanh,
                       .no_lstm_bias = 1}; /* the reference's lstm has none */
    r->prog = nas__enas_rnn_program(r->net, &r->nprog, &cc);
    if ((rc = nas_ctrl_declare(r->p, "ctrl", &cc, &r->ctrl)) < 0)
        return rc;
    if (nas_ctrl_arc_len(r->ctrl, r->prog, r->nprog) != r->alen)
        return nas_fail(NAS_EINVAL,
                        "nodes: the controller program does not "
                        "write %d decisions",
                        r->alen);
    int shape[2] = {s->batch_size, s->hidden};
    if ((r->carry = nas_params_add(r->p, "carry.train", NAS_GROUP_STATE, NAS_INIT_ZERO, 0.0f, 2,
                                   shape)) < 0)
        return nas_fail(NAS_ENOMEM, "enas-rnn: out of memory");
    nas_rng init;
    nas_rng_seed(&init, s->seed);
    if ((rc = nas_params_alloc(r->p, &init)) < 0)
        return rc;
    r->sgd = (nas_sgd){.momentum = s->momentum, .weight_decay = s->weight_decay};
    r->rf = (nas_reinforce){
        .entropy_weight = s->ctrl_entropy_weight,
        .baseline_decay = s->ctrl_baseline_decay,
        .adam = {.lr = s->ctrl_lr, .beta1 = 0.0f, .beta2 = 0.999f, .eps = 1e-3f},
    };
    r->drop = (nas_enas_rnn_drop){s->dropout_e, s->dropout_x, s->dropout_h, s->dropout_o};
    r->best_reward = -1.0;
    r->meta[0] = (nas_kv){"enas.baseline", r->meta_val[META_BASELINE]};
    r->meta[1] = (nas_kv){"enas.best", r->meta_val[META_BEST]};
    update_meta(r);
    j->extra_meta = r->meta;
    j->nextra = NMETA;
    nas_graph_set_rng(r->g, &r->op_rng);
    if ((rc = resume(r)) < 0)
        return rc;
    nas__job_log(j,
                 "corpus %s: %d words of vocabulary, %d/%d train/valid "
                 "tokens; %" PRId64 " train chunks + %d controller updates "
                 "per epoch; %zu shared weights",
                 j->desc->name, c->vocab_size, c->ntrain, c->nvalid, r->ntrain, s->ctrl_steps,
                 nas__params_weights_numel(r->p));
    return NAS_OK;
}

static void teardown(void *ctx)
{
    run *r = ctx;
    r->j->extra_meta = NULL;
    r->j->nextra = 0;
    nas_ctrl_free(r->ctrl);
    nas__enas_rnn_free(r->net);
    nas_graph_free(r->g);
    nas_graph_free(r->gc);
    nas_params_free(r->p);
    free(r->train.ids);
    free(r->valid.ids);
    free(r->eval.ids);
    free(r->eval_h);
    free(r->zero_h);
    free(r->arc);
    free(r->best_arc);
    nas_corpus_free(r->corpus);
}

/* Samples a child into r->arc from the controller; with grad, the
 * controller's outputs for REINFORCE into *out (gc not reset after). */
static int sample(run *r, int grad, nas_ctrl_out *out)
{
    nas_ctrl_out o;
    nas_graph_reset(r->gc);
    nas_graph_set_grad(r->gc, grad);
    int rc = nas_ctrl_run(r->ctrl, r->gc, r->p, r->prog, r->nprog, &r->op_rng, NULL, r->arc,
                          out ? out : &o);
    NAS_ASSERT(rc == NAS_OK && "enas-rnn: the program is well formed");
    return rc;
}

/* Mean loss per token of child arc on rows [row, row + T] of stream st,
 * from a zero state (h_state NULL) or a carried one, eval mode. */
static double eval_chunk(run *r, const int *arc, const stream *st, int row, int T, float *h_state)
{
    nas_graph_reset(r->g);
    nas_graph_set_training(r->g, 0);
    nas_graph_set_grad(r->g, 0);
    nas_enas_rnn_chunk c = {st->ids + (size_t)row * st->bsz, T, st->bsz,
                            h_state ? h_state : r->zero_h};
    nas_tensor *loss = nas__enas_rnn_loss(r->g, r->p, r->net, arc, &c, h_state, NULL);
    double v = loss->data[0];
    nas_graph_reset(r->g);
    nas_graph_set_training(r->g, 1);
    nas_graph_set_grad(r->g, 1);
    return v;
}

/* Mean loss per token of arc over the whole valid split (state carried
 * from zero, chunks of bptt, summed in double). */
static double evaluate(run *r, const int *arc)
{
    const stream *s = &r->eval;
    int bptt = r->j->spec.bptt;
    memset(r->eval_h, 0, (size_t)s->bsz * r->j->spec.hidden * sizeof(float));
    double sum = 0.0, count = 0.0;
    for (int i = 0; i + 1 < s->rows; i += bptt) {
        int T = s->rows - 1 - i < bptt ? s->rows - 1 - i : bptt;
        sum += eval_chunk(r, arc, s, i, T, r->eval_h) * T * s->bsz;
        count += (double)T * s->bsz;
    }
    return sum / count;
}

/* reward_c / perplexity, the loss capped at 10 as in the reference. */
static double reward_of(const run *r, double loss)
{
    return r->j->spec.reward_c / exp(loss < 10.0 ? loss : 10.0);
}

static void train_step(run *r)
{
    const nas_job_spec *s = &r->j->spec;
    int bptt = s->bptt, bsz = s->batch_size;
    int i = (int)(r->pos.step * bptt);
    int T = r->train.rows - 1 - i < bptt ? r->train.rows - 1 - i : bptt;
    sample(r, 0, NULL);
    float *h = nas_params_get(r->p, r->carry)->data;
    nas_enas_rnn_chunk c = {r->train.ids + (size_t)i * bsz, T, bsz, h};
    nas_graph_reset(r->g);
    nas_tensor *loss = nas__enas_rnn_loss(r->g, r->p, r->net, r->arc, &c, h, &r->drop);
    nas_params_zero_grad(r->p, NAS_MASK(NAS_GROUP_WEIGHTS));
    nas_graph_backward(r->g, nas_scale(r->g, loss, (float)T), NAS_MASK(NAS_GROUP_WEIGHTS));
    if (s->grad_clip > 0.0f)
        nas_clip_grad_norm(r->p, NAS_GROUP_WEIGHTS, s->grad_clip);
    r->sgd.lr = r->lr;
    nas_sgd_step(&r->sgd, r->p, NAS_GROUP_WEIGHTS);
    r->pos.loss_sum += (double)loss->data[0] * T * bsz;
    r->pos.seen += (double)T * bsz;
    r->pos.sgd_steps = r->sgd.steps;
    nas_graph_reset(r->g);
}

/* {"epoch":..,"step":..,"val_perplexity":..,"fixed_arc":".."}. */
static char *child_metrics(run *r, double loss)
{
    nas_json_buf b = {0};
    nas__json_buf_puts(&b, "{");
    nas__json_num(&b, 1, "epoch", r->pos.epoch);
    nas__json_num(&b, 0, "step", (double)r->pos.global_step);
    nas__json_num(&b, 0, "val_perplexity", exp(loss));
    nas__json_buf_puts(&b, ",\"fixed_arc\":\"");
    nas__enas_rnn_arc_string(r->net, r->arc, &b);
    nas__json_buf_puts(&b, "\"}");
    if (!b.oom)
        return b.s;
    free(b.s);
    return NULL;
}

static void report_child(run *r, double loss, double reward)
{
    nas__job *j = r->j;
    if (!j->rep.architecture)
        return;
    nas_json_buf a = {0};
    nas__enas_rnn_arc_json(r->net, r->arc, &a);
    char *met = child_metrics(r, loss);
    if (!a.oom && met)
        j->rep.architecture(j->rep.ctx, a.s, reward, met);
    free(a.s);
    free(met);
}

static void controller_step(run *r)
{
    nas__job *j = r->j;
    const nas_job_spec *s = &j->spec;
    int m = s->ctrl_aggregate, bptt = s->bptt;
    double sum_loss = 0.0, sum_ent = 0.0, sum_rew = 0.0;
    for (int k = 0; k < m; k++) {
        nas_ctrl_out out;
        sample(r, 1, &out);
        int span = r->valid.rows - 1 - bptt;
        int row = span > 0 ? (int)nas_rng_below(&r->op_rng, (uint32_t)span + 1) : 0;
        int T = r->valid.rows - 1 - row < bptt ? r->valid.rows - 1 - row : bptt;
        double loss = eval_chunk(r, r->arc, &r->valid, row, T, NULL);
        double reward = reward_of(r, loss);
        nas_tensor *l = nas_reinforce_loss(r->gc, &r->rf, &out, reward, 1.0f / (float)m);
        nas_graph_backward(r->gc, l, NAS_MASK(NAS_GROUP_CONTROLLER));
        sum_loss += l->data[0];
        sum_ent += out.entropy->data[0];
        sum_rew += reward;
        nas_reinforce_baseline(&r->rf, reward);
        report_child(r, loss, reward);
        if (reward > r->best_reward) {
            r->best_reward = reward;
            memcpy(r->best_arc, r->arc, (size_t)r->alen * sizeof(int));
        }
        nas_graph_reset(r->gc);
    }
    nas_reinforce_step(&r->rf, r->p);
    r->pos.adam_steps = r->rf.adam.steps;
    update_meta(r);
    int e = r->pos.epoch;
    int64_t st = r->pos.global_step + 1;
    nas__job_metric(j, e, st, "controller_loss", sum_loss);
    nas__job_metric(j, e, st, "controller_entropy", sum_ent / m);
    nas__job_metric(j, e, st, "baseline", r->rf.baseline);
    nas__job_metric(j, e, st, "reward", sum_rew / m);
}

static void step(void *ctx)
{
    run *r = ctx;
    if (r->pos.step < r->ntrain)
        train_step(r);
    else
        controller_step(r);
    r->pos.step++;
    r->pos.global_step++;
}

/* Reports the epoch and moves the position to the start of the next. */
static int end_epoch(void *ctx)
{
    run *r = ctx;
    nas__job *j = r->j;
    nas__job_pos *pos = &r->pos;
    int e = pos->epoch;
    if (r->best_reward < 0.0) { /* cut before the controller phase */
        sample(r, 0, NULL);
        memcpy(r->best_arc, r->arc, (size_t)r->alen * sizeof(int));
    }
    r->val_loss = evaluate(r, r->best_arc);
    pos->last_loss = pos->seen > 0 ? pos->loss_sum / pos->seen : 0.0;
    pos->last_acc = exp(r->val_loss);
    nas__job_metric(j, e, pos->global_step, "train_loss", pos->last_loss);
    nas__job_metric(j, e, pos->global_step, "train_perplexity", exp(pos->last_loss));
    nas__job_metric(j, e, pos->global_step, "val_perplexity", pos->last_acc);
    nas__job_metric(j, e, pos->global_step, "lr", r->lr);
    nas__job_log(j,
                 "epoch %d/%d: train perplexity %.2f, val perplexity "
                 "%.2f of the epoch's best child, lr %g",
                 e, j->spec.epochs, exp(pos->last_loss), pos->last_acc, (double)r->lr);
    r->best_reward = -1.0;
    update_meta(r);
    nas__job_next_epoch(pos);
    return NAS_OK;
}

/* The reference's schedule: lr decays by the rate once per epoch from
 * epoch lr_decay_start (0-based) on, never below lr_min. */
static float epoch_lr(const nas_job_spec *s, int epoch)
{
    int k = epoch - 1 - s->lr_decay_start;
    double lr = s->lr * pow(s->lr_decay_rate, k > 0 ? k : 0);
    return (float)(lr > s->lr_min ? lr : s->lr_min);
}

static int run_epoch(void *ctx)
{
    run *r = ctx;
    nas__job *j = r->j;
    const nas_job_spec *s = &j->spec;
    if (r->pos.step == 0) /* the train state starts every epoch at zero */
        memset(nas_params_get(r->p, r->carry)->data, 0,
               (size_t)s->batch_size * s->hidden * sizeof(float));
    r->lr = epoch_lr(s, r->pos.epoch);
    return nas__job_run_epoch(j, r->p, &r->op_rng, &r->pos, r->spe, r->total, step, end_epoch, r);
}

/* final_samples children, each scored on the first valid chunk; the
 * best (the first on ties) into r->best_arc. */
static double pick_final(run *r)
{
    const nas_job_spec *s = &r->j->spec;
    int T = r->valid.rows - 1 < s->bptt ? r->valid.rows - 1 : s->bptt;
    double best = -1.0;
    for (int k = 0; k < s->final_samples; k++) {
        sample(r, 0, NULL);
        double reward = reward_of(r, eval_chunk(r, r->arc, &r->valid, 0, T, NULL));
        if (reward > best) {
            best = reward;
            memcpy(r->best_arc, r->arc, (size_t)r->alen * sizeof(int));
        }
    }
    return best;
}

static int report_result(run *r, int stopped_by_time)
{
    nas__job *j = r->j;
    double best = pick_final(r);
    double loss = evaluate(r, r->best_arc), vppl = exp(loss);
    nas_json_buf arch = {0}, res = {0};
    int rc = NAS_OK;
    nas__enas_rnn_arc_json(r->net, r->best_arc, &arch);
    nas__job_json_open(&res, "enas-rnn", j);
    nas__json_buf_puts(&res, ",\"architecture\":");
    nas__enas_rnn_arc_json(r->net, r->best_arc, &res);
    nas__json_buf_puts(&res, ",\"fixed_arc\":\"");
    nas__enas_rnn_arc_string(r->net, r->best_arc, &res);
    nas__json_buf_puts(&res, "\"");
    nas__json_num(&res, 0, "val_perplexity", vppl);
    nas__json_num(&res, 0, "val_loss", loss);
    nas__json_num(&res, 0, "final_samples", j->spec.final_samples);
    nas__json_num(&res, 0, "final_sample_reward", best);
    nas__json_num(&res, 0, "train_loss", r->pos.last_loss);
    nas__json_num(&res, 0, "train_perplexity", exp(r->pos.last_loss));
    nas__json_num(&res, 0, "baseline", r->rf.baseline);
    nas__json_buf_puts(&res, ",\"val_data\":\"the valid split, which also "
                             "gives the controller's rewards; a search does "
                             "not use the test split\"");
    nas__json_num(&res, 0, "vocab", r->corpus->vocab_size);
    nas__json_num(&res, 0, "train_tokens", r->corpus->ntrain);
    nas__json_num(&res, 0, "val_tokens", r->corpus->nvalid);
    nas__json_num(&res, 0, "child_parameters",
                  (double)nas__enas_rnn_arc_params(r->net, r->p, r->best_arc));
    nas__job_json_close(&res, j, &r->pos, r->spe, r->p, stopped_by_time);
    if (arch.oom || res.oom) {
        rc = nas_fail(NAS_ENOMEM, "enas-rnn: result: out of memory");
        goto fail;
    }
    nas__job_log(j, "result: %s, val perplexity %.2f", arch.s, vppl);
    if (j->rep.result)
        j->rep.result(j->rep.ctx, arch.s, "val_perplexity", vppl, res.s);
fail:
    free(arch.s);
    free(res.s);
    return rc;
}

static int finish(void *ctx, int by_time, void *out)
{
    (void)out; /* the final training captures the result itself */
    return report_result(ctx, by_time);
}

int nas__enas_rnn_job(nas__job *j)
{
    static const nas__job_stages stages = {setup, run_epoch, finish, teardown};
    run r = {.j = j};
    return nas__enas_stages(j, &r.pos, &stages, &r);
}
