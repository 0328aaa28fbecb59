"""What ``Companion.track`` and ``Companion.preview`` answer: plain data, cheap to import.

Kept apart from ``app.service.results`` (the tray's answers, which name the license state) so
that ``track`` on the command line imports nothing of the license service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.model.event import Event

if TYPE_CHECKING:  # named in annotations only: ``track`` does not import the wire format
    from app.model.wire import PreparedRequest


@dataclass(frozen=True)
class TrackResult:
    """What ``track`` did with an event."""

    event: Event
    category: str
    stored: bool  # False when the category is denied: the event was discarded, not kept
    backends: tuple[str, ...]
    dropped: int = 0  # old events the outbox cap pushed out to make room
    held_dropped: int = 0  # old undecided events of this category dropped (bounded hold)


@dataclass(frozen=True)
class BackendPreview:
    """The exact requests one backend would send now, and what it would not send."""

    backend: str
    title: str
    problem: str  # "" when the backend can send; otherwise why it will not
    requests: list[PreparedRequest]
    will_send: bool
    queued: int
    held_back: dict[str, int] = field(default_factory=dict)  # category -> events not consented
    held_requests: list[PreparedRequest] = field(default_factory=list)  # "will not be sent"
