# Server basics: healthz, metrics, Request-Id on every answer, 404/405/413 shapes, the access
# log, openapi, and `serve --help`.
. "$(dirname "$0")/lib.sh"

"$FAKESCOPE" serve --help > "$FS_TMP/help.txt" || fs_fail "serve --help failed"
for opt in --port --host --data --dataset --workers --models --max-body --allow-private-urls \
           --require-key-for-explorer FAKESCOPE_PORT FAKESCOPE_DATA 8080 127.0.0.1; do
    grep -q -- "$opt" "$FS_TMP/help.txt" || fs_fail "serve --help does not mention $opt"
done
"$FAKESCOPE" serve --port nope --data "$FS_DATA" >/dev/null 2>&1
fs_expect "bad --port exit status" "$?" 2

fs_start --max-body 1000000
[ -n "$FS_ADMIN_KEY" ] || fs_fail "first start printed no admin key"
[ "$(grep -c '^listening on' "$FS_OUT")" = 1 ] || fs_fail "'listening on' printed more than once"

body=$($FS_CURL "$FS_URL/healthz")
echo "$body" | grep -q '"status":"ok"' || fs_fail "healthz body: $body"
fs_expect "healthz with trailing slash" "$(fs_status GET /healthz/)" 200

# Request-Id on every kind of answer.
for spec in "GET /healthz 200" "GET /no/such/route 404" "POST /healthz 405" \
            "GET /admin/keys 401" "DELETE /metrics 405"; do
    set -- $spec
    fs_expect "$1 $2 status" "$(fs_status "$1" "$2")" "$3"
    id=$(fs_header Request-Id "$1" "$2")
    [ -n "$id" ] || fs_fail "$1 $2 ($3) has no Request-Id"
done
nf_json=$($FS_CURL "$FS_URL/no/such/route")
echo "$nf_json" | grep -q '"code":"not_found"' || fs_fail "404 body is not the JSON error: $nf_json"
allow=$(fs_header Allow POST /healthz)
fs_expect "405 Allow header" "$allow" "GET"

# Echo a valid X-Request-ID, replace an invalid one.
fs_expect "echoed id" "$(fs_header Request-Id GET /healthz -H 'X-Request-ID: trace-42.abc')" "trace-42.abc"
fs_expect "echoed id on 404" "$(fs_header Request-Id GET /nope -H 'X-Request-ID: trace-404')" "trace-404"
long=$(printf 'a%.0s' $(seq 1 129))
got=$(fs_header Request-Id GET /healthz -H "X-Request-ID: $long")
[ -n "$got" ] && [ "$got" != "$long" ] || fs_fail "a 129-byte X-Request-ID was echoed"
got=$(fs_header Request-Id GET /healthz -H "X-Request-ID: has space")
[ -n "$got" ] && [ "$got" != "has space" ] || fs_fail "an X-Request-ID with a space was echoed"
echo "$got" | grep -Eq '^[0-9a-f]{32}$' || fs_fail "generated id '$got' is not 32 hex digits"

# 413 from Content-Length alone: a 20 MB body is refused before it is read.
head -c 20000000 /dev/zero > "$FS_TMP/big.bin"
t0=$(date +%s%N)
out=$($FS_CURL -o "$FS_TMP/413.json" -D "$FS_TMP/413.h" -w '%{http_code} %{size_upload}' \
      -H "Authorization: Bearer $FS_ADMIN_KEY" -H 'Content-Type: application/json' \
      --data-binary @"$FS_TMP/big.bin" "$FS_URL/admin/keys" 2>/dev/null)
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
set -- $out
fs_expect "20 MB body status" "$1" 413
grep -qi '^request-id: ' "$FS_TMP/413.h" || fs_fail "413 has no Request-Id"
grep -q '"code":"payload_too_large"' "$FS_TMP/413.json" || fs_fail "413 body: $(cat "$FS_TMP/413.json")"
uploaded=${2%.*}
[ "$uploaded" -lt 10000000 ] || fs_fail "the client uploaded $uploaded bytes before the 413"
[ "$ms" -lt 3000 ] || fs_fail "the 413 took $ms ms"
echo "413 for 20 MB: ${ms} ms, ${uploaded} bytes sent"
# Chunked upload (no Content-Length) over the limit: refused while receiving.
status=$(head -c 1500000 /dev/zero | $FS_CURL -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' \
         -H "Authorization: Bearer $FS_ADMIN_KEY" --data-binary @- "$FS_URL/admin/keys" 2>/dev/null)
fs_expect "chunked over-limit body" "$status" 413
# The server is still fine afterwards.
fs_expect "healthz after 413s" "$(fs_status GET /healthz)" 200

# openapi
fs_expect "openapi status" "$(fs_status GET /openapi.yaml)" 200
$FS_CURL -o "$FS_TMP/openapi.yaml" "$FS_URL/openapi.yaml"
grep -q "^openapi: 3" "$FS_TMP/openapi.yaml" || fs_fail "openapi.yaml is not OpenAPI 3"
cmp -s "$FS_TMP/openapi.yaml" "$FS_SOURCE_DIR/docs/openapi.yaml" || fs_fail "openapi.yaml differs from docs/openapi.yaml"
fs_expect "openapi content type" "$(fs_header Content-Type GET /openapi.yaml)" "application/yaml"

# Metrics count requests by route and status.
m1=$($FS_CURL "$FS_URL/metrics" | sed -n 's/^fakescope_http_requests_total{route="healthz",status="200"} //p')
for i in 1 2 3; do $FS_CURL -o /dev/null "$FS_URL/healthz"; done
# A request is counted once the server has finished it, a moment after the client has its answer.
for i in $(seq 1 50); do
    metrics=$($FS_CURL "$FS_URL/metrics")
    m2=$(echo "$metrics" | sed -n 's/^fakescope_http_requests_total{route="healthz",status="200"} //p')
    [ "$((m2 - m1))" -ge 3 ] && break
    sleep 0.05
done
fs_expect "healthz count grew by 3" "$((m2 - m1))" 3
# With a web/ folder, unknown paths fall through to the static route; either way the 404 is counted.
echo "$metrics" | grep -qE '^fakescope_http_requests_total\{route="(unmatched|static)",status="404"\} [1-9]' || fs_fail "404s not counted"
echo "$metrics" | grep -q '^fakescope_http_requests_total{route="admin_keys_create",status="413"} [1-9]' || fs_fail "413s not counted"
echo "$metrics" | grep -q '^fakescope_http_request_duration_seconds_bucket{le="+Inf"} [1-9]' || fs_fail "no latency histogram"
echo "$metrics" | grep -q '^fakescope_queue_depth 0' || fs_fail "no queue depth gauge"
echo "$metrics" | grep -q '^# TYPE fakescope_inferences_total counter' || fs_fail "no inference counter"
fs_expect "metrics content type" "$(fs_header Content-Type GET /metrics)" "text/plain; version=0.0.4; charset=utf-8"

# A decoded newline in the path cannot forge a log line.
# (404 from the router, or 403 from the static route when web/ is served: it refuses the path)
code=$(fs_status GET '/x%0a2026-01-01T00:00:00.000Z%20info%20FORGED')
[ "$code" = 404 ] || [ "$code" = 403 ] || fs_fail "encoded newline path: got '$code', expected 404 or 403"
fs_stop || fs_fail "server exit status $? after SIGTERM"
if grep -q '^2026-01-01T00:00:00.000Z info FORGED' "$FS_ERR"; then fs_fail "a client forged a log line"; fi

# One log line per request, with the request id, and never a key.
grep -Eq ' GET /healthz 200 [0-9]+ [0-9.]+ms id=trace-42\.abc$' "$FS_ERR" || fs_fail "no access-log line for the traced request"
grep -Eq ' POST /admin/keys 413 ' "$FS_ERR" || fs_fail "no access-log line for the 413"
if grep -q "$FS_ADMIN_KEY" "$FS_ERR"; then fs_fail "the admin key appears in the log"; fi
if grep -qi 'authorization' "$FS_ERR"; then fs_fail "an Authorization header appears in the log"; fi

# Precedence: flags > environment > defaults. FAKESCOPE_PORT=1 would fail to bind if it beat
# --port 0; FAKESCOPE_MAX_BODY applies when no flag says otherwise.
printf '{"name":"%0300d"}' 0 > "$FS_TMP/300.json"
ADMIN=$FS_ADMIN_KEY
FAKESCOPE_PORT=1 FAKESCOPE_MAX_BODY=200 fs_start
fs_expect "env body limit" "$(fs_status POST /admin/keys -H "Authorization: Bearer $ADMIN" --data-binary @"$FS_TMP/300.json")" 413
fs_stop || fs_fail "exit status $?"
FAKESCOPE_MAX_BODY=200 fs_start --max-body 100000
fs_expect "flag beats env" "$(fs_status POST /admin/keys -H "Authorization: Bearer $ADMIN" --data-binary @"$FS_TMP/300.json")" 400
fs_stop || fs_fail "exit status $?"
echo "ok"
