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
 * The one design decision to know: "uniform" is over each decision, drawn
 * with nas_rng_below (rejection sampling: exactly uniform for any number
 * of choices, no modulo bias); a nasrl-cnn skip is a fair coin; a DARTS
 * node's two inputs are an ordered pair of distinct earlier nodes (the
 * second drawn among the rest, so every pair is equally likely) and each
 * edge's op is uniform over the 7 operations a derived DARTS genotype may
 * hold (all but none). The loop itself (concurrent children, cache,
 * checkpoints, budgets) is nasrl_job.c's, so random search and nas-rl
 * differ only in where the decisions come from.
 */
#include "jobs/jobs.h"
#include "search/darts.h"
#include "search/nasrl.h"

#include <stdio.h>
#include <stdlib.h>

int nas__random_job(nas__job *j)
{
    return nas__nasrl_search(j);   /* the space: nas__nasrl_space_of */
}

/* ------------------------------------------------- darts-cnn genotypes */

static const char *const darts_ops[] = {
    "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
    "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
};
enum { NOPS = 7, NODES = 4, PER_NODE = 4, PER_CELL = NODES * PER_NODE };

static int darts_arc_len(const nas_job_spec *s, int layers)
{
    (void)s;
    (void)layers;
    return 2 * PER_CELL;
}

/* Per cell (normal, then reduce), per node i: first input in [0, i+2),
 * its op, the second input among the i+1 others, its op. */
static void darts_sample(const nas_job_spec *s, int layers, nas_rng *rng,
                         int *dec)
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

static int darts_json(const nas_job_spec *s, const int *dec, int n,
                      nas_json_buf *b)
{
    (void)s;
    if (n != 2 * PER_CELL)
        return nas_fail(NAS_EINVAL, "darts-cnn: %d decisions, not %d", n,
                        2 * PER_CELL);
    char t[64];
    for (int cell = 0; cell < 2; cell++) {
        nas__json_buf_puts(b, cell ? "],\"normal_concat\":[2,3,4,5]"
                                     ",\"reduce\":["
                                   : "{\"normal\":[");
        for (int i = 0; i < NODES; i++) {
            const int *d = dec + cell * PER_CELL + i * PER_NODE;
            if (d[0] < 0 || d[0] >= i + 2 || d[2] < 0 || d[2] >= i + 1 ||
                d[1] < 0 || d[1] >= NOPS || d[3] < 0 || d[3] >= NOPS)
                return nas_fail(NAS_EINVAL, "darts-cnn: node %d of cell %d "
                                "has a decision out of range", i, cell);
            int second = d[2] + (d[2] >= d[0]);
            snprintf(t, sizeof(t), "%s[\"%s\",%d],[\"%s\",%d]", i ? "," : "",
                     darts_ops[d[1]], d[0], darts_ops[d[3]], second);
            nas__json_buf_puts(b, t);
        }
    }
    nas__json_buf_puts(b, "],\"reduce_concat\":[2,3,4,5]}");
    return b->oom ? nas_fail(NAS_ENOMEM, "darts-cnn: genotype") : NAS_OK;
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

static nas_tensor *darts_forward(void *self, nas_graph *g, nas_params *p,
                                 nas_tensor *x)
{
    return nas__darts_fixed_forward(g, p, ((darts_model *)self)->net, x);
}

static int darts_train(const nas_job_spec *s, const int *dec, int n,
                       const nas_nasrl_train_cfg *cfg,
                       const nas__nasrl_data *d, nas_nasrl_child *out)
{
    const nas_dataset *train = d->train, *val = d->val;
    nas_json_buf b = {0};
    darts_model m = {.cfg = {.C = s->C, .layers = s->layers, .h = train->h,
                             .w = train->w}};
    int rc = darts_json(s, dec, n, &b);
    if (rc == NAS_OK)
        rc = nas__darts_genotype_parse(b.s, &m.gt);
    free(b.s);
    if (rc < 0)
        return rc;
    nas__nasrl_model model = {.self = &m, .declare = darts_declare,
                              .forward = darts_forward};
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
