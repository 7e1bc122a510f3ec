# Every limit of the README's table against the real server: a body over the limit is 413 in
# each dialect's own shape, a JSON body nested too deep is 400 before it is parsed, an image
# over the pixel limit and a video over the resolution and duration limits are 413, too many
# frames in one request is 413 (400 for ?frames= past its range), too many requests in progress
# is 503 with Retry-After (the health check still answers), and a full task queue is 503 with
# Retry-After. Inputs are made here (PNG by hand, clips with ffmpeg); the model is the shipped one.
. "$(dirname "$0")/lib.sh"

fs_require_cmd jq python3 ffmpeg
M="$FS_SOURCE_DIR/models"
[ -f "$M/synthetic-face.safetensors" ] || { echo "skipped: no shipped model"; exit 77; }
C="$FS_CURL"
IC=/api/1.1/wf/api-deepfake-detection

# req NAME WANT_STATUS PATH [curl args]: body in $FS_TMP/b, headers in $FS_TMP/h.
req() {
    local name=$1 want=$2 path=$3 got
    shift 3
    rm -f "$FS_TMP/b" "$FS_TMP/h" # no answer must not leave the last one's to be read
    got=$($C -o "$FS_TMP/b" -D "$FS_TMP/h" -w '%{http_code}' "$@" "$FS_URL$path")
    [ "$got" = "$want" ] || fs_fail "$name: status $got, expected $want; body: $(head -c 300 "$FS_TMP/b")"
}
j() { jq -r "$1" "$FS_TMP/b"; }
retry_after() { tr -d '\r' < "$FS_TMP/h" | grep -Ei '^retry-after: [0-9]+$' >/dev/null || fs_fail "$1: no Retry-After"; }

# --- body limit: 413 in each dialect's shape, told from Content-Length before the body is read ---
fs_start --models "$M" --max-body 200000
K=$FS_ADMIN_KEY
# The server answers from Content-Length and closes without reading the body. A client that
# streams the body regardless can meet the closed socket (EPIPE) before it reads the answer
# (seen in CI: curl exit 55, no status); one that asks first with "Expect: 100-continue", as
# curl does by itself from 1 MB, gets the 413 instead of a go-ahead and sends nothing.
E='Expect: 100-continue'
head -c 300000 /dev/zero | tr '\0' 'a' > "$FS_TMP/big"
req "image check 413" 413 "$IC" -H "$E" -H "Authorization: Bearer $K" -H 'Content-Type: application/json' --data-binary @"$FS_TMP/big"
fs_expect "image check 413 shape" "$(j .statusCode)" 413
j .message | grep -q '^Error: ' || fs_fail "image check 413 message: $(cat "$FS_TMP/b")"
req "face video 413" 413 /face/v1/deepfake -H "$E" -H "X-Api-Key: $K" -F "video=@$FS_TMP/big;filename=v.mp4"
fs_expect "face video 413 shape" "$(j .status)" FILE_INVALID_FORMAT
j .reason | grep -q 'limit' || fs_fail "face video 413 reason: $(cat "$FS_TMP/b")"
req "face frames 413" 413 /face/v1/deepfake/images -H "$E" -H "X-Api-Key: $K" -H 'Content-Type: application/json' --data-binary @"$FS_TMP/big"
fs_expect "face frames 413 shape" "$(j .status)" FILE_INVALID_FORMAT
req "classification 413" 413 /api/classification_image -H "$E" -H "X-Api-Key: $K" -F "file=@$FS_TMP/big;filename=a.png"
fs_expect "classification 413 shape" "$(j .error.code)" payload_too_large
req "recognition 413" 413 /v0.7/recognition/specs -H "$E" -H "Authorization: Bearer $K" -H 'Content-Type: application/json' --data-binary @"$FS_TMP/big"
fs_expect "recognition 413 shape" "$(j .error.code)" payload_too_large
# chunked (no Content-Length): counted while it arrives
st=$(head -c 300000 /dev/zero | $C -o "$FS_TMP/b" -w '%{http_code}' -H "Authorization: Bearer $K" \
     -H 'Transfer-Encoding: chunked' -H 'Content-Type: application/json' --data-binary @- "$FS_URL$IC")
fs_expect "chunked 413" "$st" 413
fs_expect "chunked 413 shape" "$(j .statusCode)" 413
echo "ok: 413 past the body limit in the image check, face video, classification and recognition shapes"

# --- JSON depth: refused before the parser, the body being within the size limit ---
python3 -c "print('{\"imageUrl\":' + '[' * 50000 + ']' * 50000 + '}')" > "$FS_TMP/deep.json"
req "deep JSON image check" 400 "$IC" -H "Authorization: Bearer $K" -H 'Content-Type: application/json' --data-binary @"$FS_TMP/deep.json"
j .message | grep -q 'nested deeper than 32' || fs_fail "deep JSON message: $(cat "$FS_TMP/b")"
python3 -c "print('{\"name\":\"x\",\"labels\":' + '[' * 40 + ']' * 40 + '}')" > "$FS_TMP/deep40.json"
req "deep JSON recognition" 400 /v0.7/recognition/specs -H "Authorization: Bearer $K" -H 'Content-Type: application/json' --data-binary @"$FS_TMP/deep40.json"
j .error.message | grep -q 'nested deeper' || fs_fail "deep JSON recognition: $(cat "$FS_TMP/b")"
# 32 levels is still accepted as JSON (the handler then judges the fields)
python3 -c "print('{\"imageUrl\":' + '[' * 31 + ']' * 31 + ',\"modelName\":\"synthetic-face\",\"token\":\"$K\"}')" > "$FS_TMP/ok32.json"
req "32 levels" 400 "$IC" -H "Authorization: Bearer $K" -H 'Content-Type: application/json' --data-binary @"$FS_TMP/ok32.json"
j .message | grep -q 'imageUrl must be a string' || fs_fail "32 levels: $(cat "$FS_TMP/b")"
echo "ok: JSON deeper than 32 levels refused with 400, 32 levels parsed"

# --- pixels: a 8000x8000 PNG (64 Mpx > 50 Mpx) of a few KB ---
python3 - "$FS_TMP/huge.png" <<'EOF'
import struct, sys, zlib
w = h = 8000
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
raw = (b'\0' + b'\0' * (w // 8)) * h
png = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 1, 0, 0, 0, 0)) + \
      chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b'')
open(sys.argv[1], 'wb').write(png)
EOF
req "64 Mpx image" 413 "$IC" -H "Authorization: Bearer $K" -F "image=@$FS_TMP/huge.png" -F modelName=synthetic-face -F "token=$K"
fs_expect "64 Mpx shape" "$(j .statusCode)" 413
j .message | grep -qi 'pixel' || fs_fail "64 Mpx message: $(cat "$FS_TMP/b")"
echo "ok: $(stat -c %s "$FS_TMP/huge.png")-byte PNG of 64 Mpx refused with 413"

# --- frames per request ---
python3 -c "import json; print(json.dumps({'frames': ['AAAA'] * 257}))" > "$FS_TMP/257.json"
req "257 frames" 413 /face/v1/deepfake/images -H "X-Api-Key: $K" -H 'Content-Type: application/json' --data-binary @"$FS_TMP/257.json"
fs_expect "257 frames shape" "$(j .status)" FILE_INVALID_FORMAT
ffmpeg -v error -f lavfi -i testsrc=size=64x64:rate=5 -frames:v 10 -c:v mpeg4 -y "$FS_TMP/small.mp4" || fs_fail "ffmpeg"
req "?frames=65" 400 "/face/v1/deepfake?frames=65" -H "X-Api-Key: $K" -F "video=@$FS_TMP/small.mp4"
req "classification frames=65" 400 /api/classification_video -H "X-Api-Key: $K" -F "file=@$FS_TMP/small.mp4" -F frames=65
echo "ok: 257 frames is 413, ?frames=65 is 400"

# --- video resolution and duration ---
ffmpeg -v error -f lavfi -i color=c=gray:size=4112x16:rate=5 -frames:v 3 -c:v mpeg4 -y "$FS_TMP/wide.mp4" || fs_fail "ffmpeg wide"
req "4112 px wide video" 413 /face/v1/deepfake -H "X-Api-Key: $K" -F "video=@$FS_TMP/wide.mp4"
fs_expect "wide video shape" "$(j .status)" FILE_INVALID_FORMAT
ffmpeg -v error -f lavfi -i color=c=gray:size=16x16:rate=1 -t 660 -c:v mpeg4 -y "$FS_TMP/long.mp4" || fs_fail "ffmpeg long"
req "11 min video" 413 /face/v1/deepfake -H "X-Api-Key: $K" -F "video=@$FS_TMP/long.mp4"
j .reason | grep -qi 'duration\|long\|seconds' || fs_fail "long video reason: $(cat "$FS_TMP/b")"
echo "ok: a 4112 px wide and an 11-minute video refused with 413"
fs_stop || fs_fail "the server did not exit cleanly"

# --- requests in progress: one slow upload holds the only slot ---
fs_start --models "$M" --max-concurrent 1
head -c 6000 /dev/zero > "$FS_TMP/slow"
$C --limit-rate 1500 -o /dev/null -H "Authorization: Bearer $K" -H 'Content-Type: application/json' \
    --data-binary @"$FS_TMP/slow" "$FS_URL/admin/keys" &
slow=$!
sleep 0.3 # let the slow upload take the slot first (it lasts about 4 s)
for _ in $(seq 1 40); do
    st=$($C -o "$FS_TMP/b" -D "$FS_TMP/h" -w '%{http_code}' "$FS_URL/api/models")
    [ "$st" = 503 ] && break
    sleep 0.05
done
fs_expect "busy status" "$st" 503
retry_after "busy"
fs_expect "busy code" "$(j .error.code)" busy
req "healthz while busy" 200 /healthz
req "busy image check shape" 503 "$IC" -H "Authorization: Bearer $K" -d '{}'
fs_expect "busy image check shape" "$(j .statusCode)" 503
wait $slow
req "after the slow upload" 200 /api/models
echo "ok: a second request in progress is 503 + Retry-After; healthz answers"
fs_stop || fs_fail "the server did not exit cleanly"

# --- a full queue: one worker, one queued task; six distinct clips posted at once ---
for i in 1 2 3 4 5 6; do
    ffmpeg -v error -f lavfi -i "testsrc2=size=960x540:rate=25" -vf "hue=h=$((i * 50))" -t 6 -c:v mpeg4 -q:v 3 \
        -y "$FS_TMP/clip$i.mp4" || fs_fail "ffmpeg clip $i"
done
fs_start --models "$M" --job-workers 1 --queue-max 1 --workers 8
pids=()
for i in 1 2 3 4 5 6; do
    # a slow machine (the sanitizer build, other jobs) may take a while to store the uploads
    curl -sS --max-time 120 -o "$FS_TMP/q$i.b" -D "$FS_TMP/q$i.h" -w '%{http_code}' -H "X-Api-Key: $K" -F "file=@$FS_TMP/clip$i.mp4" \
        -F frames=16 "$FS_URL/api/classification_video" > "$FS_TMP/q$i.st" &
    pids+=($!)
done
wait "${pids[@]}"
accepted=0 refused=0
for i in 1 2 3 4 5 6; do
    case $(cat "$FS_TMP/q$i.st") in
    200|202) accepted=$((accepted + 1)) ;;
    503) refused=$((refused + 1))
         tr -d '\r' < "$FS_TMP/q$i.h" | grep -Ei '^retry-after: [0-9]+$' >/dev/null || fs_fail "queue full without Retry-After"
         fs_expect "queue full code" "$(jq -r .error.code "$FS_TMP/q$i.b")" queue_full ;;
    *) fs_fail "post $i: $(cat "$FS_TMP/q$i.st") $(cat "$FS_TMP/q$i.b")" ;;
    esac
done
[ $refused -ge 1 ] && [ $accepted -ge 1 ] || fs_fail "queue of 1, 1 worker, 6 posts: $accepted accepted, $refused refused"
echo "ok: full queue: $accepted accepted, $refused refused with 503 + Retry-After"
# A query of thousands of empty arguments overflows libmicrohttpd's per-connection memory: the
# answer is 431, or the connection is closed at once; never a wait for the idle timeout.
for n in 500 5000 20000; do
    q=$(printf '&%.0s' $(seq 1 $n))
    out=$(curl -s --max-time 5 -o /dev/null -w '%{http_code} %{time_total}' -H "X-Api-Key: $K" \
        "$FS_URL/v0.7/recognition/specs?$q") || true
    read -r code secs <<<"$out"
    case $code in 431|000) ;; *) fs_fail "$n empty query arguments: status $code" ;; esac
    awk -v t="$secs" 'BEGIN { exit !(t < 3) }' || fs_fail "$n empty query arguments: no answer for ${secs}s"
done
curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$FS_URL/healthz" | grep -x 200 >/dev/null ||
    fs_fail "the server stopped answering after oversized request lines"
echo "ok: oversized request lines get 431 or a prompt close"

# --- time per request: a check that outlives --timeout is 504 in the dialect's shape, and the
# server goes on serving (the task itself keeps running). A single scan of a clip can finish
# within the 1 s deadline on a quick machine, so one job worker is given three other checks
# first (other frame counts: distinct tasks, not joined) and the measured one waits behind
# them: at least three scans' time before its own starts. ---
CLIP=$(ls "${FS_SHARED_DATA:-/nonexistent}"/dfdc/videos/*/*.mp4 2>/dev/null | sed -n 1p)
if [ -n "$CLIP" ]; then
    fs_stop || fs_fail "the server did not exit cleanly"
    fs_start --models "$M" --timeout 1 --job-workers 1
    ahead=()
    for n in 61 62 63; do
        curl -s --max-time 20 -o /dev/null -H "X-Api-Key: $K" -F "video=@$CLIP" \
            "$FS_URL/face/v1/deepfake?frames=$n" &
        ahead+=($!)
    done
    sleep 0.3
    t0=$(date +%s%N)
    req "check past the request deadline" 504 "/face/v1/deepfake?frames=64" -H "X-Api-Key: $K" -F "video=@$CLIP"
    ms=$((($(date +%s%N) - t0) / 1000000))
    wait "${ahead[@]}" || true
    fs_expect "deadline status" "$(j .status)" FAILED
    j .reason | grep -i deadline >/dev/null || fs_fail "deadline reason: $(cat "$FS_TMP/b")"
    [ "$ms" -lt 5000 ] || fs_fail "a 1 s request deadline answered after $ms ms"
    req "healthz after the deadline" 200 /healthz
    echo "ok: a check past the 1 s request deadline is 504 after $ms ms"
else
    echo "skipped: the request-deadline check (no shared DFDC clip)"
fi
fs_stop || fs_fail "the server did not exit cleanly"
echo PASS
