#!/usr/bin/env bash
# Make the macOS .dmg (drag to Applications) and .pkg (installs the app and turns on start at
# login for the installing user) from the PyInstaller BUNDLE. Runs on a Mac only; it has never
# run in our CI (Linux). Steps:
#
#   .venv/bin/pyinstaller --noconfirm build.spec      # on the Mac: dist/<Display Name>.app
#   SIGN_IDENTITY="Developer ID Application: ..." bash installer/macos/make-dmg.sh
#
# Signing is optional here (ad-hoc when SIGN_IDENTITY is unset: the app runs on the build Mac,
# Gatekeeper blocks it elsewhere). Notarisation (xcrun notarytool submit --wait, then
# xcrun stapler staple) needs the vendor's Apple account and is left to the vendor's pipeline.
set -euo pipefail
[ "$(uname -s)" = Darwin ] || { echo "make-dmg: needs macOS (hdiutil, pkgbuild, codesign)" >&2; exit 2; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
eval "$("$PY" "$ROOT/installer/branding.py" --shell)"
LABEL="$("$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import branding; print(branding.login_item_label())' "$ROOT/installer")"
APP_BUNDLE="$ROOT/dist/$LC_DISPLAY_NAME.app"
PROGRAM="/Applications/$LC_DISPLAY_NAME.app/Contents/MacOS/$LC_APP_ID"
WORK="$ROOT/build/macos"
DMG="$ROOT/dist/$LC_APP_ID-$LC_VERSION.dmg"
PKG="$ROOT/dist/$LC_APP_ID-$LC_VERSION.pkg"
[ -d "$APP_BUNDLE" ] || { echo "make-dmg: $APP_BUNDLE missing; run pyinstaller build.spec first" >&2; exit 2; }

codesign --force --deep --options runtime --timestamp=none --sign "${SIGN_IDENTITY:--}" "$APP_BUNDLE"
"$APP_BUNDLE/Contents/MacOS/$LC_APP_ID" --self-test --no-keyring >/dev/null

rm -rf "$WORK" && mkdir -p "$WORK/dmg" "$WORK/scripts"
cp -R "$APP_BUNDLE" "$WORK/dmg/"
ln -s /Applications "$WORK/dmg/Applications"
hdiutil create -volname "$LC_DISPLAY_NAME" -srcfolder "$WORK/dmg" -ov -format UDZO "$DMG"

# .pkg: postinstall writes the LaunchAgent for the user at the console (pkg scripts run as root).
sed -e "s|@LABEL@|$LABEL|g" -e "s|@PROGRAM@|$PROGRAM|g" "$ROOT/installer/macos/LaunchAgent.plist.in" \
    > "$WORK/scripts/agent.plist"
plutil -lint "$WORK/scripts/agent.plist"
cat > "$WORK/scripts/postinstall" <<POST
#!/bin/sh
user=\$(stat -f %Su /dev/console)
[ -n "\$user" ] && [ "\$user" != root ] || exit 0
home=\$(dscl . -read "/Users/\$user" NFSHomeDirectory | awk '{print \$2}')
mkdir -p "\$home/Library/LaunchAgents"
install -m 0644 -o "\$user" "\$(dirname "\$0")/agent.plist" "\$home/Library/LaunchAgents/$LABEL.plist"
exit 0
POST
chmod +x "$WORK/scripts/postinstall"
pkgbuild --component "$APP_BUNDLE" --install-location /Applications --scripts "$WORK/scripts" \
    --identifier "$LABEL.pkg" --version "$LC_VERSION" ${PKG_SIGN_IDENTITY:+--sign "$PKG_SIGN_IDENTITY"} "$PKG"
ls -l "$DMG" "$PKG"
