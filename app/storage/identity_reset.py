"""The identifier's reset generation: a random salt in the state database, and when it was made.

``app.core.identity`` explains why it is kept here and not in the OS keyring. Every process on
one state directory reads it where it needs the identifier (``Companion.identity``) and where a
send is under way (``app.delivery.sender``): a reset in the command line is seen by the tray's
next request, which then stops instead of leaving with the identifier that was reset.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from app.storage.db import Database

KEY = "identity:reset"


@dataclass(frozen=True)
class IdentityReset:
    """The current reset generation: its salt (never shown or sent) and when it was made."""

    salt: str
    at: float


def current(db: Database | sqlite3.Connection) -> IdentityReset | None:
    """The reset in force, or None when the identifier was never reset."""
    conn = db if isinstance(db, sqlite3.Connection) else db.connection()
    row = conn.execute("SELECT value FROM state WHERE key = ?", (KEY,)).fetchone()
    if row is None:
        return None
    try:
        value = json.loads(row[0])
        return IdentityReset(str(value["salt"]), float(value["at"]))
    except (TypeError, ValueError, KeyError):
        # A damaged value must not bring back an identifier the user reset: keep its text as
        # the salt, so the identifier stays one nobody had before.
        return IdentityReset(str(row[0]), 0.0)


def salt(db: Database | sqlite3.Connection) -> str:
    """The salt in force ("" when never reset: the identifier as first derived)."""
    found = current(db)
    return found.salt if found is not None else ""


def store(conn: sqlite3.Connection, new_salt: str, at: float) -> None:
    """Make ``new_salt`` the reset in force, inside the caller's write transaction; the salt
    before it is overwritten, so the identifier it gave can no longer be derived."""
    conn.execute(
        "INSERT INTO state (key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (KEY, json.dumps({"salt": new_salt, "at": at}, sort_keys=True)),
    )
