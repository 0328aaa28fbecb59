"""Small JSON settings and counters kept in the state database (consent, backoff, warnings)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from app.storage.db import Database, bump_counter


def _put(conn: sqlite3.Connection, key: str, value: Any) -> None:
    """Insert or replace one value, inside the caller's write transaction."""
    conn.execute(
        "INSERT INTO state (key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, json.dumps(value, sort_keys=True)),
    )


class StateStore:
    """Key/value settings; values are JSON. Shared safely by threads and processes."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, key: str, default: Any = None) -> Any:
        """The stored value, or ``default``."""
        row = self.db.connection().execute(
            "SELECT value FROM state WHERE key = ?", (key,)
        ).fetchone()
        return default if row is None else json.loads(row[0])

    def set(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value."""
        with self.db.write() as conn:
            _put(conn, key, value)

    def delete(self, key: str) -> None:
        """Forget a key."""
        with self.db.write() as conn:
            conn.execute("DELETE FROM state WHERE key = ?", (key,))

    def update(self, key: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge ``changes`` into the dict stored under ``key`` atomically; returns the result."""
        with self.db.write() as conn:
            row = conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
            current = json.loads(row[0]) if row else {}
            current.update(changes)
            _put(conn, key, current)
            return current

    def claim(
        self,
        key: str,
        owner: str,
        now: float,
        ttl: float,
        is_dead: Callable[[str], bool] | None = None,
    ) -> bool:
        """Take a lease (e.g. "one request in flight per backend") unless someone else holds it.

        Args:
            key: the lease's name.
            owner: who takes it.
            now: the current time.
            ttl: seconds it is held unless renewed (a crashed holder frees it after this).
            is_dead: tells whether another holder is known to be gone (a crashed process), so
                its lease need not be waited out.
        """
        with self.db.write() as conn:
            row = conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
            if row:
                lease = json.loads(row[0])
                holder = lease.get("owner")
                if (
                    holder != owner
                    and lease.get("until", 0) > now
                    and not (is_dead is not None and is_dead(str(holder)))
                ):
                    return False
            _put(conn, key, {"owner": owner, "until": now + ttl})
            return True

    def release(self, key: str, owner: str) -> None:
        """Give a lease back if we still hold it."""
        with self.db.write() as conn:
            row = conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
            if row and json.loads(row[0]).get("owner") == owner:
                conn.execute("DELETE FROM state WHERE key = ?", (key,))

    def counter(self, key: str) -> int:
        """A counter's value (0 if never bumped)."""
        row = self.db.connection().execute(
            "SELECT value FROM counters WHERE key = ?", (key,)
        ).fetchone()
        return row[0] if row else 0

    def bump(self, key: str, amount: int = 1) -> None:
        """Add to a counter."""
        with self.db.write() as conn:
            bump_counter(conn, key, amount)
