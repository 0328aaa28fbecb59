"""What ``Companion.track`` answers (importable from ``app.core.companion_types`` too).

A module of its own: ``track`` on the command line is a process per event, and it needs this
one class of the companion's answers, not the preview's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.model.event import Event
from app.storage.drops import NOT_KEPT


@dataclass(frozen=True)
class TrackResult:
    """What ``track`` did with an event."""

    event: Event
    category: str
    stored: bool  # kept for at least one backend (False: denied, no backend, or dropped)
    backends: tuple[str, ...]
    dropped: int = 0  # old events the outbox cap pushed out to make room
    held_dropped: int = 0  # old undecided events of this category dropped (bounded hold)
    duplicate: bool = False  # its host-given id was stored before: not stored again
    # backend -> why the event is not kept for it (``app.storage.drops``' reasons); a backend
    # not named here has it on disk
    not_kept: Mapping[str, str] = field(default_factory=dict)
    reason: str = ""  # why it is kept for no backend ("" when it is kept)

    def per_backend(self) -> dict[str, dict[str, Any]]:
        """``{backend: {"stored": bool, "reason": str | None}}``, as a host's answer has it."""
        return {name: {"stored": name not in self.not_kept, "reason": self.not_kept.get(name)}
                for name in self.backends}

    def answer(self) -> dict[str, Any]:
        """The host protocol's per-event ``track`` answer (``track --json`` prints it)."""
        data: dict[str, Any] = {"ok": True, "event_id": self.event.id,
                                "category": self.category, "stored": self.stored,
                                "backends": self.per_backend()}
        if self.duplicate:
            data["duplicate"] = True
        if not self.stored:
            data["reason"] = self.reason
            data["discarded"] = NOT_KEPT.get(self.reason, f"not kept: {self.reason}")
        return data
