// SPDX-License-Identifier: MIT
/*
 * nasrl_job.c - the `nas-rl` job kind (Zoph & Le 2017) and the search
 * loop it shares with the `random` kind (random_job.c), over any space
 * that fills a nas__nasrl_space (nasrl-cnn, nasrl-rnn, random's
 * darts-cnn): sample m architectures, train the new ones from scratch
 * concurrently, report each, learn from the rewards (nas-rl: REINFORCE
 * with an exponential moving average baseline), checkpoint, repeat until
 * max_architectures or max_seconds.
 *
 * The one design decision to know: the job's threads are split among the
 * children of an update, never added to them. With T threads and m
 * children, min(m, T) children train at once, each on its own thread with
 * T / min(m, T) engine threads (threads.c runs a second thread's regions
 * serially while the pool is taken, so the cores are never
 * oversubscribed). Each child's numbers depend only on its decisions, the
 * seed and that fixed share: so the reward cache (an architecture already
 * trained in this job is never trained again) gives exactly what
 * retraining would, and a checkpoint after every update (controller and
 * its Adam moments, baseline, cache, sampling rng) resumes exactly. The
 * state is in nasrl_run.h; the final training and the result are in
 * nasrl_result.c.
 */
#include "jobs/nasrl_run.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t nas__nasrl_dec_hash(const int *dec, int n)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; i++) {
        h ^= (uint64_t)(uint32_t)dec[i] + 0x9e37u;
        h *= 1099511628211ull;
    }
    return h;
}

static nas__nasrl_cached *cache_find(nas__nasrl_run *s, const int *dec, int n)
{
    for (int i = 0; i < s->ncache; i++)
        if (s->cache[i].n == n && memcmp(s->cache[i].dec, dec, (size_t)n * sizeof(int)) == 0)
            return &s->cache[i];
    return NULL;
}

static int cache_add(nas__nasrl_run *s, const int *dec, int n, double reward, double val,
                     size_t params)
{
    if (s->ncache == s->capcache) {
        int cap = s->capcache ? 2 * s->capcache : 64;
        nas__nasrl_cached *c = realloc(s->cache, (size_t)cap * sizeof(*c));
        if (!c)
            return nas_fail(NAS_ENOMEM, "nasrl: cache");
        s->cache = c;
        s->capcache = cap;
    }
    nas__nasrl_cached *c = &s->cache[s->ncache];
    c->dec = malloc((size_t)n * sizeof(int));
    if (!c->dec)
        return nas_fail(NAS_ENOMEM, "nasrl: cache");
    memcpy(c->dec, dec, (size_t)n * sizeof(int));
    c->n = n;
    c->reward = reward;
    c->val_metric = val;
    c->parameters = params;
    s->ncache++;
    return NAS_OK;
}

static uint64_t bits(double v)
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

/* "d,d,...:rewardhex:valhex:params;..." */
static int cache_serialize(nas__nasrl_run *s)
{
    nas_json_buf b = {0};
    char t[80];
    for (int i = 0; i < s->ncache; i++) {
        const nas__nasrl_cached *c = &s->cache[i];
        for (int k = 0; k < c->n; k++) {
            snprintf(t, sizeof(t), "%s%d", k ? "," : "", c->dec[k]);
            nas__json_buf_puts(&b, t);
        }
        snprintf(t, sizeof(t), ":%016" PRIx64 ":%016" PRIx64 ":%zu;", bits(c->reward),
                 bits(c->val_metric), c->parameters);
        nas__json_buf_puts(&b, t);
    }
    nas__json_buf_puts(&b, "");
    free(s->cache_text);
    s->cache_text = b.s;
    if (b.oom || !b.s)
        return nas_fail(NAS_ENOMEM, "nasrl: cache text");
    return NAS_OK;
}

static int cache_parse(nas__nasrl_run *s, const char *t)
{
    int dec[NAS_NASRL_MAX_LAYERS * 5 + NAS_NASRL_MAX_LAYERS * NAS_NASRL_MAX_LAYERS / 2];
    const int cap = (int)(sizeof(dec) / sizeof(dec[0]));
    while (*t) {
        int n = 0;
        char *end;
        for (;;) {
            long v = strtol(t, &end, 10);
            if (end == t || n == cap)
                return -1;
            dec[n++] = (int)v;
            t = end;
            if (*t != ',')
                break;
            t++;
        }
        uint64_t r, a;
        size_t params;
        int used = 0;
        if (sscanf(t, ":%16" SCNx64 ":%16" SCNx64 ":%zu;%n", &r, &a, &params, &used) != 3 || !used)
            return -1;
        t += used;
        if (cache_add(s, dec, n, from_bits(r), from_bits(a), params) < 0)
            return -1;
    }
    return 0;
}

/* --------------------------------------------------------- checkpoints */

static int save(nas__nasrl_run *s)
{
    int rc = cache_serialize(s);
    if (rc < 0)
        return rc;
    snprintf(s->meta_val[0], sizeof(s->meta_val[0]), "%016" PRIx64, bits(s->rf.baseline));
    snprintf(s->meta_val[1], sizeof(s->meta_val[1]), "%d", s->rf.have_baseline);
    snprintf(s->meta_val[2], sizeof(s->meta_val[2]), "%d", s->updates);
    s->meta[0] = (nas_kv){"nasrl.baseline", s->meta_val[0]};
    s->meta[1] = (nas_kv){"nasrl.have_baseline", s->meta_val[1]};
    s->meta[2] = (nas_kv){"nasrl.updates", s->meta_val[2]};
    s->meta[3] = (nas_kv){"nasrl.cache", s->cache_text};
    s->j->extra_meta = s->meta;
    s->j->nextra = 4;
    s->pos.step = s->pos.global_step;
    s->pos.adam_steps = s->rf.adam.steps;
    return nas__job_save(s->j, s->p, &s->rng, &s->pos);
}

static int get_meta(const char *path, const char *key, char **out)
{
    int rc = nas__ckpt_meta(path, key, out);
    if (rc == NAS_OK && !*out)
        rc = nas_fail(NAS_EFORMAT, "%s: %s missing", path, key);
    return rc;
}

static int resume(nas__nasrl_run *s)
{
    nas__job *j = s->j;
    int resumed = 0;
    int rc = nas__job_resume(j, s->p, &s->rng, (int64_t)j->spec.max_architectures + 1, &s->pos,
                             &resumed);
    if (rc < 0 || !resumed)
        return rc;
    char *bl = NULL, *hb = NULL, *up = NULL, *ca = NULL;
    const char *path = j->spec.checkpoint_path;
    uint64_t u;
    if ((rc = get_meta(path, "nasrl.baseline", &bl)) < 0 ||
        (rc = get_meta(path, "nasrl.have_baseline", &hb)) < 0 ||
        (rc = get_meta(path, "nasrl.updates", &up)) < 0 ||
        (rc = get_meta(path, "nasrl.cache", &ca)) < 0)
        goto fail;
    if (sscanf(bl, "%16" SCNx64, &u) != 1 || cache_parse(s, ca) < 0) {
        rc = nas_fail(NAS_EFORMAT, "%s: nasrl metadata malformed", path);
        goto fail;
    }
    s->rf.baseline = from_bits(u);
    s->rf.have_baseline = atoi(hb) != 0;
    s->updates = atoi(up);
    s->rf.adam.steps = s->pos.adam_steps;
fail:
    free(bl);
    free(hb);
    free(up);
    free(ca);
    return rc;
}

/* -------------------------------------------------------------- setup */

/* The images of the job: the first max_examples (the IDX and CIFAR files
 * are not in class order); the last tenth is the children's validation
 * set (the reward), they train on the rest. */
static int load_images(nas__nasrl_run *s)
{
    nas__job *j = s->j;
    const nas_job_spec *sp = &j->spec;
    nas_dataset *all = NULL, *test = NULL;
    int rc = nas__job_load_images(j, &all, &test);
    nas_dataset_free(test); /* a search never touches the test set */
    if (rc < 0)
        return rc;
    if (sp->max_examples > 0 && sp->max_examples < all->n)
        all->n = sp->max_examples;
    int nval = all->n / 10 > 0 ? all->n / 10 : 1;
    if (all->n - nval < sp->batch_size) {
        rc = nas_fail(NAS_EINVAL,
                      "batch_size: %d is larger than the %d "
                      "images a child trains on",
                      sp->batch_size, all->n - nval);
        nas_dataset_free(all);
        return rc;
    }
    if ((rc = nas_dataset_slice(all, 0, all->n - nval, &s->data.train)) < 0)
        goto fail;
    rc = nas_dataset_slice(all, all->n - nval, nval, &s->data.val);
fail:
    nas_dataset_free(all);
    return rc;
}

static int setup(nas__nasrl_run *s)
{
    nas__job *j = s->j;
    const nas_job_spec *sp = &j->spec;
    int rc = s->space->text ? nas__job_load_corpus(j, &s->data.corpus) : load_images(s);
    if (rc < 0)
        return rc;
    if (sp->final_epochs > 0 && sp->batch_size > 0) { /* the whole set */
        int64_t per = s->space->text
                          ? s->data.corpus->ntrain / sp->batch_size / (sp->bptt > 0 ? sp->bptt : 1)
                          : (int64_t)j->desc->train_size / sp->batch_size;
        s->final_steps = (per > 0 ? per : 1) * sp->final_epochs;
    }
    s->p = nas_params_new();
    s->g = nas_graph_new(0);
    if (!s->p || !s->g)
        return nas_fail(NAS_ENOMEM, "nasrl: out of memory");
    nas_rng init;
    nas_rng_seed(&init, sp->seed ^ 0x6374726c2d696e69ull);
    nas_rng_seed(&s->rng, sp->seed ^ 0x6374726c2d726e67ull);
    if (s->controller) {
        nas_ctrl_cfg cfg = {
            .hidden = sp->ctrl_hidden,
            .lstm_layers = sp->ctrl_layers,
            .temperature = sp->ctrl_temperature,
            .tanh_c = sp->ctrl_tanh,
            .skip_target = 0.4f,
            .init_range = 0.08f, /* Zoph & Le 2017: U(-0.08, 0.08) */
        };
        nas_ctrl_step *prog = malloc(NAS_NASRL_MAX_LAYERS * 6 * sizeof(*prog));
        if (!prog)
            return nas_fail(NAS_ENOMEM, "nasrl: out of memory");
        s->space->program(sp, 1, prog, &cfg); /* the heads */
        free(prog);
        if ((rc = nas_ctrl_declare(s->p, "ctrl", &cfg, &s->ctrl)) < 0)
            return rc;
        s->rf = (nas_reinforce){
            .entropy_weight = sp->ctrl_entropy_weight,
            .baseline_decay = sp->ctrl_baseline_decay,
            .adam = {.lr = sp->ctrl_lr, .beta1 = 0.0f, .beta2 = 0.999f, .eps = 1e-3f},
        };
    }
    if ((rc = nas_params_alloc(s->p, &init)) < 0)
        return rc;
    s->pos.epoch = 1;
    nas_rng_seed(&s->pos.data_rng, sp->seed | 1); /* unused, kept valid */
    int m = sp->children_per_update, t = sp->threads;
    if (j->dist) /* a rank trains about m / N of them */
        m = (m + j->dist->size - 1) / j->dist->size;
    s->wave = m < t ? m : t;
    s->share = t / s->wave;
    return resume(s);
}

static void teardown(nas__nasrl_run *s)
{
    for (int i = 0; i < s->ncache; i++)
        free(s->cache[i].dec);
    free(s->cache);
    free(s->cache_text);
    nas_ctrl_free(s->ctrl);
    nas_graph_free(s->g);
    nas_params_free(s->p);
    nas_dataset_free(s->data.train);
    nas_dataset_free(s->data.val);
    nas_corpus_free(s->data.corpus);
}

/* --------------------------------------------------------------- loop */

int nas__nasrl_layers_at(const nas_job_spec *s, int done)
{
    if (s->grow_every < 1)
        return s->start_layers; /* a space without growth */
    int64_t l = s->start_layers + (int64_t)s->layers_step * (done / s->grow_every);
    return l < s->max_layers ? (int)l : s->max_layers;
}

/* On a child's thread: this process's flag and clock (on a group, rank
 * 0's clock as of the update's start and its relayed stop; see
 * nasrl_dist.c). */
static int child_should_stop(void *ctx)
{
    nas__nasrl_run *s = ctx;
    return nas__job_check_local(s->j) != NAS_RUN || atomic_load(&s->remote_stop) != 0;
}

static void *child_main(void *arg)
{
    nas__nasrl_child *c = arg;
    const nas__nasrl_run *s = c->s;
    c->rc = s->space->train(&s->j->spec, c->dec, c->n, &c->cfg, &s->data, &c->res);
    if (c->rc < 0) /* the message is thread-local: keep it */
        snprintf(c->err, sizeof(c->err), "%s", nas_errmsg());
    return NULL;
}

/* The children of one batch to train and the next one to hand out: each
 * of the `wave` workers (the calling thread is one of them) takes the
 * next untrained child as soon as it is free, so a short child does not
 * leave its core idle until the longest of its wave ends. A child's
 * numbers depend only on its decisions, the job's seed and its thread
 * share, never on which worker trains it. */
typedef struct queue {
    nas__nasrl_child *ch;
    const int *idx;
    int n;
    _Atomic int next;
    _Atomic int finished; /* workers done */
} queue;

static void *worker_main(void *arg)
{
    queue *q = arg;
    for (int k; (k = atomic_fetch_add(&q->next, 1)) < q->n;)
        child_main(&q->ch[q->idx[k]]);
    atomic_fetch_add(&q->finished, 1);
    return NULL;
}

/* Trains the children marked `train` on up to `wave` threads at once (on
 * a group: this rank's share, then every rank gets every result). */
static int train_children(nas__nasrl_run *s, nas__nasrl_child *ch, int m)
{
    int idx[256], n = 0, mine[256], nmine = 0;
    for (int i = 0; i < m; i++)
        if (ch[i].train) {
            if (nas__nasrl_dist_mine(s, n))
                mine[nmine++] = i;
            idx[n++] = i;
        }
    queue q = {ch, mine, nmine, 0, 0};
    int workers = s->wave < nmine ? s->wave : nmine, dist = s->j->dist != NULL;
    pthread_t th[256];
    int started = 0;
    /* On a group the main thread watches for a stop instead (MPI is
     * its alone) */
    for (int w = dist ? 0 : 1; w < workers; w++) {
        if (pthread_create(&th[started], NULL, worker_main, &q) != 0)
            break; /* fewer threads: the others take more children */
        started++;
    }
    if (!dist || (started == 0 && nmine > 0))
        worker_main(&q);
    if (dist)
        nas__nasrl_dist_watch(s, &q.finished, started);
    nas_set_threads(s->j->spec.threads);
    for (int w = 0; w < started; w++)
        pthread_join(th[w], NULL);
    int rc = s->j->dist ? nas__nasrl_dist_exchange(s, ch, idx, n) : NAS_OK;
    if (rc < 0)
        return rc;
    for (int k = 0; k < n; k++)
        if (ch[idx[k]].rc < 0)
            return nas_fail(ch[idx[k]].rc, "%s", ch[idx[k]].err);
    return NAS_OK;
}

static void report_child(nas__nasrl_run *s, nas__nasrl_child *c)
{
    nas__job *j = s->j;
    nas_json_buf arch = {0}, met = {0};
    s->space->arc_json(&j->spec, c->dec, c->n, &arch);
    nas__json_buf_puts(&met, "{");
    nas__json_num(&met, 1, "parameters", (double)c->res.parameters);
    nas__json_num(&met, 0, s->space->metric, c->res.val_metric);
    nas__json_num(&met, 0, "train_loss", c->res.train_loss);
    nas__json_num(&met, 0, "epochs", c->res.epochs);
    nas__json_num(&met, 0, "seconds", c->res.seconds);
    int layers = s->space->layers(&j->spec, c->dec, c->n);
    if (layers)
        nas__json_num(&met, 0, "layers", layers);
    nas__json_buf_puts(&met, c->cache_hit ? ",\"cached\":true" : ",\"cached\":false");
    nas__json_buf_puts(&met, ",\"decisions\":["); /* the controller's ints */
    for (int i = 0; i < c->n; i++) {
        char t[16];
        snprintf(t, sizeof(t), "%s%d", i ? "," : "", c->dec[i]);
        nas__json_buf_puts(&met, t);
    }
    nas__json_buf_puts(&met, "]}");
    if (!arch.oom && !met.oom && j->rep.architecture)
        j->rep.architecture(j->rep.ctx, arch.s, c->res.reward, met.s);
    free(arch.s);
    free(met.s);
}

void nas__nasrl_progress(nas__nasrl_run *s)
{
    nas__job *j = s->j;
    if (!j->rep.progress)
        return;
    /* a search max_seconds cut short is done at its architectures */
    int64_t archs = s->by_time ? s->pos.global_step : j->spec.max_architectures;
    int64_t done = s->pos.global_step + s->final_done;
    int64_t total = archs + s->final_steps;
    if (done > total)
        done = total;
    nas_job_progress p = {
        .epoch = 1,
        .epochs = 1,
        .step = done,
        .steps = total,
        .fraction = total > 0 ? (double)done / (double)total : 1.0,
        .eta_seconds = -1.0,
    };
    int64_t fresh = s->pos.global_step - j->step0;
    if (s->final_done > 0) /* the final training's own pace */
        p.eta_seconds = (nas__now() - s->final_t0) / (double)s->final_done * (double)(total - done);
    else if (fresh > 0 && !s->final_steps) /* a final training: unknown */
        p.eta_seconds = (nas__now() - j->t0) / (double)fresh * (double)(archs - s->pos.global_step);
    /* A stage with a time limit ends by it at the latest. */
    double limit = s->final_done > 0 ? j->spec.final_max_seconds : j->spec.max_seconds;
    double used = s->final_done > 0 ? nas__now() - s->final_t0 : nas__job_elapsed(j);
    if (p.eta_seconds >= 0 && limit > 0 && limit - used < p.eta_seconds)
        p.eta_seconds = limit - used > 0 ? limit - used : 0;
    j->rep.progress(j->rep.ctx, &p);
}

/* REINFORCE over the m children of one update. */
static int learn(nas__nasrl_run *s, nas__nasrl_child *ch, int m, const nas_ctrl_step *prog,
                 int nsteps)
{
    nas__job *j = s->j;
    double loss = 0.0, ent = 0.0, mean = 0.0;
    int *arc = malloc((size_t)ch[0].n * sizeof(int));
    if (!arc)
        return nas_fail(NAS_ENOMEM, "nasrl: out of memory");
    for (int i = 0; i < m; i++)
        mean += ch[i].res.reward / m;
    if (!s->rf.have_baseline)
        nas_reinforce_baseline(&s->rf, mean); /* b starts at the mean */
    nas_params_zero_grad(s->p, NAS_MASK(NAS_GROUP_CONTROLLER));
    for (int i = 0; i < m; i++) {
        nas_ctrl_out o;
        nas_graph_reset(s->g);
        nas_graph_set_grad(s->g, 1);
        int rc = nas_ctrl_run(s->ctrl, s->g, s->p, prog, nsteps, NULL, ch[i].dec, arc, &o);
        if (rc < 0) {
            free(arc);
            return rc;
        }
        nas_tensor *l = nas_reinforce_loss(s->g, &s->rf, &o, ch[i].res.reward, 1.0f / (float)m);
        nas_graph_backward(s->g, l, NAS_MASK(NAS_GROUP_CONTROLLER));
        loss += l->data[0];
        ent += o.entropy->data[0] / m;
    }
    free(arc);
    nas_graph_reset(s->g);
    nas_reinforce_step(&s->rf, s->p);
    for (int i = 0; i < m; i++)
        nas_reinforce_baseline(&s->rf, ch[i].res.reward);
    s->updates++;
    int64_t step = s->pos.global_step;
    nas__job_metric(j, s->updates, step, "controller_loss", loss);
    nas__job_metric(j, s->updates, step, "controller_entropy", ent);
    nas__job_metric(j, s->updates, step, "baseline", s->rf.baseline);
    nas__job_metric(j, s->updates, step, "reward_mean", mean);
    return NAS_OK;
}

const nas__nasrl_space *nas__nasrl_space_of(const nas_job_spec *s)
{
    if (strcmp(s->search_space, "darts-cnn") == 0)
        return &nas__random_darts_cnn_space;
    if (strcmp(s->search_space, "enas-micro") == 0) /* random only */
        return &nas__random_enas_micro_space;
    if (strcmp(s->search_space, "enas-macro") == 0)
        return &nas__random_enas_macro_space;
    if (strcmp(s->search_space, "darts-rnn") == 0) /* random only */
        return &nas__random_darts_rnn_space;
    if (strcmp(s->search_space, "enas-rnn") == 0) /* random only */
        return &nas__random_enas_rnn_space;
    if (strcmp(s->search_space, "nasrl-rnn") == 0)
        return &nas__nasrl_rnn_space;
    return &nas__nasrl_cnn_space;
}

/* The first architecture with the highest reward (0 when none). */
nas_nasrl_train_cfg nas__nasrl_cfg(const nas_job_spec *sp, int epochs, int threads, uint64_t seed,
                                   int (*should_stop)(void *ctx), void *stop_ctx)
{
    return (nas_nasrl_train_cfg){
        .epochs = epochs,
        .batch_size = sp->batch_size,
        .threads = threads,
        .lr = sp->lr,
        .momentum = sp->momentum,
        .weight_decay = sp->weight_decay,
        .nesterov = sp->nesterov,
        .grad_clip = sp->grad_clip,
        .reward_cube = sp->reward_cube,
        .aug = sp->augment ? nas__job_augment(sp, nas_dataset_find(sp->dataset)) : (nas_augment){0},
        .seed = seed,
        .should_stop = should_stop,
        .stop_ctx = stop_ctx,
    };
}

int nas__nasrl_best_index(const nas__nasrl_run *s)
{
    int b = 0;
    for (int i = 1; i < s->ncache; i++)
        if (s->cache[i].reward > s->cache[b].reward)
            b = i;
    return b;
}

/* One update: sample m, train the new ones, report, learn, checkpoint.
 * NAS_OK, NAS__STOP_TIME (nothing of this update kept) or an error. */
/* A child of this update with decisions at dec (n of them), nothing
 * decided yet: rank 0's update and the other ranks' follow start each
 * child here. */
static nas__nasrl_child *child_init(nas__nasrl_run *s, nas__nasrl_child *c, int *dec, int n)
{
    memset(c, 0, sizeof(*c));
    c->dec = dec;
    c->n = n;
    c->s = s;
    c->dup_of = -1;
    return c;
}

/* Marks c to be trained, with the training its decisions seed: the same
 * on every rank, so a child trained on rank k is the in-process one. */
static void child_train(nas__nasrl_run *s, nas__nasrl_child *c)
{
    const nas_job_spec *sp = &s->j->spec;
    c->train = 1;
    c->cfg = nas__nasrl_cfg(sp, sp->child_epochs, s->share,
                            sp->seed ^ nas__nasrl_dec_hash(c->dec, c->n), child_should_stop, s);
}

static int update(nas__nasrl_run *s, int *decbuf, nas__nasrl_child *ch)
{
    nas__job *j = s->j;
    const nas_job_spec *sp = &j->spec;
    int left = sp->max_architectures - (int)s->pos.global_step;
    int m = sp->children_per_update < left ? sp->children_per_update : left;
    int layers = nas__nasrl_layers_at(sp, (int)s->pos.global_step);
    int n = s->space->arc_len(sp, layers), rc, nsteps = 0;
    nas_ctrl_step prog[NAS_NASRL_MAX_LAYERS * 6];
    nas_ctrl_cfg cfg = {0};
    if (s->controller)
        nsteps = s->space->program(sp, layers, prog, &cfg);
    for (int i = 0; i < m; i++) {
        nas__nasrl_child *c = child_init(s, &ch[i], decbuf + (size_t)i * n, n);
        if (s->controller) {
            nas_ctrl_out o;
            nas_graph_reset(s->g);
            nas_graph_set_grad(s->g, 0);
            if ((rc = nas_ctrl_run(s->ctrl, s->g, s->p, prog, nsteps, &s->rng, NULL, c->dec, &o)) <
                0)
                return rc;
            nas_graph_set_grad(s->g, 1);
        } else {
            s->space->sample_uniform(sp, layers, &s->rng, c->dec);
        }
        const nas__nasrl_cached *hit = cache_find(s, c->dec, n);
        for (int k = 0; k < i && !hit && c->dup_of < 0; k++)
            if (memcmp(ch[k].dec, c->dec, (size_t)n * sizeof(int)) == 0)
                c->dup_of = k;
        if (hit) {
            c->cache_hit = 1;
            c->res.reward = hit->reward;
            c->res.val_metric = hit->val_metric;
            c->res.parameters = hit->parameters;
        } else if (c->dup_of < 0) {
            child_train(s, c);
        }
    }
    if (j->dist)
        nas__nasrl_dist_send(s, ch, m, n, decbuf);
    rc = train_children(s, ch, m);
    if (rc == NAS_ECANCELLED) {
        int why = nas__job_check_local(j);
        /* another rank's child stopped: only rank 0's clock reaches it */
        if (why == NAS__STOP_TIME || (why == NAS_RUN && j->dist))
            return NAS__STOP_TIME;
        return nas_fail(NAS_ECANCELLED, "%s: %s after %" PRId64 " architectures%s", j->kind,
                        why == NAS_STOP_SHUTDOWN ? "shut down" : "cancelled", s->pos.global_step,
                        why == NAS_STOP_SHUTDOWN && sp->checkpoint_path
                            ? " (resumes from the last update's checkpoint)"
                            : "");
    }
    if (rc < 0)
        return rc;
    for (int i = 0; i < m; i++) {
        nas__nasrl_child *c = &ch[i];
        if (c->dup_of >= 0) {
            c->res = ch[c->dup_of].res;
            c->cache_hit = 1;
        }
        if (c->train &&
            (rc = cache_add(s, c->dec, n, c->res.reward, c->res.val_metric, c->res.parameters)) < 0)
            return rc;
        report_child(s, c);
        s->pos.global_step++;
    }
    if (s->controller && (rc = learn(s, ch, m, prog, nsteps)) < 0)
        return rc;
    else if (!s->controller)
        s->updates++;
    nas__nasrl_progress(s);
    nas__job_log(j,
                 "%s: %" PRId64 "/%d architectures, %d layers, best "
                 "reward so far %.4f",
                 j->kind, s->pos.global_step, sp->max_architectures, layers,
                 s->ncache ? s->cache[nas__nasrl_best_index(s)].reward : 0.0);
    return save(s);
}

/* A rank other than 0 of a group: trains its share of each update's
 * children until rank 0 ends the search. A child's failure is rank 0's
 * to report (the exchange carries it); this rank goes on. */
static int follow(nas__nasrl_run *s, int *decbuf, nas__nasrl_child *ch)
{
    int train[256], m, n;
    while (nas__nasrl_dist_recv(s, decbuf, train, &m, &n)) {
        for (int i = 0; i < m; i++) {
            nas__nasrl_child *c = child_init(s, &ch[i], decbuf + (size_t)i * n, n);
            if (train[i])
                child_train(s, c);
        }
        int rc = train_children(s, ch, m), child_failed = 0;
        for (int i = 0; i < m; i++)
            child_failed |= ch[i].train && ch[i].rc < 0;
        if (rc < 0 && !child_failed)
            return rc; /* the exchange itself failed: the group cannot go on */
    }
    return NAS_OK;
}

int nas__nasrl_search(nas__job *j)
{
    nas__nasrl_run s = {.j = j,
                        .controller = strcmp(j->kind, "nas-rl") == 0,
                        .space = nas__nasrl_space_of(&j->spec)};
    int *decbuf = NULL;
    nas__nasrl_child *ch = NULL;
    int stopped = 0, rc = setup(&s);
    if (rc < 0)
        goto fail;
    const nas_job_spec *sp = &j->spec;
    int maxn = s.space->arc_len(sp, sp->max_layers);
    decbuf = malloc((size_t)sp->children_per_update * maxn * sizeof(int));
    ch = malloc((size_t)sp->children_per_update * sizeof(*ch));
    if (!decbuf || !ch) {
        rc = nas_fail(NAS_ENOMEM, "nasrl: out of memory");
        goto fail;
    }
    j->t0 = nas__now();
    j->elapsed0 = s.pos.elapsed;
    j->step0 = s.pos.global_step;
    if (j->dist && j->dist->rank != 0) {
        rc = follow(&s, decbuf, ch);
        goto fail;
    }
    while (s.pos.global_step < sp->max_architectures) {
        int why = nas__job_check_local(j);
        if (why == NAS__STOP_TIME) {
            s.by_time = 1;
            break;
        }
        if (why != NAS_RUN) {
            rc = nas_fail(NAS_ECANCELLED, "%s: %s after %" PRId64 " architectures", j->kind,
                          why == NAS_STOP_SHUTDOWN ? "shut down" : "cancelled", s.pos.global_step);
            goto fail;
        }
        rc = update(&s, decbuf, ch);
        if (rc == NAS__STOP_TIME) {
            s.by_time = 1;
            break;
        }
        if (rc < 0)
            goto fail;
    }
    if (s.by_time) {
        nas__job_log(j, "max_seconds (%g) spent: stopping after %" PRId64 " architectures",
                     sp->max_seconds, s.pos.global_step);
        nas__nasrl_progress(&s);
    }
    if (j->dist) {
        nas__nasrl_dist_stop(&s);
        stopped = 1;
    }
    rc = nas__nasrl_report_result(&s);
fail:
    if (j->dist && j->dist->rank == 0 && !stopped)
        nas__nasrl_dist_stop(&s); /* cancelled or failed: the others end too */
    j->extra_meta = NULL;
    j->nextra = 0;
    free(decbuf);
    free(ch);
    teardown(&s);
    return rc;
}
