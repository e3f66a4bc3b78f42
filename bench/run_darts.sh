#!/bin/sh
# SPDX-License-Identifier: MIT
# run_darts.sh - one DARTS search step, nasd (bench/bench_darts) against
# PyTorch (../shared/peer/darts_ref.py), back to back in one session with
# the same thread count, and the ratio table of issue #4 (target: time
# <= 0.10x and peak RSS <= 0.25x of PyTorch's).
#
#   bench/run_darts.sh [--two] [--skip-b] [--steps N] [--warmup N]
#                      [--bench PATH] [--ref PATH] [--out DIR]
#
# Configs: (a) C=8, 5 layers, batch 32, 28x28x1; (b) C=16, 8 layers,
# batch 64, 32x32x3 (PyTorch takes ~35-80 s per step there: keep --steps
# small, or --skip-b). Orders 1 and 2, 1 thread (and 2 with --two).
# PyTorch runs with /usr/bin/python3: Debian's python3-torch is installed
# for it only. JSON lines go to DIR/darts.jsonl (default /tmp/run_darts),
# the table to stdout. Medians are over --steps timed steps after
# --warmup untimed ones, for both programs.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
bench=${BENCH:-$here/bench_darts}
ref=$here/../../shared/peer/darts_ref.py
[ -f "$ref" ] || { echo "$0: $ref not found: ../shared/peer beside the checkout holds the PyTorch reference" >&2; exit 2; }
out=/tmp/run_darts
threads="1"
skip_b=0
steps=2
warmup=1
while [ $# -gt 0 ]; do
    case $1 in
    --two) threads="1 2" ;;
    --skip-b) skip_b=1 ;;
    --steps) steps=$2; shift ;;
    --warmup) warmup=$2; shift ;;
    --bench) bench=$2; shift ;;
    --ref) ref=$2; shift ;;
    --out) out=$2; shift ;;
    *) echo "run_darts.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[ -x "$bench" ] || { echo "run_darts.sh: build $bench first (make bench/bench_darts)" >&2; exit 2; }
mkdir -p "$out"
jsonl=$out/darts.jsonl
: > "$jsonl"

cfg_a="--C 8 --layers 5 --batch 32 --hw 28 --in-ch 1"
cfg_b="--C 16 --layers 8 --batch 64 --hw 32 --in-ch 3"
configs="a"
[ "$skip_b" = 1 ] || configs="a b"

for t in $threads; do
    for c in $configs; do
        eval "cfg=\$cfg_$c"
        for o in 1 2; do
            tag="$c o$o t$t"
            echo "== $tag: nasd" >&2
            # shellcheck disable=SC2086
            OPENBLAS_NUM_THREADS=1 "$bench" $cfg --order "$o" --threads "$t" \
                --steps "$steps" --warmup "$warmup" 2>"$out/nasd_${c}_o${o}_t$t.log" |
                sed "s/^{/{\"tag\": \"$tag\", /" >> "$jsonl"
            echo "== $tag: pytorch" >&2
            # shellcheck disable=SC2086
            /usr/bin/python3 "$ref" $cfg --order "$o" --threads "$t" \
                --steps "$steps" --warmup "$warmup" 2>"$out/torch_${c}_o${o}_t$t.log" |
                sed "s/^{/{\"tag\": \"$tag\", \"impl\": \"torch\", /" >> "$jsonl"
        done
    done
done

/usr/bin/python3 - "$jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
by = {}
for r in rows:
    by.setdefault(r["tag"], {})[r["impl"]] = r
print(f"{'config':<10} {'nasd ms':>9} {'torch ms':>9} {'time x':>7} {'<=0.10':>6} "
      f"{'nasd MB':>8} {'torch MB':>9} {'rss x':>6} {'<=0.25':>6} "
      f"{'arch/weight ms (nasd)':>22} {'cpu':>5}")
for tag, d in by.items():
    n, t = d.get("nasd"), d.get("torch")
    if not n or not t:
        print(f"{tag:<10} missing {'nasd' if not n else 'torch'}")
        continue
    tx = n["median_ms"] / t["median_ms"]
    rx = n["peak_rss_mb"] / t["peak_rss_mb"]
    print(f"{tag:<10} {n['median_ms']:>9.0f} {t['median_ms']:>9.0f} {tx:>7.3f} "
          f"{'yes' if tx <= 0.10 else 'no':>6} {n['peak_rss_mb']:>8.0f} "
          f"{t['peak_rss_mb']:>9.0f} {rx:>6.3f} {'yes' if rx <= 0.25 else 'no':>6} "
          f"{n['arch_median_ms']:>11.0f}/{n['weight_median_ms']:<10.0f} "
          f"{n['cpu_util_median']:>5.2f}")
EOF
