#!/bin/bash
# A throwaway fakescope cluster on this machine, for tests, benchmarks and anyone who wants to
# try one: a PostgreSQL 15 (scripts/pgtmp.sh), N `fakescope serve` nodes on loopback ports
# sharing it and one blob folder, and nginx balancing them (deploy/nginx/fakescope.conf's
# settings). Everything lives in DIR; `stop` ends it all and removes DIR.
#
# Usage:
#   scripts/cluster.sh start DIR N [-- SERVE_OPTIONS...]   prints CLUSTER_URL=..., ADMIN_KEY=...
#                                                          (also in DIR/env, for `. DIR/env`)
#   scripts/cluster.sh stop DIR
#   scripts/cluster.sh kill-node DIR K        kill -9 node K (1..N), as a crash would
#   scripts/cluster.sh start-node DIR K       starts node K again
#   scripts/cluster.sh restart-db DIR [SECONDS]  stops PostgreSQL, waits SECONDS (default 5), starts it
# Environment: FAKESCOPE (the binary; default build/fakescope), NGINX (default nginx).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
FAKESCOPE="${FAKESCOPE:-$root/build/fakescope}"
NGINX="${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}"
cmd="${1:-}"; dir="${2:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n '2,16p' "$0" >&2; exit 2; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_node K: starts node K with the options saved at `start`; waits until it listens.
start_node() {
    local k=$1 port out
    port=$(cat "$dir/node$k.port")
    out="$dir/node$k.out"
    : >"$out"
    # shellcheck disable=SC2046
    "$FAKESCOPE" serve --host 127.0.0.1 --port "$port" --data "$dir/node$k" --store "$(cat "$dir/store.url")" \
        --blobs "$dir/blobs" --node-id "node$k" $(cat "$dir/serve.args") >>"$out" 2>>"$dir/node$k.err" &
    echo $! >"$dir/node$k.pid"
    for _ in $(seq 1 600); do
        grep -q '^listening on' "$out" && return 0
        kill -0 "$(cat "$dir/node$k.pid")" 2>/dev/null || { tail -5 "$dir/node$k.err" >&2; return 1; }
        sleep 0.05
    done
    echo "cluster: node $k did not listen within 30 s" >&2
    return 1
}

write_nginx() {
    local n=$1 port=$2 k
    mkdir -p "$dir/nginx/tmp"
    {
        [ "$(id -u)" = 0 ] && echo "user www-data;"
        echo "worker_processes 1;"
        echo "pid $dir/nginx/nginx.pid;"
        echo "error_log $dir/nginx/error.log warn;"
        echo "events { worker_connections 1024; }"
        echo "http {"
        echo "  access_log $dir/nginx/access.log;"
        echo "  client_body_temp_path $dir/nginx/tmp/body; proxy_temp_path $dir/nginx/tmp/proxy;"
        echo "  fastcgi_temp_path $dir/nginx/tmp/fcgi; uwsgi_temp_path $dir/nginx/tmp/uwsgi; scgi_temp_path $dir/nginx/tmp/scgi;"
        echo "  upstream fakescope_nodes {"
        for k in $(seq 1 "$n"); do
            echo "    server 127.0.0.1:$(cat "$dir/node$k.port") max_fails=1 fail_timeout=5s;"
        done
        echo "    keepalive 32;"
        echo "  }"
        echo "  server {"
        echo "    listen 127.0.0.1:$port;"
        echo "    client_max_body_size 17m;"
        echo "    location / {"
        echo "      proxy_pass http://fakescope_nodes;"
        echo "      proxy_http_version 1.1;"
        echo "      proxy_set_header Connection \"\";"
        echo "      proxy_read_timeout 130s; proxy_connect_timeout 2s;"
        echo "      proxy_next_upstream error timeout http_503;"
        echo "      proxy_next_upstream_tries 3;"
        echo "    }"
        echo "  }"
        echo "}"
    } >"$dir/nginx/nginx.conf"
    [ "$(id -u)" = 0 ] && chown -R www-data: "$dir/nginx/tmp"
    return 0
}

case "$cmd" in
start)
    n="${3:?number of nodes}"
    shift 3
    [ "${1:-}" = "--" ] && shift
    [ -x "$FAKESCOPE" ] || { echo "cluster: $FAKESCOPE is not built (make build)" >&2; exit 1; }
    [ -x "$NGINX" ] || { echo "cluster: nginx is not installed (scripts/deps.sh installs it)" >&2; exit 1; }
    mkdir -p "$dir/blobs"
    chmod 755 "$dir" # PostgreSQL runs as its own user in DIR/pg
    dir="$(cd "$dir" && pwd)"
    echo "$*" >"$dir/serve.args"
    echo "$n" >"$dir/nodes"
    "$root/scripts/pgtmp.sh" start "$dir/pg" >/dev/null
    "$root/scripts/pgtmp.sh" createdb "$dir/pg" fakescope >"$dir/store.url"
    for k in $(seq 1 "$n"); do free_port >"$dir/node$k.port"; done
    # Node 1 first: it applies the migrations and makes the first admin key; the others find both.
    start_node 1
    key=$(sed -n 's/^admin key: \(fsk_[0-9a-f]*\)$/\1/p' "$dir/node1.out")
    for k in $(seq 2 "$n"); do start_node "$k"; done
    port=$(free_port)
    write_nginx "$n" "$port"
    "$NGINX" -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/nginx/error.log"
    for _ in $(seq 1 100); do
        curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break
        sleep 0.1
    done
    {
        echo "CLUSTER_URL=http://127.0.0.1:$port"
        echo "ADMIN_KEY=$key"
        echo "STORE_URL=$(cat "$dir/store.url")"
        for k in $(seq 1 "$n"); do echo "NODE${k}_URL=http://127.0.0.1:$(cat "$dir/node$k.port")"; done
    } >"$dir/env"
    cat "$dir/env" ;;
stop)
    [ -d "$dir" ] || exit 0
    if [ -f "$dir/nginx/nginx.pid" ]; then
        kill -QUIT "$(cat "$dir/nginx/nginx.pid")" 2>/dev/null || true
    fi
    for f in "$dir"/node*.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        kill -TERM "$pid" 2>/dev/null || true
    done
    for f in "$dir"/node*.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    "$root/scripts/pgtmp.sh" stop "$dir/pg" || true
    rm -rf "$dir" ;;
kill-node)
    k="${3:?node number}"
    kill -KILL "$(cat "$dir/node$k.pid")" ;;
start-node)
    k="${3:?node number}"
    start_node "$k" ;;
restart-db)
    "$root/scripts/pgtmp.sh" halt "$dir/pg"
    sleep "${3:-5}"
    "$root/scripts/pgtmp.sh" start "$dir/pg" >/dev/null ;;
*) sed -n '2,16p' "$0" >&2; exit 2 ;;
esac
