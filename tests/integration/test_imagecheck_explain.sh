# Grad-CAM on the image check: POST /api/1.1/wf/api-deepfake-detection?explain=1 adds an
# "explanation" object whose overlays are valid PNGs (signature, IHDR size = the stated size),
# for the whole picture and for each face with crop=faces, while the seed's fields stay exactly
# those of the same request without explain; explain=0 is the plain answer; bad input gets the
# same error with explain as without; a bad explain value is a 400 in the seed's shape.
. "$(dirname "$0")/lib.sh"

fs_require_shared mesonet/weights/Meso4_DF.h5
fs_require_cmd jq python3

IMG_DF="$SHARED/mesonet/test_images/df/df00204.jpg"
IMG_REAL="$SHARED/mesonet/test_images/real/real00240.jpg"
fs_import_originals "$SHARED" "$FS_TMP/models"
PATH_IC=/api/1.1/wf/api-deepfake-detection

fs_start --models "$FS_TMP/models"
KEY=$FS_ADMIN_KEY
[ -n "$KEY" ] || fs_fail "no admin key printed"
AUTH=(-H "Authorization: Bearer $KEY")

# post OUT QUERY [curl args...]: POSTs, writes the body to OUT, prints the status.
post() {
    local out=$1 q=$2
    shift 2
    $FS_CURL --max-time 60 -o "$out" -w '%{http_code}' -X POST "$@" "$FS_URL$PATH_IC$q"
}

# check_overlays FILE: every overlay is a data: URL of a PNG whose IHDR says width x height as
# stated, at least 64 px a side, with a finite logit whose sigmoid is the face's p_fake.
check_overlays() {
    python3 - "$1" <<'EOF' || fs_fail "overlays of $1 are not valid PNGs"
import base64, json, math, struct, sys
body = json.load(open(sys.argv[1]))
x = body["explanation"]
assert x["method"] == "grad-cam" and x["layer"] == "conv4" and x["model"] == "meso4-df", x
assert x["note"], "no note"
assert len(x["faces"]) >= 1
for f in x["faces"]:
    url = f["overlay"]
    head = "data:image/png;base64,"
    assert url.startswith(head), url[:40]
    png = base64.b64decode(url[len(head):], validate=True)
    assert png[:8] == b"\x89PNG\r\n\x1a\n", png[:8]
    assert png[12:16] == b"IHDR"
    w, h = struct.unpack(">II", png[16:24])
    assert (w, h) == (f["width"], f["height"]), (w, h, f["width"], f["height"])
    assert w >= 64 and h >= 64 and len(png) > 1000, (w, h, len(png))
    p = 1 / (1 + math.exp(-f["logit_fake"]))
    assert abs(p - f["p_fake"]) < 1e-3, (p, f["p_fake"])
    for k in ("x", "y", "w", "h"):
        assert isinstance(f["box"][k], int) and isinstance(f["crop"][k], int)
print(len(x["faces"]), "overlay(s) ok")
EOF
}

# ---- whole picture: the same seed fields with and without explain
for img in "$IMG_DF" "$IMG_REAL"; do
    n=$(basename "$img")
    fs_expect "$n plain" "$(post "$FS_TMP/plain" "" "${AUTH[@]}" -F "image=@$img" -F modelName=meso4-df -F "token=$KEY")" 200
    fs_expect "$n explain" "$(post "$FS_TMP/x" "?explain=1" "${AUTH[@]}" -F "image=@$img" -F modelName=meso4-df -F "token=$KEY")" 200
    fs_expect "$n explain=0" "$(post "$FS_TMP/x0" "?explain=0" "${AUTH[@]}" -F "image=@$img" -F modelName=meso4-df -F "token=$KEY")" 200
    fs_expect "$n no explanation without explain" "$(jq 'has("explanation")' "$FS_TMP/plain")" false
    fs_expect "$n explain=0 is the plain answer" "$(jq -cS . "$FS_TMP/x0")" "$(jq -cS . "$FS_TMP/plain")"
    fs_expect "$n seed fields unchanged" "$(jq -cS 'del(.explanation)' "$FS_TMP/x")" "$(jq -cS . "$FS_TMP/plain")"
    fs_expect "$n one whole-picture overlay" "$(jq '.explanation.faces | length' "$FS_TMP/x")" 1
    check_overlays "$FS_TMP/x"
    # the explained score is the one the answer gives
    python3 -c "import json,sys; a=json.load(open('$FS_TMP/x')); \
sys.exit(0 if abs(a['explanation']['faces'][0]['p_fake'] - a['response']['confidence'][0]) < 1e-6 else 1)" ||
        fs_fail "$n: explained p_fake differs from the confidence"
done

# ---- JSON body with a data: URL, faces judged one by one
URL="data:image/jpeg;base64,$(base64 -w0 "$IMG_DF")"
jq -cn --arg u "$URL" --arg t "$KEY" '{imageUrl: $u, modelName: "meso4-df", token: $t, crop: "faces"}' >"$FS_TMP/req.json"
fs_expect "faces plain" "$(post "$FS_TMP/plain" "" "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary "@$FS_TMP/req.json")" 200
fs_expect "faces explain" "$(post "$FS_TMP/x" "?explain=true" "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary "@$FS_TMP/req.json")" 200
fs_expect "faces seed fields unchanged" "$(jq -cS 'del(.explanation)' "$FS_TMP/x")" "$(jq -cS . "$FS_TMP/plain")"
check_overlays "$FS_TMP/x"
# the most suspicious face decides: its p_fake is the confidence
python3 -c "import json,sys; a=json.load(open('$FS_TMP/x')); \
sys.exit(0 if abs(max(f['p_fake'] for f in a['explanation']['faces']) - a['response']['confidence'][0]) < 1e-6 else 1)" ||
    fs_fail "faces: the highest explained p_fake is not the confidence"

# ---- bad input: the same answer with explain as without
same_error() { # NAME [curl args...]
    local name=$1
    shift
    local a b
    a=$(post "$FS_TMP/e0" "" "$@")
    b=$(post "$FS_TMP/e1" "?explain=1" "$@")
    [ "$a" != 200 ] || fs_fail "$name: accepted"
    fs_expect "$name status with explain" "$b" "$a"
    fs_expect "$name body with explain" "$(jq -cS 'del(.args)' "$FS_TMP/e1")" "$(jq -cS 'del(.args)' "$FS_TMP/e0")"
}
same_error "wrong model" "${AUTH[@]}" -F "image=@$IMG_DF" -F modelName=nope -F "token=$KEY"
same_error "no picture" "${AUTH[@]}" -F modelName=meso4-df -F "token=$KEY"
printf 'not an image at all' >"$FS_TMP/junk.jpg"
same_error "not an image" "${AUTH[@]}" -F "image=@$FS_TMP/junk.jpg" -F modelName=meso4-df -F "token=$KEY"
same_error "bad token" "${AUTH[@]}" -F "image=@$IMG_DF" -F modelName=meso4-df -F "token=fsk_nope"
same_error "no key" -F "image=@$IMG_DF" -F modelName=meso4-df -F "token=$KEY"
same_error "bad crop" "${AUTH[@]}" -F "image=@$IMG_DF" -F modelName=meso4-df -F "token=$KEY" -F crop=chin
# a picture without a face, judged by faces: 400 no face either way
fs_flat_png "$FS_TMP/flat.png"
same_error "no face" "${AUTH[@]}" -F "image=@$FS_TMP/flat.png" -F modelName=meso4-df -F "token=$KEY" -F crop=faces

# ---- a bad explain value
fs_expect "explain=maybe" "$(post "$FS_TMP/b" "?explain=maybe" "${AUTH[@]}" -F "image=@$IMG_DF" -F modelName=meso4-df -F "token=$KEY")" 400
fs_expect "explain=maybe statusCode" "$(jq .statusCode "$FS_TMP/b")" 400
jq -r .message "$FS_TMP/b" | grep -q '^Error: explain must be' || fs_fail "explain=maybe: $(cat "$FS_TMP/b")"

fs_stop || fs_fail "the server did not stop cleanly"
echo "ok"
