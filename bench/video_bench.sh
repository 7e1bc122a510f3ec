#!/bin/bash
# bench/video_bench.sh BINARY: throughput and latency of POST /face/v1/deepfake on the shared
# 10 s 1080p DFDC clips, at 1 and 4 concurrent clients, and the server's resident memory while
# it works (sampled from /proc every 0.5 s; the last sample against the one after the first
# requests shows whether memory grows with the request count).
#
# Identical uploads are answered from the stored result, so each request sends a distinct copy
# of a clip (the clip with a few random bytes appended, which the MP4 demuxer ignores): every
# figure is a full decode + face finding + inference.
#
# Environment: BENCH_VIDEO_REQUESTS per concurrency level (default 40), BENCH_VIDEO_FRAMES
# (frames sampled per clip, default: the server's default), BENCH_VIDEO_WORKERS (job workers,
# default 2), BENCH_VIDEO_CLIENTS (concurrency levels, default "1 4"), FS_SHARED_DATA (default
# /work/shared/data).
set -euo pipefail
BIN=${1:?usage: bench/video_bench.sh path/to/fakescope}
D=${FS_SHARED_DATA:-/work/shared/data}
N=${BENCH_VIDEO_REQUESTS:-40}
WORKERS=${BENCH_VIDEO_WORKERS:-2}
Q=${BENCH_VIDEO_FRAMES:+?frames=$BENCH_VIDEO_FRAMES}
clips=("$D"/dfdc/videos/*/*.mp4)
[ -f "${clips[0]}" ] || { echo "video_bench: no clips in $D/dfdc/videos" >&2; exit 1; }
tmp=$(mktemp -d /tmp/fs_vbench_XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

"$BIN" models import --arch meso4 "$D/mesonet/weights/Meso4_DF.h5" -o "$tmp/models" --name meso4-df >/dev/null
"$BIN" models import --arch mesoinception4 "$D/mesonet/weights/MesoInception_DF.h5" -o "$tmp/models" \
    --name mesoinception4-df >/dev/null
"$BIN" serve --port 0 --data "$tmp/data" --models "$tmp/models" --workers 8 --job-workers "$WORKERS" \
    --queue-max 1000 >"$tmp/out" 2>"$tmp/err" &
pid=$!
for i in $(seq 1 200); do grep -q '^listening on' "$tmp/out" && break; sleep 0.05; done
URL=$(sed -n 's/^listening on //p' "$tmp/out")
KEY=$(sed -n 's/^admin key: //p' "$tmp/out")
rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
(while kill -0 "$pid" 2>/dev/null; do echo "$(date +%s.%N) $(rss)"; sleep 0.5; done) >"$tmp/rss" 2>/dev/null &

# one CLIENT COUNT: COUNT requests, each with a fresh copy of a clip; prints seconds per request
one() {
    local c=$1 n=$2 i f
    for i in $(seq 1 "$n"); do
        f="$tmp/c$c.mp4"
        cp "${clips[$(((c + i) % ${#clips[@]}))]}" "$f"
        head -c 16 /dev/urandom >>"$f"
        curl -sS --max-time 300 -o "$tmp/r$c" -w '%{time_total}\n' -H "x-api-key: $KEY" -F "video=@$f" \
            "$URL/face/v1/deepfake$Q"
        grep -q '"status":"SUCCESS"\|"status":"NO_FACE"' "$tmp/r$c" || { echo "bad answer: $(cat "$tmp/r$c")" >&2; }
    done
}

echo "clips: ${#clips[@]} DFDC 10 s 1920x1080; job workers: $WORKERS; frames: ${BENCH_VIDEO_FRAMES:-server default}; $(nproc) CPUs"
rss0=$(rss)
for conc in ${BENCH_VIDEO_CLIENTS:-1 4}; do
    per=$(((N + conc - 1) / conc))
    t0=$(date +%s.%N)
    pids=()
    for c in $(seq 1 "$conc"); do
        one "$c" "$per" >"$tmp/lat.$conc.$c" &
        pids+=($!)
    done
    wait "${pids[@]}"
    t1=$(date +%s.%N)
    cat "$tmp"/lat.$conc.* | sort -n >"$tmp/lat.$conc"
    awk -v c="$conc" -v t="$(echo "$t1 - $t0" | bc)" '{a[NR] = $1} END {
        printf "clients %d: %d requests in %.1f s = %.1f videos/min; latency p50 %.2f s, p90 %.2f s, max %.2f s\n",
            c, NR, t, NR * 60 / t, a[int(NR * 0.5 + 0.5)], a[int(NR * 0.9 + 0.5)], a[NR] }' "$tmp/lat.$conc"
    echo "  RSS after clients $conc: $(rss) KiB"
done
awk '{a[NR] = $2} END {printf "RSS by quarter of the run: %d %d %d %d KiB\n", a[int(NR / 4)], a[int(NR / 2)], a[int(3 * NR / 4)], a[NR]}' "$tmp/rss"
awk -v r0="$rss0" 'NR == 1 {first = $2} {if ($2 > max) max = $2; last = $2} END {
    printf "RSS: %d KiB idle with models loaded, %d KiB peak, %d KiB at the end (first sample %d KiB)\n", r0, max, last, first }' "$tmp/rss"
