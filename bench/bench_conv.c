// SPDX-License-Identifier: MIT
/*
 * bench_conv.c - time the engine's convolutions on the shapes of a DARTS
 * supernet and compare them with cblas_sgemm on the GEMM shape they reduce
 * to, measured in the same run.
 *
 *   bench/bench_conv [--threads N] [--reps N] [--quick]
 *
 * What is timed (wall clock, median over reps after 2 warm-ups):
 *   fwd      nas_conv2d on a fresh graph (x a leaf of NAS_GROUP_INPUT, w a
 *            leaf of NAS_GROUP_WEIGHTS, so the op records its tape node).
 *   fwd+bwd  the same forward, then the conv's own backward node called
 *            with a fixed random dy seeded as y->grad, for dx and dW. This
 *            is what nas_graph_backward runs for the conv, minus the loss
 *            op and the zeroing of y->grad a real loss would add; it matches
 *            PyTorch's conv(x).backward(dy) in bench/torch_conv.py. That is
 *            why this program includes internal.h (the tape layout).
 * FLOPs are 2 * MACs for fwd and 3x that for fwd+bwd (dx and dW).
 *
 * The sgemm reference runs per image the GEMMs a im2col convolution of that
 * shape needs: fwd (M=Co, K=Ci/g*k*k, N=Ho*Wo), and for fwd+bwd also dW
 * (Co x K over N) and dcol (K x N over Co), batch times (batch * channels
 * times with M=1 for depthwise: the per-channel GEMM, only for scale).
 *
 * One aligned table on stdout, then one JSON line per row ("{" first) for
 * bench/run_conv.sh.
 */
#include "internal.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *name;
    int k, dil, dw; /* dw: depthwise (groups = C) */
} op_def;

typedef struct {
    int c, hw, batch;
} cfg_def;

static const op_def ops[] = {
    {"conv1x1", 1, 1, 0}, {"conv3x3", 3, 1, 0},    {"conv5x5", 5, 1, 0},    {"dw3x3", 3, 1, 1},
    {"dw5x5", 5, 1, 1},   {"dw3x3_dil2", 3, 2, 1}, {"dw5x5_dil2", 5, 2, 1},
};
static const cfg_def cfgs[] = {{8, 28, 32}, {16, 32, 64}};

static int reps = 10, warmups = 2;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static void fill(float *p, size_t n, nas_rng *r)
{
    for (size_t i = 0; i < n; i++)
        p[i] = nas_rng_uniform(r) - 0.5f;
}

typedef struct {
    nas_graph *g;
    nas_tensor *x, *w;
    float *dy;
    int pad, dil, groups;
} conv_case;

/* One forward (and backward when bwd) on a reset graph; seconds. */
static double run_conv(conv_case *cc, int bwd)
{
    nas_graph *g = cc->g;
    nas_graph_reset(g);
    double t0 = now_s();
    nas_tensor *y = nas_conv2d(g, cc->x, cc->w, NULL, 1, cc->pad, cc->dil, cc->groups);
    if (bwd) {
        NAS_ASSERT(g->ntape > 0 && g->tape[g->ntape - 1]->out == y);
        nas_node *nd = g->tape[g->ntape - 1];
        y->grad = cc->dy;
        g->bwd_mask = NAS_MASK(NAS_GROUP_WEIGHTS) | NAS_MASK(NAS_GROUP_INPUT);
        nd->bwd(g, nd);
        g->bwd_mask = 0;
    }
    return now_s() - t0;
}

static double time_conv(conv_case *cc, int bwd)
{
    double t[1000];
    for (int i = 0; i < warmups; i++)
        run_conv(cc, bwd);
    for (int i = 0; i < reps; i++)
        t[i] = run_conv(cc, bwd);
    return median(t, reps);
}

typedef struct {
    int m, k, n, times;
    float *a, *b, *c, *dw, *dcol;
} gemm_case;

static double run_gemm(gemm_case *gc, int bwd)
{
    const int m = gc->m, k = gc->k, n = gc->n;
    double t0 = now_s();
    for (int i = 0; i < gc->times; i++) {
        /* y (m, n) = w (m, k) @ col (k, n) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, gc->a, k, gc->b, n,
                    0.0f, gc->c, n);
        if (bwd) {
            /* dw (m, k) += dy (m, n) @ col^T (n, k) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, k, n, 1.0f, gc->c, n, gc->b, n,
                        1.0f, gc->dw, k);
            /* dcol (k, n) = w^T (k, m) @ dy (m, n) */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, n, m, 1.0f, gc->a, k, gc->c, n,
                        0.0f, gc->dcol, n);
        }
    }
    return now_s() - t0;
}

static double time_gemm(gemm_case *gc, int bwd)
{
    double t[1000];
    for (int i = 0; i < warmups; i++)
        run_gemm(gc, bwd);
    for (int i = 0; i < reps; i++)
        t[i] = run_gemm(gc, bwd);
    return median(t, reps);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_conv [--threads N] [--reps N] [--quick]\n");
}

int main(int argc, char **argv)
{
    int threads = 1, quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--quick")) {
            quick = 1;
        } else {
            usage();
            return 2;
        }
    }
    if (quick) {
        reps = 3;
        warmups = 1;
    }
    if (reps < 1 || reps > 1000 || threads < 1) {
        usage();
        return 2;
    }
    nas_set_threads(threads);

    printf("nasd bench_conv: threads=%d, median of %d reps after %d warm-ups "
           "(ms); FLOP = 2*MACs fwd, 3x for fwd+bwd\n",
           threads, reps, warmups);
    printf("the machine is shared: expect 10-30%% run-to-run noise; compare "
           "ratios within one run\n\n");
    printf("%-16s %-12s %8s %8s %7s %7s | %-16s %8s %8s %7s | %6s %6s\n", "config", "op", "fwd",
           "fwd+bwd", "GF/s", "GF/s", "sgemm M,K,N", "fwd", "fwd+bwd", "GF/s", "ratio", "ratio");
    printf("%-16s %-12s %8s %8s %7s %7s | %-16s %8s %8s %7s | %6s %6s\n", "", "", "ms", "ms", "fwd",
           "f+b", "(x times)", "ms", "ms", "f+b", "fwd", "f+b");

    char json[64][512];
    int njson = 0;
    nas_rng rng;
    nas_rng_seed(&rng, 42);
    for (size_t ci = 0; ci < sizeof(cfgs) / sizeof(cfgs[0]); ci++) {
        const cfg_def *cf = &cfgs[ci];
        nas_graph *hold = nas_graph_new(1 << 20);
        nas_graph *g = nas_graph_new(64 << 20);
        NAS_ASSERT(hold && g);
        int xs[4] = {cf->batch, cf->c, cf->hw, cf->hw};
        nas_tensor *x = nas_tensor_leaf(hold, 4, xs, NAS_GROUP_INPUT);
        fill(x->data, nas_tensor_numel(x), &rng);
        size_t ny = nas_tensor_numel(x); /* stride 1, size-keeping pad */
        float *dy = nas_arena_alloc(nas_graph_arena(hold), ny * sizeof(float));
        fill(dy, ny, &rng);
        char cfgname[32];
        snprintf(cfgname, sizeof(cfgname), "C%d@%d b%d", cf->c, cf->hw, cf->batch);
        for (size_t oi = 0; oi < sizeof(ops) / sizeof(ops[0]); oi++) {
            const op_def *op = &ops[oi];
            int groups = op->dw ? cf->c : 1;
            int cig = cf->c / groups;
            int wsh[4] = {cf->c, cig, op->k, op->k};
            nas_tensor *w = nas_tensor_leaf(hold, 4, wsh, NAS_GROUP_WEIGHTS);
            fill(w->data, nas_tensor_numel(w), &rng);
            conv_case cc = {g, x, w, dy, op->dil * (op->k - 1) / 2, op->dil, groups};
            double fwd = time_conv(&cc, 0), fb = time_conv(&cc, 1);

            int hw = cf->hw * cf->hw;
            gemm_case gc = {
                .m = op->dw ? 1 : cf->c,
                .k = cig * op->k * op->k,
                .n = hw,
                .times = op->dw ? cf->batch * cf->c : cf->batch,
            };
            size_t na = (size_t)gc.m * gc.k, nb = (size_t)gc.k * gc.n, nc = (size_t)gc.m * gc.n;
            gc.a = malloc(na * sizeof(float));
            gc.b = malloc(nb * sizeof(float));
            gc.c = malloc(nc * sizeof(float));
            gc.dw = calloc(na, sizeof(float));
            gc.dcol = malloc(nb * sizeof(float));
            NAS_ASSERT(gc.a && gc.b && gc.c && gc.dw && gc.dcol);
            fill(gc.a, na, &rng);
            fill(gc.b, nb, &rng);
            double gfwd = time_gemm(&gc, 0), gfb = time_gemm(&gc, 1);
            free(gc.a);
            free(gc.b);
            free(gc.c);
            free(gc.dw);
            free(gc.dcol);

            double flop = 2.0 * cf->batch * cf->c * hw * (double)cig * op->k * op->k;
            double gf_f = flop / fwd * 1e-9, gf_fb = 3 * flop / fb * 1e-9;
            double sg_f = flop / gfwd * 1e-9, sg_fb = 3 * flop / gfb * 1e-9;
            char shape[32];
            snprintf(shape, sizeof(shape), "%d,%d,%d x%d", gc.m, gc.k, gc.n, gc.times);
            printf("%-16s %-12s %8.3f %8.3f %7.1f %7.1f | %-16s %8.3f %8.3f %7.1f | "
                   "%6.2f %6.2f\n",
                   cfgname, op->name, 1e3 * fwd, 1e3 * fb, gf_f, gf_fb, shape, 1e3 * gfwd,
                   1e3 * gfb, sg_fb, gf_f / sg_f, gf_fb / sg_fb);
            fflush(stdout);
            if (njson < 64)
                snprintf(json[njson++], sizeof(json[0]),
                         "{\"impl\":\"nasd\",\"threads\":%d,\"reps\":%d,"
                         "\"c\":%d,\"hw\":%d,\"batch\":%d,\"op\":\"%s\","
                         "\"k\":%d,\"dil\":%d,\"depthwise\":%s,\"mflop_fwd\":%.3f,"
                         "\"fwd_ms\":%.4f,\"fb_ms\":%.4f,\"fwd_gflops\":%.2f,"
                         "\"fb_gflops\":%.2f,\"sgemm_m\":%d,\"sgemm_k\":%d,"
                         "\"sgemm_n\":%d,\"sgemm_times\":%d,\"sgemm_fwd_ms\":%.4f,"
                         "\"sgemm_fb_ms\":%.4f,\"sgemm_fwd_gflops\":%.2f,"
                         "\"sgemm_fb_gflops\":%.2f,\"ratio_fwd\":%.3f,"
                         "\"ratio_fb\":%.3f}",
                         threads, reps, cf->c, cf->hw, cf->batch, op->name, op->k, op->dil,
                         op->dw ? "true" : "false", flop * 1e-6, 1e3 * fwd, 1e3 * fb, gf_f, gf_fb,
                         gc.m, gc.k, gc.n, gc.times, 1e3 * gfwd, 1e3 * gfb, sg_f, sg_fb,
                         gf_f / sg_f, gf_fb / sg_fb);
        }
        nas_graph_free(g);
        nas_graph_free(hold);
    }
    printf("\nratio = our GFLOP/s / sgemm GFLOP/s on the GEMM shape of the op "
           "(depthwise: the per-channel M=1 GEMM, for scale only)\n\n");
    for (int i = 0; i < njson; i++)
        printf("%s\n", json[i]);
    return 0;
}
