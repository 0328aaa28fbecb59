#!/usr/bin/env bash
# Install the Debian packages the tests (or, with --runtime, the app) need.
#
# Why a script: a fresh Debian 12 CI machine has none of the real parts our tests use — the
# Secret Service (gnome-keyring on a private D-Bus), an X server with a tray for the tray tests,
# Qt's xcb libraries, and the packaging tools (nsis, lintian, fakeroot). It is idempotent and
# fast when everything is present: dpkg-query decides, apt-get runs only for what is missing.
#
# Usage: scripts/install-system-deps.sh [--runtime | --windows]
#   --runtime   only what the app itself needs at run time (Qt's xcb libs, the keyring daemon)
#   --windows   the Windows test lane's tools (scripts/test-windows.sh): 64-bit Wine, mingw for
#               its stand-in DLLs, NSIS for the installer, flock
# Environment: SKIP_SYSTEM_DEPS=1 skips everything (non-Debian machines that provide the parts
# some other way); APT_TIMEOUT (default 900) bounds each apt-get call in seconds.
set -euo pipefail

if [[ "${SKIP_SYSTEM_DEPS:-0}" == "1" ]]; then
    echo "install-system-deps: skipped (SKIP_SYSTEM_DEPS=1)" >&2
    exit 0
fi

# What the app needs on a desktop: Qt's xcb platform plugin and its libraries, fonts via
# fontconfig, D-Bus, and a Secret Service for keyring.
runtime=(
    gnome-keyring dbus dbus-x11
    libxcb-cursor0 libxkbcommon-x11-0 libegl1 libgl1 libxcb-icccm4 libxcb-image0
    libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0
    libxcb-xkb1 libfontconfig1 libdbus-1-3
)
# Only for tests and builds: python3-venv because Debian's python3 cannot make a venv without it,
# ca-certificates because pip needs HTTPS on a bare image; Xvfb + openbox + trayer + xdotool +
# x11-apps + imagemagick for the real-tray tests; fonts-noto-cjk for the Japanese and Chinese
# screenshots (without it their text is drawn as boxes); nsis/lintian/fakeroot for the installers;
# socat for the test host that speaks the host protocol without Python; time (GNU time) for the
# benchmark's peak RSS of a cold CLI call; gcc, g++ and nodejs for the C and Node host clients' tests.
dev=(
    python3 python3-venv ca-certificates
    libsecret-tools xvfb openbox trayer xdotool x11-apps imagemagick fonts-noto-cjk
    nsis lintian fakeroot patchelf socat time gcc g++ nodejs
)

packages=("${runtime[@]}")
case "${1:-}" in
    --runtime) ;;
    --windows) packages=(wine wine64 gcc-mingw-w64-x86-64 nsis util-linux python3-venv) ;;
    "") packages+=("${dev[@]}") ;;
    *) echo "usage: $0 [--runtime | --windows]" >&2; exit 2 ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-system-deps: this is not a Debian-based system; install the equivalents of:" >&2
    echo "  ${packages[*]}" >&2
    echo "or set SKIP_SYSTEM_DEPS=1 if they are already there." >&2
    exit 1
fi

missing=()
for pkg in "${packages[@]}"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
    [[ "$status" == "installed" ]] || missing+=("$pkg")
done
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

if [[ "$(id -u)" -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "install-system-deps: missing packages and no root (or password-less sudo):" >&2
    echo "  sudo apt-get install ${missing[*]}" >&2
    exit 1
fi

echo "install-system-deps: installing ${missing[*]}" >&2
apt_timeout="${APT_TIMEOUT:-900}"
apt_opts=(-q -y -o Acquire::Retries=3 -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)
export DEBIAN_FRONTEND=noninteractive
# env passes DEBIAN_FRONTEND through sudo, which would otherwise reset the environment.
timeout "$apt_timeout" "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get "${apt_opts[@]}" update >/dev/null
# With recommends: that is how every machine the suite was verified on got these packages
# (a minimal install without them was never tried, so it is not what CI should depend on).
timeout "$apt_timeout" "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get "${apt_opts[@]}" install "${missing[@]}" </dev/null >/dev/null
