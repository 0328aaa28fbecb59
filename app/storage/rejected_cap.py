"""Keeps the inbox's ``rejected/`` folder small: at most a number of files and bytes.

The oldest files (by modification time) go first; the caller counts what was removed so
``status`` can say that bad lines were dropped.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

MAX_FILES = 100
MAX_BYTES = 10 * 1024 * 1024


def cap_folder(folder: Path, pattern: str, *, max_files: int = MAX_FILES,
               max_bytes: int = MAX_BYTES) -> int:
    """Remove the oldest files matching ``pattern`` until both limits hold; return how many
    were removed."""
    entries: list[tuple[float, int, Path]] = []
    for path in folder.glob(pattern):
        with contextlib.suppress(OSError):
            info = path.lstat()
            entries.append((info.st_mtime, info.st_size, path))
    entries.sort(key=lambda entry: (entry[0], entry[2].name))
    total = sum(size for _, size, _ in entries)
    removed = 0
    for _, size, path in entries:
        if len(entries) - removed <= max_files and total <= max_bytes:
            break
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        removed += 1
        total -= size
    return removed
