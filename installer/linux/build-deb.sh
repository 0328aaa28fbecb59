#!/usr/bin/env bash
# Build dist/<app_id>_<version>-1_<arch>.deb from the PyInstaller onedir output.
#
#   bash installer/linux/build-deb.sh [ONEDIR] [OUTDIR]      (defaults: dist/<app_id>, dist)
#
# Layout (see installer/linux/README for why each piece is where it is):
#   /opt/<app_id>/                         the onedir build, untouched
#   /usr/bin/<app_id>                      symlink to it (the bootloader resolves it)
#   /usr/share/applications/<app_id>.desktop          menu entry, starts the tray
#   /etc/xdg/autostart/<app_id>.desktop               start at login (a conffile); a user turns it
#                                                     off with ~/.config/autostart/<app_id>.desktop
#                                                     containing Hidden=true (the tray's switch does that)
#   /usr/share/icons/hicolor/*/apps/<app_id>.png|svg  the app icon
#   /usr/share/doc/<app_id>/copyright, changelog.Debian.gz ; /usr/share/man/man1/<app_id>.1.gz
# Name, version, display name and icon come from installer/branding.py (app/__init__.py + $LC_BRANDING).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY=python3
eval "$("$PY" "$ROOT/installer/branding.py" --shell)"
APP="$LC_APP_ID"
ONEDIR="${1:-$ROOT/dist/$APP}"
OUTDIR="${2:-$ROOT/dist}"
# The tray's subcommand (app/cli/tray.py); the menu entry and the autostart entry run it.
TRAY_COMMAND="${LC_TRAY_COMMAND:-tray}"
DEB_REVISION="${LC_DEB_REVISION:-1}"
ARCH="$(dpkg --print-architecture)"
VERSION="$LC_VERSION-$DEB_REVISION"
STAGE="$ROOT/build/deb"
PKG="$STAGE/root"
DEB="$OUTDIR/${APP}_${VERSION}_${ARCH}.deb"

[ -x "$ONEDIR/$APP" ] || { echo "build-deb: $ONEDIR/$APP missing; run pyinstaller build.spec first" >&2; exit 2; }

rm -rf "$STAGE"
mkdir -p "$PKG/DEBIAN" "$PKG/opt" "$PKG/usr/bin" "$PKG/usr/share/applications" "$PKG/etc/xdg/autostart" \
         "$PKG/usr/share/doc/$APP" "$PKG/usr/share/man/man1"
cp -a "$ONEDIR" "$PKG/opt/$APP"
ln -s "/opt/$APP/$APP" "$PKG/usr/bin/$APP"  # policy 10.5: absolute across top-level dirs

# --- icons: resources/icons/app-<size>.png and app.svg (the tray's icon set, or the vendor's) -------
RES="$STAGE/resources"
"$PY" "$ROOT/installer/branding.py" --stage "$RES" >/dev/null
found=0
for png in "$RES"/icons/app-*.png; do
    [ -f "$png" ] || continue
    size="$(basename "$png" .png)"; size="${size#app-}"
    case "$size" in *[!0-9]*) continue ;; esac
    mkdir -p "$PKG/usr/share/icons/hicolor/${size}x${size}/apps"
    install -m 0644 "$png" "$PKG/usr/share/icons/hicolor/${size}x${size}/apps/$APP.png"
    found=1
done
if [ -f "$RES/icons/app.svg" ]; then
    mkdir -p "$PKG/usr/share/icons/hicolor/scalable/apps"
    install -m 0644 "$RES/icons/app.svg" "$PKG/usr/share/icons/hicolor/scalable/apps/$APP.svg"
    found=1
fi
if [ "$found" = 0 ]; then
    echo "build-deb: WARNING: no resources/icons/app-<size>.png or app.svg; using a placeholder icon" >&2
    mkdir -p "$PKG/usr/share/icons/hicolor/48x48/apps"
    convert -size 48x48 xc:'#2f6f9f' -fill white -gravity center -pointsize 30 -annotate 0 'L' \
        "$PKG/usr/share/icons/hicolor/48x48/apps/$APP.png"
fi

# --- desktop entries ------------------------------------------------------------------------------
desktop_entry() {  # $1: extra lines
    cat <<EOF
[Desktop Entry]
Type=Application
Version=1.5
Name=$LC_DISPLAY_NAME
Comment=$LC_SUMMARY
Exec=$APP $TRAY_COMMAND
TryExec=$APP
Icon=$APP
Terminal=false
Categories=Utility;
Keywords=license;telemetry;privacy;
StartupNotify=false
$1
EOF
}
desktop_entry "" > "$PKG/usr/share/applications/$APP.desktop"
desktop_entry "X-GNOME-Autostart-enabled=true
X-GNOME-Autostart-Delay=5
X-KDE-autostart-after=panel
NoDisplay=true" > "$PKG/etc/xdg/autostart/$APP.desktop"
if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate "$PKG/usr/share/applications/$APP.desktop" "$PKG/etc/xdg/autostart/$APP.desktop"
fi

# --- docs -----------------------------------------------------------------------------------------
YEAR="$(date -u +%Y)"
cat > "$PKG/usr/share/doc/$APP/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: $LC_DISPLAY_NAME
Source: $LC_HOMEPAGE
Comment: /opt/$APP bundles a Python runtime, Qt 6 / PySide6 (LGPL-3), keyring (MIT),
 requests (Apache-2.0), platformdirs (MIT) and cryptography (Apache-2.0 or BSD-3-Clause)
 together with the system libraries they link to, as built by PyInstaller (GPL-2 with a
 bootloader exception). Their license texts are those of the respective projects.

Files: *
Copyright: $YEAR $LC_PUBLISHER
License: Proprietary
 Distributed by $LC_PUBLISHER under the terms of the product it accompanies.
EOF
DATE="$(date -u -R -d "@${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)}")"
cat > "$STAGE/changelog.Debian" <<EOF
$APP ($VERSION) unstable; urgency=medium

  * Binary package built from the PyInstaller onedir build of $LC_VERSION.

 -- $LC_MAINTAINER  $DATE
EOF
gzip -9n -c "$STAGE/changelog.Debian" > "$PKG/usr/share/doc/$APP/changelog.Debian.gz"
sed -e "s/@APP@/$APP/g" -e "s/@VERSION@/$LC_VERSION/g" -e "s/@NAME@/$LC_DISPLAY_NAME/g" \
    "$ROOT/installer/linux/license-companion.1.in" | gzip -9n > "$PKG/usr/share/man/man1/$APP.1.gz"

# --- maintainer scripts and metadata ----------------------------------------------------------------
install -m 0755 "$ROOT/installer/linux/postrm" "$PKG/DEBIAN/postrm"
echo "/etc/xdg/autostart/$APP.desktop" > "$PKG/DEBIAN/conffiles"

# Depends: the system libraries the bundle links to: those PyInstaller leaves out on purpose (glibc,
# libGL/libEGL, libxcb: they must match the machine) and the ones build.spec leaves to the system
# (SYSTEM_LIBS: what apt itself depends on), found with ldd and mapped with dpkg -S;
# fontconfig-config for the font configuration (its Depends pull in a font).
# awk reads ldd's whole output: with pipefail, `head -1` could end ldd with SIGPIPE (exit 141).
GLIBC="$(ldd --version | awk 'NR == 1 {print $NF}')"
SYSLIBS="$(find "$PKG/opt/$APP" -type f \( -name '*.so*' -o -name "$APP" \) -print0 \
    | LD_LIBRARY_PATH="$PKG/opt/$APP/_internal:$PKG/opt/$APP/_internal/PySide6/Qt/lib" xargs -0 ldd 2>/dev/null \
    | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | grep -v "^$PKG/" | sort -u)"
MISSING="$(find "$PKG/opt/$APP" -type f -name '*.so*' -print0 \
    | LD_LIBRARY_PATH="$PKG/opt/$APP/_internal:$PKG/opt/$APP/_internal/PySide6/Qt/lib" xargs -0 ldd 2>/dev/null \
    | awk '$3 == "not" {print $1}' | sort -u | tr '\n' ' ')"
[ -z "$MISSING" ] || echo "build-deb: note: not found on the build machine (dlopen'ed or optional): $MISSING" >&2
# dpkg -S knows a file by the path its package ships: on a merged-/usr system (Debian 12) zlib1g,
# libgcc-s1, liblzma5... ship /lib/... while readlink -f answers /usr/lib/..., so try both.
owner() { dpkg -S "$1" 2>/dev/null || dpkg -S "${1#/usr}" 2>/dev/null || true; }
PKGS="$(for lib in $SYSLIBS; do owner "$(readlink -f "$lib")" | cut -d: -f1; done \
    | sort -u | { grep -vE '^(libc6|libc-bin)$' || true; } | tr '\n' ' ')"
if [ -z "$SYSLIBS" ] || [ -z "$PKGS" ]; then
    echo "build-deb: could not work out Depends (system libraries: '${SYSLIBS//$'\n'/ }'," \
         "packages: '$PKGS'); is ldd/dpkg working?" >&2
    exit 1
fi
echo "build-deb: Depends on the system libraries of: $PKGS" >&2
DEPENDS="libc6 (>= $GLIBC)"
for p in $PKGS fontconfig-config; do DEPENDS="$DEPENDS, $p"; done
INSTALLED_SIZE="$(du -sk --exclude=DEBIAN "$PKG" | cut -f1)"
cat > "$PKG/DEBIAN/control" <<EOF
Package: $APP
Version: $VERSION
Architecture: $ARCH
Maintainer: $LC_MAINTAINER
Installed-Size: $INSTALLED_SIZE
Depends: $DEPENDS
Recommends: gnome-keyring | kwalletmanager | keepassxc
Section: utils
Priority: optional
Homepage: $LC_HOMEPAGE
Description: $LC_SUMMARY
 $LC_DISPLAY_NAME keeps the product's license key in the desktop's keyring
 (Secret Service) and sends only the usage data the user agreed to. It runs
 as a tray icon and starts at login; turn that off from the tray menu.
 .
 The application is a self-contained build under /opt/$APP.
EOF

# Normalise permissions (umask and cp -a can leave group-writable files).
find "$PKG" -type d -exec chmod 0755 {} +
find "$PKG" -type f -exec chmod go-w {} +
find "$PKG/opt" -type f -name '*.so*' -exec chmod 0644 {} +  # libraries are not programs
(cd "$PKG" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) > "$PKG/DEBIAN/md5sums"
chmod 0644 "$PKG/DEBIAN/md5sums" "$PKG/DEBIAN/control" "$PKG/DEBIAN/conffiles"

mkdir -p "$OUTDIR"
dpkg-deb --root-owner-group --threads-max="$(nproc)" -Z"${LC_DEB_COMPRESSION:-xz}" --build "$PKG" "$DEB" >/dev/null
echo "$DEB"
