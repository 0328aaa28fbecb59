"""The frozen onedir build in ``dist/``: its size, and its start → icon in the real tray.

The build is the one ``scripts/build-all.sh`` makes (``pyinstaller build.spec``). ``python -m
benchmarks`` builds it first (``ensure_build``, timed apart from every figure) when a full run
finds it missing or older than the sources, or when ``--build`` asks; ``--quick`` and
``--no-build`` measure what is there. The size baseline is the build at commit a37a825, before
its ICU data and system libraries were cut; start → icon alternates with the smallest PySide6
tray in the same X session, as the tray figure does (benchmarks/bench_tray.py's ``TrayRunner``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.core import REPO, Row, Settings, Stat, alternate, clean_env, failed

BEFORE_MIB = 130.3  # dist/license-companion at commit a37a825, measured as tree_bytes does
SIZE = "frozen onedir size"
START = "frozen start → icon docked"
SIZE_GOAL = "≤ 100 MiB"
START_GOAL = "≤ 1.3× the smallest tray"
DIST = REPO / "dist"
# What the build is made from: a newer file here makes dist/ stale.
SOURCES = ("app", "resources", "build.spec", "installer/entry.py", "installer/branding.py",
           "installer/icudata.py")
BUILD_LOG = REPO / "build" / "bench-pyinstaller.log"


def find_build(dist: Path = DIST) -> Path | None:
    """The onedir folder's executable ``license-companion`` (or ``.exe``), if built."""
    if not dist.is_dir():
        return None
    for exe in sorted(dist.glob("*/license-companion*")):
        if exe.is_file() and os.access(exe, os.X_OK):
            return exe
    return None


def newer_source(exe: Path) -> Path | None:
    """A source file changed after ``exe`` was built (the first found), else None."""
    built = exe.stat().st_mtime
    for name in SOURCES:
        top = REPO / name
        paths = [top] if top.is_file() else top.rglob("*") if top.is_dir() else []
        for path in paths:
            if "__pycache__" not in path.parts and path.is_file() and path.stat().st_mtime > built:
                return path
    return None


def ensure_build(mode: str, python: str = sys.executable) -> dict[str, Any]:
    """Build ``dist/`` with PyInstaller when ``mode`` says so; what happened, for the JSON.

    ``mode``: "always" (``--build``), "auto" (the full run: only when missing or stale) or
    "never" (``--quick``, ``--no-build``). A failed build is reported, not raised: the frozen
    rows then say "not built".
    """
    exe = find_build()
    stale = newer_source(exe) if exe else None
    reason = ("asked (--build)" if mode == "always" else "no build in dist/" if exe is None
              else f"{stale.relative_to(REPO)} is newer than the build" if stale else "")
    if mode == "never" or (mode == "auto" and not reason):
        return {"built": False, "reason": reason or "up to date"}
    print(f"[bench] building dist/ ({reason}) ...", file=sys.stderr, flush=True)
    BUILD_LOG.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(BUILD_LOG, "wb") as log:
        done = subprocess.run([python, "-m", "PyInstaller", "--noconfirm", "--clean",
                               "--log-level", "WARN", str(REPO / "build.spec")], cwd=REPO,
                              stdout=log, stderr=subprocess.STDOUT, check=False)
    seconds = round(time.monotonic() - started, 1)
    if done.returncode != 0:
        print(f"[bench] build failed ({done.returncode}); see {BUILD_LOG}", file=sys.stderr)
    return {"built": done.returncode == 0, "reason": reason, "seconds": seconds,
            "returncode": done.returncode, "log": str(BUILD_LOG)}


def tree_bytes(folder: Path) -> int:
    """Bytes of every file under ``folder`` (symlinks counted as links, not followed)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            total += os.lstat(os.path.join(root, name)).st_size
    return total


def part_of(relative: Path) -> str:
    """The part of the bundle a file belongs to, for the size breakdown."""
    parts, name = relative.parts, relative.name
    if "plugins" in parts:
        return "Qt plugins"
    if name.startswith("libicu"):
        return "ICU"
    if name.startswith("libQt6"):
        return "Qt libraries"
    if parts[0] != "_internal" or len(parts) == 1:
        return "executable (bootloader + Python modules)"
    top = parts[1]
    if top in ("PySide6", "shiboken6"):
        return "PySide6 bindings"
    if top in ("python3.11", "base_library.zip") or name.startswith("libpython"):
        return "Python runtime"
    if top.startswith("lib") and ".so" in top:
        return "other shared libraries"
    return top.split("-")[0]


def breakdown(folder: Path, top: int = 8) -> dict[str, float]:
    """MiB per part of the bundle, largest first (the rest summed as "other")."""
    sizes: dict[str, int] = {}
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(root, name)
            key = part_of(path.relative_to(folder))
            sizes[key] = sizes.get(key, 0) + os.lstat(path).st_size
    ranked = sorted(sizes.items(), key=lambda kv: -kv[1])
    out = {k: round(v / 2**20, 1) for k, v in ranked[:top]}
    if len(ranked) > top:
        out["other"] = round(sum(v for _k, v in ranked[top:]) / 2**20, 1)
    return out


def start_to_icon(s: Settings, exe: Path) -> Row:
    """The frozen tray and the smallest tray, started in turns on one desktop."""
    from benchmarks.bench_tray import TrayRunner
    from benchmarks.desktop import Desktop, missing_tools
    from benchmarks.session import user_session

    missing = missing_tools()
    if missing:
        return failed(START, "not available", f"needs {', '.join(missing)}", START_GOAL)
    # Both warmed first, as bench_tray does (a fresh build is not in the page cache yet); then
    # --quick proves the figure runs with one pair, the full run takes ``s.runs`` pairs.
    pairs = 1 if s.quick else s.runs
    with tempfile.TemporaryDirectory(prefix="lc-bench-frozen-") as tmp_text:
        tmp = Path(tmp_text)
        with user_session(tmp, s.python, clean_env()) as (env, session), \
                Desktop(tmp / "desktop.log", displays=range(500, 900)) as desktop:
            env = desktop.on_display(env)
            ours = TrayRunner(desktop, [str(exe), "tray"], env, tmp / "frozen.log")
            base = TrayRunner(desktop, [s.python, "-m", "benchmarks.smallest_tray"], env,
                              tmp / "smallest.log")
            base.start_to_icon()
            ours.start_to_icon()
            ours.rss.clear()
            base.rss.clear()
            a, b = alternate(pairs, ours.start_to_icon, base.start_to_icon)
    rss = sorted(ours.rss)[len(ours.rss) // 2]
    base_rss = sorted(base.rss)[len(base.rss) // 2]
    warm = f"{pairs} pair{'s' if pairs > 1 else ''} after one warm-up start of each"
    return Row(START, Stat(a, "s"), Stat(b, "s"), "smallest PySide6 tray (not frozen)", START_GOAL,
               note=f"{exe.relative_to(REPO) if exe.is_relative_to(REPO) else exe} tray vs "
                    f"benchmarks/smallest_tray.py, alternating, {warm}; Xvfb+openbox+trayer, "
                    f"XEmbed; {session}; idle RSS 3 s after icon: frozen {rss:.1f} MiB, "
                    f"smallest {base_rss:.1f} MiB",
               extra={"idle_rss_mib": {"frozen": ours.rss, "smallest": base.rss}})


def run(s: Settings) -> list[Row]:
    """Size and start → icon of the build in ``dist/`` (the run builds it first if asked)."""
    exe = find_build()
    if exe is None:
        note = "no build in dist/ (python -m benchmarks --build, or bash scripts/build-all.sh)"
        return [failed(SIZE, "not built", note, SIZE_GOAL), failed(START, "not built", note,
                                                                    START_GOAL)]
    stale = newer_source(exe)
    built = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(exe.stat().st_mtime))
    state = (f"STALE: {stale.relative_to(REPO)} is newer (rebuild: --build)" if stale
             else "up to date with the sources")
    folder = exe.parent
    parts = breakdown(folder)
    size = Row(SIZE, Stat([tree_bytes(folder) / 2**20], "MiB"), Stat([BEFORE_MIB], "MiB"),
               "the build at commit a37a825", SIZE_GOAL,
               note=f"{folder.relative_to(REPO)}, built {built}, {state}; du -sb by part: "
                    + ", ".join(f"{k} {v:g}" for k, v in parts.items()),
               extra={"breakdown_mib": parts, "stale": bool(stale)})
    try:
        start = start_to_icon(s, exe)
    except Exception as exc:  # the size row stands on its own
        start = failed(START, "error", f"{type(exc).__name__}: {exc}", START_GOAL)
    return [size, start]
