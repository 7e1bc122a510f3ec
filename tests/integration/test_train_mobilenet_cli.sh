#!/bin/bash
# `fakescope train --arch mobilenetv2 --init FILE` on a ten-image dataset: usage errors exit 2,
# the ImageNet TFLite file fine-tunes into folded weights, a card the registry accepts with the
# network's input scale, and a run stopped after one epoch and continued with --resume ends
# with weights byte-identical to an uninterrupted run (the checkpoint holds the batch-norm
# statistics and the optimiser state); the weights it wrote start another run.
set -euo pipefail
: "${FAKESCOPE:?path of the fakescope binary}"
SRC="${FS_SHARED_DATA:-/nonexistent}/hardfake-vs-real"
INIT="${FS_SHARED_DATA:-/nonexistent}/imagenet-mobilenet/mobilenet_v2_1.0_224_quant.tflite"
if [ ! -d "$SRC/real" ] || [ ! -d "$SRC/fake" ] || [ ! -f "$INIT" ]; then
    echo "skipped: $SRC or $INIT is absent"
    exit 77
fi
command -v python3 >/dev/null || { echo "skipped: python3 is needed to read the JSON"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir -p "$T/ds/real" "$T/ds/fake"
find "$SRC/real" -type f -name '*.jp*g' | sort | sed -n 1,5p | xargs -I{} cp {} "$T/ds/real/"
find "$SRC/fake" -type f -name '*.jp*g' | sort | sed -n 1,5p | xargs -I{} cp {} "$T/ds/fake/"

"$FAKESCOPE" train --help | grep -- "--init FILE" >/dev/null || fail "train --help lacks --init"
set +e
"$FAKESCOPE" train --arch mobilenetv2 --data "$T/ds" --out "$T/x" 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q -- "--init" "$T/err" || fail "mobilenetv2 without --init exits $rc"
"$FAKESCOPE" train --arch meso4 --init "$INIT" --data "$T/ds" --out "$T/x" 2>/dev/null; rc=$?
[ $rc -eq 2 ] || fail "--init with meso4 exits $rc, not 2"
"$FAKESCOPE" train --arch mobilenetv2 --init "$T/nope.tflite" --data "$T/ds" --out "$T/x" 2>/dev/null; rc=$?
[ $rc -eq 1 ] || fail "a missing --init file exits $rc, not 1"
set -e

C=(--arch mobilenetv2 --init "$INIT" --data "$T/ds" --batch 4 --threads 2 --val-fraction 0.3
   --seed 5 --name mn --aug none --max-train 4)
"$FAKESCOPE" train "${C[@]}" --epochs 2 --out "$T/a" > /dev/null 2> "$T/a.err" || fail "train: $(cat "$T/a.err")"
for f in mn.safetensors mn.json mn_loss.png mn_checkpoint.safetensors; do
    [ -s "$T/a/$f" ] || fail "$f not written"
done
grep -q "epoch 2/2" "$T/a.err" || fail "no epoch lines: $(cat "$T/a.err")"
"$FAKESCOPE" models list --dir "$T/a" --json > "$T/list.json" || fail "registry refused the card"
python3 - "$T/list.json" "$T/a/mn.safetensors" "$T/a/mn_checkpoint.safetensors" <<'PY'
import json, struct, sys
c = json.load(open(sys.argv[1]))[0]
assert c["architecture"] == "mobilenetv2" and c["output"] == "p_fake", c
assert c["preprocessing"] == "(rgb - 128) * 0.0078125", c["preprocessing"]
assert c["training"]["epochs"] == 2 and len(c["training"]["train_loss"]) == 2
def header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))
final, ckpt = header(sys.argv[2]), header(sys.argv[3])
# final: folded (a bias per conv, no batch norm), a one-logit head
assert final["classifier.1.weight"]["shape"] == [1, 1280], final["classifier.1.weight"]
assert "features.5.conv.1.0.bias" in final and "features.5.conv.1.1.running_var" not in final
assert final["__metadata__"]["arch"] == "mobilenetv2", final["__metadata__"]
# checkpoint: the training form, batch norm unfolded, with the optimiser state
assert "features.5.conv.1.1.running_var" in ckpt and "features.5.conv.1.0.bias" not in ckpt
assert "classifier.1.weight.adam_m" in ckpt
PY
[ $? -eq 0 ] || fail "outputs"

"$FAKESCOPE" train "${C[@]}" --epochs 1 --out "$T/b" > /dev/null 2> "$T/b1.err" || fail "epoch 1: $(cat "$T/b1.err")"
"$FAKESCOPE" train "${C[@]}" --epochs 2 --out "$T/b" --resume > /dev/null 2> "$T/b2.err" || fail "resume: $(cat "$T/b2.err")"
grep -q "resuming after epoch 1" "$T/b2.err" || fail "did not resume: $(cat "$T/b2.err")"
cmp -s "$T/a/mn.safetensors" "$T/b/mn.safetensors" || fail "resumed weights differ from an uninterrupted run"

# a trained detector (folded safetensors with its one-logit head) is a starting point too
I=("${C[@]/$INIT/$T/a/mn.safetensors}")
"$FAKESCOPE" train "${I[@]}" --epochs 1 --out "$T/c" > /dev/null 2> "$T/c.err" || fail "--init safetensors: $(cat "$T/c.err")"
[ -s "$T/c/mn.safetensors" ] || fail "no weights from the safetensors start"
echo "ok"
