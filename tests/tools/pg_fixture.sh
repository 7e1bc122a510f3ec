#!/bin/bash
# The PostgreSQL pass of the test suite: one throwaway PostgreSQL 15 for the whole CTest run
# (CTest fixture "pg": `pg_fixture.sh start STATE` before, `pg_fixture.sh stop STATE` after),
# and `pg_fixture.sh run STATE NAME CMD...` around each test of the pass: it creates a fresh
# database for the test, exports its URL as FAKESCOPE_STORE (what `fakescope serve` and `keys`
# read) and the server's admin URL as FS_TEST_PG_URL (unit tests make their own databases),
# runs CMD and drops the database.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
cmd="$1"; state="$2"; shift 2
case "$cmd" in
start)
    dir="$(mktemp -d /tmp/fs-pgtest-XXXXXX)"
    echo "$dir" >"$state"
    "$here/scripts/pgtmp.sh" start "$dir" >/dev/null
    echo "PostgreSQL for the tests: $(cat "$dir/url") (data in $dir)" ;;
stop)
    [ -f "$state" ] || exit 0
    "$here/scripts/pgtmp.sh" stop "$(cat "$state")"
    rm -f "$state" ;;
run)
    name="$1"; shift
    [ -f "$state" ] || { echo "pg_fixture: no PostgreSQL started ($state missing)" >&2; exit 1; }
    dir="$(cat "$state")"
    db="it_$(echo "$name" | tr -c 'a-z0-9_\n' '_')_$$"
    FAKESCOPE_STORE="$("$here/scripts/pgtmp.sh" createdb "$dir" "$db")"
    FS_TEST_PG_URL="$(cat "$dir/url")"
    export FAKESCOPE_STORE FS_TEST_PG_URL
    rc=0
    "$@" || rc=$?
    "$here/scripts/pgtmp.sh" dropdb "$dir" "$db" >/dev/null 2>&1 || true
    exit "$rc" ;;
*) echo "usage: pg_fixture.sh start|stop|run STATE ..." >&2; exit 2 ;;
esac
