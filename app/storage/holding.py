"""The bound on events kept for a category the user has not decided about yet.

Undecided events stay on disk so the consent window can show real examples, but a user who
never answers must not grow the outbox without end: beyond ``keep`` events per category the
oldest are dropped and counted (``held_dropped:<category>``), so ``consent show`` can say so.
"""

from __future__ import annotations

from app.storage.db import Database, bump_counter

HELD_DROPPED = "held_dropped:"
UNDECIDED_KEEP = 1_000  # events kept per undecided category (the oldest beyond it are dropped)
DISCARDED = "discarded:"


def trim_category(db: Database, category: str, keep: int) -> int:
    """Drop the oldest queued events of ``category`` beyond ``keep`` distinct events.

    An event queued for two backends counts once and is dropped for both, so the preview never
    shows an event for one backend that the other has lost.

    Args:
        db: the state database.
        category: the category id.
        keep: how many distinct events to keep.

    Returns:
        How many distinct events were dropped.
    """
    with db.write() as conn:
        (count,) = conn.execute(
            "SELECT count(DISTINCT event_id) FROM outbox WHERE category = ?", (category,)
        ).fetchone()
        excess = count - keep
        if excess <= 0:
            return 0
        conn.execute(
            "DELETE FROM outbox WHERE category = ? AND event_id IN ("
            "SELECT event_id FROM outbox WHERE category = ? GROUP BY event_id "
            "ORDER BY min(seq) LIMIT ?)",
            (category, category, excess),
        )
        bump_counter(conn, HELD_DROPPED + category, excess)
        return excess


def category_counters(db: Database) -> dict[str, dict[str, int]]:
    """Per category: events discarded because declined, and undecided events dropped."""
    rows = db.connection().execute(
        "SELECT key, value FROM counters WHERE key LIKE 'discarded:%' OR key LIKE 'held_dropped:%'"
    ).fetchall()
    result: dict[str, dict[str, int]] = {}
    for key, value in rows:
        prefix, _, category = key.partition(":")
        entry = result.setdefault(category, {"declined": 0, "dropped_undecided": 0})
        entry["declined" if prefix == "discarded" else "dropped_undecided"] += value
    return result
