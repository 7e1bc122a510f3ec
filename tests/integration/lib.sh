# Shared helpers for the server's integration tests: a real `fakescope serve` on 127.0.0.1 with
# an ephemeral port and a temporary data dir. Source it, call fs_start, use $FS_URL, and let the
# EXIT trap stop the server and remove the temporary files. Every wait is bounded.
set -u

: "${FAKESCOPE:?FAKESCOPE must name the fakescope binary}"
command -v curl >/dev/null || { echo "skipped: curl is not installed"; exit 77; }

FS_TMP=$(mktemp -d /tmp/fs_it_XXXXXX)
FS_DATA="$FS_TMP/data"
FS_PID=""
FS_URL=""
FS_PORT=""
FS_ADMIN_KEY=""
FS_OUT=""
FS_ERR=""
FS_STARTS=0
FS_CURL="curl -sS --max-time 20"

fs_cleanup() {
    if [ -n "$FS_PID" ] && kill -0 "$FS_PID" 2>/dev/null; then
        kill -KILL "$FS_PID" 2>/dev/null
        wait "$FS_PID" 2>/dev/null || true
    fi
    rm -rf "$FS_TMP"
}
trap fs_cleanup EXIT

fs_fail() {
    echo "FAIL: $*" >&2
    if [ -n "$FS_ERR" ] && [ -f "$FS_ERR" ]; then
        echo "--- server stderr (last 30 lines):" >&2
        tail -n 30 "$FS_ERR" >&2
    fi
    exit 1
}

# fs_require_shared REL...: sets SHARED to $FS_SHARED_DATA and skips the test (exit 77) unless
# every REL exists below it.
fs_require_shared() {
    SHARED=${FS_SHARED_DATA:-}
    local rel
    for rel in "$@"; do
        [ -n "$SHARED" ] && [ -e "$SHARED/$rel" ] || { echo "skipped: shared data absent ($rel)"; exit 77; }
    done
}

# fs_require_cmd CMD...: skips the test (exit 77) unless every CMD is installed.
fs_require_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null || { echo "skipped: $c is not installed"; exit 77; }
    done
}

# fs_import_originals SHARED_DATA OUT_DIR [all]: imports the original Meso4_DF weights as
# meso4-df (and with "all" MesoInception_DF as mesoinception4-df) into OUT_DIR.
fs_import_originals() {
    "$FAKESCOPE" models import --arch meso4 "$1/mesonet/weights/Meso4_DF.h5" -o "$2" \
        --name meso4-df >/dev/null || fs_fail "models import meso4"
    [ "${3:-}" = all ] || return 0
    "$FAKESCOPE" models import --arch mesoinception4 "$1/mesonet/weights/MesoInception_DF.h5" \
        -o "$2" --name mesoinception4-df >/dev/null || fs_fail "models import mesoinception4"
}

# fs_flat_png PATH: writes a 96x96 PNG of one flat grey, a picture with no face in it.
fs_flat_png() {
    python3 - "$1" <<'EOF' || fs_fail "could not write $1"
import struct, sys, zlib
w = h = 96
raw = b"".join(b"\x00" + bytes([120, 130, 140]) * w for _ in range(h))
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
EOF
}

# fs_json_shortest WHAT FILE [MIN_REALS]: fails unless every real number in the JSON document FILE
# is written with the fewest significant digits that read back as the same double, as
# fs_json_dumps prints it (0.614086, not jansson's 0.61408600000000002; a score that needs 17
# digits keeps them), and unless FILE holds at least MIN_REALS (0) of them. Python's repr of a
# float is that shortest form; numbers inside strings are not looked at.
fs_json_shortest() {
    python3 - "$2" "${3:-0}" <<'EOF' || fs_fail "$1: real numbers not in their shortest form in $(head -c 400 "$2")"
import json, sys
bad, seen = [], []
def digits(text):  # significant digits: no sign, point, exponent, leading or trailing zeros
    return len(text.lstrip("-").lower().split("e")[0].replace(".", "").strip("0")) or 1
def check(tok):
    v = float(tok)
    seen.append(tok)
    if digits(tok) != digits(repr(v)):
        bad.append("%s (shortest: %r)" % (tok, v))
    return v
json.load(open(sys.argv[1]), parse_float=check)
if bad or len(seen) < int(sys.argv[2]):
    print("not shortest: %s; %d real(s) seen" % (", ".join(bad[:8]), len(seen)), file=sys.stderr)
    sys.exit(1)
EOF
}

# fs_expect WHAT ACTUAL EXPECTED
fs_expect() {
    [ "$2" = "$3" ] || fs_fail "$1: got '$2', expected '$3'"
}

# fs_start [extra serve options...]: starts the server and waits (FS_START_WAIT_S, 10 s, at
# most) for its "listening on" line. Sets FS_PID, FS_URL, FS_PORT, FS_OUT, FS_ERR and
# FS_ADMIN_KEY (the key a fresh data dir prints at start; empty on a store that already has keys).
fs_start() {
    FS_STARTS=$((FS_STARTS + 1))
    FS_OUT="$FS_TMP/serve.$FS_STARTS.out"
    FS_ERR="$FS_TMP/serve.$FS_STARTS.err"
    "$FAKESCOPE" serve --host 127.0.0.1 --port 0 --data "$FS_DATA" --workers 2 "$@" \
        >"$FS_OUT" 2>"$FS_ERR" &
    FS_PID=$!
    local i wait_s=${FS_START_WAIT_S:-10}
    for i in $(seq 1 $((wait_s * 20))); do
        if grep -q '^listening on http://' "$FS_OUT" 2>/dev/null; then break; fi
        kill -0 "$FS_PID" 2>/dev/null || fs_fail "the server exited before listening"
        sleep 0.05
    done
    grep -q '^listening on http://' "$FS_OUT" || fs_fail "no 'listening on' line within $wait_s s"
    FS_URL=$(sed -n 's/^listening on \(http:\/\/[^ ]*\)$/\1/p' "$FS_OUT" | head -n1)
    FS_PORT=${FS_URL##*:}
    [ "$FS_PORT" -gt 0 ] 2>/dev/null || fs_fail "bad port in '$FS_URL'"
    local key
    key=$(sed -n 's/^admin key: \(fsk_[0-9a-f]*\)$/\1/p' "$FS_OUT")
    FS_ADMIN_KEY=$key
    return 0
}

# fs_stop: SIGTERM, then waits (15 s at most). Prints nothing; returns the server's exit status.
fs_stop() {
    [ -n "$FS_PID" ] || return 0
    kill -TERM "$FS_PID" 2>/dev/null
    local i
    for i in $(seq 1 300); do
        kill -0 "$FS_PID" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$FS_PID" 2>/dev/null; then
        kill -KILL "$FS_PID"
        wait "$FS_PID" 2>/dev/null
        FS_PID=""
        fs_fail "the server did not stop within 15 s of SIGTERM"
    fi
    local rc=0
    wait "$FS_PID" || rc=$?
    FS_PID=""
    return $rc
}

# fs_kill9: kills the server without warning (crash simulation).
fs_kill9() {
    kill -KILL "$FS_PID"
    wait "$FS_PID" 2>/dev/null
    FS_PID=""
}

# fs_status METHOD PATH [curl args...]: prints the HTTP status code.
fs_status() {
    local m=$1 p=$2
    shift 2
    $FS_CURL -o /dev/null -w '%{http_code}' -X "$m" "$@" "$FS_URL$p"
}

# fs_header NAME METHOD PATH [curl args...]: prints the value of response header NAME.
fs_header() {
    local name=$1 m=$2 p=$3
    shift 3
    $FS_CURL -o /dev/null -D - -X "$m" "$@" "$FS_URL$p" | tr -d '\r' |
        awk -v n="$(echo "$name" | tr 'A-Z' 'a-z')" -F': ' 'tolower($1) == n && !done { print $2; done = 1 }'
}
