"""The user's rights over their data: reset the identifier, and be forgotten.

What the companion can do itself, on this computer: stop sending under the identifier the user
had (``reset_identifier``), and delete what it keeps about them (``forget``). What it cannot:
delete what the vendor's servers already received; ``forget`` says so and names the vendor's
privacy contact (``[product] privacy_contact``), to whom a request under the General Data
Protection Regulation (Regulation (EU) 2016/679), Article 17 "Right to erasure", is addressed.

Why a reset deletes the queued events instead of sending them with the new identifier: the
identifiers are added at send time (``Companion.send_context``), so no queued event carries one,
but an event recorded before the reset belongs to the same sessions as events already sent under
the old identifier; sent under the new one it would tie the two together. Each deletion is
counted and in the history (``identity_reset``), like every event that leaves unsent. For the
same reason the companion's own session id changes at a reset (``Companion.track_many``); a
host application that gives its events session ids of its own keeps them until it starts a new
session.
"""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.model.consent import Choice
from app.storage import drops, identity_reset
from app.storage.history import IDENTIFIER_RESET, History

if TYPE_CHECKING:
    from app.core.companion import Companion

RESET_MESSAGE = ("identifier reset: a new user identifier is sent from now on; what was "
                 "queued under the old one was deleted unsent")
# What neither a reset nor ``forget`` can do, and what ``forget`` leaves on purpose.
NOT_ON_SERVERS = ("What the vendor's servers already received is not deleted by this: "
                  "only the vendor can delete it.")
KEY_KEPT = ("Your license key stays in the OS keyring; remove it with "
            "'license-companion license clear'.")


@dataclass(frozen=True)
class IdentifierReset:
    """What a reset did.

    Attributes:
        at: when (seconds since the epoch).
        removed: queued events deleted unsent.
    """

    at: float
    removed: int


@dataclass(frozen=True)
class Forgotten:
    """What ``forget`` did.

    Attributes:
        at: when (seconds since the epoch).
        revoked: the categories now declined (all of them).
        removed: queued events deleted unsent.
        history_removed: history entries deleted.
        privacy_contact: the vendor's privacy contact ("" when the configuration names none).
    """

    at: float
    revoked: tuple[str, ...]
    removed: int
    history_removed: int
    privacy_contact: str


def _new_generation(companion: Companion, conn: sqlite3.Connection,
                    history: History | None) -> int:
    """Store a new salt and delete the queue, in the caller's transaction; events deleted."""
    identity_reset.store(conn, secrets.token_hex(16), companion.clock())
    removed = companion.outbox.purge(None, drops.IDENTITY_RESET, conn)
    drops.record(conn, removed, history)
    # An event waits once per backend: the most any backend had is how many events went.
    return max((drops.total(removed, backend=name) for name in removed), default=0)


def reset_identifier(companion: Companion) -> IdentifierReset:
    """A new ``user_identifier`` from now on, the old one no longer derivable; what is queued
    is deleted, and the reset is in the history (without either identifier).

    One transaction: a send under way in another process stops before its next request
    (``app.delivery.sender``), and nothing queued before the reset is left to send.

    Raises:
        StorageError: the state database cannot be written; nothing changed.
    """
    with companion.db.write() as conn:
        removed = _new_generation(companion, conn, companion.history_store)
        companion.history_store.record_notice(IDENTIFIER_RESET, RESET_MESSAGE, conn)
        found = identity_reset.current(conn)
    return IdentifierReset(found.at if found else companion.clock(), removed)


def forget(companion: Companion) -> Forgotten:
    """Decline every category, delete the queue and the history, and reset the identifier.

    One transaction: either all of it is done or none. The license key is not touched (it is
    the user's purchase, not data about them; ``license clear`` removes it), and nothing is
    sent until the user agrees again.

    Raises:
        StorageError: the state database cannot be written; nothing changed.
    """
    with companion.db.write() as conn:
        revoked = companion.consent.set(Choice.DENIED, None)  # nested: a savepoint of this
        removed = _new_generation(companion, conn, None)
        removed += companion.outbox.clear_kept_aside(conn)
        history_removed = History.clear(conn)
        found = identity_reset.current(conn)
    return Forgotten(found.at if found else companion.clock(), tuple(revoked), removed,
                     history_removed, companion.config.product.privacy_contact)
