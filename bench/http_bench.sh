#!/bin/bash
# bench/http_bench.sh BINARY: the image check (seed 001) over HTTP on loopback, measured with wrk:
# requests/s and p50/p99 latency at 1 and 16 connections for a 256x256 JPEG sent as a base64
# data: URL in the JSON body, against fakescope serve and against bench/flask_imagecheck.py (Flask
# + PyTorch Meso4 doing the same work) in the same run, with the ratio; plus the resident memory
# of both servers after the load.
#
# Environment: BENCH_HTTP_SECONDS per measurement (default 10), BENCH_HTTP_ROUNDS interleaved
# rounds whose medians are reported (default 3), BENCH_HTTP_WORKERS (fakescope
# request threads, default 2), FS_SHARED_DATA (default ../shared/data beside the source tree:
# Meso4_DF.h5 and a MesoNet test image).
set -euo pipefail

BIN=$(realpath "${1:?usage: bench/http_bench.sh path/to/fakescope}")
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${FS_SHARED_DATA:-$HERE/../../shared/data}
SECS=${BENCH_HTTP_SECONDS:-10}
ROUNDS=${BENCH_HTTP_ROUNDS:-3}
WORKERS=${BENCH_HTTP_WORKERS:-2}
PY=/usr/bin/python3
PATH_IC=/api/1.1/wf/api-deepfake-detection

for tool in wrk curl jq ffmpeg; do
    command -v $tool >/dev/null || { echo "http bench: $tool is not installed (scripts/deps.sh --bench)" >&2; exit 0; }
done
[ -f "$SHARED/mesonet/weights/Meso4_DF.h5" ] || { echo "http bench: shared data absent; skipped" >&2; exit 0; }

TMP=$(mktemp -d /tmp/fs_http_bench.XXXXXX)
OURS="" FLASK=""
cleanup() {
    [ -n "$OURS" ] && kill "$OURS" 2>/dev/null && wait "$OURS" 2>/dev/null
    [ -n "$FLASK" ] && kill "$FLASK" 2>/dev/null && wait "$FLASK" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

# The request: a 256x256 JPEG in a data: URL.
ffmpeg -loglevel error -y -i "$SHARED/mesonet/test_images/df/df00204.jpg" -vf scale=256:256 -q:v 3 "$TMP/img.jpg"
"$BIN" models import --arch meso4 "$SHARED/mesonet/weights/Meso4_DF.h5" -o "$TMP/models" --name meso4-df >/dev/null

"$BIN" serve --port 0 --data "$TMP/data" --models "$TMP/models" --workers "$WORKERS" >"$TMP/ours.out" 2>/dev/null &
OURS=$!
for _ in $(seq 1 200); do grep -q '^listening on' "$TMP/ours.out" 2>/dev/null && break; sleep 0.05; done
OURS_URL=$(sed -n 's/^listening on //p' "$TMP/ours.out")
KEY=$(sed -n 's/^admin key: //p' "$TMP/ours.out")
[ -n "$OURS_URL" ] && [ -n "$KEY" ] || { echo "http bench: fakescope serve did not start" >&2; exit 1; }
jq -cn --arg u "data:image/jpeg;base64,$(base64 -w0 "$TMP/img.jpg")" --arg k "$KEY" \
    '{imageUrl: $u, modelName: "meso4-df", token: $k}' >"$TMP/body.json"

have_flask=1
if "$PY" -c "import flask, torch, cv2" 2>/dev/null; then
    FPORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296 \
        "$PY" "$HERE/flask_imagecheck.py" "$FPORT" "$KEY" >"$TMP/flask.out" 2>"$TMP/flask.err" &
    FLASK=$!
    FLASK_URL="http://127.0.0.1:$FPORT"
    for _ in $(seq 1 600); do curl -s -o /dev/null "$FLASK_URL/" 2>/dev/null && break; sleep 0.05; done
else
    have_flask=0
    echo "http bench: flask, torch or cv2 missing for $PY; reporting fakescope alone" >&2
fi

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

check() { # URL: one request must succeed before measuring
    local out
    out=$(curl -s -X POST -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
        --data-binary @"$TMP/body.json" "$1$PATH_IC")
    [ "$(jq -r .status <<<"$out")" = success ] || { echo "http bench: $1 answered $out" >&2; exit 1; }
}
measure() { # URL CONNECTIONS -> "rps p50 p99 requests errors"
    local threads=$(($2 < 2 ? 1 : 2))
    BENCH_BODY="$TMP/body.json" BENCH_KEY="$KEY" wrk -t"$threads" -c"$2" -d"${SECS}s" --latency \
        -s "$TMP/post.lua" "$1$PATH_IC" | sed -n 's/^RESULT //p'
}
rss_mb() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
hwm_mb() { awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

check "$OURS_URL"
[ $have_flask -eq 1 ] && check "$FLASK_URL"
echo "image check over HTTP: 256x256 JPEG as a data: URL ($(stat -c %s "$TMP/body.json") byte body), ${SECS}s per run, $ROUNDS rounds, fakescope --workers $WORKERS"
printf '%-10s %5s %10s %9s %9s %8s %7s\n' server conns "req/s" "p50 ms" "p99 ms" requests errors
# Rounds interleave the two servers (ours, Flask, ours, Flask, ...) so that a noisy neighbour
# slows both sides alike; the summary takes the median of each column over the rounds.
declare -A ROWS
for r in $(seq 1 "$ROUNDS"); do
    for c in 1 16; do
        line=$(measure "$OURS_URL" $c)
        ROWS[ours$c]+="$line"$'\n'
        read -r rps p50 p99 n err <<<"$line"
        printf '%-10s %5d %10s %9s %9s %8s %7s  (round %d)\n' fakescope $c "$rps" "$p50" "$p99" "$n" "$err" "$r"
        if [ $have_flask -eq 1 ]; then
            line=$(measure "$FLASK_URL" $c)
            ROWS[flask$c]+="$line"$'\n'
            read -r rps p50 p99 n err <<<"$line"
            printf '%-10s %5d %10s %9s %9s %8s %7s  (round %d)\n' flask $c "$rps" "$p50" "$p99" "$n" "$err" "$r"
        fi
    done
done
median() { # COLUMN: median of that column of stdin
    awk -v k="$1" 'NF { print $k }' | sort -g |
        awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
echo "medians over $ROUNDS interleaved rounds:"
declare -A RPS
for c in 1 16; do
    for side in ours flask; do
        [ "$side" = flask ] && [ $have_flask -eq 0 ] && continue
        rows=${ROWS[$side$c]}
        RPS[$side$c]=$(median 1 <<<"$rows")
        printf '%-10s %5d %10s %9s %9s\n' "$([ $side = ours ] && echo fakescope || echo flask)" $c \
            "${RPS[$side$c]}" "$(median 2 <<<"$rows")" "$(median 3 <<<"$rows")"
    done
done
if [ $have_flask -eq 1 ]; then
    for c in 1 16; do
        awk -v a="${RPS[ours$c]}" -v b="${RPS[flask$c]}" -v c=$c \
            'BEGIN { if (b > 0) printf "ratio at %d connection(s): fakescope %.1fx the requests/s of Flask + PyTorch\n", c, a / b }'
    done
fi
echo "memory: fakescope RSS $(rss_mb "$OURS") MB (peak $(hwm_mb "$OURS") MB)$([ $have_flask -eq 1 ] && echo ", Flask + PyTorch RSS $(rss_mb "$FLASK") MB (peak $(hwm_mb "$FLASK") MB)")"
