#!/bin/bash
# `fakescope train` end to end on a ten-image dataset: outputs (weights, card the registry
# accepts, loss curve, manifest, checkpoint), usage errors exit 2, and a run stopped after one
# epoch and continued with --resume ends with weights byte-identical to an uninterrupted run.
set -euo pipefail
: "${FAKESCOPE:?path of the fakescope binary}"
SRC="${FS_SHARED_DATA:-/nonexistent}/hardfake-vs-real"
if [ ! -d "$SRC/real" ] || [ ! -d "$SRC/fake" ]; then
    echo "skipped: $SRC is absent"
    exit 77
fi
command -v python3 >/dev/null || { echo "skipped: python3 is needed to read the JSON"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir -p "$T/ds/real" "$T/ds/fake"
find "$SRC/real" -type f -name '*.jp*g' | sort | sed -n 1,5p | xargs -I{} cp {} "$T/ds/real/"
find "$SRC/fake" -type f -name '*.jp*g' | sort | sed -n 1,5p | xargs -I{} cp {} "$T/ds/fake/"
[ "$(ls "$T/ds/real" | wc -l)" -eq 5 ] || fail "could not gather test images"

"$FAKESCOPE" train --help | grep -- "--resume" >/dev/null || fail "train --help"
"$FAKESCOPE" --help | grep "train" >/dev/null || fail "train missing from fakescope --help"
set +e
"$FAKESCOPE" train --data "$T/ds" --out "$T/x" 2>/dev/null; rc=$?
[ $rc -eq 2 ] || fail "missing --arch exits $rc, not 2"
"$FAKESCOPE" train --arch meso4 --data "$T/ds" --out "$T/x" --batch 1 2>/dev/null; rc=$?
[ $rc -eq 2 ] || fail "--batch 1 exits $rc, not 2"
"$FAKESCOPE" train --arch meso4 --data "$T/nope" --out "$T/x" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] || fail "missing data folder exits $rc, not 1"
set -e

COMMON=(--arch meso4 --data "$T/ds" --batch 4 --threads 2 --val-fraction 0.3 --seed 5 --sbi 0.3 --name m)
"$FAKESCOPE" train "${COMMON[@]}" --epochs 2 --out "$T/a" > "$T/a.out" 2> "$T/a.err" || fail "train: $(cat "$T/a.err")"
for f in m.safetensors m.json m_loss.png m_manifest.csv m_checkpoint.safetensors m_checkpoint.json; do
    [ -s "$T/a/$f" ] || fail "$f not written"
done
grep -q "epoch 2/2" "$T/a.err" || fail "no epoch lines: $(cat "$T/a.err")"
head -1 "$T/a/m_manifest.csv" | grep "^# fakescope-manifest v1 sha256=" >/dev/null || fail "manifest header"

"$FAKESCOPE" models list --dir "$T/a" --json > "$T/list.json" || fail "registry refused the card"
python3 - "$T/list.json" "$T/a/m_manifest.csv" <<'PY'
import json, sys
models = json.load(open(sys.argv[1]))
assert len(models) == 1, models
c = models[0]
assert c["name"] == "m" and c["architecture"] == "meso4", c
assert c["labels"] == ["real", "fake"] and c["fake_label"] == "fake" and c["output"] == "p_fake"
assert c["input_size"] == {"width": 256, "height": 256} and c["preprocessing"] == "rgb/255"
t = c["training"]
assert t["epochs"] == 2 and t["seed"] == 5 and len(t["train_loss"]) == 2
assert "--sbi 0.3" in t["command"]
digest = open(sys.argv[2]).readline().split("sha256=")[1].strip()
assert t["manifest_sha256"] == digest
m = c["metrics"]
assert 0 <= m["accuracy"] <= 1
assert [r[0] for r in m["report"]["rows"]] == ["real", "fake", "accuracy", "macro avg", "weighted avg"], m
assert c["loss_curve"] == "m_loss.png"
PY

# the trained model is usable at once: the registry finds it and predict judges with it
img=$(ls "$T/ds/fake"/* | sed -n 1,1p)
"$FAKESCOPE" predict --model m --dir "$T/a" --json "$img" > "$T/pred.json" || fail "predict: $(cat "$T/pred.json")"
python3 - "$T/pred.json" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).readline())
assert 0 <= r["p_fake"] <= 1 and r["p_fake"] == r["raw"], r  # output is p_fake
assert r["label"] == ("fake" if r["p_fake"] >= 0.5 else "real"), r
PY

# one epoch, then --resume to two: the same bytes as the straight run
"$FAKESCOPE" train "${COMMON[@]}" --epochs 1 --out "$T/b" > /dev/null 2> "$T/b.err" || fail "train b: $(cat "$T/b.err")"
"$FAKESCOPE" train "${COMMON[@]}" --epochs 2 --out "$T/b" --resume > /dev/null 2> "$T/b2.err" || fail "resume: $(cat "$T/b2.err")"
grep -q "resuming after epoch 1" "$T/b2.err" || fail "resume did not load the checkpoint: $(cat "$T/b2.err")"
cmp -s "$T/a/m.safetensors" "$T/b/m.safetensors" || fail "resumed weights differ from the straight run"
cmp -s "$T/a/m_checkpoint.safetensors" "$T/b/m_checkpoint.safetensors" || fail "checkpoints differ"

# resuming with another thread count cannot be exact: refused
set +e
"$FAKESCOPE" train "${COMMON[@]/--threads/--threads}" --threads 1 --epochs 3 --out "$T/b" --resume > /dev/null 2> "$T/b3.err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "threads" "$T/b3.err" || fail "resume with other threads: rc $rc $(cat "$T/b3.err")"

# videos: each becomes its main person's face crops of --video-frames frames, all in the
# video's split, cached under OUT and listed in NAME_crops.csv; a second run reads the cache
FF="${FS_SHARED_DATA:-/nonexistent}/ffpp-c40"
if [ -f "$FF/real/youtube/183.mp4" ] && [ -f "$FF/fake/Deepfakes/183_253.mp4" ] && [ -f "$FF/real/youtube/585.mp4" ]; then
    mkdir -p "$T/ffpp-c40/real" "$T/ffpp-c40/fake"
    ln -s "$FF/real/youtube/183.mp4" "$FF/real/youtube/585.mp4" "$T/ffpp-c40/real/"
    ln -s "$FF/fake/Deepfakes/183_253.mp4" "$T/ffpp-c40/fake/"
    V=(--arch meso4 --data "$T/ffpp-c40:ffpp-c40:ffpp-suggested" --video-frames 2 --batch 2
       --threads 2 --epochs 1 --name v --aug none)
    "$FAKESCOPE" train "${V[@]}" --out "$T/v" > /dev/null 2> "$T/v.err" || fail "train on videos: $(cat "$T/v.err")"
    grep -q "videos: 3, pictures: 0 (0 from the cache" "$T/v.err" || fail "video line: $(cat "$T/v.err")"
    "$FAKESCOPE" train "${V[@]}" --out "$T/v" > /dev/null 2> "$T/v2.err" || fail "second run: $(cat "$T/v2.err")"
    grep -q "videos: 3, pictures: 0 (3 from the cache" "$T/v2.err" || fail "cache not used: $(cat "$T/v2.err")"
    # --face-crop aligned: crops of their own in the same cache (not the box crops read back),
    # and the card tells every scan to cut this model's faces the same way
    "$FAKESCOPE" train "${V[@]}" --face-crop aligned:0.25 --out "$T/v" > /dev/null 2> "$T/va.err" ||
        fail "train --face-crop aligned: $(cat "$T/va.err")"
    grep -q "videos: 3, pictures: 0 (0 from the cache" "$T/va.err" || fail "aligned crops read as box crops: $(cat "$T/va.err")"
    [ "$(jq -c .face_crop "$T/v/v.json")" = '{"mode":"aligned","margin":0.25}' ] ||
        fail "card face_crop: $(jq -c .face_crop "$T/v/v.json")"
    [ "$(jq -c .training.face_crop "$T/v/v.json")" = '{"mode":"aligned","margin":0.25}' ] ||
        fail "training face_crop: $(jq -c .training.face_crop "$T/v/v.json")"
    set +e
    "$FAKESCOPE" train "${V[@]}" --face-crop aligned --face-detector haar --out "$T/v" 2>/dev/null; rc=$?
    set -e
    [ $rc -eq 2 ] || fail "--face-crop aligned with haar exits $rc, not 2"
    set +e
    "$FAKESCOPE" train "${V[@]}" --picture-faces --face-detector haar --out "$T/v" 2>/dev/null; rc=$?
    set -e
    [ $rc -eq 2 ] || fail "--picture-faces with haar exits $rc, not 2"
    "$FAKESCOPE" train "${V[@]}" --out "$T/v" > /dev/null 2> "$T/v2.err" || fail "box run after aligned: $(cat "$T/v2.err")"
    grep -q "videos: 3, pictures: 0 (3 from the cache" "$T/v2.err" || fail "box crops not kept beside aligned: $(cat "$T/v2.err")"
    [ "$(jq -c .face_crop "$T/v/v.json")" = null ] || fail "box card with face_crop"
    python3 - "$T/v" <<'PY' || fail "video crops"
import csv, json, os, sys
out = sys.argv[1]
card = json.load(open(os.path.join(out, "v.json")))
vc = card["training"]["video_crops"]
assert card["training"]["video_frames"] == 2 and vc["videos"] == 3, card["training"]
lines = open(os.path.join(out, "v_crops.csv")).read().splitlines()
rows = list(csv.DictReader(lines[1:]))
assert len(rows) == vc["crops"] and 3 <= len(rows) <= 6, (len(rows), vc)
split = {}
for r in rows:
    assert r["kind"] == "image" and os.path.exists(os.path.join(out, r["path"])), r
    video = os.path.dirname(r["path"])
    assert split.setdefault(video, r["split"]) == r["split"], r
    want = "test" if os.path.basename(video).startswith("585") else "train"
    assert r["split"] == want, r
assert len(split) == 3, split
assert card["training"]["items"]["train"] == sum(r["split"] == "train" for r in rows)
PY
fi
# --sbi-mask landmarks: the real pictures' 68 points are found once and cached (one line per
# real picture, every coordinate a share of the picture), the card records the mask, the
# preview sheet shows 4 columns for each blended training picture, and a second run reads the cache
set +e
"$FAKESCOPE" train "${COMMON[@]}" --sbi-mask hull --epochs 1 --out "$T/l" 2>/dev/null; rc=$?
set -e
[ $rc -eq 2 ] || fail "--sbi-mask hull exits $rc, not 2"
L=("${COMMON[@]}" --sbi-mask landmarks --epochs 1 --out "$T/l" --sbi-preview "$T/l/preview.png")
"$FAKESCOPE" train "${L[@]}" > /dev/null 2> "$T/l.err" || fail "train --sbi-mask landmarks: $(cat "$T/l.err")"
grep -q "landmarks: [3-5] of 5 real pictures have a face (0 from the cache)" "$T/l.err" || fail "landmark line: $(cat "$T/l.err")"
grep -q "self-blend preview: [1-5] pictures" "$T/l.err" || fail "preview line: $(cat "$T/l.err")"
"$FAKESCOPE" train "${L[@]}" > /dev/null 2> "$T/l2.err" || fail "second run: $(cat "$T/l2.err")"
grep -q "real pictures have a face ([3-5] from the cache)" "$T/l2.err" || fail "cache unused: $(cat "$T/l2.err")"
python3 - "$T/l" <<'PY' || fail "landmark cache"
import json, math, os, struct, sys, zlib
out = sys.argv[1]
lines = open(os.path.join(out, "m_landmarks.csv")).read().splitlines()
assert lines[0].startswith("# fakescope landmarks v1"), lines[0]
assert len(lines) == 6, len(lines)
found = 0
for line in lines[1:]:
    f = line.split(",")
    assert "/real/" in f[0] and len(f) == 137, f[:2]
    v = [float(x) for x in f[1:]]
    if math.isnan(v[0]):
        continue
    found += 1
    xs, ys = v[0::2], v[1::2]
    assert all(-0.5 <= x <= 1.5 for x in xs + ys), f[0]
    # the chin (8) below the nose tip (30) below the brows (19, 24); eyes left to right
    assert ys[8] > ys[30] > max(ys[19], ys[24]), f[0]
    assert xs[36] < xs[45], f[0]
assert found >= 3
card = json.load(open(os.path.join(out, "m.json")))
assert card["training"]["sbi_mask"] == "landmarks", card["training"]
png = open(os.path.join(out, "preview.png"), "rb").read()
w, h = struct.unpack(">II", png[16:24])
assert (w, h) == (4 * 256, 8 * 256), (w, h)
PY
# --sbi-pairs: every real training picture twice in its batch; refused without --sbi
set +e
"$FAKESCOPE" train --arch meso4 --data "$T/ds" --out "$T/p" --sbi-pairs 2>/dev/null; rc=$?
set -e
[ $rc -eq 2 ] || fail "--sbi-pairs without --sbi exits $rc, not 2"
"$FAKESCOPE" train "${L[@]}" --sbi-pairs --out "$T/p" > /dev/null 2> "$T/p.err" || fail "train --sbi-pairs: $(cat "$T/p.err")"
python3 - "$T/p/m.json" "$T/l/m.json" <<'PY' || fail "pairs card"
import json, sys
p, l = (json.load(open(f))["training"] for f in sys.argv[1:])
assert p.get("sbi_pairs") is True and "sbi_pairs" not in l, (p, l)
assert p["items"] == l["items"], (p["items"], l["items"])
PY
echo "ok"
