"""Tells the tray when another process wrote the state database, without polling.

A ``license-companion track`` run by the vendor's product writes the outbox from its own
process; the tray's sender keeps no timer while idle, so it learns of the new event from the
operating system's file notifications (inotify, FSEvents, ReadDirectoryChangesW through
``QFileSystemWatcher``) on the database and its write-ahead log.

At most one ``changed`` per ``EVERY``: the tray's own host door commits hundreds of times a
second under load, and each ``changed`` costs the worker a look at the whole send state; the
first change is told at once, later ones within the interval once at its end (a one-shot timer,
armed only by a change).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal, Slot

from app.tray.qt_emit import emit

EVERY = 0.1  # seconds between two ``changed`` signals at most


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
        self._told = -EVERY  # monotonic time of the last ``changed``
        self._later = QTimer(self)
        self._later.setSingleShot(True)
        self._later.timeout.connect(self._tell)
        self._watch()

    def _watch(self) -> None:
        """Watch the files that exist (a replaced or new file drops out of or joins the watch)."""
        watched = set(self._watcher.files())
        missing = [str(p) for p in self._paths if p.exists() and str(p) not in watched]
        if missing:
            self._watcher.addPaths(missing)

    @Slot(str)
    def _file_changed(self, path: str) -> None:
        if self._later.isActive():
            return  # told at the end of the interval anyway
        self._watch()
        try:
            info = os.stat(path)
            stamp: tuple[int, int] | None = (info.st_size, info.st_mtime_ns)
        except OSError:
            stamp = None
        if self._stamps.get(path) == stamp:
            return
        self._stamps[path] = stamp
        wait = self._told + EVERY - time.monotonic()
        if wait <= 0:
            self._tell()
        elif not self._later.isActive():
            self._later.start(int(wait * 1000) + 1)

    @Slot()
    def _tell(self) -> None:
        self._watch()
        self._told = time.monotonic()
        emit(self.changed)

    def close(self) -> None:
        """Stop watching and destroy the watch now, on the calling (its own) thread."""
        self._later.stop()
        self._watcher.blockSignals(True)
        if self._watcher.files():
            self._watcher.removePaths(self._watcher.files())
        self.setParent(None)
