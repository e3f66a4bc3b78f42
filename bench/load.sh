#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# load.sh - HTTP load on GET /v1/jobs/{id} with wrk (Debian package wrk):
# requests/s and p99 latency with idle workers, then with 2 busy workers.
#
#   bench/load.sh [--duration S] [--connections N]
#
# Starts its own nasd (build/nasd, from ./quickstart or make) on a free
# loopback port with a temporary state dir, and stops it at the end.
# Targets (issue #3): idle >= 30k requests/s keep-alive with p99 <= 5 ms;
# p99 <= 50 ms with 2 busy workers.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
nasd=${NASD:-$top/build/nasd}
duration=10
conns=32
while [ $# -gt 0 ]; do
    case $1 in
    --duration) duration=$2; shift ;;
    --connections) conns=$2; shift ;;
    *) echo "usage: $0 [--duration S] [--connections N]" >&2; exit 2 ;;
    esac
    shift
done
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
[ -x "$nasd" ] || { echo "$nasd not found: run ./quickstart test (or make) first" >&2; exit 1; }

state=$(mktemp -d)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$nasd" --listen 127.0.0.1:"$port" --state-dir "$state" --workers 2 --threads-per-job 1 \
    --log-level warn 2>"$state/nasd.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$state"' EXIT
base=http://127.0.0.1:$port
for _ in $(seq 100); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.1; done

submit() { curl -fs -X POST "$base/v1/jobs" -d "$1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
state_of() { curl -fs "$base/v1/jobs/$1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'; }

# A finished job to read: a tiny synthetic run.
id=$(submit '{"algorithm":"train","dataset":"synthetic","budget":{"epochs":1}}')
for _ in $(seq 600); do
    case $(state_of "$id") in succeeded|failed|cancelled) break ;; esac
    sleep 0.1
done

run() {
    echo "== $1: wrk -t1 -c$conns -d${duration}s --latency $base/v1/jobs/$id"
    wrk -t1 -c"$conns" -d"${duration}s" --latency "$base/v1/jobs/$id" | tee "$state/wrk.out" |
        grep -E "Requests/sec|^ +(50|90|99)%|Non-2xx|Socket errors"
    rps=$(awk '/Requests\/sec/ {print $2}' "$state/wrk.out")
    p99=$(awk '$1 == "99%" {print $2}' "$state/wrk.out")
    echo "RESULT $1 requests/s=$rps p99=$p99"
}
echo "host: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
run idle
# Two long jobs keep both workers busy while wrk runs again.
b1=$(submit '{"algorithm":"train","dataset":"fashion-mnist","budget":{"epochs":50}}')
b2=$(submit '{"algorithm":"train","dataset":"fashion-mnist","budget":{"epochs":50}}')
for _ in $(seq 100); do
    [ "$(state_of "$b1")" = running ] && [ "$(state_of "$b2")" = running ] && break
    sleep 0.1
done
sleep 2
echo "busy workers: $(curl -fs "$base/healthz")"
run busy
curl -fs -X POST "$base/v1/jobs/$b1:cancel" >/dev/null
curl -fs -X POST "$base/v1/jobs/$b2:cancel" >/dev/null
