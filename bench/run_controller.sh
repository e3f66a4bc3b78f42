#!/bin/sh
# SPDX-License-Identifier: MIT
# run_controller.sh - one controller update (sample + REINFORCE backward +
# Adam step), nasd (bench/bench_controller) against PyTorch
# (../shared/peer/enas_ref.py --part controller), back to back in one
# session, and the ratio of issue #5 (target: <= 0.2x PyTorch's time).
#
#   bench/run_controller.sh [--steps N] [--warmup N] [--torch-steps N]
#                           [--bench PATH] [--ref PATH] [--out DIR]
#
# Programs: micro (ENAS micro: 2 cells, 5 nodes, LSTM 64) against the
# reference's micro sampler, and rnn (ENAS recurrent: 12 nodes, PICK +
# CHOICE of 4 each, LSTM 100), for which the reference script has no
# sampler: its line is ours alone (the PyTorch micro sampler at LSTM 100
# is printed next to it for scale, not as a like-for-like ratio). One
# thread. JSON lines go to DIR/controller.jsonl (default
# /tmp/run_controller), the table to stdout; medians over the timed
# steps after the untimed warm-up ones.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
bench=${BENCH:-$here/bench_controller}
ref=$here/../../shared/peer/enas_ref.py
[ -f "$ref" ] || { echo "$0: $ref not found: ../shared/peer beside the checkout holds the PyTorch reference" >&2; exit 2; }
out=/tmp/run_controller
steps=200
warmup=20
tsteps=30
while [ $# -gt 0 ]; do
    case $1 in
    --steps) steps=$2; shift ;;
    --warmup) warmup=$2; shift ;;
    --torch-steps) tsteps=$2; shift ;;
    --bench) bench=$2; shift ;;
    --ref) ref=$2; shift ;;
    --out) out=$2; shift ;;
    *) echo "run_controller.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[ -x "$bench" ] || { echo "run_controller.sh: build $bench first (make bench/bench_controller)" >&2; exit 2; }
mkdir -p "$out"
jsonl=$out/controller.jsonl
: > "$jsonl"

for prog in micro rnn; do
    echo "== $prog: nasd" >&2
    OPENBLAS_NUM_THREADS=1 "$bench" --program "$prog" --steps "$steps" \
        --warmup "$warmup" | sed "s/^{/{\"tag\": \"$prog\", /" >> "$jsonl"
    if [ "$prog" = micro ]; then size=64; else size=100; fi
    echo "== $prog: pytorch (micro sampler, LSTM $size)" >&2
    /usr/bin/python3 "$ref" --part controller --lstm-size "$size" --nodes 5 \
        --threads 1 --steps "$tsteps" --warmup 3 2>"$out/torch_$prog.log" |
        sed "s/^{/{\"tag\": \"$prog\", \"impl\": \"torch\", /" >> "$jsonl"
done

/usr/bin/python3 - "$jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
by = {}
for r in rows:
    by.setdefault(r["tag"], {})[r["impl"]] = r
print(f"{'program':<8} {'decisions':>9} {'nasd ms':>9} {'torch ms':>9} {'ratio':>7} {'<=0.2':>6}  note")
for tag, d in by.items():
    n, t = d.get("nasd"), d.get("torch")
    if not n or not t:
        print(f"{tag:<8} missing {'nasd' if not n else 'torch'}")
        continue
    x = n["median_ms"] / t["median_ms"]
    like = tag == "micro"
    print(f"{tag:<8} {n['decisions']:>9} {n['median_ms']:>9.3f} {t['median_ms']:>9.3f} "
          f"{x:>7.3f} {('yes' if x <= 0.2 else 'no') if like else '-':>6}  "
          + ("same program" if like else
             "torch: micro sampler at LSTM 100 (no rnn sampler in enas_ref.py)"))
EOF
