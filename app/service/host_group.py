"""Group commit: the events of many host requests written in one SQLite transaction.

Each ``Companion.track`` opens its own ``BEGIN IMMEDIATE`` ... ``COMMIT`` (one fsync per event
with ``synchronous=FULL``). The host writer thread instead opens one transaction for a whole
group and, for the duration, hands ``Database.write`` (on this thread only) a connection on which
``BEGIN``/``COMMIT``/``ROLLBACK`` become ``SAVEPOINT``/``RELEASE``/``ROLLBACK TO``. So every
event still succeeds or fails alone (a refused event leaves no trace), ``track`` keeps its own
logic unchanged, and the group costs one fsync. Nothing is acknowledged before the outer
``COMMIT`` returns.

Why through the database's per-thread connection: ``Database`` keeps one connection per thread
(``_local.conn``) and ``write()`` asks ``connection()`` for it; substituting it on the writer
thread alone leaves every other thread (the worker, the GUI) untouched. A ``Database`` without
that slot gets no group: each event commits alone, which is slower, never wrong.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any

from app.model.errors import StorageError
from app.storage.db import Database

_SAVEPOINT = "host_event"


class _GroupConnection:
    """A sqlite3 connection whose transaction statements become savepoints."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._depth = 0

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        word = sql.strip().split(None, 1)[0].upper() if sql.strip() else ""
        if word == "BEGIN":
            cursor = self._conn.execute(f"SAVEPOINT {_SAVEPOINT}")
            self._depth += 1
            return cursor
        if word in ("COMMIT", "END") and self._depth:
            self._depth -= 1
            return self._conn.execute(f"RELEASE {_SAVEPOINT}")
        if word == "ROLLBACK" and self._depth:
            self._depth -= 1
            self._conn.execute(f"ROLLBACK TO {_SAVEPOINT}")
            return self._conn.execute(f"RELEASE {_SAVEPOINT}")
        return self._conn.execute(sql, parameters)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def can_group(db: Database) -> bool:
    """Whether ``db`` exposes the per-thread connection slot group commit needs."""
    return hasattr(db, "_local") and hasattr(db, "connection")


@contextlib.contextmanager
def group_transaction(db: Database) -> Iterator[None]:
    """One transaction around everything ``db.write()`` does on this thread inside the block.

    Raises:
        StorageError: the group could not be begun or committed; nothing of it is stored.
    """
    if not can_group(db):
        yield
        return
    real = db.connection()
    try:
        real.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise StorageError(f"cannot write the state database {db.path}: {exc}") from None
    db._local.conn = _GroupConnection(real)
    try:
        yield
        db._local.conn = real
        real.execute("COMMIT")
    except BaseException as exc:
        db._local.conn = real
        if real.in_transaction:
            real.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise StorageError(f"cannot write the state database {db.path}: {exc}") from None
        raise
    finally:
        db._local.conn = real
