#!/bin/sh
# SPDX-License-Identifier: MIT
# run_nasrl.sh - children per hour of a nasrl-cnn search on Fashion-MNIST
# with m = 1, 2, 4 children trained concurrently on the job's threads
# (issue #6), and the CPU utilisation of each run: bench_nasrl's own
# (getrusage CPU seconds / wall / threads) and /usr/bin/time's "Percent
# of CPU" (100% = one core; 200% = both cores of this machine).
#
#   bench/run_nasrl.sh [--threads T] [--children N] [--examples N]
#                      [--epochs E] [--algorithm random|nas-rl]
#                      [--bench PATH] [--out DIR]
#
# The configuration is bench_nasrl.c's (3 layers, kernels {1,3,5}^2,
# filters {8,16,24}, batch 64, the first N Fashion-MNIST training images,
# 90% to train and 10% for the reward). With random search (the default)
# every m trains the same sequence of children, so the runs differ only in
# scheduling. The load average is printed before each run: on a shared
# machine other processes take cores too, and utilisation is only
# meaningful when the load is below the thread count.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
bench=${BENCH:-$here/bench_nasrl}
out=/tmp/run_nasrl
threads=2
children=8
examples=6000
epochs=1
algorithm=random
while [ $# -gt 0 ]; do
    case $1 in
    --threads) threads=$2; shift ;;
    --children) children=$2; shift ;;
    --examples) examples=$2; shift ;;
    --epochs) epochs=$2; shift ;;
    --algorithm) algorithm=$2; shift ;;
    --bench) bench=$2; shift ;;
    --out) out=$2; shift ;;
    *) echo "usage: $0 [--threads T] [--children N] [--examples N] [--epochs E]" \
            "[--algorithm random|nas-rl] [--bench PATH] [--out DIR]" >&2; exit 2 ;;
    esac
    shift
done
[ -x "$bench" ] || { echo "$0: $bench not built (make bench/bench_nasrl)" >&2; exit 1; }
mkdir -p "$out"
: > "$out/nasrl.jsonl"
printf '%-3s %-8s %-10s %-10s %-12s %-8s %s\n' m wall_s children/h mean_child_s utilisation time_cpu load
for m in 1 2 4; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    OPENBLAS_NUM_THREADS=1 /usr/bin/time -f '%P' -o "$out/time.$m" \
        "$bench" --algorithm "$algorithm" --m "$m" --threads "$threads" \
        --children "$children" --examples "$examples" --epochs "$epochs" \
        > "$out/run.$m.json"
    cat "$out/run.$m.json" >> "$out/nasrl.jsonl"
    python3 - "$out/run.$m.json" "$(cat "$out/time.$m")" "$load" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("%-3d %-8.1f %-10.1f %-10.2f %-12.3f %-8s %s" % (
    r["m"], r["wall_s"], r["children_per_hour"], r["mean_child_s"],
    r["cpu_utilisation"], sys.argv[2], sys.argv[3]))
PY
done
