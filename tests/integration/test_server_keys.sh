# API keys: the admin API's auth matrix (missing, wrong, revoked, non-admin, right key; Bearer,
# X-API-KEY in any case, Basic) and the `fakescope keys` command on the same data dir.
. "$(dirname "$0")/lib.sh"

# CLI on a fresh data dir: the secret alone on the last line.
out=$("$FAKESCOPE" keys create ops --admin --data "$FS_DATA") || fs_fail "keys create failed"
OPS=$(echo "$out" | tail -n1)
echo "$OPS" | grep -Eq '^fsk_[0-9a-f]{64}$' || fs_fail "last line is not a key: $OPS"
out=$("$FAKESCOPE" keys create reader --data "$FS_DATA") || fs_fail "keys create reader failed"
READER=$(echo "$out" | tail -n1)
"$FAKESCOPE" keys create --data "$FS_DATA" >/dev/null 2>&1
fs_expect "keys create without a name" "$?" 2
"$FAKESCOPE" keys revoke abc --data "$FS_DATA" >/dev/null 2>&1
fs_expect "keys revoke with a bad id" "$?" 2
"$FAKESCOPE" keys revoke 999 --data "$FS_DATA" >/dev/null 2>&1
fs_expect "keys revoke of an unknown id" "$?" 1

list=$("$FAKESCOPE" keys list --json --data "$FS_DATA") || fs_fail "keys list failed"
echo "$list" | grep -q '"name":"ops"' || fs_fail "list lacks ops: $list"
echo "$list" | grep -q '"name":"reader","prefix":"'"${READER:0:12}"'"' || fs_fail "list lacks reader's prefix: $list"
if echo "$list" | grep -q "${OPS:12}"; then fs_fail "keys list shows a secret"; fi
"$FAKESCOPE" keys list --data "$FS_DATA" | grep -q '^ID ' || fs_fail "text list has no header"

# A store that already has keys gets no new admin key at start.
fs_start
[ -z "$FS_ADMIN_KEY" ] || fs_fail "an admin key was made although keys exist"

# Auth matrix on GET /admin/keys.
fs_expect "no key" "$(fs_status GET /admin/keys)" 401
fs_expect "no key: WWW-Authenticate" "$(fs_header WWW-Authenticate GET /admin/keys | cut -d' ' -f1)" "Bearer"
fs_expect "wrong key" "$(fs_status GET /admin/keys -H 'Authorization: Bearer fsk_0000000000000000000000000000000000000000000000000000000000000000')" 401
fs_expect "garbage key" "$(fs_status GET /admin/keys -H 'X-API-KEY: hello')" 401
fs_expect "right key, altered" "$(fs_status GET /admin/keys -H "Authorization: Bearer ${OPS%?}0")" \
    "$([ "${OPS: -1}" = 0 ] && echo 200 || echo 401)"
fs_expect "non-admin key" "$(fs_status GET /admin/keys -H "Authorization: Bearer $READER")" 403
fs_expect "admin Bearer" "$(fs_status GET /admin/keys -H "Authorization: Bearer $OPS")" 200
fs_expect "admin X-API-KEY" "$(fs_status GET /admin/keys -H "X-API-KEY: $OPS")" 200
fs_expect "admin x-api-key" "$(fs_status GET /admin/keys -H "x-api-key: $OPS")" 200
fs_expect "admin X-Api-Key" "$(fs_status GET /admin/keys -H "X-Api-Key: $OPS")" 200
fs_expect "admin Basic (password)" "$(fs_status GET /admin/keys -u "anyone:$OPS")" 200
fs_expect "admin Basic (user)" "$(fs_status GET /admin/keys -u "$OPS:")" 200
fs_expect "Request-Id on 401" "$(fs_header Request-Id GET /admin/keys -H 'X-Request-ID: auth-1')" "auth-1"

# Create over the API; the secret comes back once and works at once.
resp=$($FS_CURL -H "Authorization: Bearer $OPS" -H 'Content-Type: application/json' \
       -d '{"name":"api-made","admin":false}' -w '\n%{http_code}' "$FS_URL/admin/keys")
fs_expect "create status" "$(echo "$resp" | tail -n1)" 201
NEW=$(echo "$resp" | head -n1 | sed -n 's/.*"secret":"\(fsk_[0-9a-f]*\)".*/\1/p')
NEW_ID=$(echo "$resp" | head -n1 | sed -n 's/.*"id":\([0-9]*\).*/\1/p')
[ -n "$NEW" ] && [ -n "$NEW_ID" ] || fs_fail "create answer: $resp"
fs_expect "new key is not admin" "$(fs_status GET /admin/keys -H "Authorization: Bearer $NEW")" 403
fs_expect "create by non-admin" "$(fs_status POST /admin/keys -H "Authorization: Bearer $READER" -d '{"name":"x"}')" 403
fs_expect "create without key" "$(fs_status POST /admin/keys -d '{"name":"x"}')" 401
fs_expect "create, bad JSON" "$(fs_status POST /admin/keys -H "Authorization: Bearer $OPS" -d '{"name":')" 400
fs_expect "create, no name" "$(fs_status POST /admin/keys -H "Authorization: Bearer $OPS" -d '{"admin":true}')" 400
listing=$($FS_CURL -H "Authorization: Bearer $OPS" "$FS_URL/admin/keys")
echo "$listing" | grep -q '"name":"api-made"' || fs_fail "API list lacks the new key"
if echo "$listing" | grep -q '"secret"'; then fs_fail "API list shows secrets"; fi

# Revoke over the API: the key stops working; revoking an unknown id is 404.
fs_expect "revoke status" "$(fs_status DELETE "/admin/keys/$NEW_ID" -H "Authorization: Bearer $OPS")" 200
fs_expect "revoked key" "$(fs_status GET /admin/keys -H "Authorization: Bearer $NEW")" 401
fs_expect "revoke unknown" "$(fs_status DELETE /admin/keys/99999 -H "Authorization: Bearer $OPS")" 404
fs_expect "revoke bad id" "$(fs_status DELETE /admin/keys/abc -H "Authorization: Bearer $OPS")" 400
fs_expect "revoke by non-admin" "$(fs_status DELETE "/admin/keys/$NEW_ID" -H "Authorization: Bearer $READER")" 403

# Revoke with the CLI while the server runs: the server sees it on the next request.
READER_ID=$("$FAKESCOPE" keys list --json --data "$FS_DATA" | grep -o '"id":[0-9]*,"name":"reader"' | sed 's/"id":\([0-9]*\).*/\1/')
"$FAKESCOPE" keys revoke "$READER_ID" --data "$FS_DATA" >/dev/null || fs_fail "keys revoke failed"
fs_expect "key revoked by the CLI" "$(fs_status GET /admin/keys -H "Authorization: Bearer $READER")" 401
"$FAKESCOPE" keys list --json --data "$FS_DATA" | grep -q '"name":"reader","prefix":"[^"]*","admin":false,"created":[0-9]*,"revoked_at":[0-9]' \
    || fs_fail "the CLI list does not show the revocation"

fs_stop || fs_fail "server exit status $? after SIGTERM"
for k in "$OPS" "$READER" "$NEW"; do
    if grep -q "$k" "$FS_ERR"; then fs_fail "a key appears in the server log"; fi
done
echo "ok"
