# Model management, the whole life of a model: spec -> network upload -> version -> inference
# task -> result -> restart (versions come back) -> deletes, with every field checked; then the
# thresholds rule (a label is present when its score is strictly greater than its threshold).
. "$(dirname "$0")/mgmt_lib.sh"

MESO=$(mgmt_import meso4 "$FS_SHARED_DATA/mesonet/weights/Meso4_DF.h5" meso4_df)
fs_start
KEY=$FS_ADMIN_KEY
[ -n "$KEY" ] || fs_fail "no admin key"

# ---- spec
api_json POST /v0.7/recognition/specs '{"name": "deepfake", "description": "real or fake face", "labels": ["real", "fake"]}'
expect_status "create spec" 201
SPEC=$(jf .id)
[ "$SPEC" -gt 0 ] || fs_fail "spec id: $BODY"
fs_expect "spec name" "$(jf .name)" deepfake
fs_expect "spec description" "$(jf .description)" "real or fake face"
fs_expect "spec labels" "$(jf '.labels | join(",")')" "real,fake"
fs_expect "spec roi" "$(jf .roi)" NONE
jf .create_date | grep -Eq "$ISO_RE" || fs_fail "create_date not ISO 8601: $BODY"
CREATED=$(jf .create_date)
api GET "/v0.7/recognition/specs/$SPEC"
expect_status "get spec" 200
fs_expect "get spec name" "$(jf .name)" deepfake
sleep 0.01
api_json PATCH "/v0.7/recognition/specs/$SPEC" '{"name": "deepfake detector"}'
expect_status "patch spec" 200
fs_expect "patched name" "$(jf .name)" "deepfake detector"
fs_expect "patch keeps description" "$(jf .description)" "real or fake face"
fs_expect "patch keeps labels" "$(jf '.labels | join(",")')" "real,fake"
fs_expect "patch keeps create_date" "$(jf .create_date)" "$CREATED"
[ "$(jf .update_date)" \> "$CREATED" ] || fs_fail "update_date did not move: $BODY"
api_json PUT "/v0.7/recognition/specs/$SPEC" '{"name": "deepfake detector", "description": "P(fake) of the faces"}'
expect_status "put spec" 200
fs_expect "put description" "$(jf .description)" "P(fake) of the faces"
api GET /v0.7/recognition/specs
expect_status "list specs" 200
fs_expect "spec list count" "$(jf .count)" 1
fs_expect "spec list item" "$(jf '.results[0].name')" "deepfake detector"

# ---- network
BLOBS0=$(blob_count)
api POST /v0.7/networks -F name=meso4-df -F architecture=meso4 -F "file=@$MESO" \
    -F 'preprocessing={"crop": "faces_or_whole", "margin": 0.25}'
expect_status "upload network" 201
NET=$(jf .id)
fs_expect "network name" "$(jf .name)" meso4-df
fs_expect "network architecture" "$(jf .architecture)" meso4
fs_expect "network input" "$(jf '[.input_size.height, .input_size.width, .input_size.channels] | join("x")')" 256x256x3
fs_expect "network output (models import: P(real))" "$(jf .output)" p_real
fs_expect "network sha256" "$(jf .sha256)" "$(sha256sum "$MESO" | cut -d' ' -f1)"
fs_expect "network size" "$(jf .size)" "$(stat -c %s "$MESO")"
fs_expect "network crop" "$(jf .preprocessing.crop)" faces_or_whole
fs_expect "network margin" "$(jf .preprocessing.margin)" 0.25
jf .create_date | grep -Eq "$ISO_RE" || fs_fail "network create_date: $BODY"
SHA=$(jf .sha256)
[ -f "$FS_DATA/blobs/${SHA:0:2}/${SHA:2}" ] || fs_fail "no blob for the network: $(find "$FS_DATA/blobs" -type f)"
fs_expect "one new blob" "$(blob_count)" $((BLOBS0 + 1))
api GET "/v0.7/networks/$NET"
expect_status "get network" 200
fs_expect "get network sha" "$(jf .sha256)" "$SHA"
api GET /v0.7/networks
fs_expect "network list count" "$(jf .count)" 1

# ---- version
api_json POST /v0.7/recognition/versions "{\"spec_id\": $SPEC, \"network_id\": $NET, \"post_processings\": [{\"classification\": {\"thresholds\": [0.5, 0.5]}}]}"
expect_status "create version" 201
VER=$(jf .id)
fs_expect "version spec_id" "$(jf .spec_id)" "$SPEC"
fs_expect "version network_id" "$(jf .network_id)" "$NET"
fs_expect "version spec_name" "$(jf .spec_name)" "deepfake detector"
fs_expect "version network_name" "$(jf .network_name)" meso4-df
fs_expect "version thresholds" "$(jf '.post_processings[0].classification.thresholds | join(",")')" "0.5,0.5"
fs_expect "version post_processings length" "$(jf '.post_processings | length')" 1
jf .update_date | grep -Eq "$ISO_RE" || fs_fail "version update_date: $BODY"
api GET "/v0.7/recognition/versions/$VER"
expect_status "get version" 200
fs_expect "get version network_name" "$(jf .network_name)" meso4-df
fs_expect "get version thresholds" "$(jf '.post_processings[0].classification.thresholds | join(",")')" "0.5,0.5"
api GET /v0.7/recognition/versions
fs_expect "version list count" "$(jf .count)" 1
fs_expect "version list item keys" "$(jf '.results[0] | keys | join(",")')" \
    "id,network_id,network_name,spec_id,spec_name,update_date"
api GET "/v0.7/recognition/specs/$SPEC/versions"
expect_status "spec versions" 200
fs_expect "spec versions count" "$(jf .count)" 1
fs_expect "spec versions id" "$(jf '.results[0].id')" "$VER"

# ---- inference
infer "$VER" "$REAL_FRAME" "$FAKE_FRAME"
fs_expect "task status" "$(jf .status)" done
fs_expect "task id" "$(jf .id)" "$TASK"
fs_expect "task error" "$(jf .error)" null
fs_expect "outputs" "$(jf '.result.outputs | length')" 2
for i in 0 1; do
    o=".result.outputs[$i].labels"
    fs_expect "output $i labels" "$(jf "[$o.predicted[], $o.discarded[]] | map(.label_name) | sort | join(\",\")")" "fake,real"
    # P(real) + P(fake) = 1; each label's threshold is the version's; predicted means score > threshold.
    jf "[$o.predicted[], $o.discarded[]] | map(.score) | add" |
        awk '{ exit !($1 > 0.999999 && $1 < 1.000001) }' || fs_fail "output $i: scores do not add to 1: $BODY"
    fs_expect "output $i predicted rule" "$(jf "[$o.predicted[] | .score > .threshold] | all")" true
    fs_expect "output $i discarded rule" "$(jf "[$o.discarded[] | .score <= .threshold] | all")" true
    fs_expect "output $i thresholds" "$(jf "[$o.predicted[], $o.discarded[]] | map(.threshold) | unique | join(\",\")")" 0.5
    fs_expect "output $i label ids" "$(jf "[$o.predicted[], $o.discarded[]] | map(\"\\(.label_id):\\(.label_name)\") | sort | join(\",\")")" "0:real,1:fake"
done
P_FAKE_REAL=$(jf '[.result.outputs[0].labels | .predicted[], .discarded[] | select(.label_name == "fake") | .score][0]')
echo "P(fake) of the real frame through the API: $P_FAKE_REAL"
# The same bytes uploaded again with crop "whole": one blob for both networks, and the scores
# are those of `fakescope predict` (which judges the whole picture) on the same weights.
BLOBS1=$(blob_count)
api POST /v0.7/networks -F name=meso4-df-whole -F architecture=meso4 -F "file=@$MESO" \
    -F 'preprocessing={"crop": "whole"}'
expect_status "upload the same file again" 201
NET_WHOLE=$(jf .id)
fs_expect "same bytes, same sha" "$(jf .sha256)" "$SHA"
fs_expect "same bytes, no new blob" "$(blob_count)" "$BLOBS1"
api_json POST /v0.7/recognition/versions "{\"spec_id\": $SPEC, \"network_id\": $NET_WHOLE, \"post_processings\": [{\"classification\": {\"thresholds\": [0.5, 0.5]}}]}"
expect_status "version of the whole-image network" 201
V_WHOLE=$(jf .id)
infer "$V_WHOLE" "$REAL_FRAME" "$FAKE_FRAME"
i=0
for f in "$REAL_FRAME" "$FAKE_FRAME"; do
    api_p=$(jf "[.result.outputs[$i].labels | .predicted[], .discarded[] | select(.label_name == \"fake\") | .score][0]")
    cli_p=$("$FAKESCOPE" predict --weights "$MESO" --json "$f" | jq -r .p_fake)
    awk -v a="$api_p" -v c="$cli_p" 'BEGIN { d = a - c; if (d < 0) d = -d; exit !(d < 1e-5) }' ||
        fs_fail "whole-image P(fake) of $f: API $api_p, predict $cli_p"
    fs_expect "whole image flag" "$(jf ".result.outputs[$i].whole_image")" true
    i=$((i + 1))
done
api DELETE "/v0.7/recognition/versions/$V_WHOLE"
expect_status "delete the whole-image version" 204
api DELETE "/v0.7/networks/$NET_WHOLE"
expect_status "delete the second network" 204
[ -f "$FS_DATA/blobs/${SHA:0:2}/${SHA:2}" ] || fs_fail "a blob still used by a network was removed"
# Bare base64 works too.
printf '{"inputs": [{"image": {"source": "%s"}}]}' "$(base64 -w0 "$REAL_FRAME")" >"$FS_TMP/req2.json"
api POST "/v0.7/recognition/versions/$VER/inference" -H 'Content-Type: application/json' --data-binary @"$FS_TMP/req2.json"
expect_status "bare base64 inference" 200
wait_task "$(jf .task_id)"
fs_expect "bare base64 task" "$(jf .status)" done
fs_expect "bare base64 gives the same score" \
    "$(jf '[.result.outputs[0].labels | .predicted[], .discarded[] | select(.label_name == "fake") | .score][0]')" "$P_FAKE_REAL"

# ---- in use: 409
api DELETE "/v0.7/recognition/specs/$SPEC"
expect_status "delete a spec in use" 409
api DELETE "/v0.7/networks/$NET"
expect_status "delete a network in use" 409

# ---- restart: the version is loaded again and answers the same
fs_stop || fs_fail "server exit status"
fs_start
api GET "/v0.7/recognition/versions/$VER"
expect_status "version after restart" 200
infer "$VER" "$REAL_FRAME"
fs_expect "inference after restart" "$(jf .status)" done
fs_expect "same score after restart" \
    "$(jf '[.result.outputs[0].labels | .predicted[], .discarded[] | select(.label_name == "fake") | .score][0]')" "$P_FAKE_REAL"

# ---- thresholds: strictly greater. Threshold = the score itself: absent; a hair below: present.
below=$(awk -v s="$P_FAKE_REAL" 'BEGIN { printf "%.17g", s * 0.999 }')
api_json POST /v0.7/recognition/versions "{\"spec_id\": $SPEC, \"network_id\": $NET, \"post_processings\": [{\"classification\": {\"thresholds\": [1, $P_FAKE_REAL]}}]}"
expect_status "version at the score" 201
V_AT=$(jf .id)
api_json POST /v0.7/recognition/versions "{\"spec_id\": $SPEC, \"network_id\": $NET, \"post_processings\": [{\"classification\": {\"thresholds\": [1, $below]}}]}"
expect_status "version below the score" 201
V_BELOW=$(jf .id)
infer "$V_AT" "$REAL_FRAME"
fs_expect "threshold = score: nothing predicted" "$(jf '.result.outputs[0].labels.predicted | length')" 0
fs_expect "threshold = score: fake discarded" "$(jf '[.result.outputs[0].labels.discarded[].label_name] | sort | join(",")')" "fake,real"
infer "$V_BELOW" "$REAL_FRAME"
fs_expect "threshold below score: fake predicted" "$(jf '[.result.outputs[0].labels.predicted[].label_name] | join(",")')" fake
fs_expect "threshold below score: real discarded (threshold 1)" "$(jf '[.result.outputs[0].labels.discarded[].label_name] | join(",")')" real

# ---- deletes
for v in "$V_AT" "$V_BELOW"; do
    api DELETE "/v0.7/recognition/versions/$v"
    expect_status "delete version $v" 204
done
api DELETE "/v0.7/recognition/versions/$VER"
expect_status "delete version" 204
[ -z "$BODY" ] || fs_fail "204 with a body: $BODY"
api GET "/v0.7/recognition/versions/$VER"
expect_status "deleted version" 404
image_request "$REAL_FRAME"
api POST "/v0.7/recognition/versions/$VER/inference" -H 'Content-Type: application/json' --data-binary @"$FS_TMP/req.json"
expect_status "inference on a deleted version" 404
api DELETE "/v0.7/recognition/versions/$VER"
expect_status "delete version twice" 404
api DELETE "/v0.7/recognition/specs/$SPEC"
expect_status "delete spec" 204
api GET "/v0.7/recognition/specs/$SPEC"
expect_status "deleted spec" 404
api DELETE "/v0.7/networks/$NET"
expect_status "delete network" 204
api GET "/v0.7/networks/$NET"
expect_status "deleted network" 404
[ ! -e "$FS_DATA/blobs/${SHA:0:2}/${SHA:2}" ] || fs_fail "the network's blob survived its deletion"
fs_stop || fs_fail "server exit status"
echo "ok"
