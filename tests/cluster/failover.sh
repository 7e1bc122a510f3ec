#!/bin/bash
# Failover (make cluster-failover; long, not part of `make test`): 3 nodes behind nginx on
# loopback (scripts/cluster.sh), 30 video tasks (5 videos x 6 frame counts) posted through
# nginx, then the node holding the most running tasks is killed with SIGKILL. Checks: every task
# ends done exactly once (status done, no failed task, one result per task, attempts <= 2),
# uploads repeated through nginx while the node is dead join their tasks (or get the stored
# result),
# the results equal those of a single node on SQLite computing the same 30 scans (timings
# aside), and requests through nginx keep succeeding while the node is dead (a request in flight
# on the dead node may be retried once by the client, nothing else).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
FAKESCOPE="${FAKESCOPE:-$root/build/fakescope}"
D="${FS_SHARED_DATA:-$root/../shared/data}"
for t in jq psql sqlite3 curl nginx; do command -v "$t" >/dev/null || { echo "failover: $t is missing (scripts/deps.sh)"; exit 1; }; done
[ -d "$D/dfdc/videos" ] && [ -f "$D/mesonet/weights/Meso4_DF.h5" ] || { echo "skipped: $D is absent"; exit 77; }
T=$(mktemp -d /tmp/fs-failover-XXXXXX)
chmod 755 "$T" # PostgreSQL runs as its own user below it
C="$T/cluster"
log() { echo "failover: $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
cleanup() {
    [ -n "${SINGLE_PID:-}" ] && kill -KILL "$SINGLE_PID" 2>/dev/null || true
    "$root/scripts/cluster.sh" stop "$C" >/dev/null 2>&1 || true
    rm -rf "$T"
}
trap cleanup EXIT

M="$T/models"
"$FAKESCOPE" models import --arch meso4 "$D/mesonet/weights/Meso4_DF.h5" -o "$M" --name meso4-df >/dev/null
"$FAKESCOPE" models import --arch mesoinception4 "$D/mesonet/weights/MesoInception_DF.h5" -o "$M" --name mesoinception4-df >/dev/null
videos=("$D"/dfdc/videos/*/*.mp4 "$D/ffpp-c40/real/youtube/481.mp4" "$D/ffpp-c40/fake/FaceSwap/481_469.mp4")
[ ${#videos[@]} -eq 5 ] || fail "expected 5 videos, found ${#videos[@]}"
FRAMES=(8 12 16 20 24 28)
SERVE=(--models "$M" --workers 4 --job-workers 1 --queue-max 64)

# post BASE_URL KEY VIDEO FRAMES: prints the task id (retries once on a connection error or 502:
# the request was in flight on the node that died).
post() {
    local out code try
    for try in 1 2; do
        code=$(curl -sS --max-time 120 -o "$T/post.json" -w '%{http_code}' -H "X-Api-Key: $2" \
            -F "file=@$3" -F "frames=$4" "$1/api/classification_video" 2>/dev/null) || code=000
        case "$code" in 200|202) jq -r .task_id "$T/post.json"; return 0 ;; 000|502) RETRIES=$((RETRIES + 1)); continue ;; esac
        fail "POST $(basename "$3") frames=$4: HTTP $code $(head -c 300 "$T/post.json")"
    done
    fail "POST $(basename "$3") frames=$4 failed twice"
}
RETRIES=0

log "starting 3 nodes, PostgreSQL and nginx"
"$root/scripts/cluster.sh" start "$C" 3 -- "${SERVE[@]}" >/dev/null
. "$C/env"
psql_q() { psql -X -A -t -q "$STORE_URL" -c "$1"; }

log "posting 30 video tasks through nginx ($CLUSTER_URL)"
tasks=()
for v in "${videos[@]}"; do
    for f in "${FRAMES[@]}"; do tasks+=("$(post "$CLUSTER_URL" "$ADMIN_KEY" "$v" "$f")"); done
done
[ "$(printf '%s\n' "${tasks[@]}" | sort -u | wc -l)" -eq 30 ] || fail "30 posts did not make 30 tasks"

# The node with the most running tasks (bounded wait for one to run).
victim=""
for _ in $(seq 1 600); do
    victim=$(psql_q "SELECT lease_owner FROM tasks WHERE status = 'running' GROUP BY lease_owner ORDER BY count(*) DESC, lease_owner LIMIT 1")
    [ -n "$victim" ] && break
    sleep 0.1
done
[ -n "$victim" ] || fail "no task ran within 60 s"
held=$(psql_q "SELECT string_agg(id, ' ') FROM tasks WHERE status = 'running' AND lease_owner = '$victim'")
k=${victim#node}
log "kill -9 $victim (running: $held)"
"$root/scripts/cluster.sh" kill-node "$C" "$k"
killed_at=$(date +%s)

# Uploads through nginx while the node is dead: the same bytes and settings join the task
# already made (nginx sends them to a live node; a connection to the dead one is retried by
# nginx itself, the POST never having reached a node).
for v in "${videos[@]}"; do
    again=$(post "$CLUSTER_URL" "$ADMIN_KEY" "$v" 8)
    if [ "$again" = null ]; then # 200: the stored result, no task
        [ "$(jq -r .status "$T/post.json")" = done ] || fail "a re-upload of $(basename "$v"): $(head -c 300 "$T/post.json")"
    else
        printf '%s\n' "${tasks[@]}" | grep -qx "$again" || fail "a re-upload of $(basename "$v") made a new task $again"
    fi
done

# Requests through nginx while the node is dead and its tasks move: every GET must answer.
log "polling all tasks through nginx until done"
gets=0
for _ in $(seq 1 1200); do
    left=0
    for id in "${tasks[@]}"; do
        code=$(curl -sS --max-time 20 -o "$T/task.json" -w '%{http_code}' -H "X-API-KEY: $ADMIN_KEY" \
            "$CLUSTER_URL/v0.7/tasks/$id" 2>/dev/null) || code=000
        gets=$((gets + 1))
        [ "$code" = 200 ] || fail "GET /v0.7/tasks/$id through nginx answered $code after the kill"
        st=$(jq -r .status "$T/task.json")
        [ "$st" = failed ] && fail "task $id failed: $(jq -c .error "$T/task.json")"
        [ "$st" = done ] || left=$((left + 1))
    done
    [ "$left" = 0 ] && break
    sleep 1
done
[ "$left" = 0 ] || fail "$left tasks not done 20 min after the kill"
log "all 30 done $(( $(date +%s) - killed_at )) s after the kill; $gets GETs through nginx all answered 200; $RETRIES POSTs retried"

# Done exactly once: states, attempts, the killed node's tasks finished by others, one result each.
ids=$(printf "'%s'," "${tasks[@]}"); ids=${ids%,}
[ "$(psql_q "SELECT count(*) FROM tasks WHERE id IN ($ids) AND status = 'done'")" = 30 ] || fail "not every task is done"
[ "$(psql_q "SELECT count(*) FROM tasks WHERE status <> 'done'")" = 0 ] || fail "a task is not done: $(psql_q "SELECT id, status FROM tasks WHERE status <> 'done'")"
[ "$(psql_q "SELECT max(attempts) FROM tasks")" -le 2 ] || fail "a task was claimed more than twice"
for id in $held; do
    a=$(psql_q "SELECT attempts FROM tasks WHERE id = '$id'")
    [ "$a" = 2 ] || fail "task $id of the killed node ran $a times (expected 2: once cut short, once elsewhere)"
done
[ "$(psql_q "SELECT count(*) FROM results WHERE settings LIKE 'scan1;%'")" = 30 ] || fail "not one result per task"
psql_q "SELECT sha256 || ' ' || settings || ' ' || json FROM results WHERE settings LIKE 'scan1;%' ORDER BY 1" >"$T/cluster.results"
"$root/scripts/cluster.sh" stop "$C" >/dev/null

# The same 30 scans on one node with SQLite.
log "the same 30 scans on a single node (SQLite)"
"$FAKESCOPE" serve --host 127.0.0.1 --port 0 --data "$T/single" "${SERVE[@]}" >"$T/single.out" 2>"$T/single.err" &
SINGLE_PID=$!
for _ in $(seq 1 600); do grep -q '^listening on' "$T/single.out" && break; sleep 0.05; done
URL=$(sed -n 's/^listening on \(http:\/\/[^ ]*\)$/\1/p' "$T/single.out")
KEY=$(sed -n 's/^admin key: \(fsk_[0-9a-f]*\)$/\1/p' "$T/single.out")
for v in "${videos[@]}"; do for f in "${FRAMES[@]}"; do post "$URL" "$KEY" "$v" "$f" >/dev/null; done; done
for _ in $(seq 1 1200); do
    n=$(sqlite3 -readonly "$T/single/fakescope.db" "SELECT count(*) FROM tasks WHERE status IN ('done','failed')")
    [ "$n" = 30 ] && break
    sleep 1
done
[ "$(sqlite3 -readonly "$T/single/fakescope.db" "SELECT count(*) FROM tasks WHERE status = 'done'")" = 30 ] || fail "the single node did not finish"
sqlite3 -readonly "$T/single/fakescope.db" "SELECT sha256 || ' ' || settings || ' ' || json FROM results WHERE settings LIKE 'scan1;%' ORDER BY 1" >"$T/single.results"
kill -TERM "$SINGLE_PID"; wait "$SINGLE_PID" || true; SINGLE_PID=""

# Timings differ from run to run; everything else must be equal.
norm() {
    while read -r sha settings json; do
        printf '%s %s %s\n' "$sha" "$settings" "$(echo "$json" | jq -cS 'walk(if type == "object" then del(.timing, .faces_ms, .model_ms) else . end)')"
    done <"$1"
}
norm "$T/cluster.results" | sort >"$T/a"
norm "$T/single.results" | sort >"$T/b"
cmp -s "$T/a" "$T/b" || { diff "$T/a" "$T/b" | head -c 2000 >&2; fail "cluster and single-node results differ"; }
log "30 results identical to the single node's (timings aside)"
echo "PASS"
