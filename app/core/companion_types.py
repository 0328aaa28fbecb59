"""What ``Companion.track``, ``preview`` and ``send`` answer: plain data, cheap to import.

``RoundReport`` is the sender's (``app.delivery.report``), named here for callers of ``send``.

Kept apart from ``app.core.results`` (the tray's answers, which name the license state) so
that ``track`` on the command line imports nothing of the license service. ``TrackResult``
is in ``app.core.track_result``, so that ``track`` does not make this module's classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.core.track_result import TrackResult
from app.delivery.report import RoundReport

if TYPE_CHECKING:  # named in annotations only
    from app.model.wire import PreparedRequest

__all__ = ["BackendPreview", "RoundReport", "TrackResult"]


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
