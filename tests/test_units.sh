#!/bin/sh
# SPDX-License-Identifier: MIT
# test_units.sh - nasd's systemd units as systemd itself reads them:
# `systemd-analyze verify` finds nothing to say about nasd.service and
# nasd.socket, nor about the service with the cluster drop-in
# (nasd-mpi.conf.example, issue #18), and `systemd-analyze security
# --offline=yes` rates the exposure of both at most 2.0 (issue #8).
#
# The unit under test is the one `make install` writes (systemd/nasd.service
# of the build tree, made from nasd.service.in) with one change: ExecStart
# names the nasd built here, because verify checks that the command exists
# and the installed path need not (yet).
set -eu
srcdir=${srcdir:-.}
nasd=${NASD:-$PWD/nasd}
max_exposure=2.0
fail() { echo "FAIL: $*" >&2; exit 1; }

command -v systemd-analyze >/dev/null || fail "systemd-analyze not found: apt-get install systemd"
[ -f systemd/nasd.service ] || make systemd/nasd.service >/dev/null || fail "cannot make systemd/nasd.service"
[ -x "$nasd" ] || fail "$nasd is not executable"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nasd-units-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
grep -q '^ExecStart=/' systemd/nasd.service || fail "nasd.service has no absolute ExecStart="
sed "s|^ExecStart=[^ ]*|ExecStart=$nasd|" systemd/nasd.service > "$tmp/nasd.service"
cp "$srcdir/systemd/nasd.socket" "$tmp/nasd.socket"
grep -q "^ExecStart=$nasd --config " "$tmp/nasd.service" || fail "ExecStart was not rewritten"

# verify: no output at all is the pass (it prints every complaint, and
# exits non-zero only for some of them).
rc=0
out=$(cd "$tmp" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no \
        "$tmp/nasd.service" "$tmp/nasd.socket" 2>&1) || rc=$?
[ "$rc" = 0 ] || { echo "$out" >&2; fail "systemd-analyze verify exited with $rc"; }
[ -z "$out" ] || { echo "$out" >&2; fail "systemd-analyze verify complained"; }
echo "systemd-analyze verify: nasd.service and nasd.socket are clean"

# The cluster drop-in (systemd/nasd-mpi.conf.example, README "Many
# machines") as systemd applies it: its lines after the unit's (ExecStart=
# empty, then the new one, naming the nasd built here); verify must find
# nothing to say about the result either, and it must keep the exposure
# bound below.
mkdir "$tmp/mpi"
cp "$tmp/nasd.service" "$tmp/mpi/nasd.service"
sed "s|^ExecStart=/[^ ]*|ExecStart=$nasd|" "$srcdir/systemd/nasd-mpi.conf.example" >> "$tmp/mpi/nasd.service"
[ "$(grep -c "^ExecStart=$nasd " "$tmp/mpi/nasd.service")" = 2 ] || fail "drop-in ExecStart was not rewritten"
rc=0
out=$(cd "$tmp/mpi" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no \
        "$tmp/mpi/nasd.service" 2>&1) || rc=$?
[ "$rc" = 0 ] || { echo "$out" >&2; fail "systemd-analyze verify (with nasd-mpi.conf.example) exited with $rc"; }
[ -z "$out" ] || { echo "$out" >&2; fail "systemd-analyze verify complained about nasd-mpi.conf.example"; }
echo "systemd-analyze verify: nasd.service with nasd-mpi.conf.example is clean"

# The options the issue names must be there (so that a lower exposure
# reached some other way does not hide one that went missing).
for opt in Type=notify Restart=on-failure DynamicUser=yes StateDirectory=nasd \
           RuntimeDirectory=nasd LoadCredential=nasd-token WatchdogSec= \
           ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes \
           NoNewPrivileges=yes ProtectKernelTunables=yes ProtectKernelModules=yes \
           ProtectControlGroups=yes RestrictNamespaces=yes MemoryDenyWriteExecute=yes \
           SystemCallFilter=@system-service CapabilityBoundingSet= UMask=0077; do
    grep -q "^$opt" "$tmp/nasd.service" || fail "nasd.service lacks $opt"
done
grep -q '^ListenStream=127.0.0.1:8080$' "$tmp/nasd.socket" || fail "nasd.socket: ListenStream"

for unit in "$tmp/nasd.service" "$tmp/mpi/nasd.service"; do
    sec=$(systemd-analyze security --offline=yes --no-pager "$unit" 2>&1) || {
        echo "$sec" >&2; fail "systemd-analyze security failed on $unit"; }
    line=$(printf '%s\n' "$sec" | grep 'Overall exposure level') ||
        { echo "$sec" >&2; fail "no 'Overall exposure level' line for $unit"; }
    exposure=$(printf '%s\n' "$line" | sed -n 's/.*: \([0-9][0-9]*\.[0-9]\).*/\1/p')
    [ -n "$exposure" ] || fail "cannot read the exposure from: $line"
    echo "systemd-analyze security ($unit): $line"
    awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e + 0 <= m + 0) }' ||
        { printf '%s\n' "$sec" | grep '✗' >&2; fail "exposure $exposure of $unit is over $max_exposure"; }
    echo "PASS: exposure $exposure <= $max_exposure"
done
