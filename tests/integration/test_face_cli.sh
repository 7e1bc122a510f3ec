#!/bin/bash
# `fakescope faces`: usage errors exit 2, unreadable images exit 1 with a JSON error line,
# a bad cascade is refused with a message naming the problem, and a face is found in a real
# photo when the shared data is there.
set -u
: "${FAKESCOPE:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$FAKESCOPE" faces --help | grep -q -- "--neighbors" || fail "--help does not list --neighbors"
"$FAKESCOPE" faces >/dev/null 2>&1; [ $? -eq 2 ] || fail "no image should be a usage error"
"$FAKESCOPE" faces --scale 0.9 x.jpg >/dev/null 2>&1; [ $? -eq 2 ] || fail "--scale 0.9 accepted"
"$FAKESCOPE" faces --neighbors -1 x.jpg >/dev/null 2>&1; [ $? -eq 2 ] || fail "--neighbors -1 accepted"

if [ -f /usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml ]; then
    printf 'not an image' > "$tmp/bad.jpg"
    out=$("$FAKESCOPE" faces --json "$tmp/bad.jpg"); rc=$?
    [ $rc -eq 1 ] || fail "unreadable image: exit $rc, wanted 1"
    echo "$out" | grep -q '"error"' || fail "no JSON error line: $out"
fi

printf '<opencv_storage><cascade><stageType>BOOST</stageType>' > "$tmp/broken.xml"
msg=$("$FAKESCOPE" faces --cascade "$tmp/broken.xml" "$tmp/bad.jpg" 2>&1); rc=$?
[ $rc -eq 2 ] || fail "broken cascade: exit $rc, wanted 2"
echo "$msg" | grep -qi "malformed XML" || fail "broken cascade message: $msg"

"$FAKESCOPE" faces --cascade no_such_cascade "$tmp/bad.jpg" 2>&1 | grep -q "not found" ||
    fail "a missing cascade is not reported as not found"

img="${FS_SHARED_DATA:-/nonexistent}/mesonet/test_images/real/real00240.jpg"
if [ -f "$img" ] && [ -f /usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml ]; then
    out=$("$FAKESCOPE" faces --json --face-detector haar "$img") || fail "faces failed on $img"
    n=$(echo "$out" | grep -o '"neighbors"' | wc -l)
    [ "$n" -eq 1 ] || fail "expected one face in $img, got: $out"
    # the learned detector is the default: one face, 6 keypoints, eyes above the mouth
    out=$("$FAKESCOPE" faces --json "$img") || fail "faces (blazeface) failed on $img"
    echo "$out" | jq -e '.detector == "blazeface" and (.faces | length) == 1 and
        (.faces[0].keypoints | length) == 6 and .faces[0].score > 0.5 and
        .faces[0].keypoints[0][1] < .faces[0].keypoints[3][1] and
        .faces[0].keypoints[0][0] < .faces[0].keypoints[1][0]' >/dev/null ||
        fail "blazeface on $img: $out"
    # --landmarks: 68 points; the eye corners (36, 39) bracket BlazeFace's eye keypoint
    out=$("$FAKESCOPE" faces --json --landmarks "$img") || fail "faces --landmarks failed on $img"
    echo "$out" | jq -e '.faces[0] as $f | ($f.landmarks | length) == 68 and
        $f.landmarks[36][0] < $f.keypoints[0][0] and $f.keypoints[0][0] < $f.landmarks[39][0] and
        $f.landmarks[8][1] > $f.landmarks[30][1]' >/dev/null || fail "landmarks on $img: $out"
    "$FAKESCOPE" faces --landmarks --face-detector haar "$img" >/dev/null 2>&1
    [ $? -eq 2 ] || fail "--landmarks with the cascade accepted"
    # scan --landmarks: the same 68 points on the scanned face, keypoints beside them
    out=$("$FAKESCOPE" scan --json --landmarks --models faceswap-meso4 "$img") || fail "scan --landmarks"
    echo "$out" | jq -e '.frames[0].faces[0] | (.landmarks | length) == 68 and (.keypoints | length) == 6
        and .detector_score > 0.5' >/dev/null || fail "scan --landmarks on $img: $out"
    "$FAKESCOPE" scan --landmarks --face-detector haar --models faceswap-meso4 "$img" >/dev/null 2>&1
    [ $? -eq 2 ] || fail "scan --landmarks with the cascade accepted"
    # a model trained on aligned faces, with the cascade (no landmarks): cut by box, and said
    out=$("$FAKESCOPE" scan --json --face-detector haar --models synthetic-face,faceswap-meso4 "$img") ||
        fail "scan with the cascade and an aligned model"
    echo "$out" | jq -e '(.warnings | length) == 1 and (.warnings[0] | startswith("synthetic-face was trained on faces aligned"))' \
        >/dev/null || fail "no warning for the aligned model cut by box: $out"
    out=$("$FAKESCOPE" scan --json --models synthetic-face "$img") || fail "scan with an aligned model"
    echo "$out" | jq -e 'has("warnings") | not' >/dev/null || fail "a warning with the learned face finder: $out"
    err=$("$FAKESCOPE" scan --face-detector haar --models synthetic-face "$img" 2>&1 >/dev/null) || fail "text scan"
    echo "$err" | grep -q "warning: synthetic-face was trained on faces aligned" || fail "no warning on stderr: $err"
    "$FAKESCOPE" faces --face-detector blazeface --neighbors 3 "$img" >/dev/null 2>&1
    [ $? -eq 2 ] || fail "a cascade option with --face-detector blazeface accepted"
    "$FAKESCOPE" faces --face-detector dlib "$img" >/dev/null 2>&1; [ $? -eq 2 ] || fail "--face-detector dlib accepted"
    "$FAKESCOPE" faces --crops "$tmp/crops" --crop-size 64 "$img" >/dev/null || fail "--crops failed"
    [ -s "$tmp/crops/real00240_face0.png" ] || fail "no crop written"
    "$FAKESCOPE" faces --margin 9 "$img" >/dev/null 2>&1; [ $? -eq 2 ] || fail "--margin 9 accepted"
else
    echo "skipped the real-photo check: no shared data or cascades"
fi
echo "ok"
