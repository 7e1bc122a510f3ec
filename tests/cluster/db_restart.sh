#!/bin/bash
# PostgreSQL restarted under load (make cluster-db-restart; not part of `make test`): 2 nodes
# behind nginx, 12 video tasks posted, then PostgreSQL is stopped for 6 s while tasks run.
# Checks: each node's /healthz answers 503 ("store":"unavailable") while the database is down,
# and 200 again by itself within 30 s of its return; every task ends done, once (one result per
# task, none failed, attempts <= 2); requests through nginx succeed again after the restart.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
FAKESCOPE="${FAKESCOPE:-$root/build/fakescope}"
D="${FS_SHARED_DATA:-$root/../shared/data}"
for t in jq psql curl nginx; do command -v "$t" >/dev/null || { echo "db_restart: $t is missing (scripts/deps.sh)"; exit 1; }; done
[ -d "$D/dfdc/videos" ] && [ -f "$D/mesonet/weights/Meso4_DF.h5" ] || { echo "skipped: $D is absent"; exit 77; }
T=$(mktemp -d /tmp/fs-dbrestart-XXXXXX)
chmod 755 "$T"
C="$T/cluster"
log() { echo "db_restart: $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
trap '"$root/scripts/cluster.sh" stop "$C" >/dev/null 2>&1 || true; rm -rf "$T"' EXIT

M="$T/models"
"$FAKESCOPE" models import --arch meso4 "$D/mesonet/weights/Meso4_DF.h5" -o "$M" --name meso4-df >/dev/null
videos=("$D"/dfdc/videos/fake/*.mp4)
log "starting 2 nodes, PostgreSQL and nginx"
"$root/scripts/cluster.sh" start "$C" 2 -- --models "$M" --workers 4 --job-workers 1 >/dev/null
. "$C/env"
psql_q() { psql -X -A -t -q "$STORE_URL" -c "$1"; }
health() { curl -s --max-time 10 -o "$T/h.json" -w '%{http_code}' "$1/healthz" || echo 000; }

tasks=()
for v in "${videos[@]}"; do
    for f in 8 12 16 20 24 28; do
        code=$(curl -sS --max-time 60 -o "$T/post.json" -w '%{http_code}' -H "X-Api-Key: $ADMIN_KEY" \
            -F "file=@$v" -F "frames=$f" "$CLUSTER_URL/api/classification_video")
        [ "$code" = 202 ] || [ "$code" = 200 ] || fail "POST: $code $(cat "$T/post.json")"
        tasks+=("$(jq -r .task_id "$T/post.json")")
    done
done
n=${#tasks[@]}
for _ in $(seq 1 600); do
    [ "$(psql_q "SELECT count(*) FROM tasks WHERE status = 'running'")" -gt 0 ] && break
    sleep 0.1
done
log "$n tasks queued; stopping PostgreSQL for 6 s while $(psql_q "SELECT count(*) FROM tasks WHERE status = 'running'") run"
"$root/scripts/pgtmp.sh" halt "$C/pg"
down_at=$(date +%s)
for node in "$NODE1_URL" "$NODE2_URL"; do
    code=000
    for _ in $(seq 1 50); do
        code=$(health "$node")
        [ "$code" = 503 ] && break
        sleep 0.1
    done
    [ "$code" = 503 ] || fail "$node/healthz answered $code while PostgreSQL was down"
    fs=$(jq -r .store "$T/h.json")
    [ "$fs" = unavailable ] || fail "$node/healthz says store $fs while PostgreSQL was down"
done
log "both nodes answer 503 (store unavailable) $(( $(date +%s) - down_at )) s after the stop"
sleep $(( 6 - ($(date +%s) - down_at) > 0 ? 6 - ($(date +%s) - down_at) : 0 ))
"$root/scripts/pgtmp.sh" start "$C/pg" >/dev/null
up_at=$(date +%s)
for node in "$NODE1_URL" "$NODE2_URL"; do
    code=000
    for _ in $(seq 1 300); do
        code=$(health "$node")
        [ "$code" = 200 ] && break
        sleep 0.1
    done
    [ "$code" = 200 ] || fail "$node/healthz still $code 30 s after PostgreSQL came back"
done
log "both nodes healthy again $(( $(date +%s) - up_at )) s after PostgreSQL returned"

for _ in $(seq 1 900); do
    left=$(psql_q "SELECT count(*) FROM tasks WHERE status IN ('queued', 'running')")
    [ "$left" = 0 ] && break
    sleep 1
done
[ "$left" = 0 ] || fail "$left tasks unfinished 15 min after the restart"
for id in "${tasks[@]}"; do
    code=$(curl -sS --max-time 20 -o "$T/task.json" -w '%{http_code}' -H "X-API-KEY: $ADMIN_KEY" "$CLUSTER_URL/v0.7/tasks/$id")
    [ "$code" = 200 ] || fail "GET task $id through nginx: $code"
    [ "$(jq -r .status "$T/task.json")" = done ] || fail "task $id: $(jq -c '{status, error}' "$T/task.json")"
done
[ "$(psql_q "SELECT count(*) FROM tasks WHERE status = 'done'")" = "$n" ] || fail "not all $n tasks done"
[ "$(psql_q "SELECT count(*) FROM results WHERE settings LIKE 'scan1;%'")" = "$n" ] || fail "not one result per task"
max=$(psql_q "SELECT max(attempts) FROM tasks")
[ "$max" -le 2 ] || fail "a task was claimed $max times"
log "all $n tasks done once (attempts: $(psql_q "SELECT string_agg(attempts::text, ',' ORDER BY id) FROM tasks"))"
echo "PASS"
