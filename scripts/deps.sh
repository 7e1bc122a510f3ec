#!/bin/sh
# Installs the Debian 12 packages fakescope needs to build and test.
# Idempotent: when everything is present it prints nothing and exits 0. Test-only packages
# (valgrind, python3-opencv for the OpenCV agreement test, python3-torchvision for the
# MobileNetV2 agreement test, chromium for the browser test) are installed too: a test that CI
# always skips is a test nobody runs.
# Usage: scripts/deps.sh [--bench|--soak]   (--bench adds the reference stacks used only by
# `make bench`; --soak adds wrk for `make soak`)
set -eu

PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev curl ca-certificates
libcmocka-dev libmicrohttpd-dev libjansson-dev libturbojpeg0-dev libspng-dev libwebp-dev
libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libhdf5-dev libsqlite3-dev
libssl-dev libseccomp-dev libcurl4-openssl-dev libxml2-dev libcairo2-dev libfontconfig-dev opencv-data ffmpeg jq python3
sqlite3 chromium valgrind
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

[ -z "$missing" ] && { browser_modules; exit 0; }

echo "deps: installing$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
browser_modules
