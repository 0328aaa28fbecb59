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
# (grep without -q: reading to the end, so `cat` never dies of SIGPIPE and pipefail stays true)
reg_has() { wine reg query "$1" /v "$2" </dev/null 2>/dev/null | cat | grep "$2" >/dev/null; }

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

# The installed tray answers on the named pipe: host-info says so, and the native C host
# (built by scripts/test-windows.sh) tracks events and asks for the license through it.
tray_home="$out/tray-home"
mkdir -p "$tray_home"
export LICENSE_COMPANION_HOME="$(winpath "$tray_home")"
# Piped, not redirected to a file: Python under Wine 8 cannot start with a file as stdout.
(timeout 300 wine "$inst/$app-tray.exe" </dev/null 2>&1 | cat >"$out/tray.log") &
tray_pid=$!
info=""
deadline=$((SECONDS + 90))
while [[ $SECONDS -lt $deadline ]]; do
    info="$(wrun 30 "$inst/$app.exe" host-info --json 2>/dev/null || true)"
    grep '"running": true' <<<"$info" >/dev/null && break
    sleep 1
done
grep -q '"transport": "pipe"' <<<"$info" && grep -q '"running": true' <<<"$info" \
    || { tail -20 "$out/tray.log" >&2; fail "the installed tray does not answer on the pipe: $info"; }
product="$(python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["product"])' <<<"$info")"
host_out="$(wrun 120 build/windows-host/host_win.exe "$product" 25 || true)"
grep -q '^flushed 0' <<<"$host_out" && grep -q '^license ' <<<"$host_out" \
    || fail "the C host over the installed tray's pipe: $host_out"
compgen -G "$tray_home/inbox/*.jsonl" >/dev/null && fail "the C host's events went to the inbox"
queued="$(wrun 60 "$inst/$app.exe" status --json 2>/dev/null | python3 -c \
    'import json,sys; print(json.load(sys.stdin)["backends"]["telemetrydeck"]["queued"])' || true)"
[[ "$queued" == "25" ]] || fail "the installed tray holds $queued of the C host's 25 events, not 25"
log "the installed tray answers on the pipe ($(grep -o '"address": "[^"]*"' <<<"$info")); the C host: $(tr '\n' ' ' <<<"$host_out")"
kill "$tray_pid" 2>/dev/null || true
timeout 60 wineserver -k || true
timeout 60 wineserver -w || true
unset LICENSE_COMPANION_HOME

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
