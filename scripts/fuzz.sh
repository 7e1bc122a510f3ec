#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, ASan+UBSan, in build-fuzz/) and runs each
# for a fixed time, then prints per target: executions, coverage (cov/ft from libFuzzer's last
# status line) and crashes. Exits non-zero when any target found a crash, leak or timeout;
# exits 77 (skipped) when clang or libFuzzer's runtime is missing. Except in the smoke run, the
# video and image corpora are then replayed under valgrind memcheck in the release build.
#
# Usage: scripts/fuzz.sh [--smoke] [--seconds N] [--jobs N] [target ...]
#   --seconds N  time per target (default $SECONDS_PER_TARGET or 60)
#   --smoke      the CTest run: 4 s per target
#   --jobs N     build parallelism (default 2)
#   target       fuzz_image, image, ... (default: every tests/fuzz/fuzz_*.c)
# Environment: FS_FUZZ_BUILD (default <repo>/build-fuzz), FS_SHARED_DATA (extra seeds when
# present), FS_FUZZ_ARGS (more libFuzzer flags, e.g. "-jobs=2 -workers=2").
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${FS_FUZZ_BUILD:-$ROOT/build-fuzz}
SECS=${SECONDS_PER_TARGET:-60}
JOBS=2
SMOKE=0
NAMES=()
RSS_MB=2048
UNIT_TIMEOUT=10
SHARED_SEEDS=6          # shared-data files copied per target
SHARED_SEED_MAX=32k     # and no larger than this (find -size), so max_len stays small

while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) SMOKE=1; SECS=4 ;;
        --seconds) SECS=$2; shift ;;
        --jobs) JOBS=$2; shift ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) NAMES+=("${1#fuzz_}") ;;
    esac
    shift
done
case "$SECS" in ''|*[!0-9]*) echo "fuzz: --seconds wants a whole number, got '$SECS'" >&2; exit 2 ;; esac

CC=$(command -v clang || true)
if [ -z "$CC" ] || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
    echo "fuzz: skipped (needs clang and libFuzzer: apt-get install clang libclang-rt-14-dev)"
    exit 77
fi

# Shared data: the environment, else what the normal build was configured with, else beside
# the checkout (as CMakeLists.txt assumes).
if [ -z "${FS_SHARED_DATA:-}" ]; then
    FS_SHARED_DATA=$(sed -n 's/^FS_SHARED_DATA:PATH=//p' "$ROOT/build/CMakeCache.txt" 2>/dev/null)
    [ -n "$FS_SHARED_DATA" ] || FS_SHARED_DATA=$ROOT/../shared/data
fi

mkdir -p "$BUILD"
# One configure/build per build dir at a time (make fuzz and the CTest smoke may meet); the
# runs themselves may overlap.
exec 9>"$BUILD/.lock"
flock 9

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    extra=()
    [ -n "${FS_SHARED_DATA:-}" ] && extra+=("-DFS_SHARED_DATA=$FS_SHARED_DATA")
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_C_COMPILER="$CC" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DFS_FUZZ=ON "${extra[@]}" >"$BUILD/configure.log" 2>&1 ||
        { cat "$BUILD/configure.log"; echo "fuzz: configure failed" >&2; exit 1; }
fi
cmake --build "$BUILD" --target fuzz_all -j "$JOBS" >"$BUILD/build.log" 2>&1 ||
    { tail -n 40 "$BUILD/build.log"; echo "fuzz: build failed" >&2; exit 1; }
exec 9>&-

if [ ${#NAMES[@]} -eq 0 ]; then
    for f in "$ROOT"/tests/fuzz/fuzz_*.c; do n=$(basename "$f" .c); NAMES+=("${n#fuzz_}"); done
fi

# A few small files of the shared data sets as extra seeds, copied into the build dir's corpus
# (never into the repository), and Debian's real cascades for the cascade loader.
seed_shared() { # name corpus_dir
    local data=${FS_SHARED_DATA:-}
    local pattern
    case "$1" in
        image) pattern='\( -name "*.jpg" -o -name "*.png" -o -name "*.webp" \)' ;;
        exif) pattern='-name "*.jpg"' ;;
        cascade) # Debian's opencv-data: the two smallest real cascades of each feature type.
            [ -e "$2/.shared-seeded" ] && return 0
            for f in /usr/share/opencv4/haarcascades/haarcascade_licence_plate_rus_16stages.xml \
                     /usr/share/opencv4/lbpcascades/lbpcascade_profileface.xml; do
                [ -f "$f" ] && cp "$f" "$2/system-$(basename "$f")"
            done
            touch "$2/.shared-seeded"
            return 0 ;;
        *) return 0 ;;
    esac
    [ -n "$data" ] && [ -d "$data" ] || return 0
    [ -e "$2/.shared-seeded" ] && return 0
    eval "find -L \"\$data\" -type f $pattern -size -$SHARED_SEED_MAX" 2>/dev/null | sort |
        awk -v n="$SHARED_SEEDS" 'NR % 97 == 1 && c < n { print; c++ }' |
        while read -r f; do cp "$f" "$2/shared-$(basename "$f")"; done
    # PNG and WebP are rare in the shared sets: make sure each format is present once.
    if [ "$1" = image ]; then
        for ext in png webp; do
            f=$(find -L "$data" -type f -name "*.$ext" -size -$SHARED_SEED_MAX 2>/dev/null | sort | head -n 1)
            [ -n "$f" ] && cp "$f" "$2/shared-$(basename "$f")"
        done
    fi
    touch "$2/.shared-seeded"
}

# The smoke run keeps its corpus, logs and crashes apart, so it can run beside `make fuzz`.
RUN=$BUILD
[ $SMOKE -eq 1 ] && RUN=$BUILD/smoke
mkdir -p "$RUN/artifacts" "$RUN/logs" "$RUN/corpus"
printf '%-24s %12s %8s %8s %8s  %s\n' target executions cov ft crashes result
failed=0
for name in "${NAMES[@]}"; do
    bin="$BUILD/fuzz_$name"
    if [ ! -x "$bin" ]; then echo "fuzz: no target fuzz_$name" >&2; failed=1; continue; fi
    corpus="$RUN/corpus/$name"
    art="$RUN/artifacts/$name"
    log="$RUN/logs/$name.log"
    mkdir -p "$corpus" "$art"
    seed_shared "$name" "$corpus"
    seeds=()
    [ -d "$ROOT/tests/fuzz/seeds/$name" ] && seeds+=("$ROOT/tests/fuzz/seeds/$name")
    # The first corpus dir receives new inputs; the committed seeds are only read.
    # shellcheck disable=SC2086
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    nice -n 10 "$bin" -max_total_time="$SECS" -rss_limit_mb=$RSS_MB -timeout=$UNIT_TIMEOUT \
        -print_final_stats=1 -artifact_prefix="$art/" ${FS_FUZZ_ARGS:-} \
        "$corpus" "${seeds[@]}" >"$log" 2>&1
    rc=$?
    # -a: the libraries' own messages may quote binary input.
    execs=$(grep -a '^stat::number_of_executed_units:' "$log" | tail -n 1 | sed 's/.*: *//')
    stat=$(grep -aE '^#[0-9]+.* cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$stat")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$stat")
    crashes=$(grep -ac 'Test unit written to' "$log")
    result=ok
    if [ $rc -ne 0 ] || [ "$crashes" -ne 0 ]; then
        result="FAILED (exit $rc; log $log)"
        failed=1
    fi
    printf '%-24s %12s %8s %8s %8s  %s\n' "fuzz_$name" "${execs:-?}" "${cov:-?}" "${ft:-?}" \
        "$crashes" "$result"
    if [ "$result" != ok ]; then
        grep -aE 'ERROR: |SUMMARY: |runtime error|Assertion|Test unit written to' "$log" | head -n 8 | sed 's/^/    /'
    fi
done

# The video and image corpora again, under valgrind memcheck in an uninstrumented build: ASan
# cannot see an overrun inside FFmpeg or the image libraries, valgrind can. Needs the release
# build's replay_video and replay_image (make build). Not in the smoke run (minutes, not s).
REL=${FS_RELEASE_BUILD:-$ROOT/build}
if [ $SMOKE -eq 0 ]; then
    if ! command -v valgrind >/dev/null || [ ! -x "$REL/replay_video" ]; then
        echo "valgrind replay: skipped (needs valgrind and $REL/replay_video: make build)"
    else
        for name in video image; do
            case " ${NAMES[*]} " in *" $name "*) ;; *) continue ;; esac
            log="$RUN/logs/$name.valgrind.log"
            # libhwy's rdtscp constructor: see tests/tools/hwy_timer_shim.c
            LD_PRELOAD="$REL/libfs_valgrind_shim.so" nice -n 10 valgrind -q --error-exitcode=99 \
                "$REL/replay_$name" "$RUN/corpus/$name" "$ROOT/tests/fuzz/seeds/$name" \
                >"$log.out" 2>"$log"
            rc=$?
            n=$(sed -n 's/^replayed \([0-9]*\) inputs$/\1/p' "$log.out")
            if [ $rc -eq 0 ]; then
                printf '%-24s %12s inputs under valgrind: no error\n' "replay_$name" "${n:-?}"
            else
                printf '%-24s %12s inputs under valgrind: FAILED (exit %s; log %s)\n' "replay_$name" "${n:-?}" "$rc" "$log"
                grep -a -m 12 '==' "$log" | sed 's/^/    /'
                failed=1
            fi
        done
    fi
fi
exit $failed
