#!/bin/bash
# Every model shipped in models/ loads from the registry and still gives the figures recorded
# when it was trained, on a fixed subset of its held-out split (tests/data/shipped_models.json:
# the files, the class of each, the per-file P(fake) and the subset's accuracy and ROC AUC).
# A changed weights file, card, decoder, resize or network shows up here as moved scores.
# A model recorded on videos (a video's P(fake) is the mean over its main person's faces in the
# recorded number of sampled frames) must also judge the same number of faces per video, and
# its figures are compared at video level. Each record names the face finder its figures (and the
# model's training crops) came from ("face_detector"; the shipped MesoNet-family models were cut
# by the cascade), and the check runs with it.
# Tolerances: P(fake) within 0.002 per file (another SIMD path or thread count changes the
# low bits of the float sums, not the second decimal), ROC AUC within 0.02, and accuracy within
# one file of the subset (a file whose score sits on the 0.5 threshold may cross it).
set -euo pipefail
: "${FAKESCOPE:?}" "${FS_SOURCE_DIR:?}"
fail() { echo "FAIL: $*" >&2; exit 1; }
DATA="${FS_SHARED_DATA:-/nonexistent}"
REC="$FS_SOURCE_DIR/tests/data/shipped_models.json"
MODELS="$FS_SOURCE_DIR/models"
[ -d "$MODELS" ] || fail "no models/ folder"
[ -f "$REC" ] || fail "no $REC"
if [ ! -d "$DATA" ]; then
    echo "skipped: $DATA is absent"
    exit 77
fi
command -v python3 >/dev/null || { echo "skipped: python3 is needed to read the JSON"; exit 77; }
TMP=$(mktemp -d /tmp/fs_shipped_XXXXXX)
trap 'rm -rf "$TMP"' EXIT

"$FAKESCOPE" models list --dir "$MODELS" --json >"$TMP/list.json"
# The registry must list exactly the recorded models, each card beside its weights.
python3 - "$TMP/list.json" "$REC" <<'EOF' || fail "models/ and $REC disagree"
import json, sys
names = sorted(m["name"] for m in json.load(open(sys.argv[1])))
rec = sorted(json.load(open(sys.argv[2]))["models"])
assert names and names == rec, (names, rec)
EOF

for name in $(python3 -c 'import json,sys; print(" ".join(sorted(json.load(open(sys.argv[1]))["models"])))' "$REC"); do
    dir="$TMP/$name"
    # the subset as a dataset folder of links: class/flattened path
    python3 - "$REC" "$name" "$DATA" "$dir" <<'EOF'
import json, os, sys
rec = json.load(open(sys.argv[1]))["models"][sys.argv[2]]
for f in rec["files"]:
    src = os.path.join(sys.argv[3], f["path"])
    if not os.path.exists(src):
        print("skipped: %s is absent" % src)
        sys.exit(77)
    d = os.path.join(sys.argv[4], f["label"])
    os.makedirs(d, exist_ok=True)
    os.symlink(src, os.path.join(d, f["path"].replace("/", "__")))
EOF
    frames=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["models"][sys.argv[2]].get("frames", 16))' "$REC" "$name")
    # the face finder the figures (and the model's training crops) came from
    det=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["models"][sys.argv[2]].get("face_detector", "blazeface"))' "$REC" "$name")
    "$FAKESCOPE" eval --model "$name" --dir "$MODELS" --frames "$frames" --threads 2 --json --face-detector "$det" \
        --items "$dir" >"$TMP/$name.json" || fail "$name: eval failed"
    python3 - "$REC" "$name" "$TMP/$name.json" <<'EOF' || fail "$name: figures moved"
import json, os, sys
rec = json.load(open(sys.argv[1]))["models"][sys.argv[2]]
d = json.load(open(sys.argv[3]))
files = rec["files"]
assert d["model"] == sys.argv[2] and d["files"] == len(files) and d["failed"] == 0, d
got = {os.path.basename(i["file"]): i["p_fake"] for i in d["items"]}
faces = {os.path.basename(i["file"]): i["samples"] for i in d["items"]}
for f in files:
    key = f["path"].replace("/", "__")
    assert abs(got[key] - f["p_fake"]) <= 0.002, (f, got[key])
    if "faces" in f:  # a video: the same faces found in its sampled frames
        assert faces[key] == f["faces"], (f, faces[key])
level = "video_" if d["videos"] else ""
auc, acc = d[level + "roc_auc"], d[level + "accuracy"]
assert abs(auc - rec["roc_auc"]) <= 0.02, (auc, rec["roc_auc"])
assert abs(acc - rec["accuracy"]) <= 1.0 / len(files) + 1e-9, (acc, rec["accuracy"])
print("%s: %d files, %sroc_auc %.4f (recorded %.4f), accuracy %.4f (recorded %.4f)" % (
    sys.argv[2], len(files), level, auc, rec["roc_auc"], acc, rec["accuracy"]))
EOF
done
echo "ok"
