// SPDX-License-Identifier: MIT
/*
 * bench_enas.c - one ENAS micro child training step (issue #5): a sampled
 * child of the shared weights, forward + backward on one batch, gradient
 * clip and one SGD (Nesterov) step, as ../shared/peer/enas_ref.py --part
 * child times it.
 *
 *   bench_enas [--C 20] [--layers 6] [--nodes 5] [--batch 64] [--hw 32]
 *              [--in-ch 3] [--threads 1] [--steps 5] [--warmup 2]
 *              [--seed 0] [--sep 0.55] [--no-recompute]
 *              [--profile N --peak GFLOPS --bw GBS]
 *
 * Children: each op is a separable conv with probability --sep (half 3x3,
 * half 5x5), else one of the pools and identity; inputs uniform. 0.55
 * matches the sep convs per arc the reference's untrained controller
 * draws (its op bias favours them; its JSON line lists them as
 * sep_convs_per_arc, and so does ours). The reference's controller
 * sampling inside its step (a few ms) is not timed here. The data are
 * random tensors, as in the reference. Peak RSS is getrusage's
 * ru_maxrss of the whole process. Prints one JSON line with the
 * reference's field names plus arena_peak_mb.
 *
 * --profile N: N more steps with the engine's per-op-kind accounting on,
 * reported as prof_report.h's roofline lines (see bench_darts.c).
 */
#include "prof_report.h"
#include "search/enas/enas_micro.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

typedef struct opts {
    int C, layers, nodes, batch, hw, in_ch, threads, steps, warmup;
    int recompute, profile;
    uint64_t seed;
    double sep, peak, bw;
} opts;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *t, int n)
{
    double *s = malloc((size_t)n * sizeof(double));
    memcpy(s, t, (size_t)n * sizeof(double));
    qsort(s, (size_t)n, sizeof(double), cmp);
    double m = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    free(s);
    return m;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_enas [--C N] [--layers N] [--nodes N] "
                    "[--batch N] [--hw N] [--in-ch N] [--threads N] "
                    "[--steps N] [--warmup N] [--seed N] [--sep P] "
                    "[--no-recompute] [--profile N --peak GFLOPS --bw GBS]\n");
    exit(2);
}

static void parse(int argc, char **argv, opts *o)
{
    *o = (opts){.C = 20,
                .layers = 6,
                .nodes = 5,
                .batch = 64,
                .hw = 32,
                .in_ch = 3,
                .threads = 1,
                .steps = 5,
                .warmup = 2,
                .recompute = 1,
                .sep = 0.55};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--no-recompute")) {
            o->recompute = 0;
            continue;
        }
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--C"))
            o->C = atoi(v);
        else if (!strcmp(a, "--layers"))
            o->layers = atoi(v);
        else if (!strcmp(a, "--nodes"))
            o->nodes = atoi(v);
        else if (!strcmp(a, "--batch"))
            o->batch = atoi(v);
        else if (!strcmp(a, "--hw"))
            o->hw = atoi(v);
        else if (!strcmp(a, "--in-ch"))
            o->in_ch = atoi(v);
        else if (!strcmp(a, "--threads"))
            o->threads = atoi(v);
        else if (!strcmp(a, "--steps"))
            o->steps = atoi(v);
        else if (!strcmp(a, "--warmup"))
            o->warmup = atoi(v);
        else if (!strcmp(a, "--seed"))
            o->seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--sep"))
            o->sep = atof(v);
        else if (!strcmp(a, "--profile"))
            o->profile = atoi(v);
        else if (!strcmp(a, "--peak"))
            o->peak = atof(v);
        else if (!strcmp(a, "--bw"))
            o->bw = atof(v);
        else
            usage();
    }
    if (o->steps < 1 || o->warmup < 0 || o->threads < 1 || o->profile < 0 ||
        (o->profile && (o->peak <= 0 || o->bw <= 0)))
        usage();
}

/* A child by walking the space's program; returns its sep convs. */
static int sample(const nas_ctrl_step *prog, int n, nas_rng *r, double sep, int *arc)
{
    int k = 0, seps = 0;
    for (int i = 0; i < n; i++) {
        if (nas_ctrl_kind(&prog[i]) == NAS_CTRL_PICK) {
            arc[k++] = (int)nas_rng_below(r, (uint32_t)prog[i].n);
        } else if (nas_ctrl_kind(&prog[i]) == NAS_CTRL_CHOICE) {
            /* ops 0, 1: sep_conv_3x3, sep_conv_5x5; 2..4 the others */
            int s = nas_rng_uniform(r) < sep;
            arc[k++] = s ? (int)nas_rng_below(r, 2) : 2 + (int)nas_rng_below(r, 3);
            seps += s;
        }
    }
    return seps;
}

typedef struct step_args {
    void *sp;
    nas_graph *g;
    nas_params *p;
    const int *arc;
    const float *x;
    const int32_t *y;
    size_t nx;
    const opts *o;
    nas_sgd *sgd;
} step_args;

/* One child step on the batch: forward, loss, backward, clip, SGD. */
static nas_tensor *child_step(const step_args *a)
{
    const opts *o = a->o;
    nas_graph_reset(a->g);
    nas_params_zero_grad(a->p, NAS_MASK(NAS_GROUP_WEIGHTS));
    nas_tensor *xt = nas_tensor_new4(a->g, o->batch, o->in_ch, o->hw, o->hw);
    memcpy(xt->data, a->x, a->nx * sizeof(float));
    nas_tensor *logits = nas__enas_micro.forward(a->sp, a->g, a->p, a->arc, xt, 1);
    nas_tensor *loss = nas_cross_entropy(a->g, logits, a->y);
    nas_graph_backward(a->g, loss, NAS_MASK(NAS_GROUP_WEIGHTS));
    nas_clip_grad_norm(a->p, NAS_GROUP_WEIGHTS, 5.0f);
    nas_sgd_step(a->sgd, a->p, NAS_GROUP_WEIGHTS);
    return loss;
}

int main(int argc, char **argv)
{
    opts o;
    parse(argc, argv, &o);
    nas_set_threads(o.threads);
    nas_enas_cfg cfg = {.C = o.C,
                        .layers = o.layers,
                        .nodes = o.nodes,
                        .in_c = o.in_ch,
                        .h = o.hw,
                        .w = o.hw,
                        .classes = 10,
                        .dropout = 0.1f};
    nas_params *p = nas_params_new();
    nas_graph *g = nas_graph_new(0);
    void *sp = NULL;
    if (nas__enas_micro.declare(p, &cfg, &sp) < 0) {
        fprintf(stderr, "bench_enas: %s\n", nas_errmsg());
        return 1;
    }
    nas__enas_micro_recompute(sp, o.recompute);
    nas_rng r;
    nas_rng_seed(&r, o.seed);
    if (nas_params_alloc(p, &r) < 0) {
        fprintf(stderr, "bench_enas: %s\n", nas_errmsg());
        return 1;
    }
    nas_ctrl_cfg cc = {0};
    int nprog;
    const nas_ctrl_step *prog = nas__enas_micro.program(sp, &nprog, &cc);
    int *arc = calloc((size_t)(8 * o.nodes), sizeof(int));
    size_t nx = (size_t)o.batch * o.in_ch * o.hw * o.hw;
    float *x = malloc(nx * sizeof(float));
    int32_t *y = malloc((size_t)o.batch * sizeof(int32_t));
    for (size_t i = 0; i < nx; i++)
        x[i] = nas_rng_normal(&r);
    for (int i = 0; i < o.batch; i++)
        y[i] = (int32_t)nas_rng_below(&r, 10);
    nas_rng drop;
    nas_rng_seed(&drop, o.seed + 1);
    nas_graph_set_rng(g, &drop);
    nas_graph_set_training(g, 1);
    /* TF's l2 1e-4 * sum(w^2) as the reference's torch run has it. */
    nas_sgd sgd = {.lr = 0.05f, .momentum = 0.9f, .weight_decay = 2e-4f, .nesterov = 1};
    int total = o.warmup + o.steps;
    double *wall = calloc((size_t)total, sizeof(double));
    double *util = calloc((size_t)total, sizeof(double));
    int *seps = calloc((size_t)total, sizeof(int));
    size_t used = 0;
    step_args sa = {sp, g, p, arc, x, y, nx, &o, &sgd};
    for (int it = 0; it < total; it++) {
        double t0 = now(), c0 = cpu_now();
        seps[it] = sample(prog, nprog, &r, o.sep, arc);
        nas_tensor *loss = child_step(&sa);
        double t1 = now(), c1 = cpu_now();
        wall[it] = t1 - t0;
        util[it] = (c1 - c0) / ((t1 - t0) * o.threads);
        if (it == total - 1)
            used = nas__enas_micro.arc_params(sp, p, arc);
        fprintf(stderr, "step %d%s: %.2f ms, loss %.4f\n", it, it < o.warmup ? " (warm-up)" : "",
                1e3 * wall[it], (double)loss->data[0]);
    }
    /* The roofline report: more children with the accounting on. */
    nas_prof sum = {.peak_flops = 1e9 * o.peak, .bandwidth = 1e9 * o.bw};
    double prof_wall = 0.0;
    for (int k = 0; k < o.profile; k++) {
        sample(prog, nprog, &r, o.sep, arc);
        nas_prof one = {.peak_flops = sum.peak_flops, .bandwidth = sum.bandwidth};
        double t0 = now();
        nas_prof_start(&one);
        child_step(&sa);
        nas_prof_stop();
        prof_wall += now() - t0;
        prof_add(&sum, &one);
    }
    double *tw = wall + o.warmup, mn = tw[0], mx = tw[0];
    for (int i = 1; i < o.steps; i++) {
        mn = fmin(mn, tw[i]);
        mx = fmax(mx, tw[i]);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    size_t nw = 0;
    nas_params_group(p, NAS_GROUP_WEIGHTS, NULL, NULL, NULL, NULL, &nw);
    printf("{\"bench\": \"enas\", \"part\": \"child\", "
           "\"threads\": %d, \"C\": %d, \"layers\": %d, \"nodes\": %d, "
           "\"batch\": %d, \"hw\": %d, \"aux\": false, \"recompute\": %s, "
           "\"weights\": %zu, \"child_weights_last\": %zu, "
           "\"sep_convs_per_arc\": [",
           o.threads, o.C, o.layers, o.nodes, o.batch, o.hw, o.recompute ? "true" : "false", nw,
           used);
    for (int i = 0; i < o.steps; i++)
        printf("%s%d", i ? ", " : "", seps[o.warmup + i]);
    printf("], \"timed_steps\": %d, \"warmup\": %d, \"median_ms\": %.3f, "
           "\"min_ms\": %.3f, \"max_ms\": %.3f, \"cpu_util_median\": %.3f, "
           "\"peak_rss_mb\": %.1f, \"arena_peak_mb\": %.1f, \"scratch_peak_mb\": %.1f}\n",
           o.steps, o.warmup, 1e3 * median(tw, o.steps), 1e3 * mn, 1e3 * mx,
           median(util + o.warmup, o.steps), (double)ru.ru_maxrss / 1024.0,
           (double)nas_arena_peak(nas_graph_arena(g)) / (1024.0 * 1024.0),
           (double)nas__enas_micro_scratch_peak(sp) / (1024.0 * 1024.0));
    if (o.profile) {
        char tag[64];
        snprintf(tag, sizeof(tag), "enas child C%d L%d b%d", o.C, o.layers, o.batch);
        prof_report(tag, o.threads, &sum, o.profile, 1e3 * median(tw, o.steps),
                    1e3 * prof_wall / o.profile, 1, 3);
    }
    free(wall);
    free(util);
    free(seps);
    free(x);
    free(y);
    free(arc);
    nas__enas_micro.free(sp);
    nas_graph_free(g);
    nas_params_free(p);
    return 0;
}
