# Security checks against the real server: API keys never reach the log (every way a key can be
# presented, right and wrong), the store keeps only their SHA-256 (read with sqlite3) and checks
# them with a constant-time compare; every file-serving route (static web files, /media/data/,
# /media/plots/, /media/loss_curves/) refuses path traversal (../, %2e%2e, encoded slashes and
# backslashes, absolute paths, NUL, double encoding); the imageUrl fetcher refuses loopback,
# private, link-local and metadata addresses given directly, through a redirect (a loopback origin
# is allowed for the first hop only, by the test-only FAKESCOPE_TEST_FETCH_FIRST_HOP) and through a
# name that resolves there (localhost); an upload whose multipart filename climbs out (../)
# writes nothing outside the data dir; an HDF5 upload never reaches libhdf5.
. "$(dirname "$0")/lib.sh"

fs_require_cmd jq python3 sqlite3 ffmpeg
M="$FS_SOURCE_DIR/models"
[ -f "$M/synthetic-face-meso4.safetensors" ] || { echo "skipped: no shipped model"; exit 77; }
C="$FS_CURL"
IC=/api/1.1/wf/api-deepfake-detection

# A web root, a dataset and secrets beside them, each a file a traversal would love to reach.
mkdir -p "$FS_TMP/web/css" "$FS_TMP/ds/real" "$FS_TMP/ds/fake"
echo '<h1>page</h1>' > "$FS_TMP/web/index.html"
echo 'body{}' > "$FS_TMP/web/css/a.css"
echo 'TOP-SECRET-WEB' > "$FS_TMP/secret.txt"
ffmpeg -v error -f lavfi -i testsrc=size=32x32 -frames:v 1 -y "$FS_TMP/ds/real/r.png" || fs_fail ffmpeg
ffmpeg -v error -f lavfi -i testsrc=size=32x32 -vf negate -frames:v 1 -y "$FS_TMP/ds/fake/f.png" || fs_fail ffmpeg
cp "$FS_TMP/ds/real/r.png" "$FS_TMP/secret.png"   # an image outside the dataset: /media/data/ must not serve it
ffmpeg -v error -f lavfi -i testsrc=size=64x64 -frames:v 1 -y "$FS_TMP/img.png" || fs_fail ffmpeg

# The origin for imageUrl: /img.png is a picture; /to/<url> redirects to <url>.
cat > "$FS_TMP/origin.py" <<'EOF'
import http.server, sys, urllib.parse
img = open(sys.argv[2], 'rb').read()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith('/to/'):
            self.send_response(302)
            self.send_header('Location', urllib.parse.unquote(self.path[4:]))
            self.send_header('Content-Length', '0')
            self.end_headers()
        elif self.path == '/img.png':
            self.send_response(200)
            self.send_header('Content-Type', 'image/png')
            self.send_header('Content-Length', str(len(img)))
            self.end_headers()
            self.wfile.write(img)
        else:
            self.send_error(404)
    def log_message(self, *a): pass
s = http.server.HTTPServer(('127.0.0.1', 0), H)
open(sys.argv[1], 'w').write(str(s.server_address[1]))
s.serve_forever()
EOF
python3 "$FS_TMP/origin.py" "$FS_TMP/origin.port" "$FS_TMP/img.png" &
ORIGIN_PID=$!
trap 'kill $ORIGIN_PID 2>/dev/null; fs_cleanup' EXIT
for _ in $(seq 1 100); do [ -s "$FS_TMP/origin.port" ] && break; sleep 0.05; done
OP=$(cat "$FS_TMP/origin.port")
[ -n "$OP" ] || fs_fail "the origin server did not start"

touch "$FS_TMP/marker"
FAKESCOPE_TEST_FETCH_FIRST_HOP="127.0.0.1:$OP" fs_start --models "$M" --web "$FS_TMP/web" --dataset "$FS_TMP/ds"
ADMIN=$FS_ADMIN_KEY
[ -n "$ADMIN" ] || fs_fail "no admin key printed"

# --- keys: made over the API, then presented every way a client can ---------------------------
mk_key() { $C -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' -d "{\"name\":\"$1\"}" \
               "$FS_URL/admin/keys" | jq -r '.key // .secret // empty'; }
K1=$(mk_key user1)
K2=$(mk_key user2)
[ -n "$K1" ] && [ -n "$K2" ] || fs_fail "cannot create keys"
WRONG="fsk_$(printf '%064d' 7)"
for k in "$K1" "$WRONG"; do
    $C -o /dev/null -H "Authorization: Bearer $k" "$FS_URL/v0.7/networks"
    $C -o /dev/null -H "X-API-KEY: $k" "$FS_URL/v0.7/networks"
    $C -o /dev/null -u "$k:" "$FS_URL/face/v1/deepfake" -X POST
    $C -o /dev/null -u "user:$k" "$FS_URL/face/v1/deepfake" -X POST
    $C -o /dev/null "$FS_URL/v0.7/networks?api_key=$k&token=$k"
    $C -o /dev/null "$FS_URL/v0.7/networks/$k"
    $C -o /dev/null -H "Authorization: Bearer $K2" -F "image=@$FS_TMP/img.png" -F modelName=synthetic-face-meso4 \
        -F "token=$k" "$FS_URL$IC"
    $C -o /dev/null -H "Authorization: Bearer $K2" -H 'Content-Type: application/json' \
        -d "{\"imageUrl\":\"http://127.0.0.1:$OP/img.png\",\"modelName\":\"synthetic-face-meso4\",\"token\":\"$k\"}" "$FS_URL$IC"
    $C -o /dev/null -H "X-Request-ID: $k" "$FS_URL/healthz"
done
$C -o /dev/null -H "Authorization: Bearer $ADMIN" "$FS_URL/admin/keys"
# The log must have seen these requests, and no secret (nor its hex part) in any of them.
[ "$(grep -c ' /v0.7/networks ' "$FS_ERR")" -ge 4 ] || fs_fail "the access log lacks the requests"
for k in "$ADMIN" "$K1" "$K2" "$WRONG"; do
    hex=${k#fsk_}
    grep -aq -- "$hex" "$FS_ERR" && { cp "$FS_ERR" /tmp/harden_sec_err.log; fs_fail "a key (${k:0:8}...) appears in the server's stderr: $(grep -a -- "$hex" "$FS_ERR" | head -3)"; }
    grep -a -v '^admin key: ' "$FS_OUT" | grep -aq -- "$hex" && fs_fail "a key (${k:0:8}...) appears in the server's stdout"
done
# The admin key is printed once, on stdout, at the first start only.
[ "$(grep -c -- "${ADMIN#fsk_}" "$FS_OUT")" = 1 ] || fs_fail "the admin key is not printed exactly once"
echo "ok: $(wc -l < "$FS_ERR") log lines, no key in them"

# --- keys stored hashed ------------------------------------------------------------------------
DB="$FS_DATA/fakescope.db"
[ -f "$DB" ] || fs_fail "no database at $DB"
for k in "$ADMIN" "$K1" "$K2"; do
    want=$(printf '%s' "$k" | sha256sum | cut -d' ' -f1)
    got=$(sqlite3 -readonly "$DB" "SELECT count(*) FROM api_keys WHERE secret_sha256 = '$want'")
    fs_expect "SHA-256 of ${k:0:8}... stored" "$got" 1
    hex=${k#fsk_}
    got=$(sqlite3 -readonly "$DB" "SELECT count(*) FROM api_keys WHERE name LIKE '%$hex%' OR prefix LIKE '%$hex%' OR secret_sha256 LIKE '%$hex%'")
    fs_expect "secret of ${k:0:8}... absent from api_keys" "$got" 0
    # nowhere in the data dir either (database, WAL, blobs)
    grep -raq -- "$hex" "$FS_DATA" && fs_fail "a key's secret is stored in $FS_DATA"
done
fs_expect "stored key count" "$(sqlite3 -readonly "$DB" 'SELECT count(*) FROM api_keys')" 3
echo "ok: api_keys holds SHA-256 digests only; no secret anywhere in the data dir"

# --- constant-time compare: the verification path compares digests with CRYPTO_memcmp ----------
# (tests/unit/test_store.c checks fs_key_hash_matches's results; here: no early-exit compare on it)
grep -q 'CRYPTO_memcmp(want, got' "$FS_SOURCE_DIR/src/store/keys.c" || fs_fail "key digests are not compared with CRYPTO_memcmp"
grep -nE '(memcmp|strcmp|strncmp)\([^)]*(secret|hash)' "$FS_SOURCE_DIR/src/store/keys.c" | grep -v -e CRYPTO_memcmp -e FS_KEY_PREFIX &&
    fs_fail "a key digest or secret is compared with an early-exit compare"
echo "ok: key digests compared in constant time"

# --- path traversal on every file-serving route -------------------------------------------------
# get ROUTE_PREFIX SUFFIX: status, and the body must not be a secret.
trav() {
    local url=$1 st
    st=$($C --path-as-is -o "$FS_TMP/t" -w '%{http_code}' "$FS_URL$url")
    case $st in 400|403|404) ;; *) fs_fail "traversal $url: status $st" ;; esac
    if grep -aq -e 'TOP-SECRET' -e 'SQLite format' "$FS_TMP/t" || cmp -s "$FS_TMP/t" "$FS_TMP/secret.png"; then
        fs_fail "traversal $url: served a file outside its root"
    fi
}
fs_expect "legit static" "$($C -o /dev/null -w '%{http_code}' "$FS_URL/css/a.css")" 200
fs_expect "legit dataset image" "$($C -o /dev/null -w '%{http_code}' "$FS_URL/media/data/real/r.png")" 200
fs_expect "legit loss curve" "$($C -o /dev/null -w '%{http_code}' "$FS_URL/media/loss_curves/synthetic-face.png")" 200
ABS_SECRET="$FS_TMP/secret.txt"
n=0
for prefix in "" /css /media/data /media/data/real /media/plots /media/loss_curves; do
    for tail in ../secret.txt ../../secret.txt ../../../secret.txt ../secret.png ../../secret.png \
        ../fakescope.db ../data/fakescope.db \
        %2e%2e/secret.txt %2e%2e/%2e%2e/secret.txt %2E%2E/%2e%2E/secret.png .%2e/secret.txt \
        ..%2fsecret.txt ..%2f..%2fsecret.txt %2e%2e%2f%2e%2e%2fsecret.png ..%5csecret.txt ..%5c..%5csecret.png \
        %252e%252e/secret.txt ..%252fsecret.txt \
        "/$ABS_SECRET" "${ABS_SECRET#/}" "$FS_DATA/fakescope.db" "/etc/passwd" \
        "secret.txt%00.png" "..%00/secret.txt" "../secret.txt%00" "%00../../secret.png" \
        "real/../../secret.png" "fake/..%2f..%2fsecret.png" "./../secret.txt" "...//secret.txt" \
        "synthetic-face/../../secret.png" "..;/secret.txt"; do
        trav "$prefix/$tail"
        n=$((n + 1))
    done
done
echo "ok: $n traversal attempts on static, /media/data, /media/plots, /media/loss_curves refused"

# --- answers that quote a client's bytes stay valid JSON (UTF-8), never a 500 ---------------------
st=$($C -o "$FS_TMP/b" -w '%{http_code}' -H "Authorization: Bearer $ADMIN" -F name=n -F $'architecture=mes\xff\xfe' \
     "$FS_URL/v0.7/networks")
fs_expect "non-UTF-8 architecture" "$st" 400
jq -e '.error.message | test("unknown architecture")' "$FS_TMP/b" >/dev/null || fs_fail "non-UTF-8 architecture: $(cat "$FS_TMP/b")"
st=$($C -o "$FS_TMP/b" -w '%{http_code}' -H "X-Api-Key: $K1" "$FS_URL/api/classification_image/%ff%fe%80")
fs_expect "non-UTF-8 hash" "$st" 404
jq -e .error.message "$FS_TMP/b" >/dev/null || fs_fail "non-UTF-8 hash: $(cat "$FS_TMP/b")"
st=$($C -o "$FS_TMP/b" -w '%{http_code}' -H "X-Api-Key: $K1" "$FS_URL/no/such/%c0%af%ed%a0%80")
fs_expect "non-UTF-8 path" "$st" 404
jq -e .error.message "$FS_TMP/b" >/dev/null || fs_fail "non-UTF-8 path: $(cat "$FS_TMP/b")"
echo "ok: non-UTF-8 bytes quoted in errors answer 400/404 JSON"

# --- the imageUrl fetcher's address policy ---------------------------------------------------
# icu URL: the image check with imageUrl; prints the status; body in $FS_TMP/b.
icu() {
    $C -o "$FS_TMP/b" -w '%{http_code}' -H "Authorization: Bearer $K1" -H 'Content-Type: application/json' \
        -d "$(jq -cn --arg u "$1" --arg t "$K1" '{imageUrl: $u, modelName: "synthetic-face-meso4", token: $t}')" "$FS_URL$IC"
}
refused() { # refused WHAT URL
    local st
    st=$(icu "$2")
    fs_expect "$1 status" "$st" 400
    jq -r .message "$FS_TMP/b" | grep -q 'private, loopback or link-local' || fs_fail "$1: $(cat "$FS_TMP/b")"
}
# the first hop to the test origin is allowed (so the refusals below come from the redirect)
fs_expect "first hop allowed" "$(icu "http://127.0.0.1:$OP/img.png")" 200
enc() { jq -rn --arg u "$1" '$u|@uri'; }
refused "redirect to metadata" "http://127.0.0.1:$OP/to/$(enc http://169.254.169.254/latest/meta-data/)"
refused "redirect to loopback" "http://127.0.0.1:$OP/to/$(enc "http://127.0.0.1:$OP/img.png")"
refused "redirect to localhost" "http://127.0.0.1:$OP/to/$(enc "http://localhost:$OP/img.png")"
refused "redirect to private" "http://127.0.0.1:$OP/to/$(enc http://10.0.0.1/x.png)"
refused "redirect to link-local v6" "http://127.0.0.1:$OP/to/$(enc 'http://[fe80::1]/x.png')"
refused "redirect to mapped v6" "http://127.0.0.1:$OP/to/$(enc "http://[::ffff:127.0.0.1]:$OP/img.png")"
fs_stop || fs_fail "the server did not exit cleanly"

# Without the test option nothing local is reachable, whatever the spelling.
fs_start --models "$M"
refused "direct origin" "http://127.0.0.1:$OP/img.png"
refused "localhost (DNS)" "http://localhost:$OP/img.png"
refused "metadata" "http://169.254.169.254/latest/meta-data/"
refused "decimal loopback" "http://2130706433:$OP/img.png"
refused "hex loopback" "http://0x7f000001:$OP/img.png"
refused "IPv6 loopback" "http://[::1]:$OP/img.png"
refused "unspecified" "http://0.0.0.0:$OP/img.png"
echo "ok: loopback, private, link-local and metadata refused directly, after redirects and through DNS"

# --- multipart filenames never name a path ----------------------------------------------------
ESC="fs_escape_$$"
for fname in "../../../../../tmp/$ESC.png" "/tmp/$ESC.png" "..%2f..%2f$ESC.png" "../$ESC.png"; do
    $C -o "$FS_TMP/b" -H "X-Api-Key: $K1" -F "file=@$FS_TMP/img.png;filename=$fname" "$FS_URL/api/classification_image" >/dev/null
    $C -o "$FS_TMP/b" -H "Authorization: Bearer $K1" -F "image=@$FS_TMP/img.png;filename=$fname" \
        -F modelName=synthetic-face-meso4 -F "token=$K1" "$FS_URL$IC" >/dev/null
    $C -o "$FS_TMP/b" -H "Authorization: Bearer $ADMIN" -F name=n -F architecture=meso4 \
        -F "file=@$M/synthetic-face-meso4.safetensors;filename=$fname" "$FS_URL/v0.7/networks" >/dev/null
done
[ -e "/tmp/$ESC.png" ] && fs_fail "an upload was written to /tmp/$ESC.png"
out=$(find "$FS_TMP" /tmp -maxdepth 3 -newer "$FS_TMP/marker" -name "*$ESC*" 2>/dev/null)
[ -z "$out" ] || fs_fail "upload names reached the filesystem: $out"
# everything the server wrote since the start is under the data dir
out=$(find "$FS_TMP" -newer "$FS_TMP/marker" -type f ! -path "$FS_DATA/*" ! -name 'serve.*' ! -name b ! -name t \
      ! -name 'origin.*' 2>/dev/null)
[ -z "$out" ] || fs_fail "files written outside the data dir: $out"
[ -n "$(find "$FS_DATA/blobs" -type f -newer "$FS_TMP/marker")" ] || fs_fail "the uploads were not stored at all"
echo "ok: multipart filenames with ../ and absolute paths write nothing outside the data dir"

# --- HDF5 never reaches libhdf5 over the API: refused by name, and by content under another name ---
printf '\211HDF\r\n\032\n' > "$FS_TMP/w.h5"
head -c 2048 /dev/zero >> "$FS_TMP/w.h5"
st=$($C -o "$FS_TMP/b" -w '%{http_code}' -H "Authorization: Bearer $ADMIN" -F name=h5 -F architecture=meso4 \
     -F "file=@$FS_TMP/w.h5" "$FS_URL/v0.7/networks")
fs_expect ".h5 upload" "$st" 400
jq -r .error.message "$FS_TMP/b" | grep -q 'not accepted over the API' || fs_fail ".h5 upload: $(cat "$FS_TMP/b")"
st=$($C -o "$FS_TMP/b" -w '%{http_code}' -H "Authorization: Bearer $ADMIN" -F name=h5 -F architecture=meso4 \
     -F "file=@$FS_TMP/w.h5;filename=w.safetensors" "$FS_URL/v0.7/networks")
fs_expect "HDF5 named .safetensors" "$st" 400
jq -r .error.message "$FS_TMP/b" | grep -q 'not accepted over the API' || fs_fail "HDF5 as safetensors: $(cat "$FS_TMP/b")"
echo "ok: HDF5 uploads refused, by name and by content"
fs_stop || fs_fail "the server did not exit cleanly"
echo PASS
