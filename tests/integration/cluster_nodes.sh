#!/bin/bash
# Two nodes sharing one PostgreSQL database (FAKESCOPE_STORE, made by the PostgreSQL pass:
# tests/tools/pg_fixture.sh) and one blob folder: no node keeps what the other needs. The first
# node's admin key works on the second, which prints none; a network, spec and version created
# through node A classify through node B without a restart (the task B queued runs on either
# node and is read back through A; the image check, judged by B itself, makes B load the version
# from the store on first use), a version deleted through A is unloaded by B at its next use,
# and a key revoked on A is refused on B at once.
. "$(dirname "$0")/mgmt_lib.sh"
[ -n "${FAKESCOPE_STORE:-}" ] || { echo "skipped: runs in the PostgreSQL pass (FAKESCOPE_STORE unset)"; exit 77; }

SHARED="$FS_TMP/blobs"
MESO=$(mgmt_import meso4 "$FS_SHARED_DATA/mesonet/weights/Meso4_DF.h5" meso4_df)
FS_DATA="$FS_TMP/node-a" fs_start --store "$FAKESCOPE_STORE" --blobs "$SHARED" --node-id node-a
A_URL=$FS_URL A_PID=$FS_PID
KEY=$FS_ADMIN_KEY
[ -n "$KEY" ] || fs_fail "node A printed no admin key"

# Node B: its own data folder, the same database and blobs.
B_OUT="$FS_TMP/b.out" B_ERR="$FS_TMP/b.err"
"$FAKESCOPE" serve --host 127.0.0.1 --port 0 --data "$FS_TMP/node-b" --workers 2 --store "$FAKESCOPE_STORE" \
    --blobs "$SHARED" --node-id node-b >"$B_OUT" 2>"$B_ERR" &
B_PID=$!
trap 'kill -KILL $B_PID 2>/dev/null; wait $B_PID 2>/dev/null; fs_cleanup' EXIT
for i in $(seq 1 200); do grep -q '^listening on' "$B_OUT" && break; sleep 0.05; done
B_URL=$(sed -n 's/^listening on \(http:\/\/[^ ]*\)$/\1/p' "$B_OUT")
[ -n "$B_URL" ] || fs_fail "node B did not start: $(tail -5 "$B_ERR")"
grep -q '^admin key:' "$B_OUT" && fs_fail "node B made a second admin key on a store that has one"

on() { FS_URL=$1; }
on "$B_URL"
api GET /healthz
expect_status "B healthz" 200
fs_expect "B engine" "$(jf .engine)" postgresql
fs_expect "B node" "$(jf .node)" node-b
api GET /v0.7/networks
expect_status "A's key on B" 200

# Model management through A...
on "$A_URL"
api_json POST /v0.7/recognition/specs '{"name": "deepfake", "labels": ["real", "fake"]}'
expect_status "spec on A" 201
SPEC=$(jf .id)
api POST /v0.7/networks -F name=meso4-df -F architecture=meso4 -F "file=@$MESO" -F 'preprocessing={"crop": "whole"}'
expect_status "network on A" 201
NET=$(jf .id)
SHA=$(jf .sha256)
[ -f "$SHARED/${SHA:0:2}/${SHA:2}" ] || fs_fail "the network's blob is not in the shared folder"
api_json POST /v0.7/recognition/versions "{\"spec_id\": $SPEC, \"network_id\": $NET, \"post_processings\": [{\"classification\": {\"thresholds\": [0.5, 0.5]}}]}"
expect_status "version on A" 201
VER=$(jf .id)

# ...used through B, which never saw it being made.
on "$B_URL"
api GET "/v0.7/recognition/versions/$VER"
expect_status "A's version listed on B" 200
infer "$VER" "$REAL_FRAME" "$FAKE_FRAME"
fs_expect "B's inference task" "$(jf .status)" done
fs_expect "B's outputs" "$(jf '.result.outputs | length')" 2
B_TASK=$TASK
B_RESULT=$(jf -c .result)
on "$A_URL"
api GET "/v0.7/tasks/$B_TASK"
expect_status "B's task read on A" 200
fs_expect "B's task on A" "$(jf .status)" done
[ "$(jf -c .result)" = "$B_RESULT" ] || fs_fail "A reads another result for B's task"

# The seed image check on B with A's version by name.
on "$B_URL"
ST=$($FS_CURL -o "$BODY_FILE" -w '%{http_code}' -H "Authorization: Bearer $KEY" -F "image=@$FAKE_FRAME" \
    -F "modelName=version:$VER" -F "token=$KEY" "$B_URL/api/1.1/wf/api-deepfake-detection")
BODY=$(cat "$BODY_FILE")
expect_status "image check on B with version:$VER" 200
fs_expect "image check status" "$(jf .status)" success
# The inference task above may have run on either node; the image check is judged by B itself.
grep -q "version $VER loaded on first use" "$B_ERR" || fs_fail "B did not load A's version from the store"

# The version deleted through A is gone on B too (B had it loaded).
on "$A_URL"
api DELETE "/v0.7/recognition/versions/$VER"
expect_status "delete version on A" 204
on "$B_URL"
ST=$($FS_CURL -o "$BODY_FILE" -w '%{http_code}' -H "Authorization: Bearer $KEY" -F "image=@$FAKE_FRAME" \
    -F "modelName=version:$VER" -F "token=$KEY" "$B_URL/api/1.1/wf/api-deepfake-detection")
BODY=$(cat "$BODY_FILE")
expect_status "image check on B with the deleted version:$VER" 400
grep -q "version $VER was deleted" "$B_ERR" || fs_fail "B did not unload the deleted version"

# A key made and revoked on A.
on "$A_URL"
NEW=$("$FAKESCOPE" keys create reviewer --store "$FAKESCOPE_STORE" --data "$FS_TMP/node-c" | tail -n1)
on "$B_URL"
fs_expect "a key made by the CLI, on B" "$(fs_status GET /v0.7/networks -H "X-API-KEY: $NEW")" 200
ID=$("$FAKESCOPE" keys list --json --store "$FAKESCOPE_STORE" --data "$FS_TMP/node-c" | jq '.[] | select(.name=="reviewer") | .id')
"$FAKESCOPE" keys revoke "$ID" --store "$FAKESCOPE_STORE" --data "$FS_TMP/node-c" >/dev/null
fs_expect "the revoked key on B" "$(fs_status GET /v0.7/networks -H "X-API-KEY: $NEW")" 401
fs_expect "the revoked key on A" "$(FS_URL=$A_URL fs_status GET /v0.7/networks -H "X-API-KEY: $NEW")" 401
echo "PASS"
