#!/bin/sh
# Installs the Debian 12 packages fakescope needs to build and test.
# Idempotent: when everything is present it prints nothing and exits 0.
# Usage: scripts/deps.sh [--bench]   (--bench adds the reference stacks used only by `make bench`)
set -eu

PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev curl ca-certificates
libcmocka-dev libmicrohttpd-dev libjansson-dev libturbojpeg0-dev libspng-dev libwebp-dev
libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libhdf5-dev libsqlite3-dev
libssl-dev libcurl4-openssl-dev libxml2-dev libcairo2-dev libfontconfig-dev opencv-data ffmpeg jq python3"

if [ "${1:-}" = "--bench" ]; then
    PKGS="$PKGS python3-torch python3-numpy python3-opencv python3-flask wrk hyperfine"
fi

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
