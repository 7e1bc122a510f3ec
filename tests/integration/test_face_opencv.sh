#!/bin/bash
# `fakescope faces` agrees with OpenCV's CascadeClassifier on a handful of shared frames
# (>= 95% of OpenCV's boxes matched at IoU 0.5, <= 5% extra). Skipped (77) without the shared
# data, the cascades or a Python that has cv2 (Debian's python3-opencv).
set -u
: "${FAKESCOPE:?} ${FS_SHARED_DATA:?} ${FS_SOURCE_DIR:?}"
[ -d "$FS_SHARED_DATA/mesonet/test_images" ] || { echo "skipped: no shared data"; exit 77; }
[ -f /usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml ] ||
    { echo "skipped: opencv-data is not installed"; exit 77; }
PY=""
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c "import cv2" 2>/dev/null; then PY=$p; break; fi
done
[ -n "$PY" ] || { echo "skipped: no python3 with cv2 (python3-opencv)"; exit 77; }

tool="$FS_SOURCE_DIR/tests/tools/face_opencv_compare.py"
# the pipeline's cascade and OpenCV's default neighbours, then an LBP cascade with 5
"$PY" "$tool" --fakescope "$FAKESCOPE" --data "$FS_SHARED_DATA" --quick --check || exit 1
"$PY" "$tool" --fakescope "$FAKESCOPE" --data "$FS_SHARED_DATA" --quick --check \
    --cascade lbpcascade_frontalface_improved.xml --neighbors 5 --sets mesonet,ffpp || exit 1
echo "ok"
