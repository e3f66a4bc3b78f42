#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/browser/run.sh [BUILD_DIR] - the dashboard's browser tests (issue #7).
#
# Installs what they need when it is missing (Debian's chromium, nodejs and
# npm through apt-get; playwright-core at the version pinned in
# package-lock.json through `npm ci`), then runs them against BUILD_DIR/nasd
# (default: build/, or $BUILD_DIR). Screenshots go to
# BUILD_DIR/tests/browser/screenshots; the log names each one.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$(cd "$here/../.." && pwd)"
build="$(cd "${1:-${BUILD_DIR:-$src/build}}" && pwd)"

if [ ! -x "$build/nasd" ]; then
    echo "run.sh: no nasd in $build (build it first: ./quickstart test)" >&2
    exit 1
fi

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
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
echo "==> npm ci (tests/browser: playwright-core as pinned in package-lock.json)"
npm ci --no-audit --no-fund --loglevel=error

shots="$build/tests/browser/screenshots"
mkdir -p "$shots"
echo "==> browser tests: nasd $build/nasd, chromium $(/usr/bin/chromium --version 2>/dev/null | head -1)"
echo "==> screenshots: $shots"
# One file at a time: each starts its own nasd and chromium, and the
# machines this runs on may have two cores.
NASD="$build/nasd" SCREENSHOT_DIR="$shots" NASD_WEB_DIR="$src/web" \
    node --test --test-concurrency=1 --test-reporter=spec dashboard.test.mjs controller.test.mjs \
    datasets.test.mjs model.test.mjs estimate.test.mjs
