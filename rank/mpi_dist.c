// SPDX-License-Identifier: MIT
/*
 * mpi_dist.c - the sums a data-parallel group needs (engine/nas.h
 * nas_dist), over MPI_COMM_WORLD.
 *
 * The one design decision to know: the reduction order is ours, not the
 * library's. MPI_Allreduce may add the ranks' contributions in an order
 * that depends on the algorithm Open MPI picks (by message size, rank
 * count and tuning parameters) and the standard does not promise that
 * every rank gets the same bits. Our ranks must hold the same store bit
 * for bit, and a job must give the same numbers run to run, so a sum is
 * a reduce-scatter and an allgather written out: the vector is cut into
 * one chunk per rank, rank k receives every rank's chunk k
 * (MPI_Alltoallv), adds them in rank order 0, 1, ..., N-1 (in double),
 * and MPI_Allgatherv hands every rank all the summed chunks. Each element
 * is summed once, in a fixed order, by one rank: the same bits
 * everywhere, and the bytes of a ring allreduce (2 (N-1)/N of the
 * vector per rank). A short vector (SHORT_BYTES) is instead gathered
 * whole by every rank, which adds it up in the same order: the same bits
 * as the long path, in one latency-bound collective instead of two.
 */
#include "mpi_dist.h"

#include <mpi.h>
#include <stdlib.h>
#include <string.h>

typedef struct dist_ctx {
    int rank, size;
    int *cnt, *dsp; /* per rank: elements of its chunk, offset */
    int *rcnt, *rdsp;
    void *scratch;
    size_t cap;                 /* bytes of scratch */
    nas_mpi_sum_count count[2]; /* float sums, double sums */
    MPI_Request down;           /* from_root's posted receive, or NULL */
    int down_v;
} dist_ctx;

/* The tags of the point-to-point ints (nas_dist to_all and to_root). */
enum { TAG_DOWN = 4101, TAG_UP = 4102 };

/* The chunks of an n-element vector: rank k's is [k n / N, (k+1) n / N). */
static void chunks(dist_ctx *c, size_t n)
{
    for (int k = 0; k < c->size; k++) {
        size_t lo = n * (size_t)k / (size_t)c->size, hi = n * (size_t)(k + 1) / (size_t)c->size;
        c->cnt[k] = (int)(hi - lo);
        c->dsp[k] = (int)lo;
    }
}

static int reserve(dist_ctx *c, size_t bytes)
{
    if (bytes <= c->cap)
        return 0;
    void *p = realloc(c->scratch, bytes);
    if (!p)
        return -1;
    c->scratch = p;
    c->cap = bytes;
    return 0;
}

/* Element i of the rank-major table tab (N rows of n, row k rank k's,
 * type by esize) summed in rank order 0..N-1, in double. */
static double add_ranks(const void *tab, size_t n, int size, size_t i, size_t esize)
{
    double acc = 0.0;
    for (int k = 0; k < size; k++) {
        size_t at = (size_t)k * n + i;
        acc +=
            esize == sizeof(float) ? (double)((const float *)tab)[at] : ((const double *)tab)[at];
    }
    return acc;
}

static void put(void *v, size_t i, double x, size_t esize)
{
    if (esize == sizeof(float))
        ((float *)v)[i] = (float)x;
    else
        ((double *)v)[i] = x;
}

/* Up to this many bytes gathered per rank (the vector times N) a sum is
 * one MPI_Allgather of every rank's whole vector, each rank adding the N
 * rows itself (the same code in the same order: the same bits
 * everywhere): one collective of about ceil(log2 N) rounds instead of
 * two, the first of N - 1 messages. Batch norm's sums (tens to hundreds
 * of doubles) go this way up to thousands of ranks; the weight gradient
 * (megabytes) takes the reduce-scatter, which moves less. */
#define SHORT_BYTES (1u << 20)

/* v (n elements of type t, esize bytes: float or double) becomes the sum
 * over the ranks, in rank order. */
static void sum(dist_ctx *c, void *v, size_t n, MPI_Datatype t, size_t esize)
{
    double t0 = MPI_Wtime();
    nas_mpi_sum_count *k = &c->count[esize == sizeof(double)];
    k->calls++;
    k->elems += (double)n;
    if (n * esize * (size_t)c->size <= SHORT_BYTES) {
        if (reserve(c, n * (size_t)c->size * esize) != 0)
            MPI_Abort(MPI_COMM_WORLD, 12); /* no memory mid-step: the group cannot go on */
        MPI_Allgather(v, (int)n, t, c->scratch, (int)n, t, MPI_COMM_WORLD);
        for (size_t i = 0; i < n; i++)
            put(v, i, add_ranks(c->scratch, n, c->size, i, esize), esize);
        k->bytes += (double)(c->size - 1) * (double)n * (double)esize;
        k->seconds += MPI_Wtime() - t0;
        return;
    }
    chunks(c, n);
    int mine = c->cnt[c->rank];
    for (int r = 0; r < c->size; r++) {
        c->rcnt[r] = mine;
        c->rdsp[r] = r * mine;
    }
    if (reserve(c, (size_t)mine * (size_t)c->size * esize) != 0)
        MPI_Abort(MPI_COMM_WORLD, 12);
    MPI_Alltoallv(v, c->cnt, c->dsp, t, c->scratch, c->rcnt, c->rdsp, t, MPI_COMM_WORLD);
    char *out = (char *)v + (size_t)c->dsp[c->rank] * esize;
    for (int i = 0; i < mine; i++)
        put(out, (size_t)i, add_ranks(c->scratch, (size_t)mine, c->size, (size_t)i, esize), esize);
    MPI_Allgatherv(MPI_IN_PLACE, 0, t, v, c->cnt, c->dsp, t, MPI_COMM_WORLD);
    /* Counted for bench/run_mpi.sh: two clock reads and four adds per
     * sum, against at least two collectives. */
    k->bytes += 2.0 * (double)(n - (size_t)mine) * (double)esize;
    k->seconds += MPI_Wtime() - t0;
}

static void sum_f32(void *ctx, float *v, size_t n)
{
    sum(ctx, v, n, MPI_FLOAT, sizeof(float));
}

static void sum_f64(void *ctx, double *v, size_t n)
{
    sum(ctx, v, n, MPI_DOUBLE, sizeof(double));
}

static int bcast_int(void *ctx, int v)
{
    (void)ctx;
    MPI_Bcast(&v, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return v;
}

static void bcast(void *ctx, void *buf, size_t bytes)
{
    (void)ctx;
    MPI_Bcast(buf, (int)bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
}

static void allgather(void *ctx, const void *mine, void *all, size_t bytes)
{
    (void)ctx;
    MPI_Allgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, MPI_COMM_WORLD);
}

static void to_all(void *ctx, int v)
{
    dist_ctx *c = ctx;
    for (int r = 1; r < c->size; r++)
        MPI_Send(&v, 1, MPI_INT, r, TAG_DOWN, MPI_COMM_WORLD);
}

static int from_root(void *ctx, int wait)
{
    dist_ctx *c = ctx;
    int done = 0;
    if (c->down == MPI_REQUEST_NULL)
        MPI_Irecv(&c->down_v, 1, MPI_INT, 0, TAG_DOWN, MPI_COMM_WORLD, &c->down);
    if (wait) {
        MPI_Wait(&c->down, MPI_STATUS_IGNORE);
        done = 1;
    } else {
        MPI_Test(&c->down, &done, MPI_STATUS_IGNORE);
    }
    return done ? c->down_v : -1; /* a completed request is MPI_REQUEST_NULL again */
}

static void to_root(void *ctx, int v)
{
    (void)ctx;
    MPI_Send(&v, 1, MPI_INT, 0, TAG_UP, MPI_COMM_WORLD);
}

static int at_root(void *ctx)
{
    (void)ctx;
    int n = 0, flag = 1, v;
    while (flag) {
        MPI_Iprobe(MPI_ANY_SOURCE, TAG_UP, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
        if (flag) {
            MPI_Recv(&v, 1, MPI_INT, MPI_ANY_SOURCE, TAG_UP, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            n++;
        }
    }
    return n;
}

int nas_mpi_dist_init(nas_dist *d)
{
    dist_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return NAS_ENOMEM;
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size);
    c->cnt = calloc((size_t)c->size * 4, sizeof(int));
    if (!c->cnt) {
        free(c);
        return NAS_ENOMEM;
    }
    c->dsp = c->cnt + c->size;
    c->rcnt = c->dsp + c->size;
    c->rdsp = c->rcnt + c->size;
    c->down = MPI_REQUEST_NULL;
    *d = (nas_dist){.ctx = c,
                    .rank = c->rank,
                    .size = c->size,
                    .sum_f32 = sum_f32,
                    .sum_f64 = sum_f64,
                    .bcast_int = bcast_int,
                    .bcast = bcast,
                    .allgather = allgather,
                    .to_all = to_all,
                    .from_root = from_root,
                    .to_root = to_root,
                    .at_root = at_root};
    return NAS_OK;
}

void nas_mpi_dist_free(nas_dist *d)
{
    dist_ctx *c = d->ctx;
    if (c) {
        free(c->cnt);
        free(c->scratch);
        free(c);
    }
    d->ctx = NULL;
}

double nas_mpi_dist_bytes(const nas_dist *d)
{
    const dist_ctx *c = d->ctx;
    return c->count[0].bytes + c->count[1].bytes;
}

void nas_mpi_dist_counts(const nas_dist *d, nas_mpi_sum_count *f32, nas_mpi_sum_count *f64)
{
    const dist_ctx *c = d->ctx;
    *f32 = c->count[0];
    *f64 = c->count[1];
}
