#!/bin/bash
# SPDX-License-Identifier: MIT
# job_digest.sh - the numbers of five small jobs (darts-cnn order 2 with final
# training, enas-micro with final training, enas-macro, darts-rnn, nas-rl)
# run by a given nasd, without anything that depends on time, to compare two
# builds bit for bit (a refactor must not change a number):
#
#   tests/job_digest.sh OLD/nasd old.txt 18601; tests/job_digest.sh build/nasd new.txt 18602
#   cmp old.txt new.txt
#
# One worker, one thread: the numbers depend only on the specs and seeds.
set -e
bin=$1; out=$2; port=$3
dir=$(mktemp -d)
$bin --listen 127.0.0.1:$port --state-dir $dir --workers 1 --threads-per-job 1 > $dir/log 2>&1 &
pid=$!
P=127.0.0.1:$port
for i in $(seq 1 300); do   # up to 30 s for nasd to listen
    curl -sf $P/healthz >/dev/null 2>&1 && break
    sleep 0.1
done
ids=""
for spec in \
 '{"algorithm":"darts","search_space":"darts-cnn","dataset":"synthetic","budget":{"epochs":2},"hyperparameters":{"order":2,"C":4,"layers":3,"batch_size":8,"max_examples":96},"final_training":{"enabled":true,"epochs":1,"C":4,"layers":3},"seed":7}' \
 '{"algorithm":"enas","search_space":"enas-micro","dataset":"synthetic","budget":{"epochs":2},"hyperparameters":{"C":4,"layers":1,"nodes":3,"batch_size":8,"max_examples":96,"lstm_size":16,"controller_steps":2,"controller_aggregate":3,"final_samples":4},"final_training":{"enabled":true,"epochs":1,"C":4,"layers":1},"seed":8}' \
 '{"algorithm":"enas","search_space":"enas-macro","dataset":"synthetic","budget":{"epochs":2},"hyperparameters":{"C":4,"layers":3,"batch_size":8,"max_examples":96,"lstm_size":16,"controller_steps":2,"controller_aggregate":2,"final_samples":3},"seed":9}' \
 '{"algorithm":"darts","search_space":"darts-rnn","dataset":"fortunes","budget":{"epochs":1},"hyperparameters":{"embed":16,"hidden":16,"batch_size":8,"bptt":10,"max_vocab":200},"seed":10}' \
 '{"algorithm":"nas-rl","search_space":"nasrl-cnn","dataset":"synthetic","budget":{"max_architectures":4},"hyperparameters":{"max_examples":200,"children_per_update":2,"child_epochs":1},"seed":11}' \
 ; do
  id=$(curl -s $P/v1/jobs -H 'Content-Type: application/json' -d "$spec" | python3 -c 'import sys,json; d=json.load(sys.stdin); print(d.get("id") or ("ERR "+json.dumps(d)))')
  ids="$ids $id"
done
for id in $ids; do
  for i in $(seq 1 600); do
    st=$(curl -s $P/v1/jobs/$id | python3 -c 'import sys,json; print(json.load(sys.stdin)["state"])' 2>/dev/null || echo gone)
    case $st in succeeded|failed|cancelled) break;; esac
    sleep 0.5
  done
done
python3 - "$P" $ids > $out <<'PY'
import sys, json, urllib.request
P=sys.argv[1]
def get(p): return json.load(urllib.request.urlopen("http://"+P+p))
DROP={"t","seconds","images_per_second","tokens_per_second","eta_seconds","created_at","started_at","finished_at","updated_at","id","seq"}
def clean(x):
    if isinstance(x,dict): return {k:clean(v) for k,v in sorted(x.items()) if k not in DROP and "second" not in k}
    if isinstance(x,list): return [clean(v) for v in x if not (isinstance(v,dict) and "second" in str(v.get("name","")))]
    return x
for id in sys.argv[2:]:
    j=get("/v1/jobs/"+id)
    print("JOB", j["algorithm"], j.get("search_space"), j["state"], j.get("error"))
    print(json.dumps(clean(get("/v1/jobs/%s/metrics?limit=1000"%id)["metrics"]), sort_keys=True))
    print(json.dumps(clean(get("/v1/jobs/%s/architectures?limit=1000"%id)["architectures"]), sort_keys=True))
    try: print(json.dumps(clean(get("/v1/jobs/%s/result"%id)), sort_keys=True))
    except Exception as e: print("no result", e)
PY
kill $pid; wait $pid 2>/dev/null || true
rm -rf $dir
