#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# predict.sh - POST /v1/jobs/{id}/predictions on a darts-cnn model (issue
# #14): images per second and p50/p99 latency for batches of 1 and 64,
# from one client, while a DARTS search runs on the other worker.
#
#   bench/predict.sh [--runs N] [--requests1 R] [--requests64 R]
#
# Starts its own nasd (build/nasd) on a free loopback port with a
# temporary state dir (--workers 2 --threads-per-job 1), trains a small
# darts-cnn network on Fashion-MNIST (the default genotype, C 8, 5 layers,
# 1000 images, 1 epoch), starts a darts search that keeps the other worker
# busy, then runs bench/predict_client.py N times per batch size (batch 1
# and 64 alternating) and prints every run and the medians. Needs the
# Fashion-MNIST files (Debian package dataset-fashion-mnist).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
nasd=${NASD:-$top/build/nasd}
PY=/usr/bin/python3
FMNIST=${FMNIST:-/usr/share/datasets/fashion-mnist}
runs=5
req1=200
req64=20
while [ $# -gt 0 ]; do
    case $1 in
    --runs) runs=$2; shift ;;
    --requests1) req1=$2; shift ;;
    --requests64) req64=$2; shift ;;
    *) echo "usage: $0 [--runs N] [--requests1 R] [--requests64 R]" >&2; exit 2 ;;
    esac
    shift
done
[ -x "$nasd" ] || { echo "$nasd not found: run ./quickstart test (or make) first" >&2; exit 1; }
[ -r "$FMNIST/t10k-images-idx3-ubyte.gz" ] ||
    { echo "no Fashion-MNIST in $FMNIST: apt-get install dataset-fashion-mnist" >&2; exit 1; }

state=$(mktemp -d)
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$nasd" --listen 127.0.0.1:"$port" --state-dir "$state" --workers 2 --threads-per-job 1 \
    --log-level warn 2>"$state/nasd.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$state"' EXIT
base=http://127.0.0.1:$port
for _ in $(seq 100); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.1; done

submit() { curl -fs "$base/v1/jobs" -H 'Content-Type: application/json' -d "$1" |
    $PY -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
state_of() { curl -fs "$base/v1/jobs/$1" | $PY -c 'import json,sys; print(json.load(sys.stdin)["state"])'; }

model=$(submit '{"algorithm":"train","dataset":"fashion-mnist","seed":1,
  "architecture":{"space":"darts-cnn","C":8,"layers":5},"budget":{"epochs":1},
  "hyperparameters":{"max_examples":1000}}')
echo "training darts-cnn model $model"
for _ in $(seq 6000); do
    case $(state_of "$model") in succeeded) break ;; failed|cancelled) echo "model job failed" >&2; exit 1 ;; esac
    sleep 0.2
done
curl -fs "$base/v1/jobs/$model/result" | $PY -c 'import json,sys; r=json.load(sys.stdin); print("model:", r["metric"], r["value"])'
search=$(submit '{"algorithm":"darts","dataset":"fashion-mnist","budget":{"epochs":50},
  "hyperparameters":{"C":8,"layers":5,"batch_size":32}}')
for _ in $(seq 100); do [ "$(state_of "$search")" = running ] && break; sleep 0.1; done
echo "search $search: $(state_of "$search") on the other worker"
echo "host: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"

out="$state/runs.jsonl"
: >"$out"
for r in $(seq "$runs"); do
    for b in 1 64; do
        n=$req1
        [ "$b" = 64 ] && n=$req64
        $PY "$top/bench/predict_client.py" "$base" "$model" "$FMNIST/t10k-images-idx3-ubyte.gz" \
            --batch "$b" --requests "$n" | tee -a "$out"
    done
done
[ "$(state_of "$search")" = running ] || echo "WARNING: the search was not running to the end" >&2
$PY - "$out" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for b in (1, 64):
    rs = [r for r in rows if r["batch"] == b]
    med = lambda k: statistics.median(r[k] for r in rs)
    print("RESULT batch=%d runs=%d images/s=%.1f p50=%.2f ms p99=%.2f ms (medians over runs)"
          % (b, len(rs), med("images_per_second"), med("p50_ms"), med("p99_ms")))
PYEOF
