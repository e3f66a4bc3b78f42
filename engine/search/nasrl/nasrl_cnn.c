// SPDX-License-Identifier: MIT
/*
 * nasrl_cnn.c - the nasrl-cnn search space of NAS with RL (Zoph & Le
 * 2017): the controller's program, the decoding of its decisions into a
 * layer table, the child network built from it, and the child's training
 * from scratch with its reward.
 *
 * The one design decision to know: the child is built straight from the
 * layer table on every step (no static graph), one fresh parameter store
 * per child, so nothing is shared between children: each is trained from
 * scratch, as in the paper, and two children may train at the same time
 * on two threads with no lock between them. Convolutions are "SAME"
 * padded (conv_rect.c), so every kernel shape keeps the plane and only a
 * stride shrinks it; inputs of different planes are zero-padded to the
 * largest before the depth concat.
 */
#include "internal.h"
#include "search/nasrl/nasrl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { HEAD_FH, HEAD_FW, HEAD_NF, HEAD_STRIDE };

/* ------------------------------------------------------------ program */

static int per_layer(const nas_job_spec *s)
{
    return s->search_strides ? 4 : 3;
}

int nas__nasrl_cnn_program(const nas_job_spec *s, int layers, nas_ctrl_step *prog,
                           nas_ctrl_cfg *cfg)
{
    NAS_ASSERT(layers >= 1 && layers <= NAS_NASRL_MAX_LAYERS);
    cfg->nheads = per_layer(s);
    cfg->head_size[HEAD_FH] = s->nfilter_heights;
    cfg->head_size[HEAD_FW] = s->nfilter_widths;
    cfg->head_size[HEAD_NF] = s->nnum_filters;
    if (s->search_strides)
        cfg->head_size[HEAD_STRIDE] = s->nstrides;
    int n = 0;
    for (int i = 0; i < layers; i++) {
        for (int h = 0; h < cfg->nheads; h++)
            prog[n++] = (nas_ctrl_step){NAS_CTRL_CHOICE, h, cfg->head_size[h]};
        prog[n++] = (nas_ctrl_step){NAS_CTRL_ANCHOR, 0, 0};
        if (i > 0)
            prog[n++] = (nas_ctrl_step){NAS_CTRL_SKIPS, 0, i};
    }
    return n;
}

int nas__nasrl_cnn_arc_len(const nas_job_spec *s, int layers)
{
    return layers * per_layer(s) + layers * (layers - 1) / 2;
}

int nas__nasrl_cnn_decode(const nas_job_spec *s, const int *dec, int n, nas_nasrl_arc *out)
{
    int per = per_layer(s), layers = 0;
    while (layers < NAS_NASRL_MAX_LAYERS && nas__nasrl_cnn_arc_len(s, layers + 1) <= n)
        layers++;
    if (layers < 1 || nas__nasrl_cnn_arc_len(s, layers) != n)
        return nas_fail(NAS_EINVAL,
                        "nasrl-cnn: %d decisions are not a "
                        "whole number of layers",
                        n);
    out->nlayers = layers;
    int k = 0;
    for (int i = 0; i < layers; i++) {
        nas_nasrl_layer *l = &out->l[i];
        const int lim[4] = {s->nfilter_heights, s->nfilter_widths, s->nnum_filters, s->nstrides};
        for (int h = 0; h < per; h++)
            if (dec[k + h] < 0 || dec[k + h] >= lim[h])
                return nas_fail(NAS_EINVAL,
                                "nasrl-cnn: layer %d decision %d "
                                "is %d, outside [0, %d)",
                                i, h, dec[k + h], lim[h]);
        l->fh = s->filter_heights[dec[k]];
        l->fw = s->filter_widths[dec[k + 1]];
        l->filters = s->num_filters[dec[k + 2]];
        l->stride = s->search_strides ? s->strides[dec[k + 3]] : 1;
        k += per;
        l->inputs = 0;
        for (int j = 0; j < i; j++, k++) {
            if (dec[k] != 0 && dec[k] != 1)
                return nas_fail(NAS_EINVAL,
                                "nasrl-cnn: layer %d skip %d is "
                                "%d, not 0 or 1",
                                i, j, dec[k]);
            if (dec[k])
                l->inputs |= (uint64_t)1 << j;
        }
    }
    return NAS_OK;
}

void nas__nasrl_cnn_sample_uniform(const nas_job_spec *s, int layers, nas_rng *rng, int *dec)
{
    const uint32_t lim[4] = {(uint32_t)s->nfilter_heights, (uint32_t)s->nfilter_widths,
                             (uint32_t)s->nnum_filters, (uint32_t)s->nstrides};
    int k = 0;
    for (int i = 0; i < layers; i++) {
        for (int h = 0; h < per_layer(s); h++)
            dec[k++] = (int)nas_rng_below(rng, lim[h]); /* exactly uniform */
        for (int j = 0; j < i; j++)
            dec[k++] = (int)nas_rng_below(rng, 2);
    }
}

void nas__nasrl_cnn_arc_json(const nas_nasrl_arc *a, nas_json_buf *b)
{
    nas__json_buf_puts(b, "{\"layers\":[");
    for (int i = 0; i < a->nlayers; i++) {
        const nas_nasrl_layer *l = &a->l[i];
        char t[160];
        snprintf(t, sizeof(t),
                 "%s{\"filter_height\":%d,\"filter_width\":%d,"
                 "\"filters\":%d,\"stride\":%d,\"inputs\":[",
                 i ? "," : "", l->fh, l->fw, l->filters, l->stride);
        nas__json_buf_puts(b, t);
        int first = 1;
        for (int j = 0; j < i; j++)
            if (l->inputs >> j & 1) {
                snprintf(t, sizeof(t), "%s%d", first ? "" : ",", j);
                nas__json_buf_puts(b, t);
                first = 0;
            }
        nas__json_buf_puts(b, "]}");
    }
    nas__json_buf_puts(b, "]}");
}

/* ---------------------------------------------------------------- net */

/* Layers that feed no later layer go to the classifier. */
static uint64_t feeds_someone(const nas_nasrl_arc *a)
{
    uint64_t used = 0;
    for (int i = 0; i < a->nlayers; i++)
        used |= a->l[i].inputs;
    return used;
}

int nas__nasrl_net_declare(nas_params *p, const nas_nasrl_arc *a, int in_c, int classes,
                           nas_nasrl_net *net)
{
    const int W = NAS_GROUP_WEIGHTS, S = NAS_GROUP_STATE;
    char name[48];
    int cin[NAS_NASRL_MAX_LAYERS];
    net->arc = *a;
    net->classes = classes;
    for (int i = 0; i < a->nlayers; i++) {
        const nas_nasrl_layer *l = &a->l[i];
        cin[i] = 0;
        for (int j = 0; j < i; j++)
            if (l->inputs >> j & 1)
                cin[i] += a->l[j].filters;
        if (!cin[i])
            cin[i] = in_c;
        int ws[4] = {l->filters, cin[i], l->fh, l->fw}, c1[1] = {l->filters};
#define ADD(field, what, grp, init, nd, shp)                                                       \
    (snprintf(name, sizeof(name), "l%d." what, i),                                                 \
     (net->field[i] = nas_params_add(p, name, grp, init, 1.0f, nd, shp)) < 0)
        if (ADD(conv, "conv.w", W, NAS_INIT_KAIMING, 4, ws) ||
            ADD(gamma, "bn.gamma", W, NAS_INIT_ONE, 1, c1) ||
            ADD(beta, "bn.beta", W, NAS_INIT_ZERO, 1, c1) ||
            ADD(mean, "bn.running_mean", S, NAS_INIT_ZERO, 1, c1) ||
            ADD(var, "bn.running_var", S, NAS_INIT_ONE, 1, c1))
            return NAS_ENOMEM;
#undef ADD
    }
    uint64_t used = feeds_someone(a);
    int feat = 0;
    for (int i = 0; i < a->nlayers; i++)
        if (!(used >> i & 1))
            feat += a->l[i].filters;
    int fw[2] = {classes, feat}, fb[1] = {classes};
    if ((net->fc_w = nas_params_add(p, "fc.w", W, NAS_INIT_KAIMING, 1.0f, 2, fw)) < 0 ||
        (net->fc_b = nas_params_add(p, "fc.b", W, NAS_INIT_ZERO, 1.0f, 1, fb)) < 0)
        return NAS_ENOMEM;
    return NAS_OK;
}

/* The depth concat of xs, each zero-padded to the largest plane. */
static nas_tensor *concat_padded(nas_graph *g, nas_tensor **xs, int n)
{
    int h = 0, w = 0;
    for (int k = 0; k < n; k++) {
        if (xs[k]->shape[2] > h)
            h = xs[k]->shape[2];
        if (xs[k]->shape[3] > w)
            w = xs[k]->shape[3];
    }
    for (int k = 0; k < n; k++)
        xs[k] = nas__zero_pad(g, xs[k], h, w);
    return n == 1 ? xs[0] : nas_concat(g, xs, n);
}

nas_tensor *nas__nasrl_net_forward(nas_graph *g, nas_params *p, const nas_nasrl_net *net,
                                   nas_tensor *x)
{
#define P(i) nas_params_get(p, (i))
    const nas_nasrl_arc *a = &net->arc;
    nas_tensor *out[NAS_NASRL_MAX_LAYERS], *xs[NAS_NASRL_MAX_LAYERS];
    for (int i = 0; i < a->nlayers; i++) {
        const nas_nasrl_layer *l = &a->l[i];
        int n = 0;
        for (int j = 0; j < i; j++)
            if (l->inputs >> j & 1)
                xs[n++] = out[j];
        nas_tensor *in = n ? concat_padded(g, xs, n) : x;
        nas_tensor *h = nas__conv2d_same(g, in, P(net->conv[i]), l->stride);
        h = nas_batchnorm(g, h, P(net->gamma[i]), P(net->beta[i]), P(net->mean[i]), P(net->var[i]),
                          0.1f, 1e-5f);
        out[i] = nas_relu(g, h);
    }
    uint64_t used = feeds_someone(a);
    int n = 0;
    for (int i = 0; i < a->nlayers; i++)
        if (!(used >> i & 1))
            xs[n++] = nas_global_avgpool(g, out[i]);
    nas_tensor *f = n == 1 ? xs[0] : nas_concat(g, xs, n);
    return nas_linear(g, f, P(net->fc_w), P(net->fc_b));
#undef P
}

int nas__nasrl_out_of_time(const nas_nasrl_train_cfg *cfg, double t0)
{
    return cfg->max_seconds > 0.0 && nas__now() - t0 >= cfg->max_seconds;
}

nas_sgd nas__nasrl_sgd(const nas_nasrl_train_cfg *cfg)
{
    return (nas_sgd){.lr = cfg->lr,
                     .momentum = cfg->momentum,
                     .weight_decay = cfg->weight_decay,
                     .nesterov = cfg->nesterov};
}

void nas__nasrl_sgd_step(const nas_nasrl_train_cfg *cfg, nas_graph *g, nas_params *p,
                         nas_tensor *loss, nas_sgd *sgd, int64_t total)
{
    nas_params_zero_grad(p, NAS_MASK(NAS_GROUP_WEIGHTS));
    nas_graph_backward(g, loss, NAS_MASK(NAS_GROUP_WEIGHTS));
    if (cfg->grad_clip > 0.0f)
        nas_clip_grad_norm(p, NAS_GROUP_WEIGHTS, cfg->grad_clip);
    sgd->lr = nas_cosine_lr(cfg->lr, 0.0f, sgd->steps, total);
    nas_sgd_step(sgd, p, NAS_GROUP_WEIGHTS);
}

/* ------------------------------------------------------------ training */

typedef struct child_run {
    const nas_nasrl_train_cfg *cfg;
    const nas_dataset *train, *val;
    nas_params *p;
    nas_graph *g;
    const nas__nasrl_model *m;
    int *order, *idx;
    int32_t *y;
} child_run;

/* Validation accuracy, eval mode, in batches of nas__eval_batch. */
static double child_eval(child_run *r)
{
    const int bs = nas__eval_batch(r->cfg->batch_size);
    const nas_dataset *v = r->val;
    long correct = 0;
    nas_graph_set_training(r->g, 0);
    nas_graph_set_grad(r->g, 0);
    for (int s = 0; s < v->n; s += bs) {
        int n = v->n - s < bs ? v->n - s : bs;
        for (int i = 0; i < n; i++)
            r->idx[i] = s + i;
        nas_graph_reset(r->g);
        nas_tensor *x = nas_tensor_new4(r->g, n, v->c, v->h, v->w);
        nas_dataset_batch(v, r->idx, n, NULL, NULL, x->data, r->y);
        nas_tensor *lg = r->m->forward(r->m->self, r->g, r->p, x);
        int k = v->classes;
        for (int i = 0; i < n; i++)
            correct += nas__argmax(lg->data + (size_t)i * k, k) == r->y[i];
    }
    nas_graph_reset(r->g);
    nas_graph_set_training(r->g, 1);
    nas_graph_set_grad(r->g, 1);
    return v->n ? (double)correct / v->n : 0.0;
}

int nas__nasrl_train_model(const nas__nasrl_model *m, const nas_nasrl_train_cfg *cfg,
                           const nas_dataset *train, const nas_dataset *val, nas_nasrl_child *out)
{
    child_run r = {.cfg = cfg, .train = train, .val = val, .m = m};
    int bs = cfg->batch_size, rc = NAS_OK, evals = 0;
    double t0 = nas__now(), accs[5] = {0};
    int64_t spe = train->n / bs;
    memset(out, 0, sizeof(*out));
    nas_set_threads(cfg->threads);
    if (spe < 1)
        return nas_fail(NAS_EINVAL,
                        "batch_size: %d is larger than the %d "
                        "images a child trains on",
                        bs, train->n);
    r.p = nas_params_new();
    r.g = nas_graph_new(0);
    r.order = malloc((size_t)train->n * sizeof(int));
    r.idx = malloc((size_t)(bs > NAS__EVAL_BATCH ? bs : NAS__EVAL_BATCH) * sizeof(int));
    r.y = malloc((size_t)(bs > NAS__EVAL_BATCH ? bs : NAS__EVAL_BATCH) * sizeof(int32_t));
    if (!r.p || !r.g || !r.order || !r.idx || !r.y) {
        rc = nas_fail(NAS_ENOMEM, "nasrl child: out of memory");
        goto fail;
    }
    if ((rc = m->declare(m->self, r.p, train->c, train->classes)) < 0)
        goto fail;
    nas_rng init, data, arng;
    nas_rng_seed(&init, cfg->seed);
    nas_rng_seed(&data, cfg->seed ^ 0x646174612d726e67ull);
    nas_rng_seed(&arng, cfg->seed ^ 0x6175672d726e6731ull);
    const nas_augment *aug = cfg->aug.crop_pad || cfg->aug.hflip ? &cfg->aug : NULL;
    if ((rc = nas_params_alloc(r.p, &init)) < 0)
        goto fail;
    out->parameters = nas__params_weights_numel(r.p);
    nas_sgd sgd = nas__nasrl_sgd(cfg);
    int64_t total = spe * cfg->epochs;
    for (int e = 0; e < cfg->epochs; e++) {
        double loss_sum = 0.0;
        for (int i = 0; i < train->n; i++)
            r.order[i] = i;
        nas_rng_shuffle(&data, r.order, train->n);
        int64_t s = 0;
        for (; s < spe; s++) {
            if (cfg->should_stop && cfg->should_stop(cfg->stop_ctx)) {
                rc = NAS_ECANCELLED;
                goto fail;
            }
            if (nas__nasrl_out_of_time(cfg, t0)) {
                out->by_time = 1;
                break;
            }
            nas_graph_reset(r.g);
            nas_tensor *x = nas_tensor_new4(r.g, bs, train->c, train->h, train->w);
            nas_dataset_batch(train, r.order + s * bs, bs, aug, &arng, x->data, r.y);
            nas_tensor *lg = m->forward(m->self, r.g, r.p, x);
            nas_tensor *loss = nas_cross_entropy(r.g, lg, r.y);
            nas__nasrl_sgd_step(cfg, r.g, r.p, loss, &sgd, total);
            loss_sum += loss->data[0];
        }
        if (out->by_time && s == 0 && e > 0)
            break; /* stopped at an epoch's end: its numbers stand */
        out->train_loss = s ? loss_sum / (double)s : 0.0;
        out->val_metric = child_eval(&r);
        accs[evals++ % 5] = out->val_metric;
        if (out->by_time)
            break; /* a part of epoch e: evaluated, not counted */
        out->epochs = e + 1;
    }
    if (cfg->reward_cube) {
        double best = 0.0;
        for (int k = 0; k < 5 && k < evals; k++)
            if (accs[k] > best)
                best = accs[k];
        out->reward = best * best * best;
    } else {
        out->reward = out->val_metric;
    }
    out->seconds = nas__now() - t0;
    if (cfg->keep) {
        out->model = m;
        rc = cfg->keep(cfg->keep_ctx, r.p, out);
        out->model = NULL;
    }
fail:
    free(r.order);
    free(r.idx);
    free(r.y);
    nas_graph_free(r.g);
    nas_params_free(r.p);
    return rc;
}

/* ------------------------------------------ the space for the job loop */

static int cnn_declare(void *self, nas_params *p, int in_c, int classes)
{
    nas_nasrl_net *net = self;
    return nas__nasrl_net_declare(p, &net->arc, in_c, classes, net);
}

static nas_tensor *cnn_forward(void *self, nas_graph *g, nas_params *p, nas_tensor *x)
{
    return nas__nasrl_net_forward(g, p, self, x);
}

int nas__nasrl_cnn_train(const nas_nasrl_arc *a, const nas_nasrl_train_cfg *cfg,
                         const nas_dataset *train, const nas_dataset *val, nas_nasrl_child *out)
{
    nas_nasrl_net *net = malloc(sizeof(*net));
    if (!net)
        return nas_fail(NAS_ENOMEM, "nasrl child: out of memory");
    net->arc = *a;
    nas__nasrl_model m = {.self = net, .declare = cnn_declare, .forward = cnn_forward};
    int rc = nas__nasrl_train_model(&m, cfg, train, val, out);
    free(net);
    return rc;
}

static int space_json(const nas_job_spec *s, const int *dec, int n, nas_json_buf *b)
{
    nas_nasrl_arc a;
    int rc = nas__nasrl_cnn_decode(s, dec, n, &a);
    if (rc == NAS_OK)
        nas__nasrl_cnn_arc_json(&a, b);
    return rc;
}

static int space_train(const nas_job_spec *s, const int *dec, int n, const nas_nasrl_train_cfg *cfg,
                       const nas__nasrl_data *d, nas_nasrl_child *out)
{
    nas_nasrl_arc a;
    int rc = nas__nasrl_cnn_decode(s, dec, n, &a);
    return rc < 0 ? rc : nas__nasrl_cnn_train(&a, cfg, d->train, d->val, out);
}

static int space_layers(const nas_job_spec *s, const int *dec, int n)
{
    nas_nasrl_arc a;
    return nas__nasrl_cnn_decode(s, dec, n, &a) < 0 ? 0 : a.nlayers;
}

const nas__nasrl_space nas__nasrl_cnn_space = {
    .name = "nasrl-cnn",
    .metric = "val_accuracy",
    .program = nas__nasrl_cnn_program,
    .arc_len = nas__nasrl_cnn_arc_len,
    .sample_uniform = nas__nasrl_cnn_sample_uniform,
    .arc_json = space_json,
    .train = space_train,
    .layers = space_layers,
};
