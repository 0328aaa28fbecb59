"""Events the companion will not deliver: why, how many, and their history entries.

Every event a host hands over is delivered, still on disk, or reported as not kept with the
reason. The reasons are these names; a host's ``track`` answer uses them per backend, and
``status --json`` counts the queued events removed unsent per backend under
``dropped_by_reason``:

* ``consent_denied``, ``do_not_track``, ``policy_denied``: the category may not be sent (the
  user's choice, the ``DO_NOT_TRACK`` variable, the administrator's policy); the event is not
  stored. ``policy_denied`` is also the reason when a policy change removes queued events.
* ``no_backend``: no backend is enabled in the vendor configuration; nothing is stored.
* ``no_license_key``: KeyManager while no license key is stored and the vendor configuration
  says ``[keymanager] without_key = "skip"``; the event is not stored for KeyManager.
* ``over_cap``: the backend's queue was full (see ``Outbox``: the largest category gives its
  oldest event; another backend's copy is never touched).
* ``undecided_full``: the user has not decided about the category yet and its bounded hold
  (``UNDECIDED_KEEP`` events) was full; the oldest went, for every backend.
* ``consent_revoked``: the user said no to a category; what was queued of it went.
* ``identity_reset``: the user reset their identifier (or asked to be forgotten); what was
  queued under the identifier before went, so nothing recorded under it is sent with the new one.

Each removal of queued events is written, in the transaction that removes them, to a counter
(``drop:<backend>:<reason>``; ``dropped:<backend>`` for ``over_cap``, as before) and to the
history (``History.record_drop``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from typing import Protocol

from app.storage.db import Database, bump_counter
from app.storage.history import History


class Purging(Protocol):
    """What a ``Purger`` needs of the outbox (``app.storage.outbox.Outbox``, which imports this
    module): remove the queued events of some categories, saying what went."""

    def purge(self, categories: Iterable[str] | None, reason: str,
              conn: sqlite3.Connection) -> Drops: ...

CONSENT_DENIED = "consent_denied"
DO_NOT_TRACK = "do_not_track"
POLICY_DENIED = "policy_denied"
NO_BACKEND = "no_backend"
NO_LICENSE_KEY = "no_license_key"
OVER_CAP = "over_cap"
UNDECIDED_FULL = "undecided_full"
CONSENT_REVOKED = "consent_revoked"
IDENTITY_RESET = "identity_reset"
# What ``status`` counts: queued events removed unsent.
QUEUE_REASONS = (OVER_CAP, UNDECIDED_FULL, POLICY_DENIED, CONSENT_REVOKED, IDENTITY_RESET)
COUNTER = "drop:"

# backend -> reason -> category -> events
Drops = dict[str, dict[str, dict[str, int]]]

_WORDS = {
    OVER_CAP: "not kept: the queue for this backend was full; the oldest events of its "
              "largest category went",
    UNDECIDED_FULL: "not kept: you have not decided about this category yet and only the "
                    "newest events of it are kept",
    POLICY_DENIED: "not kept: your administrator's policy does not allow this category",
    CONSENT_REVOKED: "not kept: you declined this category; what was queued of it went",
    NO_LICENSE_KEY: "not kept: no license key is stored, and events for KeyManager are "
                    "skipped until one is ([keymanager] without_key = \"skip\")",
    IDENTITY_RESET: "not kept: you reset your identifier; what was queued under the old one "
                    "went",
}


# What a ``track`` answer's ``discarded`` says when an event is kept for no backend.
NOT_KEPT = {
    CONSENT_DENIED: "consent denied for this category: not kept",
    DO_NOT_TRACK: "DO_NOT_TRACK is set: not kept",
    POLICY_DENIED: "the administrator's policy denies this category: not kept",
    NO_BACKEND: "no backend is enabled in the vendor configuration: not kept",
    OVER_CAP: "the queue of every backend is full: not kept",
    UNDECIDED_FULL: "consent is undecided and this category's hold is full: not kept",
    NO_LICENSE_KEY: "no license key is stored and KeyManager's events are skipped: not kept",
}


def describe(reason: str) -> str:
    """The sentence for a reason (the history entry's message, the CLI's warning)."""
    return _WORDS.get(reason, f"not kept: {reason}")


def add(drops: Drops, backend: str, reason: str, category: str, count: int) -> None:
    """Add ``count`` removed events to ``drops``."""
    if count > 0:
        per = drops.setdefault(backend, {}).setdefault(reason, {})
        per[category] = per.get(category, 0) + count


def total(drops: Drops, backend: str | None = None, reason: str | None = None) -> int:
    """How many events ``drops`` holds (of one backend / one reason, or all)."""
    return sum(n for name, reasons in drops.items() if backend in (None, name)
               for why, cats in reasons.items() if reason in (None, why)
               for n in cats.values())


def record(conn: sqlite3.Connection, drops: Drops, history: History | None) -> None:
    """Count ``drops`` and write them to the history, inside the removing transaction."""
    for backend, reasons in drops.items():
        for reason, categories in reasons.items():
            if reason != OVER_CAP:  # the outbox counts those itself (``dropped:<backend>``)
                bump_counter(conn, f"{COUNTER}{backend}:{reason}", sum(categories.values()))
            if history is not None:
                history.record_drop(backend, reason, describe(reason), categories, conn)


def dropped_by_reason(conn: sqlite3.Connection) -> dict[str, dict[str, int]]:
    """Per backend, queued events removed unsent per reason, since the file was created."""
    rows = conn.execute(
        "SELECT key, value FROM counters WHERE key LIKE 'drop:%' OR key LIKE 'dropped:%'"
    ).fetchall()
    result: dict[str, dict[str, int]] = {}
    for key, value in rows:
        kind, _, rest = key.partition(":")
        backend, _, reason = rest.partition(":")
        result.setdefault(backend, {})[reason if kind == "drop" else OVER_CAP] = int(value)
    return result


def as_counts(drops: Mapping[str, Mapping[str, Mapping[str, int]]]) -> dict[str, dict[str, int]]:
    """``drops`` summed over categories: backend -> reason -> events."""
    return {backend: {reason: sum(cats.values()) for reason, cats in reasons.items()}
            for backend, reasons in drops.items()}


class Purger:
    """Deletes queued events of some categories with their record (count, history entry).

    What ``app.core.consent.enforce_policy`` and a revoke are given in place of the bare
    ``Outbox.discard``, so nothing leaves the queue without saying so.
    """

    def __init__(self, db: Database, outbox: Purging, history: History | None,
                 reason: str) -> None:
        self.db = db
        self.outbox = outbox
        self.history = history
        self.reason = reason

    def discard(self, categories: Iterable[str] | None = None,
                backend: str | None = None) -> int:
        """Delete (every backend's copy of) the events of ``categories`` (None: all); how many
        rows went. ``backend`` must be None (a purge is never for one backend only)."""
        if backend is not None:
            raise ValueError("a purge removes every backend's copy")
        with self.db.write() as conn:
            removed = self.outbox.purge(categories, self.reason, conn)
            record(conn, removed, self.history)
        return total(removed)
