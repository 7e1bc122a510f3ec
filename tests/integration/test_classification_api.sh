#!/bin/bash
# Classification by hash (seed 004) and GET /v0.7/tasks/{id} against a real server: each shared
# DFDC video and two FF++ videos posted, the hash answered at once, pending then done, the seed's
# structure for every field, a repeated upload computed once, images, 404s and keys, and a
# full queue answering 503 with Retry-After.
set -euo pipefail
: "${FAKESCOPE:?} ${FS_SHARED_DATA:?}"
D=$FS_SHARED_DATA
if [ ! -d "$D/dfdc/videos" ] || [ ! -d "$D/mesonet/weights" ]; then echo "skipped: $D is absent"; exit 77; fi
for t in jq sha256sum; do command -v $t >/dev/null || { echo "skipped: $t is not installed"; exit 77; }; done
. "$(dirname "$0")/lib.sh"

M="$FS_TMP/models"
fs_import_originals "$D" "$M" all
fs_start --models "$M" --job-workers 1
K=$FS_ADMIN_KEY
C="curl -sS --max-time 120"
inferences() { $C "$FS_URL/metrics" | awk '/^fakescope_inferences_total/ {s += $2} END {print s + 0}'; }
# upload KIND FILE [extra curl args] -> body in $FS_TMP/post; prints the status
upload() {
    local kind=$1 f=$2
    shift 2
    $C -o "$FS_TMP/post" -w '%{http_code}' -H "X-Api-Key: $K" -F "file=@$f" "$@" "$FS_URL/api/classification_$kind"
}
# fetch KIND HASH -> body in $FS_TMP/get; prints the status
fetch() { $C -o "$FS_TMP/get" -w '%{http_code}' -H "X-Api-Key: $K" "$FS_URL/api/classification_$1/$2"; }
# wait_done KIND HASH: polls until 200 (at most 240 s: the ASan build is slow)
wait_done() {
    local i code
    for i in $(seq 1 1200); do
        code=$(fetch "$1" "$2")
        [ "$code" = 200 ] && return 0
        [ "$code" = 202 ] || fs_fail "GET $1/$2: $code $(cat "$FS_TMP/get")"
        jq -e '(.status=="pending" or .status=="running") and .progress>=0 and .progress<=1' "$FS_TMP/get" >/dev/null ||
            fs_fail "a pending answer without status and progress: $(cat "$FS_TMP/get")"
        sleep 0.2
    done
    fs_fail "$1/$2 not done within 240 s"
}
# The seed's structure, field by field.
check_shape() {
    local what=$1 hash=$2 name=$3
    jq -e --arg h "$hash" --arg n "$name" '
        .hash==$h and .name==$n and (keys==["hash","name","results","verdicts"]) and
        (.results|keys==["classification_matrix","images","pre_process","std_deviations"]) and
        (.results.images|length)>=1 and
        all(.results.images[]; length==2 and all(.[];
            (keys==["classification","elapsed_time","model"]) and (.elapsed_time>=0) and
            (.classification|length==2) and .classification[0].label=="artificial" and .classification[1].label=="human" and
            ((.classification[0].score + .classification[1].score - 1)|fabs < 1e-9) and
            .classification[0].score>=0 and .classification[0].score<=1)) and
        (.results.pre_process|type=="number") and
        (.results.std_deviations|keys==["meso4-df","mesoinception4-df"]) and all(.results.std_deviations[]; .>=0) and
        (.results.classification_matrix|keys==["meso4-df","mesoinception4-df"]) and
        all(.results.classification_matrix[]; (keys==["classification","confidence"]) and
            (.classification=="artificial" or .classification=="human") and .confidence>=0.5 and .confidence<=1) and
        ([.verdicts[].heuristic]==["Majority","Average","AverageExclude10","AverageExclude20","AverageExclude30","TopRelevant"]) and
        all(.verdicts[]; (keys==["classification","confidence","heuristic","models"]) and
            .models==["meso4-df","mesoinception4-df"] and (.classification=="artificial" or .classification=="human"))
    ' "$FS_TMP/get" >/dev/null || fs_fail "$what: not the seed's shape: $(head -c 1500 "$FS_TMP/get")"
}

# --- keys ----------------------------------------------------------------------------------
V0=$D/dfdc/videos/real/lynaeydofd.mp4
fs_expect "POST without key" "$($C -o /dev/null -w '%{http_code}' -F "file=@$V0" "$FS_URL/api/classification_video")" 401
fs_expect "GET without key" "$($C -o /dev/null -w '%{http_code}' "$FS_URL/api/classification_video/$(printf 'a%.0s' $(seq 64))")" 401
fs_expect "task without key" "$($C -o /dev/null -w '%{http_code}' "$FS_URL/v0.7/tasks/abc")" 401

# --- pending then done: a longer scan first, so the GET right after the POST finds it pending --
long=$D/dfdc/videos/fake/abqwwspghj.mp4
fs_expect "POST long" "$(upload video "$long" -F frames=8)" 202
h=$(jq -r .hash "$FS_TMP/post")
fs_expect "hash is the SHA-256 of the bytes" "$h" "$(sha256sum "$long" | cut -c1-64)"
task=$(jq -r .task_id "$FS_TMP/post")
fs_expect "GET right after POST" "$(fetch video "$h")" 202
echo "ok: pending: $(cat "$FS_TMP/get")"
wait_done video "$h"
check_shape "abqwwspghj.mp4 (8 frames)" "$h" abqwwspghj.mp4
echo "ok: done: $(jq -c '[(.results.images|length), .verdicts[1]]' "$FS_TMP/get")"
fs_expect "task endpoint" "$($C -o "$FS_TMP/task" -w '%{http_code}' -H "X-API-KEY: $K" "$FS_URL/v0.7/tasks/$task")" 200
jq -e --arg t "$task" '.id==$t and .status=="done" and .progress==1 and .error==null and .kind=="scan" and
    .attempts==1 and (.result.frames|length)==8 and (.result.verdicts|length)==6' "$FS_TMP/task" >/dev/null ||
    fs_fail "task record: $(head -c 600 "$FS_TMP/task")"
fs_expect "unknown task" "$($C -o /dev/null -w '%{http_code}' -H "X-API-KEY: $K" "$FS_URL/v0.7/tasks/0123456789abcdef0123456789abcdef")" 404

# --- every DFDC video and two FF++ videos, 3 frames each -------------------------------------
for v in "$D"/dfdc/videos/*/*.mp4 "$D"/ffpp-c40/real/youtube/469.mp4 "$D"/ffpp-c40/fake/NeuralTextures/469_481.mp4; do
    [ -f "$v" ] || fs_fail "missing $v"
    code=$(upload video "$v" -F frames=3)
    [ "$code" = 202 ] || [ "$code" = 200 ] || fs_fail "POST $(basename "$v"): $code $(cat "$FS_TMP/post")"
    h=$(jq -r .hash "$FS_TMP/post")
    fs_expect "$(basename "$v") hash" "$h" "$(sha256sum "$v" | cut -c1-64)"
    wait_done video "$h"
    check_shape "$(basename "$v")" "$h" "$(basename "$v")"
    echo "ok: $(basename "$v"): $(jq -c '[.results.classification_matrix, (.verdicts[]|select(.heuristic=="Average")|[.classification, .confidence])]' "$FS_TMP/get")"
done

# --- the same file again: answered done at once, nothing recomputed ---------------------------
before=$(inferences)
fs_expect "repeat POST" "$(upload video "$V0" -F frames=3)" 200
fs_expect "repeat POST status" "$(jq -r .status "$FS_TMP/post")" done
fs_expect "inferences after repeat" "$(inferences)" "$before"
echo "ok: a repeated upload is computed once ($before inferences)"

# --- images ------------------------------------------------------------------------------------
img=$(ls "$D"/dfdc/frames/real/*.jpg | sed -n 1,1p)
code=$(upload image "$img")
[ "$code" = 202 ] || [ "$code" = 200 ] || fs_fail "POST image: $code"
h=$(jq -r .hash "$FS_TMP/post")
wait_done image "$h"
jq -e --arg h "$h" '.hash==$h and (.results.images|length)==1 and (.results.images[0]|length)==2 and
    (.verdicts|length)==6' "$FS_TMP/get" >/dev/null || fs_fail "image result: $(head -c 800 "$FS_TMP/get")"
echo "ok: image: $(jq -c '.results.images[0]' "$FS_TMP/get")"
# Content Credentials beside the seed's fields (docs/provenance.md)
fs_expect "image provenance" "$(jq -r '.provenance.state' "$FS_TMP/get")" none
c2pa="$D/c2pa/images/C.jpg"
if [ -f "$c2pa" ]; then
    code=$(upload image "$c2pa")
    [ "$code" = 202 ] || [ "$code" = 200 ] || fs_fail "POST C.jpg: $code"
    wait_done image "$(sha256sum "$c2pa" | cut -c1-64)"
    fs_expect "C.jpg provenance" "$(jq -r '.provenance.state + " " + .provenance.signer' "$FS_TMP/get")" \
        "valid C2PA Signer, C2PA Test Signing Cert"
    jq -e '.results|keys==["classification_matrix","images","pre_process","std_deviations"]' "$FS_TMP/get" >/dev/null ||
        fs_fail "C.jpg: the seed's results changed: $(head -c 400 "$FS_TMP/get")"
fi
echo "ok: provenance beside the image results"
fs_expect "a video hash is not an image" "$(fetch image "$(sha256sum "$V0" | cut -c1-64)")" 404
echo "plain text" > "$FS_TMP/t.txt"
fs_expect "text as image" "$(upload image "$FS_TMP/t.txt")" 415

# --- errors --------------------------------------------------------------------------------------
fs_expect "unknown hash" "$(fetch video "$(printf '0%.0s' $(seq 64))")" 404
fs_expect "malformed hash" "$(fetch video nothex)" 404
fs_expect "no file" "$($C -o /dev/null -w '%{http_code}' -H "X-Api-Key: $K" -F "other=1" "$FS_URL/api/classification_video")" 400
code=$(upload video "$FS_TMP/t.txt")
[ "$code" = 202 ] || fs_fail "text as video: $code"
h=$(jq -r .hash "$FS_TMP/post")
for i in $(seq 1 100); do
    code=$(fetch video "$h")
    [ "$code" = 202 ] || break
    sleep 0.1
done
fs_expect "text as video: GET" "$code" 422
jq -e '.status=="failed" and (.error|length)>0' "$FS_TMP/get" >/dev/null || fs_fail "failed answer: $(cat "$FS_TMP/get")"
echo "ok: 404, 400, 415 and a failed scan (422) answered"
fs_stop || fs_fail "the server did not exit cleanly"

# --- a full queue answers 503 with Retry-After (one worker, at most one queued task) --------------
# The first scan must still run when the last upload arrives: 40 frames keep it busy well past
# four uploads even under sanitizers on a loaded machine (a scan finds faces on every core).
fs_start --models "$M" --job-workers 1 --queue-max 1
accepted=0 refused=0
for v in "$D"/dfdc/videos/*/*.mp4 "$D"/ffpp-c40/real/youtube/469.mp4; do
    code=$($C -o "$FS_TMP/post" -D "$FS_TMP/hdr" -w '%{http_code}' -H "X-Api-Key: $K" -F "file=@$v" -F frames=40 \
        "$FS_URL/api/classification_video")
    case $code in
    202) accepted=$((accepted + 1)) ;;
    503) refused=$((refused + 1))
         tr -d '\r' < "$FS_TMP/hdr" | grep -i '^retry-after: [0-9]' >/dev/null || fs_fail "503 without Retry-After"
         fs_expect "queue full code" "$(jq -r .error.code "$FS_TMP/post")" queue_full ;;
    *) fs_fail "POST with a full queue: $code $(cat "$FS_TMP/post")" ;;
    esac
done
[ $accepted -ge 1 ] && [ $accepted -le 2 ] && [ $refused -ge 2 ] ||
    fs_fail "queue limit 1 with one worker: $accepted accepted, $refused refused of 4"
echo "ok: full queue: $accepted accepted, $refused refused with 503 + Retry-After"
fs_stop || fs_fail "the server did not exit cleanly"
echo "PASS"
