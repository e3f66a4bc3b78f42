// SPDX-License-Identifier: MIT
/*
 * threads.c - the engine's thread count and its parallel-for, on one pool
 * of worker threads per process.
 *
 * The design decision: a region over [0, n) on t threads is always cut into
 * the same t contiguous chunks (chunk k is [n k / t, n (k + 1) / t)), and a
 * chunk's result never depends on which thread runs it or when. Threads
 * only decide who runs a chunk: the caller and the pool's workers claim
 * chunks from a shared counter, and when the pool is busy the caller runs
 * every chunk itself. Same thread count, same numbers, whatever the load.
 *
 * Thread safety, precisely:
 *  - The thread count is per calling thread (_Thread_local, default 1):
 *    nas_set_threads(n) on a daemon job's thread sets that job's count and
 *    no other. Threads that never call it run the kernels serially.
 *  - The pool is global: workers are started on first need (growing up to
 *    the largest count asked for, at most 63) and joined at exit
 *    (nas__threads_shutdown, registered with atexit). One region runs on
 *    it at a time: a second thread entering a region while the pool is
 *    taken (two jobs at once) runs its chunks itself, serially, with the
 *    same chunking, so it neither waits nor oversubscribes the cores.
 *    A region started from inside a chunk runs serially the same way.
 *  - OpenBLAS is kept at 1 thread for the whole process (set once, before
 *    the first sgemm that goes through nas_set_threads or a region): its
 *    thread count is one global, so per-region toggling races between jobs,
 *    and its idle workers spin for a while after each threaded call, taking
 *    the core our own workers need. Parallel GEMM work is ours: conv.c
 *    spreads its per-image GEMMs over the pool, and nas__sgemm cuts one
 *    large GEMM into column (or row) blocks, one per chunk.
 *
 * Locks: pool.mu guards the pool's fields and the region's description;
 * pool.region is taken (trylock only) before pool.mu, never after.
 */
#include "internal.h"

#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void openblas_set_num_threads(int num_threads);

enum { MAX_THREADS = 64 };

/* How long an idle worker polls for the next region before it sleeps on
 * the condition variable, and how long the caller polls for the last
 * chunks. Regions come back to back in a training step (a forward region,
 * then a backward one), and a futex wake costs tens of microseconds on a
 * VM; longer spins would only take a core from another job. */
#define WORKER_SPIN_NS 50000
#define CALLER_SPIN_NS 50000

static _Thread_local int n_threads = 1;

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_single(void)
{
    openblas_set_num_threads(1);
}

void nas_set_threads(int n)
{
    if (n < 1)
        n = 1;
    if (n > MAX_THREADS)
        n = MAX_THREADS;
    n_threads = n;
    pthread_once(&blas_once, blas_single);
}

int nas_get_threads(void)
{
    return n_threads;
}

static struct {
    pthread_mutex_t region; /* held by the thread whose region runs */
    pthread_mutex_t mu;
    pthread_cond_t wake; /* workers: a new generation or quit */
    pthread_cond_t done; /* caller: the last chunk finished */
    pthread_t tid[MAX_THREADS];
    int nworkers;
    int quit;
    int caller_sleeps;    /* the caller waits on done */
    _Atomic uint32_t gen; /* bumped (under mu) for every region */
    /* The running region, written under mu before gen is bumped. */
    nas_range_fn fn;
    void *ctx;
    int n, t;
    /* (generation << 32) | next chunk to claim: a worker that read an old
     * region can never claim a chunk of a newer one. */
    _Atomic uint64_t claim;
    atomic_int left; /* chunks of the region not finished */
} pool = {
    .region = PTHREAD_MUTEX_INITIALIZER,
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .done = PTHREAD_COND_INITIALIZER,
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void run_chunk(nas_range_fn fn, void *ctx, int n, int t, int k)
{
    int i0 = (int)((long)n * k / t), i1 = (int)((long)n * (k + 1) / t);
    if (i1 > i0)
        fn(ctx, i0, i1);
}

/* Claim and run chunks of generation g until none are left; 1 when this
 * thread finished the region's last chunk. */
static int work_on(uint32_t g, nas_range_fn fn, void *ctx, int n, int t)
{
    int last = 0;
    for (;;) {
        uint64_t c = atomic_load(&pool.claim);
        if ((uint32_t)(c >> 32) != g || (int)(uint32_t)c >= t)
            return last;
        if (!atomic_compare_exchange_weak(&pool.claim, &c, c + 1))
            continue;
        run_chunk(fn, ctx, n, t, (int)(uint32_t)c);
        if (atomic_fetch_sub(&pool.left, 1) == 1)
            last = 1;
    }
}

static void *worker(void *arg)
{
    (void)arg;
    uint32_t seen = atomic_load(&pool.gen);
    for (;;) {
        int64_t t0 = now_ns();
        for (int i = 0; atomic_load_explicit(&pool.gen, memory_order_relaxed) == seen; i++) {
            if ((i & 63) == 63 && now_ns() - t0 > WORKER_SPIN_NS)
                break;
            cpu_relax();
        }
        pthread_mutex_lock(&pool.mu);
        while (atomic_load(&pool.gen) == seen && !pool.quit)
            pthread_cond_wait(&pool.wake, &pool.mu);
        if (pool.quit) {
            pthread_mutex_unlock(&pool.mu);
            return NULL;
        }
        seen = atomic_load(&pool.gen);
        nas_range_fn fn = pool.fn;
        void *ctx = pool.ctx;
        int n = pool.n, t = pool.t;
        pthread_mutex_unlock(&pool.mu);
        if (work_on(seen, fn, ctx, n, t)) {
            pthread_mutex_lock(&pool.mu);
            if (pool.caller_sleeps)
                pthread_cond_signal(&pool.done);
            pthread_mutex_unlock(&pool.mu);
        }
    }
}

/* Joins the workers; the pool starts again on the next region. Called at
 * exit; the caller must make sure no region is running. */
void nas__threads_shutdown(void)
{
    pthread_mutex_lock(&pool.mu);
    pool.quit = 1;
    int nw = pool.nworkers;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mu);
    for (int k = 0; k < nw; k++)
        pthread_join(pool.tid[k], NULL);
    pthread_mutex_lock(&pool.mu);
    pool.nworkers = 0;
    pool.quit = 0;
    pthread_mutex_unlock(&pool.mu);
}

static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void register_shutdown(void)
{
    atexit(nas__threads_shutdown);
}

/* Starts workers until there are want of them (under pool.region); returns
 * how many there are (fewer when pthread_create fails). */
static int grow(int want)
{
    pthread_once(&exit_once, register_shutdown);
    pthread_mutex_lock(&pool.mu);
    while (pool.nworkers < want &&
           pthread_create(&pool.tid[pool.nworkers], NULL, worker, NULL) == 0)
        pool.nworkers++;
    int nw = pool.nworkers;
    pthread_mutex_unlock(&pool.mu);
    return nw;
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
    pthread_once(&blas_once, blas_single);
    int own = pthread_mutex_trylock(&pool.region) == 0;
    if (!own || grow(t - 1) == 0) {
        /* Another region holds the pool (or no thread could start): the
         * same chunks, one after the other, here. */
        if (own)
            pthread_mutex_unlock(&pool.region);
        for (int k = 0; k < t; k++)
            run_chunk(fn, ctx, n, t, k);
        return;
    }
    pthread_mutex_lock(&pool.mu);
    uint32_t g = atomic_load(&pool.gen) + 1;
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n = n;
    pool.t = t;
    atomic_store(&pool.left, t);
    atomic_store(&pool.claim, (uint64_t)g << 32);
    atomic_store(&pool.gen, g);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mu);

    work_on(g, fn, ctx, n, t);
    int64_t t0 = now_ns();
    for (int i = 0; atomic_load(&pool.left) > 0; i++) {
        if ((i & 63) == 63 && now_ns() - t0 > CALLER_SPIN_NS)
            break;
        cpu_relax();
    }
    if (atomic_load(&pool.left) > 0) {
        pthread_mutex_lock(&pool.mu);
        pool.caller_sleeps = 1;
        while (atomic_load(&pool.left) > 0)
            pthread_cond_wait(&pool.done, &pool.mu);
        pool.caller_sleeps = 0;
        pthread_mutex_unlock(&pool.mu);
    }
    pthread_mutex_unlock(&pool.region);
}

/* ------------------------------------------------ elementwise spans */

enum { SPAN_BLOCK = 4096, SPAN_MIN_PARALLEL = 16 * SPAN_BLOCK };

typedef struct {
    nas_span_fn fn;
    void *ctx;
    size_t n;
} span_ctx;

static void span_range(void *arg, int b0, int b1)
{
    const span_ctx *sp = arg;
    size_t i1 = (size_t)b1 * SPAN_BLOCK;
    sp->fn(sp->ctx, (size_t)b0 * SPAN_BLOCK, i1 < sp->n ? i1 : sp->n);
}

void nas__parallel_span(size_t n, nas_span_fn fn, void *ctx)
{
    if (n < SPAN_MIN_PARALLEL || nas_get_threads() < 2) {
        if (n > 0)
            fn(ctx, 0, n);
        return;
    }
    span_ctx sp = {fn, ctx, n};
    nas__parallel_for((int)((n + SPAN_BLOCK - 1) / SPAN_BLOCK), span_range, &sp);
}

static void zero_span(void *p, size_t i0, size_t i1)
{
    memset((float *)p + i0, 0, (i1 - i0) * sizeof(float));
}

void nas__zero(float *p, size_t n)
{
    NAS__PROF(nas__prof_push(NAS_PROF_COPY));
    nas__parallel_span(n, zero_span, p);
    NAS__PROF(nas__prof_pop(0.0, 4.0 * (double)n));
}

/* ---------------------------------------------------------- sgemm */

typedef struct {
    CBLAS_TRANSPOSE ta, tb;
    int m, n, k, lda, ldb, ldc, by_cols, nblocks;
    float alpha, beta;
    const float *a, *b;
    float *c;
} gemm_ctx;

/* Block j of the split dimension: a multiple of 16 columns (rows), so
 * every block but the last keeps OpenBLAS's vector width. */
static void gemm_range(void *arg, int j0, int j1)
{
    const gemm_ctx *g = arg;
    int len = g->by_cols ? g->n : g->m;
    int u = (len + 15) / 16;
    int s0 = (int)((long)u * j0 / g->nblocks) * 16, s1 = (int)((long)u * j1 / g->nblocks) * 16;
    if (s1 > len)
        s1 = len;
    if (s1 <= s0)
        return;
    if (g->by_cols) {
        /* C[:, s0:s1] = op(A) op(B)[:, s0:s1] */
        const float *bb = g->tb == CblasNoTrans ? g->b + s0 : g->b + (size_t)s0 * g->ldb;
        cblas_sgemm(CblasRowMajor, g->ta, g->tb, g->m, s1 - s0, g->k, g->alpha, g->a, g->lda, bb,
                    g->ldb, g->beta, g->c + s0, g->ldc);
    } else {
        /* C[s0:s1, :] = op(A)[s0:s1, :] op(B) */
        const float *aa = g->ta == CblasNoTrans ? g->a + (size_t)s0 * g->lda : g->a + s0;
        cblas_sgemm(CblasRowMajor, g->ta, g->tb, s1 - s0, g->n, g->k, g->alpha, aa, g->lda, g->b,
                    g->ldb, g->beta, g->c + (size_t)s0 * g->ldc, g->ldc);
    }
}

/* Row-major cblas_sgemm on the calling thread's engine threads: C is cut
 * into nas_get_threads() blocks of columns (rows when C is tall), each one
 * sgemm. Every element's sum over k is OpenBLAS's, done in one call, so a
 * given thread count always gives the same numbers. Small products (under
 * ~1 MFLOP) stay one call. */
void nas__sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, float alpha,
                const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    gemm_ctx g = {ta, tb, m, n, k, lda, ldb, ldc, n >= m, 1, alpha, beta, a, b, c};
    int t = nas_get_threads();
    int blocks = ((g.by_cols ? n : m) + 15) / 16;
    if (t > blocks)
        t = blocks;
    if (t <= 1 || 2.0 * m * n * k < 1e6) {
        pthread_once(&blas_once, blas_single);
        cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    g.nblocks = t;
    nas__parallel_for(t, gemm_range, &g);
}
