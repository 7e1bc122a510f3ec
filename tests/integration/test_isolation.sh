#!/bin/bash
# Sandboxed media workers against the real server, run as the test build fakescope-faults, whose
# workers misbehave on purpose on a marked input (tests/tools/fault_hooks.c): abort, segfault,
# hang, spin, allocate without bound, open a socket, create a file outside their arena.
#  1. seccomp: a worker that opens a socket or writes a file is killed (SIGSYS), its request
#     fails in its dialect's shape, nothing is written, the server goes on.
#  2. under load: 50 marked uploads mixed with 200 normal requests over the image check (seed
#     001), the face-video check (seed 002) and classification by hash (seed 004), 8 at a time.
#     Every normal request succeeds; every marked one gets its dialect's error; /healthz stays
#     200 throughout; no task is lost (each ends done or failed, the queue drains); 100 of the
#     requests sent again leave the heap in use and RSS flat; deaths are counted in /metrics by cause and logged with the
#     task and the media's SHA-256; a crash is tried at most twice.
. "$(dirname "$0")/lib.sh"

fs_require_shared mesonet/weights/Meso4_DF.h5 dfdc/videos/real/lynaeydofd.mp4 \
    dfdc/videos/fake/abofeumbvv.mp4
fs_require_cmd jq ffmpeg sha256sum
: "${FAKESCOPE_FAULTS:?FAKESCOPE_FAULTS must name the fakescope-faults binary}"
[ -x "$FAKESCOPE_FAULTS" ] || fs_fail "no fakescope-faults binary at $FAKESCOPE_FAULTS"
SANITIZED=${FS_SANITIZE:-0}

fs_import_originals "$SHARED" "$FS_TMP/models"
IMG="$SHARED/mesonet/test_images/df/df00204.jpg"
IMG2="$SHARED/mesonet/test_images/real/real00240.jpg"
M="$FS_TMP/media"
mkdir -p "$M"
# two short face videos, small enough that a normal decode never nears the workers' short
# wall-clock limit below on a loaded machine (distinct bytes: each is computed once, then
# answered from the store)
for v in 1:real/lynaeydofd 2:fake/abofeumbvv; do
    ffmpeg -nostdin -v error -y -i "$SHARED/dfdc/videos/${v#*:}.mp4" -t 2 -vf scale=640:-2 \
        -c:v libx264 -preset ultrafast -an "$M/v${v%%:*}.mp4" || fs_fail "ffmpeg could not cut a clip"
done

# marked COPY_OF FAULT N: a valid file with the marker and a counter appended (every marked
# upload has its own hash, so none is answered from an earlier result)
marked() {
    local out="$M/$2-$3.${1##*.}"
    cp "$1" "$out"
    printf 'FAKESCOPE-FAULT:%s #%s' "$2" "$3" >>"$out"
    echo "$out"
}

# The real server, as the test build; short limits so hangs and hogs end quickly, yet long
# enough on a loaded machine that a hog reaches its own limit (CPU, memory) before the clock.
FAKESCOPE=$FAKESCOPE_FAULTS fs_start --models "$FS_TMP/models" --job-workers 2 --workers 8 \
    --media-workers 4 --worker-timeout 8 --worker-cpu-s 1 --worker-memory-mb 512 --timeout 120
K=$FS_ADMIN_KEY
[ -n "$K" ] || fs_fail "no admin key printed"
PATH_IC=/api/1.1/wf/api-deepfake-detection
TOKEN=$($FS_CURL -H "Authorization: Bearer $K" -d '{"name":"endpoint"}' "$FS_URL/admin/keys" | jq -r .secret)
export FS_URL K TOKEN PATH_IC

# One request; prints "KIND EXPECT HTTP STATUS-WORD" (STATUS-WORD: the dialect's own verdict).
cat >"$FS_TMP/req.sh" <<'EOF'
#!/bin/bash
kind=$1 expect=$2 file=$3 out=$4
C="curl -sS --max-time 120"
case $kind in
ic)
    code=$($C -o "$out" -w '%{http_code}' -H "Authorization: Bearer $K" -F "image=@$file" \
        -F modelName=meso4-df -F "token=$TOKEN" "$FS_URL$PATH_IC")
    word=$(jq -r '.status // .statusCode // .error.code // "?"' "$out" 2>/dev/null) ;;
fv)
    code=$($C -o "$out" -w '%{http_code}' -H "x-api-key: $K" -F "video=@$file" \
        "$FS_URL/face/v1/deepfake?frames=4")
    word=$(jq -r '.status // "?"' "$out" 2>/dev/null) ;;
cl)
    code=$($C -o "$out" -w '%{http_code}' -H "X-Api-Key: $K" -F "file=@$file" -F frames=4 \
        "$FS_URL/api/classification_video")
    h=$(jq -r '.hash // empty' "$out" 2>/dev/null)
    if [ -n "$h" ]; then
        for i in $(seq 1 600); do
            code=$($C -o "$out" -w '%{http_code}' -H "X-Api-Key: $K" "$FS_URL/api/classification_video/$h")
            [ "$code" = 202 ] || break
            sleep 0.2
        done
    fi
    word=$(jq -r '.status // (if .results then "done" else "?" end)' "$out" 2>/dev/null) ;;
esac
echo "$kind $expect $code $word $(basename "$file")"
EOF
chmod +x "$FS_TMP/req.sh"

# ---- 1. seccomp: a socket and a file write, each through the image check and a video check ---
rm -f /tmp/fakescope-escaped
for f in socket write; do
    r=$("$FS_TMP/req.sh" ic bad "$(marked "$IMG" $f 0)" "$FS_TMP/one")
    set -- $r
    fs_expect "image check, worker tries $f: HTTP" "$3" 422
    jq -e '(.message // .error.message // "") | test("forbidden system call")' "$FS_TMP/one" >/dev/null ||
        fs_fail "image check $f: no reason in $(cat "$FS_TMP/one")"
    r=$("$FS_TMP/req.sh" fv bad "$(marked "$M/v1.mp4" $f 0)" "$FS_TMP/one")
    set -- $r
    fs_expect "face-video check, worker tries $f: HTTP" "$3" 422
    fs_expect "face-video check, worker tries $f: status" "$4" FAILED
    jq -e '.reason | test("forbidden system call")' "$FS_TMP/one" >/dev/null ||
        fs_fail "face-video $f: no reason in $(cat "$FS_TMP/one")"
done
[ ! -e /tmp/fakescope-escaped ] || fs_fail "a sandboxed worker created /tmp/fakescope-escaped"
# a worker cannot shrink the arena the server reads (sealed): the decode goes on and succeeds
r=$("$FS_TMP/req.sh" ic ok "$(marked "$IMG" shrink 0)" "$FS_TMP/one")
set -- $r
fs_expect "image check, worker truncates its arena: HTTP" "$3" 200
fs_expect "healthz after the seccomp kills" "$(fs_status GET /healthz)" 200
metric() { $FS_CURL "$FS_URL/metrics" | awk -v k="fakescope_media_worker_deaths_total{cause=\"$1\"}" '$1 == k {print $2}'; }
fs_expect "seccomp deaths counted" "$(metric seccomp)" 4
sha=$(sha256sum "$M/socket-0.mp4" | cut -d' ' -f1)
grep -q "died (seccomp) during task [0-9a-f]*; media sha256 $sha" "$FS_ERR" ||
    fs_fail "no log line names the task and the media's SHA-256 $sha"
echo "ok: seccomp kills answered 422 in each shape, nothing written, logged and counted"

# ---- 2. 50 marked among 200 normal, 8 at a time ------------------------------------------------
list="$FS_TMP/requests"
: >"$list"
for i in $(seq 1 140); do echo "ic ok $([ $((i % 2)) = 0 ] && echo "$IMG" || echo "$IMG2")" >>"$list"; done
for i in $(seq 1 30); do echo "fv ok $M/v$((i % 2 + 1)).mp4" >>"$list"; done
for i in $(seq 1 30); do echo "cl ok $M/v$((i % 2 + 1)).mp4" >>"$list"; done
faults=(abort segv hang alloc socket write spin)
for i in $(seq 1 50); do
    f=${faults[$((i % ${#faults[@]}))]}
    case $((i % 3)) in
    0) echo "ic bad:$f $(marked "$IMG" "$f" "$i")" >>"$list" ;;
    1) echo "fv bad:$f $(marked "$M/v1.mp4" "$f" "$i")" >>"$list" ;;
    2) echo "cl bad:$f $(marked "$M/v2.mp4" "$f" "$i")" >>"$list" ;;
    esac
done
shuf --random-source=<(yes) "$list" -o "$list"

rss() { awk '/^VmRSS/ {print $2}' "/proc/$FS_PID/status"; }
# warm-up: normal requests at the same concurrency, so every request thread's allocator arena,
# scanner and model context (face-finder graphs included, one per thread that finds faces)
# exists before RSS is first read; 16 rounds left some threads cold (RSS went on to the same
# plateau, ~232 MB, from 215 or 222 MB)
for i in $(seq 1 48); do
    echo "ic ok $IMG $FS_TMP/w.$i"
    echo "$([ $((i % 2)) = 0 ] && echo fv || echo cl) ok $M/v$((i % 2 + 1)).mp4 $FS_TMP/w.v$i"
done | xargs -P 8 -L 1 "$FS_TMP/req.sh" >/dev/null
rss0=$(rss)
heap() { $FS_CURL "$FS_URL/metrics" | awk '$1 == "fakescope_heap_bytes" {print int($2 / 1024)}'; }
heap0=$(heap)

# /healthz every 0.2 s while the load runs
(while [ ! -e "$FS_TMP/stop" ]; do
    echo "$($FS_CURL -o /dev/null -w '%{http_code}' "$FS_URL/healthz")" >>"$FS_TMP/health"
    sleep 0.2
done) &
hpid=$!
n=0
while read -r kind expect file; do
    n=$((n + 1))
    echo "$kind $expect $file $FS_TMP/out.$n"
done <"$list" | xargs -P 8 -L 1 "$FS_TMP/req.sh" >"$FS_TMP/results"
touch "$FS_TMP/stop"
wait $hpid

[ "$(wc -l <"$FS_TMP/results")" = 250 ] || fs_fail "$(wc -l <"$FS_TMP/results") answers to 250 requests"
bad_health=$(grep -vc '^200$' "$FS_TMP/health" || true)
[ "$bad_health" = 0 ] || fs_fail "/healthz answered other than 200 $bad_health times during the load"
echo "ok: /healthz 200 on all $(wc -l <"$FS_TMP/health") probes"

# normal: image check 200 success; face video 200 SUCCESS (or NO_FACE); classification 200 done
awk '$2 == "ok" && !(($1 == "ic" && $3 == 200 && $4 == "success") ||
                     ($1 == "fv" && $3 == 200 && ($4 == "SUCCESS" || $4 == "NO_FACE")) ||
                     ($1 == "cl" && $3 == 200 && ($4 == "done" || $4 == "no_face")))' "$FS_TMP/results" >"$FS_TMP/normal_bad"
[ ! -s "$FS_TMP/normal_bad" ] || fs_fail "normal requests that did not succeed:
$(head -5 "$FS_TMP/normal_bad")"
echo "ok: 200 normal requests succeeded"

# marked: the dialect's error. Image check: 4xx/5xx in its shape; face video: FAILED (or
# FILE_INVALID_FORMAT 413 for a decode over a resource limit); classification: failed (422).
awk '$2 ~ /^bad/ && !(($1 == "ic" && $3 >= 400 && $3 < 600 && $4 != "success") ||
                      ($1 == "fv" && ($4 == "FAILED" || ($4 == "FILE_INVALID_FORMAT" && $3 == 413))) ||
                      ($1 == "cl" && $3 == 422 && $4 == "failed"))' "$FS_TMP/results" >"$FS_TMP/marked_bad"
[ ! -s "$FS_TMP/marked_bad" ] || fs_fail "marked uploads without their dialect's error:
$(head -5 "$FS_TMP/marked_bad")"
# crashes, hangs and seccomp kills give FAILED in seed 002, never a resource-limit answer
awk '$1 == "fv" && $2 ~ /^bad:(abort|segv|hang|socket|write)$/ && $4 != "FAILED"' "$FS_TMP/results" >"$FS_TMP/fv_bad"
[ ! -s "$FS_TMP/fv_bad" ] || fs_fail "face-video answers other than FAILED: $(head -3 "$FS_TMP/fv_bad")"
echo "ok: 50 marked uploads got their dialect's error"

# no task lost: the queue drained, every task of a marked classification upload failed and every
# normal one is done (the GETs above), and the server still judges
sleep 0.5
fs_expect "queue depth at the end" "$($FS_CURL "$FS_URL/metrics" | awk '$1 == "fakescope_queue_depth" {print $2}')" 0
"$FS_TMP/req.sh" ic ok "$IMG" "$FS_TMP/last" | grep -q '^ic ok 200 success' || fs_fail "the server no longer judges images"

# deaths by cause; a crashing upload is tried at most twice (once retried)
for c in crash seccomp timeout memory; do
    v=$(metric $c)
    [ "${v:-0}" -gt 0 ] || { [ "$SANITIZED" = 1 ] && [ $c = memory ]; } ||
        fs_fail "no worker death counted with cause $c: $($FS_CURL "$FS_URL/metrics" | grep deaths_total)"
done
[ "$SANITIZED" = 1 ] || [ "$(metric cpu)" -gt 0 ] || fs_fail "no worker death counted with cause cpu"
sha=$(sha256sum "$M/segv-1.mp4" | cut -d' ' -f1)
tries=$(grep -c "media sha256 $sha" "$FS_ERR")
[ "$tries" -ge 1 ] && [ "$tries" -le 2 ] || fs_fail "the crashing upload segv-1.mp4 killed $tries workers (1 or 2 expected)"
$FS_CURL "$FS_URL/metrics" | grep '^fakescope_media_worker' | sed 's/^/  /'

rss1=$(rss)
heap1=$(heap)
# Round 2: the first 100 requests of the load again. The load brings every thread's contexts to
# their plateau (the warm-up alone does not always: heap in use ended 303-350 MB after it and
# 398 MB after the load, to within 4 kB, in three runs), so what a second round adds is what it
# leaks. Heap in use is the allocator's count of live bytes; RSS also holds freed memory the
# allocator keeps, so it gets a wider bound.
n=0
head -100 "$list" | while read -r kind expect file; do
    n=$((n + 1))
    echo "$kind $expect $file $FS_TMP/again.$n"
done | xargs -P 8 -L 1 "$FS_TMP/req.sh" >"$FS_TMP/results2"
[ "$(wc -l <"$FS_TMP/results2")" = 100 ] || fs_fail "$(wc -l <"$FS_TMP/results2") answers to 100 repeated requests"
sleep 0.5
rss2=$(rss)
heap2=$(heap)
echo "server RSS: $rss0 kB after warm-up, $rss1 kB after the load, $rss2 kB after 100 more"
echo "server heap in use: $heap0 kB after warm-up, $heap1 kB after the load, $heap2 kB after 100 more"
# Under ASan freed memory waits in its quarantine (256 MB by default) and the allocator is ASan's,
# so neither figure says anything there; leaks are LeakSanitizer's to find when the server exits.
if [ "$SANITIZED" = 1 ]; then
    echo "memory checks skipped: ASan's allocator and quarantine"
else
    [ $((heap2 - heap1)) -lt 2048 ] || fs_fail "heap in use grew by $((heap2 - heap1)) kB over 100 repeated requests"
    [ $((rss2 - rss1)) -lt 16384 ] || fs_fail "server RSS grew by $((rss2 - rss1)) kB over 100 repeated requests"
fi
fs_stop || fs_fail "the server did not exit cleanly"
echo "PASS"
