# Static files: served with the right content type; traversal in any spelling answers 403/404
# and never the file outside the root.
. "$(dirname "$0")/lib.sh"

WEB="$FS_TMP/web"
mkdir -p "$WEB/css" "$FS_TMP/outside"
echo '<h1>fakescope</h1>' > "$WEB/index.html"
echo 'body{}' > "$WEB/css/site.css"
echo 'TOPSECRET' > "$FS_TMP/outside/secret.txt"
echo 'TOPSECRET' > "$FS_TMP/secret.txt"
ln -s "$FS_TMP/outside/secret.txt" "$WEB/escape.txt"
ln -s "$FS_TMP/outside" "$WEB/escape-dir"

fs_start --web "$WEB"
fs_expect "index status" "$(fs_status GET /)" 200
$FS_CURL "$FS_URL/" | grep -q 'fakescope' || fs_fail "index body"
fs_expect "index content type" "$(fs_header Content-Type GET /)" "text/html; charset=utf-8"
fs_expect "css content type" "$(fs_header Content-Type GET /css/site.css)" "text/css; charset=utf-8"
fs_expect "missing file" "$(fs_status GET /nope.html)" 404
fs_expect "infrastructure routes still win" "$(fs_status GET /healthz)" 200
fs_expect "POST to a static path" "$(fs_status POST /index.html)" 404

for p in '/../secret.txt' '/..%2fsecret.txt' '/%2e%2e/secret.txt' '/%2E%2E/%2E%2E/etc/passwd' \
         '/css/../../secret.txt' '/css/%2e%2e/%2e%2e/secret.txt' '/escape.txt' '/escape-dir/secret.txt' \
         '/..%5csecret.txt' '/%2e%2e%5csecret.txt' '//etc/passwd' '/%252e%252e/secret.txt' \
         '/css/..' '/./index.html'; do
    out=$($FS_CURL --path-as-is -o "$FS_TMP/t.out" -w '%{http_code}' "$FS_URL$p")
    case "$out" in
    403|404) ;;
    *) fs_fail "$p answered $out" ;;
    esac
    if grep -q TOPSECRET "$FS_TMP/t.out"; then fs_fail "$p leaked a file outside the root"; fi
    id=$(fs_header Request-Id GET "$p" --path-as-is)
    [ -n "$id" ] || fs_fail "$p: no Request-Id"
done
# The plain encoded forms are refused as traversal (403), not merely missing.
fs_expect "%2e%2e" "$($FS_CURL --path-as-is -o /dev/null -w '%{http_code}' "$FS_URL/%2e%2e/secret.txt")" 403
fs_expect "symlink out" "$(fs_status GET /escape.txt)" 403
fs_stop || fs_fail "exit status $?"
echo "ok"
