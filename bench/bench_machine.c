// SPDX-License-Identifier: MIT
/*
 * bench_machine.c - the two numbers of the roofline (issue #17), measured
 * here on 1 and 2 threads: the FP32 FMA peak and the memory bandwidth.
 *
 *   bench/bench_machine [--mib 128] [--reps 8]
 *
 * Peak: 12 independent chains of 8-wide FMAs per thread (AVX2 + FMA,
 * the same loop as ../shared/peer/sgemm_peak.c's probe), 2 FLOP per lane
 * and FMA, best of 5. Bandwidth: a STREAM-style triad a[i] = b[i] + s c[i]
 * over three arrays of --mib MiB each, each thread on its own contiguous
 * part (first touched by that thread), best of --reps; bytes counted are
 * 3 x 4 per element (STREAM's convention: the write-allocate read of a
 * is not counted). Prints one JSON line.
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

enum { CHAINS = 12, FMA_ITERS = 50000000 };

/* FMA_ITERS x CHAINS x 8 FMAs; returns a sum so nothing is dropped. */
__attribute__((target("avx2,fma"))) static float fma_chains(float seed)
{
    __m256 acc[CHAINS];
    __m256 m = _mm256_set1_ps(0.999999f + 1e-7f * seed), a = _mm256_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++)
        acc[c] = _mm256_set1_ps(seed + (float)c);
    for (long i = 0; i < FMA_ITERS; i++)
        for (int c = 0; c < CHAINS; c++)
            acc[c] = _mm256_fmadd_ps(acc[c], m, a);
    float s = 0.0f, lane[8];
    for (int c = 0; c < CHAINS; c++) {
        _mm256_storeu_ps(lane, acc[c]);
        for (int k = 0; k < 8; k++)
            s += lane[k];
    }
    return s;
}

typedef struct job {
    int kind; /* 0: FMA, 1: triad, 2: first touch */
    float *a, *b, *c;
    size_t n;
    float out;
} job;

static void *run(void *arg)
{
    job *j = arg;
    if (j->kind == 0) {
        j->out = fma_chains(1.0f);
    } else if (j->kind == 1) {
        float *restrict a = j->a;
        const float *restrict b = j->b, *restrict c = j->c;
        for (size_t i = 0; i < j->n; i++)
            a[i] = b[i] + 1.5f * c[i];
    } else {
        for (size_t i = 0; i < j->n; i++) {
            j->a[i] = 0.0f;
            j->b[i] = 1.0f;
            j->c[i] = 2.0f;
        }
    }
    return NULL;
}

/* Wall seconds of kind on t threads over [0, n) of a, b, c. */
static double timed(int kind, int t, float *a, float *b, float *c, size_t n)
{
    pthread_t th[2];
    job jobs[2];
    double t0 = now_s();
    for (int i = 0; i < t; i++) {
        size_t i0 = n * (size_t)i / (size_t)t, i1 = n * (size_t)(i + 1) / (size_t)t;
        jobs[i] = (job){.kind = kind, .a = a + i0, .b = b + i0, .c = c + i0, .n = i1 - i0};
        if (pthread_create(&th[i], NULL, run, &jobs[i]) != 0) {
            fprintf(stderr, "bench_machine: pthread_create failed\n");
            exit(1);
        }
    }
    for (int i = 0; i < t; i++)
        pthread_join(th[i], NULL);
    return now_s() - t0;
}

int main(int argc, char **argv)
{
    int mib = 128, reps = 8;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--mib"))
            mib = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[i + 1]);
    }
    if (argc % 2 == 0 || mib < 1 || reps < 1) {
        fprintf(stderr, "usage: bench_machine [--mib N] [--reps N]\n");
        return 2;
    }
    size_t n = (size_t)mib * 1024 * 1024 / sizeof(float);
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    float *c = malloc(n * sizeof(float));
    if (!a || !b || !c)
        return 1;
    double peak[3] = {0}, bw[3] = {0};
    for (int t = 1; t <= 2; t++) {
        timed(2, t, a, b, c, n);
        for (int r = 0; r < 5; r++) {
            double s = timed(0, t, a, b, c, n);
            double f = 2.0 * 8 * CHAINS * (double)FMA_ITERS * t / s;
            if (f > peak[t])
                peak[t] = f;
        }
        for (int r = 0; r < reps; r++) {
            double s = timed(1, t, a, b, c, n);
            double v = 3.0 * sizeof(float) * (double)n / s;
            if (v > bw[t])
                bw[t] = v;
        }
    }
    double load[1] = {0};
    getloadavg(load, 1);
    printf("{\"bench\": \"machine\", \"peak_gflops_t1\": %.1f, \"peak_gflops_t2\": %.1f, "
           "\"triad_gbs_t1\": %.1f, \"triad_gbs_t2\": %.1f, \"triad_mib\": %d, "
           "\"loadavg\": %.2f, \"check\": %.1f}\n",
           peak[1] / 1e9, peak[2] / 1e9, bw[1] / 1e9, bw[2] / 1e9, mib, load[0], (double)a[n / 2]);
    free(a);
    free(b);
    free(c);
    return 0;
}
