"""What left the machine: one row per request, with the request as it was sent.

The stored request is the sender's own ``PreparedRequest`` with its secrets masked (the license
key and API key, by the same ``mask_secret`` the preview uses), so a user can see last week what
actually left the machine without the history becoming a second place that holds the key. It is
kept in the entry's row, so it lives exactly as long as the entry (``max_days`` / ``max_rows``).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from app.storage.db import Database

if TYPE_CHECKING:  # imported where used: a ``track`` process records no history
    from app.model.wire import Outcome, PreparedRequest

DAY = 86_400.0
UNCONFIRMED = "unconfirmed"  # verdict of events given up after requests that got no answer
DROPPED = "dropped"  # verdict of events removed unsent (a cap, the undecided hold, a purge)
IDENTIFIER_RESET = "identifier_reset"  # verdict of the entry a reset of the identifier leaves
# Drops of one backend for one reason within this many seconds of the last are one entry
# (its count grows, it moves to the top): a full queue drops on every write, and an entry per
# write would push the record of what was sent out of the bounded history.
DROP_MERGE_SECONDS = 3_600.0


@dataclass(frozen=True)
class HistoryEntry:
    """One request that was sent, and what came of it."""

    id: int
    at: float
    backend: str
    categories: tuple[str, ...]
    event_count: int
    verdict: str
    http_status: int | None
    code: int | None
    message: str
    errors: Any
    signature: str
    request: PreparedRequest | None = None  # as sent, secrets masked; None for older entries
    # events of this request sent before without an answer recorded: the server may have them
    # twice (at-least-once delivery)
    possible_duplicates: int = 0
    # the names of the request's events, one per event in its order; () for older entries
    # and for drops
    event_names: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (``history --json``); the event names as ``events``."""
        data = asdict(self)
        data["categories"] = list(self.categories)
        data["events"] = list(data.pop("event_names"))
        data["request"] = self.request.to_dict() if self.request is not None else None
        data["at_iso"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at))
        return data


class History:
    """Bounded log of sent requests.

    Args:
        db: the state database.
        max_days: entries older than this are pruned.
        max_rows: at most this many entries are kept.
        clock: seconds since the epoch.
    """

    def __init__(
        self,
        db: Database,
        max_days: int = 90,
        max_rows: int = 50_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.max_days = max_days
        self.max_rows = max_rows
        self.clock = clock

    def record(
        self,
        backend: str,
        categories: Iterable[str],
        event_ids: Iterable[str],
        outcome: Outcome,
        conn: sqlite3.Connection | None = None,
        *,
        request: PreparedRequest | None = None,
        possible_duplicates: int = 0,
        request_text: str | None = None,
        event_names: Iterable[str] = (),
    ) -> None:
        """Add an entry for one request and prune what is past the bounds.

        Args:
            backend: where the request went.
            categories: the consent categories of its events.
            event_ids: its events.
            outcome: what the answer meant.
            conn: a connection inside a write transaction to join (the sender settles the
                outbox rows and the history entry atomically); by default its own transaction.
            request: the request as it was sent, with its secrets already masked
                (``PreparedRequest.masked``); it is stored as given.
            possible_duplicates: how many of its events had been sent before without an
                answer, so the server may hold them twice.
            request_text: ``stored_request_text`` of the masked request, made beforehand (the
                sender builds it while the previous request is in flight); wins over
                ``request``.
            event_names: the names of its events, in the request's order.
        """
        if conn is None:
            with self.db.write() as own:
                self.record(backend, categories, event_ids, outcome, own, request=request,
                            possible_duplicates=possible_duplicates, request_text=request_text,
                            event_names=event_names)
            return
        ids = list(event_ids)
        now = self.clock()
        stored = request_text
        if stored is None and request is not None:
            stored = stored_request_text(request)
        cursor = conn.execute(
            "INSERT INTO history (at, backend, categories, event_count, verdict, http_status, "
            "code, message, errors, signature, event_ids, request, possible_duplicates, "
            "event_names) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                now,
                backend,
                json.dumps(sorted(set(categories))),
                len(ids),
                outcome.verdict.value,
                outcome.http_status,
                outcome.code,
                outcome.message,
                json.dumps(outcome.errors) if outcome.errors else None,
                outcome.signature.value,
                json.dumps(ids),
                stored,
                possible_duplicates,
                json.dumps(list(event_names), ensure_ascii=False),
            ),
        )
        self._prune(conn, now, cursor.lastrowid)

    def record_unconfirmed(
        self, backend: str, categories: Iterable[str], event_ids: Iterable[str], sends: int,
        conn: sqlite3.Connection, event_names: Iterable[str] = (),
    ) -> None:
        """Events given up because ``sends`` requests with them got no answer recorded.

        Each of those requests may have reached the server (the app was stopped while
        waiting), so sending once more would most likely add one more copy. They are in the
        history so the user can see they may have arrived, and may have arrived more than once.
        """
        ids = list(event_ids)
        now = self.clock()
        message = (f"sent {sends} times, each time the app was stopped before the answer came; "
                   "they may have arrived (perhaps more than once), so they are not sent again")
        cursor = conn.execute(
            "INSERT INTO history (at, backend, categories, event_count, verdict, http_status, "
            "code, message, errors, signature, event_ids, request, possible_duplicates, "
            "event_names) VALUES (?,?,?,?,?,NULL,NULL,?,NULL,?,?,NULL,?,?)",
            (now, backend, json.dumps(sorted(set(categories))), len(ids), UNCONFIRMED, message,
             "n/a", json.dumps(ids), len(ids), json.dumps(list(event_names), ensure_ascii=False)),
        )
        self._prune(conn, now, cursor.lastrowid)

    def record_drop(self, backend: str, reason: str, message: str,
                    by_category: dict[str, int], conn: sqlite3.Connection) -> None:
        """Events of ``backend`` removed unsent, with why (``app.storage.drops``' reasons).

        Joined to the transaction that removed them, so no event leaves without its record.
        The entry's ``errors`` keeps ``reason``, ``since`` (the first drop it counts) and
        ``by_category``; a drop within ``DROP_MERGE_SECONDS`` of the same backend's last entry
        for the same reason is added to that entry, which then becomes the newest.
        """
        now = self.clock()
        since = now
        counts = dict(by_category)
        row = conn.execute(
            "SELECT id, errors FROM history WHERE at >= ? AND verdict = ? AND backend = ? "
            "AND message = ? ORDER BY id DESC LIMIT 1",
            (now - DROP_MERGE_SECONDS, DROPPED, backend, message),
        ).fetchone()
        if row is not None:
            try:
                earlier = json.loads(row[1])
                since = float(earlier["since"])
                for category, count in earlier["by_category"].items():
                    counts[category] = counts.get(category, 0) + int(count)
            except (TypeError, ValueError, KeyError, AttributeError):
                pass  # a damaged entry: start a new count, the old row goes
            conn.execute("DELETE FROM history WHERE id = ?", (row[0],))
        details = {"reason": reason, "since": since, "by_category": counts}
        cursor = conn.execute(
            "INSERT INTO history (at, backend, categories, event_count, verdict, http_status, "
            "code, message, errors, signature, event_ids, request, possible_duplicates) "
            "VALUES (?,?,?,?,?,NULL,NULL,?,?,?,?,NULL,0)",
            (now, backend, json.dumps(sorted(counts)), sum(counts.values()), DROPPED, message,
             json.dumps(details, sort_keys=True), "n/a", "[]"),
        )
        self._prune(conn, now, cursor.lastrowid)

    def record_notice(self, verdict: str, message: str, conn: sqlite3.Connection) -> None:
        """Something the user did that sent nothing (``IDENTIFIER_RESET``), as an entry of its
        own in the caller's transaction; its message names no identifier."""
        now = self.clock()
        cursor = conn.execute(
            "INSERT INTO history (at, backend, categories, event_count, verdict, http_status, "
            "code, message, errors, signature, event_ids, request, possible_duplicates) "
            "VALUES (?,'companion','[]',0,?,NULL,NULL,?,NULL,'n/a','[]',NULL,0)",
            (now, verdict, message),
        )
        self._prune(conn, now, cursor.lastrowid)

    @staticmethod
    def clear(conn: sqlite3.Connection) -> int:
        """Delete every entry, in the caller's transaction; how many went."""
        return conn.execute("DELETE FROM history").rowcount

    def _prune(self, conn: sqlite3.Connection, now: float, newest: int | None) -> None:
        """Drop entries past the age and row bounds; two index lookups, whatever the size.

        Ids only grow (AUTOINCREMENT) and entries leave only from the old end, so the newest
        ``max_rows`` entries are those with an id above ``newest - max_rows`` (fewer if the
        clock jumped back and the age bound took one from the middle: still within the bound).
        """
        conn.execute("DELETE FROM history WHERE at < ?", (now - self.max_days * DAY,))
        if newest is not None and newest > self.max_rows:
            conn.execute("DELETE FROM history WHERE id <= ?", (newest - self.max_rows,))

    def entries(self, limit: int | None = None) -> list[HistoryEntry]:
        """Newest first, at most ``limit`` (None: all that are kept)."""
        sql = (
            "SELECT id, at, backend, categories, event_count, verdict, http_status, code, "
            "message, errors, signature, request, possible_duplicates, event_names FROM history "
            "ORDER BY id DESC"
        )
        params: list[Any] = []
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = self.db.connection().execute(sql, params).fetchall()
        return [
            HistoryEntry(
                id=r[0],
                at=r[1],
                backend=r[2],
                categories=tuple(json.loads(r[3])),
                event_count=r[4],
                verdict=r[5],
                http_status=r[6],
                code=r[7],
                message=r[8],
                errors=json.loads(r[9]) if r[9] else None,
                signature=r[10],
                request=_stored_request(r[11]),
                possible_duplicates=r[12] or 0,
                event_names=_stored_names(r[13]),
            )
            for r in rows
        ]


def stored_request_text(request: PreparedRequest) -> str:
    """The text a history entry keeps of a request (give it the masked request)."""
    return json.dumps(request.to_dict(), ensure_ascii=False, separators=(",", ":"))


def _stored_names(text: str | None) -> tuple[str, ...]:
    """The stored event names; none for older entries or a copy that does not read back."""
    try:
        names = json.loads(text) if text else []
    except ValueError:
        return ()
    return tuple(str(n) for n in names) if isinstance(names, list) else ()


def _stored_request(text: str | None) -> PreparedRequest | None:
    """The stored request, or None when there is none (older entries) or it does not read back:
    a damaged copy must not hide the rest of the history."""
    if not text:
        return None
    from app.model.wire import PreparedRequest

    try:
        return PreparedRequest.from_dict(json.loads(text))
    except (ValueError, AttributeError):
        return None
