# Model management lists: count / next / previous / results over 25 versions, following next to
# the end and previous back, limit/offset and page/page_size, absolute URLs built from Host,
# the per-spec list, and bad paging parameters.
. "$(dirname "$0")/mgmt_lib.sh"

MESO=$(mgmt_import meso4 "$FS_SHARED_DATA/mesonet/weights/Meso4_DF.h5" meso4_df)
fs_start
KEY=$FS_ADMIN_KEY
api_json POST /v0.7/recognition/specs '{"name": "a", "labels": ["fake"]}'
SPEC_A=$(jf .id)
api_json POST /v0.7/recognition/specs '{"name": "b", "labels": ["real", "fake"]}'
SPEC_B=$(jf .id)
api POST /v0.7/networks -F name=meso -F architecture=meso4 -F "file=@$MESO"
expect_status "upload" 201
NET=$(jf .id)
ids=()
for i in $(seq 1 25); do
    api_json POST /v0.7/recognition/versions "{\"spec_id\": $SPEC_A, \"network_id\": $NET, \"post_processings\": [{\"classification\": {\"thresholds\": [0.$i]}}]}"
    expect_status "version $i" 201
    ids+=("$(jf .id)")
done
for i in 1 2; do
    api_json POST /v0.7/recognition/versions "{\"spec_id\": $SPEC_B, \"network_id\": $NET, \"post_processings\": [{\"classification\": {\"thresholds\": [0.5, 0.5]}}]}"
    expect_status "version b$i" 201
done
ALL_A=$(IFS=,; echo "${ids[*]}")

# Default page (10) over the spec's 25 versions: follow next to the end.
api GET "/v0.7/recognition/specs/$SPEC_A/versions"
expect_status "first page" 200
fs_expect "count" "$(jf .count)" 25
fs_expect "first previous" "$(jf .previous)" null
fs_expect "first page size" "$(jf '.results | length')" 10
seen=$(jf '[.results[].id] | join(",")')
pages=1
next=$(jf .next)
FIRST_NEXT=$next
while [ "$next" != null ]; do
    case "$next" in "$FS_URL/v0.7/recognition/specs/$SPEC_A/versions?"*) ;; *) fs_fail "next is not absolute on this server: $next" ;; esac
    ST=$($FS_CURL -o "$BODY_FILE" -w '%{http_code}' -H "X-API-KEY: $KEY" "$next")
    BODY=$(cat "$BODY_FILE")
    expect_status "page $((pages + 1))" 200
    fs_expect "count on every page" "$(jf .count)" 25
    [ "$(jf .previous)" != null ] || fs_fail "page $((pages + 1)) has no previous"
    seen="$seen,$(jf '[.results[].id] | join(",")')"
    pages=$((pages + 1))
    next=$(jf .next)
    [ $pages -le 5 ] || fs_fail "next never ends"
done
fs_expect "pages of 10" "$pages" 3
fs_expect "last page size" "$(jf '.results | length')" 5
fs_expect "every version once, in order" "$seen" "$ALL_A"
# previous of the last page is the second page.
prev=$(jf .previous)
ST=$($FS_CURL -o "$BODY_FILE" -w '%{http_code}' -H "X-API-KEY: $KEY" "$prev")
BODY=$(cat "$BODY_FILE")
fs_expect "previous page" "$(jf '[.results[].id] | join(",")')" "$(IFS=,; echo "${ids[*]:10:10}")"
[ "$(jf .previous)" != null ] && [ "$(jf .next)" != null ] || fs_fail "middle page links: $BODY"

# limit/offset: pages of 7 are 7, 7, 7, 4.
sizes=""
url="/v0.7/recognition/specs/$SPEC_A/versions?limit=7"
api GET "$url"
while :; do
    sizes="$sizes$(jf '.results | length') "
    n=$(jf .next)
    [ "$n" = null ] && break
    ST=$($FS_CURL -o "$BODY_FILE" -w '%{http_code}' -H "X-API-KEY: $KEY" "$n")
    BODY=$(cat "$BODY_FILE")
done
fs_expect "pages of 7" "$sizes" "7 7 7 4 "
api GET "/v0.7/recognition/specs/$SPEC_A/versions?limit=5&offset=22"
fs_expect "offset 22" "$(jf '[.results[].id] | join(",")')" "$(IFS=,; echo "${ids[*]:22:3}")"
fs_expect "offset 22 next" "$(jf .next)" null
fs_expect "offset 22 previous" "$(jf .previous)" "$FS_URL/v0.7/recognition/specs/$SPEC_A/versions?limit=5&offset=17"
api GET "/v0.7/recognition/specs/$SPEC_A/versions?limit=5&offset=100"
fs_expect "past the end: count" "$(jf .count)" 25
fs_expect "past the end: results" "$(jf '.results | length')" 0
api GET "/v0.7/recognition/specs/$SPEC_A/versions?page=2&page_size=10"
fs_expect "page 2" "$(jf '[.results[].id] | join(",")')" "$(IFS=,; echo "${ids[*]:10:10}")"

# All versions, the other spec's, and Host in the URLs.
api GET /v0.7/recognition/versions
fs_expect "all versions" "$(jf .count)" 27
api GET "/v0.7/recognition/specs/$SPEC_B/versions"
fs_expect "spec b versions" "$(jf .count)" 2
fs_expect "spec b next" "$(jf .next)" null
fs_expect "spec b items" "$(jf '[.results[].spec_name] | unique | join(",")')" b
api GET /v0.7/recognition/versions -H 'Host: models.example.org:8443'
fs_expect "next from Host" "$(jf .next)" "http://models.example.org:8443/v0.7/recognition/versions?limit=10&offset=10"
api GET /v0.7/recognition/versions -H 'Host: evil"host/<x>'
case "$(jf .next)" in "http://127.0.0.1:$FS_PORT/"*) ;; *) fs_fail "a malformed Host went into next: $(jf .next)" ;; esac
api GET /v0.7/recognition/specs?limit=1
fs_expect "spec list count" "$(jf .count)" 2
fs_expect "spec list next" "$(jf .next)" "$FS_URL/v0.7/recognition/specs?limit=1&offset=1"
api GET /v0.7/networks
fs_expect "network list" "$(jf '[.count, (.results | length)] | join(",")')" "1,1"

# Bad paging parameters name the field.
for q in limit=0 limit=101 limit=abc limit=-1 offset=-1 offset=x page=0 page=x; do
    api GET "/v0.7/recognition/versions?$q"
    expect_field "?$q" "${q%%=*}"
done
api GET /v0.7/recognition/specs/999/versions
expect_status "versions of an unknown spec" 404
# Every model-management path is described in docs/openapi.yaml.
for p in /v0.7/recognition/specs /v0.7/recognition/specs/{id} /v0.7/recognition/specs/{id}/versions \
    /v0.7/networks /v0.7/networks/{id} /v0.7/recognition/versions /v0.7/recognition/versions/{id} \
    /v0.7/recognition/versions/{id}/inference /v0.7/tasks/{id}; do
    grep -qxF "  $p:" "$FS_SOURCE_DIR/docs/openapi.yaml" || fs_fail "docs/openapi.yaml lacks $p"
done
fs_stop || fs_fail "server exit status (leaks or a crash under the sanitizers)"
echo "ok"
