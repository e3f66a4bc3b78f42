#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/tsan.sh - the suite's ThreadSanitizer pass (CI runs it after the
# plain and the ASan+UBSan passes).
#
# The daemon's threads, and what crosses between them (daemon/sched.c):
# the loop thread (libuv; libmicrohttpd on its epoll; SQLite, which only
# the loop writes; the event streams), the worker slots (one thread per
# running job; the loop reaches a worker only through the slot's atomic
# stop flag, and a worker reaches the loop only through the inbox, a
# mutex-protected list plus uv_async_send; the watchdog reads a worker's
# last sign of life), the engine's pool inside a job (engine/core/
# threads.c; nas-rl's children on their own threads), and libuv's pool
# (api/predict.c: predictions; api/datasets.c: imports of uploads).
#
# What runs under TSan, exactly:
#  1. tests/test_concurrency, built with --enable-tsan: several jobs on
#     their own threads over the engine's pool at once, and a stop flag set
#     from another thread (a plain C program for this reason). The daemon
#     tests run one engine thread a job (--threads-per-job 1), so this is
#     the pool's pass.
#  2. nasd, built with --enable-tsan in $TSAN_BUILD_DIR (default
#     build-tsan/), driven by the test programs of the suite that start a
#     daemon (those whose source includes tests/nasd_proc.h,
#     tests/itest.h or tests/reliability/rel.h), except those matching
#     $TSAN_SKIP. Those programs are Criterion programs built without TSan
#     in $BUILD_DIR (default build/), because Criterion's runner does not
#     run under TSan (Snaipe/Criterion#274); the threads are the daemon's,
#     and the tests start the TSan nasd through $NASD. Each thread path
#     above, and the program that drives it here:
#     - jobs through a worker and the inbox (progress, metrics,
#       checkpoints, results, logs, done) into SQLite and the event
#       streams, a cancel through the stop flag, stream caps and
#       disconnects: test_integration; searches' architectures and
#       checkpoints, restarts after kill -9 at every crash point, a stream
#       resumed after a crash: reliability/test_kill_resume; clients
#       posting while nasd is killed, one key retried at once:
#       reliability/test_acks;
#     - SIGTERM while a job runs (stop flag, checkpoint, join):
#       test_integration_resume; the watchdog reading a stuck worker's
#       sign of life, STOPPING while it runs, logs to the journal:
#       test_systemd;
#     - two workers at once (two slots feeding one inbox), model and
#       ONNX files written by a worker and served by the loop:
#       test_integration_onnx;
#     - libuv's pool: predictions (model loads and forwards off the loop):
#       test_integration_predict; imports of uploads, a train job on one:
#       test_integration_datasets;
#     - the loop's timers and counters beside running jobs: retention of
#       finished jobs' files (test_retention), job gauges (test_metrics),
#       the connection caps and deadlines and a queue full while a worker
#       runs (test_limits, test_security), per-job caps (test_caps); each
#       of these takes a few seconds.
#     $TSAN_SKIP (default below) leaves out the daemon programs that add
#     no thread path to these, only more of the same jobs, since under
#     TSan their time is the engine's (5-15x slower); the plain and the
#     ASan+UBSan passes still run every one of them:
#     - the searches' integration tests (darts, darts_train, enas,
#       enas_rnn, nasrl) and test_integration_enas_final, test_integration_
#       budget, test_integration_model, test_integration_estimate,
#       test_runnable: each runs jobs of more kinds and sizes through the
#       same worker, inbox and stop flag (the engine kinds are covered by
#       the plain and ASan passes; the engine's threads by 1.); under TSan
#       in the last full run they took 114 s (estimate), 82 s (budget),
#       55 s (model), 37 s (enas_final), 30 s (runnable);
#     - test_integration_query, test_integration_render, test_nasctl: the
#       loop's own reads and drawings, and nasctl's client side (its
#       event stream is the one test_integration follows): 44, 23, 13 s;
#     - test_integration_mpi: the Open MPI ranks' test, whose rank program
#       nasd-rank this pass does not build.
#     Set TSAN_SKIP= (empty) to run every daemon program (about 10 min).
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
skip=${TSAN_SKIP-'^tests/(test_integration_(darts|darts_train|enas|enas_rnn|nasrl|mpi|enas_final|budget|model|estimate|query|render)|test_runnable|test_nasctl)$'}
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
# shellcheck disable=SC2016 # $(TEST_PROGS) is make's, not the shell's
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
times=()
t0=$SECONDS
say "TSan: tests/test_concurrency"
s=$SECONDS
(cd "$tsan" && ./tests/test_concurrency) || failed+=(tests/test_concurrency)
times+=("$(printf '%5d s  tests/test_concurrency (TSan build)' $((SECONDS - s)))")
echo "    tests/test_concurrency: $((SECONDS - s)) s"
for p in "${daemon_tests[@]}"; do
    say "TSan nasd: $p"
    s=$SECONDS
    if (cd "$build" && "./$p" >"$tsan/$(basename "$p").tsan.log" 2>&1); then
        tail -n 1 "$tsan/$(basename "$p").tsan.log"
    else
        failed+=("$p")
        tail -n 80 "$tsan/$(basename "$p").tsan.log"
    fi
    times+=("$(printf '%5d s  %s' $((SECONDS - s)) "$p")")
    echo "    $p: $((SECONDS - s)) s"
done
say "TSan seconds per program (load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%s\n' "${times[@]}"

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
