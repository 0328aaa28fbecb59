"""The event ids a host chose, each stored at most once: exactly once across failover.

A host (``clients/``) gives each event an id of its own. When its connection breaks, the events
it sent but saw no answer for go to the inbox with the same ids; some of them may have been
committed already. The companion keeps every host id it stored in ``host_event_ids`` (in the
same transaction as the event), and an event whose id is there is not stored again, whether it
comes from the socket, the inbox or both, and even after the first copy was delivered and left
the outbox. Ids older than ``KEEP_SECONDS`` are forgotten (an inbox is taken within minutes of a
companion running; a month is far beyond any failover), so the table stays bounded.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

KEEP_SECONDS = 30 * 86400.0
PRUNE_EVERY = 3600.0  # seconds between two prunes by one process


class EventIds:
    """Remembers host event ids inside the caller's write transaction."""

    def __init__(self) -> None:
        self._pruned_at = -PRUNE_EVERY

    def claim(self, conn: sqlite3.Connection, ids: Iterable[str], now: float) -> list[bool]:
        """Record ``ids`` as stored now; one flag each, False for an id stored before (or
        earlier in ``ids``): the caller must not store that one again."""
        new: list[bool] = []
        for event_id in ids:
            cursor = conn.execute("INSERT OR IGNORE INTO host_event_ids (event_id, seen_at) "
                                  "VALUES (?, ?)", (event_id, now))
            new.append(cursor.rowcount == 1)
        if now - self._pruned_at >= PRUNE_EVERY:
            self._pruned_at = now
            conn.execute("DELETE FROM host_event_ids WHERE seen_at < ?", (now - KEEP_SECONDS,))
        return new
