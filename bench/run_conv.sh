#!/bin/sh
# SPDX-License-Identifier: MIT
# run_conv.sh - the convolution benchmark against its two references in one
# go: bench_conv (ours vs cblas_sgemm on the op's GEMM shape) and
# torch_conv.py (PyTorch, same shapes, same median method), back to back per
# thread count, then one table of the target ratios.
#
#   bench/run_conv.sh [--two] [--reps N] [--quick]
#
#   --two     also run with 2 threads (default: 1 thread only)
#   --reps N  timed repetitions per measurement (median; default 10)
#   --quick   3 reps, 1 warm-up (smoke test; numbers are rough)
#
# Builds bench_conv when it is missing or older than its sources (into
# $BUILD_DIR, default /tmp/nasd-bench) with gcc -O3 -march=native, unless
# BENCH_CONV points at an existing binary (e.g. the automake-built one).
# Logs and the raw JSON lines go to $BUILD_DIR.
#
# Targets: dense conv fwd+bwd >= 60 % of sgemm's GFLOP/s on its GEMM shape;
# depthwise and dilated depthwise fwd+bwd >= 5x faster than PyTorch.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-/tmp/nasd-bench}
PY=/usr/bin/python3
threads="1"
args=""
while [ $# -gt 0 ]; do
    case $1 in
    --two) threads="1 2" ;;
    --reps) args="$args --reps $2"; shift ;;
    --quick) args="$args --quick" ;;
    *) echo "usage: $0 [--two] [--reps N] [--quick]" >&2; exit 2 ;;
    esac
    shift
done

mkdir -p "$BUILD_DIR"
bin=${BENCH_CONV:-$BUILD_DIR/bench_conv}
if [ -z "${BENCH_CONV:-}" ]; then
    srcs="$top/engine/core/error.c $top/engine/core/arena.c $top/engine/core/rng.c
          $top/engine/core/tensor.c $top/engine/core/params.c $top/engine/core/graph.c
          $top/engine/core/threads.c $top/engine/nn/lstm.c $(ls "$top"/engine/ops/*.c)"
    stale=0
    [ -x "$bin" ] || stale=1
    for f in $srcs "$top"/engine/ops/*.h "$top/bench/bench_conv.c" "$top/engine/nas.h" \
             "$top/engine/internal.h"; do
        [ "$f" -nt "$bin" ] && stale=1
    done
    if [ $stale = 1 ]; then
        echo "building $bin"
        # shellcheck disable=SC2086
        gcc -std=c11 -D_GNU_SOURCE -O3 -march=native -fopenmp-simd -Wall -Wextra \
            -I"$top/engine" $srcs "$top/bench/bench_conv.c" -o "$bin" \
            -lopenblas -lm -lpthread
    fi
fi

echo "NOTE: the machine is shared (2 vCPUs, other guests and agents): numbers"
echo "      are noisy (10-30 % run to run). Ours, sgemm and PyTorch run back to"
echo "      back in the same session; compare the ratios, rerun if one looks off."
echo "host: $(uname -n), load: $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
echo

json="$BUILD_DIR/run_conv.jsonl"
: >"$json"
for t in $threads; do
    echo "=== threads=$t: PyTorch ($PY bench/torch_conv.py) ==="
    # shellcheck disable=SC2086
    $PY "$top/bench/torch_conv.py" --threads "$t" $args | tee -a "$json" |
        $PY -c 'import json,sys
for l in sys.stdin:
    r = json.loads(l)
    print("C%d@%d b%d %-11s fwd %8.3f ms  fwd+bwd %8.3f ms" % (r["c"], r["hw"], r["batch"], r["op"], r["fwd_ms"], r["fb_ms"]))'
    echo
    echo "=== threads=$t: nasd ($bin) ==="
    # shellcheck disable=SC2086
    OPENBLAS_NUM_THREADS=$t "$bin" --threads "$t" $args >"$BUILD_DIR/bench_t$t.out"
    grep -v '^{' "$BUILD_DIR/bench_t$t.out"
    grep '^{' "$BUILD_DIR/bench_t$t.out" >>"$json"
    echo
done

$PY - "$json" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
key = lambda r: (r["threads"], r["c"], r["hw"], r["batch"], r["op"])
torch = {key(r): r for r in rows if r["impl"] == "torch"}
ours = [r for r in rows if r["impl"] == "nasd"]
print("=== targets (fwd+bwd; median of reps; shared, noisy machine) ===")
print("%-3s %-14s %-11s %9s %9s %9s %8s  %-24s %s" % (
    "thr", "config", "op", "ours ms", "torch ms", "sgemm ms", "ratio",
    "metric", "target"))
met = missed = 0
for r in ours:
    t = torch.get(key(r))
    cfg = "C%d@%d b%d" % (r["c"], r["hw"], r["batch"])
    tms = t["fb_ms"] if t else float("nan")
    if r["depthwise"]:
        ratio = tms / r["fb_ms"]
        metric, ok = "torch ms / ours ms", ratio >= 5.0
        goal = ">= 5x"
    else:
        ratio = r["ratio_fb"]
        metric, ok = "ours GF/s / sgemm GF/s", ratio >= 0.6
        goal = ">= 0.60"
    met += ok
    missed += not ok
    print("%-3d %-14s %-11s %9.3f %9.3f %9.3f %8.2f  %-24s %s %s" % (
        r["threads"], cfg, r["op"], r["fb_ms"], tms, r["sgemm_fb_ms"], ratio,
        metric, goal, "PASS" if ok else "MISS"))
print("%d PASS, %d MISS" % (met, missed))
EOF
