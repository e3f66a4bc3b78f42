#!/bin/sh
# SPDX-License-Identifier: MIT
# run_roofline.sh - issue #17 in one run: the machine (bench_machine: FMA
# peak and triad bandwidth, 1 and 2 threads), then per thread count the
# DARTS step, configs (a) and (b), orders 1 and 2, and the ENAS micro
# child step, each nasd (with its roofline report: --profile) back to back
# with PyTorch (../shared/peer/darts_ref.py, enas_ref.py --part child
# --no-aux; at the --torch-threads only: on a loaded machine PyTorch's
# 2-thread runs can take tens of minutes), then NAS-RL at m = 4; one table of the op kinds and one of
# the targets, met or not.
#
#   bench/run_roofline.sh [--threads "1 2"] [--torch-threads "1 2"] [--skip-b] [--no-torch]
#                         [--steps N] [--steps-b N] [--warmup N] [--profile N]
#                         [--peak-measured] [--no-nasrl] [--out DIR]
#
# The roofline's FP32 peak is 115 GFLOP/s per core (issue #17; the FMA
# probe of ../shared/peer/sgemm_peak.c on a quiet machine: 117.1 on 1
# thread, 233.2 on 2) unless --peak-measured takes bench_machine's own
# (lower when other work holds the cores); the bandwidth is always
# bench_machine's triad at the step's thread count. Every program runs
# under /usr/bin/time -v (peak RSS); the step times are the medians the
# programs print (--steps timed steps after --warmup, --steps-b for
# config (b), whose PyTorch steps take 30-80 s), the roofline lines come
# from --profile more steps with the accounting on. JSON lines go to
# DIR/roofline.jsonl (default /tmp/run_roofline), the tables to stdout.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
peer=$here/../../shared/peer
bindir=${BIN_DIR:-$here}
out=/tmp/run_roofline
threads="1 2"
torch_threads="1 2"
skip_b=0
torch=1
nasrl=1
steps=3
steps_b=1
warmup=1
profile=1
peak_measured=0
while [ $# -gt 0 ]; do
    case $1 in
    --threads) threads=$2; shift ;;
    --torch-threads) torch_threads=$2; shift ;;
    --skip-b) skip_b=1 ;;
    --no-torch) torch=0 ;;
    --no-nasrl) nasrl=0 ;;
    --steps) steps=$2; shift ;;
    --steps-b) steps_b=$2; shift ;;
    --warmup) warmup=$2; shift ;;
    --profile) profile=$2; shift ;;
    --peak-measured) peak_measured=1 ;;
    --out) out=$2; shift ;;
    *) echo "run_roofline.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
for b in bench_machine bench_darts bench_enas; do
    [ -x "$bindir/$b" ] || { echo "run_roofline.sh: build $bindir/$b first (make bench/$b)" >&2; exit 2; }
done
[ "$torch" = 0 ] || [ -f "$peer/darts_ref.py" ] ||
    { echo "$0: $peer/darts_ref.py not found: ../shared/peer beside the checkout" >&2; exit 2; }
mkdir -p "$out"
jsonl=$out/roofline.jsonl
: > "$jsonl"

# run TAG IMPL LOG CMD...: the program's JSON lines, tagged, with the
# peak RSS that /usr/bin/time -v measured and the load average before.
run() {
    tag=$1 impl=$2 log=$3
    shift 3
    load=$(cut -d' ' -f1 /proc/loadavg)
    echo "== $tag: $impl (load $load)" >&2
    /usr/bin/time -v -o "$log.time" "$@" 2>"$log" > "$log.json" || {
        echo "run_roofline.sh: $tag $impl failed, see $log" >&2
        return 0
    }
    rss=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$log.time")
    sed "s/^{/{\"tag\": \"$tag\", \"impl\": \"$impl\", \"time_v_rss_kb\": $rss, \"load_before\": $load, /" \
        "$log.json" >> "$jsonl"
}

echo "load before: $(cat /proc/loadavg)" >&2
"$bindir/bench_machine" --mib 64 --reps 30 | tee "$out/machine.json" >> "$jsonl"
field() { sed -n "s/.*\"$1\": \([0-9.]*\).*/\1/p" "$out/machine.json"; }

cfg_a="--C 8 --layers 5 --batch 32 --hw 28 --in-ch 1"
cfg_b="--C 16 --layers 8 --batch 64 --hw 32 --in-ch 3"
# torch_at T: false when PyTorch runs at T threads (so `torch_at T || run`).
torch_at() {
    [ "$torch" = 0 ] && return 0
    case " $torch_threads " in *" $1 "*) return 1 ;; esac
    return 0
}
# roof T: the roofline options of a nasd run on T threads.
roof() {
    peak=$((115 * $1))
    [ "$peak_measured" = 0 ] || peak=$(field "peak_gflops_t$1")
    echo "--profile $profile --peak $peak --bw $(field "triad_gbs_t$1")"
}
# darts C T N: config C, both orders, T threads, N timed steps.
darts() {
    eval "cfg=\$cfg_$1"
    for o in 1 2; do
        tag="darts $1 o$o t$2"
        # shellcheck disable=SC2046,SC2086
        OPENBLAS_NUM_THREADS=1 run "$tag" nasd "$out/nasd_$1_o${o}_t$2.log" \
            "$bindir/bench_darts" $cfg --order "$o" --threads "$2" --steps "$3" \
            --warmup "$warmup" $(roof "$2")
        # shellcheck disable=SC2086
        torch_at "$2" || run "$tag" torch "$out/torch_$1_o${o}_t$2.log" \
            /usr/bin/python3 "$peer/darts_ref.py" $cfg --order "$o" --threads "$2" \
            --steps "$3" --warmup "$warmup"
    done
}
enas() {
    tag="enas t$1"
    # shellcheck disable=SC2046
    OPENBLAS_NUM_THREADS=1 run "$tag" nasd "$out/nasd_enas_t$1.log" "$bindir/bench_enas" \
        --C 20 --layers 6 --batch 64 --threads "$1" --steps "$steps" --warmup "$warmup" \
        $(roof "$1")
    torch_at "$1" || run "$tag" torch "$out/torch_enas_t$1.log" /usr/bin/python3 \
        "$peer/enas_ref.py" --part child --C 20 --layers 6 --batch 64 --threads "$1" \
        --steps "$steps" --warmup "$warmup" --no-aux
}
# The short rows first, config (b) (minutes per PyTorch step) last.
for t in $threads; do darts a "$t" "$steps"; done
for t in $threads; do enas "$t"; done
if [ "$nasrl" = 1 ] && [ -x "$bindir/bench_nasrl" ]; then
    load=$(cut -d' ' -f1 /proc/loadavg)
    echo "== nasrl m=4 t2 (load $load)" >&2
    OPENBLAS_NUM_THREADS=1 "$bindir/bench_nasrl" --algorithm random --m 4 --threads 2 \
        --children 8 --examples 6000 --epochs 1 2>"$out/nasrl.log" |
        sed "s/^{/{\"tag\": \"nasrl m4 t2\", \"impl\": \"nasd\", \"load_before\": $load, /" >> "$jsonl"
fi
[ "$skip_b" = 1 ] || for t in $threads; do darts b "$t" "$steps_b"; done
echo "load after: $(cat /proc/loadavg)" >&2
# The quiet machine's triad (shared/peer/results.md, 1 and 2 threads): the
# bound for the time the steps held the cores (roofline_table.py).
/usr/bin/python3 "$here/roofline_table.py" "$jsonl" 35.6 66.9
