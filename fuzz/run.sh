#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# fuzz/run.sh [SECONDS] - build the libFuzzer harnesses and run each one
# SECONDS (default 60); exits non-zero when any of them found a crash, a
# sanitizer report, a leak, a timeout or an out-of-memory.
#
# The build is its own configuration (CC=clang configure --enable-fuzz:
# coverage instrumentation, ASan and UBSan over the engine, the daemon
# library and the harnesses) in $FUZZ_BUILD_DIR (default build-fuzz/).
# Each harness starts from its checked-in seeds, fuzz/corpus/NAME/, and
# grows a working corpus in $FUZZ_BUILD_DIR/corpus/NAME/ (kept between
# runs); a crashing input is saved as $FUZZ_BUILD_DIR/artifacts/NAME/crash-*
# and its log printed. FUZZ_JOBS harnesses run at once (default: cores).
# Needs the Debian packages clang and libclang-rt-14-dev.
set -euo pipefail
secs=${1:-60}
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${FUZZ_BUILD_DIR:-$top/build-fuzz}
par=${FUZZ_JOBS:-$(nproc)}
harnesses=(fuzz_router fuzz_spec fuzz_ckpt fuzz_data fuzz_import)
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

cd "$top"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
    say "autoreconf"
    autoreconf -fi >/dev/null
fi
mkdir -p "$dir"
cd "$dir"
if [ ! -f Makefile ] || ! grep -q -- '--enable-fuzz' config.status 2>/dev/null; then
    say "configure --enable-fuzz (clang)"
    CC=${FUZZ_CC:-clang} "$top/configure" --enable-fuzz >/dev/null
fi
say "make the harnesses"
make -j"$(nproc)" "${harnesses[@]/#/fuzz/}" >make.log 2>&1 || { tail -n 60 make.log; exit 1; }

run_one() {
    local h=$1
    mkdir -p "corpus/$h" "artifacts/$h"
    # -timeout: one input may take this long (the router's turns, a big
    # IDX file under ASan); -rss_limit_mb: libFuzzer's default, said.
    "./fuzz/$h" -max_total_time="$secs" -timeout=30 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="artifacts/$h/" \
        "corpus/$h" "$top/fuzz/corpus/$h" >"$h.log" 2>&1
}

say "fuzzing ${harnesses[*]}: ${secs} s each, ${par} at a time"
declare -A rc
pids=()
names=()
for h in "${harnesses[@]}"; do
    run_one "$h" &
    pids+=($!)
    names+=("$h")
    if [ ${#pids[@]} -ge "$par" ]; then
        st=0
        wait "${pids[0]}" || st=$?
        rc[${names[0]}]=$st
        pids=("${pids[@]:1}")
        names=("${names[@]:1}")
    fi
done
for i in "${!pids[@]}"; do
    st=0
    wait "${pids[$i]}" || st=$?
    rc[${names[$i]}]=$st
done

failed=0
for h in "${harnesses[@]}"; do
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$h.log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$h.log" | tail -1)
    units=$(find "corpus/$h" -type f | wc -l)
    if [ "${rc[$h]}" -eq 0 ]; then
        printf '%-12s ok      %10s executions in %s s (%s/s), corpus %s\n' \
            "$h" "${execs:-?}" "$secs" "${speed:-?}" "$units"
    else
        failed=1
        printf '%-12s FAILED  exit %s after %s executions\n' "$h" "${rc[$h]}" "${execs:-?}"
        tail -n 60 "$h.log"
        ls -l "artifacts/$h/" || true
    fi
done
exit $failed
