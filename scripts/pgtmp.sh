#!/bin/bash
# A throwaway PostgreSQL 15 for tests, benchmarks and scripts/cluster.sh: initdb into a folder,
# a server on a free loopback port with its unix socket in the same folder, trust auth on
# loopback only, fsync on (the failover tests rely on committed rows surviving a kill).
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` system user
# the Debian package creates (runuser); as any other user it runs as that user.
#
# Usage:
#   scripts/pgtmp.sh start DIR     initdb (if DIR/pgdata is absent) and start; prints the URL
#                                  (postgresql://postgres@127.0.0.1:PORT/postgres), also in DIR/url
#   scripts/pgtmp.sh stop DIR      fast shutdown, then removes DIR
#   scripts/pgtmp.sh restart DIR   stops (fast) and starts again on the same port, keeping data
#   scripts/pgtmp.sh halt DIR      stops without removing DIR (restart with `start DIR`)
#   scripts/pgtmp.sh createdb DIR NAME   creates database NAME; prints its URL
#   scripts/pgtmp.sh dropdb DIR NAME
# Exit 77 (the test suite's "skipped") only when PGTMP_SKIP_OK=1 and PostgreSQL is absent;
# otherwise a missing PostgreSQL is an error: scripts/deps.sh installs it.
set -euo pipefail

PGBIN="${PGBIN:-$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null || true)}"
cmd="${1:-}"
dir="${2:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: pgtmp.sh start|stop|restart|halt|createdb|dropdb DIR [NAME]" >&2; exit 2; }

if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
    echo "pgtmp: PostgreSQL 15 is not installed (scripts/deps.sh installs postgresql-15)" >&2
    [ "${PGTMP_SKIP_OK:-0}" = 1 ] && exit 77
    exit 1
fi

# Runs a command as the database's owner.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

psql_do() { # psql_do DIR SQL
    "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$1" -p "$(cat "$1/port")" -U postgres -d postgres -c "$2"
}

start() {
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$dir"
        chmod 700 "$dir"
        runuser -u postgres -- test -x "$dir" || {
            echo "pgtmp: the postgres user cannot reach $dir: make its parent folders searchable (chmod o+x)" >&2
            exit 1
        }
    fi
    if [ ! -f "$dir/pgdata/PG_VERSION" ]; then
        as_owner "$PGBIN/initdb" -D "$dir/pgdata" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
            >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    [ -f "$dir/port" ] || free_port >"$dir/port"
    port="$(cat "$dir/port")"
    # Loopback and the private socket only; enough connections for a few nodes' pools.
    as_owner "$PGBIN/pg_ctl" -D "$dir/pgdata" -l "$dir/server.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c max_connections=200 -c shared_buffers=64MB" \
        start >/dev/null || { tail -20 "$dir/server.log" >&2; exit 1; }
    echo "postgresql://postgres@127.0.0.1:$port/postgres" >"$dir/url"
    cat "$dir/url"
}

halt() {
    [ -f "$dir/pgdata/postmaster.pid" ] || return 0
    as_owner "$PGBIN/pg_ctl" -D "$dir/pgdata" -m fast -w -t 30 stop >/dev/null 2>&1 || true
}

case "$cmd" in
start) start ;;
stop) halt; rm -rf "$dir" ;;
halt) halt ;;
restart) halt; start >/dev/null ;;
createdb)
    name="${3:?database name}"
    psql_do "$dir" "CREATE DATABASE \"$name\""
    echo "postgresql://postgres@127.0.0.1:$(cat "$dir/port")/$name" ;;
dropdb)
    name="${3:?database name}"
    psql_do "$dir" "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" ;;
*) echo "pgtmp: unknown command $cmd" >&2; exit 2 ;;
esac
