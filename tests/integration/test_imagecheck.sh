# Image check dialect (seed 001): POST /api/1.1/wf/api-deepfake-detection with JSON (imageUrl as
# data: or http URL) and multipart uploads, the two-credential auth matrix, the seed's answer and
# error shapes, the imageUrl fetch limits and address policy, and GET /api/models. The answers
# are checked against `fakescope predict` on the same files with the original Meso4_DF weights.
. "$(dirname "$0")/lib.sh"

fs_require_shared mesonet/weights/Meso4_DF.h5
fs_require_cmd jq python3

IMG_DF="$SHARED/mesonet/test_images/df/df00204.jpg"
IMG_REAL="$SHARED/mesonet/test_images/real/real00240.jpg"
fs_import_originals "$SHARED" "$FS_TMP/models"
PATH_IC=/api/1.1/wf/api-deepfake-detection

# p_fake of each file from the command line, the reference for every answer below.
ref_p() { "$FAKESCOPE" predict --weights "$SHARED/mesonet/weights/Meso4_DF.h5" --arch meso4 --json "$1" | jq -r .p_fake; }
P_DF=$(ref_p "$IMG_DF")
P_REAL=$(ref_p "$IMG_REAL")

# close A B: |A - B| <= 1e-4
close() { python3 -c "import sys; sys.exit(0 if abs(float('$1') - float('$2')) <= 1e-4 else 1)"; }

# ic NAME EXPECTED_STATUS [curl args...]: POSTs to the image check, keeps the body in $FS_TMP/body,
# checks the status and that a Request-Id came back.
ic() {
    local name=$1 want=$2
    shift 2
    local got
    got=$($FS_CURL -o "$FS_TMP/body" -D "$FS_TMP/head" -w '%{http_code}' -X POST "$@" "$FS_URL$PATH_IC")
    [ "$got" = "$want" ] || fs_fail "$name: status $got, expected $want; body: $(head -c 400 "$FS_TMP/body")"
    grep -qi '^request-id: ' "$FS_TMP/head" || fs_fail "$name: no Request-Id"
}
body() { jq -r "$1" "$FS_TMP/body"; }
# success_check NAME P_FAKE: the seed's 200 shape with confidence [p_fake, 1 - p_fake], each
# printed in its shortest exact form (0.875041127204895 as in the seed, no 17-digit artefact).
success_check() {
    fs_json_shortest "$1 numbers" "$FS_TMP/body" 2
    fs_expect "$1 status field" "$(body .status)" success
    fs_expect "$1 labels" "$(jq -c .response.labels "$FS_TMP/body")" '["Artificial","Genuine"]'
    local want=Genuine
    python3 -c "import sys; sys.exit(0 if float('$2') >= 0.5 else 1)" && want=Artificial
    fs_expect "$1 result" "$(body .response.result)" "$want"
    close "$(body '.response.confidence[0]')" "$2" || fs_fail "$1: confidence[0] $(body '.response.confidence[0]') vs predict $2"
    close "$(body '.response.confidence[1]')" "$(python3 -c "print(1 - float('$2'))")" || fs_fail "$1: confidence[1]"
}
# error400 NAME: the seed's 400 shape.
error400() {
    fs_expect "$1 statusCode" "$(body .statusCode)" 400
    body .message | grep -q '^Error: ' || fs_fail "$1: message $(body .message)"
}
# unauthorized NAME: the seed's 401 shape.
unauthorized() {
    fs_expect "$1 error_class" "$(body .error_class)" Unauthorized
    fs_expect "$1 message" "$(body .message)" null
    body .args.code | grep -Eq '^[0-9]+x[0-9]+$' || fs_fail "$1: args.code $(body .args.code)"
    body .translation | grep -q '^Invalid or expired token' || fs_fail "$1: translation $(body .translation)"
}
json_req() { # json_req IMAGEURL MODEL TOKEN
    jq -cn --arg u "$1" --arg m "$2" --arg t "$3" '{imageUrl: $u, modelName: $m, token: $t}'
}

# The same weights under a card whose decision moves the line just above the df picture's score,
# with an uncertain band around it: the seed's result follows the card's threshold, and
# fakescope's own "decision" object says "uncertain".
STRICT_T=$(python3 -c "p = float('$P_DF'); print(round(p + (1 - p) / 2, 6))")
jq --arg id "$(python3 -c 'import uuid; print(uuid.uuid4())')" --argjson t "$STRICT_T" --argjson p "$P_DF" \
    '.id = $id | .name = "meso4-df-strict" | .decision = {threshold: $t, uncertain: [($p - 0.01), $t], data: "test"}' \
    "$FS_TMP/models/meso4-df.json" >"$FS_TMP/models/meso4-df-strict.json"

# The same weights again under a card that says they learned faces cut from pictures
# ("picture_input": "faces"): without "crop", the image check judges the faces it finds.
jq --arg id "$(python3 -c 'import uuid; print(uuid.uuid4())')" '.id = $id | .name = "meso4-df-faces" | .picture_input = "faces"' \
    "$FS_TMP/models/meso4-df.json" >"$FS_TMP/models/meso4-df-faces.json"

fs_start --models "$FS_TMP/models"
ADMIN=$FS_ADMIN_KEY
[ -n "$ADMIN" ] || fs_fail "no admin key printed"
mkkey() { $FS_CURL -H "Authorization: Bearer $ADMIN" -d "{\"name\":\"$1\"}" "$FS_URL/admin/keys" | jq -r .secret; }
USER=$(mkkey client)
TOKEN=$(mkkey endpoint)
REVOKED=$(mkkey old)
rid=$($FS_CURL -H "Authorization: Bearer $ADMIN" "$FS_URL/admin/keys" | jq -r '.keys[] | select(.name == "old") | .id')
fs_expect "revoke" "$(fs_status DELETE "/admin/keys/$rid" -H "Authorization: Bearer $ADMIN")" 200

# ---- models list
fs_expect "models status" "$(fs_status GET /api/models)" 200
fs_expect "models list" "$($FS_CURL "$FS_URL/api/models" | jq -r '.models[].name' | tr '\n' ' ')" "meso4-df meso4-df-faces meso4-df-strict "

# ---- success: multipart upload, data: URL, PNG and WebP
ic "multipart df" 200 -H "Authorization: Bearer $USER" -F "image=@$IMG_DF" -F modelName=meso4-df -F "token=$TOKEN"
success_check "multipart df" "$P_DF"
fs_expect "multipart df says" "$(body .response.result)" Artificial
fs_expect "df decision, no card decision" "$(jq -c .decision "$FS_TMP/body")" '{"threshold":0.5,"call":"fake"}'
ic "strict card" 200 -H "Authorization: Bearer $USER" -F "image=@$IMG_DF" -F modelName=meso4-df-strict -F "token=$TOKEN"
fs_expect "strict card: the seed's binary result follows its threshold" "$(body .response.result)" Genuine
fs_expect "strict card threshold" "$(body .decision.threshold)" "$STRICT_T"
fs_expect "strict card: inside the band" "$(body .decision.call)" uncertain
close "$(body '.response.confidence[0]')" "$P_DF" || fs_fail "strict card: the score itself is unchanged"
fs_expect "multipart df provenance" "$(body .provenance.state)" none
# Content Credentials beside the seed's fields (docs/provenance.md): the reference SDK's signed
# test image, valid (the server has no --c2pa-trust here), with the same seed fields as ever
C2PA_IMG="$SHARED/c2pa/images/C.jpg"
if [ -f "$C2PA_IMG" ]; then
    ic "c2pa upload" 200 -H "Authorization: Bearer $USER" -F "image=@$C2PA_IMG" -F modelName=meso4-df -F "token=$TOKEN"
    success_check "c2pa upload" "$(ref_p "$C2PA_IMG")"
    fs_expect "c2pa provenance state" "$(body .provenance.state)" valid
    fs_expect "c2pa provenance signer" "$(body .provenance.signer)" "C2PA Signer, C2PA Test Signing Cert"
    fs_expect "c2pa seed fields" "$(jq -c '.response | keys' "$FS_TMP/body")" '["confidence","labels","result"]'
fi
ic "multipart file field" 200 -H "Authorization: Bearer $USER" -F "file=@$IMG_REAL" -F modelName=meso4-df -F "token=$TOKEN"
success_check "multipart real" "$P_REAL"
fs_expect "multipart real says" "$(body .response.result)" Genuine
printf '%s' "$(json_req "data:image/jpeg;base64,$(base64 -w0 "$IMG_DF")" meso4-df "$TOKEN")" >"$FS_TMP/req.json"
ic "data url" 200 -H "Authorization: Bearer $USER" -H 'Content-Type: application/json' --data-binary @"$FS_TMP/req.json"
success_check "data url" "$P_DF"
# curl -d labels JSON as urlencoded; the body must still be read as JSON.
ic "data url via curl -d" 200 -H "Authorization: Bearer $USER" -d @"$FS_TMP/req.json"
success_check "data url via curl -d" "$P_DF"
if command -v ffmpeg >/dev/null; then
    ffmpeg -loglevel error -y -i "$IMG_DF" "$FS_TMP/df.png" && ffmpeg -loglevel error -y -i "$IMG_DF" -lossless 1 "$FS_TMP/df.webp" ||
        fs_fail "ffmpeg could not convert the test image"
    P_PNG=$(ref_p "$FS_TMP/df.png")
    ic "png" 200 -H "Authorization: Bearer $USER" -F "image=@$FS_TMP/df.png" -F modelName=meso4-df -F "token=$TOKEN"
    success_check "png" "$P_PNG"
    P_WEBP=$(ref_p "$FS_TMP/df.webp")
    ic "webp" 200 -H "Authorization: Bearer $USER" -F "image=@$FS_TMP/df.webp" -F modelName=meso4-df -F "token=$TOKEN"
    success_check "webp" "$P_WEBP"
fi
# faces instead of the whole picture: a different crop, still a valid answer or a clear 400
ic "crop faces" 200 -H "Authorization: Bearer $USER" -F "image=@$IMG_DF" -F modelName=meso4-df -F "token=$TOKEN" -F crop=faces
fs_expect "crop faces status" "$(body .status)" success
# fakescope's own "crops": every judged face, its box, the region the model saw and its score;
# the most suspicious one is the answer
jq -e '(.crops | length) >= 1 and all(.crops[]; .kind == "face" and .box.w > 0 and .region.w >= .box.w and
       .p_fake >= 0 and .p_fake <= 1) and ([.crops[].p_fake] | max) == .response.confidence[0]' \
    "$FS_TMP/body" >/dev/null || fs_fail "crop faces: crops $(jq -c .crops "$FS_TMP/body")"
ic "whole picture crops" 200 -H "Authorization: Bearer $USER" -F "image=@$IMG_DF" -F modelName=meso4-df -F "token=$TOKEN"
jq -e '(.crops | length) == 1 and .crops[0].kind == "whole" and .crops[0].box.x == 0 and
       .crops[0].p_fake == .response.confidence[0]' "$FS_TMP/body" >/dev/null ||
    fs_fail "whole picture: crops $(jq -c .crops "$FS_TMP/body")"
# a faces model: faces without asking, the same answer as crop=faces on the whole-picture card;
# crop=whole still judges the whole picture; a picture without a face is a 400 that says why
ic "crop faces again" 200 -H "Authorization: Bearer $USER" -F "image=@$IMG_DF" -F modelName=meso4-df -F "token=$TOKEN" -F crop=faces
P_FACES=$(body '.response.confidence[0]')
ic "faces model" 200 -H "Authorization: Bearer $USER" -F "image=@$IMG_DF" -F modelName=meso4-df-faces -F "token=$TOKEN"
jq -e '(.crops | length) >= 1 and all(.crops[]; .kind == "face")' "$FS_TMP/body" >/dev/null ||
    fs_fail "faces model: crops $(jq -c .crops "$FS_TMP/body")"
fs_expect "faces model score" "$(body '.response.confidence[0]')" "$P_FACES"
ic "faces model, crop whole" 200 -H "Authorization: Bearer $USER" -F "image=@$IMG_DF" -F modelName=meso4-df-faces -F "token=$TOKEN" -F crop=whole
fs_expect "faces model, crop whole: kind" "$(body '.crops[0].kind')" whole
fs_flat_png "$FS_TMP/flat.png"
ic "faces model, no face" 400 -H "Authorization: Bearer $USER" -F "image=@$FS_TMP/flat.png" -F modelName=meso4-df-faces -F "token=$TOKEN"
error400 "faces model, no face"
body .message | grep -q 'meso4-df-faces judges faces' || fs_fail "faces model, no face: $(body .message)"
ic "bad crop" 400 -H "Authorization: Bearer $USER" -F "image=@$IMG_DF" -F modelName=meso4-df -F "token=$TOKEN" -F crop=sideways
error400 "bad crop"

# ---- auth matrix: Bearer (header) x token (body)
GOOD_BODY=(-F "image=@$IMG_DF" -F modelName=meso4-df)
ic "no bearer" 401 "${GOOD_BODY[@]}" -F "token=$TOKEN"
unauthorized "no bearer"
ic "wrong bearer" 401 -H "Authorization: Bearer fsk_$(printf '0%.0s' $(seq 64))" "${GOOD_BODY[@]}" -F "token=$TOKEN"
unauthorized "wrong bearer"
ic "revoked bearer" 401 -H "Authorization: Bearer $REVOKED" "${GOOD_BODY[@]}" -F "token=$TOKEN"
unauthorized "revoked bearer"
ic "no token" 401 -H "Authorization: Bearer $USER" "${GOOD_BODY[@]}"
unauthorized "no token"
ic "wrong token" 401 -H "Authorization: Bearer $USER" "${GOOD_BODY[@]}" -F "token=ABC123"
unauthorized "wrong token"
fs_expect "wrong token echoed" "$(body .translation)" "Invalid or expired token: ABC123"
ic "revoked token" 401 -H "Authorization: Bearer $USER" "${GOOD_BODY[@]}" -F "token=$REVOKED"
unauthorized "revoked token"
body .translation | grep -q "$USER" && fs_fail "a 401 echoed a whole key"
ic "same key twice" 200 -H "Authorization: Bearer $USER" "${GOOD_BODY[@]}" -F "token=$USER"
ic "x-api-key header" 200 -H "X-API-KEY: $USER" "${GOOD_BODY[@]}" -F "token=$TOKEN"
ic "json token, no bearer" 401 -H 'Content-Type: application/json' --data-binary @"$FS_TMP/req.json"
unauthorized "json token, no bearer"

# ---- bad input: each a 4xx in the seed's shape
AUTH=(-H "Authorization: Bearer $USER")
ic "wrong model" 400 "${AUTH[@]}" -F "image=@$IMG_DF" -F modelName=Personr_DF_5M -F "token=$TOKEN"
fs_expect "wrong model body" "$(jq -c . "$FS_TMP/body")" '{"statusCode":400,"message":"Error: incorrect modelName provided"}'
ic "no model" 400 "${AUTH[@]}" -F "image=@$IMG_DF" -F "token=$TOKEN"
error400 "no model"
ic "invalid json" 400 "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary '{"imageUrl": '
error400 "invalid json"
ic "empty body" 400 "${AUTH[@]}" -H 'Content-Type: application/json'
error400 "empty body"
ic "json array" 400 "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary '[1, 2]'
error400 "json array"
ic "imageUrl not a string" 400 "${AUTH[@]}" -H 'Content-Type: application/json' \
    --data-binary "{\"imageUrl\": 5, \"modelName\": \"meso4-df\", \"token\": \"$TOKEN\"}"
error400 "imageUrl not a string"
body .message | grep -q imageUrl || fs_fail "wrong type message: $(body .message)"
ic "token not a string" 400 "${AUTH[@]}" -H 'Content-Type: application/json' \
    --data-binary '{"imageUrl": "x", "modelName": "meso4-df", "token": ["a"]}'
error400 "token not a string"
ic "no image" 400 "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary "$(json_req "" meso4-df "$TOKEN")"
error400 "no image"
printf 'this is not a picture\n' >"$FS_TMP/notes.jpg"
ic "non-image upload" 400 "${AUTH[@]}" -F "image=@$FS_TMP/notes.jpg" -F modelName=meso4-df -F "token=$TOKEN"
error400 "non-image upload"
head -c 3000 "$IMG_DF" >"$FS_TMP/cut.jpg"
ic "truncated jpeg" 400 "${AUTH[@]}" -F "image=@$FS_TMP/cut.jpg" -F modelName=meso4-df -F "token=$TOKEN"
error400 "truncated jpeg"
ic "bad data url" 400 "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary "$(json_req "data:image/png;base64,@@@" meso4-df "$TOKEN")"
error400 "bad data url"
ic "ftp url" 400 "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary "$(json_req "ftp://example.com/a.jpg" meso4-df "$TOKEN")"
error400 "ftp url"
ic "loopback url refused" 400 "${AUTH[@]}" -H 'Content-Type: application/json' \
    --data-binary "$(json_req "http://127.0.0.1:$FS_PORT/healthz" meso4-df "$TOKEN")"
error400 "loopback url refused"
body .message | grep -q 'private, loopback or link-local' || fs_fail "refusal message: $(body .message)"
ic "metadata url refused" 400 "${AUTH[@]}" -H 'Content-Type: application/json' \
    --data-binary "$(json_req "http://169.254.169.254/latest/meta-data/" meso4-df "$TOKEN")"
error400 "metadata url refused"
ic "localhost name refused" 400 "${AUTH[@]}" -H 'Content-Type: application/json' \
    --data-binary "$(json_req "http://localhost:$FS_PORT/x.jpg" meso4-df "$TOKEN")"
error400 "localhost name refused"
head -c 20000000 /dev/zero >"$FS_TMP/big.bin"
ic "20 MB body" 413 "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary @"$FS_TMP/big.bin"
fs_expect "20 MB statusCode" "$(body .statusCode)" 413
fs_expect "healthz after bad input" "$(fs_status GET /healthz)" 200

# ---- imageUrl over http from a local server (private addresses allowed for this run), with a
# one-second fetch limit and a 2 MB size limit.
fs_stop || fs_fail "server exit status $? after the first run"
cat >"$FS_TMP/origin.py" <<'EOF'
import http.server, socketserver, sys, time
IMG = open(sys.argv[1], "rb").read()
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path == "/img.jpg":
            self.send_response(200); self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(IMG))); self.end_headers(); self.wfile.write(IMG)
        elif self.path == "/silent":
            time.sleep(30)
        elif self.path.startswith("/zeros"):
            # 1 GB announced or, with ?chunked, streamed without a length
            self.send_response(200); self.send_header("Content-Type", "image/jpeg")
            if "chunked" not in self.path: self.send_header("Content-Length", str(1 << 30))
            self.end_headers()
            try:
                block = b"\0" * 65536
                for _ in range((1 << 30) // 65536): self.wfile.write(block)
            except (BrokenPipeError, ConnectionResetError): pass
        elif self.path.startswith("/hop"):
            n = int(self.path[4:] or "0")
            self.send_response(302); self.send_header("Location", "/img.jpg" if n == 0 else "/hop%d" % (n - 1))
            self.send_header("Content-Length", "0"); self.end_headers()
        elif self.path == "/text":
            b = b"hello, not an image\n"
            self.send_response(200); self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
        else:
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers()
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
s = S(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
EOF
python3 "$FS_TMP/origin.py" "$IMG_DF" >"$FS_TMP/origin.port" 2>/dev/null &
ORIGIN_PID=$!
trap 'kill $ORIGIN_PID 2>/dev/null; fs_cleanup' EXIT
for _ in $(seq 1 100); do [ -s "$FS_TMP/origin.port" ] && break; sleep 0.05; done
OPORT=$(head -n1 "$FS_TMP/origin.port")
[ -n "$OPORT" ] || fs_fail "the local origin server did not start"
ORIGIN="http://127.0.0.1:$OPORT"

fs_start --models "$FS_TMP/models" --allow-private-urls --fetch-timeout 3 --fetch-max-bytes 2000000
url_req() { ic "$1" "$2" "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary "$(json_req "$3" meso4-df "$TOKEN")"; }
url_req "http url" 200 "$ORIGIN/img.jpg"
success_check "http url" "$P_DF"
url_req "3 redirects" 200 "$ORIGIN/hop2"
success_check "3 redirects" "$P_DF"
url_req "4 redirects" 400 "$ORIGIN/hop3"
error400 "4 redirects"
url_req "404 url" 400 "$ORIGIN/missing.jpg"
error400 "404 url"
url_req "text url" 400 "$ORIGIN/text"
error400 "text url"
t0=$(date +%s%N)
url_req "silent url" 400 "$ORIGIN/silent"
error400 "silent url"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 8000 ] || fs_fail "a silent URL held the request for $ms ms with a 3 s fetch limit"
url_req "1 GB announced" 413 "$ORIGIN/zeros"
fs_expect "1 GB statusCode" "$(body .statusCode)" 413
url_req "1 GB streamed" 413 "$ORIGIN/zeros?chunked"
fs_expect "1 GB streamed statusCode" "$(body .statusCode)" 413
url_req "closed port" 400 "http://127.0.0.1:1/x.jpg"
error400 "closed port"
fs_expect "healthz after bad URLs" "$(fs_status GET /healthz)" 200
fs_stop || fs_fail "server exit status $? (leak or crash under the sanitizers?)"
echo "ok"
