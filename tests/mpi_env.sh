# SPDX-License-Identifier: MIT
# Sourced by the MPI tests: how they start ranks. TCP on loopback (the
# network path separate hosts take, not shared memory), more ranks than
# cores allowed; as root (CI) mpirun needs its two allow-run-as-root
# switches. Open MPI keeps allocations to its exit, so LeakSanitizer is
# off for the ranks (ASan itself stays on).
MPIRUN_TEST="mpirun --mca btl tcp,self --oversubscribe --bind-to none"
if [ "$(id -u)" = 0 ]; then
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM
fi
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export ASAN_OPTIONS
