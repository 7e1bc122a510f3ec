#!/bin/bash
# Frame geometries and pixel formats against the decoder, with eyes inside the libraries that
# ASan cannot see (FFmpeg is not instrumented: an overrun of ours inside libswscale lands in a
# redzone unseen). Videos are made with ffmpeg at test time:
#   - every width and every height from 1 to 64, and odd and even sizes up to 4096, as raw video
#     in NUT, in each of the pixel formats yuv420p, yuvj420p, yuv422p, yuv444p, gray, nv12,
#     rgb24 and yuv420p10le (raw video carries any size in any format);
#   - the codecs mpeg4, h264, mjpeg, vp9 and hevc, in each of those formats and a set of sizes,
#     where Debian's ffmpeg encodes that combination (the others are counted and listed).
# Every file is scanned by the binary under test. A release build runs with glibc's heap checks
# (libc_malloc_debug: MALLOC_CHECK_=3, MALLOC_PERTURB_), and a subset runs under valgrind
# memcheck with --error-exitcode; an ASan build runs everything under ASan alone (valgrind and
# glibc's checks do not work beside it). Pass: no crash, and one answer per file.
set -u
. "$(dirname "$0")/lib.sh"
fs_require_cmd ffmpeg jq

M="$FS_TMP/matrix"
mkdir -p "$M/geo" "$M/codec"
FORMATS="yuv420p yuvj420p yuv422p yuv444p gray nv12 rgb24 yuv420p10le"

# make OUT SIZE PIXFMT CODEC_ARGS...: 3 frames of a moving test pattern at 4 fps; 0 if made.
make_clip() {
    local out=$1 size=$2 fmt=$3
    shift 3
    # (a subshell: some encoders abort on sizes they refuse, and bash would report it)
    (ffmpeg -nostdin -v error -y -f lavfi -i "testsrc=size=$size:rate=4" -frames:v 3 \
        -pix_fmt "$fmt" "$@" "$out" || exit 1) >/dev/null 2>&1 && [ -s "$out" ]
}

# Geometry: each width 1..64 with a height that walks 1..64 in another order, each height the
# same way, so every width and every height occurs; plus odd/even sizes up to 4096. The formats
# take turns so each size meets one and each format meets every kind of size; every format also
# comes at the sizes that broke the decoder before. One ffmpeg writes them all (one output each).
sizes=""
for i in $(seq 1 64); do
    sizes="$sizes ${i}x$(( (i * 37) % 64 + 1 )) $(( (i * 23) % 64 + 1 ))x$i"
done
sizes="$sizes 298x298 296x296 300x300 299x301 4096x2 2x4096 4095x3 3x4095 1921x17 17x1081"
geo_args=()
fi=0
for s in $sizes; do
    set -- $FORMATS
    shift $((fi % 8))
    fi=$((fi + 1))
    geo_args+=(-frames:v 3 -s "$s" -pix_fmt "$1" -c:v rawvideo "$M/geo/$s-$1.nut")
done
for fmt in $FORMATS; do
    for s in 298x298 300x300 1x64 63x1 33x17; do
        geo_args+=(-frames:v 3 -s "$s" -pix_fmt "$fmt" -c:v rawvideo "$M/geo/x$s-$fmt.nut")
    done
done
ffmpeg -nostdin -v error -y -f lavfi -i "testsrc=size=320x240:rate=4" "${geo_args[@]}" ||
    fs_fail "ffmpeg could not write the raw clips"
n_geo=$(ls "$M"/geo | wc -l)

# Codecs: the encoders refuse some formats and sizes; those are listed, not failed. Two
# encoders at a time (the machine has two cores).
declare -A ENC=([mpeg4]="-c:v mpeg4" [h264]="-c:v libx264 -preset ultrafast"
    [mjpeg]="-c:v mjpeg" [vp9]="-c:v libvpx-vp9 -deadline realtime -cpu-used 8"
    [hevc]="-c:v libx265 -preset ultrafast -x265-params log-level=none")
jobs_running=0
for codec in mpeg4 h264 mjpeg vp9 hevc; do
    for fmt in $FORMATS; do
        for s in 298x298 300x300 33x17 1x64 64x2 4096x16 2x2160; do
            # shellcheck disable=SC2086
            { make_clip "$M/codec/$codec-$fmt-$s.mkv" "$s" "$fmt" ${ENC[$codec]} ||
                { rm -f "$M/codec/$codec-$fmt-$s.mkv"; echo "$codec/$fmt/$s" >>"$M/refused"; }; } &
            jobs_running=$((jobs_running + 1))
            [ $jobs_running -lt 2 ] || { wait -n; jobs_running=$((jobs_running - 1)); }
        done
    done
done
wait
n_codec=$(ls "$M"/codec | wc -l)
refused=$(cat "$M/refused" 2>/dev/null)
n_refused=$(echo "$refused" | wc -w)
echo "made $n_geo raw clips and $n_codec encoded clips; the encoders refused $n_refused combinations"
[ "$n_codec" -ge 60 ] || fs_fail "only $n_codec encoded clips: is this ffmpeg missing its encoders?"
for codec in mpeg4 h264 mjpeg vp9 hevc; do
    ls "$M/codec/$codec-"* >/dev/null 2>&1 || echo "note: ffmpeg encoded no $codec clip"
done

SANITIZED=${FS_SANITIZE:-0}
HEAP_ENV=()
if [ "$SANITIZED" != 1 ]; then
    DEBUG_MALLOC=$(ls /lib/*/libc_malloc_debug.so.0 /usr/lib/*/libc_malloc_debug.so.0 2>/dev/null | head -1)
    [ -n "$DEBUG_MALLOC" ] || fs_fail "glibc's libc_malloc_debug.so.0 is missing"
    HEAP_ENV=(env LD_PRELOAD="$DEBUG_MALLOC" MALLOC_CHECK_=3 MALLOC_PERTURB_=165)
fi

# scan_all LABEL FILE...: one process for the lot (models load once); on a failure, each file
# alone so the message names it.
scan_all() {
    local label=$1
    shift
    local out="$FS_TMP/$label.json" rc
    "${HEAP_ENV[@]}" "$FAKESCOPE" scan --json --frames 2 --threads 2 "$@" >"$out" 2>"$FS_TMP/$label.err"
    rc=$?
    if [ $rc -ge 2 ] || [ "$(grep -c '^{' "$out")" -ne $# ]; then
        local f
        for f in "$@"; do
            "${HEAP_ENV[@]}" "$FAKESCOPE" scan --json --frames 2 --threads 2 "$f" >/dev/null 2>"$FS_TMP/one.err"
            rc=$?
            [ $rc -lt 2 ] || fs_fail "$label: scan of $(basename "$f") ended with status $rc: $(tail -c 300 "$FS_TMP/one.err")"
        done
        fs_fail "$label: $(grep -c '^{' "$out") answers for $# files (status $rc)"
    fi
    # Every clip is a real picture at least 1x1: it must decode, not be refused.
    local bad
    bad=$(jq -r 'select(.error != null) | "\(.file): \(.error)"' "$out" | head -5)
    [ -z "$bad" ] || fs_fail "$label: clips refused:
$bad"
    echo "$label: $# files scanned"
}

scan_all geometry "$M"/geo/*.nut
scan_all codecs "$M"/codec/*.mkv

# A frame size exactly as decoded: the answer says 298x298 for a 298x298 clip.
w=$(jq -r 'select(.file | endswith("/x298x298-yuv420p.nut")) | .media.width' "$FS_TMP/geometry.json")
[ "$w" = 298 ] || fs_fail "298x298 clip reported width '$w'"

# valgrind memcheck on a subset: the geometries that broke the decoder, each codec, odd formats.
if [ "$SANITIZED" = 1 ]; then
    echo "valgrind part skipped: this binary is built with ASan (valgrind cannot run it)"
    exit 0
fi
fs_require_cmd valgrind
subset=$(ls "$M"/geo/x298x298-yuv420p.nut "$M"/geo/x300x300-nv12.nut "$M"/geo/x1x64-yuv444p.nut \
    "$M"/geo/x63x1-rgb24.nut "$M"/geo/x33x17-yuv420p10le.nut "$M"/geo/x298x298-gray.nut \
    "$M"/codec/mpeg4-yuv420p-300x300.mkv "$M"/codec/h264-yuv444p-33x17.mkv \
    "$M"/codec/mjpeg-yuvj420p-298x298.mkv "$M"/codec/vp9-yuv420p-298x298.mkv \
    "$M"/codec/hevc-yuv420p10le-298x298.mkv 2>/dev/null)
# libhwy (loaded by libjxl, loaded by libavcodec) executes rdtscp in a constructor; valgrind
# 3.19 refuses it on CPUs that do not advertise it. The shim replaces that timer calibration,
# which decoding never uses (tests/tools/hwy_timer_shim.c).
PRE=()
[ -n "${FS_VALGRIND_PRELOAD:-}" ] && PRE=(env LD_PRELOAD="$FS_VALGRIND_PRELOAD")
# shellcheck disable=SC2086
"${PRE[@]}" valgrind -q --error-exitcode=99 --track-origins=no --leak-check=no \
    "$FAKESCOPE" scan --json --frames 2 --threads 2 $subset >"$FS_TMP/vg.json" 2>"$FS_TMP/vg.err"
rc=$?
[ $rc -ne 99 ] || fs_fail "valgrind found memory errors:
$(grep -m 20 '==' "$FS_TMP/vg.err")"
[ $rc -lt 2 ] || fs_fail "scan under valgrind ended with status $rc: $(tail -c 500 "$FS_TMP/vg.err")"
n=$(grep -c '^{' "$FS_TMP/vg.json")
[ "$n" -eq "$(echo $subset | wc -w)" ] || fs_fail "valgrind run answered $n of $(echo $subset | wc -w) files"
echo "valgrind: $n files, no error"
echo "PASS"
