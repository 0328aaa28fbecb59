"""The durable outbox: every accepted event, once per backend, until that backend confirms it.

Events are written before ``enqueue`` returns. A batch being sent stays in the table until the
answer arrives (``ack``), so a crash at any moment means a resend, never a loss (at-least-once).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from app.model.event import Event
from app.storage.db import Database


@dataclass(frozen=True)
class QueuedEvent:
    """An event waiting for one backend."""

    seq: int
    backend: str
    category: str
    event: Event
    attempts: int


class Outbox:
    """Queue of events per backend, bounded per backend.

    Args:
        db: the state database.
        cap: most events kept per backend; beyond it the oldest are dropped and counted.
        clock: seconds since the epoch (injectable for tests).
    """

    def __init__(self, db: Database, cap: int = 10_000, clock: Callable[[], float] = time.time):
        self.db = db
        self.cap = cap
        self.clock = clock

    def enqueue(self, event: Event, backends: Iterable[str], category: str) -> int:
        """Store the event once for each backend; returns how many old events the cap dropped."""
        names = list(dict.fromkeys(backends))
        body = json.dumps(event.to_dict(), separators=(",", ":"), ensure_ascii=False)
        dropped = 0
        now = self.clock()
        with self.db.write() as conn:
            for backend in names:
                conn.execute(
                    "INSERT INTO outbox (backend, event_id, category, event, enqueued_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (backend, event.id, category, body, now),
                )
                (count,) = conn.execute(
                    "SELECT count(*) FROM outbox WHERE backend = ?", (backend,)
                ).fetchone()
                excess = count - self.cap
                if excess > 0:
                    conn.execute(
                        "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE backend = ? "
                        "ORDER BY seq LIMIT ?)",
                        (backend, excess),
                    )
                    _bump(conn, f"dropped:{backend}", excess)
                    dropped += excess
        return dropped

    def peek(
        self, backend: str, limit: int, categories: Iterable[str] | None = None
    ) -> list[QueuedEvent]:
        """The oldest queued events for a backend (optionally only of these categories)."""
        conn = self.db.connection()
        if categories is None:
            rows = conn.execute(
                "SELECT seq, backend, category, event, attempts FROM outbox WHERE backend = ? "
                "ORDER BY seq LIMIT ?",
                (backend, limit),
            ).fetchall()
        else:
            cats = list(categories)
            if not cats:
                return []
            marks = ",".join("?" * len(cats))
            # Only "?" placeholders are formatted in; the values are bound parameters.
            sql = (
                "SELECT seq, backend, category, event, attempts FROM outbox WHERE backend = ? "  # noqa: S608
                f"AND category IN ({marks}) ORDER BY seq LIMIT ?"
            )
            rows = conn.execute(
                sql,
                (backend, *cats, limit),
            ).fetchall()
        return [
            QueuedEvent(seq, name, cat, Event.from_dict(json.loads(body)), attempts)
            for seq, name, cat, body, attempts in rows
        ]

    def ack(self, seqs: Iterable[int], conn: sqlite3.Connection | None = None) -> int:
        """Remove events whose fate is settled (delivered, flagged or rejected for good).

        Args:
            seqs: the outbox rows.
            conn: a connection inside a write transaction to join (e.g. with the history
                entry of the same answer); by default a transaction of its own.
        """
        ids = [(seq,) for seq in seqs]
        if conn is None:
            with self.db.write() as own:
                return self.ack(seqs=[i for (i,) in ids], conn=own)
        before = conn.total_changes
        conn.executemany("DELETE FROM outbox WHERE seq = ?", ids)
        return conn.total_changes - before

    def mark_attempt(self, seqs: Iterable[int]) -> None:
        """Count one more delivery attempt for these events."""
        with self.db.write() as conn:
            conn.executemany(
                "UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?", [(s,) for s in seqs]
            )

    def counts(self) -> dict[str, int]:
        """Queued events per backend."""
        rows = self.db.connection().execute(
            "SELECT backend, count(*) FROM outbox GROUP BY backend"
        ).fetchall()
        return dict(rows)

    def counts_by_category(self) -> dict[str, int]:
        """Queued distinct events per category (an event queued for two backends counts once)."""
        rows = self.db.connection().execute(
            "SELECT category, count(DISTINCT event_id) FROM outbox GROUP BY category"
        ).fetchall()
        return dict(rows)

    def discard(self, categories: Iterable[str] | None = None, backend: str | None = None) -> int:
        """Delete queued events (of some categories / one backend, or all); returns how many."""
        clauses, params = [], []
        if categories is not None:
            cats = list(categories)
            if not cats:
                return 0
            clauses.append(f"category IN ({','.join('?' * len(cats))})")
            params += cats
        if backend is not None:
            clauses.append("backend = ?")
            params.append(backend)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self.db.write() as conn:
            cur = conn.execute(f"DELETE FROM outbox{where}", params)  # noqa: S608 - placeholders
            return cur.rowcount

    def dropped(self) -> dict[str, int]:
        """How many events the cap has dropped, per backend, since the file was created."""
        rows = self.db.connection().execute(
            "SELECT key, value FROM counters WHERE key LIKE 'dropped:%'"
        ).fetchall()
        return {key.split(":", 1)[1]: value for key, value in rows}


def _bump(conn: object, key: str, amount: int) -> None:
    conn.execute(  # type: ignore[attr-defined]
        "INSERT INTO counters (key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
        (key, amount),
    )
