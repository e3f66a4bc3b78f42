#!/bin/sh
# SPDX-License-Identifier: MIT
# test_man.sh - the man pages name what the programs take (issue #15
# item 7): every --option `nasd --help` lists is in man/nasd.8, and every
# command and --option `nasctl --help` lists is in man/nasctl.1, so an
# option added to daemon/config.c's or cli/nasctl.c's table without its
# paragraph fails here. Both pages must also format without warnings
# when man(1) is installed.
set -eu
srcdir=${srcdir:-.}
nasd=${NASD:-$PWD/nasd}
nasctl=${NASCTL:-$PWD/nasctl}
fail=0
# roff writes a - of an option as \-
roff() { printf '%s' "$1" | sed 's/-/\\-/g'; }
check() { # page option
  if ! grep -qF -- "$(roff "$2")" "$1"; then
    echo "FAIL: $1 does not describe $2" >&2
    fail=1
  fi
}
for o in $("$nasd" --help | grep -o -- '--[a-z0-9-]*' | sort -u); do
  check "$srcdir/man/nasd.8" "$o"
done
for o in $("$nasctl" --help | grep -o -- '--[a-z0-9-]*' | sort -u); do
  check "$srcdir/man/nasctl.1" "$o"
done
for c in $("$nasctl" --help | sed -n '/^commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }'); do
  grep -q "^\.BI\{0,1\} \"\{0,1\}$c[ \"]" "$srcdir/man/nasctl.1" || {
    echo "FAIL: man/nasctl.1 has no paragraph for the command $c" >&2
    fail=1
  }
done
for code in 0 1 2 3 4; do
  grep -q "^\.B $code\$" "$srcdir/man/nasctl.1" || { echo "FAIL: nasctl.1 lacks exit status $code" >&2; fail=1; }
done
if command -v man >/dev/null 2>&1; then
  for page in nasd.8 nasctl.1; do
    w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$srcdir/man/$page" 2>&1 >/dev/null || true)
    [ -z "$w" ] || { echo "FAIL: man/$page: $w" >&2; fail=1; }
  done
fi
exit $fail
