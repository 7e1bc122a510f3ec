# Model management refusals: every validation error is a 400 naming its field, unknown ids are
# 404, records in use are 409, keys are checked; and a refused upload (truncated, wrong
# architecture, empty, Keras .h5, random bytes, past the body limit) leaves no blob and no row.
. "$(dirname "$0")/mgmt_lib.sh"

MESO=$(mgmt_import meso4 "$FS_SHARED_DATA/mesonet/weights/Meso4_DF.h5" meso4_df)
INCEPTION=$(mgmt_import mesoinception4 "$FS_SHARED_DATA/mesonet/weights/MesoInception_DF.h5" inception_df)
fs_start
KEY=$FS_ADMIN_KEY
READER=$("$FAKESCOPE" keys create reader --data "$FS_DATA" | tail -n1)

# ---- auth
ST=$($FS_CURL -o /dev/null -w '%{http_code}' "$FS_URL/v0.7/recognition/specs")
fs_expect "no key" "$ST" 401
ST=$($FS_CURL -o /dev/null -w '%{http_code}' -H "X-API-KEY: $READER" "$FS_URL/v0.7/recognition/specs")
fs_expect "reader lists" "$ST" 200
ST=$($FS_CURL -o /dev/null -w '%{http_code}' -H "X-API-KEY: $READER" -d '{"name":"x","labels":["fake"]}' "$FS_URL/v0.7/recognition/specs")
fs_expect "reader cannot create" "$ST" 403

# ---- specs
api POST /v0.7/recognition/specs -H 'Content-Type: application/json' --data-binary 'not json'
expect_status "spec: not JSON" 400
api_json POST /v0.7/recognition/specs '[1]'
expect_status "spec: not an object" 400
spec_bad() { api_json POST /v0.7/recognition/specs "$1"; expect_field "spec $1" "$2"; }
spec_bad '{"labels": ["fake"]}' name
spec_bad '{"name": "", "labels": ["fake"]}' name
spec_bad '{"name": 3, "labels": ["fake"]}' name
spec_bad "{\"name\": \"$(head -c 256 /dev/zero | tr '\0' a)\", \"labels\": [\"fake\"]}" name
spec_bad '{"name": "x\u0001", "labels": ["fake"]}' name
spec_bad '{"name": "x"}' labels
spec_bad '{"name": "x", "labels": []}' labels
spec_bad '{"name": "x", "labels": "fake"}' labels
spec_bad '{"name": "x", "labels": ["fake", 2]}' labels
spec_bad '{"name": "x", "labels": ["fake", "fake"]}' labels
spec_bad "{\"name\": \"x\", \"labels\": [$(seq -f '"l%g"' -s, 1 65)]}" labels
spec_bad '{"name": "x", "labels": ["fake"], "roi": "BOX"}' roi
spec_bad '{"name": "x", "labels": ["fake"], "description": 5}' description
spec_bad '{"name": "x", "labels": ["fake"], "id": 5}' id
api GET /v0.7/recognition/specs
fs_expect "no spec was made" "$(jf .count)" 0

api_json POST /v0.7/recognition/specs '{"name": "deepfake", "labels": ["real", "fake"]}'
expect_status "good spec" 201
SPEC=$(jf .id)
api_json POST /v0.7/recognition/specs '{"name": "pets", "labels": ["dog", "cat"]}'
PETS=$(jf .id)
api_json POST /v0.7/recognition/specs '{"name": "faces", "labels": ["face"], "roi": "BBOX"}'
FACES=$(jf .id)
api_json POST /v0.7/recognition/specs '{"name": "two", "labels": ["face", "eye"], "roi": "BBOX"}'
TWO=$(jf .id)
api_json PATCH "/v0.7/recognition/specs/$SPEC" '{"labels": ["fake"]}'
expect_field "patch labels" labels
api_json PATCH "/v0.7/recognition/specs/$SPEC" '{"roi": "BBOX"}'
expect_field "patch roi" roi
api_json PATCH "/v0.7/recognition/specs/$SPEC" '{"name": ""}'
expect_field "patch empty name" name
api_json PUT "/v0.7/recognition/specs/$SPEC" '{"name": "y"}'
expect_field "put without description" description
for m in GET PATCH PUT DELETE; do
    api_json "$m" /v0.7/recognition/specs/999 '{"name": "z", "description": ""}'
    expect_status "$m unknown spec" 404
    api_json "$m" /v0.7/recognition/specs/abc '{"name": "z", "description": ""}'
    expect_status "$m spec abc" 404
done

# ---- networks: refused uploads leave nothing behind
BLOBS=$(blob_count)
net_refused() { # WHAT FIELD [curl args]
    local what=$1 field=$2
    shift 2
    api POST /v0.7/networks "$@"
    expect_field "network: $what" "$field"
    LAST_ERR=$(jf .error.message)
    fs_expect "network: $what leaves no blob" "$(blob_count)" "$BLOBS"
    api GET /v0.7/networks
    fs_expect "network: $what leaves no row" "$(jf .count)" 0
}
head -c $(($(stat -c %s "$MESO") / 2)) "$MESO" >"$FS_TMP/truncated.safetensors"
: >"$FS_TMP/empty.safetensors"
head -c 1000000 /dev/urandom >"$FS_TMP/random.bin"
head -c 30000 "$CASCADE" >"$FS_TMP/truncated.xml"
net_refused "no name" name -F architecture=meso4 -F "file=@$MESO"
net_refused "no architecture" architecture -F name=n -F "file=@$MESO"
net_refused "unknown architecture" architecture -F name=n -F architecture=resnet -F "file=@$MESO"
net_refused "no file" file -F name=n -F architecture=meso4
net_refused "file as a plain field" file -F name=n -F architecture=meso4 -F file=abc
net_refused "0-byte file" file -F name=n -F architecture=meso4 -F "file=@$FS_TMP/empty.safetensors"
net_refused "truncated file" file -F name=n -F architecture=meso4 -F "file=@$FS_TMP/truncated.safetensors"
echo "$LAST_ERR" | grep -qi safetensors || fs_fail "truncated file: unclear message: $LAST_ERR"
net_refused "wrong architecture" file -F name=n -F architecture=meso4 -F "file=@$INCEPTION"
echo "$LAST_ERR" | grep -q 'do not fit architecture meso4' || fs_fail "wrong architecture: $LAST_ERR"
net_refused "random bytes" file -F name=n -F architecture=meso4 -F "file=@$FS_TMP/random.bin"
net_refused "Keras .h5" file -F name=n -F architecture=meso4 -F "file=@$FS_SHARED_DATA/mesonet/weights/Meso4_DF.h5"
echo "$LAST_ERR" | grep -q 'fakescope models import' || fs_fail ".h5 refusal does not say how to convert: $LAST_ERR"
net_refused "Keras .h5 renamed" file -F name=n -F architecture=meso4 -F "file=@$FS_SHARED_DATA/mesonet/weights/Meso4_DF.h5;filename=w.safetensors"
net_refused "safetensors as a cascade" file -F name=n -F architecture=face-cascade -F "file=@$MESO"
net_refused "truncated cascade" file -F name=n -F architecture=face-cascade -F "file=@$FS_TMP/truncated.xml"
net_refused "cascade as weights" file -F name=n -F architecture=meso4 -F "file=@$CASCADE"
net_refused "preprocessing not JSON" preprocessing -F name=n -F architecture=meso4 -F 'preprocessing={' -F "file=@$MESO"
net_refused "preprocessing not an object" preprocessing -F name=n -F architecture=meso4 -F 'preprocessing=[1]' -F "file=@$MESO"
net_refused "preprocessing unknown key" resize -F name=n -F architecture=meso4 -F 'preprocessing={"resize": 3}' -F "file=@$MESO"
net_refused "preprocessing bad crop" preprocessing -F name=n -F architecture=meso4 -F 'preprocessing={"crop": "eyes"}' -F "file=@$MESO"
net_refused "preprocessing bad margin" preprocessing -F name=n -F architecture=meso4 -F 'preprocessing={"margin": 9}' -F "file=@$MESO"
net_refused "cascade bad scale" preprocessing -F name=n -F architecture=face-cascade -F 'preprocessing={"scale_factor": 1.0}' -F "file=@$CASCADE"
net_refused "cascade bad neighbours" preprocessing -F name=n -F architecture=face-cascade -F 'preprocessing={"min_neighbors": -1}' -F "file=@$CASCADE"
# 20 MB of random bytes: past the 16 MiB body limit.
head -c 20000000 /dev/urandom >"$FS_TMP/big.bin"
ST=$($FS_CURL -o "$BODY_FILE" -w '%{http_code}' -H "X-API-KEY: $KEY" -F name=n -F architecture=meso4 \
    -F "file=@$FS_TMP/big.bin" "$FS_URL/v0.7/networks" 2>/dev/null || true)
BODY=$(cat "$BODY_FILE" 2>/dev/null || true)
case "$ST" in 413) ;; 000) echo "20 MB upload: connection closed by the server" ;; *) fs_fail "20 MB upload: status $ST: $BODY" ;; esac
fs_expect "20 MB leaves no blob" "$(blob_count)" "$BLOBS"
api GET /v0.7/networks
fs_expect "20 MB leaves no row" "$(jf .count)" 0
ST=$($FS_CURL -o /dev/null -w '%{http_code}' -H "X-API-KEY: $READER" -F name=n -F architecture=meso4 -F "file=@$MESO" "$FS_URL/v0.7/networks")
fs_expect "reader cannot upload" "$ST" 403
fs_expect "refused reader leaves no blob" "$(blob_count)" "$BLOBS"
echo "store after refused uploads: $(blob_count) blobs"

api POST /v0.7/networks -F name=meso -F architecture=meso4 -F "file=@$MESO"
expect_status "good network" 201
NET=$(jf .id)
api POST /v0.7/networks -F name=haar -F architecture=face-cascade -F "file=@$CASCADE"
expect_status "good cascade" 201
HAAR=$(jf .id)
fs_expect "cascade input" "$(jf '[.input_size.width, .input_size.height] | join("x")')" 24x24
fs_expect "cascade output" "$(jf .output)" null
for m in GET DELETE; do
    api "$m" /v0.7/networks/999
    expect_status "$m unknown network" 404
done

# ---- versions
ver_bad() { api_json POST /v0.7/recognition/versions "$1"; expect_field "version $1" "$2"; }
C='"post_processings": [{"classification": {"thresholds": [0.5, 0.5]}}]'
ver_bad "{\"network_id\": $NET, $C}" spec_id
ver_bad "{\"spec_id\": \"1\", \"network_id\": $NET, $C}" spec_id
ver_bad "{\"spec_id\": 0, \"network_id\": $NET, $C}" spec_id
ver_bad "{\"spec_id\": 999, \"network_id\": $NET, $C}" spec_id
ver_bad "{\"spec_id\": $SPEC, $C}" network_id
ver_bad "{\"spec_id\": $SPEC, \"network_id\": 999, $C}" network_id
ver_bad "{\"spec_id\": $SPEC, \"network_id\": $NET}" post_processings
ver_bad "{\"spec_id\": $SPEC, \"network_id\": $NET, \"post_processings\": {}}" post_processings
ver_bad "{\"spec_id\": $SPEC, \"network_id\": $NET, \"post_processings\": []}" post_processings
ver_bad "{\"spec_id\": $SPEC, \"network_id\": $NET, \"post_processings\": [{}]}" post_processings
ver_bad "{\"spec_id\": $SPEC, \"network_id\": $NET, \"post_processings\": [{\"classification\": {\"thresholds\": [0.5, 0.5]}}, {\"classification\": {\"thresholds\": [0.5, 0.5]}}]}" post_processings
ver_bad "{\"spec_id\": $SPEC, \"network_id\": $NET, \"post_processings\": [{\"classification\": {\"thresholds\": [0.5, 0.5]}, \"detection\": {\"thresholds\": [0.5], \"nms_threshold\": 0.3}}]}" post_processings
ver_bad "{\"spec_id\": $SPEC, \"network_id\": $NET, \"post_processings\": [{\"classification\": {\"thresholds\": [0.5]}}]}" post_processings.classification.thresholds
ver_bad "{\"spec_id\": $SPEC, \"network_id\": $NET, \"post_processings\": [{\"classification\": {\"thresholds\": [0.5, 0.5, 0.5]}}]}" post_processings.classification.thresholds
ver_bad "{\"spec_id\": $SPEC, \"network_id\": $NET, \"post_processings\": [{\"classification\": {\"thresholds\": [0.5, 1.5]}}]}" post_processings.classification.thresholds
ver_bad "{\"spec_id\": $SPEC, \"network_id\": $NET, \"post_processings\": [{\"classification\": {\"thresholds\": [0.5, \"0.5\"]}}]}" post_processings.classification.thresholds
ver_bad "{\"spec_id\": $SPEC, \"network_id\": $NET, \"post_processings\": [{\"classification\": {}}]}" post_processings.classification.thresholds
ver_bad "{\"spec_id\": $SPEC, \"network_id\": $NET, \"post_processings\": [{\"classification\": {\"thresholds\": [0.5, 0.5], \"nms_threshold\": 0.3}}]}" nms_threshold
ver_bad "{\"spec_id\": $SPEC, \"network_id\": $NET, $C, \"id\": 4}" id
ver_bad "{\"spec_id\": $PETS, \"network_id\": $NET, $C}" spec_id
ver_bad "{\"spec_id\": $SPEC, \"network_id\": $HAAR, $C}" network_id
ver_bad "{\"spec_id\": $FACES, \"network_id\": $NET, \"post_processings\": [{\"classification\": {\"thresholds\": [0.5]}}]}" post_processings
D='"post_processings": [{"detection": {"thresholds": [0.5], "nms_threshold": 0.3}}]'
ver_bad "{\"spec_id\": $SPEC, \"network_id\": $HAAR, $D}" post_processings
ver_bad "{\"spec_id\": $FACES, \"network_id\": $NET, $D}" network_id
ver_bad "{\"spec_id\": $TWO, \"network_id\": $HAAR, \"post_processings\": [{\"detection\": {\"thresholds\": [0.5, 0.5], \"nms_threshold\": 0.3}}]}" spec_id
ver_bad "{\"spec_id\": $FACES, \"network_id\": $HAAR, \"post_processings\": [{\"detection\": {\"thresholds\": [0.5]}}]}" post_processings.detection.nms_threshold
ver_bad "{\"spec_id\": $FACES, \"network_id\": $HAAR, \"post_processings\": [{\"detection\": {\"thresholds\": [0.5], \"nms_threshold\": 2}}]}" post_processings.detection.nms_threshold
ver_bad "{\"spec_id\": $FACES, \"network_id\": $HAAR, \"post_processings\": [{\"detection\": {\"thresholds\": [], \"nms_threshold\": 0.3}}]}" post_processings.detection.thresholds
api GET /v0.7/recognition/versions
fs_expect "no version was made" "$(jf .count)" 0
for m in GET DELETE; do
    api "$m" /v0.7/recognition/versions/999
    expect_status "$m unknown version" 404
done

api_json POST /v0.7/recognition/versions "{\"spec_id\": $SPEC, \"network_id\": $NET, $C}"
expect_status "good version" 201
VER=$(jf .id)
api DELETE "/v0.7/recognition/specs/$SPEC"
expect_status "spec in use" 409
api DELETE "/v0.7/networks/$NET"
expect_status "network in use" 409
jf .error.message | grep -q 'version' || fs_fail "409 does not say why: $BODY"

# ---- inference
inf_bad() { api_json POST "/v0.7/recognition/versions/$VER/inference" "$1"; expect_field "inference $1" "$2"; }
inf_bad '{}' inputs
inf_bad '{"inputs": []}' inputs
inf_bad '{"inputs": {}}' inputs
inf_bad "{\"inputs\": [$(seq -f '{"image": {"source": "aGVsbG8="}}' -s, 1 17)]}" inputs
inf_bad '{"inputs": [{"video": {}}]}' 'inputs[0].video.source'
inf_bad '{"inputs": [{"audio": {"source": "aGVsbG8="}}]}' 'inputs[0].image.source'
inf_bad '{"inputs": [{"image": {}}]}' 'inputs[0].image.source'
inf_bad '{"inputs": [{"image": {"source": 5}}]}' 'inputs[0].image.source'
BLOBS=$(blob_count)
inf_bad '{"inputs": [{"image": {"source": "aGVsbG8="}}, {"image": {"source": "!!!"}}]}' 'inputs[1].image.source'
fs_expect "a refused inference stores nothing" "$(blob_count)" "$BLOBS"
inf_bad '{"inputs": [{"image": {"source": ""}}]}' 'inputs[0].image.source'
inf_bad '{"inputs": [{"image": {"source": "data:image/png,abc"}}]}' 'inputs[0].image.source'
# A URL to a private address: refused by the fetch policy, before any connection.
inf_bad '{"inputs": [{"image": {"source": "http://10.0.0.1/a.jpg"}}]}' 'inputs[0].image.source'
inf_bad '{"inputs": [{"video": {"source": "http://192.168.1.1/a.mp4"}}]}' 'inputs[0].video.source'
api_json POST /v0.7/recognition/versions/999/inference '{"inputs": [{"image": {"source": "aGVsbG8="}}]}'
expect_status "inference on an unknown version" 404
ST=$($FS_CURL -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d '{"inputs": [{"image": {"source": "aGVsbG8="}}]}' "$FS_URL/v0.7/recognition/versions/$VER/inference")
fs_expect "inference without a key" "$ST" 401
# Base64 of something that is not an image: the task fails and says why.
api_json POST "/v0.7/recognition/versions/$VER/inference" '{"inputs": [{"image": {"source": "aGVsbG8gd29ybGQ="}}]}'
expect_status "inference on text" 200
wait_task "$(jf .task_id)"
fs_expect "task on text" "$(jf .status)" failed
[ -n "$(jf .error)" ] && [ "$(jf .error)" != null ] || fs_fail "failed task without an error: $BODY"
fs_expect "failed task data" "$(jf .result)" null
api GET /v0.7/tasks/0123456789abcdef0123456789abcdef
expect_status "unknown task" 404
fs_stop || fs_fail "server exit status (leaks or a crash under the sanitizers)"
echo "ok"
