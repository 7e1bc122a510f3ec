#!/bin/bash
# The face-video check (seed 002) against a real server with the original MesoNet weights:
# the shared DFDC videos and a few FF++ ones through POST /face/v1/deepfake, frames through
# /face/v1/deepfake/images, every status from a real input (no file, text, truncated mp4,
# oversize, no face), auth, Request-Id, ?detail=1, ?models=, and the same upload computed once.
set -euo pipefail
: "${FAKESCOPE:?} ${FS_SHARED_DATA:?}"
D=$FS_SHARED_DATA
if [ ! -d "$D/dfdc/videos" ] || [ ! -d "$D/mesonet/weights" ]; then echo "skipped: $D is absent"; exit 77; fi
for t in jq ffmpeg python3; do command -v $t >/dev/null || { echo "skipped: $t is not installed"; exit 77; }; done
. "$(dirname "$0")/lib.sh"

M="$FS_TMP/models"
fs_import_originals "$D" "$M" all
fs_start --models "$M" --job-workers 2 --timeout 300
K=$FS_ADMIN_KEY
[ -n "$K" ] || fs_fail "no admin key printed"
C="curl -sS --max-time 300"
BASIC="Authorization: Basic $(printf '%s' "user:$K" | base64 -w0)"

# post FILE [QUERY] -> writes $FS_TMP/body, $FS_TMP/hdr; prints the HTTP status
post() {
    $C -o "$FS_TMP/body" -D "$FS_TMP/hdr" -w '%{http_code}' -H "$BASIC" -H "x-api-key: $K" \
        -F "video=@$1" "$FS_URL/face/v1/deepfake${2:-}"
}
req_id() { tr -d '\r' < "$FS_TMP/hdr" | awk -F': ' 'tolower($1)=="request-id" {print $2}'; }
inferences() { $C "$FS_URL/metrics" | awk '/^fakescope_inferences_total/ {s += $2} END {print s + 0}'; }

# A judged video: SUCCESS with a P(fake) in [0, 1] whose side matches the value.
check_success() {
    local what=$1
    jq -e '.status=="SUCCESS" and .reason=="File Successfully Read" and
           (.read.deepfake.confidence >= 0 and .read.deepfake.confidence <= 1) and
           (.read.deepfake.value == (if .read.deepfake.confidence >= 0.5 then "fake" else "real" end))' \
        "$FS_TMP/body" >/dev/null || fs_fail "$what: not a SUCCESS answer: $(cat "$FS_TMP/body")"
    [ -n "$(req_id)" ] || fs_fail "$what: no Request-Id"
    echo "ok: $what -> $(jq -c .read.deepfake "$FS_TMP/body")"
}

# --- auth: the seed's Basic + x-api-key, and each alone; none is 401 -------------------------
V0=$D/dfdc/videos/real/lynaeydofd.mp4
fs_expect "no key" "$($C -o /dev/null -w '%{http_code}' -F "video=@$V0" "$FS_URL/face/v1/deepfake")" 401
fs_expect "wrong key" "$($C -o /dev/null -w '%{http_code}' -H 'x-api-key: fsk_0' -F "video=@$V0" "$FS_URL/face/v1/deepfake")" 401

# --- every shared DFDC video, 3 frames, with per-person and per-frame detail ------------------
for v in "$D"/dfdc/videos/*/*.mp4; do
    fs_expect "$(basename "$v") status" "$(post "$v" '?frames=3&detail=1')" 200
    check_success "dfdc $(basename "$v")"
    jq -e '(.read.detail.frames|length)==3 and (.read.detail.people|length)>=1 and
           (.read.detail.models==["meso4-df","mesoinception4-df"]) and
           all(.read.detail.frames[].faces[]; (.p_fake|length)==2 and .box.w>0) and
           all(.read.detail.people[]; (.uncertain|type)=="boolean" and all(.models[]; .threshold==0.5))' "$FS_TMP/body" >/dev/null ||
        fs_fail "$(basename "$v"): detail has not 3 frames with per-person, per-model scores"
done
# Basic alone and x-api-key alone both pass.
fs_expect "Basic only" "$($C -o /dev/null -w '%{http_code}' -H "$BASIC" -F "video=@$V0" "$FS_URL/face/v1/deepfake?frames=3")" 200
fs_expect "x-api-key only" "$($C -o /dev/null -w '%{http_code}' -H "x-api-key: $K" -F "video=@$V0" "$FS_URL/face/v1/deepfake?frames=3")" 200

# --- a few FF++ videos (a real, a deepfake, a face swap), one model each to vary the set -----
n=0
for v in "$D"/ffpp-c40/real/youtube/183.mp4 "$D"/ffpp-c40/fake/Deepfakes/183_253.mp4 \
         "$D"/ffpp-c40/fake/FaceSwap/253_183.mp4; do
    [ -f "$v" ] || continue
    fs_expect "ffpp $v" "$(post "$v" '?frames=2&models=meso4-df')" 200
    jq -e '.status=="SUCCESS" or .status=="NO_FACE"' "$FS_TMP/body" >/dev/null || fs_fail "ffpp $v: $(cat "$FS_TMP/body")"
    echo "ok: ffpp $(basename "$(dirname "$v")")/$(basename "$v") -> $(jq -c '.status, .read.deepfake' "$FS_TMP/body" | tr '\n' ' ')"
    n=$((n + 1))
done
[ $n -ge 2 ] || fs_fail "fewer than two FF++ videos were found"

# --- the same upload twice is computed once: same answer, no new inference -------------------
V1=$D/dfdc/videos/fake/abofeumbvv.mp4
post "$V1" '?frames=3' >/dev/null
first=$(jq -c .read "$FS_TMP/body")
before=$(inferences)
fs_expect "repeat status" "$(post "$V1" '?frames=3')" 200
fs_expect "repeat answer" "$(jq -c .read "$FS_TMP/body")" "$first"
fs_expect "inferences after a repeated upload" "$(inferences)" "$before"
# Other settings (here another model set) are other work.
post "$V1" '?frames=3&models=meso4-df' >/dev/null
[ "$(inferences)" -gt "$before" ] || fs_fail "a new frame count did not run the models"
echo "ok: identical upload answered from the stored result ($before inferences before and after)"

# --- two clients sending the same new video at once share one task ---------------------------
V2=$D/ffpp-c40/fake/Face2Face/183_253.mp4
before=$(inferences)
$C -o "$FS_TMP/c1" -H "x-api-key: $K" -F "video=@$V2" "$FS_URL/face/v1/deepfake?frames=4&models=meso4-df" &
p1=$!
$C -o "$FS_TMP/c2" -H "x-api-key: $K" -F "video=@$V2" "$FS_URL/face/v1/deepfake?frames=4&models=meso4-df" &
p2=$!
wait $p1 $p2
fs_expect "concurrent answers" "$(jq -c .read "$FS_TMP/c1")" "$(jq -c .read "$FS_TMP/c2")"
faces=$(( $(inferences) - before ))
[ "$faces" -ge 0 ] && [ "$faces" -le 4 ] || fs_fail "two concurrent identical requests ran $faces inferences (at most 4 frames' faces expected)"
echo "ok: concurrent identical uploads: one computation ($faces inference(s))"

# --- every status from a real input -----------------------------------------------------------
fs_expect "no file" "$($C -o "$FS_TMP/body" -w '%{http_code}' -H "x-api-key: $K" -F "other=x" "$FS_URL/face/v1/deepfake")" 400
fs_expect "no file: status" "$(jq -r .status "$FS_TMP/body")" NO_FILE
fs_expect "no body" "$($C -o "$FS_TMP/body" -w '%{http_code}' -X POST -H "x-api-key: $K" "$FS_URL/face/v1/deepfake")" 400
fs_expect "no body: status" "$(jq -r .status "$FS_TMP/body")" NO_FILE
echo "this is a text file, not a video" > "$FS_TMP/note.txt"
fs_expect "text file" "$(post "$FS_TMP/note.txt")" 400
fs_expect "text file: status" "$(jq -r .status "$FS_TMP/body")" FILE_INVALID_FORMAT
head -c 300000 "$D/dfdc/videos/fake/abqwwspghj.mp4" > "$FS_TMP/cut.mp4"
fs_expect "truncated mp4" "$(post "$FS_TMP/cut.mp4")" 400
fs_expect "truncated mp4: status" "$(jq -r .status "$FS_TMP/body")" FILE_INVALID_FORMAT
head -c 7000000 /dev/urandom > "$FS_TMP/big.mp4"
fs_expect "oversize" "$(post "$FS_TMP/big.mp4")" 413
fs_expect "oversize: status" "$(jq -r .status "$FS_TMP/body")" FILE_INVALID_FORMAT
ffmpeg -loglevel error -f lavfi -i "color=c=gray:s=320x240:d=2" -pix_fmt yuv420p "$FS_TMP/grey.mp4"
fs_expect "no face" "$(post "$FS_TMP/grey.mp4" '?frames=4')" 200
fs_expect "no face: status" "$(jq -r .status "$FS_TMP/body")" NO_FACE
jq -e 'has("read") | not' "$FS_TMP/body" >/dev/null || fs_fail "a video with no face got a score"
fs_expect "unknown model" "$(post "$V0" '?models=nosuchmodel')" 400
fs_expect "unknown model: status" "$(jq -r .status "$FS_TMP/body")" FAILED
fs_expect "bad frames" "$(post "$V0" '?frames=0')" 400
[ -n "$(req_id)" ] || fs_fail "an error answer has no Request-Id"
echo "ok: NO_FILE, FILE_INVALID_FORMAT (text, truncated, oversize), NO_FACE, FAILED"

# --- frames: JSON list of base64 pictures -----------------------------------------------------
b64json() { python3 -c 'import base64, json, sys; print(json.dumps({"frames": [base64.b64encode(open(f, "rb").read()).decode() for f in sys.argv[1:]]}))' "$@"; }
postj() { $C -o "$FS_TMP/body" -D "$FS_TMP/hdr" -w '%{http_code}' -H "$BASIC" -H "x-api-key: $K" \
              -H 'Content-Type: application/json' --data-binary "@$1" "$FS_URL/face/v1/deepfake/images"; }
b64json "$D"/dfdc/frames/real/*.jpg > "$FS_TMP/f.json"
fs_expect "real frame" "$(postj "$FS_TMP/f.json")" 200
check_success "frames dfdc/frames/real"
b64json "$D"/dfdc/frames/*/*.jpg > "$FS_TMP/f.json"
fs_expect "all frames" "$(postj "$FS_TMP/f.json")" 200
check_success "frames dfdc/frames (both, one clip)"
for cls in real fake; do
    # shellcheck disable=SC2046
    b64json $(ls "$D"/dfdc/crops/$cls/*.png | sed -n 1,4p) > "$FS_TMP/f.json"
    fs_expect "crops $cls" "$(postj "$FS_TMP/f.json")" 200
    jq -e '.status=="SUCCESS" or .status=="NO_FACE"' "$FS_TMP/body" >/dev/null || fs_fail "crops $cls: $(cat "$FS_TMP/body")"
    echo "ok: crops $cls -> $(jq -c '[.status, .read.deepfake]' "$FS_TMP/body")"
done
echo '{"frames": []}' > "$FS_TMP/f.json"
fs_expect "empty frame list" "$(postj "$FS_TMP/f.json")" 400
fs_expect "empty frame list: status" "$(jq -r .status "$FS_TMP/body")" NO_FILE
b64json "$FS_TMP/note.txt" > "$FS_TMP/f.json"
fs_expect "text frame" "$(postj "$FS_TMP/f.json")" 400
fs_expect "text frame: status" "$(jq -r .status "$FS_TMP/body")" FILE_INVALID_FORMAT
echo '{"frames": ["not base64 at all!"]}' > "$FS_TMP/f.json"
fs_expect "bad base64" "$(postj "$FS_TMP/f.json")" 400
fs_expect "bad base64: status" "$(jq -r .status "$FS_TMP/body")" FILE_INVALID_FORMAT
echo 'not json' > "$FS_TMP/f.json"
fs_expect "not json" "$(postj "$FS_TMP/f.json")" 400
python3 -c 'import base64, json, os; print(json.dumps({"frames": [base64.b64encode(os.urandom(3500000)).decode()] * 2}))' > "$FS_TMP/f.json"
fs_expect "frames over 6 MB" "$(postj "$FS_TMP/f.json")" 413
echo "ok: frames endpoint statuses"

# Queue depth is exported.
$C "$FS_URL/metrics" | grep '^fakescope_queue_depth 0' >/dev/null || fs_fail "queue depth not back to 0 in /metrics"
fs_stop || fs_fail "the server did not exit cleanly"

# A model whose card changed (here its decision threshold) is another results key: after a
# restart on the same store, the same upload is judged again under the new threshold instead of
# being answered from the result stored under the old one.
jq '.decision = {threshold: 0.25, uncertain: [0.2, 0.3], data: "test"}' "$M/meso4-df.json" >"$FS_TMP/card.json"
mv "$FS_TMP/card.json" "$M/meso4-df.json"
fs_start --models "$M" --job-workers 2 --timeout 300
before=$(inferences)
fs_expect "after a new threshold: status" "$(post "$V0" '?frames=3&detail=1')" 200
jq -e 'all(.read.detail.people[].models[]; if .model == "meso4-df" then .threshold == 0.25 else .threshold == 0.5 end)' \
    "$FS_TMP/body" >/dev/null || fs_fail "the stored result of the old threshold was served: $(jq -c .read.detail.people "$FS_TMP/body")"
[ "$(inferences)" -gt "$before" ] || fs_fail "no inference ran for the changed model"
fs_stop || fs_fail "the server did not exit cleanly after the restart"
echo "PASS"
