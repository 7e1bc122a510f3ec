#!/bin/bash
# Face finder speed on 1080p frames: fakescope's BlazeFace (both networks) next to the numpy
# reference run of the same networks (tests/tools/blazeface_ref.py), and fakescope's cascade
# (full resolution and the pipeline's 640 px cap) against cv2.CascadeClassifier on the same
# frames (one thread and OpenCV's default threads). Interleaved rounds, medians.
# usage: bench/faces.sh [FAKESCOPE] [FRAMES]   (needs the shared data and python3-opencv)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../build/fakescope}
frames=${2:-8}
data=${FS_SHARED_DATA:-$here/../../shared/data}
[ -d "$data" ] || data=/work/shared/data
PY=""
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c "import cv2" 2>/dev/null; then PY=$p; break; fi
done
[ -n "$PY" ] || { echo "bench/faces.sh: needs python3-opencv (scripts/deps.sh --bench)"; exit 1; }
exec "$PY" "$here/faces_bench.py" "$bin" "$data" "$frames"
