"""Consent categories declared by the vendor, and the user's decision for each."""

from __future__ import annotations

import enum
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    """A kind of data the vendor collects, as shown to the user.

    Attributes:
        id: stable id, used in the CLI and in stored decisions.
        title: short name shown to the user.
        description: what it contains, in plain words.
        events: shell-style patterns (``feature.*``) of the event names it covers.
    """

    id: str
    title: str
    description: str
    events: tuple[str, ...]

    def matches(self, event_name: str) -> bool:
        """Whether an event of this name belongs to this category (case-sensitive)."""
        return any(fnmatch.fnmatchcase(event_name, pattern) for pattern in self.events)


DEFAULT_CATEGORY = Category(
    id="usage",
    title="Usage data",
    description="Which features of the product you use and how often.",
    events=("*",),
)


def category_for(categories: Sequence[Category], event_name: str) -> Category | None:
    """The first declared category that covers the event name, or None."""
    for category in categories:
        if category.matches(event_name):
            return category
    return None


class Choice(enum.Enum):
    """The user's answer for one category."""

    GRANTED = "granted"
    DENIED = "denied"
    UNDECIDED = "undecided"


@dataclass(frozen=True)
class Decision:
    """A stored answer: which choice, for which consent version, when (epoch seconds)."""

    category: str
    choice: Choice
    version: int
    decided_at: float | None


class DecidedBy(enum.Enum):
    """Which rule made a category's effective decision: policy › DO_NOT_TRACK › the user."""

    POLICY = "policy"
    DO_NOT_TRACK = "do_not_track"
    USER = "user"
    UNDECIDED = "undecided"


@dataclass(frozen=True)
class AdminPolicy:
    """What a machine's administrator allows to leave it; it can only take away, never grant.

    Attributes:
        source: where it was read ("" when the machine has no policy).
        enabled: False turns telemetry off entirely (nothing queued, nothing sent).
        deny: category ids denied whatever the user chooses.
        locked: the user cannot grant anything (withdrawing stays possible).
        error: why the policy could not be read; set only together with the safe reading
            (``enabled`` False, ``locked`` True), never as "no policy".
    """

    source: str = ""
    enabled: bool = True
    deny: frozenset[str] = frozenset()
    locked: bool = False
    error: str = ""

    @property
    def present(self) -> bool:
        """Whether any policy (valid or not) is in force."""
        return bool(self.source)

    def denies(self, category_id: str) -> bool:
        """Whether the policy denies this category (all of them when telemetry is off)."""
        return not self.enabled or category_id in self.deny

    def describe(self) -> str:
        """The policy in one line, for ``status``, ``doctor`` and the windows."""
        if not self.present:
            return "no administrator policy"
        if self.error:
            return f"the administrator's policy is invalid, so telemetry is off: {self.error}"
        parts = []
        if not self.enabled:
            parts.append("telemetry is off")
        if self.deny:
            parts.append(f"denied: {', '.join(sorted(self.deny))}")
        if self.locked:
            parts.append("choices are locked")
        return f"administrator policy {self.source}: {'; '.join(parts) or 'no restriction'}"

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form (``status --json``, ``doctor --json``)."""
        return {
            "source": self.source,
            "enabled": self.enabled,
            "deny": sorted(self.deny),
            "locked": self.locked,
            "error": self.error,
        }


NO_POLICY = AdminPolicy()
