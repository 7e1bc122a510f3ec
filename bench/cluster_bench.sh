#!/bin/bash
# bench/cluster_bench.sh BINARY [QUEUE_BENCH]: figures of the several-node setup (docs/cluster.md).
#  1. The queue: claim-and-complete rate of no-op tasks with 1, 2, 4 and 8 workers spread over 3
#     processes ("nodes") on one PostgreSQL 15, against SQLite with the same workers in one
#     process. Tasks are queued first; the rate is tasks / (last finish - first claim).
#  2. The image check (seed 001) through nginx with 1 and 2 nodes: requests/s with wrk.
# PostgreSQL and nginx are throwaway (scripts/pgtmp.sh, scripts/cluster.sh). Environment:
# BENCH_QUEUE_TASKS (default 2000), BENCH_HTTP_SECONDS (default 10), BENCH_HTTP_CONNS (16).
set -euo pipefail
BIN=$(realpath "${1:?usage: bench/cluster_bench.sh path/to/fakescope [path/to/queue_bench]}")
QB=$(realpath "${2:-$(dirname "$BIN")/queue_bench}")
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${FS_SHARED_DATA:-$ROOT/../shared/data}
N=${BENCH_QUEUE_TASKS:-2000}
SECS=${BENCH_HTTP_SECONDS:-10}
CONNS=${BENCH_HTTP_CONNS:-16}
for tool in wrk curl jq nginx psql; do
    command -v $tool >/dev/null || { echo "cluster bench: $tool is not installed (scripts/deps.sh --bench)" >&2; exit 0; }
done
[ -x "$QB" ] || { echo "cluster bench: $QB is not built (cmake --build build --target queue_bench)" >&2; exit 1; }
TMP=$(mktemp -d /tmp/fs_cluster_bench.XXXXXX)
chmod 755 "$TMP"
trap '"$ROOT/scripts/cluster.sh" stop "$TMP/c" >/dev/null 2>&1 || true; "$ROOT/scripts/pgtmp.sh" stop "$TMP/pg" >/dev/null 2>&1 || true; rm -rf "$TMP"' EXIT

# run_workers STORE W1 W2 ...: one `work` process per argument, started together; prints the rate.
run_workers() {
    local store=$1 i=0 pids=()
    shift
    for w in "$@"; do
        "$QB" work "$store" "$w" >"$TMP/w$i.out" 2>"$TMP/w$i.err" &
        pids+=($!)
        i=$((i + 1))
    done
    for p in "${pids[@]}"; do wait "$p"; done
    cat "$TMP"/w*.out | awk -v n="$N" '
        { if (first == 0 || ($1 > 0 && $1 < first)) first = $1; if ($2 > last) last = $2; done += $3 }
        END { if (done != n) { printf "ERROR: %d of %d tasks finished\n", done, n; exit 1 }
              printf "%.0f", done / ((last - first) / 1000.0) }'
    rm -f "$TMP"/w*.out "$TMP"/w*.err
}

echo "== queue: claim and complete $N no-op tasks"
"$ROOT/scripts/pgtmp.sh" start "$TMP/pg" >/dev/null
printf '%-8s %-24s %14s %22s %8s\n' workers "PostgreSQL processes" "PostgreSQL/s" "SQLite (1 process)/s" ratio
for W in 1 2 4 8; do
    case $W in 1) split="1" ;; 2) split="1 1" ;; 4) split="2 1 1" ;; 8) split="3 3 2" ;; esac
    url=$("$ROOT/scripts/pgtmp.sh" createdb "$TMP/pg" "q$W")
    "$QB" fill "$url" "$N"
    # shellcheck disable=SC2086
    pg=$(run_workers "$url" $split)
    mkdir -p "$TMP/lite$W"
    "$QB" fill "$TMP/lite$W" "$N"
    lite=$(run_workers "$TMP/lite$W" "$W")
    printf '%-8s %-24s %14s %22s %8s\n' "$W" "$(echo $split | wc -w) ($(echo $split | tr ' ' '+') workers)" "$pg" "$lite" \
        "$(awk -v a="$pg" -v b="$lite" 'BEGIN { printf "%.2f", a / b }')"
done
echo "writes per task: claim 1 UPDATE, finish 1 UPDATE (+ NOTIFY), each one commit; queueing 1 INSERT"
echo "rows written for $N tasks (PostgreSQL, pg_stat_database of the 8-worker run; commits include the bench's own polling):"
psql -X -A -t -q "$(cat "$TMP/pg/url")" -c "SELECT 'tup_inserted=' || tup_inserted || ' tup_updated=' || tup_updated || ' xact_commit=' || xact_commit FROM pg_stat_database WHERE datname = 'q8'"

# Where blobs go: a 6 MB upload (the face-video limit) written to a blob folder (what fakescope
# does: temporary file, fsync, rename, fsync of the folder) against an INSERT of the same bytes
# as bytea into PostgreSQL (one commit, WAL fsync). Median of 9 each.
echo "== a 6 MB blob: folder vs PostgreSQL bytea (median of 9, ms)"
head -c $((6 << 20)) /dev/urandom >"$TMP/blob.bin"
chmod 644 "$TMP/blob.bin"
mkdir -p "$TMP/blobdir"
folder=$(for i in $(seq 1 9); do
    s=$(date +%s%N)
    dd if="$TMP/blob.bin" of="$TMP/blobdir/tmp.$i" bs=1M conv=fsync status=none
    mv "$TMP/blobdir/tmp.$i" "$TMP/blobdir/b.$i"
    sync "$TMP/blobdir"
    echo $(( ($(date +%s%N) - s) / 1000000 ))
done | sort -n | sed -n 5p)
pgurl=$("$ROOT/scripts/pgtmp.sh" createdb "$TMP/pg" blobs)
psql -X -q "$pgurl" -c "CREATE TABLE b (id int, data bytea)"
bytea=$(for i in $(seq 1 9); do
    s=$(date +%s%N)
    psql -X -q "$pgurl" -c "INSERT INTO b VALUES ($i, pg_read_binary_file('$TMP/blob.bin'))"
    echo $(( ($(date +%s%N) - s) / 1000000 ))
done | sort -n | sed -n 5p)
echo "folder ${folder} ms, PostgreSQL bytea ${bytea} ms (the latter includes a psql start, ~10 ms)"
"$ROOT/scripts/pgtmp.sh" stop "$TMP/pg" >/dev/null

[ -f "$SHARED/mesonet/weights/Meso4_DF.h5" ] || { echo "cluster bench: shared data absent; HTTP part skipped" >&2; exit 0; }
echo "== image check through nginx (256x256 JPEG as a data: URL, $CONNS connections, ${SECS}s)"
ffmpeg -loglevel error -y -i "$SHARED/mesonet/test_images/df/df00204.jpg" -vf scale=256:256 -q:v 3 "$TMP/img.jpg"
"$BIN" models import --arch meso4 "$SHARED/mesonet/weights/Meso4_DF.h5" -o "$TMP/models" --name meso4-df >/dev/null
cat >"$TMP/post.lua" <<'LUA'
local f = io.open(os.getenv("BENCH_BODY"), "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("RESULT %.1f %.2f %.2f %d %d\n", summary.requests / (summary.duration / 1e6),
        latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.requests,
        e.status + e.connect + e.read + e.write + e.timeout))
end
LUA
printf '%-6s %10s %9s %9s %9s %7s\n' nodes "req/s" "p50 ms" "p99 ms" requests errors
for nodes in 1 2; do
    FAKESCOPE="$BIN" "$ROOT/scripts/cluster.sh" start "$TMP/c" "$nodes" -- --models "$TMP/models" --workers 2 >/dev/null
    . "$TMP/c/env"
    jq -cn --arg u "data:image/jpeg;base64,$(base64 -w0 "$TMP/img.jpg")" --arg k "$ADMIN_KEY" \
        '{imageUrl: $u, modelName: "meso4-df", token: $k}' >"$TMP/body.json"
    out=$(curl -s -X POST -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' \
        --data-binary @"$TMP/body.json" "$CLUSTER_URL/api/1.1/wf/api-deepfake-detection")
    [ "$(jq -r .status <<<"$out")" = success ] || { echo "cluster bench: $out" >&2; exit 1; }
    r=$(BENCH_BODY="$TMP/body.json" BENCH_KEY="$ADMIN_KEY" wrk -t2 -c"$CONNS" -d"${SECS}s" --latency \
        -s "$TMP/post.lua" "$CLUSTER_URL/api/1.1/wf/api-deepfake-detection" | sed -n 's/^RESULT //p')
    read -r rps p50 p99 reqs errs <<<"$r"
    printf '%-6s %10s %9s %9s %9s %7s\n' "$nodes" "$rps" "$p50" "$p99" "$reqs" "$errs"
    "$ROOT/scripts/cluster.sh" stop "$TMP/c" >/dev/null
done
echo "(all nodes share this machine's $(nproc) cores: more nodes add no CPU here, only coordination)"
