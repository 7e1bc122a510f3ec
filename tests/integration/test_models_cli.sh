#!/bin/bash
# `fakescope models import` turns an original MesoNet Keras file into safetensors + card, and
# `fakescope models list --json` then shows that model; errors exit 1 with a reason.
set -euo pipefail
: "${FAKESCOPE:?path of the fakescope binary}"
H5="${FS_SHARED_DATA:-/nonexistent}/mesonet/weights/Meso4_DF.h5"
H5I="${FS_SHARED_DATA:-/nonexistent}/mesonet/weights/MesoInception_DF.h5"
if [ ! -f "$H5" ] || [ ! -f "$H5I" ]; then
    echo "skipped: $H5 is absent"
    exit 77
fi
command -v python3 >/dev/null || { echo "skipped: python3 is needed to read the JSON"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$FAKESCOPE" models --help | grep "models import --arch ARCH" >/dev/null || fail "models --help"
"$FAKESCOPE" --help | grep "models" >/dev/null || fail "models missing from fakescope --help"

"$FAKESCOPE" models import --arch meso4 "$H5" -o "$T/models" > "$T/out"
grep -q "Meso4_DF" "$T/out" || fail "import output: $(cat "$T/out")"
[ -s "$T/models/Meso4_DF.safetensors" ] || fail "no safetensors written"
[ -s "$T/models/Meso4_DF.json" ] || fail "no card written"
"$FAKESCOPE" models import --arch mesoinception4 "$H5I" -o "$T/models" --name inc-df \
    --description "inception test" >/dev/null

"$FAKESCOPE" models list --dir "$T/models" --json > "$T/list.json"
python3 - "$T/list.json" "$T/models/Meso4_DF.safetensors" <<'PY'
import hashlib, json, sys
models = json.load(open(sys.argv[1]))
assert [m["name"] for m in models] == ["Meso4_DF", "inc-df"], models
m = models[0]
assert m["architecture"] == "meso4" and m["output"] == "p_real", m
assert m["labels"] == ["df", "real"] and m["fake_label"] == "df", m
assert m["metrics"] is None and "not measured" in m["metrics_note"], m
assert m["sha256"] == hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest()
assert m["weights_path"] == sys.argv[2] and m["training"]["dense_leaky"] is False, m
assert len(m["id"]) == 36 and m["id"][14] == "4", m["id"]
i = models[1]
assert i["architecture"] == "mesoinception4" and i["description"] == "inception test", i
assert i["training"]["dense_leaky"] is True, i
# The safetensors header is 8-byte aligned and carries the import metadata.
raw = open(sys.argv[2], "rb").read()
n = int.from_bytes(raw[:8], "little")
assert n % 8 == 0
hdr = json.loads(raw[8:8 + n])
assert hdr["__metadata__"]["arch"] == "meso4" and hdr["__metadata__"]["dense_leaky"] == "false"
assert hdr["conv1.weight"]["shape"] == [8, 3, 3, 3] and hdr["dense1.weight"]["shape"] == [16, 1024]
PY

# Text listing and FAKESCOPE_MODELS.
FAKESCOPE_MODELS="$T/models" "$FAKESCOPE" models list | grep "^inc-df .*mesoinception4" >/dev/null \
    || fail "text list via FAKESCOPE_MODELS"

# Refusals: existing files, wrong architecture, not HDF5, bad usage.
set +e
"$FAKESCOPE" models import --arch meso4 "$H5" -o "$T/models" 2> "$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "force" "$T/err" || fail "overwrite without --force: rc=$rc $(cat "$T/err")"
"$FAKESCOPE" models import --arch mesoinception4 "$H5" -o "$T/other" 2> "$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "inc1.b1.weight" "$T/err" || fail "wrong arch: rc=$rc $(cat "$T/err")"
[ ! -e "$T/other/Meso4_DF.json" ] || fail "card written for a failed import"
echo "plain text" > "$T/x.h5"
"$FAKESCOPE" models import --arch meso4 "$T/x.h5" -o "$T/other" 2> "$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "not an HDF5 file" "$T/err" || fail "not hdf5: rc=$rc $(cat "$T/err")"
"$FAKESCOPE" models import --arch resnet "$H5" -o "$T/other" 2>/dev/null; rc=$?
[ $rc -eq 2 ] || fail "bad --arch should be a usage error, rc=$rc"
"$FAKESCOPE" models frobnicate 2>/dev/null; rc=$?
[ $rc -eq 2 ] || fail "unknown action rc=$rc"
"$FAKESCOPE" models list --dir "$T/none" 2>/dev/null; rc=$?
[ $rc -eq 1 ] || fail "missing --dir rc=$rc"
set -e

# A card whose weights vanished is skipped with a warning.
rm "$T/models/inc-df.safetensors"
"$FAKESCOPE" models list --dir "$T/models" --json 2> "$T/err" > "$T/list.json"
grep -q "inc-df.safetensors is missing" "$T/err" || fail "no warning: $(cat "$T/err")"
python3 -c 'import json,sys; assert [m["name"] for m in json.load(open(sys.argv[1]))] == ["Meso4_DF"]' "$T/list.json"
echo "ok"
