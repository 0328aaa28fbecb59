"""The consent policy: what the user agreed to, per category, and what that means for events.

Nothing is sent for a category unless the user granted it for the vendor's current consent
version. ``DO_NOT_TRACK=1`` denies everything, whatever is stored. Undecided events are kept
locally (so the user can see real examples before deciding); denied ones are never stored.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from app.model.consent import Category, Choice, Decision, category_for
from app.model.errors import ValidationError
from app.storage.config import ConsentConfig
from app.storage.state import StateStore

STATE_KEY = "consent"
TRUTHY = {"1", "true", "yes", "on"}


def do_not_track(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the user asked every program not to track them (``DO_NOT_TRACK=1``)."""
    value = (os.environ if environ is None else environ).get("DO_NOT_TRACK", "")
    return value.strip().lower() in TRUTHY


@dataclass(frozen=True)
class CategoryState:
    """A category with the user's effective decision, for display."""

    category: Category
    decision: Decision
    effective: Choice
    reason: str  # why effective differs from the stored choice, if it does


class ConsentPolicy:
    """Reads and changes the user's decisions.

    Args:
        config: the vendor's categories and consent version.
        state: where decisions are stored (the state database, never the keyring or config).
        environ: the environment to read ``DO_NOT_TRACK`` from.
        clock: seconds since the epoch.
    """

    def __init__(
        self,
        config: ConsentConfig,
        state: StateStore,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.state = state
        self.environ = os.environ if environ is None else environ
        self.clock = clock

    @property
    def categories(self) -> tuple[Category, ...]:
        """The categories the vendor declared, in order."""
        return self.config.categories

    @property
    def do_not_track(self) -> bool:
        """Whether DO_NOT_TRACK overrides every decision right now."""
        return do_not_track(self.environ)

    def category_of(self, event_name: str) -> Category:
        """The category an event belongs to; an undeclared event is refused."""
        category = category_for(self.categories, event_name)
        if category is None:
            patterns = ", ".join(p for c in self.categories for p in c.events)
            raise ValidationError(
                "name", f"{event_name!r} matches no consent category the vendor declared "
                f"({patterns}); declare it in [[consent.category]] first"
            )
        return category

    def decision(self, category_id: str) -> Decision:
        """The stored decision for the current consent version (undecided if none or stale)."""
        stored = self.state.get(STATE_KEY, {})
        entry = stored.get("decisions", {}).get(category_id)
        if not entry or entry.get("version") != self.config.version:
            return Decision(category_id, Choice.UNDECIDED, self.config.version, None)
        return Decision(category_id, Choice(entry["choice"]), entry["version"], entry.get("at"))

    def effective(self, category_id: str) -> Choice:
        """The decision that applies now (DO_NOT_TRACK wins)."""
        if self.do_not_track:
            return Choice.DENIED
        return self.decision(category_id).choice

    def states(self) -> list[CategoryState]:
        """Every category with its decision and the effective choice."""
        result = []
        for category in self.categories:
            decision = self.decision(category.id)
            reason = "DO_NOT_TRACK is set" if self.do_not_track else ""
            result.append(CategoryState(category, decision, self.effective(category.id), reason))
        return result

    def granted(self) -> list[str]:
        """Ids of the categories whose events may be sent now."""
        return [c.id for c in self.categories if self.effective(c.id) is Choice.GRANTED]

    def ever_decided(self) -> bool:
        """Whether the user answered for the current version (else the window should ask)."""
        return any(self.decision(c.id).choice is not Choice.UNDECIDED for c in self.categories)

    def _resolve(self, category_ids: Iterable[str] | None) -> list[str]:
        known = [c.id for c in self.categories]
        if category_ids is None:
            return known
        ids = list(category_ids)
        if not ids:
            return known
        for cat in ids:
            if cat not in known:
                raise ValidationError("category", f"unknown category {cat!r}; known: "
                                      f"{', '.join(known)}")
        return ids

    def set(self, choice: Choice, category_ids: Iterable[str] | None = None) -> list[str]:
        """Store a decision for some (or, with None/empty, all) categories; returns their ids."""
        ids = self._resolve(category_ids)
        stored = self.state.get(STATE_KEY, {})
        decisions = {
            key: value
            for key, value in stored.get("decisions", {}).items()
            if value.get("version") == self.config.version
        }
        now = self.clock()
        for cat in ids:
            decisions[cat] = {"choice": choice.value, "version": self.config.version, "at": now}
        self.state.set(STATE_KEY, {"decisions": decisions})
        return ids
