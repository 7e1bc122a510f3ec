#!/bin/sh
# Installs the Debian 12 packages fakescope needs to build and test.
# Idempotent: when everything is present it prints nothing and exits 0. Test-only packages
# (valgrind, python3-opencv for the OpenCV agreement test, python3-torchvision for the
# MobileNetV2 agreement test, chromium for the browser test, PostgreSQL 15 and nginx for the
# cluster tests, which start their own throwaway server with scripts/pgtmp.sh) are installed
# too: a test that CI always skips is a test nobody runs.
# Usage: scripts/deps.sh [--bench|--soak]   (--bench adds the reference stacks used only by
# `make bench`; --soak adds wrk for `make soak`)
set -eu

PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev curl ca-certificates
libcmocka-dev libmicrohttpd-dev libjansson-dev libturbojpeg0-dev libspng-dev libwebp-dev
libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libhdf5-dev libsqlite3-dev
libssl-dev libseccomp-dev libcurl4-openssl-dev libxml2-dev libcairo2-dev libfontconfig-dev opencv-data ffmpeg jq python3
sqlite3 chromium valgrind
postgresql-15 postgresql-client libpq-dev nginx
python3-opencv python3-numpy python3-torchvision"

if [ "${1:-}" = "--soak" ]; then
    PKGS="$PKGS wrk"
fi
if [ "${1:-}" = "--bench" ]; then
    PKGS="$PKGS python3-torch python3-numpy python3-opencv python3-flask wrk hyperfine"
fi

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done

# The browser test drives Debian's chromium with playwright-core, pinned in tests/browser/
# (package-lock.json); PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD keeps npm from fetching a browser.
browser_modules() {
    local b
    b="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
    if command -v npm >/dev/null && [ ! -f "$b/node_modules/playwright-core/package.json" ]; then
        echo "deps: npm ci in tests/browser" >&2
        (cd "$b" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund >/dev/null 2>&1) ||
            echo "deps: npm ci failed; the browser test will be skipped" >&2
    fi
    return 0
}

# Third-party network weights (face detector, landmarks) come only from these pinned npm
# packages: `npm pack` fetches the exact version, the tarball and every file used are checked by
# SHA-256, and only those files are kept, in $FAKESCOPE_THIRD_PARTY (default
# ~/.cache/fakescope/third_party/<package>-<version>/). `fakescope models import` converts them
# (docs/faces.md); nothing is fetched at run time and the repository holds none of them.
# Each line: package version tarball-sha256, then path:sha256 for each file kept.
WEIGHT_PKGS='@mediapipe/face_detection 0.4.1657300184 a118cde74923dc4435257fbfbb613464a0f58d115dff6314d4ff96c8aebf6419 face_detection_short_range.tflite:3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633 face_detection_full_range.tflite:99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3 LICENSE-from-package.json:-
@vladmandic/face-api 1.7.15 0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031 model/face_landmark_68_model-weights_manifest.json:ca4886639f86e99b39fed0c155f81b63317225773bd9616716e887b0153389c9 model/face_landmark_68_model.bin:4611ef65c87d836d03d684b30eec4d195d8b219fa1dd58fc58945831c6b9299b LICENSE:-'

weight_packages() {
    local root line pkg ver tsha files dir tmp tgz f path sum ok
    root="${FAKESCOPE_THIRD_PARTY:-${HOME:-/tmp}/.cache/fakescope/third_party}"
    printf '%s\n' "$WEIGHT_PKGS" | while read -r pkg ver tsha files; do
        dir="$root/$(printf '%s' "$pkg" | tr -d '@' | tr '/' '-')-$ver"
        ok=1
        for f in $files; do
            path="${f%%:*}"; sum="${f##*:}"
            [ "$sum" = "-" ] && continue
            [ -f "$dir/$path" ] && [ "$(sha256sum "$dir/$path" | cut -d' ' -f1)" = "$sum" ] || ok=0
        done
        [ "$ok" = 1 ] && continue
        if ! command -v npm >/dev/null; then
            echo "deps: npm is missing; cannot install $pkg@$ver (face models)" >&2
            return 1
        fi
        echo "deps: npm pack $pkg@$ver" >&2
        tmp="$(mktemp -d)"
        (cd "$tmp" && npm pack --silent "$pkg@$ver" >/dev/null 2>&1) || {
            echo "deps: npm pack $pkg@$ver failed" >&2; rm -rf "$tmp"; return 1; }
        tgz="$(ls "$tmp"/*.tgz)"
        if [ "$(sha256sum "$tgz" | cut -d' ' -f1)" != "$tsha" ]; then
            echo "deps: $pkg@$ver: tarball SHA-256 differs from the pinned one" >&2
            rm -rf "$tmp"; return 1
        fi
        tar xzf "$tgz" -C "$tmp"
        rm -rf "$dir"; mkdir -p "$dir"
        for f in $files; do
            path="${f%%:*}"; sum="${f##*:}"
            if [ "$path" = "LICENSE-from-package.json" ]; then
                # This package ships no licence file; its package.json names Apache-2.0.
                jq -r '"\(.name) \(.version): licence \(.license)"' "$tmp/package/package.json" >"$dir/$path"
                continue
            fi
            mkdir -p "$dir/$(dirname "$path")"
            cp "$tmp/package/$path" "$dir/$path"
            if [ "$sum" != "-" ] && [ "$(sha256sum "$dir/$path" | cut -d' ' -f1)" != "$sum" ]; then
                echo "deps: $pkg@$ver: $path SHA-256 differs from the pinned one" >&2
                rm -rf "$tmp" "$dir"; return 1
            fi
        done
        rm -rf "$tmp"
    done
}

if [ -z "$missing" ]; then
    browser_modules
    weight_packages
    exit 0
fi

echo "deps: installing$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
browser_modules
weight_packages
