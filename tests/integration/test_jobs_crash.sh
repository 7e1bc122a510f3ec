#!/bin/bash
# Crash recovery of the job queue: five videos are queued for classification, the server is
# killed with SIGKILL while one of them is being scanned, and a restart on the same data dir
# finishes every task: none lost (all five done with a result), none duplicated (one task per
# upload, the interrupted one re-run once, repeated uploads answered from the stored result).
# In the PostgreSQL pass the restarted server takes the task back when the lease of the killed
# one runs out.
set -euo pipefail
: "${FAKESCOPE:?} ${FS_SHARED_DATA:?}"
D=$FS_SHARED_DATA
if [ ! -d "$D/dfdc/videos" ] || [ ! -d "$D/mesonet/weights" ]; then echo "skipped: $D is absent"; exit 77; fi
command -v jq >/dev/null || { echo "skipped: jq is not installed"; exit 77; }
. "$(dirname "$0")/lib.sh"

M="$FS_TMP/models"
fs_import_originals "$D" "$M"
fs_start --models "$M" --job-workers 1
K=$FS_ADMIN_KEY
C="curl -sS --max-time 60"
task_field() { $C -H "X-API-KEY: $K" "$FS_URL/v0.7/tasks/$1" | jq -r "$2"; }

videos=("$D"/dfdc/videos/*/*.mp4 "$D/ffpp-c40/real/youtube/481.mp4" "$D/ffpp-c40/fake/FaceSwap/481_469.mp4")
[ ${#videos[@]} -eq 5 ] || fs_fail "expected 5 videos, found ${#videos[@]}"
hashes=() tasks=() nframes=()
# The first scan must still run after the last upload: it samples 64 frames (the others 8),
# which outlasts four uploads even under sanitizers on a loaded machine.
for v in "${videos[@]}"; do
    frames=$([ ${#tasks[@]} -eq 0 ] && echo 64 || echo 8)
    nframes+=("$frames")
    code=$($C -o "$FS_TMP/post" -w '%{http_code}' -H "X-Api-Key: $K" -F "file=@$v" -F frames=$frames \
        "$FS_URL/api/classification_video")
    fs_expect "POST $(basename "$v")" "$code" 202
    hashes+=("$(jq -r .hash "$FS_TMP/post")")
    tasks+=("$(jq -r .task_id "$FS_TMP/post")")
done
[ "$(printf '%s\n' "${tasks[@]}" | sort -u | wc -l)" -eq 5 ] || fs_fail "five uploads did not make five tasks"

# Kill as soon as the first task is being scanned (bounded wait).
for i in $(seq 1 600); do
    [ "$(task_field "${tasks[0]}" .status)" = running ] && break
    sleep 0.05
done
fs_expect "first task running before the crash" "$(task_field "${tasks[0]}" .status)" running
fs_kill9 || true  # wait reports the SIGKILL status
echo "ok: killed with SIGKILL while task ${tasks[0]} was running"

fs_start --models "$M" --job-workers 1
if [ -n "${FAKESCOPE_STORE:-}" ]; then
    # A shared store (the PostgreSQL pass): the restarted server is another node, which takes
    # the task back once the dead node's lease runs out (10 s), not at once.
    for i in $(seq 1 300); do
        grep -q 'stopped renewing its lease queued again' "$FS_ERR" && break
        sleep 0.1
    done
    grep -q 'stopped renewing its lease queued again' "$FS_ERR" || fs_fail "the dead node's lease was not taken back"
else
    grep -q 'interrupted task(s) queued again' "$FS_ERR" || fs_fail "the restart did not recover the running task"
fi
for i in "${!hashes[@]}"; do
    for n in $(seq 1 1500); do
        code=$($C -o "$FS_TMP/get" -w '%{http_code}' -H "X-Api-Key: $K" "$FS_URL/api/classification_video/${hashes[$i]}")
        [ "$code" = 202 ] || break
        sleep 0.2
    done
    fs_expect "$(basename "${videos[$i]}") after restart" "$code" 200
    # A result: scores on the frames with a face, or the explicit no_face (none in 8 frames).
    jq -e '(.verdicts|length)==6 and (.results.std_deviations|length)==1 and
           ((.results.images|length)>=1 or .status=="no_face")' "$FS_TMP/get" >/dev/null ||
        fs_fail "$(basename "${videos[$i]}"): incomplete result $(head -c 400 "$FS_TMP/get")"
    fs_expect "task ${tasks[$i]} status" "$(task_field "${tasks[$i]}" .status)" done
done
fs_expect "the interrupted task ran twice" "$(task_field "${tasks[0]}" .attempts)" 2
for i in 1 2 3 4; do
    a=$(task_field "${tasks[$i]}" .attempts)
    [ "$a" -le 2 ] || fs_fail "task ${tasks[$i]} was claimed $a times"
done
echo "ok: all five tasks done after the restart"

# Nothing is computed again: re-posting answers from the stored results.
before=$($C "$FS_URL/metrics" | awk '/^fakescope_inferences_total/ {s += $2} END {print s + 0}')
for i in "${!videos[@]}"; do
    v=${videos[$i]}
    fs_expect "re-POST $(basename "$v")" "$($C -o "$FS_TMP/post" -w '%{http_code}' -H "X-Api-Key: $K" \
        -F "file=@$v" -F frames="${nframes[$i]}" "$FS_URL/api/classification_video")" 200
    fs_expect "re-POST $(basename "$v") status" "$(jq -r .status "$FS_TMP/post")" done
done
after=$($C "$FS_URL/metrics" | awk '/^fakescope_inferences_total/ {s += $2} END {print s + 0}')
fs_expect "inferences for re-posted videos" "$after" "$before"
fs_stop || fs_fail "the server did not exit cleanly"
echo "PASS"
