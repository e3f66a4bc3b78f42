#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/onnx/run.sh [BUILD_DIR] - nasd's ONNX models in other runtimes
# (issue #14 part 3).
#
# Installs what it needs when it is missing (Debian's python3-onnx, nodejs
# and npm through apt-get; onnxruntime-node at the version pinned in
# package-lock.json through `npm ci --ignore-scripts`, which skips its GPU
# download: the CPU library is inside the package). Then BUILD_DIR's
# tests/test_onnx trains a tiny model of every image space and every
# language model (the LSTM LM, darts-rnn, enas-rnn, nasrl-rnn), and keeps the .onnx files with nasd's own logits (256
# test images; 24 steps of 4 test sequences) in BUILD_DIR/tests/onnx/models;
# Debian's ONNX checker must accept each model (full_check) and
# onnxruntime's logits must match nasd's within 1e-4 with the same argmax.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$(cd "$here/../.." && pwd)"
build="$(cd "${1:-${BUILD_DIR:-$src/build}}" && pwd)"

if [ ! -x "$build/tests/test_onnx" ]; then
    echo "run.sh: no tests/test_onnx in $build (build it first: make -C $build check)" >&2
    exit 1
fi

need=()
/usr/bin/python3 -c 'import onnx' 2>/dev/null || need+=(python3-onnx)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "==> apt-get install ${need[*]}"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${need[@]}"
fi

cd "$here"
echo "==> npm ci --ignore-scripts (tests/onnx: onnxruntime-node as pinned in package-lock.json)"
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

models="$build/tests/onnx/models"
rm -rf "$models"
mkdir -p "$models"
echo "==> tests/test_onnx: a tiny model of every image space and language model, kept in $models"
(cd "$build" && NASD_ONNX_DIR="$models" OPENBLAS_NUM_THREADS=1 ./tests/test_onnx --filter 'onnx/*')
echo "==> Debian's ONNX checker"
/usr/bin/python3 "$here/check.py" "$models"
echo "==> onnxruntime-node against nasd's logits"
node "$here/check.mjs" "$models"
