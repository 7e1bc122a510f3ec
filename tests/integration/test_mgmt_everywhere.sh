# Model management, the sources and the reach of a version: an inference input by http URL
# (fetched in the request under the fetch module's address policy: refused on loopback unless
# --allow-private-urls, and then content-addressed so it joins the data-URL task of the same
# picture), video inputs (a DFDC clip judged by its main person; a faceless clip says it was not
# judged), and a classification version used by name ("version:<id>") in the image check (same
# P(fake) as its inference task), GET /api/models, the face-video check and classification_video,
# until it is deleted.
. "$(dirname "$0")/mgmt_lib.sh"
for t in ffmpeg python3; do command -v $t >/dev/null || { echo "skipped: $t is not installed"; exit 77; }; done
CLIP_SRC="$FS_SHARED_DATA/dfdc/videos/real/lynaeydofd.mp4"
[ -f "$CLIP_SRC" ] || { echo "skipped: $CLIP_SRC is absent"; exit 77; }

close() { python3 -c "import sys; sys.exit(0 if abs(float('$1') - float('$2')) <= 1e-6 else 1)"; }

# A static file server on loopback, for the URL sources.
WWW="$FS_TMP/www"
mkdir -p "$WWW"
cp "$REAL_FRAME" "$WWW/real.jpg"
python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$WWW" >"$FS_TMP/www.out" 2>"$FS_TMP/www.err" &
PY_PID=$!
trap 'kill "$PY_PID" 2>/dev/null; wait "$PY_PID" 2>/dev/null; fs_cleanup' EXIT
for i in $(seq 1 100); do
    grep -q 'port [0-9]' "$FS_TMP/www.out" && break
    sleep 0.05
done
WPORT=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' "$FS_TMP/www.out" | head -n1)
[ -n "$WPORT" ] || fs_fail "the python http.server did not start: $(cat "$FS_TMP/www.err")"
IMG_URL="http://127.0.0.1:$WPORT/real.jpg"

# Clips: 2 s of a real DFDC video (stream copy) and 1 s of flat grey (no face).
CLIP="$FS_TMP/clip.mp4"
GREY="$FS_TMP/grey.mp4"
ffmpeg -v error -y -i "$CLIP_SRC" -t 2 -c copy "$CLIP" || fs_fail "ffmpeg cut"
ffmpeg -v error -y -f lavfi -i color=c=gray:s=320x240:d=1:r=10 -pix_fmt yuv420p "$GREY" || fs_fail "ffmpeg grey"

MESO=$(mgmt_import meso4 "$FS_SHARED_DATA/mesonet/weights/Meso4_DF.h5" meso4_df)
fs_start
KEY=$FS_ADMIN_KEY
api_json POST /v0.7/recognition/specs '{"name": "deepfake", "labels": ["real", "fake"]}'
expect_status "spec" 201
SPEC=$(jf .id)
# crop "whole": the image check's default, so both judge the same pixels.
api POST /v0.7/networks -F name=meso4-whole -F architecture=meso4 -F "file=@$MESO" -F 'preprocessing={"crop": "whole"}'
expect_status "network" 201
NET=$(jf .id)
# The default crop (faces_or_whole): faces where there are some; a video without any is not judged.
api POST /v0.7/networks -F name=meso4-faces -F architecture=meso4 -F "file=@$MESO"
expect_status "network (faces)" 201
NET_FACES=$(jf .id)
# new_version [NETWORK] -> id
new_version() {
    api_json POST /v0.7/recognition/versions "{\"spec_id\": $SPEC, \"network_id\": ${1:-$NET}, \"post_processings\": [{\"classification\": {\"thresholds\": [0.5, 0.5]}}]}"
    expect_status "version" 201
    jf .id
}
V=$(new_version)
# p_fake OUTPUT: the "fake" label's score, predicted or discarded.
p_fake() { jf "[.result.outputs[$1].labels.predicted[], .result.outputs[$1].labels.discarded[]] | map(select(.label_name == \"fake\"))[0].score"; }

# ---- URL source refused by the address policy (loopback), naming the field, storing nothing
BLOBS0=$(blob_count)
api_json POST "/v0.7/recognition/versions/$V/inference" "{\"inputs\": [{\"image\": {\"source\": \"$IMG_URL\"}}]}"
expect_field "loopback URL without --allow-private-urls" "inputs[0].image.source"
jf .error.message | grep -qi 'address\|private\|loopback\|refus' || fs_fail "the refusal does not say why: $BODY"
fs_expect "nothing stored for a refused URL" "$(blob_count)" "$BLOBS0"
api_json POST "/v0.7/recognition/versions/$V/inference" '{"inputs": [{"image": {"source": "ftp://example.com/a.jpg"}}]}'
expect_field "ftp URL" "inputs[0].image.source"

# ---- the version in the image check: same P(fake) as its inference task, on a face crop whose
# score is not saturated (so the comparison means something)
IC_IMG="$FS_SHARED_DATA/mesonet/test_images/df/df00204.jpg"
[ -f "$IC_IMG" ] || fs_fail "missing $IC_IMG"
infer "$V" "$IC_IMG"
fs_expect "inference task" "$(jf .status)" done
P_TASK=$(p_fake 0)
[ -n "$P_TASK" ] && [ "$P_TASK" != null ] || fs_fail "no fake score: $BODY"
python3 -c "import sys; sys.exit(0 if 0.001 < float('$P_TASK') < 0.999 else 1)" ||
    fs_fail "P(fake) $P_TASK is saturated: the comparison would mean little"
IC=/api/1.1/wf/api-deepfake-detection
ic_req() { printf '{"imageUrl": "data:image/jpeg;base64,%s", "modelName": "%s", "token": "%s"}' \
    "$(base64 -w0 "$IC_IMG")" "$1" "$KEY" >"$FS_TMP/ic.json"; }
ic_req "version:$V"
api POST "$IC" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' --data-binary @"$FS_TMP/ic.json"
expect_status "image check with version:$V" 200
close "$(jf '.response.confidence[0]')" "$P_TASK" ||
    fs_fail "image check P(fake) $(jf '.response.confidence[0]') vs inference task $P_TASK"
echo "ok: version:$V P(fake) $P_TASK in the task and the image check"
api GET /api/models
expect_status "models" 200
echo "$BODY" | jq -e --arg n "version:$V" '[.models[].name] | index($n) != null' >/dev/null ||
    fs_fail "/api/models does not list version:$V: $BODY"

# ---- the version in the video dialects
api POST "/face/v1/deepfake?frames=2&detail=1&models=version:$V" -F "video=@$CLIP"
expect_status "face-video check with version:$V" 200
fs_expect "face-video models" "$(echo "$BODY" | jq -c .read.detail.models)" "[\"version:$V\"]"
api POST "/face/v1/deepfake?frames=2&models=version:999999" -F "video=@$CLIP"
expect_status "face-video check with an unknown version" 400
api POST /api/classification_video -F "file=@$CLIP" -F "models=version:$V" -F frames=2
[ "$ST" = 202 ] || [ "$ST" = 200 ] || fs_fail "classification_video with version:$V: $ST $BODY"
H=$(jf .hash)
for i in $(seq 1 600); do
    api GET "/api/classification_video/$H"
    [ "$ST" = 202 ] || break
    sleep 0.2
done
expect_status "classification_video result" 200
echo "$BODY" | jq -e --arg n "version:$V" '[.. | .model? // empty] | index($n) != null' >/dev/null ||
    fs_fail "classification_video did not judge with version:$V: $(echo "$BODY" | head -c 600)"
echo "ok: version:$V in the face-video check and classification_video"

# ---- video inputs: base64 in the body, judged by the main person; no face says so
fs_expect "clip fits the body limit" "$([ $(( $(stat -c %s "$CLIP") * 4 / 3 )) -lt $((16 << 20)) ] && echo yes)" yes
VF=$(new_version "$NET_FACES")
video_req() { printf '{"inputs": [{"video": {"source": "data:video/mp4;base64,%s"}}]}' "$(base64 -w0 "$1")" >"$FS_TMP/req.json"; }
video_req "$CLIP"
api POST "/v0.7/recognition/versions/$VF/inference" -H 'Content-Type: application/json' --data-binary @"$FS_TMP/req.json"
expect_status "video inference" 200
wait_task "$(jf .task_id)"
fs_expect "video task" "$(jf .status)" done
fs_expect "video media" "$(jf '.result.outputs[0].media')" video
fs_expect "video status" "$(jf '.result.outputs[0].status')" ok
fs_expect "video frames sampled" "$(jf '.result.outputs[0].frames_sampled')" 5
fs_expect "video labels, both judged" "$(jf '[.result.outputs[0].labels[][].label_name] | sort | join(",")')" "fake,real"
[ "$(jf '.result.outputs[0].main_person')" -ge 0 ] || fs_fail "no main person: $BODY"
P_VIDEO=$(p_fake 0)
close "$(jf '[.result.outputs[0].labels[][] | select(.label_name == "real")][0].score')" "$(python3 -c "print(1 - $P_VIDEO)")" ||
    fs_fail "real = 1 - fake: $BODY"
echo "ok: video source: P(fake) $P_VIDEO over $(jf '.result.outputs[0].frames_sampled') frames"
video_req "$GREY"
api POST "/v0.7/recognition/versions/$VF/inference" -H 'Content-Type: application/json' --data-binary @"$FS_TMP/req.json"
expect_status "faceless video inference" 200
wait_task "$(jf .task_id)"
fs_expect "faceless task" "$(jf .status)" done
fs_expect "faceless status" "$(jf '.result.outputs[0].status')" no_face
fs_expect "faceless labels" "$(jf '[.result.outputs[0].labels[][]] | length')" 0
jf '.result.outputs[0].message' | grep -q 'no face' || fs_fail "the faceless output does not say so: $BODY"
# A detection version takes images only.
api POST /v0.7/networks -F name=haar -F architecture=face-cascade -F "file=@$CASCADE"
expect_status "cascade network" 201
HNET=$(jf .id)
api_json POST /v0.7/recognition/specs '{"name": "faces", "labels": ["face"], "roi": "BBOX"}'
expect_status "detection spec" 201
DSPEC=$(jf .id)
api_json POST /v0.7/recognition/versions "{\"spec_id\": $DSPEC, \"network_id\": $HNET, \"post_processings\": [{\"detection\": {\"thresholds\": [0.5], \"nms_threshold\": 0.5}}]}"
expect_status "detection version" 201
api POST "/v0.7/recognition/versions/$(jf .id)/inference" -H 'Content-Type: application/json' --data-binary @"$FS_TMP/req.json"
expect_field "video on a detection version" "inputs[0].video"

# ---- deleted: gone from every dialect
api DELETE "/v0.7/recognition/versions/$V"
expect_status "delete version" 204
ic_req "version:$V"
api POST "$IC" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' --data-binary @"$FS_TMP/ic.json"
expect_status "image check after delete" 400
echo "$BODY" | grep -q 'incorrect modelName' || fs_fail "image check after delete: $BODY"
api GET /api/models
echo "$BODY" | jq -e --arg n "version:$V" '[.models[].name] | index($n) == null' >/dev/null ||
    fs_fail "/api/models still lists version:$V: $BODY"
api POST "/face/v1/deepfake?frames=2&models=version:$V" -F "video=@$CLIP"
expect_status "face-video check after delete" 400
echo "ok: a deleted version is gone from the image check, /api/models and the face-video check"

# ---- URL sources with --allow-private-urls: fetched, and content-addressed
fs_stop || fs_fail "the server did not stop cleanly"
fs_start --allow-private-urls
V2=$(new_version)
infer "$V2" "$REAL_FRAME"
fs_expect "data-URL task" "$(jf .status)" done
T_DATA=$TASK
P_DATA=$(p_fake 0)
api_json POST "/v0.7/recognition/versions/$V2/inference" "{\"inputs\": [{\"image\": {\"source\": \"$IMG_URL\"}}]}"
expect_status "URL inference" 200
fs_expect "the URL names the same bytes: same task" "$(jf .task_id)" "$T_DATA"
api_json POST "/v0.7/recognition/versions/$V2/inference" "{\"inputs\": [{\"image\": {\"source\": \"$IMG_URL\"}}, {\"image\": {\"source\": \"$IMG_URL?again\"}}]}"
expect_status "URL inference, two inputs" 200
wait_task "$(jf .task_id)"
fs_expect "URL task" "$(jf .status)" done
close "$(p_fake 1)" "$P_DATA" || fs_fail "URL P(fake) $(p_fake 1) vs data URL $P_DATA"
api_json POST "/v0.7/recognition/versions/$V2/inference" "{\"inputs\": [{\"image\": {\"source\": \"$IMG_URL\"}}, {\"image\": {\"source\": \"http://127.0.0.1:$WPORT/missing.jpg\"}}]}"
expect_field "URL answering 404" "inputs[1].image.source"
echo "ok: URL sources fetched with --allow-private-urls, same task as the same bytes by data URL"
fs_stop || fs_fail "the server did not stop cleanly"
