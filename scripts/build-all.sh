#!/usr/bin/env bash
# Build everything that can be built on Linux, check it, and print times and sizes.
#
#   bash scripts/build-all.sh [--no-e2e] [--no-lintian]
#
# Steps (each timed):
#   1. onedir       pyinstaller build.spec from a clean build/ (dist/<app_id>/)
#   2. self-test    the frozen binary, offscreen, no display: --self-test --no-keyring (3 runs, best time)
#   3. deb          installer/linux/build-deb.sh, then dpkg-deb checks (control, layout)
#   4. lintian      findings compared with installer/linux/lintian-expected.txt: a new tag fails
#   5. nsis         makensis -WX on installer/windows/license-companion.nsi against a placeholder
#                   payload (the real payload is the onedir build made on Windows)
#   6. plist        installer/macos/LaunchAgent.plist.in rendered and parsed with plistlib
#   7. e2e          LC_PACKAGING=1 pytest tests/e2e/test_packaging.py on these artifacts: frozen
#                   self-test on the real keyring, dpkg -i, installed self-test, tray under Xvfb
#                   with a screenshot, dpkg -r / -P and what is left. Needs root (dpkg).
# Needs: the venv (.venv, `pip install -e .[dev]`) and the Debian packages from
# scripts/install-system-deps.sh (nsis, lintian, xvfb, openbox, trayer, xdotool, imagemagick)
# plus patchelf. Environment: LC_BRANDING=<folder> builds a vendor's branded variant.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
PY="$ROOT/.venv/bin/python"
RUN_E2E=1; RUN_LINTIAN=1
for arg in "$@"; do
    case "$arg" in
        --no-e2e) RUN_E2E=0 ;;
        --no-lintian) RUN_LINTIAN=0 ;;
        *) echo "usage: $0 [--no-e2e] [--no-lintian]" >&2; exit 2 ;;
    esac
done
eval "$("$PY" installer/branding.py --shell)"
APP="$LC_APP_ID"
SUMMARY=()
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs() { printf '%d.%02d' $(( $1 / 1000 )) $(( $1 % 1000 / 10 )); }  # milliseconds -> "s.cc"
step_start() { STEP="$1"; T0=$(now_ms); echo "=== $STEP" >&2; }
step_end() {  # $1: note
    SUMMARY+=("$(printf '%-10s %7ss  %s' "$STEP" "$(secs $(( $(now_ms) - T0 )))" "${1:-}")")
}
mib() { echo "$(( ($1 + 524288) / 1048576 )) MiB"; }

# 1. onedir -------------------------------------------------------------------------------------
step_start onedir
rm -rf build/build "dist/$APP"
mkdir -p build dist
.venv/bin/pyinstaller --noconfirm --clean --log-level WARN build.spec > build/pyinstaller.log 2>&1 \
    || { tail -40 build/pyinstaller.log >&2; exit 1; }
grep "^build.spec:" build/pyinstaller.log >&2 || true
ONEDIR_BYTES=$(du -sb "dist/$APP" | cut -f1)
ONEDIR_FILES=$(find "dist/$APP" -type f | wc -l)
step_end "dist/$APP: $(mib "$ONEDIR_BYTES"), $ONEDIR_FILES files"

# 2. frozen self-test ---------------------------------------------------------------------------
step_start self-test
ST_HOME="$(mktemp -d)"
best=999999
for _ in 1 2 3; do
    t0=$(now_ms)
    env -u DISPLAY -u WAYLAND_DISPLAY QT_QPA_PLATFORM=offscreen \
        "dist/$APP/$APP" --self-test --no-keyring --home "$ST_HOME" > build/self-test.json \
        || { cat build/self-test.json >&2; echo "frozen self-test failed" >&2; exit 1; }
    t=$(( $(now_ms) - t0 ))
    (( t < best )) && best=$t
done
rm -rf "$ST_HOME"
"$PY" - build/self-test.json <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["ok"] and r["frozen"], r
assert r["qt"]["platform"] == "offscreen", r["qt"]
assert "/_internal/resources" in r["resources"]["path"], r["resources"]
print(f"frozen self-test ok: Qt {r['qt']['qt_version']}, keyring backend {r['keyring']['backend']}",
      file=sys.stderr)
EOF
step_end "frozen --self-test ok, best of 3 runs $(secs "$best") s (process start to exit)"

# 3. deb ----------------------------------------------------------------------------------------
step_start deb
rm -f dist/"${APP}"_*.deb
DEB="$(bash installer/linux/build-deb.sh "dist/$APP" dist)"
dpkg-deb --info "$DEB" > build/deb-info.txt
dpkg-deb --contents "$DEB" > build/deb-contents.txt
for path in "./opt/$APP/$APP" "./usr/bin/$APP -> /opt/$APP/$APP" "./usr/share/applications/$APP.desktop" \
            "./etc/xdg/autostart/$APP.desktop" "./usr/share/doc/$APP/copyright" \
            "./usr/share/doc/$APP/changelog.Debian.gz" "./usr/share/man/man1/$APP.1.gz" \
            "./opt/$APP/_internal/resources/companion.toml"; do
    grep -qF -- "$path" build/deb-contents.txt || { echo "deb: $path missing" >&2; exit 1; }
done
grep -q "/usr/share/icons/hicolor/.*/apps/$APP\.\(png\|svg\)" build/deb-contents.txt \
    || { echo "deb: no hicolor icon" >&2; exit 1; }
[ "$(dpkg-deb --field "$DEB" Version)" = "$LC_VERSION-${LC_DEB_REVISION:-1}" ] || { echo "deb: version" >&2; exit 1; }
DEB_BYTES=$(stat -c %s "$DEB")
step_end "$(basename "$DEB"): $(mib "$DEB_BYTES") (Installed-Size $(dpkg-deb --field "$DEB" Installed-Size) KiB)"

# 4. lintian ------------------------------------------------------------------------------------
if [ "$RUN_LINTIAN" = 1 ]; then
    step_start lintian
    lintian --allow-root --no-tag-display-limit "$DEB" > build/lintian.txt 2>&1 || true
    sed -nE 's/^([EWIPX]): [^:]+: ([a-z0-9-]+).*/\1: \2/p' build/lintian.txt | sort -u > build/lintian-tags.txt
    NEW="$(grep -vxF -f <(grep -v '^#' installer/linux/lintian-expected.txt | sed '/^$/d') build/lintian-tags.txt || true)"
    if [ -n "$NEW" ]; then
        echo "lintian: findings not explained in installer/linux/README (full report: build/lintian.txt):" >&2
        echo "$NEW" >&2
        exit 1
    fi
    step_end "$(wc -l < build/lintian-tags.txt) tag kinds, all explained in installer/linux/README"
fi

# 5. nsis ---------------------------------------------------------------------------------------
step_start nsis
NSIS_DIR="build/nsis"; rm -rf "$NSIS_DIR"; mkdir -p "$NSIS_DIR/payload/_internal"
# Placeholder payload with the real layout: the compile proves the script, not a Windows build.
echo "placeholder: build the onedir app on Windows" > "$NSIS_DIR/payload/$APP.exe"
cp "$NSIS_DIR/payload/$APP.exe" "$NSIS_DIR/payload/$APP-tray.exe"
"$PY" installer/branding.py --stage "$NSIS_DIR/payload/_internal/resources" >/dev/null
ICON_ARGS=()
ICON_PNGS=$(ls "$NSIS_DIR"/payload/_internal/resources/icons/app-{16,32,48,64,128}.png 2>/dev/null || true)
if [ -n "$ICON_PNGS" ]; then
    # shellcheck disable=SC2086
    convert $ICON_PNGS "$NSIS_DIR/app.ico" && ICON_ARGS=("-DICON=$ROOT/$NSIS_DIR/app.ico")
fi
makensis -WX -V2 -DAPP_ID="$APP" -DDISPLAY_NAME="$LC_DISPLAY_NAME" -DVERSION="$LC_VERSION" \
    -DWIN_VERSION="$LC_WINDOWS_VERSION" -DPUBLISHER="$LC_PUBLISHER" -DHOMEPAGE="$LC_HOMEPAGE" \
    -DSOURCE_DIR="$ROOT/$NSIS_DIR/payload" -DOUTFILE="$ROOT/$NSIS_DIR/$APP-$LC_VERSION-setup-placeholder.exe" \
    "${ICON_ARGS[@]}" installer/windows/license-companion.nsi >&2
step_end "makensis ok ($NSIS_DIR/$APP-$LC_VERSION-setup-placeholder.exe; placeholder payload)"

# 6. plist --------------------------------------------------------------------------------------
step_start plist
"$PY" - <<'EOF'
import plistlib, sys
sys.path.insert(0, "installer")
import branding
label = branding.login_item_label()
text = open("installer/macos/LaunchAgent.plist.in").read()
text = text.replace("@LABEL@", label).replace("@PROGRAM@", "/Applications/X.app/Contents/MacOS/x")
data = plistlib.loads(text.encode())
assert data["Label"] == label and data["RunAtLoad"] is True, data
print(f"LaunchAgent plist ok (label {label})", file=sys.stderr)
EOF
bash -n installer/macos/make-dmg.sh
step_end "LaunchAgent template parses; make-dmg.sh syntax ok (not run: needs macOS)"

# 7. e2e ----------------------------------------------------------------------------------------
if [ "$RUN_E2E" = 1 ]; then
    step_start e2e
    LC_PACKAGING=1 LC_PACKAGING_REUSE=1 QT_QPA_PLATFORM=offscreen timeout 900 \
        .venv/bin/python -m pytest -q -p no:cacheprovider tests/e2e/test_packaging.py -m slow -s </dev/null \
        > build/e2e.log 2>&1 || { tail -60 build/e2e.log >&2; exit 1; }
    grep -oE "PACKAGING .*|[0-9]+ passed.*" build/e2e.log >&2 || true
    step_end "$(grep -E 'passed|skipped' build/e2e.log | tail -1)"
fi

echo
echo "== build-all: $LC_DISPLAY_NAME $LC_VERSION"
printf '%s\n' "${SUMMARY[@]}"
grep -oE "PACKAGING .*" build/e2e.log 2>/dev/null || true
