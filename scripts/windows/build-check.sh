#!/usr/bin/env bash
# Stage 2 of the Windows lane (scripts/test-windows.sh runs it unless --no-build): PyInstaller
# from build.spec under Wine builds the Windows onedir (both executables), makensis packs it
# (the script's `Target amd64-unicode`: Debian's default 32-bit stub does nothing under 64-bit
# Wine), `setup.exe /S` installs it into the prefix, the installed `license-companion.exe
# --self-test` passes, and `uninstall.exe /S /REMOVEDATA` leaves nothing behind: no files, no
# Start-menu entry, no Run value, no Uninstall key, no state folder.
# Everything is built under the lane's cache, never in the repository. Exit 0 = all checks pass.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/windows/prefix.sh
source scripts/windows/prefix.sh
prefix="$(lane_prefix)"
export WINEPREFIX="$prefix"
[[ -f "$prefix/.ready" ]] || { log "no prefix: run scripts/test-windows.sh first"; exit 2; }

fail() { log "build check FAILED: $*"; exit 1; }
# A Windows program with piped standard streams (see wpy), bounded by $1 seconds; its exit code.
wrun() { timeout "$1" wine "${@:2}" </dev/null 2> >(cat >&2) | cat; return "${PIPESTATUS[0]}"; }
reg_has() { wine reg query "$1" /v "$2" </dev/null 2>/dev/null | cat | grep -q "$2"; }

out="$cache/build"
rm -rf "$out"
mkdir -p "$out"
started=$SECONDS
timeout 900 scripts/windows/wpy -m PyInstaller --noconfirm --log-level WARN \
    --distpath "$(winpath "$out/dist")" --workpath "$(winpath "$out/work")" build.spec >&2 \
    || fail "PyInstaller"
onedir="$out/dist/license-companion"
for exe in license-companion.exe license-companion-tray.exe; do
    [[ -f "$onedir/$exe" ]] || fail "no $exe in the onedir"
done
log "PyInstaller onedir in $((SECONDS - started)) s ($(du -sm "$onedir" | cut -f1) MB)"

eval "$(python3 installer/branding.py --shell)"
app="$LC_APP_ID"
setup="$out/$app-$LC_VERSION-setup.exe"
timeout 600 makensis -WX -V2 -DAPP_ID="$app" -DDISPLAY_NAME="$LC_DISPLAY_NAME" \
    -DVERSION="$LC_VERSION" -DWIN_VERSION="$LC_WINDOWS_VERSION" -DPUBLISHER="$LC_PUBLISHER" \
    -DHOMEPAGE="$LC_HOMEPAGE" -DSOURCE_DIR="$onedir" -DOUTFILE="$setup" \
    installer/windows/license-companion.nsi >&2 || fail "makensis"

user_dir="$prefix/drive_c/users/$(id -un)"
inst="$user_dir/AppData/Local/Programs/$LC_DISPLAY_NAME"
link="$user_dir/AppData/Roaming/Microsoft/Windows/Start Menu/Programs/$LC_DISPLAY_NAME.lnk"
run_key='HKCU\Software\Microsoft\Windows\CurrentVersion\Run'
uninst_key="HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\$app"

wrun 300 "$setup" /S || fail "setup.exe /S exited $?"
timeout 60 wineserver -w
[[ -f "$inst/$app.exe" && -f "$inst/$app-tray.exe" && -f "$inst/uninstall.exe" ]] \
    || fail "setup.exe /S did not install the executables in $inst"
[[ -f "$link" ]] || fail "no Start-menu entry"
reg_has "$run_key" "$app" || fail "no Run value"
reg_has "$uninst_key" DisplayName || fail "no Uninstall key"

state="$out/selftest-home"
LICENSE_COMPANION_HOME="$(winpath "$state")" wrun 300 "$inst/$app.exe" --self-test >&2 \
    || fail "the installed $app.exe --self-test"
log "installed; the installed $app.exe --self-test passed"

wrun 300 "$inst/uninstall.exe" /S /REMOVEDATA || fail "uninstall.exe /S exited $?"
timeout 60 wineserver -w   # the uninstaller runs a copy of itself and returns at once
left=()
[[ -e "$inst" ]] && left+=("$inst")
[[ -e "$link" ]] && left+=("the Start-menu entry")
reg_has "$run_key" "$app" && left+=("the Run value")
reg_has "$uninst_key" DisplayName && left+=("the Uninstall key")
[[ ${#left[@]} -eq 0 ]] || fail "the uninstaller left: ${left[*]}"
log "uninstalled: nothing left; build stage $((SECONDS - started)) s"
rm -rf "$out"
