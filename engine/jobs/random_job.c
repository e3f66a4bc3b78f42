// SPDX-License-Identifier: MIT
/*
 * random_job.c - the `random` job kind: the honest baseline every search
 * method must beat. It samples architectures uniformly from a space's
 * decisions (no controller), trains each with the same rule as that
 * space's children, and keeps the best; same reports and result format as
 * the kind that searches the space. Spaces: nasrl-cnn (its decisions and
 * child training are nasrl_cnn.c's) and darts-cnn (here: a discrete
 * genotype, trained as darts' final training trains one, but on the
 * search's train split and scored on its validation split).
 *
 * enas-micro and enas-macro (here too): an arc of the ENAS space
 * (engine/search/enas/enas.h) trained from scratch as enas' final training
 * trains one (a fresh store with the space's weights, the forward of that
 * one arc; jobs/enas_final.c), on the train split, scored on the
 * validation split; its "parameters" are the arc's (arc_params).
 *
 * darts-rnn (here too): a recurrent cell of 8 nodes, each with an earlier
 * node (s0 or a node before it) and an op among tanh, relu, sigmoid,
 * identity, trained from scratch by the train kind's language model
 * (NAS_ARCH_DARTS_RNN, engine/jobs/train_text.c, as darts-rnn's final
 * training trains one) on the corpus' train split, scored on its valid
 * split; the reward is nasrl-rnn's, reward_c / perplexity^2 (the other
 * recurrent space random samples; both rank cells by perplexity alike).
 *
 * enas-rnn (here too): a cell of the ENAS recurrent space (node 0 an
 * activation, node i an earlier node and an activation) as one fixed arc
 * of search/enas/enas_rnn.c's language model, trained from scratch on the
 * train split as the enas-rnn search trains its shared weights (SGD on
 * the loss summed over the BPTT steps and averaged over the batch, its
 * lr, weight decay, clip and dropouts; cosine lr to 0 over the child's
 * steps instead of the search's decay) and scored on the valid split;
 * the reward is enas-rnn's, reward_c / perplexity.
 *
 * The one design decision to know: "uniform" is over each decision, drawn
 * with nas_rng_below (rejection sampling: exactly uniform for any number
 * of choices, no modulo bias); a nasrl-cnn skip is a fair coin; a DARTS
 * node's two inputs are an ordered pair of distinct earlier nodes (the
 * second drawn among the rest, so every pair is equally likely) and each
 * edge's op is uniform over the 7 operations a derived DARTS genotype may
 * hold (all but none); an ENAS decision is uniform over its values (a
 * CHOICE over the ops, a PICK over the anchors before it, a SKIPS bit a
 * fair coin), taken from the space's controller program. The loop itself (concurrent children,
 * cache, checkpoints, budgets) is nasrl_job.c's, so random search and nas-rl differ only in where
 * the decisions come from.
 */
#include "jobs/jobs.h"
#include "jobs/text_net.h"
#include "search/darts/darts.h"
#include "search/nasrl/nasrl.h"

#include "search/enas/enas.h"
#include "search/enas/enas_rnn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nas__random_job(nas__job *j)
{
    return nas__nasrl_search(j); /* the space: nas__nasrl_space_of */
}

/* ------------------------------------------------- darts-cnn genotypes */

/* Appends the malloc'd text t (NULL: out of memory) to b and frees it. */
static int put_text(nas_json_buf *b, char *t, const char *space)
{
    if (t)
        nas__json_buf_puts(b, t);
    free(t);
    return !t || b->oom ? nas_fail(NAS_ENOMEM, "%s: genotype", space) : NAS_OK;
}

/* A sampled op k is op NAS_DARTS_MAX_POOL_3X3 + k: every primitive but none. */
enum { NOPS = 7, NODES = 4, PER_NODE = 4, PER_CELL = NODES * PER_NODE };

static int darts_arc_len(const nas_job_spec *s, int layers)
{
    (void)s;
    (void)layers;
    return 2 * PER_CELL;
}

/* Per cell (normal, then reduce), per node i: first input in [0, i+2),
 * its op, the second input among the i+1 others, its op. */
static void darts_sample(const nas_job_spec *s, int layers, nas_rng *rng, int *dec)
{
    (void)s;
    (void)layers;
    int k = 0;
    for (int cell = 0; cell < 2; cell++)
        for (int i = 0; i < NODES; i++) {
            dec[k++] = (int)nas_rng_below(rng, (uint32_t)(i + 2));
            dec[k++] = (int)nas_rng_below(rng, NOPS);
            dec[k++] = (int)nas_rng_below(rng, (uint32_t)(i + 1));
            dec[k++] = (int)nas_rng_below(rng, NOPS);
        }
}

/* The decisions as a genotype: node i's first input d[0], its op d[1],
 * its second input d[2] among the others, its op d[3]. */
static int darts_genotype(const int *dec, int n, nas_darts_genotype *gt)
{
    if (n != 2 * PER_CELL)
        return nas_fail(NAS_EINVAL, "darts-cnn: %d decisions, not %d", n, 2 * PER_CELL);
    nas_darts_gene cells[2];
    for (int cell = 0; cell < 2; cell++)
        for (int i = 0; i < NODES; i++) {
            const int *d = dec + cell * PER_CELL + i * PER_NODE;
            nas_darts_gene *g = &cells[cell];
            if (d[0] < 0 || d[0] >= i + 2 || d[2] < 0 || d[2] >= i + 1 || d[1] < 0 ||
                d[1] >= NOPS || d[3] < 0 || d[3] >= NOPS)
                return nas_fail(NAS_EINVAL,
                                "darts-cnn: node %d of cell %d "
                                "has a decision out of range",
                                i, cell);
            g->op[i][0] = NAS_DARTS_MAX_POOL_3X3 + d[1];
            g->from[i][0] = d[0];
            g->op[i][1] = NAS_DARTS_MAX_POOL_3X3 + d[3];
            g->from[i][1] = d[2] + (d[2] >= d[0]);
        }
    nas__darts_genotype_of(&cells[0], &cells[1], gt);
    return NAS_OK;
}

static int darts_json(const nas_job_spec *s, const int *dec, int n, nas_json_buf *b)
{
    (void)s;
    nas_darts_genotype gt;
    int rc = darts_genotype(dec, n, &gt);
    if (rc < 0)
        return rc;
    return put_text(b, nas__darts_genotype_dump(&gt), "darts-cnn");
}

typedef struct darts_model {
    nas_darts_cfg cfg;
    nas_darts_genotype gt;
    nas__darts_fixed *net;
} darts_model;

static int darts_declare(void *self, nas_params *p, int in_c, int classes)
{
    darts_model *m = self;
    m->cfg.in_c = in_c;
    m->cfg.classes = classes;
    return nas__darts_fixed_declare(p, &m->cfg, &m->gt, &m->net);
}

static nas_tensor *darts_forward(void *self, nas_graph *g, nas_params *p, nas_tensor *x)
{
    return nas__darts_fixed_forward(g, p, ((darts_model *)self)->net, x);
}

static int darts_train(const nas_job_spec *s, const int *dec, int n, const nas_nasrl_train_cfg *cfg,
                       const nas__nasrl_data *d, nas_nasrl_child *out)
{
    const nas_dataset *train = d->train, *val = d->val;
    darts_model m = {.cfg = {.C = s->C, .layers = s->layers, .h = train->h, .w = train->w}};
    int rc = darts_genotype(dec, n, &m.gt);
    if (rc < 0)
        return rc;
    nas__nasrl_model model = {.self = &m, .declare = darts_declare, .forward = darts_forward};
    rc = nas__nasrl_train_model(&model, cfg, train, val, out);
    nas__darts_fixed_free(m.net);
    return rc;
}

static int darts_layers(const nas_job_spec *s, const int *dec, int n)
{
    (void)s;
    (void)dec;
    (void)n;
    return 0;
}

const nas__nasrl_space nas__random_darts_cnn_space = {
    .name = "darts-cnn",
    .metric = "val_accuracy",
    .arc_len = darts_arc_len,
    .sample_uniform = darts_sample,
    .arc_json = darts_json,
    .train = darts_train,
    .layers = darts_layers,
};

/* ------------------------------------------------ enas-micro, enas-macro */

enum { ENAS_MAX_DEC = NAS__ENAS_MAX_DECISIONS };

typedef struct enas_model {
    const nas_enas_space *sp;
    nas_enas_cfg cfg;
    void *self;
    const int *arc;
    nas_rng drop_rng; /* dropout's draws, seeded from the child's seed */
} enas_model;

static nas_enas_cfg enas_cfg(const nas_job_spec *s, const nas_enas_space *sp, int in_c, int side,
                             int classes)
{
    return (nas_enas_cfg){.C = s->C,
                          .layers = s->layers,
                          .nodes = strcmp(sp->name, "enas-micro") == 0 ? s->nodes : 0,
                          .in_c = in_c,
                          .h = side,
                          .w = side,
                          .classes = classes,
                          .dropout = s->dropout};
}

/* The space of s declared on a scratch store (its program and its arc
 * format do not depend on the image size), and the number of values of
 * each decision into hi. Returns the decision count or an error. */
static int enas_ranges(const nas_job_spec *s, int *hi)
{
    const nas_enas_space *sp = nas__enas_space_find(s->search_space);
    NAS_ASSERT(sp && "random: not an ENAS space");
    nas_enas_cfg cfg = enas_cfg(s, sp, 1, 64, 10);
    nas_params *p = nas_params_new();
    void *self = NULL;
    if (!p)
        return nas_fail(NAS_ENOMEM, "random: out of memory");
    int rc = sp->declare(p, &cfg, &self);
    if (rc == NAS_OK)
        rc = nas__enas_arc_ranges(sp, self, hi, ENAS_MAX_DEC);
    if (self)
        sp->free(self);
    nas_params_free(p);
    return rc;
}

static int enas_arc_len(const nas_job_spec *s, int layers)
{
    (void)layers;
    int *hi = malloc(ENAS_MAX_DEC * sizeof(int));
    int n = hi ? enas_ranges(s, hi) : NAS_ENOMEM;
    free(hi);
    NAS_ASSERT(n > 0 && "random: the ENAS space of a validated spec");
    return n;
}

static void enas_sample(const nas_job_spec *s, int layers, nas_rng *rng, int *dec)
{
    (void)layers;
    int *hi = malloc(ENAS_MAX_DEC * sizeof(int));
    NAS_ASSERT(hi && "random: out of memory");
    int n = enas_ranges(s, hi);
    NAS_ASSERT(n > 0 && "random: the ENAS space of a validated spec");
    for (int k = 0; k < n; k++)
        dec[k] = (int)nas_rng_below(rng, (uint32_t)hi[k]);
    free(hi);
}

/* Checks every decision against its range; NAS_EINVAL naming it. */
static int enas_check(const nas_job_spec *s, const int *dec, int n)
{
    int *hi = malloc(ENAS_MAX_DEC * sizeof(int));
    int m = hi ? enas_ranges(s, hi) : nas_fail(NAS_ENOMEM, "random: oom");
    int rc = m < 0 ? m : NAS_OK;
    if (rc == NAS_OK && m != n)
        rc = nas_fail(NAS_EINVAL, "%s: %d decisions, not %d", s->search_space, n, m);
    for (int k = 0; rc == NAS_OK && k < n; k++)
        if (dec[k] < 0 || dec[k] >= hi[k])
            rc = nas_fail(NAS_EINVAL,
                          "%s: decision %d is %d, outside "
                          "[0, %d]",
                          s->search_space, k, dec[k], hi[k] - 1);
    free(hi);
    return rc;
}

static int enas_json(const nas_job_spec *s, const int *dec, int n, nas_json_buf *b)
{
    int rc = enas_check(s, dec, n);
    if (rc < 0)
        return rc;
    const nas_enas_space *sp = nas__enas_space_find(s->search_space);
    nas_enas_cfg cfg = enas_cfg(s, sp, 1, 64, 10);
    nas_params *p = nas_params_new();
    void *self = NULL;
    if (!p)
        return nas_fail(NAS_ENOMEM, "random: out of memory");
    rc = sp->declare(p, &cfg, &self);
    if (rc == NAS_OK) {
        sp->arc_json(self, dec, b);
        if (b->oom)
            rc = nas_fail(NAS_ENOMEM, "%s: arc JSON", sp->name);
    }
    if (self)
        sp->free(self);
    nas_params_free(p);
    return rc;
}

static int enas_declare(void *ctx, nas_params *p, int in_c, int classes)
{
    enas_model *m = ctx;
    m->cfg.in_c = in_c;
    m->cfg.classes = classes;
    return m->sp->declare(p, &m->cfg, &m->self);
}

static nas_tensor *enas_forward(void *ctx, nas_graph *g, nas_params *p, nas_tensor *x)
{
    enas_model *m = ctx;
    if (!g->rng) /* the shared child trainer's graph has none */
        nas_graph_set_rng(g, &m->drop_rng);
    return m->sp->forward(m->self, g, p, m->arc, x, nas_graph_training(g));
}

/* The floats of the weights the arc uses, on a store of the space's
 * shapes (nothing allocated). */
static size_t enas_arc_params(const enas_model *m)
{
    nas_params *p = nas_params_new();
    void *self = NULL;
    size_t n = 0;
    if (p && m->sp->declare(p, &m->cfg, &self) == NAS_OK)
        n = m->sp->arc_params(self, p, m->arc);
    if (self)
        m->sp->free(self);
    nas_params_free(p);
    return n;
}

static int enas_train(const nas_job_spec *s, const int *dec, int n, const nas_nasrl_train_cfg *cfg,
                      const nas__nasrl_data *d, nas_nasrl_child *out)
{
    int rc = enas_check(s, dec, n);
    if (rc < 0)
        return rc;
    const nas_enas_space *sp = nas__enas_space_find(s->search_space);
    enas_model m = {
        .sp = sp, .arc = dec, .cfg = enas_cfg(s, sp, d->train->c, d->train->h, d->train->classes)};
    nas_rng_seed(&m.drop_rng, cfg->seed ^ 0x64726f702d726e67ull);
    nas__nasrl_model model = {.self = &m, .declare = enas_declare, .forward = enas_forward};
    rc = nas__nasrl_train_model(&model, cfg, d->train, d->val, out);
    if (m.self)
        sp->free(m.self);
    if (rc == NAS_OK)
        out->parameters = enas_arc_params(&m);
    return rc;
}

const nas__nasrl_space nas__random_enas_micro_space = {
    .name = "enas-micro",
    .metric = "val_accuracy",
    .arc_len = enas_arc_len,
    .sample_uniform = enas_sample,
    .arc_json = enas_json,
    .train = enas_train,
    .layers = darts_layers,
};

const nas__nasrl_space nas__random_enas_macro_space = {
    .name = "enas-macro",
    .metric = "val_accuracy",
    .arc_len = enas_arc_len,
    .sample_uniform = enas_sample,
    .arc_json = enas_json,
    .train = enas_train,
    .layers = darts_layers,
};

/* ------------------------------------------------------------ darts-rnn */

enum { RNN_NODES = NAS_DARTS_RNN_NODES, RNN_NOPS = 4 };

static int rnn_arc_len(const nas_job_spec *s, int layers)
{
    (void)s;
    (void)layers;
    return 2 * RNN_NODES;
}

/* Per node j (0-based): its input in [0, j] (0: s0, i: node i), then its
 * op in [0, 4) (tanh, relu, sigmoid, identity: prims 1..4). */
static void rnn_sample(const nas_job_spec *s, int layers, nas_rng *rng, int *dec)
{
    (void)s;
    (void)layers;
    for (int j = 0; j < RNN_NODES; j++) {
        dec[2 * j] = (int)nas_rng_below(rng, (uint32_t)(j + 1));
        dec[2 * j + 1] = (int)nas_rng_below(rng, RNN_NOPS);
    }
}

static int rnn_gene(const int *dec, int n, nas_darts_rnn_gene *g)
{
    if (n != 2 * RNN_NODES)
        return nas_fail(NAS_EINVAL, "darts-rnn: %d decisions, not %d", n, 2 * RNN_NODES);
    for (int j = 0; j < RNN_NODES; j++) {
        if (dec[2 * j] < 0 || dec[2 * j] > j || dec[2 * j + 1] < 0 || dec[2 * j + 1] >= RNN_NOPS)
            return nas_fail(NAS_EINVAL,
                            "darts-rnn: node %d has a decision "
                            "out of range",
                            j + 1);
        g->from[j] = dec[2 * j];
        g->op[j] = NAS_DARTS_RNN_TANH + dec[2 * j + 1];
    }
    return NAS_OK;
}

/* dec as the engine's genotype text: the ints, space-separated. */
static int ints_of(const int *dec, int n, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        int k = snprintf(out + len, cap - len, "%s%d", i ? " " : "", dec[i]);
        if (k < 0 || (size_t)k >= cap - len)
            return nas_fail(NAS_EINVAL, "genotype: %d decisions do not fit", n);
        len += (size_t)k;
    }
    return NAS_OK;
}

int nas__text_arch_spec(const nas_job_spec *s, const char *space, const int *dec, int n,
                        nas_job_spec *t)
{
    *t = *s;
    t->layers = 1;
    if (!strcmp(space, "darts-rnn")) {
        nas_darts_rnn_gene g;
        int rc = rnn_gene(dec, n, &g);
        if (rc < 0)
            return rc;
        t->arch = NAS_ARCH_DARTS_RNN;
        nas__darts_rnn_genotype_of(&g, &t->darts_rnn);
        return NAS_OK;
    }
    if (strcmp(space, "enas-rnn") && strcmp(space, "nasrl-rnn"))
        return nas_fail(NAS_EINVAL, "%s: not a text search space", space);
    t->arch = !strcmp(space, "enas-rnn") ? NAS_ARCH_ENAS_RNN : NAS_ARCH_NASRL_RNN;
    return ints_of(dec, n, t->genotype, sizeof t->genotype);
}

static int rnn_json(const nas_job_spec *s, const int *dec, int n, nas_json_buf *b)
{
    (void)s;
    nas_darts_rnn_gene g;
    int rc = rnn_gene(dec, n, &g);
    if (rc < 0)
        return rc;
    return put_text(b, nas__darts_rnn_genotype_json(&g), "darts-rnn");
}

/* A darts-rnn child's outcome as the loop counts it. */
static void child_of(const nas_job_spec *s, const nas__text_child *c, double t0,
                     nas_nasrl_child *out)
{
    double ppl = isfinite(c->val_perplexity) ? c->val_perplexity : 1e30;
    out->val_metric = ppl; /* a diverged child: reward ~0, never NaN */
    out->reward = s->reward_c / (ppl * ppl);
    out->train_loss = c->train_loss;
    out->parameters = c->parameters;
    out->epochs = c->epochs;
    out->by_time = c->by_time;
    out->seconds = nas__now() - t0;
}

/* The final training keeps its network (cfg->keep) through the text
 * child's hook. */
typedef struct rnn_keep {
    const nas_job_spec *s;
    const nas_nasrl_train_cfg *cfg;
    double t0;
} rnn_keep;

static int keep_rnn(void *ctx, nas_params *p, const nas__text_child *c)
{
    const rnn_keep *k = ctx;
    nas_nasrl_child out = {0};
    child_of(k->s, c, k->t0, &out);
    return k->cfg->keep(k->cfg->keep_ctx, p, &out);
}

static int rnn_train(const nas_job_spec *s, const int *dec, int n, const nas_nasrl_train_cfg *cfg,
                     const nas__nasrl_data *d, nas_nasrl_child *out)
{
    double t0 = nas__now();
    memset(out, 0, sizeof(*out));
    nas_darts_rnn_gene g;
    int rc = rnn_gene(dec, n, &g);
    if (rc < 0)
        return rc;
    nas_job_spec t = {.algorithm = "train", .dataset = s->dataset, .arch = NAS_ARCH_DARTS_RNN};
    nas_job_spec_defaults(&t);
    nas__darts_rnn_genotype_of(&g, &t.darts_rnn);
    t.data_path = s->data_path;
    t.embed = s->embed;
    t.hidden = s->hidden;
    t.layers = 1;
    t.bptt = s->bptt;
    t.max_vocab = s->max_vocab;
    t.epochs = cfg->epochs;
    t.batch_size = cfg->batch_size;
    t.seed = cfg->seed;
    t.threads = cfg->threads;
    t.lr = cfg->lr;
    t.lr_min = 0.0f;
    t.momentum = cfg->momentum;
    t.weight_decay = cfg->weight_decay;
    t.grad_clip = cfg->grad_clip;
    t.nesterov = 0;
    t.max_seconds = cfg->max_seconds; /* a final training's own limit */
    t.dropout = s->dropout;
    t.dropout_input = s->dropout_input;
    nas_set_threads(cfg->threads);
    nas__text_child c;
    rnn_keep k = {s, cfg, t0};
    rc = nas__train_text_child(&t, d->corpus, cfg->should_stop, cfg->stop_ctx,
                               cfg->keep ? keep_rnn : NULL, &k, &c);
    if (rc < 0)
        return rc;
    child_of(s, &c, t0, out);
    return NAS_OK;
}

const nas__nasrl_space nas__random_darts_rnn_space = {
    .name = "darts-rnn",
    .metric = "val_perplexity",
    .text = 1,
    .arc_len = rnn_arc_len,
    .sample_uniform = rnn_sample,
    .arc_json = rnn_json,
    .train = rnn_train,
    .layers = darts_layers,
};

/* -------------------------------------------------------------- enas-rnn */

static int ernn_arc_len(const nas_job_spec *s, int layers)
{
    (void)layers;
    return 2 * s->nodes - 1;
}

/* arc[0] node 0's activation; node i: arc[2i-1] its input in [0, i),
 * arc[2i] its activation; each uniform over its values. */
static void ernn_sample(const nas_job_spec *s, int layers, nas_rng *rng, int *dec)
{
    (void)layers;
    dec[0] = (int)nas_rng_below(rng, NAS_ENAS_RNN_NACT);
    for (int i = 1; i < s->nodes; i++) {
        dec[2 * i - 1] = (int)nas_rng_below(rng, (uint32_t)i);
        dec[2 * i] = (int)nas_rng_below(rng, NAS_ENAS_RNN_NACT);
    }
}

/* The space for a vocabulary of vocab words, its arc checked. */
static int ernn_net(const nas_job_spec *s, int vocab, const int *dec, int n, nas_params *p,
                    nas__enas_rnn **net)
{
    nas_enas_rnn_cfg cfg = {.vocab = vocab, .hidden = s->hidden, .nodes = s->nodes};
    *net = NULL;
    if (n != 2 * s->nodes - 1)
        return nas_fail(NAS_EINVAL, "enas-rnn: %d decisions, not %d", n, 2 * s->nodes - 1);
    int rc = nas__enas_rnn_declare(p, &cfg, net);
    return rc < 0 ? rc : nas__enas_rnn_check_arc(*net, dec);
}

static int ernn_json(const nas_job_spec *s, const int *dec, int n, nas_json_buf *b)
{
    nas_params *p = nas_params_new();
    nas__enas_rnn *net = NULL;
    if (!p)
        return nas_fail(NAS_ENOMEM, "random: out of memory");
    int rc = ernn_net(s, 2, dec, n, p, &net);
    if (rc == NAS_OK) {
        nas__enas_rnn_arc_json(net, dec, b);
        if (b->oom)
            rc = nas_fail(NAS_ENOMEM, "enas-rnn: arc JSON");
    }
    nas__enas_rnn_free(net);
    nas_params_free(p);
    return rc;
}

/* Perplexity of a batchified stream (rows x bsz), eval mode, state from
 * zero. */
static double ernn_eval(nas_graph *g, nas_params *p, const nas__enas_rnn *net, const int *arc,
                        const int32_t *ids, int rows, int bsz, int bptt, float *h)
{
    double sum = 0.0, count = 0.0;
    memset(h, 0, (size_t)bsz * nas__enas_rnn_cfg_of(net)->hidden * sizeof(float));
    nas_graph_set_training(g, 0);
    nas_graph_set_grad(g, 0);
    for (int i = 0; i + 1 < rows; i += bptt) {
        int T = rows - 1 - i < bptt ? rows - 1 - i : bptt;
        nas_graph_reset(g);
        nas_enas_rnn_chunk c = {.rows = ids + (size_t)i * bsz, .T = T, .bsz = bsz, .h = h};
        nas_tensor *loss = nas__enas_rnn_loss(g, p, net, arc, &c, h, NULL);
        sum += (double)loss->data[0] * T * bsz;
        count += (double)T * bsz;
    }
    nas_graph_reset(g);
    nas_graph_set_training(g, 1);
    nas_graph_set_grad(g, 1);
    return count > 0 ? exp(sum / count) : INFINITY;
}

static int ernn_train(const nas_job_spec *s, const int *dec, int n, const nas_nasrl_train_cfg *cfg,
                      const nas__nasrl_data *d, nas_nasrl_child *out)
{
    const nas_corpus *cp = d->corpus;
    int bsz = cfg->batch_size, bptt = s->bptt, H = s->hidden;
    int ebsz = cp->nvalid / 2 < 10 ? cp->nvalid / 2 : 10, trows = 0, vrows = 0;
    double t0 = nas__now();
    memset(out, 0, sizeof(*out));
    if (cp->ntrain < 2 * bsz || ebsz < 1)
        return nas_fail(NAS_EINVAL,
                        "batch_size: %d columns need %d training "
                        "tokens, the corpus has %d (and %d valid)",
                        bsz, 2 * bsz, cp->ntrain, cp->nvalid);
    nas_set_threads(cfg->threads);
    nas_params *p = nas_params_new();
    nas_graph *g = nas_graph_new(0);
    nas__enas_rnn *net = NULL;
    int32_t *train = NULL, *valid = NULL;
    float *h = malloc((size_t)(bsz > ebsz ? bsz : ebsz) * H * sizeof(float));
    nas_rng init, drop;
    int rc;
    if (!p || !g || !h) {
        rc = nas_fail(NAS_ENOMEM, "enas-rnn child: out of memory");
        goto fail;
    }
    if ((rc = ernn_net(s, cp->vocab_size, dec, n, p, &net)) < 0 ||
        (rc = nas_batchify(cp->train, cp->ntrain, bsz, &train, &trows)) < 0 ||
        (rc = nas_batchify(cp->valid, cp->nvalid, ebsz, &valid, &vrows)) < 0)
        goto fail;
    nas_rng_seed(&init, cfg->seed);
    nas_rng_seed(&drop, cfg->seed ^ 0x64726f702d726e67ull);
    if ((rc = nas_params_alloc(p, &init)) < 0)
        goto fail;
    nas_graph_set_rng(g, &drop);
    out->parameters = nas__enas_rnn_arc_params(net, p, dec);
    const nas_enas_rnn_drop dr = {s->dropout_e, s->dropout_x, s->dropout_h, s->dropout_o};
    int64_t spe = (trows - 2) / bptt + 1, total = spe * cfg->epochs;
    nas_sgd sgd = nas__nasrl_sgd(cfg);
    for (int e = 0; e < cfg->epochs; e++) {
        double loss_sum = 0.0;
        int steps = 0;
        memset(h, 0, (size_t)bsz * H * sizeof(float));
        for (int i = 0; i + 1 < trows; i += bptt, steps++) {
            if (cfg->should_stop && cfg->should_stop(cfg->stop_ctx)) {
                rc = NAS_ECANCELLED;
                goto fail;
            }
            if (nas__nasrl_out_of_time(cfg, t0)) {
                out->by_time = 1;
                break;
            }
            int T = trows - 1 - i < bptt ? trows - 1 - i : bptt;
            nas_graph_reset(g);
            nas_enas_rnn_chunk c = {.rows = train + (size_t)i * bsz, .T = T, .bsz = bsz, .h = h};
            nas_tensor *loss = nas__enas_rnn_loss(g, p, net, dec, &c, h, &dr);
            /* summed over the steps, averaged over the batch, as the
             * enas-rnn search trains its children */
            nas__nasrl_sgd_step(cfg, g, p, nas_scale(g, loss, (float)T), &sgd, total);
            loss_sum += loss->data[0];
        }
        if (out->by_time && steps == 0 && e > 0)
            break; /* stopped at an epoch's end: its numbers stand */
        out->train_loss = steps ? loss_sum / steps : 0.0;
        double ppl = ernn_eval(g, p, net, dec, valid, vrows, ebsz, bptt, h);
        if (!isfinite(ppl))
            ppl = 1e30; /* a diverged child: reward ~0, never NaN */
        out->val_metric = ppl;
        out->reward = s->reward_c / ppl;
        if (out->by_time)
            break; /* a part of epoch e: evaluated, not counted */
        out->epochs = e + 1;
    }
    out->seconds = nas__now() - t0;
    if (cfg->keep)
        rc = cfg->keep(cfg->keep_ctx, p, out);
fail:
    nas__enas_rnn_free(net);
    nas_graph_free(g);
    nas_params_free(p);
    free(train);
    free(valid);
    free(h);
    return rc;
}

const nas__nasrl_space nas__random_enas_rnn_space = {
    .name = "enas-rnn",
    .metric = "val_perplexity",
    .text = 1,
    .arc_len = ernn_arc_len,
    .sample_uniform = ernn_sample,
    .arc_json = ernn_json,
    .train = ernn_train,
    .layers = darts_layers,
};
