#!/bin/bash
# `fakescope predict` and `fakescope bench` end to end: usage errors, JSON lines, the original
# Keras files against reference.json, a bad file among good ones, and the bench JSON shape.
set -euo pipefail
: "${FAKESCOPE:?}" "${FS_SHARED_DATA:?}"
PY=python3
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_rc() { # want cmd...
    local want=$1; shift
    set +e; "$@" >/dev/null 2>&1; local rc=$?; set -e
    [ "$rc" -eq "$want" ] || fail "'$*' exited $rc, expected $want"
}

"$FAKESCOPE" predict --help | grep -- "--weights FILE" >/dev/null || fail "predict --help"
"$FAKESCOPE" bench --help | grep -- "--peak" >/dev/null || fail "bench --help"
expect_rc 2 "$FAKESCOPE" predict
expect_rc 2 "$FAKESCOPE" predict x.png
expect_rc 2 "$FAKESCOPE" predict --model a --weights b.h5 x.png
expect_rc 2 "$FAKESCOPE" predict --weights b.h5 --arch resnet x.png
expect_rc 2 "$FAKESCOPE" predict --weights b.h5 --arch meso4
expect_rc 2 "$FAKESCOPE" predict --weights b.h5 --arch meso4 --threads 0 x.png
expect_rc 1 "$FAKESCOPE" predict --weights /nonexistent.h5 --arch meso4 x.png
expect_rc 2 "$FAKESCOPE" bench
expect_rc 2 "$FAKESCOPE" bench --arch vgg
expect_rc 2 "$FAKESCOPE" bench --arch meso4 --batch 0

out=$("$FAKESCOPE" bench --arch mesoinception4 --batch 2 --threads 2 --seconds 0.2 --json)
echo "$out" | $PY -c '
import json, sys
d = json.loads(sys.stdin.read())
assert d["arch"] == "mesoinception4" and d["batch"] == 2 and d["threads"] == 2, d
assert d["images_per_s"] > 0 and d["gflops"] > 0, d
' || fail "bench --json: $out"
"$FAKESCOPE" bench --peak --threads 1 --seconds 0.05 --json | $PY -c '
import json, sys; d = json.loads(sys.stdin.read()); assert d["peak_gflops"] > 0, d' || fail "bench --peak"

REF="$FS_SHARED_DATA/mesonet/reference"
if [ ! -f "$REF/reference.json" ]; then
    echo "skipped: $REF is absent (the shared-data checks)"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$REF/synthetic.png" "$tmp/copy.png"
printf 'not an image' >"$tmp/bad.png"
for pair in Meso4_DF.h5:meso4 MesoInception_F2F.h5:mesoinception4; do
    file=${pair%%:*} arch=${pair##*:}
    set +e
    "$FAKESCOPE" predict --json --threads 2 --weights "$FS_SHARED_DATA/mesonet/weights/$file" \
        --arch "$arch" "$REF"/*.png "$tmp/bad.png" "$tmp/copy.png" >"$tmp/out.jsonl"
    rc=$?
    set -e
    [ "$rc" -eq 1 ] || fail "predict with a bad file exited $rc, expected 1"
    $PY - "$REF/reference.json" "$file" "$tmp/out.jsonl" <<'PYEOF' || fail "predict $file vs reference.json"
import json, os, sys
ref = json.load(open(sys.argv[1]))["results"][sys.argv[2]]
lines = [json.loads(l) for l in open(sys.argv[3])]
assert len(lines) == len(ref) + 2, lines           # every file answered, in order
seen = 0
for d in lines:
    name = os.path.basename(d["file"])
    if name == "bad.png":
        assert set(d) == {"file", "error"} and d["error"], d
        continue
    assert set(d) == {"file", "model", "label", "p_fake", "raw"}, d
    want = ref["synthetic.png" if name == "copy.png" else name]["p_real"]
    assert abs(d["raw"] - want) < 1e-4, (d, want)
    assert abs(d["p_fake"] - (1 - want)) < 1e-4, (d, want)
    assert d["label"] == ("fake" if d["p_fake"] >= 0.5 else "real"), d
    assert d["model"] == sys.argv[2], d
    seen += 1
assert seen == len(ref) + 1
PYEOF
done
# text output names the verdict and the probability
"$FAKESCOPE" predict --weights "$FS_SHARED_DATA/mesonet/weights/Meso4_DF.h5" --arch meso4 \
    "$REF/df_df01254.png" | grep "fake  P(fake) = 0.99" >/dev/null || fail "predict text output"
echo "ok"
