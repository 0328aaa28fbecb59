"""The frozen onedir build in ``dist/``: its size, and its start → icon in the real tray.

Only when ``dist/`` holds a build (``bash scripts/build-all.sh`` or ``pyinstaller build.spec``);
otherwise "not built" rows. The size baseline is the build as it was measured before this work
(130 MiB); start → icon is compared with the smallest PySide6 tray in the same session.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from benchmarks.core import REPO, Row, Settings, Stat, alternate, clean_env, failed

BEFORE_MIB = 130.0
SIZE = "frozen onedir size"
START = "frozen start → icon docked"


def find_build(dist: Path) -> Path | None:
    """The onedir folder holding an executable ``license-companion`` (or ``.exe``)."""
    if not dist.is_dir():
        return None
    for exe in sorted(dist.glob("*/license-companion*")):
        if exe.is_file() and os.access(exe, os.X_OK):
            return exe
    return None


def tree_mib(folder: Path) -> float:
    """Bytes of every file under ``folder`` (symlinks not followed), in MiB."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            total += os.lstat(os.path.join(root, name)).st_size
    return total / 2**20


def run(s: Settings) -> list[Row]:
    """Size always when built; start → icon too, except in ``--quick``."""
    exe = find_build(REPO / "dist")
    if exe is None:
        note = "no build in dist/ (build with: pyinstaller build.spec)"
        return [failed(SIZE, "not built", note, "≤ 100 MiB"),
                failed(START, "not built", note, "≤ 1.3× the smallest tray")]
    rows = [Row(SIZE, Stat([tree_mib(exe.parent)], "MiB"), Stat([BEFORE_MIB], "MiB"),
                "the build before this work", "≤ 100 MiB", note=str(exe.parent))]
    if s.quick:
        rows.append(failed(START, "skipped", "--quick", "≤ 1.3× the smallest tray"))
        return rows
    from benchmarks.bench_tray import TrayRunner
    from benchmarks.desktop import Desktop, missing_tools
    from benchmarks.session import user_session

    if missing_tools():
        rows.append(failed(START, "not available", f"needs {', '.join(missing_tools())}"))
        return rows
    with tempfile.TemporaryDirectory(prefix="lc-bench-frozen-") as tmp_text:
        tmp = Path(tmp_text)
        with user_session(tmp, sys.executable, clean_env()) as (env, session), \
                Desktop(tmp / "desktop.log") as desktop:
            env = desktop.env(env)
            ours = TrayRunner(desktop, [str(exe), "tray"], env, tmp / "frozen.log")
            base = TrayRunner(desktop, [s.python, "-m", "benchmarks.smallest_tray"], env,
                              tmp / "smallest.log")
            ours.start_to_icon()
            base.start_to_icon()
            a, b = alternate(s.runs, ours.start_to_icon, base.start_to_icon)
    rows.append(Row(START, Stat(a, "s"), Stat(b, "s"), "smallest PySide6 tray (not frozen)",
                    "≤ 1.3× the smallest tray", note=f"{exe} tray; {session}; idle RSS "
                    f"{sorted(ours.rss)[len(ours.rss) // 2]:.1f} MiB"))
    return rows
