#!/bin/bash
# The web page in a real browser: Debian's chromium, driven by playwright-core (tests/browser/),
# against a real server with the two DF MesoNet models and the MesoNet test images as explorer
# dataset. Checks errors, the kept key, an image and a video check (verdict, face boxes drawn
# against the API's own answer, the timeline), Grad-CAM overlays with Explain, the explorer, the
# dataset game and the management view of an admin key (lists, paging, create/delete), and saves
# screenshots of every view at 1280x800 and 390x844 under tests/artifacts/browser-<build>/.
set -euo pipefail
: "${FAKESCOPE:?} ${FS_SHARED_DATA:?} ${FS_SOURCE_DIR:?}"
D=$FS_SHARED_DATA
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || { echo "skipped: $CHROMIUM is not installed"; exit 77; }
command -v node >/dev/null || { echo "skipped: node is not installed"; exit 77; }
if [ ! -d "$D/mesonet/weights" ] || [ ! -f "$D/dfdc/videos/real/lynaeydofd.mp4" ]; then
    echo "skipped: $D is absent"; exit 77
fi
B=$FS_SOURCE_DIR/tests/browser
if [ ! -f "$B/node_modules/playwright-core/package.json" ]; then
    # pinned by package-lock.json; no browser is downloaded (chromium comes from Debian)
    (cd "$B" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund >/dev/null 2>&1) ||
        { echo "skipped: npm ci could not install playwright-core"; exit 77; }
fi
. "$(dirname "$0")/lib.sh"

M="$FS_TMP/models"
fs_import_originals "$D" "$M" all
fs_start --models "$M" --dataset "$D/mesonet/test_images" --web "$FS_SOURCE_DIR/web"
[ -n "$FS_ADMIN_KEY" ] || fs_fail "no admin key printed"

SHOTS=$FS_SOURCE_DIR/tests/artifacts/browser-$(basename "$(dirname "$FAKESCOPE")")
rm -rf "$SHOTS"
FS_URL=$FS_URL FS_KEY=$FS_ADMIN_KEY FS_IMAGE=$D/mesonet/test_images/df/df00204.jpg \
FS_VIDEO=$D/dfdc/videos/real/lynaeydofd.mp4 FS_FRAMES=4 FS_MODELS=meso4-df,mesoinception4-df \
FS_NETWORK=$M/meso4-df.safetensors \
FS_SHOTS=$SHOTS CHROMIUM=$CHROMIUM HOME=$FS_TMP timeout 240 node "$B/page_test.mjs" ||
    fs_fail "the browser test failed (screenshots in $SHOTS)"
echo "ok: screenshots in $SHOTS"
