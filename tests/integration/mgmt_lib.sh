# Helpers for the model-management (/v0.7) integration tests, on top of lib.sh: skips without
# the shared data, starts the server, makes a safetensors Meso4 from the original Keras file,
# and wraps curl so each call leaves its status in $ST and its body in $BODY.
. "$(dirname "$0")/lib.sh"
: "${FS_SHARED_DATA:=}"
command -v jq >/dev/null || { echo "skipped: jq is not installed"; exit 77; }
if [ -z "$FS_SHARED_DATA" ] || [ ! -f "$FS_SHARED_DATA/mesonet/weights/Meso4_DF.h5" ] ||
    [ ! -d "$FS_SHARED_DATA/dfdc/frames" ]; then
    echo "skipped: shared data is absent"
    exit 77
fi
REAL_FRAME=$(ls "$FS_SHARED_DATA"/dfdc/frames/real/*.jpg | head -n1)
FAKE_FRAME=$(ls "$FS_SHARED_DATA"/dfdc/frames/fake/*.jpg | head -n1)
CASCADE=/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml
[ -f "$CASCADE" ] || { echo "skipped: opencv-data is not installed"; exit 77; }

# mgmt_import ARCH H5 NAME: converts a Keras file into $FS_TMP/models/NAME.safetensors.
mgmt_import() {
    "$FAKESCOPE" models import --arch "$1" "$2" -o "$FS_TMP/models" --name "$3" >/dev/null ||
        fs_fail "models import $2 failed"
    echo "$FS_TMP/models/$3.safetensors"
}

BODY_FILE="$FS_TMP/body.json"
ST=""
BODY=""
# api METHOD PATH [curl args...]: authenticated with $KEY.
api() {
    local m=$1 p=$2
    shift 2
    ST=$($FS_CURL -o "$BODY_FILE" -w '%{http_code}' -X "$m" -H "X-API-KEY: $KEY" "$@" "$FS_URL$p") ||
        fs_fail "curl $m $p failed"
    BODY=$(cat "$BODY_FILE")
}
# api_json METHOD PATH JSON
api_json() { api "$1" "$2" -H 'Content-Type: application/json' --data-binary "$3"; }
# expect_status WHAT CODE
expect_status() { [ "$ST" = "$2" ] || fs_fail "$1: status $ST, expected $2: $BODY"; }
# jf FILTER: jq -r on the last body.
jf() { echo "$BODY" | jq -r "$1"; }
# expect_field WHAT FIELD: a 400 naming FIELD.
expect_field() {
    expect_status "$1" 400
    local f
    f=$(jf '.error.field')
    [ "$f" = "$2" ] || fs_fail "$1: error names field '$f', expected '$2': $BODY"
    [ -n "$(jf '.error.message')" ] || fs_fail "$1: empty message"
}
ISO_RE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$'

# image_request FILE...: an inference body with one data-URL input per file, in $FS_TMP/req.json.
image_request() {
    {
        printf '{"inputs": ['
        local sep=""
        for f in "$@"; do
            printf '%s{"image": {"source": "data:image/jpeg;base64,' "$sep"
            base64 -w0 "$f"
            printf '"}}'
            sep=","
        done
        printf ']}'
    } >"$FS_TMP/req.json"
}

# infer VERSION FILE...: runs inference and waits (60 s at most) for the task; the task JSON is
# left in $BODY.
infer() {
    local v=$1
    shift
    image_request "$@"
    api POST "/v0.7/recognition/versions/$v/inference" -H 'Content-Type: application/json' \
        --data-binary @"$FS_TMP/req.json"
    expect_status "inference on version $v" 200
    TASK=$(jf '.task_id')
    [ -n "$TASK" ] && [ "$TASK" != null ] || fs_fail "no task_id: $BODY"
    wait_task "$TASK"
}

wait_task() {
    local i
    for i in $(seq 1 600); do
        api GET "/v0.7/tasks/$1"
        expect_status "task $1" 200
        case "$(jf '.status')" in queued|running) ;; *) return 0 ;; esac
        sleep 0.1
    done
    fs_fail "task $1 still queued or running after 60 s"
}

# blob_count: files in the store's blob folder (temporary files included).
blob_count() { find "$FS_DATA/blobs" -type f | wc -l; }
