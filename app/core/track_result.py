"""What ``Companion.track`` answers (importable from ``app.core.companion_types`` too).

A module of its own: ``track`` on the command line is a process per event, and it needs this
one class of the companion's answers, not the preview's.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.model.event import Event


@dataclass(frozen=True)
class TrackResult:
    """What ``track`` did with an event."""

    event: Event
    category: str
    stored: bool  # False when the category is denied: the event was discarded, not kept
    backends: tuple[str, ...]
    dropped: int = 0  # old events the outbox cap pushed out to make room
    held_dropped: int = 0  # old undecided events of this category dropped (bounded hold)
    duplicate: bool = False  # its host-given id was stored before: not stored again
