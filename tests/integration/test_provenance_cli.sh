#!/bin/bash
# `fakescope provenance`: usage errors exit 2, a file that is not an image exits 1 with a JSON
# error line, and, with the shared C2PA images, the states the reference SDK's tests expect
# (docs/provenance.md): C.jpg trusted with the test anchors and valid without them, XCA.jpg a
# data-hash mismatch, E-sig-CA.jpg a signature mismatch, no_manifest.jpg none, CACA.jpg's
# ingredient listed.
set -u
: "${FAKESCOPE:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$FAKESCOPE" provenance --help | grep -q -- "--c2pa-trust" || fail "--help does not list --c2pa-trust"
"$FAKESCOPE" provenance >/dev/null 2>&1; [ $? -eq 2 ] || fail "no file should be a usage error"
"$FAKESCOPE" provenance --c2pa-trust "$tmp/none.pem" x.jpg >/dev/null 2>&1; [ $? -eq 2 ] ||
    fail "a missing trust list should be a usage error"
printf 'not an image' > "$tmp/bad.jpg"
out=$("$FAKESCOPE" provenance --json "$tmp/bad.jpg"); rc=$?
[ $rc -eq 1 ] || fail "not an image: exit $rc, wanted 1"
echo "$out" | grep -q '"error":"not a JPEG, PNG or WebP file"' || fail "no JSON error line: $out"

d="${FS_SHARED_DATA:-/nonexistent}/c2pa"
if [ ! -d "$d/images" ]; then
    echo "skipped: $d is absent"
    exit 0
fi
trust="$d/certs/test_cert_root_bundle.pem"
state() { # file [trust] -> the state
    local t=()
    [ -n "${2:-}" ] && t=(--c2pa-trust "$2")
    "$FAKESCOPE" provenance --json "${t[@]}" "$d/images/$1" | jq -r '.provenance.state'
}
[ "$(state C.jpg "$trust")" = trusted ] || fail "C.jpg with the test anchors: $(state C.jpg "$trust")"
[ "$(state C.jpg)" = valid ] || fail "C.jpg without a trust list: $(state C.jpg)"
[ "$(state no_manifest.jpg)" = none ] || fail "no_manifest.jpg: $(state no_manifest.jpg)"
out=$("$FAKESCOPE" provenance --json --c2pa-trust "$trust" "$d/images/XCA.jpg")
echo "$out" | jq -e '.provenance.state == "invalid" and
    ([.provenance.manifests[-1].validation.failure[].code] | index("assertion.dataHash.mismatch") != null)' >/dev/null ||
    fail "XCA.jpg: $out"
out=$("$FAKESCOPE" provenance --json --c2pa-trust "$trust" "$d/images/E-sig-CA.jpg")
echo "$out" | jq -e '([.provenance.manifests[-1].validation.failure[].code] | index("claimSignature.mismatch") != null)' >/dev/null ||
    fail "E-sig-CA.jpg: $out"
out=$("$FAKESCOPE" provenance --json --c2pa-trust "$trust" "$d/images/CACA.jpg")
echo "$out" | jq -e '(.provenance.manifests | length) == 2 and (.provenance.manifests[-1].ingredients | length) == 1 and
    .provenance.manifests[-1].ingredients[0].state == "trusted"' >/dev/null || fail "CACA.jpg: $out"
# several files at once, text output, exit 0 whatever the states
txt=$("$FAKESCOPE" provenance --c2pa-trust "$trust" "$d/images/C.jpg" "$d/images/XCA.jpg" "$d/images/no_manifest.jpg") ||
    fail "text output exited $?"
echo "$txt" | grep -q "XCA.jpg: invalid" || fail "text output: $txt"
echo "$txt" | grep -q "failure: assertion.dataHash.mismatch" || fail "text output lacks the failure code: $txt"
echo "ok"
