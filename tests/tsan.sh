#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/tsan.sh - the suite's ThreadSanitizer pass (CI runs it after the
# plain and the ASan+UBSan passes).
#
# What runs under TSan, exactly:
#  1. nasd, built with --enable-tsan in $TSAN_BUILD_DIR (default
#     build-tsan/), driven by every test program of the suite that starts
#     a daemon (those whose source includes tests/nasd_proc.h,
#     tests/itest.h or tests/reliability/rel.h: the integration, limits,
#     metrics, systemd and reliability tests), except those matching
#     $TSAN_SKIP (default: the integration tests of the search
#     algorithms, darts, enas and nas-rl, whose time is the searches
#     themselves: 10-15x slower under TSan, and the Open MPI ranks' test,
#     whose rank program nasd-rank this pass does not build; the
#     daemon's threads are the same for every job kind, and 2. runs a DARTS
#     job on threads). Those programs are Criterion programs built
#     without TSan in $BUILD_DIR (default build/), because Criterion's
#     runner does not run under TSan (Snaipe/Criterion#274); the threads
#     are the daemon's (the loop, the workers, the engine's pool), and the
#     tests start the TSan nasd through $NASD.
#  2. tests/test_concurrency, built with --enable-tsan: several jobs on
#     their own threads over the engine's pool at once, and a stop flag set
#     from another thread (a plain C program for this reason).
# The Criterion unit tests of the engine and the database do not run
# under TSan (they are single-threaded but for the pool, which 2. covers).
#
# A report fails the pass whatever the tests said: TSAN_OPTIONS has
# halt_on_error=1 exitcode=66 (the first report ends that nasd with 66,
# which the tests see as a crash or a failed stop) and log_path, so every
# report is also a file $TSAN_BUILD_DIR/tsan-reports/tsan.PID, and any
# such file fails this script (its contents are printed).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
tsan=${TSAN_BUILD_DIR:-$top/build-tsan}
flags=${CONFIGURE_FLAGS:---enable-werror}
jobs=${JOBS:-$(nproc)}
skip=${TSAN_SKIP-'^tests/test_integration_(darts|darts_train|enas|enas_rnn|nasrl|mpi)$'}
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

cd "$top"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
    say "autoreconf"
    autoreconf -fi >/dev/null
fi
configured() { [ -f "$1/Makefile" ] && [ "$(cat "$1/.quickstart-flags" 2>/dev/null)" = "$2" ]; }
for pair in "$build|$flags" "$tsan|$flags --enable-tsan"; do
    dir=${pair%%|*} f=${pair#*|}
    if ! configured "$dir" "$f"; then
        say "configure $f in $dir"
        mkdir -p "$dir"
        # shellcheck disable=SC2086
        (cd "$dir" && "$top/configure" $f >/dev/null && echo "$f" >.quickstart-flags)
    fi
done

# The test programs that start a daemon, from the suite's own list.
all=$(printf 'print-test-progs:\n\t@echo $(TEST_PROGS)\n' |
    make -s -C "$build" -f Makefile -f - print-test-progs)
daemon_tests=()
for p in $all; do
    if grep -qE '#include "(\.\./)?(nasd_proc|itest|rel)\.h"' "$top/$p.c" 2>/dev/null; then
        if [ -n "$skip" ] && [[ $p =~ $skip ]]; then
            echo "not under TSan (TSAN_SKIP): $p"
            continue
        fi
        daemon_tests+=("$p")
    fi
done
say "make (plain): ${daemon_tests[*]}"
make -s -C "$build" -j"$jobs" nasd nasctl "${daemon_tests[@]}" >/dev/null
say "make (TSan): nasd tests/test_concurrency"
make -s -C "$tsan" -j"$jobs" nasd tests/test_concurrency >/dev/null

reports=$tsan/tsan-reports
rm -rf "$reports"
mkdir -p "$reports"
export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1 log_path=$reports/tsan"
export OPENBLAS_NUM_THREADS=1 FASHION_MNIST_DIR=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
export NASD=$tsan/nasd NASCTL=$build/nasctl
# TSan makes nasd 5-15x slower: every deadline of the tests stretches by
# this; NASD_RELIABILITY_ROUNDS below the crash-point schedule's length
# keeps the rounds of its cheap jobs (enas, train: 4 crashes, not 10; the
# darts search with final training alone took 6 minutes under TSan).
export NASD_TEST_TIMEOUT_SCALE=${NASD_TEST_TIMEOUT_SCALE:-10} NASD_RELIABILITY_ROUNDS=${NASD_RELIABILITY_ROUNDS:-3}

failed=()
t0=$SECONDS
say "TSan: tests/test_concurrency"
(cd "$tsan" && ./tests/test_concurrency) || failed+=(tests/test_concurrency)
for p in "${daemon_tests[@]}"; do
    say "TSan nasd: $p"
    s=$SECONDS
    if (cd "$build" && "./$p" >"$tsan/$(basename "$p").tsan.log" 2>&1); then
        tail -n 1 "$tsan/$(basename "$p").tsan.log"
    else
        failed+=("$p")
        tail -n 80 "$tsan/$(basename "$p").tsan.log"
    fi
    echo "    ($((SECONDS - s)) s)"
done

found=$(find "$reports" -type f | wc -l)
if [ "$found" -gt 0 ]; then
    say "ThreadSanitizer reports: $found"
    for f in "$reports"/*; do
        echo "---- $f"
        head -n 80 "$f"
    done
    failed+=("$found TSan report(s)")
fi
say "TSan pass: $((1 + ${#daemon_tests[@]})) programs in $((SECONDS - t0)) s; failed: ${failed[*]:-none}"
[ ${#failed[@]} -eq 0 ]
