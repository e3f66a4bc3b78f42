#!/bin/sh
# SPDX-License-Identifier: MIT
# run_mpi.sh - the DARTS search step data parallel on Open MPI ranks
# (issue #18) against one process, back to back in one session:
#
#   1x1  one process, 1 thread        (bench/bench_darts --threads 1)
#   1x2  one process, 2 threads       (bench/bench_darts --threads 2)
#   2shm 2 ranks x 1 thread, shared memory (mpirun --mca btl self,vader)
#   2tcp 2 ranks x 1 thread, TCP on loopback (mpirun --mca btl tcp,self),
#        the path separate hosts take
#
#   bench/run_mpi.sh [--skip-b] [--order 1|2] [--steps N] [--warmup N]
#                    [--bin DIR] [--out DIR]
#
# Configs as bench/run_darts.sh: (a) C=8, 5 layers, batch 32, 28x28x1;
# (b) C=16, 8 layers, batch 64, 32x32x3 (the global batch: each of 2
# ranks takes half). The ranks run bench/bench_darts_mpi, the same
# bench_darts.c built with rank/mpi_dist.c, which counts what the group
# sums cost per step: calls, bytes sent per rank, elements, float
# (gradients) and double (batch norm, loss, correct) apart, and the time
# inside them on rank 0 (waiting for the other rank included). Medians
# over --steps timed steps after --warmup untimed ones; the load average
# is printed before each run. JSON lines in DIR/mpi.jsonl (default
# /tmp/run_mpi), the table on stdout.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
bin=${BIN_DIR:-$here}
out=/tmp/run_mpi
configs="a b"
order=1
steps=3
warmup=1
while [ $# -gt 0 ]; do
    case $1 in
    --skip-b) configs="a" ;;
    --order) order=$2; shift ;;
    --steps) steps=$2; shift ;;
    --warmup) warmup=$2; shift ;;
    --bin) bin=$2; shift ;;
    --out) out=$2; shift ;;
    *) echo "run_mpi.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
for p in bench_darts bench_darts_mpi; do
    [ -x "$bin/$p" ] || { echo "run_mpi.sh: $bin/$p not built (make bench/$p; bench_darts_mpi needs Open MPI at configure)" >&2; exit 2; }
done
# As root mpirun wants its two allow-run-as-root switches (the tests' setting).
# shellcheck source=tests/mpi_env.sh
. "$here/../tests/mpi_env.sh"
mpirun="mpirun -np 2 --bind-to none -x OPENBLAS_NUM_THREADS=1"
mkdir -p "$out"
jsonl=$out/mpi.jsonl
: > "$jsonl"

run() { # tag, command...
    tag=$1
    shift
    echo "== $tag: $(uptime)" >&2
    OPENBLAS_NUM_THREADS=1 "$@" --order "$order" --steps "$steps" --warmup "$warmup" \
        2>"$out/$(echo "$tag" | tr ' ' _).log" | sed "s/^{/{\"tag\": \"$tag\", /" >> "$jsonl"
}

for c in $configs; do
    case $c in
    a) cfg="--C 8 --layers 5 --batch 32 --hw 28 --in-ch 1" ;;
    b) cfg="--C 16 --layers 8 --batch 64 --hw 32 --in-ch 3" ;;
    esac
    # shellcheck disable=SC2086
    {
        run "$c 1x1" "$bin/bench_darts" $cfg --threads 1
        run "$c 1x2" "$bin/bench_darts" $cfg --threads 2
        run "$c 2shm" $mpirun --mca btl self,vader "$bin/bench_darts_mpi" $cfg --threads 1
        run "$c 2tcp" $mpirun --mca btl tcp,self "$bin/bench_darts_mpi" $cfg --threads 1
    }
done
echo "== end: $(uptime)" >&2

/usr/bin/python3 - "$jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
base = {r["tag"].split()[0]: r["median_ms"] for r in rows if r["tag"].endswith("1x1")}
print(f"{'run':<8} {'step ms':>8} {'min ms':>7} {'vs 1x1':>7} {'sums ms':>8} {'min':>7} "
      f"{'rest ms':>8} {'f32 calls':>9} {'f32 MB':>7} {'f64 calls':>9} {'f64 KB':>7} {'load':>5}")
for r in rows:
    c = r["tag"].split()[0]
    sp = base[c] / r["median_ms"] if c in base else float("nan")
    if "ranks" in r:
        extra = (f"{r['sum_median_ms']:>8.1f} {r['sum_min_ms']:>7.1f} "
                 f"{r['outside_sums_median_ms']:>8.1f} {r['sum_calls_f32']:>9} "
                 f"{r['sum_bytes_f32'] / 1e6:>7.2f} {r['sum_calls_f64']:>9} "
                 f"{r['sum_bytes_f64'] / 1e3:>7.1f}")
    else:
        extra = f"{'-':>8} {'-':>7} {'-':>8} {'-':>9} {'-':>7} {'-':>9} {'-':>7}"
    print(f"{r['tag']:<8} {r['median_ms']:>8.1f} {r['min_ms']:>7.1f} {sp:>6.2f}x {extra} "
          f"{r['loadavg_start']:>5.2f}")
print("vs 1x1: the 1-thread median step over this one (speed-up); sums: per step on "
      "rank 0, median and least ms inside them, rest: the step outside them; "
      "MB/KB sent per rank (f32: weight and alpha gradients; "
      "f64: batch norm statistics, loss, correct count)")
EOF
