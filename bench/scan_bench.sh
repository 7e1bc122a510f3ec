#!/bin/bash
# bench/scan_bench.sh BINARY: seconds to judge each shared 10 s 1080p DFDC clip with 32 evenly
# spaced frames and two models (Meso4 and MesoInception4 with the original MesoNet DF weights),
# split into decode / face finding / inference, with `fakescope scan` and with the same pipeline
# in Python (bench/scan_python.py: cv2.VideoCapture, cv2.CascadeClassifier, PyTorch), and the
# ratio of the totals. Both sides use BENCH_SCAN_THREADS threads (default: all CPUs):
# fakescope --threads N (decoder threads, face-finding threads beside the decoding thread, and
# threads per model); Python cv2.setNumThreads(N) and torch.set_num_threads(N) (OpenCV's own
# FFmpeg decoder picks its thread count itself). Model loading is outside both timings.
#
# Rounds alternate which side goes first and every figure is the median over the rounds, since
# the machine may be shared; the load average is printed before and after.
#
# Environment: BENCH_SCAN_ROUNDS (default 5), BENCH_SCAN_THREADS, BENCH_SCAN_FRAMES (default 32),
# BENCH_OUT (file for the raw JSON lines; default a temporary file), FS_SHARED_DATA.
# fakescope runs with its default face finder (BlazeFace) and again with --face-detector haar.
set -euo pipefail
BIN=${1:?usage: bench/scan_bench.sh path/to/fakescope}
HERE=$(cd "$(dirname "$0")" && pwd)
D=${FS_SHARED_DATA:-$HERE/../../shared/data}
ROUNDS=${BENCH_SCAN_ROUNDS:-5}
THREADS=${BENCH_SCAN_THREADS:-$(nproc)}
FRAMES=${BENCH_SCAN_FRAMES:-32}
PY=/usr/bin/python3 # Debian's python3-opencv and python3-torch live there
clips=("$D"/dfdc/videos/*/*.mp4)
[ -f "${clips[0]}" ] || { echo "scan_bench: no clips in $D/dfdc/videos" >&2; exit 1; }
tmp=$(mktemp -d /tmp/fs_sbench_XXXXXX)
trap 'rm -rf "$tmp"' EXIT
RAW=${BENCH_OUT:-$tmp/raw.jsonl}
: >"$RAW"

"$BIN" models import --arch meso4 "$D/mesonet/weights/Meso4_DF.h5" -o "$tmp/models" --name meso4-df >/dev/null
"$BIN" models import --arch mesoinception4 "$D/mesonet/weights/MesoInception_DF.h5" -o "$tmp/models" \
    --name mesoinception4-df >/dev/null
have_py=1
if ! "$PY" -c "import cv2, torch" 2>/dev/null; then
    have_py=0
    echo "scan_bench: cv2 or torch is not importable by $PY (scripts/deps.sh --bench installs them); fakescope alone" >&2
fi

# ours [IMPL FLAGS...]: fakescope with its default face finder (BlazeFace), or as IMPL with flags;
# IMPL fakescope-default runs the registry's default video model (models/: faceswap, a
# MobileNetV2) instead of the two MesoNets
ours() {
    local impl=${1:-fakescope}
    shift || true
    local models=(--models-dir "$tmp/models" --models meso4-df,mesoinception4-df)
    [ "$impl" = fakescope-default ] && models=()
    "$BIN" scan "${models[@]}" --frames "$FRAMES" \
        --threads "$THREADS" --json "$@" "${clips[@]}" 2>/dev/null |
        jq -c --argjson t "$THREADS" --arg impl "$impl" '{impl: $impl, clip: (.file | split("/") | last),
            frames: (.frames | length), faces: ([.frames[].faces | length] | add),
            decode: .timing.decode, faces_ms: .timing.faces, inference: .timing.inference,
            total: .timing.total, threads: $t}' >>"$RAW"
}
theirs() { "$PY" "$HERE/scan_python.py" "$tmp/models" "$THREADS" "$FRAMES" "${clips[@]}" >>"$RAW"; }

load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "scan_bench: ${#clips[@]} clips, $FRAMES frames, $THREADS threads, $ROUNDS interleaved rounds; raw results in $RAW" >&2
for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) -eq 1 ] || [ $have_py -eq 0 ]; then
        ours
        ours fakescope-haar --face-detector haar
        ours fakescope-default
        [ $have_py -eq 1 ] && theirs
    else
        theirs
        ours fakescope-default
        ours fakescope-haar --face-detector haar
        ours
    fi
    echo "scan_bench: round $r of $ROUNDS done" >&2
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

"$PY" - "$RAW" "$load0" "$load1" "$(nproc)" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = statistics.median
by = {}
for r in rows:
    by.setdefault((r["clip"], r["impl"]), []).append(r)
def m(clip, impl, key):
    v = by.get((clip, impl))
    return med(x[key] for x in v) / 1000 if v else None
clips = sorted({c for c, _ in by})
threads = rows[0]["threads"] if rows else 0
print(f"Judging a 10 s 1080p DFDC clip: {rows and rows[0]['frames']} frames, Meso4 + MesoInception4, "
      f"{threads} threads each side, {sys.argv[4]} CPUs; load average {sys.argv[2]} before, {sys.argv[3]} after")
print("Seconds, median of the rounds. fakescope's stages overlap (decoding thread beside face-finding")
print("threads), so its decode/faces/inference are work per stage and may sum to more than the total.")
print("Python runs the stages one after another; its inference includes cropping and resizing the faces.")
print()
print("| clip | faces | fakescope total | decode | faces | inference | Python total | decode | faces | inference | speed-up |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
ratios = []
for c in clips:
    f = [m(c, "fakescope", k) for k in ("total", "decode", "faces_ms", "inference")]
    p = [m(c, "python", k) for k in ("total", "decode", "faces_ms", "inference")]
    nf = by[(c, "fakescope")][0]["faces"] if (c, "fakescope") in by else "-"
    fs = " | ".join(f"{x:.2f}" if x is not None else "-" for x in f)
    ps = " | ".join(f"{x:.2f}" if x is not None else "-" for x in p)
    ratio = p[0] / f[0] if f[0] and p[0] else None
    if ratio: ratios.append(ratio)
    print(f"| {c} | {nf} | {fs} | {ps} | {ratio:.1f}x |" if ratio else f"| {c} | {nf} | {fs} | {ps} | - |")
print()
print("The same scan with the cascade (--face-detector haar), seconds, medians:")
print("| clip | faces | total | faces stage |")
print("| --- | ---: | ---: | ---: |")
for c in clips:
    if (c, "fakescope-haar") in by:
        print(f"| {c} | {by[(c, 'fakescope-haar')][0]['faces']} | {m(c, 'fakescope-haar', 'total'):.2f} | "
              f"{m(c, 'fakescope-haar', 'faces_ms'):.2f} |")
print()
print("The same scan with the default video model (faceswap, a MobileNetV2, one model), seconds, medians:")
print("| clip | faces | total | inference | target 1.5 s |")
print("| --- | ---: | ---: | ---: | --- |")
for c in clips:
    if (c, "fakescope-default") in by:
        t = m(c, 'fakescope-default', 'total')
        print(f"| {c} | {by[(c, 'fakescope-default')][0]['faces']} | {t:.2f} | "
              f"{m(c, 'fakescope-default', 'inference'):.2f} | {'met' if t < 1.5 else 'NOT met'} |")
print()
worst = max((m(c, "fakescope", "total") for c in clips if (c, "fakescope") in by), default=None)
if worst is not None:
    print(f"Targets: every clip under 1 s (slowest {worst:.2f} s: {'met' if worst < 1 else 'NOT met'}), "
          + (f"at least 3x Python (lowest {min(ratios):.1f}x: {'met' if min(ratios) >= 3 else 'NOT met'})"
             if ratios else "Python not measured"))
PYEOF
