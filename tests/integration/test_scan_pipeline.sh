#!/bin/bash
# The pipelined video scan (a decoding thread, face-finding threads, frames judged in order)
# gives exactly the serial scan's result: the same frames, boxes, people, scores and verdicts,
# in the same order, for any number of threads; and the same error for a broken file.
set -euo pipefail
: "${FAKESCOPE:?}"
. "$(dirname "$0")/lib.sh" # no server here: its skips, temporary folder and weight import
fs_require_shared dfdc/videos mesonet/weights
tmp=$FS_TMP
fs_import_originals "$SHARED" "$tmp/models" all
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; else echo "ok: $1"; fi; }
scan() { "$FAKESCOPE" scan --models-dir "$tmp/models" --models meso4-df,mesoinception4-df --json "$@"; }
# everything but the clocks
results() { jq -S 'del(.timing) | del(.frames[].faces_ms) | del(.frames[].model_ms)' "$1"; }

videos=("$FS_SHARED_DATA"/dfdc/videos/*/*.mp4)
for v in "${videos[@]}"; do
    name=$(basename "$v")
    scan --frames 16 --threads 1 "$v" > "$tmp/serial.json"
    scan --frames 16 --threads 2 "$v" > "$tmp/pipe2.json"
    check "$name: serial scan found faces" \
        "jq -e '[.frames[].faces[]] | length > 0' '$tmp/serial.json' >/dev/null"
    check "$name: serial timing adds up (decode = total - faces - inference)" \
        "jq -e '.timing | .decode>0 and .faces>0 and .inference>0 and (.total - .faces - .inference - .decode | fabs) < 0.01' '$tmp/serial.json' >/dev/null"
    check "$name: 2 threads give the serial result" \
        "cmp -s <(results '$tmp/serial.json') <(results '$tmp/pipe2.json')"
    check "$name: pipelined timing has every stage" \
        "jq -e '.timing | .decode>0 and .faces>0 and .inference>0 and .total>0' '$tmp/pipe2.json' >/dev/null"
done

# more threads than cores, a ring that wraps many times, sampling by interval
v=${videos[0]}
scan --every 0.4 --threads 1 "$v" > "$tmp/every1.json"
scan --every 0.4 --threads 5 "$v" > "$tmp/every5.json"
check "every 0.4 s (26 frames), 5 threads give the serial result" \
    "[ \"\$(jq '.frames|length' '$tmp/every1.json')\" -ge 25 ] && cmp -s <(results '$tmp/every1.json') <(results '$tmp/every5.json')"

# a file cut short: the same error either way, and nothing judged past the damage
head -c 1500000 "$v" > "$tmp/truncated.mp4"
set +e
scan --frames 16 --threads 1 "$tmp/truncated.mp4" > "$tmp/t1.json" 2>/dev/null; s1=$?
scan --frames 16 --threads 3 "$tmp/truncated.mp4" > "$tmp/t3.json" 2>/dev/null; s3=$?
set -e
check "truncated: exit status 1 both ways" "[ $s1 = 1 ] && [ $s3 = 1 ]"
check "truncated: the same error record" \
    "jq -e '.status==\"error\"' '$tmp/t1.json' >/dev/null && cmp -s '$tmp/t1.json' '$tmp/t3.json'"
exit $fail
