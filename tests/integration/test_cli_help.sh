#!/bin/bash
# `fakescope --help` lists every command once, each listed command answers --help with its own
# usage line and exit 0, and an unknown command is a usage error (exit 2).
set -euo pipefail
: "${FAKESCOPE:?path of the fakescope binary}"
fail() { echo "FAIL: $*" >&2; exit 1; }

help=$("$FAKESCOPE" --help)
# the command lines: two spaces, a name, spaces, a summary
names=$(printf '%s\n' "$help" | sed -n 's/^  \([a-z][a-z-]*\)  *[a-z].*/\1/p')
[ "$(printf '%s\n' "$names" | wc -l)" -ge 10 ] || fail "too few commands listed: $names"
dups=$(printf '%s\n' "$names" | sort | uniq -d)
[ -z "$dups" ] || fail "listed more than once: $dups"
for c in $names; do
    out=$("$FAKESCOPE" "$c" --help 2>&1) || fail "$c --help exited $?"
    case "$out" in
    "usage: fakescope $c"*) ;;
    *) fail "$c --help does not start with its usage line: $(printf '%s\n' "$out" | sed -n 1p)" ;;
    esac
done
rc=0
"$FAKESCOPE" no-such-command >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "unknown command exited $rc, not 2"
echo "ok: $(printf '%s\n' "$names" | wc -l) commands, each listed once with its own --help"
