#!/bin/bash
# bench/isolation_bench.sh BINARY: what decoding uploads in sandboxed worker processes costs.
# Two servers from the same binary run side by side, one decoding in its own process
# (--media-workers 0), one through its media workers (the default), and are measured in
# interleaved rounds, medians reported:
#   - the image check (seed 001): requests/s with wrk, 8 connections, a 256x256 JPEG sent as
#     multipart upload (the decode goes through a worker on every request);
#   - the face-video check (seed 002): latency of one upload of a 10 s 1080p DFDC clip, 32
#     frames, two models, one request at a time; each upload gets a few trailing bytes of its
#     own so that no answer comes from the stored result of an earlier one.
# Targets (issue "untrusted media"): at most 10% fewer image checks per second and at most 5%
# more face-video latency with isolation.
#
# Environment: BENCH_ISO_SECONDS per wrk measurement (default 8), BENCH_ISO_ROUNDS (default 5),
# BENCH_ISO_VIDEOS uploads per side per round (default 2), BENCH_ISO_MEDIA_WORKERS (the isolated
# server's --media-workers; default: its own default), FS_SHARED_DATA.
set -euo pipefail

BIN=$(realpath "${1:?usage: bench/isolation_bench.sh path/to/fakescope}")
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${FS_SHARED_DATA:-$HERE/../../shared/data}
SECS=${BENCH_ISO_SECONDS:-8}
ROUNDS=${BENCH_ISO_ROUNDS:-5}
VIDEOS=${BENCH_ISO_VIDEOS:-2}
VIDEO=$SHARED/dfdc/videos/fake/abqwwspghj.mp4
PATH_IC=/api/1.1/wf/api-deepfake-detection

for tool in wrk curl jq ffmpeg; do
    command -v $tool >/dev/null || { echo "isolation bench: $tool is not installed (scripts/deps.sh --bench)" >&2; exit 0; }
done
[ -f "$SHARED/mesonet/weights/Meso4_DF.h5" ] && [ -f "$VIDEO" ] ||
    { echo "isolation bench: shared data absent; skipped" >&2; exit 0; }

TMP=$(mktemp -d /tmp/fs_iso_bench.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT

ffmpeg -loglevel error -y -i "$SHARED/mesonet/test_images/df/df00204.jpg" -vf scale=256:256 -q:v 3 "$TMP/img.jpg"
"$BIN" models import --arch meso4 "$SHARED/mesonet/weights/Meso4_DF.h5" -o "$TMP/models" --name meso4-df >/dev/null
"$BIN" models import --arch mesoinception4 "$SHARED/mesonet/weights/MesoInception_DF.h5" -o "$TMP/models" \
    --name mesoinception4-df >/dev/null

# start NAME MEDIA_WORKERS: a server (MEDIA_WORKERS empty: the server's default); sets URL_<NAME>
# and KEY_<NAME>
start() {
    local name=$1 mw=$2
    "$BIN" serve --port 0 --data "$TMP/data-$name" --models "$TMP/models" --workers 8 --job-workers 2 \
        ${mw:+--media-workers "$mw"} --timeout 300 >"$TMP/$name.out" 2>"$TMP/$name.err" &
    PIDS+=($!)
    for _ in $(seq 1 200); do grep -q '^listening on' "$TMP/$name.out" 2>/dev/null && break; sleep 0.05; done
    local url key
    url=$(sed -n 's/^listening on //p' "$TMP/$name.out")
    key=$(sed -n 's/^admin key: //p' "$TMP/$name.out")
    [ -n "$url" ] && [ -n "$key" ] || { echo "isolation bench: server $name did not start" >&2; exit 1; }
    printf -v "URL_$name" '%s' "$url"
    printf -v "KEY_$name" '%s' "$key"
}
start inproc 0
start isolated "${BENCH_ISO_MEDIA_WORKERS:-}"

# wrk's multipart body, built once
BOUNDARY=fsbenchboundary
{
    printf -- '--%s\r\nContent-Disposition: form-data; name="modelName"\r\n\r\nmeso4-df\r\n' $BOUNDARY
    printf -- '--%s\r\nContent-Disposition: form-data; name="token"\r\n\r\n%%TOKEN%%\r\n' $BOUNDARY
    printf -- '--%s\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n' $BOUNDARY
    cat "$TMP/img.jpg"
    printf -- '\r\n--%s--\r\n' $BOUNDARY
} >"$TMP/body.tmpl"
for name in inproc isolated; do
    key_var="KEY_$name"
    python3 - "$TMP/body.tmpl" "$TMP/body.$name" "${!key_var}" <<'PY'
import sys
b = open(sys.argv[1], "rb").read().replace(b"%TOKEN%", sys.argv[3].encode())
open(sys.argv[2], "wb").write(b)
PY
done
cat >"$TMP/post.lua" <<'LUA'
local f = io.open(os.getenv("BENCH_BODY"), "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "multipart/form-data; boundary=fsbenchboundary"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("RESULT %.1f %d %d\n", summary.requests / (summary.duration / 1e6),
        summary.requests, e.status + e.connect + e.read + e.write + e.timeout))
end
LUA

# one check per server before measuring
for name in inproc isolated; do
    url_var="URL_$name"; key_var="KEY_$name"
    code=$(curl -s -o "$TMP/check" -w '%{http_code}' -X POST -H "Authorization: Bearer ${!key_var}" \
        -H "Content-Type: multipart/form-data; boundary=$BOUNDARY" --data-binary @"$TMP/body.$name" "${!url_var}$PATH_IC")
    [ "$code" = 200 ] || { echo "isolation bench: $name image check answered $code: $(cat "$TMP/check")" >&2; exit 1; }
done

rps() { # NAME -> requests/s
    local url_var="URL_$1" key_var="KEY_$1"
    BENCH_BODY="$TMP/body.$1" BENCH_KEY="${!key_var}" wrk -t 2 -c 8 -d "${SECS}s" -s "$TMP/post.lua" \
        "${!url_var}$PATH_IC" | awk '/^RESULT/ { if ($4 != 0) print "errors"; else print $2 }'
}
video_s() { # NAME -> seconds of one face-video check of a fresh copy of the clip
    local url_var="URL_$1" key_var="KEY_$1" code t
    cp "$VIDEO" "$TMP/v.mp4"
    # (called in a subshell: the nanosecond clock, not a counter, makes every copy new)
    printf 'fakescope-bench %s %s' "$1" "$(date +%s%N)" >>"$TMP/v.mp4"
    curl -s -o "$TMP/vout" -w '%{http_code} %{time_total}\n' -H "x-api-key: ${!key_var}" \
        -F "video=@$TMP/v.mp4" "${!url_var}/face/v1/deepfake?frames=32" >"$TMP/vcode"
    read -r code t <"$TMP/vcode"
    [ "$code" = 200 ] || { echo "isolation bench: $1 face-video check answered $code: $(cat "$TMP/vout")" >&2; exit 1; }
    echo "$t"
}
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

video_s inproc >/dev/null; video_s isolated >/dev/null # warm-up
for r in $(seq 1 "$ROUNDS"); do
    # alternate which side goes first
    if [ $((r % 2)) = 1 ]; then order="inproc isolated"; else order="isolated inproc"; fi
    for name in $order; do
        v=$(rps $name)
        [ "$v" != errors ] || { echo "isolation bench: $name had failed requests" >&2; exit 1; }
        echo "$v" >>"$TMP/rps.$name"
        for _ in $(seq 1 "$VIDEOS"); do video_s $name >>"$TMP/lat.$name"; done
    done
    echo "round $r: image checks/s inproc $(tail -1 "$TMP/rps.inproc") isolated $(tail -1 "$TMP/rps.isolated");" \
        "face video s inproc $(tail -1 "$TMP/lat.inproc") isolated $(tail -1 "$TMP/lat.isolated")" >&2
done

ri=$(median <"$TMP/rps.inproc"); rs=$(median <"$TMP/rps.isolated")
li=$(median <"$TMP/lat.inproc"); ls=$(median <"$TMP/lat.isolated")
echo
echo "## Isolation cost: $ROUNDS interleaved rounds, medians (2 CPUs, load $(cut -d' ' -f1 /proc/loadavg))"
echo
echo "| measure | in-process | isolated | change | target |"
echo "| --- | ---: | ---: | ---: | --- |"
awk -v a="$ri" -v b="$rs" 'BEGIN { printf "| image checks/s, 8 connections (256x256 JPEG) | %.1f | %.1f | %+.1f%% | >= -10%% |\n", a, b, (b / a - 1) * 100 }'
awk -v a="$li" -v b="$ls" 'BEGIN { printf "| face-video latency, 10 s 1080p clip, 32 frames, 2 models | %.3f s | %.3f s | %+.1f%% | <= +5%% |\n", a, b, (b / a - 1) * 100 }'
