// SPDX-License-Identifier: MIT
/*
 * train_image.c - the `train` job on an image dataset: a fixed CNN
 * (conv3x3-BN-ReLU blocks with max pooling, then linear-ReLU-[dropout]-
 * linear), the discrete network of a DARTS genotype
 * (search/darts/darts_net.c) or one fixed arc of an ENAS CNN space
 * (search/enas/enas_micro.c, enas_macro.c; the arc parsed by
 * jobs/enas_final.c) trained with SGD (Nesterov momentum, weight decay,
 * cosine schedule over the whole job), evaluated on the test set every
 * epoch.
 *
 * The one design decision to know: an epoch's order is a fresh shuffle of
 * 0..n-1 drawn from the data rng saved at the start of the epoch, and the
 * loop resumes at any step of it: so a run that stops mid-epoch (shutdown)
 * and is resumed replays the same order, the same op-rng draws and the
 * same sums as one that never stopped, and ends with identical bits.
 */
#include "image_net.h"
#include "search/enas/enas_micro.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct run {
    nas__job *j;
    nas_dataset *train, *test;
    nas_params *p;
    nas_graph *g;
    nas__image_net net;
    nas_rng op_rng, data_rng;
    nas_sgd sgd;
    nas_augment aug;
    int *order;
    int32_t *y;
    int64_t spe, total; /* steps per epoch, over the job */
    nas__job_pos pos;
    double test_acc;
    int test_fresh;    /* test_acc is of the current weights */
    double t0, images; /* the epoch's start and images trained on */
} run;

/* The eval forward of a model file (jobs/model.c: the ONNX export runs
 * it on a graph with an exporter). ENAS micro runs every op on that graph
 * (its recomputation keeps its ops on a graph of its own; same numbers). */
static nas_tensor *model_forward(void *ctx, nas_graph *g, nas_params *p, nas_tensor *x)
{
    const nas__image_net *n = ctx;
    int micro = n->enas && strcmp(n->enas->name, "enas-micro") == 0;
    if (micro)
        nas__enas_micro_recompute(n->enas_self, 0);
    nas_tensor *y = nas__image_net_forward(g, p, n, x, 0);
    if (micro)
        nas__enas_micro_recompute(n->enas_self, 1);
    return y;
}

/* Accuracy over the whole test set, eval mode, in batches of
 * nas__eval_batch (internal.h). */
static double evaluate(run *r)
{
    int idx[NAS__EVAL_BATCH];
    int32_t y[NAS__EVAL_BATCH];
    const int bs = nas__eval_batch(r->j->spec.batch_size);
    const nas_dataset *t = r->test;
    long correct = 0;
    nas_graph_set_training(r->g, 0);
    nas_graph_set_grad(r->g, 0);
    for (int s = 0; s < t->n; s += bs) {
        int n = t->n - s < bs ? t->n - s : bs;
        for (int i = 0; i < n; i++)
            idx[i] = s + i;
        nas_graph_reset(r->g);
        nas_tensor *x = nas_tensor_new4(r->g, n, t->c, t->h, t->w);
        nas_dataset_batch(t, idx, n, NULL, NULL, x->data, y);
        nas_tensor *logits = nas__image_net_forward(r->g, r->p, &r->net, x, 0);
        for (int i = 0; i < n; i++)
            correct +=
                nas__argmax(logits->data + (size_t)i * r->net.classes, r->net.classes) == y[i];
    }
    nas_graph_reset(r->g);
    nas_graph_set_training(r->g, 1);
    nas_graph_set_grad(r->g, 1);
    r->test_fresh = 1;
    return t->n ? (double)correct / t->n : 0.0;
}

/* --------------------------------------------------------------- setup */

static int setup(run *r)
{
    const nas_job_spec *s = &r->j->spec;
    int rc = nas__job_load_images(r->j, &r->train, &r->test);
    if (rc < 0)
        return rc;
    /* max_examples: the first this many images, as nas-rl's children take
     * them (the normalisation stays that of the whole set). */
    if (s->max_examples > 0 && s->max_examples < r->train->n)
        r->train->n = s->max_examples;
    r->spe = r->train->n / s->batch_size; /* the last partial batch is dropped */
    if (r->spe < 1)
        return nas_fail(NAS_EINVAL,
                        "batch_size: %d is larger than the %d "
                        "training images",
                        s->batch_size, r->train->n);
    r->total = r->spe * s->epochs;
    r->p = nas_params_new();
    r->g = nas_graph_new(0);
    r->order = malloc((size_t)r->train->n * sizeof(int));
    r->y = malloc((size_t)s->batch_size * sizeof(int32_t));
    if (!r->p || !r->g || !r->order || !r->y)
        return nas_fail(NAS_ENOMEM, "train: out of memory");
    if ((rc = nas__image_net_declare(r->p, s, r->j->desc, &r->net)) < 0)
        return rc;
    nas_rng init;
    nas_rng_seed(&init, s->seed);
    if ((rc = nas_params_alloc(r->p, &init)) < 0)
        return rc;
    nas_rng_seed(&r->op_rng, s->seed ^ 0x6f70732d726e6731ull);
    nas_rng_seed(&r->pos.data_rng, s->seed ^ 0x646174612d726e67ull);
    nas_graph_set_rng(r->g, &r->op_rng);
    r->pos.epoch = 1;
    r->aug = nas__job_augment(s, r->j->desc);
    if (s->arch == NAS_ARCH_DARTS_CNN && s->cutout)
        r->aug.cutout = r->train->h / 2; /* train.py's 16 on 32x32 */
    r->sgd = (nas_sgd){.lr = s->lr,
                       .momentum = s->momentum,
                       .weight_decay = s->weight_decay,
                       .nesterov = s->nesterov};
    int resumed;
    if ((rc = nas__job_resume(r->j, r->p, &r->op_rng, r->spe, &r->pos, &resumed)) < 0)
        return rc;
    r->sgd.steps = r->pos.sgd_steps;
    return NAS_OK;
}

static void teardown(run *r)
{
    nas__image_net_free(&r->net);
    free(r->order);
    free(r->y);
    nas_graph_free(r->g);
    nas_params_free(r->p);
    nas_dataset_free(r->train);
    nas_dataset_free(r->test);
}

/* ---------------------------------------------------------------- loop */

static void train_step(run *r)
{
    const nas_job_spec *s = &r->j->spec;
    int bs = s->batch_size, k = r->net.classes;
    const nas_dataset *d = r->train;
    nas_graph_reset(r->g);
    nas_tensor *x = nas_tensor_new4(r->g, bs, d->c, d->h, d->w);
    const nas_augment *aug = s->augment || r->aug.cutout ? &r->aug : NULL;
    nas_dataset_batch(d, r->order + r->pos.step * bs, bs, aug, &r->op_rng, x->data, r->y);
    nas_tensor *logits, *loss, *aux = NULL;
    if (r->net.darts) {
        /* train.py: drop_path_prob * epoch / epochs with a 0-based epoch;
         * the auxiliary head's loss weighted into the objective, the
         * reported train_loss the main head's. */
        float dp = s->drop_path * (float)(r->pos.epoch - 1) / (float)s->epochs;
        logits = nas__darts_fixed_forward_train(r->g, r->p, r->net.darts, x, dp, &aux);
    } else {
        if (r->net.enas && strcmp(r->net.enas->name, "enas-micro") == 0)
            nas__enas_micro_drop_path(r->net.enas_self, s->drop_path, r->sgd.steps, r->total);
        logits = nas__image_net_forward(r->g, r->p, &r->net, x, 1);
        if (r->net.enas && r->net.enas->aux_logits) /* enas-micro's head */
            aux = r->net.enas->aux_logits(r->net.enas_self);
    }
    loss = nas_cross_entropy(r->g, logits, r->y);
    nas_tensor *objective = loss;
    if (aux)
        objective =
            nas_add(r->g, loss, nas_scale(r->g, nas_cross_entropy(r->g, aux, r->y), s->aux_weight));
    nas_params_zero_grad(r->p, NAS_MASK(NAS_GROUP_WEIGHTS));
    nas_graph_backward(r->g, objective, NAS_MASK(NAS_GROUP_WEIGHTS));
    if (s->grad_clip > 0.0f)
        nas_clip_grad_norm(r->p, NAS_GROUP_WEIGHTS, s->grad_clip);
    r->sgd.lr = nas_cosine_lr(s->lr, s->lr_min, r->sgd.steps, r->total);
    nas_sgd_step(&r->sgd, r->p, NAS_GROUP_WEIGHTS);
    r->pos.loss_sum += loss->data[0];
    for (int i = 0; i < bs; i++)
        r->pos.correct += nas__argmax(logits->data + (size_t)i * k, k) == r->y[i];
    r->pos.seen += bs;
    r->pos.step++;
    r->pos.global_step++;
    r->pos.sgd_steps = r->sgd.steps;
    r->test_fresh = 0;
}

/* Reports the epoch (whole or cut short by the budget) and moves the
 * position to the start of the next one. */
static void end_epoch(run *r, double seconds, double images)
{
    nas__job *j = r->j;
    nas__job_pos *pos = &r->pos;
    int e = pos->epoch;
    r->test_acc = evaluate(r);
    pos->last_loss = pos->step ? pos->loss_sum / (double)pos->step : 0.0;
    pos->last_acc = pos->seen > 0 ? pos->correct / pos->seen : 0.0;
    nas__job_metric(j, e, pos->global_step, "train_loss", pos->last_loss);
    nas__job_metric(j, e, pos->global_step, "train_accuracy", pos->last_acc);
    nas__job_metric(j, e, pos->global_step, "test_accuracy", r->test_acc);
    nas__job_metric(j, e, pos->global_step, "lr", r->sgd.lr);
    if (seconds > 0)
        nas__job_metric(j, e, pos->global_step, "images_per_second", images / seconds);
    nas__job_log(j,
                 "epoch %d/%d: train loss %.4f, train accuracy %.4f, "
                 "test accuracy %.4f",
                 e, j->spec.epochs, pos->last_loss, pos->last_acc, r->test_acc);
    nas__job_next_epoch(pos);
    pos->data_rng = r->data_rng;
}

static void epoch_step(void *ctx)
{
    run *r = ctx;
    train_step(r);
    r->images += r->j->spec.batch_size;
}

static int epoch_end(void *ctx)
{
    run *r = ctx;
    end_epoch(r, nas__now() - r->t0, r->images);
    return NAS_OK;
}

/* One epoch from pos.step. Returns NAS_OK at its end, NAS__STOP_TIME, or
 * NAS_ECANCELLED (after the shutdown checkpoint). */
static int run_epoch(void *ctx)
{
    run *r = ctx;
    nas__job *j = r->j;
    nas__job_pos *pos = &r->pos;
    r->data_rng = pos->data_rng;
    for (int i = 0; i < r->train->n; i++)
        r->order[i] = i;
    nas_rng_shuffle(&r->data_rng, r->order, r->train->n);
    r->t0 = nas__now();
    r->images = 0;
    return nas__job_run_epoch(j, r->p, &r->op_rng, pos, r->spe, r->total, epoch_step, epoch_end, r);
}

static int report_result(run *r, int stopped_by_time)
{
    nas__job *j = r->j;
    const nas_job_spec *s = &j->spec;
    nas_json_buf arch = {0}, res = {0}, met = {0};
    if (r->net.enas) {
        nas__json_buf_puts(&arch, "{\"space\":");
        nas__json_buf_str(&arch, r->net.enas->name, "");
        nas__json_buf_puts(&arch, ",\"arc\":");
        r->net.enas->arc_json(r->net.enas_self, r->net.arc, &arch);
        nas__json_buf_puts(&arch, ",\"fixed_arc\":");
        nas__json_buf_str(&arch, s->genotype, "");
        nas__json_num(&arch, 0, "C", s->C);
        nas__json_num(&arch, 0, "layers", s->layers);
        if (strcmp(r->net.enas->name, "enas-micro") == 0)
            nas__json_num(&arch, 0, "nodes", s->nodes);
    } else if (r->net.darts) {
        char *gt = nas__darts_genotype_dump(&s->darts_cnn);
        nas__json_buf_puts(&arch, "{\"space\":\"darts-cnn\",\"genotype\":");
        if (gt)
            nas__json_buf_puts(&arch, gt);
        else
            arch.oom = 1;
        free(gt);
        nas__json_num(&arch, 0, "C", s->C);
        nas__json_num(&arch, 0, "layers", s->layers);
    } else {
        nas__json_buf_puts(&arch, "{\"space\":\"fixed-cnn\",\"channels\":[");
        for (int i = 0; i < s->nblocks; i++) {
            if (i)
                nas__json_buf_put(&arch, ",", 1);
            nas__json_buf_u64(&arch, (uint64_t)s->channels[i]);
        }
        nas__json_buf_puts(&arch, "]");
        nas__json_num(&arch, 0, "hidden", s->hidden);
    }
    nas__json_num(&arch, 0, "dropout", s->dropout);
    nas__json_num(&arch, 0, "classes", r->net.classes);
    nas__json_buf_puts(&arch, "}");

    nas__json_buf_puts(&met, "{");
    nas__json_num(&met, 1, "test_accuracy", r->test_acc);
    nas__json_num(&met, 0, "train_loss", r->pos.last_loss);
    nas__json_num(&met, 0, "train_accuracy", r->pos.last_acc);
    nas__json_buf_puts(&met, "}");

    nas__json_buf_puts(&res, "{\"dataset\":");
    nas__json_buf_str(&res, j->desc->name, "");
    nas__json_num(&res, 0, "test_accuracy", r->test_acc);
    nas__json_num(&res, 0, "train_loss", r->pos.last_loss);
    nas__json_num(&res, 0, "train_accuracy", r->pos.last_acc);
    nas__job_json_steps(&res, &r->pos, r->spe);
    if (r->net.enas) { /* only the weights the arc uses */
        nas__json_num(&res, 0, "parameters",
                      (double)r->net.enas->arc_params(r->net.enas_self, r->p, r->net.arc));
        nas__json_buf_puts(&res, stopped_by_time ? ",\"stopped_by\":\"max_seconds\""
                                                 : ",\"stopped_by\":\"epochs\"");
    } else {
        nas__job_json_stop(&res, r->p, stopped_by_time);
    }
    nas__json_num(&res, 0, "seconds", nas__job_elapsed(j));
    nas__json_buf_puts(&res, "}");

    if (!arch.oom) {
        nas__model_info m = {.arch_json = arch.s,
                             .metric = "test_accuracy",
                             .value = r->test_acc,
                             .train = r->train,
                             .forward = model_forward,
                             .forward_ctx = &r->net};
        int rc = nas__job_save_model(j, r->p, &m);
        if (rc < 0) {
            free(arch.s);
            free(res.s);
            free(met.s);
            return rc;
        }
    }
    return nas__job_report(j, &arch, &res, &met, r->test_acc, "test_accuracy", r->test_acc);
}

int nas__train_image(nas__job *j)
{
    run r = {.j = j};
    int rc = setup(&r);
    if (rc < 0)
        goto fail;
    int by_time;
    rc = nas__job_epochs(j, &r.pos, run_epoch, &r, &by_time);
    if (rc < 0)
        goto fail;
    /* Evaluation is deterministic: a run resumed after its last epoch, or
     * stopped by the budget before training anything, redoes it. */
    if (!r.test_fresh)
        r.test_acc = evaluate(&r);
    rc = report_result(&r, by_time);
fail:
    teardown(&r);
    return rc;
}
