// SPDX-License-Identifier: MIT
/*
 * controller.c - the LSTM policy of ENAS and NAS with RL (controller.h)
 * and its REINFORCE update.
 *
 * The one design decision to know: the controller is built from the
 * engine's differentiable ops, so sampling an architecture records a tape
 * and its backward (BPTT over the unrolled program) is the tape's reverse
 * walk. A few small ops live here because the controller runs at batch
 * 1, where every op's fixed cost counts more than its arithmetic: a
 * one-row linear layer (sgemm packs the weights on every call), the
 * attention scores over a list of anchors, the entropy of a softmax and
 * the per-anchor Bernoulli statistics of SKIPS (log-probability, entropy,
 * KL to the target), each one tape node instead of a dozen.
 */
#include "search/controller/controller.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LSTM_LAYERS 8

struct nas_ctrl {
    nas_ctrl_cfg cfg;
    int wx[MAX_LSTM_LAYERS], wh[MAX_LSTM_LAYERS], b[MAX_LSTM_LAYERS];
    int g_emb;
    int head_w[NAS_CTRL_MAX_HEADS], head_emb[NAS_CTRL_MAX_HEADS];
    int head_b[NAS_CTRL_MAX_HEADS]; /* -1: the head has no bias */
    int w_prev, w_curr, v;
};

/* ------------------------------------------------------------ declaring */

static int add_param(nas_params *p, const char *prefix, const char *what, int rows, int cols,
                     float range, int *idx)
{
    char name[256];
    int n = snprintf(name, sizeof(name), "%s.%s", prefix, what);
    if (n < 0 || (size_t)n >= sizeof(name))
        return nas_fail(NAS_EINVAL, "controller prefix too long: %s", prefix);
    int shape[2] = {rows, cols};
    int r =
        rows > 0
            ? nas_params_add(p, name, NAS_GROUP_CONTROLLER, NAS_INIT_UNIFORM, range, 2, shape)
            : nas_params_add(p, name, NAS_GROUP_CONTROLLER, NAS_INIT_UNIFORM, range, 1, &shape[1]);
    if (r < 0)
        return r;
    *idx = r;
    return NAS_OK;
}

int nas_ctrl_declare(nas_params *p, const char *prefix, const nas_ctrl_cfg *cfg, nas_ctrl **out)
{
    *out = NULL;
    if (cfg->hidden < 1 || cfg->hidden > 4096)
        return nas_fail(NAS_EINVAL, "hidden: %d is not in 1..4096", cfg->hidden);
    if (cfg->lstm_layers < 1 || cfg->lstm_layers > MAX_LSTM_LAYERS)
        return nas_fail(NAS_EINVAL, "lstm_layers: %d is not in 1..%d", cfg->lstm_layers,
                        MAX_LSTM_LAYERS);
    if (cfg->nheads < 0 || cfg->nheads > NAS_CTRL_MAX_HEADS)
        return nas_fail(NAS_EINVAL, "nheads: %d is not in 0..%d", cfg->nheads, NAS_CTRL_MAX_HEADS);
    for (int k = 0; k < cfg->nheads; k++)
        if (cfg->head_size[k] < 1 || cfg->head_size[k] > 1 << 16)
            return nas_fail(NAS_EINVAL, "head_size[%d]: %d is not in 1..65536", k,
                            cfg->head_size[k]);
    if (!(cfg->temperature >= 0.0f) || !isfinite(cfg->temperature))
        return nas_fail(NAS_EINVAL, "temperature: must be >= 0");
    if (!(cfg->tanh_c >= 0.0f) || !isfinite(cfg->tanh_c))
        return nas_fail(NAS_EINVAL, "tanh_c: must be >= 0");
    if (!(cfg->choice_tanh_reduce >= 0.0f) || !isfinite(cfg->choice_tanh_reduce))
        return nas_fail(NAS_EINVAL, "choice_tanh_reduce: must be >= 0");
    if (!(cfg->locality >= 0.0f) || !isfinite(cfg->locality))
        return nas_fail(NAS_EINVAL, "locality: must be >= 0");
    /* 0 stands for the reference's 0.4 (spaces without SKIPS leave it 0). */
    if (!(cfg->skip_target >= 0.0f && cfg->skip_target < 1.0f))
        return nas_fail(NAS_EINVAL, "skip_target: must be in (0, 1)");

    nas_ctrl *c = calloc(1, sizeof(*c));
    if (!c)
        return nas_fail(NAS_ENOMEM, "controller");
    c->cfg = *cfg;
    if (c->cfg.skip_target == 0.0f)
        c->cfg.skip_target = 0.4f;
    int H = cfg->hidden, r;
    const float R = cfg->init_range > 0.0f ? cfg->init_range : 0.1f;
    char what[64];
    for (int l = 0; l < cfg->lstm_layers; l++) {
        snprintf(what, sizeof(what), "lstm.%d.wx", l);
        if ((r = add_param(p, prefix, what, 4 * H, H, R, &c->wx[l])) < 0)
            goto fail;
        snprintf(what, sizeof(what), "lstm.%d.wh", l);
        if ((r = add_param(p, prefix, what, 4 * H, H, R, &c->wh[l])) < 0)
            goto fail;
        c->b[l] = -1;
        snprintf(what, sizeof(what), "lstm.%d.b", l);
        if (!cfg->no_lstm_bias && (r = add_param(p, prefix, what, 0, 4 * H, R, &c->b[l])) < 0)
            goto fail;
    }
    if ((r = add_param(p, prefix, "g_emb", 1, H, R, &c->g_emb)) < 0)
        goto fail;
    for (int k = 0; k < cfg->nheads; k++) {
        snprintf(what, sizeof(what), "head.%d.w", k);
        if ((r = add_param(p, prefix, what, cfg->head_size[k], H, R, &c->head_w[k])) < 0)
            goto fail;
        snprintf(what, sizeof(what), "head.%d.emb", k);
        if ((r = add_param(p, prefix, what, cfg->head_size[k], H, R, &c->head_emb[k])) < 0)
            goto fail;
        c->head_b[k] = -1;
        if (cfg->head_bias[k]) {
            char name[256];
            snprintf(name, sizeof(name), "%s.head.%d.b", prefix, k);
            if ((r = nas_params_add(p, name, NAS_GROUP_CONTROLLER, NAS_INIT_ZERO, 0.0f, 1,
                                    &cfg->head_size[k])) < 0)
                goto fail;
            c->head_b[k] = r;
        }
    }
    if ((r = add_param(p, prefix, "att.w_prev", H, H, R, &c->w_prev)) < 0 ||
        (r = add_param(p, prefix, "att.w_curr", H, H, R, &c->w_curr)) < 0 ||
        (r = add_param(p, prefix, "att.v", 1, H, R, &c->v)) < 0)
        goto fail;
    *out = c;
    return NAS_OK;
fail:
    free(c);
    return r;
}

void nas_ctrl_free(nas_ctrl *c)
{
    free(c);
}

int nas_ctrl_arc_len(const nas_ctrl *c, const nas_ctrl_step *prog, int n)
{
    if (n < 0 || (n > 0 && !prog))
        return nas_fail(NAS_EINVAL, "controller program: %d steps", n);
    int len = 0, anchors = 0;
    for (int i = 0; i < n; i++) {
        const nas_ctrl_step *s = &prog[i];
        int kind = nas_ctrl_kind(s), flags = s->kind & ~NAS_CTRL_KIND_MASK;
        int allowed = kind == NAS_CTRL_PICK || kind == NAS_CTRL_SKIPS ? NAS_CTRL_PUSH
                      : kind == NAS_CTRL_ANCHOR                       ? NAS_CTRL_ZERO_VALUE
                      : kind == NAS_CTRL_RESET                        ? NAS_CTRL_KEEP_STATE
                      : kind == NAS_CTRL_CHOICE                       ? NAS_CTRL_FIXED_BIAS
                                                                      : 0;
        if (flags & ~allowed)
            return nas_fail(NAS_EINVAL,
                            "controller program step %d: flags "
                            "0x%x on a step of kind %d",
                            i, flags, kind);
        switch (kind) {
        case NAS_CTRL_CHOICE:
            if (s->head < 0 || s->head >= c->cfg.nheads)
                return nas_fail(NAS_EINVAL,
                                "controller program step %d: "
                                "unknown head %d",
                                i, s->head);
            if (s->n < 1 || s->n > c->cfg.head_size[s->head])
                return nas_fail(NAS_EINVAL,
                                "controller program step %d: "
                                "%d options, head %d has %d",
                                i, s->n, s->head, c->cfg.head_size[s->head]);
            if ((flags & NAS_CTRL_FIXED_BIAS) && !c->cfg.head_fixed_bias[s->head])
                return nas_fail(NAS_EINVAL,
                                "controller program step %d: a "
                                "fixed bias, head %d has none",
                                i, s->head);
            len++;
            break;
        case NAS_CTRL_PICK:
        case NAS_CTRL_SKIPS:
            if (s->n < 1 || s->n > anchors)
                return nas_fail(NAS_EINVAL,
                                "controller program step %d: "
                                "over %d anchors, %d pushed",
                                i, s->n, anchors);
            len += kind == NAS_CTRL_PICK ? 1 : s->n;
            anchors += (flags & NAS_CTRL_PUSH) != 0;
            break;
        case NAS_CTRL_ANCHOR: anchors++; break;
        case NAS_CTRL_RESET: anchors = 0; break;
        default: return nas_fail(NAS_EINVAL, "controller program step %d: kind %d", i, s->kind);
        }
    }
    return len;
}

/* ------------------------------------------------------------ fused ops */

/* y (1, M) = x (1, K) W^T + b, W (M, K), b (M) or NULL: nas_linear for one
 * row. cblas_sgemm packs the whole of W on every call, which made the
 * batch-1 controller spend three quarters of its time copying weights;
 * these loops read W once. Backward: dx += dy W, dW += dy^T x, db += dy. */
static void rowlin_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2];
    int M = w->shape[0], K = w->shape[1];
    const float *dy = nd->out->grad;
    if (nas__want(g, x))
        for (int m = 0; m < M; m++)
            nas__axpy(x->grad, w->data + (size_t)m * K, dy[m], (size_t)K);
    if (nas__want(g, w))
        for (int m = 0; m < M; m++)
            nas__axpy(w->grad + (size_t)m * K, x->data, dy[m], (size_t)K);
    if (nas__want(g, b))
        nas__add_to(b->grad, dy, (size_t)M);
}

static nas_tensor *rowlin(nas_graph *g, nas_tensor *x, nas_tensor *w, nas_tensor *b)
{
    NAS_ASSERT(x->ndim == 2 && x->shape[0] == 1 && w->ndim == 2 && x->shape[1] == w->shape[1] &&
               "rowlin: x (1,K), w (M,K)");
    int M = w->shape[0], K = w->shape[1], shape[2] = {1, M};
    nas_tensor *in[3] = {x, w, b};
    nas_tensor *y = nas__out(g, 2, shape, in, 3);
    const float *xv = x->data;
    for (int m = 0; m < M; m++) {
        const float *wm = w->data + (size_t)m * K;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int k = 0; k < K; k++)
            s += wm[k] * xv[k];
        y->data[m] = b ? s + b->data[m] : s;
    }
    nas__record(g, rowlin_bwd, y, in, 3);
    return y;
}

/* nas_lstm_cell_step (nn/lstm.c) with rowlin for its two products: the
 * same ops in the same order otherwise. */
static void lstm_step(nas_graph *g, const nas_lstm_cell *cell, nas_tensor *x, nas_tensor *h,
                      nas_tensor *c, nas_tensor **h_out, nas_tensor **c_out)
{
    int hid = cell->wh->shape[1];
    nas_tensor *gates = nas_add(g, rowlin(g, x, cell->wx, cell->b), rowlin(g, h, cell->wh, NULL));
    nas_tensor *i = nas_sigmoid(g, nas_narrow(g, gates, 0, hid));
    nas_tensor *f = nas_sigmoid(g, nas_narrow(g, gates, hid, hid));
    nas_tensor *gg = nas_tanh(g, nas_narrow(g, gates, 2 * hid, hid));
    nas_tensor *o = nas_sigmoid(g, nas_narrow(g, gates, 3 * hid, hid));
    nas_tensor *c2 = nas_add(g, nas_mul(g, f, c), nas_mul(g, i, gg));
    *c_out = c2;
    *h_out = nas_mul(g, o, nas_tanh(g, c2));
}

/* scores (1, n): s_j = v . tanh(key_j + q), keys[j] (1,H), q (1,H), v (1,H).
 * Saved: t (n, H) = tanh(key_j + q). */
static void attention_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *q = nd->in[0], *v = nd->in[1];
    int n = nd->nlist, H = q->shape[1];
    const float *t = nd->pa[0], *ds = nd->out->grad;
    float *dz = nas_arena_alloc(g->arena, (size_t)H * sizeof(float));
    for (int j = 0; j < n; j++) {
        const float *tj = t + (size_t)j * H;
        if (nas__want(g, v))
            nas__axpy(v->grad, tj, ds[j], (size_t)H);
        for (int h = 0; h < H; h++)
            dz[h] = ds[j] * v->data[h] * (1.0f - tj[h] * tj[h]);
        if (nas__want(g, nd->list[j]))
            nas__add_to(nd->list[j]->grad, dz, (size_t)H);
        if (nas__want(g, q))
            nas__add_to(q->grad, dz, (size_t)H);
    }
}

static nas_tensor *attention(nas_graph *g, nas_tensor **keys, int n, nas_tensor *q, nas_tensor *v)
{
    int H = q->shape[1];
    int shape[2] = {1, n};
    nas_tensor **kept;
    nas_tensor *y = nas__list_out(g, 2, shape, keys, n, &kept);
    if (g->grad_enabled)
        y->groups |= q->groups | v->groups;
    float *t = nas_arena_alloc(g->arena, (size_t)n * H * sizeof(float));
    for (int j = 0; j < n; j++) {
        float *tj = t + (size_t)j * H;
        const float *kj = keys[j]->data;
        float s = 0.0f;
        for (int h = 0; h < H; h++) {
            tj[h] = tanhf(kj[h] + q->data[h]);
            s += v->data[h] * tj[h];
        }
        y->data[j] = s;
    }
    nas_tensor *in[2] = {q, v};
    nas_node *nd = nas__record(g, attention_bwd, y, in, 2);
    if (nd) {
        nd->list = kept;
        nd->nlist = n;
        nd->pa[0] = t;
    }
    return y;
}

/* H = -sum_i p_i log p_i of p = softmax(x), x (1, n) -> (1);
 * dH/dx_i = -p_i (log p_i + H). */
static void softmax_row(const float *x, int n, double *logp)
{
    float m = x[0];
    for (int i = 1; i < n; i++)
        m = x[i] > m ? x[i] : m;
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s += exp((double)(x[i] - m));
    double lse = m + log(s);
    for (int i = 0; i < n; i++)
        logp[i] = x[i] - lse;
}

static void entropy_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *x = nd->in[0];
    if (!nas__want(g, x))
        return;
    int n = x->shape[1];
    double *lp = nd->pa[0];
    double H = nd->out->data[0], dy = nd->out->grad[0];
    for (int i = 0; i < n; i++)
        x->grad[i] += (float)(-dy * exp(lp[i]) * (lp[i] + H));
}

static nas_tensor *softmax_entropy(nas_graph *g, nas_tensor *x, const double *logp)
{
    int n = x->shape[1], one = 1;
    nas_tensor *y = nas__out(g, 1, &one, &x, 1);
    double *lp = nas_arena_alloc(g->arena, (size_t)n * sizeof(double));
    double H = 0.0;
    for (int i = 0; i < n; i++) {
        lp[i] = logp[i];
        H -= exp(lp[i]) * lp[i];
    }
    y->data[0] = (float)H;
    nas_node *nd = nas__record(g, entropy_bwd, y, &x, 1);
    if (nd)
        nd->pa[0] = lp;
    return y;
}

/* Statistics of independent Bernoullis p_j = sigmoid(x_j), x (1, n) -> (1):
 * LOGP sum_j log P(s_j), ENT sum_j H(p_j), KL sum_j KL(p_j || target). In
 * terms of x: log P(s) = s x - softplus(x), so d/dx = s - p;
 * H = softplus(x) - p x, dH/dx = -x p (1 - p);
 * KL = p log(p/t) + (1-p) log((1-p)/(1-t)), dKL/dx = p (1-p) (x - logit t). */
enum bern { BERN_LOGP, BERN_ENT, BERN_KL };

static double softplus(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

static void bern_bwd(nas_graph *g, nas_node *nd)
{
    nas_tensor *x = nd->in[0];
    if (!nas__want(g, x))
        return;
    int n = x->shape[1];
    const int *s = nd->pa[0];
    double dy = nd->out->grad[0], lt = nd->fa[0];
    for (int j = 0; j < n; j++) {
        double xj = x->data[j], p = 1.0 / (1.0 + exp(-xj)), d;
        switch (nd->ia[0]) {
        case BERN_LOGP: d = s[j] - p; break;
        case BERN_ENT: d = -xj * p * (1.0 - p); break;
        default: d = p * (1.0 - p) * (xj - lt);
        }
        x->grad[j] += (float)(dy * d);
    }
}

static nas_tensor *bern_stat(nas_graph *g, nas_tensor *x, const int *s, enum bern what,
                             float target)
{
    int n = x->shape[1], one = 1;
    nas_tensor *y = nas__out(g, 1, &one, &x, 1);
    double lt = log((double)target / (1.0 - target)), acc = 0.0;
    for (int j = 0; j < n; j++) {
        double xj = x->data[j], p = 1.0 / (1.0 + exp(-xj));
        switch (what) {
        case BERN_LOGP: acc += s[j] * xj - softplus(xj); break;
        case BERN_ENT: acc += softplus(xj) - p * xj; break;
        default:
            /* p log p + (1-p) log(1-p) - p log t - (1-p) log(1-t), with
             * log p = -softplus(-x), log(1-p) = -softplus(x). */
            acc += -p * softplus(-xj) - (1.0 - p) * softplus(xj) - p * log((double)target) -
                   (1.0 - p) * log1p(-(double)target);
        }
    }
    y->data[0] = (float)acc;
    nas_node *nd = nas__record(g, bern_bwd, y, &x, 1);
    if (nd) {
        nd->ia[0] = what;
        nd->fa[0] = (float)lt;
        nd->pa[0] = (void *)s;
    }
    return y;
}

/* ------------------------------------------------------------ running */

/* A (1, n) tensor holding v (no gradient). */
static nas_tensor *const_row(nas_graph *g, const float *v, int n)
{
    int shape[2] = {1, n};
    nas_tensor *t = nas_tensor_zeros(g, 2, shape);
    memcpy(t->data, v, (size_t)n * sizeof(float));
    return t;
}

/* logits / temperature, then c * tanh(.) when c > 0. */
static nas_tensor *shape_logits(nas_graph *g, const nas_ctrl_cfg *cfg, nas_tensor *x, float c)
{
    if (cfg->temperature > 0.0f && cfg->temperature != 1.0f)
        x = nas_scale(g, x, 1.0f / cfg->temperature);
    if (c > 0.0f)
        x = nas_scale(g, nas_tanh(g, x), c);
    return x;
}

static int sample_categorical(const double *logp, int n, nas_rng *rng)
{
    double u = (double)nas_rng_uniform(rng), acc = 0.0;
    for (int i = 0; i < n; i++) {
        acc += exp(logp[i]);
        if (u < acc)
            return i;
    }
    /* Rounding left u above the total: the last option with mass. */
    for (int i = n - 1; i > 0; i--)
        if (exp(logp[i]) > 0.0)
            return i;
    return 0;
}

/* A growing list of scalar terms, summed at the end. */
typedef struct {
    nas_tensor **v;
    int n;
} terms;

static nas_tensor *terms_sum(nas_graph *g, terms *t)
{
    if (t->n == 0) {
        int one = 1;
        return nas_tensor_zeros(g, 1, &one);
    }
    return t->n == 1 ? t->v[0] : nas_sum_n(g, t->v, t->n);
}

int nas_ctrl_run(nas_ctrl *c, nas_graph *g, nas_params *p, const nas_ctrl_step *prog, int nsteps,
                 nas_rng *rng, const int *force, int *arc, nas_ctrl_out *out)
{
    NAS_ASSERT((force || rng) && "nas_ctrl_run: sampling needs an rng");
    int len = nas_ctrl_arc_len(c, prog, nsteps);
    if (len < 0)
        return len;
    const nas_ctrl_cfg *cfg = &c->cfg;
    int H = cfg->hidden, L = cfg->lstm_layers, row[2] = {1, H};
    nas_lstm_cell cell[MAX_LSTM_LAYERS];
    for (int l = 0; l < L; l++) {
        cell[l].wx = nas_params_get(p, c->wx[l]);
        cell[l].wh = nas_params_get(p, c->wh[l]);
        cell[l].b = c->b[l] >= 0 ? nas_params_get(p, c->b[l]) : NULL;
    }
    nas_tensor *g_emb = nas_params_get(p, c->g_emb);
    nas_tensor *w_prev = nas_params_get(p, c->w_prev);
    nas_tensor *w_curr = nas_params_get(p, c->w_curr);
    nas_tensor *v = nas_params_get(p, c->v);
    float choice_c = cfg->tanh_c;
    if (cfg->choice_tanh_reduce > 0.0f && cfg->choice_tanh_reduce != 1.0f)
        choice_c /= cfg->choice_tanh_reduce;

    int nanch_max = 0, nterms = 0, nmax = 1;
    for (int i = 0; i < nsteps; i++) {
        int kind = nas_ctrl_kind(&prog[i]);
        nanch_max += kind == NAS_CTRL_ANCHOR || (prog[i].kind & NAS_CTRL_PUSH);
        nterms += kind <= NAS_CTRL_SKIPS;
        if (kind <= NAS_CTRL_SKIPS && prog[i].n > nmax)
            nmax = prog[i].n;
    }
    nas_arena *a = g->arena;
    nas_tensor **anch = nas_arena_alloc(a, (size_t)(nanch_max + 1) * sizeof(*anch));
    nas_tensor **keys = nas_arena_alloc(a, (size_t)(nanch_max + 1) * sizeof(*keys));
    terms tlogp = {nas_arena_alloc(a, (size_t)(nterms + 1) * sizeof(nas_tensor *)), 0};
    terms tent = {nas_arena_alloc(a, (size_t)(nterms + 1) * sizeof(nas_tensor *)), 0};
    terms tpen = {nas_arena_alloc(a, (size_t)(nterms + 1) * sizeof(nas_tensor *)), 0};
    double *lp = nas_arena_alloc(a, (size_t)nmax * sizeof(double));
    float *bias = nas_arena_alloc(a, (size_t)nmax * sizeof(float));
    if (!arc)
        arc = nas_arena_alloc(a, (size_t)(len + 1) * sizeof(int));
    nas_tensor *h[MAX_LSTM_LAYERS], *cs[MAX_LSTM_LAYERS];
    nas_tensor *zero = nas_tensor_zeros(g, 2, row);
    for (int l = 0; l < L; l++)
        h[l] = cs[l] = zero;
    nas_tensor *x = g_emb;
    int nanch = 0, pos = 0;
    out->skip_count = 0;
    out->skip_total = 0;

    for (int i = 0; i < nsteps; i++) {
        const nas_ctrl_step *s = &prog[i];
        int kind = nas_ctrl_kind(s), flags = s->kind & ~NAS_CTRL_KIND_MASK;
        if (kind == NAS_CTRL_RESET) {
            if (!(flags & NAS_CTRL_KEEP_STATE))
                for (int l = 0; l < L; l++)
                    h[l] = cs[l] = zero;
            nanch = 0;
            x = g_emb;
            continue;
        }
        nas_tensor *in = x;
        for (int l = 0; l < L; l++) {
            lstm_step(g, &cell[l], in, h[l], cs[l], &h[l], &cs[l]);
            in = h[l];
        }
        nas_tensor *top = h[L - 1];
        if (kind == NAS_CTRL_ANCHOR) {
            anch[nanch] = flags & NAS_CTRL_ZERO_VALUE ? zero : top;
            keys[nanch++] = rowlin(g, top, w_prev, NULL);
            x = g_emb;
            continue;
        }
        nas_tensor *logits;
        if (kind == NAS_CTRL_CHOICE) {
            int hd = s->head;
            logits = rowlin(g, top, nas_params_get(p, c->head_w[hd]),
                            c->head_b[hd] >= 0 ? nas_params_get(p, c->head_b[hd]) : NULL);
            if (cfg->head_bias[hd])
                logits = nas_add(g, logits, const_row(g, cfg->head_bias[hd], cfg->head_size[hd]));
            if (s->n < cfg->head_size[hd])
                logits = nas_narrow(g, logits, 0, s->n);
            logits = shape_logits(g, cfg, logits, choice_c);
            if (flags & NAS_CTRL_FIXED_BIAS)
                logits = nas_add(g, logits, const_row(g, cfg->head_fixed_bias[hd], s->n));
        } else {
            nas_tensor *q = rowlin(g, top, w_curr, NULL);
            logits = shape_logits(g, cfg, attention(g, keys, s->n, q, v), cfg->tanh_c);
            if (kind == NAS_CTRL_PICK && cfg->locality > 0.0f) {
                for (int j = 0; j < s->n; j++)
                    bias[j] = -(float)((s->n - j) * (s->n - j)) / cfg->locality;
                logits = nas_add(g, logits, const_row(g, bias, s->n));
            }
        }
        /* This step's state becomes an anchor once it has queried the
         * earlier ones. */
        nas_tensor *push = flags & NAS_CTRL_PUSH ? top : NULL;
        if (kind == NAS_CTRL_SKIPS) {
            /* softmax([-l, l]) is Bernoulli(sigmoid(2 l)); the reference's
             * KL stays that of sigmoid(l). */
            nas_tensor *draw = cfg->skip_softmax ? nas_scale(g, logits, 2.0f) : logits;
            int *sk = nas_arena_alloc(a, (size_t)s->n * sizeof(int));
            int taken = 0;
            for (int j = 0; j < s->n; j++) {
                if (force) {
                    if (force[pos + j] != 0 && force[pos + j] != 1)
                        return nas_fail(NAS_EINVAL,
                                        "forced arc[%d] = %d: a "
                                        "skip is 0 or 1",
                                        pos + j, force[pos + j]);
                    sk[j] = force[pos + j];
                } else {
                    double pj = 1.0 / (1.0 + exp(-(double)draw->data[j]));
                    sk[j] = (double)nas_rng_uniform(rng) < pj;
                }
                arc[pos + j] = sk[j];
                taken += sk[j];
            }
            pos += s->n;
            tlogp.v[tlogp.n++] = bern_stat(g, draw, sk, BERN_LOGP, cfg->skip_target);
            tent.v[tent.n++] = bern_stat(g, draw, sk, BERN_ENT, cfg->skip_target);
            tpen.v[tpen.n++] = bern_stat(g, logits, sk, BERN_KL, cfg->skip_target);
            out->skip_count += taken;
            out->skip_total += s->n;
            if (taken == 0) {
                x = zero;
            } else {
                nas_tensor **sel = nas_arena_alloc(a, (size_t)taken * sizeof(*sel));
                for (int j = 0, k = 0; j < s->n; j++)
                    if (sk[j])
                        sel[k++] = anch[j];
                x = taken == 1 ? sel[0] : nas_sum_n(g, sel, taken);
                x = nas_scale(g, x, 1.0f / (1.0f + (float)taken));
            }
            if (push) {
                anch[nanch] = push;
                keys[nanch++] = rowlin(g, push, w_prev, NULL);
            }
            continue;
        }
        int n = logits->shape[1], k;
        softmax_row(logits->data, n, lp);
        if (force) {
            k = force[pos];
            if (k < 0 || k >= n)
                return nas_fail(NAS_EINVAL, "forced arc[%d] = %d: not in 0..%d", pos, k, n - 1);
        } else {
            k = sample_categorical(lp, n, rng);
        }
        arc[pos++] = k;
        int32_t label = k;
        tlogp.v[tlogp.n++] = nas_scale(g, nas_cross_entropy(g, logits, &label), -1.0f);
        tent.v[tent.n++] = softmax_entropy(g, logits, lp);
        if (kind == NAS_CTRL_CHOICE) {
            x = nas_embedding(g, nas_params_get(p, c->head_emb[s->head]), &label, 1);
        } else {
            x = anch[k];
            if (cfg->locality > 0.0f)
                x = nas_scale(g, x, 1.0f / (0.1f + (float)(s->n - k)));
        }
        if (push) {
            anch[nanch] = push;
            keys[nanch++] = rowlin(g, push, w_prev, NULL);
        }
    }
    out->logp = terms_sum(g, &tlogp);
    out->entropy = terms_sum(g, &tent);
    out->skip_penalty = terms_sum(g, &tpen);
    if (tpen.n > 1)
        out->skip_penalty = nas_scale(g, out->skip_penalty, 1.0f / (float)tpen.n);
    return NAS_OK;
}

/* ------------------------------------------------------------ job specs */

int nas__ctrl_check_spec(const nas_job_spec *s)
{
#define BAD(field, ...) nas_fail(NAS_EINVAL, field ": " __VA_ARGS__)
    if (s->ctrl_hidden < 1 || s->ctrl_hidden > 1024)
        return BAD("lstm_size", "%d is outside [1, 1024]", s->ctrl_hidden);
    if (s->ctrl_layers < 1 || s->ctrl_layers > 4)
        return BAD("lstm_layers", "%d is outside [1, 4]", s->ctrl_layers);
    if (!(s->ctrl_lr > 0.0f && s->ctrl_lr <= 1.0f))
        return BAD("controller_lr", "%g must be in (0, 1]", (double)s->ctrl_lr);
    if (!(s->ctrl_entropy_weight >= 0.0f && s->ctrl_entropy_weight <= 1.0f))
        return BAD("entropy_weight", "%g must be in [0, 1]", (double)s->ctrl_entropy_weight);
    if (!(s->ctrl_tanh >= 0.0f && s->ctrl_tanh <= 100.0f))
        return BAD("tanh_constant", "%g must be in [0, 100] (0: off)", (double)s->ctrl_tanh);
    if (!(s->ctrl_temperature > 0.0f && s->ctrl_temperature <= 100.0f))
        return BAD("temperature", "%g must be in (0, 100]", (double)s->ctrl_temperature);
    if (!(s->ctrl_baseline_decay >= 0.0f && s->ctrl_baseline_decay < 1.0f))
        return BAD("baseline_decay", "%g must be in [0, 1)", (double)s->ctrl_baseline_decay);
#undef BAD
    return NAS_OK;
}

/* ------------------------------------------------------------ REINFORCE */

nas_tensor *nas_reinforce_loss(nas_graph *g, const nas_reinforce *r, const nas_ctrl_out *o,
                               double reward, float scale)
{
    nas_tensor *loss = nas_scale(g, o->logp, (float)(-(reward - r->baseline) * scale));
    if (r->entropy_weight != 0.0f)
        loss = nas_add(g, loss, nas_scale(g, o->entropy, -r->entropy_weight * scale));
    if (r->skip_weight != 0.0f)
        loss = nas_add(g, loss, nas_scale(g, o->skip_penalty, r->skip_weight * scale));
    return loss;
}

void nas_reinforce_baseline(nas_reinforce *r, double reward)
{
    if (!r->have_baseline) {
        r->baseline = reward;
        r->have_baseline = 1;
        return;
    }
    r->baseline = r->baseline_decay * r->baseline + (1.0 - r->baseline_decay) * reward;
}

float nas_reinforce_step(nas_reinforce *r, nas_params *p)
{
    float norm =
        nas_clip_grad_norm(p, NAS_GROUP_CONTROLLER, r->grad_clip > 0.0f ? r->grad_clip : FLT_MAX);
    nas_adam_step(&r->adam, p, NAS_GROUP_CONTROLLER);
    nas_params_zero_grad(p, NAS_MASK(NAS_GROUP_CONTROLLER));
    return norm;
}
