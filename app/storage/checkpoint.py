"""The WAL checkpoint of a busy writer thread, run on a thread of its own.

SQLite copies the write-ahead log back into the database file (a checkpoint: the pages written
since the last one, then an fsync of the file) inside whichever commit finds the log over 1,000
pages. On the host door's writer that commit answers a whole group of hosts, so about one group
in a hundred waited for the checkpoint's writes and fsync on top of its own. Here that thread
turns the automatic checkpoint off and, every ``every`` of its commits, wakes a thread that
runs a passive checkpoint on its own connection: it never blocks a writer, and the commits stay
exactly as durable (each is on disk in the log before it returns).
"""

from __future__ import annotations

import logging
import sqlite3
import threading

from app.storage.db import Database

log = logging.getLogger(__name__)

EVERY = 64  # commits of the writer thread between two checkpoints
AUTOCHECKPOINT = 1000  # SQLite's default, given back when the writer stops


class Checkpointer:
    """Checkpoints after the commits of the thread that called ``start``.

    Args:
        db: the state database.
        every: commits between two checkpoints.
    """

    def __init__(self, db: Database, every: int = EVERY) -> None:
        self.db = db
        self.every = every
        self.runs = 0  # checkpoints done (tests)
        self._count = 0
        self._wanted = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="wal-checkpoint", daemon=True)

    def start(self) -> None:
        """Call on the writer thread: its commits stop checkpointing; this thread does it."""
        self.db.connection().execute("PRAGMA wal_autocheckpoint = 0")
        self.db.after_commits(self._committed)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Call on the writer thread when it ends: one last checkpoint, then the default back."""
        self.db.after_commits(None)
        try:
            self.db.connection().execute(f"PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT}")
        except sqlite3.Error:
            pass  # the connection is going away with its thread
        self._stopping = True
        self._wanted.set()
        self._thread.join(timeout)

    def _committed(self) -> None:
        self._count += 1
        if self._count >= self.every:
            self._count = 0
            self._wanted.set()

    def _loop(self) -> None:
        try:
            while True:
                self._wanted.wait()  # sleeps until enough commits (no timeout, no polling)
                self._wanted.clear()
                try:
                    self.db.connection().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.runs += 1
                except sqlite3.Error as exc:
                    log.warning("WAL checkpoint failed (tried again later): %s", exc)
                if self._stopping:
                    return
        finally:
            self.db.close()
