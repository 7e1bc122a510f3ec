# Model explorer dialect (seed 000) on the MesoNet test images with the original Meso4_DF weights:
# dataset size, the model list with figures measured before the server listens (numbers on the
# very first request) and cached across a restart, the card's held-out figures when there is no
# dataset or measuring fails, predictions equal to `fakescope predict` on the same files,
# feature-map PNGs, the media routes, every error status, --require-key-for-explorer and a start
# with no models.
. "$(dirname "$0")/lib.sh"

fs_require_shared mesonet/test_images
fs_require_cmd jq python3

DATASET="$SHARED/mesonet/test_images"
WEIGHTS="$SHARED/mesonet/weights/Meso4_DF.h5"
"$FAKESCOPE" models import --arch meso4 "$WEIGHTS" -o "$FS_TMP/models" --name meso4-df >/dev/null ||
    fs_fail "models import"
MODEL_ID=$(jq -r .id "$FS_TMP/models/meso4-df.json")

# The reference: P(fake) per file, relative to the dataset folder.
"$FAKESCOPE" predict --weights "$WEIGHTS" --arch meso4 --json "$DATASET"/*/*.jpg |
    jq -r --arg root "$DATASET/" '[(.file | ltrimstr($root)), .p_fake] | @tsv' >"$FS_TMP/ref.tsv"
[ "$(wc -l <"$FS_TMP/ref.tsv")" = 4 ] || fs_fail "predict gave $(wc -l <"$FS_TMP/ref.tsv") lines"

# get NAME EXPECTED_STATUS PATH [curl args...]: GET, body in $FS_TMP/body, Request-Id checked.
get() {
    local name=$1 want=$2 path=$3
    shift 3
    local got
    got=$($FS_CURL -o "$FS_TMP/body" -D "$FS_TMP/head" -w '%{http_code}' "$@" "$FS_URL$path")
    [ "$got" = "$want" ] || fs_fail "$name: status $got, expected $want; body: $(head -c 400 "$FS_TMP/body")"
    grep -qi '^request-id: ' "$FS_TMP/head" || fs_fail "$name: no Request-Id"
}
body() { jq -r "$1" "$FS_TMP/body"; }
# exact_numbers WHAT: the explorer's figures are rounded where they are computed (accuracy and
# clr to 2 decimals, probability to 4), so the raw body shows them as such: no 17-digit
# artefact like 0.95999999999999996, and every real in its shortest form.
exact_numbers() {
    if grep -Eq '[0-9]\.[0-9]{16,}' "$FS_TMP/body"; then
        fs_fail "$1: a 17-digit artefact in $(grep -Eo '[0-9]\.[0-9]{16,}' "$FS_TMP/body" | head -n 3 | tr '\n' ' ')"
    fi
    fs_json_shortest "$1" "$FS_TMP/body" 1
}

# seed_figures WHAT COUNT STATUS: the model list has COUNT models, each with the seed's accuracy
# (a number) and clr (an object with its columns and rows), and metrics_status STATUS.
seed_figures() {
    fs_expect "$1: model count" "$(body length)" "$2"
    jq -e --arg st "$3" 'all(.[]; (.accuracy | type) == "number" and (.clr | type) == "object" and
            (.clr.rows | type) == "array" and (.clr.columns | length) == 5 and .metrics_status == $st)' \
        "$FS_TMP/body" >/dev/null ||
        fs_fail "$1: accuracy and clr must be a number and an object ($3): $(jq -c \
            '[.[] | {model_name, accuracy, clr: (.clr | type), metrics_status}]' "$FS_TMP/body")"
}

# ---- the very first request after `listening on` has every model's figures. 200 images (the 4
# test images copied 50 times) and two models take about a second to measure, far longer than
# the gap between that line and the request, so figures still being measured would show here.
mkdir -p "$FS_TMP/big/real" "$FS_TMP/big/df" "$FS_TMP/models2"
for i in $(seq 1 50); do
    for f in "$DATASET"/real/*.jpg "$DATASET"/df/*.jpg; do
        cls=$(basename "$(dirname "$f")")
        cp "$f" "$FS_TMP/big/$cls/${i}_$(basename "$f")"
    done
done
fs_import_originals "$SHARED" "$FS_TMP/models2" all
FS_DATA_MAIN=$FS_DATA
FS_DATA="$FS_TMP/data-first"
FS_START_WAIT_S=300 fs_start --models "$FS_TMP/models2" --dataset "$FS_TMP/big"
get "first request after listening" 200 /api/available-models/
seed_figures "first request after listening" 2 ready
fs_expect "first request: models" "$(jq -c '[.[].model_name]' "$FS_TMP/body")" '["meso4-df","mesoinception4-df"]'
grep -q 'explorer: measuring meso4-df (model 1 of 2) on 200 images before listening' "$FS_ERR" ||
    fs_fail "no progress line before measuring"
fs_stop || fs_fail "server exit status $? after the first-request run"
FS_DATA=$FS_DATA_MAIN

fs_start --models "$FS_TMP/models" --dataset "$DATASET"
ADMIN=$FS_ADMIN_KEY
grep -q 'explorer: dataset .* with 4 images' "$FS_ERR" || fs_fail "no dataset log line"

# ---- dataset size, with and without the trailing slash
get "dataset size" 200 /api/dataset-size/
fs_expect "dataset size body" "$(jq -c . "$FS_TMP/body")" '{"size":4}'
get "dataset size no slash" 200 /api/dataset-size

# ---- model list: the seed's fields, figures measured on the dataset
get "models" 200 /api/available-models/
seed_figures "models" 1 ready
fs_expect "model_id" "$(body '.[0].model_id')" "$MODEL_ID"
fs_expect "model_name" "$(body '.[0].model_name')" meso4-df
body '.[0].model_desc' | grep -q 'Meso4_DF.h5' || fs_fail "model_desc: $(body '.[0].model_desc')"
fs_expect "loss_curve" "$(body '.[0].loss_curve')" null
fs_expect "conv_layers" "$(jq -c '.[0].conv_layers' "$FS_TMP/body")" '[[8,[3,3]],[8,[5,5]],[16,[5,5]],[16,[5,5]]]'
fs_expect "clr columns" "$(jq -c '.[0].clr.columns' "$FS_TMP/body")" '["","precision","recall","f1-score","support"]'
fs_expect "clr row names" "$(jq -c '[.[0].clr.rows[][0]]' "$FS_TMP/body")" '["real","deepfake","accuracy","macro avg","weighted avg"]'
fs_expect "clr supports" "$(jq -c '[.[0].clr.rows[][4]]' "$FS_TMP/body")" '[2,2,4,4,4]'
# expected accuracy from the reference scores: fake when p_fake >= 0.5, labelled by folder
want_acc=$(awk -F'\t' '{ fake = ($1 ~ /^df\//); pred = ($2 >= 0.5); ok += (fake == pred) } END { printf "%.2f", 100 * ok / NR }' "$FS_TMP/ref.tsv")
fs_expect "accuracy" "$(jq -r '.[0].accuracy | . * 100 | round / 100 | tostring' "$FS_TMP/body" | awk '{ printf "%.2f", $1 }')" "$want_acc"
fs_expect "clr accuracy row" "$(jq -r '.[0].clr.rows[2][3]' "$FS_TMP/body" | awk '{ printf "%.2f", $1 * 100 }')" "$want_acc"
exact_numbers "model list"

# check_item JSON WANT_PLOTS: one prediction against the reference; its plots are served PNGs
# in convIdx order.
check_item() {
    local item=$1 want_plots=$2
    local url rel ref want_true pred prob plot
    url=$(jq -r .img_url <<<"$item")
    rel=${url#/media/data/}
    ref=$(awk -F'\t' -v f="$rel" '$1 == f { print $2 }' "$FS_TMP/ref.tsv")
    [ -n "$ref" ] || fs_fail "img_url $url is not a dataset image"
    want_true=real
    case $rel in df/*) want_true=deepfake ;; esac
    fs_expect "true_label of $rel" "$(jq -r .true_label <<<"$item")" "$want_true"
    pred=$(jq -r .pred_label <<<"$item")
    prob=$(jq -r .probability <<<"$item")
    python3 - "$ref" "$pred" "$prob" <<'EOF' || fs_fail "probability of $rel: $pred $prob% vs predict p_fake $ref"
import sys
p_fake, pred, prob = float(sys.argv[1]), sys.argv[2], float(sys.argv[3]) / 100
want_pred = "deepfake" if p_fake >= 0.5 else "real"
want_prob = p_fake if want_pred == "deepfake" else 1 - p_fake
sys.exit(0 if pred == want_pred and abs(prob - want_prob) <= 1e-4 else 1)
EOF
    fs_expect "plot order of $rel" "$(jq -r '[.plots[] | capture("conv(?<k>[0-9])\\.png$").k] | join("")' <<<"$item")" "$want_plots"
    get "image $rel" 200 "$url"
    cmp -s "$FS_TMP/body" "$DATASET/$rel" || fs_fail "served $url differs from the file"
    for plot in $(jq -r '.plots[]' <<<"$item"); do
        get "plot $plot" 200 "$plot"
        python3 - "$FS_TMP/body" <<'EOF' || fs_fail "plot $plot is not a valid PNG"
import struct, sys
b = open(sys.argv[1], "rb").read()
assert len(b) > 0 and b[:8] == b"\x89PNG\r\n\x1a\n", "signature"
w, h = struct.unpack(">II", b[16:24])
assert b[12:16] == b"IHDR" and w > 0 and h > 0, "header"
EOF
        grep -qi '^content-type: image/png' "$FS_TMP/head" || fs_fail "plot content type"
    done
}

# ---- predictions on every image, equal to `fakescope predict`
get "predictions 4" 200 "/api/predictions/$MODEL_ID/4/"
fs_expect "prediction count" "$(body length)" 4
fs_expect "distinct images" "$(jq -r '.[].img_url' "$FS_TMP/body" | sort -u | wc -l)" 4
exact_numbers "predictions"
cp "$FS_TMP/body" "$FS_TMP/predictions.json"
for i in 0 1 2 3; do check_item "$(jq -c ".[$i]" "$FS_TMP/predictions.json")" ""; done

# ---- plots of every layer, in convIdx order (drawing is slow under the sanitizers: a longer
# client limit)
get "predictions 2 with 3012" 200 "/api/predictions/$MODEL_ID/2/3012/" --max-time 600
fs_expect "prediction count" "$(body length)" 2
cp "$FS_TMP/body" "$FS_TMP/predictions.json"
for i in 0 1; do check_item "$(jq -c ".[$i]" "$FS_TMP/predictions.json")" 3012; done
# Asking again reuses the plot files (named by content), so the folder does not grow.
fs_expect "plot files" "$(ls "$FS_DATA/plots" | wc -l)" 8
get "same plots again" 200 "/api/predictions/$MODEL_ID/2/3012/" --max-time 600
[ "$(ls "$FS_DATA/plots" | wc -l)" -le 16 ] || fs_fail "plot folder grew past images x layers"
for i in 1 2 3; do get "layer 0 of one image" 200 "/api/predictions/$MODEL_ID/1/0" --max-time 600; done
[ "$(ls "$FS_DATA/plots" | grep -c 'conv0')" -le 4 ] || fs_fail "conv0 plots exceed the 4 images"

get "predictions without plots" 200 "/api/predictions/$MODEL_ID/2/"
fs_expect "two predictions" "$(body length)" 2
fs_expect "no plots" "$(jq -c '[.[].plots]' "$FS_TMP/body")" '[[],[]]'
get "predictions by model name" 200 "/api/predictions/meso4-df/1"

# ---- errors
get "unknown model id" 404 "/api/predictions/5aad0bb4-2d4c-4846-8636-85e0eaa0cbe3/1/"
get "garbage model id" 404 "/api/predictions/nope/1/"
for n in 0 5 abc -1 1.5 99999999999; do
    get "numImgs $n" 400 "/api/predictions/$MODEL_ID/$n/"
    body .error.message | grep -q numImgs || fs_fail "numImgs $n message: $(body .error.message)"
done
for c in 4 9 00 0a x; do
    get "convIdx $c" 400 "/api/predictions/$MODEL_ID/1/$c/"
    body .error.message | grep -Eq 'convIdx' || fs_fail "convIdx $c message: $(body .error.message)"
done
get "media outside the dataset" 403 "/media/data/../df/df00204.jpg" --path-as-is
get "media encoded escape" 403 "/media/data/%2e%2e/%2e%2e/etc/passwd.jpg" --path-as-is
get "media absent" 404 /media/data/real/none.jpg
get "plot absent" 404 /media/plots/plot_0000000000000000_conv0.png
get "loss curve absent" 404 /media/loss_curves/meso4-df.png
get "POST not allowed" 405 /api/dataset-size/ -X POST
fs_expect "healthz" "$(fs_status GET /healthz)" 200
fs_stop || fs_fail "server exit status $? (leak or crash under the sanitizers?)"

# ---- restart: the figures come from the store, nothing is measured again; key required
fs_start --models "$FS_TMP/models" --dataset "$DATASET" --require-key-for-explorer
get "models without key" 401 /api/available-models/
get "predictions without key" 401 "/api/predictions/$MODEL_ID/1/"
get "image without key" 401 /media/data/real/real00240.jpg
KEY=$($FS_CURL -H "Authorization: Bearer $ADMIN" -d '{"name":"viewer"}' "$FS_URL/admin/keys" | jq -r .secret)
get "models with key" 200 /api/available-models/ -H "X-API-KEY: $KEY"
fs_expect "figures ready at once after restart" "$(body '.[0].metrics_status')" ready
fs_expect "accuracy after restart" "$(body '.[0].accuracy' | awk '{ printf "%.2f", $1 }')" "$want_acc"
grep -q 'explorer: measured' "$FS_ERR" && fs_fail "the figures were measured again after a restart"
get "predictions with key" 200 "/api/predictions/$MODEL_ID/1/0" -H "Authorization: Bearer $KEY"
fs_stop || fs_fail "server exit status $? after the keyed run"

# ---- no models and no dataset: the server starts and says so
mkdir -p "$FS_TMP/empty"
FAKESCOPE_MODELS="$FS_TMP/empty" fs_start --models "$FS_TMP/empty"
grep -q 'no models yet' "$FS_ERR" || fs_fail "no log line about the empty registry"
get "empty model list" 200 /api/available-models/
fs_expect "empty list" "$(jq -c . "$FS_TMP/body")" '[]'
get "empty dataset" 200 /api/dataset-size/
fs_expect "size 0" "$(body .size)" 0
get "predictions without models" 404 "/api/predictions/$MODEL_ID/1/"
fs_stop || fs_fail "server exit status $? after the empty run"

# ---- no dataset: a card's held-out figures stand in (the fake class's row named "deepfake"),
# and a model whose card has none is left out. The card is meso4-df's with seed 000's figures.
mkdir -p "$FS_TMP/cards"
cp "$FS_TMP/models/meso4-df.safetensors" "$FS_TMP/cards/meso4-card.safetensors"
cp "$FS_TMP/models/meso4-df.json" "$FS_TMP/models/meso4-df.safetensors" "$FS_TMP/cards/"
jq --arg id "$(python3 -c 'import uuid; print(uuid.uuid4())')" '.id = $id | .name = "meso4-card" |
    .weights = "meso4-card.safetensors" | .metrics_note = null | .metrics = {accuracy: 0.9625,
    roc_auc: null, report: {columns: ["", "precision", "recall", "f1-score", "support"],
    rows: [["real", 0.96, 0.94, 0.95, 773], ["df", 0.96, 0.97, 0.97, 1172],
           ["accuracy", "", "", 0.96, 1945], ["macro avg", 0.96, 0.96, 0.96, 1945],
           ["weighted avg", 0.96, 0.96, 0.96, 1945]]}}' \
    "$FS_TMP/models/meso4-df.json" >"$FS_TMP/cards/meso4-card.json"
fs_start --models "$FS_TMP/cards"
get "models without a dataset" 200 /api/available-models/
seed_figures "models without a dataset" 1 no_dataset
fs_expect "card model listed" "$(body '.[0].model_name')" meso4-card
fs_expect "card accuracy" "$(jq -c '.[0].accuracy' "$FS_TMP/body")" 96.25
fs_expect "card clr" "$(jq -c '.[0].clr.rows' "$FS_TMP/body")" \
    '[["real",0.96,0.94,0.95,773],["deepfake",0.96,0.97,0.97,1172],["accuracy","","",0.96,1945],["macro avg",0.96,0.96,0.96,1945],["weighted avg",0.96,0.96,0.96,1945]]'
exact_numbers "card figures"
grep -q 'explorer: meso4-df is left out' "$FS_ERR" || fs_fail "no log line for the model without figures"
fs_stop || fs_fail "server exit status $? after the run without a dataset"

# ---- measuring fails (every image is corrupt): the card's figures with metrics_error, and the
# model without card figures left out
mkdir -p "$FS_TMP/broken/real" "$FS_TMP/broken/df"
head -c 600 "$DATASET/real/real00240.jpg" >"$FS_TMP/broken/real/cut.jpg"
head -c 600 "$DATASET/df/df00204.jpg" >"$FS_TMP/broken/df/cut.jpg"
fs_start --models "$FS_TMP/cards" --dataset "$FS_TMP/broken"
get "models when measuring fails" 200 /api/available-models/
seed_figures "models when measuring fails" 1 failed
fs_expect "failed: card accuracy" "$(jq -c '.[0].accuracy' "$FS_TMP/body")" 96.25
[ -n "$(body '.[0].metrics_error // empty')" ] || fs_fail "no metrics_error when measuring failed"
fs_stop || fs_fail "server exit status $? after the run with a broken dataset"

# ---- a graph network (the shipped MobileNetV2 faceswap): measured and predicted like the others,
# its convolution layers listed, and a convIdx (feature maps are MesoNet-only) refused clearly
if [ -f "${FS_SOURCE_DIR:-}/models/faceswap.safetensors" ]; then
    mkdir -p "$FS_TMP/graph"
    cp "$FS_SOURCE_DIR/models/faceswap.json" "$FS_SOURCE_DIR/models/faceswap.safetensors" "$FS_TMP/graph/"
    GID=$(jq -r .id "$FS_TMP/graph/faceswap.json")
    FS_START_WAIT_S=300 fs_start --models "$FS_TMP/graph" --dataset "$DATASET"
    get "graph model" 200 /api/available-models/
    seed_figures "graph model" 1 ready
    # its convolutions (depthwise ones included): 52, the first a 3x3 with 32 filters
    fs_expect "graph model conv layers" "$(jq -c '.[0].conv_layers | [length, .[0], .[1]]' "$FS_TMP/body")" '[52,[32,[3,3]],[32,[3,3]]]'
    get "graph model predictions" 200 "/api/predictions/$GID/4/"
    fs_expect "graph model prediction count" "$(body length)" 4
    # labels follow the card's decision threshold, not 0.5
    T=$(jq .decision.threshold "$FS_TMP/graph/faceswap.json")
    jq -e --argjson t "$T" 'all(.[]; if .pred_label == "deepfake" then .probability / 100 >= $t
                                    else 1 - .probability / 100 < $t end)' "$FS_TMP/body" >/dev/null ||
        fs_fail "graph model labels do not follow the threshold $T: $(jq -c . "$FS_TMP/body")"
    get "graph model convIdx" 400 "/api/predictions/$GID/1/0/"
    body .error.message | grep -q 'feature maps are drawn for MesoNet layers only' || fs_fail "graph convIdx message: $(body .error.message)"
    fs_stop || fs_fail "server exit status $? after the graph model run"
fi

# ---- a dataset folder that is not one refuses to start, with a clear message
mkdir -p "$FS_TMP/notdata/cats"
"$FAKESCOPE" serve --port 0 --data "$FS_TMP/d2" --models "$FS_TMP/models" --dataset "$FS_TMP/notdata" \
    >"$FS_TMP/bad.out" 2>"$FS_TMP/bad.err" && fs_fail "serve started on a folder with no classes"
grep -q 'dataset' "$FS_TMP/bad.err" || fs_fail "bad dataset message: $(cat "$FS_TMP/bad.err")"
echo "ok"
