#!/bin/sh
# SPDX-License-Identifier: MIT
# run_enas.sh - one ENAS micro child training step (issue #5), nasd
# (bench/bench_enas) against PyTorch (../shared/peer/enas_ref.py --part
# child), back to back in one session with the same thread count, and the
# ratio table of the issue (targets: time <= 0.2x, peak RSS <= 0.25x of
# PyTorch's).
#
#   bench/run_enas.sh [--threads "1 2"] [--steps N] [--warmup N]
#                     [--no-aux-only] [--bench PATH] [--ref PATH] [--out DIR]
#
# Config: C=20, 6 layers + 2 reductions, 5 nodes, batch 64, 32x32x3. The
# reference runs twice per thread count: as issue #5 states it (with its
# auxiliary head) and with --no-aux, which is what nasd's child computes
# (no auxiliary head); ratios are given against both. Every program runs
# under /usr/bin/time -v and its peak RSS is that tool's "Maximum resident
# set size"; times are the medians the programs print over --steps timed
# steps after --warmup untimed ones. PyTorch runs with /usr/bin/python3
# (Debian's python3-torch). JSON lines go to DIR/enas.jsonl (default
# /tmp/run_enas), the table to stdout.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
bench=${BENCH:-$here/bench_enas}
ref=$here/../../shared/peer/enas_ref.py
[ -f "$ref" ] || { echo "$0: $ref not found: ../shared/peer beside the checkout holds the PyTorch reference" >&2; exit 2; }
out=/tmp/run_enas
threads="1 2"
steps=5
warmup=2
variants="aux noaux"
while [ $# -gt 0 ]; do
    case $1 in
    --threads) threads=$2; shift ;;
    --steps) steps=$2; shift ;;
    --warmup) warmup=$2; shift ;;
    --no-aux-only) variants="noaux" ;;
    --bench) bench=$2; shift ;;
    --ref) ref=$2; shift ;;
    --out) out=$2; shift ;;
    *) echo "run_enas.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[ -x "$bench" ] || { echo "run_enas.sh: build $bench first (make bench/bench_enas)" >&2; exit 2; }
mkdir -p "$out"
jsonl=$out/enas.jsonl
: > "$jsonl"
cfg="--C 20 --layers 6 --batch 64"

# run TAG IMPL LOG CMD...: the program's JSON line, tagged, with the
# peak RSS that /usr/bin/time -v measured.
run() {
    tag=$1 impl=$2 log=$3
    shift 3
    /usr/bin/time -v -o "$log.time" "$@" 2>"$log" > "$log.json"
    rss=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$log.time")
    sed "s/^{/{\"tag\": \"$tag\", \"impl\": \"$impl\", \"time_v_rss_kb\": $rss, /" \
        "$log.json" >> "$jsonl"
}

echo "load before: $(cat /proc/loadavg)" >&2
for t in $threads; do
    echo "== t$t: nasd" >&2
    # shellcheck disable=SC2086
    OPENBLAS_NUM_THREADS=1 run "t$t" nasd "$out/nasd_t$t.log" "$bench" $cfg \
        --threads "$t" --steps "$steps" --warmup "$warmup"
    for v in $variants; do
        echo "== t$t: pytorch ($v)" >&2
        flag=""
        [ "$v" = noaux ] && flag="--no-aux"
        # shellcheck disable=SC2086
        run "t$t" "torch-$v" "$out/torch_${v}_t$t.log" /usr/bin/python3 "$ref" \
            --part child $cfg --threads "$t" --steps "$steps" --warmup "$warmup" $flag
    done
done
echo "load after: $(cat /proc/loadavg)" >&2

/usr/bin/python3 - "$jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
by = {}
for r in rows:
    by.setdefault(r["tag"], {})[r["impl"]] = r
print(f"{'threads':<8} {'vs':<12} {'nasd ms':>9} {'torch ms':>9} {'time x':>7} {'<=0.2':>6} "
      f"{'nasd MB':>8} {'torch MB':>9} {'rss x':>6} {'<=0.25':>6} {'cpu nasd/torch':>15}")
for tag, d in by.items():
    n = d.get("nasd")
    for impl in ("torch-aux", "torch-noaux"):
        t = d.get(impl)
        if not n or not t:
            continue
        tx = n["median_ms"] / t["median_ms"]
        nr, tr = n["time_v_rss_kb"] / 1024, t["time_v_rss_kb"] / 1024
        rx = nr / tr
        print(f"{tag:<8} {impl:<12} {n['median_ms']:>9.0f} {t['median_ms']:>9.0f} {tx:>7.3f} "
              f"{'yes' if tx <= 0.2 else 'no':>6} {nr:>8.0f} {tr:>9.0f} {rx:>6.3f} "
              f"{'yes' if rx <= 0.25 else 'no':>6} "
              f"{n['cpu_util_median']:>7.2f}/{t['cpu_util_median']:<7.2f}")
EOF
