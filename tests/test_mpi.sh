#!/bin/sh
# SPDX-License-Identifier: MIT
# One DARTS search step on 2 and 3 Open MPI ranks against one process on
# the same global batch (tests/mpi_step.c), first and second order, the
# ranks talking over TCP on loopback as separate hosts would. Built (and
# listed in TESTS) only when configure found Open MPI.
set -eu
. "${srcdir:-.}/tests/mpi_env.sh"
for n in 2 3; do
    for order in 1 2; do
        echo "# $n ranks, order $order"
        $MPIRUN_TEST -np "$n" ./tests/mpi_step "$order"
    done
done
