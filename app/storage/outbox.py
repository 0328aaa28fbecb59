"""The durable outbox: every accepted event, once per backend, until that backend confirms it.

Events are written before ``enqueue`` returns. A batch being sent stays in the table until the
answer arrives (``ack``), so a crash at any moment means a resend, never a loss (at-least-once).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from app.model.event import Event
from app.storage.db import Database, bump_counter

log = logging.getLogger(__name__)


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
                    bump_counter(conn, f"dropped:{backend}", excess)
                    dropped += excess
        return dropped

    def peek(
        self,
        backend: str,
        limit: int,
        categories: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
    ) -> list[QueuedEvent]:
        """The oldest queued events for a backend.

        Args:
            backend: whose queue.
            limit: at most this many.
            categories: only these categories (None: any).
            exclude: none of these categories.
        """
        where, params = self._where(backend, categories, exclude)
        if where is None:
            return []
        sql = (
            "SELECT seq, backend, category, event, attempts FROM outbox "  # noqa: S608
            f"WHERE {where} ORDER BY seq LIMIT ?"
        )
        rows = self.db.connection().execute(sql, (*params, limit)).fetchall()
        result = []
        for seq, name, cat, body, attempts in rows:
            try:
                event = Event.from_dict(json.loads(body))
            except (ValueError, KeyError, TypeError) as exc:
                self._quarantine(seq, name, cat, str(exc))
                continue
            result.append(QueuedEvent(seq, name, cat, event, attempts))
        return result

    @staticmethod
    def _where(
        backend: str, categories: Iterable[str] | None, exclude: Iterable[str] | None
    ) -> tuple[str | None, list[str]]:
        """SQL condition (placeholders only) for a backend and category filters."""
        clauses, params = ["backend = ?"], [backend]
        if categories is not None:
            cats = list(categories)
            if not cats:
                return None, []
            clauses.append(f"category IN ({','.join('?' * len(cats))})")
            params += cats
        if exclude is not None:
            skip = list(exclude)
            if skip:
                clauses.append(f"category NOT IN ({','.join('?' * len(skip))})")
                params += skip
        return " AND ".join(clauses), params

    def _quarantine(self, seq: int, backend: str, category: str, problem: str) -> None:
        """A stored event that no longer reads back (an older version's rules, a damaged row)
        would block its backend forever: move it to the counters as dropped, and say so."""
        log.warning("outbox row %d for %s cannot be read back (%s); dropped", seq, backend, problem)
        with self.db.write() as conn:
            conn.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
            bump_counter(conn, f"unreadable:{backend}", 1)

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

    def still_queued(self, seqs: list[int]) -> bool:
        """Whether all these rows are still waiting (not revoked or settled meanwhile)."""
        if not seqs:
            return False
        marks = ",".join("?" * len(seqs))
        sql = f"SELECT count(*) FROM outbox WHERE seq IN ({marks})"  # noqa: S608 - placeholders only
        (count,) = self.db.connection().execute(sql, seqs).fetchone()
        return count == len(seqs)

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

    def counts_by_category(
        self, backend: str | None = None, exclude: Iterable[str] | None = None
    ) -> dict[str, int]:
        """Queued distinct events per category (an event queued for two backends counts once).

        Args:
            backend: only this backend's queue.
            exclude: leave these categories out.
        """
        if backend is None:
            rows = self.db.connection().execute(
                "SELECT category, count(DISTINCT event_id) FROM outbox GROUP BY category"
            ).fetchall()
            skip = set(exclude or ())
            return {cat: n for cat, n in rows if cat not in skip}
        where, params = self._where(backend, None, exclude)
        sql = f"SELECT category, count(*) FROM outbox WHERE {where} GROUP BY category"  # noqa: S608
        return dict(self.db.connection().execute(sql, params).fetchall())

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
