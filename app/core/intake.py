"""Storing validated events under the consent in force: the write half of ``Companion.track``.

Why one function for one event and for many: the host endpoint hands the writer thread the
events of many requests at once, and one transaction for all of them is one fsync; doing it
event by event (a savepoint each, the consent read again each time) cost more than the commit
itself. The consent decision is read inside the transaction that stores the events, so an
event is never stored under a decision another process changed a moment before.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from app.core.consent import ConsentPolicy
from app.core.track_result import TrackResult
from app.model.consent import Category, Choice, DecidedBy
from app.model.errors import ValidationError
from app.model.event import Event, make_event
from app.storage import drops
from app.storage.db import Database
from app.storage.event_ids import EventIds
from app.storage.history import History
from app.storage.outbox import UNDECIDED_KEEP, Outbox

Checked = tuple[Event, Category] | ValidationError


def check_event(args: Mapping[str, Any], consent: ConsentPolicy, clock: Callable[[], float],
                session_id: str) -> Checked:
    """One event validated (``Companion.track``'s keyword arguments) with its category, or the
    ``ValidationError`` naming the field; the clock's time and this session by default."""
    try:
        ts = args.get("timestamp")
        event = make_event(
            args["name"], kind=args["kind"], value=args["value"], payload=args.get("payload"),
            timestamp=clock() if ts is None else ts,
            session_id=args.get("session_id") or session_id,
            event_id=args.get("event_id") or None,
        )
        return event, consent.category_of(event.name)
    except ValidationError as exc:
        return exc


def store_checked(db: Database, consent: ConsentPolicy, outbox: Outbox,
                  backends: tuple[str, ...], checked: Sequence[Checked],
                  history: History | None = None, host_ids: Collection[str] = (),
                  event_ids: EventIds | None = None, skipped: Mapping[str, str] | None = None,
                  ) -> list[TrackResult | ValidationError]:
    """Store the valid events of ``checked`` in one transaction; one result per entry.

    Denied categories are counted, not stored; undecided ones are stored but bounded
    (``UNDECIDED_KEEP`` per category); refused entries (a ``ValidationError``) come back as
    they are. Each result says per backend whether the event is on disk and if not why
    (``app.storage.drops``); what the outbox's bounds removed is counted and written to
    ``history`` in the same transaction, and its total reported on the last stored event. An
    event whose id is in ``host_ids`` (the host chose it) is stored at most once
    (``event_ids``): a copy is answered as stored, ``duplicate``, and not stored again.
    ``skipped`` names backends (of ``backends``) not to store events for now, with the reason
    (KeyManager without a license key, ``no_license_key``); those are counted and written to
    ``history`` as drops.

    Raises:
        StorageError: nothing of it was stored (the transaction was rolled back).
    """
    if not any(isinstance(item, tuple) for item in checked):
        return [item for item in checked if isinstance(item, ValidationError)]
    denials: dict[str, str] = {}  # category -> reason, for the denied ones
    choices: dict[str, Choice] = {}
    stored: list[tuple[Event, str]] = []
    copies: set[int] = set()  # id() of the events stored before
    with db.write() as conn:
        denied: dict[str, int] = {}
        holds: dict[str, int] = {}
        for item in checked:
            if isinstance(item, ValidationError):
                continue
            event, category = item
            choice = choices.get(category.id)
            if choice is None:
                decision = consent.effective_decision(category.id)
                choice = choices[category.id] = decision.choice
                if choice is Choice.DENIED:
                    denials[category.id] = _DENIED_BY.get(decision.decided_by,
                                                          drops.CONSENT_DENIED)
            if choice is Choice.DENIED:
                denied[category.id] = denied.get(category.id, 0) + 1
                continue
            # Undecided events are kept so the user sees real examples before deciding, but
            # bounded per category, in the same transaction as the events themselves.
            if choice is Choice.UNDECIDED:
                holds[category.id] = UNDECIDED_KEEP
            stored.append((event, category.id))
        if host_ids and event_ids is not None:
            mine = [event for event, _c in stored if event.id in host_ids]
            new = event_ids.claim(conn, [event.id for event in mine], outbox.clock())
            copies = {id(event) for event, fresh in zip(mine, new, strict=True) if not fresh}
            stored = [entry for entry in stored if id(entry[0]) not in copies]
        for category_id, count in denied.items():
            outbox.count_discarded(category_id, count, conn=conn)
        skipped = skipped or {}
        keep_for = tuple(name for name in backends if name not in skipped)
        cost = outbox.enqueue_many(stored, keep_for, holds, conn=conn)
        for name, why in skipped.items():
            for _event, category_id in stored:
                drops.add(cost.drops, name, why, category_id, 1)
        drops.record(conn, cost.drops, history)
    last = stored[-1][0] if stored else None
    results: list[TrackResult | ValidationError] = []
    for item in checked:
        if isinstance(item, ValidationError):
            results.append(item)
            continue
        event, category = item
        if id(event) in copies:
            results.append(TrackResult(event, category.id, True, backends, duplicate=True))
            continue
        why = denials.get(category.id) or ("" if backends else drops.NO_BACKEND)
        lost = {name: why for name in backends} if why else \
            {**skipped, **cost.removed.get(event.id, {})}
        kept = len(lost) < len(backends)
        reason = "" if kept else why or next(iter(lost.values()))
        counted = (cost.dropped, cost.held_dropped) if event is last else (0, 0)
        results.append(TrackResult(event, category.id, kept, backends, *counted,
                                   not_kept=lost, reason=reason))
    return results


_DENIED_BY = {DecidedBy.POLICY: drops.POLICY_DENIED, DecidedBy.DO_NOT_TRACK: drops.DO_NOT_TRACK}
