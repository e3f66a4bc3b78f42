// SPDX-License-Identifier: MIT
/*
 * enas_job.c - the `enas` job kind over the CNN search spaces of enas.h
 * (enas-micro, enas-macro; enas-rnn has its own enas_rnn_job.c): ENAS
 * (Pham et al. 2018) as the reference's cifar10 search scripts run it.
 *
 * The training set is split in two by a seeded shuffle (of its first
 * max_examples, when set): train_portion of it (0.9, the reference's
 * 45,000 of CIFAR-10's 50,000) trains the shared weights, the controller's
 * rewards come from the rest ("val", the reference's 5,000). Each epoch
 * is spe_w + controller_steps steps: first one pass over the weights'
 * part, one freshly sampled child per minibatch (SGD, Nesterov momentum,
 * weight decay as the gradient's factor - the reference's l2_reg sum w^2
 * has gradient 2 l2_reg w, so the defaults are twice its l2_reg - a
 * global-norm clip only when grad_clip is set, lr cosine with warm
 * restarts per epoch), then
 * controller_steps controller updates, each over controller_aggregate
 * sampled children whose reward is the accuracy of the child with the
 * shared weights on a val minibatch (REINFORCE with a moving-average
 * baseline, Adam). Every child of the controller phase is an architecture
 * row (reward, epoch, step, fixed-arc string); the training children are
 * not reported. The result samples final_samples children, scores each on
 * the first val batch and keeps the best.
 *
 * The one design decision to know: a weight step and a controller update
 * are both "steps" of the job's position (jobs.h), so the shared epoch
 * loop, its stop checks and its checkpoints serve both phases, and a
 * step is a pure function of the store (weights, SGD moments, controller,
 * Adam moments), the op rng (every child is sampled from it, dropout
 * draws from it), the position (which batch) and the few doubles kept in
 * the checkpoint's metadata (the baseline and the epoch's controller
 * sums). So a resume from any checkpoint continues exactly.
 */
#include "jobs/jobs.h"
#include "search/enas/enas.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const nas_enas_space *find_space(const char *name)
{
    static const nas_enas_space *const spaces[] = {&nas__enas_micro, &nas__enas_macro};
    for (size_t i = 0; i < sizeof(spaces) / sizeof(spaces[0]); i++)
        if (strcmp(spaces[i]->name, name) == 0)
            return spaces[i];
    return NULL;
}

static int is_macro(const nas_job_spec *s)
{
    return s->search_space && strcmp(s->search_space, "enas-macro") == 0;
}

/* ---------------------------------------------------------------- spec */

/* Every default of enas-micro and enas-macro is a row of the spec table
 * (engine/jobs/spec_table.c), applied by nas_job_spec_defaults; the
 * space is the one thing left. */
void nas__enas_job_defaults(nas_job_spec *s)
{
    SET0(s->search_space, "enas-micro");
    /* The reference crops and flips CIFAR-10's training images; elsewhere
     * off, as the train kind's default (enas-rnn has no images). */
    if (strcmp(s->search_space, "enas-rnn") != 0)
        SET0(s->augment, strcmp(s->dataset, "cifar10") == 0);
    /* The final scripts' child_keep_prob (the spec table's final_training
     * dropout, resolved by space). */
    if (strcmp(s->search_space, "enas-micro") == 0)
        SET0(s->final_dropout, 0.2f);
    else if (strcmp(s->search_space, "enas-macro") == 0)
        SET0(s->final_dropout, 0.5f);
}

int nas__enas_check_controller(const nas_job_spec *s)
{
    int rc = nas__ctrl_check_spec(s);
    if (rc < 0)
        return rc;
    /* Their ranges: the spec table's rows of the space. */
    static const char *const keys[] = {"controller_steps", "controller_aggregate", "final_samples",
                                       NULL};
    const nas_spec_space *row = nas_spec_space_find("enas", s->search_space);
    NAS_ASSERT(row && "an enas space of the spec table");
    return nas__spec_check(s, row, keys);
}

/* The CNN spaces' own controller keys. */
static int check_ctrl(const nas_job_spec *s)
{
    int rc = nas__enas_check_controller(s);
    if (rc < 0)
        return rc;
    static const char *const keys[] = {"op_tanh_reduce", "skip_target", "skip_weight",
                                       NULL}; /* the last two: enas-macro */
    return nas__spec_check(s, nas_spec_space_find("enas", s->search_space), keys);
}

/* The shared network's own rules (enas-macro: C even; the layers and
 * nodes the space holds), checked by declaring it into a store that is
 * never allocated: cheap, and the same code the run declares with. */
static int check_space(const nas__job *j)
{
    const nas_job_spec *s = &j->spec;
    const nas_enas_space *sp = find_space(s->search_space);
    nas_enas_cfg cfg = {.C = s->C,
                        .layers = s->layers,
                        .nodes = s->nodes,
                        .in_c = j->desc->c,
                        .h = j->desc->h,
                        .w = j->desc->w,
                        .classes = j->desc->classes,
                        .dropout = s->dropout,
                        .drop_path = s->drop_path,
                        .aux = s->aux_weight > 0.0f};
    nas_params *p = nas_params_new();
    void *self = NULL;
    if (!p)
        return nas_fail(NAS_ENOMEM, "enas: out of memory");
    int rc = sp->declare(p, &cfg, &self);
    if (self)
        sp->free(self);
    nas_params_free(p);
    return rc;
}

int nas__enas_job_prepare(nas__job *j)
{
    nas_job_spec *s = &j->spec;
    const char *name = s->search_space ? s->search_space : "enas-micro";
    if (strcmp(name, "enas-micro") != 0 && strcmp(name, "enas-macro") != 0)
        return BAD("search_space",
                   "unknown \"%s\" for enas (known: "
                   "enas-micro, enas-macro, enas-rnn)",
                   name);
    s->search_space = find_space(name)->name;
    if (strcmp(j->desc->kind, "image") != 0)
        return BAD("dataset", "%s needs an image dataset, %s is %s", name, j->desc->name,
                   j->desc->kind);
    if (s->arch != NAS_ARCH_DEFAULT)
        return BAD("arch", "does not apply to enas (it searches for one)");
    if (is_macro(s) && s->aux_weight != 0.0f)
        return BAD("auxiliary_weight", "enas-macro has no auxiliary head (nor has the "
                                       "reference's); must be 0");
    if (!(s->aux_weight >= 0.0f && s->aux_weight <= 100.0f))
        return BAD("auxiliary_weight", "%g must be in [0, 100]", (double)s->aux_weight);
    if (s->C < 1 || s->C > 1024)
        return BAD("C", "%d is outside [1, 1024]", s->C);
    /* The ranges of these: the spec table's rows of the space (nodes and
     * drop_path: enas-micro). */
    static const char *const keys[] = {"layers", "nodes", "drop_path", "lr_t0", "lr_t_mul", NULL};
    int rc = nas__spec_check(s, nas_spec_space_find("enas", s->search_space), keys);
    if (rc < 0)
        return rc;
    if (s->max_examples < 0)
        return BAD("max_examples", "%d must be >= 0 (0: all)", s->max_examples);
    rc = check_ctrl(s);
    if (rc < 0 || (rc = check_space(j)) < 0)
        return rc;
    /* ---- final training (jobs/enas_final.c): final_epochs, final_C,
     * final_layers */
    if ((rc = nas__enas_final_check(j)) < 0)
        return rc;
    /* ---- end final training */
    /* Only the fields that change the numbers (see job.c); floats as
     * %.9g tell any two floats apart. */
    snprintf(j->spec_text, sizeof(j->spec_text),
             "kind=enas space=%s dataset=%s C=%d layers=%d nodes=%d "
             "epochs=%d seed=%" PRIu64 " batch_size=%d max_examples=%d "
             "lr=%.9g lr_min=%.9g lr_t0=%d lr_t_mul=%d momentum=%.9g "
             "nesterov=%d weight_decay=%.9g grad_clip=%.9g dropout=%.9g "
             "drop_path=%.9g lstm_size=%d lstm_layers=%d controller_lr=%.9g "
             "entropy_weight=%.9g tanh_constant=%.9g temperature=%.9g "
             "baseline_decay=%.9g op_tanh_reduce=%.9g skip_target=%.9g "
             "skip_weight=%.9g controller_steps=%d controller_aggregate=%d "
             "final_samples=%d augment=%d aux_weight=%.9g",
             s->search_space, j->desc->name, s->C, s->layers, is_macro(s) ? 0 : s->nodes, s->epochs,
             s->seed, s->batch_size, s->max_examples, (double)s->lr, (double)s->lr_min, s->lr_t0,
             s->lr_t_mul, (double)s->momentum, s->nesterov, (double)s->weight_decay,
             (double)s->grad_clip, (double)s->dropout, (double)s->drop_path, s->ctrl_hidden,
             s->ctrl_layers, (double)s->ctrl_lr, (double)s->ctrl_entropy_weight,
             (double)s->ctrl_tanh, (double)s->ctrl_temperature, (double)s->ctrl_baseline_decay,
             (double)s->ctrl_op_tanh_reduce, (double)s->ctrl_skip_target,
             (double)s->ctrl_skip_weight, s->ctrl_steps, s->ctrl_aggregate, s->final_samples,
             s->augment, (double)s->aux_weight);
    return NAS_OK;
}

/* The reference's cosine with warm restarts, per epoch (0-based e):
 * periods of lr_t0, lr_t0 lr_t_mul, ... epochs, each from lr to lr_min. */
static float restart_lr(const nas_job_spec *s, int e)
{
    int64_t last = 0, t = s->lr_t0;
    while (e - last >= t) {
        last += t;
        t *= s->lr_t_mul;
    }
    double rate = M_PI * (double)(e - last) / (double)t;
    return (float)(s->lr_min + 0.5 * (s->lr - s->lr_min) * (1.0 + cos(rate)));
}

/* ----------------------------------------------------------------- run */

enum { M_BASELINE, M_HAVE, M_LOSS, M_ENT, M_REWARD, M_N, NMETA_ENAS };
static const char *const meta_keys[NMETA_ENAS] = {
    "enas.baseline",         "enas.have_baseline", "enas.ctrl_loss_sum",
    "enas.ctrl_entropy_sum", "enas.reward_sum",    "enas.children",
};

typedef struct run {
    nas__job *j;
    const nas_enas_space *sp;
    void *self;
    nas_dataset *data;
    int *tr, *va;             /* the seeded split: weights, val */
    int ntr, nva, nvb;        /* nvb: whole val batches */
    int *tr_order, *va_order; /* this epoch's shuffles */
    float *xb;
    int32_t *yb;
    nas_params *p;
    nas_graph *g;  /* the child's steps */
    nas_graph *cg; /* the controller's */
    nas_ctrl *ctrl;
    const nas_ctrl_step *prog;
    int nprog, alen;
    int *arc;
    nas_sgd sgd;
    nas_reinforce rf;
    nas_rng op_rng, data_rng;
    nas_augment aug; /* of the weight steps' batches (spec augment) */
    int64_t spe_w, spe, total;
    nas__job_pos pos;
    float lr;
    /* The epoch's controller phase so far (checkpointed). */
    double c_loss, c_ent, c_reward;
    int64_t c_n;
    char meta_val[NMETA_ENAS][40];
    nas_kv meta[NMETA_ENAS];
} run;

static int split(run *r)
{
    const nas_job_spec *s = &r->j->spec;
    int n = r->data->n;
    int use = s->max_examples > 0 && s->max_examples < n ? s->max_examples : n;
    int *perm = malloc((size_t)n * sizeof(int));
    if (!perm)
        return nas_fail(NAS_ENOMEM, "enas: out of memory");
    for (int i = 0; i < n; i++)
        perm[i] = i;
    nas_rng rng;
    nas_rng_seed(&rng, s->seed ^ 0x656e61732d73706cull);
    nas_rng_shuffle(&rng, perm, n);
    r->tr = perm;
    r->ntr = (int)floor((double)s->train_portion * use);
    r->va = perm + r->ntr;
    r->nva = use - r->ntr;
    r->nvb = r->nva / s->batch_size;
    if (r->ntr < s->batch_size || r->nvb < 1)
        return nas_fail(NAS_EINVAL,
                        "batch_size: %d is larger than a part "
                        "of the split (%d examples for the weights, %d for "
                        "the controller; train_portion %g of %d)",
                        s->batch_size, r->ntr, r->nva, (double)s->train_portion, use);
    return NAS_OK;
}

static void put_double(char *out, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    snprintf(out, 40, "%016" PRIx64, u);
}

/* The checkpoint's extra metadata, kept current after every step. */
static void update_meta(run *r)
{
    put_double(r->meta_val[M_BASELINE], r->rf.baseline);
    snprintf(r->meta_val[M_HAVE], 40, "%d", r->rf.have_baseline);
    put_double(r->meta_val[M_LOSS], r->c_loss);
    put_double(r->meta_val[M_ENT], r->c_ent);
    put_double(r->meta_val[M_REWARD], r->c_reward);
    snprintf(r->meta_val[M_N], 40, "%" PRId64, r->c_n);
}

static int get_meta(run *r, int k, double *d, int64_t *i)
{
    char *v = NULL;
    int rc = nas__ckpt_meta(r->j->spec.checkpoint_path, meta_keys[k], &v);
    if (rc < 0)
        return rc;
    int ok = v != NULL;
    if (ok && d) {
        uint64_t u;
        char *end;
        u = strtoull(v, &end, 16);
        ok = strlen(v) == 16 && *end == '\0';
        memcpy(d, &u, sizeof(*d));
    } else if (ok) {
        char *end;
        long long x = strtoll(v, &end, 10);
        ok = *v && *end == '\0' && x >= 0;
        *i = x;
    }
    free(v);
    return ok ? NAS_OK
              : nas_fail(NAS_EFORMAT, "%s: %s missing or malformed", r->j->spec.checkpoint_path,
                         meta_keys[k]);
}

/* Seeds the rngs, starts at epoch 1 or resumes, and checks the counts:
 * one SGD step per weight step, one Adam step per controller update. */
static int start(run *r)
{
    nas__job *j = r->j;
    const nas_job_spec *s = &j->spec;
    nas_rng_seed(&r->op_rng, s->seed ^ 0x6f70732d726e6731ull);
    nas_rng_seed(&r->pos.data_rng, s->seed ^ 0x646174612d726e67ull);
    r->aug = nas__job_augment(s, j->desc);
    r->pos.epoch = 1;
    int resumed, rc;
    if ((rc = nas__job_resume(j, r->p, &r->op_rng, r->spe, &r->pos, &resumed)) < 0)
        return rc;
    if (resumed) {
        int64_t have = 0, n = 0;
        if ((rc = get_meta(r, M_BASELINE, &r->rf.baseline, NULL)) < 0 ||
            (rc = get_meta(r, M_HAVE, NULL, &have)) < 0 ||
            (rc = get_meta(r, M_LOSS, &r->c_loss, NULL)) < 0 ||
            (rc = get_meta(r, M_ENT, &r->c_ent, NULL)) < 0 ||
            (rc = get_meta(r, M_REWARD, &r->c_reward, NULL)) < 0 ||
            (rc = get_meta(r, M_N, NULL, &n)) < 0)
            return rc;
        r->rf.have_baseline = have != 0;
        r->c_n = n;
    }
    int64_t e = r->pos.epoch - 1, k = r->pos.step;
    int64_t w = e * r->spe_w + (k < r->spe_w ? k : r->spe_w);
    int64_t c = e * s->ctrl_steps + (k > r->spe_w ? k - r->spe_w : 0);
    if (r->pos.sgd_steps != w || r->pos.adam_steps != c)
        return nas_fail(NAS_EFORMAT,
                        "%s: step counts disagree (epoch %d step "
                        "%" PRId64 ": sgd %" PRId64 ", adam %" PRId64 ")",
                        s->checkpoint_path, r->pos.epoch, k, r->pos.sgd_steps, r->pos.adam_steps);
    r->sgd.steps = r->pos.sgd_steps;
    r->rf.adam.steps = r->pos.adam_steps;
    update_meta(r);
    return NAS_OK;
}

static int setup(void *ctx)
{
    run *r = ctx;
    nas__job *j = r->j;
    const nas_job_spec *s = &j->spec;
    nas_dataset *test = NULL;
    r->sp = find_space(s->search_space);
    int rc = nas__job_load_images(j, &r->data, &test);
    nas_dataset_free(test); /* a search never looks at it */
    if (rc < 0)
        return rc;
    if ((rc = split(r)) < 0)
        return rc;
    r->spe_w = r->ntr / s->batch_size; /* the last partial batch is dropped */
    r->spe = r->spe_w + s->ctrl_steps;
    r->total = r->spe * s->epochs;
    const nas_dataset *d = r->data;
    size_t img = (size_t)d->c * d->h * d->w, bs = (size_t)s->batch_size;
    r->tr_order = malloc((size_t)r->ntr * sizeof(int));
    r->va_order = malloc((size_t)r->nva * sizeof(int));
    r->xb = malloc(bs * img * sizeof(float));
    r->yb = malloc(bs * sizeof(int32_t));
    r->p = nas_params_new();
    r->g = nas_graph_new(0);
    r->cg = nas_graph_new(0);
    if (!r->tr_order || !r->va_order || !r->xb || !r->yb || !r->p || !r->g || !r->cg)
        return nas_fail(NAS_ENOMEM, "enas: out of memory");
    nas_enas_cfg cfg = {.C = s->C,
                        .layers = s->layers,
                        .nodes = s->nodes,
                        .in_c = d->c,
                        .h = d->h,
                        .w = d->w,
                        .classes = d->classes,
                        .dropout = s->dropout,
                        .drop_path = s->drop_path,
                        .aux = s->aux_weight > 0.0f};
    if ((rc = r->sp->declare(r->p, &cfg, &r->self)) < 0)
        return rc;
    nas_ctrl_cfg cc = {.hidden = s->ctrl_hidden,
                       .lstm_layers = s->ctrl_layers,
                       .temperature = s->ctrl_temperature,
                       .tanh_c = s->ctrl_tanh,
                       .choice_tanh_reduce = s->ctrl_op_tanh_reduce,
                       .skip_target = s->ctrl_skip_target,
                       .no_lstm_bias = 1}; /* the reference's lstm has none */
    r->prog = r->sp->program(r->self, &r->nprog, &cc);
    if ((rc = nas_ctrl_declare(r->p, "controller", &cc, &r->ctrl)) < 0)
        return rc;
    if ((rc = nas_ctrl_arc_len(r->ctrl, r->prog, r->nprog)) < 0)
        return rc;
    r->alen = rc;
    if (!(r->arc = calloc((size_t)r->alen + 1, sizeof(int))))
        return nas_fail(NAS_ENOMEM, "enas: out of memory");
    nas_rng init;
    nas_rng_seed(&init, s->seed);
    if ((rc = nas_params_alloc(r->p, &init)) < 0)
        return rc;
    r->sgd = (nas_sgd){
        .momentum = s->momentum, .weight_decay = s->weight_decay, .nesterov = s->nesterov};
    r->rf = (nas_reinforce){
        .entropy_weight = s->ctrl_entropy_weight,
        .skip_weight = s->ctrl_skip_weight,
        .baseline_decay = s->ctrl_baseline_decay,
        .adam = {.lr = s->ctrl_lr, .beta1 = 0.0f, .beta2 = 0.999f, .eps = 1e-3f},
    };
    for (int k = 0; k < NMETA_ENAS; k++)
        r->meta[k] = (nas_kv){meta_keys[k], r->meta_val[k]};
    j->extra_meta = r->meta;
    j->nextra = NMETA_ENAS;
    nas_graph_set_rng(r->g, &r->op_rng);
    return start(r);
}

static void teardown(void *ctx)
{
    run *r = ctx;
    r->j->extra_meta = NULL; /* r->meta goes */
    r->j->nextra = 0;
    if (r->self)
        r->sp->free(r->self);
    nas_ctrl_free(r->ctrl);
    nas_graph_free(r->g);
    nas_graph_free(r->cg);
    nas_params_free(r->p);
    free(r->tr); /* the whole permutation; va points into it */
    free(r->tr_order);
    free(r->va_order);
    free(r->xb);
    free(r->yb);
    free(r->arc);
    nas_dataset_free(r->data);
}

/* ---------------------------------------------------------------- steps */

/* Samples a child into r->arc from the op rng; with the controller's
 * graph recording when out is wanted for REINFORCE. */
static int sample(run *r, int record, nas_ctrl_out *out)
{
    nas_ctrl_out tmp;
    nas_graph_reset(r->cg);
    nas_graph_set_grad(r->cg, record);
    return nas_ctrl_run(r->ctrl, r->cg, r->p, r->prog, r->nprog, &r->op_rng, NULL, r->arc,
                        out ? out : &tmp);
}

/* Correct predictions of child r->arc on val batch b (eval mode: no
 * dropout; the spaces' BN uses batch statistics, as the reference's
 * search-mode children do). */
static int score(run *r, const int *order, int b)
{
    const nas_dataset *d = r->data;
    int bs = r->j->spec.batch_size;
    nas_graph_reset(r->g);
    nas_graph_set_training(r->g, 0);
    nas_graph_set_grad(r->g, 0);
    nas_tensor *x = nas_tensor_new4(r->g, bs, d->c, d->h, d->w);
    nas_dataset_batch(d, order + (size_t)b * bs, bs, NULL, NULL, x->data, r->yb);
    nas_tensor *y = r->sp->forward(r->self, r->g, r->p, r->arc, x, 0);
    int correct = 0;
    for (int i = 0; i < bs; i++)
        correct += nas__argmax(y->data + (size_t)i * d->classes, d->classes) == r->yb[i];
    nas_graph_reset(r->g);
    nas_graph_set_training(r->g, 1);
    nas_graph_set_grad(r->g, 1);
    return correct;
}

/* A fresh child, then its batch: the weights' part, cropped and flipped
 * when augment is on as the reference's training images are (its
 * validation images never are), the draws after the child's from the
 * op rng. */
static void weight_step(run *r)
{
    const nas_dataset *d = r->data;
    int bs = r->j->spec.batch_size;
    NAS_ASSERT(sample(r, 0, NULL) == NAS_OK);
    nas_graph_reset(r->g);
    nas_tensor *x = nas_tensor_new4(r->g, bs, d->c, d->h, d->w);
    const nas_augment *aug = r->j->spec.augment ? &r->aug : NULL;
    nas_dataset_batch(d, r->tr_order + r->pos.step * bs, bs, aug, &r->op_rng, x->data, r->yb);
    nas_tensor *y = r->sp->forward(r->self, r->g, r->p, r->arc, x, 1);
    nas_tensor *loss = nas_cross_entropy(r->g, y, r->yb);
    for (int i = 0; i < bs; i++)
        r->pos.correct += nas__argmax(y->data + (size_t)i * d->classes, d->classes) == r->yb[i];
    r->pos.loss_sum += loss->data[0];
    r->pos.seen += bs;
    /* micro_child's train_loss = loss + 0.4 aux_loss (auxiliary_weight);
     * the reported train_loss stays the main head's. */
    nas_tensor *aux = r->sp->aux_logits ? r->sp->aux_logits(r->self) : NULL;
    if (aux)
        loss = nas_add(r->g, loss,
                       nas_scale(r->g, nas_cross_entropy(r->g, aux, r->yb), r->j->spec.aux_weight));
    nas_params_zero_grad(r->p, NAS_MASK(NAS_GROUP_WEIGHTS));
    nas_graph_backward(r->g, loss, NAS_MASK(NAS_GROUP_WEIGHTS));
    if (r->j->spec.grad_clip > 0.0f)
        nas_clip_grad_norm(r->p, NAS_GROUP_WEIGHTS, r->j->spec.grad_clip);
    r->sgd.lr = r->lr;
    nas_sgd_step(&r->sgd, r->p, NAS_GROUP_WEIGHTS);
    nas_graph_reset(r->g);
    r->pos.sgd_steps = r->sgd.steps;
}

/* The architecture row of the child just scored. */
static void report_child(run *r, double reward, int64_t cstep, int k)
{
    nas__job *j = r->j;
    if (!j->rep.architecture)
        return;
    nas_json_buf a = {0}, m = {0}, t = {0};
    r->sp->arc_json(r->self, r->arc, &a);
    r->sp->arc_string(r->self, r->arc, &t);
    nas__json_buf_puts(&m, "{");
    nas__json_num(&m, 1, "epoch", r->pos.epoch);
    nas__json_num(&m, 0, "step", (double)r->pos.global_step + 1);
    nas__json_num(&m, 0, "controller_step", (double)cstep);
    nas__json_num(&m, 0, "child", k);
    nas__json_buf_puts(&m, ",\"fixed_arc\":");
    nas__json_buf_str(&m, t.s ? t.s : "", "");
    nas__json_buf_puts(&m, "}");
    if (!a.oom && !m.oom && !t.oom)
        j->rep.architecture(j->rep.ctx, a.s, reward, m.s);
    free(a.s);
    free(m.s);
    free(t.s);
}

/* One controller update over controller_aggregate children. */
static void controller_step(run *r)
{
    const nas_job_spec *s = &r->j->spec;
    int64_t cstep = r->pos.step - r->spe_w; /* in this epoch */
    int agg = s->ctrl_aggregate, bs = s->batch_size;
    for (int k = 0; k < agg; k++) {
        nas_ctrl_out out;
        NAS_ASSERT(sample(r, 1, &out) == NAS_OK);
        int b = (int)((cstep * agg + k) % r->nvb);
        double reward = (double)score(r, r->va_order, b) / bs;
        nas_reinforce_baseline(&r->rf, reward);
        nas_tensor *loss = nas_reinforce_loss(r->cg, &r->rf, &out, reward, 1.0f / (float)agg);
        r->c_loss += loss->data[0] * agg;
        r->c_ent += out.entropy->data[0];
        r->c_reward += reward;
        r->c_n++;
        nas_graph_backward(r->cg, loss, NAS_MASK(NAS_GROUP_CONTROLLER));
        report_child(r, reward, cstep, k);
    }
    nas_graph_reset(r->cg);
    nas_reinforce_step(&r->rf, r->p);
    r->pos.adam_steps = r->rf.adam.steps;
}

static void step(void *ctx)
{
    run *r = ctx;
    if (r->pos.step < r->spe_w)
        weight_step(r);
    else
        controller_step(r);
    r->pos.step++;
    r->pos.global_step++;
    update_meta(r);
}

/* The epoch's order of both parts from its data rng: weights part
 * first. */
static void shuffle_halves(run *r)
{
    r->data_rng = r->pos.data_rng;
    memcpy(r->tr_order, r->tr, (size_t)r->ntr * sizeof(int));
    memcpy(r->va_order, r->va, (size_t)r->nva * sizeof(int));
    nas_rng_shuffle(&r->data_rng, r->tr_order, r->ntr);
    nas_rng_shuffle(&r->data_rng, r->va_order, r->nva);
}

/* Reports the epoch (whole or cut short by the budget) and moves the
 * position to the start of the next one. */
static int end_epoch(void *ctx)
{
    run *r = ctx;
    nas__job *j = r->j;
    nas__job_pos *pos = &r->pos;
    int e = pos->epoch;
    int64_t ws = pos->step < r->spe_w ? pos->step : r->spe_w;
    pos->last_loss = ws ? pos->loss_sum / (double)ws : 0.0;
    pos->last_acc = pos->seen > 0 ? pos->correct / pos->seen : 0.0;
    int64_t gs = pos->global_step;
    nas__job_metric(j, e, gs, "train_loss", pos->last_loss);
    nas__job_metric(j, e, gs, "train_accuracy", pos->last_acc);
    nas__job_metric(j, e, gs, "lr", r->lr);
    if (r->c_n > 0) {
        double n = (double)r->c_n;
        nas__job_metric(j, e, gs, "val_accuracy", r->c_reward / n);
        nas__job_metric(j, e, gs, "reward", r->c_reward / n);
        nas__job_metric(j, e, gs, "controller_loss", r->c_loss / n);
        nas__job_metric(j, e, gs, "controller_entropy", r->c_ent / n);
        nas__job_metric(j, e, gs, "baseline", r->rf.baseline);
        nas__job_log(j,
                     "epoch %d/%d: train loss %.4f, train accuracy %.4f, "
                     "lr %.5f; %" PRId64 " children: mean reward %.4f, "
                     "entropy %.3f, baseline %.4f",
                     e, j->spec.epochs, pos->last_loss, pos->last_acc, (double)r->lr, r->c_n,
                     r->c_reward / n, r->c_ent / n, r->rf.baseline);
    }
    r->c_loss = r->c_ent = r->c_reward = 0.0;
    r->c_n = 0;
    nas__job_next_epoch(pos);
    pos->data_rng = r->data_rng;
    update_meta(r);
    return NAS_OK;
}

static int run_epoch(void *ctx)
{
    run *r = ctx;
    nas__job *j = r->j;
    shuffle_halves(r);
    r->lr = restart_lr(&j->spec, r->pos.epoch - 1);
    return nas__job_run_epoch(j, r->p, &r->op_rng, &r->pos, r->spe, r->total, step, end_epoch, r);
}

/* -------------------------------------------------------------- result */

/* final_samples children from the controller, each scored on the first
 * val batch (in split order, so every run scores on the same images);
 * the best (the first of equals) into best. */
static void pick(run *r, int *best, double *best_acc, double *mean)
{
    const nas_job_spec *s = &r->j->spec;
    double sum = 0.0;
    *best_acc = -1.0;
    for (int k = 0; k < s->final_samples; k++) {
        NAS_ASSERT(sample(r, 0, NULL) == NAS_OK);
        double acc = (double)score(r, r->va, 0) / s->batch_size;
        sum += acc;
        if (acc > *best_acc) {
            *best_acc = acc;
            memcpy(best, r->arc, (size_t)r->alen * sizeof(int));
        }
    }
    *mean = sum / s->final_samples;
}

static int report_result(run *r, int by_time)
{
    nas__job *j = r->j;
    const nas_job_spec *s = &j->spec;
    int *best = calloc((size_t)r->alen + 1, sizeof(int));
    if (!best)
        return nas_fail(NAS_ENOMEM, "enas: result: out of memory");
    double acc, mean;
    pick(r, best, &acc, &mean);
    nas_json_buf arch = {0}, text = {0}, res = {0};
    r->sp->arc_json(r->self, best, &arch);
    r->sp->arc_string(r->self, best, &text);
    nas__job_json_open(&res, s->search_space, j);
    nas__json_buf_puts(&res, ",\"fixed_arc\":");
    nas__json_buf_str(&res, text.s ? text.s : "", "");
    nas__json_num(&res, 0, "val_accuracy", acc);
    nas__json_num(&res, 0, "final_samples", s->final_samples);
    nas__json_num(&res, 0, "mean_sampled_val_accuracy", mean);
    nas__json_buf_puts(&res, ",\"val_data\":\"one batch of the controller's "
                             "part of the training set; a search does not "
                             "use the test set\"");
    nas__json_num(&res, 0, "train_loss", r->pos.last_loss);
    nas__json_num(&res, 0, "train_accuracy", r->pos.last_acc);
    nas__json_num(&res, 0, "baseline", r->rf.baseline);
    nas__json_num(&res, 0, "train_examples", r->ntr);
    nas__json_num(&res, 0, "val_examples", r->nva);
    nas__json_num(&res, 0, "child_parameters", (double)r->sp->arc_params(r->self, r->p, best));
    nas__job_json_close(&res, j, &r->pos, r->spe, r->p, by_time);
    int rc = NAS_OK;
    if (arch.oom || text.oom || res.oom)
        rc = nas_fail(NAS_ENOMEM, "enas: result: out of memory");
    else {
        nas__job_log(j,
                     "result: %s, val accuracy %.4f (best of %d, mean "
                     "%.4f)",
                     text.s, acc, s->final_samples, mean);
        if (j->rep.result)
            j->rep.result(j->rep.ctx, arch.s, "val_accuracy", acc, res.s);
    }
    free(best);
    free(arch.s);
    free(text.s);
    free(res.s);
    return rc;
}

static int finish(void *ctx, int by_time, void *out)
{
    (void)out; /* the final training captures the result itself */
    return report_result(ctx, by_time);
}

int nas__enas_job(nas__job *j)
{
    static const nas__job_stages stages = {setup, run_epoch, finish, teardown};
    run r = {.j = j};
    return nas__enas_stages(j, &r.pos, &stages, &r);
}
