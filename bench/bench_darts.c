// SPDX-License-Identifier: MIT
/*
 * bench_darts.c - time one DARTS search step (architecture step + weight
 * step) of the engine, the counterpart of ../shared/peer/darts_ref.py.
 *
 *   bench/bench_darts [--C 8] [--layers 5] [--batch 32] [--hw 28]
 *                     [--in-ch 1] [--classes 10] [--order 1|2]
 *                     [--threads 1] [--steps 5] [--warmup 1] [--seed 2]
 *                     [--profile N --peak GFLOPS --bw GBS] [--recompute 1|0]
 *
 * What is timed: nas__darts_step on fresh random batches (train and val,
 * like the reference's randn / randint), wall clock per step; the
 * architecture part (nas__darts_arch_grad + Adam) is timed separately by
 * running the same two calls the step makes, so the split is reported from
 * the same steps. Peak RSS is getrusage's ru_maxrss of the whole process
 * at the end (it includes the warm-up steps, as the reference's does).
 *
 * Prints one JSON line with the reference's field names (median_ms,
 * arch_median_ms, weight_median_ms, cpu_util_median, peak_rss_mb, ...)
 * plus arena_peak_mb, the high-water mark of the step arena.
 *
 * --recompute 0: the mixed edges keep their ops on the tape instead of
 * recomputing them in backward (nas__darts_recompute; a job's
 * "recompute": "never"); the line says which ran ("recompute").
 *
 * --profile N: after those, N more steps with the engine's per-op-kind
 * accounting on (core/prof.h), reported as the roofline JSON lines of
 * prof_report.h against the FP32 peak --peak and the memory bandwidth
 * --bw that bench/run_roofline.sh measured (bench_machine).
 *
 * Built a second time as bench/bench_darts_mpi (NAS_BENCH_MPI, with Open
 * MPI) and started under mpirun (bench/run_mpi.sh), the same step runs
 * data parallel the way nasd-rank runs it: every rank draws the same
 * global batches of --batch, takes its slice, and the graph sums through
 * rank/mpi_dist.c. The ranks start each step together (a barrier outside
 * the timed region); rank 0 prints the JSON line with "ranks" and what
 * the group sums cost per step: calls, bytes sent per rank and elements,
 * float (weight and alpha gradients) and double (batch norm statistics,
 * loss, correct count) apart, the median and least time inside them
 * (waiting for the slower rank included), and the median of the rest of
 * the step.
 */
#include "prof_report.h"
#include "search/darts/darts.h"
#ifdef NAS_BENCH_MPI
#include "mpi_dist.h"

#include <mpi.h>
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *t, int n)
{
    double *s = malloc((size_t)n * sizeof(double));
    memcpy(s, t, (size_t)n * sizeof(double));
    qsort(s, (size_t)n, sizeof(double), cmp_double);
    double m = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    free(s);
    return m;
}

static double minmax(const double *t, int n, int max)
{
    double m = t[0];
    for (int i = 1; i < n; i++)
        if (max ? t[i] > m : t[i] < m)
            m = t[i];
    return m;
}

typedef struct {
    int C, layers, batch, hw, in_ch, classes, order, threads, steps, warmup, profile, recompute;
    uint64_t seed;
    double peak, bw; /* GFLOP/s, GB/s of the roofline */
} opts;

static int parse(int argc, char **argv, opts *o)
{
    static const struct {
        const char *name;
        size_t off;
    } table[] = {
        {"--C", offsetof(opts, C)},
        {"--layers", offsetof(opts, layers)},
        {"--batch", offsetof(opts, batch)},
        {"--hw", offsetof(opts, hw)},
        {"--in-ch", offsetof(opts, in_ch)},
        {"--classes", offsetof(opts, classes)},
        {"--order", offsetof(opts, order)},
        {"--threads", offsetof(opts, threads)},
        {"--steps", offsetof(opts, steps)},
        {"--warmup", offsetof(opts, warmup)},
        {"--profile", offsetof(opts, profile)},
        {"--recompute", offsetof(opts, recompute)},
    };
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            o->seed = strtoull(argv[++i], NULL, 10);
            continue;
        }
        if ((!strcmp(argv[i], "--peak") || !strcmp(argv[i], "--bw")) && i + 1 < argc) {
            *(argv[i][2] == 'p' ? &o->peak : &o->bw) = atof(argv[i + 1]);
            i++;
            continue;
        }
        size_t k = 0;
        for (; k < sizeof(table) / sizeof(table[0]); k++)
            if (!strcmp(argv[i], table[k].name))
                break;
        if (k == sizeof(table) / sizeof(table[0]) || i + 1 >= argc) {
            fprintf(stderr, "bench_darts: unknown or incomplete option %s\n", argv[i]);
            return -1;
        }
        *(int *)((char *)o + table[k].off) = atoi(argv[++i]);
    }
    if (o->order != 1 && o->order != 2) {
        fprintf(stderr, "bench_darts: --order is 1 or 2\n");
        return -1;
    }
    if (o->steps < 1 || o->warmup < 0 || o->batch < 1 || o->threads < 1 || o->profile < 0) {
        fprintf(stderr, "bench_darts: --steps, --batch, --threads >= 1, --profile >= 0\n");
        return -1;
    }
    if (o->profile && (o->peak <= 0 || o->bw <= 0)) {
        fprintf(stderr, "bench_darts: --profile needs --peak GFLOPS and --bw GB/s\n");
        return -1;
    }
    return 0;
}

/* The data-parallel group of the MPI build; one rank of one otherwise. */
typedef struct group {
    int rank, size;
#ifdef NAS_BENCH_MPI
    nas_dist d;
#endif
} group;

static void group_init(group *gr, int *argc, char ***argv)
{
    *gr = (group){.rank = 0, .size = 1};
#ifdef NAS_BENCH_MPI
    MPI_Init(argc, argv);
    if (nas_mpi_dist_init(&gr->d) != NAS_OK)
        MPI_Abort(MPI_COMM_WORLD, 2);
    gr->rank = gr->d.rank;
    gr->size = gr->d.size;
#else
    (void)argc;
    (void)argv;
#endif
}

/* The graph sums over the group; the batches of every step are global. */
static void group_attach(group *gr, nas_graph *g, nas__darts_search *s, int batch)
{
#ifdef NAS_BENCH_MPI
    nas_graph_set_dist(g, &gr->d);
    s->global_batch = batch;
#else
    (void)gr;
    (void)g;
    (void)s;
    (void)batch;
#endif
}

static void group_sync(const group *gr)
{
    (void)gr;
#ifdef NAS_BENCH_MPI
    MPI_Barrier(MPI_COMM_WORLD);
#endif
}

/* The sums so far: [0] float, [1] double; zeros without a group. */
typedef struct sums {
    double calls[2], elems[2], bytes[2], seconds;
} sums;

static sums group_sums(const group *gr)
{
    sums r = {.seconds = 0};
#ifdef NAS_BENCH_MPI
    nas_mpi_sum_count c[2];
    nas_mpi_dist_counts(&gr->d, &c[0], &c[1]);
    for (int k = 0; k < 2; k++) {
        r.calls[k] = (double)c[k].calls;
        r.elems[k] = c[k].elems;
        r.bytes[k] = c[k].bytes;
        r.seconds += c[k].seconds;
    }
#else
    (void)gr;
#endif
    return r;
}

static void group_end(group *gr)
{
    (void)gr;
#ifdef NAS_BENCH_MPI
    nas_mpi_dist_free(&gr->d);
    MPI_Finalize();
#endif
}

/* randn images and uniform labels, like the reference's batch(). */
static void fill_batch(nas_rng *r, float *x, int32_t *y, size_t nx, int n, int classes)
{
    for (size_t i = 0; i < nx; i++)
        x[i] = nas_rng_normal(r);
    for (int i = 0; i < n; i++)
        y[i] = (int32_t)nas_rng_below(r, (uint32_t)classes);
}

int main(int argc, char **argv)
{
    opts o = {.C = 8,
              .layers = 5,
              .batch = 32,
              .hw = 28,
              .in_ch = 1,
              .classes = 10,
              .order = 1,
              .threads = 1,
              .steps = 5,
              .warmup = 1,
              .recompute = 1,
              .seed = 2};
    group grp;
    group_init(&grp, &argc, &argv);
    if (parse(argc, argv, &o) < 0)
        return 2;
    nas_set_threads(o.threads);

    nas_darts_cfg cfg = {
        .C = o.C, .layers = o.layers, .in_c = o.in_ch, .h = o.hw, .w = o.hw, .classes = o.classes};
    nas_darts_hp hp = {.order = o.order,
                       .momentum = 0.9f,
                       .weight_decay = 3e-4f,
                       .grad_clip = 5.0f,
                       .arch_lr = 3e-4f,
                       .arch_beta1 = 0.5f,
                       .arch_beta2 = 0.999f,
                       .arch_weight_decay = 1e-3f};
    nas_params *p = nas_params_new();
    nas__darts_net *net = NULL;
    nas_rng rng;
    nas_rng_seed(&rng, o.seed);
    int rc = nas__darts_declare(p, &cfg, &net);
    if (rc == NAS_OK)
        rc = nas_params_alloc(p, &rng);
    if (rc == NAS_OK)
        nas__darts_recompute(net, o.recompute != 0);
    if (rc < 0) {
        fprintf(stderr, "bench_darts: %s: %s\n", nas_strerror(rc), nas_errmsg());
        return 1;
    }
    nas_graph *g = nas_graph_new(0);
    nas__darts_search s;
    if (!g || nas__darts_search_init(&s, p, g, net, &cfg, &hp) < 0) {
        fprintf(stderr, "bench_darts: init failed: %s\n", nas_errmsg());
        return 1;
    }
    group_attach(&grp, g, &s, o.batch);
    /* This rank's slice of every global batch, as nasd-rank cuts it. */
    const int lo = o.batch * grp.rank / grp.size, hi = o.batch * (grp.rank + 1) / grp.size;
    const size_t img = (size_t)o.in_ch * o.hw * o.hw;

    size_t nx = (size_t)o.batch * o.in_ch * o.hw * o.hw;
    float *xt = malloc(nx * sizeof(float)), *xv = malloc(nx * sizeof(float));
    int32_t *yt = malloc((size_t)o.batch * sizeof(int32_t));
    int32_t *yv = malloc((size_t)o.batch * sizeof(int32_t));
    int total = o.warmup + o.steps;
    double *t_all = calloc((size_t)o.steps, sizeof(double));
    double *t_arch = calloc((size_t)o.steps, sizeof(double));
    double *t_weight = calloc((size_t)o.steps, sizeof(double));
    double *util = calloc((size_t)o.steps, sizeof(double));
    double *t_sum = calloc((size_t)o.steps, sizeof(double));
    sums step_sums = {.seconds = 0};
    if (!xt || !xv || !yt || !yv || !t_all || !t_arch || !t_weight || !util || !t_sum)
        return 1;
    double load0[1] = {0};
    getloadavg(load0, 1);
    const float lr = 0.025f;
    double loss = 0.0;
    for (int it = 0; it < total; it++) {
        fill_batch(&rng, xt, yt, nx, o.batch, o.classes);
        fill_batch(&rng, xv, yv, nx, o.batch, o.classes);
        nas_darts_batch train = {xt + lo * img, yt + lo, hi - lo},
                        val = {xv + lo * img, yv + lo, hi - lo};
        group_sync(&grp);
        sums s0 = group_sums(&grp);
        double c0 = cpu_s(), t0 = now_s();
        nas_darts_stats st;
        nas__darts_step(&s, &train, &val, lr, &st);
        double t2 = now_s(), c2 = cpu_s();
        sums s2 = group_sums(&grp);
        loss = st.train_loss;
        if (grp.rank == 0)
            fprintf(stderr, "step %d%s: %.1f ms (sums %.1f ms) loss %.4f\n", it,
                    it < o.warmup ? " (warm-up)" : "", 1e3 * (t2 - t0),
                    1e3 * (s2.seconds - s0.seconds), loss);
        if (it >= o.warmup) {
            int k = it - o.warmup;
            t_all[k] = t2 - t0;
            util[k] = (c2 - c0) / ((t2 - t0) * o.threads);
            t_sum[k] = s2.seconds - s0.seconds;
            for (int e = 0; e < 2; e++) { /* the same every step */
                step_sums.calls[e] = s2.calls[e] - s0.calls[e];
                step_sums.elems[e] = s2.elems[e] - s0.elems[e];
                step_sums.bytes[e] = s2.bytes[e] - s0.bytes[e];
            }
        }
    }
    /* The architecture half alone, on the same kind of batches, for the
     * split (it leaves weights and BN statistics unchanged). */
    for (int k = 0; k < o.steps; k++) {
        fill_batch(&rng, xt, yt, nx, o.batch, o.classes);
        fill_batch(&rng, xv, yv, nx, o.batch, o.classes);
        nas_darts_batch train = {xt + lo * img, yt + lo, hi - lo},
                        val = {xv + lo * img, yv + lo, hi - lo};
        group_sync(&grp);
        double t0 = now_s();
        nas__darts_arch_grad(&s, &train, &val, o.order, lr, NULL);
        t_arch[k] = now_s() - t0;
    }
    double arch = median(t_arch, o.steps), all = median(t_all, o.steps);
    /* The roofline report: more steps with the accounting on. */
    nas_prof sum = {.peak_flops = 1e9 * o.peak, .bandwidth = 1e9 * o.bw};
    double prof_wall = 0.0;
    for (int k = 0; k < o.profile; k++) {
        fill_batch(&rng, xt, yt, nx, o.batch, o.classes);
        fill_batch(&rng, xv, yv, nx, o.batch, o.classes);
        nas_darts_batch train = {xt + lo * img, yt + lo, hi - lo},
                        val = {xv + lo * img, yv + lo, hi - lo};
        nas_prof one = {.peak_flops = sum.peak_flops, .bandwidth = sum.bandwidth};
        nas_darts_stats st;
        double t0 = now_s();
        nas_prof_start(&one);
        nas__darts_step(&s, &train, &val, lr, &st);
        nas_prof_stop();
        prof_wall += now_s() - t0;
        prof_add(&sum, &one);
    }
    for (int k = 0; k < o.steps; k++)
        t_weight[k] = t_all[k] - arch;
    double load1[1] = {0};
    getloadavg(load1, 1);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    size_t nw = 0;
    nas_params_group(p, NAS_GROUP_WEIGHTS, NULL, NULL, NULL, NULL, &nw);
    if (grp.rank == 0)
        printf("{\"bench\": \"darts\", \"impl\": \"nasd\", \"C\": %d, \"layers\": %d, "
               "\"batch\": %d, \"hw\": %d, \"in_ch\": %d, \"order\": %d, "
               "\"threads\": %d, \"weights\": %zu, \"timed_steps\": %d, "
               "\"warmup\": %d, \"median_ms\": %.2f, \"min_ms\": %.2f, "
               "\"max_ms\": %.2f, \"arch_median_ms\": %.2f, "
               "\"weight_median_ms\": %.2f, \"cpu_util_median\": %.3f, "
               "\"loadavg_start\": %.2f, \"loadavg_end\": %.2f, "
               "\"peak_rss_mb\": %.1f, \"arena_peak_mb\": %.1f, "
               "\"last_loss\": %.4f, \"recompute\": %s",
               o.C, o.layers, o.batch, o.hw, o.in_ch, o.order, o.threads, nw, o.steps, o.warmup,
               1e3 * all, 1e3 * minmax(t_all, o.steps, 0), 1e3 * minmax(t_all, o.steps, 1),
               1e3 * arch, 1e3 * median(t_weight, o.steps), median(util, o.steps), load0[0],
               load1[0], (double)ru.ru_maxrss / 1024.0,
               (double)nas_arena_peak(nas_graph_arena(g)) / (1024.0 * 1024.0), loss,
               o.recompute ? "true" : "false");
    if (grp.rank == 0 && grp.size > 1) {
        /* What the step spent outside the sums, per step (t_weight is
         * done with: it becomes that). */
        for (int k = 0; k < o.steps; k++)
            t_weight[k] = t_all[k] - t_sum[k];
        printf(", \"ranks\": %d, \"sum_calls_f32\": %.0f, \"sum_calls_f64\": %.0f, "
               "\"sum_elems_f32\": %.0f, \"sum_elems_f64\": %.0f, "
               "\"sum_bytes_f32\": %.0f, \"sum_bytes_f64\": %.0f, \"sum_median_ms\": %.2f, "
               "\"sum_min_ms\": %.2f, \"outside_sums_median_ms\": %.2f",
               grp.size, step_sums.calls[0], step_sums.calls[1], step_sums.elems[0],
               step_sums.elems[1], step_sums.bytes[0], step_sums.bytes[1],
               1e3 * median(t_sum, o.steps), 1e3 * minmax(t_sum, o.steps, 0),
               1e3 * median(t_weight, o.steps));
    }
    if (grp.rank == 0)
        printf("}\n");
    if (o.profile && grp.rank == 0) {
        char tag[64];
        snprintf(tag, sizeof(tag), "darts C%d L%d b%d o%d%s", o.C, o.layers, o.batch, o.order,
                 o.recompute ? "" : " keep");
        /* forwards: val and train (order 1); train for w', val at w',
         * the two probes and train (order 2) */
        prof_report(tag, o.threads, &sum, o.profile, 1e3 * all, 1e3 * prof_wall / o.profile,
                    o.order == 1 ? 2 : 5, o.order == 1 ? 6 : 13);
    }
    free(xt);
    free(xv);
    free(yt);
    free(yv);
    free(t_all);
    free(t_arch);
    free(t_weight);
    free(util);
    free(t_sum);
    nas__darts_search_free(&s);
    nas_graph_free(g);
    nas__darts_net_free(net);
    nas_params_free(p);
    group_end(&grp);
    return 0;
}
