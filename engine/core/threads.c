/*
 * threads.c - the engine's thread count and its parallel-for. Threads are
 * started per call (the regions are whole convolutions over a batch, far
 * longer than a pthread_create); each takes a fixed contiguous chunk, so
 * results never depend on scheduling.
 */
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>

void openblas_set_num_threads(int num_threads);

static atomic_int n_threads = 1;

void nas_set_threads(int n)
{
    if (n < 1)
        n = 1;
    if (n > 64)
        n = 64;
    atomic_store(&n_threads, n);
    openblas_set_num_threads(n);
}

int nas_get_threads(void)
{
    return atomic_load(&n_threads);
}

void nas__blas_threads(int n)
{
    openblas_set_num_threads(n);
}

typedef struct {
    nas_range_fn fn;
    void *ctx;
    int i0, i1;
} work;

static void *run(void *arg)
{
    work *w = arg;
    w->fn(w->ctx, w->i0, w->i1);
    return NULL;
}

void nas__parallel_for(int n, nas_range_fn fn, void *ctx)
{
    int t = nas_get_threads();
    if (t > n)
        t = n;
    if (t <= 1) {
        if (n > 0)
            fn(ctx, 0, n);
        return;
    }
    /* Inside the region every sgemm runs on one thread: the parallelism is
     * ours, and two thread pools on two cores only fight. */
    nas__blas_threads(1);
    pthread_t tid[64];
    work w[64];
    _Bool started[64] = {0};
    for (int k = 0; k < t; k++) {
        w[k] = (work){fn, ctx, (int)((long)n * k / t), (int)((long)n * (k + 1) / t)};
        if (k > 0 && pthread_create(&tid[k], NULL, run, &w[k]) == 0)
            started[k] = 1;
    }
    run(&w[0]);
    for (int k = 1; k < t; k++) {
        if (started[k])
            pthread_join(tid[k], NULL);
        else
            run(&w[k]);   /* could not start a thread: do its chunk here */
    }
    nas__blas_threads(t);
}
