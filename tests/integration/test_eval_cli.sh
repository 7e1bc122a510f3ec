#!/bin/bash
# `fakescope eval` end to end: usage errors, the figures of the original Meso4_DF weights on the
# MesoNet test images against `fakescope predict` on the same files (scores, confusion,
# accuracy, AUC recomputed here), the report's shape, the ROC picture, a split of a folder, a
# manifest, and videos through the scan pipeline (video-level figures).
set -euo pipefail
: "${FAKESCOPE:?}" "${FS_SHARED_DATA:?}"
PY=python3
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_rc() { # want cmd...
    local want=$1; shift
    set +e; "$@" >/dev/null 2>&1; local rc=$?; set -e
    [ "$rc" -eq "$want" ] || fail "'$*' exited $rc, expected $want"
}
TMP=$(mktemp -d /tmp/fs_eval_XXXXXX)
trap 'rm -rf "$TMP"' EXIT

"$FAKESCOPE" eval --help | grep -- "MANIFEST\[:SPLIT\]" >/dev/null || fail "eval --help"
expect_rc 2 "$FAKESCOPE" eval
expect_rc 2 "$FAKESCOPE" eval --weights x.h5 --arch meso4
expect_rc 2 "$FAKESCOPE" eval --weights x.h5 "$TMP"
expect_rc 2 "$FAKESCOPE" eval --model a --weights x.h5 --arch meso4 "$TMP"
expect_rc 2 "$FAKESCOPE" eval --weights x.h5 --arch vgg "$TMP"
expect_rc 2 "$FAKESCOPE" eval --weights x.h5 --arch meso4 --frames 0 "$TMP"
expect_rc 2 "$FAKESCOPE" eval --weights x.h5 --arch meso4 "$TMP/nothere:hash:nosplit"
expect_rc 1 "$FAKESCOPE" eval --weights x.h5 --arch meso4 "$TMP/nothere"

W="$FS_SHARED_DATA/mesonet/weights/Meso4_DF.h5"
IMGS="$FS_SHARED_DATA/mesonet/test_images"
if [ ! -f "$W" ] || [ ! -d "$IMGS" ]; then
    echo "skipped: $W or $IMGS is absent"
    exit 77
fi
expect_rc 1 "$FAKESCOPE" eval --weights "$W" --arch meso4 "$TMP" # not a dataset folder

"$FAKESCOPE" eval --weights "$W" --arch meso4 --json --items --out "$TMP/eval.json" \
    --roc "$TMP/roc.png" "$IMGS" >"$TMP/stdout.json"
"$FAKESCOPE" predict --weights "$W" --arch meso4 --json "$IMGS"/*/*.jpg >"$TMP/predict.jsonl"
$PY - "$TMP/stdout.json" "$TMP/eval.json" "$TMP/predict.jsonl" <<'EOF' || fail "eval vs predict"
import json, sys
d = json.load(open(sys.argv[1]))
assert json.load(open(sys.argv[2])) == d, "--out differs from stdout"
pred = {}
for line in open(sys.argv[3]):
    p = json.loads(line)
    pred[p["file"]] = p["p_fake"]
assert d["model"] == "Meso4_DF.h5" and d["files"] == 4 and d["failed"] == 0, d
assert d["n"] == 4 and d["positives"] == 2 and d["negatives"] == 2 and d["videos"] == 0, d
labels, scores = [], []
for it in d["items"]:
    assert it["kind"] == "image" and it["samples"] == 1, it
    assert abs(it["p_fake"] - pred[it["file"]]) < 1e-6, (it, pred[it["file"]])
    assert it["label"] == ("fake" if "/df/" in it["file"] else "real"), it
    labels.append(it["label"] == "fake")
    scores.append(it["p_fake"])
tp = sum(1 for l, s in zip(labels, scores) if l and s >= 0.5)
fn = sum(1 for l, s in zip(labels, scores) if l and s < 0.5)
tn = sum(1 for l, s in zip(labels, scores) if not l and s < 0.5)
fp = sum(1 for l, s in zip(labels, scores) if not l and s >= 0.5)
assert d["confusion"] == [[tn, fp], [fn, tp]], (d["confusion"], tn, fp, fn, tp)
assert abs(d["accuracy"] - (tp + tn) / 4) < 1e-12, d["accuracy"]
pairs = [(s, t) for s, l in zip(scores, labels) if l for t in
         [u for u, m in zip(scores, labels) if not m]]
auc = sum(1.0 if s > t else 0.5 if s == t else 0.0 for s, t in pairs) / len(pairs)
assert abs(d["roc_auc"] - auc) < 1e-12 and auc == 1.0, (d["roc_auc"], auc)
assert d["average_precision"] == 1.0 and d["eer"] == 0.0, d
rep = d["report"]
assert rep["columns"] == ["", "precision", "recall", "f1-score", "support"], rep
assert [r[0] for r in rep["rows"]] == ["real", "fake", "accuracy", "macro avg", "weighted avg"], rep
assert rep["rows"][2] == ["accuracy", "", "", 1.0, 4] and rep["rows"][0] == ["real", 1.0, 1.0, 1.0, 2], rep
s = d["sources"]["test_images"]
assert s["n"] == 4 and s["roc_auc"] == 1.0 and "report" not in s, s
EOF
head -c 8 "$TMP/roc.png" | od -An -c | grep 'P   N   G' >/dev/null || fail "--roc wrote no PNG"

# fakes in method folders (FF++'s fake/Deepfakes/...) get a row each: that method's fakes
# against every real; the figures are those of the same files judged alone; no folder, no rows
mkdir -p "$TMP/m/real" "$TMP/m/df/MethodA" "$TMP/m/df/MethodB"
cp "$IMGS"/real/*.jpg "$TMP/m/real/"
cp "$IMGS/df/df00204.jpg" "$TMP/m/df/MethodA/"
cp "$IMGS/df/df01254.jpg" "$TMP/m/df/MethodB/"
"$FAKESCOPE" eval --weights "$W" --arch meso4 --json --items "$TMP/m" >"$TMP/m.json"
"$FAKESCOPE" eval --weights "$W" --arch meso4 "$TMP/m" | grep -q '^  MethodA  *n 3 ' || fail "method rows in text"
$PY - "$TMP/m.json" "$TMP/stdout.json" <<'EOF2' || fail "per-method figures"
import json, sys
d, plain = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert "methods" not in plain, plain.keys()
m = d["methods"]
assert sorted(m) == ["MethodA", "MethodB"], m
score = {it["file"].rsplit("/", 1)[1]: it["p_fake"] for it in d["items"]}
reals = [v for k, v in score.items() if k.startswith("real")]
for name, fake in (("MethodA", "df00204.jpg"), ("MethodB", "df01254.jpg")):
    r = m[name]
    assert r["n"] == 3 and r["positives"] == 1 and r["negatives"] == 2, r
    auc = sum(1.0 if score[fake] > t else 0.5 if score[fake] == t else 0.0 for t in reals) / 2
    assert abs(r["roc_auc"] - auc) < 1e-12, (name, r["roc_auc"], auc)
    assert "video_roc_auc" not in r, r
EOF2

# calibration: ten bins of P(fake), each with its count, mean score and share of fakes; the
# expected calibration error recomputed here; --reliability draws them
"$FAKESCOPE" eval --weights "$W" --arch meso4 --json --items --reliability "$TMP/rel.png" "$IMGS" >"$TMP/rel.json"
head -c 8 "$TMP/rel.png" | od -An -c | grep 'P   N   G' >/dev/null || fail "--reliability wrote no PNG"
$PY - "$TMP/rel.json" <<'EOF2' || fail "calibration figures"
import json, sys
d = json.load(open(sys.argv[1]))
c = d["calibration"]
items = [(it["p_fake"], it["label"] == "fake") for it in d["items"]]
assert sum(b["n"] for b in c["bins"]) == len(items) == 4, c
ece = 0.0
for b in c["bins"]:
    inside = [(p, f) for p, f in items if b["from"] <= p < b["to"] or (b["to"] == 1.0 and p == 1.0)]
    assert len(inside) == b["n"], (b, inside)
    mp = sum(p for p, _ in inside) / len(inside)
    share = sum(f for _, f in inside) / len(inside)
    assert abs(b["mean_p_fake"] - mp) < 1e-9 and abs(b["fake_share"] - share) < 1e-12, b
    ece += len(inside) / 4 * abs(share - mp)
assert abs(c["ece"] - ece) < 1e-9 and "video_calibration" not in d, (c["ece"], ece)
EOF2

# robustness: --jpeg and --scale degrade every picture first; the JSON says so, the scores move
expect_rc 2 "$FAKESCOPE" eval --weights "$W" --arch meso4 --jpeg 0 "$IMGS"
expect_rc 2 "$FAKESCOPE" eval --weights "$W" --arch meso4 --scale 1.5 "$IMGS"
"$FAKESCOPE" eval --weights "$W" --arch meso4 --json --items --jpeg 30 --scale 0.5 "$IMGS" >"$TMP/deg.json"
$PY - "$TMP/deg.json" "$TMP/stdout.json" <<'EOF2' || fail "degraded eval"
import json, sys
d, plain = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert d["degraded"] == {"scale": 0.5, "jpeg": 30} and "degraded" not in plain, d.get("degraded")
a = {it["file"]: it["p_fake"] for it in d["items"]}
b = {it["file"]: it["p_fake"] for it in plain["items"]}
assert a.keys() == b.keys() and max(abs(a[k] - b[k]) for k in a) > 1e-3, (a, b)
EOF2

# the text form carries the report rows
"$FAKESCOPE" eval --weights "$W" --arch meso4 "$IMGS" >"$TMP/text.txt"
grep -q 'weighted avg' "$TMP/text.txt" && grep -q '^roc_auc  *1.0000' "$TMP/text.txt" ||
    fail "text report: $(cat "$TMP/text.txt")"

# --calibrate: the decision threshold chosen on the data is written into the model's card, the
# figures are printed at it, and later evals and scans of that model use it
mkdir -p "$TMP/models"
"$FAKESCOPE" models import --arch meso4 "$W" -o "$TMP/models" --name m4 >/dev/null
expect_rc 2 "$FAKESCOPE" eval --weights "$W" --arch meso4 --calibrate "$IMGS"
expect_rc 2 "$FAKESCOPE" eval --model m4 --dir "$TMP/models" --calibrate --threshold 0.3 "$IMGS"
"$FAKESCOPE" eval --model m4 --dir "$TMP/models" --calibrate --json "$IMGS" >"$TMP/cal.json"
"$FAKESCOPE" eval --model m4 --dir "$TMP/models" --json "$IMGS" >"$TMP/after.json"
"$FAKESCOPE" eval --model m4 --dir "$TMP/models" --json --threshold 0.3 "$IMGS" >"$TMP/forced.json"
$PY - "$TMP/cal.json" "$TMP/after.json" "$TMP/forced.json" "$TMP/models/m4.json" "$TMP/predict.jsonl" <<'EOF3' || fail "--calibrate"
import json, sys
cal, after, forced, card = (json.load(open(p)) for p in sys.argv[1:5])
pred = [json.loads(l) for l in open(sys.argv[5])]
real = [p["p_fake"] for p in pred if "/real/" in p["file"]]
fake = [p["p_fake"] for p in pred if "/df/" in p["file"]]
# the four pictures separate perfectly: the threshold is halfway between the classes, no band
want = round((max(real) + min(fake)) / 2, 4)
d = card["decision"]
assert d["threshold"] == want and d["uncertain"] == [want, want], (d, want)
assert "eval --model m4" in d["command"] and d["data"].endswith("(4 samples)"), d
assert cal["decision"]["target_met"] and cal["decision"]["balanced_accuracy"] == 1.0, cal["decision"]
assert cal["threshold"] == want and after["threshold"] == want and forced["threshold"] == 0.3, (cal["threshold"], after["threshold"])
assert after["accuracy"] == 1.0, after["accuracy"]
EOF3
"$FAKESCOPE" scan --models-dir "$TMP/models" --json "$IMGS/df/df00204.jpg" |
    $PY -c '
import json, sys
d = json.load(sys.stdin)
t = json.load(open(sys.argv[1]))["decision"]["threshold"]
s = d["summaries"][0]
assert s["threshold"] == t and s["uncertain"] is False, s
assert all("uncertain" in v for v in d["verdicts"]), d["verdicts"]
' "$TMP/models/m4.json" || fail "scan follows the card's decision"
# "default": true picks the models a scan runs when none is named; without it, every model runs
"$FAKESCOPE" models import --arch meso4 "$W" -o "$TMP/models" --name m4b >/dev/null
models_run() { "$FAKESCOPE" scan --models-dir "$TMP/models" --json "$IMGS/df/df00204.jpg" | $PY -c 'import json,sys; print(",".join(json.load(sys.stdin)["models"]))'; }
[ "$(models_run)" = "m4,m4b" ] || fail "no default card: every model, got $(models_run)"
$PY -c '
import json, sys
c = json.load(open(sys.argv[1])); c["default"] = True
json.dump(c, open(sys.argv[1], "w"), indent=2)' "$TMP/models/m4b.json"
[ "$(models_run)" = "m4b" ] || fail "the default card alone, got $(models_run)"

# a split of a folder: every file lands in exactly one of train/val/test
total=0
for split in train val test; do
    set +e
    out=$("$FAKESCOPE" eval --weights "$W" --arch meso4 --json --val-fraction 0.3 \
        --test-fraction 0.4 --seed 7 "$IMGS:hash:$split" 2>/dev/null)
    rc=$?
    set -e
    if [ "$rc" -eq 0 ]; then
        n=$(echo "$out" | $PY -c 'import json,sys; print(json.load(sys.stdin)["n"])')
        total=$((total + n))
    fi
done
[ "$total" -eq 4 ] || fail "splits hold $total files, expected 4"

# a manifest written by hand: its test split only
body="$TMP/body.csv"
printf 'path,label,kind,source,group,split\n' >"$body"
printf 'df/df00204.jpg,1,image,test_images,test_images:a,test\n' >>"$body"
printf 'df/df01254.jpg,1,image,test_images,test_images:b,train\n' >>"$body"
printf 'real/real00240.jpg,0,image,test_images,test_images:c,test\n' >>"$body"
printf 'real/real00772.jpg,0,image,test_images,test_images:d,train\n' >>"$body"
{ echo "# fakescope-manifest v1 sha256=$(sha256sum "$body" | cut -d' ' -f1)"; cat "$body"; } \
    >"$TMP/m.csv"
"$FAKESCOPE" eval --weights "$W" --arch meso4 --json --items --root "$IMGS" "$TMP/m.csv:test" |
    $PY -c '
import json, sys
d = json.load(sys.stdin)
assert d["n"] == 2 and d["positives"] == 1 and d["roc_auc"] == 1.0, d
assert sorted(i["file"].rsplit("/", 1)[1] for i in d["items"]) == ["df00204.jpg", "real00240.jpg"], d
' || fail "manifest split"
sed -i 's/df00204/df00205/' "$TMP/m.csv" # the digest no longer matches
expect_rc 1 "$FAKESCOPE" eval --weights "$W" --arch meso4 --root "$IMGS" "$TMP/m.csv"

# videos: frame-level and video-level figures through the scan pipeline
FF="$FS_SHARED_DATA/ffpp-c40"
if [ -f "$FF/real/youtube/585.mp4" ] && [ -f "$FF/fake/Deepfakes/585_599.mp4" ]; then
    mkdir -p "$TMP/vid/real" "$TMP/vid/fake"
    ln -s "$FF/real/youtube/585.mp4" "$TMP/vid/real/585.mp4"
    ln -s "$FF/fake/Deepfakes/585_599.mp4" "$TMP/vid/fake/585_599.mp4"
    "$FAKESCOPE" eval --weights "$W" --arch meso4 --json --items --frames 4 "$TMP/vid" |
        $PY -c '
import json, sys
d = json.load(sys.stdin)
assert d["videos"] == 2 and d["video_n"] == 2 and d["files"] == 2, d
assert 2 <= d["n"] <= 8 * 16, d
assert d["video_positives"] == 1 and d["video_negatives"] == 1, d
assert d["video_roc_auc"] in (0.0, 1.0), d
for it in d["items"]:
    assert it["kind"] == "video" and 1 <= it["samples"] <= 4, it
fake = [i["p_fake"] for i in d["items"] if i["label"] == "fake"][0]
real = [i["p_fake"] for i in d["items"] if i["label"] == "real"][0]
assert d["video_roc_auc"] == (1.0 if fake > real else 0.0), d
' || fail "video figures"
fi
echo "ok"
