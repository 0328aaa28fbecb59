"""The durable outbox: every accepted event, once per backend, until that backend confirms it.

Events are written before ``enqueue`` returns. A batch being sent stays in the table until the
answer arrives (``ack``), so a crash at any moment means a resend, never a loss (at-least-once).

Every statement that reads or writes the ``outbox`` table, and its counters, lives here. Two
bounds keep it finite, both enforced in the transaction that stores the event:

* a cap per backend: beyond ``cap`` events, the backend's largest category (most events
  queued for it) gives its oldest events until the queue fits; another backend's copy of an
  event is never touched. Each is counted (``dropped:<backend>``, and per reason, see
  ``app.storage.drops``). The number of queued events per backend and category is kept by
  triggers in ``outbox_count`` (see ``app.storage.db``), so neither the cap nor the scheduler's
  "how many wait for consent" ever counts the table.
* a hold per undecided category: events of a category the user has not decided about stay on
  disk so the consent window can show real examples, but beyond ``UNDECIDED_KEEP`` distinct
  events the oldest are dropped and counted (``held_dropped:<category>``), so ``consent show``
  can say so.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from app.model.event import Event
from app.model.text import printable
from app.storage.db import Database, bump_counter
from app.storage.drops import OVER_CAP, UNDECIDED_FULL, Drops, add

log = logging.getLogger(__name__)

HELD_DROPPED = "held_dropped:"
UNREADABLE = "unreadable:"
# A row sent this many times without an answer being recorded (the sending process was killed,
# the machine lost power) is not sent again: each of those requests may have arrived, so a
# further one would most likely be one more copy at the server.
MAX_UNANSWERED = 3
UNDECIDED_KEEP = 1_000  # events kept per undecided category (the oldest beyond it are dropped)
DISCARDED = "discarded:"


@dataclass(frozen=True)
class QueuedEvent:
    """An event waiting for one backend."""

    seq: int
    backend: str
    category: str
    event: Event
    attempts: int
    unanswered: int = 0  # earlier requests of this row that may have arrived, unconfirmed


@dataclass
class Enqueued:
    """What storing one event cost the queue.

    Attributes:
        dropped: old events the per-backend cap pushed out (counted once per backend).
        held_dropped: old events of the same undecided category dropped by the hold.
    """

    dropped: int = 0
    held_dropped: int = 0
    drops: Drops = field(default_factory=dict)  # backend -> reason -> category -> events
    # event id -> backend -> reason, for the removed rows (the caller names its own events)
    removed: dict[str, dict[str, str]] = field(default_factory=dict)


class Outbox:
    """Queue of events per backend, bounded per backend.

    Args:
        db: the state database.
        cap: most events kept per backend (or per backend name; 10,000 for one not named);
            beyond it events are dropped and counted (``_enforce_cap``).
        clock: seconds since the epoch (injectable for tests).
    """

    def __init__(self, db: Database, cap: int | Mapping[str, int] = 10_000,
                 clock: Callable[[], float] = time.time):
        self.db = db
        self.caps = dict(cap) if isinstance(cap, Mapping) else {}
        self.cap = 10_000 if isinstance(cap, Mapping) else cap
        self.clock = clock

    def cap_of(self, backend: str) -> int:
        """Most events kept queued for ``backend``."""
        return self.caps.get(backend, self.cap)

    def enqueue(
        self, event: Event, backends: Iterable[str], category: str, *, hold: int | None = None,
        conn: sqlite3.Connection | None = None,
    ) -> Enqueued:
        """Store the event once for each backend, in one transaction (one fsync).

        Args:
            event: the validated event.
            backends: every backend it goes to.
            category: its consent category.
            hold: when the category is undecided, how many distinct events of it to keep; the
                oldest beyond that are dropped in the same transaction. None: no such bound.
            conn: a connection inside a write transaction to join (the caller commits); by
                default a transaction of its own.
        """
        holds = {category: hold} if hold is not None else {}
        return self.enqueue_many([(event, category)], backends, holds, conn=conn)

    def enqueue_many(
        self, events: Sequence[tuple[Event, str]], backends: Iterable[str],
        holds: Mapping[str, int] | None = None, *, conn: sqlite3.Connection | None = None,
    ) -> Enqueued:
        """Store several events, each once for each backend, in one transaction (one fsync).

        The bounds are enforced once, after every row is in: the same rows survive as if the
        events had come one by one (the oldest go first), at one query per backend and held
        category instead of one per event.

        Args:
            events: (validated event, its consent category), oldest first.
            backends: every backend they go to.
            holds: undecided category -> how many distinct events of it to keep.
            conn: a connection inside a write transaction to join; by default one of its own.

        Returns:
            What the bounds dropped, summed over the events.
        """
        names = list(dict.fromkeys(backends))
        if not names or not events:
            return Enqueued()
        if conn is None:
            with self.db.write() as own:
                return self.enqueue_many(events, names, holds, conn=own)
        now = self.clock()
        rows = []
        for event, category in events:
            body = json.dumps(event.to_dict(), separators=(",", ":"), ensure_ascii=False)
            rows += [(backend, event.id, category, body, now) for backend in names]
        conn.executemany(
            "INSERT INTO outbox (backend, event_id, category, event, enqueued_at) "
            "VALUES (?, ?, ?, ?, ?)", rows,
        )
        cost = Enqueued()
        for category, keep in (holds or {}).items():
            self._enforce_hold(conn, category, keep, cost)
        self._enforce_cap(conn, names, cost)
        return cost

    def _enforce_cap(self, conn: sqlite3.Connection, names: list[str], cost: Enqueued) -> None:
        """Bring each backend's queue back to the cap, adding what went to ``cost``.

        The rule (docs/host-protocol.md): the category with the most events queued for the
        backend gives its oldest, down to the next largest, until the queue fits. So one
        chatty category cannot push out the others, and within a category the oldest go first.
        """
        marks = ",".join("?" * len(names))
        sizes = conn.execute(
            f"SELECT backend, sum(n) FROM outbox_count WHERE backend IN ({marks}) "  # noqa: S608
            "GROUP BY backend", names,
        ).fetchall()
        for backend, size in sizes:
            excess = size - self.cap_of(backend)
            if excess <= 0:
                continue
            bump_counter(conn, f"dropped:{backend}", excess)
            cost.dropped += excess
            while excess > 0:
                top = conn.execute(
                    "SELECT category, n FROM outbox_count WHERE backend = ? AND n > 0 "
                    "ORDER BY n DESC, category LIMIT 2", (backend,),
                ).fetchall()
                if not top:
                    break
                category, largest = top[0]
                runner_up = top[1][1] if len(top) > 1 else 0
                take = min(excess, max(1, largest - runner_up))
                gone = conn.execute(
                    "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE backend = ? "
                    "AND category = ? ORDER BY seq LIMIT ?) RETURNING event_id",
                    (backend, category, take),
                ).fetchall()
                for (event_id,) in gone:
                    cost.removed.setdefault(event_id, {})[backend] = OVER_CAP
                add(cost.drops, backend, OVER_CAP, category, len(gone))
                excess -= max(1, len(gone))

    @staticmethod
    def _enforce_hold(conn: sqlite3.Connection, category: str, keep: int,
                      cost: Enqueued) -> None:
        """Drop the oldest events of ``category`` beyond ``keep`` distinct events.

        An event queued for two backends counts once and is dropped for both, so the preview
        never shows an event for one backend that the other has lost.
        """
        (rows,) = conn.execute(
            "SELECT coalesce(sum(n), 0) FROM outbox_count WHERE category = ?", (category,)
        ).fetchone()
        if rows <= keep:
            return  # fewer rows than the bound: fewer distinct events too, nothing to count
        (count,) = conn.execute(
            "SELECT count(DISTINCT event_id) FROM outbox WHERE category = ?", (category,)
        ).fetchone()
        excess = int(count) - keep
        if excess <= 0:
            return
        gone = conn.execute(
            "DELETE FROM outbox WHERE category = ? AND event_id IN ("
            "SELECT event_id FROM outbox WHERE category = ? GROUP BY event_id "
            "ORDER BY min(seq) LIMIT ?) RETURNING backend, event_id",
            (category, category, excess),
        ).fetchall()
        per_backend: dict[str, int] = {}
        for backend, event_id in gone:
            cost.removed.setdefault(event_id, {})[backend] = UNDECIDED_FULL
            per_backend[backend] = per_backend.get(backend, 0) + 1
        for backend, n in per_backend.items():
            add(cost.drops, backend, UNDECIDED_FULL, category, n)
        bump_counter(conn, HELD_DROPPED + category, excess)
        cost.held_dropped += excess

    def peek(
        self,
        backend: str,
        limit: int,
        categories: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        *,
        quarantine: bool = False,
        after: int = 0,
    ) -> list[QueuedEvent]:
        """The oldest queued events for a backend that read back.

        A row that does not read back (undecodable bytes, invalid JSON, an event an older
        version accepted that today's rules refuse) is left out. Reading never changes the
        file: only the sender, which must get past such a row, asks to ``quarantine`` it.

        Args:
            backend: whose queue.
            limit: at most this many.
            categories: only these categories (None: any).
            exclude: none of these categories.
            quarantine: move rows that do not read back to ``outbox_quarantine`` (kept as
                they were, counted as ``unreadable:<backend>``); the write path only.
            after: only rows past this ``seq`` (the sender reads the next batch while the
                rows before it are still in flight, and never reads a row twice).
        """
        where, params = self._where(backend, categories, exclude)
        if where is None:
            return []
        sql = (
            # as bytes: a row whose text is not UTF-8 must not fail the whole query
            "SELECT seq, backend, category, CAST(event AS BLOB), attempts, unanswered, "  # noqa: S608
            f"in_flight_since IS NOT NULL FROM outbox WHERE {where} AND seq > ? "
            "ORDER BY seq LIMIT ?"
        )
        rows = self.db.connection().execute(sql, (*params, after, limit)).fetchall()
        result = []
        for seq, name, cat, body, attempts, unanswered, in_flight in rows:
            try:
                event = Event.from_dict(json.loads(bytes(body or b"").decode("utf-8")))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                if quarantine:
                    self._quarantine(seq, name, cat, str(exc))
                else:
                    log.info("outbox row %d for %s does not read back; left as it is", seq, name)
                continue
            result.append(QueuedEvent(seq, name, cat, event, attempts,
                                      int(unanswered) + int(bool(in_flight))))
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
        would block its backend forever: move it, bytes as they were, out of the queue into
        ``outbox_quarantine``, count it, and say so."""
        log.warning("outbox row %d for %s cannot be read back (%s); kept aside, not sent",
                    seq, backend, printable(problem))
        with self.db.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO outbox_quarantine (seq, backend, category, event, "
                "problem, at) SELECT seq, backend, category, CAST(event AS BLOB), ?, ? "
                "FROM outbox WHERE seq = ?",
                (problem, self.clock(), seq),
            )
            if conn.execute("DELETE FROM outbox WHERE seq = ?", (seq,)).rowcount:
                bump_counter(conn, UNREADABLE + backend, 1)

    def unreadable(self) -> dict[str, int]:
        """Rows kept aside because they did not read back, per backend (never sent)."""
        rows = self.db.connection().execute(
            "SELECT key, value FROM counters WHERE key LIKE 'unreadable:%'"
        ).fetchall()
        return {key.split(":", 1)[1]: value for key, value in rows}

    def ack(self, seqs: Iterable[int], conn: sqlite3.Connection | None = None) -> int:
        """Remove events whose fate is settled (delivered, flagged or rejected for good).

        Args:
            seqs: the outbox rows.
            conn: a connection inside a write transaction to join (e.g. with the history
                entry of the same answer); by default a transaction of its own.
        """
        ids = list(seqs)
        if conn is None:
            with self.db.write() as own:
                return self.ack(ids, own)
        removed = 0
        for chunk in _chunks(ids):
            # rowcount, not total_changes: the triggers' updates of the counter table are no removal
            removed += conn.execute(
                f"DELETE FROM outbox WHERE seq IN ({_marks(chunk)})", chunk  # noqa: S608
            ).rowcount
        return removed

    def still_queued(self, seqs: list[int], conn: sqlite3.Connection | None = None) -> bool:
        """Whether all these rows are still waiting (not revoked or settled meanwhile).

        Args:
            seqs: the outbox rows.
            conn: read inside this (write) transaction, so nothing can change in between.
        """
        ids = list(dict.fromkeys(seqs))
        if not ids:
            return False
        reader = conn if conn is not None else self.db.connection()
        count = 0
        for chunk in _chunks(ids):
            sql = f"SELECT count(*) FROM outbox WHERE seq IN ({_marks(chunk)})"  # noqa: S608
            count += reader.execute(sql, chunk).fetchone()[0]
        return bool(count == len(ids))

    def mark_in_flight(self, seqs: Iterable[int], conn: sqlite3.Connection | None = None) -> None:
        """Record, committed before the request goes out, that it may reach the server.

        A row still marked from an earlier request had no answer recorded for it (the process
        was killed, the power went): that request counts as ``unanswered``.

        Args:
            seqs: the rows of the request.
            conn: a write transaction to join (it must commit before the request leaves);
                by default a transaction of its own.
        """
        ids = list(seqs)
        if conn is None:
            with self.db.write() as own:
                self.mark_in_flight(ids, own)
            return
        now = self.clock()
        for chunk in _chunks(ids):
            conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, "  # noqa: S608 - placeholders only
                "unanswered = unanswered + (in_flight_since IS NOT NULL), "
                f"in_flight_since = ? WHERE seq IN ({_marks(chunk)})",
                [now, *chunk],
            )

    def claim_for_send(self, seqs: Iterable[int], conn: sqlite3.Connection) -> bool:
        """Mark the rows of a request in flight if every one is still queued; else change nothing.

        Inside the caller's write transaction, so a revoke either came before (False: the
        request must not go) or waits until the request is on its way. The sender joins it to
        the transaction that settles the previous request: one fsync per request.
        """
        ids = list(seqs)
        if not self.still_queued(ids, conn):
            return False
        self.mark_in_flight(ids, conn)
        return True

    def clear_in_flight(self, seqs: Iterable[int], conn: sqlite3.Connection) -> None:
        """The answer (or the failure) of the request is recorded: no longer in flight."""
        for chunk in _chunks(list(seqs)):
            conn.execute(
                f"UPDATE outbox SET in_flight_since = NULL WHERE seq IN ({_marks(chunk)})",  # noqa: S608
                chunk,
            )

    def counts(self) -> dict[str, int]:
        """Queued events per backend (read from the counters the triggers keep)."""
        rows = self.db.connection().execute(
            "SELECT backend, sum(n) FROM outbox_count GROUP BY backend HAVING sum(n) > 0"
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
        # One backend's rows per category are what the triggers count: no scan of the queue
        # (the tray's scheduler asks this after every write it is told of).
        where, params = self._where(backend, None, exclude)
        sql = f"SELECT category, n FROM outbox_count WHERE {where} AND n > 0"  # noqa: S608
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

    def purge(self, categories: Iterable[str] | None, reason: str,
              conn: sqlite3.Connection) -> Drops:
        """Delete the queued events of ``categories`` (None: all), inside the caller's write
        transaction; what went, per backend and category, for ``app.storage.drops.record``."""
        drops: Drops = {}
        where, params = "", []
        if categories is not None:
            params = list(categories)
            if not params:
                return drops
            where = f" WHERE category IN ({','.join('?' * len(params))})"
        rows = conn.execute(
            f"SELECT backend, category, count(*) FROM outbox{where} "  # noqa: S608
            "GROUP BY backend, category", params,
        ).fetchall()
        conn.execute(f"DELETE FROM outbox{where}", params)  # noqa: S608 - placeholders only
        for backend, category, n in rows:
            add(drops, backend, reason, category, int(n))
        return drops

    @staticmethod
    def clear_kept_aside(conn: sqlite3.Connection) -> int:
        """Delete the rows kept aside because they no longer read back (the user asked to be
        forgotten: they are events about them too), in the caller's transaction; how many."""
        return conn.execute("DELETE FROM outbox_quarantine").rowcount

    def dropped(self) -> dict[str, int]:
        """How many events the cap has dropped, per backend, since the file was created."""
        rows = self.db.connection().execute(
            "SELECT key, value FROM counters WHERE key LIKE 'dropped:%'"
        ).fetchall()
        return {key.split(":", 1)[1]: value for key, value in rows}

    def count_discarded(self, category: str, count: int = 1,
                        conn: sqlite3.Connection | None = None) -> None:
        """Count events that were not stored because their category is declined.

        Args:
            category: the declined category.
            count: how many events.
            conn: a connection inside a write transaction to join; by default one of its own.
        """
        if conn is not None:
            bump_counter(conn, DISCARDED + category, count)
            return
        with self.db.write() as own:
            bump_counter(own, DISCARDED + category, count)

    def category_counters(self) -> dict[str, dict[str, int]]:
        """Per category: events discarded because declined, and undecided events dropped."""
        rows = self.db.connection().execute(
            "SELECT key, value FROM counters WHERE key LIKE 'discarded:%' "
            "OR key LIKE 'held_dropped:%'"
        ).fetchall()
        result: dict[str, dict[str, int]] = {}
        for key, value in rows:
            prefix, _, category = key.partition(":")
            entry = result.setdefault(category, {"declined": 0, "dropped_undecided": 0})
            entry["declined" if prefix == "discarded" else "dropped_undecided"] += value
        return result


_CHUNK = 500  # rows per statement: well below SQLite's bound on parameters


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[start:start + _CHUNK] for start in range(0, len(ids), _CHUNK)]


def _marks(chunk: list[int]) -> str:
    return ",".join("?" * len(chunk))
