#!/bin/bash
# BlazeFace agreement: fakescope's detector (imported graph, our kernels, our decoding) against
# tests/tools/blazeface_ref.py, an independent numpy run of the same TFLite files, on shared
# pictures and on frames sampled from shared videos. Boxes must agree at IoU >= 0.95 and every
# keypoint within 1% of the box side, for both networks. Also: the import refuses a file that is
# not BlazeFace, and a missing detector is a clear error naming the set-up, not a silent cascade.
set -u
: "${FAKESCOPE:?}"
S="${FS_SHARED_DATA:-/nonexistent}"
TP="${FAKESCOPE_THIRD_PARTY:-$HOME/.cache/fakescope/third_party}/mediapipe-face_detection-0.4.1657300184"
PY=/usr/bin/python3
tmp=$(mktemp -d /tmp/fs_bf_XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

[ -f "$TP/face_detection_short_range.tflite" ] ||
    fail "BlazeFace weights missing in $TP: scripts/deps.sh installs them"

# a missing detector names the set-up command
out=$(FAKESCOPE_FACE_MODELS=$tmp/none "$FAKESCOPE" faces --face-model nothing-here x.jpg 2>&1); rc=$?
[ $rc -eq 2 ] || fail "a missing detector exits $rc, 2 expected"
echo "$out" | grep -q "scripts/deps.sh" || fail "a missing detector does not name the set-up: $out"
# a corrupt one too
head -c 1000 "$TP/face_detection_short_range.tflite" >"$tmp/broken.safetensors"
out=$("$FAKESCOPE" faces --face-model "$tmp/broken.safetensors" x.jpg 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q "models import" || fail "a corrupt detector: rc $rc, $out"
# the import refuses a TFLite file that is not BlazeFace
mn="$S/imagenet-mobilenet"
tfl=$(ls "$mn"/*.tflite 2>/dev/null | head -1)
if [ -n "$tfl" ]; then
    "$FAKESCOPE" models import --arch blazeface "$tfl" -o "$tmp/m" --licence x >/dev/null 2>&1 &&
        fail "a MobileNet file imported as BlazeFace"
fi

for v in short full; do
    "$FAKESCOPE" models import --arch blazeface "$TP/face_detection_${v}_range.tflite" -o "$tmp/models" \
        --name "bf-$v" --licence Apache-2.0 >/dev/null || fail "import of the $v-range network"
done
grep -q '"kind": "face-detector"' "$tmp/models/bf-short.json" || fail "the card has no kind"
"$FAKESCOPE" models list --dir "$tmp/models" 2>&1 | grep -q "bf-short" && fail "models list shows a face detector"

[ -d "$S" ] || { echo "skipped the agreement: no shared data"; exit 77; }
$PY -c "import cv2, numpy" 2>/dev/null || fail "python3-opencv and python3-numpy are needed (scripts/deps.sh)"
imgs=()
for d in mesonet/test_images/real mesonet/test_images/df webmorph-real-faces/real web-real-faces/real dfdc/frames/real; do
    [ -d "$S/$d" ] && while IFS= read -r f; do imgs+=("$f"); done < <(ls "$S/$d"/*.jpg 2>/dev/null | head -5)
done
# frames of shared videos, as a scan samples them
n=0
for vid in "$S"/dfdc/videos/real/*.mp4 "$S"/ffpp-c40/real/youtube/*.mp4 "$S"/ffpp-c40/fake/Deepfakes/*.mp4; do
    [ -f "$vid" ] || continue
    b=$(basename "$vid" .mp4)
    ffmpeg -v error -i "$vid" -vf "select='not(mod(n\,60))'" -vsync vfr -frames:v 3 "$tmp/${b}_%d.png" </dev/null ||
        fail "ffmpeg could not sample $vid"
    n=$((n + 1))
    [ $n -ge 3 ] && break
done
imgs+=("$tmp"/*.png)
[ ${#imgs[@]} -ge 10 ] || { echo "skipped: too few shared pictures (${#imgs[@]})"; exit 77; }

for v in short full; do
    "$FAKESCOPE" faces --json --face-model "$tmp/models/bf-$v.safetensors" "${imgs[@]}" >"$tmp/ours_$v.jsonl" ||
        fail "fakescope faces ($v) failed"
    $PY "$FS_SOURCE_DIR/tests/tools/blazeface_ref.py" "$TP/face_detection_${v}_range.tflite" "${imgs[@]}" \
        >"$tmp/ref_$v.jsonl" || fail "the reference ($v) failed"
    echo -n "$v range: "
    $PY "$FS_SOURCE_DIR/tests/tools/compare_faces.py" "$tmp/ours_$v.jsonl" "$tmp/ref_$v.jsonl" \
        --iou 0.95 --kp 0.01 --min-faces 10 || fail "the $v-range detector disagrees with the reference"
done
echo ok
