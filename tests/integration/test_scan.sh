#!/bin/bash
# `fakescope scan` on the shared DFDC videos and on bad input: structure of the JSON record,
# a score from every model on every sampled frame with a face, and a clear error per bad file.
set -euo pipefail
: "${FAKESCOPE:?}"
. "$(dirname "$0")/lib.sh" # no server here: its skips, temporary folder and weight import
fs_require_shared dfdc/videos mesonet/weights
tmp=$FS_TMP
fs_import_originals "$SHARED" "$tmp/models" all
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; else echo "ok: $1"; fi; }

# --- every shared DFDC video: 8 frames to keep CI time low ---------------------------------
for v in "$FS_SHARED_DATA"/dfdc/videos/*/*.mp4; do
    out="$tmp/$(basename "$v").json"
    "$FAKESCOPE" scan --models-dir "$tmp/models" --models meso4-df,mesoinception4-df \
        --frames 8 --json "$v" > "$out"
    name=$(basename "$v")
    check "$name: status ok" "[ \"\$(jq -r .status '$out')\" = ok ]"
    check "$name: 8 frames with increasing times" \
        "jq -e '(.frames|length)==8 and ([.frames[].time] as \$t | \$t == (\$t|sort))' '$out' >/dev/null"
    check "$name: every face has a score in [0,1] from both models" \
        "jq -e '[.frames[].faces[].scores | (.[\"meso4-df\"].p_fake, .[\"mesoinception4-df\"].p_fake)] | length > 0 and all(. >= 0 and . <= 1)' '$out' >/dev/null"
    check "$name: every face has a box inside the frame" \
        "jq -e '.media as \$m | [.frames[].faces[].box | .x>=0 and .y>=0 and .w>0 and .x+.w<=\$m.width and .y+.h<=\$m.height] | all' '$out' >/dev/null"
    check "$name: a verdict per person, six heuristics each" \
        "jq -e '(.people|length)>=1 and all(.people[]; (.verdicts|length)==6 and (.models|length)==2)' '$out' >/dev/null"
    check "$name: six whole-video verdicts naming the models" \
        "jq -e '[.verdicts[].heuristic]==[\"Majority\",\"Average\",\"AverageExclude10\",\"AverageExclude20\",\"AverageExclude30\",\"TopRelevant\"] and all(.verdicts[]; .models==[\"meso4-df\",\"mesoinception4-df\"] and (.classification==\"fake\" or .classification==\"real\"))' '$out' >/dev/null"
    check "$name: timing split" "jq -e '.timing | .decode>0 and .faces>0 and .inference>0 and .total>0' '$out' >/dev/null"
done

# --- evidence pictures and the main person ------------------------------------------------
real=$(ls "$FS_SHARED_DATA"/dfdc/videos/real/*.mp4 | sed -n 1,1p)
"$FAKESCOPE" scan --models-dir "$tmp/models" --frames 6 --json --timeline "$tmp/tl.png" \
    --sheet "$tmp/sheet.png" "$real" > "$tmp/real.json"
png_size() { python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(24); assert d[:8]==b"\x89PNG\r\n\x1a\n"; print(*struct.unpack(">II", d[16:24]))' "$1"; }
check "timeline is a PNG chart" "[ \"\$(png_size '$tmp/tl.png')\" = '800 500' ]"
check "sheet is a PNG of the frames" "png_size '$tmp/sheet.png' >/dev/null && [ \$(stat -c %s '$tmp/sheet.png') -gt 20000 ]"
check "main person is the strongest track and its verdict is the video's" \
    "jq -e '.main_person as \$m | (.people[] | select(.person==\$m) | .verdicts) == .verdicts' '$tmp/real.json' >/dev/null"

# --- no face anywhere: explicit status, never a silent 0.5 ---------------------------------
ffmpeg -loglevel error -f lavfi -i "color=c=gray:s=320x240:d=2" -pix_fmt yuv420p "$tmp/noface.mp4"
"$FAKESCOPE" scan --models-dir "$tmp/models" --frames 4 --json "$tmp/noface.mp4" > "$tmp/noface.json"
check "grey video: NO_FACE" "jq -e '.status==\"no_face\" and all(.verdicts[]; .status==\"no_face\" and .p_fake==null)' '$tmp/noface.json' >/dev/null"

# --- bad input: a clear error each, exit status 1, the other files still judged ------------
echo "this is not a video" > "$tmp/text.mp4"
: > "$tmp/empty.mp4"
good=$(ls "$FS_SHARED_DATA"/dfdc/videos/real/*.mp4 | sed -n 1,1p)
head -c 200000 "$good" > "$tmp/truncated.mp4"
ffmpeg -loglevel error -f lavfi -i "sine=frequency=440:duration=1" -c:a aac "$tmp/audio.mp4"
ffmpeg -loglevel error -f lavfi -i "color=c=red:s=2x2:d=1" -vf scale=1:1 -c:v mpeg4 "$tmp/tiny.mp4" 2>/dev/null \
    || ffmpeg -loglevel error -f lavfi -i "color=c=red:s=2x2:d=1" -c:v mpeg4 "$tmp/tiny.mp4"
set +e
"$FAKESCOPE" scan --models-dir "$tmp/models" --frames 4 --json \
    "$tmp/text.mp4" "$tmp/empty.mp4" "$tmp/truncated.mp4" "$tmp/audio.mp4" "$tmp/tiny.mp4" \
    "$tmp/missing.mp4" "$FS_SHARED_DATA/mesonet/test_images/real/real00240.jpg" > "$tmp/bad.json" 2>"$tmp/bad.err"
rc=$?
set -e
check "bad files: exit status 1" "[ $rc -eq 1 ]"
check "bad files: one line each" "[ \$(wc -l < '$tmp/bad.json') -eq 7 ]"
for f in text empty truncated audio missing; do
    check "$f.mp4: error with a message" \
        "jq -s -e --arg f '$tmp/$f.mp4' 'map(select(.file==\$f)) | length==1 and (.[0] | .status==\"error\" and (.error|length)>10)' '$tmp/bad.json' >/dev/null"
done
check "audio-only: says there is no video stream" \
    "jq -r --arg f '$tmp/audio.mp4' 'select(.file==\$f) | .error' '$tmp/bad.json' | grep -i 'video stream' >/dev/null"
check "1x1 video: judged (no face) or refused clearly" \
    "jq -s -e --arg f '$tmp/tiny.mp4' 'map(select(.file==\$f)) | length==1 and (.[0] | .status==\"no_face\" or (.status==\"error\" and (.error|length)>10))' '$tmp/bad.json' >/dev/null"
check "the image after the bad files was still judged" \
    "jq -s -e 'map(select(.file|endswith(\"real00240.jpg\"))) | length==1 and .[0].status==\"ok\"' '$tmp/bad.json' >/dev/null"
set +e; "$FAKESCOPE" scan --frames 0 x.mp4 2>/dev/null; rc=$?; set -e
check "usage error: exit 2" "[ $rc -eq 2 ]"
exit $fail
