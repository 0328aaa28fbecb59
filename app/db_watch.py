"""Tells the tray when another process wrote the state database, without polling.

A ``license-companion track`` run by the vendor's product writes the outbox from its own
process; the tray's sender keeps no timer while idle, so it learns of the new event from the
operating system's file notifications (inotify, FSEvents, ReadDirectoryChangesW through
``QFileSystemWatcher``) on the database and its write-ahead log.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, Signal, Slot

from app.qt_emit import emit


class DatabaseWatch(QObject):
    """Emits ``changed`` when the database or its WAL really changed (size or time).

    SQLite touches the files without changing them (a reader's no-op truncate of an empty WAL
    fires the notification too); those are filtered out here, so our own reads cannot wake us.

    Args:
        path: the SQLite database file.
        parent: the Qt parent (the watch lives on its thread).
    """

    changed = Signal()

    def __init__(self, path: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._paths = [path, path.with_name(path.name + "-wal")]
        self._stamps: dict[str, tuple[int, int] | None] = {}
        self._watcher = QFileSystemWatcher(self)
        self._watcher.fileChanged.connect(self._file_changed)
        self._watch()

    def _watch(self) -> None:
        """Watch the files that exist (a replaced or new file drops out of or joins the watch)."""
        watched = set(self._watcher.files())
        missing = [str(p) for p in self._paths if p.exists() and str(p) not in watched]
        if missing:
            self._watcher.addPaths(missing)

    @Slot(str)
    def _file_changed(self, path: str) -> None:
        self._watch()
        try:
            info = os.stat(path)
            stamp: tuple[int, int] | None = (info.st_size, info.st_mtime_ns)
        except OSError:
            stamp = None
        if self._stamps.get(path) == stamp:
            return
        self._stamps[path] = stamp
        emit(self.changed)

    def close(self) -> None:
        """Stop watching and destroy the watch now, on the calling (its own) thread."""
        self._watcher.blockSignals(True)
        if self._watcher.files():
            self._watcher.removePaths(self._watcher.files())
        self.setParent(None)
