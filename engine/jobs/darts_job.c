// SPDX-License-Identifier: MIT
/*
 * darts_job.c - the `darts` job kind over the darts-cnn search space (the
 * darts-rnn space has its own file, darts_rnn_job.c, entered from here): the
 * training set split in two by a seeded shuffle (train_portion of it for
 * the weights w, the rest - "val" - for alpha), `epochs` epochs of search
 * steps (darts_search.c) with the weight lr cosine-annealed per epoch like
 * the reference's CosineAnnealingLR (stepped before each epoch, so the
 * first epoch is already one step down and the last runs at lr_min), a
 * fresh random alpha batch each step, and per epoch the metrics, the
 * softmax of alpha and the derived genotype as an architecture row.
 *
 * The one design decision to know: a search step is a pure function of
 * the store (weights, alphas, BN statistics, the SGD momentum buffers and
 * the Adam moments), the two optimizers' step counts and the two batches,
 * and the batches are a pure function of the position (the epoch's data
 * rng, from which the w half is reshuffled at the start of the epoch, the
 * step inside it, and the global step that seeds the alpha batch). So the train kind's checkpoint
 * of the position (jobs.h) plus the Adam step count is all an exact resume needs; the epoch-end
 * evaluation runs in eval mode over the whole val half in split order and is deterministic, so it
 * is simply redone when needed. The val metrics are measured on the same half that trains alpha, as
 * in the reference's infer(valid_queue): a search has no held-out data of its own and never touches
 * the test set.
 *
 * On a data-parallel group (j->dist) every rank draws and augments the
 * whole global batch (so the rngs stay in step with one process's) and
 * trains on its slice of it; the search step sums the gradients and the
 * graph synchronises batch norm, so the ranks hold the same store.
 */
#include "jobs/jobs.h"
#include "search/darts/darts.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------ spec and text */

/* What the spec table (engine/jobs/spec_table.c, applied first by
 * nas_job_spec_defaults) does not hold: the final training's network. */
void nas__darts_job_defaults(nas_job_spec *s)
{
    if (s->search_space && strcmp(s->search_space, "darts-rnn") == 0) {
        nas__darts_rnn_job_defaults(s);
        return;
    }
    SET0(s->final_C, 16);
    SET0(s->final_layers, 8);
    /* quark0/darts train_search.py crops and flips both halves on
     * CIFAR-10; elsewhere off, as the train kind's default. */
    SET0(s->augment, strcmp(s->dataset, "cifar10") == 0);
    /* The final training's regularizers: train.py as the paper runs it
     * (the spec table's final_training rows). */
    SET0(s->cutout, 1);
    SET0(s->drop_path, 0.2f);
    SET0(s->aux_weight, 0.4f);
}

/* A darts-cnn network of C channels and `layers` cells on dataset d. */
static nas_darts_cfg cfg_on(int C, int layers, const nas_dataset_desc *d)
{
    return (nas_darts_cfg){
        .C = C, .layers = layers, .in_c = d->c, .h = d->h, .w = d->w, .classes = d->classes};
}

int nas__darts_job_prepare(nas__job *j)
{
    nas_job_spec *s = &j->spec;
    const char *space = s->search_space ? s->search_space : "darts-cnn";
    if (strcmp(space, "darts-rnn") == 0)
        return nas__darts_rnn_job_prepare(j);
    if (strcmp(space, "darts-cnn") != 0)
        return BAD("search_space",
                   "unknown \"%s\" for darts (known: "
                   "darts-cnn, darts-rnn)",
                   space);
    s->search_space = "darts-cnn";
    if (strcmp(j->desc->kind, "image") != 0)
        return BAD("dataset", "darts-cnn needs an image dataset, %s is %s", j->desc->name,
                   j->desc->kind);
    if (s->arch != NAS_ARCH_DEFAULT)
        return BAD("arch", "does not apply to darts (it searches for one)");
    if (s->dropout != 0.0f || s->nesterov)
        return BAD("dropout", "dropout and nesterov do not apply "
                              "to darts-cnn and must be 0");
    /* Their ranges: the spec table's darts-cnn rows. */
    static const char *const keys[] = {"order", "C", "layers", "train_portion", NULL};
    int rc = nas__spec_check(s, nas_spec_space_find("darts", "darts-cnn"), keys);
    if (rc < 0 || (rc = nas__darts_job_check_arch(s)) < 0)
        return rc;
    /* The search network's reductions against the dataset's size (an
     * upload of 30x30 images reduces 15x15 at its second): refused here,
     * at submission, rather than when the run declares the network. */
    nas_darts_cfg sc = cfg_on(s->C, s->layers, j->desc);
    if ((rc = nas__darts_check_cfg(&sc)) < 0)
        return rc;
    if (s->max_examples < 0)
        return BAD("max_examples", "%d must be >= 0 (0: all)", s->max_examples);
    if (s->final_epochs < 0 || s->final_epochs > 100000)
        return BAD("final_epochs", "%d is outside [0, 100000] (0: off)", s->final_epochs);
    if (s->final_epochs > 0) {
        if (s->final_C < 1 || s->final_C > 1024)
            return BAD("final_C", "%d is outside [1, 1024]", s->final_C);
        if (s->final_layers < 1 || s->final_layers > 64)
            return BAD("final_layers", "%d is outside [1, 64]", s->final_layers);
        nas_darts_cfg fc = cfg_on(s->final_C, s->final_layers, j->desc);
        rc = nas__darts_check_cfg(&fc);
        if (rc < 0) {
            char msg[300];
            snprintf(msg, sizeof(msg), "%s", nas_errmsg());
            return nas_fail(rc, "final_%s", msg);
        }
    }
    /* Only the fields that change the numbers (see job.c); floats as
     * %.9g tell any two floats apart. */
    snprintf(j->spec_text, sizeof(j->spec_text),
             "kind=darts space=darts-cnn dataset=%s C=%d layers=%d order=%d "
             "epochs=%d seed=%" PRIu64 " batch_size=%d max_examples=%d "
             "train_portion=%.9g lr=%.9g lr_min=%.9g momentum=%.9g "
             "weight_decay=%.9g grad_clip=%.9g arch_lr=%.9g arch_beta1=%.9g "
             "arch_beta2=%.9g arch_weight_decay=%.9g augment=%d arch_lr_steps=%d",
             j->desc->name, s->C, s->layers, s->order, s->epochs, s->seed, s->batch_size,
             s->max_examples, (double)s->train_portion, (double)s->lr, (double)s->lr_min,
             (double)s->momentum, (double)s->weight_decay, (double)s->grad_clip, (double)s->arch_lr,
             (double)s->arch_beta1, (double)s->arch_beta2, (double)s->arch_weight_decay, s->augment,
             s->arch_lr_steps);
    return NAS_OK;
}

/* ----------------------------------------------------------------- run */

typedef struct run {
    nas__job *j;
    nas_dataset *data; /* the dataset's training set */
    int *tr, *va;      /* the seeded split: w half, alpha half */
    int ntr, nva;
    int *tr_order;  /* this epoch's shuffle of tr */
    int *vb;        /* the step's alpha batch (indices) */
    float *xt, *xv; /* one batch of each half */
    int32_t *yt, *yv;
    nas_params *p;
    nas_graph *g;
    nas__darts_net *net;
    nas_darts_cfg cfg;
    nas__darts_search s;
    int searching;      /* s is initialised */
    nas_augment aug;    /* of both halves' batches (spec augment) */
    nas_rng op_rng;     /* the augmentation's draws */
    nas_rng data_rng;   /* the epoch's data rng, after the shuffles */
    int64_t spe, total; /* steps per epoch, over the job */
    nas__job_pos pos;
    float lr; /* the weight lr of the epoch in progress */
    double val_loss, val_acc;
    int val_fresh; /* val_* are of the current weights */
    int val_n;     /* examples val_* were measured on */
} run;

/* The first max_examples (0: all) of a seeded permutation of the
 * training set, train_portion of them (rounded down, like the
 * reference's split) for w and the rest for alpha. */
static int split(run *r)
{
    const nas_job_spec *s = &r->j->spec;
    int n = r->data->n;
    int use = s->max_examples > 0 && s->max_examples < n ? s->max_examples : n;
    int *perm = malloc((size_t)n * sizeof(int));
    if (!perm)
        return nas_fail(NAS_ENOMEM, "darts: out of memory");
    for (int i = 0; i < n; i++)
        perm[i] = i;
    nas_rng rng;
    nas_rng_seed(&rng, s->seed ^ 0x73706c69742d726eull);
    nas_rng_shuffle(&rng, perm, n);
    r->ntr = (int)floor((double)s->train_portion * use);
    r->nva = use - r->ntr;
    r->tr = perm;
    r->va = perm + r->ntr;
    if (r->ntr < s->batch_size || r->nva < s->batch_size)
        return nas_fail(NAS_EINVAL,
                        "batch_size: %d is larger than a half "
                        "of the split (%d examples for w, %d for alpha; "
                        "train_portion %g of %d)",
                        s->batch_size, r->ntr, r->nva, (double)s->train_portion, use);
    return NAS_OK;
}

static int setup(void *ctx)
{
    run *r = ctx;
    nas__job *j = r->j;
    const nas_job_spec *s = &j->spec;
    nas_dataset *test = NULL;
    int rc = nas__job_load_images(j, &r->data, &test);
    nas_dataset_free(test); /* a search never looks at it */
    if (rc < 0)
        return rc;
    if ((rc = split(r)) < 0)
        return rc;
    r->aug = nas__job_augment(s, j->desc);
    r->spe = r->ntr / s->batch_size; /* the last partial batch is dropped */
    r->total = r->spe * s->epochs;
    if (s->final_epochs > 0) { /* the final training, on the whole set */
        j->after_epochs = s->final_epochs;
        j->after_max_seconds = s->final_max_seconds;
        j->after_steps = (int64_t)(r->data->n / s->batch_size) * s->final_epochs;
    }
    const nas_dataset *d = r->data;
    size_t img = (size_t)d->c * d->h * d->w, bs = (size_t)s->batch_size;
    r->tr_order = malloc((size_t)r->ntr * sizeof(int));
    r->vb = malloc(bs * sizeof(int));
    r->xt = malloc(bs * img * sizeof(float));
    r->xv = malloc(bs * img * sizeof(float));
    r->yt = malloc(bs * sizeof(int32_t));
    r->yv = malloc(bs * sizeof(int32_t));
    r->p = nas_params_new();
    r->g = nas_graph_new(0);
    if (!r->tr_order || !r->vb || !r->xt || !r->xv || !r->yt || !r->yv || !r->p || !r->g)
        return nas_fail(NAS_ENOMEM, "darts: out of memory");
    r->cfg = (nas_darts_cfg){
        .C = s->C, .layers = s->layers, .in_c = d->c, .h = d->h, .w = d->w, .classes = d->classes};
    if ((rc = nas__darts_declare(r->p, &r->cfg, &r->net)) < 0)
        return rc;
    /* recompute "auto" takes what the memory estimate chose. */
    nas_job_memory mem;
    int recompute = nas_job_estimate_memory_parts(s, &mem) < 0 || mem.recompute != 0;
    if (j->dist && j->dist->size > 1) {
        /* Every rank the same form (the recompute runs the edges' BN sums
         * again): keep the ops only when every rank can. */
        double keep = !recompute;
        j->dist->sum_f64(j->dist->ctx, &keep, 1);
        recompute = keep < j->dist->size;
    }
    nas__darts_recompute(r->net, recompute);
    nas__job_log(j, "mixed edges %s (recompute %s; estimated peak %zu MiB, limit %zu MiB)",
                 recompute ? "recompute their ops in backward" : "keep their ops",
                 s->recompute == NAS_RECOMPUTE_ALWAYS  ? "always"
                 : s->recompute == NAS_RECOMPUTE_NEVER ? "never"
                                                       : "auto",
                 mem.total >> 20, nas_job_memory_limit(s) >> 20);
    nas_rng init;
    nas_rng_seed(&init, s->seed);
    if ((rc = nas_params_alloc(r->p, &init)) < 0)
        return rc;
    nas_darts_hp hp;
    nas__darts_job_hp(s, r->total, &hp);
    if (s->arch_lr_steps > 0)
        nas__job_log(j, "arch_lr %g scaled to %g: %d steps' worth over %" PRId64 " steps",
                     (double)s->arch_lr, (double)hp.arch_lr, s->arch_lr_steps, r->total);
    if ((rc = nas__darts_search_init(&r->s, r->p, r->g, r->net, &r->cfg, &hp)) < 0)
        return rc;
    r->searching = 1;
    nas_graph_set_dist(r->g, j->dist);
    if (j->dist && s->batch_size < j->dist->size)
        return BAD("batch_size", "%d is smaller than the %d ranks", s->batch_size, j->dist->size);
    if ((rc = nas__darts_job_resume(j, r->p, &r->op_rng, r->spe, &r->pos)) < 0)
        return rc;
    r->s.sgd.steps = r->pos.sgd_steps;
    r->s.adam.steps = r->pos.adam_steps;
    return NAS_OK;
}

static void teardown(void *ctx)
{
    run *r = ctx;
    if (r->searching)
        nas__darts_search_free(&r->s);
    nas__darts_net_free(r->net);
    nas_graph_free(r->g);
    nas_params_free(r->p);
    free(r->tr); /* the whole permutation; va points into it */
    free(r->tr_order);
    free(r->vb);
    free(r->xt);
    free(r->xv);
    free(r->yt);
    free(r->yv);
    nas_dataset_free(r->data);
}

static const float *alpha_of(run *r, int reduce)
{
    return nas_params_get(r->p, nas__darts_alpha(r->net, reduce))->data;
}

/* ---------------------------------------------------------- evaluation */

/* Loss and accuracy of the supernet over the val half in split order,
 * eval mode (BN running statistics), in batches of batch_size so that it
 * needs no more memory than a step: the whole half, or only its first
 * batch when the budget's max_seconds has run out (`cut`), so that a
 * search stops within about one step's time of its budget. The loss is
 * summed in double from the logits. */
static void evaluate(run *r, int cut)
{
    const nas_dataset *d = r->data;
    int bs = r->j->spec.batch_size, k = r->cfg.classes;
    double loss = 0.0;
    long correct = 0;
    nas_graph_set_training(r->g, 0);
    nas_graph_set_grad(r->g, 0);
    int end = cut && bs < r->nva ? bs : r->nva;
    for (int s = 0; s < end; s += bs) {
        int n = end - s < bs ? end - s : bs;
        nas_graph_reset(r->g);
        nas_tensor *x = nas_tensor_new4(r->g, n, d->c, d->h, d->w);
        nas_dataset_batch(d, r->va + s, n, NULL, NULL, x->data, r->yv);
        nas_tensor *logits = nas__darts_forward(r->g, r->p, r->net, x, 0);
        for (int i = 0; i < n; i++) {
            const float *row = logits->data + (size_t)i * k;
            int best = nas__argmax(row, k);
            double z = 0.0;
            for (int c = 0; c < k; c++)
                z += exp((double)row[c] - row[best]);
            loss += log(z) + row[best] - row[r->yv[i]];
            correct += best == r->yv[i];
        }
    }
    nas_graph_reset(r->g);
    nas_graph_set_training(r->g, 1);
    nas_graph_set_grad(r->g, 1);
    r->val_loss = loss / end;
    r->val_acc = (double)correct / end;
    r->val_n = end;
    r->val_fresh = 1;
}

/* ---------------------------------------------------------------- loop */

/* The epoch's order of the w half from its data rng. */
static void shuffle_halves(run *r)
{
    r->data_rng = r->pos.data_rng;
    memcpy(r->tr_order, r->tr, (size_t)r->ntr * sizeof(int));
    nas_rng_shuffle(&r->data_rng, r->tr_order, r->ntr);
}

/* The alpha batch of the job's global step g: bs distinct examples of the
 * alpha half drawn afresh, as the reference's next(iter(search_queue))
 * draws a new random batch every step. Its rng is seeded by (seed, g), so
 * the batch is a function of the position and a resume redraws it. */
static void alpha_batch(run *r, int64_t g, int bs)
{
    nas_rng vr;
    nas_rng_seed(&vr,
                 r->j->spec.seed ^ 0x616c7068612d6274ull ^ ((uint64_t)g * 0x9e3779b97f4a7c15ull));
    for (int i = 0; i < bs; i++) {
        int k, dup;
        do {
            k = r->va[nas_rng_below(&vr, (uint32_t)r->nva)];
            dup = 0;
            for (int q = 0; q < i && !dup; q++)
                dup = r->vb[q] == k;
        } while (dup);
        r->vb[i] = k;
    }
}

/* Step k of an epoch takes the k-th batch of the w half and a fresh
 * random batch of the alpha half, both augmented (when augment is on) as
 * the reference's train_search.py does: its two queues share the
 * training transform. The crops and flips draw from the op rng, the w
 * batch's first, so the checkpointed op rng makes a resume exact. */
static void search_step(void *ctx)
{
    run *r = ctx;
    const nas_job_spec *s = &r->j->spec;
    const nas_dataset *d = r->data;
    int bs = s->batch_size;
    int64_t k = r->pos.step;
    const nas_augment *aug = s->augment ? &r->aug : NULL;
    nas_dataset_batch(d, r->tr_order + k * bs, bs, aug, &r->op_rng, r->xt, r->yt);
    alpha_batch(r, r->pos.global_step, bs);
    nas_dataset_batch(d, r->vb, bs, aug, &r->op_rng, r->xv, r->yv);
    /* This rank's slice of both batches (all of them on one process). */
    int lo = 0, hi = bs;
    const nas_dist *dist = r->j->dist;
    if (dist) {
        lo = (int)((int64_t)bs * dist->rank / dist->size);
        hi = (int)((int64_t)bs * (dist->rank + 1) / dist->size);
    }
    size_t img = (size_t)d->c * d->h * d->w;
    nas_darts_batch bt = {r->xt + lo * img, r->yt + lo, hi - lo};
    nas_darts_batch bv = {r->xv + lo * img, r->yv + lo, hi - lo};
    r->s.global_batch = dist ? bs : 0;
    nas_darts_stats st;
    nas__darts_step(&r->s, &bt, &bv, r->lr, &st);
    r->pos.loss_sum += st.train_loss;
    r->pos.correct += st.train_correct;
    r->pos.seen += bs;
    r->pos.step++;
    r->pos.global_step++;
    r->pos.sgd_steps = r->s.sgd.steps;
    r->pos.adam_steps = r->s.adam.steps;
    r->val_fresh = 0;
}

/* {"epoch":e,"step":..,"train_loss":..,...,"alpha":{"ops":[..],
 * "normal":[[..] x 14],"reduce":[..]}}: malloc'd, NULL when out of
 * memory. */
static char *epoch_metrics(run *r, int epoch)
{
    return nas__darts_job_epoch_json(nas__darts_alpha_json(alpha_of(r, 0), alpha_of(r, 1)), epoch,
                                     &r->pos, "train_accuracy", "val_accuracy", r->val_loss,
                                     r->val_acc, r->lr);
}

/* The genotype of the current alphas as JSON and as Genotype(...) text
 * (either out-pointer may be NULL; malloc'd) and typed (gt may be NULL). */
static int genotype(run *r, char **json, char **text, nas_darts_genotype *gt)
{
    nas_darts_gene gn, gr;
    nas__darts_derive(alpha_of(r, 0), &gn);
    nas__darts_derive(alpha_of(r, 1), &gr);
    if (gt)
        nas__darts_genotype_of(&gn, &gr, gt);
    if (json && !(*json = nas__darts_genotype_json(&gn, &gr)))
        return NAS_ENOMEM;
    if (text && !(*text = nas__darts_genotype_text(&gn, &gr)))
        return NAS_ENOMEM;
    return NAS_OK;
}

/* Reports the epoch (whole or cut short by the budget) and moves the
 * position to the start of the next one. */
static int end_epoch(void *ctx)
{
    run *r = ctx;
    nas__job *j = r->j;
    nas__job_pos *pos = &r->pos;
    int e = pos->epoch;
    evaluate(r, pos->step < r->spe); /* an epoch cut short by max_seconds */
    pos->last_loss = pos->step ? pos->loss_sum / (double)pos->step : 0.0;
    pos->last_acc = pos->seen > 0 ? pos->correct / pos->seen : 0.0;
    nas__job_metric(j, e, pos->global_step, "train_loss", pos->last_loss);
    nas__job_metric(j, e, pos->global_step, "train_accuracy", pos->last_acc);
    nas__job_metric(j, e, pos->global_step, "val_loss", r->val_loss);
    nas__job_metric(j, e, pos->global_step, "val_accuracy", r->val_acc);
    nas__job_metric(j, e, pos->global_step, "lr", r->lr);
    char *arch = NULL, *met = NULL;
    int rc = genotype(r, &arch, NULL, NULL);
    if (rc == NAS_OK && !(met = epoch_metrics(r, e)))
        rc = NAS_ENOMEM;
    if (rc == NAS_OK && j->rep.architecture)
        j->rep.architecture(j->rep.ctx, arch, r->val_acc, met);
    if (rc == NAS_OK)
        nas__job_log(j,
                     "epoch %d/%d: train loss %.4f, train accuracy %.4f, "
                     "val loss %.4f, val accuracy %.4f; %s",
                     e, j->spec.epochs, pos->last_loss, pos->last_acc, r->val_loss, r->val_acc,
                     arch);
    free(arch);
    free(met);
    if (rc < 0)
        return nas_fail(rc, "darts: epoch %d report: out of memory", e);
    nas__job_next_epoch(pos);
    pos->data_rng = r->data_rng;
    return NAS_OK;
}

/* One epoch from pos.step. Returns NAS_OK at its end (after its
 * checkpoint), NAS__STOP_TIME, or a negative error (NAS_ECANCELLED after
 * a cancel or the shutdown checkpoint). */
static int run_epoch(void *ctx)
{
    run *r = ctx;
    nas__job *j = r->j;
    const nas_job_spec *s = &j->spec;
    nas__job_pos *pos = &r->pos;
    shuffle_halves(r);
    /* The reference steps CosineAnnealingLR before its epoch: epoch e
     * (1-based) trains at the schedule's point e, the last at lr_min. */
    r->lr = nas_cosine_lr(s->lr, s->lr_min, pos->epoch, s->epochs);
    return nas__job_run_epoch(j, r->p, &r->op_rng, pos, r->spe, r->total, search_step, end_epoch,
                              r);
}

typedef nas__darts_search_out search_out;

/* Reports the search's result, or - when final training follows - hands
 * it over in *out instead (out->arch set). */
static int report_result(run *r, int stopped_by_time, search_out *out)
{
    nas__job *j = r->j;
    char *arch = NULL, *text = NULL;
    char *alpha = nas__darts_alpha_json(alpha_of(r, 0), alpha_of(r, 1));
    nas_json_buf res = {0};
    int rc = genotype(r, &arch, &text, &out->darts_cnn);
    if (rc < 0 || !alpha) {
        rc = nas_fail(NAS_ENOMEM, "darts: result: out of memory");
        goto fail;
    }
    nas__darts_job_result_head(&res, "darts-cnn", j, text, alpha, "val_accuracy", r->val_acc,
                               r->val_loss, "train_accuracy", &r->pos);
    nas__json_buf_puts(&res, ",\"val_data\":\"the alpha half of the training "
                             "set; a search does not use the test set\"");
    nas__json_num(&res, 0, "train_examples", r->ntr);
    nas__json_num(&res, 0, "val_examples", r->nva);
    nas__json_num(&res, 0, "val_measured_examples", r->val_n);
    nas__job_log(j, "result: %s, val accuracy %.4f", text, r->val_acc);
    rc = nas__darts_job_deliver(j, "darts", &res, &r->pos, r->spe, r->p, stopped_by_time, &arch,
                                "val_accuracy", r->val_acc, out);
fail:
    free(arch);
    free(text);
    free(alpha);
    free(res.s);
    return rc;
}

/* After the epochs: a run resumed after its last epoch measures the val
 * half again (deterministic), one stopped by the budget before searching
 * anything its first batch; then the result, reported or handed over in
 * out. */
static int finish(void *ctx, int by_time, void *out)
{
    run *r = ctx;
    if (!r->val_fresh)
        evaluate(r, by_time);
    return report_result(r, by_time, out);
}

/* The search: its result reported, or handed over in *out; the
 * supernet's memory goes before the final network's. */
static int search(nas__job *j, search_out *out)
{
    static const nas__job_stages stages = {setup, run_epoch, finish, teardown};
    run r = {.j = j};
    return nas__job_search(j, &r.pos, &stages, &r, out);
}

int nas__darts_job(nas__job *j)
{
    return nas__darts_stages(j, search);
}
