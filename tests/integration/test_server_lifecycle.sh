# Lifecycle: a key committed before kill -9 works after restart; SIGTERM lets an in-flight
# request finish and exits 0; a restarted store keeps its schema.
. "$(dirname "$0")/lib.sh"

fs_start
SCHEMA=$($FS_CURL "$FS_URL/healthz" | grep -o '"schema_version":[0-9]*')
[ -n "$SCHEMA" ] || fs_fail "no schema_version in /healthz"
ADMIN=$FS_ADMIN_KEY
[ -n "$ADMIN" ] || fs_fail "no admin key on first start"
resp=$($FS_CURL -H "Authorization: Bearer $ADMIN" -d '{"name":"durable","admin":true}' "$FS_URL/admin/keys")
KEY=$(echo "$resp" | sed -n 's/.*"secret":"\(fsk_[0-9a-f]*\)".*/\1/p')
[ -n "$KEY" ] || fs_fail "create answer: $resp"
# Crash right after the 201: no shutdown, no checkpoint.
fs_kill9

fs_start
[ -z "$FS_ADMIN_KEY" ] || fs_fail "restart made another admin key"
fs_expect "key created before kill -9" "$(fs_status GET /admin/keys -H "Authorization: Bearer $KEY")" 200
fs_expect "first admin key after kill -9" "$(fs_status GET /admin/keys -H "Authorization: Bearer $ADMIN")" 200

# SIGTERM during a slow upload: the request completes (201) and the server exits 0.
pad=$(head -c 300000 /dev/zero | tr '\0' 'a')
printf '{"name":"in-flight","pad":"%s"}' "$pad" > "$FS_TMP/slow.json"
$FS_CURL --limit-rate 150k -o "$FS_TMP/slow.out" -w '%{http_code}' -H "Authorization: Bearer $ADMIN" \
    -H 'Content-Type: application/json' --data-binary @"$FS_TMP/slow.json" "$FS_URL/admin/keys" \
    > "$FS_TMP/slow.code" 2>"$FS_TMP/slow.err" &
CURL_PID=$!
sleep 0.7
kill -0 "$CURL_PID" 2>/dev/null || fs_fail "the slow upload finished before SIGTERM; the test proves nothing"
t0=$(date +%s%N)
rc=0
fs_stop || rc=$?
t1=$(date +%s%N)
wait "$CURL_PID" || true
fs_expect "server exit status after SIGTERM" "$rc" 0
fs_expect "in-flight request status" "$(cat "$FS_TMP/slow.code")" 201
grep -q '"name":"in-flight"' "$FS_TMP/slow.out" || fs_fail "in-flight answer: $(cat "$FS_TMP/slow.out")"
grep -q 'received SIGTERM' "$FS_ERR" || fs_fail "no shutdown log line"
echo "graceful stop took $(( (t1 - t0) / 1000000 )) ms with one slow upload in flight"

# The key made by the in-flight request is there after restart, and new connections are
# refused while the server is down.
fs_expect "connection refused while down" "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$FS_URL/healthz")" "000"
fs_start
IN=$(sed -n 's/.*"secret":"\(fsk_[0-9a-f]*\)".*/\1/p' "$FS_TMP/slow.out")
fs_expect "key from the in-flight request" "$(fs_status GET /healthz -H "Authorization: Bearer $IN")" 200
"$FAKESCOPE" keys list --json --data "$FS_DATA" | grep -q '"name":"in-flight"' || fs_fail "in-flight key not stored"
$FS_CURL "$FS_URL/healthz" | grep -q "$SCHEMA" || fs_fail "schema version changed on restart"
fs_stop || fs_fail "second SIGTERM: exit status $?"
echo "ok"
