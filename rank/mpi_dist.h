// SPDX-License-Identifier: MIT
/*
 * mpi_dist.h - the engine's nas_dist (engine/nas.h) over MPI_COMM_WORLD,
 * for the rank program (nasd_rank.c) and its tests.
 */
#ifndef NAS_MPI_DIST_H
#define NAS_MPI_DIST_H

#include "nas.h"

/* Fills d for this process (MPI initialised); NAS_OK or NAS_ENOMEM.
 * nas_mpi_dist_free releases its scratch. */
int nas_mpi_dist_init(nas_dist *d);
void nas_mpi_dist_free(nas_dist *d);
/* Bytes summed by d so far on this rank (what a step sends). */
double nas_mpi_dist_bytes(const nas_dist *d);

/* What the sums of d cost this rank so far, by element type: the engine
 * sums gradients (weights, alphas) in float and batch norm's statistics,
 * the loss and the correct count in double. bytes is what the rank
 * received: 2 (N-1)/N of the vector (reduce-scatter and allgather), or
 * N-1 vectors for a short one (gathered whole); seconds is wall time inside
 * the sum, waiting for the slowest rank included. */
typedef struct nas_mpi_sum_count {
    long calls;
    double elems, bytes, seconds;
} nas_mpi_sum_count;
void nas_mpi_dist_counts(const nas_dist *d, nas_mpi_sum_count *f32, nas_mpi_sum_count *f64);

#endif
